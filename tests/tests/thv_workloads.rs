//! `thv` end to end through the real engine (Podman's API socket or Docker), with the local test MCP server
//! image (`localhost/thv-test-mcp-server:latest`, built from `tests/mcp-test-server` by
//! `scripts/build-test-images.sh`) and the official Python MCP client over streamable HTTP and SSE.
//!
//! Without an engine, the image or the Python SDK each test prints why and returns; under `CI=true` it fails.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use thv_e2e::thv::{
    TEST_SERVER_IMAGE, Thv, call, call_tool, concurrent_sessions, engine_has_image,
    engine_image_and_python, inspect, podman, python, skip, test_server_entry, try_call, unique,
};

fn prerequisites() -> Option<PathBuf> {
    engine_image_and_python(TEST_SERVER_IMAGE, "scripts/build-test-images.sh")
}

fn whoami(py: &std::path::Path, url: &str) -> String {
    call_tool(py, url, "streamable-http", "whoami", &json!({}))
}

#[test]
fn image_lifecycle_stop_start_export_and_from_config() {
    let Some(py) = prerequisites() else { return };
    let thv = Thv::new();
    let name = unique("life");
    let out = thv.ok(&["run", TEST_SERVER_IMAGE, "--name", &name]);
    assert!(
        out.contains(&format!("{name} is running: http://127.0.0.1:")),
        "{out}"
    );
    let url = thv.url(&name);
    assert!(url.ends_with("/mcp"));
    let v = call(
        &py,
        &url,
        "streamable-http",
        "echo",
        &json!({"text":"hello"}),
    );
    assert_eq!(v["calls"][0]["text"], "hello");
    assert!(v["tools"].as_array().unwrap().iter().any(|t| t == "whoami"));

    // list: table and JSON.
    let table = thv.ok(&["list"]);
    assert!(
        table.contains("NAME") && table.contains(&name) && table.contains("running"),
        "{table}"
    );
    let list: Value = serde_json::from_str(&thv.ok(&["list", "--format", "json"])).unwrap();
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name.as_str())
        .expect("listed");
    assert_eq!(row["status"], "running");
    assert_eq!(row["transport_type"], "stdio");
    assert_eq!(row["package"], TEST_SERVER_IMAGE);

    // stop: gone from `list`, `stopped` in `list --all`; start: same URL, a new server process.
    let before = whoami(&py, &url);
    thv.ok(&["stop", &name]);
    assert!(!thv.ok(&["list"]).contains(&name));
    assert_eq!(thv.status(&name)["status"], "stopped");
    thv.ok(&["start", &name]);
    assert_eq!(thv.url(&name), url, "the proxy comes back on its port");
    let after = whoami(&py, &url);
    assert_ne!(before, after, "the container was started again");
    thv.ok(&["restart", &name]);
    assert_ne!(whoami(&py, &url), after);
    assert!(
        thv.ok(&["logs", &name, "--proxy"])
            .contains("proxy listening")
    );
    // The container's log (the server writes its start line to stderr).
    let out = thv.run(&["logs", &name]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("thv-test-mcp-server: pid"));

    // export, rm, run --from-config.
    let file = thv.home().join("exported.json");
    thv.ok(&["export", &name, file.to_str().unwrap()]);
    let exported: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(exported["schema_version"], "v1");
    assert_eq!(exported["image"], TEST_SERVER_IMAGE);
    thv.ok(&["rm", &name]);
    assert!(thv.fails(&["status", &name]).contains("not found"));
    assert_eq!(
        engine_has_container(&name),
        Some(false),
        "the container is removed"
    );
    thv.ok(&["run", "--from-config", file.to_str().unwrap()]);
    assert_eq!(thv.url(&name), url);
    assert_eq!(
        call_tool(
            &py,
            &url,
            "streamable-http",
            "add",
            &json!({"a": 2, "b": 40})
        ),
        "42"
    );
    thv.ok(&["rm", &name]);
}

/// Whether the engine has a container of that name (None: cannot ask).
fn engine_has_container(name: &str) -> Option<bool> {
    let mut c = podman(&["container", "exists", name]);
    c.stdout(Stdio::null()).stderr(Stdio::null());
    c.status().ok().map(|s| s.success())
}

#[test]
fn thirty_two_sessions_share_one_stdio_server() {
    let Some(py) = prerequisites() else { return };
    let thv = Thv::new();
    let name = unique("sessions");
    thv.ok(&["run", TEST_SERVER_IMAGE, "--name", &name]);
    let url = thv.url(&name);
    let v = thv_e2e::thv::mcp_client(
        &py,
        &[
            "--url",
            &url,
            "--transport",
            "streamable-http",
            "--sessions",
            "32",
            "--calls",
            "5",
            "--sleep-ms",
            "20",
            "--whoami",
        ],
    );
    assert_eq!(v["sessions"], 32);
    assert_eq!(v["calls"], 320, "{v}");
    assert_eq!(v["mismatches"], 0, "{v}");
    // Shared: every session reached one and the same server process.
    assert_eq!(v["servers"].as_array().unwrap().len(), 1, "{v}");
    assert!(
        v["servers"][0].as_str().unwrap().contains("instance"),
        "{v}"
    );
    // Progress notifications reach the session that asked.
    let p = call(
        &py,
        &url,
        "streamable-http",
        "progress",
        &json!({"steps":3}),
    );
    assert_eq!(
        p["calls"][0]["progress"].as_array().unwrap().len(),
        3,
        "{p}"
    );
}

#[test]
fn sse_proxy_mode() {
    let Some(py) = prerequisites() else { return };
    let thv = Thv::new();
    let name = unique("sse");
    thv.ok(&[
        "run",
        TEST_SERVER_IMAGE,
        "--name",
        &name,
        "--proxy-mode",
        "sse",
    ]);
    let url = thv.url(&name);
    assert!(url.ends_with("/sse"), "{url}");
    assert_eq!(
        call_tool(&py, &url, "sse", "echo", &json!({"text": "over sse"})),
        "over sse"
    );
    let v = concurrent_sessions(&py, &url, "sse", 8, 3, 0);
    assert_eq!(v["mismatches"], 0, "{v}");
}

#[test]
fn http_server_behind_the_transparent_proxy() {
    let Some(py) = prerequisites() else { return };
    let thv = Thv::new();
    let name = unique("http");
    thv.ok(&[
        "run",
        TEST_SERVER_IMAGE,
        "--name",
        &name,
        "--transport",
        "streamable-http",
        "--target-port",
        "8080",
    ]);
    let url = thv.url(&name);
    let v = call(
        &py,
        &url,
        "streamable-http",
        "env",
        &json!({"name":"MCP_TRANSPORT"}),
    );
    assert_eq!(v["calls"][0]["text"], "streamable-http");
    // Isolated (the default): the server's container publishes nothing and sits on its internal network only;
    // its egress sidecar publishes the port on loopback and forwards it.
    let server = inspect(&name);
    assert!(
        server["HostConfig"]["PortBindings"]
            .as_object()
            .is_none_or(|m| m.values().all(|b| b.as_array().is_none_or(Vec::is_empty))),
        "the server publishes nothing: {}",
        server["HostConfig"]["PortBindings"]
    );
    let networks: Vec<&String> = server["NetworkSettings"]["Networks"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(networks, vec![&format!("toolhive-{name}-internal")]);
    let sidecar = inspect(&format!("{name}-egress"));
    let bindings = &sidecar["HostConfig"]["PortBindings"]["8080/tcp"];
    assert_eq!(bindings[0]["HostIp"], "127.0.0.1", "{bindings}");
    let v = concurrent_sessions(&py, &url, "streamable-http", 8, 3, 0);
    assert_eq!(v["mismatches"], 0, "{v}");
    // The published container port survives a restart of the workload.
    thv.ok(&["restart", &name]);
    assert_eq!(
        call_tool(
            &py,
            &url,
            "streamable-http",
            "echo",
            &json!({"text": "again"})
        ),
        "again"
    );
}

#[test]
fn remote_server_through_the_proxy() {
    let Some(py) = python() else { return };
    // A real MCP server on this machine, reached as a remote URL.
    // Port 0: the server binds a free port and says which (no port picked here and handed over: a race).
    let mut server = Command::new(thv_e2e::binary("thv-test-mcp-server"))
        .env("MCP_TRANSPORT", "streamable-http")
        .env("MCP_HOST", "127.0.0.1")
        .env("MCP_PORT", "0")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the test server");
    let port = listening_port(server.stderr.take().unwrap());
    let thv = Thv::new();
    let name = unique("remote");
    let remote = format!("http://127.0.0.1:{port}/mcp");
    thv.ok(&["run", &remote, "--name", &name]);
    let status = thv.status(&name);
    assert_eq!(status["remote"], true);
    assert_eq!(status["status"], "running");
    let url = thv.url(&name);
    assert!(
        url.ends_with("/mcp") && !url.contains(&port.to_string()),
        "{url}"
    );
    assert_eq!(
        call_tool(
            &py,
            &url,
            "streamable-http",
            "echo",
            &json!({"text": "remote"})
        ),
        "remote"
    );
    thv.ok(&["rm", &name]);
    let _ = server.kill();
    let _ = server.wait();
}

/// The port of the test server's "listening on http://127.0.0.1:PORT/mcp" line; the rest of its stderr is
/// passed on.
fn listening_port(stderr: std::process::ChildStderr) -> u16 {
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(stderr).lines();
    let port = loop {
        let line = lines
            .next()
            .expect("the test server says where it listens")
            .unwrap();
        if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
            break rest.trim_end_matches("/mcp").parse().unwrap();
        }
    };
    std::thread::spawn(move || lines.for_each(|l| eprintln!("{}", l.unwrap_or_default())));
    port
}

#[test]
fn restore_after_the_proxy_is_killed_and_after_a_container_restart() {
    let Some(py) = prerequisites() else { return };
    let thv = Thv::new();
    let name = unique("restore");
    thv.ok(&["run", TEST_SERVER_IMAGE, "--name", &name]);
    let url = thv.url(&name);
    let first = whoami(&py, &url);

    // The container restarts behind thv's back (an engine restart does the same): the proxy attaches again.
    podman_ok(&["restart", &name]);
    let mut second = None;
    for _ in 0..40 {
        if let Some(v) = try_call(&py, &url, "streamable-http", "whoami", 10) {
            second = v["calls"][0]["text"].as_str().map(str::to_owned);
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let second = second.expect("the proxy reconnects to the restarted container");
    assert_ne!(first, second);

    // The proxy process dies (a reboot, a kill): `thv start --all` brings the workload back on its port.
    let pid = thv.status(&name)["proxy_pid"].as_u64().expect("proxy pid");
    assert!(
        Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    // Waited on, not slept on: the status changes once the process is gone.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while thv.status(&name)["status"] == "running" {
        assert!(
            std::time::Instant::now() < deadline,
            "the killed proxy still shows running"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = thv.ok(&["start", "--all"]);
    assert!(out.contains(&name), "{out}");
    assert_eq!(thv.status(&name)["status"], "running");
    assert_eq!(
        call_tool(
            &py,
            &url,
            "streamable-http",
            "echo",
            &json!({"text": "restored"})
        ),
        "restored"
    );

    // A stopped workload stays stopped on `start --all`.
    thv.ok(&["stop", &name]);
    thv.ok(&["start", "--all"]);
    assert_eq!(thv.status(&name)["status"], "stopped");
}

#[test]
fn proxy_stdio_bridges_a_stdio_client() {
    let Some(_py) = prerequisites() else { return };
    let thv = Thv::new();
    let name = unique("stdio");
    thv.ok(&["run", TEST_SERVER_IMAGE, "--name", &name]);
    let mut child = thv
        .command(&["proxy", "stdio", &name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"}}});
    writeln!(stdin, "{init}").unwrap();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["id"], 1);
    assert!(first["result"]["serverInfo"]["name"].is_string(), "{first}");
    writeln!(
        stdin,
        "{}",
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
    )
    .unwrap();
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "via stdio"}}});
    writeln!(stdin, "{call}").unwrap();
    let answer: Value = loop {
        let v: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        if v["id"] == 2 {
            break v;
        }
    };
    assert_eq!(answer["result"]["content"][0]["text"], "via stdio");
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

#[test]
fn registry_entries_env_and_secrets() {
    let Some(py) = prerequisites() else { return };
    let thv = Thv::new();
    // A company registry file with one entry for the local image, with a required variable and a secret.
    let registry = thv.home().join("registry.json");
    let server = test_server_entry(
        "com.example/echo-server",
        json!({"environmentVariables": [
            {"name": "GREETING", "isRequired": true, "description": "what to say"},
            {"name": "API_TOKEN", "isRequired": true, "isSecret": true}
        ]}),
    );
    std::fs::write(&registry, json!([server]).to_string()).unwrap();
    let reg = registry.to_str().unwrap();
    thv.ok(&["config", "set-registry", reg]);
    assert!(
        thv.ok(&["config", "get-registry"])
            .contains("registry.json")
    );
    assert!(
        thv.ok(&["search", "echo"])
            .contains("com.example/echo-server")
    );

    let err = thv.fails(&["run", "echo-server", "-e", "GREETING=hi"]);
    assert!(
        err.contains("API_TOKEN") && err.contains("--secret"),
        "{err}"
    );

    let mut set = thv
        .command(&["secret", "set", "echo-token"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    set.stdin
        .take()
        .unwrap()
        .write_all(b"s3cr3t-value\n")
        .unwrap();
    assert!(set.wait().unwrap().success());
    let name = unique("reg");
    thv.ok(&[
        "run",
        "echo-server",
        "--name",
        &name,
        "-e",
        "GREETING=hi",
        "--secret",
        "echo-token,target=API_TOKEN",
    ]);
    let url = thv.url(&name);
    assert_eq!(
        call_tool(
            &py,
            &url,
            "streamable-http",
            "env",
            &json!({"name": "GREETING"})
        ),
        "hi"
    );
    assert_eq!(
        call_tool(
            &py,
            &url,
            "streamable-http",
            "env",
            &json!({"name": "API_TOKEN"})
        ),
        "s3cr3t-value"
    );

    // The secret's value is in no file of thv's state, and the export holds only the reference.
    let exported = thv.ok(&["export", &name, "-"]);
    assert!(!exported.contains("s3cr3t-value"), "{exported}");
    assert!(exported.contains("echo-token"), "{exported}");
    assert_eq!(
        serde_json::from_str::<Value>(&exported).unwrap()["registry_server_name"],
        "com.example/echo-server"
    );
    for dir in ["runconfigs", "workloads", "logs"] {
        for e in std::fs::read_dir(thv.home().join(".local/state/thv").join(dir)).unwrap() {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            assert!(!text.contains("s3cr3t-value"), "secret written under {dir}");
        }
    }
}

#[tokio::test]
async fn registry_api_names_resolve_through_the_api() {
    let Some(py) = prerequisites() else { return };
    let home = tempfile::tempdir().unwrap();
    let api = thv_e2e::registry_api::start(home.path());
    let token = thv_e2e::registry_api::mint_token(home.path(), "com.example/*", "publish");
    let doc = json!({
        "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
        "name": "com.example/api-echo", "description": "The test server, from the API", "version": "2.0.0",
        "packages": [{"registryType": "oci", "identifier": TEST_SERVER_IMAGE, "transport": {"type": "stdio"}}]
    });
    let resp = reqwest::Client::new()
        .post(format!("{}/v0/publish", api.base))
        .bearer_auth(&token)
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());

    let thv = Thv::new();
    thv.ok(&["config", "set-registry", &api.base]);
    let name = unique("api");
    thv.ok(&["run", "api-echo", "--name", &name]);
    let rc: Value = serde_json::from_str(&thv.ok(&["export", &name, "-"])).unwrap();
    assert_eq!(rc["registry_api_url"], api.base.as_str());
    assert_eq!(rc["registry_server_version"], "2.0.0");
    let url = thv.url(&name);
    assert_eq!(
        call_tool(
            &py,
            &url,
            "streamable-http",
            "echo",
            &json!({"text": "from the API"})
        ),
        "from the API"
    );
    // Bundled names are in the API too (it seeds from the bundled registry): ambiguity and typos are errors.
    let err = thv.fails(&["run", "api-ech"]);
    assert!(
        err.contains("did you mean") || err.contains("no server named"),
        "{err}"
    );
}

/// `podman ARGS` must succeed.
fn podman_ok(args: &[&str]) {
    let out = podman(args).output().expect("run podman");
    assert!(
        out.status.success(),
        "podman {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_missing_image_is_pulled_from_its_registry() {
    let Some(py) = prerequisites() else { return };
    let Some(registry) = std::env::var("THV_TEST_OCI_REGISTRY").ok().or_else(|| {
        skip("THV_TEST_OCI_REGISTRY is unset (run `eval \"$(scripts/start-oci-registry.sh)\"`)")
    }) else {
        return;
    };
    // The test image, published to a real OCI registry under a tag the engine does not have.
    let tag = unique("pull");
    let image = format!("{registry}/thv/test-mcp-server:{tag}");
    podman_ok(&["push", "--tls-verify=false", TEST_SERVER_IMAGE, &image]);
    assert_eq!(engine_has_image(&image), Ok(false));

    let thv = Thv::new();
    let name = unique("pulled");
    let out = thv.run(&["run", &image, "--name", &name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("pulling {image}")));
    assert_eq!(engine_has_image(&image), Ok(true));
    let url = thv.url(&name);
    assert_eq!(
        call_tool(
            &py,
            &url,
            "streamable-http",
            "echo",
            &json!({"text": "pulled"})
        ),
        "pulled"
    );
    thv.ok(&["rm", &name]);
    podman_ok(&["rmi", &image]);

    // A tag the registry does not have: a clear error, nothing recorded.
    let err = thv.fails(&[
        "run",
        &format!("{registry}/thv/test-mcp-server:absent"),
        "--name",
        &name,
    ]);
    assert!(
        err.contains("could not be pulled") && err.contains("absent"),
        "{err}"
    );
    assert!(thv.fails(&["status", &name]).contains("not found"));
}

#[test]
fn foreground_runs_until_interrupted_then_stops_the_workload() {
    let Some(py) = prerequisites() else { return };
    let thv = Thv::new();
    let name = unique("fg");
    let mut child = thv
        .command(&["run", TEST_SERVER_IMAGE, "--name", &name, "--foreground"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first.split_once(": ").expect("NAME: URL").1.to_owned();
    let mut answered = false;
    for _ in 0..60 {
        if thv.status(&name)["status"] == "running" {
            answered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(answered, "the foreground workload runs");
    assert_eq!(
        call_tool(&py, &url, "streamable-http", "echo", &json!({"text": "fg"})),
        "fg"
    );
    assert!(
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let v = thv.status(&name);
    assert_eq!(v["status"], "stopped", "{v}");
    assert_eq!(v["desired"], "stopped");
}
