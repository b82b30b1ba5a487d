//! `thv run` refuses bad input with a clear error before anything starts (no container, no state), and says
//! which engine sockets it tried when none answers.

use thv_e2e::thv::Thv;

/// The workload names the refused runs below would have used.
const NAMES: &[&str] = &[
    "fetch",
    "fetc",
    "github",
    "img",
    "thv-test-busybox",
    "x",
    "yes",
    "c",
];

/// Nothing was started: no workload state (RunConfig, status record, name reservation), no container, sidecar
/// or network of the names the runs would have used, no proxy process.
fn nothing_started(thv: &Thv) {
    let state = thv.home().join(".local/state/thv");
    for dir in ["runconfigs", "workloads", "locks"] {
        let left: Vec<_> = std::fs::read_dir(state.join(dir))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        assert!(left.is_empty(), "left in {dir}: {left:?}");
    }
    // Exact names (`podman container exists` would also take an id prefix).
    let names = |args: &[&str]| -> Vec<String> {
        let out = thv_e2e::thv::podman(args).output().expect("podman");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    };
    let containers = names(&["ps", "-a", "--format", "{{.Names}}"]);
    let networks = names(&["network", "ls", "--format", "{{.Name}}"]);
    for name in NAMES {
        for container in [name.to_string(), format!("{name}-egress")] {
            assert!(
                !containers.contains(&container),
                "container {container} exists"
            );
        }
        let network = format!("toolhive-{name}-internal");
        assert!(!networks.contains(&network), "network {network} exists");
    }
    let home = thv.home().to_string_lossy().into_owned();
    let proxies = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|p| {
            let environ = std::fs::read(p.path().join("environ")).unwrap_or_default();
            let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&cmdline).contains("proxy-serve")
                && String::from_utf8_lossy(&environ).contains(&home)
        })
        .count();
    assert_eq!(proxies, 0, "a proxy process of this sandbox runs");
}

#[test]
fn unknown_name_suggests_close_names() {
    let thv = Thv::new();
    let err = thv.fails(&["run", "fetc"]);
    assert!(err.contains("no server named 'fetc'"), "{err}");
    assert!(
        err.contains("did you mean") && err.contains("fetch"),
        "{err}"
    );
    nothing_started(&thv);
}

#[test]
fn malformed_image_references_are_refused() {
    let thv = Thv::new();
    for (image, rule) in [
        ("ghcr.io/Stacklok/fetch:1", "uppercase"),
        ("localhost/img:-bad", "tag"),
        ("localhost/img@sha256:123", "digest"),
        ("localhost//img:1", "empty"),
    ] {
        let err = thv.fails(&["run", image]);
        assert!(
            err.contains("not a valid image reference") && err.contains(rule),
            "{image}: {err}"
        );
    }
    nothing_started(&thv);
}

#[test]
fn bad_schemes_and_packages_are_refused() {
    let thv = Thv::new();
    let err = thv.fails(&["run", "ftp://example.com/x"]);
    assert!(err.contains("unknown scheme 'ftp://'"), "{err}");
    let err = thv.fails(&["run", "uvx://bad name"]);
    assert!(err.contains("invalid package"), "{err}");
    let err = thv.fails(&["run", "npx://pkg@"]);
    assert!(err.contains("version after '@' is empty"), "{err}");
    nothing_started(&thv);
}

#[test]
fn missing_required_env_var_is_named() {
    let thv = Thv::new();
    // The bundled registry's github server requires its token.
    let err = thv.fails(&["run", "github"]);
    assert!(
        err.contains("requires the environment variable GITHUB_PERSONAL_ACCESS_TOKEN"),
        "{err}"
    );
    assert!(err.contains("--secret"), "{err}");
    nothing_started(&thv);
}

#[test]
fn missing_secret_is_named_before_anything_starts() {
    let thv = Thv::new();
    let err = thv.fails(&["run", "fetch", "--secret", "nope,target=FETCH_TOKEN"]);
    assert!(err.contains("secret not found: nope"), "{err}");
    assert!(err.contains("thv secret set"), "{err}");
    nothing_started(&thv);
}

#[test]
fn bad_flags_name_the_flag() {
    let thv = Thv::new();
    let err = thv.fails(&["run", "fetch", "-e", "NOEQUALS"]);
    assert!(err.contains("-e") && err.contains("KEY=VALUE"), "{err}");
    let err = thv.fails(&["run", "fetch", "--name", "bad name"]);
    assert!(err.contains("--name"), "{err}");
    let err = thv.fails(&[
        "run",
        "fetch",
        "--permission-profile",
        "/nonexistent/profile.json",
    ]);
    assert!(err.contains("/nonexistent/profile.json"), "{err}");
    nothing_started(&thv);
}

#[test]
fn unreachable_engine_names_the_sockets_tried() {
    let thv = Thv::new();
    let out = thv
        .command(&["run", "fetch"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("XDG_RUNTIME_DIR", "/nonexistent-runtime")
        .output()
        .expect("run thv");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no container engine answered"), "{err}");
    assert!(err.contains("/nonexistent/docker.sock"), "{err}");
    nothing_started(&thv);
    let out = thv
        .command(&["runtime", "check"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .expect("run thv");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/docker.sock"));
}

#[test]
fn unknown_workloads_are_errors() {
    let thv = Thv::new();
    for cmd in [
        vec!["stop", "ghost"],
        vec!["start", "ghost"],
        vec!["rm", "ghost"],
        vec!["status", "ghost"],
        vec!["logs", "ghost"],
        vec!["export", "ghost", "/tmp/x.json"],
    ] {
        let err = thv.fails(&cmd);
        assert!(err.contains("workload 'ghost' not found"), "{cmd:?}: {err}");
    }
    let out = thv.ok(&["list", "--all"]);
    assert!(out.contains("No MCP servers found"), "{out}");
}

#[test]
fn mount_traversal_and_injection_are_refused() {
    let thv = Thv::new();
    for volume in [
        "/etc/../../root:/x",
        "relative:/x",
        "/tmp/$(reboot):/x",
        "/tmp:/x:rx",
    ] {
        let err = thv.fails(&["run", "fetch", "-v", volume]);
        assert!(err.contains("-v/--volume"), "{volume}: {err}");
    }
    let profile = thv.home().join("profile.json");
    std::fs::write(&profile, r#"{"read": ["/srv/../../root:/data"], "network": {"outbound": {"insecure_allow_all": true}}}"#)
        .unwrap();
    let err = thv.fails(&[
        "run",
        "fetch",
        "--permission-profile",
        profile.to_str().unwrap(),
    ]);
    assert!(
        err.contains("profile.json") && err.contains("read[0]"),
        "{err}"
    );
    nothing_started(&thv);
}

/// A mount of a host path that does not exist is refused, naming it (the engine would create it, as root); so
/// is a profile key thv does not know (a misspelt rule must not silently allow more), and a package name the
/// package tool would read as an option.
#[test]
fn missing_host_paths_unknown_profile_keys_and_option_like_packages_are_refused() {
    let thv = Thv::new();
    let missing = thv.home().join("no-such-dir/deep");
    let err = thv.fails(&[
        "run",
        "localhost/thv-test-busybox:latest",
        "-v",
        &format!("{}:/x", missing.display()),
    ]);
    assert!(
        err.contains("volumes[0]")
            && err.contains("does not exist")
            && err.contains("no-such-dir/deep"),
        "{err}"
    );
    assert!(
        !thv.home().join("no-such-dir").exists(),
        "nothing was created"
    );

    let profile = thv.home().join("profile.json");
    std::fs::write(
        &profile,
        r#"{"network": {"outbound": {"allow_hosts": ["api.github.com"], "allow_port": [443]}}}"#,
    )
    .unwrap();
    let err = thv.fails(&[
        "run",
        "fetch",
        "--permission-profile",
        profile.to_str().unwrap(),
    ]);
    assert!(
        err.contains("network.outbound.allow_hosts") && err.contains("unknown key"),
        "{err}"
    );
    for pkg in ["npx://--yes", "uvx://-c", "go://-toolexec=/bin/sh"] {
        let err = thv.fails(&["run", pkg]);
        assert!(err.contains("starts with '-'"), "{pkg}: {err}");
    }
    nothing_started(&thv);
}

/// Files thv reads must be regular files of a sane size: `/dev/zero` used to exhaust memory or hang.
#[test]
fn special_files_are_refused_not_read_forever() {
    let thv = Thv::new();
    for args in [
        vec!["run", "fetch", "--env-file", "/dev/zero"],
        vec!["run", "fetch", "--permission-profile", "/dev/zero"],
        vec!["run", "fetch", "--tools-override", "/dev/zero"],
        vec!["run", "--from-config", "/dev/zero"],
        vec!["run", "fetch", "--env-file", "/tmp"],
    ] {
        let err = thv.fails(&args);
        assert!(err.contains("not a regular file"), "{args:?}: {err}");
    }
    nothing_started(&thv);
}
