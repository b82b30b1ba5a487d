//! `thv autostart enable|disable|status`: bring the workloads back after a reboot (ToolHive #431) with a systemd
//! user unit that runs `thv start --all` when the user's session starts. The unit is written to
//! `$XDG_CONFIG_HOME/systemd/user/thv-autostart.service`; `systemctl --user` enables it when systemd is there (on a
//! machine without it the unit is still written, and the command says how to enable it).

use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;
use clap::Subcommand;

use crate::dirs::write_atomic;

/// The unit's file name.
pub const UNIT: &str = "thv-autostart.service";

#[derive(Debug, Subcommand)]
pub enum AutostartCommand {
    /// Write and enable the unit (it records this thv binary and the current DOCKER_HOST).
    Enable,
    /// Disable and remove the unit.
    Disable,
    /// Show whether the unit is installed.
    Status,
}

fn unit_path() -> anyhow::Result<PathBuf> {
    let base = directories::BaseDirs::new().context("no home directory: set HOME")?;
    Ok(base.config_dir().join("systemd/user").join(UNIT))
}

/// The unit's text.
pub fn unit_text(thv: &str, docker_host: Option<&str>) -> String {
    let env = docker_host
        .map(|h| format!("Environment=DOCKER_HOST={h}\n"))
        .unwrap_or_default();
    format!(
        "# Written by `thv autostart enable`: starts every thv workload not stopped with `thv stop`.\n\
         [Unit]\n\
         Description=Start thv's MCP workloads (thv start --all)\n\
         Wants=network-online.target\n\
         After=network-online.target podman.socket docker.service\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         RemainAfterExit=yes\n\
         {env}ExecStart=\"{thv}\" start --all\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n"
    )
}

/// `systemctl --user ARGS`: `Ok(false)` when systemd is not there.
fn systemctl(args: &[&str]) -> anyhow::Result<bool> {
    match Command::new("systemctl").arg("--user").args(args).output() {
        Ok(o) if o.status.success() => Ok(true),
        Ok(o) => {
            thv_core::errln!(
                "warning: systemctl --user {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&o.stderr).trim()
            );
            Ok(false)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).context("cannot run systemctl"),
    }
}

pub fn autostart(c: AutostartCommand) -> anyhow::Result<i32> {
    let path = unit_path()?;
    match c {
        AutostartCommand::Enable => {
            let exe = std::env::current_exe().context("cannot find the thv executable")?;
            let exe = exe
                .to_str()
                .context("the thv executable's path is not UTF-8")?;
            let host = std::env::var("DOCKER_HOST").ok();
            write_atomic(&path, unit_text(exe, host.as_deref()).as_bytes(), 0o644)
                .with_context(|| format!("cannot write {}", path.display()))?;
            outln!("wrote {}", path.display());
            if systemctl(&["daemon-reload"])? && systemctl(&["enable", UNIT])? {
                outln!("enabled: `thv start --all` runs when your session starts");
            } else {
                outln!(
                    "systemd is not available here: enable it with `systemctl --user enable {UNIT}`"
                );
            }
        }
        AutostartCommand::Disable => {
            let _ = systemctl(&["disable", UNIT])?;
            match std::fs::remove_file(&path) {
                Ok(()) => outln!("removed {}", path.display()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => outln!("not installed"),
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot remove {}", path.display()));
                }
            }
        }
        AutostartCommand::Status => {
            if path.is_file() {
                outln!("installed: {}", path.display());
            } else {
                outln!("not installed ({} does not exist)", path.display());
            }
        }
    }
    Ok(0)
}
