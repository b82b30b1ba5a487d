//! Server names: matching what the user typed (`thv run time`) against registry names
//! (`io.github.stacklok/time`), and turning a name into a valid container name.

use std::collections::BTreeSet;

use thiserror::Error;

use super::MAX_NAME_LEN;

/// Why a name did not resolve to exactly one server.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameMatchError {
    /// No server has that name or short name; `suggestions` are close names (possibly none).
    #[error(
        "no server named '{query}' in the registry{}",
        suggestion_text(suggestions)
    )]
    NotFound {
        query: String,
        suggestions: Vec<String>,
    },
    /// Several servers have that short name; `candidates` are their full names, sorted.
    #[error(
        "'{query}' matches several servers: {}; use the full name",
        candidates.join(", ")
    )]
    Ambiguous {
        query: String,
        candidates: Vec<String>,
    },
}

fn suggestion_text(s: &[String]) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!(" (did you mean {}?)", s.join(", "))
    }
}

/// The part of a server name after its last `/` (`io.github.stacklok/fetch` → `fetch`).
pub fn short_name(name: &str) -> &str {
    name.rsplit_once('/').map_or(name, |(_, s)| s)
}

/// Resolves `query` against `names`: an exact match first; else the names whose part after `/` equals the
/// query (one → it; several → [`NameMatchError::Ambiguous`] listing them); else
/// [`NameMatchError::NotFound`] with up to five close names. The same name given twice counts once.
pub fn match_short_name<'a>(
    query: &str,
    names: impl IntoIterator<Item = &'a str>,
) -> Result<&'a str, NameMatchError> {
    let names: Vec<&'a str> = names.into_iter().collect();
    if let Some(exact) = names.iter().find(|n| **n == query) {
        return Ok(exact);
    }
    let not_found = |names: &[&str]| NameMatchError::NotFound {
        query: query.to_owned(),
        suggestions: suggestions(query, names),
    };
    if query.is_empty() || query.contains('/') {
        return Err(not_found(&names));
    }
    let matches: BTreeSet<&'a str> = names
        .iter()
        .copied()
        .filter(|n| n.contains('/') && short_name(n) == query)
        .collect();
    let mut it = matches.iter();
    match (it.next(), it.next()) {
        (Some(one), None) => Ok(one),
        (None, _) => Err(not_found(&names)),
        _ => Err(NameMatchError::Ambiguous {
            query: query.to_owned(),
            candidates: matches.iter().map(|s| (*s).to_owned()).collect(),
        }),
    }
}

/// Close names: the short name contains the query (or the reverse, for queries of 3+ characters) or is within
/// a small edit distance of it; closest first, at most five.
fn suggestions(query: &str, names: &[&str]) -> Vec<String> {
    let q = short_name(query).to_ascii_lowercase();
    if q.is_empty() {
        return Vec::new();
    }
    let max_dist = (q.chars().count() / 3).max(1);
    let mut scored: Vec<(usize, &str)> = names
        .iter()
        .filter_map(|n| {
            let s = short_name(n).to_ascii_lowercase();
            let d = edit_distance(&q, &s);
            let related = d <= max_dist
                || (q.len() >= 3 && (s.contains(&q) || (s.len() >= 3 && q.contains(s.as_str()))));
            related.then_some((d, *n))
        })
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored
        .into_iter()
        .take(5)
        .map(|(_, n)| n.to_owned())
        .collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Turns any string into a valid container name (`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`, at most 63 characters):
/// invalid characters become `-`, leading characters that cannot start a name are dropped, the result is cut
/// to 63 characters (trailing `-`, `.`, `_` trimmed). An input with nothing usable gives `mcp-server`.
pub fn sanitize_name(raw: &str) -> String {
    let replaced: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = replaced.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    let cut: String = trimmed.chars().take(MAX_NAME_LEN).collect();
    let cut = cut.trim_end_matches(['-', '.', '_']);
    if cut.is_empty() {
        "mcp-server".to_owned()
    } else {
        cut.to_owned()
    }
}
