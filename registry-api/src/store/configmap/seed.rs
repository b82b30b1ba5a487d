//! Seeding and imports on ConfigMaps ([`super::super::Store::insert_batches`]): every row is gathered first (a
//! failing batch leaves nothing behind); the seed takes the store's seed lock (one seed at a time, across
//! replicas), writes each name as an object marked with its token, and commits by recording the token in the
//! sources document, which makes all of them visible at once.
//!
//! A replica whose seed finds another running waits for it: committed, its own seed conflicts (the store is
//! seeded: `thv_registry_api::start` then serves it); failed or abandoned (its lock expired), it seeds in its
//! place, replacing the objects the other left, which nobody saw.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, PostParams};

use super::super::{MANAGED_SOURCE, RowBatches, StoreError, VersionRow};
use super::objects::{RowsObject, managed_object};
use super::sources_doc::{LOCK_LEASE, LOCK_RENEWAL, SeedLock, SourcesApi};
use super::{ApiError, Inner, kube_error, seed_of, token};

/// How many objects a seed writes at once.
const PARALLEL: usize = 8;
/// How often a seed waiting for another one looks again.
const WAIT_POLL: Duration = Duration::from_millis(250);

/// See the module documentation.
pub async fn insert_batches(inner: &Inner, batches: &mut RowBatches) -> Result<u64, StoreError> {
    let (names, inserted) = gather(batches).await?;
    if names.is_empty() {
        return Ok(0);
    }
    let seed = token();
    let committed = lock(inner, &seed).await?;
    let renewal = renew(inner.sources.clone(), inner.holder.clone());
    let written = write_all(inner, &seed, names, &committed).await;
    renewal.abort();
    if let Err(e) = written {
        let _ = release(inner, None).await;
        return Err(e);
    }
    if !release(inner, Some(&seed)).await? {
        return Err(StoreError::Conflict(
            "the seed lost its lock (held past its lease without renewal); nothing was committed"
                .into(),
        ));
    }
    Ok(inserted)
}

/// Every row, by name and version; a version given twice is a conflict (as the SQL backends' primary key).
async fn gather(
    batches: &mut RowBatches,
) -> Result<(BTreeMap<String, BTreeMap<String, VersionRow>>, u64), StoreError> {
    let mut names: BTreeMap<String, BTreeMap<String, VersionRow>> = BTreeMap::new();
    let mut inserted = 0u64;
    while let Some(batch) = batches.recv().await {
        for row in batch? {
            let versions = names.entry(row.server_name.clone()).or_default();
            if versions.contains_key(&row.version) {
                return Err(StoreError::Conflict(format!(
                    "{}@{} is in the seed twice",
                    row.server_name, row.version
                )));
            }
            versions.insert(row.version.clone(), row);
            inserted += 1;
        }
    }
    Ok((names, inserted))
}

/// Takes the seed lock for `seed`, waiting while another replica's seed runs; the seeds committed by then.
/// A seed that commits meanwhile makes this one a conflict.
async fn lock(inner: &Inner, seed: &str) -> Result<Vec<String>, StoreError> {
    loop {
        let (outcome, stored) = inner
            .sources
            .update(|doc| {
                let now = Utc::now();
                match &doc.seeding {
                    Some(other) if other.holder != inner.holder && other.expires_at > now => {
                        Ok((Err(other.token.clone()), false))
                    }
                    _ => {
                        doc.seeding = Some(SeedLock {
                            holder: inner.holder.clone(),
                            token: seed.to_owned(),
                            expires_at: now + LOCK_LEASE,
                        });
                        Ok((Ok(doc.seeds.clone()), true))
                    }
                }
            })
            .await?;
        inner.note_stored(stored.as_ref());
        let running = match outcome {
            Ok(committed) => return Ok(committed),
            Err(running) => running,
        };
        tokio::time::sleep(WAIT_POLL).await;
        let doc = inner.sources.read().await?;
        if doc.seed_committed(&running) {
            wait_until_seen(inner, &running).await;
            return Err(StoreError::Conflict(
                "another replica seeded the store meanwhile".into(),
            ));
        }
    }
}

/// Waits (a little) until this replica's watch has brought seed `token`'s commit, so that its reads show it.
async fn wait_until_seen(inner: &Inner, token: &str) {
    for _ in 0..200 {
        if inner
            .state
            .read()
            .expect("state lock")
            .doc()
            .seed_committed(token)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Renews this replica's seed lock until aborted.
fn renew(sources: SourcesApi, holder: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(LOCK_RENEWAL).await;
            let renewed = sources
                .update(|doc| match doc.seeding.as_mut() {
                    Some(lock) if lock.holder == holder => {
                        lock.expires_at = Utc::now() + LOCK_LEASE;
                        Ok((true, true))
                    }
                    _ => Ok((false, false)),
                })
                .await;
            if let Ok((false, _)) = renewed {
                return;
            }
        }
    })
}

/// Releases this replica's seed lock, committing `seed` if given; whether the lock was still held (`Err` only
/// when committing).
async fn release(inner: &Inner, commit: Option<&str>) -> Result<bool, StoreError> {
    let released = inner
        .sources
        .update(|doc| {
            if doc
                .seeding
                .as_ref()
                .is_none_or(|l| l.holder != inner.holder)
            {
                return Ok((false, false));
            }
            doc.seeding = None;
            if let Some(seed) = commit {
                doc.seeds.push(seed.to_owned());
            }
            Ok((true, true))
        })
        .await;
    match released {
        Ok((held, stored)) => {
            inner.note_stored(stored.as_ref());
            Ok(held)
        }
        Err(e) if commit.is_some() => Err(e),
        // Not committing: a lock left behind passes with its lease.
        Err(_) => Ok(false),
    }
}

/// Writes every name's object, each encoded when its turn comes and known to this replica as soon as it is stored
/// (unseen until the commit), so that the seed never holds its rows twice; on a failure, removes what it wrote
/// (nobody saw it) and fails.
async fn write_all(
    inner: &Inner,
    seed: &str,
    names: BTreeMap<String, BTreeMap<String, VersionRow>>,
    committed: &[String],
) -> Result<(), StoreError> {
    let written = std::sync::Mutex::new(Vec::new());
    let results: Vec<Result<(), StoreError>> = futures::stream::iter(names)
        .map(|(server_name, versions)| {
            let written = &written;
            async move {
                let name = managed_object(&inner.prefix, &server_name);
                let map = RowsObject {
                    source: MANAGED_SOURCE.to_owned(),
                    server_name,
                    generation: 0,
                    seed: Some(seed.to_owned()),
                    rows: versions.into_values().collect(),
                }
                .encode(&inner.prefix, &name)?;
                let stored = write_one(inner, map, committed).await?;
                inner.note_stored([&stored]);
                written.lock().expect("written").push(name);
                Ok(())
            }
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
        let written = written.into_inner().expect("written");
        futures::stream::iter(written)
            .for_each_concurrent(PARALLEL, |name| async move {
                let _ = inner.api.delete(&name, &DeleteParams::default()).await;
            })
            .await;
        return Err(e);
    }
    Ok(())
}

/// Creates one name's object. An object of a seed that was never committed (one that failed or was abandoned:
/// this seed holds the lock) is replaced; any other means the name is stored already: a conflict.
async fn write_one(
    inner: &Inner,
    map: ConfigMap,
    committed: &[String],
) -> Result<ConfigMap, StoreError> {
    let name = map.metadata.name.clone().unwrap_or_default();
    match inner.api.create(&PostParams::default(), &map).await {
        Ok(stored) => return Ok(stored),
        Err(e) if ApiError::of(&e) == ApiError::Conflict => {}
        Err(e) => return Err(kube_error(e)),
    }
    let existing = inner.api.get(&name).await.map_err(kube_error)?;
    let abandoned = seed_of(&existing).is_some_and(|s| !committed.iter().any(|c| c == s));
    if !abandoned {
        let object = RowsObject::decode(&existing)?;
        return Err(StoreError::Conflict(format!(
            "server {} is already stored",
            object.server_name
        )));
    }
    let mut map = map;
    map.metadata.resource_version = existing.metadata.resource_version;
    inner
        .api
        .replace(&name, &PostParams::default(), &map)
        .await
        .map_err(kube_error)
}
