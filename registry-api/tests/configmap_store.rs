//! The ConfigMap backend's own behaviour, on the test control plane (`scripts/start-kube-apiserver.sh`): what it
//! creates, its per-object limit, its locks when a replica dies, what a sync that died leaves behind, and a sync's
//! commit reaching another replica through the watch. (The store and API suites run against it as well.)

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::rows::{latest, outcome, replace, row};
use futures::FutureExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ListParams, PostParams};
use thv_registry_api::store::configmap::ConfigMapStore;
use thv_registry_api::store::configmap::objects::{
    LABEL_STORE, MAX_PAYLOAD_BYTES, RowsObject, sources_object, synced_object,
};
use thv_registry_api::store::configmap::sources_doc::{SeedLock, SourcesDoc, SyncLock};
use thv_registry_api::store::{
    PoolSettings, Scope, Store, StoreError, SyncAttempt, SyncTx, Timestamps, WriteTx, sync_fn,
    write_fn,
};

const PREFIX: &str = "registry";

struct Fixture {
    store: Arc<dyn Store>,
    url: String,
    api: kube::Api<ConfigMap>,
    namespace: thv_e2e::kube::TestNamespace,
}

impl Fixture {
    async fn new(tag: &str) -> Option<Self> {
        let (url, namespace) = common::new_configmap_store(tag).await?;
        let store = Self::open(&url).await;
        let api = kube::Api::namespaced(namespace.client.clone(), &namespace.name);
        Some(Self {
            store,
            url,
            api,
            namespace,
        })
    }

    async fn open(url: &str) -> Arc<dyn Store> {
        Arc::new(
            ConfigMapStore::open(url, &PoolSettings::new(8))
                .await
                .unwrap(),
        )
    }

    async fn objects(&self) -> Vec<ConfigMap> {
        let selector = format!("{LABEL_STORE}={PREFIX}");
        self.api
            .list(&ListParams::default().labels(&selector))
            .await
            .unwrap()
            .items
    }

    /// Changes the sources document behind the store's back (as another replica would).
    async fn edit_doc(&self, change: impl FnOnce(&mut SourcesDoc)) {
        let name = sources_object(PREFIX);
        let mut map = self.api.get(&name).await.unwrap();
        let mut doc = SourcesDoc::decode(&map).unwrap();
        change(&mut doc);
        map.data
            .get_or_insert_with(Default::default)
            .insert("sources.json".into(), serde_json::to_string(&doc).unwrap());
        self.api
            .replace(&name, &PostParams::default(), &map)
            .await
            .unwrap();
    }

    async fn end(self) {
        self.namespace.delete_and_wait(Duration::ZERO).await;
    }
}

/// Waits until `check` holds (the watch brings other replicas' changes within milliseconds).
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not within 5 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_store_is_created_on_first_start_one_object_per_name() {
    let Some(f) = Fixture::new("cm-layout").await else {
        return;
    };
    let objects = f.objects().await;
    assert_eq!(objects.len(), 1, "only the sources document at first");
    assert_eq!(
        objects[0].metadata.name.as_deref(),
        Some(sources_object(PREFIX).as_str())
    );
    let rows: Vec<_> = (0..40)
        .map(|i| latest(row(&format!("a.x/server-{i:02}"), "1.0.0", i)))
        .collect();
    f.store.insert_batch(&rows).await.unwrap();
    let objects = f.objects().await;
    assert_eq!(
        objects.len(),
        41,
        "one object per name, and the sources document"
    );
    for map in &objects {
        let size: usize = map
            .binary_data
            .iter()
            .flat_map(|d| d.values())
            .map(|b| b.0.len())
            .sum();
        assert!(size <= MAX_PAYLOAD_BYTES, "{size}");
    }
    // A second replica opening the same store finds it as it is.
    let again = Fixture::open(&f.url).await;
    assert_eq!(again.count().await.unwrap(), 40);
    f.end().await;
}

/// Rows of random text compress badly: 15 × 96 KiB is over the 900 KiB an object may hold.
fn bulky(name: &str, i: usize) -> thv_registry_api::store::VersionRow {
    let mut r = row(name, &format!("1.0.{i}"), i as i64);
    let mut noise = vec![0u8; 72 * 1024];
    getrandom::fill(&mut noise).unwrap();
    use base64::Engine;
    r.value = serde_json::json!({"name": name, "version": r.version,
        "description": base64::engine::general_purpose::STANDARD.encode(noise)})
    .to_string();
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_name_whose_versions_outgrow_one_object_is_refused_naming_the_limit() {
    let Some(f) = Fixture::new("cm-limit").await else {
        return;
    };
    let name = "a.x/bulky";
    let mut refused = None;
    for i in 0..20 {
        let r = bulky(name, i);
        let body = write_fn(move |tx: &mut dyn WriteTx| {
            let r = r.clone();
            async move {
                tx.insert(&r).await?;
                Ok(vec![])
            }
            .boxed()
        });
        if let Err(e) = f.store.write(name, body).await {
            refused = Some((i, e));
            break;
        }
    }
    let (stored, error) = refused.expect("refused before 20 versions");
    assert!(stored >= 9, "{stored} versions fit");
    let StoreError::TooLarge(message) = &error else {
        panic!("{error:?}")
    };
    assert!(
        message.contains(name) && message.contains("900 KiB"),
        "{message}"
    );
    // Nothing of the refused write was stored.
    let kept = f
        .store
        .versions(&Scope::managed(), name, true)
        .await
        .unwrap();
    assert_eq!(kept.len(), stored);
    f.end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_held_sync_lock_is_busy_and_an_expired_one_is_taken_over() {
    let Some(f) = Fixture::new("cm-lock").await else {
        return;
    };
    f.store.register_source("up", "api").await.unwrap();
    let held = |expires_at| SyncLock {
        holder: "a replica that died".into(),
        expires_at,
    };
    f.edit_doc(|doc| {
        doc.locks.insert(
            "up".into(),
            held(Utc::now() + chrono::Duration::seconds(60)),
        );
    })
    .await;
    let rows = vec![latest(row("b.x/two", "1.0.0", 1))];
    assert_eq!(
        replace(&f.store, "up", rows.clone()).await,
        SyncAttempt::Busy
    );
    f.edit_doc(|doc| {
        doc.locks
            .insert("up".into(), held(Utc::now() - chrono::Duration::seconds(1)));
    })
    .await;
    let SyncAttempt::Committed(record) = replace(&f.store, "up", rows).await else {
        panic!("the expired lock was not taken over")
    };
    assert_eq!(record.generation, 1);
    let doc = SourcesDoc::decode(&f.api.get(&sources_object(PREFIX)).await.unwrap()).unwrap();
    assert!(doc.locks.is_empty(), "released at the commit: {doc:?}");
    f.end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn what_a_sync_that_died_wrote_is_never_seen_and_is_removed_by_the_next() {
    let Some(f) = Fixture::new("cm-crash").await else {
        return;
    };
    f.store.register_source("up", "api").await.unwrap();
    replace(&f.store, "up", vec![latest(row("b.x/two", "1.0.0", 1))]).await;
    // A sync of generation 2 that wrote its objects and died before its commit.
    let orphan = RowsObject {
        source: "up".into(),
        server_name: "c.x/orphan".into(),
        generation: 2,
        seed: None,
        rows: vec![latest(row("c.x/orphan", "1.0.0", 1))],
    };
    let name = synced_object(PREFIX, "up", "c.x/orphan", 2);
    f.api
        .create(
            &PostParams::default(),
            &orphan.encode(PREFIX, &name).unwrap(),
        )
        .await
        .unwrap();
    let up = Scope::new(vec!["up".into()]).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(f.store.get(&up, "c.x/orphan", None).await.unwrap(), None);
    // The next sync (generation 2 again) removes it and commits only its own.
    let next = f
        .store
        .sync(
            "up",
            sync_fn(|tx: &mut dyn SyncTx| {
                async move {
                    tx.upsert(
                        &[latest(row("d.x/four", "1.0.0", 1))],
                        Timestamps::FromSource,
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                    Ok(Some(outcome(false)))
                }
                .boxed()
            }),
        )
        .await
        .unwrap();
    assert!(matches!(next, SyncAttempt::Committed(_)), "{next:?}");
    assert_eq!(f.store.get(&up, "c.x/orphan", None).await.unwrap(), None);
    assert!(f.store.get(&up, "d.x/four", None).await.unwrap().is_some());
    assert!(f.store.get(&up, "b.x/two", None).await.unwrap().is_some());
    let names: Vec<String> = f
        .objects()
        .await
        .iter()
        .filter_map(|m| m.metadata.name.clone())
        .collect();
    assert!(!names.contains(&name), "{names:?}");
    f.end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sync_committed_on_one_replica_reaches_the_other_whole() {
    let Some(f) = Fixture::new("cm-watch").await else {
        return;
    };
    let other = Fixture::open(&f.url).await;
    f.store.register_source("up", "api").await.unwrap();
    let rows: Vec<_> = (0..30)
        .map(|i| latest(row(&format!("b.x/s-{i:02}"), "1.0.0", i)))
        .collect();
    replace(&f.store, "up", rows).await;
    let up = Scope::new(vec!["up".into()]).unwrap();
    let query = |scope: Scope| thv_registry_api::store::ListQuery {
        scope,
        cursor: None,
        limit: 100,
        search: None,
        updated_since: None,
        version: thv_registry_api::store::VersionFilter::All,
        include_deleted: false,
    };
    eventually("the other replica sees the sync", async || {
        other.list(&query(up.clone())).await.unwrap().len() == 30
    })
    .await;
    // A second sync removes all but one: the other replica never shows a mix of the two.
    replace(&f.store, "up", vec![latest(row("b.x/s-00", "2.0.0", 99))]).await;
    eventually("the other replica sees the second sync", async || {
        let seen = other.list(&query(up.clone())).await.unwrap();
        assert!(seen.len() == 1 || seen.len() == 30, "{}", seen.len());
        seen.len() == 1 && seen[0].version == "2.0.0"
    })
    .await;
    f.end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_seed_that_died_is_replaced_by_the_next() {
    let Some(f) = Fixture::new("cm-seed").await else {
        return;
    };
    // A seed that wrote one object and died holding the seed lock.
    let dead = RowsObject {
        source: "managed".into(),
        server_name: "a.x/one".into(),
        generation: 0,
        seed: Some("dead".into()),
        rows: vec![latest(row("a.x/one", "0.0.1", 1))],
    };
    let name = thv_registry_api::store::configmap::objects::managed_object(PREFIX, "a.x/one");
    f.api
        .create(&PostParams::default(), &dead.encode(PREFIX, &name).unwrap())
        .await
        .unwrap();
    f.edit_doc(|doc| {
        doc.seeding = Some(SeedLock {
            holder: "a replica that died".into(),
            token: "dead".into(),
            expires_at: Utc::now() - chrono::Duration::seconds(1),
        });
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(f.store.count().await.unwrap(), 0, "its object is not seen");
    let rows = vec![
        latest(row("a.x/one", "1.0.0", 1)),
        latest(row("b.x/two", "1.0.0", 1)),
    ];
    assert_eq!(f.store.insert_batch(&rows).await.unwrap(), 2);
    assert_eq!(f.store.count().await.unwrap(), 2);
    let one = f
        .store
        .get(&Scope::managed(), "a.x/one", None)
        .await
        .unwrap();
    assert_eq!(one.unwrap().version, "1.0.0");
    f.end().await;
}

#[test]
fn credentials_in_a_configmap_url_are_not_shown() {
    let e = thv_registry_api::store::configmap::parse_url("configmap://user:s3cret@ns/reg")
        .unwrap_err()
        .to_string();
    assert!(!e.contains("s3cret") && !e.contains("user"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_url_claim_held_by_a_write_that_died_is_free_after_its_hold() {
    let Some(f) = Fixture::new("cm-claim").await else {
        return;
    };
    let url = "https://dead.example.com/mcp";
    let claim = |held_until: chrono::DateTime<Utc>| -> ConfigMap {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": thv_registry_api::store::configmap::objects::claim_object(PREFIX, url),
                         "labels": {LABEL_STORE: PREFIX, "registry.toolhive.stacklok.dev/kind": "claim"}},
            "data": {"owner": "a.x/died-mid-publish", "heldUntil": held_until.to_rfc3339()}
        }))
        .unwrap()
    };
    let claims: kube::Api<ConfigMap> = f.api.clone();
    let owner_seen = |s: Arc<dyn Store>| async move {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let body = write_fn(move |w: &mut dyn WriteTx| {
            let tx = tx.clone();
            async move {
                let owner = w.remote_url_owner(url, "b.x/new").await?;
                let _ = tx.send(owner).await;
                Err(StoreError::Conflict("roll back".into()))
            }
            .boxed()
        });
        let _ = s.write("b.x/new", body).await;
        rx.recv().await.unwrap()
    };
    // Held (the write may still be running): the URL is its name's.
    claims
        .create(
            &PostParams::default(),
            &claim(Utc::now() + chrono::Duration::seconds(30)),
        )
        .await
        .unwrap();
    assert_eq!(
        owner_seen(f.store.clone()).await.as_deref(),
        Some("a.x/died-mid-publish")
    );
    // The hold passed and that name stores nothing: free.
    let name = thv_registry_api::store::configmap::objects::claim_object(PREFIX, url);
    let mut expired = claims.get(&name).await.unwrap();
    expired.data = claim(Utc::now() - chrono::Duration::seconds(1)).data;
    claims
        .replace(&name, &PostParams::default(), &expired)
        .await
        .unwrap();
    assert_eq!(owner_seen(f.store.clone()).await, None);
    f.end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_object_garbled_by_hand_is_not_served_and_its_writes_name_it() {
    let Some(f) = Fixture::new("cm-garbled").await else {
        return;
    };
    f.store
        .insert_batch(&[
            latest(row("a.x/one", "1.0.0", 1)),
            latest(row("b.x/two", "1.0.0", 1)),
        ])
        .await
        .unwrap();
    let name = thv_registry_api::store::configmap::objects::managed_object(PREFIX, "a.x/one");
    let mut map = f.api.get(&name).await.unwrap();
    map.binary_data = Some(std::collections::BTreeMap::from([(
        "rows.json.gz".to_owned(),
        k8s_openapi::ByteString(b"garbage".to_vec()),
    )]));
    f.api
        .replace(&name, &PostParams::default(), &map)
        .await
        .unwrap();
    // Every replica answers alike: this one drops it, as one starting now would never load it.
    eventually("the garbled name not served", async || {
        f.store
            .get(&Scope::managed(), "a.x/one", None)
            .await
            .unwrap()
            .is_none()
    })
    .await;
    let fresh = Fixture::open(&f.url).await;
    assert!(
        fresh
            .get(&Scope::managed(), "a.x/one", None)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        fresh
            .get(&Scope::managed(), "b.x/two", None)
            .await
            .unwrap()
            .is_some()
    );
    let body = write_fn(|tx: &mut dyn WriteTx| {
        async move {
            tx.versions("a.x/one").await?;
            Ok(vec![])
        }
        .boxed()
    });
    let error = f.store.write("a.x/one", body).await.unwrap_err();
    let StoreError::Unavailable(message) = &error else {
        panic!("{error:?}")
    };
    assert!(
        message.contains(&name) && message.contains("restore or delete it"),
        "{message}"
    );
    f.end().await;
}
