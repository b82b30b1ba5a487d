//! The server.json document (schema 2025-12-11): what a publisher submits and a registry serves.
//!
//! Every struct keeps the fields it does not know in `extra`, and optional fields stay `Option` (an omitted
//! `isRequired` is not the same document as `"isRequired": false`), so parse → serialize is lossless.
//!
//! Documents of every published schema version are read: the snake_case field names of 2025-07-09
//! (`registry_type`, `environment_variables`, `is_secret`, `website_url`, ...) are accepted as aliases of their
//! camelCase names. Serializing writes the current (camelCase) names, so where a document must stay as it was
//! written (seeding, syncing, importing), its raw JSON is kept rather than this model's serialization.

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
/// The `_meta` key of an entry's signature bundle ([`crate::signature`]).
pub const SIGNATURE_META: &str = "io.github.stacklok.toolhive/signature";

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
    #[serde(alias = "website_url")]
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
    /// publish, and the entry's signature bundle ([`SIGNATURE_META`]); any other `_meta` key is
    /// dropped. An empty `_meta` is removed.
    pub fn retain_publisher_meta(&mut self) {
        if let Some(meta) = self.meta.as_mut() {
            meta.retain(|k, _| is_publisher_meta_key(k));
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

/// Whether a `_meta` key is one a registry keeps from a publisher: the publisher-provided metadata and the
/// entry's signature bundle.
pub fn is_publisher_meta_key(key: &str) -> bool {
    key == PUBLISHER_PROVIDED_META || key == SIGNATURE_META
}

/// [`ServerJson::retain_publisher_meta`] on a raw document, which is otherwise left exactly as it is: every other
/// `_meta` key is removed, and `_meta` itself when nothing is left in it. A `_meta` that is not an object is left
/// to validation.
pub fn retain_publisher_meta_in(doc: &mut Value) {
    let Some(obj) = doc.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(meta)) = obj.get_mut("_meta") {
        meta.retain(|k, _| is_publisher_meta_key(k));
        if meta.is_empty() {
            obj.remove("_meta");
        }
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
    #[serde(alias = "registry_type")]
    pub registry_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "registry_base_url")]
    pub registry_base_url: Option<String>,
    pub identifier: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "file_sha256")]
    pub file_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "runtime_hint")]
    pub runtime_hint: Option<String>,
    pub transport: Transport,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "runtime_arguments")]
    pub runtime_arguments: Option<Vec<Argument>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "package_arguments")]
    pub package_arguments: Option<Vec<Argument>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "environment_variables")]
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
    #[serde(alias = "is_required")]
    pub is_required: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "is_secret")]
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
    #[serde(alias = "value_hint")]
    pub value_hint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "is_repeated")]
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
    fn snake_case_names_of_2025_07_09_are_read() {
        let doc = serde_json::json!({
            "$schema": "https://static.modelcontextprotocol.io/schemas/2025-07-09/server.schema.json",
            "name": "io.github.example/snake", "description": "d", "version": "1.0.0", "status": "active",
            "website_url": "https://example.com",
            "packages": [{
                "registry_type": "npm", "registry_base_url": "https://registry.npmjs.org", "identifier": "x",
                "version": "1.0.0", "file_sha256": "ab", "runtime_hint": "npx", "transport": {"type": "stdio"},
                "runtime_arguments": [{"type": "positional", "value_hint": "dir", "is_repeated": true}],
                "package_arguments": [{"type": "named", "name": "--port", "is_required": true}],
                "environment_variables": [{"name": "TOKEN", "is_secret": true}]
            }]
        });
        let s: ServerJson = serde_json::from_value(doc).unwrap();
        assert_eq!(s.website_url.as_deref(), Some("https://example.com"));
        let p = &s.packages.as_ref().unwrap()[0];
        assert_eq!(p.registry_type, "npm");
        assert_eq!(
            p.registry_base_url.as_deref(),
            Some("https://registry.npmjs.org")
        );
        assert_eq!(p.file_sha256.as_deref(), Some("ab"));
        assert_eq!(p.runtime_hint.as_deref(), Some("npx"));
        let rt = &p.runtime_arguments.as_ref().unwrap()[0];
        assert_eq!(
            (rt.value_hint.as_deref(), rt.is_repeated),
            (Some("dir"), Some(true))
        );
        assert!(p.package_arguments.as_ref().unwrap()[0].input.required());
        assert!(p.environment_variables.as_ref().unwrap()[0].input.secret());
        assert_eq!(s.extra["status"], "active");
        assert!(p.extra.is_empty(), "{:?}", p.extra);
    }

    #[test]
    fn retain_publisher_meta_in_a_raw_document() {
        let mut doc = serde_json::json!({"name": "a.b/c", "z": 1,
            "_meta": {PUBLISHER_PROVIDED_META: {"a": 1}, OFFICIAL_META: {"isLatest": true}}});
        retain_publisher_meta_in(&mut doc);
        assert_eq!(
            doc,
            serde_json::json!({"name": "a.b/c", "z": 1, "_meta": {PUBLISHER_PROVIDED_META: {"a": 1}}})
        );
        let mut doc = serde_json::json!({"name": "a.b/c", "_meta": {OFFICIAL_META: {}}});
        retain_publisher_meta_in(&mut doc);
        assert_eq!(doc, serde_json::json!({"name": "a.b/c"}));
        let mut doc = serde_json::json!({"name": "a.b/c", "_meta": 3});
        retain_publisher_meta_in(&mut doc);
        assert_eq!(doc["_meta"], 3);
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
