//! The ConfigMap backend (`configmap://NAMESPACE/PREFIX`): the registry kept in ConfigMaps of one namespace
//! through the Kubernetes API, for clusters that want no database. Several replicas share it.
//!
//! - Objects (see `objects`): one per (source, server name), a sources document, a claim per remote URL.
//! - Reads are answered from memory ([`RowIndex`](super::RowIndex)), kept current by a watch on the store's
//!   objects (`watched`); a replica's own writes are applied at once, other replicas' as the watch brings them
//!   (and announced through [`Store::watch_changes`], which drops the read cache).
//! - A managed name's write is optimistic: it reads the name's object, runs its body, and stores the result under
//!   the object's resourceVersion; losing to a concurrent write of that name, it runs again (`write_tx`).
//! - A sync holds its source's lock in the sources document and commits by moving the source's generation
//!   there (`sync_tx`, `sync`).
//! - A seed writes its names marked with its token and commits by recording the token (`seed`).

pub mod objects;
mod seed;
pub mod sources_doc;
mod sync;
mod sync_tx;
mod watched;
mod write_tx;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::PostParams;

use super::{
    ChangeCallback, ListQuery, PoolSettings, RowBatches, Scope, SourceRecord, Store, StoreError,
    SyncAttempt, SyncFn, VersionRow, WriteFn,
};
use objects::{LABEL_SEED, RowsObject, managed_object};
use sources_doc::SourcesApi;
use write_tx::MemWriteTx;

pub use objects::MAX_PAYLOAD_BYTES;

/// How long opening waits for the API server: the sources document, then the watch's first listing.
const OPEN_TIMEOUT: Duration = Duration::from_secs(60);

/// What `configmap://NAMESPACE/PREFIX` names; see [`parse_url`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// `None`: the server's own namespace (its service account's, or the kubeconfig context's).
    pub namespace: Option<String>,
    pub prefix: String,
}

/// A `configmap://` URL that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error(
        "database URL '{0}': expected configmap://NAMESPACE/PREFIX (or configmap:///PREFIX for the server's own namespace)"
    )]
    Shape(String),
    #[error(
        "database URL '{url}': the namespace '{value}' is not a Kubernetes namespace name (lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)"
    )]
    Namespace { url: String, value: String },
    #[error(
        "database URL '{url}': the prefix '{value}' must be lower-case letters, digits and '-', start with a letter, end with a letter or digit, and be at most 40 characters (the store's object names start with it)"
    )]
    Prefix { url: String, value: String },
}

fn dns_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A URL as errors show it: credentials (`user:password@`) left out.
fn shown(url: &str) -> String {
    let Some(rest) = url.strip_prefix("configmap://") else {
        return url.to_owned();
    };
    let authority = rest.split('/').next().unwrap_or_default();
    match authority.rfind('@') {
        Some(at) => format!("configmap://…@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// Parses `configmap://NAMESPACE/PREFIX`; an empty namespace (`configmap:///PREFIX`) is the server's own.
pub fn parse_url(url: &str) -> Result<Location, UrlError> {
    let url = &shown(url);
    let rest = url
        .strip_prefix("configmap://")
        .ok_or_else(|| UrlError::Shape(url.to_owned()))?;
    let (namespace, prefix) = rest
        .split_once('/')
        .ok_or_else(|| UrlError::Shape(url.to_owned()))?;
    if !namespace.is_empty() && !dns_label(namespace, 63) {
        return Err(UrlError::Namespace {
            url: url.to_owned(),
            value: namespace.to_owned(),
        });
    }
    if !dns_label(prefix, 40) || !prefix.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(UrlError::Prefix {
            url: url.to_owned(),
            value: prefix.to_owned(),
        });
    }
    Ok(Location {
        namespace: (!namespace.is_empty()).then(|| namespace.to_owned()),
        prefix: prefix.to_owned(),
    })
}

/// How an API call failed, as far as the store's logic cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiError {
    /// 409: a resourceVersion precondition failed, or the object already exists.
    Conflict,
    NotFound,
    Other,
}

impl ApiError {
    pub fn of(e: &kube::Error) -> Self {
        match e {
            kube::Error::Api(s) if s.code == 409 => Self::Conflict,
            kube::Error::Api(s) if s.code == 404 => Self::NotFound,
            _ => Self::Other,
        }
    }
}

/// A failed API call as a store error: the API server unreachable, refusing the credentials or overloaded is
/// unavailable storage (503); a conflict is a conflict; an object too large, too large.
pub fn kube_error(e: kube::Error) -> StoreError {
    let message = format!("Kubernetes API: {}", crate::kubernetes::message(&e));
    match &e {
        kube::Error::Api(s) if s.code == 409 => StoreError::Conflict(message),
        kube::Error::Api(s) if s.code == 422 && s.message.contains("Too long") => {
            StoreError::TooLarge(message)
        }
        kube::Error::Api(s) if matches!(s.code, 401 | 403 | 429) || s.code >= 500 => {
            StoreError::Unavailable(message)
        }
        kube::Error::Api(_) => StoreError::Database(message),
        _ => StoreError::Unavailable(message),
    }
}

/// How long to wait before trying again after losing to a concurrent update: growing from about 2 ms to about
/// 200 ms, jittered so that the writers who lost together do not collide again.
pub fn conflict_backoff(attempt: u32) -> Duration {
    let base = 2u64 << attempt.min(7);
    let jitter = u64::from(getrandom::u32().unwrap_or(0) % 1000);
    Duration::from_micros(base * (500 + jitter))
}

/// An object of the store that does not decode: the storage cannot serve that name until it is fixed or deleted
/// (503 naming it, rather than a 500 that hides why).
pub fn unreadable(e: StoreError) -> StoreError {
    StoreError::Unavailable(format!(
        "{e}; the object was changed outside the registry: restore or delete it"
    ))
}

/// The Role the README gives: what the storage does with ConfigMaps.
const NEEDED_VERBS: [&str; 6] = ["get", "list", "watch", "create", "update", "delete"];

/// Asks the API server (SelfSubjectAccessReview) whether these credentials may do everything the storage does
/// with ConfigMaps in `namespace`, and refuses to open naming what is missing: without `watch`, say, a replica
/// would serve and never see the others' writes. An API server that does not answer the review is not a refusal.
async fn check_permissions(client: &kube::Client, namespace: &str) -> Result<(), StoreError> {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    };
    let reviews: kube::Api<SelfSubjectAccessReview> = kube::Api::all(client.clone());
    let mut missing = Vec::new();
    for verb in NEEDED_VERBS {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(namespace.to_owned()),
                    verb: Some(verb.to_owned()),
                    resource: Some("configmaps".to_owned()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        match reviews.create(&PostParams::default(), &review).await {
            Ok(answer) if answer.status.as_ref().is_some_and(|s| s.allowed) => {}
            Ok(_) => missing.push(verb),
            Err(e) => {
                tracing::debug!(error = %e, "no access review; the storage's permissions are not checked");
                return Ok(());
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(StoreError::Unavailable(format!(
        "these credentials may not {} configmaps in namespace {namespace}; the ConfigMap storage needs {} \
         (the Role in the README grants them)",
        missing.join(", "),
        NEEDED_VERBS.join(", ")
    )))
}

/// A random token (hex).
fn token() -> String {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).expect("the OS random source");
    hex::encode(bytes)
}

/// The state and API handles every part of the store shares.
pub struct Inner {
    pub api: kube::Api<ConfigMap>,
    pub prefix: String,
    pub sources: SourcesApi,
    pub state: watched::Shared,
    callbacks: Arc<Mutex<Vec<ChangeCallback>>>,
    /// See [`PoolSettings::write_timeout`]; also how long a write holds a remote URL's claim.
    pub write_timeout: Duration,
    /// This replica, as a sync lock's holder.
    pub holder: String,
}

impl Inner {
    /// A managed name's object, read from the API server, and its rows (none while it belongs to a seed that
    /// is not committed).
    pub async fn fetch_managed(
        &self,
        server_name: &str,
    ) -> Result<(Option<ConfigMap>, Vec<VersionRow>), StoreError> {
        let name = managed_object(&self.prefix, server_name);
        let Some(map) = self.api.get_opt(&name).await.map_err(kube_error)? else {
            return Ok((None, Vec::new()));
        };
        let object = RowsObject::decode(&map).map_err(unreadable)?;
        if let Some(seed) = &object.seed {
            let seen = self
                .state
                .read()
                .expect("state lock")
                .doc()
                .seed_committed(seed);
            if !seen && !self.sources.read().await?.seed_committed(seed) {
                return Ok((Some(map), Vec::new()));
            }
        }
        let mut rows = object.rows;
        rows.sort_by(|a, b| a.version.cmp(&b.version));
        Ok((Some(map), rows))
    }

    /// Applies objects this replica stored to its state at once (the watch brings them later).
    pub fn note_stored<'a>(&self, maps: impl IntoIterator<Item = &'a ConfigMap>) {
        let mut state = self.state.write().expect("state lock");
        for map in maps {
            state.apply(map);
        }
    }

    /// One attempt of a managed write; `None` when it lost to a concurrent write of the name.
    async fn write_attempt(
        &self,
        server_name: &str,
        body: &WriteFn,
    ) -> Result<Option<Vec<VersionRow>>, StoreError> {
        let (object, rows) = self.fetch_managed(server_name).await?;
        let mut tx = MemWriteTx::new(self, server_name, rows);
        let outcome = match body(&mut tx).await {
            Ok(written) if !tx.changed => Ok(Some(written)),
            Ok(written) => self.store_managed(&tx, object).await.map(|stored| {
                stored.map(|map| {
                    self.note_stored([&map]);
                    written
                })
            }),
            Err(e) => Err(e),
        };
        tx.release_claims().await;
        outcome
    }

    /// Stores a write's rows under the precondition of the object it read; `None` on a conflict.
    async fn store_managed(
        &self,
        tx: &MemWriteTx<'_>,
        read: Option<ConfigMap>,
    ) -> Result<Option<ConfigMap>, StoreError> {
        let name = managed_object(&self.prefix, &tx.server_name);
        let mut map = tx.object().encode(&self.prefix, &name)?;
        let stored = match read {
            Some(read) => {
                map.metadata.resource_version = read.metadata.resource_version;
                self.api.replace(&name, &PostParams::default(), &map).await
            }
            None => self.api.create(&PostParams::default(), &map).await,
        };
        match stored {
            Ok(map) => Ok(Some(map)),
            Err(e) if ApiError::of(&e) == ApiError::Conflict => Ok(None),
            Err(e) => Err(kube_error(e)),
        }
    }
}

/// See the module documentation.
pub struct ConfigMapStore {
    inner: Arc<Inner>,
    watch: tokio::task::JoinHandle<()>,
}

impl Drop for ConfigMapStore {
    fn drop(&mut self) {
        self.watch.abort();
    }
}

impl ConfigMapStore {
    /// Connects with the credentials `kube` infers, creates the store's sources document when it is new, and
    /// waits until the watch has listed every object of the store.
    pub async fn open(url: &str, pool: &PoolSettings) -> Result<Self, StoreError> {
        let location = parse_url(url).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let opening = async {
            let client = crate::kubernetes::client().await.map_err(|e| {
                StoreError::Unavailable(format!("no Kubernetes API for the ConfigMap storage {e}"))
            })?;
            let namespace = location
                .namespace
                .clone()
                .unwrap_or_else(|| client.default_namespace().to_owned());
            let api: kube::Api<ConfigMap> = kube::Api::namespaced(client, &namespace);
            let sources = SourcesApi {
                api: api.clone(),
                prefix: location.prefix.clone(),
            };
            sources.ensure().await?;
            check_permissions(&api.clone().into_client(), &namespace).await?;
            tracing::info!(namespace = %namespace, prefix = %location.prefix, "ConfigMap storage");
            let inner = Arc::new(Inner {
                api: api.clone(),
                prefix: location.prefix.clone(),
                sources,
                state: Default::default(),
                callbacks: Default::default(),
                write_timeout: pool.write_timeout,
                holder: token(),
            });
            let (ready, mut listed) = tokio::sync::watch::channel(None);
            let watch = tokio::spawn(watched::watch(
                api,
                location.prefix.clone(),
                inner.state.clone(),
                inner.callbacks.clone(),
                ready,
            ));
            let store = Self { inner, watch };
            let started = listed
                .wait_for(Option::is_some)
                .await
                .map(|r| r.clone())
                .map_err(|_| {
                    StoreError::Unavailable("the watch on the ConfigMap storage ended".into())
                })?;
            match started {
                Some(Err(e)) => Err(StoreError::Unavailable(format!(
                    "watching the ConfigMaps of the storage in namespace {namespace}: {e}"
                ))),
                _ => Ok(store),
            }
        };
        tokio::time::timeout(OPEN_TIMEOUT, opening)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(format!(
                    "the Kubernetes API did not answer within {OPEN_TIMEOUT:?} (ConfigMap storage {url})"
                )))
            })
    }
}

#[async_trait]
impl Store for ConfigMapStore {
    fn backend(&self) -> &'static str {
        "configmap"
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<VersionRow>, StoreError> {
        Ok(self
            .inner
            .state
            .read()
            .expect("state lock")
            .index
            .list(query))
    }

    async fn versions(
        &self,
        scope: &Scope,
        server_name: &str,
        include_deleted: bool,
    ) -> Result<Vec<VersionRow>, StoreError> {
        let state = self.inner.state.read().expect("state lock");
        Ok(state.index.versions(scope, server_name, include_deleted))
    }

    async fn get(
        &self,
        scope: &Scope,
        server_name: &str,
        version: Option<&str>,
    ) -> Result<Option<VersionRow>, StoreError> {
        let state = self.inner.state.read().expect("state lock");
        Ok(state.index.get(scope, server_name, version))
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Ok(self.inner.state.read().expect("state lock").index.count())
    }

    async fn write(&self, server_name: &str, body: WriteFn) -> Result<Vec<VersionRow>, StoreError> {
        let limit = self.inner.write_timeout;
        let attempts = async {
            let mut attempt = 0u32;
            loop {
                if let Some(written) = self.inner.write_attempt(server_name, &body).await? {
                    return Ok(written);
                }
                tokio::time::sleep(conflict_backoff(attempt)).await;
                attempt += 1;
            }
        };
        tokio::time::timeout(limit, attempts)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(format!(
                    "the Kubernetes API did not complete a write within {limit:?}; it may or may not \
                     have been stored"
                )))
            })
    }

    async fn insert_batches(&self, batches: &mut RowBatches) -> Result<u64, StoreError> {
        seed::insert_batches(&self.inner, batches).await
    }

    async fn register_source(&self, name: &str, kind: &str) -> Result<(), StoreError> {
        let (_, stored) = self
            .inner
            .sources
            .update(|doc| {
                let changed = match doc.records.get_mut(name) {
                    Some(record) if record.kind == kind => false,
                    Some(record) => {
                        record.kind = kind.to_owned();
                        true
                    }
                    None => {
                        let record = sync::pending_record(name, kind);
                        doc.records.insert(name.to_owned(), record);
                        true
                    }
                };
                Ok(((), changed))
            })
            .await?;
        self.inner.note_stored(stored.as_ref());
        Ok(())
    }

    async fn sources(&self) -> Result<Vec<SourceRecord>, StoreError> {
        let doc = self.inner.sources.read().await?;
        Ok(doc.records.into_values().collect())
    }

    async fn sync(&self, source: &str, body: SyncFn) -> Result<SyncAttempt, StoreError> {
        sync::run(&self.inner, source, body).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.sources.read().await.map(drop)
    }

    fn watch_changes(&self, on_change: ChangeCallback) {
        self.inner
            .callbacks
            .lock()
            .expect("callbacks lock")
            .push(on_change);
    }
}

/// Whether a managed object belongs to a seed (its label), for the seed's own checks.
fn seed_of(map: &ConfigMap) -> Option<&str> {
    map.metadata
        .labels
        .as_ref()?
        .get(LABEL_SEED)
        .map(String::as_str)
}
