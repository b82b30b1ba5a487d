//! `thv registry list|info` and `thv search`.

use clap::{Args, Subcommand};
use thv_core::runconfig::match_short_name;

use super::{Format, print_json};
use crate::config::UserConfig;
use crate::dirs::Dirs;
use crate::registry::RegistrySource;

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// List the registry's servers.
    List {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Show one server's registry entry (server.json).
    Info {
        /// Full or short name.
        name: String,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Text to find in names and descriptions.
    pub query: String,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

fn source(dirs: &Dirs) -> anyhow::Result<RegistrySource> {
    let cfg = UserConfig::load(&dirs.config_file())?;
    Ok(RegistrySource::from_setting(cfg.registry.url.as_deref()))
}

fn print_servers(servers: &[thv_core::server::ServerJson], format: Format) -> anyhow::Result<()> {
    if format == Format::Json {
        return print_json(&servers);
    }
    if servers.is_empty() {
        outln!("No servers found");
    }
    let width = servers
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    for s in servers {
        let desc: String = s.description.chars().take(70).collect();
        outln!("{:<width$}  {:<10}  {desc}", s.name, s.version);
    }
    Ok(())
}

pub async fn registry(dirs: Dirs, c: RegistryCommand) -> anyhow::Result<i32> {
    let src = source(&dirs)?;
    match c {
        RegistryCommand::List { format } => print_servers(&src.list(None).await?, format)?,
        RegistryCommand::Info { name, format } => {
            let found = src.find(&name).await?;
            let s = &found.server;
            match format {
                Format::Json => print_json(s)?,
                Format::Text => {
                    outln!("Name:        {}", s.name);
                    outln!("Version:     {}", s.version);
                    outln!("Description: {}", s.description);
                    if let Some(r) = &s.repository {
                        outln!("Repository:  {}", serde_json::to_string(r)?);
                    }
                    for p in s.packages.as_deref().unwrap_or_default() {
                        outln!(
                            "Package:     {} {} ({})",
                            p.registry_type,
                            p.identifier,
                            p.transport.transport_type
                        );
                    }
                    for r in s.remotes.as_deref().unwrap_or_default() {
                        outln!(
                            "Remote:      {} ({})",
                            r.url.as_deref().unwrap_or(""),
                            r.transport_type
                        );
                    }
                }
            }
        }
    }
    Ok(0)
}

pub async fn search(dirs: Dirs, a: SearchArgs) -> anyhow::Result<i32> {
    let src = source(&dirs)?;
    let servers = src.list(Some(&a.query)).await?;
    // Keep the helper in use for consistent matching semantics: an exact short-name hit is listed first.
    let mut servers = servers;
    if let Ok(hit) =
        match_short_name(&a.query, servers.iter().map(|s| s.name.as_str())).map(str::to_owned)
        && let Some(i) = servers.iter().position(|s| s.name == hit)
    {
        let s = servers.remove(i);
        servers.insert(0, s);
    }
    print_servers(&servers, a.format)?;
    Ok(0)
}
