//! The upstream registry file ([`UpstreamRegistry`], ToolHive's current format, also the ToolHive Registry
//! Server's file and git source format): `{"$schema", "version", "meta": {"last_updated"}, "data": {"servers":
//! [server.json], "groups", "skills", "plugins"}}`. Skills, plugins and groups are kept as raw JSON. Reading
//! registry files of every format is [`crate::registry_file`]'s; converting to and from the legacy format
//! [`crate::legacy`]'s.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::server::ServerJson;

/// `$schema` of an upstream registry file (toolhive-core's `upstream-registry.schema.json`).
pub const UPSTREAM_REGISTRY_SCHEMA_URL: &str = "https://raw.githubusercontent.com/stacklok/toolhive-core/main/registry/types/data/upstream-registry.schema.json";
/// The registry file format version ToolHive writes.
pub const REGISTRY_FORMAT_VERSION: &str = "1.0.0";

/// An upstream registry file. Unknown fields are kept at every level.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpstreamRegistry {
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Format version (`1.0.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default)]
    pub meta: UpstreamMeta,
    pub data: UpstreamData,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `meta` of an upstream registry file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpstreamMeta {
    /// RFC 3339 timestamp of the last update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `data` of an upstream registry file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpstreamData {
    #[serde(default)]
    pub servers: Vec<ServerJson>,
    /// `[{name, description, servers: [server.json]}]`, kept as raw JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Value>,
    /// ToolHive skills, kept as raw JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skills: Option<Value>,
    /// ToolHive plugins, kept as raw JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugins: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl UpstreamRegistry {
    /// A registry of `servers` with ToolHive's `$schema` and format version.
    pub fn new(servers: Vec<ServerJson>, last_updated: Option<String>) -> Self {
        Self {
            schema: Some(UPSTREAM_REGISTRY_SCHEMA_URL.to_owned()),
            version: Some(REGISTRY_FORMAT_VERSION.to_owned()),
            meta: UpstreamMeta {
                last_updated,
                extra: Map::new(),
            },
            data: UpstreamData {
                servers,
                ..UpstreamData::default()
            },
            extra: Map::new(),
        }
    }

    /// The file as it is written to disk: pretty-printed JSON (two-space indent) and a trailing newline.
    pub fn to_pretty_json(&self) -> Result<String, serde_json::Error> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        Ok(text)
    }
}
