//! The transparent reverse proxy, end to end, against a real HTTP upstream: a small axum server in the test,
//! and the stdio proxy (over an in-process stdio MCP server) as a real MCP-shaped upstream.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::{Value, json};
use thv_proxy::{
    BridgeConfig, ProxyConfig, ProxyMode, RunningProxy, StdioBridge, serve, serve_transparent,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Notify, mpsc};
use url::Url;

const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------------------
// The upstream.
// ---------------------------------------------------------------------------------------------------------

/// Controls shared with the upstream's handlers.
struct Upstream {
    addr: SocketAddr,
    /// Lets the streaming handlers finish.
    release: Notify,
    /// Told when `/stream-request` got its first body chunk.
    first_chunk: mpsc::UnboundedSender<()>,
    /// Requests that reached the upstream.
    hits: AtomicUsize,
}

type Up = State<Arc<Upstream>>;

/// Any other request: what the upstream saw, as JSON; answers with an `Mcp-Session-Id` and a custom header.
async fn echo_info(State(up): Up, req: Request) -> Response {
    up.hits.fetch_add(1, Ordering::SeqCst);
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let headers: serde_json::Map<String, Value> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or("?"))))
        .collect();
    let info = json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "body_len": body.len(),
    });
    (
        [("mcp-session-id", "up-session"), ("x-upstream", "yes")],
        axum::Json(info),
    )
        .into_response()
}

/// Echoes the body back, streaming.
async fn echo_body(State(up): Up, req: Request) -> Response {
    up.hits.fetch_add(1, Ordering::SeqCst);
    Response::new(Body::new(req.into_body()))
}

/// 20 MiB of a known pattern.
async fn big() -> Response {
    let chunks = futures::stream::iter(0..20u8)
        .map(|i| Ok::<_, std::io::Error>(Bytes::from(vec![i; 1 << 20])));
    Response::new(Body::from_stream(chunks))
}

/// Counts the request body, telling the test when the first chunk arrived.
async fn stream_request(State(up): Up, req: Request) -> String {
    let mut body = req.into_body().into_data_stream();
    let mut total = 0;
    let mut first = true;
    while let Some(chunk) = body.next().await {
        total += chunk.unwrap().len();
        if first {
            first = false;
            let _ = up.first_chunk.send(());
        }
    }
    total.to_string()
}

/// An event stream: `first` event, then (once released) a `message` event, then the end.
fn two_event_stream(up: Arc<Upstream>, first: String) -> Response {
    let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(first)) })
        .chain(futures::stream::once(async move {
            up.release.notified().await;
            Ok(Bytes::from_static(b"event: message\ndata: {\"n\":2}\n\n"))
        }));
    (
        [("content-type", "text/event-stream")],
        Body::from_stream(stream),
    )
        .into_response()
}

/// The SSE transport under `/some/path`: the endpoint event is a path, or with `?abs=1` an absolute URL.
async fn sse(State(up): Up, req: Request) -> Response {
    let endpoint = if req.uri().query() == Some("abs=1") {
        format!("http://{}/some/path/messages?session_id=s1", up.addr)
    } else {
        "/some/path/messages?session_id=s1".to_owned()
    };
    two_event_stream(
        up,
        format!(": hello\n\nevent: endpoint\ndata: {endpoint}\n\n"),
    )
}

/// A streamable-HTTP-style POST answered with an event stream.
async fn mcp_stream(State(up): Up) -> Response {
    two_event_stream(up, "event: message\ndata: {\"n\":1}\n\n".to_owned())
}

async fn start_upstream() -> (Arc<Upstream>, mpsc::UnboundedReceiver<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let up = Arc::new(Upstream {
        addr: listener.local_addr().unwrap(),
        release: Notify::new(),
        first_chunk: tx,
        hits: AtomicUsize::new(0),
    });
    let app = Router::new()
        .route("/some/path/sse", get(sse))
        .route("/some/path/mcp-stream", post(mcp_stream))
        .route("/echo", post(echo_body))
        .route("/big", get(big))
        .route("/stream-request", post(stream_request))
        .route("/health", get(|| async { "the upstream's own health" }))
        .fallback(echo_info)
        .with_state(up.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (up, rx)
}

async fn transparent(target: &str, mode: ProxyMode, config: ProxyConfig) -> RunningProxy {
    serve_transparent(Url::parse(target).unwrap(), ProxyConfig { mode, ..config })
        .await
        .unwrap()
}

fn base(proxy: &RunningProxy) -> String {
    format!("http://{}", proxy.addr)
}

/// Reads `stream` until `buf` holds a complete event (ending in a blank line), and returns that event.
async fn next_event(
    stream: &mut BoxStream<'static, reqwest::Result<Bytes>>,
    buf: &mut String,
) -> String {
    loop {
        if let Some(i) = buf.find("\n\n") {
            let event = buf[..i + 2].to_owned();
            buf.drain(..i + 2);
            return event;
        }
        let chunk = tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("an event in time")
            .expect("the stream is still open")
            .unwrap();
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

// ---------------------------------------------------------------------------------------------------------
// Tests against the axum upstream.
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn forwards_method_path_query_and_headers_both_ways() {
    let (up, _) = start_upstream().await;
    let target = format!("http://{}/some/path/mcp?key=abc", up.addr);
    let proxy = transparent(&target, ProxyMode::StreamableHttp, ProxyConfig::default()).await;
    assert_eq!(proxy.url(), format!("http://{}/mcp", proxy.addr));
    assert_eq!(proxy.target().unwrap().as_str(), target);
    assert!(proxy.bridge().is_none());

    let resp = reqwest::Client::new()
        .post(format!("{}?x=1", proxy.url()))
        .header("mcp-session-id", "client-session")
        .header("authorization", "Bearer t0k")
        .header("x-custom", "v")
        .header("connection", "keep-alive, x-drop-me")
        .header("x-drop-me", "1")
        .header("keep-alive", "timeout=5")
        .header("x-forwarded-for", "10.0.0.1")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["mcp-session-id"], "up-session");
    assert_eq!(resp.headers()["x-upstream"], "yes");
    let seen: Value = resp.json().await.unwrap();
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["path"], "/some/path/mcp");
    assert_eq!(seen["query"], "key=abc&x=1");
    assert_eq!(seen["body_len"], 40);
    let h = &seen["headers"];
    assert_eq!(h["mcp-session-id"], "client-session");
    assert_eq!(h["authorization"], "Bearer t0k");
    assert_eq!(h["x-custom"], "v");
    assert_eq!(h["host"], up.addr.to_string());
    assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], proxy.addr.to_string());
    for hop in ["x-drop-me", "keep-alive", "connection"] {
        assert!(h.get(hop).is_none(), "{hop} was forwarded: {h}");
    }

    // Other methods and paths go through too (paths under the prefix).
    let resp = reqwest::Client::new()
        .delete(format!("{}/other?y=2", base(&proxy)))
        .send()
        .await
        .unwrap();
    let seen: Value = resp.json().await.unwrap();
    assert_eq!(seen["method"], "DELETE");
    assert_eq!(seen["path"], "/some/path/other");
    assert_eq!(seen["query"], "key=abc&y=2");
    proxy.shutdown().await;
}

#[tokio::test]
async fn sse_flows_event_by_event_and_the_endpoint_is_rewritten() {
    let (up, _) = start_upstream().await;
    let target = format!("http://{}/some/path/sse", up.addr);
    let proxy = transparent(&target, ProxyMode::Sse, ProxyConfig::default()).await;
    assert_eq!(proxy.url(), format!("http://{}/sse", proxy.addr));

    for query in ["", "?abs=1"] {
        let resp = reqwest::get(format!("{}{query}", proxy.url()))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        let mut stream = resp.bytes_stream().boxed();
        let mut buf = String::new();
        assert_eq!(next_event(&mut stream, &mut buf).await, ": hello\n\n");
        // The upstream has not finished its response: the event came through on its own.
        assert_eq!(
            next_event(&mut stream, &mut buf).await,
            "event: endpoint\ndata: /messages?session_id=s1\n\n"
        );

        // The rewritten endpoint reaches the upstream's.
        let seen: Value = reqwest::Client::new()
            .post(format!("{}/messages?session_id=s1", base(&proxy)))
            .body("{}")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(seen["path"], "/some/path/messages");
        assert_eq!(seen["query"], "session_id=s1");

        up.release.notify_one();
        assert_eq!(
            next_event(&mut stream, &mut buf).await,
            "event: message\ndata: {\"n\":2}\n\n"
        );
        assert!(
            tokio::time::timeout(WAIT, stream.next())
                .await
                .unwrap()
                .is_none()
        );
    }
    proxy.shutdown().await;
}

#[tokio::test]
async fn streamable_event_streams_pass_through_incrementally() {
    let (up, _) = start_upstream().await;
    let target = format!("http://{}/some/path/mcp", up.addr);
    let proxy = transparent(&target, ProxyMode::StreamableHttp, ProxyConfig::default()).await;
    let resp = reqwest::Client::new()
        .post(format!("{}/mcp-stream", base(&proxy)))
        .header("accept", "application/json, text/event-stream")
        .body("{}")
        .send()
        .await
        .unwrap();
    let mut stream = resp.bytes_stream().boxed();
    let mut buf = String::new();
    assert_eq!(
        next_event(&mut stream, &mut buf).await,
        "event: message\ndata: {\"n\":1}\n\n"
    );
    up.release.notify_one();
    assert_eq!(
        next_event(&mut stream, &mut buf).await,
        "event: message\ndata: {\"n\":2}\n\n"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn request_bodies_stream_to_the_upstream() {
    let (up, mut first_chunk) = start_upstream().await;
    let proxy = transparent(
        &format!("http://{}", up.addr),
        ProxyMode::StreamableHttp,
        ProxyConfig::default(),
    )
    .await;
    let (tx, rx) = mpsc::unbounded_channel::<Result<Bytes, std::io::Error>>();
    tx.send(Ok(Bytes::from_static(b"first chunk"))).unwrap();
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let request = tokio::spawn(
        reqwest::Client::new()
            .post(format!("{}/stream-request", base(&proxy)))
            .body(body)
            .send(),
    );
    // The upstream sees the first chunk while the client has not finished its body.
    tokio::time::timeout(WAIT, first_chunk.recv())
        .await
        .expect("the first chunk reaches the upstream before the body ends")
        .unwrap();
    tx.send(Ok(Bytes::from_static(b"second"))).unwrap();
    drop(tx);
    let resp = request.await.unwrap().unwrap();
    assert_eq!(resp.text().await.unwrap(), "17");
    proxy.shutdown().await;
}

/// Sends `GET path` as written and returns the status line.
async fn raw_get(addr: SocketAddr, path: &str) -> String {
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut status = String::new();
    BufReader::new(conn).read_line(&mut status).await.unwrap();
    status
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: mpsc::UnboundedReceiver<T>,
) -> BoxStream<'static, T> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

#[tokio::test]
async fn large_bodies_go_through_both_ways() {
    let (up, _) = start_upstream().await;
    let proxy = transparent(
        &format!("http://{}", up.addr),
        ProxyMode::StreamableHttp,
        ProxyConfig::default(),
    )
    .await;
    let payload: Vec<u8> = (0..6 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let resp = reqwest::Client::new()
        .post(format!("{}/echo", base(&proxy)))
        .body(payload.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().await.unwrap() == payload);

    let resp = reqwest::get(format!("{}/big", base(&proxy))).await.unwrap();
    let body = resp.bytes().await.unwrap();
    assert_eq!(body.len(), 20 << 20);
    assert!(
        body.chunks(1 << 20)
            .enumerate()
            .all(|(i, c)| c.iter().all(|&b| b as usize == i))
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let (up, _) = start_upstream().await;
    let config = ProxyConfig {
        body_limit: 1024,
        ..Default::default()
    };
    let proxy = transparent(
        &format!("http://{}", up.addr),
        ProxyMode::StreamableHttp,
        config,
    )
    .await;
    let client = reqwest::Client::new();
    let url = format!("{}/echo", base(&proxy));

    let ok = client
        .post(&url)
        .body(vec![b'a'; 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.bytes().await.unwrap().len(), 1024);
    let hits = up.hits.load(Ordering::SeqCst);

    // Declared by Content-Length: refused before the upstream is contacted.
    let resp = client
        .post(&url)
        .body(vec![b'a'; 1025])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1024 bytes"),
        "{body}"
    );
    assert_eq!(up.hits.load(Ordering::SeqCst), hits);

    // Streamed without a length: refused when it crosses the limit.
    let chunks = futures::stream::iter(
        (0..4).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'a'; 512]))),
    );
    let resp = client
        .post(format!("{}/stream-request", base(&proxy)))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    proxy.shutdown().await;
}

#[tokio::test]
async fn foreign_origins_and_hosts_are_refused() {
    let (up, _) = start_upstream().await;
    let proxy = transparent(
        &format!("http://{}/mcp", up.addr),
        ProxyMode::StreamableHttp,
        ProxyConfig::default(),
    )
    .await;
    let client = reqwest::Client::new();
    let resp = client
        .post(proxy.url())
        .header("origin", "http://evil.example")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32600);
    assert_eq!(up.hits.load(Ordering::SeqCst), 0);

    for origin in [
        Some(format!("http://localhost:{}", proxy.addr.port())),
        None,
    ] {
        let mut req = client.post(proxy.url()).body("{}");
        if let Some(o) = &origin {
            req = req.header("origin", o);
        }
        assert_eq!(req.send().await.unwrap().status(), 200, "{origin:?}");
    }
    // DNS rebinding: a page of another name resolved to 127.0.0.1 sends its own name as Host.
    for host in ["attacker.example", "localhost.attacker.example:1"] {
        let resp = client
            .post(proxy.url())
            .header("host", format!("{host}:{}", proxy.addr.port()))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{host}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["message"], "Forbidden: Host not allowed");
    }
    // Dot segments cannot step out of the prefix (sent raw: URL parsers would remove them).
    for path in ["/a/../b", "/a/%2e%2E/b", "/./mcp"] {
        let status = raw_get(proxy.addr, path).await;
        assert!(status.starts_with("HTTP/1.1 400"), "{path}: {status}");
    }
    assert_eq!(up.hits.load(Ordering::SeqCst), 2);
    proxy.shutdown().await;
}

#[tokio::test]
async fn health_is_answered_by_the_proxy() {
    let (up, _) = start_upstream().await;
    let proxy = transparent(
        &format!("http://{}/mcp", up.addr),
        ProxyMode::StreamableHttp,
        ProxyConfig::default(),
    )
    .await;
    let resp = reqwest::get(format!("{}/health", base(&proxy)))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let h: Value = resp.json().await.unwrap();
    assert_eq!(h["status"], "healthy");
    assert_eq!(h["transport"], "transparent");
    assert_eq!(h["proxy_mode"], "streamable-http");
    assert_eq!(h["mcp"]["available"], true);
    assert!(h["mcp"]["status_code"].is_u64());
    proxy.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let proxy = transparent(
        &format!("http://127.0.0.1:{port}/mcp?key=secret"),
        ProxyMode::StreamableHttp,
        ProxyConfig::default(),
    )
    .await;
    let resp = reqwest::Client::new()
        .post(proxy.url())
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["error"]["code"], -32000);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Bad Gateway: upstream http://127.0.0.1:"),
        "{message}"
    );
    assert!(!message.contains("secret"), "{message}");

    let resp = reqwest::get(format!("{}/health", base(&proxy)))
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let h: Value = resp.json().await.unwrap();
    assert_eq!(h["status"], "unhealthy");
    assert_eq!(h["mcp"]["available"], false);
    assert!(h["mcp"]["error"].is_string());
    proxy.shutdown().await;
}

#[tokio::test]
async fn invalid_targets_are_refused() {
    let err = serve_transparent(
        Url::parse("ftp://x.example/").unwrap(),
        ProxyConfig::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(
        err.to_string().contains("scheme must be http or https"),
        "{err}"
    );
}

#[tokio::test]
async fn shutdown_ends_open_streams() {
    let (up, _) = start_upstream().await;
    let target = format!("http://{}/some/path/sse", up.addr);
    let proxy = transparent(&target, ProxyMode::Sse, ProxyConfig::default()).await;
    let resp = reqwest::get(proxy.url()).await.unwrap();
    let mut stream = resp.bytes_stream().boxed();
    let mut buf = String::new();
    next_event(&mut stream, &mut buf).await;
    let started = std::time::Instant::now();
    proxy.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let rest = tokio::time::timeout(WAIT, async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
    assert!(rest.is_ok(), "the stream ended");
}

// ---------------------------------------------------------------------------------------------------------
// The stdio proxy as the upstream.
// ---------------------------------------------------------------------------------------------------------

/// A stdio MCP server in-process: answers `initialize` and `tools/call` (echoing `arguments.text`).
fn stdio_server() -> StdioBridge {
    let (proxy_side, server_side) = tokio::io::duplex(1 << 16);
    let (pr, pw) = tokio::io::split(proxy_side);
    let (sr, mut sw) = tokio::io::split(server_side);
    tokio::spawn(async move {
        let mut lines = BufReader::new(sr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let msg: Value = serde_json::from_str(&line).unwrap();
            let Some(id) = msg.get("id").cloned() else {
                continue;
            };
            let result = match msg["method"].as_str() {
                Some("initialize") => json!({"protocolVersion": "2025-03-26", "capabilities": {},
                                             "serverInfo": {"name": "fake", "version": "1"}}),
                _ => {
                    json!({"content": [{"type": "text", "text": msg["params"]["arguments"]["text"]}]})
                }
            };
            let mut out =
                serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": id, "result": result})).unwrap();
            out.push(b'\n');
            sw.write_all(&out).await.unwrap();
        }
    });
    StdioBridge::new(pw, pr, BridgeConfig::default())
}

fn call(id: u64, text: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": "echo", "arguments": {"text": text}}})
}

#[tokio::test]
async fn streamable_http_through_both_proxies() {
    let inner = serve(stdio_server(), ProxyConfig::default()).await.unwrap();
    let outer = transparent(
        &inner.url(),
        ProxyMode::StreamableHttp,
        ProxyConfig::default(),
    )
    .await;
    assert_eq!(outer.url(), format!("http://{}/mcp", outer.addr));
    let client = reqwest::Client::new();
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                      "params": {"protocolVersion": "2025-03-26", "capabilities": {},
                                 "clientInfo": {"name": "t", "version": "1"}}});
    let resp = client.post(outer.url()).json(&init).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let session = resp.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let answer: Value = client
        .post(outer.url())
        .header("mcp-session-id", &session)
        .json(&call(1, "hi"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["result"]["content"][0]["text"], "hi");
    // The inner proxy's session check answers through the outer one.
    let resp = client
        .post(outer.url())
        .json(&call(2, "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    outer.shutdown().await;
    inner.shutdown().await;
}

#[tokio::test]
async fn sse_through_both_proxies() {
    let mode = ProxyMode::Sse;
    let inner = serve(
        stdio_server(),
        ProxyConfig {
            mode,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let outer = transparent(&inner.url(), mode, ProxyConfig::default()).await;
    let resp = reqwest::get(outer.url()).await.unwrap();
    let mut stream = resp.bytes_stream().boxed();
    let mut buf = String::new();
    let endpoint = next_event(&mut stream, &mut buf).await;
    let path = endpoint
        .strip_prefix("event: endpoint\ndata: ")
        .and_then(|e| e.strip_suffix("\n\n"))
        .unwrap_or_else(|| panic!("an endpoint event: {endpoint:?}"))
        .to_owned();
    assert!(path.starts_with("/messages?session_id="), "{path}");
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", base(&outer)))
        .json(&call(7, "over sse"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let event = next_event(&mut stream, &mut buf).await;
    let data: Value = serde_json::from_str(
        event
            .strip_prefix("event: message\ndata: ")
            .unwrap()
            .trim_end(),
    )
    .unwrap();
    assert_eq!(data["id"], 7);
    assert_eq!(data["result"]["content"][0]["text"], "over sse");
    outer.shutdown().await;
    inner.shutdown().await;
}
