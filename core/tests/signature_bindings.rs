//! Trusted keys bound to name patterns: a key configured as `{path, names}` verifies only entries whose name
//! matches one of its patterns (`*`, `prefix*`, exact — the registry's rule); a signature by a key not bound to
//! the name is refused under `enforce` and reported under `warn`, naming the key file, its patterns and the
//! entry. A key given as a path alone is trusted for every name, as before. Bad bindings are refused at load
//! time naming the setting. Policies are written as configuration files do (serde), through the public API.

use std::path::Path;

use serde_json::{Value, json};
use thv_core::signature::{
    self, PolicyConfig, PolicyMode, SIGNATURE_META, SigStoreKeyPair, SignaturePolicy, Verdict,
};

fn entry(name: &str) -> Value {
    json!({
        "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
        "name": name, "description": "A signed entry", "version": "1.0.0"
    })
}

fn signed(name: &str, key: &SigStoreKeyPair) -> Value {
    let mut e = entry(name);
    let bundle = signature::sign_with_key(&e, key).unwrap();
    e["_meta"] = json!({ SIGNATURE_META: serde_json::to_value(bundle).unwrap() });
    e
}

fn key_file(dir: &Path, file: &str) -> (SigStoreKeyPair, String) {
    let key = signature::generate_key_pair().unwrap();
    let path = dir.join(file);
    std::fs::write(&path, key.public_key_to_pem().unwrap()).unwrap();
    (key, path.display().to_string())
}

/// A policy as a configuration file writes it.
fn policy(config: Value) -> Result<SignaturePolicy, String> {
    serde_json::from_value::<PolicyConfig>(config)
        .map_err(|e| format!("does not parse: {e}"))?
        .load()
        .map_err(|e| e.to_string())
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn a_bound_key_signs_only_its_names() {
    let dir = tempfile::tempdir().unwrap();
    let (team_a, team_a_pub) = key_file(dir.path(), "team-a.pub");
    let enforce = policy(json!({
        "mode": "enforce",
        "trusted_keys": [{"path": team_a_pub, "names": ["com.example.a/*", "com.example.shared/tool"]}]
    }))
    .unwrap();

    for name in [
        "com.example.a/x",
        "com.example.a/y",
        "com.example.shared/tool",
    ] {
        assert_eq!(
            block_on(enforce.check(&signed(name, &team_a))).unwrap(),
            Verdict::Verified {
                key: team_a_pub.clone()
            },
            "{name}"
        );
    }
    // Another namespace, a prefix that is not the pattern's, another case, another tool of the exact name:
    // refused, naming the key file, its patterns and the entry.
    for name in [
        "io.github.stacklok/github",
        "com.example.ab/x",
        "com.example.A/x",
        "com.example.shared/tool2",
    ] {
        let err = block_on(enforce.check(&signed(name, &team_a)))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "signed by {team_a_pub}, which is trusted only for com.example.a/*, com.example.shared/tool, \
                 not for {name}"
            )
        );
    }

    // Under warn, the same is reported and the entry is kept.
    let warn = policy(json!({
        "mode": "warn",
        "trusted_keys": [{"path": team_a_pub, "names": ["com.example.a/*"]}]
    }))
    .unwrap();
    match block_on(warn.check(&signed("com.example.b/x", &team_a))).unwrap() {
        Verdict::Failed(e) => assert!(
            e.to_string()
                .contains("trusted only for com.example.a/*, not for com.example.b/x"),
            "{e}"
        ),
        v => panic!("{v:?}"),
    }
}

#[test]
fn unbound_keys_are_trusted_for_every_name_and_bindings_of_one_file_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let (release, release_pub) = key_file(dir.path(), "release.pub");
    let (team_a, team_a_pub) = key_file(dir.path(), "team-a.pub");
    // A path alone, as before: every name. Beside it a bound key, and the bound key's file listed twice.
    let enforce = policy(json!({
        "mode": "enforce",
        "trusted_keys": [
            release_pub,
            {"path": team_a_pub, "names": ["com.example.a/*"]},
            {"path": team_a_pub, "names": ["com.example.b/only"]}
        ]
    }))
    .unwrap();
    for name in ["io.github.stacklok/github", "com.example.a/x", "x.y/z"] {
        assert!(
            matches!(block_on(enforce.check(&signed(name, &release))), Ok(Verdict::Verified { key }) if key == release_pub),
            "{name}"
        );
    }
    for name in ["com.example.a/x", "com.example.b/only"] {
        assert!(
            block_on(enforce.check(&signed(name, &team_a))).is_ok(),
            "{name}"
        );
    }
    let err = block_on(enforce.check(&signed("com.example.b/other", &team_a)))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "trusted only for com.example.a/*, com.example.b/only, not for com.example.b/other"
        ),
        "{err}"
    );
    // A key unknown to the policy is still "none of the trusted keys".
    let stranger = signature::generate_key_pair().unwrap();
    let err = block_on(enforce.check(&signed("com.example.a/x", &stranger)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("none of the trusted keys"), "{err}");

    // `*` binds a key to every name, like a path alone.
    let star = policy(json!({
        "mode": "enforce", "trusted_keys": [{"path": team_a_pub, "names": ["*"]}]
    }))
    .unwrap();
    assert!(block_on(star.check(&signed("io.github.stacklok/github", &team_a))).is_ok());
    // The older loader (key files alone) is unchanged.
    let old = SignaturePolicy::load(PolicyMode::Enforce, &[dir.path().join("team-a.pub")]).unwrap();
    assert!(block_on(old.check(&signed("io.github.stacklok/github", &team_a))).is_ok());
}

#[test]
fn configurations_round_trip_and_unbound_keys_stay_paths() {
    let config = json!({
        "mode": "enforce",
        "trusted_keys": ["/etc/thv/release.pub", {"path": "/etc/thv/team-a.pub", "names": ["com.example.a/*"]}],
        "trusted_root": "/etc/thv/trusted_root.json",
        "signers": [
            {"identity": "ci@example.com", "issuer": "https://issuer.example.com"},
            {"identity": "team-a@example.com", "issuer": "https://issuer.example.com", "names": ["com.example.a/*"]}
        ]
    });
    let parsed: PolicyConfig = serde_json::from_value(config.clone()).unwrap();
    assert_eq!(serde_json::to_value(&parsed).unwrap(), config);
    // A table without names is a path alone.
    let plain: PolicyConfig = serde_json::from_value(
        json!({"mode": "warn", "trusted_keys": [{"path": "/etc/thv/release.pub"}]}),
    )
    .unwrap();
    assert_eq!(
        serde_json::to_value(&plain).unwrap(),
        json!({"mode": "warn", "trusted_keys": ["/etc/thv/release.pub"]})
    );
    // A misspelt key of the table is refused, naming it.
    let err = serde_json::from_value::<PolicyConfig>(
        json!({"trusted_keys": [{"path": "k.pub", "name": ["a/*"]}]}),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("name"), "{err}");
}

#[test]
fn bad_bindings_are_refused_at_load_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let (_, team_a_pub) = key_file(dir.path(), "team-a.pub");
    let load = |names: Value| {
        policy(json!({"mode": "enforce", "trusted_keys": [{"path": team_a_pub, "names": names}]}))
    };
    for (names, says) in [
        (json!([""]), "'': a name pattern cannot be empty"),
        (
            json!(["com.*.a/x"]),
            "'com.*.a/x': '*' may only end a name pattern",
        ),
        (json!(["*/x"]), "'*/x': '*' may only end a name pattern"),
        (
            json!(["com.example.a/*,com.example.b/*"]),
            "cannot contain ','",
        ),
        (json!([]), "names is empty"),
    ] {
        let err = load(names.clone()).unwrap_err();
        assert!(
            err.contains(&format!("trusted_keys[0] ({team_a_pub}).names"))
                || err.contains(&format!("trusted_keys[0] ({team_a_pub}): names")),
            "{names}: {err}"
        );
        assert!(err.contains(says), "{names}: {err}");
    }
    // An unreadable key names the setting and the file.
    let missing = dir.path().join("nope.pub").display().to_string();
    let err =
        policy(json!({"mode": "enforce", "trusted_keys": [{"path": missing, "names": ["a.b/*"]}]}))
            .unwrap_err();
    assert!(
        err.contains(&format!("trusted_keys[0] ({missing})")),
        "{err}"
    );
    // Keyless signers' patterns are checked alike.
    let root = dir.path().join("trusted_root.json");
    std::fs::write(&root, signature::keyless::PUBLIC_GOOD_TRUSTED_ROOT).unwrap();
    let err = policy(json!({
        "mode": "enforce", "trusted_root": root,
        "signers": [{"identity": "ci@example.com", "issuer": "https://issuer.example.com", "names": ["a*b"]}]
    }))
    .unwrap_err();
    assert!(
        err.contains("signers[0] (ci@example.com).names")
            && err.contains("'a*b': '*' may only end a name pattern"),
        "{err}"
    );
}
