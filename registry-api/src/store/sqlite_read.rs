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
//! A read runs on the request's thread for [`INLINE_BUDGET`] at most: SQLite's progress handler interrupts one
//! that takes longer (a two-letter search, which no trigram index serves; a far `updated_since`; a registry of
//! several sources, sorted whole), and it runs again on tokio's blocking threads, at most `keep` at once, so that
//! slow reads never hold the runtime's few workers and with them every other request.
//!
//! A connection is taken from an idle list, used and put back; at most `keep` are kept. Each opens read-write but
//! `query_only`, so that it shares the database's WAL index like the writers' connections whatever the file's
//! state. A database opened read-only (`mode=ro`, `immutable`) is read through sqlx, which honours those.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{Connection, OpenFlags, ToSql};

use super::StoreError;
use super::list_sql::{
    CONTAINS_FN, PROBE_MATCHES, SEARCH_PROBE, SearchPlan, SqlArg, SqlText, Substring, build_list,
    choose_plan, fts_phrase, probed_term,
};
use super::sql::{RawRow, sqlite_code_cannot_serve};
use crate::store::ListQuery;

/// How long a read waits for a lock before it is answered 503. In WAL mode a reader waits only in rare moments (a
/// recovery after a crash, a checkpoint that truncates the log); it waits on the request's thread, so not the
/// writers' 30 s.
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a read may run on the request's thread before it is interrupted and run again on a blocking thread.
/// Lookups and list pages take well under this (0.05–0.5 ms at 100 k versions); what takes longer would stall
/// every request queued on the same worker.
const INLINE_BUDGET: Duration = Duration::from_millis(1);

/// SQLite virtual-machine steps between two looks at the clock.
const CLOCK_EVERY_STEPS: i32 = 1000;

/// How long a search term's plan is remembered, which saves the look at the trigram index (a fifth to a quarter of
/// a search's time). A plan only decides how fast a search is, never what it answers (both plans return the same
/// rows), so a plan chosen before the data changed costs speed at most, for this long.
const PLAN_MEMORY: Duration = Duration::from_secs(30);

/// Plans remembered at most; the memory starts over when full.
const PLANS_KEPT: usize = 4096;

/// Recently chosen search plans, by page size and term.
#[derive(Default)]
struct Plans(Mutex<HashMap<(u32, String), (SearchPlan, Instant)>>);

impl Plans {
    fn get(&self, limit: u32, term: &str) -> Option<SearchPlan> {
        let plans = self.0.lock().unwrap_or_else(|e| e.into_inner());
        plans
            .get(&(limit, term.to_string()))
            .filter(|(_, at)| at.elapsed() < PLAN_MEMORY)
            .map(|(plan, _)| *plan)
    }

    fn put(&self, limit: u32, term: String, plan: SearchPlan) {
        let mut plans = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if plans.len() >= PLANS_KEPT {
            plans.clear();
        }
        plans.insert((limit, term), (plan, Instant::now()));
    }
}

/// Prepared statements kept per connection: the fixed reads plus the list shapes (one per combination of filters).
const STATEMENT_CACHE: usize = 64;

/// The read connections of one database file.
pub struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    keep: usize,
    /// Reads moved to blocking threads, at most `keep` at once.
    blocking: Arc<Semaphore>,
    plans: Plans,
}

impl Readers {
    /// Opens one connection at once, so that a database that cannot be read fails at start.
    pub fn open(path: &Path, keep: usize) -> Result<Self, StoreError> {
        let keep = keep.max(1);
        let readers = Self {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
            keep,
            blocking: Arc::new(Semaphore::new(keep)),
            plans: Plans::default(),
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
        register_contains(&conn).map_err(map_err)?;
        Ok(conn)
    }

    fn put_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.keep {
            idle.push(conn);
        }
    }

    /// Runs `f` on an idle connection (a new one when none is idle); with a `budget`, `None` when the budget ran
    /// out and SQLite interrupted it.
    fn read<T>(
        &self,
        budget: Option<Duration>,
        f: &impl Fn(&Connection) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, StoreError> {
        let taken = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match taken {
            Some(conn) => conn,
            None => self.connect()?,
        };
        if let Some(budget) = budget {
            let started = Instant::now();
            conn.progress_handler(CLOCK_EVERY_STEPS, Some(move || started.elapsed() > budget))
                .map_err(map_err)?;
        }
        let out = f(&conn);
        if budget.is_some() {
            conn.progress_handler(0, None::<fn() -> bool>)
                .map_err(map_err)?;
        }
        self.put_back(conn);
        match out {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if budget.is_some() && e.code == rusqlite::ErrorCode::OperationInterrupted =>
            {
                Ok(None)
            }
            out => out.map(Some).map_err(map_err),
        }
    }

    /// Runs `f` on this thread within [`INLINE_BUDGET`], else again on a blocking thread.
    async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl Fn(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        if let Some(done) = self.read(Some(INLINE_BUDGET), &f)? {
            return Ok(done);
        }
        let permit = Arc::clone(&self.blocking)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("the store is closing".into()))?;
        let readers = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            readers.read(None, &f)
        })
        .await
        .map_err(|e| StoreError::Database(format!("a read failed: {e}")))??
        .ok_or_else(|| StoreError::Database("a read without a budget was interrupted".into()))
    }

    /// The rows of a statement of the `read_cols!` columns.
    pub async fn rows(self: &Arc<Self>, text: SqlText) -> Result<Vec<RawRow>, StoreError> {
        self.run(move |conn| query_rows(conn, &text)).await
    }

    /// A list page: the search plan (remembered, or a look at the trigram index) and the page, on one connection.
    pub async fn list(
        self: &Arc<Self>,
        query: ListQuery,
        read_cols: &'static str,
    ) -> Result<Vec<RawRow>, StoreError> {
        let probed = probed_term(&query).map(str::to_string);
        let remembered = probed
            .as_deref()
            .and_then(|term| self.plans.get(query.limit, term));
        let limit = query.limit;
        let (plan, rows) = self
            .run(move |conn| {
                let plan = match (remembered, probed_term(&query)) {
                    (Some(plan), _) => plan,
                    (None, Some(term)) => {
                        let probe = conn
                            .prepare_cached(SEARCH_PROBE)?
                            .query_row((fts_phrase(term), PROBE_MATCHES), |r| {
                                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                            })?;
                        choose_plan(query.limit, probe)
                    }
                    (None, None) => SearchPlan::Like,
                };
                Ok((
                    plan,
                    query_rows(
                        conn,
                        &build_list(&query, plan, Substring::Contains, read_cols),
                    )?,
                ))
            })
            .await?;
        if let (Some(term), None) = (probed, remembered) {
            self.plans.put(limit, term, plan);
        }
        Ok(rows)
    }
}

/// Registers [`CONTAINS_FN`] on a connection: whether the second argument occurs in the first, byte for byte (for
/// valid UTF-8 the same answer as `instr(a, b) > 0`). The needle's searcher is built once per statement (SQLite
/// keeps it as the constant argument's auxiliary data) and finds a match with SIMD (memchr's memmem).
fn register_contains(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    use rusqlite::types::ValueRef;
    fn bytes(v: ValueRef<'_>) -> Option<&[u8]> {
        match v {
            ValueRef::Text(b) | ValueRef::Blob(b) => Some(b),
            _ => None,
        }
    }
    conn.create_scalar_function(
        CONTAINS_FN,
        2,
        FunctionFlags::SQLITE_UTF8
            | FunctionFlags::SQLITE_DETERMINISTIC
            | FunctionFlags::SQLITE_INNOCUOUS,
        |ctx| {
            let Some(haystack) = bytes(ctx.get_raw(0)) else {
                return Ok(None);
            };
            // The needle is read once per statement, with its searcher (a NULL needle: `None`).
            let finder = ctx.get_or_create_aux(1, |needle| {
                Ok::<_, rusqlite::Error>(
                    bytes(needle).map(|n| memchr::memmem::Finder::new(n).into_owned()),
                )
            })?;
            Ok(finder.as_ref().as_ref().map(|f| f.find(haystack).is_some()))
        },
    )
}

impl ToSql for SqlArg {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            SqlArg::Text(s) => ToSqlOutput::from(s.as_str()),
            SqlArg::Int(i) => ToSqlOutput::Owned(Value::Integer(*i)),
            SqlArg::Bool(b) => ToSqlOutput::Owned(Value::Integer(i64::from(*b))),
            SqlArg::OptText(s) => s
                .as_deref()
                .map_or(ToSqlOutput::Owned(Value::Null), ToSqlOutput::from),
            SqlArg::OptInt(i) => ToSqlOutput::Owned(i.map_or(Value::Null, Value::Integer)),
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
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if sqlite_code_cannot_serve(f.extended_code) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Database(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::thread::{self, ThreadId};

    use super::*;

    fn readers() -> (tempfile::TempDir, Arc<Readers>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER);")
            .unwrap();
        let readers = Arc::new(Readers::open(&path, 2).unwrap());
        (dir, readers)
    }

    /// Where each attempt of a read ran, and its answer.
    async fn attempts(readers: &Arc<Readers>, sql: &'static str) -> (Vec<ThreadId>, i64) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let answer = readers
            .run(move |conn| {
                record.lock().unwrap().push(thread::current().id());
                conn.query_row(sql, [], |r| r.get(0))
            })
            .await
            .unwrap();
        let seen = seen.lock().unwrap().clone();
        (seen, answer)
    }

    #[test]
    fn plans_are_remembered_by_page_size_and_term_and_forgotten_when_too_many() {
        let plans = Plans::default();
        plans.put(30, "data".into(), SearchPlan::Like);
        assert_eq!(plans.get(30, "data"), Some(SearchPlan::Like));
        assert_eq!(plans.get(100, "data"), None);
        assert_eq!(plans.get(30, "date"), None);
        for i in 0..PLANS_KEPT {
            plans.put(30, format!("t{i}"), SearchPlan::TrigramIndex);
        }
        assert_eq!(plans.get(30, "data"), None, "started over when full");
        assert_eq!(plans.0.lock().unwrap().len(), 1);
    }

    /// A read over the budget is interrupted on the request's thread and answered whole from another one: a slow
    /// read never holds the runtime's worker (the test's runtime has one thread).
    #[tokio::test]
    async fn a_slow_read_leaves_the_request_thread_and_still_answers_whole() {
        let (_dir, readers) = readers();
        let here = thread::current().id();

        let (threads, answer) = attempts(&readers, "SELECT 7").await;
        assert_eq!(
            (threads, answer),
            (vec![here], 7),
            "a quick read stays here"
        );

        let (threads, answer) = attempts(
            &readers,
            "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 3000000) \
             SELECT COUNT(*) FROM c",
        )
        .await;
        assert_eq!(answer, 3_000_000);
        assert_eq!(threads.len(), 2, "interrupted once, then run again");
        assert_eq!(threads[0], here);
        assert_ne!(threads[1], here, "the second run is on a blocking thread");

        // The connection that was interrupted is whole again: quick reads stay here.
        let (threads, _) = attempts(&readers, "SELECT COUNT(*) FROM t").await;
        assert_eq!(threads, vec![here]);
    }

    /// The walk's substring test answers as `instr(a, b) > 0`, also when one cached statement runs with one term
    /// after another (the searcher SQLite keeps for a term must not serve the next one).
    #[test]
    fn contains_answers_as_instr_for_each_term_in_turn() {
        let (_dir, readers) = readers();
        let conn = readers.connect().unwrap();
        let texts = [
            "com.example/db\npostgres database tools",
            "io.github.x/ſtraße\nüber 100% _fast_",
            "",
            "a\u{0}b",
        ];
        let terms = [
            "database",
            "data",
            "db",
            "straße",
            "ſtr",
            "100%",
            "_fast",
            "%",
            "_",
            "",
            "\u{0}",
            "e/d",
            "zz",
            "über 100% _fast_ and more",
        ];
        for term in terms {
            for text in texts {
                let (ours, instr): (Option<bool>, bool) = conn
                    .prepare_cached(&format!("SELECT {CONTAINS_FN}(?1, ?2), instr(?1, ?2) > 0"))
                    .unwrap()
                    .query_row((text, term), |r| Ok((r.get(0)?, r.get(1)?)))
                    .unwrap();
                assert_eq!(ours, Some(instr), "{term:?} in {text:?}");
            }
        }
        for args in ["NULL, 'a'", "'a', NULL"] {
            let null: Option<bool> = conn
                .query_row(&format!("SELECT {CONTAINS_FN}({args})"), [], |r| r.get(0))
                .unwrap();
            assert_eq!(null, None, "{args}");
        }
        // Over the rows of one statement, as the walk uses it.
        let found: i64 = conn
            .query_row(
                &format!(
                    "SELECT COUNT(*) FROM (SELECT 'xdbx' AS s UNION ALL SELECT 'nope' UNION ALL SELECT 'db') \
                     WHERE {CONTAINS_FN}(s, ?1)"
                ),
                ["db"],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(found, 2);
    }
}
