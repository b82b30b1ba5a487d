//! `thv client …` (filled in with the client configuration writers).

use clap::Subcommand;
use thv_core::runconfig::RunConfig;

use crate::dirs::Dirs;
use crate::workloads::Manager;

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Show the supported clients.
    Status,
}

pub async fn client(_dirs: Dirs, _c: ClientCommand) -> anyhow::Result<i32> {
    Ok(0)
}

pub fn register_workload(_manager: &Manager, _rc: &RunConfig) {}

pub fn unregister_workload(_manager: &Manager, _name: &str) {}
