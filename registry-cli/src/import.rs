//! `thv-registry import SOURCE... (--into FILE | --to URL [--token T]) [--updated-since RFC3339] [--name GLOB]...
//! [--dry-run]`: imports entries from upstream-compatible registries and files into a local registry file or a
//! running registry API.
//!
//! Sources are anything [`crate::input`] reads: registry API base URLs (paged through `GET /v0.1/servers`, every
//! version, only those updated after `--updated-since` when given), registry files (upstream, legacy, server
//! lists), registry file URLs, server.json files and directories. Entries are filtered by `--name`/`--exclude`
//! globs; versions deleted upstream are skipped (reported as `deleted`); when the same `name@version` comes
//! twice, the last source wins.
//!
//! Each entry is validated first (core's schema and semantic rules: [`SchemaPolicy::Publish`] when pushing to
//! an API, where a non-current `$schema` is an error, [`SchemaPolicy::Validate`] for files). An invalid entry is
//! reported with its location and first error, and skipped; it never aborts the import.
//!
//! - `--into FILE`: the file is merged: its entries are kept, the same `name@version` is replaced (identical
//!   content is reported as `exists`), new versions are appended; it is written once, atomically, in its own
//!   format (a new file is an upstream registry). Nothing is written with `--dry-run` or when nothing changed.
//! - `--to URL`: each entry is published (`POST /v0.1/publish`, bearer `--token`, `THV_REGISTRY_TOKEN` or the token `login` stored) in
//!   source order (oldest publish first for API sources, so that the target computes the same latest
//!   versions). A version that exists already is reported as `exists`; any other refusal (4xx, 5xx) as `failed`
//!   with the registry's reason, and the import goes on. A refused token (401) or a registry that stops
//!   answering (3 transport errors in a row) ends the import: the rest is counted as failed. `--dry-run`
//!   validates and asks the registry which versions exist, without publishing.
//!
//! One line per entry on stdout (`imported`, `replaced`, `exists`, `deleted`, `invalid`, `failed`; with `--quiet`
//! only `invalid` and `failed`), a progress bar on stderr when it is a terminal and the import is long, and a
//! summary: imported / skipped (invalid, exists, deleted) / failed. Exit code 1 when any entry was invalid or
//! failed, or on an error before anything was imported (a source that cannot be read: nothing is written or
//! published).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::{ArgGroup, Args};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Deserialize;
use serde_json::Value;
use thv_core::api::{ServerStatus, format_timestamp};
use thv_core::client::{ClientError, RegistryClient};
use thv_core::legacy::upstream_to_legacy;
use thv_core::registry_file::{RegistryFile, UpstreamRegistry};
use thv_core::server::ServerJson;
use thv_core::validate::{SchemaPolicy, validate_value};

use crate::input::{self, ApiOptions, Entry};
use crate::write::atomic_write;

/// Imports of at least this many entries get a progress bar (on a terminal).
const PROGRESS_THRESHOLD: usize = 20;
/// Transport errors in a row after which the target registry is considered gone.
const MAX_TRANSPORT_ERRORS_IN_A_ROW: usize = 3;

#[derive(Debug, Args)]
#[command(
    group(ArgGroup::new("target").required(true).args(["into", "to"])),
    long_about = "Import entries from registry APIs (paged through /v0.1/servers; --updated-since for an \
                  incremental import), registry files, server.json files and directories, into a registry file \
                  (--into: merged, same name@version replaced, written atomically) or a running registry API \
                  (--to: POST /v0.1/publish with --token).\n\nEvery entry is validated first (as publish does \
                  for --to); invalid entries are reported with the reason and skipped. Versions the target has \
                  already are reported as `exists`; versions deleted upstream as `deleted`. A refusal of one \
                  entry by the target is reported as `failed` and the import goes on.\n\nExit code 0 when every \
                  entry was imported or skipped as existing/deleted; 1 when any was invalid or failed, or on an \
                  error before the import started (nothing written)."
)]
pub struct ImportArgs {
    /// Where to import from: registry API base URLs, registry files (or URLs), server.json files, directories.
    #[arg(required = true, value_name = "SOURCE")]
    pub sources: Vec<String>,
    /// Merge into this registry file (created when missing).
    #[arg(long, value_name = "FILE")]
    pub into: Option<PathBuf>,
    /// Publish to this registry API (base URL).
    #[arg(long, value_name = "URL")]
    pub to: Option<String>,
    /// Registry token with publish permission (for --to).
    #[arg(long, env = "THV_REGISTRY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Registry API sources: only versions updated after this instant (RFC 3339).
    #[arg(long, value_name = "RFC3339", value_parser = parse_rfc3339)]
    pub updated_since: Option<DateTime<Utc>>,
    /// Only servers whose name matches this glob (`*`, `?`; repeatable, any may match).
    #[arg(long = "name", value_name = "GLOB")]
    pub names: Vec<String>,
    /// Leave out servers whose name matches this glob (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Registry API sources: only the latest version of each server.
    #[arg(long)]
    pub latest_only: bool,
    /// Validate and report what would be imported; write and publish nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print only the entries that were invalid or failed (and the summary).
    #[arg(short, long)]
    pub quiet: bool,
}

fn parse_rfc3339(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("not an RFC 3339 timestamp (e.g. 2025-08-07T13:15:04Z): {e}"))
}

/// What happened to one entry.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Imported,
    /// A file target: the same `name@version` with other content was replaced.
    Replaced,
    /// Dry run: would be imported.
    WouldImport,
    Exists,
    Deleted,
    Invalid(String),
    Failed(String),
}

#[derive(Debug, Default)]
struct Counts {
    imported: usize,
    replaced: usize,
    exists: usize,
    deleted: usize,
    invalid: usize,
    failed: usize,
}

struct Reporter {
    bar: ProgressBar,
    quiet: bool,
    counts: Counts,
}

impl Reporter {
    fn new(total: usize, quiet: bool) -> Self {
        let bar = if std::io::stderr().is_terminal() && total >= PROGRESS_THRESHOLD {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} importing [{bar:30}] {pos}/{len} ({per_sec}, eta {eta}) {msg}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        } else {
            ProgressBar::hidden()
        };
        Self {
            bar,
            quiet,
            counts: Counts::default(),
        }
    }

    fn record(&mut self, key: &str, location: &str, outcome: Outcome) {
        let c = &mut self.counts;
        let line = match &outcome {
            Outcome::Imported => {
                c.imported += 1;
                format!("imported  {key}")
            }
            Outcome::Replaced => {
                c.imported += 1;
                c.replaced += 1;
                format!("replaced  {key}")
            }
            Outcome::WouldImport => {
                c.imported += 1;
                format!("would import  {key}")
            }
            Outcome::Exists => {
                c.exists += 1;
                format!("exists    {key}: already in the target, skipped")
            }
            Outcome::Deleted => {
                c.deleted += 1;
                format!("deleted   {key}: deleted upstream, skipped")
            }
            Outcome::Invalid(reason) => {
                c.invalid += 1;
                format!("invalid   {key} ({location}): {reason}")
            }
            Outcome::Failed(reason) => {
                c.failed += 1;
                format!("failed    {key}: {reason}")
            }
        };
        let problem = matches!(outcome, Outcome::Invalid(_) | Outcome::Failed(_));
        if problem || !self.quiet {
            self.bar.suspend(|| println!("{line}"));
        }
        self.bar.inc(1);
    }

    fn finish(&self, dry_run: bool) -> i32 {
        self.bar.finish_and_clear();
        let c = &self.counts;
        let skipped = c.invalid + c.exists + c.deleted;
        let verb = if dry_run {
            "would be imported"
        } else {
            "imported"
        };
        let replaced = if c.replaced > 0 {
            format!(" ({} replaced)", c.replaced)
        } else {
            String::new()
        };
        println!(
            "Summary: {} {verb}{replaced}, {skipped} skipped ({} invalid, {} exists, {} deleted), {} failed",
            c.imported, c.invalid, c.exists, c.deleted, c.failed
        );
        i32::from(c.invalid > 0 || c.failed > 0)
    }
}

/// The first error of a validation, with how many more there are.
fn invalid_reason(value: &Value, policy: SchemaPolicy) -> Option<String> {
    let result = validate_value(value, policy);
    let errors: Vec<_> = result.errors().collect();
    let first = errors.first()?;
    let path = if first.path.is_empty() {
        "(document)"
    } else {
        &first.path
    };
    let more = match errors.len() - 1 {
        0 => String::new(),
        n => format!(" (and {n} more errors)"),
    };
    Some(format!(
        "{path}: {} [{}]{more}",
        first.message, first.reference
    ))
}

/// `name@version` of an entry, or its location when it has neither.
fn key_of(e: &Entry) -> String {
    match e.identity() {
        (n, v) if !n.is_empty() => format!("{n}@{v}"),
        _ => "(unnamed entry)".to_owned(),
    }
}

pub async fn run(a: ImportArgs) -> anyhow::Result<i32> {
    let client = match &a.to {
        Some(url) => {
            let token = match &a.token {
                Some(t) => Some(t.clone()),
                None => crate::publish::stored_token(url)?,
            };
            let builder = RegistryClient::builder(url).token_opt(token);
            let client = builder
                .build()
                .with_context(|| format!("cannot use the registry {url}"))?;
            if !a.dry_run && !client.has_token() {
                bail!(
                    "publishing to {url} needs a registry token: --token, THV_REGISTRY_TOKEN or `thv-registry login`"
                );
            }
            Some(client)
        }
        None => None,
    };
    // Read every source before touching the target: a source that cannot be read ends the import with nothing
    // written or published.
    let api = ApiOptions {
        updated_since: a.updated_since,
        all_versions: !a.latest_only,
        include_deleted: false,
    };
    let loaded = input::load_all(&a.sources, &api).await?;
    let filter = input::name_filter(&a.names, &a.exclude)?;
    let mut entries: Vec<Entry> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for l in loaded {
        for e in l.entries {
            let id = e.identity();
            if !filter.accepts(&id.0) {
                continue;
            }
            if id.0.is_empty() || id.1.is_empty() {
                entries.push(e);
                continue;
            }
            match index.get(&id) {
                Some(&i) => entries[i] = e,
                None => {
                    index.insert(id, entries.len());
                    entries.push(e);
                }
            }
        }
    }
    // Oldest publish first (API sources), so the target computes the same latest versions; files keep their
    // order.
    entries.sort_by_key(|e| e.official.as_ref().map(|o| o.published_at));

    let mut reporter = Reporter::new(entries.len(), a.quiet);
    if entries.is_empty() {
        eprintln!("nothing to import: no entry of the sources passed the filters");
    }
    match (&a.into, client) {
        (Some(path), _) => into_file(path, entries, &mut reporter, a.dry_run)?,
        (None, Some(client)) => to_api(&client, entries, &mut reporter, a.dry_run).await,
        (None, None) => unreachable!("clap requires --into or --to"),
    }
    Ok(reporter.finish(a.dry_run))
}

/// Splits off the entries deleted upstream and the invalid ones, reporting them; returns the others.
fn screen(entries: Vec<Entry>, policy: SchemaPolicy, reporter: &mut Reporter) -> Vec<Entry> {
    let mut out = Vec::new();
    for e in entries {
        let key = key_of(&e);
        if e.official
            .as_ref()
            .is_some_and(|o| o.status == ServerStatus::Deleted)
        {
            reporter.record(&key, &e.location, Outcome::Deleted);
        } else if let Some(reason) = invalid_reason(&e.value, policy) {
            reporter.record(&key, &e.location, Outcome::Invalid(reason));
        } else {
            out.push(e);
        }
    }
    out
}

/// The format a target file is written back in.
enum FileKind {
    Upstream,
    Legacy,
    List,
}

fn into_file(
    path: &Path,
    entries: Vec<Entry>,
    reporter: &mut Reporter,
    dry_run: bool,
) -> anyhow::Result<()> {
    let name = path.display().to_string();
    let (kind, mut registry) = if path.exists() {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {name}"))?;
        let parsed = RegistryFile::parse(&bytes).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let kind = match &parsed {
            RegistryFile::Upstream(_) => FileKind::Upstream,
            RegistryFile::Legacy(_) => FileKind::Legacy,
            RegistryFile::ServerList(_) => FileKind::List,
        };
        let registry = parsed
            .into_upstream()
            .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        (kind, registry)
    } else {
        (FileKind::Upstream, UpstreamRegistry::new(Vec::new(), None))
    };
    let mut index: HashMap<(String, String), usize> = registry
        .data
        .servers
        .iter()
        .enumerate()
        .map(|(i, s)| ((s.name.clone(), s.version.clone()), i))
        .collect();
    let mut changed = false;
    for e in screen(entries, SchemaPolicy::Validate, reporter) {
        let key = key_of(&e);
        let server = match ServerJson::deserialize(&e.value) {
            Ok(s) => s,
            Err(err) => {
                reporter.record(&key, &e.location, Outcome::Invalid(err.to_string()));
                continue;
            }
        };
        let id = (server.name.clone(), server.version.clone());
        let outcome = match index.get(&id) {
            Some(&i) => {
                let same = serde_json::to_value(&registry.data.servers[i]).ok()
                    == serde_json::to_value(&server).ok();
                if same {
                    Outcome::Exists
                } else {
                    registry.data.servers[i] = server;
                    Outcome::Replaced
                }
            }
            None => {
                index.insert(id, registry.data.servers.len());
                registry.data.servers.push(server);
                Outcome::Imported
            }
        };
        if outcome != Outcome::Exists {
            changed = true;
        }
        let outcome = match outcome {
            Outcome::Imported if dry_run => Outcome::WouldImport,
            o => o,
        };
        reporter.record(&key, &e.location, outcome);
    }
    if !changed || dry_run {
        return Ok(());
    }
    registry.meta.last_updated = Some(format_timestamp(&Utc::now()));
    let text = match kind {
        FileKind::Upstream => registry.to_pretty_json()?,
        FileKind::List => {
            let mut t = serde_json::to_string_pretty(&registry.data.servers)?;
            t.push('\n');
            t
        }
        FileKind::Legacy => {
            let legacy = upstream_to_legacy(&registry).map_err(|e| {
                anyhow::anyhow!(
                    "{name} is a legacy registry file and cannot hold the result ({e}); nothing was written \
                     (import into an upstream registry file instead, or convert {name} first)"
                )
            })?;
            let mut t = serde_json::to_string_pretty(&legacy)?;
            t.push('\n');
            t
        }
    };
    atomic_write(path, text.as_bytes())
}

/// Whether a publish error says that the version exists already.
fn is_duplicate(e: &ClientError) -> bool {
    match e {
        ClientError::Http { status: 409, .. } => true,
        ClientError::Http {
            status: 400,
            message,
        } => message.contains("already exists") || message.contains("duplicate version"),
        _ => false,
    }
}

async fn to_api(
    client: &RegistryClient,
    entries: Vec<Entry>,
    reporter: &mut Reporter,
    dry_run: bool,
) {
    let valid = screen(entries, SchemaPolicy::Publish, reporter);
    let mut transport_errors = 0;
    let mut abort: Option<String> = None;
    for e in valid {
        let key = key_of(&e);
        if let Some(reason) = &abort {
            reporter.record(
                &key,
                &e.location,
                Outcome::Failed(format!("not attempted: {reason}")),
            );
            continue;
        }
        let result = if dry_run {
            let (name, version) = e.identity();
            match client.get_version_with(&name, &version, true).await {
                Ok(_) => Ok(Outcome::Exists),
                Err(err) if err.is_not_found() => Ok(Outcome::WouldImport),
                Err(err) => Err(err),
            }
        } else {
            match client.publish(&e.value).await {
                Ok(_) => Ok(Outcome::Imported),
                Err(err) if is_duplicate(&err) => Ok(Outcome::Exists),
                Err(err) => Err(err),
            }
        };
        let outcome = match result {
            Ok(o) => {
                transport_errors = 0;
                o
            }
            Err(err) => {
                match &err {
                    ClientError::Unauthorized(_) => {
                        abort = Some(format!("{} refused the token", client.base_url()));
                    }
                    ClientError::Transport(_) => {
                        transport_errors += 1;
                        if transport_errors >= MAX_TRANSPORT_ERRORS_IN_A_ROW {
                            abort = Some(format!("{} does not answer", client.base_url()));
                        }
                    }
                    _ => transport_errors = 0,
                }
                Outcome::Failed(err.to_string())
            }
        };
        reporter.record(&key, &e.location, outcome);
    }
}
