//! The names `index.json` gives (`org.opencontainers.image.ref.name`, what `skopeo inspect oci:DIR:NAME` and
//! `oras` read), derived from the signed contents alone, and the check that `index.json` holds exactly those:
//! every name once, each naming the digest the contents give it with the media type of that manifest — so that
//! a standard tool reading a verified bundle by name gets what was signed.
//!
//! | name | what |
//! |---|---|
//! | `REGISTRY/REPOSITORY@sha256:…` | an image (its manifest or index), or one of its referrers |
//! | `REGISTRY/REPOSITORY:sha256-<hex>.sig` | an image's cosign signature manifest |
//! | `localhost/thv-<scheme>-<name>:<version>` | a package entry's image, as thv names it |
//! | [`ENTRIES_REF`], [`TRUST_REF`] (when trust is carried), [`MIRROR_REF`] | the bundle's own artifacts |

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::contents::{Contents, ImageRecord};
use super::layout::Layout;
use super::{ENTRIES_REF, MIRROR_REF, MirrorError, REF_NAME, TRUST_REF};
use crate::oci::distribution::manifest_media_type;

/// The name of an image: by digest, or a package image by thv's name for it.
pub fn image_name(image: &ImageRecord) -> String {
    if image.package.is_some() {
        image.reference.clone()
    } else {
        format!("{}@{}", image.repository, image.digest)
    }
}

/// The name of an image's cosign signature manifest (its `.sig` tag in the repository).
pub fn signature_name(image: &ImageRecord) -> String {
    format!(
        "{}:{}.sig",
        image.repository,
        image.digest.replace(':', "-")
    )
}

/// The name of one of an image's referrers.
pub fn referrer_name(image: &ImageRecord, referrer: &str) -> String {
    format!("{}@{referrer}", image.repository)
}

/// Every name the contents give, with the digest it must name.
fn expected(contents: &Contents) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for image in &contents.images {
        names.insert(image_name(image), image.digest.clone());
        if let Some(sig) = &image.signature {
            names.insert(signature_name(image), sig.clone());
        }
        for r in &image.referrers {
            names.insert(referrer_name(image, r), r.clone());
        }
    }
    names
}

/// `index.json`'s descriptors against the contents (see the module documentation).
pub fn check(
    layout: &Layout,
    descriptors: &[Value],
    contents: &Contents,
    errors: &mut Vec<MirrorError>,
) {
    let expected = expected(contents);
    let mut seen = BTreeSet::new();
    let mut own = BTreeMap::<&str, usize>::new();
    for d in descriptors {
        let name = d["annotations"][REF_NAME].as_str().unwrap_or_default();
        let digest = d["digest"].as_str().unwrap_or_default();
        let invalid = |reason: String| MirrorError::Invalid(format!("index.json: {reason}"));
        if !seen.insert(name.to_owned()) {
            errors.push(invalid(format!("'{name}' is named twice")));
            continue;
        }
        if [MIRROR_REF, ENTRIES_REF, TRUST_REF].contains(&name) {
            *own.entry(name).or_default() += 1;
            continue;
        }
        match expected.get(name) {
            None => errors.push(invalid(format!(
                "'{name}' ({digest}) is not an image, signature or referrer of the signed contents"
            ))),
            Some(want) if want != digest => errors.push(invalid(format!(
                "'{name}' names {digest}, the signed contents {want}"
            ))),
            Some(_) => {
                let declared = d["mediaType"].as_str().unwrap_or_default();
                let actual = layout
                    .read_json(digest)
                    .ok()
                    .and_then(|m| manifest_media_type(&m));
                if let Some(actual) = actual.filter(|a| a != declared) {
                    errors.push(invalid(format!(
                        "'{name}' says {declared}, the manifest is {actual}"
                    )));
                }
            }
        }
    }
    for name in expected.keys().filter(|n| !seen.contains(*n)) {
        errors.push(MirrorError::Invalid(format!(
            "index.json does not name '{name}', which the signed contents list"
        )));
    }
    let trust = !contents.trust.is_empty();
    if trust != own.contains_key(TRUST_REF) {
        errors.push(MirrorError::Invalid(if trust {
            format!("index.json lists no {TRUST_REF} artifact, though the signed contents carry trust material")
        } else {
            format!("index.json lists a {TRUST_REF} artifact, though the signed contents carry no trust material")
        }));
    }
}

/// The trust artifact holds exactly the carried files the contents list.
pub fn check_trust_artifact(
    layout: &Layout,
    descriptor: Option<&Value>,
    contents: &Contents,
    errors: &mut Vec<MirrorError>,
) {
    let Some(d) = descriptor else { return };
    let t = &contents.trust;
    let want: BTreeSet<&str> = t
        .trusted_roots
        .iter()
        .chain(&t.entry_keys)
        .chain(&t.image_keys)
        .map(|f| f.digest.as_str())
        .collect();
    let manifest = d["digest"]
        .as_str()
        .and_then(|digest| layout.read_json(digest).ok());
    let have: BTreeSet<String> = manifest
        .iter()
        .flat_map(|m| m["layers"].as_array().cloned().unwrap_or_default())
        .filter_map(|l| l["digest"].as_str().map(str::to_owned))
        .collect();
    let have: BTreeSet<&str> = have.iter().map(String::as_str).collect();
    if want != have {
        errors.push(MirrorError::Invalid(format!(
            "the {TRUST_REF} artifact's layers are not the trust files the signed contents list"
        )));
    }
}
