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
pub mod keyless;
pub mod provenance;
pub mod tlog;

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};
pub use sigstore::crypto::signing_key::SigStoreKeyPair;
use sigstore::crypto::{CosignVerificationKey, Signature, SigningScheme};
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

/// The `_meta` key of an entry's signature bundle.
pub const SIGNATURE_META: &str = "io.github.stacklok.toolhive/signature";
/// The media type of the bundles written here.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

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
    #[error("the entry carries no signature")]
    Missing,
    #[error("keyless verification failed: {0}")]
    Keyless(String),
    #[error("transparency log: {0}")]
    Tlog(tlog::TlogError),
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

/// A public key from PEM (`PUBLIC KEY`, as `cosign.pub`).
pub fn read_public_key(pem: &[u8]) -> Result<CosignVerificationKey, SignatureError> {
    CosignVerificationKey::from_pem(pem, &SigningScheme::ECDSA_P256_SHA256_ASN1)
        .map_err(|e| SignatureError::Key(e.to_string()))
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

/// A bundle from JSON (v0.1–v0.3 media types).
pub fn bundle_from_json(json: &str) -> Result<Bundle, SignatureError> {
    let b: Bundle =
        serde_json::from_str(json).map_err(|e| SignatureError::Bundle(e.to_string()))?;
    if !b
        .media_type
        .starts_with("application/vnd.dev.sigstore.bundle")
    {
        return Err(SignatureError::Bundle(format!(
            "mediaType '{}' is not a sigstore bundle",
            b.media_type
        )));
    }
    Ok(b)
}

/// A bundle from a JSON value (as found in `_meta`).
pub fn bundle_from_value(v: &Value) -> Result<Bundle, SignatureError> {
    bundle_from_json(&v.to_string())
}

/// The bundle's message signature (digest and signature bytes).
fn message_signature(b: &Bundle) -> Result<&MessageSignature, SignatureError> {
    match &b.content {
        Some(bundle::Content::MessageSignature(m)) => Ok(m),
        Some(_) => Err(SignatureError::Bundle(
            "the bundle holds a DSSE envelope, not a message signature".into(),
        )),
        None => Err(SignatureError::Bundle("the bundle has no content".into())),
    }
}

/// Verifies a bundle over an entry with one public key: the bundle's digest is the entry's canonical digest,
/// and the signature verifies over the canonical bytes.
pub fn verify_with_key(
    server: &Value,
    b: &Bundle,
    key: &CosignVerificationKey,
    key_name: &str,
) -> Result<(), SignatureError> {
    let bytes = canonical_bytes(server)?;
    let m = message_signature(b)?;
    let expected = hex::encode(Sha256::digest(&bytes));
    if let Some(d) = &m.message_digest {
        if d.algorithm != HashAlgorithm::Sha2256 as i32 {
            return Err(SignatureError::Bundle(format!(
                "messageDigest.algorithm {} is not SHA2_256",
                d.algorithm
            )));
        }
        let found = hex::encode(&d.digest);
        if found != expected {
            return Err(SignatureError::DigestMismatch { expected, found });
        }
    }
    key.verify_signature(Signature::Raw(&m.signature), &bytes)
        .map_err(|_| SignatureError::BadSignature {
            key: key_name.to_owned(),
        })
}

/// Verifies a bundle with the first of `keys` (name, key) it verifies with: that key's name. A digest mismatch
/// is reported as such; a signature no key verifies is [`SignatureError::UntrustedKey`].
pub fn verify_with_any_key<'a>(
    server: &Value,
    b: &Bundle,
    keys: &'a [(String, CosignVerificationKey)],
) -> Result<&'a str, SignatureError> {
    for (name, key) in keys {
        match verify_with_key(server, b, key, name) {
            Ok(()) => return Ok(name),
            Err(SignatureError::BadSignature { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(SignatureError::UntrustedKey(
        keys.iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    ))
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

/// What a signature policy does with an entry (`thv run`'s `--signature-policy`, a registry's
/// `signature_policy.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyMode {
    /// Signatures are not looked at.
    #[default]
    Off,
    /// A missing or bad signature is reported, the entry is used.
    Warn,
    /// A missing or bad signature refuses the entry.
    Enforce,
}

impl std::str::FromStr for PolicyMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "off" => Ok(Self::Off),
            "warn" => Ok(Self::Warn),
            "enforce" => Ok(Self::Enforce),
            _ => Err(format!(
                "'{s}' is not a signature policy (off, warn, enforce)"
            )),
        }
    }
}

impl std::fmt::Display for PolicyMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Off => "off",
            Self::Warn => "warn",
            Self::Enforce => "enforce",
        })
    }
}

/// A signature policy: its mode, the public keys entries may be signed with, and for keyless bundles the
/// trusted root (`trusted_root.json`) and the signers (certificate identity and issuer) accepted.
#[derive(Clone, Default)]
pub struct SignaturePolicy {
    pub mode: PolicyMode,
    keys: std::sync::Arc<Vec<(String, CosignVerificationKey)>>,
    trusted_root: Option<std::sync::Arc<keyless::KeylessTrust>>,
    signers: Vec<keyless::ExpectedSigner>,
}

/// A signature policy as configuration files write it (`thv-registry-api`'s `signature_policy` and each
/// sync source's, `thv`'s `[signatures]`): `mode` (`policy` in thv's file), `trusted_keys`, `trusted_root`,
/// `signers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    #[serde(default, alias = "policy")]
    pub mode: PolicyMode,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_keys: Vec<std::path::PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_root: Option<std::path::PathBuf>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signers: Vec<keyless::ExpectedSigner>,
}

impl PolicyConfig {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The policy, its keys and trusted root read (every problem is named in the error). An enforcing or
    /// warning policy needs at least one key or one keyless signer (signers need the trusted root).
    pub fn load(&self) -> Result<SignaturePolicy, String> {
        let mut keys = Vec::new();
        let mut errors = Vec::new();
        let trusted_root = match self
            .trusted_root
            .as_deref()
            .map(keyless::KeylessTrust::from_file)
        {
            Some(Ok(t)) => Some(std::sync::Arc::new(t)),
            Some(Err(e)) => {
                errors.push(e);
                None
            }
            None => None,
        };
        if !self.signers.is_empty() && self.trusted_root.is_none() {
            errors.push("keyless signers need a trusted root (trusted_root.json)".to_owned());
        }
        for path in &self.trusted_keys {
            match std::fs::read(path) {
                Ok(pem) => match read_public_key(&pem) {
                    Ok(k) => keys.push((path.display().to_string(), k)),
                    Err(e) => errors.push(format!("{}: {e}", path.display())),
                },
                Err(e) => errors.push(format!("{}: {e}", path.display())),
            }
        }
        if self.mode != PolicyMode::Off && self.trusted_keys.is_empty() && self.signers.is_empty() {
            errors.push(format!(
                "the signature policy '{}' needs at least one trusted key or keyless signer",
                self.mode
            ));
        }
        if errors.is_empty() {
            Ok(SignaturePolicy {
                mode: self.mode,
                keys: std::sync::Arc::new(keys),
                trusted_root,
                signers: self.signers.clone(),
            })
        } else {
            Err(errors.join("; "))
        }
    }
}

impl std::fmt::Debug for SignaturePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignaturePolicy")
            .field("mode", &self.mode)
            .field(
                "keys",
                &self
                    .keys
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The outcome of [`SignaturePolicy::evaluate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The policy is off.
    NotChecked,
    /// Signed by the named trusted key.
    Verified { key: String },
    /// Missing, bad or untrusted: the reason.
    Failed(SignatureError),
}

impl SignaturePolicy {
    /// A policy with the public keys (PEM files) only (see [`PolicyConfig::load`]).
    pub fn load(mode: PolicyMode, key_files: &[std::path::PathBuf]) -> Result<Self, String> {
        PolicyConfig {
            mode,
            trusted_keys: key_files.to_vec(),
            ..Default::default()
        }
        .load()
    }

    /// Checks an entry's signature: `bundle` when given, else the one in its `_meta`.
    pub async fn evaluate(&self, server: &Value, bundle: Option<&Value>) -> Verdict {
        if self.mode == PolicyMode::Off {
            return Verdict::NotChecked;
        }
        let Some(b) = bundle.or_else(|| embedded_bundle(server)) else {
            return Verdict::Failed(SignatureError::Missing);
        };
        let b = match bundle_from_value(b) {
            Ok(b) => b,
            Err(e) => return Verdict::Failed(e),
        };
        if !is_keyless(&b) {
            return match verify_with_any_key(server, &b, &self.keys) {
                Ok(key) => Verdict::Verified {
                    key: key.to_owned(),
                },
                Err(e) => Verdict::Failed(e),
            };
        }
        let Some(root) = &self.trusted_root else {
            return Verdict::Failed(SignatureError::Keyless(
                "the bundle is keyless (a certificate), but no trusted root is configured".into(),
            ));
        };
        let mut last = SignatureError::Keyless("no keyless signer is trusted".into());
        for signer in &self.signers {
            match keyless::verify_entry(server, &b, root, signer).await {
                Ok(()) => {
                    return Verdict::Verified {
                        key: format!("{} ({})", signer.identity, signer.issuer),
                    };
                }
                Err(e) => last = e,
            }
        }
        Verdict::Failed(last)
    }

    /// [`SignaturePolicy::evaluate`] of the entry's own signature, then the mode: `Err` only when enforcing and
    /// the check failed; a warning policy's failure comes back as `Ok(Verdict::Failed(reason))`.
    pub async fn check(&self, server: &Value) -> Result<Verdict, SignatureError> {
        match self.evaluate(server, None).await {
            Verdict::Failed(e) if self.mode == PolicyMode::Enforce => Err(e),
            verdict => Ok(verdict),
        }
    }
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

        // Another key: untrusted.
        let other = generate_key_pair().unwrap();
        let other_pub = read_public_key(other.public_key_to_pem().unwrap().as_bytes()).unwrap();
        let keys = vec![("other".to_owned(), other_pub)];
        assert_eq!(
            verify_with_any_key(&e, &b, &keys).unwrap_err(),
            SignatureError::UntrustedKey("other".into())
        );
        let keys = vec![
            keys.into_iter().next().unwrap(),
            ("mine".to_owned(), public),
        ];
        assert_eq!(verify_with_any_key(&e, &b, &keys).unwrap(), "mine");
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn policies() {
        let dir = tempfile::tempdir().unwrap();
        let key = generate_key_pair().unwrap();
        let pub_path = dir.path().join("cosign.pub");
        std::fs::write(&pub_path, key.public_key_to_pem().unwrap()).unwrap();
        let mut signed = entry();
        signed["_meta"][SIGNATURE_META] =
            serde_json::to_value(sign_with_key(&entry(), &key).unwrap()).unwrap();

        let enforce =
            SignaturePolicy::load(PolicyMode::Enforce, std::slice::from_ref(&pub_path)).unwrap();
        assert!(matches!(
            block_on(enforce.evaluate(&signed, None)),
            Verdict::Verified { .. }
        ));
        assert_eq!(
            block_on(enforce.check(&entry())).unwrap_err(),
            SignatureError::Missing
        );
        let mut changed = signed.clone();
        changed["version"] = json!("1.2.1");
        assert!(matches!(
            block_on(enforce.check(&changed)).unwrap_err(),
            SignatureError::DigestMismatch { .. }
        ));
        let warn = SignaturePolicy::load(PolicyMode::Warn, &[pub_path]).unwrap();
        assert_eq!(
            block_on(warn.check(&entry())).unwrap(),
            Verdict::Failed(SignatureError::Missing)
        );
        let off = SignaturePolicy::default();
        assert_eq!(block_on(off.evaluate(&entry(), None)), Verdict::NotChecked);

        let err = SignaturePolicy::load(PolicyMode::Enforce, &[]).unwrap_err();
        assert!(err.contains("at least one trusted key"), "{err}");
        let err =
            SignaturePolicy::load(PolicyMode::Warn, &[dir.path().join("nope.pub")]).unwrap_err();
        assert!(err.contains("nope.pub"), "{err}");
        assert_eq!(
            "Enforce".parse::<PolicyMode>().unwrap(),
            PolicyMode::Enforce
        );
        assert!("strict".parse::<PolicyMode>().is_err());
    }

    /// A keyless bundle goes the keyless way: refused without a trusted root, and refused (naming why) when it
    /// signs something else than the entry.
    #[test]
    fn keyless_bundles_in_policies() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("trusted_root.json");
        std::fs::write(&root, keyless::PUBLIC_GOOD_TRUSTED_ROOT).unwrap();
        let npm: Value = serde_json::from_str(include_str!(
            "../../tests/data/sigstore/npm_slsa_bundle_v03.json"
        ))
        .unwrap();
        assert!(is_keyless(&bundle_from_value(&npm).unwrap()));
        let mut e = entry();
        e["_meta"][SIGNATURE_META] = npm;
        let key = generate_key_pair().unwrap();
        let pub_path = dir.path().join("cosign.pub");
        std::fs::write(&pub_path, key.public_key_to_pem().unwrap()).unwrap();
        let keys_only = SignaturePolicy::load(PolicyMode::Enforce, &[pub_path]).unwrap();
        match block_on(keys_only.evaluate(&e, None)) {
            Verdict::Failed(SignatureError::Keyless(m)) => {
                assert!(m.contains("no trusted root"), "{m}")
            }
            v => panic!("{v:?}"),
        }
        let trust = PolicyConfig {
            mode: PolicyMode::Enforce,
            trusted_keys: Vec::new(),
            trusted_root: Some(root),
            signers: vec![keyless::ExpectedSigner {
                identity: "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main".into(),
                issuer: "https://token.actions.githubusercontent.com".into(),
            }],
        };
        let keyless_policy = trust.load().unwrap();
        assert!(matches!(
            block_on(keyless_policy.evaluate(&e, None)),
            Verdict::Failed(SignatureError::Keyless(_))
        ));
        let err = PolicyConfig {
            trusted_root: None,
            ..trust
        }
        .load()
        .unwrap_err();
        assert!(err.contains("need a trusted root"), "{err}");
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
