//! `thv-registry convert` (placeholder while it is written).

use clap::Args;

#[derive(Debug, Args)]
pub struct ConvertArgs {}

pub async fn run(_a: ConvertArgs) -> anyhow::Result<i32> {
    anyhow::bail!("thv-registry convert: not built yet")
}
