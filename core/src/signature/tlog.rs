//! Transparency-log entries of sigstore bundles, checked offline against the trusted root's logs — what
//! `sigstore`'s bundle verifier leaves out (sigstore-rs#285), for Rekor v1 and v2 logs alike:
//!
//! - the **inclusion proof**: the entry's leaf hash (`SHA-256(0x00 || canonicalizedBody)`) and its audit path
//!   lead to the proof's root hash (RFC 6962 / RFC 9162 §2.1.3.2);
//! - the **checkpoint**: a signed note (`origin\ntree size\nbase64(root hash)\n…`, then `— name
//!   base64(key hint ‖ signature)` lines) whose size and root are the proof's, signed by the log's key (the key
//!   hint: the first 4 bytes of the log's id — SHA-256 of its DER key for Rekor v1, the signed-note key id of a
//!   Rekor v2 log's Ed25519 key; see [`super::trust`]);
//! - the **signed entry timestamp** (inclusion promise), when present: the log's signature over the RFC 8785
//!   canonical JSON `{"body", "integratedTime", "logID", "logIndex"}`, which authenticates `integratedTime`.
//!   Rekor v2 entries have none (their time comes from a timestamp authority).
//!
//! Which of them an entry must carry is the caller's [`Evidence`]: v0.2+ bundles carry an inclusion proof;
//! v0.1 bundles a signed entry timestamp; cosign's tag-stored image signatures (`sha256-<digest>.sig`) carry only
//! the signed entry timestamp.
//!
//! The log is the trusted root's `tlogs` entry the entry's `logId.keyId` names.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};
use sigstore_protobuf_specs::dev::sigstore::rekor::v1::{InclusionPromise, TransparencyLogEntry};
use thiserror::Error;

use super::keys::{KeyAlgorithm, PublicKey};
use super::trust::{TransparencyLog, TrustedRoot, UnusableKey};

/// Why a log entry was refused.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum TlogError {
    #[error("the bundle has no transparency log entry")]
    NoEntry,
    #[error("the log entry is from a log the trusted root does not know (log id {0})")]
    UnknownLog(String),
    #[error("the trusted root's key of the log {log} is unusable: {reason}")]
    UnusableKey { log: String, reason: UnusableKey },
    #[error("the log entry has no inclusion proof")]
    NoInclusionProof,
    #[error("the log entry has no signed entry timestamp (a v0.1 bundle's entries need one)")]
    NoSignedEntryTimestamp,
    #[error("the log entry has neither an inclusion proof nor a signed entry timestamp")]
    NoInclusionProofOrTimestamp,
    #[error("the inclusion proof does not lead to its root hash: {0}")]
    InclusionProof(InclusionProofError),
    #[error("the checkpoint is invalid: {0}")]
    Checkpoint(CheckpointError),
    #[error("the signed entry timestamp does not verify with the log's key")]
    SignedEntryTimestamp,
    #[error("the bundle lists the log entry {0} twice")]
    Duplicate(String),
}

/// Why an inclusion proof does not lead to its root hash (RFC 9162 §2.1.3.2).
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum InclusionProofError {
    #[error("negative index or size")]
    Negative,
    #[error("index {index} is not below the tree size {size}")]
    IndexOutsideTree { index: u64, size: u64 },
    #[error("a proof hash is not 32 bytes")]
    HashLength,
    #[error("the proof is longer than the tree is deep")]
    TooLong,
    #[error("the proof is shorter than the tree is deep")]
    TooShort,
    #[error("computed root {computed} differs from {expected}")]
    RootMismatch { computed: String, expected: String },
}

/// Why a checkpoint (a C2SP signed note) is not the log's word on the proof.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum CheckpointError {
    #[error("missing")]
    Missing,
    #[error("no blank line between the note and its signatures")]
    NoBlankLine,
    #[error("no origin line")]
    NoOrigin,
    #[error("no tree size line")]
    NoTreeSize,
    #[error("no root hash line")]
    NoRootHash,
    #[error("its tree size {found} is not the proof's {proof}")]
    TreeSize { found: i64, proof: i64 },
    #[error("its root hash is not the proof's")]
    RootHash,
    #[error("the signature of the log ({origin}) does not verify with its key")]
    SignatureMismatch { origin: String },
    #[error("no signature of the log's key ({origin}): no line carries its key hint")]
    NoLogSignature { origin: String },
}

/// What a log entry must carry to prove it was logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// An inclusion proof with its signed checkpoint (sigstore bundles).
    InclusionProof,
    /// An inclusion proof, or else a signed entry timestamp (cosign's legacy image signatures carry only that).
    InclusionProofOrTimestamp,
    /// A signed entry timestamp; an inclusion proof, when present, is checked too (v0.1 bundles).
    SignedEntryTimestamp,
}

/// A verified log entry: its log, and the integration time its signed entry timestamp vouches for (none without a
/// signed entry timestamp: Rekor v2 entries have no time of their own).
#[derive(Debug, Clone)]
pub struct LoggedEntry<'a> {
    pub log: &'a TransparencyLog,
    pub integrated_time: Option<DateTime<Utc>>,
}

/// Checks one log entry against the trusted root's logs (see the module documentation).
pub fn verify_entry<'a>(
    entry: &TransparencyLogEntry,
    trust: &'a TrustedRoot,
    evidence: Evidence,
) -> Result<LoggedEntry<'a>, TlogError> {
    let key_id = entry
        .log_id
        .as_ref()
        .map(|l| l.key_id.clone())
        .unwrap_or_default();
    let log = trust
        .tlog(&key_id)
        .ok_or_else(|| TlogError::UnknownLog(hex::encode(&key_id)))?;
    let key = log.key.as_ref().map_err(|reason| TlogError::UnusableKey {
        log: log.base_url.clone(),
        reason: reason.clone(),
    })?;
    let promise = entry.inclusion_promise.as_ref();
    match (&entry.inclusion_proof, promise, evidence) {
        (None, _, Evidence::InclusionProof) => return Err(TlogError::NoInclusionProof),
        (_, None, Evidence::SignedEntryTimestamp) => {
            return Err(TlogError::NoSignedEntryTimestamp);
        }
        (None, None, _) => return Err(TlogError::NoInclusionProofOrTimestamp),
        _ => {}
    }
    if let Some(proof) = &entry.inclusion_proof {
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
            .filter(|e| !e.is_empty())
            .ok_or(TlogError::Checkpoint(CheckpointError::Missing))?;
        verify_checkpoint(envelope, log, key, proof.tree_size, &proof.root_hash)
            .map_err(TlogError::Checkpoint)?;
    }
    let mut integrated_time = None;
    if let Some(promise) = promise {
        verify_promise(entry, promise, key, &key_id)?;
        integrated_time = DateTime::from_timestamp(entry.integrated_time, 0)
            .filter(|_| entry.integrated_time > 0);
    }
    Ok(LoggedEntry {
        log,
        integrated_time,
    })
}

/// The entry's signed entry timestamp against the log's key.
fn verify_promise(
    entry: &TransparencyLogEntry,
    promise: &InclusionPromise,
    key: &PublicKey,
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
    key.verify(&bytes, &promise.signed_entry_timestamp, key.default_hash())
        .map_err(|_| TlogError::SignedEntryTimestamp)
}

/// The C2SP signed-note key hint of an Ed25519 key signing as `name`: the first 4 bytes of
/// `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ key)`.
fn note_key_hint(name: &str, key: &PublicKey) -> [u8; 4] {
    let der = key.der();
    let raw = &der[der.len().saturating_sub(32)..];
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0a, 0x01]);
    h.update(raw);
    let id = h.finalize();
    [id[0], id[1], id[2], id[3]]
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
) -> Result<(), InclusionProofError> {
    let (Ok(index), Ok(size)) = (u64::try_from(index), u64::try_from(size)) else {
        return Err(InclusionProofError::Negative);
    };
    if index >= size {
        return Err(InclusionProofError::IndexOutsideTree { index, size });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if p.len() != 32 {
            return Err(InclusionProofError::HashLength);
        }
        if s == 0 {
            return Err(InclusionProofError::TooLong);
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
        return Err(InclusionProofError::TooShort);
    }
    if r.as_slice() != root {
        return Err(InclusionProofError::RootMismatch {
            computed: hex::encode(r),
            expected: hex::encode(root),
        });
    }
    Ok(())
}

/// A checkpoint (signed note): its size and root are the proof's, and one of its signatures is the log's (its key
/// hint is the first 4 bytes of an id of the log; other lines, e.g. witnesses' cosignatures, are not the log's).
fn verify_checkpoint(
    envelope: &str,
    log: &TransparencyLog,
    key: &PublicKey,
    size: i64,
    root: &[u8],
) -> Result<(), CheckpointError> {
    let (body, signatures) = envelope
        .split_once("\n\n")
        .ok_or(CheckpointError::NoBlankLine)?;
    let text = format!("{body}\n");
    let mut lines = body.lines();
    let origin = lines
        .next()
        .filter(|o| !o.is_empty())
        .ok_or(CheckpointError::NoOrigin)?;
    let tree_size: i64 = lines
        .next()
        .and_then(|l| l.parse().ok())
        .ok_or(CheckpointError::NoTreeSize)?;
    let root_line = lines.next().ok_or(CheckpointError::NoRootHash)?;
    if tree_size != size {
        return Err(CheckpointError::TreeSize {
            found: tree_size,
            proof: size,
        });
    }
    if B64.decode(root_line).ok().as_deref() != Some(root) {
        return Err(CheckpointError::RootHash);
    }
    let mut hinted = false;
    for line in signatures.lines() {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            continue;
        };
        let Some((name, sig)) = rest.rsplit_once(' ') else {
            continue;
        };
        let Ok(raw) = B64.decode(sig) else { continue };
        if raw.len() <= 4
            || !log
                .ids
                .iter()
                .any(|id| id.len() >= 4 && id[..4] == raw[..4])
        {
            continue;
        }
        // C2SP signed-note: an Ed25519 key's hint is of the signer's name and key, so a line under another name
        // than the one the log signs as is not the log's signature, whatever its hint and signature bytes.
        if key.algorithm() == KeyAlgorithm::Ed25519 && note_key_hint(name, key) != raw[..4] {
            continue;
        }
        hinted = true;
        if key
            .verify(text.as_bytes(), &raw[4..], key.default_hash())
            .is_ok()
        {
            return Ok(());
        }
    }
    let origin = origin.to_owned();
    Err(if hinted {
        CheckpointError::SignatureMismatch { origin }
    } else {
        CheckpointError::NoLogSignature { origin }
    })
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
