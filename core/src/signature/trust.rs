//! A Sigstore `trusted_root.json` (protobuf-specs `TrustedRoot`, JSON), read once: the certificate authorities
//! (Fulcio), transparency logs (Rekor v1 and v2), CT logs and timestamp authorities, each with the time range it
//! is trusted for (`validFor`, a closed interval: a time equal to `end` is inside).
//!
//! A log is identified by its `logId.keyId`; for a Rekor v2 log (an Ed25519 checkpoint key) that id is the
//! signed-note key id (C2SP `signed-note`: SHA-256 of `origin ‖ 0x0A ‖ 0x01 ‖ key`, the origin being the log's URL
//! without its scheme), for older logs SHA-256 of the key's DER. Trusted roots written before that convention
//! list a v2 log under the DER hash, so a log answers to its configured id, its DER hash and (Ed25519) its
//! note id.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::keys::{KeyAlgorithm, KeyError, PublicKey};

/// Why a trusted root was refused.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum TrustError {
    #[error("invalid trusted root: {0}")]
    Malformed(String),
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
}

/// Why a log's key in the trusted root is unusable (reported when an entry names that log).
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("{field}: {error}")]
pub struct UnusableKey {
    /// The key's field in the trusted root (`tlogs[0].publicKey`).
    pub field: String,
    pub error: KeyError,
}

/// A closed time range (`validFor`): `end` absent is open-ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
}

impl TimeRange {
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        t >= self.start && self.end.is_none_or(|end| t <= end)
    }
}

impl std::fmt::Display for TimeRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.end {
            Some(end) => write!(f, "{} .. {}", self.start.to_rfc3339(), end.to_rfc3339()),
            None => write!(f, "from {}", self.start.to_rfc3339()),
        }
    }
}

/// A transparency log (Rekor) or CT log of the trusted root.
#[derive(Debug, Clone)]
pub struct TransparencyLog {
    pub base_url: String,
    /// The key, or why it is unusable (an unsupported key is reported when an entry names this log).
    pub key: Result<PublicKey, UnusableKey>,
    /// The ids this log answers to (see the module documentation).
    pub ids: Vec<Vec<u8>>,
    pub valid: Option<TimeRange>,
}

impl TransparencyLog {
    pub fn answers_to(&self, id: &[u8]) -> bool {
        self.ids.iter().any(|i| i == id)
    }

    /// The log's origin: its URL without the scheme (the checkpoint signer name of Rekor v2 logs).
    pub fn origin(&self) -> &str {
        let url = self.base_url.trim_end_matches('/');
        url.split_once("://").map_or(url, |(_, rest)| rest)
    }
}

/// A certificate authority (Fulcio) or timestamp authority of the trusted root: its chain, leaf first (for a
/// timestamp authority, the TSA's signing certificate) and root last.
#[derive(Debug, Clone)]
pub struct CertificateAuthority {
    pub uri: String,
    pub certs: Vec<Vec<u8>>,
    pub valid: Option<TimeRange>,
}

/// A parsed `trusted_root.json`.
#[derive(Debug, Clone, Default)]
pub struct TrustedRoot {
    pub tlogs: Vec<TransparencyLog>,
    pub ctlogs: Vec<TransparencyLog>,
    pub certificate_authorities: Vec<CertificateAuthority>,
    pub timestamp_authorities: Vec<CertificateAuthority>,
}

fn bad(msg: impl Into<String>) -> TrustError {
    TrustError::Malformed(msg.into())
}

fn b64_field(v: &Value, path: &str) -> Result<Vec<u8>, TrustError> {
    v.as_str()
        .and_then(|s| B64.decode(s).ok())
        .ok_or_else(|| bad(format!("{path}: missing or not base64")))
}

fn time(v: &Value, path: &str) -> Result<DateTime<Utc>, TrustError> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| bad(format!("{path}: not an RFC 3339 time")))
}

/// `validFor`: absent is no constraint; present, it needs its `start` (a missing bound is not unbounded).
fn time_range(v: &Value, path: &str) -> Result<Option<TimeRange>, TrustError> {
    if v.is_null() {
        return Ok(None);
    }
    if v["start"].is_null() {
        return Err(bad(format!(
            "{path}.start: missing (a validity range needs its start)"
        )));
    }
    let start = time(&v["start"], &format!("{path}.start"))?;
    let end = match &v["end"] {
        Value::Null => None,
        e => Some(time(e, &format!("{path}.end"))?),
    };
    if end.is_some_and(|e| e < start) {
        return Err(bad(format!("{path}: ends before it starts")));
    }
    Ok(Some(TimeRange { start, end }))
}

fn logs(root: &Value, field: &str) -> Result<Vec<TransparencyLog>, TrustError> {
    let Some(list) = root[field].as_array() else {
        return Ok(Vec::new());
    };
    list.iter()
        .enumerate()
        .map(|(i, t)| {
            let path = format!("{field}[{i}]");
            let der = b64_field(
                &t["publicKey"]["rawBytes"],
                &format!("{path}.publicKey.rawBytes"),
            )?;
            let valid = time_range(
                &t["publicKey"]["validFor"],
                &format!("{path}.publicKey.validFor"),
            )?;
            let base_url = t["baseUrl"].as_str().unwrap_or_default().to_owned();
            let key = PublicKey::from_der(&der).map_err(|error| UnusableKey {
                field: format!("{path}.publicKey"),
                error,
            });
            let mut ids = Vec::new();
            if !t["logId"]["keyId"].is_null() {
                ids.push(b64_field(
                    &t["logId"]["keyId"],
                    &format!("{path}.logId.keyId"),
                )?);
            }
            ids.push(Sha256::digest(&der).to_vec());
            let mut log = TransparencyLog {
                base_url,
                key,
                ids,
                valid,
            };
            if let Ok(k) = &log.key
                && k.algorithm() == KeyAlgorithm::Ed25519
                && der.len() >= 32
            {
                let mut h = Sha256::new();
                h.update(log.origin().as_bytes());
                h.update([0x0a, 0x01]);
                h.update(&der[der.len() - 32..]);
                log.ids.push(h.finalize().to_vec());
            }
            Ok(log)
        })
        .collect()
}

fn authorities(root: &Value, field: &str) -> Result<Vec<CertificateAuthority>, TrustError> {
    let Some(list) = root[field].as_array() else {
        return Ok(Vec::new());
    };
    list.iter()
        .enumerate()
        .map(|(i, a)| {
            let path = format!("{field}[{i}]");
            let certs = a["certChain"]["certificates"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .enumerate()
                .map(|(j, c)| {
                    b64_field(
                        &c["rawBytes"],
                        &format!("{path}.certChain.certificates[{j}].rawBytes"),
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(CertificateAuthority {
                uri: a["uri"].as_str().unwrap_or_default().to_owned(),
                certs,
                valid: time_range(&a["validFor"], &format!("{path}.validFor"))?,
            })
        })
        .collect()
}

impl TrustedRoot {
    /// A `trusted_root.json`'s content.
    pub fn from_json(json: &[u8]) -> Result<Self, TrustError> {
        let root: Value = serde_json::from_slice(json).map_err(|e| bad(e.to_string()))?;
        if !root.is_object() {
            return Err(bad("not a JSON object"));
        }
        match &root["mediaType"] {
            Value::Null => {}
            Value::String(t) if t.starts_with("application/vnd.dev.sigstore.trustedroot") => {}
            other => {
                return Err(bad(format!(
                    "mediaType: {other} is not a sigstore trusted root's (application/vnd.dev.sigstore.trustedroot+json)"
                )));
            }
        }
        let parsed = Self {
            tlogs: logs(&root, "tlogs")?,
            ctlogs: logs(&root, "ctlogs")?,
            certificate_authorities: authorities(&root, "certificateAuthorities")?,
            timestamp_authorities: authorities(&root, "timestampAuthorities")?,
        };
        if parsed.tlogs.is_empty() && parsed.certificate_authorities.is_empty() {
            return Err(bad(
                "it names no transparency log (tlogs) and no certificate authority (certificateAuthorities): \
                 nothing could be verified against it",
            ));
        }
        Ok(parsed)
    }

    /// A `trusted_root.json` file; the error names the file.
    pub fn from_file(path: &Path) -> Result<Self, TrustError> {
        let file = |reason: String| TrustError::File {
            path: path.display().to_string(),
            reason,
        };
        let json = std::fs::read(path).map_err(|e| file(e.to_string()))?;
        Self::from_json(&json).map_err(|e| file(e.to_string()))
    }

    /// The transparency log an entry's `logId` names.
    pub fn tlog(&self, id: &[u8]) -> Option<&TransparencyLog> {
        self.tlogs.iter().find(|l| l.answers_to(id))
    }

    /// The CT log an SCT's log id names.
    pub fn ctlog(&self, id: &[u8]) -> Option<&TransparencyLog> {
        self.ctlogs.iter().find(|l| l.answers_to(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `{}` and `{"mediaType": 5}` were taken as trusted roots (against which nothing verifies).
    #[test]
    fn a_root_that_names_nothing_or_another_type_is_refused() {
        for bad in [
            json!({}),
            json!({"mediaType": 5}),
            json!({"mediaType": "application/json"}),
        ] {
            let e = TrustedRoot::from_json(bad.to_string().as_bytes())
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("mediaType") || e.contains("no transparency log"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn the_public_good_root_and_its_rekor_v2_log() {
        let root =
            TrustedRoot::from_json(super::super::keyless::PUBLIC_GOOD_TRUSTED_ROOT.as_bytes())
                .unwrap();
        assert_eq!(root.tlogs.len(), 2);
        let v2 = &root.tlogs[1];
        assert_eq!(v2.origin(), "log2025-1.rekor.sigstore.dev");
        assert_eq!(v2.key.as_ref().unwrap().algorithm(), KeyAlgorithm::Ed25519);
        // Its configured id is the signed-note key id, which is also computed from origin and key.
        assert_eq!(v2.ids[0], v2.ids[2]);
        assert_eq!(root.timestamp_authorities.len(), 1);
        assert_eq!(root.timestamp_authorities[0].certs.len(), 2);
    }

    #[test]
    fn validity_ranges_are_closed_and_need_their_start() {
        let r = time_range(
            &json!({"start": "2025-01-01T00:00:00Z", "end": "2025-02-01T00:00:00Z"}),
            "x",
        )
        .unwrap()
        .unwrap();
        let end = DateTime::parse_from_rfc3339("2025-02-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert!(r.contains(end));
        assert!(!r.contains(end + chrono::Duration::seconds(1)));
        assert!(time_range(&Value::Null, "x").unwrap().is_none());
        let err = TrustedRoot::from_json(
            json!({"tlogs": [{"baseUrl": "https://rekor.test",
                "publicKey": {"rawBytes": "AAAA", "validFor": {"end": "2025-02-01T00:00:00Z"}},
                "logId": {"keyId": "AAAA"}}]})
            .to_string()
            .as_bytes(),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("tlogs[0].publicKey.validFor.start: missing"),
            "{err}"
        );
    }
}
