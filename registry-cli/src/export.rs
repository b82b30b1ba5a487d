//! `thv-registry export SOURCE --out FILE [--format upstream|legacy|list] [--name GLOB]... [--exclude GLOB]...
//! [--latest-only] [--include-deleted] [--status active,deprecated]`: writes a registry, all of it or a filtered
//! part, to a registry file.
//!
//! SOURCE is anything [`crate::input`] reads; usually a live registry API (every version is read, or only the
//! latest of each server with `--latest-only`), or registry files and directories. Filters:
//!
//! - `--name GLOB` (repeatable; any may match) and `--exclude GLOB` (repeatable): server-name globs with `*` and
//!   `?` (see [`crate::glob`]);
//! - `--status`: the registry status of each version (`active`, `deprecated`, `deleted`); entries read from
//!   files have no registry status and count as `active`, or `deprecated` when their ToolHive extension says so;
//! - deleted versions are left out unless `--include-deleted` (or `--status deleted`);
//! - `--latest-only`: for an API, the registry's `isLatest` version; for files, the highest version by the
//!   registry's rules (semantic versions compared numerically; a semantic version beats one that is not).
//!
//! The output is deterministic: versions sorted by name, then version (plain string order, as the API lists
//! them), pretty-printed, written atomically (`--out -` writes to stdout). `meta.last_updated` is the newest
//! `updatedAt` of the exported versions when the source is an API, the current time otherwise. The legacy format
//! holds one version per server: export it with `--latest-only`.
//!
//! Exit code 0; 1 on error (nothing is written) or when some entry was not a server.json document (left out
//! with a warning; the file is still written).

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use serde::Deserialize;
use serde_json::Value;
use thv_core::api::{ServerStatus, format_timestamp};
use thv_core::legacy::{ConvertError, upstream_to_legacy};
use thv_core::registry_file::{FileEntry, FileKind, RegistryDocument, UpstreamRegistry};
use thv_core::server::{PUBLISHER_PROVIDED_META, ServerJson};
use thv_core::toolhive::STACKLOK_NAMESPACE;
use thv_core::version::compare_versions;

use crate::input::{self, ApiOptions, Entry};
use crate::write::write_output;

/// Format of the exported file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// The upstream registry wrapper `{"$schema","version","meta","data":{"servers"}}`.
    #[default]
    Upstream,
    /// ToolHive's legacy format (one version per server: use --latest-only).
    Legacy,
    /// A JSON array of server.json documents (the official registry's seed format).
    List,
}

/// A registry status to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    Active,
    Deprecated,
    Deleted,
}

impl StatusArg {
    fn status(self) -> ServerStatus {
        match self {
            Self::Active => ServerStatus::Active,
            Self::Deprecated => ServerStatus::Deprecated,
            Self::Deleted => ServerStatus::Deleted,
        }
    }
}

#[derive(Debug, Args)]
#[command(
    long_about = "Write a registry (a registry API, registry files or a directory), all of it or a filtered \
                  part, to a registry file: the upstream wrapper (default), ToolHive's legacy format, or a JSON \
                  array of server.json. Versions are sorted by name and version; the file is written atomically \
                  (--out - writes to stdout).\n\nFilters: --name/--exclude server-name globs (`*`, `?`), --status, \
                  --latest-only; deleted versions only with --include-deleted.\n\nExit code 0; 1 on error \
                  (nothing written) or when some entry was not a server.json document (left out, with a warning)."
)]
pub struct ExportArgs {
    /// The registry to export: a registry API base URL, a registry file (or URL), or a directory.
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// The file to write (`-`: stdout).
    #[arg(short, long, value_name = "FILE")]
    pub out: PathBuf,
    /// Format of the written file.
    #[arg(long, value_enum, default_value_t)]
    pub format: ExportFormat,
    /// Only servers whose name matches this glob (`*`, `?`; repeatable, any may match).
    #[arg(long = "name", value_name = "GLOB")]
    pub names: Vec<String>,
    /// Leave out servers whose name matches this glob (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Only the latest version of each server.
    #[arg(long)]
    pub latest_only: bool,
    /// Include deleted versions (registry APIs).
    #[arg(long)]
    pub include_deleted: bool,
    /// Only versions with these registry statuses (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "STATUS,...")]
    pub status: Vec<StatusArg>,
}

/// The status of an entry: the registry's, else `deprecated` when its ToolHive extension says so, else active.
pub fn entry_status(e: &Entry) -> ServerStatus {
    if let Some(o) = &e.official {
        return o.status;
    }
    let deprecated = e
        .value
        .get("_meta")
        .and_then(|m| m.get(PUBLISHER_PROVIDED_META))
        .and_then(|p| p.get(STACKLOK_NAMESPACE))
        .and_then(Value::as_object)
        .and_then(|ns| ns.values().find_map(|ext| ext.get("status")?.as_str()))
        .is_some_and(|s| s.eq_ignore_ascii_case("deprecated"));
    if deprecated {
        ServerStatus::Deprecated
    } else {
        ServerStatus::Active
    }
}

/// Keeps, for each name, only the latest version (see the module documentation).
pub fn latest_per_name(entries: Vec<Entry>) -> Vec<Entry> {
    let mut best: BTreeMap<String, Entry> = BTreeMap::new();
    for e in entries {
        let (name, version) = e.identity();
        let published = |e: &Entry| {
            e.official
                .as_ref()
                .map_or(DateTime::<Utc>::MIN_UTC, |o| o.published_at)
        };
        match best.get(&name) {
            Some(cur) => {
                let (_, cur_version) = cur.identity();
                let newer = match (&e.official, &cur.official) {
                    (Some(a), Some(b)) if a.is_latest != b.is_latest => a.is_latest,
                    _ => compare_versions(&version, &cur_version, published(&e), published(cur))
                        .is_ge(),
                };
                if newer {
                    best.insert(name, e);
                }
            }
            None => {
                best.insert(name, e);
            }
        }
    }
    best.into_values().collect()
}

pub async fn run(a: ExportArgs) -> anyhow::Result<i32> {
    let wants_deleted = a.include_deleted || a.status.contains(&StatusArg::Deleted);
    let api = ApiOptions {
        updated_since: None,
        all_versions: !a.latest_only,
        include_deleted: wants_deleted,
    };
    let loaded = input::load(&a.source, &api).await?;
    let from_api = loaded.formats.contains(&"registry API");
    let total = loaded.entries.len();
    let filter = input::name_filter(&a.names, &a.exclude)?;
    let statuses: Vec<ServerStatus> = a.status.iter().map(|s| s.status()).collect();
    let mut kept: Vec<Entry> = loaded
        .entries
        .into_iter()
        .filter(|e| {
            let status = entry_status(e);
            filter.accepts(&e.identity().0)
                && (wants_deleted || status != ServerStatus::Deleted)
                && (statuses.is_empty() || statuses.contains(&status))
        })
        .collect();
    if a.latest_only && !from_api {
        kept = latest_per_name(kept);
    }

    let mut malformed = 0;
    let mut by_key: BTreeMap<(String, String), ServerJson> = BTreeMap::new();
    // The documents as read (whatever schema version they declare: the typed model would write a 2025-07-09
    // document's snake_case names in camelCase under its old `$schema`), for the upstream and list formats.
    let mut raw: BTreeMap<(String, String), FileEntry> = BTreeMap::new();
    let mut updated: Option<DateTime<Utc>> = None;
    for e in &kept {
        match ServerJson::deserialize(&e.value) {
            Ok(s) => {
                if let Some(o) = &e.official {
                    updated = updated.max(Some(o.updated_at));
                }
                raw.insert(
                    (s.name.clone(), s.version.clone()),
                    FileEntry {
                        path: e.location.clone(),
                        value: e.value.clone(),
                        // As before: the exported documents without the registry's metadata.
                        official: None,
                        item_meta: serde_json::Map::new(),
                        error: None,
                    },
                );
                if by_key
                    .insert((s.name.clone(), s.version.clone()), s)
                    .is_some()
                {
                    thv_core::errln!(
                        "warning: {}: a second copy of {}@{}; the last one is exported",
                        e.location,
                        e.identity().0,
                        e.identity().1
                    );
                }
            }
            Err(err) => {
                malformed += 1;
                thv_core::errln!(
                    "warning: {}: not a server.json document ({err}); left out",
                    e.location
                );
            }
        }
    }
    let servers: Vec<ServerJson> = by_key.into_values().collect();
    let count = servers.len();
    let names = {
        let mut n: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
        n.dedup();
        n.len()
    };
    let last_updated = format_timestamp(&updated.unwrap_or_else(Utc::now));
    let registry = UpstreamRegistry::new(servers, Some(last_updated));
    let as_read = |kind: FileKind| -> anyhow::Result<String> {
        let mut doc = RegistryDocument::new_upstream();
        doc.kind = kind;
        doc.entries = raw.values().cloned().collect();
        Ok(doc.to_pretty_json(Some(
            &registry.meta.last_updated.clone().unwrap_or_default(),
        ))?)
    };
    let text = match a.format {
        ExportFormat::Upstream => as_read(FileKind::Upstream)?,
        ExportFormat::List => as_read(FileKind::ServerList)?,
        ExportFormat::Legacy => {
            let legacy = upstream_to_legacy(&registry).map_err(|e| {
                let hint = if matches!(e, ConvertError::DuplicateKey { .. }) && !a.latest_only {
                    " (the legacy format holds one version per server: add --latest-only)"
                } else {
                    ""
                };
                anyhow::anyhow!("cannot export {} in the legacy format: {e}{hint}", a.source)
            })?;
            let mut t = serde_json::to_string_pretty(&legacy)?;
            t.push('\n');
            t
        }
    };
    write_output(&a.out, &text)?;
    if count == 0 {
        thv_core::errln!("warning: no version of {} passed the filters", a.source);
    }
    if a.out.as_os_str() != "-" {
        thv_core::errln!(
            "exported {count} versions of {names} servers from {} to {} ({} of {total} read were left out by filters)",
            a.source,
            a.out.display(),
            total - kept.len(),
        );
    }
    Ok(if malformed > 0 { 1 } else { 0 })
}
