//! `thv-registry-api` run as an operator runs it, for the end-to-end tests: its own HOME and XDG dirs, a free
//! port, JSON logs (the listening address is read from them), killed when dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::binary;

/// A running `thv-registry-api`.
pub struct RegistryApi {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

/// A test that fails half-way must not leave a server running.
impl Drop for RegistryApi {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A `thv-registry-api` command whose data and config live under `home`.
pub fn command(home: &Path) -> Command {
    let mut cmd = Command::new(binary("thv-registry-api"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"));
    cmd
}

/// Starts the server on a free port of 127.0.0.1 (SQLite, seeded from the bundled registry).
pub fn start(home: &Path) -> RegistryApi {
    start_with(home, &[])
}

/// Like [`start`], with more arguments (`--no-seed`, …).
pub fn start_with(home: &Path, extra: &[&str]) -> RegistryApi {
    start_on(home, "127.0.0.1:0", extra)
}

/// A free port of 127.0.0.1 (for a server whose configuration must name its own URL before it starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Like [`start_with`], listening on `listen`.
pub fn start_on(home: &Path, listen: &str, extra: &[&str]) -> RegistryApi {
    start_command(command(home), listen, extra)
}

/// Like [`start_on`], from a prepared [`command`] (with more environment: `KUBECONFIG`, …).
pub fn start_command(mut cmd: Command, listen: &str, extra: &[&str]) -> RegistryApi {
    let mut child = cmd
        .args(["--listen", listen, "--log-format", "json"])
        .args(extra)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("thv-registry-api starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("server logs before listening")
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

/// Like [`start_command`], with a configuration file, no seed, and `admin` as the admin token (what the sync and
/// source tests run).
pub fn start_configured(cmd: Command, config: &Path, admin: &str) -> RegistryApi {
    let config = config.to_str().expect("a UTF-8 path");
    start_command(
        cmd,
        "127.0.0.1:0",
        &["--config", config, "--no-seed", "--admin-token", admin],
    )
}

/// A token minted by `thv-registry-api token` for `namespace` and `action`.
pub fn mint_token(home: &Path, namespace: &str, action: &str) -> String {
    let out = command(home)
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

/// A fresh, empty PostgreSQL database for one test on the server `TEST_DATABASE_URL` points at (created with
/// `psql`), as a `postgres://` URL for `--database-url`. `None` (the test skips, with the reason printed) when
/// `TEST_DATABASE_URL` is unset; under `CI=true` that is a failure instead.
pub fn postgres_database(tag: &str) -> Option<String> {
    let admin = match std::env::var("TEST_DATABASE_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => return crate::thv::skip("TEST_DATABASE_URL is unset (scripts/start-postgres.sh)"),
    };
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let db = format!(
        "thv_e2e_{tag}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    for sql in [
        format!("DROP DATABASE IF EXISTS {db}"),
        format!("CREATE DATABASE {db}"),
    ] {
        let out = Command::new("psql")
            .args([admin.as_str(), "-v", "ON_ERROR_STOP=1", "-q", "-c", &sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (base, query) = admin
        .split_once('?')
        .map_or((admin.as_str(), None), |(b, q)| (b, Some(q)));
    let base = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    Some(match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    })
}

/// An HTTP client for the tests' requests (a long timeout: a sync may be running).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .expect("an HTTP client")
}

/// `GET url`: the status and the JSON body (`null` when it is not JSON).
pub async fn get(url: &str) -> (u16, Value) {
    let resp = http().get(url).send().await.expect("an answer");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Every server item of a registry prefix (`{base}/v0.1` or `{base}/registry/x/v0.1`), page by page; `query`
/// adds parameters (`include_deleted=true`, ...).
pub async fn list_all(prefix: &str, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{prefix}/servers?limit=100");
        if !query.is_empty() {
            url.push('&');
            url.push_str(query);
        }
        if let Some(c) = &cursor {
            url.push_str(&format!(
                "&cursor={}",
                c.replace(':', "%3A").replace('/', "%2F")
            ));
        }
        let (code, page) = get(&url).await;
        assert_eq!(code, 200, "{url}: {page}");
        out.extend(page["servers"].as_array().expect("servers").iter().cloned());
        match page["metadata"]["nextCursor"].as_str() {
            Some(c) if !c.is_empty() => cursor = Some(c.to_owned()),
            _ => return out,
        }
    }
}

/// Waits (at most 90 s) until the source has completed (or failed) a sync; its `GET /v1/sources/{source}`.
pub async fn wait_synced(base: &str, source: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let (code, v) = get(&format!("{base}/v1/sources/{source}")).await;
        assert_eq!(code, 200, "{v}");
        if v["status"] == "complete" || v["status"] == "failed" {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "source {source} never synced: {v}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
