//! `telemetry` traces: one OpenTelemetry span per request through the proxy (`mcp <method>`, with the MCP method,
//! tool/prompt/resource name, caller, HTTP status and outcome as attributes), exported over OTLP/HTTP (protobuf) to
//! `otlp_endpoint` (`.../v1/traces` is appended to a bare collector URL) in batches, sampled at `sampling_rate`
//! (default 0.1, as ToolHive). The exporter runs on its own thread with a blocking HTTP client, off the proxy's
//! request path.
//!
//! Parameters (beside the metrics ones): `{"otlp_endpoint": "http://collector:4318", "service_name": "...",
//! "sampling_rate": 0.1}`.

use std::time::{Duration, SystemTime};

use super::metrics::TelemetryParams;
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span, SpanKind, Status, Tracer, TracerProvider};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};

/// How often batched spans are sent.
const EXPORT_DELAY: Duration = Duration::from_secs(2);

/// Trace settings that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TracesError {
    #[error("otlp_endpoint '{endpoint}': {reason}")]
    Endpoint { endpoint: String, reason: String },
    #[error("sampling_rate {0}: must be between 0 and 1")]
    SamplingRate(f64),
    #[error("OTLP exporter: {0}")]
    Exporter(String),
}

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
    pub fn from_params(
        params: &TelemetryParams,
        workload: &str,
    ) -> Result<Option<Self>, TracesError> {
        let Some(endpoint) = params.otlp_endpoint.as_deref() else {
            return Ok(None);
        };
        let bad_endpoint = |reason: String| TracesError::Endpoint {
            endpoint: endpoint.to_owned(),
            reason,
        };
        let url = url::Url::parse(endpoint).map_err(|e| bad_endpoint(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad_endpoint("must be an http(s) URL".into()));
        }
        let endpoint = if url.path().trim_end_matches('/').is_empty() {
            format!("{}/v1/traces", endpoint.trim_end_matches('/'))
        } else {
            endpoint.to_string()
        };
        let rate = params.sampling_rate.unwrap_or(0.1);
        if !(0.0..=1.0).contains(&rate) {
            return Err(TracesError::SamplingRate(rate));
        }
        let service = params
            .service_name
            .clone()
            .unwrap_or_else(|| format!("thv-{workload}"));
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint)
            .with_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| TracesError::Exporter(e.to_string()))?;
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
        let bad = |endpoint: &str, rate: Option<f64>| {
            let p = TelemetryParams {
                otlp_endpoint: Some(endpoint.into()),
                sampling_rate: rate,
                ..TelemetryParams::default()
            };
            Traces::from_params(&p, "w").unwrap_err().to_string()
        };
        assert!(bad("ftp://x", None).contains("http(s)"));
        assert!(bad("http://x", Some(2.0)).contains("between 0 and 1"));
        assert!(
            Traces::from_params(&TelemetryParams::default(), "w")
                .unwrap()
                .is_none()
        );
    }
}
