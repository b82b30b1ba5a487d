//! Bundles as current Sigstore clients make them, made by the tests' private Sigstore ([`thv_e2e::sigstore`]:
//! a Fulcio-like CA and CT log, a Rekor v1 log, a Rekor v2 log with signed-note checkpoints and a timestamp
//! authority answering RFC 3161 requests) and verified by the one bundle verifier
//! ([`thv_core::signature::verify`]). Each test stands for sigstore-conformance `bundle-verify` cases that could
//! not be vendored (`tests/fixtures/sigstore-conformance/README.md`), named in its comment, and checks each
//! refusal's reason, not only the verdict.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sigstore::bundle::verify::ArtifactDigest;
use sigstore::bundle::verify::policy::Identity;
use thv_core::signature::keyless::{KeylessTrust, verify_digest_with_policy};
use thv_core::signature::keys::PublicKey;
use thv_core::signature::provenance::{ProvenancePolicy, check_attestation};
use thv_core::signature::tlog::{CheckpointError, Evidence, TlogError};
use thv_core::signature::trust::TrustedRoot;
use thv_core::signature::verify::entry::EntryError;
use thv_core::signature::verify::tsa::TimestampError;
use thv_core::signature::verify::{Artifact, Signer, TimeSource, Verified, VerifyError, verify};
use thv_core::signature::{SignatureError, bundle_from_json};
use thv_e2e::sigstore::{
    BUNDLE_V03, BUNDLE_V03_ALT, Leaf, SIGNED_AT, Subject, TestSigstore, in_toto_statement,
};

const EMAIL: &str = "dev@example.com";
const ISSUER: &str = "https://issuer.example.com";
const DATA: &[u8] = b"a file signed by a current Sigstore client\n";
/// Within the leaf's validity (2026-06-01 .. 2026-06-02), an hour after it starts.
const STAMPED_AT: i64 = SIGNED_AT + 3600;

fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn leaf(s: &TestSigstore) -> Leaf {
    s.leaf(Subject::Email(EMAIL), ISSUER, &[])
}

/// Verifies `bundle` over `data` against `root` for the keyless signer `EMAIL`/`ISSUER`.
fn check(root: &Value, bundle: &Value, data: &[u8]) -> Result<Verified, VerifyError> {
    let trust = TrustedRoot::from_json(root.to_string().as_bytes()).unwrap();
    let bundle = match bundle_from_json(&bundle.to_string()) {
        Ok(b) => b,
        Err(SignatureError::Verify(e)) => return Err(e),
        Err(e) => return Err(VerifyError::Bundle(e.to_string())),
    };
    let identity = Identity::new(EMAIL, ISSUER);
    verify(
        &bundle,
        &Artifact::Bytes(data),
        Some(&trust),
        Signer::Certificate(&identity),
        None,
    )
}

fn refusal(root: &Value, bundle: &Value, data: &[u8]) -> VerifyError {
    let e = check(root, bundle, data).expect_err("must be refused");
    eprintln!("refused: {e}");
    e
}

/// The signature of a message-signature bundle.
fn signature(bundle: &Value) -> Vec<u8> {
    B64.decode(bundle["messageSignature"]["signature"].as_str().unwrap())
        .unwrap()
}

/// `happy-path` (a v0.3 bundle, both spellings of its media type) and `rekor2-happy-path` (a Rekor v2 entry
/// and an RFC 3161 timestamp, with and without the TSA certificate embedded in the token).
#[test]
fn current_bundles_verify() {
    let s = TestSigstore::new();
    let root = s.trusted_root_value();
    let leaf = leaf(&s);
    for media_type in [BUNDLE_V03, BUNDLE_V03_ALT] {
        let bundle = s.bundle_rekor2(DATA, &leaf, STAMPED_AT, media_type);
        let verified = check(&root, &bundle, DATA).unwrap();
        assert_eq!(
            verified.times,
            vec![(
                chrono::DateTime::from_timestamp(STAMPED_AT, 0).unwrap(),
                TimeSource::TimestampAuthority(s.tsa.uri.clone())
            )]
        );
        assert_eq!(verified.certificate.as_deref(), Some(&leaf.cert_der[..]));
        // A Rekor v1 bundle (signed entry timestamp) in the same spelling.
        let mut v1 = s.bundle(DATA, &leaf, SIGNED_AT, true);
        v1["mediaType"] = json!(media_type);
        check(&root, &v1, DATA).unwrap();
    }
    // The timestamp without the TSA's certificate: the authority's own is used.
    let mut bundle = s.bundle_rekor2(DATA, &leaf, STAMPED_AT, BUNDLE_V03);
    let bare = s.tsa.timestamp(&signature(&bundle), STAMPED_AT, false);
    bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]["signedTimestamp"] =
        json!(B64.encode(bare));
    check(&root, &bundle, DATA).unwrap();
    // Another file: refused (the log entry records another digest).
    let e = refusal(&root, &bundle, b"another file");
    assert!(
        matches!(
            e,
            VerifyError::EntryMismatch {
                reason: EntryError::Mismatch("digest"),
                ..
            }
        ),
        "{e}"
    );
}

/// `message-digest-mismatch_fail`: the bundle's message digest is not the artifact's.
#[test]
fn a_message_digest_of_another_artifact_is_refused() {
    let s = TestSigstore::new();
    let mut bundle = s.bundle_rekor2(DATA, &leaf(&s), STAMPED_AT, BUNDLE_V03);
    bundle["messageSignature"]["messageDigest"]["digest"] = json!(B64.encode([7u8; 32]));
    let e = refusal(&s.trusted_root_value(), &bundle, DATA);
    assert!(
        matches!(&e, VerifyError::DigestMismatch { found, .. } if found.contains("0707")),
        "{e}"
    );
}

/// `dsse-mismatch-sig_fail` (Rekor v1 `dsse` 0.0.1) and its Rekor v2 form (`dsse` 0.0.2): the envelope carries
/// another signature than the one logged.
#[test]
fn a_dsse_signature_other_than_the_logged_one_is_refused() {
    let s = TestSigstore::new();
    let root = s.trusted_root_value();
    let leaf = leaf(&s);
    let digest = format!("sha256:{}", "ab".repeat(32));
    let statement = in_toto_statement(
        "registry.test/x",
        &digest,
        "https://slsa.dev/provenance/v1",
        &json!({}),
    );
    let other = B64.encode(leaf.sign(b"something else"));
    let v1 = s.attestation_bundle(
        "registry.test/x",
        &digest,
        "https://slsa.dev/provenance/v1",
        &json!({}),
        &leaf,
    );
    let v2 = s.dsse_bundle_rekor2(&statement, &leaf, STAMPED_AT);
    let image = |b: &Value| {
        let trust = TrustedRoot::from_json(root.to_string().as_bytes()).unwrap();
        let bundle = bundle_from_json(&b.to_string()).unwrap();
        let identity = Identity::new(EMAIL, ISSUER);
        let d: [u8; 32] = hex::decode(&digest[7..]).unwrap().try_into().unwrap();
        verify(
            &bundle,
            &Artifact::Sha256(d),
            Some(&trust),
            Signer::Certificate(&identity),
            None,
        )
    };
    for good in [&v1, &v2] {
        image(good).unwrap();
        let mut bad = good.clone();
        bad["dsseEnvelope"]["signatures"][0]["sig"] = json!(other);
        let e = image(&bad).unwrap_err();
        eprintln!("refused: {e}");
        assert!(
            matches!(
                e,
                VerifyError::EntryMismatch {
                    reason: EntryError::Mismatch("signature"),
                    ..
                }
            ),
            "{e}"
        );
    }
}

/// `managed-key-and-trusted-root`: a bundle signed with a key and logged, verified with the key and the trusted
/// root (its log entry checked too); another key, or the entry of another key, is refused.
#[test]
fn a_key_signed_bundle_with_a_trusted_root() {
    let s = TestSigstore::new();
    let trust = TrustedRoot::from_json(&s.trusted_root()).unwrap();
    let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let key = PublicKey::from_pem(key_pair.public_key_pem().as_bytes()).unwrap();
    let bundle = s.key_bundle(DATA, &key_pair);
    let run = |b: &Value, key: &PublicKey| {
        let b = bundle_from_json(&b.to_string()).unwrap();
        let signer = Signer::Key {
            key,
            name: "key.pub",
        };
        verify(&b, &Artifact::Bytes(DATA), Some(&trust), signer, None)
    };
    let verified = run(&bundle, &key).unwrap();
    assert!(
        matches!(&verified.times[..], [(_, TimeSource::TransparencyLog(url))] if url == "https://rekor.test")
    );
    let other_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let other = PublicKey::from_pem(other_pair.public_key_pem().as_bytes()).unwrap();
    let e = run(&bundle, &other).unwrap_err();
    eprintln!("other key: {e}");
    assert!(
        matches!(
            e,
            VerifyError::EntryMismatch {
                reason: EntryError::Mismatch("certificate or key"),
                ..
            }
        ),
        "{e}"
    );
    // The log entry of another key's signature, swapped in: refused.
    let mut swapped = bundle.clone();
    swapped["verificationMaterial"]["tlogEntries"] =
        s.key_bundle(DATA, &other_pair)["verificationMaterial"]["tlogEntries"].clone();
    let e = run(&swapped, &key).unwrap_err();
    assert!(
        matches!(
            e,
            VerifyError::EntryMismatch {
                reason: EntryError::Mismatch("signature"),
                ..
            }
        ),
        "{e}"
    );
}

/// `managed-key-and-client-identity_fail`: `thv-registry verify-blob` refuses a key together with an identity;
/// and it verifies a Rekor v2 bundle of the private Sigstore.
#[test]
fn verify_blob_on_current_bundles() {
    let s = TestSigstore::new();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("file.txt"), DATA).unwrap();
    std::fs::write(d.join("trusted_root.json"), s.trusted_root()).unwrap();
    let bundle = s.bundle_rekor2(DATA, &leaf(&s), STAMPED_AT, BUNDLE_V03_ALT);
    std::fs::write(d.join("file.sigstore.json"), bundle.to_string()).unwrap();
    let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    std::fs::write(d.join("key.pub"), key_pair.public_key_pem()).unwrap();
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(thv_e2e::binary("thv-registry"))
            .args([
                "verify-blob",
                "file.txt",
                "--bundle",
                "file.sigstore.json",
                "--trusted-root",
                "trusted_root.json",
            ])
            .args(extra)
            .current_dir(d)
            .output()
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let (code, stdout, stderr) = run(&[
        "--certificate-identity",
        EMAIL,
        "--certificate-oidc-issuer",
        ISSUER,
    ]);
    assert_eq!((code, stdout.trim()), (Some(0), "Verified OK"), "{stderr}");
    let (code, _, stderr) = run(&[
        "--key",
        "key.pub",
        "--certificate-identity",
        EMAIL,
        "--certificate-oidc-issuer",
        ISSUER,
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("exclude each other"), "{stderr}");
    // The keyless bundle with a key alone: refused as keyless.
    let (code, _, stderr) = run(&["--key", "key.pub"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("keyless (a certificate), not signed with a key"),
        "{stderr}"
    );
}

/// The `validFor` of the trusted root's timestamp authority (index 0) or Rekor v2 log (`tlogs[1]`).
fn with_tsa_validity(root: &Value, valid_for: Value) -> Value {
    let mut r = root.clone();
    r["timestampAuthorities"][0]["validFor"] = valid_for;
    r
}

fn with_rekor2_validity(root: &Value, valid_for: Value) -> Value {
    let mut r = root.clone();
    r["tlogs"][1]["publicKey"]["validFor"] = valid_for;
    r
}

fn untrusted_timestamp(e: &VerifyError, why: &str) -> bool {
    matches!(e, VerifyError::Timestamp { index: 0, reason: TimestampError::Untrusted(m) } if m.contains(why))
}

/// `rekor2-timestamp-outside-trust-root-tsa-validity_fail`, `rekor2-timestamp-wrong-tsa-validity-borrow_fail`
/// and `trust-root-tsa-validity-end-inclusive`: a timestamp is trusted only within the `validFor` of the
/// authority that signed it — not another authority's — and that range includes its end.
#[test]
fn timestamp_authority_validity() {
    let s = TestSigstore::new();
    let root = s.trusted_root_value();
    let bundle = s.bundle_rekor2(DATA, &leaf(&s), STAMPED_AT, BUNDLE_V03);
    let start = "2025-01-01T00:00:00Z";

    let ends_at = with_tsa_validity(&root, json!({"start": start, "end": rfc3339(STAMPED_AT)}));
    check(&ends_at, &bundle, DATA).unwrap();

    let ended = with_tsa_validity(
        &root,
        json!({"start": start, "end": rfc3339(STAMPED_AT - 1)}),
    );
    let e = refusal(&ended, &bundle, DATA);
    assert!(
        untrusted_timestamp(&e, "outside the authority's validity"),
        "{e}"
    );
    let not_yet = with_tsa_validity(&root, json!({"start": rfc3339(STAMPED_AT + 1)}));
    let e = refusal(&not_yet, &bundle, DATA);
    assert!(
        untrusted_timestamp(&e, "outside the authority's validity"),
        "{e}"
    );

    // Another authority valid then does not lend its range to the one that signed.
    let mut borrow = ended.clone();
    let mut other = TestSigstore::new().trusted_root_value()["timestampAuthorities"][0].clone();
    other["uri"] = json!("https://other-tsa.test");
    borrow["timestampAuthorities"]
        .as_array_mut()
        .unwrap()
        .push(other);
    let e = refusal(&borrow, &bundle, DATA);
    assert!(
        untrusted_timestamp(&e, "outside the authority's validity"),
        "{e}"
    );
}

/// `rekor2-timestamp-with-incorrect-time_fail`: the timestamp's time is outside the signing certificate's
/// validity; also a timestamp over another signature, one of an authority the root does not list, and a
/// Rekor v2 entry without any timestamp (no verified time).
#[test]
fn timestamps_that_do_not_vouch_for_the_signature() {
    let s = TestSigstore::new();
    let root = s.trusted_root_value();
    let leaf = leaf(&s);
    let late = s.bundle_rekor2(DATA, &leaf, SIGNED_AT + 3 * 86_400, BUNDLE_V03);
    let e = refusal(&root, &late, DATA);
    assert!(
        matches!(&e, VerifyError::CertificateNotValid { time, .. } if time.starts_with("2026-06-04")),
        "{e}"
    );

    let good = s.bundle_rekor2(DATA, &leaf, STAMPED_AT, BUNDLE_V03);
    let set_timestamp = |ts: Vec<u8>| {
        let mut b = good.clone();
        b["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]["signedTimestamp"] =
            json!(B64.encode(ts));
        b
    };
    let other_sig = set_timestamp(s.tsa.timestamp(b"another signature", STAMPED_AT, true));
    let e = refusal(&root, &other_sig, DATA);
    assert!(
        matches!(
            e,
            VerifyError::Timestamp {
                reason: TimestampError::Imprint,
                ..
            }
        ),
        "{e}"
    );

    let stranger = TestSigstore::new();
    let untrusted = set_timestamp(stranger.tsa.timestamp(&signature(&good), STAMPED_AT, true));
    let e = refusal(&root, &untrusted, DATA);
    assert!(untrusted_timestamp(&e, "does not chain"), "{e}");

    let mut none = good.clone();
    none["verificationMaterial"]
        .as_object_mut()
        .unwrap()
        .remove("timestampVerificationData");
    let e = refusal(&root, &none, DATA);
    assert_eq!(e, VerifyError::NoVerifiedTime);
}

/// `trust-root-tlog-missing-validity-start_fail` and `trust-root-tlog-validity-end-inclusive`: a log's validity
/// needs its start, includes its end (a Rekor v2 entry is checked at its timestamps' times), and an entry of a
/// log no longer trusted then is refused.
#[test]
fn transparency_log_validity() {
    let s = TestSigstore::new();
    let root = s.trusted_root_value();
    let bundle = s.bundle_rekor2(DATA, &leaf(&s), STAMPED_AT, BUNDLE_V03);

    let no_start = with_rekor2_validity(&root, json!({"end": "2027-01-01T00:00:00Z"}));
    let e = TrustedRoot::from_json(no_start.to_string().as_bytes()).unwrap_err();
    assert!(
        e.to_string()
            .contains("tlogs[1].publicKey.validFor.start: missing"),
        "{e}"
    );
    let e = KeylessTrust::from_json(no_start.to_string().as_bytes())
        .err()
        .unwrap();
    assert!(e.to_string().contains("validFor.start: missing"), "{e}");

    let start = "2025-01-01T00:00:00Z";
    let ends_at = with_rekor2_validity(&root, json!({"start": start, "end": rfc3339(STAMPED_AT)}));
    check(&ends_at, &bundle, DATA).unwrap();
    let ended = with_rekor2_validity(
        &root,
        json!({"start": start, "end": rfc3339(STAMPED_AT - 1)}),
    );
    let e = refusal(&ended, &bundle, DATA);
    assert!(
        matches!(&e, VerifyError::LogNotValid { log, .. } if log == "https://rekor2.test"),
        "{e}"
    );
}

/// Rekor v2 log entries: a checkpoint not signed by the log, another root, an entry of a log the root does
/// not list.
#[test]
fn rekor_v2_entries_are_checked() {
    let s = TestSigstore::new();
    let root = s.trusted_root_value();
    let good = s.bundle_rekor2(DATA, &leaf(&s), STAMPED_AT, BUNDLE_V03);
    let entry = |b: &mut Value| b["verificationMaterial"]["tlogEntries"][0].clone();

    // The checkpoint's signature (after its 4-byte key hint) changed: not the log's.
    let mut forged = good.clone();
    let mut e0 = entry(&mut forged);
    let envelope = e0["inclusionProof"]["checkpoint"]["envelope"]
        .as_str()
        .unwrap()
        .to_owned();
    let (note, line) = envelope.split_once("\n\n").unwrap();
    let (name, sig) = line.trim_end().rsplit_once(' ').unwrap();
    let mut raw = B64.decode(sig).unwrap();
    raw[10] ^= 1;
    e0["inclusionProof"]["checkpoint"]["envelope"] =
        json!(format!("{note}\n\n{name} {}\n", B64.encode(raw)));
    forged["verificationMaterial"]["tlogEntries"][0] = e0;
    let e = refusal(&root, &forged, DATA);
    assert!(
        matches!(
            &e,
            VerifyError::Tlog(TlogError::Checkpoint(
                CheckpointError::SignatureMismatch { .. }
            ))
        ),
        "{e}"
    );

    let mut bad_root = good.clone();
    bad_root["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["rootHash"] =
        json!(B64.encode([1u8; 32]));
    let e = refusal(&root, &bad_root, DATA);
    assert!(
        matches!(e, VerifyError::Tlog(TlogError::InclusionProof(_))),
        "{e}"
    );

    let mut without_v2 = root.clone();
    without_v2["tlogs"].as_array_mut().unwrap().truncate(1);
    let e = refusal(&without_v2, &good, DATA);
    assert!(
        matches!(e, VerifyError::Tlog(TlogError::UnknownLog(_))),
        "{e}"
    );
}

/// A certificate whose SCT carries extensions (RFC 6962 `CtExtensions`, signed with it); and
/// `sct-duplicate-intermediate-name`: another certificate authority of the same name listed first in the
/// trusted root, so the SCT's issuer must be the certificate that validated the chain, not one found by name.
#[test]
fn sct_with_extensions_and_authorities_of_the_same_name() {
    let s = TestSigstore::new();
    let root = s.trusted_root_value();
    let leaf = s.leaf_with_sct_extensions(
        Subject::Email(EMAIL),
        ISSUER,
        &[],
        &[0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x01, 0x2a],
    );
    let bundle = s.bundle_rekor2(DATA, &leaf, STAMPED_AT, BUNDLE_V03);
    check(&root, &bundle, DATA).unwrap();

    let decoy = TestSigstore::new().trusted_root_value()["certificateAuthorities"][0].clone();
    assert_eq!(
        decoy["subject"],
        root["certificateAuthorities"][0]["subject"]
    );
    let mut two = root.clone();
    two["certificateAuthorities"]
        .as_array_mut()
        .unwrap()
        .insert(0, decoy);
    check(&two, &bundle, DATA).unwrap();
}

/// A keyless image attestation whose bundle has a Rekor v2 entry and a timestamp verifies through the image
/// path (`thv run`'s referrer bundles: the image digest, the entry's provenance as the certificate policy).
#[tokio::test]
async fn an_image_attestation_with_rekor_v2_and_a_timestamp() {
    use thv_core::signature::provenance::GITHUB_ACTIONS_ISSUER;
    use thv_core::toolhive::Provenance;
    use thv_e2e::sigstore::{OID_SOURCE_REPOSITORY_REF, OID_SOURCE_REPOSITORY_URI};
    const REPO: &str = "https://github.com/example/mcp-server";
    let s = TestSigstore::new();
    let leaf = s.leaf(
        Subject::Uri(
            "https://github.com/example/mcp-server/.github/workflows/release.yml@refs/tags/v1",
        ),
        GITHUB_ACTIONS_ISSUER,
        &[
            (OID_SOURCE_REPOSITORY_URI, REPO),
            (OID_SOURCE_REPOSITORY_REF, "refs/tags/v1"),
        ],
    );
    let digest = format!("sha256:{}", "5f".repeat(32));
    let statement = in_toto_statement(
        "registry.test/example/mcp-server",
        &digest,
        "https://slsa.dev/provenance/v1",
        &json!({}),
    );
    let bundle = bundle_from_json(
        &s.dsse_bundle_rekor2(&statement, &leaf, STAMPED_AT)
            .to_string(),
    )
    .unwrap();
    let trust = KeylessTrust::from_json(&s.trusted_root()).unwrap();
    let image: [u8; 32] = hex::decode(&digest[7..]).unwrap().try_into().unwrap();
    let provenance = |signer: &str| Provenance {
        repository_uri: Some(REPO.into()),
        signer_identity: Some(signer.into()),
        cert_issuer: Some(GITHUB_ACTIONS_ISSUER.into()),
        ..Default::default()
    };
    let run = |p: Provenance, image: [u8; 32]| {
        let bundle = bundle.clone();
        let trust = &trust;
        async move {
            verify_digest_with_policy(
                ArtifactDigest::Sha256(image),
                &bundle,
                trust,
                &ProvenancePolicy(&p),
                Evidence::InclusionProof,
            )
            .await
            .map_err(|e| e.to_string())?;
            check_attestation(&p, &bundle).map_err(|e| e.to_string())
        }
    };
    run(provenance("/.github/workflows/release.yml"), image)
        .await
        .unwrap();
    let e = run(provenance("/.github/workflows/other.yml"), image)
        .await
        .unwrap_err();
    assert!(e.contains("signer_identity"), "{e}");
    let e = run(provenance("/.github/workflows/release.yml"), [0xcd; 32])
        .await
        .unwrap_err();
    eprintln!("another image: {e}");
    assert!(e.contains("subject") || e.contains("digest"), "{e}");
}
