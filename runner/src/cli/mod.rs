//! The `thv` command line: one file per group of commands, each a thin layer over [`crate::workloads`],
//! [`crate::registry`], [`crate::build`], [`crate::clients`] and [`crate::secrets`].

/// `println!` for a command's output: no panic on a closed pipe ([`thv_core::output`]).
macro_rules! outln {
    ($($arg:tt)*) => {
        thv_core::outln!($($arg)*)
    };
}

/// `print!` for a command's output ([`thv_core::output`]).
macro_rules! out {
    ($($arg:tt)*) => {
        thv_core::out!($($arg)*)
    };
}

mod autostart_cmd;
mod build_cmd;
mod client_cmd;
mod config_cmd;
mod lifecycle;
mod middleware_args;
mod mirror_cmd;
mod proxy_cmd;
mod registry_cmd;
mod run;
mod runtime_cmd;
mod secret_cmd;

use clap::{Parser, Subcommand};

use crate::dirs::Dirs;

/// thv: run MCP servers from a registry, an image or a package, isolated in containers behind the MCP proxy.
#[derive(Debug, Parser)]
#[command(name = "thv", version, about, max_term_width = 110)]
pub struct Cli {
    /// Log debug output.
    #[arg(long, global = true)]
    pub debug: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an MCP server: a registry name, an image, uvx://, npx://, go:// package, or an http(s) URL.
    Run(Box<run::RunArgs>),
    /// List workloads (running ones; --all for every one).
    #[command(alias = "ls", alias = "ps")]
    List(lifecycle::ListArgs),
    /// Show one workload's state.
    Status(lifecycle::StatusArgs),
    /// Show a workload's container log (--proxy: its proxy log).
    Logs(lifecycle::LogsArgs),
    /// Stop workloads (proxy and container).
    Stop(lifecycle::StopArgs),
    /// Start stopped workloads (--all: every workload that should run, e.g. after a reboot).
    Start(lifecycle::StartArgs),
    /// Stop and start workloads again.
    Restart(lifecycle::StartArgs),
    /// Remove workloads (proxy, container and state).
    #[command(alias = "remove")]
    Rm(lifecycle::RmArgs),
    /// Write a workload's RunConfig to a file (secrets as references only); `thv run --from-config` reads it.
    Export(lifecycle::ExportArgs),
    /// Build the image of a uvx://, npx:// or go:// package without running it.
    Build(build_cmd::BuildArgs),
    /// Show or change the configuration (registry, build images, CA certificate).
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Air-gapped mirror bundles: `thv mirror load BUNDLE --key mirror.pub`.
    #[command(subcommand)]
    Mirror(mirror_cmd::MirrorCommand),
    /// Browse the registry.
    #[command(subcommand)]
    Registry(registry_cmd::RegistryCommand),
    /// Search the registry by name and description.
    Search(registry_cmd::SearchArgs),
    /// Manage secrets for --secret NAME,target=ENV.
    #[command(subcommand)]
    Secret(secret_cmd::SecretCommand),
    /// Configure MCP clients (VS Code, Cursor, Claude Code) with the workloads' URLs.
    #[command(subcommand)]
    Client(client_cmd::ClientCommand),
    /// Run `thv start --all` when the user's session starts (a systemd user unit), so workloads survive reboots.
    #[command(subcommand)]
    Autostart(autostart_cmd::AutostartCommand),
    /// Check the container engine.
    #[command(subcommand)]
    Runtime(runtime_cmd::RuntimeCommand),
    /// Bridge a workload to a stdio MCP client (e.g. Claude Desktop): `thv proxy stdio NAME`.
    #[command(subcommand)]
    Proxy(proxy_cmd::ProxyCommand),
    /// (internal) Serve a workload's proxy in this process: started detached by `run` and `start`.
    #[command(name = "proxy-serve", hide = true)]
    ProxyServe(proxy_cmd::ProxyServeArgs),
}

/// Runs a parsed command; the exit code on success.
pub async fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    let dirs = Dirs::from_env()?;
    match cli.command {
        Command::Run(a) => run::run(dirs, *a).await,
        Command::List(a) => lifecycle::list(dirs, a).await,
        Command::Status(a) => lifecycle::status(dirs, a).await,
        Command::Logs(a) => lifecycle::logs(dirs, a).await,
        Command::Stop(a) => lifecycle::stop(dirs, a).await,
        Command::Start(a) => lifecycle::start(dirs, a, false).await,
        Command::Restart(a) => lifecycle::start(dirs, a, true).await,
        Command::Rm(a) => lifecycle::rm(dirs, a).await,
        Command::Export(a) => lifecycle::export(dirs, a),
        Command::Build(a) => build_cmd::build(dirs, a).await,
        Command::Config(c) => config_cmd::config(dirs, c).await,
        Command::Mirror(c) => mirror_cmd::mirror(dirs, c).await,
        Command::Registry(c) => registry_cmd::registry(dirs, c).await,
        Command::Search(a) => registry_cmd::search(dirs, a).await,
        Command::Secret(c) => secret_cmd::secret(dirs, c),
        Command::Client(c) => client_cmd::client(dirs, c).await,
        Command::Autostart(c) => autostart_cmd::autostart(c),
        Command::Runtime(c) => runtime_cmd::runtime(dirs, c).await,
        Command::Proxy(c) => proxy_cmd::proxy(dirs, c).await,
        Command::ProxyServe(a) => proxy_cmd::proxy_serve(dirs, a).await,
    }
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}
