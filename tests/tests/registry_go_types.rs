//! The official registry's own Go types (`github.com/modelcontextprotocol/registry/pkg/api/v0` v1.8.9, what Go
//! clients of the registry and its publisher decode answers with) read `thv-registry-api`, on SQLite and PostgreSQL:
//! `tests/go/registry-types` pages through `/v0` and `/v0.1`, reads every name's versions and latest version,
//! decodes each answer into those types, and reports every field the types cannot carry or carry differently,
//! besides what they promise (counts, cursors, one latest version per name).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use thv_e2e::thv::{repo_root, skip};

/// The checker, built with Go from the module proxy (or skip, failing under `CI=true`, without Go).
fn checker(dir: &Path) -> Option<PathBuf> {
    if Command::new("go").arg("version").output().is_err() {
        return skip("Go is not installed (the official registry's types are Go)");
    }
    let bin = dir.join("registry-types");
    let out = Command::new("go")
        .current_dir(repo_root().join("tests/go/registry-types"))
        .env("GOFLAGS", "-mod=mod")
        .args(["build", "-o"])
        .arg(&bin)
        .arg(".")
        .output()
        .expect("go runs");
    assert!(
        out.status.success(),
        "go build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(bin)
}

fn publish(base: &str, token: &str, doc: &Value) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "-X", "POST"])
        .args(["-H", "Content-Type: application/json"])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args(["-d", &doc.to_string()])
        .arg(format!("{base}/v0/publish"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.ends_with("200"), "{text}");
}

#[test]
fn the_official_go_types_read_every_answer_losslessly_on_sqlite() {
    read_with_official_types(&[]);
}

#[test]
fn the_official_go_types_read_every_answer_losslessly_on_postgres() {
    let Some(db) = thv_e2e::registry_api::postgres_database("go_types") else {
        return;
    };
    read_with_official_types(&["--database-url", &db]);
}

fn read_with_official_types(backend: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let Some(bin) = checker(tmp.path()) else {
        return;
    };
    // The bundled catalogue, plus a server with several versions, one deprecated with a message, and every
    // optional field of a package and a remote.
    let home = tempfile::tempdir().unwrap();
    let api = thv_e2e::registry_api::start_with(home.path(), backend);
    let token = thv_e2e::registry_api::mint_token(home.path(), "com.example/*", "edit");
    let publish_token = thv_e2e::registry_api::mint_token(home.path(), "com.example/*", "publish");
    for version in ["1.0.0", "1.1.0", "2.0.0-rc.1"] {
        publish(
            &api.base,
            &publish_token,
            &json!({
                "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
                "name": "com.example/everything", "title": "Everything", "version": version,
                "description": "Every optional field", "websiteUrl": "https://example.com/everything",
                "repository": {"url": "https://github.com/example/everything", "source": "github",
                               "subfolder": "servers/everything", "id": "123"},
                "icons": [{"src": "https://example.com/icon.png", "mimeType": "image/png", "sizes": ["48x48"],
                           "theme": "light"}],
                "packages": [{
                    "registryType": "npm", "registryBaseUrl": "https://registry.npmjs.org",
                    "identifier": "@example/everything", "version": version, "runtimeHint": "npx",
                    "transport": {"type": "stdio"},
                    "runtimeArguments": [{"type": "named", "name": "--yes", "isRepeated": false}],
                    "packageArguments": [{"type": "positional", "valueHint": "dir", "value": "/data",
                                          "isRequired": true, "description": "a directory"}],
                    "environmentVariables": [{"name": "API_KEY", "isSecret": true, "isRequired": true,
                                              "description": "the key", "format": "string"}]
                }],
                "remotes": [{"type": "streamable-http", "url": "https://example.com/{tenant}/mcp",
                             "headers": [{"name": "X-Key", "isSecret": true, "description": "key"}],
                             "variables": {"tenant": {"description": "tenant", "default": "acme",
                                                      "choices": ["acme", "beta"]}}}],
                "_meta": {"io.modelcontextprotocol.registry/publisher-provided": {"build": {"commit": "abc"}}}
            }),
        );
    }
    let status = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "-X", "PATCH"])
        .args(["-H", "Content-Type: application/json"])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args([
            "-d",
            r#"{"status":"deprecated","statusMessage":"use 1.1.0"}"#,
        ])
        .arg(format!(
            "{}/v0/servers/com.example%2Feverything/versions/1.0.0/status",
            api.base
        ))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.ends_with("200"), "{text}");

    let out = Command::new(&bin).arg(&api.base).output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert!(
        out.status.success(),
        "{report:#}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for prefix in ["v0", "v0.1"] {
        let p = &report["prefixes"][prefix];
        assert!(p["servers"].as_u64().unwrap() > 100, "{report}");
        // Every bundled server has one version; ours three. The list holds them all, as upstream's.
        assert_eq!(
            p["versions"].as_u64().unwrap(),
            p["servers"].as_u64().unwrap() + 2,
            "{report}"
        );
        assert_eq!(p["listed"], p["versions"], "{report}");
        assert!(p["pages"].as_u64().unwrap() >= 4, "{report}");
    }
}
