//! What `GET /v1/sources` shows a reader who is not an administrator: every URL without its userinfo, query and
//! fragment (a presigned URL's token is in its query), each of the latter two replaced by `[REDACTED]`, and an
//! error only as its public reason ([`super::error::public_error`]).

use serde_json::Value;

/// What replaces a URL's query or fragment.
pub const REDACTED: &str = "[REDACTED]";

/// `text` with every URL in it (`scheme://...`, up to the next whitespace) stripped of its userinfo, and its
/// query and fragment replaced by [`REDACTED`].
pub fn redact_urls(text: &str) -> String {
    text.split_inclusive(char::is_whitespace)
        .map(|word| match word.find("://") {
            Some(at) => redact_word(word, at),
            None => word.to_string(),
        })
        .collect()
}

/// One word (with its trailing whitespace) holding `://` at `at`.
fn redact_word(word: &str, at: usize) -> String {
    let body = word.trim_end();
    let (scheme, after) = body.split_at(at + 3);
    let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(authority_end);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let cut = rest.find(['?', '#']).unwrap_or(rest.len());
    let (path, tail) = rest.split_at(cut);
    let mut out = format!("{scheme}{host}{path}");
    if tail.starts_with('?') {
        out.push_str(&format!("?{REDACTED}"));
    }
    if tail.contains('#') {
        out.push_str(&format!("#{REDACTED}"));
    }
    out.push_str(&word[body.len()..]);
    out
}

/// A sync report with [`redact_urls`] applied to every string in it.
pub fn redact_report(report: &Value) -> Value {
    match report {
        Value::String(s) => Value::String(redact_urls(s)),
        Value::Array(items) => Value::Array(items.iter().map(redact_report).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), redact_report(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urls_lose_userinfo_query_and_fragment() {
        for (text, shown) in [
            (
                "https://h.example/x?X-Amz-Signature=abc",
                "https://h.example/x?[REDACTED]",
            ),
            ("https://h/x#frag", "https://h/x#[REDACTED]"),
            ("https://h/x?a=1#f", "https://h/x?[REDACTED]#[REDACTED]"),
            ("https://bot:pw@h:8443/x", "https://h:8443/x"),
            ("https://h?k=v", "https://h?[REDACTED]"),
            (
                "GET http://h/p?t=s3cr3t: HTTP 500 (see http://docs/a)",
                "GET http://h/p?[REDACTED] HTTP 500 (see http://docs/a)",
            ),
            (
                "http://h/r.git (branch main) registry.json at 0123abc",
                "http://h/r.git (branch main) registry.json at 0123abc",
            ),
            ("/srv/registry.json", "/srv/registry.json"),
            ("git@h:org/r.git\tmain\n", "git@h:org/r.git\tmain\n"),
        ] {
            assert_eq!(redact_urls(text), shown, "{text}");
        }
        let report = json!({"origin": "https://h/f.json?sig=x", "skippedEntries": [{"reason": "see https://u:p@h/?a"}], "n": 1});
        assert_eq!(
            redact_report(&report),
            json!({"origin": "https://h/f.json?[REDACTED]", "skippedEntries": [{"reason": "see https://h/?[REDACTED]"}], "n": 1})
        );
    }
}
