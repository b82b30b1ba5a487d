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

/// `lint.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ConfigFile {
    #[serde(default)]
    rules: BTreeMap<String, String>,
    #[serde(default)]
    enable: Vec<String>,
    #[serde(default)]
    disable: Vec<String>,
    min_description_length: Option<usize>,
}

/// The effective settings: each rule's severity (`None`: off).
#[derive(Debug, Clone)]
pub struct Config {
    pub severity: HashMap<&'static str, Option<Severity>>,
    pub min_description_length: usize,
}

fn find_rule(id: &str, from: &str) -> anyhow::Result<&'static Rule> {
    RULES.iter().find(|r| r.id == id).with_context(|| {
        format!("{from}: unknown lint rule `{id}` (`thv-registry lint --list-rules` lists them)")
    })
}

fn parse_level(s: &str) -> Option<Option<Severity>> {
    match s.to_ascii_lowercase().as_str() {
        "error" => Some(Some(E)),
        "warning" | "warn" => Some(Some(W)),
        "info" => Some(Some(I)),
        "off" => Some(None),
        _ => None,
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            severity: RULES.iter().map(|r| (r.id, r.default)).collect(),
            min_description_length: MIN_DESCRIPTION_LENGTH,
        }
    }
}

impl Config {
    /// Defaults, then the config file, then `--enable`, then `--disable`.
    pub fn load(
        path: Option<&PathBuf>,
        enable: &[String],
        disable: &[String],
    ) -> anyhow::Result<Self> {
        let mut cfg = Self::default();
        if let Some(path) = path {
            let name = path.display().to_string();
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read {name}"))?;
            let file: ConfigFile =
                toml::from_str(&text).with_context(|| format!("{name}: invalid lint config"))?;
            for (id, level) in &file.rules {
                let r = find_rule(id, &name)?;
                let Some(sev) = parse_level(level) else {
                    bail!(
                        "{name}: rule `{id}`: severity `{level}` is not error, warning, info or off"
                    );
                };
                cfg.severity.insert(r.id, sev);
            }
            for id in &file.enable {
                cfg.enable(find_rule(id, &name)?);
            }
            for id in &file.disable {
                cfg.severity.insert(find_rule(id, &name)?.id, None);
            }
            if let Some(n) = file.min_description_length {
                cfg.min_description_length = n;
            }
        }
        for id in enable {
            cfg.enable(find_rule(id, "--enable")?);
        }
        for id in disable {
            cfg.severity.insert(find_rule(id, "--disable")?.id, None);
        }
        Ok(cfg)
    }

    fn enable(&mut self, r: &'static Rule) {
        let current = self.severity.get(r.id).copied().flatten();
        self.severity
            .insert(r.id, Some(current.unwrap_or(r.natural)));
    }

    pub fn level(&self, id: &str) -> Option<Severity> {
        self.severity.get(id).copied().flatten()
    }
}

/// One rule as `--list-rules --format json` prints it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RuleInfo {
    id: &'static str,
    severity: &'static str,
    default_severity: &'static str,
    description: &'static str,
}

fn level_name(s: Option<Severity>) -> &'static str {
    s.map_or("off", severity_name)
}

fn list_rules(cfg: &Config, format: OutputFormat) -> anyhow::Result<()> {
    let infos: Vec<RuleInfo> = RULES
        .iter()
        .map(|r| RuleInfo {
            id: r.id,
            severity: level_name(cfg.level(r.id)),
            default_severity: level_name(r.default),
            description: r.description,
        })
        .collect();
    match format {
        OutputFormat::Json => print_stdout(&(serde_json::to_string_pretty(&infos)? + "\n"))?,
        OutputFormat::Text => {
            let rows: Vec<Vec<String>> = infos
                .iter()
                .map(|i| vec![i.id.into(), i.severity.into(), i.description.into()])
                .collect();
            print_stdout(&table(&["RULE", "SEVERITY", "DESCRIPTION"], &rows))?;
        }
    }
    Ok(())
}

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

const PLACEHOLDERS: &[&str] = &[
    "todo",
    "tbd",
    "description",
    "mcp server",
    "an mcp server",
    "a mcp server",
    "server",
    "test",
    "n/a",
    "none",
    "lorem ipsum",
];

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

    fn schema(&mut self, s: &ServerJson) {
        match s.schema.as_deref() {
            None | Some("") => self.emit(
                "deprecated-schema",
                "$schema",
                format!("no $schema; declare the current one ({CURRENT_SCHEMA_URL})"),
            ),
            Some(url) if url != CURRENT_SCHEMA_URL => {
                let version = thv_core::validate::schema_version_from_url(url).unwrap_or(url);
                self.emit(
                    "deprecated-schema",
                    "$schema",
                    format!(
                        "schema {version} is not the current server.json schema; migrate to {CURRENT_SCHEMA_URL}"
                    ),
                );
            }
            Some(_) => {}
        }
    }

    fn description(&mut self, s: &ServerJson) {
        let d = s.description.trim();
        let lower = d.to_ascii_lowercase();
        let short = s
            .name
            .rsplit('/')
            .next()
            .unwrap_or(&s.name)
            .to_ascii_lowercase();
        let title = s.title.as_deref().map(|t| t.trim().to_ascii_lowercase());
        let min = self.cfg.min_description_length;
        let why = if d.is_empty() {
            Some("the description is empty".to_owned())
        } else if PLACEHOLDERS.contains(&lower.trim_end_matches('.'))
            || lower.starts_with("todo")
            || lower.starts_with("tbd")
        {
            Some(format!("the description \"{d}\" is a placeholder"))
        } else if lower == s.name.to_ascii_lowercase()
            || lower == short
            || title.as_deref() == Some(lower.as_str())
        {
            Some(format!(
                "the description \"{d}\" only repeats the name or title"
            ))
        } else if d.chars().count() < min {
            Some(format!(
                "the description \"{d}\" is shorter than {min} characters; say what the server does"
            ))
        } else {
            None
        };
        if let Some(why) = why {
            self.emit("weak-description", "description", why);
        }
        if s.title.as_deref().is_none_or(|t| t.trim().is_empty()) {
            self.emit(
                "no-title",
                "title",
                "no title; clients show the name instead",
            );
        }
    }

    fn repository(&mut self, s: &ServerJson) {
        if s.repository
            .as_ref()
            .is_none_or(|r| r.url.trim().is_empty())
        {
            self.emit(
                "no-repository",
                "repository",
                "no repository URL: curators and users cannot review the source",
            );
        }
    }

    fn version(&mut self, s: &ServerJson) {
        if !s.version.is_empty() && !is_semantic_version(&s.version) {
            self.emit(
                "version-not-semver",
                "version",
                format!(
                    "version \"{}\" is not MAJOR.MINOR.PATCH[-PRERELEASE]: registries order it by publish time, \
                     and a semantic version always ranks above it",
                    s.version
                ),
            );
        }
    }

    fn packages(&mut self, s: &ServerJson) {
        for (i, p) in s.packages.iter().flatten().enumerate() {
            let at = format!("packages[{i}]");
            let id_path = field(&at, "identifier");
            let kind = p.registry_type.to_ascii_lowercase();
            if kind == "oci" {
                match ImageRef::parse(&p.identifier) {
                    Err(e) => self.emit(
                        "image-invalid",
                        id_path,
                        format!(
                            "\"{}\" is not a valid image reference: {e}",
                            p.identifier
                        ),
                    ),
                    Ok(r) if r.digest.is_none() => {
                        match r.tag.as_deref() {
                            None => self.emit(
                                "image-unpinned",
                                id_path,
                                format!(
                                    "image {} has no tag (it means `latest`) and no digest: pin a version tag or \
                                     a @sha256 digest",
                                    p.identifier
                                ),
                            ),
                            Some("latest") => self.emit(
                                "image-unpinned",
                                id_path,
                                format!(
                                    "image {} uses the `latest` tag: pin a version tag or a @sha256 digest",
                                    p.identifier
                                ),
                            ),
                            Some(tag) => self.emit(
                                "image-no-digest",
                                id_path,
                                format!(
                                    "image {} is pinned by the tag {tag} only; a @sha256 digest cannot move",
                                    p.identifier
                                ),
                            ),
                        }
                    }
                    Ok(_) => {}
                }
            } else if kind != "mcpb" {
                let vpath = field(&at, "version");
                match p.version.as_deref().map(str::trim) {
                    None | Some("") => self.emit(
                        "package-version-unpinned",
                        vpath,
                        format!(
                            "{} package {} has no version: clients install whatever is newest",
                            p.registry_type, p.identifier
                        ),
                    ),
                    Some(v)
                        if matches!(
                            v.to_ascii_lowercase().as_str(),
                            "latest" | "next" | "beta" | "alpha" | "canary" | "stable" | "nightly" | "*"
                        ) || !v.chars().any(|c| c.is_ascii_digit()) =>
                    {
                        self.emit(
                            "package-version-unpinned",
                            vpath,
                            format!(
                                "{} package {} has version \"{v}\", a moving tag: pin an exact version",
                                p.registry_type, p.identifier
                            ),
                        )
                    }
                    Some(_) => {}
                }
            }
            for (j, e) in p.environment_variables.iter().flatten().enumerate() {
                let epath = format!("{at}.environmentVariables[{j}]");
                self.key_value(&epath, e, "environment variable");
                if e.input
                    .description
                    .as_deref()
                    .is_none_or(|d| d.trim().is_empty())
                {
                    self.emit(
                        "env-no-description",
                        field(&epath, "description"),
                        format!("environment variable {} has no description", e.name),
                    );
                }
            }
            for (j, h) in p.transport.headers.iter().flatten().enumerate() {
                self.key_value(&format!("{at}.transport.headers[{j}]"), h, "header");
            }
            for (list, args) in [
                ("runtimeArguments", &p.runtime_arguments),
                ("packageArguments", &p.package_arguments),
            ] {
                for (j, arg) in args.iter().flatten().enumerate() {
                    let apath = format!("{at}.{list}[{j}]");
                    if let Some(name) = &arg.name {
                        self.secret_input(&apath, name, &arg.input, "argument");
                    }
                }
            }
        }
    }

    fn key_value(&mut self, at: &str, kv: &KeyValueInput, what: &str) {
        self.secret_input(at, &kv.name, &kv.input, what);
    }

    fn secret_input(&mut self, at: &str, name: &str, input: &Input, what: &str) {
        if input.secret() {
            if input.default.as_deref().is_some_and(|d| !d.is_empty()) {
                self.emit(
                    "secret-with-value",
                    field(at, "default"),
                    format!("secret {what} {name} has a default value: a credential published in the registry"),
                );
            }
            if input
                .value
                .as_deref()
                .is_some_and(|v| !v.is_empty() && !v.contains('{'))
            {
                self.emit(
                    "secret-with-value",
                    field(at, "value"),
                    format!(
                        "secret {what} {name} has a literal value: a credential published in the registry \
                         (use a {{variable}})"
                    ),
                );
            }
        } else if looks_secret(name) {
            self.emit(
                "secret-not-marked",
                field(at, "isSecret"),
                format!(
                    "{what} {name} looks like a secret but is not marked isSecret: clients would store and show \
                     its value in plain text"
                ),
            );
        }
    }

    fn remotes(
        &mut self,
        s: &ServerJson,
        location: &str,
        seen: &mut HashMap<String, (String, String, String)>,
    ) {
        for (i, r) in s.remotes.iter().flatten().enumerate() {
            let at = format!("remotes[{i}]");
            for (j, h) in r.headers.iter().flatten().enumerate() {
                self.key_value(&format!("{at}.headers[{j}]"), h, "header");
            }
            let Some(url) = r.url.as_deref() else {
                continue;
            };
            if url.to_ascii_lowercase().starts_with("http://") {
                self.emit(
                    "remote-insecure-url",
                    field(&at, "url"),
                    format!("remote URL {url} uses plain http: use https"),
                );
            }
            let key = url.trim_end_matches('/').to_owned();
            match seen.get(&key) {
                Some((name, first_entry, first_at))
                    if *name != s.name || first_entry == location =>
                {
                    let first = crate::report::join_location(first_entry, first_at);
                    self.emit(
                        "duplicate-remote-url",
                        field(&at, "url"),
                        format!("remote URL {url} is also used by {name} (at {first})"),
                    );
                }
                Some(_) => {}
                None => {
                    seen.insert(key, (s.name.clone(), location.to_owned(), at.clone()));
                }
            }
        }
    }

    fn extension(&mut self, s: &ServerJson) {
        let container = s
            .packages
            .iter()
            .flatten()
            .any(|p| p.registry_type.eq_ignore_ascii_case("oci"));
        let ext = match toolhive::try_extensions(s) {
            Err(e) => {
                let at = field(&field("_meta", PUBLISHER_PROVIDED_META), STACKLOK_NAMESPACE);
                self.emit("extension-malformed", at, e);
                if container {
                    self.emit(
                        "no-provenance",
                        "",
                        "container server without readable image provenance",
                    );
                }
                return;
            }
            Ok(None) => {
                self.emit(
                    "no-toolhive-extension",
                    "_meta",
                    format!(
                        "no ToolHive extension (_meta[\"{PUBLISHER_PROVIDED_META}\"][\"{STACKLOK_NAMESPACE}\"]): \
                         tier, status, tools and permissions are unknown"
                    ),
                );
                if container {
                    self.emit(
                        "no-provenance",
                        "",
                        "container server without image provenance: its signature cannot be verified",
                    );
                }
                return;
            }
            Ok(Some(x)) => x,
        };
        let (key, ext): (String, ServerExtensions) = ext;
        let at = field(
            &field(&field("_meta", PUBLISHER_PROVIDED_META), STACKLOK_NAMESPACE),
            &key,
        );
        let known = s.packages.iter().flatten().any(|p| p.identifier == key)
            || s.remote_urls().any(|u| u == key);
        if !known {
            self.emit(
                "extension-key-mismatch",
                at.clone(),
                format!(
                    "the ToolHive extension is keyed by \"{key}\", which is neither a package identifier nor a \
                     remote URL of this server: ToolHive looks it up by the image or URL"
                ),
            );
        }
        if ext.tools.as_ref().is_none_or(Vec::is_empty) {
            self.emit(
                "no-tools",
                field(&at, "tools"),
                "the ToolHive extension lists no tools: users cannot see what the server does before running it",
            );
        }
        if ext.tier.as_deref().is_none_or(|t| t.trim().is_empty()) {
            self.emit(
                "no-tier",
                field(&at, "tier"),
                "the ToolHive extension has no tier (Official or Community)",
            );
        }
        if ext.is_deprecated() {
            self.emit(
                "server-deprecated",
                field(&at, "status"),
                "ToolHive marks this server Deprecated",
            );
        }
        if container {
            if ext.provenance.is_none() {
                self.emit(
                    "no-provenance",
                    field(&at, "provenance"),
                    "container server without image provenance: its signature cannot be verified",
                );
            }
            match &ext.permissions {
                None => self.emit(
                    "no-permissions",
                    field(&at, "permissions"),
                    "container server without a permission profile: the runner's default applies",
                ),
                Some(p) => {
                    if p.is_privileged() {
                        self.emit(
                            "privileged-container",
                            field(&field(&at, "permissions"), "privileged"),
                            "the container runs privileged (every device and capability of the host)",
                        );
                    }
                    if p.allows_all_outbound() {
                        self.emit(
                            "network-allow-all",
                            format!("{}.network.outbound.insecure_allow_all", field(&at, "permissions")),
                            "the container may connect anywhere; list the hosts it needs (allow_host)",
                        );
                    }
                }
            }
        }
        for (j, e) in ext.env_vars.iter().flatten().enumerate() {
            let epath = format!("{}[{j}]", field(&at, "env_vars"));
            if !e.is_secret() && looks_secret(&e.name) {
                self.emit(
                    "secret-not-marked",
                    field(&epath, "secret"),
                    format!(
                        "environment variable {} looks like a secret but is not marked secret",
                        e.name
                    ),
                );
            }
            if e.is_secret() && e.default.as_deref().is_some_and(|d| !d.is_empty()) {
                self.emit(
                    "secret-with-value",
                    field(&epath, "default"),
                    format!("secret environment variable {} has a default value", e.name),
                );
            }
        }
        let license = ext
            .custom_metadata
            .as_ref()
            .and_then(|m| m.get("license"))
            .and_then(Value::as_str)
            .is_some_and(|l| !l.trim().is_empty());
        if !license {
            self.emit(
                "no-license",
                field(&at, "custom_metadata"),
                "no license in custom_metadata",
            );
        }
    }
}

/// Words of a name: split on non-alphanumerics and lower→upper case changes, uppercased
/// (`X-Api-Key` → `X API KEY`, `apiKey` → `API KEY`).
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        cur.push(c.to_ascii_uppercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Words that make a name secret.
const SECRET_WORDS: &[&str] = &[
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PWD",
    "PASSPHRASE",
    "APIKEY",
    "KEY",
    "CREDENTIAL",
    "CREDENTIALS",
    "PAT",
    "COOKIE",
    "AUTHORIZATION",
    "PRIVATEKEY",
];

/// Last words that make a name about a secret rather than a secret (`TOKEN_URL`, `SSH_KEY_PATH`, `KEY_ID`).
const NOT_SECRET_LAST: &[&str] = &[
    "FILE",
    "FILES",
    "PATH",
    "DIR",
    "URL",
    "URI",
    "ID",
    "NAME",
    "TYPE",
    "HOST",
    "PORT",
    "ENDPOINT",
    "METHOD",
    "THRESHOLD",
    "LIMIT",
    "COUNT",
    "SIZE",
    "LENGTH",
    "EXPIRY",
    "EXPIRATION",
    "TTL",
    "TIMEOUT",
    "HEADER",
    "REGION",
    "SCOPE",
    "SCOPES",
    "ISSUER",
    "ENABLED",
    "DISABLED",
    "MODE",
    "FORMAT",
    "PREFIX",
    "VERSION",
    "USER",
    "USERNAME",
    "EMAIL",
    "DOMAIN",
    "LOCATION",
    "STORE",
    "PROVIDER",
];

/// Whether an input name looks like it holds a secret (see [`SECRET_WORDS`], [`NOT_SECRET_LAST`]).
pub fn looks_secret(name: &str) -> bool {
    let w = words(name);
    let (Some(first), Some(last)) = (w.first(), w.last()) else {
        return false;
    };
    if NOT_SECRET_LAST.contains(&last.as_str()) || matches!(first.as_str(), "MAX" | "MIN") {
        return false;
    }
    w.iter().enumerate().any(|(i, word)| {
        SECRET_WORDS.contains(&word.as_str())
            && !(word == "KEY"
                && i > 0
                && matches!(w[i - 1].as_str(), "PUBLIC" | "SORT" | "PARTITION"))
    })
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
