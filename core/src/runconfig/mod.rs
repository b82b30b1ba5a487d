//! The RunConfig: the versioned contract between resolving a server (a registry entry, an image, a package, a
//! remote URL) and running it. `thv run` builds one, stores it under the XDG state dir, and every later command
//! (`start`, `restart`, `export`, `run --from-config`) works from it.
//!
//! # Format
//!
//! A JSON object with ToolHive's snake_case field names (see [`RunConfig`]), written 2-space pretty with a
//! trailing newline ([`RunConfig::write_json`]) and described by `data/schemas/runconfig.schema.json`
//! ([`JSON_SCHEMA`]).
//!
//! # Versioning and compatibility policy
//!
//! - `schema_version` is `v<major>[.<minor>[.<patch>]]`; this crate writes [`CURRENT_SCHEMA_VERSION`] (`v1`).
//! - A file of the same major version is read whatever its minor version: fields this crate does not know are
//!   kept in [`RunConfig::extra`] and written back unchanged, and its `schema_version` is kept as written, so a
//!   file written by a newer `thv` of the same major version round-trips through an older one. Adding optional
//!   fields is a minor change.
//! - A file of another major version (including ToolHive's own `v0.1.0` Go format, whose `secrets` are strings)
//!   is refused with [`RunConfigError::UnsupportedVersion`], which names the version found and the one
//!   supported. A missing `schema_version` is refused too. Removing or re-typing a field is a major change.
//! - Reading validates every field's rules ([`RunConfig::validate`]); the error names the field and the rule.
//!
//! # Secrets
//!
//! A RunConfig never stores a secret value: there is no field for one. A secret is a reference,
//! [`SecretRef`] `{name, target}` (the secret's name in the secret provider and the env var it fills), resolved
//! by the runner from the secret provider when the container starts, and never written back. A
//! [`SecretRef`] refuses any other key (`value` included) on read. The one way a sensitive value can enter a
//! RunConfig is the user passing a variable the registry marks as secret as a plain `-e NAME=value`: resolution
//! allows it, warns, and lists the name in [`RunConfig::sensitive_env_vars`]; [`RunConfig::export`] drops the
//! values of those variables (keeping their names there, so whoever imports the file knows what to supply).
//! An exported RunConfig therefore holds no secret value that `thv` knows of.
//!
//! # Module layout
//!
//! - this module: [`RunConfig`] and its parts, reading, writing, validation, export;
//! - [`mounts`]: permission profiles (built-ins, loading from a file) and mount declaration validation;
//! - [`resolve`]: [`from_registry_entry`], a server.json entry plus the user's choices → RunConfig;
//! - [`names`]: short-name matching and container-name sanitizing.

pub mod mounts;
pub mod names;
pub mod resolve;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::toolhive::PermissionProfile;

pub use mounts::{
    Mount, MountError, MountSource, PathSide, ProfileError, load_permission_profile, parse_mount,
    parse_volume,
};
pub use names::{NameMatchError, match_short_name, sanitize_name};
pub use resolve::{
    Resolution, ResolveError, ResolveOptions, ResolveWarning, from_registry_entry,
    resolve_registry_entry,
};

/// The schema version this crate writes.
pub const CURRENT_SCHEMA_VERSION: &str = "v1";
/// The major version this crate reads (any minor version of it).
pub const SUPPORTED_MAJOR_VERSION: u64 = 1;
/// The JSON Schema of the format (draft 2020-12), `data/schemas/runconfig.schema.json`.
pub const JSON_SCHEMA: &str = include_str!("../../../data/schemas/runconfig.schema.json");
/// Default proxy bind address.
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// Default host the proxy reaches an HTTP server's container port on (and the `MCP_HOST` given to it).
pub const DEFAULT_TARGET_HOST: &str = "127.0.0.1";
/// Default group of a workload.
pub const DEFAULT_GROUP: &str = "default";
/// Session TTL of the proxy when `session_ttl` is absent: 2 hours, as ToolHive.
pub const DEFAULT_SESSION_TTL_SECS: u64 = 2 * 60 * 60;
/// Longest container (and workload, group) name.
pub const MAX_NAME_LEN: usize = 63;

/// Container label keys set on every managed container (ToolHive's).
pub mod labels {
    /// `true` on every container `thv` manages.
    pub const TOOLHIVE: &str = "toolhive";
    pub const NAME: &str = "toolhive-name";
    pub const BASENAME: &str = "toolhive-basename";
    pub const TRANSPORT: &str = "toolhive-transport";
    /// The proxy port (set once the port is known).
    pub const PORT: &str = "toolhive-port";
    pub const NETWORK_ISOLATION: &str = "toolhive-network-isolation";
    pub const GROUP: &str = "toolhive-group";
    /// Marks auxiliary containers (egress/ingress/DNS of an isolated network).
    pub const AUXILIARY: &str = "toolhive-auxiliary";
    /// Prefix reserved for these labels: user labels may not use it.
    pub const RESERVED_PREFIX: &str = "toolhive";
}

/// Env vars the runner injects into a container for its transport (ToolHive's names).
pub mod transport_env {
    pub const MCP_TRANSPORT: &str = "MCP_TRANSPORT";
    pub const MCP_PORT: &str = "MCP_PORT";
    pub const FASTMCP_PORT: &str = "FASTMCP_PORT";
    pub const MCP_HOST: &str = "MCP_HOST";
}

/// One workload's run configuration. Field names are ToolHive's (snake_case); field order is the order written.
///
/// Sources: exactly one of `remote_url` (no container) or a container source (`image`, and/or `package` for a
/// `uvx://`/`npx://`/`go://` package that the runner builds into an image, after which it also sets `image`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// `v1` (see the module's compatibility policy).
    pub schema_version: String,

    // ---- source
    /// OCI image reference the container runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// URL of a remote MCP server (`http`/`https`): proxied, no container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_url: Option<String>,
    /// Registry file URL the server was resolved from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_url: Option<String>,
    /// Registry API URL the server was resolved from (absent for the bundled registry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_api_url: Option<String>,
    /// Full server.json name of the registry entry (`io.github.stacklok/fetch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_server_name: Option<String>,
    /// Version of the registry entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_server_version: Option<String>,
    /// A package run through a protocol scheme (`uvx://`, `npx://`, `go://`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<PackageSource>,
    /// Arguments passed to the server's entrypoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cmd_args: Vec<String>,

    // ---- identity
    /// Workload name (`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`, at most 63 characters); also the state file's name.
    pub name: String,
    /// Container name (same rule); absent for a remote server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// Base name for the workload's files (PID, log) and labels (same rule).
    pub base_name: String,

    // ---- transport and networking
    /// How the server speaks MCP.
    pub transport: TransportType,
    /// What the proxy offers clients for a `stdio` server (default `streamable-http`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_mode: Option<ProxyMode>,
    /// Address the proxy binds (an IP address or a host name).
    #[serde(default = "default_host")]
    pub host: String,
    /// Port the proxy listens on (1–65535); absent until chosen (the runner picks a free one in 10000–65535).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Port the server listens on in the container (sse and streamable-http only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<u16>,
    /// Host the proxy reaches the container port on (default `127.0.0.1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_host: Option<String>,

    // ---- permissions
    /// What the user asked for (`none`, `network`, or a file path); absent when the registry's profile is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_profile_name_or_path: Option<String>,
    /// The resolved profile the container runs with (absent for a remote server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_profile: Option<PermissionProfile>,
    /// Enforce the profile's network rules through an isolated network with an egress proxy.
    #[serde(default)]
    pub isolate_network: bool,

    // ---- environment and storage
    /// Plain env vars of the container (registry defaults, `-e`, transport vars).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env_vars: BTreeMap<String, String>,
    /// Secret references: env vars filled from the secret provider when the container starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretRef>,
    /// Names of `env_vars` entries the registry marks secret but whose value was given in plain (`-e`);
    /// [`RunConfig::export`] drops their values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensitive_env_vars: Vec<String>,
    /// Extra mounts, `host:container[:ro|:rw]` (or `scheme://resource:container[:ro|:rw]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    /// Labels of the container (the `toolhive*` ones plus the user's).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub container_labels: BTreeMap<String, String>,

    // ---- grouping, tools, middleware
    /// Group of the workload (default `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Tool names the registry declares for the server (informational; `tools_filter` is what restricts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registry_tools: Vec<String>,
    /// Only these tools are listed and callable (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools_filter: Vec<String>,
    /// Tool renames/redescriptions, by original tool name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tools_override: BTreeMap<String, ToolOverride>,
    /// Proxy middleware chain, outermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub middleware_configs: Vec<MiddlewareConfig>,
    /// Idle session lifetime of the proxy, in **whole seconds** (an integer ≥ 1; absent:
    /// [`DEFAULT_SESSION_TTL_SECS`]). ToolHive writes a Go duration string (`2h`); an integer is unambiguous.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_ttl: Option<u64>,
    /// When the RunConfig was created (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,

    /// Fields this version does not know, kept and written back unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn default_host() -> String {
    DEFAULT_HOST.to_owned()
}

/// An MCP transport of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransportType {
    Stdio,
    Sse,
    StreamableHttp,
}

impl TransportType {
    pub const ALL: [TransportType; 3] = [Self::Stdio, Self::Sse, Self::StreamableHttp];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdio => "stdio",
            Self::Sse => "sse",
            Self::StreamableHttp => "streamable-http",
        }
    }

    /// `sse` and `streamable-http`: the server listens on a port.
    pub fn is_http(self) -> bool {
        !matches!(self, Self::Stdio)
    }
}

impl fmt::Display for TransportType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TransportType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                format!("unknown transport '{s}': expected stdio, sse or streamable-http")
            })
    }
}

/// What the proxy of a `stdio` server offers clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyMode {
    /// `/mcp` (the default).
    #[default]
    StreamableHttp,
    /// `/sse` + `/messages` (deprecated in MCP, still used by some clients).
    Sse,
}

impl ProxyMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StreamableHttp => "streamable-http",
            Self::Sse => "sse",
        }
    }
}

impl fmt::Display for ProxyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProxyMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "streamable-http" => Ok(Self::StreamableHttp),
            "sse" => Ok(Self::Sse),
            _ => Err(format!(
                "unknown proxy mode '{s}': expected streamable-http or sse"
            )),
        }
    }
}

/// A reference to a secret: the secret named `name` in the secret provider fills the env var `target`. Never a
/// value; any other key is refused on read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// Secret name in the provider (no `,`, `=`, whitespace or control characters; at most 256 characters).
    pub name: String,
    /// Env var it fills (`^[A-Za-z_][A-Za-z0-9_]*$`).
    pub target: String,
}

impl SecretRef {
    pub fn new(name: impl Into<String>, target: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            target: target.into(),
        }
    }

    /// Parses the CLI form `NAME,target=ENV` (ToolHive's `--secret`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let (name, rest) = s
            .split_once(',')
            .ok_or_else(|| format!("invalid secret '{s}': expected NAME,target=ENV_VAR"))?;
        let target = rest
            .strip_prefix("target=")
            .ok_or_else(|| format!("invalid secret '{s}': expected NAME,target=ENV_VAR"))?;
        let r = Self::new(name, target);
        r.check()
            .map_err(|e| format!("invalid secret '{s}': {e}"))?;
        Ok(r)
    }

    /// The rules of a well-formed reference.
    pub fn check(&self) -> Result<(), String> {
        if let Some(e) = secret_name_error(&self.name) {
            return Err(format!("name: {e}"));
        }
        if let Some(e) = env_name_error(&self.target) {
            return Err(format!("target: {e}"));
        }
        Ok(())
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},target={}", self.name, self.target)
    }
}

/// A package scheme: the package is built into an image from a Dockerfile template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageScheme {
    /// A PyPI package run with `uv tool`.
    Uvx,
    /// An npm package run with `npx`.
    Npx,
    /// A Go module (or a local directory `./dir`) built with `go`.
    Go,
}

impl PackageScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uvx => "uvx",
            Self::Npx => "npx",
            Self::Go => "go",
        }
    }
}

impl fmt::Display for PackageScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PackageScheme {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "uvx" => Ok(Self::Uvx),
            "npx" => Ok(Self::Npx),
            "go" => Ok(Self::Go),
            _ => Err(format!(
                "unknown package scheme '{s}': expected uvx, npx or go"
            )),
        }
    }
}

/// A package run through a protocol scheme: `uvx://name[@version]`, `npx://name[@version]`,
/// `go://module[@version]` or `go://./local/dir`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PackageSource {
    pub scheme: PackageScheme,
    /// Package name (`@scope/pkg` for npm, a module path or a local path for go).
    pub name: String,
    /// Pinned version; absent means the latest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl PackageSource {
    /// Parses `scheme://name[@version]`. `Ok(None)` when `s` has none of the three schemes.
    pub fn parse(s: &str) -> Result<Option<Self>, String> {
        let Some((scheme, rest)) = s.split_once("://") else {
            return Ok(None);
        };
        let Ok(scheme) = scheme.parse::<PackageScheme>() else {
            return Ok(None);
        };
        // The version separator is the last `@` that is not the first character (`@scope/pkg@1.0`).
        let (name, version) = match rest.rfind('@') {
            Some(i) if i > 0 => (&rest[..i], Some(rest[i + 1..].to_owned())),
            _ => (rest, None),
        };
        let pkg = Self {
            scheme,
            name: name.to_owned(),
            version,
        };
        pkg.check()
            .map_err(|e| format!("invalid package '{s}': {e}"))?;
        Ok(Some(pkg))
    }

    /// The rules of a well-formed package: a name of `A-Z a-z 0-9 @ / . _ ~ + -` (it ends up in a Dockerfile
    /// entrypoint, so no quotes, spaces or shell characters), and a version of `A-Z a-z 0-9 . _ + ~ ! -`.
    pub fn check(&self) -> Result<(), String> {
        let name_ok = |c: char| c.is_ascii_alphanumeric() || "@/._~+-".contains(c);
        if self.name.is_empty() {
            return Err("the package name is empty".into());
        }
        if let Some(c) = self.name.chars().find(|c| !name_ok(*c)) {
            return Err(format!(
                "the package name contains {c:?} (allowed: letters, digits and @ / . _ ~ + -)"
            ));
        }
        if let Some(v) = &self.version {
            let ver_ok = |c: char| c.is_ascii_alphanumeric() || "._+~!-".contains(c);
            if v.is_empty() {
                return Err("the version after '@' is empty".into());
            }
            if let Some(c) = v.chars().find(|c| !ver_ok(*c)) {
                return Err(format!(
                    "the version contains {c:?} (allowed: letters, digits and . _ + ~ ! -)"
                ));
            }
        }
        Ok(())
    }
}

impl fmt::Display for PackageSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.name)?;
        if let Some(v) = &self.version {
            write!(f, "@{v}")?;
        }
        Ok(())
    }
}

/// A tool rename / redescription (`--tools-override`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolOverride {
    /// New name shown to clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New description shown to clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One proxy middleware: its registered type and its parameters (raw JSON, the middleware's own format).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MiddlewareConfig {
    /// `^[a-z][a-z0-9-]*$`, e.g. `auth`, `mcp-parser`, `tool-filter`, `recovery`.
    #[serde(rename = "type")]
    pub middleware_type: String,
    #[serde(default = "empty_object")]
    pub parameters: Value,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// Why a RunConfig was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RunConfigError {
    /// Not JSON, or not a JSON object.
    #[error("RunConfig is not valid JSON: {0}")]
    Json(String),
    #[error(
        "RunConfig has no `schema_version`; this thv reads schema version {CURRENT_SCHEMA_VERSION}"
    )]
    MissingVersion,
    #[error(
        "RunConfig `schema_version` {found} is malformed: expected v<major>[.<minor>[.<patch>]], e.g. {CURRENT_SCHEMA_VERSION}"
    )]
    InvalidVersion { found: String },
    /// Another major version: written by a newer (or a foreign) tool.
    #[error(
        "RunConfig schema_version '{found}' is not supported: this thv reads major version {SUPPORTED_MAJOR_VERSION} ({CURRENT_SCHEMA_VERSION}, {CURRENT_SCHEMA_VERSION}.x); upgrade thv to read it, or re-create the workload"
    )]
    UnsupportedVersion { found: String },
    /// A field breaks its rule (`field` is a path such as `env_vars.FOO` or `secrets[1].target`).
    #[error("RunConfig: invalid `{field}`: {message}")]
    Invalid { field: String, message: String },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> RunConfigError {
    RunConfigError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Parses `v<major>[.<minor>[.<patch>]]` and returns the major version.
pub fn schema_major_version(version: &str) -> Option<u64> {
    let rest = version.strip_prefix('v')?;
    let parts: Vec<&str> = rest.split('.').collect();
    if parts.len() > 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 9)
    {
        return None;
    }
    if parts[0].len() > 1 && parts[0].starts_with('0') {
        return None;
    }
    parts[0].parse().ok()
}

/// Checks a schema version: `Ok` for any version of the supported major version.
pub fn check_schema_version(version: &str) -> Result<(), RunConfigError> {
    match schema_major_version(version) {
        None => Err(RunConfigError::InvalidVersion {
            found: format!("'{version}'"),
        }),
        Some(SUPPORTED_MAJOR_VERSION) => Ok(()),
        Some(_) => Err(RunConfigError::UnsupportedVersion {
            found: version.to_owned(),
        }),
    }
}

impl RunConfig {
    /// The schema version written by this crate.
    pub const CURRENT: &'static str = CURRENT_SCHEMA_VERSION;

    /// A minimal container RunConfig: current version, `name` as container and base name, default host, group
    /// `default`, network isolation on. The caller sets the source (`image`, `package` or, for a remote,
    /// `remote_url` with `container_name` cleared).
    pub fn new(name: impl Into<String>, transport: TransportType) -> Self {
        let name = name.into();
        Self {
            schema_version: CURRENT_SCHEMA_VERSION.to_owned(),
            image: None,
            remote_url: None,
            registry_url: None,
            registry_api_url: None,
            registry_server_name: None,
            registry_server_version: None,
            package: None,
            cmd_args: Vec::new(),
            container_name: Some(name.clone()),
            base_name: name.clone(),
            name,
            transport,
            proxy_mode: (transport == TransportType::Stdio).then_some(ProxyMode::StreamableHttp),
            host: DEFAULT_HOST.to_owned(),
            port: None,
            target_port: None,
            target_host: None,
            permission_profile_name_or_path: None,
            permission_profile: None,
            isolate_network: true,
            env_vars: BTreeMap::new(),
            secrets: Vec::new(),
            sensitive_env_vars: Vec::new(),
            volumes: Vec::new(),
            container_labels: BTreeMap::new(),
            group: Some(DEFAULT_GROUP.to_owned()),
            registry_tools: Vec::new(),
            tools_filter: Vec::new(),
            tools_override: BTreeMap::new(),
            middleware_configs: Vec::new(),
            session_ttl: None,
            created_at: None,
            extra: Map::new(),
        }
    }

    /// Reads and validates a RunConfig: the version first (see the module's policy), then the JSON shape, then
    /// every field's rules ([`RunConfig::validate`]).
    pub fn read_json(bytes: &[u8]) -> Result<RunConfig, RunConfigError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| RunConfigError::Json(e.to_string()))?;
        let Value::Object(obj) = value else {
            return Err(RunConfigError::Json(format!(
                "expected a JSON object, found {}",
                crate::legacy::json_kind(&value)
            )));
        };
        match obj.get("schema_version") {
            None | Some(Value::Null) => return Err(RunConfigError::MissingVersion),
            Some(Value::String(v)) => check_schema_version(v)?,
            Some(other) => {
                return Err(RunConfigError::InvalidVersion {
                    found: other.to_string(),
                });
            }
        }
        precheck_secrets(&obj)?;
        let config: RunConfig = match serde_json::from_value(Value::Object(obj.clone())) {
            Ok(c) => c,
            Err(e) => return Err(locate_shape_error(&obj, e)),
        };
        config.validate()?;
        Ok(config)
    }

    /// Reads a RunConfig from a string; see [`RunConfig::read_json`].
    pub fn read_str(s: &str) -> Result<RunConfig, RunConfigError> {
        Self::read_json(s.as_bytes())
    }

    /// Serializes as 2-space pretty JSON with a trailing newline (known fields in struct order, then the
    /// unknown fields kept from reading).
    pub fn write_json(&self) -> String {
        // Every field serializes infallibly (string map keys, no non-finite numbers).
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// A copy fit to hand to someone else (`thv export`): secrets stay references (the format has no field for
    /// a secret value), and the values of [`RunConfig::sensitive_env_vars`] (registry-secret variables the user
    /// gave in plain) are removed from `env_vars`, their names staying in `sensitive_env_vars` so that the
    /// importer knows to supply them.
    pub fn export(&self) -> RunConfig {
        let mut out = self.clone();
        for name in &self.sensitive_env_vars {
            out.env_vars.remove(name);
        }
        out
    }

    /// [`RunConfig::export`] written as JSON (the content of `thv export NAME FILE`).
    pub fn export_json(&self) -> String {
        self.export().write_json()
    }

    /// Whether this is a remote server (proxied, no container).
    pub fn is_remote(&self) -> bool {
        self.remote_url.is_some()
    }

    /// The proxy mode in effect for a `stdio` server (`streamable-http` when unset); `None` for the others.
    pub fn effective_proxy_mode(&self) -> Option<ProxyMode> {
        (self.transport == TransportType::Stdio).then(|| self.proxy_mode.unwrap_or_default())
    }

    /// The session TTL in seconds ([`DEFAULT_SESSION_TTL_SECS`] when unset).
    pub fn session_ttl_secs(&self) -> u64 {
        self.session_ttl.unwrap_or(DEFAULT_SESSION_TTL_SECS)
    }

    /// The group ([`DEFAULT_GROUP`] when unset).
    pub fn group_name(&self) -> &str {
        self.group.as_deref().unwrap_or(DEFAULT_GROUP)
    }

    /// The env vars ToolHive injects for the transport: `MCP_TRANSPORT` always; for sse/streamable-http also
    /// `MCP_PORT` and `FASTMCP_PORT` (the target port, once known) and `MCP_HOST` (the target host, default
    /// `127.0.0.1`). Empty for a remote server.
    pub fn transport_env_vars(&self) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        if self.is_remote() {
            return env;
        }
        env.insert(
            transport_env::MCP_TRANSPORT.to_owned(),
            self.transport.as_str().to_owned(),
        );
        if self.transport.is_http() {
            if let Some(port) = self.target_port {
                env.insert(transport_env::MCP_PORT.to_owned(), port.to_string());
                env.insert(transport_env::FASTMCP_PORT.to_owned(), port.to_string());
            }
            env.insert(
                transport_env::MCP_HOST.to_owned(),
                self.target_host
                    .clone()
                    .unwrap_or_else(|| DEFAULT_TARGET_HOST.to_owned()),
            );
        }
        env
    }

    /// Writes [`RunConfig::transport_env_vars`] into `env_vars` (they override the user's `-e`, as in ToolHive;
    /// a secret reference with the same target still wins, so such a name is left out of `env_vars`).
    pub fn apply_transport_env(&mut self) {
        let secret_targets: BTreeSet<&str> =
            self.secrets.iter().map(|s| s.target.as_str()).collect();
        for (k, v) in self.transport_env_vars() {
            if !secret_targets.contains(k.as_str()) {
                self.env_vars.insert(k, v);
            }
        }
    }

    /// The labels every managed container gets: `toolhive=true`, `toolhive-name`, `toolhive-basename`,
    /// `toolhive-transport`, `toolhive-port` (once the proxy port is known), `toolhive-network-isolation`,
    /// `toolhive-group`.
    pub fn standard_labels(&self) -> BTreeMap<String, String> {
        let mut l = BTreeMap::new();
        l.insert(labels::TOOLHIVE.to_owned(), "true".to_owned());
        l.insert(labels::NAME.to_owned(), self.name.clone());
        l.insert(labels::BASENAME.to_owned(), self.base_name.clone());
        l.insert(
            labels::TRANSPORT.to_owned(),
            self.transport.as_str().to_owned(),
        );
        if let Some(port) = self.port {
            l.insert(labels::PORT.to_owned(), port.to_string());
        }
        l.insert(
            labels::NETWORK_ISOLATION.to_owned(),
            self.isolate_network.to_string(),
        );
        l.insert(labels::GROUP.to_owned(), self.group_name().to_owned());
        l
    }

    /// Writes [`RunConfig::standard_labels`] into `container_labels` (no-op for a remote server).
    pub fn apply_standard_labels(&mut self) {
        if !self.is_remote() {
            self.container_labels.extend(self.standard_labels());
        }
    }

    /// Sets the proxy port (once chosen) and its label.
    pub fn set_port(&mut self, port: u16) {
        self.port = Some(port);
        if !self.is_remote() {
            self.container_labels
                .insert(labels::PORT.to_owned(), port.to_string());
        }
    }

    /// Sets the container port (once chosen) and the transport env vars that carry it.
    pub fn set_target_port(&mut self, port: u16) {
        self.target_port = Some(port);
        self.apply_transport_env();
    }

    /// Checks every field's rule; the error names the field and the rule. [`RunConfig::read_json`] calls it.
    pub fn validate(&self) -> Result<(), RunConfigError> {
        check_schema_version(&self.schema_version)?;
        self.validate_source()?;
        check_name("name", &self.name)?;
        if let Some(c) = &self.container_name {
            check_name("container_name", c)?;
        } else if !self.is_remote() {
            return Err(invalid(
                "container_name",
                "required for a container workload (only a remote server has none)",
            ));
        }
        check_name("base_name", &self.base_name)?;
        if let Some(g) = &self.group {
            check_name("group", g)?;
        }
        self.validate_network()?;
        self.validate_env()?;
        if let Some(profile) = &self.permission_profile {
            if self.is_remote() {
                return Err(invalid(
                    "permission_profile",
                    "a remote server runs no container, so it has no permission profile",
                ));
            }
            profile.validate().map_err(|e| match e {
                ProfileError::Mount { field, source } => {
                    invalid(format!("permission_profile.{field}"), source.to_string())
                }
                ProfileError::Invalid { field, message } => {
                    invalid(format!("permission_profile.{field}"), message)
                }
                other => invalid("permission_profile", other.to_string()),
            })?;
            if self.isolate_network
                && let Some(mode) = profile.network.as_ref().and_then(|n| n.mode.as_deref())
                && !mounts::is_bridge_mode(mode)
            {
                return Err(invalid(
                    "isolate_network",
                    format!(
                        "network isolation needs bridge networking, but the profile's network mode is '{mode}'"
                    ),
                ));
            }
        }
        if let Some(p) = &self.permission_profile_name_or_path
            && (p.is_empty() || p.contains('\0'))
        {
            return Err(invalid(
                "permission_profile_name_or_path",
                "must be `none`, `network` or a file path",
            ));
        }
        for (i, v) in self.volumes.iter().enumerate() {
            parse_volume(v).map_err(|e| invalid(format!("volumes[{i}]"), e.to_string()))?;
        }
        for (k, v) in &self.container_labels {
            if let Some(e) = label_key_error(k) {
                return Err(invalid(format!("container_labels.{k}"), e));
            }
            if v.chars().any(char::is_control) {
                return Err(invalid(
                    format!("container_labels.{k}"),
                    "a label value must not contain control characters",
                ));
            }
        }
        self.validate_tools()?;
        for (i, m) in self.middleware_configs.iter().enumerate() {
            let t = &m.middleware_type;
            let ok = t.starts_with(|c: char| c.is_ascii_lowercase())
                && t.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !ok {
                return Err(invalid(
                    format!("middleware_configs[{i}].type"),
                    format!("'{t}' is not a middleware type (^[a-z][a-z0-9-]*$)"),
                ));
            }
        }
        if self.session_ttl == Some(0) {
            return Err(invalid(
                "session_ttl",
                "must be a whole number of seconds ≥ 1",
            ));
        }
        Ok(())
    }

    fn validate_source(&self) -> Result<(), RunConfigError> {
        if let Some(url) = &self.remote_url {
            check_http_url("remote_url", url)?;
            if self.image.is_some() || self.package.is_some() {
                return Err(invalid(
                    "remote_url",
                    "a remote server has no image or package: set either `remote_url` or `image`/`package`",
                ));
            }
            if self.transport == TransportType::Stdio {
                return Err(invalid(
                    "transport",
                    "a remote server speaks sse or streamable-http, not stdio",
                ));
            }
        } else if self.image.is_none() && self.package.is_none() {
            return Err(invalid(
                "image",
                "no source: one of `image`, `package` or `remote_url` is required",
            ));
        }
        if let Some(image) = &self.image
            && let Some(e) = image_ref_error(image)
        {
            return Err(invalid("image", e));
        }
        if let Some(pkg) = &self.package {
            pkg.check().map_err(|e| invalid("package", e))?;
        }
        if let Some(u) = &self.registry_api_url {
            check_http_url("registry_api_url", u)?;
        }
        if let Some(u) = &self.registry_url {
            url::Url::parse(u).map_err(|e| invalid("registry_url", format!("not a URL: {e}")))?;
        }
        if let Some(n) = &self.registry_server_name
            && (n.is_empty() || n.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(invalid(
                "registry_server_name",
                "must be a server name such as io.github.owner/name",
            ));
        }
        for (i, a) in self.cmd_args.iter().enumerate() {
            if a.contains('\0') {
                return Err(invalid(
                    format!("cmd_args[{i}]"),
                    "an argument must not contain a NUL character",
                ));
            }
        }
        Ok(())
    }

    fn validate_network(&self) -> Result<(), RunConfigError> {
        if let Some(e) = host_error(&self.host) {
            return Err(invalid("host", e));
        }
        if let Some(h) = &self.target_host
            && let Some(e) = host_error(h)
        {
            return Err(invalid("target_host", e));
        }
        if self.port == Some(0) {
            return Err(invalid("port", "must be in 1–65535"));
        }
        if let Some(p) = self.target_port {
            if p == 0 {
                return Err(invalid("target_port", "must be in 1–65535"));
            }
            if !self.transport.is_http() {
                return Err(invalid(
                    "target_port",
                    "only sse and streamable-http servers listen on a port (transport is stdio)",
                ));
            }
            if self.is_remote() {
                return Err(invalid(
                    "target_port",
                    "a remote server has no container port",
                ));
            }
        }
        if self.proxy_mode.is_some() && self.transport != TransportType::Stdio {
            return Err(invalid(
                "proxy_mode",
                format!(
                    "applies only to stdio servers (a {} server is proxied as it is)",
                    self.transport
                ),
            ));
        }
        if self.isolate_network && self.is_remote() {
            return Err(invalid(
                "isolate_network",
                "a remote server runs no container, so there is no network to isolate",
            ));
        }
        Ok(())
    }

    fn validate_env(&self) -> Result<(), RunConfigError> {
        for (k, v) in &self.env_vars {
            if let Some(e) = env_name_error(k) {
                return Err(invalid(format!("env_vars.{k}"), e));
            }
            if v.contains('\0') {
                return Err(invalid(
                    format!("env_vars.{k}"),
                    "a value must not contain a NUL character",
                ));
            }
        }
        let mut targets = BTreeSet::new();
        for (i, s) in self.secrets.iter().enumerate() {
            if let Some(e) = secret_name_error(&s.name) {
                return Err(invalid(format!("secrets[{i}].name"), e));
            }
            if let Some(e) = env_name_error(&s.target) {
                return Err(invalid(format!("secrets[{i}].target"), e));
            }
            if !targets.insert(s.target.as_str()) {
                return Err(invalid(
                    format!("secrets[{i}].target"),
                    format!("{} is filled by two secrets", s.target),
                ));
            }
            if self.env_vars.contains_key(&s.target) {
                return Err(invalid(
                    format!("secrets[{i}].target"),
                    format!(
                        "{} is both a plain env var and a secret reference; keep one",
                        s.target
                    ),
                ));
            }
        }
        for (i, n) in self.sensitive_env_vars.iter().enumerate() {
            if let Some(e) = env_name_error(n) {
                return Err(invalid(format!("sensitive_env_vars[{i}]"), e));
            }
        }
        Ok(())
    }

    fn validate_tools(&self) -> Result<(), RunConfigError> {
        for (field, list) in [
            ("registry_tools", &self.registry_tools),
            ("tools_filter", &self.tools_filter),
        ] {
            let mut seen = BTreeSet::new();
            for (i, t) in list.iter().enumerate() {
                if let Some(e) = tool_name_error(t) {
                    return Err(invalid(format!("{field}[{i}]"), e));
                }
                if !seen.insert(t) {
                    return Err(invalid(
                        format!("{field}[{i}]"),
                        format!("'{t}' is listed twice"),
                    ));
                }
            }
        }
        for (k, o) in &self.tools_override {
            if let Some(e) = tool_name_error(k) {
                return Err(invalid(format!("tools_override.{k}"), e));
            }
            if o.name.is_none() && o.description.is_none() {
                return Err(invalid(
                    format!("tools_override.{k}"),
                    "an override sets `name`, `description` or both",
                ));
            }
            if let Some(n) = &o.name
                && let Some(e) = tool_name_error(n)
            {
                return Err(invalid(format!("tools_override.{k}.name"), e));
            }
        }
        Ok(())
    }
}

/// A secret reference must be an object with exactly `name` and `target`: say so clearly before serde does.
fn precheck_secrets(obj: &Map<String, Value>) -> Result<(), RunConfigError> {
    let Some(Value::Array(items)) = obj.get("secrets") else {
        return Ok(());
    };
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::Object(m) => {
                if let Some(k) = m.keys().find(|k| *k != "name" && *k != "target") {
                    return Err(invalid(
                        format!("secrets[{i}]"),
                        format!(
                            "unknown key `{k}`: a secret reference is {{\"name\", \"target\"}} (the secret's name and the env var it fills), never a value"
                        ),
                    ));
                }
            }
            Value::String(_) => {
                return Err(invalid(
                    format!("secrets[{i}]"),
                    "a secret reference is an object {\"name\": NAME, \"target\": ENV_VAR}, not ToolHive's \"NAME,target=ENV\" string",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Finds the field a serde error comes from: each field is tried alone on top of a minimal valid object, so the
/// message can name it (`serde_json` errors on a `Value` carry no path).
fn locate_shape_error(obj: &Map<String, Value>, err: serde_json::Error) -> RunConfigError {
    let base = || {
        let mut m = Map::new();
        m.insert("schema_version".into(), CURRENT_SCHEMA_VERSION.into());
        m.insert("name".into(), "x".into());
        m.insert("base_name".into(), "x".into());
        m.insert("transport".into(), "stdio".into());
        m
    };
    for (k, v) in obj {
        let mut probe = base();
        probe.insert(k.clone(), v.clone());
        if let Err(e) = serde_json::from_value::<RunConfig>(Value::Object(probe)) {
            return invalid(k.clone(), e.to_string());
        }
    }
    let msg = err.to_string();
    if let Some(field) = msg
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(f, _)| f.to_owned())
    {
        return invalid(field, msg);
    }
    RunConfigError::Json(msg)
}

/// `^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`, at most 63 characters: the rule of container, workload and group names.
pub fn name_error(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Some(format!(
            "'{name}' is {} characters long; at most {MAX_NAME_LEN} are allowed",
            name.len()
        ));
    }
    let ok_first = name.starts_with(|c: char| c.is_ascii_alphanumeric());
    let ok_rest = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    (!(ok_first && ok_rest)).then(|| {
        format!(
            "'{}' is not a valid name: it must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$",
            name.escape_debug()
        )
    })
}

fn check_name(field: &str, name: &str) -> Result<(), RunConfigError> {
    match name_error(name) {
        Some(e) => Err(invalid(field, e)),
        None => Ok(()),
    }
}

/// `^[A-Za-z_][A-Za-z0-9_]*$`: the rule of env var names.
pub fn env_name_error(name: &str) -> Option<String> {
    let ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (!ok).then(|| {
        format!(
            "'{}' is not a valid env var name: it must match ^[A-Za-z_][A-Za-z0-9_]*$",
            name.escape_debug()
        )
    })
}

/// A secret name: non-empty, at most 256 characters, no `,` or `=` (the CLI form is `NAME,target=ENV`), no
/// whitespace or control characters.
pub fn secret_name_error(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("a secret name must not be empty".into());
    }
    if name.chars().count() > 256 {
        return Some("a secret name is at most 256 characters".into());
    }
    name.chars()
        .find(|c| matches!(c, ',' | '=') || c.is_whitespace() || c.is_control())
        .map(|c| {
            format!(
                "secret name '{}' contains {c:?} (no ',', '=', whitespace or control characters)",
                name.escape_debug()
            )
        })
}

/// A host: an IP address (v4, or v6 without brackets) or a host name (RFC 1123: dot-separated labels of
/// letters, digits and `-`, each 1–63 characters not starting or ending with `-`; at most 253 characters).
pub fn host_error(host: &str) -> Option<String> {
    if host.parse::<IpAddr>().is_ok() {
        return None;
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let ok = !host.is_empty() && host.len() <= 253 && host.split('.').all(label_ok);
    (!ok).then(|| {
        format!(
            "'{}' is neither an IP address nor a host name",
            host.escape_debug()
        )
    })
}

fn check_http_url(field: &str, u: &str) -> Result<(), RunConfigError> {
    let parsed =
        url::Url::parse(u).map_err(|e| invalid(field, format!("'{u}' is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(invalid(
            field,
            format!("'{u}' is not an http(s) URL with a host"),
        ));
    }
    Ok(())
}

/// An OCI reference, loosely: non-empty, no whitespace, control or shell characters, not starting with `-`.
fn image_ref_error(image: &str) -> Option<String> {
    if image.is_empty() {
        return Some("must not be empty".into());
    }
    if image.starts_with('-') {
        return Some(format!("'{image}' is not an image reference"));
    }
    image
        .chars()
        .find(|c| {
            !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':' | '@' | '+'))
        })
        .map(|c| {
            format!(
                "'{}' is not an image reference: it contains {c:?}",
                image.escape_debug()
            )
        })
}

/// A label key: `^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$`.
fn label_key_error(k: &str) -> Option<String> {
    let ok = k.starts_with(|c: char| c.is_ascii_alphanumeric())
        && k.ends_with(|c: char| c.is_ascii_alphanumeric())
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-'));
    (!ok).then(|| {
        format!(
            "'{}' is not a label key (^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$)",
            k.escape_debug()
        )
    })
}

/// A tool name: non-empty, at most 128 characters, no whitespace or control characters.
fn tool_name_error(t: &str) -> Option<String> {
    if t.is_empty() || t.chars().count() > 128 {
        return Some("a tool name has 1–128 characters".into());
    }
    t.chars()
        .any(|c| c.is_whitespace() || c.is_control())
        .then(|| {
            format!(
                "tool name '{}' contains whitespace or control characters",
                t.escape_debug()
            )
        })
}

/// Parses a CLI env assignment `KEY=VALUE` (`-e`); the name must be a valid env var name.
pub fn parse_env_assignment(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("invalid env var '{s}': expected KEY=VALUE"))?;
    if let Some(e) = env_name_error(k) {
        return Err(e);
    }
    Ok((k.to_owned(), v.to_owned()))
}
