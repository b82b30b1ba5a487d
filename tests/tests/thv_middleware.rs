//! The proxy's middleware chain end to end: `thv run` of the test MCP server image (real engine) with OIDC
//! authentication against a local issuer started here (discovery + JWKS, Ed25519 keys, rotation), Cedar
//! authorization, audit to a file, a tool filter with an override, and Prometheus metrics; the official Python MCP
//! client calls through it with real tokens.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::IntoResponse;
use base64::Engine;
use serde_json::{Value, json};
use thv_e2e::idp::{SigningKey, TestIdp, now};
use thv_e2e::thv::{TEST_SERVER_IMAGE, Thv, engine_image_and_python, repo_root, unique};

/// An ID token from the local issuer for the proxy (`aud` thv-e2e), for `sub`, with `extra` claims.
fn token_for(issuer: &TestIdp, key: &SigningKey, sub: &str, extra: Value) -> String {
    let mut claims = json!({"sub": sub, "name": format!("{sub} example")});
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    issuer.id_token(key, "thv-e2e", claims)
}

/// What a collector received: (content type, body) of each export.
type Exports = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A stand-in OTLP/HTTP collector: the bodies POSTed to `/v1/traces`.
async fn collector() -> (String, Exports) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let received: Exports = Arc::default();
    let store = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let store = store.clone();
                async move {
                    let ct = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    store.lock().unwrap().push((ct, body.to_vec()));
                    axum::http::StatusCode::OK
                }
            },
        ),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

/// The Python client's JSON output, whether or not it reported errors.
fn client(py: &Path, url: &str, token: &str, calls: &[(&str, Value)]) -> Value {
    client_over(py, url, "streamable-http", Some(token), calls)
}

/// [`client`] over a given transport, with or without a token.
fn client_over(
    py: &Path,
    url: &str,
    transport: &str,
    token: Option<&str>,
    calls: &[(&str, Value)],
) -> Value {
    let mut cmd = Command::new(py);
    cmd.arg(repo_root().join("tests/python/mcp_client.py"))
        .args(["--url", url, "--transport", transport, "--timeout", "30"]);
    if let Some(token) = token {
        cmd.args(["--header", &format!("Authorization: Bearer {token}")]);
    }
    for (tool, args) in calls {
        cmd.args(["--call", tool, "--args", &args.to_string()]);
    }
    let out = cmd.output().unwrap();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| json!({"failed": true, "stderr": String::from_utf8_lossy(&out.stderr)}))
}

fn write(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, v.to_string()).unwrap();
    p
}

/// POST an `initialize` with `token` (if any); status, WWW-Authenticate, body.
async fn initialize(url: &str, token: Option<&str>) -> (u16, String, Value) {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, challenge, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_authorization_audit_tool_filter_and_metrics() {
    let Some(py) = engine_image_and_python(TEST_SERVER_IMAGE, "scripts/build-test-images.sh")
    else {
        return;
    };
    let (k1, k2, unpublished) = (
        SigningKey::ed25519("k1", 7),
        SigningKey::ed25519("k2", 9),
        SigningKey::ed25519("k9", 11),
    );
    let issuer = TestIdp::start(&[&k1]);
    let thv = Thv::new();
    let dir = tempfile::tempdir().unwrap();
    let authz = write(
        dir.path(),
        "authz.json",
        &json!({"version": "1.0", "type": "cedarv1", "cedar": {"entities_json": "[]", "policies": [
            "permit(principal, action == Action::\"call_tool\", resource == Tool::\"echo\");",
            "permit(principal, action == Action::\"call_tool\", resource == Tool::\"add\") when { principal.claim_roles.contains(\"admin\") };",
            "forbid(principal, action == Action::\"call_tool\", resource) when { resource has arg_text && resource.arg_text == \"forbidden\" };"
        ]}}),
    );
    let audit_log = dir.path().join("audit/audit.log");
    let audit = write(
        dir.path(),
        "audit.json",
        &json!({"log_file": audit_log, "include_request_data": true, "max_data_size": 4096}),
    );
    let overrides = write(
        dir.path(),
        "override.json",
        &json!({"toolsOverride": {"add": {"name": "sum", "description": "Adds two numbers"}}}),
    );
    let (otel, spans) = collector().await;
    let name = unique("mw");
    let out = thv.ok(&[
        "run",
        TEST_SERVER_IMAGE,
        "--name",
        &name,
        "--oidc-issuer",
        &issuer.url,
        "--oidc-audience",
        "thv-e2e",
        "--oidc-insecure-allow-http",
        "--authz-config",
        authz.to_str().unwrap(),
        "--audit-config",
        audit.to_str().unwrap(),
        // The filter names the tools as clients see them (`add` is `sum` to them), as ToolHive's does.
        "--tools",
        "echo,sum",
        "--tools-override",
        overrides.to_str().unwrap(),
        // A free port chosen by the proxy when it binds (no port picked here and handed over: a race), read back
        // from the status.
        "--metrics-port",
        "0",
        "--otel-endpoint",
        &otel,
        "--otel-sampling-rate",
        "1",
    ]);
    assert!(out.contains("is running"), "{out}");
    let url = thv.url(&name);
    let alice = token_for(&issuer, &k1, "alice", json!({"roles": ["admin"]}));
    let bob = token_for(&issuer, &k1, "bob", json!({"roles": ["dev"]}));

    // Alice sees the filtered, renamed tools her policies allow, and calls them.
    let v = client(
        &py,
        &url,
        &alice,
        &[
            ("sum", json!({"a": 2, "b": 3})),
            ("echo", json!({"text": "hi"})),
        ],
    );
    assert_eq!(v["tools"], json!(["echo", "sum"]), "{v}");
    assert_eq!(v["calls"][0]["text"], "5", "{v}");
    assert_eq!(v["calls"][1]["text"], "hi", "{v}");
    // Bob may not add; nobody may echo "forbidden"; hidden tools stay hidden, under either name.
    let v = client(
        &py,
        &url,
        &bob,
        &[
            ("echo", json!({"text": "ok"})),
            ("sum", json!({"a": 1, "b": 1})),
            ("echo", json!({"text": "forbidden"})),
            ("whoami", json!({})),
            ("add", json!({"a": 1, "b": 1})),
        ],
    );
    assert_eq!(v["tools"], json!(["echo"]), "{v}");
    assert_eq!(v["calls"][0]["text"], "ok", "{v}");
    let errors = v["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 4, "{v}");
    assert!(
        errors[0]
            .as_str()
            .unwrap()
            .contains("Forbidden: bob may not use add"),
        "{v}"
    );
    assert!(errors[1].as_str().unwrap().contains("Forbidden"), "{v}");
    assert!(
        errors[2].as_str().unwrap().contains("Unknown tool: whoami"),
        "{v}"
    );
    assert!(
        errors[3].as_str().unwrap().contains("Unknown tool: add"),
        "{v}"
    );

    // Without a valid token: 401 with the RFC 9728 pointer; the metadata names the issuer.
    let (status, challenge, _) = initialize(&url, None).await;
    assert_eq!(status, 401);
    let base = url.trim_end_matches("/mcp");
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{base}/.well-known/oauth-protected-resource\""
        )),
        "{challenge}"
    );
    let meta: Value = reqwest::get(format!("{base}/.well-known/oauth-protected-resource"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["authorization_servers"], json!([issuer.url]));
    let expired =
        k1.sign(&json!({"iss": issuer.url, "sub": "x", "aud": "thv-e2e", "exp": now() - 3600}));
    let wrong_aud =
        k1.sign(&json!({"iss": issuer.url, "sub": "x", "aud": "other", "exp": now() + 600}));
    let wrong_iss = k1.sign(
        &json!({"iss": "http://evil.example", "sub": "x", "aud": "thv-e2e", "exp": now() + 600}),
    );
    let unknown_kid = token_for(&issuer, &unpublished, "x", json!({}));
    for (token, reason) in [
        ("not-a-token", "malformed token"),
        (expired.as_str(), "token expired"),
        (wrong_aud.as_str(), "wrong audience"),
        (wrong_iss.as_str(), "wrong issuer"),
        (unknown_kid.as_str(), "unknown signing key k9"),
    ] {
        let (status, challenge, body) = initialize(&url, Some(token)).await;
        assert_eq!(status, 401, "{reason}: {body}");
        assert!(
            challenge.contains("error=\"invalid_token\"") && challenge.contains(reason),
            "{reason}: {challenge}"
        );
    }
    // Key rotation: a token signed with a key the issuer publishes later is accepted once the proxy refetches.
    // (The proxy refetches at most every 10 s: asked until it has, not slept on.)
    issuer.publish(&k2);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, _, body) =
            initialize(&url, Some(&token_for(&issuer, &k2, "carol", json!({})))).await;
        if status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new key was never accepted: {body}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Audit: one event per request, field by field; the file is private.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&audit_log).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let events: Vec<Value> = std::fs::read_to_string(&audit_log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let calls: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "mcp_tool_call")
        .collect();
    let alice_add = calls
        .iter()
        .find(|e| e["subjects"]["user_id"] == "alice" && e["target"]["name"] == "add")
        .expect("alice's call");
    assert_eq!(alice_add["outcome"], "success");
    assert_eq!(alice_add["subjects"]["user"], "alice example");
    assert_eq!(alice_add["component"], name.as_str());
    assert_eq!(alice_add["target"]["method"], "tools/call");
    assert_eq!(alice_add["target"]["type"], "tool");
    assert_eq!(alice_add["source"]["value"], "127.0.0.1");
    assert_eq!(
        alice_add["data"]["request"]["params"]["arguments"],
        json!({"a": 2, "b": 3})
    );
    assert!(
        alice_add["metadata"]["extra"]["duration_ms"]
            .as_f64()
            .unwrap()
            >= 0.0
    );
    assert!(alice_add["audit_id"].as_str().unwrap().len() == 36);
    let bob_add = calls
        .iter()
        .find(|e| e["subjects"]["user_id"] == "bob" && e["target"]["name"] == "add")
        .expect("bob's call");
    assert_eq!(bob_add["outcome"], "denied");
    assert!(
        bob_add["metadata"]["extra"]["reason"]
            .as_str()
            .unwrap()
            .contains("Forbidden")
    );
    assert!(events.iter().any(|e| e["type"] == "mcp_initialize"
        && e["outcome"] == "denied"
        && e["metadata"]["extra"]["status_code"] == 401));
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "mcp_tools_list" && e["subjects"]["user_id"] == "bob")
    );

    // Metrics on their own port, named by `thv status` in both formats.
    let metrics_url = thv.status(&name)["metrics_url"]
        .as_str()
        .expect("metrics_url in the status")
        .to_owned();
    let text_status = thv.ok(&["status", &name]);
    assert!(
        text_status.contains(&format!("Metrics:    {metrics_url}")),
        "{text_status}"
    );
    let metrics = reqwest::get(&metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        "toolhive_mcp_requests_total{",
        "method=\"tools/call\"",
        "toolhive_mcp_tool_calls_total{",
        "tool=\"echo\",outcome=\"success\"",
        // `add` was listed to no caller (authorization filtered it out): its refused calls count as `other`,
        // as any tool name a client makes up would.
        "tool=\"other\",outcome=\"denied\"",
        "toolhive_mcp_request_duration_seconds_bucket{",
        "toolhive_mcp_active_connections",
    ] {
        assert!(
            metrics.contains(expected),
            "missing {expected} in:\n{metrics}"
        );
    }
    // Traces reached the collector: OTLP protobuf, with the service and the method.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = spans.lock().unwrap().clone();
        let has = |needle: &str| {
            got.iter()
                .any(|(_, b)| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
        };
        if has("mcp tools/call") && has(&format!("thv-{name}")) && has("alice") {
            assert!(
                got.iter().all(|(ct, _)| ct == "application/x-protobuf"),
                "{:?}",
                got.iter().map(|g| &g.0).collect::<Vec<_>>()
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no trace with the call reached the collector ({} exports); proxy log:\n{}",
            got.len(),
            thv.ok(&["logs", &name, "--proxy"])
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The RunConfig keeps the chain; no secret in it.
    let exported = dir.path().join("rc.json");
    thv.ok(&["export", &name, exported.to_str().unwrap()]);
    let rc: Value = serde_json::from_str(&std::fs::read_to_string(&exported).unwrap()).unwrap();
    let types: Vec<&str> = rc["middleware_configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["auth", "authorization", "audit", "telemetry"]);
}

#[test]
fn bad_middleware_settings_are_refused_before_anything_starts() {
    let thv = Thv::new();
    let dir = tempfile::tempdir().unwrap();
    let bad_policy = write(
        dir.path(),
        "authz.json",
        &json!({"version": "1.0", "type": "cedarv1", "cedar": {"policies": ["permit(principal, action"]}}),
    );
    let out = thv.fails(&[
        "run",
        TEST_SERVER_IMAGE,
        "--name",
        "bad-authz",
        "--authz-config",
        bad_policy.to_str().unwrap(),
    ]);
    assert!(
        out.contains("--authz-config") && out.contains("cedar.policies[0]"),
        "{out}"
    );
    let out = thv.fails(&[
        "run",
        TEST_SERVER_IMAGE,
        "--name",
        "bad-oidc",
        "--oidc-issuer",
        "http://127.0.0.1:9",
    ]);
    assert!(
        out.contains("oidc_config.issuer") && out.contains("not https"),
        "{out}"
    );
    // NaN and infinities were stored as null (the default rate); out-of-range rates only failed later.
    for rate in ["NaN", "inf", "1e400", "2"] {
        let out = thv.fails(&[
            "run",
            TEST_SERVER_IMAGE,
            "--name",
            "bad-rate",
            "--otel-endpoint",
            "http://127.0.0.1:4318",
            "--otel-sampling-rate",
            rate,
        ]);
        assert!(
            out.contains("--otel-sampling-rate") && out.contains("from 0 to 1"),
            "{rate}: {out}"
        );
    }
    let bad_audit = write(
        dir.path(),
        "audit.json",
        &json!({"event_types": ["mcp_everything"]}),
    );
    let out = thv.fails(&[
        "run",
        TEST_SERVER_IMAGE,
        "--name",
        "bad-audit",
        "--audit-config",
        bad_audit.to_str().unwrap(),
    ]);
    assert!(
        out.contains("event_types: 'mcp_everything' is not an event type"),
        "{out}"
    );
    // A metrics port that is taken: refused before the container is created (the proxy found it only after).
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = thv.fails(&[
        "run",
        TEST_SERVER_IMAGE,
        "--name",
        "busy-metrics",
        "--metrics-port",
        &port,
    ]);
    assert!(
        out.contains(&format!("the metrics port 127.0.0.1:{port} is in use")),
        "{out}"
    );
    let listed: Value =
        serde_json::from_str(&thv.ok(&["list", "--all", "--format", "json"])).unwrap();
    assert_eq!(listed, json!([]), "nothing was recorded");
}

/// `thv start` checks the proxy's ports as `thv run` does: a metrics port taken while the workload was stopped is
/// said before its container starts (the proxy found it only after, leaving the workload unhealthy).
#[test]
fn start_refuses_a_metrics_port_taken_meanwhile() {
    let thv = Thv::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    thv.ok(&[
        "run",
        TEST_SERVER_IMAGE,
        "--name",
        "mport",
        "--metrics-port",
        &port,
    ]);
    thv.ok(&["stop", "mport"]);
    let taken = std::net::TcpListener::bind(format!("127.0.0.1:{port}")).unwrap();
    let out = thv.fails(&["start", "mport"]);
    assert!(
        out.contains(&format!("the metrics port 127.0.0.1:{port} is in use")),
        "{out}"
    );
    assert_eq!(thv.status("mport")["status"], "stopped");
    drop(taken);
    thv.ok(&["start", "mport"]);
    assert_eq!(thv.status("mport")["status"], "running");
    thv.ok(&["rm", "mport"]);
}

/// Anonymous callers (no `--oidc-issuer`) under a Cedar policy, through the SSE transport (lists are filtered in
/// the event stream; a refused call is the POST's own 403 answer, with a JSON-RPC error) and through the
/// transparent proxy in front of an HTTP server (its responses filtered too).
#[tokio::test(flavor = "multi_thread")]
async fn sse_and_transparent_proxies_apply_the_chain() {
    let Some(py) = engine_image_and_python(TEST_SERVER_IMAGE, "scripts/build-test-images.sh")
    else {
        return;
    };
    let thv = Thv::new();
    let dir = tempfile::tempdir().unwrap();
    let authz = dir.path().join("authz.yaml");
    std::fs::write(
        &authz,
        "version: \"1.0\"\ntype: cedarv1\ncedar:\n  policies:\n    - 'permit(principal == Client::\"anonymous\", action == Action::\"call_tool\", resource == Tool::\"echo\");'\n",
    )
    .unwrap();
    let sse = unique("mw-sse");
    thv.ok(&[
        "run",
        TEST_SERVER_IMAGE,
        "--name",
        &sse,
        "--proxy-mode",
        "sse",
        "--authz-config",
        authz.to_str().unwrap(),
    ]);
    let url = thv.url(&sse);
    let v = client_over(
        &py,
        &url,
        "sse",
        None,
        &[("echo", json!({"text": "over sse"}))],
    );
    assert_eq!(v["tools"], json!(["echo"]), "{v}");
    assert_eq!(v["calls"][0]["text"], "over sse", "{v}");
    // A refused call, by hand: open the stream, read the endpoint, POST.
    let http = reqwest::Client::new();
    let mut stream = http.get(&url).send().await.unwrap();
    let mut text = String::new();
    while !text.contains("\n\n") {
        text.push_str(&String::from_utf8_lossy(
            &stream.chunk().await.unwrap().unwrap(),
        ));
    }
    let endpoint = text
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap()
        .trim()
        .to_string();
    let base = url.trim_end_matches("/sse");
    let resp = http
        .post(format!("{base}{endpoint}"))
        .json(&json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["id"], 7);
    assert_eq!(body["error"]["code"], -32003);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("anonymous may not use add"),
        "{body}"
    );

    let http_name = unique("mw-http");
    thv.ok(&[
        "run",
        TEST_SERVER_IMAGE,
        "--name",
        &http_name,
        "--transport",
        "streamable-http",
        "--target-port",
        "8080",
        "--authz-config",
        authz.to_str().unwrap(),
        "--tools",
        "echo,add,env",
    ]);
    let url = thv.url(&http_name);
    let v = client_over(
        &py,
        &url,
        "streamable-http",
        None,
        &[
            ("echo", json!({"text": "via http"})),
            ("env", json!({"name": "MCP_TRANSPORT"})),
        ],
    );
    assert_eq!(v["tools"], json!(["echo"]), "{v}");
    assert_eq!(v["calls"][0]["text"], "via http", "{v}");
    assert!(
        v["errors"][0]
            .as_str()
            .unwrap()
            .contains("anonymous may not use env"),
        "{v}"
    );
}

/// The caller's token is for the proxy: once validated it is removed, and the server behind the transparent
/// proxy (a remote MCP server URL here) never sees it, while its other headers pass.
#[tokio::test(flavor = "multi_thread")]
async fn the_callers_token_never_reaches_the_server() {
    let key = SigningKey::ed25519("k1", 7);
    let issuer = TestIdp::start(&[&key]);
    // A remote MCP server that answers `initialize` and records the headers it got.
    let seen: Arc<Mutex<Vec<axum::http::HeaderMap>>> = Arc::default();
    let record = seen.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}/mcp", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            record.lock().unwrap().push(headers);
            async move {
                axum::Json(json!({"jsonrpc": "2.0", "id": 1, "result": {
                    "protocolVersion": "2025-06-18", "capabilities": {},
                    "serverInfo": {"name": "upstream", "version": "1"}}}))
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let thv = Thv::new();
    let name = unique("mw-passthrough");
    thv.ok(&[
        "run",
        &upstream,
        "--name",
        &name,
        "--oidc-issuer",
        &issuer.url,
        "--oidc-audience",
        "thv-e2e",
        "--oidc-insecure-allow-http",
    ]);
    let url = thv.url(&name);
    let token = token_for(&issuer, &key, "alice", json!({}));
    let resp = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&token)
        .header("x-custom", "kept")
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["result"]["serverInfo"]["name"], "upstream", "{body}");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert!(
            seen[0].get("authorization").is_none(),
            "the token reached the server: {:?}",
            seen[0]
        );
        assert_eq!(seen[0]["x-custom"], "kept");
    }
    // Without a token the proxy refuses, and the server sees nothing.
    let (status, _, _) = initialize(&url, None).await;
    assert_eq!(status, 401);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

/// Opaque tokens checked by token introspection (RFC 7662) at a local endpoint: an active token is accepted
/// (its claims are the caller's), an inactive or unknown one and wrong client credentials are refused, and
/// the proxy authenticates to the endpoint with its client id and secret.
#[tokio::test(flavor = "multi_thread")]
async fn opaque_tokens_are_introspected() {
    let Some(py) = engine_image_and_python(TEST_SERVER_IMAGE, "scripts/build-test-images.sh")
    else {
        return;
    };
    let key = SigningKey::ed25519("k-intro", 9);
    let issuer = TestIdp::start(&[&key]);
    // The introspection endpoint: client `thv-proxy` with secret `s3cret-client`; one active token.
    let seen_auth: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = seen_auth.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let introspect = format!("http://{}/introspect", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/introspect",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            record.lock().unwrap().push(auth.clone());
            async move {
                let expected = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode("thv-proxy:s3cret-client")
                );
                if auth != expected {
                    return (axum::http::StatusCode::UNAUTHORIZED, axum::Json(json!({})))
                        .into_response();
                }
                let active = body.contains("token=opaque-good-token");
                axum::Json(if active {
                    json!({"active": true, "sub": "carol", "aud": "thv-e2e", "name": "Carol"})
                } else {
                    json!({"active": false})
                })
                .into_response()
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let thv = Thv::new();
    let secret = thv.home().join("client-secret");
    std::fs::write(&secret, "s3cret-client\n").unwrap();
    let name = unique("mw-introspect");
    thv.ok(&[
        "run",
        TEST_SERVER_IMAGE,
        "--name",
        &name,
        "--oidc-issuer",
        &issuer.url,
        "--oidc-audience",
        "thv-e2e",
        "--oidc-introspection-url",
        &introspect,
        "--oidc-client-id",
        "thv-proxy",
        "--oidc-client-secret-file",
        secret.to_str().unwrap(),
        "--oidc-insecure-allow-http",
    ]);
    let url = thv.url(&name);
    let v = client(
        &py,
        &url,
        "opaque-good-token",
        &[("echo", json!({"text": "introspected"}))],
    );
    assert_eq!(v["calls"][0]["text"], "introspected", "{v}");
    let (status, challenge, _) = initialize(&url, Some("opaque-revoked-token")).await;
    assert_eq!(status, 401);
    assert!(challenge.contains("token not active"), "{challenge}");
    assert!(
        seen_auth
            .lock()
            .unwrap()
            .iter()
            .all(|a| a.starts_with("Basic ")),
        "the proxy authenticates to the endpoint"
    );
    // A JWT still goes through the JWKS, not the endpoint.
    let jwt = token_for(&issuer, &key, "dave", json!({}));
    let before = seen_auth.lock().unwrap().len();
    let (status, _, _) = initialize(&url, Some(&jwt)).await;
    assert_eq!(status, 200);
    assert_eq!(
        seen_auth.lock().unwrap().len(),
        before,
        "a JWT was not introspected"
    );
}
