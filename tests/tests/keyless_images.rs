//! Keyless image signatures as cosign stores them (a `sha256-<digest>.sig` layer: simple signing payload,
//! signature, Fulcio certificate, Rekor's signed entry timestamp), made by the tests' private Sigstore and
//! verified against a registry entry's provenance: a GitHub Actions certificate matching every field verifies;
//! each field that differs is refused and named; absent fields are no constraint; a forged signature next to a
//! valid certificate, a changed log entry and a signature never logged are refused.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};
use sigstore::bundle::verify::ArtifactDigest;
use thv_core::signature::cosign::{keyless_layer_bundle, signed_image_digest};
use thv_core::signature::keyless::{KeylessTrust, verify_digest_with_policy};
use thv_core::signature::provenance::{GITHUB_ACTIONS_ISSUER, ProvenancePolicy};
use thv_core::signature::tlog::Evidence;
use thv_core::toolhive::Provenance;
use thv_e2e::sigstore::{
    OID_RUNNER_ENVIRONMENT, OID_SOURCE_REPOSITORY_REF, OID_SOURCE_REPOSITORY_URI, Subject,
    TestSigstore,
};

/// A change of one provenance field.
type Change = fn(&mut Provenance);

const REPO: &str = "https://github.com/example/mcp-server";
const WORKFLOW: &str =
    "https://github.com/example/mcp-server/.github/workflows/release.yml@refs/tags/v1.2.0";
const DIGEST: &str = "sha256:5f0c0a8e5d1e7b2c3a4f5e6d7c8b9a0f1e2d3c4b5a6978877665544332211000";

fn provenance() -> Provenance {
    Provenance {
        sigstore_url: Some("tuf-repo-cdn.sigstore.dev".into()),
        repository_uri: Some(REPO.into()),
        repository_ref: Some("refs/tags/v1.2.0".into()),
        signer_identity: Some("/.github/workflows/release.yml".into()),
        runner_environment: Some("github-hosted".into()),
        cert_issuer: Some(GITHUB_ACTIONS_ISSUER.into()),
        ..Default::default()
    }
}

fn github_leaf(s: &TestSigstore) -> thv_e2e::sigstore::Leaf {
    s.leaf(
        Subject::Uri(WORKFLOW),
        GITHUB_ACTIONS_ISSUER,
        &[
            (OID_SOURCE_REPOSITORY_URI, REPO),
            (OID_SOURCE_REPOSITORY_REF, "refs/tags/v1.2.0"),
            (OID_RUNNER_ENVIRONMENT, "github-hosted"),
        ],
    )
}

async fn verify(
    s: &TestSigstore,
    payload: &[u8],
    annotations: &std::collections::BTreeMap<String, String>,
    p: &Provenance,
) -> Result<(), String> {
    let bundle = keyless_layer_bundle(payload, annotations)
        .map_err(|e| e.to_string())?
        .expect("a keyless layer");
    let trust = KeylessTrust::from_json(&s.trusted_root()).unwrap();
    let digest: [u8; 32] = Sha256::digest(payload).into();
    verify_digest_with_policy(
        ArtifactDigest::Sha256(digest),
        &bundle,
        &trust,
        &ProvenancePolicy(p),
        Evidence::InclusionProofOrTimestamp,
    )
    .await
    .map_err(|e| e.to_string())
}

#[tokio::test]
async fn keyless_image_signatures_match_the_entry_provenance() {
    let s = TestSigstore::new();
    let leaf = github_leaf(&s);
    let (payload, annotations) = s.cosign_layer("registry.test/example/mcp-server", DIGEST, &leaf);
    assert_eq!(signed_image_digest(&payload).unwrap(), DIGEST);

    verify(&s, &payload, &annotations, &provenance())
        .await
        .unwrap();
    // Absent fields are no constraint.
    verify(&s, &payload, &annotations, &Provenance::default())
        .await
        .unwrap();

    // Each field that differs is refused, by name.
    let cases: [(&str, Change); 5] = [
        ("repository_uri", |p| {
            p.repository_uri = Some("https://github.com/mallory/mcp-server".into())
        }),
        ("repository_ref", |p| {
            p.repository_ref = Some("refs/heads/main".into())
        }),
        ("signer_identity", |p| {
            p.signer_identity = Some("/.github/workflows/other.yml".into())
        }),
        ("runner_environment", |p| {
            p.runner_environment = Some("self-hosted".into())
        }),
        ("cert_issuer", |p| {
            p.cert_issuer = Some("https://accounts.google.com".into())
        }),
    ];
    for (field, change) in cases {
        let mut p = provenance();
        change(&mut p);
        let err = verify(&s, &payload, &annotations, &p).await.unwrap_err();
        eprintln!("{field}: {err}");
        assert!(
            err.contains(&format!("provenance {field}")),
            "{field}: {err}"
        );
    }

    // A certificate for another workflow of the same repository: the reduced identity differs.
    let other = s.leaf(
        Subject::Uri(
            "https://github.com/example/mcp-server/.github/workflows/nightly.yml@refs/tags/v1.2.0",
        ),
        GITHUB_ACTIONS_ISSUER,
        &[
            (OID_SOURCE_REPOSITORY_URI, REPO),
            (OID_SOURCE_REPOSITORY_REF, "refs/tags/v1.2.0"),
            (OID_RUNNER_ENVIRONMENT, "github-hosted"),
        ],
    );
    let (p2, a2) = s.cosign_layer("registry.test/example/mcp-server", DIGEST, &other);
    let err = verify(&s, &p2, &a2, &provenance()).await.unwrap_err();
    assert!(
        err.contains("signer_identity") && err.contains("/.github/workflows/nightly.yml"),
        "{err}"
    );

    // A signature by another key next to the valid certificate and log entry: refused.
    let mut forged = annotations.clone();
    let mallory = s.leaf(Subject::Email("mallory@example.com"), "https://x.test", &[]);
    forged.insert(
        "dev.cosignproject.cosign/signature".into(),
        B64.encode(mallory.sign(&payload)),
    );
    let err = verify(&s, &payload, &forged, &provenance())
        .await
        .unwrap_err();
    eprintln!("forged signature: {err}");

    // The payload changed after signing (another image digest): refused.
    let other_payload = String::from_utf8(payload.clone())
        .unwrap()
        .replace(DIGEST, &format!("sha256:{}", "ab".repeat(32)));
    let err = verify(&s, other_payload.as_bytes(), &annotations, &provenance())
        .await
        .unwrap_err();
    eprintln!("changed payload: {err}");

    // The log's signed entry timestamp does not verify (integrated time changed): refused.
    let mut late = annotations.clone();
    let bundle = late.get("dev.sigstore.cosign/bundle").unwrap().clone();
    let mut v: serde_json::Value = serde_json::from_str(&bundle).unwrap();
    v["Payload"]["integratedTime"] =
        serde_json::json!(v["Payload"]["integratedTime"].as_i64().unwrap() + 1);
    late.insert("dev.sigstore.cosign/bundle".into(), v.to_string());
    let err = verify(&s, &payload, &late, &provenance())
        .await
        .unwrap_err();
    eprintln!("changed log entry: {err}");
    assert!(err.contains("signed entry timestamp"), "{err}");

    // Never logged: refused.
    let mut unlogged = annotations.clone();
    unlogged.remove("dev.sigstore.cosign/bundle");
    let err = verify(&s, &payload, &unlogged, &provenance())
        .await
        .unwrap_err();
    assert!(err.contains("never logged"), "{err}");

    // A layer signed with a key (no certificate) is not keyless.
    let mut keyed = annotations.clone();
    keyed.remove("dev.sigstore.cosign/certificate");
    assert!(keyless_layer_bundle(&payload, &keyed).unwrap().is_none());
}

/// An in-toto attestation about the image (a DSSE bundle, as attached through OCI referrers), verified over
/// the image digest against the provenance and its `attestation`.
async fn verify_attestation(
    s: &TestSigstore,
    bundle: &serde_json::Value,
    digest: &str,
    p: &Provenance,
) -> Result<(), String> {
    let bundle = thv_core::signature::bundle_from_value(bundle).map_err(|e| e.to_string())?;
    let trust = KeylessTrust::from_json(&s.trusted_root()).unwrap();
    let image_digest: [u8; 32] = hex::decode(&digest[7..]).unwrap().try_into().unwrap();
    verify_digest_with_policy(
        ArtifactDigest::Sha256(image_digest),
        &bundle,
        &trust,
        &ProvenancePolicy(p),
        Evidence::InclusionProof,
    )
    .await
    .map_err(|e| e.to_string())?;
    thv_core::signature::provenance::check_attestation(p, &bundle).map_err(|e| e.to_string())
}

#[tokio::test]
async fn keyless_attestations_match_the_entry_provenance_and_predicate() {
    let s = TestSigstore::new();
    let leaf = github_leaf(&s);
    let predicate = serde_json::json!({"buildDefinition": {"buildType": "https://actions.github.io/buildtypes/workflow/v1"}});
    let bundle = s.attestation_bundle(
        "registry.test/example/mcp-server",
        DIGEST,
        "https://slsa.dev/provenance/v1",
        &predicate,
        &leaf,
    );
    let mut p = provenance();
    p.attestation = Some(thv_core::toolhive::VerifiedAttestation {
        predicate_type: Some("https://slsa.dev/provenance/v1".into()),
        predicate: Some(predicate.clone()),
        ..Default::default()
    });
    verify_attestation(&s, &bundle, DIGEST, &p).await.unwrap();

    // About another image: refused.
    let other = format!("sha256:{}", "cd".repeat(32));
    let err = verify_attestation(&s, &bundle, &other, &p)
        .await
        .unwrap_err();
    eprintln!("other image: {err}");

    // Another predicate type, another predicate: refused.
    let mut q = p.clone();
    q.attestation.as_mut().unwrap().predicate_type = Some("https://spdx.dev/Document".into());
    let err = verify_attestation(&s, &bundle, DIGEST, &q)
        .await
        .unwrap_err();
    assert!(err.contains("predicate_type"), "{err}");
    let mut q = p.clone();
    q.attestation.as_mut().unwrap().predicate = Some(serde_json::json!({"other": true}));
    let err = verify_attestation(&s, &bundle, DIGEST, &q)
        .await
        .unwrap_err();
    assert!(err.contains("predicate"), "{err}");

    // Another repository in the provenance: refused by the certificate policy.
    let mut q = p.clone();
    q.repository_uri = Some("https://github.com/mallory/mcp-server".into());
    let err = verify_attestation(&s, &bundle, DIGEST, &q)
        .await
        .unwrap_err();
    assert!(err.contains("provenance repository_uri"), "{err}");

    // A changed statement (the envelope no longer what was signed and logged): refused.
    let mut changed = bundle.clone();
    let payload = B64
        .decode(changed["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    let tampered = String::from_utf8(payload)
        .unwrap()
        .replace("workflow/v1", "workflow/v2");
    changed["dsseEnvelope"]["payload"] = serde_json::json!(B64.encode(tampered));
    let err = verify_attestation(&s, &changed, DIGEST, &p)
        .await
        .unwrap_err();
    eprintln!("changed statement: {err}");
}
