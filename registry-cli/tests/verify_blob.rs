//! `thv-registry verify-blob`: the built binary run on the vendored sigstore-conformance `bundle-verify` cases
//! (`tests/fixtures/sigstore-conformance/`, as the conformance suite runs a client: `--bundle`, `--key` or
//! `--trusted-root` with the beacon workflow's identity and GitHub's issuer), on a keyless bundle of the tests'
//! private Sigstore (exact and regular-expression identities), on a bundle `thv-registry sign` made, and on bad
//! input (each a clear error naming the file, never a panic).

mod common;

use std::path::{Path, PathBuf};

use common::{Run, cli, thv_registry, write_json};
use sha2::{Digest, Sha256};
use thv_e2e::sigstore::{SIGNED_AT, Subject, TestSigstore};

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn cases() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/sigstore-conformance/bundle-verify")
        .canonicalize()
        .unwrap()
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

/// The arguments the conformance suite gives a client for one case.
fn case_args(name: &str) -> Vec<String> {
    let dir = cases().join(name);
    let artifact = match dir.join("artifact") {
        p if p.exists() => p,
        _ => cases().join("a.txt"),
    };
    let mut args = vec![
        "verify-blob".into(),
        s(&artifact),
        "--bundle".into(),
        s(&dir.join("bundle.sigstore.json")),
    ];
    let root = match dir.join("trusted_root.json") {
        p if p.exists() => Some(p),
        _ if name.starts_with("rekor2-") => Some(cases().join("trusted_root.staging.json")),
        _ => None,
    };
    if let Some(root) = root {
        args.extend(["--trusted-root".into(), s(&root)]);
    }
    match dir.join("key.pub") {
        p if p.exists() => args.extend(["--key".into(), s(&p)]),
        _ => args.extend([
            "--certificate-identity".into(),
            IDENTITY.into(),
            "--certificate-oidc-issuer".into(),
            ISSUER.into(),
        ]),
    }
    args
}

fn run(dir: &Path, args: &[String]) -> Run {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    cli(dir, &args)
}

fn assert_refused(r: &Run, reason: &str) {
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains(reason), "expected {reason:?}: {r:?}");
    assert!(!r.stderr.contains("panicked"), "{r:?}");
    assert!(!r.stdout.contains("Verified OK"), "{r:?}");
}

/// Every vendored case, both verdicts, each refusal for its reason.
#[test]
fn conformance_cases_through_the_command_line() {
    let refusals = [
        (
            "cve-2022-36056-swapped-tlog-entry_fail",
            "records another signature",
        ),
        ("dsse-statement-missing-type_fail", "has no _type"),
        (
            "dsse-statement-unknown-type_fail",
            "unknown in-toto statement type",
        ),
        (
            "dsse-with-hashedrekord-invalid-sig_fail",
            "records another signature",
        ),
        (
            "dsse-with-hashedrekord-mismatch-envelope_fail",
            "records another digest",
        ),
        (
            "dsse-with-hashedrekord-mismatch-sig_fail",
            "records another signature",
        ),
        ("rekor2-dsse-invalid-sig_fail", "records another signature"),
        (
            "rekor2-dsse-mismatch-envelope_fail",
            "records another payload",
        ),
        ("rekor2-dsse-mismatch-sig_fail", "records another signature"),
        (
            "rekor2-multiple-timestamps-one-outside-cert-validity_fail",
            "the signing certificate was not valid at",
        ),
    ];
    let mut names: Vec<String> = std::fs::read_dir(cases())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 14, "{names:?}");
    let tmp = tempfile::tempdir().unwrap();
    for name in &names {
        let r = run(tmp.path(), &case_args(name));
        eprintln!("{name}: exit {} {}{}", r.code, r.stdout, r.stderr);
        if name.ends_with("_fail") {
            let reason = refusals
                .iter()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("no expected reason for {name}"))
                .1;
            assert_refused(&r, reason);
            assert!(r.stderr.contains("verification failed"), "{name}: {r:?}");
        } else {
            assert_eq!(r.code, 0, "{name}: {r:?}");
            assert_eq!(r.stdout.trim(), "Verified OK", "{name}: {r:?}");
        }
    }
}

/// `managed-key-and-client-identity_fail`: a key and a keyless identity together are refused as such.
#[test]
fn a_key_with_an_identity_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut args = case_args("intoto-canonical-log-entry");
    args.extend([
        "--certificate-identity".into(),
        IDENTITY.into(),
        "--certificate-oidc-issuer".into(),
        ISSUER.into(),
    ]);
    let r = run(tmp.path(), &args);
    assert_refused(&r, "exclude each other");
    // Neither a key nor an identity: refused, saying what is missing.
    // verify-blob FILE --bundle B --trusted-root R
    let r = run(tmp.path(), &case_args("rekor2-happy-path")[..6]);
    assert_refused(&r, "who must have signed?");
    // An identity without an issuer.
    let mut args = case_args("rekor2-happy-path");
    args.truncate(8);
    let r = run(tmp.path(), &args);
    assert_refused(&r, "needs --certificate-oidc-issuer");
}

/// The artifact's digest instead of the artifact, and regular expressions for the identity and issuer.
#[test]
fn digest_input_and_regular_expressions() {
    let tmp = tempfile::tempdir().unwrap();
    let digest = hex::encode(Sha256::digest(
        std::fs::read(cases().join("a.txt")).unwrap(),
    ));
    let mut args = case_args("rekor2-happy-path");
    args[1] = format!("sha256:{digest}");
    let r = run(tmp.path(), &args);
    assert_eq!((r.code, r.stdout.trim()), (0, "Verified OK"), "{r:?}");

    let base = &case_args("rekor2-happy-path")[..6];
    let with = |identity_re: &str, issuer_re: &str| {
        let mut a = base.to_vec();
        a.extend([
            "--certificate-identity-regexp".into(),
            identity_re.into(),
            "--certificate-oidc-issuer-regexp".into(),
            issuer_re.into(),
        ]);
        run(tmp.path(), &a)
    };
    let r = with(
        "^https://github\\.com/sigstore-conformance/",
        "^https://token\\.actions\\.githubusercontent\\.com$",
    );
    assert_eq!((r.code, r.stdout.trim()), (0, "Verified OK"), "{r:?}");
    let r = with("^https://github\\.com/someone-else/", ".");
    assert_refused(&r, "identity (SAN) does not match");
    let r = with(".", "^https://accounts\\.google\\.com$");
    assert_refused(&r, "OIDC issuer does not match");
    let r = with("(", ".");
    assert_refused(&r, "invalid regular expression");
}

/// Missing or unreadable files are errors naming the file, never a panic.
#[test]
fn bad_input_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("junk.json"), "not json").unwrap();
    std::fs::write(tmp.path().join("other.json"), "{\"mediaType\": 3}").unwrap();
    let key = s(&cases().join("intoto-canonical-log-entry/key.pub"));
    let a_txt = s(&cases().join("a.txt"));
    let bundle = s(&cases().join("intoto-canonical-log-entry/bundle.sigstore.json"));
    let checks: [(&[&str], &str); 6] = [
        (
            &[
                "verify-blob",
                "missing.txt",
                "--bundle",
                &bundle,
                "--key",
                &key,
            ],
            "cannot read missing.txt",
        ),
        (
            &[
                "verify-blob",
                &a_txt,
                "--bundle",
                "missing.json",
                "--key",
                &key,
            ],
            "cannot read the bundle missing.json",
        ),
        (
            &[
                "verify-blob",
                &a_txt,
                "--bundle",
                "junk.json",
                "--key",
                &key,
            ],
            "junk.json: not JSON",
        ),
        (
            &[
                "verify-blob",
                &a_txt,
                "--bundle",
                "other.json",
                "--key",
                &key,
            ],
            "other.json: invalid signature bundle",
        ),
        (
            &[
                "verify-blob",
                &a_txt,
                "--bundle",
                &bundle,
                "--key",
                "junk.json",
            ],
            "junk.json: not a public key",
        ),
        (
            &[
                "verify-blob",
                &a_txt,
                "--bundle",
                &bundle,
                "--key",
                &key,
                "--trusted-root",
                "junk.json",
            ],
            "junk.json",
        ),
    ];
    for (args, reason) in checks {
        let r = cli(tmp.path(), args);
        assert_refused(&r, reason);
    }
}

/// A keyless bundle of the tests' private Sigstore, and a key-signed bundle of `thv-registry sign` over an
/// entry's canonical form.
#[test]
fn private_sigstore_and_own_bundles() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let sigstore = TestSigstore::new();
    let leaf = sigstore.leaf(
        Subject::Email("dev@example.com"),
        "https://issuer.test",
        &[],
    );
    let data = b"any file at all\n";
    std::fs::write(dir.join("file.txt"), data).unwrap();
    std::fs::write(dir.join("trusted_root.json"), sigstore.trusted_root()).unwrap();
    write_json(
        dir,
        "file.txt.sigstore.json",
        &sigstore.bundle(data, &leaf, SIGNED_AT, true),
    );
    let keyless = |identity: &str| {
        cli(
            dir,
            &[
                "verify-blob",
                "file.txt",
                "--bundle",
                "file.txt.sigstore.json",
                "--trusted-root",
                "trusted_root.json",
                "--certificate-identity",
                identity,
                "--certificate-oidc-issuer",
                "https://issuer.test",
            ],
        )
    };
    let r = keyless("dev@example.com");
    assert_eq!((r.code, r.stdout.trim()), (0, "Verified OK"), "{r:?}");
    assert_refused(
        &keyless("mallory@example.com"),
        "identity (SAN) does not match",
    );
    // Against the public-good root (no --trusted-root): the private CA is not trusted.
    let r = cli(
        dir,
        &[
            "verify-blob",
            "file.txt",
            "--bundle",
            "file.txt.sigstore.json",
            "--certificate-identity",
            "dev@example.com",
            "--certificate-oidc-issuer",
            "https://issuer.test",
        ],
    );
    assert_refused(&r, "verification failed");
    std::fs::write(dir.join("file.txt"), b"changed\n").unwrap();
    assert_refused(&keyless("dev@example.com"), "verification failed");

    // thv-registry keygen + sign: verify-blob checks the canonical form with the key.
    let entry = serde_json::json!({"name": "io.github.example/blob", "description": "d", "version": "1.0.0"});
    write_json(dir, "server.json", &entry);
    let ok = |args: &[&str]| {
        let out = thv_registry()
            .args(args)
            .current_dir(dir)
            .env("COSIGN_PASSWORD", "pw")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    ok(&["keygen"]);
    ok(&["sign", "server.json", "--key", "cosign.key"]);
    std::fs::write(
        dir.join("canonical.json"),
        ok(&["canonicalize", "server.json"]),
    )
    .unwrap();
    let by_key = |file: &str| {
        cli(
            dir,
            &[
                "verify-blob",
                file,
                "--bundle",
                "server.json.bundle.json",
                "--key",
                "cosign.pub",
            ],
        )
    };
    let r = by_key("canonical.json");
    assert_eq!((r.code, r.stdout.trim()), (0, "Verified OK"), "{r:?}");
    assert_refused(&by_key("server.json"), "verification failed");
    // A keyless bundle with a key: refused as such.
    let r = cli(
        dir,
        &[
            "verify-blob",
            "file.txt",
            "--bundle",
            "file.txt.sigstore.json",
            "--trusted-root",
            "trusted_root.json",
            "--key",
            "cosign.pub",
        ],
    );
    assert_refused(&r, "keyless (a certificate), not signed with a key");
}
