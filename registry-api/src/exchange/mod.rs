//! Token exchanges, as the official registry offers them (`POST {v0,v0.1}/auth/*`): a proof of identity for the
//! registry's own short-lived token (5 minutes, EdDSA, `permissions` scoped to a namespace), answered
//! `{"registry_token", "expires_at"}` — what the official `mcp-publisher login` asks for.
//!
//! - `none` (only with `auth.anonymous: true`; development): publish and edit `io.modelcontextprotocol.anonymous/*`;
//! - `http`: the domain's `https://DOMAIN/.well-known/mcp-registry-auth` holds a proof record whose key signed
//!   the current timestamp ([`proof`]); grants `<reversed domain>/*`. Fetched with a 10 s timeout, no redirects,
//!   at most 4096 bytes; private, loopback and link-local addresses are refused unless `auth.http_allow_private`
//!   (the address is resolved and checked first, then connected to as checked, so a DNS answer cannot change in
//!   between); `auth.http_resolve` pins a domain to an address and `auth.http_ca_cert` adds trusted CAs (tests,
//!   split-horizon sites).
//!
//! - `dns`: a TXT record at the domain holds the proof record; grants `<reversed domain>/*` and
//!   `<reversed domain>.*` (its subdomains), as upstream. Asked of the system's resolvers, or of
//!   `auth.dns_nameserver`.
//!
//! - `oidc`, `github-oidc`, `github-at`: an identity provider's token ([`identity`]).
//!
//! A disabled exchange answers 404 naming the setting; a refused proof 401 naming the reason.

pub mod identity;

pub use identity::ExchangeConfigError;
pub mod proof;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Action, Permission, TokenKeys};
use crate::error::AppError;
use std::sync::Arc;

/// What the exchange handlers need of the application's state: the token exchanges and the key tokens are
/// minted with.
#[derive(Clone)]
pub struct ExchangeState {
    pub keys: Arc<TokenKeys>,
    pub exchanges: Arc<Exchanges>,
}

/// How long an exchanged token lives, as upstream.
pub const TOKEN_TTL: Duration = Duration::from_secs(5 * 60);
/// The anonymous namespace, as upstream.
pub const ANONYMOUS_NAMESPACE: &str = "io.modelcontextprotocol.anonymous/*";
const PROOF_PATH: &str = "/.well-known/mcp-registry-auth";
const PROOF_MAX_BYTES: usize = 4096;

/// `auth:` of the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeConfig {
    /// `POST /auth/none` (upstream's `ENABLE_ANONYMOUS_AUTH`): off by default.
    #[serde(default)]
    pub anonymous: bool,
    /// `POST /auth/http`: on by default.
    #[serde(default = "enabled")]
    pub http: bool,
    /// CA certificates (PEM) trusted besides the system's when fetching proof files.
    #[serde(default)]
    pub http_ca_cert: Option<PathBuf>,
    /// Domain → `address:port` a proof file is fetched from instead of the domain's own address.
    #[serde(default)]
    pub http_resolve: BTreeMap<String, SocketAddr>,
    /// Fetch proof files from private, loopback and link-local addresses too (off: refused, as upstream).
    #[serde(default)]
    pub http_allow_private: bool,
    /// `POST /auth/dns`: on by default.
    #[serde(default = "enabled")]
    pub dns: bool,
    /// The DNS server (`address:port`) TXT records are asked of (default: the system's resolvers).
    #[serde(default)]
    pub dns_nameserver: Option<SocketAddr>,
    /// `POST /auth/oidc`: the company's identity provider and what its tokens' claims earn (off unless set).
    #[serde(default)]
    pub oidc: Option<identity::OidcExchangeConfig>,
    /// `POST /auth/github-oidc`: GitHub Actions ID tokens (off unless set).
    #[serde(default)]
    pub github_oidc: Option<identity::GithubOidcConfig>,
    /// `POST /auth/github-at`: GitHub access tokens, checked with this GitHub API (off unless set).
    #[serde(default)]
    pub github: Option<identity::GithubConfig>,
    /// Every request needs a token of one of these identity providers (or of this server): see [`crate::oauth`].
    #[serde(default)]
    pub oauth: Option<crate::oauth::OAuthConfig>,
}

fn enabled() -> bool {
    true
}

impl Default for ExchangeConfig {
    fn default() -> Self {
        Self {
            anonymous: false,
            http: true,
            http_ca_cert: None,
            http_resolve: BTreeMap::new(),
            http_allow_private: false,
            dns: true,
            dns_nameserver: None,
            oidc: None,
            github_oidc: None,
            github: None,
            oauth: None,
        }
    }
}

/// The exchanges, ready to answer.
#[derive(Debug)]
pub struct Exchanges {
    config: ExchangeConfig,
    /// Extra CA certificates for proof fetches, read once.
    ca: Vec<reqwest::Certificate>,
    identity: identity::IdentityExchanges,
}

impl Exchanges {
    pub fn new(config: ExchangeConfig) -> Result<Self, ExchangeConfigError> {
        let ca = match &config.http_ca_cert {
            Some(path) => {
                thv_core::tls::read_ca_bundle(path).map_err(|e| ExchangeConfigError::CaCert {
                    path: path.clone(),
                    reason: e.to_string(),
                })?
            }
            None => Vec::new(),
        };
        let identity = identity::IdentityExchanges::new(
            config.oidc.as_ref(),
            config.github_oidc.as_ref(),
            config.github.as_ref(),
        )?;
        Ok(Self {
            config,
            ca,
            identity,
        })
    }
}

/// What every exchange answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// The registry's token (a JWT), for `Authorization: Bearer`.
    pub registry_token: String,
    /// When it expires (Unix seconds).
    pub expires_at: i64,
}

/// A domain proof: the domain, the RFC 3339 timestamp signed and the signature (hex).
#[derive(Debug, Deserialize, ToSchema)]
pub struct DomainProof {
    pub domain: String,
    pub timestamp: String,
    pub signed_timestamp: String,
}

impl DomainProof {
    /// The domain (lowercase), checked with the timestamp before anything is fetched for it.
    fn checked_domain(&self) -> Result<String, AppError> {
        let domain = self.domain.to_ascii_lowercase();
        proof::check_domain(&domain).map_err(refused)?;
        proof::check_timestamp(&self.timestamp, chrono::Utc::now()).map_err(refused)?;
        Ok(domain)
    }

    /// The signature against the proof records the domain publishes (`records`: TXT records or the proof file's
    /// lines).
    fn verify<'a>(
        &self,
        domain: &str,
        records: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), AppError> {
        let keys = proof::parse_records(records);
        proof::verify_signature(&keys, &self.timestamp, &self.signed_timestamp, domain)
            .map_err(refused)
    }
}

/// A refused proof: a 401 naming the reason.
fn refused(e: proof::ProofError) -> AppError {
    tracing::info!(reason = %e, "token exchange refused");
    AppError::Unauthorized(e.to_string())
}

fn token(
    state: &ExchangeState,
    method: &str,
    subject: &str,
    permissions: Vec<Permission>,
) -> Result<Json<TokenResponse>, AppError> {
    let granted: Vec<String> = permissions
        .iter()
        .map(|p| format!("{:?}:{}", p.action, p.resource))
        .collect();
    let (registry_token, expires_at) = state
        .keys
        .mint_for(method, subject, permissions, TOKEN_TTL)
        .map_err(|e| AppError::Internal(format!("minting a token: {e}")))?;
    tracing::info!(method, subject, granted = ?granted, "registry token issued");
    Ok(Json(TokenResponse {
        registry_token,
        expires_at,
    }))
}

fn both(resource: &str) -> Vec<Permission> {
    [Action::Publish, Action::Edit]
        .into_iter()
        .map(|action| Permission {
            action,
            resource: resource.to_owned(),
        })
        .collect()
}

/// An anonymous token for the anonymous namespace (only when enabled: development and tests).
#[utoipa::path(post, path = "/auth/none", tag = "auth", responses(
    (status = 200, description = "A registry token for io.modelcontextprotocol.anonymous/*", body = TokenResponse),
    (status = 404, description = "Anonymous tokens are not enabled (auth.anonymous)")))]
pub async fn auth_none(
    State(state): State<ExchangeState>,
) -> Result<Json<TokenResponse>, AppError> {
    if !state.exchanges.config.anonymous {
        return Err(AppError::NotFound(
            "anonymous tokens are not enabled on this registry (auth.anonymous: true)".into(),
        ));
    }
    token(&state, "none", "anonymous", both(ANONYMOUS_NAMESPACE))
}

/// A token for the namespace of a domain that proves its key with its `/.well-known/mcp-registry-auth` file.
#[utoipa::path(post, path = "/auth/http", tag = "auth", request_body = DomainProof, responses(
    (status = 200, description = "A registry token for <reversed domain>/*", body = TokenResponse),
    (status = 401, description = "The proof was refused (the reason is given)"),
    (status = 404, description = "HTTP proofs are not enabled (auth.http)")))]
pub async fn auth_http(
    State(state): State<ExchangeState>,
    Json(body): Json<DomainProof>,
) -> Result<Json<TokenResponse>, AppError> {
    let exchanges = &state.exchanges;
    if !exchanges.config.http {
        return Err(AppError::NotFound(
            "HTTP domain proofs are not enabled on this registry (auth.http)".into(),
        ));
    }
    let domain = body.checked_domain()?;
    let file = exchanges.fetch_proof(&domain).await?;
    body.verify(&domain, file.lines())?;
    let namespace = format!("{}/*", proof::reverse_domain(&domain));
    token(&state, "http", &domain, both(&namespace))
}

/// A token for the namespace of a domain that proves its key with a DNS TXT record.
#[utoipa::path(post, path = "/auth/dns", tag = "auth", request_body = DomainProof, responses(
    (status = 200, description = "A registry token for <reversed domain>/* and <reversed domain>.*", body = TokenResponse),
    (status = 401, description = "The proof was refused (the reason is given)"),
    (status = 404, description = "DNS proofs are not enabled (auth.dns)")))]
pub async fn auth_dns(
    State(state): State<ExchangeState>,
    Json(body): Json<DomainProof>,
) -> Result<Json<TokenResponse>, AppError> {
    let exchanges = &state.exchanges;
    if !exchanges.config.dns {
        return Err(AppError::NotFound(
            "DNS domain proofs are not enabled on this registry (auth.dns)".into(),
        ));
    }
    let domain = body.checked_domain()?;
    let records = exchanges.txt_records(&domain).await?;
    body.verify(&domain, records.iter().map(String::as_str))?;
    let reversed = proof::reverse_domain(&domain);
    let mut permissions = both(&format!("{reversed}/*"));
    permissions.extend(both(&format!("{reversed}.*")));
    token(&state, "dns", &domain, permissions)
}

impl Exchanges {
    /// The domain's TXT records (each record's strings joined, as DNS splits long records).
    async fn txt_records(&self, domain: &str) -> Result<Vec<String>, AppError> {
        use hickory_resolver::Resolver;
        use hickory_resolver::config::{NameServerConfig, ResolverConfig};
        use hickory_resolver::net::runtime::TokioRuntimeProvider;
        use hickory_resolver::proto::rr::RData;
        let fail = |why: String| {
            AppError::Unauthorized(format!("cannot read the TXT records of {domain}: {why}"))
        };
        let resolver = match self.config.dns_nameserver {
            Some(addr) => {
                let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                for c in &mut server.connections {
                    c.port = addr.port();
                }
                Resolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![server]),
                    TokioRuntimeProvider::default(),
                )
                .build()
            }
            None => Resolver::builder_tokio()
                .map_err(|e| fail(e.to_string()))?
                .build(),
        }
        .map_err(|e| fail(e.to_string()))?;
        let lookup = resolver
            .txt_lookup(format!("{domain}."))
            .await
            .map_err(|e| fail(e.to_string()))?;
        Ok(lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .map(|part| String::from_utf8_lossy(part).into_owned())
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect())
    }

    /// `https://DOMAIN/.well-known/mcp-registry-auth`, from an address that is allowed (see the module
    /// documentation); failures are 401s naming them.
    async fn fetch_proof(&self, domain: &str) -> Result<String, AppError> {
        let fail = |why: String| {
            AppError::Unauthorized(format!("cannot read https://{domain}{PROOF_PATH}: {why}"))
        };
        let pinned = self.config.http_resolve.get(domain).copied();
        let address = match pinned {
            Some(a) => a,
            None => tokio::net::lookup_host((domain, 443))
                .await
                .map_err(|e| fail(format!("the domain does not resolve ({e})")))?
                .next()
                .ok_or_else(|| fail("the domain does not resolve".into()))?,
        };
        if !self.config.http_allow_private && !is_public(address.ip()) {
            return Err(fail(format!(
                "{} is a private, loopback or link-local address (refused)",
                address.ip()
            )));
        }
        let mut client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("mcp-registry/1.0")
            .resolve(domain, address);
        if !self.ca.is_empty() {
            client = client.tls_certs_merge(self.ca.clone());
        }
        let client = client.build().map_err(|e| fail(e.to_string()))?;
        let url = match pinned {
            Some(a) => format!("https://{domain}:{}{PROOF_PATH}", a.port()),
            None => format!("https://{domain}{PROOF_PATH}"),
        };
        let resp = client
            .get(&url)
            .header("Accept", "text/plain")
            .send()
            .await
            .map_err(|e| fail(thv_core::output::error_chain(&e)))?;
        if !resp.status().is_success() {
            return Err(fail(format!("it answered {}", resp.status())));
        }
        let bytes = resp.bytes().await.map_err(|e| fail(e.to_string()))?;
        if bytes.len() > PROOF_MAX_BYTES {
            return Err(fail(format!("larger than {PROOF_MAX_BYTES} bytes")));
        }
        Ok(String::from_utf8_lossy(&bytes).trim().to_owned())
    }
}

/// Not private, loopback, link-local, unspecified, multicast or documentation space.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1]))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || first & 0xfe00 == 0xfc00
                || first & 0xffc0 == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| !is_public(IpAddr::V4(v4))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.1",
            "172.16.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    /// A CA file holding no certificate is refused at start-up (it was taken as an empty list without a word).
    #[test]
    fn an_http_ca_cert_without_a_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("ca.pem");
        std::fs::write(&garbage, "garbage\n").unwrap();
        let config = ExchangeConfig {
            http_ca_cert: Some(garbage),
            ..ExchangeConfig::default()
        };
        let Err(e) = Exchanges::new(config) else {
            panic!("accepted");
        };
        let e = e.to_string();
        assert!(
            e.contains("auth.http_ca_cert") && e.contains("no PEM certificate"),
            "{e}"
        );
    }
}
