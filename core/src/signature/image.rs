//! A container image's signatures verified offline, wherever they were read from (the image's registry, a mirror
//! bundle, thv's store of a loaded bundle): cosign's simple-signing layers (the `sha256-<hex>.sig` tag) and the
//! sigstore bundles among the image's OCI referrers.
//!
//! - [`ImageSignatures::verify_keys`]: a cosign layer whose signature verifies with one of the keys, signing the
//!   image's digest;
//! - [`ImageSignatures::verify_provenance`]: a keyless signature (a cosign layer with a Fulcio certificate, or a
//!   referrer's sigstore bundle: an in-toto attestation or a message signature over the image digest) verified
//!   against the trusted root (certificate chain, SCT, signature, log entry) with the registry entry's
//!   `provenance` as the certificate policy ([`super::provenance`]); an attestation must also carry the
//!   provenance's predicate. One signature that passes is enough.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use sigstore::bundle::verify::ArtifactDigest;
use thiserror::Error;

use super::cosign::{keyless_layer_bundle, signed_image_digest, verify_key_layer};
use super::keyless::{KeylessTrust, verify_digest_with_policy};
use super::provenance::{CertificateSummary, ProvenanceError, ProvenancePolicy, check_attestation};
use super::tlog::Evidence;
use super::{Bundle, PublicKey, SignatureError, bundle_from_json};
use crate::oci::distribution::CosignLayer;
use crate::toolhive::Provenance;

/// Why no signature of an image verified.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ImageSignatureError {
    #[error(
        "not signed keyless: no cosign signature with a certificate at {tag} and no sigstore bundle among its \
         referrers"
    )]
    NotSignedKeyless { tag: String },
    #[error("no signature matches the registry entry's provenance: {}", .0.join("; "))]
    NoProvenanceMatch(Vec<String>),
    #[error("not signed: no cosign signature at {tag}")]
    NotSigned { tag: String },
    #[error("no cosign signature made with a key at {tag} (only keyless ones)")]
    OnlyKeyless { tag: String },
    #[error("no signature verifies with the trusted keys ({})", .0.join("; "))]
    NoKeyMatch(Vec<String>),
}

/// Why one keyless signature of an image was refused (another may still verify).
#[derive(Debug, Error)]
enum KeylessImageError {
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("signs {signed}, not {digest}")]
    OtherImage { signed: String, digest: String },
    #[error("{0} is not a sha256 digest")]
    NotSha256(String),
    #[error(transparent)]
    Provenance(#[from] ProvenanceError),
}

/// An image's signatures as read.
#[derive(Debug, Clone, Default)]
pub struct ImageSignatures {
    /// The image manifest's (or index's) digest, `sha256:…`.
    pub digest: String,
    /// cosign's simple-signing layers of the signature tag.
    pub cosign: Vec<CosignLayer>,
    /// The sigstore bundles (JSON) among the referrers.
    pub bundles: Vec<Vec<u8>>,
    /// What could not be read, for the refusal: another signature may still verify.
    pub unreadable: Vec<String>,
}

impl ImageSignatures {
    pub fn new(digest: &str) -> Self {
        Self {
            digest: digest.to_owned(),
            ..Self::default()
        }
    }

    /// cosign's signature tag of the digest (`sha256-<hex>.sig`).
    pub fn signature_tag(&self) -> String {
        format!("{}.sig", self.digest.replace(':', "-"))
    }

    /// The name of the key a cosign layer verifies with, over this digest.
    pub fn verify_keys(&self, keys: &[(String, PublicKey)]) -> Result<String, ImageSignatureError> {
        let mut refused = self.unreadable.clone();
        let mut any = false;
        let tag = self.signature_tag();
        for layer in &self.cosign {
            if layer
                .annotations
                .contains_key(super::cosign::CERTIFICATE_ANNOTATION)
            {
                continue;
            }
            any = true;
            for (name, key) in keys {
                match verify_key_layer(&layer.payload, &layer.annotations, key) {
                    Ok(signed) if signed == self.digest => return Ok(name.clone()),
                    Ok(signed) => {
                        refused.push(format!("{name}: a signature over another image ({signed})"))
                    }
                    Err(e) => refused.push(format!("{name}: {e}")),
                }
            }
        }
        if !any && refused.is_empty() {
            return Err(if self.cosign.is_empty() {
                ImageSignatureError::NotSigned { tag }
            } else {
                ImageSignatureError::OnlyKeyless { tag }
            });
        }
        refused.dedup();
        Err(ImageSignatureError::NoKeyMatch(refused))
    }

    /// The signer of the first keyless signature that satisfies `provenance` (a description for the user).
    pub async fn verify_provenance(
        &self,
        provenance: &Provenance,
        trust: &KeylessTrust,
    ) -> Result<String, ImageSignatureError> {
        let mut refused = self.unreadable.clone();
        for (i, layer) in self.cosign.iter().enumerate() {
            let what = format!("cosign signature {}", i + 1);
            match self.verify_layer(layer, provenance, trust).await {
                Ok(Some(signer)) => return Ok(format!("{what} by {signer}")),
                Ok(None) => {}
                Err(e) => refused.push(format!("{what}: {e}")),
            }
        }
        for (i, json) in self.bundles.iter().enumerate() {
            let what = format!("attestation {}", i + 1);
            match self.verify_bundle(json, provenance, trust).await {
                Ok(signer) => return Ok(format!("{what} by {signer}")),
                Err(e) => refused.push(format!("{what}: {e}")),
            }
        }
        if refused.is_empty() {
            return Err(ImageSignatureError::NotSignedKeyless {
                tag: self.signature_tag(),
            });
        }
        Err(ImageSignatureError::NoProvenanceMatch(refused))
    }

    /// A cosign layer: `Ok(None)` when it is not keyless (a key's signature).
    async fn verify_layer(
        &self,
        layer: &CosignLayer,
        provenance: &Provenance,
        trust: &KeylessTrust,
    ) -> Result<Option<String>, KeylessImageError> {
        let annotations: &BTreeMap<String, String> = &layer.annotations;
        let Some(bundle) = keyless_layer_bundle(&layer.payload, annotations)? else {
            return Ok(None);
        };
        let signed = signed_image_digest(&layer.payload)?;
        if signed != self.digest {
            return Err(KeylessImageError::OtherImage {
                signed,
                digest: self.digest.clone(),
            });
        }
        let payload_digest: [u8; 32] = Sha256::digest(&layer.payload).into();
        verify_digest_with_policy(
            ArtifactDigest::Sha256(payload_digest),
            &bundle,
            trust,
            &ProvenancePolicy(provenance),
            Evidence::InclusionProofOrTimestamp,
        )
        .await?;
        Ok(Some(signer(&bundle)))
    }

    /// A sigstore bundle among the referrers (an in-toto attestation or a message signature over the digest).
    async fn verify_bundle(
        &self,
        json: &[u8],
        provenance: &Provenance,
        trust: &KeylessTrust,
    ) -> Result<String, KeylessImageError> {
        let bundle = bundle_from_json(&String::from_utf8_lossy(json))?;
        let image_digest = self
            .digest
            .strip_prefix("sha256:")
            .and_then(|h| hex::decode(h).ok())
            .and_then(|v| <[u8; 32]>::try_from(v).ok())
            .ok_or_else(|| KeylessImageError::NotSha256(self.digest.clone()))?;
        verify_digest_with_policy(
            ArtifactDigest::Sha256(image_digest),
            &bundle,
            trust,
            &ProvenancePolicy(provenance),
            Evidence::InclusionProof,
        )
        .await?;
        check_attestation(provenance, &bundle)?;
        Ok(signer(&bundle))
    }
}

/// The signer identity and issuer of a verified bundle's certificate, for the user.
fn signer(bundle: &Bundle) -> String {
    CertificateSummary::from_bundle(bundle)
        .map(|s| {
            format!(
                "{} (issuer {})",
                s.subject_alternative_name.unwrap_or_default(),
                s.issuer.unwrap_or_default()
            )
        })
        .unwrap_or_else(|| "an unknown signer".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::generate_key_pair;
    use base64::Engine;

    fn payload(digest: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"critical": {"identity": {"docker-reference": "r/x"},
            "image": {"docker-manifest-digest": digest}, "type": "cosign container image signature"},
            "optional": null}))
        .unwrap()
    }

    fn key_layer(
        digest: &str,
        key: &sigstore::crypto::signing_key::SigStoreKeyPair,
    ) -> CosignLayer {
        let payload = payload(digest);
        let signer = key
            .to_sigstore_signer(&sigstore::crypto::SigningScheme::ECDSA_P256_SHA256_ASN1)
            .unwrap();
        let sig = signer.sign(&payload).unwrap();
        let mut annotations = BTreeMap::new();
        annotations.insert(
            super::super::cosign::SIGNATURE_ANNOTATION.to_owned(),
            base64::engine::general_purpose::STANDARD.encode(sig),
        );
        CosignLayer {
            payload,
            annotations,
        }
    }

    #[test]
    fn key_signatures() {
        let d = format!("sha256:{}", "a".repeat(64));
        let (k1, k2) = (generate_key_pair().unwrap(), generate_key_pair().unwrap());
        let pk = |k: &sigstore::crypto::signing_key::SigStoreKeyPair| {
            crate::signature::read_public_key(k.public_key_to_pem().unwrap().as_bytes()).unwrap()
        };
        let keys = vec![("one".to_owned(), pk(&k1)), ("two".to_owned(), pk(&k2))];
        let mut s = ImageSignatures::new(&d);
        assert_eq!(
            s.verify_keys(&keys),
            Err(ImageSignatureError::NotSigned {
                tag: format!("sha256-{}.sig", "a".repeat(64))
            })
        );
        s.cosign.push(key_layer(&d, &k2));
        assert_eq!(s.verify_keys(&keys).unwrap(), "two");
        assert!(matches!(
            s.verify_keys(&keys[..1]),
            Err(ImageSignatureError::NoKeyMatch(_))
        ));
        // A signature over another digest does not count.
        let mut other = ImageSignatures::new(&d);
        other
            .cosign
            .push(key_layer(&format!("sha256:{}", "b".repeat(64)), &k1));
        let e = other.verify_keys(&keys).unwrap_err().to_string();
        assert!(e.contains("a signature over another image"), "{e}");
    }
}
