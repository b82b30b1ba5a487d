//! The SQL backends: SQLite (embedded default) and PostgreSQL (hosted, multi-replica).
//!
//! Both share the schema shape (see `migrations/`) and every statement below; the code is written once in the
//! `sql_store!` macro and instantiated per driver, so that each backend uses its native sqlx driver and types.
//! What differs is only how a write is serialized per server name: SQLite takes the database write lock up front
//! (`BEGIN IMMEDIATE`), PostgreSQL takes a transaction-scoped advisory lock on a hash of the name.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{FromRow, Pool, Postgres, QueryBuilder, Sqlite};
use thv_core::api::ServerStatus;

use super::list_sql::{
    PROBE_MATCHES, SEARCH_PROBE, SearchPlan, SqlText, Substring, build_list, choose_plan,
    fts_phrase, probed_term,
};
use super::sqlite_read::Readers;
use super::{
    ChangeCallback, DatabaseKind, ListQuery, MANAGED_SOURCE, Monitored, PoolSettings, RowBatches,
    Scope, SourceRecord, SourceStatus, Store, StoreError, SyncAttempt, SyncFn, SyncOutcome, SyncTx,
    Timestamps, VersionRow, WriteFn, WriteTx,
};
use crate::error::AppError;

/// PostgreSQL channel on which every committed write is announced to the other replicas.
const CHANGES_CHANNEL: &str = "thv_registry_changes";

/// Rows per multi-row INSERT in [`Store::insert_batch`] (10 parameters each, below both drivers' limits).
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
const SYNC_FAILED: &str = "UPDATE sync_sources SET status = 'failed', last_error = $2, last_attempt_at = $3 \
     WHERE name = $1";
const SYNC_COMPLETE: &str = "UPDATE sync_sources SET status = 'complete', generation = $2, settings_hash = $3, \
     content_hash = $4, watermark = $5, last_attempt_at = $6, last_success_at = $6, \
     last_full_sync_at = CASE WHEN $7 THEN $6 ELSE last_full_sync_at END, last_error = NULL, last_report = $8, \
     server_count = (SELECT COUNT(DISTINCT server_name) FROM server_versions WHERE source = $1 AND status <> 'deleted'), \
     version_count = (SELECT COUNT(*) FROM server_versions WHERE source = $1) \
     WHERE name = $1";

#[derive(FromRow)]
struct RawSource {
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
pub(super) struct RawRow {
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
        let status = ServerStatus::from_str(&r.status).map_err(StoreError::Corrupt)?;
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

fn micros(t: &DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(us: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_micros(us)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {us} out of range")))
}

/// The remote URLs a stored document declares (indexed for the duplicate-URL rule).
fn remote_urls(value: &str) -> Result<Vec<String>, StoreError> {
    #[derive(Deserialize)]
    struct Doc {
        #[serde(default)]
        remotes: Option<Vec<Remote>>,
    }
    #[derive(Deserialize)]
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
    let mut conn = pool.acquire().await?;
    let Some(limit) = limit else {
        return read(&mut conn).await;
    };
    match tokio::time::timeout(limit, read(&mut conn)).await {
        Ok(done) => done,
        Err(_) => {
            drop(conn.detach());
            Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the database did not answer a read within {limit:?}"),
            )))
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

/// What to check when SQLite cannot open `file`, from what is there.
fn open_hint(file: &Path) -> &'static str {
    match std::fs::metadata(file) {
        Ok(m) if m.is_dir() => " (it is a directory)",
        Ok(_) => " (the file exists: may this user read and write it?)",
        Err(_) => " (does its directory exist, and may this user create and write files in it?)",
    }
}

/// A message (an upstream's error body, a tool's output) as text every backend stores: NUL, which PostgreSQL
/// refuses in any text, becomes U+FFFD.
fn storable(message: &str) -> std::borrow::Cow<'_, str> {
    if message.contains('\0') {
        message.replace('\0', "\u{FFFD}").into()
    } else {
        message.into()
    }
}

/// 63-bit FNV-1a of a server name: the PostgreSQL advisory-lock key that serializes writes to that name.
fn lock_key(name: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h & (i64::MAX as u64)) as i64
}

/// A multi-row `INSERT INTO server_versions` of `rows`, all in `source`, written by sync `generation`.
macro_rules! insert_rows {
    ($db:ty, $rows:expr, $source:expr, $generation:expr) => {{
        let (source, generation): (&str, i64) = ($source, $generation);
        let mut b = QueryBuilder::<$db>::new(concat!(
            "INSERT INTO server_versions (source, sync_generation, ",
            cols!(),
            ") "
        ));
        b.push_values($rows, |mut r, row| {
            r.push_bind(source.to_string())
                .push_bind(generation)
                .push_bind(row.server_name.clone())
                .push_bind(row.version.clone())
                .push_bind(row.value.clone())
                .push_bind(row.status.as_str())
                .push_bind(row.status_message.clone())
                .push_bind(micros(&row.status_changed_at))
                .push_bind(micros(&row.published_at))
                .push_bind(micros(&row.updated_at))
                .push_bind(row.is_latest)
                .push_bind(row.search_text.clone());
        });
        b
    }};
}

macro_rules! sql_store {
    ($store:ident, $tx:ident, $synctx:ident, $db:ty, $backend:literal, { $($field:ident: $fty:ty),* }) => {
        #[doc = concat!("The ", $backend, " backend.")]
        #[derive(Clone)]
        pub struct $store {
            pool: Pool<$db>,
            /// The longest a read may take (see [`read_within`]); `None`: no limit.
            read_timeout: Option<Duration>,
            $($field: $fty,)*
        }

        impl $store {
            pub fn pool(&self) -> &Pool<$db> {
                &self.pool
            }

            /// The rows of a statement of the `read_cols!` columns, through sqlx.
            /// A read that finds its pooled connection closed by the server (see [`connection_lost`]) runs again
            /// on another: a read is safe to repeat, and the pool drops each dead connection it hands out.
            async fn sqlx_rows(&self, text: &SqlText) -> Result<Vec<RawRow>, StoreError> {
                let mut lost = 0;
                loop {
                    let rows = read_within(&self.pool, self.read_timeout, |conn| {
                        Box::pin(
                            text.bind_to(sqlx::query_as::<_, RawRow>(sqlx::AssertSqlSafe(text.sql.clone())))
                                .fetch_all(conn),
                        )
                    })
                    .await;
                    match rows {
                        Err(e) if connection_lost(&e) && lost <= self.pool.options().get_max_connections() => {
                            lost += 1;
                        }
                        rows => return rows.map_err(map_err),
                    }
                }
            }
        }

        struct $tx {
            tx: sqlx::Transaction<'static, $db>,
        }

        impl $tx {
            async fn write_urls(
                &mut self,
                row: &VersionRow,
                replace: bool,
            ) -> Result<(), StoreError> {
                if replace {
                    sqlx::query(DELETE_URLS)
                        .bind(&row.server_name)
                        .bind(&row.version)
                        .execute(&mut *self.tx)
                        .await
                        .map_err(map_err)?;
                }
                for url in remote_urls(&row.value)? {
                    sqlx::query(INSERT_URL)
                        .bind(url)
                        .bind(&row.server_name)
                        .bind(&row.version)
                        .execute(&mut *self.tx)
                        .await
                        .map_err(map_err)?;
                }
                Ok(())
            }
        }

        struct $synctx {
            /// PostgreSQL: open from the start (it holds the source's row lock). SQLite: begun by the first write,
            /// so that what comes before (fetching from the source) does not hold the database's write lock.
            tx: Option<sqlx::Transaction<'static, $db>>,
            pool: Pool<$db>,
            record: SourceRecord,
            generation: i64,
        }

        impl $synctx {
            async fn tx(&mut self) -> Result<&mut sqlx::Transaction<'static, $db>, StoreError> {
                if self.tx.is_none() {
                    self.tx = Some($store::begin_sync_write(&self.pool).await?);
                }
                Ok(self.tx.as_mut().expect("just begun"))
            }
        }

        #[async_trait]
        impl SyncTx for $synctx {
            fn record(&self) -> &SourceRecord {
                &self.record
            }

            fn writes_block_others(&self) -> bool {
                $store::WRITES_BLOCK_OTHERS
            }

            async fn upsert(
                &mut self,
                rows: &[VersionRow],
                times: Timestamps,
            ) -> Result<(), StoreError> {
                for chunk in rows.chunks(BATCH_ROWS) {
                    let mut b = insert_rows!($db, chunk, &self.record.name, self.generation);
                    b.push(match times {
                        Timestamps::FromSource => UPSERT_FROM_SOURCE,
                        Timestamps::KeepUnchanged => UPSERT_KEEP_UNCHANGED,
                    });
                    let tx = self.tx().await?;
                    b.build().execute(&mut **tx).await.map_err(map_err)?;
                }
                Ok(())
            }

            async fn remove(
                &mut self,
                server_name: &str,
                version: &str,
            ) -> Result<u64, StoreError> {
                let name = self.record.name.clone();
                let tx = self.tx().await?;
                Ok(sqlx::query(SYNC_REMOVE)
                    .bind(&name)
                    .bind(server_name)
                    .bind(version)
                    .execute(&mut **tx)
                    .await
                    .map_err(map_err)?
                    .rows_affected())
            }

            async fn remove_stale(&mut self) -> Result<u64, StoreError> {
                let (name, generation) = (self.record.name.clone(), self.generation);
                let tx = self.tx().await?;
                Ok(sqlx::query(SYNC_REMOVE_STALE)
                    .bind(&name)
                    .bind(generation)
                    .execute(&mut **tx)
                    .await
                    .map_err(map_err)?
                    .rows_affected())
            }

            async fn clear_latest(&mut self) -> Result<(), StoreError> {
                let name = self.record.name.clone();
                let tx = self.tx().await?;
                sqlx::query(SYNC_CLEAR_LATEST)
                    .bind(&name)
                    .execute(&mut **tx)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn versions(&mut self, server_name: &str) -> Result<Vec<VersionRow>, StoreError> {
                let name = self.record.name.clone();
                let tx = self.tx().await?;
                let raw = sqlx::query_as::<_, RawRow>(SELECT_VERSIONS)
                    .bind(&name)
                    .bind(server_name)
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(map_err)?;
                rows(raw)
            }

            async fn set_latest(
                &mut self,
                server_name: &str,
                version: Option<&str>,
            ) -> Result<(), StoreError> {
                let source = self.record.name.clone();
                let tx = self.tx().await?;
                $store::move_latest(tx, &source, server_name, version).await
            }
        }

        impl $store {
            /// Moves a server's latest flag inside a transaction: cleared, then set on `version`.
            async fn move_latest(
                tx: &mut sqlx::Transaction<'static, $db>,
                source: &str,
                server_name: &str,
                version: Option<&str>,
            ) -> Result<(), StoreError> {
                sqlx::query(CLEAR_LATEST)
                    .bind(source)
                    .bind(server_name)
                    .execute(&mut **tx)
                    .await
                    .map_err(map_err)?;
                if let Some(v) = version {
                    sqlx::query(SET_LATEST)
                        .bind(source)
                        .bind(server_name)
                        .bind(v)
                        .execute(&mut **tx)
                        .await
                        .map_err(map_err)?;
                }
                Ok(())
            }

            /// The source a read of `server_name` in `scope` uses: its only one, or the first holding the name.
            async fn source_for(
                &self,
                scope: &Scope,
                server_name: &str,
            ) -> Result<Option<String>, StoreError> {
                if let [only] = scope.sources() {
                    return Ok(Some(only.clone()));
                }
                let holding: Vec<String> = sqlx::query_scalar(SOURCES_OF)
                    .bind(server_name)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                Ok(scope.first_of(&holding).map(str::to_string))
            }
        }

        #[async_trait]
        impl WriteTx for $tx {
            async fn versions(&mut self, server_name: &str) -> Result<Vec<VersionRow>, StoreError> {
                let raw = sqlx::query_as::<_, RawRow>(SELECT_VERSIONS)
                    .bind(MANAGED_SOURCE)
                    .bind(server_name)
                    .fetch_all(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                rows(raw)
            }

            async fn remote_url_owner(
                &mut self,
                url: &str,
                server_name: &str,
            ) -> Result<Option<String>, StoreError> {
                sqlx::query_scalar::<_, String>(URL_OWNER)
                    .bind(url)
                    .bind(server_name)
                    .fetch_optional(&mut *self.tx)
                    .await
                    .map_err(map_err)
            }

            async fn insert(&mut self, row: &VersionRow) -> Result<(), StoreError> {
                sqlx::query(INSERT)
                    .bind(&row.server_name)
                    .bind(&row.version)
                    .bind(&row.value)
                    .bind(row.status.as_str())
                    .bind(&row.status_message)
                    .bind(micros(&row.status_changed_at))
                    .bind(micros(&row.published_at))
                    .bind(micros(&row.updated_at))
                    .bind(row.is_latest)
                    .bind(&row.search_text)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                self.write_urls(row, false).await
            }

            async fn update(&mut self, row: &VersionRow) -> Result<(), StoreError> {
                sqlx::query(UPDATE)
                    .bind(&row.server_name)
                    .bind(&row.version)
                    .bind(&row.value)
                    .bind(row.status.as_str())
                    .bind(&row.status_message)
                    .bind(micros(&row.status_changed_at))
                    .bind(micros(&row.updated_at))
                    .bind(&row.search_text)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(map_err)?;
                self.write_urls(row, true).await
            }

            async fn set_latest(
                &mut self,
                server_name: &str,
                version: Option<&str>,
            ) -> Result<(), StoreError> {
                $store::move_latest(&mut self.tx, MANAGED_SOURCE, server_name, version).await
            }
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn list(&self, query: &ListQuery) -> Result<Vec<VersionRow>, StoreError> {
                rows(self.list_rows(query).await?)
            }

            async fn versions(
                &self,
                scope: &Scope,
                server_name: &str,
                include_deleted: bool,
            ) -> Result<Vec<VersionRow>, StoreError> {
                let Some(source) = self.source_for(scope, server_name).await? else {
                    return Ok(Vec::new());
                };
                let sql = if include_deleted {
                    READ_VERSIONS
                } else {
                    SELECT_VERSIONS_LIVE
                };
                rows(self.read_rows(SqlText::of(sql, [source, server_name.to_string()])).await?)
            }

            async fn get(
                &self,
                scope: &Scope,
                server_name: &str,
                version: Option<&str>,
            ) -> Result<Option<VersionRow>, StoreError> {
                let Some(source) = self.source_for(scope, server_name).await? else {
                    return Ok(None);
                };
                let text = match version {
                    Some(v) => SqlText::of(SELECT_ONE, [source, server_name.to_string(), v.to_string()]),
                    None => SqlText::of(SELECT_LATEST, [source, server_name.to_string()]),
                };
                let raw = self.read_rows(text).await?.into_iter().next();
                raw.map(VersionRow::try_from).transpose()
            }

            async fn register_source(&self, name: &str, kind: &str) -> Result<(), StoreError> {
                sqlx::query(REGISTER_SOURCE)
                    .bind(name)
                    .bind(kind)
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn sources(&self) -> Result<Vec<SourceRecord>, StoreError> {
                let raw = sqlx::query_as::<_, RawSource>(SELECT_SOURCES)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                raw.into_iter().map(SourceRecord::try_from).collect()
            }

            async fn sync(&self, source: &str, body: SyncFn) -> Result<SyncAttempt, StoreError> {
                let Some((tx, raw)) = self.lock_source(source).await? else {
                    let known: i64 =
                        sqlx::query_scalar("SELECT COUNT(*) FROM sync_sources WHERE name = $1")
                            .bind(source)
                            .fetch_one(&self.pool)
                            .await
                            .map_err(map_err)?;
                    return match known {
                        1.. => Ok(SyncAttempt::Busy),
                        _ => Err(StoreError::Database(format!(
                            "sync source '{source}' is not registered"
                        ))),
                    };
                };
                let record = SourceRecord::try_from(raw)?;
                let generation = record.generation + 1;
                let mut stx = $synctx {
                    tx,
                    pool: self.pool.clone(),
                    record,
                    generation,
                };
                let result = body(&mut stx).await;
                let now = micros(&Utc::now());
                match result {
                    Ok(Some(outcome)) => {
                        let SyncOutcome {
                            settings_hash,
                            content_hash,
                            watermark,
                            full,
                            report,
                        } = outcome;
                        let tx = stx.tx().await?;
                        sqlx::query(SYNC_COMPLETE)
                            .bind(source)
                            .bind(generation)
                            .bind(settings_hash)
                            .bind(content_hash)
                            .bind(watermark.as_ref().map(micros))
                            .bind(now)
                            .bind(full)
                            .bind(report.to_string())
                            .execute(&mut **tx)
                            .await
                            .map_err(map_err)?;
                        Self::announce(tx).await?;
                        let raw = sqlx::query_as::<_, RawSource>(SELECT_SOURCE)
                            .bind(source)
                            .fetch_one(&mut **tx)
                            .await
                            .map_err(map_err)?;
                        stx.tx
                            .take()
                            .expect("begun")
                            .commit()
                            .await
                            .map_err(map_err)?;
                        Self::after_sync(&self.pool).await;
                        Ok(SyncAttempt::Committed(Box::new(SourceRecord::try_from(
                            raw,
                        )?)))
                    }
                    Ok(None) => Ok(SyncAttempt::Skipped),
                    Err(message) => {
                        drop(stx);
                        sqlx::query(SYNC_FAILED)
                            .bind(source)
                            .bind(storable(&message))
                            .bind(now)
                            .execute(&self.pool)
                            .await
                            .map_err(map_err)?;
                        Ok(SyncAttempt::Failed(message))
                    }
                }
            }

            async fn count(&self) -> Result<u64, StoreError> {
                let n: i64 = sqlx::query_scalar(COUNT)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(map_err)?;
                Ok(n.max(0) as u64)
            }

            async fn write(
                &self,
                server_name: &str,
                body: WriteFn,
            ) -> Result<Vec<VersionRow>, AppError> {
                let tx = self.begin_serialized(server_name).await?;
                let mut w = $tx { tx };
                let written = body(&mut w).await?;
                w.tx.commit().await.map_err(map_err)?;
                Ok(written)
            }

            async fn insert_batches(&self, batches: &mut RowBatches) -> Result<u64, AppError> {
                let mut tx = self.pool.begin().await.map_err(map_err)?;
                let mut inserted = 0u64;
                while let Some(batch) = batches.recv().await {
                    let batch = batch?;
                    inserted += batch.len() as u64;
                    for chunk in batch.chunks(BATCH_ROWS) {
                        let mut b = insert_rows!($db, chunk, MANAGED_SOURCE, 0_i64);
                        b.build().execute(&mut *tx).await.map_err(map_err)?;
                        let mut urls = Vec::new();
                        for row in chunk {
                            for url in remote_urls(&row.value)? {
                                urls.push((url, &row.server_name, &row.version));
                            }
                        }
                        for url_chunk in urls.chunks(BATCH_ROWS) {
                            let mut b = QueryBuilder::<$db>::new(
                                "INSERT INTO server_remote_urls (url, server_name, version) ",
                            );
                            b.push_values(url_chunk, |mut r, (url, name, version)| {
                                r.push_bind(url.clone())
                                    .push_bind((*name).clone())
                                    .push_bind((*version).clone());
                            });
                            b.push(" ON CONFLICT DO NOTHING");
                            b.build().execute(&mut *tx).await.map_err(map_err)?;
                        }
                    }
                }
                Self::announce(&mut tx).await?;
                tx.commit().await.map_err(map_err)?;
                Ok(inserted)
            }

            fn watch_changes(&self, on_change: ChangeCallback) {
                self.spawn_change_listener(on_change);
            }

            async fn ping(&self) -> Result<(), StoreError> {
                read_within(&self.pool, self.read_timeout, |conn| {
                    Box::pin(sqlx::query("SELECT 1").execute(conn))
                })
                .await
                .map_err(map_err)?;
                Ok(())
            }
        }
    };
}

sql_store!(SqliteStore, SqliteTx, SqliteSyncTx, Sqlite, "sqlite", {
    readers: Option<Arc<Readers>>
});
sql_store!(
    PostgresStore,
    PostgresTx,
    PostgresSyncTx,
    Postgres,
    "postgres",
    {}
);

/// Whether a SQLite URL opens its database read-only: `mode=ro`, or `immutable` set.
fn opens_read_only(url: &str) -> bool {
    let Some((_, query)) = url.split_once('?') else {
        return false;
    };
    query.split('&').any(|param| {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        match key.to_ascii_lowercase().as_str() {
            "mode" => value.eq_ignore_ascii_case("ro"),
            "immutable" => matches!(
                value.to_ascii_lowercase().as_str(),
                "" | "1" | "true" | "yes" | "on"
            ),
            _ => false,
        }
    })
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates a SQLite database, e.g. `sqlite:///var/lib/thv/registry.db`.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        let file = options.get_filename().display().to_string();
        // A file that cannot be opened is named, with what to check (the error alone names neither).
        let naming = |e: sqlx::Error| {
            let cannot_open =
                matches!(&e, sqlx::Error::Database(db) if db.code().as_deref() == Some("14"));
            let hint = if cannot_open {
                open_hint(Path::new(&file))
            } else {
                ""
            };
            match map_err(e) {
                StoreError::Unavailable(m) => StoreError::Unavailable(format!("{file}: {m}{hint}")),
                StoreError::Database(m) => StoreError::Database(format!("{file}: {m}")),
                other => other,
            }
        };
        // No ping before each checkout: a SQLite connection is a file handle in this process, which nothing can
        // break between two queries, and the ping is a round trip to the connection's worker thread, as costly
        // as the query it precedes.
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(naming)?;
        sqlx::migrate!("../migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(format!("migration failed: {e}")))?;
        // The main database's file: empty for an in-memory database, which sqlx keeps reading.
        let file: String =
            sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_one(&pool)
                .await
                .map_err(map_err)?;
        // A file opened read-only keeps sqlx's connections, which honour the URL's mode (see `sqlite_read.rs`).
        let readers = match file.is_empty() || opens_read_only(url) {
            true => None,
            false => Some(Arc::new(Readers::open(
                std::path::Path::new(&file),
                max_connections as usize,
            )?)),
        };
        Ok(Self {
            pool,
            read_timeout: None,
            readers,
        })
    }

    /// A statement of the `read_cols!` columns: on this thread for a database file (see `sqlite_read.rs`).
    async fn read_rows(&self, text: SqlText) -> Result<Vec<RawRow>, StoreError> {
        match &self.readers {
            Some(readers) => readers.rows(text).await,
            None => self.sqlx_rows(&text).await,
        }
    }

    /// A list page: its search plan, then the page.
    async fn list_rows(&self, query: &ListQuery) -> Result<Vec<RawRow>, StoreError> {
        if let Some(readers) = &self.readers {
            return readers.list(query.clone(), READ_COLS).await;
        }
        let plan = self.search_plan(query).await?;
        self.sqlx_rows(&build_list(query, plan, Substring::Instr, READ_COLS))
            .await
    }

    /// The search plan of an in-memory database's list (see [`choose_plan`]).
    async fn search_plan(&self, query: &ListQuery) -> Result<SearchPlan, StoreError> {
        let Some(term) = probed_term(query) else {
            return Ok(SearchPlan::Like);
        };
        let probe = sqlx::query_as(SEARCH_PROBE)
            .bind(fts_phrase(term))
            .bind(PROBE_MATCHES)
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(choose_plan(query.limit, probe))
    }

    /// Writes of a sync wait for the database's one write lock, and hold it: fetch before writing.
    const WRITES_BLOCK_OTHERS: bool = true;

    /// One process owns a SQLite database (and runs one sync at a time, see `crate::sync`): the source's record
    /// is read without a lock, and the write transaction begins with the sync's first write.
    async fn lock_source(
        &self,
        source: &str,
    ) -> Result<Option<(Option<sqlx::Transaction<'static, Sqlite>>, RawSource)>, StoreError> {
        let raw = sqlx::query_as::<_, RawSource>(SELECT_SOURCE)
            .bind(source)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(raw.map(|r| (None, r)))
    }

    /// `BEGIN IMMEDIATE`, as every write.
    async fn begin_sync_write(
        pool: &Pool<Sqlite>,
    ) -> Result<sqlx::Transaction<'static, Sqlite>, StoreError> {
        pool.begin_with("BEGIN IMMEDIATE").await.map_err(map_err)
    }

    /// A large sync leaves a write-ahead log as large as what it wrote: fold it into the database and truncate it.
    async fn after_sync(pool: &Pool<Sqlite>) {
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(pool)
            .await
        {
            tracing::debug!(error = %e, "WAL checkpoint after a sync");
        }
    }

    /// One process owns a SQLite database: nothing to announce or to watch.
    async fn announce(_tx: &mut sqlx::Transaction<'static, Sqlite>) -> Result<(), StoreError> {
        Ok(())
    }

    fn spawn_change_listener(&self, _on_change: ChangeCallback) {}

    /// `BEGIN IMMEDIATE`: take the database write lock before reading, so concurrent writers queue (busy timeout)
    /// instead of failing when they upgrade a read lock.
    async fn begin_serialized(
        &self,
        _server_name: &str,
    ) -> Result<sqlx::Transaction<'static, Sqlite>, StoreError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)
    }
}

/// How long a PostgreSQL connection may sit in the pool before it is checked with a ping when taken out; a busy
/// pool's connections are handed on without one (pgxpool's rule): a round trip per query saved, and a server
/// restart still noticed before a query fails on a dead connection.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

async fn ping_when_idle(
    conn: &mut sqlx::PgConnection,
    meta: sqlx::pool::PoolConnectionMetadata,
) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    if meta.idle_for >= PING_AFTER_IDLE {
        conn.ping().await?;
    }
    Ok(true)
}

impl PostgresStore {
    /// Connects to and migrates a PostgreSQL database, e.g. `postgres://user:pw@127.0.0.1/registry`. A request
    /// waits `pool.acquire_timeout` at most for a connection; then it fails as [`StoreError::Unavailable`].
    pub async fn open(url: &str, settings: &PoolSettings) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid PostgreSQL URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(settings.acquire_timeout)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| Box::pin(ping_when_idle(conn, meta)))
            .connect_with(options)
            .await
            .map_err(map_err)?;
        sqlx::migrate!("../migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(format!("migration failed: {e}")))?;
        Ok(Self {
            pool,
            read_timeout: Some(settings.read_timeout),
        })
    }

    /// Writes of a sync block no reader and no other source's sync: stream from the source into the transaction.
    const WRITES_BLOCK_OTHERS: bool = false;

    /// A transaction holding the source's row lock (`FOR UPDATE SKIP LOCKED`) until the sync commits or rolls
    /// back; `None` when another replica holds it.
    async fn lock_source(
        &self,
        source: &str,
    ) -> Result<Option<(Option<sqlx::Transaction<'static, Postgres>>, RawSource)>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let raw = sqlx::query_as::<_, RawSource>(concat!(
            "SELECT ",
            source_cols!(),
            " FROM sync_sources WHERE name = $1 FOR UPDATE SKIP LOCKED"
        ))
        .bind(source)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        Ok(raw.map(|r| (Some(tx), r)))
    }

    /// Never needed: [`Self::lock_source`] opened the transaction.
    async fn begin_sync_write(
        pool: &Pool<Postgres>,
    ) -> Result<sqlx::Transaction<'static, Postgres>, StoreError> {
        pool.begin().await.map_err(map_err)
    }

    /// Nothing to do after a sync.
    async fn after_sync(_pool: &Pool<Postgres>) {}

    /// PostgreSQL's planner picks between the trigram index and a walk in page order itself.
    async fn read_rows(&self, text: SqlText) -> Result<Vec<RawRow>, StoreError> {
        self.sqlx_rows(&text).await
    }

    /// A list page: a search is `LIKE`, served by the trigram index (planned for its term, see [`build_list`]).
    async fn list_rows(&self, query: &ListQuery) -> Result<Vec<RawRow>, StoreError> {
        self.sqlx_rows(&build_list(
            query,
            SearchPlan::Like,
            Substring::Like,
            READ_COLS,
        ))
        .await
    }

    /// `NOTIFY` the other replicas; delivered when (and only if) the transaction commits.
    async fn announce(tx: &mut sqlx::Transaction<'static, Postgres>) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANGES_CHANNEL)
            .execute(&mut **tx)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    /// Listens for other replicas' writes. A lost connection counts as a change (announcements may have been
    /// missed while it was down); the listener reconnects with a growing pause.
    fn spawn_change_listener(&self, on_change: ChangeCallback) {
        let pool = self.pool.clone();
        tokio::spawn(async move {
            let mut pause = Duration::from_millis(100);
            // Whether this outage was reported: one warning when listening stops, none for each retry.
            let mut warned = false;
            loop {
                match sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(mut listener) => {
                        if let Err(e) = listener.listen(CHANGES_CHANNEL).await {
                            tracing::warn!(error = %e, "LISTEN {CHANGES_CHANNEL} failed");
                        } else {
                            pause = Duration::from_millis(100);
                            if warned {
                                tracing::info!("change listener is listening again");
                            }
                            // Writes committed while nothing listened (before this connection's LISTEN, or while
                            // the database could not be reached) were announced to nobody here: called only now,
                            // not when the connection failed, lest a write in between go unseen until the TTL.
                            on_change();
                            loop {
                                match listener.try_recv().await {
                                    Ok(Some(_)) => on_change(),
                                    // The connection was lost and sqlx listens again on a new one before it says
                                    // so: changes may have been missed meanwhile.
                                    Ok(None) => on_change(),
                                    Err(e) => {
                                        tracing::warn!(error = %e, "change listener lost its connection");
                                        warned = true;
                                        break;
                                    }
                                }
                            }
                        }
                    }
                    Err(e) if pool.is_closed() => {
                        tracing::debug!(error = %e, "change listener stops: the pool is closed");
                        return;
                    }
                    Err(e) if warned => {
                        tracing::debug!(error = %e, "change listener cannot connect")
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "change listener cannot connect (retrying quietly until it can)");
                        warned = true;
                    }
                }
                on_change();
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(10));
            }
        });
    }

    /// A transaction holding `pg_advisory_xact_lock(fnv1a63(name))`: writes to one server name queue up across
    /// every replica sharing the database; other names proceed in parallel.
    async fn begin_serialized(
        &self,
        server_name: &str,
    ) -> Result<sqlx::Transaction<'static, Postgres>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(lock_key(server_name))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        Self::announce(&mut tx).await?;
        Ok(tx)
    }
}

/// Opens the store a database URL names: `sqlite:...` or `postgres://...` / `postgresql://...`, [`Monitored`].
pub async fn connect(url: &str, pool: &PoolSettings) -> Result<Arc<dyn Store>, StoreError> {
    let store: Arc<dyn Store> = match DatabaseKind::of(url) {
        Some(DatabaseKind::Sqlite) => Arc::new(SqliteStore::open(url, pool.max_connections).await?),
        Some(DatabaseKind::Postgres) => Arc::new(PostgresStore::open(url, pool).await?),
        None => {
            return Err(StoreError::Unavailable(format!(
                "unsupported database URL '{}': expected sqlite:PATH or postgres://...",
                url.split('@').next_back().unwrap_or_default()
            )));
        }
    };
    Ok(Arc::new(Monitored::new(store)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_urls_are_recognised() {
        assert!(opens_read_only("sqlite:///d/x.db?mode=ro"));
        assert!(opens_read_only("sqlite:///d/x.db?cache=shared&MODE=RO"));
        assert!(opens_read_only("sqlite:///d/x.db?immutable=true"));
        assert!(!opens_read_only("sqlite:///d/x.db?mode=rwc"));
        assert!(!opens_read_only("sqlite:///d/x.db?immutable=false"));
        assert!(!opens_read_only("sqlite:///d/x.db"));
    }

    #[test]
    fn lock_key_is_stable_and_non_negative() {
        assert_eq!(lock_key("io.github.x/y"), lock_key("io.github.x/y"));
        assert!(lock_key("anything") >= 0);
        assert_ne!(lock_key("a/b"), lock_key("a/c"));
    }
}
