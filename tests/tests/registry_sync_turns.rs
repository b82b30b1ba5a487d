//! A source that hangs holds no other source's sync up: on SQLite syncs take turns, and a file, git or configmap
//! source is read before its turn (a hanging upstream used to keep every other source waiting up to its timeout).

use std::io::Read;
use std::net::TcpListener;
use std::time::Duration;

use serde_json::{Value, json};
use thv_e2e::registry_api::{command, get, start_configured, wait_synced};

const ADMIN: &str = "sync-turns-admin-token-0123456789";

async fn source(base: &str, name: &str) -> Value {
    let (code, v) = get(&format!("{base}/v1/sources/{name}")).await;
    assert_eq!(code, 200, "{v}");
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_source_holds_no_other_source_up() {
    // An upstream that accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf);
            held.push(conn);
        }
    });
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("registry.json");
    std::fs::write(
        &file,
        json!({"$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/registry.schema.json",
               "version": "1.0.0", "meta": {}, "data": {"servers": [
                   {"$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
                    "name": "io.example/local", "description": "x", "version": "1.0.0",
                    "remotes": [{"type": "streamable-http", "url": "https://local.example.com/mcp"}]}]}})
        .to_string(),
    )
    .unwrap();
    let config = home.path().join("registry.toml");
    std::fs::write(
        &config,
        format!(
            "[[sources]]\nname = \"hang\"\nfile = {{ url = \"http://127.0.0.1:{port}/registry.json\", timeout = \"300s\" }}\nallow_private_addresses = true\nsync_policy = {{ interval = \"1h\" }}\n\n[[sources]]\nname = \"local\"\nfile = {{ path = \"{}\" }}\nsync_policy = {{ interval = \"1h\" }}\n",
            file.display()
        ),
    )
    .unwrap();
    let api = start_configured(command(home.path()), &config, ADMIN);
    let base = api.base.clone();
    // Both start syncing at start-up; `hang` waits for an answer that never comes.
    for _ in 0..100 {
        if source(&base, "hang").await["syncing"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(source(&base, "hang").await["syncing"], true);
    let local = wait_synced(&base, "local").await;
    assert_eq!(local["status"], "complete", "{local}");
    assert_eq!(
        source(&base, "hang").await["syncing"],
        true,
        "local completed only once hang gave up"
    );
    // A manual sync of `local` is not queued behind `hang` either.
    let resp = reqwest::Client::new()
        .post(format!("{base}/v1/sources/local/sync"))
        .bearer_auth(ADMIN)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("the manual sync answers while hang still waits");
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    assert_eq!(source(&base, "hang").await["syncing"], true);
}
