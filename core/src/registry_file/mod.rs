//! Registry files: the formats a registry's servers can be loaded from.
//!
//! - **Upstream registry** ([`UpstreamRegistry`], ToolHive's current format, also the ToolHive Registry
//!   Server's file and git source format): `{"$schema", "version", "meta": {"last_updated"}, "data": {"servers":
//!   [server.json], "groups", "skills", "plugins"}}`. Skills, plugins and groups are kept as raw JSON.
//! - **Legacy ToolHive registry** ([`LegacyRegistry`]): `{"$schema", "version", "last_updated", "servers": {...},
//!   "remote_servers": {...}}`, converted with [`crate::legacy`].
//! - **Server list**: a JSON array of server.json documents (the official registry's seed format).
//! - **Registry API list response** ([`ApiListFile`]): `{"servers": [{"server": server.json, "_meta":
//!   {"io.modelcontextprotocol.registry/official": {...}}}], "metadata": {...}}`, what `GET /v0.1/servers`
//!   returns and what mirrors and crawls of the official registry save; each entry's registry metadata (status,
//!   publishedAt, isLatest, ...) is kept ([`api_list`]).
//!
//! Documents of every published server.json schema version are read as they are written. The registry metadata
//! of an entry lives beside it in a list response, and in its own `_meta` in the other formats (where this
//! project writes it, and where the official registry served it before 2025-09-29).
//!
//! [`parse`] detects the format and reports problems by location: a JSON syntax error (or a truncated file) by
//! line and column, a bad entry by its path (`data.servers[3] (io.github.x/y): missing field `version``).
//! [`ServerDocuments`] reads the documents one at a time, raw (syncing); [`EntryFile`] streams them from a file
//! without holding it (seeding); [`RegistryDocument`] reads them whole, raw, and writes the file back in its own
//! format (the curation commands).

pub mod api_list;
mod documents;
mod stream;

pub use api_list::{API_LIST, ApiListFile, ApiListItem, FileEntry};
pub use documents::{FileKind, RegistryDocument, ServerDocuments};
pub use stream::{EntryFile, EntryFileError, Flow, Reading};

use serde::Deserialize;
use serde_json::{Map, Value};
use thiserror::Error;

pub use crate::legacy::LEGACY_REGISTRY_SCHEMA_URL;
use crate::legacy::{
    self, ConvertError, ImageMetadata, LegacyRegistry, RemoteServerMetadata, json_kind,
};
use crate::server::ServerJson;
pub use crate::upstream_registry::{
    REGISTRY_FORMAT_VERSION, UPSTREAM_REGISTRY_SCHEMA_URL, UpstreamData, UpstreamMeta,
    UpstreamRegistry,
};

/// The curated registry bundled with this project (`data/registry.json`, upstream format): what the registry
/// API seeds an empty store with, and what `thv` resolves names against when no registry is configured.
pub const BUNDLED_REGISTRY_JSON: &str = include_str!("../../../data/registry.json");

const EXPECTED: &str = "expected an upstream registry {data: {servers}}, a legacy registry {servers: {NAME: ...}}, a registry API list response {servers: [{server, _meta}]}, or an array of server.json";

/// A parsed registry file, in whichever format it came.
#[allow(clippy::large_enum_variant)] // parsed once per file; boxing would only cost the callers' matches
#[derive(Debug, Clone, PartialEq)]
pub enum RegistryFile {
    Upstream(UpstreamRegistry),
    Legacy(LegacyRegistry),
    /// A JSON array of server.json documents (the official registry's seed format).
    ServerList(Vec<ServerJson>),
    /// A registry API list response, with each entry's registry metadata.
    ApiList(ApiListFile),
}

/// Why a registry file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RegistryFileError {
    #[error("registry file is empty; {EXPECTED}")]
    Empty,
    #[error(
        "registry file is truncated: the JSON ends early at line {line}, column {column} ({message})"
    )]
    Truncated {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("registry file is not valid JSON: {message} at line {line}, column {column}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("unrecognised registry file: found {found}; {EXPECTED}")]
    UnknownFormat { found: String },
    #[error("{format}: {path}: {message}")]
    Invalid {
        format: &'static str,
        path: String,
        message: String,
    },
    #[error(transparent)]
    Convert(#[from] ConvertError),
}

/// Parses a registry file of any supported format (see [`RegistryFile::parse`]).
pub fn parse(bytes: &[u8]) -> Result<RegistryFile, RegistryFileError> {
    RegistryFile::parse(bytes)
}

pub(crate) const UPSTREAM: &str = "upstream registry";
pub(crate) const LEGACY: &str = "legacy registry";
pub(crate) const SERVER_LIST: &str = "server list";

impl RegistryFile {
    /// Parses a registry file and detects its format: an array is a server list; an object with `data` is an
    /// upstream registry; an object whose `servers` is an array is a registry API list response; an object with
    /// `servers` or `remote_servers` otherwise is a legacy registry. A leading UTF-8 byte-order mark is ignored.
    pub fn parse(bytes: &[u8]) -> Result<Self, RegistryFileError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(RegistryFileError::Empty);
        }
        let value: Value = serde_json::from_slice(bytes).map_err(syntax_error)?;
        Self::from_value(value)
    }

    /// Like [`RegistryFile::parse`], for an already parsed JSON value.
    pub fn from_value(value: Value) -> Result<Self, RegistryFileError> {
        match value {
            Value::Array(items) => parse_server_list(items).map(Self::ServerList),
            Value::Object(obj) if obj.contains_key("data") => {
                parse_upstream(obj).map(Self::Upstream)
            }
            Value::Object(obj) if obj.get("servers").is_some_and(Value::is_array) => {
                parse_api_list(obj).map(Self::ApiList)
            }
            Value::Object(obj)
                if obj.contains_key("servers") || obj.contains_key("remote_servers") =>
            {
                parse_legacy(obj).map(Self::Legacy)
            }
            Value::Object(obj) => Err(RegistryFileError::UnknownFormat {
                found: describe_object(&obj),
            }),
            other => Err(RegistryFileError::UnknownFormat {
                found: json_kind(&other).to_owned(),
            }),
        }
    }

    /// The format's name: `upstream registry`, `legacy registry`, `server list` or `registry API list response`.
    pub fn format_name(&self) -> &'static str {
        match self {
            Self::Upstream(_) => UPSTREAM,
            Self::Legacy(_) => LEGACY,
            Self::ServerList(_) => SERVER_LIST,
            Self::ApiList(_) => API_LIST,
        }
    }

    /// Number of servers in the file.
    pub fn server_count(&self) -> usize {
        match self {
            Self::Upstream(r) => r.data.servers.len(),
            Self::Legacy(r) => r.len(),
            Self::ServerList(s) => s.len(),
            Self::ApiList(l) => l.servers.len(),
        }
    }

    /// The servers as server.json documents (a legacy registry is converted, see [`legacy::legacy_to_upstream`]).
    pub fn into_servers(self) -> Result<Vec<ServerJson>, RegistryFileError> {
        Ok(self.into_upstream()?.data.servers)
    }

    /// The file as an upstream registry: a legacy registry is converted, a server list is wrapped (no
    /// `last_updated`), a list response's servers are wrapped with their registry metadata in their `_meta`.
    pub fn into_upstream(self) -> Result<UpstreamRegistry, RegistryFileError> {
        match self {
            Self::Upstream(r) => Ok(r),
            Self::Legacy(r) => Ok(legacy::legacy_to_upstream(&r)?),
            Self::ServerList(servers) => Ok(UpstreamRegistry::new(servers, None)),
            Self::ApiList(list) => Ok(UpstreamRegistry::new(list.into_servers(), None)),
        }
    }
}

pub(crate) fn syntax_error(e: serde_json::Error) -> RegistryFileError {
    let (line, column) = (e.line(), e.column());
    let full = e.to_string();
    let message = full
        .strip_suffix(&format!(" at line {line} column {column}"))
        .unwrap_or(&full)
        .to_owned();
    if e.is_eof() {
        RegistryFileError::Truncated {
            line,
            column,
            message,
        }
    } else {
        RegistryFileError::Syntax {
            line,
            column,
            message,
        }
    }
}

pub(crate) fn describe_object(obj: &Map<String, Value>) -> String {
    if obj.is_empty() {
        return "an empty object".to_owned();
    }
    if let Some(name) = obj.get("name").and_then(Value::as_str)
        && obj.contains_key("version")
    {
        return format!(
            "a single server.json document ('{name}'); put it in an array to use it as a server list"
        );
    }
    let keys: Vec<String> = obj.keys().take(8).map(|k| format!("`{k}`")).collect();
    let more = if obj.len() > 8 { ", ..." } else { "" };
    format!("an object with keys {}{more}", keys.join(", "))
}

pub(crate) fn invalid(
    format: &'static str,
    path: impl Into<String>,
    message: impl Into<String>,
) -> RegistryFileError {
    RegistryFileError::Invalid {
        format,
        path: path.into(),
        message: message.into(),
    }
}

/// One server.json of an array, with its path (and name, when it has one) in errors.
pub(crate) fn parse_server(
    format: &'static str,
    path: String,
    item: &Value,
) -> Result<ServerJson, RegistryFileError> {
    if !item.is_object() {
        return Err(invalid(
            format,
            path,
            format!("expected a server.json object, found {}", json_kind(item)),
        ));
    }
    ServerJson::deserialize(item).map_err(|e| {
        let path = match item.get("name").and_then(Value::as_str) {
            Some(name) => format!("{path} ({name})"),
            None => path,
        };
        invalid(format, path, e.to_string())
    })
}

fn parse_servers(
    format: &'static str,
    prefix: &str,
    items: &[Value],
) -> Result<Vec<ServerJson>, RegistryFileError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_server(format, format!("{prefix}[{i}]"), item))
        .collect()
}

fn parse_server_list(items: Vec<Value>) -> Result<Vec<ServerJson>, RegistryFileError> {
    parse_servers(SERVER_LIST, "", &items)
}

fn parse_upstream(mut obj: Map<String, Value>) -> Result<UpstreamRegistry, RegistryFileError> {
    let servers = {
        let Some(data) = obj.get_mut("data").and_then(Value::as_object_mut) else {
            let found = obj.get("data").map_or("nothing", json_kind);
            return Err(invalid(
                UPSTREAM,
                "data",
                format!("expected an object {{servers: [...]}}, found {found}"),
            ));
        };
        match data
            .get_mut("servers")
            .map(|v| std::mem::replace(v, Value::Array(Vec::new())))
        {
            None => {
                return Err(invalid(
                    UPSTREAM,
                    "data.servers",
                    "missing: expected an array of server.json",
                ));
            }
            Some(Value::Array(items)) => parse_servers(UPSTREAM, "data.servers", &items)?,
            Some(other) => {
                let hint = if other.is_object() {
                    " (a map of servers keyed by name is the legacy format's top-level `servers`)"
                } else {
                    ""
                };
                return Err(invalid(
                    UPSTREAM,
                    "data.servers",
                    format!(
                        "expected an array of server.json, found {}{hint}",
                        json_kind(&other)
                    ),
                ));
            }
        }
    };
    let mut reg = UpstreamRegistry::deserialize(Value::Object(obj))
        .map_err(|e| invalid(UPSTREAM, "(top level)", e.to_string()))?;
    reg.data.servers = servers;
    Ok(reg)
}

fn parse_api_list(mut obj: Map<String, Value>) -> Result<ApiListFile, RegistryFileError> {
    let Some(Value::Array(items)) = obj.remove("servers") else {
        return Err(invalid(
            API_LIST,
            "servers",
            "expected an array of items {server, _meta}",
        ));
    };
    let metadata = match obj.remove("metadata") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(invalid(
                API_LIST,
                "metadata",
                format!("expected an object, found {}", json_kind(&other)),
            ));
        }
    };
    let mut servers = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let entry = FileEntry::from_item(&format!("servers[{i}]"), item);
        if let Some(error) = entry.error {
            return Err(invalid(API_LIST, entry.path, error));
        }
        servers.push(ApiListItem {
            server: parse_server(API_LIST, entry.path, &entry.value)?,
            official: entry.official,
            meta: entry.item_meta,
        });
    }
    Ok(ApiListFile {
        servers,
        metadata,
        extra: obj,
    })
}

fn parse_legacy(obj: Map<String, Value>) -> Result<LegacyRegistry, RegistryFileError> {
    check_legacy_map::<ImageMetadata>(&obj, "servers")?;
    check_legacy_map::<RemoteServerMetadata>(&obj, "remote_servers")?;
    LegacyRegistry::deserialize(Value::Object(obj))
        .map_err(|e| invalid(LEGACY, "(top level)", e.to_string()))
}

/// Checks that `obj[field]` is a map of valid entries, naming the bad entry.
fn check_legacy_map<T: for<'de> Deserialize<'de>>(
    obj: &Map<String, Value>,
    field: &str,
) -> Result<(), RegistryFileError> {
    match obj.get(field) {
        None => Ok(()),
        Some(Value::Object(entries)) => {
            for (key, entry) in entries {
                if !entry.is_object() {
                    return Err(invalid(
                        LEGACY,
                        format!("{field}.{key}"),
                        format!("expected an object, found {}", json_kind(entry)),
                    ));
                }
                T::deserialize(entry)
                    .map_err(|e| invalid(LEGACY, format!("{field}.{key}"), e.to_string()))?;
            }
            Ok(())
        }
        Some(Value::Array(_)) => Err(invalid(
            LEGACY,
            field,
            format!("expected an object keyed by server name, found an array; {EXPECTED}"),
        )),
        Some(other) => Err(invalid(
            LEGACY,
            field,
            format!(
                "expected an object keyed by server name, found {}",
                json_kind(other)
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn server(name: &str) -> Value {
        json!({"name": name, "description": "d", "version": "1.0.0"})
    }

    #[test]
    fn detects_the_three_formats() {
        let up = json!({"$schema": UPSTREAM_REGISTRY_SCHEMA_URL, "version": "1.0.0", "meta": {"last_updated": "x"},
            "data": {"servers": [server("a.b/c")], "skills": [{"k": 1}]}, "future": 1});
        let parsed = parse(up.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.format_name(), "upstream registry");
        let RegistryFile::Upstream(reg) = &parsed else {
            panic!()
        };
        assert_eq!(serde_json::to_value(reg).unwrap(), up);

        let list = json!([server("a.b/c"), server("a.b/d")]);
        let parsed = parse(list.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.server_count(), 2);
        assert!(matches!(parsed, RegistryFile::ServerList(_)));

        let legacy = json!({"version": "1.0.0", "servers": {"abc": {"description": "long enough", "image": "x/y:1"}}});
        let parsed = parse(legacy.to_string().as_bytes()).unwrap();
        assert!(matches!(parsed, RegistryFile::Legacy(_)));
        let servers = parsed.into_servers().unwrap();
        assert_eq!(servers[0].name, "io.github.stacklok/abc");
    }

    #[test]
    fn errors_name_the_problem() {
        let err = parse(b"[{\"name\": \"a.b/c\"").unwrap_err();
        assert!(
            matches!(err, RegistryFileError::Truncated { line: 1, .. }),
            "{err}"
        );
        let err = parse(b"{\"a\": tru}").unwrap_err();
        assert!(
            matches!(err, RegistryFileError::Syntax { line: 1, .. }),
            "{err}"
        );
        assert_eq!(parse(b"  \n").unwrap_err(), RegistryFileError::Empty);
        let err = parse(b"{}").unwrap_err().to_string();
        assert!(
            err.contains("an empty object") && err.contains(EXPECTED),
            "{err}"
        );
        let err = parse(b"\"x\"").unwrap_err().to_string();
        assert!(err.contains("found a string"), "{err}");
        let err = parse(server("a.b/c").to_string().as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("single server.json"), "{err}");
        let err = parse(br#"{"data": {"servers": [{"description": "d", "version": "1"}]}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("data.servers[0]") && err.contains("name"),
            "{err}"
        );
        let err = parse(br#"{"data": {"servers": {"x": {}}}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected an array"), "{err}");
        let err = parse(br#"{"data": []}"#).unwrap_err().to_string();
        assert!(
            err.contains("data") && err.contains("found an array"),
            "{err}"
        );
        let err = parse(br#"{"servers": [{"server": {}, "_meta": {}}], "metadata": {}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("registry API list response: servers[0].server") && err.contains("name"),
            "{err}"
        );
        let err = parse(br#"{"servers": [{"name": "a.b/c", "version": "1"}]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("servers[0]: no `server` in the item"), "{err}");
        let err = parse(br#"{"remote_servers": []}"#).unwrap_err().to_string();
        assert!(
            err.contains("remote_servers") && err.contains("found an array"),
            "{err}"
        );
        let err = parse(br#"{"servers": {"abc": {"tools": "x"}}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("servers.abc"), "{err}");
        let err = parse(br#"[1]"#).unwrap_err().to_string();
        assert!(err.contains("[0]") && err.contains("a number"), "{err}");
    }
}
