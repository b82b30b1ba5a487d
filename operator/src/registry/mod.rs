//! The MCPRegistry controller: each MCPRegistry becomes its objects (`objects`), applied with server-side apply
//! (a pass that changes nothing leaves every object as it was; an object deleted or changed by hand is put back
//! on the next pass), and its status is observed (`status`). A finalizer removes, on deletion, what the owner
//! references cannot: the ConfigMaps a ConfigMap-stored registry kept its data in.

pub mod objects;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event, finalizer};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::crd::mcpregistry::{MCPRegistry, MCPRegistryPhase, StorageType};
use status::{SourceList, SyncView};

/// The field manager of everything the operator applies.
pub const MANAGER: &str = "thv-operator";
/// The finalizer the operator puts on each MCPRegistry.
pub const FINALIZER: &str = "toolhive.stacklok.dev/mcpregistry";
/// How often a registry's status is observed again when nothing else happens.
const OBSERVE_EVERY: Duration = Duration::from_secs(30);

/// A reconcile that failed.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("applying {kind} {name}: {source}")]
    Apply {
        kind: &'static str,
        name: String,
        source: kube::Error,
    },
    #[error("updating the status: {0}")]
    Status(kube::Error),
    #[error("removing the registry's data: {0}")]
    Cleanup(kube::Error),
    #[error("the MCPRegistry has no namespace")]
    NoNamespace,
    /// Deletion waits until no registry server runs before it removes the data they write.
    #[error("waiting for the registry server's pods to end before removing its data")]
    ServersRunning,
    #[error(transparent)]
    Finalizer(Box<kube::runtime::finalizer::Error<ReconcileError>>),
}

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
}

/// Applies `object` (server-side apply, this operator's fields only, conflicts taken over).
async fn apply<K>(client: &Client, namespace: &str, object: &K) -> Result<K, ReconcileError>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
{
    let name = object.meta().name.clone().unwrap_or_default();
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    api.patch(
        &name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(object),
    )
    .await
    .map_err(|source| ReconcileError::Apply {
        kind: std::any::type_name::<K>()
            .rsplit("::")
            .next()
            .unwrap_or("object"),
        name,
        source,
    })
}

/// The registry API's `/v1/sources`, through the API server's proxy to its Service.
async fn sources(client: &Client, namespace: &str, service: &str) -> SyncView {
    let path = format!("/api/v1/namespaces/{namespace}/services/{service}:http/proxy/v1/sources");
    let request = match http::Request::get(&path).body(Vec::new()) {
        Ok(r) => r,
        Err(e) => return SyncView::Unknown(e.to_string()),
    };
    match tokio::time::timeout(
        Duration::from_secs(10),
        client.request::<SourceList>(request),
    )
    .await
    {
        Ok(Ok(list)) => SyncView::Known(list.sources),
        Ok(Err(e)) => SyncView::Unknown(format!("GET /v1/sources: {e}")),
        Err(_) => SyncView::Unknown("GET /v1/sources: no answer within 10 s".into()),
    }
}

/// Brings the registry's objects to what its spec says, and its status to what they show.
async fn reconcile_registry(
    registry: Arc<MCPRegistry>,
    ctx: &Context,
) -> Result<Action, ReconcileError> {
    let namespace = registry.namespace().ok_or(ReconcileError::NoNamespace)?;
    let client = &ctx.client;
    let deployment = match objects::deployment(&registry) {
        Ok(d) => d,
        Err(e) => {
            write_status(
                client,
                &registry,
                None,
                &SyncView::Unknown(e.to_string()),
                Some(e.to_string()),
            )
            .await?;
            return Ok(Action::await_change());
        }
    };
    let deployment = match apply_all(client, &namespace, &registry, &deployment).await {
        Ok(d) => d,
        Err(e) => {
            // What the API server refused is shown where the user looks (and retried: it may be passing).
            let view = SyncView::Unknown("the registry's objects could not be applied".into());
            write_status(client, &registry, None, &view, Some(e.to_string())).await?;
            return Err(e);
        }
    };
    let ready = deployment
        .status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    let sync = if ready >= 1 {
        sources(client, &namespace, &objects::Names::of(&registry).service).await
    } else {
        SyncView::Unknown("no replica of the registry server is ready".into())
    };
    write_status(client, &registry, Some(&deployment), &sync, None).await?;
    Ok(Action::requeue(OBSERVE_EVERY))
}

/// Applies every object of the registry; the Deployment as stored.
async fn apply_all(
    client: &Client,
    namespace: &str,
    registry: &MCPRegistry,
    deployment: &Deployment,
) -> Result<Deployment, ReconcileError> {
    apply(client, namespace, &objects::config_map(registry)).await?;
    apply(client, namespace, &objects::service_account(registry)).await?;
    apply(client, namespace, &objects::role(registry)).await?;
    apply(client, namespace, &objects::role_binding(registry)).await?;
    match objects::data_claim(registry) {
        Some(claim) => {
            apply(client, namespace, &claim).await?;
        }
        None => remove_data_claim(client, namespace, registry).await?,
    }
    let deployment = apply(client, namespace, deployment).await?;
    apply(client, namespace, &objects::service(registry)).await?;
    Ok(deployment)
}

/// Deletes the SQLite volume of a registry whose storage is no longer `sqlite` (only its own: owned by it).
async fn remove_data_claim(
    client: &Client,
    namespace: &str,
    registry: &MCPRegistry,
) -> Result<(), ReconcileError> {
    let name = objects::Names::of(registry).data;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    let cleanup = |source| ReconcileError::Apply {
        kind: "PersistentVolumeClaim",
        name: name.clone(),
        source,
    };
    let Some(claim) = claims.get_opt(&name).await.map_err(cleanup)? else {
        return Ok(());
    };
    let owned = claim
        .owner_references()
        .iter()
        .any(|o| Some(&o.uid) == registry.uid().as_ref());
    if owned && claim.metadata.deletion_timestamp.is_none() {
        claims
            .delete(&name, &DeleteParams::default())
            .await
            .map_err(cleanup)?;
    }
    Ok(())
}

/// Stores the status the registry should show (server-side apply: an unchanged status changes nothing).
async fn write_status(
    client: &Client,
    registry: &MCPRegistry,
    deployment: Option<&Deployment>,
    sync: &SyncView,
    spec_error: Option<String>,
) -> Result<(), ReconcileError> {
    let namespace = registry.namespace().ok_or(ReconcileError::NoNamespace)?;
    let status = status::observe(registry, deployment, sync, spec_error);
    let api: Api<MCPRegistry> = Api::namespaced(client.clone(), &namespace);
    let patch = serde_json::json!({
        "apiVersion": MCPRegistry::api_version(&()),
        "kind": MCPRegistry::kind(&()),
        "status": status,
    });
    api.patch_status(
        &registry.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(ReconcileError::Status)?;
    Ok(())
}

/// On deletion: marks the registry terminating and removes its ConfigMap-stored data (its other objects go with
/// their owner reference).
async fn clean_up(registry: Arc<MCPRegistry>, ctx: &Context) -> Result<Action, ReconcileError> {
    let namespace = registry.namespace().ok_or(ReconcileError::NoNamespace)?;
    let stored_in_configmaps = registry
        .spec
        .storage
        .as_ref()
        .is_some_and(|s| s.storage_type == StorageType::Configmap);
    if stored_in_configmaps {
        servers_stopped(&ctx.client, &namespace, &registry).await?;
        let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &namespace);
        let selector = format!(
            "registry.toolhive.stacklok.dev/store={}",
            objects::store_prefix(&registry)
        );
        api.delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels(&selector),
        )
        .await
        .map_err(ReconcileError::Cleanup)?;
    }
    let api: Api<MCPRegistry> = Api::namespaced(ctx.client.clone(), &namespace);
    let patch = serde_json::json!({
        "apiVersion": MCPRegistry::api_version(&()),
        "kind": MCPRegistry::kind(&()),
        "status": {"phase": MCPRegistryPhase::Terminating},
    });
    // Best effort: the object is going away.
    let _ = api
        .patch_status(
            &registry.name_any(),
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await;
    Ok(Action::await_change())
}

/// Deletes the registry's Deployment (its pods with it) and fails until none of its pods is left: a server still
/// running would write the data again after it was removed.
async fn servers_stopped(
    client: &Client,
    namespace: &str,
    registry: &MCPRegistry,
) -> Result<(), ReconcileError> {
    let name = objects::Names::of(registry).deployment;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    match deployments.delete(&name, &DeleteParams::foreground()).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => return Err(ReconcileError::Cleanup(e)),
    }
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), namespace);
    let selector = format!(
        "app.kubernetes.io/name=thv-registry-api,app.kubernetes.io/instance={}",
        registry.name_any()
    );
    let left = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(ReconcileError::Cleanup)?;
    let gone = deployments
        .get_opt(&name)
        .await
        .map_err(ReconcileError::Cleanup)?
        .is_none();
    if left.items.is_empty() && gone {
        Ok(())
    } else {
        Err(ReconcileError::ServersRunning)
    }
}

async fn reconcile(
    registry: Arc<MCPRegistry>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let namespace = registry.namespace().ok_or(ReconcileError::NoNamespace)?;
    let api: Api<MCPRegistry> = Api::namespaced(ctx.client.clone(), &namespace);
    finalizer(&api, FINALIZER, registry, |event| async {
        match event {
            Event::Apply(r) => reconcile_registry(r, &ctx).await,
            Event::Cleanup(r) => clean_up(r, &ctx).await,
        }
    })
    .await
    .map_err(|e| ReconcileError::Finalizer(Box::new(e)))
}

fn error_policy(registry: Arc<MCPRegistry>, error: &ReconcileError, _: Arc<Context>) -> Action {
    let waiting = matches!(
        error,
        ReconcileError::Finalizer(e) if matches!(
            **e,
            kube::runtime::finalizer::Error::CleanupFailed(ReconcileError::ServersRunning)
        )
    );
    if waiting {
        tracing::info!(registry = %registry.name_any(), "{error}");
        return Action::requeue(Duration::from_secs(2));
    }
    tracing::warn!(registry = %registry.name_any(), error = %error, "reconcile failed; retrying");
    Action::requeue(Duration::from_secs(10))
}

/// Runs the controller until a signal stops it: every MCPRegistry of `namespace` (all namespaces: `None`).
pub async fn run(client: Client, namespace: Option<&str>) {
    fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
    {
        match namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }
    let owned = watcher::Config::default().labels("app.kubernetes.io/managed-by=thv-operator");
    Controller::new(
        api::<MCPRegistry>(&client, namespace),
        watcher::Config::default(),
    )
    .owns(api::<Deployment>(&client, namespace), owned.clone())
    .owns(api::<Service>(&client, namespace), owned.clone())
    .owns(api::<ConfigMap>(&client, namespace), owned.clone())
    .owns(api::<ServiceAccount>(&client, namespace), owned.clone())
    .owns(api::<Role>(&client, namespace), owned.clone())
    .owns(api::<RoleBinding>(&client, namespace), owned.clone())
    .owns(api::<PersistentVolumeClaim>(&client, namespace), owned)
    .shutdown_on_signal()
    .run(reconcile, error_policy, Arc::new(Context { client }))
    .for_each(|result| async move {
        match result {
            Ok((object, _)) => tracing::debug!(registry = %object.name, "reconciled"),
            Err(e) => tracing::debug!(error = %e, "reconcile error"),
        }
    })
    .await;
}
