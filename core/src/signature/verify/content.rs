//! The signed content against the artifact and the signer's key (Sigstore client specification §4.5):
//!
//! - a **message signature** is over the artifact (its digest, when only that is known): the digest the bundle
//!   states, if any, must be the artifact's, and the signature must verify with the key;
//! - a **DSSE envelope** carries one signature over `PAE(payloadType, payload)`, which must verify with the key;
//!   its payload must be an in-toto statement (`application/vnd.in-toto+json`) of a known statement type
//!   (`https://in-toto.io/Statement/v1`, or `/v0.1`), never read as another type, and one of its subjects must
//!   carry the artifact's digest (SHA-256 or SHA-512). At most 1024 subjects of 32 digests each are read.

use serde_json::Value;

use super::{Artifact, VerifyError};
use crate::signature::keys::{HashAlgorithm, KeyError, PublicKey};

/// The in-toto payload type.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
const STATEMENT_TYPES: [&str; 2] = [
    "https://in-toto.io/Statement/v1",
    "https://in-toto.io/Statement/v0.1",
];
const MAX_SUBJECTS: usize = 1024;
const MAX_SUBJECT_DIGESTS: usize = 32;

/// DSSE's pre-authentication encoding: `DSSEv1 <len(type)> <type> <len(payload)> <payload>`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The artifact's SHA-256 digest (what message signatures and hashedrekord entries record).
pub fn artifact_sha256(artifact: &Artifact) -> Result<Vec<u8>, VerifyError> {
    match artifact {
        Artifact::Bytes(b) => Ok(HashAlgorithm::Sha256.digest(b)),
        Artifact::Sha256(d) => Ok(d.to_vec()),
        Artifact::Sha512(_) => Err(VerifyError::Bundle(
            "a message signature is over the artifact's SHA-256 digest, and only its SHA-512 is known".into(),
        )),
    }
}

fn bad_signature(e: KeyError, signer: &str) -> VerifyError {
    match e {
        KeyError::BadSignature => VerifyError::BadSignature {
            signer: signer.to_owned(),
        },
        other => VerifyError::Key(other),
    }
}

/// A message signature over the artifact.
pub fn message(
    artifact: &Artifact,
    stated: Option<(HashAlgorithm, &[u8])>,
    signature: &[u8],
    key: &PublicKey,
    signer: &str,
) -> Result<(), VerifyError> {
    let hash = stated.map_or(key.default_hash(), |(alg, _)| alg);
    if let Some((alg, digest)) = stated {
        let actual = match (artifact, alg) {
            (Artifact::Bytes(b), _) => alg.digest(b),
            (Artifact::Sha256(d), HashAlgorithm::Sha256) => d.to_vec(),
            (Artifact::Sha512(d), HashAlgorithm::Sha512) => d.to_vec(),
            _ => {
                return Err(VerifyError::Bundle(format!(
                    "the bundle states a {alg:?} digest; the artifact's is not known in that algorithm"
                )));
            }
        };
        if actual != digest {
            return Err(VerifyError::DigestMismatch {
                expected: hex::encode(actual),
                found: hex::encode(digest),
            });
        }
    }
    let verified = match artifact {
        Artifact::Bytes(b) => key.verify(b, signature, hash),
        Artifact::Sha256(d) => key.verify_digest(d, signature, HashAlgorithm::Sha256),
        Artifact::Sha512(d) => key.verify_digest(d, signature, HashAlgorithm::Sha512),
    };
    verified.map_err(|e| bad_signature(e, signer))
}

/// A DSSE envelope's signature and in-toto statement.
pub fn dsse(
    artifact: &Artifact,
    payload_type: &str,
    payload: &[u8],
    signatures: &[&[u8]],
    key: &PublicKey,
    signer: &str,
) -> Result<(), VerifyError> {
    let [signature] = signatures else {
        return Err(VerifyError::Bundle(format!(
            "the DSSE envelope has {} signatures, expected one",
            signatures.len()
        )));
    };
    key.verify(&pae(payload_type, payload), signature, key.default_hash())
        .map_err(|e| bad_signature(e, signer))?;
    statement(artifact, payload_type, payload)
}

fn refuse(m: impl Into<String>) -> VerifyError {
    VerifyError::Statement(m.into())
}

/// The in-toto statement of a verified envelope against the artifact.
fn statement(artifact: &Artifact, payload_type: &str, payload: &[u8]) -> Result<(), VerifyError> {
    if payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(refuse(format!(
            "the DSSE payload type is '{payload_type}', not an in-toto statement ({IN_TOTO_PAYLOAD_TYPE})"
        )));
    }
    let statement: Value = serde_json::from_slice(payload)
        .map_err(|e| refuse(format!("the in-toto statement is not JSON: {e}")))?;
    match statement["_type"].as_str() {
        Some(t) if STATEMENT_TYPES.contains(&t) => {}
        Some(t) => return Err(refuse(format!("unknown in-toto statement type '{t}'"))),
        None => return Err(refuse("the in-toto statement has no _type")),
    }
    let subjects = statement["subject"]
        .as_array()
        .ok_or_else(|| refuse("the in-toto statement has no subject"))?;
    if subjects.len() > MAX_SUBJECTS {
        return Err(refuse(format!(
            "the in-toto statement has {} subjects (at most {MAX_SUBJECTS} are read)",
            subjects.len()
        )));
    }
    let (algorithm, wanted) = match artifact {
        Artifact::Bytes(b) => ("sha256", hex::encode(HashAlgorithm::Sha256.digest(b))),
        Artifact::Sha256(d) => ("sha256", hex::encode(d)),
        Artifact::Sha512(d) => ("sha512", hex::encode(d)),
    };
    let mut sha512_of_bytes = None;
    for subject in subjects {
        let digests = subject["digest"].as_object();
        if digests.is_some_and(|d| d.len() > MAX_SUBJECT_DIGESTS) {
            return Err(refuse(format!(
                "an in-toto subject has more than {MAX_SUBJECT_DIGESTS} digests"
            )));
        }
        let digest = |alg: &str| {
            digests
                .and_then(|d| d.get(alg))
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
        };
        if digest(algorithm).as_deref() == Some(wanted.as_str()) {
            return Ok(());
        }
        // An artifact given as bytes matches a SHA-512 subject too.
        if let (Artifact::Bytes(b), Some(d)) = (artifact, digest("sha512")) {
            let own =
                sha512_of_bytes.get_or_insert_with(|| hex::encode(HashAlgorithm::Sha512.digest(b)));
            if *own == d {
                return Ok(());
            }
        }
    }
    Err(refuse(format!(
        "no subject of the in-toto statement is the artifact ({algorithm}:{wanted})"
    )))
}
