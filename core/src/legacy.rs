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

use crate::registry_file::{
    LEGACY_REGISTRY_SCHEMA_URL, UPSTREAM_REGISTRY_SCHEMA_URL, UpstreamData, UpstreamMeta,
    UpstreamRegistry,
};
use crate::server::{
    Argument, CURRENT_SCHEMA_URL, Input, KeyValueInput, Package, Repository, ServerJson, Transport,
};
use crate::toolhive::{
    self, EnvVar, Metadata, OAuthConfig, PermissionProfile, Provenance, STACKLOK_NAMESPACE,
    ServerExtensions, to_object,
};
use crate::version::version_error;

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

// ---------------------------------------------------------------------------------------------------------------
// Legacy → upstream
// ---------------------------------------------------------------------------------------------------------------

/// What the common part of both kinds of legacy server became upstream.
struct Common {
    name: String,
    description: String,
    title: Option<String>,
    repository: Option<Repository>,
    /// Legacy fields the upstream document carries exactly (removed from the extension).
    carried: Vec<&'static str>,
}

fn common_fields(
    key: &str,
    name: Option<&String>,
    description: Option<&String>,
    title: Option<&String>,
    repository_url: Option<&String>,
) -> Result<Common, ConvertError> {
    if let Some(e) = key_error(key) {
        return Err(invalid(key, "name", e));
    }
    let mut carried = Vec::new();
    let default_name = server_name_for_key(key);
    let name = match name {
        Some(n)
            if n != &default_name
                && server_key(n) == key
                && n.split_once('/').is_some_and(|(ns, _)| namespace_ok(ns)) =>
        {
            carried.push("name");
            n.clone()
        }
        _ => default_name,
    };
    let description = match description {
        None => return Err(missing(key, "description")),
        Some(d) if d.is_empty() => return Err(invalid(key, "description", "must not be empty")),
        Some(d) => {
            let short = shorten(d, MAX_DESCRIPTION_CHARS);
            if &short == d {
                carried.push("description");
            }
            short
        }
    };
    let title = title.filter(|t| !t.trim().is_empty()).map(|t| {
        let short = shorten(t, MAX_DESCRIPTION_CHARS);
        if &short == t {
            carried.push("title");
        }
        short
    });
    let repository = repository_url.and_then(|url| {
        let source = repository_source(url)?;
        carried.push("repository_url");
        Some(Repository {
            url: url.clone(),
            source,
            id: None,
            subfolder: None,
            extra: Map::new(),
        })
    });
    Ok(Common {
        name,
        description,
        title,
        repository,
        carried,
    })
}

/// The ToolHive extension of a legacy entry: all its fields except those the document carries.
fn extension_of(
    key: &str,
    entry: Map<String, Value>,
    carried: &[&str],
) -> Result<ServerExtensions, ConvertError> {
    let rest: Map<String, Value> = entry
        .into_iter()
        .filter(|(k, _)| !carried.contains(&k.as_str()))
        .collect();
    ServerExtensions::deserialize(Value::Object(rest))
        .map_err(|e| invalid(key, "extension", e.to_string()))
}

fn new_server(common: Common, version: String) -> ServerJson {
    ServerJson {
        schema: Some(CURRENT_SCHEMA_URL.to_owned()),
        name: common.name,
        description: common.description,
        title: common.title,
        repository: common.repository,
        version,
        website_url: None,
        icons: None,
        packages: None,
        remotes: None,
        meta: None,
        extra: Map::new(),
    }
}

/// Converts one legacy container server (`key` is its map key).
pub fn image_to_server(key: &str, metadata: &ImageMetadata) -> Result<ServerJson, ConvertError> {
    let mut common = common_fields(
        key,
        metadata.name.as_ref(),
        metadata.description.as_ref(),
        metadata.title.as_ref(),
        metadata.repository_url.as_ref(),
    )?;
    let image = match metadata.image.as_deref() {
        None => return Err(missing(key, "image")),
        Some(i) if i.trim().is_empty() => return Err(invalid(key, "image", "must not be empty")),
        Some(i) => i.to_owned(),
    };
    common.carried.push("image");

    let transport_type = match &metadata.transport {
        Some(t) => {
            common.carried.push("transport");
            t.clone()
        }
        None => DEFAULT_CONTAINER_TRANSPORT.to_owned(),
    };
    let mut transport = Transport::stdio();
    transport.transport_type = transport_type.clone();
    if transport_type == Transport::STREAMABLE_HTTP || transport_type == Transport::SSE {
        transport.url = Some(match metadata.target_port {
            Some(port) => {
                common.carried.push("target_port");
                format!("{LOCALHOST_URL}:{port}")
            }
            None => LOCALHOST_URL.to_owned(),
        });
    }

    let environment_variables = match &metadata.env_vars {
        Some(vars) => {
            common.carried.push("env_vars");
            Some(to_inputs(key, "env_vars", vars)?)
        }
        None => None,
    };
    // Args also stay in the extension (ToolHive reads them there); as package arguments they reach clients that
    // only know server.json. An empty arg could not be told apart on the way back, so then only the extension
    // has them.
    let package_arguments = metadata
        .args
        .as_ref()
        .filter(|args| !args.is_empty() && args.iter().all(|a| !a.is_empty()))
        .map(|args| args.iter().map(|a| positional(a)).collect());

    let package = Package {
        registry_type: OCI.to_owned(),
        registry_base_url: None,
        identifier: image.clone(),
        version: None,
        file_sha256: None,
        runtime_hint: None,
        transport,
        runtime_arguments: None,
        package_arguments,
        environment_variables,
        extra: Map::new(),
    };
    let version = version_from_image(&image);
    let carried = std::mem::take(&mut common.carried);
    let ext = extension_of(key, to_object(metadata), &carried)?;
    let mut server = new_server(common, version);
    server.packages = Some(vec![package]);
    toolhive::set_extensions(&mut server, &image, &ext);
    ensure_lossless(
        key,
        &image,
        to_object(metadata),
        server,
        |s| match server_to_legacy(s)? {
            LegacyServer::Container { key, metadata } => Ok((key, to_object(&metadata))),
            LegacyServer::Remote { key, .. } => Err(ConvertError::NotLossless {
                server: key,
                field: "image".into(),
            }),
        },
    )
}

fn positional(value: &str) -> Argument {
    Argument {
        argument_type: Argument::POSITIONAL.to_owned(),
        name: None,
        value_hint: None,
        is_repeated: None,
        input: Input {
            value: Some(value.to_owned()),
            ..Input::default()
        },
    }
}

/// Converts one legacy remote server (`key` is its map key).
pub fn remote_to_server(
    key: &str,
    metadata: &RemoteServerMetadata,
) -> Result<ServerJson, ConvertError> {
    let mut common = common_fields(
        key,
        metadata.name.as_ref(),
        metadata.description.as_ref(),
        metadata.title.as_ref(),
        metadata.repository_url.as_ref(),
    )?;
    let url = match metadata.url.as_deref() {
        None => return Err(missing(key, "url")),
        Some(u) if u.trim().is_empty() => return Err(invalid(key, "url", "must not be empty")),
        Some(u) => u.to_owned(),
    };
    common.carried.push("url");
    let transport_type = match &metadata.transport {
        Some(t) => {
            common.carried.push("transport");
            t.clone()
        }
        None => DEFAULT_REMOTE_TRANSPORT.to_owned(),
    };
    let mut remote = Transport::http(&transport_type, url.clone());
    if let Some(headers) = &metadata.headers {
        common.carried.push("headers");
        remote.headers = Some(to_inputs(key, "headers", headers)?);
    }
    let carried = std::mem::take(&mut common.carried);
    let ext = extension_of(key, to_object(metadata), &carried)?;
    let mut server = new_server(common, DEFAULT_VERSION.to_owned());
    server.remotes = Some(vec![remote]);
    toolhive::set_extensions(&mut server, &url, &ext);
    ensure_lossless(
        key,
        &url,
        to_object(metadata),
        server,
        |s| match server_to_legacy(s)? {
            LegacyServer::Remote { key, metadata } => Ok((key, to_object(&metadata))),
            LegacyServer::Container { key, .. } => Err(ConvertError::NotLossless {
                server: key,
                field: "url".into(),
            }),
        },
    )
}

/// Converts `server` back and compares it with the legacy entry it came from. Fields that differ are stored in
/// the extension under their legacy names (where they override the derived values), once; if the result still
/// differs the conversion fails.
fn ensure_lossless(
    key: &str,
    ext_key: &str,
    original: Map<String, Value>,
    mut server: ServerJson,
    back: impl Fn(&ServerJson) -> Result<(String, Map<String, Value>), ConvertError>,
) -> Result<ServerJson, ConvertError> {
    for attempt in 0..2 {
        let (back_key, back_entry) = back(&server)?;
        if back_key != key {
            return Err(ConvertError::NotLossless {
                server: key.into(),
                field: "name".into(),
            });
        }
        let differing: BTreeSet<&String> = original
            .keys()
            .chain(back_entry.keys())
            .filter(|k| original.get(*k) != back_entry.get(*k))
            .collect();
        let Some(first) = differing.first() else {
            return Ok(server);
        };
        if attempt > 0 {
            return Err(ConvertError::NotLossless {
                server: key.into(),
                field: (*first).clone(),
            });
        }
        let ext = toolhive::extensions_for(&server, ext_key)
            .map_err(|e| invalid(key, "extension", e))?
            .unwrap_or_default();
        let mut ext_map = to_object(&ext);
        for field in differing {
            ext_map.insert(
                field.clone(),
                original.get(field).cloned().unwrap_or(Value::Null),
            );
        }
        let ext = ServerExtensions::deserialize(Value::Object(ext_map))
            .map_err(|e| invalid(key, "extension", e.to_string()))?;
        toolhive::set_extensions(&mut server, ext_key, &ext);
    }
    Err(ConvertError::NotLossless {
        server: key.into(),
        field: "name".into(),
    })
}

/// Converts a legacy registry: container servers (in key order), then remote servers; groups become upstream
/// groups `{name, description, servers: [server.json]}`. `$schema` becomes [`UPSTREAM_REGISTRY_SCHEMA_URL`];
/// `version` is kept; `last_updated` moves to `meta.last_updated`; unknown top-level fields are kept.
pub fn legacy_to_upstream(reg: &LegacyRegistry) -> Result<UpstreamRegistry, ConvertError> {
    let servers = convert_server_maps(&reg.servers, reg.remote_servers.as_ref())?;
    let groups = match &reg.groups {
        Some(groups) => Some(Value::Array(
            groups
                .iter()
                .map(group_to_upstream)
                .collect::<Result<_, _>>()?,
        )),
        None => None,
    };
    Ok(UpstreamRegistry {
        schema: Some(UPSTREAM_REGISTRY_SCHEMA_URL.to_owned()),
        version: reg.version.clone(),
        meta: UpstreamMeta {
            last_updated: reg.last_updated.clone(),
            extra: Map::new(),
        },
        data: UpstreamData {
            servers,
            groups,
            skills: None,
            plugins: None,
            extra: Map::new(),
        },
        extra: reg.extra.clone(),
    })
}

fn convert_server_maps(
    servers: &BTreeMap<String, ImageMetadata>,
    remote_servers: Option<&BTreeMap<String, RemoteServerMetadata>>,
) -> Result<Vec<ServerJson>, ConvertError> {
    let mut out = Vec::with_capacity(servers.len() + remote_servers.map_or(0, BTreeMap::len));
    for (key, metadata) in servers {
        out.push(image_to_server(key, metadata)?);
    }
    for (key, metadata) in remote_servers.into_iter().flatten() {
        if servers.contains_key(key) {
            return Err(ConvertError::DuplicateKey {
                key: key.clone(),
                first: format!("servers.{key}"),
                second: format!("remote_servers.{key}"),
            });
        }
        out.push(remote_to_server(key, metadata)?);
    }
    Ok(out)
}

fn group_to_upstream(group: &LegacyGroup) -> Result<Value, ConvertError> {
    let servers = convert_server_maps(
        group.servers.as_ref().unwrap_or(&BTreeMap::new()),
        group.remote_servers.as_ref(),
    )
    .map_err(|e| ConvertError::Group {
        group: group.name.clone(),
        message: e.to_string(),
    })?;
    let mut map = Map::new();
    map.insert("name".into(), Value::String(group.name.clone()));
    if let Some(d) = &group.description {
        map.insert("description".into(), Value::String(d.clone()));
    }
    map.insert(
        "servers".into(),
        Value::Array(
            servers
                .iter()
                .map(|s| Value::Object(to_object(s)))
                .collect(),
        ),
    );
    for (k, v) in &group.extra {
        map.insert(k.clone(), v.clone());
    }
    Ok(Value::Object(map))
}

// ---------------------------------------------------------------------------------------------------------------
// Upstream → legacy
// ---------------------------------------------------------------------------------------------------------------

/// The legacy `name` field for an upstream name: only names outside ToolHive's namespace need one.
fn legacy_name(name: &str) -> Option<&str> {
    let stacklok = name
        .strip_prefix(STACKLOK_NAMESPACE)
        .is_some_and(|rest| rest.starts_with('/'));
    (!stacklok).then_some(name)
}

fn base_entry(server: &ServerJson) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(n) = legacy_name(&server.name) {
        m.insert("name".into(), n.into());
    }
    if let Some(t) = &server.title {
        m.insert("title".into(), t.clone().into());
    }
    m.insert("description".into(), server.description.clone().into());
    m
}

fn insert_repository(m: &mut Map<String, Value>, server: &ServerJson) {
    if let Some(repo) = server.repository.as_ref().filter(|r| !r.url.is_empty()) {
        m.insert("repository_url".into(), repo.url.clone().into());
    }
}

/// The extension for the server's image or URL (`key`), else its first extension.
fn extension_for(
    server: &ServerJson,
    key: Option<&str>,
) -> Result<Option<ServerExtensions>, ConvertError> {
    let field = format!("_meta.{STACKLOK_NAMESPACE}");
    if let Some(key) = key
        && let Some(ext) =
            toolhive::extensions_for(server, key).map_err(|e| invalid(&server.name, &field, e))?
    {
        return Ok(Some(ext));
    }
    Ok(toolhive::try_extensions(server)
        .map_err(|e| invalid(&server.name, &field, e))?
        .map(|(_, ext)| ext))
}

/// Lays the extension's fields over the derived ones (`except`: fields the document decides).
fn overlay(m: &mut Map<String, Value>, ext: Option<&ServerExtensions>, except: &[&str]) {
    if let Some(ext) = ext {
        for (k, v) in to_object(ext) {
            if !except.contains(&k.as_str()) {
                m.insert(k, v);
            }
        }
    }
}

/// ToolHive's `flattenPackageArguments`: each argument's name (if any), then its value (if any).
fn flatten_arguments(args: &[Argument]) -> Vec<String> {
    let mut out = Vec::new();
    for arg in args {
        if let Some(name) = arg.name.as_ref().filter(|n| !n.is_empty()) {
            out.push(name.clone());
        }
        if let Some(value) = arg.input.value.as_ref().filter(|v| !v.is_empty()) {
            out.push(value.clone());
        }
    }
    out
}

/// ToolHive's `extractEnvFromRuntimeArgs`: `-e KEY=value` / `--env KEY={var}` runtime arguments as env vars.
fn env_from_runtime_args(args: &[Argument]) -> Vec<EnvVar> {
    let mut out = Vec::new();
    for arg in args {
        if arg.argument_type != Argument::NAMED
            || !matches!(arg.name.as_deref(), Some("-e" | "--env"))
        {
            continue;
        }
        let Some((name, value)) = arg.input.value.as_deref().and_then(|v| v.split_once('=')) else {
            continue;
        };
        let mut var = EnvVar {
            name: name.to_owned(),
            description: arg.input.description.clone(),
            ..EnvVar::default()
        };
        let reference = value
            .strip_prefix('{')
            .and_then(|v| v.strip_suffix('}'))
            .filter(|v| !v.is_empty());
        match reference {
            Some(var_name) => {
                if let Some(def) = arg
                    .input
                    .variables
                    .as_ref()
                    .and_then(|vars| vars.get(var_name))
                {
                    var.required = def.get("isRequired").and_then(Value::as_bool);
                    var.secret = def.get("isSecret").and_then(Value::as_bool);
                    var.default = def
                        .get("default")
                        .and_then(Value::as_str)
                        .filter(|d| !d.is_empty())
                        .map(str::to_owned);
                }
            }
            None => var.default = Some(value.to_owned()),
        }
        var.required = arg.input.is_required.or(var.required);
        out.push(var);
    }
    out
}

/// Converts an upstream server with an OCI package to a legacy container server (its key and metadata).
pub fn server_to_image(server: &ServerJson) -> Result<(String, ImageMetadata), ConvertError> {
    let name = server.name.as_str();
    let oci: Vec<&Package> = server
        .packages
        .iter()
        .flatten()
        .filter(|p| p.registry_type == OCI)
        .collect();
    let pkg = match oci.as_slice() {
        [pkg] => *pkg,
        [] => {
            let types: Vec<&str> = server
                .packages
                .iter()
                .flatten()
                .map(|p| p.registry_type.as_str())
                .collect();
            let reason = if types.is_empty() {
                "it has no packages (not a container-based server)".to_owned()
            } else {
                format!("it has no OCI package (found: {})", types.join(", "))
            };
            return Err(ConvertError::Unsupported {
                server: name.into(),
                reason,
            });
        }
        many => {
            return Err(ConvertError::Unsupported {
                server: name.into(),
                reason: format!("it has {} OCI packages, expected exactly 1", many.len()),
            });
        }
    };
    let ext = extension_for(server, Some(&pkg.identifier))?;

    let mut m = base_entry(server);
    m.insert(
        "transport".into(),
        pkg.transport.transport_type.clone().into(),
    );
    insert_repository(&mut m, server);
    m.insert("image".into(), pkg.identifier.clone().into());
    if let Some(port) = pkg.transport.url.as_deref().and_then(url_port) {
        m.insert("target_port".into(), port.into());
    }
    let mut env_vars: Option<Vec<EnvVar>> = match &pkg.environment_variables {
        Some(vars) => Some(
            vars.iter()
                .enumerate()
                .map(|(i, v)| {
                    from_key_value_input(name, &format!("packages.environmentVariables[{i}]"), v)
                })
                .collect::<Result<_, _>>()?,
        ),
        None => None,
    };
    let from_runtime = env_from_runtime_args(pkg.runtime_arguments.as_deref().unwrap_or_default());
    if !from_runtime.is_empty() {
        env_vars.get_or_insert_with(Vec::new).extend(from_runtime);
    }
    if let Some(vars) = env_vars {
        m.insert(
            "env_vars".into(),
            Value::Array(vars.iter().map(|v| Value::Object(to_object(v))).collect()),
        );
    }
    let args = flatten_arguments(pkg.package_arguments.as_deref().unwrap_or_default());
    let args_from_package = !args.is_empty();
    if args_from_package {
        m.insert("args".into(), args.into());
    }
    overlay(
        &mut m,
        ext.as_ref(),
        if args_from_package { &["args"] } else { &[] },
    );
    let metadata = ImageMetadata::deserialize(Value::Object(m))
        .map_err(|e| invalid(name, "_meta", e.to_string()))?;
    Ok((server_key(name).to_owned(), metadata))
}

/// Converts an upstream server with remotes to a legacy remote server (its key and metadata). The remote is the
/// one whose URL keys the ToolHive extension, else the first.
pub fn server_to_remote(
    server: &ServerJson,
) -> Result<(String, RemoteServerMetadata), ConvertError> {
    let name = server.name.as_str();
    let remotes = server.remotes.as_deref().unwrap_or_default();
    let ext_key = toolhive::stacklok_namespace(server).and_then(|ns| ns.keys().next().cloned());
    let remote = remotes
        .iter()
        .find(|r| ext_key.is_some() && r.url == ext_key)
        .or_else(|| remotes.first())
        .ok_or_else(|| ConvertError::Unsupported {
            server: name.into(),
            reason: "it has no remotes".into(),
        })?;
    let ext = extension_for(server, remote.url.as_deref())?;

    let mut m = base_entry(server);
    m.insert("transport".into(), remote.transport_type.clone().into());
    insert_repository(&mut m, server);
    if let Some(url) = &remote.url {
        m.insert("url".into(), url.clone().into());
    }
    if let Some(headers) = &remote.headers {
        let headers: Vec<Header> = headers
            .iter()
            .enumerate()
            .map(|(i, h)| from_key_value_input(name, &format!("remotes.headers[{i}]"), h))
            .collect::<Result<_, _>>()?;
        m.insert(
            "headers".into(),
            Value::Array(
                headers
                    .iter()
                    .map(|h| Value::Object(to_object(h)))
                    .collect(),
            ),
        );
    }
    overlay(&mut m, ext.as_ref(), &[]);
    let metadata = RemoteServerMetadata::deserialize(Value::Object(m))
        .map_err(|e| invalid(name, "_meta", e.to_string()))?;
    Ok((server_key(name).to_owned(), metadata))
}

/// Converts an upstream server to a legacy entry: a container server when it has an OCI package, a remote server
/// when it has remotes and no OCI package, or both but its ToolHive extension is keyed by one of its remote URLs.
pub fn server_to_legacy(server: &ServerJson) -> Result<LegacyServer, ConvertError> {
    let has_oci = server
        .packages
        .iter()
        .flatten()
        .any(|p| p.registry_type == OCI);
    let has_remote = server.remotes.as_ref().is_some_and(|r| !r.is_empty());
    let remote_keyed = || {
        toolhive::stacklok_namespace(server).is_some_and(|ns| {
            server
                .remote_urls()
                .any(|url| ns.keys().next().is_some_and(|k| k == url))
        })
    };
    if has_remote && (!has_oci || remote_keyed()) {
        let (key, metadata) = server_to_remote(server)?;
        Ok(LegacyServer::Remote { key, metadata })
    } else {
        let (key, metadata) = server_to_image(server)?;
        Ok(LegacyServer::Container { key, metadata })
    }
}

type ServerMaps = (
    BTreeMap<String, ImageMetadata>,
    BTreeMap<String, RemoteServerMetadata>,
);

fn split_servers<'a>(
    servers: impl IntoIterator<Item = &'a ServerJson>,
) -> Result<ServerMaps, ConvertError> {
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut containers = BTreeMap::new();
    let mut remotes = BTreeMap::new();
    for server in servers {
        let entry = server_to_legacy(server)?;
        if let Some(first) = names.insert(entry.key().to_owned(), server.name.clone()) {
            return Err(ConvertError::DuplicateKey {
                key: entry.key().to_owned(),
                first,
                second: server.name.clone(),
            });
        }
        match entry {
            LegacyServer::Container { key, metadata } => {
                containers.insert(key, metadata);
            }
            LegacyServer::Remote { key, metadata } => {
                remotes.insert(key, metadata);
            }
        }
    }
    Ok((containers, remotes))
}

/// Converts an upstream registry to the legacy format. `$schema` becomes [`LEGACY_REGISTRY_SCHEMA_URL`],
/// `meta.last_updated` becomes `last_updated`, groups are converted, unknown top-level fields are kept; skills,
/// plugins and unknown `meta`/`data` fields have no legacy equivalent and are dropped. Fails on the first server
/// that cannot be converted and when two servers share a legacy key (the part of the name after the `/`, so
/// also for two versions of one server).
pub fn upstream_to_legacy(reg: &UpstreamRegistry) -> Result<LegacyRegistry, ConvertError> {
    let (servers, remotes) = split_servers(&reg.data.servers)?;
    let groups = match &reg.data.groups {
        None => None,
        Some(Value::Array(groups)) => Some(
            groups
                .iter()
                .map(group_to_legacy)
                .collect::<Result<_, _>>()?,
        ),
        Some(other) => {
            return Err(ConvertError::Group {
                group: "data.groups".into(),
                message: format!("expected an array of groups, found {}", json_kind(other)),
            });
        }
    };
    Ok(LegacyRegistry {
        schema: Some(LEGACY_REGISTRY_SCHEMA_URL.to_owned()),
        version: reg.version.clone(),
        last_updated: reg.meta.last_updated.clone(),
        servers,
        remote_servers: (!remotes.is_empty()).then_some(remotes),
        groups,
        extra: reg.extra.clone(),
    })
}

fn group_to_legacy(group: &Value) -> Result<LegacyGroup, ConvertError> {
    let err = |group: &str, message: String| ConvertError::Group {
        group: group.into(),
        message,
    };
    let Some(obj) = group.as_object() else {
        return Err(err(
            "data.groups[]",
            format!("expected an object, found {}", json_kind(group)),
        ));
    };
    let Some(name) = obj.get("name").and_then(Value::as_str) else {
        return Err(err("data.groups[]", "missing string field `name`".into()));
    };
    let description = match obj.get("description") {
        None => None,
        Some(Value::String(d)) => Some(d.clone()),
        Some(other) => {
            return Err(err(
                name,
                format!("`description` must be a string, found {}", json_kind(other)),
            ));
        }
    };
    let servers: Vec<ServerJson> = match obj.get("servers") {
        None => Vec::new(),
        Some(v) => {
            Vec::<ServerJson>::deserialize(v).map_err(|e| err(name, format!("servers: {e}")))?
        }
    };
    let (containers, remotes) = split_servers(&servers).map_err(|e| err(name, e.to_string()))?;
    let extra = obj
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "name" | "description" | "servers"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(LegacyGroup {
        name: name.to_owned(),
        description,
        servers: (!containers.is_empty()).then_some(containers),
        remote_servers: (!remotes.is_empty()).then_some(remotes),
        extra,
    })
}

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
