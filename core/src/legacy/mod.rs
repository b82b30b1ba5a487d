//! ToolHive's legacy registry format (`toolhive-legacy-registry.schema.json`), and its lossless conversion to
//! and from the upstream format (server.json documents with ToolHive's extension, see [`crate::toolhive`]).
//!
//! # The legacy format
//!
//! `{"$schema", "version", "last_updated", "servers": {<key>: ImageMetadata}, "remote_servers": {<key>:
//! RemoteServerMetadata}, "groups": [...]}`. Every field is optional in the Rust types and every struct keeps the
//! fields it does not know in `extra`, so a legacy file parses and serializes back to the same JSON value.
//!
//! # Legacy → upstream ([`legacy_to_upstream`], [`image_to_server`], [`remote_to_server`])
//!
//! Follows ToolHive's converter (toolhive-core `registry/converters`), made lossless:
//!
//! | legacy | upstream server.json |
//! |---|---|
//! | map key `k` | `name` = `io.github.stacklok/k` (a legacy `name` containing `/` and ending in `/k` is used as is) |
//! | — | `$schema` = [`CURRENT_SCHEMA_URL`] |
//! | `description` | `description` (longer than 100 characters: shortened at a word boundary with `…`) |
//! | `title` | `title` (blank: omitted; longer than 100 characters: shortened) |
//! | `repository_url` | `repository` {`url`, `source`: `github` for github.com, see [`repository_source`]} |
//! | `image` tag | `version`: the tag when it is a specific version ([`version_error`] accepts it: not `latest`, not a range), else `1.0.0` (see [`version_from_image`]) |
//! | `image`, `transport` | `packages[0]` {`registryType: "oci"`, `identifier`: image, `transport.type`} |
//! | `target_port` | `packages[0].transport.url` = `http://localhost:<target_port>` for `streamable-http`/`sse` (`http://localhost` without a port), as ToolHive writes it; no path |
//! | `env_vars` | `packages[0].environmentVariables` (`required`→`isRequired`, `secret`→`isSecret`, `default`, `description`) |
//! | `args` | `packages[0].packageArguments`: one positional argument with a fixed `value` per arg (and also kept in the extension, as ToolHive does) |
//! | remote `url`, `transport`, `headers` | `remotes[0]` {`type`, `url`, `headers` (as for env vars, plus `choices`)} |
//! | everything else | the ToolHive extension, keyed by the image (container) or the URL (remote): `status`, `tier`, `tools`, `tags`, `metadata`, `custom_metadata`, `overview`, `tool_definitions`, `permissions`, `provenance`, `args`, `docker_tags`, `proxy_port`, `stateless`, a remote's `oauth_config` and `env_vars`, and unknown fields |
//!
//! Whatever the upstream document cannot carry exactly is kept in the extension under its legacy field name,
//! where it overrides the value derived from the document on the way back: a description or title that had to
//! be shortened, a `target_port` on a `stdio` server, a `repository_url` that is not an http(s) URL, a legacy
//! `name`, and `null` for a legacy field that was absent but that the document implies (a missing
//! `transport`). Each conversion is checked by converting back: the result must equal the input as a JSON
//! value, or the conversion fails with [`ConvertError::NotLossless`]. The real ToolHive catalog needs none of
//! these overrides.
//!
//! # Upstream → legacy ([`upstream_to_legacy`], [`server_to_legacy`])
//!
//! A server with an OCI package becomes a container server (ToolHive's rules: exactly one OCI package; its
//! transport URL's port is `target_port`; `environmentVariables` plus `-e`/`--env` runtime arguments become
//! `env_vars`; `packageArguments` flattened become `args`, before the extension's `args`); a server with remotes
//! and no OCI package (or whose extension is keyed by one of its remote URLs) becomes a remote server
//! (`remotes[0]`, or the remote whose URL keys the extension). The extension's fields are then laid over the
//! derived ones. The key is the part of the name after the `/`; a name outside `io.github.stacklok` is kept in
//! the entry's `name`. What the legacy format cannot say (icons, `websiteUrl`, `version`, other packages and
//! remotes, skills and plugins) is dropped; servers without an OCI package or a remote (npm- or pypi-only) are
//! an error, as in ToolHive.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::server::{
    Argument, CURRENT_SCHEMA_URL, Input, KeyValueInput, Package, Repository, ServerJson, Transport,
};
use crate::toolhive::{
    self, EnvVar, Metadata, OAuthConfig, PermissionProfile, Provenance, STACKLOK_NAMESPACE,
    ServerExtensions, to_object,
};
use crate::upstream_registry::{
    UPSTREAM_REGISTRY_SCHEMA_URL, UpstreamData, UpstreamMeta, UpstreamRegistry,
};
use crate::version::version_error;

/// `$schema` of a legacy ToolHive registry file.
pub const LEGACY_REGISTRY_SCHEMA_URL: &str = "https://raw.githubusercontent.com/stacklok/toolhive/main/pkg/registry/data/toolhive-legacy-registry.schema.json";

/// The version given to a converted server whose image tag is not a specific version (`latest`, no tag, a
/// digest only). ToolHive's converter uses it for every server.
pub const DEFAULT_VERSION: &str = "1.0.0";
/// Base of the transport URL of an OCI package with an HTTP transport: the container's port is published on the
/// local host, so clients connect to `http://localhost:<target_port>`.
pub const LOCALHOST_URL: &str = "http://localhost";
/// Longest `description` (and `title`) server.json allows, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 100;
/// Legacy transport assumed for a container server that names none.
pub const DEFAULT_CONTAINER_TRANSPORT: &str = Transport::STDIO;
/// Legacy transport assumed for a remote server that names none.
pub const DEFAULT_REMOTE_TRANSPORT: &str = Transport::SSE;

const OCI: &str = "oci";

/// A legacy ToolHive registry file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LegacyRegistry {
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Format version, `1.0.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// RFC 3339 timestamp of the last update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    /// Container servers by key (`^[a-z0-9][a-z0-9-]+[a-z0-9]$`).
    #[serde(default)]
    pub servers: BTreeMap<String, ImageMetadata>,
    /// Remote servers by key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_servers: Option<BTreeMap<String, RemoteServerMetadata>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<LegacyGroup>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl LegacyRegistry {
    /// Number of servers, container and remote.
    pub fn len(&self) -> usize {
        self.servers.len() + self.remote_servers.as_ref().map_or(0, BTreeMap::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A named collection of servers in a legacy registry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LegacyGroup {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub servers: Option<BTreeMap<String, ImageMetadata>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_servers: Option<BTreeMap<String, RemoteServerMetadata>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A container server of the legacy format (ToolHive's `ImageMetadata`). Field order is ToolHive's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageMetadata {
    /// Canonical name; normally absent (filled from the map key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// 10–500 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `Official` or `Community`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// `Active` or `Deprecated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `stdio`, `sse` or `streamable-http`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stateless: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overview: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_definitions: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_metadata: Option<Map<String, Value>>,
    /// OCI image reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Port the server listens on in the container (`sse` and `streamable-http`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<u16>,
    /// Host port of the proxy (random when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<PermissionProfile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_vars: Option<Vec<EnvVar>>,
    /// Default container arguments, used only when the user gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A remote server of the legacy format (ToolHive's `RemoteServerMetadata`). Field order is ToolHive's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RemoteServerMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `sse` or `streamable-http`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stateless: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overview: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_definitions: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_metadata: Option<Map<String, Value>>,
    /// Endpoint of the remote server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_port: Option<u16>,
    /// HTTP headers the client may send (authentication, options).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Vec<Header>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth_config: Option<OAuthConfig>,
    /// Client-side environment variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_vars: Option<Vec<EnvVar>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An HTTP header of a legacy remote server. In server.json: a remote's `headers[]` entry (`required` ↔
/// `isRequired`, `secret` ↔ `isSecret`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Header name (`^[A-Za-z0-9][A-Za-z0-9-]*$`).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<bool>,
    /// Allowed values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One server of a legacy registry, with its key.
#[allow(clippy::large_enum_variant)] // short-lived conversion result
#[derive(Debug, Clone, PartialEq)]
pub enum LegacyServer {
    Container {
        key: String,
        metadata: ImageMetadata,
    },
    Remote {
        key: String,
        metadata: RemoteServerMetadata,
    },
}

impl LegacyServer {
    pub fn key(&self) -> &str {
        match self {
            Self::Container { key, .. } | Self::Remote { key, .. } => key,
        }
    }
}

/// Why a conversion failed. `server` is the legacy key when converting from the legacy format and the server
/// name when converting to it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConvertError {
    #[error("server '{server}': missing required field `{field}`")]
    MissingField { server: String, field: String },
    #[error("server '{server}': invalid `{field}`: {message}")]
    InvalidField {
        server: String,
        field: String,
        message: String,
    },
    #[error("server '{server}' cannot be converted to the legacy format: {reason}")]
    Unsupported { server: String, reason: String },
    #[error("servers '{first}' and '{second}' both map to the legacy registry key '{key}'")]
    DuplicateKey {
        key: String,
        first: String,
        second: String,
    },
    #[error(
        "server '{server}': field `{field}` cannot be carried losslessly by the upstream format"
    )]
    NotLossless { server: String, field: String },
    #[error("group '{group}': {message}")]
    Group { group: String, message: String },
}

fn missing(server: &str, field: &str) -> ConvertError {
    ConvertError::MissingField {
        server: server.into(),
        field: field.into(),
    }
}

fn invalid(server: &str, field: &str, message: impl Into<String>) -> ConvertError {
    ConvertError::InvalidField {
        server: server.into(),
        field: field.into(),
        message: message.into(),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Names, versions, repositories, URLs
// ---------------------------------------------------------------------------------------------------------------

/// The upstream name of a legacy key: `io.github.stacklok/<key>` (a name that already has a `/` is returned
/// unchanged, as ToolHive's `BuildReverseDNSName`).
pub fn server_name_for_key(key: &str) -> String {
    if key.contains('/') {
        key.to_owned()
    } else {
        format!("{STACKLOK_NAMESPACE}/{key}")
    }
}

/// The legacy key of an upstream name: the part after the `/` (the whole name when it does not have exactly
/// one `/`, as ToolHive's `ExtractServerName`).
pub fn server_key(name: &str) -> &str {
    match name.split_once('/') {
        Some((_, rest)) if !rest.contains('/') => rest,
        _ => name,
    }
}

/// Why `key` cannot be the second part of a server name (`^[a-zA-Z0-9][a-zA-Z0-9._-]*[a-zA-Z0-9]$`, and the
/// whole name at most 200 characters).
fn key_error(key: &str) -> Option<String> {
    let ok_inner = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let first_last_ok = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && key
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if key.len() < 2 || !first_last_ok || !key.chars().all(ok_inner) {
        return Some(format!(
            "'{key}' cannot be used in the server name '{STACKLOK_NAMESPACE}/{key}': it must be at least 2 characters \
             of letters, digits, '.', '_' or '-', starting and ending with a letter or digit"
        ));
    }
    if STACKLOK_NAMESPACE.len() + 1 + key.len() > 200 {
        return Some(format!(
            "'{key}' makes the server name longer than 200 characters"
        ));
    }
    None
}

/// Whether `ns` is a valid namespace (`^[a-zA-Z0-9][a-zA-Z0-9.-]*[a-zA-Z0-9]$`).
fn namespace_ok(ns: &str) -> bool {
    ns.len() >= 2
        && ns
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        && ns.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && ns.chars().last().is_some_and(|c| c.is_ascii_alphanumeric())
}

/// The tag of an OCI image reference (`ghcr.io/a/b:1.2` → `1.2`); `None` without a tag. A digest
/// (`@sha256:…`) is ignored.
pub fn image_tag(image: &str) -> Option<&str> {
    let name = image.split('@').next().unwrap_or(image);
    let last = name.rsplit('/').next().unwrap_or(name);
    last.rsplit_once(':')
        .map(|(_, tag)| tag)
        .filter(|tag| !tag.is_empty())
}

/// The upstream `version` of a container server: its image tag when that is a specific version
/// ([`version_error`] accepts it, so not `latest` and not a range), else [`DEFAULT_VERSION`].
pub fn version_from_image(image: &str) -> String {
    match image_tag(image) {
        Some(tag) if version_error(tag).is_none() => tag.to_owned(),
        _ => DEFAULT_VERSION.to_owned(),
    }
}

/// The `repository.source` for a repository URL: `github` (github.com), `gitlab` (gitlab.com), `bitbucket`
/// (bitbucket.org), `codeberg` (codeberg.org), `sourcehut` (sr.ht); any other host is named by itself
/// (`git.example.com`). `None` when the URL is not an absolute http(s) URL with a host.
pub fn repository_source(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return None;
    }
    let host = parsed.host_str()?.to_ascii_lowercase();
    let bare = host.strip_prefix("www.").unwrap_or(&host);
    Some(
        match bare {
            "github.com" => "github",
            "gitlab.com" => "gitlab",
            "bitbucket.org" => "bitbucket",
            "codeberg.org" => "codeberg",
            h if h == "sr.ht" || h.ends_with(".sr.ht") => "sourcehut",
            h => h,
        }
        .to_owned(),
    )
}

/// The port of a URL's authority, when it is written out and numeric (`http://localhost:8080/mcp` → 8080). A
/// templated port (`{port}`) or a missing one gives `None`.
pub fn url_port(url: &str) -> Option<u16> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let port = match host_port.strip_prefix('[') {
        Some(v6) => v6.split_once(']')?.1.strip_prefix(':')?,
        None => host_port.rsplit_once(':')?.1,
    };
    port.parse().ok()
}

/// Shortens `text` to at most `max` characters: cut at a word boundary when one is near, then `…`.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    let cut = match cut.rfind(char::is_whitespace) {
        Some(i) if i >= cut.len() / 2 => &cut[..i],
        _ => cut.as_str(),
    };
    format!("{}…", cut.trim_end())
}

fn rename_keys(map: Map<String, Value>, renames: &[(&str, &str)]) -> Map<String, Value> {
    map.into_iter()
        .map(|(k, v)| match renames.iter().find(|(from, _)| *from == k) {
            Some((_, to)) => ((*to).to_owned(), v),
            None => (k, v),
        })
        .collect()
}

const TO_UPSTREAM_INPUT: &[(&str, &str)] = &[("required", "isRequired"), ("secret", "isSecret")];
const FROM_UPSTREAM_INPUT: &[(&str, &str)] = &[("isRequired", "required"), ("isSecret", "secret")];

/// A legacy env var or header as a server.json key-value input.
fn to_key_value_input<T: Serialize>(
    server: &str,
    field: &str,
    item: &T,
) -> Result<KeyValueInput, ConvertError> {
    let map = rename_keys(to_object(item), TO_UPSTREAM_INPUT);
    KeyValueInput::deserialize(Value::Object(map))
        .map_err(|e| invalid(server, field, e.to_string()))
}

/// A server.json key-value input as a legacy env var or header.
fn from_key_value_input<T: for<'de> Deserialize<'de>>(
    server: &str,
    field: &str,
    input: &KeyValueInput,
) -> Result<T, ConvertError> {
    let map = rename_keys(to_object(input), FROM_UPSTREAM_INPUT);
    T::deserialize(Value::Object(map)).map_err(|e| invalid(server, field, e.to_string()))
}

fn to_inputs<T: Serialize>(
    server: &str,
    field: &str,
    items: &[T],
) -> Result<Vec<KeyValueInput>, ConvertError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| to_key_value_input(server, &format!("{field}[{i}]"), item))
        .collect()
}

mod to_legacy;
mod to_upstream;

pub use to_legacy::{server_to_image, server_to_legacy, server_to_remote, upstream_to_legacy};
pub use to_upstream::{image_to_server, legacy_to_upstream, remote_to_server};

/// "an object", "an array", ... for error messages.
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_tags_and_versions() {
        assert_eq!(image_tag("ghcr.io/a/b:v1.2.3"), Some("v1.2.3"));
        assert_eq!(image_tag("localhost:5000/a/b"), None);
        assert_eq!(image_tag("a/b:1.0@sha256:abc"), Some("1.0"));
        assert_eq!(image_tag("a/b@sha256:abc"), None);
        assert_eq!(
            version_from_image("docker.io/mcp/time:latest"),
            DEFAULT_VERSION
        );
        assert_eq!(version_from_image("ghcr.io/a/b:0.27.0"), "0.27.0");
        assert_eq!(version_from_image("ghcr.io/a/b:1.x"), DEFAULT_VERSION);
        assert_eq!(version_from_image("ghcr.io/a/b"), DEFAULT_VERSION);
    }

    #[test]
    fn ports_and_sources() {
        assert_eq!(url_port("http://localhost:8080"), Some(8080));
        assert_eq!(url_port("http://localhost:80/mcp"), Some(80));
        assert_eq!(url_port("http://localhost"), None);
        assert_eq!(url_port("http://[::1]:9000/x"), Some(9000));
        assert_eq!(url_port("http://u:p@h:7/x"), Some(7));
        assert_eq!(url_port("http://localhost:{port}/mcp"), None);
        assert_eq!(
            repository_source("https://github.com/a/b").as_deref(),
            Some("github")
        );
        assert_eq!(
            repository_source("https://gitlab.com/a/b").as_deref(),
            Some("gitlab")
        );
        assert_eq!(
            repository_source("https://git.example.com/a").as_deref(),
            Some("git.example.com")
        );
        assert_eq!(repository_source("not a url"), None);
    }

    #[test]
    fn keys_and_names() {
        assert_eq!(server_name_for_key("fetch"), "io.github.stacklok/fetch");
        assert_eq!(server_key("io.github.stacklok/fetch"), "fetch");
        assert_eq!(server_key("plain"), "plain");
        assert!(key_error("fetch").is_none());
        assert!(key_error("a").is_some());
        assert!(key_error("a b").is_some());
        assert!(key_error("-ab").is_some());
    }

    #[test]
    fn shorten_respects_the_limit() {
        let long = "word ".repeat(60);
        let s = shorten(&long, 100);
        assert!(s.chars().count() <= 100 && s.ends_with('…'), "{s}");
        let unbroken = "x".repeat(300);
        assert_eq!(shorten(&unbroken, 100).chars().count(), 100);
        assert_eq!(shorten("short", 100), "short");
    }
}
