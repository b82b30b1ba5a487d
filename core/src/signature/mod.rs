//! Signed registry entries: a [sigstore bundle](https://github.com/sigstore/protobuf-specs) (v0.3 JSON, the
//! format cosign and sigstore-python write) over the canonical form of one server.json version.
//!
//! # Canonical form (what is signed)
//!
//! Any party can reproduce the signed bytes from a server.json version:
//!
//! 1. take the server.json object as published (the `server` object of an API response, or the file);
//! 2. keep in its `_meta` only `io.modelcontextprotocol.registry/publisher-provided`
//!    ([`crate::server::PUBLISHER_PROVIDED_META`]: what a registry stores of `_meta`; the keys a registry adds,
//!    like `io.modelcontextprotocol.registry/official`, and the signature itself, [`SIGNATURE_META`], go);
//!    remove `_meta` when it is then empty;
//! 3. serialize with the JSON Canonicalization Scheme (RFC 8785: object keys sorted by their UTF-16 code units,
//!    no whitespace, ECMAScript number and string forms), UTF-8.
//!
//! The message digest is SHA-256 of those bytes; the signature is ECDSA P-256 with SHA-256 (ASN.1 DER) over
//! them, as `cosign sign-blob` makes it. So `thv-registry canonicalize entry.json > entry.canonical` followed by
//! `cosign verify-blob --key cosign.pub --bundle entry.bundle.json entry.canonical` checks a key-signed entry
//! with cosign.
//!
//! # Where signatures travel
//!
//! Beside the entry as a file (`thv-registry sign` writes `FILE.bundle.json`), or in the entry's
//! `_meta[SIGNATURE_META]` (a registry serves it there; publishing with it stores it).

pub mod cosign;
pub mod identity;
pub mod image;
pub mod keyless;
pub mod keys;
pub mod policy;
pub mod provenance;
pub mod tlog;
pub mod trust;
pub mod verify;

pub use policy::{PolicyConfig, PolicyMode, SignaturePolicy, TrustedKey, TrustedSigner, Verdict};

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sigstore::crypto::SigningScheme;
pub use sigstore::crypto::signing_key::SigStoreKeyPair;
/// A sigstore bundle (protobuf-specs types, JSON as cosign writes it).
pub use sigstore_protobuf_specs::dev::sigstore::bundle::v1::Bundle;
use sigstore_protobuf_specs::dev::sigstore::bundle::v1::{
    VerificationMaterial, bundle, verification_material,
};
use sigstore_protobuf_specs::dev::sigstore::common::v1::{
    HashAlgorithm, HashOutput, MessageSignature, PublicKeyIdentifier,
};
use thiserror::Error;

#[cfg(test)]
use crate::server::OFFICIAL_META;
use crate::server::PUBLISHER_PROVIDED_META;

pub use crate::server::SIGNATURE_META;
/// The media type of the bundles written here.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

pub use keys::PublicKey;
pub use verify::VerifyError;

/// Why an entry could not be signed or its signature was refused.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("the entry is not a JSON object")]
    NotAnObject,
    #[error("invalid key: {0}")]
    Key(String),
    #[error("invalid signature bundle: {0}")]
    Bundle(String),
    #[error(
        "the bundle signs another entry: its digest is {found}, this entry's canonical digest is {expected}"
    )]
    DigestMismatch { expected: String, found: String },
    #[error(
        "the signature does not verify with the key {key}: the entry was changed or signed by another key"
    )]
    BadSignature { key: String },
    #[error("the entry is signed by none of the trusted keys ({0})")]
    UntrustedKey(String),
    /// A valid signature by a key (or keyless signer) bound to name patterns the entry's name does not match.
    #[error("signed by {signer}, which is trusted only for {patterns}, not for {name}")]
    NotTrustedForName {
        signer: String,
        patterns: String,
        name: String,
    },
    #[error("the entry carries no signature")]
    Missing,
    #[error("keyless verification failed: {0}")]
    Keyless(String),
    /// The bundle was refused by the verifier ([`verify`]), naming why.
    #[error("{0}")]
    Verify(VerifyError),
}

/// The canonical bytes of a server.json version (see the module documentation).
pub fn canonical_bytes(server: &Value) -> Result<Vec<u8>, SignatureError> {
    let mut v = server.clone();
    let obj = v.as_object_mut().ok_or(SignatureError::NotAnObject)?;
    let empty = match obj.get_mut("_meta") {
        Some(Value::Object(meta)) => {
            meta.retain(|k, _| k == PUBLISHER_PROVIDED_META);
            meta.is_empty()
        }
        Some(_) => false,
        None => false,
    };
    if empty {
        obj.remove("_meta");
    }
    serde_json_canonicalizer::to_vec(&v).map_err(|e| SignatureError::Bundle(e.to_string()))
}

/// SHA-256 of the canonical bytes.
pub fn canonical_digest(server: &Value) -> Result<[u8; 32], SignatureError> {
    Ok(Sha256::digest(canonical_bytes(server)?).into())
}

/// A new ECDSA P-256 key pair.
pub fn generate_key_pair() -> Result<SigStoreKeyPair, SignatureError> {
    SigningScheme::ECDSA_P256_SHA256_ASN1
        .create_signer()
        .and_then(|s| s.to_sigstore_keypair())
        .map_err(|e| SignatureError::Key(e.to_string()))
}

/// A private key from PEM: cosign's encrypted form (`ENCRYPTED SIGSTORE PRIVATE KEY`/`ENCRYPTED COSIGN PRIVATE
/// KEY`, with its password) or plain PKCS#8.
pub fn read_private_key(pem: &[u8], password: &[u8]) -> Result<SigStoreKeyPair, SignatureError> {
    let text = String::from_utf8_lossy(pem);
    let result = if text.contains("ENCRYPTED") {
        SigStoreKeyPair::from_encrypted_pem(pem, password)
    } else {
        SigStoreKeyPair::from_pem(pem)
    };
    result.map_err(|e| SignatureError::Key(e.to_string()))
}

/// A public key from PEM (`PUBLIC KEY`, as `cosign.pub`): ECDSA P-256/P-384/P-521, Ed25519 or RSA.
pub fn read_public_key(pem: &[u8]) -> Result<PublicKey, SignatureError> {
    PublicKey::from_pem(pem).map_err(|e| SignatureError::Key(e.to_string()))
}

/// A public key from a PEM file; the error names the file.
pub fn read_public_key_file(path: &std::path::Path) -> Result<PublicKey, SignatureError> {
    let pem = std::fs::read(path)
        .map_err(|e| SignatureError::Key(format!("cannot read {}: {e}", path.display())))?;
    read_public_key(&pem).map_err(|e| {
        let why = match e {
            SignatureError::Key(m) => m,
            other => other.to_string(),
        };
        SignatureError::Key(format!("{}: {why}", path.display()))
    })
}

/// The key hint of a public key: base64 of SHA-256 of its DER form (names the key, proves nothing).
pub fn key_hint(public_key_der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(public_key_der))
}

/// Signs an entry with a key: a bundle with the key's hint, the digest and the signature (no transparency log
/// entry: a key-signed entry is trusted by its key).
pub fn sign_with_key(server: &Value, key: &SigStoreKeyPair) -> Result<Bundle, SignatureError> {
    let bytes = canonical_bytes(server)?;
    let signer = key
        .to_sigstore_signer(&SigningScheme::ECDSA_P256_SHA256_ASN1)
        .map_err(|e| SignatureError::Key(e.to_string()))?;
    let signature = signer
        .sign(&bytes)
        .map_err(|e| SignatureError::Key(e.to_string()))?;
    let der = key
        .public_key_to_der()
        .map_err(|e| SignatureError::Key(e.to_string()))?;
    Ok(Bundle {
        media_type: BUNDLE_MEDIA_TYPE.to_owned(),
        verification_material: Some(VerificationMaterial {
            content: Some(verification_material::Content::PublicKey(
                PublicKeyIdentifier {
                    hint: key_hint(&der),
                },
            )),
            tlog_entries: Vec::new(),
            timestamp_verification_data: None,
        }),
        content: Some(bundle::Content::MessageSignature(MessageSignature {
            message_digest: Some(HashOutput {
                algorithm: HashAlgorithm::Sha2256 as i32,
                digest: Sha256::digest(&bytes).to_vec(),
            }),
            signature,
        })),
    })
}

/// A bundle as JSON (pretty-printed).
pub fn bundle_to_json(b: &Bundle) -> Result<String, SignatureError> {
    serde_json::to_string_pretty(b).map_err(|e| SignatureError::Bundle(e.to_string()))
}

/// A bundle from JSON: a sigstore bundle of a known media type (v0.1–v0.3, both spellings of v0.3), or cosign's
/// legacy blob bundle (`{"base64Signature", "cert", "rekorBundle"}`, `cosign sign-blob --bundle` before cosign 3),
/// read as the v0.1 bundle it amounts to ([`cosign::legacy_blob_bundle`]).
pub fn bundle_from_json(json: &str) -> Result<Bundle, SignatureError> {
    let v: Value = serde_json::from_str(json).map_err(|e| SignatureError::Bundle(e.to_string()))?;
    if v.get("mediaType").is_none() && v.get("base64Signature").is_some() {
        return cosign::legacy_blob_bundle(&v);
    }
    let b: Bundle = serde_json::from_value(v).map_err(|e| SignatureError::Bundle(e.to_string()))?;
    verify::material::version(&b.media_type).map_err(|e| match e {
        VerifyError::Bundle(m) => SignatureError::Bundle(m),
        other => SignatureError::Verify(other),
    })?;
    Ok(b)
}

/// A bundle from a JSON value (as found in `_meta`).
pub fn bundle_from_value(v: &Value) -> Result<Bundle, SignatureError> {
    bundle_from_json(&v.to_string())
}

/// Verifies a bundle over an entry with one public key: the bundle's digest is the entry's canonical digest,
/// and the signature verifies over the canonical bytes ([`verify::verify`], without a trusted root: the key alone
/// vouches).
pub fn verify_with_key(
    server: &Value,
    b: &Bundle,
    key: &PublicKey,
    key_name: &str,
) -> Result<(), SignatureError> {
    let bytes = canonical_bytes(server)?;
    let signer = verify::Signer::Key {
        key,
        name: key_name,
    };
    verify::verify(b, &verify::Artifact::Bytes(&bytes), None, signer, None)
        .map(|_| ())
        .map_err(|e| match e {
            VerifyError::DigestMismatch { expected, found } => {
                SignatureError::DigestMismatch { expected, found }
            }
            VerifyError::BadSignature { .. } => SignatureError::BadSignature {
                key: key_name.to_owned(),
            },
            VerifyError::Bundle(m) => SignatureError::Bundle(m),
            other => SignatureError::Verify(other),
        })
}

/// The key hint a bundle signed with a key carries (empty when none, or keyless).
pub fn bundle_key_hint(b: &Bundle) -> &str {
    match b
        .verification_material
        .as_ref()
        .and_then(|m| m.content.as_ref())
    {
        Some(verification_material::Content::PublicKey(k)) => &k.hint,
        _ => "",
    }
}

/// Whether a bundle is keyless: its verification material is a certificate (else a public key hint).
pub fn is_keyless(b: &Bundle) -> bool {
    matches!(
        b.verification_material
            .as_ref()
            .and_then(|m| m.content.as_ref()),
        Some(
            verification_material::Content::Certificate(_)
                | verification_material::Content::X509CertificateChain(_)
        )
    )
}

/// The bundle carried in an entry's `_meta`, if any.
pub fn embedded_bundle(server: &Value) -> Option<&Value> {
    server.get("_meta")?.get(SIGNATURE_META)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry() -> Value {
        json!({
            "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
            "name": "io.github.example/weather",
            "description": "Weather forecasts — ünïcödé",
            "version": "1.2.0",
            "packages": [{"registryType": "oci", "identifier": "ghcr.io/example/weather:1.2.0",
                          "transport": {"type": "stdio"}}],
            "_meta": {"io.modelcontextprotocol.registry/official": {"status": "active"},
                      "io.modelcontextprotocol.registry/publisher-provided": {"x": 1e3}}
        })
    }

    #[test]
    fn canonical_form_ignores_registry_meta_order_and_whitespace() {
        let a = canonical_bytes(&entry()).unwrap();
        let text = String::from_utf8(a.clone()).unwrap();
        assert!(text.starts_with("{\"$schema\":"), "{text}");
        assert!(
            !text.contains("official") && text.contains("\"x\":1000"),
            "{text}"
        );
        let reordered: Value = serde_json::from_str(
            r#"{ "version":"1.2.0", "_meta": {"io.modelcontextprotocol.registry/publisher-provided": {"x": 1000}},
                 "packages":[{"transport":{"type":"stdio"},"identifier":"ghcr.io/example/weather:1.2.0","registryType":"oci"}],
                 "name":"io.github.example/weather","description":"Weather forecasts — ünïcödé",
                 "$schema":"https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"}"#,
        )
        .unwrap();
        assert_eq!(canonical_bytes(&reordered).unwrap(), a);
        let mut bare = entry();
        bare["_meta"] = json!({"io.modelcontextprotocol.registry/official": {}});
        assert!(
            !String::from_utf8(canonical_bytes(&bare).unwrap())
                .unwrap()
                .contains("_meta")
        );
        assert_eq!(
            canonical_bytes(&json!([1])).unwrap_err(),
            SignatureError::NotAnObject
        );
    }

    #[test]
    fn sign_verify_round_trip_and_every_change_fails() {
        let key = generate_key_pair().unwrap();
        let public = read_public_key(key.public_key_to_pem().unwrap().as_bytes()).unwrap();
        let e = entry();
        let b = sign_with_key(&e, &key).unwrap();
        let json = bundle_to_json(&b).unwrap();
        assert!(
            json.contains(BUNDLE_MEDIA_TYPE) && json.contains("\"hint\""),
            "{json}"
        );
        let back = bundle_from_json(&json).unwrap();
        assert_eq!(back, b);
        verify_with_key(&e, &back, &public, "k").unwrap();

        // Embedded in `_meta`, with the registry's own metadata changed: still valid.
        let mut carried = e.clone();
        carried["_meta"][SIGNATURE_META] = serde_json::from_str(&json).unwrap();
        carried["_meta"][OFFICIAL_META] = json!({"status": "deprecated"});
        let embedded = bundle_from_value(embedded_bundle(&carried).unwrap()).unwrap();
        verify_with_key(&carried, &embedded, &public, "k").unwrap();

        // One changed byte anywhere in the entry fails: every character of the canonical form, flipped.
        let canonical = canonical_bytes(&e).unwrap();
        let mut checked = 0;
        for i in 0..canonical.len() {
            let mut bytes = canonical.clone();
            bytes[i] ^= 0x01;
            let Ok(changed) = serde_json::from_slice::<Value>(&bytes) else {
                continue;
            };
            if canonical_bytes(&changed).ok() == Some(canonical.clone()) {
                continue; // the same JSON (e.g. an escape that decodes alike)
            }
            assert!(
                verify_with_key(&changed, &b, &public, "k").is_err(),
                "byte {i} changed, still verifies"
            );
            checked += 1;
        }
        assert!(checked > 100, "only {checked} variants parsed");

        // A forged signature over the right digest fails on the signature.
        let mut forged = b.clone();
        if let Some(bundle::Content::MessageSignature(m)) = &mut forged.content {
            let last = m.signature.len() - 1;
            m.signature[last] ^= 0xff;
        }
        assert!(matches!(
            verify_with_key(&e, &forged, &public, "k"),
            Err(SignatureError::BadSignature { .. })
        ));

        // Another key: its signature does not verify.
        let other = generate_key_pair().unwrap();
        let other_pub = read_public_key(other.public_key_to_pem().unwrap().as_bytes()).unwrap();
        assert!(matches!(
            verify_with_key(&e, &b, &other_pub, "other"),
            Err(SignatureError::BadSignature { .. })
        ));
    }

    #[test]
    fn encrypted_keys_round_trip() {
        let key = generate_key_pair().unwrap();
        let pem = key.private_key_to_encrypted_pem(b"secret").unwrap();
        assert!(pem.contains("ENCRYPTED"));
        let back = read_private_key(pem.as_bytes(), b"secret").unwrap();
        assert_eq!(
            back.public_key_to_pem().unwrap(),
            key.public_key_to_pem().unwrap()
        );
        assert!(read_private_key(pem.as_bytes(), b"wrong").is_err());
        assert!(bundle_from_json("{\"mediaType\":\"text/plain\"}").is_err());
    }
}
