//! What `thv` says about its workloads, and how its commands behave at the edges (real binaries, the real
//! engine): a closed pipe, a killed proxy, `start --all` over running workloads, an engine that does not answer,
//! `proxy stdio` of a stopped workload, search, `logs prune`.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use thv_e2e::thv::{TEST_SERVER_IMAGE, Thv, engine_image_and_python, inspect, unique};

/// The first line a command prints, then its end: the reader goes away as `head -1` does.
fn first_line_then_close(thv: &Thv, args: &[&str]) -> (String, std::process::ExitStatus, String) {
    let mut child = thv
        .command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The pipe is closed here (the reader dropped); thv is still writing.
    let out = child.wait_with_output().unwrap();
    (
        first,
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_pipe_is_not_a_panic() {
    let thv = Thv::new();
    for args in [
        vec!["search", "server"],
        vec!["registry", "list"],
        vec!["registry", "list", "--format", "json"],
    ] {
        let (first, status, stderr) = first_line_then_close(&thv, &args);
        assert!(!first.is_empty(), "{args:?}");
        assert_ne!(status.code(), Some(101), "{args:?} panicked: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn search_finds_names_and_descriptions_not_the_shared_namespace() {
    let thv = Thv::new();
    let all = thv.ok(&["registry", "list"]).lines().count();
    // Every bundled entry is io.github.stacklok/…: the namespace alone finds only what mentions it otherwise.
    let stacklok = thv.ok(&["search", "stacklok"]).lines().count();
    assert!(stacklok < all / 2, "{stacklok} of {all}");
    let fetch = thv.ok(&["search", "fetch"]);
    assert!(fetch.contains("io.github.stacklok/fetch"), "{fetch}");
    let full = thv.ok(&["search", "io.github.stacklok/fetch"]);
    assert!(full.contains("io.github.stacklok/fetch"), "{full}");
}

#[test]
fn logs_prune_removes_the_logs_of_removed_workloads() {
    let thv = Thv::new();
    let logs = thv.home().join(".local/state/thv/logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("gone.log"), "old\n").unwrap();
    let out = thv.ok(&["logs", "prune"]);
    assert!(
        out.contains("gone.log") && out.contains("1 log file(s)"),
        "{out}"
    );
    assert!(!logs.join("gone.log").exists());
    // `prune` cannot name a workload: `thv logs prune` could never show its logs.
    let err = thv.fails(&["run", thv_e2e::thv::TEST_SERVER_IMAGE, "--name", "prune"]);
    assert!(err.contains("'prune' cannot name a workload"), "{err}");
}

#[test]
fn an_unreachable_engine_is_said_by_list() {
    let thv = Thv::new();
    // A workload recorded without an engine behind it: a remote URL needs none, so make a container one by hand.
    let state = thv.home().join(".local/state/thv");
    std::fs::create_dir_all(state.join("runconfigs")).unwrap();
    std::fs::write(
        state.join("runconfigs/offline.json"),
        r#"{"schema_version":"v1","image":"localhost/x:1","name":"offline","container_name":"offline","base_name":"offline","transport":"stdio","port":40001}"#,
    )
    .unwrap();
    let out = thv
        .command(&["list", "--all"])
        .env("DOCKER_HOST", "unix:///nonexistent/engine.sock")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("the container engine could not be asked"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("unknown"));
}

/// The proxy's PID as `thv status` reports it.
fn proxy_pid(thv: &Thv, name: &str) -> Option<i64> {
    thv.status(name)["proxy_pid"].as_i64()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn killed_proxies_running_workloads_and_proxy_stdio() {
    let Some(_py) = engine_image_and_python(TEST_SERVER_IMAGE, "scripts/build-test-images.sh")
    else {
        return;
    };
    let thv = Thv::new();
    let (a, b) = (unique("keep"), unique("kill"));
    for n in [&a, &b] {
        thv.ok(&["run", TEST_SERVER_IMAGE, "--name", n]);
    }

    // A proxy killed by a signal: the workload should run, so it is unhealthy, not stopped; its stdio server
    // exits with its stdin, and its egress sidecar is stopped with it.
    let pid = proxy_pid(&thv, &b).expect("a proxy PID");
    assert!(
        std::process::Command::new("kill")
            .arg(pid.to_string())
            .status()
            .unwrap()
            .success()
    );
    wait_for("the proxy to end", || proxy_pid(&thv, &b).is_none());
    let status: Value = thv.status(&b);
    assert_eq!(status["status"], "unhealthy", "{status}");
    assert!(
        status["status_context"]
            .as_str()
            .unwrap()
            .contains(&format!("thv start {b}")),
        "{status}"
    );
    wait_for("the sidecar to stop", || {
        inspect(&format!("{b}-egress"))["State"]["Running"] == false
    });
    let all = thv.ok(&["list"]);
    assert!(all.contains(&b) && all.contains("unhealthy"), "{all}");

    // `thv proxy stdio` of a workload that is not running says so.
    let err = thv.fails(&["proxy", "stdio", &b]);
    assert!(
        err.contains(&format!("workload '{b}' is unhealthy"))
            && err.contains(&format!("thv start {b}")),
        "{err}"
    );
    thv.ok(&["stop", &b]);
    let err = thv.fails(&["proxy", "stdio", &b]);
    assert!(err.contains(&format!("workload '{b}' is stopped")), "{err}");

    // `start --all` starts what should run and leaves what runs alone (same container, same proxy); what the
    // user stopped stays stopped.
    let (id, pid) = (inspect(&a)["Id"].clone(), proxy_pid(&thv, &a));
    let started_at = thv.status(&a)["started_at"].clone();
    let out = thv.ok(&["start", "--all"]);
    assert!(
        out.contains(&format!("{a} is running already: left alone")),
        "{out}"
    );
    assert_eq!(
        thv.status(&a)["started_at"],
        started_at,
        "not restarted, not said to be"
    );
    assert_eq!(inspect(&a)["Id"], id);
    assert_eq!(inspect(&a)["State"]["Running"], true);
    assert_eq!(proxy_pid(&thv, &a), pid, "the running proxy was left alone");
    assert_eq!(thv.status(&b)["status"], "stopped");

    // `thv logs --proxy` into a pipe closed after its first line: quiet (141), never "Broken pipe".
    let log = thv.home().join(format!(".local/state/thv/logs/{a}.log"));
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::io::Write::write_all(&mut f, "a proxy log line\n".repeat(100_000).as_bytes()).unwrap();
    let (first, status, stderr) = first_line_then_close(&thv, &["logs", "--proxy", &a]);
    assert!(!first.is_empty());
    assert_eq!(status.code(), Some(141), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
}

/// `thv run -f` whose stdout reader is gone (`thv run … -f | true`) keeps the workload under its control: it
/// runs, and Ctrl-C stops it (it exited at its first line, leaving the container running without a proxy).
#[test]
fn a_foreground_run_outlives_its_closed_stdout() {
    let Some(_py) = engine_image_and_python(TEST_SERVER_IMAGE, "scripts/build-test-images.sh")
    else {
        return;
    };
    let thv = Thv::new();
    let name = unique("fg");
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut child = thv
        .command(&["run", TEST_SERVER_IMAGE, "--name", &name, "-f"])
        .stdout(writer)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while thv
        .run(&["status", &name, "--format", "json"])
        .status
        .success()
        .then(|| thv.status(&name)["status"].clone())
        != Some(Value::from("running"))
    {
        assert!(
            child.try_wait().unwrap().is_none(),
            "thv run -f ended early"
        );
        assert!(Instant::now() < deadline, "never running");
        std::thread::sleep(Duration::from_millis(200));
    }
    nix_kill(child.id(), "INT");
    child.wait().unwrap();
    assert_eq!(thv.status(&name)["status"], "stopped");
    thv.ok(&["rm", &name]);
}

fn nix_kill(pid: u32, signal: &str) {
    let out = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success());
}
