//! A `configmap` sync source against the real Kubernetes API server: `thv-registry-api` reads the registry file
//! in a ConfigMap's key with the credentials of its kubeconfig (here a service account's token, as in a pod),
//! refused until RBAC grants it `get`; a change of the ConfigMap is synced; a missing key fails the sync naming
//! the keys there are, and the last good data stays served.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use thv_e2e::kube::{TestNamespace, client, grant, service_account_kubeconfig};
use thv_e2e::registry_api::{command, get, http, start_configured, wait_synced};

const ADMIN: &str = "configmap-source-admin-token-0123";
const SCHEMA: &str = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json";

fn registry_file(versions: &[(&str, &str)]) -> String {
    let servers: Vec<Value> = versions
        .iter()
        .map(|(name, version)| {
            json!({"$schema": SCHEMA, "name": name, "description": "From a ConfigMap", "version": version,
                   "remotes": [{"type": "streamable-http", "url": format!("https://{}.example.com/mcp", name.replace('/', "-"))}]})
        })
        .collect();
    json!({"$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/registry.schema.json",
           "version": "1.0.0", "meta": {}, "data": {"servers": servers}})
    .to_string()
}

fn object<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("a valid object")
}

async fn sync_now(base: &str) -> (u16, Value) {
    let resp = http()
        .post(format!("{base}/v1/sources/cluster/sync"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn names(base: &str) -> Vec<String> {
    let (code, page) = get(&format!("{base}/registry/cluster/v0.1/servers?limit=100")).await;
    assert_eq!(code, 200, "{page}");
    page["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}@{}",
                s["server"]["name"].as_str().unwrap(),
                s["server"]["version"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configmap_source_syncs_the_registry_file_in_its_key() {
    let Some(client) = client().await else {
        return;
    };
    let ns = TestNamespace::create(&client, "cmsource").await;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    maps.create(
        &PostParams::default(),
        &object(json!({"metadata": {"name": "team-registry"},
                       "data": {"registry.json": registry_file(&[("io.example/one", "1.0.0")])}})),
    )
    .await
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let reader = service_account_kubeconfig(&client, &ns.name, "reader", home.path()).await;
    // No namespace: the kubeconfig context's (a pod's own namespace, in a cluster).
    let config = home.path().join("registry.toml");
    std::fs::write(
        &config,
        "[[sources]]\nname = \"cluster\"\nconfigmap = { name = \"team-registry\" }\nsync_policy = { interval = \"1h\" }\n\n[[registries]]\nname = \"cluster\"\nsources = [\"cluster\"]\n",
    )
    .unwrap();
    let mut cmd = command(home.path());
    cmd.env("KUBECONFIG", &reader);
    let api = start_configured(cmd, &config, ADMIN);
    let base = api.base.clone();

    // RBAC: the service account may not read ConfigMaps yet.
    wait_synced(&base, "cluster").await;
    let first: Value = http()
        .get(format!("{base}/v1/sources/cluster"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["status"], "failed", "{first}");
    let error = first["lastError"].as_str().unwrap_or_default();
    assert!(
        error.contains(&format!(
            "configmap {}/team-registry key registry.json: HTTP 403: configmaps \"team-registry\" is forbidden",
            ns.name
        )) && error.contains(&format!("system:serviceaccount:{}:reader", ns.name)),
        "{first}"
    );
    assert_eq!(first["type"], "configmap", "{first}");

    // Granted `get` on that one ConfigMap, it syncs.
    grant(
        &client,
        &ns.name,
        "registry-reader",
        "reader",
        json!([{"apiGroups": [""], "resources": ["configmaps"],
                                      "resourceNames": ["team-registry"], "verbs": ["get"]}]),
    )
    .await;
    let (code, body) = sync_now(&base).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(names(&base).await, ["io.example/one@1.0.0"]);

    // A change of the ConfigMap is synced; an unchanged one is skipped.
    let mut map = maps.get("team-registry").await.unwrap();
    map.data = Some(
        [(
            "registry.json".to_string(),
            registry_file(&[("io.example/one", "1.0.0"), ("io.example/two", "2.0.0")]),
        )]
        .into(),
    );
    maps.replace("team-registry", &PostParams::default(), &map)
        .await
        .unwrap();
    let (code, body) = sync_now(&base).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        names(&base).await,
        ["io.example/one@1.0.0", "io.example/two@2.0.0"]
    );
    let (code, body) = sync_now(&base).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["source"]["lastSync"]["mode"], "unchanged", "{body}");

    // The key gone: the sync fails naming the keys there are, and the last good data stays served.
    let mut map = maps.get("team-registry").await.unwrap();
    map.data = Some([("other.json".to_string(), "{}".to_string())].into());
    maps.replace("team-registry", &PostParams::default(), &map)
        .await
        .unwrap();
    let (code, body) = sync_now(&base).await;
    assert_eq!(code, 502, "{body}");
    let message = body.to_string();
    assert!(
        message.contains("has no key registry.json (its keys: other.json)"),
        "{body}"
    );
    assert_eq!(
        names(&base).await,
        ["io.example/one@1.0.0", "io.example/two@2.0.0"]
    );
    // Anonymous readers see the reason only.
    let (_, public) = get(&format!("{base}/v1/sources/cluster")).await;
    assert_eq!(
        public["lastError"], "the registry file could not be read from its ConfigMap",
        "{public}"
    );
}

/// A kubeconfig YAML cannot parse: the error says so without quoting the file (the parser's message quotes the
/// lines around the fault, and there a token sat), in the admin view and the logs alike.
#[tokio::test(flavor = "multi_thread")]
async fn a_broken_kubeconfig_is_reported_without_its_credentials() {
    let home = tempfile::tempdir().unwrap();
    let secret = "s3cr3t-static-token-0123456789abcdef";
    let kubeconfig = home.path().join("broken.kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!("apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: [{secret}\n"),
    )
    .unwrap();
    let config = home.path().join("registry.toml");
    std::fs::write(
        &config,
        "[[sources]]\nname = \"cluster\"\nconfigmap = { name = \"team-registry\" }\nsync_policy = { interval = \"1h\" }\n",
    )
    .unwrap();
    let mut cmd = command(home.path());
    cmd.env("KUBECONFIG", &kubeconfig);
    let api = start_configured(cmd, &config, ADMIN);
    wait_synced(&api.base, "cluster").await;
    let (code, body) = sync_now(&api.base).await;
    assert_eq!(code, 502, "{body}");
    let text = body.to_string();
    assert!(
        text.contains("failed to parse kubeconfig YAML (the parser's message is left out"),
        "{text}"
    );
    assert!(!text.contains(secret), "{text}");
}
