//! `thv-registry-api --database-url configmap:///PREFIX` as it runs in a pod: a service account's credentials,
//! the namespace of its context, the RBAC the README gives. Refused with a clear error without that Role; with
//! it, created and seeded on first start, shared by a second instance, and kept across a kill.

use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use thv_e2e::kube::{TestNamespace, client, service_account_kubeconfig};
use thv_e2e::registry_api::{command, get, http, list_all, start_command};

const ADMIN: &str = "configmap-storage-admin-token-0123";

fn object<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("a valid object")
}

/// The README's Role for the ConfigMap storage.
const STORAGE_VERBS: [&str; 6] = ["get", "list", "watch", "create", "update", "delete"];

/// A Role granting `verbs` on ConfigMaps (replaced if there is one), bound to the service account `registry`.
async fn grant_storage_role(client: &kube::Client, namespace: &str, verbs: &[&str]) {
    let roles = Api::<Role>::namespaced(client.clone(), namespace);
    let _ = roles
        .delete("thv-registry-storage", &Default::default())
        .await;
    roles
        .create(
            &PostParams::default(),
            &object(json!({"metadata": {"name": "thv-registry-storage"},
                           "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": verbs}]})),
        )
        .await
        .unwrap();
    if Api::<RoleBinding>::namespaced(client.clone(), namespace)
        .get_opt("thv-registry-storage")
        .await
        .unwrap()
        .is_some()
    {
        return;
    }
    Api::<RoleBinding>::namespaced(client.clone(), namespace)
        .create(
            &PostParams::default(),
            &object(json!({"metadata": {"name": "thv-registry-storage"},
                           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "thv-registry-storage"},
                           "subjects": [{"kind": "ServiceAccount", "name": "registry", "namespace": namespace}]})),
        )
        .await
        .unwrap();
}

async fn server_count(base: &str) -> usize {
    list_all(&format!("{base}/v0.1"), "").await.len()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_registry_runs_on_configmaps_with_a_service_accounts_role() {
    let Some(client) = client().await else {
        return;
    };
    let ns = TestNamespace::create(&client, "cmstorage").await;
    let home = tempfile::tempdir().unwrap();
    let account = service_account_kubeconfig(&client, &ns.name, "registry", home.path()).await;
    let args = [
        "--database-url",
        "configmap:///registry",
        "--admin-token",
        ADMIN,
    ];

    // Refused at start: what it printed.
    let refused = || {
        let out = command(home.path())
            .env("KUBECONFIG", &account)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{stderr}");
        stderr
    };

    // Without the Role: refused at start, naming the namespace, the account and what it may not do.
    let stderr = refused();
    assert!(
        stderr.contains("configmaps")
            && stderr.contains("forbidden")
            && stderr.contains(&format!("system:serviceaccount:{}:registry", ns.name)),
        "{stderr}"
    );

    // Without `watch` (a replica would never see the others' writes): refused, naming it.
    grant_storage_role(
        &client,
        &ns.name,
        &["get", "list", "create", "update", "delete"],
    )
    .await;
    let stderr = refused();
    assert!(
        stderr.contains(&format!(
            "these credentials may not watch configmaps in namespace {}",
            ns.name
        )),
        "{stderr}"
    );

    // With it: created and seeded (the bundled registry) on first start.
    grant_storage_role(&client, &ns.name, &STORAGE_VERBS).await;
    let mut cmd = command(home.path());
    cmd.env("KUBECONFIG", &account);
    let mut first = start_command(cmd, "127.0.0.1:0", &args);
    assert_eq!(server_count(&first.base).await, 102);
    let (code, health) = get(&format!("{}/v0.1/health", first.base)).await;
    assert_eq!((code, &health["status"]), (200, &json!("ok")), "{health}");

    // A second instance on the same ConfigMaps serves what the first publishes.
    let other_home = tempfile::tempdir().unwrap();
    let mut cmd = command(other_home.path());
    cmd.env("KUBECONFIG", &account);
    let second = start_command(cmd, "127.0.0.1:0", &args);
    let doc = json!({
        "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
        "name": "com.example/on-configmaps", "description": "Stored in ConfigMaps", "version": "1.0.0",
        "remotes": [{"type": "streamable-http", "url": "https://configmaps.example.com/mcp"}]
    });
    let resp = http()
        .post(format!("{}/v0/publish", first.base))
        .bearer_auth(ADMIN)
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let path = "/v0.1/servers/com.example%2Fon-configmaps/versions/latest";
    let mut seen = 0;
    for _ in 0..100 {
        seen = get(&format!("{}{path}", second.base)).await.0;
        if seen == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(seen, 200, "the second instance sees the publish");

    // Killed (no shutdown), and started again: everything is there, nothing seeded twice.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    drop(second);
    let mut cmd = command(home.path());
    cmd.env("KUBECONFIG", &account);
    let again = start_command(cmd, "127.0.0.1:0", &args);
    assert_eq!(server_count(&again.base).await, 103);
    drop(again);
    ns.delete_and_wait(std::time::Duration::ZERO).await;
}
