//! The tools, driven over an in-memory pipe with raw JSON-RPC lines (this crate has no MCP client).

use std::sync::Arc;

use rmcp::ServiceExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines};

use crate::instance::Instance;
use crate::server::TestServer;

struct Client {
    writer: tokio::io::WriteHalf<DuplexStream>,
    lines: Lines<BufReader<tokio::io::ReadHalf<DuplexStream>>>,
}

impl Client {
    async fn start(instance: Instance) -> Self {
        let (server_end, client_end) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            let service = TestServer::new(Arc::new(instance))
                .serve(server_end)
                .await
                .expect("server start");
            let _ = service.waiting().await;
        });
        let (reader, writer) = tokio::io::split(client_end);
        let mut client = Self {
            writer,
            lines: BufReader::new(reader).lines(),
        };
        let init = client
            .request(
                1,
                "initialize",
                json!({"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "test", "version": "1"}}),
            )
            .await;
        assert_eq!(init["result"]["serverInfo"]["name"], "thv-test-mcp-server");
        client
            .send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        client
    }

    async fn send(&mut self, message: Value) {
        let line = format!("{message}\n");
        self.writer.write_all(line.as_bytes()).await.unwrap();
    }

    async fn next(&mut self) -> Value {
        let line = self.lines.next_line().await.unwrap().expect("a line");
        serde_json::from_str(&line).unwrap()
    }

    async fn request(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        self.next().await
    }

    /// Calls `tool`; returns its result and the notifications that came before it.
    async fn call(&mut self, id: u64, params: Value) -> (Value, Vec<Value>) {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}))
            .await;
        let mut notifications = Vec::new();
        loop {
            let message = self.next().await;
            if message.get("id") == Some(&json!(id)) {
                return (message["result"].clone(), notifications);
            }
            notifications.push(message);
        }
    }
}

fn text(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn tools_answer_as_documented() {
    let instance = Instance::current();
    let mut client = Client::start(instance.clone()).await;

    let tools = client.request(2, "tools/list", json!({})).await;
    let mut names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["add", "echo", "env", "progress", "sleep", "whoami"]);

    let echo = json!({"name": "echo", "arguments": {"text": "héllo"}});
    assert_eq!(text(&client.call(3, echo).await.0), "héllo");
    let add = json!({"name": "add", "arguments": {"a": 40, "b": 2}});
    assert_eq!(text(&client.call(4, add).await.0), "42");
    let whoami = client.call(5, json!({"name": "whoami"})).await.0;
    assert_eq!(text(&whoami), instance.to_json());
    let sleep = json!({"name": "sleep", "arguments": {"ms": 5}});
    assert_eq!(text(&client.call(6, sleep).await.0), "slept 5ms");
}

#[tokio::test]
async fn progress_uses_the_request_token() {
    let mut client = Client::start(Instance::current()).await;
    let params =
        json!({"name": "progress", "arguments": {"steps": 3}, "_meta": {"progressToken": "tok-1"}});
    let (result, notifications) = client.call(2, params).await;
    assert_eq!(text(&result), "3 progress notifications sent");
    let progress: Vec<(Value, Value)> = notifications
        .iter()
        .filter(|n| n["method"] == "notifications/progress")
        .map(|n| {
            (
                n["params"]["progressToken"].clone(),
                n["params"]["progress"].clone(),
            )
        })
        .collect();
    assert_eq!(
        progress,
        [1.0, 2.0, 3.0].map(|p| (json!("tok-1"), json!(p))).to_vec()
    );

    let untracked = json!({"name": "progress", "arguments": {"steps": 2}});
    assert_eq!(
        text(&client.call(3, untracked).await.0),
        "0 progress notifications sent"
    );
}

#[tokio::test]
async fn env_reads_the_process_environment() {
    let mut client = Client::start(Instance::current()).await;
    // PATH is set wherever tests run; a name nobody sets is a tool error, not a protocol error.
    let path = std::env::var("PATH").unwrap();
    let found = client
        .call(2, json!({"name": "env", "arguments": {"name": "PATH"}}))
        .await
        .0;
    assert_eq!(
        (text(&found), &found["isError"]),
        (path.as_str(), &json!(false))
    );
    let missing = json!({"name": "env", "arguments": {"name": "THV_TEST_SURELY_UNSET_VARIABLE"}});
    let missing = client.call(3, missing).await.0;
    assert_eq!(missing["isError"], true);
    assert!(text(&missing).starts_with("THV_TEST_SURELY_UNSET_VARIABLE: "));
}
