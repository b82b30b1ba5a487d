//! The typed registry client (`thv_core::registry_client`) against a real `thv-registry-api`, in-process on a real socket:
//! every read, write and meta call, errors as typed variants, pagination caps, path-prefixed base URLs, and a
//! foreign registry that answers huma problem+json and serves only `/openapi.yaml`.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use common::{ADMIN_TOKEN, TestApp, server_json};
use serde_json::{Value, json};
use thv_core::api::{ServerResponse, ServerStatus, StatusUpdateRequest};
use thv_core::registry_client::{ListOptions, RegistryClient, RegistryClientError};
use thv_core::server::ServerJson;
use thv_registry_api::auth::Action;

for_each_backend!(
    publish_and_read_back,
    list_all_follows_cursors_and_respects_caps,
    search_and_version_filter,
    names_with_slash_and_versions_with_plus,
    not_found_is_typed,
    auth_errors_are_typed_and_never_leak_the_token,
    validate_returns_issues,
    status_changes_and_deletes,
    updated_since_lists_incrementally,
    edit_replaces_a_version,
    meta_endpoints_and_openapi_check,
    base_url_forms_and_api_prefixes,
);

fn doc(name: &str, version: &str) -> ServerJson {
    serde_json::from_value(server_json(name, version)).expect("a valid server.json")
}

fn admin(app: &TestApp) -> RegistryClient {
    RegistryClient::builder(&app.base)
        .token(ADMIN_TOKEN)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn anonymous(app: &TestApp) -> RegistryClient {
    RegistryClient::new(&app.base).unwrap()
}

fn names_versions(items: &[ServerResponse]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|r| (r.server.name.clone(), r.server.version.clone()))
        .collect()
}

async fn publish_and_read_back(app: &TestApp) {
    let client = admin(app);
    let published = client
        .publish(&doc("com.example/client-read", "1.0.0"))
        .await
        .unwrap();
    assert_eq!(published.server.name, "com.example/client-read");
    let official = published.official().expect("official metadata");
    assert_eq!(official.status, ServerStatus::Active);
    assert!(official.is_latest);

    // A raw JSON document publishes as well.
    let raw: Value = server_json("com.example/client-read", "1.1.0");
    client.publish(&raw).await.unwrap();

    let reader = anonymous(app);
    let latest = reader.get_latest("com.example/client-read").await.unwrap();
    assert_eq!(latest.server.version, "1.1.0");
    let first = reader
        .get_version("com.example/client-read", "1.0.0")
        .await
        .unwrap();
    assert_eq!(first.server, published.server);
    assert!(!first.official().unwrap().is_latest);
    let versions = reader
        .versions("com.example/client-read", false)
        .await
        .unwrap();
    assert_eq!(versions.metadata.count, 2);
    assert_eq!(versions.servers[0].server.version, "1.1.0", "newest first");

    // A duplicate is the registry's 400, with its message.
    let err = client
        .publish(&doc("com.example/client-read", "1.0.0"))
        .await
        .unwrap_err();
    match err {
        RegistryClientError::Http { status, message } => {
            assert_eq!(status, 400);
            assert!(message.contains("duplicate version"), "{message}");
        }
        other => panic!("expected Http 400, got {other:?}"),
    }
}

async fn list_all_follows_cursors_and_respects_caps(app: &TestApp) {
    let client = admin(app);
    let mut expected = BTreeSet::new();
    for (name, versions) in [
        ("com.example/page-a", &["1.0.0", "1.1.0", "2.0.0"][..]),
        ("com.example/page-b", &["0.1.0"][..]),
        ("com.example/page-c", &["1.0.0", "1.0.1"][..]),
        ("io.github.someone/page-d", &["3.0.0"][..]),
    ] {
        for v in versions {
            client.publish(&doc(name, v)).await.unwrap();
            expected.insert((name.to_string(), v.to_string()));
        }
    }
    let all = client.list_all(&ListOptions::new().limit(2)).await.unwrap();
    let seen = names_versions(&all);
    assert_eq!(
        seen.len(),
        expected.len(),
        "each version exactly once: {seen:?}"
    );
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), expected);

    // The default page size (100) gets everything in one page.
    assert_eq!(client.list_all(&ListOptions::new()).await.unwrap().len(), 7);

    // Page by page, the pager says where it is.
    let mut pager = client.pages(&ListOptions::new().limit(3));
    let mut pages = 0;
    let mut count = 0;
    while let Some(page) = pager.next_page().await {
        let page = page.unwrap();
        pages += 1;
        count += page.servers.len();
        assert!(page.servers.len() <= 3);
    }
    assert_eq!(count, 7);
    assert_eq!(pager.pages_fetched(), pages);
    assert!(
        pager.next_page().await.is_none(),
        "a finished pager stays finished"
    );

    // The caps: an error, never a silently truncated list.
    let capped = RegistryClient::builder(&app.base)
        .max_pages(2)
        .build()
        .unwrap();
    match capped.list_all(&ListOptions::new().limit(2)).await {
        Err(RegistryClientError::TooManyPages { max_pages: 2 }) => {}
        other => panic!("expected TooManyPages, got {other:?}"),
    }
    let capped = RegistryClient::builder(&app.base)
        .max_servers(5)
        .build()
        .unwrap();
    match capped.list_all(&ListOptions::new().limit(2)).await {
        Err(RegistryClientError::TooManyServers { max_servers: 5 }) => {}
        other => panic!("expected TooManyServers, got {other:?}"),
    }
    assert_eq!(
        capped
            .list_all(&ListOptions::new().search("page-a"))
            .await
            .unwrap()
            .len(),
        3,
        "under the cap"
    );

    // Raw documents, through the *_as variants.
    let raw = client
        .list_all_as::<Value>(&ListOptions::new().limit(4))
        .await
        .unwrap();
    assert_eq!(raw.len(), 7);
    assert!(raw.iter().all(|r| r.server["name"].is_string()));

    // An out-of-range limit is the registry's 422 with its message.
    match client.list_page(&ListOptions::new().limit(1000)).await {
        Err(RegistryClientError::Http {
            status: 422,
            message,
        }) => {
            assert!(message.contains("limit"), "{message}")
        }
        other => panic!("expected 422, got {other:?}"),
    }
}

async fn search_and_version_filter(app: &TestApp) {
    let client = admin(app);
    for (name, v) in [
        ("com.example/weather-now", "1.0.0"),
        ("com.example/weather-now", "2.0.0"),
        ("com.example/Weather-Radar", "0.5.0"),
        ("com.example/github-tools", "1.0.0"),
    ] {
        client.publish(&doc(name, v)).await.unwrap();
    }
    let reader = anonymous(app);
    let page = reader
        .list_page(&ListOptions::new().search("WEATHER"))
        .await
        .unwrap();
    let names: BTreeSet<_> = page
        .servers
        .iter()
        .map(|r| r.server.name.as_str())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["com.example/weather-now", "com.example/Weather-Radar"])
    );
    assert_eq!(page.metadata.count, 3);
    assert!(page.metadata.next_cursor.is_none());

    let latest = reader
        .list_all(&ListOptions::new().search("weather").latest_only())
        .await
        .unwrap();
    let mut latest = names_versions(&latest);
    latest.sort();
    assert_eq!(
        latest,
        vec![
            ("com.example/Weather-Radar".to_string(), "0.5.0".to_string()),
            ("com.example/weather-now".to_string(), "2.0.0".to_string()),
        ]
    );
    let exact = reader
        .list_all(&ListOptions::new().version("1.0.0"))
        .await
        .unwrap();
    assert_eq!(exact.len(), 2);
    let none = reader
        .list_page(&ListOptions::new().search("no such thing 100%_"))
        .await
        .unwrap();
    assert!(none.servers.is_empty());
}

async fn names_with_slash_and_versions_with_plus(app: &TestApp) {
    let client = admin(app);
    let name = "io.github.some-org/tools.v2";
    client.publish(&doc(name, "1.0.0+build.5")).await.unwrap();
    let reader = anonymous(app);
    let got = reader.get_version(name, "1.0.0+build.5").await.unwrap();
    assert_eq!(got.server.version, "1.0.0+build.5");
    assert_eq!(got.server.name, name);
    let latest = reader.get_latest(name).await.unwrap();
    assert_eq!(latest.server.version, "1.0.0+build.5");
    // Upstream's rule: `+build` versions are not semver, and a semver version beats them.
    client.publish(&doc(name, "1.0.0-rc.1")).await.unwrap();
    let latest = reader.get_latest(name).await.unwrap();
    assert_eq!(latest.server.version, "1.0.0-rc.1");
    let versions = reader.versions(name, false).await.unwrap();
    assert_eq!(versions.servers.len(), 2);
    let status = client
        .set_version_status(
            name,
            "1.0.0+build.5",
            &StatusUpdateRequest {
                status: ServerStatus::Deprecated,
                status_message: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(status.server.version, "1.0.0+build.5");
    // The cursor of a page ending on a `+` version round-trips.
    let all = reader
        .list_all(&ListOptions::new().limit(1).search("tools.v2"))
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    // `+` is not a space: `1.0.0 build.5` does not exist.
    assert!(
        reader
            .get_version(name, "1.0.0 build.5")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

async fn not_found_is_typed(app: &TestApp) {
    let reader = anonymous(app);
    let err = reader
        .get_latest("com.example/nothing-here")
        .await
        .unwrap_err();
    match &err {
        RegistryClientError::NotFound(message) => {
            assert!(message.contains("com.example/nothing-here"), "{message}");
            assert!(message.contains("Server not found"), "{message}");
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(err.status(), Some(404));
    admin(app)
        .publish(&doc("com.example/has-one", "1.0.0"))
        .await
        .unwrap();
    assert!(
        reader
            .get_version("com.example/has-one", "9.9.9")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        reader
            .versions("com.example/nothing-here", true)
            .await
            .unwrap_err()
            .is_not_found()
    );
    // Writes to something that does not exist are 404s too.
    let err = admin(app)
        .set_version_status(
            "com.example/has-one",
            "9.9.9",
            &StatusUpdateRequest {
                status: ServerStatus::Deprecated,
                status_message: None,
            },
        )
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
}

async fn auth_errors_are_typed_and_never_leak_the_token(app: &TestApp) {
    let bad_token = "not-a-real-token-0123456789abcdef";
    let client = RegistryClient::builder(&app.base)
        .token(bad_token)
        .build()
        .unwrap();
    let err = client
        .publish(&doc("com.example/auth", "1.0.0"))
        .await
        .unwrap_err();
    match &err {
        RegistryClientError::Unauthorized(message) => {
            assert!(message.contains("Invalid or expired"), "{message}")
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert!(!err.to_string().contains(bad_token));
    assert!(!format!("{err:?}").contains(bad_token));
    assert!(!format!("{client:?}").contains(bad_token));

    // No token at all: refused before any request.
    let err = anonymous(app)
        .publish(&doc("com.example/auth", "1.0.0"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryClientError::Unauthorized(_)),
        "{err:?}"
    );

    // A token for another namespace: 403 with the registry's own message.
    let other_ns = app.token(&[(Action::Publish, "com.other/*")]);
    let client = anonymous(app).with_token(&other_ns).unwrap();
    let err = client
        .publish(&doc("com.example/auth", "1.0.0"))
        .await
        .unwrap_err();
    match &err {
        RegistryClientError::Forbidden(message) => assert_eq!(
            message,
            "You do not have permission to publish this server. You have permission to publish: com.other/*. \
             Attempting to publish: com.example/auth"
        ),
        other => panic!("expected Forbidden, got {other:?}"),
    }
    assert!(!err.to_string().contains(&other_ns));
    // ... and the same token publishes in its own namespace.
    client
        .publish(&doc("com.other/auth", "1.0.0"))
        .await
        .unwrap();
    // Status changes need publish or edit on the name.
    admin(app)
        .publish(&doc("com.example/auth", "1.0.0"))
        .await
        .unwrap();
    let err = client
        .set_server_status(
            "com.example/auth",
            &StatusUpdateRequest {
                status: ServerStatus::Deprecated,
                status_message: None,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RegistryClientError::Forbidden(m) if m.contains("publish or edit")),
        "{err:?}"
    );

    // A transport error with a token configured names the URL, not the token.
    let dead = refused_base().await;
    let client = RegistryClient::builder(&dead)
        .token(bad_token)
        .build()
        .unwrap();
    let err = client
        .publish(&doc("com.example/auth", "1.0.0"))
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryClientError::Transport(_)), "{err:?}");
    assert!(!err.to_string().contains(bad_token));
}

async fn validate_returns_issues(app: &TestApp) {
    let reader = anonymous(app);
    let ok = reader
        .validate(&doc("com.example/valid", "1.0.0"))
        .await
        .unwrap();
    assert!(ok.valid, "{ok:?}");
    let mut bad = server_json("no-namespace", "^1.0.0");
    bad["websiteUrl"] = json!("ftp://example.com");
    let report = reader.validate(&bad).await.unwrap();
    assert!(!report.valid);
    let refs: Vec<&str> = report.issues.iter().map(|i| i.reference.as_str()).collect();
    assert!(refs.contains(&"version-looks-like-range"), "{refs:?}");
    assert!(!report.issues.is_empty());
    // Publishing it is the registry's 422, and nothing is stored.
    let err = admin(app).publish(&bad).await.unwrap_err();
    assert_eq!(err.status(), Some(422), "{err:?}");
}

async fn status_changes_and_deletes(app: &TestApp) {
    let client = admin(app);
    let name = "com.example/lifecycle";
    for v in ["1.0.0", "2.0.0"] {
        client.publish(&doc(name, v)).await.unwrap();
    }
    let deprecated = client
        .set_version_status(
            name,
            "2.0.0",
            &StatusUpdateRequest {
                status: ServerStatus::Deprecated,
                status_message: Some("use 3.x".into()),
            },
        )
        .await
        .unwrap();
    let official = deprecated.official().unwrap();
    assert_eq!(official.status, ServerStatus::Deprecated);
    assert_eq!(official.status_message.as_deref(), Some("use 3.x"));

    // The same change again: the registry's 400 "No changes".
    let err = client
        .set_version_status(
            name,
            "2.0.0",
            &StatusUpdateRequest {
                status: ServerStatus::Deprecated,
                status_message: Some("use 3.x".into()),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RegistryClientError::Http { status: 400, message } if message.contains("No changes")),
        "{err:?}"
    );

    let deleted = client.delete_version(name, "1.0.0").await.unwrap();
    assert_eq!(deleted.official().unwrap().status, ServerStatus::Deleted);
    let reader = anonymous(app);
    assert!(
        reader
            .get_version(name, "1.0.0")
            .await
            .unwrap_err()
            .is_not_found()
    );
    let tomb = reader.get_version_with(name, "1.0.0", true).await.unwrap();
    assert_eq!(tomb.official().unwrap().status, ServerStatus::Deleted);
    assert_eq!(reader.versions(name, false).await.unwrap().servers.len(), 1);
    assert_eq!(reader.versions(name, true).await.unwrap().servers.len(), 2);

    let all = client
        .set_server_status(
            name,
            &StatusUpdateRequest {
                status: ServerStatus::Deleted,
                status_message: Some("withdrawn".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(all.updated_count, 2);
    assert!(
        all.servers
            .iter()
            .all(|s| s.official().unwrap().status == ServerStatus::Deleted)
    );
    assert!(reader.get_latest(name).await.unwrap_err().is_not_found());

    let restored = client
        .set_server_status(
            name,
            &StatusUpdateRequest {
                status: ServerStatus::Active,
                status_message: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(restored.updated_count, 2);
    assert_eq!(
        reader.get_latest(name).await.unwrap().server.version,
        "2.0.0"
    );
}

async fn updated_since_lists_incrementally(app: &TestApp) {
    let client = admin(app);
    for (name, v) in [
        ("com.example/sync-a", "1.0.0"),
        ("com.example/sync-b", "1.0.0"),
    ] {
        client.publish(&doc(name, v)).await.unwrap();
    }
    let max_updated = |items: &[ServerResponse]| {
        items
            .iter()
            .map(|r| r.official().unwrap().updated_at)
            .max()
            .unwrap()
    };
    let first = client.list_all(&ListOptions::new()).await.unwrap();
    assert_eq!(first.len(), 2);
    let t0 = max_updated(&first);
    tokio::time::sleep(Duration::from_millis(20)).await;

    client
        .publish(&doc("com.example/sync-c", "1.0.0"))
        .await
        .unwrap();
    let delta = client
        .list_all(&ListOptions::new().updated_since(t0).limit(1))
        .await
        .unwrap();
    assert_eq!(
        names_versions(&delta),
        vec![("com.example/sync-c".to_string(), "1.0.0".to_string())]
    );
    let t1 = max_updated(&delta);
    tokio::time::sleep(Duration::from_millis(20)).await;

    // A deletion shows up in the next incremental listing, as a tombstone.
    client
        .delete_version("com.example/sync-a", "1.0.0")
        .await
        .unwrap();
    let delta = client
        .list_all(&ListOptions::new().updated_since(t1))
        .await
        .unwrap();
    assert_eq!(delta.len(), 1);
    assert_eq!(delta[0].server.name, "com.example/sync-a");
    assert_eq!(delta[0].official().unwrap().status, ServerStatus::Deleted);
    let t2 = max_updated(&delta);
    assert!(
        client
            .list_all(&ListOptions::new().updated_since(t2))
            .await
            .unwrap()
            .is_empty()
    );
    // include_deleted=false with updated_since is the registry's 400.
    let err = client
        .list_page(&ListOptions::new().updated_since(t0).include_deleted(false))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err:?}");
}

async fn edit_replaces_a_version(app: &TestApp) {
    let client = admin(app);
    let name = "com.example/editable";
    client.publish(&doc(name, "1.0.0")).await.unwrap();
    let mut changed = doc(name, "1.0.0");
    changed.description = "Edited description".into();
    let edited = client.edit(name, "1.0.0", &changed).await.unwrap();
    assert_eq!(edited.server.description, "Edited description");
    assert_eq!(
        anonymous(app)
            .get_version(name, "1.0.0")
            .await
            .unwrap()
            .server
            .description,
        "Edited description"
    );
    let err = client
        .edit(name, "2.0.0", &doc(name, "2.0.0"))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let err = client
        .edit(name, "1.0.0", &doc(name, "1.0.1"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RegistryClientError::Http { status: 400, message } if message.contains("must match")),
        "{err:?}"
    );
    // A publish-only token may not edit.
    let publisher = client
        .with_token(app.token(&[(Action::Publish, "com.example/*")]))
        .unwrap();
    assert!(matches!(
        publisher.edit(name, "1.0.0", &changed).await,
        Err(RegistryClientError::Forbidden(_))
    ));
}

async fn meta_endpoints_and_openapi_check(app: &TestApp) {
    let reader = anonymous(app);
    assert_eq!(reader.health().await.unwrap().status, "ok");
    let info = reader.check_openapi().await.unwrap();
    assert_eq!(info.version.as_deref(), Some("1.0.0"));
    assert_eq!(info.url, format!("{}/openapi.json", app.base));
    assert!(info.is_toolhive_compatible());
    assert_eq!(info.title.as_deref(), Some("ToolHive MCP Registry API"));
}

async fn base_url_forms_and_api_prefixes(app: &TestApp) {
    admin(app)
        .publish(&doc("com.example/prefixes", "1.0.0"))
        .await
        .unwrap();
    let slash = RegistryClient::new(&format!("{}/", app.base)).unwrap();
    assert_eq!(slash.base_url(), app.base);
    assert_eq!(
        slash
            .get_latest("com.example/prefixes")
            .await
            .unwrap()
            .server
            .version,
        "1.0.0"
    );
    slash.check_openapi().await.unwrap();
    let v0 = RegistryClient::builder(&app.base)
        .api_prefix("/v0")
        .build()
        .unwrap();
    assert_eq!(v0.list_all(&ListOptions::new()).await.unwrap().len(), 1);
    // A wrong prefix is a 404 naming the URL.
    let wrong = RegistryClient::builder(&app.base)
        .api_prefix("/v9")
        .build()
        .unwrap();
    let err = wrong.list_page(&ListOptions::new()).await.unwrap_err();
    match err {
        RegistryClientError::NotFound(message) => {
            assert!(message.contains("/v9/servers"), "{message}")
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// A base URL on which nothing listens.
async fn refused_base() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test]
async fn connection_refused_is_a_transport_error_naming_the_url() {
    let base = refused_base().await;
    let client = RegistryClient::builder(&base)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let err = client.get_latest("com.example/x").await.unwrap_err();
    match &err {
        RegistryClientError::Transport(message) => {
            assert!(
                message.contains(&format!(
                    "{base}/v0.1/servers/com.example%2Fx/versions/latest"
                )),
                "{message}"
            );
            assert!(message.to_lowercase().contains("connect"), "{message}");
        }
        other => panic!("expected Transport, got {other:?}"),
    }
    assert!(matches!(
        client.check_openapi().await,
        Err(RegistryClientError::Transport(_))
    ));
}

/// The real registry mounted under a path prefix (`/registry/prod`), as behind an ingress.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_url_with_a_path_prefix_works() {
    let app = TestApp::start(common::Backend::Sqlite).await.unwrap();
    let router = Router::new().nest(
        "/registry/prod",
        thv_registry_api::routes::app(app.state().clone(), 64 * 1024),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    for base in [
        format!("http://{addr}/registry/prod"),
        format!("http://{addr}/registry/prod/"),
    ] {
        let client = RegistryClient::builder(&base)
            .token(ADMIN_TOKEN)
            .build()
            .unwrap();
        let version = if base.ends_with('/') {
            "2.0.0"
        } else {
            "1.0.0"
        };
        client
            .publish(&doc("com.example/behind-ingress", version))
            .await
            .unwrap();
        assert_eq!(
            client
                .get_version("com.example/behind-ingress", version)
                .await
                .unwrap()
                .server
                .version,
            version
        );
        let info = client.check_openapi().await.unwrap();
        assert_eq!(
            info.url,
            format!("http://{addr}/registry/prod/openapi.json")
        );
    }
    let all = RegistryClient::new(&format!("http://{addr}/registry/prod"))
        .unwrap()
        .list_all(&ListOptions::new().limit(1))
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    server.abort();
    app.stop().await;
}

/// A registry that speaks like the official one: huma problem+json errors, and an OpenAPI document only as YAML.
#[tokio::test]
async fn a_foreign_registry_with_problem_json_and_yaml_openapi() {
    async fn problem(status: StatusCode, detail: &str) -> axum::response::Response {
        (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            json!({
                "$schema": "https://registry.example/schemas/ErrorModel.json",
                "title": status.canonical_reason().unwrap(),
                "status": status.as_u16(),
                "detail": detail,
                "errors": [{"message": "expected number <= 100", "location": "query.limit", "value": 1000}]
            })
            .to_string(),
        )
            .into_response()
    }
    let yaml = "openapi: 3.1.0\ninfo:\n  title: \"MCP Registry\"\n  description: >\n    A registry implementing\n    https://github.com/modelcontextprotocol/registry\n  version: '1.0.0'\npaths: {}\n";
    let router = Router::new()
        .route(
            "/openapi.yaml",
            get(move || async move { ([(header::CONTENT_TYPE, "application/yaml")], yaml) }),
        )
        .route(
            "/v0.1/servers",
            get(|| problem(StatusCode::UNPROCESSABLE_ENTITY, "validation failed")),
        )
        .route(
            "/v0.1/servers/{name}/versions/{version}",
            get(|| problem(StatusCode::NOT_FOUND, "Server not found")),
        )
        .route(
            "/v0.1/health",
            get(|| async {
                (
                    StatusCode::BAD_GATEWAY,
                    "<html><body>502 Bad Gateway</body></html>",
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let client = RegistryClient::new(&format!("http://{addr}")).unwrap();

    let info = client.check_openapi().await.unwrap();
    assert_eq!(info.url, format!("http://{addr}/openapi.yaml"));
    assert_eq!(info.title.as_deref(), Some("MCP Registry"));
    assert_eq!(info.version.as_deref(), Some("1.0.0"));

    match client.list_page(&ListOptions::new().limit(1000)).await {
        Err(RegistryClientError::Http {
            status: 422,
            message,
        }) => assert_eq!(
            message,
            "validation failed (query.limit: expected number <= 100)"
        ),
        other => panic!("expected Http 422, got {other:?}"),
    }
    let err = client.get_latest("com.example/x").await.unwrap_err();
    assert!(err.is_not_found());
    assert!(err.to_string().contains("Server not found"), "{err}");
    match client.health().await {
        Err(RegistryClientError::Http {
            status: 502,
            message,
        }) => {
            assert_eq!(message, "<html><body>502 Bad Gateway</body></html>")
        }
        other => panic!("expected Http 502, got {other:?}"),
    }
    server.abort();
}

/// A registry whose OpenAPI document does not pass ToolHive's check is refused with the reason.
#[tokio::test]
async fn an_incompatible_openapi_document_is_refused() {
    let router = Router::new().route(
        "/openapi.json",
        get(|| async {
            axum::Json(
                json!({"openapi": "3.1.0", "info": {"title": "x", "version": "2025-12-01",
                "description": "https://github.com/modelcontextprotocol/registry"}}),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let client = RegistryClient::new(&format!("http://{addr}")).unwrap();
    match client.check_openapi().await {
        Err(RegistryClientError::Incompatible { url, message }) => {
            assert_eq!(url, format!("http://{addr}/openapi.json"));
            assert!(message.contains("2025-12-01"), "{message}");
        }
        other => panic!("expected Incompatible, got {other:?}"),
    }
    // Neither document: a NotFound naming both.
    let empty = Router::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr2 = listener.local_addr().unwrap();
    let server2 = tokio::spawn(async move { axum::serve(listener, empty).await });
    let err = RegistryClient::new(&format!("http://{addr2}"))
        .unwrap()
        .check_openapi()
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(err.to_string().contains("openapi.json"), "{err}");
    server.abort();
    server2.abort();
}
