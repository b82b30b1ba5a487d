//! The `kubernetes` source: ToolHive's `MCPServer`, `VirtualMCPServer` and `MCPRemoteProxy` resources
//! (`toolhive.stacklok.dev/v1beta1`) of some namespaces, those annotated for export served as entries
//! ([`thv_core::cluster_entry`]).
//!
//! A sync lists the three kinds (page by page) and makes the source's content of what they publish: a server
//! list, so it is stored like a file source's — replaced whole when it changed, unchanged otherwise. Resources
//! that ask to be exported but cannot be (an annotation missing, per-entry claims, a name another kind took)
//! are reported as skipped entries. A kind the API server does not serve (its CRD not installed) is left out and
//! named in the origin; none served is an error.
//!
//! A watch per kind and namespace ([`watch`]) starts a sync soon after what a resource publishes changes (a
//! status update does not), so entries follow the cluster within about a second; the source's schedule lists
//! again every `interval` (10 minutes by default) in case a watch missed something.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::runtime::watcher::{self, Event};
use serde_json::Value;
use sha2::{Digest, Sha256};
use thv_core::cluster_entry::{
    API_VERSION, ClusterKind, ClusterResource, GROUP, KINDS, Published, Refusal, publish_all,
};

use super::apply::Skipped;
use super::content::Content;
use super::error::SyncError;
use super::{SyncService, Trigger};

/// Items asked of the API server per list page.
const PAGE: u32 = 500;
/// The scope of a source without namespaces, in messages.
const EVERY_NAMESPACE: &str = "every namespace";
/// The longest wait between two attempts of a failing watch.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How long changes are gathered before the sync they start.
const SETTLE: Duration = Duration::from_millis(500);

fn resource(kind: ClusterKind) -> ApiResource {
    ApiResource {
        group: GROUP.into(),
        version: API_VERSION.into(),
        api_version: format!("{GROUP}/{API_VERSION}"),
        kind: kind.kind().into(),
        plural: kind.plural().into(),
    }
}

/// The APIs to read: one per namespace, or one over every namespace.
fn apis(
    client: &kube::Client,
    kind: ClusterKind,
    namespaces: &[String],
) -> Vec<(String, Api<DynamicObject>)> {
    let ar = resource(kind);
    if namespaces.is_empty() {
        return vec![(EVERY_NAMESPACE.into(), Api::all_with(client.clone(), &ar))];
    }
    namespaces
        .iter()
        .map(|ns| {
            (
                format!("namespace {ns}"),
                Api::namespaced_with(client.clone(), ns, &ar),
            )
        })
        .collect()
}

/// What a sync reads of a listed object (of an MCPServer's spec: image, transport and port; the other kinds
/// have no image).
fn cluster_resource(kind: ClusterKind, object: &DynamicObject) -> ClusterResource {
    let meta = &object.metadata;
    let spec = &object.data["spec"];
    let mcp_server = kind == ClusterKind::McpServer;
    let text = |key: &str| spec[key].as_str().filter(|_| mcp_server).map(str::to_owned);
    ClusterResource {
        kind,
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        annotations: meta.annotations.clone().unwrap_or_default(),
        image: text("image"),
        // `stdio` is the CRD's default.
        transport: text("transport").or_else(|| mcp_server.then(|| "stdio".into())),
        mcp_port: spec["mcpPort"]
            .as_u64()
            .filter(|_| mcp_server)
            .and_then(|p| u16::try_from(p).ok()),
    }
}

/// Where a source reads, for messages.
pub fn origin(namespaces: &[String]) -> String {
    if namespaces.is_empty() {
        "ToolHive resources in every namespace".into()
    } else {
        format!("ToolHive resources in namespace {}", namespaces.join(", "))
    }
}

/// Every object of one kind, page by page; `None` when the API server does not serve the kind.
async fn list_kind(
    api: &Api<DynamicObject>,
    kind: ClusterKind,
    scope: &str,
) -> Result<Option<Vec<DynamicObject>>, String> {
    let mut objects = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut params = ListParams::default().limit(PAGE);
        if let Some(t) = &token {
            params = params.continue_token(t);
        }
        let page = match api.list(&params).await {
            Ok(page) => page,
            Err(kube::Error::Api(status)) if status.code == 404 => return Ok(None),
            Err(kube::Error::Api(status)) if status.code == 403 => {
                let hint = if scope == EVERY_NAMESPACE {
                    ": a ClusterRole and ClusterRoleBinding, or name the namespaces in kubernetes.namespaces \
                     (or THV_REGISTRY_WATCH_NAMESPACE)"
                } else {
                    ""
                };
                return Err(format!(
                    "this server may not list {}.{GROUP} in {scope} (grant get, list and watch on it{hint}): {}",
                    kind.plural(),
                    status.message
                ));
            }
            Err(e) => {
                return Err(format!(
                    "listing {} in {scope}: {}",
                    kind.plural(),
                    crate::kubernetes::message(&e)
                ));
            }
        };
        objects.extend(page.items);
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            return Ok(Some(objects));
        }
    }
}

/// The source's content: the entries its resources publish, and what they could not.
pub async fn read(namespaces: &[String], timeout: Duration) -> Result<Content, SyncError> {
    let mut origin = origin(namespaces);
    let failed = |origin: &str, message: String| SyncError::Cluster {
        origin: origin.to_owned(),
        message,
    };
    let listing = async {
        let client = crate::kubernetes::client()
            .await
            .map_err(|e| format!("no Kubernetes API to read them from {e}"))?;
        let (mut resources, mut unserved) = (Vec::new(), Vec::new());
        for kind in KINDS {
            let mut served = false;
            for (scope, api) in apis(&client, kind, namespaces) {
                if let Some(objects) = list_kind(&api, kind, &scope).await? {
                    served = true;
                    resources.extend(objects.iter().map(|o| cluster_resource(kind, o)));
                }
            }
            if !served {
                unserved.push(kind.plural());
            }
        }
        Ok::<_, String>((resources, unserved))
    };
    let (resources, unserved) = tokio::time::timeout(timeout, listing)
        .await
        .map_err(|_| {
            failed(
                &origin,
                format!("the Kubernetes API did not answer within {timeout:?}"),
            )
        })?
        .map_err(|m| failed(&origin, m))?;
    if unserved.len() == KINDS.len() {
        return Err(failed(
            &origin,
            format!(
                "the API server serves none of {} of {GROUP}/{API_VERSION}: install ToolHive's CRDs",
                unserved.join(", ")
            ),
        ));
    }
    if !unserved.is_empty() {
        origin.push_str(&format!(" ({} not served)", unserved.join(", ")));
    }
    let (entries, refused) = publish_all(&resources);
    let bytes = serde_json::to_vec(&Value::Array(entries)).map_err(SyncError::internal)?;
    let skipped: Vec<Skipped> = refused
        .into_iter()
        .map(
            |Refusal {
                 server,
                 version,
                 reason,
             }| Skipped {
                server,
                version,
                reason,
            },
        )
        .collect();
    let mut hash = Sha256::new();
    hash.update(&bytes);
    for s in &skipped {
        hash.update(s.reason.as_bytes());
    }
    Ok(Content {
        hash: hex::encode(hash.finalize()),
        bytes,
        origin,
        skipped,
    })
}

/// Starts a sync of `source` whenever what its resources publish changes (see the module documentation). Runs
/// as long as the service.
pub async fn watch(service: Arc<SyncService>, source: String, namespaces: Vec<String>) {
    if namespaces.is_empty() {
        tracing::info!(source = %source, "the kubernetes source reads every namespace");
    }
    let mut wait = Duration::from_secs(5);
    let client = loop {
        match crate::kubernetes::client().await {
            Ok(c) => break c,
            Err(e) => {
                tracing::warn!(source = %source, "no watch on the source's resources yet (its schedule still lists them; retrying in {wait:?}): no Kubernetes API {e}");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_BACKOFF);
            }
        }
    };
    let streams = KINDS.into_iter().flat_map(|kind| {
        apis(&client, kind, &namespaces)
            .into_iter()
            .enumerate()
            .map(move |(i, (scope, api))| {
                let config = watcher::Config::default();
                with_backoff(watcher::watcher(api, config).boxed())
                    .map(move |e| (kind, i, scope.clone(), e))
                    .boxed()
            })
    });
    let mut events = futures::stream::select_all(streams);
    let mut state = WatchState::default();
    // Streams failing now (said once, not at every retry).
    let mut failing = std::collections::HashSet::new();
    let mut due: Option<tokio::time::Instant> = None;
    loop {
        let next = async {
            match due {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = events.next() => {
                let Some((kind, i, scope, event)) = event else { return };
                let changed = match event {
                    Ok(event) => {
                        // The start of a (re)listing says nothing yet of whether it works.
                        if !matches!(event, Event::Init) && failing.remove(&(kind, i)) {
                            tracing::info!(source = %source, kind = kind.plural(), %scope, "watching again");
                        }
                        state.apply((kind, i), event)
                    }
                    Err(e) => {
                        if failing.insert((kind, i)) {
                            tracing::warn!(source = %source, kind = kind.plural(), %scope, error = %e, "the watch failed; retrying (the schedule still lists the resources)");
                        }
                        false
                    }
                };
                if changed && due.is_none() {
                    due = Some(tokio::time::Instant::now() + SETTLE);
                }
            }
            () = next => {
                due = None;
                let attempt = service.sync(&source, Trigger::Manual).await;
                if matches!(attempt, Ok(crate::store::SyncAttempt::Busy)) {
                    due = Some(tokio::time::Instant::now() + Duration::from_secs(1));
                }
                super::log_attempt(&source, "after a change of its resources", &attempt);
            }
        }
    }
}

type WatchItem = Result<Event<DynamicObject>, watcher::Error>;

/// A watch that waits after each failure, twice as long each time (1 s up to [`MAX_BACKOFF`]), until it sees
/// an object again (kube-runtime's own backoff starts over at each relisting's start, which comes before the
/// listing fails: a failing watch would retry every second).
fn with_backoff(
    inner: futures::stream::BoxStream<'static, WatchItem>,
) -> impl futures::Stream<Item = WatchItem> {
    futures::stream::unfold(
        (inner, Duration::ZERO, Duration::ZERO),
        |(mut inner, sleep, backoff)| async move {
            if !sleep.is_zero() {
                tokio::time::sleep(sleep).await;
            }
            let item = inner.next().await?;
            let (sleep, backoff) = match &item {
                Err(_) => {
                    let next = (backoff * 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
                    (next, next)
                }
                Ok(Event::Init) => (Duration::ZERO, backoff),
                Ok(_) => (Duration::ZERO, Duration::ZERO),
            };
            Some((item, (inner, sleep, backoff)))
        },
    )
}

/// One watch stream: a kind, and which of the source's namespaces (its index).
type Stream = (ClusterKind, usize);
type ObjectKey = (String, String);

/// What each watched object publishes now, per stream, and the objects a relisting has seen so far.
#[derive(Default)]
struct WatchState {
    published: HashMap<Stream, HashMap<ObjectKey, Published>>,
    relisting: HashMap<Stream, HashMap<ObjectKey, Published>>,
}

impl WatchState {
    /// Applies a watch event; whether what the objects publish changed. A relisting (the first, or after the
    /// watch fell behind) replaces the stream's objects whole when it is done, so deletions missed meanwhile
    /// are not remembered as objects.
    fn apply(&mut self, stream: Stream, event: Event<DynamicObject>) -> bool {
        let kind = stream.0;
        let key = |o: &DynamicObject| {
            (
                o.metadata.namespace.clone().unwrap_or_default(),
                o.metadata.name.clone().unwrap_or_default(),
            )
        };
        match event {
            Event::Init => {
                self.relisting.insert(stream, HashMap::new());
                false
            }
            Event::InitApply(o) => {
                let now = cluster_resource(kind, &o).publish();
                self.relisting
                    .entry(stream)
                    .or_default()
                    .insert(key(&o), now);
                false
            }
            Event::InitDone => {
                let listed = self.relisting.remove(&stream).unwrap_or_default();
                let before = self.published.insert(stream, listed);
                before.as_ref() != self.published.get(&stream)
            }
            Event::Apply(o) => {
                let now = cluster_resource(kind, &o).publish();
                let objects = self.published.entry(stream).or_default();
                objects
                    .insert(key(&o), now.clone())
                    .unwrap_or(Published::No)
                    != now
            }
            Event::Delete(o) => self
                .published
                .entry(stream)
                .or_default()
                .remove(&key(&o))
                .is_some_and(|before| before != Published::No),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed() -> WatchItem {
        Err(watcher::Error::NoResourceVersion)
    }

    /// A watch failing at each relisting waits 1 s, then 2 s, …: a relisting's start does not reset the wait
    /// (it did: a failing watch retried, and logged, every second).
    #[tokio::test]
    async fn a_failing_watch_waits_longer_each_time() {
        let items = vec![
            Ok(Event::Init),
            failed(),
            Ok(Event::Init),
            failed(),
            Ok(Event::Init),
            failed(),
        ];
        let started = std::time::Instant::now();
        let seen: Vec<WatchItem> = with_backoff(futures::stream::iter(items).boxed())
            .take(6)
            .collect()
            .await;
        assert_eq!(seen.len(), 6);
        assert!(
            started.elapsed() >= Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn status_updates_change_nothing_and_a_relisting_forgets_deleted_objects() {
        let object = |name: &str, export: bool, phase: &str| -> DynamicObject {
            let mut o = DynamicObject::new(name, &resource(ClusterKind::McpServer)).within("ns");
            if export {
                o.metadata.annotations = Some(
                    [
                        (thv_core::cluster_entry::EXPORT, "true"),
                        (thv_core::cluster_entry::URL, "http://x/mcp"),
                        (thv_core::cluster_entry::DESCRIPTION, "d"),
                    ]
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                );
            }
            o.data = serde_json::json!({"spec": {"image": "i:1.0.0"}, "status": {"phase": phase}});
            o
        };
        let mut state = WatchState::default();
        let stream = (ClusterKind::McpServer, 0);
        assert!(!state.apply(stream, Event::Init));
        assert!(!state.apply(stream, Event::InitApply(object("a", true, "Pending"))));
        assert!(state.apply(stream, Event::InitDone), "the first listing");
        assert!(
            !state.apply(stream, Event::Apply(object("a", true, "Ready"))),
            "a status update"
        );
        assert!(
            !state.apply(stream, Event::Apply(object("b", false, "Ready"))),
            "not exported"
        );
        assert!(
            state.apply(stream, Event::Apply(object("b", true, "Ready"))),
            "exported now"
        );
        // Relisted after the watch fell behind: `a` was deleted meanwhile.
        state.apply(stream, Event::Init);
        state.apply(stream, Event::InitApply(object("b", true, "Ready")));
        assert!(state.apply(stream, Event::InitDone));
        assert!(
            state.apply(stream, Event::Apply(object("a", true, "Pending"))),
            "a new `a`"
        );
    }
}
