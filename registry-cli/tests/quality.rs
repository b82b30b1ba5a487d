//! `thv-registry validate`, `lint` and `stats`, run as curators run them: the built binary against registry files,
//! server.json files and directories in temp dirs, bad inputs, and a real `thv-registry-api`.

mod common;

use common::{cli, copy_data, start_registry_api, write_json};
use serde_json::{Value, json};

const SCHEMA: &str = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json";
const OLD_SCHEMA: &str =
    "https://static.modelcontextprotocol.io/schemas/2025-10-17/server.schema.json";

/// A valid server.json with `extra` fields merged in.
fn server(name: &str, extra: Value) -> Value {
    let mut doc = json!({
        "$schema": SCHEMA,
        "name": name,
        "description": "Reads the weather forecast for a city",
        "title": "Weather",
        "repository": {"url": "https://github.com/example/weather", "source": "github"},
        "version": "1.0.0",
    });
    for (k, v) in extra.as_object().unwrap() {
        doc[k] = v.clone();
    }
    doc
}

fn upstream(servers: Vec<Value>) -> Value {
    json!({"$schema": "https://raw.githubusercontent.com/stacklok/toolhive-core/main/registry/types/data/upstream-registry.schema.json",
           "version": "1.0.0", "meta": {"last_updated": "2026-01-01T00:00:00Z"}, "data": {"servers": servers}})
}

fn lines_with<'a>(out: &'a str, needle: &str) -> Vec<&'a str> {
    out.lines().filter(|l| l.contains(needle)).collect()
}

#[test]
fn bundled_registries_validate_and_count_102_servers() {
    let dir = tempfile::tempdir().unwrap();
    copy_data(dir.path(), "registry.json", "registry.json");
    copy_data(dir.path(), "toolhive-legacy-registry.json", "legacy.json");

    let run = cli(dir.path(), &["validate", "registry.json", "legacy.json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("2 inputs, 204 entries: 0 errors, 0 warnings, 0 infos"),
        "{run:?}"
    );

    for file in ["registry.json", "legacy.json"] {
        let run = cli(dir.path(), &["stats", file, "--format", "json"]);
        assert_eq!(run.code, 0, "{run:?}");
        let s = run.json();
        assert_eq!(s["servers"], 102, "{file}");
        assert_eq!(s["versions"], 102);
        assert_eq!(s["kinds"]["packagesOnly"], 79);
        assert_eq!(s["kinds"]["remotesOnly"], 23);
        assert_eq!(s["transports"]["packages"]["stdio"], 60);
        assert_eq!(s["transports"]["packages"]["streamable-http"], 14);
        assert_eq!(s["transports"]["packages"]["sse"], 5);
        assert_eq!(s["transports"]["remotes"]["streamable-http"], 19);
        assert_eq!(s["transports"]["remotes"]["sse"], 4);
        assert_eq!(s["packageTypes"]["oci"], 79);
        assert_eq!(s["provenance"], 37);
        assert_eq!(s["toolhiveStatus"]["Deprecated"], 1);
        assert_eq!(s["toolhiveStatus"]["Active"], 101);
        assert_eq!(
            s["tiers"]["Official"].as_u64().unwrap() + s["tiers"]["Community"].as_u64().unwrap(),
            102
        );
        assert_eq!(s["schemas"][SCHEMA], 102);
        assert_eq!(s["registryStatus"]["(not from an API)"], 102);
    }

    let run = cli(dir.path(), &["stats", "registry.json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let servers = lines_with(&run.stdout, "Servers ");
    assert!(
        servers.iter().any(|l| l.trim_end().ends_with("102")),
        "{run:?}"
    );
    assert!(run.stdout.contains("streamable-http"), "{run:?}");
}

#[test]
fn bundled_registry_lint_findings() {
    let dir = tempfile::tempdir().unwrap();
    copy_data(dir.path(), "registry.json", "registry.json");
    let run = cli(dir.path(), &["lint", "registry.json"]);
    // STRIPE_SECRET_KEY is not marked isSecret: an error-severity finding.
    assert_eq!(run.code, 1, "{run:?}");
    let secret = lines_with(&run.stdout, "[secret-not-marked]");
    assert_eq!(secret.len(), 1, "{run:?}");
    assert!(
        secret[0].starts_with("registry.json: data.servers[")
            && secret[0].contains("].packages[0].environmentVariables[0].isSecret: error")
            && secret[0].contains("STRIPE_SECRET_KEY"),
        "{}",
        secret[0]
    );
    assert_eq!(lines_with(&run.stdout, "[image-unpinned]").len(), 14);
    assert!(
        lines_with(&run.stdout, "docker.io/mcp/time:latest")
            .iter()
            .any(|l| l.contains("warning [image-unpinned]"))
    );
    assert_eq!(lines_with(&run.stdout, "[no-repository]").len(), 15);
    assert_eq!(lines_with(&run.stdout, "[no-provenance]").len(), 42);

    // The one error disabled: only warnings and infos remain; --strict makes the warnings fail.
    let run = cli(
        dir.path(),
        &["lint", "registry.json", "--disable", "secret-not-marked"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(lines_with(&run.stdout, "[secret-not-marked]").is_empty());
    let run = cli(
        dir.path(),
        &[
            "lint",
            "registry.json",
            "--disable",
            "secret-not-marked",
            "--strict",
        ],
    );
    assert_eq!(run.code, 1, "{run:?}");
}

#[test]
fn invalid_entries_name_file_path_and_rule() {
    let dir = tempfile::tempdir().unwrap();
    write_json(
        dir.path(),
        "registry.json",
        &upstream(vec![
            server("io.github.example/ok", json!({})),
            server(
                "io.github.example/bad",
                json!({"version": "latest", "packages": [{"registryType": "npm", "identifier": "has space",
                       "version": "1.0.0", "transport": {"type": "stdio"}}]}),
            ),
            server("io.github.example/ok", json!({"$schema": OLD_SCHEMA})),
            json!({"name": "io.github.example/no-description"}),
        ]),
    );
    let run = cli(dir.path(), &["validate", "registry.json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let out = &run.stdout;
    assert!(
        out.contains(
            "registry.json: data.servers[1].packages[0].identifier: error [package-name-has-spaces]"
        ),
        "{run:?}"
    );
    assert!(
        out.contains("registry.json: data.servers[1].version: error [reserved-version-string]"),
        "{run:?}"
    );
    assert!(
        out.contains("registry.json: data.servers[2].$schema: warning [schema-version-deprecated]"),
        "{run:?}"
    );
    let dup = lines_with(out, "[duplicate-version]");
    assert_eq!(dup.len(), 1, "{run:?}");
    assert!(dup[0].starts_with("registry.json: data.servers[2].version: error"));
    assert!(dup[0].contains("io.github.example/ok@1.0.0") && dup[0].contains("data.servers[0]"));
    // A schema issue: its reference is the schema keyword location.
    assert!(
        lines_with(out, "registry.json: data.servers[3]")
            .iter()
            .any(|l| l.contains("error [#/") || l.contains("error [schema")),
        "{run:?}"
    );
    assert!(out.contains("1 input, 4 entries (3 invalid)"), "{run:?}");

    // Only a warning: exit 0, unless --strict.
    write_json(
        dir.path(),
        "old.json",
        &server("io.github.example/old", json!({"$schema": OLD_SCHEMA})),
    );
    let run = cli(dir.path(), &["validate", "old.json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("old.json: $schema: warning [schema-version-deprecated]"),
        "{run:?}"
    );
    let run = cli(dir.path(), &["validate", "--strict", "old.json"]);
    assert_eq!(run.code, 1, "{run:?}");
}

#[test]
fn unreadable_inputs_are_reported_and_do_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("truncated.json"),
        "{\"data\": {\"servers\": [\n  {\"name\": \"io.github.a/b\",",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("wrapper.json"),
        r#"{"registry": {"servers": []}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("servers-not-array.json"),
        r#"{"data": {"servers": {}}}"#,
    )
    .unwrap();
    write_json(
        dir.path(),
        "good.json",
        &server("io.github.example/good", json!({})),
    );
    let run = cli(
        dir.path(),
        &[
            "validate",
            "truncated.json",
            "wrapper.json",
            "servers-not-array.json",
            "http://127.0.0.1:1/registry.json",
            "http://127.0.0.1:1",
            "missing.json",
            "good.json",
        ],
    );
    assert_eq!(run.code, 1, "{run:?}");
    let out = &run.stdout;
    assert!(
        out.contains("truncated.json: error [input-error] truncated JSON at line 2, column"),
        "{run:?}"
    );
    assert!(
        out.contains("wrapper.json: error [input-error] not a server.json or registry file"),
        "{run:?}"
    );
    assert!(
        out.contains(
            "servers-not-array.json: error [input-error] upstream registry: data.servers: expected an array of \
             server.json, found an object"
        ),
        "{run:?}"
    );
    assert!(
        out.contains("http://127.0.0.1:1/registry.json: error [input-error] cannot fetch"),
        "{run:?}"
    );
    assert!(
        lines_with(out, "http://127.0.0.1:1: error [input-error]").len() == 1,
        "{run:?}"
    );
    assert!(
        out.contains("missing.json: error [input-error] cannot read"),
        "{run:?}"
    );
    assert!(
        out.contains("7 inputs, 1 entry, 6 inputs unreadable: 6 errors"),
        "{run:?}"
    );

    let run = cli(
        dir.path(),
        &[
            "validate",
            "--format",
            "json",
            "truncated.json",
            "good.json",
        ],
    );
    assert_eq!(run.code, 1, "{run:?}");
    let r = run.json();
    assert_eq!(r["inputs"][0]["readable"], false);
    assert_eq!(r["inputs"][0]["issues"][0]["reference"], "input-error");
    assert_eq!(r["inputs"][0]["issues"][0]["location"], "truncated.json");
    assert_eq!(r["inputs"][1]["readable"], true);
    assert_eq!(r["inputs"][1]["entries"][0]["valid"], true);

    // stats and lint report it too, and still count the rest.
    let run = cli(
        dir.path(),
        &["stats", "--format", "json", "truncated.json", "good.json"],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("truncated.json"), "{run:?}");
    assert_eq!(run.json()["servers"], 1);
    let run = cli(dir.path(), &["lint", "truncated.json", "good.json"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains("truncated.json: error [input-error]"),
        "{run:?}"
    );
}

#[test]
fn directory_input() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("reg");
    write_json(
        &reg,
        "a/server.json",
        &server("io.github.example/alpha", json!({})),
    );
    write_json(
        &reg,
        "b/server.json",
        &server("io.github.example/beta", json!({"version": "^1.0.0"})),
    );
    write_json(
        &reg,
        "list.json",
        &json!([
            server("io.github.example/gamma", json!({})),
            server("io.github.example/alpha", json!({}))
        ]),
    );
    std::fs::create_dir_all(reg.join("broken")).unwrap();
    std::fs::write(reg.join("broken/server.json"), "{\"name\": ").unwrap();
    std::fs::write(reg.join("README.md"), "not json").unwrap();

    let run = cli(dir.path(), &["validate", "reg"]);
    assert_eq!(run.code, 1, "{run:?}");
    let out = &run.stdout;
    assert!(
        out.contains("reg/b/server.json: version: error [version-looks-like-range]"),
        "{run:?}"
    );
    assert!(
        out.contains("reg/broken/server.json: error [input-error] truncated JSON at line 1"),
        "{run:?}"
    );
    // a/server.json and list.json[1] are the same name@version within one input.
    let dup = lines_with(out, "[duplicate-version]");
    assert_eq!(dup.len(), 1, "{run:?}");
    assert!(
        dup[0].starts_with("reg/list.json: [1].version: error"),
        "{}",
        dup[0]
    );
    assert!(out.contains("1 input, 4 entries (2 invalid)"), "{run:?}");

    let run = cli(dir.path(), &["stats", "reg", "--format", "json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let s = run.json();
    assert_eq!(s["servers"], 3);
    assert_eq!(s["versions"], 4);
}

#[test]
fn json_report_shape() {
    let dir = tempfile::tempdir().unwrap();
    write_json(
        dir.path(),
        "registry.json",
        &upstream(vec![
            server("io.github.example/ok", json!({})),
            server("io.github.example/range", json!({"version": ">=1.0"})),
        ]),
    );
    let run = cli(
        dir.path(),
        &["validate", "--format", "json", "registry.json"],
    );
    assert_eq!(run.code, 1, "{run:?}");
    let r = run.json();
    assert_eq!(r["command"], "validate");
    let input = &r["inputs"][0];
    assert_eq!(input["input"], "registry.json");
    assert_eq!(input["formats"], json!(["upstream registry"]));
    assert_eq!(input["readable"], true);
    assert_eq!(input["issues"], json!([]));
    let entries = input["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["location"], "registry.json: data.servers[0]");
    assert_eq!(entries[0]["name"], "io.github.example/ok");
    assert_eq!(entries[0]["version"], "1.0.0");
    assert_eq!(entries[0]["valid"], true);
    assert_eq!(entries[0]["issues"], json!([]));
    assert_eq!(entries[1]["valid"], false);
    let issue = &entries[1]["issues"][0];
    for key in [
        "type",
        "location",
        "path",
        "severity",
        "reference",
        "message",
    ] {
        assert!(issue.get(key).is_some(), "{key} missing in {issue}");
    }
    assert_eq!(issue["type"], "semantic");
    assert_eq!(issue["path"], "version");
    assert_eq!(issue["location"], "registry.json: data.servers[1].version");
    assert_eq!(issue["severity"], "error");
    assert_eq!(issue["reference"], "version-looks-like-range");
    let s = &r["summary"];
    assert_eq!(s["inputs"], 1);
    assert_eq!(s["entries"], 2);
    assert_eq!(s["invalidEntries"], 1);
    assert_eq!(s["errors"], 1);
    assert_eq!(s["warnings"], 0);
    assert_eq!(s["ok"], false);

    let run = cli(dir.path(), &["lint", "--format", "json", "registry.json"]);
    let r = run.json();
    assert_eq!(r["command"], "lint");
    let issues = r["inputs"][0]["entries"][0]["issues"].as_array().unwrap();
    assert!(issues.iter().all(|i| i["type"] == "linter"), "{issues:?}");
    assert!(
        issues
            .iter()
            .any(|i| i["reference"] == "no-toolhive-extension" && i["severity"] == "info"),
        "{issues:?}"
    );
}

#[test]
fn lint_rules_on_crafted_entries() {
    let dir = tempfile::tempdir().unwrap();
    let ext_key = "ghcr.io/example/weather";
    let entries = vec![
        server(
            "io.github.example/weather",
            json!({
                "description": "TODO",
                "packages": [{
                    "registryType": "oci", "identifier": ext_key, "transport": {"type": "stdio"},
                    "environmentVariables": [
                        {"name": "WEATHER_API_KEY", "description": "API key"},
                        {"name": "DB_PASSWORD", "description": "password", "isSecret": true, "default": "hunter2"},
                        {"name": "CACHE_DIR"},
                        {"name": "SSH_KEY_PATH", "description": "Path of a key file"}
                    ]
                }, {
                    "registryType": "npm", "identifier": "@example/weather", "version": "latest",
                    "transport": {"type": "stdio"}
                }],
                "_meta": {"io.modelcontextprotocol.registry/publisher-provided": {"io.github.stacklok": {
                    "ghcr.io/example/other:1.0": {"status": "Active", "tier": "Community",
                        "permissions": {"privileged": true}}
                }}}
            }),
        ),
        server(
            "io.github.example/remote-a",
            json!({"remotes": [{"type": "streamable-http", "url": "https://mcp.example.com/mcp",
                    "headers": [{"name": "Authorization", "description": "Bearer token"}]}]}),
        ),
        server(
            "io.github.example/remote-b",
            json!({"remotes": [{"type": "sse", "url": "http://mcp.example.com/mcp/"}, {"type": "sse", "url": "https://mcp.example.com/mcp/"}]}),
        ),
        server(
            "io.github.example/digest",
            json!({"packages": [{"registryType": "oci",
            "identifier": "ghcr.io/example/x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "transport": {"type": "stdio"}}]}),
        ),
        json!({"name": 3}),
    ];
    write_json(dir.path(), "registry.json", &upstream(entries));
    let run = cli(dir.path(), &["lint", "registry.json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let out = &run.stdout;
    let at = |s0: &str| format!("registry.json: data.servers[{s0}");
    let expect = [
        (at("0].description: warning [weak-description]"), "TODO"),
        (
            at("0].packages[0].identifier: warning [image-unpinned]"),
            "ghcr.io/example/weather",
        ),
        (
            at("0].packages[0].environmentVariables[0].isSecret: error [secret-not-marked]"),
            "WEATHER_API_KEY",
        ),
        (
            at("0].packages[0].environmentVariables[1].default: error [secret-with-value]"),
            "DB_PASSWORD",
        ),
        (
            at("0].packages[0].environmentVariables[2].description: info [env-no-description]"),
            "CACHE_DIR",
        ),
        (
            at("0].packages[1].version: warning [package-version-unpinned]"),
            "latest",
        ),
        (at("0]._meta["), "[extension-key-mismatch]"),
        (at("0]._meta["), "[no-tools]"),
        (at("0]._meta["), "[privileged-container]"),
        (at("0]._meta["), "[no-provenance]"),
        (
            at("1].remotes[0].headers[0].isSecret: error [secret-not-marked]"),
            "Authorization",
        ),
        (
            at("2].remotes[0].url: warning [remote-insecure-url]"),
            "http://",
        ),
        (
            at("2].remotes[1].url: warning [duplicate-remote-url]"),
            "io.github.example/remote-a",
        ),
        (at("4]: error [invalid-document]"), "not a server.json"),
    ];
    for (prefix, needle) in expect {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&prefix) && l.contains(needle)),
            "no line starting with {prefix} containing {needle}:\n{run:?}"
        );
    }
    assert!(!out.contains("SSH_KEY_PATH"), "{run:?}");
    assert!(
        !out.contains("data.servers[3].packages[0].identifier"),
        "digest-pinned: {run:?}"
    );
    assert!(!out.contains("[no-title]"), "off by default: {run:?}");
}

#[test]
fn lint_configuration_and_rule_list() {
    let dir = tempfile::tempdir().unwrap();
    let mut doc = server(
        "io.github.example/short",
        json!({"description": "Weather data"}),
    );
    doc.as_object_mut().unwrap().remove("title");
    write_json(dir.path(), "server.json", &doc);

    let run = cli(dir.path(), &["lint", "server.json"]);
    assert_eq!(run.code, 0, "warnings only: {run:?}");
    assert!(
        run.stdout
            .contains("server.json: description: warning [weak-description]"),
        "{run:?}"
    );
    assert!(run.stdout.contains("[no-toolhive-extension]"), "{run:?}");

    std::fs::write(
        dir.path().join("lint.toml"),
        "min-description-length = 5\nenable = [\"no-title\"]\n[rules]\nno-toolhive-extension = \"error\"\n",
    )
    .unwrap();
    let run = cli(
        dir.path(),
        &["lint", "--config", "lint.toml", "server.json"],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(!run.stdout.contains("[weak-description]"), "{run:?}");
    assert!(
        run.stdout.contains("server.json: title: info [no-title]"),
        "{run:?}"
    );
    assert!(
        run.stdout
            .contains("server.json: _meta: error [no-toolhive-extension]"),
        "{run:?}"
    );

    let run = cli(
        dir.path(),
        &[
            "lint",
            "--config",
            "lint.toml",
            "--disable",
            "no-toolhive-extension,no-title",
            "server.json",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("1 input, 1 entry: 0 errors, 0 warnings, 0 infos"),
        "{run:?}"
    );

    let run = cli(
        dir.path(),
        &["lint", "--disable", "no-such-rule", "server.json"],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("unknown lint rule `no-such-rule`"),
        "{run:?}"
    );
    std::fs::write(
        dir.path().join("bad.toml"),
        "[rules]\nno-tools = \"loud\"\n",
    )
    .unwrap();
    let run = cli(dir.path(), &["lint", "--config", "bad.toml", "server.json"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("bad.toml"), "{run:?}");

    let run = cli(dir.path(), &["lint", "--list-rules"]);
    assert_eq!(run.code, 0, "{run:?}");
    for id in [
        "image-unpinned",
        "image-no-digest",
        "package-version-unpinned",
        "no-repository",
        "no-provenance",
        "no-tools",
        "weak-description",
        "secret-not-marked",
        "deprecated-schema",
        "duplicate-remote-url",
        "no-license",
    ] {
        assert!(
            run.stdout.lines().any(|l| l.starts_with(id)),
            "{id} not listed: {run:?}"
        );
    }
    let run = cli(
        dir.path(),
        &[
            "lint",
            "--list-rules",
            "--format",
            "json",
            "--enable",
            "no-license",
            "--disable",
            "no-tools",
        ],
    );
    let rules = run.json();
    let find = |id: &str| {
        rules
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(find("no-license")["severity"], "info");
    assert_eq!(find("no-license")["defaultSeverity"], "off");
    assert_eq!(find("no-tools")["severity"], "off");
    assert_eq!(find("secret-not-marked")["severity"], "error");
}

#[test]
fn live_registry_api_on_sqlite() {
    let home = tempfile::tempdir().unwrap();
    check_live_api(&start_registry_api(home.path()));
}

#[test]
fn live_registry_api_on_postgres() {
    let Some(pg) = common::postgres_database("quality") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    check_live_api(&common::start_api(home.path(), &["--database-url", &pg]));
}

/// validate, stats and lint against a registry API seeded with the bundled registry.
fn check_live_api(api: &common::RegistryApi) {
    let dir = tempfile::tempdir().unwrap();

    let run = cli(dir.path(), &["validate", &api.base]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("1 input, 102 entries: 0 errors, 0 warnings, 0 infos"),
        "{run:?}"
    );
    let run = cli(dir.path(), &["validate", "--format", "json", &api.base]);
    let r = run.json();
    assert_eq!(r["inputs"][0]["formats"], json!(["registry API"]));
    assert!(
        r["inputs"][0]["entries"][5]["location"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}: servers[5]", api.base))
    );

    let run = cli(dir.path(), &["stats", "--format", "json", &api.base]);
    assert_eq!(run.code, 0, "{run:?}");
    let s = run.json();
    assert_eq!(s["servers"], 102);
    assert_eq!(s["versions"], 102);
    assert_eq!(s["registryStatus"]["active"], 102);
    assert_eq!(s["packageTypes"]["oci"], 79);
    assert_eq!(s["provenance"], 37);
    assert_eq!(s["transports"]["total"]["stdio"], 60);

    let run = cli(dir.path(), &["stats", &api.base, "--all-versions"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("active"), "{run:?}");

    let run = cli(dir.path(), &["lint", &api.base]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        lines_with(&run.stdout, "[secret-not-marked]").len(),
        1,
        "{run:?}"
    );
    assert!(
        lines_with(&run.stdout, "[image-unpinned]")
            .iter()
            .all(|l| l.starts_with(&format!("{}: servers[", api.base))),
        "{run:?}"
    );
}
