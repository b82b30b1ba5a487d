//! `thv-registry export` (placeholder while it is written).

use clap::Args;

#[derive(Debug, Args)]
pub struct ExportArgs {}

pub async fn run(_a: ExportArgs) -> anyhow::Result<i32> {
    anyhow::bail!("thv-registry export: not built yet")
}
