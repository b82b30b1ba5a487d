//! Text-level edits of a JSONC file: insert, replace or remove one object member, leaving every other byte
//! (comments, trailing commas, key order, formatting) as it was.
//!
//! New text follows the file's layout: a member goes on its own line with the indentation of its siblings
//! (or, in an object written on one line, inline), values are pretty-printed with the file's indentation
//! unit, and a trailing comma is added only where the object already ends with one.

use std::ops::Range;

use serde_json::Value;

use super::jsonc::{Member, Object};

/// Replace `range` of the text by `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Edit {
    pub range: Range<usize>,
    pub text: String,
}

/// `text` with `edits` (non-overlapping; insertions at the same place keep their order) applied.
pub(crate) fn apply(text: &str, mut edits: Vec<Edit>) -> String {
    // From the end, so that earlier positions stay valid; ties: the later edit first, so it ends up after.
    edits.reverse();
    edits.sort_by_key(|e| std::cmp::Reverse(e.range.start));
    let mut out = text.to_owned();
    for e in edits {
        out.replace_range(e.range, &e.text);
    }
    out
}

/// The indentation unit of `text`: the leading whitespace of its first indented line, or two spaces.
pub(crate) fn indent_unit(text: &str) -> String {
    text.lines()
        .map(|l| &l[..l.len() - l.trim_start_matches([' ', '\t']).len()])
        .find(|ws| !ws.is_empty())
        .unwrap_or("  ")
        .to_owned()
}

/// The file's line break: `\r\n` if it uses them, else `\n`.
pub(crate) fn newline(text: &str) -> &'static str {
    if text.contains("\r\n") { "\r\n" } else { "\n" }
}

/// `value` pretty-printed with `unit`, continuation lines indented by `indent` (and ending in `nl`).
pub(crate) fn render(value: &Value, unit: &str, indent: &str, nl: &str) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(unit.as_bytes());
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    // Serializing a Value into memory cannot fail.
    let _ = serde::Serialize::serialize(value, &mut ser);
    String::from_utf8_lossy(&buf).replace('\n', &format!("{nl}{indent}"))
}

fn line_start(text: &str, pos: usize) -> usize {
    text[..pos].rfind('\n').map_or(0, |i| i + 1)
}

/// The whitespace before `pos` on its line, if only whitespace precedes it there.
fn indent_before(text: &str, pos: usize) -> Option<&str> {
    let ws = &text[line_start(text, pos)..pos];
    ws.chars().all(|c| c == ' ' || c == '\t').then_some(ws)
}

/// The leading whitespace of the line holding `pos`.
fn line_indent(text: &str, pos: usize) -> &str {
    let line = &text[line_start(text, pos)..];
    &line[..line.len() - line.trim_start_matches([' ', '\t']).len()]
}

/// After `pos`: past horizontal whitespace and a comment that ends the line (so that a new line goes after
/// the comment), or `pos` itself.
fn past_line_comment(text: &str, pos: usize) -> usize {
    let rest = &text[pos..];
    let ws = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    let after = &rest[ws..];
    if after.starts_with("//") {
        let end = after.find('\n').unwrap_or(after.len());
        let end = if after[..end].ends_with('\r') {
            end - 1
        } else {
            end
        };
        return pos + ws + end;
    }
    if let Some(body) = after.strip_prefix("/*")
        && let Some(end) = body.find("*/")
        && !body[..end].contains('\n')
    {
        let tail = &body[end + 2..];
        let tail_ws = tail.len() - tail.trim_start_matches([' ', '\t']).len();
        if tail[tail_ws..].starts_with('\n') || tail[tail_ws..].starts_with("\r\n") {
            return pos + ws + 2 + end + 2;
        }
    }
    pos
}

fn member_text(key: &str, value: &Value, unit: &str, indent: &str, nl: &str) -> String {
    let key = Value::String(key.to_owned());
    format!("{key}: {}", render(value, unit, indent, nl))
}

/// The edits that add the member `key: value` at the end of `obj`.
pub(crate) fn insert_member(
    text: &str,
    obj: &Object,
    key: &str,
    value: &Value,
    unit: &str,
) -> Vec<Edit> {
    let nl = newline(text);
    let obj_indent = line_indent(text, obj.open);
    let Some(last) = obj.members.last() else {
        let child = format!("{obj_indent}{unit}");
        let member = member_text(key, value, unit, &child, nl);
        let interior = obj.open + 1..obj.close;
        if text[interior.clone()].trim().is_empty() {
            return vec![Edit {
                range: interior,
                text: format!("{nl}{child}{member}{nl}{obj_indent}"),
            }];
        }
        let at = past_line_comment(text, obj.open + 1);
        return vec![Edit {
            range: at..at,
            text: format!("{nl}{child}{member}"),
        }];
    };
    let Some(child) = indent_before(text, last.key_start) else {
        // An object on one line: stay on it.
        let member = format!("{}: {value}", Value::String(key.to_owned()));
        return match last.comma {
            Some(c) => vec![Edit {
                range: c + 1..c + 1,
                text: format!(" {member},"),
            }],
            None => vec![Edit {
                range: last.value.end..last.value.end,
                text: format!(", {member}"),
            }],
        };
    };
    let member = member_text(key, value, unit, child, nl);
    match last.comma {
        Some(c) => {
            let at = past_line_comment(text, c + 1);
            vec![Edit {
                range: at..at,
                text: format!("{nl}{child}{member},"),
            }]
        }
        None => {
            let at = past_line_comment(text, last.value.end);
            vec![
                Edit {
                    range: last.value.end..last.value.end,
                    text: ",".to_owned(),
                },
                Edit {
                    range: at..at,
                    text: format!("{nl}{child}{member}"),
                },
            ]
        }
    }
}

/// The edit that replaces the value of `member` by `value`.
pub(crate) fn replace_value(text: &str, member: &Member, value: &Value, unit: &str) -> Edit {
    let new = match indent_before(text, member.key_start) {
        Some(indent) => render(value, unit, indent, newline(text)),
        None => value.to_string(),
    };
    Edit {
        range: member.value.start..member.value.end,
        text: new,
    }
}

/// The edits that remove `obj.members[index]`, with its line when it has one to itself.
pub(crate) fn remove_member(text: &str, obj: &Object, index: usize) -> Vec<Edit> {
    let member = &obj.members[index];
    let own_line = indent_before(text, member.key_start).is_some();
    // From the line break before the member (when it starts its line) ...
    let mut start = member.key_start;
    if own_line {
        let ls = line_start(text, member.key_start);
        if ls > 0 {
            start = ls - 1;
            if start > 0 && text.as_bytes()[start - 1] == b'\r' {
                start -= 1;
            }
        }
    }
    match member.comma {
        // ... to its comma and a comment that ends its line, or the spaces after the comma.
        Some(c) => {
            let end = if own_line {
                past_line_comment(text, c + 1)
            } else {
                let rest = &text[c + 1..];
                c + 1 + rest.len() - rest.trim_start_matches([' ', '\t']).len()
            };
            vec![Edit {
                range: start..end,
                text: String::new(),
            }]
        }
        // ... to its value; the last member without a comma takes the comma before it.
        None => {
            let end = if own_line {
                past_line_comment(text, member.value.end)
            } else {
                member.value.end
            };
            let mut edits = vec![Edit {
                range: start..end,
                text: String::new(),
            }];
            if let Some(prev) = index.checked_sub(1).map(|i| &obj.members[i])
                && let Some(c) = prev.comma
            {
                if own_line {
                    edits.push(Edit {
                        range: c..c + 1,
                        text: String::new(),
                    });
                } else {
                    // `"a": 1, "b": 2` → `"a": 1`: the comma and the spaces up to the member.
                    edits[0].range.start = c;
                }
            }
            edits
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::jsonc::parse;
    use serde_json::json;

    fn root(text: &str) -> Object {
        parse(text).unwrap().unwrap().object.unwrap()
    }

    fn insert(text: &str) -> String {
        let obj = root(text);
        apply(
            text,
            insert_member(text, &obj, "n", &json!({"url": "u"}), "  "),
        )
    }

    fn remove(text: &str, key: &str) -> String {
        let obj = root(text);
        let i = obj.members.iter().position(|m| m.key == key).unwrap();
        apply(text, remove_member(text, &obj, i))
    }

    #[test]
    fn inserts_in_the_file_layout() {
        assert_eq!(insert("{}"), "{\n  \"n\": {\n    \"url\": \"u\"\n  }\n}");
        assert_eq!(
            insert("{\n  \"a\": 1\n}"),
            "{\n  \"a\": 1,\n  \"n\": {\n    \"url\": \"u\"\n  }\n}"
        );
        assert_eq!(
            insert("{\n  \"a\": 1, // one\n}"),
            "{\n  \"a\": 1, // one\n  \"n\": {\n    \"url\": \"u\"\n  },\n}"
        );
        assert_eq!(
            insert("{\n  \"a\": 1 // one\n}"),
            "{\n  \"a\": 1, // one\n  \"n\": {\n    \"url\": \"u\"\n  }\n}"
        );
        assert_eq!(insert("{\"a\": 1}"), "{\"a\": 1, \"n\": {\"url\":\"u\"}}");
        assert_eq!(
            insert("{ // empty\n}"),
            "{ // empty\n  \"n\": {\n    \"url\": \"u\"\n  }\n}"
        );
    }

    #[test]
    fn removes_members_and_their_lines() {
        let text = "{\n  \"a\": 1, // one\n  \"b\": 2,\n  \"c\": 3 // three\n}";
        assert_eq!(remove(text, "a"), "{\n  \"b\": 2,\n  \"c\": 3 // three\n}");
        assert_eq!(
            remove(text, "b"),
            "{\n  \"a\": 1, // one\n  \"c\": 3 // three\n}"
        );
        assert_eq!(remove(text, "c"), "{\n  \"a\": 1, // one\n  \"b\": 2\n}");
        assert_eq!(remove("{\"a\": 1, \"b\": 2}", "a"), "{\"b\": 2}");
        assert_eq!(remove("{\"a\": 1, \"b\": 2}", "b"), "{\"a\": 1}");
        assert_eq!(remove("{\n  \"a\": 1\n}", "a"), "{\n}");
        assert_eq!(
            remove("{\r\n  \"a\": 1,\r\n  \"b\": 2\r\n}", "b"),
            "{\r\n  \"a\": 1\r\n}"
        );
        assert_eq!(
            insert("{\r\n  \"a\": 1 // one\r\n}"),
            "{\r\n  \"a\": 1, // one\r\n  \"n\": {\r\n    \"url\": \"u\"\r\n  }\r\n}"
        );
    }
}
