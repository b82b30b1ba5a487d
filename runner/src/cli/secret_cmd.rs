//! `thv secret set|get|list|delete` (see [`crate::secrets`]).

use std::io::Read;

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::dirs::Dirs;
use crate::secrets::SecretStore;

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Store a secret; its value is read from stdin (never from the command line, which `ps` shows).
    Set { name: String },
    /// Print a secret's value.
    Get { name: String },
    /// List the stored secrets' names.
    List,
    /// Delete a stored secret.
    #[command(alias = "rm")]
    Delete { name: String },
}

pub fn secret(dirs: Dirs, c: SecretCommand) -> anyhow::Result<i32> {
    let store = SecretStore::new(dirs.secrets_file());
    match c {
        SecretCommand::Set { name } => {
            let mut value = String::new();
            std::io::stdin()
                .read_to_string(&mut value)
                .context("cannot read the secret from stdin")?;
            let value = value.strip_suffix('\n').unwrap_or(&value);
            let value = value.strip_suffix('\r').unwrap_or(value);
            if value.is_empty() {
                bail!("the secret's value (read from stdin) is empty");
            }
            store.set(&name, value)?;
            thv_core::errln!("secret '{name}' stored");
        }
        SecretCommand::Get { name } => match store.lookup(&name)? {
            Some(v) => outln!("{v}"),
            None => bail!("secret '{name}' not found"),
        },
        SecretCommand::List => {
            for n in store.list()? {
                outln!("{n}");
            }
        }
        SecretCommand::Delete { name } => {
            if !store.delete(&name)? {
                bail!("secret '{name}' not found");
            }
            thv_core::errln!("secret '{name}' deleted");
        }
    }
    Ok(0)
}
