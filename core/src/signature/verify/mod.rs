//! The one verification of a sigstore bundle, offline, that every front end takes — registry entries (the API's
//! publish, sync sources, `thv run NAME`, `thv-registry verify`), any file (`thv-registry verify-blob`) and image
//! signatures and attestations (`thv run`) — following the Sigstore client specification §4:
//!
//! 1. the bundle's shape ([`material`]): a known media type (0.1–0.3, both spellings of 0.3), a certificate or a
//!    key hint, a message signature or a DSSE envelope;
//! 2. its **transparency log entries** ([`super::tlog`]): each from a log of the trusted root, with an inclusion
//!    proof and signed checkpoint (Rekor v1 or v2), a signed entry timestamp when present (required in 0.1
//!    bundles), listed once, and recording this bundle's signature, certificate or key and artifact ([`entry`]);
//! 3. its **signed timestamps** ([`tsa`]): every RFC 3161 timestamp verifies with a timestamp authority of the
//!    trusted root, within that authority's validity;
//! 4. the verified times — the timestamps' and the signed entry timestamps' integration times (a Rekor v2 entry
//!    has none) — each within the validity of the log that logged the entry;
//! 5. for a certificate: at least one verified time, and at each of them the certificate chains to a
//!    certificate authority of the trusted root valid then ([`chain`]); its SCT verifies with a CT log of the
//!    trusted root ([`sct`]); the caller's policy (identity and issuer, or an image's provenance) accepts it;
//!    for a key: the caller's key;
//! 6. the **signature** over the artifact, or the DSSE envelope's and its in-toto statement ([`content`]).
//!
//! Keyless verification needs a trusted root and at least one log entry. Key verification needs neither: with a
//! trusted root the entries a bundle carries are verified as above; without one they are not looked at (the key
//! alone vouches, as for registry entries signed with `thv-registry sign`).

pub mod chain;
pub mod content;
pub mod entry;
pub mod material;
pub mod sct;
pub mod tsa;

use chrono::{DateTime, Utc};
use sigstore::bundle::verify::policy::VerificationPolicy;
use sigstore_protobuf_specs::dev::sigstore::bundle::v1::Bundle;
use thiserror::Error;
use x509_cert::Certificate;
use x509_cert::der::Decode;

use super::keys::{KeyError, PublicKey, certificate_key};
use super::tlog::{self, Evidence, LoggedEntry, TlogError};
use super::trust::TrustedRoot;
use material::{Content, Parts, SigningMaterial, Version};

/// At most this many signed timestamps are read (as sigstore-go and sigstore-python).
pub const MAX_TIMESTAMPS: usize = 32;

/// Why a bundle was refused: each reason its own variant.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("invalid bundle: {0}")]
    Bundle(String),
    #[error("the bundle is signed with a key (hint {hint}), not keyless with a certificate")]
    KeySigned { hint: String },
    #[error("the bundle is keyless (a certificate), not signed with a key")]
    CertificateSigned,
    #[error("a keyless bundle needs a trusted root (trusted_root.json)")]
    NoTrustedRoot,
    #[error("transparency log: {0}")]
    Tlog(#[from] TlogError),
    #[error("transparency log entry {index}: {reason}")]
    EntryMismatch {
        index: usize,
        reason: entry::EntryError,
    },
    #[error("signed timestamp {index}: {reason}")]
    Timestamp {
        index: usize,
        reason: tsa::TimestampError,
    },
    #[error("the bundle carries {0} signed timestamps (at most {MAX_TIMESTAMPS} are read)")]
    TooManyTimestamps(usize),
    #[error("the bundle carries the same signed timestamp twice")]
    DuplicateTimestamp,
    #[error("the log {log} was not trusted at {time} (its validity: {range})")]
    LogNotValid {
        log: String,
        time: String,
        range: String,
    },
    #[error(
        "no verified time for the certificate: the bundle has neither a signed timestamp of a trusted \
         timestamp authority nor a log entry with a signed entry timestamp"
    )]
    NoVerifiedTime,
    #[error("the signing certificate: {0}")]
    Certificate(#[from] chain::ChainError),
    #[error(
        "the signing certificate was not valid at {time} (its validity: {not_before} .. {not_after})"
    )]
    CertificateNotValid {
        time: String,
        not_before: String,
        not_after: String,
    },
    #[error("the signing certificate's SCT: {0}")]
    Sct(#[from] sct::SctError),
    #[error("the signer is not the expected one: {0}")]
    Policy(String),
    #[error(
        "the bundle signs another artifact: its digest is {found}, the artifact's is {expected}"
    )]
    DigestMismatch { expected: String, found: String },
    #[error("the signature does not verify with {signer}")]
    BadSignature { signer: String },
    #[error("the in-toto statement: {0}")]
    Statement(String),
    #[error("{0}")]
    Key(#[from] KeyError),
}

/// The artifact a bundle is verified over: its bytes, or only its digest.
#[derive(Debug, Clone, Copy)]
pub enum Artifact<'a> {
    Bytes(&'a [u8]),
    Sha256([u8; 32]),
    Sha512([u8; 64]),
}

/// Who must have signed.
#[derive(Clone, Copy)]
pub enum Signer<'a> {
    /// The holder of this key (named in messages).
    Key { key: &'a PublicKey, name: &'a str },
    /// A certificate the trusted root's authorities issued, which this policy accepts.
    Certificate(&'a dyn VerificationPolicy),
}

/// Where a verified time comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeSource {
    /// An RFC 3161 timestamp of this authority (its URI).
    TimestampAuthority(String),
    /// A log entry's signed entry timestamp, of this log (its URL).
    TransparencyLog(String),
}

/// A verified bundle: the verified times and, when keyless, the signing certificate (DER).
#[derive(Debug, Clone)]
pub struct Verified {
    pub times: Vec<(DateTime<Utc>, TimeSource)>,
    pub certificate: Option<Vec<u8>>,
}

/// Verifies `bundle` over `artifact` (see the module documentation). `evidence` overrides what log entries must
/// carry (by default: a signed entry timestamp in 0.1 bundles, an inclusion proof in later ones).
pub fn verify(
    bundle: &Bundle,
    artifact: &Artifact,
    trust: Option<&TrustedRoot>,
    signer: Signer,
    evidence: Option<Evidence>,
) -> Result<Verified, VerifyError> {
    let parts = material::parts(bundle)?;
    let (key, signer_name, leaf) = signing_key(&parts, signer)?;
    let evidence = evidence.unwrap_or(match parts.version {
        Version::V01 => Evidence::SignedEntryTimestamp,
        Version::V02 | Version::V03 => Evidence::InclusionProof,
    });
    let mut times = Vec::new();
    if let Some(trust) = trust {
        let logged = log_entries(&parts, artifact, &key, trust, evidence)?;
        if leaf.is_some() && logged.is_empty() {
            return Err(TlogError::NoEntry.into());
        }
        times = timestamps(&parts, trust)?;
        let tsa_times: Vec<DateTime<Utc>> = times.iter().map(|(t, _)| *t).collect();
        for entry in &logged {
            let when = entry.integrated_time.map_or(tsa_times.clone(), |t| vec![t]);
            for t in when {
                check_log_validity(entry, t)?;
            }
            if let Some(t) = entry.integrated_time {
                times.push((t, TimeSource::TransparencyLog(entry.log.base_url.clone())));
            }
        }
    } else if leaf.is_some() {
        return Err(VerifyError::NoTrustedRoot);
    }
    if let (Some(leaf), Signer::Certificate(policy), Some(trust)) = (leaf, signer, trust) {
        certificate(leaf, &times, trust, policy)?;
    }
    match &parts.content {
        Content::Message { digest, signature } => {
            content::message(artifact, *digest, signature, &key, &signer_name)?
        }
        Content::Dsse {
            payload_type,
            payload,
            signatures,
        } => content::dsse(
            artifact,
            payload_type,
            payload,
            signatures,
            &key,
            &signer_name,
        )?,
    }
    Ok(Verified {
        times,
        certificate: leaf.map(<[u8]>::to_vec),
    })
}

/// The key the signature must verify with, the signer's name for messages, and the certificate if keyless.
fn signing_key<'a>(
    parts: &Parts<'a>,
    signer: Signer,
) -> Result<(PublicKey, String, Option<&'a [u8]>), VerifyError> {
    match (&parts.material, signer) {
        (SigningMaterial::Certificate(leaf), Signer::Certificate(_)) => {
            let cert = Certificate::from_der(leaf)
                .map_err(|e| chain::ChainError::Malformed(e.to_string()))?;
            Ok((
                certificate_key(&cert)?,
                "the certificate's key".into(),
                Some(leaf),
            ))
        }
        (SigningMaterial::PublicKey { .. }, Signer::Key { key, name }) => {
            Ok((key.clone(), format!("the key {name}"), None))
        }
        (SigningMaterial::PublicKey { hint }, Signer::Certificate(_)) => {
            Err(VerifyError::KeySigned {
                hint: (*hint).to_owned(),
            })
        }
        (SigningMaterial::Certificate(_), Signer::Key { .. }) => {
            Err(VerifyError::CertificateSigned)
        }
    }
}

/// The bundle's log entries, each verified and recording this bundle (see the module documentation).
fn log_entries<'t>(
    parts: &Parts,
    artifact: &Artifact,
    key: &PublicKey,
    trust: &'t TrustedRoot,
    evidence: Evidence,
) -> Result<Vec<LoggedEntry<'t>>, VerifyError> {
    let sha256 = match &parts.content {
        Content::Message { .. } => content::artifact_sha256(artifact)?,
        Content::Dsse { .. } => Vec::new(),
    };
    let pae_digest = match &parts.content {
        Content::Dsse {
            payload_type,
            payload,
            ..
        } => super::keys::HashAlgorithm::Sha256.digest(&content::pae(payload_type, payload)),
        Content::Message { .. } => Vec::new(),
    };
    let signed = match &parts.content {
        Content::Message { signature, .. } => entry::Signed::Message {
            digest: &sha256,
            signature,
        },
        Content::Dsse {
            payload_type,
            payload,
            signatures,
        } => entry::Signed::Dsse {
            payload_type,
            payload,
            signatures: signatures.clone(),
            pae_digest: &pae_digest,
        },
    };
    let mut seen = Vec::new();
    let mut logged = Vec::new();
    for (index, e) in parts.entries.iter().enumerate() {
        let id = (e.log_id.as_ref().map(|l| l.key_id.clone()), e.log_index);
        if seen.contains(&id) {
            let log = hex::encode(id.0.unwrap_or_default());
            return Err(TlogError::Duplicate(format!("{} of log {log}", e.log_index)).into());
        }
        seen.push(id);
        let verified = tlog::verify_entry(e, trust, evidence)?;
        let kv = e.kind_version.as_ref();
        let (kind, version) = (
            kv.map(|k| k.kind.as_str()).unwrap_or_default(),
            kv.map(|k| k.version.as_str()).unwrap_or_default(),
        );
        let material = match parts.material {
            SigningMaterial::Certificate(der) => entry::Material::Certificate(der),
            SigningMaterial::PublicKey { .. } => entry::Material::PublicKey(key.der()),
        };
        entry::check(&e.canonicalized_body, kind, version, &signed, &material)
            .map_err(|reason| VerifyError::EntryMismatch { index, reason })?;
        logged.push(verified);
    }
    Ok(logged)
}

/// The bundle's signed timestamps, every one verified.
fn timestamps(
    parts: &Parts,
    trust: &TrustedRoot,
) -> Result<Vec<(DateTime<Utc>, TimeSource)>, VerifyError> {
    if parts.timestamps.len() > MAX_TIMESTAMPS {
        return Err(VerifyError::TooManyTimestamps(parts.timestamps.len()));
    }
    for (i, a) in parts.timestamps.iter().enumerate() {
        if parts.timestamps[..i].contains(a) {
            return Err(VerifyError::DuplicateTimestamp);
        }
    }
    if parts.timestamps.is_empty() {
        return Ok(Vec::new());
    }
    let signature = parts.signature()?;
    parts
        .timestamps
        .iter()
        .enumerate()
        .map(|(index, ts)| {
            tsa::verify(ts, signature, trust)
                .map(|v| (v.time, TimeSource::TimestampAuthority(v.authority)))
                .map_err(|reason| VerifyError::Timestamp { index, reason })
        })
        .collect()
}

fn check_log_validity(entry: &LoggedEntry, time: DateTime<Utc>) -> Result<(), VerifyError> {
    match entry.log.valid {
        Some(range) if !range.contains(time) => Err(VerifyError::LogNotValid {
            log: entry.log.base_url.clone(),
            time: time.to_rfc3339(),
            range: range.to_string(),
        }),
        _ => Ok(()),
    }
}

/// The certificate at every verified time, its SCT and the caller's policy.
fn certificate(
    leaf: &[u8],
    times: &[(DateTime<Utc>, TimeSource)],
    trust: &TrustedRoot,
    policy: &dyn VerificationPolicy,
) -> Result<(), VerifyError> {
    if times.is_empty() {
        return Err(VerifyError::NoVerifiedTime);
    }
    let cert =
        Certificate::from_der(leaf).map_err(|e| chain::ChainError::Malformed(e.to_string()))?;
    let validity = cert.tbs_certificate().validity();
    let secs = |t: x509_cert::time::Time| t.to_unix_duration().as_secs() as i64;
    let (not_before, not_after) = (secs(validity.not_before), secs(validity.not_after));
    let rfc3339 = |s: i64| {
        DateTime::from_timestamp(s, 0)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default()
    };
    let mut issuer = None;
    for (time, _) in times {
        let t = time.timestamp();
        if t < not_before || t > not_after {
            return Err(VerifyError::CertificateNotValid {
                time: time.to_rfc3339(),
                not_before: rfc3339(not_before),
                not_after: rfc3339(not_after),
            });
        }
        issuer = Some(chain::verify_signing_certificate(leaf, trust, *time)?.issuer_der);
    }
    sct::verify(leaf, &issuer.unwrap_or_default(), trust)?;
    policy
        .verify(&cert)
        .map_err(|e| VerifyError::Policy(e.to_string()))
}
