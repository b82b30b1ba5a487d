//! Permission profiles: ToolHive's built-ins, loading one from a JSON file, and the validation of the mount
//! declarations in its `read` and `write` lists (and of `-v` volumes).
//!
//! [`PermissionProfile`] itself is defined in [`crate::toolhive`]; this module adds an `impl` block.
//!
//! # Mount declarations
//!
//! Three formats (ToolHive's):
//! - `path`: the same absolute path on the host and in the container;
//! - `host-path:container-path` (the host path may be a Windows path, `C:\data:/data`);
//! - `scheme://resource:container-path` (e.g. `volume://cache:/cache`), a resource of the runtime.
//!
//! Rules, each reported with the entry and the rule broken ([`MountError`]):
//! - no shell injection characters anywhere: `$(`, `$`, `` ` ``, `&`, `;`, `|`, NUL, other control characters;
//!   and no `,` (the engine reads what follows a comma as mount options: `volume://v,volume-opt=device=/etc`);
//! - a resource name is a name (`volume://` the engine's rule: a letter or digit, then letters, digits, `_ . -`);
//! - a container path has no `:` (`-v /a:/b:rw:ro` is a typo, not a directory named `/b:rw`);
//! - both paths absolute (a relative path, `~/x` included, is refused: make it absolute first);
//! - paths are cleaned (`.`, empty segments and `..` resolved); a `..` that climbs above the root is path
//!   traversal and refused;
//! - the container path is a Linux path (no Windows drive, no `\`) and not `/` itself.

use std::fmt;
use std::path::Path;

use serde_json::Value;
use thiserror::Error;

use crate::toolhive::PermissionProfile;

/// A validated mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub source: MountSource,
    /// Cleaned absolute container path.
    pub target: String,
    /// `read` entries and `:ro` volumes are read-only.
    pub read_only: bool,
}

/// Where a mount comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSource {
    /// A host path: cleaned, absolute (POSIX, or a Windows drive path with `/` separators).
    Host(String),
    /// A runtime resource, `scheme://resource`.
    Resource { scheme: String, resource: String },
}

/// Which side of a mount a path is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathSide {
    Host,
    Container,
    Resource,
}

impl fmt::Display for PathSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Host => "host",
            Self::Container => "container",
            Self::Resource => "resource",
        })
    }
}

/// Why a mount declaration was refused. `entry` is the declaration as written (quoted and escaped in messages).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MountError {
    #[error("mount declaration is empty")]
    Empty,
    #[error("mount {entry:?}: {what} is not allowed (shell injection)")]
    ForbiddenCharacter { entry: String, what: &'static str },
    #[error("mount {entry:?}: the {side} path '{path}' is relative; mount paths must be absolute")]
    RelativePath {
        entry: String,
        side: PathSide,
        path: String,
    },
    #[error(
        "mount {entry:?}: the {side} path '{path}' climbs above its root with '..' (path traversal)"
    )]
    Traversal {
        entry: String,
        side: PathSide,
        path: String,
    },
    #[error(
        "mount {entry:?}: the container path '{path}' is a Windows path; container paths are Linux paths"
    )]
    WindowsContainerPath { entry: String, path: String },
    #[error("mount {entry:?}: the container path must not be '/'")]
    ContainerRoot { entry: String },
    #[error("mount {entry:?}: {reason}")]
    Malformed { entry: String, reason: String },
}

/// Why a permission profile was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProfileError {
    #[error("permission profile '{path}': cannot read the file: {message}")]
    Read { path: String, message: String },
    #[error("permission profile '{path}': not a valid profile: {message}")]
    Parse { path: String, message: String },
    /// `field` is `read[i]` or `write[i]`.
    #[error("permission profile: `{field}`: {error}")]
    Mount {
        field: String,
        /// In the message (not a `source`, so that error chains do not print it twice).
        error: MountError,
    },
    #[error("permission profile: invalid `{field}`: {message}")]
    Invalid { field: String, message: String },
}

/// Checks for the characters a shell (or a runtime that passes the string to one) would interpret.
fn forbidden_character(entry: &str) -> Option<&'static str> {
    if entry.contains('\0') {
        return Some("a NUL character");
    }
    if entry.contains("$(") {
        return Some("'$(' (command substitution)");
    }
    if entry.contains('`') {
        return Some("a backtick (command substitution)");
    }
    if entry.contains('$') {
        return Some("'$' (variable expansion)");
    }
    if entry.contains('&') {
        return Some("'&' (command chaining)");
    }
    if entry.contains(';') {
        return Some("';' (command chaining)");
    }
    if entry.contains('|') {
        return Some("'|' (pipe)");
    }
    if entry.chars().any(char::is_control) {
        return Some("a control character");
    }
    None
}

/// A `,` anywhere: the engine (Podman's compatible API) reads what follows a comma as mount options.
fn comma_error(entry: &str) -> Option<MountError> {
    entry.contains(',').then(|| MountError::Malformed {
        entry: entry.to_owned(),
        reason: "',' is not allowed (the engine would read what follows as mount options)".into(),
    })
}

/// `C:\` or `C:/` at the start.
fn has_windows_drive(p: &str) -> bool {
    let b = p.as_bytes();
    b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && (b[2] == b'\\' || b[2] == b'/')
}

/// Cleans an absolute path (`/`-separated, after the root prefix `root`): `None` when a `..` climbs above the
/// root.
fn clean_absolute(root: &str, rest: &str) -> Option<String> {
    let mut stack: Vec<&str> = Vec::new();
    for seg in rest.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                stack.pop()?;
            }
            s => stack.push(s),
        }
    }
    Some(format!("{root}{}", stack.join("/")))
}

fn check_host_path(entry: &str, path: &str) -> Result<String, MountError> {
    let traversal = || MountError::Traversal {
        entry: entry.to_owned(),
        side: PathSide::Host,
        path: path.to_owned(),
    };
    if has_windows_drive(path) {
        let normalized = path.replace('\\', "/");
        let root = &normalized[..3];
        return clean_absolute(root, &normalized[3..]).ok_or_else(traversal);
    }
    if !path.starts_with('/') {
        return Err(MountError::RelativePath {
            entry: entry.to_owned(),
            side: PathSide::Host,
            path: path.to_owned(),
        });
    }
    clean_absolute("/", path).ok_or_else(traversal)
}

/// A host path as a mount's source must be: no shell characters, absolute, cleaned (for grants of host paths).
pub fn clean_host_path(path: &str) -> Result<String, MountError> {
    if path.trim().is_empty() {
        return Err(MountError::Empty);
    }
    if let Some(what) = forbidden_character(path) {
        return Err(MountError::ForbiddenCharacter {
            entry: path.to_owned(),
            what,
        });
    }
    if let Some(e) = comma_error(path) {
        return Err(e);
    }
    check_host_path(path, path)
}

fn check_container_path(entry: &str, path: &str) -> Result<String, MountError> {
    if path.is_empty() {
        return Err(MountError::Malformed {
            entry: entry.to_owned(),
            reason: "the container path is empty".into(),
        });
    }
    if has_windows_drive(path) || path.contains('\\') {
        return Err(MountError::WindowsContainerPath {
            entry: entry.to_owned(),
            path: path.to_owned(),
        });
    }
    if path.contains(':') {
        return Err(MountError::Malformed {
            entry: entry.to_owned(),
            reason: format!(
                "the container path '{}' contains ':' (host:container[:ro|:rw] takes one mode)",
                path.escape_debug()
            ),
        });
    }
    if !path.starts_with('/') {
        return Err(MountError::RelativePath {
            entry: entry.to_owned(),
            side: PathSide::Container,
            path: path.to_owned(),
        });
    }
    let cleaned = clean_absolute("/", path).ok_or_else(|| MountError::Traversal {
        entry: entry.to_owned(),
        side: PathSide::Container,
        path: path.to_owned(),
    })?;
    if cleaned == "/" {
        return Err(MountError::ContainerRoot {
            entry: entry.to_owned(),
        });
    }
    Ok(cleaned)
}

/// Parses and validates one mount declaration (a `read`/`write` entry of a profile); `read_only` is what its
/// list says. See the module documentation for the formats and rules.
pub fn parse_mount(entry: &str, read_only: bool) -> Result<Mount, MountError> {
    if entry.trim().is_empty() {
        return Err(MountError::Empty);
    }
    if let Some(what) = forbidden_character(entry) {
        return Err(MountError::ForbiddenCharacter {
            entry: entry.to_owned(),
            what,
        });
    }
    if let Some(e) = comma_error(entry) {
        return Err(e);
    }
    let malformed = |reason: &str| MountError::Malformed {
        entry: entry.to_owned(),
        reason: reason.to_owned(),
    };

    // scheme://resource:container
    if let Some((scheme, rest)) = entry.split_once("://")
        && !has_windows_drive(entry)
    {
        let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'));
        if !scheme_ok {
            return Err(malformed(&format!(
                "'{scheme}' is not a resource scheme (expected scheme://resource:/container/path)"
            )));
        }
        let (resource, container) = rest.rsplit_once(':').ok_or_else(|| {
            malformed("a resource mount needs a container path: scheme://resource:/container/path")
        })?;
        if resource.is_empty() {
            return Err(malformed("the resource name is empty"));
        }
        if resource.split(['/', '\\']).any(|s| s == "..") {
            return Err(MountError::Traversal {
                entry: entry.to_owned(),
                side: PathSide::Resource,
                path: resource.to_owned(),
            });
        }
        // A volume name is the engine's rule; anything else could carry options to the engine.
        let name_ok = resource.starts_with(|c: char| c.is_ascii_alphanumeric())
            && resource.chars().all(|c| {
                c.is_ascii_alphanumeric()
                    || matches!(c, '_' | '.' | '-')
                    || (c == '/' && scheme != "volume")
            });
        if !name_ok {
            return Err(malformed(&format!(
                "'{}' is not a {scheme} name (a letter or digit, then letters, digits, '_', '.', '-')",
                resource.escape_debug()
            )));
        }
        let target = check_container_path(entry, container)?;
        return Ok(Mount {
            source: MountSource::Resource {
                scheme: scheme.to_owned(),
                resource: resource.to_owned(),
            },
            target,
            read_only,
        });
    }

    // host:container, or a single path. A Windows drive's colon is not the separator.
    let skip = if has_windows_drive(entry) { 2 } else { 0 };
    let (host, container) = match entry[skip..].find(':') {
        Some(i) => (&entry[..skip + i], Some(&entry[skip + i + 1..])),
        None => (entry, None),
    };
    if host.is_empty() {
        return Err(malformed("the host path is empty"));
    }
    let source = check_host_path(entry, host)?;
    let target = match container {
        Some(c) => check_container_path(entry, c)?,
        None => {
            if has_windows_drive(host) {
                return Err(MountError::WindowsContainerPath {
                    entry: entry.to_owned(),
                    path: host.to_owned(),
                });
            }
            check_container_path(entry, host)?
        }
    };
    Ok(Mount {
        source: MountSource::Host(source),
        target,
        read_only,
    })
}

/// Parses a `-v` volume: a mount declaration with an optional `:ro` (read-only) or `:rw` suffix (read-write, the
/// default).
pub fn parse_volume(spec: &str) -> Result<Mount, MountError> {
    for (suffix, ro) in [(":ro", true), (":rw", false)] {
        if let Some(rest) = spec.strip_suffix(suffix)
            && !rest.is_empty()
        {
            return parse_mount(rest, ro).map_err(|e| match e {
                // Name the whole volume spec in the message.
                MountError::Empty => MountError::Malformed {
                    entry: spec.to_owned(),
                    reason: "no path before the mode".into(),
                },
                other => other,
            });
        }
    }
    // `host:container:MODE` with a mode other than ro/rw (a container path with ':' is refused as a typo).
    let skip = if has_windows_drive(spec) { 2 } else { 0 };
    if !spec.contains("://") && spec[skip..].matches(':').count() >= 2 {
        let mode = spec.rsplit(':').next().unwrap_or_default();
        return Err(MountError::Malformed {
            entry: spec.to_owned(),
            reason: format!("unknown mode '{mode}' (expected ro or rw)"),
        });
    }
    parse_mount(spec, false)
}

/// Network mode values under which network isolation works (`""`, `bridge`, `default`).
pub(crate) fn is_bridge_mode(mode: &str) -> bool {
    matches!(mode, "" | "bridge" | "default")
}

/// Loads a profile by name or path: the built-ins `none` and `network`, else a JSON file (validated).
pub fn load_permission_profile(name_or_path: &str) -> Result<PermissionProfile, ProfileError> {
    PermissionProfile::load(name_or_path)
}

fn host_pattern_error(h: &str) -> Option<String> {
    if crate::net::parse_ip_or_cidr(h).is_some() {
        return None;
    }
    let bare = h.strip_prefix('.').unwrap_or(h);
    super::host_error(bare).map(|_| {
        format!(
            "'{}' is not a host name, `.domain` suffix, IP address or CIDR block",
            h.escape_debug()
        )
    })
}

impl PermissionProfile {
    /// ToolHive's built-in profile of that name (`none` or `network`).
    pub fn from_builtin_name(name: &str) -> Option<Self> {
        match name {
            "none" => Some(Self::none()),
            "network" => Some(Self::network()),
            _ => None,
        }
    }

    /// Parses a profile from JSON and validates it; `origin` names it in errors (a path).
    pub fn from_json(bytes: &[u8], origin: &str) -> Result<Self, ProfileError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| ProfileError::Parse {
            path: origin.to_owned(),
            message: e.to_string(),
        })?;
        if !value.is_object() {
            return Err(ProfileError::Parse {
                path: origin.to_owned(),
                message: format!(
                    "expected a JSON object, found {}",
                    crate::legacy::json_kind(&value)
                ),
            });
        }
        let profile: Self = serde_json::from_value(value).map_err(|e| ProfileError::Parse {
            path: origin.to_owned(),
            message: e.to_string(),
        })?;
        profile.validate().map_err(|e| {
            let message = match e {
                ProfileError::Mount { field, error } => format!("`{field}`: {error}"),
                ProfileError::Invalid { field, message } => format!("`{field}`: {message}"),
                other => other.to_string(),
            };
            ProfileError::Parse {
                path: origin.to_owned(),
                message,
            }
        })?;
        Ok(profile)
    }

    /// `none`, `network`, or the path of a JSON profile file.
    pub fn load(name_or_path: &str) -> Result<Self, ProfileError> {
        if let Some(p) = Self::from_builtin_name(name_or_path) {
            return Ok(p);
        }
        let bytes =
            crate::files::read_regular(Path::new(name_or_path), crate::files::MAX_CONFIG_BYTES)
                .map_err(|e| ProfileError::Read {
                    path: name_or_path.to_owned(),
                    message: if e.kind() == std::io::ErrorKind::NotFound {
                        "no such file (built-in profiles are `none` and `network`)".to_owned()
                    } else {
                        e.to_string()
                    },
                })?;
        Self::from_json(&bytes, name_or_path)
    }

    /// Every mount of the profile, validated: `read` entries read-only, then `write` entries read-write.
    pub fn mounts(&self) -> Result<Vec<Mount>, ProfileError> {
        let mut out = Vec::new();
        for (list, entries, ro) in [
            ("read", self.read_mounts(), true),
            ("write", self.write_mounts(), false),
        ] {
            for (i, e) in entries.iter().enumerate() {
                out.push(parse_mount(e, ro).map_err(|error| ProfileError::Mount {
                    field: format!("{list}[{i}]"),
                    error,
                })?);
            }
        }
        Ok(out)
    }

    /// The first key no field of the profile has, named with its path.
    fn unknown_key(&self) -> Result<(), ProfileError> {
        let network = self.network.as_ref();
        let levels = [
            (
                "",
                Some(&self.extra),
                "name, read, write, network, privileged",
            ),
            (
                "network.",
                network.map(|n| &n.extra),
                "mode, outbound, inbound",
            ),
            (
                "network.outbound.",
                network.and_then(|n| n.outbound.as_ref()).map(|o| &o.extra),
                "insecure_allow_all, allow_host, allow_port",
            ),
            (
                "network.inbound.",
                network.and_then(|n| n.inbound.as_ref()).map(|i| &i.extra),
                "allow_host",
            ),
        ];
        for (prefix, extra, known) in levels {
            if let Some(key) = extra.and_then(|e| e.keys().next()) {
                return Err(ProfileError::Invalid {
                    field: format!("{prefix}{key}"),
                    message: format!("unknown key (a permission profile has {known})"),
                });
            }
        }
        Ok(())
    }

    /// The network mode, if the profile sets one.
    pub fn network_mode(&self) -> Option<&str> {
        self.network.as_ref()?.mode.as_deref()
    }

    /// Validates the keys (an unknown one is refused: a rule this version does not know could be a restriction
    /// it would silently drop), the mounts and the network rules (mode a plain name, hosts well-formed, ports
    /// non-zero).
    pub fn validate(&self) -> Result<(), ProfileError> {
        self.unknown_key()?;
        self.mounts()?;
        let bad = |field: &str, message: String| ProfileError::Invalid {
            field: field.to_owned(),
            message,
        };
        if let Some(mode) = self.network_mode() {
            let ok = mode.is_empty() || super::name_error(mode).is_none();
            if !ok {
                return Err(bad(
                    "network.mode",
                    format!(
                        "'{}' is not a network mode (host, bridge, none or a network name)",
                        mode.escape_debug()
                    ),
                ));
            }
        }
        for (i, h) in self.allowed_hosts().iter().enumerate() {
            if let Some(e) = host_pattern_error(h) {
                return Err(bad(&format!("network.outbound.allow_host[{i}]"), e));
            }
        }
        if let Some(i) = self.allowed_ports().iter().position(|p| *p == 0) {
            return Err(bad(
                &format!("network.outbound.allow_port[{i}]"),
                "0 is not a port".into(),
            ));
        }
        let inbound = self
            .network
            .as_ref()
            .and_then(|n| n.inbound.as_ref())
            .and_then(|i| i.allow_host.as_deref())
            .unwrap_or_default();
        for (i, h) in inbound.iter().enumerate() {
            if let Some(e) = host_pattern_error(h) {
                return Err(bad(&format!("network.inbound.allow_host[{i}]"), e));
            }
        }
        Ok(())
    }
}
