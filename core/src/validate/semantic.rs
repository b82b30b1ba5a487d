//! The semantic rules of the official registry's `ValidateServerJSON` (reference §1.8–§1.10), each with a
//! stable rule id (see [`super::rules`]) and, where upstream has one, upstream's message.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use regex::Regex;
#[cfg(test)]
use serde_json::Value;

use super::{
    IssueType, KNOWN_SCHEMA_VERSIONS, SchemaPolicy, Severity, ValidationIssue, path, rules,
};
use crate::server::{
    Argument, CURRENT_SCHEMA_URL, CURRENT_SCHEMA_VERSION, Icon, PUBLISHER_PROVIDED_META, Package,
    Repository, ServerJson, Transport,
};
use crate::version::{MAX_VERSION_LEN, version_error};

/// Largest serialized size of `_meta["io.modelcontextprotocol.registry/publisher-provided"]` accepted on publish.
pub const MAX_PUBLISHER_META_BYTES: usize = 4096;

/// Path of the `$schema` field in issues.
const SCHEMA_PATH: &str = "$schema";

static SCHEMA_URL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"/schemas/([A-Za-z0-9_~.-]+)/server\.schema\.json").unwrap());
static NAMESPACE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-zA-Z0-9][a-zA-Z0-9.-]*[a-zA-Z0-9]$").unwrap());
static NAME_PART: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*[a-zA-Z0-9]$").unwrap());
static GITHUB_URL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^https?://(www\.)?github\.com/[\w.-]+/[\w.-]+/?$").unwrap());
static GITLAB_URL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^https?://(www\.)?gitlab\.com/[\w.-]+(/[\w.-]+)+/?$").unwrap());
static SUBFOLDER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[a-zA-Z0-9\-_./]+$").unwrap());
static TEMPLATE_VAR: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\{([^}]+)\}").unwrap());
static TEMPLATE_PORT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r":(\{[^}]+\})(/|$)").unwrap());

/// The version identifier of a schema URL (`…/schemas/2025-12-11/server.schema.json` → `2025-12-11`).
pub fn schema_version_from_url(url: &str) -> Option<&str> {
    SCHEMA_URL
        .captures(url)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str())
}

/// The `$schema` rules: required, well-formed, a known version, the current version (per `policy`).
pub(crate) fn schema_version_issues(
    schema: Option<&str>,
    policy: SchemaPolicy,
) -> Vec<ValidationIssue> {
    let mut issues = Vec::new();
    let schema = schema.unwrap_or_default();
    if schema.is_empty() {
        issues.push(ValidationIssue::semantic(
            SCHEMA_PATH,
            "$schema field is required",
            rules::SCHEMA_FIELD_REQUIRED,
        ));
        return issues;
    }
    let Some(version) = schema_version_from_url(schema) else {
        issues.push(ValidationIssue::new(
            IssueType::Schema,
            SCHEMA_PATH,
            format!(
                "failed to extract schema version from URL: invalid schema URL format: {schema} (expected \
                 {CURRENT_SCHEMA_URL})"
            ),
            Severity::Error,
            rules::SCHEMA_VERSION_EXTRACTION_ERROR,
        ));
        return issues;
    };
    if schema != CURRENT_SCHEMA_URL {
        let (severity, advice) = match policy {
            SchemaPolicy::Publish => (Severity::Error, "Use the current schema version"),
            SchemaPolicy::Validate => (
                Severity::Warning,
                "Consider updating to the latest schema version",
            ),
        };
        let message = if version == CURRENT_SCHEMA_VERSION {
            format!(
                "$schema {schema} is not the canonical URL of the current schema version ({CURRENT_SCHEMA_URL}). {advice}"
            )
        } else {
            format!(
                "schema version {version} is not the current version ({CURRENT_SCHEMA_VERSION}). {advice}"
            )
        };
        issues.push(ValidationIssue::new(
            IssueType::Semantic,
            SCHEMA_PATH,
            message,
            severity,
            rules::SCHEMA_VERSION_DEPRECATED,
        ));
    }
    if !KNOWN_SCHEMA_VERSIONS.contains(&version) {
        issues.push(ValidationIssue::new(
            IssueType::Schema,
            SCHEMA_PATH,
            format!(
                "schema version {version} not available: known versions are {}",
                KNOWN_SCHEMA_VERSIONS.join(", ")
            ),
            Severity::Error,
            rules::SCHEMA_VERSION_NOT_AVAILABLE,
        ));
    }
    issues
}

/// Why a server name is invalid (upstream's `parseServerName` messages); `None` when it is valid.
pub fn server_name_error(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("server name is required and must be a string".into());
    }
    if !name.contains('/') {
        return Some(
            "server name must be in format 'dns-namespace/name' (e.g., 'com.example.api/server')"
                .into(),
        );
    }
    if name.matches('/').count() > 1 {
        return Some("server name cannot contain multiple slashes".into());
    }
    let (namespace, part) = name.split_once('/')?;
    if namespace.is_empty() || part.is_empty() {
        return Some(
            "server name must be in format 'dns-namespace/name' with non-empty namespace and name parts".into(),
        );
    }
    if !NAMESPACE.is_match(namespace) {
        return Some(format!(
            "server name format is invalid: namespace '{namespace}' is invalid. Namespace must start and end with \
             alphanumeric characters, and may contain dots and hyphens in the middle"
        ));
    }
    if !NAME_PART.is_match(part) {
        return Some(format!(
            "server name format is invalid: name '{part}' is invalid. Name must start and end with alphanumeric \
             characters, and may contain dots, underscores, and hyphens in the middle"
        ));
    }
    None
}

/// Serialized size of the publisher-provided `_meta`, as the official registry (Go `encoding/json`) counts it:
/// compact JSON where `<`, `>`, `&` are escaped as `\u003c` (6 bytes) and U+2028/U+2029 as `\u2028` (6 bytes).
/// `None` when there is no publisher-provided `_meta`.
pub fn publisher_meta_size(server: &ServerJson) -> Option<usize> {
    let value = server.meta.as_ref()?.get(PUBLISHER_PROVIDED_META)?;
    let json = serde_json::to_string(value).ok()?;
    let extra: usize = json
        .chars()
        .map(|c| match c {
            '<' | '>' | '&' => 5,
            '\u{2028}' | '\u{2029}' => 3,
            _ => 0,
        })
        .sum();
    Some(json.len() + extra)
}

/// The publish-only `_meta` rule: the publisher-provided metadata must serialize to at most
/// [`MAX_PUBLISHER_META_BYTES`] bytes. Returns upstream's message when it does not.
pub fn publisher_meta_error(server: &ServerJson) -> Option<String> {
    let size = publisher_meta_size(server)?;
    (size > MAX_PUBLISHER_META_BYTES).then(|| {
        format!("_meta.{PUBLISHER_PROVIDED_META} extension exceeds 4KB limit ({size} bytes)")
    })
}

/// Every semantic rule except `$schema` (see [`schema_version_issues`]).
pub(crate) fn semantic_issues(server: &ServerJson) -> Vec<ValidationIssue> {
    let mut out = Vec::new();
    if let Some(message) = server_name_error(&server.name) {
        out.push(ValidationIssue::semantic(
            "name",
            message,
            rules::INVALID_SERVER_NAME,
        ));
    }
    check_version(&mut out, "version", &server.version);
    if let Some(repo) = &server.repository {
        check_repository(&mut out, repo);
    }
    if let Some(url) = server.website_url.as_deref().filter(|u| !u.is_empty()) {
        check_website_url(&mut out, url);
    }
    if let Some(title) = server.title.as_deref()
        && !title.is_empty()
        && title.trim().is_empty()
    {
        out.push(ValidationIssue::semantic(
            "title",
            "title cannot be only whitespace",
            rules::TITLE_WHITESPACE_ONLY,
        ));
    }
    for (i, icon) in server.icons.iter().flatten().enumerate() {
        check_icon(&mut out, &path::index("icons", i), icon);
    }
    for (i, package) in server.packages.iter().flatten().enumerate() {
        check_package(&mut out, &path::index("packages", i), package);
    }
    for (i, remote) in server.remotes.iter().flatten().enumerate() {
        check_remote(&mut out, &path::index("remotes", i), remote);
    }
    out
}

/// Version rules (§1.8) through [`version_error`], with a rule id per failure.
fn check_version(out: &mut Vec<ValidationIssue>, at: &str, version: &str) {
    let Some(message) = version_error(version) else {
        return;
    };
    let (rule, message) = if version.trim().is_empty() {
        (rules::VERSION_REQUIRED, message)
    } else if version.len() > MAX_VERSION_LEN {
        (
            rules::VERSION_TOO_LONG,
            format!(
                "{message} (got {} bytes: upstream counts bytes)",
                version.len()
            ),
        )
    } else if version == "latest" {
        (rules::RESERVED_VERSION_STRING, message)
    } else {
        let quoted = serde_json::to_string(version).unwrap_or_default();
        (
            rules::VERSION_LOOKS_LIKE_RANGE,
            format!("{message}: {quoted}"),
        )
    };
    out.push(ValidationIssue::semantic(at, message, rule));
}

fn check_repository(out: &mut Vec<ValidationIssue>, repo: &Repository) {
    if repo.url.is_empty() && repo.source.is_empty() {
        return;
    }
    let url_ok = match repo.source.as_str() {
        "github" => GITHUB_URL.is_match(&repo.url),
        "gitlab" => GITLAB_URL.is_match(&repo.url),
        _ => false,
    };
    if !url_ok {
        let why = match repo.source.as_str() {
            "github" => "expected https://github.com/<owner>/<repo>".to_string(),
            "gitlab" => "expected https://gitlab.com/<group>/<project>".to_string(),
            other => format!("repository source '{other}' is not supported: use github or gitlab"),
        };
        out.push(ValidationIssue::semantic(
            "repository.url",
            format!("invalid repository URL: {} ({why})", repo.url),
            rules::INVALID_REPOSITORY_URL,
        ));
    }
    if let Some(sub) = repo.subfolder.as_deref().filter(|s| !s.is_empty())
        && !is_valid_subfolder(sub)
    {
        out.push(ValidationIssue::semantic(
            "repository.subfolder",
            format!(
                "invalid subfolder path: {sub} (must be a clean relative path: no leading or trailing '/', no '.' \
                 or '..' segments, only letters, digits, '-', '_', '.' and '/')"
            ),
            rules::INVALID_SUBFOLDER_PATH,
        ));
    }
}

fn is_valid_subfolder(path: &str) -> bool {
    !path.starts_with('/')
        && !path.ends_with('/')
        && SUBFOLDER.is_match(path)
        && path
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

/// How an absolute-https URL check went: the parse error, or whether it is absolute and its scheme.
enum UrlShape {
    Invalid(String),
    Relative,
    Absolute { scheme: String },
}

fn url_shape(raw: &str) -> UrlShape {
    match url::Url::parse(raw) {
        Ok(u) => UrlShape::Absolute {
            scheme: u.scheme().to_string(),
        },
        Err(url::ParseError::RelativeUrlWithoutBase) => UrlShape::Relative,
        Err(e) => UrlShape::Invalid(e.to_string()),
    }
}

fn check_website_url(out: &mut Vec<ValidationIssue>, url: &str) {
    let at = "websiteUrl";
    match url_shape(url) {
        UrlShape::Invalid(e) => {
            out.push(ValidationIssue::semantic(
                at,
                format!("invalid websiteUrl: {e}: {url}"),
                rules::INVALID_WEBSITE_URL,
            ));
        }
        UrlShape::Relative => {
            out.push(ValidationIssue::semantic(
                at,
                format!("websiteUrl must be absolute (include scheme): {url}"),
                rules::WEBSITE_URL_MUST_BE_ABSOLUTE,
            ));
            out.push(ValidationIssue::semantic(
                at,
                format!("websiteUrl must use https scheme: {url}"),
                rules::WEBSITE_URL_INVALID_SCHEME,
            ));
        }
        UrlShape::Absolute { scheme } if scheme != "https" => out.push(ValidationIssue::semantic(
            at,
            format!("websiteUrl must use https scheme: {url}"),
            rules::WEBSITE_URL_INVALID_SCHEME,
        )),
        UrlShape::Absolute { .. } => {}
    }
}

fn check_icon(out: &mut Vec<ValidationIssue>, at: &str, icon: &Icon) {
    let at = path::field(at, "src");
    let src = &icon.src;
    match url_shape(src) {
        UrlShape::Invalid(e) => out.push(ValidationIssue::semantic(
            at,
            format!("invalid icon src URL: {e}: {src}"),
            rules::ICON_SRC_INVALID_URL,
        )),
        UrlShape::Relative => {
            out.push(ValidationIssue::semantic(
                at.clone(),
                format!("icon src must be an absolute URL (include scheme): {src}"),
                rules::ICON_SRC_NOT_ABSOLUTE,
            ));
            out.push(ValidationIssue::semantic(
                at,
                format!("icon src must use https scheme (got none): {src}"),
                rules::ICON_SRC_INVALID_SCHEME,
            ));
        }
        UrlShape::Absolute { scheme } if scheme != "https" => out.push(ValidationIssue::semantic(
            at,
            format!("icon src must use https scheme (got {scheme}): {src}"),
            rules::ICON_SRC_INVALID_SCHEME,
        )),
        UrlShape::Absolute { .. } => {}
    }
}

fn check_package(out: &mut Vec<ValidationIssue>, at: &str, package: &Package) {
    if package.identifier.contains(' ') {
        out.push(ValidationIssue::semantic(
            path::field(at, "identifier"),
            format!(
                "package name cannot contain spaces: identifier {:?}",
                package.identifier
            ),
            rules::PACKAGE_NAME_HAS_SPACES,
        ));
    }
    // An empty package version is a schema error (minLength 1); an absent one is allowed.
    if let Some(version) = package.version.as_deref().filter(|v| !v.is_empty()) {
        check_version(out, &path::field(at, "version"), version);
    }
    for (list, args) in [
        ("runtimeArguments", &package.runtime_arguments),
        ("packageArguments", &package.package_arguments),
    ] {
        for (i, arg) in args.iter().flatten().enumerate() {
            check_argument(out, &path::index(&path::field(at, list), i), arg);
        }
    }
    check_package_transport(
        out,
        &path::field(at, "transport"),
        &package.transport,
        &package_variables(package),
    );
}

fn check_argument(out: &mut Vec<ValidationIssue>, at: &str, arg: &Argument) {
    match arg.argument_type.as_str() {
        Argument::NAMED => {
            let name = arg.name.as_deref().unwrap_or_default();
            if name.is_empty() {
                out.push(ValidationIssue::semantic(
                    path::field(at, "name"),
                    "named argument name is required",
                    rules::NAMED_ARGUMENT_NAME_REQUIRED,
                ));
                return;
            }
            if name.contains(['<', '>', ' ', '$']) {
                out.push(ValidationIssue::semantic(
                    path::field(at, "name"),
                    format!(
                        "invalid named argument name format: {name} (a name must not contain '<', '>', spaces or \
                         '$'; put the value in value, default or valueHint)"
                    ),
                    rules::INVALID_NAMED_ARGUMENT_NAME,
                ));
            }
            if let Some(value) = arg.input.value.as_deref().filter(|v| !v.is_empty())
                && value.starts_with(name)
            {
                out.push(ValidationIssue::semantic(
                    path::field(at, "value"),
                    format!(
                        "argument value cannot start with the argument name: value starts with argument name \
                         '{name}': {value}"
                    ),
                    rules::ARGUMENT_VALUE_STARTS_WITH_NAME,
                ));
            }
            if let Some(default) = arg.input.default.as_deref().filter(|v| !v.is_empty())
                && default.starts_with(name)
            {
                out.push(ValidationIssue::semantic(
                    path::field(at, "default"),
                    format!(
                        "argument default cannot start with the argument name: default starts with argument name \
                         '{name}': {default}"
                    ),
                    rules::ARGUMENT_DEFAULT_STARTS_WITH_NAME,
                ));
            }
        }
        Argument::POSITIONAL => {
            let has = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
            if !has(&arg.input.value) && !has(&arg.value_hint) {
                out.push(ValidationIssue::semantic(
                    at,
                    "positional argument must provide a value or a valueHint",
                    rules::POSITIONAL_ARGUMENT_VALUE_REQUIRED,
                ));
            }
        }
        other => out.push(ValidationIssue::semantic(
            path::field(at, "type"),
            format!("argument type must be 'positional' or 'named', got '{other}'"),
            rules::INVALID_ARGUMENT_TYPE,
        )),
    }
}

/// The names a package transport URL template may use: environment variable names, and argument names and
/// value hints.
fn package_variables(package: &Package) -> Vec<String> {
    let mut vars: Vec<String> = package
        .environment_variables
        .iter()
        .flatten()
        .map(|e| e.name.clone())
        .collect();
    for arg in package
        .runtime_arguments
        .iter()
        .flatten()
        .chain(package.package_arguments.iter().flatten())
    {
        vars.extend(arg.name.iter().filter(|n| !n.is_empty()).cloned());
        vars.extend(arg.value_hint.iter().filter(|n| !n.is_empty()).cloned());
    }
    vars
}

fn check_package_transport(
    out: &mut Vec<ValidationIssue>,
    at: &str,
    transport: &Transport,
    vars: &[String],
) {
    let url = transport.url.as_deref().unwrap_or_default();
    match transport.transport_type.as_str() {
        Transport::STDIO => {
            if !url.is_empty() {
                out.push(ValidationIssue::semantic(
                    path::field(at, "url"),
                    format!("url must be empty for stdio transport type, got: {url}"),
                    rules::STDIO_TRANSPORT_URL_NOT_EMPTY,
                ));
            }
        }
        t @ (Transport::STREAMABLE_HTTP | Transport::SSE) => {
            if url.is_empty() {
                out.push(ValidationIssue::semantic(
                    path::field(at, "url"),
                    format!("url is required for {t} transport type"),
                    rules::STREAMABLE_TRANSPORT_URL_REQUIRED,
                ));
            } else if let Some(message) =
                templated_url_error(url, vars, "invalid package transport URL")
            {
                out.push(ValidationIssue::semantic(
                    path::field(at, "url"),
                    message,
                    rules::INVALID_TEMPLATED_URL,
                ));
            }
        }
        other => out.push(ValidationIssue::semantic(
            path::field(at, "type"),
            format!("unsupported transport type: {other}"),
            rules::UNSUPPORTED_TRANSPORT_TYPE,
        )),
    }
}

fn check_remote(out: &mut Vec<ValidationIssue>, at: &str, remote: &Transport) {
    let url = remote.url.as_deref().unwrap_or_default();
    match remote.transport_type.as_str() {
        t @ (Transport::STREAMABLE_HTTP | Transport::SSE) => {
            if url.is_empty() {
                out.push(ValidationIssue::semantic(
                    path::field(at, "url"),
                    format!("url is required for {t} transport type"),
                    rules::REMOTE_TRANSPORT_URL_REQUIRED,
                ));
                return;
            }
            if let Some(why) = remote_url_problem(url) {
                out.push(ValidationIssue::semantic(
                    path::field(at, "url"),
                    format!("invalid remote URL: {url} ({why})"),
                    rules::INVALID_REMOTE_URL,
                ));
            }
            let vars: Vec<String> =
                remote.variables.iter().flat_map(|m| m.keys()).filter(|k| !k.is_empty()).cloned().collect();
            if let Some(message) = undefined_variables_error(url, &vars, "invalid remote URL") {
                out.push(ValidationIssue::semantic(path::field(at, "url"), message, rules::INVALID_TEMPLATED_URL));
            }
        }
        other => out.push(ValidationIssue::semantic(
            path::field(at, "type"),
            format!("unsupported transport type for remotes: {other} (only streamable-http and sse are supported)"),
            rules::UNSUPPORTED_REMOTE_TRANSPORT_TYPE,
        )),
    }
}

fn template_variables(url: &str) -> Vec<&str> {
    TEMPLATE_VAR
        .captures_iter(url)
        .filter_map(|c| c.get(1))
        .map(|m| m.as_str())
        .collect()
}

/// Upstream's `replaceTemplateVariables`: placeholders that keep a templated URL parseable.
fn replace_template_variables(raw: &str) -> String {
    let mut s = raw.to_string();
    for (placeholder, replacement) in [
        ("{host}", "example.com"),
        ("{port}", "8080"),
        ("{path}", "api"),
        ("{protocol}", "http"),
        ("{scheme}", "http"),
    ] {
        s = s.replace(placeholder, replacement);
    }
    let s = TEMPLATE_PORT.replace_all(&s, ":8080$2");
    TEMPLATE_VAR.replace_all(&s, "placeholder").into_owned()
}

/// The templated URL, placeholders filled in, if it is an http(s) URL with a host.
fn parse_templated(raw: &str) -> Option<url::Url> {
    let u = url::Url::parse(&replace_template_variables(raw)).ok()?;
    (matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()))
        .then_some(u)
}

fn undefined_variables_error(url: &str, available: &[String], prefix: &str) -> Option<String> {
    let missing: Vec<&str> = template_variables(url)
        .into_iter()
        .filter(|v| !available.iter().any(|a| a == v))
        .collect();
    if missing.is_empty() {
        return None;
    }
    Some(format!(
        "{prefix}: template variables in URL {url} reference undefined variables ({}). Available variables: [{}]",
        missing.join(", "),
        available.join(" ")
    ))
}

/// Upstream's `IsValidTemplatedURL` for package transports: an http(s) URL with a host whose `{var}`
/// templates are all declared.
fn templated_url_error(url: &str, available: &[String], prefix: &str) -> Option<String> {
    if parse_templated(url).is_none() {
        return Some(format!(
            "{prefix}: {url} (must be an http or https URL with a host)"
        ));
    }
    undefined_variables_error(url, available, prefix)
}

/// Why a remote URL is not acceptable: not an http(s) URL with a host, or a loopback host.
fn remote_url_problem(url: &str) -> Option<&'static str> {
    let Some(u) = parse_templated(url) else {
        return Some("must be an http or https URL with a host");
    };
    let loopback = match u.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip == Ipv4Addr::UNSPECIFIED,
        Some(url::Host::Ipv6(ip)) => ip.is_loopback() || ip == Ipv6Addr::UNSPECIFIED,
        None => false,
    };
    loopback.then_some("localhost URLs are not allowed for remotes")
}

/// A `_meta` value's serialized size (for tests of the Go-compatible counting).
#[cfg(test)]
fn meta_size_of(value: Value) -> usize {
    let server = ServerJson {
        schema: None,
        name: "a.b/c".into(),
        description: String::new(),
        title: None,
        repository: None,
        version: "1".into(),
        website_url: None,
        icons: None,
        packages: None,
        remotes: None,
        meta: Some(
            [(PUBLISHER_PROVIDED_META.to_string(), value)]
                .into_iter()
                .collect(),
        ),
        extra: Default::default(),
    };
    publisher_meta_size(&server).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schema_url_versions() {
        assert_eq!(
            schema_version_from_url(CURRENT_SCHEMA_URL),
            Some("2025-12-11")
        );
        assert_eq!(
            schema_version_from_url("https://x/schemas/draft/server.schema.json"),
            Some("draft")
        );
        assert_eq!(
            schema_version_from_url("https://x/server.schema.json"),
            None
        );
    }

    #[test]
    fn name_rules() {
        assert_eq!(server_name_error("io.github.x/weather"), None);
        assert_eq!(
            server_name_error("a.b/c/d").as_deref(),
            Some("server name cannot contain multiple slashes")
        );
        assert!(
            server_name_error("noslash")
                .unwrap()
                .contains("dns-namespace/name")
        );
        assert!(server_name_error("/x").unwrap().contains("non-empty"));
        assert!(
            server_name_error("-ab/xy")
                .unwrap()
                .contains("namespace '-ab' is invalid")
        );
        assert!(
            server_name_error("ab/x")
                .unwrap()
                .contains("name 'x' is invalid")
        );
        assert!(server_name_error("").unwrap().contains("required"));
    }

    #[test]
    fn go_compatible_meta_size() {
        assert_eq!(meta_size_of(json!({"a": "x"})), r#"{"a":"x"}"#.len());
        assert_eq!(
            meta_size_of(json!({"a": "<&>"})),
            r#"{"a":"\u003c\u0026\u003e"}"#.len()
        );
    }

    #[test]
    fn templates_and_remote_hosts() {
        assert!(parse_templated("https://{host}:{port}/mcp").is_some());
        assert!(parse_templated("http://localhost:{p}/x").is_some());
        assert!(parse_templated("ftp://x").is_none());
        assert!(parse_templated("not a url").is_none());
        assert_eq!(template_variables("https://{a}.x/{b}"), vec!["a", "b"]);
        for bad in [
            "https://localhost/mcp",
            "https://127.0.0.1/x",
            "https://[::1]/x",
            "https://a.localhost/x",
            "http://127.1.2.3",
        ] {
            assert!(remote_url_problem(bad).is_some(), "{bad}");
        }
        assert!(remote_url_problem("https://api.example.com/mcp").is_none());
    }
}
