//! `auth`: who is calling. OIDC bearer tokens — JWTs checked against the issuer's keys (discovered from
//! `/.well-known/openid-configuration`, or a configured JWKS URL; cached, refetched when a token names an unknown
//! key, at most every [`JWKS_REFRESH_MIN`]) for signature, issuer, audience, expiry and not-before (with
//! [`LEEWAY`] of clock skew), or opaque tokens checked by token introspection (RFC 7662). Without OIDC settings it
//! runs in anonymous mode (local use): every caller is `anonymous`.
//!
//! A request without a valid token is answered 401 with `WWW-Authenticate: Bearer ... resource_metadata="..."`,
//! and `/.well-known/oauth-protected-resource` (RFC 9728) tells MCP clients which authorization server to ask.
//! The claims become the caller's [`Identity`] (for authorization and audit). A validated token is removed from
//! the request: it was issued for this proxy and never reaches the server behind it (no token passthrough, as
//! the MCP authorization specification requires). In anonymous mode nothing is consumed and headers pass as
//! they come.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
pub use thv_core::oidc::{JWKS_REFRESH_MIN, JWKS_TTL, LEEWAY, TokenError};
use thv_core::oidc::{JwtVerifier, VerifierConfig};

use super::{Identity, RequestContext};

/// The RFC 9728 metadata path.
pub const PROTECTED_RESOURCE_PATH: &str = "/.well-known/oauth-protected-resource";

/// The `auth` middleware's parameters: `{"oidc_config": {...}}`; none (or `null`) is anonymous mode. Keys are
/// snake_case, or Go-cased as ToolHive's RunConfig writes them (`Issuer`, `JWKSURL`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    #[serde(alias = "Issuer")]
    pub issuer: String,
    #[serde(default, alias = "Audience", skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    #[serde(default, alias = "JWKSURL", skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    #[serde(
        default,
        alias = "IntrospectionURL",
        skip_serializing_if = "Option::is_none"
    )]
    pub introspection_url: Option<String>,
    #[serde(default, alias = "ClientID", skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// A file holding the client secret for introspection (never the secret itself).
    #[serde(
        default,
        alias = "ClientSecretFile",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_secret_file: Option<std::path::PathBuf>,
    /// The URL clients use for this server (the RFC 9728 `resource`); default: from the request's Host.
    #[serde(
        default,
        alias = "ResourceURL",
        skip_serializing_if = "Option::is_none"
    )]
    pub resource_url: Option<String>,
    #[serde(default, alias = "Scopes", skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Allow `http://` issuer, JWKS and introspection URLs (tests, local identity providers).
    #[serde(
        default,
        alias = "InsecureAllowHTTP",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub insecure_allow_http: bool,
}

/// The `auth` middleware's parameters: `{"oidc_config": {...}}`, or `{}` for anonymous.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc_config: Option<OidcConfig>,
}

/// A configuration problem, reported when the proxy starts.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    /// Named by its field (`oidc_config.issuer: ...`); the chain's error names the middleware.
    #[error("{0}")]
    Invalid(String),
}

impl OidcConfig {
    /// Checks the URLs (https unless `insecure_allow_http`; the resource URL may be http).
    pub fn check(&self) -> Result<(), AuthConfigError> {
        let urls = [
            ("issuer", Some(&self.issuer), self.insecure_allow_http),
            ("jwks_url", self.jwks_url.as_ref(), self.insecure_allow_http),
            (
                "introspection_url",
                self.introspection_url.as_ref(),
                self.insecure_allow_http,
            ),
            ("resource_url", self.resource_url.as_ref(), true),
        ];
        for (field, url, allow_http) in urls {
            let Some(url) = url else { continue };
            // The error names `insecure_allow_http` (`--oidc-insecure-allow-http`) itself.
            thv_core::oidc::check_url(field, url, allow_http)
                .map_err(|e| AuthConfigError::Invalid(format!("oidc_config.{e}")))?;
        }
        if self.introspection_url.is_some() && self.client_id.is_none() {
            return Err(AuthConfigError::Invalid(
                "oidc_config.client_id: token introspection needs a client id".into(),
            ));
        }
        Ok(())
    }
}

/// The `auth` layer's state.
pub struct Auth {
    oidc: Option<Oidc>,
}

struct Oidc {
    config: OidcConfig,
    /// For token introspection.
    http: reqwest::Client,
    jwt: JwtVerifier,
    client_secret: Option<String>,
}

impl Auth {
    /// From the middleware parameters (`Value::Null` or `{}`: anonymous).
    pub fn from_params(params: &AuthParams) -> Result<Self, AuthConfigError> {
        match &params.oidc_config {
            None => Ok(Self::anonymous()),
            Some(config) => Self::oidc(config.clone()),
        }
    }

    pub fn anonymous() -> Self {
        Self { oidc: None }
    }

    pub fn oidc(config: OidcConfig) -> Result<Self, AuthConfigError> {
        config.check()?;
        let client_secret = match &config.client_secret_file {
            Some(path) => Some(
                thv_core::files::read_config_text(path)
                    .map_err(|e| {
                        AuthConfigError::Invalid(format!(
                            "oidc_config.client_secret_file {}: {e}",
                            path.display()
                        ))
                    })?
                    .trim()
                    .to_string(),
            ),
            None => None,
        };
        let http = thv_core::oidc::idp_client(None)
            .map_err(|e| AuthConfigError::Invalid(e.to_string()))?;
        let jwt = JwtVerifier::new(VerifierConfig {
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            jwks_url: config.jwks_url.clone(),
            insecure_allow_http: config.insecure_allow_http,
            ..VerifierConfig::default()
        })
        .map_err(|e| AuthConfigError::Invalid(format!("oidc_config.{e}")))?;
        Ok(Self {
            oidc: Some(Oidc {
                config,
                http,
                jwt,
                client_secret,
            }),
        })
    }

    pub fn is_anonymous(&self) -> bool {
        self.oidc.is_none()
    }
}

impl Oidc {
    async fn validate(&self, token: &str) -> Result<Arc<Map<String, Value>>, TokenError> {
        if self.config.introspection_url.is_some() && !looks_like_jwt(token) {
            return self.introspect(token).await.map(Arc::new);
        }
        self.jwt.verify(token).await
    }

    /// RFC 7662: `active` tokens are accepted, with the response's claims.
    async fn introspect(&self, token: &str) -> Result<Map<String, Value>, TokenError> {
        let url = self.config.introspection_url.as_deref().unwrap_or_default();
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .append_pair("token_type_hint", "access_token")
            .finish();
        let resp = self
            .http
            .post(url)
            .basic_auth(
                self.config.client_id.as_deref().unwrap_or_default(),
                self.client_secret.as_deref(),
            )
            .header(
                header::CONTENT_TYPE.as_str(),
                "application/x-www-form-urlencoded",
            )
            .body(form)
            .send()
            .await
            .map_err(|e| TokenError(format!("introspection unreachable: {e}")))?;
        if !resp.status().is_success() {
            return Err(TokenError(format!("introspection: HTTP {}", resp.status())));
        }
        let claims: Map<String, Value> = resp
            .json()
            .await
            .map_err(|e| TokenError(format!("introspection: not JSON: {e}")))?;
        if claims.get("active") != Some(&Value::Bool(true)) {
            return Err(TokenError("token not active".into()));
        }
        if let Some(aud) = &self.config.audience {
            let ok = match claims.get("aud") {
                Some(Value::String(a)) => a.as_str() == aud.as_str(),
                Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(aud)),
                _ => false,
            };
            if !ok {
                return Err(TokenError("wrong audience".into()));
            }
        }
        Ok(claims)
    }
}

fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

/// `scheme://host` as the client addressed this proxy.
fn request_base(req: &Request) -> String {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

fn metadata_url(oidc: &Oidc, req: &Request) -> String {
    match &oidc.config.resource_url {
        Some(r) => match url::Url::parse(r) {
            Ok(u) => format!(
                "{}{PROTECTED_RESOURCE_PATH}",
                u.origin().ascii_serialization()
            ),
            Err(_) => format!("{}{PROTECTED_RESOURCE_PATH}", request_base(req)),
        },
        None => format!("{}{PROTECTED_RESOURCE_PATH}", request_base(req)),
    }
}

fn unauthorized(oidc: &Oidc, req: &Request, error: Option<&TokenError>) -> Response {
    let mut challenge = format!(
        "Bearer realm=\"thv\", resource_metadata=\"{}\"",
        metadata_url(oidc, req)
    );
    if let Some(e) = error {
        challenge.push_str(&format!(
            ", error=\"invalid_token\", error_description=\"{}\"",
            e.0.replace('"', "'")
        ));
    }
    let message = error.map_or("authentication required".to_string(), |e| e.0.clone());
    let mut resp = (
        StatusCode::UNAUTHORIZED,
        axum::Json(
            json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32001, "message": message}}),
        ),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// The RFC 9728 document.
fn protected_resource(oidc: &Oidc, req: &Request) -> Response {
    let resource = oidc
        .config
        .resource_url
        .clone()
        .unwrap_or_else(|| format!("{}/mcp", request_base(req)));
    let mut doc = json!({
        "resource": resource,
        "authorization_servers": [oidc.config.issuer],
        "bearer_methods_supported": ["header"],
    });
    if !oidc.config.scopes.is_empty() {
        doc["scopes_supported"] = json!(oidc.config.scopes);
    }
    axum::Json(doc).into_response()
}

/// The middleware.
pub async fn authenticate(State(auth): State<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path == "/health" {
        return next.run(req).await;
    }
    let ctx = req.extensions().get::<Arc<RequestContext>>().cloned();
    let Some(oidc) = &auth.oidc else {
        let identity = Identity::anonymous();
        if let Some(ctx) = &ctx {
            let _ = ctx.identity.set(identity.clone());
        }
        req.extensions_mut().insert(identity);
        return next.run(req).await;
    };
    if path == PROTECTED_RESOURCE_PATH || path.starts_with(&format!("{PROTECTED_RESOURCE_PATH}/")) {
        return protected_resource(oidc, &req);
    }
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_string());
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        if let Some(ctx) = &ctx {
            ctx.deny("authentication required");
        }
        return unauthorized(oidc, &req, None);
    };
    match oidc.validate(&token).await {
        Ok(claims) => {
            // The token was for this proxy: it never goes further (MCP authorization forbids token
            // passthrough; a server needing credentials gets its own, configured for it).
            req.headers_mut().remove(header::AUTHORIZATION);
            let identity = Identity::from_claims(claims);
            if let Some(ctx) = &ctx {
                let _ = ctx.identity.set(identity.clone());
            }
            req.extensions_mut().insert(identity);
            next.run(req).await
        }
        Err(e) => {
            tracing::info!(error = %e, "bearer token refused");
            if let Some(ctx) = &ctx {
                ctx.deny(&format!("authentication failed: {e}"));
            }
            unauthorized(oidc, &req, Some(&e))
        }
    }
}
