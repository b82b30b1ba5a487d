//! JWTs from an OpenID Connect issuer, checked against the issuer's published keys — one verifier for every front
//! end: the proxy's `auth` middleware (bearer tokens) and the registry's token exchanges (ID tokens from a
//! company's IdP or GitHub Actions).
//!
//! The keys come from the JWKS URL, configured or discovered from `ISSUER/.well-known/openid-configuration`. They
//! are cached for [`JWKS_TTL`], and fetched again when a token names a key id the set lacks (a rotation), at most
//! every [`JWKS_REFRESH_MIN`] so a stream of bad tokens cannot turn into a stream of fetches. A refetch that fails
//! keeps the keys fetched before. A token is checked for its signature (by the algorithms allowed), issuer,
//! audience, expiry and not-before, with [`LEEWAY`] of clock skew.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::{Map, Value};
use tokio::sync::RwLock;

/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY: u64 = 60;
/// The least time between two JWKS fetches caused by unknown key ids.
pub const JWKS_REFRESH_MIN: Duration = Duration::from_secs(10);
/// How long fetched keys are used before they are fetched again.
pub const JWKS_TTL: Duration = Duration::from_secs(3600);
/// Most tokens remembered as valid (the memory is cleared when it is full).
const VALIDATED_CAPACITY: usize = 4096;
/// The largest discovery document or key set read.
const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// What a verifier checks tokens against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifierConfig {
    /// The `iss` every token must carry (a trailing `/` is ignored).
    pub issuer: String,
    /// An `aud` the token must carry (none: any audience).
    pub audience: Option<String>,
    /// The key set; default: the `jwks_uri` of the issuer's discovery document.
    pub jwks_url: Option<String>,
    /// The only signature algorithms accepted (empty: whatever the issuer's key says).
    pub algorithms: Vec<Algorithm>,
    /// Claims every token must carry besides `exp` and `iss`.
    pub required_claims: Vec<String>,
    /// CA certificates (PEM) trusted besides the system's for the issuer's documents.
    pub ca_cert: Option<PathBuf>,
    /// Allow `http://` issuer and JWKS URLs (tests, local identity providers).
    pub insecure_allow_http: bool,
}

/// A configuration problem, reported when the service starts.
#[derive(Debug, thiserror::Error)]
pub enum VerifierConfigError {
    #[error("{field}: '{url}' is not a URL: {reason}")]
    NotAUrl {
        field: &'static str,
        url: String,
        reason: String,
    },
    #[error(
        "{field}: '{url}' is not https (allow http only for a local identity provider: insecure_allow_http)"
    )]
    NotHttps { field: &'static str, url: String },
    #[error("{field}: scheme '{scheme}' is not http(s)")]
    Scheme { field: &'static str, scheme: String },
    #[error("ca_cert {path}: {reason}")]
    CaCert { path: String, reason: String },
    #[error("HTTP client: {0}")]
    Client(String),
}

impl VerifierConfig {
    /// Checks the URLs: https, unless `insecure_allow_http`.
    pub fn check(&self) -> Result<(), VerifierConfigError> {
        let urls = [
            ("issuer", Some(&self.issuer)),
            ("jwks_url", self.jwks_url.as_ref()),
        ];
        for (field, url) in urls {
            let Some(url) = url else { continue };
            check_url(field, url, self.insecure_allow_http)?;
        }
        Ok(())
    }
}

/// An issuer or service URL must be https (http only when allowed).
pub fn check_url(
    field: &'static str,
    url: &str,
    allow_http: bool,
) -> Result<(), VerifierConfigError> {
    let parsed = url::Url::parse(url).map_err(|e| VerifierConfigError::NotAUrl {
        field,
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if allow_http => Ok(()),
        "http" => Err(VerifierConfigError::NotHttps {
            field,
            url: url.to_owned(),
        }),
        other => Err(VerifierConfigError::Scheme {
            field,
            scheme: other.to_owned(),
        }),
    }
}

/// An HTTP client for an identity provider: a 10 s timeout, no redirects, `ca_cert`'s CAs trusted too.
pub fn idp_client(ca_cert: Option<&PathBuf>) -> Result<reqwest::Client, VerifierConfigError> {
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = ca_cert {
        let fail = |reason: String| VerifierConfigError::CaCert {
            path: path.display().to_string(),
            reason,
        };
        let certs = match crate::tls::read_ca_bundle(path) {
            Ok(certs) => certs,
            Err(crate::tls::CaBundleError::Read { error, .. }) => {
                return Err(fail(error.to_string()));
            }
            Err(e) => return Err(fail(e.to_string())),
        };
        builder = builder.tls_certs_merge(certs);
    }
    builder
        .build()
        .map_err(|e| VerifierConfigError::Client(e.to_string()))
}

/// Why a token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TokenError(pub String);

/// The claims of a valid token.
pub type Claims = Arc<Map<String, Value>>;

/// Checks tokens of one issuer.
pub struct JwtVerifier {
    config: VerifierConfig,
    http: reqwest::Client,
    keys: RwLock<Keys>,
    /// Held while the key set is fetched: only callers that need new keys wait for a fetch, never those whose
    /// key is cached.
    refresh: tokio::sync::Mutex<()>,
    /// Tokens found valid recently, with their claims and expiry: a client sends the same token with every
    /// request, and checking its signature each time would cost more than the rest of the request.
    validated: Mutex<HashMap<String, (Claims, u64)>>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Keys {
    set: Option<JwkSet>,
    fetched: Option<Instant>,
    /// The last failed fetch: when, and why (said again without asking until the refresh minimum passed, so an
    /// issuer that does not answer is not asked on every request).
    failed: Option<(Instant, String)>,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl JwtVerifier {
    pub fn new(config: VerifierConfig) -> Result<Self, VerifierConfigError> {
        config.check()?;
        let http = idp_client(config.ca_cert.as_ref())?;
        Ok(Self {
            config,
            http,
            keys: RwLock::default(),
            refresh: tokio::sync::Mutex::default(),
            validated: Mutex::default(),
        })
    }

    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    /// The token's claims, if it is valid.
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        if let Some((claims, exp)) = self
            .validated
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            && unix_now() <= exp.saturating_add(LEEWAY)
        {
            return Ok(claims.clone());
        }
        let header =
            decode_header(token).map_err(|e| TokenError(format!("malformed token: {e}")))?;
        refuse_critical_extensions(token)?;
        if !self.config.algorithms.is_empty() && !self.config.algorithms.contains(&header.alg) {
            return Err(TokenError(format!(
                "signature algorithm {:?} is not accepted (only {:?})",
                header.alg, self.config.algorithms
            )));
        }
        let key = self.key(header.kid.as_deref(), header.alg).await?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY;
        // The issuer as configured (and without its trailing slash, when it has one).
        validation.set_issuer(&[
            self.config.issuer.as_str(),
            self.config.issuer.trim_end_matches('/'),
        ]);
        match &self.config.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        validation.validate_nbf = true;
        let mut required: Vec<&str> = vec!["exp", "iss"];
        if self.config.audience.is_some() {
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        let data = decode::<Map<String, Value>>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            TokenError(match e.kind() {
                ErrorKind::ExpiredSignature => "token expired".into(),
                ErrorKind::ImmatureSignature => "token not valid yet".into(),
                ErrorKind::InvalidAudience => format!(
                    "wrong audience (expected {})",
                    self.config.audience.as_deref().unwrap_or_default()
                ),
                ErrorKind::InvalidIssuer => {
                    format!("wrong issuer (expected {})", self.config.issuer)
                }
                ErrorKind::InvalidSignature => "bad signature".into(),
                ErrorKind::MissingRequiredClaim(c) => format!("the token has no '{c}' claim"),
                ErrorKind::InvalidAlgorithm => "the key is not for the token's algorithm".into(),
                other => format!("invalid token: {other:?}"),
            })
        })?;
        for claim in &self.config.required_claims {
            if data.claims.get(claim).is_none_or(Value::is_null) {
                return Err(TokenError(format!("the token has no '{claim}' claim")));
            }
        }
        let claims = Arc::new(data.claims);
        if let Some(exp) = claims.get("exp").and_then(Value::as_u64) {
            let mut validated = self.validated.lock().unwrap_or_else(|e| e.into_inner());
            if validated.len() >= VALIDATED_CAPACITY {
                validated.clear();
            }
            validated.insert(token.to_string(), (claims.clone(), exp));
        }
        Ok(claims)
    }

    /// The key `kid` names (or the only key), fetching the key set when it is missing, stale, or lacks `kid`. A key
    /// whose JWK names an algorithm is only used for that algorithm.
    async fn key(&self, kid: Option<&str>, alg: Algorithm) -> Result<DecodingKey, TokenError> {
        let find = |set: &JwkSet| -> Option<Result<DecodingKey, TokenError>> {
            let jwk = match kid {
                Some(k) => set.find(k)?,
                None if set.keys.len() == 1 => &set.keys[0],
                None => return None,
            };
            if let Some(key_alg) = jwk.common.key_algorithm
                && key_alg.to_string() != format!("{alg:?}")
            {
                return Some(Err(TokenError(format!(
                    "the token is signed with {alg:?}, but its key {} is for {key_alg}",
                    kid.unwrap_or("(no kid)")
                ))));
            }
            DecodingKey::from_jwk(jwk).ok().map(Ok)
        };
        let cached = |keys: &Keys, fresh_only: bool| -> Option<Result<DecodingKey, TokenError>> {
            let (set, at) = (keys.set.as_ref()?, keys.fetched?);
            if fresh_only && at.elapsed() >= JWKS_TTL {
                return None;
            }
            find(set)
        };
        if let Some(found) = cached(&*self.keys.read().await, true) {
            return found;
        }
        // Only callers needing new keys wait here, one fetch at a time; the key set is not locked meanwhile.
        let _fetching = self.refresh.lock().await;
        let (last_fetch, failed) = {
            let keys = self.keys.read().await;
            if let Some(found) = cached(&keys, true) {
                return found;
            }
            (keys.fetched, keys.failed.clone())
        };
        let recently = |at: &Instant| at.elapsed() < JWKS_REFRESH_MIN;
        if let Some((at, why)) = &failed
            && recently(at)
            && self.keys.read().await.set.is_none()
        {
            return Err(TokenError(why.clone()));
        }
        // A stale set (older than the TTL) is always older than the refresh minimum too.
        if !last_fetch.as_ref().is_some_and(recently)
            && !failed.as_ref().is_some_and(|(at, _)| recently(at))
        {
            match self.fetch_keys().await {
                Ok(set) => {
                    let mut keys = self.keys.write().await;
                    keys.set = Some(set);
                    keys.fetched = Some(Instant::now());
                    keys.failed = None;
                }
                Err(e) => {
                    self.keys.write().await.failed = Some((Instant::now(), e.0.clone()));
                    if self.keys.read().await.set.is_none() {
                        return Err(e);
                    }
                    tracing::warn!(error = %e, "JWKS refresh failed; using the keys fetched before")
                }
            }
        }
        cached(&*self.keys.read().await, false).unwrap_or_else(|| {
            Err(TokenError(format!(
                "unknown signing key {}",
                kid.unwrap_or("(no kid)")
            )))
        })
    }

    async fn fetch_keys(&self) -> Result<JwkSet, TokenError> {
        let jwks_url = match &self.config.jwks_url {
            Some(u) => u.clone(),
            None => {
                let discovery = format!(
                    "{}/.well-known/openid-configuration",
                    self.config.issuer.trim_end_matches('/')
                );
                let doc = self.get_json(&discovery).await?;
                let url = doc
                    .get("jwks_uri")
                    .and_then(Value::as_str)
                    .ok_or_else(|| TokenError(format!("{discovery}: no jwks_uri")))?;
                check_url("jwks_uri", url, self.config.insecure_allow_http)
                    .map_err(|e| TokenError(format!("{discovery}: {e}")))?;
                url.to_string()
            }
        };
        let set = self.get_json(&jwks_url).await?;
        serde_json::from_value(set)
            .map_err(|e| TokenError(format!("{jwks_url}: not a JWK set: {e}")))
    }

    async fn get_json(&self, url: &str) -> Result<Value, TokenError> {
        let unreachable = |e: &reqwest::Error| {
            TokenError(format!(
                "identity provider unreachable ({url}): {}",
                crate::output::error_chain(e)
            ))
        };
        let mut resp = self
            .http
            .get(url)
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| unreachable(&e))?;
        if !resp.status().is_success() {
            return Err(TokenError(format!("{url}: HTTP {}", resp.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| unreachable(&e))? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(TokenError(format!(
                    "{url}: larger than {MAX_DOCUMENT_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| TokenError(format!("{url}: not JSON: {e}")))
    }
}

/// A JWT's header (`part` 0) or claims (1) as JSON, read without checking anything: only to decide how to
/// check it.
pub fn unverified_part(token: &str, part: usize) -> Option<Map<String, Value>> {
    use base64::Engine;
    let text = token.split('.').nth(part)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// RFC 7515 §4.1.11: a token naming extensions it requires (`crit`) is refused, as none are understood here.
fn refuse_critical_extensions(token: &str) -> Result<(), TokenError> {
    let header =
        unverified_part(token, 0).ok_or_else(|| TokenError("malformed token header".into()))?;
    match header.get("crit") {
        None => Ok(()),
        Some(crit) => Err(TokenError(format!(
            "the token requires header extensions this registry does not understand (crit: {crit})"
        ))),
    }
}

/// Whether a claim's value matches `expected`: equal, or (for an array claim such as `groups`) containing it.
/// Strings, numbers and booleans compare as JSON values.
pub fn claim_matches(actual: &Value, expected: &Value) -> bool {
    let expected: Vec<&Value> = match expected {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let actual: Vec<&Value> = match actual {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    expected.iter().any(|e| actual.contains(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_match_values_and_members_of_arrays() {
        assert!(claim_matches(&json!("platform"), &json!("platform")));
        assert!(claim_matches(
            &json!(["dev", "platform"]),
            &json!("platform")
        ));
        assert!(claim_matches(&json!("dev"), &json!(["platform", "dev"])));
        assert!(claim_matches(&json!(true), &json!(true)));
        assert!(!claim_matches(&json!("Platform"), &json!("platform")));
        assert!(!claim_matches(&json!(["dev"]), &json!("platform")));
        assert!(!claim_matches(&json!("1"), &json!(1)));
    }

    #[test]
    fn urls_must_be_https_unless_allowed() {
        let mut config = VerifierConfig {
            issuer: "http://127.0.0.1:1".into(),
            ..VerifierConfig::default()
        };
        let e = config.check().unwrap_err().to_string();
        assert!(e.contains("issuer") && e.contains("not https"), "{e}");
        config.insecure_allow_http = true;
        config.check().unwrap();
        config.jwks_url = Some("ftp://x".into());
        assert!(config.check().unwrap_err().to_string().contains("jwks_url"));
        config.issuer = "not a url".into();
        assert!(config.check().unwrap_err().to_string().contains("issuer"));
    }
}
