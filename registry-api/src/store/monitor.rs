//! [`Monitored`]: a [`Store`] that says when its database becomes unreachable — once per outage, not once per
//! request — and when it is reachable again.
//!
//! While the database is down every request needing it fails (503, after the pool's acquire timeout); logging
//! each would bury the log. The first failure of an outage is a warning, the following ones are debug lines,
//! and the first success after it ends the outage (an info line), so that the next outage is reported again.
//! A database that is only partly reachable (a SQLite file deleted under the server: connections opened before
//! still read it, new ones fail) flips between the two many times a second: at most [`LINES_PER_MINUTE`] such
//! lines are logged a minute, then one line says how many were left out.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{
    ChangeCallback, ListQuery, RowBatches, Scope, SourceRecord, Store, StoreError, SyncAttempt,
    SyncFn, VersionRow, WriteFn,
};

/// Outage and recovery lines logged a minute at most.
pub const LINES_PER_MINUTE: u32 = 6;

/// The lines of the current minute.
struct LineBudget {
    since: Instant,
    logged: u32,
    left_out: u64,
}

/// A store whose unreachable database is reported once per outage.
pub struct Monitored {
    inner: Arc<dyn Store>,
    /// Whether the last call found the database unreachable.
    down: AtomicBool,
    lines: Mutex<LineBudget>,
}

impl Monitored {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            down: AtomicBool::new(false),
            lines: Mutex::new(LineBudget {
                since: Instant::now(),
                logged: 0,
                left_out: 0,
            }),
        }
    }

    /// Whether an outage or recovery line may be logged now.
    fn may_log(&self) -> bool {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if lines.since.elapsed() >= Duration::from_secs(60) {
            if lines.left_out > 0 {
                tracing::warn!(
                    backend = self.inner.backend(),
                    left_out = lines.left_out,
                    "the database's reachability kept changing: that many outage and recovery lines were left out \
                     in the last minute (at debug level)"
                );
            }
            *lines = LineBudget {
                since: Instant::now(),
                logged: 0,
                left_out: 0,
            };
        }
        if lines.logged < LINES_PER_MINUTE {
            lines.logged += 1;
            true
        } else {
            lines.left_out += 1;
            false
        }
    }

    /// Records what a call found: an unreachable database, or one that answered.
    fn observe(&self, unreachable: Option<&dyn std::fmt::Display>) {
        match unreachable {
            Some(error) => {
                if !self.down.swap(true, Ordering::SeqCst) && self.may_log() {
                    tracing::warn!(backend = self.inner.backend(), %error,
                        "the database is unreachable: requests that need it are answered 503 until it is back \
                         (logged once per outage)");
                } else {
                    tracing::debug!(backend = self.inner.backend(), %error, "the database is still unreachable");
                }
            }
            None => {
                if self.down.swap(false, Ordering::SeqCst) && self.may_log() {
                    tracing::info!(
                        backend = self.inner.backend(),
                        "the database is reachable again"
                    );
                }
            }
        }
    }

    fn seen<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        match &result {
            Err(e @ StoreError::Unavailable(_)) => self.observe(Some(e)),
            // Any other answer, an error included, came from a reachable database.
            _ => self.observe(None),
        }
        result
    }
}

#[async_trait]
impl Store for Monitored {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn list(&self, query: &ListQuery) -> Result<Vec<VersionRow>, StoreError> {
        self.seen(self.inner.list(query).await)
    }
    async fn versions(
        &self,
        scope: &Scope,
        server_name: &str,
        include_deleted: bool,
    ) -> Result<Vec<VersionRow>, StoreError> {
        self.seen(
            self.inner
                .versions(scope, server_name, include_deleted)
                .await,
        )
    }
    async fn get(
        &self,
        scope: &Scope,
        server_name: &str,
        version: Option<&str>,
    ) -> Result<Option<VersionRow>, StoreError> {
        self.seen(self.inner.get(scope, server_name, version).await)
    }
    async fn count(&self) -> Result<u64, StoreError> {
        self.seen(self.inner.count().await)
    }
    async fn write(&self, server_name: &str, body: WriteFn) -> Result<Vec<VersionRow>, StoreError> {
        self.seen(self.inner.write(server_name, body).await)
    }
    async fn insert_batches(&self, batches: &mut RowBatches) -> Result<u64, StoreError> {
        self.seen(self.inner.insert_batches(batches).await)
    }
    async fn register_source(&self, name: &str, kind: &str) -> Result<(), StoreError> {
        self.seen(self.inner.register_source(name, kind).await)
    }
    async fn sources(&self) -> Result<Vec<SourceRecord>, StoreError> {
        self.seen(self.inner.sources().await)
    }
    async fn sync(&self, source: &str, body: SyncFn) -> Result<SyncAttempt, StoreError> {
        self.seen(self.inner.sync(source, body).await)
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.seen(self.inner.ping().await)
    }
    fn watch_changes(&self, on_change: ChangeCallback) {
        self.inner.watch_changes(on_change);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database flipping between reachable and not many times a second logs a few lines a minute, not one per
    /// flip.
    #[tokio::test]
    async fn a_flapping_database_logs_a_few_lines_a_minute() {
        let inner = crate::store::SqliteStore::open("sqlite::memory:", 1)
            .await
            .unwrap();
        let monitored = Monitored::new(Arc::new(inner));
        let allowed = (0..100).filter(|_| monitored.may_log()).count();
        assert_eq!(allowed, LINES_PER_MINUTE as usize);
        assert_eq!(
            monitored.lines.lock().unwrap().left_out,
            100 - u64::from(LINES_PER_MINUTE)
        );
    }
}
