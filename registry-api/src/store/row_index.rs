//! Every stored row in memory, with the [`Store`](super::Store)'s reads answered from it exactly as the SQL
//! backends answer them: the ConfigMap backend keeps one (built from its objects, kept current by their watch) so
//! that no read goes to the Kubernetes API server.
//!
//! Semantics (those of `list_sql.rs` and the SQL backends' statements): a list walks `(server_name, version)` in
//! byte order after the cursor; a scope of several sources shows a name from the first source, in precedence
//! order, holding any row of it (a deleted one too); `search` is a substring of the lower-cased name and
//! description; `updated_since` is strict; versions of one name come newest publish first (then version,
//! descending). Rows handed out carry an empty `search_text`, as the SQL backends' reads do.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

use thv_core::api::ServerStatus;

use super::{
    Cursor, ListQuery, MANAGED_SOURCE, Scope, VersionFilter, VersionRow, newest_first, remote_urls,
};

/// The rows of one server name in one source, by version, and their search texts joined (with NUL, which no
/// search term holds: the API refuses it), so that a search skips a name none of whose versions match with one
/// substring search instead of one per version.
#[derive(Debug, Clone, Default)]
struct NameRows {
    versions: BTreeMap<String, VersionRow>,
    search: String,
}

impl NameRows {
    fn new(versions: BTreeMap<String, VersionRow>) -> Self {
        let mut search = String::new();
        for row in versions.values() {
            search.push_str(&row.search_text);
            search.push('\0');
        }
        Self { versions, search }
    }
}

/// The rows of every source, by server name, then source, then version.
#[derive(Debug, Clone, Default)]
pub struct RowIndex {
    names: BTreeMap<String, BTreeMap<String, NameRows>>,
    /// Each remote URL the managed source's non-deleted rows declare: the names declaring it.
    urls: HashMap<String, BTreeSet<String>>,
}

/// The remote URLs the non-deleted rows declare (a row whose document does not parse declares none).
fn declared_urls<'a>(rows: impl Iterator<Item = &'a VersionRow>) -> BTreeSet<String> {
    rows.filter(|r| r.status != ServerStatus::Deleted)
        .flat_map(|r| remote_urls(&r.value).unwrap_or_default())
        .collect()
}

/// A row as reads return it: without its search text.
fn shown(row: &VersionRow) -> VersionRow {
    VersionRow {
        search_text: String::new(),
        ..row.clone()
    }
}

impl RowIndex {
    /// Replaces every row of `server_name` in `source` with `rows` (none: the name leaves the source).
    pub fn set_name(&mut self, source: &str, server_name: &str, rows: Vec<VersionRow>) {
        if source == MANAGED_SOURCE {
            self.set_urls(server_name, &rows);
        }
        if rows.is_empty() {
            if let Some(sources) = self.names.get_mut(server_name) {
                sources.remove(source);
                if sources.is_empty() {
                    self.names.remove(server_name);
                }
            }
            return;
        }
        let versions = rows.into_iter().map(|r| (r.version.clone(), r)).collect();
        self.names
            .entry(server_name.to_owned())
            .or_default()
            .insert(source.to_owned(), NameRows::new(versions));
    }

    /// Moves the managed name's URL declarations from its stored rows to `rows`.
    fn set_urls(&mut self, server_name: &str, rows: &[VersionRow]) {
        let old = self
            .names
            .get(server_name)
            .and_then(|s| s.get(MANAGED_SOURCE))
            .map(|v| declared_urls(v.versions.values()))
            .unwrap_or_default();
        let new = declared_urls(rows.iter());
        for url in old.difference(&new) {
            if let Some(names) = self.urls.get_mut(url) {
                names.remove(server_name);
                if names.is_empty() {
                    self.urls.remove(url);
                }
            }
        }
        for url in new.difference(&old) {
            self.urls
                .entry(url.clone())
                .or_default()
                .insert(server_name.to_owned());
        }
    }

    /// Every row of `server_name` in `source`, in version order (search text included: for writes).
    pub fn rows_of(&self, source: &str, server_name: &str) -> Vec<VersionRow> {
        self.names
            .get(server_name)
            .and_then(|s| s.get(source))
            .map(|v| v.versions.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The server names `source` holds.
    pub fn names_in<'a>(&'a self, source: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.names
            .iter()
            .filter(move |(_, sources)| sources.contains_key(source))
            .map(|(name, _)| name.as_str())
    }

    /// The source a read of `server_name` in `scope` uses: the first, in precedence order, holding the name.
    fn source_for<'a>(
        &'a self,
        scope: &Scope,
        server_name: &str,
    ) -> Option<(&'a str, &'a NameRows)> {
        let held = self.names.get(server_name)?;
        scope
            .sources()
            .iter()
            .find_map(|s| held.get_key_value(s.as_str()))
            .map(|(s, v)| (s.as_str(), v))
    }

    /// A page of `query` (see the module documentation).
    pub fn list(&self, query: &ListQuery) -> Vec<VersionRow> {
        let limit = query.limit as usize;
        let mut page = Vec::new();
        if limit == 0 {
            return page;
        }
        let start = match &query.cursor {
            Some(Cursor { server_name, .. }) => Bound::Included(server_name.clone()),
            None => Bound::Unbounded,
        };
        let finder = query
            .search
            .as_deref()
            .map(|term| memchr::memmem::Finder::new(term.as_bytes()));
        for (name, _) in self.names.range::<String, _>((start, Bound::Unbounded)) {
            let after_version = match &query.cursor {
                Some(c) if c.server_name == *name => match &c.version {
                    Some(v) => Some(v.as_str()),
                    None => continue,
                },
                _ => None,
            };
            let Some((_, rows)) = self.source_for(&query.scope, name) else {
                continue;
            };
            if finder
                .as_ref()
                .is_some_and(|f| f.find(rows.search.as_bytes()).is_none())
            {
                continue;
            }
            let from = match after_version {
                Some(v) => Bound::Excluded(v.to_owned()),
                None => Bound::Unbounded,
            };
            for (_, row) in rows.versions.range::<String, _>((from, Bound::Unbounded)) {
                if matches(query, row, finder.as_ref()) {
                    page.push(shown(row));
                    if page.len() == limit {
                        return page;
                    }
                }
            }
        }
        page
    }

    /// Every version of `server_name` from the first source of `scope` holding it, newest publish first.
    pub fn versions(
        &self,
        scope: &Scope,
        server_name: &str,
        include_deleted: bool,
    ) -> Vec<VersionRow> {
        let Some((_, rows)) = self.source_for(scope, server_name) else {
            return Vec::new();
        };
        let mut rows: Vec<VersionRow> = rows
            .versions
            .values()
            .filter(|r| include_deleted || r.status != ServerStatus::Deleted)
            .map(shown)
            .collect();
        newest_first(&mut rows);
        rows
    }

    /// One version, or the latest one, from the first source of `scope` holding the name.
    pub fn get(
        &self,
        scope: &Scope,
        server_name: &str,
        version: Option<&str>,
    ) -> Option<VersionRow> {
        let (_, rows) = self.source_for(scope, server_name)?;
        match version {
            Some(v) => rows.versions.get(v).map(shown),
            None => rows.versions.values().find(|r| r.is_latest).map(shown),
        }
    }

    /// How many versions the managed source holds.
    pub fn count(&self) -> u64 {
        self.names
            .values()
            .filter_map(|s| s.get(MANAGED_SOURCE))
            .map(|v| v.versions.len() as u64)
            .sum()
    }

    /// A server other than `server_name` declaring `url` in a non-deleted managed version.
    pub fn remote_url_owner(&self, url: &str, server_name: &str) -> Option<String> {
        self.urls
            .get(url)?
            .iter()
            .find(|name| name.as_str() != server_name)
            .cloned()
    }
}

/// Whether a row passes the query's filters (its scope and cursor are the walk's).
fn matches(query: &ListQuery, row: &VersionRow, search: Option<&memchr::memmem::Finder>) -> bool {
    if !query.include_deleted && row.status == ServerStatus::Deleted {
        return false;
    }
    if query.updated_since.is_some_and(|t| row.updated_at <= t) {
        return false;
    }
    match &query.version {
        VersionFilter::All => {}
        VersionFilter::Latest if !row.is_latest => return false,
        VersionFilter::Latest => {}
        VersionFilter::Exact(v) if row.version != *v => return false,
        VersionFilter::Exact(_) => {}
    }
    search.is_none_or(|f| f.find(row.search_text.as_bytes()).is_some())
}
