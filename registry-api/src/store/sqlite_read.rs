//! SQLite's read path: connections stepped on the calling thread.
//!
//! sqlx runs each SQLite connection on a thread of its own and hands it every statement through a channel: one
//! round trip between threads per query, which cost about 55 µs of CPU on the benchmark machine (a `SELECT 1`
//! served at 80–90 µs per request against 30 µs for an answer without the database) — more than the statement
//! itself. Reads are short (an index walk bounded by `LIMIT`, or a lookup by key; a search walks at most about
//! `√(limit × rows)` rows, see [`super::list_sql::choose_plan`]), so the API's reads of a database file run here,
//! on the request's own thread, through rusqlite over the same bundled SQLite. sqlx keeps everything else: the
//! migrations, every write and transaction, the sync, and in-memory databases (`sqlite::memory:`), whose shared
//! cache is only safe through sqlx's unlock-notify handling.
//!
//! A connection is taken from an idle list, used and put back: at most one per thread reading at that moment
//! (the runtime's workers), at most `keep` kept. Each opens read-write but `query_only`, so that it shares the
//! database's WAL index like the writers' connections whatever the file's state.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{Connection, OpenFlags, ToSql};

use super::StoreError;
use super::list_sql::{
    PROBE_MATCHES, SEARCH_PROBE, SearchPlan, SqlArg, SqlText, build_list, choose_plan, fts_phrase,
    probed_term,
};
use super::sql::RawRow;
use crate::store::ListQuery;

/// How long a read waits for a lock before it is answered 503. In WAL mode a reader waits only in rare moments (a
/// recovery after a crash, a checkpoint that truncates the log); it waits on the request's thread, so not the
/// writers' 30 s.
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// Prepared statements kept per connection: the fixed reads plus the list shapes (one per combination of filters).
const STATEMENT_CACHE: usize = 64;

/// The read connections of one database file.
pub(super) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    keep: usize,
}

impl Readers {
    /// Opens one connection at once, so that a database that cannot be read fails at start.
    pub fn open(path: &Path, keep: usize) -> Result<Self, StoreError> {
        let readers = Self {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
            keep: keep.max(1),
        };
        let first = readers.connect()?;
        readers.put_back(first);
        Ok(readers)
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot open {} for reading: {e}",
                self.path.display()
            ))
        })?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
        conn.pragma_update(None, "query_only", true)
            .map_err(map_err)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }

    fn put_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.keep {
            idle.push(conn);
        }
    }

    /// Runs `f` on an idle connection (a new one when none is idle).
    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let taken = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match taken {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let out = f(&conn);
        self.put_back(conn);
        out.map_err(map_err)
    }

    /// The rows of a statement of the `read_cols!` columns.
    pub fn rows(&self, text: &SqlText) -> Result<Vec<RawRow>, StoreError> {
        self.read(|conn| query_rows(conn, text))
    }

    /// A list page: the search plan (a look at the trigram index) and the page, on one connection.
    pub fn list(&self, query: &ListQuery, read_cols: &str) -> Result<Vec<RawRow>, StoreError> {
        self.read(|conn| {
            let plan = match probed_term(query) {
                Some(term) => {
                    let probe = conn
                        .prepare_cached(SEARCH_PROBE)?
                        .query_row((fts_phrase(term), PROBE_MATCHES), |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                        })?;
                    choose_plan(query.limit, probe)
                }
                None => SearchPlan::Like,
            };
            query_rows(conn, &build_list(query, plan, true, read_cols))
        })
    }
}

impl ToSql for SqlArg {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            SqlArg::Text(s) => ToSqlOutput::from(s.as_str()),
            SqlArg::Int(i) => ToSqlOutput::Owned(Value::Integer(*i)),
        })
    }
}

/// Runs a statement whose columns are `read_cols!`, in that order.
fn query_rows(conn: &Connection, text: &SqlText) -> rusqlite::Result<Vec<RawRow>> {
    let mut stmt = conn.prepare_cached(&text.sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(&text.args), |r| {
        Ok(RawRow {
            server_name: r.get(0)?,
            version: r.get(1)?,
            value: r.get(2)?,
            status: r.get(3)?,
            status_message: r.get(4)?,
            status_changed_at: r.get(5)?,
            published_at: r.get(6)?,
            updated_at: r.get(7)?,
            is_latest: r.get(8)?,
            search_text: r.get(9)?,
        })
    })?;
    rows.collect()
}

/// A database that cannot be opened, is locked past the busy timeout or fails to read is unavailable (503);
/// anything else is an error of the statement (500, logged).
fn map_err(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::*;
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                CannotOpen | DatabaseBusy | DatabaseLocked | SystemIoFailure | NotADatabase
            ) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Database(e.to_string()),
    }
}
