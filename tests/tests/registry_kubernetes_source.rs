//! A `kubernetes` sync source against the real Kubernetes API server: `thv-registry-api`, configured in
//! toolhive-registry-server's format (`kubernetes: {}`, the namespace from `THV_REGISTRY_WATCH_NAMESPACE` as
//! ToolHive's operator sets it) and running as a service account, serves the MCPServer, MCPRemoteProxy and
//! VirtualMCPServer resources annotated for export as entries: refused until RBAC grants it list and watch,
//! then synced, and kept current by its watch (a newly exported resource appears, a deleted one goes) without
//! a manual sync. Resources of other namespaces, unexported ones and those with per-entry claims are not served.

use std::time::{Duration, Instant};

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use thv_e2e::kube::{
    TestNamespace, client, grant, install_toolhive_workload_crds, service_account_kubeconfig,
};
use thv_e2e::registry_api::{command, get, http, start_configured, wait_synced};

const ADMIN: &str = "kubernetes-source-admin-token-0123";

fn object<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("a valid object")
}

fn api(client: &kube::Client, ns: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let ar = ApiResource {
        group: "toolhive.stacklok.dev".into(),
        version: "v1beta1".into(),
        api_version: "toolhive.stacklok.dev/v1beta1".into(),
        kind: kind.into(),
        plural: plural.into(),
    };
    Api::namespaced_with(client.clone(), ns, &ar)
}

/// The annotations that export a resource at `url`.
fn exported(url: &str, description: &str) -> Value {
    json!({
        "toolhive.stacklok.dev/registry-export": "true",
        "toolhive.stacklok.dev/registry-url": url,
        "toolhive.stacklok.dev/registry-description": description,
    })
}

async fn create(api: &Api<DynamicObject>, kind: &str, name: &str, annotations: Value, spec: Value) {
    let o: DynamicObject = object(json!({
        "apiVersion": "toolhive.stacklok.dev/v1beta1", "kind": kind,
        "metadata": {"name": name, "annotations": annotations}, "spec": spec
    }));
    api.create(&PostParams::default(), &o)
        .await
        .unwrap_or_else(|e| panic!("creating {kind} {name}: {e}"));
}

/// `name@version` of every entry the registry serves.
async fn served(base: &str) -> Vec<String> {
    let (code, page) = get(&format!("{base}/registry/cluster/v0.1/servers?limit=100")).await;
    assert_eq!(code, 200, "{page}");
    let mut names: Vec<String> = page["servers"]
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
        .collect();
    names.sort();
    names
}

/// Waits (at most 20 s) until the registry serves `expected`, with no sync asked for.
async fn wait_served(base: &str, expected: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = served(base).await;
        if now == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "served {now:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn source(base: &str) -> Value {
    http()
        .get(format!("{base}/v1/sources/cluster"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn exported_toolhive_resources_are_served_and_followed_by_the_watch() {
    let Some(client) = client().await else {
        return;
    };
    install_toolhive_workload_crds(&client).await;
    let ns = TestNamespace::create(&client, "k8ssource").await;
    let other = TestNamespace::create(&client, "k8ssource-other").await;
    let servers = api(&client, &ns.name, "MCPServer", "mcpservers");
    let proxies = api(&client, &ns.name, "MCPRemoteProxy", "mcpremoteproxies");
    let virtuals = api(&client, &ns.name, "VirtualMCPServer", "virtualmcpservers");
    let mut fetch = exported(
        "http://mcp-fetch-proxy.team.svc:8080/mcp",
        "Fetches web pages",
    );
    fetch["toolhive.stacklok.dev/tools"] = json!(r#"["fetch"]"#);
    create(
        &servers,
        "MCPServer",
        "fetch",
        fetch,
        json!({"image": "ghcr.io/acme/fetch:v1.2.0", "transport": "stdio"}),
    )
    .await;
    create(
        &proxies,
        "MCPRemoteProxy",
        "docs",
        exported("https://docs.example.com/mcp", "Company docs"),
        json!({"remoteUrl": "https://docs.example.com/mcp"}),
    )
    .await;
    let mut claimed = exported("http://vmcp-all.team.svc:4483/mcp", "Everything");
    claimed["toolhive.stacklok.dev/authz-claims"] = json!(r#"{"team": "platform"}"#);
    create(
        &virtuals,
        "VirtualMCPServer",
        "all",
        claimed,
        json!({"groupRef": {"name": "g"}}),
    )
    .await;
    create(
        &servers,
        "MCPServer",
        "hidden",
        json!({}),
        json!({"image": "ghcr.io/acme/hidden:1.0.0"}),
    )
    .await;
    create(
        &api(&client, &other.name, "MCPServer", "mcpservers"),
        "MCPServer",
        "elsewhere",
        exported("http://elsewhere/mcp", "Another namespace's"),
        json!({"image": "ghcr.io/acme/elsewhere:1.0.0"}),
    )
    .await;

    let home = tempfile::tempdir().unwrap();
    let reader = service_account_kubeconfig(&client, &ns.name, "registry", home.path()).await;
    let config = home.path().join("config.yaml");
    std::fs::write(
        &config,
        "sources:\n  - name: cluster\n    kubernetes: {}\nregistries:\n  - name: cluster\n    sources: [cluster]\nauth:\n  mode: anonymous\n",
    )
    .unwrap();
    let mut cmd = command(home.path());
    cmd.env("KUBECONFIG", &reader)
        .env("THV_REGISTRY_WATCH_NAMESPACE", &ns.name);
    let registry = start_configured(cmd, &config, ADMIN);
    let base = registry.base.clone();

    // Without RBAC the sync fails, naming what to grant.
    wait_synced(&base, "cluster").await;
    let first = source(&base).await;
    assert_eq!(first["status"], "failed", "{first}");
    assert_eq!(first["type"], "kubernetes", "{first}");
    let error = first["lastError"].as_str().unwrap_or_default();
    assert!(
        error.contains(&format!(
            "this server may not list mcpservers.toolhive.stacklok.dev in namespace {} (grant get, list and watch on it)",
            ns.name
        )),
        "{first}"
    );

    // Granted what ToolHive's operator grants a registry's service account, it syncs.
    grant(
        &client,
        &ns.name,
        "registry",
        "registry",
        json!([{"apiGroups": ["toolhive.stacklok.dev"],
                                      "resources": ["mcpservers", "mcpremoteproxies", "virtualmcpservers"],
                                      "verbs": ["get", "list", "watch"]}]),
    )
    .await;
    let fetch_name = format!("com.toolhive.k8s.{}/fetch", ns.name);
    let docs_name = format!("com.toolhive.k8s.{}/docs", ns.name);
    // The watch (retrying with a backoff once RBAC allows it) or the failed sync's retry brings the entries.
    let deadline = Instant::now() + Duration::from_secs(90);
    while served(&base).await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "never synced: {}",
            source(&base).await
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    wait_served(
        &base,
        &[format!("{docs_name}@1.0.0"), format!("{fetch_name}@v1.2.0")],
    )
    .await;

    // The entry as toolhive-registry-server makes it.
    let (code, entry) = get(&format!(
        "{base}/registry/cluster/v0.1/servers/{}/versions/latest",
        fetch_name.replace('/', "%2F")
    ))
    .await;
    assert_eq!(code, 200, "{entry}");
    let server = &entry["server"];
    assert_eq!(server["description"], "Fetches web pages");
    assert_eq!(
        server["remotes"][0]["url"],
        "http://mcp-fetch-proxy.team.svc:8080/mcp"
    );
    assert_eq!(
        server["packages"][0]["identifier"],
        "ghcr.io/acme/fetch:v1.2.0"
    );
    let ext = &server["_meta"]["io.modelcontextprotocol.registry/publisher-provided"]["io.github.stacklok"]
        ["http://mcp-fetch-proxy.team.svc:8080/mcp"];
    assert_eq!(ext["tools"], json!(["fetch"]), "{server}");
    assert_eq!(ext["metadata"]["kubernetes"]["kind"], "MCPServer");
    assert_eq!(ext["metadata"]["kubernetes"]["namespace"], ns.name.as_str());

    // The resource with per-entry claims is reported, not served; anonymous readers see only the count (the
    // names of resources hidden by claims are not theirs to see).
    let report = source(&base).await;
    assert!(
        report
            .to_string()
            .contains("per-entry claims are not supported"),
        "{report}"
    );
    let (code, public) = get(&format!("{base}/v1/sources/cluster")).await;
    assert_eq!(code, 200);
    assert_eq!(public["lastSync"]["skipped"], 1, "{public}");
    assert!(
        !public.to_string().contains("/all"),
        "the claimed resource is not named publicly: {public}"
    );

    // The watch follows the cluster: a resource newly annotated appears, a deleted one goes.
    let annotate = json!({"metadata": {"annotations": exported("http://hidden.team.svc:8080/mcp", "Now public")}});
    servers
        .patch("hidden", &PatchParams::default(), &Patch::Merge(&annotate))
        .await
        .unwrap();
    let hidden_name = format!("com.toolhive.k8s.{}/hidden", ns.name);
    wait_served(
        &base,
        &[
            format!("{docs_name}@1.0.0"),
            format!("{fetch_name}@v1.2.0"),
            format!("{hidden_name}@1.0.0"),
        ],
    )
    .await;
    servers
        .delete("fetch", &DeleteParams::default())
        .await
        .unwrap();
    wait_served(
        &base,
        &[format!("{docs_name}@1.0.0"), format!("{hidden_name}@1.0.0")],
    )
    .await;
    let (code, _) = get(&format!(
        "{base}/registry/cluster/v0.1/servers/{}/versions/latest",
        fetch_name.replace('/', "%2F")
    ))
    .await;
    assert_eq!(code, 404, "a deleted resource's entry is gone");
}

/// `THV_REGISTRY_WATCH_NAMESPACE` set but naming nothing (a template's empty value) is refused, not taken for
/// every namespace.
#[test]
fn an_empty_watch_namespace_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config.yaml");
    std::fs::write(&config, "sources:\n  - name: cluster\n    kubernetes: {}\n").unwrap();
    for empty in ["", " , "] {
        let out = command(home.path())
            .env("THV_REGISTRY_WATCH_NAMESPACE", empty)
            .args(["--listen", "127.0.0.1:0", "--no-seed", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("THV_REGISTRY_WATCH_NAMESPACE: set but names no namespace (for sources[0].kubernetes)"),
            "{stderr}"
        );
    }
}
