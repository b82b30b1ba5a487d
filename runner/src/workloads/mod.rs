//! Workloads: what `thv run`, `start`, `stop`, `rm`, `list` and `status` do, over the state on disk
//! ([`crate::state`]), the container runtime ([`crate::runtime`]) and the detached proxy process
//! ([`proxy_process`], whose main loop is [`crate::supervisor`]).
//!
//! A workload is its RunConfig (decided once, by `thv run`) plus a status record. Every later command reads
//! them; nothing re-resolves. The container is found by its name (`container_name`), so a container that was
//! removed behind `thv`'s back (an engine reset) is created again from the RunConfig by `thv start`.

pub mod isolation;
pub mod launch;
pub mod proxy_process;
pub mod reserve;
pub mod source;
pub mod view;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::Utc;
use thv_core::runconfig::{RunConfig, TransportType};
use tokio::sync::OnceCell;

use crate::config::UserConfig;
use crate::dirs::Dirs;
use crate::runtime::docker::DockerRuntime;
use crate::runtime::{Runtime, RuntimeError, WorkloadSpec};
use crate::secrets::SecretStore;
use crate::state::{Desired, WorkloadStatus, WorkloadStore};

pub use view::{WorkloadState, WorkloadView};

/// How long `thv run`/`start` wait for a new proxy to answer `/health`.
pub const PROXY_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a container gets to exit after SIGTERM on `thv stop`.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The workload operations of one user.
pub struct Manager {
    store: WorkloadStore,
    config: UserConfig,
    secrets: SecretStore,
    runtime: OnceCell<Arc<dyn Runtime>>,
}

impl Manager {
    /// For the user whose directories are `dirs`; the engine is connected on first use.
    pub fn new(dirs: Dirs) -> anyhow::Result<Self> {
        let config = UserConfig::load(&dirs.config_file())?;
        let secrets = SecretStore::new(dirs.secrets_file());
        Ok(Self {
            store: WorkloadStore::new(dirs),
            config,
            secrets,
            runtime: OnceCell::new(),
        })
    }

    /// With a given runtime (tests).
    pub fn with_runtime(dirs: Dirs, runtime: Arc<dyn Runtime>) -> anyhow::Result<Self> {
        let m = Self::new(dirs)?;
        let _ = m.runtime.set(runtime);
        Ok(m)
    }

    pub fn store(&self) -> &WorkloadStore {
        &self.store
    }

    pub fn config(&self) -> &UserConfig {
        &self.config
    }

    pub fn secrets(&self) -> &SecretStore {
        &self.secrets
    }

    /// The container engine (connected once; the error names every socket tried).
    pub async fn runtime(&self) -> anyhow::Result<Arc<dyn Runtime>> {
        self.runtime
            .get_or_try_init(|| async {
                let rt = DockerRuntime::connect().await?;
                Ok::<_, RuntimeError>(Arc::new(rt) as Arc<dyn Runtime>)
            })
            .await
            .cloned()
            .map_err(anyhow::Error::from)
    }

    /// Runs a new workload from a resolved RunConfig: builds its package image when it has one, creates and
    /// starts its container (secrets resolved now; nothing starts when one is missing), records it, and
    /// starts its proxy (detached, unless `foreground`, where the caller runs [`crate::supervisor`]).
    /// Returns the RunConfig as stored.
    pub async fn run(
        &self,
        mut rc: RunConfig,
        build: &crate::build::BuildOptions,
    ) -> anyhow::Result<RunConfig> {
        rc.validate().context("invalid RunConfig")?;
        // The name and what the workload will own, held until it is saved (refused when taken).
        let _reservation = reserve::reserve(&self.store, &rc)?;
        if !rc.is_remote() {
            crate::runtime::mounts_of(&rc).with_context(|| format!("workload '{}'", rc.name))?;
            reserve::check_engine(self.runtime().await?.as_ref(), &rc).await?;
        }
        // Secret values given in plain go to the secret store; the RunConfig keeps references.
        let stored = rc.take_sensitive_values();
        for (reference, value) in &stored {
            self.secrets.set(&reference.name, value)?;
        }
        let result = self.create_and_record(rc, build).await;
        if result.is_err() {
            for (reference, _) in &stored {
                let _ = self.secrets.delete(&reference.name);
            }
        }
        result
    }

    /// [`Manager::run`] once the name is reserved.
    async fn create_and_record(
        &self,
        mut rc: RunConfig,
        build: &crate::build::BuildOptions,
    ) -> anyhow::Result<RunConfig> {
        // Fail early on what would fail later: secrets and the proxy port.
        let secret_values = self.secrets.resolve(&rc.secrets)?;
        // The ports other workloads use, and this one's proxy port once chosen: its container's host port must
        // differ from all of them.
        let mut reserved = self.reserved_ports()?;
        if rc.port.is_none() {
            rc.set_port(proxy_process::free_port(&rc.host, &reserved)?);
        }
        check_proxy_ports(&rc)?;
        reserved.extend(rc.port);
        if let Some(pkg) = rc.package.clone()
            && rc.image.is_none()
        {
            let rt = self.runtime().await?;
            let built = crate::build::build_package_image(rt.as_ref(), &pkg, build).await?;
            rc.image = Some(built.image);
            rc.package = Some(built.package);
        }
        let mut status = WorkloadStatus::new(&rc.name);
        if !rc.is_remote() {
            let (id, host_port) = self
                .create_container(&rc, &secret_values, &reserved)
                .await?;
            status.container_id = Some(id);
            status.container_host_port = host_port;
        }
        status.started_at = Some(Utc::now());
        self.store.save_runconfig(&rc)?;
        self.store.save_status(&status)?;
        Ok(rc)
    }

    /// Creates and starts the container of `rc`; for an HTTP server its port is published on a free host
    /// port outside `reserved`, recorded so that the proxy finds it again after restarts.
    async fn create_container(
        &self,
        rc: &RunConfig,
        secret_values: &std::collections::BTreeMap<String, String>,
        reserved: &std::collections::BTreeSet<u16>,
    ) -> anyhow::Result<(String, Option<u16>)> {
        let rt = self.runtime().await?;
        let mut spec = WorkloadSpec::from_run_config(rc, secret_values)
            .with_context(|| format!("workload '{}'", rc.name))?;
        let image = spec.image.clone();
        if !rt.image_exists(&image).await? {
            thv_core::errln!("pulling {image} ...");
            let mut progress = |line: &str| tracing::debug!("pull: {line}");
            rt.pull_image(&image, &mut progress).await.with_context(|| {
                format!(
                    "image '{image}' is not in the engine's local store and could not be pulled \
                     (build it, load it, or point the reference at your mirror)"
                )
            })?;
        }
        let mut host_port = None;
        if rc.transport.is_http() {
            let p = proxy_process::free_port(crate::runtime::DEFAULT_PUBLISH_HOST, reserved)?;
            spec = spec.with_host_port(p);
            host_port = Some(p);
        }
        let isolated = isolation::is_isolated(rc);
        if isolated {
            isolation::prepare(rt.as_ref(), rc, &mut spec)
                .await
                .with_context(|| format!("cannot isolate the network of '{}'", rc.name))?;
        }
        let id = match rt.create_and_start(&spec).await {
            Ok(id) => id,
            Err(e) => {
                if isolated {
                    let _ = isolation::stop(rt.as_ref(), &spec.name, true).await;
                }
                return Err(e)
                    .with_context(|| format!("cannot start the container of '{}'", rc.name));
            }
        };
        Ok((id.0, host_port))
    }

    /// Starts the detached proxy of a workload and waits until it answers.
    pub async fn start_proxy(&self, name: &str) -> anyhow::Result<()> {
        let rc = self.store.load_runconfig(name)?;
        let status = self.store.load_status(name)?;
        if let Some(pid) = status.proxy_pid
            && proxy_process::is_proxy_of(pid, name)
        {
            return Ok(());
        }
        let log = self.store.dirs().proxy_log(name);
        let pid = proxy_process::spawn(name, &log)?;
        self.store
            .update_status(name, |s| s.proxy_pid = Some(pid))?;
        let base = format!(
            "http://{}:{}",
            url_host(&rc.host),
            rc.port.unwrap_or_default()
        );
        proxy_process::wait_ready(&base, pid, name, &log, PROXY_READY_TIMEOUT).await
    }

    /// Starts a stopped workload: its container (created again from the RunConfig when it is gone) and its
    /// proxy. A running workload is left as it is (its proxy is started if it died).
    /// Starts a workload; `false` when it was running already (then nothing is touched).
    pub async fn start(&self, name: &str) -> anyhow::Result<bool> {
        if self.status(name).await?.status == view::WorkloadState::Running {
            return Ok(false);
        }
        let rc = self.store.load_runconfig(name)?;
        // The proxy's ports, when no proxy of this workload holds them: taken by something else, they are said
        // before the container starts (the proxy found them only after, leaving the workload unhealthy).
        let status = self.store.load_status(name)?;
        if !status
            .proxy_pid
            .is_some_and(|pid| proxy_process::is_proxy_of(pid, name))
        {
            check_proxy_ports(&rc)?;
        }
        if !rc.is_remote() {
            self.ensure_container(&rc).await?;
        }
        self.store.update_status(name, |s| {
            s.desired = Desired::Running;
            s.started_at = Some(Utc::now());
        })?;
        self.start_proxy(name).await?;
        Ok(true)
    }

    /// Makes the container of `rc` run: start it, or create it again when it does not exist.
    async fn ensure_container(&self, rc: &RunConfig) -> anyhow::Result<()> {
        let rt = self.runtime().await?;
        let cname = container_name(rc);
        let owned = self.owned_container(rt.as_ref(), rc).await?;
        let host_port = self.store.load_status(&rc.name)?.container_host_port;
        // A running workload keeps its sidecar (started if it stopped); one that starts gets a new one.
        let running = owned.as_ref().is_some_and(|i| i.state.is_running());
        if isolation::is_isolated(rc)
            && !(running && isolation::sidecar_started(rt.as_ref(), rc).await?)
            && !isolation::ensure_running(rt.as_ref(), rc, host_port).await?
            && owned.is_some()
        {
            // The network is gone (an engine reset): everything is made again.
            match rt.remove(&cname, true).await {
                Ok(()) | Err(RuntimeError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        match rt.inspect(&cname).await {
            Ok(info) if info.state.is_running() => Ok(()),
            Ok(_) => rt
                .start(&cname)
                .await
                .with_context(|| format!("cannot start the container of '{}'", rc.name)),
            Err(RuntimeError::NotFound(_)) => {
                let secret_values = self.secrets.resolve(&rc.secrets)?;
                let reserved = self.reserved_ports()?;
                let (id, host_port) = self.create_container(rc, &secret_values, &reserved).await?;
                self.store.update_status(&rc.name, |s| {
                    s.container_id = Some(id);
                    s.container_host_port = host_port;
                })?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Stops a workload: its proxy, then its container. It stays stopped across `thv start --all`.
    pub async fn stop(&self, name: &str) -> anyhow::Result<()> {
        self.stop_proxy_and_container(name, false).await?;
        self.store
            .update_status(name, |s| s.desired = Desired::Stopped)?;
        Ok(())
    }

    /// Stops the proxy, then stops (or removes) the container; a container that is gone already is fine.
    async fn stop_proxy_and_container(&self, name: &str, remove: bool) -> anyhow::Result<()> {
        let rc = self.store.load_runconfig(name)?;
        self.stop_proxy(name)?;
        if rc.is_remote() {
            return Ok(());
        }
        let rt = self.runtime().await?;
        let cname = container_name(&rc);
        if let Err(e) = self.owned_container(rt.as_ref(), &rc).await {
            if !remove {
                return Err(e);
            }
            // Removing the workload leaves the other container alone.
            thv_core::errln!("warning: {e:#}; left as it is");
            if isolation::is_isolated(&rc) {
                isolation::stop(rt.as_ref(), &cname, true).await?;
            }
            return Ok(());
        }
        let (result, verb) = if remove {
            (rt.remove(&cname, true).await, "remove")
        } else {
            (rt.stop(&cname, STOP_TIMEOUT).await, "stop")
        };
        match result {
            Ok(()) | Err(RuntimeError::NotFound(_)) => {}
            Err(e) => {
                return Err(e).with_context(|| format!("cannot {verb} the container of '{name}'"));
            }
        }
        if isolation::is_isolated(&rc) {
            isolation::stop(rt.as_ref(), &cname, remove).await?;
        }
        Ok(())
    }

    /// The container of `rc` as the engine reports it (`None`: there is none); an error when a container of its
    /// name exists that is not this workload's (another workload's, or not thv's): it is not ours to touch.
    async fn owned_container(
        &self,
        rt: &dyn Runtime,
        rc: &RunConfig,
    ) -> anyhow::Result<Option<crate::runtime::WorkloadInfo>> {
        let cname = container_name(rc);
        match rt.inspect(&cname).await {
            Ok(info)
                if info.is_managed()
                    && info.labels.get(thv_core::runconfig::labels::NAME) == Some(&rc.name) =>
            {
                Ok(Some(info))
            }
            Ok(_) => bail!(
                "the container '{cname}' is not workload '{}''s (it is not labelled as thv's container of it)",
                rc.name
            ),
            Err(RuntimeError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Stops the proxy process of a workload (if it runs).
    pub fn stop_proxy(&self, name: &str) -> anyhow::Result<()> {
        let status = self.store.load_status(name)?;
        if let Some(pid) = status.proxy_pid {
            proxy_process::terminate(pid, name, Duration::from_secs(10))?;
        }
        self.store.update_status(name, |s| {
            s.proxy_pid = None;
            s.metrics_url = None;
        })?;
        Ok(())
    }

    /// Removes a workload: its proxy, its container, its state, and the secrets `thv` stored for it (values
    /// given in plain, [`RunConfig::take_sensitive_values`]).
    pub async fn remove(&self, name: &str) -> anyhow::Result<()> {
        // What a `thv run` is creating right now is not a leftover: removing its containers under it left a
        // record nothing could remove, or a run that reported success with nothing behind it.
        if !self.store.exists(name) && reserve::is_being_created(&self.store, name) {
            bail!(
                "workload '{name}' is being created by a `thv run` right now: remove it once that has finished"
            );
        }
        if !self.store.exists(name) && self.remove_leftovers(name).await? {
            return Ok(());
        }
        let rc = self.store.load_runconfig(name)?;
        self.stop_proxy_and_container(name, true).await?;
        self.store.remove(name)?;
        let prefix = rc.workload_secret_prefix();
        for r in rc.secrets.iter().filter(|r| r.name.starts_with(&prefix)) {
            self.secrets.delete(&r.name)?;
        }
        Ok(())
    }

    /// Removes what an interrupted `thv run NAME` left in the engine without recording it: the containers
    /// labelled as workload `name`'s (its container and sidecar) and their internal networks. `false`: there was
    /// nothing.
    async fn remove_leftovers(&self, name: &str) -> anyhow::Result<bool> {
        let rt = self.runtime().await?;
        let left: Vec<_> = rt
            .list()
            .await?
            .into_iter()
            .filter(|c| {
                c.labels
                    .get(thv_core::runconfig::labels::NAME)
                    .map(String::as_str)
                    == Some(name)
            })
            .collect();
        for c in &left {
            match rt.remove(&c.name, true).await {
                Ok(()) | Err(RuntimeError::NotFound(_)) => {}
                Err(e) => return Err(e).with_context(|| format!("cannot remove {}", c.name)),
            }
        }
        // Each container's internal network (a sidecar names its container), and the workload's own: an
        // interruption between creating the network and the container leaves only the network. Only networks:
        // a sidecar's name may be another workload's container (`col-egress`), removed above only when labelled.
        let mut containers: std::collections::BTreeSet<String> = left
            .iter()
            .map(|c| {
                let auxiliary = c
                    .labels
                    .contains_key(thv_core::runconfig::labels::AUXILIARY);
                match isolation::sidecar_owner(&c.name) {
                    Some(owner) if auxiliary => owner.to_owned(),
                    _ => c.name.clone(),
                }
            })
            .collect();
        containers.insert(name.to_owned());
        let mut left: Vec<String> = left.into_iter().map(|c| c.name).collect();
        for container in &containers {
            if isolation::remove_network(rt.as_ref(), container).await? {
                left.push(isolation::network_name(container));
            }
        }
        if !left.is_empty() {
            thv_core::errln!(
                "removed what an interrupted `thv run {name}` left: {}",
                left.join(", ")
            );
        }
        Ok(!left.is_empty())
    }

    /// The ports the existing workloads use when they run: their proxies' and their containers' published
    /// ports. A new workload gets none of them, even while their owners are stopped.
    pub fn reserved_ports(&self) -> anyhow::Result<std::collections::BTreeSet<u16>> {
        let mut ports = std::collections::BTreeSet::new();
        for name in self.store.names()? {
            ports.extend(self.store.load_runconfig(&name)?.port);
            ports.extend(self.store.load_status(&name)?.container_host_port);
        }
        Ok(ports)
    }

    /// The names of the workloads that should run (`thv start --all` after a reboot).
    pub fn desired_running(&self) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        for name in self.store.names()? {
            if self.store.load_status(&name)?.desired == Desired::Running {
                out.push(name);
            }
        }
        Ok(out)
    }
}

/// The proxy URL clients use for a workload.
/// The path is the transport's (`/mcp`, `/sse`), or for a remote server the last segment of its URL's path
/// (the transparent proxy serves the remote endpoint there).
pub fn proxy_url(rc: &RunConfig) -> String {
    let by_transport = match (rc.transport, rc.effective_proxy_mode()) {
        (TransportType::Stdio, Some(thv_core::runconfig::ProxyMode::Sse))
        | (TransportType::Sse, _) => "/sse",
        _ => "/mcp",
    };
    let remote_last = rc
        .remote_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| {
            u.path_segments()
                .and_then(|mut s| s.next_back().map(str::to_owned))
        })
        .filter(|s| !s.is_empty());
    let path = remote_last.map_or_else(|| by_transport.to_owned(), |s| format!("/{s}"));
    format!(
        "http://{}:{}{path}",
        url_host(&rc.host),
        rc.port.unwrap_or_default()
    )
}

/// The container of a workload: `container_name`, or the workload's name.
pub fn container_name(rc: &RunConfig) -> String {
    rc.container_name.clone().unwrap_or_else(|| rc.name.clone())
}

/// A host for a URL (IPv6 addresses in brackets).
pub fn url_host(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// The proxy's ports must be free: its port, and its fixed metrics address (`--metrics-port`), which must not be
/// the proxy port either.
fn check_proxy_ports(rc: &RunConfig) -> anyhow::Result<()> {
    if let Some(p) = rc.port
        && !proxy_process::port_is_free(&rc.host, p)
    {
        bail!(
            "the proxy port {p} on {} is in use (choose another --proxy-port)",
            rc.host
        );
    }
    if let Some(address) = launch::fixed_metrics_address(rc)
        && (rc.port == Some(address.port()) || std::net::TcpListener::bind(address).is_err())
    {
        bail!("the metrics port {address} is in use (choose another --metrics-port)");
    }
    Ok(())
}
