//! [`StdioBridge`]: one stdio MCP server shared by many client sessions.
//!
//! Two tasks own the pipes: the *writer* takes newline-delimited JSON-RPC messages from a channel and writes
//! them to the server's stdin (coalescing what is queued before one flush), the *reader* reads the server's
//! stdout line by line and routes every message. Everything else (the HTTP handlers) talks to those tasks
//! through the bridge's methods.
//!
//! # Routing
//!
//! - **Requests**: the client's `id` is replaced by a backend id unique to the bridge (a counter), and restored
//!   on the response, which goes only to the caller that sent the request. Two sessions (or one, twice) can use
//!   the same id concurrently.
//! - **Progress**: a request's `params._meta.progressToken` is replaced by a unique token; the server's
//!   `notifications/progress` for it go back, with the original token, to the request's own stream (a
//!   streamable-HTTP POST answered as an event stream) or else to the session's stream.
//! - **`initialize`** reaches the server once, asking for the newest protocol version the bridge knows: its
//!   result is cached and every `initialize` is answered locally from it (with its own id), with the protocol
//!   version negotiated for that session — the one it asked for when the server's is not older — and what a
//!   version lacks does not cross ([`versions`]). The first session's capabilities and client info are the ones
//!   the server sees. `notifications/initialized` is forwarded once.
//! - **`notifications/cancelled`** from a client: its `requestId` is rewritten to the backend id of that
//!   session's pending request with that id (dropped when there is none).
//! - **`resources/subscribe`** is ref-counted per URI: the URI's first subscriber's request is forwarded (if
//!   the server refuses it, nobody is subscribed), the others are answered locally with `{}`, as is a session
//!   subscribing again. **`resources/unsubscribe`** is forwarded only when the session is the URI's last
//!   subscriber (or when nobody is subscribed, for the server to answer); otherwise it is answered locally.
//! - **`notifications/resources/updated`** go only to the sessions subscribed to its URI, or to a URI it is a
//!   sub-resource of (the subscribed URI followed by `/`, `?` or `#`, or one ending with `/`): the MCP
//!   specification lets the update name a sub-resource. Updates nobody subscribed to are dropped.
//! - **`logging/setLevel`** is reconciled: the server is set to the most verbose level (RFC 5424 order: debug
//!   < info < notice < warning < error < critical < alert < emergency) any live session asked for. A request
//!   that changes that level is forwarded with it (which may be more verbose than the session's own); one that
//!   does not is answered locally with `{}`. An unknown level is answered with -32602 (invalid params).
//! - **`notifications/message`** go to the sessions whose own level admits the message's level; sessions
//!   that never set a level, and messages with an unknown level, are not filtered.
//! - **Other server notifications** (`notifications/tools/list_changed`, …) are broadcast, best effort, to
//!   every session that has a stream open (or a replay log, see below).
//! - **Server→client requests**: the proxy, not a client, is the server's peer, so it answers them itself:
//!   `ping` with an empty result, anything else (`sampling/createMessage`, `elicitation/create`,
//!   `roots/list`, …) with the JSON-RPC error -32601 (method not found), as ToolHive does. The server's
//!   `notifications/cancelled` (which can only refer to those) are dropped, and so are responses sent by
//!   clients.
//!
//! # Failures
//!
//! - A request whose response does not come within [`BridgeConfig::request_timeout`] gets the JSON-RPC error
//!   [`REQUEST_TIMEOUT`] and the server is sent `notifications/cancelled` for it.
//! - When the server's stdout ends (it exited) or its stdin cannot be written, the bridge is dead: pending and
//!   later requests get the error [`BACKEND_UNAVAILABLE`], and [`StdioBridge::health`] says why.
//!
//! # Sessions
//!
//! The bridge keeps the client sessions (their ids and streams), because it routes to them. A session is idle
//! when it has no stream open; an idle session not used for [`BridgeConfig::session_ttl`] is removed (checked
//! when it is used and by a sweeper every TTL/2). Times are `tokio::time` times.
//!
//! When a session ends (removed, expired, cleared, or its legacy SSE stream closed), what it held is
//! released in the background, as if it had asked: for each URI it was the last subscriber of, the server is
//! sent `resources/unsubscribe` (a request of the proxy's own, whose response no client sees); if it had the
//! most verbose log level, the server is sent the new most verbose level of the sessions left. When no
//! session with a level is left, the server keeps its last level: MCP has no request to restore a server's
//! default, and sessions without a level get every message anyway.
//!
//! # Resumable streams
//!
//! A session's stream opened with [`StdioBridge::resume_stream`] (the streamable-HTTP `GET /mcp`) is
//! resumable: from then on, every message for the session gets an event id (`SESSION-N`, N counting from 1
//! per session, so unique across the session's streams) and is kept in a replay log, bounded by
//! [`BridgeConfig::replay_events`] and [`BridgeConfig::replay_bytes`] (oldest first out), also while no
//! stream is open or when the stream's buffer is full. Reopening the stream after event N replays the kept
//! events after N, then goes on live; when N is older than the log, what the log holds is replayed (the gap is
//! not signalled). A `Last-Event-ID` that is malformed, of another session, or never issued is refused
//! ([`ResumeError`]). Only the session stream is resumable: a POST's own event stream has no ids, as the MCP
//! specification forbids replaying one stream's messages on another. The legacy SSE transport's sessions end
//! with their stream, so they have nothing to resume.

mod jsonrpc;
mod logging;
mod pipes;
mod replay;
mod session;
mod shared;
mod subscriptions;
mod versions;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OnceCell, mpsc, oneshot};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::StdioAttachment;

use jsonrpc::valid_id;
pub use jsonrpc::{
    BACKEND_UNAVAILABLE, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, MessageKind,
    PARSE_ERROR, REQUEST_TIMEOUT, classify, error_response, method,
};
pub(crate) use jsonrpc::{has_progress_token, http_error_body};
pub use logging::LogLevel;
use pipes::{read_loop, sweep_loop, write_loop};
pub use replay::{ResumeError, SessionEvent};
use session::{ReplayLimits, Session};
pub use session::{SessionEvents, SessionStream};

/// Settings of a [`StdioBridge`].
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// How long a request waits for the server's response (default 60 s).
    pub request_timeout: Duration,
    /// How long an idle session (no stream open) lives after its last use (default 2 h).
    pub session_ttl: Duration,
    /// Messages buffered per session stream; beyond that, notifications to the session are dropped (default 256).
    pub stream_capacity: usize,
    /// Events kept per session for resuming its stream with `Last-Event-ID` (default 256; 0: streams are not
    /// resumable and their events have no id). See [Resumable streams](self#resumable-streams).
    pub replay_events: usize,
    /// Bytes of messages (serialized JSON) kept per session for resuming its stream (default 512 KiB); the
    /// oldest events are evicted first.
    pub replay_bytes: usize,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(60),
            session_ttl: Duration::from_secs(2 * 60 * 60),
            stream_capacity: 256,
            replay_events: 256,
            replay_bytes: 512 * 1024,
        }
    }
}

/// Whether the server is there, as [`StdioBridge::health`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendHealth {
    /// The pipes are open.
    pub alive: bool,
    /// Why the bridge is dead, when it is.
    pub error: Option<String>,
    /// Sessions currently known.
    pub sessions: usize,
    /// Whether the server answered `initialize` (its result is cached).
    pub initialized: bool,
}

/// One stdio MCP server shared by many sessions; see the [module documentation](self). Cheap to clone.
#[derive(Clone)]
pub struct StdioBridge {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for StdioBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdioBridge")
            .field("health", &self.health())
            .finish()
    }
}

struct Inner {
    config: BridgeConfig,
    writer: mpsc::Sender<Vec<u8>>,
    next_id: AtomicU64,
    next_stream: AtomicU64,
    state: Mutex<State>,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    init: OnceCell<Value>,
    initialized_sent: AtomicBool,
    tasks: Mutex<Vec<AbortHandle>>,
    /// Subscriptions and log levels.
    shared: Mutex<shared::Shared>,
    /// Held by every change of `shared` until the server answered it.
    shared_ops: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    /// Set when the bridge is dead.
    exit: Option<String>,
    /// By backend id.
    pending: HashMap<u64, Pending>,
    /// By backend progress token.
    progress: HashMap<String, ProgressEntry>,
}

struct Pending {
    session: Option<String>,
    client_id: Value,
    tx: oneshot::Sender<Value>,
}

struct ProgressEntry {
    original: Value,
    session: Option<String>,
    sink: Option<mpsc::Sender<Value>>,
}

/// Why [`StdioBridge::resume_stream`] opened no stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The session does not exist (or has expired).
    #[error("Session not found")]
    SessionNotFound,
    /// The `Last-Event-ID` cannot be resumed from.
    #[error(transparent)]
    LastEventId(#[from] ResumeError),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
impl StdioBridge {
    /// Starts the bridge over a server's stdin and stdout: spawns the writer, the reader and the session
    /// sweeper on the current tokio runtime.
    pub fn new<W, R>(stdin: W, stdout: R, config: BridgeConfig) -> Self
    where
        W: AsyncWrite + Send + Unpin + 'static,
        R: AsyncRead + Send + Unpin + 'static,
    {
        let (writer, rx) = mpsc::channel(1024);
        let ttl = config.session_ttl;
        let inner = Arc::new(Inner {
            config,
            writer,
            next_id: AtomicU64::new(1),
            next_stream: AtomicU64::new(1),
            state: Mutex::new(State::default()),
            sessions: Mutex::new(HashMap::new()),
            init: OnceCell::new(),
            initialized_sent: AtomicBool::new(false),
            tasks: Mutex::new(Vec::new()),
            shared: Mutex::new(shared::Shared::default()),
            shared_ops: tokio::sync::Mutex::new(()),
        });
        let w = tokio::spawn(write_loop(inner.clone(), rx, stdin));
        let r = tokio::spawn(read_loop(inner.clone(), stdout));
        let s = tokio::spawn(sweep_loop(Arc::downgrade(&inner), ttl));
        lock(&inner.tasks).extend([w.abort_handle(), r.abort_handle(), s.abort_handle()]);
        Self { inner }
    }

    /// Starts the bridge over a container's attached stdin and stdout (a container engine's attach: `thv`'s `Runtime::attach_stdio`).
    pub fn from_attachment(attachment: StdioAttachment, config: BridgeConfig) -> Self {
        Self::new(attachment.stdin, attachment.stdout, config)
    }

    /// Starts the bridge over a child process spawned with piped stdin and stdout (taken from `child`).
    pub fn from_child(
        child: &mut tokio::process::Child,
        config: BridgeConfig,
    ) -> std::io::Result<Self> {
        let missing =
            |what: &str| std::io::Error::other(format!("the child process has no piped {what}"));
        let stdin = child.stdin.take().ok_or_else(|| missing("stdin"))?;
        let stdout = child.stdout.take().ok_or_else(|| missing("stdout"))?;
        Ok(Self::new(stdin, stdout, config))
    }

    /// The bridge's settings.
    pub fn config(&self) -> &BridgeConfig {
        &self.inner.config
    }

    /// Whether the server's pipes are open.
    pub fn is_alive(&self) -> bool {
        lock(&self.inner.state).exit.is_none()
    }

    /// The server's state, for `/health`.
    pub fn health(&self) -> BackendHealth {
        let error = lock(&self.inner.state).exit.clone();
        BackendHealth {
            alive: error.is_none(),
            error,
            sessions: lock(&self.inner.sessions).len(),
            initialized: self.inner.init.initialized(),
        }
    }

    /// Stops the bridge: the pipes are closed (dropped), pending requests fail, sessions are removed.
    pub fn close(&self) {
        for t in lock(&self.inner.tasks).drain(..) {
            t.abort();
        }
        self.inner
            .mark_exited("the proxy closed the connection to the MCP server".into());
        self.clear_sessions();
    }

    // ----- sessions -----

    /// Creates a session and returns its id (32 hex characters, random).
    pub fn create_session(&self) -> String {
        let mut bytes = [0u8; 16];
        if getrandom::fill(&mut bytes).is_err() {
            // No OS randomness: fall back to a unique, if guessable, id.
            let n = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
            bytes[..8].copy_from_slice(&n.to_be_bytes());
            bytes[8..].copy_from_slice(&(std::process::id() as u64).to_be_bytes());
        }
        let id = hex::encode(bytes);
        let session = Arc::new(Session::new(&id));
        lock(&self.inner.sessions).insert(id.clone(), session);
        tracing::debug!(session = %id, "session created");
        id
    }

    /// Marks a session as used now; `false` when it does not exist (or has just expired, and is removed).
    pub fn touch_session(&self, id: &str) -> bool {
        let mut sessions = lock(&self.inner.sessions);
        let Some(s) = sessions.get(id) else {
            return false;
        };
        let now = Instant::now();
        if s.expired(now, self.inner.config.session_ttl) {
            sessions.remove(id);
            drop(sessions);
            tracing::debug!(session = %id, "session expired");
            self.inner.end_sessions(vec![id.to_owned()]);
            return false;
        }
        s.touch(now);
        true
    }

    /// Removes a session (its stream ends, what it held is released); `false` when it did not exist.
    pub fn remove_session(&self, id: &str) -> bool {
        let removed = lock(&self.inner.sessions).remove(id).is_some();
        if removed {
            tracing::debug!(session = %id, "session removed");
            self.inner.end_sessions(vec![id.to_owned()]);
        }
        removed
    }

    /// Removes every session (their streams end, what they held is released).
    pub fn clear_sessions(&self) {
        let ids: Vec<String> = lock(&self.inner.sessions)
            .drain()
            .map(|(id, _)| id)
            .collect();
        self.inner.end_sessions(ids);
    }

    /// Opens the session's stream of server messages (notifications broadcast or routed to it, progress
    /// without a request stream, and whatever [`StdioBridge::send_to_session`] sends). A session has at most
    /// one: a new one replaces (ends) the previous one. With `remove_session_on_close`, dropping the stream
    /// removes the session (the legacy SSE transport, whose session is its stream), and the stream is not
    /// resumable; without, it is as [`StdioBridge::resume_stream`] without `Last-Event-ID`. `None` for an
    /// unknown session.
    pub fn open_stream(&self, id: &str, remove_session_on_close: bool) -> Option<SessionStream> {
        self.attach_stream(id, remove_session_on_close, None).ok()
    }

    /// Opens the session's resumable stream (see [Resumable streams](self#resumable-streams)): its events
    /// carry ids; after `last_event_id` (a `Last-Event-ID` header), the kept events after it come first.
    /// A refused `last_event_id` leaves the session's current stream open.
    pub fn resume_stream(
        &self,
        id: &str,
        last_event_id: Option<&str>,
    ) -> Result<SessionStream, StreamError> {
        self.attach_stream(id, false, last_event_id)
    }

    fn attach_stream(
        &self,
        id: &str,
        remove_session_on_close: bool,
        last_event_id: Option<&str>,
    ) -> Result<SessionStream, StreamError> {
        if !self.touch_session(id) {
            return Err(StreamError::SessionNotFound);
        }
        let session = lock(&self.inner.sessions)
            .get(id)
            .cloned()
            .ok_or(StreamError::SessionNotFound)?;
        let after = last_event_id
            .map(|text| replay::parse_event_id(id, text).map(|n| (n, text)))
            .transpose()?;
        let config = &self.inner.config;
        let replay =
            (!remove_session_on_close && config.replay_events > 0).then_some(ReplayLimits {
                events: config.replay_events,
                bytes: config.replay_bytes,
            });
        let (tx, rx) = mpsc::channel(config.stream_capacity.max(1));
        let generation = self.inner.next_stream.fetch_add(1, Ordering::Relaxed);
        let replayed = session.attach(generation, tx, replay, after)?;
        Ok(SessionStream::new(
            replayed,
            rx,
            Arc::downgrade(&self.inner),
            id,
            generation,
            remove_session_on_close,
        ))
    }

    /// Sends a message on the session's stream, waiting while its buffer is full; `false` when the session
    /// has no stream (or is gone). A resumable session keeps the message for replay even without a stream.
    pub async fn send_to_session(&self, id: &str, msg: Value) -> bool {
        let session = lock(&self.inner.sessions).get(id).cloned();
        match session {
            Some(s) => s.send(msg).await,
            None => false,
        }
    }

    // ----- messages -----

    /// Handles one message from a client of session `session` (`None`: not in a session yet, e.g. the
    /// streamable-HTTP `initialize`). Returns the response for a request, `None` for a notification or a
    /// response. Progress for the request goes to `progress` when given, else to the session's stream.
    pub async fn handle(
        &self,
        session: Option<&str>,
        msg: Value,
        progress: Option<mpsc::Sender<Value>>,
    ) -> Option<Value> {
        match classify(&msg) {
            MessageKind::Request if method(&msg) == Some("initialize") => {
                Some(self.initialize(session, msg).await)
            }
            MessageKind::Request if !self.server_has(&msg) => {
                Some(self.not_in_server_version(&msg))
            }
            MessageKind::Notification if !self.server_has(&msg) => None,
            MessageKind::Request => Some(match (method(&msg), session) {
                (Some("resources/subscribe"), Some(s)) => self.subscribe(s, msg).await,
                (Some("resources/unsubscribe"), Some(s)) => self.unsubscribe(s, msg).await,
                (Some("logging/setLevel"), Some(s)) => self.set_level(s, msg).await,
                _ => self.request(session, msg, progress).await,
            }),
            MessageKind::Notification => {
                self.notify(session, msg).await;
                None
            }
            MessageKind::Response => {
                tracing::debug!(
                    "dropping a client response: the proxy answers server requests itself"
                );
                None
            }
            MessageKind::Invalid => {
                let id = msg
                    .get("id")
                    .filter(|id| valid_id(id))
                    .cloned()
                    .unwrap_or(Value::Null);
                Some(error_response(
                    id,
                    INVALID_REQUEST,
                    "Invalid Request: not a JSON-RPC 2.0 message",
                ))
            }
        }
    }

    /// Forwards a request with a backend id and waits for its response (with the client's id restored).
    async fn request(
        &self,
        session: Option<&str>,
        mut msg: Value,
        progress: Option<mpsc::Sender<Value>>,
    ) -> Value {
        let inner = &self.inner;
        let client_id = msg.get("id").cloned().unwrap_or(Value::Null);
        let backend_id = inner.next_id.fetch_add(1, Ordering::Relaxed);
        msg["id"] = backend_id.into();
        let token = msg
            .pointer_mut("/params/_meta/progressToken")
            .filter(|t| !t.is_null())
            .map(|t| {
                let backend_token = format!("thv-progress-{backend_id}");
                (
                    backend_token.clone(),
                    std::mem::replace(t, Value::String(backend_token)),
                )
            });
        let (tx, rx) = oneshot::channel();
        {
            let mut st = lock(&inner.state);
            if let Some(reason) = &st.exit {
                return error_response(
                    client_id,
                    BACKEND_UNAVAILABLE,
                    format!("MCP server unavailable: {reason}"),
                );
            }
            st.pending.insert(
                backend_id,
                Pending {
                    session: session.map(str::to_owned),
                    client_id: client_id.clone(),
                    tx,
                },
            );
            if let Some((backend_token, original)) = &token {
                st.progress.insert(
                    backend_token.clone(),
                    ProgressEntry {
                        original: original.clone(),
                        session: session.map(str::to_owned),
                        sink: progress,
                    },
                );
            }
        }
        let _guard = PendingGuard {
            inner,
            backend_id,
            token: token.map(|(t, _)| t),
        };
        let line = serde_json::to_vec(&msg).expect("a JSON value serializes");
        if inner.writer.send(line).await.is_err() {
            return self.unavailable(client_id);
        }
        match tokio::time::timeout(inner.config.request_timeout, rx).await {
            Ok(Ok(mut resp)) => {
                resp["id"] = client_id;
                resp
            }
            Ok(Err(_)) => self.unavailable(client_id),
            Err(_) => {
                tracing::warn!(
                    method = method(&msg).unwrap_or_default(),
                    timeout = ?inner.config.request_timeout,
                    "the MCP server did not answer in time"
                );
                let cancel = json!({
                    "jsonrpc": "2.0",
                    "method": "notifications/cancelled",
                    "params": {"requestId": backend_id, "reason": "request timed out in the proxy"},
                });
                let _ = inner
                    .writer
                    .try_send(serde_json::to_vec(&cancel).expect("a JSON value serializes"));
                error_response(
                    client_id,
                    REQUEST_TIMEOUT,
                    format!(
                        "Request timed out: the MCP server did not answer within {:?}",
                        inner.config.request_timeout
                    ),
                )
            }
        }
    }

    fn unavailable(&self, client_id: Value) -> Value {
        let reason = lock(&self.inner.state)
            .exit
            .clone()
            .unwrap_or_else(|| "the connection to the MCP server is closed".into());
        error_response(
            client_id,
            BACKEND_UNAVAILABLE,
            format!("MCP server unavailable: {reason}"),
        )
    }

    /// Forwards a client notification.
    async fn notify(&self, session: Option<&str>, mut msg: Value) {
        match method(&msg) {
            Some("notifications/initialized")
                if self.inner.initialized_sent.swap(true, Ordering::AcqRel) =>
            {
                tracing::debug!("notifications/initialized already sent to the MCP server");
                return;
            }
            Some("notifications/cancelled") => {
                let Some(request_id) = msg.pointer("/params/requestId").cloned() else {
                    return;
                };
                let backend_id = lock(&self.inner.state)
                    .pending
                    .iter()
                    .find(|(_, p)| p.session.as_deref() == session && p.client_id == request_id)
                    .map(|(id, _)| *id);
                let Some(backend_id) = backend_id else {
                    tracing::debug!("cancellation of a request that is not pending: dropped");
                    return;
                };
                msg["params"]["requestId"] = backend_id.into();
            }
            _ => {}
        }
        let line = serde_json::to_vec(&msg).expect("a JSON value serializes");
        if self.inner.writer.send(line).await.is_err() {
            tracing::debug!("notification not sent: the MCP server is gone");
        }
    }
}

/// Removes a request's routing entries when its caller stops waiting (response, timeout, or dropped).
struct PendingGuard<'a> {
    inner: &'a Inner,
    backend_id: u64,
    token: Option<String>,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        let mut st = lock(&self.inner.state);
        st.pending.remove(&self.backend_id);
        if let Some(t) = &self.token {
            st.progress.remove(t);
        }
    }
}

impl Inner {
    fn mark_exited(&self, reason: String) {
        let mut st = lock(&self.state);
        if st.exit.is_none() {
            tracing::warn!("MCP server connection lost: {reason}");
            st.exit = Some(reason);
        }
        // Dropping the senders fails every pending request.
        st.pending.clear();
        st.progress.clear();
    }

    fn send_backend(&self, msg: &Value) {
        let line = serde_json::to_vec(msg).expect("a JSON value serializes");
        let writer = self.writer.clone();
        // Never block the reader on the writer (the server may be blocked writing its stdout).
        tokio::spawn(async move {
            let _ = writer.send(line).await;
        });
    }

    /// Routes one message from the server.
    fn dispatch(&self, msg: Value) {
        match classify(&msg) {
            MessageKind::Response => {
                let Some(id) = msg.get("id").and_then(Value::as_u64) else {
                    tracing::warn!(
                        "the MCP server sent a response with an id the proxy did not issue: {msg}"
                    );
                    return;
                };
                let pending = lock(&self.state).pending.remove(&id);
                match pending {
                    Some(p) => {
                        let _ = p.tx.send(msg);
                    }
                    None => tracing::debug!(id, "response to a request nobody waits for anymore"),
                }
            }
            MessageKind::Request => {
                let id = msg.get("id").cloned().unwrap_or(Value::Null);
                let m = method(&msg).unwrap_or_default();
                let reply = if m == "ping" {
                    json!({"jsonrpc": "2.0", "id": id, "result": {}})
                } else {
                    tracing::debug!(method = m, "refusing a server-to-client request");
                    error_response(
                        id,
                        METHOD_NOT_FOUND,
                        format!(
                            "Method not found: the proxy does not forward server-to-client requests ({m})"
                        ),
                    )
                };
                self.send_backend(&reply);
            }
            MessageKind::Notification => match method(&msg) {
                Some("notifications/progress") => self.route_progress(msg),
                Some("notifications/cancelled") => {
                    tracing::debug!(
                        "dropping the server's cancellation of a server-to-client request"
                    );
                }
                Some("notifications/resources/updated") => self.route_resource_update(&msg),
                Some("notifications/message") => self.route_log_message(&msg),
                _ => self.broadcast(&msg),
            },
            MessageKind::Invalid => {
                tracing::warn!("the MCP server sent an invalid JSON-RPC message: {msg}")
            }
        }
    }

    fn route_progress(&self, mut msg: Value) {
        let Some(token) = msg
            .pointer("/params/progressToken")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            tracing::debug!("progress notification without a token issued by the proxy: dropped");
            return;
        };
        let target = {
            let st = lock(&self.state);
            st.progress
                .get(&token)
                .map(|e| (e.original.clone(), e.sink.clone(), e.session.clone()))
        };
        let Some((original, sink, session)) = target else {
            tracing::debug!(token, "progress for a finished request: dropped");
            return;
        };
        msg["params"]["progressToken"] = original;
        if let Some(tx) = sink {
            if tx.try_send(msg).is_err() {
                tracing::debug!("progress notification dropped: the stream is full or closed");
            }
            return;
        }
        let session = session.and_then(|id| lock(&self.sessions).get(&id).cloned());
        if let Some(s) = session {
            s.deliver(msg);
        }
    }

    fn broadcast(&self, msg: &Value) {
        let sessions: Vec<_> = lock(&self.sessions).values().cloned().collect();
        for s in sessions {
            s.deliver(msg.clone());
        }
    }

    fn sweep(self: &Arc<Self>) {
        let now = Instant::now();
        let ttl = self.config.session_ttl;
        let mut expired = Vec::new();
        lock(&self.sessions).retain(|id, s| {
            let keep = !s.expired(now, ttl);
            if !keep {
                tracing::debug!(session = %id, "session expired");
                expired.push(id.clone());
            }
            keep
        });
        self.end_sessions(expired);
    }
}
