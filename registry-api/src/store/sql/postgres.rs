//! The PostgreSQL backend: hosted, shared by replicas (writes announced with `NOTIFY`).

use super::*;

/// The PostgreSQL backend.
pub type PostgresStore = SqlStore<Postgres>;

/// 63-bit FNV-1a of a server name: the PostgreSQL advisory-lock key that serializes writes to that name.
fn lock_key(name: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h & (i64::MAX as u64)) as i64
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

impl SqlStore<Postgres> {
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
            write_timeout: Some(settings.write_timeout),
            extra: (),
        })
    }
}

driver_statements!(Postgres);

#[async_trait]
impl Driver for Postgres {
    const BACKEND: &'static str = "postgres";
    /// Writes of a sync block no reader and no other source's sync: stream from the source into the transaction.
    const WRITES_BLOCK_OTHERS: bool = false;
    type Extra = ();

    /// A transaction holding the source's row lock (`FOR UPDATE SKIP LOCKED`) until the sync commits or rolls
    /// back; `None` when another replica holds it.
    async fn lock_source(
        store: &PostgresStore,
        source: &str,
    ) -> Result<Option<(Option<sqlx::Transaction<'static, Postgres>>, RawSource)>, StoreError> {
        let mut tx = store.pool.begin().await.map_err(map_err)?;
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
    async fn read_rows(store: &PostgresStore, text: SqlText) -> Result<Vec<RawRow>, StoreError> {
        store.sqlx_rows(&text).await
    }

    /// A list page: a search is `LIKE`, served by the trigram index (planned for its term, see [`build_list`]).
    async fn list_rows(
        store: &PostgresStore,
        query: &ListQuery,
    ) -> Result<Vec<RawRow>, StoreError> {
        store
            .sqlx_rows(&build_list(
                query,
                SearchPlan::Like,
                Substring::Like,
                READ_COLS,
            ))
            .await
    }

    /// `NOTIFY` the other replicas; delivered when (and only if) the transaction commits.
    async fn announce(conn: &mut sqlx::PgConnection) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANGES_CHANNEL)
            .execute(conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    /// Listens for other replicas' writes. A lost connection counts as a change (announcements may have been
    /// missed while it was down); the listener reconnects with a growing pause.
    fn spawn_change_listener(store: &PostgresStore, on_change: ChangeCallback) {
        let pool = store.pool.clone();
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

    /// `pg_advisory_xact_lock(fnv1a63("url " + url))` (a server name holds no space, so the two kinds of keys
    /// are distinct inputs): writes of other names declaring the URL wait for this transaction.
    async fn hold_remote_url(conn: &mut sqlx::PgConnection, url: &str) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(lock_key(&format!("url {url}")))
            .execute(conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    /// A transaction holding `pg_advisory_xact_lock(fnv1a63(name))`: writes to one server name queue up across
    /// every replica sharing the database; other names proceed in parallel.
    async fn begin_serialized<'c>(
        conn: &'c mut sqlx::pool::PoolConnection<Postgres>,
        server_name: &str,
    ) -> Result<sqlx::Transaction<'c, Postgres>, StoreError> {
        let mut tx = sqlx::Connection::begin(&mut **conn)
            .await
            .map_err(map_err)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(lock_key(server_name))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        Self::announce(&mut tx).await?;
        Ok(tx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_key_is_stable_and_non_negative() {
        assert_eq!(lock_key("io.github.x/y"), lock_key("io.github.x/y"));
        assert!(lock_key("anything") >= 0);
        assert_ne!(lock_key("a/b"), lock_key("a/c"));
    }
}
