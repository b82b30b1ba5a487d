//! The ConfigMaps the store keeps, by kind: what they are named, how they are labelled, and how rows are
//! written into them.
//!
//! - **Rows:** one object per (source, server name) holding every version of that name in that source, as gzip'd
//!   JSON in `binaryData`. Managed names (what the API publishes) live in one object each, updated in place under
//!   a resourceVersion precondition. A synced source's names are written as new objects of the sync's
//!   generation, which become visible together when the sync commits.
//! - **Sources:** `{prefix}-sources`, one JSON document: each sync source's record and lock, and the committed
//!   seeds (`super::sources_doc`).
//! - **Claims:** `{prefix}-u-{hash}`, one per remote URL a managed name declares (`super::write_tx`).
//!
//! Names carry a hash, never the server name itself: server names are longer and freer than Kubernetes names.
//! The source and server name are in the payload (and, for people reading with kubectl, in annotations).

use std::collections::BTreeMap;
use std::io::{Read, Write};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::ObjectMeta;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thv_core::api::ServerStatus;

use super::super::{MANAGED_SOURCE, StoreError, VersionRow, from_micros, micros};

/// Every object of a store carries `LABEL_STORE: <prefix>`: the store's watch selects by it.
pub const LABEL_STORE: &str = "registry.toolhive.stacklok.dev/store";
/// `rows`, `sources` or `claim`.
pub const LABEL_KIND: &str = "registry.toolhive.stacklok.dev/kind";
/// A rows object's source, hashed (label values are limited to 63 characters of a small alphabet).
pub const LABEL_SOURCE: &str = "registry.toolhive.stacklok.dev/source-hash";
/// A synced source's rows object: the sync generation that wrote it.
pub const LABEL_GENERATION: &str = "registry.toolhive.stacklok.dev/generation";
/// A managed rows object written by a seed: the seed's token; visible once the seed is committed.
pub const LABEL_SEED: &str = "registry.toolhive.stacklok.dev/seed";
const ANNOTATION_SOURCE: &str = "registry.toolhive.stacklok.dev/source";
const ANNOTATION_SERVER: &str = "registry.toolhive.stacklok.dev/server-name";
pub const ANNOTATION_URL: &str = "registry.toolhive.stacklok.dev/remote-url";

pub const KIND_ROWS: &str = "rows";
pub const KIND_SOURCES: &str = "sources";
pub const KIND_CLAIM: &str = "claim";

/// The `binaryData` key of a rows object.
const ROWS_KEY: &str = "rows.json.gz";

/// The most a rows object's compressed payload may take: the API server refuses a ConfigMap whose data exceeds
/// 1 MiB, and the object's metadata needs some room too.
pub const MAX_PAYLOAD_BYTES: usize = 900 * 1024;

/// The first `len` hex digits of SHA-256 over `parts`, each ended by a NUL (so that ("ab","c") ≠ ("a","bc")).
pub fn hash(parts: &[&str], len: usize) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let mut hex = hex::encode(h.finalize());
    hex.truncate(len);
    hex
}

/// The label value naming a source.
pub fn source_label(source: &str) -> String {
    hash(&[source], 16)
}

/// The object holding a managed name.
pub fn managed_object(prefix: &str, server_name: &str) -> String {
    format!("{prefix}-m-{}", hash(&[MANAGED_SOURCE, server_name], 32))
}

/// The object holding a synced source's name as written by sync `generation`.
pub fn synced_object(prefix: &str, source: &str, server_name: &str, generation: i64) -> String {
    format!(
        "{prefix}-s-{}-{generation}",
        hash(&[source, server_name], 32)
    )
}

/// The claim object of a remote URL.
pub fn claim_object(prefix: &str, url: &str) -> String {
    format!("{prefix}-u-{}", hash(&[url], 40))
}

/// The sources document's object.
pub fn sources_object(prefix: &str) -> String {
    format!("{prefix}-sources")
}

/// The labels every object of the store has, plus its kind.
pub fn labels(prefix: &str, kind: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_STORE.to_owned(), prefix.to_owned()),
        (LABEL_KIND.to_owned(), kind.to_owned()),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            "thv-registry-api".to_owned(),
        ),
    ])
}

/// A row as stored (times in microseconds since the epoch, as the SQL backends keep them).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredRow {
    version: String,
    value: String,
    status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status_message: Option<String>,
    status_changed_at: i64,
    published_at: i64,
    updated_at: i64,
    is_latest: bool,
    search_text: String,
}

/// What a rows object holds.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    source: String,
    server_name: String,
    rows: Vec<StoredRow>,
}

/// A rows object, decoded.
#[derive(Debug, Clone)]
pub struct RowsObject {
    pub source: String,
    pub server_name: String,
    /// A synced source's sync generation; 0 for managed names.
    pub generation: i64,
    /// The seed that wrote it, if any (managed names).
    pub seed: Option<String>,
    pub rows: Vec<VersionRow>,
}

impl RowsObject {
    /// The ConfigMap holding this object, named `name`; [`StoreError::TooLarge`] when its rows do not fit.
    pub fn encode(&self, prefix: &str, name: &str) -> Result<ConfigMap, StoreError> {
        let payload = Payload {
            source: self.source.clone(),
            server_name: self.server_name.clone(),
            rows: self
                .rows
                .iter()
                .map(|r| StoredRow {
                    version: r.version.clone(),
                    value: r.value.clone(),
                    status: r.status.as_str().to_owned(),
                    status_message: r.status_message.clone(),
                    status_changed_at: micros(&r.status_changed_at),
                    published_at: micros(&r.published_at),
                    updated_at: micros(&r.updated_at),
                    is_latest: r.is_latest,
                    search_text: r.search_text.clone(),
                })
                .collect(),
        };
        let json = serde_json::to_vec(&payload).map_err(|e| StoreError::Database(e.to_string()))?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&json)
            .and_then(|_| gz.try_finish())
            .map_err(|e| StoreError::Database(format!("compressing rows: {e}")))?;
        let bytes = gz
            .finish()
            .map_err(|e| StoreError::Database(format!("compressing rows: {e}")))?;
        if bytes.len() > MAX_PAYLOAD_BYTES {
            return Err(StoreError::TooLarge(format!(
                "server {}: its {} versions in source '{}' take {} KiB compressed, over the ConfigMap \
                 storage's limit of {} KiB per server name and source (a Kubernetes object holds at most 1 MiB)",
                self.server_name,
                self.rows.len(),
                self.source,
                bytes.len().div_ceil(1024),
                MAX_PAYLOAD_BYTES / 1024
            )));
        }
        let mut labels = labels(prefix, KIND_ROWS);
        labels.insert(LABEL_SOURCE.to_owned(), source_label(&self.source));
        if self.source != MANAGED_SOURCE {
            labels.insert(LABEL_GENERATION.to_owned(), self.generation.to_string());
        }
        if let Some(seed) = &self.seed {
            labels.insert(LABEL_SEED.to_owned(), seed.clone());
        }
        Ok(ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                labels: Some(labels),
                annotations: Some(BTreeMap::from([
                    (ANNOTATION_SOURCE.to_owned(), self.source.clone()),
                    (ANNOTATION_SERVER.to_owned(), self.server_name.clone()),
                ])),
                ..Default::default()
            },
            binary_data: Some(BTreeMap::from([(ROWS_KEY.to_owned(), ByteString(bytes))])),
            ..Default::default()
        })
    }

    /// Decodes a rows object.
    pub fn decode(map: &ConfigMap) -> Result<Self, StoreError> {
        let name = map.metadata.name.as_deref().unwrap_or_default();
        let corrupt = |what: String| StoreError::Corrupt(format!("ConfigMap {name}: {what}"));
        let bytes = map
            .binary_data
            .as_ref()
            .and_then(|d| d.get(ROWS_KEY))
            .ok_or_else(|| corrupt(format!("no binaryData key {ROWS_KEY}")))?;
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(&bytes.0[..])
            .read_to_end(&mut json)
            .map_err(|e| corrupt(format!("{ROWS_KEY}: {e}")))?;
        let payload: Payload =
            serde_json::from_slice(&json).map_err(|e| corrupt(format!("{ROWS_KEY}: {e}")))?;
        let labels = map.metadata.labels.as_ref();
        let label = |key: &str| labels.and_then(|l| l.get(key));
        let generation = match label(LABEL_GENERATION) {
            Some(g) => g
                .parse()
                .map_err(|_| corrupt(format!("label {LABEL_GENERATION} '{g}'")))?,
            None => 0,
        };
        let server_name = payload.server_name;
        let rows = payload
            .rows
            .into_iter()
            .map(|r| {
                Ok(VersionRow {
                    server_name: server_name.clone(),
                    version: r.version,
                    value: r.value,
                    status: r
                        .status
                        .parse::<ServerStatus>()
                        .map_err(|e| corrupt(e.to_string()))?,
                    status_message: r.status_message,
                    status_changed_at: from_micros(r.status_changed_at)?,
                    published_at: from_micros(r.published_at)?,
                    updated_at: from_micros(r.updated_at)?,
                    is_latest: r.is_latest,
                    search_text: r.search_text,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Self {
            source: payload.source,
            server_name,
            generation,
            seed: label(LABEL_SEED).cloned(),
            rows,
        })
    }
}

/// The kind label of an object of the store.
pub fn kind_of(map: &ConfigMap) -> Option<&str> {
    map.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_KIND))
        .map(String::as_str)
}

/// An object's resourceVersion as the number etcd gives it (for ordering a replica's own writes against its
/// watch; `None` when it is not one).
pub fn revision(map: &ConfigMap) -> Option<u64> {
    map.metadata.resource_version.as_deref()?.parse().ok()
}
