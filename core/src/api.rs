//! The shapes of the MCP Registry API (v0 and v0.1): list and detail responses, the registry's official metadata,
//! status updates and the error body. Shared by the server, the curation CLI and the runner's registry client.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::server::{OFFICIAL_META, ServerJson};

/// Lifecycle status of one server version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerStatus {
    Active,
    Deprecated,
    Deleted,
}

impl ServerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Deprecated => "deprecated",
            Self::Deleted => "deleted",
        }
    }
}

impl fmt::Display for ServerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is none of [`ServerStatus`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid status '{0}': must be one of active, deprecated, deleted")]
pub struct UnknownStatus(pub String);

impl FromStr for ServerStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, UnknownStatus> {
        match s {
            "active" => Ok(Self::Active),
            "deprecated" => Ok(Self::Deprecated),
            "deleted" => Ok(Self::Deleted),
            other => Err(UnknownStatus(other.to_owned())),
        }
    }
}

/// `_meta["io.modelcontextprotocol.registry/official"]`: what the registry itself knows about a version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OfficialMeta {
    pub status: ServerStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    #[serde(with = "rfc3339")]
    pub status_changed_at: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    pub published_at: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    pub updated_at: DateTime<Utc>,
    pub is_latest: bool,
}

/// Response-level `_meta` of a `ServerResponse`. Other keys (a subregistry's own) are kept in `extra`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResponseMeta {
    #[serde(
        rename = "io.modelcontextprotocol.registry/official",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub official: Option<OfficialMeta>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One server version as the API returns it. `S` is the server document: typed for clients, or pre-serialized
/// JSON (`Box<RawValue>`) where a server passes stored documents through without re-parsing them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerResponse<S = ServerJson> {
    pub server: S,
    #[serde(rename = "_meta", default)]
    pub meta: ResponseMeta,
}

impl<S> ServerResponse<S> {
    pub fn official(&self) -> Option<&OfficialMeta> {
        self.meta.official.as_ref()
    }
}

/// Pagination metadata of a list response.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    #[serde(default)]
    pub count: usize,
}

/// `GET /v0.1/servers` and `GET /v0.1/servers/{name}/versions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerList<S = ServerJson> {
    pub servers: Vec<ServerResponse<S>>,
    #[serde(default)]
    pub metadata: ListMetadata,
}

/// Body of `PATCH .../status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusUpdateRequest {
    pub status: ServerStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
}

/// Response of `PATCH /v0.1/servers/{name}/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AllVersionsStatusResponse<S = ServerJson> {
    pub updated_count: usize,
    pub servers: Vec<ServerResponse<S>>,
}

/// The error body every endpoint returns: `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// Formats a timestamp as the official registry does (RFC 3339, UTC, `Z`, fractional seconds only when present).
pub fn format_timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Serde helpers for RFC 3339 timestamps in the registry's format.
pub mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_timestamp(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

impl OfficialMeta {
    /// The JSON key this metadata is served under.
    pub const KEY: &'static str = OFFICIAL_META;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_meta_uses_upstream_field_names() {
        let t = DateTime::parse_from_rfc3339("2025-10-14T12:00:00.5Z")
            .unwrap()
            .with_timezone(&Utc);
        let m = OfficialMeta {
            status: ServerStatus::Active,
            status_message: None,
            status_changed_at: t,
            published_at: t,
            updated_at: t,
            is_latest: true,
        };
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"status": "active", "statusChangedAt": "2025-10-14T12:00:00.500Z",
                "publishedAt": "2025-10-14T12:00:00.500Z", "updatedAt": "2025-10-14T12:00:00.500Z", "isLatest": true})
        );
        let back: OfficialMeta = serde_json::from_value(v).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn status_parses_only_the_three_values() {
        assert_eq!(
            "deleted".parse::<ServerStatus>().unwrap(),
            ServerStatus::Deleted
        );
        assert!(
            "Active"
                .parse::<ServerStatus>()
                .unwrap_err()
                .to_string()
                .contains("active, deprecated, deleted")
        );
    }
}
