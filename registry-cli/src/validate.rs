//! `thv-registry validate FILE|DIR|URL...`: schema and semantic validation of registry entries, as the official
//! registry's `POST /validate` does it (`SchemaPolicy::Validate`: a non-current `$schema` is a warning).
//!
//! Inputs are server.json files, registry files (the upstream `{"$schema","version","meta","data":{"servers"}}`
//! wrapper, the legacy ToolHive format, a JSON array of server.json), directories of such files (recursively),
//! registry file URLs (a path ending in `.json`) and live registry APIs (any other URL; paged through
//! `/v0.1/servers`, the latest version of each server unless `--all-versions`).
//!
//! Every entry gets every issue of the JSON Schema pass (`type: schema`, the reference is the schema keyword
//! location) and of the semantic rules (`type: semantic`, the reference is the rule id). One registry-level rule
//! applies across the entries of one input:
//!
//! - `duplicate-version` (error): the same `name@version` appears more than once (a registry holds each version
//!   once; the official registry refuses to publish an existing version).
//! - `unreadable-entry` (error): an entry that cannot be read as it is — a list response item without a
//!   `server`, or registry metadata (`_meta["io.modelcontextprotocol.registry/official"]`) that cannot be read.
//!
//! Each entry is checked against the schema version its `$schema` declares (every published version is
//! bundled); a version other than the current one is a warning.
//!
//! An input that cannot be read (missing file, not JSON, truncated JSON with its line and column, an unknown
//! wrapper, an unreachable URL) is one `input-error` finding naming the input (or the file of a directory), and
//! the other inputs are still validated.
//!
//! Exit code: 1 when any finding is an error (with `--strict`, also when any is a warning), 0 otherwise.

use std::collections::HashMap;

use clap::Args;
use thv_core::validate::{IssueType, SchemaPolicy, Severity, ValidationIssue, validate_value};

use crate::report::{
    ApiArgs, EntryReport, Finding, InputReport, OutputFormat, Report, join_location, read_input,
};

/// Rule id of a `name@version` that appears more than once in one input.
pub const DUPLICATE_VERSION: &str = "duplicate-version";
/// Rule id of an entry that cannot be read as it is: a list response item without a `server`, or registry
/// metadata that cannot be read (a missing `publishedAt`, an unknown status).
pub const UNREADABLE_ENTRY: &str = "unreadable-entry";

#[derive(Debug, Args)]
#[command(
    after_long_help = "Validate server.json files, registry files (upstream wrapper, legacy ToolHive format, server \
                  lists), directories of them, registry file URLs and live registry APIs against the server.json \
                  JSON Schema and the official registry's semantic rules.\n\nEach issue is printed as \
                  `LOCATION: SEVERITY [RULE] MESSAGE`, where LOCATION is the input and the JSON path inside it \
                  (`registry.json: data.servers[3].packages[0].identifier`), followed by a summary. Exit code 1 \
                  when any issue is an error (or, with --strict, a warning)."
)]
pub struct ValidateArgs {
    /// server.json files, registry files, directories, registry file URLs or registry API base URLs.
    #[arg(required = true, value_name = "FILE|DIR|URL")]
    pub inputs: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
    /// Fail (exit code 1) on warnings too.
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

pub async fn run(a: ValidateArgs) -> anyhow::Result<i32> {
    let api = a.api.options();
    let mut inputs = Vec::new();
    for origin in &a.inputs {
        inputs.push(validate_input(origin, &api).await);
    }
    let report = Report::new("validate", inputs, a.strict);
    report.print(a.format)?;
    Ok(report.exit_code())
}

async fn validate_input(origin: &str, api: &crate::input::ApiOptions) -> InputReport {
    let checked = read_input(origin, api).await;
    let mut entries = Vec::new();
    if let Some(loaded) = &checked.loaded {
        let mut seen: HashMap<(String, String), String> = HashMap::new();
        for entry in &loaded.entries {
            let result = validate_value(&entry.value, SchemaPolicy::Validate);
            let unreadable = entry.error.iter().map(|e| {
                ValidationIssue::new(
                    IssueType::Json,
                    "",
                    e.clone(),
                    Severity::Error,
                    UNREADABLE_ENTRY,
                )
            });
            let findings = unreadable
                .chain(result.issues)
                .map(|i| Finding::in_entry(&entry.location, i))
                .collect();
            let mut report = EntryReport::new(entry, findings);
            let (name, version) = entry.identity();
            if !name.is_empty() && !version.is_empty() {
                match seen.get(&(name.clone(), version.clone())) {
                    Some(first) => report.push(Finding::in_entry(
                        &entry.location,
                        ValidationIssue::new(
                            IssueType::Semantic,
                            "version",
                            format!(
                                "duplicate version: {name}@{version} is also at {first}; a registry holds each \
                                 version of a server once"
                            ),
                            Severity::Error,
                            DUPLICATE_VERSION,
                        ),
                    )),
                    None => {
                        seen.insert((name, version), join_location(&entry.location, ""));
                    }
                }
            }
            entries.push(report);
        }
    }
    checked.into_report(origin, entries)
}
