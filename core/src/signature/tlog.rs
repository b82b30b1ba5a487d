//! Transparency-log entries of sigstore bundles, checked offline against the trusted root's log keys — what
//! `sigstore`'s bundle verifier leaves out (sigstore-rs#285):
//!
//! - the **inclusion proof**: the entry's leaf hash (`SHA-256(0x00 || canonicalizedBody)`) and its audit path
//!   lead to the proof's root hash (RFC 6962 / RFC 9162 §2.1.3.2);
//! - the **checkpoint**: a signed note (`origin\ntree size\nbase64(root hash)\n…`, then `— name
//!   base64(key hint ‖ signature)` lines) whose size and root are the proof's, signed by the log's key (the
//!   key hint: the first 4 bytes of SHA-256 of its DER public key);
//! - the **signed entry timestamp** (inclusion promise), when present: the log's signature over the RFC 8785
//!   canonical JSON `{"body", "integratedTime", "logID", "logIndex"}`, which authenticates `integratedTime`.
//!
//! Which of them an entry must carry is the caller's [`Evidence`]: bundles carry an inclusion proof; cosign's
//! tag-stored image signatures (`sha256-<digest>.sig`) carry only the signed entry timestamp, which is then
//! required.
//!
//! The log is the trusted root's `tlogs` entry whose `logId.keyId` is the entry's.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sigstore::crypto::{CosignVerificationKey, Signature};
use sigstore_protobuf_specs::dev::sigstore::rekor::v1::{InclusionPromise, TransparencyLogEntry};
use thiserror::Error;

/// A transparency log's verification key, from a trusted root.
pub struct LogKey {
    /// `logId.keyId`: SHA-256 of the key's DER form.
    pub key_id: Vec<u8>,
    pub der: Vec<u8>,
    pub key: CosignVerificationKey,
}

/// Why a log entry was refused.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum TlogError {
    #[error("invalid trusted root: {0}")]
    TrustedRoot(String),
    #[error("the bundle has no transparency log entry")]
    NoEntry,
    #[error("the log entry is from a log the trusted root does not know (log id {0})")]
    UnknownLog(String),
    #[error("the log entry has no inclusion proof")]
    NoInclusionProof,
    #[error("the log entry has neither an inclusion proof nor a signed entry timestamp")]
    NoInclusionProofOrTimestamp,
    #[error("the inclusion proof does not lead to its root hash: {0}")]
    InclusionProof(String),
    #[error("the checkpoint is invalid: {0}")]
    Checkpoint(String),
    #[error("the signed entry timestamp does not verify with the log's key")]
    SignedEntryTimestamp,
}

/// The transparency logs' keys of a `trusted_root.json` (`tlogs[].publicKey.rawBytes`, `logId.keyId`).
pub fn log_keys(trusted_root: &[u8]) -> Result<Vec<LogKey>, TlogError> {
    let root: Value =
        serde_json::from_slice(trusted_root).map_err(|e| TlogError::TrustedRoot(e.to_string()))?;
    let tlogs = root["tlogs"]
        .as_array()
        .ok_or_else(|| TlogError::TrustedRoot("no tlogs".into()))?;
    let mut out = Vec::new();
    for (i, t) in tlogs.iter().enumerate() {
        let field = |path: &str, v: &Value| {
            v.as_str()
                .and_then(|s| B64.decode(s).ok())
                .ok_or_else(|| TlogError::TrustedRoot(format!("tlogs[{i}].{path}: not base64")))
        };
        let der = field("publicKey.rawBytes", &t["publicKey"]["rawBytes"])?;
        let key_id = field("logId.keyId", &t["logId"]["keyId"])?;
        let key = CosignVerificationKey::try_from_der(&der)
            .map_err(|e| TlogError::TrustedRoot(format!("tlogs[{i}].publicKey: {e}")))?;
        out.push(LogKey { key_id, der, key });
    }
    Ok(out)
}

/// What a log entry must carry to prove it was logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// An inclusion proof with its signed checkpoint (sigstore bundles).
    InclusionProof,
    /// An inclusion proof, or else a signed entry timestamp (cosign's legacy image signatures carry only that).
    InclusionProofOrTimestamp,
}

/// Checks one log entry (see the module documentation).
pub fn verify_entry(
    entry: &TransparencyLogEntry,
    keys: &[LogKey],
    evidence: Evidence,
) -> Result<(), TlogError> {
    let key_id = entry
        .log_id
        .as_ref()
        .map(|l| l.key_id.clone())
        .unwrap_or_default();
    let log = keys
        .iter()
        .find(|k| k.key_id == key_id)
        .ok_or_else(|| TlogError::UnknownLog(hex::encode(&key_id)))?;

    let Some(proof) = &entry.inclusion_proof else {
        return match (evidence, &entry.inclusion_promise) {
            (Evidence::InclusionProof, _) => Err(TlogError::NoInclusionProof),
            (Evidence::InclusionProofOrTimestamp, Some(promise)) => {
                verify_promise(entry, promise, log, &key_id)
            }
            (Evidence::InclusionProofOrTimestamp, None) => {
                Err(TlogError::NoInclusionProofOrTimestamp)
            }
        };
    };
    let leaf = leaf_hash(&entry.canonicalized_body);
    verify_inclusion(
        proof.log_index,
        proof.tree_size,
        &leaf,
        &proof.hashes,
        &proof.root_hash,
    )
    .map_err(TlogError::InclusionProof)?;
    let envelope = proof
        .checkpoint
        .as_ref()
        .map(|c| c.envelope.as_str())
        .ok_or_else(|| TlogError::Checkpoint("missing".into()))?;
    verify_checkpoint(envelope, log, proof.tree_size, &proof.root_hash)
        .map_err(TlogError::Checkpoint)?;

    if let Some(promise) = &entry.inclusion_promise {
        verify_promise(entry, promise, log, &key_id)?;
    }
    Ok(())
}

/// The entry's signed entry timestamp against the log's key.
fn verify_promise(
    entry: &TransparencyLogEntry,
    promise: &InclusionPromise,
    log: &LogKey,
    key_id: &[u8],
) -> Result<(), TlogError> {
    let payload = json!({
        "body": B64.encode(&entry.canonicalized_body),
        "integratedTime": entry.integrated_time,
        "logID": hex::encode(key_id),
        "logIndex": entry.log_index,
    });
    let bytes =
        serde_json_canonicalizer::to_vec(&payload).map_err(|_| TlogError::SignedEntryTimestamp)?;
    log.key
        .verify_signature(Signature::Raw(&promise.signed_entry_timestamp), &bytes)
        .map_err(|_| TlogError::SignedEntryTimestamp)
}

/// RFC 6962 leaf hash.
pub fn leaf_hash(data: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// RFC 6962 interior node hash.
pub fn node_hash(left: &[u8], right: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// RFC 9162 §2.1.3.2: whether `proof` is the audit path of the leaf at `index` in a tree of `size` leaves
/// with root `root`.
pub fn verify_inclusion(
    index: i64,
    size: i64,
    leaf: &[u8; 32],
    proof: &[Vec<u8>],
    root: &[u8],
) -> Result<(), String> {
    let (Ok(index), Ok(size)) = (u64::try_from(index), u64::try_from(size)) else {
        return Err("negative index or size".into());
    };
    if index >= size {
        return Err(format!("index {index} is not below the tree size {size}"));
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if p.len() != 32 {
            return Err("a proof hash is not 32 bytes".into());
        }
        if s == 0 {
            return Err("the proof is longer than the tree is deep".into());
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err("the proof is shorter than the tree is deep".into());
    }
    if r.as_slice() != root {
        return Err(format!(
            "computed root {} differs from {}",
            hex::encode(r),
            hex::encode(root)
        ));
    }
    Ok(())
}

/// A checkpoint (signed note): its size and root are the proof's, and one of its signatures is the log's.
fn verify_checkpoint(envelope: &str, log: &LogKey, size: i64, root: &[u8]) -> Result<(), String> {
    let (body, signatures) = envelope
        .split_once("\n\n")
        .ok_or("no blank line between the note and its signatures")?;
    let text = format!("{body}\n");
    let mut lines = body.lines();
    let _origin = lines.next().ok_or("no origin line")?;
    let tree_size: i64 = lines
        .next()
        .and_then(|l| l.parse().ok())
        .ok_or("no tree size line")?;
    let root_line = lines.next().ok_or("no root hash line")?;
    if tree_size != size {
        return Err(format!(
            "its tree size {tree_size} is not the proof's {size}"
        ));
    }
    if B64.decode(root_line).ok().as_deref() != Some(root) {
        return Err("its root hash is not the proof's".into());
    }
    let hint = &Sha256::digest(&log.der)[..4];
    for line in signatures.lines() {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            continue;
        };
        let Some((_name, sig)) = rest.rsplit_once(' ') else {
            continue;
        };
        let Ok(raw) = B64.decode(sig) else { continue };
        if raw.len() > 4
            && &raw[..4] == hint
            && log
                .key
                .verify_signature(Signature::Raw(&raw[4..]), text.as_bytes())
                .is_ok()
        {
            return Ok(());
        }
    }
    Err("no signature of the log's key verifies".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6962 §2.1: the Merkle tree hash of `leaves`.
    fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
        match leaves.len() {
            0 => Sha256::digest([]).into(),
            1 => leaves[0],
            n => {
                let k = largest_power_of_two_below(n);
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    /// RFC 6962 §2.1.1: the audit path of leaf `m`.
    fn path(m: usize, leaves: &[[u8; 32]]) -> Vec<Vec<u8>> {
        let n = leaves.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = largest_power_of_two_below(n);
        if m < k {
            let mut p = path(m, &leaves[..k]);
            p.push(mth(&leaves[k..]).to_vec());
            p
        } else {
            let mut p = path(m - k, &leaves[k..]);
            p.push(mth(&leaves[..k]).to_vec());
            p
        }
    }

    fn largest_power_of_two_below(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    #[test]
    fn inclusion_proofs_of_every_leaf_of_small_trees() {
        for n in 1..=33usize {
            let leaves: Vec<[u8; 32]> = (0..n).map(|i| leaf_hash(&[i as u8])).collect();
            let root = mth(&leaves);
            for m in 0..n {
                let p = path(m, &leaves);
                verify_inclusion(m as i64, n as i64, &leaves[m], &p, &root)
                    .unwrap_or_else(|e| panic!("n={n} m={m}: {e}"));
                // Another leaf, index, size or hash: refused.
                let other = leaf_hash(b"other");
                assert!(verify_inclusion(m as i64, n as i64, &other, &p, &root).is_err());
                if n > 1 {
                    let wrong = (m + 1) % n;
                    assert!(
                        verify_inclusion(wrong as i64, n as i64, &leaves[m], &p, &root).is_err()
                            || path(wrong, &leaves) == p
                    );
                    let mut bad = p.clone();
                    bad[0][0] ^= 1;
                    assert!(verify_inclusion(m as i64, n as i64, &leaves[m], &bad, &root).is_err());
                }
            }
        }
        assert!(verify_inclusion(3, 3, &leaf_hash(b"x"), &[], &[0; 32]).is_err());
    }
}
