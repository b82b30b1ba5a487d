//! The engine restarts under running workloads (ToolHive #2117, #3383: "proxy scuppered by rancher restart"):
//! the stdio server's attachment is gone and its container stopped with it; the workload's proxy waits for the
//! engine, starts the container again and attaches anew, on the same URL, with no `thv` command.
//!
//! Restarting the engine disturbs every other test that uses it, so this is the only test of its binary (cargo
//! runs test binaries one after another). It restarts Podman's API service as `scripts/setup-podman.sh` runs it
//! (root); elsewhere it skips, and under `CI=true` it fails.

use std::process::Command;
use std::time::Duration;

use serde_json::json;
use thv_e2e::thv::{
    TEST_SERVER_IMAGE, Thv, call_tool, engine_image_and_python, repo_root, skip, try_call, unique,
};

fn whoami(py: &std::path::Path, url: &str) -> Option<String> {
    let v = try_call(py, url, "streamable-http", "whoami", 10)?;
    v["calls"][0]["text"].as_str().map(str::to_owned)
}

#[test]
fn workloads_come_back_after_the_engine_restarts() {
    let Some(py) = engine_image_and_python(TEST_SERVER_IMAGE, "scripts/build-test-images.sh")
    else {
        return;
    };
    let podman_service =
        std::env::var("DOCKER_HOST").is_ok_and(|h| h == "unix:///run/podman/podman.sock");
    if !podman_service || !nix_is_root() {
        skip::<()>(
            "restarting the engine needs root and Podman's service from scripts/setup-podman.sh",
        );
        return;
    }
    let thv = Thv::new();
    let stdio = unique("eng-stdio");
    let http = unique("eng-http");
    thv.ok(&["run", TEST_SERVER_IMAGE, "--name", &stdio]);
    thv.ok(&[
        "run",
        TEST_SERVER_IMAGE,
        "--name",
        &http,
        "--transport",
        "streamable-http",
        "--target-port",
        "8080",
    ]);
    let (stdio_url, http_url) = (thv.url(&stdio), thv.url(&http));
    let before = whoami(&py, &stdio_url).expect("the stdio workload answers");
    assert!(whoami(&py, &http_url).is_some());

    // Restart the engine: stop its service, start it again.
    let killed = Command::new("pkill")
        .args(["-f", "podman system service"])
        .status()
        .unwrap();
    assert!(killed.success(), "no podman service to stop");
    std::thread::sleep(Duration::from_secs(1));
    let setup = Command::new("bash")
        .arg(repo_root().join("scripts/setup-podman.sh"))
        .output()
        .unwrap();
    assert!(
        setup.status.success(),
        "{}",
        String::from_utf8_lossy(&setup.stderr)
    );

    let mut after = None;
    for _ in 0..120 {
        if let Some(w) = whoami(&py, &stdio_url) {
            after = Some(w);
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let after = after.expect("the stdio workload answers again on its URL");
    assert_ne!(before, after, "a new server process behind the same URL");
    let mut http_ok = false;
    for _ in 0..60 {
        if whoami(&py, &http_url).is_some() {
            http_ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(http_ok, "the HTTP workload answers again");
    assert_eq!(thv.status(&stdio)["status"], "running");
    assert_eq!(
        call_tool(
            &py,
            &stdio_url,
            "streamable-http",
            "echo",
            &json!({"text": "back"})
        ),
        "back"
    );
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
