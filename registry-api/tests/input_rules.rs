//! What the API accepts in names, versions, query parameters and stored strings (issue 14, items 4 and 7):
//! NUL (U+0000) is refused everywhere with a 4xx naming the field — PostgreSQL can store it in no text column,
//! so it would otherwise be a 500 there and stored on SQLite — and other control characters only where
//! upstream's patterns refuse them; publish errors name the field a wrong type is in; upstream's pre-schema
//! format is recognised; `isLatest` uses upstream's semver test. Every case runs against SQLite and PostgreSQL,
//! over HTTP.

mod common;

use common::{ADMIN_TOKEN, Backend, Options, TestApp, enc, server_json};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

for_each_backend!(
    nul_in_queries_is_a_400_naming_the_parameter,
    names_with_control_characters_are_not_found,
    nul_in_a_path_version_is_a_400_naming_the_version,
    nul_in_a_published_string_is_refused_naming_its_path,
    nul_in_status_and_edit_bodies_is_refused,
    control_characters_upstream_allows_are_kept,
    publish_errors_name_the_field_of_a_wrong_type,
    legacy_pre_schema_documents_are_recognised,
    several_hyphens_make_a_version_non_semver,
    seeding_skips_documents_with_nul,
);

/// A change made to a test document.
type Edit = Box<dyn Fn(&mut Value)>;

const NUL_RULE: &str = "must not contain the NUL character (U+0000)";

fn error_of(body: &Value) -> &str {
    body["error"].as_str().unwrap_or_default()
}

/// Asserts a 4xx whose message names `field` and the NUL rule.
fn assert_refused(status: StatusCode, body: &Value, expected: StatusCode, field: &str) {
    assert_eq!(status, expected, "{body}");
    let msg = error_of(body);
    assert!(msg.contains(field), "{field} not named: {msg}");
    assert!(msg.contains(NUL_RULE), "rule not named: {msg}");
}

async fn not_stored(app: &TestApp, name: &str) {
    let (status, body) = app
        .get(&format!(
            "/v0.1/servers/{}/versions?include_deleted=true",
            enc(name)
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{name} was stored: {body}");
}

async fn nul_in_queries_is_a_400_naming_the_parameter(app: &TestApp) {
    app.publish_ok("com.example/abc", "1.0.0").await;
    for (query, field) in [
        ("search=a%00b", "search"),
        ("search=%00", "search"),
        ("search=abc%00", "search"),
        ("version=1%00", "version"),
        ("version=1.0.0%00", "version"),
        ("cursor=com.example%2Fabc:1%00", "cursor"),
        ("updated_since=2025-01-01T00:00:00Z%00", "updated_since"),
    ] {
        for prefix in ["/v0.1", "/v0"] {
            let (status, body) = app.get(&format!("{prefix}/servers?{query}")).await;
            assert_refused(status, &body, StatusCode::BAD_REQUEST, field);
        }
    }
    let (status, body) = app
        .get("/v0.1/servers/com.example%2Fabc/versions?include_deleted=tr%00ue")
        .await;
    assert_refused(status, &body, StatusCode::BAD_REQUEST, "include_deleted");
}

async fn names_with_control_characters_are_not_found(app: &TestApp) {
    app.publish_ok("com.example/abc", "1.0.0").await;
    for name in [
        "com.example%2Fa%00bc",
        "com.example%2Fabc%00",
        "com.example%2Fab%01c",
        "%7F",
    ] {
        for path in [
            format!("/v0.1/servers/{name}/versions"),
            format!("/v0.1/servers/{name}/versions/latest"),
            format!("/v0.1/servers/{name}/versions/1.0.0"),
        ] {
            let (status, body) = app.get(&path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
            assert_eq!(error_of(&body), "Server not found", "{path}");
        }
        let (status, body) = app
            .send(
                Method::PATCH,
                &format!("/v0.1/servers/{name}/status"),
                Some(ADMIN_TOKEN),
                &json!({"status": "deprecated"}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}: {body}");
    }
}

async fn nul_in_a_path_version_is_a_400_naming_the_version(app: &TestApp) {
    app.publish_ok("com.example/abc", "1.0.0").await;
    let base = "/v0.1/servers/com.example%2Fabc/versions";
    for version in ["1%00", "1.0.0%00", "%00"] {
        let (status, body) = app.get(&format!("{base}/{version}")).await;
        assert_refused(status, &body, StatusCode::BAD_REQUEST, "version");
        for (method, suffix, req) in [
            (Method::PUT, "", server_json("com.example/abc", "1.0.0")),
            (Method::DELETE, "", json!({})),
            (Method::PATCH, "/status", json!({"status": "deprecated"})),
        ] {
            let path = format!("{base}/{version}{suffix}");
            let (status, body) = app
                .send(method.clone(), &path, Some(ADMIN_TOKEN), &req)
                .await;
            assert_refused(status, &body, StatusCode::BAD_REQUEST, "version");
        }
    }
}

async fn nul_in_a_published_string_is_refused_naming_its_path(app: &TestApp) {
    let name = "com.example/nul";
    let cases: Vec<(&str, Edit)> = vec![
        ("version", Box::new(|d| d["version"] = json!("1.0.0\u{0}"))),
        (
            "description",
            Box::new(|d| d["description"] = json!("a\u{0}b")),
        ),
        ("title", Box::new(|d| d["title"] = json!("T\u{0}"))),
        (
            "websiteUrl",
            Box::new(|d| d["websiteUrl"] = json!("https://example.com/\u{0}")),
        ),
        (
            "packages[0].identifier",
            Box::new(|d| d["packages"][0]["identifier"] = json!("@test/\u{0}server")),
        ),
        (
            "_meta[\"io.modelcontextprotocol.registry/publisher-provided\"].note",
            Box::new(|d| {
                d["_meta"] = json!({"io.modelcontextprotocol.registry/publisher-provided": {"note": "x\u{0}"}})
            }),
        ),
        (
            "_meta[\"io.modelcontextprotocol.registry/publisher-provided\"][\"k\\u0000\"]",
            Box::new(|d| {
                d["_meta"] =
                    json!({"io.modelcontextprotocol.registry/publisher-provided": {"k\u{0}": 1}})
            }),
        ),
        (
            "repository.url",
            Box::new(|d| {
                d["repository"] =
                    json!({"url": "https://github.com/example/\u{0}", "source": "github"})
            }),
        ),
    ];
    for (path, edit) in &cases {
        let mut doc = server_json(name, "1.0.0");
        edit(&mut doc);
        let (status, body) = app.publish(&doc).await;
        assert_refused(status, &body, StatusCode::UNPROCESSABLE_ENTITY, path);
        not_stored(app, name).await;

        // `/validate` reports the same rule at the same path, and publish's message is its first error.
        let (status, report) = app.send(Method::POST, "/v0.1/validate", None, &doc).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(report["valid"], false, "{report}");
        let issue = &report["issues"][0];
        assert_eq!(issue["path"], *path, "{report:#}");
        assert_eq!(issue["reference"], "string-contains-nul", "{report:#}");
    }
}

async fn nul_in_status_and_edit_bodies_is_refused(app: &TestApp) {
    let name = "com.example/st";
    app.publish_ok(name, "1.0.0").await;
    let (status, body) = app
        .set_status(
            name,
            "1.0.0",
            &json!({"status": "deprecated", "statusMessage": "old\u{0}"}),
        )
        .await;
    assert_refused(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "statusMessage",
    );
    let (status, body) = app
        .send(
            Method::PATCH,
            "/v0.1/servers/com.example%2Fst/status",
            Some(ADMIN_TOKEN),
            &json!({"status": "deprecated", "statusMessage": "\u{0}"}),
        )
        .await;
    assert_refused(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "statusMessage",
    );
    let mut edited = server_json(name, "1.0.0");
    edited["description"] = json!("edited\u{0}");
    let (status, body) = app
        .send(
            Method::PUT,
            "/v0.1/servers/com.example%2Fst/versions/1.0.0",
            Some(ADMIN_TOKEN),
            &edited,
        )
        .await;
    assert_refused(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "description",
    );
    // Nothing changed.
    let (status, body) = app
        .get("/v0.1/servers/com.example%2Fst/versions/1.0.0")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["server"]["description"], "Test server com.example/st");
    assert_eq!(
        common::official(&body)["status"],
        "active",
        "the refused status change was not applied"
    );
}

/// Upstream's schema has no pattern on descriptions, titles or versions: line breaks and other control
/// characters are stored and served back (and versions holding them page through cursors); NUL is the one
/// character no field may hold.
async fn control_characters_upstream_allows_are_kept(app: &TestApp) {
    let name = "com.example/ctl";
    let mut doc = server_json(name, "1.0.0");
    doc["description"] = json!("line one\nline two\ttabbed");
    doc["title"] = json!("Bell\u{7}");
    let (status, body) = app.publish(&doc).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["server"]["description"], "line one\nline two\ttabbed");
    for version in ["1.0.1\u{1}", "1.0.2\n"] {
        let (status, body) = app.publish(&server_json(name, version)).await;
        assert_eq!(status, StatusCode::OK, "{version:?}: {body}");
        let (status, body) = app
            .get(&format!(
                "/v0.1/servers/{}/versions/{}",
                enc(name),
                enc(version)
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{version:?}: {body}");
        assert_eq!(body["server"]["version"], version);
    }
    // A page boundary at a version holding a control character: its cursor works.
    let all = app.list_all("limit=1").await;
    assert_eq!(all.len(), 3, "{all:#?}");
    // Searching for a control character is a search, not an error.
    let (status, body) = app.get("/v0.1/servers?search=one%0Aline").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["metadata"]["count"], 1, "{body}");
    let (status, body) = app.get("/v0.1/servers?search=%01%02%03").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["metadata"]["count"], 0, "{body}");
    // A search longer than anything searchable is refused at once (it took seconds of CPU on SQLite).
    let (status, body) = app
        .get(&format!("/v0.1/servers?search={}", "ver".repeat(10_000)))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.to_string()
            .contains("search parameter: at most 256 characters"),
        "{body}"
    );
    let (status, body) = app
        .get(&format!("/v0.1/servers?search={}", "é".repeat(256)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Counted as given, not as lower-cased: 200 × `İ` (which lower-cases to two characters each) is 200.
    let (status, body) = app
        .get(&format!("/v0.1/servers?search={}", "%C4%B0".repeat(200)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn publish_errors_name_the_field_of_a_wrong_type(app: &TestApp) {
    let name = "com.example/typed";
    let cases: Vec<(&str, Edit)> = vec![
        ("version", Box::new(|d| d["version"] = json!(1))),
        ("version", Box::new(|d| d["version"] = json!(["1.0.0"]))),
        (
            "description",
            Box::new(|d| d["description"] = json!({"en": "x"})),
        ),
        (
            "packages",
            Box::new(|d| d["packages"] = json!({"npm": "x"})),
        ),
        (
            "packages[0].transport",
            Box::new(|d| d["packages"][0]["transport"] = json!("stdio")),
        ),
        (
            "packages[0].environmentVariables[0].isSecret",
            Box::new(|d| {
                d["packages"][0]["environmentVariables"] =
                    json!([{"name": "TOKEN", "isSecret": "yes"}])
            }),
        ),
    ];
    for (field, edit) in &cases {
        let mut doc = server_json(name, "1.0.0");
        edit(&mut doc);
        for (method, path) in [
            (Method::POST, "/v0.1/publish".to_string()),
            (
                Method::PUT,
                format!("/v0.1/servers/{}/versions/1.0.0", enc(name)),
            ),
        ] {
            // (The edited server does not exist: the document is refused first all the same.)
            let (status, body) = app.send(method, &path, Some(ADMIN_TOKEN), &doc).await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{path} {field}: {body}"
            );
            let msg = error_of(&body);
            assert!(
                msg.contains(&format!("first error: {field}: ")),
                "{field} not named: {msg}"
            );
            assert!(msg.contains("must be of type"), "{field}: {msg}");
        }
        not_stored(app, name).await;
    }
}

/// The official registry's first format (its 2025-05-16 seed): `version_detail.version`, packages with
/// `registry_name` and `name`, no `$schema`.
fn legacy_document(name: &str) -> Value {
    json!({
        "id": "a5e8a7f0-d4e4-4a1d-b12f-2896a23fd4f1",
        "name": name,
        "description": "An old-style entry",
        "repository": {"url": "https://github.com/example/old", "source": "github"},
        "version_detail": {"version": "0.0.1-seed", "release_date": "2025-05-16T19:13:21Z", "is_latest": true},
        "packages": [{"registry_name": "npm", "name": "@example/old", "version": "0.0.1",
                      "environment_variables": [{"name": "TOKEN", "description": "a token"}]}]
    })
}

async fn legacy_pre_schema_documents_are_recognised(app: &TestApp) {
    let name = "com.example/legacy";
    let mut only_packages = server_json(name, "1.0.0");
    only_packages["packages"] =
        json!([{"registry_name": "npm", "name": "@example/old", "version": "1.0.0"}]);
    for (doc, field) in [
        (legacy_document(name), "version_detail"),
        (only_packages, "packages[0].registry_name"),
    ] {
        let (status, body) = app.publish(&doc).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let msg = error_of(&body);
        assert!(
            msg.contains(&format!("first error: {field}: ")),
            "{field} not named: {msg}"
        );
        assert!(msg.contains("2025-05-16"), "format not named: {msg}");
        assert!(
            msg.contains("registryType"),
            "no hint how to convert: {msg}"
        );
        not_stored(app, name).await;
        let (_, report) = app.send(Method::POST, "/v0.1/validate", None, &doc).await;
        assert_eq!(report["issues"][0]["path"], field, "{report:#}");
        assert_eq!(
            report["issues"][0]["reference"], "legacy-pre-schema-format",
            "{report:#}"
        );
    }
}

/// Upstream's `IsSemanticVersion` splits on every `-`: `1.0.0-alpha-beta` is not semver, so a later semantic
/// version beats it whatever their numbers.
async fn several_hyphens_make_a_version_non_semver(app: &TestApp) {
    let name = "com.example/hyphens";
    app.publish_ok(name, "1.0.0-alpha-beta").await;
    let (status, body) = app.publish(&server_json(name, "0.9.0")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        common::official(&body)["isLatest"],
        true,
        "0.9.0 is semver and 1.0.0-alpha-beta is not: {body}"
    );
    let (_, latest) = app
        .get(&format!("/v0.1/servers/{}/versions/latest", enc(name)))
        .await;
    assert_eq!(latest["server"]["version"], "0.9.0");
    // One hyphen is still a prerelease, compared as upstream does.
    app.publish_ok(name, "1.0.0-rc.1").await;
    let (_, latest) = app
        .get(&format!("/v0.1/servers/{}/versions/latest", enc(name)))
        .await;
    assert_eq!(latest["server"]["version"], "1.0.0-rc.1");
}

async fn seeding_skips_documents_with_nul(app: &TestApp) {
    let mut bad = server_json("com.example/seeded-nul", "1.0.0");
    bad["description"] = json!("bad\u{0}");
    let docs = json!([
        server_json("com.example/seeded-ok", "1.0.0"),
        bad,
        legacy_document("com.example/seeded-legacy"),
    ]);
    let bytes = serde_json::to_vec(&docs).unwrap();
    let docs = thv_core::registry_file::EntryFile::Bytes(bytes.into());
    let seeded = app.state().registry.seed(docs).await;
    assert_eq!(seeded.unwrap(), 1, "only the valid entry is seeded");
    let (status, _) = app
        .get("/v0.1/servers/com.example%2Fseeded-ok/versions")
        .await;
    assert_eq!(status, StatusCode::OK);
    not_stored(app, "com.example/seeded-nul").await;
}

/// Sources whose entries hold NUL — in the document (a file source) or in the upstream's own metadata (an API
/// source) — have those entries skipped and reported, the others synced. On PostgreSQL such an entry failed the
/// whole sync; SQLite stored it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_skips_entries_with_nul_sqlite() {
    sync_skips_entries_with_nul(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_skips_entries_with_nul_postgres() {
    sync_skips_entries_with_nul(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_skips_entries_with_nul_configmap() {
    sync_skips_entries_with_nul(Backend::ConfigMap).await;
}

/// An upstream registry API on 127.0.0.1 serving one page: `ok` as is, `bad` with NUL in its status message;
/// under `/broken` one that fails with NUL in its error body.
async fn api_upstream(ok: &str, bad: &str) -> String {
    let official = |message: &str| {
        json!({"io.modelcontextprotocol.registry/official": {
            "status": "deprecated", "statusMessage": message, "isLatest": true,
            "statusChangedAt": "2025-10-01T00:00:00Z", "publishedAt": "2025-10-01T00:00:00Z",
            "updatedAt": "2025-10-01T00:00:00Z"}})
    };
    let page = json!({"servers": [
        {"server": server_json(ok, "1.0.0"), "_meta": official("moved")},
        {"server": server_json(bad, "1.0.0"), "_meta": official("moved\u{0}")},
    ], "metadata": {"count": 2}});
    let router = axum::Router::new()
        .route(
            "/v0.1/servers",
            axum::routing::get(move || {
                let page = page.clone();
                async move { axum::Json(page) }
            }),
        )
        .route(
            "/broken/v0.1/servers",
            axum::routing::get(|| async {
                (
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "upstream\u{0}failure",
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

/// `POST /v1/sources/{source}/sync`, again while the background sync of that source runs (409).
async fn sync_now(app: &TestApp, source: &str) -> (StatusCode, Value) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, body) = common::json_of(
            app.request(Method::POST, &format!("/v1/sources/{source}/sync"))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap(),
        )
        .await;
        if status != StatusCode::CONFLICT || std::time::Instant::now() > deadline {
            return (status, body);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn sync_skips_entries_with_nul(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("registry.json");
    let mut in_description = server_json("com.example/file-nul-description", "1.0.0");
    in_description["description"] = json!("bad\u{0}");
    let mut in_meta = server_json("com.example/file-nul-meta", "1.0.0");
    in_meta["_meta"] =
        json!({"io.modelcontextprotocol.registry/publisher-provided": {"x": "a\u{0}"}});
    let docs = json!([
        server_json("com.example/file-ok", "1.0.0"),
        in_description,
        in_meta
    ]);
    std::fs::write(&file, serde_json::to_vec(&docs).unwrap()).unwrap();
    let api = api_upstream("com.example/api-ok", "com.example/api-nul").await;
    let config = format!(
        r#"
default_registry = "all"
[[sources]]
name = "file"
file = {{ path = "{}" }}
[[sources]]
name = "api"
api = {{ endpoint = "{api}" }}
allow_private_addresses = true
[[sources]]
name = "broken"
api = {{ endpoint = "{api}/broken" }}
allow_private_addresses = true
[[registries]]
name = "all"
sources = ["managed", "file", "api", "broken"]
"#,
        file.display()
    );
    let Some(app) = TestApp::start_with(
        backend,
        Options {
            sync_config: Some(config),
            ..Default::default()
        },
    )
    .await
    else {
        return;
    };
    for (source, skipped) in [
        ("file", vec!["description", "_meta"]),
        ("api", vec!["statusMessage"]),
    ] {
        let (status, body) = sync_now(&app, source).await;
        assert_eq!(status, StatusCode::OK, "{source}: {body}");
        let (_, record) = common::json_of(
            app.request(Method::GET, &format!("/v1/sources/{source}"))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(record["status"], "complete", "{record:#}");
        let reasons: Vec<&str> = record["lastSync"]["skippedEntries"]
            .as_array()
            .unwrap_or_else(|| panic!("no skipped entries: {record:#}"))
            .iter()
            .map(|s| s["reason"].as_str().unwrap())
            .collect();
        assert_eq!(reasons.len(), skipped.len(), "{record:#}");
        for (reason, field) in reasons.iter().zip(&skipped) {
            assert!(
                reason.contains(field) && reason.contains(NUL_RULE),
                "{reason}"
            );
        }
    }
    // A failed sync whose error (the upstream's body) holds NUL is recorded as failed (NUL stored as U+FFFD), not
    // a 500 because the failure could not be written.
    let (status, body) = sync_now(&app, "broken").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    let (_, record) = common::json_of(
        app.request(Method::GET, "/v1/sources/broken")
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(record["status"], "failed", "{record:#}");
    assert!(
        record["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("upstream\u{FFFD}failure")),
        "{record:#}"
    );
    for ok in ["com.example/file-ok", "com.example/api-ok"] {
        let (status, _) = app
            .get(&format!("/v0.1/servers/{}/versions", enc(ok)))
            .await;
        assert_eq!(status, StatusCode::OK, "{ok}");
    }
    for bad in [
        "com.example/file-nul-description",
        "com.example/file-nul-meta",
        "com.example/api-nul",
    ] {
        not_stored(&app, bad).await;
    }
    app.stop().await;
}
