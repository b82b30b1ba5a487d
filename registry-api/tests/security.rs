//! What a caller could take from the registry before, and may not now:
//!
//! - a publisher cannot make its entries take the host: an entry's ToolHive permission profile asking for a
//!   privileged container, a network mode other than bridge/none or a host mount is refused (403, naming the
//!   field) unless the caller may edit every name or `privileged_entries` names the entry (both backends);
//! - an anonymous client cannot grow `/metrics` (and the server's memory) without bound with made-up methods.

mod common;

use common::{ADMIN_TOKEN, Backend, Options, TestApp, enc, server_json};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use thv_registry_api::auth::Action;

const EXT: &str = "ghcr.io/example/server:1.0.0";

fn with_permissions(name: &str, version: &str, permissions: Value) -> Value {
    let mut doc = server_json(name, version);
    doc["_meta"] = json!({"io.modelcontextprotocol.registry/publisher-provided": {
        "io.github.stacklok": {EXT: {"status": "Active", "permissions": permissions}}
    }});
    doc
}

fn field(sub: &str) -> String {
    format!(
        "_meta.io.modelcontextprotocol.registry/publisher-provided.io.github.stacklok.{EXT}.permissions.{sub}"
    )
}

async fn publishers_cannot_ask_for_privileges(app: &TestApp) {
    let publisher = app.token(&[(Action::Publish, "com.example/*")]);
    for (i, (permissions, sub, what)) in [
        (
            json!({"privileged": true}),
            "privileged",
            "a privileged container",
        ),
        (
            json!({"network": {"mode": "host"}}),
            "network.mode",
            "the network mode 'host'",
        ),
        (
            json!({"read": ["volume://cache:/cache"], "write": ["/:/host"]}),
            "write[0]",
            "the host path '/' mounted at /host (read-write)",
        ),
        (
            json!({"read": ["/run/podman/podman.sock:/var/run/docker.sock"]}),
            "read[0]",
            "/run/podman/podman.sock",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let doc = with_permissions(&format!("com.example/greedy-{i}"), "1.0.0", permissions);
        let (status, body) = app
            .send(Method::POST, "/v0.1/publish", Some(&publisher), &doc)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let msg = body["error"].as_str().unwrap();
        assert!(msg.contains(&field(sub)) && msg.contains(what), "{msg}");
        // Nothing was stored.
        let (status, _) = app
            .get(&format!(
                "/v0.1/servers/{}/versions",
                enc(&format!("com.example/greedy-{i}"))
            ))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // An administrator may publish it.
        let (status, body) = app
            .send(Method::POST, "/v0.1/publish", Some(ADMIN_TOKEN), &doc)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    // What stays inside the container needs no privilege.
    let plain = with_permissions(
        "com.example/plain",
        "1.0.0",
        json!({"read": ["volume://cache:/cache"], "network": {"mode": "bridge", "outbound": {"insecure_allow_all": true}}}),
    );
    let (status, body) = app
        .send(Method::POST, "/v0.1/publish", Some(&publisher), &plain)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Editing an entry into a privileged one needs the same.
    let editor = app.token(&[(Action::Edit, "com.example/*")]);
    let path = format!("/v0.1/servers/{}/versions/1.0.0", enc("com.example/plain"));
    let greedy = with_permissions("com.example/plain", "1.0.0", json!({"privileged": true}));
    let (status, body) = app.send(Method::PUT, &path, Some(&editor), &greedy).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains(&field("privileged")),
        "{body}"
    );
    let (status, body) = app
        .send(Method::PUT, &path, Some(ADMIN_TOKEN), &greedy)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A volume whose name carries mount options (Podman reads what follows a ',' as options: a bind of the
    // host's /etc) is no volume: refused as malformed.
    let sneaky = with_permissions(
        "com.example/sneaky",
        "1.0.0",
        json!({"read": ["volume://v5,volume-opt=device=/etc,volume-opt=type=none,volume-opt=o=bind:/hostetc"]}),
    );
    let (status, body) = app
        .send(Method::POST, "/v0.1/publish", Some(&publisher), &sneaky)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let msg = body["error"].as_str().unwrap();
    assert!(msg.contains("read[0]") && msg.contains("','"), "{msg}");

    // A malformed profile is named too (422), never taken as no privileges.
    let bad = with_permissions("com.example/bad", "1.0.0", json!({"privileged": "yes"}));
    let (status, body) = app
        .send(Method::POST, "/v0.1/publish", Some(&publisher), &bad)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("permissions"),
        "{body}"
    );
}

async fn configured_names_may_ask_for_privileges(backend: Backend) {
    let opts = Options {
        privileged_entries: vec!["com.example/trusted-*".into()],
        ..Options::default()
    };
    let Some(app) = TestApp::start_with(backend, opts).await else {
        return;
    };
    let publisher = app.token(&[(Action::Publish, "com.example/*")]);
    let doc = with_permissions(
        "com.example/trusted-docker",
        "1.0.0",
        json!({"write": ["/var/run/docker.sock"]}),
    );
    let (status, body) = app
        .send(Method::POST, "/v0.1/publish", Some(&publisher), &doc)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let doc = with_permissions(
        "com.example/other",
        "1.0.0",
        json!({"write": ["/var/run/docker.sock"]}),
    );
    let (status, _) = app
        .send(Method::POST, "/v0.1/publish", Some(&publisher), &doc)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    app.stop().await;
}

for_each_backend!(publishers_cannot_ask_for_privileges);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn configured_names_may_ask_for_privileges_sqlite() {
    configured_names_may_ask_for_privileges(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn configured_names_may_ask_for_privileges_postgres() {
    configured_names_may_ask_for_privileges(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn configured_names_may_ask_for_privileges_configmap() {
    configured_names_may_ask_for_privileges(Backend::ConfigMap).await;
}

/// 2,000 requests with random 50 KB methods took RSS from 19 MB to 216 MB and `/metrics` to 1.6 GB before:
/// the method label is now a standard method or `other`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_labels_are_bounded() {
    let Some(app) = TestApp::start(Backend::Sqlite).await else {
        return;
    };
    for i in 0..200 {
        let method = Method::from_bytes(format!("M{i}{}", "A".repeat(20_000)).as_bytes()).unwrap();
        let _ = app.request(method, "/v0.1/servers").send().await.unwrap();
    }
    let _ = app
        .request(Method::GET, "/no/such/route")
        .send()
        .await
        .unwrap();
    let text = app
        .request(Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("AAAA"), "a client's method became a label");
    assert!(text.contains("method=\"other\""), "{text}");
    assert!(text.contains("route=\"unmatched\""), "{text}");
    assert!(text.len() < 64 * 1024, "{} bytes of metrics", text.len());
    app.stop().await;
}
