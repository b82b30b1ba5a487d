//! Serves a local stdio MCP server through the proxy: the command after `--` is spawned as a child process
//! (stdin and stdout piped, stderr inherited), bridged by [`StdioBridge`] and served over streamable HTTP (or
//! `--mode sse`) by [`thv::proxy::serve`]. No container: `bench/proxy.sh` uses it to measure the proxy alone.
//!
//! ```sh
//! cargo run --release -p thv --example stdio_proxy -- --port 8080 -- thv-test-mcp-server
//! ```
//!
//! Runs until SIGTERM, Ctrl-C or the child's exit. `RUST_LOG` sets the log filter (default `warn`).

use std::net::{IpAddr, SocketAddr};
use std::process::Stdio;

use anyhow::{Context, bail};
use clap::Parser;
use thv::proxy::{BridgeConfig, ProxyConfig, ProxyMode, StdioBridge, serve};
use tokio::signal::unix::{SignalKind, signal};

#[derive(Debug, Parser)]
#[command(about = "Serve a stdio MCP server (a local command) through thv's proxy")]
struct Args {
    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// `streamable-http` or `sse`.
    #[arg(long, default_value = "streamable-http")]
    mode: ProxyMode,
    /// The server's command and arguments.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let (program, rest) = args.command.split_first().context("no command")?;
    let mut child = tokio::process::Command::new(program)
        .args(rest)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let bridge = StdioBridge::from_child(&mut child, BridgeConfig::default())?;
    let config = ProxyConfig {
        addr: SocketAddr::new(args.host, args.port),
        mode: args.mode,
        ..ProxyConfig::default()
    };
    let proxy = serve(bridge.clone(), config)
        .await
        .context("starting the proxy")?;
    eprintln!("stdio_proxy: serving {program} on {}", proxy.url());

    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let exited = tokio::select! {
        _ = term.recv() => None,
        r = tokio::signal::ctrl_c() => { r.context("waiting for Ctrl-C")?; None }
        status = child.wait() => Some(status),
    };
    proxy.shutdown().await;
    bridge.close();
    match exited {
        Some(status) => {
            let status = status.context("waiting for the child")?;
            bail!("the MCP server exited: {status}")
        }
        None => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            Ok(())
        }
    }
}
