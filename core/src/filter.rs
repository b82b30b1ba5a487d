//! Which servers a sync source or a curation command takes: name globs and publisher tags; and the registry's
//! name patterns ([`pattern_matches`]: token permissions, `privileged_entries`, signature key bindings).
//!
//! Semantics as toolhive-registry-server's source filters: name include → name exclude → tag include → tag exclude;
//! an empty include list means everything. Name globs use `*` (any run of characters, `/` included), `?` (one
//! character) and `[...]` classes, case-sensitively (server names are). Tags match exactly, and come from every
//! publisher-provided extension of the server (`_meta["io.modelcontextprotocol.registry/publisher-provided"]
//! [<namespace>][<package or URL>].tags`).

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::server::ServerJson;

/// The `_meta` key of publisher-provided extensions.
const PUBLISHER_PROVIDED: &str = "io.modelcontextprotocol.registry/publisher-provided";

/// A glob that does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: invalid glob '{glob}': {reason}")]
pub struct GlobError {
    pub field: String,
    pub glob: String,
    pub reason: GlobRule,
}

/// Why a glob does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobRule {
    #[error("empty pattern")]
    Empty,
    #[error("{0}")]
    Syntax(globset::ErrorKind),
}

/// Include and exclude lists, as written in configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncludeExclude {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

impl IncludeExclude {
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }
}

/// A source's `filter` section as written in configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterSpec {
    #[serde(default, skip_serializing_if = "IncludeExclude::is_empty")]
    pub names: IncludeExclude,
    #[serde(default, skip_serializing_if = "IncludeExclude::is_empty")]
    pub tags: IncludeExclude,
}

impl FilterSpec {
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.tags.is_empty()
    }

    /// Compiles the globs; `field` prefixes error messages (e.g. `sources[2].filter`).
    pub fn compile(&self, field: &str) -> Result<ServerFilter, Vec<GlobError>> {
        let names = NameFilter::new(
            (&format!("{field}.names.include"), &self.names.include),
            (&format!("{field}.names.exclude"), &self.names.exclude),
        )?;
        Ok(ServerFilter {
            names,
            tags: self.tags.clone(),
        })
    }
}

fn globs(patterns: &[String], field: &str, errors: &mut Vec<GlobError>) -> Option<GlobSet> {
    if patterns.is_empty() {
        return None;
    }
    let mut set = GlobSetBuilder::new();
    for p in patterns {
        match name_glob(p) {
            Ok(g) => {
                set.add(g);
            }
            Err(reason) => errors.push(GlobError {
                field: field.to_string(),
                glob: p.clone(),
                reason,
            }),
        }
    }
    set.build()
        .map_err(|e| {
            errors.push(GlobError {
                field: field.to_string(),
                glob: patterns.join(","),
                reason: GlobRule::Syntax(e.kind().clone()),
            })
        })
        .ok()
}

fn name_glob(pattern: &str) -> Result<Glob, GlobRule> {
    if pattern.is_empty() {
        return Err(GlobRule::Empty);
    }
    GlobBuilder::new(pattern)
        .literal_separator(false)
        .backslash_escape(true)
        .build()
        .map_err(|e| GlobRule::Syntax(e.kind().clone()))
}

/// Name include and exclude globs: a name passes when it matches an include glob (or there is none) and no
/// exclude glob.
#[derive(Debug, Clone, Default)]
pub struct NameFilter {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
}

impl NameFilter {
    /// Compiles include and exclude lists; errors name each list by its field (e.g. `--name`, `--exclude`).
    pub fn new(
        (include_field, include): (&str, &[String]),
        (exclude_field, exclude): (&str, &[String]),
    ) -> Result<Self, Vec<GlobError>> {
        let mut errors = Vec::new();
        let include = globs(include, include_field, &mut errors);
        let exclude = globs(exclude, exclude_field, &mut errors);
        if errors.is_empty() {
            Ok(Self { include, exclude })
        } else {
            Err(errors)
        }
    }

    pub fn accepts(&self, name: &str) -> bool {
        self.include.as_ref().is_none_or(|s| s.is_match(name))
            && !self.exclude.as_ref().is_some_and(|s| s.is_match(name))
    }
}

/// A compiled source filter.
#[derive(Debug, Clone, Default)]
pub struct ServerFilter {
    names: NameFilter,
    tags: IncludeExclude,
}

impl ServerFilter {
    /// Whether the server passes every rule.
    pub fn accepts(&self, server: &ServerJson) -> bool {
        if !self.names.accepts(&server.name) {
            return false;
        }
        if self.tags.is_empty() {
            return true;
        }
        let tags = publisher_tags(server);
        (self.tags.include.is_empty() || self.tags.include.iter().any(|t| tags.contains(t)))
            && !self.tags.exclude.iter().any(|t| tags.contains(t))
    }
}

/// The registry's name pattern rule (upstream's, for token permissions): `*` matches every name, `prefix*` the
/// names starting with `prefix` (case-sensitive), any other pattern that exact name.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// Whether a configured name pattern is one [`pattern_matches`] reads as meant: not empty, `*` only as its last
/// character, no `,` (a list written as one pattern) and no white space. The error says which rule it breaks.
pub fn check_name_pattern(pattern: &str) -> Result<(), NamePatternError> {
    let rule = if pattern.is_empty() {
        "a name pattern cannot be empty"
    } else if pattern.contains(',') {
        "a name pattern cannot contain ',' (give each pattern on its own)"
    } else if pattern.trim_end_matches('*').contains('*') || pattern.ends_with("**") {
        "'*' may only end a name pattern (`*`, `prefix*` or an exact name)"
    } else if pattern.chars().any(char::is_whitespace) {
        "a name pattern cannot contain white space"
    } else {
        return Ok(());
    };
    Err(NamePatternError {
        pattern: pattern.to_owned(),
        rule,
    })
}

/// A name pattern [`check_name_pattern`] refuses, and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{pattern}': {rule}")]
pub struct NamePatternError {
    pub pattern: String,
    pub rule: &'static str,
}

/// Every tag any publisher-provided extension of the server declares, deduplicated, in first-seen order.
pub fn publisher_tags(server: &ServerJson) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    let Some(Value::Object(namespaces)) =
        server.meta.as_ref().and_then(|m| m.get(PUBLISHER_PROVIDED))
    else {
        return tags;
    };
    for entries in namespaces.values().filter_map(Value::as_object) {
        for entry in entries.values().filter_map(Value::as_object) {
            for tag in entry
                .get("tags")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !tags.iter().any(|t| t == tag) {
                    tags.push(tag.to_string());
                }
            }
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_upstream() {
        assert!(pattern_matches("*", "anything/at-all"));
        assert!(pattern_matches("io.github.x/*", "io.github.x/tool"));
        assert!(!pattern_matches("io.github.x/*", "io.github.X/tool"));
        assert!(!pattern_matches("io.github.x/*", "io.github.xy/tool"));
        assert!(pattern_matches("io.github.x/tool", "io.github.x/tool"));
        assert!(!pattern_matches("io.github.x/tool", "io.github.x/tool2"));
    }

    #[test]
    fn name_patterns_are_checked() {
        for ok in ["*", "io.github.x/*", "io.github.x*", "io.github.x/tool"] {
            check_name_pattern(ok).unwrap();
        }
        for (bad, says) in [
            ("", "cannot be empty"),
            ("io.*/x", "'*' may only end"),
            ("*/x", "'*' may only end"),
            ("io.github.x/**", "'*' may only end"),
            ("a/*,b/*", "cannot contain ','"),
            ("a/x,b/y", "cannot contain ','"),
            ("a/x b/y", "white space"),
        ] {
            let err = check_name_pattern(bad).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("'{bad}': ")) && err.contains(says),
                "{bad}: {err}"
            );
        }
    }

    fn server(name: &str, tags: &[&str]) -> ServerJson {
        serde_json::from_value(serde_json::json!({
            "name": name, "description": "d", "version": "1.0.0",
            "_meta": {PUBLISHER_PROVIDED: {"io.github.stacklok": {"ghcr.io/x/y:1": {"tags": tags}}}}
        }))
        .unwrap()
    }

    #[test]
    fn name_globs() {
        let f = NameFilter::new(
            ("i", &["com.example/*".into(), "io.github.?/x".into()]),
            ("e", &["*/deprecated-*".into()]),
        )
        .unwrap();
        assert!(f.accepts("com.example/a"));
        assert!(f.accepts("com.example/a/b"));
        assert!(f.accepts("io.github.q/x"));
        assert!(!f.accepts("io.github.qq/x"));
        assert!(!f.accepts("com.example/deprecated-a"));
        assert!(!f.accepts("org.other/a"));
        assert!(
            NameFilter::new(("i", &[]), ("e", &[]))
                .unwrap()
                .accepts("any/thing")
        );
        let f = NameFilter::new(("i", &["com.[ab]x/*".into()]), ("e", &[])).unwrap();
        assert!(f.accepts("com.ax/1") && !f.accepts("com.cx/1"));
    }

    #[test]
    fn bad_globs_name_the_field() {
        let errors = FilterSpec {
            names: IncludeExclude {
                include: vec!["a[".into()],
                exclude: vec![String::new()],
            },
            tags: IncludeExclude::default(),
        }
        .compile("sources[1].filter")
        .unwrap_err();
        assert_eq!(errors.len(), 2);
        assert!(
            errors[0]
                .to_string()
                .starts_with("sources[1].filter.names.include: invalid glob 'a['"),
            "{}",
            errors[0]
        );
        assert!(
            errors[1].to_string().contains("names.exclude"),
            "{}",
            errors[1]
        );
    }

    #[test]
    fn tags_in_order_include_then_exclude() {
        let spec = FilterSpec {
            names: IncludeExclude::default(),
            tags: IncludeExclude {
                include: vec!["production".into()],
                exclude: vec!["experimental".into()],
            },
        };
        let f = spec.compile("filter").unwrap();
        assert!(f.accepts(&server("a/b", &["production"])));
        assert!(!f.accepts(&server("a/b", &["production", "experimental"])));
        assert!(!f.accepts(&server("a/b", &[])));
        assert_eq!(
            publisher_tags(&server("a/b", &["x", "y", "x"])),
            vec!["x", "y"]
        );
    }
}
