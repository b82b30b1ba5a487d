//! Certification path validation (RFC 5280 §6, by `rustls-webpki`) of a signing certificate at a verified time:
//! it must chain to one of the trusted root's certificate authorities whose `validFor` covers that time, every
//! certificate on the path valid then (the "hybrid model" of the Sigstore client specification §4.3), with the
//! code-signing extended key usage; then the Sigstore certificate profile: the digitalSignature key usage.
//! Certificates a bundle carries besides its leaf are not trusted (intermediates come from the trusted root).
//!
//! Timestamp authorities' signing certificates are validated the same way against the authority's chain, with
//! the timeStamping extended key usage.

use chrono::{DateTime, Utc};
use rustls_pki_types::{CertificateDer, UnixTime};
use thiserror::Error;
use webpki::{EndEntityCert, KeyUsage};
use x509_cert::Certificate;
use x509_cert::der::Decode;
use x509_cert::ext::pkix::KeyUsage as X509KeyUsage;

use crate::signature::trust::{CertificateAuthority, TrustedRoot};

/// id-kp-codeSigning (1.3.6.1.5.5.7.3.3), DER content.
const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
/// id-kp-timeStamping (1.3.6.1.5.5.7.3.8), DER content.
const TIME_STAMPING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];

/// Why a certificate was refused.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ChainError {
    #[error("the certificate does not parse: {0}")]
    Malformed(String),
    #[error("the trusted root lists no certificate authority")]
    NoAuthorities,
    #[error(
        "the certificate does not chain, at {time}, to a certificate authority of the trusted root valid then: {reasons}"
    )]
    Untrusted { time: String, reasons: String },
    #[error("the certificate's key usage does not include digitalSignature")]
    KeyUsage,
}

/// Why a certificate has no path to one authority (one of the reasons of [`ChainError::Untrusted`]).
#[derive(Debug, Error)]
enum PathError {
    #[error("the authority has no certificate")]
    NoCertificate,
    #[error("its root: {0}")]
    Root(webpki::Error),
    #[error("{0:?}")]
    Path(webpki::Error),
}

/// A certificate validated up to an authority: the authority, and the certificate that issued it (for its SCT).
#[derive(Debug, Clone)]
pub struct ValidatedChain<'a> {
    pub authority: &'a CertificateAuthority,
    pub issuer_der: Vec<u8>,
}

fn unix(time: DateTime<Utc>) -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(time.timestamp()).unwrap_or_default(),
    ))
}

/// `cert` validated against `authority`'s chain (leaf first, root last) at `time` for `usage`; also trying
/// `extra` untrusted intermediates. The issuer of `cert` on the path found.
fn against(
    cert: &[u8],
    authority: &CertificateAuthority,
    extra: &[Vec<u8>],
    time: DateTime<Utc>,
    usage: &'static [u8],
) -> Result<Vec<u8>, PathError> {
    let root = authority.certs.last().ok_or(PathError::NoCertificate)?;
    let root_der = CertificateDer::from(root.as_slice());
    let anchor = webpki::anchor_from_trusted_cert(&root_der).map_err(PathError::Root)?;
    let intermediates: Vec<CertificateDer<'_>> = authority.certs[..authority.certs.len() - 1]
        .iter()
        .chain(extra.iter())
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    let leaf = CertificateDer::from(cert);
    let ee = EndEntityCert::try_from(&leaf).map_err(PathError::Path)?;
    let anchors = [anchor];
    let path = ee
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &intermediates,
            unix(time),
            KeyUsage::required(usage),
            None,
            None,
        )
        .map_err(PathError::Path)?;
    Ok(match path.intermediate_certificates().next() {
        Some(issuer) => issuer.der().to_vec(),
        None => root.clone(),
    })
}

/// Validates a signing certificate (see the module documentation).
pub fn verify_signing_certificate<'a>(
    leaf: &[u8],
    trust: &'a TrustedRoot,
    time: DateTime<Utc>,
) -> Result<ValidatedChain<'a>, ChainError> {
    if trust.certificate_authorities.is_empty() {
        return Err(ChainError::NoAuthorities);
    }
    let mut reasons = Vec::new();
    for authority in &trust.certificate_authorities {
        if let Some(range) = authority.valid
            && !range.contains(time)
        {
            reasons.push(format!("{}: not valid then ({range})", authority.uri));
            continue;
        }
        match against(leaf, authority, &[], time, CODE_SIGNING) {
            Ok(issuer_der) => {
                check_profile(leaf)?;
                return Ok(ValidatedChain {
                    authority,
                    issuer_der,
                });
            }
            Err(e) => reasons.push(format!("{}: {e}", authority.uri)),
        }
    }
    Err(ChainError::Untrusted {
        time: time.to_rfc3339(),
        reasons: reasons.join("; "),
    })
}

/// The Sigstore profile beyond the path: a signing certificate's key usage includes digitalSignature.
fn check_profile(leaf: &[u8]) -> Result<(), ChainError> {
    let cert = Certificate::from_der(leaf).map_err(|e| ChainError::Malformed(e.to_string()))?;
    let usage = cert
        .tbs_certificate()
        .get_extension::<X509KeyUsage>()
        .map_err(|e| ChainError::Malformed(e.to_string()))?;
    match usage {
        Some((_, ku)) if ku.digital_signature() => Ok(()),
        _ => Err(ChainError::KeyUsage),
    }
}

/// Validates a timestamp authority's signing certificate against the authority's chain at `time` (a
/// certificate the authority lists alone is trusted as it is, within its own validity).
pub fn verify_tsa_certificate(
    cert: &[u8],
    authority: &CertificateAuthority,
    embedded: &[Vec<u8>],
    time: DateTime<Utc>,
) -> Result<(), ChainError> {
    let untrusted = |reasons: String| ChainError::Untrusted {
        time: time.to_rfc3339(),
        reasons,
    };
    if authority.certs.len() == 1 && authority.certs[0] == cert {
        let c = Certificate::from_der(cert).map_err(|e| ChainError::Malformed(e.to_string()))?;
        let validity = c.tbs_certificate().validity();
        let secs = |t: x509_cert::time::Time| t.to_unix_duration().as_secs() as i64;
        let t = time.timestamp();
        return if secs(validity.not_before) <= t && t <= secs(validity.not_after) {
            Ok(())
        } else {
            Err(untrusted(
                "the authority's certificate is not valid then".into(),
            ))
        };
    }
    against(cert, authority, embedded, time, TIME_STAMPING)
        .map(|_| ())
        .map_err(|e| untrusted(e.to_string()))
}
