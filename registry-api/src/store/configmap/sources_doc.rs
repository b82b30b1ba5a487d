//! The sources document (`{prefix}-sources`): every sync source's record, the lock of each running sync, and
//! the committed seeds, in one JSON document so that a sync's commit — its new generation, its record and the
//! release of its lock — is one object update under a resourceVersion precondition.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ObjectMeta, PostParams};
use serde::{Deserialize, Serialize};

use super::super::{SourceRecord, StoreError};
use super::objects::{KIND_SOURCES, labels, sources_object};
use super::{ApiError, conflict_backoff, kube_error};

/// The data key of the sources document.
const DOC_KEY: &str = "sources.json";

/// A running sync's hold on its source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncLock {
    /// The replica holding it (`ConfigMapStore`'s replica id).
    pub holder: String,
    pub expires_at: DateTime<Utc>,
}

/// See the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourcesDoc {
    #[serde(default)]
    pub records: BTreeMap<String, SourceRecord>,
    #[serde(default)]
    pub locks: BTreeMap<String, SyncLock>,
    /// Seeds whose objects are visible (see `objects::LABEL_SEED`).
    #[serde(default)]
    pub seeds: Vec<String>,
    /// The seed running now, if any: one at a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeding: Option<SeedLock>,
}

/// A running seed's hold on the store (`super::seed`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedLock {
    pub holder: String,
    /// The token its objects carry.
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

impl SourcesDoc {
    /// The generation of `source` that readers see (0: none committed yet).
    pub fn committed(&self, source: &str) -> i64 {
        self.records.get(source).map_or(0, |r| r.generation)
    }

    /// Whether the objects of seed `token` are visible.
    pub fn seed_committed(&self, token: &str) -> bool {
        self.seeds.iter().any(|s| s == token)
    }

    /// The document a sources object holds; an object without it (just created) holds an empty one.
    pub fn decode(map: &ConfigMap) -> Result<Self, StoreError> {
        match map.data.as_ref().and_then(|d| d.get(DOC_KEY)) {
            None => Ok(Self::default()),
            Some(text) => serde_json::from_str(text).map_err(|e| {
                StoreError::Corrupt(format!(
                    "ConfigMap {}: {DOC_KEY}: {e}",
                    map.metadata.name.as_deref().unwrap_or_default()
                ))
            }),
        }
    }

    fn encode_into(&self, map: &mut ConfigMap) -> Result<(), StoreError> {
        let text = serde_json::to_string(self).map_err(|e| StoreError::Database(e.to_string()))?;
        map.data
            .get_or_insert_with(Default::default)
            .insert(DOC_KEY.to_owned(), text);
        Ok(())
    }
}

/// Reads and updates the sources document.
#[derive(Clone)]
pub struct SourcesApi {
    pub api: kube::Api<ConfigMap>,
    pub prefix: String,
}

impl SourcesApi {
    fn name(&self) -> String {
        sources_object(&self.prefix)
    }

    /// Creates the document when the store is new (a concurrent creation by another replica is fine).
    pub async fn ensure(&self) -> Result<(), StoreError> {
        if self
            .api
            .get_opt(&self.name())
            .await
            .map_err(kube_error)?
            .is_some()
        {
            return Ok(());
        }
        let mut map = ConfigMap {
            metadata: ObjectMeta {
                name: Some(self.name()),
                labels: Some(labels(&self.prefix, KIND_SOURCES)),
                ..Default::default()
            },
            ..Default::default()
        };
        SourcesDoc::default().encode_into(&mut map)?;
        match self.api.create(&PostParams::default(), &map).await {
            Ok(_) => Ok(()),
            Err(e) if ApiError::of(&e) == ApiError::Conflict => Ok(()),
            Err(e) => Err(kube_error(e)),
        }
    }

    /// The document as the API server has it now.
    pub async fn read(&self) -> Result<SourcesDoc, StoreError> {
        let map = self.api.get(&self.name()).await.map_err(kube_error)?;
        SourcesDoc::decode(&map)
    }

    /// Applies `change` to the current document and, when it says so, stores the result under a
    /// resourceVersion precondition, again on what a concurrent update left until it goes through. `change`
    /// returns its value and whether to store; `Err` stores nothing. Returns the value and the object as stored.
    pub async fn update<T>(
        &self,
        mut change: impl FnMut(&mut SourcesDoc) -> Result<(T, bool), StoreError>,
    ) -> Result<(T, Option<ConfigMap>), StoreError> {
        let name = self.name();
        let mut attempt = 0u32;
        loop {
            let mut map = self.api.get(&name).await.map_err(kube_error)?;
            let mut doc = SourcesDoc::decode(&map)?;
            let (value, store) = change(&mut doc)?;
            if !store {
                return Ok((value, None));
            }
            doc.encode_into(&mut map)?;
            match self.api.replace(&name, &PostParams::default(), &map).await {
                Ok(stored) => return Ok((value, Some(stored))),
                Err(e) if ApiError::of(&e) == ApiError::Conflict && attempt < 100 => {
                    tokio::time::sleep(conflict_backoff(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(kube_error(e)),
            }
        }
    }
}

/// How long a sync's lock lasts without renewal: a replica that died mid-sync holds its source this long.
pub const LOCK_LEASE: Duration = Duration::from_secs(60);
/// How often a running sync renews its lock.
pub const LOCK_RENEWAL: Duration = Duration::from_secs(15);

/// Why a lock could not be taken or kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockRefusal {
    /// Another replica holds it.
    Busy,
    /// No such source is registered.
    Unknown,
}

/// Takes `source`'s lock for `holder` (free, expired, or already its own); its record as it stood.
pub fn take_lock(
    doc: &mut SourcesDoc,
    source: &str,
    holder: &str,
    now: DateTime<Utc>,
) -> Result<Result<SourceRecord, LockRefusal>, StoreError> {
    let Some(record) = doc.records.get(source).cloned() else {
        return Ok(Err(LockRefusal::Unknown));
    };
    if let Some(lock) = doc.locks.get(source)
        && lock.holder != holder
        && lock.expires_at > now
    {
        return Ok(Err(LockRefusal::Busy));
    }
    doc.locks.insert(
        source.to_owned(),
        SyncLock {
            holder: holder.to_owned(),
            expires_at: now + LOCK_LEASE,
        },
    );
    Ok(Ok(record))
}

/// Whether `holder` still holds `source`'s lock (it was neither released nor taken over after expiring).
pub fn holds_lock(doc: &SourcesDoc, source: &str, holder: &str) -> bool {
    doc.locks.get(source).is_some_and(|l| l.holder == holder)
}
