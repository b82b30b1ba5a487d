//! `thv run uvx://…`, `npx://…` and `go://…` with real packages from PyPI, npm and the Go module proxy: the
//! image is built through the engine on the local base images (`scripts/build-base-images.sh`), with this
//! machine's CA bundle (`--ca-cert`, as a corporate proxy needs), then called through the proxy with the official
//! Python MCP client.

use serde_json::{Value, json};
use thv_e2e::thv::{Thv, call, call_tool, engine_image_and_python, unique};

const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

fn prerequisites(base: &str) -> Option<std::path::PathBuf> {
    engine_image_and_python(base, "scripts/build-base-images.sh")
}

#[test]
fn uvx_package_runs_by_its_scheme() {
    let Some(py) = prerequisites("localhost/thv-base-python:bookworm") else {
        return;
    };
    let thv = Thv::new();
    // `thv build --dry-run` shows the Dockerfile: pinned version, non-root user.
    let dockerfile = thv.ok(&[
        "build",
        "uvx://mcp-server-time",
        "--dry-run",
        "--ca-cert",
        CA_BUNDLE,
    ]);
    assert!(dockerfile.contains("mcp-server-time=="), "{dockerfile}");
    assert!(dockerfile.contains("USER "), "{dockerfile}");

    let name = unique("uvx");
    thv.ok(&[
        "run",
        "uvx://mcp-server-time",
        "--name",
        &name,
        "--ca-cert",
        CA_BUNDLE,
    ]);
    let status = thv.status(&name);
    let package = status["package"].as_str().unwrap();
    assert!(
        package.starts_with("uvx://mcp-server-time@"),
        "the version is pinned: {package}"
    );
    let text = call_tool(
        &py,
        &thv.url(&name),
        "streamable-http",
        "get_current_time",
        &json!({"timezone": "UTC"}),
    );
    let v: Value = serde_json::from_str(&text).expect("JSON time");
    assert_eq!(v["timezone"], "UTC");
    // The image exists now: `thv build` finds it.
    let image = thv.ok(&["build", "uvx://mcp-server-time", "--ca-cert", CA_BUNDLE]);
    assert!(
        image
            .trim()
            .starts_with("localhost/thv-uvx-mcp-server-time:"),
        "{image}"
    );
}

#[test]
fn npx_package_runs_by_its_scheme_over_both_proxy_modes() {
    let Some(py) = prerequisites("localhost/thv-base-node:bookworm") else {
        return;
    };
    let thv = Thv::new();
    let name = unique("npx");
    thv.ok(&[
        "run",
        "npx://@modelcontextprotocol/server-everything",
        "--name",
        &name,
        "--ca-cert",
        CA_BUNDLE,
        "--",
        "stdio",
    ]);
    let url = thv.url(&name);
    let v = call(
        &py,
        &url,
        "streamable-http",
        "echo",
        &json!({"message":"hi"}),
    );
    assert!(
        v["calls"][0]["text"].as_str().unwrap().contains("hi"),
        "{v}"
    );
    // The same server offered over SSE (from the exported RunConfig, under another name and port).
    let file = thv.home().join("everything.json");
    thv.ok(&["export", &name, file.to_str().unwrap()]);
    let mut rc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    rc["proxy_mode"] = json!("sse");
    rc.as_object_mut().unwrap().remove("port");
    std::fs::write(&file, rc.to_string()).unwrap();
    let sse_name = unique("npx-sse");
    thv.ok(&[
        "run",
        "--from-config",
        file.to_str().unwrap(),
        "--name",
        &sse_name,
    ]);
    let sse_url = thv.url(&sse_name);
    assert!(sse_url.ends_with("/sse"));
    let v = call(&py, &sse_url, "sse", "echo", &json!({"message":"sse"}));
    assert!(
        v["calls"][0]["text"].as_str().unwrap().contains("sse"),
        "{v}"
    );
}

/// A real Go MCP server module (the official Go SDK's `hello` example) from the Go module proxy: built by `go
/// install` in the local Go base image (the host's Go toolchain, as modules now ask for a recent Go), reaching the
/// proxy with this machine's CA bundle, run through the engine and called through the proxy.
#[test]
fn go_module_runs_by_its_scheme() {
    let Some(py) = prerequisites("localhost/thv-base-go:bookworm") else {
        return;
    };
    let thv = Thv::new();
    let name = unique("go");
    thv.ok(&[
        "run",
        "go://github.com/modelcontextprotocol/go-sdk/examples/server/hello@v1.8.0",
        "--name",
        &name,
        "--ca-cert",
        CA_BUNDLE,
    ]);
    let text = call_tool(
        &py,
        &thv.url(&name),
        "streamable-http",
        "greet",
        &json!({"name": "thv"}),
    );
    assert_eq!(text, "Hi thv");
    thv.ok(&["rm", &name]);
}
