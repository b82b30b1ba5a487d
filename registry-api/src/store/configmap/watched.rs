//! What a replica knows of the store's objects, kept by a watch on them: the rows every read is answered from
//! ([`RowIndex`]), and which object of each (source, server name) readers see.
//!
//! Visibility: a managed name's object is visible unless a seed wrote it and that seed is not committed yet; a
//! synced source's name shows the object of the highest generation at or below the source's committed generation
//! (a sync writes the names it changed at the next generation, and commits by recording it). The rows of the
//! visible object live in the index; those of the others (a running sync's, a superseded one awaiting deletion)
//! are held beside it until they become visible or are deleted.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::watcher;
use kube::runtime::{WatchStreamExt, watcher::Event};

use super::super::{ChangeCallback, MANAGED_SOURCE, RowIndex, VersionRow};
use super::objects::{KIND_ROWS, KIND_SOURCES, LABEL_STORE, RowsObject, kind_of, revision};
use super::sources_doc::SourcesDoc;

/// (source, server name).
type Key = (String, String);

/// One rows object as known.
#[derive(Debug)]
struct Entry {
    key: Key,
    generation: i64,
    seed: Option<String>,
    revision: Option<u64>,
    /// Its rows while it is not the visible object of its key (those of the visible one are in the index).
    held: Option<Vec<VersionRow>>,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct Watched {
    entries: HashMap<String, Entry>,
    /// The objects of each key, by generation.
    by_key: HashMap<Key, BTreeMap<i64, String>>,
    /// The visible object of each key.
    visible: HashMap<Key, String>,
    doc: SourcesDoc,
    doc_revision: Option<u64>,
    pub index: RowIndex,
}

impl Watched {
    pub fn doc(&self) -> &SourcesDoc {
        &self.doc
    }

    /// Applies an added or changed object of the store (a replica's own write, or the watch's news of one).
    /// An object older than what is known of it is ignored.
    pub fn apply(&mut self, map: &ConfigMap) {
        match kind_of(map) {
            Some(KIND_ROWS) => self.apply_rows(map),
            Some(KIND_SOURCES) => self.apply_doc(map),
            _ => {}
        }
    }

    /// Forgets a deleted object.
    pub fn delete(&mut self, map: &ConfigMap) {
        let Some(name) = map.metadata.name.as_deref() else {
            return;
        };
        if kind_of(map) != Some(KIND_ROWS) {
            return;
        }
        let Some(entry) = self.entries.remove(name) else {
            return;
        };
        if let Some(gens) = self.by_key.get_mut(&entry.key) {
            gens.remove(&entry.generation);
            if gens.is_empty() {
                self.by_key.remove(&entry.key);
            }
        }
        if self.visible.get(&entry.key).is_some_and(|v| v == name) {
            self.visible.remove(&entry.key);
            self.index.set_name(&entry.key.0, &entry.key.1, Vec::new());
        }
        self.refresh(&entry.key);
    }

    fn apply_rows(&mut self, map: &ConfigMap) {
        let Some(name) = map.metadata.name.clone() else {
            return;
        };
        let rev = revision(map);
        if let (Some(known), Some(new)) = (self.entries.get(&name).and_then(|e| e.revision), rev)
            && known >= new
        {
            return;
        }
        let object = match RowsObject::decode(map) {
            Ok(o) => o,
            Err(e) => {
                // As a replica starting now would: the object is not there (a write of its name is refused
                // until it is fixed or deleted).
                tracing::warn!(object = %name, error = %e, "a ConfigMap of the store does not decode; its rows are not served");
                self.delete(map);
                return;
            }
        };
        let key = (object.source, object.server_name);
        self.by_key
            .entry(key.clone())
            .or_default()
            .insert(object.generation, name.clone());
        self.entries.insert(
            name.clone(),
            Entry {
                key: key.clone(),
                generation: object.generation,
                seed: object.seed,
                revision: rev,
                held: Some(object.rows),
            },
        );
        if self.visible.get(&key) == Some(&name) {
            // The index holds its previous rows: replaced below.
            self.visible.remove(&key);
        }
        self.refresh(&key);
    }

    fn apply_doc(&mut self, map: &ConfigMap) {
        let rev = revision(map);
        if let (Some(known), Some(new)) = (self.doc_revision, rev)
            && known >= new
        {
            return;
        }
        let doc = match SourcesDoc::decode(map) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring a sources document that does not decode");
                return;
            }
        };
        let seeds_moved = doc.seeds != self.doc.seeds;
        let moved: Vec<&String> = doc
            .records
            .keys()
            .chain(self.doc.records.keys())
            .filter(|s| doc.committed(s) != self.doc.committed(s))
            .collect();
        let stale: Vec<Key> = self
            .by_key
            .keys()
            .filter(|(source, _)| {
                moved.contains(&source) || (seeds_moved && source == MANAGED_SOURCE)
            })
            .cloned()
            .collect();
        self.doc = doc;
        self.doc_revision = rev;
        for key in stale {
            self.refresh(&key);
        }
    }

    /// The object readers of `key` see now.
    fn choose(&self, key: &Key) -> Option<String> {
        let gens = self.by_key.get(key)?;
        let committed = if key.0 == MANAGED_SOURCE {
            i64::MAX
        } else {
            self.doc.committed(&key.0)
        };
        gens.range(..=committed)
            .rev()
            .map(|(_, name)| name)
            .find(|name| {
                self.entries[name.as_str()]
                    .seed
                    .as_deref()
                    .is_none_or(|s| self.doc.seed_committed(s))
            })
            .cloned()
    }

    /// Moves `key`'s rows in the index to the object readers should see now.
    fn refresh(&mut self, key: &Key) {
        let chosen = self.choose(key);
        if self.visible.get(key) == chosen.as_ref() {
            return;
        }
        if let Some(old) = self.visible.remove(key)
            && let Some(entry) = self.entries.get_mut(&old)
            && entry.held.is_none()
        {
            entry.held = Some(self.index.rows_of(&key.0, &key.1));
        }
        let rows = chosen
            .as_ref()
            .and_then(|name| self.entries.get_mut(name))
            .and_then(|e| e.held.take())
            .unwrap_or_default();
        self.index.set_name(&key.0, &key.1, rows);
        if let Some(name) = chosen {
            self.visible.insert(key.clone(), name);
        }
    }
}

/// The store's state, shared by its reads and its watch.
pub type Shared = Arc<std::sync::RwLock<Watched>>;

/// How the watch's start went: `None` until its first listing is in or it fails.
pub type Readiness = Option<Result<(), Arc<watcher::Error>>>;

/// Keeps `state` current from a watch on the store's objects; `ready` says when the first listing is in, or
/// why the watch failed before it (afterwards, failures are logged and the watch retried with a backoff).
/// Runs until the store is dropped (the task is aborted).
pub async fn watch(
    api: kube::Api<ConfigMap>,
    prefix: String,
    state: Shared,
    callbacks: Arc<std::sync::Mutex<Vec<ChangeCallback>>>,
    ready: tokio::sync::watch::Sender<Readiness>,
) {
    let config = watcher::Config::default().labels(&format!("{LABEL_STORE}={prefix}"));
    let mut events = watcher(api, config).default_backoff().boxed();
    // A relisting (the first, or after the watch fell behind) is built aside and swapped in whole.
    let mut relisting: Option<Watched> = None;
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                if ready.borrow().is_none() {
                    ready.send_replace(Some(Err(Arc::new(e))));
                    return;
                }
                tracing::warn!(error = %e, "the watch on the ConfigMap store failed; retrying");
                continue;
            }
        };
        {
            let mut current = state.write().expect("state lock");
            match &event {
                Event::Init => relisting = Some(Watched::default()),
                Event::InitApply(map) => match relisting.as_mut() {
                    Some(r) => r.apply(map),
                    None => current.apply(map),
                },
                Event::InitDone => {
                    if let Some(r) = relisting.take() {
                        *current = r;
                    }
                }
                Event::Apply(map) => current.apply(map),
                Event::Delete(map) => current.delete(map),
            }
        }
        if matches!(event, Event::InitDone) {
            ready.send_replace(Some(Ok(())));
        }
        if !matches!(event, Event::Init | Event::InitApply(_)) {
            let callbacks = callbacks.lock().expect("callbacks lock").clone();
            for cb in callbacks {
                cb();
            }
        }
    }
}
