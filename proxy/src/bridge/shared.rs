//! What the sessions of one server share: resource subscriptions (ref-counted per URI) and the log level
//! (reconciled to the most verbose one asked for). The rules are in the [bridge's documentation](super).
//!
//! Every change (a client's `resources/subscribe`, `resources/unsubscribe` or `logging/setLevel`, and the
//! release of what an ended session held) runs under one async lock, `Inner::shared_ops`, held until the
//! server answered: so the server sees the changes in the order the table records them. The reader reads the
//! table (`Inner::shared`, a plain mutex) to route `notifications/resources/updated` and
//! `notifications/message`.

use std::sync::Arc;

use serde_json::{Value, json};

use super::logging::{LogLevel, LogLevels};
use super::subscriptions::Subscriptions;
use super::{INVALID_PARAMS, INVALID_REQUEST, Inner, StdioBridge, error_response, lock};

/// The tables.
#[derive(Debug, Default)]
pub(super) struct Shared {
    subs: Subscriptions,
    levels: LogLevels,
}

fn empty_result(id: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": {}})
}

fn client_id(msg: &Value) -> Value {
    msg.get("id").cloned().unwrap_or(Value::Null)
}

fn succeeded(resp: &Value) -> bool {
    resp.get("result").is_some()
}

fn session_gone(msg: &Value) -> Value {
    error_response(
        client_id(msg),
        INVALID_REQUEST,
        "Invalid Request: the session has ended",
    )
}

impl StdioBridge {
    /// `resources/subscribe`: forwarded for the URI's first subscriber, answered locally for the others.
    pub(super) async fn subscribe(&self, session: &str, msg: Value) -> Value {
        let Some(uri) = msg.pointer("/params/uri").and_then(Value::as_str) else {
            // The server says what is wrong with it.
            return self.request(Some(session), msg, None).await;
        };
        let uri = uri.to_owned();
        let _op = self.inner.shared_ops.lock().await;
        if !self.inner.has_session(session) {
            return session_gone(&msg);
        }
        // Recorded before the server answers, so that updates sent right after the answer are routed.
        if !lock(&self.inner.shared).subs.add(&uri, session) {
            tracing::debug!(
                uri,
                "resources/subscribe answered locally: already subscribed"
            );
            return empty_result(client_id(&msg));
        }
        let resp = self.request(Some(session), msg, None).await;
        if !succeeded(&resp) {
            lock(&self.inner.shared).subs.remove(&uri, session);
        }
        resp
    }

    /// `resources/unsubscribe`: forwarded when the session is the URI's last subscriber (or when nobody is
    /// subscribed: the server answers), answered locally otherwise.
    pub(super) async fn unsubscribe(&self, session: &str, msg: Value) -> Value {
        let Some(uri) = msg.pointer("/params/uri").and_then(Value::as_str) else {
            return self.request(Some(session), msg, None).await;
        };
        let uri = uri.to_owned();
        let _op = self.inner.shared_ops.lock().await;
        let forward = {
            let mut shared = lock(&self.inner.shared);
            match shared.subs.holders(&uri, session) {
                (true, _) => shared.subs.remove(&uri, session),
                (false, others) => !others,
            }
        };
        if forward {
            self.request(Some(session), msg, None).await
        } else {
            tracing::debug!(
                uri,
                "resources/unsubscribe answered locally: other sessions are subscribed"
            );
            empty_result(client_id(&msg))
        }
    }

    /// `logging/setLevel`: the server is sent the most verbose level of the sessions' when that changes it,
    /// else the request is answered locally.
    pub(super) async fn set_level(&self, session: &str, mut msg: Value) -> Value {
        let Some(level) = msg
            .pointer("/params/level")
            .and_then(Value::as_str)
            .and_then(LogLevel::parse)
        else {
            return error_response(
                client_id(&msg),
                INVALID_PARAMS,
                "Invalid params: level must be one of debug, info, notice, warning, error, critical, alert, emergency",
            );
        };
        let _op = self.inner.shared_ops.lock().await;
        if !self.inner.has_session(session) {
            return session_gone(&msg);
        }
        let target = {
            let mut shared = lock(&self.inner.shared);
            let target = shared.levels.target_for(session, level);
            if target.is_none() {
                shared.levels.set(session, level);
            }
            target
        };
        let Some(target) = target else {
            tracing::debug!(
                level = level.as_str(),
                "logging/setLevel answered locally: the server's level stays"
            );
            return empty_result(client_id(&msg));
        };
        msg["params"]["level"] = target.as_str().into();
        let resp = self.request(Some(session), msg, None).await;
        if succeeded(&resp) {
            let mut shared = lock(&self.inner.shared);
            shared.levels.set(session, level);
            shared.levels.set_server(target);
        }
        resp
    }

    /// A request of the bridge's own: its response is not sent to any client; `true` when it succeeded.
    async fn bridge_request(&self, method: &str, params: Value) -> bool {
        let msg = json!({"jsonrpc": "2.0", "id": "thv-bridge", "method": method, "params": params});
        let resp = self.request(None, msg, None).await;
        if let Some(e) = resp.get("error") {
            tracing::debug!(method, error = %e, "the MCP server refused the proxy's request");
        }
        succeeded(&resp)
    }
}

impl Inner {
    fn has_session(&self, id: &str) -> bool {
        lock(&self.sessions).contains_key(id)
    }

    /// Releases what sessions that ended (already removed from the session table) held: their subscriptions
    /// (the server is sent `resources/unsubscribe` for the URIs left without a subscriber) and their log
    /// levels (the server is sent the new effective level when it changes). In the background.
    pub(super) fn end_sessions(self: &Arc<Self>, ids: Vec<String>) {
        if ids.is_empty() {
            return;
        }
        let bridge = StdioBridge {
            inner: self.clone(),
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move { bridge.release(ids).await });
            }
            Err(_) => {
                // No runtime, so no server to tell: only the tables are updated.
                let mut shared = lock(&self.shared);
                for id in &ids {
                    shared.subs.remove_session(id);
                    shared.levels.remove(id);
                }
            }
        }
    }

    /// Routes `notifications/resources/updated` to the sessions subscribed to its URI.
    pub(super) fn route_resource_update(&self, msg: &Value) {
        let Some(uri) = msg.pointer("/params/uri").and_then(Value::as_str) else {
            tracing::debug!("notifications/resources/updated without a uri: dropped");
            return;
        };
        let targets = lock(&self.shared).subs.subscribers(uri);
        if targets.is_empty() {
            tracing::debug!(
                uri,
                "update of a resource no session is subscribed to: dropped"
            );
            return;
        }
        let sessions: Vec<_> = {
            let sessions = lock(&self.sessions);
            targets
                .iter()
                .filter_map(|id| sessions.get(id).cloned())
                .collect()
        };
        for s in sessions {
            s.deliver(msg.clone());
        }
    }

    /// Routes `notifications/message` to the sessions whose level admits its level.
    pub(super) fn route_log_message(&self, msg: &Value) {
        let level = msg
            .pointer("/params/level")
            .and_then(Value::as_str)
            .and_then(LogLevel::parse);
        let sessions: Vec<_> = lock(&self.sessions)
            .iter()
            .map(|(id, s)| (id.clone(), s.clone()))
            .collect();
        let admitted: Vec<_> = {
            let shared = lock(&self.shared);
            sessions
                .into_iter()
                .filter(|(id, _)| shared.levels.admits(id, level))
                .collect()
        };
        for (_, s) in admitted {
            s.deliver(msg.clone());
        }
    }
}

impl StdioBridge {
    async fn release(&self, ids: Vec<String>) {
        let _op = self.inner.shared_ops.lock().await;
        let (freed, level) = {
            let mut shared = lock(&self.inner.shared);
            let mut freed = Vec::new();
            for id in &ids {
                freed.extend(shared.subs.remove_session(id));
                shared.levels.remove(id);
            }
            (freed, shared.levels.target())
        };
        for uri in freed {
            tracing::debug!(uri, "the last subscriber ended: unsubscribing");
            self.bridge_request("resources/unsubscribe", json!({"uri": uri}))
                .await;
        }
        if let Some(level) = level {
            tracing::debug!(
                level = level.as_str(),
                "the most verbose session ended: resetting the log level"
            );
            if self
                .bridge_request("logging/setLevel", json!({"level": level.as_str()}))
                .await
            {
                lock(&self.inner.shared).levels.set_server(level);
            }
        }
    }
}
