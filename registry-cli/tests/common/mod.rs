//! Helpers for the `thv-registry` tests: run the built CLI, write input files, start a real `thv-registry-api`
//! (the pattern of `tests/src/registry_api.rs`, which this crate cannot depend on).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

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

/// Path of a binary of this workspace built next to the test executable (target/<profile>/deps/<test> →
/// target/<profile>/<name>).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
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

/// A running `thv-registry-api`, killed when dropped.
pub struct RegistryApi {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Drop for RegistryApi {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A `thv-registry` command (the binary built for this test run).
pub fn thv_registry() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_thv-registry"));
    cmd.env("NO_COLOR", "1").env_remove("THV_LOG");
    cmd
}

/// A `thv-registry-api` command whose data and config live under `home`.
pub fn api_command(home: &Path) -> Command {
    let mut cmd = Command::new(binary("thv-registry-api"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"));
    cmd
}

/// Starts `thv-registry-api` with its data and config under `home`, on a free port of 127.0.0.1 (SQLite, seeded
/// from the bundled registry unless `extra` says `--no-seed`); the address is read from its JSON logs.
pub fn start_api(home: &Path, extra: &[&str]) -> RegistryApi {
    let mut child = api_command(home)
        .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
        .args(extra)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("thv-registry-api starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("thv-registry-api logs before listening")
            .expect("log line");
        let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if let Some(addr) = v["fields"]["addr"].as_str() {
            break addr.to_string();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    RegistryApi {
        child,
        base: format!("http://{addr}"),
    }
}

/// Starts `thv-registry-api` seeded from the bundled registry (102 servers).
pub fn start_registry_api(home: &Path) -> RegistryApi {
    start_api(home, &[])
}

/// A token minted by `thv-registry-api token` for `namespace` and `action`.
pub fn mint_token(home: &Path, namespace: &str, action: &str) -> String {
    let out = api_command(home)
        .args([
            "token",
            "--namespace",
            namespace,
            "--action",
            action,
            "--ttl",
            "10m",
        ])
        .output()
        .expect("thv-registry-api token");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .trim()
        .to_string()
}
