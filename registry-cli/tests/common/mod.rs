//! Helpers for the `thv-registry` tests: run the built CLI, write input files, and start a real
//! `thv-registry-api` (the end-to-end tests' helpers, `tests/src/registry_api.rs`). Each test file uses a part.

#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The output of one `thv-registry` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit code {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `thv-registry ARGS` in `dir`.
pub fn cli(dir: &Path, args: &[&str]) -> Run {
    let out = thv_registry()
        .args(args)
        .current_dir(dir)
        .output()
        .expect("thv-registry runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A file of the repository's `data/` directory.
pub fn data_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data")
        .join(name)
}

/// Copies a file of `data/` into `dir` under `name`.
pub fn copy_data(dir: &Path, data: &str, name: &str) {
    if let Some(parent) = dir.join(name).parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::copy(data_file(data), dir.join(name)).unwrap();
}

/// Writes a JSON value to `dir/name`.
pub fn write_json(dir: &Path, name: &str, value: &Value) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

/// A `thv-registry` command (the binary built for this test run).
pub fn thv_registry() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_thv-registry"));
    cmd.env("NO_COLOR", "1").env_remove("THV_LOG");
    cmd
}

/// The `thv-registry-api` helpers of the end-to-end tests (`tests/src/registry_api.rs`).
pub use thv_e2e::registry_api::{
    RegistryApi, mint_token, postgres_database, start as start_registry_api,
    start_with as start_api,
};
