//! MCP awareness for the middleware: the JSON-RPC messages of a request, parsed once (`mcp-parser`), what each
//! one targets (a tool, prompt or resource and its arguments), JSON-RPC error answers, and rewriting the
//! JSON-RPC messages of a response — a JSON body or an event stream — one message at a time.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Map, Value, json};

/// JSON-RPC: the parameters are invalid (MCP answers an unknown tool with it).
pub const INVALID_PARAMS: i64 = -32602;
/// The request is refused by policy (authentication is answered at the HTTP level).
pub const FORBIDDEN: i64 = -32003;

impl Feature {
    /// `tool`, `prompt` or `resource`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tool => "tool",
            Self::Prompt => "prompt",
            Self::Resource => "resource",
        }
    }
}

/// One JSON-RPC message of a request.
#[derive(Debug, Clone)]
pub struct McpMessage {
    pub id: Option<Value>,
    pub method: Option<String>,
    pub params: Option<Value>,
}

/// What a message acts on, for authorization and audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    Tool,
    Prompt,
    Resource,
}

impl McpMessage {
    fn from_value(v: &Value) -> Self {
        Self {
            id: v.get("id").cloned(),
            method: v.get("method").and_then(Value::as_str).map(str::to_string),
            params: v.get("params").cloned(),
        }
    }

    /// `tools/call` → the tool, `prompts/get` → the prompt, `resources/read` → the resource URI.
    pub fn target(&self) -> Option<(Feature, &str)> {
        let params = self.params.as_ref()?;
        match self.method.as_deref()? {
            "tools/call" => Some((Feature::Tool, params.get("name")?.as_str()?)),
            "prompts/get" => Some((Feature::Prompt, params.get("name")?.as_str()?)),
            "resources/read" => Some((Feature::Resource, params.get("uri")?.as_str()?)),
            _ => None,
        }
    }

    /// The call's arguments (`tools/call`, `prompts/get`).
    pub fn arguments(&self) -> Option<&Map<String, Value>> {
        self.params.as_ref()?.get("arguments")?.as_object()
    }

    /// A request (it has an id and a method), not a notification or a response.
    pub fn is_request(&self) -> bool {
        self.id.is_some() && self.method.is_some()
    }
}

/// The JSON-RPC content of one HTTP request body.
#[derive(Debug, Clone)]
pub struct McpRequest {
    /// The body as parsed.
    pub body: Value,
    pub messages: Vec<McpMessage>,
    /// The body was a JSON array.
    pub batch: bool,
}

impl McpRequest {
    /// `None` when the body is not JSON-RPC (the router answers that).
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let body: Value = serde_json::from_slice(bytes).ok()?;
        let (messages, batch) = match &body {
            Value::Array(items) => (items.iter().map(McpMessage::from_value).collect(), true),
            Value::Object(_) => (vec![McpMessage::from_value(&body)], false),
            _ => return None,
        };
        Some(Self {
            body,
            messages,
            batch,
        })
    }

    /// The method of a single message, or `batch`.
    pub fn method(&self) -> &str {
        match (&self.messages[..], self.batch) {
            ([m], false) => m.method.as_deref().unwrap_or("response"),
            _ => "batch",
        }
    }

    /// The body with `f` applied to each message, and the request re-parsed from it.
    pub fn map(&self, f: impl Fn(&mut Value)) -> Self {
        let mut body = self.body.clone();
        match &mut body {
            Value::Array(items) => items.iter_mut().for_each(&f),
            other => f(other),
        }
        let messages = match &body {
            Value::Array(items) => items.iter().map(McpMessage::from_value).collect(),
            other => vec![McpMessage::from_value(other)],
        };
        Self {
            body,
            messages,
            batch: self.batch,
        }
    }
}

/// A JSON-RPC error object for the request `id`.
pub fn error_message(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// Refuses a request with JSON-RPC errors: one for each of its requests that `refusal` refuses, and for the
/// others of a batch that one refusal stops. The streamable HTTP transport answers them as the response (200);
/// the SSE transport's POSTs only acknowledge (responses travel on the stream), so there the refusal is the POST's
/// own answer, 403.
pub fn refuse(
    request: &McpRequest,
    sse_transport: bool,
    refusal: impl Fn(&McpMessage) -> Option<(i64, String)>,
) -> Response {
    let mut answers = Vec::new();
    let mut first = None;
    for m in &request.messages {
        let Some(id) = &m.id else { continue };
        match refusal(m) {
            Some((code, message)) => {
                first.get_or_insert_with(|| (code, message.clone()));
                answers.push(error_message(id, code, &message));
            }
            None => answers.push(error_message(
                id,
                FORBIDDEN,
                "not processed: another request of this batch was refused",
            )),
        }
    }
    let body = if request.batch {
        Value::Array(answers)
    } else {
        answers.pop().unwrap_or_else(|| {
            let (code, message) = first.clone().unwrap_or((FORBIDDEN, "refused".into()));
            error_message(&Value::Null, code, &message)
        })
    };
    let status = if sse_transport {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::OK
    };
    (status, axum::Json(body)).into_response()
}

/// A function applied to every JSON-RPC message of a response; returns whether it changed the message.
pub type MessageMap = Arc<dyn Fn(&mut Value) -> bool + Send + Sync>;

/// The response with `map` applied to each of its JSON-RPC messages: a JSON body (one message or a batch) is
/// rewritten whole; an event stream event by event, as it flows (events that do not carry JSON pass untouched).
pub async fn map_response(resp: Response, map: MessageMap) -> Response {
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/json") {
        let (mut parts, body) = resp.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
            return StatusCode::BAD_GATEWAY.into_response();
        };
        let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else {
            return Response::from_parts(parts, Body::from(bytes));
        };
        let changed = match &mut value {
            Value::Array(items) => items.iter_mut().fold(false, |c, m| map(m) | c),
            other => map(other),
        };
        if !changed {
            return Response::from_parts(parts, Body::from(bytes));
        }
        let out = serde_json::to_vec(&value).unwrap_or_default();
        parts.headers.remove(header::CONTENT_LENGTH);
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(out.len() as u64));
        Response::from_parts(parts, Body::from(out))
    } else if content_type.starts_with("text/event-stream") {
        let (mut parts, body) = resp.into_parts();
        parts.headers.remove(header::CONTENT_LENGTH);
        let mut events = EventRewriter::new(map);
        let stream = body
            .into_data_stream()
            .map(move |chunk| chunk.map(|bytes| Bytes::from(events.push(&bytes))));
        Response::from_parts(parts, Body::from_stream(stream))
    } else {
        resp
    }
}

/// Splits an event stream into events and rewrites the JSON-RPC message of each `message` event.
struct EventRewriter {
    map: MessageMap,
    /// The bytes of the current, unfinished event.
    held: Vec<u8>,
}

impl EventRewriter {
    fn new(map: MessageMap) -> Self {
        Self {
            map,
            held: Vec::new(),
        }
    }

    /// The next chunk; returns the complete events in it, rewritten.
    fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.held.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(end) = event_end(&self.held) {
            let event: Vec<u8> = self.held.drain(..end).collect();
            out.extend(self.rewrite(event));
        }
        out
    }

    fn rewrite(&self, event: Vec<u8>) -> Vec<u8> {
        let Ok(text) = std::str::from_utf8(&event) else {
            return event;
        };
        let mut data = String::new();
        let mut other = Vec::new();
        let mut is_message = true;
        for line in text.split_inclusive('\n') {
            let content = line.trim_end_matches(['\n', '\r']);
            if let Some(v) = content.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            } else {
                if let Some(kind) = content.strip_prefix("event:") {
                    is_message = kind.trim() == "message";
                }
                if !content.is_empty() {
                    other.push(content);
                }
            }
        }
        if !is_message || data.is_empty() {
            return event;
        }
        let Ok(mut value) = serde_json::from_str::<Value>(&data) else {
            return event;
        };
        let changed = match &mut value {
            Value::Array(items) => items.iter_mut().fold(false, |c, m| (self.map)(m) | c),
            other => (self.map)(other),
        };
        if !changed {
            return event;
        }
        let mut out = String::new();
        for line in other {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str("data: ");
        out.push_str(&value.to_string());
        out.push_str("\n\n");
        out.into_bytes()
    }
}

/// Where the first complete event of `buf` ends (after its blank line), if it is complete.
fn event_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < buf.len() {
        if buf[i] == b'\n' {
            let rest = &buf[i + 1..];
            if rest.first() == Some(&b'\n') {
                return Some(i + 2);
            }
            if rest.starts_with(b"\r\n") {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

/// The list a response message carries (`result.tools`, `result.prompts`, `result.resources`), to filter.
pub fn result_list<'a>(message: &'a mut Value, key: &str) -> Option<&'a mut Vec<Value>> {
    message.get_mut("result")?.get_mut(key)?.as_array_mut()
}

/// Whether a response may carry a list result to filter: an event stream (its messages are not known in
/// advance), or the answer to a request that asked for a list.
pub fn may_carry_lists(request: Option<&McpRequest>, resp: &Response) -> bool {
    let stream = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    stream
        || request.is_some_and(|r| {
            r.messages.iter().any(|m| {
                matches!(
                    m.method.as_deref(),
                    Some("tools/list" | "prompts/list" | "resources/list")
                )
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets_and_batches() {
        let r = McpRequest::parse(
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#,
        )
        .unwrap();
        assert_eq!(r.method(), "tools/call");
        assert_eq!(r.messages[0].target(), Some((Feature::Tool, "echo")));
        assert_eq!(r.messages[0].arguments().unwrap()["text"], "hi");
        let b = McpRequest::parse(
            br#"[{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///a"}},{"jsonrpc":"2.0","method":"notifications/initialized"}]"#,
        )
        .unwrap();
        assert!(b.batch);
        assert_eq!(b.method(), "batch");
        assert_eq!(
            b.messages[0].target(),
            Some((Feature::Resource, "file:///a"))
        );
        assert!(!b.messages[1].is_request());
        assert!(McpRequest::parse(b"not json").is_none());
    }

    #[test]
    fn event_streams_are_rewritten_event_by_event() {
        let map: MessageMap = Arc::new(|m: &mut Value| {
            if let Some(tools) = result_list(m, "tools") {
                tools.retain(|t| t["name"] != "secret");
                true
            } else {
                false
            }
        });
        let mut r = EventRewriter::new(map);
        let stream = "event: message\nid: s-1\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"a\"},{\"name\":\"secret\"}]}}\n\n: keep-alive\n\nevent: endpoint\ndata: /messages?x=1\n\n";
        let mut out = Vec::new();
        for chunk in stream.as_bytes().chunks(7) {
            out.extend(r.push(chunk));
        }
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("event: message\nid: s-1\ndata: {"), "{out}");
        assert!(!out.contains("secret") && out.contains("\"a\""), "{out}");
        assert!(
            out.ends_with(": keep-alive\n\nevent: endpoint\ndata: /messages?x=1\n\n"),
            "{out}"
        );
    }
}
