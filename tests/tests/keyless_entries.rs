//! Keyless entry verification against a private Sigstore made by the tests ([`thv_e2e::sigstore`]): a CA
//! standing in for Fulcio (leaf certificates with the signer's email and the OIDC issuer extensions, and an
//! embedded SCT from a test CT log) and a transparency-log key standing in for Rekor (a one-entry log: inclusion
//! proof, signed checkpoint, signed entry timestamp), published in a `trusted_root.json`. A registry entry signed
//! keyless verifies; an expired certificate, another identity, another issuer and a missing log entry are
//! refused.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use thv_core::signature::keyless::{ExpectedSigner, KeylessTrust, verify_entry};
use thv_core::signature::tlog::TlogError;
use thv_core::signature::{SignatureError, VerifyError, bundle_from_value, canonical_bytes};
use thv_e2e::sigstore::{SIGNED_AT, Subject, TestSigstore};

const EMAIL: &str = "curator@example.com";
const ISSUER: &str = "https://issuer.example.com";

fn entry() -> Value {
    json!({"$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
           "name": "io.github.example/keyless", "description": "Signed without a key", "version": "1.0.0"})
}

fn expected() -> ExpectedSigner {
    ExpectedSigner {
        identity: EMAIL.into(),
        issuer: ISSUER.into(),
    }
}

async fn check(
    sigstore: &TestSigstore,
    bundle: &Value,
    signer: &ExpectedSigner,
) -> Result<(), SignatureError> {
    let b = bundle_from_value(bundle)?;
    let trust = KeylessTrust::from_json(&sigstore.trusted_root())?;
    verify_entry(&entry(), &b, &trust, signer).await
}

#[tokio::test]
async fn keyless_entries_against_a_test_fulcio_and_rekor() {
    let s = TestSigstore::new();
    let leaf = s.leaf(Subject::Email(EMAIL), ISSUER, &[]);
    let bytes = canonical_bytes(&entry()).unwrap();

    let good = s.bundle(&bytes, &leaf, SIGNED_AT, true);
    check(&s, &good, &expected()).await.unwrap();

    // Another identity, another issuer: refused.
    let other = ExpectedSigner {
        identity: "mallory@example.com".into(),
        ..expected()
    };
    let err = check(&s, &good, &other).await.unwrap_err();
    eprintln!("other identity: {err}");
    assert!(
        matches!(&err, SignatureError::Verify(VerifyError::Policy(m)) if m.contains("SubjectAltName")),
        "{err}"
    );
    let other_issuer = ExpectedSigner {
        issuer: "https://accounts.example.net".into(),
        ..expected()
    };
    let err = check(&s, &good, &other_issuer).await.unwrap_err();
    eprintln!("other issuer: {err}");
    assert!(
        matches!(&err, SignatureError::Verify(VerifyError::Policy(m)) if m.contains("accounts.example.net")),
        "{err}"
    );

    // Logged after the certificate expired: refused.
    let late = s.bundle(&bytes, &leaf, SIGNED_AT + 3 * 86_400, true);
    let err = check(&s, &late, &expected()).await.unwrap_err();
    eprintln!("expired: {err}");
    assert!(
        matches!(
            &err,
            SignatureError::Verify(VerifyError::CertificateNotValid { .. })
        ),
        "{err}"
    );

    // Never logged: refused.
    let unlogged = s.bundle(&bytes, &leaf, SIGNED_AT, false);
    let err = check(&s, &unlogged, &expected()).await.unwrap_err();
    eprintln!("unlogged: {err}");
    assert!(
        matches!(
            &err,
            SignatureError::Verify(VerifyError::Tlog(TlogError::NoEntry))
        ),
        "{err}"
    );

    // Another entry than the one signed: refused.
    let mut changed = entry();
    changed["version"] = json!("1.0.1");
    let b = bundle_from_value(&good).unwrap();
    let trust = KeylessTrust::from_json(&s.trusted_root()).unwrap();
    let err = verify_entry(&changed, &b, &trust, &expected())
        .await
        .unwrap_err();
    eprintln!("changed entry: {err}");

    // A log entry whose inclusion proof was tampered with: refused by the log checks.
    let mut forged = good.clone();
    forged["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["rootHash"] =
        json!(B64.encode([0u8; 32]));
    let err = check(&s, &forged, &expected()).await.unwrap_err();
    eprintln!("forged proof: {err}");
    assert!(
        matches!(err, SignatureError::Verify(VerifyError::Tlog(_))),
        "{err}"
    );
}
