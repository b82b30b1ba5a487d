//! `thv-registry login`, `publish` and `status` against a real `thv-registry-api` on SQLite and on PostgreSQL,
//! with a token minted by the server's own `token` command; and `thv-registry completions`.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};
use thv_e2e::binary;
use thv_e2e::registry_api::{mint_token, postgres_database, start_with};

fn cli(config: &std::path::Path) -> Command {
    let mut c = Command::new(binary("thv-registry"));
    c.env("XDG_CONFIG_HOME", config)
        .env("HOME", config)
        .env_remove("THV_REGISTRY_URL")
        .env_remove("THV_REGISTRY_TOKEN");
    c
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test]
async fn login_publish_and_status_on_sqlite() {
    publish_flow(&[]).await;
}

#[tokio::test]
async fn login_publish_and_status_on_postgres() {
    let Some(url) = postgres_database("publish") else {
        return;
    };
    publish_flow(&["--database-url", &url]).await;
}

async fn publish_flow(server_args: &[&str]) {
    let home = tempfile::tempdir().unwrap();
    let api = start_with(home.path(), server_args);
    let token = mint_token(home.path(), "com.example/*", "publish");
    let config = tempfile::tempdir().unwrap();

    // Without a registry: a clear error.
    let doc = json!({
        "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
        "name": "com.example/pub", "description": "Published by the CLI", "version": "1.0.0",
        "remotes": [{"type": "streamable-http", "url": "https://pub.example.com/mcp"}]
    });
    let file = config.path().join("server.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let out = cli(config.path())
        .args(["publish", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).1.contains("no registry"), "{}", text(&out).1);

    // login: token from stdin, stored 0600.
    let mut login = cli(config.path())
        .args(["login", "--registry", &api.base])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    login
        .stdin
        .take()
        .unwrap()
        .write_all(token.as_bytes())
        .unwrap();
    let out = login.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    let creds = config.path().join("thv-registry/credentials.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(!text(&out).0.contains(&token), "the token is never printed");

    // publish with the stored token; again: the version exists.
    let out = cli(config.path())
        .args(["publish", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(
        text(&out)
            .0
            .contains("published com.example/pub@1.0.0 (latest)")
    );
    let out = cli(config.path())
        .args(["publish", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).1.contains("com.example/pub@1.0.0"),
        "{}",
        text(&out).1
    );

    // Outside the token's namespace: refused, named.
    let other = config.path().join("other.json");
    let mut d2 = doc.clone();
    d2["name"] = json!("org.other/x");
    d2["remotes"][0]["url"] = json!("https://other.example.com/mcp");
    std::fs::write(&other, d2.to_string()).unwrap();
    let out = cli(config.path())
        .args(["publish", other.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).1.contains("org.other/x@1.0.0"),
        "{}",
        text(&out).1
    );

    // status of one version, then of every version.
    let out = cli(config.path())
        .args([
            "status",
            "com.example/pub@1.0.0",
            "--status",
            "deprecated",
            "--message",
            "use v2",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    let v: Value = reqwest::get(format!(
        "{}/v0.1/servers/com.example%2Fpub/versions/1.0.0",
        api.base
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let official = &v["_meta"]["io.modelcontextprotocol.registry/official"];
    assert_eq!(official["status"], "deprecated", "{v}");
    let out = cli(config.path())
        .args(["status", "com.example/pub", "--status", "deleted"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(
        text(&out).0.contains("1 versions updated"),
        "{}",
        text(&out).0
    );
    let out = cli(config.path())
        .args(["status", "com.example/pub", "--status", "bogus"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn completions_for_every_shell() {
    let config = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = cli(config.path())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success());
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            script.contains("thv-registry") && script.contains("validate"),
            "{shell}"
        );
    }
}
