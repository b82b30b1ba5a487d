//! `telemetry` traces: one OpenTelemetry span per request through the proxy (`mcp <method>`, with the MCP method,
//! tool/prompt/resource name, caller, HTTP status and outcome as attributes), exported over OTLP/HTTP (protobuf) to
//! `otlp_endpoint` (`.../v1/traces` is appended to a bare collector URL) in batches, sampled at `sampling_rate`
//! (default 0.1, as ToolHive). The exporter runs on its own thread with a blocking HTTP client, off the proxy's
//! request path.
//!
//! Parameters (beside the metrics ones): `{"otlp_endpoint": "http://collector:4318", "service_name": "...",
//! "sampling_rate": 0.1}`.

use std::time::{Duration, SystemTime};

use opentelemetry::KeyValue;
use opentelemetry::trace::{Span, SpanKind, Status, Tracer, TracerProvider};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};
use serde_json::Value;

/// How often batched spans are sent.
const EXPORT_DELAY: Duration = Duration::from_secs(2);

/// The tracer of one proxy.
pub struct Traces {
    provider: SdkTracerProvider,
    tracer: opentelemetry_sdk::trace::SdkTracer,
}

impl std::fmt::Debug for Traces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Traces")
    }
}

/// What one request's span records.
pub struct RequestSpan<'a> {
    pub method: &'a str,
    pub target: Option<(&'a str, &'a str)>,
    pub subject: Option<&'a str>,
    pub status: u16,
    pub outcome: &'a str,
    pub started: SystemTime,
}

impl Traces {
    /// From the `telemetry` parameters; `None` without an `otlp_endpoint`.
    pub fn from_params(params: &Value, workload: &str) -> Result<Option<Self>, String> {
        let Some(endpoint) = params.get("otlp_endpoint").and_then(Value::as_str) else {
            return Ok(None);
        };
        let url =
            url::Url::parse(endpoint).map_err(|e| format!("otlp_endpoint '{endpoint}': {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "otlp_endpoint '{endpoint}': must be an http(s) URL"
            ));
        }
        let endpoint = if url.path().trim_end_matches('/').is_empty() {
            format!("{}/v1/traces", endpoint.trim_end_matches('/'))
        } else {
            endpoint.to_string()
        };
        let rate = params
            .get("sampling_rate")
            .and_then(Value::as_f64)
            .unwrap_or(0.1);
        if !(0.0..=1.0).contains(&rate) {
            return Err(format!("sampling_rate {rate}: must be between 0 and 1"));
        }
        let service = params
            .get("service_name")
            .and_then(Value::as_str)
            .map_or_else(|| format!("thv-{workload}"), str::to_string);
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint)
            .with_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("OTLP exporter: {e}"))?;
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_scheduled_delay(EXPORT_DELAY)
                    .build(),
            )
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(Sampler::TraceIdRatioBased(rate))
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name(service)
                    .with_attribute(KeyValue::new("toolhive.workload", workload.to_string()))
                    .build(),
            )
            .build();
        let tracer = provider.tracer("thv-proxy");
        Ok(Some(Self { provider, tracer }))
    }

    pub fn record(&self, r: &RequestSpan<'_>) {
        let mut span = self
            .tracer
            .span_builder(format!("mcp {}", r.method))
            .with_kind(SpanKind::Server)
            .with_start_time(r.started)
            .start(&self.tracer);
        span.set_attribute(KeyValue::new("mcp.method.name", r.method.to_string()));
        if let Some((kind, name)) = r.target {
            span.set_attribute(KeyValue::new(format!("mcp.{kind}.name"), name.to_string()));
        }
        if let Some(s) = r.subject {
            span.set_attribute(KeyValue::new("enduser.id", s.to_string()));
        }
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(r.status),
        ));
        span.set_attribute(KeyValue::new("toolhive.outcome", r.outcome.to_string()));
        if r.outcome != "success" {
            span.set_status(Status::error(r.outcome.to_string()));
        }
        span.end();
    }
}

impl Drop for Traces {
    fn drop(&mut self) {
        let _ = self.provider.force_flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_are_refused() {
        let bad = |p: Value| Traces::from_params(&p, "w").unwrap_err();
        assert!(bad(serde_json::json!({"otlp_endpoint": "ftp://x"})).contains("http(s)"));
        assert!(
            bad(serde_json::json!({"otlp_endpoint": "http://x", "sampling_rate": 2.0}))
                .contains("between 0 and 1")
        );
        assert!(
            Traces::from_params(&serde_json::json!({}), "w")
                .unwrap()
                .is_none()
        );
    }
}
