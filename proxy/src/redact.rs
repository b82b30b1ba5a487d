//! Secret values kept out of what `thv` writes and shows: a [`Redactor`] replaces each known secret value by
//! `[redacted: secret NAME]`. The proxy process installs one for its workload's secrets ([`set_global`]), and
//! every line it logs goes through it ([`RedactingStderr`], the log writer of every `thv` process), and so do
//! its audit events ([`redacted`]); `thv logs` redacts the container's output with the values it can resolve.
//!
//! Values shorter than [`MIN_LEN`] characters are not redacted: replacing every `a` of a log would destroy it,
//! and such a value protects nothing.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, RwLock};

/// The shortest value redacted.
pub const MIN_LEN: usize = 4;

/// Replaces known secret values in text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// (value, replacement), longest value first (so that a value containing another is replaced whole).
    secrets: Vec<(String, String)>,
}

impl Redactor {
    /// From secret values by name. A value of several lines is also hidden line by line (logs are read and
    /// written a line at a time), and in its JSON-escaped form (audit events and structured logs quote it).
    pub fn new(values: &BTreeMap<String, String>) -> Self {
        let mut secrets: Vec<(String, String)> = Vec::new();
        for (name, value) in values {
            let replacement = format!("[redacted: secret {name}]");
            let escaped = serde_json::to_string(value).unwrap_or_default();
            let escaped = escaped.trim_matches('"').to_owned();
            let lines = value.lines().map(|l| l.trim_end_matches('\r').to_owned());
            for v in std::iter::once(value.clone()).chain([escaped]).chain(lines) {
                if v.chars().count() >= MIN_LEN && !secrets.iter().any(|(s, _)| *s == v) {
                    secrets.push((v, replacement.clone()));
                }
            }
        }
        secrets.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
        Self { secrets }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every known value replaced.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for (value, replacement) in &self.secrets {
            if out.contains(value.as_str()) {
                out = Cow::Owned(out.replace(value.as_str(), replacement));
            }
        }
        out
    }
}

static GLOBAL: RwLock<Option<Arc<Redactor>>> = RwLock::new(None);

/// Installs the redactor the log writer applies from now on.
pub fn set_global(redactor: Redactor) {
    *GLOBAL.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(redactor));
}

fn global() -> Option<Arc<Redactor>> {
    GLOBAL.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// `text` with the installed redactor's values hidden (what else this process writes: audit events).
pub fn redacted(text: &str) -> Cow<'_, str> {
    match global() {
        Some(r) => Cow::Owned(r.redact(text).into_owned()),
        None => Cow::Borrowed(text),
    }
}

/// The log writer (`tracing_subscriber`'s `MakeWriter`): each event is gathered whole, redacted with the
/// installed [`Redactor`], then written to stderr.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedactingStderr;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RedactingStderr {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter(Vec::new())
    }
}

/// One event's bytes, written (redacted) when dropped.
#[derive(Debug)]
pub struct EventWriter(Vec<u8>);

impl Write for EventWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        let bytes = std::mem::take(&mut self.0);
        let mut err = std::io::stderr().lock();
        // A log line that cannot be written (closed stderr) is dropped: logging never panics.
        let _ = match (global(), std::str::from_utf8(&bytes)) {
            (Some(r), Ok(text)) if !r.is_empty() => err.write_all(r.redact(text).as_bytes()),
            (Some(r), Err(_)) if !r.is_empty() => {
                err.write_all(r.redact(&String::from_utf8_lossy(&bytes)).as_bytes())
            }
            _ => err.write_all(&bytes),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_are_replaced() {
        let r = Redactor::new(&BTreeMap::from([
            ("gh".to_owned(), "ghp_s3cr3t".to_owned()),
            ("short".to_owned(), "abc".to_owned()),
            ("long".to_owned(), "ghp_s3cr3t-and-more".to_owned()),
        ]));
        assert_eq!(
            r.redact("token=ghp_s3cr3t, other=ghp_s3cr3t-and-more; abc"),
            "token=[redacted: secret gh], other=[redacted: secret long]; abc"
        );
        assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
        let pem = Redactor::new(&BTreeMap::from([(
            "key".to_owned(),
            "-----BEGIN KEY-----\nAAAAsecretline\n\"q\"uoted-part\n".to_owned(),
        )]));
        assert_eq!(
            pem.redact("got AAAAsecretline"),
            "got [redacted: secret key]"
        );
        assert_eq!(
            pem.redact(r#"{"v":"-----BEGIN KEY-----\nAAAAsecretline\n\"q\"uoted-part\n"}"#),
            r#"{"v":"[redacted: secret key]"}"#
        );
        assert!(Redactor::new(&BTreeMap::new()).is_empty());
    }
}
