//! `thv-operator`: the ToolHive operator's command line.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use thv_core::{errln, out};
use thv_operator::crd;

#[derive(Parser)]
#[command(
    name = "thv-operator",
    version,
    about = "The ToolHive Kubernetes operator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the operator's CustomResourceDefinitions as YAML (what `deploy/crds/` holds).
    Crd {
        /// Write one file per CRD into this directory (`<group>_<plural>.yaml`) instead of printing them.
        #[arg(long, value_name = "DIR")]
        write: Option<PathBuf>,
    },
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Crd { write } => {
            for definition in crd::all() {
                let yaml = crd::to_yaml(&definition)?;
                match &write {
                    Some(dir) => {
                        let path = dir.join(crd::file_name(&definition));
                        std::fs::write(&path, yaml)
                            .with_context(|| format!("writing {}", path.display()))?;
                        errln!("wrote {}", path.display());
                    }
                    None => out!("{yaml}"),
                }
            }
        }
    }
    Ok(())
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        errln!("Error: {}", thv_core::output::error_chain(e.as_ref()));
        std::process::exit(1);
    }
}
