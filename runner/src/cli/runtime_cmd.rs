//! `thv runtime check`: which container engine `thv` reaches, and its versions.

use clap::Subcommand;

use super::{Format, print_json};
use crate::dirs::Dirs;
use crate::workloads::Manager;

#[derive(Debug, Subcommand)]
pub enum RuntimeCommand {
    /// Connect to the engine (DOCKER_HOST, the Docker socket, rootful and rootless Podman sockets) and report it.
    Check {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

pub async fn runtime(dirs: Dirs, c: RuntimeCommand) -> anyhow::Result<i32> {
    let RuntimeCommand::Check { format } = c;
    let manager = Manager::new(dirs)?;
    let rt = manager.runtime().await?;
    let v = rt.version().await?;
    match format {
        Format::Json => print_json(&serde_json::json!({
            "engine": v.engine,
            "version": v.version,
            "api_version": v.api_version,
            "endpoint": v.endpoint,
        }))?,
        Format::Text => outln!(
            "{} {} (API {}) at {}",
            v.engine,
            v.version,
            v.api_version,
            v.endpoint
        ),
    }
    Ok(0)
}
