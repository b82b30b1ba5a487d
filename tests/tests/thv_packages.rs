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

/// Users behind their own module proxy: Go's variables in thv's environment reach `go install` in the build
/// (GOPROXY=off makes it refuse to look the module up, and says so), and `thv config set-build-env` sets them for
/// every build, GOFLAGS kept after the build's own -trimpath, URL passwords never printed.
#[test]
fn go_builds_take_the_users_module_proxy_settings() {
    if prerequisites("localhost/thv-base-go:bookworm").is_none() {
        return;
    }
    let thv = Thv::new();
    // A version no other test builds, so no image exists and the build must ask the proxy.
    let module = "go://github.com/modelcontextprotocol/go-sdk/examples/server/hello@v1.7.0";
    let out = thv
        .command(&["build", module, "--ca-cert", CA_BUNDLE])
        .env("GOPROXY", "off")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("GOPROXY=off"), "{err}");

    thv.ok(&["config", "set-build-env", "GOFLAGS", "-mod=mod"]);
    thv.ok(&[
        "config",
        "set-build-env",
        "GOPROXY",
        "https://bob:s3cret@goproxy.corp.example,direct",
    ]);
    let shown = thv.ok(&["config", "get-build-env"]);
    assert!(
        shown.contains("GOPROXY=https://bob:***@goproxy.corp.example,direct (configured)"),
        "{shown}"
    );
    assert!(!shown.contains("s3cret"), "{shown}");
    let dockerfile = thv.ok(&["build", module, "--dry-run"]);
    assert!(
        dockerfile.contains(r#"GOFLAGS="-trimpath -mod=mod""#),
        "{dockerfile}"
    );
    assert!(
        dockerfile.contains(r#"ENV GOPROXY="https://bob:***@goproxy.corp.example,direct""#),
        "{dockerfile}"
    );
    assert!(!dockerfile.contains("s3cret"), "{dockerfile}");
    for reserved in ["PATH", "CGO_ENABLED"] {
        let refused = thv.fails(&["config", "set-build-env", reserved, "/x"]);
        assert!(refused.contains("set by the build"), "{refused}");
    }
    thv.ok(&["config", "unset-build-env", "GOPROXY"]);
    // --from-env: the name is kept, the value read at build time.
    thv.ok(&["config", "set-build-env", "GOPRIVATE", "--from-env"]);
    let out = thv
        .command(&["config", "get-build-env", "GOPRIVATE"])
        .env("GOPRIVATE", "corp.example/*")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("GOPRIVATE=*** (from thv's environment (--from-env))"),
        "{shown}"
    );
    let config = thv.ok(&["config", "show"]);
    assert!(!config.contains("corp.example/*"), "{config}");
    thv.ok(&["config", "unset-build-env", "--all"]);
    let shown = thv.ok(&["config", "get-build-env"]);
    assert!(shown.contains("no variables"), "{shown}");
}

/// A build environment holding a credential: the engine's build output never shows it, and the builder stage's
/// intermediate images, which hold it, are removed after the build, failed or not.
#[test]
fn build_environment_credentials_leave_no_trace() {
    if prerequisites("localhost/thv-base-python:bookworm").is_none() {
        return;
    }
    let thv = Thv::new();
    let secret = "TRIALSECRETPW";
    thv.ok(&[
        "config",
        "set-build-env",
        "PIP_INDEX_URL",
        &format!("http://trialuser:{secret}@127.0.0.1:9/simple"),
    ]);
    thv.ok(&[
        "config",
        "set-build-env",
        "UV_INDEX_URL",
        &format!("http://trialuser:{secret}@127.0.0.1:9/simple"),
    ]);
    let out = thv
        .command(&["build", "uvx://thv-no-such-package-xyz@1.0.0"])
        .env("THV_LOG", "thv=debug")
        .output()
        .unwrap();
    let all =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{all}");
    assert!(all.contains("STEP") || all.contains("failed"), "{all}");
    assert!(!all.contains(secret), "{all}");
    // This build's builder stage only: the other tests of this file build packages at the same time, without a
    // build environment, and their builder stages stay as the engine's layer cache.
    let left = thv_e2e::thv::podman(&[
        "images",
        "--filter",
        "label=dev.toolhive.build-stage=builder",
        "--filter",
        "dangling=true",
        "--format",
        "{{.ID}} {{index .Labels \"toolhive-package\"}}",
    ])
    .output()
    .unwrap();
    let left = String::from_utf8_lossy(&left.stdout);
    assert!(
        !left.contains("thv-no-such-package-xyz"),
        "this build's builder-stage images are left: {left}"
    );
}
