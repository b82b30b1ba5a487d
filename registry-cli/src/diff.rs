//! `thv-registry diff` (placeholder while it is written).

use clap::Args;

#[derive(Debug, Args)]
pub struct DiffArgs {}

pub async fn run(_a: DiffArgs) -> anyhow::Result<i32> {
    anyhow::bail!("thv-registry diff: not built yet")
}
