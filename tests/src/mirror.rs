//! Helpers of the mirror bundle tests: `thv-registry` run in a directory (keys made there with an empty
//! password), and server.json entries for OCI images.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

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
