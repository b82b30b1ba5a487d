//! ToolHive's publisher-provided extension metadata, typed.
//!
//! In the upstream registry format ToolHive keeps what server.json cannot say (tier, status, tool names,
//! popularity, the container's permission profile, image provenance, OAuth settings of a remote, ...) in
//!
//! ```text
//! _meta["io.modelcontextprotocol.registry/publisher-provided"]["io.github.stacklok"][<key>]
//! ```
//!
//! where `<key>` is the OCI image reference of a container server (`ghcr.io/github/github-mcp-server:v0.30.3`)
//! or the URL of a remote server (`https://api.githubcopilot.com/mcp`). The value is a [`ServerExtensions`].
//!
//! Field names are ToolHive's (snake_case, as `toolhive-core` writes them). Every field is optional and every
//! struct keeps the fields it does not know in `extra`, so an extension parses and serializes back to the same
//! JSON value. The types here ([`PermissionProfile`], [`EnvVar`], [`Provenance`], [`OAuthConfig`]) are the one
//! definition of these concepts in the project: the legacy registry format and the runner use them too.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::server::{PUBLISHER_PROVIDED_META, ServerJson};

/// ToolHive's publisher namespace inside `_meta["io.modelcontextprotocol.registry/publisher-provided"]`.
pub const STACKLOK_NAMESPACE: &str = "io.github.stacklok";

/// ToolHive's metadata about one server (`server_extensions` in ToolHive's `publisher-provided.schema.json`).
///
/// Shared by both kinds of server: `status`, `tier`, `tools`, `tags`, `overview`, `tool_definitions`,
/// `metadata`, `custom_metadata`, `proxy_port`, `stateless`. Container servers also use `permissions`, `args`,
/// `provenance`, `docker_tags` (and `target_port` when the package transport URL cannot carry it); remote
/// servers use `oauth_config` and `env_vars` (client-side variables).
///
/// Field order follows ToolHive's Go type, so serialized extensions read the way ToolHive writes them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerExtensions {
    /// `Active` or `Deprecated` (ToolHive also accepts the lowercase forms). The only field ToolHive's schema
    /// requires; kept optional here so that an extension without it round-trips unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `Official` or `Community`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// Names of the tools the server provides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    /// Labels for search and filtering (`^[a-z0-9][a-z0-9_-]*[a-z0-9]$`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Longer Markdown description for catalog pages (the upstream description is limited to 100 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overview: Option<String>,
    /// Popularity and activity metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// Free-form publisher metadata (author, homepage, license, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_metadata: Option<Map<String, Value>>,
    /// Container servers: the security profile the container runs with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<PermissionProfile>,
    /// Container servers: default command-line arguments, used only when the user gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    /// Container servers: how the image was built and signed (verified before it runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// Container servers: the image's available tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_tags: Option<Vec<String>>,
    /// Host port the ToolHive proxy listens on (random when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_port: Option<u16>,
    /// Container servers: the port the server listens on inside the container. Normally carried by the port of
    /// the OCI package's transport URL (`http://localhost:<port>`); present here only when that URL cannot carry
    /// it (a `stdio` transport that still declares a port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<u16>,
    /// The server supports only POST (no SSE stream, no GET).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stateless: Option<bool>,
    /// Remote servers: how the proxy authenticates to the remote server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth_config: Option<OAuthConfig>,
    /// Remote servers: client-side environment variables (container servers declare theirs in the package).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_vars: Option<Vec<EnvVar>>,
    /// Full MCP `Tool` objects (name, description, inputSchema, annotations), kept as raw JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_definitions: Option<Vec<Value>>,
    /// Fields this type does not know. The legacy converter also keeps here the legacy fields that the upstream
    /// document cannot carry exactly (see [`crate::legacy`]).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ServerExtensions {
    /// True when `status` says the server is deprecated (either case).
    pub fn is_deprecated(&self) -> bool {
        self.status
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("deprecated"))
    }
}

/// Popularity and activity metrics of a server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// Repository stars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stars: Option<u64>,
    /// Image pulls. Deprecated: ToolHive removed it from its Go type in 2026-02, but older files carry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pulls: Option<u64>,
    /// When the metrics were last refreshed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    /// Set by the ToolHive Registry Server for servers discovered in a Kubernetes cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubernetesMetadata>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The Kubernetes resource a server was discovered from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KubernetesMetadata {
    /// `MCPServer`, `VirtualMCPServer` or `MCPRemoteProxy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A container's permission profile (`permissions.Profile` in toolhive-core): which host paths it may mount,
/// where it may connect, and whether it runs privileged.
///
/// Absent fields mean "nothing allowed" (no mounts, no network unless `network` says so, not privileged); the
/// accessor methods apply these defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PermissionProfile {
    /// Profile name (`none` and `network` are ToolHive's built-in profiles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Read-only mounts: `path`, `host-path:container-path` or `scheme://resource:container-path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<Vec<String>>,
    /// Read-write mounts, in the same forms as `read`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write: Option<Vec<String>>,
    /// Network permissions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkPermissions>,
    /// Run the container privileged (all devices and capabilities). Use with extreme caution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl PermissionProfile {
    /// ToolHive's built-in `none` profile: no mounts, no network.
    pub fn none() -> Self {
        Self::builtin("none", false)
    }

    /// ToolHive's built-in `network` profile: no mounts, any outbound connection.
    pub fn network() -> Self {
        Self::builtin("network", true)
    }

    fn builtin(name: &str, allow_all: bool) -> Self {
        Self {
            name: Some(name.into()),
            read: Some(Vec::new()),
            write: Some(Vec::new()),
            network: Some(NetworkPermissions {
                mode: None,
                outbound: Some(OutboundNetworkPermissions {
                    insecure_allow_all: Some(allow_all),
                    allow_host: Some(Vec::new()),
                    allow_port: Some(Vec::new()),
                    extra: Map::new(),
                }),
                inbound: Some(InboundNetworkPermissions {
                    allow_host: Some(Vec::new()),
                    extra: Map::new(),
                }),
                extra: Map::new(),
            }),
            privileged: Some(false),
            extra: Map::new(),
        }
    }

    /// The read-only mount declarations.
    pub fn read_mounts(&self) -> &[String] {
        self.read.as_deref().unwrap_or_default()
    }

    /// The read-write mount declarations.
    pub fn write_mounts(&self) -> &[String] {
        self.write.as_deref().unwrap_or_default()
    }

    /// Whether the container runs privileged.
    pub fn is_privileged(&self) -> bool {
        self.privileged.unwrap_or(false)
    }

    /// The outbound rules, if any.
    pub fn outbound(&self) -> Option<&OutboundNetworkPermissions> {
        self.network.as_ref()?.outbound.as_ref()
    }

    /// Whether every outbound connection is allowed.
    pub fn allows_all_outbound(&self) -> bool {
        self.outbound()
            .is_some_and(OutboundNetworkPermissions::allows_all)
    }

    /// Allowed outbound hosts (`host` or `.domain` suffix).
    pub fn allowed_hosts(&self) -> &[String] {
        self.outbound()
            .map(OutboundNetworkPermissions::hosts)
            .unwrap_or_default()
    }

    /// Allowed outbound ports.
    pub fn allowed_ports(&self) -> &[u16] {
        self.outbound()
            .map(OutboundNetworkPermissions::ports)
            .unwrap_or_default()
    }
}

/// Network permissions of a container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkPermissions {
    /// Container network mode (`host`, `bridge`, `none`); the runtime's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound: Option<OutboundNetworkPermissions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound: Option<InboundNetworkPermissions>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Where a container may connect to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutboundNetworkPermissions {
    /// Allow every outbound connection (insecure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_allow_all: Option<bool>,
    /// Allowed hosts: a hostname, or `.example.com` for the domain and its subdomains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_host: Option<Vec<String>>,
    /// Allowed destination ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_port: Option<Vec<u16>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl OutboundNetworkPermissions {
    pub fn allows_all(&self) -> bool {
        self.insecure_allow_all.unwrap_or(false)
    }
    pub fn hosts(&self) -> &[String] {
        self.allow_host.as_deref().unwrap_or_default()
    }
    pub fn ports(&self) -> &[u16] {
        self.allow_port.as_deref().unwrap_or_default()
    }
}

/// Who may connect to a container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InboundNetworkPermissions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_host: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Supply-chain provenance of an image: what its Sigstore signature must say for it to be trusted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// Sigstore TUF repository host (`tuf-repo-cdn.sigstore.dev`, or `tuf-repo.github.com` for GitHub's
    /// private-repository Sigstore).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigstore_url: Option<String>,
    /// Source repository the image must have been built from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_uri: Option<String>,
    /// Git ref the image must have been built from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_ref: Option<String>,
    /// Signer identity, e.g. the workflow path `/.github/workflows/release.yml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer_identity: Option<String>,
    /// Build environment (`github-hosted`, `self-hosted`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_environment: Option<String>,
    /// OIDC issuer of the signing certificate (`https://token.actions.githubusercontent.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_issuer: Option<String>,
    /// A verified attestation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<VerifiedAttestation>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An attestation found when the image was verified.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VerifiedAttestation {
    /// Predicate type URI (`https://slsa.dev/provenance/v1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicate_type: Option<String>,
    /// The predicate itself, as raw JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicate: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// OAuth/OIDC settings the proxy uses to authenticate to a remote server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OAuthConfig {
    /// OIDC issuer; endpoints are discovered from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Authorization endpoint (plain OAuth, no issuer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorize_url: Option<String>,
    /// Token endpoint (plain OAuth, no issuer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Scopes to request (ToolHive defaults to `openid profile email` for OIDC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Use PKCE; see [`OAuthConfig::uses_pkce`] for the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_pkce: Option<bool>,
    /// Extra authorization-request parameters (`prompt`, `response_mode`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth_params: Option<BTreeMap<String, String>>,
    /// Fixed local port for the OAuth callback (random when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_port: Option<u16>,
    /// RFC 8707 resource indicator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl OAuthConfig {
    /// Whether to use PKCE: `use_pkce`, defaulting to true as ToolHive's schema says.
    pub fn uses_pkce(&self) -> bool {
        self.use_pkce.unwrap_or(true)
    }
}

/// An environment variable a server (or, for a remote, its client configuration) accepts.
///
/// In server.json the same thing is a package's `environmentVariables[]` entry: `required` ↔ `isRequired`,
/// `secret` ↔ `isSecret`, the other fields keep their names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnvVar {
    /// Variable name (`^[A-Za-z_][A-Za-z0-9_]*$`).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The user must provide a value (ToolHive prompts for it when it is not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// Value used when none is given (for optional variables).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// The value is sensitive and is stored as a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl EnvVar {
    pub fn is_required(&self) -> bool {
        self.required.unwrap_or(false)
    }
    pub fn is_secret(&self) -> bool {
        self.secret.unwrap_or(false)
    }
}

/// The raw `_meta["io.modelcontextprotocol.registry/publisher-provided"]["io.github.stacklok"]` object.
pub fn stacklok_namespace(server: &ServerJson) -> Option<&Map<String, Value>> {
    server
        .publisher_provided()?
        .get(STACKLOK_NAMESPACE)?
        .as_object()
}

/// The first ToolHive extension entry of a server: its key (image reference or URL) and its value. `None` when
/// the server has none, or when the first object entry does not have the shape of [`ServerExtensions`] (as
/// ToolHive, which ignores malformed extensions); use [`try_extensions`] to see that error.
pub fn extensions(server: &ServerJson) -> Option<(String, ServerExtensions)> {
    try_extensions(server).ok().flatten()
}

/// Like [`extensions`], but a malformed extension is an error (naming the key and the problem) instead of
/// `None`.
pub fn try_extensions(
    server: &ServerJson,
) -> Result<Option<(String, ServerExtensions)>, ExtensionError> {
    let Some(ns) = stacklok_namespace(server) else {
        return Ok(None);
    };
    let Some((key, value)) = ns.iter().find(|(_, v)| v.is_object()) else {
        return Ok(None);
    };
    extension_from_value(key, value).map(|ext| Some((key.clone(), ext)))
}

/// The ToolHive extension stored under `key` (an image reference or a URL), if present.
pub fn extensions_for(
    server: &ServerJson,
    key: &str,
) -> Result<Option<ServerExtensions>, ExtensionError> {
    match stacklok_namespace(server).and_then(|ns| ns.get(key)) {
        Some(value) => extension_from_value(key, value).map(Some),
        None => Ok(None),
    }
}

/// A ToolHive extension that is not in its format.
#[derive(Debug, thiserror::Error)]
#[error("extension '{key}': {source}")]
pub struct ExtensionError {
    /// Its key in the `io.github.stacklok` namespace.
    pub key: String,
    #[source]
    pub source: serde_json::Error,
}

fn extension_from_value(key: &str, value: &Value) -> Result<ServerExtensions, ExtensionError> {
    ServerExtensions::deserialize(value).map_err(|source| ExtensionError {
        key: key.to_owned(),
        source,
    })
}

/// Stores `ext` as the server's ToolHive extension under `key` (the image reference of a container server, the
/// URL of a remote server). The `io.github.stacklok` namespace is replaced, so the server ends up with exactly
/// this one entry; other publishers' namespaces and other `_meta` keys are kept. `_meta` and its
/// publisher-provided object are created when missing (a publisher-provided value that is not an object is
/// replaced).
pub fn set_extensions(server: &mut ServerJson, key: &str, ext: &ServerExtensions) {
    let meta = server.meta.get_or_insert_with(Map::new);
    let provided = meta
        .entry(PUBLISHER_PROVIDED_META)
        .or_insert_with(|| Value::Object(Map::new()));
    if !provided.is_object() {
        *provided = Value::Object(Map::new());
    }
    if let Value::Object(provided) = provided {
        let mut ns = Map::new();
        ns.insert(key.to_owned(), Value::Object(to_object(ext)));
        provided.insert(STACKLOK_NAMESPACE.to_owned(), Value::Object(ns));
    }
}

/// Serializes a value that always serializes to a JSON object (every type of this module and of
/// [`crate::legacy`]: string keys only, no non-finite numbers). Anything else yields an empty object.
pub(crate) fn to_object<T: Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn server() -> ServerJson {
        serde_json::from_value(
            json!({"name": "io.github.stacklok/x", "description": "d", "version": "1.0.0"}),
        )
        .unwrap()
    }

    #[test]
    fn extensions_round_trip_losslessly() {
        let doc = json!({
            "status": "Active", "tier": "Official", "tools": ["a"], "tags": ["t"],
            "metadata": {"stars": 3, "pulls": 7, "last_updated": "2026-01-01T00:00:00Z", "future": 1},
            "permissions": {"network": {"outbound": {"insecure_allow_all": false, "allow_host": [".x.com"], "allow_port": [443]}},
                            "read": ["/a"], "privileged": false},
            "provenance": {"sigstore_url": "tuf-repo-cdn.sigstore.dev", "attestation": {"predicate_type": "p", "predicate": {"k": [1]}}},
            "oauth_config": {"issuer": "https://i", "use_pkce": false, "oauth_params": {"prompt": "consent"}, "callback_port": 8666},
            "env_vars": [{"name": "A", "description": "d", "required": false, "x": true}],
            "proxy_port": 9000, "stateless": true, "unknown": {"kept": true}
        });
        let ext: ServerExtensions = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(serde_json::to_value(&ext).unwrap(), doc);
        assert!(!ext.oauth_config.as_ref().unwrap().uses_pkce());
        let p = ext.permissions.as_ref().unwrap();
        assert_eq!(p.allowed_hosts(), [".x.com"]);
        assert_eq!(p.allowed_ports(), [443]);
        assert!(!p.allows_all_outbound() && !p.is_privileged());
        assert_eq!(p.read_mounts(), ["/a"]);
    }

    #[test]
    fn set_then_get() {
        let mut s = server();
        assert!(extensions(&s).is_none());
        let ext = ServerExtensions {
            status: Some("Deprecated".into()),
            ..Default::default()
        };
        set_extensions(&mut s, "ghcr.io/a/b:1", &ext);
        set_extensions(&mut s, "ghcr.io/a/b:2", &ext);
        let (key, got) = extensions(&s).unwrap();
        assert_eq!(key, "ghcr.io/a/b:2");
        assert!(got.is_deprecated());
        assert_eq!(stacklok_namespace(&s).unwrap().len(), 1);
        assert_eq!(extensions_for(&s, "ghcr.io/a/b:2").unwrap(), Some(ext));
    }

    #[test]
    fn malformed_extension_is_none_or_error() {
        let mut s = server();
        s.meta = Some(
            serde_json::from_value(
                json!({PUBLISHER_PROVIDED_META: {STACKLOK_NAMESPACE: {"k": {"tools": "x"}}}}),
            )
            .unwrap(),
        );
        assert!(extensions(&s).is_none());
        let err = try_extensions(&s).unwrap_err();
        assert!(err.to_string().contains("extension 'k'"), "{err}");
    }

    #[test]
    fn builtin_profiles() {
        assert!(PermissionProfile::network().allows_all_outbound());
        assert!(!PermissionProfile::none().allows_all_outbound());
        assert_eq!(
            PermissionProfile::default().allowed_hosts(),
            [] as [String; 0]
        );
    }
}
