//! The official registry's publisher CLI (`mcp-publisher`, installed by `.ci/run` as `publisher`), run as a user
//! runs it: its own HOME (where it keeps its token), its output read.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::thv::skip;

/// The publisher's command name, or `None` (skipped, or failed under `CI=true`) when it is not installed.
pub fn publisher() -> Option<&'static str> {
    let found = Command::new("publisher").arg("--help").output().is_ok();
    if found {
        Some("publisher")
    } else {
        skip(
            "the official publisher CLI is not installed: go install \
             github.com/modelcontextprotocol/registry/cmd/publisher@v1.8.9 (.ci/run does)",
        )
    }
}

/// `publisher ARGS` with its own home (where it keeps its token): exit status and output.
pub fn run(bin: &str, home: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(bin)
        .current_dir(home)
        .env("HOME", home)
        .args(args)
        .output()
        .expect("publisher runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// `publisher ARGS` answering its questions with `input`.
pub fn run_answering(bin: &str, home: &Path, args: &[&str], input: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new(bin)
        .current_dir(home)
        .env("HOME", home)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("publisher runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// A minimal valid server.json named `name` (a remote).
pub fn server_json(name: &str) -> Value {
    json!({"$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
           "name": name, "description": "Published by the official publisher", "version": "1.0.0",
           "remotes": [{"type": "streamable-http", "url": format!("https://mcp.example.com/{}", name.replace('/', "-"))}]})
}
