//! The SQL backends: SQLite (embedded default) and PostgreSQL (hosted, multi-replica).
//!
//! Both share the schema shape (see `migrations/`) and every statement below; the store is written once, as
//! [`SqlStore`] over the [`Driver`] trait that both sqlx drivers implement, so that each backend uses its native
//! sqlx driver and types.
//! What differs is only how a write is serialized per server name: SQLite takes the database write lock up front
//! (`BEGIN IMMEDIATE`), PostgreSQL takes a transaction-scoped advisory lock on a hash of the name.
//!
//! Here: the statements, the row types and the helpers both use; `store.rs`: the store over any [`Driver`];
//! `driver.rs`: that trait, what each driver does its own way; `sqlite.rs` and `postgres.rs`: its two
//! implementations (opening, plan choice, locking, notifications).

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{FromRow, Pool, Postgres, Sqlite};
use thv_core::api::ServerStatus;

use super::list_sql::{
    PROBE_MATCHES, SEARCH_PROBE, SearchPlan, SqlText, Substring, build_list, choose_plan,
    fts_phrase, probed_term,
};
use super::sqlite_read::Readers;
use super::{
    ChangeCallback, DatabaseKind, ListQuery, MANAGED_SOURCE, Monitored, PoolSettings, RowBatches,
    Scope, SourceRecord, SourceStatus, Store, StoreError, SyncAttempt, SyncFn, SyncOutcome, SyncTx,
    Timestamps, VersionRow, WriteFn, WriteTx, from_micros, micros, remote_urls, storable,
};
use driver::Driver;

/// PostgreSQL channel on which every committed write is announced to the other replicas.
const CHANGES_CHANNEL: &str = "thv_registry_changes";

/// Rows per multi-row INSERT in [`Store::insert_batches`] (12 parameters each, below both drivers' limits).
const BATCH_ROWS: usize = 1000;

/// The columns of a version the API shows (every column but `search_text`).
macro_rules! shown_cols {
    () => {
        "server_name, version, value, status, status_message, status_changed_at, published_at, updated_at, is_latest"
    };
}

macro_rules! cols {
    () => {
        concat!(shown_cols!(), ", search_text")
    };
}

/// The columns the API's reads need: `search_text` is read back as `''` (only writes use it), so the driver
/// copies no more than the answer needs.
macro_rules! read_cols {
    () => {
        concat!(shown_cols!(), ", '' AS search_text")
    };
}

const READ_COLS: &str = read_cols!();

const SELECT_VERSIONS: &str = concat!(
    "SELECT ",
    cols!(),
    " FROM server_versions WHERE source = $1 AND server_name = $2 ORDER BY published_at DESC, version DESC"
);
/// [`SELECT_VERSIONS`] for the API's reads.
const READ_VERSIONS: &str = concat!(
    "SELECT ",
    read_cols!(),
    " FROM server_versions WHERE source = $1 AND server_name = $2 ORDER BY published_at DESC, version DESC"
);
const SELECT_VERSIONS_LIVE: &str = concat!(
    "SELECT ",
    read_cols!(),
    " FROM server_versions WHERE source = $1 AND server_name = $2 AND status <> 'deleted' \
     ORDER BY published_at DESC, version DESC"
);
const SELECT_ONE: &str = concat!(
    "SELECT ",
    read_cols!(),
    " FROM server_versions WHERE source = $1 AND server_name = $2 AND version = $3"
);
const SELECT_LATEST: &str = concat!(
    "SELECT ",
    read_cols!(),
    " FROM server_versions WHERE source = $1 AND server_name = $2 AND is_latest"
);
/// The sources holding a server name (for registries of several sources).
const SOURCES_OF: &str = "SELECT DISTINCT source FROM server_versions WHERE server_name = $1";
/// Managed rows only: the source column's default.
const INSERT: &str = concat!(
    "INSERT INTO server_versions (",
    cols!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
);
const UPDATE: &str = "UPDATE server_versions SET value = $3, status = $4, status_message = $5, status_changed_at = $6, \
     updated_at = $7, search_text = $8 WHERE source = 'managed' AND server_name = $1 AND version = $2";
const CLEAR_LATEST: &str = "UPDATE server_versions SET is_latest = FALSE WHERE source = $1 AND server_name = $2 AND is_latest";
const SET_LATEST: &str = "UPDATE server_versions SET is_latest = TRUE WHERE source = $1 AND server_name = $2 AND version = $3";
const DELETE_URLS: &str =
    "DELETE FROM server_remote_urls WHERE source = 'managed' AND server_name = $1 AND version = $2";
const INSERT_URL: &str = "INSERT INTO server_remote_urls (url, server_name, version) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
const URL_OWNER: &str = "SELECT u.server_name FROM server_remote_urls u JOIN server_versions v \
     ON v.source = u.source AND v.server_name = u.server_name AND v.version = u.version \
     WHERE u.url = $1 AND u.server_name <> $2 AND v.status <> 'deleted' LIMIT 1";
const COUNT: &str = "SELECT COUNT(*) FROM server_versions WHERE source = 'managed'";

const UPSERT_FROM_SOURCE: &str = " ON CONFLICT (source, server_name, version) DO UPDATE SET \
     value = excluded.value, status = excluded.status, status_message = excluded.status_message, \
     status_changed_at = excluded.status_changed_at, published_at = excluded.published_at, \
     updated_at = excluded.updated_at, is_latest = excluded.is_latest, search_text = excluded.search_text, \
     sync_generation = excluded.sync_generation";
const UPSERT_KEEP_UNCHANGED: &str = " ON CONFLICT (source, server_name, version) DO UPDATE SET \
     value = excluded.value, status = excluded.status, status_message = excluded.status_message, \
     status_changed_at = CASE WHEN server_versions.status = excluded.status \
         THEN server_versions.status_changed_at ELSE excluded.status_changed_at END, \
     updated_at = CASE WHEN server_versions.value = excluded.value AND server_versions.status = excluded.status \
         THEN server_versions.updated_at ELSE excluded.updated_at END, \
     is_latest = excluded.is_latest, search_text = excluded.search_text, \
     sync_generation = excluded.sync_generation";

macro_rules! source_cols {
    () => {
        "name, kind, status, generation, settings_hash, content_hash, watermark, last_attempt_at, \
         last_success_at, last_full_sync_at, last_error, last_report, server_count, version_count"
    };
}
const SELECT_SOURCES: &str = concat!(
    "SELECT ",
    source_cols!(),
    " FROM sync_sources ORDER BY name"
);
const SELECT_SOURCE: &str = concat!(
    "SELECT ",
    source_cols!(),
    " FROM sync_sources WHERE name = $1"
);
const REGISTER_SOURCE: &str = "INSERT INTO sync_sources (name, kind) VALUES ($1, $2) \
     ON CONFLICT (name) DO UPDATE SET kind = excluded.kind";
const SYNC_REMOVE: &str =
    "DELETE FROM server_versions WHERE source = $1 AND server_name = $2 AND version = $3";
const SYNC_REMOVE_STALE: &str =
    "DELETE FROM server_versions WHERE source = $1 AND sync_generation <> $2";
const SYNC_CLEAR_LATEST: &str =
    "UPDATE server_versions SET is_latest = FALSE WHERE source = $1 AND is_latest";
const SOURCE_KNOWN: &str = "SELECT COUNT(*) FROM sync_sources WHERE name = $1";
const SYNC_FAILED: &str = "UPDATE sync_sources SET status = 'failed', last_error = $2, last_attempt_at = $3 \
     WHERE name = $1";
const SYNC_COMPLETE: &str = "UPDATE sync_sources SET status = 'complete', generation = $2, settings_hash = $3, \
     content_hash = $4, watermark = $5, last_attempt_at = $6, last_success_at = $6, \
     last_full_sync_at = CASE WHEN $7 THEN $6 ELSE last_full_sync_at END, last_error = NULL, last_report = $8, \
     server_count = (SELECT COUNT(DISTINCT server_name) FROM server_versions WHERE source = $1 AND status <> 'deleted'), \
     version_count = (SELECT COUNT(*) FROM server_versions WHERE source = $1) \
     WHERE name = $1";

#[derive(FromRow)]
pub struct RawSource {
    name: String,
    kind: String,
    status: String,
    generation: i64,
    settings_hash: Option<String>,
    content_hash: Option<String>,
    watermark: Option<i64>,
    last_attempt_at: Option<i64>,
    last_success_at: Option<i64>,
    last_full_sync_at: Option<i64>,
    last_error: Option<String>,
    last_report: Option<String>,
    server_count: i64,
    version_count: i64,
}

impl TryFrom<RawSource> for SourceRecord {
    type Error = StoreError;
    fn try_from(r: RawSource) -> Result<Self, StoreError> {
        let status = match r.status.as_str() {
            "pending" => SourceStatus::Pending,
            "complete" => SourceStatus::Complete,
            "failed" => SourceStatus::Failed,
            other => return Err(StoreError::Corrupt(format!("source status '{other}'"))),
        };
        let time = |t: Option<i64>| t.map(from_micros).transpose();
        Ok(SourceRecord {
            status,
            generation: r.generation,
            settings_hash: r.settings_hash,
            content_hash: r.content_hash,
            watermark: time(r.watermark)?,
            last_attempt_at: time(r.last_attempt_at)?,
            last_success_at: time(r.last_success_at)?,
            last_full_sync_at: time(r.last_full_sync_at)?,
            last_error: r.last_error,
            last_report: r
                .last_report
                .map(|t| serde_json::from_str(&t))
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("source report: {e}")))?,
            server_count: r.server_count.max(0) as u64,
            version_count: r.version_count.max(0) as u64,
            name: r.name,
            kind: r.kind,
        })
    }
}

/// A `server_versions` row as read (the `read_cols!` columns).
#[derive(FromRow)]
pub struct RawRow {
    pub server_name: String,
    pub version: String,
    pub value: String,
    pub status: String,
    pub status_message: Option<String>,
    pub status_changed_at: i64,
    pub published_at: i64,
    pub updated_at: i64,
    pub is_latest: bool,
    pub search_text: String,
}

impl TryFrom<RawRow> for VersionRow {
    type Error = StoreError;
    fn try_from(r: RawRow) -> Result<Self, StoreError> {
        let status =
            ServerStatus::from_str(&r.status).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(VersionRow {
            status,
            status_message: r.status_message,
            status_changed_at: from_micros(r.status_changed_at)?,
            published_at: from_micros(r.published_at)?,
            updated_at: from_micros(r.updated_at)?,
            is_latest: r.is_latest,
            server_name: r.server_name,
            version: r.version,
            value: r.value,
            search_text: r.search_text,
        })
    }
}

fn rows(raw: Vec<RawRow>) -> Result<Vec<VersionRow>, StoreError> {
    raw.into_iter().map(VersionRow::try_from).collect()
}

fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => StoreError::Unavailable(e.to_string()),
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_string())
        }
        sqlx::Error::Database(db) if refuses_connections(db.code().as_deref(), db.message()) => {
            StoreError::Unavailable(e.to_string())
        }
        // A transaction PostgreSQL ended to break a deadlock (40P01) or for a serialization failure (40001):
        // nothing of it was written, and the same request may well succeed again.
        sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40P01" | "40001")) => {
            StoreError::Unavailable(e.to_string())
        }
        sqlx::Error::Database(db)
            if db
                .try_downcast_ref::<sqlx::sqlite::SqliteError>()
                .is_some_and(sqlite_cannot_serve) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Database(e.to_string()),
    }
}

/// Whether an error says that the connection a statement ran on was closed under it — by the server (a restart,
/// a failover, `pg_terminate_backend`: SQLSTATE 57P01/57P02, class 08) or on the way (an I/O error) — so that
/// the statement never ran to its end and another connection may well serve it.
fn connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(io) => io.kind() != std::io::ErrorKind::TimedOut,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || c == "57P01" || c == "57P02"),
        _ => false,
    }
}

/// Runs a read on a connection of `pool`, for `limit` at most. A connection whose read outlives the limit is
/// closed, not handed back to the pool: a server that stopped answering, or a network that drops its packets,
/// may never answer it again (and sqlx would wait for that answer before reusing it). The read then fails as a
/// timed-out I/O error (`std::io::ErrorKind::TimedOut`): unavailable (503), and not run again on another
/// connection ([`connection_lost`]), which would only wait as long again.
async fn read_within<DB, T, F>(
    pool: &Pool<DB>,
    limit: Option<Duration>,
    read: F,
) -> Result<T, sqlx::Error>
where
    DB: sqlx::Database,
    F: for<'c> FnOnce(
        &'c mut DB::Connection,
    ) -> futures::future::BoxFuture<'c, Result<T, sqlx::Error>>,
{
    let conn = pool.acquire().await?;
    within(conn, limit, |c| read(&mut **c))
        .await
        .unwrap_or_else(|limit| {
            Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the database did not answer a read within {limit:?}"),
            )))
        })
}

/// Runs `work` on `conn` for `limit` at most (`None`: no limit). Past the limit the connection is closed instead
/// of handed back to the pool, where sqlx would wait for the lost answer before reusing it; the limit comes back
/// as the error. Reads ([`read_within`]) and writes (`Store::write`) share it.
async fn within<DB, T, F>(
    mut conn: sqlx::pool::PoolConnection<DB>,
    limit: Option<Duration>,
    work: F,
) -> Result<T, Duration>
where
    DB: sqlx::Database,
    F: for<'c> FnOnce(&'c mut sqlx::pool::PoolConnection<DB>) -> futures::future::BoxFuture<'c, T>,
{
    let Some(limit) = limit else {
        return Ok(work(&mut conn).await);
    };
    match tokio::time::timeout(limit, work(&mut conn)).await {
        Ok(done) => Ok(done),
        Err(_) => {
            drop(conn.detach());
            Err(limit)
        }
    }
}

/// Whether a PostgreSQL error (SQLSTATE `code`) says the database cannot be reached or used now, rather than
/// that a statement is wrong: a connection exception (class 08), a server shutting down or starting (57P01-03),
/// too many connections (53300), the database gone (3D000), the login refused (28000, 28P01), the database not
/// accepting connections (55000 with that message).
fn refuses_connections(code: Option<&str>, message: &str) -> bool {
    match code {
        Some(c) if c.starts_with("08") => true,
        Some("57P01" | "57P02" | "57P03" | "53300" | "3D000" | "28000" | "28P01") => true,
        Some("55000") => message.contains("accepting connections"),
        _ => false,
    }
}

/// Whether a SQLite error says the database file cannot be used now, rather than that a statement is wrong: busy or
/// locked past the timeout, read-only (a read-only file or mount: writes answer 503, reads go on), an I/O error, the
/// disk full, the file not openable or not a database.
fn sqlite_cannot_serve(e: &sqlx::sqlite::SqliteError) -> bool {
    use sqlx::error::DatabaseError;
    e.code()
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(sqlite_code_cannot_serve)
}

/// [`sqlite_cannot_serve`] by SQLite's (extended) result code, for both SQLite drivers.
pub(super) fn sqlite_code_cannot_serve(code: i32) -> bool {
    // SQLITE_BUSY 5, LOCKED 6, READONLY 8, IOERR 10, CORRUPT 11 (a file cut short or overwritten under the
    // registry), FULL 13, CANTOPEN 14, NOTADB 26.
    matches!(code & 0xff, 5 | 6 | 8 | 10 | 11 | 13 | 14 | 26)
}

#[macro_use]
mod driver;
mod postgres;
mod sqlite;
mod store;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use store::SqlStore;

/// Opens the store a database URL names: `sqlite:...`, `postgres://...` / `postgresql://...` or
/// `configmap://NAMESPACE/PREFIX`, [`Monitored`].
pub async fn connect(url: &str, pool: &PoolSettings) -> Result<Arc<dyn Store>, StoreError> {
    let store: Arc<dyn Store> = match DatabaseKind::of(url) {
        Some(DatabaseKind::Sqlite) => Arc::new(SqliteStore::open(url, pool.max_connections).await?),
        Some(DatabaseKind::Postgres) => Arc::new(PostgresStore::open(url, pool).await?),
        Some(DatabaseKind::ConfigMap) => {
            Arc::new(super::configmap::ConfigMapStore::open(url, pool).await?)
        }
        None => {
            return Err(StoreError::Unavailable(format!(
                "unsupported database URL '{}': expected sqlite:PATH, postgres://... or configmap://NAMESPACE/PREFIX",
                url.split('@').next_back().unwrap_or_default()
            )));
        }
    };
    Ok(Arc::new(Monitored::new(store)))
}
