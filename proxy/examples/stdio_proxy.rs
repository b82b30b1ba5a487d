//! Serves a local stdio MCP server through the proxy: the command after `--` is spawned as a child process
//! (stdin and stdout piped, stderr inherited), bridged by [`StdioBridge`] and served over streamable HTTP (or
//! `--mode sse`) by [`thv_proxy::serve`]. No container: `bench/proxy.sh` uses it to measure the proxy alone.
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
use thv_proxy::{BridgeConfig, ProxyConfig, ProxyMode, StdioBridge, serve};
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
    /// The proxy's middleware chain: a JSON file holding a RunConfig's `middleware_configs` array.
    #[arg(long)]
    middleware: Option<std::path::PathBuf>,
    /// Only these tools (the tool filter), comma-separated.
    #[arg(long, value_delimiter = ',')]
    tools: Vec<String>,
    /// Start a local OIDC issuer (discovery + JWKS, an Ed25519 key) in this process, authenticate against it,
    /// and write a valid token to this file (benchmarks of the `auth` middleware).
    #[arg(long)]
    bench_oidc_token: Option<std::path::PathBuf>,
    /// The server's command and arguments.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

/// A local issuer for `--bench-oidc-token`: its URL and a token it signed.
async fn bench_issuer() -> anyhow::Result<(String, String)> {
    use base64::Engine;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let seed = [42u8; 32];
    let public = ed25519_dalek::SigningKey::from_bytes(&seed)
        .verifying_key()
        .to_bytes();
    let jwk = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": "bench",
        "x": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(public)});
    let u = url.clone();
    let app = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(move || {
                let u = u.clone();
                async move {
                    axum::Json(serde_json::json!({"issuer": u, "jwks_uri": format!("{u}/jwks")}))
                }
            }),
        )
        .route(
            "/jwks",
            axum::routing::get(move || {
                let jwk = jwk.clone();
                async move { axum::Json(serde_json::json!({"keys": [jwk]})) }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&seed);
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some("bench".into());
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 24 * 3600;
    let token = jsonwebtoken::encode(
        &header,
        &serde_json::json!({"iss": url, "sub": "bench", "aud": "bench", "exp": exp, "roles": ["admin"]}),
        &jsonwebtoken::EncodingKey::from_ed_der(&der),
    )?;
    Ok((url, token))
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
    let mut configs: Vec<thv_core::runconfig::MiddlewareConfig> = match &args.middleware {
        Some(path) => serde_json::from_str(&std::fs::read_to_string(path)?)
            .with_context(|| format!("--middleware {}", path.display()))?,
        None => Vec::new(),
    };
    if let Some(out) = &args.bench_oidc_token {
        let (issuer, token) = bench_issuer().await?;
        std::fs::write(out, &token)?;
        let oidc = thv_proxy::middleware::auth::OidcConfig {
            issuer,
            audience: Some("bench".into()),
            insecure_allow_http: true,
            ..Default::default()
        };
        let auth = thv_proxy::middleware::auth::AuthParams {
            oidc_config: Some(oidc),
        };
        configs.push(thv_proxy::middleware::MiddlewareSpec::Auth(auth).to_config());
    }
    let settings = thv_proxy::middleware::ChainSettings {
        workload: "bench".into(),
        transport: "stdio".into(),
        sse_clients: args.mode == ProxyMode::Sse,
        body_limit: thv_proxy::DEFAULT_BODY_LIMIT,
    };
    let mut middleware = thv_proxy::middleware::Chain::from_run_config(
        &configs,
        &args.tools,
        &Default::default(),
        &settings,
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    middleware.start().await?;
    let config = ProxyConfig {
        addr: SocketAddr::new(args.host, args.port),
        mode: args.mode,
        middleware,
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
