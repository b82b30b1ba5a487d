//! Signed entries through the API: under an enforcing policy, publish and edit accept only entries signed by a
//! trusted key (422 naming the reason otherwise); the bundle is served in `_meta` and at
//! `.../versions/{version}/signature`.

mod common;

use common::{ADMIN_TOKEN, TestApp, enc, server_json};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use thv_core::signature::{self, PolicyMode, SIGNATURE_META, SignaturePolicy};

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
