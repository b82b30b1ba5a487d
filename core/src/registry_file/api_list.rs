//! The MCP Registry API's list response read as a registry file: `{"servers": [{"server": server.json, "_meta":
//! {"io.modelcontextprotocol.registry/official": {...}}}], "metadata": {"nextCursor", "count"}}` — what
//! `GET /v0.1/servers` returns, and what mirrors and crawls of the official registry save.
//!
//! Each entry's registry metadata (status, its message and time, `publishedAt`, `updatedAt`, `isLatest`) is read
//! by [`official_meta`], from the item's `_meta` or, as registry files written by this project keep it and as
//! the official registry served it before 2025-09-29, from the document's own `_meta` — there the names were
//! snake_case (`published_at`, `is_latest`) and the status was the document's top-level `status`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::api::{OfficialMeta, ServerStatus};
use crate::legacy::json_kind;
use crate::server::{OFFICIAL_META, ServerJson};

/// The format's name in messages.
pub const API_LIST: &str = "registry API list response";

/// A list response: its items and what else it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiListFile {
    pub servers: Vec<ApiListItem>,
    /// `metadata` (`nextCursor`, `count`), as it was.
    pub metadata: Map<String, Value>,
    /// Any other top-level key.
    pub extra: Map<String, Value>,
}

impl ApiListFile {
    /// The servers, each with its registry metadata in its `_meta` (as registry files other than list responses
    /// keep it).
    pub fn into_servers(self) -> Vec<ServerJson> {
        self.servers
            .into_iter()
            .map(|item| {
                let mut server = item.server;
                if let Some(o) = &item.official
                    && let Ok(v) = serde_json::to_value(o)
                {
                    server
                        .meta
                        .get_or_insert_with(Map::new)
                        .insert(OFFICIAL_META.to_owned(), v);
                }
                server
            })
            .collect()
    }
}

/// One item of a list response.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiListItem {
    pub server: ServerJson,
    pub official: Option<OfficialMeta>,
    /// The item's other `_meta` keys (a subregistry's own).
    pub meta: Map<String, Value>,
}

/// The `_meta` path of the registry metadata in messages.
pub(crate) fn official_path(at: &str) -> String {
    let base = if at.is_empty() {
        "_meta".to_owned()
    } else {
        format!("{at}._meta")
    };
    format!("{base}[\"{OFFICIAL_META}\"]")
}

/// Removes `_meta["io.modelcontextprotocol.registry/official"]` from a document (and `_meta` when that leaves it
/// empty), returning it.
pub fn take_official(doc: &mut Value) -> Option<Value> {
    let obj = doc.as_object_mut()?;
    let meta = obj.get_mut("_meta")?.as_object_mut()?;
    let taken = meta.remove(OFFICIAL_META)?;
    if meta.is_empty() {
        obj.remove("_meta");
    }
    Some(taken)
}

/// Puts the registry metadata into a document's `_meta` (where registry files keep it beside each server.json).
pub fn embed_official(doc: &mut Value, official: &OfficialMeta) {
    let Some(obj) = doc.as_object_mut() else {
        return;
    };
    let meta = obj
        .entry("_meta")
        .or_insert_with(|| Value::Object(Map::new()));
    if let (Some(meta), Ok(value)) = (meta.as_object_mut(), serde_json::to_value(official)) {
        meta.insert(OFFICIAL_META.to_owned(), value);
    }
}

/// What is wrong with a version's registry metadata, naming the field (camelCase).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetaError {
    #[error("expected an object, found {0}")]
    NotObject(&'static str),
    #[error("{field}: {rule}")]
    Field { field: &'static str, rule: String },
}

impl MetaError {
    /// The error said of the metadata at `path`: `path.field: rule`, or `path: what it is` for the whole block.
    pub fn at(&self, path: &str) -> String {
        match self {
            Self::NotObject(_) => format!("{path}: {self}"),
            Self::Field { .. } => format!("{path}.{self}"),
        }
    }

    fn field(field: &'static str, rule: impl Into<String>) -> Self {
        Self::Field {
            field,
            rule: rule.into(),
        }
    }
}

/// Reads registry metadata (`value`, the object under the official key) leniently: the current camelCase names
/// or the snake_case ones used before 2025-09-29; `publishedAt` is required, `updatedAt` defaults to it,
/// `statusChangedAt` to `updatedAt`, the status to the document's own `status` (before 2025-09-29) or `active`,
/// `isLatest` to false. The error names the field and what is wrong with it.
pub fn official_meta(value: &Value, doc: &Value) -> Result<OfficialMeta, MetaError> {
    let Value::Object(m) = value else {
        return Err(MetaError::NotObject(json_kind(value)));
    };
    let get = |camel: &str, snake: &str| {
        m.get(camel)
            .or_else(|| m.get(snake))
            .filter(|v| !v.is_null())
    };
    let time = |camel: &'static str, snake: &str| -> Result<Option<DateTime<Utc>>, MetaError> {
        match get(camel, snake) {
            None => Ok(None),
            Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|e| {
                    MetaError::field(camel, format!("not an RFC 3339 timestamp ({e}): {s:?}"))
                }),
            Some(other) => Err(MetaError::field(
                camel,
                format!("expected an RFC 3339 timestamp, found {}", json_kind(other)),
            )),
        }
    };
    let published_at = time("publishedAt", "published_at")?
        .ok_or_else(|| MetaError::field("publishedAt", "missing (required)"))?;
    let updated_at = time("updatedAt", "updated_at")?.unwrap_or(published_at);
    let status_changed_at = time("statusChangedAt", "status_changed_at")?.unwrap_or(updated_at);
    let status = match get("status", "status").or_else(|| doc.get("status")) {
        None => ServerStatus::Active,
        Some(Value::String(s)) => s
            .parse()
            .map_err(|e: crate::api::UnknownStatus| MetaError::field("status", e.to_string()))?,
        Some(other) => {
            return Err(MetaError::field(
                "status",
                format!("expected a string, found {}", json_kind(other)),
            ));
        }
    };
    let status_message = match get("statusMessage", "status_message") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(MetaError::field(
                "statusMessage",
                format!("expected a string, found {}", json_kind(other)),
            ));
        }
    };
    let is_latest = match get("isLatest", "is_latest") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(MetaError::field(
                "isLatest",
                format!("expected a boolean, found {}", json_kind(other)),
            ));
        }
    };
    Ok(OfficialMeta {
        status,
        status_message,
        status_changed_at,
        published_at,
        updated_at,
        is_latest,
    })
}

/// A document of a registry file as read: the server.json (with the registry metadata taken out of it), the
/// metadata, and what kept it from being read, if anything.
#[derive(Debug, Clone, PartialEq)]
pub struct FileEntry {
    /// Where it is in the file: `data.servers[3]`, `[3]`, `servers[3].server`, or for a converted legacy entry
    /// `NAME (converted from the legacy format)`.
    pub path: String,
    /// The server.json document as written (`Null` when the item held none).
    pub value: Value,
    /// The registry's metadata of this version, when the file has it.
    pub official: Option<OfficialMeta>,
    /// A list item's other `_meta` keys (a subregistry's own), kept when the file is written back.
    pub item_meta: Map<String, Value>,
    /// Why the entry cannot be used as it is (an item without a `server`, unreadable registry metadata), naming
    /// the path and the field.
    pub error: Option<String>,
}

impl FileEntry {
    /// A document (of any format) whose registry metadata, if any, is in its own `_meta`.
    pub fn from_document(path: String, mut value: Value) -> Self {
        let inner = take_official(&mut value);
        let (official, error) = match inner {
            None => (None, None),
            Some(meta) => match official_meta(&meta, &value) {
                Ok(o) => (Some(o), None),
                Err(e) => (None, Some(e.at(&official_path(&path)))),
            },
        };
        Self {
            path,
            value,
            official,
            item_meta: Map::new(),
            error,
        }
    }

    /// An item of a list response (`at` is its path, `servers[3]`): `{"server": {...}, "_meta": {...}}`. The
    /// item's metadata comes first; the document's own is read when the item has none.
    pub fn from_item(at: &str, item: Value) -> Self {
        let path = format!("{at}.server");
        let mut item = match item {
            Value::Object(item) => item,
            other => {
                return Self::broken(
                    path,
                    format!(
                        "{at}: expected an item {{\"server\": {{...}}, \"_meta\": {{...}}}}, found {}",
                        json_kind(&other)
                    ),
                );
            }
        };
        let Some(server) = item.remove("server") else {
            let hint = if item.contains_key("name") {
                " (a server.json document: an item holds one under `server`)"
            } else {
                ""
            };
            return Self::broken(path, format!("{at}: no `server` in the item{hint}"));
        };
        let mut entry = Self::from_document(path, server);
        let mut item_meta = match item.remove("_meta") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m,
            Some(other) => {
                entry.error = Some(format!(
                    "{at}._meta: expected an object, found {}",
                    json_kind(&other)
                ));
                return entry;
            }
        };
        if let Some(meta) = item_meta.remove(OFFICIAL_META) {
            match official_meta(&meta, &entry.value) {
                Ok(o) => {
                    entry.official = Some(o);
                    entry.error = None;
                }
                Err(e) => entry.error = Some(e.at(&official_path(at))),
            }
        }
        entry.item_meta = item_meta;
        entry
    }

    fn broken(path: String, error: String) -> Self {
        Self {
            path,
            value: Value::Null,
            official: None,
            item_meta: Map::new(),
            error: Some(error),
        }
    }

    /// The document with its registry metadata in its `_meta` (how registry files other than list responses
    /// keep it).
    pub fn document_with_official(&self) -> Value {
        let mut doc = self.value.clone();
        if let Some(o) = &self.official {
            embed_official(&mut doc, o);
        }
        doc
    }

    /// The entry as a list response item.
    pub fn to_item(&self) -> Value {
        let mut meta = self.item_meta.clone();
        if let Some(o) = &self.official
            && let Ok(v) = serde_json::to_value(o)
        {
            meta.insert(OFFICIAL_META.to_owned(), v);
        }
        let mut item = Map::new();
        item.insert("server".to_owned(), self.value.clone());
        if !meta.is_empty() {
            item.insert("_meta".to_owned(), Value::Object(meta));
        }
        Value::Object(item)
    }
}

/// A list response holding `items`, with `metadata` as it was except `count` (set) and `nextCursor` (dropped:
/// it pointed into the registry the file was read from).
pub fn list_response(
    items: Vec<Value>,
    mut metadata: Map<String, Value>,
    extra: &Map<String, Value>,
) -> Value {
    metadata.remove("nextCursor");
    metadata.remove("next_cursor");
    metadata.insert("count".to_owned(), Value::from(items.len()));
    let mut top = Map::new();
    top.insert("servers".to_owned(), Value::Array(items));
    top.insert("metadata".to_owned(), Value::Object(metadata));
    for (k, v) in extra {
        top.entry(k.clone()).or_insert_with(|| v.clone());
    }
    Value::Object(top)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T: &str = "2025-10-01T10:00:00.123456789Z";

    #[test]
    fn current_and_pre_2025_09_29_metadata_are_read() {
        let doc = json!({"name": "a.b/c"});
        let o = official_meta(
            &json!({"status": "deprecated", "statusMessage": "old", "publishedAt": T,
                    "updatedAt": "2025-10-02T00:00:00Z", "statusChangedAt": "2025-10-03T00:00:00Z", "isLatest": true}),
            &doc,
        )
        .unwrap();
        assert_eq!(o.status, ServerStatus::Deprecated);
        assert_eq!(o.status_message.as_deref(), Some("old"));
        assert_eq!(
            o.published_at.to_rfc3339(),
            "2025-10-01T10:00:00.123456789+00:00"
        );
        assert!(o.is_latest);
        // Before 2025-09-29: snake_case, ids, and the status in the document.
        let old = official_meta(
            &json!({"id": "x", "published_at": T, "is_latest": true}),
            &json!({"status": "deprecated"}),
        )
        .unwrap();
        assert_eq!(old.status, ServerStatus::Deprecated);
        assert_eq!(old.updated_at, old.published_at);
        assert_eq!(old.status_changed_at, old.published_at);
        assert!(old.is_latest);
        for (bad, why) in [
            (json!({}), "publishedAt: missing"),
            (
                json!({"publishedAt": "yesterday"}),
                "publishedAt: not an RFC 3339 timestamp",
            ),
            (
                json!({"publishedAt": T, "status": "gone"}),
                "status: invalid status 'gone'",
            ),
            (
                json!({"publishedAt": T, "isLatest": "yes"}),
                "isLatest: expected a boolean",
            ),
            (json!([]), "expected an object, found an array"),
        ] {
            let e = official_meta(&bad, &doc).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
        // Said of a path: a field after a dot, the whole block after a colon (it was `….expected an object`).
        let at = |bad: Value| official_meta(&bad, &doc).unwrap_err().at("x._meta[\"o\"]");
        assert_eq!(
            at(json!("s")),
            "x._meta[\"o\"]: expected an object, found a string"
        );
        assert_eq!(
            at(json!({"isLatest": true})),
            "x._meta[\"o\"].publishedAt: missing (required)"
        );
    }

    #[test]
    fn items_give_the_document_and_its_metadata() {
        let item = json!({"server": {"name": "a.b/c", "_meta": {OFFICIAL_META: {"publishedAt": "2020-01-01T00:00:00Z"},
                "io.modelcontextprotocol.registry/publisher-provided": {"k": 1}}},
            "_meta": {OFFICIAL_META: {"publishedAt": T, "isLatest": true}, "com.example/mirror": {"x": 1}}});
        let e = FileEntry::from_item("servers[0]", item);
        assert_eq!(e.error, None);
        assert_eq!(e.path, "servers[0].server");
        assert_eq!(
            e.value,
            json!({"name": "a.b/c", "_meta": {"io.modelcontextprotocol.registry/publisher-provided": {"k": 1}}})
        );
        assert!(
            e.official.as_ref().unwrap().is_latest,
            "the item's metadata wins"
        );
        assert_eq!(
            e.item_meta,
            json!({"com.example/mirror": {"x": 1}})
                .as_object()
                .unwrap()
                .clone()
        );
        let back = e.to_item();
        assert_eq!(back["_meta"]["com.example/mirror"]["x"], 1);
        assert_eq!(back["_meta"][OFFICIAL_META]["isLatest"], true);

        let e = FileEntry::from_item("servers[1]", json!({"name": "a.b/c", "version": "1"}));
        assert!(
            e.error
                .unwrap()
                .contains("servers[1]: no `server` in the item (a server.json")
        );
        let e = FileEntry::from_item("servers[2]", json!(3));
        assert!(e.error.unwrap().contains("found a number"));
        let e = FileEntry::from_item(
            "servers[3]",
            json!({"server": {"name": "a.b/c"}, "_meta": {OFFICIAL_META: {"isLatest": true}}}),
        );
        assert_eq!(
            e.error.as_deref(),
            Some(
                "servers[3]._meta[\"io.modelcontextprotocol.registry/official\"].publishedAt: missing (required)"
            )
        );
        // A document keeping its metadata in its own `_meta` (registry files written by this project).
        let mut doc = json!({"name": "a.b/c", "_meta": {}});
        embed_official(
            &mut doc,
            &official_meta(&json!({"publishedAt": T}), &json!({})).unwrap(),
        );
        let e = FileEntry::from_document("data.servers[0]".into(), doc.clone());
        assert_eq!(e.value, json!({"name": "a.b/c"}));
        assert_eq!(e.document_with_official(), doc);
    }

    #[test]
    fn a_list_response_is_written_with_its_count_and_no_cursor() {
        let meta = json!({"nextCursor": "a:1", "count": 30, "x": 1});
        let out = list_response(
            vec![json!({"server": {}})],
            meta.as_object().unwrap().clone(),
            &Map::new(),
        );
        assert_eq!(
            out,
            json!({"servers": [{"server": {}}], "metadata": {"count": 1, "x": 1}})
        );
    }
}
