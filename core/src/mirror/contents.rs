//! The contents of a mirror bundle: what the mirror operator signs. Stored as its canonical JSON (RFC 8785), so
//! the signed bytes are the blob's bytes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CONTENTS_MEDIA_TYPE, MirrorError};
use crate::signature::keyless::ExpectedSigner;
use crate::signature::{self, Bundle, PublicKey, SigStoreKeyPair};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contents {
    /// [`CONTENTS_MEDIA_TYPE`].
    pub media_type: String,
    pub created: DateTime<Utc>,
    /// Where the entries were read (a registry API URL, a file).
    pub source: String,
    pub selection: Selection,
    pub entries: Vec<EntryRecord>,
    pub images: Vec<ImageRecord>,
    /// A delta bundle: the bundle it was made against, whose blobs it does not hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Since>,
    /// The trust material carried for verifying the entries and images offline.
    #[serde(default, skip_serializing_if = "TrustRecord::is_empty")]
    pub trust: TrustRecord,
    /// Every blob of the layout but the contents and its signature, sorted by digest.
    pub blobs: Vec<BlobRecord>,
}

/// How the entries were chosen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Selection {
    pub names: Vec<String>,
    pub exclude: Vec<String>,
    pub latest_only: bool,
    /// `os/architecture` of the images taken from multi-platform indexes.
    pub platform: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryRecord {
    pub name: String,
    pub version: String,
    /// The server.json layer.
    pub digest: String,
    /// The images it references, as it names them.
    pub images: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRecord {
    /// As the entry names it.
    pub reference: String,
    /// `REGISTRY/REPOSITORY`.
    pub repository: String,
    /// The manifest (or index) carried.
    pub digest: String,
    pub media_type: String,
    /// cosign's signature manifest (`sha256-<hex>.sig`), when the image has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Its OCI referrers (attestations, sigstore bundles).
    #[serde(default)]
    pub referrers: Vec<String>,
    /// A package entry's image, built by the mirror operator (no registry holds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<PackageRecord>,
}

/// What a package image was built from, as its entry names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageRecord {
    /// `npm` or `pypi`.
    pub registry_type: String,
    pub identifier: String,
    pub version: String,
    /// The package files' hashes as the index gives them (npm: the tarball's `dist.integrity`; PyPI: each
    /// file's `sha256:<hex> <filename>`).
    pub files: Vec<String>,
    /// The base image it was built on.
    pub base_image: String,
}

/// The bundle a delta was made against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Since {
    pub created: DateTime<Utc>,
    pub source: String,
    /// Its contents blob's digest.
    pub contents: String,
}

/// The trust material a bundle carries (the blobs of its trust artifact, [`super::TRUST_REF`]): what the
/// disconnected side verifies entries and images with, signed with the rest of the contents.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustRecord {
    /// Sigstore `trusted_root.json` documents, one per instance, for keyless signatures.
    #[serde(default)]
    pub trusted_roots: Vec<TrustFile>,
    /// Public keys (PEM) the entries may be signed with.
    #[serde(default)]
    pub entry_keys: Vec<TrustFile>,
    /// Keyless signers (certificate identity and OIDC issuer) the entries may be signed by.
    #[serde(default)]
    pub entry_signers: Vec<ExpectedSigner>,
    /// Public keys (PEM) the images may be signed with (cosign).
    #[serde(default)]
    pub image_keys: Vec<TrustFile>,
}

impl TrustRecord {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One file of trust material: the name it was given (its file name) and its blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustFile {
    pub name: String,
    pub digest: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BlobRecord {
    pub digest: String,
    pub size: u64,
}

impl Contents {
    pub fn new(source: String, selection: Selection) -> Self {
        Self {
            media_type: CONTENTS_MEDIA_TYPE.to_owned(),
            created: Utc::now(),
            source,
            selection,
            entries: Vec::new(),
            images: Vec::new(),
            since: None,
            trust: TrustRecord::default(),
            blobs: Vec::new(),
        }
    }

    /// The signed bytes (canonical JSON).
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, MirrorError> {
        let value = serde_json::to_value(self).map_err(|e| MirrorError::Invalid(e.to_string()))?;
        signature::canonical_bytes(&value).map_err(|e| MirrorError::Invalid(e.to_string()))
    }

    /// Signs the contents with the mirror operator's key.
    pub fn sign(&self, key: &SigStoreKeyPair) -> Result<Bundle, MirrorError> {
        let value = serde_json::to_value(self).map_err(|e| MirrorError::Invalid(e.to_string()))?;
        signature::sign_with_key(&value, key).map_err(|e| MirrorError::Invalid(e.to_string()))
    }

    /// Reads the stored contents: canonical JSON, signed by `key` (named `key_name` in errors).
    pub fn read_signed(
        bytes: &[u8],
        bundle: &Value,
        key: &PublicKey,
        key_name: &str,
    ) -> Result<Self, MirrorError> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| MirrorError::Invalid(format!("the contents are not JSON: {e}")))?;
        let canonical = signature::canonical_bytes(&value)
            .map_err(|e| MirrorError::Invalid(format!("the contents: {e}")))?;
        if canonical != bytes {
            return Err(MirrorError::Invalid(
                "the contents are not in canonical form (RFC 8785), so not what was signed".into(),
            ));
        }
        let b = signature::bundle_from_value(bundle)
            .map_err(|e| MirrorError::Invalid(format!("the contents' signature: {e}")))?;
        signature::verify_with_key(&value, &b, key, key_name).map_err(|e| {
            MirrorError::Invalid(format!("the contents' signature does not verify: {e}"))
        })?;
        let contents: Self = serde_json::from_value(value)
            .map_err(|e| MirrorError::Invalid(format!("the contents: {e}")))?;
        if contents.media_type != CONTENTS_MEDIA_TYPE {
            return Err(MirrorError::Invalid(format!(
                "the contents' mediaType is {}, not {CONTENTS_MEDIA_TYPE}",
                contents.media_type
            )));
        }
        Ok(contents)
    }
}
