//! JSON-RPC 2.0 messages as the bridge sees them: error codes, classification, accessors.

use serde_json::{Value, json};

/// JSON-RPC error code: the request's method was not found (also used to refuse server→client requests).
pub const METHOD_NOT_FOUND: i64 = -32601;
/// JSON-RPC error code: the message is not a valid JSON-RPC request.
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC error code: the request's parameters are invalid.
pub const INVALID_PARAMS: i64 = -32602;
/// JSON-RPC error code: the body is not JSON.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC error code: the server did not answer in time (the code the MCP SDKs use for request timeouts).
pub const REQUEST_TIMEOUT: i64 = -32001;
/// JSON-RPC error code: the server exited or cannot be reached.
pub const BACKEND_UNAVAILABLE: i64 = -32000;

/// A JSON-RPC error response.
pub fn error_response(id: Value, code: i64, message: impl Into<String>) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message.into()}})
}

/// What a JSON-RPC message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// Has a `method` and an `id`.
    Request,
    /// Has a `method` and no `id`.
    Notification,
    /// Has an `id` and a `result` or an `error`.
    Response,
    /// Anything else.
    Invalid,
}

/// Classifies one JSON-RPC message.
pub fn classify(msg: &Value) -> MessageKind {
    let Some(o) = msg.as_object() else {
        return MessageKind::Invalid;
    };
    match (o.get("method"), o.get("id")) {
        (Some(Value::String(_)), Some(id)) if valid_id(id) => MessageKind::Request,
        (Some(Value::String(_)), None) => MessageKind::Notification,
        (None, Some(id))
            if (o.contains_key("result") || o.contains_key("error"))
                && (valid_id(id) || id.is_null()) =>
        {
            MessageKind::Response
        }
        _ => MessageKind::Invalid,
    }
}

pub(super) fn valid_id(id: &Value) -> bool {
    id.is_string() || id.is_number()
}

/// The method of a request or notification.
pub fn method(msg: &Value) -> Option<&str> {
    msg.get("method").and_then(Value::as_str)
}

/// A JSON-RPC error for a message whose `id` is unknown (HTTP-level errors).
pub(crate) fn http_error_body(code: i64, message: &str) -> Value {
    error_response(Value::Null, code, message)
}

/// Whether a request carries a progress token.
pub(crate) fn has_progress_token(msg: &Value) -> bool {
    msg.pointer("/params/_meta/progressToken")
        .is_some_and(|t| !t.is_null())
}
