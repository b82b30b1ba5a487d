//! PostgreSQL goes down under a running registry API (issue 14, item 8): requests that need the database are
//! answered 503 within the configured acquire timeout (they waited 10 s), and the outage is logged once — not once
//! per request — and again after the database came back and went down anew.
//!
//! The database is a throwaway PostgreSQL cluster this test creates, stops and restarts (`initdb`, `pg_ctl`; as
//! the `postgres` user when run as root); the shared `TEST_DATABASE_URL` server is left alone. Without
//! PostgreSQL's server binaries the test skips with a printed reason — except under `CI=true`, where it fails.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Backend, Options, TestApp, server_json};
use reqwest::StatusCode;

/// The acquire timeout the test configures.
const TIMEOUT: Duration = Duration::from_millis(1500);

/// The tests of this file, one at a time: the first one counts the log lines of the whole process.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Everything the registry logs, as text.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
    fn count(&self, needle: &str) -> usize {
        self.text().matches(needle).count()
    }
    /// Warnings and errors.
    fn alarms(&self) -> usize {
        self.text()
            .lines()
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
            .count()
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A PostgreSQL cluster of the test's own in a temporary directory; removed when dropped.
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl Cluster {
    /// `None` (after saying why) when PostgreSQL's server binaries are not installed, outside CI.
    fn create() -> Option<Self> {
        let Some(bin) = server_binaries() else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "PostgreSQL's server binaries (initdb, pg_ctl) are missing, and this test may not skip under CI=true"
                );
            }
            eprintln!("skipping: PostgreSQL's server binaries (initdb, pg_ctl) are not installed");
            return None;
        };
        let dir =
            String::from_utf8(as_postgres("mktemp", &["-d", "/tmp/thv-outage-pg.XXXXXX"]).stdout)
                .unwrap()
                .trim()
                .into();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Self { bin, dir, port };
        let dir = cluster.dir.display().to_string();
        cluster.run(
            "initdb",
            &[
                "-D",
                &dir,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        cluster.start();
        Some(cluster)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn start(&self) {
        let dir = self.dir.display().to_string();
        let log = self.dir.join("server.log").display().to_string();
        let options = format!(
            "-p {} -k {dir} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port
        );
        self.run(
            "pg_ctl",
            &[
                "-D", &dir, "-l", &log, "-w", "-t", "60", "-o", &options, "start",
            ],
        );
    }

    /// Stops the server at once (`immediate`): every connection is cut, new ones are refused.
    fn stop(&self) {
        let dir = self.dir.display().to_string();
        self.run("pg_ctl", &["-D", &dir, "-m", "immediate", "-w", "stop"]);
    }

    /// Sends `signal` (`STOP`, `CONT`) to the server and every one of its processes: a stopped server keeps its
    /// connections open (the kernel still accepts and acknowledges) but answers nothing, as a hung host would.
    fn signal(&self, signal: &str) {
        let pid = std::fs::read_to_string(self.dir.join("postmaster.pid")).unwrap();
        let pid = pid.lines().next().unwrap().trim().to_string();
        let children = Command::new("pgrep").args(["-P", &pid]).output().unwrap();
        let mut pids = vec![pid];
        pids.extend(
            String::from_utf8_lossy(&children.stdout)
                .split_whitespace()
                .map(str::to_string),
        );
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .args(&pids)
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {pids:?}");
    }

    /// Runs SQL from another database (template1).
    fn psql(&self, sql: &str) {
        let port = self.port.to_string();
        self.run(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-d",
                "template1",
                "-c",
                sql,
            ],
        );
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let tool = self.bin.join(tool).display().to_string();
        let out = as_postgres(&tool, args);
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let dir = self.dir.display().to_string();
        let tool = self.bin.join("pg_ctl").display().to_string();
        let _ = as_postgres(&tool, &["-D", &dir, "-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest `/usr/lib/postgresql/*/bin`, or the directory of `initdb` on the `PATH`.
fn server_binaries() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").is_file())
        .collect();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(Path::file_name)
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
    });
    versions.pop().or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
        })
    })
}

/// Runs `tool` as the `postgres` user when this process is root (PostgreSQL refuses to run as root).
fn as_postgres(tool: &str, args: &[&str]) -> std::process::Output {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let mut cmd = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", tool]);
        c
    } else {
        Command::new(tool)
    };
    cmd.args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"))
}

/// One request that needs the database (a search no earlier request made: not in the read cache); its status
/// and how long it took.
async fn uncached(app: &TestApp, n: usize) -> (StatusCode, serde_json::Value, Duration) {
    let started = Instant::now();
    let (status, body) = app.get(&format!("/v0.1/servers?search=outage-{n}")).await;
    (status, body, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_fail_fast_while_postgres_is_down_and_the_outage_is_logged_once() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let Some(cluster) = Cluster::create() else {
        return;
    };
    let logs = Logs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .init();
    let app = TestApp::start_with(
        Backend::Postgres,
        Options {
            database_url: Some(cluster.url()),
            database_acquire_timeout: TIMEOUT,
            ..Default::default()
        },
    )
    .await
    .expect("started");
    app.publish_ok("com.example/outage", "1.0.0").await;
    let mut n = 0;
    let (status, _, _) = uncached(&app, n).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(logs.count("the database is unreachable"), 0);

    for outage in 1..=2 {
        cluster.stop();
        let mut alarms_after_first = None;
        for _ in 0..4 {
            n += 1;
            let (status, body, took) = uncached(&app, n).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
            assert_eq!(
                body["error"],
                "Registry storage is unavailable, retry later"
            );
            // A pooled connection the stop broke fails at once; a new one is tried until the acquire timeout.
            assert!(
                took < TIMEOUT + Duration::from_secs(2),
                "answered after {took:?}, not within the acquire timeout ({TIMEOUT:?})"
            );
            alarms_after_first.get_or_insert_with(|| logs.alarms());
        }
        // A write fails as fast.
        let started = Instant::now();
        let (status, body) = app
            .publish(&server_json("com.example/outage", &format!("{outage}.0.1")))
            .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(started.elapsed() < TIMEOUT + Duration::from_secs(2));
        // One line says so; more requests add no warning.
        assert_eq!(
            logs.count("the database is unreachable"),
            outage,
            "{}",
            logs.text()
        );
        assert_eq!(
            Some(logs.alarms()),
            alarms_after_first,
            "warnings grew with the requests:\n{}",
            logs.text()
        );

        cluster.start();
        n += 1;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body, _) = uncached(&app, n).await;
            if status == StatusCode::OK {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "not back after a restart: {body}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(
            logs.count("the database is reachable again"),
            outage,
            "{}",
            logs.text()
        );
        app.publish_ok("com.example/outage", &format!("{}.0.0", outage + 1))
            .await;
    }

    // The server up but the database refusing logins (closed to connections): 503 as well, never a 500.
    cluster.psql("ALTER DATABASE postgres ALLOW_CONNECTIONS false");
    cluster
        .psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'postgres'");
    for _ in 0..2 {
        n += 1;
        let (status, body, _) = uncached(&app, n).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    }
    assert_eq!(
        logs.count("the database is unreachable"),
        3,
        "{}",
        logs.text()
    );
    cluster.psql("ALTER DATABASE postgres ALLOW_CONNECTIONS true");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        n += 1;
        let (status, body, _) = uncached(&app, n).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "not back: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.stop().await;
    drop(cluster);
}

/// A PostgreSQL server that stops answering (a hung host, a network that drops packets) without closing its
/// connections: reads and writes in flight and new ones are answered 503 within the read or write (or acquire)
/// timeout instead of waiting forever, and the connections they waited on are closed, so that the API serves again
/// as soon as the server answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_fail_within_the_read_timeout_while_postgres_hangs() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let Some(cluster) = Cluster::create() else {
        return;
    };
    let app = TestApp::start_with(
        Backend::Postgres,
        Options {
            database_url: Some(cluster.url()),
            database_acquire_timeout: TIMEOUT,
            database_read_timeout: TIMEOUT,
            database_write_timeout: TIMEOUT,
            ..Default::default()
        },
    )
    .await
    .expect("started");
    app.publish_ok("com.example/hang", "1.0.0").await;
    let app = Arc::new(app);
    let reads = |from: usize| {
        let app = app.clone();
        async move {
            let all = (from..from + 6).map(|n| {
                let app = app.clone();
                async move {
                    tokio::time::timeout(Duration::from_secs(15), uncached(&app, n))
                        .await
                        .unwrap_or_else(|_| panic!("read {n} still waits after 15 s"))
                }
            });
            futures::future::join_all(all).await
        }
    };
    for (status, body, _) in reads(0).await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    cluster.signal("STOP");
    // Writes at once, on the connections the reads above left in the pool (idle under a second: not pinged when
    // taken), likewise (they waited as long as the server did, holding those connections).
    let writes = (0..4).map(|i| {
        let app = app.clone();
        async move {
            let started = Instant::now();
            let (status, body) = tokio::time::timeout(
                Duration::from_secs(15),
                app.publish(&server_json("com.example/hang", &format!("1.{i}.1"))),
            )
            .await
            .unwrap_or_else(|_| panic!("publish {i} still waits after 15 s"));
            (status, body, started.elapsed())
        }
    });
    for (status, body, took) in futures::future::join_all(writes).await {
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(
            took < TIMEOUT + Duration::from_secs(2),
            "answered after {took:?}, not within the write timeout ({TIMEOUT:?})"
        );
    }
    for round in 1..=2 {
        for (status, body, took) in reads(round * 100).await {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
            assert!(
                took < TIMEOUT + Duration::from_secs(2),
                "answered after {took:?}, not within the read timeout ({TIMEOUT:?})"
            );
        }
    }
    cluster.signal("CONT");

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut n = 1000;
    loop {
        n += 10;
        let answers = reads(n).await;
        if answers
            .iter()
            .all(|(status, _, _)| *status == StatusCode::OK)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not back after the server answers again: {:?}",
            answers.iter().map(|a| a.0).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.publish_ok("com.example/hang", "2.0.0").await;
    Arc::into_inner(app).expect("one owner").stop().await;
    drop(cluster);
}
