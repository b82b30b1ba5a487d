//! The container runtime: what the runner asks of a container engine, and what it asks it to run.
//!
//! - [`Runtime`]: the one trait the rest of the runner uses (create and start a workload, stop, start, remove,
//!   inspect, list the managed ones, logs, attach to a stdio server's stdin/stdout, image presence, image
//!   builds from a tar build context: [`Runtime::build_image`], used by [`crate::build`]).
//! - [`WorkloadSpec`]: one container to run, built from a [`RunConfig`] by [`WorkloadSpec::from_run_config`]
//!   (and checked again by [`WorkloadSpec::validate`] before any engine call).
//! - [`docker`]: the implementation over the Docker Engine API (bollard), for Docker and for Podman's
//!   compatible socket, with socket auto-detection.
//!
//! How a RunConfig becomes a container: [`spec`].

pub mod docker;
pub mod spec;

pub use spec::{SpecError, WorkloadSpec, mounts_of, network_mode_for, outbound_fully_closed};

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use thiserror::Error;
use thv_core::runconfig::{
    Mount, MountError, MountSource, RunConfig, TransportType, labels, parse_mount, parse_volume,
};
use thv_core::toolhive::PermissionProfile;

/// The label every managed container carries, with the value [`MANAGED_LABEL_VALUE`].
pub const MANAGED_LABEL: &str = labels::TOOLHIVE;
/// The value of [`MANAGED_LABEL`].
pub const MANAGED_LABEL_VALUE: &str = "true";
/// The host address published ports bind to.
pub const DEFAULT_PUBLISH_HOST: &str = "127.0.0.1";
/// How long [`Runtime::stop`] lets a container exit after SIGTERM before the engine kills it, by default.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The engine's id of a container.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkloadId(pub String);

impl WorkloadId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkloadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for WorkloadId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The network a container is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    /// No network at all: only the loopback interface.
    None,
    /// The engine's default bridge network.
    Bridge,
    /// The host's network namespace.
    Host,
}

impl NetworkMode {
    /// The engine's name for it (`HostConfig.NetworkMode`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Bridge => "bridge",
            Self::Host => "host",
        }
    }
}

impl fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What [`Runtime::inspect_network`] reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkInfo {
    /// Subnets as (network address, prefix length).
    pub subnets: Vec<(std::net::IpAddr, u8)>,
    /// The gateways of the subnets that have one (the host's address on the network).
    pub gateways: Vec<std::net::IpAddr>,
    pub internal: bool,
    /// Created by thv ([`MANAGED_LABEL`]`=true`).
    pub managed: bool,
}

/// A container port published on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    /// TCP port in the container.
    pub container_port: u16,
    /// Host address to bind ([`DEFAULT_PUBLISH_HOST`]).
    pub host_ip: String,
    /// Host port; `None`: a free port is chosen when the container is created.
    pub host_port: Option<u16>,
}

/// Errors of a [`Runtime`].
#[derive(Debug, Error)]
pub enum RuntimeError {
    /// No container engine answered. `tried` lists every endpoint tried and why it failed.
    #[error("no container engine answered; tried:\n{}\n{hint}", format_tried(.tried))]
    Unreachable {
        tried: Vec<(String, String)>,
        hint: String,
    },
    /// The container does not exist.
    #[error("workload '{0}' not found")]
    NotFound(String),
    /// The image is not present in the engine's local store.
    #[error("image '{0}' not found (pull or build it first)")]
    ImageNotFound(String),
    /// A container with that name exists already, or the operation conflicts with the container's state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The spec was refused before any engine call.
    #[error("invalid workload: {0}")]
    InvalidSpec(#[from] SpecError),
    /// An image build failed: the engine's message (the failing step's output went to the build's progress
    /// callback).
    #[error("building image '{tag}' failed: {message}")]
    BuildFailed { tag: String, message: String },
    /// Loading an image archive failed (the engine's message).
    #[error("cannot load the image archive {archive}: {message}")]
    LoadFailed { archive: String, message: String },
    /// Pulling an image failed (the registry's or engine's message).
    #[error("cannot pull image '{image}': {message}")]
    PullFailed { image: String, message: String },
    /// Any other engine error (status and message as the engine gave them).
    #[error("container engine error: {0}")]
    Engine(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

fn format_tried(tried: &[(String, String)]) -> String {
    tried
        .iter()
        .map(|(endpoint, why)| format!("  - {endpoint}: {why}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What [`Runtime::version`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineVersion {
    /// `Docker Engine`, `Podman Engine`, … (from the version's components, when reported).
    pub engine: String,
    /// Engine version (`4.3.1`).
    pub version: String,
    /// Engine API version (`1.41`).
    pub api_version: String,
    /// Where the runtime is connected (`unix:///run/podman/podman.sock`).
    pub endpoint: String,
}

impl EngineVersion {
    /// Whether the engine is Podman (its compatible API).
    pub fn is_podman(&self) -> bool {
        self.engine.to_ascii_lowercase().contains("podman")
    }
}

/// State of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkloadState {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    /// Exited (stopped, or the process ended).
    Stopped,
    Dead,
    /// A state this runtime does not know, as the engine named it.
    Unknown(String),
}

impl WorkloadState {
    /// From the engine's state name.
    pub fn from_engine(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "created" | "configured" | "initialized" => Self::Created,
            "running" => Self::Running,
            "paused" => Self::Paused,
            "restarting" => Self::Restarting,
            "removing" => Self::Removing,
            "exited" | "stopped" | "stopping" => Self::Stopped,
            "dead" => Self::Dead,
            _ => Self::Unknown(s.to_owned()),
        }
    }

    pub fn is_running(&self) -> bool {
        matches!(self, Self::Running)
    }
}

impl fmt::Display for WorkloadState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Restarting => "restarting",
            Self::Removing => "removing",
            Self::Stopped => "stopped",
            Self::Dead => "dead",
            Self::Unknown(s) => s,
        })
    }
}

/// A host address and port a container port is published on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HostBinding {
    pub host_ip: String,
    pub host_port: u16,
}

/// What [`Runtime::inspect`] and [`Runtime::list`] report about a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadInfo {
    pub id: WorkloadId,
    /// Container name (without the engine's leading `/`).
    pub name: String,
    pub image: String,
    pub state: WorkloadState,
    pub labels: BTreeMap<String, String>,
    /// Published TCP ports: container port → host bindings.
    pub ports: BTreeMap<u16, Vec<HostBinding>>,
    /// Exit code of the last run, when stopped.
    pub exit_code: Option<i64>,
}

impl WorkloadInfo {
    /// The first host port a container port is published on.
    pub fn host_port(&self, container_port: u16) -> Option<u16> {
        self.ports
            .get(&container_port)?
            .first()
            .map(|b| b.host_port)
    }

    /// Whether the container carries [`MANAGED_LABEL`]`=true`.
    pub fn is_managed(&self) -> bool {
        self.labels.get(MANAGED_LABEL).map(String::as_str) == Some(MANAGED_LABEL_VALUE)
    }
}

/// A stdio server's stdin and stdout, attached ([`Runtime::attach_stdio`]); the proxy's type.
pub use thv_proxy::StdioAttachment;

/// Which output stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSource {
    Stdout,
    Stderr,
}

/// One line of a container's log (without its newline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub source: LogSource,
    pub text: String,
}

/// A container's log, line by line.
pub type LogStream = BoxStream<'static, Result<LogLine, RuntimeError>>;

/// What [`Runtime::build_image`] builds, and how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageBuildOptions {
    /// The image's name and tag (`localhost/thv-uvx-mcp-server-time:2025.9.25`).
    pub tag: String,
    /// Path of the Dockerfile in the build context; empty: `Dockerfile`.
    pub dockerfile: String,
    /// Build every step again instead of reusing cached layers.
    pub no_cache: bool,
    /// Ask the engine to pull the `FROM` images even when present; `false` never asks for a pull (air-gapped
    /// sites build from local base images).
    pub pull: bool,
    /// Labels set on the image.
    pub labels: BTreeMap<String, String>,
    /// Build arguments (`ARG`); not for secrets: they are recorded in the image history.
    pub build_args: BTreeMap<String, String>,
}

/// Receives a build's output, one line at a time (without its newline).
pub type BuildProgress<'a> = &'a mut (dyn FnMut(&str) + Send);

/// What the runner asks of a container engine.
#[async_trait]
pub trait Runtime: Send + Sync {
    /// Checks that the engine answers.
    async fn ping(&self) -> Result<(), RuntimeError>;

    /// The engine's name and versions.
    async fn version(&self) -> Result<EngineVersion, RuntimeError>;

    /// Whether the image is present in the engine's local store.
    async fn image_exists(&self, image: &str) -> Result<bool, RuntimeError>;

    /// Validates the spec ([`WorkloadSpec::validate`], before any engine call), creates the container and
    /// starts it. A container that was created but failed to start is removed again.
    async fn create_and_start(&self, spec: &WorkloadSpec) -> Result<WorkloadId, RuntimeError>;

    /// Starts a stopped container (a no-op when it is running).
    async fn start(&self, id: &str) -> Result<(), RuntimeError>;

    /// Stops a container: SIGTERM, then SIGKILL after `timeout` (a no-op when it is stopped).
    async fn stop(&self, id: &str, timeout: Duration) -> Result<(), RuntimeError>;

    /// Removes a container (and its anonymous volumes); `force` kills it first when it runs.
    async fn remove(&self, id: &str, force: bool) -> Result<(), RuntimeError>;

    /// The container's id, name, state, labels and published ports. [`RuntimeError::NotFound`] when it does
    /// not exist.
    async fn inspect(&self, id: &str) -> Result<WorkloadInfo, RuntimeError>;

    /// Every managed container ([`MANAGED_LABEL`]`=true`), running or not.
    async fn list(&self) -> Result<Vec<WorkloadInfo>, RuntimeError>;

    /// The container's log (stdout and stderr), line by line; with `follow`, the stream goes on until the
    /// container stops.
    async fn logs(&self, id: &str, follow: bool) -> Result<LogStream, RuntimeError>;

    /// Attaches to a stdio server's stdin and stdout (the container must have been created with
    /// [`WorkloadSpec::stdio`]). Output written before the attachment is not replayed.
    async fn attach_stdio(&self, id: &str) -> Result<StdioAttachment, RuntimeError>;

    /// Builds an image from a build context: `context_tar` is an uncompressed tar archive holding the
    /// Dockerfile and every file it copies. The engine's output goes to `progress` line by line as it comes;
    /// a failed step is [`RuntimeError::BuildFailed`] with the engine's message (the step's own output went to
    /// `progress` before it). The tag is checked before any engine call (non-empty, no whitespace or control
    /// characters).
    async fn build_image(
        &self,
        context_tar: Vec<u8>,
        options: &ImageBuildOptions,
        progress: BuildProgress<'_>,
    ) -> Result<(), RuntimeError>;

    /// Pulls an image from its registry into the engine's store (with the engine's own registry settings:
    /// mirrors, insecure registries, credentials). Progress lines go to `progress`; a failure is
    /// [`RuntimeError::PullFailed`] with the registry's message. The reference is checked before any engine
    /// call ([`thv_core::image_ref::ImageRef::parse`]).
    async fn pull_image(
        &self,
        image: &str,
        progress: BuildProgress<'_>,
    ) -> Result<(), RuntimeError>;

    /// Loads the images of an archive file into the engine's store (`POST /images/load`: an OCI image layout as
    /// a tar — `oci-archive`, named by its `index.json` — or `docker save`'s format), streamed from the file.
    /// Returns the names the engine reports loaded; a failure is [`RuntimeError::LoadFailed`].
    async fn load_image(&self, archive: &std::path::Path) -> Result<Vec<String>, RuntimeError>;

    /// Gives the image `source` the name `target` (`REPOSITORY:TAG`) too (`POST /images/{name}/tag`).
    async fn tag_image(&self, source: &str, target: &str) -> Result<(), RuntimeError>;

    /// Removes the untagged images labelled `label` (`KEY=VALUE`): a build's intermediate images
    /// (`POST /images/prune`); how many were removed.
    async fn prune_labelled_images(&self, label: &str) -> Result<u64, RuntimeError>;

    /// Writes an image of the engine's store to the file `to` as the engine exports it (`GET
    /// /images/{name}/get`: `docker save`'s format, `manifest.json` naming the config and layers), streamed.
    async fn export_image(&self, image: &str, to: &std::path::Path) -> Result<(), RuntimeError>;

    /// Creates a network (labelled as managed) unless one of that name exists. `internal`: no route out of it
    /// (network isolation: a workload there reaches only the containers on it).
    async fn create_network(&self, name: &str, internal: bool) -> Result<(), RuntimeError>;

    /// Removes a network; an absent one is not an error.
    async fn remove_network(&self, name: &str) -> Result<(), RuntimeError>;

    /// Attaches a container to one more network, at a fixed address when `ip` is given.
    async fn connect_network(
        &self,
        container: &str,
        network: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<(), RuntimeError>;

    /// A network's subnets and gateways; [`RuntimeError::NotFound`] when it does not exist.
    async fn inspect_network(&self, name: &str) -> Result<NetworkInfo, RuntimeError>;

    /// Every network of the engine (managed or not): their subnets and gateways.
    async fn list_networks(&self) -> Result<Vec<NetworkInfo>, RuntimeError>;

    /// The engine's default bridge network: `podman` on Podman, `bridge` on Docker.
    async fn default_network(&self) -> Result<String, RuntimeError> {
        Ok(if self.version().await?.is_podman() {
            "podman".to_owned()
        } else {
            "bridge".to_owned()
        })
    }

    /// The whole log so far, as lines (stdout and stderr interleaved as the engine stored them).
    async fn log_lines(&self, id: &str) -> Result<Vec<String>, RuntimeError> {
        use futures::TryStreamExt;
        let lines: Vec<LogLine> = self.logs(id, false).await?.try_collect().await?;
        Ok(lines.into_iter().map(|l| l.text).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names() {
        assert_eq!(
            WorkloadState::from_engine("running"),
            WorkloadState::Running
        );
        assert_eq!(WorkloadState::from_engine("exited"), WorkloadState::Stopped);
        assert_eq!(
            WorkloadState::from_engine("configured"),
            WorkloadState::Created
        );
        assert_eq!(
            WorkloadState::from_engine("weird"),
            WorkloadState::Unknown("weird".into())
        );
    }
}
