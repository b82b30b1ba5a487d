//! Resolution: a registry entry (server.json, with ToolHive's extension) plus the user's choices → a
//! [`RunConfig`].
//!
//! # Rules (ToolHive's, with the additions noted)
//!
//! - **Source.** Exactly one `oci` package → a container running its `identifier` as `image` (two or more `oci`
//!   packages is an error). Else `remotes[0]` → a remote server (`remote_url`, no container). Else exactly one
//!   `npm` or `pypi` package → `package` `{scheme: npx|uvx, name, version}`, built into an image by the runner
//!   (an addition: ToolHive refuses these). Anything else is an error listing the package types found.
//! - **Transport.** The package's (or remote's) transport type, unless the user overrides it. For sse and
//!   streamable-http containers, `target_port` is the user's `--target-port`, else the port of the package's
//!   transport URL (`http://localhost:8080` → 8080), else the extension's `target_port`, else left for the runner
//!   to pick ([`RunConfig::set_target_port`]). `stdio` servers get `proxy_mode` (default `streamable-http`).
//! - **Env vars.** Declared variables are the package's `environmentVariables` (plus `-e KEY=value` runtime
//!   arguments), then the extension's `env_vars` (same name: the extension's entry wins). A variable filled by a
//!   secret reference is left to it; else the user's `-e` value is used (for a variable declared secret this is
//!   allowed, warned about and recorded in `sensitive_env_vars`); else its default; else, when it is required,
//!   resolution fails naming every such variable and how to pass it. User `-e` variables the registry does not
//!   declare are passed too. Transport env vars (`MCP_TRANSPORT`, and `MCP_PORT`, `FASTMCP_PORT`, `MCP_HOST`
//!   for HTTP) override `-e`; secrets override everything.
//! - **Arguments.** The user's arguments if any; else the package's `packageArguments` (named: name then
//!   value; value or default); else the extension's `args`.
//! - **Permission profile** (containers): the user's (`none`, `network` or a file), else the extension's
//!   `permissions`, else `network`. An entry's `permissions` are a request (an addition: ToolHive applies
//!   them): what reaches beyond the container ([`Privilege`]: `privileged`, a network mode other than
//!   bridge/none, host mounts) is refused unless the user grants each ([`ResolveOptions::grants`]) or gives a
//!   profile of their own. Network isolation defaults to on; a profile network mode other than bridge
//!   drops it (`none` silently, others with a warning, or an error when the user asked for isolation).
//! - **Name.** The user's `--name`, else the server name's part after `/`, sanitized into a container name.
//! - **Labels.** The user's (not `toolhive*`), then `toolhive=true`, `toolhive-name`, `toolhive-basename`,
//!   `toolhive-transport`, `toolhive-port` (once known), `toolhive-network-isolation`, `toolhive-group`.
//! - The registry's `tools` are recorded in `registry_tools`; a `--tools` filter naming a tool not in that list
//!   is an error.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::Value;
use thiserror::Error;

use super::mounts::{ProfileError, is_bridge_mode, parse_volume};
use super::names::{sanitize_name, short_name};
use super::privileges::{Grant, Privilege};
use super::{
    DEFAULT_TARGET_HOST, PackageScheme, PackageSource, ProxyMode, RunConfig, RunConfigError,
    SecretRef, ToolOverride, TransportType, env_name_error, host_error, labels, name_error,
};
use crate::legacy::url_port;
use crate::server::{Argument, KeyValueInput, Package, ServerJson, Transport};
use crate::toolhive::{self, EnvVar, PermissionProfile, Provenance, ServerExtensions};

mod entry;

pub use entry::{from_registry_entry, resolve_registry_entry};

/// The user's choices (`thv run` flags). Everything is optional; [`Default`] is "as the registry says".
#[derive(Debug, Clone, Default)]
pub struct ResolveOptions {
    /// `--name`: workload and container name (must already be a valid name; it is not sanitized).
    pub name: Option<String>,
    /// `-e KEY=VALUE` (see [`super::parse_env_assignment`]).
    pub env: BTreeMap<String, String>,
    /// `--secret NAME,target=ENV` (see [`SecretRef::parse`]).
    pub secrets: Vec<SecretRef>,
    /// Arguments after `--`; they replace the registry's.
    pub args: Vec<String>,
    /// `--permission-profile`: `none`, `network` or the path of a JSON profile.
    pub permission_profile: Option<String>,
    /// `--grant`: privileges the registry entry's profile may have (see [`Privilege`]).
    pub grants: Vec<Grant>,
    /// `--transport`.
    pub transport: Option<TransportType>,
    /// `--proxy-port`.
    pub proxy_port: Option<u16>,
    /// `--target-port`.
    pub target_port: Option<u16>,
    /// `--proxy-mode` (stdio servers).
    pub proxy_mode: Option<ProxyMode>,
    /// `--isolate-network` (`None`: on for containers).
    pub isolate_network: Option<bool>,
    /// `--host`.
    pub host: Option<String>,
    /// `--target-host`.
    pub target_host: Option<String>,
    /// `--group` (`None`: `default`).
    pub group: Option<String>,
    /// `-l KEY=VALUE`.
    pub labels: BTreeMap<String, String>,
    /// `-v host:container[:ro]`.
    pub volumes: Vec<String>,
    /// `--tools`.
    pub tools_filter: Vec<String>,
    /// `--tools-override` (already read from its file).
    pub tools_override: BTreeMap<String, ToolOverride>,
    /// `--session-ttl`, in seconds.
    pub session_ttl: Option<u64>,
    /// The registry file URL the entry came from, recorded.
    pub registry_url: Option<String>,
    /// The registry API URL the entry came from, recorded.
    pub registry_api_url: Option<String>,
    /// `created_at` (now when absent).
    pub created_at: Option<DateTime<Utc>>,
}

/// A resolved RunConfig and what the user should be told about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    pub config: RunConfig,
    pub warnings: Vec<ResolveWarning>,
    /// The registry entry's image provenance: what the image's signature must say
    /// (`thv run --image-verification`).
    pub provenance: Option<Provenance>,
}

/// Something resolution allowed but the user should know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveWarning {
    /// A variable the registry marks secret was given as a plain `-e` value (recorded in
    /// `sensitive_env_vars`; `export` drops it).
    SecretGivenInPlain { name: String },
    /// Both `-e NAME=...` and `--secret ...,target=NAME`: the secret wins.
    EnvOverriddenBySecret { name: String },
    /// Network isolation was turned off because the profile's network mode is not bridge.
    NetworkIsolationDropped { mode: String },
    /// An option that does not apply to this server.
    OptionIgnored { option: String, reason: String },
    /// The registry marks the server deprecated.
    Deprecated { server: String },
}

impl fmt::Display for ResolveWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SecretGivenInPlain { name } => write!(
                f,
                "{name} is a secret but was given in plain with -e; thv keeps it in its secret store, not in the workload's config: prefer --secret NAME,target={name}"
            ),
            Self::EnvOverriddenBySecret { name } => {
                write!(
                    f,
                    "{name} is given both with -e and --secret; the secret is used"
                )
            }
            Self::NetworkIsolationDropped { mode } => write!(
                f,
                "network isolation is off: it needs bridge networking and the permission profile's network mode is '{mode}'"
            ),
            Self::OptionIgnored { option, reason } => write!(f, "{option} is ignored: {reason}"),
            Self::Deprecated { server } => write!(f, "server '{server}' is deprecated"),
        }
    }
}

/// A required variable that was not given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingEnv {
    pub name: String,
    pub secret: bool,
    pub description: Option<String>,
}

/// Why a registry entry could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ResolveError {
    /// No runnable source (or several).
    #[error("server '{server}' cannot be run: {reason}")]
    Unsupported { server: String, reason: String },
    /// The ToolHive extension is malformed.
    #[error("server '{server}': invalid ToolHive extension: {message}")]
    Extension { server: String, message: String },
    /// Required variables nobody gave.
    #[error("{}", missing_env_text(server, missing))]
    MissingRequiredEnv {
        server: String,
        missing: Vec<MissingEnv>,
    },
    /// A required package argument without value or default, and the user gave no arguments.
    #[error(
        "server '{server}' needs the argument {argument}; pass the server's arguments after --"
    )]
    MissingArgument { server: String, argument: String },
    /// A user option is invalid (`option` is the flag, e.g. `--name`).
    #[error("invalid {option}: {message}")]
    InvalidOption { option: String, message: String },
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// A permission profile the user did not write (a registry entry's, a RunConfig file's) asks for privileges
    /// the user did not grant. `requester` names where it comes from (`registry entry 'NAME'`).
    #[error("{}", ungranted_text(requester, missing))]
    PrivilegesNotGranted {
        requester: String,
        missing: Vec<Privilege>,
    },
    /// `--tools` names a tool the registry does not list.
    #[error(
        "server '{server}' has no tool '{tool}' (its tools: {})",
        available.join(", ")
    )]
    UnknownTool {
        server: String,
        tool: String,
        available: Vec<String>,
    },
    /// The resulting RunConfig breaks a rule (e.g. an invalid env var name in the registry entry).
    #[error("server '{server}': {reason}")]
    Invalid {
        server: String,
        /// Shown in the message (not a `source`, so that error chains do not print it twice).
        reason: RunConfigError,
    },
}

fn missing_env_text(server: &str, missing: &[MissingEnv]) -> String {
    let items: Vec<String> = missing
        .iter()
        .map(|m| {
            let how = if m.secret {
                format!("a secret: pass --secret NAME,target={}", m.name)
            } else {
                format!("pass -e {}=VALUE", m.name)
            };
            match &m.description {
                Some(d) if !d.is_empty() => format!("{} ({d}; {how})", m.name),
                _ => format!("{} ({how})", m.name),
            }
        })
        .collect();
    let noun = if missing.len() == 1 {
        "environment variable"
    } else {
        "environment variables"
    };
    format!("server '{server}' requires the {noun} {}", items.join("; "))
}

fn ungranted_text(requester: &str, missing: &[Privilege]) -> String {
    let what: Vec<String> = missing.iter().map(ToString::to_string).collect();
    let mut flags: Vec<String> = Vec::new();
    for p in missing {
        let flag = format!("--grant {}", p.grant());
        if !flags.contains(&flag) {
            flags.push(flag);
        }
    }
    // A registry entry's profile can be replaced by the user's own; a RunConfig file's only granted.
    let own_profile = if requester.starts_with("registry entry") {
        ", or run it with your own --permission-profile"
    } else {
        ""
    };
    format!(
        "{requester} asks for privileges that were not granted: {}. Its permissions are a request: after \
         reviewing it, grant them with {}{own_profile}",
        what.join("; "),
        flags.join(" ")
    )
}

fn option_error(option: &str, message: impl Into<String>) -> ResolveError {
    ResolveError::InvalidOption {
        option: option.to_owned(),
        message: message.into(),
    }
}

enum Source<'a> {
    Oci(&'a Package),
    Remote(&'a Transport),
    Package(&'a Package, PackageScheme),
}

/// The npm or PyPI package an entry runs from (no OCI image and no remote: what `thv run` builds an image
/// of); `None` for an image or a remote.
pub fn package_of(server: &ServerJson) -> Result<Option<PackageSource>, ResolveError> {
    match choose_source(server)? {
        Source::Package(p, scheme) => package_source(&server.name, p, scheme).map(Some),
        Source::Oci(_) | Source::Remote(_) => Ok(None),
    }
}

fn package_source(
    server: &str,
    p: &Package,
    scheme: PackageScheme,
) -> Result<PackageSource, ResolveError> {
    let pkg = PackageSource {
        scheme,
        name: p.identifier.clone(),
        version: p.version.clone().filter(|v| !v.is_empty() && v != "latest"),
    };
    pkg.check().map_err(|e| ResolveError::Unsupported {
        server: server.to_owned(),
        reason: format!("its {} package: {e}", p.registry_type),
    })?;
    Ok(pkg)
}

fn choose_source<'a>(server: &'a ServerJson) -> Result<Source<'a>, ResolveError> {
    let packages = server.packages.as_deref().unwrap_or_default();
    let unsupported = |reason: String| ResolveError::Unsupported {
        server: server.name.clone(),
        reason,
    };
    let oci: Vec<&Package> = packages
        .iter()
        .filter(|p| p.registry_type == "oci")
        .collect();
    match oci.as_slice() {
        [one] => return Ok(Source::Oci(one)),
        [] => {}
        many => {
            return Err(unsupported(format!(
                "it has {} OCI packages ({}); exactly one is expected",
                many.len(),
                many.iter()
                    .map(|p| p.identifier.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    if let Some(remote) = server.remotes.as_deref().unwrap_or_default().first() {
        return Ok(Source::Remote(remote));
    }
    let scheme_of = |p: &Package| match p.registry_type.as_str() {
        "npm" => Some(PackageScheme::Npx),
        "pypi" => Some(PackageScheme::Uvx),
        _ => None,
    };
    let runnable: Vec<(&Package, PackageScheme)> = packages
        .iter()
        .filter_map(|p| scheme_of(p).map(|s| (p, s)))
        .collect();
    if let [(pkg, scheme)] = runnable.as_slice() {
        return Ok(Source::Package(pkg, *scheme));
    }
    let found: Vec<String> = packages
        .iter()
        .map(|p| format!("{} {}", p.registry_type, p.identifier))
        .collect();
    Err(unsupported(if found.is_empty() {
        "it has no packages and no remotes".to_owned()
    } else if runnable.len() > 1 {
        format!(
            "it has no OCI package and no remote, and several npm/pypi packages ({}); exactly one is expected",
            found.join(", ")
        )
    } else {
        format!(
            "it has no OCI package, no remote and no npm or pypi package (found: {})",
            found.join(", ")
        )
    }))
}

fn extension(server: &ServerJson, key: Option<&str>) -> Result<ServerExtensions, ResolveError> {
    let err = |e: toolhive::ExtensionError| ResolveError::Extension {
        server: server.name.clone(),
        message: e.to_string(),
    };
    if let Some(key) = key
        && let Some(ext) = toolhive::extensions_for(server, key).map_err(err)?
    {
        return Ok(ext);
    }
    Ok(toolhive::try_extensions(server)
        .map_err(err)?
        .map(|(_, e)| e)
        .unwrap_or_default())
}

fn parse_transport(server: &ServerJson, t: &str) -> Result<TransportType, ResolveError> {
    t.parse().map_err(
        |e: super::types::UnknownTransport| ResolveError::Unsupported {
            server: server.name.clone(),
            reason: e.to_string(),
        },
    )
}

/// A literal value: `None` for empty strings and `{placeholder}` templates.
fn literal(v: Option<&String>) -> Option<String> {
    v.filter(|v| !v.is_empty() && !v.contains('{')).cloned()
}

fn env_from_input(kv: &KeyValueInput) -> EnvVar {
    let i = &kv.input;
    EnvVar {
        name: kv.name.clone(),
        description: i.description.clone(),
        required: i.is_required,
        default: literal(i.default.as_ref()).or_else(|| literal(i.value.as_ref())),
        secret: i.is_secret,
        extra: Default::default(),
    }
}

/// `-e KEY=value` / `--env KEY={var}` runtime arguments declare env vars too.
fn env_from_runtime_args(args: &[Argument]) -> Vec<EnvVar> {
    args.iter()
        .filter(|a| {
            a.argument_type == Argument::NAMED && matches!(a.name.as_deref(), Some("-e" | "--env"))
        })
        .filter_map(|a| {
            let (name, value) = a.input.value.as_deref()?.split_once('=')?;
            let var_name = value.strip_prefix('{').and_then(|v| v.strip_suffix('}'));
            let def = var_name.and_then(|v| a.input.variables.as_ref()?.get(v));
            let flag = |k: &str| def.and_then(|d| d.get(k)).and_then(Value::as_bool);
            Some(EnvVar {
                name: name.to_owned(),
                description: a.input.description.clone(),
                required: a.input.is_required.or(flag("isRequired")),
                default: match def {
                    Some(d) => d
                        .get("default")
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                    None if var_name.is_none() && !value.is_empty() => Some(value.to_owned()),
                    None => None,
                },
                secret: flag("isSecret"),
                extra: Default::default(),
            })
        })
        .collect()
}

fn declared_env(pkg: Option<&Package>, ext: &ServerExtensions) -> Vec<EnvVar> {
    let mut vars: Vec<EnvVar> = Vec::new();
    let mut put = |v: EnvVar| match vars.iter_mut().find(|x| x.name == v.name) {
        Some(slot) => *slot = v,
        None => vars.push(v),
    };
    if let Some(pkg) = pkg {
        pkg.environment_variables
            .iter()
            .flatten()
            .map(env_from_input)
            .for_each(&mut put);
        env_from_runtime_args(pkg.runtime_arguments.as_deref().unwrap_or_default())
            .into_iter()
            .for_each(&mut put);
    }
    ext.env_vars.iter().flatten().cloned().for_each(&mut put);
    vars
}

/// The package's arguments: named ones as `name value`, positional ones as their value (or default).
fn package_args(server: &ServerJson, pkg: &Package) -> Result<Vec<String>, ResolveError> {
    let mut out = Vec::new();
    for arg in pkg.package_arguments.iter().flatten() {
        let value =
            literal(arg.input.value.as_ref()).or_else(|| literal(arg.input.default.as_ref()));
        let named = arg.name.as_ref().filter(|n| !n.is_empty());
        if arg.argument_type == Argument::NAMED
            && let Some(n) = named
        {
            if value.is_none() && arg.input.required() {
                return Err(ResolveError::MissingArgument {
                    server: server.name.clone(),
                    argument: n.clone(),
                });
            }
            if value.is_some() || (!arg.input.required() && arg.value_hint.is_none()) {
                out.push(n.clone());
            }
        }
        match value {
            Some(v) => out.push(v),
            None if arg.argument_type != Argument::NAMED && arg.input.required() => {
                return Err(ResolveError::MissingArgument {
                    server: server.name.clone(),
                    argument: arg
                        .value_hint
                        .clone()
                        .unwrap_or_else(|| "(positional)".to_owned()),
                });
            }
            None => {}
        }
    }
    Ok(out)
}

/// Refuses the `requested` privileges of a profile the user did not write (from `requester`, e.g.
/// `registry entry 'NAME'`) that no grant covers; a grant that covers nothing requested is ignored with a
/// warning.
pub fn check_grants(
    requester: &str,
    requested: &[Privilege],
    grants: &[Grant],
    warnings: &mut Vec<ResolveWarning>,
) -> Result<(), ResolveError> {
    let missing: Vec<Privilege> = requested
        .iter()
        .filter(|want| !grants.iter().any(|g| g.covers(want)))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(ResolveError::PrivilegesNotGranted {
            requester: requester.to_owned(),
            missing,
        });
    }
    for g in grants {
        if !requested.iter().any(|want| g.covers(want)) {
            warnings.push(ResolveWarning::OptionIgnored {
                option: format!("--grant {g}"),
                reason: format!("{requester} does not ask for it"),
            });
        }
    }
    Ok(())
}
