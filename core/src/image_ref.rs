//! OCI image references (`[registry[:port]/]path[:tag][@digest]`), parsed by the grammar of the distribution
//! project's `reference` package, so that a malformed reference is refused with the rule it breaks before any
//! engine call.
//!
//! - **registry**: the first `/`-separated component when it contains `.` or `:` or is `localhost` (a
//!   host name or an IP address, with an optional port); otherwise the reference is on Docker Hub
//!   (`docker.io`, and a one-component path gets `library/`);
//! - **path**: components of lowercase letters and digits, separated by `.`, `_`, `__` or one or more `-`;
//!   the whole reference is at most 255 characters;
//! - **tag**: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`; absent means `latest` unless a digest is given;
//! - **digest**: `algorithm:hex`, with `sha256` requiring 64 lowercase hex digits.

use std::fmt;

/// Longest reference accepted (the distribution project's limit for the name).
pub const MAX_REFERENCE_LEN: usize = 255;

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// Registry host (and port), `docker.io` when the reference names none.
    pub registry: String,
    /// Repository path (`library/alpine`, `stacklok/toolhive/fetch`).
    pub repository: String,
    /// Tag, when given.
    pub tag: Option<String>,
    /// Digest (`sha256:…`), when given.
    pub digest: Option<String>,
}

/// Why a string is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageRefError {
    #[error("the image reference is empty")]
    Empty,
    /// Which part breaks which rule.
    #[error("'{reference}' is not a valid image reference: {reason}")]
    Invalid { reference: String, reason: String },
}

impl ImageRef {
    /// Parses a reference; the error says which part breaks which rule.
    pub fn parse(s: &str) -> Result<Self, ImageRefError> {
        let bad = |reason: String| ImageRefError::Invalid {
            reference: s.escape_debug().to_string(),
            reason,
        };
        if s.is_empty() {
            return Err(ImageRefError::Empty);
        }
        if s.len() > MAX_REFERENCE_LEN {
            return Err(bad(format!("longer than {MAX_REFERENCE_LEN} characters")));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(d)),
            None => (s, None),
        };
        if let Some(d) = digest {
            digest_error(d).map_or(Ok(()), |e| Err(bad(e)))?;
        }
        // A tag is after the last ':' that comes after the last '/'.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            tag_error(t).map_or(Ok(()), |e| Err(bad(e)))?;
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                host_error(first).map_or(Ok(()), |e| Err(bad(e)))?;
                (first.to_owned(), path.to_owned())
            }
            _ => ("docker.io".to_owned(), name.to_owned()),
        };
        if path.is_empty() {
            return Err(bad("the repository name is empty".into()));
        }
        for component in path.split('/') {
            if let Some(e) = component_error(component) {
                return Err(bad(e));
            }
        }
        let repository = if registry == "docker.io" && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        Ok(Self {
            registry,
            repository,
            tag: tag.map(str::to_owned),
            digest: digest.map(str::to_owned),
        })
    }

    /// Whether `s` names its registry explicitly (its first component is a host).
    pub fn has_explicit_registry(s: &str) -> bool {
        s.split_once('/').is_some_and(|(first, _)| {
            first.contains('.') || first.contains(':') || first == "localhost"
        })
    }

    /// Whether the reference is pinned: it has a digest.
    pub fn is_pinned(&self) -> bool {
        self.digest.is_some()
    }

    /// The tag, or `latest` when there is neither tag nor digest.
    pub fn effective_tag(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t),
            (None, None) => Some("latest"),
            (None, Some(_)) => None,
        }
    }
}

impl fmt::Display for ImageRef {
    /// The fully qualified form (`docker.io/library/alpine:latest`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = self.effective_tag() {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn component_error(c: &str) -> Option<String> {
    if c.is_empty() {
        return Some("a path component is empty (two '/' in a row, or a trailing '/')".into());
    }
    let alnum = |ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit();
    if let Some(ch) = c
        .chars()
        .find(|ch| !(alnum(*ch) || matches!(ch, '.' | '_' | '-')))
    {
        return Some(if ch.is_ascii_uppercase() {
            format!("the repository component '{c}' has an uppercase letter (names are lowercase)")
        } else {
            format!("the repository component '{c}' contains {ch:?}")
        });
    }
    if !c.starts_with(alnum) || !c.ends_with(alnum) {
        return Some(format!(
            "the repository component '{c}' must start and end with a lowercase letter or digit"
        ));
    }
    // Separators: '.', '_', '__' or runs of '-'; never two different separators in a row.
    let bytes = c.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !alnum(bytes[i] as char) {
            let start = i;
            while i < bytes.len() && !alnum(bytes[i] as char) {
                i += 1;
            }
            let sep = &c[start..i];
            let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
            if !ok {
                return Some(format!(
                    "the repository component '{c}' has the separator '{sep}' (allowed: '.', '_', '__' or dashes)"
                ));
            }
        } else {
            i += 1;
        }
    }
    None
}

fn tag_error(t: &str) -> Option<String> {
    let ok_first = t.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
    let ok_rest = t
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if t.is_empty() {
        Some("the tag after ':' is empty".into())
    } else if t.len() > 128 {
        Some("the tag is longer than 128 characters".into())
    } else if !ok_first || !ok_rest {
        Some(format!(
            "the tag '{}' must match [A-Za-z0-9_][A-Za-z0-9_.-]*",
            t.escape_debug()
        ))
    } else {
        None
    }
}

fn digest_error(d: &str) -> Option<String> {
    let Some((algo, hex)) = d.split_once(':') else {
        return Some(format!(
            "the digest '{}' is not algorithm:hex",
            d.escape_debug()
        ));
    };
    let algo_ok = !algo.is_empty()
        && algo.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '.' | '_' | '-')
        });
    if !algo_ok {
        return Some(format!(
            "the digest algorithm '{}' is malformed",
            algo.escape_debug()
        ));
    }
    let hex_ok = hex.len() >= 32
        && hex
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
    if !hex_ok || (algo == "sha256" && hex.len() != 64) {
        return Some(format!(
            "the digest '{}' needs lowercase hex digits (64 for sha256)",
            d.escape_debug()
        ));
    }
    None
}

fn host_error(h: &str) -> Option<String> {
    let (host, port) = if let Some(rest) = h.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, tail)) => {
                if v6.parse::<std::net::Ipv6Addr>().is_err() {
                    return Some(format!("the registry '{h}' is not a valid IPv6 address"));
                }
                (None, tail.strip_prefix(':'))
            }
            None => return Some(format!("the registry '{h}' has an unclosed '['")),
        }
    } else {
        match h.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(h), None),
        }
    };
    if let Some(p) = port
        && p.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Some(format!("the registry port '{p}' is not a port number"));
    }
    if let Some(host) = host {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !host.split('.').all(label_ok) {
            return Some(format!(
                "the registry host '{host}' is not a valid host name"
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_references() {
        let r = ImageRef::parse("alpine").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/alpine:latest");
        let r = ImageRef::parse("ghcr.io/stacklok/toolhive/fetch:0.0.3").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("ghcr.io", "stacklok/toolhive/fetch")
        );
        assert_eq!(r.tag.as_deref(), Some("0.0.3"));
        let r = ImageRef::parse("localhost:5000/a/b_c__d---e:v1.2-rc_3").unwrap();
        assert_eq!(r.registry, "localhost:5000");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = ImageRef::parse(&format!("mcp/fetch@{d}")).unwrap();
        assert!(r.is_pinned() && r.effective_tag().is_none());
        assert_eq!(r.to_string(), format!("docker.io/mcp/fetch@{d}"));
        assert!(ImageRef::parse("[::1]:5000/x").is_ok());
        assert!(ImageRef::has_explicit_registry("localhost/thv-test:latest"));
        assert!(!ImageRef::has_explicit_registry("mcp/fetch"));
    }

    #[test]
    fn malformed_references() {
        for (s, why) in [
            ("", "empty"),
            ("Alpine", "uppercase"),
            ("alpine:", "tag after ':' is empty"),
            ("alpine:-x", "must match"),
            ("a//b", "component is empty"),
            ("a/b/", "component is empty"),
            ("-a", "must start and end"),
            ("a_-b", "separator"),
            ("a b", "contains ' '"),
            ("a;rm -rf", "contains ';'"),
            ("x@sha256:abc", "64 for sha256"),
            ("x@nodigest", "algorithm:hex"),
            ("host.io:99999/x", "not a port"),
            ("bad_host.io/x", "not a valid host"),
        ] {
            let e = ImageRef::parse(s).unwrap_err().to_string();
            assert!(e.contains(why), "{s:?}: {e}");
        }
        assert!(ImageRef::parse(&"a".repeat(300)).is_err());
    }
}
