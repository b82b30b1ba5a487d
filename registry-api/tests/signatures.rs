//! Signed entries through the API: under an enforcing policy, publish and edit accept only entries signed by a
//! trusted key (422 naming the reason otherwise); the bundle is served in `_meta` and at
//! `.../versions/{version}/signature`. A key bound to name patterns (`--trusted-key PATH=PATTERN`, or
//! `{path, names}` in the TOML or YAML file) signs only those names, on publish, on edit and in a sync source's
//! policy; an unbound key still signs every name (SQLite and PostgreSQL).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use clap::Parser;
use common::{ADMIN_TOKEN, Backend, TestApp, enc, server_json};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use thv_core::signature::{self, PolicyMode, SIGNATURE_META, SignaturePolicy};
use thv_registry_api::config::{Config, ConfigArgs};

fn signed(entry: &Value, key: &signature::SigStoreKeyPair) -> Value {
    let mut e = entry.clone();
    let bundle = signature::sign_with_key(entry, key).unwrap();
    e.as_object_mut()
        .unwrap()
        .entry("_meta")
        .or_insert_with(|| Value::Object(Default::default()))
        .as_object_mut()
        .unwrap()
        .insert(SIGNATURE_META.into(), serde_json::to_value(bundle).unwrap());
    e
}

#[tokio::test]
async fn an_enforcing_registry_accepts_only_entries_signed_by_its_keys() {
    let dir = tempfile::tempdir().unwrap();
    let key = signature::generate_key_pair().unwrap();
    let other = signature::generate_key_pair().unwrap();
    let pub_path = dir.path().join("cosign.pub");
    std::fs::write(&pub_path, key.public_key_to_pem().unwrap()).unwrap();
    let opts = common::Options {
        signatures: SignaturePolicy::load(PolicyMode::Enforce, &[pub_path]).unwrap(),
        ..Default::default()
    };
    let Some(app) = TestApp::start_with(common::Backend::Sqlite, opts).await else {
        return;
    };
    let name = "io.github.example/signed";
    let entry = server_json(name, "1.0.0");

    let (status, body) = app.publish(&entry).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("carries no signature"), "{body}");

    let (status, body) = app.publish(&signed(&entry, &other)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.to_string().contains("none of the trusted keys"),
        "{body}"
    );

    let mut tampered = signed(&entry, &key);
    tampered["description"] = "changed after signing".into();
    let (status, body) = app.publish(&tampered).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("signs another entry"), "{body}");

    let good = signed(&entry, &key);
    let (status, body) = app.publish(&good).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Served in `_meta` and on its own; the served entry verifies.
    let path = format!("/v0.1/servers/{}/versions/1.0.0", enc(name));
    let (status, served) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    let server = &served["server"];
    assert_eq!(
        server["_meta"][SIGNATURE_META],
        good["_meta"][SIGNATURE_META]
    );
    let (status, bundle) = app.get(&format!("{path}/signature")).await;
    assert_eq!(status, StatusCode::OK, "{bundle}");
    let public = signature::read_public_key(key.public_key_to_pem().unwrap().as_bytes()).unwrap();
    signature::verify_with_key(
        server,
        &signature::bundle_from_value(&bundle).unwrap(),
        &public,
        "k",
    )
    .unwrap();

    // Edit: an unsigned replacement is refused and the stored version is kept.
    let mut edited = entry.clone();
    edited["description"] = "edited".into();
    let (status, body) = app
        .send(Method::PUT, &path, Some(ADMIN_TOKEN), &edited)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (_, again) = app.get(&path).await;
    assert_eq!(again["server"]["description"], entry["description"]);
    let (status, body) = app
        .send(
            Method::PUT,
            &path,
            Some(ADMIN_TOKEN),
            &signed(&edited, &key),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn without_a_policy_signatures_are_kept_and_unsigned_entries_have_none() {
    let Some(app) = TestApp::start(common::Backend::Sqlite).await else {
        return;
    };
    let key = signature::generate_key_pair().unwrap();
    let name = "io.github.example/open";
    app.publish_ok(name, "1.0.0").await;
    let (status, body) = app
        .get(&format!(
            "/v0.1/servers/{}/versions/1.0.0/signature",
            enc(name)
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = app
        .publish(&signed(&server_json(name, "1.1.0"), &key))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .get(&format!(
            "/v0.1/servers/{}/versions/latest/signature",
            enc(name)
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
}

/// The API's flags, as `thv-registry-api serve` reads them.
#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    config: ConfigArgs,
}

/// The configuration `thv-registry-api` would start with, from these flags (a SQLite database in memory).
fn configured(flags: &[&str]) -> Result<Config, String> {
    let mut argv = vec!["thv-registry-api", "--database-url", "sqlite::memory:"];
    argv.extend_from_slice(flags);
    let flags = Flags::try_parse_from(argv).map_err(|e| e.to_string())?;
    Config::load(&flags.config).map_err(|e| e.to_string())
}

fn write_public_key(dir: &Path, file: &str) -> (signature::SigStoreKeyPair, String) {
    let key = signature::generate_key_pair().unwrap();
    let path = dir.join(file);
    std::fs::write(&path, key.public_key_to_pem().unwrap()).unwrap();
    (key, path.display().to_string())
}

/// The policy of `--trusted-key team-a.pub=com.example.a/*` (with an unbound `release.pub` beside it), of the same
/// in a TOML file and in a YAML file: each accepts `com.example.a/*` signed by team A's key and refuses
/// `com.example.b/server` signed by it (422, naming the key file, its patterns and the entry) — on publish and on edit
/// — while the release key signs both.
async fn a_bound_key_signs_only_its_namespace(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (team_a, team_a_pub) = write_public_key(dir.path(), "team-a.pub");
    let (release, release_pub) = write_public_key(dir.path(), "release.pub");
    let toml_file = dir.path().join("registry.toml");
    std::fs::write(
        &toml_file,
        format!(
            "[signature_policy]\nmode = \"enforce\"\ntrusted_keys = [\"{release_pub}\", \
             {{ path = \"{team_a_pub}\", names = [\"com.example.a/*\"] }}]\n"
        ),
    )
    .unwrap();
    let yaml_file = dir.path().join("registry.yaml");
    std::fs::write(
        &yaml_file,
        format!(
            "signature_policy:\n  mode: enforce\n  trusted_keys:\n    - {release_pub}\n    - path: {team_a_pub}\n      \
             names: [\"com.example.a/*\"]\n"
        ),
    )
    .unwrap();
    let bound_flag = format!("{team_a_pub}=com.example.a/*");
    let policies = [
        configured(&[
            "--signature-policy",
            "enforce",
            "--trusted-key",
            &bound_flag,
            "--trusted-key",
            &release_pub,
        ]),
        configured(&["--config", toml_file.to_str().unwrap()]),
        configured(&["--config", yaml_file.to_str().unwrap()]),
    ];
    for (i, policy) in policies.into_iter().enumerate() {
        let opts = common::Options {
            signatures: policy
                .unwrap_or_else(|e| panic!("policy {i}: {e}"))
                .signatures,
            ..Default::default()
        };
        let Some(app) = TestApp::start_with(backend, opts).await else {
            return;
        };
        let (status, body) = app
            .publish(&signed(
                &server_json("com.example.a/server", "1.0.0"),
                &team_a,
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "policy {i}: {body}");

        let other = server_json("com.example.b/server", "1.0.0");
        let (status, body) = app.publish(&signed(&other, &team_a)).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "policy {i}: {body}"
        );
        assert_eq!(
            body["error"],
            format!(
                "Failed to publish server: signature: signed by {team_a_pub}, which is trusted only for \
                 com.example.a/*, not for com.example.b/server"
            ),
            "policy {i}"
        );
        // The unbound key signs every name; an edit re-signed by the bound key is refused alike.
        let (status, body) = app.publish(&signed(&other, &release)).await;
        assert_eq!(status, StatusCode::OK, "policy {i}: {body}");
        let mut edited = other.clone();
        edited["description"] = "edited by team A".into();
        let path = format!(
            "/v0.1/servers/{}/versions/1.0.0",
            enc("com.example.b/server")
        );
        let (status, body) = app
            .send(
                Method::PUT,
                &path,
                Some(ADMIN_TOKEN),
                &signed(&edited, &team_a),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "policy {i}: {body}"
        );
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("trusted only for com.example.a/*, not for com.example.b/server"),
            "policy {i}: {body}"
        );
        app.stop().await;
    }
}

/// A sync source's `signature_policy` with a bound key: the other namespace's entry signed by that key is
/// skipped and listed in the source's sync report with the reason; the bound namespace's entry is served.
async fn a_sync_source_skips_entries_outside_the_key_binding(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (team_a, team_a_pub) = write_public_key(dir.path(), "team-a.pub");
    let catalog = dir.path().join("catalog.json");
    std::fs::write(
        &catalog,
        json!([
            signed(&server_json("com.example.a/server", "1.0.0"), &team_a),
            signed(&server_json("com.example.b/server", "1.0.0"), &team_a),
        ])
        .to_string(),
    )
    .unwrap();
    let sync_config = format!(
        "[[sources]]\nname = \"catalog\"\nfile = {{ path = \"{}\" }}\n\
         signature_policy = {{ mode = \"enforce\", trusted_keys = [{{ path = \"{team_a_pub}\", names = [\"com.example.a/*\"] }}] }}\n\n\
         [[registries]]\nname = \"signed\"\nsources = [\"catalog\"]\n",
        catalog.display()
    );
    let opts = common::Options {
        sync_config: Some(sync_config),
        ..Default::default()
    };
    let Some(app) = TestApp::start_with(backend, opts).await else {
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let view = loop {
        let resp = app
            .request(Method::GET, "/v1/sources/catalog")
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        let (status, v) = common::json_of(resp).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        if v["status"] == "complete" || v["status"] == "failed" {
            break v;
        }
        assert!(Instant::now() < deadline, "never synced: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(view["status"], "complete", "{view}");
    assert_eq!(view["lastSync"]["skipped"], 1, "{view}");
    let reasons = view["lastSync"]["skippedEntries"].to_string();
    assert!(
        reasons.contains("com.example.b/server")
            && reasons.contains(&format!(
                "signature: signed by {team_a_pub}, which is trusted only for com.example.a/*, not for \
                 com.example.b/server"
            )),
        "{reasons}"
    );
    let resp = app
        .request(Method::GET, "/registry/signed/v0.1/servers")
        .send()
        .await
        .unwrap();
    let (status, list) = common::json_of(resp).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let names: Vec<&str> = list["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["server"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["com.example.a/server"]);
    app.stop().await;
}

/// Bindings that cannot work are refused when the configuration loads, naming the setting; a key path holding
/// `=` is written `PATH=*` (every name) or `PATH=PATTERN`, and given alone is refused saying so.
#[tokio::test]
async fn bad_bindings_are_refused_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let (key, team_a_pub) = write_public_key(dir.path(), "team-a.pub");
    for (pattern, says) in [
        ("", "a name pattern cannot be empty"),
        ("com.*.a/x", "'*' may only end a name pattern"),
    ] {
        let flag = format!("{team_a_pub}={pattern}");
        let err = configured(&["--signature-policy", "enforce", "--trusted-key", &flag])
            .err()
            .unwrap_or_else(|| panic!("'{flag}' was accepted"));
        assert!(
            err.contains("signature_policy: trusted_keys[0]") && err.contains(says),
            "{flag}: {err}"
        );
    }
    let yaml_file = dir.path().join("registry.yml");
    std::fs::write(
        &yaml_file,
        format!(
            "signature_policy:\n  mode: enforce\n  trusted_keys:\n    - path: {team_a_pub}\n      names: []\n"
        ),
    )
    .unwrap();
    let err = configured(&["--config", yaml_file.to_str().unwrap()]).unwrap_err();
    assert!(
        err.contains("signature_policy: trusted_keys[0]") && err.contains("names is empty"),
        "{err}"
    );
    let missing = dir.path().join("missing.pub").display().to_string();
    let flag = format!("{missing}=com.example.a/*");
    let err = configured(&["--signature-policy", "enforce", "--trusted-key", &flag]).unwrap_err();
    assert!(
        err.contains(&format!("signature_policy: trusted_keys[0] ({missing})")),
        "{err}"
    );

    // A key file whose path holds '='.
    let odd_dir = dir.path().join("keys=team-a");
    std::fs::create_dir(&odd_dir).unwrap();
    let odd = odd_dir.join("cosign.pub");
    std::fs::write(&odd, key.public_key_to_pem().unwrap()).unwrap();
    let odd = odd.display().to_string();
    let err = configured(&["--signature-policy", "enforce", "--trusted-key", &odd]).unwrap_err();
    assert!(err.contains("contains '='") && err.contains("=*"), "{err}");
    let every = format!("{odd}=*");
    let c = configured(&["--signature-policy", "enforce", "--trusted-key", &every]).unwrap();
    let verdict = c
        .signatures
        .check(&signed(&server_json("io.github.x/y", "1.0.0"), &key))
        .await
        .unwrap();
    assert!(
        matches!(&verdict, signature::Verdict::Verified { key } if *key == odd),
        "{verdict:?}"
    );
}

on_every_backend!(
    a_bound_key_signs_only_its_namespace,
    a_sync_source_skips_entries_outside_the_key_binding,
);
