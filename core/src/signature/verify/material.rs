//! What a sigstore bundle holds, checked for shape before anything is verified: its version (from the media type),
//! the signer's material (a certificate or a public key hint), the signed content (a message signature or a DSSE
//! envelope), its transparency log entries and signed timestamps.
//!
//! Media types: `application/vnd.dev.sigstore.bundle+json;version=0.1`, `…;version=0.2`, `…;version=0.3` and
//! `application/vnd.dev.sigstore.bundle.v0.3+json` (two spellings of 0.3). A certificate is the `certificate` of a
//! v0.3 bundle or the first of an `x509CertificateChain`; the chain's other certificates are not trusted (the
//! trusted root supplies intermediates), as the bundle specification allows; a chain holding a root (a self-issued
//! certificate) is refused, as the specification forbids it.

use sigstore_protobuf_specs::dev::sigstore::bundle::v1::{Bundle, bundle, verification_material};
use sigstore_protobuf_specs::dev::sigstore::common::v1::HashAlgorithm as ProtoHash;
use sigstore_protobuf_specs::dev::sigstore::rekor::v1::TransparencyLogEntry;

use x509_cert::der::Decode;

use super::VerifyError;
use crate::signature::keys::HashAlgorithm;

/// A bundle format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    V01,
    V02,
    V03,
}

/// The version a media type names.
pub fn version(media_type: &str) -> Result<Version, VerifyError> {
    match media_type {
        "application/vnd.dev.sigstore.bundle+json;version=0.1" => Ok(Version::V01),
        "application/vnd.dev.sigstore.bundle+json;version=0.2" => Ok(Version::V02),
        "application/vnd.dev.sigstore.bundle+json;version=0.3"
        | "application/vnd.dev.sigstore.bundle.v0.3+json" => Ok(Version::V03),
        other => Err(VerifyError::Bundle(format!(
            "unsupported bundle media type '{other}' (sigstore bundles 0.1 to 0.3)"
        ))),
    }
}

/// The signer's material.
pub enum SigningMaterial<'a> {
    /// The leaf certificate (DER).
    Certificate(&'a [u8]),
    /// A public key, named by its hint (may be empty).
    PublicKey { hint: &'a str },
}

/// The signed content.
pub enum Content<'a> {
    Message {
        /// The digest the bundle states, with its algorithm, if any.
        digest: Option<(HashAlgorithm, &'a [u8])>,
        signature: &'a [u8],
    },
    Dsse {
        payload_type: &'a str,
        payload: &'a [u8],
        signatures: Vec<&'a [u8]>,
    },
}

/// A bundle's parts.
pub struct Parts<'a> {
    pub version: Version,
    pub material: SigningMaterial<'a>,
    pub content: Content<'a>,
    pub entries: &'a [TransparencyLogEntry],
    pub timestamps: Vec<&'a [u8]>,
}

impl Parts<'_> {
    /// The signature bytes timestamps are made over (a DSSE envelope's one signature).
    pub fn signature(&self) -> Result<&[u8], VerifyError> {
        match &self.content {
            Content::Message { signature, .. } => Ok(signature),
            Content::Dsse { signatures, .. } => match signatures.as_slice() {
                [one] => Ok(one),
                more => Err(VerifyError::Bundle(format!(
                    "the DSSE envelope has {} signatures, expected one",
                    more.len()
                ))),
            },
        }
    }
}

/// The parts of a bundle (see the module documentation).
pub fn parts(b: &Bundle) -> Result<Parts<'_>, VerifyError> {
    let bad = |m: &str| VerifyError::Bundle(m.to_owned());
    let version = version(&b.media_type)?;
    let vm = b
        .verification_material
        .as_ref()
        .ok_or_else(|| bad("no verification material"))?;
    let material = match vm.content.as_ref() {
        Some(verification_material::Content::Certificate(c)) => {
            SigningMaterial::Certificate(&c.raw_bytes)
        }
        Some(verification_material::Content::X509CertificateChain(chain)) => {
            let leaf = chain
                .certificates
                .first()
                .ok_or_else(|| bad("an empty certificate chain"))?;
            // The bundle specification: the chain MUST NOT hold the root (the trusted root supplies it). A
            // self-issued certificate (subject = issuer) is a root (sigstore-conformance
            // `bundle-with-root-cert_fail`).
            for cert in &chain.certificates {
                let c = x509_cert::Certificate::from_der(&cert.raw_bytes)
                    .map_err(|e| bad(&format!("a certificate of the chain: {e}")))?;
                if c.tbs_certificate().subject() == c.tbs_certificate().issuer() {
                    return Err(bad(
                        "the certificate chain holds a root (self-issued) certificate",
                    ));
                }
            }
            SigningMaterial::Certificate(&leaf.raw_bytes)
        }
        Some(verification_material::Content::PublicKey(k)) => {
            SigningMaterial::PublicKey { hint: &k.hint }
        }
        None => {
            return Err(bad(
                "no certificate or public key in the verification material",
            ));
        }
    };
    let content = match b.content.as_ref() {
        Some(bundle::Content::MessageSignature(m)) => {
            let digest = match &m.message_digest {
                Some(d) => {
                    let alg = match ProtoHash::try_from(d.algorithm) {
                        Ok(ProtoHash::Sha2256) => HashAlgorithm::Sha256,
                        Ok(ProtoHash::Sha2384) => HashAlgorithm::Sha384,
                        Ok(ProtoHash::Sha2512) => HashAlgorithm::Sha512,
                        _ => {
                            return Err(VerifyError::Bundle(format!(
                                "unsupported message digest algorithm {}",
                                d.algorithm
                            )));
                        }
                    };
                    Some((alg, d.digest.as_slice()))
                }
                None => None,
            };
            if m.signature.is_empty() {
                return Err(bad("the message signature is empty"));
            }
            Content::Message {
                digest,
                signature: &m.signature,
            }
        }
        Some(bundle::Content::DsseEnvelope(e)) => Content::Dsse {
            payload_type: &e.payload_type,
            payload: &e.payload,
            signatures: e.signatures.iter().map(|s| s.sig.as_slice()).collect(),
        },
        None => return Err(bad("no message signature or DSSE envelope")),
    };
    let timestamps = vm
        .timestamp_verification_data
        .as_ref()
        .map(|t| {
            t.rfc3161_timestamps
                .iter()
                .map(|ts| ts.signed_timestamp.as_slice())
                .collect()
        })
        .unwrap_or_default();
    Ok(Parts {
        version,
        material,
        content,
        entries: &vm.tlog_entries,
        timestamps,
    })
}
