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
//! allows it, warns, and lists the name in [`RunConfig::sensitive_env_vars`]; before the RunConfig is stored,
//! [`RunConfig::take_sensitive_values`] moves those values into the runner's secret store (as references
//! `thv.NAME.VAR`), and [`RunConfig::export`] drops any such value an older file still holds (keeping the
//! names, so whoever imports the file knows what to supply). A stored or exported RunConfig therefore holds no
//! secret value that `thv` knows of.
//!
//! # Module layout
//!
//! - this module: [`RunConfig`] and its parts, reading, writing, validation, export (the parts' types in
//!   `types.rs`, the field rules in `validate.rs`, the transport env vars and standard labels in
//!   `labels_env.rs`);
//! - [`mounts`]: permission profiles (built-ins, loading from a file) and mount declaration validation;
//! - [`resolve`]: [`from_registry_entry`], a server.json entry plus the user's choices → RunConfig;
//! - [`names`]: short-name matching and container-name sanitizing;
//! - [`privileges`]: what a profile asks for beyond an isolated container, and the user's grants of it.

pub mod mounts;
pub mod names;
pub mod privileges;
pub mod resolve;

mod labels_env;
mod types;
mod validate;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::toolhive::PermissionProfile;

pub use labels_env::{labels, transport_env};
pub use mounts::{
    Mount, MountError, MountSource, PathSide, ProfileError, clean_host_path,
    load_permission_profile, parse_mount, parse_volume,
};
pub use names::{NameMatchError, match_short_name, sanitize_name};
pub use privileges::{Grant, Privilege};
pub use resolve::{
    Resolution, ResolveError, ResolveOptions, ResolveWarning, check_grants, from_registry_entry,
    resolve_registry_entry,
};
pub use types::{
    InvalidPackage, InvalidSecretRef, MiddlewareConfig, PackageRuleError, PackageScheme,
    PackageSource, ProxyMode, SecretRef, SecretRefRuleError, ToolOverride, TransportType,
    UnknownPackageScheme, UnknownProxyMode, UnknownTransport,
};
pub use validate::{
    EnvAssignmentError, env_name_error, host_error, name_error, parse_env_assignment,
    secret_name_error,
};

/// The schema version this crate writes.
pub const CURRENT_SCHEMA_VERSION: &str = "v1";
/// The major version this crate reads (any minor version of it).
pub const SUPPORTED_MAJOR_VERSION: u64 = 1;
/// The JSON Schema of the format (draft 2020-12), `data/schemas/runconfig.schema.json`.
pub const JSON_SCHEMA: &str = include_str!("../../../data/schemas/runconfig.schema.json");
/// Default proxy bind address.
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// Default host the proxy reaches an HTTP server's container port on.
pub const DEFAULT_TARGET_HOST: &str = "127.0.0.1";
/// Default group of a workload.
pub const DEFAULT_GROUP: &str = "default";
/// Session TTL of the proxy when `session_ttl` is absent: 2 hours, as ToolHive.
pub const DEFAULT_SESSION_TTL_SECS: u64 = 2 * 60 * 60;
/// Longest container (and workload, group) name.
pub const MAX_NAME_LEN: usize = 63;

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
    /// Let the isolated workload reach the engine's gateway (the host) when its rules allow the destination
    /// (refused by default, even with `insecure_allow_all`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_docker_gateway: bool,

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
            allow_docker_gateway: false,
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

    /// The prefix of the names of the secrets `thv` stores for this workload ([`RunConfig::take_sensitive_values`]):
    /// `thv.NAME.`.
    pub fn workload_secret_prefix(&self) -> String {
        format!("thv.{}.", self.name)
    }

    /// Moves the values of [`RunConfig::sensitive_env_vars`] (registry-secret variables given in plain) out of
    /// `env_vars` into secret references named `thv.NAME.VAR`, and returns each reference with its value, for
    /// the runner to put in its secret store before it saves the RunConfig: afterwards the RunConfig holds no
    /// secret value it knows of. The names stay in `sensitive_env_vars`.
    pub fn take_sensitive_values(&mut self) -> Vec<(SecretRef, String)> {
        let prefix = self.workload_secret_prefix();
        let mut out = Vec::new();
        for var in &self.sensitive_env_vars {
            if let Some(value) = self.env_vars.remove(var) {
                let reference = SecretRef {
                    name: format!("{prefix}{var}"),
                    target: var.clone(),
                };
                self.secrets.push(reference.clone());
                out.push((reference, value));
            }
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
