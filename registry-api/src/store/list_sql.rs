//! The list statement (`GET servers`), built once for every driver: SQL text with `$1`, `$2`, … placeholders
//! (PostgreSQL's, which SQLite reads as the same numbered parameters) and its arguments in order. The sqlx
//! backends bind the arguments with [`SqlText::arguments`]; SQLite's read connections (`sqlite_read.rs`) bind them
//! by position.

use std::fmt::Write;

use super::{Cursor, ListQuery, Scope, VersionFilter};

/// An argument of a built statement.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlArg {
    Text(String),
    Int(i64),
    Bool(bool),
    /// NULL or a text.
    OptText(Option<String>),
    /// NULL or an integer.
    OptInt(Option<i64>),
}

impl From<&str> for SqlArg {
    fn from(s: &str) -> Self {
        SqlArg::Text(s.to_string())
    }
}

impl From<&String> for SqlArg {
    fn from(s: &String) -> Self {
        SqlArg::Text(s.clone())
    }
}

impl From<String> for SqlArg {
    fn from(s: String) -> Self {
        SqlArg::Text(s)
    }
}

impl From<i64> for SqlArg {
    fn from(i: i64) -> Self {
        SqlArg::Int(i)
    }
}

impl From<bool> for SqlArg {
    fn from(b: bool) -> Self {
        SqlArg::Bool(b)
    }
}

impl From<Option<String>> for SqlArg {
    fn from(s: Option<String>) -> Self {
        SqlArg::OptText(s)
    }
}

impl From<&Option<String>> for SqlArg {
    fn from(s: &Option<String>) -> Self {
        SqlArg::OptText(s.clone())
    }
}

impl From<Option<i64>> for SqlArg {
    fn from(i: Option<i64>) -> Self {
        SqlArg::OptInt(i)
    }
}

/// A statement and its arguments, `$n` being `args[n - 1]`.
#[derive(Debug, Clone, Default)]
pub struct SqlText {
    pub sql: String,
    pub args: Vec<SqlArg>,
}

impl SqlText {
    fn new(sql: &str) -> Self {
        Self {
            sql: sql.to_string(),
            args: Vec::new(),
        }
    }

    /// A fixed statement and its text arguments.
    pub fn of<const N: usize>(sql: &str, args: [String; N]) -> Self {
        Self {
            sql: sql.to_string(),
            args: args.into_iter().map(SqlArg::Text).collect(),
        }
    }

    fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends the next placeholder and its argument.
    fn bind(&mut self, arg: SqlArg) -> &mut Self {
        self.args.push(arg);
        let _ = write!(self.sql, "${}", self.args.len());
        self
    }

    fn bind_text(&mut self, text: &str) -> &mut Self {
        self.bind(SqlArg::Text(text.to_string()))
    }

    /// A fixed statement and its arguments, of any type.
    pub fn with<const N: usize>(sql: &str, args: [SqlArg; N]) -> Self {
        Self {
            sql: sql.to_string(),
            args: args.into(),
        }
    }

    /// The arguments as a sqlx driver takes them, in order.
    pub fn arguments<DB>(&self) -> Result<DB::Arguments, sqlx::error::BoxDynError>
    where
        DB: sqlx::Database,
        for<'a> &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
        for<'a> Option<&'a str>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
        for<'a> i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
        for<'a> Option<i64>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
        for<'a> bool: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    {
        use sqlx::Arguments;
        let mut args = DB::Arguments::default();
        for arg in &self.args {
            match arg {
                SqlArg::Text(s) => args.add(s.as_str())?,
                SqlArg::Int(i) => args.add(*i)?,
                SqlArg::Bool(b) => args.add(*b)?,
                SqlArg::OptText(s) => args.add(s.as_deref())?,
                SqlArg::OptInt(i) => args.add(*i)?,
            }
        }
        Ok(args)
    }
}

/// How a list query finds the rows matching a search term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SearchPlan {
    /// `search_text LIKE '%term%'` while walking the rows in page order: fast when matches are common (the page
    /// fills early) and on PostgreSQL, whose trigram index serves it.
    Like,
    /// SQLite: look the term up in the FTS5 trigram index first, then fetch and order those rows: fast when
    /// matches are few.
    TrigramIndex,
}

/// How many trigram-index matches SQLite reads to choose a search plan (see [`choose_plan`]).
pub(super) const PROBE_MATCHES: i64 = 64;

/// SQLite's look at the trigram index: how many of the first [`PROBE_MATCHES`] matches it found ($1: the
/// [`fts_phrase`], $2: [`PROBE_MATCHES`]), the row id of the last of them, and the table's largest row id.
pub(super) const SEARCH_PROBE: &str = "SELECT COUNT(*), MAX(rid), (SELECT MAX(id) FROM server_versions) \
     FROM (SELECT rowid AS rid FROM server_search WHERE server_search MATCH $1 LIMIT $2)";

/// The term whose plan SQLite chooses with [`SEARCH_PROBE`]: terms shorter than a trigram have no index to use.
pub(super) fn probed_term(query: &ListQuery) -> Option<&str> {
    query.search.as_deref().filter(|t| t.chars().count() >= 3)
}

/// Picks the faster plan from [`SEARCH_PROBE`]'s answer: the first [`PROBE_MATCHES`] matches, in row order.
/// Fewer than that: the index has them all. Otherwise how far into the table the last of them lies estimates how
/// many rows match in all (`PROBE_MATCHES × rows / that row`): walking pages costs about `limit × rows /
/// matches` row checks and fetching from the index about `matches`, so the index wins while the estimate is
/// below `√(limit × rows)`.
pub(super) fn choose_plan(
    limit: u32,
    (found, last, rows): (i64, Option<i64>, Option<i64>),
) -> SearchPlan {
    if found < PROBE_MATCHES {
        return SearchPlan::TrigramIndex;
    }
    let (last, rows) = (
        last.unwrap_or(1).max(1) as f64,
        rows.unwrap_or(1).max(1) as f64,
    );
    let estimated_matches = PROBE_MATCHES as f64 * rows / last;
    if estimated_matches < (f64::from(limit) * rows).sqrt() {
        SearchPlan::TrigramIndex
    } else {
        SearchPlan::Like
    }
}

/// How the walk of a search ([`SearchPlan::Like`]) tests a row's `search_text` for the term. Both are lower-cased
/// already, so each is a plain substring test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Substring {
    /// `search_text LIKE '%term%'`: PostgreSQL, whose trigram index serves it.
    Like,
    /// SQLite's `instr(search_text, term)`: several times cheaper per row than LIKE's pattern matcher.
    Instr,
    /// [`CONTAINS_FN`], registered on SQLite's read connections: a vectorized substring search (memmem), about
    /// 10 ns per row where `instr`, which compares at every byte, takes ≈ 0.5 µs on a 90-byte `search_text`.
    Contains,
}

/// The SQL function behind [`Substring::Contains`]: `thv_contains(haystack, needle)` is 1 when `needle` occurs in
/// `haystack` (as `instr(haystack, needle) > 0`), 0 when not, NULL when either is NULL.
pub(super) const CONTAINS_FN: &str = "thv_contains";

/// Escapes `\`, `%` and `_` so that a search term matches literally inside `LIKE ... ESCAPE '\'`.
pub(super) fn like_pattern(term: &str) -> String {
    let mut p = String::with_capacity(term.len() + 2);
    p.push('%');
    for c in term.chars() {
        if matches!(c, '\\' | '%' | '_') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// A phrase query for the trigram index: the term, quoted, matches as a literal substring.
pub(super) fn fts_phrase(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

/// Restricts a statement over `server_versions` to a scope: its one source, or its sources in precedence order,
/// each row shown only when no earlier source holds its server name.
fn push_scope(b: &mut SqlText, scope: &Scope) {
    let sources = scope.sources();
    if let [only] = sources {
        b.push(" AND source = ").bind_text(only);
        return;
    }
    b.push(" AND (");
    for (i, source) in sources.iter().enumerate() {
        if i > 0 {
            b.push(" OR ");
        }
        b.push("(source = ").bind_text(source);
        if i > 0 {
            b.push(
                " AND NOT EXISTS (SELECT 1 FROM server_versions h \
                 WHERE h.server_name = server_versions.server_name AND h.source IN (",
            );
            for (j, s) in sources[..i].iter().enumerate() {
                if j > 0 {
                    b.push(", ");
                }
                b.bind_text(s);
            }
            b.push("))");
        }
        b.push(")");
    }
    b.push(")");
}

/// Builds the list statement from the query's filters (keyset pagination, no OFFSET); `read_cols` is the column
/// list; `substring`: how the walk of a search tests each row.
pub(super) fn build_list(
    q: &ListQuery,
    plan: SearchPlan,
    substring: Substring,
    read_cols: &str,
) -> SqlText {
    let mut b = SqlText::new("SELECT ");
    b.push(read_cols).push(" FROM ");
    match (&q.search, plan) {
        (Some(term), SearchPlan::TrigramIndex) => {
            // CROSS JOIN makes SQLite drive the join from the index lookup.
            b.push("(SELECT rowid AS rid FROM server_search WHERE server_search MATCH ")
                .bind(SqlArg::Text(fts_phrase(term)))
                .push(") AS m CROSS JOIN server_versions ON server_versions.id = m.rid WHERE 1=1");
        }
        _ => {
            b.push("server_versions WHERE 1=1");
        }
    }
    push_scope(&mut b, &q.scope);
    if !q.include_deleted {
        b.push(" AND status <> 'deleted'");
    }
    if let Some(since) = &q.updated_since {
        b.push(" AND updated_at > ")
            .bind(SqlArg::Int(since.timestamp_micros()));
    }
    match &q.version {
        VersionFilter::All => {}
        VersionFilter::Latest => {
            b.push(" AND is_latest");
        }
        VersionFilter::Exact(v) => {
            b.push(" AND version = ").bind_text(v);
        }
    }
    if let (Some(term), SearchPlan::Like) = (&q.search, plan) {
        match substring {
            Substring::Like => {
                b.push(" AND search_text LIKE ")
                    .bind(SqlArg::Text(like_pattern(term)))
                    .push(" ESCAPE '\\'");
            }
            Substring::Instr => {
                b.push(" AND instr(search_text, ")
                    .bind_text(term)
                    .push(") > 0");
            }
            Substring::Contains => {
                b.push(" AND ")
                    .push(CONTAINS_FN)
                    .push("(search_text, ")
                    .bind_text(term)
                    .push(")");
            }
        }
    }
    match &q.cursor {
        Some(Cursor {
            server_name,
            version: Some(v),
        }) => {
            b.push(" AND (server_name, version) > (")
                .bind_text(server_name)
                .push(", ")
                .bind_text(v)
                .push(")");
        }
        Some(Cursor {
            server_name,
            version: None,
        }) => {
            b.push(" AND server_name > ").bind_text(server_name);
        }
        None => {}
    }
    // A list's limit is written into the statement, not bound: PostgreSQL plans a prepared statement whose LIMIT is
    // a parameter on every execution (its generic plan, not knowing the limit, looks costlier), ≈ 70 µs of the
    // backend's CPU per page; with the limit written, the list's generic plan is kept after five executions. Pages
    // use a handful of limits, so the prepared statements stay few. A search keeps its limit a parameter, so that
    // each search is planned for its own term: a generic plan, made without knowing the pattern, took 6.7 ms of the
    // backend's CPU per page of a common word instead of 0.6 (and an unprepared statement, parsed every time, 0.8).
    b.push(" ORDER BY server_name, version LIMIT ");
    if q.search.is_some() {
        b.bind(SqlArg::Int(i64::from(q.limit)));
    } else {
        b.push(&q.limit.to_string());
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(like_pattern("a%b_c\\d"), "%a\\%b\\_c\\\\d%");
    }

    #[test]
    fn placeholders_are_numbered_in_order_of_their_arguments() {
        let scope = Scope::new(vec!["a".into(), "b".into()]).unwrap();
        let q = ListQuery {
            scope,
            search: Some("db".into()),
            cursor: Some(Cursor {
                server_name: "x".into(),
                version: Some("1".into()),
            }),
            limit: 30,
            updated_since: None,
            version: VersionFilter::Latest,
            include_deleted: false,
        };
        let s = build_list(&q, SearchPlan::Like, Substring::Instr, "*");
        assert_eq!(s.args.len(), 7, "{}", s.sql);
        for n in 1..=7 {
            assert_eq!(s.sql.matches(&format!("${n}")).count(), 1, "{}", s.sql);
        }
        assert!(!s.sql.contains("$8"));
        assert_eq!(s.args[0], SqlArg::Text("a".into()));
        assert_eq!(s.args[6], SqlArg::Int(i64::from(q.limit)));
        // Without a search, the limit is written into the statement (see `build_list`).
        let list = build_list(
            &ListQuery { search: None, ..q },
            SearchPlan::Like,
            Substring::Instr,
            "*",
        );
        assert_eq!(list.args.len(), 5, "{}", list.sql);
        assert!(list.sql.ends_with(" LIMIT 30"), "{}", list.sql);
    }
}
