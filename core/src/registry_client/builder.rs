//! [`RegistryClientBuilder`]: the client's settings, checked when the client is built.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::HeaderValue;
use url::Url;

#[cfg(doc)]
use super::{API_PREFIX_V0, Pager};
use super::{
    DEFAULT_API_PREFIX, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_PAGES, DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_SERVERS, DEFAULT_TIMEOUT, DEFAULT_USER_AGENT, REDACTED, RegistryClient,
    RegistryClientError,
};
use crate::output::error_chain;

/// Where an extra CA certificate comes from.
#[derive(Clone)]
enum CaSource {
    Pem(Vec<u8>),
    File(PathBuf),
}

/// Builds a [`RegistryClient`]; see each setter for its default.
#[derive(Clone)]
pub struct RegistryClientBuilder {
    base_url: String,
    token: Option<String>,
    timeout: Duration,
    connect_timeout: Duration,
    user_agent: String,
    ca_certs: Vec<CaSource>,
    api_prefix: String,
    max_pages: usize,
    max_servers: usize,
    max_response_bytes: usize,
}

impl fmt::Debug for RegistryClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClientBuilder")
            .field("base_url", &self.base_url)
            .field("api_prefix", &self.api_prefix)
            .field("token", &self.token.as_ref().map(|_| REDACTED))
            .field("timeout", &self.timeout)
            .field("user_agent", &self.user_agent)
            .field("ca_certs", &self.ca_certs.len())
            .field("max_pages", &self.max_pages)
            .field("max_servers", &self.max_servers)
            .finish_non_exhaustive()
    }
}

impl RegistryClientBuilder {
    pub(super) fn new(base_url: &str) -> Self {
        Self {
            base_url: base_url.to_string(),
            token: None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            user_agent: DEFAULT_USER_AGENT.to_string(),
            ca_certs: Vec::new(),
            api_prefix: DEFAULT_API_PREFIX.to_string(),
            max_pages: DEFAULT_MAX_PAGES,
            max_servers: DEFAULT_MAX_SERVERS,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// The bearer token sent as `Authorization: Bearer <token>` on every request (default: none).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Like [`token`](Self::token), with `None` for no token.
    pub fn token_opt(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// The timeout of one whole request (default [`DEFAULT_TIMEOUT`], 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The connect timeout (default [`DEFAULT_CONNECT_TIMEOUT`], 10 s; never more than the request timeout).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The `User-Agent` (default [`DEFAULT_USER_AGENT`], `thv/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Trusts the CA certificate(s) of a PEM bundle in addition to the platform's roots (e.g. a corporate
    /// TLS-inspecting proxy). May be called several times.
    pub fn ca_cert_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_certs.push(CaSource::Pem(pem.into()));
        self
    }

    /// Like [`ca_cert_pem`](Self::ca_cert_pem), read from a file when the client is built.
    pub fn ca_cert_file(mut self, path: impl AsRef<Path>) -> Self {
        self.ca_certs
            .push(CaSource::File(path.as_ref().to_path_buf()));
        self
    }

    /// The API prefix (default [`DEFAULT_API_PREFIX`], `/v0.1`; [`API_PREFIX_V0`] for the older one). A leading
    /// slash is added and a trailing one removed.
    pub fn api_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.api_prefix = prefix.into();
        self
    }

    /// The most pages one [`RegistryClient::list_all`] or [`Pager`] fetches (default [`DEFAULT_MAX_PAGES`]).
    pub fn max_pages(mut self, max_pages: usize) -> Self {
        self.max_pages = max_pages;
        self
    }

    /// The most server versions one [`RegistryClient::list_all`] or [`Pager`] collects (default
    /// [`DEFAULT_MAX_SERVERS`]).
    pub fn max_servers(mut self, max_servers: usize) -> Self {
        self.max_servers = max_servers;
        self
    }

    /// The largest response body accepted (default [`DEFAULT_MAX_RESPONSE_BYTES`], 64 MiB).
    pub fn max_response_bytes(mut self, max: usize) -> Self {
        self.max_response_bytes = max;
        self
    }

    /// Checks the settings and builds the client.
    pub fn build(self) -> Result<RegistryClient, RegistryClientError> {
        let base = parse_base_url(&self.base_url)?;
        let api_prefix = normalize_prefix(&self.api_prefix)?;
        let token = match self.token {
            None => None,
            Some(t) => Some(check_token(&t)?),
        };
        if self.timeout.is_zero() {
            return Err(RegistryClientError::Config(
                "the timeout must be positive".into(),
            ));
        }
        if self.max_pages == 0 || self.max_servers == 0 || self.max_response_bytes == 0 {
            return Err(RegistryClientError::Config(
                "max_pages, max_servers and max_response_bytes must be positive".into(),
            ));
        }
        let user_agent = HeaderValue::from_str(&self.user_agent).map_err(|_| {
            RegistryClientError::Config(format!(
                "the User-Agent {:?} is not a valid header value",
                self.user_agent
            ))
        })?;
        let mut certs = Vec::new();
        for source in &self.ca_certs {
            certs.extend(load_certs(source)?);
        }
        let mut http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout.min(self.timeout))
            .user_agent(user_agent);
        if !certs.is_empty() {
            http = http.tls_certs_merge(certs);
        }
        let http = http.build().map_err(|e| {
            RegistryClientError::Config(format!(
                "cannot build the HTTP client: {}",
                error_chain(&e)
            ))
        })?;
        Ok(RegistryClient {
            http,
            base,
            api_prefix,
            token,
            timeout: self.timeout,
            max_pages: self.max_pages,
            max_servers: self.max_servers,
            max_response_bytes: self.max_response_bytes,
        })
    }
}

fn parse_base_url(raw: &str) -> Result<Url, RegistryClientError> {
    let raw = raw.trim();
    let mut url = Url::parse(raw)
        .map_err(|e| RegistryClientError::Config(format!("invalid registry URL {raw:?}: {e}")))?;
    let shown = || {
        let mut u = url.clone();
        let _ = u.set_password(None);
        let _ = u.set_username("");
        u.to_string()
    };
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(RegistryClientError::Config(format!(
            "invalid registry URL {}: must be an http:// or https:// URL",
            shown()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(RegistryClientError::Config(format!(
            "invalid registry URL {}: credentials in the URL are not supported, use a bearer token",
            shown()
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(RegistryClientError::Config(format!(
            "invalid registry URL {}: it must not have a query or fragment",
            shown()
        )));
    }
    let path = url.path().trim_end_matches('/').to_string();
    url.set_path(&path);
    Ok(url)
}

fn normalize_prefix(raw: &str) -> Result<String, RegistryClientError> {
    let trimmed = raw.trim().trim_matches('/');
    let ok = trimmed.split('/').all(|seg| {
        !seg.is_empty()
            && seg != "."
            && seg != ".."
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    });
    if trimmed.is_empty() || !ok {
        return Err(RegistryClientError::Config(format!(
            "invalid API prefix {raw:?}: expected a path such as /v0.1 or /v0"
        )));
    }
    Ok(format!("/{trimmed}"))
}

pub(super) fn check_token(token: &str) -> Result<String, RegistryClientError> {
    let token = token.trim();
    if token.is_empty() {
        return Err(RegistryClientError::Config(
            "the bearer token is empty".into(),
        ));
    }
    if HeaderValue::from_str(&format!("Bearer {token}")).is_err() {
        return Err(RegistryClientError::Config(
            "the bearer token contains characters that cannot be sent in an HTTP header".into(),
        ));
    }
    Ok(token.to_string())
}

fn load_certs(source: &CaSource) -> Result<Vec<reqwest::Certificate>, RegistryClientError> {
    let (certs, origin) = match source {
        CaSource::Pem(bytes) => (
            crate::tls::pem_certificates(bytes),
            "the PEM CA certificate".to_string(),
        ),
        CaSource::File(path) => (
            crate::tls::read_ca_bundle(path),
            format!("the CA certificate file {}", path.display()),
        ),
    };
    certs.map_err(|e| match e {
        crate::tls::CaBundleError::Read { path, error } => RegistryClientError::Config(format!(
            "cannot read the CA certificate file {}: {error}",
            path.display()
        )),
        e => RegistryClientError::Config(format!("{origin} {e}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_configuration_is_refused() {
        for bad in [
            "ftp://host",
            "not a url",
            "http://user:pw@host",
            "http://host?x=1",
            "mailto:a@b",
        ] {
            let e = RegistryClient::new(bad).unwrap_err();
            assert!(matches!(e, RegistryClientError::Config(_)), "{bad}: {e}");
            assert!(!e.to_string().contains("pw"), "{e}");
        }
        assert!(matches!(
            RegistryClient::builder("http://h")
                .api_prefix("/v0/../x")
                .build(),
            Err(RegistryClientError::Config(_))
        ));
        let e = RegistryClient::builder("http://h")
            .token("abc\ndef")
            .build()
            .unwrap_err();
        assert!(!e.to_string().contains("abc"), "{e}");
        assert!(matches!(
            RegistryClient::builder("http://h")
                .ca_cert_pem(b"not pem".to_vec())
                .build(),
            Err(RegistryClientError::Config(_))
        ));
        let e = RegistryClient::builder("http://h")
            .ca_cert_file("/nonexistent/ca.pem")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        // A real CA bundle loads, when the system has one.
        if let Ok(bundle) = std::fs::read("/etc/ssl/certs/ca-certificates.crt") {
            RegistryClient::builder("https://h")
                .ca_cert_pem(bundle)
                .build()
                .unwrap();
        }
    }
}
