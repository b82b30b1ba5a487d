//! `thv autostart enable|status|disable`: the systemd user unit that runs `thv start --all` at login (workloads
//! survive reboots). On a machine without systemd the unit is still written, with instructions.

use thv_e2e::thv::Thv;

#[test]
fn the_unit_is_written_and_removed() {
    let thv = Thv::new();
    let unit = thv
        .home()
        .join(".config/systemd/user/thv-autostart.service");
    assert!(thv.ok(&["autostart", "status"]).contains("not installed"));
    let out = thv
        .command(&["autostart", "enable"])
        .env("DOCKER_HOST", "unix:///run/podman/podman.sock")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&unit).expect("the unit is written");
    let thv_bin = thv_e2e::binary("thv");
    assert!(
        text.contains(&format!("ExecStart=\"{}\" start --all", thv_bin.display())),
        "{text}"
    );
    assert!(
        text.contains("Environment=DOCKER_HOST=unix:///run/podman/podman.sock"),
        "{text}"
    );
    assert!(text.contains("WantedBy=default.target"), "{text}");
    assert!(thv.ok(&["autostart", "status"]).contains("installed"));
    // What the unit runs works with no workloads at all.
    assert!(
        thv.ok(&["start", "--all"])
            .contains("No workloads to start")
    );
    thv.ok(&["autostart", "disable"]);
    assert!(!unit.exists());
}
