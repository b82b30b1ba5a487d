//! `telemetry`: Prometheus metrics of the proxy, served on their own address (not the MCP port):
//! `toolhive_mcp_requests_total{method,status}`, `toolhive_mcp_request_duration_seconds{method}` (until the
//! response begins), `toolhive_mcp_tool_calls_total{tool,outcome}`, `toolhive_mcp_active_connections` (open event
//! streams).
//!
//! Parameters: `{"metrics_address": "127.0.0.1:9464"}` (`--metrics-port N` gives `127.0.0.1:N`), and for traces
//! see [`super::tracing_otlp`].
//!
//! Labels come from fixed sets, never from what a client sends: `method` is an MCP method of
//! [`KNOWN_METHODS`] (else `other`), or `http_<verb>` for a request without a JSON-RPC message (unknown verbs:
//! `http_other`); `tool` is a tool the server listed to a caller (learned from `tools/list` results as they
//! leave the proxy, after the tool filter and authorization; at most [`MAX_TOOL_LABELS`]), else `other`. The
//! number of series is bounded whatever clients send.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, header};
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
use super::mcp::{McpRequest, map_response, may_carry_lists};

/// The MCP methods counted under their own name (2025-11-25 and 2026-07-28); any other is `other`.
pub const KNOWN_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "logging/setLevel",
    "completion/complete",
    "roots/list",
    "sampling/createMessage",
    "elicitation/create",
    "tasks/get",
    "tasks/list",
    "tasks/result",
    "tasks/cancel",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/roots/list_changed",
];
/// The most distinct tool names given a label of their own.
pub const MAX_TOOL_LABELS: usize = 256;

/// The `method` label of a request: its MCP method when known, `other` for another one, `http_<verb>` when it
/// carries no JSON-RPC message.
fn method_label(mcp: Option<&McpRequest>, http: &Method) -> &'static str {
    if let Some(m) = mcp {
        let name = m.method();
        return KNOWN_METHODS
            .iter()
            .find(|k| **k == name)
            .copied()
            .unwrap_or("other");
    }
    match *http {
        Method::GET => "http_get",
        Method::POST => "http_post",
        Method::DELETE => "http_delete",
        Method::PUT => "http_put",
        Method::PATCH => "http_patch",
        Method::HEAD => "http_head",
        Method::OPTIONS => "http_options",
        _ => "http_other",
    }
}

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

/// The `telemetry` middleware's parameters: the metrics address, and OTLP traces when `otlp_endpoint` is set.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct TelemetryParams {
    /// Where the metrics are served (default `127.0.0.1:0`: a free port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
    /// The share of requests traced, 0 to 1 (default 0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling_rate: Option<f64>,
    /// The traces' service name (default `thv-<workload>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
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
    /// Tools listed to callers (at most [`MAX_TOOL_LABELS`]).
    known_tools: Arc<Mutex<HashSet<String>>>,
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
            known_tools: Arc::default(),
        }
    }

    /// The `tool` label of a call: the tool's name when a `tools/list` result named it, else `other`.
    fn tool_label(&self, name: &str) -> String {
        let known = self.known_tools.lock().unwrap_or_else(|e| e.into_inner());
        if known.contains(name) {
            name.to_owned()
        } else {
            "other".to_owned()
        }
    }

    /// Learns the tool names of the `tools/list` results in `resp` as it flows (the response is unchanged).
    async fn learn_tools(&self, resp: Response) -> Response {
        let known = self.known_tools.clone();
        let learn = move |message: &mut Value| {
            if let Some(tools) = message
                .get("result")
                .and_then(|r| r.get("tools"))
                .and_then(Value::as_array)
            {
                let mut known = known.lock().unwrap_or_else(|e| e.into_inner());
                for name in tools.iter().filter_map(|t| t.get("name")?.as_str()) {
                    if known.len() >= MAX_TOOL_LABELS {
                        break;
                    }
                    if !known.contains(name) {
                        known.insert(name.to_owned());
                    }
                }
            }
            false
        };
        map_response(resp, Arc::new(learn)).await
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
    let http_method = req.method().clone();
    let mut resp = next.run(req).await;
    let mcp = ctx.as_ref().and_then(|c| c.mcp());
    let method = method_label(mcp.as_deref(), &http_method).to_owned();
    let status = resp.status();
    if status.is_success() && may_carry_lists(mcp.as_deref(), &resp) {
        resp = metrics.learn_tools(resp).await;
    }
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
                    tool: metrics.tool_label(tool),
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::middleware::{from_fn, from_fn_with_state};
    use tower::ServiceExt;

    /// An MCP server stand-in: `tools/list` lists `echo`, anything else succeeds.
    async fn server(body: axum::body::Bytes) -> Response {
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let result = if v["method"] == "tools/list" {
            serde_json::json!({"tools": [{"name": "echo"}]})
        } else {
            serde_json::json!({})
        };
        axum::Json(serde_json::json!({"jsonrpc": "2.0", "id": v["id"], "result": result}))
            .into_response()
    }

    async fn send(app: &Router, method: Method, body: Option<Value>) {
        let mut req = Request::builder().method(method).uri("/mcp");
        let body = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let resp = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
        let _ = axum::body::to_bytes(resp.into_body(), usize::MAX).await;
    }

    /// What a client sends never becomes a label: 500 made-up methods and tool names, and extension HTTP
    /// verbs, leave a handful of series.
    #[tokio::test]
    async fn labels_come_from_fixed_sets() {
        let metrics = Arc::new(Metrics::new("w"));
        let app = Router::new()
            .route("/mcp", axum::routing::any(server))
            .layer(from_fn_with_state(metrics.clone(), measure))
            .layer(from_fn_with_state(1024 * 1024, super::super::parse_mcp))
            .layer(from_fn(super::super::context));
        let call = |tool: &str| serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool}});
        send(&app, Method::POST, Some(call("echo"))).await;
        for i in 0..250 {
            let junk = format!("junk-{i}-{}", "x".repeat(2000));
            send(
                &app,
                Method::POST,
                Some(serde_json::json!({"jsonrpc": "2.0", "id": i, "method": junk})),
            )
            .await;
            send(&app, Method::POST, Some(call(&junk))).await;
            send(
                &app,
                Method::from_bytes(format!("VERB{i}").as_bytes()).unwrap(),
                None,
            )
            .await;
        }
        send(
            &app,
            Method::POST,
            Some(serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})),
        )
        .await;
        send(&app, Method::POST, Some(call("echo"))).await;
        let text = metrics.encode();
        assert!(!text.contains("junk-") && !text.contains("VERB"), "{text}");
        assert!(text.contains("method=\"other\""), "{text}");
        assert!(text.contains("method=\"http_other\""), "{text}");
        assert!(text.contains("method=\"tools/call\""), "{text}");
        assert!(
            text.contains("tool=\"echo\"") && text.contains("tool=\"other\""),
            "{text}"
        );
        assert!(text.len() < 16 * 1024, "{} bytes", text.len());
    }
}
