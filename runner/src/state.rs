//! The workloads' state on disk (see [`crate::dirs`]): each workload's RunConfig (the contract every later
//! command reads; nothing re-resolves) and its status record (what should run, the container's id, the
//! detached proxy's PID). Writes are atomic; a workload's name is a valid RunConfig name, so it is a safe file
//! name.

use std::path::PathBuf;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thv_core::runconfig::RunConfig;

use crate::dirs::{Dirs, write_atomic};

/// What the user last asked of a workload: `thv start --all` brings back the `running` ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Desired {
    Running,
    Stopped,
}

/// A workload's status record (`workloads/NAME.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadStatus {
    pub name: String,
    pub desired: Desired,
    /// The container's engine id (absent for a remote server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    /// The host port the container's HTTP port is published on (sse / streamable-http servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_host_port: Option<u16>,
    /// PID of the detached proxy process, while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_pid: Option<u32>,
    /// Where that proxy serves its Prometheus metrics (`--metrics-port`; port 0 picks a free one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl WorkloadStatus {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            desired: Desired::Running,
            container_id: None,
            container_host_port: None,
            proxy_pid: None,
            metrics_url: None,
            started_at: None,
            updated_at: Utc::now(),
        }
    }
}

/// The state directory of one user.
#[derive(Debug, Clone)]
pub struct WorkloadStore {
    dirs: Dirs,
}

impl WorkloadStore {
    pub fn new(dirs: Dirs) -> Self {
        Self { dirs }
    }

    pub fn dirs(&self) -> &Dirs {
        &self.dirs
    }

    fn checked(name: &str) -> anyhow::Result<()> {
        if let Some(e) = thv_core::runconfig::name_error(name) {
            bail!("invalid workload name '{}': {e}", name.escape_debug());
        }
        Ok(())
    }

    fn runconfig_path(&self, name: &str) -> PathBuf {
        self.dirs.runconfigs().join(format!("{name}.json"))
    }

    fn status_path(&self, name: &str) -> PathBuf {
        self.dirs.statuses().join(format!("{name}.json"))
    }

    /// Whether a workload of that name exists.
    pub fn exists(&self, name: &str) -> bool {
        Self::checked(name).is_ok() && self.runconfig_path(name).exists()
    }

    /// The names of every workload, sorted.
    pub fn names(&self) -> anyhow::Result<Vec<String>> {
        let dir = self.dirs.runconfigs();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.strip_suffix(".json")
                    .filter(|s| !s.starts_with('.'))
                    .map(str::to_owned)
            })
            .filter(|n| thv_core::runconfig::name_error(n).is_none())
            .collect();
        names.sort();
        Ok(names)
    }

    /// A workload's RunConfig; the error names the workload when it does not exist.
    pub fn load_runconfig(&self, name: &str) -> anyhow::Result<RunConfig> {
        Self::checked(name)?;
        let path = self.runconfig_path(name);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("workload '{name}' not found (see `thv list --all`)")
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        RunConfig::read_json(&bytes)
            .with_context(|| format!("invalid RunConfig {}", path.display()))
    }

    pub fn save_runconfig(&self, rc: &RunConfig) -> anyhow::Result<()> {
        Self::checked(&rc.name)?;
        let path = self.runconfig_path(&rc.name);
        write_atomic(&path, rc.write_json().as_bytes(), 0o600)
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// A workload's status record (a fresh one when there is none).
    pub fn load_status(&self, name: &str) -> anyhow::Result<WorkloadStatus> {
        Self::checked(name)?;
        let path = self.status_path(name);
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .with_context(|| format!("invalid status file {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(WorkloadStatus::new(name)),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    pub fn save_status(&self, status: &WorkloadStatus) -> anyhow::Result<()> {
        Self::checked(&status.name)?;
        let mut s = status.clone();
        s.updated_at = Utc::now();
        let path = self.status_path(&s.name);
        let bytes = serde_json::to_vec_pretty(&s)?;
        write_atomic(&path, &bytes, 0o600)
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Changes a status record in place (read, change, write).
    pub fn update_status(
        &self,
        name: &str,
        change: impl FnOnce(&mut WorkloadStatus),
    ) -> anyhow::Result<WorkloadStatus> {
        let mut s = self.load_status(name)?;
        change(&mut s);
        self.save_status(&s)?;
        Ok(s)
    }

    /// Removes every file of a workload (RunConfig, status, proxy log).
    pub fn remove(&self, name: &str) -> anyhow::Result<()> {
        Self::checked(name)?;
        for path in [
            self.runconfig_path(name),
            self.status_path(name),
            self.dirs.proxy_log(name),
        ] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot remove {}", path.display()));
                }
            }
        }
        Ok(())
    }
}
