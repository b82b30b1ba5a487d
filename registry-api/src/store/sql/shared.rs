//! The store written once for both drivers: `sql_store!` expands, in `sqlite.rs` and `postgres.rs`, to a store
//! type, its write and sync transactions, and the [`Store`](super::super::Store) implementation over that
//! driver's sqlx pool. The statements, row types and helpers it uses are `super`'s.

macro_rules! sql_store {
    ($store:ident, $tx:ident, $synctx:ident, $db:ty, $backend:literal, { $($field:ident: $fty:ty),* }) => {
        #[doc = concat!("The ", $backend, " backend.")]
        #[derive(Clone)]
        pub struct $store {
            pool: Pool<$db>,
            /// The longest a read may take (see [`read_within`]); `None`: no limit.
            read_timeout: Option<Duration>,
            /// The longest a write may take, its wait for the name's lock included (see `write`); `None`: no limit.
            write_timeout: Option<Duration>,
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

        struct $tx<'c> {
            tx: sqlx::Transaction<'c, $db>,
        }

        impl $tx<'_> {
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
                tx: &mut sqlx::Transaction<'_, $db>,
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
        impl WriteTx for $tx<'_> {
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
            ) -> Result<Vec<VersionRow>, StoreError> {
                // On a connection of its own, so that a write that outlives its limit (a server that stopped
                // answering, a network that drops packets) closes that connection instead of handing it back:
                // sqlx would wait on it for good before reusing it. Whether such a write was committed is not
                // known; the caller is told so.
                let conn = self.pool.acquire().await.map_err(map_err)?;
                // Owned: the work may outlive no borrow but the connection's.
                let server_name = server_name.to_owned();
                let writing = within(conn, self.write_timeout, move |conn| {
                    Box::pin(async move {
                        let tx = Self::begin_serialized(conn, &server_name).await?;
                        let mut w = $tx { tx };
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
