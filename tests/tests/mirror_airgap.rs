//! The whole air gap, end to end with real parts.
//!
//! Online: the tests' docker-registry holds two images, one signed with a key, one signed keyless by the tests'
//! private Sigstore with a certificate matching its entry's provenance and an SLSA attestation as a referrer; an
//! online `thv-registry-api` holds their entries and an npm package entry (`@modelcontextprotocol/server-everything`,
//! built from npm), each signed by its publisher. `mirror create --from` that API carries them all with the trust
//! needed (trusted root, publisher and image keys); then the online API is stopped, and the origin registry's log
//! shows no request for the images after `create`.
//!
//! Disconnected: `verify`; `push` into the site's registry (the basic-auth one) and a fresh site
//! `thv-registry-api`, writing out the carried trust and printing thv's configuration (`--trust-out`); thv on the
//! site, configured with exactly that, runs each entry by name under enforcing policies (entries `enforce`, images
//! `enabled`), a real MCP client calling each through the proxy — the package entry pulled from the site
//! registry, not built (no npm). Then the same with `thv mirror load` and no registry at all.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use thv_e2e::binary;
use thv_e2e::mirror::{SLSA, entry, github_leaf, image, ok, predicate, provenance, registry_file};
use thv_e2e::oci::{auth_registry, key_pair, push_key_signature, registry};
use thv_e2e::sigstore::TestSigstore;
use thv_e2e::thv::{Thv, call, engine_image_and_python, podman, unique};

const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Neither the latest (`thv_packages`) nor `mirror_packages`'s: this test owns the image of this version.
const NPM_VERSION: &str = "2026.7.4";
const NPM_IMAGE: &str = "localhost/thv-npx-modelcontextprotocol-server-everything:2026.7.4";

fn npm_entry(name: &str) -> Value {
    json!({"$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
           "name": name, "description": "Everything, across the gap", "version": "1.0.0",
           "packages": [{"registryType": "npm", "identifier": "@modelcontextprotocol/server-everything",
                         "version": NPM_VERSION, "transport": {"type": "stdio"},
                         "packageArguments": [{"type": "positional", "value": "stdio"}]}]})
}

fn base64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Calls the entry's echo tool through thv's proxy: the test server's (`text`) or server-everything's
/// (`message`).
fn echo(py: &Path, thv: &Thv, workload: &str, npm: bool, text: &str) {
    if npm {
        let v = call(
            py,
            &thv.url(workload),
            "streamable-http",
            "echo",
            &json!({"message": text}),
        );
        assert!(
            v["calls"][0]["text"].as_str().unwrap().contains(text),
            "{workload}: {v}"
        );
    } else {
        let got = thv_e2e::thv::call_tool(
            py,
            &thv.url(workload),
            "streamable-http",
            "echo",
            &json!({"text": text}),
        );
        assert_eq!(got, text, "{workload}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_air_gapped_site_runs_every_entry_from_one_bundle() {
    let Some(py) = engine_image_and_python(
        "localhost/thv-base-node:bookworm",
        "scripts/build-base-images.sh",
    ) else {
        return;
    };
    let (Some(origin), Some((site, creds))) = (registry(), auth_registry()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path();
    let s = TestSigstore::new();
    std::fs::write(h.join("sigstore-root.json"), s.trusted_root()).unwrap();
    ok(h, &["keygen", "--output-key-prefix", "publisher"]);
    ok(h, &["keygen", "--output-key-prefix", "mirror"]);

    // Online: the images, their signatures, the entries in an online registry API.
    let (keyed, _) = image(&origin, "airgap-keyed").await;
    push_key_signature(&keyed, key_pair(h, "image"), None).await;
    let (keyless, repo) = image(&origin, "airgap-keyless").await;
    let digest = keyless.split_once('@').unwrap().1.to_owned();
    let leaf = github_leaf(&s, "release.yml");
    let (payload, annotations) = s.cosign_layer(&repo.name(), &digest, &leaf);
    repo.push_cosign_signature(&digest, &payload, &annotations)
        .await;
    repo.attach_bundle(&s.attestation_bundle(&repo.name(), &digest, SLSA, &predicate(), &leaf))
        .await;
    let tag = unique("g").replace('-', "");
    let names = [
        format!("io.github.airgap/keyed{tag}"),
        format!("io.github.airgap/keyless{tag}"),
        format!("io.github.airgap/npm{tag}"),
    ];
    registry_file(
        h,
        "entries.json",
        &[
            entry(&names[0], &keyed, None),
            entry(&names[1], &keyless, Some(provenance(true))),
            npm_entry(&names[2]),
        ],
    );
    let online_home = tempfile::tempdir().unwrap();
    let online = thv_e2e::registry_api::start_with(online_home.path(), &["--no-seed"]);
    let token =
        thv_e2e::registry_api::mint_token(online_home.path(), "io.github.airgap/*", "publish");
    ok(
        h,
        &[
            "import",
            "entries.json",
            "--to",
            &online.base,
            "--token",
            &token,
        ],
    );
    let summary = ok(
        h,
        &[
            "mirror",
            "create",
            "--from",
            &online.base,
            "--name",
            &format!("io.github.airgap/*{tag}"),
            "--key",
            "mirror.key",
            "--insecure-registry",
            &origin,
            "--trusted-root",
            "sigstore-root.json",
            "--entry-key",
            "publisher.pub",
            "--image-key",
            "image.pub",
            "--ca-cert",
            CA_BUNDLE,
            "-o",
            "bundle.tar",
        ],
    );
    assert!(
        summary.contains("mirrored 3 entries and 3 images"),
        "{summary}"
    );
    drop(online);
    let origin_log = Path::new("/tmp/thv-oci-registry.log");
    let log_after_create = std::fs::metadata(origin_log).map(|m| m.len()).unwrap_or(0);
    // The engine forgets the package image: the site never had one.
    let removed = podman(&["rmi", NPM_IMAGE]).output().unwrap();
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );

    // Disconnected: verify, push into the site's registry and registry API with the trust written out.
    let report = ok(
        h,
        &["mirror", "verify", "bundle.tar", "--key", "mirror.pub"],
    );
    for name in &names {
        assert!(
            report.contains(&format!("ok {name}@1.0.0: signed by publisher.pub")),
            "{report}"
        );
    }
    let site_home = tempfile::tempdir().unwrap();
    let site_api = thv_e2e::registry_api::start_with(site_home.path(), &["--no-seed"]);
    let site_token =
        thv_e2e::registry_api::mint_token(site_home.path(), "io.github.airgap/*", "publish");
    let thv = Thv::new();
    let containers = thv.home().join(".config/containers");
    std::fs::create_dir_all(&containers).unwrap();
    let auth_file = containers.join("auth.json");
    std::fs::write(
        &auth_file,
        json!({"auths": {site.clone(): {"auth": base64(&creds)}}}).to_string(),
    )
    .unwrap();
    let prefix = format!("{site}/{}", unique("airgap"));
    let trust_dir = h.join("site-trust");
    let out = Command::new(binary("thv-registry"))
        .current_dir(h)
        .env("REGISTRY_AUTH_FILE", &auth_file)
        .args([
            "mirror",
            "push",
            "bundle.tar",
            "--key",
            "mirror.pub",
            "--oci-registry",
            &prefix,
            "--insecure-registry",
            &site,
            "--registry-api",
            &site_api.base,
            "--token",
            &site_token,
            "--trust-out",
            trust_dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // After the verification report: thv's configuration.
    let printed = &stdout[stdout
        .find("# thv's configuration")
        .unwrap_or_else(|| panic!("{stdout}"))..];
    for file in ["sigstore-root.json", "publisher.pub", "image.pub"] {
        assert!(trust_dir.join(file).is_file(), "{file} written out");
    }

    // thv on the site: the configuration push printed, the site's API and registry.
    let config = format!("{printed}\n[registry]\nurl = {:?}\n", site_api.base).replace(
        "[images]\n",
        &format!("[images]\ninsecure_registries = [{site:?}]\n"),
    );
    let config: toml::Table = toml::from_str(&config).unwrap_or_else(|e| panic!("{e}\n{config}"));
    assert_eq!(
        config["signatures"]["mode"].as_str(),
        Some("enforce"),
        "{config}"
    );
    assert_eq!(
        config["images"]["verification"].as_str(),
        Some("enabled"),
        "{config}"
    );
    std::fs::create_dir_all(thv.home().join(".config/thv")).unwrap();
    std::fs::write(
        thv.home().join(".config/thv/config.toml"),
        toml::to_string(&config).unwrap(),
    )
    .unwrap();
    for (i, name) in names.iter().enumerate() {
        let workload = unique("site");
        let err = thv.ok_stderr(&["run", name, "--name", &workload]);
        assert!(
            err.contains(&format!("from the mirror, {prefix}/")),
            "{name}: {err}"
        );
        if i < 2 {
            assert!(err.contains("signature verified"), "{name}: {err}");
        } else {
            assert!(!err.contains("STEP "), "{name}: nothing built: {err}");
        }
        echo(&py, &thv, &workload, i == 2, "across the gap");
        thv.ok(&["rm", &workload]);
    }

    // One machine, no registry at all.
    let alone = Thv::new();
    let loaded = alone.ok(&[
        "mirror",
        "load",
        h.join("bundle.tar").to_str().unwrap(),
        "--key",
        h.join("mirror.pub").to_str().unwrap(),
    ]);
    assert!(
        loaded.contains("config: [signatures] mode = \"enforce\""),
        "{loaded}"
    );
    for (i, name) in names.iter().enumerate() {
        let workload = unique("alone");
        let err = alone.ok_stderr(&["run", name, "--name", &workload]);
        if i < 2 {
            assert!(
                err.contains("from the loaded mirror bundle"),
                "{name}: {err}"
            );
        }
        echo(&py, &alone, &workload, i == 2, "alone");
        alone.ok(&["rm", &workload]);
    }
    let origin_requests = std::fs::read(origin_log)
        .map(|log| {
            let log = String::from_utf8_lossy(&log[log_after_create as usize..]).into_owned();
            ["airgap-keyed", "airgap-keyless"]
                .iter()
                .map(|r| log.matches(r).count())
                .sum::<usize>()
        })
        .unwrap_or(0);
    assert_eq!(
        origin_requests, 0,
        "the origin registry was asked for the images after create"
    );
    let _ = podman(&["rmi", &format!("{prefix}/{NPM_IMAGE}")]).output();
}
