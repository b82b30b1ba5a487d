//! The test control plane is a real Kubernetes: kube-apiserver (its version, optimistic concurrency, the 1 MiB
//! object limit, schema validation of what it stores) over etcd, with kube-controller-manager's controllers
//! (a Deployment gets its ReplicaSet, a deleted namespace is emptied and removed).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use thv_e2e::kube::{TestNamespace, client};

fn config_map(name: &str, data: BTreeMap<String, String>) -> ConfigMap {
    ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    }
}

fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

#[tokio::test]
async fn the_test_control_plane_is_a_real_kubernetes() {
    let Some(client) = client().await else {
        return;
    };
    let version = client.apiserver_version().await.expect("/version");
    assert_eq!(
        (version.major.as_str(), version.minor.as_str()),
        ("1", "37"),
        "{version:?}"
    );
    let ns = TestNamespace::create(&client, "cluster").await;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);

    // Optimistic concurrency: an update carrying a stale resourceVersion is refused with 409.
    let created = maps
        .create(
            &PostParams::default(),
            &config_map("a", [("k".into(), "1".into())].into()),
        )
        .await
        .unwrap();
    let mut first = created.clone();
    first.data = Some([("k".into(), "2".into())].into());
    maps.replace("a", &PostParams::default(), &first)
        .await
        .unwrap();
    let mut stale = created.clone();
    stale.data = Some([("k".into(), "3".into())].into());
    let e = maps
        .replace("a", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert_eq!(status_code(&e), Some(409), "{e}");
    assert_eq!(
        maps.get("a").await.unwrap().data.unwrap()["k"],
        "2",
        "the stale update changed nothing"
    );

    // A ConfigMap holds at most 1 MiB of data.
    let big = config_map("big", [("k".into(), "x".repeat(1024 * 1024 + 1))].into());
    let e = maps.create(&PostParams::default(), &big).await.unwrap_err();
    assert_eq!(status_code(&e), Some(422), "{e}");
    assert!(e.to_string().contains("1048576"), "{e}");

    // kube-controller-manager runs: a Deployment gets its ReplicaSet (its pods stay pending: there is no node).
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "localhost/none:latest"}]}
            }
        }
    }))
    .unwrap();
    Api::<Deployment>::namespaced(client.clone(), &ns.name)
        .create(&PostParams::default(), &deployment)
        .await
        .unwrap();
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), &ns.name);
    let mut found = false;
    for _ in 0..120 {
        if !sets
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
        {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        found,
        "no ReplicaSet for the Deployment within 30 s: is kube-controller-manager running?"
    );

    // The namespace controller empties a deleted namespace and removes it.
    assert!(
        ns.delete_and_wait(Duration::from_secs(60)).await,
        "namespace {} still there 60 s after its deletion",
        ns.name
    );
}
