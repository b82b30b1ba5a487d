//! What a permission profile asks for beyond an isolated container — the privileges a registry entry may
//! *request* but never take on its own — and the user's grants of them (`thv run --grant`).
//!
//! A registry entry's `permissions` (ToolHive's `_meta` extension) is written by whoever may publish under the
//! entry's namespace. Three of its fields reach outside the container: `privileged: true` (every device and
//! capability of the host), a network mode other than bridge or `none` (`host`: the host's network namespace,
//! its loopback services included; a named network: other containers), and a mount of a host path (`/:/host`,
//! the engine's socket). [`PermissionProfile::privileges`] lists them; resolution refuses an entry asking for
//! one the user did not grant, by a [`Grant`] naming it or by giving a profile of their own.
//! `PermissionProfile::describe` says in a few lines what a profile allows, for `thv run` to print before
//! anything starts.

use std::fmt;
use std::str::FromStr;

use super::mounts::{MountSource, ProfileError, is_bridge_mode};
use crate::toolhive::PermissionProfile;

/// Something a profile asks for that reaches beyond the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Privilege {
    /// `privileged: true`.
    Privileged,
    /// `network.mode` other than bridge (`""`, `bridge`, `default`) or `none`.
    NetworkMode(String),
    /// A `read` or `write` entry whose source is a host path (cleaned).
    HostMount {
        host: String,
        target: String,
        read_only: bool,
    },
    /// A host file the proxy itself reads or writes for a middleware setting (the audit log, an OIDC client
    /// secret, a Cedar policy file): a RunConfig from someone else must not choose it unasked.
    HostFile {
        path: String,
        /// What it is, e.g. `the audit log`.
        purpose: String,
        write: bool,
    },
}

impl Privilege {
    /// The `--grant` value that grants it.
    pub fn grant(&self) -> Grant {
        match self {
            Self::Privileged => Grant::Privileged,
            Self::NetworkMode(m) => Grant::NetworkMode(m.clone()),
            Self::HostMount { host, .. } => Grant::HostPath(host.clone()),
            Self::HostFile { path, .. } => Grant::HostPath(path.clone()),
        }
    }
}

impl fmt::Display for Privilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Privileged => f.write_str("a privileged container (`privileged: true`)"),
            Self::NetworkMode(m) => write!(f, "the network mode '{}'", m.escape_debug()),
            Self::HostMount {
                host,
                target,
                read_only,
            } => write!(
                f,
                "the host path '{}' mounted at {} ({})",
                host.escape_debug(),
                target.escape_debug(),
                if *read_only {
                    "read-only"
                } else {
                    "read-write"
                }
            ),
            Self::HostFile {
                path,
                purpose,
                write,
            } => write!(
                f,
                "the host file '{}' ({purpose}, {} by the proxy)",
                path.escape_debug(),
                if *write { "written" } else { "read" }
            ),
        }
    }
}

/// A privilege the user grants: `privileged`, `network=MODE`, `mount=/host/path` (the `thv run --grant` values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    Privileged,
    NetworkMode(String),
    /// A host path (cleaned), read-only or read-write, at whatever container path the profile names.
    HostPath(String),
}

impl Grant {
    /// Whether this grant covers `p`.
    pub fn covers(&self, p: &Privilege) -> bool {
        self.clone() == p.grant()
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Privileged => f.write_str("privileged"),
            Self::NetworkMode(m) => write!(f, "network={m}"),
            Self::HostPath(p) => write!(f, "mount={p}"),
        }
    }
}

impl FromStr for Grant {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let expected = "expected privileged, network=MODE or mount=/HOST/PATH";
        if s == "privileged" {
            return Ok(Self::Privileged);
        }
        if let Some(mode) = s.strip_prefix("network=") {
            if mode.is_empty() || is_bridge_mode(mode) || mode == "none" {
                return Err(format!(
                    "'{}': the network mode '{mode}' needs no grant ({expected})",
                    s.escape_debug()
                ));
            }
            if super::name_error(mode).is_some() {
                return Err(format!(
                    "'{}': '{}' is not a network mode",
                    s.escape_debug(),
                    mode.escape_debug()
                ));
            }
            return Ok(Self::NetworkMode(mode.to_owned()));
        }
        if let Some(path) = s.strip_prefix("mount=") {
            if path.contains("://") {
                return Err(format!(
                    "'{}': a runtime resource needs no grant; mount= takes a host path",
                    s.escape_debug()
                ));
            }
            return super::mounts::clean_host_path(path)
                .map(Self::HostPath)
                .map_err(|e| format!("'{}': {e}", s.escape_debug()));
        }
        Err(format!("'{}': {expected}", s.escape_debug()))
    }
}

impl PermissionProfile {
    /// What the profile asks for beyond an isolated container, in the order privileged, network mode, mounts
    /// (`read` then `write`). An invalid mount entry is an error (as [`PermissionProfile::validate`]).
    pub fn privileges(&self) -> Result<Vec<Privilege>, ProfileError> {
        Ok(self
            .privileges_by_field()?
            .into_iter()
            .map(|(_, p)| p)
            .collect())
    }

    /// [`PermissionProfile::privileges`] with the field asking for each (`privileged`, `network.mode`,
    /// `read[i]`, `write[i]`).
    pub fn privileges_by_field(&self) -> Result<Vec<(String, Privilege)>, ProfileError> {
        let mut out = Vec::new();
        if self.is_privileged() {
            out.push(("privileged".to_owned(), Privilege::Privileged));
        }
        if let Some(mode) = self.network_mode()
            && !is_bridge_mode(mode)
            && mode != "none"
        {
            out.push((
                "network.mode".to_owned(),
                Privilege::NetworkMode(mode.to_owned()),
            ));
        }
        for (list, entries, read_only) in [
            ("read", self.read_mounts(), true),
            ("write", self.write_mounts(), false),
        ] {
            for (i, entry) in entries.iter().enumerate() {
                let field = format!("{list}[{i}]");
                let m = super::mounts::parse_mount(entry, read_only).map_err(|error| {
                    ProfileError::Mount {
                        field: field.clone(),
                        error,
                    }
                })?;
                if let MountSource::Host(host) = m.source {
                    out.push((
                        field,
                        Privilege::HostMount {
                            host,
                            target: m.target,
                            read_only,
                        },
                    ));
                }
            }
        }
        Ok(out)
    }

    /// The profile in a few lines (no trailing newline): network, mounts, privileges — what `thv run` prints
    /// before it starts anything.
    pub fn describe(&self) -> Vec<String> {
        let network = match self.network_mode() {
            Some(m) if !is_bridge_mode(m) => format!("network: mode '{}'", m.escape_debug()),
            _ if self.allows_all_outbound() => {
                "network: outbound to any public address (insecure_allow_all)".to_owned()
            }
            _ if self.allowed_hosts().is_empty() => "network: no outbound connections".to_owned(),
            _ => {
                let ports: Vec<String> = self.allowed_ports().iter().map(u16::to_string).collect();
                format!(
                    "network: outbound to {} on port{} {}",
                    self.allowed_hosts().join(", "),
                    if ports.len() == 1 { "" } else { "s" },
                    if ports.is_empty() {
                        "(none: nothing is allowed)".to_owned()
                    } else {
                        ports.join(", ")
                    }
                )
            }
        };
        let mut mounts: Vec<String> = Vec::new();
        if let Ok(list) = self.mounts() {
            for m in list {
                let source = match &m.source {
                    // A link is shown with what it points at: `/tmp/x → /etc` is the host's /etc.
                    MountSource::Host(h) => match std::fs::canonicalize(h) {
                        Ok(real) if real.as_os_str() != h.as_str() => {
                            format!("host {h} (a link to {})", real.display())
                        }
                        _ => format!("host {h}"),
                    },
                    MountSource::Resource { scheme, resource } => format!("{scheme}://{resource}"),
                };
                let mode = if m.read_only { "ro" } else { "rw" };
                mounts.push(format!("{source} → {} ({mode})", m.target));
            }
        }
        vec![
            network,
            if mounts.is_empty() {
                "mounts: none".to_owned()
            } else {
                format!("mounts: {}", mounts.join("; "))
            },
            format!(
                "privileged: {}",
                if self.is_privileged() { "yes" } else { "no" }
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: serde_json::Value) -> PermissionProfile {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn privileges_of_a_profile() {
        let p = profile(serde_json::json!({
            "privileged": true,
            "read": ["/etc/ssl:/certs", "volume://cache:/cache"],
            "write": ["/:/host", "/run/podman/podman.sock:/var/run/docker.sock"],
            "network": {"mode": "host"}
        }));
        let got = p.privileges().unwrap();
        assert_eq!(
            got,
            vec![
                Privilege::Privileged,
                Privilege::NetworkMode("host".into()),
                Privilege::HostMount {
                    host: "/etc/ssl".into(),
                    target: "/certs".into(),
                    read_only: true
                },
                Privilege::HostMount {
                    host: "/".into(),
                    target: "/host".into(),
                    read_only: false
                },
                Privilege::HostMount {
                    host: "/run/podman/podman.sock".into(),
                    target: "/var/run/docker.sock".into(),
                    read_only: false
                },
            ]
        );
        assert!(
            PermissionProfile::network()
                .privileges()
                .unwrap()
                .is_empty()
        );
        for mode in ["bridge", "none", "", "default"] {
            let p = profile(serde_json::json!({"network": {"mode": mode}}));
            assert!(p.privileges().unwrap().is_empty(), "{mode}");
        }
    }

    #[test]
    fn grants_parse_and_cover() {
        assert_eq!("privileged".parse::<Grant>(), Ok(Grant::Privileged));
        assert_eq!(
            "network=host".parse::<Grant>(),
            Ok(Grant::NetworkMode("host".into()))
        );
        assert_eq!(
            "mount=/run/podman/../podman/podman.sock".parse::<Grant>(),
            Ok(Grant::HostPath("/run/podman/podman.sock".into()))
        );
        for bad in [
            "root",
            "network=bridge",
            "network=none",
            "network=a b",
            "mount=relative",
            "mount=/x;rm",
            "mount=volume://v:/x",
        ] {
            assert!(bad.parse::<Grant>().is_err(), "{bad}");
        }
        let mount = Privilege::HostMount {
            host: "/data".into(),
            target: "/d".into(),
            read_only: true,
        };
        assert!(Grant::HostPath("/data".into()).covers(&mount));
        assert!(!Grant::HostPath("/data/x".into()).covers(&mount));
        assert!(!Grant::HostPath("/".into()).covers(&mount), "no prefixes");
        assert!(!Grant::Privileged.covers(&mount));
        assert_eq!(mount.grant().to_string(), "mount=/data");
    }

    #[test]
    fn descriptions() {
        assert_eq!(
            PermissionProfile::network().describe(),
            vec![
                "network: outbound to any public address (insecure_allow_all)",
                "mounts: none",
                "privileged: no"
            ]
        );
        let p = profile(serde_json::json!({
            "read": ["/etc/ssl:/certs"],
            "network": {"outbound": {"allow_host": ["api.github.com"], "allow_port": [443]}}
        }));
        assert_eq!(
            p.describe(),
            vec![
                "network: outbound to api.github.com on port 443",
                "mounts: host /etc/ssl → /certs (ro)",
                "privileged: no"
            ]
        );
        assert_eq!(
            PermissionProfile::none().describe()[0],
            "network: no outbound connections"
        );
    }
}
