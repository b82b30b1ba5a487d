//! Shared output of the commands that report findings about registry entries (`validate`, `lint`, and any
//! other command that checks entries): the `--format` flag, the options of live-API inputs, findings located
//! by input + JSON path, the human and JSON renderings, and the exit code.
//!
//! A finding has the shape of the official registry's `/validate` issues (`type`, `path`, `message`,
//! `severity`, `reference`) plus `location`: the input and the JSON path inside it
//! (`registry.json: data.servers[3].packages[0].identifier`). Human output prints one line per finding,
//!
//! ```text
//! registry.json: data.servers[3].packages[0].identifier: error [package-name-has-spaces] package name ...
//! ```
//!
//! then a summary line. The JSON report is
//!
//! ```text
//! {"command": "validate",
//!  "inputs": [{"input": "...", "formats": ["upstream registry"], "readable": true, "issues": [...],
//!              "entries": [{"location", "name", "version", "valid", "issues": [...]}]}],
//!  "summary": {"inputs", "unreadableInputs", "entries", "invalidEntries", "errors", "warnings", "infos", "ok"}}
//! ```
//!
//! where an input's own `issues` are those about the input as a whole (unreadable, not JSON, unknown shape).

use clap::{Args, ValueEnum};
use serde::Serialize;
use thv_core::validate::{IssueType, Severity, ValidationIssue};

use crate::input::{self, ApiOptions, Entry, Loaded};

/// Reference of the finding reported for an input that cannot be read (missing, not JSON, truncated, an
/// unknown shape, an unreachable URL).
pub const INPUT_ERROR: &str = "input-error";

/// `--format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// One line per finding and a summary.
    #[default]
    Text,
    /// A machine-readable JSON report.
    Json,
}

/// Options for inputs that are live registry APIs.
#[derive(Debug, Clone, Default, Args)]
pub struct ApiArgs {
    /// Live registry APIs: read every version of each server, not only the latest.
    #[arg(long)]
    pub all_versions: bool,
    /// Live registry APIs: include deleted versions.
    #[arg(long)]
    pub include_deleted: bool,
}

impl ApiArgs {
    pub fn options(&self) -> ApiOptions {
        ApiOptions {
            updated_since: None,
            all_versions: self.all_versions,
            include_deleted: self.include_deleted,
        }
    }
}

/// One finding, located in its input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    #[serde(rename = "type")]
    pub issue_type: IssueType,
    /// The input and the JSON path inside it: `registry.json: data.servers[3].packages[0].identifier`.
    pub location: String,
    /// The JSON path inside the entry (`packages[0].identifier`; `""` for the entry itself).
    pub path: String,
    pub severity: Severity,
    /// The rule id (or, for schema issues, the schema keyword location).
    pub reference: String,
    pub message: String,
}

impl Finding {
    /// A finding about an entry, from an issue whose path is relative to the entry.
    pub fn in_entry(entry_location: &str, issue: ValidationIssue) -> Self {
        Self {
            location: join_location(entry_location, &issue.path),
            issue_type: issue.issue_type,
            path: issue.path,
            severity: issue.severity,
            reference: issue.reference,
            message: issue.message,
        }
    }

    /// An error about an input that cannot be read. When the message names a file inside the input (a file of
    /// a directory), that file is the location.
    pub fn input_error(origin: &str, error: &anyhow::Error) -> Self {
        let text = format!("{error:#}");
        let (location, message) = split_named(origin, &text);
        Self {
            issue_type: IssueType::Json,
            location,
            path: String::new(),
            severity: Severity::Error,
            reference: INPUT_ERROR.into(),
            message,
        }
    }

    /// `LOCATION: SEVERITY [REFERENCE] MESSAGE`.
    pub fn line(&self) -> String {
        format!(
            "{}: {} [{}] {}",
            self.location,
            severity_name(self.severity),
            self.reference,
            self.message
        )
    }
}

/// Writes `text` to stdout; a closed pipe (`| head`) ends the process quietly, control characters are escaped
/// on a terminal ([`thv_core::output`]).
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    thv_core::out!("{text}");
    Ok(())
}

/// `error`, `warning`, `info`.
pub fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

/// Splits `"FILE: message"` when FILE starts with `origin` (the input or a file below it).
fn split_named(origin: &str, text: &str) -> (String, String) {
    if let Some(rest) = text.strip_prefix(origin)
        && let Some(i) = rest.find(": ")
    {
        let name = &text[..origin.len() + i];
        if !name.contains(' ') || name == origin {
            return (name.to_owned(), rest[i + 2..].to_owned());
        }
    }
    (origin.to_owned(), text.to_owned())
}

/// Appends a JSON path inside an entry to the entry's location: `f.json: data.servers[3]` + `packages[0]` →
/// `f.json: data.servers[3].packages[0]`; a whole-document entry (`f.json: (the document)`) becomes
/// `f.json: packages[0]`; an entry converted from the legacy format keeps its label and gets the path after
/// ` → `.
pub fn join_location(entry_location: &str, path: &str) -> String {
    if let Some(file) = entry_location.strip_suffix(": (the document)") {
        return if path.is_empty() {
            file.to_owned()
        } else {
            format!("{file}: {path}")
        };
    }
    if path.is_empty() {
        entry_location.to_owned()
    } else if entry_location.ends_with(')') {
        format!("{entry_location} → {path}")
    } else if path.starts_with('[') {
        format!("{entry_location}{path}")
    } else {
        format!("{entry_location}.{path}")
    }
}

/// Appends a field to a JSON path, quoting keys that are not plain identifiers:
/// `_meta` + `io.github.stacklok` → `_meta["io.github.stacklok"]`.
pub fn field(base: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '-'))
        && !key.chars().all(|c| c.is_ascii_digit());
    if !plain {
        let quoted = serde_json::to_string(key).unwrap_or_else(|_| format!("\"{key}\""));
        format!("{base}[{quoted}]")
    } else if base.is_empty() {
        key.to_owned()
    } else {
        format!("{base}.{key}")
    }
}

/// The findings about one entry.
#[derive(Debug, Clone, Serialize)]
pub struct EntryReport {
    pub location: String,
    pub name: String,
    pub version: String,
    /// No finding of severity `error`.
    pub valid: bool,
    pub issues: Vec<Finding>,
}

impl EntryReport {
    pub fn new(entry: &Entry, issues: Vec<Finding>) -> Self {
        let (name, version) = entry.identity();
        Self {
            location: entry.location.clone(),
            name,
            version,
            valid: !issues.iter().any(|i| i.severity == Severity::Error),
            issues,
        }
    }

    /// Adds a finding (keeping `valid` right).
    pub fn push(&mut self, finding: Finding) {
        if finding.severity == Severity::Error {
            self.valid = false;
        }
        self.issues.push(finding);
    }
}

/// The findings about one input argument.
#[derive(Debug, Clone, Serialize)]
pub struct InputReport {
    pub input: String,
    pub formats: Vec<String>,
    /// False when nothing could be read from the input.
    pub readable: bool,
    /// Findings about the input as a whole (or one of its files).
    pub issues: Vec<Finding>,
    pub entries: Vec<EntryReport>,
}

/// The counts of a report.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub inputs: usize,
    pub unreadable_inputs: usize,
    pub entries: usize,
    pub invalid_entries: usize,
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
    /// The command succeeds (exit code 0).
    pub ok: bool,
}

/// A whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub command: String,
    pub inputs: Vec<InputReport>,
    pub summary: Summary,
}

impl Report {
    /// Builds the report and its summary; with `strict`, warnings make it fail too.
    pub fn new(command: &str, inputs: Vec<InputReport>, strict: bool) -> Self {
        let mut s = Summary {
            inputs: inputs.len(),
            ..Summary::default()
        };
        for i in &inputs {
            s.unreadable_inputs += usize::from(!i.readable);
            s.entries += i.entries.len();
            s.invalid_entries += i.entries.iter().filter(|e| !e.valid).count();
            for f in i.findings() {
                match f.severity {
                    Severity::Error => s.errors += 1,
                    Severity::Warning => s.warnings += 1,
                    Severity::Info => s.infos += 1,
                }
            }
        }
        s.ok = s.errors == 0 && !(strict && s.warnings > 0);
        Self {
            command: command.to_owned(),
            inputs,
            summary: s,
        }
    }

    /// 0 when the report is ok, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.summary.ok { 0 } else { 1 }
    }

    /// Prints the report on stdout in `format`.
    pub fn print(&self, format: OutputFormat) -> anyhow::Result<()> {
        let mut text = String::new();
        match format {
            OutputFormat::Json => {
                text = serde_json::to_string_pretty(self)?;
                text.push('\n');
            }
            OutputFormat::Text => {
                for i in &self.inputs {
                    for f in i.findings() {
                        text.push_str(&f.line());
                        text.push('\n');
                    }
                }
                text.push_str(&self.summary_line());
                text.push('\n');
            }
        }
        print_stdout(&text)
    }

    /// `2 inputs, 103 entries (1 invalid): 1 error, 3 warnings, 0 infos`.
    pub fn summary_line(&self) -> String {
        let s = &self.summary;
        let mut line = format!(
            "{}, {}",
            plural(s.inputs, "input"),
            plural(s.entries, "entry")
        );
        if s.invalid_entries > 0 {
            line.push_str(&format!(" ({} invalid)", s.invalid_entries));
        }
        if s.unreadable_inputs > 0 {
            line.push_str(&format!(
                ", {} unreadable",
                plural(s.unreadable_inputs, "input")
            ));
        }
        line.push_str(&format!(
            ": {}, {}, {}",
            plural(s.errors, "error"),
            plural(s.warnings, "warning"),
            plural(s.infos, "info")
        ));
        line
    }
}

impl InputReport {
    /// The input's own findings, then its entries' findings, in order.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.issues
            .iter()
            .chain(self.entries.iter().flat_map(|e| e.issues.iter()))
    }
}

/// `1 entry`, `2 entries`, `0 infos`.
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else if let Some(stem) = word.strip_suffix('y') {
        format!("{n} {stem}ies")
    } else {
        format!("{n} {word}s")
    }
}

/// One input read for a checking command: what could be read, and the findings about what could not.
pub struct CheckedInput {
    pub loaded: Option<Loaded>,
    pub errors: Vec<Finding>,
}

impl CheckedInput {
    /// The report of this input, with `entries` (one per loaded entry, in order).
    pub fn into_report(self, origin: &str, entries: Vec<EntryReport>) -> InputReport {
        InputReport {
            input: origin.to_owned(),
            formats: self
                .loaded
                .as_ref()
                .map(|l| l.formats.iter().map(|f| (*f).to_owned()).collect())
                .unwrap_or_default(),
            readable: self.loaded.is_some(),
            issues: self.errors,
            entries,
        }
    }
}

/// Reads one input leniently ([`input::load_lenient`]): failures become `input-error` findings.
pub async fn read_input(origin: &str, api: &ApiOptions) -> CheckedInput {
    let (loaded, errors) = input::load_lenient(origin, api).await;
    CheckedInput {
        loaded,
        errors: errors
            .iter()
            .map(|e| Finding::input_error(origin, e))
            .collect(),
    }
}

/// A plain-text table: a header row, then rows, columns padded; numbers (cells of digits) right-aligned.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let cols = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let numeric = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let render = |cells: Vec<&str>| {
        let mut line = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(c.chars().count());
            if i > 0 {
                line.push_str("  ");
            }
            if i > 0 && numeric(c) {
                line.push_str(&" ".repeat(pad));
                line.push_str(c);
            } else {
                line.push_str(c);
                if i + 1 < cells.len() {
                    line.push_str(&" ".repeat(pad));
                }
            }
        }
        line.trim_end().to_owned()
    };
    let mut out = render(headers.to_vec());
    out.push('\n');
    for r in rows {
        out.push_str(&render(r.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_join() {
        assert_eq!(
            join_location("r.json: data.servers[3]", "packages[0].identifier"),
            "r.json: data.servers[3].packages[0].identifier"
        );
        assert_eq!(
            join_location("r.json: data.servers[3]", ""),
            "r.json: data.servers[3]"
        );
        assert_eq!(join_location("r.json: [1]", "[2]"), "r.json: [1][2]");
        assert_eq!(
            join_location("s.json: (the document)", "version"),
            "s.json: version"
        );
        assert_eq!(join_location("s.json: (the document)", ""), "s.json");
        assert_eq!(
            join_location("l.json: a/b (converted from the legacy format)", "version"),
            "l.json: a/b (converted from the legacy format) → version"
        );
    }

    #[test]
    fn input_errors_name_the_file() {
        let e = anyhow::anyhow!("dir/x.json: truncated JSON at line 1, column 2");
        let f = Finding::input_error("dir", &e);
        assert_eq!(f.location, "dir/x.json");
        assert_eq!(f.message, "truncated JSON at line 1, column 2");
        let e = anyhow::anyhow!("cannot read dir: gone");
        assert_eq!(Finding::input_error("dir", &e).location, "dir");
    }

    #[test]
    fn paths_quote_keys() {
        assert_eq!(field("", "_meta"), "_meta");
        assert_eq!(field("_meta", "a.b/c"), "_meta[\"a.b/c\"]");
        assert_eq!(field("x", "tools"), "x.tools");
    }

    #[test]
    fn plurals() {
        assert_eq!(plural(1, "entry"), "1 entry");
        assert_eq!(plural(2, "entry"), "2 entries");
        assert_eq!(plural(0, "info"), "0 infos");
    }
}
