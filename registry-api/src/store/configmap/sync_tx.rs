//! A sync's transaction on ConfigMaps ([`super::super::Store::sync`]): the source's committed rows, read from
//! the API server when its lock was taken, changed in memory; at commit the names that changed are written as
//! objects of the next generation (an empty one for a name that left the source), and the source's record moves
//! to that generation, in the same update that releases the lock: readers see the whole sync at once.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::super::{SourceRecord, StoreError, SyncTx, Timestamps, VersionRow, newest_first};

/// A row and whether this sync wrote it.
#[derive(Debug, Clone)]
struct Held {
    row: VersionRow,
    written: bool,
}

/// See the module documentation.
pub struct MemSyncTx {
    record: SourceRecord,
    /// The source's names, by name then version.
    names: BTreeMap<String, BTreeMap<String, Held>>,
    /// What the source held when the sync began: a name is written again only if it changed.
    before: BTreeMap<String, Vec<VersionRow>>,
}

impl MemSyncTx {
    pub fn new(record: SourceRecord, rows: BTreeMap<String, Vec<VersionRow>>) -> Self {
        let names = rows
            .iter()
            .map(|(name, rows)| {
                let versions = rows
                    .iter()
                    .map(|r| {
                        let held = Held {
                            row: r.clone(),
                            written: false,
                        };
                        (r.version.clone(), held)
                    })
                    .collect();
                (name.clone(), versions)
            })
            .collect();
        Self {
            record,
            names,
            before: rows,
        }
    }

    /// The names whose rows changed, with their rows now (none: the name left the source).
    pub fn changed(&self) -> Vec<(String, Vec<VersionRow>)> {
        let names: std::collections::BTreeSet<&String> =
            self.before.keys().chain(self.names.keys()).collect();
        names
            .into_iter()
            .filter_map(|name| {
                let now: Vec<VersionRow> = self
                    .names
                    .get(name)
                    .map(|v| v.values().map(|h| h.row.clone()).collect())
                    .unwrap_or_default();
                let was = self.before.get(name).map(Vec::as_slice).unwrap_or_default();
                (now != was).then(|| (name.clone(), now))
            })
            .collect()
    }

    /// Distinct names with a version that is not deleted, and every version.
    pub fn counts(&self) -> (u64, u64) {
        let servers = self
            .names
            .values()
            .filter(|v| {
                v.values()
                    .any(|h| h.row.status != thv_core::api::ServerStatus::Deleted)
            })
            .count();
        let versions = self.names.values().map(BTreeMap::len).sum::<usize>();
        (servers as u64, versions as u64)
    }

    fn drop_empty(&mut self, name: &str) {
        if self.names.get(name).is_some_and(BTreeMap::is_empty) {
            self.names.remove(name);
        }
    }
}

#[async_trait]
impl SyncTx for MemSyncTx {
    fn record(&self) -> &SourceRecord {
        &self.record
    }

    fn writes_block_others(&self) -> bool {
        false
    }

    async fn upsert(&mut self, rows: &[VersionRow], times: Timestamps) -> Result<(), StoreError> {
        for row in rows {
            let versions = self.names.entry(row.server_name.clone()).or_default();
            let mut new = row.clone();
            if let (Timestamps::KeepUnchanged, Some(old)) = (times, versions.get(&row.version)) {
                let old = &old.row;
                new.published_at = old.published_at;
                if old.status == new.status {
                    new.status_changed_at = old.status_changed_at;
                    if old.value == new.value {
                        new.updated_at = old.updated_at;
                    }
                }
            }
            versions.insert(
                row.version.clone(),
                Held {
                    row: new,
                    written: true,
                },
            );
        }
        Ok(())
    }

    async fn remove(&mut self, server_name: &str, version: &str) -> Result<u64, StoreError> {
        let removed = self
            .names
            .get_mut(server_name)
            .and_then(|v| v.remove(version))
            .is_some();
        self.drop_empty(server_name);
        Ok(u64::from(removed))
    }

    async fn remove_stale(&mut self) -> Result<u64, StoreError> {
        let mut removed = 0;
        for versions in self.names.values_mut() {
            let before = versions.len();
            versions.retain(|_, h| h.written);
            removed += (before - versions.len()) as u64;
        }
        self.names.retain(|_, v| !v.is_empty());
        Ok(removed)
    }

    async fn clear_latest(&mut self) -> Result<(), StoreError> {
        for h in self.names.values_mut().flat_map(|v| v.values_mut()) {
            h.row.is_latest = false;
        }
        Ok(())
    }

    async fn versions(&mut self, server_name: &str) -> Result<Vec<VersionRow>, StoreError> {
        let mut rows: Vec<VersionRow> = self
            .names
            .get(server_name)
            .map(|v| v.values().map(|h| h.row.clone()).collect())
            .unwrap_or_default();
        newest_first(&mut rows);
        Ok(rows)
    }

    async fn set_latest(
        &mut self,
        server_name: &str,
        version: Option<&str>,
    ) -> Result<(), StoreError> {
        if let Some(versions) = self.names.get_mut(server_name) {
            for h in versions.values_mut() {
                h.row.is_latest = Some(h.row.version.as_str()) == version;
            }
        }
        Ok(())
    }
}
