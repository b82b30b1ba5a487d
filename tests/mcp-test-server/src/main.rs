//! A small MCP server for ToolHive's end-to-end tests.
//!
//! `MCP_TRANSPORT=stdio` (the default) serves MCP on stdin/stdout; `MCP_TRANSPORT=streamable-http` serves it on
//! `http://$MCP_HOST:$MCP_PORT/mcp` (defaults `0.0.0.0` and `8080`). Tools: `echo`, `add`, `whoami`, `sleep`,
//! `progress`, `env` (see `server.rs`). SIGTERM or Ctrl-C stops it.

mod http;
mod instance;
mod server;
#[cfg(test)]
mod server_tests;

use std::sync::Arc;

use anyhow::{Context, bail};
use rmcp::ServiceExt;

use crate::instance::Instance;
use crate::server::TestServer;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let instance = Arc::new(Instance::current());
    let transport = std::env::var("MCP_TRANSPORT").unwrap_or_else(|_| "stdio".to_owned());
    eprintln!(
        "thv-test-mcp-server: pid {} instance {} transport {transport}",
        instance.pid, instance.id
    );
    match transport.as_str() {
        "stdio" => serve_stdio(instance).await,
        "streamable-http" => http::serve(instance, &http::address_from_env()?).await,
        other => bail!("MCP_TRANSPORT={other}: expected stdio or streamable-http"),
    }
}

async fn serve_stdio(instance: Arc<Instance>) -> anyhow::Result<()> {
    let service = TestServer::new(instance)
        .serve(rmcp::transport::stdio())
        .await
        .context("starting the stdio MCP session")?;
    tokio::select! {
        quit = service.waiting() => { quit.context("the stdio MCP session failed")?; }
        signal = shutdown_signal() => signal?,
    }
    Ok(())
}

/// Resolves on SIGTERM (what a container stop sends to PID 1, which has no default handler) or Ctrl-C.
pub async fn shutdown_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    tokio::select! {
        _ = term.recv() => {}
        ctrl_c = tokio::signal::ctrl_c() => ctrl_c.context("waiting for Ctrl-C")?,
    }
    Ok(())
}
