//! One container to run ([`WorkloadSpec`]), built from a [`RunConfig`] and checked before any engine call.
//!
//! # From a RunConfig to a container
//!
//! - **image**, **command arguments** (`cmd_args`, the container's `Cmd`), **name** (`container_name`);
//! - **env**: `env_vars`, plus the transport variables (`MCP_TRANSPORT`, `MCP_PORT`, …), plus the resolved values
//!   of the `secrets` references (given by the caller: a RunConfig never holds a secret value);
//! - **labels**: the standard `toolhive*` labels, the RunConfig's `container_labels`, and always `toolhive=true`
//!   (the mark of a managed container: [`Runtime::list`] returns only those);
//! - **mounts**: the permission profile's `read` entries become read-only binds, its `write` entries read-write
//!   binds, and the RunConfig's `volumes` (`host:container[:ro|:rw]`) are added. Every entry is validated with
//!   [`thv_core::runconfig::parse_mount`] (path traversal, relative paths, shell injection characters refused); an
//!   invalid entry is an error before any engine call. `volume://name:/path` entries become named volumes; other
//!   resource schemes are refused;
//! - **network**, see [`NetworkMode`]:
//!   - `none` when the profile's network mode is `none`, or when its outbound rules are *fully closed*: no
//!     `insecure_allow_all` and no `allow_host` (ports alone allow nothing: ToolHive's egress rule needs a host
//!     *and* a port). A profile with no `network` section, and a RunConfig with no profile at all, are fully
//!     closed (fail closed);
//!   - `host` when the profile's mode is `host` and its outbound is not fully closed;
//!   - otherwise `bridge` (the engine's default network). Filtering egress to the allowed hosts and ports is
//!     the job of the network-isolation layer (an egress proxy), not of this module;
//!   - **exception: an HTTP transport** (`sse`, `streamable-http`) needs a network to publish its port, so a
//!     fully closed profile gets `bridge` for it (network isolation then blocks all egress; without it, a
//!     warning says egress is not blocked), and an explicit mode `none` with an HTTP transport is refused (the
//!     server could never be reached);
//!   - network isolation ([`crate::workloads::isolation`]) then puts a `bridge` container on an internal
//!     network instead ([`WorkloadSpec::network_name`], [`WorkloadSpec::ip_address`], [`WorkloadSpec::dns`]);
//! - **ports** (HTTP transports only): the `target_port` in the container is published on `127.0.0.1`, on a
//!   given host port ([`WorkloadSpec::with_host_port`]) or, by default, on a free port chosen when the container
//!   is created; [`Runtime::inspect`] reports the binding;
//! - **stdio** transport: stdin kept open (`open_stdin`, not closed when one client detaches) and attachable
//!   ([`Runtime::attach_stdio`]), no TTY;
//! - **security**: not privileged unless the profile says `privileged: true`; `no-new-privileges`; all
//!   capabilities dropped (unless privileged).

use super::*;

/// One container to run. Build it with [`WorkloadSpec::from_run_config`] (or by hand for tests); the runtime
/// calls [`WorkloadSpec::validate`] before it talks to the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadSpec {
    /// Container name.
    pub name: String,
    /// Image reference (must be present locally or pullable by the engine).
    pub image: String,
    /// Arguments: the container's `Cmd` (passed to the image's entrypoint, or the command when it has none).
    pub cmd: Vec<String>,
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// Labels ([`MANAGED_LABEL`]`=true` among them).
    pub labels: BTreeMap<String, String>,
    /// Validated mounts (`read_only` for the profile's `read` entries).
    pub mounts: Vec<Mount>,
    /// See the module documentation for the rule.
    pub network: NetworkMode,
    /// Published ports (HTTP transports).
    pub ports: Vec<PortMapping>,
    /// Keep stdin open and attachable (stdio transport).
    pub stdio: bool,
    /// Run privileged (all devices and capabilities): only when the profile says so.
    pub privileged: bool,
    /// Join this network (created with [`Runtime::create_network`]) instead of [`WorkloadSpec::network`]'s.
    pub network_name: Option<String>,
    /// A fixed address on [`WorkloadSpec::network_name`] (network isolation: the sidecar and the workload find
    /// each other by address).
    pub ip_address: Option<std::net::IpAddr>,
    /// DNS servers instead of the engine's (network isolation: the egress sidecar's resolver).
    pub dns: Vec<std::net::IpAddr>,
    /// Namespaced kernel settings (`net.ipv4.ip_unprivileged_port_start` for the sidecar's DNS port).
    pub sysctls: BTreeMap<String, String>,
}

/// Why a [`WorkloadSpec`] could not be built or was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SpecError {
    #[error("the workload runs no container (a remote server)")]
    Remote,
    #[error("the workload has no image")]
    NoImage,
    #[error("the workload has no container name")]
    NoContainerName,
    // The cause is in the message, so it is not also the `source()` (an error chain would print it twice).
    #[error("invalid `{field}`: {error}")]
    Mount {
        /// `permission_profile.read[i]`, `permission_profile.write[i]`, `volumes[i]` or `mounts[i]`.
        field: String,
        error: MountError,
    },
    #[error(
        "invalid `{field}`: the resource scheme '{scheme}' is not supported (only volume://NAME:/path)"
    )]
    UnsupportedResource { field: String, scheme: String },
    #[error(
        "the {transport} transport needs `target_port` (the port the server listens on in the container)"
    )]
    NoTargetPort { transport: TransportType },
    #[error(
        "the permission profile's network mode is '{mode}', but a {transport} server must be reachable on its \
         port: use the network mode `bridge` (or leave it unset)"
    )]
    UnreachableHttp {
        mode: String,
        transport: TransportType,
    },
    #[error(
        "the permission profile's network mode '{0}' is not supported by this runtime (none, bridge, host)"
    )]
    UnsupportedNetworkMode(String),
    #[error("the secret reference `{name}` (for env var {target}) has no resolved value")]
    MissingSecret { name: String, target: String },
    /// A host path to mount that does not exist (the engine would create it, as root).
    #[error(
        "invalid `{field}`: the host path '{path}' does not exist (thv mounts existing paths only; create it first)"
    )]
    MissingHostPath { field: String, path: String },
    #[error("invalid {what}: {message}")]
    Invalid { what: String, message: String },
}

impl WorkloadSpec {
    /// A spec with only the essentials: managed label, no network, no mounts, no ports, not stdio.
    pub fn new(name: impl Into<String>, image: impl Into<String>) -> Self {
        let mut labels = BTreeMap::new();
        labels.insert(MANAGED_LABEL.to_owned(), MANAGED_LABEL_VALUE.to_owned());
        Self {
            name: name.into(),
            image: image.into(),
            cmd: Vec::new(),
            env: BTreeMap::new(),
            labels,
            mounts: Vec::new(),
            network: NetworkMode::None,
            ports: Vec::new(),
            stdio: false,
            privileged: false,
            network_name: None,
            ip_address: None,
            dns: Vec::new(),
            sysctls: BTreeMap::new(),
        }
    }

    /// Builds the spec of a RunConfig's container (see the module documentation for every rule). `secrets`
    /// holds the resolved values of the RunConfig's secret references, by **env var name** (the reference's
    /// `target`); a reference without a value is an error.
    pub fn from_run_config(
        rc: &RunConfig,
        secrets: &BTreeMap<String, String>,
    ) -> Result<Self, SpecError> {
        if rc.is_remote() {
            return Err(SpecError::Remote);
        }
        let image = rc.image.clone().ok_or(SpecError::NoImage)?;
        let name = rc
            .container_name
            .clone()
            .ok_or(SpecError::NoContainerName)?;
        let none_profile = PermissionProfile::none();
        let profile = rc.permission_profile.as_ref().unwrap_or(&none_profile);

        // env: plain vars, transport vars, secrets (highest).
        let mut env = rc.env_vars.clone();
        env.extend(rc.transport_env_vars());
        for s in &rc.secrets {
            let value = secrets
                .get(&s.target)
                .ok_or_else(|| SpecError::MissingSecret {
                    name: s.name.clone(),
                    target: s.target.clone(),
                })?;
            env.insert(s.target.clone(), value.clone());
        }

        let mut labels = rc.standard_labels();
        labels.extend(rc.container_labels.clone());
        labels.insert(MANAGED_LABEL.to_owned(), MANAGED_LABEL_VALUE.to_owned());

        let mounts = mounts_of(rc)?;

        let network = network_mode_for(profile, rc.transport)?;
        if rc.transport.is_http() && outbound_fully_closed(profile) && !rc.isolate_network {
            tracing::warn!(
                "the permission profile allows no outbound connection, but a {} server needs a network to \
                 publish its port: without network isolation, it gets the bridge network and egress is not blocked",
                rc.transport
            );
        }

        let ports = if rc.transport.is_http() {
            let target = rc.target_port.ok_or(SpecError::NoTargetPort {
                transport: rc.transport,
            })?;
            vec![PortMapping {
                container_port: target,
                host_ip: DEFAULT_PUBLISH_HOST.to_owned(),
                host_port: None,
            }]
        } else {
            Vec::new()
        };

        let spec = Self {
            name,
            image,
            cmd: rc.cmd_args.clone(),
            env,
            labels,
            mounts,
            network,
            ports,
            stdio: rc.transport == TransportType::Stdio,
            privileged: profile.is_privileged(),
            network_name: None,
            ip_address: None,
            dns: Vec::new(),
            sysctls: BTreeMap::new(),
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Publishes the (first) container port on this host port instead of a free one.
    pub fn with_host_port(mut self, host_port: u16) -> Self {
        if let Some(p) = self.ports.first_mut() {
            p.host_port = Some(host_port);
        }
        self
    }

    /// Checks what the engine would otherwise be trusted with: the name and image are plain, env names are
    /// names, every mount passes [`parse_mount`]'s rules again (a `Mount` can be built by hand), resource
    /// mounts are `volume://`, ports are non-zero, the managed label is set, and network `none` has no
    /// published port.
    pub fn validate(&self) -> Result<(), SpecError> {
        let invalid = |what: &str, message: String| SpecError::Invalid {
            what: what.to_owned(),
            message,
        };
        if let Some(e) = thv_core::runconfig::name_error(&self.name) {
            return Err(invalid("container name", e));
        }
        if self.image.is_empty()
            || self
                .image
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(invalid(
                "image",
                format!("'{}' is not an image reference", self.image.escape_debug()),
            ));
        }
        for (k, v) in &self.env {
            if let Some(e) = thv_core::runconfig::env_name_error(k) {
                return Err(invalid(&format!("env var '{}'", k.escape_debug()), e));
            }
            if v.contains('\0') {
                return Err(invalid(
                    &format!("env var {k}"),
                    "the value contains a NUL character".into(),
                ));
            }
        }
        for (k, v) in &self.labels {
            if k.is_empty() || k.chars().any(char::is_control) || v.chars().any(char::is_control) {
                return Err(invalid(
                    &format!("label '{}'", k.escape_debug()),
                    "labels must be non-empty and free of control characters".into(),
                ));
            }
        }
        if self.labels.get(MANAGED_LABEL).map(String::as_str) != Some(MANAGED_LABEL_VALUE) {
            return Err(invalid(
                "labels",
                format!("a managed workload carries {MANAGED_LABEL}={MANAGED_LABEL_VALUE}"),
            ));
        }
        for (i, m) in self.mounts.iter().enumerate() {
            let field = format!("mounts[{i}]");
            let declaration = match &m.source {
                MountSource::Host(h) => format!("{h}:{}", m.target),
                MountSource::Resource { scheme, resource } => {
                    format!("{scheme}://{resource}:{}", m.target)
                }
            };
            let reparsed =
                parse_mount(&declaration, m.read_only).map_err(|error| SpecError::Mount {
                    field: field.clone(),
                    error,
                })?;
            if reparsed != *m {
                return Err(invalid(
                    &field,
                    format!("'{declaration}' is not a cleaned mount (use parse_mount)"),
                ));
            }
            if let MountSource::Resource { scheme, .. } = &m.source
                && scheme != "volume"
            {
                return Err(SpecError::UnsupportedResource {
                    field,
                    scheme: scheme.clone(),
                });
            }
        }
        for p in &self.ports {
            if p.container_port == 0 || p.host_port == Some(0) {
                return Err(invalid("port mapping", "0 is not a port".into()));
            }
            if p.host_ip.parse::<std::net::IpAddr>().is_err() {
                return Err(invalid(
                    "port mapping",
                    format!("'{}' is not an IP address", p.host_ip.escape_debug()),
                ));
            }
        }
        if self.network == NetworkMode::None && !self.ports.is_empty() {
            return Err(invalid(
                "network",
                "a container without network cannot publish ports".into(),
            ));
        }
        Ok(())
    }
}

/// The profile's mounts, validated, `read` entries read-only and `write` entries read-write; the error names
/// the entry (`permission_profile.read[0]`).
/// The mounts of a RunConfig's container: its profile's `read` and `write` entries, then its `volumes`, each
/// validated (and a host path must exist). [`WorkloadSpec::from_run_config`] uses them; the workload service
/// checks them before it builds or pulls anything.
pub fn mounts_of(rc: &RunConfig) -> Result<Vec<Mount>, SpecError> {
    let none_profile = PermissionProfile::none();
    let mut mounts = profile_mounts(rc.permission_profile.as_ref().unwrap_or(&none_profile))?;
    for (i, v) in rc.volumes.iter().enumerate() {
        let m = parse_volume(v).map_err(|error| SpecError::Mount {
            field: format!("volumes[{i}]"),
            error,
        })?;
        host_path_exists(&m, || format!("volumes[{i}]"))?;
        mounts.push(m);
    }
    Ok(mounts)
}

/// A bind mount's host path must exist: the engine would otherwise create it (as root) on the host.
fn host_path_exists(m: &Mount, field: impl FnOnce() -> String) -> Result<(), SpecError> {
    match &m.source {
        MountSource::Host(path) if std::fs::symlink_metadata(path).is_err() => {
            Err(SpecError::MissingHostPath {
                field: field(),
                path: path.clone(),
            })
        }
        _ => Ok(()),
    }
}

fn profile_mounts(profile: &PermissionProfile) -> Result<Vec<Mount>, SpecError> {
    let mut out = Vec::new();
    for (list, entries, read_only) in [
        ("read", profile.read_mounts(), true),
        ("write", profile.write_mounts(), false),
    ] {
        for (i, e) in entries.iter().enumerate() {
            let field = format!("permission_profile.{list}[{i}]");
            let m = parse_mount(e, read_only).map_err(|error| SpecError::Mount {
                field: field.clone(),
                error,
            })?;
            if let MountSource::Resource { scheme, .. } = &m.source
                && scheme != "volume"
            {
                return Err(SpecError::UnsupportedResource {
                    field,
                    scheme: scheme.clone(),
                });
            }
            host_path_exists(&m, || field.clone())?;
            out.push(m);
        }
    }
    Ok(out)
}

/// Whether the profile's outbound rules allow nothing: no `insecure_allow_all` and no `allow_host`.
pub fn outbound_fully_closed(profile: &PermissionProfile) -> bool {
    !profile.allows_all_outbound() && profile.allowed_hosts().is_empty()
}

/// The network of a container with this profile and transport (the rule is in the module documentation).
pub fn network_mode_for(
    profile: &PermissionProfile,
    transport: TransportType,
) -> Result<NetworkMode, SpecError> {
    let mode = profile.network_mode().unwrap_or("");
    let explicit = match mode {
        "none" => Some(NetworkMode::None),
        "" | "bridge" | "default" => None,
        "host" => Some(NetworkMode::Host),
        other => return Err(SpecError::UnsupportedNetworkMode(other.to_owned())),
    };
    if transport.is_http() {
        if explicit == Some(NetworkMode::None) {
            return Err(SpecError::UnreachableHttp {
                mode: mode.to_owned(),
                transport,
            });
        }
        return Ok(explicit.unwrap_or(NetworkMode::Bridge));
    }
    if explicit == Some(NetworkMode::None) || outbound_fully_closed(profile) {
        return Ok(NetworkMode::None);
    }
    Ok(explicit.unwrap_or(NetworkMode::Bridge))
}

#[cfg(test)]
mod tests {
    use super::*;
    use thv_core::toolhive::{NetworkPermissions, OutboundNetworkPermissions};

    fn rc(transport: TransportType) -> RunConfig {
        let mut rc = RunConfig::new("srv", transport);
        rc.image = Some("localhost/x:1".into());
        rc.permission_profile = Some(PermissionProfile::network());
        if transport.is_http() {
            rc.set_target_port(8080);
        }
        rc
    }

    fn outbound(allow_all: bool, hosts: &[&str], ports: &[u16]) -> PermissionProfile {
        PermissionProfile {
            network: Some(NetworkPermissions {
                outbound: Some(OutboundNetworkPermissions {
                    insecure_allow_all: Some(allow_all),
                    allow_host: Some(hosts.iter().map(|h| (*h).to_owned()).collect()),
                    allow_port: Some(ports.to_vec()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn network_rule() {
        use NetworkMode::*;
        let stdio = TransportType::Stdio;
        let http = TransportType::StreamableHttp;
        assert_eq!(
            network_mode_for(&PermissionProfile::none(), stdio),
            Ok(None)
        );
        assert_eq!(
            network_mode_for(&PermissionProfile::network(), stdio),
            Ok(Bridge)
        );
        assert_eq!(
            network_mode_for(&PermissionProfile::default(), stdio),
            Ok(None)
        );
        assert_eq!(
            network_mode_for(&outbound(false, &[], &[443]), stdio),
            Ok(None)
        );
        assert_eq!(
            network_mode_for(&outbound(false, &["api.github.com"], &[443]), stdio),
            Ok(Bridge)
        );
        let mut explicit_none = PermissionProfile::network();
        explicit_none.network.as_mut().unwrap().mode = Some("none".into());
        assert_eq!(network_mode_for(&explicit_none, stdio), Ok(None));
        assert!(matches!(
            network_mode_for(&explicit_none, http),
            Err(SpecError::UnreachableHttp { .. })
        ));
        assert_eq!(
            network_mode_for(&PermissionProfile::none(), http),
            Ok(Bridge)
        );
        let mut host = PermissionProfile::network();
        host.network.as_mut().unwrap().mode = Some("host".into());
        assert_eq!(network_mode_for(&host, stdio), Ok(Host));
        let mut host_closed = PermissionProfile::none();
        host_closed.network.as_mut().unwrap().mode = Some("host".into());
        assert_eq!(network_mode_for(&host_closed, stdio), Ok(None));
        let mut custom = PermissionProfile::network();
        custom.network.as_mut().unwrap().mode = Some("mynet".into());
        assert!(matches!(
            network_mode_for(&custom, stdio),
            Err(SpecError::UnsupportedNetworkMode(_))
        ));
    }

    /// The engine creates a missing bind source (as root): refused first, naming the field and the path.
    #[test]
    fn missing_host_paths_are_refused() {
        let mut c = rc(TransportType::Stdio);
        c.volumes = vec!["/tmp/thv-no-such-dir-4d1e/deep:/x".into()];
        let err = WorkloadSpec::from_run_config(&c, &BTreeMap::new()).unwrap_err();
        assert_eq!(
            err,
            SpecError::MissingHostPath {
                field: "volumes[0]".into(),
                path: "/tmp/thv-no-such-dir-4d1e/deep".into()
            }
        );
        assert!(err.to_string().contains("does not exist"), "{err}");
        c.volumes.clear();
        c.permission_profile = Some(PermissionProfile {
            write: Some(vec!["/tmp".into(), "/nonexistent-thv/x:/y".into()]),
            ..PermissionProfile::none()
        });
        let err = WorkloadSpec::from_run_config(&c, &BTreeMap::new()).unwrap_err();
        assert!(
            err.to_string().contains("permission_profile.write[1]")
                && err.to_string().contains("/nonexistent-thv/x"),
            "{err}"
        );
        assert!(!std::path::Path::new("/tmp/thv-no-such-dir-4d1e").exists());
    }

    #[test]
    fn spec_from_stdio_run_config() {
        let mut c = rc(TransportType::Stdio);
        c.cmd_args = vec!["cat".into()];
        c.env_vars.insert("FOO".into(), "bar".into());
        c.container_labels.insert("custom".into(), "x".into());
        c.permission_profile = Some(PermissionProfile {
            read: Some(vec!["/etc/hosts:/data/hosts".into()]),
            write: Some(vec!["/tmp:/tmp/out".into(), "volume://cache:/cache".into()]),
            ..PermissionProfile::none()
        });
        c.volumes = vec!["/etc:/a:ro".into()];
        c.secrets = vec![thv_core::runconfig::SecretRef::new("gh", "GITHUB_TOKEN")];
        let mut secrets = BTreeMap::new();
        secrets.insert("GITHUB_TOKEN".to_owned(), "s3cret".to_owned());
        let s = WorkloadSpec::from_run_config(&c, &secrets).unwrap();
        assert_eq!(s.name, "srv");
        assert_eq!(s.image, "localhost/x:1");
        assert_eq!(s.cmd, vec!["cat"]);
        assert_eq!(s.env["FOO"], "bar");
        assert_eq!(s.env["MCP_TRANSPORT"], "stdio");
        assert_eq!(s.env["GITHUB_TOKEN"], "s3cret");
        assert_eq!(s.labels["toolhive"], "true");
        assert_eq!(s.labels["toolhive-name"], "srv");
        assert_eq!(s.labels["custom"], "x");
        assert_eq!(s.network, NetworkMode::None);
        assert!(s.stdio && s.ports.is_empty() && !s.privileged);
        let ro: Vec<_> = s
            .mounts
            .iter()
            .map(|m| (m.target.as_str(), m.read_only))
            .collect();
        assert_eq!(
            ro,
            vec![
                ("/data/hosts", true),
                ("/tmp/out", false),
                ("/cache", false),
                ("/a", true)
            ]
        );
        // A missing secret value is an error.
        assert!(matches!(
            WorkloadSpec::from_run_config(&c, &BTreeMap::new()),
            Err(SpecError::MissingSecret { .. })
        ));
    }

    #[test]
    fn spec_from_http_run_config() {
        let c = rc(TransportType::StreamableHttp);
        let s = WorkloadSpec::from_run_config(&c, &BTreeMap::new()).unwrap();
        assert_eq!(s.network, NetworkMode::Bridge);
        assert_eq!(
            s.ports,
            vec![PortMapping {
                container_port: 8080,
                host_ip: "127.0.0.1".into(),
                host_port: None
            }]
        );
        assert_eq!(s.env["MCP_PORT"], "8080");
        assert!(!s.stdio);
        assert_eq!(s.with_host_port(18080).ports[0].host_port, Some(18080));
        let mut no_port = rc(TransportType::Sse);
        no_port.target_port = None;
        assert!(matches!(
            WorkloadSpec::from_run_config(&no_port, &BTreeMap::new()),
            Err(SpecError::NoTargetPort { .. })
        ));
    }

    #[test]
    fn privileged_only_when_the_profile_says_so() {
        let mut c = rc(TransportType::Stdio);
        assert!(
            !WorkloadSpec::from_run_config(&c, &BTreeMap::new())
                .unwrap()
                .privileged
        );
        c.permission_profile.as_mut().unwrap().privileged = Some(true);
        assert!(
            WorkloadSpec::from_run_config(&c, &BTreeMap::new())
                .unwrap()
                .privileged
        );
    }

    #[test]
    fn invalid_mounts_are_refused() {
        for (read, write) in [
            (vec!["/etc/../../root:/x"], vec![]),
            (vec!["relative/path:/x"], vec![]),
            (vec![], vec!["/tmp/$(reboot):/x"]),
            (vec![], vec!["/tmp/a;rm:/x"]),
            (vec!["/tmp:/"], vec![]),
            (vec!["/tmp:C:\\x"], vec![]),
            (vec!["s3://bucket:/x"], vec![]),
        ] {
            let mut c = rc(TransportType::Stdio);
            c.permission_profile = Some(PermissionProfile {
                read: Some(read.iter().map(|s| (*s).to_owned()).collect()),
                write: Some(write.iter().map(|s| (*s).to_owned()).collect()),
                ..PermissionProfile::none()
            });
            let err = WorkloadSpec::from_run_config(&c, &BTreeMap::new()).unwrap_err();
            assert!(
                matches!(
                    err,
                    SpecError::Mount { .. } | SpecError::UnsupportedResource { .. }
                ),
                "{read:?} {write:?}: {err}"
            );
        }
        // A hand-built mount that parse_mount would refuse.
        let mut s = WorkloadSpec::new("x", "img");
        s.mounts.push(Mount {
            source: MountSource::Host("/a/../../etc".into()),
            target: "/etc2".into(),
            read_only: true,
        });
        assert!(matches!(s.validate(), Err(SpecError::Mount { .. })));
        let mut s = WorkloadSpec::new("x", "img");
        s.mounts.push(Mount {
            source: MountSource::Host("/a/./b".into()),
            target: "/b".into(),
            read_only: true,
        });
        assert!(matches!(s.validate(), Err(SpecError::Invalid { .. })));
    }

    #[test]
    fn remote_and_missing_image_are_refused() {
        let mut c = rc(TransportType::Stdio);
        c.image = None;
        assert_eq!(
            WorkloadSpec::from_run_config(&c, &BTreeMap::new()),
            Err(SpecError::NoImage)
        );
        let mut r = rc(TransportType::Stdio);
        r.remote_url = Some("https://x.example/mcp".into());
        assert_eq!(
            WorkloadSpec::from_run_config(&r, &BTreeMap::new()),
            Err(SpecError::Remote)
        );
    }
}
