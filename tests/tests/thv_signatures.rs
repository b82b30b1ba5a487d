//! Signed registry entries end to end, with the real binaries: `thv-registry keygen` and `sign` (a sigstore
//! bundle over the entry's canonical form), `verify` (good, changed entry, wrong key), `publish` (the bundle
//! travels in `_meta`) to a real `thv-registry-api` — one enforcing a signature policy refuses unsigned and
//! wrongly signed entries with 422 — and `thv run NAME` under `thv config set-signature-policy`: a signed
//! entry runs, an unsigned one is refused before anything starts (`enforce`) or runs with a warning (`warn`).
//!
//! Keys bound to name patterns (`--key`/`--trusted-key PATH=PATTERN`; `{path, names}` and a signer's `names` in
//! configuration files): a key of one namespace signs nothing else — `verify`, the API's publish and
//! `thv run NAME` refuse another namespace's entry it signed, naming the key, its patterns and the entry; a
//! keyless signer bound to a namespace likewise (the API's YAML configuration, thv's `[signatures]`).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};
use thv_core::signature::{SIGNATURE_META, canonical_bytes};
use thv_e2e::binary;
use thv_e2e::registry_api::{mint_token, start_with};
use thv_e2e::sigstore::{SIGNED_AT, Subject, TestSigstore};
use thv_e2e::thv::{TEST_SERVER_IMAGE, Thv, engine_image_and_python, podman, unique};

fn cli(home: &Path, args: &[&str]) -> Output {
    Command::new(binary("thv-registry"))
        .current_dir(home)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("COSIGN_PASSWORD", "correct horse")
        .env_remove("THV_REGISTRY_URL")
        .env_remove("THV_REGISTRY_TOKEN")
        .args(args)
        .output()
        .expect("run thv-registry")
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fails(o: Output) -> String {
    assert!(
        !o.status.success(),
        "succeeded: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn entry(name: &str) -> Value {
    json!({
        "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
        "name": name, "description": "The test server, signed", "version": "1.0.0",
        "packages": [{"registryType": "oci", "identifier": TEST_SERVER_IMAGE, "transport": {"type": "stdio"}}]
    })
}

#[tokio::test]
async fn signed_entries_from_keygen_to_thv_run() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // Keys: cosign's format, the private one encrypted and private to its owner.
    ok(cli(h, &["keygen"]));
    let key = std::fs::read_to_string(h.join("cosign.key")).unwrap();
    assert!(key.contains("ENCRYPTED SIGSTORE PRIVATE KEY"), "{key}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(h.join("cosign.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert!(fails(cli(h, &["keygen"])).contains("exists already"));
    ok(cli(h, &["keygen", "--output-key-prefix", "other"]));

    let signed_path = h.join("signed.json");
    std::fs::write(&signed_path, entry("com.example/signed").to_string()).unwrap();
    let out = ok(cli(h, &["sign", "signed.json", "--key", "cosign.key"]));
    assert!(out.contains("signed.json.bundle.json"), "{out}");
    let bundle: Value =
        serde_json::from_str(&std::fs::read_to_string(h.join("signed.json.bundle.json")).unwrap())
            .unwrap();
    assert_eq!(
        bundle["mediaType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    assert!(ok(cli(h, &["verify", "signed.json", "--key", "cosign.pub"])).contains("verified"));
    let err = fails(cli(h, &["verify", "signed.json", "--key", "other.pub"]));
    assert!(err.contains("none of the trusted keys"), "{err}");
    // A wrong password is refused, naming the key file.
    let o = Command::new(binary("thv-registry"))
        .current_dir(h)
        .env("COSIGN_PASSWORD", "wrong")
        .args([
            "sign",
            "signed.json",
            "--key",
            "cosign.key",
            "--output",
            "x.json",
        ])
        .output()
        .unwrap();
    assert!(fails(o).contains("cosign.key"));
    // One changed byte: refused; the canonical form is what is signed.
    let mut changed = entry("com.example/signed");
    changed["description"] = "The test server, signeD".into();
    std::fs::write(h.join("changed.json"), changed.to_string()).unwrap();
    std::fs::copy(
        h.join("signed.json.bundle.json"),
        h.join("changed.json.bundle.json"),
    )
    .unwrap();
    let err = fails(cli(h, &["verify", "changed.json", "--key", "cosign.pub"]));
    assert!(err.contains("signs another entry"), "{err}");
    // A keyless bundle (a real public one, over another artifact) is checked against the trusted root and the
    // expected signer, offline, and refused for this entry.
    let root = thv_e2e::thv::repo_root();
    let fixtures = root.join("core/tests/data/sigstore");
    let err = fails(cli(
        h,
        &[
            "verify",
            "signed.json",
            "--bundle",
            fixtures.join("npm_slsa_bundle_v03.json").to_str().unwrap(),
            "--trusted-root",
            root.join("data/sigstore/public-good-trusted_root.json")
                .to_str()
                .unwrap(),
            "--certificate-identity",
            "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main",
            "--certificate-oidc-issuer",
            "https://token.actions.githubusercontent.com",
        ],
    ));
    // Its in-toto statement names the npm package, not this entry.
    assert!(
        err.contains("no subject of the in-toto statement is the artifact"),
        "{err}"
    );
    let canonical = ok(cli(h, &["canonicalize", "signed.json"]));
    assert!(
        canonical.starts_with("{\"$schema\":") && !canonical.contains('\n'),
        "{canonical}"
    );

    // A registry enforcing the policy: unsigned and wrongly signed entries are refused (422), the signed one
    // is published with its bundle.
    let api_home = tempfile::tempdir().unwrap();
    let pub_key = h.join("cosign.pub");
    let api = start_with(
        api_home.path(),
        &[
            "--signature-policy",
            "enforce",
            "--trusted-key",
            pub_key.to_str().unwrap(),
        ],
    );
    let token = mint_token(api_home.path(), "com.example/*", "publish");
    let publish = |file: &str| {
        cli(
            h,
            &["publish", file, "--registry", &api.base, "--token", &token],
        )
    };
    std::fs::write(
        h.join("unsigned.json"),
        entry("com.example/unsigned").to_string(),
    )
    .unwrap();
    let err = fails(publish("unsigned.json"));
    assert!(err.contains("422") || err.contains("no signature"), "{err}");
    let err = fails(publish("changed.json"));
    assert!(err.contains("signs another entry"), "{err}");
    assert!(ok(publish("signed.json")).contains("published com.example/signed@1.0.0"));
    let served: Value = reqwest::get(format!(
        "{}/v0.1/servers/com.example%2Fsigned/versions/1.0.0/signature",
        api.base
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(served, bundle);

    // thv run under the user's signature policy, against a registry without one (it holds both entries).
    let Some(_py) = engine_image_and_python(TEST_SERVER_IMAGE, "scripts/build-test-images.sh")
    else {
        return;
    };
    let open_home = tempfile::tempdir().unwrap();
    let open = start_with(open_home.path(), &["--no-seed"]);
    let open_token = mint_token(open_home.path(), "com.example/*", "publish");
    for f in ["signed.json", "unsigned.json"] {
        ok(cli(
            h,
            &[
                "publish",
                f,
                "--registry",
                &open.base,
                "--token",
                &open_token,
            ],
        ));
    }
    let thv = Thv::new();
    thv.ok(&["config", "set-registry", &open.base]);
    thv.ok(&[
        "config",
        "set-signature-policy",
        "enforce",
        "--trusted-key",
        pub_key.to_str().unwrap(),
    ]);
    assert!(
        thv.ok(&["config", "get-signature-policy"])
            .contains("enforce")
    );
    let name = unique("signed");
    let stderr = thv.ok_stderr(&["run", "com.example/signed", "--name", &name]);
    assert!(stderr.contains("signature verified"), "{stderr}");
    let refused = unique("unsigned");
    let err = thv.fails(&["run", "com.example/unsigned", "--name", &refused]);
    assert!(
        err.contains("refusing to run com.example/unsigned@1.0.0") && err.contains("no signature"),
        "{err}"
    );
    let exists = podman(&["container", "exists", &refused]).status().unwrap();
    assert!(!exists.success(), "nothing started for a refused entry");

    // warn: it runs, with a warning.
    thv.ok(&["config", "set-signature-policy", "warn"]);
    let warned = unique("warned");
    let stderr = thv.ok_stderr(&["run", "com.example/unsigned", "--name", &warned]);
    assert!(
        stderr.contains("warning: com.example/unsigned@1.0.0: signature not verified"),
        "{stderr}"
    );
}

/// The bound key's refusal, as every front end words it.
fn outside(key: &str, name: &str) -> String {
    format!("signed by {key}, which is trusted only for com.example.a/*, not for {name}")
}

#[tokio::test]
async fn a_key_bound_to_a_namespace_signs_nothing_else() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    ok(cli(h, &["keygen", "--output-key-prefix", "team-a"]));
    for (file, name) in [
        ("a.json", "com.example.a/bound"),
        ("b.json", "com.example.b/other"),
    ] {
        std::fs::write(h.join(file), entry(name).to_string()).unwrap();
        ok(cli(h, &["sign", file, "--key", "team-a.key", "--embed"]));
    }

    // verify: bound, the key signs its namespace only; unbound, every name (as before).
    let bound = "team-a.pub=com.example.a/*";
    assert!(ok(cli(h, &["verify", "a.json", "--key", bound])).contains("verified"));
    let err = fails(cli(h, &["verify", "b.json", "--key", bound]));
    assert!(
        err.contains(&outside("team-a.pub", "com.example.b/other")),
        "{err}"
    );
    assert!(ok(cli(h, &["verify", "b.json", "--key", "team-a.pub"])).contains("verified"));
    let err = fails(cli(
        h,
        &["verify", "a.json", "--key", "team-a.pub=com.*.a/x"],
    ));
    assert!(err.contains("'*' may only end a name pattern"), "{err}");

    // The registry API: publishing the other namespace's entry signed by the bound key is refused (422).
    let pub_key = h.join("team-a.pub").display().to_string();
    let api_home = tempfile::tempdir().unwrap();
    let bound_abs = format!("{pub_key}=com.example.a/*");
    let api = start_with(
        api_home.path(),
        &[
            "--no-seed",
            "--signature-policy",
            "enforce",
            "--trusted-key",
            &bound_abs,
        ],
    );
    let token = mint_token(api_home.path(), "com.example.*", "publish");
    let publish = |base: &str, token: &str, file: &str| {
        cli(h, &["publish", file, "--registry", base, "--token", token])
    };
    assert!(
        ok(publish(&api.base, &token, "a.json")).contains("published com.example.a/bound@1.0.0")
    );
    let err = fails(publish(&api.base, &token, "b.json"));
    assert!(
        err.contains(&outside(&pub_key, "com.example.b/other")),
        "{err}"
    );

    // thv run under `thv config set-signature-policy enforce --trusted-key team-a.pub=com.example.a/*`, against
    // a registry without a policy holding both entries: the other namespace's entry is refused before anything
    // starts.
    let open_home = tempfile::tempdir().unwrap();
    let open = start_with(open_home.path(), &["--no-seed"]);
    let open_token = mint_token(open_home.path(), "com.example.*", "publish");
    ok(publish(&open.base, &open_token, "a.json"));
    ok(publish(&open.base, &open_token, "b.json"));
    let thv = Thv::new();
    thv.ok(&["config", "set-registry", &open.base]);
    thv.ok(&[
        "config",
        "set-signature-policy",
        "enforce",
        "--trusted-key",
        &bound_abs,
    ]);
    let shown = thv.ok(&["config", "get-signature-policy"]);
    assert!(
        shown.contains(&format!("trusted key: {pub_key} (for com.example.a/*)")),
        "{shown}"
    );
    let refused = unique("bound");
    let err = thv.fails(&["run", "com.example.b/other", "--name", &refused]);
    assert!(
        err.contains("refusing to run com.example.b/other@1.0.0")
            && err.contains(&outside(&pub_key, "com.example.b/other")),
        "{err}"
    );
    // A bad pattern is refused by `thv config`, and the configuration is left as it was.
    let err = thv.fails(&[
        "config",
        "set-signature-policy",
        "enforce",
        "--trusted-key",
        &format!("{pub_key}="),
    ]);
    assert!(err.contains("a name pattern cannot be empty"), "{err}");
    assert_eq!(thv.ok(&["config", "get-signature-policy"]), shown);

    keyless_signers_bound_to_a_namespace(h, &thv, &open.base, &open_token).await;
}

/// A keyless signer with `names`: the API (YAML configuration) publishes its entry of the namespace and refuses
/// another namespace's (422); `thv run` under a `[signatures]` signer bound alike refuses that one.
async fn keyless_signers_bound_to_a_namespace(h: &Path, thv: &Thv, open: &str, open_token: &str) {
    const EMAIL: &str = "team-a@example.com";
    const ISSUER: &str = "https://issuer.example.com";
    let sigstore = TestSigstore::new();
    let root = h.join("trusted_root.json");
    std::fs::write(&root, sigstore.trusted_root()).unwrap();
    let leaf = sigstore.leaf(Subject::Email(EMAIL), ISSUER, &[]);
    for (file, name) in [
        ("ka.json", "com.example.a/keyless"),
        ("kb.json", "com.example.b/keyless"),
    ] {
        let mut e = entry(name);
        let bundle = sigstore.bundle(&canonical_bytes(&e).unwrap(), &leaf, SIGNED_AT, true);
        e["_meta"] = json!({ SIGNATURE_META: bundle });
        std::fs::write(h.join(file), e.to_string()).unwrap();
    }
    let signer = format!("{EMAIL} ({ISSUER})");

    let api_home = tempfile::tempdir().unwrap();
    let config = api_home.path().join("registry.yaml");
    std::fs::write(
        &config,
        format!(
            "no_seed: true\nsignature_policy:\n  mode: enforce\n  trusted_root: {}\n  signers:\n    - identity: {EMAIL}\n      \
             issuer: {ISSUER}\n      names: [\"com.example.a/*\"]\n",
            root.display()
        ),
    )
    .unwrap();
    let api = start_with(api_home.path(), &["--config", config.to_str().unwrap()]);
    let token = mint_token(api_home.path(), "com.example.*", "publish");
    let publish = |base: &str, token: &str, file: &str| {
        cli(h, &["publish", file, "--registry", base, "--token", token])
    };
    assert!(
        ok(publish(&api.base, &token, "ka.json")).contains("published com.example.a/keyless@1.0.0")
    );
    let err = fails(publish(&api.base, &token, "kb.json"));
    assert!(
        err.contains(&outside(&signer, "com.example.b/keyless")),
        "{err}"
    );

    ok(publish(open, open_token, "kb.json"));
    let config_file = thv.home().join(".config/thv/config.toml");
    std::fs::write(
        &config_file,
        format!(
            "[registry]\nurl = \"{open}\"\n\n[signatures]\nmode = \"enforce\"\ntrusted_root = \"{}\"\n\
             signers = [{{ identity = \"{EMAIL}\", issuer = \"{ISSUER}\", names = [\"com.example.a/*\"] }}]\n",
            root.display()
        ),
    )
    .unwrap();
    let shown = thv.ok(&["config", "get-signature-policy"]);
    assert!(
        shown.contains(&format!("keyless signer: {signer} (for com.example.a/*)")),
        "{shown}"
    );
    let refused = unique("keyless-bound");
    let err = thv.fails(&["run", "com.example.b/keyless", "--name", &refused]);
    assert!(
        err.contains("refusing to run com.example.b/keyless@1.0.0")
            && err.contains(&outside(&signer, "com.example.b/keyless")),
        "{err}"
    );
}
