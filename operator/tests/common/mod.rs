//! What the operator's tests share: the CRDs installed on the test control plane, and ToolHive-shaped
//! MCPRegistry manifests.

#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::{Value, json};
use thv_operator::crd;

pub fn crd_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/crds")
}

/// Applies the checked-in CRDs and waits until each is established.
pub async fn install_crds(client: &kube::Client) {
    for definition in crd::all() {
        let path = crd_dir().join(crd::file_name(&definition));
        let yaml = std::fs::read_to_string(&path).unwrap();
        let object: Value = serde_yaml_ng::from_str(&yaml).unwrap();
        thv_e2e::kube::install_crd(client, &object).await;
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
