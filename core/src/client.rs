//! The typed HTTP client of the MCP Registry API (v0 and v0.1), as served by the official registry, by
//! `thv-registry-api` and by other subregistries.
//!
//! ```no_run
//! # async fn demo() -> Result<(), thv_core::client::ClientError> {
//! use thv_core::client::{ListOptions, RegistryClient};
//!
//! let client = RegistryClient::builder("https://registry.example.com/registry/prod")
//!     .token("registry-token")
//!     .build()?;
//! let latest = client.get_latest("io.github.example/weather").await?;
//! let everything = client.list_all(&ListOptions::new().latest_only()).await?;
//! # let _ = (latest, everything);
//! # Ok(())
//! # }
//! ```
//!
//! # What it does
//!
//! - **URLs.** The base URL may end with a slash or not, and may carry a path prefix (`http://host/registry/prod`).
//!   API calls go to `{base}{api_prefix}/...` with the prefix `/v0.1` by default ([`API_PREFIX_V0`] is the other
//!   choice); the OpenAPI documents are fetched from `{base}/openapi.json` and `{base}/openapi.yaml`. Server names
//!   and versions are percent-encoded as single path segments (`/` → `%2F`, `+` → `%2B`); query parameters are
//!   form-encoded.
//! - **Reads**: [`list_page`](RegistryClient::list_page), [`pages`](RegistryClient::pages) (a page-by-page pager
//!   that follows `metadata.nextCursor`), [`list_all`](RegistryClient::list_all) (every page, with a cap on pages
//!   and on servers), [`versions`](RegistryClient::versions), [`get_version`](RegistryClient::get_version),
//!   [`get_latest`](RegistryClient::get_latest). The `*_as` variants decode the server documents into any type
//!   (e.g. `serde_json::Value`), so that one malformed entry of a foreign registry does not fail a whole page.
//! - **Writes** (bearer token): [`publish`](RegistryClient::publish), [`edit`](RegistryClient::edit),
//!   [`delete_version`](RegistryClient::delete_version),
//!   [`set_version_status`](RegistryClient::set_version_status),
//!   [`set_server_status`](RegistryClient::set_server_status); and the anonymous
//!   [`validate`](RegistryClient::validate).
//! - **Meta**: [`health`](RegistryClient::health) and [`check_openapi`](RegistryClient::check_openapi), ToolHive's
//!   check that a URL serves the MCP Registry API (`info.version == "1.0.0"` and `info.description` naming
//!   `https://github.com/modelcontextprotocol/registry`).
//!
//! # Errors
//!
//! Every call returns a [`ClientError`]. Error bodies are read in both shapes registries use: `{"error": "..."}`
//! (this project, ToolHive's registry server) and huma's problem+json `{"title", "status", "detail", "errors"}`
//! (the official registry); anything else is quoted (whitespace collapsed, truncated). 401, 403 and 404 get their
//! own variants so that callers can say "server X not found" or "log in again".
//!
//! # Secrets
//!
//! The bearer token is sent on every request when one is configured (authenticated registries protect reads too).
//! It never appears in an error or in `Debug` output: error messages built from responses or from transport errors
//! have any occurrence of it replaced by `[REDACTED]`, and credentials in the base URL are refused. Nothing here
//! logs. No request is retried: callers decide.

use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use crate::api::{
    AllVersionsStatusResponse, ServerList, ServerResponse, StatusUpdateRequest, format_timestamp,
};
use crate::server::ServerJson;
use crate::validate::ValidationResult;

/// The default timeout of one request (connect, send and read the whole body).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest a TCP/TLS connection may take, within the request timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The stable API prefix, the default.
pub const API_PREFIX_V0_1: &str = "/v0.1";
/// The older, still-served API prefix.
pub const API_PREFIX_V0: &str = "/v0";
/// The default API prefix ([`API_PREFIX_V0_1`]).
pub const DEFAULT_API_PREFIX: &str = API_PREFIX_V0_1;
/// The default `User-Agent`: `thv/<version>`.
pub const DEFAULT_USER_AGENT: &str = concat!("thv/", env!("CARGO_PKG_VERSION"));
/// The default cap on pages fetched by one [`RegistryClient::list_all`] (ToolHive's registry server uses 1000).
pub const DEFAULT_MAX_PAGES: usize = 1000;
/// The default cap on server versions collected by one [`RegistryClient::list_all`] (ToolHive's CLI caps at 10,000).
pub const DEFAULT_MAX_SERVERS: usize = 10_000;
/// The page size [`RegistryClient::list_all`] asks for when [`ListOptions::limit`] is unset (the API maximum).
pub const LIST_ALL_PAGE_SIZE: u32 = 100;
/// The default cap on one response body; a larger body is an error, not an allocation.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// The `info.version` ToolHive requires of a registry's OpenAPI document.
pub const OPENAPI_REQUIRED_VERSION: &str = "1.0.0";
/// What ToolHive requires `info.description` of a registry's OpenAPI document to contain.
pub const OPENAPI_REQUIRED_DESCRIPTION: &str = "https://github.com/modelcontextprotocol/registry";

/// The longest error message quoted from a response body, in characters.
const MAX_MESSAGE_CHARS: usize = 500;
/// What replaces the bearer token wherever it would appear.
const REDACTED: &str = "[REDACTED]";

/// Characters percent-encoded in a path segment: everything except RFC 3986 unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Everything that can go wrong with a registry call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The client could not be built: a bad base URL, API prefix, token, CA certificate or timeout.
    #[error("invalid registry client configuration: {0}")]
    Config(String),
    /// An argument cannot be sent: an empty name, a `.` or `..` path segment, a body that does not serialize.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// No HTTP answer: connection refused, DNS, TLS, timeout, a reset while reading. The message names the method
    /// and URL (never the token).
    #[error("registry request failed: {0}")]
    Transport(String),
    /// 404. The message names what was asked for, the URL and the registry's own message.
    #[error("not found: {0}")]
    NotFound(String),
    /// 401 (the registry's message), or a write attempted without a configured token.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 403, with the registry's message (e.g. which namespaces the token may publish to).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Any other non-2xx answer, with the registry's message.
    #[error("registry answered HTTP {status}: {message}")]
    Http { status: u16, message: String },
    /// A 2xx answer whose body is not what the API promises (or is larger than the configured cap).
    #[error("cannot decode the response of {url}: {message}")]
    Decode { url: String, message: String },
    /// The OpenAPI document does not pass ToolHive's compatibility check.
    #[error("{url} does not describe an MCP Registry API: {message}")]
    Incompatible { url: String, message: String },
    /// [`RegistryClient::list_all`] or a [`Pager`] reached the page cap with more pages to come.
    #[error(
        "listing stopped after {max_pages} pages with more to come (raise the page cap, or narrow the listing)"
    )]
    TooManyPages { max_pages: usize },
    /// [`RegistryClient::list_all`] or a [`Pager`] collected more server versions than the cap.
    #[error(
        "listing stopped: the registry returned more than {max_servers} server versions (raise the cap, or narrow the listing)"
    )]
    TooManyServers { max_servers: usize },
}

impl ClientError {
    /// The HTTP status the registry answered, when this error is one. `None` for [`ClientError::Unauthorized`],
    /// which is also raised locally when a write is attempted without a token.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::NotFound(_) => Some(404),
            Self::Unauthorized(_) => None,
            Self::Forbidden(_) => Some(403),
            Self::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A 404: the server, version or endpoint does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound(_))
    }
}

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
    fn new(base_url: &str) -> Self {
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
    pub fn build(self) -> Result<RegistryClient, ClientError> {
        let base = parse_base_url(&self.base_url)?;
        let api_prefix = normalize_prefix(&self.api_prefix)?;
        let token = match self.token {
            None => None,
            Some(t) => Some(check_token(&t)?),
        };
        if self.timeout.is_zero() {
            return Err(ClientError::Config("the timeout must be positive".into()));
        }
        if self.max_pages == 0 || self.max_servers == 0 || self.max_response_bytes == 0 {
            return Err(ClientError::Config(
                "max_pages, max_servers and max_response_bytes must be positive".into(),
            ));
        }
        let user_agent = HeaderValue::from_str(&self.user_agent).map_err(|_| {
            ClientError::Config(format!(
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
            ClientError::Config(format!("cannot build the HTTP client: {}", error_chain(&e)))
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

fn parse_base_url(raw: &str) -> Result<Url, ClientError> {
    let raw = raw.trim();
    let mut url = Url::parse(raw)
        .map_err(|e| ClientError::Config(format!("invalid registry URL {raw:?}: {e}")))?;
    let shown = || {
        let mut u = url.clone();
        let _ = u.set_password(None);
        let _ = u.set_username("");
        u.to_string()
    };
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(ClientError::Config(format!(
            "invalid registry URL {}: must be an http:// or https:// URL",
            shown()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ClientError::Config(format!(
            "invalid registry URL {}: credentials in the URL are not supported, use a bearer token",
            shown()
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ClientError::Config(format!(
            "invalid registry URL {}: it must not have a query or fragment",
            shown()
        )));
    }
    let path = url.path().trim_end_matches('/').to_string();
    url.set_path(&path);
    Ok(url)
}

fn normalize_prefix(raw: &str) -> Result<String, ClientError> {
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
        return Err(ClientError::Config(format!(
            "invalid API prefix {raw:?}: expected a path such as /v0.1 or /v0"
        )));
    }
    Ok(format!("/{trimmed}"))
}

fn check_token(token: &str) -> Result<String, ClientError> {
    let token = token.trim();
    if token.is_empty() {
        return Err(ClientError::Config("the bearer token is empty".into()));
    }
    if HeaderValue::from_str(&format!("Bearer {token}")).is_err() {
        return Err(ClientError::Config(
            "the bearer token contains characters that cannot be sent in an HTTP header".into(),
        ));
    }
    Ok(token.to_string())
}

fn load_certs(source: &CaSource) -> Result<Vec<reqwest::Certificate>, ClientError> {
    let (bytes, origin) = match source {
        CaSource::Pem(bytes) => (bytes.clone(), "the PEM CA certificate".to_string()),
        CaSource::File(path) => (
            std::fs::read(path).map_err(|e| {
                ClientError::Config(format!(
                    "cannot read the CA certificate file {}: {e}",
                    path.display()
                ))
            })?,
            format!("the CA certificate file {}", path.display()),
        ),
    };
    let certs = reqwest::Certificate::from_pem_bundle(&bytes).map_err(|e| {
        ClientError::Config(format!("{origin} is not valid PEM: {}", error_chain(&e)))
    })?;
    if certs.is_empty() {
        return Err(ClientError::Config(format!(
            "{origin} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        )));
    }
    Ok(certs)
}

/// The parameters of `GET servers`. Unset fields are not sent (the registry's defaults apply).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListOptions {
    /// The exact `metadata.nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size; the API accepts 1 to 100 (default 30; [`RegistryClient::list_all`] asks for 100).
    pub limit: Option<u32>,
    /// Case-insensitive substring of the name (and, on recent registries, the description).
    pub search: Option<String>,
    /// Only versions updated strictly after this instant; deleted versions are then included.
    pub updated_since: Option<DateTime<Utc>>,
    /// `latest` for each server's latest version, or an exact version.
    pub version: Option<String>,
    /// Include versions whose status is `deleted`.
    pub include_deleted: Option<bool>,
}

impl ListOptions {
    /// No parameter: the registry's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Start after this cursor (a previous page's `metadata.nextCursor`).
    pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }

    /// The page size.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// A case-insensitive substring to search for.
    pub fn search(mut self, search: impl Into<String>) -> Self {
        self.search = Some(search.into());
        self
    }

    /// Only versions updated strictly after `since` (incremental sync).
    pub fn updated_since(mut self, since: DateTime<Utc>) -> Self {
        self.updated_since = Some(since);
        self
    }

    /// `latest`, or one exact version.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Only each server's latest version (`version=latest`).
    pub fn latest_only(self) -> Self {
        self.version("latest")
    }

    /// Include (or explicitly exclude) deleted versions.
    pub fn include_deleted(mut self, include: bool) -> Self {
        self.include_deleted = Some(include);
        self
    }

    /// The query pairs, in a stable order.
    fn query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(c) = &self.cursor {
            pairs.push(("cursor", c.clone()));
        }
        if let Some(l) = self.limit {
            pairs.push(("limit", l.to_string()));
        }
        if let Some(s) = &self.search {
            pairs.push(("search", s.clone()));
        }
        if let Some(t) = &self.updated_since {
            pairs.push(("updated_since", format_timestamp(t)));
        }
        if let Some(v) = &self.version {
            pairs.push(("version", v.clone()));
        }
        if let Some(d) = self.include_deleted {
            pairs.push(("include_deleted", d.to_string()));
        }
        pairs
    }
}

/// `GET {prefix}/health`: `{"status": "ok"}` and whatever else the registry adds (`github_client_id`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What a registry's OpenAPI document says about itself (`info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenApiInfo {
    /// The document's URL (`{base}/openapi.json` or `{base}/openapi.yaml`).
    pub url: String,
    pub title: Option<String>,
    pub version: Option<String>,
    pub description: Option<String>,
}

impl OpenApiInfo {
    /// Why ToolHive would refuse this registry as an `api` source, or `None` when it passes: `info.version` must be
    /// [`OPENAPI_REQUIRED_VERSION`] and `info.description` must contain [`OPENAPI_REQUIRED_DESCRIPTION`].
    pub fn incompatibility(&self) -> Option<String> {
        if self.version.as_deref() != Some(OPENAPI_REQUIRED_VERSION) {
            return Some(format!(
                "info.version is {}, expected \"{OPENAPI_REQUIRED_VERSION}\"",
                self.version
                    .as_deref()
                    .map_or("missing".to_string(), |v| format!("{v:?}"))
            ));
        }
        if !self
            .description
            .as_deref()
            .is_some_and(|d| d.contains(OPENAPI_REQUIRED_DESCRIPTION))
        {
            return Some(format!(
                "info.description does not mention {OPENAPI_REQUIRED_DESCRIPTION}"
            ));
        }
        None
    }

    /// True when [`incompatibility`](Self::incompatibility) finds nothing.
    pub fn is_toolhive_compatible(&self) -> bool {
        self.incompatibility().is_none()
    }
}

/// A typed client of one registry. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct RegistryClient {
    http: reqwest::Client,
    /// The base URL, its path without a trailing slash.
    base: Url,
    /// `/v0.1` or `/v0` (normalized: a leading slash, no trailing one).
    api_prefix: String,
    token: Option<String>,
    timeout: Duration,
    max_pages: usize,
    max_servers: usize,
    max_response_bytes: usize,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient")
            .field("base_url", &self.base_url())
            .field("api_prefix", &self.api_prefix)
            .field("token", &self.token.as_ref().map(|_| REDACTED))
            .field("timeout", &self.timeout)
            .field("max_pages", &self.max_pages)
            .field("max_servers", &self.max_servers)
            .finish_non_exhaustive()
    }
}

/// One path segment of an API URL.
enum Seg<'a> {
    /// Sent as is.
    Lit(&'a str),
    /// A server name or version: percent-encoded.
    Enc(&'a str),
}

/// Whether a request needs the bearer token.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Auth {
    Optional,
    Required,
}

impl RegistryClient {
    /// A client with every default (no token, 30 s timeout, `/v0.1`).
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        Self::builder(base_url).build()
    }

    /// A builder for the other settings.
    pub fn builder(base_url: &str) -> RegistryClientBuilder {
        RegistryClientBuilder::new(base_url)
    }

    /// This client with another token (same connection pool).
    pub fn with_token(&self, token: impl Into<String>) -> Result<Self, ClientError> {
        let token = check_token(&token.into())?;
        Ok(Self {
            token: Some(token),
            ..self.clone()
        })
    }

    /// This client without a token.
    pub fn without_token(&self) -> Self {
        Self {
            token: None,
            ..self.clone()
        }
    }

    /// The base URL (no trailing slash).
    pub fn base_url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// The API prefix, e.g. `/v0.1`.
    pub fn api_prefix(&self) -> &str {
        &self.api_prefix
    }

    /// Whether a bearer token is configured.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    // ---- reads ----------------------------------------------------------------------------------------------

    /// One page of `GET servers`.
    pub async fn list_page(&self, opts: &ListOptions) -> Result<ServerList, ClientError> {
        self.list_page_as(opts).await
    }

    /// One page of `GET servers`, the server documents decoded as `S` (e.g. `serde_json::Value`).
    pub async fn list_page_as<S: DeserializeOwned>(
        &self,
        opts: &ListOptions,
    ) -> Result<ServerList<S>, ClientError> {
        let mut url = self.api_url(&[Seg::Lit("servers")])?;
        let pairs = opts.query_pairs();
        if !pairs.is_empty() {
            url.query_pairs_mut().extend_pairs(pairs);
        }
        self.call(Method::GET, url, None, Auth::Optional, None)
            .await
    }

    /// A pager over `GET servers` from `opts.cursor` on, following `metadata.nextCursor`, within the client's page
    /// and server caps.
    pub fn pages(&self, opts: &ListOptions) -> Pager<ServerJson> {
        self.pages_as(opts)
    }

    /// [`pages`](Self::pages) with the server documents decoded as `S`.
    pub fn pages_as<S: DeserializeOwned>(&self, opts: &ListOptions) -> Pager<S> {
        Pager {
            client: self.clone(),
            opts: opts.clone(),
            pages: 0,
            servers: 0,
            done: false,
            _server: PhantomData,
        }
    }

    /// Every page of `GET servers`, concatenated. The page size is `opts.limit`, else [`LIST_ALL_PAGE_SIZE`].
    /// Fails with [`ClientError::TooManyPages`] or [`ClientError::TooManyServers`] past the caps (never a silently
    /// truncated list).
    pub async fn list_all(&self, opts: &ListOptions) -> Result<Vec<ServerResponse>, ClientError> {
        self.list_all_as(opts).await
    }

    /// [`list_all`](Self::list_all) with the server documents decoded as `S`.
    pub async fn list_all_as<S: DeserializeOwned>(
        &self,
        opts: &ListOptions,
    ) -> Result<Vec<ServerResponse<S>>, ClientError> {
        let mut opts = opts.clone();
        opts.limit.get_or_insert(LIST_ALL_PAGE_SIZE);
        let mut pager = self.pages_as::<S>(&opts);
        let mut out = Vec::new();
        while let Some(page) = pager.next_page().await {
            out.extend(page?.servers);
        }
        Ok(out)
    }

    /// Every version of one server (`GET servers/{name}/versions`), newest publish first.
    /// [`ClientError::NotFound`] when the server has no (visible) version.
    pub async fn versions(
        &self,
        name: &str,
        include_deleted: bool,
    ) -> Result<ServerList, ClientError> {
        let mut url = self.api_url(&[Seg::Lit("servers"), Seg::Enc(name), Seg::Lit("versions")])?;
        if include_deleted {
            url.query_pairs_mut().append_pair("include_deleted", "true");
        }
        let what = format!("server {name:?}");
        self.call(Method::GET, url, None, Auth::Optional, Some(&what))
            .await
    }

    /// One version of a server. [`ClientError::NotFound`] when it does not exist or is deleted.
    pub async fn get_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<ServerResponse, ClientError> {
        self.get_version_with(name, version, false).await
    }

    /// One version of a server, deleted versions included when `include_deleted`.
    pub async fn get_version_with(
        &self,
        name: &str,
        version: &str,
        include_deleted: bool,
    ) -> Result<ServerResponse, ClientError> {
        let mut url = self.version_url(name, version, None)?;
        if include_deleted {
            url.query_pairs_mut().append_pair("include_deleted", "true");
        }
        let what = if version == "latest" {
            format!("server {name:?} (latest version)")
        } else {
            format!("server {name:?} version {version:?}")
        };
        self.call(Method::GET, url, None, Auth::Optional, Some(&what))
            .await
    }

    /// The version flagged `isLatest` (`GET servers/{name}/versions/latest`).
    pub async fn get_latest(&self, name: &str) -> Result<ServerResponse, ClientError> {
        self.get_version(name, "latest").await
    }

    // ---- writes ---------------------------------------------------------------------------------------------

    /// `POST publish` (token with `publish` permission on the name). `doc` is a [`ServerJson`] or any
    /// serializable document (e.g. a `serde_json::Value`, sent as is).
    pub async fn publish<T: Serialize + ?Sized>(
        &self,
        doc: &T,
    ) -> Result<ServerResponse, ClientError> {
        let url = self.api_url(&[Seg::Lit("publish")])?;
        let body = to_body(doc)?;
        self.call(Method::POST, url, Some(body), Auth::Required, None)
            .await
    }

    /// `PUT servers/{name}/versions/{version}`: replace the document of one version (token with `edit`).
    pub async fn edit<T: Serialize + ?Sized>(
        &self,
        name: &str,
        version: &str,
        doc: &T,
    ) -> Result<ServerResponse, ClientError> {
        let url = self.version_url(name, version, None)?;
        let body = to_body(doc)?;
        let what = format!("server {name:?} version {version:?}");
        self.call(Method::PUT, url, Some(body), Auth::Required, Some(&what))
            .await
    }

    /// `DELETE servers/{name}/versions/{version}`: a tombstone (status `deleted`); the answer is the deleted
    /// version.
    pub async fn delete_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<ServerResponse, ClientError> {
        let url = self.version_url(name, version, None)?;
        let what = format!("server {name:?} version {version:?}");
        self.call(Method::DELETE, url, None, Auth::Required, Some(&what))
            .await
    }

    /// `PATCH servers/{name}/versions/{version}/status`.
    pub async fn set_version_status(
        &self,
        name: &str,
        version: &str,
        req: &StatusUpdateRequest,
    ) -> Result<ServerResponse, ClientError> {
        let url = self.version_url(name, version, Some("status"))?;
        let what = format!("server {name:?} version {version:?}");
        self.call(
            Method::PATCH,
            url,
            Some(to_body(req)?),
            Auth::Required,
            Some(&what),
        )
        .await
    }

    /// `PATCH servers/{name}/status`: every version of a server at once.
    pub async fn set_server_status(
        &self,
        name: &str,
        req: &StatusUpdateRequest,
    ) -> Result<AllVersionsStatusResponse, ClientError> {
        let url = self.api_url(&[Seg::Lit("servers"), Seg::Enc(name), Seg::Lit("status")])?;
        let what = format!("server {name:?}");
        self.call(
            Method::PATCH,
            url,
            Some(to_body(req)?),
            Auth::Required,
            Some(&what),
        )
        .await
    }

    /// `POST validate`: the registry's validation report of a document (anonymous; never publishes).
    pub async fn validate<T: Serialize + ?Sized>(
        &self,
        doc: &T,
    ) -> Result<ValidationResult, ClientError> {
        let url = self.api_url(&[Seg::Lit("validate")])?;
        self.call(Method::POST, url, Some(to_body(doc)?), Auth::Optional, None)
            .await
    }

    // ---- meta -----------------------------------------------------------------------------------------------

    /// `GET health`. A registry whose database is down answers 503: [`ClientError::Http`].
    pub async fn health(&self) -> Result<Health, ClientError> {
        let url = self.api_url(&[Seg::Lit("health")])?;
        self.call(Method::GET, url, None, Auth::Optional, None)
            .await
    }

    /// Fetches the registry's OpenAPI `info`: `{base}/openapi.json` first, then `{base}/openapi.yaml` when the JSON
    /// document is missing or unreadable. Only `info.title`, `info.version` and `info.description` are read (the
    /// YAML by a small line-based extraction, which handles plain, quoted, multi-line and block scalars).
    pub async fn fetch_openapi(&self) -> Result<OpenApiInfo, ClientError> {
        let json_url = self.root_url("openapi.json");
        let (status, body) = self
            .execute(
                Method::GET,
                json_url.clone(),
                None,
                Auth::Optional,
                "application/json",
            )
            .await?;
        let json_failure = if status.is_success() {
            match serde_json::from_slice::<Value>(&body) {
                Ok(doc) if doc.get("info").is_some_and(Value::is_object) => {
                    return Ok(info_from_json(json_url.as_str(), &doc));
                }
                Ok(_) => "it has no info object".to_string(),
                Err(e) => format!("it is not JSON: {e}"),
            }
        } else {
            format!("HTTP {}", status.as_u16())
        };
        let yaml_url = self.root_url("openapi.yaml");
        let (status, body) = self
            .execute(
                Method::GET,
                yaml_url.clone(),
                None,
                Auth::Optional,
                "application/yaml, text/yaml;q=0.9, */*;q=0.8",
            )
            .await?;
        if !status.is_success() {
            let what = format!("OpenAPI document ({json_url}: {json_failure}; {yaml_url})");
            return Err(self.status_error(status, &body, &Method::GET, &yaml_url, Some(&what)));
        }
        let text = String::from_utf8_lossy(&body);
        let info = if text.trim_start().starts_with('{') {
            serde_json::from_str::<Value>(&text)
                .map(|doc| info_from_json(yaml_url.as_str(), &doc))
                .map_err(|e| ClientError::Decode {
                    url: yaml_url.to_string(),
                    message: format!("not JSON nor YAML: {e}"),
                })?
        } else {
            let fields = yaml_info(&text).ok_or_else(|| ClientError::Decode {
                url: yaml_url.to_string(),
                message: format!(
                    "no top-level info mapping found (and {json_url} failed: {json_failure})"
                ),
            })?;
            OpenApiInfo {
                url: yaml_url.to_string(),
                title: fields.title,
                version: fields.version,
                description: fields.description,
            }
        };
        Ok(info)
    }

    /// [`fetch_openapi`](Self::fetch_openapi), then ToolHive's compatibility rule
    /// ([`OpenApiInfo::incompatibility`]): [`ClientError::Incompatible`] when it fails.
    pub async fn check_openapi(&self) -> Result<OpenApiInfo, ClientError> {
        let info = self.fetch_openapi().await?;
        match info.incompatibility() {
            None => Ok(info),
            Some(message) => Err(ClientError::Incompatible {
                url: info.url,
                message,
            }),
        }
    }

    // ---- plumbing -------------------------------------------------------------------------------------------

    /// `{base}{prefix}/seg/seg...`, names and versions percent-encoded.
    fn api_url(&self, segments: &[Seg<'_>]) -> Result<Url, ClientError> {
        let mut path = format!(
            "{}{}",
            self.base.path().trim_end_matches('/'),
            self.api_prefix
        );
        for seg in segments {
            path.push('/');
            match seg {
                Seg::Lit(s) => path.push_str(s),
                Seg::Enc(s) => path.push_str(&encode_segment(s)?),
            }
        }
        let mut url = self.base.clone();
        url.set_path(&path);
        Ok(url)
    }

    fn version_url(
        &self,
        name: &str,
        version: &str,
        tail: Option<&'static str>,
    ) -> Result<Url, ClientError> {
        let mut segs = vec![
            Seg::Lit("servers"),
            Seg::Enc(name),
            Seg::Lit("versions"),
            Seg::Enc(version),
        ];
        if let Some(t) = tail {
            segs.push(Seg::Lit(t));
        }
        self.api_url(&segs)
    }

    /// `{base}/file`, outside the API prefix.
    fn root_url(&self, file: &str) -> Url {
        let mut url = self.base.clone();
        url.set_path(&format!(
            "{}/{file}",
            self.base.path().trim_end_matches('/')
        ));
        url
    }

    /// Sends a request and decodes a 2xx JSON answer; any other answer becomes the matching [`ClientError`].
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        auth: Auth,
        what: Option<&str>,
    ) -> Result<T, ClientError> {
        let (status, bytes) = self
            .execute(method.clone(), url.clone(), body, auth, "application/json")
            .await?;
        if !status.is_success() {
            return Err(self.status_error(status, &bytes, &method, &url, what));
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
            url: url.to_string(),
            message: self.scrub(format!("{e} (HTTP {})", status.as_u16())),
        })
    }

    /// Sends a request and reads the whole body (within the size cap); only transport failures are errors here.
    async fn execute(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        auth: Auth,
        accept: &'static str,
    ) -> Result<(StatusCode, Vec<u8>), ClientError> {
        if auth == Auth::Required && self.token.is_none() {
            return Err(ClientError::Unauthorized(format!(
                "{method} {url} needs a registry token, and none is configured"
            )));
        }
        let mut req = self
            .http
            .request(method.clone(), url.clone())
            .header(ACCEPT, accept);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.header(CONTENT_TYPE, "application/json").body(body);
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| self.transport_error(&method, &url, e))?;
        let status = resp.status();
        let too_large = || ClientError::Decode {
            url: url.to_string(),
            message: format!(
                "the response body is larger than {} bytes",
                self.max_response_bytes
            ),
        };
        if resp
            .content_length()
            .is_some_and(|n| n > self.max_response_bytes as u64)
        {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| self.transport_error(&method, &url, e))?
        {
            if bytes.len() + chunk.len() > self.max_response_bytes {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok((status, bytes))
    }

    fn transport_error(&self, method: &Method, url: &Url, e: reqwest::Error) -> ClientError {
        let kind = if e.is_timeout() {
            format!("timed out after {}", humanize(self.timeout))
        } else if e.is_connect() {
            "cannot connect".to_string()
        } else {
            "no answer".to_string()
        };
        let detail = error_chain(&e.without_url());
        ClientError::Transport(self.scrub(format!("{method} {url}: {kind}: {detail}")))
    }

    fn status_error(
        &self,
        status: StatusCode,
        body: &[u8],
        method: &Method,
        url: &Url,
        what: Option<&str>,
    ) -> ClientError {
        let message = self.scrub(error_message(status, body));
        match status {
            StatusCode::UNAUTHORIZED => ClientError::Unauthorized(message),
            StatusCode::FORBIDDEN => ClientError::Forbidden(message),
            StatusCode::NOT_FOUND => ClientError::NotFound(self.scrub(match what {
                Some(what) => format!("{what} ({method} {url}): {message}"),
                None => format!("{method} {url}: {message}"),
            })),
            _ => ClientError::Http {
                status: status.as_u16(),
                message,
            },
        }
    }

    /// Replaces every occurrence of the token.
    fn scrub(&self, text: String) -> String {
        match &self.token {
            Some(token) if text.contains(token.as_str()) => text.replace(token.as_str(), REDACTED),
            _ => text,
        }
    }
}

/// A page-by-page walk of `GET servers`, from [`RegistryClient::pages`].
///
/// `next_page` yields each page until the registry returns no `nextCursor`, then `None`. An error ends the walk:
/// a failed request, the page cap reached with more to come ([`ClientError::TooManyPages`]), more server versions
/// than the server cap ([`ClientError::TooManyServers`]), or a registry that answers the cursor it was given.
#[derive(Debug)]
pub struct Pager<S = ServerJson> {
    client: RegistryClient,
    opts: ListOptions,
    pages: usize,
    servers: usize,
    done: bool,
    _server: PhantomData<fn() -> S>,
}

impl<S: DeserializeOwned> Pager<S> {
    /// The next page, or `None` once the last page was returned or an error was.
    pub async fn next_page(&mut self) -> Option<Result<ServerList<S>, ClientError>> {
        if self.done {
            return None;
        }
        if self.pages >= self.client.max_pages {
            self.done = true;
            return Some(Err(ClientError::TooManyPages {
                max_pages: self.client.max_pages,
            }));
        }
        let page = match self.client.list_page_as::<S>(&self.opts).await {
            Ok(page) => page,
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        self.pages += 1;
        self.servers += page.servers.len();
        if self.servers > self.client.max_servers {
            self.done = true;
            return Some(Err(ClientError::TooManyServers {
                max_servers: self.client.max_servers,
            }));
        }
        let next = page.metadata.next_cursor.clone().filter(|c| !c.is_empty());
        if next.is_some() && next == self.opts.cursor {
            self.done = true;
            let mut url = self.client.api_url(&[Seg::Lit("servers")]).ok()?;
            url.query_pairs_mut().extend_pairs(self.opts.query_pairs());
            return Some(Err(ClientError::Decode {
                url: url.to_string(),
                message: "the registry answered the same nextCursor it was given; pagination would not end"
                    .into(),
            }));
        }
        self.done = next.is_none();
        self.opts.cursor = next;
        Some(Ok(page))
    }

    /// The pages fetched so far.
    pub fn pages_fetched(&self) -> usize {
        self.pages
    }

    /// The cursor of the next page (`None` before the first page when none was given, and after the last one).
    pub fn cursor(&self) -> Option<&str> {
        self.opts.cursor.as_deref()
    }
}

fn to_body<T: Serialize + ?Sized>(doc: &T) -> Result<Vec<u8>, ClientError> {
    serde_json::to_vec(doc).map_err(|e| {
        ClientError::InvalidArgument(format!("the request body does not serialize: {e}"))
    })
}

/// Percent-encodes a server name or version as one path segment (`/` → `%2F`, `+` → `%2B`).
fn encode_segment(s: &str) -> Result<String, ClientError> {
    if s.is_empty() {
        return Err(ClientError::InvalidArgument(
            "a server name or version must not be empty".into(),
        ));
    }
    if s == "." || s == ".." {
        return Err(ClientError::InvalidArgument(format!(
            "{s:?} cannot be a server name or version (it is a relative path segment)"
        )));
    }
    Ok(utf8_percent_encode(s, SEGMENT).to_string())
}

/// The error and its sources, `: `-joined, each said once.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// The message of an error body: `{"error": "..."}`, huma's problem+json (`detail`, else `title`, with the
/// `errors[].location: message` list appended), or `{"message": "..."}`. `None` when the body is none of these.
pub fn parse_error_body(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let obj = value.as_object()?;
    let text = |key: &str| {
        obj.get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    if let Some(e) = text("error") {
        return Some(e.to_string());
    }
    if let Some(Value::Object(e)) = obj.get("error")
        && let Some(m) = e.get("message").and_then(Value::as_str)
    {
        return Some(m.to_string());
    }
    let mut message = text("detail")
        .or_else(|| text("title"))
        .or_else(|| text("message"))?
        .to_string();
    if let Some(Value::Array(errors)) = obj.get("errors") {
        let details: Vec<String> = errors
            .iter()
            .filter_map(|e| {
                let m = e.get("message")?.as_str()?;
                Some(match e.get("location").and_then(Value::as_str) {
                    Some(loc) if !loc.is_empty() => format!("{loc}: {m}"),
                    _ => m.to_string(),
                })
            })
            .collect();
        if !details.is_empty() {
            message = format!("{message} ({})", details.join("; "));
        }
    }
    Some(message)
}

/// The message of a non-2xx answer: the parsed error body, else the body's text (whitespace collapsed, truncated),
/// else the status's reason phrase.
fn error_message(status: StatusCode, body: &[u8]) -> String {
    let message = parse_error_body(body).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if collapsed.is_empty() {
            status
                .canonical_reason()
                .unwrap_or("no message")
                .to_string()
        } else {
            collapsed
        }
    });
    truncate(&message, MAX_MESSAGE_CHARS)
}

fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn info_from_json(url: &str, doc: &Value) -> OpenApiInfo {
    let info = &doc["info"];
    let field = |key: &str| match &info[key] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    OpenApiInfo {
        url: url.to_string(),
        title: field("title"),
        version: field("version"),
        description: field("description"),
    }
}

/// `info.title`, `info.version` and `info.description` of a YAML OpenAPI document.
#[derive(Debug, Default, PartialEq, Eq)]
struct InfoFields {
    title: Option<String>,
    version: Option<String>,
    description: Option<String>,
}

/// Extracts three scalars of the top-level `info` mapping of a YAML document, line by line: no YAML library is
/// needed for that. Handles plain (also multi-line), single- and double-quoted and block (`|`, `>`) scalars, and
/// comments. `None` when there is no top-level `info:` block mapping.
fn yaml_info(text: &str) -> Option<InfoFields> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| {
        split_key(l).is_some_and(|(key, rest)| key == "info" && is_blank_or_comment(rest))
    })?;
    let mut fields = InfoFields::default();
    let mut child_indent = None;
    let mut i = start + 1;
    while i < lines.len() {
        let line = lines[i];
        let content = line.trim_start_matches(' ');
        if is_blank_or_comment(content) {
            i += 1;
            continue;
        }
        let indent = line.len() - content.len();
        if indent == 0 {
            break;
        }
        if indent == *child_indent.get_or_insert(indent)
            && let Some((key, rest)) = split_key(content)
            && matches!(key.as_str(), "title" | "version" | "description")
        {
            let (value, next) = yaml_scalar(&lines, i, indent, rest);
            match key.as_str() {
                "title" => fields.title = value,
                "version" => fields.version = value,
                _ => fields.description = value,
            }
            i = next.max(i + 1);
            continue;
        }
        i += 1;
    }
    Some(fields)
}

fn is_blank_or_comment(s: &str) -> bool {
    let t = s.trim();
    t.is_empty() || t.starts_with('#')
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// `key: rest` at the start of `content` (indentation already removed; the key may be quoted).
fn split_key(content: &str) -> Option<(String, &str)> {
    let (key, after) = match content.chars().next()? {
        q @ ('"' | '\'') => {
            let end = content[1..].find(q)? + 1;
            (content[1..end].to_string(), &content[end + 1..])
        }
        _ => {
            let colon = content
                .match_indices(':')
                .find(|(i, _)| matches!(content[i + 1..].chars().next(), None | Some(' ' | '\t')))?
                .0;
            (content[..colon].trim_end().to_string(), &content[colon..])
        }
    };
    let rest = after.strip_prefix(':')?;
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    Some((key, rest.trim_start()))
}

/// The scalar that starts after `key:` on line `i` (whose key is at `indent`), and the index of the first line after
/// it.
fn yaml_scalar(lines: &[&str], i: usize, indent: usize, rest: &str) -> (Option<String>, usize) {
    match rest.chars().next() {
        Some('"') => quoted_scalar(lines, i, &rest[1..], '"'),
        Some('\'') => quoted_scalar(lines, i, &rest[1..], '\''),
        Some('|' | '>') => block_scalar(lines, i, indent, rest),
        _ => plain_scalar(lines, i, indent, rest),
    }
}

/// The text of a plain scalar's line: up to a ` #` comment, trimmed.
fn strip_comment(s: &str) -> &str {
    let end = s
        .match_indices('#')
        .find(|(i, _)| *i == 0 || s[..*i].ends_with([' ', '\t']))
        .map_or(s.len(), |(i, _)| i);
    s[..end].trim()
}

/// A plain scalar, folded over the more-indented lines that follow.
fn plain_scalar(lines: &[&str], i: usize, indent: usize, rest: &str) -> (Option<String>, usize) {
    let mut value = strip_comment(rest).to_string();
    let mut pending_newlines = 0;
    let mut j = i + 1;
    while j < lines.len() {
        let line = lines[j];
        if line.trim().is_empty() {
            pending_newlines += 1;
            j += 1;
            continue;
        }
        if indent_of(line) <= indent || line.trim_start().starts_with('#') {
            break;
        }
        let text = strip_comment(line.trim());
        if value.is_empty() {
            value = text.to_string();
        } else if pending_newlines > 0 {
            value.push_str(&"\n".repeat(pending_newlines));
            value.push_str(text);
        } else {
            value.push(' ');
            value.push_str(text);
        }
        pending_newlines = 0;
        j += 1;
    }
    let next = j - pending_newlines;
    ((!value.is_empty()).then_some(value), next.max(i + 1))
}

/// A quoted scalar starting after its opening quote on line `i`, possibly over several lines (folded: a line break
/// is a space, an empty line a newline).
fn quoted_scalar(lines: &[&str], i: usize, first: &str, quote: char) -> (Option<String>, usize) {
    let mut out = String::new();
    let mut j = i;
    let mut segment = first;
    loop {
        let mut chars = segment.char_indices().peekable();
        let mut escaped_break = false;
        while let Some((pos, c)) = chars.next() {
            if c == quote {
                if quote == '\'' && chars.peek().is_some_and(|(_, n)| *n == '\'') {
                    chars.next();
                    out.push('\'');
                    continue;
                }
                return (Some(out), j + 1);
            }
            if quote == '"' && c == '\\' {
                match chars.next() {
                    None => {
                        escaped_break = true;
                        break;
                    }
                    Some((_, e)) => match e {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        '0' => out.push('\0'),
                        ' ' => out.push(' '),
                        '/' => out.push('/'),
                        '"' => out.push('"'),
                        '\\' => out.push('\\'),
                        'x' | 'u' | 'U' => {
                            let len = match e {
                                'x' => 2,
                                'u' => 4,
                                _ => 8,
                            };
                            let start = pos + 2;
                            let hex = segment.get(start..start + len).unwrap_or("");
                            match u32::from_str_radix(hex, 16).ok().and_then(char::from_u32) {
                                Some(ch) if hex.len() == len => {
                                    out.push(ch);
                                    for _ in 0..len {
                                        chars.next();
                                    }
                                }
                                _ => {
                                    out.push('\\');
                                    out.push(e);
                                }
                            }
                        }
                        other => {
                            out.push('\\');
                            out.push(other);
                        }
                    },
                }
                continue;
            }
            out.push(c);
        }
        // The line ended inside the quotes: fold into the next non-empty line.
        if !escaped_break {
            let trimmed = out.trim_end_matches([' ', '\t']).len();
            out.truncate(trimmed);
        }
        j += 1;
        let mut empty = 0;
        while j < lines.len() && lines[j].trim().is_empty() {
            empty += 1;
            j += 1;
        }
        if j >= lines.len() {
            return (None, j);
        }
        if empty > 0 {
            out.push_str(&"\n".repeat(empty));
        } else if !escaped_break {
            out.push(' ');
        }
        segment = lines[j].trim_start_matches([' ', '\t']);
    }
}

/// A block scalar (`|` literal, `>` folded; chomping `-`/`+`, an optional indentation digit).
fn block_scalar(lines: &[&str], i: usize, indent: usize, header: &str) -> (Option<String>, usize) {
    let header = strip_comment(header);
    let literal = header.starts_with('|');
    let chomp = if header.contains('-') {
        '-'
    } else if header.contains('+') {
        '+'
    } else {
        ' '
    };
    let explicit = header
        .chars()
        .find_map(|c| c.to_digit(10))
        .map(|d| indent + d as usize);
    let mut j = i + 1;
    let mut block_indent = explicit;
    let mut body: Vec<&str> = Vec::new();
    while j < lines.len() {
        let line = lines[j];
        if line.trim().is_empty() {
            body.push("");
            j += 1;
            continue;
        }
        let ind = indent_of(line);
        let bi = *block_indent.get_or_insert(ind);
        if ind <= indent || ind < bi {
            break;
        }
        body.push(&line[bi..]);
        j += 1;
    }
    // Trailing empty lines belong to the scalar only for chomping, not to the document structure.
    let trailing = body.iter().rev().take_while(|l| l.is_empty()).count();
    let next = j - trailing;
    let content = &body[..body.len() - trailing];
    let mut value = if literal {
        content.join("\n")
    } else {
        let mut folded = String::new();
        let mut prev_more_indented = false;
        for (k, line) in content.iter().enumerate() {
            let more_indented = line.starts_with([' ', '\t']);
            if k > 0 {
                // Each empty line is a newline; the break before it is dropped, as is the break after
                // it (unless the next line is more indented); other breaks fold into spaces.
                if line.is_empty() {
                    folded.push('\n');
                } else if content[k - 1].is_empty() {
                    if more_indented {
                        folded.push('\n');
                    }
                } else if more_indented || prev_more_indented {
                    folded.push('\n');
                } else {
                    folded.push(' ');
                }
            }
            folded.push_str(line);
            prev_more_indented = more_indented;
        }
        folded
    };
    match chomp {
        '-' => {}
        '+' => value.push_str(&"\n".repeat(trailing + 1)),
        _ if !content.is_empty() => value.push('\n'),
        _ => {}
    }
    (Some(value), next.max(i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_json_and_error_bodies_give_their_message() {
        let huma = br#"{"$schema":"https://registry.modelcontextprotocol.io/schemas/ErrorModel.json",
            "title":"Unprocessable Entity","status":422,"detail":"validation failed",
            "errors":[{"message":"expected number <= 100","location":"query.limit","value":1000}]}"#;
        assert_eq!(
            parse_error_body(huma).as_deref(),
            Some("validation failed (query.limit: expected number <= 100)")
        );
        let title_only = br#"{"title":"Not Found","status":404}"#;
        assert_eq!(parse_error_body(title_only).as_deref(), Some("Not Found"));
        let ours = br#"{"error":"Server not found"}"#;
        assert_eq!(parse_error_body(ours).as_deref(), Some("Server not found"));
        assert_eq!(parse_error_body(b"<html>bad gateway</html>"), None);
        assert_eq!(
            error_message(StatusCode::BAD_GATEWAY, b"<html>\n  bad   gateway\n</html>"),
            "<html> bad gateway </html>"
        );
        assert_eq!(
            error_message(StatusCode::SERVICE_UNAVAILABLE, b""),
            "Service Unavailable"
        );
        let long = "x".repeat(2000);
        let m = error_message(StatusCode::INTERNAL_SERVER_ERROR, long.as_bytes());
        assert_eq!(m.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(m.ends_with('…'));
    }

    #[test]
    fn status_errors_map_to_variants_and_never_carry_the_token() {
        let client = RegistryClient::builder("http://registry.test")
            .token("s3cr3t-token")
            .build()
            .unwrap();
        let url = client.api_url(&[Seg::Lit("publish")]).unwrap();
        let e = client.status_error(
            StatusCode::FORBIDDEN,
            br#"{"error":"no permission for s3cr3t-token"}"#,
            &Method::POST,
            &url,
            None,
        );
        assert!(matches!(&e, ClientError::Forbidden(m) if m == "no permission for [REDACTED]"));
        let problem = br#"{"title":"Unauthorized","status":401,"detail":"Invalid or expired Registry JWT token"}"#;
        let e = client.status_error(StatusCode::UNAUTHORIZED, problem, &Method::POST, &url, None);
        assert!(
            matches!(&e, ClientError::Unauthorized(m) if m == "Invalid or expired Registry JWT token")
        );
        let e = client.status_error(
            StatusCode::NOT_FOUND,
            br#"{"title":"Not Found","status":404,"detail":"Server not found"}"#,
            &Method::GET,
            &url,
            Some("server \"a/b\""),
        );
        assert!(e.is_not_found());
        assert!(e.to_string().contains("server \"a/b\""), "{e}");
        assert!(e.to_string().contains("Server not found"), "{e}");
        let e = client.status_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            br#"{"title":"Unprocessable Entity","status":422,"detail":"validation failed"}"#,
            &Method::GET,
            &url,
            None,
        );
        assert!(
            matches!(&e, ClientError::Http { status: 422, message } if message == "validation failed")
        );
        let debug = format!("{client:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(debug.contains(REDACTED));
        let builder = RegistryClient::builder("http://x").token("s3cr3t-token");
        assert!(!format!("{builder:?}").contains("s3cr3t"));
    }

    #[test]
    fn urls_keep_the_base_path_and_encode_segments() {
        for base in [
            "http://host/registry/prod",
            "http://host/registry/prod/",
            " http://host/registry/prod// ",
        ] {
            let c = RegistryClient::new(base).unwrap();
            assert_eq!(c.base_url(), "http://host/registry/prod");
            let url = c
                .version_url("io.github.x/my-server", "1.0.0+build.5", Some("status"))
                .unwrap();
            assert_eq!(
                url.as_str(),
                "http://host/registry/prod/v0.1/servers/io.github.x%2Fmy-server/versions/1.0.0%2Bbuild.5/status"
            );
            assert_eq!(
                c.root_url("openapi.yaml").as_str(),
                "http://host/registry/prod/openapi.yaml"
            );
        }
        let c = RegistryClient::builder("https://host")
            .api_prefix("v0/")
            .build()
            .unwrap();
        assert_eq!(c.api_prefix(), "/v0");
        assert_eq!(
            c.api_url(&[Seg::Lit("servers")]).unwrap().as_str(),
            "https://host/v0/servers"
        );
        assert_eq!(
            c.root_url("openapi.json").as_str(),
            "https://host/openapi.json"
        );
        assert!(matches!(
            c.version_url("a/b", "..", None),
            Err(ClientError::InvalidArgument(_))
        ));
        assert!(matches!(
            c.version_url("", "1", None),
            Err(ClientError::InvalidArgument(_))
        ));
        assert_eq!(encode_segment("a b%c?#é").unwrap(), "a%20b%25c%3F%23%C3%A9");
    }

    #[test]
    fn list_options_become_a_form_encoded_query() {
        let c = RegistryClient::new("http://host").unwrap();
        let t = DateTime::parse_from_rfc3339("2025-08-07T13:15:04.280Z")
            .unwrap()
            .with_timezone(&Utc);
        let opts = ListOptions::new()
            .cursor("com.example/a:1.0.0+x")
            .limit(5)
            .search("git hub")
            .updated_since(t)
            .latest_only()
            .include_deleted(true);
        let mut url = c.api_url(&[Seg::Lit("servers")]).unwrap();
        url.query_pairs_mut().extend_pairs(opts.query_pairs());
        assert_eq!(
            url.query(),
            Some(
                "cursor=com.example%2Fa%3A1.0.0%2Bx&limit=5&search=git+hub&updated_since=2025-08-07T13%3A15%3A04.280Z&version=latest&include_deleted=true"
            )
        );
    }

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
            assert!(matches!(e, ClientError::Config(_)), "{bad}: {e}");
            assert!(!e.to_string().contains("pw"), "{e}");
        }
        assert!(matches!(
            RegistryClient::builder("http://h")
                .api_prefix("/v0/../x")
                .build(),
            Err(ClientError::Config(_))
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
            Err(ClientError::Config(_))
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

    #[test]
    fn yaml_info_reads_every_scalar_style() {
        let ours = "openapi: 3.1.0\ninfo:\n  title: ToolHive MCP Registry API\n  description: An implementation of the MCP Registry API (https://github.com/modelcontextprotocol/registry), served under /v0.\n  version: 1.0.0\npaths:\n  /v0.1/health:\n    get:\n      description: not this one\n";
        let f = yaml_info(ours).unwrap();
        assert_eq!(f.version.as_deref(), Some("1.0.0"));
        assert_eq!(f.title.as_deref(), Some("ToolHive MCP Registry API"));
        assert!(
            f.description
                .unwrap()
                .contains(OPENAPI_REQUIRED_DESCRIPTION)
        );

        let styles = "\u{feff}# comment\r\ninfo: # the info\r\n    title: 'It''s a registry'\r\n    version: \"1.0.0\" # quoted\r\n    contact:\r\n      version: nested\r\n    description: >-\r\n      A registry\r\n      following\r\n\r\n      https://github.com/modelcontextprotocol/registry\r\nservers: []\r\n";
        let f = yaml_info(styles).unwrap();
        assert_eq!(f.title.as_deref(), Some("It's a registry"));
        assert_eq!(f.version.as_deref(), Some("1.0.0"));
        assert_eq!(
            f.description.as_deref(),
            Some("A registry following\nhttps://github.com/modelcontextprotocol/registry")
        );

        let multi = "info:\n  description: \"Spec of\n    https://github.com/modelcontextprotocol/registry \\u00e9\\\n    t\\u00e9\"\n  version: 1.0.0\n  title: plain\n    continued # c\n";
        let f = yaml_info(multi).unwrap();
        assert_eq!(
            f.description.as_deref(),
            Some("Spec of https://github.com/modelcontextprotocol/registry été")
        );
        assert_eq!(f.version.as_deref(), Some("1.0.0"));
        assert_eq!(f.title.as_deref(), Some("plain continued"));

        let literal = "info:\n  description: |\n    line one\n      indented\n    line two\n\n  version: '2025-12-01'\n";
        let f = yaml_info(literal).unwrap();
        assert_eq!(
            f.description.as_deref(),
            Some("line one\n  indented\nline two\n")
        );
        assert_eq!(f.version.as_deref(), Some("2025-12-01"));

        assert_eq!(yaml_info("openapi: 3.1.0\npaths: {}\n"), None);
        assert_eq!(yaml_info("info:\n"), Some(InfoFields::default()));
    }

    #[test]
    fn openapi_compatibility_is_toolhive_rule() {
        let mut info = OpenApiInfo {
            url: "u".into(),
            title: None,
            version: Some("1.0.0".into()),
            description: Some(format!("see {OPENAPI_REQUIRED_DESCRIPTION}")),
        };
        assert!(info.is_toolhive_compatible());
        info.version = Some("2025-12-01".into());
        assert!(info.incompatibility().unwrap().contains("2025-12-01"));
        info.version = Some("1.0.0".into());
        info.description = Some("a registry".into());
        assert!(info.incompatibility().unwrap().contains("description"));
    }
}
