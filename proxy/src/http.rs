//! The HTTP side of the stdio proxy: an axum [`Router`] over a [`StdioBridge`].
//!
//! # streamable-http (`/mcp`)
//!
//! - `POST /mcp` takes one JSON-RPC message or a batch (a JSON array, answered with an array; `initialize` may
//!   not be part of one). `initialize` needs no session: its successful response carries a new
//!   `Mcp-Session-Id`. Every other POST needs that header: missing → 400, unknown or expired → 404.
//!   Notifications and responses only → 202 without body. A single request is answered with
//!   `application/json`, except a request with a `_meta.progressToken` from a client that accepts
//!   `text/event-stream`: it is answered with an event stream carrying its progress notifications, then the
//!   response.
//! - `GET /mcp` (session required) opens the session's event stream: server notifications for the session
//!   and progress of requests answered as JSON. One per session; a new one ends the previous one. Its events
//!   have ids (`SESSION-N`, see the bridge's [resumable streams](super::bridge#resumable-streams)); a `GET`
//!   with `Last-Event-ID: SESSION-N` first gets the kept events after N (all the kept ones when N is older
//!   than what is kept), then live ones. A `Last-Event-ID` that is malformed, of another session, or never
//!   sent → 400 (the current stream, if any, stays open).
//! - `DELETE /mcp` (session required) ends the session: 200.
//!
//! # sse (`/sse`, `/messages`)
//!
//! - `GET /sse` creates a session and streams: first the `endpoint` event (`/messages?session_id=ID`), then
//!   `message` events (without ids: the session ends with its stream, there is nothing to resume). Closing
//!   the stream ends the session.
//! - `POST /messages?session_id=ID` (missing → 400, unknown → 404): 202 `Accepted`; the response (or batch
//!   response) comes on the session's stream.
//!
//! # Both
//!
//! - `GET /health`: `{"status": "healthy"|"unhealthy", "transport": "stdio", "proxy_mode", "version",
//!   "mcp": {"available", "error", "initialized"}, "sessions"}`, 200 when the server is alive, 503 otherwise.
//! - A request whose `Host` or `Origin` is not allowed ([`super::access`]) → 403; a body over the limit → 413; a body that is
//!   not JSON → 400 with a JSON-RPC parse error. HTTP-level errors have a JSON-RPC error body (`id: null`).
//! - Event streams send a keep-alive comment every 15 s (which also notices clients that went away).
//! - Lenient on what clients send: the `Accept` header is only used to choose between JSON and an event
//!   stream, `MCP-Protocol-Version` is not checked, and an `Mcp-Session-Id` sent with `initialize` is ignored
//!   (a new session is issued).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::ProxyMode;
use super::access::{LocalAccess, check_access};
use super::bridge::{
    INVALID_REQUEST, MessageKind, PARSE_ERROR, SessionEvent, StdioBridge, StreamError, classify,
    has_progress_token, http_error_body, method,
};

/// The session header of the streamable HTTP transport.
pub const SESSION_HEADER: &str = "mcp-session-id";
/// The header of a client resuming an event stream.
pub const LAST_EVENT_ID_HEADER: &str = "last-event-id";

struct App {
    bridge: StdioBridge,
    mode: ProxyMode,
}

type Shared = State<Arc<App>>;

/// The proxy's routes for `mode` over `bridge`, with the `Host`/`Origin` checks ([`LocalAccess`]) and the body
/// limit applied.
pub fn router(
    bridge: StdioBridge,
    mode: ProxyMode,
    access: LocalAccess,
    body_limit: usize,
) -> Router {
    let app = Arc::new(App { bridge, mode });
    let routes = match mode {
        ProxyMode::StreamableHttp => {
            Router::new().route("/mcp", get(mcp_get).post(mcp_post).delete(mcp_delete))
        }
        ProxyMode::Sse => Router::new()
            .route("/sse", get(sse_get))
            .route("/messages", axum::routing::post(messages_post)),
    };
    routes
        .route("/health", get(health))
        .fallback(not_found)
        .with_state(app)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(
            Arc::new(access),
            check_access,
        ))
}

/// An HTTP-level error, answered with a JSON-RPC error body (`id: null`).
struct HttpError {
    status: StatusCode,
    code: i64,
    message: String,
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(http_error_body(self.code, &self.message)),
        )
            .into_response()
    }
}

fn error(status: StatusCode, code: i64, message: &str) -> Response {
    http_err(status, code, message).into_response()
}

fn http_err(status: StatusCode, code: i64, message: &str) -> HttpError {
    HttpError {
        status,
        code,
        message: message.to_owned(),
    }
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, INVALID_REQUEST, "Not Found")
}

async fn health(State(app): Shared) -> Response {
    let h = app.bridge.health();
    let body = json!({
        "status": if h.alive { "healthy" } else { "unhealthy" },
        "transport": "stdio",
        "proxy_mode": app.mode.as_str(),
        "version": env!("CARGO_PKG_VERSION"),
        "mcp": {"available": h.alive, "error": h.error, "initialized": h.initialized},
        "sessions": h.sessions,
    });
    let status = if h.alive {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

/// The body as one message or a batch; `Err` is the HTTP error.
fn parse_body(body: &[u8]) -> Result<(Vec<Value>, bool), HttpError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(msgs)) if msgs.is_empty() => Err(http_err(
            StatusCode::BAD_REQUEST,
            INVALID_REQUEST,
            "Invalid Request: empty batch",
        )),
        Ok(Value::Array(msgs)) => {
            if msgs.iter().any(|m| method(m) == Some("initialize")) {
                return Err(http_err(
                    StatusCode::BAD_REQUEST,
                    INVALID_REQUEST,
                    "Invalid Request: initialize must not be part of a batch",
                ));
            }
            Ok((msgs, true))
        }
        Ok(msg) => Ok((vec![msg], false)),
        Err(e) => Err(http_err(
            StatusCode::BAD_REQUEST,
            PARSE_ERROR,
            &format!("Parse error: {e}"),
        )),
    }
}

fn json_response(value: Value) -> Response {
    axum::Json(value).into_response()
}

fn accepts_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}

/// The session named by the `Mcp-Session-Id` header, used now; `Err`: 400 (missing) or 404 (unknown).
fn session_from_headers(app: &App, headers: &HeaderMap) -> Result<String, HttpError> {
    let Some(id) = headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()) else {
        return Err(http_err(
            StatusCode::BAD_REQUEST,
            INVALID_REQUEST,
            "Bad Request: Mcp-Session-Id header is required",
        ));
    };
    if !app.bridge.touch_session(id) {
        return Err(http_err(
            StatusCode::NOT_FOUND,
            INVALID_REQUEST,
            "Session not found",
        ));
    }
    Ok(id.to_owned())
}

fn event(msg: &Value) -> Result<Event, Infallible> {
    Ok(Event::default().event("message").data(msg.to_string()))
}

fn session_event(e: &SessionEvent) -> Result<Event, Infallible> {
    let event = Event::default().event("message");
    let event = match &e.id {
        Some(id) => event.id(id),
        None => event,
    };
    Ok(event.data(e.message.to_string()))
}

fn event_stream<S>(stream: S) -> Response
where
    S: Stream<Item = Result<Event, Infallible>> + Send + 'static,
{
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

async fn mcp_post(State(app): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let (msgs, batch) = match parse_body(&body) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    // initialize: no session needed, a new one on success.
    if !batch
        && method(&msgs[0]) == Some("initialize")
        && classify(&msgs[0]) == MessageKind::Request
    {
        let msg = msgs.into_iter().next().expect("one message");
        let resp = app
            .bridge
            .handle(None, msg, None)
            .await
            .expect("a request has a response");
        let mut response = json_response(resp.clone());
        if let Some(result) = resp.get("result") {
            let id = app.bridge.create_session();
            if let Some(v) = result.get("protocolVersion").and_then(Value::as_str) {
                app.bridge.set_session_version(&id, v);
            }
            response.headers_mut().insert(
                SESSION_HEADER,
                HeaderValue::from_str(&id).expect("hex is a header value"),
            );
        }
        return response;
    }
    let session = match session_from_headers(&app, &headers) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let requests = msgs
        .iter()
        .filter(|m| matches!(classify(m), MessageKind::Request | MessageKind::Invalid))
        .count();
    if !batch && requests == 1 && has_progress_token(&msgs[0]) && accepts_event_stream(&headers) {
        let msg = msgs.into_iter().next().expect("one message");
        return event_stream(request_with_progress(app.bridge.clone(), session, msg));
    }
    let answers = futures::future::join_all(
        msgs.into_iter()
            .map(|m| app.bridge.handle(Some(&session), m, None)),
    )
    .await;
    let mut answers: Vec<Value> = answers.into_iter().flatten().collect();
    if answers.is_empty() {
        StatusCode::ACCEPTED.into_response()
    } else if batch {
        json_response(Value::Array(answers))
    } else {
        json_response(answers.remove(0))
    }
}

/// The event stream answering one request: its progress notifications, then its response. Dropping the stream
/// (the client went away) drops the request.
fn request_with_progress(
    bridge: StdioBridge,
    session: String,
    msg: Value,
) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    let (tx, rx) = mpsc::channel::<Value>(bridge.config().stream_capacity.max(1));
    let fut: Pin<Box<dyn Future<Output = Option<Value>> + Send>> =
        Box::pin(async move { bridge.handle(Some(&session), msg, Some(tx)).await });
    futures::stream::unfold((Some(fut), rx), |(fut, mut rx)| async move {
        let mut fut = fut?;
        tokio::select! {
            biased;
            Some(progress) = rx.recv() => Some((event(&progress), (Some(fut), rx))),
            resp = &mut fut => resp.map(|r| (event(&r), (None, rx))),
        }
    })
}

async fn mcp_get(State(app): Shared, headers: HeaderMap) -> Response {
    let session = match session_from_headers(&app, &headers) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let last_event_id = match headers.get(LAST_EVENT_ID_HEADER).map(HeaderValue::to_str) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                INVALID_REQUEST,
                "Bad Request: malformed Last-Event-ID (not visible ASCII)",
            );
        }
    };
    match app.bridge.resume_stream(&session, last_event_id) {
        Ok(stream) => event_stream(stream.events().map(|e| session_event(&e))),
        Err(StreamError::SessionNotFound) => {
            error(StatusCode::NOT_FOUND, INVALID_REQUEST, "Session not found")
        }
        Err(StreamError::LastEventId(e)) => {
            tracing::debug!(session = %session, "stream not resumed: {e}");
            error(StatusCode::BAD_REQUEST, INVALID_REQUEST, &e.to_string())
        }
    }
}

async fn mcp_delete(State(app): Shared, headers: HeaderMap) -> Response {
    let session = match session_from_headers(&app, &headers) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    if app.bridge.remove_session(&session) {
        StatusCode::OK.into_response()
    } else {
        error(StatusCode::NOT_FOUND, INVALID_REQUEST, "Session not found")
    }
}

async fn sse_get(State(app): Shared) -> Response {
    let id = app.bridge.create_session();
    let Some(stream) = app.bridge.open_stream(&id, true) else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            INVALID_REQUEST,
            "session vanished",
        );
    };
    let endpoint = Event::default()
        .event("endpoint")
        .data(format!("/messages?session_id={id}"));
    event_stream(futures::stream::once(async { Ok(endpoint) }).chain(stream.map(|m| event(&m))))
}

#[derive(Deserialize)]
struct MessagesQuery {
    session_id: Option<String>,
}

async fn messages_post(
    State(app): Shared,
    Query(q): Query<MessagesQuery>,
    body: Bytes,
) -> Response {
    let Some(session) = q.session_id.filter(|s| !s.is_empty()) else {
        return error(
            StatusCode::BAD_REQUEST,
            INVALID_REQUEST,
            "Bad Request: session_id is required",
        );
    };
    if !app.bridge.touch_session(&session) {
        return error(StatusCode::NOT_FOUND, INVALID_REQUEST, "Session not found");
    }
    let (msgs, batch) = match parse_body(&body) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    let bridge = app.bridge.clone();
    tokio::spawn(async move {
        let answers = futures::future::join_all(
            msgs.into_iter()
                .map(|m| bridge.handle(Some(&session), m, None)),
        )
        .await;
        let mut answers: Vec<Value> = answers.into_iter().flatten().collect();
        let out = match (answers.len(), batch) {
            (0, _) => return,
            (_, true) => Value::Array(answers),
            (_, false) => answers.remove(0),
        };
        if !bridge.send_to_session(&session, out).await {
            tracing::debug!(session = %session, "response dropped: the session's stream is closed");
        }
    });
    (StatusCode::ACCEPTED, "Accepted").into_response()
}
