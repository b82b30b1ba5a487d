//! The MCPRegistry controller against the test control plane: each field's effect on the objects it makes,
//! owner references and the finalizer, a second pass that changes nothing, a deleted Service put back, a spec
//! changed while the controller was stopped picked up by the next one, a spec it cannot build reported in the
//! status, and deletion removing the registry's ConfigMap-stored data. (No kubelet runs here: pods are never
//! started, so `Ready` stays false and `Synced` unknown.)

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{install_crds, registry};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use thv_e2e::kube::{TestNamespace, client};
use thv_operator::crd::mcpregistry::{MCPRegistry, MCPRegistryPhase};
use thv_operator::registry::FINALIZER;

/// The controller, watching one namespace, until dropped.
struct Running(tokio::task::JoinHandle<()>);

impl Running {
    fn start(client: &Client, namespace: &str) -> Self {
        let (client, namespace) = (client.clone(), namespace.to_owned());
        Self(tokio::spawn(async move {
            thv_operator::registry::run(client, Some(&namespace)).await;
        }))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Waits (at most 20 s) until `get` gives something `check` accepts; that thing.
async fn until<T, F, Fut>(what: &str, mut get: F, check: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..200 {
        if let Some(v) = get().await
            && check(&v)
        {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not within 20 s");
}

async fn object<K>(client: &Client, namespace: &str, name: &str) -> Option<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    Api::<K>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .unwrap()
}

async fn create(api: &Api<MCPRegistry>, name: &str, spec: Value) -> MCPRegistry {
    let manifest: MCPRegistry = serde_json::from_value(registry(name, spec)).unwrap();
    api.create(&PostParams::default(), &manifest).await.unwrap()
}

/// The resourceVersion of each object a registry `name` owns (the Deployment's generation), and its own.
async fn versions(client: &Client, ns: &str, name: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let rv = |kind: &str, v: Option<String>| (kind.to_owned(), v.unwrap_or_default());
    let cm = object::<ConfigMap>(client, ns, &format!("{name}-registry-server-config")).await;
    out.extend([rv(
        "configmap",
        cm.and_then(|o| o.metadata.resource_version),
    )]);
    let sa = object::<ServiceAccount>(client, ns, &format!("{name}-registry-api")).await;
    out.extend([rv(
        "serviceaccount",
        sa.and_then(|o| o.metadata.resource_version),
    )]);
    let role = object::<Role>(client, ns, &format!("{name}-registry-api")).await;
    out.extend([rv("role", role.and_then(|o| o.metadata.resource_version))]);
    let rb = object::<RoleBinding>(client, ns, &format!("{name}-registry-api")).await;
    out.extend([rv(
        "rolebinding",
        rb.and_then(|o| o.metadata.resource_version),
    )]);
    // The Deployment's status is the Deployment controller's to write: its spec's generation is what the
    // operator would move.
    let d = object::<Deployment>(client, ns, &format!("{name}-api")).await;
    out.extend([rv(
        "deployment generation",
        d.and_then(|o| o.metadata.generation).map(|g| g.to_string()),
    )]);
    let s = object::<Service>(client, ns, &format!("{name}-api")).await;
    out.extend([rv("service", s.and_then(|o| o.metadata.resource_version))]);
    let r = object::<MCPRegistry>(client, ns, name).await;
    out.extend([rv(
        "mcpregistry",
        r.and_then(|o| o.metadata.resource_version),
    )]);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcpregistry_becomes_its_objects_and_stays_so() {
    let Some(client) = client().await else {
        return;
    };
    install_crds(&client).await;
    let ns = TestNamespace::create(&client, "operator").await;
    let api: Api<MCPRegistry> = Api::namespaced(client.clone(), &ns.name);
    let controller = Running::start(&client, &ns.name);

    let spec = json!({
        "image": "registry.example.com/thv-registry-api:1.2.3",
        "replicas": 2,
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "storage": {"type": "configmap"}
    });
    let created = create(&api, "company", spec).await;
    let deployment: Deployment = until(
        "the Deployment",
        || object(&client, &ns.name, "company-api"),
        |_: &Deployment| true,
    )
    .await;

    // Each field's effect.
    let pod = deployment.spec.template.spec.clone().unwrap();
    let container = &pod.containers[0];
    assert_eq!(deployment.spec.replicas, Some(2));
    assert_eq!(
        container.image.as_deref(),
        Some("registry.example.com/thv-registry-api:1.2.3")
    );
    let args = container.args.clone().unwrap().join(" ");
    assert!(args.contains("--config /config/config.yaml"), "{args}");
    assert!(
        args.contains(&format!(
            "--database-url configmap:///{}",
            thv_operator::registry::objects::store_prefix(&created)
        )),
        "{args}"
    );
    assert!(args.contains("--listen 0.0.0.0:8080"), "{args}");
    let resources = container.resources.clone().unwrap();
    assert_eq!(resources.limits.unwrap()["memory"].0, "256Mi");
    assert_eq!(resources.requests.unwrap()["cpu"].0, "100m");
    // The manifest's volumes and mounts, the configuration, and the pgpass file copied by an init container.
    let volumes: Vec<String> = pod
        .volumes
        .clone()
        .unwrap()
        .iter()
        .map(|v| v.name.clone())
        .collect();
    for v in ["catalog", "thv-config", "thv-pgpass-secret", "thv-pgpass"] {
        assert!(volumes.contains(&v.to_owned()), "{volumes:?}");
    }
    let env = container.env.clone().unwrap();
    assert!(env.iter().any(
        |e| e.name == "PGPASSFILE" && e.value.as_deref() == Some("/var/run/thv-pgpass/pgpass")
    ));
    assert_eq!(pod.init_containers.unwrap()[0].name, "thv-pgpass");
    assert_eq!(
        pod.service_account_name.as_deref(),
        Some("company-registry-api")
    );
    assert_eq!(pod.image_pull_secrets.unwrap()[0].name, "regcred");
    let config: ConfigMap = object(&client, &ns.name, "company-registry-server-config")
        .await
        .unwrap();
    assert_eq!(
        config.data.unwrap()["config.yaml"],
        created.spec.config_yaml,
        "configYAML passed through"
    );
    let role: Role = object(&client, &ns.name, "company-registry-api")
        .await
        .unwrap();
    let rules = role.rules.unwrap();
    assert_eq!(rules.len(), 1, "no kubernetes source: {rules:?}");
    let verbs = &rules[0].verbs;
    assert!(
        verbs.contains(&"create".to_owned()) && verbs.contains(&"watch".to_owned()),
        "{verbs:?}"
    );
    let binding: RoleBinding = object(&client, &ns.name, "company-registry-api")
        .await
        .unwrap();
    assert_eq!(binding.subjects.unwrap()[0].name, "company-registry-api");
    let service: Service = until(
        "the Service",
        || object(&client, &ns.name, "company-api"),
        |_: &Service| true,
    )
    .await;
    assert_eq!(service.spec.unwrap().ports.unwrap()[0].port, 8080);
    assert!(
        object::<PersistentVolumeClaim>(&client, &ns.name, "company-registry-data")
            .await
            .is_none(),
        "no volume for ConfigMap storage"
    );
    // Owned by the registry, which carries the finalizer.
    let owner = &deployment.metadata.owner_references.clone().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller),
        ("MCPRegistry", Some(true))
    );
    assert_eq!(owner.uid, created.uid().unwrap());

    // The status: no kubelet here, so no replica is ready.
    let shown = until(
        "the status",
        || async { api.get_opt("company").await.unwrap() },
        |r: &MCPRegistry| r.status.as_ref().is_some_and(|s| s.url.is_some()),
    )
    .await;
    assert!(shown.finalizers().contains(&FINALIZER.to_owned()));
    let status = shown.status.unwrap();
    assert_eq!(status.phase, Some(MCPRegistryPhase::Pending));
    assert_eq!(status.ready_replicas, Some(0));
    assert_eq!(status.observed_generation, shown.metadata.generation);
    assert_eq!(
        status.url.as_deref(),
        Some(format!("http://company-api.{}.svc.cluster.local:8080", ns.name).as_str())
    );
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "Unavailable")
    );
    assert_eq!(ready.message, "0 of 2 replicas ready");
    let synced = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Synced")
        .unwrap();
    assert_eq!(synced.status, "Unknown");

    // A restarted controller's pass changes nothing.
    let before = versions(&client, &ns.name, "company").await;
    drop(controller);
    let controller = Running::start(&client, &ns.name);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(versions(&client, &ns.name, "company").await, before);

    // A deleted Service comes back.
    let services: Api<Service> = Api::namespaced(client.clone(), &ns.name);
    let old_uid = service_uid(&services).await;
    services
        .delete("company-api", &DeleteParams::default())
        .await
        .unwrap();
    until(
        "the Service put back",
        || async { services.get_opt("company-api").await.unwrap() },
        |s: &Service| s.uid() != Some(old_uid.clone()),
    )
    .await;

    // A spec changed while no controller runs is applied by the next one.
    drop(controller);
    api.patch(
        "company",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 3, "image": "registry.example.com/thv-registry-api:1.2.4"}})),
    )
    .await
    .unwrap();
    let _controller = Running::start(&client, &ns.name);
    until(
        "the changed spec applied",
        || object::<Deployment>(&client, &ns.name, "company-api"),
        |d| {
            let spec = &d.spec;
            spec.replicas == Some(3)
                && spec.template.spec.as_ref().unwrap().containers[0]
                    .image
                    .as_deref()
                    == Some("registry.example.com/thv-registry-api:1.2.4")
        },
    )
    .await;

    // Deleted: the finalizer removes the registry's ConfigMap-stored data, then lets it go.
    // (The prefix carries a hash of the whole name: no other registry's store shares it.)
    let prefix = thv_operator::registry::objects::store_prefix(&created);
    assert!(
        prefix.starts_with("company-") && prefix.len() == "company-".len() + 10,
        "{prefix}"
    );
    let data: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "company-sources",
        "labels": {"registry.toolhive.stacklok.dev/store": prefix}}}))
    .unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    maps.create(&PostParams::default(), &data).await.unwrap();
    api.delete("company", &DeleteParams::default())
        .await
        .unwrap();
    until(
        "the registry gone",
        || async { Some(api.get_opt("company").await.unwrap().is_none()) },
        |gone| *gone,
    )
    .await;
    assert!(maps.get_opt("company-sources").await.unwrap().is_none());
    ns.delete_and_wait(Duration::ZERO).await;
}

async fn service_uid(services: &Api<Service>) -> String {
    services.get("company-api").await.unwrap().uid().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_gets_a_volume_and_a_spec_that_cannot_be_built_is_reported() {
    let Some(client) = client().await else {
        return;
    };
    install_crds(&client).await;
    let ns = TestNamespace::create(&client, "operator").await;
    let api: Api<MCPRegistry> = Api::namespaced(client.clone(), &ns.name);
    let _controller = Running::start(&client, &ns.name);

    create(
        &api,
        "local",
        json!({"storage": {"type": "sqlite", "size": "2Gi", "storageClassName": "fast"},
               "configYAML": "sources:\n  - name: cluster\n    kubernetes: {}\nregistries:\n  - name: cluster\n    sources: [cluster]\n",
               "podTemplateSpec": {"metadata": {"labels": {"team": "platform"}},
                                   "spec": {"nodeSelector": {"disk": "ssd"},
                                            "containers": [{"name": "registry-api",
                                                            "env": [{"name": "THV_REGISTRY_LOG", "value": "debug"}]}]}}}),
    )
    .await;
    let claim: PersistentVolumeClaim = until(
        "the volume",
        || object(&client, &ns.name, "local-registry-data"),
        |_: &PersistentVolumeClaim| true,
    )
    .await;
    let spec = claim.spec.unwrap();
    assert_eq!(spec.storage_class_name.as_deref(), Some("fast"));
    assert_eq!(
        spec.resources.unwrap().requests.unwrap()["storage"].0,
        "2Gi"
    );
    let deployment: Deployment = until(
        "the Deployment",
        || object(&client, &ns.name, "local-api"),
        |_: &Deployment| true,
    )
    .await;
    let dspec = deployment.spec;
    assert_eq!(dspec.strategy.unwrap().type_.as_deref(), Some("Recreate"));
    let labels = dspec.template.metadata.clone().unwrap().labels.unwrap();
    assert_eq!(labels["team"], "platform");
    assert_eq!(
        labels["app.kubernetes.io/instance"], "local",
        "the Service's labels stay"
    );
    let pod = dspec.template.spec.unwrap();
    assert_eq!(pod.node_selector.unwrap()["disk"], "ssd");
    let container = &pod.containers[0];
    let env: Vec<&str> = container
        .env
        .as_ref()
        .unwrap()
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(
        env,
        [
            "PGPASSFILE",
            "HOME",
            "THV_REGISTRY_WATCH_NAMESPACE",
            "THV_REGISTRY_LOG"
        ],
        "podTemplateSpec's env merged into the container's"
    );
    // A `kubernetes` source without namespaces reads the registry's own, which its Role lets it watch.
    let watch = container.env.as_ref().unwrap()[2]
        .value_from
        .clone()
        .unwrap();
    assert_eq!(watch.field_ref.unwrap().field_path, "metadata.namespace");
    let role: Role = object(&client, &ns.name, "local-registry-api")
        .await
        .unwrap();
    let rules = role.rules.unwrap();
    assert_eq!(rules.len(), 2, "{rules:?}");
    assert_eq!(
        rules[1].resources.as_deref().unwrap(),
        ["mcpservers", "virtualmcpservers", "mcpremoteproxies"]
    );
    assert_eq!(rules[1].verbs, ["get", "list", "watch"]);
    let args = container.args.clone().unwrap().join(" ");
    assert!(
        args.contains("--database-url sqlite:///var/lib/thv-registry/registry.db"),
        "{args}"
    );

    // Switched to ConfigMap storage: its SQLite volume goes (the PVC protection lets it once no pod uses it).
    api.patch(
        "local",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"storage": {"type": "configmap", "size": null, "storageClassName": null}}})),
    )
    .await
    .unwrap();
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns.name);
    until(
        "the SQLite volume deleted",
        || async {
            Some(
                claims
                    .get_opt("local-registry-data")
                    .await
                    .unwrap()
                    .is_none_or(|c| c.metadata.deletion_timestamp.is_some()),
            )
        },
        |gone| *gone,
    )
    .await;

    // A volume the Kubernetes types do not take (the CRD keeps volumes as free objects).
    create(&api, "broken", json!({"volumes": [{"name": 5}]})).await;
    let shown = until(
        "the refusal in the status",
        || async { api.get_opt("broken").await.unwrap() },
        |r: &MCPRegistry| r.status.as_ref().is_some_and(|s| s.phase.is_some()),
    )
    .await;
    let status = shown.status.unwrap();
    assert_eq!(status.phase, Some(MCPRegistryPhase::Failed));
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.reason, "InvalidSpec");
    assert!(
        ready.message.starts_with("spec.volumes[0]: "),
        "{}",
        ready.message
    );
    assert!(
        object::<Deployment>(&client, &ns.name, "broken-api")
            .await
            .is_none()
    );

    // A mount over the operator's own paths is refused the same way.
    create(
        &api,
        "clash",
        json!({"volumeMounts": [{"name": "catalog", "mountPath": "/config"}]}),
    )
    .await;
    let shown = until(
        "the clash in the status",
        || async { api.get_opt("clash").await.unwrap() },
        |r: &MCPRegistry| r.status.as_ref().is_some_and(|s| s.phase.is_some()),
    )
    .await;
    let ready = shown.status.unwrap().conditions.remove(0);
    assert!(
        ready
            .message
            .starts_with("spec.volumeMounts[0].mountPath: /config overlaps"),
        "{}",
        ready.message
    );

    // What only the API server refuses (a mount of a volume that does not exist) shows in the status too.
    create(
        &api,
        "dangling",
        json!({"volumeMounts": [{"name": "nosuch", "mountPath": "/catalog"}]}),
    )
    .await;
    let shown = until(
        "the API server's refusal in the status",
        || async { api.get_opt("dangling").await.unwrap() },
        |r: &MCPRegistry| r.status.as_ref().is_some_and(|s| s.phase.is_some()),
    )
    .await;
    let status = shown.status.unwrap();
    assert_eq!(status.phase, Some(MCPRegistryPhase::Failed));
    let ready = &status.conditions[0];
    assert_eq!(ready.reason, "ApplyFailed");
    assert!(
        ready.message.contains("applying Deployment dangling-api")
            && ready.message.contains("nosuch"),
        "{}",
        ready.message
    );
    ns.delete_and_wait(Duration::ZERO).await;
}
