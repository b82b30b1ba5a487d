//! `thv client setup|register|remove|list-registered|status`: MCP clients get every workload's proxy URL in
//! their configuration files (see [`crate::clients`]); registered clients are kept in `config.toml` and are
//! updated by `thv run` and `thv rm`.

use anyhow::Context;
use clap::Subcommand;
use thv_core::runconfig::RunConfig;

use crate::clients::{self, Change, ClientKind, ClientPaths};
use crate::config::UserConfig;
use crate::dirs::Dirs;
use crate::proxy::ProxyMode;
use crate::workloads::{Manager, proxy_url};

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register every installed client (those whose configuration directory exists).
    Setup,
    /// Register a client: vscode, vscode-insider, cursor or claude-code.
    Register { client: String },
    /// Unregister a client and remove the workloads' entries from its file.
    #[command(alias = "rm")]
    Remove { client: String },
    /// List the registered clients.
    ListRegistered,
    /// Show every supported client: installed, registered, its file.
    Status,
}

fn mode_of(url: &str) -> ProxyMode {
    if url.ends_with("/sse") {
        ProxyMode::Sse
    } else {
        ProxyMode::StreamableHttp
    }
}

fn registered(cfg: &UserConfig) -> Vec<ClientKind> {
    cfg.clients
        .registered
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// Writes every workload's URL into one client's file.
fn write_all(manager: &Manager, paths: &ClientPaths, client: ClientKind) -> anyhow::Result<usize> {
    let mut n = 0;
    for name in manager.store().names()? {
        let rc = manager.store().load_runconfig(&name)?;
        let url = proxy_url(&rc);
        clients::register(paths, client, &name, &url, mode_of(&url))?;
        n += 1;
    }
    Ok(n)
}

fn add_registered(dirs: &Dirs, client: ClientKind) -> anyhow::Result<()> {
    let path = dirs.config_file();
    let mut cfg = UserConfig::load(&path)?;
    if !cfg.clients.registered.iter().any(|c| c == client.name()) {
        cfg.clients.registered.push(client.name().to_owned());
        cfg.save(&path)?;
    }
    Ok(())
}

pub async fn client(dirs: Dirs, c: ClientCommand) -> anyhow::Result<i32> {
    let manager = Manager::new(dirs.clone())?;
    let paths = ClientPaths::from_env()?;
    match c {
        ClientCommand::Setup => {
            let found = clients::installed(&paths);
            if found.is_empty() {
                outln!(
                    "No supported client is installed (vscode, vscode-insider, cursor, claude-code)"
                );
            }
            for client in found {
                add_registered(&dirs, client)?;
                let n = write_all(&manager, &paths, client)?;
                outln!(
                    "{client}: registered ({n} workloads written to {})",
                    client.config_path(&paths).display()
                );
            }
        }
        ClientCommand::Register { client } => {
            let client: ClientKind = client.parse()?;
            let n = write_all(&manager, &paths, client)?;
            add_registered(&dirs, client)?;
            outln!(
                "{client}: registered ({n} workloads written to {})",
                client.config_path(&paths).display()
            );
        }
        ClientCommand::Remove { client } => {
            let client: ClientKind = client.parse()?;
            for name in manager.store().names()? {
                clients::unregister(&paths, client, &name)?;
            }
            let path = dirs.config_file();
            let mut cfg = UserConfig::load(&path)?;
            cfg.clients.registered.retain(|c| c != client.name());
            cfg.save(&path)?;
            outln!("{client}: unregistered");
        }
        ClientCommand::ListRegistered => {
            for c in registered(manager.config()) {
                outln!("{c}");
            }
        }
        ClientCommand::Status => {
            let reg = registered(manager.config());
            for c in ClientKind::ALL {
                outln!(
                    "{:<15} installed: {:<3}  registered: {:<3}  {}",
                    c.name(),
                    if c.is_installed(&paths) { "yes" } else { "no" },
                    if reg.contains(&c) { "yes" } else { "no" },
                    c.config_path(&paths).display()
                );
            }
        }
    }
    Ok(0)
}

/// After `thv run`: the new workload's URL goes into every registered client's file (a failure is a warning:
/// the workload runs).
pub fn register_workload(manager: &Manager, rc: &RunConfig) {
    let result = (|| -> anyhow::Result<()> {
        let paths = ClientPaths::from_env()?;
        let url = proxy_url(rc);
        for client in registered(manager.config()) {
            let change = clients::register(&paths, client, &rc.name, &url, mode_of(&url))
                .with_context(|| format!("client {client}"))?;
            if change != Change::Unchanged {
                thv_core::errln!("{client}: {} added", rc.name);
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        thv_core::errln!("warning: cannot update the client configuration: {e:#}");
    }
}

/// Before `thv rm`: the workload's entry leaves every registered client's file.
pub fn unregister_workload(manager: &Manager, name: &str) {
    let result = (|| -> anyhow::Result<()> {
        let paths = ClientPaths::from_env()?;
        for client in registered(manager.config()) {
            clients::unregister(&paths, client, name)
                .with_context(|| format!("client {client}"))?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        thv_core::errln!("warning: cannot update the client configuration: {e:#}");
    }
}
