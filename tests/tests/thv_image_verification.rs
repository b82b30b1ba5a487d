//! Image verification end to end: the test image pushed to a real OCI registry (Debian's docker-registry on
//! 127.0.0.1, `scripts/start-oci-registry.sh`), cosign signatures made and pushed by this test with generated
//! keys (`sha256-<digest>.sig`, as cosign stores them), and `thv run --image-verification`: a signed image runs,
//! an unsigned one, one whose signature is over another digest, and one signed by another key are refused
//! (`enabled`) or run with a warning (`warn`). And keyless: images named by registry entries carrying a
//! `provenance`, signed keyless by the tests' private Sigstore ([`thv_e2e::sigstore`]) as cosign stores it,
//! verified against that Sigstore's `trusted_root.json`: a signature matching the provenance runs, and so does
//! an SLSA attestation attached as an OCI referrer; another workflow's signature, another predicate, an unsigned
//! image, a tag moved to another manifest after signing, an entry without provenance, and (without a configured
//! trusted root) the bundled public-good root or another Sigstore instance are refused.

use sigstore::cosign::constraint::{Constraint, PrivateKeySigner};
use sigstore::cosign::{ClientBuilder, CosignCapabilities, SignatureLayer};
use sigstore::crypto::SigningScheme;
use sigstore::registry::{Auth, ClientConfig, ClientProtocol, OciReference};
use thv_e2e::sigstore::{
    OID_RUNNER_ENVIRONMENT, OID_SOURCE_REPOSITORY_REF, OID_SOURCE_REPOSITORY_URI, Subject,
    TestSigstore,
};
use thv_e2e::thv::{TEST_SERVER_IMAGE, Thv, engine_image_and_python, podman, skip, unique};

fn push(image: &str) {
    let out = podman(&["push", "--tls-verify=false", TEST_SERVER_IMAGE, image])
        .output()
        .expect("podman push");
    assert!(
        out.status.success(),
        "podman push {image}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Signs `image` with `signer` (over `digest`, or the image's own digest) and pushes the signature.
async fn sign(image: &str, signer: sigstore::crypto::SigStoreSigner, digest: Option<&str>) {
    let mut client = ClientBuilder::default()
        .with_oci_client_config(ClientConfig {
            protocol: ClientProtocol::Http,
            ..Default::default()
        })
        .build()
        .unwrap();
    let reference: OciReference = image.parse().unwrap();
    let (sig_ref, own) = client
        .triangulate(&reference, &Auth::Anonymous)
        .await
        .unwrap();
    let mut layer = SignatureLayer::new_unsigned(&reference, digest.unwrap_or(&own)).unwrap();
    assert!(
        PrivateKeySigner::new_with_signer(signer)
            .add_constraint(&mut layer)
            .unwrap()
    );
    client
        .push_signature(None, &Auth::Anonymous, &sig_ref, vec![layer])
        .await
        .unwrap();
}

fn key_pair(dir: &std::path::Path, name: &str) -> sigstore::crypto::SigStoreSigner {
    let signer = SigningScheme::ECDSA_P256_SHA256_ASN1
        .create_signer()
        .unwrap();
    let pem = signer
        .to_sigstore_keypair()
        .unwrap()
        .public_key_to_pem()
        .unwrap();
    std::fs::write(dir.join(format!("{name}.pub")), pem).unwrap();
    signer
}

#[tokio::test(flavor = "multi_thread")]
async fn only_images_signed_by_a_trusted_key_run() {
    let Some(_py) = engine_image_and_python(TEST_SERVER_IMAGE, "scripts/build-test-images.sh")
    else {
        return;
    };
    let Some(registry) = oci_registry() else {
        return;
    };
    let tag = unique("sig");
    let signed = format!("{registry}/thv/verify-signed:{tag}");
    let unsigned = format!("{registry}/thv/verify-unsigned:{tag}");
    let tampered = format!("{registry}/thv/verify-tampered:{tag}");
    let foreign = format!("{registry}/thv/verify-foreign:{tag}");
    for i in [&signed, &unsigned, &tampered, &foreign] {
        push(i);
    }
    let keys = tempfile::tempdir().unwrap();
    let trusted = key_pair(keys.path(), "trusted");
    let trusted_again = sigstore::crypto::signing_key::SigStoreKeyPair::from_pem(
        trusted
            .to_sigstore_keypair()
            .unwrap()
            .private_key_to_pem()
            .unwrap()
            .as_bytes(),
    )
    .unwrap()
    .to_sigstore_signer(&SigningScheme::ECDSA_P256_SHA256_ASN1)
    .unwrap();
    let other = key_pair(keys.path(), "other");
    sign(&signed, trusted, None).await;
    // A real signature by the trusted key, but over another digest, at this image's signature tag.
    let elsewhere = format!("sha256:{}", "ab".repeat(32));
    sign(&tampered, trusted_again, Some(&elsewhere)).await;
    sign(&foreign, other, None).await;

    let thv = Thv::new();
    let trusted_pub = keys.path().join("trusted.pub");
    thv.ok(&[
        "config",
        "set-image-verification",
        "enabled",
        "--trusted-key",
        trusted_pub.to_str().unwrap(),
        "--insecure-registry",
        &registry,
    ]);
    let name = unique("signed");
    let stderr = thv.ok_stderr(&["run", &signed, "--name", &name]);
    assert!(stderr.contains("signature verified"), "{stderr}");
    // Run by the digest verified: the tag cannot move in between.
    let rc: serde_json::Value = serde_json::from_str(&thv.ok(&["export", &name, "-"])).unwrap();
    let image = rc["image"].as_str().unwrap();
    assert!(
        image.starts_with(&format!("{registry}/thv/verify-signed@sha256:")),
        "{image}"
    );

    for (image, why) in [
        (&unsigned, "no valid signature"),
        (&tampered, "no valid signature"),
        (&foreign, "signed by none of the trusted keys"),
    ] {
        let name = unique("refused");
        let err = thv.fails(&["run", image, "--name", &name]);
        assert!(
            err.contains(&format!("refusing to run {image}")) && err.contains(why),
            "{image}: {err}"
        );
        let exists = podman(&["container", "exists", &name]).status().unwrap();
        assert!(!exists.success(), "nothing started for {image}");
    }

    // warn: it runs, with a warning; disabled: not even looked at.
    let stderr = thv.ok_stderr(&[
        "run",
        &unsigned,
        "--name",
        &unique("warned"),
        "--image-verification",
        "warn",
    ]);
    assert!(
        stderr.contains("warning:") && stderr.contains("image not verified"),
        "{stderr}"
    );
    let stderr = thv.ok_stderr(&[
        "run",
        &foreign,
        "--name",
        &unique("unchecked"),
        "--image-verification",
        "disabled",
    ]);
    assert!(
        !stderr.contains("signature verified") && !stderr.contains("not verified"),
        "{stderr}"
    );
}

/// The local OCI registry's address, or `None` (skipped outside CI) when unset.
fn oci_registry() -> Option<String> {
    std::env::var("THV_TEST_OCI_REGISTRY").ok().or_else(|| {
        skip("THV_TEST_OCI_REGISTRY is unset (run `eval \"$(scripts/start-oci-registry.sh)\"`)")
    })
}

fn plain_http_client() -> oci_client::Client {
    oci_client::Client::new(oci_client::client::ClientConfig {
        protocol: oci_client::client::ClientProtocol::Http,
        ..Default::default()
    })
}

fn sha256_digest(data: &[u8]) -> String {
    use sha2::Digest;
    format!(
        "sha256:{}",
        thv_core::signature::hex(&sha2::Sha256::digest(data))
    )
}

/// Pushes a keyless cosign signature of `image` by `leaf` to the image's `sha256-<digest>.sig` tag.
async fn sign_keyless(image: &str, s: &TestSigstore, leaf: &thv_e2e::sigstore::Leaf) {
    let client = plain_http_client();
    let auth = oci_client::secrets::RegistryAuth::Anonymous;
    let reference: oci_client::Reference = image.parse().unwrap();
    let digest = client
        .fetch_manifest_digest(&reference, &auth)
        .await
        .unwrap();
    let repository = format!("{}/{}", reference.registry(), reference.repository());
    let (payload, annotations) = s.cosign_layer(&repository, &digest, leaf);
    let sig = oci_client::Reference::with_tag(
        reference.registry().to_owned(),
        reference.repository().to_owned(),
        format!("{}.sig", digest.replace(':', "-")),
    );
    client
        .store_auth_if_needed(sig.resolve_registry(), &auth)
        .await;
    let config = b"{}".to_vec();
    let (config_digest, payload_digest) = (sha256_digest(&config), sha256_digest(&payload));
    client
        .push_blob(&sig, config.clone(), &config_digest)
        .await
        .unwrap();
    client
        .push_blob(&sig, payload.clone(), &payload_digest)
        .await
        .unwrap();
    // Pushed as raw JSON: the certificate's PEM newlines must be escaped.
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                   "size": config.len()},
        "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                    "digest": payload_digest, "size": payload.len(), "annotations": annotations}],
    });
    client
        .push_manifest_raw(
            &sig,
            serde_json::to_vec(&manifest).unwrap(),
            reqwest::header::HeaderValue::from_static("application/vnd.oci.image.manifest.v1+json"),
        )
        .await
        .unwrap();
}

/// Attaches a sigstore bundle to `image` as an OCI 1.1 referrer, through the referrers tag schema
/// (`sha256-<digest>` index; docker-registry has no referrers API).
async fn attach_bundle(image: &str, bundle: &serde_json::Value) {
    let client = plain_http_client();
    let auth = oci_client::secrets::RegistryAuth::Anonymous;
    let reference: oci_client::Reference = image.parse().unwrap();
    let (subject_manifest, subject_digest) = client
        .pull_manifest_raw(
            &reference,
            &auth,
            &[
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.docker.distribution.manifest.v2+json",
            ],
        )
        .await
        .unwrap();
    let subject_type =
        serde_json::from_slice::<serde_json::Value>(&subject_manifest).unwrap()["mediaType"]
            .as_str()
            .unwrap_or("application/vnd.oci.image.manifest.v1+json")
            .to_owned();
    let at = |tag: String| {
        oci_client::Reference::with_tag(
            reference.registry().to_owned(),
            reference.repository().to_owned(),
            tag,
        )
    };
    let bundle_type = "application/vnd.dev.sigstore.bundle.v0.3+json";
    let blob = serde_json::to_vec(bundle).unwrap();
    let empty = b"{}".to_vec();
    let (blob_digest, empty_digest) = (sha256_digest(&blob), sha256_digest(&empty));
    let index_ref = at(subject_digest.replace(':', "-"));
    client
        .store_auth_if_needed(index_ref.resolve_registry(), &auth)
        .await;
    client
        .push_blob(&index_ref, blob.clone(), &blob_digest)
        .await
        .unwrap();
    client
        .push_blob(&index_ref, empty.clone(), &empty_digest)
        .await
        .unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": bundle_type,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty_digest, "size": 2},
        "layers": [{"mediaType": bundle_type, "digest": blob_digest, "size": blob.len()}],
        "subject": {"mediaType": subject_type, "digest": subject_digest, "size": subject_manifest.len()},
    });
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let manifest_digest = sha256_digest(&manifest);
    let oci_manifest =
        reqwest::header::HeaderValue::from_static("application/vnd.oci.image.manifest.v1+json");
    client
        .push_manifest_raw(
            &at(format!("referrer-{}", &manifest_digest[7..19])),
            manifest.clone(),
            oci_manifest,
        )
        .await
        .unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
                       "size": manifest.len(), "artifactType": bundle_type}],
    });
    client
        .push_manifest_raw(
            &index_ref,
            serde_json::to_vec(&index).unwrap(),
            reqwest::header::HeaderValue::from_static("application/vnd.oci.image.index.v1+json"),
        )
        .await
        .unwrap();
}

const SOURCE_REPO: &str = "https://github.com/example/mcp-server";

fn github_leaf(s: &TestSigstore, workflow: &str) -> thv_e2e::sigstore::Leaf {
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
    let Some(registry) = oci_registry() else {
        return;
    };
    let tag = unique("keyless");
    let image = |name: &str| format!("{registry}/thv/keyless-{name}:{tag}");
    let (good, other, unsigned, bare, attested, moved) = (
        image("good"),
        image("other"),
        image("unsigned"),
        image("bare"),
        image("attested"),
        image("moved"),
    );
    for i in [&good, &other, &unsigned, &bare, &attested, &moved] {
        push(i);
    }
    let s = TestSigstore::new();
    sign_keyless(&good, &s, &github_leaf(&s, "release.yml")).await;
    sign_keyless(&moved, &s, &github_leaf(&s, "release.yml")).await;
    sign_keyless(&other, &s, &github_leaf(&s, "nightly.yml")).await;
    // An SLSA provenance attestation attached as a referrer (no cosign signature tag).
    let predicate = serde_json::json!({"buildDefinition": {"buildType": "https://actions.github.io/buildtypes/workflow/v1"}});
    let attested_ref: oci_client::Reference = attested.parse().unwrap();
    let attested_digest = plain_http_client()
        .fetch_manifest_digest(&attested_ref, &oci_client::secrets::RegistryAuth::Anonymous)
        .await
        .unwrap();
    let bundle = s.attestation_bundle(
        &format!("{}/{}", attested_ref.registry(), attested_ref.repository()),
        &attested_digest,
        "https://slsa.dev/provenance/v1",
        &predicate,
        &github_leaf(&s, "release.yml"),
    );
    attach_bundle(&attested, &bundle).await;

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
    let catalog = serde_json::json!({
        "version": "1.0.0", "last_updated": "2026-11-01T00:00:00Z",
        "servers": {
            "keyless-good": legacy_entry(&good, Some(provenance.clone())),
            "keyless-other": legacy_entry(&other, Some(provenance.clone())),
            "keyless-unsigned": legacy_entry(&unsigned, Some(provenance.clone())),
            "keyless-attested": legacy_entry(&attested, Some(with_attestation(&provenance, &predicate))),
            "keyless-misattested": legacy_entry(&attested, Some(with_attestation(&provenance, &serde_json::json!({"other": 1})))),
            "keyless-bare": legacy_entry(&bare, None),
            "keyless-moved": legacy_entry(&moved, Some(provenance.clone())),
            "keyless-github": legacy_entry(&good, Some(on_github_sigstore)),
        }
    });
    let file = dir.path().join("registry.json");
    std::fs::write(&file, catalog.to_string()).unwrap();

    let thv = Thv::new();
    thv.ok(&["config", "set-registry", file.to_str().unwrap()]);
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
        ("keyless-good", "certificate"),
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
    let out = podman(&[
        "push",
        "--tls-verify=false",
        "--format",
        "v2s2",
        TEST_SERVER_IMAGE,
        &moved,
    ])
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = thv.fails(&["run", "keyless-moved", "--name", &unique("moved")]);
    eprintln!("keyless-moved: {err}");
    assert!(err.contains("not signed keyless"), "{err}");

    let stderr = thv.ok_stderr(&["run", "keyless-attested", "--name", &unique("attested")]);
    eprintln!("keyless-attested: {stderr}");
    assert!(
        stderr.contains("signature verified (attestation 1 by"),
        "{stderr}"
    );

    for (entry, why) in [
        ("keyless-other", "provenance signer_identity"),
        ("keyless-misattested", "attestation.predicate"),
        ("keyless-unsigned", "not signed keyless"),
        ("keyless-bare", "carries no provenance"),
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
