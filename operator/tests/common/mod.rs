//! What the operator's tests share: the CRDs installed on the test control plane, and ToolHive-shaped
//! MCPRegistry manifests.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use thv_operator::crd;

pub fn crd_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/crds")
}

/// Applies the checked-in CRDs (server-side apply: any number of test runs share the cluster) and waits until
/// each is established.
pub async fn install_crds(client: &kube::Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for definition in crd::all() {
        let path = crd_dir().join(crd::file_name(&definition));
        let yaml = std::fs::read_to_string(&path).unwrap();
        let object: Value = serde_yaml_ng::from_str(&yaml).unwrap();
        let name = object["metadata"]["name"].as_str().unwrap().to_owned();
        api.patch(
            &name,
            &PatchParams::apply("thv-operator-tests").force(),
            &Patch::Apply(&object),
        )
        .await
        .unwrap_or_else(|e| panic!("applying {}: {e}", path.display()));
        let mut established = false;
        for _ in 0..100 {
            let crd = api.get(&name).await.unwrap();
            established = crd
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(established, "{name} never became established");
    }
}

/// A ToolHive MCPRegistry manifest (its documentation's shape), with `spec` merged over.
pub fn registry(name: &str, spec: Value) -> Value {
    let mut base = json!({
        "apiVersion": "toolhive.stacklok.dev/v1beta1",
        "kind": "MCPRegistry",
        "metadata": {"name": name},
        "spec": {
            "displayName": "Company registry",
            "configYAML": "sources:\n  - name: catalog\n    file:\n      path: /data/registry.json\n",
            "volumes": [{"name": "catalog", "configMap": {"name": "catalog", "items": [{"key": "registry.json", "path": "registry.json"}]}}],
            "volumeMounts": [{"name": "catalog", "mountPath": "/data", "readOnly": true}],
            "pgpassSecretRef": {"name": "my-pgpass", "key": ".pgpass"},
            "imagePullSecrets": [{"name": "regcred"}]
        }
    });
    if let (Some(b), Value::Object(extra)) = (base["spec"].as_object_mut(), spec) {
        for (k, v) in extra {
            if v.is_null() {
                b.remove(&k);
            } else {
                b.insert(k, v);
            }
        }
    }
    base
}
