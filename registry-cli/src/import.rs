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
//! Each entry is validated first against the schema version it declares (core's schema and semantic rules:
//! [`SchemaPolicy::Publish`] when pushing to an API, where a non-current `$schema` is an error, as publishing
//! requires; [`SchemaPolicy::Validate`] for files, where it is a warning). An invalid entry is reported with its
//! location and first error, and skipped; it never aborts the import. With `--upgrade-schema` (for `--to`), an
//! entry declaring an older published schema version is published with `$schema` rewritten to the current
//! version — only when the entry is valid under the current schema, otherwise it is reported as invalid with
//! the first error under the current schema; nothing else of the document changes.
//!
//! - `--into FILE`: the file is merged: its entries are kept, the same `name@version` is replaced (identical
//!   content and registry metadata are reported as `exists`), new versions are appended; it is written once,
//!   atomically, in its own format (a new file is an upstream registry). Entries are written as they were read
//!   (whatever schema version they declare) with the registry's metadata (status, publishedAt, isLatest) when the
//!   source has it — beside each server in a registry API list response, in each server's `_meta` otherwise.
//!   Nothing is written with `--dry-run` or when nothing changed.
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
use serde_json::{Map, Value};
use thv_core::api::{ServerStatus, format_timestamp};
use thv_core::registry_client::{RegistryClient, RegistryClientError};
use thv_core::registry_file::{FileEntry, FileKind, RegistryDocument};
use thv_core::server::{CURRENT_SCHEMA_URL, CURRENT_SCHEMA_VERSION};
use thv_core::validate::{
    KNOWN_SCHEMA_VERSIONS, SchemaPolicy, rules, schema_version_from_url, validate_value,
};

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
    /// With --to: publish an entry declaring an older server.json schema version with `$schema` rewritten to the
    /// current one, where the entry is valid under the current schema (the rest of it is published as it is).
    #[arg(long, requires = "to")]
    pub upgrade_schema: bool,
    /// Validate and report what would be imported; write and publish nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print only the entries that were invalid or failed (and the summary).
    #[arg(short, long)]
    pub quiet: bool,
}

/// A `--updated-since` that is not a timestamp.
#[derive(Debug, thiserror::Error)]
#[error("not an RFC 3339 timestamp (e.g. 2025-08-07T13:15:04Z): {0}")]
struct NotRfc3339(chrono::ParseError);

fn parse_rfc3339(s: &str) -> Result<DateTime<Utc>, NotRfc3339> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(NotRfc3339)
}

/// What happened to one entry.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Imported,
    /// Published with `$schema` rewritten from this version to the current one.
    Upgraded(String),
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
    upgraded: usize,
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
            Outcome::Upgraded(from) => {
                c.imported += 1;
                c.upgraded += 1;
                format!("imported  {key} ($schema {from} → {CURRENT_SCHEMA_VERSION})")
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
            self.bar.suspend(|| thv_core::outln!("{line}"));
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
        let replaced = match (c.replaced, c.upgraded) {
            (0, 0) => String::new(),
            (r, 0) => format!(" ({r} replaced)"),
            (0, u) => format!(" ({u} with $schema upgraded)"),
            (r, u) => format!(" ({r} replaced, {u} with $schema upgraded)"),
        };
        thv_core::outln!(
            "Summary: {} {verb}{replaced}, {skipped} skipped ({} invalid, {} exists, {} deleted), {} failed",
            c.imported,
            c.invalid,
            c.exists,
            c.deleted,
            c.failed
        );
        i32::from(c.invalid > 0 || c.failed > 0)
    }
}

/// The first error of a validation, with how many more there are (`None` when the document is valid).
pub(crate) fn invalid_reason(value: &Value, policy: SchemaPolicy) -> Option<(String, String)> {
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
    Some((
        first.reference.clone(),
        format!("{path}: {} [{}]{more}", first.message, first.reference),
    ))
}

/// Why an entry cannot be published to a registry API.
#[derive(Debug, thiserror::Error)]
enum PublishRefusal {
    /// The first schema or rule error, located.
    #[error("{0}")]
    Invalid(String),
    #[error(
        "{0} (--upgrade-schema publishes it declaring {CURRENT_SCHEMA_VERSION} if it is valid under that schema)"
    )]
    DeprecatedSchema(String),
    #[error(
        "not valid under the current schema {CURRENT_SCHEMA_VERSION}, $schema left as {from}: {reason}"
    )]
    InvalidWhenUpgraded { from: String, reason: String },
}

/// What publishing `value` to a registry API needs: `Ok(None)` as it is, `Ok(Some(from))` with `$schema`
/// rewritten from `from` to the current version (`upgrade`, and only where the document is valid under the
/// current schema), or why it cannot be published.
fn publish_check(value: &Value, upgrade: bool) -> Result<Option<String>, PublishRefusal> {
    let Some((rule, reason)) = invalid_reason(value, SchemaPolicy::Publish) else {
        return Ok(None);
    };
    let declared = value
        .get("$schema")
        .and_then(Value::as_str)
        .and_then(schema_version_from_url)
        .filter(|v| KNOWN_SCHEMA_VERSIONS.contains(v) && *v != CURRENT_SCHEMA_VERSION);
    let Some(from) = declared else {
        return Err(PublishRefusal::Invalid(reason));
    };
    if !upgrade {
        return Err(if rule == rules::SCHEMA_VERSION_DEPRECATED {
            PublishRefusal::DeprecatedSchema(reason)
        } else {
            PublishRefusal::Invalid(reason)
        });
    }
    match invalid_reason(&upgraded(value), SchemaPolicy::Publish) {
        None => Ok(Some(from.to_owned())),
        Some((_, reason)) => Err(PublishRefusal::InvalidWhenUpgraded {
            from: from.to_owned(),
            reason,
        }),
    }
}

/// The document declaring the current schema version.
fn upgraded(value: &Value) -> Value {
    let mut v = value.clone();
    if let Some(obj) = v.as_object_mut() {
        obj.insert(
            "$schema".to_owned(),
            Value::String(CURRENT_SCHEMA_URL.to_owned()),
        );
    }
    v
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
        thv_core::errln!("nothing to import: no entry of the sources passed the filters");
    }
    match (&a.into, client) {
        (Some(path), _) => into_file(path, entries, &mut reporter, a.dry_run)?,
        (None, Some(client)) => {
            to_api(&client, entries, &mut reporter, a.dry_run, a.upgrade_schema).await
        }
        (None, None) => unreachable!("clap requires --into or --to"),
    }
    Ok(reporter.finish(a.dry_run))
}

/// Splits off the unreadable entries and the ones deleted upstream, reporting them; returns the others.
fn screen(entries: Vec<Entry>, reporter: &mut Reporter) -> Vec<Entry> {
    let mut out = Vec::new();
    for e in entries {
        let key = key_of(&e);
        if let Some(error) = &e.error {
            reporter.record(&key, &e.location, Outcome::Invalid(error.clone()));
        } else if e
            .official
            .as_ref()
            .is_some_and(|o| o.status == ServerStatus::Deleted)
        {
            reporter.record(&key, &e.location, Outcome::Deleted);
        } else {
            out.push(e);
        }
    }
    out
}

/// The identity of a raw document, when it has one.
fn identity_of(value: &Value) -> Option<(String, String)> {
    let get = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_owned);
    Some((get("name")?, get("version")?))
}

fn into_file(
    path: &Path,
    entries: Vec<Entry>,
    reporter: &mut Reporter,
    dry_run: bool,
) -> anyhow::Result<()> {
    let name = path.display().to_string();
    let mut target = if path.exists() {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {name}"))?;
        RegistryDocument::read(&bytes).map_err(|e| anyhow::anyhow!("{name}: {e}"))?
    } else {
        RegistryDocument::new_upstream()
    };
    let mut index: HashMap<(String, String), usize> = target
        .entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| Some((identity_of(&e.value)?, i)))
        .collect();
    let mut changed = false;
    for e in screen(entries, reporter) {
        let key = key_of(&e);
        if let Some((_, reason)) = invalid_reason(&e.value, SchemaPolicy::Validate) {
            reporter.record(&key, &e.location, Outcome::Invalid(reason));
            continue;
        }
        let Some(id) = identity_of(&e.value) else {
            reporter.record(
                &key,
                &e.location,
                Outcome::Invalid("no name or version".into()),
            );
            continue;
        };
        let incoming = FileEntry {
            path: e.location.clone(),
            value: e.value,
            official: e.official,
            item_meta: Map::new(),
            error: None,
        };
        let outcome = match index.get(&id) {
            Some(&i) => {
                let current = &mut target.entries[i];
                if current.value == incoming.value && current.official == incoming.official {
                    Outcome::Exists
                } else {
                    current.value = incoming.value;
                    current.official = incoming.official;
                    Outcome::Replaced
                }
            }
            None => {
                index.insert(id, target.entries.len());
                target.entries.push(incoming);
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
    let now = format_timestamp(&Utc::now());
    let text = target.to_pretty_json(Some(&now)).map_err(|e| {
        if target.kind == FileKind::Legacy {
            anyhow::anyhow!(
                "{name} is a legacy registry file and cannot hold the result ({e}); nothing was written \
                 (import into an upstream registry file instead, or convert {name} first)"
            )
        } else {
            anyhow::anyhow!("{name}: {e}; nothing was written")
        }
    })?;
    atomic_write(path, text.as_bytes())
}

/// Whether a publish error says that the version exists already.
fn is_duplicate(e: &RegistryClientError) -> bool {
    match e {
        RegistryClientError::Http { status: 409, .. } => true,
        RegistryClientError::Http {
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
    upgrade: bool,
) {
    let mut valid = Vec::new();
    for e in screen(entries, reporter) {
        match publish_check(&e.value, upgrade) {
            Ok(from) => valid.push((e, from)),
            Err(refusal) => reporter.record(
                &key_of(&e),
                &e.location,
                Outcome::Invalid(refusal.to_string()),
            ),
        }
    }
    let mut transport_errors = 0;
    let mut abort: Option<String> = None;
    for (e, upgraded_from) in valid {
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
            let published = match &upgraded_from {
                Some(_) => client.publish(&upgraded(&e.value)).await,
                None => client.publish(&e.value).await,
            };
            match published {
                Ok(_) => Ok(upgraded_from
                    .clone()
                    .map_or(Outcome::Imported, Outcome::Upgraded)),
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
                    RegistryClientError::Unauthorized(_) => {
                        abort = Some(format!("{} refused the token", client.base_url()));
                    }
                    RegistryClientError::Transport(_) => {
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
