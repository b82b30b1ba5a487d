//! RFC 3161 signed timestamps (a bundle's `timestampVerificationData.rfc3161Timestamps`), verified against the
//! trusted root's timestamp authorities:
//!
//! 1. the value is a `TimeStampResp` (status granted) or a bare `TimeStampToken`: a CMS `SignedData` whose
//!    encapsulated content is a `TSTInfo` (RFC 5652, parsed with the `cms` crate);
//! 2. the `TSTInfo`'s message imprint is the hash of the bundle's signature bytes (the timestamped data, per the
//!    Sigstore client specification §2.1.5);
//! 3. its one `SignerInfo` carries the `contentType` (id-ct-TSTInfo) and `messageDigest` (the `TSTInfo`'s digest)
//!    signed attributes, and its signature over them verifies with the signing certificate — the one its `sid`
//!    names, embedded in the token or the authority's own;
//! 4. that certificate chains, at `genTime`, to the authority's root with the timeStamping extended key usage;
//! 5. `genTime` lies within that same authority's `validFor` (the authority that authenticated the timestamp, not
//!    another one whose range happens to cover it).
//!
//! The first authority for which all of this holds gives the verified time.

use chrono::{DateTime, NaiveDateTime, Utc};
use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Any, Decode, Encode, Sequence, Tag, Tagged};
use thiserror::Error;
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::spki::AlgorithmIdentifierOwned;

use super::chain;
use crate::signature::keys::{HashAlgorithm, KeyError, certificate_key};
use crate::signature::trust::{CertificateAuthority, TimeRange, TrustedRoot};

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");

/// Why a signed timestamp was refused.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum TimestampError {
    #[error("not an RFC 3161 timestamp: {0}")]
    Malformed(String),
    #[error("the timestamp authority did not grant it (status {0})")]
    NotGranted(i64),
    #[error(
        "it timestamps other data: its message imprint is not the hash of the bundle's signature"
    )]
    Imprint,
    #[error("the trusted root lists no timestamp authority")]
    NoAuthorities,
    #[error("no timestamp authority of the trusted root verifies it: {0}")]
    Untrusted(String),
}

/// Why one authority does not vouch for a timestamp (one of the reasons of [`TimestampError::Untrusted`]).
#[derive(Debug, Error)]
enum AuthorityRefusal {
    #[error("no certificate (embedded or the authority's) is the signer's")]
    NoSignerCertificate,
    #[error("{0}")]
    Encoding(der::Error),
    #[error(transparent)]
    Chain(chain::ChainError),
    #[error("the timestamp's signature: {0}")]
    Signature(KeyError),
    #[error("its time {time} is outside the authority's validity ({range})")]
    OutsideValidity { time: String, range: TimeRange },
}

/// A verified timestamp: when, and which authority (its URI) vouches for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTimestamp {
    pub time: DateTime<Utc>,
    pub authority: String,
}

/// `MessageImprint ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, hashedMessage OCTET STRING }`.
#[derive(Sequence)]
struct MessageImprint {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: OctetString,
}

fn malformed(e: impl std::fmt::Display) -> TimestampError {
    TimestampError::Malformed(e.to_string())
}

/// The token of a `TimeStampResp` (or the bytes themselves when they are a bare token).
fn token(bytes: &[u8]) -> Result<ContentInfo, TimestampError> {
    if let Ok(ci) = ContentInfo::from_der(bytes) {
        return Ok(ci);
    }
    let parts = Vec::<Any>::from_der(bytes).map_err(malformed)?;
    let status = parts
        .first()
        .ok_or_else(|| malformed("an empty TimeStampResp"))?
        .decode_as::<Vec<Any>>()
        .map_err(malformed)?;
    let code: i64 = status
        .first()
        .and_then(|s| s.decode_as::<i64>().ok())
        .ok_or_else(|| malformed("a TimeStampResp without its status"))?;
    if code != 0 && code != 1 {
        return Err(TimestampError::NotGranted(code));
    }
    parts
        .get(1)
        .ok_or_else(|| malformed("a granted TimeStampResp without its token"))?
        .decode_as::<ContentInfo>()
        .map_err(malformed)
}

/// `genTime` (a GeneralizedTime, fractional seconds allowed).
fn gen_time(any: &Any) -> Result<DateTime<Utc>, TimestampError> {
    if any.tag() != Tag::GeneralizedTime {
        return Err(malformed("TSTInfo.genTime is not a GeneralizedTime"));
    }
    let text = std::str::from_utf8(any.value()).map_err(malformed)?;
    let text = text
        .strip_suffix('Z')
        .ok_or_else(|| malformed("TSTInfo.genTime is not in UTC"))?;
    let (whole, _fraction) = text.split_once('.').unwrap_or((text, ""));
    NaiveDateTime::parse_from_str(whole, "%Y%m%d%H%M%S")
        .map(|t| t.and_utc())
        .map_err(|e| malformed(format!("TSTInfo.genTime: {e}")))
}

/// A decoded token: its signed data, the raw `TSTInfo`, its message imprint and time.
struct Token {
    signed: SignedData,
    tst_info: Vec<u8>,
    imprint: MessageImprint,
    time: DateTime<Utc>,
}

fn decode(bytes: &[u8]) -> Result<Token, TimestampError> {
    let ci = token(bytes)?;
    if ci.content_type != ID_SIGNED_DATA {
        return Err(malformed(format!(
            "content type {} is not SignedData",
            ci.content_type
        )));
    }
    let signed: SignedData = ci.content.decode_as().map_err(malformed)?;
    if signed.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return Err(malformed("the signed content is not a TSTInfo"));
    }
    let tst_info = signed
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| malformed("the token has no TSTInfo"))?
        .decode_as::<OctetString>()
        .map_err(malformed)?
        .into_bytes()
        .into_vec();
    // TSTInfo ::= SEQUENCE { version, policy, messageImprint, serialNumber, genTime, ... }
    let fields = Vec::<Any>::from_der(&tst_info).map_err(malformed)?;
    let (Some(imprint), Some(time)) = (fields.get(2), fields.get(4)) else {
        return Err(malformed("a TSTInfo without its message imprint or time"));
    };
    Ok(Token {
        imprint: imprint.decode_as().map_err(malformed)?,
        time: gen_time(time)?,
        signed,
        tst_info,
    })
}

/// Verifies one signed timestamp over `signature` (see the module documentation).
pub fn verify(
    bytes: &[u8],
    signature: &[u8],
    trust: &TrustedRoot,
) -> Result<VerifiedTimestamp, TimestampError> {
    let token = decode(bytes)?;
    let hash = HashAlgorithm::from_oid(&token.imprint.hash_algorithm.oid).ok_or_else(|| {
        malformed(format!(
            "unsupported message imprint algorithm {}",
            token.imprint.hash_algorithm.oid
        ))
    })?;
    if hash.digest(signature) != token.imprint.hashed_message.as_bytes() {
        return Err(TimestampError::Imprint);
    }
    let signer_infos = token.signed.signer_infos.0.as_slice();
    let [signer] = signer_infos else {
        return Err(malformed(format!(
            "{} signer infos, expected one",
            signer_infos.len()
        )));
    };
    let signed_attrs = signed_attributes(signer, &token.tst_info)?;
    let embedded: Vec<Certificate> = token
        .signed
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|c| match c {
            CertificateChoices::Certificate(c) => Some(c.clone()),
            CertificateChoices::Other(_) => None,
        })
        .collect();
    let authorities: Vec<&CertificateAuthority> = trust
        .timestamp_authorities
        .iter()
        .filter(|a| !a.certs.is_empty())
        .collect();
    if authorities.is_empty() {
        return Err(TimestampError::NoAuthorities);
    }
    let mut reasons = Vec::new();
    for authority in authorities {
        match by_authority(authority, signer, &signed_attrs, &embedded, token.time) {
            Ok(()) => {
                return Ok(VerifiedTimestamp {
                    time: token.time,
                    authority: authority.uri.clone(),
                });
            }
            Err(e) => reasons.push(format!("{}: {e}", authority.uri)),
        }
    }
    Err(TimestampError::Untrusted(reasons.join("; ")))
}

/// The DER of the signed attributes (what the signature covers), once their content type and message digest
/// are checked against the `TSTInfo`.
fn signed_attributes(signer: &SignerInfo, tst_info: &[u8]) -> Result<Vec<u8>, TimestampError> {
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or_else(|| malformed("the signer info has no signed attributes"))?;
    let value = |oid: ObjectIdentifier| {
        attrs
            .iter()
            .find(|a| a.oid == oid)
            .and_then(|a| a.values.iter().next())
    };
    let content_type: ObjectIdentifier = value(ID_CONTENT_TYPE)
        .and_then(|v| v.decode_as().ok())
        .ok_or_else(|| malformed("no contentType signed attribute"))?;
    if content_type != ID_CT_TST_INFO {
        return Err(malformed("the signed contentType is not TSTInfo"));
    }
    let digest: OctetString = value(ID_MESSAGE_DIGEST)
        .and_then(|v| v.decode_as().ok())
        .ok_or_else(|| malformed("no messageDigest signed attribute"))?;
    let hash = HashAlgorithm::from_oid(&signer.digest_alg.oid).ok_or_else(|| {
        malformed(format!(
            "unsupported digest algorithm {}",
            signer.digest_alg.oid
        ))
    })?;
    if hash.digest(tst_info) != digest.as_bytes() {
        return Err(malformed(
            "the signed messageDigest is not the TSTInfo's digest",
        ));
    }
    attrs.to_der().map_err(malformed)
}

/// Whether `cert` is the one a signer identifier names.
fn names(sid: &SignerIdentifier, cert: &Certificate) -> bool {
    let tbs = cert.tbs_certificate();
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(isn) => {
            isn.issuer == *tbs.issuer() && isn.serial_number == *tbs.serial_number()
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => tbs
            .get_extension::<SubjectKeyIdentifier>()
            .ok()
            .flatten()
            .is_some_and(|(_, own)| own == *ski),
    }
}

/// The timestamp's signature and signing certificate against one authority, and its time against the
/// authority's validity.
fn by_authority(
    authority: &CertificateAuthority,
    signer: &SignerInfo,
    signed_attrs: &[u8],
    embedded: &[Certificate],
    time: DateTime<Utc>,
) -> Result<(), AuthorityRefusal> {
    let own: Vec<Certificate> = authority
        .certs
        .iter()
        .filter_map(|der| Certificate::from_der(der).ok())
        .collect();
    let cert = embedded
        .iter()
        .chain(own.iter())
        .find(|c| names(&signer.sid, c))
        .ok_or(AuthorityRefusal::NoSignerCertificate)?;
    let cert_der = cert.to_der().map_err(AuthorityRefusal::Encoding)?;
    let extra: Vec<Vec<u8>> = embedded.iter().filter_map(|c| c.to_der().ok()).collect();
    chain::verify_tsa_certificate(&cert_der, authority, &extra, time)
        .map_err(AuthorityRefusal::Chain)?;
    let digest_hint = HashAlgorithm::from_oid(&signer.digest_alg.oid);
    certificate_key(cert)
        .and_then(|key| {
            key.verify_with_algorithm(
                &signer.signature_algorithm.oid,
                digest_hint,
                signed_attrs,
                signer.signature.as_bytes(),
            )
        })
        .map_err(AuthorityRefusal::Signature)?;
    match authority.valid {
        Some(range) if !range.contains(time) => Err(AuthorityRefusal::OutsideValidity {
            time: time.to_rfc3339(),
            range,
        }),
        _ => Ok(()),
    }
}
