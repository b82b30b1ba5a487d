//! `thv proxy stdio NAME`, and the hidden `thv proxy-serve NAME` the detached proxy process runs.

use clap::{Args, Subcommand};
use thv_core::runconfig::{ProxyMode, TransportType};

use crate::dirs::Dirs;
use crate::workloads::{Manager, proxy_url};

#[derive(Debug, Subcommand)]
pub enum ProxyCommand {
    /// Speak stdio to a client (e.g. Claude Desktop) and HTTP to the workload's proxy.
    Stdio {
        /// The workload.
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct ProxyServeArgs {
    /// The workload whose proxy to serve.
    pub name: String,
    /// Stop the workload's container when the proxy stops.
    #[arg(long)]
    pub foreground: bool,
}

pub async fn proxy(dirs: Dirs, c: ProxyCommand) -> anyhow::Result<i32> {
    match c {
        ProxyCommand::Stdio { name } => {
            let manager = Manager::new(dirs)?;
            let rc = manager.store().load_runconfig(&name)?;
            let view = manager.status(&name).await?;
            if view.status != crate::workloads::WorkloadState::Running {
                anyhow::bail!(
                    "workload '{name}' is {}{}: start it with `thv start {name}`",
                    view.status,
                    view.status_context
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default()
                );
            }
            let sse = rc.transport == TransportType::Sse
                || rc.effective_proxy_mode() == Some(ProxyMode::Sse);
            crate::proxy_stdio::bridge_stdio(&proxy_url(&rc), sse).await?;
            Ok(0)
        }
    }
}

pub async fn proxy_serve(dirs: Dirs, a: ProxyServeArgs) -> anyhow::Result<i32> {
    crate::supervisor::serve_workload(dirs, &a.name, a.foreground).await?;
    Ok(0)
}
