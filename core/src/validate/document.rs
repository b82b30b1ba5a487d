//! Rules on a document as raw JSON, before any field is read: no string may hold NUL, and the official
//! registry's pre-schema format is named for what it is.
//!
//! **NUL.** PostgreSQL stores U+0000 in no `text` or `jsonb` value, and the official registry (PostgreSQL `jsonb`)
//! cannot store such a document either: a NUL in any string — value or object key, anywhere in the document,
//! `_meta` included — is an error naming its path. Other control characters are left to the fields' own
//! patterns and formats, as upstream: names (`^[a-zA-Z0-9.-]+/…`), URLs (`format: uri`, `^https?://[^\s]+$`),
//! `fileSha256`, icon sizes refuse them; descriptions, titles, versions and `_meta` values may hold line
//! breaks, tabs and the like.
//!
//! **Pre-schema format.** The official registry's first documents (its 2025-05-16 seed) carried
//! `version_detail.version` instead of `version` and packages of `registry_name` and `name`; no schema version
//! describes them, so without a word they would fail as "required field version is missing".

use serde_json::Value;

use super::{IssueType, Severity, ValidationIssue, path, rules};

/// The rule broken by a string holding U+0000.
pub const NUL_MESSAGE: &str = "must not contain the NUL character (U+0000)";

/// NUL issues reported for one document at most (the first ones, in document order).
const MAX_NUL_ISSUES: usize = 20;

/// The paths (issue format: `packages[0].identifier`, `_meta["a/b"]["k\u0000"]`) of the strings and object
/// keys of `doc` holding U+0000, in document order, at most `limit` of them. Iterative: safe on any value.
pub fn nul_paths(doc: &Value, limit: usize) -> Vec<String> {
    /// What is left to look at: a value, or an object key already known to hold NUL (the key is the culprit,
    /// not what it holds).
    enum Next<'a> {
        Value(String, &'a Value),
        NulKey(String),
    }
    let mut found = Vec::new();
    let mut stack = vec![Next::Value(String::new(), doc)];
    while found.len() < limit {
        let Some(next) = stack.pop() else { break };
        let (at, value) = match next {
            Next::NulKey(at) => {
                found.push(at);
                continue;
            }
            Next::Value(at, value) => (at, value),
        };
        match value {
            Value::String(s) if s.contains('\0') => found.push(at),
            Value::Array(items) => stack.extend(
                items
                    .iter()
                    .enumerate()
                    .rev()
                    .map(|(i, v)| Next::Value(path::index(&at, i), v)),
            ),
            Value::Object(map) => {
                let children: Vec<Next> = map
                    .iter()
                    .map(|(key, v)| {
                        let child = path::field(&at, key);
                        if key.contains('\0') {
                            Next::NulKey(child)
                        } else {
                            Next::Value(child, v)
                        }
                    })
                    .collect();
                stack.extend(children.into_iter().rev());
            }
            _ => {}
        }
    }
    found
}

/// The path of the first string or key of `doc` holding U+0000 (see [`nul_paths`]).
pub fn nul_path(doc: &Value) -> Option<String> {
    nul_paths(doc, 1).pop()
}

/// One issue per string or key holding U+0000 (the first [`MAX_NUL_ISSUES`]).
pub(crate) fn nul_issues(doc: &Value) -> Vec<ValidationIssue> {
    nul_paths(doc, MAX_NUL_ISSUES)
        .into_iter()
        .map(|at| {
            ValidationIssue::new(
                IssueType::Json,
                at,
                NUL_MESSAGE,
                Severity::Error,
                rules::STRING_CONTAINS_NUL,
            )
        })
        .collect()
}

/// Names the official registry's pre-schema format when `doc` is in it: `version_detail` without `version`, or
/// a package with `registry_name` and no `registryType`. A document carrying these fields beside the current
/// ones is not flagged (unknown fields are allowed).
pub(crate) fn legacy_format_issue(doc: &Value) -> Option<ValidationIssue> {
    let obj = doc.as_object()?;
    let at = if obj.contains_key("version_detail") && !obj.contains_key("version") {
        "version_detail".to_string()
    } else {
        let packages = obj.get("packages")?.as_array()?;
        let i = packages.iter().position(|p| {
            p.as_object()
                .is_some_and(|p| p.contains_key("registry_name") && !p.contains_key("registryType"))
        })?;
        path::field(&path::index("packages", i), "registry_name")
    };
    Some(ValidationIssue::new(
        IssueType::Schema,
        at,
        "this is the official registry's pre-schema format (its 2025-05-16 seed: version_detail, \
         packages[].registry_name), which no server.json schema describes; convert it to the current \
         server.json: version_detail.version becomes version, packages[].registry_name registryType, \
         packages[].name identifier, packages[] gain a transport ({\"type\": \"stdio\"}), snake_case fields \
         become camelCase, and $schema names the schema",
        Severity::Error,
        rules::LEGACY_PRE_SCHEMA_FORMAT,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nul_is_found_in_values_and_keys_in_document_order() {
        let doc = json!({
            "version": "1\u{0}",
            "k\u{0}ey": "x",
            "packages": [{"identifier": "ok"}, {"args": ["a", "b\u{0}"]}],
            "_meta": {"a/b": {"k\u{0}": {"deep": "x\u{0}"}, "fine": "line\nbreak\t"}},
        });
        assert_eq!(
            nul_paths(&doc, 10),
            [
                "version",
                "[\"k\\u0000ey\"]",
                "packages[1].args[1]",
                "_meta[\"a/b\"][\"k\\u0000\"]",
            ]
        );
        assert_eq!(nul_path(&doc).as_deref(), Some("version"));
        assert_eq!(nul_paths(&doc, 2).len(), 2);
        assert_eq!(nul_path(&json!("\u{0}")).as_deref(), Some(""));
        assert_eq!(nul_path(&json!({"a": ["\u{1}\u{7f}\n"]})), None);
    }

    #[test]
    fn nul_issues_are_capped() {
        let doc = Value::Array(vec![json!("\u{0}"); 100]);
        let issues = nul_issues(&doc);
        assert_eq!(issues.len(), MAX_NUL_ISSUES);
        assert_eq!(issues[0].path, "[0]");
        assert_eq!(issues[0].reference, rules::STRING_CONTAINS_NUL);
    }

    #[test]
    fn the_pre_schema_format_is_named() {
        let seed = json!({"name": "io.github.a/b", "description": "d",
            "version_detail": {"version": "1.0.0"},
            "packages": [{"registry_name": "npm", "name": "x", "version": "1.0.0"}]});
        assert_eq!(legacy_format_issue(&seed).unwrap().path, "version_detail");
        let packages_only = json!({"version": "1.0.0",
            "packages": [{"registryType": "npm"}, {"registry_name": "npm", "name": "x"}]});
        assert_eq!(
            legacy_format_issue(&packages_only).unwrap().path,
            "packages[1].registry_name"
        );
        for fine in [
            json!({"version": "1.0.0", "version_detail": {}}),
            json!({"version": "1.0.0", "packages": [{"registryType": "npm", "registry_name": "npm"}]}),
            json!({"version": "1.0.0", "packages": 5}),
            json!([1]),
        ] {
            assert!(legacy_format_issue(&fine).is_none(), "{fine}");
        }
    }
}
