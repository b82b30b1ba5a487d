//! The in-memory row index (the ConfigMap backend's reads) answers every read as the SQL backends do: the same
//! rows, in SQLite, read through the `Store` trait and through `RowIndex`, for a grid of queries (scopes of one
//! and several sources, cursors, searches, version filters, deleted rows, `updated_since`, limits).

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use futures::FutureExt;
use serde_json::json;
use thv_core::api::ServerStatus;
use thv_registry_api::store::{
    Cursor, ListQuery, RowIndex, Scope, SqliteStore, Store, StoreError, SyncOutcome, SyncTx,
    Timestamps, VersionFilter, VersionRow, WriteTx, sync_fn, write_fn,
};

/// A deterministic mix: 40 names × up to 4 versions, some deleted or deprecated, one latest per name, names
/// shared between sources, descriptions with common and rare words.
fn rows(source_seed: u64, names: std::ops::Range<u64>) -> Vec<VersionRow> {
    let mut out = Vec::new();
    for n in names {
        let name = format!("io.example{}/server-{:02}", n % 3, n);
        let count = 1 + (n * 7 + source_seed) % 4;
        for v in 0..count {
            let t = 1_750_000_000 + (n * 13 + v * 101 + source_seed * 7) as i64 % 5_000;
            let at = Utc.timestamp_opt(t, 0).unwrap();
            let word = if (n + v) % 5 == 0 {
                "database"
            } else {
                "files"
            };
            let description = format!("{word} tools {}", if n == 17 { "zebra" } else { "" });
            let status = match (n + v + source_seed) % 9 {
                0 => ServerStatus::Deleted,
                1 => ServerStatus::Deprecated,
                _ => ServerStatus::Active,
            };
            let version = format!("{}.{}.0", 1 + v / 2, v % 2 * 10);
            out.push(VersionRow {
                server_name: name.clone(),
                version: version.clone(),
                value: json!({"name": name, "version": version, "description": description,
                    "remotes": [{"type": "sse", "url": format!("https://{n}.example.com/{v}")}]})
                .to_string(),
                status,
                status_message: None,
                status_changed_at: at,
                published_at: at,
                updated_at: at,
                is_latest: v == count - 1,
                search_text: format!("{name}\n{description}").to_lowercase(),
            });
        }
    }
    out
}

async fn sync_into(s: &Arc<dyn Store>, source: &str, rows: Vec<VersionRow>) {
    s.register_source(source, "file").await.unwrap();
    s.sync(
        source,
        sync_fn(move |tx: &mut dyn SyncTx| {
            async move {
                tx.upsert(&rows, Timestamps::FromSource)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Some(SyncOutcome {
                    settings_hash: "s".into(),
                    content_hash: None,
                    watermark: None,
                    full: true,
                    report: json!({}),
                }))
            }
            .boxed()
        }),
    )
    .await
    .unwrap();
}

fn group(index: &mut RowIndex, source: &str, rows: &[VersionRow]) {
    let mut by_name: std::collections::BTreeMap<&str, Vec<VersionRow>> = Default::default();
    for r in rows {
        by_name.entry(&r.server_name).or_default().push(r.clone());
    }
    for (name, rows) in by_name {
        index.set_name(source, name, rows);
    }
}

#[tokio::test]
async fn the_row_index_reads_as_the_sql_store_does() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&url, 4).await.unwrap());
    let mut index = RowIndex::default();
    let sets = [
        ("managed", rows(0, 0..30)),
        ("up", rows(1, 20..40)),
        ("file", rows(2, 10..35)),
    ];
    for (source, rows) in &sets {
        if *source == "managed" {
            store.insert_batch(rows).await.unwrap();
        } else {
            sync_into(&store, source, rows.clone()).await;
        }
        group(&mut index, source, rows);
    }
    let scopes = [
        Scope::managed(),
        Scope::new(vec!["up".into()]).unwrap(),
        Scope::new(vec!["managed".into(), "up".into(), "file".into()]).unwrap(),
        Scope::new(vec!["file".into(), "managed".into()]).unwrap(),
    ];
    let cursors = [
        None,
        Some(Cursor {
            server_name: "io.example1/server-22".into(),
            version: None,
        }),
        Some(Cursor {
            server_name: "io.example1/server-22".into(),
            version: Some("1.0.0".into()),
        }),
        Some(Cursor {
            server_name: "io.example0".into(),
            version: None,
        }),
    ];
    let (mut checked, mut nonempty) = (0, 0);
    for scope in &scopes {
        for cursor in &cursors {
            for search in [None, Some("database"), Some("zebra"), Some("server-3")] {
                for version in [
                    VersionFilter::All,
                    VersionFilter::Latest,
                    VersionFilter::Exact("1.0.0".into()),
                ] {
                    for include_deleted in [false, true] {
                        for updated_since in
                            [None, Some(Utc.timestamp_opt(1_750_002_000, 0).unwrap())]
                        {
                            for limit in [1, 7, 100] {
                                let q = ListQuery {
                                    scope: scope.clone(),
                                    cursor: cursor.clone(),
                                    limit,
                                    search: search.map(str::to_owned),
                                    updated_since,
                                    version: version.clone(),
                                    include_deleted,
                                };
                                let page = index.list(&q);
                                assert_eq!(page, store.list(&q).await.unwrap(), "{q:?}");
                                checked += 1;
                                nonempty += usize::from(!page.is_empty());
                            }
                        }
                    }
                }
            }
        }
        for n in [0, 17, 25, 39, 99] {
            let name = format!("io.example{}/server-{:02}", n % 3, n);
            for include_deleted in [false, true] {
                assert_eq!(
                    index.versions(scope, &name, include_deleted),
                    store.versions(scope, &name, include_deleted).await.unwrap(),
                    "{name} in {scope:?}"
                );
            }
            for version in [None, Some("1.0.0"), Some("2.10.0"), Some("9.9.9")] {
                assert_eq!(
                    index.get(scope, &name, version),
                    store.get(scope, &name, version).await.unwrap(),
                    "{name}@{version:?} in {scope:?}"
                );
            }
        }
    }
    assert!(
        checked > 1000 && nonempty > checked / 3,
        "{nonempty} of {checked}"
    );
    assert_eq!(index.count(), store.count().await.unwrap());
    // Remote-URL owners: the managed source's non-deleted versions, other names only.
    let mut owned = 0;
    for (n, v) in [(3, 0), (9, 0), (12, 1), (25, 0), (31, 0)] {
        let url = format!("https://{n}.example.com/{v}");
        for asking in ["io.example0/server-00", "io.example0/server-03"] {
            let expected = index.remote_url_owner(&url, asking);
            owned += usize::from(expected.is_some());
            let url = url.clone();
            let owner = store
                .write(
                    asking,
                    write_fn(move |tx: &mut dyn WriteTx| {
                        let url = url.clone();
                        async move {
                            let owner = tx.remote_url_owner(&url, asking).await?;
                            // Roll back: nothing is written.
                            Err(StoreError::Conflict(owner.unwrap_or_default()))
                        }
                        .boxed()
                    }),
                )
                .await;
            let Err(StoreError::Conflict(owner)) = owner else {
                panic!("{owner:?}")
            };
            assert_eq!(
                expected.unwrap_or_default(),
                owner,
                "{n}/{v} asked by {asking}"
            );
        }
    }
    assert!(owned >= 3, "{owned}");
}
