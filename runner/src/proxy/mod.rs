//! The stdio proxy: one stdio MCP server served to many HTTP clients.
//!
//! - [`StdioBridge`] (in [`bridge`]) multiplexes the clients' sessions onto the server's stdin and stdout:
//!   request ids and progress tokens rewritten and restored, `initialize` cached, notifications broadcast,
//!   sessions with a TTL. Its documentation has the routing rules.
//! - [`router`] (in [`http`]) is the axum [`Router`](axum::Router) in front of it, in one of two
//!   [`ProxyMode`]s:
//!   - **streamable-http** (default): `POST /mcp` (JSON-RPC; the `initialize` response carries the
//!     `Mcp-Session-Id` header, required afterwards), `GET /mcp` (the session's server→client event stream),
//!     `DELETE /mcp` (ends the session);
//!   - **sse** (the legacy HTTP+SSE transport): `GET /sse` (an event stream whose first event, `endpoint`,
//!     gives `/messages?session_id=…`), `POST /messages?session_id=…` (answered 202; responses come on the
//!     stream);
//!   - both: `GET /health`, an Origin allowlist (against DNS rebinding) and a request body limit.
//! - [`serve`] binds and runs it, and returns a [`RunningProxy`].
//!
//! ```no_run
//! # async fn f(attachment: thv::runtime::StdioAttachment) -> std::io::Result<()> {
//! use thv::proxy::{BridgeConfig, ProxyConfig, StdioBridge, serve};
//! let bridge = StdioBridge::from_attachment(attachment, BridgeConfig::default());
//! let proxy = serve(bridge, ProxyConfig::default()).await?;
//! println!("{}", proxy.url());
//! proxy.shutdown().await;
//! # Ok(()) }
//! ```

pub mod bridge;
pub mod http;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use bridge::{BackendHealth, BridgeConfig, SessionStream, StdioBridge};
pub use http::router;

/// The request body limit by default: 8 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 8 * 1024 * 1024;
/// How long [`RunningProxy::shutdown`] lets open connections finish before it drops them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Which HTTP transport the proxy speaks to its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyMode {
    /// MCP streamable HTTP at `/mcp`.
    #[default]
    StreamableHttp,
    /// The legacy HTTP+SSE transport: `/sse` and `/messages`.
    Sse,
}

impl ProxyMode {
    /// `streamable-http` or `sse` (the `--proxy-mode` values).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StreamableHttp => "streamable-http",
            Self::Sse => "sse",
        }
    }

    /// The path clients connect to: `/mcp` or `/sse`.
    pub fn client_path(self) -> &'static str {
        match self {
            Self::StreamableHttp => "/mcp",
            Self::Sse => "/sse",
        }
    }
}

impl fmt::Display for ProxyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown [`ProxyMode`] name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown proxy mode '{0}' (expected streamable-http or sse)")]
pub struct UnknownProxyMode(pub String);

impl FromStr for ProxyMode {
    type Err = UnknownProxyMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "streamable-http" => Ok(Self::StreamableHttp),
            "sse" => Ok(Self::Sse),
            other => Err(UnknownProxyMode(other.to_owned())),
        }
    }
}

/// Settings of the HTTP side (the bridge's own settings are a [`BridgeConfig`]).
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Where to listen; default `127.0.0.1:0` (a free port, reported by [`RunningProxy::addr`]).
    pub addr: SocketAddr,
    /// The transport clients speak.
    pub mode: ProxyMode,
    /// Origins allowed in an `Origin` header (`scheme://host[:port]`, compared case-insensitively); requests
    /// without `Origin` are always allowed. `None`: [`loopback_origins`] for the bound port.
    pub allowed_origins: Option<Vec<String>>,
    /// Largest request body accepted (413 beyond); default [`DEFAULT_BODY_LIMIT`].
    pub body_limit: usize,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            mode: ProxyMode::default(),
            allowed_origins: None,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }
}

/// The default Origin allowlist: `http://localhost:PORT`, `http://127.0.0.1:PORT`, `http://[::1]:PORT`.
pub fn loopback_origins(port: u16) -> Vec<String> {
    ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .map(|h| format!("http://{h}:{port}"))
        .collect()
}

/// A proxy started by [`serve`].
#[derive(Debug)]
pub struct RunningProxy {
    /// The address it listens on (with the port actually bound).
    pub addr: SocketAddr,
    /// Its mode.
    pub mode: ProxyMode,
    bridge: StdioBridge,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningProxy {
    /// The URL clients use: `http://ADDR/mcp` or `http://ADDR/sse`.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, self.mode.client_path())
    }

    /// The bridge it serves.
    pub fn bridge(&self) -> &StdioBridge {
        &self.bridge
    }

    /// Stops listening, ends the sessions (and so their streams), lets the requests in flight finish for up to
    /// [`SHUTDOWN_GRACE`], then drops what is left. The bridge itself stays up (see [`StdioBridge::close`]).
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.bridge.clear_sessions();
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!("the proxy stopped with an error: {e}"),
            Ok(Err(e)) => tracing::warn!("the proxy task failed: {e}"),
            Err(_) => {
                tracing::debug!("connections still open after the grace period: dropped");
                self.task.abort();
            }
        }
    }

    /// Waits until the server stops (it only stops through [`RunningProxy::shutdown`] or an I/O error).
    pub async fn wait(&mut self) -> std::io::Result<()> {
        match (&mut self.task).await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}

/// Binds `config.addr` and serves `bridge` on it in the background.
pub async fn serve(bridge: StdioBridge, config: ProxyConfig) -> std::io::Result<RunningProxy> {
    let listener = TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    let origins = config
        .allowed_origins
        .clone()
        .unwrap_or_else(|| loopback_origins(addr.port()));
    let app = router(bridge.clone(), config.mode, origins, config.body_limit);
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
    });
    tracing::info!(%addr, mode = %config.mode, "MCP proxy listening");
    Ok(RunningProxy {
        addr,
        mode: config.mode,
        bridge,
        shutdown: Some(tx),
        task,
    })
}
