//! The transparent reverse proxy: for MCP servers that speak `sse` or `streamable-http` themselves (a
//! container's published port) and for remote MCP server URLs.
//!
//! # Path mapping
//!
//! The target URL names the upstream MCP endpoint (`http://127.0.0.1:32768`, `https://remote.example/some/path/mcp`).
//! Its last path segment is served at the proxy's root and everything before it is the upstream **prefix**:
//!
//! | target | client URL | proxy path → upstream path |
//! |---|---|---|
//! | `https://remote.example/some/path/mcp` | `http://ADDR/mcp` | `/X` → `/some/path/X` |
//! | `https://remote.example/sse` | `http://ADDR/sse` | `/X` → `/X` |
//! | `http://127.0.0.1:32768` (no path) | `http://ADDR/mcp` or `/sse` (by mode) | `/X` → `/X` |
//!
//! So a client URL ends in `/mcp` or `/sse` whenever the upstream's does, and the SSE transport's
//! `/messages` (a sibling of `/sse`) maps to the upstream's sibling. The `endpoint` event of an SSE stream is
//! rewritten into the proxy's path space (see [`super::endpoint`]). The target's query string (an API key, say)
//! is added by the proxy to every request and stays out of the client URL. Paths with `.` or `..` segments
//! are refused (400): a client cannot step out of the prefix.
//!
//! # Forwarding
//!
//! Every method, path, query and header is forwarded, except hop-by-hop headers (`Connection` and the headers
//! it lists, `Keep-Alive`, `Proxy-*`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`: WebSocket upgrades
//! are not supported), `Host` (set for the upstream) and `Expect` (handled on the client's hop); `X-Forwarded-For` (appended), `X-Forwarded-Proto`
//! and `X-Forwarded-Host` are added. Both bodies stream without buffering. Redirects are passed to the client,
//! not followed. Connecting times out after [`ProxyConfig::connect_timeout`](super::ProxyConfig); requests and
//! streams themselves have no time limit.
//!
//! # Answered by the proxy
//!
//! - `GET /health` (not forwarded): `{"status": "healthy"|"unhealthy", "transport": "transparent",
//!   "proxy_mode", "version", "mcp": {"available", "status_code", "response_time_ms", "error"}}`, 200 when
//!   the upstream answers an `OPTIONS` probe with a status below 500 within [`HEALTH_TIMEOUT`], 503 otherwise.
//! - A `Host` or `Origin` that is not allowed ([`super::access`]) → 403; a body over the limit → 413 (by `Content-Length` before anything
//!   is sent upstream, or when a streamed body crosses it); upstream unreachable → 502, connect timeout → 504.
//!   These errors have a JSON-RPC error body (`id: null`).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::ProxyMode;
use super::access::{LocalAccess, check_access};
use super::bridge::{BACKEND_UNAVAILABLE, INVALID_REQUEST, http_error_body};
use super::endpoint::{EndpointMap, rewrite_stream};

/// How long `/health` waits for the upstream.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// Hop-by-hop headers, never forwarded (RFC 9110 §7.6.1, plus `Proxy-Connection`).
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// How the proxy's paths map onto the target's (see the [module documentation](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathMapping {
    /// The upstream path prefix: `""` or `/a/b` (no trailing `/`).
    pub prefix: String,
    /// The path clients use: `/mcp`, `/sse`, or the target's last segment.
    pub client_path: String,
}

impl PathMapping {
    /// The mapping of `target` (for a target without a path, `mode` gives the client path).
    pub fn new(target: &Url, mode: ProxyMode) -> Self {
        let path = target.path();
        let trimmed = path.trim_end_matches('/');
        match trimmed.rfind('/') {
            Some(i) if !trimmed.is_empty() => Self {
                prefix: trimmed[..i].to_owned(),
                client_path: path[i..].to_owned(),
            },
            _ => Self {
                prefix: String::new(),
                client_path: mode.client_path().to_owned(),
            },
        }
    }
}

/// Checks that `target` can be proxied to: `http` or `https`, with a host.
pub fn check_target(target: &Url) -> io::Result<()> {
    let invalid = |m: String| io::Error::new(io::ErrorKind::InvalidInput, m);
    if !matches!(target.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "target URL '{}': the scheme must be http or https, not '{}'",
            redacted(target),
            target.scheme()
        )));
    }
    if target.host_str().is_none_or(str::is_empty) {
        return Err(invalid(format!(
            "target URL '{}': a host is required",
            redacted(target)
        )));
    }
    if !target.username().is_empty() || target.password().is_some() {
        return Err(invalid(format!(
            "target URL '{}': credentials in the URL are not supported",
            redacted(target)
        )));
    }
    Ok(())
}

/// `scheme://host[:port]/path`: the URL without credentials, query or fragment (for messages).
pub fn redacted(url: &Url) -> String {
    format!("{}{}", url.origin().ascii_serialization(), url.path())
}

/// Settings of [`router`].
#[derive(Debug, Clone)]
pub struct TransparentSettings {
    pub target: Url,
    pub mode: ProxyMode,
    pub access: LocalAccess,
    pub body_limit: usize,
    pub connect_timeout: Duration,
    /// Cancelled at shutdown: ends the response streams in flight.
    pub shutdown: CancellationToken,
}

struct App {
    client: reqwest::Client,
    target: Url,
    mapping: PathMapping,
    mode: ProxyMode,
    body_limit: usize,
    endpoint_map: EndpointMap,
    shutdown: CancellationToken,
}

type Shared = State<Arc<App>>;

/// The transparent proxy's routes. Needs [`ConnectInfo<SocketAddr>`] (for `X-Forwarded-For`): serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()`.
pub fn router(settings: TransparentSettings) -> io::Result<Router> {
    let target = settings.target;
    check_target(&target)?;
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(settings.connect_timeout)
        .tcp_keepalive(Duration::from_secs(30));
    if is_loopback(&target) {
        builder = builder.no_proxy();
    }
    let client = builder
        .build()
        .map_err(|e| io::Error::other(format!("building the HTTP client: {e}")))?;
    let mapping = PathMapping::new(&target, settings.mode);
    let endpoint_map = EndpointMap {
        origin: target.origin().ascii_serialization(),
        prefix: mapping.prefix.clone(),
        target_query: target
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    let app = Arc::new(App {
        client,
        target,
        mapping,
        mode: settings.mode,
        body_limit: settings.body_limit,
        endpoint_map,
        shutdown: settings.shutdown,
    });
    Ok(Router::new()
        .route("/health", get(health))
        .fallback(forward)
        .with_state(app)
        .layer(middleware::from_fn_with_state(
            Arc::new(settings.access),
            check_access,
        )))
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn error(status: StatusCode, code: i64, message: &str) -> Response {
    (status, axum::Json(http_error_body(code, message))).into_response()
}

impl App {
    fn upstream_url(&self, path: &str, query: Option<&str>) -> Url {
        let mut url = self.target.clone();
        url.set_path(&format!("{}{}", self.mapping.prefix, path));
        let query: Vec<&str> = [self.target.query(), query]
            .into_iter()
            .flatten()
            .filter(|q| !q.is_empty())
            .collect();
        url.set_query((!query.is_empty()).then(|| query.join("&")).as_deref());
        url.set_fragment(None);
        url
    }
}

/// Whether a path has a `.` or `..` segment (also percent-encoded).
fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|s| {
        let s = s.to_ascii_lowercase().replace("%2e", ".");
        s == "." || s == ".."
    })
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

fn upstream_headers(incoming: &HeaderMap, peer: IpAddr) -> HeaderMap {
    let mut headers = incoming.clone();
    strip_hop_by_hop(&mut headers);
    headers.remove(header::HOST);
    // `100-continue` is handled on the client's hop (the body is read when it is forwarded).
    headers.remove(header::EXPECT);
    let forwarded_for = match incoming
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
    {
        Some(previous) => format!("{previous}, {peer}"),
        None => peer.to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&forwarded_for) {
        headers.insert("x-forwarded-for", v);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    if let Some(host) = incoming.get(header::HOST) {
        headers.insert("x-forwarded-host", host.clone());
    }
    headers
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The request body as a stream that fails (and sets `exceeded`) once more than `limit` bytes went through.
fn limited(
    body: Body,
    limit: usize,
    exceeded: Arc<AtomicBool>,
) -> impl Stream<Item = Result<Bytes, io::Error>> + Send + 'static {
    let mut seen = 0usize;
    body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(io::Error::other)?;
        seen = seen.saturating_add(chunk.len());
        if seen > limit {
            exceeded.store(true, Ordering::SeqCst);
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request body over the limit",
            ));
        }
        Ok(chunk)
    })
}

/// An error and its sources, without the URL (which may carry the target's query).
fn describe(e: &reqwest::Error) -> String {
    let mut message = e.to_string();
    if let Some(url) = e.url() {
        message = message.replace(url.as_str(), &redacted(url));
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

fn too_large(limit: usize) -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        INVALID_REQUEST,
        &format!("Payload Too Large: the request body limit is {limit} bytes"),
    )
}

async fn forward(
    State(app): Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    if has_dot_segment(path) {
        return error(
            StatusCode::BAD_REQUEST,
            INVALID_REQUEST,
            "Bad Request: '.' and '..' path segments are not allowed",
        );
    }
    if content_length(&parts.headers).is_some_and(|n| n > app.body_limit as u64) {
        return too_large(app.body_limit);
    }
    let url = app.upstream_url(path, parts.uri.query());
    let mut request = app
        .client
        .request(parts.method.clone(), url)
        .headers(upstream_headers(&parts.headers, peer.ip()));
    let exceeded = Arc::new(AtomicBool::new(false));
    if !body.is_end_stream() {
        let stream = limited(body, app.body_limit, exceeded.clone());
        request = request.body(reqwest::Body::wrap_stream(stream));
    }
    match request.send().await {
        Ok(upstream) => respond(&app, &parts.method, upstream),
        Err(_) if exceeded.load(Ordering::SeqCst) => too_large(app.body_limit),
        Err(e) => {
            let target = redacted(&app.target);
            tracing::warn!(upstream = %target, "proxying failed: {}", describe(&e));
            let (status, what) = if e.is_timeout() {
                (StatusCode::GATEWAY_TIMEOUT, "Gateway Timeout")
            } else {
                (StatusCode::BAD_GATEWAY, "Bad Gateway")
            };
            error(
                status,
                BACKEND_UNAVAILABLE,
                &format!("{what}: upstream {target}: {}", describe(&e)),
            )
        }
    }
}

fn respond(app: &App, method: &Method, upstream: reqwest::Response) -> Response {
    let status = upstream.status();
    let mut headers = upstream.headers().clone();
    strip_hop_by_hop(&mut headers);
    let event_stream = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
    let cancelled = app.shutdown.clone().cancelled_owned();
    let stream = upstream.bytes_stream().take_until(cancelled);
    let body = if event_stream && app.mode == ProxyMode::Sse && method == Method::GET {
        headers.remove(header::CONTENT_LENGTH);
        Body::from_stream(rewrite_stream(stream, app.endpoint_map.clone()))
    } else {
        Body::from_stream(stream)
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

async fn health(State(app): Shared) -> Response {
    let started = Instant::now();
    let probe = app
        .client
        .request(Method::OPTIONS, app.target.clone())
        .timeout(HEALTH_TIMEOUT)
        .send()
        .await;
    let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (available, status_code, err) = match probe {
        Ok(r) => {
            let code = r.status().as_u16();
            let ok = code < 500;
            let err = (!ok).then(|| format!("the upstream answered {}", r.status()));
            (ok, Some(code), err)
        }
        Err(e) => (false, None, Some(describe(&e))),
    };
    let body = json!({
        "status": if available { "healthy" } else { "unhealthy" },
        "transport": "transparent",
        "proxy_mode": app.mode.as_str(),
        "version": env!("CARGO_PKG_VERSION"),
        "mcp": {
            "available": available,
            "status_code": status_code,
            "response_time_ms": elapsed,
            "error": err,
        },
    });
    let status = if available {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(target: &str, mode: ProxyMode) -> (String, String) {
        let m = PathMapping::new(&Url::parse(target).unwrap(), mode);
        (m.prefix, m.client_path)
    }

    #[test]
    fn maps_the_last_segment_to_the_root() {
        let s = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        let sse = ProxyMode::Sse;
        let http = ProxyMode::StreamableHttp;
        assert_eq!(
            mapping("https://r.example/some/path/mcp", sse),
            s("/some/path", "/mcp")
        );
        assert_eq!(mapping("https://r.example/sse", http), s("", "/sse"));
        assert_eq!(mapping("http://127.0.0.1:1", http), s("", "/mcp"));
        assert_eq!(mapping("http://127.0.0.1:1/", sse), s("", "/sse"));
        assert_eq!(mapping("https://r.example/a/mcp/", http), s("/a", "/mcp/"));
    }

    #[test]
    fn dot_segments_are_detected() {
        assert!(has_dot_segment("/../x"));
        assert!(has_dot_segment("/a/%2E%2e/x"));
        assert!(has_dot_segment("/a/./x"));
        assert!(!has_dot_segment("/a/.well-known/x"));
    }

    #[test]
    fn targets_are_checked() {
        let check = |u: &str| check_target(&Url::parse(u).unwrap());
        assert!(check("https://r.example/mcp").is_ok());
        let e = check("ftp://r.example/").unwrap_err().to_string();
        assert!(e.contains("scheme must be http or https"), "{e}");
        let e = check("https://u:p@r.example/").unwrap_err().to_string();
        assert!(e.contains("credentials"), "{e}");
        assert!(!e.contains("u:p"), "{e}");
    }
}
