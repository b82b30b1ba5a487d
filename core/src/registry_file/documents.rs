//! The server.json documents of a registry file, raw, each with its registry metadata: read one at a time
//! ([`ServerDocuments`], for seeding and syncing files of any size) or whole and written back in the file's own
//! format ([`RegistryDocument`], for the curation commands).
//!
//! Both keep each document exactly as the file has it — whatever schema version it declares — apart from the
//! registry metadata (`_meta["io.modelcontextprotocol.registry/official"]`), which is taken out of a document's
//! `_meta` (or read from a list response item) into [`FileEntry::official`].

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::api_list::{API_LIST, FileEntry};
use super::{
    LEGACY, RegistryFile, RegistryFileError, SERVER_LIST, UPSTREAM, UpstreamRegistry, invalid,
    parse_server, syntax_error,
};
use crate::legacy;
use crate::server::ServerJson;

/// The format of a registry file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `{"$schema", "version", "meta", "data": {"servers": [...]}}`.
    Upstream,
    /// ToolHive's legacy `{"servers": {NAME: {...}}, "remote_servers": {...}}`.
    Legacy,
    /// A JSON array of server.json documents.
    ServerList,
    /// A registry API list response `{"servers": [{"server", "_meta"}], "metadata"}`.
    ApiList,
}

impl FileKind {
    /// The format's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Upstream => UPSTREAM,
            Self::Legacy => LEGACY,
            Self::ServerList => SERVER_LIST,
            Self::ApiList => API_LIST,
        }
    }
}

/// The label of a document converted from a legacy entry.
fn converted_label(name: &str) -> String {
    format!("{name} (converted from the legacy format)")
}

/// The server.json documents of a registry file, read one at a time.
///
/// For an upstream registry, a server list or a list response only the file's outline is parsed up front (each
/// document stays a borrowed slice of the input), so a registry of 100,000 versions is read without building a
/// tree of the whole file; a legacy registry (small by nature) is parsed and converted whole.
pub struct ServerDocuments<'a> {
    kind: FileKind,
    docs: Documents<'a>,
}

enum Documents<'a> {
    /// server.json documents (upstream `data.servers`, a server list), with the path prefix.
    Raw(&'static str, Vec<&'a RawValue>),
    /// List response items.
    Items(Vec<&'a RawValue>),
    /// Converted from the legacy format.
    Converted(Vec<ServerJson>),
}

/// Just the identity of a document, for passes that need no more.
#[derive(Deserialize)]
struct Identity {
    name: String,
    version: String,
}

#[derive(Deserialize)]
struct ItemIdentity {
    server: Identity,
}

/// What a raw value is, for messages, from its first character.
fn raw_kind(raw: &RawValue) -> &'static str {
    match raw.get().trim_start().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

impl<'a> ServerDocuments<'a> {
    /// Reads the outline of a registry file of any supported format (see [`RegistryFile::parse`]).
    pub fn read(bytes: &'a [u8]) -> Result<Self, RegistryFileError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            None => Err(RegistryFileError::Empty),
            Some(b'[') => {
                let docs: Vec<&RawValue> = serde_json::from_slice(bytes).map_err(syntax_error)?;
                Ok(Self {
                    kind: FileKind::ServerList,
                    docs: Documents::Raw("", docs),
                })
            }
            Some(b'{') => {
                let top: HashMap<String, &RawValue> =
                    serde_json::from_slice(bytes).map_err(syntax_error)?;
                if let Some(data) = top.get("data") {
                    return Ok(Self {
                        kind: FileKind::Upstream,
                        docs: Documents::Raw("data.servers", upstream_outline(data)?),
                    });
                }
                if let Some(servers) = top.get("servers")
                    && raw_kind(servers) == "an array"
                {
                    let items: Vec<&RawValue> =
                        serde_json::from_str(servers.get()).map_err(syntax_error)?;
                    return Ok(Self {
                        kind: FileKind::ApiList,
                        docs: Documents::Items(items),
                    });
                }
                let servers = RegistryFile::parse(bytes)?.into_servers()?;
                Ok(Self {
                    kind: FileKind::Legacy,
                    docs: Documents::Converted(servers),
                })
            }
            // Neither an array nor an object: `parse` names what it is.
            Some(_) => Err(RegistryFile::parse(bytes)
                .err()
                .unwrap_or(RegistryFileError::Empty)),
        }
    }

    /// The file's format.
    pub fn kind(&self) -> FileKind {
        self.kind
    }

    pub fn len(&self) -> usize {
        match &self.docs {
            Documents::Raw(_, d) | Documents::Items(d) => d.len(),
            Documents::Converted(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where the `i`th document is in the file (`data.servers[3]`, `servers[3].server`, ...).
    pub fn path(&self, i: usize) -> String {
        match &self.docs {
            Documents::Raw(prefix, _) => format!("{prefix}[{i}]"),
            Documents::Items(_) => format!("servers[{i}].server"),
            Documents::Converted(d) => converted_label(&d[i].name),
        }
    }

    /// The `i`th document, raw, with its registry metadata (see [`FileEntry`]).
    pub fn entry(&self, i: usize) -> FileEntry {
        match &self.docs {
            Documents::Raw(_, d) => match serde_json::from_str::<Value>(d[i].get()) {
                Ok(value) => FileEntry::from_document(self.path(i), value),
                Err(e) => unreadable(self.path(i), &e),
            },
            Documents::Items(d) => match serde_json::from_str::<Value>(d[i].get()) {
                Ok(item) => FileEntry::from_item(&format!("servers[{i}]"), item),
                Err(e) => unreadable(self.path(i), &e),
            },
            Documents::Converted(d) => match serde_json::to_value(&d[i]) {
                Ok(value) => FileEntry::from_document(self.path(i), value),
                Err(e) => unreadable(self.path(i), &e),
            },
        }
    }

    /// The `i`th document, parsed (an entry that cannot be read is an error naming its path).
    pub fn get(&self, i: usize) -> Result<ServerJson, RegistryFileError> {
        let entry = self.entry(i);
        if let Some(error) = entry.error {
            return Err(invalid(self.kind.name(), entry.path, error));
        }
        parse_server(self.kind.name(), entry.path, &entry.value)
    }

    /// The name and version of the `i`th document, without parsing the rest of it.
    pub fn identity(&self, i: usize) -> Result<(String, String), RegistryFileError> {
        let failed = |e: serde_json::Error| invalid(self.kind.name(), self.path(i), e.to_string());
        match &self.docs {
            Documents::Raw(_, d) => serde_json::from_str::<Identity>(d[i].get())
                .map(|id| (id.name, id.version))
                .map_err(failed),
            Documents::Items(d) => serde_json::from_str::<ItemIdentity>(d[i].get())
                .map(|id| (id.server.name, id.server.version))
                .map_err(failed),
            Documents::Converted(d) => Ok((d[i].name.clone(), d[i].version.clone())),
        }
    }
}

pub(super) fn unreadable(path: String, e: &serde_json::Error) -> FileEntry {
    FileEntry {
        error: Some(format!("{path}: {e}")),
        ..FileEntry::from_document(path, Value::Null)
    }
}

/// The documents of an upstream registry's `data.servers`, with messages naming what is wrong.
fn upstream_outline(data: &RawValue) -> Result<Vec<&RawValue>, RegistryFileError> {
    if raw_kind(data) != "an object" {
        return Err(invalid(
            UPSTREAM,
            "data",
            format!(
                "expected an object {{servers: [...]}}, found {}",
                raw_kind(data)
            ),
        ));
    }
    let data: HashMap<String, &RawValue> =
        serde_json::from_str(data.get()).map_err(syntax_error)?;
    let Some(servers) = data.get("servers") else {
        return Err(invalid(
            UPSTREAM,
            "data.servers",
            "missing: expected an array of server.json",
        ));
    };
    if raw_kind(servers) != "an array" {
        let hint = if raw_kind(servers) == "an object" {
            " (a map of servers keyed by name is the legacy format's top-level `servers`)"
        } else {
            ""
        };
        return Err(invalid(
            UPSTREAM,
            "data.servers",
            format!(
                "expected an array of server.json, found {}{hint}",
                raw_kind(servers)
            ),
        ));
    }
    serde_json::from_str(servers.get()).map_err(syntax_error)
}

/// A registry file read whole: its documents (raw, with their metadata) and the rest of the file, so that it
/// can be written back in its own format after its entries changed.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryDocument {
    pub kind: FileKind,
    /// The file without its documents (their place holds an empty array); for a legacy file, the wrapper of its
    /// conversion to the upstream format.
    wrapper: Value,
    pub entries: Vec<FileEntry>,
}

impl RegistryDocument {
    /// Reads a registry file of any supported format.
    pub fn read(bytes: &[u8]) -> Result<Self, RegistryFileError> {
        let docs = ServerDocuments::read(bytes)?;
        let entries: Vec<FileEntry> = (0..docs.len()).map(|i| docs.entry(i)).collect();
        let kind = docs.kind();
        drop(docs);
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let wrapper = match kind {
            FileKind::ServerList => Value::Array(Vec::new()),
            FileKind::Upstream | FileKind::ApiList => {
                let mut top: Value = serde_json::from_slice(bytes).map_err(syntax_error)?;
                let slot = match kind {
                    FileKind::Upstream => top.pointer_mut("/data/servers"),
                    _ => top.get_mut("servers"),
                };
                if let Some(slot) = slot {
                    *slot = Value::Array(Vec::new());
                }
                top
            }
            FileKind::Legacy => {
                let mut upstream = RegistryFile::parse(bytes)?.into_upstream()?;
                upstream.data.servers.clear();
                serde_json::to_value(&upstream)
                    .map_err(|e| invalid(LEGACY, "(top level)", e.to_string()))?
            }
        };
        Ok(Self {
            kind,
            wrapper,
            entries,
        })
    }

    /// An empty upstream registry file (ToolHive's `$schema` and format version).
    pub fn new_upstream() -> Self {
        let wrapper = serde_json::to_value(UpstreamRegistry::new(Vec::new(), None))
            .unwrap_or_else(|_| Value::Object(Map::new()));
        Self {
            kind: FileKind::Upstream,
            wrapper,
            entries: Vec::new(),
        }
    }

    /// The file as written to disk, in its own format: each document as it was read, its registry metadata in
    /// its `_meta` (a list response: beside it, in the item). `last_updated` sets `meta.last_updated` (upstream
    /// and legacy files). A legacy file is converted back from the upstream form (see
    /// [`legacy::upstream_to_legacy`]), which has no place for the registry metadata.
    pub fn to_pretty_json(&self, last_updated: Option<&str>) -> Result<String, RegistryFileError> {
        let value = match self.kind {
            FileKind::ServerList => Value::Array(
                self.entries
                    .iter()
                    .map(FileEntry::document_with_official)
                    .collect(),
            ),
            FileKind::Upstream => {
                let mut top = self.wrapper.clone();
                set_last_updated(&mut top, last_updated);
                let docs = self
                    .entries
                    .iter()
                    .map(FileEntry::document_with_official)
                    .collect();
                if let Some(data) = top.get_mut("data").and_then(Value::as_object_mut) {
                    data.insert("servers".to_owned(), Value::Array(docs));
                }
                top
            }
            FileKind::ApiList => {
                let mut top = self.wrapper.as_object().cloned().unwrap_or_default();
                let metadata = match top.remove("metadata") {
                    Some(Value::Object(m)) => m,
                    _ => Map::new(),
                };
                let items = self.entries.iter().map(FileEntry::to_item).collect();
                top.remove("servers");
                super::api_list::list_response(items, metadata, &top)
            }
            FileKind::Legacy => {
                let mut top = self.wrapper.clone();
                set_last_updated(&mut top, last_updated);
                let mut upstream = UpstreamRegistry::deserialize(&top)
                    .map_err(|e| invalid(LEGACY, "(top level)", e.to_string()))?;
                for e in &self.entries {
                    upstream
                        .data
                        .servers
                        .push(parse_server(LEGACY, e.path.clone(), &e.value)?);
                }
                serde_json::to_value(legacy::upstream_to_legacy(&upstream)?)
                    .map_err(|e| invalid(LEGACY, "(top level)", e.to_string()))?
            }
        };
        let mut text = serde_json::to_string_pretty(&value)
            .map_err(|e| invalid(self.kind.name(), "(top level)", e.to_string()))?;
        text.push('\n');
        Ok(text)
    }
}

fn set_last_updated(top: &mut Value, last_updated: Option<&str>) {
    let (Some(t), Some(top)) = (last_updated, top.as_object_mut()) else {
        return;
    };
    let meta = top
        .entry("meta")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(meta) = meta.as_object_mut() {
        meta.insert("last_updated".to_owned(), Value::String(t.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ServerStatus;
    use crate::server::OFFICIAL_META;
    use serde_json::json;

    const T: &str = "2025-10-01T10:00:00Z";

    fn doc(name: &str, version: &str) -> Value {
        json!({"name": name, "description": "d", "version": version})
    }

    fn with_official(mut d: Value, status: &str) -> Value {
        d["_meta"] = json!({OFFICIAL_META: {"status": status, "publishedAt": T, "isLatest": true}});
        d
    }

    fn snake() -> Value {
        json!({"$schema": "https://static.modelcontextprotocol.io/schemas/2025-07-09/server.schema.json",
               "name": "io.github.a/snake", "description": "d", "version": "1.0.0", "status": "deprecated",
               "packages": [{"registry_type": "npm", "identifier": "x", "version": "1.0.0",
                             "transport": {"type": "stdio"}}],
               "_meta": {OFFICIAL_META: {"published_at": T, "is_latest": true}}})
    }

    #[test]
    fn every_format_gives_raw_documents_with_their_metadata() {
        let list = json!({"servers": [
            {"server": doc("a.b/one", "1"), "_meta": {OFFICIAL_META: {"status": "deleted", "publishedAt": T}}},
            {"server": snake()},
            {"name": "a.b/three"}
        ], "metadata": {"count": 3}});
        let bytes = list.to_string();
        let docs = ServerDocuments::read(bytes.as_bytes()).unwrap();
        assert_eq!(docs.kind(), FileKind::ApiList);
        assert_eq!(docs.len(), 3);
        assert_eq!(docs.identity(0).unwrap(), ("a.b/one".into(), "1".into()));
        let e = docs.entry(0);
        assert_eq!(e.path, "servers[0].server");
        assert_eq!(e.official.unwrap().status, ServerStatus::Deleted);
        // The 2025-07-09 document: kept as written, its metadata of the time read (status from the document).
        let e = docs.entry(1);
        let mut expected = snake();
        expected.as_object_mut().unwrap().remove("_meta");
        assert_eq!(e.value, expected);
        let o = e.official.unwrap();
        assert_eq!((o.status, o.is_latest), (ServerStatus::Deprecated, true));
        assert_eq!(
            docs.get(1).unwrap().packages.unwrap()[0].registry_type,
            "npm"
        );
        let err = docs.get(2).unwrap_err().to_string();
        assert!(err.contains("servers[2]: no `server` in the item"), "{err}");

        let up = json!({"data": {"servers": [with_official(doc("a.b/c", "1"), "deprecated")]}})
            .to_string();
        let docs = ServerDocuments::read(up.as_bytes()).unwrap();
        assert_eq!(docs.kind(), FileKind::Upstream);
        let e = docs.entry(0);
        assert_eq!(
            (e.path.as_str(), e.value.clone()),
            ("data.servers[0]", doc("a.b/c", "1"))
        );
        assert_eq!(e.official.unwrap().status, ServerStatus::Deprecated);

        let arr = json!([doc("a.b/c", "1"), 7]).to_string();
        let docs = ServerDocuments::read(arr.as_bytes()).unwrap();
        assert_eq!(docs.kind(), FileKind::ServerList);
        assert_eq!(docs.entry(1).value, json!(7));
        assert!(docs.get(1).unwrap_err().to_string().contains("[1]"));

        let legacy = json!({"servers": {"abc": {"description": "long enough", "image": "x/y:1"}}})
            .to_string();
        let docs = ServerDocuments::read(legacy.as_bytes()).unwrap();
        assert_eq!(docs.kind(), FileKind::Legacy);
        assert_eq!(
            docs.path(0),
            "io.github.stacklok/abc (converted from the legacy format)"
        );

        for (bad, why) in [
            (
                r#"{"data": []}"#,
                "data: expected an object {servers: [...]}, found an array",
            ),
            (r#"{"data": {}}"#, "data.servers: missing"),
            (
                r#"{"data": {"servers": {"x": {}}}}"#,
                "found an object (a map of servers keyed by name",
            ),
            ("42", "found a number"),
        ] {
            let err = ServerDocuments::read(bad.as_bytes())
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn a_malformed_item_metadata_is_the_entrys_error() {
        let list = json!({"servers": [{"server": doc("a.b/c", "1"),
            "_meta": {OFFICIAL_META: {"status": "gone", "publishedAt": T}}}]})
        .to_string();
        let docs = ServerDocuments::read(list.as_bytes()).unwrap();
        let e = docs.entry(0);
        assert_eq!(e.value, doc("a.b/c", "1"));
        assert!(
            e.error.unwrap().starts_with(
                "servers[0]._meta[\"io.modelcontextprotocol.registry/official\"].status: invalid status 'gone'"
            )
        );
    }

    #[test]
    fn a_registry_document_is_written_back_in_its_own_format() {
        // A list response: items and metadata as they were, count set, cursor dropped.
        let list = json!({"servers": [{"server": snake(), "_meta": {"com.example/x": 1}},
                                      {"server": doc("a.b/c", "1"), "_meta": {OFFICIAL_META: {"publishedAt": T}}}],
                          "metadata": {"nextCursor": "a.b/c:1", "count": 2}, "extra": true});
        let mut d = RegistryDocument::read(list.to_string().as_bytes()).unwrap();
        d.entries.pop();
        let out: Value = serde_json::from_str(&d.to_pretty_json(None).unwrap()).unwrap();
        let mut item_server = snake();
        item_server.as_object_mut().unwrap().remove("_meta");
        assert_eq!(
            out,
            json!({"servers": [{"server": item_server, "_meta": {"com.example/x": 1,
                     OFFICIAL_META: {"status": "deprecated", "publishedAt": T, "updatedAt": T, "statusChangedAt": T, "isLatest": true}}}],
                   "metadata": {"count": 1}, "extra": true})
        );
        // An upstream file: the wrapper kept, metadata in each document's `_meta`, last_updated set.
        let up = json!({"$schema": "s", "version": "1.0.0", "meta": {"last_updated": "old"},
                        "data": {"servers": [with_official(doc("a.b/c", "1"), "active")], "skills": [1]}});
        let d = RegistryDocument::read(up.to_string().as_bytes()).unwrap();
        let out: Value = serde_json::from_str(&d.to_pretty_json(Some("new")).unwrap()).unwrap();
        assert_eq!(out["meta"]["last_updated"], "new");
        assert_eq!(out["data"]["skills"], json!([1]));
        assert_eq!(
            out["data"]["servers"][0]["_meta"][OFFICIAL_META]["status"],
            "active"
        );
        assert_eq!(out["data"]["servers"][0]["name"], "a.b/c");
        // A server list and a new file.
        let d = RegistryDocument::read(json!([doc("a.b/c", "1")]).to_string().as_bytes()).unwrap();
        let out: Value = serde_json::from_str(&d.to_pretty_json(None).unwrap()).unwrap();
        assert_eq!(out, json!([doc("a.b/c", "1")]));
        let mut d = RegistryDocument::new_upstream();
        d.entries
            .push(FileEntry::from_document("x".into(), doc("a.b/c", "1")));
        let out: Value = serde_json::from_str(&d.to_pretty_json(None).unwrap()).unwrap();
        assert_eq!(out["data"]["servers"], json!([doc("a.b/c", "1")]));
        // A legacy file round-trips through its conversion.
        let legacy = json!({"version": "1.0.0", "last_updated": "x",
                            "servers": {"abc": {"description": "long enough", "image": "x/y:1"}}});
        let d = RegistryDocument::read(legacy.to_string().as_bytes()).unwrap();
        let out: Value =
            serde_json::from_str(&d.to_pretty_json(Some("2026-01-01T00:00:00Z")).unwrap()).unwrap();
        assert_eq!(out["servers"]["abc"]["image"], "x/y:1");
    }

    #[test]
    fn the_typed_reading_takes_a_list_response_with_its_metadata() {
        let list = json!({"servers": [{"server": snake()},
            {"server": doc("a.b/c", "1"), "_meta": {OFFICIAL_META: {"publishedAt": T}}}]});
        let parsed = RegistryFile::parse(list.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.format_name(), API_LIST);
        assert_eq!(parsed.server_count(), 2);
        let servers = parsed.into_servers().unwrap();
        assert_eq!(
            servers[0].packages.as_ref().unwrap()[0].registry_type,
            "npm"
        );
        assert_eq!(
            servers[1].meta.as_ref().unwrap()[OFFICIAL_META]["publishedAt"],
            T
        );
    }
}
