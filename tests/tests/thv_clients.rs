//! `thv client setup/register/remove`: registered clients get each workload's proxy URL in their files, and
//! lose it on `thv rm`, without losing the files' other content (comments included). The workload is a
//! remote one (the test MCP server run on this machine), so no container engine is needed.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use thv_e2e::thv::{Thv, unique};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn local_server() -> (Server, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = Server(
        Command::new(thv_e2e::binary("thv-test-mcp-server"))
            .env("MCP_TRANSPORT", "streamable-http")
            .env("MCP_HOST", "127.0.0.1")
            .env("MCP_PORT", port.to_string())
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the test server"),
    );
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (server, port);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the test server does not listen");
}

#[test]
fn registered_clients_follow_the_workloads() {
    let (_server, port) = local_server();
    let thv = Thv::new();
    let home = thv.home();
    // VS Code is installed and has a file with a comment and a server of the user's; Cursor is installed.
    let vscode = home.join(".config/Code/User/mcp.json");
    std::fs::create_dir_all(vscode.parent().unwrap()).unwrap();
    let original = "{\n  // my servers\n  \"servers\": {\n    \"mine\": {\"type\": \"http\", \"url\": \"http://example.com/mcp\"},\n  },\n  \"inputs\": []\n}\n";
    std::fs::write(&vscode, original).unwrap();
    std::fs::create_dir_all(home.join(".cursor")).unwrap();

    let out = thv.ok(&["client", "setup"]);
    assert!(
        out.contains("vscode: registered") && out.contains("cursor: registered"),
        "{out}"
    );
    assert!(
        !out.contains("claude-code"),
        "Claude Code is not installed: {out}"
    );
    assert_eq!(
        thv.ok(&["client", "list-registered"])
            .lines()
            .collect::<Vec<_>>(),
        ["vscode", "cursor"]
    );

    let name = unique("client");
    thv.ok(&[
        "run",
        &format!("http://127.0.0.1:{port}/mcp"),
        "--name",
        &name,
    ]);
    let url = thv.url(&name);
    let text = std::fs::read_to_string(&vscode).unwrap();
    assert!(
        text.contains("// my servers") && text.contains("\"mine\""),
        "{text}"
    );
    assert!(text.contains(&url), "{text}");
    let cursor: Value =
        serde_json::from_str(&std::fs::read_to_string(home.join(".cursor/mcp.json")).unwrap())
            .unwrap();
    assert_eq!(cursor["mcpServers"][&name]["url"], url.as_str());

    // Claude Code registered later gets the running workload.
    thv.ok(&["client", "register", "claude-code"]);
    let claude: Value =
        serde_json::from_str(&std::fs::read_to_string(home.join(".claude.json")).unwrap()).unwrap();
    assert_eq!(claude["mcpServers"][&name]["type"], "http");

    thv.ok(&["rm", &name]);
    assert_eq!(
        std::fs::read_to_string(&vscode).unwrap(),
        original,
        "the user's file is as it was"
    );
    let cursor: Value =
        serde_json::from_str(&std::fs::read_to_string(home.join(".cursor/mcp.json")).unwrap())
            .unwrap();
    assert!(cursor["mcpServers"].get(&name).is_none());

    thv.ok(&["client", "remove", "cursor"]);
    assert_eq!(
        thv.ok(&["client", "list-registered"])
            .lines()
            .collect::<Vec<_>>(),
        ["vscode", "claude-code"]
    );
    let err = thv.fails(&["client", "register", "notepad"]);
    assert!(err.contains("unknown client 'notepad'"), "{err}");
}

#[test]
fn a_malformed_client_file_is_never_overwritten() {
    let (_server, port) = local_server();
    let thv = Thv::new();
    let cursor = thv.home().join(".cursor/mcp.json");
    std::fs::create_dir_all(cursor.parent().unwrap()).unwrap();
    std::fs::write(&cursor, "{\"mcpServers\": {").unwrap();
    thv.ok(&["client", "register", "cursor"]);
    let name = unique("badfile");
    let out = thv.run(&[
        "run",
        &format!("http://127.0.0.1:{port}/mcp"),
        "--name",
        &name,
    ]);
    assert!(
        out.status.success(),
        "the workload runs even when a client file cannot be updated"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mcp.json") && err.contains("left unchanged"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&cursor).unwrap(),
        "{\"mcpServers\": {"
    );
}
