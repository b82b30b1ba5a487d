//! The `Synced` condition against what a real `thv-registry-api` answers at `/v1/sources` (read anonymously, as
//! the operator reads it through the API server's service proxy): a failed source makes it False naming the
//! source and its public reason, a synced registry True. No kubelet runs here, so the operator cannot reach a
//! registry pod; this checks the contract between the two sides instead.

mod common;

use k8s_openapi::api::apps::v1::Deployment;
use serde_json::json;
use thv_e2e::registry_api::{command, get, start_configured, wait_synced};
use thv_operator::crd::mcpregistry::MCPRegistry;
use thv_operator::registry::status::{SourceList, SyncView, observe};

const SCHEMA: &str = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json";

/// The status the operator would write for a registry with one ready replica whose server answers `base`.
async fn status_from(base: &str) -> Vec<(String, String, String, String)> {
    let (code, body) = get(&format!("{base}/v1/sources")).await;
    assert_eq!(code, 200, "{body}");
    let list: SourceList =
        serde_json::from_value(body.clone()).expect("the operator reads /v1/sources");
    let registry: MCPRegistry =
        serde_json::from_value(common::registry("company", json!({}))).unwrap();
    let deployment: Deployment = serde_json::from_value(json!({
        "spec": {"replicas": 1, "selector": {}, "template": {}},
        "status": {"readyReplicas": 1}
    }))
    .unwrap();
    let status = observe(
        &registry,
        Some(&deployment),
        &SyncView::Known(list.sources),
        None,
    );
    status
        .conditions
        .into_iter()
        .map(|c| (c.type_, c.status, c.reason, c.message))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn synced_follows_the_registry_servers_own_answer() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("registry.json");
    std::fs::write(
        &file,
        json!([{"$schema": SCHEMA, "name": "io.example/one", "description": "One", "version": "1.0.0",
                "remotes": [{"type": "streamable-http", "url": "https://one.example.com/mcp"}]}])
        .to_string(),
    )
    .unwrap();
    let config = home.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - name: catalog\n    file: {{path: {}}}\n  - name: missing\n    file: {{path: /nonexistent/registry.json}}\n",
            file.display()
        ),
    )
    .unwrap();
    let api = start_configured(command(home.path()), &config, "status-contract-admin-0123");
    wait_synced(&api.base, "catalog").await;
    wait_synced(&api.base, "missing").await;
    let conditions = status_from(&api.base).await;
    assert_eq!(conditions[0].0, "Ready");
    assert_eq!(
        (conditions[0].1.as_str(), conditions[0].2.as_str()),
        ("True", "Available")
    );
    let synced = &conditions[1];
    assert_eq!(
        (synced.0.as_str(), synced.1.as_str(), synced.2.as_str()),
        ("Synced", "False", "SyncFailed")
    );
    assert_eq!(
        synced.3, "missing: the registry file could not be read",
        "the public reason only"
    );
    drop(api);

    // The catalog alone: synced.
    std::fs::write(
        &config,
        format!(
            "sources:\n  - name: catalog\n    file: {{path: {}}}\n",
            file.display()
        ),
    )
    .unwrap();
    let api = start_configured(command(home.path()), &config, "status-contract-admin-0123");
    wait_synced(&api.base, "catalog").await;
    let conditions = status_from(&api.base).await;
    assert_eq!(
        (
            conditions[1].1.as_str(),
            conditions[1].2.as_str(),
            conditions[1].3.as_str()
        ),
        ("True", "Synced", "1 sources synced")
    );
}
