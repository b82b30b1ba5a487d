//! Still more sigstore-conformance `bundle-verify` situations rebuilt with the tests' private Sigstore
//! ([`thv_e2e::sigstore`]), as in `keyless_bundles.rs` and `keyless_bundles_more.rs`: Rekor v1 `intoto` 0.0.2 and
//! `dsse` entries, entries of another key, timestamp authorities whose certificates are not valid at or after
//! the timestamp's time, and a Rekor v1 inclusion proof with an audit path
//! (`tests/fixtures/sigstore-conformance/README.md` lists every case). Where a case's files were not available,
//! the situation is the one its name describes. Every refusal's reason is checked, not only the verdict.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sigstore::bundle::verify::policy::Identity;
use thv_core::signature::bundle_from_json;
use thv_core::signature::tlog::TlogError;
use thv_core::signature::trust::TrustedRoot;
use thv_core::signature::verify::entry::EntryError;
use thv_core::signature::verify::tsa::TimestampError;
use thv_core::signature::verify::{Artifact, Signer, Verified, VerifyError, verify};
use thv_e2e::sigstore::tsa::TimestampAuthority;
use thv_e2e::sigstore::{
    BUNDLE_V03, Leaf, SIGNED_AT, Subject, TestSigstore, in_toto_statement, pem,
};

const EMAIL: &str = "dev@example.com";
const ISSUER: &str = "https://issuer.example.com";
const DATA: &[u8] = b"a file signed by a current Sigstore client\n";
/// Within the leaf's validity (2026-06-01 .. 2026-06-02), an hour after it starts.
const STAMPED_AT: i64 = SIGNED_AT + 3600;

fn leaf(s: &TestSigstore) -> Leaf {
    s.leaf(Subject::Email(EMAIL), ISSUER, &[])
}

fn check(root: &Value, bundle: &Value, data: &[u8]) -> Result<Verified, VerifyError> {
    let trust = TrustedRoot::from_json(root.to_string().as_bytes()).unwrap();
    let bundle = bundle_from_json(&bundle.to_string()).unwrap();
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

fn entry_mismatch(e: &VerifyError, what: &str) -> bool {
    matches!(e, VerifyError::EntryMismatch { reason: EntryError::Mismatch(w), .. } if *w == what)
}

fn untrusted_timestamp(e: &VerifyError, what: &str) -> bool {
    matches!(e, VerifyError::Timestamp { reason: TimestampError::Untrusted(m), .. } if m.contains(what))
}

/// An in-toto statement whose subject is `data` (named `a.txt`), with `predicate`.
fn statement(data: &[u8], predicate: Value) -> Value {
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(data)));
    in_toto_statement(
        "a.txt",
        &digest,
        "https://slsa.dev/provenance/v1",
        &predicate,
    )
}

/// The canonicalized body of a bundle's first log entry, as JSON.
fn body(bundle: &Value) -> Value {
    let b64 = bundle["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]
        .as_str()
        .unwrap();
    serde_json::from_slice(&B64.decode(b64).unwrap()).unwrap()
}

/// `bundle` with the log entries of `other`.
fn with_entries_of(bundle: &Value, other: &Value) -> Value {
    let mut b = bundle.clone();
    b["verificationMaterial"]["tlogEntries"] = other["verificationMaterial"]["tlogEntries"].clone();
    b
}

/// `intoto-with-custom-trust-root`, `intoto-expired-certificate_fail` (and
/// `intoto-set-outside-signing-cert-validity_fail`), `intoto-tsa-timestamp-outside-cert-validity_fail`,
/// `intoto-missing-inclusion-proof_fail`, `intoto-log-entry-mismatch_fail`: a DSSE bundle logged as Rekor v1
/// makes an `intoto` 0.0.2 entry (payload dropped, signatures base64 twice) verifies with the trusted root of its
/// own Sigstore, not another's; logged after the certificate expired, timestamped after it expired, without
/// inclusion proof, or with the entry of another statement (or of another payload type), it is refused.
#[test]
fn rekor_v1_intoto_entries() {
    let s = TestSigstore::new();
    let root = s.trusted_root_value();
    let leaf = leaf(&s);
    let signed = statement(DATA, json!({"buildType": "a"}));
    let good = s.intoto_bundle(&signed, &leaf, SIGNED_AT);
    let logged = body(&good);
    assert_eq!(logged["kind"], "intoto");
    assert_eq!(logged["apiVersion"], "0.0.2");
    assert!(
        logged["spec"]["content"]["envelope"]
            .get("payload")
            .is_none()
    );
    check(&root, &good, DATA).unwrap();
    let e = refusal(&root, &good, b"another file\n");
    assert!(matches!(e, VerifyError::Statement(_)), "{e}");

    let stranger = TestSigstore::new().trusted_root_value();
    let e = refusal(&stranger, &good, DATA);
    assert!(
        matches!(e, VerifyError::Tlog(TlogError::UnknownLog(_))),
        "{e}"
    );
    // Only the log replaced: the certificate authority is still not the stranger's.
    let mut stranger_log = stranger.clone();
    stranger_log["tlogs"] = root["tlogs"].clone();
    let e = refusal(&stranger_log, &good, DATA);
    assert!(matches!(e, VerifyError::Certificate(_)), "{e}");

    let expired = s.intoto_bundle(&signed, &leaf, SIGNED_AT + 3 * 86_400);
    let e = refusal(&root, &expired, DATA);
    assert!(
        matches!(&e, VerifyError::CertificateNotValid { time, .. } if time.starts_with("2026-06-04")),
        "{e}"
    );

    // `intoto-missing-inclusion-proof_fail`: a v0.3 bundle's entry needs its inclusion proof.
    let mut unproven = good.clone();
    unproven["verificationMaterial"]["tlogEntries"][0]
        .as_object_mut()
        .unwrap()
        .remove("inclusionProof");
    let e = refusal(&root, &unproven, DATA);
    assert!(
        matches!(e, VerifyError::Tlog(TlogError::NoInclusionProof)),
        "{e}"
    );

    // `intoto-tsa-timestamp-outside-cert-validity_fail`: a timestamp of the envelope signature within the
    // certificate's validity verifies, one after it is refused (the entry's integrated time within it).
    let sig = B64
        .decode(
            good["dsseEnvelope"]["signatures"][0]["sig"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let stamped = |time: i64| {
        let mut b = good.clone();
        b["verificationMaterial"]["timestampVerificationData"] = s.timestamps(&sig, time);
        b
    };
    check(&root, &stamped(STAMPED_AT), DATA).unwrap();
    let e = refusal(&root, &stamped(SIGNED_AT + 3 * 86_400), DATA);
    assert!(
        matches!(&e, VerifyError::CertificateNotValid { time, .. } if time.starts_with("2026-06-04")),
        "{e}"
    );

    let other = s.intoto_bundle(
        &statement(DATA, json!({"buildType": "b"})),
        &leaf,
        SIGNED_AT,
    );
    let e = refusal(&root, &with_entries_of(&good, &other), DATA);
    assert!(entry_mismatch(&e, "payload"), "{e}");
    // The same entry naming another payload type.
    let mut retyped = logged.clone();
    retyped["spec"]["content"]["envelope"]["payloadType"] = json!("text/plain");
    let relogged = s.log_entry(&retyped, SIGNED_AT).bundle_entry();
    let mut bad = good.clone();
    bad["verificationMaterial"]["tlogEntries"] = json!([relogged]);
    let e = refusal(&root, &bad, DATA);
    assert!(entry_mismatch(&e, "payload type"), "{e}");
}

/// `dsse-mismatch-envelope_fail` in its Rekor v1 form: the envelope replaced by another one of the same signer
/// (another statement about the same artifact, validly signed), the `dsse` (and `intoto`) entry kept.
#[test]
fn a_rekor_v1_entry_of_another_envelope_is_refused() {
    let s = TestSigstore::new();
    let root = s.trusted_root_value();
    let leaf = leaf(&s);
    let first = statement(DATA, json!({"buildType": "a"}));
    let second = statement(DATA, json!({"buildType": "b"}));
    for make in [TestSigstore::dsse_bundle, TestSigstore::intoto_bundle] {
        let good = make(&s, &first, &leaf, SIGNED_AT);
        check(&root, &good, DATA).unwrap();
        let mut bad = good.clone();
        bad["dsseEnvelope"] = make(&s, &second, &leaf, SIGNED_AT)["dsseEnvelope"].clone();
        let e = refusal(&root, &bad, DATA);
        assert!(entry_mismatch(&e, "payload"), "{e}");
    }
}

/// `dsse-invalid-sig_fail` and `happy-path-intoto-in-dsse-v3` with Rekor v1 `dsse` entries: a v0.3 DSSE bundle
/// of an in-toto statement about the artifact verifies (another file is refused); its envelope signature replaced
/// by the one of another DSSE bundle of the same artifact is refused, whether the entry is kept (it records
/// another signature) or logged anew with the replaced signature (the signature does not verify).
#[test]
fn rekor_v1_dsse_bundles() {
    let s = TestSigstore::new();
    let root = s.trusted_root_value();
    let leaf = leaf(&s);
    let good = s.dsse_bundle(
        &statement(DATA, json!({"buildType": "a"})),
        &leaf,
        SIGNED_AT,
    );
    check(&root, &good, DATA).unwrap();
    let e = refusal(&root, &good, b"another file\n");
    assert!(matches!(e, VerifyError::Statement(_)), "{e}");

    let other = s.dsse_bundle(
        &statement(DATA, json!({"buildType": "b"})),
        &leaf,
        SIGNED_AT,
    );
    let mut bad = good.clone();
    bad["dsseEnvelope"]["signatures"] = other["dsseEnvelope"]["signatures"].clone();
    let e = refusal(&root, &bad, DATA);
    assert!(entry_mismatch(&e, "signature"), "{e}");

    let mut logged = body(&good);
    logged["spec"]["signatures"][0]["signature"] =
        other["dsseEnvelope"]["signatures"][0]["sig"].clone();
    bad["verificationMaterial"]["tlogEntries"] =
        json!([s.log_entry(&logged, SIGNED_AT).bundle_entry()]);
    let e = refusal(&root, &bad, DATA);
    assert!(matches!(e, VerifyError::BadSignature { .. }), "{e}");
}

/// `incorrect-public-key_fail` and `wrong-hashedrekord-cert-and-sig_fail`: a hashedrekord entry recording another
/// certificate than the bundle's (logged so, or the body edited, breaking its inclusion proof) is refused; so is
/// a bundle whose certificate and signature are another signer's (a valid pair over the same file) with the
/// original entry.
#[test]
fn entries_of_another_key_are_refused() {
    let s = TestSigstore::new();
    let root = s.trusted_root_value();
    let leaf = leaf(&s);
    let other_leaf = s.leaf(Subject::Email(EMAIL), ISSUER, &[]);
    let good = s.bundle(DATA, &leaf, SIGNED_AT, true);
    check(&root, &good, DATA).unwrap();

    let mut logged = body(&good);
    logged["spec"]["signature"]["publicKey"]["content"] =
        json!(B64.encode(pem(&other_leaf.cert_der)));
    let mut bad = good.clone();
    bad["verificationMaterial"]["tlogEntries"] =
        json!([s.log_entry(&logged, SIGNED_AT).bundle_entry()]);
    let e = refusal(&root, &bad, DATA);
    assert!(entry_mismatch(&e, "certificate or key"), "{e}");

    let mut edited = good.clone();
    edited["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"] =
        json!(B64.encode(serde_json_canonicalizer::to_vec(&logged).unwrap()));
    let e = refusal(&root, &edited, DATA);
    assert!(
        matches!(e, VerifyError::Tlog(TlogError::InclusionProof(_))),
        "{e}"
    );

    let swapped_in = s.bundle(DATA, &other_leaf, SIGNED_AT, true);
    let mut swapped = swapped_in.clone();
    swapped["verificationMaterial"]["tlogEntries"] =
        good["verificationMaterial"]["tlogEntries"].clone();
    check(&root, &swapped_in, DATA).unwrap();
    let e = refusal(&root, &swapped, DATA);
    assert!(entry_mismatch(&e, "signature"), "{e}");
}

/// `inclusion-proof-corrupted-hash_fail` on a Rekor v1 entry: a leaf of a three-leaf tree verifies; a bit of a
/// hash of its audit path flipped, it is refused.
#[test]
fn a_rekor_v1_audit_path_is_checked() {
    let s = TestSigstore::new();
    let root = s.trusted_root_value();
    let leaf = leaf(&s);
    let good = s.bundle(DATA, &leaf, SIGNED_AT, true);
    let tree = s.log_entry_in_tree(&body(&good), SIGNED_AT).bundle_entry();
    assert_eq!(
        tree["inclusionProof"]["hashes"].as_array().unwrap().len(),
        2
    );
    let mut in_tree = good.clone();
    in_tree["verificationMaterial"]["tlogEntries"] = json!([tree]);
    check(&root, &in_tree, DATA).unwrap();
    for i in 0..2 {
        let proof = &mut in_tree["verificationMaterial"]["tlogEntries"][0]["inclusionProof"];
        let mut hash = B64.decode(proof["hashes"][i].as_str().unwrap()).unwrap();
        hash[7] ^= 0x10;
        let mut bad = in_tree.clone();
        bad["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"][i] =
            json!(B64.encode(hash));
        let e = refusal(&root, &bad, DATA);
        assert!(
            matches!(e, VerifyError::Tlog(TlogError::InclusionProof(_))),
            "{e}"
        );
    }
}

/// `rekor2-timestamp-with-expired-cert-chain` and `rekor2-timestamp-outside-tsa-cert-validity_fail`: a
/// timestamp's certificate chain is checked at the timestamp's time, not now: a chain expired since (valid
/// 2026-01-01 .. 2026-07-01) verifies; a signing certificate not yet valid at the timestamp's time (valid from
/// 2026-06-02, the authority's validity in the trusted root covering it) is refused.
#[test]
fn timestamp_authority_certificate_validity() {
    let mut s = TestSigstore::new();
    let leaf = leaf(&s);
    let half_year = ((2026, 1, 1), (2026, 7, 1));
    s.tsa = TimestampAuthority::with_validity("test tsa", half_year, half_year);
    assert!(
        chrono::Utc::now().timestamp() > 1_782_864_000,
        "the chain has expired by now"
    );
    let root = s.trusted_root_value();
    let expired_chain = s.bundle_rekor2(DATA, &leaf, STAMPED_AT, BUNDLE_V03);
    check(&root, &expired_chain, DATA).unwrap();
    let e = refusal(&root, &expired_chain, b"another file\n");
    assert!(entry_mismatch(&e, "digest"), "{e}");

    s.tsa = TimestampAuthority::with_validity(
        "test tsa",
        ((2026, 6, 2), (2030, 1, 1)),
        ((2025, 1, 1), (2030, 1, 1)),
    );
    let root = s.trusted_root_value();
    let early = s.bundle_rekor2(DATA, &leaf, STAMPED_AT, BUNDLE_V03);
    let e = refusal(&root, &early, DATA);
    assert!(untrusted_timestamp(&e, "CertNotValidYet"), "{e}");
    // Stamped once the signing certificate is valid (but the signer's certificate no longer is).
    let late = s.bundle_rekor2(DATA, &leaf, SIGNED_AT + 86_400 + 60, BUNDLE_V03);
    let e = refusal(&root, &late, DATA);
    assert!(matches!(e, VerifyError::CertificateNotValid { .. }), "{e}");
}

/// `rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail`: a timestamp of an authority the trusted root does
/// not list, its certificate not embedded: of another name, no certificate is the signer's; of the same name and
/// serial number as the trusted authority's, its signature does not verify with that certificate.
#[test]
fn a_timestamp_of_an_untrusted_authority_without_its_certificate() {
    let s = TestSigstore::new();
    let root = s.trusted_root_value();
    let good = s.bundle_rekor2(DATA, &leaf(&s), STAMPED_AT, BUNDLE_V03);
    check(&root, &good, DATA).unwrap();
    let signature = B64
        .decode(good["messageSignature"]["signature"].as_str().unwrap())
        .unwrap();
    let with_timestamp = |tsa: &TimestampAuthority| {
        let mut b = good.clone();
        b["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]["signedTimestamp"] =
            json!(B64.encode(tsa.timestamp(&signature, STAMPED_AT, false)));
        b
    };
    // The trusted authority's own token without its certificate verifies.
    check(&root, &with_timestamp(&s.tsa), DATA).unwrap();
    let e = refusal(
        &root,
        &with_timestamp(&TimestampAuthority::new("other tsa")),
        DATA,
    );
    assert!(
        untrusted_timestamp(
            &e,
            "no certificate (embedded or the authority's) is the signer's"
        ),
        "{e}"
    );
    let e = refusal(
        &root,
        &with_timestamp(&TimestampAuthority::new("test tsa")),
        DATA,
    );
    assert!(untrusted_timestamp(&e, "the timestamp's signature"), "{e}");
}
