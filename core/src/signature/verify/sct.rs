//! The signed certificate timestamps embedded in a Fulcio certificate (RFC 6962 §3.3, extension
//! 1.3.6.1.4.1.11129.2.4.2), verified offline against the trusted root's CT logs (RFC 6962 §3.2): the SCT signs
//! the precertificate entry — the issuer key hash (SHA-256 of the issuer's SubjectPublicKeyInfo, the issuer taken
//! from the validated chain, never looked up by name) and the certificate's TBSCertificate without the SCT list —
//! together with the SCT's own extensions, which are part of the signed data whatever they hold.
//!
//! An SCT list may hold SCTs of several logs; one from a log of the trusted root, issued within that log's
//! `validFor`, that verifies is enough. The TLS structures are read by hand (a few length-prefixed fields).

use chrono::DateTime;
use sha2::{Digest, Sha256};
use thiserror::Error;
use x509_cert::Certificate;
use x509_cert::der::asn1::{ObjectIdentifier, OctetString};
use x509_cert::der::{Any, Decode, Encode, Tag, TagNumber, Tagged};
use x509_cert::ext::Extension;

use crate::signature::keys::HashAlgorithm;
use crate::signature::trust::{TimeRange, TrustedRoot, UnusableKey};

const SCT_LIST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");

/// Why a certificate's SCTs were refused.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum SctError {
    #[error(
        "the certificate carries no signed certificate timestamp (it was not logged in a CT log)"
    )]
    Missing,
    #[error("the certificate's SCT list is malformed: {0}")]
    Malformed(String),
    #[error("no SCT of the certificate is from a CT log of the trusted root (log ids {0})")]
    UnknownLog(String),
    #[error("no SCT of the certificate verifies: {0}")]
    Invalid(String),
}

/// Why one SCT was refused (one of the reasons of [`SctError::Invalid`]).
#[derive(Debug, Error)]
enum SctRefusal {
    #[error("its key is unusable: {0}")]
    UnusableKey(UnusableKey),
    #[error("an SCT timestamp out of range")]
    TimestampOutOfRange,
    #[error("issued at {issued}, outside the log's validity ({range})")]
    OutsideValidity { issued: String, range: TimeRange },
    #[error("unsupported SCT hash algorithm {0}")]
    UnsupportedHash(u8),
    #[error("its signature does not verify with the log's key")]
    BadSignature,
}

/// One SCT (RFC 6962 §3.2 `SignedCertificateTimestamp`, version 1).
#[derive(Debug, Clone)]
struct Sct {
    log_id: Vec<u8>,
    timestamp_ms: u64,
    extensions: Vec<u8>,
    hash: u8,
    signature: Vec<u8>,
}

/// A length-prefixed TLS reader.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SctError> {
        if self.0.len() < n {
            return Err(SctError::Malformed("truncated".into()));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u16_len(&mut self) -> Result<usize, SctError> {
        let b = self.take(2)?;
        Ok(usize::from(u16::from_be_bytes([b[0], b[1]])))
    }

    fn vec16(&mut self) -> Result<&'a [u8], SctError> {
        let n = self.u16_len()?;
        self.take(n)
    }
}

fn parse_list(ext_value: &[u8]) -> Result<Vec<Sct>, SctError> {
    // The extension value is an OCTET STRING holding the TLS-encoded list.
    let list = OctetString::from_der(ext_value).map_err(|e| SctError::Malformed(e.to_string()))?;
    let mut outer = Reader(list.as_bytes());
    let mut items = Reader(outer.vec16()?);
    let mut out = Vec::new();
    while !items.0.is_empty() {
        let mut r = Reader(items.vec16()?);
        let version = r.take(1)?[0];
        if version != 0 {
            continue; // an SCT version this client does not know
        }
        let log_id = r.take(32)?.to_vec();
        let ts = r.take(8)?;
        let timestamp_ms = u64::from_be_bytes(ts.try_into().expect("8 bytes"));
        let extensions = r.vec16()?.to_vec();
        let alg = r.take(2)?;
        let signature = r.vec16()?.to_vec();
        out.push(Sct {
            log_id,
            timestamp_ms,
            extensions,
            hash: alg[0],
            signature,
        });
    }
    Ok(out)
}

/// The precertificate's TBSCertificate: the certificate's, without the SCT list extension. Worked on the DER
/// elements as they are (re-encoding a decoded TBSCertificate can change it, e.g. its time encodings).
fn precert_tbs(cert_der: &[u8]) -> Result<Vec<u8>, SctError> {
    let bad = |e: x509_cert::der::Error| SctError::Malformed(e.to_string());
    let extensions_tag = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber(3),
    };
    let fields = Vec::<Any>::from_der(cert_der).map_err(bad)?;
    let tbs = fields
        .first()
        .ok_or_else(|| SctError::Malformed("no TBSCertificate".into()))?;
    let mut tbs_fields: Vec<Any> = tbs.decode_as().map_err(bad)?;
    for field in tbs_fields.iter_mut().filter(|f| f.tag() == extensions_tag) {
        let exts: Vec<Extension> = Vec::<Extension>::from_der(field.value()).map_err(bad)?;
        let kept: Vec<Extension> = exts.into_iter().filter(|e| e.extn_id != SCT_LIST).collect();
        *field = Any::new(extensions_tag, kept.to_der().map_err(bad)?).map_err(bad)?;
    }
    tbs_fields.to_der().map_err(bad)
}

/// Verifies the certificate's embedded SCTs (see the module documentation); `issuer_der` is its issuer on the
/// validated chain.
pub fn verify(cert_der: &[u8], issuer_der: &[u8], trust: &TrustedRoot) -> Result<(), SctError> {
    let cert = Certificate::from_der(cert_der).map_err(|e| SctError::Malformed(e.to_string()))?;
    let ext = cert
        .tbs_certificate()
        .extensions()
        .and_then(|exts| exts.iter().find(|e| e.extn_id == SCT_LIST))
        .ok_or(SctError::Missing)?;
    let scts = parse_list(ext.extn_value.as_bytes())?;
    if scts.is_empty() {
        return Err(SctError::Missing);
    }
    let issuer =
        Certificate::from_der(issuer_der).map_err(|e| SctError::Malformed(e.to_string()))?;
    let issuer_spki = issuer
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| SctError::Malformed(e.to_string()))?;
    let issuer_key_hash = Sha256::digest(&issuer_spki);
    let tbs = precert_tbs(cert_der)?;
    let mut unknown = Vec::new();
    let mut failures = Vec::new();
    for sct in &scts {
        let Some(log) = trust.ctlog(&sct.log_id) else {
            unknown.push(hex::encode(&sct.log_id));
            continue;
        };
        match check(sct, log, &issuer_key_hash, &tbs) {
            Ok(()) => return Ok(()),
            Err(e) => failures.push(format!("{}: {e}", log.base_url)),
        }
    }
    if failures.is_empty() {
        return Err(SctError::UnknownLog(unknown.join(", ")));
    }
    Err(SctError::Invalid(failures.join("; ")))
}

fn check(
    sct: &Sct,
    log: &crate::signature::trust::TransparencyLog,
    issuer_key_hash: &[u8],
    tbs: &[u8],
) -> Result<(), SctRefusal> {
    let key = log
        .key
        .as_ref()
        .map_err(|e| SctRefusal::UnusableKey(e.clone()))?;
    let issued =
        DateTime::from_timestamp_millis(i64::try_from(sct.timestamp_ms).unwrap_or(i64::MAX))
            .ok_or(SctRefusal::TimestampOutOfRange)?;
    if let Some(range) = log.valid
        && !range.contains(issued)
    {
        return Err(SctRefusal::OutsideValidity {
            issued: issued.to_rfc3339(),
            range,
        });
    }
    let hash = match sct.hash {
        4 => HashAlgorithm::Sha256,
        5 => HashAlgorithm::Sha384,
        6 => HashAlgorithm::Sha512,
        other => return Err(SctRefusal::UnsupportedHash(other)),
    };
    let n = tbs.len();
    let mut signed = vec![0u8, 0u8]; // v1, certificate_timestamp
    signed.extend(sct.timestamp_ms.to_be_bytes());
    signed.extend([0u8, 1u8]); // precert_entry
    signed.extend_from_slice(issuer_key_hash);
    signed.extend([(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    signed.extend_from_slice(tbs);
    signed.extend((sct.extensions.len() as u16).to_be_bytes());
    signed.extend_from_slice(&sct.extensions);
    key.verify(&signed, &sct.signature, hash)
        .map_err(|_| SctRefusal::BadSignature)
}

/// The certificate's SCT log ids (for messages).
#[cfg(test)]
fn log_ids(cert_der: &[u8]) -> Vec<String> {
    let Ok(cert) = Certificate::from_der(cert_der) else {
        return Vec::new();
    };
    cert.tbs_certificate()
        .extensions()
        .and_then(|exts| exts.iter().find(|e| e.extn_id == SCT_LIST))
        .and_then(|e| parse_list(e.extn_value.as_bytes()).ok())
        .unwrap_or_default()
        .iter()
        .map(|s| hex::encode(&s.log_id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A public-good Fulcio certificate (of the npm fixture): its SCT is from the trusted CT log `ctfe 2022`.
    #[test]
    fn a_real_fulcio_certificate_sct_verifies() {
        let bundle: serde_json::Value = serde_json::from_str(include_str!(
            "../../../tests/data/sigstore/npm_slsa_bundle_v03.json"
        ))
        .unwrap();
        let b64 = |v: &serde_json::Value| {
            base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD,
                v.as_str().unwrap(),
            )
            .unwrap()
        };
        let leaf = b64(&bundle["verificationMaterial"]["certificate"]["rawBytes"]);
        let trust =
            TrustedRoot::from_json(crate::signature::keyless::PUBLIC_GOOD_TRUSTED_ROOT.as_bytes())
                .unwrap();
        let intermediate = &trust.certificate_authorities[1].certs[0];
        assert_eq!(log_ids(&leaf).len(), 1);
        verify(&leaf, intermediate, &trust).unwrap();
        // The root is not the issuer: its key hash differs and the SCT does not verify.
        let root = trust.certificate_authorities[1].certs.last().unwrap();
        assert!(matches!(
            verify(&leaf, root, &trust),
            Err(SctError::Invalid(_))
        ));
    }
}
