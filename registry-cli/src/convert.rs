//! `thv-registry convert IN [--out FILE | --in-place] [--to upstream|legacy] [--no-backup]`: converts a registry
//! file between ToolHive's legacy format and the upstream registry format, with core's lossless conversion
//! ([`thv_core::legacy`]).
//!
//! The direction defaults to the other format than the input's: legacy → upstream, upstream (or a JSON array of
//! server.json) → legacy. Legacy → upstream is lossless (every legacy field has a place in the server.json
//! documents or in the ToolHive extension; core checks each entry by converting it back). Upstream → legacy
//! keeps everything the legacy format can say; what it cannot (icons, `websiteUrl`, non-OCI packages, a server's
//! version, skills) is reported on stderr, server by server, with the JSON paths that would be lost.
//!
//! The result goes to stdout, to `--out FILE`, or back into `IN` with `--in-place` (which first copies `IN` to
//! `IN.bak`, or `IN.<timestamp>.bak` when that exists, unless `--no-backup`). Files are written atomically (a
//! temporary file renamed over the target), so a failed conversion leaves the output untouched. Errors name the
//! file and the entry (`registry.json: legacy registry: servers.fetch: ...`).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use thv_core::legacy::{LegacyRegistry, legacy_to_upstream, upstream_to_legacy};
use thv_core::registry_file::{RegistryDocument, RegistryFile, UpstreamRegistry};

use crate::diff::{json_changes, short};
use crate::write::{atomic_write, backup};

/// A registry file format to convert to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The upstream registry wrapper `{"$schema","version","meta","data":{"servers":[server.json]}}`.
    Upstream,
    /// ToolHive's legacy format `{"servers":{...},"remote_servers":{...}}`.
    Legacy,
}

#[derive(Debug, Args)]
#[command(
    long_about = "Convert a registry file between ToolHive's legacy format and the upstream registry format \
                  (server.json documents with ToolHive's extension). Legacy → upstream is lossless; upstream → \
                  legacy reports on stderr whatever the legacy format cannot carry.\n\nThe direction defaults to \
                  the other format than the input's. The result goes to stdout, to --out, or back into the input \
                  with --in-place (after a backup to IN.bak, or IN.<timestamp>.bak when that exists, unless \
                  --no-backup). Files are written atomically: on any error the output is left untouched.\n\nExit \
                  code 0 on success, 1 on error."
)]
pub struct ConvertArgs {
    /// The registry file to convert (legacy, upstream, or a JSON array of server.json).
    #[arg(value_name = "IN")]
    pub input: PathBuf,
    /// Write the result to this file (atomically) instead of stdout.
    #[arg(short, long, value_name = "FILE", conflicts_with = "in_place")]
    pub out: Option<PathBuf>,
    /// Replace the input file with the result (after a backup, see --no-backup).
    #[arg(short = 'i', long)]
    pub in_place: bool,
    /// The format to convert to (default: the other one).
    #[arg(long, value_enum)]
    pub to: Option<Format>,
    /// With --in-place: do not keep a backup of the input.
    #[arg(long, requires = "in_place")]
    pub no_backup: bool,
}

pub async fn run(a: ConvertArgs) -> anyhow::Result<i32> {
    let name = a.input.display().to_string();
    let bytes = std::fs::read(&a.input).with_context(|| format!("cannot read {name}"))?;
    let parsed = RegistryFile::parse(&bytes).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let from = parsed.format_name();
    let count = parsed.server_count();
    let to = a.to.unwrap_or(match parsed {
        RegistryFile::Legacy(_) => Format::Upstream,
        _ => Format::Legacy,
    });
    let text = match to {
        Format::Upstream if !matches!(parsed, RegistryFile::Legacy(_)) => {
            // The documents as read, whatever schema version they declare (the typed model would write a
            // 2025-07-09 document's snake_case names in camelCase under its old `$schema`); a list response's
            // registry metadata goes into each document's `_meta`.
            let read =
                RegistryDocument::read(&bytes).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            if let Some(bad) = read.entries.iter().find_map(|e| e.error.as_ref()) {
                anyhow::bail!("{name}: {bad}");
            }
            if read.kind == thv_core::registry_file::FileKind::Upstream {
                read.to_pretty_json(None)?
            } else {
                let mut doc = RegistryDocument::new_upstream();
                doc.entries = read.entries;
                doc.to_pretty_json(None)?
            }
        }
        Format::Upstream => {
            let upstream = parsed.into_upstream().map_err(|e| {
                anyhow::anyhow!("{name}: cannot convert to the upstream format: {e}")
            })?;
            upstream.to_pretty_json()?
        }
        Format::Legacy => {
            let legacy = match parsed {
                RegistryFile::Legacy(l) => l,
                other => {
                    let upstream = other
                        .into_upstream()
                        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
                    let legacy = upstream_to_legacy(&upstream).map_err(|e| {
                        anyhow::anyhow!("{name}: cannot convert to the legacy format: {e}")
                    })?;
                    report_losses(&name, &upstream, &legacy);
                    legacy
                }
            };
            let mut text = serde_json::to_string_pretty(&legacy)?;
            text.push('\n');
            text
        }
    };
    let to_name = match to {
        Format::Upstream => "upstream registry",
        Format::Legacy => "legacy registry",
    };
    if a.in_place {
        let saved = if a.no_backup {
            None
        } else {
            Some(backup(&a.input)?)
        };
        atomic_write(&a.input, text.as_bytes())?;
        let saved = saved.map_or(String::new(), |b| format!(" (backup: {})", b.display()));
        thv_core::errln!("{name}: {from} → {to_name}, {count} servers, converted in place{saved}");
    } else if let Some(out) = &a.out {
        if out.as_os_str() == "-" {
            thv_core::out!("{text}");
        } else {
            atomic_write(out, text.as_bytes())?;
            thv_core::errln!(
                "{name}: {from} → {to_name}, {count} servers, written to {}",
                out.display()
            );
        }
    } else {
        thv_core::out!("{text}");
    }
    if from == to_name {
        thv_core::errln!("note: {name} was already a {from}; it was only re-serialized");
    }
    Ok(0)
}

/// Warns about what the legacy format could not carry: each server converted back to upstream is compared with
/// the original, and the differing JSON paths are listed.
fn report_losses(name: &str, upstream: &UpstreamRegistry, legacy: &LegacyRegistry) {
    let Ok(back) = legacy_to_upstream(legacy) else {
        thv_core::errln!(
            "warning: {name}: the legacy result does not convert back to upstream; some data may be lost"
        );
        return;
    };
    for original in &upstream.data.servers {
        let key = thv_core::legacy::server_key(&original.name);
        let Some(round) = back
            .data
            .servers
            .iter()
            .find(|s| thv_core::legacy::server_key(&s.name) == key)
        else {
            continue;
        };
        let (Ok(a), Ok(b)) = (serde_json::to_value(original), serde_json::to_value(round)) else {
            continue;
        };
        let changes = json_changes(&a, &b);
        if changes.is_empty() {
            continue;
        }
        let lost: Vec<String> = changes
            .iter()
            .take(8)
            .map(|c| format!("{} ({})", c.path, short(c.old.as_ref(), 40)))
            .collect();
        let more = if changes.len() > 8 {
            format!(", and {} more", changes.len() - 8)
        } else {
            String::new()
        };
        thv_core::errln!(
            "warning: {name}: {}@{}: not representable in the legacy format: {}{more}",
            original.name,
            original.version,
            lost.join(", ")
        );
    }
}
