//! Sync: sources (upstream registry APIs, registry files, git repositories) copied into the store, each in one
//! transaction, on a schedule and on demand.
//!
//! Every replica runs a loop per source; each attempt takes the source's row lock in the database first
//! ([`Store::sync`]), so on PostgreSQL only one replica syncs a source at a time and the others skip, and then
//! decides under the lock whether a sync is due (the last attempt is recorded in the database, so a sync one
//! replica just made is not repeated by the next). A sync is:
//! - API sources: incremental (`updated_since` the newest `updatedAt` seen, deleted versions included, so
//!   deprecations and deletions propagate) between full ones (every `full_interval`, and whenever the source's
//!   settings changed); a full sync replaces the source's rows and removes the versions the upstream no longer lists.
//! - File and git sources: skipped when the content hash is unchanged; otherwise a full replacement.
//!
//! A sync that fails (upstream down mid-way, bad file) rolls back: the last good data stays served, and the
//! failure is recorded for `GET /v1/sources` ([`SyncError`]: in full for administrators, as a short reason for
//! everyone else; see [`public`]).
//!
//! HTTP requests of API and file sources go through [`http::Egress`] (same-origin redirects only, public
//! addresses only unless a source allows private ones); git sources send credentials only to the repository's
//! URL and follow no redirect ([`content`]).

pub mod apply;
pub mod cluster;
pub mod config;
pub mod content;
pub mod error;
pub mod http;
pub mod public;
pub mod upstream;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::FutureExt;
use serde::Serialize;
use serde_json::{Value, json};
use thv_core::api::ServerResponse;
use thv_core::registry_file::{FileKind, ServerDocuments};

use self::apply::{Counts, Entry, FullWrite, IncrementalWrite, Writer};
use self::config::{Source, SourceKind};
use self::content::{Content, GitLocation};
pub use self::error::SyncError;
use self::http::Egress;
use self::upstream::{Listing, Upstream};
use crate::error::{AppError, AppResult};
use crate::service::Registry;
use crate::store::{
    SourceRecord, SourceStatus, SyncAttempt, SyncOutcome, SyncTx, Timestamps, sync_fn,
};

/// Most pages and versions one API sync reads.
const MAX_PAGES: usize = 20_000;
const MAX_VERSIONS: usize = 1_000_000;
/// Page size asked of upstream APIs (the upstream maximum).
const PAGE_SIZE: u32 = 100;

/// Changes an upstream stamped this long before a sync read them may still be committing (a write stamps its
/// time before it commits, and may wait for a lock in between): the next incremental sync reads them again. Later
/// commits than that are reconciled by the full sync every `full_interval`.
const SETTLE: chrono::TimeDelta = chrono::TimeDelta::seconds(5);

/// Where the next incremental sync starts (`updated_since`, strictly after): the newest change seen, but no later
/// than [`SETTLE`] before this sync began reading — so a change stamped earlier and committed later is read next
/// time, while a bulk of versions stamped in one instant long ago (a seed, an import) is not read again — and
/// never before where this sync started.
fn settled_watermark(
    seen: Option<DateTime<Utc>>,
    since: Option<DateTime<Utc>>,
    fetch_started: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let settled = seen.map(|w| w.min(fetch_started - SETTLE));
    match (settled, since) {
        (Some(s), Some(p)) => Some(s.max(p)),
        (s, p) => s.or(p),
    }
}

/// How a sync is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The schedule: only when due.
    Schedule,
    /// An admin: now, incremental where possible.
    Manual,
    /// An admin: now, and a full sync.
    ManualFull,
}

/// Runs the configured sources' syncs.
pub struct SyncService {
    registry: Registry,
    sources: Vec<Arc<Source>>,
    cache_dir: PathBuf,
    /// Sources this process is syncing now.
    running: Mutex<HashSet<String>>,
    /// SQLite has one writer at a time: syncs queue here rather than time out waiting for the write lock.
    one_writer: Option<tokio::sync::Semaphore>,
}

/// A source as `GET /v1/sources` shows it. Readers without administrator rights see URLs without their userinfo
/// and with their query and fragment replaced by `[REDACTED]`, and of an error only its public reason.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceView {
    pub name: String,
    /// `api`, `file`, `git`, `configmap` or `kubernetes`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Where the data comes from (no credentials; for non-administrators, `?[REDACTED]` for a query).
    pub location: String,
    /// Seconds between syncs.
    pub interval_seconds: u64,
    /// `pending`, `syncing`, `complete` or `failed`.
    pub status: String,
    /// Whether a sync of it runs in this process now.
    pub syncing: bool,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_full_sync_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed (the data of the last complete sync is still served): in full for
    /// administrators; for anyone else a short reason (e.g. `the upstream answered HTTP 503`), never a URL or
    /// an upstream's answer.
    pub last_error: Option<String>,
    /// Servers with a version that is not deleted.
    pub server_count: u64,
    pub version_count: u64,
    /// Mode, counts and duration of the last complete sync (URLs in it redacted for non-administrators).
    #[schema(value_type = Object)]
    pub last_sync: Option<Value>,
    /// The registries that serve it.
    pub registries: Vec<String>,
}

impl SyncService {
    /// Records the sources in the store (their state survives restarts) and returns the service.
    pub async fn new(
        registry: Registry,
        sources: Vec<Source>,
        cache_dir: PathBuf,
    ) -> AppResult<Arc<Self>> {
        for s in &sources {
            registry
                .store()
                .register_source(&s.name, s.kind.name())
                .await?;
        }
        let one_writer =
            (registry.store().backend() == "sqlite").then(|| tokio::sync::Semaphore::new(1));
        Ok(Arc::new(Self {
            registry,
            sources: sources.into_iter().map(Arc::new).collect(),
            cache_dir,
            running: Mutex::default(),
            one_writer,
        }))
    }

    pub fn sources(&self) -> &[Arc<Source>] {
        &self.sources
    }

    fn source(&self, name: &str) -> AppResult<&Arc<Source>> {
        self.sources
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| AppError::NotFound(format!("source not found: {name}")))
    }

    /// Starts one background loop per source, and the watches of kubernetes sources.
    pub fn spawn(self: &Arc<Self>) {
        for source in &self.sources {
            if let SourceKind::Kubernetes { namespaces } = &source.kind {
                tokio::spawn(cluster::watch(
                    self.clone(),
                    source.name.clone(),
                    namespaces.clone(),
                ));
            }
            let (service, source) = (self.clone(), source.clone());
            tokio::spawn(async move {
                loop {
                    let wait = service.until_due(&source).await;
                    tokio::time::sleep(wait).await;
                    let attempt = service.sync(&source.name, Trigger::Schedule).await;
                    log_attempt(&source.name, "on schedule", &attempt);
                }
            });
        }
    }

    /// How long the loop of `source` sleeps before its next attempt: until the recorded state makes it due (at
    /// most a minute, so that a replica notices soon when another one stopped syncing), plus jitter so that
    /// replicas do not all wake at once: up to 10 % of the interval (at most 30 s), or a second when due now.
    async fn until_due(&self, source: &Source) -> Duration {
        let record = self.record_of(source).await;
        let due = record.and_then(|r| next_due(source, &r));
        let (wait, jitter) = match due {
            None => (Duration::ZERO, 1000),
            Some(due) => (
                (due - Utc::now()).to_std().unwrap_or_default(),
                (source.interval.as_millis() as u64 / 10).min(30_000),
            ),
        };
        wait.min(Duration::from_secs(60)) + Duration::from_millis(100 + jitter_millis(jitter))
    }

    /// The recorded state of `source` (`None` when the store cannot say).
    async fn record_of(&self, source: &Source) -> Option<SourceRecord> {
        self.registry
            .store()
            .sources()
            .await
            .ok()
            .and_then(|all| all.into_iter().find(|r| r.name == source.name))
    }

    /// Whether the recorded state makes `source` due now (as the sync itself decides again, under its lock).
    async fn is_due(&self, source: &Source) -> bool {
        let record = self.record_of(source).await;
        record
            .and_then(|r| next_due(source, &r))
            .is_none_or(|due| due <= Utc::now())
    }

    /// One sync attempt of the named source.
    pub async fn sync(&self, name: &str, trigger: Trigger) -> AppResult<SyncAttempt> {
        let source = self.source(name)?.clone();
        if !self.running.lock().expect("lock").insert(name.to_string()) {
            return Ok(SyncAttempt::Busy);
        }
        let _running = RunningGuard(&self.running, name.to_string());
        let cache_dir = self.cache_dir.clone();
        // A file, git or configmap source is read before the sync's turn: a slow or hanging one holds no other
        // source's sync up (on SQLite syncs take turns). A scheduled sync that is not due reads nothing.
        let prefetched = if trigger == Trigger::Schedule && !self.is_due(&source).await {
            None
        } else {
            read_content(&source, &cache_dir).await
        };
        let body = sync_fn(move |tx: &mut dyn SyncTx| {
            async move {
                run(&source, tx, trigger, &cache_dir, prefetched)
                    .await
                    .map_err(|e| e.stored())
            }
            .boxed()
        });
        let _turn = match &self.one_writer {
            Some(s) => Some(
                s.acquire()
                    .await
                    .map_err(|e| AppError::Internal(e.to_string()))?,
            ),
            None => None,
        };
        let attempt = self.registry.store().sync(name, body).await?;
        if matches!(attempt, SyncAttempt::Committed(_)) {
            self.registry.note_change();
        }
        Ok(attempt)
    }

    /// Every configured source with its recorded state: in full (`detail`, for administrators), or as
    /// [`public`] says.
    pub async fn views(
        &self,
        registries: &config::Registries,
        detail: bool,
    ) -> AppResult<Vec<SourceView>> {
        let records = self.registry.store().sources().await?;
        let running = self.running.lock().expect("lock").clone();
        Ok(self
            .sources
            .iter()
            .map(|s| {
                let record = records.iter().find(|r| r.name == s.name);
                let v = view(s, record, running.contains(&s.name), registries);
                if detail { v } else { v.public() }
            })
            .collect())
    }
}

/// Logs how a sync attempt (`cause`: why it ran) ended: committed, failed (the last good data stays served) or
/// not attempted (the store could not say); nothing when it was not due or another ran.
fn log_attempt(source: &str, cause: &str, attempt: &AppResult<SyncAttempt>) {
    match attempt {
        Ok(SyncAttempt::Failed(e)) => {
            tracing::warn!(source, cause, error = %e, "sync failed; the last good data stays served");
        }
        Ok(SyncAttempt::Committed(r)) => {
            tracing::info!(source, cause, versions = r.version_count, report = ?r.last_report, "synced");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(source, cause, error = %e, "sync attempt failed"),
    }
}

struct RunningGuard<'a>(&'a Mutex<HashSet<String>>, String);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.0.lock().expect("lock").remove(&self.1);
    }
}

fn jitter_millis(max: u64) -> u64 {
    if max == 0 {
        return 0;
    }
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b) % max
}

/// When the recorded state makes the source due (`None`: now). A failed sync is retried after at most a minute
/// (sooner than the interval), whatever it synced before — also a source that never synced, whose settings no
/// sync recorded; a source that completed under other settings is due now.
fn next_due(source: &Source, record: &SourceRecord) -> Option<DateTime<Utc>> {
    let after = |last: DateTime<Utc>, wait: Duration| {
        Some(last + chrono::TimeDelta::from_std(wait).unwrap_or(chrono::TimeDelta::MAX))
    };
    if record.status == SourceStatus::Failed
        && let Some(last) = record.last_attempt_at
    {
        return after(last, source.interval.min(Duration::from_secs(60)));
    }
    if record.settings_hash.as_deref() != Some(source.settings_hash.as_str()) {
        return None;
    }
    match record.status {
        SourceStatus::Complete => after(record.last_attempt_at?, source.interval),
        SourceStatus::Pending | SourceStatus::Failed => None,
    }
}

fn view(
    s: &Source,
    r: Option<&SourceRecord>,
    syncing: bool,
    registries: &config::Registries,
) -> SourceView {
    let status = if syncing {
        "syncing".to_string()
    } else {
        serde_json::to_value(r.map_or(SourceStatus::Pending, |r| r.status))
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    SourceView {
        name: s.name.clone(),
        kind: s.kind.name().into(),
        location: location(&s.kind),
        interval_seconds: s.interval.as_secs(),
        status,
        syncing,
        last_attempt_at: r.and_then(|r| r.last_attempt_at),
        last_success_at: r.and_then(|r| r.last_success_at),
        last_full_sync_at: r.and_then(|r| r.last_full_sync_at),
        last_error: r.and_then(|r| r.last_error.clone()),
        server_count: r.map_or(0, |r| r.server_count),
        version_count: r.map_or(0, |r| r.version_count),
        last_sync: r.and_then(|r| r.last_report.clone()),
        registries: registries
            .iter()
            .filter(|(_, scope)| scope.sources().contains(&s.name))
            .map(|(name, _)| name.clone())
            .collect(),
    }
}

impl SourceView {
    /// What readers without administrator rights see.
    fn public(self) -> Self {
        let mut last_sync = self.last_sync.as_ref().map(public::redact_report);
        // A cluster's skipped resources are named by namespace and name, those hidden by claims among them: only
        // their count is public.
        if self.kind == "kubernetes"
            && let Some(Value::Object(report)) = last_sync.as_mut()
        {
            report.remove("skippedEntries");
        }
        Self {
            location: public::redact_urls(&self.location),
            last_error: self.last_error.as_deref().map(error::public_error),
            last_sync,
            ..self
        }
    }
}

fn location(kind: &SourceKind) -> String {
    match kind {
        SourceKind::Api { endpoint, .. } => endpoint.clone(),
        SourceKind::File(config::FileLocation::Path(p)) => p.display().to_string(),
        SourceKind::File(config::FileLocation::Url(u)) => u.clone(),
        SourceKind::Git {
            repository, path, ..
        } => format!("{repository} {path}"),
        SourceKind::ConfigMap {
            namespace,
            name,
            key,
        } => content::configmap_origin(namespace.as_deref(), name, key),
        SourceKind::Kubernetes { namespaces } => cluster::origin(namespaces),
    }
}

/// The body of one sync, run under the source's lock.
async fn run(
    source: &Source,
    tx: &mut dyn SyncTx,
    trigger: Trigger,
    cache_dir: &std::path::Path,
    prefetched: Option<Result<Content, SyncError>>,
) -> Result<Option<SyncOutcome>, SyncError> {
    let started = Instant::now();
    let record = tx.record().clone();
    let now = Utc::now();
    if trigger == Trigger::Schedule && next_due(source, &record).is_some_and(|due| due > now) {
        return Ok(None);
    }
    let settings_changed = record.settings_hash.as_deref() != Some(source.settings_hash.as_str());
    let mut outcome = match &source.kind {
        SourceKind::Api { endpoint, ca_cert } => {
            let full = trigger == Trigger::ManualFull
                || settings_changed
                || record.watermark.is_none()
                || record.last_full_sync_at.is_none_or(|t| {
                    t + chrono::TimeDelta::from_std(source.full_interval)
                        .unwrap_or(chrono::TimeDelta::MAX)
                        <= now
                });
            sync_api(source, endpoint, ca_cert.as_ref(), &record, full, tx).await?
        }
        _ => {
            let content = match prefetched {
                Some(content) => content?,
                None => match read_content(source, cache_dir).await {
                    Some(content) => content?,
                    None => return Err(SyncError::internal("a content source without content")),
                },
            };
            sync_content(source, content, &record, settings_changed, trigger, tx).await?
        }
    };
    if let Some(report) = outcome.report.as_object_mut() {
        report.insert(
            "durationMs".into(),
            json!(started.elapsed().as_millis() as u64),
        );
    }
    Ok(Some(outcome))
}

/// The content of a file, git or configmap source; `None` for an API source (its pages are read inside the sync).
async fn read_content(
    source: &Source,
    cache_dir: &std::path::Path,
) -> Option<Result<Content, SyncError>> {
    Some(match &source.kind {
        SourceKind::Api { .. } => return None,
        SourceKind::File(location) => {
            let egress = Egress::new(&source.name, source.allow_private_addresses);
            content::read_file(location, source.timeout, &egress).await
        }
        SourceKind::Git {
            repository,
            reference,
            path,
            auth,
        } => {
            let git = GitLocation {
                repository,
                reference,
                path,
                auth: auth.as_ref(),
            };
            let cache = content::git_cache(cache_dir, &source.name);
            content::read_git(&git, &cache, source.timeout).await
        }
        SourceKind::ConfigMap {
            namespace,
            name,
            key,
        } => content::read_configmap(namespace.as_deref(), name, key, source.timeout).await,
        SourceKind::Kubernetes { namespaces } => cluster::read(namespaces, source.timeout).await,
    })
}

fn report(mode: &str, counts: Counts, extra: Value) -> Value {
    let mut v = serde_json::to_value(counts).unwrap_or_else(|_| json!({}));
    if let Some(o) = v.as_object_mut() {
        o.insert("mode".into(), json!(mode));
        if let Value::Object(extra) = extra {
            o.extend(extra);
        }
    }
    v
}

async fn sync_api(
    source: &Source,
    endpoint: &str,
    ca_cert: Option<&PathBuf>,
    record: &SourceRecord,
    full: bool,
    tx: &mut dyn SyncTx,
) -> Result<SyncOutcome, SyncError> {
    let egress = Egress::new(&source.name, source.allow_private_addresses);
    let client = egress.client(source.timeout, ca_cert.map(PathBuf::as_path))?;
    let upstream = Upstream::new(endpoint, egress, client)?;
    let since = record.watermark.filter(|_| !full);
    let fetch_started = Utc::now();
    let mut pages = upstream.pages(Listing {
        limit: PAGE_SIZE,
        updated_since: since,
        max_pages: MAX_PAGES,
        max_versions: MAX_VERSIONS,
    });
    // Where writes hold up every other writer, read the whole upstream before the first write.
    let spool = if tx.writes_block_others() {
        let mut spool = Spool::new()?;
        while let Some(page) = pages.next_page().await {
            for item in page? {
                spool.push(&item)?;
            }
        }
        Some(spool)
    } else {
        None
    };
    let mut watermark = record.watermark.filter(|_| !full);
    let now = Utc::now();
    let mut w = if full {
        Writer::Full(FullWrite::start(tx, Timestamps::FromSource).await?)
    } else {
        Writer::Incremental(IncrementalWrite::new(tx))
    };
    let mut push = |item: ServerResponse<Value>| {
        let official = item.meta.official;
        if let Some(o) = &official {
            watermark = watermark.max(Some(o.updated_at));
        }
        apply::entry_from_value(item.server, official.as_ref(), &source.filter, now)
    };
    match spool {
        Some(spool) => {
            for item in spool.into_items()? {
                let e = apply::signed(push(item?), &source.signatures).await;
                w.push(e).await?;
            }
        }
        None => {
            while let Some(page) = pages.next_page().await {
                for item in page? {
                    let e = apply::signed(push(item), &source.signatures).await;
                    w.push(e).await?;
                }
            }
        }
    }
    let counts = w.finish().await?;
    let extra = json!({
        "pages": pages.pages_fetched(),
        "updatedSince": since.map(|t| t.to_rfc3339()),
    });
    Ok(SyncOutcome {
        settings_hash: source.settings_hash.clone(),
        content_hash: None,
        watermark: settled_watermark(watermark, since, fetch_started),
        full,
        report: report(if full { "full" } else { "incremental" }, counts, extra),
    })
}

/// An upstream's items kept in an anonymous temporary file (one JSON document per line) until they are written.
struct Spool {
    file: std::io::BufWriter<std::fs::File>,
}

impl Spool {
    fn new() -> Result<Self, SyncError> {
        let file = tempfile::tempfile()
            .map_err(|e| SyncError::internal(format!("creating a spool file: {e}")))?;
        Ok(Self {
            file: std::io::BufWriter::new(file),
        })
    }

    fn push(&mut self, item: &ServerResponse<Value>) -> Result<(), SyncError> {
        use std::io::Write;
        serde_json::to_writer(&mut self.file, item)
            .map_err(|e| e.to_string())
            .and_then(|()| self.file.write_all(b"\n").map_err(|e| e.to_string()))
            .map_err(|e| SyncError::internal(format!("writing the spool file: {e}")))
    }

    fn into_items(
        self,
    ) -> Result<impl Iterator<Item = Result<ServerResponse<Value>, SyncError>>, SyncError> {
        use std::io::{BufRead, Seek};
        let failed =
            |e: &dyn std::fmt::Display| SyncError::internal(format!("the spool file: {e}"));
        let mut file = self.file.into_inner().map_err(|e| failed(&e))?;
        file.rewind().map_err(|e| failed(&e))?;
        Ok(std::io::BufReader::new(file).lines().map(move |line| {
            line.map_err(|e| failed(&e))
                .and_then(|l| serde_json::from_str(&l).map_err(|e| failed(&e)))
        }))
    }
}

async fn sync_content(
    source: &Source,
    content: Content,
    record: &SourceRecord,
    settings_changed: bool,
    trigger: Trigger,
    tx: &mut dyn SyncTx,
) -> Result<SyncOutcome, SyncError> {
    let unchanged = !settings_changed
        && trigger != Trigger::ManualFull
        && record.status != SourceStatus::Pending
        && record.content_hash.as_deref() == Some(content.hash.as_str());
    if unchanged {
        return Ok(SyncOutcome {
            settings_hash: source.settings_hash.clone(),
            content_hash: Some(content.hash),
            watermark: None,
            full: false,
            report: json!({"mode": "unchanged", "origin": content.origin}),
        });
    }
    let docs = ServerDocuments::read(&content.bytes).map_err(|e| SyncError::Invalid {
        origin: content.origin.clone(),
        message: e.to_string(),
    })?;
    // Versions of a server together, in file order otherwise, so that each server's latest flag is settled once.
    let mut order: Vec<(String, usize)> = (0..docs.len())
        .map(|i| {
            (
                docs.identity(i).map(|(name, _)| name).unwrap_or_default(),
                i,
            )
        })
        .collect();
    order.sort();
    let now = Utc::now();
    // A list response carries the times of the registry it was read from; other files get this sync's.
    let times = if docs.kind() == FileKind::ApiList {
        Timestamps::FromSource
    } else {
        Timestamps::KeepUnchanged
    };
    let mut w = FullWrite::start(tx, times).await?;
    for skipped in content.skipped {
        w.push(Entry::Invalid(skipped)).await?;
    }
    for (_, i) in order {
        let e = docs.entry(i);
        let entry = match e.error {
            Some(reason) => {
                let (server, version) = docs
                    .identity(i)
                    .unwrap_or_else(|_| ("?".into(), "?".into()));
                Entry::Invalid(apply::Skipped {
                    server,
                    version,
                    reason,
                })
            }
            None => {
                let e = apply::entry_from_value(e.value, e.official.as_ref(), &source.filter, now);
                apply::signed(e, &source.signatures).await
            }
        };
        w.push(entry).await?;
    }
    let counts = w.finish().await?;
    Ok(SyncOutcome {
        settings_hash: source.settings_hash.clone(),
        content_hash: Some(content.hash),
        watermark: None,
        full: true,
        report: report("full", counts, json!({"origin": content.origin})),
    })
}

#[cfg(test)]
mod settle_tests {
    use super::*;

    /// A source that never synced has no recorded settings: its failures are retried after the retry delay,
    /// not again at once (about twice a second before).
    #[test]
    fn failed_syncs_wait_before_they_are_retried() {
        let config: config::SourceConfig = toml::from_str(
            r#"
            name = "up"
            file = { url = "http://127.0.0.1:9/registry.json" }
            sync_policy = { interval = "1h" }
            allow_private_addresses = true
            "#,
        )
        .unwrap();
        let mut errors = Vec::new();
        let (sources, _) = config::check(&[config], &[], None, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let source = &sources[0];
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let mut record = SourceRecord {
            name: "up".into(),
            kind: "file".into(),
            status: SourceStatus::Failed,
            generation: 1,
            settings_hash: None,
            content_hash: None,
            watermark: None,
            last_attempt_at: Some(at),
            last_success_at: None,
            last_full_sync_at: None,
            last_error: Some("down".into()),
            last_report: None,
            server_count: 0,
            version_count: 0,
        };
        assert_eq!(
            next_due(source, &record),
            Some(at + chrono::TimeDelta::seconds(60))
        );
        record.status = SourceStatus::Pending;
        assert_eq!(next_due(source, &record), None, "never tried: now");
        record.status = SourceStatus::Complete;
        assert_eq!(next_due(source, &record), None, "other settings: now");
        record.settings_hash = Some(source.settings_hash.clone());
        assert_eq!(
            next_due(source, &record),
            Some(at + chrono::TimeDelta::hours(1))
        );
    }

    #[test]
    fn the_watermark_stays_behind_recent_changes() {
        let t = |s: i64| DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap();
        // A seed long ago: read once.
        assert_eq!(settled_watermark(Some(t(0)), None, t(3600)), Some(t(0)));
        // Changes up to the moment of reading: the last seconds are read again next time.
        assert_eq!(
            settled_watermark(Some(t(100)), Some(t(0)), t(100)),
            Some(t(95))
        );
        // Never behind where this sync started.
        assert_eq!(
            settled_watermark(Some(t(100)), Some(t(97)), t(100)),
            Some(t(97))
        );
        assert_eq!(settled_watermark(None, Some(t(5)), t(100)), Some(t(5)));
    }
}
