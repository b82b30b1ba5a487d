//! Where the engine is: endpoints and the order they are tried in (see the module documentation).

use super::*;

/// The Docker socket.
pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";
/// Rootful Podman's API socket.
pub const PODMAN_ROOTFUL_SOCKET: &str = "/run/podman/podman.sock";
/// How long an endpoint has to answer `/version` during detection.
pub(super) const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// bollard's request timeout (time to the response headers; streams are not limited), in seconds.
pub(super) const REQUEST_TIMEOUT_SECS: u64 = 120;

/// Where an engine listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A Unix socket path.
    Unix(PathBuf),
    /// `host:port`, plain HTTP.
    Tcp(String),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unix(p) => write!(f, "unix://{}", p.display()),
            Self::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// Why an engine endpoint setting cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("'{0}': a unix socket needs an absolute path (unix:///path)")]
    RelativeSocket(String),
    #[error("'{0}': no address after the scheme")]
    NoAddress(String),
    #[error("'{0}' is not supported (use unix:///path/to.sock or tcp://host:port)")]
    Unsupported(String),
    #[error("$XDG_RUNTIME_DIR/podman/podman.sock: XDG_RUNTIME_DIR is not set")]
    NoRuntimeDir,
}

impl Endpoint {
    /// Parses a `DOCKER_HOST` value: `unix:///path`, `tcp://host:port` (or `http://host:port`).
    pub fn parse(s: &str) -> Result<Self, EndpointError> {
        if let Some(path) = s.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(EndpointError::RelativeSocket(s.to_owned()));
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = s
            .strip_prefix("tcp://")
            .or_else(|| s.strip_prefix("http://"))
        {
            let addr = addr.trim_end_matches('/');
            if addr.is_empty() {
                return Err(EndpointError::NoAddress(s.to_owned()));
            }
            return Ok(Self::Tcp(addr.to_owned()));
        }
        Err(EndpointError::Unsupported(s.to_owned()))
    }
}

/// One endpoint detection considers: where it came from, and the endpoint (or why the setting is unusable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// `DOCKER_HOST`, `Docker socket`, `rootful Podman socket`, `rootless Podman socket`.
    pub origin: String,
    pub endpoint: Result<Endpoint, EndpointError>,
}

/// The endpoints [`DockerRuntime::connect`] tries, in order, given `DOCKER_HOST` and `XDG_RUNTIME_DIR`.
pub fn candidates(docker_host: Option<&str>, xdg_runtime_dir: Option<&str>) -> Vec<Candidate> {
    if let Some(h) = docker_host.filter(|h| !h.is_empty()) {
        return vec![Candidate {
            origin: "DOCKER_HOST".into(),
            endpoint: Endpoint::parse(h),
        }];
    }
    let mut out = vec![
        Candidate {
            origin: "Docker socket".into(),
            endpoint: Ok(Endpoint::Unix(DOCKER_SOCKET.into())),
        },
        Candidate {
            origin: "rootful Podman socket".into(),
            endpoint: Ok(Endpoint::Unix(PODMAN_ROOTFUL_SOCKET.into())),
        },
    ];
    match xdg_runtime_dir.filter(|d| !d.is_empty()) {
        Some(dir) => out.push(Candidate {
            origin: "rootless Podman socket".into(),
            endpoint: Ok(Endpoint::Unix(
                Path::new(dir).join("podman").join("podman.sock"),
            )),
        }),
        None => out.push(Candidate {
            origin: "rootless Podman socket".into(),
            endpoint: Err(EndpointError::NoRuntimeDir),
        }),
    }
    out
}
