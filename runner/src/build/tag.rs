//! Image names of package images: deterministic, so a package built once is found again.

use thv_core::runconfig::{PackageScheme, PackageSource};

/// The registry part of every package image: local only, never pushed.
pub const IMAGE_PREFIX: &str = "localhost/thv-";
/// The tag of an image whose version is not pinned (`go://module` without `@version`).
pub const UNPINNED_TAG: &str = "latest";
/// The tag of an image built from a local directory (`go://./dir`).
pub const LOCAL_TAG: &str = "local";

/// Longest repository part taken from a package name.
const MAX_NAME: usize = 100;
/// Longest tag (the engines' limit).
const MAX_TAG: usize = 128;

/// The image a package is built into: `localhost/thv-<scheme>-<name>:<version>`.
///
/// - the name is lowercased, every run of characters other than `a-z 0-9` becomes one `-`
///   (`@modelcontextprotocol/server-everything` → `modelcontextprotocol-server-everything`);
/// - the tag is the version, `+` becoming `_` and `~ !` becoming `-` (tags allow `A-Z a-z 0-9 _ . -`); without
///   a version it is [`UNPINNED_TAG`], and for a local directory [`LOCAL_TAG`].
///
/// `uvx://mcp-server-time@2025.9.25` → `localhost/thv-uvx-mcp-server-time:2025.9.25`.
pub fn image_tag(pkg: &PackageSource) -> String {
    let name = sanitize_name(&pkg.name);
    let tag = if is_local_path(pkg) {
        LOCAL_TAG.to_owned()
    } else {
        pkg.version
            .as_deref()
            .map(sanitize_version)
            .unwrap_or_else(|| UNPINNED_TAG.to_owned())
    };
    format!("{IMAGE_PREFIX}{}-{name}:{tag}", pkg.scheme)
}

/// Whether the package is a local directory (a go name starting with `.` or `/`: `go://./dir`, `go://../dir`,
/// `go://.`, `go:///abs/dir`), built from its files rather than fetched.
pub fn is_local_path(pkg: &PackageSource) -> bool {
    pkg.scheme == PackageScheme::Go && (pkg.name.starts_with('.') || pkg.name.starts_with('/'))
}

fn sanitize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(MAX_NAME);
    let out = out.trim_end_matches('-');
    if out.is_empty() {
        "package".to_owned()
    } else {
        out.to_owned()
    }
}

fn sanitize_version(version: &str) -> String {
    let mut out: String = version
        .chars()
        .map(|c| match c {
            c if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' => c,
            '+' => '_',
            _ => '-',
        })
        .collect();
    if out.starts_with(['.', '-']) {
        out.insert(0, 'v');
    }
    out.truncate(MAX_TAG);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(s: &str) -> PackageSource {
        PackageSource::parse(s).unwrap().unwrap()
    }

    #[test]
    fn tags() {
        assert_eq!(
            image_tag(&pkg("uvx://mcp-server-time@2025.9.25")),
            "localhost/thv-uvx-mcp-server-time:2025.9.25"
        );
        assert_eq!(
            image_tag(&pkg(
                "npx://@modelcontextprotocol/server-everything@2026.8.31"
            )),
            "localhost/thv-npx-modelcontextprotocol-server-everything:2026.8.31"
        );
        assert_eq!(
            image_tag(&pkg("go://github.com/Foo/Bar_baz@v1.2.3+meta")),
            "localhost/thv-go-github-com-foo-bar-baz:v1.2.3_meta"
        );
        assert_eq!(
            image_tag(&pkg("go://github.com/x/y")),
            "localhost/thv-go-github-com-x-y:latest"
        );
        assert_eq!(
            image_tag(&pkg("go://./cmd/server")),
            "localhost/thv-go-cmd-server:local"
        );
        assert_eq!(image_tag(&pkg("go://.")), "localhost/thv-go-package:local");
        assert_eq!(image_tag(&pkg("uvx://x@.1")), "localhost/thv-uvx-x:v.1");
        assert_eq!(
            image_tag(&pkg("uvx://x@1~rc!2")),
            "localhost/thv-uvx-x:1-rc-2"
        );
    }

    #[test]
    fn local_paths() {
        assert!(is_local_path(&pkg("go://./x")));
        assert!(is_local_path(&pkg("go://../x")));
        assert!(is_local_path(&pkg("go:///abs/x")));
        assert!(!is_local_path(&pkg("go://github.com/x/y")));
        // Only Go builds local directories: an npm "name" that is a path is no package at all.
        assert!(PackageSource::parse("npx://./x").is_err());
    }
}
