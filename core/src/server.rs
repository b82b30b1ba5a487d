//! The server.json document (schema 2025-12-11): what a publisher submits and a registry serves.
//!
//! Every struct keeps the fields it does not know in `extra`, and optional fields stay `Option` (an omitted
//! `isRequired` is not the same document as `"isRequired": false`), so parse → serialize is lossless.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The current server.json schema URL; publishes must declare it.
pub const CURRENT_SCHEMA_URL: &str =
    "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json";
/// The current schema version, as it appears in the schema URL.
pub const CURRENT_SCHEMA_VERSION: &str = "2025-12-11";
/// `_meta` key under which publishers put their own metadata (the only `_meta` key a registry keeps on publish).
pub const PUBLISHER_PROVIDED_META: &str = "io.modelcontextprotocol.registry/publisher-provided";
/// `_meta` key of the registry's own metadata on a `ServerResponse`.
pub const OFFICIAL_META: &str = "io.modelcontextprotocol.registry/official";

/// One version of one MCP server (`ServerDetail` in the schema).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerJson {
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<Repository>,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icons: Option<Vec<Icon>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<Vec<Package>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remotes: Option<Vec<Transport>>,
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ServerJson {
    /// The publisher-provided `_meta` object, if any.
    pub fn publisher_provided(&self) -> Option<&Map<String, Value>> {
        self.meta
            .as_ref()?
            .get(PUBLISHER_PROVIDED_META)?
            .as_object()
    }

    /// Keeps only `_meta["io.modelcontextprotocol.registry/publisher-provided"]`, as the official registry does on
    /// publish, and the entry's signature bundle ([`crate::signature::SIGNATURE_META`]); any other `_meta` key is
    /// dropped. An empty `_meta` is removed.
    pub fn retain_publisher_meta(&mut self) {
        if let Some(meta) = self.meta.as_mut() {
            meta.retain(|k, _| {
                k == PUBLISHER_PROVIDED_META || k == crate::signature::SIGNATURE_META
            });
            if meta.is_empty() {
                self.meta = None;
            }
        }
    }

    /// Every remote URL the server declares.
    pub fn remote_urls(&self) -> impl Iterator<Item = &str> {
        self.remotes
            .iter()
            .flatten()
            .filter_map(|r| r.url.as_deref())
    }
}

/// Where the server's source code lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Repository {
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subfolder: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An icon for display in clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Icon {
    pub src: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sizes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theme: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A package in a package registry (npm, pypi, oci, nuget, mcpb, ...) that runs the server locally.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Package {
    pub registry_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_base_url: Option<String>,
    pub identifier: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_hint: Option<String>,
    pub transport: Transport,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_arguments: Option<Vec<Argument>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_arguments: Option<Vec<Argument>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_variables: Option<Vec<KeyValueInput>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A transport: a package's local transport (`stdio`, `streamable-http`, `sse`) or a remote (`streamable-http`,
/// `sse`, with `variables` for URL templates). The type is kept as a string so that an unsupported type reaches
/// semantic validation, which names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transport {
    #[serde(rename = "type")]
    pub transport_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Vec<KeyValueInput>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Transport {
    pub const STDIO: &'static str = "stdio";
    pub const STREAMABLE_HTTP: &'static str = "streamable-http";
    pub const SSE: &'static str = "sse";

    pub fn stdio() -> Self {
        Self {
            transport_type: Self::STDIO.into(),
            url: None,
            headers: None,
            variables: None,
            extra: Map::new(),
        }
    }

    pub fn http(transport_type: &str, url: impl Into<String>) -> Self {
        Self {
            transport_type: transport_type.into(),
            url: Some(url.into()),
            headers: None,
            variables: None,
            extra: Map::new(),
        }
    }
}

/// A user input: the common part of environment variables, headers and arguments.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_required: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_secret: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Input {
    pub fn required(&self) -> bool {
        self.is_required.unwrap_or(false)
    }
    pub fn secret(&self) -> bool {
        self.is_secret.unwrap_or(false)
    }
}

/// A named input: an environment variable or an HTTP header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyValueInput {
    pub name: String,
    #[serde(flatten)]
    pub input: Input,
}

/// A runtime or package argument: `positional` (with `valueHint` or `value`) or `named` (with `name`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Argument {
    #[serde(rename = "type")]
    pub argument_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_hint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_repeated: Option<bool>,
    #[serde(flatten)]
    pub input: Input,
}

impl Argument {
    pub const POSITIONAL: &'static str = "positional";
    pub const NAMED: &'static str = "named";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_unknown_fields_and_explicit_false() {
        let doc = serde_json::json!({
            "$schema": CURRENT_SCHEMA_URL,
            "name": "io.github.example/weather",
            "description": "Weather",
            "version": "1.0.0",
            "futureField": {"x": 1},
            "packages": [{
                "registryType": "npm", "identifier": "@ex/weather", "version": "1.0.0",
                "transport": {"type": "stdio", "futureTransportField": true},
                "environmentVariables": [{"name": "KEY", "isSecret": false, "x-extra": 3}],
                "packageArguments": [{"type": "named", "name": "--port", "default": "8080"}]
            }],
            "remotes": [{"type": "sse", "url": "https://{host}/sse", "variables": {"host": {"isRequired": true}}}],
            "_meta": {PUBLISHER_PROVIDED_META: {"a": 1}, "other": {"b": 2}}
        });
        let parsed: ServerJson = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), doc);
    }

    #[test]
    fn retain_publisher_meta_drops_other_keys() {
        let mut s: ServerJson = serde_json::from_value(serde_json::json!({
            "name": "a.b/c", "description": "d", "version": "1",
            "_meta": {PUBLISHER_PROVIDED_META: {"a": 1}, "other": 2}
        }))
        .unwrap();
        s.retain_publisher_meta();
        assert_eq!(
            serde_json::to_value(&s.meta).unwrap(),
            serde_json::json!({PUBLISHER_PROVIDED_META: {"a": 1}})
        );
        s.meta.as_mut().unwrap().clear();
        s.meta.as_mut().unwrap().insert("x".into(), Value::Null);
        s.retain_publisher_meta();
        assert!(s.meta.is_none());
    }
}
