//! The proxy process of one workload (`thv proxy-serve NAME`, started detached by `thv run`/`start`; or
//! in-process with `thv run --foreground`). It serves the workload's proxy on the RunConfig's host and port
//! until SIGTERM/SIGINT:
//!
//! - **stdio** server: attaches to the container's stdin/stdout and serves it through a
//!   [`StdioBridge`] (streamable HTTP or SSE, as `proxy_mode` says). When the
//!   attachment ends (the container stopped or restarted, or the engine restarted), it waits for the container
//!   to run again and attaches anew: clients' sessions of the old attachment end (404, they initialize again),
//!   the port stays the same. This is what ToolHive users report broken (#2117, #3383);
//! - **sse / streamable-http** server: the transparent proxy to the container's port published on the host
//!   (a fixed host port chosen at creation, so it survives container restarts);
//! - **remote** server: the transparent proxy to the remote URL.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context, bail};
use thv_core::runconfig::{RunConfig, TransportType};
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::dirs::Dirs;
use crate::proxy::{BridgeConfig, ProxyConfig, RunningProxy, StdioBridge};
use crate::runtime::{Runtime, RuntimeError};
use crate::state::Desired;
use crate::workloads::Manager;
use crate::workloads::proxy_process::{client_mode, middleware_chain};

/// How often the supervisor looks at a stdio server's attachment and a stopped container.
const POLL: Duration = Duration::from_millis(500);

struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

/// Serves the proxy of workload `name` until a signal. With `foreground`, the signal also stops the
/// workload's container (as `thv stop` would).
pub async fn serve_workload(dirs: Dirs, name: &str, foreground: bool) -> anyhow::Result<()> {
    let manager = Manager::new(dirs)?;
    let rc = manager.store().load_runconfig(name)?;
    // Nothing this process logs shows the workload's secret values.
    crate::redact::set_global(crate::redact::Redactor::new(
        &manager.secrets().known_values(&rc),
    ));
    let pid = std::process::id();
    manager
        .store()
        .update_status(name, |s| s.proxy_pid = Some(pid))?;
    let mut signals = Signals::new()?;
    let mut config = proxy_config(&rc)?;
    if let Some(addr) = config.middleware.start().await? {
        let url = format!("http://{addr}/metrics");
        tracing::info!(workload = %name, "metrics at {url}");
        manager
            .store()
            .update_status(name, |s| s.metrics_url = Some(url))?;
    }
    tracing::info!(workload = %name, addr = %config.addr, transport = %rc.transport, "starting the proxy");

    let result = if let Some(url) = &rc.remote_url {
        let target = url::Url::parse(url).with_context(|| format!("invalid remote_url {url}"))?;
        serve_until_signal(
            crate::proxy::serve_transparent(target, config).await?,
            &mut signals,
        )
        .await;
        Ok(())
    } else if rc.transport.is_http() {
        let target = http_target(&manager, &rc).await?;
        let proxy = crate::proxy::serve_transparent(target, config).await?;
        tracing::info!(url = %proxy.url(), "proxy listening");
        let rt = manager.runtime().await?;
        let cname = crate::workloads::container_name(&rc);
        let mut keeper = Keeper::default();
        loop {
            tokio::select! {
                _ = signals.recv() => break,
                _ = tokio::time::sleep(WATCH) => {
                    keeper.check(&manager, rt.as_ref(), &rc, &cname).await;
                    if keeper.gone {
                        break;
                    }
                }
            }
        }
        proxy.shutdown().await;
        Ok(())
    } else {
        serve_stdio(&manager, &rc, config, &mut signals).await
    };

    // Clear the PID only when it is still ours (a new proxy may have been started meanwhile).
    let _ = manager.store().update_status(name, |s| {
        if s.proxy_pid == Some(pid) {
            s.proxy_pid = None;
            s.metrics_url = None;
        }
    });
    if foreground && let Err(e) = manager.stop(name).await {
        tracing::warn!("cannot stop '{name}': {e:#}");
    } else if !foreground {
        stop_sidecar_of_a_stopped_workload(&manager, &rc).await;
    }
    tracing::info!(workload = %name, "proxy stopped");
    result
}

/// When the proxy ends and its workload's container is not running (it exited with its stdin, or the user
/// stopped it), the egress sidecar has nothing to serve: it is stopped too (`thv start` makes it anew).
async fn stop_sidecar_of_a_stopped_workload(manager: &Manager, rc: &RunConfig) {
    if !crate::workloads::isolation::is_isolated(rc) {
        return;
    }
    let Ok(rt) = manager.runtime().await else {
        return;
    };
    let cname = crate::workloads::container_name(rc);
    // A stdio server exits once its stdin closes with the proxy: give it a moment (an HTTP server goes on).
    let looks = if rc.transport == TransportType::Stdio {
        10
    } else {
        1
    };
    let mut running = true;
    for _ in 0..looks {
        running = matches!(rt.inspect(&cname).await, Ok(info) if info.state.is_running());
        if !running {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    if !running && let Err(e) = crate::workloads::isolation::stop(rt.as_ref(), &cname, false).await
    {
        tracing::warn!(container = %cname, "cannot stop the egress sidecar: {e:#}");
    }
}

async fn serve_until_signal(proxy: RunningProxy, signals: &mut Signals) {
    tracing::info!(url = %proxy.url(), "proxy listening");
    signals.recv().await;
    proxy.shutdown().await;
}

/// The proxy's listening address and mode from the RunConfig.
fn proxy_config(rc: &RunConfig) -> anyhow::Result<ProxyConfig> {
    let port = rc.port.context("the RunConfig has no proxy port")?;
    let ip: IpAddr = match rc.host.parse() {
        Ok(ip) => ip,
        Err(_) => (rc.host.as_str(), port)
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve the proxy host {}", rc.host))?
            .next()
            .with_context(|| format!("the proxy host {} has no address", rc.host))?
            .ip(),
    };
    let mode = client_mode(rc);
    let middleware = middleware_chain(rc, mode)?;
    Ok(ProxyConfig {
        addr: SocketAddr::new(ip, port),
        mode,
        middleware,
        // A host name given with --host is a name clients may use in `Host`.
        allowed_hosts: rc
            .host
            .parse::<IpAddr>()
            .is_err()
            .then(|| rc.host.clone())
            .into_iter()
            .collect(),
        ..ProxyConfig::default()
    })
}

/// `http://TARGET_HOST:HOST_PORT` of an HTTP server's container.
async fn http_target(manager: &Manager, rc: &RunConfig) -> anyhow::Result<url::Url> {
    let status = manager.store().load_status(&rc.name)?;
    let port = match status.container_host_port {
        Some(p) => p,
        None => {
            let rt = manager.runtime().await?;
            let info = rt.inspect(&crate::workloads::container_name(rc)).await?;
            let target = rc.target_port.context("the RunConfig has no target_port")?;
            info.host_port(target)
                .with_context(|| format!("the container's port {target} is not published"))?
        }
    };
    let host = rc.target_host.as_deref().unwrap_or("127.0.0.1");
    let url = format!("http://{}:{port}/", crate::workloads::url_host(host));
    url::Url::parse(&url).with_context(|| format!("invalid target {url}"))
}

/// The stdio loop: attach, serve, and when the attachment ends, wait for the container and attach again.
async fn serve_stdio(
    manager: &Manager,
    rc: &RunConfig,
    config: ProxyConfig,
    signals: &mut Signals,
) -> anyhow::Result<()> {
    debug_assert_eq!(rc.transport, TransportType::Stdio);
    let rt = manager.runtime().await?;
    let cname = crate::workloads::container_name(rc);
    let bridge_config = BridgeConfig {
        session_ttl: Duration::from_secs(rc.session_ttl_secs()),
        ..BridgeConfig::default()
    };
    let mut attempt = 0u32;
    let mut keeper = Keeper::default();
    loop {
        tokio::select! {
            _ = signals.recv() => return Ok(()),
            r = wait_running(&mut keeper, manager, rt.as_ref(), rc, &cname) => r?,
        }
        if keeper.gone {
            return Ok(());
        }
        let attachment = match rt.attach_stdio(&cname).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("cannot attach to {cname}: {e}; retrying");
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        let bridge = StdioBridge::from_attachment(attachment, bridge_config.clone());
        let proxy = match crate::proxy::serve(bridge.clone(), config.clone()).await {
            Ok(p) => p,
            Err(e) => {
                bridge.close();
                attempt += 1;
                if attempt > 20 {
                    bail!("cannot listen on {}: {e}", config.addr);
                }
                tracing::warn!("cannot listen on {}: {e}; retrying", config.addr);
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        attempt = 0;
        tracing::info!(url = %proxy.url(), container = %cname, "proxy listening");
        let stop = loop {
            tokio::select! {
                _ = signals.recv() => break true,
                _ = tokio::time::sleep(POLL) => if !bridge.is_alive() { break false },
            }
        };
        proxy.shutdown().await;
        bridge.close();
        if stop {
            return Ok(());
        }
        let desired = manager.store().load_status(&rc.name).map(|s| s.desired);
        tracing::warn!(
            container = %cname,
            "the MCP server's stdio closed (container stopped or restarted, or the engine restarted); \
             waiting for it to run again"
        );
        if matches!(desired, Ok(Desired::Stopped)) {
            tracing::info!("the workload is stopped: the proxy exits");
            return Ok(());
        }
    }
}

/// How often an HTTP server's container is looked at.
const WATCH: Duration = Duration::from_secs(2);
/// The longest wait between two restarts of a container that keeps stopping.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Keeps a workload's container running while the workload should run: a container that stopped without
/// `thv stop` (it exited; or its stdin closed when the engine restarted and dropped the attachment) is started
/// again, with a doubling delay (1 s … [`MAX_BACKOFF`]) while it keeps stopping. `thv stop` and `thv rm` stop
/// this proxy before the container, so they never race it.
#[derive(Debug, Default)]
struct Keeper {
    /// The container is gone and so is the workload's record: it was removed (by `thv rm` of a run that was
    /// interrupted before it recorded this proxy, say), and this proxy must end rather than wait forever.
    gone: bool,
    reported: bool,
    backoff: Option<Duration>,
    next_try: Option<tokio::time::Instant>,
}

impl Keeper {
    /// One look: true when the container runs. `rc` is the workload's, as loaded when the proxy started (it does
    /// not change while the workload exists); its status (the desired state, the published port) is read anew.
    async fn check(
        &mut self,
        manager: &Manager,
        rt: &dyn Runtime,
        rc: &RunConfig,
        cname: &str,
    ) -> bool {
        match rt.inspect(cname).await {
            Ok(info) if info.state.is_running() => {
                self.reported = false;
                // Running a while since the last restart: the next failure starts the delays anew.
                let now = tokio::time::Instant::now();
                if self.next_try.is_some_and(|t| now > t + MAX_BACKOFF) {
                    self.backoff = None;
                    self.next_try = None;
                }
                return true;
            }
            Ok(info) => {
                let Some(status) = manager
                    .store()
                    .load_status(&rc.name)
                    .ok()
                    .filter(|s| matches!(s.desired, Desired::Running))
                else {
                    return false;
                };
                let now = tokio::time::Instant::now();
                if self.next_try.is_some_and(|t| now < t) {
                    return false;
                }
                let delay = self
                    .backoff
                    .map_or(Duration::from_secs(1), |d| (d * 2).min(MAX_BACKOFF));
                self.backoff = Some(delay);
                self.next_try = Some(now + delay);
                tracing::warn!(container = %cname, state = %info.state, "the container stopped on its own: starting it again");
                if crate::workloads::isolation::is_isolated(rc)
                    && let Err(e) = crate::workloads::isolation::ensure_running(
                        rt,
                        rc,
                        status.container_host_port,
                    )
                    .await
                {
                    tracing::warn!(container = %cname, "cannot start the egress sidecar: {e:#}");
                }
                match rt.start(cname).await {
                    Ok(()) => return true,
                    Err(e) => tracing::warn!(container = %cname, "cannot start the container: {e}"),
                }
            }
            Err(RuntimeError::NotFound(_)) if !manager.store().exists(&rc.name) => {
                tracing::info!(container = %cname, "the workload was removed: the proxy exits");
                self.gone = true;
            }
            Err(RuntimeError::NotFound(_)) => {
                if !self.reported {
                    tracing::warn!(container = %cname, "the container does not exist; waiting (`thv start` creates it again)");
                    self.reported = true;
                }
            }
            Err(e) => {
                if !self.reported {
                    tracing::warn!("the engine does not answer: {e}; waiting");
                    self.reported = true;
                }
            }
        }
        false
    }
}

/// Waits until the container runs, starting it again when it stopped on its own ([`Keeper`]), or until the
/// workload is gone (`keeper.gone`); the engine may be away for a while: it is asked again every [`POLL`].
async fn wait_running(
    keeper: &mut Keeper,
    manager: &Manager,
    rt: &dyn Runtime,
    rc: &RunConfig,
    cname: &str,
) -> anyhow::Result<()> {
    while !keeper.check(manager, rt, rc, cname).await && !keeper.gone {
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}
