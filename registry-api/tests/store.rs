//! The `Store` trait's own suite, run against every backend: ordering, filters, keyset pages, the latest flag,
//! remote-URL ownership, batch inserts, and transactions that roll back on error.

mod common;

use common::rows::{latest, outcome, replace, row};

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use futures::FutureExt;
use thv_core::api::ServerStatus;
use thv_registry_api::store::configmap::ConfigMapStore;
use thv_registry_api::store::{
    Cursor, ListQuery, PoolSettings, PostgresStore, Scope, SourceStatus, SqliteStore, Store,
    StoreError, SyncAttempt, SyncTx, Timestamps, VersionFilter, VersionRow, WriteTx, sync_fn,
    write_fn,
};

fn query() -> ListQuery {
    ListQuery {
        scope: Scope::managed(),
        cursor: None,
        limit: 100,
        search: None,
        updated_since: None,
        version: VersionFilter::All,
        include_deleted: false,
    }
}

fn keys(rows: &[VersionRow]) -> Vec<String> {
    rows.iter()
        .map(|r| format!("{}@{}", r.server_name, r.version))
        .collect()
}

async fn sqlite() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    (Arc::new(SqliteStore::open(&url, 4).await.unwrap()), dir)
}

async fn postgres() -> Option<Arc<dyn Store>> {
    let (admin, db) = common::new_postgres_database("store").await?;
    Some(Arc::new(
        PostgresStore::open(&common::database_url(&admin, &db), &PoolSettings::new(8))
            .await
            .unwrap(),
    ))
}

async fn configmap() -> Option<(Arc<dyn Store>, thv_e2e::kube::TestNamespace)> {
    let (url, namespace) = common::new_configmap_store("store").await?;
    let store = ConfigMapStore::open(&url, &PoolSettings::new(8))
        .await
        .unwrap();
    Some((Arc::new(store), namespace))
}

macro_rules! store_suite {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
               async fn $name() { let (s, _dir) = super::sqlite().await; super::$name(s).await; } )*
        }
        mod on_postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
               async fn $name() { if let Some(s) = super::postgres().await { super::$name(s).await; } } )*
        }
        mod on_configmap {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
               async fn $name() {
                   if let Some((s, namespace)) = super::configmap().await {
                       super::$name(s).await;
                       namespace.delete_and_wait(std::time::Duration::ZERO).await;
                   }
               } )*
        }
    };
}

store_suite!(
    list_orders_filters_and_pages,
    latest_flag_and_get,
    writes_roll_back_on_error,
    remote_url_owner_ignores_deleted_and_self,
    concurrent_writes_to_one_name_are_serialized,
    migrations_are_idempotent_and_data_survives_reopen,
    search_finds_rare_and_common_terms_alike,
    sync_replaces_a_source_and_scopes_read_in_precedence,
    sync_failure_rolls_back_and_is_recorded,
    sync_keeps_unchanged_timestamps,
);

/// SQLite answers rare terms from its trigram index and common ones by walking pages; both must give the same
/// rows in the same order as a plain substring filter.
async fn search_finds_rare_and_common_terms_alike(s: Arc<dyn Store>) {
    let mut rows = Vec::new();
    for i in 0..2600 {
        let name = format!("a.x/server-{i:05}");
        let mut r = row(&name, "1.0.0", i);
        let extra = if i % 5 != 0 { " common" } else { "" };
        let rare = if i % 500 == 7 { " r\"a%re_" } else { "" };
        r.search_text = format!("{name}\nabout{extra}{rare}").to_lowercase();
        rows.push(r);
    }
    s.insert_batch(&rows).await.unwrap();
    for term in [
        "common",
        "r\"a%re_",
        "nothing-like-this",
        "00",
        "server-0001",
    ] {
        let expected: Vec<String> = rows
            .iter()
            .filter(|r| r.search_text.contains(term))
            .map(|r| r.server_name.clone())
            .collect();
        let mut got = Vec::new();
        let mut cursor = None;
        loop {
            let q = ListQuery {
                search: Some(term.into()),
                cursor: cursor.clone(),
                limit: 100,
                ..query()
            };
            let page = s.list(&q).await.unwrap();
            got.extend(page.iter().map(|r| r.server_name.clone()));
            match page.last() {
                Some(last) if page.len() == 100 => {
                    cursor = Some(Cursor {
                        server_name: last.server_name.clone(),
                        version: Some(last.version.clone()),
                    })
                }
                _ => break,
            }
        }
        assert_eq!(got, expected, "search {term:?}");
    }
    // The index follows updates of the searchable text.
    let body = write_fn(|tx: &mut dyn WriteTx| {
        async move {
            let mut r = tx.versions("a.x/server-00003").await?.remove(0);
            r.search_text = "a.x/server-00003\nnow mentions zebras".into();
            tx.update(&r).await?;
            Ok(vec![])
        }
        .boxed()
    });
    s.write("a.x/server-00003", body).await.unwrap();
    let found = s
        .list(&ListQuery {
            search: Some("zebras".into()),
            ..query()
        })
        .await
        .unwrap();
    assert_eq!(keys(&found), ["a.x/server-00003@1.0.0"]);
    let gone = s
        .list(&ListQuery {
            search: Some("r\"a%re_".into()),
            ..query()
        })
        .await
        .unwrap();
    assert_eq!(
        gone.len(),
        6,
        "the six rare rows are untouched by the update"
    );
}

async fn list_orders_filters_and_pages(s: Arc<dyn Store>) {
    let mut rows = vec![
        row("b.x/two", "1.0.0", 1),
        row("a.x/one", "2.0.0", 2),
        row("a.x/one", "10.0.0", 3),
        row("c.x/three", "1.0.0", 4),
    ];
    rows[3].status = ServerStatus::Deleted;
    rows[1].is_latest = true;
    s.insert_batch(&rows).await.unwrap();
    assert_eq!(s.count().await.unwrap(), 4);

    let all = s.list(&query()).await.unwrap();
    assert_eq!(
        keys(&all),
        ["a.x/one@10.0.0", "a.x/one@2.0.0", "b.x/two@1.0.0"],
        "byte order, deleted hidden"
    );
    let with_deleted = s
        .list(&ListQuery {
            include_deleted: true,
            ..query()
        })
        .await
        .unwrap();
    assert_eq!(with_deleted.len(), 4);

    let page = s
        .list(&ListQuery {
            limit: 2,
            ..query()
        })
        .await
        .unwrap();
    assert_eq!(keys(&page), ["a.x/one@10.0.0", "a.x/one@2.0.0"]);
    let next = ListQuery {
        cursor: Some(Cursor {
            server_name: "a.x/one".into(),
            version: Some("2.0.0".into()),
        }),
        ..query()
    };
    assert_eq!(keys(&s.list(&next).await.unwrap()), ["b.x/two@1.0.0"]);
    let by_name = ListQuery {
        cursor: Some(Cursor {
            server_name: "a.x/one".into(),
            version: None,
        }),
        ..query()
    };
    assert_eq!(keys(&s.list(&by_name).await.unwrap()), ["b.x/two@1.0.0"]);

    let latest = s
        .list(&ListQuery {
            version: VersionFilter::Latest,
            ..query()
        })
        .await
        .unwrap();
    assert_eq!(keys(&latest), ["a.x/one@2.0.0"]);
    let exact = s
        .list(&ListQuery {
            version: VersionFilter::Exact("1.0.0".into()),
            include_deleted: true,
            ..query()
        })
        .await
        .unwrap();
    assert_eq!(keys(&exact), ["b.x/two@1.0.0", "c.x/three@1.0.0"]);
    let since = Utc.timestamp_opt(1_750_000_002, 0).unwrap();
    let newer = s
        .list(&ListQuery {
            updated_since: Some(since),
            include_deleted: true,
            ..query()
        })
        .await
        .unwrap();
    assert_eq!(
        keys(&newer),
        ["a.x/one@10.0.0", "c.x/three@1.0.0"],
        "strictly after"
    );
    let found = s
        .list(&ListQuery {
            search: Some("two".into()),
            ..query()
        })
        .await
        .unwrap();
    assert_eq!(keys(&found), ["b.x/two@1.0.0"]);
    let none = s
        .list(&ListQuery {
            search: Some("%".into()),
            ..query()
        })
        .await
        .unwrap();
    assert!(none.is_empty(), "LIKE wildcards in a term are literal");

    let versions = s
        .versions(&Scope::managed(), "a.x/one", false)
        .await
        .unwrap();
    assert_eq!(
        keys(&versions),
        ["a.x/one@10.0.0", "a.x/one@2.0.0"],
        "newest publish first"
    );
    // Reads leave search_text empty (the API never shows it; writes read it in their transactions).
    let mut written = rows[2].clone();
    written.search_text.clear();
    assert_eq!(versions[0], written, "a row reads back exactly as written");
}

async fn latest_flag_and_get(s: Arc<dyn Store>) {
    s.insert_batch(&[row("a.x/one", "1.0.0", 1), row("a.x/one", "2.0.0", 2)])
        .await
        .unwrap();
    assert!(
        s.get(&Scope::managed(), "a.x/one", None)
            .await
            .unwrap()
            .is_none(),
        "no latest yet"
    );
    let body = write_fn(|tx: &mut dyn WriteTx| {
        async move {
            tx.set_latest("a.x/one", Some("1.0.0")).await?;
            tx.set_latest("a.x/one", Some("2.0.0")).await?;
            Ok(vec![])
        }
        .boxed()
    });
    s.write("a.x/one", body).await.unwrap();
    assert_eq!(
        s.get(&Scope::managed(), "a.x/one", None)
            .await
            .unwrap()
            .unwrap()
            .version,
        "2.0.0"
    );
    let all = s
        .versions(&Scope::managed(), "a.x/one", true)
        .await
        .unwrap();
    assert_eq!(all.iter().filter(|r| r.is_latest).count(), 1);
    assert_eq!(
        s.get(&Scope::managed(), "a.x/one", Some("1.0.0"))
            .await
            .unwrap()
            .unwrap()
            .version,
        "1.0.0"
    );
    assert!(
        s.get(&Scope::managed(), "a.x/one", Some("3.0.0"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.get(&Scope::managed(), "a.x/none", None)
            .await
            .unwrap()
            .is_none()
    );
}

async fn writes_roll_back_on_error(s: Arc<dyn Store>) {
    let body = write_fn(|tx: &mut dyn WriteTx| {
        async move {
            tx.insert(&row("a.x/one", "1.0.0", 1)).await?;
            Err(StoreError::Rejected("refused after the insert".into()))
        }
        .boxed()
    });
    // The body's own error comes back as it was.
    assert!(matches!(
        s.write("a.x/one", body).await,
        Err(StoreError::Rejected(e)) if e.to_string() == "refused after the insert"
    ));
    assert_eq!(
        s.count().await.unwrap(),
        0,
        "nothing of a failed write is kept"
    );
    let dup = write_fn(|tx: &mut dyn WriteTx| {
        async move {
            tx.insert(&row("a.x/one", "1.0.0", 1)).await?;
            tx.insert(&row("a.x/one", "1.0.0", 1)).await?;
            Ok(vec![])
        }
        .boxed()
    });
    assert!(
        s.write("a.x/one", dup).await.is_err(),
        "the primary key holds"
    );
    assert_eq!(s.count().await.unwrap(), 0);
}

async fn remote_url_owner_ignores_deleted_and_self(s: Arc<dyn Store>) {
    let mut deleted = row("b.x/two", "1.0.0", 2);
    deleted.value = row("a.x/one", "1.0.0", 0)
        .value
        .replace("a.x/one", "b.x/two")
        .replace("b.x-two", "a.x-one");
    deleted.status = ServerStatus::Deleted;
    s.insert_batch(&[row("a.x/one", "1.0.0", 1), deleted])
        .await
        .unwrap();
    let url = "https://a.x-one.example.com/sse".to_string();
    let body = write_fn(move |tx: &mut dyn WriteTx| {
        let url = url.clone();
        async move {
            assert_eq!(
                tx.remote_url_owner(&url, "c.x/three").await?,
                Some("a.x/one".into())
            );
            assert_eq!(
                tx.remote_url_owner(&url, "a.x/one").await?,
                None,
                "a server may reuse its own URL"
            );
            assert_eq!(
                tx.remote_url_owner("https://unknown.example.com", "c.x/three")
                    .await?,
                None
            );
            // Once the owner's only version is deleted, the URL is free (the deleted b.x/two holds it too).
            let mut gone = tx.versions("a.x/one").await?.remove(0);
            gone.status = ServerStatus::Deleted;
            tx.update(&gone).await?;
            assert_eq!(tx.remote_url_owner(&url, "c.x/three").await?, None);
            Ok(vec![])
        }
        .boxed()
    });
    s.write("a.x/one", body).await.unwrap();
}

async fn concurrent_writes_to_one_name_are_serialized(s: Arc<dyn Store>) {
    // Each write reads the count of versions and inserts the next one: without serialization two writers would
    // read the same count and collide on the primary key.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let body = write_fn(|tx: &mut dyn WriteTx| {
                async move {
                    let n = tx.versions("a.x/one").await?.len();
                    tokio::task::yield_now().await;
                    tx.insert(&row("a.x/one", &format!("1.0.{n}"), n as i64))
                        .await?;
                    Ok(vec![])
                }
                .boxed()
            });
            s.write("a.x/one", body).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(
        s.versions(&Scope::managed(), "a.x/one", true)
            .await
            .unwrap()
            .len(),
        20
    );
}

async fn migrations_are_idempotent_and_data_survives_reopen(s: Arc<dyn Store>) {
    s.insert_batch(&[row("a.x/one", "1.0.0", 1)]).await.unwrap();
    s.ping().await.unwrap();
    match s.backend() {
        "sqlite" | "postgres" | "configmap" => {}
        other => panic!("unknown backend {other}"),
    }
    // Reopening runs the migrations again; the data stays.
    if s.backend() == "sqlite" {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("r.db").display());
        let first = SqliteStore::open(&url, 2).await.unwrap();
        first
            .insert_batch(&[row("a.x/one", "1.0.0", 1)])
            .await
            .unwrap();
        first.pool().close().await;
        let again = SqliteStore::open(&url, 2).await.unwrap();
        assert_eq!(again.count().await.unwrap(), 1);
    }
}

async fn sync_replaces_a_source_and_scopes_read_in_precedence(s: Arc<dyn Store>) {
    s.register_source("up", "api").await.unwrap();
    s.register_source("file", "file").await.unwrap();
    // managed: a.x/one; up: a.x/one (hidden behind managed in "managed, up"), b.x/two; file: b.x/two, c.x/three.
    s.insert_batch(&[latest(row("a.x/one", "1.0.0", 1))])
        .await
        .unwrap();
    let first = replace(
        &s,
        "up",
        vec![
            latest(row("a.x/one", "9.0.0", 1)),
            row("b.x/two", "1.0.0", 1),
            latest(row("b.x/two", "2.0.0", 2)),
        ],
    )
    .await;
    let SyncAttempt::Committed(record) = first else {
        panic!("{first:?}")
    };
    assert_eq!(
        (record.status, record.server_count, record.version_count),
        (SourceStatus::Complete, 2, 3)
    );
    assert_eq!(record.generation, 1);
    replace(
        &s,
        "file",
        vec![
            latest(row("b.x/two", "5.0.0", 1)),
            latest(row("c.x/three", "1.0.0", 1)),
        ],
    )
    .await;

    let scope = Scope::new(vec!["managed".into(), "up".into(), "file".into()]).unwrap();
    let all = s
        .list(&ListQuery {
            scope: scope.clone(),
            ..query()
        })
        .await
        .unwrap();
    assert_eq!(
        keys(&all),
        [
            "a.x/one@1.0.0",
            "b.x/two@1.0.0",
            "b.x/two@2.0.0",
            "c.x/three@1.0.0"
        ]
    );
    let page = s
        .list(&ListQuery {
            scope: scope.clone(),
            limit: 2,
            cursor: Some(Cursor {
                server_name: "b.x/two".into(),
                version: Some("1.0.0".into()),
            }),
            ..query()
        })
        .await
        .unwrap();
    assert_eq!(keys(&page), ["b.x/two@2.0.0", "c.x/three@1.0.0"]);
    let latest_only = s
        .list(&ListQuery {
            scope: scope.clone(),
            version: VersionFilter::Latest,
            ..query()
        })
        .await
        .unwrap();
    assert_eq!(
        keys(&latest_only),
        ["a.x/one@1.0.0", "b.x/two@2.0.0", "c.x/three@1.0.0"]
    );
    assert_eq!(
        s.get(&scope, "a.x/one", None)
            .await
            .unwrap()
            .unwrap()
            .version,
        "1.0.0"
    );
    assert_eq!(
        s.get(&scope, "b.x/two", None)
            .await
            .unwrap()
            .unwrap()
            .version,
        "2.0.0"
    );
    assert!(
        s.get(&scope, "b.x/two", Some("5.0.0"))
            .await
            .unwrap()
            .is_none(),
        "hidden by up"
    );
    assert_eq!(
        keys(&s.versions(&scope, "c.x/three", false).await.unwrap()),
        ["c.x/three@1.0.0"]
    );
    let file_first = Scope::new(vec!["file".into(), "up".into()]).unwrap();
    assert_eq!(
        keys(&s.versions(&file_first, "b.x/two", false).await.unwrap()),
        ["b.x/two@5.0.0"]
    );
    assert_eq!(s.count().await.unwrap(), 1, "count is the managed source's");
    let search = s
        .list(&ListQuery {
            scope: scope.clone(),
            search: Some("three".into()),
            ..query()
        })
        .await
        .unwrap();
    assert_eq!(keys(&search), ["c.x/three@1.0.0"]);

    // A second full sync: b.x/two@1.0.0 is gone upstream.
    let second = replace(
        &s,
        "up",
        vec![
            latest(row("a.x/one", "9.0.0", 1)),
            latest(row("b.x/two", "2.0.0", 2)),
        ],
    )
    .await;
    let SyncAttempt::Committed(record) = second else {
        panic!("{second:?}")
    };
    assert_eq!((record.version_count, record.generation), (2, 2));
    let up = Scope::new(vec!["up".into()]).unwrap();
    assert_eq!(
        keys(
            &s.list(&ListQuery {
                scope: up,
                ..query()
            })
            .await
            .unwrap()
        ),
        ["a.x/one@9.0.0", "b.x/two@2.0.0"]
    );
    assert_eq!(
        keys(&s.list(&query()).await.unwrap()),
        ["a.x/one@1.0.0"],
        "managed untouched"
    );
    let sources = s.sources().await.unwrap();
    assert_eq!(
        sources.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["file", "up"]
    );
}

async fn sync_failure_rolls_back_and_is_recorded(s: Arc<dyn Store>) {
    s.register_source("up", "api").await.unwrap();
    replace(&s, "up", vec![latest(row("a.x/one", "1.0.0", 1))]).await;
    let failed = s
        .sync(
            "up",
            sync_fn(|tx: &mut dyn SyncTx| {
                async move {
                    tx.clear_latest().await.map_err(|e| e.to_string())?;
                    tx.upsert(&[row("z.x/new", "1.0.0", 1)], Timestamps::FromSource)
                        .await
                        .map_err(|e| e.to_string())?;
                    tx.remove_stale().await.map_err(|e| e.to_string())?;
                    Err("upstream went away".to_string())
                }
                .boxed()
            }),
        )
        .await
        .unwrap();
    assert_eq!(failed, SyncAttempt::Failed("upstream went away".into()));
    let up = Scope::new(vec!["up".into()]).unwrap();
    let rows = s
        .list(&ListQuery {
            scope: up.clone(),
            ..query()
        })
        .await
        .unwrap();
    assert_eq!(keys(&rows), ["a.x/one@1.0.0"]);
    assert!(rows[0].is_latest, "the last good data is intact");
    let record = s.sources().await.unwrap().remove(0);
    assert_eq!(record.status, SourceStatus::Failed);
    assert_eq!(record.last_error.as_deref(), Some("upstream went away"));
    assert_eq!((record.generation, record.version_count), (1, 1));
    let skipped = s
        .sync(
            "up",
            sync_fn(|_tx: &mut dyn SyncTx| async move { Ok(None) }.boxed()),
        )
        .await
        .unwrap();
    assert_eq!(skipped, SyncAttempt::Skipped);
    assert!(
        s.sync(
            "nope",
            sync_fn(|_tx: &mut dyn SyncTx| async move { Ok(None) }.boxed())
        )
        .await
        .is_err()
    );
}

async fn sync_keeps_unchanged_timestamps(s: Arc<dyn Store>) {
    s.register_source("file", "file").await.unwrap();
    let upsert = |rows: Vec<VersionRow>| {
        sync_fn(move |tx: &mut dyn SyncTx| {
            async move {
                tx.upsert(&rows, Timestamps::KeepUnchanged)
                    .await
                    .map_err(|e| e.to_string())?;
                for name in ["a.x/one", "b.x/two"] {
                    tx.set_latest(name, None).await.map_err(|e| e.to_string())?;
                }
                let v = tx.versions("a.x/one").await.map_err(|e| e.to_string())?;
                tx.set_latest("a.x/one", Some(&v[0].version))
                    .await
                    .map_err(|e| e.to_string())?;
                assert_eq!(
                    tx.remove("b.x/two", "0.0.1")
                        .await
                        .map_err(|e| e.to_string())?,
                    0
                );
                Ok(Some(outcome(false)))
            }
            .boxed()
        })
    };
    s.sync(
        "file",
        upsert(vec![row("a.x/one", "1.0.0", 1), row("b.x/two", "1.0.0", 1)]),
    )
    .await
    .unwrap();
    // Later: a.x/one unchanged, b.x/two changed.
    let mut b = row("b.x/two", "1.0.0", 50);
    b.value = b.value.replace("about", "now about");
    s.sync("file", upsert(vec![row("a.x/one", "1.0.0", 50), b]))
        .await
        .unwrap();
    let scope = Scope::new(vec!["file".into()]).unwrap();
    let a = s
        .get(&scope, "a.x/one", Some("1.0.0"))
        .await
        .unwrap()
        .unwrap();
    let b = s
        .get(&scope, "b.x/two", Some("1.0.0"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        a.updated_at,
        Utc.timestamp_opt(1_750_000_001, 0).unwrap(),
        "unchanged: kept"
    );
    assert_eq!(
        b.updated_at,
        Utc.timestamp_opt(1_750_000_050, 0).unwrap(),
        "changed: moved"
    );
    assert_eq!(
        b.published_at,
        Utc.timestamp_opt(1_750_000_001, 0).unwrap(),
        "first seen: kept"
    );
    assert!(a.is_latest);
    let since = s
        .list(&ListQuery {
            scope,
            updated_since: Some(Utc.timestamp_opt(1_750_000_010, 0).unwrap()),
            include_deleted: true,
            ..query()
        })
        .await
        .unwrap();
    assert_eq!(
        keys(&since),
        ["b.x/two@1.0.0"],
        "incremental readers see only the change"
    );
}

/// The first two migrations, as an older release applied them.
async fn first_schema(dir: &str) -> (tempfile::TempDir, sqlx::migrate::Migrator) {
    let old = tempfile::tempdir().unwrap();
    for f in ["0001_server_versions.sql", "0002_search_trigram.sql"] {
        std::fs::copy(
            format!("{}/../migrations/{dir}/{f}", env!("CARGO_MANIFEST_DIR")),
            old.path().join(f),
        )
        .unwrap();
    }
    let migrator = sqlx::migrate::Migrator::new(old.path()).await.unwrap();
    (old, migrator)
}

/// Rows written by an older release.
const OLD_ROWS: &str = "INSERT INTO server_versions (server_name, version, value, status, status_changed_at, \
     published_at, updated_at, is_latest, search_text) VALUES ('a.x/old', '1.0.0', \
     '{\"name\":\"a.x/old\",\"version\":\"1.0.0\",\"description\":\"d\",\"remotes\":[{\"type\":\"sse\",\"url\":\"https://old.example.com/sse\"}]}', \
     'active', 1, 1, 1, TRUE, 'a.x/old an older server'); \
     INSERT INTO server_remote_urls (url, server_name, version) VALUES ('https://old.example.com/sse', 'a.x/old', '1.0.0');";

/// After the upgrade every old row is in the `managed` source; search and remote-URL ownership still work, and
/// new writes go through.
async fn check_upgraded(s: Arc<dyn Store>) {
    assert_eq!(s.count().await.unwrap(), 1);
    let found = s
        .list(&ListQuery {
            search: Some("older".into()),
            ..query()
        })
        .await
        .unwrap();
    assert_eq!(keys(&found), ["a.x/old@1.0.0"]);
    assert!(found[0].is_latest);
    s.write(
        "a.x/new",
        write_fn(|tx: &mut dyn WriteTx| {
            async move {
                let owner = tx
                    .remote_url_owner("https://old.example.com/sse", "a.x/new")
                    .await?;
                assert_eq!(owner.as_deref(), Some("a.x/old"));
                tx.insert(&latest(row("a.x/new", "1.0.0", 5))).await?;
                Ok(vec![])
            }
            .boxed()
        }),
    )
    .await
    .unwrap();
    assert_eq!(s.count().await.unwrap(), 2);
}

#[tokio::test]
async fn upgrade_from_the_first_schema_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&url)
        .unwrap()
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let (_old, migrator) = first_schema("sqlite").await;
    migrator.run(&pool).await.unwrap();
    sqlx::raw_sql(OLD_ROWS).execute(&pool).await.unwrap();
    pool.close().await;
    check_upgraded(Arc::new(SqliteStore::open(&url, 2).await.unwrap())).await;
}

#[tokio::test]
async fn upgrade_from_the_first_schema_on_postgres() {
    let Some((admin, db)) = common::new_postgres_database("upgrade").await else {
        return;
    };
    let url = common::database_url(&admin, &db);
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let (_old, migrator) = first_schema("postgres").await;
    migrator.run(&pool).await.unwrap();
    sqlx::raw_sql(OLD_ROWS).execute(&pool).await.unwrap();
    pool.close().await;
    check_upgraded(Arc::new(
        PostgresStore::open(&url, &PoolSettings::new(2))
            .await
            .unwrap(),
    ))
    .await;
}

/// A SQLite file opened read-only (`mode=ro`) is read, and not changed: its write-ahead log is not folded into it
/// (the API's read connections open it through sqlx, which honours the mode); a write is answered as unavailable
/// (503), not as a failed statement (500).
#[tokio::test]
async fn a_read_only_sqlite_file_is_read_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ro.db");
    let url = format!("sqlite://{}", path.display());
    let s = SqliteStore::open(&url, 2).await.unwrap();
    s.insert_batch(&[row("io.ro/a", "1.0.0", 1)]).await.unwrap();
    // Keep the WAL as a crash would leave it: copy the files while the store is open.
    let copy = dir.path().join("copy.db");
    std::fs::copy(&path, &copy).unwrap();
    std::fs::copy(dir.path().join("ro.db-wal"), dir.path().join("copy.db-wal")).unwrap();
    drop(s);
    let before = std::fs::read(&copy).unwrap();

    let ro = SqliteStore::open(&format!("sqlite://{}?mode=ro", copy.display()), 2)
        .await
        .unwrap();
    let page = ro.list(&query()).await.unwrap();
    assert_eq!(page.len(), 1);
    let refused = ro.register_source("another", "file").await.unwrap_err();
    assert!(
        matches!(refused, thv_registry_api::store::StoreError::Unavailable(_)),
        "{refused:?}"
    );
    ro.pool().close().await;
    drop(ro);
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        before,
        "the read-only file changed"
    );
}

/// A SQLite file cut short under a running registry (a full disk, a bad copy) makes its reads fail as unavailable
/// (503), never as a failed statement (500): the fault is the storage's, not the request's.
#[tokio::test]
async fn a_truncated_sqlite_file_is_unavailable_not_a_failed_statement() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.db");
    let url = format!("sqlite://{}", path.display());
    let s = SqliteStore::open(&url, 2).await.unwrap();
    let rows: Vec<VersionRow> = (0..3_000)
        .map(|i| row(&format!("io.cut/server-{i:04}"), "1.0.0", i))
        .collect();
    s.insert_batch(&rows).await.unwrap();
    s.pool().close().await;
    drop(s);
    let s = SqliteStore::open(&url, 2).await.unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len / 3)
        .unwrap();
    let mut q = query();
    q.limit = 100;
    for name in [
        "io.cut/server-2999",
        "io.cut/server-1500",
        "io.cut/server-0001",
    ] {
        if let Err(e) = s.get(&Scope::managed(), name, Some("1.0.0")).await {
            assert!(
                matches!(e, thv_registry_api::store::StoreError::Unavailable(_)),
                "{name}: {e:?}"
            );
        }
    }
    let mut failed = 0;
    loop {
        match s.list(&q).await {
            Ok(page) if page.len() < 100 => break,
            Ok(page) => {
                let last = page.last().unwrap();
                q.cursor = Some(Cursor {
                    server_name: last.server_name.clone(),
                    version: Some(last.version.clone()),
                });
            }
            Err(e) => {
                assert!(
                    matches!(e, thv_registry_api::store::StoreError::Unavailable(_)),
                    "{e:?}"
                );
                failed += 1;
                break;
            }
        }
    }
    assert_eq!(
        failed, 1,
        "a walk over the cut file reaches the missing pages"
    );
}

/// Ends every connection to `db` but the caller's own (a server restart, as the pool sees it); at least two.
async fn terminate_connections(admin: &str, db: &str) {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(admin)
        .await
        .unwrap();
    let killed: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(db)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(killed.len() >= 2, "{killed:?}");
}

/// PostgreSQL closing every connection of the pool (a restart, a failover, `pg_terminate_backend`) costs no read:
/// each connection found dead is dropped and the read runs again on another, so the requests in flight and the
/// ones after are answered instead of failing once per pooled connection (503).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_survive_postgres_closing_every_pooled_connection() {
    let Some((admin, db)) = common::new_postgres_database("terminated").await else {
        return;
    };
    let s = Arc::new(
        PostgresStore::open(&common::database_url(&admin, &db), &PoolSettings::new(4))
            .await
            .unwrap(),
    );
    s.insert_batch(&[row("io.t/a", "1.0.0", 1)]).await.unwrap();
    let reads = |n: usize| {
        let s = s.clone();
        async move {
            let all = (0..n).map(|_| {
                let s = s.clone();
                async move {
                    let page = s.list(&query()).await.map(|p| p.len());
                    let one = s
                        .get(&Scope::managed(), "io.t/a", Some("1.0.0"))
                        .await
                        .map(|r| r.is_some());
                    (page, one)
                }
            });
            futures::future::join_all(all).await
        }
    };
    // Every pooled connection open and idle.
    reads(16).await;
    terminate_connections(&admin, &db).await;
    for (page, one) in reads(16).await {
        assert_eq!(page.unwrap(), 1);
        assert!(one.unwrap());
    }
    // The other reads too: the sources' records (`/v1/sources`), the count, the health check (each answered
    // 503 once per dead connection).
    reads(16).await;
    terminate_connections(&admin, &db).await;
    let others = (0..16).map(|_| {
        let s = s.clone();
        async move {
            (
                s.sources().await.map(|_| ()),
                s.count().await.map(|_| ()),
                s.ping().await,
            )
        }
    });
    for (sources, count, ping) in futures::future::join_all(others).await {
        sources.unwrap();
        count.unwrap();
        ping.unwrap();
    }
}

/// A SQLite file that cannot be opened is named in the error, with what to check.
#[tokio::test]
async fn a_sqlite_file_that_cannot_be_opened_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("plain-file");
    std::fs::write(&not_a_dir, "x").unwrap();
    let path = not_a_dir.join("registry.db");
    let Err(err) = SqliteStore::open(&format!("sqlite://{}", path.display()), 2).await else {
        panic!("a file under a plain file cannot be opened");
    };
    let err = err.to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("does its directory exist"), "{err}");
}

/// A replica's change listener that loses its connection, and cannot reconnect at once, tells the cache after it
/// listens again, not only when the connection failed: a write committed by another replica in between was never
/// announced to it, and its cache served the old answer until the TTL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_listener_that_reconnects_reports_after_it_listens_again() {
    let Some((admin, db)) = common::new_postgres_database("listener").await else {
        return;
    };
    let s = PostgresStore::open(&common::database_url(&admin, &db), &PoolSettings::new(2))
        .await
        .unwrap();
    // Microseconds since the epoch, as PostgreSQL's clock (the same machine's) gives them.
    let calls = Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
    let seen = calls.clone();
    s.watch_changes(Arc::new(move || {
        seen.lock().unwrap().push(Utc::now().timestamp_micros())
    }));
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .unwrap();
    let mut first = None;
    for _ in 0..100 {
        first = listening_backend(&mut conn, &db).await;
        if first.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (old_pid, _) = first.expect("the listener listens");
    // An outage: every connection closed, and new ones refused for a while (sqlx's own reconnect fails).
    for sql in [
        format!("ALTER DATABASE {db} WITH ALLOW_CONNECTIONS false"),
        format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"
        ),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {db} WITH ALLOW_CONNECTIONS true"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    let mut again = None;
    for _ in 0..200 {
        again = listening_backend(&mut conn, &db)
            .await
            .filter(|(pid, _)| *pid != old_pid);
        if again.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (_, started) = again.expect("the listener listens again");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let calls = calls.lock().unwrap();
    assert!(
        calls.iter().any(|t| *t >= started),
        "no change reported after the new LISTEN at {started}: {calls:?}"
    );
}

/// The backend listening for changes on database `db`: its pid and when its LISTEN ended (µs since the epoch).
async fn listening_backend(conn: &mut sqlx::PgConnection, db: &str) -> Option<(i32, i64)> {
    sqlx::query_as(
        "SELECT pid, (extract(epoch FROM state_change) * 1000000)::bigint FROM pg_stat_activity \
         WHERE datname = $1 AND query LIKE 'LISTEN%'",
    )
    .bind(db)
    .fetch_optional(conn)
    .await
    .unwrap()
}

/// What is in the way is named: a directory where the database file should be.
#[tokio::test]
async fn a_directory_in_place_of_the_sqlite_file_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let Err(err) = SqliteStore::open(&format!("sqlite://{}", dir.path().display()), 2).await else {
        panic!("a directory is no database file");
    };
    assert!(err.to_string().contains("(it is a directory)"), "{err}");
}
