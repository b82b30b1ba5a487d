//! A Rekor v2 log of the test Sigstore: an Ed25519 checkpoint key (listed in `trusted_root.json`'s `tlogs`
//! under its signed-note key id), entries of kind `hashedrekord` / `dsse` version 0.0.2 in a tree of three
//! leaves (the entry at index 1, so its inclusion proof has an audit path), a signed-note checkpoint, and no
//! signed entry timestamp (a Rekor v2 entry's time comes from a timestamp authority).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sigstore::crypto::{SigStoreSigner, SigningScheme};
use thv_core::signature::tlog::{leaf_hash, node_hash};

use super::public_der;

/// A Rekor v2 log.
pub struct Rekor2 {
    signer: SigStoreSigner,
    /// The log's origin (its URL without the scheme): the checkpoint's first line and signer name.
    pub origin: String,
}

/// A Rekor v2 verifier of a certificate (DER), as `hashedrekord` / `dsse` 0.0.2 bodies record it.
pub fn certificate_verifier(cert_der: &[u8]) -> Value {
    json!({"keyDetails": "PKIX_ECDSA_P256_SHA_256", "x509Certificate": {"rawBytes": B64.encode(cert_der)}})
}

/// A `hashedrekord` 0.0.2 body: the signed data's SHA-256, the signature and its verifier.
pub fn hashedrekord_body(digest: &[u8], signature: &[u8], verifier: Value) -> Value {
    json!({"apiVersion": "0.0.2", "kind": "hashedrekord", "spec": {"hashedRekordV002": {
        "data": {"algorithm": "SHA2_256", "digest": B64.encode(digest)},
        "signature": {"content": B64.encode(signature), "verifier": verifier}}}})
}

/// A `dsse` 0.0.2 body: the payload's SHA-256 and the envelope's signatures with their verifier.
pub fn dsse_body(payload: &[u8], signatures: &[&[u8]], verifier: Value) -> Value {
    let signatures: Vec<Value> = signatures
        .iter()
        .map(|s| json!({"content": B64.encode(s), "verifier": verifier}))
        .collect();
    json!({"apiVersion": "0.0.2", "kind": "dsse", "spec": {"dsseV002": {
        "payloadHash": {"algorithm": "SHA2_256", "digest": B64.encode(Sha256::digest(payload))},
        "signatures": signatures}}})
}

impl Rekor2 {
    pub fn new(origin: &str) -> Self {
        Self {
            signer: SigningScheme::ED25519.create_signer().unwrap(),
            origin: origin.to_owned(),
        }
    }

    /// The signed-note key id: SHA-256(origin ‖ 0x0A ‖ 0x01 ‖ Ed25519 key).
    pub fn key_id(&self) -> Vec<u8> {
        let der = public_der(&self.signer);
        let mut h = Sha256::new();
        h.update(self.origin.as_bytes());
        h.update([0x0a, 0x01]);
        h.update(&der[der.len() - 32..]);
        h.finalize().to_vec()
    }

    /// The log as a `trusted_root.json` `tlogs[]` item.
    pub fn description(&self, valid_for: Value) -> Value {
        json!({"baseUrl": format!("https://{}", self.origin), "hashAlgorithm": "SHA2_256",
               "publicKey": {"rawBytes": B64.encode(public_der(&self.signer)), "keyDetails": "PKIX_ED25519",
                             "validFor": valid_for},
               "logId": {"keyId": B64.encode(self.key_id())}})
    }

    /// A checkpoint (signed note) of a tree of `size` leaves with `root`.
    pub fn checkpoint(&self, size: u64, root: &[u8]) -> String {
        let note = format!("{}\n{size}\n{}\n", self.origin, B64.encode(root));
        let signature = self.signer.sign(note.as_bytes()).unwrap();
        let hint = &self.key_id()[..4];
        format!(
            "{note}\n\u{2014} {} {}\n",
            self.origin,
            B64.encode([hint, &signature[..]].concat())
        )
    }

    /// Logs `body` as leaf 1 of a three-leaf tree: the bundle's `tlogEntries[]` item (no signed entry timestamp,
    /// no integrated time).
    pub fn entry(&self, body: &Value) -> Value {
        let canonical = serde_json_canonicalizer::to_vec(body).unwrap();
        let leaves = [
            leaf_hash(b"leaf 0"),
            leaf_hash(&canonical),
            leaf_hash(b"leaf 2"),
        ];
        // RFC 6962: root = H(H(l0, l1), l2); leaf 1's audit path is [l0, l2].
        let root = node_hash(&node_hash(&leaves[0], &leaves[1]), &leaves[2]);
        json!({"logIndex": "1", "logId": {"keyId": B64.encode(self.key_id())},
               "kindVersion": {"kind": body["kind"], "version": "0.0.2"},
               "inclusionProof": {"logIndex": "1", "rootHash": B64.encode(root), "treeSize": "3",
                                  "hashes": [B64.encode(leaves[0]), B64.encode(leaves[2])],
                                  "checkpoint": {"envelope": self.checkpoint(3, &root)}},
               "canonicalizedBody": B64.encode(&canonical)})
    }
}
