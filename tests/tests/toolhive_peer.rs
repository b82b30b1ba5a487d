//! ToolHive's own CLI (`thv` of `github.com/stacklok/toolhive`, installed by `.ci/run` as `thv-toolhive`) with
//! `thv-registry-api` as its registry, on SQLite and PostgreSQL: `thv config set-registry URL` (which probes
//! `/v0.1/servers`), `thv registry list`, `thv registry info NAME`, `thv search`, and `thv run NAME` of an entry
//! published here, through the engine (Podman), its tool called by the official Python MCP client through
//! ToolHive's proxy.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use thv_e2e::thv::{TEST_SERVER_IMAGE, engine_image_and_python, skip, test_server_entry, unique};

/// ToolHive's CLI, or skip (fail under `CI=true`) when it is not installed.
fn toolhive() -> Option<&'static str> {
    if Command::new("thv-toolhive").arg("version").output().is_ok() {
        Some("thv-toolhive")
    } else {
        skip(
            "ToolHive's thv is not installed as thv-toolhive: scripts/install-peer-tools.sh (.ci/run runs it)",
        )
    }
}

/// `thv ARGS` of ToolHive with its own HOME, talking to the Podman socket.
fn toolhive_run(bin: &str, home: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("TOOLHIVE_SKIP_UPDATE_CHECK", "true")
        .env("TOOLHIVE_PODMAN_SOCKET", podman_socket())
        .args(args)
        .output()
        .expect("ToolHive's thv runs")
}

fn podman_socket() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(str::to_owned))
        .unwrap_or_else(|| "/run/podman/podman.sock".into())
}

fn ok(bin: &str, home: &Path, args: &[&str]) -> String {
    let out = toolhive_run(bin, home, args);
    assert!(
        out.status.success(),
        "thv {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Every server name the registry API lists (latest versions), page by page.
fn api_names(base: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut cursor = String::new();
    loop {
        let url = format!("{base}/v0.1/servers?limit=100{cursor}");
        let out = Command::new("curl").args(["-sf", &url]).output().unwrap();
        let page = json_of(&String::from_utf8_lossy(&out.stdout));
        for s in page["servers"].as_array().unwrap() {
            names.push(s["server"]["name"].as_str().unwrap().to_owned());
        }
        match page["metadata"]["nextCursor"].as_str() {
            Some(c) if !c.is_empty() => cursor = format!("&cursor={c}"),
            _ => return names,
        }
    }
}

#[test]
fn toolhive_reads_and_runs_servers_from_the_registry_api_on_sqlite() {
    let Some(bin) = toolhive() else { return };
    toolhive_against(bin, &[]);
}

#[test]
fn toolhive_reads_and_runs_servers_from_the_registry_api_on_postgres() {
    let Some(bin) = toolhive() else { return };
    let Some(db) = thv_e2e::registry_api::postgres_database("toolhive") else {
        return;
    };
    toolhive_against(bin, &["--database-url", &db]);
}

fn toolhive_against(bin: &str, backend: &[&str]) {
    let Some(python) = engine_image_and_python(TEST_SERVER_IMAGE, "scripts/build-test-images.sh")
    else {
        return;
    };
    // The registry: the bundled catalogue, and the test server published into it.
    let api_home = tempfile::tempdir().unwrap();
    let api = thv_e2e::registry_api::start_with(api_home.path(), backend);
    let token = thv_e2e::registry_api::mint_token(api_home.path(), "com.example/*", "publish");
    let name = "com.example/toolhive-peer";
    let published = Command::new("curl")
        .args(["-sf", "-X", "POST", "-H", "Content-Type: application/json"])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args([
            "-d",
            &test_server_entry(name, serde_json::json!({})).to_string(),
        ])
        .arg(format!("{}/v0/publish", api.base))
        .output()
        .unwrap();
    assert!(published.status.success(), "{published:?}");

    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let out = ok(
        bin,
        h,
        &["config", "set-registry", &api.base, "--allow-private-ip"],
    );
    let config = std::fs::read_to_string(h.join(".config/toolhive/config.yaml")).unwrap();
    assert!(
        config.contains(&format!("registry_api_url: {}", api.base)),
        "ToolHive took it as an API registry: {out}\n{config}"
    );

    // list: every server the API lists, by the same names.
    let listed = json_of(&ok(bin, h, &["registry", "list", "--format", "json"]));
    let mut listed: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    let mut expected = api_names(&api.base);
    listed.sort();
    expected.sort();
    assert!(expected.len() > 100, "{}", expected.len());
    assert_eq!(listed, expected);

    // info: ToolHive's view of a bundled entry (image, transport, tools, permissions from its metadata) and of ours.
    let fetch = json_of(&ok(
        bin,
        h,
        &[
            "registry",
            "info",
            "io.github.stacklok/fetch",
            "--format",
            "json",
        ],
    ));
    assert_eq!(
        fetch["image"], "ghcr.io/stackloklabs/gofetch/server:1.0.3",
        "{fetch}"
    );
    assert_eq!(fetch["transport"], "streamable-http", "{fetch}");
    assert!(
        fetch["tools"]
            .as_array()
            .is_some_and(|t| t.iter().any(|x| x == "fetch")),
        "{fetch}"
    );
    let ours = json_of(&ok(bin, h, &["registry", "info", name, "--format", "json"]));
    assert_eq!(ours["image"], TEST_SERVER_IMAGE, "{ours}");
    assert_eq!(ours["transport"], "stdio", "{ours}");

    // search: ToolHive's substring match over what the API serves.
    let found = json_of(&ok(
        bin,
        h,
        &["search", "toolhive-peer", "--format", "json"],
    ));
    let found: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(found, [name]);
    let text = ok(bin, h, &["search", "time"]);
    assert!(text.contains("io.github.stacklok/time"), "{text}");

    // run: ToolHive resolves the entry through the API and runs its image through Podman behind its proxy.
    let workload = unique("toolhive-peer");
    let _cleanup = Removed {
        bin,
        home: h,
        workload: &workload,
    };
    ok(
        bin,
        h,
        &["run", name, "--name", &workload, "--isolate-network=false"],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = loop {
        let list = json_of(&ok(bin, h, &["list", "--format", "json"]));
        let running = list.as_array().and_then(|l| {
            l.iter()
                .find(|w| w["name"] == workload.as_str() && w["status"] == "running")
        });
        if let Some(url) = running.and_then(|w| w["url"].as_str()) {
            break url.to_owned();
        }
        assert!(Instant::now() < deadline, "not running: {list}");
        std::thread::sleep(Duration::from_millis(500));
    };
    let echoed = thv_e2e::thv::call_tool(
        &python,
        &url,
        "streamable-http",
        "echo",
        &serde_json::json!({"text": "through ToolHive"}),
    );
    assert_eq!(echoed, "through ToolHive");
}

/// Removes ToolHive's workload (its container and proxy) when the test ends, passed or not.
struct Removed<'a> {
    bin: &'a str,
    home: &'a Path,
    workload: &'a str,
}

impl Drop for Removed<'_> {
    fn drop(&mut self) {
        let _ = toolhive_run(self.bin, self.home, &["rm", self.workload]);
    }
}
