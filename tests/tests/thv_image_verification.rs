//! Image verification end to end: the test image pushed to a real OCI registry (Debian's docker-registry on
//! 127.0.0.1, `scripts/start-oci-registry.sh`), cosign signatures made and pushed by this test with generated
//! keys (`sha256-<digest>.sig`, as cosign stores them), and `thv run --image-verification`: a signed image runs,
//! an unsigned one, one whose signature is over another digest, and one signed by another key are refused
//! (`enabled`) or run with a warning (`warn`). Keyless images: `thv_keyless_images.rs`.

use sigstore::crypto::SigningScheme;
use thv_e2e::oci::{key_pair, push_key_signature, push_test_image, registry};
use thv_e2e::thv::{TEST_SERVER_IMAGE, Thv, engine_image_and_python, podman, unique};

#[tokio::test(flavor = "multi_thread")]
async fn only_images_signed_by_a_trusted_key_run() {
    let Some(_py) = engine_image_and_python(TEST_SERVER_IMAGE, "scripts/build-test-images.sh")
    else {
        return;
    };
    let Some(registry) = registry() else {
        return;
    };
    let tag = unique("sig");
    let signed = format!("{registry}/thv/verify-signed:{tag}");
    let unsigned = format!("{registry}/thv/verify-unsigned:{tag}");
    let tampered = format!("{registry}/thv/verify-tampered:{tag}");
    let foreign = format!("{registry}/thv/verify-foreign:{tag}");
    for i in [&signed, &unsigned, &tampered, &foreign] {
        push_test_image(i, &[]);
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
    push_key_signature(&signed, trusted, None).await;
    // A real signature by the trusted key, but over another digest, at this image's signature tag.
    let elsewhere = format!("sha256:{}", "ab".repeat(32));
    push_key_signature(&tampered, trusted_again, Some(&elsewhere)).await;
    push_key_signature(&foreign, other, None).await;

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
