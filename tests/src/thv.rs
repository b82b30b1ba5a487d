//! A `thv` user in a sandbox: its own HOME and XDG directories (so its config, state, secrets and client
//! files are the test's), the engine of the environment (`DOCKER_HOST`), and helpers to run commands, to
//! reach the proxies with the official Python MCP client (`tests/python/mcp_client.py`, `THV_TEST_PYTHON`
//! from `scripts/setup-python.sh`), and to skip — or, under `CI=true`, fail — when a part is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

/// The local test image of `tests/mcp-test-server` (`scripts/build-test-images.sh`).
pub const TEST_SERVER_IMAGE: &str = "localhost/thv-test-mcp-server:latest";

/// A registry entry (server.json) for the test image over stdio, version 1.0.0; `package` keys (e.g.
/// `environmentVariables`) are added to its OCI package.
pub fn test_server_entry(name: &str, package: Value) -> Value {
    let mut pkg = serde_json::json!({
        "registryType": "oci",
        "identifier": TEST_SERVER_IMAGE,
        "transport": {"type": "stdio"}
    });
    if let (Some(p), Value::Object(extra)) = (pkg.as_object_mut(), package) {
        p.extend(extra);
    }
    serde_json::json!({
        "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
        "name": name,
        "description": "The test server",
        "version": "1.0.0",
        "packages": [pkg]
    })
}

/// Whether this is CI (`CI=true`): missing parts fail instead of skipping.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Skips (prints why, returns `None`) or, under CI, panics.
pub fn skip<T>(why: &str) -> Option<T> {
    assert!(!ci(), "CI=true, but this test cannot run: {why}");
    crate::record_skip(why);
    None
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repository root")
        .to_path_buf()
}

/// The Python interpreter with the `mcp` SDK, or `None` (skip).
pub fn python() -> Option<PathBuf> {
    let p = std::env::var_os("THV_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/py-venv/bin/python"));
    if p.is_file() {
        Some(p)
    } else {
        skip(&format!(
            "no Python with the MCP SDK at {} (run `eval \"$(scripts/setup-python.sh)\"`)",
            p.display()
        ))
    }
}

/// Whether the engine has the image (asked with `podman`, or `docker` where there is no podman).
pub fn engine_has_image(image: &str) -> Result<bool, String> {
    for tool in ["podman", "docker"] {
        let mut c = if tool == "podman" {
            podman(&["image", "exists", image])
        } else {
            let mut c = Command::new(tool);
            c.args(["image", "inspect", image]);
            c
        };
        match c.stdout(Stdio::null()).stderr(Stdio::null()).status() {
            Ok(s) => return Ok(s.success()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.to_string()),
        }
    }
    Err("neither podman nor docker is installed".into())
}

/// `podman ARGS` against the engine the tests use (`--url $DOCKER_HOST` when it is set).
pub fn podman(args: &[&str]) -> Command {
    let mut c = Command::new("podman");
    if let Ok(host) = std::env::var("DOCKER_HOST") {
        c.arg("--url").arg(host);
    }
    c.args(args);
    c
}

/// `podman inspect NAME` (a container or a network): its JSON object.
pub fn inspect(name: &str) -> Value {
    let out = podman(&["inspect", name]).output().expect("podman inspect");
    assert!(
        out.status.success(),
        "podman inspect {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout).expect("inspect JSON")[0].clone()
}

/// A `thv` user with its own directories. Workloads it started are removed when it is dropped.
pub struct Thv {
    root: tempfile::TempDir,
    bin: PathBuf,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A workload name unique to this test process.
pub fn unique(tag: &str) -> String {
    format!(
        "e2e-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl Thv {
    pub fn new() -> Self {
        Self {
            root: tempfile::tempdir().expect("temp dir"),
            bin: crate::binary("thv"),
        }
    }

    /// The sandbox's home directory.
    pub fn home(&self) -> &Path {
        self.root.path()
    }

    /// A `thv` command with the sandbox's environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        let h = self.root.path();
        c.args(args)
            .env("HOME", h)
            .env("XDG_CONFIG_HOME", h.join(".config"))
            .env("XDG_STATE_HOME", h.join(".local/state"))
            .env("XDG_DATA_HOME", h.join(".local/share"))
            .env("THV_LOG", "thv=info,warn")
            .stdin(Stdio::null());
        c
    }

    /// Runs `thv ARGS` to the end.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run thv")
    }

    /// Runs `thv ARGS`, which must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "thv {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `thv ARGS`, which must succeed; its stderr (warnings and notices).
    pub fn ok_stderr(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "thv {args:?} failed ({}):\n{stderr}",
            out.status
        );
        stderr
    }

    /// Runs `thv ARGS`, which must fail; its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "thv {args:?} succeeded but should fail:\nstdout: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `thv status NAME --format json`.
    pub fn status(&self, name: &str) -> Value {
        serde_json::from_str(&self.ok(&["status", name, "--format", "json"])).expect("status JSON")
    }

    /// The proxy URL of a workload.
    pub fn url(&self, name: &str) -> String {
        self.status(name)["url"].as_str().expect("url").to_owned()
    }
}

impl Default for Thv {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Thv {
    fn drop(&mut self) {
        let _ = self.command(&["rm", "--all"]).output();
    }
}

/// Runs the Python MCP client (`tests/python/mcp_client.py`) with `args`; its JSON output. Panics with the
/// client's stderr when it fails.
pub fn mcp_client(python: &Path, args: &[&str]) -> Value {
    let script = repo_root().join("tests/python/mcp_client.py");
    let out = Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .expect("run the Python MCP client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let parsed: Option<Value> = serde_json::from_str(stdout.trim()).ok();
    assert!(
        out.status.success() && parsed.is_some(),
        "mcp_client.py {args:?} failed ({}):\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    parsed.expect("JSON")
}

/// Calls one tool through `url` within `timeout_secs`, for a proxy that may not answer yet: the client's output,
/// or `None` when it failed.
pub fn try_call(
    python: &Path,
    url: &str,
    transport: &str,
    tool: &str,
    timeout_secs: u32,
) -> Option<Value> {
    let t = timeout_secs.to_string();
    let argv = [
        "--url",
        url,
        "--transport",
        transport,
        "--call",
        tool,
        "--timeout",
        &t,
    ];
    let out = Command::new(python)
        .arg(repo_root().join("tests/python/mcp_client.py"))
        .args(argv)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// Calls one tool through `url`: the client's whole output.
pub fn call(python: &Path, url: &str, transport: &str, tool: &str, args: &Value) -> Value {
    let a = args.to_string();
    let argv = [
        "--url",
        url,
        "--transport",
        transport,
        "--call",
        tool,
        "--args",
        &a,
    ];
    mcp_client(python, &argv)
}

/// Calls one tool through `url` and returns its text.
pub fn call_tool(python: &Path, url: &str, transport: &str, tool: &str, args: &Value) -> String {
    let v = call(python, url, transport, tool, args);
    v["calls"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// `sessions` concurrent client sessions making `calls` echo calls each (and a sleep of `sleep_ms` after each
/// when non-zero): the client's summary (`sessions`, `calls`, `mismatches`).
pub fn concurrent_sessions(
    python: &Path,
    url: &str,
    transport: &str,
    sessions: u32,
    calls: u32,
    sleep_ms: u32,
) -> Value {
    let (s, c, ms) = (
        sessions.to_string(),
        calls.to_string(),
        sleep_ms.to_string(),
    );
    let argv = [
        "--url",
        url,
        "--transport",
        transport,
        "--sessions",
        &s,
        "--calls",
        &c,
        "--sleep-ms",
        &ms,
    ];
    mcp_client(python, &argv)
}

/// The Python client, when the engine has `image`; else skip (or fail under CI).
pub fn engine_image_and_python(image: &str, hint: &str) -> Option<PathBuf> {
    match engine_has_image(image) {
        Ok(true) => python(),
        Ok(false) => skip(&format!("the image {image} is missing (run {hint})")),
        Err(e) => skip(&format!("no container engine: {e}")),
    }
}
