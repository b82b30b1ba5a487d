//! `thv-registry import` (placeholder while it is written).

use clap::Args;

#[derive(Debug, Args)]
pub struct ImportArgs {}

pub async fn run(_a: ImportArgs) -> anyhow::Result<i32> {
    anyhow::bail!("thv-registry import: not built yet")
}
