//! [`RegistryClientError`], and the messages of error bodies.

use reqwest::StatusCode;
use serde_json::Value;

#[cfg(doc)]
use super::{Pager, RegistryClient};

/// The longest error message quoted from a response body, in characters.
const MAX_MESSAGE_CHARS: usize = 500;

/// Everything that can go wrong with a registry call.
#[derive(Debug, thiserror::Error)]
pub enum RegistryClientError {
    /// The client could not be built: a bad base URL, API prefix, token, CA certificate or timeout.
    #[error("invalid registry client configuration: {0}")]
    Config(String),
    /// An argument cannot be sent: an empty name, a `.` or `..` path segment, a body that does not serialize.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// No HTTP answer: connection refused, DNS, TLS, timeout, a reset while reading. The message names the method
    /// and URL (never the token).
    #[error("registry request failed: {0}")]
    Transport(String),
    /// 404. The message names what was asked for, the URL and the registry's own message.
    #[error("not found: {0}")]
    NotFound(String),
    /// 401 (the registry's message), or a write attempted without a configured token.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 403, with the registry's message (e.g. which namespaces the token may publish to).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Any other non-2xx answer, with the registry's message.
    #[error("registry answered HTTP {status}: {message}")]
    Http { status: u16, message: String },
    /// A 2xx answer whose body is not what the API promises (or is larger than the configured cap).
    #[error("cannot decode the response of {url}: {message}")]
    Decode { url: String, message: String },
    /// The OpenAPI document does not pass ToolHive's compatibility check.
    #[error("{url} does not describe an MCP Registry API: {message}")]
    Incompatible { url: String, message: String },
    /// [`RegistryClient::list_all`] or a [`Pager`] reached the page cap with more pages to come.
    #[error(
        "listing stopped after {max_pages} pages with more to come (raise the page cap, or narrow the listing)"
    )]
    TooManyPages { max_pages: usize },
    /// [`RegistryClient::list_all`] or a [`Pager`] collected more server versions than the cap.
    #[error(
        "listing stopped: the registry returned more than {max_servers} server versions (raise the cap, or narrow the listing)"
    )]
    TooManyServers { max_servers: usize },
}

impl RegistryClientError {
    /// The HTTP status the registry answered, when this error is one. `None` for [`RegistryClientError::Unauthorized`],
    /// which is also raised locally when a write is attempted without a token.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::NotFound(_) => Some(404),
            Self::Unauthorized(_) => None,
            Self::Forbidden(_) => Some(403),
            Self::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A 404: the server, version or endpoint does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound(_))
    }
}

/// The message of an error body: `{"error": "..."}`, huma's problem+json (`detail`, else `title`, with the
/// `errors[].location: message` list appended), or `{"message": "..."}`. `None` when the body is none of these.
pub fn parse_error_body(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let obj = value.as_object()?;
    let text = |key: &str| {
        obj.get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    if let Some(e) = text("error") {
        return Some(e.to_string());
    }
    if let Some(Value::Object(e)) = obj.get("error")
        && let Some(m) = e.get("message").and_then(Value::as_str)
    {
        return Some(m.to_string());
    }
    let mut message = text("detail")
        .or_else(|| text("title"))
        .or_else(|| text("message"))?
        .to_string();
    if let Some(Value::Array(errors)) = obj.get("errors") {
        let details: Vec<String> = errors
            .iter()
            .filter_map(|e| {
                let m = e.get("message")?.as_str()?;
                Some(match e.get("location").and_then(Value::as_str) {
                    Some(loc) if !loc.is_empty() => format!("{loc}: {m}"),
                    _ => m.to_string(),
                })
            })
            .collect();
        if !details.is_empty() {
            message = format!("{message} ({})", details.join("; "));
        }
    }
    Some(message)
}

/// The message of a non-2xx answer: the parsed error body, else the body's text (whitespace collapsed, truncated),
/// else the status's reason phrase.
pub(super) fn error_message(status: StatusCode, body: &[u8]) -> String {
    let message = parse_error_body(body).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if collapsed.is_empty() {
            status
                .canonical_reason()
                .unwrap_or("no message")
                .to_string()
        } else {
            collapsed
        }
    });
    truncate(&message, MAX_MESSAGE_CHARS)
}

fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_json_and_error_bodies_give_their_message() {
        let huma = br#"{"$schema":"https://registry.modelcontextprotocol.io/schemas/ErrorModel.json",
            "title":"Unprocessable Entity","status":422,"detail":"validation failed",
            "errors":[{"message":"expected number <= 100","location":"query.limit","value":1000}]}"#;
        assert_eq!(
            parse_error_body(huma).as_deref(),
            Some("validation failed (query.limit: expected number <= 100)")
        );
        let title_only = br#"{"title":"Not Found","status":404}"#;
        assert_eq!(parse_error_body(title_only).as_deref(), Some("Not Found"));
        let ours = br#"{"error":"Server not found"}"#;
        assert_eq!(parse_error_body(ours).as_deref(), Some("Server not found"));
        assert_eq!(parse_error_body(b"<html>bad gateway</html>"), None);
        assert_eq!(
            error_message(StatusCode::BAD_GATEWAY, b"<html>\n  bad   gateway\n</html>"),
            "<html> bad gateway </html>"
        );
        assert_eq!(
            error_message(StatusCode::SERVICE_UNAVAILABLE, b""),
            "Service Unavailable"
        );
        let long = "x".repeat(2000);
        let m = error_message(StatusCode::INTERNAL_SERVER_ERROR, long.as_bytes());
        assert_eq!(m.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(m.ends_with('…'));
    }
}
