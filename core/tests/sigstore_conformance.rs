//! The sigstore-conformance `bundle-verify` cases that could be obtained (`tests/fixtures/sigstore-conformance/`,
//! see its README for their origin and what is missing), each run through the one bundle verifier as the
//! conformance suite runs a client (`test/test_bundle.py::test_verify`): the bundle `bundle.sigstore.json`; the
//! artifact `artifact`, else `../a.txt`; the trusted root `trusted_root.json`, else the production one (the
//! bundled public-good root) — for the `rekor2-*` cases, whose trusted root (the staging one) was not obtainable,
//! the conformance repository's staging root `../trusted_root.staging.json`; with `key.pub`, the key, else the
//! identity of the conformance beacon workflow and GitHub's issuer. A case whose name ends in `_fail` must be
//! refused — and for the reason the case is about, checked here per case — any other must verify.
//!
//! Every case's outcome is printed (`cargo test -p thv-core --test sigstore_conformance -- --nocapture`).

use std::path::{Path, PathBuf};

use sigstore::bundle::verify::policy::Identity;
use thv_core::signature::keyless::PUBLIC_GOOD_TRUSTED_ROOT;
use thv_core::signature::keys::PublicKey;
use thv_core::signature::trust::TrustedRoot;
use thv_core::signature::verify::entry::EntryError;
use thv_core::signature::verify::{Artifact, Signer, VerifyError, verify};
use thv_core::signature::{SignatureError, bundle_from_json};

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/sigstore-conformance/bundle-verify")
}

/// The reason each `_fail` case must be refused for.
fn expected_refusal(case: &str, e: &VerifyError) -> bool {
    let entry = |what: &str| matches!(e, VerifyError::EntryMismatch { reason: EntryError::Mismatch(w), .. } if *w == what);
    match case {
        // A log entry of another signature, swapped in.
        "cve-2022-36056-swapped-tlog-entry_fail" => entry("signature"),
        "dsse-statement-missing-type_fail" => {
            matches!(e, VerifyError::Statement(m) if m.contains("has no _type"))
        }
        "dsse-statement-unknown-type_fail" => {
            matches!(e, VerifyError::Statement(m) if m.contains("unknown in-toto statement type"))
        }
        // Another envelope signature than the one logged.
        "dsse-with-hashedrekord-invalid-sig_fail"
        | "dsse-with-hashedrekord-mismatch-sig_fail"
        | "rekor2-dsse-invalid-sig_fail"
        | "rekor2-dsse-mismatch-sig_fail" => entry("signature"),
        // Another envelope than the one logged: hashedrekord records the PAE's digest, dsse the payload's.
        "dsse-with-hashedrekord-mismatch-envelope_fail" => entry("digest"),
        "rekor2-dsse-mismatch-envelope_fail" => entry("payload"),
        "rekor2-multiple-timestamps-one-outside-cert-validity_fail" => {
            matches!(e, VerifyError::CertificateNotValid { .. })
        }
        _ => false,
    }
}

/// Runs one case; `Ok(description)` when the outcome is the expected one.
fn run(dir: &Path) -> Result<String, String> {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let should_fail = name.ends_with("_fail");
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let artifact_path = match dir.join("artifact") {
        p if p.exists() => p,
        _ => dir.join("../a.txt"),
    };
    let artifact = read(&artifact_path)?;
    let root_json = match dir.join("trusted_root.json") {
        p if p.exists() => read(&p)?,
        _ if name.starts_with("rekor2-") => read(&dir.join("../trusted_root.staging.json"))?,
        _ => PUBLIC_GOOD_TRUSTED_ROOT.as_bytes().to_vec(),
    };
    let trust = TrustedRoot::from_json(&root_json).map_err(|e| format!("trusted root: {e}"))?;
    let bundle_text = String::from_utf8(read(&dir.join("bundle.sigstore.json"))?).unwrap();
    let outcome = match bundle_from_json(&bundle_text) {
        Err(SignatureError::Verify(e)) => Err(e),
        Err(e) => Err(VerifyError::Bundle(e.to_string())),
        Ok(bundle) => {
            let key = match dir.join("key.pub") {
                p if p.exists() => {
                    Some(PublicKey::from_pem(&read(&p)?).map_err(|e| e.to_string())?)
                }
                _ => None,
            };
            let identity = Identity::new(IDENTITY, ISSUER);
            let signer = match &key {
                Some(key) => Signer::Key {
                    key,
                    name: "key.pub",
                },
                None => Signer::Certificate(&identity),
            };
            verify(
                &bundle,
                &Artifact::Bytes(&artifact),
                Some(&trust),
                signer,
                None,
            )
            .map(|_| ())
        }
    };
    match (outcome, should_fail) {
        (Ok(()), false) => Ok("verified".into()),
        (Ok(()), true) => Err("verified, but must be refused".into()),
        (Err(e), false) => Err(format!("refused, but must verify: {e}")),
        (Err(e), true) if expected_refusal(&name, &e) => Ok(format!("refused: {e}")),
        (Err(e), true) => Err(format!("refused for another reason than the case's: {e}")),
    }
}

#[test]
fn conformance_bundle_verify_cases() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 14, "{} cases", dirs.len());
    let mut wrong = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        match run(dir) {
            Ok(what) => println!("ok    {name}: {what}"),
            Err(why) => {
                println!("WRONG {name}: {why}");
                wrong.push(format!("{name}: {why}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases:\n{}",
        wrong.len(),
        dirs.len(),
        wrong.join("\n")
    );
}
