//! The SQLite backend: the embedded default, one process per database file.

use super::*;

/// The SQLite backend.
pub type SqliteStore = SqlStore<Sqlite>;

/// What to check when SQLite cannot open `file`, from what is there.
fn open_hint(file: &Path) -> &'static str {
    match std::fs::metadata(file) {
        Ok(m) if m.is_dir() => " (it is a directory)",
        Ok(_) => " (the file exists: may this user read and write it?)",
        Err(_) => " (does its directory exist, and may this user create and write files in it?)",
    }
}

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

impl SqlStore<Sqlite> {
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
            write_timeout: None,
            extra: readers,
        })
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
}

driver_statements!(Sqlite);

#[async_trait]
impl Driver for Sqlite {
    const BACKEND: &'static str = "sqlite";
    /// Writes of a sync wait for the database's one write lock, and hold it: fetch before writing.
    const WRITES_BLOCK_OTHERS: bool = true;
    /// The read connections of a database file (see `sqlite_read.rs`).
    type Extra = Option<Arc<Readers>>;

    /// A statement of the `read_cols!` columns: on this thread for a database file (see `sqlite_read.rs`).
    async fn read_rows(store: &SqliteStore, text: SqlText) -> Result<Vec<RawRow>, StoreError> {
        match &store.extra {
            Some(readers) => readers.rows(text).await,
            None => store.sqlx_rows(&text).await,
        }
    }

    /// A list page: its search plan, then the page.
    async fn list_rows(store: &SqliteStore, query: &ListQuery) -> Result<Vec<RawRow>, StoreError> {
        if let Some(readers) = &store.extra {
            return readers.list(query.clone(), READ_COLS).await;
        }
        let plan = store.search_plan(query).await?;
        store
            .sqlx_rows(&build_list(query, plan, Substring::Instr, READ_COLS))
            .await
    }

    /// One process owns a SQLite database (and runs one sync at a time, see `crate::sync`): the source's record
    /// is read without a lock, and the write transaction begins with the sync's first write.
    async fn lock_source(
        store: &SqliteStore,
        source: &str,
    ) -> Result<Option<(Option<sqlx::Transaction<'static, Sqlite>>, RawSource)>, StoreError> {
        let raw = sqlx::query_as::<_, RawSource>(SELECT_SOURCE)
            .bind(source)
            .fetch_optional(&store.pool)
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
    async fn announce(_conn: &mut sqlx::SqliteConnection) -> Result<(), StoreError> {
        Ok(())
    }

    fn spawn_change_listener(_store: &SqliteStore, _on_change: ChangeCallback) {}

    /// Every write holds the database's one write lock already.
    async fn hold_remote_url(
        _conn: &mut sqlx::SqliteConnection,
        _url: &str,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    /// `BEGIN IMMEDIATE`: take the database write lock before reading, so concurrent writers queue (busy timeout)
    /// instead of failing when they upgrade a read lock.
    async fn begin_serialized<'c>(
        conn: &'c mut sqlx::pool::PoolConnection<Sqlite>,
        _server_name: &str,
    ) -> Result<sqlx::Transaction<'c, Sqlite>, StoreError> {
        sqlx::Connection::begin_with(&mut **conn, "BEGIN IMMEDIATE")
            .await
            .map_err(map_err)
    }
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
}
