//! The SQL backends: SQLite (embedded default) and PostgreSQL (hosted, multi-replica).
//!
//! Both share the schema shape (see `migrations/`) and every statement below; the code is written once in the
//! `sql_store!` macro and instantiated per driver, so that each backend uses its native sqlx driver and types.
//! What differs is only how a write is serialized per server name: SQLite takes the database write lock up front
//! (`BEGIN IMMEDIATE`), PostgreSQL takes a transaction-scoped advisory lock on a hash of the name.

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

use super::{
    ChangeCallback, Cursor, ListQuery, MANAGED_SOURCE, Monitored, PoolSettings, RowBatches, Scope,
    SourceRecord, SourceStatus, Store, StoreError, SyncAttempt, SyncFn, SyncOutcome, SyncTx,
    Timestamps, VersionFilter, VersionRow, WriteFn, WriteTx,
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

#[derive(FromRow)]
struct RawRow {
    server_name: String,
    version: String,
    value: String,
    status: String,
    status_message: Option<String>,
    status_changed_at: i64,
    published_at: i64,
    updated_at: i64,
    is_latest: bool,
    search_text: String,
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
        _ => StoreError::Database(e.to_string()),
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

/// A message (an upstream's error body, a tool's output) as text every backend stores: NUL, which PostgreSQL
/// refuses in any text, becomes U+FFFD.
fn storable(message: &str) -> std::borrow::Cow<'_, str> {
    if message.contains('\0') {
        message.replace('\0', "\u{FFFD}").into()
    } else {
        message.into()
    }
}

/// Escapes `\`, `%` and `_` so that a search term matches literally inside `LIKE ... ESCAPE '\'`.
fn like_pattern(term: &str) -> String {
    let mut p = String::with_capacity(term.len() + 2);
    p.push('%');
    for c in term.chars() {
        if matches!(c, '\\' | '%' | '_') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
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

/// How a list query finds the rows matching a search term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SearchPlan {
    /// `search_text LIKE '%term%'` while walking the rows in page order: fast when matches are common (the page
    /// fills early) and on PostgreSQL, whose trigram index serves it.
    Like,
    /// SQLite: look the term up in the FTS5 trigram index first, then fetch and order those rows: fast when
    /// matches are few.
    TrigramIndex,
}

/// How many trigram-index matches SQLite reads to choose a search plan (see `SqliteStore::search_plan`).
const PROBE_MATCHES: i64 = 64;

/// A phrase query for the trigram index: the term, quoted, matches as a literal substring.
fn fts_phrase(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

/// Restricts a statement over `server_versions` to a scope: its one source, or its sources in precedence order,
/// each row shown only when no earlier source holds its server name.
fn push_scope<'a, DB: sqlx::Database>(b: &mut QueryBuilder<DB>, scope: &'a Scope)
where
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let sources = scope.sources();
    if let [only] = sources {
        b.push(" AND source = ").push_bind(only.clone());
        return;
    }
    b.push(" AND (");
    for (i, source) in sources.iter().enumerate() {
        if i > 0 {
            b.push(" OR ");
        }
        b.push("(source = ").push_bind(source.clone());
        if i > 0 {
            b.push(
                " AND NOT EXISTS (SELECT 1 FROM server_versions h \
                 WHERE h.server_name = server_versions.server_name AND h.source IN (",
            );
            let mut higher = b.separated(", ");
            for s in &sources[..i] {
                higher.push_bind(s.clone());
            }
            b.push("))");
        }
        b.push(")");
    }
    b.push(")");
}

/// Builds the list statement from the query's filters (keyset pagination, no OFFSET). `instr`: the walk of a
/// search compares with `instr(search_text, term)` (a plain substring search: both sides are lower-cased
/// already) instead of `LIKE '%term%'`, whose pattern matcher costs several times more per row; PostgreSQL keeps
/// LIKE, which its trigram index serves.
fn build_list<'a, DB: sqlx::Database>(
    q: &'a ListQuery,
    plan: SearchPlan,
    instr: bool,
) -> QueryBuilder<DB>
where
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut b = QueryBuilder::<DB>::new(concat!("SELECT ", read_cols!(), " FROM "));
    match (&q.search, plan) {
        (Some(term), SearchPlan::TrigramIndex) => {
            // CROSS JOIN makes SQLite drive the join from the index lookup.
            b.push("(SELECT rowid AS rid FROM server_search WHERE server_search MATCH ")
                .push_bind(fts_phrase(term))
                .push(") AS m CROSS JOIN server_versions ON server_versions.id = m.rid WHERE 1=1");
        }
        _ => {
            b.push("server_versions WHERE 1=1");
        }
    }
    push_scope(&mut b, &q.scope);
    if !q.include_deleted {
        b.push(" AND status <> 'deleted'");
    }
    if let Some(since) = &q.updated_since {
        b.push(" AND updated_at > ").push_bind(micros(since));
    }
    match &q.version {
        VersionFilter::All => {}
        VersionFilter::Latest => {
            b.push(" AND is_latest");
        }
        VersionFilter::Exact(v) => {
            b.push(" AND version = ").push_bind(v.clone());
        }
    }
    match (&q.search, plan) {
        (Some(term), SearchPlan::Like) if instr => {
            b.push(" AND instr(search_text, ")
                .push_bind(term.clone())
                .push(") > 0");
        }
        (Some(term), SearchPlan::Like) => {
            b.push(" AND search_text LIKE ")
                .push_bind(like_pattern(term))
                .push(" ESCAPE '\\'");
        }
        _ => {}
    }
    match &q.cursor {
        Some(Cursor {
            server_name,
            version: Some(v),
        }) => {
            b.push(" AND (server_name, version) > (")
                .push_bind(server_name.clone())
                .push(", ")
                .push_bind(v.clone())
                .push(")");
        }
        Some(Cursor {
            server_name,
            version: None,
        }) => {
            b.push(" AND server_name > ").push_bind(server_name.clone());
        }
        None => {}
    }
    b.push(" ORDER BY server_name, version LIMIT ")
        .push_bind(i64::from(q.limit));
    b
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
    ($store:ident, $tx:ident, $synctx:ident, $db:ty, $backend:literal) => {
        #[doc = concat!("The ", $backend, " backend.")]
        #[derive(Clone)]
        pub struct $store {
            pool: Pool<$db>,
        }

        impl $store {
            pub fn pool(&self) -> &Pool<$db> {
                &self.pool
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
                let plan = self.search_plan(query).await?;
                let mut b = build_list::<$db>(query, plan, Self::SUBSTRING_BY_INSTR);
                let raw = b
                    .build_query_as::<RawRow>()
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                rows(raw)
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
                let raw = sqlx::query_as::<_, RawRow>(sql)
                    .bind(source)
                    .bind(server_name)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                rows(raw)
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
                let raw = match version {
                    Some(v) => {
                        sqlx::query_as::<_, RawRow>(SELECT_ONE)
                            .bind(source)
                            .bind(server_name)
                            .bind(v)
                            .fetch_optional(&self.pool)
                            .await
                    }
                    None => {
                        sqlx::query_as::<_, RawRow>(SELECT_LATEST)
                            .bind(source)
                            .bind(server_name)
                            .fetch_optional(&self.pool)
                            .await
                    }
                }
                .map_err(map_err)?;
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

            async fn insert_batches(&self, batches: &mut RowBatches<'_>) -> Result<u64, AppError> {
                let mut tx = self.pool.begin().await.map_err(map_err)?;
                let mut inserted = 0u64;
                for batch in batches {
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
                sqlx::query("SELECT 1")
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }
        }
    };
}

sql_store!(SqliteStore, SqliteTx, SqliteSyncTx, Sqlite, "sqlite");
sql_store!(
    PostgresStore,
    PostgresTx,
    PostgresSyncTx,
    Postgres,
    "postgres"
);

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
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options)
            .await
            .map_err(map_err)?;
        sqlx::migrate!("../migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(format!("migration failed: {e}")))?;
        Ok(Self { pool })
    }

    /// Picks the faster plan from a cheap look at the trigram index: the first [`PROBE_MATCHES`] matches, in row
    /// order. Fewer than that: the index has them all. Otherwise how far into the table the last of them lies
    /// estimates how many rows match in all (`PROBE_MATCHES × rows / that row`): walking pages costs about
    /// `limit × rows / matches` row checks and fetching from the index about `matches`, so the index wins while
    /// the estimate is below `√(limit × rows)`.
    async fn search_plan(&self, query: &ListQuery) -> Result<SearchPlan, StoreError> {
        let Some(term) = query.search.as_deref().filter(|t| t.chars().count() >= 3) else {
            return Ok(SearchPlan::Like);
        };
        let (found, last, rows): (i64, Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MAX(rid), (SELECT MAX(id) FROM server_versions) \
             FROM (SELECT rowid AS rid FROM server_search WHERE server_search MATCH $1 LIMIT $2)",
        )
        .bind(fts_phrase(term))
        .bind(PROBE_MATCHES)
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        if found < PROBE_MATCHES {
            return Ok(SearchPlan::TrigramIndex);
        }
        let (last, rows) = (
            last.unwrap_or(1).max(1) as f64,
            rows.unwrap_or(1).max(1) as f64,
        );
        let estimated_matches = PROBE_MATCHES as f64 * rows / last;
        Ok(
            if estimated_matches < (f64::from(query.limit) * rows).sqrt() {
                SearchPlan::TrigramIndex
            } else {
                SearchPlan::Like
            },
        )
    }

    /// Writes of a sync wait for the database's one write lock, and hold it: fetch before writing.
    const WRITES_BLOCK_OTHERS: bool = true;

    /// A search's walk compares with `instr` (see [`build_list`]).
    const SUBSTRING_BY_INSTR: bool = true;

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

impl PostgresStore {
    /// Connects to and migrates a PostgreSQL database, e.g. `postgres://user:pw@127.0.0.1/registry`. A request
    /// waits `pool.acquire_timeout` at most for a connection; then it fails as [`StoreError::Unavailable`].
    pub async fn open(url: &str, pool: &PoolSettings) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid PostgreSQL URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(pool.max_connections.max(1))
            .acquire_timeout(pool.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(map_err)?;
        sqlx::migrate!("../migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(format!("migration failed: {e}")))?;
        Ok(Self { pool })
    }

    /// Writes of a sync block no reader and no other source's sync: stream from the source into the transaction.
    const WRITES_BLOCK_OTHERS: bool = false;

    /// A search keeps `LIKE`, which the trigram index serves (see [`build_list`]).
    const SUBSTRING_BY_INSTR: bool = false;

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
    async fn search_plan(&self, _query: &ListQuery) -> Result<SearchPlan, StoreError> {
        Ok(SearchPlan::Like)
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
                            loop {
                                match listener.try_recv().await {
                                    Ok(Some(_)) => on_change(),
                                    // The connection was lost and re-established: changes may have been missed.
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
    let store: Arc<dyn Store> = if url.starts_with("sqlite:") {
        Arc::new(SqliteStore::open(url, pool.max_connections).await?)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Arc::new(PostgresStore::open(url, pool).await?)
    } else {
        return Err(StoreError::Unavailable(format!(
            "unsupported database URL '{}': expected sqlite:PATH or postgres://...",
            url.split('@').next_back().unwrap_or_default()
        )));
    };
    Ok(Arc::new(Monitored::new(store)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(like_pattern("a%b_c\\d"), "%a\\%b\\_c\\\\d%");
    }

    #[test]
    fn lock_key_is_stable_and_non_negative() {
        assert_eq!(lock_key("io.github.x/y"), lock_key("io.github.x/y"));
        assert!(lock_key("anything") >= 0);
        assert_ne!(lock_key("a/b"), lock_key("a/c"));
    }
}
