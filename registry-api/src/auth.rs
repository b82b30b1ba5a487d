//! Registry tokens, as the official registry issues them: EdDSA (Ed25519) JWTs whose `permissions` claim lists
//! `{action: publish|edit, resource: pattern}`. A pattern is `*` (anything), a prefix ending in `*` (case-sensitive),
//! or an exact server name. An operator-configured admin token grants `publish` and `edit` on `*`.

use std::time::Duration;

use chrono::Utc;
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The token issuer, as upstream.
pub const ISSUER: &str = "mcp-registry";

/// What a permission allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Publish,
    Edit,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permission {
    pub action: Action,
    pub resource: String,
}

/// The registry JWT's claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub auth_method: String,
    #[serde(default)]
    pub auth_method_sub: String,
    pub permissions: Vec<Permission>,
}

/// Who is calling, and what they may do.
#[derive(Debug, Clone)]
pub struct Caller {
    pub subject: String,
    pub permissions: Vec<Permission>,
}

impl Caller {
    pub fn admin() -> Self {
        Self {
            subject: "admin-token".into(),
            permissions: [Action::Publish, Action::Edit]
                .into_iter()
                .map(|action| Permission {
                    action,
                    resource: "*".into(),
                })
                .collect(),
        }
    }

    pub fn can(&self, action: Action, server_name: &str) -> bool {
        self.permissions
            .iter()
            .any(|p| p.action == action && pattern_matches(&p.resource, server_name))
    }

    /// Whether the caller may edit every name (the admin token, or a token granted `*`): administration of the
    /// registry itself, like triggering a sync, needs this.
    pub fn is_admin(&self) -> bool {
        self.permissions
            .iter()
            .any(|p| p.action == Action::Edit && p.resource == "*")
    }

    /// The resource patterns granted for `action`, for error messages.
    pub fn resources(&self, action: Action) -> Vec<&str> {
        self.permissions
            .iter()
            .filter(|p| p.action == action)
            .map(|p| p.resource.as_str())
            .collect()
    }
}

/// The token of an `Authorization: Bearer <token>` header value (the scheme in any case), trimmed.
pub fn bearer_token(value: &str) -> Option<&str> {
    match value.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("bearer ") => Some(value[7..].trim()),
        _ => None,
    }
}

/// Upstream's pattern rule: `*` matches anything, `prefix*` is a case-sensitive prefix match, else exact (one
/// matcher for every front end: token permissions, `privileged_entries`, signature key bindings).
pub use thv_core::filter::pattern_matches;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("jwt_private_key must be 64 hex characters (an Ed25519 seed): {0}")]
    BadSeed(String),
    #[error("no secure random source: {0}")]
    Random(String),
}

/// Mints and verifies registry tokens with one Ed25519 key.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(<redacted>)")
    }
}

/// PKCS#8 v1 prefix of an Ed25519 private key (RFC 8410), followed by the 32-byte seed.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

impl TokenKeys {
    /// From a hex-encoded 32-byte Ed25519 seed (the official registry's `JWT_PRIVATE_KEY` format).
    pub fn from_seed_hex(seed_hex: &str) -> Result<Self, KeyError> {
        let bytes = hex::decode(seed_hex.trim()).map_err(|e| KeyError::BadSeed(e.to_string()))?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| KeyError::BadSeed(format!("got {} bytes", b.len())))?;
        Ok(Self::from_seed(&seed))
    }

    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let mut der = PKCS8_ED25519_PREFIX.to_vec();
        der.extend_from_slice(seed);
        let public = SigningKey::from_bytes(seed).verifying_key().to_bytes();
        Self {
            encoding: EncodingKey::from_ed_der(&der),
            decoding: DecodingKey::from_ed_der(&public),
        }
    }

    /// A fresh random key and its hex seed.
    pub fn generate() -> Result<(Self, String), KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok((Self::from_seed(&seed), hex::encode(seed)))
    }

    pub fn mint(
        &self,
        subject: &str,
        permissions: Vec<Permission>,
        ttl: Duration,
    ) -> Result<(String, i64), jsonwebtoken::errors::Error> {
        self.mint_for("token", subject, permissions, ttl)
    }

    /// A token saying how it was obtained (`auth_method`: `token` when minted by the operator, else the
    /// exchange: `none`, `http`, `dns`, `oidc`, …) and for whom (`auth_method_sub`).
    pub fn mint_for(
        &self,
        method: &str,
        subject: &str,
        permissions: Vec<Permission>,
        ttl: Duration,
    ) -> Result<(String, i64), jsonwebtoken::errors::Error> {
        let now = Utc::now().timestamp();
        let exp = now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let claims = Claims {
            iss: ISSUER.into(),
            iat: now,
            nbf: now,
            exp,
            auth_method: method.into(),
            auth_method_sub: subject.into(),
            permissions,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &self.encoding)?;
        Ok((token, exp))
    }

    pub fn verify(&self, token: &str) -> Option<Caller> {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).ok()?;
        Some(Caller {
            subject: data.claims.auth_method_sub,
            permissions: data.claims.permissions,
        })
    }
}

/// Constant-time comparison, for the admin token.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_verify_and_foreign_ones_do_not() {
        let (keys, seed) = TokenKeys::generate().unwrap();
        let again = TokenKeys::from_seed_hex(&seed).unwrap();
        let perms = vec![Permission {
            action: Action::Publish,
            resource: "com.example/*".into(),
        }];
        let (token, _) = keys
            .mint("ci", perms.clone(), Duration::from_secs(60))
            .unwrap();
        let caller = again.verify(&token).expect("valid token");
        assert_eq!(caller.permissions, perms);
        assert!(caller.can(Action::Publish, "com.example/x"));
        assert!(!caller.can(Action::Edit, "com.example/x"));
        let (other, _) = TokenKeys::generate().unwrap();
        assert!(other.verify(&token).is_none());
        assert!(keys.verify("not.a.token").is_none());
        assert!(TokenKeys::from_seed_hex("abcd").is_err());
    }

    #[test]
    fn secrets_compare() {
        assert!(secrets_equal("abc", "abc"));
        assert!(!secrets_equal("abc", "abd"));
        assert!(!secrets_equal("abc", "abcd"));
    }
}
