//! [`Runtime`] over the Docker Engine API (bollard), for Docker and for Podman's compatible socket.
//!
//! Only calls both engines implement are used: `/_ping`, `/version`, `/images/{name}/json`,
//! `/containers/create` (with `HostConfig.Mounts`, `PortBindings`, `NetworkMode`, `CapDrop`, `SecurityOpt`),
//! `start`, `stop`, `DELETE /containers/{id}`, `/containers/{id}/json`, `/containers/json` with a label filter,
//! `logs`, `attach` (HTTP upgrade), `/images/create` (pulls), `/images/load` and `/images/{name}/get` (`images.rs`),
//! and `/build` (`build.rs`: the classic builder, a tar context in the body, the output streamed back as JSON
//! messages; no BuildKit session). The API version is negotiated down to the engine's (Podman 4 speaks 1.41).
//!
//! # Finding the engine
//!
//! [`DockerRuntime::connect`] tries, in this order, and keeps the first that answers `/version`:
//! 1. `DOCKER_HOST` (`unix:///path` or `tcp://host:port`) when it is set. An explicit `DOCKER_HOST` is
//!    authoritative, as for the docker CLI: nothing else is tried (unset it to auto-detect);
//! 2. the Docker socket `/var/run/docker.sock`;
//! 3. rootful Podman, `/run/podman/podman.sock`;
//! 4. rootless Podman, `$XDG_RUNTIME_DIR/podman/podman.sock`.
//!
//! When none answers, [`RuntimeError::Unreachable`] lists every endpoint tried and why it failed.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use bollard::container::LogOutput;
use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerSummary, HostConfig, MountType,
    PortBinding, PortMap,
};
use bollard::query_parameters::{
    AttachContainerOptions, CreateContainerOptions, ListContainersOptions, LogsOptions,
    RemoveContainerOptions, StopContainerOptions,
};
use bollard::{API_DEFAULT_VERSION, Docker};
use futures::{Stream, StreamExt};
use thv_core::runconfig::MountSource;
use tokio::io::{AsyncRead, ReadBuf};

use super::{
    BuildProgress, EngineVersion, HostBinding, ImageBuildOptions, LogLine, LogSource, LogStream,
    MANAGED_LABEL, MANAGED_LABEL_VALUE, NetworkInfo, Runtime, RuntimeError, SpecError,
    StdioAttachment, WorkloadId, WorkloadInfo, WorkloadSpec, WorkloadState,
};

mod build;
mod endpoint;
mod images;
mod spec;
mod streams;

use endpoint::*;
pub use endpoint::{
    Candidate, DOCKER_SOCKET, Endpoint, EndpointError, PODMAN_ROOTFUL_SOCKET, candidates,
};

/// Why one engine endpoint could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("no such socket")]
    NoSocket,
    #[error("the socket path is not UTF-8")]
    NotUtf8,
    #[error("no answer within {} s", .0.as_secs())]
    NoAnswer(std::time::Duration),
    #[error(transparent)]
    Engine(#[from] bollard::errors::Error),
}
use spec::*;
use streams::*;

/// The Docker Engine API runtime.
#[derive(Debug, Clone)]
pub struct DockerRuntime {
    docker: Docker,
    endpoint: Endpoint,
}

impl DockerRuntime {
    /// Connects to the first engine that answers, from `DOCKER_HOST` and the default sockets (see the module
    /// documentation).
    pub async fn connect() -> Result<Self, RuntimeError> {
        let docker_host = std::env::var("DOCKER_HOST").ok();
        let xdg = std::env::var("XDG_RUNTIME_DIR").ok();
        Self::connect_first(&candidates(docker_host.as_deref(), xdg.as_deref())).await
    }

    /// Connects to the first candidate that answers; [`RuntimeError::Unreachable`] lists them all otherwise.
    pub async fn connect_first(candidates: &[Candidate]) -> Result<Self, RuntimeError> {
        let mut tried = Vec::new();
        for c in candidates {
            match &c.endpoint {
                Err(why) => tried.push((c.origin.clone(), why.to_string())),
                Ok(endpoint) => match Self::connect_to(endpoint).await {
                    Ok(rt) => {
                        tracing::debug!(%endpoint, origin = %c.origin, "container engine found");
                        return Ok(rt);
                    }
                    Err(why) => tried.push((format!("{endpoint} ({})", c.origin), why.to_string())),
                },
            }
        }
        let hint = if candidates.iter().any(|c| c.origin == "DOCKER_HOST") {
            "DOCKER_HOST is set, so no other socket was tried; unset it to auto-detect.".to_owned()
        } else {
            "Start Docker, or Podman's API service (podman system service --time=0 \
             unix:///run/podman/podman.sock), or set DOCKER_HOST."
                .to_owned()
        };
        Err(RuntimeError::Unreachable { tried, hint })
    }

    /// Connects to one endpoint and checks that it answers (`/version`), negotiating the API version.
    pub async fn connect_to(endpoint: &Endpoint) -> Result<Self, ConnectError> {
        let docker = match endpoint {
            Endpoint::Unix(path) => {
                if !path.exists() {
                    return Err(ConnectError::NoSocket);
                }
                let p = path.to_str().ok_or(ConnectError::NotUtf8)?;
                Docker::connect_with_unix(p, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
            }
            Endpoint::Tcp(addr) => {
                Docker::connect_with_http(addr, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
            }
        }
        .map_err(ConnectError::Engine)?;
        let docker = match tokio::time::timeout(PROBE_TIMEOUT, docker.negotiate_version()).await {
            Err(_) => return Err(ConnectError::NoAnswer(PROBE_TIMEOUT)),
            Ok(Err(e)) => return Err(ConnectError::Engine(e)),
            Ok(Ok(d)) => d,
        };
        Ok(Self {
            docker,
            endpoint: endpoint.clone(),
        })
    }

    /// Where this runtime is connected.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The bollard client, for what the trait does not cover.
    pub fn client(&self) -> &Docker {
        &self.docker
    }
}

/// Maps an engine error; `what` names the container for a 404.
/// A network's subnets, gateways and whether it is internal, as the engine reports them.
fn network_info(
    internal: Option<bool>,
    ipam: Option<bollard::models::Ipam>,
    labels: Option<HashMap<String, String>>,
) -> NetworkInfo {
    let mut info = NetworkInfo {
        internal: internal.unwrap_or(false),
        managed: labels
            .and_then(|l| l.get(MANAGED_LABEL).cloned())
            .is_some_and(|v| v == MANAGED_LABEL_VALUE),
        ..Default::default()
    };
    for c in ipam.and_then(|i| i.config).unwrap_or_default() {
        if let Some((addr, len)) = c.subnet.as_deref().and_then(|s| s.split_once('/'))
            && let (Ok(addr), Ok(len)) = (addr.parse(), len.parse())
        {
            info.subnets.push((addr, len));
        }
        if let Some(gw) = c.gateway.as_deref().and_then(|g| g.parse().ok()) {
            info.gateways.push(gw);
        }
    }
    info
}

fn map_err(e: BollardError, what: &str) -> RuntimeError {
    match e {
        BollardError::DockerResponseServerError {
            status_code: 404,
            message,
        } => {
            tracing::debug!(%message, "not found");
            RuntimeError::NotFound(what.to_owned())
        }
        BollardError::DockerResponseServerError {
            status_code: 409,
            message,
        } => RuntimeError::Conflict(message),
        // Podman (4.x) answers a name already in use with 500, not Docker's 409.
        BollardError::DockerResponseServerError {
            status_code: 500,
            message,
        } if message.contains("already in use") => RuntimeError::Conflict(message),
        BollardError::DockerResponseServerError {
            status_code,
            message,
        } => RuntimeError::Engine(format!("{status_code}: {}", message.trim())),
        BollardError::IOError { err } => RuntimeError::Io(err),
        other => RuntimeError::Engine(other.to_string()),
    }
}

/// Podman quirks: Podman 4 reports a container that has just exited as `stopped` (a state Docker does not
/// have, which bollard's state enum refuses) until its cleanup runs, typically for well under 100 ms; and an
/// inspect that races the container's exit fails with 500 `read /proc/PID/cgroup: no such process` (seen in CI).
/// Inspect and list retry while that lasts.
const TRANSIENT_STATE_RETRIES: u32 = 50;
const TRANSIENT_STATE_DELAY: Duration = Duration::from_millis(100);

fn is_transient_state_error(e: &BollardError) -> bool {
    match e {
        BollardError::JsonDataError { message, .. } => message.contains("unknown variant"),
        BollardError::DockerResponseServerError {
            status_code: 500,
            message,
        } => message.contains("/cgroup: no such process"),
        _ => false,
    }
}

async fn retry_transient_state<T, F, Fut>(mut call: F) -> Result<T, BollardError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, BollardError>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Err(e) if is_transient_state_error(&e) && attempt < TRANSIENT_STATE_RETRIES => {
                attempt += 1;
                tracing::debug!("engine reported a transient state ({e}); retrying");
                tokio::time::sleep(TRANSIENT_STATE_DELAY).await;
            }
            other => return other,
        }
    }
}

#[async_trait]
impl Runtime for DockerRuntime {
    async fn ping(&self) -> Result<(), RuntimeError> {
        self.docker.ping().await.map_err(|e| map_err(e, "_ping"))?;
        Ok(())
    }

    async fn version(&self) -> Result<EngineVersion, RuntimeError> {
        let v = self
            .docker
            .version()
            .await
            .map_err(|e| map_err(e, "version"))?;
        let components = v.components.unwrap_or_default();
        let engine = components
            .iter()
            .find(|c| c.name.to_ascii_lowercase().contains("podman"))
            .map(|c| c.name.clone())
            .or_else(|| {
                v.platform
                    .map(|p| p.name)
                    .filter(|n| !n.is_empty() && n.to_ascii_lowercase().contains("engine"))
            })
            .or_else(|| components.first().map(|c| c.name.clone()))
            .unwrap_or_else(|| "Docker Engine".to_owned());
        Ok(EngineVersion {
            engine,
            version: v.version.unwrap_or_default(),
            api_version: v.api_version.unwrap_or_default(),
            endpoint: self.endpoint.to_string(),
        })
    }

    async fn image_exists(&self, image: &str) -> Result<bool, RuntimeError> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(e) => Err(map_err(e, image)),
        }
    }

    async fn create_and_start(&self, spec: &WorkloadSpec) -> Result<WorkloadId, RuntimeError> {
        spec.validate()?;
        let body = create_body(spec)?;
        let options = CreateContainerOptions {
            name: Some(spec.name.clone()),
            ..Default::default()
        };
        let created = match self.docker.create_container(Some(options), body).await {
            Ok(c) => c,
            Err(BollardError::DockerResponseServerError {
                status_code: 404,
                message,
            }) => {
                tracing::debug!(%message, "create: not found");
                return Err(RuntimeError::ImageNotFound(spec.image.clone()));
            }
            Err(e) => return Err(map_err(e, &spec.name)),
        };
        for w in &created.warnings {
            tracing::warn!(container = %spec.name, "engine: {w}");
        }
        if let Err(e) = self.docker.start_container(&created.id, None).await {
            let err = map_err(e, &spec.name);
            let rm = RemoveContainerOptions {
                force: true,
                v: true,
                ..Default::default()
            };
            if let Err(rm_err) = self.docker.remove_container(&created.id, Some(rm)).await {
                tracing::warn!(container = %spec.name, "could not remove the container that failed to start: {rm_err}");
            }
            return Err(err);
        }
        Ok(WorkloadId(created.id))
    }

    async fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.docker
            .start_container(id, None)
            .await
            .map_err(|e| map_err(e, id))
    }

    async fn stop(&self, id: &str, timeout: Duration) -> Result<(), RuntimeError> {
        let options = StopContainerOptions {
            t: Some(i32::try_from(timeout.as_secs()).unwrap_or(i32::MAX)),
            signal: None,
        };
        self.docker
            .stop_container(id, Some(options))
            .await
            .map_err(|e| map_err(e, id))
    }

    async fn remove(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        let options = RemoveContainerOptions {
            force,
            v: true,
            ..Default::default()
        };
        self.docker
            .remove_container(id, Some(options))
            .await
            .map_err(|e| map_err(e, id))
    }

    async fn create_network(&self, name: &str, internal: bool) -> Result<(), RuntimeError> {
        match self
            .docker
            .inspect_network(
                name,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
        {
            Ok(_) => return Ok(()),
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(e) => return Err(map_err(e, name)),
        }
        let request = bollard::models::NetworkCreateRequest {
            name: name.to_string(),
            internal: Some(internal),
            labels: Some(HashMap::from([(
                MANAGED_LABEL.to_string(),
                "true".to_string(),
            )])),
            ..Default::default()
        };
        match self.docker.create_network(request).await {
            Ok(_) => Ok(()),
            // Created meanwhile by another thv.
            Err(BollardError::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(map_err(e, name)),
        }
    }

    async fn remove_network(&self, name: &str) -> Result<(), RuntimeError> {
        match self.docker.remove_network(name).await {
            Ok(()) => Ok(()),
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(map_err(e, name)),
        }
    }

    async fn connect_network(
        &self,
        container: &str,
        network: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<(), RuntimeError> {
        let request = bollard::models::NetworkConnectRequest {
            container: container.to_string(),
            endpoint_config: ip.map(spec::endpoint_at),
        };
        self.docker
            .connect_network(network, request)
            .await
            .map_err(|e| map_err(e, network))
    }

    async fn inspect_network(&self, name: &str) -> Result<NetworkInfo, RuntimeError> {
        let n = self
            .docker
            .inspect_network(
                name,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
            .map_err(|e| map_err(e, name))?;
        Ok(network_info(n.internal, n.ipam, n.labels))
    }

    async fn list_networks(&self) -> Result<Vec<NetworkInfo>, RuntimeError> {
        let list = self
            .docker
            .list_networks(None::<bollard::query_parameters::ListNetworksOptions>)
            .await
            .map_err(|e| map_err(e, "networks"))?;
        Ok(list
            .into_iter()
            .map(|n| network_info(n.internal, n.ipam, n.labels))
            .collect())
    }

    async fn inspect(&self, id: &str) -> Result<WorkloadInfo, RuntimeError> {
        let r = retry_transient_state(|| self.docker.inspect_container(id, None))
            .await
            .map_err(|e| map_err(e, id))?;
        Ok(info_from_inspect(r))
    }

    async fn list(&self) -> Result<Vec<WorkloadInfo>, RuntimeError> {
        let mut filters = HashMap::new();
        filters.insert(
            "label".to_owned(),
            vec![format!("{MANAGED_LABEL}={MANAGED_LABEL_VALUE}")],
        );
        let options = ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        };
        let list = retry_transient_state(|| self.docker.list_containers(Some(options.clone())))
            .await
            .map_err(|e| map_err(e, "containers"))?;
        Ok(list
            .into_iter()
            .map(info_from_summary)
            // The engine filtered already; checking again costs nothing.
            .filter(WorkloadInfo::is_managed)
            .collect())
    }

    async fn logs(&self, id: &str, follow: bool) -> Result<LogStream, RuntimeError> {
        // The log endpoint reports a missing container only once streamed: ask first, for a clear error.
        self.inspect(id).await?;
        let options = LogsOptions {
            follow,
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let raw = self.docker.logs(id, Some(options));
        Ok(lines(Box::pin(raw), id.to_owned()))
    }

    async fn build_image(
        &self,
        context_tar: Vec<u8>,
        options: &ImageBuildOptions,
        progress: BuildProgress<'_>,
    ) -> Result<(), RuntimeError> {
        let tag = options.tag.as_str();
        if tag.is_empty() || tag.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(RuntimeError::InvalidSpec(SpecError::Invalid {
                what: "image tag".to_owned(),
                message: format!("'{}' is not an image reference", tag.escape_debug()),
            }));
        }
        build::run(&self.docker, context_tar, options, progress).await?;
        // A stream cut short reports no error: the image must exist now.
        if !self.image_exists(tag).await? {
            return Err(RuntimeError::BuildFailed {
                tag: tag.to_owned(),
                message:
                    "the engine's build output ended without an error, but the image is missing"
                        .to_owned(),
            });
        }
        Ok(())
    }

    async fn load_image(&self, archive: &Path) -> Result<Vec<String>, RuntimeError> {
        images::load(&self.docker, archive).await
    }

    async fn export_image(&self, image: &str, to: &Path) -> Result<(), RuntimeError> {
        images::export(&self.docker, image, to).await
    }

    async fn tag_image(&self, source: &str, target: &str) -> Result<(), RuntimeError> {
        images::tag(&self.docker, source, target).await
    }

    async fn prune_labelled_images(&self, label: &str) -> Result<u64, RuntimeError> {
        images::prune_labelled(&self.docker, label).await
    }

    async fn pull_image(
        &self,
        image: &str,
        progress: BuildProgress<'_>,
    ) -> Result<(), RuntimeError> {
        let parsed = images::pull(&self.docker, image, progress).await?;
        // Podman names a pulled image by its fully qualified reference; either name must resolve now.
        if !self.image_exists(image).await? && !self.image_exists(&parsed.to_string()).await? {
            return Err(RuntimeError::PullFailed {
                image: image.to_owned(),
                message: "the engine reported no error, but the image is missing".to_owned(),
            });
        }
        Ok(())
    }

    async fn attach_stdio(&self, id: &str) -> Result<StdioAttachment, RuntimeError> {
        let options = AttachContainerOptions {
            stdin: true,
            stdout: true,
            stderr: true,
            stream: true,
            logs: false,
            detach_keys: None,
        };
        let attached = self
            .docker
            .attach_container(id, Some(options))
            .await
            .map_err(|e| map_err(e, id))?;
        Ok(StdioAttachment {
            stdin: attached.input,
            stdout: Box::pin(StdoutReader {
                inner: attached.output,
                buf: Vec::new(),
                pos: 0,
                container: id.to_owned(),
            }),
        })
    }
}

type RawLogStream = Pin<Box<dyn Stream<Item = Result<LogOutput, BollardError>> + Send>>;

#[cfg(test)]
mod tests {
    use super::*;

    /// CI failed once on an inspect that raced a container's exit (Podman: 500 `read /proc/N/cgroup: no such
    /// process`): such an answer is retried, other server errors are not.
    #[test]
    fn an_inspect_racing_an_exit_is_retried() {
        let race = BollardError::DockerResponseServerError {
            status_code: 500,
            message: "read /proc/30414/cgroup: no such process".into(),
        };
        assert!(is_transient_state_error(&race));
        let other = BollardError::DockerResponseServerError {
            status_code: 500,
            message: "no such container".into(),
        };
        assert!(!is_transient_state_error(&other));
    }

    #[test]
    fn detection_order() {
        let c = candidates(None, Some("/run/user/1000"));
        let eps: Vec<String> = c
            .iter()
            .map(|c| c.endpoint.as_ref().unwrap().to_string())
            .collect();
        assert_eq!(
            eps,
            vec![
                "unix:///var/run/docker.sock",
                "unix:///run/podman/podman.sock",
                "unix:///run/user/1000/podman/podman.sock"
            ]
        );
        let c = candidates(None, None);
        assert_eq!(c.len(), 3);
        assert!(c[2].endpoint.is_err());
        let c = candidates(Some("tcp://127.0.0.1:2375"), Some("/run/user/1000"));
        assert_eq!(
            c,
            vec![Candidate {
                origin: "DOCKER_HOST".into(),
                endpoint: Ok(Endpoint::Tcp("127.0.0.1:2375".into()))
            }]
        );
        let c = candidates(Some("ssh://host"), None);
        assert_eq!(
            c[0].endpoint,
            Err(EndpointError::Unsupported("ssh://host".into()))
        );
        assert_eq!(candidates(Some(""), None).len(), 3);
    }

    #[test]
    fn endpoint_parsing() {
        assert_eq!(
            Endpoint::parse("unix:///run/x.sock"),
            Ok(Endpoint::Unix("/run/x.sock".into()))
        );
        assert!(Endpoint::parse("unix://relative.sock").is_err());
        assert_eq!(
            Endpoint::parse("http://h:1/"),
            Ok(Endpoint::Tcp("h:1".into()))
        );
        assert!(Endpoint::parse("tcp://").is_err());
    }

    #[tokio::test]
    async fn unreachable_lists_what_was_tried() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.sock");
        let cands = vec![
            Candidate {
                origin: "test socket".into(),
                endpoint: Ok(Endpoint::Unix(missing.clone())),
            },
            Candidate {
                origin: "rootless Podman socket".into(),
                endpoint: Err(EndpointError::NoRuntimeDir),
            },
        ];
        let err = DockerRuntime::connect_first(&cands).await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, RuntimeError::Unreachable { .. }));
        assert!(msg.contains(&missing.display().to_string()), "{msg}");
        assert!(msg.contains("no such socket"), "{msg}");
        assert!(msg.contains("XDG_RUNTIME_DIR"), "{msg}");
        // A socket file nobody listens on.
        let dead = dir.path().join("dead.sock");
        drop(std::os::unix::net::UnixListener::bind(&dead).unwrap());
        let err = DockerRuntime::connect_first(&[Candidate {
            origin: "DOCKER_HOST".into(),
            endpoint: Ok(Endpoint::Unix(dead.clone())),
        }])
        .await
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("dead.sock") && msg.contains("unset it"),
            "{msg}"
        );
    }

    #[test]
    fn port_keys() {
        assert_eq!(tcp_port("8080/tcp"), Some(8080));
        assert_eq!(tcp_port("53/udp"), None);
        assert_eq!(tcp_port("80"), Some(80));
    }
}
