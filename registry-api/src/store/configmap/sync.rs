//! One sync of a source on ConfigMaps ([`run`]): lock, read, run the body, write the next generation, commit.

use std::collections::BTreeMap;

use chrono::Utc;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, ListParams, PostParams};

use super::super::{
    SourceRecord, SourceStatus, StoreError, SyncAttempt, SyncFn, SyncOutcome, VersionRow, storable,
};
use super::objects::{
    KIND_ROWS, LABEL_KIND, LABEL_SOURCE, LABEL_STORE, RowsObject, source_label, synced_object,
};
use super::sources_doc::{
    LOCK_LEASE, LOCK_RENEWAL, LockRefusal, SourcesApi, holds_lock, take_lock,
};
use super::sync_tx::MemSyncTx;
use super::{ApiError, Inner, kube_error};

/// How many object writes or deletions a sync keeps in flight.
const PARALLEL: usize = 8;

/// A newly registered source's record.
pub fn pending_record(name: &str, kind: &str) -> SourceRecord {
    SourceRecord {
        name: name.to_owned(),
        kind: kind.to_owned(),
        status: SourceStatus::Pending,
        generation: 0,
        settings_hash: None,
        content_hash: None,
        watermark: None,
        last_attempt_at: None,
        last_success_at: None,
        last_full_sync_at: None,
        last_error: None,
        last_report: None,
        server_count: 0,
        version_count: 0,
    }
}

/// What a sync found of its source: the visible rows of each name, and the objects to delete once it is over
/// (those its commit supersedes, and leftovers: uncommitted objects of a sync that died, superseded ones whose
/// deletion did not happen).
struct Loaded {
    rows: BTreeMap<String, Vec<VersionRow>>,
    visible: BTreeMap<String, String>,
    leftovers: Vec<String>,
}

/// Reads the committed rows of `source` (generation `committed`) from the API server.
async fn load(inner: &Inner, source: &str, committed: i64) -> Result<Loaded, StoreError> {
    let selector = format!(
        "{LABEL_STORE}={},{LABEL_KIND}={KIND_ROWS},{LABEL_SOURCE}={}",
        inner.prefix,
        source_label(source)
    );
    let maps = inner
        .api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(kube_error)?;
    // Per name: the visible object's generation, name and rows.
    let mut best: BTreeMap<String, (i64, String, Vec<VersionRow>)> = BTreeMap::new();
    let mut leftovers = Vec::new();
    for map in maps.items {
        let object = RowsObject::decode(&map).map_err(super::unreadable)?;
        let name = map.metadata.name.clone().unwrap_or_default();
        if object.source != source {
            continue;
        }
        if object.generation > committed {
            leftovers.push(name);
            continue;
        }
        match best.get(&object.server_name) {
            Some((g, _, _)) if *g > object.generation => leftovers.push(name),
            _ => {
                let mut rows = object.rows;
                rows.sort_by(|a, b| a.version.cmp(&b.version));
                let previous = best.insert(object.server_name, (object.generation, name, rows));
                leftovers.extend(previous.map(|(_, n, _)| n));
            }
        }
    }
    let mut loaded = Loaded {
        rows: BTreeMap::new(),
        visible: BTreeMap::new(),
        leftovers,
    };
    for (server, (_, name, rows)) in best {
        if !rows.is_empty() {
            loaded.rows.insert(server.clone(), rows);
        }
        loaded.visible.insert(server, name);
    }
    Ok(loaded)
}

/// Deletes objects, best effort (what is left is deleted by the source's next sync).
async fn delete_all(inner: &Inner, names: Vec<String>) {
    futures::stream::iter(names)
        .for_each_concurrent(PARALLEL, |name| async move {
            if let Err(e) = inner.api.delete(&name, &DeleteParams::default()).await
                && ApiError::of(&e) != ApiError::NotFound
            {
                tracing::debug!(object = %name, error = %e, "could not delete a superseded object");
            }
        })
        .await;
}

/// Writes the changed names of a sync as objects of `generation`; the stored objects.
async fn write_generation(
    inner: &Inner,
    source: &str,
    generation: i64,
    changed: Vec<(String, Vec<VersionRow>)>,
) -> Result<Vec<ConfigMap>, StoreError> {
    let maps = changed
        .into_iter()
        .map(|(server_name, rows)| {
            let name = synced_object(&inner.prefix, source, &server_name, generation);
            let object = RowsObject {
                source: source.to_owned(),
                server_name,
                generation,
                seed: None,
                rows,
            };
            object.encode(&inner.prefix, &name)
        })
        .collect::<Result<Vec<_>, _>>()?;
    futures::stream::iter(maps)
        .map(|map| async move {
            match inner.api.create(&PostParams::default(), &map).await {
                Ok(stored) => Ok(stored),
                Err(e) if ApiError::of(&e) == ApiError::Conflict => {
                    // An uncommitted object of the same generation (a sync that died before its commit, whose
                    // leftovers were not all deleted): this sync's takes its place.
                    let name = map.metadata.name.clone().unwrap_or_default();
                    let mut map = map;
                    let old = inner.api.get(&name).await.map_err(kube_error)?;
                    map.metadata.resource_version = old.metadata.resource_version;
                    inner
                        .api
                        .replace(&name, &PostParams::default(), &map)
                        .await
                        .map_err(kube_error)
                }
                Err(e) => Err(kube_error(e)),
            }
        })
        .buffer_unordered(PARALLEL)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Renews `source`'s lock for this replica until aborted.
fn renew(sources: SourcesApi, source: String, holder: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(LOCK_RENEWAL).await;
            let renewed = sources
                .update(|doc| match doc.locks.get_mut(&source) {
                    Some(lock) if lock.holder == holder => {
                        lock.expires_at = Utc::now() + LOCK_LEASE;
                        Ok((true, true))
                    }
                    _ => Ok((false, false)),
                })
                .await;
            match renewed {
                Ok((true, _)) => {}
                Ok((false, _)) => return,
                Err(e) => {
                    tracing::warn!(source = %source, error = %e, "could not renew a sync's lock")
                }
            }
        }
    })
}

/// Records the sync's end in `source`'s record and releases its lock; `None` when the lock was lost.
async fn finish(
    inner: &Inner,
    source: &str,
    change: impl Fn(&mut SourceRecord) + Send,
) -> Result<Option<SourceRecord>, StoreError> {
    let (record, stored) = inner
        .sources
        .update(|doc| {
            if !holds_lock(doc, source, &inner.holder) {
                return Ok((None, false));
            }
            doc.locks.remove(source);
            let record = doc.records.get_mut(source).ok_or_else(|| {
                StoreError::Database(format!("sync source '{source}' disappeared"))
            })?;
            change(record);
            Ok((Some(record.clone()), true))
        })
        .await?;
    inner.note_stored(stored.as_ref());
    Ok(record)
}

fn lock_lost(source: &str) -> StoreError {
    StoreError::Conflict(format!(
        "the sync of '{source}' lost its lock (held past its lease without renewal); nothing was committed"
    ))
}

/// See [`super::super::Store::sync`].
pub async fn run(inner: &Inner, source: &str, body: SyncFn) -> Result<SyncAttempt, StoreError> {
    let (taken, stored) = inner
        .sources
        .update(|doc| {
            let taken = take_lock(doc, source, &inner.holder, Utc::now())?;
            let store = taken.is_ok();
            Ok((taken, store))
        })
        .await?;
    inner.note_stored(stored.as_ref());
    let record = match taken {
        Ok(record) => record,
        Err(LockRefusal::Busy) => return Ok(SyncAttempt::Busy),
        Err(LockRefusal::Unknown) => {
            return Err(StoreError::Database(format!(
                "sync source '{source}' is not registered"
            )));
        }
    };
    let renewal = renew(
        inner.sources.clone(),
        source.to_owned(),
        inner.holder.clone(),
    );
    let outcome = run_locked(inner, source, record, body).await;
    renewal.abort();
    match outcome {
        Ok(attempt) => Ok(attempt),
        Err(e) => {
            // Whatever went wrong, the lock is released (a failure to release passes with its lease).
            let _ = finish(inner, source, |_| {}).await;
            Err(e)
        }
    }
}

async fn run_locked(
    inner: &Inner,
    source: &str,
    record: SourceRecord,
    body: SyncFn,
) -> Result<SyncAttempt, StoreError> {
    let loaded = load(inner, source, record.generation).await?;
    delete_all(inner, loaded.leftovers.clone()).await;
    let generation = record.generation + 1;
    let mut tx = MemSyncTx::new(record, loaded.rows.clone());
    match body(&mut tx).await {
        Ok(Some(outcome)) => commit(inner, source, generation, tx, &loaded, outcome).await,
        Ok(None) => {
            finish(inner, source, |_| {}).await?;
            Ok(SyncAttempt::Skipped)
        }
        Err(message) => fail(inner, source, message).await,
    }
}

async fn fail(inner: &Inner, source: &str, message: String) -> Result<SyncAttempt, StoreError> {
    let at = Utc::now();
    let recorded = finish(inner, source, |r| {
        r.status = SourceStatus::Failed;
        r.last_error = Some(storable(&message).into_owned());
        r.last_attempt_at = Some(at);
    })
    .await?;
    match recorded {
        Some(_) => Ok(SyncAttempt::Failed(message)),
        None => Err(lock_lost(source)),
    }
}

async fn commit(
    inner: &Inner,
    source: &str,
    generation: i64,
    tx: MemSyncTx,
    loaded: &Loaded,
    outcome: SyncOutcome,
) -> Result<SyncAttempt, StoreError> {
    let changed = tx.changed();
    let (servers, versions) = tx.counts();
    let superseded: Vec<String> = changed
        .iter()
        .filter_map(|(name, _)| loaded.visible.get(name).cloned())
        .collect();
    let emptied: Vec<String> = changed
        .iter()
        .filter(|(_, rows)| rows.is_empty())
        .map(|(name, _)| synced_object(&inner.prefix, source, name, generation))
        .collect();
    let written = match write_generation(inner, source, generation, changed).await {
        Ok(written) => written,
        Err(e @ StoreError::TooLarge(_)) => return fail(inner, source, e.to_string()).await,
        Err(e) => return Err(e),
    };
    inner.note_stored(&written);
    let SyncOutcome {
        settings_hash,
        content_hash,
        watermark,
        full,
        report,
    } = outcome;
    let now = Utc::now();
    let committed = finish(inner, source, |r| {
        r.status = SourceStatus::Complete;
        r.generation = generation;
        r.settings_hash = Some(settings_hash.clone());
        r.content_hash = content_hash.clone();
        r.watermark = watermark;
        r.last_attempt_at = Some(now);
        r.last_success_at = Some(now);
        if full {
            r.last_full_sync_at = Some(now);
        }
        r.last_error = None;
        r.last_report = Some(report.clone());
        r.server_count = servers;
        r.version_count = versions;
    })
    .await?;
    let Some(record) = committed else {
        return Err(lock_lost(source));
    };
    // Readers see the new generation now: the objects it supersedes go, then the empty ones that stood for
    // names which left the source.
    delete_all(inner, superseded).await;
    delete_all(inner, emptied).await;
    Ok(SyncAttempt::Committed(Box::new(record)))
}
