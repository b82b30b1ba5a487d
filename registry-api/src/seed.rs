//! Seeding an empty store from a registry file (`seed_from`, or the bundled registry), in one transaction.
//!
//! Every format core reads is taken — an upstream registry, a legacy ToolHive registry, a JSON array of
//! server.json, and the registry API's own list response as mirrors and crawls save it. Each entry goes through
//! the same steps as a synced one ([`apply::check`], [`apply::make_row`]): validated as it is written, against the
//! schema version it declares (every published version is accepted; publishing through the API is what requires
//! the current one), and stored as it is written. The registry metadata a file carries (status and its message,
//! `publishedAt`, `updatedAt`) is kept; `isLatest` is settled per server by the registry's rules over the kept
//! versions with their own publish times — the order the source registry computed — and without metadata every
//! entry is published now, active.
//!
//! Entries that cannot be seeded are skipped and counted by rule (the first error's rule id or schema keyword,
//! `unreadable-entry`, `duplicate-version`) in a [`SeedReport`]: the caller logs it in one line; each skipped entry
//! is logged at debug level.

use std::collections::BTreeMap;

use chrono::{DateTime, SubsecRound, Utc};
use serde::Deserialize;
use thv_core::api::{OfficialMeta, ServerStatus};
use thv_core::registry_file::{EntryFile, EntryFileError, FileEntry, Flow};
use thv_core::server::ServerJson;
use thv_core::version::{VersionCandidate, pick_latest};

use crate::error::{AppError, AppResult};
use crate::service::Registry;
use crate::store::VersionRow;
use crate::sync::apply::{self, Rejection};

/// Rows per insert batch.
const BATCH: usize = 1000;
/// The rule of an entry the file holds more than once (the first copy is kept).
pub const DUPLICATE_VERSION: &str = "duplicate-version";
/// The rule of an entry that cannot be read as it is (a list item without a `server`, unreadable registry
/// metadata).
pub const UNREADABLE_ENTRY: &str = "unreadable-entry";

/// What a seed did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeedReport {
    /// Versions stored.
    pub inserted: u64,
    /// Entries left out.
    pub skipped: u64,
    /// Entries left out, per rule.
    pub reasons: BTreeMap<String, u64>,
    /// The first entry left out per rule: `name@version: why`.
    pub examples: BTreeMap<String, String>,
}

impl SeedReport {
    fn skip(&mut self, rule: &str, name: &str, version: &str, why: &str) {
        tracing::debug!(server = %name, version = %version, rule = %rule, reason = %why, "seed entry skipped");
        self.skipped += 1;
        *self.reasons.entry(rule.to_owned()).or_default() += 1;
        self.examples
            .entry(rule.to_owned())
            .or_insert_with(|| format!("{name}@{version}: {why}"));
    }

    fn by_count(&self) -> Vec<(&String, &u64)> {
        let mut rules: Vec<_> = self.reasons.iter().collect();
        rules.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        rules
    }

    /// Why entries were skipped: `N × RULE`, most frequent first, comma-separated.
    pub fn reasons_line(&self) -> String {
        self.by_count()
            .iter()
            .map(|(rule, n)| format!("{n} × {rule}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The first skipped entry of each rule, most frequent rule first: `RULE: name@version: why`, `; `-separated.
    pub fn examples_line(&self) -> String {
        self.by_count()
            .iter()
            .filter_map(|(rule, _)| Some(format!("{rule}: {}", self.examples.get(*rule)?)))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// A kept entry as a candidate for `isLatest`.
struct Candidate {
    index: usize,
    name: Box<str>,
    version: Box<str>,
    published_at: DateTime<Utc>,
    deleted: bool,
}

impl VersionCandidate for Candidate {
    fn version(&self) -> &str {
        &self.version
    }
    fn published_at(&self) -> DateTime<Utc> {
        self.published_at
    }
    fn is_deleted(&self) -> bool {
        self.deleted
    }
}

/// The name and version of a document, for messages (`?` when it has none).
fn label(value: &serde_json::Value, field: &str) -> String {
    value
        .get(field)
        .and_then(serde_json::Value::as_str)
        .unwrap_or("?")
        .to_owned()
}

/// Why a seed stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The file cannot be read, or is not a registry file.
    #[error("{0}")]
    File(#[from] EntryFileError),
    /// The file changed between the two readings of a seed.
    #[error("the file changed while it was being read; nothing was seeded")]
    Changed,
    #[error(transparent)]
    Store(#[from] AppError),
}

/// The first reading's outcome: which entries to store, and which of them is its server's latest.
struct Plan {
    keep: Vec<bool>,
    latest: Vec<bool>,
    entries: usize,
    /// The first reading's [`thv_core::registry_file::Reading::digest`].
    digest: u64,
    report: SeedReport,
}

impl Registry {
    /// Loads a registry file into an empty store (see the module documentation); returns the versions stored.
    pub async fn seed(&self, file: EntryFile) -> Result<u64, SeedError> {
        Ok(self.seed_report(file).await?.inserted)
    }

    /// Loads a registry file into an empty store, in one transaction, and reports what it kept and skipped.
    ///
    /// The file is read twice, streamed (see [`EntryFile`]): once to check each entry and settle each server's
    /// latest version, once to build the rows batch by batch while earlier batches are written. Memory holds one
    /// batch and each kept entry's name and version, never the file: a registry of 1 M versions seeds in the
    /// memory of a few MB plus its names. A file that changes between the readings (its bytes, whatever its size and
    /// modification time say) stores nothing.
    pub async fn seed_report(&self, file: EntryFile) -> Result<SeedReport, SeedError> {
        let now = Utc::now().trunc_subsecs(6);
        let first = file.clone();
        let plan = tokio::task::spawn_blocking(move || plan_seed(&first, now))
            .await
            .map_err(|e| AppError::Internal(format!("seed: the first reading failed: {e}")))??;
        let (tx, mut rx) = tokio::sync::mpsc::channel(2);
        let (keep, latest, expected) = (plan.keep, plan.latest, (plan.entries, plan.digest));
        let builder = tokio::task::spawn_blocking(move || {
            let mut rows = RowBuilder {
                keep: &keep,
                latest: &latest,
                now,
                tx: &tx,
                batch: Vec::with_capacity(BATCH),
                failed: None,
                closed: false,
            };
            let reading = file.for_each_entry(&mut |i, entry| rows.add(i, entry));
            let ended = match (reading, rows.failed.take()) {
                // The store stopped reading: its own error is the seed's.
                _ if rows.closed => return Ok(()),
                (_, Some(failed)) => Err(SeedError::Store(failed)),
                (Err(e), None) => Err(SeedError::File(e)),
                (Ok(r), None) if (r.entries, r.digest) != expected => Err(SeedError::Changed),
                (Ok(_), None) => {
                    rows.flush();
                    Ok(())
                }
            };
            if let Err(e) = &ended {
                // Rolls the transaction back (the store stops at an `Err` batch).
                let _ = tx.blocking_send(Err(AppError::Internal(e.to_string()).into()));
            }
            ended
        });
        let inserted = self.store().insert_batches(&mut rx).await;
        drop(rx);
        let built = builder
            .await
            .map_err(|e| AppError::Internal(format!("seed: the second reading failed: {e}")))?;
        // The reading's own error names the file better than the rolled-back insert's.
        built?;
        let mut report = plan.report;
        report.inserted = inserted.map_err(AppError::from)?;
        self.note_change();
        Ok(report)
    }
}

/// The first reading: checks every entry, drops later copies of a version, and settles each server's latest.
fn plan_seed(file: &EntryFile, now: DateTime<Utc>) -> Result<Plan, SeedError> {
    let mut report = SeedReport::default();
    let mut kept: Vec<Candidate> = Vec::new();
    let reading = file.for_each_entry(&mut |i, e| {
        let (name, version) = (label(&e.value, "name"), label(&e.value, "version"));
        if let Some(error) = &e.error {
            report.skip(UNREADABLE_ENTRY, &name, &version, error);
        } else if let Err(Rejection { rule, reason }) = apply::check(&e.value, e.official.as_ref())
        {
            report.skip(&rule, &name, &version, &reason);
        } else {
            kept.push(Candidate {
                index: i,
                published_at: e.official.as_ref().map_or(now, |o| o.published_at),
                deleted: e
                    .official
                    .as_ref()
                    .is_some_and(|o| o.status == ServerStatus::Deleted),
                name: name.into_boxed_str(),
                version: version.into_boxed_str(),
            });
        }
        Flow::Continue
    })?;
    // A version the file holds more than once: the first copy is kept. Found by sorting, not with a set of
    // every (name, version), which at 100 k entries held 10 MB more at the import's peak.
    kept.sort_by(|a, b| (&a.name, &a.version, a.index).cmp(&(&b.name, &b.version, b.index)));
    kept.dedup_by(|copy, first| {
        let same = copy.name == first.name && copy.version == first.version;
        if same {
            let (name, version) = (&copy.name, &copy.version);
            report.skip(
                DUPLICATE_VERSION,
                name,
                version,
                &format!("the file holds {name}@{version} more than once; the first copy is kept"),
            );
        }
        same
    });
    let (mut keep, mut latest) = (vec![false; reading.entries], vec![false; reading.entries]);
    // Each server's versions in file order, the order `pick_latest` settles ties by.
    kept.sort_by(|a, b| a.name.cmp(&b.name).then(a.index.cmp(&b.index)));
    for group in kept.chunk_by(|a, b| a.name == b.name) {
        for c in group {
            keep[c.index] = true;
        }
        if let Some(w) = pick_latest(group) {
            latest[group[w].index] = true;
        }
    }
    Ok(Plan {
        keep,
        latest,
        entries: reading.entries,
        digest: reading.digest,
        report,
    })
}

/// The second reading: builds the rows of the kept entries and sends them in batches.
struct RowBuilder<'a> {
    keep: &'a [bool],
    latest: &'a [bool],
    now: DateTime<Utc>,
    tx: &'a tokio::sync::mpsc::Sender<Result<Vec<VersionRow>, crate::store::StoreError>>,
    batch: Vec<VersionRow>,
    /// A kept entry whose row could not be built (the file changed between the readings).
    failed: Option<AppError>,
    /// The store stopped taking batches.
    closed: bool,
}

impl RowBuilder<'_> {
    fn add(&mut self, i: usize, entry: FileEntry) -> Flow {
        if !self.keep.get(i).copied().unwrap_or(false) {
            return Flow::Continue;
        }
        match seed_row(entry, self.now) {
            Ok(mut row) => {
                row.is_latest = self.latest[i];
                self.batch.push(row);
            }
            Err(e) => {
                self.failed = Some(e);
                return Flow::Stop;
            }
        }
        if self.batch.len() >= BATCH {
            self.flush();
        }
        if self.closed {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }

    /// Sends the batch in the making.
    fn flush(&mut self) {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        if !batch.is_empty() && self.tx.blocking_send(Ok(batch)).is_err() {
            self.closed = true;
        }
    }
}

/// The row of an entry the first reading kept.
fn seed_row(entry: FileEntry, now: DateTime<Utc>) -> AppResult<VersionRow> {
    let FileEntry {
        path,
        value,
        official,
        ..
    } = entry;
    let reread = |why: String| AppError::Internal(format!("re-reading seed entry {path}: {why}"));
    let server = ServerJson::deserialize(&value).map_err(|err| reread(err.to_string()))?;
    let official: Option<&OfficialMeta> = official.as_ref();
    let mut row = apply::make_row(&server, value, official, now).map_err(|r| reread(r.reason))?;
    if official.is_none() {
        // Without registry metadata a seeded entry is published now and active (a file source's sync takes a
        // ToolHive `Deprecated` status as the registry's; seeding never did).
        row.status = ServerStatus::Active;
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_each_rule_with_its_count_most_frequent_first() {
        let mut r = SeedReport::default();
        r.skip("duplicate-version", "a.b/c", "1", "again");
        r.skip(
            "#/definitions/Package/required",
            "a.b/d",
            "1",
            "packages[0].version: missing",
        );
        r.skip(
            "#/definitions/Package/required",
            "a.b/e",
            "2",
            "packages[0].version: missing",
        );
        assert_eq!(
            r.reasons_line(),
            "2 × #/definitions/Package/required, 1 × duplicate-version"
        );
        assert_eq!(
            r.examples_line(),
            "#/definitions/Package/required: a.b/d@1: packages[0].version: missing; duplicate-version: a.b/c@1: again"
        );
        assert_eq!(r.skipped, 3);
    }
}
