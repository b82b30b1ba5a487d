//! `thv-proxy`: the MCP proxy as a library — the transports (the stdio bridge behind streamable HTTP or SSE, the
//! transparent reverse proxy for HTTP servers), the JSON-RPC/MCP message model they share, and the middleware chain
//! ([`middleware`]: parsing, telemetry, audit, auth, tool filter, authorization). It runs no container: a front end
//! (`thv`'s proxy, a proxy runner in Kubernetes, a virtual MCP server) gives it a server's stdio
//! ([`StdioAttachment`]) or address.
//!
//! The stdio proxy: one stdio MCP server served to many HTTP clients.
//!
//! - [`StdioBridge`] (in [`bridge`]) multiplexes the clients' sessions onto the server's stdin and stdout:
//!   request ids and progress tokens rewritten and restored, `initialize` cached, notifications broadcast,
//!   resource subscriptions ref-counted per URI, the log level reconciled across sessions, sessions with a TTL
//!   and resumable streams (a replay log per session, sized by [`BridgeConfig`]). Its documentation has the
//!   routing rules.
//! - [`router`] (in [`http`]) is the axum [`Router`] in front of it, in one of two
//!   [`ProxyMode`]s:
//!   - **streamable-http** (default): `POST /mcp` (JSON-RPC; the `initialize` response carries the
//!     `Mcp-Session-Id` header, required afterwards), `GET /mcp` (the session's server→client event stream,
//!     resumable with `Last-Event-ID`),
//!     `DELETE /mcp` (ends the session);
//!   - **sse** (the legacy HTTP+SSE transport): `GET /sse` (an event stream whose first event, `endpoint`,
//!     gives `/messages?session_id=…`), `POST /messages?session_id=…` (answered 202; responses come on the
//!     stream);
//!   - both: `GET /health`, `Host` and `Origin` checks against DNS rebinding ([`access`]) and a request body
//!     limit.
//! - [`serve`] binds and runs it, and returns a [`RunningProxy`].
//!
//! The transparent reverse proxy ([`transparent`]) is for servers that speak `sse` or `streamable-http`
//! themselves (a container's published port) and for remote MCP server URLs: [`serve_transparent`] forwards
//! every request to the target URL, streaming both ways, and answers `/health` itself (the path mapping onto
//! the target's is in [`transparent`]'s documentation).
//!
//! ```no_run
//! # async fn f(attachment: thv_proxy::StdioAttachment) -> std::io::Result<()> {
//! use thv_proxy::{BridgeConfig, ProxyConfig, StdioBridge, serve};
//! let bridge = StdioBridge::from_attachment(attachment, BridgeConfig::default());
//! let proxy = serve(bridge, ProxyConfig::default()).await?;
//! println!("{}", proxy.url());
//! proxy.shutdown().await;
//! # Ok(()) }
//! ```

pub mod middleware;
pub mod redact;

pub mod access;
pub mod bridge;
pub mod endpoint;
pub mod http;
pub mod transparent;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use url::Url;

pub use bridge::{
    BackendHealth, BridgeConfig, LogLevel, ResumeError, SessionEvent, SessionEvents, SessionStream,
    StdioBridge, StreamError,
};
pub use http::router;
pub use transparent::PathMapping;

/// The request body limit by default: 8 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 8 * 1024 * 1024;
/// How long [`RunningProxy::shutdown`] lets open connections finish before it drops them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long the transparent proxy waits to connect to its upstream, by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Which HTTP transport the proxy speaks to its clients: the RunConfig's `proxy_mode`.
pub use thv_core::runconfig::{ProxyMode, UnknownProxyMode};

/// Settings of the HTTP side (the bridge's own settings are a [`BridgeConfig`]).
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Where to listen; default `127.0.0.1:0` (a free port, reported by [`RunningProxy::addr`]).
    pub addr: SocketAddr,
    /// The transport clients speak (for the transparent proxy: the upstream's transport).
    pub mode: ProxyMode,
    /// Origins allowed in an `Origin` header (`scheme://host[:port]`, compared case-insensitively); requests
    /// without `Origin` are always allowed. `None`: [`loopback_origins`] for the bound port.
    pub allowed_origins: Option<Vec<String>>,
    /// Host names (besides loopback names and the bound address) the proxy may be addressed by in `Host`
    /// ([`access`]); default none.
    pub allowed_hosts: Vec<String>,
    /// Largest request body accepted (413 beyond); default [`DEFAULT_BODY_LIMIT`].
    pub body_limit: usize,
    /// Transparent proxy: how long to wait for a connection to the upstream (there is no limit on requests or
    /// streams themselves); default [`DEFAULT_CONNECT_TIMEOUT`].
    pub connect_timeout: Duration,
    /// The middleware around the routes (auth, authorization, audit, ...); default none.
    pub middleware: crate::middleware::Chain,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            mode: ProxyMode::default(),
            allowed_origins: None,
            allowed_hosts: Vec::new(),
            body_limit: DEFAULT_BODY_LIMIT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            middleware: crate::middleware::Chain::default(),
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

/// What a [`RunningProxy`] serves.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A stdio server, through its bridge ([`serve`]).
    Stdio(StdioBridge),
    /// An HTTP upstream, through the transparent proxy ([`serve_transparent`]).
    Transparent {
        /// The target URL.
        target: Url,
        /// How the proxy's paths map onto the target's.
        mapping: PathMapping,
    },
}

/// A proxy started by [`serve`] or [`serve_transparent`].
#[derive(Debug)]
pub struct RunningProxy {
    /// The address it listens on (with the port actually bound).
    pub addr: SocketAddr,
    /// Its mode.
    pub mode: ProxyMode,
    backend: Backend,
    cancel: CancellationToken,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningProxy {
    /// The URL clients use: `http://ADDR/mcp` or `http://ADDR/sse` (stdio; for the transparent proxy,
    /// `http://ADDR` + [`PathMapping::client_path`]).
    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, self.client_path())
    }

    /// The path part of [`RunningProxy::url`].
    pub fn client_path(&self) -> &str {
        match &self.backend {
            Backend::Stdio(_) => self.mode.client_path(),
            Backend::Transparent { mapping, .. } => &mapping.client_path,
        }
    }

    /// What it serves.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The bridge it serves (`None` for a transparent proxy).
    pub fn bridge(&self) -> Option<&StdioBridge> {
        match &self.backend {
            Backend::Stdio(bridge) => Some(bridge),
            Backend::Transparent { .. } => None,
        }
    }

    /// The upstream URL (`None` for a stdio proxy).
    pub fn target(&self) -> Option<&Url> {
        match &self.backend {
            Backend::Stdio(_) => None,
            Backend::Transparent { target, .. } => Some(target),
        }
    }

    /// Stops listening, ends the sessions and streams (a stdio bridge's sessions, a transparent proxy's
    /// response streams), lets the requests in flight finish for up to [`SHUTDOWN_GRACE`], then drops what is
    /// left. A stdio bridge itself stays up (see [`StdioBridge::close`]).
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.cancel.cancel();
        if let Backend::Stdio(bridge) = &self.backend {
            bridge.clear_sessions();
        }
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

/// The bound listener's `Host` and `Origin` checks.
fn access(config: &ProxyConfig, addr: SocketAddr) -> access::LocalAccess {
    let origins = config
        .allowed_origins
        .clone()
        .unwrap_or_else(|| loopback_origins(addr.port()));
    access::LocalAccess::new(addr, origins, &config.allowed_hosts)
}

/// Serves `app` on `listener` in the background (with the peer address as [`axum::extract::ConnectInfo`]).
/// Connections get `TCP_NODELAY`: an event stream is written in several small pieces, which Nagle's algorithm
/// would otherwise hold back for the client's delayed ACK (about 40 ms each).
fn spawn(
    listener: TcpListener,
    app: Router,
) -> (oneshot::Sender<()>, JoinHandle<std::io::Result<()>>) {
    let (tx, rx) = oneshot::channel::<()>();
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
    });
    let task = tokio::spawn(async move {
        axum::serve(listener, service)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
    });
    (tx, task)
}

/// Binds `config.addr` and serves `bridge` on it in the background.
pub async fn serve(bridge: StdioBridge, config: ProxyConfig) -> std::io::Result<RunningProxy> {
    let listener = TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    let app = config.middleware.apply(router(
        bridge.clone(),
        config.mode,
        access(&config, addr),
        config.body_limit,
    ));
    let (tx, task) = spawn(listener, app);
    tracing::info!(%addr, mode = %config.mode, "MCP proxy listening");
    Ok(RunningProxy {
        addr,
        mode: config.mode,
        backend: Backend::Stdio(bridge),
        cancel: CancellationToken::new(),
        shutdown: Some(tx),
        task,
    })
}

/// Binds `config.addr` and serves a transparent proxy to `target` on it in the background; `config.mode` is
/// the upstream's transport (`sse` turns on the rewriting of the SSE `endpoint` event). An invalid target
/// (see [`transparent::check_target`]) is an [`std::io::ErrorKind::InvalidInput`] error.
pub async fn serve_transparent(target: Url, config: ProxyConfig) -> std::io::Result<RunningProxy> {
    transparent::check_target(&target)?;
    let listener = TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    let cancel = CancellationToken::new();
    let mapping = PathMapping::new(&target, config.mode);
    let app = transparent::router(transparent::TransparentSettings {
        target: target.clone(),
        mode: config.mode,
        access: access(&config, addr),
        body_limit: config.body_limit,
        connect_timeout: config.connect_timeout,
        shutdown: cancel.clone(),
    })?;
    let app = config.middleware.apply(app);
    let (tx, task) = spawn(listener, app);
    tracing::info!(%addr, mode = %config.mode, upstream = %transparent::redacted(&target), "transparent MCP proxy listening");
    Ok(RunningProxy {
        addr,
        mode: config.mode,
        backend: Backend::Transparent { target, mapping },
        cancel,
        shutdown: Some(tx),
        task,
    })
}

/// A stdio server's stdin and stdout, attached (by a container engine, or a child process's pipes). Its stderr
/// is the front end's to log.
pub struct StdioAttachment {
    /// Write newline-delimited JSON-RPC here. Dropping it detaches; the container's stdin stays open.
    pub stdin: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
    /// The container's stdout. End of stream: the container exited or the engine closed the attachment.
    pub stdout: std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>,
}

impl fmt::Debug for StdioAttachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StdioAttachment")
    }
}
