//! `thv-registry-api --config config.yaml` with toolhive-registry-server's own configuration (what ToolHive's
//! MCPRegistry passes through as `spec.configYAML`): its `database` section (PostgreSQL, the password from the
//! pgpass file `PGPASSFILE` names), a `managed: {}` source named in a registry, a file source with `syncPolicy`,
//! `auth: {mode: anonymous}`; and what cannot be honoured refused at start-up, naming it.

use serde_json::json;
use thv_e2e::registry_api::{command, get, http, postgres_database, start_configured, wait_synced};

const ADMIN: &str = "toolhive-config-admin-token-0123";
const SCHEMA: &str = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json";

fn server(name: &str) -> serde_json::Value {
    json!({"$schema": SCHEMA, "name": name, "description": "x", "version": "1.0.0",
           "remotes": [{"type": "streamable-http", "url": format!("https://{}.example.com/mcp", name.replace('/', "-"))}]})
}

#[tokio::test(flavor = "multi_thread")]
async fn a_toolhive_registry_server_config_runs_as_it_is() {
    let Some(url) = postgres_database("thcfg") else {
        return;
    };
    let url = reqwest::Url::parse(&url).unwrap();
    let home = tempfile::tempdir().unwrap();
    let catalog = home.path().join("registry.json");
    std::fs::write(
        &catalog,
        json!({"$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/registry.schema.json",
               "version": "1.0.0", "meta": {}, "data": {"servers": [server("io.example/from-catalog")]}})
        .to_string(),
    )
    .unwrap();
    // As the operator writes it: a pgpass file (mode 0600) that PGPASSFILE names.
    let pgpass = home.path().join("pgpass");
    std::fs::write(
        &pgpass,
        format!(
            "{}:{}:{}:{}:not-the-password\n",
            url.host_str().unwrap(),
            url.port().unwrap_or(5432),
            url.path().trim_start_matches('/'),
            url.username()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&pgpass, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let config = home.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            r#"sources:
  - name: internal
    managed: {{}}
  - name: catalog
    file:
      path: {}
    syncPolicy:
      interval: 30m
registries:
  - name: default
    sources: [internal, catalog]
auth:
  mode: anonymous
database:
  host: {}
  port: {}
  user: {}
  database: {}
  sslMode: disable
  maxOpenConns: 5
  maxIdleConns: 2
"#,
            catalog.display(),
            url.host_str().unwrap(),
            url.port().unwrap_or(5432),
            url.username(),
            url.path().trim_start_matches('/')
        ),
    )
    .unwrap();
    let mut cmd = command(home.path());
    cmd.env("PGPASSFILE", &pgpass);
    let api = start_configured(cmd, &config, ADMIN);
    let base = api.base.clone();
    let synced = wait_synced(&base, "catalog").await;
    assert_eq!(synced["status"], "complete", "{synced}");
    // The managed source (named `internal` in the file) takes publishes; the registry shows both sources.
    let resp = http()
        .post(format!("{base}/v0.1/publish"))
        .bearer_auth(ADMIN)
        .json(&server("io.example/published"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    let (code, page) = get(&format!("{base}/registry/default/v0.1/servers")).await;
    assert_eq!(code, 200, "{page}");
    let names: Vec<&str> = page["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["server"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["io.example/from-catalog", "io.example/published"]);
    // It is the PostgreSQL database the `database` section names.
    let out = std::process::Command::new("psql")
        .args([
            url.as_str(),
            "-tAc",
            "SELECT string_agg(server_name, ',' ORDER BY server_name) FROM server_versions",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "io.example/from-catalog,io.example/published",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(api);

    // What cannot be honoured stops the start, naming each key.
    let bad = home.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "sources:\n  - name: internal\n    managed: {}\n  - name: cluster\n    kubernetes: {namespaces: [a]}\n    claims: {team: a}\nauth:\n  mode: oauth\n",
    )
    .unwrap();
    let out = command(home.path())
        .args(["--config", bad.to_str().unwrap(), "--no-seed"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("sources[1].claims: per-source claims")
            && stderr.contains("auth.oauth: mode 'oauth' needs its providers"),
        "{stderr}"
    );
}

/// A pgpass file holding the bare password (a common mistake in the Secret) is not a pgpass line: the database
/// driver's warning about it quoted the line, password included, in the server's log.
#[test]
fn a_malformed_pgpass_file_never_reaches_the_log() {
    use std::io::{BufRead, BufReader};
    let Some(url) = postgres_database("pgpass") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let pgpass = home.path().join("pgpass");
    let password = "JustThePassw0rd-4f9c";
    std::fs::write(&pgpass, format!("{password}\n")).unwrap();
    std::fs::set_permissions(&pgpass, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut child = command(home.path())
        .env("PGPASSFILE", &pgpass)
        .args([
            "--database-url",
            &url,
            "--no-seed",
            "--listen",
            "127.0.0.1:0",
        ])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut log = String::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        log.push_str(&line);
        log.push('\n');
        if line.contains("listening") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(log.contains("listening"), "{log}");
    assert!(!log.contains(password), "{log}");
}
