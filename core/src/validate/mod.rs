//! Validation of server.json documents, as the official registry's `ValidateServerJSON` does it and as
//! `POST /validate` reports it.
//!
//! Two passes, both reported as [`ValidationIssue`]s:
//!
//! 1. **JSON Schema** (type `schema`): the document is checked against the server.json schema it declares when
//!    that version is one of [`KNOWN_SCHEMA_VERSIONS`], and against the current (2025-12-11) schema otherwise.
//!    Every schema is embedded and compiled once (draft-07, formats asserted). `reference` is the schema keyword
//!    location (`#/definitions/Package/properties/version/minLength`).
//! 2. **Semantic rules** (type `semantic`, `reference` is a stable rule id): `$schema` presence, format, known
//!    and current version (the last one depends on the [`SchemaPolicy`]); the server-name rules; version rules;
//!    repository, `websiteUrl`, `title` and icon checks; package identifiers, arguments and transports; remote
//!    transports and their URL templates. See [`rules`] for the ids.
//!
//! Before both, two rules on the raw JSON ([`document`]): no string or key may hold NUL (type `json`,
//! `string-contains-nul`: nothing can store it), and the official registry's pre-schema format is named
//! (`legacy-pre-schema-format`).
//!
//! The `_meta` size limit applies on publish only and is exposed separately ([`publisher_meta_error`]).
//!
//! Nothing in this module panics on any input: arbitrary JSON values (arrays, numbers, nulls, deeply nested
//! documents) produce issues, never a crash.

pub mod document;
mod path;
mod schema;
mod semantic;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::server::ServerJson;

pub use document::{NUL_MESSAGE, nul_path};
pub use schema::all_schemas_compile;
pub use semantic::{
    MAX_PUBLISHER_META_BYTES, publisher_meta_error, publisher_meta_size, schema_version_from_url,
    server_name_error,
};

/// Every schema version the registry knows (and embeds), oldest first. The last one is the current version.
pub const KNOWN_SCHEMA_VERSIONS: &[&str] = &[
    "2025-07-09",
    "2025-09-16",
    "2025-09-29",
    "2025-10-11",
    "2025-10-17",
    "2025-12-11",
];

/// The deepest JSON nesting accepted (the limit `serde_json` applies when it parses bytes). A deeper document
/// gets a single `json` issue (`json-too-deep`) and is not validated further, so that no pass recurses
/// without bound.
pub const MAX_JSON_DEPTH: usize = 128;

/// Stable `reference` ids of the issues this module reports (schema issues use the keyword location instead).
pub mod rules {
    pub const JSON_PARSE_ERROR: &str = "json-parse-error";
    pub const JSON_TOO_DEEP: &str = "json-too-deep";
    pub const STRING_CONTAINS_NUL: &str = "string-contains-nul";
    pub const LEGACY_PRE_SCHEMA_FORMAT: &str = "legacy-pre-schema-format";
    pub const SCHEMA_FIELD_REQUIRED: &str = "schema-field-required";
    pub const SCHEMA_VERSION_EXTRACTION_ERROR: &str = "schema-version-extraction-error";
    pub const SCHEMA_VERSION_NOT_AVAILABLE: &str = "schema-version-not-available";
    pub const SCHEMA_VERSION_DEPRECATED: &str = "schema-version-deprecated";
    pub const INVALID_SERVER_NAME: &str = "invalid-server-name";
    pub const VERSION_REQUIRED: &str = "version-required";
    pub const VERSION_TOO_LONG: &str = "version-too-long";
    pub const RESERVED_VERSION_STRING: &str = "reserved-version-string";
    pub const VERSION_LOOKS_LIKE_RANGE: &str = "version-looks-like-range";
    pub const INVALID_REPOSITORY_URL: &str = "invalid-repository-url";
    pub const INVALID_SUBFOLDER_PATH: &str = "invalid-subfolder-path";
    pub const INVALID_WEBSITE_URL: &str = "invalid-website-url";
    pub const WEBSITE_URL_MUST_BE_ABSOLUTE: &str = "website-url-must-be-absolute";
    pub const WEBSITE_URL_INVALID_SCHEME: &str = "website-url-invalid-scheme";
    pub const TITLE_WHITESPACE_ONLY: &str = "title-whitespace-only";
    pub const ICON_SRC_INVALID_URL: &str = "icon-src-invalid-url";
    pub const ICON_SRC_NOT_ABSOLUTE: &str = "icon-src-not-absolute";
    pub const ICON_SRC_INVALID_SCHEME: &str = "icon-src-invalid-scheme";
    pub const PACKAGE_NAME_HAS_SPACES: &str = "package-name-has-spaces";
    pub const INVALID_ARGUMENT_TYPE: &str = "invalid-argument-type";
    pub const NAMED_ARGUMENT_NAME_REQUIRED: &str = "named-argument-name-required";
    pub const INVALID_NAMED_ARGUMENT_NAME: &str = "invalid-named-argument-name";
    pub const ARGUMENT_VALUE_STARTS_WITH_NAME: &str = "argument-value-starts-with-name";
    pub const ARGUMENT_DEFAULT_STARTS_WITH_NAME: &str = "argument-default-starts-with-name";
    pub const POSITIONAL_ARGUMENT_VALUE_REQUIRED: &str = "positional-argument-value-required";
    pub const STDIO_TRANSPORT_URL_NOT_EMPTY: &str = "stdio-transport-url-not-empty";
    pub const STREAMABLE_TRANSPORT_URL_REQUIRED: &str = "streamable-transport-url-required";
    pub const INVALID_TEMPLATED_URL: &str = "invalid-templated-url";
    pub const UNSUPPORTED_TRANSPORT_TYPE: &str = "unsupported-transport-type";
    pub const UNSUPPORTED_REMOTE_TRANSPORT_TYPE: &str = "unsupported-remote-transport-type";
    pub const REMOTE_TRANSPORT_URL_REQUIRED: &str = "remote-transport-url-required";
    pub const INVALID_REMOTE_URL: &str = "invalid-remote-url";
}

/// Which pass found an issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueType {
    Json,
    Schema,
    Semantic,
    Linter,
}

/// How serious an issue is; only `error` makes a document invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

/// One finding, in the official registry's `/validate` shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationIssue {
    #[serde(rename = "type")]
    pub issue_type: IssueType,
    /// Where: a JSON path like `packages[0].transport.url` (`""` for the document itself).
    pub path: String,
    pub message: String,
    pub severity: Severity,
    /// The rule id (see [`rules`]) or, for schema issues, the schema keyword location.
    pub reference: String,
}

impl ValidationIssue {
    pub fn new(
        issue_type: IssueType,
        path: impl Into<String>,
        message: impl Into<String>,
        severity: Severity,
        reference: impl Into<String>,
    ) -> Self {
        Self {
            issue_type,
            path: path.into(),
            message: message.into(),
            severity,
            reference: reference.into(),
        }
    }

    /// A semantic error.
    pub fn semantic(path: impl Into<String>, message: impl Into<String>, reference: &str) -> Self {
        Self::new(
            IssueType::Semantic,
            path,
            message,
            Severity::Error,
            reference,
        )
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The outcome of a validation: `valid` is true iff no issue has severity `error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationResult {
    pub valid: bool,
    pub issues: Vec<ValidationIssue>,
}

impl ValidationResult {
    /// Builds a result from its issues, computing `valid`.
    pub fn from_issues(issues: Vec<ValidationIssue>) -> Self {
        let valid = !issues.iter().any(ValidationIssue::is_error);
        Self { valid, issues }
    }

    /// The issues with severity `error`.
    pub fn errors(&self) -> impl Iterator<Item = &ValidationIssue> {
        self.issues.iter().filter(|i| i.is_error())
    }

    /// The first issue with severity `error`, if any.
    pub fn first_error(&self) -> Option<&ValidationIssue> {
        self.errors().next()
    }
}

/// How a syntactically valid but non-current `$schema` is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaPolicy {
    /// Publishing and editing: a non-current schema is an error.
    Publish,
    /// `POST /validate` and local checks: a non-current schema is a warning.
    Validate,
}

/// Schema and semantic validation of a raw JSON document. When the document does not deserialize into a
/// [`ServerJson`] (wrong types, missing required fields), only the schema issues (with the `$schema` rules,
/// which need nothing else) are returned.
pub fn validate_value(doc: &Value, policy: SchemaPolicy) -> ValidationResult {
    if path::depth_exceeds(doc, MAX_JSON_DEPTH) {
        return ValidationResult::from_issues(vec![too_deep_issue()]);
    }
    let mut issues: Vec<ValidationIssue> = document::legacy_format_issue(doc).into_iter().collect();
    issues.extend(document::nul_issues(doc));
    let declared = doc.get("$schema").and_then(Value::as_str);
    // The `$schema` rules need only that field, so they run whenever it is absent or a string (another type
    // is a schema error); the other semantic rules need the typed document.
    if doc.is_object() && (declared.is_some() || doc.get("$schema").is_none()) {
        issues.extend(semantic::schema_version_issues(declared, policy));
    }
    issues.extend(schema::schema_issues(doc, declared));
    if let Ok(server) = <ServerJson as Deserialize>::deserialize(doc) {
        issues.extend(semantic::semantic_issues(&server));
    }
    ValidationResult::from_issues(issues)
}

/// Schema and semantic validation of a typed document (the schema pass sees its serialized form).
pub fn validate_server(server: &ServerJson, policy: SchemaPolicy) -> ValidationResult {
    if path::server_too_deep(server, MAX_JSON_DEPTH) {
        return ValidationResult::from_issues(vec![too_deep_issue()]);
    }
    let doc = serde_json::to_value(server);
    let mut issues = doc.as_ref().map(document::nul_issues).unwrap_or_default();
    issues.extend(semantic::schema_version_issues(
        server.schema.as_deref(),
        policy,
    ));
    match doc {
        Ok(doc) => issues.extend(schema::schema_issues(&doc, server.schema.as_deref())),
        Err(e) => issues.push(ValidationIssue::new(
            IssueType::Json,
            "",
            format!("failed to serialize server JSON for schema validation: {e}"),
            Severity::Error,
            "json-marshal-error",
        )),
    }
    issues.extend(semantic::semantic_issues(server));
    ValidationResult::from_issues(issues)
}

fn too_deep_issue() -> ValidationIssue {
    ValidationIssue::new(
        IssueType::Json,
        "",
        format!("JSON nesting exceeds the limit of {MAX_JSON_DEPTH} levels"),
        Severity::Error,
        rules::JSON_TOO_DEEP,
    )
}

/// Validation of a request body. Malformed JSON gives a single `json` issue carrying serde's message (with
/// line and column).
pub fn validate_bytes(body: &[u8], policy: SchemaPolicy) -> ValidationResult {
    match serde_json::from_slice::<Value>(body) {
        Ok(doc) => validate_value(&doc, policy),
        Err(e) => ValidationResult::from_issues(vec![ValidationIssue::new(
            IssueType::Json,
            "",
            format!("invalid JSON: {e}"),
            Severity::Error,
            rules::JSON_PARSE_ERROR,
        )]),
    }
}
