//! What each SQL backend does its own way, as one trait implemented for the sqlx driver types (`Sqlite`,
//! `Postgres`): the store itself ([`SqlStore`], `store.rs`) is written once over it.
//!
//! Two kinds of items: the *statement primitives* (run a [`SqlText`], read rows of a known shape, multi-row
//! inserts), the same code for both drivers but typed by the driver, expanded by [`driver_statements!`]; and the
//! *hooks*, written per driver in `sqlite.rs` and `postgres.rs`: how reads and list pages are served, how a write
//! is serialized per server name, how a sync holds its source, how the other replicas hear of a change.

use async_trait::async_trait;
use sqlx::Pool;
use sqlx::pool::PoolConnection;

use super::store::SqlStore;
use super::{ChangeCallback, ListQuery, RawRow, RawSource, SqlText, StoreError, VersionRow};

/// The statement primitives of a sqlx driver: the same code for each, typed by it ([`driver_statements!`]).
#[async_trait]
pub trait Statements: sqlx::Database {
    /// Runs a statement; the rows it changed.
    async fn execute(conn: &mut Self::Connection, text: &SqlText) -> Result<u64, sqlx::Error>;
    /// The rows of a statement of the `read_cols!` (or `cols!`) columns.
    async fn fetch_rows(
        conn: &mut Self::Connection,
        text: &SqlText,
    ) -> Result<Vec<RawRow>, sqlx::Error>;
    /// The rows of a statement of the `source_cols!` columns.
    async fn fetch_sources(
        conn: &mut Self::Connection,
        text: &SqlText,
    ) -> Result<Vec<RawSource>, sqlx::Error>;
    /// The first column of a statement's rows, as text.
    async fn fetch_strings(
        conn: &mut Self::Connection,
        text: &SqlText,
    ) -> Result<Vec<String>, sqlx::Error>;
    /// The one integer a statement answers (a count).
    async fn fetch_int(conn: &mut Self::Connection, text: &SqlText) -> Result<i64, sqlx::Error>;
    /// One multi-row `INSERT INTO server_versions` of `rows` in `source`, written by sync `generation`,
    /// followed by `on_conflict` (empty: a conflict fails).
    async fn insert_versions(
        conn: &mut Self::Connection,
        rows: &[VersionRow],
        source: &str,
        generation: i64,
        on_conflict: &str,
    ) -> Result<(), sqlx::Error>;
    /// One multi-row insert of managed remote URLs `(url, server name, version)`; duplicates are skipped.
    async fn insert_urls(
        conn: &mut Self::Connection,
        urls: &[(String, &str, &str)],
    ) -> Result<(), sqlx::Error>;
}

/// A sqlx driver the registry's store runs on: what it does its own way.
#[async_trait]
pub trait Driver: Statements {
    /// The backend's name, as [`Store::backend`](super::Store::backend) gives it.
    const BACKEND: &'static str;
    /// Whether a sync's writes wait for, and hold, a lock every other write and sync needs (SQLite's one write
    /// lock): the sync then fetches everything before it writes.
    const WRITES_BLOCK_OTHERS: bool;
    /// What the store keeps beside its pool for this driver (SQLite: its own read connections).
    type Extra: Clone + Send + Sync + 'static;

    /// A read of the `read_cols!` columns (a version, a server's versions).
    async fn read_rows(store: &SqlStore<Self>, text: SqlText) -> Result<Vec<RawRow>, StoreError>;
    /// A list page, its search planned as this driver's indexes serve it best.
    async fn list_rows(
        store: &SqlStore<Self>,
        query: &ListQuery,
    ) -> Result<Vec<RawRow>, StoreError>;
    /// The source's record, held for a sync if this driver holds it (then with the transaction holding it);
    /// `None` when another replica holds it, or when no such source is registered.
    async fn lock_source(
        store: &SqlStore<Self>,
        source: &str,
    ) -> Result<Option<(Option<sqlx::Transaction<'static, Self>>, RawSource)>, StoreError>;
    /// The transaction of a sync's writes, begun at its first write when [`Self::lock_source`] began none.
    async fn begin_sync_write(
        pool: &Pool<Self>,
    ) -> Result<sqlx::Transaction<'static, Self>, StoreError>;
    /// What follows a committed sync.
    async fn after_sync(pool: &Pool<Self>);
    /// Announces a change to the other replicas, when (and only if) the transaction it runs in commits.
    async fn announce(conn: &mut Self::Connection) -> Result<(), StoreError>;
    /// Calls `on_change` whenever another replica may have written.
    fn spawn_change_listener(store: &SqlStore<Self>, on_change: ChangeCallback);
    /// Holds a remote URL until the transaction ends, against other names' writes checking it.
    async fn hold_remote_url(conn: &mut Self::Connection, url: &str) -> Result<(), StoreError>;
    /// A transaction in which writes to `server_name` are serialized with every other writer of that name.
    async fn begin_serialized<'c>(
        conn: &'c mut PoolConnection<Self>,
        server_name: &str,
    ) -> Result<sqlx::Transaction<'c, Self>, StoreError>;
}

/// [`Statements`] for the driver type `$db`.
macro_rules! driver_statements {
    ($db:ty) => {
        #[async_trait]
        impl super::driver::Statements for $db {
            async fn execute(
                conn: &mut <$db as sqlx::Database>::Connection,
                text: &SqlText,
            ) -> Result<u64, sqlx::Error> {
                let done = sqlx::query_with(
                    sqlx::AssertSqlSafe(text.sql.clone()),
                    text.arguments::<$db>().map_err(sqlx::Error::Encode)?,
                )
                .execute(conn)
                .await?;
                Ok(done.rows_affected())
            }

            async fn fetch_rows(
                conn: &mut <$db as sqlx::Database>::Connection,
                text: &SqlText,
            ) -> Result<Vec<RawRow>, sqlx::Error> {
                sqlx::query_as_with(
                    sqlx::AssertSqlSafe(text.sql.clone()),
                    text.arguments::<$db>().map_err(sqlx::Error::Encode)?,
                )
                .fetch_all(conn)
                .await
            }

            async fn fetch_sources(
                conn: &mut <$db as sqlx::Database>::Connection,
                text: &SqlText,
            ) -> Result<Vec<RawSource>, sqlx::Error> {
                sqlx::query_as_with(
                    sqlx::AssertSqlSafe(text.sql.clone()),
                    text.arguments::<$db>().map_err(sqlx::Error::Encode)?,
                )
                .fetch_all(conn)
                .await
            }

            async fn fetch_strings(
                conn: &mut <$db as sqlx::Database>::Connection,
                text: &SqlText,
            ) -> Result<Vec<String>, sqlx::Error> {
                sqlx::query_scalar_with(
                    sqlx::AssertSqlSafe(text.sql.clone()),
                    text.arguments::<$db>().map_err(sqlx::Error::Encode)?,
                )
                .fetch_all(conn)
                .await
            }

            async fn fetch_int(
                conn: &mut <$db as sqlx::Database>::Connection,
                text: &SqlText,
            ) -> Result<i64, sqlx::Error> {
                sqlx::query_scalar_with(
                    sqlx::AssertSqlSafe(text.sql.clone()),
                    text.arguments::<$db>().map_err(sqlx::Error::Encode)?,
                )
                .fetch_one(conn)
                .await
            }

            async fn insert_versions(
                conn: &mut <$db as sqlx::Database>::Connection,
                rows: &[VersionRow],
                source: &str,
                generation: i64,
                on_conflict: &str,
            ) -> Result<(), sqlx::Error> {
                let mut b = sqlx::QueryBuilder::<$db>::new(concat!(
                    "INSERT INTO server_versions (source, sync_generation, ",
                    cols!(),
                    ") "
                ));
                b.push_values(rows, |mut r, row| {
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
                b.push(on_conflict);
                b.build().execute(conn).await?;
                Ok(())
            }

            async fn insert_urls(
                conn: &mut <$db as sqlx::Database>::Connection,
                urls: &[(String, &str, &str)],
            ) -> Result<(), sqlx::Error> {
                let mut b = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO server_remote_urls (url, server_name, version) ",
                );
                b.push_values(urls, |mut r, (url, name, version)| {
                    r.push_bind(url.clone())
                        .push_bind(name.to_string())
                        .push_bind(version.to_string());
                });
                b.push(" ON CONFLICT DO NOTHING");
                b.build().execute(conn).await?;
                Ok(())
            }
        }
    };
}
