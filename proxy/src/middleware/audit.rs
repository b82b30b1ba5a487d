//! `audit`: one NDJSON event per request to the proxy — who (the token's subject and name), what (the MCP method
//! and the tool, prompt or resource), the outcome (`success`, `failure`, `denied`, `error`; a JSON-RPC error
//! answer is a `failure`), how long until the response began, and optionally the request and response data (up to
//! `max_data_size` bytes each) — in ToolHive's event format, to a file (created with mode 0600) or stdout.
//!
//! Configuration (`--audit-config FILE`, or `--enable-audit` for the defaults; the middleware's parameters are
//! `{"config": <the same>}`): `{"component": "...", "log_file": "...", "event_types": [...],
//! "exclude_event_types": [...], "include_request_data": false, "include_response_data": false,
//! "max_data_size": 1024}` (camelCase keys, as ToolHive writes them, are accepted too).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::RequestContext;
use super::mcp::McpRequest;

/// Largest response body the audit reads to learn the JSON-RPC outcome (larger ones count as answered).
const MAX_INSPECTED_RESPONSE: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    #[serde(default, alias = "logFile", skip_serializing_if = "Option::is_none")]
    pub log_file: Option<PathBuf>,
    #[serde(default, alias = "eventTypes", skip_serializing_if = "Vec::is_empty")]
    pub event_types: Vec<String>,
    #[serde(
        default,
        alias = "excludeEventTypes",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub exclude_event_types: Vec<String>,
    #[serde(default, alias = "includeRequestData")]
    pub include_request_data: bool,
    #[serde(default, alias = "includeResponseData")]
    pub include_response_data: bool,
    #[serde(default = "default_max_data", alias = "maxDataSize")]
    pub max_data_size: usize,
}

fn default_max_data() -> usize {
    1024
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            component: None,
            log_file: None,
            event_types: Vec::new(),
            exclude_event_types: Vec::new(),
            include_request_data: false,
            include_response_data: false,
            max_data_size: default_max_data(),
        }
    }
}

/// The `audit` middleware's parameters: `{"config": {...}}` (absent: the defaults).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuditParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<AuditConfig>,
}

/// The event types, as ToolHive names them.
pub const EVENT_TYPES: &[&str] = &[
    "mcp_initialize",
    "mcp_tool_call",
    "mcp_tools_list",
    "mcp_resource_read",
    "mcp_resources_list",
    "mcp_prompt_get",
    "mcp_prompts_list",
    "mcp_notification",
    "mcp_ping",
    "mcp_logging",
    "mcp_completion",
    "mcp_request",
    "sse_connection",
    "http_request",
];

/// An audit configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{field}: '{value}' is not an event type ({types})", types = EVENT_TYPES.join(", "))]
    UnknownEventType { field: &'static str, value: String },
    #[error("audit config {}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    #[error("audit log {}: {source}", path.display())]
    Log {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the audit writer: {0}")]
    Writer(#[source] std::io::Error),
}

impl AuditConfig {
    /// Reads and checks an audit configuration file (JSON).
    pub fn read(path: &std::path::Path) -> Result<Self, AuditError> {
        let in_file = |reason: String| AuditError::File {
            path: path.to_owned(),
            reason,
        };
        let text = thv_core::files::read_config_text(path).map_err(|e| in_file(e.to_string()))?;
        let config: Self = serde_json::from_str(&text).map_err(|e| in_file(e.to_string()))?;
        config.check().map_err(|e| in_file(e.to_string()))?;
        Ok(config)
    }

    /// Every event type named is one of [`EVENT_TYPES`].
    pub fn check(&self) -> Result<(), AuditError> {
        for (field, list) in [
            ("event_types", &self.event_types),
            ("exclude_event_types", &self.exclude_event_types),
        ] {
            if let Some(bad) = list.iter().find(|t| !EVENT_TYPES.contains(&t.as_str())) {
                return Err(AuditError::UnknownEventType {
                    field,
                    value: bad.clone(),
                });
            }
        }
        Ok(())
    }
}

/// The layer's state.
pub struct Audit {
    config: AuditConfig,
    component: String,
    transport: String,
    /// Events go to a writer thread: no write on the request's path.
    events: Mutex<std::sync::mpsc::Sender<String>>,
}

impl Audit {
    /// From the middleware parameters `{"config": {...}}`; opens (creating, mode 0600) the log file.
    pub fn from_params(
        params: &AuditParams,
        workload: &str,
        transport: &str,
    ) -> Result<Self, AuditError> {
        let config = params.config.clone().unwrap_or_default();
        config.check()?;
        let log = |path: &std::path::Path| {
            let path = path.to_owned();
            move |source| AuditError::Log { path, source }
        };
        let out: Box<dyn Write + Send> = match &config.log_file {
            Some(path) => {
                use std::os::unix::fs::OpenOptionsExt;
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(log(dir))?;
                }
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(log(path))?;
                Box::new(file)
            }
            None => Box::new(std::io::stdout()),
        };
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::Builder::new()
            .name("thv-audit".into())
            .spawn(move || write_events(out, rx))
            .map_err(AuditError::Writer)?;
        Ok(Self {
            component: config
                .component
                .clone()
                .unwrap_or_else(|| workload.to_string()),
            transport: transport.to_string(),
            config,
            events: Mutex::new(tx),
        })
    }

    fn wants(&self, event_type: &str) -> bool {
        (self.config.event_types.is_empty()
            || self.config.event_types.iter().any(|t| t == event_type))
            && !self
                .config
                .exclude_event_types
                .iter()
                .any(|t| t == event_type)
    }

    fn write(&self, event: &Value) {
        let mut line = event.to_string();
        line.push('\n');
        let sent = self
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(line);
        if sent.is_err() {
            tracing::warn!("the audit writer stopped: an event is lost");
        }
    }

    fn truncated(&self, bytes: &[u8]) -> Value {
        let max = self.config.max_data_size;
        match serde_json::from_slice::<Value>(bytes) {
            Ok(v) if bytes.len() <= max => v,
            _ => {
                Value::String(String::from_utf8_lossy(&bytes[..bytes.len().min(max)]).into_owned())
            }
        }
    }
}

/// The writer thread: each event written and flushed as it comes (batched when they come faster), until the
/// proxy drops the audit layer.
fn write_events(mut out: Box<dyn Write + Send>, events: std::sync::mpsc::Receiver<String>) {
    while let Ok(first) = events.recv() {
        let mut batch = first;
        while let Ok(more) = events.try_recv() {
            batch.push_str(&more);
        }
        // The workload's secret values never reach an audit log (request or response data may carry them).
        let batch = crate::redact::redacted(&batch);
        if let Err(e) = out.write_all(batch.as_bytes()).and_then(|()| out.flush()) {
            tracing::warn!(error = %e, "cannot write audit events");
        }
    }
}

/// Whether a JSON answer (one message or a batch) carries a JSON-RPC error (read without building a tree).
fn has_jsonrpc_error(bytes: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(default)]
        error: Option<serde::de::IgnoredAny>,
    }
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => serde_json::from_slice::<Vec<Probe>>(bytes)
            .is_ok_and(|v| v.iter().any(|p| p.error.is_some())),
        _ => serde_json::from_slice::<Probe>(bytes).is_ok_and(|p| p.error.is_some()),
    }
}

/// The event type of a request.
fn event_type(method: &Method, path: &str, mcp: Option<&McpRequest>) -> &'static str {
    if let Some(m) = mcp {
        return match m.method() {
            "initialize" => "mcp_initialize",
            "tools/call" => "mcp_tool_call",
            "tools/list" => "mcp_tools_list",
            "resources/read" => "mcp_resource_read",
            "resources/list" | "resources/templates/list" => "mcp_resources_list",
            "prompts/get" => "mcp_prompt_get",
            "prompts/list" => "mcp_prompts_list",
            "ping" => "mcp_ping",
            "completion/complete" => "mcp_completion",
            m if m.starts_with("notifications/") => "mcp_notification",
            m if m.starts_with("logging/") => "mcp_logging",
            _ => "mcp_request",
        };
    }
    if method == Method::GET && (path.ends_with("/sse") || path.ends_with("/mcp")) {
        "sse_connection"
    } else {
        "http_request"
    }
}

/// The middleware.
pub async fn audit(State(audit): State<Arc<Audit>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let ctx = req.extensions().get::<Arc<RequestContext>>().cloned();
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    if path == "/health" {
        return next.run(req).await;
    }
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let resp = next.run(req).await;
    let mcp = ctx.as_ref().and_then(|c| c.mcp());
    let kind = event_type(&method, &path, mcp.as_deref());
    if !audit.wants(kind) {
        return resp;
    }
    let status = resp.status();
    let denied = ctx.as_ref().and_then(|c| c.denied());
    // A JSON answer says whether the JSON-RPC request failed; keep its bytes for the event if asked.
    let (resp, response_bytes) = if resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
    {
        let (parts, body) = resp.into_parts();
        match axum::body::to_bytes(body, MAX_INSPECTED_RESPONSE).await {
            Ok(bytes) => (
                Response::from_parts(parts, Body::from(bytes.clone())),
                Some(bytes),
            ),
            Err(_) => (Response::from_parts(parts, Body::empty()), None),
        }
    } else {
        (resp, None)
    };
    let jsonrpc_error = response_bytes.as_deref().is_some_and(has_jsonrpc_error);
    let outcome = super::outcome(ctx.as_deref(), status, jsonrpc_error);
    let identity = ctx.as_ref().and_then(|c| c.identity.get().cloned());
    let target = match mcp.as_deref() {
        Some(m) => {
            let first = m.messages.first();
            let (feature, name) = first
                .and_then(|f| f.target())
                .map(|(f, n)| (f.as_str(), Some(n.to_string())))
                .unwrap_or(("method", None));
            json!({"endpoint": path, "method": m.method(), "type": feature, "name": name})
        }
        None => json!({"endpoint": path, "method": method.as_str()}),
    };
    let mut event = json!({
        "audit_id": uuid_v4(),
        "type": kind,
        "logged_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "outcome": outcome,
        "component": audit.component,
        "source": {"type": "network", "value": peer, "extra": {"user_agent": user_agent}},
        "subjects": {
            "user_id": identity.as_ref().map(|i| i.subject.clone()),
            "user": identity.as_ref().and_then(|i| i.display_name()),
        },
        "target": target,
        "metadata": {"extra": {
            "duration_ms": started.elapsed().as_secs_f64() * 1000.0,
            "transport": audit.transport,
            "status_code": status.as_u16(),
            "response_size_bytes": response_bytes.as_ref().map(|b| b.len()),
        }},
    });
    if let Some(reason) = denied {
        event["metadata"]["extra"]["reason"] = Value::String(reason);
    }
    if audit.config.include_request_data
        && let Some(m) = &mcp
    {
        event["data"]["request"] =
            audit.truncated(&serde_json::to_vec(&m.body).unwrap_or_default());
    }
    if audit.config.include_response_data
        && let Some(b) = &response_bytes
    {
        event["data"]["response"] = audit.truncated(b);
    }
    audit.write(&event);
    resp
}

/// A random (version 4) UUID.
fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    let _ = getrandom::fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn jsonrpc_errors_are_recognised() {
        assert!(super::has_jsonrpc_error(
            br#"{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"x"}}"#
        ));
        assert!(!super::has_jsonrpc_error(
            br#"{"jsonrpc":"2.0","id":1,"result":{"error":"inside"}}"#
        ));
        assert!(super::has_jsonrpc_error(
            br#"[{"id":1,"result":{}},{"id":2,"error":{}}]"#
        ));
        assert!(!super::has_jsonrpc_error(b"not json"));
    }
}
