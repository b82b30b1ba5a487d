//! More sigstore-conformance `bundle-verify` situations rebuilt with the tests' private Sigstore
//! ([`thv_e2e::sigstore`]), as in `keyless_bundles.rs`: cases whose files are not in the stored index the
//! conformance data was taken from (`tests/fixtures/sigstore-conformance/README.md` lists them all). Each test
//! names its cases; where a case's README was not available, the situation is the one its name describes. Every
//! refusal's reason is checked, not only the verdict.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sigstore::bundle::verify::policy::Identity;
use thv_core::signature::keys::PublicKey;
use thv_core::signature::tlog::{CheckpointError, InclusionProofError, TlogError};
use thv_core::signature::trust::TrustedRoot;
use thv_core::signature::verify::entry::EntryError;
use thv_core::signature::verify::{Artifact, Signer, Verified, VerifyError, verify};
use thv_core::signature::{SignatureError, bundle_from_json};
use thv_e2e::sigstore::{BUNDLE_V03, Leaf, SIGNED_AT, Subject, TestSigstore};

const EMAIL: &str = "dev@example.com";
const ISSUER: &str = "https://issuer.example.com";
const DATA: &[u8] = b"a file signed by a current Sigstore client\n";
/// Within the leaf's validity (2026-06-01 .. 2026-06-02), an hour after it starts.
const STAMPED_AT: i64 = SIGNED_AT + 3600;

fn leaf(s: &TestSigstore) -> Leaf {
    s.leaf(Subject::Email(EMAIL), ISSUER, &[])
}

fn parse(bundle: &str) -> Result<sigstore::bundle::Bundle, VerifyError> {
    match bundle_from_json(bundle) {
        Ok(b) => Ok(b),
        Err(SignatureError::Verify(e)) => Err(e),
        Err(e) => Err(VerifyError::Bundle(e.to_string())),
    }
}

/// Verifies `bundle` (JSON text) over `data` against `root` for the keyless signer `EMAIL`/`ISSUER`.
fn check_text(root: &Value, bundle: &str, data: &[u8]) -> Result<Verified, VerifyError> {
    let trust = TrustedRoot::from_json(root.to_string().as_bytes()).unwrap();
    let bundle = parse(bundle)?;
    let identity = Identity::new(EMAIL, ISSUER);
    verify(
        &bundle,
        &Artifact::Bytes(data),
        Some(&trust),
        Signer::Certificate(&identity),
        None,
    )
}

fn check(root: &Value, bundle: &Value, data: &[u8]) -> Result<Verified, VerifyError> {
    check_text(root, &bundle.to_string(), data)
}

fn refusal(root: &Value, bundle: &Value, data: &[u8]) -> VerifyError {
    let e = check(root, bundle, data).expect_err("must be refused");
    eprintln!("refused: {e}");
    e
}

fn checkpoint_error(e: &VerifyError) -> Option<&CheckpointError> {
    match e {
        VerifyError::Tlog(TlogError::Checkpoint(c)) => Some(c),
        _ => None,
    }
}

/// The bundle's first log entry's checkpoint, split into its note (up to the blank line) and signature lines.
fn checkpoint(bundle: &Value) -> (String, Vec<String>) {
    let envelope = bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]
        ["envelope"]
        .as_str()
        .unwrap();
    let (note, sigs) = envelope.split_once("\n\n").unwrap();
    (
        format!("{note}\n"),
        sigs.lines().map(str::to_owned).collect(),
    )
}

fn with_checkpoint(bundle: &Value, note: &str, lines: &[String]) -> Value {
    let mut b = bundle.clone();
    let envelope = format!("{note}\n{}\n", lines.join("\n"));
    b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]["envelope"] =
        json!(envelope);
    b
}

/// A witness's cosignature line: another signer's name, an Ed25519-sized signature under its own key hint.
fn cosignature(name: &str, seed: u8) -> String {
    let mut raw = vec![seed; 4];
    raw.extend([seed ^ 0x5a; 64]);
    format!("\u{2014} {name} {}", B64.encode(raw))
}

/// `rekor2-checkpoint-cosigned`, `rekor2-checkpoint-multiple-cosigs`, `rekor2-checkpoint-origin-not-first`,
/// `rekor2-checkpoint-two-sigs-cosigned`, `rekor2-checkpoint-two-sigs-from-origin` (no READMEs; the situations
/// their names describe): a Rekor v2 checkpoint with witness cosignatures besides the log's signature, before or
/// after it, or a second signature under the log's name by another key — the bundle verifies.
#[test]
fn checkpoints_with_cosignatures_verify() {
    let s = TestSigstore::new();
    let root = s.trusted_root_value();
    let good = s.bundle_rekor2(DATA, &leaf(&s), STAMPED_AT, BUNDLE_V03);
    let (note, sigs) = checkpoint(&good);
    assert_eq!(sigs.len(), 1);
    let log = sigs[0].clone();
    // Another key signing under the log's name: its own hint, a signature that is not the log key's.
    let other_origin_key = cosignature("rekor2.test", 0x11);
    let cases = [
        (
            "cosigned",
            vec![log.clone(), cosignature("witness.test", 1)],
        ),
        (
            "multiple-cosigs",
            vec![
                log.clone(),
                cosignature("witness-a.test", 1),
                cosignature("witness-b.test", 2),
                cosignature("witness-c.test", 3),
            ],
        ),
        (
            "origin-not-first",
            vec![
                cosignature("witness-a.test", 1),
                cosignature("witness-b.test", 2),
                log.clone(),
            ],
        ),
        (
            "two-sigs-from-origin",
            vec![other_origin_key.clone(), log.clone()],
        ),
        (
            "two-sigs-cosigned",
            vec![
                log.clone(),
                other_origin_key.clone(),
                cosignature("witness.test", 1),
            ],
        ),
    ];
    for (name, lines) in cases {
        let bundle = with_checkpoint(&good, &note, &lines);
        if let Err(e) = check(&root, &bundle, DATA) {
            panic!("rekor2-checkpoint-{name}: refused: {e}");
        }
    }
}

/// `rekor2-checkpoint-missing-origin_fail`, `-missing-size_fail`, `-missing-root-hash_fail`,
/// `-missing-log-signature_fail`, `-no-matching-signature_fail`: a Rekor v2 checkpoint without one of its
/// note's lines, without the log's signature (only a witness's), or with the log's signature line under another
/// name (its hint and signature bytes kept) — refused, each for that reason.
#[test]
fn malformed_checkpoints_are_refused() {
    let s = TestSigstore::new();
    let root = s.trusted_root_value();
    let good = s.bundle_rekor2(DATA, &leaf(&s), STAMPED_AT, BUNDLE_V03);
    let (note, sigs) = checkpoint(&good);
    let note_lines: Vec<&str> = note.lines().collect();
    assert_eq!(note_lines.len(), 3);
    let without = |i: usize| {
        let mut l = note_lines.clone();
        l.remove(i);
        format!("{}\n", l.join("\n"))
    };

    let e = refusal(&root, &with_checkpoint(&good, &without(0), &sigs), DATA);
    assert!(
        matches!(checkpoint_error(&e), Some(CheckpointError::NoTreeSize)),
        "{e}"
    );
    let e = refusal(&root, &with_checkpoint(&good, &without(1), &sigs), DATA);
    assert!(
        matches!(checkpoint_error(&e), Some(CheckpointError::NoTreeSize)),
        "{e}"
    );
    let e = refusal(&root, &with_checkpoint(&good, &without(2), &sigs), DATA);
    assert!(
        matches!(checkpoint_error(&e), Some(CheckpointError::NoRootHash)),
        "{e}"
    );

    let witness_only = [cosignature("witness.test", 1)];
    let e = refusal(&root, &with_checkpoint(&good, &note, &witness_only), DATA);
    assert!(
        matches!(
            checkpoint_error(&e),
            Some(CheckpointError::NoLogSignature { .. })
        ),
        "{e}"
    );

    // The log's line under another name: the same hint and signature, but the hint is not that name's.
    let (_, hint_and_sig) = sigs[0].rsplit_once(' ').unwrap();
    let renamed = [format!("\u{2014} rekor2.example {hint_and_sig}")];
    let e = refusal(&root, &with_checkpoint(&good, &note, &renamed), DATA);
    assert!(
        matches!(
            checkpoint_error(&e),
            Some(CheckpointError::NoLogSignature { .. })
        ),
        "{e}"
    );
}

/// `invalid-inclusion-proof_fail`, `inclusion-proof-corrupted-hash_fail` (a hash of the audit path changed),
/// `checkpoint-wrong-roothash_fail` (a checkpoint, validly signed by the log, of another tree),
/// `invalid-checkpoint-signature_fail`, `checkpoint-bad-keyhint_fail` (a Rekor v1 checkpoint whose signature,
/// or key hint, is not the log's), `set-invalid-signature_fail` (the signed entry timestamp changed),
/// `rekor2-no-inclusion-proof_fail` / `intoto-missing-inclusion-proof_fail` (a v0.3 bundle's entry without an
/// inclusion proof).
#[test]
fn log_proofs_are_checked() {
    let s = TestSigstore::new();
    let root = s.trusted_root_value();
    let leaf = leaf(&s);
    let v2 = s.bundle_rekor2(DATA, &leaf, STAMPED_AT, BUNDLE_V03);
    let v1 = s.bundle(DATA, &leaf, SIGNED_AT, true);
    check(&root, &v1, DATA).unwrap();

    // A hash of the audit path, one bit flipped.
    let mut corrupted = v2.clone();
    let proof = &mut corrupted["verificationMaterial"]["tlogEntries"][0]["inclusionProof"];
    let mut h = B64.decode(proof["hashes"][0].as_str().unwrap()).unwrap();
    h[0] ^= 1;
    proof["hashes"][0] = json!(B64.encode(h));
    let e = refusal(&root, &corrupted, DATA);
    assert!(
        matches!(
            &e,
            VerifyError::Tlog(TlogError::InclusionProof(
                InclusionProofError::RootMismatch { .. }
            ))
        ),
        "{e}"
    );

    // The checkpoint of another tree of the same log (validly signed).
    let other = s.bundle(b"another file", &leaf, SIGNED_AT, true);
    let mut wrong_root = v1.clone();
    wrong_root["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"] =
        other["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"].clone();
    let e = refusal(&root, &wrong_root, DATA);
    assert!(
        matches!(checkpoint_error(&e), Some(CheckpointError::RootHash)),
        "{e}"
    );

    // The Rekor v1 checkpoint's signature changed, then its key hint.
    let (note, sigs) = checkpoint(&v1);
    let (name, sig) = sigs[0].rsplit_once(' ').unwrap();
    let raw = B64.decode(sig).unwrap();
    let mut bad_sig = raw.clone();
    let n = bad_sig.len();
    bad_sig[n - 3] ^= 1;
    let e = refusal(
        &root,
        &with_checkpoint(&v1, &note, &[format!("{name} {}", B64.encode(&bad_sig))]),
        DATA,
    );
    assert!(
        matches!(
            checkpoint_error(&e),
            Some(CheckpointError::SignatureMismatch { .. })
        ),
        "{e}"
    );
    let mut bad_hint = raw.clone();
    bad_hint[0] ^= 0xff;
    let e = refusal(
        &root,
        &with_checkpoint(&v1, &note, &[format!("{name} {}", B64.encode(&bad_hint))]),
        DATA,
    );
    assert!(
        matches!(
            checkpoint_error(&e),
            Some(CheckpointError::NoLogSignature { .. })
        ),
        "{e}"
    );

    // The signed entry timestamp changed.
    let mut bad_set = v1.clone();
    let set = &mut bad_set["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"]["signedEntryTimestamp"];
    let mut raw = B64.decode(set.as_str().unwrap()).unwrap();
    let n = raw.len();
    raw[n - 3] ^= 1;
    *set = json!(B64.encode(raw));
    let e = refusal(&root, &bad_set, DATA);
    assert!(
        matches!(e, VerifyError::Tlog(TlogError::SignedEntryTimestamp)),
        "{e}"
    );

    // No inclusion proof, in a v0.3 bundle: refused for a Rekor v2 entry and a Rekor v1 one (whose signed entry
    // timestamp does not stand in for it).
    for b in [&v2, &v1] {
        let mut no_proof = b.clone();
        no_proof["verificationMaterial"]["tlogEntries"][0]
            .as_object_mut()
            .unwrap()
            .remove("inclusionProof");
        let e = refusal(&root, &no_proof, DATA);
        assert!(
            matches!(e, VerifyError::Tlog(TlogError::NoInclusionProof)),
            "{e}"
        );
    }
}

/// `integrated-time-in-future_fail` (a Rekor v1 entry whose integrated time is after the signing certificate
/// expired) and `happy-path-v0.1` / `happy-path-v0.2` (the same Rekor v1 entry in the older media types: v0.1
/// needs only the signed entry timestamp, v0.2 the inclusion proof).
#[test]
fn rekor_v1_times_and_older_media_types() {
    let s = TestSigstore::new();
    let root = s.trusted_root_value();
    let leaf = leaf(&s);
    // The leaf expires 2026-06-02; logged two days after it was issued.
    let late = s.bundle(DATA, &leaf, SIGNED_AT + 2 * 86_400, true);
    let e = refusal(&root, &late, DATA);
    assert!(matches!(e, VerifyError::CertificateNotValid { .. }), "{e}");

    let v1 = s.bundle(DATA, &leaf, SIGNED_AT, true);
    let chain = json!({"certificates": [v1["verificationMaterial"]["certificate"].clone()]});
    for (media_type, drop_proof) in [
        ("application/vnd.dev.sigstore.bundle+json;version=0.1", true),
        (
            "application/vnd.dev.sigstore.bundle+json;version=0.2",
            false,
        ),
    ] {
        let mut old = v1.clone();
        old["mediaType"] = json!(media_type);
        let material = old["verificationMaterial"].as_object_mut().unwrap();
        material.remove("certificate");
        material.insert("x509CertificateChain".into(), chain.clone());
        if drop_proof {
            old["verificationMaterial"]["tlogEntries"][0]
                .as_object_mut()
                .unwrap()
                .remove("inclusionProof");
        }
        if let Err(e) = check(&root, &old, DATA) {
            panic!("{media_type}: refused: {e}");
        }
    }
}

/// `invalid-ct-key_fail` (no README): the trusted root's CT log, under the same log id, has another key, so the
/// certificate's SCT does not verify.
#[test]
fn an_sct_of_another_ct_key_is_refused() {
    let s = TestSigstore::new();
    let mut root = s.trusted_root_value();
    let bundle = s.bundle_rekor2(DATA, &leaf(&s), STAMPED_AT, BUNDLE_V03);
    check(&root, &bundle, DATA).unwrap();
    let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    root["ctlogs"][0]["publicKey"]["rawBytes"] =
        json!(B64.encode(rcgen::PublicKeyData::subject_public_key_info(&other)));
    let e = refusal(&root, &bundle, DATA);
    assert!(matches!(e, VerifyError::Sct(_)), "{e}");
}

/// `signature-mismatch_fail`, `wrong-hashedrekord-cert-and-sig_fail` (the bundle's signature replaced by
/// another of the same signer, over other data, so neither it nor the log entry fits) and
/// `wrong-hashedrekord-entry_fail` (the log entry of another artifact by the same signer swapped in, with its valid
/// signed entry timestamp and proof).
#[test]
fn signatures_and_entries_of_other_data_are_refused() {
    let s = TestSigstore::new();
    let root = s.trusted_root_value();
    let leaf = leaf(&s);
    let v1 = s.bundle(DATA, &leaf, SIGNED_AT, true);
    let other = s.bundle(b"another file", &leaf, SIGNED_AT, true);

    let mut sig = v1.clone();
    sig["messageSignature"]["signature"] = other["messageSignature"]["signature"].clone();
    let e = refusal(&root, &sig, DATA);
    assert!(
        matches!(
            &e,
            VerifyError::BadSignature { .. }
                | VerifyError::EntryMismatch {
                    reason: EntryError::Mismatch("signature"),
                    ..
                }
        ),
        "{e}"
    );

    let mut entry = v1.clone();
    entry["verificationMaterial"]["tlogEntries"] =
        other["verificationMaterial"]["tlogEntries"].clone();
    let e = refusal(&root, &entry, DATA);
    assert!(
        matches!(
            &e,
            VerifyError::EntryMismatch {
                reason: EntryError::Mismatch("signature" | "digest"),
                ..
            }
        ),
        "{e}"
    );
}

/// `managed-key-no-key_fail`: a key-signed bundle verified as keyless (an identity, no key) is refused.
#[test]
fn a_key_signed_bundle_without_the_key_is_refused() {
    let s = TestSigstore::new();
    let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let bundle = s.key_bundle(DATA, &key_pair);
    let e = refusal(&s.trusted_root_value(), &bundle, DATA);
    assert!(matches!(e, VerifyError::KeySigned { .. }), "{e}");
    // With the key it verifies.
    let key = PublicKey::from_pem(key_pair.public_key_pem().as_bytes()).unwrap();
    let trust = TrustedRoot::from_json(&s.trusted_root()).unwrap();
    let b = bundle_from_json(&bundle.to_string()).unwrap();
    let signer = Signer::Key {
        key: &key,
        name: "key.pub",
    };
    verify(&b, &Artifact::Bytes(DATA), Some(&trust), signer, None).unwrap();
}

/// Malformed bundles: `bundle-malformed-json_fail`, `bundle-unknown-version_fail` (media type version 99.9),
/// `bundle-negative-log-index_fail`, `bundle-invalid-base64-signature_fail`, `bundle-empty-certificate-chain_fail`
/// and `bundle-with-root-cert_fail` (a v0.2 bundle whose chain carries the root CA after the leaf).
#[test]
fn malformed_bundles_are_refused() {
    let s = TestSigstore::new();
    let root = s.trusted_root_value();
    let leaf = leaf(&s);
    let v1 = s.bundle(DATA, &leaf, SIGNED_AT, true);
    let text = v1.to_string();

    let e = check_text(&root, &text[..text.len() - 7], DATA).unwrap_err();
    eprintln!("malformed JSON: {e}");
    assert!(
        matches!(&e, VerifyError::Bundle(m) if m.contains("EOF")),
        "{e}"
    );

    let mut unknown = v1.clone();
    unknown["mediaType"] = json!("application/vnd.dev.sigstore.bundle+json;version=99.9");
    let e = refusal(&root, &unknown, DATA);
    assert!(
        matches!(&e, VerifyError::Bundle(m) if m.contains("99.9")),
        "{e}"
    );

    let mut negative = v1.clone();
    negative["verificationMaterial"]["tlogEntries"][0]["logIndex"] = json!("-1");
    negative["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["logIndex"] = json!("-1");
    let e = refusal(&root, &negative, DATA);
    assert!(
        matches!(
            &e,
            VerifyError::Tlog(TlogError::InclusionProof(InclusionProofError::Negative))
        ),
        "{e}"
    );

    let mut base64 = v1.clone();
    base64["messageSignature"]["signature"] = json!("not base64!");
    let e = refusal(&root, &base64, DATA);
    assert!(
        matches!(&e, VerifyError::Bundle(m) if m.contains("base64")),
        "{e}"
    );

    let v02 = |certificates: Value| {
        let mut b = v1.clone();
        b["mediaType"] = json!("application/vnd.dev.sigstore.bundle+json;version=0.2");
        let material = b["verificationMaterial"].as_object_mut().unwrap();
        material.remove("certificate");
        material.insert(
            "x509CertificateChain".into(),
            json!({ "certificates": certificates }),
        );
        b
    };
    let e = refusal(&root, &v02(json!([])), DATA);
    assert!(
        matches!(&e, VerifyError::Bundle(m) if m.contains("empty certificate chain")),
        "{e}"
    );

    let ca = root["certificateAuthorities"][0]["certChain"]["certificates"][0].clone();
    let with_root = v02(json!([v1["verificationMaterial"]["certificate"], ca]));
    let e = refusal(&root, &with_root, DATA);
    assert!(
        matches!(&e, VerifyError::Bundle(m) if m.contains("holds a root")),
        "{e}"
    );
    // The leaf alone (the root from the trusted root) verifies.
    check(
        &root,
        &v02(json!([v1["verificationMaterial"]["certificate"]])),
        DATA,
    )
    .unwrap();
}
