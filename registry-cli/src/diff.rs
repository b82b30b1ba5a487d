//! `thv-registry diff A B [--format text|json]`: what changed between two registries.
//!
//! A and B are anything [`crate::input`] reads: registry files (upstream, legacy, server lists), server.json
//! files, directories, registry file URLs and live registry APIs (every version, unless `--latest-only`).
//! Versions are keyed by `name@version`; the report lists servers added and removed (with their versions), and
//! for servers in both: versions added, removed and changed. A changed version lists its changed fields as JSON
//! paths (`packages[0].identifier`, `_meta["io.modelcontextprotocol.registry/publisher-provided"]...`) with the
//! old and new values, shortened in text output and whole in JSON output. When both sides come from registry
//! APIs, a change of registry status (active/deprecated/deleted, status message) is a change too, reported at
//! the pseudo-path `(registry status)`.
//!
//! Exit code, as diff(1): 0 when the registries hold the same versions with the same content, 1 when they differ,
//! 2 when either cannot be read.

use std::collections::{BTreeMap, BTreeSet};

use clap::{Args, ValueEnum};
use serde_json::{Map, Value, json};

use crate::input::{self, ApiOptions, Entry, Loaded};

/// Output format of `diff`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Args)]
#[command(
    long_about = "Show the servers and versions added, removed and changed between two registries (registry \
                  files, server.json files, directories, registry file URLs or registry API base URLs). \
                  Versions are keyed by name@version; a changed version lists its changed fields as JSON paths \
                  with the old → new values (shortened in text output; whole with --format json).\n\nExit code, \
                  as diff(1): 0 when the registries are identical, 1 when they differ, 2 on error (an input \
                  that cannot be read)."
)]
pub struct DiffArgs {
    /// The old registry: FILE, DIR or URL.
    #[arg(value_name = "A")]
    pub a: String,
    /// The new registry: FILE, DIR or URL.
    #[arg(value_name = "B")]
    pub b: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: DiffFormat,
    /// Registry APIs: read only the latest version of each server (default: every version).
    #[arg(long)]
    pub latest_only: bool,
    /// Registry APIs: include deleted versions.
    #[arg(long)]
    pub include_deleted: bool,
    /// Text output: at most this many changed fields per version (0: no limit).
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub max_fields: usize,
}

/// One changed field: its JSON path and the values on each side (`None`: absent).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// Every leaf-level difference between two JSON values: objects are compared key by key, arrays index by index
/// (extra elements are added or removed at their index), anything else as a whole.
pub fn json_changes(a: &Value, b: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    walk(String::new(), Some(a), Some(b), &mut out);
    out
}

fn walk(path: String, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<Change>) {
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                walk(key_path(&path, k), x.get(k), y.get(k), out);
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            for i in 0..x.len().max(y.len()) {
                walk(format!("{path}[{i}]"), x.get(i), y.get(i), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(Change {
            path: if path.is_empty() {
                "(document)".into()
            } else {
                path
            },
            old: a.cloned(),
            new: b.cloned(),
        }),
    }
}

fn key_path(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '-'));
    match (parent.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!("{parent}[{}]", Value::String(key.to_owned())),
    }
}

/// A value as compact JSON, shortened to about `max` characters (`(absent)` for `None`).
pub fn short(v: Option<&Value>, max: usize) -> String {
    let Some(v) = v else {
        return "(absent)".into();
    };
    let text = v.to_string();
    if text.chars().count() <= max {
        text
    } else {
        let cut: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

type Key = (String, String);

/// One side of the diff: its versions by `(name, version)`.
struct Side {
    origin: String,
    versions: BTreeMap<Key, Entry>,
}

impl Side {
    fn from_loaded(loaded: Loaded) -> Self {
        let mut versions = BTreeMap::new();
        for entry in loaded.entries {
            let (name, version) = entry.identity();
            if name.is_empty() || version.is_empty() {
                thv_core::errln!(
                    "warning: {}: no string `name` and `version`; left out of the comparison",
                    entry.location
                );
                continue;
            }
            if let Some(prev) = versions.insert((name.clone(), version.clone()), entry) {
                thv_core::errln!(
                    "warning: {}: {name}@{version} appears more than once; the last one is compared",
                    prev.location
                );
            }
        }
        Self {
            origin: loaded.origin,
            versions,
        }
    }

    fn names(&self) -> BTreeSet<&str> {
        self.versions.keys().map(|(n, _)| n.as_str()).collect()
    }

    fn versions_of(&self, name: &str) -> Vec<&str> {
        self.versions
            .keys()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// The registry status of an API entry, as a comparable value.
fn status_value(e: &Entry) -> Option<Value> {
    let o = e.official.as_ref()?;
    let mut v = json!({"status": o.status.as_str()});
    if let Some(m) = &o.status_message {
        v["statusMessage"] = Value::String(m.clone());
    }
    Some(v)
}

fn changes_between(a: &Entry, b: &Entry) -> Vec<Change> {
    let mut changes = json_changes(&a.value, &b.value);
    if let (Some(x), Some(y)) = (status_value(a), status_value(b))
        && x != y
    {
        changes.push(Change {
            path: "(registry status)".into(),
            old: Some(x),
            new: Some(y),
        });
    }
    changes
}

/// The comparison of two registries.
struct Report {
    servers_added: Vec<(String, Vec<String>)>,
    servers_removed: Vec<(String, Vec<String>)>,
    servers_changed: Vec<String>,
    versions_added: Vec<Key>,
    versions_removed: Vec<Key>,
    versions_changed: Vec<(Key, Vec<Change>)>,
}

impl Report {
    fn identical(&self) -> bool {
        self.versions_added.is_empty()
            && self.versions_removed.is_empty()
            && self.versions_changed.is_empty()
    }
}

fn compare(a: &Side, b: &Side) -> Report {
    let (na, nb) = (a.names(), b.names());
    let mut r = Report {
        servers_added: Vec::new(),
        servers_removed: Vec::new(),
        servers_changed: Vec::new(),
        versions_added: Vec::new(),
        versions_removed: Vec::new(),
        versions_changed: Vec::new(),
    };
    for name in na.union(&nb) {
        let (in_a, in_b) = (na.contains(name), nb.contains(name));
        let owned = |vs: Vec<&str>| vs.into_iter().map(str::to_owned).collect::<Vec<_>>();
        if !in_a {
            r.servers_added
                .push((name.to_string(), owned(b.versions_of(name))));
        } else if !in_b {
            r.servers_removed
                .push((name.to_string(), owned(a.versions_of(name))));
        }
        let versions: BTreeSet<&str> = a
            .versions_of(name)
            .into_iter()
            .chain(b.versions_of(name))
            .collect();
        let mut changed = false;
        for v in versions {
            let key = (name.to_string(), v.to_owned());
            match (a.versions.get(&key), b.versions.get(&key)) {
                (None, Some(_)) => {
                    r.versions_added.push(key);
                    changed = true;
                }
                (Some(_), None) => {
                    r.versions_removed.push(key);
                    changed = true;
                }
                (Some(x), Some(y)) => {
                    let changes = changes_between(x, y);
                    if !changes.is_empty() {
                        r.versions_changed.push((key, changes));
                        changed = true;
                    }
                }
                (None, None) => {}
            }
        }
        if in_a && in_b && changed {
            r.servers_changed.push(name.to_string());
        }
    }
    r
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn summary_line(r: &Report, a: &Side, b: &Side) -> String {
    format!(
        "Summary: servers: {} added, {} removed, {} changed; versions: {} added, {} removed, {} changed \
         (A: {}, {}; B: {}, {})",
        r.servers_added.len(),
        r.servers_removed.len(),
        r.servers_changed.len(),
        r.versions_added.len(),
        r.versions_removed.len(),
        r.versions_changed.len(),
        plural(a.names().len(), "server"),
        plural(a.versions.len(), "version"),
        plural(b.names().len(), "server"),
        plural(b.versions.len(), "version"),
    )
}

fn text_report(r: &Report, a: &Side, b: &Side, max_fields: usize) -> String {
    let mut out = format!("--- {}\n+++ {}\n", a.origin, b.origin);
    let added: BTreeMap<&str, &Vec<String>> = r
        .servers_added
        .iter()
        .map(|(n, v)| (n.as_str(), v))
        .collect();
    let removed: BTreeMap<&str, &Vec<String>> = r
        .servers_removed
        .iter()
        .map(|(n, v)| (n.as_str(), v))
        .collect();
    let mut names: BTreeSet<&str> = added.keys().chain(removed.keys()).copied().collect();
    names.extend(r.servers_changed.iter().map(String::as_str));
    for name in names {
        if let Some(vs) = added.get(name) {
            out.push_str(&format!(
                "+ server  {name}  (versions: {})\n",
                vs.join(", ")
            ));
            continue;
        }
        if let Some(vs) = removed.get(name) {
            out.push_str(&format!(
                "- server  {name}  (versions: {})\n",
                vs.join(", ")
            ));
            continue;
        }
        out.push_str(&format!("~ server  {name}\n"));
        for (n, v) in &r.versions_added {
            if n == name {
                out.push_str(&format!("    + version {name}@{v}\n"));
            }
        }
        for (n, v) in &r.versions_removed {
            if n == name {
                out.push_str(&format!("    - version {name}@{v}\n"));
            }
        }
        for ((n, v), changes) in &r.versions_changed {
            if n != name {
                continue;
            }
            out.push_str(&format!("    ~ version {name}@{v}\n"));
            let shown = if max_fields == 0 {
                changes.len()
            } else {
                changes.len().min(max_fields)
            };
            for c in &changes[..shown] {
                out.push_str(&format!(
                    "        {}: {} → {}\n",
                    c.path,
                    short(c.old.as_ref(), 60),
                    short(c.new.as_ref(), 60)
                ));
            }
            if shown < changes.len() {
                out.push_str(&format!(
                    "        ... and {} more changed fields (--format json lists them all)\n",
                    changes.len() - shown
                ));
            }
        }
    }
    if r.identical() {
        out.push_str("No differences.\n");
    }
    out.push_str(&summary_line(r, a, b));
    out.push('\n');
    out
}

fn json_report(r: &Report, a: &Side, b: &Side) -> Value {
    let servers = |list: &[(String, Vec<String>)]| -> Vec<Value> {
        list.iter()
            .map(|(n, vs)| json!({"name": n, "versions": vs}))
            .collect()
    };
    let keys = |list: &[Key]| -> Vec<Value> {
        list.iter()
            .map(|(n, v)| json!({"name": n, "version": v}))
            .collect()
    };
    let changed: Vec<Value> = r
        .versions_changed
        .iter()
        .map(|((n, v), changes)| {
            let changes: Vec<Value> = changes
                .iter()
                .map(|c| {
                    let mut m = Map::new();
                    m.insert("path".into(), Value::String(c.path.clone()));
                    if let Some(o) = &c.old {
                        m.insert("old".into(), o.clone());
                    }
                    if let Some(n) = &c.new {
                        m.insert("new".into(), n.clone());
                    }
                    Value::Object(m)
                })
                .collect();
            json!({"name": n, "version": v, "changes": changes})
        })
        .collect();
    json!({
        "a": a.origin,
        "b": b.origin,
        "identical": r.identical(),
        "servers": {
            "added": servers(&r.servers_added),
            "removed": servers(&r.servers_removed),
            "changed": r.servers_changed,
        },
        "versions": {
            "added": keys(&r.versions_added),
            "removed": keys(&r.versions_removed),
            "changed": changed,
        },
        "summary": {
            "serversAdded": r.servers_added.len(),
            "serversRemoved": r.servers_removed.len(),
            "serversChanged": r.servers_changed.len(),
            "versionsAdded": r.versions_added.len(),
            "versionsRemoved": r.versions_removed.len(),
            "versionsChanged": r.versions_changed.len(),
            "a": {"servers": a.names().len(), "versions": a.versions.len()},
            "b": {"servers": b.names().len(), "versions": b.versions.len()},
        },
    })
}

pub async fn run(a: DiffArgs) -> anyhow::Result<i32> {
    let api = ApiOptions {
        updated_since: None,
        all_versions: !a.latest_only,
        include_deleted: a.include_deleted,
    };
    let (la, lb) = futures::join!(input::load(&a.a, &api), input::load(&a.b, &api));
    let (la, lb) = match (la, lb) {
        (Ok(x), Ok(y)) => (x, y),
        (Err(e), _) | (_, Err(e)) => {
            thv_core::errln!("Error: {e:#}");
            return Ok(2);
        }
    };
    let (sa, sb) = (Side::from_loaded(la), Side::from_loaded(lb));
    let report = compare(&sa, &sb);
    match a.format {
        DiffFormat::Text => thv_core::out!("{}", text_report(&report, &sa, &sb, a.max_fields)),
        DiffFormat::Json => thv_core::outln!(
            "{}",
            serde_json::to_string_pretty(&json_report(&report, &sa, &sb))?
        ),
    }
    Ok(if report.identical() { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_json_paths() {
        let a = json!({"name": "x", "packages": [{"identifier": "a", "args": [1, 2]}],
                       "_meta": {"io.x/y": {"k": 1}}, "gone": true});
        let b = json!({"name": "x", "packages": [{"identifier": "b", "args": [1]}],
                       "_meta": {"io.x/y": {"k": 2}}, "new": "v"});
        let paths: Vec<String> = json_changes(&a, &b).into_iter().map(|c| c.path).collect();
        assert_eq!(
            paths,
            [
                r#"_meta["io.x/y"].k"#,
                "gone",
                "new",
                "packages[0].args[1]",
                "packages[0].identifier"
            ]
        );
        assert!(json_changes(&a, &a).is_empty());
        assert_eq!(short(Some(&json!("abcdefghij")), 6), "\"abcd…");
        assert_eq!(short(None, 6), "(absent)");
    }
}
