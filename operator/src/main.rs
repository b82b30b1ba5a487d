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
    /// Run the controllers: reconcile every MCPRegistry into a running registry API server, with the
    /// credentials `kube` infers (the pod's service account, else KUBECONFIG).
    Run {
        /// Watch only this namespace (default: every namespace).
        #[arg(long, env = "THV_OPERATOR_NAMESPACE")]
        namespace: Option<String>,
    },
    /// Print the operator's CustomResourceDefinitions as YAML (what `deploy/crds/` holds).
    Crd {
        /// Write one file per CRD into this directory (`<group>_<plural>.yaml`) instead of printing them; may
        /// be given more than once (`deploy/crds` and the chart's `crds/`).
        #[arg(long, value_name = "DIR")]
        write: Vec<PathBuf>,
    },
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run { namespace } => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_env("THV_OPERATOR_LOG")
                        .unwrap_or_else(|_| "info".into()),
                )
                .with_writer(std::io::stderr)
                .init();
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime.block_on(async {
                let client = kube::Client::try_default()
                    .await
                    .context("no Kubernetes API (in-cluster service account or KUBECONFIG)")?;
                tracing::info!(
                    namespace = namespace.as_deref().unwrap_or("(all)"),
                    "thv-operator running"
                );
                thv_operator::registry::run(client, namespace.as_deref()).await;
                anyhow::Ok(())
            })?;
        }
        Command::Crd { write } => {
            for definition in crd::all() {
                let yaml = crd::to_yaml(&definition)?;
                if write.is_empty() {
                    out!("{yaml}");
                }
                for dir in &write {
                    let path = dir.join(crd::file_name(&definition));
                    std::fs::write(&path, &yaml)
                        .with_context(|| format!("writing {}", path.display()))?;
                    errln!("wrote {}", path.display());
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
