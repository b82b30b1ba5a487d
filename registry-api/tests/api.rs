//! The API suite: every case runs against SQLite and against PostgreSQL, over HTTP, and every response shape is
//! checked against the upstream registry OpenAPI.

mod common;

use common::{ADMIN_TOKEN, SCHEMA_URL, TestApp, assert_valid, enc, official, server_json};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use thv_registry_api::auth::Action;

for_each_backend!(
    publish_and_read_back,
    is_latest_follows_version_order,
    publish_requires_a_token_with_permission,
    publish_refuses_invalid_documents_with_422,
    validate_reports_issues_without_publishing,
    publish_keeps_only_publisher_meta,
    remote_url_belongs_to_one_server,
    status_changes_and_tombstones,
    bulk_status_change,
    edit_replaces_a_version,
    pagination_follows_upstream_cursor_rules,
    list_parameters_are_checked,
    search_is_case_insensitive_and_literal,
    search_answers_the_same_whichever_plan_serves_it,
    updated_since_and_include_deleted,
    version_filter,
    encoded_names_and_versions,
    concurrent_publishes_lose_nothing,
    concurrent_publishes_of_one_remote_url_let_one_name_win,
    restoring_a_server_beside_publishes_of_its_urls_never_fails,
    bad_input_is_4xx_never_500,
    cors_and_meta_endpoints,
    version_cap_is_enforced,
    reads_are_cached_until_the_data_changes,
    seeding_skips_bad_entries_and_sets_latest,
    seeding_streams_a_file_and_stores_nothing_of_a_broken_one,
);

async fn seeding_skips_bad_entries_and_sets_latest(app: &TestApp) {
    let mut invalid = server_json("com.example/seeded", "3.0.0");
    invalid["description"] = json!("");
    let mut copy = server_json("com.example/seeded", "1.0.0");
    copy["description"] = json!("the second copy");
    let docs = json!([
        server_json("com.example/other-seeded", "snapshot"),
        server_json("com.example/seeded", "1.0.0"),
        invalid,
        copy.clone(),
        server_json("com.example/seeded", "2.0.0"),
        42,
        copy,
    ]);
    let bytes = serde_json::to_vec(&docs).unwrap();
    let docs = thv_core::registry_file::EntryFile::Bytes(bytes.into());
    let report = app.state().registry.seed_report(docs).await.unwrap();
    assert_eq!(report.inserted, 3);
    assert_eq!(report.skipped, 4, "{}", report.examples_line());
    assert!(
        report.reasons_line().contains("2 × duplicate-version"),
        "{}",
        report.reasons_line()
    );
    // Of the copies of a version, the first in the file is kept.
    let (status, first) = app
        .get("/v0.1/servers/com.example%2Fseeded/versions/1.0.0")
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(
        first["server"]["description"],
        server_json("com.example/seeded", "1.0.0")["description"]
    );
    assert_eq!(latest_version(app, "com.example/seeded").await, "2.0.0");
    assert_eq!(
        latest_version(app, "com.example/other-seeded").await,
        "snapshot"
    );
    assert_eq!(count_latest(app, "com.example/seeded").await, 1);
}

/// A seed file is streamed from disk in two readings: a syntax error at its very end (after several batches'
/// worth of valid entries) fails the first reading, so nothing is stored; the whole file then seeds in batches
/// whatever its format.
async fn seeding_streams_a_file_and_stores_nothing_of_a_broken_one(app: &TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.json");
    let docs: Vec<Value> = (0..2_500)
        .map(|i| server_json(&format!("com.example/streamed-{i:04}"), "1.0.0"))
        .collect();
    let upstream =
        json!({"$schema": "x", "version": "1.0.0", "meta": {}, "data": {"servers": docs}});
    let mut broken = serde_json::to_vec(&upstream).unwrap();
    broken.truncate(broken.len() - 2);
    std::fs::write(&path, &broken).unwrap();
    let file = thv_core::registry_file::EntryFile::Path(path.clone());
    let err = app.state().registry.seed(file.clone()).await.unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    assert_eq!(app.state().registry.store().count().await.unwrap(), 0);

    std::fs::write(&path, serde_json::to_vec(&upstream).unwrap()).unwrap();
    assert_eq!(app.state().registry.seed(file).await.unwrap(), 2_500);
    let (status, body) = app
        .get("/v0.1/servers/com.example%2Fstreamed-2499/versions/latest")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A search's answer does not depend on which plan serves it (SQLite: the trigram index for a large page, the walk
/// in page order for a small one) nor on the backend: the term matches as the literal lower-cased substring, with no
/// further Unicode folding (`ſ` is not `s`). Before, SQLite's index folded `ſtrong` into `strong`: 71 entries for
/// `limit=100`, 70 when paged by 30, 70 on PostgreSQL.
async fn search_answers_the_same_whichever_plan_serves_it(app: &TestApp) {
    let mut docs: Vec<Value> = (0..70)
        .map(|i| {
            let mut d = server_json(&format!("com.example/strong-{i:02}"), "1.0.0");
            d["description"] = json!(format!("strong server {i}"));
            d
        })
        .collect();
    let mut long_s = server_json("com.example/long-s", "1.0.0");
    long_s["description"] = json!("ſtrong server, 5 µs");
    docs.push(long_s);
    let bytes = serde_json::to_vec(&docs).unwrap();
    let docs = thv_core::registry_file::EntryFile::Bytes(bytes.into());
    assert_eq!(app.state().registry.seed(docs).await.unwrap(), 71);

    let names = |limit: u32, term: &'static str| async move {
        let mut names = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/v0.1/servers?limit={limit}&search={}", enc(term));
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={}", enc(c)));
            }
            let (status, body) = app.get(&path).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            for s in body["servers"].as_array().unwrap() {
                names.push(s["server"]["name"].as_str().unwrap().to_string());
            }
            match body["metadata"]["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return names,
            }
        }
    };
    let whole = names(100, "strong").await;
    assert_eq!(whole.len(), 70, "{whole:?}");
    assert!(!whole.contains(&"com.example/long-s".to_string()));
    assert_eq!(names(30, "strong").await, whole);
    assert_eq!(names(7, "strong").await, whole);
    assert_eq!(names(100, "ſtrong").await, ["com.example/long-s"]);
    assert_eq!(names(100, "5 µs").await, ["com.example/long-s"]);
    assert!(names(100, "5 μs").await.is_empty(), "micro sign is not mu");
}

async fn reads_are_cached_until_the_data_changes(app: &TestApp) {
    app.publish_ok("com.example/cached", "1.0.0").await;
    let get = |path: &'static str| async move {
        let resp = app.request(Method::GET, path).send().await.unwrap();
        let cache = resp
            .headers()
            .get("x-registry-cache")
            .map(|v| v.to_str().unwrap().to_string());
        (cache, resp.json::<Value>().await.unwrap())
    };
    let path = "/v0.1/servers?search=cached";
    let (first, body) = get(path).await;
    assert_eq!(first.as_deref(), Some("MISS"));
    let (second, again) = get(path).await;
    assert_eq!(second.as_deref(), Some("HIT"));
    assert_eq!(body, again);
    app.publish_ok("com.example/cached", "2.0.0").await;
    let (third, fresh) = get(path).await;
    assert_eq!(
        third.as_deref(),
        Some("MISS"),
        "a write invalidates cached reads"
    );
    assert_eq!(fresh["metadata"]["count"], 2);
    let (status, _) = app
        .get("/v0.1/servers/com.example%2Fnothing/versions")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let resp = app
        .request(Method::GET, "/v0.1/servers/com.example%2Fnothing/versions")
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers().get("x-registry-cache").is_none(),
        "errors are not cached"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_share_postgres_consistently() {
    replicas_share_the_store_consistently(common::Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_share_configmaps_consistently() {
    replicas_share_the_store_consistently(common::Backend::ConfigMap).await;
}

/// Two replicas on one store: a write on one is visible on the other at once (its cache is invalidated by
/// PostgreSQL's NOTIFY, or the ConfigMaps' watch), and concurrent publishes through both lose nothing and keep
/// one latest.
async fn replicas_share_the_store_consistently(backend: common::Backend) {
    let Some(a) = TestApp::start(backend).await else {
        return;
    };
    let b = a.replica().await;
    a.publish_ok("com.example/replicated", "1.0.0").await;
    let path = "/v0.1/servers/com.example%2Freplicated/versions/latest";
    assert_eq!(b.get(path).await.1["server"]["version"], "1.0.0");
    assert_eq!(
        b.get(path).await.1["server"]["version"],
        "1.0.0",
        "now cached on b"
    );
    a.publish_ok("com.example/replicated", "2.0.0").await;
    let mut seen = String::new();
    for _ in 0..50 {
        seen = b.get(path).await.1["server"]["version"]
            .as_str()
            .unwrap()
            .to_string();
        if seen == "2.0.0" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(seen, "2.0.0", "b's cache was invalidated by a's write");

    let mut tasks = Vec::new();
    for i in 0..40 {
        let (client, url) = (
            a.client.clone(),
            if i % 2 == 0 {
                a.url("/v0.1/publish")
            } else {
                b.url("/v0.1/publish")
            },
        );
        tasks.push(tokio::spawn(async move {
            let doc = server_json("com.example/replicated", &format!("3.{i}.0"));
            client
                .post(url)
                .bearer_auth(ADMIN_TOKEN)
                .json(&doc)
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    let (_, versions) = b
        .get("/v0.1/servers/com.example%2Freplicated/versions")
        .await;
    assert_eq!(versions["metadata"]["count"], 42);
    assert_eq!(count_latest(&b, "com.example/replicated").await, 1);
    assert_eq!(latest_version(&a, "com.example/replicated").await, "3.39.0");
    b.stop().await;
    a.stop().await;
}

async fn version_cap_is_enforced(app: &TestApp) {
    let name = "com.example/many";
    let docs: Vec<Value> = (0..10_000)
        .map(|i| server_json(name, &format!("0.{}.{}", i / 100, i % 100)))
        .collect();
    let bytes = serde_json::to_vec(&docs).unwrap();
    let docs = thv_core::registry_file::EntryFile::Bytes(bytes.into());
    assert_eq!(app.state().registry.seed(docs).await.unwrap(), 10_000);
    let (status, body) = app.publish(&server_json(name, "1.0.0")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("maximum number of versions for this server reached (10000)"),
        "{body}"
    );
    assert_eq!(latest_version(app, name).await, "0.99.99");
}

/// An empty database seeds itself from the bundled curated registry (ToolHive's catalog, 102 servers).
async fn seeded_from_bundled_registry(backend: common::Backend) {
    let Some(app) = TestApp::start_with(
        backend,
        common::Options {
            seed: true,
            ..Default::default()
        },
    )
    .await
    else {
        return;
    };
    let (_, first) = app.get("/v0.1/servers").await;
    assert_eq!(first["metadata"]["count"], 30);
    assert!(first["metadata"]["nextCursor"].is_string());
    let all = app.list_all("limit=100").await;
    assert_eq!(all.len(), 102);
    assert!(
        all.iter()
            .all(|s| official(s)["isLatest"] == true && official(s)["status"] == "active")
    );
    let (status, github) = app
        .get("/v0.1/servers/io.github.stacklok%2Fgithub/versions/latest")
        .await;
    assert_eq!(status, StatusCode::OK, "{github}");
    assert_valid("ServerResponse", &github);
    assert!(github["server"]["_meta"]["io.modelcontextprotocol.registry/publisher-provided"]["io.github.stacklok"].is_object());
    let (_, search) = app.get("/v0.1/servers?search=github").await;
    assert!(
        search["metadata"]["count"].as_u64().unwrap() >= 2,
        "{search}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seeded_from_bundled_registry_sqlite() {
    seeded_from_bundled_registry(common::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seeded_from_bundled_registry_postgres() {
    seeded_from_bundled_registry(common::Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seeded_from_bundled_registry_configmap() {
    seeded_from_bundled_registry(common::Backend::ConfigMap).await;
}

async fn publish_and_read_back(app: &TestApp) {
    let body = app.publish_ok("io.github.acme/weather", "1.0.0").await;
    assert_valid("ServerResponse", &body);
    assert_eq!(body["server"]["name"], "io.github.acme/weather");
    let meta = official(&body);
    assert_eq!(meta["status"], "active");
    assert_eq!(meta["isLatest"], true);
    assert_eq!(meta["publishedAt"], meta["updatedAt"]);

    for prefix in ["/v0", "/v0.1"] {
        let (status, got) = app
            .get(&format!(
                "{prefix}/servers/io.github.acme%2Fweather/versions/1.0.0"
            ))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            got, body,
            "the stored document and metadata come back unchanged under {prefix}"
        );
        let (status, latest) = app
            .get(&format!(
                "{prefix}/servers/io.github.acme%2Fweather/versions/latest"
            ))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(latest, body);
    }
    let (status, versions) = app
        .get("/v0.1/servers/io.github.acme%2Fweather/versions")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_valid("ServerList", &versions);
    assert_eq!(versions["metadata"]["count"], 1);
    assert!(versions["metadata"].get("nextCursor").is_none());

    let (status, dup) = app
        .publish(&server_json("io.github.acme/weather", "1.0.0"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        dup["error"].as_str().unwrap().contains(
            "cannot publish duplicate version: io.github.acme/weather@1.0.0 already exists"
        ),
        "{dup}"
    );
    let (status, missing) = app
        .get("/v0.1/servers/io.github.acme%2Fnope/versions")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing, json!({"error": "Server not found"}));
    let (status, _) = app
        .get("/v0.1/servers/io.github.acme%2Fweather/versions/9.9.9")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn latest_version(app: &TestApp, name: &str) -> String {
    let (status, body) = app
        .get(&format!("/v0.1/servers/{}/versions/latest", enc(name)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["server"]["version"].as_str().unwrap().to_string()
}

async fn count_latest(app: &TestApp, name: &str) -> usize {
    let (_, body) = app
        .get(&format!(
            "/v0.1/servers/{}/versions?include_deleted=true",
            enc(name)
        ))
        .await;
    body["servers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| official(s)["isLatest"] == true)
        .count()
}

async fn is_latest_follows_version_order(app: &TestApp) {
    let n = "com.example/ordering";
    app.publish_ok(n, "0.0.51").await;
    app.publish_ok(n, "1.0.0").await;
    assert_eq!(
        latest_version(app, n).await,
        "1.0.0",
        "1.0.0 beats 0.0.51 numerically (upstream #858)"
    );
    app.publish_ok(n, "1.0.1-rc.1").await;
    assert_eq!(
        latest_version(app, n).await,
        "1.0.1-rc.1",
        "a prerelease of a higher patch is higher"
    );
    app.publish_ok(n, "1.0.1").await;
    assert_eq!(
        latest_version(app, n).await,
        "1.0.1",
        "a release beats its prerelease"
    );
    app.publish_ok(n, "10.0.0").await;
    app.publish_ok(n, "2.0.0").await;
    assert_eq!(latest_version(app, n).await, "10.0.0");
    app.publish_ok(n, "nightly-2025").await;
    assert_eq!(
        latest_version(app, n).await,
        "10.0.0",
        "a semantic version beats a non-semantic one"
    );
    assert_eq!(count_latest(app, n).await, 1);

    let m = "com.example/calver";
    app.publish_ok(m, "2024.01").await;
    app.publish_ok(m, "2023.12").await;
    assert_eq!(
        latest_version(app, m).await,
        "2023.12",
        "non-semantic versions order by publish time"
    );
}

async fn publish_requires_a_token_with_permission(app: &TestApp) {
    let doc = server_json("com.example/secured", "1.0.0");
    let (status, body) = app.send(Method::POST, "/v0.1/publish", None, &doc).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let resp = app
        .request(Method::POST, "/v0.1/publish")
        .header("Authorization", "Basic abc")
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers().get("www-authenticate").is_some());
    assert_eq!(
        common::json_of(resp).await.1,
        json!({"error": "Invalid Authorization header format. Expected 'Bearer <token>'"})
    );
    let (status, body) = app
        .send(Method::POST, "/v0.1/publish", Some("garbage"), &doc)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({"error": "Invalid or expired Registry JWT token"})
    );

    let other = app.token(&[(Action::Publish, "io.github.someone/*")]);
    let (status, body) = app
        .send(Method::POST, "/v0.1/publish", Some(&other), &doc)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let msg = body["error"].as_str().unwrap();
    assert!(
        msg.contains("You have permission to publish: io.github.someone/*")
            && msg.contains("com.example/secured"),
        "{msg}"
    );

    let edit_only = app.token(&[(Action::Edit, "com.example/*")]);
    let (status, _) = app
        .send(Method::POST, "/v0.1/publish", Some(&edit_only), &doc)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let case = app.token(&[(Action::Publish, "com.Example/*")]);
    let (status, _) = app
        .send(Method::POST, "/v0.1/publish", Some(&case), &doc)
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "prefix match is case-sensitive"
    );

    let good = app.token(&[(Action::Publish, "com.example/*")]);
    let (status, body) = app
        .send(Method::POST, "/v0.1/publish", Some(&good), &doc)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let exact = app.token(&[(Action::Publish, "com.example/secured")]);
    let (status, _) = app
        .send(
            Method::POST,
            "/v0.1/publish",
            Some(&exact),
            &server_json("com.example/secured", "1.0.1"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

async fn publish_refuses_invalid_documents_with_422(app: &TestApp) {
    let base = server_json("com.example/invalid", "1.0.0");
    let with = |f: &dyn Fn(&mut Value)| {
        let mut d = base.clone();
        f(&mut d);
        d
    };
    let cases: Vec<(&str, Value)> = vec![
        (
            "two slashes",
            with(&|d| d["name"] = json!("com.example/a/b")),
        ),
        ("no slash", with(&|d| d["name"] = json!("noslash"))),
        ("latest", with(&|d| d["version"] = json!("latest"))),
        ("range", with(&|d| d["version"] = json!("^1.2.3"))),
        (
            "missing $schema",
            with(&|d| {
                d.as_object_mut().unwrap().remove("$schema");
            }),
        ),
        (
            "old $schema",
            with(&|d| {
                d["$schema"] = json!(
                    "https://static.modelcontextprotocol.io/schemas/2025-07-09/server.schema.json"
                )
            }),
        ),
        (
            "long description",
            with(&|d| d["description"] = json!("x".repeat(101))),
        ),
        ("long title", with(&|d| d["title"] = json!("x".repeat(101)))),
        (
            "long version",
            with(&|d| d["version"] = json!("1".repeat(256))),
        ),
        (
            "http website",
            with(&|d| d["websiteUrl"] = json!("http://example.com")),
        ),
        (
            "stdio with url",
            with(&|d| {
                d["packages"][0]["transport"] =
                    json!({"type": "stdio", "url": "https://x.example.com/mcp"})
            }),
        ),
        (
            "undeclared remote variable",
            with(&|d| {
                d["remotes"] = json!([{"type": "sse", "url": "https://{tenant}.example.com/sse"}])
            }),
        ),
        (
            "missing description",
            with(&|d| {
                d.as_object_mut().unwrap().remove("description");
            }),
        ),
    ];
    for (what, doc) in cases {
        let (status, body) = app.publish(&doc).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("call /validate for details")
                || what == "missing description",
            "{what}: {body}"
        );
    }
    let (status, _) = app
        .get("/v0.1/servers/com.example%2Finvalid/versions")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was stored");
}

async fn validate_reports_issues_without_publishing(app: &TestApp) {
    let (status, ok) = app
        .send(
            Method::POST,
            "/v0.1/validate",
            None,
            &server_json("com.example/vv", "1.0.0"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ok["valid"], true, "{ok}");
    let mut bad = server_json("com.example/vv", "latest");
    bad["$schema"] =
        json!("https://static.modelcontextprotocol.io/schemas/2025-09-29/server.schema.json");
    let (status, report) = app.send(Method::POST, "/v0/validate", None, &bad).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["valid"], false);
    let issues = report["issues"].as_array().unwrap();
    assert!(
        issues
            .iter()
            .any(|i| i["path"] == "version" && i["severity"] == "error"),
        "{report:#}"
    );
    assert!(
        issues
            .iter()
            .any(|i| i["path"] == "$schema" && i["severity"] == "warning"),
        "old schema only warns on validate: {report:#}"
    );
    for i in issues {
        for key in ["type", "path", "message", "severity", "reference"] {
            assert!(i.get(key).is_some(), "issue without {key}: {i}");
        }
    }
    let resp = app
        .request(Method::POST, "/v0.1/validate")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (_, report) = common::json_of(resp).await;
    assert_eq!(report["valid"], false);
    assert_eq!(report["issues"][0]["type"], "json");
    let (status, _) = app.get("/v0.1/servers/com.example%2Fvv/versions").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn publish_keeps_only_publisher_meta(app: &TestApp) {
    let mut doc = server_json("com.example/meta", "1.0.0");
    doc["_meta"] = json!({
        "io.modelcontextprotocol.registry/publisher-provided": {"io.github.stacklok": {"img": {"tier": "Official"}}},
        "io.modelcontextprotocol.registry/official": {"isLatest": false},
        "com.example.other": {"x": 1}
    });
    let (status, body) = app.publish(&doc).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["server"]["_meta"],
        json!({"io.modelcontextprotocol.registry/publisher-provided": {"io.github.stacklok": {"img": {"tier": "Official"}}}})
    );
    let mut big = server_json("com.example/meta", "1.0.1");
    big["_meta"] =
        json!({"io.modelcontextprotocol.registry/publisher-provided": {"blob": "x".repeat(5000)}});
    let (status, body) = app.publish(&big).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"].as_str().unwrap().contains("4KB"), "{body}");
}

async fn remote_url_belongs_to_one_server(app: &TestApp) {
    let remote = |name: &str, version: &str| {
        let mut d = server_json(name, version);
        d.as_object_mut().unwrap().remove("packages");
        d["remotes"] =
            json!([{"type": "streamable-http", "url": "https://mcp.example.com/shared"}]);
        d
    };
    assert_eq!(
        app.publish(&remote("com.example/first", "1.0.0")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.publish(&remote("com.example/first", "1.1.0")).await.0,
        StatusCode::OK,
        "the same server may reuse its URL"
    );
    let (status, body) = app.publish(&remote("com.example/second", "1.0.0")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"],
        "remote URL https://mcp.example.com/shared is already used by server com.example/first"
    );
    // Once every version of the owner is deleted, the URL is free; restoring the owner is then refused.
    let token = ADMIN_TOKEN;
    let (status, _) = app
        .send(
            Method::PATCH,
            "/v0.1/servers/com.example%2Ffirst/status",
            Some(token),
            &json!({"status": "deleted"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.publish(&remote("com.example/second", "1.0.0")).await.0,
        StatusCode::OK
    );
    let (status, body) = app
        .set_status("com.example/first", "1.0.0", &json!({"status": "active"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

async fn status_changes_and_tombstones(app: &TestApp) {
    let n = "com.example/lifecycle";
    app.publish_ok(n, "1.0.0").await;
    app.publish_ok(n, "2.0.0").await;

    let (status, body) = app
        .set_status(
            n,
            "2.0.0",
            &json!({"status": "deprecated", "statusMessage": "use 3.x"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_valid("ServerResponse", &body);
    assert_eq!(official(&body)["status"], "deprecated");
    assert_eq!(official(&body)["statusMessage"], "use 3.x");
    assert_eq!(
        official(&body)["isLatest"],
        true,
        "deprecated versions stay latest"
    );
    assert_ne!(
        official(&body)["statusChangedAt"],
        official(&body)["publishedAt"]
    );

    let (status, body) = app
        .set_status(
            n,
            "2.0.0",
            &json!({"status": "deprecated", "statusMessage": "use 3.x"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"],
        "No changes to apply: status and message are already set to the provided values"
    );
    let (status, body) = app
        .set_status(
            n,
            "2.0.0",
            &json!({"status": "active", "statusMessage": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"],
        "status_message cannot be provided when setting status to active"
    );
    let (status, _) = app.set_status(n, "2.0.0", &json!({"status": "gone"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .set_status(n, "9.9.9", &json!({"status": "deprecated"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let other = app.token(&[(Action::Publish, "io.github.other/*")]);
    let (status, body) = app
        .send(
            Method::PATCH,
            "/v0.1/servers/com.example%2Flifecycle/versions/2.0.0/status",
            Some(&other),
            &json!({"status": "deleted"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body["error"],
        "You do not have publish or edit permissions for this server"
    );

    // DELETE is a tombstone: hidden by default, visible with include_deleted, and latest moves.
    let (status, body) = app
        .send(
            Method::DELETE,
            "/v0.1/servers/com.example%2Flifecycle/versions/2.0.0",
            Some(ADMIN_TOKEN),
            &json!(null),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(official(&body)["status"], "deleted");
    assert_eq!(official(&body)["isLatest"], false);
    assert_eq!(latest_version(app, n).await, "1.0.0");
    let (status, _) = app
        .get("/v0.1/servers/com.example%2Flifecycle/versions/2.0.0")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .get("/v0.1/servers/com.example%2Flifecycle/versions/2.0.0?include_deleted=true")
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = app
        .get("/v0.1/servers/com.example%2Flifecycle/versions")
        .await;
    assert_eq!(list["metadata"]["count"], 1);
    let (_, list) = app
        .get("/v0.1/servers/com.example%2Flifecycle/versions?include_deleted=true")
        .await;
    assert_eq!(list["metadata"]["count"], 2);
    let (status, _) = app
        .send(
            Method::DELETE,
            "/v0.1/servers/com.example%2Flifecycle/versions/2.0.0",
            Some(ADMIN_TOKEN),
            &json!(null),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "deleting a deleted version");

    // Restore: 2.0.0 becomes latest again.
    let (status, body) = app
        .set_status(n, "2.0.0", &json!({"status": "active"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(official(&body)["isLatest"], true);
    assert_eq!(latest_version(app, n).await, "2.0.0");

    // Every version deleted: the highest deleted keeps the flag, and the server disappears from default reads.
    for v in ["1.0.0", "2.0.0"] {
        assert_eq!(
            app.set_status(n, v, &json!({"status": "deleted"})).await.0,
            StatusCode::OK
        );
    }
    assert_eq!(count_latest(app, n).await, 1);
    let (status, _) = app
        .get("/v0.1/servers/com.example%2Flifecycle/versions/latest")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .get("/v0.1/servers/com.example%2Flifecycle/versions")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn bulk_status_change(app: &TestApp) {
    let n = "com.example/bulk";
    for v in ["1.0.0", "1.1.0", "1.2.0"] {
        app.publish_ok(n, v).await;
    }
    app.set_status(
        n,
        "1.0.0",
        &json!({"status": "deprecated", "statusMessage": "old"}),
    )
    .await;
    let path = "/v0.1/servers/com.example%2Fbulk/status";
    let (status, body) = app
        .send(
            Method::PATCH,
            path,
            Some(ADMIN_TOKEN),
            &json!({"status": "deprecated", "statusMessage": "old"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_valid("AllVersionsStatusResponse", &body);
    assert_eq!(
        body["updatedCount"], 2,
        "only versions that differ are touched"
    );
    let (status, body) = app
        .send(
            Method::PATCH,
            path,
            Some(ADMIN_TOKEN),
            &json!({"status": "deprecated", "statusMessage": "old"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"],
        "No changes to apply: all versions already have the requested status and message"
    );
    let (status, _) = app
        .send(
            Method::PATCH,
            "/v0.1/servers/com.example%2Fnobody/status",
            Some(ADMIN_TOKEN),
            &json!({"status": "deleted"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(latest_version(app, n).await, "1.2.0");
}

async fn edit_replaces_a_version(app: &TestApp) {
    let n = "com.example/editable";
    let original = app.publish_ok(n, "1.0.0").await;
    let path = "/v0.1/servers/com.example%2Feditable/versions/1.0.0";
    let mut doc = server_json(n, "1.0.0");
    doc["description"] = json!("A better description");

    let publisher = app.token(&[(Action::Publish, "com.example/*")]);
    let (status, _) = app.send(Method::PUT, path, Some(&publisher), &doc).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "edit needs the edit permission"
    );
    let editor = app.token(&[(Action::Edit, "com.example/*")]);
    let (status, body) = app.send(Method::PUT, path, Some(&editor), &doc).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["server"]["description"], "A better description");
    assert_eq!(
        official(&body)["publishedAt"],
        official(&original)["publishedAt"]
    );
    assert_ne!(
        official(&body)["updatedAt"],
        official(&original)["updatedAt"]
    );
    let (_, search) = app.get("/v0.1/servers?search=BETTER").await;
    assert_eq!(
        search["metadata"]["count"], 1,
        "search sees the new description"
    );

    let mut renamed = doc.clone();
    renamed["name"] = json!("com.example/other");
    let (status, body) = app.send(Method::PUT, path, Some(&editor), &renamed).await;
    assert_eq!(
        (status, body["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("Cannot rename server"))
    );
    let mut moved = doc.clone();
    moved["version"] = json!("2.0.0");
    let (status, body) = app.send(Method::PUT, path, Some(&editor), &moved).await;
    assert_eq!(
        (status, body["error"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!("Version in request body must match URL path parameter")
        )
    );
    let mut invalid = doc.clone();
    invalid["description"] = json!("");
    assert_eq!(
        app.send(Method::PUT, path, Some(&editor), &invalid).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (status, _) = app
        .send(
            Method::PUT,
            "/v0.1/servers/com.example%2Feditable/versions/3.0.0",
            Some(&editor),
            &doc,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "body version differs from the path"
    );
}

async fn pagination_follows_upstream_cursor_rules(app: &TestApp) {
    for name in ["com.example/aa", "com.example/bb", "com.example/cc"] {
        for v in ["1.0.0", "10.0.0", "2.0.0"] {
            app.publish_ok(name, v).await;
        }
    }
    let (status, page) = app.get("/v0.1/servers?limit=4").await;
    assert_eq!(status, StatusCode::OK);
    let pairs: Vec<String> = page["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}:{}",
                s["server"]["name"].as_str().unwrap(),
                s["server"]["version"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            "com.example/aa:1.0.0",
            "com.example/aa:10.0.0",
            "com.example/aa:2.0.0",
            "com.example/bb:1.0.0"
        ],
        "plain string order"
    );
    assert_eq!(page["metadata"]["nextCursor"], "com.example/bb:1.0.0");
    assert_eq!(page["metadata"]["count"], 4);

    let all = app.list_all("limit=3").await;
    assert_eq!(all.len(), 9, "no item lost or repeated");
    // A full last page yields a cursor to an empty page.
    let (_, p3) = app
        .get("/v0.1/servers?limit=3&cursor=com.example%2Fbb:2.0.0")
        .await;
    assert_eq!(p3["metadata"]["count"], 3);
    let (_, empty) = app
        .get(&format!(
            "/v0.1/servers?limit=3&cursor={}",
            enc(p3["metadata"]["nextCursor"].as_str().unwrap())
        ))
        .await;
    assert_eq!(empty, json!({"servers": [], "metadata": {"count": 0}}));
    // A bare name cursor continues after that name.
    let (_, after_a) = app.get("/v0.1/servers?cursor=com.example%2Faa").await;
    assert_eq!(after_a["servers"][0]["server"]["name"], "com.example/bb");
    let (_, default) = app.get("/v0.1/servers").await;
    assert_eq!(default["metadata"]["count"], 9);
    assert!(default["metadata"].get("nextCursor").is_none());
}

async fn list_parameters_are_checked(app: &TestApp) {
    for bad in ["limit=0", "limit=101", "limit=abc", "limit=-1"] {
        let (status, body) = app.get(&format!("/v0.1/servers?{bad}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert!(body["error"].as_str().unwrap().contains("limit"), "{body}");
    }
    let (status, _) = app.get("/v0.1/servers?limit=100").await;
    assert_eq!(status, StatusCode::OK);
    for bad in [
        "cursor=%3A1.0",
        "cursor=a%00b",
        "include_deleted=maybe",
        "updated_since=yesterday",
    ] {
        let (status, body) = app.get(&format!("/v0.1/servers?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["error"].is_string(), "{body}");
    }
}

async fn search_is_case_insensitive_and_literal(app: &TestApp) {
    app.publish_ok("com.example/GitHub-tools", "1.0.0").await;
    app.publish_ok("com.example/gitlab", "1.0.0").await;
    app.publish_ok("com.example/percent_x", "1.0.0").await;
    let mut described = server_json("com.example/plain", "1.0.0");
    described["description"] = json!("Talks to Kubernetes clusters");
    assert_eq!(app.publish(&described).await.0, StatusCode::OK);

    let names = |body: &Value| -> Vec<String> {
        body["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["server"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, r) = app.get("/v0.1/servers?search=github").await;
    assert_eq!(names(&r), ["com.example/GitHub-tools"]);
    let (_, r) = app.get("/v0.1/servers?search=GIT").await;
    assert_eq!(
        names(&r),
        ["com.example/GitHub-tools", "com.example/gitlab"]
    );
    let (_, r) = app.get("/v0.1/servers?search=kubernetes").await;
    assert_eq!(
        names(&r),
        ["com.example/plain"],
        "search matches descriptions"
    );
    let (_, r) = app.get("/v0.1/servers?search=t_x").await;
    assert_eq!(names(&r), ["com.example/percent_x"], "_ is literal");
    let (_, r) = app.get("/v0.1/servers?search=%25").await;
    assert!(names(&r).is_empty(), "% is literal");
}

async fn updated_since_and_include_deleted(app: &TestApp) {
    app.publish_ok("com.example/old", "1.0.0").await;
    let first = app.publish_ok("com.example/old", "1.1.0").await;
    let mark = official(&first)["updatedAt"].as_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    app.publish_ok("com.example/new", "1.0.0").await;
    app.set_status("com.example/old", "1.0.0", &json!({"status": "deleted"}))
        .await;

    let (status, body) = app
        .get(&format!("/v0.1/servers?updated_since={}", enc(&mark)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let got: Vec<String> = body["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}@{}:{}",
                s["server"]["name"].as_str().unwrap(),
                s["server"]["version"].as_str().unwrap(),
                official(s)["status"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            "com.example/new@1.0.0:active",
            "com.example/old@1.0.0:deleted"
        ],
        "strictly after, deleted included"
    );
    let (status, body) = app
        .get(&format!(
            "/v0.1/servers?include_deleted=false&updated_since={}",
            enc(&mark)
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"],
        "Cannot set include_deleted=false when using updated_since (incremental sync requires deleted servers)"
    );
    let (status, _) = app
        .get(&format!(
            "/v0.1/servers?include_deleted=true&updated_since={}",
            enc(&mark)
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = app
        .get("/v0.1/servers?updated_since=2025-08-07T13:15:04.280Z")
        .await;
    assert_eq!(body["metadata"]["count"], 3);
    let (status, body) = app.get("/v0.1/servers?updated_since=2025-08-07").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"],
        "Invalid updated_since format: expected RFC3339 timestamp (e.g., 2025-08-07T13:15:04.280Z)"
    );
    let (_, body) = app.get("/v0.1/servers").await;
    assert_eq!(
        body["metadata"]["count"], 2,
        "deleted versions are hidden by default"
    );
    let (_, body) = app.get("/v0.1/servers?include_deleted=true").await;
    assert_eq!(body["metadata"]["count"], 3);
}

async fn version_filter(app: &TestApp) {
    for (n, v) in [
        ("com.example/xx", "1.0.0"),
        ("com.example/xx", "2.0.0"),
        ("com.example/yy", "1.0.0"),
    ] {
        app.publish_ok(n, v).await;
    }
    let (_, latest) = app.get("/v0.1/servers?version=latest").await;
    let got: Vec<&str> = latest["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["server"]["version"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["2.0.0", "1.0.0"]);
    let (_, exact) = app.get("/v0.1/servers?version=1.0.0").await;
    assert_eq!(exact["metadata"]["count"], 2);
    let (_, none) = app.get("/v0.1/servers?version=3.0.0").await;
    assert_eq!(none["servers"], json!([]));
}

async fn encoded_names_and_versions(app: &TestApp) {
    app.publish_ok("io.modelcontextprotocol/everything", "1.0.0+20130313144700")
        .await;
    let (status, body) = app
        .get("/v0.1/servers/io.modelcontextprotocol%2Feverything/versions/1.0.0%2B20130313144700")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["server"]["version"], "1.0.0+20130313144700");
    let (status, _) = app
        .get("/v0.1/servers/io.modelcontextprotocol%2Feverything/versions/1.0.0+20130313144700")
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "an unencoded + is not a space in a path"
    );
    let (status, _) = app
        .get("/v0.1/servers/io.modelcontextprotocol/everything/versions")
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "an unencoded slash is another path"
    );
    let (status, body) = app.get("/v0.1/servers/io.x%FF%2Fy/versions").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "Invalid server name encoding");
    let (status, _) = app
        .get("/v0.1/servers/io.modelcontextprotocol%2Feverything")
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the removed GET servers/{{name}} route"
    );
}

/// 50 publishes of one name at once, every version declaring the name's one remote URL: all land, one latest.
async fn concurrent_publishes_lose_nothing(app: &TestApp) {
    let name = "com.example/concurrent";
    let mut tasks = Vec::new();
    for i in 0..50 {
        let client = app.client.clone();
        let url = app.url("/v0.1/publish");
        let mut doc = server_json(name, &format!("1.{i}.0"));
        doc["remotes"] =
            json!([{"type": "streamable-http", "url": "https://concurrent.example.com/mcp"}]);
        tasks.push(tokio::spawn(async move {
            let resp = client
                .post(url)
                .bearer_auth(ADMIN_TOKEN)
                .json(&doc)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            (status, resp.text().await.unwrap())
        }));
    }
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (_, versions) = app
        .get("/v0.1/servers/com.example%2Fconcurrent/versions")
        .await;
    assert_eq!(versions["metadata"]["count"], 50);
    assert_eq!(count_latest(app, name).await, 1);
    assert_eq!(latest_version(app, name).await, "1.49.0");
}

/// Publishes of different names declaring one remote URL, all at once: one name owns it, the others are refused
/// (PostgreSQL serialized writes per name only, so several passed the ownership check together).
async fn concurrent_publishes_of_one_remote_url_let_one_name_win(app: &TestApp) {
    let url = "https://race.example.com/mcp";
    let mut tasks = Vec::new();
    for i in 0..12 {
        let client = app.client.clone();
        let publish = app.url("/v0.1/publish");
        let mut doc = server_json(&format!("com.example/race-{i}"), "1.0.0");
        // Two URLs, declared in opposite orders: the writers check them in one order all the same.
        let (a, b) = (url.to_string(), format!("{url}/sse"));
        doc["remotes"] = match i % 2 {
            0 => json!([{"type": "streamable-http", "url": a}, {"type": "sse", "url": b}]),
            _ => json!([{"type": "sse", "url": b}, {"type": "streamable-http", "url": a}]),
        };
        tasks.push(tokio::spawn(async move {
            let resp = client
                .post(publish)
                .bearer_auth(ADMIN_TOKEN)
                .json(&doc)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            (status, resp.text().await.unwrap())
        }));
    }
    let mut won = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            StatusCode::OK => won += 1,
            StatusCode::BAD_REQUEST => {
                assert!(body.contains("is already used by server"), "{body}")
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(won, 1, "exactly one name may own {url}");
}

/// Restoring every version of a server (whose versions declare different URLs) while other names publish those
/// URLs: each write holds its URLs in one sorted order, so they queue instead of deadlocking (PostgreSQL ended
/// one of them with `deadlock detected`, answered 500).
async fn restoring_a_server_beside_publishes_of_its_urls_never_fails(app: &TestApp) {
    let remote = |urls: &[String]| -> Value {
        urls.iter()
            .map(|u| json!({"type": "streamable-http", "url": u}))
            .collect()
    };
    for round in 0..6 {
        let a = format!("com.example/restored-{round}");
        let urls: Vec<String> = (0..4)
            .map(|i| format!("https://r{round}-{i}.example.com/mcp"))
            .collect();
        for (i, url) in urls.iter().enumerate() {
            let mut doc = server_json(&a, &format!("1.{i}.0"));
            doc["remotes"] = remote(std::slice::from_ref(url));
            let (status, body) = app
                .send(Method::POST, "/v0.1/publish", Some(ADMIN_TOKEN), &doc)
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        let path = format!("/v0.1/servers/{}/status", enc(&a));
        let (status, body) = app
            .send(
                Method::PATCH,
                &path,
                Some(ADMIN_TOKEN),
                &json!({"status": "deleted"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut tasks = Vec::new();
        let restore = app
            .request(Method::PATCH, &path)
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"status": "active"}));
        tasks.push(tokio::spawn(async move { restore.send().await.unwrap() }));
        for i in 0..6 {
            let mut mine = urls.clone();
            if i % 2 == 1 {
                mine.reverse();
            }
            let mut doc = server_json(&format!("com.example/taker-{round}-{i}"), "1.0.0");
            doc["remotes"] = remote(&mine);
            let publish = app
                .request(Method::POST, "/v0.1/publish")
                .bearer_auth(ADMIN_TOKEN)
                .json(&doc);
            tasks.push(tokio::spawn(async move { publish.send().await.unwrap() }));
        }
        for t in tasks {
            let resp = t.await.unwrap();
            let status = resp.status();
            let body = resp.text().await.unwrap();
            assert!(
                status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
                "round {round}: {status}: {body}"
            );
        }
    }
}

async fn bad_input_is_4xx_never_500(app: &TestApp) {
    let raw = |body: &'static str| {
        app.request(Method::POST, "/v0.1/publish")
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "application/json")
            .body(body)
    };
    let (status, body) = common::json_of(raw("{\"name\": ").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("Invalid JSON body"),
        "{body}"
    );
    let (status, _) = common::json_of(raw("").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for body in [
        "[]",
        "42",
        "null",
        "{\"name\": 5, \"version\": []}",
        "{\"name\": \"a.b/c\"}",
    ] {
        let (status, resp) = common::json_of(raw(body).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {resp}");
        assert!(resp["error"].is_string());
    }
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(200_000));
    // The server answers 413 without reading the rest and closes the connection: use one that is not pooled.
    let resp = reqwest::Client::new()
        .post(app.url("/v0.1/publish"))
        .header("connection", "close")
        .bearer_auth(ADMIN_TOKEN)
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let (_, body) = common::json_of(resp).await;
    assert!(body["error"].is_string());
    let (status, body) = app
        .set_status("com.example/x", "1.0.0", &json!({"status": 5}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = app.get("/v1/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string());
}

async fn cors_and_meta_endpoints(app: &TestApp) {
    let resp = app
        .request(Method::GET, "/v0.1/servers")
        .header("Origin", "https://vscode.dev")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    let pre = app
        .request(Method::OPTIONS, "/v0.1/servers/x%2Fy/versions/latest")
        .header("Origin", "https://vscode.dev")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "authorization")
        .send()
        .await
        .unwrap();
    assert!(pre.status().is_success(), "{}", pre.status());
    let h = pre.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    let methods = h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_ascii_uppercase();
    assert!(
        methods.contains("GET") && methods.contains("OPTIONS"),
        "{methods}"
    );
    let headers = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        headers.contains("authorization") && headers.contains("content-type"),
        "{headers}"
    );

    assert_eq!(
        app.get("/v0.1/health").await,
        (StatusCode::OK, json!({"status": "ok"}))
    );
    assert_eq!(
        app.get("/v0/ping").await,
        (StatusCode::OK, json!({"pong": true}))
    );
    let (status, v) = app.get("/v0.1/version").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        v["version"].as_str().unwrap().starts_with('v')
            && v.get("git_commit").is_some()
            && v.get("build_time").is_some()
    );

    let (status, spec) = app.get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(spec["info"]["version"], "1.0.0");
    assert!(
        spec["info"]["description"]
            .as_str()
            .unwrap()
            .contains("https://github.com/modelcontextprotocol/registry")
    );
    assert!(
        spec["paths"]
            .get("/v0.1/servers/{serverName}/versions/{version}")
            .is_some()
    );
    assert!(spec["paths"].get("/v0/publish").is_some());
    let yaml = app
        .request(Method::GET, "/openapi.yaml")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        yaml.contains("version: 1.0.0") || yaml.contains("version: '1.0.0'"),
        "{}",
        &yaml[..300.min(yaml.len())]
    );
    let docs = app.request(Method::GET, "/docs/").send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger"));
    let js = app
        .request(Method::GET, "/docs/swagger-ui-bundle.js")
        .send()
        .await
        .unwrap();
    assert_eq!(
        js.status(),
        StatusCode::OK,
        "the docs UI assets are served from the binary"
    );

    let metrics = app
        .request(Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("thv_registry_http_requests_total"),
        "{metrics}"
    );
    assert!(metrics.contains("route=\"/v0.1/servers\""), "{metrics}");
    let _ = SCHEMA_URL;
}

/// Settings that cannot be used (here: the signing key file is a directory) stop the server before it writes
/// anything: the database was seeded first, then the key failed.
#[tokio::test]
async fn a_bad_signing_key_stops_start_up_before_the_database_is_seeded() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("registry.db");
    let mut config = common::base_config(format!("sqlite://{}", db.display()), dir.path());
    config.seed = true;
    let key_dir = dir.path().join("key-is-a-directory");
    std::fs::create_dir(&key_dir).unwrap();
    config.key = thv_registry_api::config::KeySource::File(key_dir);
    let Err(err) = thv_registry_api::start(&config).await else {
        panic!("a directory is no signing key");
    };
    assert!(format!("{err:#}").contains("signing key file"), "{err:#}");
    assert!(
        !db.exists(),
        "the database was created before the key failed"
    );
}

/// `seed_from` matters only to an empty database: a seeded one starts without the file (it refused to: "seed_from:
/// … is not a readable file"), an empty one fails to start and names it.
#[tokio::test]
async fn a_missing_seed_file_stops_only_an_empty_database() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.json");
    std::fs::write(
        &seed,
        serde_json::to_vec(&[server_json("com.example/seeded", "1.0.0")]).unwrap(),
    )
    .unwrap();
    let load = |db: &str| {
        let mut config =
            thv_registry_api::config::Config::load(&thv_registry_api::config::ConfigArgs {
                database_url: Some(format!("sqlite://{}", dir.path().join(db).display())),
                seed_from: Some(seed.clone()),
                listen: Some("127.0.0.1:0".parse().unwrap()),
                ..Default::default()
            })
            .expect("a missing seed file is no configuration error");
        config.key = thv_registry_api::config::KeySource::File(dir.path().join("jwt.key"));
        config
    };
    let seeded = load("seeded.db");
    thv_registry_api::start(&seeded)
        .await
        .unwrap()
        .shutdown()
        .await
        .unwrap();
    std::fs::remove_file(&seed).unwrap();
    let again = load("seeded.db");
    let server = thv_registry_api::start(&again)
        .await
        .expect("a seeded database starts without its seed file");
    assert_eq!(
        server.state.registry.store().count().await.unwrap(),
        1,
        "what was seeded is served"
    );
    server.shutdown().await.unwrap();
    let Err(err) = thv_registry_api::start(&load("empty.db")).await else {
        panic!("an empty database cannot be seeded from a missing file");
    };
    let shown = format!("{err:#}");
    assert!(shown.contains(&seed.display().to_string()), "{shown}");
    // A FIFO (or a pipe) cannot be read twice: refused at once instead of waiting for a second writer (it hung).
    let fifo = std::process::Command::new("mkfifo")
        .arg(&seed)
        .status()
        .unwrap();
    assert!(fifo.success());
    let started = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        thv_registry_api::start(&load("fifo.db")),
    )
    .await
    .expect("start-up does not wait on a FIFO");
    let Err(err) = started else {
        panic!("a FIFO is no seed file");
    };
    assert!(format!("{err:#}").contains("not a regular file"), "{err:#}");
    // A seeded database starts beside it, without opening it.
    let server = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        thv_registry_api::start(&again),
    )
    .await
    .expect("start-up does not open the FIFO")
    .unwrap();
    server.shutdown().await.unwrap();
}

/// A database directory that cannot be created is named (the error said only "File exists (os error 17)").
#[tokio::test]
async fn a_database_directory_that_cannot_be_created_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain-file");
    std::fs::write(&plain, "x").unwrap();
    let db = plain.join("sub").join("registry.db");
    let config = common::base_config(format!("sqlite://{}", db.display()), dir.path());
    let Err(err) = thv_registry_api::start(&config).await else {
        panic!("a directory under a plain file cannot be created");
    };
    let shown = format!("{err:#}");
    assert!(
        shown.contains(&plain.join("sub").display().to_string()),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_starting_together_on_an_empty_database_all_start() {
    let Some((admin, db)) = common::new_postgres_database("seedrace").await else {
        return;
    };
    replicas_starting_together_all_start(common::database_url(&admin, &db)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_starting_together_on_empty_configmaps_all_start() {
    let Some((url, namespace)) = common::new_configmap_store("seedrace").await else {
        return;
    };
    replicas_starting_together_all_start(url).await;
    namespace.delete_and_wait(std::time::Duration::ZERO).await;
}

/// Replicas started together on one empty store all start: one seeds it, and the others, whose seed then
/// conflicts (PostgreSQL) or waits for it (ConfigMaps), serve what it seeded (one exited with "Conflicting
/// concurrent change").
async fn replicas_starting_together_all_start(database_url: String) {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let starts = dirs.iter().map(|dir| {
        let mut config = common::base_config(database_url.clone(), dir.path());
        config.seed = true;
        async move { thv_registry_api::start(&config).await }
    });
    let servers = futures::future::join_all(starts).await;
    let mut running = Vec::new();
    for server in servers {
        running.push(server.expect("every replica starts"));
    }
    let body: Value = reqwest::get(format!("http://{}/v0.1/servers?limit=1", running[0].addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["metadata"]["count"], 1, "{body}");
    for server in running {
        server.shutdown().await.unwrap();
    }
}
