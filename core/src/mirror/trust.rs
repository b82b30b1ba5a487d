//! What a bundle's entries and images are verified with on the disconnected side: the trust material it carries
//! (its contents' [`TrustRecord`], read from the layout) together with keys given there, and each image's
//! signatures as the bundle carries them.
//!
//! - an **entry** must be signed by one of the entry keys or keyless entry signers (checked against each carried
//!   trusted root) when any is carried or given;
//! - an **image** must be signed with one of the image keys (a cosign signature over its digest), or keyless
//!   matching the `provenance` its registry entry gives (against a carried trusted root), when either applies;
//!   an image whose entry names a provenance while no trusted root is carried cannot be verified (refused).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::MirrorError;
use super::contents::{Contents, ImageRecord, TrustFile, TrustRecord};
use super::layout::Layout;
use crate::oci::distribution::{BUNDLE_MEDIA_TYPE_PREFIX, CosignLayer, MAX_BLOB};
use crate::server::ServerJson;
use crate::signature::cosign::SIMPLE_SIGNING_MEDIA_TYPE;
use crate::signature::image::ImageSignatures;
use crate::signature::keyless::{ExpectedSigner, KeylessTrust};
use crate::signature::{PolicyMode, PublicKey, SignaturePolicy, Verdict, read_public_key};
use crate::toolhive::{Provenance, extensions_for};

/// The trust material read: carried by the bundle, and given on the command line.
#[derive(Default)]
pub struct TrustMaterial {
    /// Each carried `trusted_root.json`, by name.
    pub roots: Vec<(String, Arc<KeylessTrust>)>,
    pub entry_keys: Vec<(String, PublicKey)>,
    pub entry_signers: Vec<ExpectedSigner>,
    pub image_keys: Vec<(String, PublicKey)>,
}

/// What an entry's or an image's signature came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    /// Verified: how (the key's name, or the keyless signer).
    Verified(String),
    /// Nothing to verify it against: why.
    NotChecked(String),
}

impl std::fmt::Display for SignatureCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Verified(how) => write!(f, "signed by {how}"),
            Self::NotChecked(why) => write!(f, "signature not checked ({why})"),
        }
    }
}

impl TrustMaterial {
    /// The carried material of `record` (each blob's digest checked), then `extra_entry_keys` and
    /// `extra_image_keys` given beside the bundle.
    pub fn read(
        layout: &Layout,
        record: &TrustRecord,
        extra_entry_keys: &[(String, PublicKey)],
        extra_image_keys: &[(String, PublicKey)],
    ) -> Result<Self, MirrorError> {
        let mut m = Self::default();
        for f in &record.trusted_roots {
            let bytes = layout.read_blob(&f.digest)?;
            let root = KeylessTrust::from_json(&bytes).map_err(|e| {
                MirrorError::Invalid(format!("the carried trusted root {}: {e}", f.name))
            })?;
            m.roots.push((f.name.clone(), Arc::new(root)));
        }
        m.entry_keys = read_keys(layout, &record.entry_keys)?;
        m.entry_keys.extend(extra_entry_keys.iter().cloned());
        m.image_keys = read_keys(layout, &record.image_keys)?;
        m.image_keys.extend(extra_image_keys.iter().cloned());
        m.entry_signers = record.entry_signers.clone();
        Ok(m)
    }

    /// An entry's embedded signature against the entry keys and signers.
    pub async fn verify_entry(&self, doc: &Value) -> Result<SignatureCheck, Unverified> {
        if self.entry_keys.is_empty() && self.entry_signers.is_empty() {
            return Ok(SignatureCheck::NotChecked(
                "no entry key or signer is carried or given".into(),
            ));
        }
        let roots: Vec<Option<Arc<KeylessTrust>>> = if self.roots.is_empty() {
            vec![None]
        } else {
            self.roots.iter().map(|(_, r)| Some(r.clone())).collect()
        };
        let mut last = String::new();
        for root in roots {
            let policy = SignaturePolicy::from_trust(
                PolicyMode::Enforce,
                self.entry_keys.clone(),
                root,
                self.entry_signers.clone(),
            );
            match policy.evaluate(doc, None).await {
                Verdict::Verified { key } => return Ok(SignatureCheck::Verified(key)),
                Verdict::Failed(e) => last = e.to_string(),
                Verdict::NotChecked => {}
            }
        }
        Err(Unverified(vec![last]))
    }

    /// An image's signatures against the image keys, then the provenances its entries give (any of them).
    pub async fn verify_image(
        &self,
        signatures: &ImageSignatures,
        provenances: &[Provenance],
    ) -> Result<SignatureCheck, Unverified> {
        if self.image_keys.is_empty() && provenances.is_empty() {
            return Ok(SignatureCheck::NotChecked(
                "no image key is carried or given and its entry names no provenance".into(),
            ));
        }
        let mut failures = Vec::new();
        if !self.image_keys.is_empty() {
            match signatures.verify_keys(&self.image_keys) {
                Ok(key) => return Ok(SignatureCheck::Verified(format!("key {key}"))),
                Err(e) => failures.push(e.to_string()),
            }
        }
        if !provenances.is_empty() && self.roots.is_empty() {
            failures.push(
                "its entry names a provenance, but the bundle carries no trusted root to verify it against"
                    .into(),
            );
        }
        for p in provenances {
            for (name, root) in &self.roots {
                match signatures.verify_provenance(p, root).await {
                    Ok(signer) => {
                        return Ok(SignatureCheck::Verified(format!(
                            "{signer}, matching the entry's provenance (trusted root {name})"
                        )));
                    }
                    Err(e) => failures.push(e.to_string()),
                }
            }
        }
        failures.dedup();
        Err(Unverified(failures))
    }
}

/// Why a carried entry or image did not verify against the carried trust: each way tried, and why it failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("; and "))]
pub struct Unverified(pub Vec<String>);

fn read_keys(
    layout: &Layout,
    files: &[TrustFile],
) -> Result<Vec<(String, PublicKey)>, MirrorError> {
    files
        .iter()
        .map(|f| {
            let pem = layout.read_blob(&f.digest)?;
            let key = read_public_key(&pem)
                .map_err(|e| MirrorError::Invalid(format!("the carried key {}: {e}", f.name)))?;
            Ok((f.name.clone(), key))
        })
        .collect()
}

/// The provenances the entries referencing `image` give for it.
pub fn provenances(
    contents: &Contents,
    documents: &BTreeMap<String, Value>,
    image: &str,
) -> Vec<Provenance> {
    let mut out = Vec::new();
    for e in contents
        .entries
        .iter()
        .filter(|e| e.images.iter().any(|i| i == image))
    {
        let Some(doc) = documents.get(&e.digest) else {
            continue;
        };
        for (i, p) in image_provenances(doc) {
            if i == image && !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// The provenance a server.json gives for each OCI image it names (ToolHive's extension keyed by the image).
pub fn image_provenances(doc: &Value) -> Vec<(String, Provenance)> {
    let Ok(server) = serde_json::from_value::<ServerJson>(doc.clone()) else {
        return Vec::new();
    };
    super::oci_images(doc)
        .into_iter()
        .filter_map(|image| {
            let p = extensions_for(&server, &image).ok()??.provenance?;
            Some((image, p))
        })
        .collect()
}

/// An image's signatures as the layout carries them: the simple-signing layers of its signature manifest and
/// the sigstore bundles of its referrers. What cannot be read is kept as a reason.
pub fn image_signatures(layout: &Layout, image: &ImageRecord) -> ImageSignatures {
    let mut s = ImageSignatures::new(&image.digest);
    if let Some(sig) = &image.signature {
        match layers(layout, sig, |t| t == SIMPLE_SIGNING_MEDIA_TYPE) {
            Ok(found) => s.cosign = found,
            Err(e) => s.unreadable.push(e.to_string()),
        }
    }
    for r in &image.referrers {
        match layers(layout, r, |t| t.starts_with(BUNDLE_MEDIA_TYPE_PREFIX)) {
            Ok(found) => s.bundles.extend(found.into_iter().map(|l| l.payload)),
            Err(e) => s.unreadable.push(e.to_string()),
        }
    }
    s
}

/// The layers of manifest `digest` whose media type `wanted` accepts, read with their annotations.
fn layers(
    layout: &Layout,
    digest: &str,
    wanted: impl Fn(&str) -> bool,
) -> Result<Vec<CosignLayer>, MirrorError> {
    let manifest = layout.read_json(digest)?;
    let mut out = Vec::new();
    for layer in manifest["layers"].as_array().into_iter().flatten() {
        let media_type = layer["mediaType"].as_str().unwrap_or_default();
        if !wanted(media_type) || layer["size"].as_i64().is_none_or(|s| s > MAX_BLOB) {
            continue;
        }
        let Some(d) = layer["digest"].as_str() else {
            continue;
        };
        out.push(CosignLayer {
            payload: layout.read_blob(d)?,
            annotations: serde_json::from_value(layer["annotations"].clone()).unwrap_or_default(),
        });
    }
    Ok(out)
}
