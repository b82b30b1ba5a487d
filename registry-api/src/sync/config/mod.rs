//! The `sources` and `registries` sections of the configuration file, checked once at startup.
//!
//! ```toml
//! [[sources]]
//! name = "official"
//! api = { endpoint = "https://registry.modelcontextprotocol.io", timeout = "30s" }
//! sync_policy = { interval = "1h", full_interval = "24h" }
//! filter = { names = { include = ["io.github.*"], exclude = ["*/deprecated-*"] }, tags = { exclude = ["experimental"] } }
//!
//! [[sources]]
//! name = "internal"
//! git = { repository = "https://git.example.com/catalog.git", branch = "main", path = "registry.json" }
//!
//! [[sources]]
//! name = "local"
//! file = { path = "/data/registry.json" }        # or { url = "https://..." }
//!
//! [[sources]]
//! name = "cluster"
//! kubernetes = { namespaces = ["team-a"] }        # ToolHive's MCPServer & co. annotated for export; watched
//!
//! [[sources]]
//! name = "mirror"
//! api = { endpoint = "http://registry.internal:8080" }
//! allow_private_addresses = true                 # may reach loopback, RFC 1918, link-local, ... addresses
//!
//! [[registries]]
//! name = "production"
//! sources = ["managed", "official", "internal"]  # precedence order: the first source holding a name wins
//! ```
//! `managed` is the built-in source of what is published through this API. `default_registry` names the registry
//! served at `/v0.1` (default: `managed` alone). YAML configuration files take the same keys; `syncPolicy`,
//! `fullInterval`, `passwordFile`, `caCert` (as in toolhive-registry-server) and `allowPrivateAddresses` are
//! accepted too.
//!
//! `allow_private_addresses` applies to the HTTP requests of `api` and `file.url` sources, which otherwise reach
//! only public addresses ([`super::http`]); git sources and local files are not address-checked, and setting it
//! on them is an error.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;
use thv_core::signature::{PolicyConfig, SignaturePolicy};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thv_core::filter::{FilterSpec, ServerFilter};

use crate::store::{MANAGED_SOURCE, Scope};

pub mod kubernetes;
pub use kubernetes::{ConfigMapSourceConfig, KubernetesSourceConfig};

/// Default time between syncs.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);
/// Default time between full syncs of an API source (incremental ones run in between).
pub const DEFAULT_FULL_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// Default HTTP and git timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiSourceConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileSourceConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitSourceConfig>,
    /// A registry file in a key of a Kubernetes ConfigMap (as ToolHive's MCPRegistry `configMapRef`).
    #[serde(
        default,
        alias = "configMap",
        alias = "configMapRef",
        skip_serializing_if = "Option::is_none"
    )]
    pub configmap: Option<ConfigMapSourceConfig>,
    /// `managed: {}`: this source is the built-in one of entries published to this API, under this name (as
    /// toolhive-registry-server declares it); the name may then stand for it in `registries`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedSourceConfig>,
    /// `kubernetes: {namespaces: [...]}`: ToolHive's MCPServer, VirtualMCPServer and MCPRemoteProxy resources
    /// annotated for export, served as entries and watched (see [`kubernetes`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubernetesSourceConfig>,
    #[serde(default, alias = "syncPolicy", skip_serializing)]
    pub sync_policy: SyncPolicyConfig,
    #[serde(default, skip_serializing_if = "FilterSpec::is_empty")]
    pub filter: FilterSpec,
    /// Entries failing an enforcing policy are skipped (and reported); a warning policy logs them.
    #[serde(
        default,
        alias = "signaturePolicy",
        skip_serializing_if = "PolicyConfig::is_empty"
    )]
    pub signature_policy: PolicyConfig,
    /// Whether the source's HTTP requests may reach addresses that are not public (loopback, private,
    /// link-local, ...). Off by default.
    #[serde(default, alias = "allowPrivateAddresses", skip_serializing)]
    pub allow_private_addresses: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSourceConfig {
    /// Base URL of an upstream-compatible registry API (`/v0.1/servers` is appended).
    pub endpoint: String,
    #[serde(default, skip_serializing)]
    pub timeout: Option<String>,
    /// PEM bundle of extra trusted CAs (corporate proxies, internal registries).
    #[serde(default, alias = "caCert", skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing)]
    pub timeout: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitSourceConfig {
    pub repository: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The registry file inside the repository.
    #[serde(default = "default_git_path")]
    pub path: String,
    #[serde(default, skip_serializing)]
    pub auth: Option<GitAuthConfig>,
    #[serde(default, skip_serializing)]
    pub timeout: Option<String>,
}

/// See [`SourceConfig::managed`]: nothing to set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagedSourceConfig {}

pub(super) fn default_git_path() -> String {
    "registry.json".into()
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitAuthConfig {
    pub username: String,
    /// A file holding the password or token (never the secret itself in the configuration).
    #[serde(alias = "passwordFile")]
    pub password_file: PathBuf,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncPolicyConfig {
    #[serde(default)]
    pub interval: Option<String>,
    #[serde(default, alias = "fullInterval")]
    pub full_interval: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    pub name: String,
    pub sources: Vec<String>,
}

/// Where a source's data comes from, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    Api {
        endpoint: String,
        ca_cert: Option<PathBuf>,
    },
    File(FileLocation),
    Git {
        repository: String,
        reference: GitRef,
        path: String,
        auth: Option<GitAuthConfig>,
    },
    ConfigMap {
        namespace: Option<String>,
        name: String,
        key: String,
    },
    /// The namespaces watched; empty: every namespace.
    Kubernetes {
        namespaces: Vec<String>,
    },
}

impl SourceKind {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Api { .. } => "api",
            Self::File(_) => "file",
            Self::Git { .. } => "git",
            Self::ConfigMap { .. } => "configmap",
            Self::Kubernetes { .. } => "kubernetes",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileLocation {
    Path(PathBuf),
    Url(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitRef {
    /// The remote's default branch.
    Head,
    Branch(String),
    Tag(String),
    Commit(String),
}

/// A configured source, checked.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub kind: SourceKind,
    pub interval: Duration,
    pub full_interval: Duration,
    pub timeout: Duration,
    pub filter: ServerFilter,
    /// SHA-256 of the settings that decide the source's content (location, filter, signature policy): when it
    /// changes, the next sync is a full one.
    pub settings_hash: String,
    /// Checked on every incoming entry.
    pub signatures: SignaturePolicy,
    /// Whether its HTTP requests may reach addresses that are not public.
    pub allow_private_addresses: bool,
}

/// The named registries and the one served at `/v0.1`.
#[derive(Debug, Clone, Default)]
pub struct Registries {
    default: Scope,
    default_name: Option<String>,
    named: BTreeMap<String, Scope>,
}

impl Registries {
    pub fn default_scope(&self) -> &Scope {
        &self.default
    }

    /// The configured registry named so, if any.
    pub fn default_name(&self) -> Option<&str> {
        self.default_name.as_deref()
    }

    pub fn scope(&self, name: &str) -> Option<&Scope> {
        self.named.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Scope)> {
        self.named.iter()
    }
}

/// Checks the sections, reporting every problem (each naming its field) into `errors`.
pub fn check(
    sources: &[SourceConfig],
    registries: &[RegistryConfig],
    default_registry: Option<&str>,
    errors: &mut Vec<String>,
) -> (Vec<Source>, Registries) {
    let mut checked = Vec::new();
    let mut names = HashSet::new();
    // The name a `managed: {}` source gives the built-in source.
    let mut managed_alias: Option<&str> = None;
    for (i, s) in sources.iter().enumerate() {
        let field = format!("sources[{i}]");
        if s.managed.is_some() {
            managed_source(s, &field, &mut names, &mut managed_alias, errors);
            continue;
        }
        if let Some(e) = name_error(&s.name) {
            errors.push(format!("{field}.name: {e}"));
        } else if s.name == MANAGED_SOURCE {
            errors.push(format!(
                "{field}.name: '{MANAGED_SOURCE}' is the built-in source of published entries"
            ));
        } else if !names.insert(s.name.clone()) {
            errors.push(format!("{field}.name: '{}' is declared twice", s.name));
        }
        if let Some(source) = check_source(s, &field, errors) {
            checked.push(source);
        }
    }
    let mut named = BTreeMap::new();
    for (i, r) in registries.iter().enumerate() {
        let field = format!("registries[{i}]");
        if let Some(e) = name_error(&r.name) {
            errors.push(format!("{field}.name: {e}"));
        } else if named.contains_key(&r.name) {
            errors.push(format!("{field}.name: '{}' is declared twice", r.name));
        }
        let mut seen = HashSet::new();
        let mut scope_sources = Vec::new();
        for (j, s) in r.sources.iter().enumerate() {
            let source = if managed_alias == Some(s.as_str()) {
                MANAGED_SOURCE
            } else {
                s.as_str()
            };
            if source != MANAGED_SOURCE && !names.contains(s) {
                errors.push(format!(
                    "{field}.sources[{j}]: no source is named '{s}' (declared: {})",
                    declared(&names)
                ));
            } else if !seen.insert(source) {
                errors.push(format!("{field}.sources[{j}]: '{s}' is listed twice"));
            }
            scope_sources.push(source.to_owned());
        }
        match Scope::new(scope_sources) {
            Some(scope) => {
                named.insert(r.name.clone(), scope);
            }
            None => errors.push(format!("{field}.sources: must list at least one source")),
        }
    }
    let default = match default_registry {
        None => Scope::managed(),
        Some(name) => match named.get(name) {
            Some(scope) => scope.clone(),
            None => {
                errors.push(format!(
                    "default_registry: no registry is named '{name}' (declared: {})",
                    declared(&named.keys().cloned().collect())
                ));
                Scope::managed()
            }
        },
    };
    (
        checked,
        Registries {
            default,
            default_name: default_registry.map(str::to_string),
            named,
        },
    )
}

/// A `managed: {}` source: a name for the built-in source, declared once, with nothing else.
fn managed_source<'a>(
    s: &'a SourceConfig,
    field: &str,
    names: &mut HashSet<String>,
    alias: &mut Option<&'a str>,
    errors: &mut Vec<String>,
) {
    let others = declared_kinds(s);
    if others > 0 {
        errors.push(format!("{field}: {ONE_KIND} (found {})", others + 1));
    }
    if let Some(e) = name_error(&s.name) {
        errors.push(format!("{field}.name: {e}"));
    } else if !names.insert(s.name.clone()) {
        errors.push(format!("{field}.name: '{}' is declared twice", s.name));
    }
    match alias {
        Some(first) => errors.push(format!(
            "{field}: a second managed source ('{}'; '{first}' is the first): there is one source of published entries",
            s.name
        )),
        None => *alias = Some(&s.name),
    }
}

const ONE_KIND: &str = "declare exactly one of api, file, git, configmap, kubernetes or managed";

/// How many of the kinds other than `managed` a source declares.
fn declared_kinds(s: &SourceConfig) -> usize {
    [
        s.api.is_some(),
        s.file.is_some(),
        s.git.is_some(),
        s.configmap.is_some(),
        s.kubernetes.is_some(),
    ]
    .iter()
    .filter(|d| **d)
    .count()
}

fn declared(names: &HashSet<String>) -> String {
    let mut v: Vec<&str> = names.iter().map(String::as_str).collect();
    v.sort_unstable();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// Source and registry names appear in URL paths: letters, digits, `.`, `_` and `-`, 1 to 64 characters.
fn name_error(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.len() > 64 {
        Some("must be 1 to 64 characters")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        Some("may contain only letters, digits, '.', '_' and '-'")
    } else {
        None
    }
}

fn duration(
    value: Option<&str>,
    default: Duration,
    field: &str,
    errors: &mut Vec<String>,
) -> Duration {
    match value {
        None => default,
        Some(text) => match humantime::parse_duration(text) {
            Ok(d) if d >= Duration::from_secs(1) => d,
            Ok(_) => {
                errors.push(format!("{field}: '{text}' is shorter than 1s"));
                default
            }
            Err(e) => {
                errors.push(format!(
                    "{field}: '{text}' is not a duration (e.g. 30s, 5m, 1h): {e}"
                ));
                default
            }
        },
    }
}

fn check_source(s: &SourceConfig, field: &str, errors: &mut Vec<String>) -> Option<Source> {
    let before = errors.len();
    let declared = declared_kinds(s);
    if declared != 1 {
        errors.push(format!("{field}: {ONE_KIND} (found {declared})"));
        return None;
    }
    let timeout_text;
    let kind = if let Some(api) = &s.api {
        timeout_text = api.timeout.as_deref();
        if let Err(e) = http_url(&api.endpoint) {
            errors.push(format!("{field}.api.endpoint: {e}"));
        } else if api.endpoint.contains(['?', '#']) {
            errors.push(format!(
                "{field}.api.endpoint: '{}' must not have a query or fragment (the API's paths are appended)",
                api.endpoint
            ));
        }
        // Read at each sync; checked here too, so that a bad file is said at start-up.
        if let Some(path) = &api.ca_cert
            && let Err(e) = thv_core::tls::read_ca_bundle(path)
        {
            errors.push(format!("{field}.api.ca_cert {}: {e}", path.display()));
        }
        SourceKind::Api {
            endpoint: api.endpoint.trim_end_matches('/').to_string(),
            ca_cert: api.ca_cert.clone(),
        }
    } else if let Some(file) = &s.file {
        timeout_text = file.timeout.as_deref();
        match (&file.path, &file.url) {
            (Some(path), None) => SourceKind::File(FileLocation::Path(path.clone())),
            (None, Some(url)) => {
                if let Err(e) = http_url(url) {
                    errors.push(format!("{field}.file.url: {e}"));
                }
                SourceKind::File(FileLocation::Url(url.clone()))
            }
            _ => {
                errors.push(format!("{field}.file: declare exactly one of path or url"));
                return None;
            }
        }
    } else if let Some(configmap) = &s.configmap {
        timeout_text = configmap.timeout.as_deref();
        kubernetes::configmap_source(configmap, field, errors)
    } else if let Some(k) = &s.kubernetes {
        timeout_text = k.timeout.as_deref();
        kubernetes::kubernetes_source(k, field, errors)
    } else {
        let git = s.git.as_ref()?;
        timeout_text = git.timeout.as_deref();
        git_source(git, field, errors)
    };
    if s.allow_private_addresses
        && matches!(
            kind,
            SourceKind::Git { .. }
                | SourceKind::File(FileLocation::Path(_))
                | SourceKind::ConfigMap { .. }
                | SourceKind::Kubernetes { .. }
        )
    {
        errors.push(format!(
            "{field}.allow_private_addresses: applies only to api and file.url sources (git, configmap and kubernetes sources and local files are not address-checked)"
        ));
    }
    // A kubernetes source is synced when its resources change; the schedule only catches what a watch missed.
    let default_interval = match kind {
        SourceKind::Kubernetes { .. } => kubernetes::DEFAULT_RESYNC,
        _ => DEFAULT_INTERVAL,
    };
    let interval = duration(
        s.sync_policy.interval.as_deref(),
        default_interval,
        &format!("{field}.sync_policy.interval"),
        errors,
    );
    let full_interval = duration(
        s.sync_policy.full_interval.as_deref(),
        DEFAULT_FULL_INTERVAL,
        &format!("{field}.sync_policy.full_interval"),
        errors,
    );
    let timeout = duration(
        timeout_text,
        DEFAULT_TIMEOUT,
        &format!("{field}.{}.timeout", kind.name()),
        errors,
    );
    let filter = match s.filter.compile(&format!("{field}.filter")) {
        Ok(f) => f,
        Err(glob_errors) => {
            errors.extend(glob_errors.iter().map(ToString::to_string));
            return None;
        }
    };
    let signatures = s.signature_policy.load().unwrap_or_else(|e| {
        errors.push(format!("{field}.signature_policy: {e}"));
        SignaturePolicy::default()
    });
    if errors.len() > before {
        return None;
    }
    let settings = serde_json::to_vec(s).unwrap_or_default();
    Some(Source {
        name: s.name.clone(),
        kind,
        interval,
        full_interval,
        timeout,
        filter,
        settings_hash: hex::encode(Sha256::digest(&settings)),
        signatures,
        allow_private_addresses: s.allow_private_addresses,
    })
}

/// The `git` section of a source: the repository (no credentials in it), one of branch, tag or commit, and a
/// relative path inside the repository.
fn git_source(git: &GitSourceConfig, field: &str, errors: &mut Vec<String>) -> SourceKind {
    if git.repository.trim().is_empty() || git.repository.starts_with('-') {
        errors.push(format!(
            "{field}.git.repository: must be a repository URL or path"
        ));
    } else if reqwest::Url::parse(&git.repository)
        .is_ok_and(|u| !u.username().is_empty() || u.password().is_some())
    {
        errors.push(format!(
            "{field}.git.repository: must not carry credentials (use git.auth with a password_file)"
        ));
    }
    let reference = match (&git.branch, &git.tag, &git.commit) {
        (None, None, None) => GitRef::Head,
        (Some(b), None, None) => GitRef::Branch(b.clone()),
        (None, Some(t), None) => GitRef::Tag(t.clone()),
        (None, None, Some(c)) => {
            if c.len() < 7 || !c.chars().all(|ch| ch.is_ascii_hexdigit()) {
                errors.push(format!(
                    "{field}.git.commit: '{c}' is not a commit id (7 to 40 hex digits)"
                ));
            }
            GitRef::Commit(c.clone())
        }
        _ => {
            errors.push(format!(
                "{field}.git: branch, tag and commit are mutually exclusive"
            ));
            GitRef::Head
        }
    };
    for (what, value) in [("branch", &git.branch), ("tag", &git.tag)] {
        if let Some(v) = value
            && (v.is_empty() || v.starts_with('-') || v.contains(char::is_whitespace))
        {
            errors.push(format!("{field}.git.{what}: '{v}' is not a valid ref name"));
        }
    }
    if git.path.is_empty() || git.path.starts_with('/') || git.path.split('/').any(|c| c == "..") {
        errors.push(format!(
            "{field}.git.path: '{}' must be a relative path inside the repository",
            git.path
        ));
    }
    SourceKind::Git {
        repository: git.repository.clone(),
        reference,
        path: git.path.clone(),
        auth: git.auth.clone(),
    }
}

/// Why a source's URL is refused.
#[derive(Debug, thiserror::Error)]
enum UrlRule {
    #[error("'{text}' is not a URL: {error}")]
    NotAUrl {
        text: String,
        error: url::ParseError,
    },
    #[error("'{0}' must be an http or https URL")]
    NotHttp(String),
    #[error("must not carry credentials")]
    Credentials,
}

fn http_url(text: &str) -> Result<(), UrlRule> {
    let url = reqwest::Url::parse(text).map_err(|error| UrlRule::NotAUrl {
        text: text.to_owned(),
        error,
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlRule::NotHttp(text.to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRule::Credentials);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
