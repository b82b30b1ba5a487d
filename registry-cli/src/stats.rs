//! `thv-registry stats` (placeholder while it is written).

use clap::Args;

#[derive(Debug, Args)]
pub struct StatsArgs {}

pub async fn run(_a: StatsArgs) -> anyhow::Result<i32> {
    anyhow::bail!("thv-registry stats: not built yet")
}
