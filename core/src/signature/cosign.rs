//! cosign's tag-stored image signatures (the `sha256-<digest>.sig` manifest) read as sigstore bundles, so a
//! keyless one is verified like any bundle ([`super::keyless`]).
//!
//! Each layer of that manifest is a *simple signing* payload (media type [`SIMPLE_SIGNING_MEDIA_TYPE`]) naming
//! the signed image digest in `critical.image.docker-manifest-digest`; its descriptor's annotations carry the
//! signature over the payload bytes ([`SIGNATURE_ANNOTATION`], base64), the signer's Fulcio certificate
//! ([`CERTIFICATE_ANNOTATION`], PEM) and Rekor's answer ([`BUNDLE_ANNOTATION`]: `{"SignedEntryTimestamp",
//! "Payload": {"body", "integratedTime", "logIndex", "logID"}}`). The bundle made of them is a message
//! signature over SHA-256 of the payload with the leaf certificate and one log entry carrying the signed entry
//! timestamp (such signatures have no inclusion proof: [`super::tlog::Evidence::InclusionProofOrTimestamp`]).

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sigstore_protobuf_specs::dev::sigstore::bundle::v1::Bundle;
use x509_cert::Certificate;
use x509_cert::der::{DecodePem, Encode};

use super::{SignatureError, bundle_from_value};

pub use crate::oci::distribution::SIMPLE_SIGNING_MEDIA_TYPE;
/// The layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The layer annotation holding the signer's certificate (PEM).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// The layer annotation holding Rekor's signed entry timestamp and entry.
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

/// The image digest a simple signing payload signs (`critical.image.docker-manifest-digest`).
pub fn signed_image_digest(payload: &[u8]) -> Result<String, SignatureError> {
    let v: Value = serde_json::from_slice(payload)
        .map_err(|e| SignatureError::Bundle(format!("simple signing payload: {e}")))?;
    v["critical"]["image"]["docker-manifest-digest"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| {
            SignatureError::Bundle(
                "simple signing payload: no critical.image.docker-manifest-digest".into(),
            )
        })
}

/// Verifies a cosign signature layer signed with a key: the signature annotation (base64) over the payload
/// bytes with `key`; the image digest the payload signs.
pub fn verify_key_layer(
    payload: &[u8],
    annotations: &BTreeMap<String, String>,
    key: &super::PublicKey,
) -> Result<String, SignatureError> {
    let signature = annotations
        .get(SIGNATURE_ANNOTATION)
        .ok_or_else(|| SignatureError::Bundle(format!("no {SIGNATURE_ANNOTATION} annotation")))?;
    let signature = B64
        .decode(signature.trim())
        .map_err(|e| SignatureError::Bundle(format!("{SIGNATURE_ANNOTATION}: {e}")))?;
    key.verify(payload, &signature, key.default_hash())
        .map_err(|_| SignatureError::BadSignature { key: key.hint() })?;
    signed_image_digest(payload)
}

/// The bundle of a keyless signature layer (see the module documentation); `Ok(None)` for a layer without a
/// certificate (signed with a key).
pub fn keyless_layer_bundle(
    payload: &[u8],
    annotations: &BTreeMap<String, String>,
) -> Result<Option<Bundle>, SignatureError> {
    let Some(cert_pem) = annotations.get(CERTIFICATE_ANNOTATION) else {
        return Ok(None);
    };
    let bad = |what: &str, e: String| SignatureError::Bundle(format!("{what}: {e}"));
    let signature = annotations
        .get(SIGNATURE_ANNOTATION)
        .ok_or_else(|| bad(SIGNATURE_ANNOTATION, "missing".into()))?;
    let cert_der = Certificate::from_pem(cert_pem.as_bytes())
        .and_then(|c| c.to_der())
        .map_err(|e| bad(CERTIFICATE_ANNOTATION, e.to_string()))?;
    let rekor: Value = annotations
        .get(BUNDLE_ANNOTATION)
        .ok_or_else(|| {
            bad(
                BUNDLE_ANNOTATION,
                "missing: the signature was never logged in a transparency log".into(),
            )
        })
        .and_then(|s| serde_json::from_str(s).map_err(|e| bad(BUNDLE_ANNOTATION, e.to_string())))?;
    let entry = rekor_bundle_entry(&rekor).map_err(|e| bad(BUNDLE_ANNOTATION, e.to_string()))?;
    bundle_from_value(&json!({
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": {
            "x509CertificateChain": {"certificates": [{"rawBytes": B64.encode(&cert_der)}]},
            "tlogEntries": [entry],
        },
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": B64.encode(Sha256::digest(payload))},
            "signature": signature,
        },
    }))
    .map(Some)
}

/// Why Rekor's answer as cosign keeps it is not a log entry.
#[derive(Debug, thiserror::Error)]
enum RekorBundleError {
    #[error("no Payload.{0}")]
    Missing(&'static str),
    #[error("Payload.body is not base64 JSON")]
    BodyNotBase64Json,
    #[error("Payload.logID is not hex: {0}")]
    LogIdNotHex(hex::FromHexError),
    #[error("no SignedEntryTimestamp")]
    NoSignedEntryTimestamp,
}

/// A bundle's `tlogEntries[]` item made of Rekor's answer as cosign keeps it (`{"SignedEntryTimestamp",
/// "Payload": {"body", "integratedTime", "logIndex", "logID"}}`): the entry with its signed entry timestamp.
fn rekor_bundle_entry(rekor: &Value) -> Result<Value, RekorBundleError> {
    let p = &rekor["Payload"];
    let field = |name: &'static str| {
        p[name]
            .as_str()
            .map(str::to_owned)
            .or_else(|| p[name].as_i64().map(|n| n.to_string()))
            .ok_or(RekorBundleError::Missing(name))
    };
    let body_b64 = field("body")?;
    let body: Value = B64
        .decode(&body_b64)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(RekorBundleError::BodyNotBase64Json)?;
    let log_id = hex::decode(field("logID")?).map_err(RekorBundleError::LogIdNotHex)?;
    let set = rekor["SignedEntryTimestamp"]
        .as_str()
        .ok_or(RekorBundleError::NoSignedEntryTimestamp)?;
    Ok(json!({
        "logIndex": field("logIndex")?,
        "logId": {"keyId": B64.encode(log_id)},
        "kindVersion": {"kind": body["kind"], "version": body["apiVersion"]},
        "integratedTime": field("integratedTime")?,
        "inclusionPromise": {"signedEntryTimestamp": set},
        "canonicalizedBody": body_b64,
    }))
}

/// cosign's legacy blob bundle (`cosign sign-blob --bundle`, before its sigstore bundles: `{"base64Signature",
/// "cert" (base64 PEM, absent when signed with a key), "rekorBundle" (absent when not logged)}`) as the v0.1
/// sigstore bundle it amounts to: the signature over the blob, the certificate or an unnamed key, and the log
/// entry with its signed entry timestamp.
pub fn legacy_blob_bundle(v: &Value) -> Result<Bundle, SignatureError> {
    let bad = |what: &str, e: String| SignatureError::Bundle(format!("cosign bundle {what}: {e}"));
    let signature = v["base64Signature"]
        .as_str()
        .ok_or_else(|| bad("base64Signature", "missing".into()))?;
    let material = match v["cert"].as_str() {
        Some(cert) => {
            let pem = B64
                .decode(cert)
                .map_err(|e| bad("cert", format!("not base64: {e}")))?;
            let der = Certificate::from_pem(&pem)
                .and_then(|c| c.to_der())
                .map_err(|e| bad("cert", e.to_string()))?;
            json!({"x509CertificateChain": {"certificates": [{"rawBytes": B64.encode(der)}]}})
        }
        None => json!({"publicKey": {"hint": ""}}),
    };
    let entries = match v.get("rekorBundle") {
        Some(rekor) if !rekor.is_null() => {
            vec![rekor_bundle_entry(rekor).map_err(|e| bad("rekorBundle", e.to_string()))?]
        }
        _ => Vec::new(),
    };
    let mut vm = material;
    vm["tlogEntries"] = json!(entries);
    bundle_from_value(&json!({
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": vm,
        "messageSignature": {"signature": signature},
    }))
}
