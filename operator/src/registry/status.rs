//! An MCPRegistry's status from what its objects and its server say: `Ready` from the Deployment's ready
//! replicas, `Synced` from the registry API's `/v1/sources` (read through the API server's service proxy, so the
//! operator needs no route into the cluster's network), the phase and the URL.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde::Deserialize;

use crate::crd::mcpregistry::{MCPRegistry, MCPRegistryPhase, MCPRegistryStatus};

/// What `/v1/sources` says of one source (the fields the status uses).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceState {
    pub name: String,
    pub status: String,
    #[serde(default)]
    pub last_error: Option<String>,
}

/// `GET /v1/sources`.
#[derive(Debug, Clone, Deserialize)]
pub struct SourceList {
    pub sources: Vec<SourceState>,
}

/// What the sync sources' states come to.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncView {
    /// The server could not be asked (no replica ready, or the proxy failed): why.
    Unknown(String),
    Known(Vec<SourceState>),
}

fn condition(type_: &str, ok: Option<bool>, reason: &str, message: String) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: match ok {
            Some(true) => "True",
            Some(false) => "False",
            None => "Unknown",
        }
        .to_owned(),
        reason: reason.to_owned(),
        message,
        last_transition_time: Time(k8s_openapi::jiff::Timestamp::now()),
        observed_generation: None,
    }
}

fn synced(view: &SyncView) -> Condition {
    let sources = match view {
        SyncView::Unknown(why) => {
            return condition("Synced", None, "RegistryUnreachable", why.clone());
        }
        SyncView::Known(sources) => sources,
    };
    let failed: Vec<String> = sources
        .iter()
        .filter(|s| s.status == "failed")
        .map(|s| {
            format!(
                "{}: {}",
                s.name,
                s.last_error.as_deref().unwrap_or("failed")
            )
        })
        .collect();
    let pending: Vec<&str> = sources
        .iter()
        .filter(|s| s.status == "pending")
        .map(|s| s.name.as_str())
        .collect();
    if !failed.is_empty() {
        condition("Synced", Some(false), "SyncFailed", failed.join("; "))
    } else if !pending.is_empty() {
        condition(
            "Synced",
            Some(false),
            "Syncing",
            format!("not synced yet: {}", pending.join(", ")),
        )
    } else {
        condition(
            "Synced",
            Some(true),
            "Synced",
            format!("{} sources synced", sources.len()),
        )
    }
}

/// Keeps a condition's transition time when its status did not change (so that an unchanged status is the same
/// object, and a status update changes nothing).
fn keep_transition(new: &mut Condition, old: &[Condition]) {
    if let Some(previous) = old.iter().find(|c| c.type_ == new.type_)
        && previous.status == new.status
    {
        new.last_transition_time = previous.last_transition_time.clone();
    }
}

/// The status the registry should show. `spec_error`: a spec the operator could not turn into objects
/// (`spec.<field>: ...`: InvalidSpec), or objects the API server refused (ApplyFailed).
pub fn observe(
    registry: &MCPRegistry,
    deployment: Option<&Deployment>,
    sync: &SyncView,
    spec_error: Option<String>,
) -> MCPRegistryStatus {
    let old = registry
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    let desired = deployment.and_then(|d| d.spec.replicas).unwrap_or(1);
    let ready = deployment
        .and_then(|d| d.status.as_ref())
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    let mut ready_condition = match &spec_error {
        Some(e) if e.starts_with("spec.") => {
            condition("Ready", Some(false), "InvalidSpec", e.clone())
        }
        Some(e) => condition("Ready", Some(false), "ApplyFailed", e.clone()),
        None if ready >= 1 => condition(
            "Ready",
            Some(true),
            "Available",
            format!("{ready} of {desired} replicas ready"),
        ),
        None => condition(
            "Ready",
            Some(false),
            "Unavailable",
            format!("{ready} of {desired} replicas ready"),
        ),
    };
    let mut synced_condition = synced(sync);
    keep_transition(&mut ready_condition, &old);
    keep_transition(&mut synced_condition, &old);
    let phase = match (&spec_error, ready >= 1) {
        (Some(_), _) => MCPRegistryPhase::Failed,
        (None, true) => MCPRegistryPhase::Ready,
        (None, false) => MCPRegistryPhase::Pending,
    };
    let generation = registry.metadata.generation;
    for c in [&mut ready_condition, &mut synced_condition] {
        c.observed_generation = generation;
    }
    let names = super::objects::Names::of(registry);
    let namespace = registry.metadata.namespace.clone().unwrap_or_default();
    MCPRegistryStatus {
        message: Some(ready_condition.message.clone()),
        conditions: vec![ready_condition, synced_condition],
        observed_generation: generation,
        phase: Some(phase),
        url: Some(format!(
            "http://{}.{namespace}.svc.cluster.local:{}",
            names.service,
            super::objects::API_PORT
        )),
        ready_replicas: Some(ready),
    }
}
