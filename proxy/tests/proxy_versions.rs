//! Protocol versions through the stdio bridge, against a fake stdio server answering `initialize` with a given
//! version: the server is initialized once, asking for the newest version the bridge knows; each session gets
//! the version it asked for when the server's is not older (else the server's); a request the server's
//! version does not have is answered by the bridge and never reaches the server; a server notification a
//! session's version does not have is not delivered to that session. (The real SDK clients in both orders:
//! tests/tests/thv_protocol_versions.rs.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use thv_proxy::{BridgeConfig, StdioBridge};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// A bridge over a fake server that answers `initialize` with `version` and records every message it gets;
/// `notify` makes it send a notification.
fn fake(
    version: &'static str,
) -> (
    StdioBridge,
    Arc<Mutex<Vec<Value>>>,
    mpsc::UnboundedSender<Value>,
) {
    let (proxy_side, server_side) = tokio::io::duplex(1 << 16);
    let (pr, pw) = tokio::io::split(proxy_side);
    let bridge = StdioBridge::new(pw, pr, BridgeConfig::default());
    let (sr, mut sw) = tokio::io::split(server_side);
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let (out, mut out_rx) = mpsc::unbounded_channel::<Value>();
    tokio::spawn(async move {
        while let Some(m) = out_rx.recv().await {
            let mut line = serde_json::to_vec(&m).unwrap();
            line.push(b'\n');
            if sw.write_all(&line).await.is_err() {
                break;
            }
        }
    });
    let (record, tx) = (seen.clone(), out.clone());
    tokio::spawn(async move {
        let mut lines = BufReader::new(sr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let msg: Value = serde_json::from_str(&line).unwrap();
            record.lock().unwrap().push(msg.clone());
            if let (Some("initialize"), Some(id)) = (msg["method"].as_str(), msg.get("id")) {
                tx.send(json!({"jsonrpc": "2.0", "id": id, "result": {
                    "protocolVersion": version, "capabilities": {},
                    "serverInfo": {"name": "fake", "version": "1"}}}))
                    .unwrap();
            }
        }
    });
    (bridge, seen, out)
}

fn initialize(asked: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": asked, "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})
}

/// A session initialized asking for `asked`: its id and the version it got.
async fn session(bridge: &StdioBridge, asked: &str) -> (String, String) {
    let id = bridge.create_session();
    let resp = bridge
        .handle(Some(&id), initialize(asked), None)
        .await
        .unwrap();
    let got = resp["result"]["protocolVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    (id, got)
}

#[tokio::test]
async fn each_session_negotiates_its_own_version() {
    let (bridge, seen, _) = fake("2025-11-25");
    // An older client first: it gets its version; the server was asked for the newest the bridge knows.
    assert_eq!(session(&bridge, "2025-06-18").await.1, "2025-06-18");
    assert_eq!(session(&bridge, "2025-11-25").await.1, "2025-11-25");
    assert_eq!(session(&bridge, "2024-11-05").await.1, "2024-11-05");
    // Newer than the server, or unknown: the server's.
    assert_eq!(session(&bridge, "2026-07-28").await.1, "2025-11-25");
    let inits: Vec<Value> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m["method"] == "initialize")
        .cloned()
        .collect();
    assert_eq!(inits.len(), 1, "the server is initialized once");
    assert_eq!(inits[0]["params"]["protocolVersion"], "2025-11-25");
    assert_eq!(inits[0]["params"]["clientInfo"]["name"], "t");
}

/// The method of the next message on a session stream.
async fn next(s: &mut thv_proxy::SessionStream) -> String {
    tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .unwrap()
        .unwrap()["method"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn what_a_version_lacks_does_not_cross() {
    // A server speaking 2025-06-18 gets no tasks request: the bridge answers it.
    let (bridge, seen, _) = fake("2025-06-18");
    let (s, got) = session(&bridge, "2025-11-25").await;
    assert_eq!(got, "2025-06-18");
    let resp = bridge
        .handle(
            Some(&s),
            json!({"jsonrpc": "2.0", "id": 7, "method": "tasks/list", "params": {}}),
            None,
        )
        .await
        .unwrap();
    assert_eq!(resp["id"], 7);
    assert_eq!(resp["error"]["code"], -32601);
    assert!(
        resp["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not in protocol version 2025-06-18"),
        "{resp}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !seen
            .lock()
            .unwrap()
            .iter()
            .any(|m| m["method"] == "tasks/list"),
        "the server never saw it"
    );

    // A 2025-11-25 server's task notification reaches the 2025-11-25 session, not the 2025-06-18 one.
    let (bridge, _, notify) = fake("2025-11-25");
    let (old, _) = session(&bridge, "2025-06-18").await;
    let (new, _) = session(&bridge, "2025-11-25").await;
    let mut old_stream = bridge.open_stream(&old, false).unwrap();
    let mut new_stream = bridge.open_stream(&new, false).unwrap();
    for method in [
        "notifications/tasks/status",
        "notifications/tools/list_changed",
    ] {
        notify
            .send(json!({"jsonrpc": "2.0", "method": method, "params": {}}))
            .unwrap();
    }
    assert_eq!(next(&mut new_stream).await, "notifications/tasks/status");
    assert_eq!(
        next(&mut new_stream).await,
        "notifications/tools/list_changed"
    );
    assert_eq!(
        next(&mut old_stream).await,
        "notifications/tools/list_changed",
        "the older session got no task notification"
    );
}
