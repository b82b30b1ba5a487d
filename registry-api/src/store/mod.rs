//! Storage: one [`Store`] trait, one test suite, several backends (SQLite, PostgreSQL).
//!
//! The store knows rows, not rules: what may be published, and which version is latest, is decided by the
//! service (`crate::service`) inside a serialized write transaction that the store provides ([`Store::write`]).

pub mod configmap;
mod list_sql;
mod monitor;
pub mod row_index;
mod sql;
mod sqlite_read;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use thv_core::api::{OfficialMeta, ServerStatus};
use thv_core::version::VersionCandidate;

pub use monitor::Monitored;
pub use row_index::RowIndex;
pub use sql::{PostgresStore, SqliteStore, connect};

/// How a store's connection pool behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// PostgreSQL: how long a request waits for a connection — a free one, or a new one while the server does
    /// not answer — before it fails (503). SQLite's connections are local files: it keeps sqlx's default.
    pub acquire_timeout: Duration,
    /// PostgreSQL: the longest a read may take once it has a connection; then it fails (503) and the connection is
    /// closed, so that a server that stopped answering (or a network that drops its packets) cannot hold requests
    /// and connections forever. SQLite reads a local file: no limit.
    pub read_timeout: Duration,
    /// PostgreSQL: the longest a write may take, from taking its connection to its commit (its wait for the
    /// server name's lock included); then it fails (503, saying that whether it was committed is not known) and
    /// its connection is closed.
    pub write_timeout: Duration,
}

impl PoolSettings {
    /// The default acquire timeout: a request fails fast while the database is down.
    pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
    /// The default read timeout: far above any read the API makes (milliseconds), far below a client's patience.
    pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default write timeout: writes of one name queue behind each other, so it is longer than a read's.
    pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

    pub fn new(max_connections: u32) -> Self {
        Self {
            max_connections,
            acquire_timeout: Self::DEFAULT_ACQUIRE_TIMEOUT,
            read_timeout: Self::DEFAULT_READ_TIMEOUT,
            write_timeout: Self::DEFAULT_WRITE_TIMEOUT,
        }
    }
}

/// The source that holds what is published through this API (and the seed); every other source is synced.
pub const MANAGED_SOURCE: &str = "managed";

/// The sources a read sees, in precedence order: a server name found in an earlier source hides that name in the
/// later ones (as toolhive-registry-server's registries: first wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    sources: Arc<[String]>,
}

impl Scope {
    /// What this API publishes: the default registry unless configuration composes another.
    pub fn managed() -> Self {
        Self::new(vec![MANAGED_SOURCE.to_string()]).expect("one source")
    }

    /// `None` when `sources` is empty.
    pub fn new(sources: Vec<String>) -> Option<Self> {
        (!sources.is_empty()).then(|| Self {
            sources: sources.into(),
        })
    }

    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    /// The first source, in precedence order, among those that hold the name.
    pub fn first_of<'a>(&'a self, holding: &[String]) -> Option<&'a str> {
        self.sources
            .iter()
            .find(|s| holding.contains(s))
            .map(String::as_str)
    }
}

impl Default for Scope {
    fn default() -> Self {
        Self::managed()
    }
}

/// One stored server version.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionRow {
    pub server_name: String,
    pub version: String,
    /// The server.json document as JSON text.
    pub value: String,
    pub status: ServerStatus,
    pub status_message: Option<String>,
    pub status_changed_at: DateTime<Utc>,
    pub published_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub is_latest: bool,
    /// Lower-cased name and description, matched by `search`. Empty in rows the [`Store`]'s reads return
    /// (`list`, `versions`, `get`: the API never shows it); written and read whole inside write transactions.
    pub search_text: String,
}

impl VersionRow {
    pub fn official(&self) -> OfficialMeta {
        OfficialMeta {
            status: self.status,
            status_message: self.status_message.clone(),
            status_changed_at: self.status_changed_at,
            published_at: self.published_at,
            updated_at: self.updated_at,
            is_latest: self.is_latest,
        }
    }
}

impl VersionCandidate for VersionRow {
    fn version(&self) -> &str {
        &self.version
    }
    fn published_at(&self) -> DateTime<Utc> {
        self.published_at
    }
    fn is_deleted(&self) -> bool {
        self.status == ServerStatus::Deleted
    }
}

/// Which versions a list returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionFilter {
    All,
    Latest,
    Exact(String),
}

/// Position after which a page starts: `(server_name, version) > (name, version)`, or `server_name > name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub server_name: String,
    pub version: Option<String>,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(v) => write!(f, "{}:{}", self.server_name, v),
            None => f.write_str(&self.server_name),
        }
    }
}

/// `GET servers` after parsing and checking its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    /// Which sources the list reads.
    pub scope: Scope,
    pub cursor: Option<Cursor>,
    pub limit: u32,
    /// Lower-cased search term (matched as a literal substring).
    pub search: Option<String>,
    /// Strictly after this instant.
    pub updated_since: Option<DateTime<Utc>>,
    pub version: VersionFilter,
    pub include_deleted: bool,
}

/// Storage failures; mapped to HTTP in one place (`crate::error`).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("a concurrent change conflicted with this one: {0}")]
    Conflict(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(String),
    /// What a write would store exceeds what the backend can hold (the ConfigMap backend's per-object limit).
    #[error("{0}")]
    TooLarge(String),
    /// A write's body, or an import's producer, refused the write: its own error, handed back unchanged (the
    /// store never looks inside; the API maps it once, `crate::error`).
    #[error("{0}")]
    Rejected(Rejection),
}

/// See [`StoreError::Rejected`].
pub type Rejection = Box<dyn std::error::Error + Send + Sync>;

/// Operations available inside a write transaction that is serialized per server name.
#[async_trait]
pub trait WriteTx: Send {
    /// Every version of the server, deleted ones included, newest publish first.
    async fn versions(&mut self, server_name: &str) -> Result<Vec<VersionRow>, StoreError>;
    /// A server other than `server_name` that already declares this remote URL in a non-deleted version.
    /// The URL is held until the transaction ends: another name's write checking it waits (so two names cannot
    /// both find it free). A write checking several URLs checks them in sorted order.
    async fn remote_url_owner(
        &mut self,
        url: &str,
        server_name: &str,
    ) -> Result<Option<String>, StoreError>;
    async fn insert(&mut self, row: &VersionRow) -> Result<(), StoreError>;
    /// Replaces the stored row with the same (server_name, version).
    async fn update(&mut self, row: &VersionRow) -> Result<(), StoreError>;
    /// Moves the latest flag of `server_name` to `version` (or clears it).
    async fn set_latest(
        &mut self,
        server_name: &str,
        version: Option<&str>,
    ) -> Result<(), StoreError>;
}

/// The body of a write transaction: returns the rows it wrote and `Ok` to commit, or `Err` to roll back.
/// A store may run it more than once: the ConfigMap backend's writes are optimistic, and a body whose commit
/// lost to a concurrent write of the same name runs again on what that write left. Only the last run's writes
/// are kept, so a body decides from what its transaction reads, never from what an earlier run saw.
pub type WriteFn = Box<
    dyn for<'t> Fn(&'t mut dyn WriteTx) -> BoxFuture<'t, Result<Vec<VersionRow>, StoreError>>
        + Send
        + Sync,
>;

/// Boxes a closure as a [`WriteFn`] (the explicit bound lets the closure's lifetimes be inferred).
pub fn write_fn<F>(body: F) -> WriteFn
where
    F: for<'t> Fn(&'t mut dyn WriteTx) -> BoxFuture<'t, Result<Vec<VersionRow>, StoreError>>
        + Send
        + Sync
        + 'static,
{
    Box::new(body)
}

/// Registry storage.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Backend name for logs and `/health` ("sqlite", "postgres").
    fn backend(&self) -> &'static str;
    /// A page of versions in `(server_name, version)` order; at most `query.limit` rows.
    async fn list(&self, query: &ListQuery) -> Result<Vec<VersionRow>, StoreError>;
    /// Every version of one server, newest publish first, from the first source of `scope` that holds the name.
    async fn versions(
        &self,
        scope: &Scope,
        server_name: &str,
        include_deleted: bool,
    ) -> Result<Vec<VersionRow>, StoreError>;
    /// One version, or the latest one when `version` is `None`, from the first source of `scope` holding the name.
    async fn get(
        &self,
        scope: &Scope,
        server_name: &str,
        version: Option<&str>,
    ) -> Result<Option<VersionRow>, StoreError>;
    /// Number of versions in the managed source.
    async fn count(&self) -> Result<u64, StoreError>;
    /// Runs `body` in one transaction serialized against every other write to `server_name`.
    async fn write(&self, server_name: &str, body: WriteFn) -> Result<Vec<VersionRow>, StoreError>;
    /// Inserts every batch in one transaction (seeding and imports; the rows' rules were applied by the caller),
    /// committed when the sending side is dropped. Batches are produced (on another thread) while earlier ones are
    /// written, so a large import never holds all its rows. An `Err` batch rolls the whole transaction back.
    async fn insert_batches(&self, batches: &mut RowBatches) -> Result<u64, StoreError>;
    /// [`Store::insert_batches`] with one batch.
    async fn insert_batch(&self, rows: &[VersionRow]) -> Result<u64, StoreError> {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        // Cannot fail: the receiver is alive and the channel empty.
        let _ = tx.try_send(Ok(rows.to_vec()));
        drop(tx);
        self.insert_batches(&mut rx).await
    }
    /// Records a configured sync source (or updates its kind); its state starts as `pending`.
    async fn register_source(&self, name: &str, kind: &str) -> Result<(), StoreError>;
    /// Every recorded sync source, by name.
    async fn sources(&self) -> Result<Vec<SourceRecord>, StoreError>;
    /// Runs one sync of `source` in one transaction that holds the source's lock: `body` decides and writes; its
    /// rows become visible together when it commits, and a failure leaves the last good data in place (the
    /// failure itself is recorded). [`SyncAttempt::Busy`] when another replica holds the lock.
    async fn sync(&self, source: &str, body: SyncFn) -> Result<SyncAttempt, StoreError>;
    /// Cheap liveness check of the database.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Calls `on_change` whenever another process sharing the database commits a write (PostgreSQL replicas
    /// announce theirs with `NOTIFY`); also when such announcements may have been missed. No-op where one process
    /// owns the database (SQLite).
    fn watch_changes(&self, on_change: ChangeCallback);
}

/// The database a URL names, by its scheme: `sqlite:...`, `postgres://...` / `postgresql://...`, or
/// `configmap://...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
    /// `configmap://NAMESPACE/PREFIX`: ConfigMaps through the Kubernetes API.
    ConfigMap,
}

impl DatabaseKind {
    /// `None` for any other scheme.
    pub fn of(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else if url.starts_with("configmap:") {
            Some(Self::ConfigMap)
        } else {
            None
        }
    }
}

/// The remote URLs a stored document declares (indexed for the duplicate-URL rule).
pub(crate) fn remote_urls(value: &str) -> Result<Vec<String>, StoreError> {
    #[derive(serde::Deserialize)]
    struct Doc {
        #[serde(default)]
        remotes: Option<Vec<Remote>>,
    }
    #[derive(serde::Deserialize)]
    struct Remote {
        #[serde(default)]
        url: Option<String>,
    }
    let doc: Doc = serde_json::from_str(value)
        .map_err(|e| StoreError::Corrupt(format!("server.json: {e}")))?;
    Ok(doc
        .remotes
        .into_iter()
        .flatten()
        .filter_map(|r| r.url)
        .collect())
}

/// A message (an upstream's error body, a tool's output) as text every backend stores: NUL, which PostgreSQL
/// refuses in any text, becomes U+FFFD.
pub(crate) fn storable(message: &str) -> std::borrow::Cow<'_, str> {
    if message.contains('\0') {
        message.replace('\0', "\u{FFFD}").into()
    } else {
        message.into()
    }
}

/// Versions of one name as the [`Store`] hands them out: newest publish first, then version, descending.
pub(crate) fn newest_first(rows: &mut [VersionRow]) {
    rows.sort_by(|a, b| {
        b.published_at
            .cmp(&a.published_at)
            .then_with(|| b.version.cmp(&a.version))
    });
}

/// A time as the backends store it: microseconds since the epoch.
pub(crate) fn micros(t: &DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// A stored time back; out of range is corrupt data.
pub(crate) fn from_micros(us: i64) -> Result<DateTime<Utc>, StoreError> {
    use chrono::TimeZone;
    Utc.timestamp_micros(us)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {us} out of range")))
}

/// See [`Store::insert_batches`].
pub type RowBatches = tokio::sync::mpsc::Receiver<Result<Vec<VersionRow>, StoreError>>;

/// See [`Store::watch_changes`].
pub type ChangeCallback = std::sync::Arc<dyn Fn() + Send + Sync>;

/// Where a sync source stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum SourceStatus {
    /// Never synced.
    Pending,
    Complete,
    /// The last sync failed; the data of the last complete one is served.
    Failed,
}

/// The recorded state of one sync source.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SourceRecord {
    pub name: String,
    pub kind: String,
    pub status: SourceStatus,
    pub generation: i64,
    pub settings_hash: Option<String>,
    pub content_hash: Option<String>,
    pub watermark: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_full_sync_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_report: Option<serde_json::Value>,
    pub server_count: u64,
    pub version_count: u64,
}

/// What a committed sync records.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncOutcome {
    pub settings_hash: String,
    pub content_hash: Option<String>,
    pub watermark: Option<DateTime<Utc>>,
    /// Whether this sync replaced the source's whole content.
    pub full: bool,
    pub report: serde_json::Value,
}

/// How an upsert treats the timestamps of rows that already exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timestamps {
    /// The incoming rows carry the source's own times (an upstream registry API): take them.
    FromSource,
    /// The times are this sync's: keep `published_at`, and `updated_at` unless the document or status changed.
    KeepUnchanged,
}

/// Operations of one sync transaction; every row it touches belongs to its source.
#[async_trait]
pub trait SyncTx: Send {
    /// The source's state as this transaction found it.
    fn record(&self) -> &SourceRecord;
    /// Whether this transaction's writes hold up every other writer of the database (SQLite): then a sync reads
    /// its whole source before its first write, so that a slow or hanging source never holds writers up.
    fn writes_block_others(&self) -> bool;
    /// Inserts or replaces rows, marking them as written by this sync.
    async fn upsert(&mut self, rows: &[VersionRow], times: Timestamps) -> Result<(), StoreError>;
    /// Removes one version; the number of rows removed.
    async fn remove(&mut self, server_name: &str, version: &str) -> Result<u64, StoreError>;
    /// Removes every row this sync did not write (the end of a full sync); the number removed.
    async fn remove_stale(&mut self) -> Result<u64, StoreError>;
    /// Clears every latest flag of the source.
    async fn clear_latest(&mut self) -> Result<(), StoreError>;
    /// Every version of one server in the source.
    async fn versions(&mut self, server_name: &str) -> Result<Vec<VersionRow>, StoreError>;
    /// Moves the server's latest flag to `version` (or clears it).
    async fn set_latest(
        &mut self,
        server_name: &str,
        version: Option<&str>,
    ) -> Result<(), StoreError>;
}

/// The body of a sync: `Ok(Some)` commits and records, `Ok(None)` rolls back quietly (nothing to do), `Err`
/// rolls back and records the failure.
pub type SyncFn = Box<
    dyn for<'t> FnOnce(&'t mut dyn SyncTx) -> BoxFuture<'t, Result<Option<SyncOutcome>, String>>
        + Send,
>;

/// Boxes a closure as a [`SyncFn`] (the explicit bound lets the closure's lifetimes be inferred).
pub fn sync_fn<F>(body: F) -> SyncFn
where
    F: for<'t> FnOnce(&'t mut dyn SyncTx) -> BoxFuture<'t, Result<Option<SyncOutcome>, String>>
        + Send
        + 'static,
{
    Box::new(body)
}

/// How [`Store::sync`] ended.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncAttempt {
    /// Another replica is syncing this source.
    Busy,
    /// The body had nothing to do.
    Skipped,
    /// Committed; the source's new record.
    Committed(Box<SourceRecord>),
    /// Rolled back; the reason, also recorded.
    Failed(String),
}
