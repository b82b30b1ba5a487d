//! `thv-registry-api` as an operator runs it: default SQLite under the XDG data dir, seeded from the bundled
//! registry, tokens minted by its `token` subcommand, a clean SIGTERM shutdown, data kept across restarts.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use thv_e2e::registry_api::{RegistryApi as Server, command, start};

fn stop(mut server: Server) {
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    for _ in 0..100 {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(
                status.success(),
                "thv-registry-api exited with {status} on SIGTERM"
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    server.child.kill().ok();
    panic!("thv-registry-api did not stop on SIGTERM");
}

#[tokio::test]
async fn operator_workflow_on_the_embedded_default() {
    let home = tempfile::tempdir().unwrap();
    let server = start(home.path());
    let http = reqwest::Client::new();

    let first: Value = http
        .get(format!("{}/v0.1/servers", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        first["metadata"]["count"], 30,
        "seeded from the bundled registry"
    );
    assert!(
        home.path()
            .join("data/thv-registry-api/registry.db")
            .is_file(),
        "SQLite under the XDG data dir"
    );

    let out = command(home.path())
        .args([
            "token",
            "--namespace",
            "com.example/*",
            "--action",
            "publish",
            "--ttl",
            "10m",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let doc = json!({
        "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
        "name": "com.example/e2e", "description": "End-to-end test server", "version": "1.0.0",
        "remotes": [{"type": "streamable-http", "url": "https://e2e.example.com/mcp"}]
    });
    let resp = http
        .post(format!("{}/v0/publish", server.base))
        .bearer_auth(&token)
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let mut foreign = doc.clone();
    foreign["name"] = json!("io.other/elsewhere");
    let resp = http
        .post(format!("{}/v0/publish", server.base))
        .bearer_auth(&token)
        .json(&foreign)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        403,
        "the minted token is limited to its namespace"
    );
    stop(server);

    // Restart on the same data: nothing lost, nothing seeded twice.
    let server = start(home.path());
    let all: Value = http
        .get(format!("{}/v0.1/servers?limit=100&search=", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cursor = all["metadata"]["nextCursor"].as_str().unwrap().to_string();
    let rest: Value = http
        .get(format!("{}/v0.1/servers?limit=100", server.base))
        .query(&[("cursor", cursor)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        all["metadata"]["count"].as_u64().unwrap() + rest["metadata"]["count"].as_u64().unwrap(),
        103
    );
    let got = http
        .get(format!(
            "{}/v0.1/servers/com.example%2Fe2e/versions/latest",
            server.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    stop(server);
}

#[test]
fn bad_configuration_is_refused_with_every_reason() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("registry.toml");
    std::fs::write(
        &config,
        "database_url = \"mysql://db\"\nmax_connections = 0\n",
    )
    .unwrap();
    let out = command(home.path())
        .args(["--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("database_url") && err.contains("max_connections"),
        "{err}"
    );

    let out = command(home.path())
        .args(["--jwt-private-key", "nothex"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("jwt_private_key"));
}

/// An error whose message already holds its cause is printed once: a misconfigured `auth.oidc` said its
/// issuer rule twice (`auth.oidc.issuer: … is not https …: issuer: … is not https …`).
#[test]
fn a_configuration_error_is_said_once() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("registry.toml");
    std::fs::write(
        &config,
        "[auth.oidc]\nissuer = \"http://idp.example.com\"\naudience = \"a\"\nrules = [{ publish = [\"*\"] }]\n",
    )
    .unwrap();
    let out = command(home.path())
        .args(["--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("auth.oidc.issuer"), "{err}");
    assert_eq!(err.matches("is not https").count(), 1, "{err}");
}

#[test]
fn openapi_subcommand_prints_the_document() {
    let home = tempfile::tempdir().unwrap();
    let out = command(home.path())
        .args(["openapi", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let spec: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(spec["info"]["version"], "1.0.0");
}

/// The subcommands that print (`openapi`, `keygen`) into a pipe whose reader is gone: quiet, status 141, no panic.
#[test]
fn printing_subcommands_end_quietly_on_a_closed_pipe() {
    let home = tempfile::tempdir().unwrap();
    for args in [
        &["openapi", "--format", "yaml"][..],
        &["openapi"][..],
        &["keygen"][..],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = command(home.path())
            .args(args)
            .stdout(writer)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(141), "{args:?}: {stderr}");
    }
}
