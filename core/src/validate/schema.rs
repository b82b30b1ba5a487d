//! The JSON Schema pass: the embedded server.json schemas, compiled once each, and the mapping of
//! `jsonschema` errors to [`ValidationIssue`]s.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{JsonType, ValidationError, Validator};
use serde_json::Value;

use super::{
    IssueType, KNOWN_SCHEMA_VERSIONS, Severity, ValidationIssue, path,
    semantic::schema_version_from_url,
};
use crate::server::CURRENT_SCHEMA_VERSION;

/// The embedded schema documents, in the order of [`KNOWN_SCHEMA_VERSIONS`].
const SCHEMA_SOURCES: [&str; 6] = [
    include_str!("../../../data/schemas/2025-07-09.server.schema.json"),
    include_str!("../../../data/schemas/2025-09-16.server.schema.json"),
    include_str!("../../../data/schemas/2025-09-29.server.schema.json"),
    include_str!("../../../data/schemas/2025-10-11.server.schema.json"),
    include_str!("../../../data/schemas/2025-10-17.server.schema.json"),
    include_str!("../../../data/schemas/2025-12-11.server.schema.json"),
];

const _: () = assert!(SCHEMA_SOURCES.len() == KNOWN_SCHEMA_VERSIONS.len());

/// How many `anyOf` alternatives and errors per alternative a message spells out.
const MAX_ALTERNATIVES: usize = 4;
const MAX_BRANCH_ERRORS: usize = 3;
/// Longest excerpt of a string value quoted in a message.
const MAX_QUOTED_CHARS: usize = 80;

struct Compiled {
    schema: Value,
    validator: Validator,
}

/// Why a bundled schema did not compile (it is kept, so that every document checked against it says so).
#[derive(Debug, thiserror::Error)]
enum SchemaCompileError {
    #[error("{0}")]
    Json(serde_json::Error),
    #[error("{0}")]
    Schema(String),
}

static COMPILED: [OnceLock<Result<Compiled, SchemaCompileError>>; 6] = [
    OnceLock::new(),
    OnceLock::new(),
    OnceLock::new(),
    OnceLock::new(),
    OnceLock::new(),
    OnceLock::new(),
];

fn compiled(slot: usize) -> &'static Result<Compiled, SchemaCompileError> {
    COMPILED[slot].get_or_init(|| {
        let schema: Value =
            serde_json::from_str(SCHEMA_SOURCES[slot]).map_err(SchemaCompileError::Json)?;
        let validator = jsonschema::draft7::options()
            .should_validate_formats(true)
            .build(&schema)
            .map_err(|e| SchemaCompileError::Schema(e.to_string()))?;
        Ok(Compiled { schema, validator })
    })
}

/// The slot of the schema a document is checked against: the version it declares when known, else the
/// current one.
fn slot_for(declared: Option<&str>) -> usize {
    let current = KNOWN_SCHEMA_VERSIONS
        .iter()
        .position(|v| *v == CURRENT_SCHEMA_VERSION)
        .unwrap_or(KNOWN_SCHEMA_VERSIONS.len() - 1);
    declared
        .and_then(schema_version_from_url)
        .and_then(|v| KNOWN_SCHEMA_VERSIONS.iter().position(|k| *k == v))
        .unwrap_or(current)
}

/// True when every embedded schema compiles (used by tests and health checks).
pub fn all_schemas_compile() -> bool {
    (0..SCHEMA_SOURCES.len()).all(|slot| compiled(slot).is_ok())
}

/// Checks `doc` against the schema `declared` names (or the current one) and returns one issue per error.
pub(crate) fn schema_issues(doc: &Value, declared: Option<&str>) -> Vec<ValidationIssue> {
    let slot = slot_for(declared);
    let compiled = match compiled(slot) {
        Ok(c) => c,
        Err(e) => {
            return vec![ValidationIssue::new(
                IssueType::Schema,
                "",
                format!(
                    "failed to compile schema {}: {e}",
                    KNOWN_SCHEMA_VERSIONS[slot]
                ),
                Severity::Error,
                "schema-compile-error",
            )];
        }
    };
    compiled
        .validator
        .iter_errors(doc)
        .map(|error| to_issue(&error, doc, &compiled.schema))
        .collect()
}

fn to_issue(error: &ValidationError<'_>, doc: &Value, schema: &Value) -> ValidationIssue {
    let mut path = path::from_pointer(error.instance_path().as_str(), doc);
    if let ValidationErrorKind::Required { property } = error.kind() {
        path = path::field(&path, property.as_str().unwrap_or_default());
    }
    ValidationIssue::new(
        IssueType::Schema,
        path,
        message(error, doc, schema, None, 0),
        Severity::Error,
        keyword_location(error),
    )
}

/// The keyword location as a fragment of the schema (`#/definitions/Package/properties/version/minLength`).
fn keyword_location(error: &ValidationError<'_>) -> String {
    if let Some(uri) = error.absolute_keyword_location() {
        let s = uri.as_str();
        if let Some(i) = s.find('#') {
            return s[i..].to_string();
        }
    }
    format!("#{}", error.schema_path().as_str())
}

/// A message that names the field and the rule, without echoing large values. Inside an `anyOf` alternative
/// (`parent` is the path of the `anyOf` error) fields are named relative to that path.
fn message(
    error: &ValidationError<'_>,
    doc: &Value,
    schema: &Value,
    parent: Option<&str>,
    nesting: usize,
) -> String {
    let full_path = path::from_pointer(error.instance_path().as_str(), doc);
    let relative = match parent {
        Some(base) if !base.is_empty() => full_path
            .strip_prefix(base)
            .map_or(full_path.as_str(), |rest| rest.trim_start_matches('.')),
        _ => full_path.as_str(),
    };
    let label = match (relative.is_empty(), parent) {
        (false, _) => relative.to_string(),
        (true, None) => "server.json document".to_string(),
        (true, Some(_)) => "it".to_string(),
    };
    let instance: &Value = error.instance();
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            let field = path::field(relative, property.as_str().unwrap_or_default());
            format!("required field \"{field}\" is missing")
        }
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(t) => t.to_string(),
                TypeKind::Multiple(set) => set
                    .iter()
                    .map(|t: JsonType| t.to_string())
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            format!(
                "{label} must be of type {expected}, got {}",
                type_name(instance)
            )
        }
        ValidationErrorKind::MaxLength { limit } => format!(
            "{label} must be at most {limit} characters long (maxLength), got {}",
            instance.as_str().map_or(0, |s| s.chars().count())
        ),
        ValidationErrorKind::MinLength { limit } => {
            format!(
                "{label} must be at least {limit} character{} long (minLength)",
                plural(*limit)
            )
        }
        ValidationErrorKind::Pattern { pattern } => {
            format!(
                "{label} does not match the pattern {pattern}: {}",
                describe(instance)
            )
        }
        ValidationErrorKind::Format { format } => {
            format!("{label} is not a valid {format}: {}", describe(instance))
        }
        ValidationErrorKind::Enum { options } => {
            format!(
                "{label} must be one of {}, got {}",
                options_list(options),
                describe(instance)
            )
        }
        ValidationErrorKind::Constant { expected_value } => {
            format!(
                "{label} must be {}, got {}",
                describe(expected_value),
                describe(instance)
            )
        }
        ValidationErrorKind::Not { schema: negated } => match negated.get("const") {
            Some(forbidden) => format!("{label} must not be {}", describe(forbidden)),
            None => format!("{label} must not match the schema {}", describe(negated)),
        },
        ValidationErrorKind::MaxItems { limit } => {
            format!("{label} must have at most {limit} item{}", plural(*limit))
        }
        ValidationErrorKind::MinItems { limit } => {
            format!("{label} must have at least {limit} item{}", plural(*limit))
        }
        ValidationErrorKind::MaxProperties { limit } => {
            format!("{label} must have at most {limit} properties")
        }
        ValidationErrorKind::MinProperties { limit } => {
            format!("{label} must have at least {limit} properties")
        }
        ValidationErrorKind::UniqueItems => format!("{label} must not contain duplicate items"),
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            format!(
                "{label} has properties that are not allowed: {}",
                unexpected.join(", ")
            )
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            let names = alternative_names(error, schema);
            let mut parts = Vec::new();
            for (i, branch) in context.iter().enumerate().take(MAX_ALTERNATIVES) {
                let name = names
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| format!("option {}", i + 1));
                let detail = if nesting >= 2 {
                    format!("{} error(s)", branch.len())
                } else {
                    let mut msgs: Vec<String> = branch
                        .iter()
                        .take(MAX_BRANCH_ERRORS)
                        .map(|e| message(e, doc, schema, Some(&full_path), nesting + 1))
                        .collect();
                    if branch.len() > MAX_BRANCH_ERRORS {
                        msgs.push(format!("{} more", branch.len() - MAX_BRANCH_ERRORS));
                    }
                    msgs.join("; ")
                };
                parts.push(format!("{name}: {detail}"));
            }
            if context.len() > MAX_ALTERNATIVES {
                parts.push(format!(
                    "{} more alternatives",
                    context.len() - MAX_ALTERNATIVES
                ));
            }
            let keyword = if matches!(error.kind(), ValidationErrorKind::AnyOf { .. }) {
                "anyOf"
            } else {
                "oneOf"
            };
            if nesting == 0 {
                format!(
                    "{label} does not match any of the allowed forms ({keyword}): {}",
                    parts.join(" | ")
                )
            } else {
                format!(
                    "{label} does not match any of the allowed forms ({keyword}): ({})",
                    parts.join(" or ")
                )
            }
        }
        ValidationErrorKind::OneOfMultipleValid { .. } => {
            format!("{label} matches more than one of the allowed forms (oneOf)")
        }
        // Everything else: the library's message with the value masked (so that no large value is echoed).
        _ => format!("{label}: {}", error.masked_with("value")),
    }
}

/// Names of the `anyOf`/`oneOf` alternatives (the `$ref` targets, e.g. `StdioTransport`), looked up in the
/// schema at the error's keyword location.
fn alternative_names(error: &ValidationError<'_>, schema: &Value) -> Vec<String> {
    let location = keyword_location(error);
    let pointer = location.trim_start_matches('#');
    let Some(Value::Array(alternatives)) = schema.pointer(pointer) else {
        return Vec::new();
    };
    alternatives
        .iter()
        .enumerate()
        .map(|(i, alt)| {
            alt.get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.rsplit('/').next())
                .map_or_else(|| format!("option {}", i + 1), str::to_string)
        })
        .collect()
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A short rendering of a value: scalars as JSON (long strings cut), containers by their type only.
fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => {
            let cut: String = s.chars().take(MAX_QUOTED_CHARS).collect();
            let mut out = serde_json::to_string(&cut).unwrap_or_default();
            if cut.len() < s.len() {
                out.push_str("...");
            }
            out
        }
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
        other => other.to_string(),
    }
}

fn options_list(options: &Value) -> String {
    match options {
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(describe).collect::<Vec<_>>().join(", ")
        ),
        other => describe(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_schema_compiles() {
        assert!(all_schemas_compile());
        for (slot, version) in KNOWN_SCHEMA_VERSIONS.iter().enumerate() {
            let schema: Value = serde_json::from_str(SCHEMA_SOURCES[slot]).unwrap();
            assert!(
                schema["$id"].as_str().unwrap().contains(version),
                "{version}"
            );
        }
        assert_eq!(KNOWN_SCHEMA_VERSIONS.last(), Some(&CURRENT_SCHEMA_VERSION));
    }

    #[test]
    fn declared_known_versions_pick_their_schema() {
        let url = |v: &str| {
            format!("https://static.modelcontextprotocol.io/schemas/{v}/server.schema.json")
        };
        assert_eq!(slot_for(Some(&url("2025-07-09"))), 0);
        assert_eq!(slot_for(Some(&url("2025-12-11"))), 5);
        assert_eq!(slot_for(Some(&url("2099-01-01"))), 5);
        assert_eq!(slot_for(Some("nonsense")), 5);
        assert_eq!(slot_for(None), 5);
    }
}
