//! The store written once for both drivers: [`SqlStore`], its write and sync transactions, and the
//! [`Store`] implementation over a [`Driver`]'s pool. The statements, row types and helpers it uses are `super`'s;
//! what each driver does its own way is behind [`Driver`].

use futures::future::BoxFuture;

use super::driver::Driver;
use super::*;

/// The SQL store on the driver `D`: [`SqliteStore`](super::SqliteStore) or
/// [`PostgresStore`](super::PostgresStore).
pub struct SqlStore<D: Driver> {
    pub(super) pool: Pool<D>,
    /// The longest a read may take (see [`read_within`]); `None`: no limit.
    pub(super) read_timeout: Option<Duration>,
    /// The longest a write may take, its wait for the name's lock included (see `write`); `None`: no limit.
    pub(super) write_timeout: Option<Duration>,
    /// What the driver keeps beside the pool.
    pub(super) extra: D::Extra,
}

impl<D: Driver> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            read_timeout: self.read_timeout,
            write_timeout: self.write_timeout,
            extra: self.extra.clone(),
        }
    }
}

impl<D: Driver> SqlStore<D> {
    pub fn pool(&self) -> &Pool<D> {
        &self.pool
    }

    /// A read on a pooled connection, within the read timeout (see [`read_within`]). A read that finds its
    /// connection closed by the server (see [`connection_lost`]) runs again on another: a read is safe to
    /// repeat, and the pool drops each dead connection it hands out.
    async fn read<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        F: for<'c> Fn(&'c mut D::Connection) -> BoxFuture<'c, Result<T, sqlx::Error>>,
    {
        let mut lost = 0;
        loop {
            match read_within(&self.pool, self.read_timeout, &read).await {
                Err(e)
                    if connection_lost(&e) && lost <= self.pool.options().get_max_connections() =>
                {
                    lost += 1;
                }
                done => return done.map_err(map_err),
            }
        }
    }

    /// The rows of a statement of the `read_cols!` columns, through sqlx ([`Self::read`]).
    pub(super) async fn sqlx_rows(&self, text: &SqlText) -> Result<Vec<RawRow>, StoreError> {
        self.read(|conn| {
            let text = text.clone();
            Box::pin(async move { D::fetch_rows(conn, &text).await })
        })
        .await
    }

    /// Runs a statement on a pooled connection.
    async fn execute(&self, text: SqlText) -> Result<u64, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        D::execute(&mut conn, &text).await.map_err(map_err)
    }

    /// Moves a server's latest flag inside a transaction: cleared, then set on `version`.
    async fn move_latest(
        conn: &mut D::Connection,
        source: &str,
        server_name: &str,
        version: Option<&str>,
    ) -> Result<(), StoreError> {
        D::execute(
            conn,
            &SqlText::with(CLEAR_LATEST, [source.into(), server_name.into()]),
        )
        .await
        .map_err(map_err)?;
        if let Some(v) = version {
            let set = SqlText::with(SET_LATEST, [source.into(), server_name.into(), v.into()]);
            D::execute(conn, &set).await.map_err(map_err)?;
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
        let holding = self
            .read(|conn| {
                let text = SqlText::with(SOURCES_OF, [server_name.into()]);
                Box::pin(async move { D::fetch_strings(conn, &text).await })
            })
            .await?;
        Ok(scope.first_of(&holding).map(str::to_string))
    }

    /// Records a completed sync of `source` as generation `generation`, in the sync's transaction; the record
    /// as it now stands.
    async fn complete_sync(
        tx: &mut D::Connection,
        source: &str,
        generation: i64,
        outcome: SyncOutcome,
    ) -> Result<RawSource, StoreError> {
        let SyncOutcome {
            settings_hash,
            content_hash,
            watermark,
            full,
            report,
        } = outcome;
        let complete = SqlText::with(
            SYNC_COMPLETE,
            [
                source.into(),
                generation.into(),
                settings_hash.into(),
                content_hash.into(),
                watermark.as_ref().map(micros).into(),
                micros(&Utc::now()).into(),
                full.into(),
                report.to_string().into(),
            ],
        );
        D::execute(tx, &complete).await.map_err(map_err)?;
        D::announce(tx).await?;
        let select = SqlText::with(SELECT_SOURCE, [source.into()]);
        let raw = D::fetch_sources(tx, &select).await.map_err(map_err)?;
        raw.into_iter()
            .next()
            .ok_or_else(|| StoreError::Database(format!("sync source '{source}' disappeared")))
    }
}

/// A write's transaction ([`Store::write`]), serialized per server name.
struct SqlTx<'c, D: Driver> {
    tx: sqlx::Transaction<'c, D>,
}

impl<D: Driver> SqlTx<'_, D> {
    async fn write_urls(&mut self, row: &VersionRow, replace: bool) -> Result<(), StoreError> {
        let key = || [(&row.server_name).into(), (&row.version).into()];
        if replace {
            D::execute(&mut self.tx, &SqlText::with(DELETE_URLS, key()))
                .await
                .map_err(map_err)?;
        }
        for url in remote_urls(&row.value)? {
            let [name, version] = key();
            let insert = SqlText::with(INSERT_URL, [url.into(), name, version]);
            D::execute(&mut self.tx, &insert).await.map_err(map_err)?;
        }
        Ok(())
    }
}

#[async_trait]
impl<D: Driver> WriteTx for SqlTx<'_, D> {
    async fn versions(&mut self, server_name: &str) -> Result<Vec<VersionRow>, StoreError> {
        let select = SqlText::with(SELECT_VERSIONS, [MANAGED_SOURCE.into(), server_name.into()]);
        rows(
            D::fetch_rows(&mut self.tx, &select)
                .await
                .map_err(map_err)?,
        )
    }

    async fn remote_url_owner(
        &mut self,
        url: &str,
        server_name: &str,
    ) -> Result<Option<String>, StoreError> {
        D::hold_remote_url(&mut self.tx, url).await?;
        let select = SqlText::with(URL_OWNER, [url.into(), server_name.into()]);
        let owners = D::fetch_strings(&mut self.tx, &select)
            .await
            .map_err(map_err)?;
        Ok(owners.into_iter().next())
    }

    async fn insert(&mut self, row: &VersionRow) -> Result<(), StoreError> {
        let insert = SqlText::with(
            INSERT,
            [
                (&row.server_name).into(),
                (&row.version).into(),
                (&row.value).into(),
                row.status.as_str().into(),
                (&row.status_message).into(),
                micros(&row.status_changed_at).into(),
                micros(&row.published_at).into(),
                micros(&row.updated_at).into(),
                row.is_latest.into(),
                (&row.search_text).into(),
            ],
        );
        D::execute(&mut self.tx, &insert).await.map_err(map_err)?;
        self.write_urls(row, false).await
    }

    async fn update(&mut self, row: &VersionRow) -> Result<(), StoreError> {
        let update = SqlText::with(
            UPDATE,
            [
                (&row.server_name).into(),
                (&row.version).into(),
                (&row.value).into(),
                row.status.as_str().into(),
                (&row.status_message).into(),
                micros(&row.status_changed_at).into(),
                micros(&row.updated_at).into(),
                (&row.search_text).into(),
            ],
        );
        D::execute(&mut self.tx, &update).await.map_err(map_err)?;
        self.write_urls(row, true).await
    }

    async fn set_latest(
        &mut self,
        server_name: &str,
        version: Option<&str>,
    ) -> Result<(), StoreError> {
        SqlStore::<D>::move_latest(&mut self.tx, MANAGED_SOURCE, server_name, version).await
    }
}

/// A sync's transaction ([`Store::sync`]).
struct SqlSyncTx<D: Driver> {
    /// PostgreSQL: open from the start (it holds the source's row lock). SQLite: begun by the first write,
    /// so that what comes before (fetching from the source) does not hold the database's write lock.
    tx: Option<sqlx::Transaction<'static, D>>,
    pool: Pool<D>,
    record: SourceRecord,
    generation: i64,
}

impl<D: Driver> SqlSyncTx<D> {
    async fn tx(&mut self) -> Result<&mut D::Connection, StoreError> {
        if self.tx.is_none() {
            self.tx = Some(D::begin_sync_write(&self.pool).await?);
        }
        Ok(&mut **self.tx.as_mut().expect("just begun"))
    }
}

#[async_trait]
impl<D: Driver> SyncTx for SqlSyncTx<D> {
    fn record(&self) -> &SourceRecord {
        &self.record
    }

    fn writes_block_others(&self) -> bool {
        D::WRITES_BLOCK_OTHERS
    }

    async fn upsert(&mut self, rows: &[VersionRow], times: Timestamps) -> Result<(), StoreError> {
        let on_conflict = match times {
            Timestamps::FromSource => UPSERT_FROM_SOURCE,
            Timestamps::KeepUnchanged => UPSERT_KEEP_UNCHANGED,
        };
        let (name, generation) = (self.record.name.clone(), self.generation);
        for chunk in rows.chunks(BATCH_ROWS) {
            let tx = self.tx().await?;
            D::insert_versions(tx, chunk, &name, generation, on_conflict)
                .await
                .map_err(map_err)?;
        }
        Ok(())
    }

    async fn remove(&mut self, server_name: &str, version: &str) -> Result<u64, StoreError> {
        let remove = SqlText::with(
            SYNC_REMOVE,
            [
                (&self.record.name).into(),
                server_name.into(),
                version.into(),
            ],
        );
        D::execute(self.tx().await?, &remove).await.map_err(map_err)
    }

    async fn remove_stale(&mut self) -> Result<u64, StoreError> {
        let remove = SqlText::with(
            SYNC_REMOVE_STALE,
            [(&self.record.name).into(), self.generation.into()],
        );
        D::execute(self.tx().await?, &remove).await.map_err(map_err)
    }

    async fn clear_latest(&mut self) -> Result<(), StoreError> {
        let clear = SqlText::with(SYNC_CLEAR_LATEST, [(&self.record.name).into()]);
        D::execute(self.tx().await?, &clear)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn versions(&mut self, server_name: &str) -> Result<Vec<VersionRow>, StoreError> {
        let select = SqlText::with(
            SELECT_VERSIONS,
            [(&self.record.name).into(), server_name.into()],
        );
        rows(
            D::fetch_rows(self.tx().await?, &select)
                .await
                .map_err(map_err)?,
        )
    }

    async fn set_latest(
        &mut self,
        server_name: &str,
        version: Option<&str>,
    ) -> Result<(), StoreError> {
        let source = self.record.name.clone();
        SqlStore::<D>::move_latest(self.tx().await?, &source, server_name, version).await
    }
}

#[async_trait]
impl<D: Driver> Store for SqlStore<D> {
    fn backend(&self) -> &'static str {
        D::BACKEND
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<VersionRow>, StoreError> {
        rows(D::list_rows(self, query).await?)
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
        rows(D::read_rows(self, SqlText::of(sql, [source, server_name.to_string()])).await?)
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
        let raw = D::read_rows(self, text).await?.into_iter().next();
        raw.map(VersionRow::try_from).transpose()
    }

    async fn register_source(&self, name: &str, kind: &str) -> Result<(), StoreError> {
        self.execute(SqlText::with(REGISTER_SOURCE, [name.into(), kind.into()]))
            .await?;
        Ok(())
    }

    async fn sources(&self) -> Result<Vec<SourceRecord>, StoreError> {
        let raw = self
            .read(|conn| {
                Box::pin(
                    async move { D::fetch_sources(conn, &SqlText::with(SELECT_SOURCES, [])).await },
                )
            })
            .await?;
        raw.into_iter().map(SourceRecord::try_from).collect()
    }

    async fn sync(&self, source: &str, body: SyncFn) -> Result<SyncAttempt, StoreError> {
        let Some((tx, raw)) = D::lock_source(self, source).await? else {
            let mut conn = self.pool.acquire().await.map_err(map_err)?;
            let count = SqlText::with(SOURCE_KNOWN, [source.into()]);
            let known = D::fetch_int(&mut conn, &count).await.map_err(map_err)?;
            return match known {
                1.. => Ok(SyncAttempt::Busy),
                _ => Err(StoreError::Database(format!(
                    "sync source '{source}' is not registered"
                ))),
            };
        };
        let record = SourceRecord::try_from(raw)?;
        let generation = record.generation + 1;
        let mut stx = SqlSyncTx {
            tx,
            pool: self.pool.clone(),
            record,
            generation,
        };
        match body(&mut stx).await {
            Ok(Some(outcome)) => {
                let raw = Self::complete_sync(stx.tx().await?, source, generation, outcome).await?;
                let tx = stx.tx.take().expect("begun");
                tx.commit().await.map_err(map_err)?;
                D::after_sync(&self.pool).await;
                Ok(SyncAttempt::Committed(Box::new(SourceRecord::try_from(
                    raw,
                )?)))
            }
            Ok(None) => Ok(SyncAttempt::Skipped),
            Err(message) => {
                drop(stx);
                let failed = SqlText::with(
                    SYNC_FAILED,
                    [
                        source.into(),
                        storable(&message).into_owned().into(),
                        micros(&Utc::now()).into(),
                    ],
                );
                self.execute(failed).await?;
                Ok(SyncAttempt::Failed(message))
            }
        }
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let n = self
            .read(|conn| {
                Box::pin(async move { D::fetch_int(conn, &SqlText::with(COUNT, [])).await })
            })
            .await?;
        Ok(n.max(0) as u64)
    }

    async fn write(&self, server_name: &str, body: WriteFn) -> Result<Vec<VersionRow>, StoreError> {
        // On a connection of its own, so that a write that outlives its limit (a server that stopped
        // answering, a network that drops packets) closes that connection instead of handing it back:
        // sqlx would wait on it for good before reusing it. Whether such a write was committed is not
        // known; the caller is told so.
        let conn = self.pool.acquire().await.map_err(map_err)?;
        // Owned: the work may outlive no borrow but the connection's.
        let server_name = server_name.to_owned();
        let writing = within(conn, self.write_timeout, move |conn| {
            Box::pin(async move {
                let tx = D::begin_serialized(conn, &server_name).await?;
                let mut w = SqlTx { tx };
                let written = body(&mut w).await?;
                w.tx.commit().await.map_err(map_err)?;
                Ok::<_, StoreError>(written)
            })
        });
        writing.await.unwrap_or_else(|limit| {
            Err(StoreError::Unavailable(format!(
                "the database did not complete a write within {limit:?}; it may or may not have \
                 been committed"
            )))
        })
    }

    async fn insert_batches(&self, batches: &mut RowBatches) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let mut inserted = 0u64;
        while let Some(batch) = batches.recv().await {
            let batch = batch?;
            inserted += batch.len() as u64;
            for chunk in batch.chunks(BATCH_ROWS) {
                D::insert_versions(&mut tx, chunk, MANAGED_SOURCE, 0, "")
                    .await
                    .map_err(map_err)?;
                let mut urls = Vec::new();
                for row in chunk {
                    for url in remote_urls(&row.value)? {
                        urls.push((url, row.server_name.as_str(), row.version.as_str()));
                    }
                }
                for url_chunk in urls.chunks(BATCH_ROWS) {
                    D::insert_urls(&mut tx, url_chunk).await.map_err(map_err)?;
                }
            }
        }
        D::announce(&mut tx).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(inserted)
    }

    fn watch_changes(&self, on_change: ChangeCallback) {
        D::spawn_change_listener(self, on_change);
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| {
            Box::pin(async move { D::execute(conn, &SqlText::with("SELECT 1", [])).await })
        })
        .await?;
        Ok(())
    }
}
