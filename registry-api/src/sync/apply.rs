//! Writing a sync's entries into its transaction: entry → row (validated as written, against the schema version
//! it declares; stored as written; filtered), full replacement with the `isLatest` flags computed per server as
//! its versions stream by, and incremental upserts. Seeding uses the same entry → row steps ([`check`],
//! [`make_row`]).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thv_core::api::{OfficialMeta, ServerStatus};
use thv_core::filter::ServerFilter;
use thv_core::server::{ServerJson, retain_publisher_meta_in};
use thv_core::validate::{self, SchemaPolicy};
use thv_core::version::pick_latest;

use crate::service::search_text;
use crate::store::{StoreError, SyncTx, Timestamps, VersionRow};

/// Rows per upsert statement batch.
const BATCH: usize = 1000;
/// Skipped entries listed in a sync report (all are counted).
const REPORTED_SKIPS: usize = 20;

/// An entry left out of a sync, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub server: String,
    pub version: String,
    pub reason: String,
}

/// What one incoming entry becomes.
pub enum Entry {
    /// Stored.
    Row(VersionRow),
    /// Valid, but the source's filter leaves it out (an incremental sync removes a stored copy).
    Filtered { server: String, version: String },
    /// Invalid: reported and left out.
    Invalid(Skipped),
}

/// The source's signature policy on a stored entry: under `enforce` an entry without a valid signature is
/// skipped with the reason; under `warn` it is kept and logged.
pub async fn signed(e: Entry, policy: &thv_core::signature::SignaturePolicy) -> Entry {
    let Entry::Row(row) = e else { return e };
    if policy.mode == thv_core::signature::PolicyMode::Off {
        return Entry::Row(row);
    }
    let doc: Value = match serde_json::from_str(&row.value) {
        Ok(v) => v,
        Err(e) => {
            return Entry::Invalid(Skipped {
                server: row.server_name,
                version: row.version,
                reason: e.to_string(),
            });
        }
    };
    match policy.check(&doc).await {
        Ok(thv_core::signature::Verdict::Failed(why)) => {
            tracing::warn!(server = %row.server_name, version = %row.version,
                "synced without a valid signature (signature policy: warn): {why}");
            Entry::Row(row)
        }
        Ok(_) => Entry::Row(row),
        Err(why) => Entry::Invalid(Skipped {
            server: row.server_name,
            version: row.version,
            reason: format!("signature: {why}"),
        }),
    }
}

/// Why an entry is left out: the rule it breaks (a validation rule id or schema keyword location, or
/// [`NOT_A_DOCUMENT`]) and a message naming the field.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub rule: String,
    pub reason: String,
}

/// The rule of a document that is valid JSON Schema-wise but not a server.json this registry can read.
pub const NOT_A_DOCUMENT: &str = "not-a-server-json";

/// Checks one document of a source or a seed file, as it is written: schema and semantic rules against the
/// schema version it declares (a non-current version is allowed: registries serve every published version),
/// and NUL in the source's own metadata (nothing stores it). Returns the typed document.
pub fn check(doc: &Value, official: Option<&OfficialMeta>) -> Result<ServerJson, Rejection> {
    let report = validate::validate_value(doc, SchemaPolicy::Validate);
    if let Some(i) = report.first_error() {
        let reason = if i.path.is_empty() {
            i.message.clone()
        } else {
            format!("{}: {}", i.path, i.message)
        };
        return Err(Rejection {
            rule: i.reference.clone(),
            reason,
        });
    }
    let server = ServerJson::deserialize(doc).map_err(|e| Rejection {
        rule: NOT_A_DOCUMENT.into(),
        reason: format!("not a server.json document: {e}"),
    })?;
    // The source's own metadata is stored too: NUL in it is refused as in the document (nothing stores it).
    if official
        .and_then(|o| o.status_message.as_deref())
        .is_some_and(|m| m.contains('\0'))
    {
        return Err(Rejection {
            rule: validate::rules::STRING_CONTAINS_NUL.into(),
            reason: format!(
                "_meta[\"{}\"].statusMessage: {}",
                thv_core::server::OFFICIAL_META,
                validate::NUL_MESSAGE
            ),
        });
    }
    Ok(server)
}

/// The row of a checked document: the document stored as it is written (only `_meta` keys other than the
/// publisher's are dropped, as on publish), whatever schema version it declares. `official` carries the source's
/// own metadata (an upstream registry API, a list response, a file keeping it); without it the entry is new as
/// of `now`, deprecated when its ToolHive metadata says so.
pub fn make_row(
    server: &ServerJson,
    mut doc: Value,
    official: Option<&OfficialMeta>,
    now: DateTime<Utc>,
) -> Result<VersionRow, Rejection> {
    retain_publisher_meta_in(&mut doc);
    let value = serde_json::to_string(&doc).map_err(|e| Rejection {
        rule: NOT_A_DOCUMENT.into(),
        reason: e.to_string(),
    })?;
    let (status, status_message, status_changed_at, published_at, updated_at) = match official {
        Some(o) => (
            o.status,
            o.status_message.clone(),
            o.status_changed_at,
            o.published_at,
            o.updated_at,
        ),
        None => {
            let deprecated =
                thv_core::toolhive::extensions(server).is_some_and(|(_, ext)| ext.is_deprecated());
            let status = if deprecated {
                ServerStatus::Deprecated
            } else {
                ServerStatus::Active
            };
            (status, None, now, now, now)
        }
    };
    Ok(VersionRow {
        search_text: search_text(server),
        server_name: server.name.clone(),
        version: server.version.clone(),
        value,
        status,
        status_message,
        status_changed_at,
        published_at,
        updated_at,
        is_latest: false,
    })
}

/// Turns one document of a source into what the sync does with it: a row ([`check`], [`make_row`]), left out
/// by the source's filter, or skipped with the reason.
pub fn entry_from_value(
    doc: Value,
    official: Option<&OfficialMeta>,
    filter: &ServerFilter,
    now: DateTime<Utc>,
) -> Entry {
    let label = |field: &str| {
        doc.get(field)
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string()
    };
    let (server, version) = (label("name"), label("version"));
    let skipped = |r: Rejection| {
        Entry::Invalid(Skipped {
            server: server.clone(),
            version: version.clone(),
            reason: r.reason,
        })
    };
    let typed = match check(&doc, official) {
        Ok(typed) => typed,
        Err(r) => return skipped(r),
    };
    if !filter.accepts(&typed) {
        return Entry::Filtered {
            server: typed.name,
            version: typed.version,
        };
    }
    match make_row(&typed, doc, official, now) {
        Ok(row) => Entry::Row(row),
        Err(r) => skipped(r),
    }
}

/// Counts of one sync, recorded as its report.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Entries read from the source.
    pub received: u64,
    /// Rows inserted or replaced.
    pub written: u64,
    /// Rows removed (absent from the source, or filtered out since).
    pub removed: u64,
    /// Entries the filter left out.
    pub filtered: u64,
    /// Invalid entries (counted; the first few listed in `skippedEntries`).
    pub skipped: u64,
    pub skipped_entries: Vec<Skipped>,
}

impl Counts {
    fn skip(&mut self, s: Skipped) {
        self.skipped += 1;
        if self.skipped_entries.len() < REPORTED_SKIPS {
            tracing::warn!(server = %s.server, version = %s.version, reason = %s.reason, "sync entry skipped");
            self.skipped_entries.push(s);
        }
    }
}

/// A full replacement of a source's rows, fed entry by entry. The latest flags are computed per server from the
/// versions that arrive together (registry APIs list in name order); a name that comes back later is settled
/// again at the end from everything stored.
pub struct FullWrite<'t> {
    tx: &'t mut dyn SyncTx,
    times: Timestamps,
    group: Vec<VersionRow>,
    batch: Vec<VersionRow>,
    batch_keys: HashSet<(String, String)>,
    settled: HashSet<String>,
    unsettled: HashSet<String>,
    pub counts: Counts,
}

impl<'t> FullWrite<'t> {
    pub async fn start(tx: &'t mut dyn SyncTx, times: Timestamps) -> Result<Self, StoreError> {
        tx.clear_latest().await?;
        Ok(Self {
            tx,
            times,
            group: Vec::new(),
            batch: Vec::new(),
            batch_keys: HashSet::new(),
            settled: HashSet::new(),
            unsettled: HashSet::new(),
            counts: Counts::default(),
        })
    }

    pub async fn push(&mut self, entry: Entry) -> Result<(), StoreError> {
        self.counts.received += 1;
        let row = match entry {
            Entry::Row(row) => row,
            Entry::Filtered { .. } => {
                self.counts.filtered += 1;
                return Ok(());
            }
            Entry::Invalid(s) => {
                self.counts.skip(s);
                return Ok(());
            }
        };
        if self
            .group
            .first()
            .is_some_and(|g| g.server_name != row.server_name)
        {
            self.close_group().await?;
        }
        // A version repeated within a server's run: the later copy wins.
        self.group.retain(|r| r.version != row.version);
        self.group.push(row);
        Ok(())
    }

    async fn close_group(&mut self) -> Result<(), StoreError> {
        let mut group = std::mem::take(&mut self.group);
        let Some(first) = group.first() else {
            return Ok(());
        };
        let name = first.server_name.clone();
        if self.settled.insert(name.clone()) {
            if let Some(i) = pick_latest(&group) {
                group[i].is_latest = true;
            }
        } else {
            self.unsettled.insert(name);
        }
        for row in group {
            let key = (row.server_name.clone(), row.version.clone());
            if !self.batch_keys.insert(key) {
                // The same version again, from a later run of its name: write the batch first.
                self.flush().await?;
                self.batch_keys
                    .insert((row.server_name.clone(), row.version.clone()));
            }
            self.batch.push(row);
            if self.batch.len() >= BATCH {
                self.flush().await?;
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), StoreError> {
        if !self.batch.is_empty() {
            self.tx.upsert(&self.batch, self.times).await?;
            self.counts.written += self.batch.len() as u64;
            self.batch.clear();
            self.batch_keys.clear();
        }
        Ok(())
    }

    /// Writes what is pending, removes what this sync did not write, and settles the names that came in parts.
    pub async fn finish(mut self) -> Result<Counts, StoreError> {
        self.close_group().await?;
        self.flush().await?;
        self.counts.removed = self.tx.remove_stale().await?;
        for name in std::mem::take(&mut self.unsettled) {
            settle_latest(self.tx, &name).await?;
        }
        Ok(self.counts)
    }
}

/// Moves a server's latest flag to the version the rules pick among what is stored.
pub async fn settle_latest(tx: &mut dyn SyncTx, name: &str) -> Result<(), StoreError> {
    let versions = tx.versions(name).await?;
    let latest = pick_latest(&versions).map(|i| versions[i].version.clone());
    tx.set_latest(name, latest.as_deref()).await
}

/// Incremental changes: rows replace their stored copies, filtered-out versions are removed, and the latest flag
/// of every touched server is settled at the end.
pub struct IncrementalWrite<'t> {
    tx: &'t mut dyn SyncTx,
    batch: Vec<VersionRow>,
    touched: HashSet<String>,
    pub counts: Counts,
}

impl<'t> IncrementalWrite<'t> {
    pub fn new(tx: &'t mut dyn SyncTx) -> Self {
        Self {
            tx,
            batch: Vec::new(),
            touched: HashSet::new(),
            counts: Counts::default(),
        }
    }

    pub async fn push(&mut self, entry: Entry) -> Result<(), StoreError> {
        self.counts.received += 1;
        match entry {
            Entry::Row(row) => {
                self.touched.insert(row.server_name.clone());
                if self
                    .batch
                    .iter()
                    .any(|r| r.server_name == row.server_name && r.version == row.version)
                {
                    self.flush().await?;
                }
                self.batch.push(row);
                if self.batch.len() >= BATCH {
                    self.flush().await?;
                }
            }
            Entry::Filtered { server, version } => {
                self.counts.filtered += 1;
                self.flush().await?;
                let removed = self.tx.remove(&server, &version).await?;
                if removed > 0 {
                    self.counts.removed += removed;
                    self.touched.insert(server);
                }
            }
            Entry::Invalid(s) => self.counts.skip(s),
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), StoreError> {
        if !self.batch.is_empty() {
            self.tx.upsert(&self.batch, Timestamps::FromSource).await?;
            self.counts.written += self.batch.len() as u64;
            self.batch.clear();
        }
        Ok(())
    }

    pub async fn finish(mut self) -> Result<Counts, StoreError> {
        self.flush().await?;
        let mut touched: Vec<String> = self.touched.drain().collect();
        touched.sort_unstable();
        for name in touched {
            settle_latest(self.tx, &name).await?;
        }
        Ok(self.counts)
    }
}

/// A full or an incremental write, fed the same way.
pub enum Writer<'t> {
    Full(FullWrite<'t>),
    Incremental(IncrementalWrite<'t>),
}

impl Writer<'_> {
    pub async fn push(&mut self, entry: Entry) -> Result<(), StoreError> {
        match self {
            Self::Full(w) => w.push(entry).await,
            Self::Incremental(w) => w.push(entry).await,
        }
    }

    pub async fn finish(self) -> Result<Counts, StoreError> {
        match self {
            Self::Full(w) => w.finish().await,
            Self::Incremental(w) => w.finish().await,
        }
    }
}
