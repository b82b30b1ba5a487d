//! `thv-registry`: the curation CLI for MCP registries. Curators and platform teams turn upstream and internal
//! catalogs into the trusted registry their company serves: validate and lint entries, convert between the legacy
//! ToolHive format and server.json, import, export, diff, publish, change status.

mod convert;
mod diff;
mod export;
mod import;
mod input;
mod lint;
mod mirror;
mod publish;
mod report;
mod sign;
mod stats;
mod validate;
mod verify_blob;
mod write;

use std::io::IsTerminal;

use clap::{CommandFactory, Parser, Subcommand};

/// thv-registry: validate, lint, convert, import, export, diff and publish MCP registry entries.
#[derive(Debug, Parser)]
#[command(name = "thv-registry", version, about, max_term_width = 110)]
struct Cli {
    /// Log debug output.
    #[arg(long, global = true)]
    debug: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate server.json files, registry files, directories and live registries (schema + semantic rules).
    Validate(validate::ValidateArgs),
    /// Check curation quality beyond validity (rules with ids and severities, configurable).
    Lint(lint::LintArgs),
    /// Count servers by transport, package type, tier, status, provenance and schema version.
    Stats(stats::StatsArgs),
    /// Convert between the legacy ToolHive format and the upstream registry format (lossless).
    Convert(convert::ConvertArgs),
    /// Show added, removed and changed servers and versions between two registries.
    Diff(diff::DiffArgs),
    /// Write a registry (all or filtered) to a registry file.
    Export(export::ExportArgs),
    /// Import entries from registries and files into a registry file or a running registry API.
    Import(import::ImportArgs),
    /// Publish server.json files to a registry API.
    Publish(publish::PublishArgs),
    /// Change the status of a server or one of its versions (active, deprecated, deleted).
    Status(publish::StatusArgs),
    /// Store a registry token for publish and status (under the XDG config dir, mode 0600).
    Login(publish::LoginArgs),
    /// Make an ECDSA P-256 key pair for signing entries (cosign.key, encrypted, and cosign.pub).
    Keygen(sign::KeygenArgs),
    /// Sign a server.json with a key: a sigstore bundle (FILE.bundle.json, or --embed in its _meta).
    Sign(sign::SignArgs),
    /// Verify a server.json's signature against trusted public keys.
    Verify(sign::VerifyArgs),
    /// Verify any file's sigstore bundle (as cosign verify-blob): with --key, or a keyless signer's identity.
    VerifyBlob(verify_blob::VerifyBlobArgs),
    /// Print a server.json's canonical form (the bytes a signature covers).
    Canonicalize(sign::CanonicalizeArgs),
    /// The air-gapped mirror: a signed OCI bundle of entries and their images (create, verify, push; `thv mirror load` on one machine).
    Mirror {
        #[command(subcommand)]
        command: mirror::MirrorCommand,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
}

async fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Validate(a) => validate::run(a).await,
        Command::Lint(a) => lint::run(a).await,
        Command::Stats(a) => stats::run(a).await,
        Command::Convert(a) => convert::run(a).await,
        Command::Diff(a) => diff::run(a).await,
        Command::Export(a) => export::run(a).await,
        Command::Import(a) => import::run(a).await,
        Command::Publish(a) => publish::publish(a).await,
        Command::Status(a) => publish::status(a).await,
        Command::Login(a) => publish::login(a).await,
        Command::Keygen(a) => sign::keygen(a),
        Command::Sign(a) => sign::sign(a),
        Command::Verify(a) => sign::verify(a).await,
        Command::VerifyBlob(a) => verify_blob::run(a),
        Command::Canonicalize(a) => sign::canonicalize(a),
        Command::Mirror { command } => mirror::run(command).await,
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "thv-registry", &mut script);
            thv_core::output::write_stdout_bytes(&script);
            Ok(0)
        }
    }
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let level = if cli.debug { "debug" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("THV_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
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
