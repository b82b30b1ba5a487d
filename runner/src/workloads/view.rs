//! What `thv list` and `thv status` show: a workload's state, derived from its status record, its proxy
//! process and its container (as the engine reports it now).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use thv_core::runconfig::RunConfig;

use super::{Manager, proxy_process, proxy_url};
use crate::runtime::WorkloadInfo;
use crate::state::Desired;

/// A workload's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadState {
    /// Proxy and container (if any) run.
    Running,
    /// Neither runs.
    Stopped,
    /// One runs without the other (the proxy without its container, or the container without a proxy), or
    /// neither though the workload should run (its proxy was killed).
    Unhealthy,
    /// The engine could not be asked.
    Unknown,
}

impl fmt::Display for WorkloadState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Running => "running",
            Self::Stopped => "stopped",
            Self::Unhealthy => "unhealthy",
            Self::Unknown => "unknown",
        })
    }
}

/// One row of `thv list` (and `thv status`), also its JSON shape.
#[derive(Debug, Clone, Serialize)]
pub struct WorkloadView {
    pub name: String,
    /// Image, package (`uvx://…`) or remote URL.
    pub package: String,
    pub url: String,
    pub port: Option<u16>,
    pub transport_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_mode: Option<String>,
    pub status: WorkloadState,
    /// Why the state is what it is, when not plainly running or stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_context: Option<String>,
    pub group: String,
    /// The user's container labels (not the `toolhive*` ones).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The tools the workload exposes when filtered (`--tools`); absent: all of the server's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    pub remote: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_pid: Option<u32>,
    /// The proxy's Prometheus endpoint (`--metrics-port`), while the proxy runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    pub desired: Desired,
}

impl Manager {
    /// Every workload with its current state. When the engine cannot be asked, container workloads are
    /// `unknown` (the reason in `status_context`), and the list still shows.
    pub async fn list(&self) -> anyhow::Result<Vec<WorkloadView>> {
        let names = self.store().names()?;
        let mut containers: Result<BTreeMap<String, WorkloadInfo>, String> = Ok(BTreeMap::new());
        let mut has_container = false;
        let mut rcs = Vec::new();
        for name in &names {
            let rc = self.store().load_runconfig(name)?;
            has_container |= !rc.is_remote();
            rcs.push(rc);
        }
        if has_container {
            containers = match self.runtime().await {
                Ok(rt) => rt
                    .list()
                    .await
                    .map(|list| list.into_iter().map(|i| (i.name.clone(), i)).collect())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
        }
        let mut out = Vec::new();
        for rc in rcs {
            out.push(self.view(&rc, &containers)?);
        }
        Ok(out)
    }

    /// One workload's state.
    pub async fn status(&self, name: &str) -> anyhow::Result<WorkloadView> {
        let rc = self.store().load_runconfig(name)?;
        let mut containers = Ok(BTreeMap::new());
        if !rc.is_remote() {
            let cname = crate::workloads::container_name(&rc);
            containers = match self.runtime().await {
                Ok(rt) => match rt.inspect(&cname).await {
                    Ok(i) => Ok(BTreeMap::from([(i.name.clone(), i)])),
                    Err(crate::runtime::RuntimeError::NotFound(_)) => Ok(BTreeMap::new()),
                    Err(e) => Err(e.to_string()),
                },
                Err(e) => Err(e.to_string()),
            };
        }
        self.view(&rc, &containers)
    }

    fn view(
        &self,
        rc: &RunConfig,
        containers: &Result<BTreeMap<String, WorkloadInfo>, String>,
    ) -> anyhow::Result<WorkloadView> {
        let status = self.store().load_status(&rc.name)?;
        let proxy_alive = status
            .proxy_pid
            .is_some_and(|pid| proxy_process::is_proxy_of(pid, &rc.name));
        let cname = crate::workloads::container_name(rc);
        // Not running though it should (its proxy was killed, or its server exited): unhealthy, as ToolHive
        // shows it, not stopped like a workload the user stopped.
        let should_run = status.desired == Desired::Running;
        let gone = || {
            Some(format!(
                "it should run but its proxy is gone (`thv start {0}` starts it again, `thv stop {0}` stops it)",
                rc.name
            ))
        };
        let (state, context, container_state) = if rc.is_remote() {
            match (proxy_alive, should_run) {
                (true, _) => (WorkloadState::Running, None, None),
                (false, true) => (WorkloadState::Unhealthy, gone(), None),
                (false, false) => (WorkloadState::Stopped, None, None),
            }
        } else {
            match containers {
                Err(e) => (WorkloadState::Unknown, Some(e.clone()), None),
                Ok(map) => {
                    let info = map.get(&cname);
                    let running = info.is_some_and(|i| i.state.is_running());
                    let cstate = info.map_or_else(|| "missing".to_owned(), |i| i.state.to_string());
                    match (proxy_alive, running) {
                        (true, true) => (WorkloadState::Running, None, Some(cstate)),
                        (false, false) if should_run => {
                            (WorkloadState::Unhealthy, gone(), Some(cstate))
                        }
                        (false, false) => (WorkloadState::Stopped, None, Some(cstate)),
                        (true, false) => (
                            WorkloadState::Unhealthy,
                            Some(format!("the proxy runs but the container is {cstate}")),
                            Some(cstate),
                        ),
                        (false, true) => (
                            WorkloadState::Unhealthy,
                            Some("the container runs but its proxy does not (`thv start` restarts it)".into()),
                            Some(cstate),
                        ),
                    }
                }
            }
        };
        let package = match (&rc.remote_url, &rc.package, &rc.image) {
            (Some(u), _, _) => u.clone(),
            (_, Some(p), _) => p.to_string(),
            (_, _, Some(i)) => i.clone(),
            _ => String::new(),
        };
        Ok(WorkloadView {
            name: rc.name.clone(),
            package,
            url: proxy_url(rc),
            port: rc.port,
            transport_type: rc.transport.to_string(),
            proxy_mode: rc.effective_proxy_mode().map(|m| m.as_str().to_owned()),
            status: state,
            status_context: context,
            group: rc.group_name().to_owned(),
            labels: rc
                .container_labels
                .iter()
                .filter(|(k, _)| !k.starts_with(thv_core::runconfig::labels::RESERVED_PREFIX))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            tools: rc.tools_filter.clone(),
            remote: rc.is_remote(),
            container: (!rc.is_remote()).then_some(cname),
            container_state,
            proxy_pid: status.proxy_pid.filter(|_| proxy_alive),
            metrics_url: status.metrics_url.clone().filter(|_| proxy_alive),
            created_at: rc.created_at,
            started_at: status.started_at,
            desired: status.desired,
        })
    }
}
