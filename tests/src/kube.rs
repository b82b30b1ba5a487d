//! The tests' Kubernetes control plane (etcd, kube-apiserver and kube-controller-manager on 127.0.0.1, built from
//! the Go module proxy: `scripts/start-kube-apiserver.sh`): a client for it, and a namespace per test.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::thv::skip;

/// The kubeconfig of the test control plane (`THV_TEST_KUBECONFIG`), or `None` (skipped outside CI) when unset.
pub fn kubeconfig() -> Option<std::path::PathBuf> {
    std::env::var_os("THV_TEST_KUBECONFIG")
        .map(Into::into)
        .or_else(|| {
            skip("THV_TEST_KUBECONFIG is unset (run `eval \"$(scripts/start-kube-apiserver.sh)\"`)")
        })
}

/// Panics unless `KUBECONFIG` names the test control plane's kubeconfig: what the code under test connects to
/// with the ambient credentials (the registry's ConfigMap storage) must be the test cluster, never another.
pub fn require_ambient_kubeconfig() {
    let test = std::env::var_os("THV_TEST_KUBECONFIG");
    let ambient = std::env::var_os("KUBECONFIG");
    assert!(
        test.is_some() && ambient == test,
        "KUBECONFIG ({ambient:?}) must be THV_TEST_KUBECONFIG ({test:?}): the code under test uses the ambient \
         credentials (eval \"$(scripts/start-kube-apiserver.sh)\" exports both)"
    );
}

/// A client of the test control plane, as cluster administrator (system:masters).
pub async fn client() -> Option<Client> {
    let path = kubeconfig()?;
    let kubeconfig =
        Kubeconfig::read_from(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Some(Client::try_from(config).expect("a client of the test control plane"))
}

/// A fresh namespace named `thv-<prefix>-<random>`, deleted when dropped (the namespace controller removes what
/// it holds).
pub struct TestNamespace {
    pub client: Client,
    pub name: String,
}

impl TestNamespace {
    pub async fn create(client: &Client, prefix: &str) -> Self {
        let mut b = [0u8; 4];
        getrandom::fill(&mut b).expect("random bytes");
        let name = format!("thv-{prefix}-{}", hex::encode(b));
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "thv-tests"}}
        }))
        .expect("a namespace");
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
        Self {
            client: client.clone(),
            name,
        }
    }

    /// Deletes the namespace and waits (at most `within`) until it is gone.
    pub async fn delete_and_wait(&self, within: Duration) -> bool {
        let api = Api::<Namespace>::all(self.client.clone());
        let _ = api.delete(&self.name, &DeleteParams::default()).await;
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if api.get_opt(&self.name).await.ok().flatten().is_none() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        false
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let (client, name) = (self.client.clone(), self.name.clone());
        // Best effort, without waiting: the test's runtime may be shutting down.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = Api::<Namespace>::all(client)
                    .delete(&name, &DeleteParams::default())
                    .await;
            });
        }
    }
}

/// A kubeconfig for the service account `account` of `namespace` (created when missing) (a token from the TokenRequest API), with the
/// namespace as its context's default, as a pod's in-cluster configuration has; written into `dir`.
pub async fn service_account_kubeconfig(
    client: &Client,
    namespace: &str,
    account: &str,
    dir: &std::path::Path,
) -> std::path::PathBuf {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    // An account that exists already (a Helm release's) gets a token as it is.
    match accounts
        .create(
            &PostParams::default(),
            &object(serde_json::json!({"metadata": {"name": account}})),
        )
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(e) => panic!("creating service account {account}: {e}"),
    }
    let request: k8s_openapi::api::authentication::v1::TokenRequest =
        object(serde_json::json!({"spec": {"expirationSeconds": 3600}}));
    let token = accounts
        .create_token_request(account, &PostParams::default(), &request)
        .await
        .unwrap()
        .status
        .expect("a token")
        .token;
    let admin: serde_json::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(kubeconfig().expect("checked by client()")).unwrap(),
    )
    .unwrap();
    let cluster = &admin["clusters"][0]["cluster"];
    let config = serde_json::json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "test", "cluster": cluster}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": account, "context": {"cluster": "test", "user": account, "namespace": namespace}}],
        "current-context": account
    });
    let path = dir.join(format!("{account}.kubeconfig"));
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
    path
}

fn object<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("a valid object")
}

/// Applies a CRD (server-side apply: any number of test runs share the cluster) and waits until it is
/// established.
pub async fn install_crd(client: &Client, definition: &serde_json::Value) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = definition["metadata"]["name"]
        .as_str()
        .expect("a named CRD")
        .to_owned();
    api.patch(
        &name,
        &PatchParams::apply("thv-tests").force(),
        &Patch::Apply(definition),
    )
    .await
    .unwrap_or_else(|e| panic!("applying CRD {name}: {e}"));
    for _ in 0..100 {
        let crd = api.get(&name).await.unwrap();
        let established = crd
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        if established {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("CRD {name} never became established");
}

/// Stand-ins for ToolHive's MCPServer, VirtualMCPServer and MCPRemoteProxy CRDs
/// (`tests/fixtures/toolhive-workload-crds.yaml`), installed.
pub async fn install_toolhive_workload_crds(client: &Client) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/toolhive-workload-crds.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    for document in serde_yaml_ng::Deserializer::from_str(&text) {
        let definition: serde_json::Value =
            serde::Deserialize::deserialize(document).expect("a CRD");
        if !definition.is_null() {
            install_crd(client, &definition).await;
        }
    }
}

/// Grants the service account `account` of `namespace` the `rules` there: a Role and a RoleBinding named `name`.
pub async fn grant(
    client: &Client,
    namespace: &str,
    name: &str,
    account: &str,
    rules: serde_json::Value,
) {
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
    Api::<Role>::namespaced(client.clone(), namespace)
        .create(
            &PostParams::default(),
            &object(serde_json::json!({"metadata": {"name": name}, "rules": rules})),
        )
        .await
        .unwrap_or_else(|e| panic!("creating role {name}: {e}"));
    Api::<RoleBinding>::namespaced(client.clone(), namespace)
        .create(
            &PostParams::default(),
            &object(serde_json::json!({"metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]})),
        )
        .await
        .unwrap_or_else(|e| panic!("creating role binding {name}: {e}"));
}
