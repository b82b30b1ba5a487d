//! The CustomResourceDefinitions checked in under `deploy/crds/` are the ones the types generate, and the API
//! server takes them: its schema (OpenAPI and CEL rules) refuses bad MCPRegistry specs naming the field, keeps
//! what ToolHive's manifests carry, and serves the status subresource.

mod common;

use std::path::PathBuf;

use common::{crd_dir, install_crds, registry};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use thv_e2e::kube::{TestNamespace, client};
use thv_operator::crd::{self, mcpregistry::MCPRegistry};

/// `deploy/crds/` and the Helm chart's `crds/` hold what the types generate.
#[test]
fn checked_in_crds_are_the_generated_ones() {
    let chart =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/charts/thv-operator/crds");
    for dir in [crd_dir(), chart] {
        for definition in crd::all() {
            let path = dir.join(crd::file_name(&definition));
            let generated = crd::to_yaml(&definition).unwrap();
            let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                checked_in == generated,
                "{} differs from what the types generate: run `cargo run -p thv-operator -- crd --write \
                 deploy/crds --write deploy/charts/thv-operator/crds`",
                path.display()
            );
        }
    }
}

async fn refusal(api: &Api<MCPRegistry>, name: &str, spec: Value) -> String {
    let object: MCPRegistry = match serde_json::from_value(registry(name, spec.clone())) {
        Ok(o) => o,
        // What the Rust type cannot even hold goes to the API server as raw JSON.
        Err(_) => {
            let raw: Api<kube::api::DynamicObject> = Api::namespaced_with(
                api.clone().into_client(),
                api.namespace().unwrap(),
                &kube::discovery::ApiResource::erase::<MCPRegistry>(&()),
            );
            let object = serde_json::from_value(registry(name, spec)).unwrap();
            return match raw.create(&PostParams::default(), &object).await {
                Ok(_) => panic!("{name} was accepted"),
                Err(e) => e.to_string(),
            };
        }
    };
    match api.create(&PostParams::default(), &object).await {
        Ok(_) => panic!("{name} was accepted"),
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            status.message
        }
        Err(e) => panic!("{name}: {e}"),
    }
}

#[tokio::test]
async fn the_api_server_takes_the_mcpregistry_crd_and_enforces_its_schema() {
    let Some(client) = client().await else {
        return;
    };
    install_crds(&client).await;
    let ns = TestNamespace::create(&client, "crd").await;
    let api: Api<MCPRegistry> = Api::namespaced(client.clone(), &ns.name);

    // ToolHive's manifest applies unchanged; the volume's fields are kept as written.
    let good: MCPRegistry = serde_json::from_value(registry("company", json!({}))).unwrap();
    let created = api.create(&PostParams::default(), &good).await.unwrap();
    assert_eq!(created.spec, good.spec);
    let raw: Value = serde_json::to_value(&created).unwrap();
    assert_eq!(
        raw["spec"]["volumes"][0]["configMap"]["items"][0]["path"],
        "registry.json"
    );

    // Bad specs are refused naming the field.
    let cases = [
        (
            "no-config",
            json!({"configYAML": null}),
            "spec.configYAML: Required value",
        ),
        (
            "empty-config",
            json!({"configYAML": ""}),
            "spec.configYAML: Invalid value",
        ),
        (
            "negative",
            json!({"replicas": -1}),
            "spec.replicas: Invalid value: -1",
        ),
        (
            "size-on-postgres",
            json!({"storage": {"type": "postgres", "size": "1Gi"}}),
            "size and storageClassName apply only to sqlite storage",
        ),
        (
            "sqlite-replicas",
            json!({"replicas": 2}),
            "replicas above 1 need a shared database",
        ),
        (
            "lots",
            json!({"storage": {"type": "sqlite", "size": "lots"}}),
            "size must be a quantity such as 1Gi",
        ),
        (
            "mysql",
            json!({"storage": {"type": "mysql"}}),
            "spec.storage.type: Unsupported value: \"mysql\"",
        ),
    ];
    for (name, spec, expected) in cases {
        let message = refusal(&api, name, spec).await;
        assert!(message.contains(expected), "{name}: {message}");
    }

    // The status subresource: the controller's writes, not the user's.
    let status = json!({"status": {"phase": "Ready", "url": "http://company-api.ns:8080", "readyReplicas": 1,
        "conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": "1 replica ready",
                        "lastTransitionTime": "2026-12-07T00:00:00Z"}]}});
    let patched = api
        .patch_status("company", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let shown = patched.status.unwrap();
    assert_eq!(shown.ready_replicas, Some(1));
    assert_eq!(shown.conditions[0].type_, "Ready");
}
