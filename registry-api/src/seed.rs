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

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, SubsecRound, Utc};
use serde::Deserialize;
use thv_core::api::{OfficialMeta, ServerStatus};
use thv_core::registry_file::ServerDocuments;
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
    name: String,
    version: String,
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

impl Registry {
    /// Loads a registry file into an empty store (see the module documentation); returns the versions stored.
    pub async fn seed(&self, docs: &ServerDocuments<'_>) -> AppResult<u64> {
        Ok(self.seed_report(docs).await?.inserted)
    }

    /// Loads a registry file into an empty store, in one transaction, and reports what it kept and skipped.
    /// Documents are read twice — once to check them and settle each server's latest version, once to build the
    /// rows batch by batch while earlier batches are written — so memory stays proportional to a batch.
    pub async fn seed_report(&self, docs: &ServerDocuments<'_>) -> AppResult<SeedReport> {
        let now = Utc::now().trunc_subsecs(6);
        let mut report = SeedReport::default();
        let mut kept: Vec<Candidate> = Vec::new();
        for i in 0..docs.len() {
            let e = docs.entry(i);
            let (name, version) = (label(&e.value, "name"), label(&e.value, "version"));
            if let Some(error) = &e.error {
                report.skip(UNREADABLE_ENTRY, &name, &version, error);
                continue;
            }
            if let Err(Rejection { rule, reason }) = apply::check(&e.value, e.official.as_ref()) {
                report.skip(&rule, &name, &version, &reason);
                continue;
            }
            kept.push(Candidate {
                index: i,
                published_at: e.official.as_ref().map_or(now, |o| o.published_at),
                deleted: e
                    .official
                    .as_ref()
                    .is_some_and(|o| o.status == ServerStatus::Deleted),
                name,
                version,
            });
        }
        // A version the file holds more than once: the first copy is kept. Found by sorting, not with a set of
        // every (name, version), which at 100 k entries held 10 MB more at the import's peak.
        kept.sort_by(|a, b| {
            (a.name.as_str(), a.version.as_str(), a.index).cmp(&(
                b.name.as_str(),
                b.version.as_str(),
                b.index,
            ))
        });
        kept.dedup_by(|copy, first| {
            let same = copy.name == first.name && copy.version == first.version;
            if same {
                let (name, version) = (&copy.name, &copy.version);
                report.skip(
                    DUPLICATE_VERSION,
                    name,
                    version,
                    &format!(
                        "the file holds {name}@{version} more than once; the first copy is kept"
                    ),
                );
            }
            same
        });
        let mut latest = HashSet::new();
        kept.sort_by(|a, b| a.name.cmp(&b.name).then(a.index.cmp(&b.index)));
        for group in kept.chunk_by(|a, b| a.name == b.name) {
            if let Some(w) = pick_latest(group) {
                latest.insert(group[w].index);
            }
        }
        let mut order: Vec<usize> = kept.into_iter().map(|c| c.index).collect();
        order.sort_unstable();
        let mut batches = order.chunks(BATCH).map(|chunk| {
            chunk
                .iter()
                .map(|&i| {
                    let mut row = seed_row(docs, i, now)?;
                    row.is_latest = latest.contains(&i);
                    Ok(row)
                })
                .collect::<AppResult<Vec<VersionRow>>>()
        });
        report.inserted = self.store().insert_batches(&mut batches).await?;
        self.note_change();
        Ok(report)
    }
}

/// The row of a document the first pass kept.
fn seed_row(docs: &ServerDocuments<'_>, i: usize, now: DateTime<Utc>) -> AppResult<VersionRow> {
    let e = docs.entry(i);
    let reread =
        |why: String| AppError::Internal(format!("re-reading seed entry {}: {why}", e.path));
    let server = ServerJson::deserialize(&e.value).map_err(|err| reread(err.to_string()))?;
    let official: Option<&OfficialMeta> = e.official.as_ref();
    let mut row =
        apply::make_row(&server, e.value.clone(), official, now).map_err(|r| reread(r.reason))?;
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
