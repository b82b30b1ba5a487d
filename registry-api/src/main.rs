//! `thv-registry-api`: serve the registry (default), mint tokens, print the OpenAPI document.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use thv_registry_api::auth::{Action, Permission};
use thv_registry_api::config::{Config, ConfigArgs, LogFormat};

#[derive(Parser)]
#[command(
    name = "thv-registry-api",
    version,
    about = "An MCP Registry API server (v0, v0.1) on SQLite or PostgreSQL",
    long_about = "Serves the upstream MCP Registry API under /v0 and /v0.1, with OpenAPI at /openapi.json and /openapi.yaml \
and a docs UI at /docs. With no subcommand it serves; an empty database is seeded from the bundled curated registry.",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Mint a registry token (signed with the configured key) and print it.
    Token {
        /// Server-name pattern the token may act on: `*`, a prefix ending in `*` (e.g. `com.example/*`), or a name.
        #[arg(long, required = true)]
        namespace: Vec<String>,
        /// What the token may do (repeat for several).
        #[arg(long, value_enum, default_value = "publish")]
        action: Vec<Action>,
        /// Lifetime, e.g. `15m`, `24h`, `30d`.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: Duration,
        /// Who the token is for (recorded in the token).
        #[arg(long, default_value = "operator")]
        subject: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Print a new random signing key (hex Ed25519 seed) for `jwt_private_key`.
    Keygen,
    /// Print the OpenAPI document.
    Openapi {
        #[arg(long, value_enum, default_value = "json")]
        format: SpecFormat,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SpecFormat {
    Json,
    Yaml,
}

fn init_logging(format: LogFormat) {
    // sqlx's warning about a malformed pgpass line quotes the line: a password file holding the bare password
    // would be logged. Off whatever THV_REGISTRY_LOG says.
    let quiet_pgpass: tracing_subscriber::filter::Directive = "sqlx_postgres::options::pgpass=off"
        .parse()
        .expect("a valid directive");
    let filter = tracing_subscriber::EnvFilter::try_from_env("THV_REGISTRY_LOG")
        .unwrap_or_else(|_| "info,sqlx=warn".into())
        .add_directive(quiet_pgpass);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn serve(args: &ConfigArgs) -> anyhow::Result<()> {
    let config = Config::load(args)?;
    init_logging(config.log_format);
    let server = thv_registry_api::start(&config).await?;
    tracing::info!(addr = %server.addr, backend = server.state.registry.store().backend(), "thv-registry-api listening");
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    match cli.command {
        None => rt.block_on(serve(&cli.config)),
        Some(Command::Serve { config }) => rt.block_on(serve(&config)),
        Some(Command::Token {
            namespace,
            action,
            ttl,
            subject,
            config,
        }) => {
            let keys = Config::load(&config)?.token_keys()?;
            let permissions = namespace
                .iter()
                .flat_map(|ns| {
                    action.iter().map(move |a| Permission {
                        action: *a,
                        resource: ns.clone(),
                    })
                })
                .collect();
            let (token, _) = keys.mint(&subject, permissions, ttl)?;
            thv_core::outln!("{token}");
            Ok(())
        }
        Some(Command::Keygen) => {
            let (_, hex) = thv_registry_api::auth::TokenKeys::generate()?;
            thv_core::outln!("{hex}");
            Ok(())
        }
        Some(Command::Openapi { format }) => {
            let spec = thv_registry_api::routes::openapi_document();
            match format {
                SpecFormat::Json => thv_core::outln!("{}", serde_json::to_string_pretty(&spec)?),
                SpecFormat::Yaml => thv_core::out!("{}", thv_registry_api::openapi::to_yaml(&spec)),
            }
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            thv_core::errln!(
                "thv-registry-api: {}",
                thv_core::output::error_chain(e.as_ref())
            );
            ExitCode::FAILURE
        }
    }
}
