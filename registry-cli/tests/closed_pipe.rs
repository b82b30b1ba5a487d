//! No command panics on a closed pipe (`thv-registry convert FILE | head -1`): the reader is gone before the
//! command writes (the pipe's read end closed first, so the write fails deterministically with EPIPE); the
//! command ends quietly with the status of one killed by SIGPIPE (141), as other command-line tools do, where
//! `println!` panicked (exit 101 with a backtrace). A closed stderr does not change a command's status either.

mod common;

use std::process::Stdio;

use common::{data_file, thv_registry, write_json};
use serde_json::Value;

/// Runs `thv-registry ARGS` with stdout (and, with `close_stderr`, stderr) a pipe nobody reads any more.
fn run_into_closed_pipe(dir: &std::path::Path, args: &[&str], close_stderr: bool) -> (i32, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut cmd = thv_registry();
    cmd.args(args)
        .current_dir(dir)
        .stdout(writer.try_clone().unwrap());
    if close_stderr {
        cmd.stderr(writer);
    } else {
        drop(writer);
        cmd.stderr(Stdio::piped());
    }
    let out = cmd.output().unwrap();
    let code = out.status.code().unwrap_or(-1);
    (code, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn commands_writing_to_a_closed_pipe_end_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let legacy = data_file("toolhive-legacy-registry.json");
    let upstream = data_file("registry.json");
    let registry: Value = serde_json::from_slice(&std::fs::read(&upstream).unwrap()).unwrap();
    write_json(dir.path(), "server.json", &registry["data"]["servers"][0]);
    let (legacy, upstream) = (legacy.to_str().unwrap(), upstream.to_str().unwrap());
    let commands: Vec<Vec<&str>> = vec![
        vec!["convert", legacy],
        vec!["diff", legacy, upstream],
        vec!["diff", "--format", "json", legacy, upstream],
        vec!["export", "--out", "-", upstream],
        vec!["stats", upstream],
        vec!["validate", upstream],
        vec!["lint", upstream],
        vec!["canonicalize", "server.json"],
        vec!["completions", "bash"],
    ];
    for args in &commands {
        let (code, stderr) = run_into_closed_pipe(dir.path(), args, false);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(code, 141, "{args:?}: exit {code}, stderr: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
    }
    // Errors go to stderr; with stderr gone too, the status is still the command's own.
    let (code, _) = run_into_closed_pipe(dir.path(), &["canonicalize", "missing.json"], true);
    assert_eq!(
        code, 1,
        "canonicalize of a missing file with stdout and stderr closed"
    );
}

/// On a terminal (a pseudo-terminal made by `script`), control characters from the data are shown escaped: an
/// entry's `$schema` holding a title change and a screen clear does not reach the terminal as such.
#[test]
fn control_characters_reach_a_terminal_escaped() {
    let dir = tempfile::tempdir().unwrap();
    write_json(
        dir.path(),
        "esc.json",
        &serde_json::json!([{"$schema": "https://example.com/x.json\u{1b}]0;PWNED\u{7}\u{1b}[2J",
                              "name": "io.github.x/esc", "description": "d", "version": "1.0.0"}]),
    );
    let bin = env!("CARGO_BIN_EXE_thv-registry");
    let out = std::process::Command::new("script")
        .args(["-qec", &format!("{bin} validate esc.json"), "/dev/null"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("script (util-linux) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("PWNED"), "{text}");
    assert!(
        !text.contains("\u{1b}]0;"),
        "a raw escape sequence reached the terminal: {text:?}"
    );
    assert!(text.contains("\\u{1b}]0;PWNED\\u{7}"), "{text:?}");
}
