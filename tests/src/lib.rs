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

pub mod dns;
pub mod idp;
pub mod kube;
pub mod mirror;
pub mod netns;
pub mod oci;
pub mod publisher;
pub mod registry_api;
pub mod sigstore;
pub mod thv;

/// Records that a test skipped (outside CI; under `CI=true` tests fail instead): a line with the reason in
/// `test-skips.log` beside the built binaries, which `scripts/test.sh` counts at the end. A test that returns
/// early reports `ok`, so a green run could not show its skips otherwise.
pub fn record_skip(why: &str) {
    use std::io::Write;
    eprintln!("skipping: {why}");
    let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent()?.parent().map(std::path::Path::to_path_buf))
    else {
        return;
    };
    let test = std::env::current_exe()
        .ok()
        .and_then(|e| e.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("test-skips.log"))
    {
        let first_line = why.lines().next().unwrap_or_default();
        let _ = writeln!(f, "{test}: {first_line}");
    }
}
