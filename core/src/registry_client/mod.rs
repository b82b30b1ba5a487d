//! The typed HTTP client of the MCP Registry API (v0 and v0.1), as served by the official registry, by
//! `thv-registry-api` and by other subregistries.
//!
//! ```no_run
//! # async fn demo() -> Result<(), thv_core::registry_client::RegistryClientError> {
//! use thv_core::registry_client::{ListOptions, RegistryClient};
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
//! Every call returns a [`RegistryClientError`]. Error bodies are read in both shapes registries use: `{"error": "..."}`
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

mod builder;
mod error;
mod list;
mod openapi;
mod request;
mod url;

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use ::url::Url;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::api::{AllVersionsStatusResponse, ServerList, ServerResponse, StatusUpdateRequest};
use crate::server::ServerJson;
use crate::validate::ValidationResult;

pub use builder::RegistryClientBuilder;
pub use error::{RegistryClientError, parse_error_body};
pub use list::{ListOptions, Pager};
pub use openapi::{OPENAPI_REQUIRED_DESCRIPTION, OPENAPI_REQUIRED_VERSION, OpenApiInfo};

use self::url::Seg;
use builder::check_token;
use request::Auth;

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
/// What replaces the bearer token wherever it would appear.
const REDACTED: &str = "[REDACTED]";

/// `GET {prefix}/health`: `{"status": "ok"}` and whatever else the registry adds (`github_client_id`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
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

impl RegistryClient {
    /// A client with every default (no token, 30 s timeout, `/v0.1`).
    pub fn new(base_url: &str) -> Result<Self, RegistryClientError> {
        Self::builder(base_url).build()
    }

    /// A builder for the other settings.
    pub fn builder(base_url: &str) -> RegistryClientBuilder {
        RegistryClientBuilder::new(base_url)
    }

    /// This client with another token (same connection pool).
    pub fn with_token(&self, token: impl Into<String>) -> Result<Self, RegistryClientError> {
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
    pub async fn list_page(&self, opts: &ListOptions) -> Result<ServerList, RegistryClientError> {
        self.list_page_as(opts).await
    }

    /// One page of `GET servers`, the server documents decoded as `S` (e.g. `serde_json::Value`).
    pub async fn list_page_as<S: DeserializeOwned>(
        &self,
        opts: &ListOptions,
    ) -> Result<ServerList<S>, RegistryClientError> {
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
    /// Fails with [`RegistryClientError::TooManyPages`] or [`RegistryClientError::TooManyServers`] past the caps (never a silently
    /// truncated list).
    pub async fn list_all(
        &self,
        opts: &ListOptions,
    ) -> Result<Vec<ServerResponse>, RegistryClientError> {
        self.list_all_as(opts).await
    }

    /// [`list_all`](Self::list_all) with the server documents decoded as `S`.
    pub async fn list_all_as<S: DeserializeOwned>(
        &self,
        opts: &ListOptions,
    ) -> Result<Vec<ServerResponse<S>>, RegistryClientError> {
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
    /// [`RegistryClientError::NotFound`] when the server has no (visible) version.
    pub async fn versions(
        &self,
        name: &str,
        include_deleted: bool,
    ) -> Result<ServerList, RegistryClientError> {
        let mut url = self.api_url(&[Seg::Lit("servers"), Seg::Enc(name), Seg::Lit("versions")])?;
        if include_deleted {
            url.query_pairs_mut().append_pair("include_deleted", "true");
        }
        let what = format!("server {name:?}");
        self.call(Method::GET, url, None, Auth::Optional, Some(&what))
            .await
    }

    /// One version of a server. [`RegistryClientError::NotFound`] when it does not exist or is deleted.
    pub async fn get_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<ServerResponse, RegistryClientError> {
        self.get_version_with(name, version, false).await
    }

    /// One version of a server, deleted versions included when `include_deleted`.
    pub async fn get_version_with(
        &self,
        name: &str,
        version: &str,
        include_deleted: bool,
    ) -> Result<ServerResponse, RegistryClientError> {
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
    pub async fn get_latest(&self, name: &str) -> Result<ServerResponse, RegistryClientError> {
        self.get_version(name, "latest").await
    }

    // ---- writes ---------------------------------------------------------------------------------------------

    /// `POST publish` (token with `publish` permission on the name). `doc` is a [`ServerJson`] or any
    /// serializable document (e.g. a `serde_json::Value`, sent as is).
    pub async fn publish<T: Serialize + ?Sized>(
        &self,
        doc: &T,
    ) -> Result<ServerResponse, RegistryClientError> {
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
    ) -> Result<ServerResponse, RegistryClientError> {
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
    ) -> Result<ServerResponse, RegistryClientError> {
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
    ) -> Result<ServerResponse, RegistryClientError> {
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
    ) -> Result<AllVersionsStatusResponse, RegistryClientError> {
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
    ) -> Result<ValidationResult, RegistryClientError> {
        let url = self.api_url(&[Seg::Lit("validate")])?;
        self.call(Method::POST, url, Some(to_body(doc)?), Auth::Optional, None)
            .await
    }

    // ---- meta -----------------------------------------------------------------------------------------------

    /// `GET health`. A registry whose database is down answers 503: [`RegistryClientError::Http`].
    pub async fn health(&self) -> Result<Health, RegistryClientError> {
        let url = self.api_url(&[Seg::Lit("health")])?;
        self.call(Method::GET, url, None, Auth::Optional, None)
            .await
    }
}

fn to_body<T: Serialize + ?Sized>(doc: &T) -> Result<Vec<u8>, RegistryClientError> {
    serde_json::to_vec(doc).map_err(|e| {
        RegistryClientError::InvalidArgument(format!("the request body does not serialize: {e}"))
    })
}
