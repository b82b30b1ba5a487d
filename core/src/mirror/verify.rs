//! Verifying a mirror bundle, offline, before anything in it is used:
//!
//! 1. the contents artifact ([`super::MIRROR_REF`]): its manifest's digest is the one `index.json` gives, the
//!    contents are canonical JSON and signed by the mirror operator's key;
//! 2. every blob the contents list is there, with the listed size and SHA-256;
//! 3. nothing `index.json` reaches (manifests, their configs and layers, an index's carried manifests) is missing
//!    from the signed list: a blob added or swapped after signing is found;
//! 4. the entries artifact holds exactly the listed entries, each a server.json whose name and version are the
//!    record's; each entry's embedded signature verifies with the entry keys or signers the bundle carries or
//!    the verifier gives (any of them; none: not checked) — see [`super::trust`];
//! 5. `index.json` names exactly the images, signature manifests and referrers the contents list, each by the
//!    digest the contents give it ([`super::index`]), and the trust artifact holds the carried files; each
//!    image's carried signatures verify with the image keys (cosign, over its digest) or keyless against the
//!    provenance its entry gives and a carried trusted root (neither: not checked).
//!
//! Every failure is collected, so one run names them all.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::archive::Opened;
use super::contents::Contents;
use super::layout::Layout;
use super::trust::{SignatureCheck, TrustMaterial, image_signatures, provenances};
use super::{ENTRIES_REF, MIRROR_REF, MirrorError, REF_NAME, TRUST_REF};
use crate::oci::distribution::MANIFEST_MEDIA_TYPES;
use crate::signature::PublicKey;

/// The keys a bundle is verified with, given beside it.
pub struct Trust<'a> {
    /// The mirror operator's key, and how to name it.
    pub key: &'a PublicKey,
    pub key_name: &'a str,
    /// More publishers' keys the entries may be signed with (besides those the bundle carries).
    pub entry_keys: &'a [(String, PublicKey)],
    /// More keys the images may be signed with (cosign; besides those the bundle carries).
    pub image_keys: &'a [(String, PublicKey)],
}

#[derive(Debug, Clone)]
pub struct ImageReport {
    pub reference: String,
    pub signature: SignatureCheck,
}

#[derive(Debug, Clone)]
pub struct EntryReport {
    pub name: String,
    pub version: String,
    pub images: Vec<String>,
    pub signature: SignatureCheck,
}

/// A verified bundle: its contents and each entry's verdict.
#[derive(Debug)]
pub struct Report {
    pub contents: Contents,
    pub entries: Vec<EntryReport>,
    pub images: Vec<ImageReport>,
    /// Each entry's document, by layer digest (verified).
    pub documents: BTreeMap<String, Value>,
}

/// The key files a bundle is verified with (PEM public keys).
pub struct KeyFiles<'a> {
    /// The mirror operator's key.
    pub key: &'a Path,
    /// The bundle a delta bundle was made against (its blobs are read from there).
    pub base: Option<&'a Path>,
    pub entry_keys: &'a [PathBuf],
    pub image_keys: &'a [PathBuf],
}

/// Opens the bundle at `path` (a directory or `.tar`) and verifies it with the keys read from `keys`: the
/// opened bundle and the outcome (the report, or every failure found). An unreadable key or bundle is the
/// outer error.
pub async fn verify_files(
    path: &Path,
    keys: &KeyFiles<'_>,
) -> Result<(Opened, Result<Report, Vec<MirrorError>>), MirrorError> {
    let read = |p: &Path, flag: &str| -> Result<(String, PublicKey), MirrorError> {
        let key = crate::signature::read_public_key_file(p)
            .map_err(|e| MirrorError::Invalid(format!("{flag}: {e}")))?;
        Ok((p.display().to_string(), key))
    };
    let (key_name, key) = read(keys.key, "--key")?;
    let entry_keys = keys
        .entry_keys
        .iter()
        .map(|p| read(p, "--entry-key"))
        .collect::<Result<Vec<_>, _>>()?;
    let image_keys = keys
        .image_keys
        .iter()
        .map(|p| read(p, "--image-key"))
        .collect::<Result<Vec<_>, _>>()?;
    let opened = super::archive::open_with_base(path, keys.base)?;
    let trust = Trust {
        key: &key,
        key_name: &key_name,
        entry_keys: &entry_keys,
        image_keys: &image_keys,
    };
    let outcome = verify(&opened.layout, &trust).await;
    Ok((opened, outcome))
}

impl Report {
    /// The report for the user: a line per entry and per image, and a summary naming `bundle` and the key.
    pub fn lines(&self, bundle: &str, key_name: &str) -> Vec<String> {
        let mut out = Vec::new();
        for e in &self.entries {
            out.push(format!(
                "ok {}@{}: {}; images: {}",
                e.name,
                e.version,
                e.signature,
                if e.images.is_empty() {
                    "none".into()
                } else {
                    e.images.join(", ")
                }
            ));
        }
        for i in &self.images {
            out.push(format!("ok image {}: {}", i.reference, i.signature));
        }
        let c = &self.contents;
        out.push(format!(
            "verified {bundle}: {} entries, {} images, {} blobs; created {} from {}; contents signed with {key_name}",
            c.entries.len(),
            c.images.len(),
            c.blobs.len(),
            crate::api::format_timestamp(&c.created),
            c.source
        ));
        out
    }
}

/// Verifies the bundle; every failure found, or the report.
pub async fn verify(layout: &Layout, trust: &Trust<'_>) -> Result<Report, Vec<MirrorError>> {
    let index = layout.read_index().map_err(|e| vec![e])?;
    let descriptors = index["manifests"].as_array().cloned().unwrap_or_default();
    let named = |name: &str| {
        descriptors
            .iter()
            .find(|d| d["annotations"][REF_NAME] == name)
            .cloned()
    };
    let (contents, own) = read_contents(layout, named(MIRROR_REF), trust).map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    let listed: BTreeMap<&str, u64> = contents
        .blobs
        .iter()
        .map(|b| (b.digest.as_str(), b.size))
        .collect();
    for b in &contents.blobs {
        if let Err(e) = layout.check_blob(&b.digest, b.size) {
            errors.push(e);
        }
    }
    // Nothing unlisted travels with the bundle.
    let allowed: BTreeSet<String> = contents
        .blobs
        .iter()
        .map(|b| b.digest.clone())
        .chain(own)
        .collect();
    match layout.unlisted(&allowed) {
        Ok(extra) => errors.extend(extra.into_iter().map(|p| {
            MirrorError::Invalid(format!(
                "{}: not in the signed contents (a bundle holds only what is listed)",
                p.strip_prefix(layout.root()).unwrap_or(&p).display()
            ))
        })),
        Err(e) => errors.push(e),
    }
    if let Some(since) = contents
        .since
        .as_ref()
        .filter(|_| !errors.is_empty() && !layout.has_base())
    {
        errors.push(MirrorError::Invalid(format!(
            "this is a delta bundle: it holds only what the bundle created {} from {} lacks; give that bundle with --base",
            crate::api::format_timestamp(&since.created),
            since.source
        )));
    }
    let mut seen = BTreeSet::new();
    for d in descriptors
        .iter()
        .filter(|d| d["annotations"][REF_NAME] != MIRROR_REF)
    {
        reach(layout, d, &listed, &mut seen, &mut errors);
    }
    let material =
        match TrustMaterial::read(layout, &contents.trust, trust.entry_keys, trust.image_keys) {
            Ok(m) => m,
            Err(e) => {
                errors.push(e);
                return Err(errors);
            }
        };
    let (entries, documents) = check_entries(
        layout,
        named(ENTRIES_REF),
        &contents,
        &material,
        &mut errors,
    )
    .await;
    super::index::check(layout, &descriptors, &contents, &mut errors);
    super::index::check_trust_artifact(layout, named(TRUST_REF).as_ref(), &contents, &mut errors);
    let images =
        check_image_signatures(layout, &contents, &documents, &material, &mut errors).await;
    if errors.is_empty() {
        Ok(Report {
            contents,
            entries,
            images,
            documents,
        })
    } else {
        Err(errors)
    }
}

/// The signed contents, from the contents artifact.
fn read_contents(
    layout: &Layout,
    descriptor: Option<Value>,
    trust: &Trust,
) -> Result<(Contents, Vec<String>), MirrorError> {
    let d = descriptor.ok_or_else(|| {
        MirrorError::Invalid(format!(
            "index.json lists no {MIRROR_REF} artifact (the signed contents): not a mirror bundle"
        ))
    })?;
    let manifest = layout.read_json(digest_of(&d)?)?;
    let layers = manifest["layers"].as_array().cloned().unwrap_or_default();
    let [contents, signature] = layers.as_slice() else {
        return Err(MirrorError::Invalid(format!(
            "the {MIRROR_REF} artifact has {} layers, not the contents and their signature",
            layers.len()
        )));
    };
    let bytes = layout.read_blob(digest_of(contents)?)?;
    let bundle = layout.read_json(digest_of(signature)?)?;
    let own = [
        Some(&d),
        Some(contents),
        Some(signature),
        manifest.get("config"),
    ]
    .into_iter()
    .flatten()
    .filter_map(|x| x["digest"].as_str().map(str::to_owned))
    .collect();
    Ok((
        Contents::read_signed(&bytes, &bundle, trust.key, trust.key_name)?,
        own,
    ))
}

fn digest_of(descriptor: &Value) -> Result<&str, MirrorError> {
    descriptor["digest"]
        .as_str()
        .ok_or_else(|| MirrorError::Invalid(format!("a descriptor without a digest: {descriptor}")))
}

/// Checks that `d` and everything it reaches are listed; manifests are read (their digests checked).
fn reach(
    layout: &Layout,
    d: &Value,
    listed: &BTreeMap<&str, u64>,
    seen: &mut BTreeSet<String>,
    errors: &mut Vec<MirrorError>,
) {
    let Some(digest) = d["digest"].as_str() else {
        errors.push(MirrorError::Invalid(format!(
            "a descriptor without a digest: {d}"
        )));
        return;
    };
    if !seen.insert(digest.to_owned()) {
        return;
    }
    let Some(&size) = listed.get(digest) else {
        errors.push(MirrorError::Blob {
            digest: digest.to_owned(),
            reason: "reached from index.json but not in the signed contents".into(),
        });
        return;
    };
    if d["size"].as_u64() != Some(size) {
        errors.push(MirrorError::Blob {
            digest: digest.to_owned(),
            reason: format!(
                "a descriptor says {} bytes, the signed contents {size}",
                d["size"]
            ),
        });
    }
    let media_type = d["mediaType"].as_str().unwrap_or_default();
    if !is_manifest(media_type) {
        return;
    }
    let manifest = match layout.read_json(digest) {
        Ok(m) => m,
        Err(e) => {
            errors.push(e);
            return;
        }
    };
    if manifest["config"].is_object() {
        reach(layout, &manifest["config"], listed, seen, errors);
    }
    for layer in manifest["layers"].as_array().into_iter().flatten() {
        reach(layout, layer, listed, seen, errors);
    }
    // An index carries the manifests of the platforms taken; the others are not in the bundle.
    for child in manifest["manifests"].as_array().into_iter().flatten() {
        if child["digest"]
            .as_str()
            .is_some_and(|c| listed.contains_key(c))
        {
            reach(layout, child, listed, seen, errors);
        }
    }
}

/// Whether a descriptor's media type is a manifest or an index (one of [`MANIFEST_MEDIA_TYPES`]).
pub fn is_manifest(media_type: &str) -> bool {
    MANIFEST_MEDIA_TYPES.contains(&media_type)
}

/// The entries artifact against the records; each entry's signature with the entry keys and signers.
async fn check_entries(
    layout: &Layout,
    descriptor: Option<Value>,
    contents: &Contents,
    trust: &TrustMaterial,
    errors: &mut Vec<MirrorError>,
) -> (Vec<EntryReport>, BTreeMap<String, Value>) {
    let mut reports = Vec::new();
    let mut documents = BTreeMap::new();
    let Some(d) = descriptor else {
        errors.push(MirrorError::Invalid(format!(
            "index.json lists no {ENTRIES_REF} artifact"
        )));
        return (reports, documents);
    };
    let Ok(manifest) = digest_of(&d).and_then(|digest| layout.read_json(digest)) else {
        errors.push(MirrorError::Invalid(
            "the entries artifact cannot be read".into(),
        ));
        return (reports, documents);
    };
    let layers: BTreeSet<&str> = manifest["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["digest"].as_str())
        .collect();
    let records: BTreeSet<&str> = contents.entries.iter().map(|e| e.digest.as_str()).collect();
    for extra in layers.difference(&records) {
        errors.push(MirrorError::Invalid(format!(
            "the entries artifact holds {extra}, which the signed contents do not list as an entry"
        )));
    }
    for record in &contents.entries {
        let who = format!("entry {}@{}", record.name, record.version);
        if !layers.contains(record.digest.as_str()) {
            errors.push(MirrorError::Invalid(format!(
                "{who}: not in the entries artifact"
            )));
            continue;
        }
        let Ok(doc) = layout.read_json(&record.digest) else {
            errors.push(MirrorError::Invalid(format!(
                "{who}: its document cannot be read"
            )));
            continue;
        };
        if doc["name"] != record.name.as_str() || doc["version"] != record.version.as_str() {
            errors.push(MirrorError::Invalid(format!(
                "{who}: the document is {}@{}",
                doc["name"], doc["version"]
            )));
            continue;
        }
        let signature = match trust.verify_entry(&doc).await {
            Ok(check) => check,
            Err(reason) => {
                errors.push(MirrorError::Invalid(format!("{who}: {reason}")));
                continue;
            }
        };
        reports.push(EntryReport {
            name: record.name.clone(),
            version: record.version.clone(),
            images: record.images.clone(),
            signature,
        });
        documents.insert(record.digest.clone(), doc);
    }
    (reports, documents)
}

/// Each image's carried signatures against the image keys and its entries' provenances.
async fn check_image_signatures(
    layout: &Layout,
    contents: &Contents,
    documents: &BTreeMap<String, Value>,
    trust: &TrustMaterial,
    errors: &mut Vec<MirrorError>,
) -> Vec<ImageReport> {
    let mut reports = Vec::new();
    for image in &contents.images {
        if let Some(package) = &image.package {
            match package_matches(contents, documents, image, package) {
                Ok(check) => reports.push(ImageReport {
                    reference: image.reference.clone(),
                    signature: check,
                }),
                Err(mismatch) => errors.push(mismatch),
            }
            continue;
        }
        let signatures = image_signatures(layout, image);
        let provenances = provenances(contents, documents, &image.reference);
        match trust.verify_image(&signatures, &provenances).await {
            Ok(signature) => reports.push(ImageReport {
                reference: image.reference.clone(),
                signature,
            }),
            Err(reason) => errors.push(MirrorError::Invalid(format!(
                "image {}: {reason}",
                image.reference
            ))),
        }
    }
    reports
}

/// A package image (built by the mirror operator, so its integrity is the bundle's signature): every entry
/// that runs it names the same package and version.
fn package_matches(
    contents: &Contents,
    documents: &BTreeMap<String, Value>,
    image: &super::contents::ImageRecord,
    package: &super::contents::PackageRecord,
) -> Result<SignatureCheck, MirrorError> {
    for e in contents
        .entries
        .iter()
        .filter(|e| e.images.contains(&image.reference))
    {
        let Some(doc) = documents.get(&e.digest) else {
            continue;
        };
        let pkg = serde_json::from_value::<crate::server::ServerJson>(doc.clone())
            .ok()
            .and_then(|s| crate::runconfig::resolve::package_of(&s).ok().flatten());
        let same = pkg.as_ref().is_some_and(|p| {
            p.name == package.identifier
                && p.version.as_deref() == Some(package.version.as_str())
                && matches!(
                    (p.scheme, package.registry_type.as_str()),
                    (crate::runconfig::PackageScheme::Npx, "npm")
                        | (crate::runconfig::PackageScheme::Uvx, "pypi")
                )
        });
        if !same {
            return Err(MirrorError::PackageImageMismatch {
                image: image.reference.clone(),
                built_from: format!(
                    "{} {}@{}",
                    package.registry_type, package.identifier, package.version
                ),
                entry: format!("{}@{}", e.name, e.version),
                runs: pkg
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "no package".into()),
            });
        }
    }
    Ok(SignatureCheck::Verified(format!(
        "the mirror operator (built from {} {}@{} on {}, file {}; covered by the bundle's signature)",
        package.registry_type,
        package.identifier,
        package.version,
        package.base_image,
        package.files.join(", ")
    )))
}
