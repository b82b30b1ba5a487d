//! Helpers of the mirror bundle tests: `thv-registry` run in a directory (keys made there with an empty
//! password), and server.json entries for OCI images.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::oci::{Repository, push_test_image};
use crate::sigstore::{
    Leaf, OID_RUNNER_ENVIRONMENT, OID_SOURCE_REPOSITORY_REF, OID_SOURCE_REPOSITORY_URI, Subject,
    TestSigstore,
};
use crate::thv::unique;

/// `thv-registry ARGS` in `dir`: its exit code and its stdout followed by its stderr.
pub fn thv_registry(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(crate::binary("thv-registry"))
        .current_dir(dir)
        .env("COSIGN_PASSWORD", "")
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .expect("thv-registry runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// `thv-registry ARGS` in `dir`, which must succeed; its output.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let (code, out) = thv_registry(dir, args);
    assert_eq!(code, 0, "thv-registry {args:?}\n{out}");
    out
}

/// A server.json (version 1.0.0) running the OCI image `image` over stdio.
pub fn oci_entry(name: &str, image: &str) -> Value {
    json!({"$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
           "name": name, "description": "Mirrored", "version": "1.0.0",
           "packages": [{"registryType": "oci", "identifier": image, "transport": {"type": "stdio"}}]})
}

/// The source repository the keyless test signatures name.
pub const SOURCE_REPO: &str = "https://github.com/example/mcp-server";
/// SLSA provenance's predicate type.
pub const SLSA: &str = "https://slsa.dev/provenance/v1";

/// A GitHub Actions certificate of the tests' Sigstore for `workflow` of [`SOURCE_REPO`] at tag v1.0.0.
pub fn github_leaf(s: &TestSigstore, workflow: &str) -> Leaf {
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

/// The provenance `github_leaf("release.yml")` satisfies; with the SLSA attestation [`predicate`] when asked.
pub fn provenance(attestation: bool) -> Value {
    let mut p = json!({
        "sigstore_url": "tuf-repo-cdn.sigstore.dev", "repository_uri": SOURCE_REPO,
        "repository_ref": "refs/tags/v1.0.0", "signer_identity": "/.github/workflows/release.yml",
        "runner_environment": "github-hosted", "cert_issuer": "https://token.actions.githubusercontent.com",
    });
    if attestation {
        p["attestation"] = json!({"predicate_type": SLSA, "predicate": predicate()});
    }
    p
}

/// The SLSA predicate the test attestations carry.
pub fn predicate() -> Value {
    json!({"buildDefinition": {"buildType": "https://actions.github.io/buildtypes/workflow/v1"}})
}

/// A server.json for `image`, its ToolHive extension naming `provenance` when given.
pub fn entry(name: &str, image: &str, provenance: Option<Value>) -> Value {
    let mut e = oci_entry(name, image);
    if let Some(p) = provenance {
        e["_meta"] = json!({"io.modelcontextprotocol.registry/publisher-provided": {"io.github.stacklok": {
            image: {"status": "Active", "provenance": p}}}});
    }
    e
}

/// An image pushed under a fresh name; its reference by digest and its repository.
pub async fn image(reg: &str, name: &str) -> (String, Repository) {
    let tagged = format!("{reg}/{}:1", unique(name));
    push_test_image(&tagged, &[]);
    let repo = Repository::of(&tagged).await;
    let (_, digest) = repo.manifest().await;
    (format!("{}@{digest}", repo.name()), repo)
}

/// Writes `entries`, each signed with the publisher's key, as `file`.
pub fn registry_file(h: &Path, file: &str, entries: &[Value]) {
    let mut signed = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let path = format!("{file}-{i}.json");
        std::fs::write(h.join(&path), e.to_string()).unwrap();
        ok(h, &["sign", &path, "--key", "publisher.key", "--embed"]);
        signed
            .push(serde_json::from_slice::<Value>(&std::fs::read(h.join(&path)).unwrap()).unwrap());
    }
    std::fs::write(h.join(file), Value::Array(signed).to_string()).unwrap();
}
