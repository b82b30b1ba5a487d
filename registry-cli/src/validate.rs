//! `thv-registry validate` (placeholder while it is written).

use clap::Args;

#[derive(Debug, Args)]
pub struct ValidateArgs {}

pub async fn run(_a: ValidateArgs) -> anyhow::Result<i32> {
    anyhow::bail!("thv-registry validate: not built yet")
}
