//! The trust a mirror bundle carries: `mirror create --trusted-root --entry-key --image-key` packs the tests'
//! private Sigstore's `trusted_root.json` and the publisher's and image signer's keys into the bundle (signed with
//! the rest), and `mirror verify` with nothing but the mirror operator's key then checks every entry signature
//! and every image signature offline: an image signed keyless by a workflow matching its entry's `provenance`, one
//! carrying only an SLSA attestation as a referrer, one signed with a key. `create` itself refuses to hand over a
//! bundle the site would refuse: an image signed by another workflow than its provenance names, an image whose
//! signature is not there, an entry not signed by a carried key, keyless images without their Sigstore's root.

use std::path::Path;

use serde_json::{Value, json};
use thv_e2e::mirror::{
    SLSA, SOURCE_REPO, entry, github_leaf, image, oci_entry, ok, predicate, provenance,
    registry_file, thv_registry,
};
use thv_e2e::oci::{Repository, key_pair, push_key_signature, registry};
use thv_e2e::sigstore::TestSigstore;
use thv_e2e::thv::unique;

#[tokio::test(flavor = "multi_thread")]
async fn a_bundle_carries_its_trust_and_its_keyless_images_verify_against_their_provenance() {
    let Some(reg) = registry() else { return };
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path();
    let s = TestSigstore::new();
    std::fs::write(h.join("sigstore-root.json"), s.trusted_root()).unwrap();

    // Keyless by the workflow the provenance names; an attestation only; a key's signature; another workflow.
    let (keyless, repo) = image(&reg, "mirror-keyless").await;
    let digest = keyless.split_once('@').unwrap().1.to_owned();
    let (payload, annotations) =
        s.cosign_layer(&repo.name(), &digest, &github_leaf(&s, "release.yml"));
    repo.push_cosign_signature(&digest, &payload, &annotations)
        .await;
    let (attested, repo) = image(&reg, "mirror-attested").await;
    let digest = attested.split_once('@').unwrap().1.to_owned();
    repo.attach_bundle(&s.attestation_bundle(
        &repo.name(),
        &digest,
        SLSA,
        &predicate(),
        &github_leaf(&s, "release.yml"),
    ))
    .await;
    let (keyed, _) = image(&reg, "mirror-keyed").await;
    push_key_signature(&keyed, key_pair(h, "image"), None).await;
    let (nightly, repo) = image(&reg, "mirror-nightly").await;
    let digest = nightly.split_once('@').unwrap().1.to_owned();
    let (payload, annotations) =
        s.cosign_layer(&repo.name(), &digest, &github_leaf(&s, "nightly.yml"));
    repo.push_cosign_signature(&digest, &payload, &annotations)
        .await;
    let (unsigned, _) = image(&reg, "mirror-unsigned").await;

    ok(h, &["keygen", "--output-key-prefix", "publisher"]);
    ok(h, &["keygen", "--output-key-prefix", "mirror"]);
    registry_file(
        h,
        "good.json",
        &[
            entry("io.github.trust/keyless", &keyless, Some(provenance(false))),
            entry(
                "io.github.trust/attested",
                &attested,
                Some(provenance(true)),
            ),
            entry("io.github.trust/keyed", &keyed, None),
        ],
    );
    let carried = [
        "--trusted-root",
        "sigstore-root.json",
        "--entry-key",
        "publisher.pub",
        "--image-key",
        "image.pub",
    ];
    let create = |from: &str, out: &str, trust: &[&str]| {
        let mut args = vec![
            "mirror",
            "create",
            "--from",
            from,
            "--key",
            "mirror.key",
            "--insecure-registry",
            &reg,
        ];
        args.extend_from_slice(trust);
        args.extend(["-o", out]);
        thv_registry(h, &args)
    };
    let (code, out) = create("good.json", "bundle", &carried);
    assert_eq!(code, 0, "{out}");

    // Only the mirror operator's key on the other side: the carried trust does the rest.
    let report = ok(h, &["mirror", "verify", "bundle", "--key", "mirror.pub"]);
    for name in ["keyless", "attested", "keyed"] {
        assert!(
            report.contains(&format!(
                "ok io.github.trust/{name}@1.0.0: signed by publisher.pub"
            )),
            "{report}"
        );
    }
    let signer = format!("{SOURCE_REPO}/.github/workflows/release.yml@refs/tags/v1.0.0");
    assert!(
        report.contains(&format!(
            "ok image {keyless}: signed by cosign signature 1 by {signer}"
        )),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "ok image {attested}: signed by attestation 1 by {signer}"
        )),
        "{report}"
    );
    assert!(
        report.contains("matching the entry's provenance (trusted root sigstore-root.json)"),
        "{report}"
    );
    assert!(
        report.contains(&format!("ok image {keyed}: signed by key image.pub")),
        "{report}"
    );
    let index: Value =
        serde_json::from_slice(&std::fs::read(h.join("bundle/index.json")).unwrap()).unwrap();
    assert!(
        index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["annotations"]["org.opencontainers.image.ref.name"]
                == "toolhive-mirror-trust"),
        "{index}"
    );

    // What the site would refuse is refused at create, naming the cause.
    registry_file(
        h,
        "nightly.json",
        &[entry(
            "io.github.trust/nightly",
            &nightly,
            Some(provenance(false)),
        )],
    );
    let (code, out) = create("nightly.json", "nightly", &carried);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "image {nightly}: no cosign signature made with a key at sha256-"
        )),
        "{out}"
    );
    assert!(
        out.contains("no signature matches the registry entry's provenance: cosign signature 1: the signer is not the expected one"),
        "{out}"
    );
    assert!(
        out.contains("does not verify with the trust it carries"),
        "{out}"
    );
    registry_file(
        h,
        "unsigned.json",
        &[entry("io.github.trust/unsigned", &unsigned, None)],
    );
    let (code, out) = create("unsigned.json", "unsigned", &carried);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "image {unsigned}: not signed: no cosign signature at sha256-"
        )),
        "{out}"
    );
    // An entry whose signature the carried keys do not verify.
    std::fs::write(
        h.join("plain.json"),
        json!([entry("io.github.trust/plain", &keyed, None)]).to_string(),
    )
    .unwrap();
    let (code, out) = create("plain.json", "plain", &carried);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("entry io.github.trust/plain@1.0.0: the entry carries no signature"),
        "{out}"
    );
    // Keyless images without their Sigstore's trusted root: the bundled public-good one is carried, and refuses.
    let (code, out) = create(
        "good.json",
        "public-good",
        &["--entry-key", "publisher.pub", "--image-key", "image.pub"],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("carrying the bundled Sigstore public-good trusted root"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "image {keyless}: no cosign signature made with a key"
        )),
        "{out}"
    );
    assert!(
        out.contains("a log the trusted root does not know"),
        "{out}"
    );
    // Bad trust material is named before anything is fetched.
    let (code, out) = create("good.json", "bad", &["--trusted-root", "publisher.pub"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("publisher.pub: not a Sigstore trusted_root.json"),
        "{out}"
    );
    assert!(
        !h.join("bad").exists(),
        "nothing written for bad trust material"
    );
    let (code, out) = create(
        "good.json",
        "bad",
        &["--entry-identity", "someone@example.com"],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("--entry-identity and --entry-issuer go in pairs"),
        "{out}"
    );
}

/// `thv mirror load` on one machine with no registry: a bundle (as one `.tar`) whose image is signed keyless
/// and whose entry is signed by its publisher is verified, its image loaded into the engine by digest, its
/// entry installed as thv's registry and its trust into thv's policies (entries enforced, images enabled);
/// `thv run NAME` verifies the image against the signatures the bundle carried and serves it — the origin
/// registry sees no request for it after `create`. A tampered bundle loads nothing and changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn thv_mirror_load_runs_a_bundle_offline_on_one_machine() {
    let Some(reg) = registry() else { return };
    let Some(py) = thv_e2e::thv::python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path();
    let s = TestSigstore::new();
    std::fs::write(h.join("sigstore-root.json"), s.trusted_root()).unwrap();
    // An image of its own (the test server plus a file), so that the engine does not have it already.
    let tagged = format!("{reg}/{}:1", unique("mirror-load"));
    let context = h.join("context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(context.join("marker"), unique("marker")).unwrap();
    std::fs::write(
        context.join("Containerfile"),
        "FROM localhost/thv-test-mcp-server:latest\nCOPY marker /marker\n",
    )
    .unwrap();
    let built = thv_e2e::thv::podman(&["build", "-q", "-t", &tagged, context.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let pushed = thv_e2e::thv::podman(&["push", "-q", "--tls-verify=false", &tagged])
        .output()
        .unwrap();
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    assert!(
        thv_e2e::thv::podman(&["rmi", &tagged])
            .output()
            .unwrap()
            .status
            .success()
    );
    let repo = Repository::of(&tagged).await;
    let (_, digest) = repo.manifest().await;
    let image = format!("{}@{digest}", repo.name());
    let (payload, annotations) =
        s.cosign_layer(&repo.name(), &digest, &github_leaf(&s, "release.yml"));
    repo.push_cosign_signature(&digest, &payload, &annotations)
        .await;
    ok(h, &["keygen", "--output-key-prefix", "publisher"]);
    ok(h, &["keygen", "--output-key-prefix", "mirror"]);
    let repo_name = repo.name();
    let name = format!(
        "io.github.trust/{}",
        repo_name.rsplit('/').next().unwrap().replace('-', "")
    );
    registry_file(
        h,
        "load.json",
        &[entry(&name, &image, Some(provenance(false)))],
    );
    ok(
        h,
        &[
            "mirror",
            "create",
            "--from",
            "load.json",
            "--key",
            "mirror.key",
            "--insecure-registry",
            &reg,
            "--trusted-root",
            "sigstore-root.json",
            "--entry-key",
            "publisher.pub",
            "-o",
            "bundle.tar",
        ],
    );
    let origin_log = Path::new("/tmp/thv-oci-registry.log");
    let log_after_create = std::fs::metadata(origin_log).map(|m| m.len()).unwrap_or(0);
    let bundle = h.join("bundle.tar");
    let mirror_pub = h.join("mirror.pub");

    // A flipped byte anywhere in the image: refused, nothing loaded, the configuration untouched.
    let tampered = h.join("tampered.tar");
    let mut bytes = std::fs::read(&bundle).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(&tampered, bytes).unwrap();
    let thv = thv_e2e::thv::Thv::new();
    let err = thv.fails(&[
        "mirror",
        "load",
        tampered.to_str().unwrap(),
        "--key",
        mirror_pub.to_str().unwrap(),
    ]);
    assert!(
        err.contains("nothing loaded") || err.contains("not a mirror bundle"),
        "{err}"
    );
    assert!(
        !thv.home().join(".config/thv/config.toml").exists(),
        "the configuration was written: {err}"
    );
    // Another operator's key: refused.
    let err = thv.fails(&[
        "mirror",
        "load",
        bundle.to_str().unwrap(),
        "--key",
        h.join("publisher.pub").to_str().unwrap(),
    ]);
    assert!(
        err.contains("the contents' signature does not verify") && err.contains("nothing loaded"),
        "{err}"
    );

    let out = thv.ok(&[
        "mirror",
        "load",
        bundle.to_str().unwrap(),
        "--key",
        mirror_pub.to_str().unwrap(),
    ]);
    assert!(
        out.contains(&format!("ok {name}@1.0.0: signed by publisher.pub")),
        "{out}"
    );
    assert!(out.contains(&format!("loaded {image}")), "{out}");
    assert!(
        out.contains("config: [signatures] mode = \"enforce\""),
        "{out}"
    );
    assert!(
        out.contains("config: [images] verification = \"enabled\""),
        "{out}"
    );
    // Loading again changes nothing and loads nothing.
    let again = thv.ok(&[
        "mirror",
        "load",
        bundle.to_str().unwrap(),
        "--key",
        mirror_pub.to_str().unwrap(),
    ]);
    assert!(
        again.contains(&format!("present {image}")) && !again.contains("config:"),
        "{again}"
    );

    let workload = unique("loaded");
    let err = thv.ok_stderr(&["run", &name, "--name", &workload]);
    assert!(
        err.contains("signature verified") && err.contains("from the loaded mirror bundle"),
        "{err}"
    );
    let url = thv.url(&workload);
    assert_eq!(
        thv_e2e::thv::call_tool(
            &py,
            &url,
            "streamable-http",
            "echo",
            &json!({"text": "air-gapped"})
        ),
        "air-gapped"
    );
    thv.ok(&["rm", &workload]);
    let origin_requests = std::fs::read(origin_log)
        .map(|log| {
            String::from_utf8_lossy(&log[log_after_create as usize..])
                .matches(repo_name.split_once('/').unwrap().1)
                .count()
        })
        .unwrap_or(0);
    assert_eq!(
        origin_requests, 0,
        "the origin registry was asked for {repo_name} after create"
    );

    // An entry naming its image by tag, in a bundle carrying no trust: it still runs by the digest its bundle
    // recorded, though the tag in the engine names another image now. And a bundle replacing a loaded entry with
    // other content says so.
    let by_tag = format!("{name}bytag");
    std::fs::write(
        h.join("tag.json"),
        json!([oci_entry(&by_tag, &tagged)]).to_string(),
    )
    .unwrap();
    ok(
        h,
        &[
            "mirror",
            "create",
            "--from",
            "tag.json",
            "--key",
            "mirror.key",
            "--insecure-registry",
            &reg,
            "-o",
            "tag",
        ],
    );
    let mut changed = oci_entry(&by_tag, &tagged);
    changed["description"] = json!("changed since");
    std::fs::write(h.join("tag2.json"), json!([changed]).to_string()).unwrap();
    ok(
        h,
        &[
            "mirror",
            "create",
            "--from",
            "tag2.json",
            "--key",
            "mirror.key",
            "--insecure-registry",
            &reg,
            "-o",
            "tag2",
        ],
    );
    let other = thv_e2e::thv::Thv::new();
    other.ok(&[
        "mirror",
        "load",
        h.join("tag").to_str().unwrap(),
        "--key",
        mirror_pub.to_str().unwrap(),
    ]);
    let moved = thv_e2e::thv::podman(&["tag", "localhost/thv-test-busybox:latest", &tagged])
        .output()
        .unwrap();
    assert!(
        moved.status.success(),
        "{}",
        String::from_utf8_lossy(&moved.stderr)
    );
    let workload = unique("loaded-tag");
    other.ok(&["run", &by_tag, "--name", &workload]);
    assert_eq!(
        thv_e2e::thv::call_tool(
            &py,
            &other.url(&workload),
            "streamable-http",
            "echo",
            &json!({"text": "pinned"})
        ),
        "pinned"
    );
    other.ok(&["rm", &workload]);
    let out = other.ok(&[
        "mirror",
        "load",
        h.join("tag2").to_str().unwrap(),
        "--key",
        mirror_pub.to_str().unwrap(),
    ]);
    assert!(
        out.contains(&format!(
            "replaced {by_tag}@1.0.0: loaded earlier with other content"
        )),
        "{out}"
    );
    let _ = thv_e2e::thv::podman(&["rmi", &tagged]).output();
    let _ = thv_e2e::thv::podman(&["rmi", "-f", &image]).output();
}
