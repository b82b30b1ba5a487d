//! `thv`: run MCP servers from a registry, an image or a package, in containers behind the MCP proxy.

use std::io::IsTerminal;

use clap::Parser;
use thv::cli::{Cli, dispatch};

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let default_level = if cli.debug { "debug" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("THV_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("thv={default_level},warn"))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(thv::redact::RedactingStderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match dispatch(cli).await {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            thv_core::errln!("Error: {}", thv_core::output::error_chain(e.as_ref()));
            std::process::exit(1);
        }
    }
}
