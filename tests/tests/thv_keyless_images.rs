//! Keyless image verification end to end: images in a real OCI registry (Debian's docker-registry on 127.0.0.1,
//! `scripts/start-oci-registry.sh`) named by registry entries carrying a `provenance`, signed keyless by the
//! tests' private Sigstore ([`thv_e2e::sigstore`]) as cosign stores it, and `thv run` verifying them against that
//! Sigstore's `trusted_root.json`: a signature matching the provenance runs, and so does an SLSA attestation
//! attached as an OCI referrer; another workflow's signature, another predicate, an unsigned image, a tag moved
//! to another manifest after signing, an entry without provenance, and (without a configured trusted root) the
//! bundled public-good root or another Sigstore instance are refused. And a private registry (basic auth): read
//! and pulled with the credentials `podman login` keeps, refused without.

use thv_e2e::oci::{Repository, auth_registry, push_test_image, registry};
use thv_e2e::sigstore::{
    Leaf, OID_RUNNER_ENVIRONMENT, OID_SOURCE_REPOSITORY_REF, OID_SOURCE_REPOSITORY_URI, Subject,
    TestSigstore,
};
use thv_e2e::thv::{TEST_SERVER_IMAGE, Thv, engine_image_and_python, podman, unique};

/// Pushes a keyless cosign signature of the image of `repo` by `leaf` to its `sha256-<digest>.sig` tag.
async fn sign_keyless(repo: &Repository, s: &TestSigstore, leaf: &Leaf) {
    let (_, digest) = repo.manifest().await;
    let (payload, annotations) = s.cosign_layer(&repo.name(), &digest, leaf);
    repo.push_cosign_signature(&digest, &payload, &annotations)
        .await;
}

const SOURCE_REPO: &str = "https://github.com/example/mcp-server";

fn github_leaf(s: &TestSigstore, workflow: &str) -> Leaf {
    s.leaf(
        Subject::Uri(&format!(
            "{SOURCE_REPO}/.github/workflows/{workflow}@refs/tags/v1.0.0"
        )),
        thv_core::signature::provenance::GITHUB_ACTIONS_ISSUER,
        &[
            (OID_SOURCE_REPOSITORY_URI, SOURCE_REPO),
            (OID_SOURCE_REPOSITORY_REF, "refs/tags/v1.0.0"),
            (OID_RUNNER_ENVIRONMENT, "github-hosted"),
        ],
    )
}

/// A `thv` whose registry is a legacy-format file in `dir` holding `servers`.
fn thv_with_catalog(dir: &std::path::Path, servers: serde_json::Value) -> Thv {
    let catalog = serde_json::json!({"version": "1.0.0", "last_updated": "2026-11-01T00:00:00Z",
                                     "servers": servers});
    let file = dir.join("registry.json");
    std::fs::write(&file, catalog.to_string()).unwrap();
    let thv = Thv::new();
    thv.ok(&["config", "set-registry", file.to_str().unwrap()]);
    thv
}

/// `provenance` naming an SLSA provenance attestation with `predicate`.
fn with_attestation(
    provenance: &serde_json::Value,
    predicate: &serde_json::Value,
) -> serde_json::Value {
    let mut p = provenance.clone();
    p["attestation"] = serde_json::json!({"predicate_type": "https://slsa.dev/provenance/v1", "predicate": predicate});
    p
}

/// A legacy-format registry entry for `image`, with `provenance` when given.
fn legacy_entry(image: &str, provenance: Option<serde_json::Value>) -> serde_json::Value {
    let mut e = serde_json::json!({
        "description": "The test server, signed keyless", "tier": "Community", "status": "Active",
        "transport": "stdio", "tools": ["echo"], "image": image,
        "repository_url": SOURCE_REPO,
    });
    if let Some(p) = provenance {
        e["provenance"] = p;
    }
    e
}

#[tokio::test(flavor = "multi_thread")]
async fn images_run_when_a_keyless_signature_matches_the_entry_provenance() {
    let Some(_py) = engine_image_and_python(TEST_SERVER_IMAGE, "scripts/build-test-images.sh")
    else {
        return;
    };
    let Some(registry) = registry() else {
        return;
    };
    let tag = unique("keyless");
    let image = |name: &str| format!("{registry}/thv/keyless-{name}:{tag}");
    let (good, other, unsigned, bare, attested, moved, current) = (
        image("good"),
        image("other"),
        image("unsigned"),
        image("bare"),
        image("attested"),
        image("moved"),
        image("current"),
    );
    for i in [&good, &other, &unsigned, &bare, &attested, &moved, &current] {
        push_test_image(i, &[]);
    }
    let s = TestSigstore::new();
    sign_keyless(
        &Repository::of(&good).await,
        &s,
        &github_leaf(&s, "release.yml"),
    )
    .await;
    sign_keyless(
        &Repository::of(&moved).await,
        &s,
        &github_leaf(&s, "release.yml"),
    )
    .await;
    sign_keyless(
        &Repository::of(&other).await,
        &s,
        &github_leaf(&s, "nightly.yml"),
    )
    .await;
    // An SLSA provenance attestation attached as a referrer (no cosign signature tag).
    let predicate = serde_json::json!({"buildDefinition": {"buildType": "https://actions.github.io/buildtypes/workflow/v1"}});
    let repo = Repository::of(&attested).await;
    let (_, attested_digest) = repo.manifest().await;
    let bundle = s.attestation_bundle(
        &repo.name(),
        &attested_digest,
        "https://slsa.dev/provenance/v1",
        &predicate,
        &github_leaf(&s, "release.yml"),
    );
    repo.attach_bundle(&bundle).await;
    // The same attestation as current clients make it: a Rekor v2 entry (no signed entry timestamp) and an
    // RFC 3161 timestamp of the timestamp authority the trusted root lists.
    let repo = Repository::of(&current).await;
    let (_, current_digest) = repo.manifest().await;
    let statement = thv_e2e::sigstore::in_toto_statement(
        &repo.name(),
        &current_digest,
        "https://slsa.dev/provenance/v1",
        &predicate,
    );
    let bundle = s.dsse_bundle_rekor2(
        &statement,
        &github_leaf(&s, "release.yml"),
        thv_e2e::sigstore::SIGNED_AT,
    );
    repo.attach_bundle(&bundle).await;

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("trusted_root.json");
    std::fs::write(&root, s.trusted_root()).unwrap();
    let provenance = serde_json::json!({
        "sigstore_url": "tuf-repo-cdn.sigstore.dev", "repository_uri": SOURCE_REPO,
        "repository_ref": "refs/tags/v1.0.0", "signer_identity": "/.github/workflows/release.yml",
        "runner_environment": "github-hosted", "cert_issuer": "https://token.actions.githubusercontent.com",
    });
    let mut on_github_sigstore = provenance.clone();
    on_github_sigstore["sigstore_url"] = serde_json::json!("tuf-repo.github.com");
    let thv = thv_with_catalog(
        dir.path(),
        serde_json::json!({
            "keyless-good": legacy_entry(&good, Some(provenance.clone())),
            "keyless-other": legacy_entry(&other, Some(provenance.clone())),
            "keyless-unsigned": legacy_entry(&unsigned, Some(provenance.clone())),
            "keyless-attested": legacy_entry(&attested, Some(with_attestation(&provenance, &predicate))),
            "keyless-current": legacy_entry(&current, Some(with_attestation(&provenance, &predicate))),
            "keyless-misattested": legacy_entry(&attested, Some(with_attestation(&provenance, &serde_json::json!({"other": 1})))),
            "keyless-bare": legacy_entry(&bare, None),
            "keyless-moved": legacy_entry(&moved, Some(provenance.clone())),
            "keyless-github": legacy_entry(&good, Some(on_github_sigstore)),
        }),
    );
    // No trusted root configured: the bundled public-good one, which did not issue the test certificates; and
    // none for another Sigstore instance.
    thv.ok(&[
        "config",
        "set-image-verification",
        "enabled",
        "--insecure-registry",
        &registry,
    ]);
    for (entry, why) in [
        // The log entry is checked first (it gives the time the certificate is checked at): the public-good
        // root knows neither the test log nor the test CA.
        ("keyless-good", "a log the trusted root does not know"),
        (
            "keyless-github",
            "tuf-repo.github.com, whose trusted root is not configured",
        ),
    ] {
        let err = thv.fails(&["run", entry, "--name", &unique("untrusted")]);
        eprintln!("{entry} (bundled trust): {err}");
        assert!(
            err.contains("refusing to run") && err.contains(why),
            "{entry}: {err}"
        );
    }
    thv.ok(&[
        "config",
        "set-image-verification",
        "enabled",
        "--trusted-root",
        root.to_str().unwrap(),
        "--insecure-registry",
        &registry,
    ]);

    let name = unique("keyless-good");
    let stderr = thv.ok_stderr(&["run", "keyless-good", "--name", &name]);
    assert!(
        stderr.contains("signature verified")
            && stderr.contains("matching the registry entry's provenance")
            && stderr.contains("/.github/workflows/release.yml@refs/tags/v1.0.0"),
        "{stderr}"
    );
    let rc: serde_json::Value = serde_json::from_str(&thv.ok(&["export", &name, "-"])).unwrap();
    let pinned = rc["image"].as_str().unwrap();
    assert!(
        pinned.starts_with(&format!("{registry}/thv/keyless-good@sha256:")),
        "{pinned}"
    );

    // The tag moved after signing (the image pushed again as another manifest: Docker's format instead of
    // OCI's): its new digest carries no signature.
    push_test_image(&moved, &["--format", "v2s2"]);
    let err = thv.fails(&["run", "keyless-moved", "--name", &unique("moved")]);
    eprintln!("keyless-moved: {err}");
    assert!(err.contains("not signed keyless"), "{err}");

    let stderr = thv.ok_stderr(&["run", "keyless-attested", "--name", &unique("attested")]);
    eprintln!("keyless-attested: {stderr}");
    assert!(
        stderr.contains("signature verified (attestation 1 by"),
        "{stderr}"
    );
    let stderr = thv.ok_stderr(&["run", "keyless-current", "--name", &unique("current")]);
    eprintln!("keyless-current: {stderr}");
    assert!(
        stderr.contains("signature verified (attestation 1 by"),
        "a Rekor v2 + timestamp attestation: {stderr}"
    );

    for (entry, why) in [
        ("keyless-other", "provenance signer_identity"),
        ("keyless-misattested", "attestation.predicate"),
        ("keyless-unsigned", "not signed keyless"),
        (
            "keyless-bare",
            "no provenance (the image has no registry entry, or its entry names none)",
        ),
    ] {
        let refused = unique("refused");
        let err = thv.fails(&["run", entry, "--name", &refused]);
        eprintln!("{entry}: {err}");
        assert!(
            err.contains("refusing to run") && err.contains(why),
            "{entry}: {err}"
        );
        let exists = podman(&["container", "exists", &refused]).status().unwrap();
        assert!(!exists.success(), "nothing started for {entry}");
    }

    // warn: another workflow's signature runs, with a warning naming the mismatch.
    let stderr = thv.ok_stderr(&[
        "run",
        "keyless-other",
        "--name",
        &unique("warned"),
        "--image-verification",
        "warn",
    ]);
    assert!(
        stderr.contains("warning:") && stderr.contains("signer_identity"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn private_registry_images_are_verified_and_pulled_with_stored_credentials() {
    let Some(_py) = engine_image_and_python(TEST_SERVER_IMAGE, "scripts/build-test-images.sh")
    else {
        return;
    };
    let Some((registry, user_password)) = auth_registry() else {
        return;
    };
    let image = format!("{registry}/thv/private:{}", unique("private"));
    push_test_image(&image, &["--creds", &user_password]);
    let s = TestSigstore::new();
    let repo = Repository::with_auth(&image, Some(&user_password)).await;
    sign_keyless(&repo, &s, &github_leaf(&s, "release.yml")).await;

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("trusted_root.json");
    std::fs::write(&root, s.trusted_root()).unwrap();
    let provenance = serde_json::json!({"repository_uri": SOURCE_REPO,
        "signer_identity": "/.github/workflows/release.yml",
        "cert_issuer": "https://token.actions.githubusercontent.com"});
    let thv = thv_with_catalog(
        dir.path(),
        serde_json::json!({"private": legacy_entry(&image, Some(provenance))}),
    );
    thv.ok(&[
        "config",
        "set-image-verification",
        "enabled",
        "--trusted-root",
        root.to_str().unwrap(),
        "--insecure-registry",
        &registry,
    ]);

    // No credentials: the registry refuses to show the image, so it is not verified.
    let err = thv.fails(&["run", "private", "--name", &unique("anonymous")]);
    eprintln!("anonymous: {err}");
    assert!(
        err.contains("refusing to run") && err.contains("Not authorized"),
        "{err}"
    );

    // Credentials where `podman login` keeps them: verified, pulled by digest, running.
    let (user, password) = user_password.split_once(':').unwrap();
    let auth_dir = thv.home().join(".config/containers");
    std::fs::create_dir_all(&auth_dir).unwrap();
    let auth = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{user}:{password}"),
    );
    std::fs::write(
        auth_dir.join("auth.json"),
        serde_json::json!({"auths": {&registry: {"auth": auth}}}).to_string(),
    )
    .unwrap();
    let name = unique("private");
    let stderr = thv.ok_stderr(&["run", "private", "--name", &name]);
    assert!(
        stderr.contains("signature verified")
            && stderr.contains("matching the registry entry's provenance"),
        "{stderr}"
    );
    assert_eq!(thv.status(&name)["status"], "running");
    let rc: serde_json::Value = serde_json::from_str(&thv.ok(&["export", &name, "-"])).unwrap();
    let pinned = rc["image"].as_str().unwrap();
    assert!(
        pinned.starts_with(&format!("{registry}/thv/private@sha256:")),
        "{pinned}"
    );
    let out = podman(&["image", "exists", pinned]).status().unwrap();
    assert!(out.success(), "{pinned} was pulled");
}
