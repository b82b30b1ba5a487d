//! The official registry's own list response (`{"servers": [{"server", "_meta"}], "metadata"}`, what
//! `GET /v0.1/servers` returns and what mirrors and crawls save) read as a registry file by every command, and
//! entries declaring an older `$schema` validated against the version they declare, kept as they are, and
//! published by `import --to` only with `--upgrade-schema` where they are valid under the current schema.

mod common;

use common::{cli, mint_token, start_api, write_json};
use serde_json::{Value, json};

const OFFICIAL: &str = "io.modelcontextprotocol.registry/official";

fn schema(version: &str) -> String {
    format!("https://static.modelcontextprotocol.io/schemas/{version}/server.schema.json")
}

fn official(published: &str, status: &str, latest: bool) -> Value {
    json!({OFFICIAL: {"status": status, "publishedAt": published, "updatedAt": published,
                      "statusChangedAt": published, "isLatest": latest}})
}

fn item(server: Value, published: &str, status: &str, latest: bool) -> Value {
    json!({"server": server, "_meta": official(published, status, latest)})
}

/// One entry per published schema version, each in the shape its version describes, plus what the official
/// registry serves after its own migrations (a 2025-09-29 OCI package without `version`).
fn entries() -> Vec<Value> {
    vec![
        item(
            json!({"$schema": schema("2025-07-09"), "name": "io.github.acme/snake", "description": "Snake case",
                   "status": "active", "version": "1.0.0", "website_url": "https://acme.example.com",
                   "packages": [{"registry_type": "npm", "identifier": "@acme/snake", "version": "1.0.0",
                                 "transport": {"type": "stdio"},
                                 "environment_variables": [{"name": "TOKEN", "is_secret": true, "is_required": true}]}]}),
            "2025-08-01T10:00:00Z",
            "active",
            true,
        ),
        item(
            json!({"$schema": schema("2025-09-16"), "name": "io.github.acme/camel", "description": "Camel case",
                   "status": "active", "version": "0.9.0",
                   "packages": [{"registryType": "pypi", "identifier": "acme-camel", "version": "0.9.0",
                                 "transport": {"type": "stdio"}}]}),
            "2025-09-17T10:00:00Z",
            "deprecated",
            false,
        ),
        item(
            json!({"$schema": schema("2025-09-29"), "name": "io.github.acme/camel", "description": "Camel case",
                   "version": "1.0.0",
                   "packages": [{"registryType": "pypi", "identifier": "acme-camel", "version": "1.0.0",
                                 "transport": {"type": "stdio"}}]}),
            "2025-09-30T10:00:00Z",
            "active",
            true,
        ),
        item(
            json!({"$schema": schema("2025-09-29"), "name": "io.github.acme/image", "description": "Migrated OCI",
                   "version": "2.0.0",
                   "packages": [{"registryType": "oci", "identifier": "docker.io/acme/image:2.0.0",
                                 "transport": {"type": "stdio"}}]}),
            "2025-10-01T10:00:00Z",
            "active",
            true,
        ),
        item(
            json!({"$schema": schema("2025-10-11"), "name": "io.github.acme/remote", "description": "Remote",
                   "version": "1.0.0", "remotes": [{"type": "sse", "url": "https://acme.example.com/sse"}]}),
            "2025-10-12T10:00:00Z",
            "deleted",
            false,
        ),
        item(
            json!({"$schema": schema("2025-10-17"), "name": "io.github.acme/remote", "description": "Remote",
                   "version": "1.1.0",
                   "remotes": [{"type": "streamable-http", "url": "https://acme.example.com/mcp"}]}),
            "2025-10-18T10:00:00Z",
            "active",
            true,
        ),
        item(
            json!({"$schema": schema("2025-12-11"), "name": "io.github.acme/current", "description": "Current",
                   "version": "3.0.0",
                   "remotes": [{"type": "streamable-http", "url": "https://{tenant}.acme.example.com/mcp",
                                "variables": {"tenant": {"description": "Tenant", "isRequired": true}}}]}),
            "2025-12-12T10:00:00Z",
            "active",
            true,
        ),
    ]
}

fn list_response(items: Vec<Value>) -> Value {
    let count = items.len();
    json!({"servers": items, "metadata": {"count": count}})
}

#[test]
fn validate_lint_and_stats_read_the_list_response() {
    let dir = tempfile::tempdir().unwrap();
    write_json(dir.path(), "list.json", &list_response(entries()));

    let run = cli(dir.path(), &["validate", "--format", "json", "list.json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let report = run.json();
    let input = &report["inputs"][0];
    assert_eq!(input["readable"], true, "{run:?}");
    let entries = input["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 7, "{run:?}");
    // Each is valid under the version it declares (a non-current version is a warning) — except the OCI package
    // the official registry moved its version out of while its entry still declares 2025-09-29, which requires it.
    let valid: Vec<bool> = entries.iter().map(|e| e["valid"] == true).collect();
    assert_eq!(
        valid,
        [true, true, true, false, true, true, true],
        "{run:?}"
    );
    let text = cli(dir.path(), &["validate", "list.json"]);
    assert!(
        text.stdout
            .contains("list.json: servers[0].server.$schema: warning [schema-version-deprecated]"),
        "{text:?}"
    );
    assert!(
        text.stdout.contains(
            "list.json: servers[3].server.packages[0].version: error [#/definitions/Package/required] required \
             field \"packages[0].version\" is missing"
        ),
        "{text:?}"
    );
    assert!(
        text.stdout
            .contains("1 input, 7 entries (1 invalid): 1 error, 6 warnings"),
        "{text:?}"
    );

    let run = cli(dir.path(), &["lint", "list.json"]);
    assert!(!run.stdout.contains("input-error"), "{run:?}");

    let run = cli(dir.path(), &["stats", "--format", "json", "list.json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let stats = run.json();
    assert_eq!(stats["versions"], 7, "{stats}");
    assert_eq!(stats["servers"], 5, "{stats}");
    assert_eq!(
        stats["unreadable"], 0,
        "the 2025-07-09 entry is read too: {stats}"
    );
    assert_eq!(
        stats["registryStatus"],
        json!({"active": 5, "deprecated": 1, "deleted": 1})
    );
    assert_eq!(stats["schemas"][schema("2025-09-29")], 2, "{stats}");
    assert_eq!(stats["packageTypes"]["npm"], 1, "{stats}");
}

#[test]
fn an_entry_declaring_a_version_is_checked_against_that_version() {
    let dir = tempfile::tempdir().unwrap();
    // Valid under 2025-12-11, but 2025-09-29 requires a package version and allows no other package field.
    let doc = json!({"$schema": schema("2025-09-29"), "name": "io.github.acme/x", "description": "d",
        "version": "1.0.0", "packages": [{"registryType": "npm", "identifier": "x", "transport": {"type": "stdio"},
        "runtimeHint": "npx", "extraField": 1}]});
    write_json(dir.path(), "x.json", &json!([doc]));
    let run = cli(dir.path(), &["validate", "x.json"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .contains("[0].packages[0].version: error [#/definitions/Package/required]"),
        "{run:?}"
    );
    assert!(run.stdout.contains("extraField"), "{run:?}");
    // A snake_case document declaring 2025-12-11 is not valid under it.
    let mut snake = entries()[0]["server"].clone();
    snake["$schema"] = json!(schema("2025-12-11"));
    write_json(dir.path(), "y.json", &json!([snake]));
    let run = cli(dir.path(), &["validate", "y.json"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .contains("required field \"packages[0].registryType\" is missing"),
        "{run:?}"
    );
}

#[test]
fn convert_keeps_the_official_metadata_in_each_server() {
    let dir = tempfile::tempdir().unwrap();
    write_json(dir.path(), "list.json", &list_response(entries()));
    let run = cli(
        dir.path(),
        &["convert", "list.json", "--to", "upstream", "-o", "up.json"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let up: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("up.json")).unwrap()).unwrap();
    let servers = up["data"]["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 7);
    assert_eq!(servers[1]["_meta"][OFFICIAL]["status"], "deprecated");
    assert_eq!(servers[4]["_meta"][OFFICIAL]["status"], "deleted");
    assert_eq!(
        servers[2]["_meta"][OFFICIAL]["publishedAt"],
        "2025-09-30T10:00:00Z"
    );
    // Read back, the file gives the same statuses.
    let run = cli(dir.path(), &["stats", "--format", "json", "up.json"]);
    assert_eq!(
        run.json()["registryStatus"],
        json!({"active": 5, "deprecated": 1, "deleted": 1}),
        "{run:?}"
    );
}

#[test]
fn import_into_a_file_keeps_entries_as_they_are_with_their_metadata() {
    let dir = tempfile::tempdir().unwrap();
    write_json(dir.path(), "list.json", &list_response(entries()));

    // Into a new (upstream) file: the deleted version and the one invalid under its schema are skipped, the
    // others kept as written.
    let run = cli(dir.path(), &["import", "list.json", "--into", "reg.json"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains(
            "invalid   io.github.acme/image@2.0.0 (list.json: servers[3].server): packages[0].version: required \
             field"
        ),
        "{run:?}"
    );
    assert!(
        run.stdout
            .contains("Summary: 5 imported, 2 skipped (1 invalid, 0 exists, 1 deleted), 0 failed"),
        "{run:?}"
    );
    let reg: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("reg.json")).unwrap()).unwrap();
    let servers = reg["data"]["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 5);
    let snake = &servers[0];
    assert_eq!(snake["$schema"], schema("2025-07-09"));
    assert_eq!(snake["packages"][0]["registry_type"], "npm", "{snake}");
    assert_eq!(
        snake["packages"][0]["environment_variables"][0]["is_secret"],
        true
    );
    assert_eq!(snake["_meta"][OFFICIAL]["isLatest"], true);
    assert_eq!(servers[1]["_meta"][OFFICIAL]["status"], "deprecated");
    // Again: everything exists.
    let run = cli(dir.path(), &["import", "list.json", "--into", "reg.json"]);
    assert!(
        run.stdout
            .contains("Summary: 0 imported, 7 skipped (1 invalid, 5 exists, 1 deleted)"),
        "{run:?}"
    );

    // Into a list response: written back as one, the metadata beside each server.
    write_json(dir.path(), "mirror.json", &list_response(vec![]));
    let run = cli(
        dir.path(),
        &["import", "list.json", "--into", "mirror.json"],
    );
    assert_eq!(run.code, 1, "{run:?}");
    let mirror: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("mirror.json")).unwrap()).unwrap();
    let items = mirror["servers"].as_array().unwrap();
    assert_eq!(items.len(), 5, "{mirror}");
    assert_eq!(mirror["metadata"]["count"], 5);
    assert_eq!(items[1]["_meta"][OFFICIAL]["status"], "deprecated");
    assert!(items[1]["server"].get("_meta").is_none(), "{mirror}");
    assert_eq!(items[0]["server"], entries()[0]["server"]);
}

#[test]
fn import_to_an_api_upgrades_the_schema_only_when_asked_and_only_where_valid() {
    let home = tempfile::tempdir().unwrap();
    let api = start_api(home.path(), &["--no-seed"]);
    let token = mint_token(home.path(), "io.github.acme/*", "publish");
    let dir = tempfile::tempdir().unwrap();
    write_json(dir.path(), "list.json", &list_response(entries()));

    // Publishing keeps the current-schema rule: only the 2025-12-11 entry goes through.
    let run = cli(
        dir.path(),
        &["import", "list.json", "--to", &api.base, "--token", &token],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .contains("imported  io.github.acme/current@3.0.0"),
        "{run:?}"
    );
    assert!(
        run.stdout.contains(
            "invalid   io.github.acme/camel@1.0.0 (list.json: servers[2].server): $schema: schema version \
             2025-09-29 is not the current version (2025-12-11)"
        ),
        "{run:?}"
    );
    assert!(run.stdout.contains("--upgrade-schema"), "{run:?}");
    assert!(
        run.stdout
            .contains("Summary: 1 imported, 6 skipped (5 invalid, 0 exists, 1 deleted), 0 failed"),
        "{run:?}"
    );

    // --upgrade-schema: `$schema` rewritten where the entry is valid under the current schema; the snake_case
    // 2025-07-09 entry is not, and says why.
    let run = cli(
        dir.path(),
        &[
            "import",
            "list.json",
            "--to",
            &api.base,
            "--token",
            &token,
            "--upgrade-schema",
        ],
    );
    assert_eq!(run.code, 1, "{run:?}");
    for expected in [
        "imported  io.github.acme/camel@0.9.0 ($schema 2025-09-16 → 2025-12-11)",
        "imported  io.github.acme/camel@1.0.0 ($schema 2025-09-29 → 2025-12-11)",
        "imported  io.github.acme/image@2.0.0 ($schema 2025-09-29 → 2025-12-11)",
        "imported  io.github.acme/remote@1.1.0 ($schema 2025-10-17 → 2025-12-11)",
        "exists    io.github.acme/current@3.0.0",
        "deleted   io.github.acme/remote@1.0.0",
        "invalid   io.github.acme/snake@1.0.0 (list.json: servers[0].server): not valid under the current \
         schema 2025-12-11, $schema left as 2025-07-09: packages[0].registryType: required field",
        "Summary: 4 imported (4 with $schema upgraded), 3 skipped (1 invalid, 1 exists, 1 deleted), 0 failed",
    ] {
        assert!(
            run.stdout.contains(expected),
            "missing {expected:?}: {run:?}"
        );
    }
    // What was published declares the current schema; the rest of the document is as it was.
    let run = cli(
        dir.path(),
        &[
            "export",
            &api.base,
            "--name",
            "io.github.acme/image",
            "--format",
            "list",
            "--out",
            "-",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let resp = json!({"server": run.json()[0].clone()});
    let mut expected = entries()[3]["server"].clone();
    expected["$schema"] = json!(schema("2025-12-11"));
    assert_eq!(resp["server"], expected);
}

/// `convert --to upstream` and `export` keep each document as read: a 2025-07-09 entry keeps its snake_case
/// names under its `$schema`, and the result validates (the typed model wrote camelCase under the old `$schema`).
#[test]
fn convert_and_export_keep_documents_of_older_schemas_as_written() {
    let dir = tempfile::tempdir().unwrap();
    write_json(dir.path(), "list.json", &list_response(entries()));
    for args in [
        &["convert", "list.json", "--to", "upstream", "-o", "out.json"][..],
        &["export", "list.json", "--out", "out.json"][..],
        &[
            "export",
            "list.json",
            "--format",
            "list",
            "--out",
            "out.json",
        ][..],
    ] {
        let run = cli(dir.path(), args);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        let out: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("out.json")).unwrap()).unwrap();
        let servers = out["data"]["servers"]
            .as_array()
            .or(out.as_array())
            .unwrap();
        let snake = servers
            .iter()
            .find(|s| s["name"] == "io.github.acme/snake")
            .unwrap();
        assert_eq!(
            snake["packages"][0]["registry_type"], "npm",
            "{args:?}: {snake}"
        );
        assert!(
            snake["packages"][0].get("registryType").is_none(),
            "{args:?}: {snake}"
        );
        let run = cli(dir.path(), &["validate", "out.json"]);
        assert!(
            !run.stdout.contains("registry_type") && !run.stdout.contains("registryType"),
            "{args:?}: {run:?}"
        );
    }
}
