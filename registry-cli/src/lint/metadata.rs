//! Rules on what an entry says of itself: its schema version, description, repository and version.

use super::*;

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
    pub(super) fn schema(&mut self, s: &ServerJson) {
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

    pub(super) fn description(&mut self, s: &ServerJson) {
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

    pub(super) fn repository(&mut self, s: &ServerJson) {
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

    pub(super) fn version(&mut self, s: &ServerJson) {
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
}
