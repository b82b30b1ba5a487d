//! `thv-registry lint FILE|DIR|URL...`: curation quality beyond validity. Inputs are read as `validate` reads
//! them (server.json files, registry files of every format, directories, registry file URLs, live APIs); an
//! unreadable input is an `input-error` finding and the other inputs are still linted.
//!
//! Each finding has `type: linter` and a rule id as `reference`; its severity is the rule's (configurable).
//! Exit code 1 when any finding is an error (with `--strict`, also a warning).
//!
//! # Rules
//!
//! | id | default | what it finds |
//! |---|---|---|
//! | `invalid-document` | error | the entry is not a server.json document lint can read (run `validate`) |
//! | `image-invalid` | error | an OCI package identifier that is not a valid image reference |
//! | `image-unpinned` | warning | an OCI image without a tag, or tagged `latest`, and without a digest |
//! | `image-no-digest` | info | an OCI image pinned by tag only (tags move; a `@sha256:` digest does not) |
//! | `package-version-unpinned` | warning | a non-OCI package (npm, pypi, ...) without a version, or with a dist-tag (`latest`, `next`, no digit) |
//! | `no-repository` | warning | no `repository.url`: curators and users cannot review the source |
//! | `no-provenance` | info | a container server (OCI package) whose ToolHive extension declares no image provenance, so its signature cannot be verified |
//! | `no-toolhive-extension` | info | no ToolHive extension (`_meta[…publisher-provided]["io.github.stacklok"]`): tier, status, tools and permissions unknown |
//! | `extension-malformed` | error | the ToolHive extension does not have ToolHive's shape (ToolHive silently ignores it) |
//! | `extension-key-mismatch` | warning | the extension's key is neither a package identifier nor a remote URL of the entry, so ToolHive does not find it |
//! | `no-tools` | warning | the ToolHive extension lists no tools |
//! | `no-tier` | info | the ToolHive extension has no tier (`Official` or `Community`) |
//! | `no-permissions` | info | a container server whose extension declares no permission profile |
//! | `privileged-container` | warning | the permission profile runs the container privileged |
//! | `network-allow-all` | info | the permission profile allows every outbound connection (`insecure_allow_all`) |
//! | `weak-description` | warning | a description shorter than `min-description-length` (20), a placeholder (`TODO`, `MCP server`, ...), or the name/title repeated |
//! | `secret-not-marked` | error | an environment variable, header or named argument whose name looks secret (`TOKEN`, `SECRET`, `PASSWORD`, `API_KEY`, `Authorization`, ...) without `isSecret: true` (or `secret: true` in the extension's `env_vars`) |
//! | `secret-with-value` | error | a secret input that carries a `default` or a literal `value`: a credential published in the registry |
//! | `env-no-description` | info | an environment variable without a description (users are prompted with its name only) |
//! | `deprecated-schema` | warning | `$schema` absent or not the current server.json schema (2025-12-11) |
//! | `version-not-semver` | info | a version that is not `MAJOR.MINOR.PATCH[-PRE]`: registries then order versions by publish time |
//! | `remote-insecure-url` | warning | a remote URL over plain `http://` |
//! | `duplicate-remote-url` | warning | a remote URL already used by another server of the same input |
//! | `server-deprecated` | info | the server is deprecated (ToolHive status) or deprecated/deleted (registry status) |
//! | `no-title` | info, off | no `title` (clients fall back to the name) |
//! | `no-license` | info, off | no `license` in the extension's `custom_metadata` |
//!
//! Rules marked *off* run only when enabled (`--enable RULE` or the config file).
//!
//! # Configuration
//!
//! `--config lint.toml`:
//!
//! ```toml
//! min-description-length = 30   # for weak-description
//! enable = ["no-title"]         # turn on rules that are off by default
//! disable = ["image-no-digest"] # turn rules off
//! [rules]                       # per-rule severity: "error", "warning", "info" or "off"
//! no-provenance = "error"
//! network-allow-all = "off"
//! ```
//!
//! Then `--enable RULE` and `--disable RULE` (repeatable, comma-separated) apply, in that order. An unknown rule
//! id anywhere is an error. `--list-rules` prints every rule with its effective severity and description.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thv_core::image_ref::ImageRef;
use thv_core::server::{
    CURRENT_SCHEMA_URL, Input, KeyValueInput, PUBLISHER_PROVIDED_META, ServerJson,
};
use thv_core::toolhive::{self, STACKLOK_NAMESPACE, ServerExtensions};
use thv_core::validate::{IssueType, Severity, ValidationIssue};
use thv_core::version::is_semantic_version;

use crate::input::Entry;
use crate::report::{
    ApiArgs, EntryReport, Finding, InputReport, OutputFormat, Report, field, print_stdout,
    read_input, severity_name, table,
};

/// A rule: id, default severity (`None`: off by default, `natural` applies when enabled), description.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub id: &'static str,
    pub default: Option<Severity>,
    pub natural: Severity,
    pub description: &'static str,
}

const fn rule(id: &'static str, sev: Severity, description: &'static str) -> Rule {
    Rule {
        id,
        default: Some(sev),
        natural: sev,
        description,
    }
}

const fn off(id: &'static str, sev: Severity, description: &'static str) -> Rule {
    Rule {
        id,
        default: None,
        natural: sev,
        description,
    }
}

use Severity::{Error as E, Info as I, Warning as W};

/// Every rule, in the order of the module documentation.
pub const RULES: &[Rule] = &[
    rule(
        "invalid-document",
        E,
        "The entry is not a server.json document lint can read (run `thv-registry validate`).",
    ),
    rule(
        "image-invalid",
        E,
        "An OCI package identifier is not a valid image reference.",
    ),
    rule(
        "image-unpinned",
        W,
        "An OCI image has no tag or the `latest` tag, and no digest.",
    ),
    rule(
        "image-no-digest",
        I,
        "An OCI image is pinned by tag only, not by a @sha256 digest.",
    ),
    rule(
        "package-version-unpinned",
        W,
        "A non-OCI package has no version, or a dist-tag (latest, next, ...) instead of a version.",
    ),
    rule(
        "no-repository",
        W,
        "No repository URL: the source cannot be reviewed.",
    ),
    rule(
        "no-provenance",
        I,
        "A container server declares no image provenance (its signature cannot be verified).",
    ),
    rule(
        "no-toolhive-extension",
        I,
        "No ToolHive extension: tier, status, tools and permissions are unknown.",
    ),
    rule(
        "extension-malformed",
        E,
        "The ToolHive extension does not have ToolHive's shape (ToolHive ignores it).",
    ),
    rule(
        "extension-key-mismatch",
        W,
        "The ToolHive extension's key is neither a package identifier nor a remote URL of the entry.",
    ),
    rule("no-tools", W, "The ToolHive extension lists no tools."),
    rule(
        "no-tier",
        I,
        "The ToolHive extension has no tier (Official or Community).",
    ),
    rule(
        "no-permissions",
        I,
        "A container server declares no permission profile.",
    ),
    rule(
        "privileged-container",
        W,
        "The permission profile runs the container privileged.",
    ),
    rule(
        "network-allow-all",
        I,
        "The permission profile allows every outbound connection.",
    ),
    rule(
        "weak-description",
        W,
        "The description is too short, a placeholder, or repeats the name or title.",
    ),
    rule(
        "secret-not-marked",
        E,
        "An env var, header or named argument whose name looks secret is not marked isSecret.",
    ),
    rule(
        "secret-with-value",
        E,
        "A secret input carries a default or a literal value (a credential in the registry).",
    ),
    rule(
        "env-no-description",
        I,
        "An environment variable has no description.",
    ),
    rule(
        "deprecated-schema",
        W,
        "$schema is absent or not the current server.json schema.",
    ),
    rule(
        "version-not-semver",
        I,
        "The version is not semantic: registries order such versions by publish time.",
    ),
    rule("remote-insecure-url", W, "A remote URL uses plain http."),
    rule(
        "duplicate-remote-url",
        W,
        "A remote URL is already used by another server of the same input.",
    ),
    rule(
        "server-deprecated",
        I,
        "The server is deprecated (ToolHive status) or deprecated/deleted (registry status).",
    ),
    off("no-title", I, "The entry has no title."),
    off(
        "no-license",
        I,
        "The ToolHive extension's custom_metadata has no license.",
    ),
];

/// Default of `min-description-length`.
pub const MIN_DESCRIPTION_LENGTH: usize = 20;

#[derive(Debug, Args)]
#[command(
    after_long_help = "Check curation quality beyond validity: pinned images and package versions, repository and \
                  provenance, ToolHive metadata (tools, tier, permissions), descriptions, secrets without \
                  isSecret, deprecated schema versions, duplicate remote URLs, ...\n\nEach rule has a stable id \
                  and a severity (error, warning, info), configurable with --config lint.toml ([rules] \
                  RULE = \"error\"|\"warning\"|\"info\"|\"off\"; enable = [...]; disable = [...]; \
                  min-description-length = N), --enable and --disable. --list-rules prints them. Exit code 1 \
                  when any finding is an error (or, with --strict, a warning)."
)]
pub struct LintArgs {
    /// server.json files, registry files, directories, registry file URLs or registry API base URLs.
    #[arg(required_unless_present = "list_rules", value_name = "FILE|DIR|URL")]
    pub inputs: Vec<String>,
    /// A TOML file with rule settings.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Turn a rule off (repeatable, comma-separated).
    #[arg(long, value_name = "RULE", value_delimiter = ',')]
    pub disable: Vec<String>,
    /// Turn a rule on: one that is off by default or in the config (repeatable, comma-separated).
    #[arg(long, value_name = "RULE", value_delimiter = ',')]
    pub enable: Vec<String>,
    /// Print the rules (id, effective severity, description) and exit.
    #[arg(long)]
    pub list_rules: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
    /// Fail (exit code 1) on warnings too.
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

mod config;
mod extension;
mod metadata;
mod packages;

pub use config::Config;
use config::list_rules;
pub use packages::looks_secret;

pub async fn run(a: LintArgs) -> anyhow::Result<i32> {
    let cfg = Config::load(a.config.as_ref(), &a.enable, &a.disable)?;
    if a.list_rules {
        list_rules(&cfg, a.format)?;
        return Ok(0);
    }
    let api = a.api.options();
    let mut inputs = Vec::new();
    for origin in &a.inputs {
        let checked = read_input(origin, &api).await;
        let entries = match &checked.loaded {
            Some(loaded) => lint_entries(&loaded.entries, &cfg),
            None => Vec::new(),
        };
        let report: InputReport = checked.into_report(origin, entries);
        inputs.push(report);
    }
    let report = Report::new("lint", inputs, a.strict);
    report.print(a.format)?;
    Ok(report.exit_code())
}

/// Lints the entries of one input (the per-input rules, `duplicate-remote-url`, see all of them).
pub fn lint_entries(entries: &[Entry], cfg: &Config) -> Vec<EntryReport> {
    let mut remote_urls: HashMap<String, (String, String, String)> = HashMap::new();
    let mut out = Vec::new();
    for entry in entries {
        let mut l = Linter {
            cfg,
            issues: Vec::new(),
        };
        l.entry(entry, &mut remote_urls);
        let findings = l
            .issues
            .into_iter()
            .map(|i| Finding::in_entry(&entry.location, i))
            .collect();
        out.push(EntryReport::new(entry, findings));
    }
    out
}

struct Linter<'a> {
    cfg: &'a Config,
    issues: Vec<ValidationIssue>,
}

impl Linter<'_> {
    fn emit(&mut self, rule: &str, path: impl Into<String>, message: impl Into<String>) {
        if let Some(sev) = self.cfg.level(rule) {
            self.issues.push(ValidationIssue::new(
                IssueType::Linter,
                path,
                message,
                sev,
                rule,
            ));
        }
    }

    fn entry(
        &mut self,
        entry: &Entry,
        remote_urls: &mut HashMap<String, (String, String, String)>,
    ) {
        if let Some(error) = &entry.error {
            self.emit(
                "invalid-document",
                "",
                format!("{error}; run `thv-registry validate` for details"),
            );
            return;
        }
        let server = match ServerJson::deserialize(&entry.value) {
            Ok(s) => s,
            Err(e) => {
                self.emit(
                    "invalid-document",
                    "",
                    format!(
                        "not a server.json document ({e}); run `thv-registry validate` for details"
                    ),
                );
                return;
            }
        };
        self.schema(&server);
        self.description(&server);
        self.repository(&server);
        self.version(&server);
        self.packages(&server);
        self.remotes(&server, &entry.location, remote_urls);
        self.extension(&server);
        if let Some(o) = &entry.official
            && o.status.as_str() != "active"
        {
            self.emit(
                "server-deprecated",
                "",
                format!(
                    "the registry marks this version {}{}",
                    o.status.as_str(),
                    o.status_message
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        for n in [
            "GITHUB_PERSONAL_ACCESS_TOKEN",
            "STRIPE_SECRET_KEY",
            "API_KEY",
            "apiKey",
            "X-API-Key",
            "Authorization",
            "DB_PASSWORD",
            "AWS_SECRET_ACCESS_KEY",
            "--api-key",
            "GITLAB_PAT",
        ] {
            assert!(looks_secret(n), "{n}");
        }
        for n in [
            "GITHUB_HOST",
            "ASTRA_DB_KEYSPACE",
            "JOB_LOG_TOKEN_THRESHOLD",
            "MAX_TOOL_RESPONSE_TOKENS",
            "GITLAB_AUTH_COOKIE_PATH",
            "REDFISH_AUTH_METHOD",
            "LINUX_MCP_SSH_KEY_PATH",
            "REDIS_SSL_KEYFILE",
            "AWS_ACCESS_KEY_ID",
            "TOKEN_URL",
            "PUBLIC_KEY",
            "",
        ] {
            assert!(!looks_secret(n), "{n}");
        }
    }

    #[test]
    fn every_rule_is_unique_and_configurable() {
        let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len());
        let cfg = Config::load(None, &["no-title".into()], &["no-tier".into()]).unwrap();
        assert_eq!(cfg.level("no-title"), Some(I));
        assert_eq!(cfg.level("no-tier"), None);
        assert!(Config::load(None, &["nope".into()], &[]).is_err());
    }
}
