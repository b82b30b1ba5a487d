//! `telemetry`: Prometheus metrics of the proxy, served on their own address (not the MCP port):
//! `toolhive_mcp_requests_total{method,status}`, `toolhive_mcp_request_duration_seconds{method}` (until the
//! response begins), `toolhive_mcp_tool_calls_total{tool,outcome}`, `toolhive_mcp_active_connections` (open event
//! streams).
//!
//! Parameters: `{"metrics_address": "127.0.0.1:9464"}` (`--metrics-port N` gives `127.0.0.1:N`), and for traces
//! see [`super::tracing_otlp`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde_json::Value;

use super::RequestContext;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabels {
    tool: String,
    outcome: String,
}

/// The metrics and their registry.
pub struct Metrics {
    /// OTLP traces, when an endpoint is configured.
    pub traces: Option<super::tracing_otlp::Traces>,
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<MethodLabels, Histogram>,
    tool_calls: Family<ToolLabels, Counter>,
    active: Gauge<i64, AtomicI64>,
}

impl Metrics {
    pub fn new(workload: &str) -> Self {
        let mut registry = Registry::with_prefix_and_labels(
            "toolhive_mcp",
            [(
                std::borrow::Cow::Borrowed("server"),
                std::borrow::Cow::Owned(workload.to_string()),
            )]
            .into_iter(),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        let duration = Family::<MethodLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let tool_calls = Family::<ToolLabels, Counter>::default();
        let active = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "requests",
            "MCP requests through the proxy",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time until the response began",
            duration.clone(),
        );
        registry.register("tool_calls", "tools/call requests", tool_calls.clone());
        registry.register("active_connections", "Open event streams", active.clone());
        Self {
            traces: None,
            registry,
            requests,
            duration,
            tool_calls,
            active,
        }
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Serves `GET /metrics` on `addr` in the background; returns the bound address.
pub async fn serve(metrics: Arc<Metrics>, addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let m = metrics.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    m.encode(),
                )
                    .into_response()
            }
        }),
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "the metrics endpoint stopped");
        }
    });
    tracing::info!(addr = %bound, "proxy metrics at /metrics");
    Ok(bound)
}

/// The middleware.
pub async fn measure(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    if req.uri().path() == "/health" {
        return next.run(req).await;
    }
    let started = Instant::now();
    let started_at = std::time::SystemTime::now();
    let ctx = req.extensions().get::<Arc<RequestContext>>().cloned();
    let http_method = req.method().as_str().to_string();
    let resp = next.run(req).await;
    let mcp = ctx.as_ref().and_then(|c| c.mcp());
    let method = mcp.as_ref().map_or_else(
        || format!("http_{}", http_method.to_lowercase()),
        |m| m.method().to_string(),
    );
    let status = resp.status();
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method: method.clone(),
            status: status.as_u16().to_string(),
        })
        .inc();
    metrics
        .duration
        .get_or_create(&MethodLabels {
            method: method.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    if let Some(m) = &mcp {
        for call in m
            .messages
            .iter()
            .filter(|m| m.method.as_deref() == Some("tools/call"))
        {
            let tool = call
                .params
                .as_ref()
                .and_then(|p| p.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("?");
            let outcome = if ctx.as_ref().and_then(|c| c.denied()).is_some() {
                "denied"
            } else if status.is_success() {
                "success"
            } else {
                "error"
            };
            metrics
                .tool_calls
                .get_or_create(&ToolLabels {
                    tool: tool.to_string(),
                    outcome: outcome.into(),
                })
                .inc();
        }
    }
    if let Some(traces) = &metrics.traces {
        let outcome = super::outcome(ctx.as_deref(), status, false);
        let identity = ctx.as_ref().and_then(|c| c.identity.get().cloned());
        let first = mcp.as_ref().and_then(|m| m.messages.first().cloned());
        let target = first
            .as_ref()
            .and_then(|m| m.target())
            .map(|(f, n)| (f.as_str(), n));
        traces.record(&super::tracing_otlp::RequestSpan {
            method: &method,
            target,
            subject: identity.as_ref().map(|i| i.subject.as_str()),
            status: status.as_u16(),
            outcome,
            started: started_at,
        });
    }
    let is_stream = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !is_stream {
        return resp;
    }
    // Counted while its body is alive.
    metrics.active.inc();
    let guard = ActiveGuard(metrics.clone());
    let (parts, body) = resp.into_parts();
    let stream = body.into_data_stream().map(move |chunk| {
        let _keep = &guard;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

struct ActiveGuard(Arc<Metrics>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.dec();
    }
}
