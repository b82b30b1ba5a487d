//! `thv-registry lint` (placeholder while it is written).

use clap::Args;

#[derive(Debug, Args)]
pub struct LintArgs {}

pub async fn run(_a: LintArgs) -> anyhow::Result<i32> {
    anyhow::bail!("thv-registry lint: not built yet")
}
