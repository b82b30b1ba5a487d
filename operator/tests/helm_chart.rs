//! The Helm chart (`deploy/charts/thv-operator`) with the real `helm` (v4, from the Go module proxy:
//! `scripts/install-peer-tools.sh`): it lints, renders a ClusterRole or, for one watched namespace, a Role, and
//! installs onto the test API server; the controller then runs with the chart's service account and nothing but
//! the permissions the chart grants it, and reconciles an MCPRegistry through to its deletion.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use thv_e2e::kube::{TestNamespace, client, kubeconfig, service_account_kubeconfig};
use thv_e2e::thv::skip;
use thv_operator::crd::mcpregistry::MCPRegistry;

fn chart() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/charts/thv-operator")
}

/// `helm`, or skip (fail under `CI=true`) when it is not installed.
fn helm() -> Option<&'static str> {
    if Command::new("helm").arg("version").output().is_ok() {
        Some("helm")
    } else {
        skip("helm is not installed: scripts/install-peer-tools.sh (.ci/run runs it)")
    }
}

fn run(helm: &str, args: &[&str]) -> Output {
    let home = std::env::temp_dir().join("thv-helm-home");
    let out = Command::new(helm)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .args(args)
        .output()
        .expect("helm runs");
    assert!(
        out.status.success(),
        "helm {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn the_chart_lints_and_renders_cluster_or_namespace_permissions() {
    let Some(helm) = helm() else {
        return;
    };
    let chart = chart();
    let chart = chart.to_str().unwrap();
    run(helm, &["lint", "--strict", chart]);
    let cluster = String::from_utf8(run(helm, &["template", "thv", chart]).stdout).unwrap();
    assert!(cluster.contains("kind: ClusterRole\n"), "{cluster}");
    assert!(cluster.contains("kind: ClusterRoleBinding\n"), "{cluster}");
    assert!(!cluster.contains("--namespace"), "{cluster}");
    let scoped = String::from_utf8(
        run(
            helm,
            &["template", "thv", chart, "--set", "watchNamespace=team-a"],
        )
        .stdout,
    )
    .unwrap();
    assert!(
        scoped.contains("kind: Role\n") && scoped.contains("namespace: team-a"),
        "{scoped}"
    );
    assert!(
        scoped.contains("- --namespace\n            - \"team-a\""),
        "{scoped}"
    );
    assert!(!scoped.contains("ClusterRole"), "{scoped}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_installs_and_its_permissions_run_the_controller() {
    let Some(client) = client().await else {
        return;
    };
    let Some(helm) = helm() else {
        return;
    };
    let ns = TestNamespace::create(&client, "helm").await;
    let config = kubeconfig().expect("checked by client()");
    let chart = chart();
    run(
        helm,
        &[
            "install",
            "thv",
            chart.to_str().unwrap(),
            "--namespace",
            &ns.name,
            "--kubeconfig",
            config.to_str().unwrap(),
            "--set",
            &format!("watchNamespace={}", ns.name),
        ],
    );
    let operator: Deployment = Api::namespaced(client.clone(), &ns.name)
        .get("thv-thv-operator")
        .await
        .unwrap();
    let args = operator.spec.template.spec.unwrap().containers[0]
        .args
        .clone()
        .unwrap();
    assert_eq!(args, ["run", "--namespace", ns.name.as_str()]);

    // The controller with the chart's service account (no kubelet here to run its pod).
    let home = tempfile::tempdir().unwrap();
    let account =
        service_account_kubeconfig(&client, &ns.name, "thv-thv-operator", home.path()).await;
    let options = kube::config::KubeConfigOptions::default();
    let kubeconfig = kube::config::Kubeconfig::read_from(&account).unwrap();
    let as_operator = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .unwrap(),
    )
    .unwrap();
    let watched = ns.name.clone();
    let controller = tokio::spawn(async move {
        thv_operator::registry::run(as_operator, Some(&watched)).await;
    });
    let api: Api<MCPRegistry> = Api::namespaced(client.clone(), &ns.name);
    let manifest: MCPRegistry = serde_json::from_value(common::registry(
        "team",
        json!({"storage": {"type": "configmap"}, "replicas": 2}),
    ))
    .unwrap();
    api.create(&PostParams::default(), &manifest).await.unwrap();
    let mut phase = None;
    for _ in 0..200 {
        phase = api.get("team").await.unwrap().status.and_then(|s| s.phase);
        if phase.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        phase.is_some(),
        "the chart's permissions reconciled the registry"
    );
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    assert!(deployments.get_opt("team-api").await.unwrap().is_some());
    api.delete("team", &DeleteParams::default()).await.unwrap();
    let mut gone = false;
    for _ in 0..200 {
        if api.get_opt("team").await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the finalizer ran with the chart's permissions");
    controller.abort();
    run(
        helm,
        &[
            "uninstall",
            "thv",
            "--namespace",
            &ns.name,
            "--kubeconfig",
            config.to_str().unwrap(),
        ],
    );
    ns.delete_and_wait(Duration::ZERO).await;
}
