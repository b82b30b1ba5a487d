//! Sync sources may neither leak nor be steered: a git source's credentials never reach a redirect target (git
//! follows no redirect); API and file sources follow same-origin redirects only and reach non-public addresses
//! only when configured to; `GET /v1/sources` shows anonymous readers no query strings and no upstream bodies,
//! and administrators everything but secrets.
//!
//! Every upstream is a real HTTP server on 127.0.0.1 (git served by the real `git http-backend`); each case runs
//! against SQLite and PostgreSQL.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode as HttpStatus, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use common::{ADMIN_TOKEN, Backend, Options, TestApp, server_json};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use thv_registry_api::auth::Action;

/// What a test server saw: method, path and query, and the `Authorization` header.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    authorization: Option<String>,
}

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Seen>>>);

impl Log {
    fn record(&self, req: &Request) {
        self.0.lock().unwrap().push(Seen {
            path: req
                .uri()
                .path_and_query()
                .map(ToString::to_string)
                .unwrap_or_default(),
            authorization: header_text(req.headers(), header::AUTHORIZATION),
        });
    }

    fn seen(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|v| v.to_str().unwrap_or_default().to_string())
}

/// Serves `router` on 127.0.0.1; returns its base URL.
async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

const BODY_SECRET: &str = "internal detail: db password hunter2";

/// One registry API page holding `name`.
fn api_page(name: &str) -> Value {
    json!({"servers": [{"server": server_json(name, "1.0.0")}], "metadata": {"count": 1}})
}

/// An upstream answering by path: `…/v0.1/servers` an API page, `….json` a registry file, `/fail/…` HTTP 500 with
/// a body that must not be shown publicly, `/same/<rest>` a redirect to `/<rest>` here, `/cross/<rest>` a redirect
/// to `<other>/<rest>`.
async fn upstream(name: &'static str, other: Option<String>) -> (String, Log) {
    let log = Log::default();
    let seen = log.clone();
    let router = axum::Router::new().fallback(move |req: Request| {
        let (seen, other) = (seen.clone(), other.clone());
        async move {
            seen.record(&req);
            let path = req.uri().path().to_string();
            let query = req
                .uri()
                .query()
                .map(|q| format!("?{q}"))
                .unwrap_or_default();
            if let Some(rest) = path.strip_prefix("/same") {
                return redirect(&format!("{rest}{query}"));
            }
            if let (Some(rest), Some(other)) = (path.strip_prefix("/cross"), &other) {
                return redirect(&format!("{other}{rest}{query}"));
            }
            if path.starts_with("/fail") {
                return (HttpStatus::INTERNAL_SERVER_ERROR, BODY_SECRET).into_response();
            }
            if path.ends_with("/v0.1/servers") {
                return axum::Json(api_page(name)).into_response();
            }
            if path.ends_with(".json") {
                return axum::Json(json!([server_json(name, "1.0.0")])).into_response();
            }
            HttpStatus::NOT_FOUND.into_response()
        }
    });
    (serve(router).await, log)
}

fn redirect(location: &str) -> Response {
    (
        HttpStatus::FOUND,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

/// Git's smart HTTP protocol, served by `git http-backend` over the bare repositories under `root`.
async fn git_server(root: &Path) -> (String, Log) {
    let log = Log::default();
    let seen = log.clone();
    let root = root.to_path_buf();
    let router = axum::Router::new().fallback(move |req: Request| {
        let (seen, root) = (seen.clone(), root.clone());
        async move {
            seen.record(&req);
            http_backend(&root, req).await
        }
    });
    (serve(router).await, log)
}

async fn http_backend(root: &Path, req: Request) -> Response {
    use tokio::io::AsyncWriteExt;
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20).await.unwrap();
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("PATH_INFO", parts.uri.path())
        .env("QUERY_STRING", parts.uri.query().unwrap_or(""))
        .env(
            "CONTENT_TYPE",
            header_text(&parts.headers, header::CONTENT_TYPE).unwrap_or_default(),
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    if let Some(v) = header_text(&parts.headers, header::CONTENT_ENCODING) {
        cmd.env("HTTP_CONTENT_ENCODING", v);
    }
    if let Some(v) = parts.headers.get("git-protocol") {
        cmd.env("GIT_PROTOCOL", v.to_str().unwrap());
    }
    let mut child = cmd.spawn().expect("git http-backend runs");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&body).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap().stdout;
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("CGI headers");
    let mut resp = Response::builder();
    for line in String::from_utf8_lossy(&out[..split]).split("\r\n") {
        let (k, v) = line.split_once(": ").unwrap();
        resp = if k.eq_ignore_ascii_case("status") {
            resp.status(v[..3].parse::<u16>().unwrap())
        } else {
            resp.header(k, v)
        };
    }
    resp.body(Body::from(out[split + 4..].to_vec())).unwrap()
}

/// A bare repository `root/<name>` whose `registry.json` lists `server`.
fn bare_repo(root: &Path, name: &str, server: &str) {
    let work = root.join(format!("{name}.work"));
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(
        work.join("registry.json"),
        json!([server_json(server, "1.0.0")]).to_string(),
    )
    .unwrap();
    let git = |dir: &Path, args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["add", "."]);
    git(&work, &["commit", "-qm", "catalog"]);
    git(
        root,
        &["clone", "-q", "--bare", &format!("{name}.work"), name],
    );
}

async fn start(backend: Backend, sync_config: String) -> Option<TestApp> {
    TestApp::start_with(
        backend,
        Options {
            sync_config: Some(sync_config),
            ..Default::default()
        },
    )
    .await
}

/// `GET /v1/sources/{name}` as `token` (anonymous without one).
async fn source(app: &TestApp, name: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut req = app.request(Method::GET, &format!("/v1/sources/{name}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    common::json_of(req.send().await.unwrap()).await
}

/// The source once its first sync is over (complete or failed), as the administrator sees it.
async fn settled(app: &TestApp, name: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (code, v) = source(app, name, Some(ADMIN_TOKEN)).await;
        assert_eq!(code, StatusCode::OK, "{v}");
        if v["status"] == "complete" || v["status"] == "failed" {
            return v;
        }
        assert!(Instant::now() < deadline, "{name} never synced: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn error_of(v: &Value) -> String {
    v["lastError"].as_str().unwrap_or_default().to_string()
}

async fn git_credentials_never_follow_a_redirect(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repos");
    std::fs::create_dir(&root).unwrap();
    bare_repo(&root, "direct.git", "com.example/direct");
    bare_repo(&root, "moved.git", "com.example/steered");
    let (git_base, git_log) = git_server(&root).await;
    // Another host, whose every answer is a redirect to the git server.
    let (redirector, _) = upstream("com.example/unused", Some(git_base.clone())).await;
    let token = "s3cr3t-git-token";
    let password_file = dir.path().join("git-token");
    std::fs::write(&password_file, format!("{token}\n")).unwrap();
    let auth = format!(
        "auth = {{ username = \"bot\", password_file = \"{}\" }}",
        password_file.display()
    );
    let Some(app) = start(
        backend,
        format!(
            r#"
[[sources]]
name = "direct"
git = {{ repository = "{git_base}/direct.git", branch = "main", {auth} }}

[[sources]]
name = "redirected"
git = {{ repository = "{redirector}/cross/moved.git", branch = "main", {auth} }}
"#
        ),
    )
    .await
    else {
        return;
    };
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("bot:{token}"))
    );

    // The credential still goes to the repository itself.
    let direct = settled(&app, "direct").await;
    assert_eq!(direct["status"], "complete", "{direct}");
    assert!(
        git_log
            .seen()
            .iter()
            .any(|s| s.path.starts_with("/direct.git/")
                && s.authorization.as_deref() == Some(basic.as_str())),
        "{:?}",
        git_log.seen()
    );

    // A redirect fails the sync, naming it; the redirect target never hears from git.
    let redirected = settled(&app, "redirected").await;
    assert_eq!(redirected["status"], "failed", "{redirected}");
    let error = error_of(&redirected);
    assert!(error.contains("redirect"), "{error}");
    assert!(error.contains(&git_base), "names the target: {error}");
    let moved: Vec<Seen> = git_log
        .seen()
        .into_iter()
        .filter(|s| s.path.starts_with("/moved.git"))
        .collect();
    assert!(moved.is_empty(), "git followed the redirect: {moved:?}");
    assert_eq!(redirected["versionCount"], 0, "{redirected}");

    // Neither view shows the secret.
    for token_used in [None, Some(ADMIN_TOKEN)] {
        let mut req = app.request(Method::GET, "/v1/sources");
        if let Some(t) = token_used {
            req = req.bearer_auth(t);
        }
        let (_, all) = common::json_of(req.send().await.unwrap()).await;
        let text = all.to_string();
        assert!(
            !text.contains(token) && !text.contains(&basic[6..]),
            "{text}"
        );
    }
}

async fn redirects_stay_on_the_origin(backend: Backend) {
    let (other, other_log) = upstream("com.example/elsewhere", None).await;
    let (base, _) = upstream("com.example/here", Some(other.clone())).await;
    let Some(app) = start(
        backend,
        format!(
            r#"
[[sources]]
name = "same-api"
api = {{ endpoint = "{base}/same/api" }}
allow_private_addresses = true

[[sources]]
name = "same-file"
file = {{ url = "{base}/same/file/registry.json" }}
allow_private_addresses = true

[[sources]]
name = "cross-api"
api = {{ endpoint = "{base}/cross/api" }}
allow_private_addresses = true

[[sources]]
name = "cross-file"
file = {{ url = "{base}/cross/file/registry.json?sig=presigned" }}
allow_private_addresses = true
"#
        ),
    )
    .await
    else {
        return;
    };
    for name in ["same-api", "same-file"] {
        let v = settled(&app, name).await;
        assert_eq!(v["status"], "complete", "{v}");
        assert_eq!(v["versionCount"], 1, "{v}");
    }
    for name in ["cross-api", "cross-file"] {
        let v = settled(&app, name).await;
        assert_eq!(v["status"], "failed", "{v}");
        let error = error_of(&v);
        assert!(
            error.contains("redirect") && error.contains(&format!("to another origin, {other}")),
            "the error names the target's origin: {error}"
        );
    }
    assert!(
        other_log.seen().is_empty(),
        "a cross-origin redirect was followed: {:?}",
        other_log.seen()
    );
}

async fn private_addresses_are_refused_unless_allowed(backend: Backend) {
    let (base, log) = upstream("com.example/internal", None).await;
    let port = base.rsplit(':').next().unwrap().to_string();
    let Some(app) = start(
        backend,
        format!(
            r#"
[[sources]]
name = "loopback-api"
api = {{ endpoint = "{base}/refused/api" }}

[[sources]]
name = "named-api"
api = {{ endpoint = "http://localhost:{port}/refused/named" }}

[[sources]]
name = "mapped-file"
file = {{ url = "http://[::ffff:127.0.0.1]:{port}/refused/mapped.json" }}

[[sources]]
name = "metadata-file"
file = {{ url = "http://169.254.169.254/latest/meta-data/registry.json", timeout = "3s" }}

[[sources]]
name = "allowed-api"
api = {{ endpoint = "{base}/allowed/api" }}
allow_private_addresses = true

[[sources]]
name = "allowed-file"
file = {{ url = "{base}/allowed/registry.json" }}
allow_private_addresses = true
"#
        ),
    )
    .await
    else {
        return;
    };
    for (name, address) in [
        ("loopback-api", "127.0.0.1"),
        ("named-api", ""),
        ("mapped-file", "127.0.0.1"),
        ("metadata-file", "169.254.169.254"),
    ] {
        let v = settled(&app, name).await;
        assert_eq!(v["status"], "failed", "{v}");
        let error = error_of(&v);
        for expected in [
            format!("source '{name}'"),
            address.to_string(),
            "allow_private_addresses = true".to_string(),
        ] {
            assert!(error.contains(&expected), "missing {expected:?} in {error}");
        }
        if name == "named-api" {
            assert!(
                error.contains("localhost")
                    && (error.contains("127.0.0.1") || error.contains("::1")),
                "the resolved address is named: {error}"
            );
        }
    }
    let refused: Vec<Seen> = log
        .seen()
        .into_iter()
        .filter(|s| s.path.starts_with("/refused"))
        .collect();
    assert!(refused.is_empty(), "connected anyway: {refused:?}");
    for name in ["allowed-api", "allowed-file"] {
        let v = settled(&app, name).await;
        assert_eq!(v["status"], "complete", "{v}");
    }
}

async fn public_views_redact_queries_and_upstream_bodies(backend: Backend) {
    let (base, _) = upstream("com.example/listed", None).await;
    let presigned = "X-Amz-Signature=s3cr3t-presign";
    let Some(app) = start(
        backend,
        format!(
            r#"
[[sources]]
name = "failing-file"
file = {{ url = "{base}/fail/registry.json?{presigned}#frag" }}
allow_private_addresses = true

[[sources]]
name = "failing-api"
api = {{ endpoint = "{base}/fail/api" }}
allow_private_addresses = true

[[sources]]
name = "good-file"
file = {{ url = "{base}/ok/registry.json?{presigned}" }}
allow_private_addresses = true
"#
        ),
    )
    .await
    else {
        return;
    };
    for name in ["failing-file", "failing-api", "good-file"] {
        settled(&app, name).await;
    }
    let list = |token: Option<String>| {
        let req = app.request(Method::GET, "/v1/sources");
        let req = match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        async move { common::json_of(req.send().await.unwrap()).await }
    };
    let by_name = |all: &Value, name: &str| {
        all["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap()
    };

    // Anonymous, or a token without `*`: no query, no fragment, no upstream body.
    let publisher = app.token(&[(Action::Publish, "com.example/*")]);
    for token in [None, Some(publisher)] {
        let (code, all) = list(token).await;
        assert_eq!(code, StatusCode::OK, "{all}");
        let text = all.to_string();
        for secret in ["s3cr3t-presign", "hunter2", "frag"] {
            assert!(!text.contains(secret), "{secret} shown publicly: {all:#}");
        }
        let failing = by_name(&all, "failing-file");
        assert_eq!(
            failing["location"],
            format!("{base}/fail/registry.json?[REDACTED]#[REDACTED]")
        );
        assert_eq!(failing["lastError"], "the upstream answered HTTP 500");
        assert_eq!(
            by_name(&all, "failing-api")["lastError"],
            "the upstream answered HTTP 500"
        );
        let good = by_name(&all, "good-file");
        assert_eq!(good["status"], "complete", "{good}");
        assert_eq!(
            good["lastSync"]["origin"],
            format!("{base}/ok/registry.json?[REDACTED]")
        );
        let (code, one) = source(&app, "failing-file", None).await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(one, failing);
    }

    // The admin token, or a token granted `*`: everything.
    let root = app.token(&[(Action::Edit, "*")]);
    for token in [ADMIN_TOKEN.to_string(), root] {
        let (code, all) = list(Some(token.clone())).await;
        assert_eq!(code, StatusCode::OK, "{all}");
        let failing = by_name(&all, "failing-file");
        assert_eq!(
            failing["location"],
            format!("{base}/fail/registry.json?{presigned}#frag")
        );
        assert!(error_of(&failing).contains("hunter2"), "{failing}");
        assert!(error_of(&by_name(&all, "failing-api")).contains("hunter2"));
        assert!(
            by_name(&all, "good-file")["lastSync"]["origin"]
                .as_str()
                .unwrap()
                .contains(presigned)
        );
        let (_, one) = source(&app, "failing-file", Some(&token)).await;
        assert_eq!(one, failing);
    }

    // A token that is not valid is refused, as on the sync trigger.
    let (code, v) = list(Some("not-a-token".into())).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED, "{v}");
}

on_every_backend!(
    git_credentials_never_follow_a_redirect,
    redirects_stay_on_the_origin,
    private_addresses_are_refused_unless_allowed,
    public_views_redact_queries_and_upstream_bodies,
);
