//! The stdio proxy, end to end over HTTP, against a fake stdio MCP server running in-process (over
//! `tokio::io::duplex`) and against a real child process (`python3`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::{Value, json};
use thv_proxy::{BridgeConfig, ProxyConfig, ProxyMode, RunningProxy, StdioBridge, serve};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

// ---------------------------------------------------------------------------------------------------------
// The fake stdio MCP server.
// ---------------------------------------------------------------------------------------------------------

/// Counters and controls of a running fake server.
struct Fake {
    initializes: Arc<AtomicUsize>,
    initialized_notifications: Arc<AtomicUsize>,
    /// Messages the fake sends on its own (notifications).
    out: mpsc::UnboundedSender<Value>,
    exit: Option<oneshot::Sender<()>>,
}

impl Fake {
    fn notify(&self, method: &str, params: Value) {
        self.out
            .send(json!({"jsonrpc": "2.0", "method": method, "params": params}))
            .unwrap();
    }

    /// Makes the fake exit: its stdout ends.
    fn exit(&mut self) {
        let _ = self.exit.take().unwrap().send(());
    }
}

fn text_result(text: impl Into<String>) -> Value {
    json!({"content": [{"type": "text", "text": text.into()}]})
}

/// Starts the fake server and a bridge over it. Tools:
/// - `echo {text, delay_ms?, progress?}`: `progress` progress notifications (message = text) first, then
///   waits `delay_ms`, then answers `text`;
/// - `ask_client`: sends the proxy a `sampling/createMessage` request and answers with the error code it got;
/// - `hang`: never answers.
fn fake_bridge(config: BridgeConfig) -> (StdioBridge, Fake) {
    let (proxy_side, server_side) = tokio::io::duplex(1 << 20);
    let (pr, pw) = tokio::io::split(proxy_side);
    let bridge = StdioBridge::new(pw, pr, config);

    let (sr, mut sw) = tokio::io::split(server_side);
    let (out, mut out_rx) = mpsc::unbounded_channel::<Value>();
    let (exit_tx, mut exit_rx) = oneshot::channel::<()>();
    let (stop_reader_tx, mut stop_reader) = oneshot::channel::<()>();
    let initializes = Arc::new(AtomicUsize::new(0));
    let initialized_notifications = Arc::new(AtomicUsize::new(0));

    // Writer: the fake's stdout. On exit, the server's both halves are dropped.
    tokio::spawn(async move {
        loop {
            tokio::select! {
                m = out_rx.recv() => {
                    let Some(m) = m else { break };
                    let mut line = serde_json::to_vec(&m).unwrap();
                    line.push(b'\n');
                    if sw.write_all(&line).await.is_err() {
                        break;
                    }
                }
                _ = &mut exit_rx => break,
            }
        }
        let _ = stop_reader_tx.send(());
    });

    let (inits, inited, tx) = (
        initializes.clone(),
        initialized_notifications.clone(),
        out.clone(),
    );
    tokio::spawn(async move {
        let mut lines = BufReader::new(sr).lines();
        let mut waiting: HashMap<String, Value> = HashMap::new();
        let mut next = 0;
        loop {
            let line = tokio::select! {
                l = lines.next_line() => match l { Ok(Some(l)) => l, _ => break },
                _ = &mut stop_reader => break,
            };
            let msg: Value = serde_json::from_str(&line).expect("the proxy writes JSON lines");
            let id = msg.get("id").cloned();
            let method = msg.get("method").and_then(Value::as_str).map(str::to_owned);
            match (method.as_deref(), id) {
                (Some("initialize"), Some(id)) => {
                    inits.fetch_add(1, Ordering::SeqCst);
                    tx.send(json!({"jsonrpc": "2.0", "id": id, "result": {
                        "protocolVersion": "2025-03-26",
                        "capabilities": {"tools": {"listChanged": true}},
                        "serverInfo": {"name": "fake", "version": "1.0.0"},
                    }}))
                    .unwrap();
                }
                (Some("notifications/initialized"), None) => {
                    inited.fetch_add(1, Ordering::SeqCst);
                }
                (Some("tools/list"), Some(id)) => {
                    tx.send(json!({"jsonrpc": "2.0", "id": id, "result": {"tools": [
                        {"name": "echo", "inputSchema": {"type": "object"}},
                    ]}}))
                    .unwrap();
                }
                (Some("tools/call"), Some(id)) => {
                    let params = &msg["params"];
                    let args = params["arguments"].clone();
                    match params["name"].as_str().unwrap() {
                        "echo" => {
                            let token = params.pointer("/_meta/progressToken").cloned();
                            let tx = tx.clone();
                            tokio::spawn(async move {
                                let text = args["text"].as_str().unwrap().to_owned();
                                for i in 0..args["progress"].as_u64().unwrap_or(0) {
                                    tx.send(json!({"jsonrpc": "2.0", "method": "notifications/progress",
                                        "params": {"progressToken": token.clone().unwrap(), "progress": i,
                                                   "total": 10, "message": text}}))
                                        .unwrap();
                                }
                                let delay = args["delay_ms"].as_u64().unwrap_or(0);
                                if delay > 0 {
                                    tokio::time::sleep(Duration::from_millis(delay)).await;
                                }
                                let _ = tx.send(
                                    json!({"jsonrpc": "2.0", "id": id, "result": text_result(text)}),
                                );
                            });
                        }
                        "ask_client" => {
                            next += 1;
                            let sid = format!("srv-{next}");
                            waiting.insert(sid.clone(), id);
                            tx.send(json!({"jsonrpc": "2.0", "id": sid,
                                "method": "sampling/createMessage", "params": {"messages": []}}))
                                .unwrap();
                        }
                        "hang" => {}
                        other => panic!("unknown tool {other}"),
                    }
                }
                (None, Some(Value::String(sid))) => {
                    // The proxy's answer to our server→client request.
                    let call = waiting
                        .remove(&sid)
                        .expect("an answer to a request we sent");
                    let code = msg.pointer("/error/code").cloned().unwrap_or(Value::Null);
                    tx.send(json!({"jsonrpc": "2.0", "id": call, "result": text_result(code.to_string())}))
                        .unwrap();
                }
                (Some(_), None) => {}
                (m, id) => panic!("unexpected message {m:?} {id:?}: {msg}"),
            }
        }
    });
    (
        bridge,
        Fake {
            initializes,
            initialized_notifications,
            out,
            exit: Some(exit_tx),
        },
    )
}

async fn start(mode: ProxyMode, config: BridgeConfig) -> (RunningProxy, Fake) {
    let (bridge, fake) = fake_bridge(config);
    let proxy = serve(
        bridge,
        ProxyConfig {
            mode,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    (proxy, fake)
}

// ---------------------------------------------------------------------------------------------------------
// HTTP helpers.
// ---------------------------------------------------------------------------------------------------------

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap()
}

fn mcp_url(addr: SocketAddr) -> String {
    format!("http://{addr}/mcp")
}

fn initialize_msg(id: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
        "protocolVersion": "2025-03-26", "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"},
    }})
}

fn call_msg(id: Value, tool: &str, args: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": args}})
}

/// POSTs to /mcp, with the session header when given.
async fn post(
    c: &reqwest::Client,
    addr: SocketAddr,
    session: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut req = c
        .post(mcp_url(addr))
        .header("accept", "application/json, text/event-stream")
        .json(body);
    if let Some(s) = session {
        req = req.header("mcp-session-id", s);
    }
    req.send().await.unwrap()
}

/// POSTs a request that wants a JSON answer (no progress token), and returns it.
async fn rpc(c: &reqwest::Client, addr: SocketAddr, session: &str, body: &Value) -> Value {
    let r = post(c, addr, Some(session), body).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    r.json().await.unwrap()
}

/// Initializes a new session; returns its id and the response.
async fn initialize(c: &reqwest::Client, addr: SocketAddr, id: Value) -> (String, Value) {
    let r = post(c, addr, None, &initialize_msg(id)).await;
    assert_eq!(r.status(), 200);
    let session = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    let notified = post(
        c,
        addr,
        Some(&session),
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(notified.status(), 202);
    (session, body)
}

fn text_of(resp: &Value) -> &str {
    resp.pointer("/result/content/0/text")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("not a tool result: {resp}"))
}

/// Reads server-sent events from a response body by hand.
struct SseReader {
    body: BoxStream<'static, reqwest::Result<axum::body::Bytes>>,
    buf: String,
}

impl SseReader {
    fn new(r: reqwest::Response) -> Self {
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream"),
            "not an event stream"
        );
        Self {
            body: r.bytes_stream().boxed(),
            buf: String::new(),
        }
    }

    /// The next event (type, data), skipping comments; `None` at the end of the stream.
    async fn next(&mut self) -> Option<(String, String)> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut event, mut data) = ("message".to_owned(), Vec::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                return Some((event, data.join("\n")));
            }
            let chunk = self.body.next().await?.ok()?;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The next event's data as JSON, within 5 s.
    async fn next_json(&mut self) -> Value {
        let (event, data) = tokio::time::timeout(Duration::from_secs(5), self.next())
            .await
            .expect("an event within 5 s")
            .expect("the stream is open");
        assert_eq!(event, "message");
        serde_json::from_str(&data).unwrap()
    }
}

async fn open_get_stream(c: &reqwest::Client, addr: SocketAddr, session: &str) -> SseReader {
    let r = c
        .get(mcp_url(addr))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    SseReader::new(r)
}

async fn health(c: &reqwest::Client, addr: SocketAddr) -> (u16, Value) {
    let r = c.get(format!("http://{addr}/health")).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Waits until `f` holds (up to 5 s).
async fn eventually(mut f: impl FnMut() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not met within 5 s");
}

// ---------------------------------------------------------------------------------------------------------
// streamable-http
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn initialize_reaches_the_server_once_and_is_cached() {
    let (proxy, fake) = start(ProxyMode::StreamableHttp, BridgeConfig::default()).await;
    let c = http();
    let (s1, r1) = initialize(&c, proxy.addr, json!(1)).await;
    let (s2, r2) = initialize(&c, proxy.addr, json!("second")).await;
    assert_ne!(s1, s2);
    assert_eq!(s1.len(), 32);
    assert_eq!(r1["id"], 1);
    assert_eq!(r2["id"], "second");
    assert_eq!(r1["result"], r2["result"]);
    assert_eq!(r2["result"]["serverInfo"]["name"], "fake");
    // Both sessions work.
    for s in [&s1, &s2] {
        let list = rpc(
            &c,
            proxy.addr,
            s,
            &json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list"}),
        )
        .await;
        assert_eq!(list["id"], 7);
        assert_eq!(list["result"]["tools"][0]["name"], "echo");
    }
    assert_eq!(fake.initializes.load(Ordering::SeqCst), 1);
    assert_eq!(fake.initialized_notifications.load(Ordering::SeqCst), 1);
    let (status, h) = health(&c, proxy.addr).await;
    assert_eq!(status, 200);
    assert_eq!(h["status"], "healthy");
    assert_eq!(h["transport"], "stdio");
    assert_eq!(h["proxy_mode"], "streamable-http");
    assert_eq!(h["mcp"]["available"], true);
    assert_eq!(h["mcp"]["initialized"], true);
    assert_eq!(h["sessions"], 2);
    proxy.shutdown().await;
}

#[tokio::test]
async fn concurrent_sessions_with_the_same_request_ids_get_their_own_responses() {
    let (proxy, fake) = start(ProxyMode::StreamableHttp, BridgeConfig::default()).await;
    let c = http();
    let addr = proxy.addr;
    const SESSIONS: usize = 32;
    const CALLS: usize = 25;
    let sessions =
        futures::future::join_all((0..SESSIONS).map(|_| initialize(&c, addr, json!(1)))).await;
    let tasks = sessions.into_iter().enumerate().map(|(i, (session, _))| {
        let c = c.clone();
        tokio::spawn(async move {
            let calls = (0..CALLS).map(|j| {
                let (c, session) = (c.clone(), session.clone());
                async move {
                    let text = format!("session {i} call {j}");
                    let args = json!({"text": text, "delay_ms": (i * 7 + j * 3) % 20});
                    let resp = rpc(&c, addr, &session, &call_msg(json!(1), "echo", args)).await;
                    assert_eq!(resp["id"], 1, "{resp}");
                    assert_eq!(text_of(&resp), text, "a response reached the wrong caller");
                }
            });
            futures::future::join_all(calls).await;
        })
    });
    for t in futures::future::join_all(tasks).await {
        t.unwrap();
    }
    assert_eq!(fake.initializes.load(Ordering::SeqCst), 1);
    proxy.shutdown().await;
}

#[tokio::test]
async fn progress_is_routed_to_the_session_that_asked_with_its_token() {
    let (proxy, _fake) = start(ProxyMode::StreamableHttp, BridgeConfig::default()).await;
    let c = http();
    let addr = proxy.addr;
    let (s1, _) = initialize(&c, addr, json!(1)).await;
    let (s2, _) = initialize(&c, addr, json!(1)).await;

    // On the request's own event stream: both sessions use the same token and request id.
    let call = |session: String, text: &'static str| {
        let c = c.clone();
        async move {
            let mut msg = call_msg(
                json!(5),
                "echo",
                json!({"text": text, "progress": 3, "delay_ms": 20}),
            );
            msg["params"]["_meta"] = json!({"progressToken": "tok"});
            let r = post(&c, addr, Some(&session), &msg).await;
            assert_eq!(r.status(), 200);
            let mut events = SseReader::new(r);
            for i in 0..3 {
                let p = events.next_json().await;
                assert_eq!(p["method"], "notifications/progress");
                assert_eq!(p["params"]["progressToken"], "tok");
                assert_eq!(p["params"]["progress"], i);
                assert_eq!(p["params"]["message"], text, "progress of another session");
            }
            let resp = events.next_json().await;
            assert_eq!(resp["id"], 5);
            assert_eq!(text_of(&resp), text);
            assert!(
                events.next().await.is_none(),
                "the stream ends after the response"
            );
        }
    };
    tokio::join!(call(s1.clone(), "one"), call(s2.clone(), "two"));

    // A client that only accepts JSON: progress goes to its session's GET stream.
    let mut stream1 = open_get_stream(&c, addr, &s1).await;
    let mut stream2 = open_get_stream(&c, addr, &s2).await;
    let mut msg = call_msg(json!(6), "echo", json!({"text": "json", "progress": 2}));
    msg["params"]["_meta"] = json!({"progressToken": 42});
    let r = c
        .post(mcp_url(addr))
        .header("accept", "application/json")
        .header("mcp-session-id", &s2)
        .json(&msg)
        .send()
        .await
        .unwrap();
    let resp: Value = r.json().await.unwrap();
    assert_eq!(text_of(&resp), "json");
    for i in 0..2 {
        let p = stream2.next_json().await;
        assert_eq!(p["params"]["progressToken"], 42);
        assert_eq!(p["params"]["progress"], i);
    }
    // Session 1 got none of it.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), stream1.next())
            .await
            .is_err()
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn server_notifications_are_broadcast_to_every_get_stream() {
    let (proxy, fake) = start(ProxyMode::StreamableHttp, BridgeConfig::default()).await;
    let c = http();
    let addr = proxy.addr;
    let mut streams = Vec::new();
    for _ in 0..3 {
        let (s, _) = initialize(&c, addr, json!(1)).await;
        streams.push(open_get_stream(&c, addr, &s).await);
    }
    // A session without a stream does not matter.
    initialize(&c, addr, json!(1)).await;
    fake.notify("notifications/tools/list_changed", json!({}));
    // (Resource updates go only to subscribers: see proxy_sessions.rs.)
    fake.notify("notifications/prompts/list_changed", json!({"n": 2}));
    for s in &mut streams {
        assert_eq!(
            s.next_json().await["method"],
            "notifications/tools/list_changed"
        );
        let changed = s.next_json().await;
        assert_eq!(changed["method"], "notifications/prompts/list_changed");
        assert_eq!(changed["params"]["n"], 2);
    }
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_new_get_stream_replaces_the_previous_one() {
    let (proxy, fake) = start(ProxyMode::StreamableHttp, BridgeConfig::default()).await;
    let c = http();
    let (s, _) = initialize(&c, proxy.addr, json!(1)).await;
    let mut old = open_get_stream(&c, proxy.addr, &s).await;
    let mut new = open_get_stream(&c, proxy.addr, &s).await;
    assert!(
        tokio::time::timeout(Duration::from_secs(5), old.next())
            .await
            .unwrap()
            .is_none()
    );
    fake.notify("notifications/tools/list_changed", json!({}));
    assert_eq!(
        new.next_json().await["method"],
        "notifications/tools/list_changed"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn server_to_client_requests_are_refused_with_method_not_found() {
    let (proxy, _fake) = start(ProxyMode::StreamableHttp, BridgeConfig::default()).await;
    let c = http();
    let (s, _) = initialize(&c, proxy.addr, json!(1)).await;
    let resp = rpc(
        &c,
        proxy.addr,
        &s,
        &call_msg(json!(2), "ask_client", json!({})),
    )
    .await;
    assert_eq!(text_of(&resp), "-32601");
    proxy.shutdown().await;
}

#[tokio::test]
async fn missing_and_unknown_sessions_are_refused() {
    let (proxy, _fake) = start(ProxyMode::StreamableHttp, BridgeConfig::default()).await;
    let c = http();
    let addr = proxy.addr;
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let r = post(&c, addr, None, &list).await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32600);
    assert_eq!(body["id"], Value::Null);
    assert_eq!(
        post(&c, addr, Some("0123456789abcdef"), &list)
            .await
            .status(),
        404
    );
    let get = |s: Option<&str>| {
        let mut r = c.get(mcp_url(addr)).header("accept", "text/event-stream");
        if let Some(s) = s {
            r = r.header("mcp-session-id", s);
        }
        r.send()
    };
    assert_eq!(get(None).await.unwrap().status(), 400);
    assert_eq!(get(Some("nope")).await.unwrap().status(), 404);
    assert_eq!(c.delete(mcp_url(addr)).send().await.unwrap().status(), 400);
    assert_eq!(
        c.delete(mcp_url(addr))
            .header("mcp-session-id", "nope")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // Not JSON.
    let r = c
        .post(mcp_url(addr))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], -32700);
    // The transport's other paths do not exist.
    assert_eq!(
        c.get(format!("http://{addr}/sse"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn delete_ends_the_session_and_its_stream() {
    let (proxy, _fake) = start(ProxyMode::StreamableHttp, BridgeConfig::default()).await;
    let c = http();
    let addr = proxy.addr;
    let (s, _) = initialize(&c, addr, json!(1)).await;
    let mut stream = open_get_stream(&c, addr, &s).await;
    let r = c
        .delete(mcp_url(addr))
        .header("mcp-session-id", &s)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .unwrap()
            .is_none()
    );
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    assert_eq!(post(&c, addr, Some(&s), &list).await.status(), 404);
    proxy.shutdown().await;
}

#[tokio::test]
async fn idle_sessions_expire_after_the_ttl() {
    // The TTL is far longer than the busy session's steps, so a slow machine does not expire it; the idle one
    // is checked once its TTL has surely passed, and the sweeper's work is waited on, not slept on.
    let ttl = Duration::from_millis(1500);
    let config = BridgeConfig {
        session_ttl: ttl,
        ..Default::default()
    };
    let (proxy, _fake) = start(ProxyMode::StreamableHttp, config).await;
    let c = http();
    let addr = proxy.addr;
    let (idle, _) = initialize(&c, addr, json!(1)).await;
    let idle_since = tokio::time::Instant::now();
    let (busy, _) = initialize(&c, addr, json!(1)).await;
    let (streaming, _) = initialize(&c, addr, json!(1)).await;
    let _stream = open_get_stream(&c, addr, &streaming).await;
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    while idle_since.elapsed() < ttl + Duration::from_millis(300) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        rpc(&c, addr, &busy, &list).await;
    }
    assert_eq!(post(&c, addr, Some(&idle), &list).await.status(), 404);
    rpc(&c, addr, &streaming, &list).await;
    // The sweeper removes expired sessions without anyone asking.
    let (_, gone) = initialize(&c, addr, json!(1)).await;
    assert_eq!(gone["id"], 1);
    let (_, h) = health(&c, addr).await;
    assert_eq!(h["sessions"], 3);
    let deadline = tokio::time::Instant::now() + ttl * 10;
    loop {
        let (_, h) = health(&c, addr).await;
        if h["sessions"] == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only the session with a stream should be left: {h}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_request_without_a_response_times_out() {
    let config = BridgeConfig {
        request_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let (proxy, _fake) = start(ProxyMode::StreamableHttp, config).await;
    let c = http();
    let (s, _) = initialize(&c, proxy.addr, json!(1)).await;
    let resp = rpc(&c, proxy.addr, &s, &call_msg(json!(9), "hang", json!({}))).await;
    assert_eq!(resp["id"], 9);
    assert_eq!(resp["error"]["code"], -32001);
    // The proxy still works.
    let resp = rpc(
        &c,
        proxy.addr,
        &s,
        &call_msg(json!(10), "echo", json!({"text": "ok"})),
    )
    .await;
    assert_eq!(text_of(&resp), "ok");
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_backend_that_exits_fails_pending_requests_and_health() {
    let (proxy, mut fake) = start(ProxyMode::StreamableHttp, BridgeConfig::default()).await;
    let c = http();
    let addr = proxy.addr;
    let (s, _) = initialize(&c, addr, json!(1)).await;
    let pending: Vec<_> = (0..4)
        .map(|i| {
            let (c, s) = (c.clone(), s.clone());
            tokio::spawn(
                async move { rpc(&c, addr, &s, &call_msg(json!(i), "hang", json!({}))).await },
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    fake.exit();
    for (i, p) in pending.into_iter().enumerate() {
        let resp = tokio::time::timeout(Duration::from_secs(5), p)
            .await
            .expect("pending requests fail when the server exits")
            .unwrap();
        assert_eq!(resp["id"], i);
        assert_eq!(resp["error"]["code"], -32000);
    }
    let (status, h) = health(&c, addr).await;
    assert_eq!(status, 503);
    assert_eq!(h["status"], "unhealthy");
    assert_eq!(h["mcp"]["available"], false);
    assert!(
        h["mcp"]["error"].as_str().unwrap().contains("exited"),
        "{h}"
    );
    // Later requests fail at once.
    let resp = rpc(
        &c,
        addr,
        &s,
        &call_msg(json!(99), "echo", json!({"text": "x"})),
    )
    .await;
    assert_eq!(resp["error"]["code"], -32000);
    proxy.shutdown().await;
}

#[tokio::test]
async fn origins_and_hosts_outside_the_allowlist_are_refused() {
    let (proxy, _fake) = start(ProxyMode::StreamableHttp, BridgeConfig::default()).await;
    let c = http();
    let addr = proxy.addr;
    let port = addr.port();
    let send = |origin: Option<String>| {
        let mut r = c.post(mcp_url(addr)).json(&initialize_msg(json!(1)));
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send()
    };
    for bad in [
        "http://evil.example".to_owned(),
        format!("http://evil.example:{port}"),
        "null".to_owned(),
        format!("http://localhost:{}", port.wrapping_add(1)),
    ] {
        let r = send(Some(bad.clone())).await.unwrap();
        assert_eq!(r.status(), 403, "{bad}");
    }
    for good in [
        None,
        Some(format!("http://localhost:{port}")),
        Some(format!("http://127.0.0.1:{port}")),
        Some(format!("http://[::1]:{port}")),
    ] {
        let r = send(good.clone()).await.unwrap();
        assert_eq!(r.status(), 200, "{good:?}");
    }
    let r = c
        .get(format!("http://{addr}/health"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // DNS rebinding: the page's own name as Host, with or without an Origin.
    for host in [format!("rebind.example:{port}"), "evil.example".to_owned()] {
        let r = c
            .post(mcp_url(addr))
            .header("host", host.clone())
            .json(&initialize_msg(json!(1)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{host}");
    }
    proxy.shutdown().await;
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let (bridge, _fake) = fake_bridge(BridgeConfig::default());
    let proxy = serve(
        bridge,
        ProxyConfig {
            body_limit: 1024,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let c = http();
    let (s, _) = initialize(&c, proxy.addr, json!(1)).await;
    let big = call_msg(json!(1), "echo", json!({"text": "x".repeat(2048)}));
    assert_eq!(post(&c, proxy.addr, Some(&s), &big).await.status(), 413);
    let small = call_msg(json!(1), "echo", json!({"text": "x".repeat(100)}));
    assert_eq!(post(&c, proxy.addr, Some(&s), &small).await.status(), 200);
    proxy.shutdown().await;
}

#[tokio::test]
async fn default_body_limit_is_8_mib() {
    let (proxy, _fake) = start(ProxyMode::StreamableHttp, BridgeConfig::default()).await;
    let c = http();
    let (s, _) = initialize(&c, proxy.addr, json!(1)).await;
    let big = call_msg(
        json!(1),
        "echo",
        json!({"text": "x".repeat(8 * 1024 * 1024)}),
    );
    assert_eq!(post(&c, proxy.addr, Some(&s), &big).await.status(), 413);
    let ok = call_msg(
        json!(1),
        "echo",
        json!({"text": "x".repeat(4 * 1024 * 1024)}),
    );
    let resp = rpc(&c, proxy.addr, &s, &ok).await;
    assert_eq!(text_of(&resp).len(), 4 * 1024 * 1024);
    proxy.shutdown().await;
}

#[tokio::test]
async fn batches_are_answered_with_a_batch() {
    let (proxy, _fake) = start(ProxyMode::StreamableHttp, BridgeConfig::default()).await;
    let c = http();
    let addr = proxy.addr;
    let (s, _) = initialize(&c, addr, json!(1)).await;
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"},
        call_msg(json!(1), "echo", json!({"text": "b", "delay_ms": 10})),
        {"jsonrpc": "2.0", "id": 3},
    ]);
    let resp: Value = post(&c, addr, Some(&s), &batch).await.json().await.unwrap();
    let resp = resp.as_array().unwrap();
    assert_eq!(resp.len(), 3, "{resp:?}");
    assert_eq!(resp[0]["result"]["tools"][0]["name"], "echo");
    assert_eq!(text_of(&resp[1]), "b");
    assert_eq!(resp[2]["id"], 3);
    assert_eq!(resp[2]["error"]["code"], -32600);
    // Notifications only: 202.
    let notes = json!([{"jsonrpc": "2.0", "method": "notifications/roots/list_changed"}]);
    assert_eq!(post(&c, addr, Some(&s), &notes).await.status(), 202);
    // initialize in a batch, and the empty batch, are refused.
    let r = post(&c, addr, Some(&s), &json!([initialize_msg(json!(1))])).await;
    assert_eq!(r.status(), 400);
    assert_eq!(post(&c, addr, Some(&s), &json!([])).await.status(), 400);
    proxy.shutdown().await;
}

#[tokio::test]
async fn the_proxy_binds_loopback_on_a_free_port() {
    let (proxy, _fake) = start(ProxyMode::StreamableHttp, BridgeConfig::default()).await;
    assert!(proxy.addr.ip().is_loopback());
    assert_ne!(proxy.addr.port(), 0);
    assert_eq!(proxy.url(), format!("http://{}/mcp", proxy.addr));
    proxy.shutdown().await;
}

// ---------------------------------------------------------------------------------------------------------
// sse
// ---------------------------------------------------------------------------------------------------------

async fn open_sse(c: &reqwest::Client, addr: SocketAddr) -> (SseReader, String) {
    let r = c
        .get(format!("http://{addr}/sse"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut events = SseReader::new(r);
    let (event, endpoint) = events.next().await.unwrap();
    assert_eq!(event, "endpoint");
    assert!(endpoint.starts_with("/messages?session_id="), "{endpoint}");
    (events, endpoint)
}

async fn post_message(c: &reqwest::Client, addr: SocketAddr, endpoint: &str, body: &Value) -> u16 {
    c.post(format!("http://{addr}{endpoint}"))
        .json(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn sse_mode_end_to_end() {
    let (proxy, fake) = start(ProxyMode::Sse, BridgeConfig::default()).await;
    let c = http();
    let addr = proxy.addr;
    assert_eq!(proxy.url(), format!("http://{addr}/sse"));
    let (mut a, ea) = open_sse(&c, addr).await;
    let (mut b, eb) = open_sse(&c, addr).await;
    assert_ne!(ea, eb);
    for (events, endpoint) in [(&mut a, &ea), (&mut b, &eb)] {
        assert_eq!(
            post_message(&c, addr, endpoint, &initialize_msg(json!(0))).await,
            202
        );
        let init = events.next_json().await;
        assert_eq!(init["id"], 0);
        assert_eq!(init["result"]["serverInfo"]["name"], "fake");
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        assert_eq!(post_message(&c, addr, endpoint, &note).await, 202);
    }
    assert_eq!(fake.initializes.load(Ordering::SeqCst), 1);

    // Same ids on both sessions, with progress.
    for (endpoint, text) in [(&ea, "a"), (&eb, "b")] {
        let mut msg = call_msg(
            json!(1),
            "echo",
            json!({"text": text, "progress": 2, "delay_ms": 30}),
        );
        msg["params"]["_meta"] = json!({"progressToken": "t"});
        assert_eq!(post_message(&c, addr, endpoint, &msg).await, 202);
    }
    for (events, text) in [(&mut a, "a"), (&mut b, "b")] {
        for i in 0..2 {
            let p = events.next_json().await;
            assert_eq!(p["params"]["progressToken"], "t");
            assert_eq!(p["params"]["progress"], i);
            assert_eq!(p["params"]["message"], text);
        }
        let resp = events.next_json().await;
        assert_eq!(resp["id"], 1);
        assert_eq!(text_of(&resp), text);
    }

    // Broadcast.
    fake.notify("notifications/tools/list_changed", json!({}));
    assert_eq!(
        a.next_json().await["method"],
        "notifications/tools/list_changed"
    );
    assert_eq!(
        b.next_json().await["method"],
        "notifications/tools/list_changed"
    );

    // Errors.
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    assert_eq!(post_message(&c, addr, "/messages", &list).await, 400);
    assert_eq!(
        post_message(&c, addr, "/messages?session_id=nope", &list).await,
        404
    );
    let r = c
        .post(format!("http://{addr}{ea}"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(c.get(mcp_url(addr)).send().await.unwrap().status(), 404);

    // Closing the stream ends the session.
    drop(b);
    let mut status = 0;
    for _ in 0..100 {
        status = post_message(&c, addr, &eb, &list).await;
        if status == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 404);
    let (_, h) = health(&c, addr).await;
    assert_eq!(h["proxy_mode"], "sse");
    assert_eq!(h["sessions"], 1);
    proxy.shutdown().await;
}

// ---------------------------------------------------------------------------------------------------------
// A real child process.
// ---------------------------------------------------------------------------------------------------------

const PY_SERVER: &str = r#"
import json, sys
while True:
    line = sys.stdin.readline()
    if not line:
        break
    line = line.strip()
    if not line:
        continue
    m = json.loads(line)
    if "id" not in m or "method" not in m:
        continue
    method = m["method"]
    if method == "initialize":
        r = {"protocolVersion": "2025-03-26", "capabilities": {"tools": {}},
             "serverInfo": {"name": "py", "version": "1"}}
    elif method == "tools/list":
        r = {"tools": [{"name": "echo", "inputSchema": {"type": "object"}}]}
    elif method == "tools/call":
        p = m["params"]
        tok = p.get("_meta", {}).get("progressToken")
        if tok is not None:
            sys.stdout.write(json.dumps({"jsonrpc": "2.0", "method": "notifications/progress",
                                         "params": {"progressToken": tok, "progress": 1}}) + "\n")
        r = {"content": [{"type": "text", "text": p["arguments"]["text"]}]}
    else:
        sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": m["id"],
                                     "error": {"code": -32601, "message": "no"}}) + "\n")
        sys.stdout.flush()
        continue
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": r}) + "\n")
    sys.stdout.flush()
"#;

#[tokio::test]
async fn a_child_process_served_to_many_sessions() {
    let mut child = tokio::process::Command::new("python3")
        .arg("-u")
        .arg("-c")
        .arg(PY_SERVER)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs");
    let bridge = StdioBridge::from_child(&mut child, BridgeConfig::default()).unwrap();
    let proxy = serve(bridge, ProxyConfig::default()).await.unwrap();
    let c = http();
    let addr = proxy.addr;
    let sessions = futures::future::join_all((0..8).map(|_| initialize(&c, addr, json!(1)))).await;
    assert_eq!(sessions[0].1["result"]["serverInfo"]["name"], "py");
    let calls = sessions.iter().flat_map(|(s, _)| {
        (0..10).map(|j| {
            let (c, s) = (c.clone(), s.clone());
            async move {
                let text = format!("{s}-{j}");
                let resp = rpc(
                    &c,
                    addr,
                    &s,
                    &call_msg(json!("same"), "echo", json!({"text": text})),
                )
                .await;
                assert_eq!(resp["id"], "same");
                assert_eq!(text_of(&resp), text);
            }
        })
    });
    futures::future::join_all(calls).await;
    // Unknown methods come back as the server's own error.
    let resp = rpc(
        &c,
        addr,
        &sessions[0].0,
        &json!({"jsonrpc": "2.0", "id": 3, "method": "nope"}),
    )
    .await;
    assert_eq!(resp["error"]["code"], -32601);

    child.kill().await.unwrap();
    let mut status = 0;
    for _ in 0..250 {
        status = health(&c, addr).await.0;
        if status == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 503);
    let resp = rpc(
        &c,
        addr,
        &sessions[0].0,
        &json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list"}),
    )
    .await;
    assert_eq!(resp["error"]["code"], -32000);
    proxy.shutdown().await;
}

#[tokio::test]
async fn the_bridge_can_be_closed() {
    let (bridge, _fake) = fake_bridge(BridgeConfig::default());
    let b2 = bridge.clone();
    let proxy = serve(bridge, ProxyConfig::default()).await.unwrap();
    let c = http();
    initialize(&c, proxy.addr, json!(1)).await;
    b2.close();
    eventually(|| !b2.is_alive()).await;
    let (status, h) = health(&c, proxy.addr).await;
    assert_eq!(status, 503);
    assert_eq!(h["sessions"], 0);
    proxy.shutdown().await;
}
