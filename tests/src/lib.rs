//! Helpers for the end-to-end tests: find the workspace's built binaries and run them as users do.

use std::path::PathBuf;

/// Path of a binary built by this workspace (`cargo build --workspace --bins` must have run; `scripts/test.sh`
/// does it).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target profile dir");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} not built: run `cargo build --workspace --bins` (scripts/test.sh does)",
        path.display()
    );
    path
}

pub mod netns;
pub mod oci;
pub mod registry_api;
pub mod sigstore;
pub mod thv;
