//! `thv-registry stats FILE|DIR|URL...`: what a registry holds, counted over every entry of every input.
//!
//! - `servers` (distinct names) and `versions` (entries; a live API gives the latest version of each server
//!   unless `--all-versions`);
//! - `kinds`: entries with packages only, remotes only, both, neither;
//! - `transports`: entries per transport type (`stdio`, `streamable-http`, `sse`), for packages, for remotes
//!   and in total (an entry counts once per type);
//! - `packageTypes`: entries per package `registryType` (`oci`, `npm`, `pypi`, ...), and `packages` in total;
//! - `tiers` and `toolhiveStatus`: from ToolHive's extension (`_meta[…publisher-provided]["io.github.stacklok"]`),
//!   `(none)` when an entry has no extension or the field is absent;
//! - `registryStatus`: the registry's status (`active`, `deprecated`, `deleted`) of entries read from a live API
//!   (its `_meta["io.modelcontextprotocol.registry/official"]`), `(not from an API)` otherwise;
//! - `provenance`: entries whose extension declares image provenance;
//! - `schemas`: entries per `$schema` URL;
//! - `unreadable`: entries that are not server.json documents (counted in `versions` and `schemas` only).
//!
//! An input that cannot be read is reported on stderr (naming it) and the exit code is 1; the others are still
//! counted.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use clap::Args;
use serde::Serialize;
use serde_json::Value;
use thv_core::server::ServerJson;
use thv_core::toolhive;

use crate::input::Entry;
use crate::report::{ApiArgs, OutputFormat, print_stdout, read_input, table};

#[derive(Debug, Args)]
#[command(
    after_long_help = "Count the servers of registry files, directories, registry file URLs and live registry APIs: by \
                  transport (packages and remotes), package registry type, ToolHive tier and status, registry \
                  status (live APIs), provenance and $schema version. Text tables, or --format json."
)]
pub struct StatsArgs {
    /// Registry files, server.json files, directories, registry file URLs or registry API base URLs.
    #[arg(required = true, value_name = "FILE|DIR|URL")]
    pub inputs: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Counts per transport type.
#[derive(Debug, Default, Serialize)]
pub struct TransportCounts {
    pub packages: BTreeMap<String, usize>,
    pub remotes: BTreeMap<String, usize>,
    pub total: BTreeMap<String, usize>,
}

/// Entries by kind.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Kinds {
    pub packages_only: usize,
    pub remotes_only: usize,
    pub both: usize,
    pub neither: usize,
}

/// One input as read.
#[derive(Debug, Serialize)]
pub struct InputSummary {
    pub input: String,
    pub formats: Vec<String>,
    pub entries: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// Everything `stats` counts.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub inputs: Vec<InputSummary>,
    pub servers: usize,
    pub versions: usize,
    pub unreadable: usize,
    pub kinds: Kinds,
    pub transports: TransportCounts,
    pub packages: usize,
    pub package_types: BTreeMap<String, usize>,
    pub remotes: usize,
    pub tiers: BTreeMap<String, usize>,
    pub toolhive_status: BTreeMap<String, usize>,
    pub registry_status: BTreeMap<String, usize>,
    pub provenance: usize,
    pub without_provenance: usize,
    pub schemas: BTreeMap<String, usize>,
}

const NONE: &str = "(none)";

fn bump(map: &mut BTreeMap<String, usize>, key: &str) {
    *map.entry(key.to_owned()).or_default() += 1;
}

impl Stats {
    /// Counts one entry.
    pub fn add(&mut self, entry: &Entry, names: &mut BTreeSet<String>) {
        self.versions += 1;
        let schema = entry
            .value
            .get("$schema")
            .and_then(Value::as_str)
            .unwrap_or(NONE);
        bump(&mut self.schemas, schema);
        let status = entry
            .official
            .as_ref()
            .map_or("(not from an API)", |o| o.status.as_str());
        bump(&mut self.registry_status, status);
        let Ok(server) = serde_json::from_value::<ServerJson>(entry.value.clone()) else {
            self.unreadable += 1;
            if let Some(name) = entry.value.get("name").and_then(Value::as_str) {
                names.insert(name.to_owned());
            }
            return;
        };
        names.insert(server.name.clone());
        let packages = server.packages.as_deref().unwrap_or_default();
        let remotes = server.remotes.as_deref().unwrap_or_default();
        match (packages.is_empty(), remotes.is_empty()) {
            (false, true) => self.kinds.packages_only += 1,
            (true, false) => self.kinds.remotes_only += 1,
            (false, false) => self.kinds.both += 1,
            (true, true) => self.kinds.neither += 1,
        }
        self.packages += packages.len();
        self.remotes += remotes.len();
        let pkg_transports: BTreeSet<&str> = packages
            .iter()
            .map(|p| p.transport.transport_type.as_str())
            .collect();
        let remote_transports: BTreeSet<&str> =
            remotes.iter().map(|r| r.transport_type.as_str()).collect();
        for t in &pkg_transports {
            bump(&mut self.transports.packages, t);
        }
        for t in &remote_transports {
            bump(&mut self.transports.remotes, t);
        }
        for t in pkg_transports.union(&remote_transports) {
            bump(&mut self.transports.total, t);
        }
        let types: BTreeSet<&str> = packages.iter().map(|p| p.registry_type.as_str()).collect();
        for t in types {
            bump(&mut self.package_types, t);
        }
        let ext = toolhive::extensions(&server).map(|(_, e)| e);
        bump(
            &mut self.tiers,
            ext.as_ref().and_then(|e| e.tier.as_deref()).unwrap_or(NONE),
        );
        bump(
            &mut self.toolhive_status,
            ext.as_ref()
                .and_then(|e| e.status.as_deref())
                .unwrap_or(NONE),
        );
        if ext.as_ref().is_some_and(|e| e.provenance.is_some()) {
            self.provenance += 1;
        } else {
            self.without_provenance += 1;
        }
    }

    /// The text tables.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        for i in &self.inputs {
            let _ = write!(out, "{}: {} entries", i.input, i.entries);
            if !i.formats.is_empty() {
                let _ = write!(out, " ({})", i.formats.join(", "));
            }
            if !i.errors.is_empty() {
                let _ = write!(out, ", {} unreadable", i.errors.len());
            }
            out.push('\n');
        }
        out.push('\n');
        let n = |v: usize| v.to_string();
        let mut rows = vec![
            vec!["Servers".into(), n(self.servers)],
            vec!["Versions".into(), n(self.versions)],
            vec!["With packages only".into(), n(self.kinds.packages_only)],
            vec!["With remotes only".into(), n(self.kinds.remotes_only)],
            vec!["With packages and remotes".into(), n(self.kinds.both)],
            vec!["With neither".into(), n(self.kinds.neither)],
            vec!["Packages".into(), n(self.packages)],
            vec!["Remotes".into(), n(self.remotes)],
            vec!["With provenance".into(), n(self.provenance)],
            vec!["Without provenance".into(), n(self.without_provenance)],
        ];
        if self.unreadable > 0 {
            rows.push(vec!["Not server.json".into(), n(self.unreadable)]);
        }
        out.push_str(&table(&["Total", "Count"], &rows));
        out.push('\n');
        let keys: BTreeSet<&String> = self.transports.total.keys().collect();
        let get = |m: &BTreeMap<String, usize>, k: &str| n(m.get(k).copied().unwrap_or(0));
        let rows: Vec<Vec<String>> = keys
            .iter()
            .map(|k| {
                vec![
                    (*k).clone(),
                    get(&self.transports.packages, k),
                    get(&self.transports.remotes, k),
                    get(&self.transports.total, k),
                ]
            })
            .collect();
        out.push_str(&table(
            &["Transport", "Packages", "Remotes", "Total"],
            &rows,
        ));
        for (title, map) in [
            ("Package type", &self.package_types),
            ("Tier", &self.tiers),
            ("ToolHive status", &self.toolhive_status),
            ("Registry status", &self.registry_status),
            ("Schema", &self.schemas),
        ] {
            out.push('\n');
            let rows: Vec<Vec<String>> = map.iter().map(|(k, v)| vec![k.clone(), n(*v)]).collect();
            out.push_str(&table(&[title, "Entries"], &rows));
        }
        out
    }
}

pub async fn run(a: StatsArgs) -> anyhow::Result<i32> {
    let api = a.api.options();
    let mut stats = Stats::default();
    let mut names = BTreeSet::new();
    let mut failed = false;
    for origin in &a.inputs {
        let checked = read_input(origin, &api).await;
        let mut summary = InputSummary {
            input: origin.clone(),
            formats: Vec::new(),
            entries: 0,
            errors: checked.errors.iter().map(|f| f.line()).collect(),
        };
        for f in &checked.errors {
            thv_core::errln!("{}", f.line());
            failed = true;
        }
        if let Some(loaded) = &checked.loaded {
            summary.formats = loaded.formats.iter().map(|f| (*f).to_owned()).collect();
            summary.entries = loaded.entries.len();
            for e in &loaded.entries {
                stats.add(e, &mut names);
            }
        }
        stats.inputs.push(summary);
    }
    stats.servers = names.len();
    match a.format {
        OutputFormat::Json => print_stdout(&(serde_json::to_string_pretty(&stats)? + "\n"))?,
        OutputFormat::Text => print_stdout(&stats.render_text())?,
    }
    Ok(i32::from(failed))
}
