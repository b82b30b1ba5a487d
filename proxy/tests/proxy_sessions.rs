//! What the sessions of one stdio server share, end to end over HTTP, against a fake stdio MCP server running
//! in-process (over `tokio::io::duplex`) that records what reaches it: resource subscriptions ref-counted per
//! URI, the log level reconciled across sessions, and resumable `GET /mcp` streams (`Last-Event-ID`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::{Value, json};
use thv_proxy::{BridgeConfig, ProxyConfig, ProxyMode, RunningProxy, StdioBridge, serve};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

// ---------------------------------------------------------------------------------------------------------
// The fake stdio MCP server.
// ---------------------------------------------------------------------------------------------------------

/// A running fake server: what it received, and a way to make it send notifications.
struct Fake {
    received: Arc<Mutex<Vec<Value>>>,
    out: mpsc::UnboundedSender<Value>,
}

impl Fake {
    fn notify(&self, method: &str, params: Value) {
        self.out
            .send(json!({"jsonrpc": "2.0", "method": method, "params": params}))
            .unwrap();
    }

    /// The `params` of the messages with `method` it received, in order.
    fn calls(&self, method: &str) -> Vec<Value> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m["method"] == method)
            .map(|m| m["params"].clone())
            .collect()
    }

    /// The `uri`s of its `method` calls.
    fn uris(&self, method: &str) -> Vec<String> {
        self.calls(method)
            .iter()
            .map(|p| p["uri"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The levels of its `logging/setLevel` calls.
    fn levels(&self) -> Vec<String> {
        self.calls("logging/setLevel")
            .iter()
            .map(|p| p["level"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// Starts the fake server and a bridge over it. It answers `initialize`, `tools/list`, and
/// `resources/subscribe`, `resources/unsubscribe` and `logging/setLevel` with `{}`, except a subscription to a
/// `bad:` URI: -32602.
fn fake_bridge(config: BridgeConfig) -> (StdioBridge, Fake) {
    let (proxy_side, server_side) = tokio::io::duplex(1 << 20);
    let (pr, pw) = tokio::io::split(proxy_side);
    let bridge = StdioBridge::new(pw, pr, config);
    let (sr, mut sw) = tokio::io::split(server_side);
    let (out, mut out_rx) = mpsc::unbounded_channel::<Value>();
    let received = Arc::new(Mutex::new(Vec::new()));

    tokio::spawn(async move {
        while let Some(m) = out_rx.recv().await {
            let mut line = serde_json::to_vec(&m).unwrap();
            line.push(b'\n');
            if sw.write_all(&line).await.is_err() {
                break;
            }
        }
    });
    let (log, tx) = (received.clone(), out.clone());
    tokio::spawn(async move {
        let mut lines = BufReader::new(sr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let msg: Value = serde_json::from_str(&line).expect("the proxy writes JSON lines");
            log.lock().unwrap().push(msg.clone());
            let Some(id) = msg.get("id").cloned() else {
                continue; // a notification
            };
            let result = match msg["method"].as_str().unwrap() {
                "initialize" => json!({
                    "protocolVersion": "2025-06-18",
                    "capabilities": {"resources": {"subscribe": true}, "logging": {}},
                    "serverInfo": {"name": "fake", "version": "1.0.0"},
                }),
                "tools/list" => json!({"tools": []}),
                "resources/subscribe"
                    if msg["params"]["uri"].as_str().unwrap().starts_with("bad:") =>
                {
                    tx.send(json!({"jsonrpc": "2.0", "id": id,
                        "error": {"code": -32602, "message": "no such resource"}}))
                        .unwrap();
                    continue;
                }
                "resources/subscribe" | "resources/unsubscribe" | "logging/setLevel" => json!({}),
                other => panic!("unexpected request {other}"),
            };
            tx.send(json!({"jsonrpc": "2.0", "id": id, "result": result}))
                .unwrap();
        }
    });
    (bridge, Fake { received, out })
}

async fn start(mode: ProxyMode, config: BridgeConfig) -> (RunningProxy, Fake) {
    let (bridge, fake) = fake_bridge(config);
    let config = ProxyConfig {
        mode,
        ..Default::default()
    };
    (serve(bridge, config).await.unwrap(), fake)
}

// ---------------------------------------------------------------------------------------------------------
// HTTP helpers.
// ---------------------------------------------------------------------------------------------------------

struct Client {
    http: reqwest::Client,
    url: String,
}

impl Client {
    fn new(addr: SocketAddr) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: format!("http://{addr}/mcp"),
        }
    }

    async fn post(&self, session: Option<&str>, body: &Value) -> reqwest::Response {
        let mut req = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .json(body);
        if let Some(s) = session {
            req = req.header("mcp-session-id", s);
        }
        req.send().await.unwrap()
    }

    /// A new initialized session.
    async fn session(&self) -> String {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "test", "version": "0"},
        }});
        let r = self.post(None, &init).await;
        assert_eq!(r.status(), 200);
        let session = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        assert_eq!(self.post(Some(&session), &note).await.status(), 202);
        session
    }

    /// Sends a request (id 1); returns the response.
    async fn rpc(&self, session: &str, method: &str, params: Value) -> Value {
        let msg = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let r = self.post(Some(session), &msg).await;
        assert_eq!(r.status(), 200);
        let resp: Value = r.json().await.unwrap();
        assert_eq!(resp["id"], 1, "{resp}");
        resp
    }

    /// `rpc` that must succeed with `{}`.
    async fn ok(&self, session: &str, method: &str, params: Value) {
        let resp = self.rpc(session, method, params).await;
        assert_eq!(resp["result"], json!({}), "{resp}");
    }

    async fn get(&self, session: &str, last_event_id: Option<&str>) -> reqwest::Response {
        let mut req = self
            .http
            .get(&self.url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", session);
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        req.send().await.unwrap()
    }

    async fn stream(&self, session: &str, last_event_id: Option<&str>) -> Events {
        let r = self.get(session, last_event_id).await;
        assert_eq!(r.status(), 200);
        Events::new(r)
    }

    async fn delete(&self, session: &str) {
        let r = self
            .http
            .delete(&self.url)
            .header("mcp-session-id", session)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
}

/// One server-sent event.
#[derive(Debug)]
struct Event {
    id: Option<String>,
    data: Value,
}

/// Reads server-sent events from a response body.
struct Events {
    body: BoxStream<'static, reqwest::Result<axum::body::Bytes>>,
    buf: String,
}

impl Events {
    fn new(r: reqwest::Response) -> Self {
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        Self {
            body: r.bytes_stream().boxed(),
            buf: String::new(),
        }
    }

    /// The next event (skipping comments and the SSE transport's `endpoint` event).
    async fn read(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut kind, mut data) = (None, "message".to_owned(), Vec::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        kind = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
                    }
                }
                if data.is_empty() || kind != "message" {
                    continue;
                }
                let data = serde_json::from_str(&data.join("\n")).unwrap();
                return Some(Event { id, data });
            }
            let chunk = self.body.next().await?.ok()?;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The next event, within 5 s.
    async fn next(&mut self) -> Event {
        tokio::time::timeout(Duration::from_secs(5), self.read())
            .await
            .expect("an event within 5 s")
            .expect("the stream is open")
    }

    /// The next event's method and params.
    async fn note(&mut self) -> (String, Value) {
        let e = self.next().await.data;
        (
            e["method"].as_str().unwrap().to_owned(),
            e["params"].clone(),
        )
    }
}

/// The marker notification the tests send after the ones under test: the next event of every stream.
async fn marker(fake: &Fake, streams: &mut [&mut Events]) {
    fake.notify("notifications/tools/list_changed", json!({}));
    for s in streams {
        assert_eq!(s.note().await.0, "notifications/tools/list_changed");
    }
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

/// A request round trip: the notifications the fake was told to send before are dispatched when it returns
/// (the fake writes in order, the bridge reads in order).
async fn sync(c: &Client, session: &str) {
    let resp = c.rpc(session, "tools/list", json!({})).await;
    assert!(resp.get("result").is_some(), "{resp}");
}

const UPDATED: &str = "notifications/resources/updated";

// ---------------------------------------------------------------------------------------------------------
// resources/subscribe
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn subscriptions_are_ref_counted_per_uri() {
    let (proxy, fake) = start(ProxyMode::StreamableHttp, BridgeConfig::default()).await;
    let c = Client::new(proxy.addr);
    let (a, b, other) = (c.session().await, c.session().await, c.session().await);
    let (mut sa, mut sb, mut so) = (
        c.stream(&a, None).await,
        c.stream(&b, None).await,
        c.stream(&other, None).await,
    );
    let uri = json!({"uri": "file:///a"});

    // Two sessions at once, one again: the server sees one subscribe.
    tokio::join!(
        c.ok(&a, "resources/subscribe", uri.clone()),
        c.ok(&b, "resources/subscribe", uri.clone()),
    );
    c.ok(&b, "resources/subscribe", uri.clone()).await;
    c.ok(&other, "resources/subscribe", json!({"uri": "file:///b"}))
        .await;
    assert_eq!(fake.uris("resources/subscribe"), ["file:///a", "file:///b"]);

    // Updates go to the subscribers only (of the URI or of a parent of it).
    fake.notify(UPDATED, json!({"uri": "file:///a"}));
    fake.notify(UPDATED, json!({"uri": "file:///a/child"}));
    fake.notify(UPDATED, json!({"uri": "file:///b"}));
    fake.notify(UPDATED, json!({"uri": "file:///nobody"}));
    for s in [&mut sa, &mut sb] {
        assert_eq!(s.note().await, (UPDATED.into(), uri.clone()));
        let (_, p) = s.note().await;
        assert_eq!(p["uri"], "file:///a/child");
    }
    assert_eq!(
        so.note().await,
        (UPDATED.into(), json!({"uri": "file:///b"}))
    );
    marker(&fake, &mut [&mut sa, &mut sb, &mut so]).await;

    // Unsubscribing: locally while another session is subscribed, forwarded for the last one.
    c.ok(&a, "resources/unsubscribe", uri.clone()).await;
    assert!(fake.uris("resources/unsubscribe").is_empty());
    fake.notify(UPDATED, uri.clone());
    assert_eq!(sb.note().await, (UPDATED.into(), uri.clone()));
    marker(&fake, &mut [&mut sa, &mut sb, &mut so]).await;
    // Not subscribed (any more) while another is: answered locally, the other one stays subscribed.
    c.ok(&a, "resources/unsubscribe", uri.clone()).await;
    assert!(fake.uris("resources/unsubscribe").is_empty());
    c.ok(&b, "resources/unsubscribe", uri.clone()).await;
    assert_eq!(fake.uris("resources/unsubscribe"), ["file:///a"]);
    fake.notify(UPDATED, uri.clone());
    marker(&fake, &mut [&mut sa, &mut sb, &mut so]).await;

    // Subscribing again after that: forwarded again.
    c.ok(&a, "resources/subscribe", uri.clone()).await;
    assert_eq!(
        fake.uris("resources/subscribe"),
        ["file:///a", "file:///b", "file:///a"]
    );

    // A subscription the server refuses is not recorded: the next subscriber's goes to the server too.
    for s in [&a, &b] {
        let resp = c
            .rpc(s, "resources/subscribe", json!({"uri": "bad:x"}))
            .await;
        assert_eq!(resp["error"]["code"], -32602, "{resp}");
    }
    assert_eq!(fake.uris("resources/subscribe").len(), 5);
    proxy.shutdown().await;
}

#[tokio::test]
async fn ended_sessions_release_their_subscriptions() {
    let config = BridgeConfig {
        session_ttl: Duration::from_millis(500),
        ..Default::default()
    };
    let (proxy, fake) = start(ProxyMode::StreamableHttp, config).await;
    let bridge = proxy.bridge().unwrap().clone();
    let c = Client::new(proxy.addr);
    let (deleted, expiring, kept) = (c.session().await, c.session().await, c.session().await);
    let _keep_alive = c.stream(&kept, None).await;
    for s in [&deleted, &expiring, &kept] {
        c.ok(s, "resources/subscribe", json!({"uri": "file:///shared"}))
            .await;
    }
    c.ok(&deleted, "resources/subscribe", json!({"uri": "file:///d"}))
        .await;
    c.ok(
        &expiring,
        "resources/subscribe",
        json!({"uri": "file:///e"}),
    )
    .await;
    c.ok(&kept, "resources/subscribe", json!({"uri": "file:///k"}))
        .await;
    assert_eq!(fake.uris("resources/subscribe").len(), 4);

    // DELETE: only the URI it was the last subscriber of is unsubscribed.
    c.delete(&deleted).await;
    eventually(|| fake.uris("resources/unsubscribe") == ["file:///d"]).await;

    // TTL expiry (the session without a stream).
    eventually(|| fake.uris("resources/unsubscribe") == ["file:///d", "file:///e"]).await;
    assert_eq!(bridge.health().sessions, 1);

    // The proxy's shutdown clears the sessions: the last one's subscriptions go.
    proxy.shutdown().await;
    eventually(|| fake.uris("resources/unsubscribe").len() == 4).await;
    let mut unsubscribed = fake.uris("resources/unsubscribe");
    unsubscribed.sort();
    assert_eq!(
        unsubscribed,
        ["file:///d", "file:///e", "file:///k", "file:///shared"]
    );
    // The bridge's own requests have ids of their own (not a client's), and it works on.
    let ids: Vec<Value> = fake
        .received
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m["method"] == "resources/unsubscribe")
        .map(|m| m["id"].clone())
        .collect();
    assert!(ids.iter().all(|id| id.is_u64()), "{ids:?}");
    assert!(bridge.is_alive());
}

// ---------------------------------------------------------------------------------------------------------
// logging/setLevel
// ---------------------------------------------------------------------------------------------------------

fn log(level: &str) -> Value {
    json!({"level": level, "logger": "fake", "data": level})
}

const LEVELS: [&str; 5] = ["debug", "info", "warning", "error", "critical"];

/// Asserts that the next messages on `s` are the `notifications/message` at `levels`, then the marker.
async fn expect_logs(s: &mut Events, levels: &[&str]) {
    for level in levels {
        let (method, params) = s.note().await;
        assert_eq!(method, "notifications/message");
        assert_eq!(params["level"], *level);
    }
    assert_eq!(s.note().await.0, "notifications/tools/list_changed");
}

async fn emit_logs(fake: &Fake) {
    for level in LEVELS {
        fake.notify("notifications/message", log(level));
    }
    fake.notify("notifications/tools/list_changed", json!({}));
}

#[tokio::test]
async fn the_log_level_is_reconciled_across_sessions() {
    let (proxy, fake) = start(ProxyMode::StreamableHttp, BridgeConfig::default()).await;
    let c = Client::new(proxy.addr);
    let (a, b, quiet, all) = (
        c.session().await,
        c.session().await,
        c.session().await,
        c.session().await,
    );
    let mut streams = Vec::new();
    for s in [&a, &b, &quiet, &all] {
        streams.push(c.stream(s, None).await);
    }
    let set = |s: String, level: &'static str| {
        let c = &c;
        async move { c.ok(&s, "logging/setLevel", json!({"level": level})).await }
    };

    set(a.clone(), "error").await;
    set(b.clone(), "warning").await;
    set(quiet.clone(), "critical").await;
    set(a.clone(), "error").await;
    // Only what changes the most verbose level reaches the server.
    assert_eq!(fake.levels(), ["error", "warning"]);

    // Each session gets the messages its own level admits; one that set none gets them all.
    emit_logs(&fake).await;
    expect_logs(&mut streams[0], &["error", "critical"]).await;
    expect_logs(&mut streams[1], &["warning", "error", "critical"]).await;
    expect_logs(&mut streams[2], &["critical"]).await;
    expect_logs(&mut streams[3], &LEVELS).await;

    // An unknown level: refused locally.
    let resp = c
        .rpc(&a, "logging/setLevel", json!({"level": "verbose"}))
        .await;
    assert_eq!(resp["error"]["code"], -32602);

    // The most verbose session becomes less verbose: the server gets the next most verbose level.
    set(b.clone(), "alert").await;
    assert_eq!(fake.levels(), ["error", "warning", "error"]);
    set(b.clone(), "warning").await;
    assert_eq!(fake.levels(), ["error", "warning", "error", "warning"]);

    // The most verbose session ends: the server gets the new most verbose level.
    c.delete(&b).await;
    eventually(|| fake.levels().len() == 5).await;
    assert_eq!(fake.levels()[4], "error");
    // A less verbose one ends: nothing changes.
    c.delete(&quiet).await;
    set(a.clone(), "debug").await;
    assert_eq!(fake.levels()[5..], ["debug"]);
    emit_logs(&fake).await;
    expect_logs(&mut streams[0], &LEVELS).await;
    expect_logs(&mut streams[3], &LEVELS).await;

    // The last session with a level ends: the server keeps its level (nothing is sent).
    c.delete(&a).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    sync(&c, &all).await;
    assert_eq!(fake.levels().len(), 6, "{:?}", fake.levels());
    proxy.shutdown().await;
}

// ---------------------------------------------------------------------------------------------------------
// Last-Event-ID
// ---------------------------------------------------------------------------------------------------------

fn changed(n: u64) -> Value {
    json!({"n": n})
}

async fn expect_changes(s: &mut Events, session: &str, ns: std::ops::Range<u64>, first_id: u64) {
    for (i, n) in ns.enumerate() {
        let e = s.next().await;
        assert_eq!(e.data["params"], changed(n));
        assert_eq!(e.id, Some(format!("{session}-{}", first_id + i as u64)));
    }
}

#[tokio::test]
async fn a_dropped_get_stream_resumes_after_its_last_event_id() {
    let (proxy, fake) = start(ProxyMode::StreamableHttp, BridgeConfig::default()).await;
    let c = Client::new(proxy.addr);
    let (s, other) = (c.session().await, c.session().await);
    let mut stream = c.stream(&s, None).await;
    for n in 1..=3 {
        fake.notify("notifications/tools/list_changed", changed(n));
    }
    expect_changes(&mut stream, &s, 1..3, 1).await;
    // Dropped after event 2 (event 3 is lost with the connection); more come while it is down.
    drop(stream);
    for n in 4..=5 {
        fake.notify("notifications/tools/list_changed", changed(n));
    }
    sync(&c, &other).await;

    let mut stream = c.stream(&s, Some(&format!("{s}-2"))).await;
    expect_changes(&mut stream, &s, 3..6, 3).await;
    fake.notify("notifications/tools/list_changed", changed(6));
    expect_changes(&mut stream, &s, 6..7, 6).await;

    // Refused: malformed, another session's, never sent. The open stream stays.
    for (bad, what) in [
        ("garbage".to_owned(), "malformed"),
        (format!("{s}-x"), "malformed"),
        (format!("{other}-1"), "another session"),
        (format!("{s}-99"), "never sent"),
    ] {
        let r = c.get(&s, Some(&bad)).await;
        assert_eq!(r.status(), 400, "{bad}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], -32600);
        assert_eq!(body["id"], Value::Null);
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("Last-Event-ID") && message.contains(what),
            "{message}"
        );
    }
    fake.notify("notifications/tools/list_changed", changed(7));
    expect_changes(&mut stream, &s, 7..8, 7).await;

    // Reconnecting without Last-Event-ID: live events only, the numbering goes on.
    let mut stream = c.stream(&s, None).await;
    fake.notify("notifications/tools/list_changed", changed(8));
    expect_changes(&mut stream, &s, 8..9, 8).await;
    // Resuming from the last event: nothing to replay.
    let mut stream = c.stream(&s, Some(&format!("{s}-8"))).await;
    fake.notify("notifications/tools/list_changed", changed(9));
    expect_changes(&mut stream, &s, 9..10, 9).await;
    proxy.shutdown().await;
}

#[tokio::test]
async fn an_id_older_than_the_buffer_gets_what_is_buffered() {
    let config = BridgeConfig {
        replay_events: 4,
        ..Default::default()
    };
    let (proxy, fake) = start(ProxyMode::StreamableHttp, config).await;
    let c = Client::new(proxy.addr);
    let s = c.session().await;
    let mut stream = c.stream(&s, None).await;
    fake.notify("notifications/tools/list_changed", changed(1));
    expect_changes(&mut stream, &s, 1..2, 1).await;
    drop(stream);
    for n in 2..=10 {
        fake.notify("notifications/tools/list_changed", changed(n));
    }
    sync(&c, &s).await;
    let mut stream = c.stream(&s, Some(&format!("{s}-1"))).await;
    expect_changes(&mut stream, &s, 7..11, 7).await;
    proxy.shutdown().await;
}

#[tokio::test]
async fn sse_transport_events_have_no_ids() {
    let (proxy, fake) = start(ProxyMode::Sse, BridgeConfig::default()).await;
    let http = reqwest::Client::new();
    let r = http
        .get(format!("http://{}/sse", proxy.addr))
        .send()
        .await
        .unwrap();
    let mut events = Events::new(r);
    // The endpoint event is skipped by the reader; wait for the session to exist.
    eventually(|| proxy.bridge().unwrap().health().sessions == 1).await;
    fake.notify("notifications/tools/list_changed", changed(1));
    let e = events.next().await;
    assert_eq!(e.data["params"], changed(1));
    assert_eq!(e.id, None);
    proxy.shutdown().await;
}
