//! JSON paths in the issue format (`packages[0].transport.url`), and a depth check that does not recurse.

use serde_json::{Map, Value};

use crate::server::{Input, ServerJson, Transport};

/// Appends a field to a path: `packages[0]` + `transport` → `packages[0].transport`. Keys that are not plain
/// identifiers (or that are all digits, which would read as an index) are quoted: `_meta["io.modelcontextprotocol.registry/publisher-provided"]`.
pub(crate) fn field(base: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '-'))
        && !key.chars().all(|c| c.is_ascii_digit());
    if plain {
        if base.is_empty() {
            key.to_string()
        } else {
            format!("{base}.{key}")
        }
    } else {
        let quoted = serde_json::to_string(key).unwrap_or_else(|_| format!("\"{key}\""));
        format!("{base}[{quoted}]")
    }
}

/// Appends an array index to a path: `packages` + 0 → `packages[0]`.
pub(crate) fn index(base: &str, i: usize) -> String {
    format!("{base}[{i}]")
}

/// Converts a JSON pointer (RFC 6901) into the issue path format. The document is walked alongside so that a
/// numeric segment becomes `[n]` only under an array (an object key `"0"` stays a key).
pub(crate) fn from_pointer(pointer: &str, doc: &Value) -> String {
    let mut out = String::new();
    let mut current = Some(doc);
    if pointer.is_empty() {
        return out;
    }
    for raw in pointer.strip_prefix('/').unwrap_or(pointer).split('/') {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        match current {
            Some(Value::Array(items)) => match segment.parse::<usize>() {
                Ok(i) => {
                    out = index(&out, i);
                    current = items.get(i);
                }
                Err(_) => {
                    out = field(&out, &segment);
                    current = None;
                }
            },
            Some(Value::Object(map)) => {
                out = field(&out, &segment);
                current = map.get(&segment);
            }
            _ => {
                out = match segment.parse::<usize>() {
                    Ok(i) => index(&out, i),
                    Err(_) => field(&out, &segment),
                };
                current = None;
            }
        }
    }
    out
}

/// True when `doc` nests arrays and objects more than `limit` levels deep. Iterative, so it is safe on any
/// value.
pub(crate) fn depth_exceeds(doc: &Value, limit: usize) -> bool {
    let mut stack: Vec<(&Value, usize)> = vec![(doc, 0)];
    while let Some((v, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        if depth + 1 > limit {
            return true;
        }
        stack.extend(children.map(|c| (c, depth + 1)));
    }
    false
}

/// True when any free-form JSON a typed document carries (unknown fields, `_meta`, variables) nests more than
/// `limit` levels deep.
pub(crate) fn server_too_deep(server: &ServerJson, limit: usize) -> bool {
    let map_deep = |m: &Map<String, Value>| m.values().any(|v| depth_exceeds(v, limit));
    let input_deep = |i: &Input| map_deep(&i.extra) || i.variables.as_ref().is_some_and(map_deep);
    let transport_deep = |t: &Transport| {
        map_deep(&t.extra)
            || t.variables.as_ref().is_some_and(map_deep)
            || t.headers.iter().flatten().any(|h| input_deep(&h.input))
    };
    map_deep(&server.extra)
        || server.meta.as_ref().is_some_and(map_deep)
        || server
            .repository
            .as_ref()
            .is_some_and(|r| map_deep(&r.extra))
        || server.icons.iter().flatten().any(|i| map_deep(&i.extra))
        || server.remotes.iter().flatten().any(transport_deep)
        || server.packages.iter().flatten().any(|p| {
            map_deep(&p.extra)
                || transport_deep(&p.transport)
                || p.environment_variables
                    .iter()
                    .flatten()
                    .any(|e| input_deep(&e.input))
                || p.runtime_arguments
                    .iter()
                    .chain(p.package_arguments.iter())
                    .flatten()
                    .any(|a| input_deep(&a.input))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_become_bracket_paths() {
        let doc = json!({"packages": [{"transport": {"url": 1}}], "remotes": [{"variables": {"0": {}}}],
            "_meta": {"a.b/c": {"x": [[1]]}}});
        assert_eq!(from_pointer("", &doc), "");
        assert_eq!(
            from_pointer("/packages/0/transport/url", &doc),
            "packages[0].transport.url"
        );
        assert_eq!(
            from_pointer("/remotes/0/variables/0", &doc),
            "remotes[0].variables[\"0\"]"
        );
        assert_eq!(
            from_pointer("/_meta/a.b~1c/x/0/0", &doc),
            "_meta[\"a.b/c\"].x[0][0]"
        );
        assert_eq!(from_pointer("/$schema", &doc), "$schema");
        assert_eq!(from_pointer("/missing/3", &doc), "missing[3]");
    }

    #[test]
    fn depth_is_measured_without_recursion() {
        assert!(!depth_exceeds(&json!(1), 0));
        assert!(!depth_exceeds(&json!([]), 1));
        assert!(depth_exceeds(&json!([[1]]), 1));
        assert!(!depth_exceeds(&json!({"a": [1]}), 2));
        assert!(depth_exceeds(&json!({"a": [[1]]}), 2));
    }
}
