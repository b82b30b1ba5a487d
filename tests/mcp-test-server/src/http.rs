//! Streamable HTTP: rmcp's `StreamableHttpService` mounted at `/mcp` in axum.

use std::sync::Arc;

use anyhow::Context;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::instance::Instance;
use crate::server::TestServer;

/// `$MCP_HOST:$MCP_PORT`, defaults `0.0.0.0` and `8080`.
pub fn address_from_env() -> anyhow::Result<String> {
    let host = std::env::var("MCP_HOST").unwrap_or_else(|_| "0.0.0.0".to_owned());
    let port: u16 = match std::env::var("MCP_PORT") {
        Ok(port) => port.parse().with_context(|| format!("MCP_PORT={port}"))?,
        Err(_) => 8080,
    };
    Ok(format!("{host}:{port}"))
}

pub async fn serve(instance: Arc<Instance>, address: &str) -> anyhow::Result<()> {
    // The Host header is whatever the test dialled (a container address, a published port): accept any.
    let config = StreamableHttpServerConfig::default().disable_allowed_hosts();
    // Cancelling it ends every session's open SSE stream, so that the graceful shutdown can finish.
    let sessions_done = config.cancellation_token.clone();
    let service: StreamableHttpService<TestServer, LocalSessionManager> =
        StreamableHttpService::new(
            move || Ok(TestServer::new(instance.clone())),
            Arc::default(),
            config,
        );
    let router = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {address}"))?;
    eprintln!(
        "thv-test-mcp-server: listening on http://{}/mcp",
        listener.local_addr()?
    );
    // TCP_NODELAY: a response written as an event stream in two pieces must not wait for the client's ACK.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            if let Err(e) = crate::shutdown_signal().await {
                eprintln!("thv-test-mcp-server: {e:#}");
            }
            sessions_done.cancel();
        })
        .await
        .context("serving HTTP")
}
