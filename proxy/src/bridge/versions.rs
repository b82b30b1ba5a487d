//! MCP protocol versions through the bridge. The stdio server has one connection, so one negotiated version
//! (the *server's*): the bridge initializes it with the newest version it knows ([`LATEST`]), and the server
//! answers the newest it supports. Each client session then negotiates on its own, as the specification's
//! lifecycle says a server does: it gets the version it asked for when the bridge knows that version and the
//! server's is not older (servers support the older versions of their SDK), else the server's version (and the
//! client decides whether it can speak it).
//!
//! What a version lacks does not cross: a request for a method the server's version does not have is answered
//! -32601 by the bridge (never forwarded), and a server notification a session's version does not have is not
//! delivered to that session. Methods this module does not know pass as they are.

use serde_json::{Value, json};

use super::jsonrpc::{METHOD_NOT_FOUND, error_response, method};
use super::{StdioBridge, lock};

/// The versions of the handshake protocol the bridge knows, oldest first. ISO dates: compared as strings.
pub const KNOWN: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
/// The version the bridge initializes the server with.
pub const LATEST: &str = "2025-11-25";

/// The version a session gets when it asked for `asked` and the server speaks `server`.
pub fn negotiate(asked: Option<&str>, server: &str) -> String {
    match asked {
        Some(v) if KNOWN.contains(&v) && v <= server => v.to_owned(),
        _ => server.to_owned(),
    }
}

/// The version a method first appeared in; `None` for one of the first version, or one this module does not
/// know.
fn introduced_in(method: &str) -> Option<&'static str> {
    match method {
        "elicitation/create" => Some("2025-06-18"),
        "tasks/get"
        | "tasks/list"
        | "tasks/result"
        | "tasks/cancel"
        | "notifications/tasks/status"
        | "notifications/elicitation/complete" => Some("2025-11-25"),
        _ => None,
    }
}

/// Whether protocol `version` has `method`.
pub fn has_method(version: &str, method: &str) -> bool {
    introduced_in(method).is_none_or(|first| version >= first)
}

impl StdioBridge {
    /// Answers `initialize`: forwarded the first time (asking for [`LATEST`]), from the cached result
    /// afterwards; either way with the version negotiated for this session, which the session keeps.
    pub(super) async fn initialize(&self, session: Option<&str>, msg: Value) -> Value {
        let client_id = msg.get("id").cloned().unwrap_or(Value::Null);
        let asked = msg
            .pointer("/params/protocolVersion")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut forwarded = false;
        let result = self
            .inner
            .init
            .get_or_try_init(|| {
                forwarded = true;
                let mut msg = msg.clone();
                if let Some(params) = msg.get_mut("params").and_then(Value::as_object_mut) {
                    params.insert("protocolVersion".into(), LATEST.into());
                }
                async move {
                    let resp = self.request(session, msg, None).await;
                    match resp.get("result") {
                        Some(result) => Ok(result.clone()),
                        None => Err(resp),
                    }
                }
            })
            .await;
        match result {
            Ok(result) => {
                if !forwarded {
                    tracing::debug!("initialize answered from the cached result");
                }
                let version = negotiate(asked.as_deref(), self.server_version().unwrap_or(LATEST));
                if let Some(s) = session {
                    self.set_session_version(s, &version);
                }
                let mut result = result.clone();
                result["protocolVersion"] = version.into();
                json!({"jsonrpc": "2.0", "id": client_id, "result": result})
            }
            Err(mut resp) => {
                resp["id"] = client_id;
                resp
            }
        }
    }

    /// The protocol version the server negotiated (once it answered `initialize`).
    fn server_version(&self) -> Option<&str> {
        self.inner.init.get()?.get("protocolVersion")?.as_str()
    }

    /// Whether the server's protocol version has the message's method (true before `initialize`).
    pub(super) fn server_has(&self, msg: &Value) -> bool {
        match (self.server_version(), method(msg)) {
            (Some(v), Some(m)) => has_method(v, m),
            _ => true,
        }
    }

    /// The answer to a request for a method the server's protocol version does not have.
    pub(super) fn not_in_server_version(&self, msg: &Value) -> Value {
        error_response(
            msg.get("id").cloned().unwrap_or(Value::Null),
            METHOD_NOT_FOUND,
            format!(
                "Method not found: {} is not in protocol version {}, which the MCP server speaks",
                method(msg).unwrap_or_default(),
                self.server_version().unwrap_or_default()
            ),
        )
    }

    /// Records the protocol version negotiated for a session: messages its version lacks are not delivered to
    /// it. (The streamable-HTTP transport creates the session after its `initialize`: it calls this then.)
    pub fn set_session_version(&self, id: &str, version: &str) {
        if let Some(s) = lock(&self.inner.sessions).get(id) {
            s.set_version(version);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_get_what_they_asked_for_when_the_server_speaks_it() {
        assert_eq!(negotiate(Some("2025-06-18"), "2025-11-25"), "2025-06-18");
        assert_eq!(negotiate(Some("2024-11-05"), "2025-11-25"), "2024-11-05");
        assert_eq!(negotiate(Some("2025-11-25"), "2025-11-25"), "2025-11-25");
        // Newer than the server, or unknown: the server's (the client decides).
        assert_eq!(negotiate(Some("2026-07-28"), "2025-11-25"), "2025-11-25");
        assert_eq!(negotiate(Some("2025-11-25"), "2025-03-26"), "2025-03-26");
        assert_eq!(negotiate(Some("draft"), "2025-06-18"), "2025-06-18");
        assert_eq!(negotiate(None, "2025-06-18"), "2025-06-18");
    }

    #[test]
    fn methods_by_version() {
        assert!(has_method("2025-11-25", "tasks/get") && !has_method("2025-06-18", "tasks/get"));
        assert!(!has_method("2025-06-18", "notifications/tasks/status"));
        assert!(
            has_method("2025-06-18", "elicitation/create")
                && !has_method("2025-03-26", "elicitation/create")
        );
        assert!(
            has_method("2024-11-05", "tools/call") && has_method("2024-11-05", "x-custom/thing")
        );
    }
}
