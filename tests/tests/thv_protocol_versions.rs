//! MCP protocol versions through `thv`'s stdio bridge with real clients and a real server: the MCP Python SDK
//! 2.x and 1.x clients (1.22, whose newest version is 2025-06-18) against `uvx://mcp-server-time` (PyPI; the
//! 2.x SDK's server), in both orders. Each client gets a version it asked for and the server speaks: the older
//! one is not handed the newer one's version (it refused it: "Unsupported protocol version"), and the newer one
//! is not downgraded when the older one came first.

use std::path::PathBuf;

use serde_json::{Value, json};
use thv_e2e::thv::{Thv, engine_image_and_python, mcp_client, skip, unique};

const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The interpreter with the 1.x SDK (`scripts/setup-python.sh`: THV_TEST_PYTHON_MCP1).
fn python_mcp1() -> Option<PathBuf> {
    let p = std::env::var_os("THV_TEST_PYTHON_MCP1")
        .map(PathBuf::from)
        .unwrap_or_else(|| thv_e2e::thv::repo_root().join("target/py-venv-mcp1/bin/python"));
    if p.is_file() {
        Some(p)
    } else {
        skip(&format!(
            "no Python with the MCP SDK 1.x at {} (run `eval \"$(scripts/setup-python.sh)\"`)",
            p.display()
        ))
    }
}

/// A session of `python`'s client calling the time server: the protocol version it got.
fn version_of(python: &std::path::Path, url: &str) -> String {
    let v: Value = mcp_client(
        python,
        &[
            "--url",
            url,
            "--transport",
            "streamable-http",
            "--call",
            "get_current_time",
            "--args",
            &json!({"timezone": "UTC"}).to_string(),
        ],
    );
    assert!(
        v["calls"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("UTC"),
        "{v}"
    );
    v["protocol_version"].as_str().unwrap().to_owned()
}

#[test]
fn older_and_newer_sdk_clients_each_get_their_version_in_either_order() {
    let Some(py2) = engine_image_and_python(
        "localhost/thv-base-python:bookworm",
        "scripts/build-base-images.sh",
    ) else {
        return;
    };
    let Some(py1) = python_mcp1() else { return };
    let thv = Thv::new();
    let name = unique("versions");
    thv.ok(&[
        "run",
        "uvx://mcp-server-time",
        "--name",
        &name,
        "--ca-cert",
        CA_BUNDLE,
    ]);
    let url = thv.url(&name);

    // The newer client first: the older one still gets the version it asked for.
    let newer = version_of(&py2, &url);
    assert_eq!(version_of(&py1, &url), "2025-06-18");
    assert!(newer.as_str() > "2025-06-18", "{newer}");

    // A fresh server, the older client first: the newer one is not downgraded to it.
    thv.ok(&["restart", &name]);
    assert_eq!(version_of(&py1, &url), "2025-06-18");
    assert_eq!(version_of(&py2, &url), newer);
}
