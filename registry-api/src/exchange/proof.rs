//! Domain proofs, as the official registry checks them for `POST /v0/auth/dns` and `/v0/auth/http`: the client
//! signs the current RFC 3339 timestamp with a key whose public half the domain publishes in a proof record
//! (`v=MCPv1; k=ed25519; p=<base64 public key>`, in a DNS TXT record or the `/.well-known/mcp-registry-auth`
//! file); the timestamp must be within ±15 s of now; the signature is sent hex-encoded.

use base64::Engine;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};

/// How far the signed timestamp may be from now, as upstream.
pub const MAX_SKEW_SECONDS: i64 = 15;

/// Why a proof was refused (each becomes a 401 naming it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error(
        "invalid domain '{0}': expected a DNS name (letters, digits, '-', '.'; at most 253 characters)"
    )]
    Domain(String),
    #[error("invalid timestamp '{0}': expected RFC 3339 (2026-01-02T03:04:05Z)")]
    Timestamp(String),
    #[error(
        "the timestamp is {0} s away from the registry's clock; at most {MAX_SKEW_SECONDS} s is accepted"
    )]
    Skew(i64),
    #[error("signed_timestamp is not hex: {0}")]
    SignatureEncoding(String),
    #[error("no proof record (v=MCPv1; k=ed25519; p=<base64 public key>) found for {0}")]
    NoRecord(String),
    #[error("the signature verifies with none of the {0} public key(s) the domain publishes")]
    BadSignature(usize),
}

/// A public key a domain publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofKey {
    Ed25519([u8; 32]),
    /// A compressed SEC1 point (49 bytes); the signature is `R||S` (96 bytes) over SHA-384 of the timestamp.
    EcdsaP384(Vec<u8>),
}

/// Upstream's domain rule.
pub fn check_domain(domain: &str) -> Result<(), ProofError> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if domain.is_empty() || domain.len() > 253 || !domain.split('.').all(label_ok) {
        return Err(ProofError::Domain(domain.to_owned()));
    }
    Ok(())
}

/// The timestamp within the window of `now`.
pub fn check_timestamp(timestamp: &str, now: DateTime<Utc>) -> Result<(), ProofError> {
    let t = DateTime::parse_from_rfc3339(timestamp)
        .map_err(|_| ProofError::Timestamp(timestamp.to_owned()))?;
    let skew = (now - t.with_timezone(&Utc)).num_seconds();
    if skew.abs() > MAX_SKEW_SECONDS {
        return Err(ProofError::Skew(skew));
    }
    Ok(())
}

/// The keys of the proof records among `records` (other text is ignored, as TXT records hold other things).
pub fn parse_records<'a>(records: impl IntoIterator<Item = &'a str>) -> Vec<ProofKey> {
    let mut keys = Vec::new();
    for record in records {
        let mut version = None;
        let mut kind = None;
        let mut public = None;
        for part in record.split(';') {
            let Some((k, v)) = part.trim().split_once('=') else {
                continue;
            };
            match k.trim() {
                "v" => version = Some(v.trim()),
                "k" => kind = Some(v.trim()),
                "p" => public = Some(v.trim()),
                _ => {}
            }
        }
        let (Some("MCPv1"), Some(kind), Some(public)) = (version, kind, public) else {
            continue;
        };
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(public) else {
            continue;
        };
        match kind {
            "ed25519" => {
                if let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice()) {
                    keys.push(ProofKey::Ed25519(key));
                }
            }
            "ecdsap384" if bytes.len() == 49 => keys.push(ProofKey::EcdsaP384(bytes)),
            _ => {}
        }
    }
    keys
}

/// Verifies the hex signature over `timestamp` with one of `keys`.
pub fn verify_signature(
    keys: &[ProofKey],
    timestamp: &str,
    signed_hex: &str,
    domain: &str,
) -> Result<(), ProofError> {
    if keys.is_empty() {
        return Err(ProofError::NoRecord(domain.to_owned()));
    }
    let signature =
        hex::decode(signed_hex.trim()).map_err(|e| ProofError::SignatureEncoding(e.to_string()))?;
    for key in keys {
        let verified = match key {
            ProofKey::Ed25519(bytes) => VerifyingKey::from_bytes(bytes).is_ok_and(|public| {
                Signature::from_slice(&signature)
                    .is_ok_and(|sig| public.verify(timestamp.as_bytes(), &sig).is_ok())
            }),
            ProofKey::EcdsaP384(point) => verify_p384(point, timestamp.as_bytes(), &signature),
        };
        if verified {
            return Ok(());
        }
    }
    Err(ProofError::BadSignature(keys.len()))
}

/// ECDSA P-384 over SHA-384, the signature `R||S`.
fn verify_p384(point: &[u8], message: &[u8], signature: &[u8]) -> bool {
    use p384::ecdsa::signature::Verifier as _;
    let (Ok(public), Ok(sig)) = (
        p384::ecdsa::VerifyingKey::from_sec1_bytes(point),
        p384::ecdsa::Signature::from_slice(signature),
    ) else {
        return false;
    };
    public.verify(message, &sig).is_ok()
}

/// `example.com` → `com.example`.
pub fn reverse_domain(domain: &str) -> String {
    let mut labels: Vec<&str> = domain.split('.').collect();
    labels.reverse();
    labels.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn record(key: &SigningKey) -> String {
        format!(
            "v=MCPv1; k=ed25519; p={}",
            base64::engine::general_purpose::STANDARD.encode(key.verifying_key().to_bytes())
        )
    }

    #[test]
    fn a_proof_verifies_with_the_published_key_only() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let other = SigningKey::from_bytes(&[8; 32]);
        let now = Utc::now();
        let ts = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let signed = hex::encode(key.sign(ts.as_bytes()).to_bytes());
        let records = [record(&key), "google-site-verification=x".to_owned()];
        let keys = parse_records(records.iter().map(String::as_str));
        assert_eq!(keys.len(), 1);
        assert_eq!(verify_signature(&keys, &ts, &signed, "example.com"), Ok(()));
        let wrong = hex::encode(other.sign(ts.as_bytes()).to_bytes());
        assert_eq!(
            verify_signature(&keys, &ts, &wrong, "example.com"),
            Err(ProofError::BadSignature(1))
        );
        assert_eq!(
            verify_signature(&[], &ts, &signed, "example.com"),
            Err(ProofError::NoRecord("example.com".into()))
        );
        assert!(matches!(
            verify_signature(&keys, &ts, "zz", "example.com"),
            Err(ProofError::SignatureEncoding(_))
        ));
        // The signature is over the timestamp as sent.
        assert!(verify_signature(&keys, &format!("{ts} "), &signed, "example.com").is_err());
    }

    #[test]
    fn an_ecdsa_p384_proof_verifies() {
        use p384::ecdsa::signature::Signer as _;
        let key = p384::ecdsa::SigningKey::from_slice(&[5u8; 48]).unwrap();
        let point = key.verifying_key().to_sec1_point(true);
        let record = format!(
            "v=MCPv1; k=ecdsap384; p={}",
            base64::engine::general_purpose::STANDARD.encode(point.as_bytes())
        );
        let keys = parse_records([record.as_str()]);
        assert!(
            matches!(keys.as_slice(), [ProofKey::EcdsaP384(_)]),
            "{keys:?}"
        );
        let ts = "2026-01-02T03:04:05Z";
        let sig: p384::ecdsa::Signature = key.sign(ts.as_bytes());
        assert_eq!(
            verify_signature(&keys, ts, &hex::encode(sig.to_bytes()), "example.com"),
            Ok(())
        );
        let other: p384::ecdsa::Signature = key.sign(b"another timestamp");
        assert!(
            verify_signature(&keys, ts, &hex::encode(other.to_bytes()), "example.com").is_err()
        );
    }

    #[test]
    fn timestamps_domains_and_namespaces() {
        let now = Utc::now();
        assert!(check_timestamp(&now.to_rfc3339(), now).is_ok());
        let old = (now - chrono::Duration::seconds(20)).to_rfc3339();
        assert_eq!(check_timestamp(&old, now), Err(ProofError::Skew(20)));
        assert!(matches!(
            check_timestamp("yesterday", now),
            Err(ProofError::Timestamp(_))
        ));
        assert!(check_domain("mcp.example.com").is_ok());
        for bad in [
            "",
            "-x.com",
            "a..b",
            "exa mple.com",
            "x.com/",
            &"a".repeat(254),
        ] {
            assert!(check_domain(bad).is_err(), "{bad}");
        }
        assert_eq!(reverse_domain("mcp.example.com"), "com.example.mcp");
    }
}
