//! A transparency log entry's body against the bundle it comes with (Sigstore client specification §4.4, the
//! check that prevents CVE-2022-36056: a valid entry of another signature): the body's kind and version are the
//! entry's `kindVersion`, and its signature, verification material (certificate or key) and subject are the
//! bundle's.
//!
//! | kind / version        | content          | subject                                                    |
//! |-----------------------|------------------|------------------------------------------------------------|
//! | `hashedrekord` 0.0.1  | message or DSSE  | `data.hash` (hex): the artifact's digest, or the PAE's      |
//! | `hashedrekord` 0.0.2  | message or DSSE  | `data.digest` (base64), the same                            |
//! | `dsse` 0.0.1          | DSSE             | `payloadHash` (hex) and every envelope signature            |
//! | `dsse` 0.0.2          | DSSE             | `payloadHash` (base64) and every envelope signature         |
//! | `intoto` 0.0.2        | DSSE             | `payloadHash`, `payloadType` and every envelope signature   |
//!
//! Rekor v1 bodies name the verifier as base64 PEM (a certificate or a public key), Rekor v2 bodies as DER
//! (`x509Certificate.rawBytes` or `publicKey.rawBytes`). Other kinds are refused.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;
use thiserror::Error;
use x509_cert::Certificate;
use x509_cert::der::{DecodePem, Encode};
use x509_cert::spki::SubjectPublicKeyInfoOwned;

/// Why a log entry does not belong to the bundle.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum EntryError {
    #[error("the log entry's body is not JSON: {0}")]
    Malformed(String),
    #[error("the log entry is a {body} entry but its kindVersion says {declared}")]
    KindVersion { body: String, declared: String },
    #[error("unsupported log entry kind {0} for this bundle")]
    Unsupported(String),
    #[error("the log entry records another {0} than the bundle's")]
    Mismatch(&'static str),
}

/// What the bundle signs, as a log entry records it.
pub enum Signed<'a> {
    /// A message signature: the artifact's digest (SHA-256) and the signature.
    Message {
        digest: &'a [u8],
        signature: &'a [u8],
    },
    /// A DSSE envelope: its payload type, payload, signatures and the SHA-256 of its PAE (what a hashedrekord
    /// entry of it records).
    Dsse {
        payload_type: &'a str,
        payload: &'a [u8],
        signatures: Vec<&'a [u8]>,
        pae_digest: &'a [u8],
    },
}

/// The signer's verification material: a certificate or a public key (DER).
pub enum Material<'a> {
    Certificate(&'a [u8]),
    PublicKey(&'a [u8]),
}

fn b64(v: &Value) -> Option<Vec<u8>> {
    v.as_str().and_then(|s| B64.decode(s).ok())
}

/// Whether a Rekor v1 verifier (base64 PEM of a certificate or public key) is the material.
fn v1_verifier_is(v: &Value, material: &Material) -> bool {
    let Some(pem) = b64(v) else { return false };
    match material {
        Material::Certificate(der) => Certificate::from_pem(&pem)
            .ok()
            .and_then(|c| c.to_der().ok())
            .is_some_and(|d| d == *der),
        Material::PublicKey(der) => SubjectPublicKeyInfoOwned::from_pem(&pem)
            .ok()
            .and_then(|k| k.to_der().ok())
            .is_some_and(|d| d == *der),
    }
}

/// Whether a Rekor v2 verifier (`{x509Certificate|publicKey: {rawBytes}}`) is the material.
fn v2_verifier_is(v: &Value, material: &Material) -> bool {
    match material {
        Material::Certificate(der) => {
            b64(&v["x509Certificate"]["rawBytes"]).as_deref() == Some(der)
        }
        Material::PublicKey(der) => b64(&v["publicKey"]["rawBytes"]).as_deref() == Some(der),
    }
}

fn ensure(ok: bool, what: &'static str) -> Result<(), EntryError> {
    if ok {
        Ok(())
    } else {
        Err(EntryError::Mismatch(what))
    }
}

/// Checks a log entry's canonicalized body against the bundle (see the module documentation).
pub fn check(
    body: &[u8],
    kind: &str,
    version: &str,
    signed: &Signed,
    material: &Material,
) -> Result<(), EntryError> {
    let body: Value =
        serde_json::from_slice(body).map_err(|e| EntryError::Malformed(e.to_string()))?;
    let body_kind = body["kind"].as_str().unwrap_or_default();
    let body_version = body["apiVersion"].as_str().unwrap_or_default();
    if (body_kind, body_version) != (kind, version) {
        return Err(EntryError::KindVersion {
            body: format!("{body_kind} {body_version}"),
            declared: format!("{kind} {version}"),
        });
    }
    let spec = &body["spec"];
    match (kind, version, signed) {
        ("hashedrekord", "0.0.1", _) => hashedrekord_v1(spec, signed, material),
        ("hashedrekord", "0.0.2", _) => {
            hashedrekord_v2(&spec["hashedRekordV002"], signed, material)
        }
        ("dsse", "0.0.1", Signed::Dsse { .. }) => dsse_v1(spec, signed, material),
        ("dsse", "0.0.2", Signed::Dsse { .. }) => dsse_v2(&spec["dsseV002"], signed, material),
        ("intoto", "0.0.2", Signed::Dsse { .. }) => intoto_v2(&spec["content"], signed, material),
        _ => Err(EntryError::Unsupported(format!("{kind} {version}"))),
    }
}

/// The digest and the one signature a hashedrekord entry records.
fn hashed_subject<'a>(signed: &'a Signed) -> Result<(&'a [u8], &'a [u8]), EntryError> {
    match signed {
        Signed::Message { digest, signature } => Ok((digest, signature)),
        Signed::Dsse {
            signatures,
            pae_digest,
            ..
        } => match signatures.as_slice() {
            [one] => Ok((pae_digest, one)),
            _ => Err(EntryError::Unsupported(
                "hashedrekord for a DSSE envelope of several signatures".into(),
            )),
        },
    }
}

fn hashedrekord_v1(spec: &Value, signed: &Signed, material: &Material) -> Result<(), EntryError> {
    let (digest, signature) = hashed_subject(signed)?;
    let hash = &spec["data"]["hash"];
    ensure(
        hash["algorithm"] == "sha256" && hash["value"].as_str() == Some(&hex::encode(digest)),
        "digest",
    )?;
    ensure(
        b64(&spec["signature"]["content"]).as_deref() == Some(signature),
        "signature",
    )?;
    ensure(
        v1_verifier_is(&spec["signature"]["publicKey"]["content"], material),
        "certificate or key",
    )
}

fn hashedrekord_v2(spec: &Value, signed: &Signed, material: &Material) -> Result<(), EntryError> {
    let (digest, signature) = hashed_subject(signed)?;
    ensure(
        spec["data"]["algorithm"] == "SHA2_256"
            && b64(&spec["data"]["digest"]).as_deref() == Some(digest),
        "digest",
    )?;
    ensure(
        b64(&spec["signature"]["content"]).as_deref() == Some(signature),
        "signature",
    )?;
    ensure(
        v2_verifier_is(&spec["signature"]["verifier"], material),
        "certificate or key",
    )
}

/// The payload digest and signatures of a DSSE bundle.
fn dsse_parts<'a>(signed: &'a Signed) -> (&'a str, Vec<u8>, &'a [&'a [u8]]) {
    match signed {
        Signed::Dsse {
            payload_type,
            payload,
            signatures,
            ..
        } => (payload_type, sha256(payload), signatures.as_slice()),
        Signed::Message { .. } => ("", Vec::new(), &[]),
    }
}

fn sha256(data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(data).to_vec()
}

/// Every envelope signature is in the entry, and the entry holds no other.
fn same_signatures<F>(entries: &Value, signatures: &[&[u8]], matches: F) -> Result<(), EntryError>
where
    F: Fn(&Value, &[u8]) -> bool,
{
    let listed = entries.as_array().map(Vec::as_slice).unwrap_or_default();
    ensure(
        listed.len() == signatures.len()
            && signatures
                .iter()
                .all(|s| listed.iter().any(|e| matches(e, s))),
        "signature",
    )
}

fn dsse_v1(spec: &Value, signed: &Signed, material: &Material) -> Result<(), EntryError> {
    let (_, payload_digest, signatures) = dsse_parts(signed);
    let hash = &spec["payloadHash"];
    ensure(
        hash["algorithm"] == "sha256"
            && hash["value"].as_str() == Some(&hex::encode(&payload_digest)),
        "payload",
    )?;
    same_signatures(&spec["signatures"], signatures, |e, s| {
        b64(&e["signature"]).as_deref() == Some(s) && v1_verifier_is(&e["verifier"], material)
    })
}

fn dsse_v2(spec: &Value, signed: &Signed, material: &Material) -> Result<(), EntryError> {
    let (_, payload_digest, signatures) = dsse_parts(signed);
    let hash = &spec["payloadHash"];
    ensure(
        hash["algorithm"] == "SHA2_256" && b64(&hash["digest"]) == Some(payload_digest),
        "payload",
    )?;
    same_signatures(&spec["signatures"], signatures, |e, s| {
        b64(&e["content"]).as_deref() == Some(s) && v2_verifier_is(&e["verifier"], material)
    })
}

fn intoto_v2(content: &Value, signed: &Signed, material: &Material) -> Result<(), EntryError> {
    let (payload_type, payload_digest, signatures) = dsse_parts(signed);
    let hash = &content["payloadHash"];
    ensure(
        hash["algorithm"] == "sha256"
            && hash["value"].as_str() == Some(&hex::encode(&payload_digest)),
        "payload",
    )?;
    ensure(
        content["envelope"]["payloadType"] == payload_type,
        "payload type",
    )?;
    // intoto 0.0.2 records each signature base64-encoded twice, and its key as base64 PEM.
    same_signatures(&content["envelope"]["signatures"], signatures, |e, s| {
        b64(&e["sig"])
            .and_then(|inner| B64.decode(inner).ok())
            .as_deref()
            == Some(s)
            && v1_verifier_is(&e["publicKey"], material)
    })
}
