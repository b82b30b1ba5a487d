//! The detached proxy process of a workload: `thv proxy-serve NAME` (a hidden command), started in its own
//! process group with its output appended to the workload's proxy log, so that it outlives the CLI and a
//! terminal's Ctrl-C. Its PID is recorded in the workload's status; a PID is only trusted when
//! `/proc/PID/cmdline` is still that command for that workload (PIDs are reused).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::proxy::ProxyMode;

/// The hidden subcommand the proxy process runs.
pub const PROXY_COMMAND: &str = "proxy-serve";

/// Starts the proxy process of `name`; returns its PID.
pub fn spawn(name: &str, log: &Path) -> anyhow::Result<u32> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict {}", dir.display()))?;
    }
    // Only the user reads the log (one written by an older thv is restricted too).
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(log)
        .with_context(|| format!("cannot open the proxy log {}", log.display()))?;
    out.set_permissions(std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot restrict the proxy log {}", log.display()))?;
    let err = out.try_clone()?;
    let exe = std::env::current_exe().context("cannot find the thv executable")?;
    let child = Command::new(exe)
        .arg(PROXY_COMMAND)
        .arg(name)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .context("cannot start the proxy process")?;
    Ok(child.id())
}

/// Whether `pid` is the proxy process of `name`.
pub fn is_proxy_of(pid: u32, name: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    // A zombie (exited, not yet reaped) has an empty cmdline.
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    args.iter().any(|a| *a == PROXY_COMMAND.as_bytes()) && args.contains(&name.as_bytes())
}

/// Stops the proxy process: SIGTERM, then SIGKILL after `grace`. A PID that is not the proxy of `name` is
/// left alone.
pub fn terminate(pid: u32, name: &str, grace: Duration) -> anyhow::Result<()> {
    if !is_proxy_of(pid, name) {
        return Ok(());
    }
    let p = Pid::from_raw(i32::try_from(pid).context("PID out of range")?);
    let _ = kill(p, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !is_proxy_of(pid, name) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = kill(p, Signal::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(2);
    while is_proxy_of(pid, name) {
        if Instant::now() > deadline {
            bail!("the proxy process {pid} of '{name}' does not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Waits until the proxy answers `GET /health` at `base` (`http://127.0.0.1:PORT`), or fails when the process
/// exits or `timeout` passes; the error carries the end of the proxy log.
pub async fn wait_ready(
    base: &str,
    pid: u32,
    name: &str,
    log: &Path,
    timeout: Duration,
) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(r) = client.get(format!("{base}/health")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if !is_proxy_of(pid, name) {
            bail!(
                "the proxy of '{name}' exited while starting; its log ({}):\n{}",
                log.display(),
                log_tail(log, 20)
            );
        }
        if Instant::now() > deadline {
            bail!(
                "the proxy of '{name}' did not answer at {base}/health within {timeout:?}; its log ({}):\n{}",
                log.display(),
                log_tail(log, 20)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last `n` lines of a log file.
pub fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A free TCP port on `host` in 10000–65535 (ToolHive's range), asked of the OS, and not in `reserved` (the
/// ports of stopped workloads, which must find theirs free when they start again).
pub fn free_port(host: &str, reserved: &std::collections::BTreeSet<u16>) -> anyhow::Result<u16> {
    for _ in 0..256 {
        let l = std::net::TcpListener::bind((host, 0))
            .with_context(|| format!("cannot bind a port on {host}"))?;
        let port = l.local_addr()?.port();
        if port >= 10000 && !reserved.contains(&port) {
            return Ok(port);
        }
    }
    bail!("no free port in 10000-65535 on {host}")
}

/// Whether `host:port` can be bound now.
pub fn port_is_free(host: &str, port: u16) -> bool {
    std::net::TcpListener::bind((host, port)).is_ok()
}

/// The transport the proxy speaks to its clients.
pub fn client_mode(rc: &thv_core::runconfig::RunConfig) -> ProxyMode {
    match (rc.transport, rc.effective_proxy_mode()) {
        (thv_core::runconfig::TransportType::Sse, _) | (_, Some(ProxyMode::Sse)) => ProxyMode::Sse,
        _ => ProxyMode::StreamableHttp,
    }
}

/// The RunConfig's middleware chain, every setting checked (`thv run` calls this before it starts anything).
pub fn middleware_chain(
    rc: &thv_core::runconfig::RunConfig,
    mode: ProxyMode,
) -> anyhow::Result<crate::middleware::Chain> {
    let settings = crate::middleware::ChainSettings {
        workload: rc.name.clone(),
        transport: rc.transport.to_string(),
        sse_clients: mode == ProxyMode::Sse,
        body_limit: crate::proxy::DEFAULT_BODY_LIMIT,
    };
    crate::middleware::Chain::from_run_config(
        &rc.middleware_configs,
        &rc.tools_filter,
        &rc.tools_override,
        &settings,
    )
    .map_err(|e| anyhow::anyhow!("invalid middleware configuration: {e}"))
}
