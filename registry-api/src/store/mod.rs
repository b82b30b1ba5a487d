//! Storage: one [`Store`] trait, one test suite, several backends (SQLite, PostgreSQL).
//!
//! The store knows rows, not rules: what may be published, and which version is latest, is decided by the
//! service (`crate::service`) inside a serialized write transaction that the store provides ([`Store::write`]).

mod sql;

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use thv_core::api::{OfficialMeta, ServerStatus};
use thv_core::version::VersionCandidate;

use crate::error::AppError;

pub use sql::{PostgresStore, SqliteStore, connect};

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
    /// Lower-cased name and description, matched by `search`.
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
}

/// Operations available inside a write transaction that is serialized per server name.
#[async_trait]
pub trait WriteTx: Send {
    /// Every version of the server, deleted ones included, newest publish first.
    async fn versions(&mut self, server_name: &str) -> Result<Vec<VersionRow>, StoreError>;
    /// A server other than `server_name` that already declares this remote URL in a non-deleted version.
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
pub type WriteFn = Box<
    dyn for<'t> FnOnce(&'t mut dyn WriteTx) -> BoxFuture<'t, Result<Vec<VersionRow>, AppError>>
        + Send,
>;

/// Boxes a closure as a [`WriteFn`] (the explicit bound lets the closure's lifetimes be inferred).
pub fn write_fn<F>(body: F) -> WriteFn
where
    F: for<'t> FnOnce(&'t mut dyn WriteTx) -> BoxFuture<'t, Result<Vec<VersionRow>, AppError>>
        + Send
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
    /// Every version of one server, newest publish first.
    async fn versions(
        &self,
        server_name: &str,
        include_deleted: bool,
    ) -> Result<Vec<VersionRow>, StoreError>;
    /// One version, or the latest one when `version` is `None`.
    async fn get(
        &self,
        server_name: &str,
        version: Option<&str>,
    ) -> Result<Option<VersionRow>, StoreError>;
    /// Number of stored versions.
    async fn count(&self) -> Result<u64, StoreError>;
    /// Runs `body` in one transaction serialized against every other write to `server_name`.
    async fn write(&self, server_name: &str, body: WriteFn) -> Result<Vec<VersionRow>, AppError>;
    /// Inserts every batch in one transaction (seeding and imports; the rows' rules were applied by the caller).
    /// Batches are produced while earlier ones are written, so a large import never holds all its rows. An `Err`
    /// batch rolls the whole transaction back.
    async fn insert_batches(&self, batches: &mut RowBatches<'_>) -> Result<u64, AppError>;
    /// [`Store::insert_batches`] with one batch.
    async fn insert_batch(&self, rows: &[VersionRow]) -> Result<u64, AppError> {
        self.insert_batches(&mut std::iter::once(Ok(rows.to_vec())))
            .await
    }
    /// Cheap liveness check of the database.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Calls `on_change` whenever another process sharing the database commits a write (PostgreSQL replicas
    /// announce theirs with `NOTIFY`); also when such announcements may have been missed. No-op where one process
    /// owns the database (SQLite).
    fn watch_changes(&self, on_change: ChangeCallback);
}

/// See [`Store::insert_batches`].
pub type RowBatches<'a> = dyn Iterator<Item = Result<Vec<VersionRow>, AppError>> + Send + 'a;

/// See [`Store::watch_changes`].
pub type ChangeCallback = std::sync::Arc<dyn Fn() + Send + Sync>;
