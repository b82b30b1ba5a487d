//! OCI registries as `thv` and `thv-registry` read them: the credentials container tools stored ([`auth`]) and
//! the reads image verification and the air-gapped mirror need ([`distribution`]).

pub mod auth;
pub mod distribution;

pub use distribution::{CosignLayer, OciError, RawManifest, Registry};
pub use oci_client::Reference;
pub use oci_client::manifest::OciDescriptor;

use std::collections::BTreeMap;

use crate::image_ref::ImageRef;

/// How a mirror names an image's registry host in its repository paths: `HOST[:PORT]` with `:` made `-` (a
/// repository path holds no port). `mirror push` stores `ghcr.io/org/img` as `MIRROR/ghcr.io/org/img` and
/// `127.0.0.1:5000/img` as `MIRROR/127.0.0.1-5000/img`.
pub fn mirror_host_path(host: &str) -> String {
    host.replace(':', "-")
}

/// `image` as a mirror serves it: the first mapping (`[images] mirrors` in thv's configuration, e.g.
/// `"ghcr.io" = "mirror.site/ghcr.io"`) whose key is the image's `REGISTRY` or a path prefix of its
/// `REGISTRY/REPOSITORY` has that prefix replaced; tag and digest unchanged. `None` when no mapping applies.
pub fn mirrored(image: &str, mirrors: &BTreeMap<String, String>) -> Option<String> {
    let r = ImageRef::parse(image).ok()?;
    let full = format!("{}/{}", r.registry, r.repository);
    let (from, to) = mirrors
        .iter()
        .filter(|(from, _)| {
            let from = from.trim_end_matches('/');
            full == from || full.starts_with(&format!("{from}/"))
        })
        .max_by_key(|(from, _)| from.len())?;
    let rest = &full[from.trim_end_matches('/').len()..];
    let mut out = format!("{}{rest}", to.trim_end_matches('/'));
    if let Some(t) = &r.tag {
        out = format!("{out}:{t}");
    }
    if let Some(d) = &r.digest {
        out = format!("{out}@{d}");
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_mapped_to_their_mirror_by_the_longest_prefix() {
        let m: BTreeMap<String, String> = [
            ("ghcr.io", "mirror.site/ghcr.io"),
            ("ghcr.io/special", "other.site/x"),
            ("127.0.0.1:5000", "127.0.0.1:5001/site/127.0.0.1-5000"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
        let d = "sha256:".to_owned() + &"a".repeat(64);
        assert_eq!(
            mirrored(&format!("ghcr.io/org/img@{d}"), &m).unwrap(),
            format!("mirror.site/ghcr.io/org/img@{d}")
        );
        assert_eq!(
            mirrored("ghcr.io/special/img:1", &m).unwrap(),
            "other.site/x/img:1"
        );
        assert_eq!(
            mirrored("127.0.0.1:5000/t/mcp:1", &m).unwrap(),
            "127.0.0.1:5001/site/127.0.0.1-5000/t/mcp:1"
        );
        assert_eq!(mirrored("ghcr.iox/org/img:1", &m), None);
        assert_eq!(mirrored("docker.io/library/alpine", &m), None);
        assert_eq!(mirror_host_path("127.0.0.1:5000"), "127.0.0.1-5000");
    }
}
