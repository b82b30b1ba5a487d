//! [`Monitored`]: a [`Store`] that says when its database becomes unreachable — once per outage, not once per
//! request — and when it is reachable again.
//!
//! While the database is down every request needing it fails (503, after the pool's acquire timeout); logging
//! each would bury the log. The first failure of an outage is a warning, the following ones are debug lines,
//! and the first success after it ends the outage (an info line), so that the next outage is reported again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;

use super::{
    ChangeCallback, ListQuery, RowBatches, Scope, SourceRecord, Store, StoreError, SyncAttempt,
    SyncFn, VersionRow, WriteFn,
};
use crate::error::AppError;

/// A store whose unreachable database is reported once per outage.
pub struct Monitored {
    inner: Arc<dyn Store>,
    /// Whether the last call found the database unreachable.
    down: AtomicBool,
}

impl Monitored {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            down: AtomicBool::new(false),
        }
    }

    /// Records what a call found: an unreachable database, or one that answered.
    fn observe(&self, unreachable: Option<&dyn std::fmt::Display>) {
        match unreachable {
            Some(error) => {
                if !self.down.swap(true, Ordering::SeqCst) {
                    tracing::warn!(backend = self.inner.backend(), %error,
                        "the database is unreachable: requests that need it are answered 503 until it is back \
                         (logged once per outage)");
                } else {
                    tracing::debug!(backend = self.inner.backend(), %error, "the database is still unreachable");
                }
            }
            None => {
                if self.down.swap(false, Ordering::SeqCst) {
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

    fn seen_app<T>(&self, result: Result<T, AppError>) -> Result<T, AppError> {
        match &result {
            Err(e @ AppError::Unavailable(_)) => self.observe(Some(e)),
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
    async fn write(&self, server_name: &str, body: WriteFn) -> Result<Vec<VersionRow>, AppError> {
        self.seen_app(self.inner.write(server_name, body).await)
    }
    async fn insert_batches(&self, batches: &mut RowBatches<'_>) -> Result<u64, AppError> {
        self.seen_app(self.inner.insert_batches(batches).await)
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
