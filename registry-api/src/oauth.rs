//! `auth.oauth`: every request needs a bearer token (toolhive-registry-server's `auth.mode: oauth`), an access
//! or ID token of one of the configured identity providers (checked against its issuer, audience and keys: a
//! token is checked only by the provider its `iss` names, so one provider that does not answer delays no other's),
//! or the admin token. Registry tokens are not taken: the token exchanges would hand them to anyone who owns a
//! domain (`http`, `dns`) or to anyone at all (`none`).
//!
//! - Open without a token: the health and ping routes (probes), `/.well-known/oauth-protected-resource` (GET),
//!   and the configured `public_paths` (exact, or a prefix ending in `*`; `*` alone is refused).
//! - A refusal is 401 with `WWW-Authenticate: Bearer realm="…", resource_metadata="…"` pointing at the protected
//!   resource metadata (RFC 9728), which names the providers' issuers as authorization servers.
//! - `roles` (toolhive-registry-server's `auth.authz.roles`): a provider token matching a `superAdmin` or
//!   `manageEntries` matcher (every claim of one matcher) may publish, edit and administer, as the admin token;
//!   other provider tokens read only. This server has no finer administration rights, so ToolHive's
//!   `manageSources` and `manageRegistries` (which would not include editing entries) are refused at start.

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use thv_core::oidc::{JwtVerifier, VerifierConfig, claim_matches};

use crate::auth::Caller;

/// Where the protected resource metadata is served.
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// `auth.oauth`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// This API's public URL (the protected resource, RFC 9728 `resource`).
    #[serde(alias = "resourceUrl")]
    pub resource_url: String,
    pub providers: Vec<ProviderConfig>,
    #[serde(default, alias = "scopesSupported")]
    pub scopes_supported: Vec<String>,
    #[serde(default)]
    pub realm: Option<String>,
    /// Paths (exact, or a prefix ending in `*`) open without a token.
    #[serde(default, alias = "publicPaths")]
    pub public_paths: Vec<String>,
    /// Role → claim matchers (`superAdmin` and `manageEntries`: see the module documentation).
    #[serde(default)]
    pub roles: BTreeMap<String, Vec<BTreeMap<String, Value>>>,
}

/// An identity provider whose tokens are taken.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub name: String,
    #[serde(alias = "issuerUrl")]
    pub issuer_url: String,
    /// The `aud` tokens must carry.
    pub audience: String,
    /// Default: the issuer's discovery document's `jwks_uri`.
    #[serde(default, alias = "jwksUrl")]
    pub jwks_url: Option<String>,
    /// CA certificates (PEM) trusted besides the system's for the provider.
    #[serde(default, alias = "caCertPath")]
    pub ca_cert: Option<PathBuf>,
    /// The client id at the provider: for clients; not checked here (the audience is).
    #[serde(default, alias = "clientId")]
    pub client_id: Option<String>,
    /// Token introspection (RFC 7662) for opaque tokens: not supported (refused at start).
    #[serde(default, alias = "introspectionUrl")]
    pub introspection_url: Option<String>,
    /// toolhive-registry-server's permission for a provider at a private address: this server does not restrict
    /// the provider's address, so it changes nothing.
    #[serde(default, alias = "allowPrivateIP")]
    pub allow_private_ip: bool,
    /// Allow an `http://` issuer (a local identity provider in development).
    #[serde(default)]
    pub insecure_allow_http: bool,
}

/// The roles that grant administration here.
const ADMIN_ROLES: [&str; 2] = ["superAdmin", "manageEntries"];

/// `auth.oauth`, checked: a verifier per provider.
pub struct OAuth {
    config: OAuthConfig,
    verifiers: Vec<(String, JwtVerifier)>,
}

impl OAuth {
    /// Checks the configuration; every problem, each naming its field.
    pub fn new(config: OAuthConfig) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        match url::Url::parse(&config.resource_url) {
            Err(e) => errors.push(format!(
                "auth.oauth.resource_url: '{}' is not a URL: {e}",
                config.resource_url
            )),
            Ok(u) if !matches!(u.scheme(), "https" | "http") => errors.push(format!(
                "auth.oauth.resource_url: '{}' is not an http(s) URL",
                config.resource_url
            )),
            Ok(_) => {}
        }
        if config.providers.is_empty() {
            errors.push("auth.oauth.providers: at least one identity provider is needed".into());
        }
        for (i, path) in config.public_paths.iter().enumerate() {
            if !path.starts_with('/') || path == "/*" {
                errors.push(format!(
                    "auth.oauth.public_paths[{i}]: '{path}' must be a path (starting with '/'; a prefix ends in '*'), and not every path"
                ));
            }
        }
        for (role, matchers) in &config.roles {
            if !ADMIN_ROLES.contains(&role.as_str()) {
                errors.push(format!(
                    "auth.authz.roles.{role}: not supported (this server has one administration right: superAdmin and manageEntries grant it; manageSources and manageRegistries would grant less, and are refused rather than widened)"
                ));
            }
            for (j, m) in matchers.iter().enumerate() {
                if m.is_empty() {
                    errors.push(format!(
                        "auth.authz.roles.{role}[{j}]: an empty matcher would make every token an administrator; name at least one claim"
                    ));
                }
            }
        }
        let mut verifiers = Vec::new();
        for (i, p) in config.providers.iter().enumerate() {
            let field = format!("auth.oauth.providers[{i}]");
            if p.audience.trim().is_empty() {
                errors.push(format!(
                    "{field}.audience: empty (tokens must be for this registry)"
                ));
            }
            if p.introspection_url.is_some() {
                errors.push(format!(
                    "{field}.introspection_url: opaque tokens (introspection) are not supported; the provider's JWTs are checked against its keys"
                ));
            }
            let verifier = JwtVerifier::new(VerifierConfig {
                issuer: p.issuer_url.clone(),
                audience: Some(p.audience.clone()),
                jwks_url: p.jwks_url.clone(),
                ca_cert: p.ca_cert.clone(),
                insecure_allow_http: p.insecure_allow_http,
                ..VerifierConfig::default()
            });
            match verifier {
                Ok(v) => verifiers.push((p.name.clone(), v)),
                Err(e) => errors.push(format!("{field}: {e}")),
            }
        }
        if errors.is_empty() {
            Ok(Self { config, verifiers })
        } else {
            Err(errors)
        }
    }

    /// Whether `path` is open without a token.
    fn is_public(&self, path: &str) -> bool {
        const OPEN: [&str; 4] = ["/v0/health", "/v0.1/health", "/v0/ping", "/v0.1/ping"];
        OPEN.contains(&path)
            || self
                .config
                .public_paths
                .iter()
                .any(|p| thv_core::filter::pattern_matches(p, path))
    }

    /// The caller a provider's token stands for: an administrator when a role says so, else a reader. The error
    /// says why no provider took it.
    pub async fn caller(&self, token: &str) -> Result<Caller, String> {
        let issuer = thv_core::oidc::unverified_part(token, 1)
            .and_then(|claims| claims.get("iss")?.as_str().map(str::to_owned))
            .ok_or("not a JWT with an issuer")?;
        let same = |a: &str| a.trim_end_matches('/') == issuer.trim_end_matches('/');
        let mut refusals = Vec::new();
        for (name, verifier) in self
            .verifiers
            .iter()
            .filter(|(_, v)| same(&v.config().issuer))
        {
            match verifier.verify(token).await {
                Ok(claims) => {
                    let admin = self.config.roles.iter().any(|(_, matchers)| {
                        matchers.iter().any(|m| {
                            m.iter()
                                .all(|(k, v)| claims.get(k).is_some_and(|a| claim_matches(a, v)))
                        })
                    });
                    let subject = claims.get("sub").and_then(Value::as_str).unwrap_or("?");
                    let subject = format!("{name}:{subject}");
                    return Ok(if admin {
                        Caller {
                            subject,
                            ..Caller::admin()
                        }
                    } else {
                        Caller {
                            subject,
                            permissions: Vec::new(),
                        }
                    });
                }
                Err(e) => refusals.push(format!("{name}: {}", e.0)),
            }
        }
        if refusals.is_empty() {
            return Err(format!("no provider is the issuer {issuer}"));
        }
        Err(refusals.join("; "))
    }

    /// The protected resource metadata (RFC 9728).
    pub fn metadata(&self) -> Value {
        json!({
            "resource": self.config.resource_url,
            "authorization_servers": self.config.providers.iter().map(|p| &p.issuer_url).collect::<Vec<_>>(),
            "bearer_methods_supported": ["header"],
            "scopes_supported": self.config.scopes_supported,
        })
    }

    /// A 401; `invalid`: a token was given and refused (RFC 6750's `error="invalid_token"`).
    fn refusal(&self, reason: &str, invalid: bool) -> Response {
        let realm = self.config.realm.as_deref().unwrap_or("mcp-registry");
        let metadata = format!(
            "{}{METADATA_PATH}",
            self.config.resource_url.trim_end_matches('/')
        );
        let challenge = format!(
            "Bearer realm=\"{}\", resource_metadata=\"{}\"{}",
            realm.replace(['"', '\\'], ""),
            metadata.replace(['"', '\\'], ""),
            if invalid {
                ", error=\"invalid_token\""
            } else {
                ""
            }
        );
        let mut response = (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": reason})),
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            response.headers_mut().insert(WWW_AUTHENTICATE, v);
        }
        response
    }
}

/// The layer: see the module documentation. Without `auth.oauth` every request passes.
pub async fn require_token(
    State(state): State<crate::state::AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(oauth) = &state.oauth else {
        return next.run(request).await;
    };
    let path = request.uri().path();
    if path == METADATA_PATH {
        if request.method() != axum::http::Method::GET
            && request.method() != axum::http::Method::HEAD
        {
            return StatusCode::METHOD_NOT_ALLOWED.into_response();
        }
        return axum::Json(oauth.metadata()).into_response();
    }
    if oauth.is_public(path) {
        return next.run(request).await;
    }
    let header = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let Some(token) = crate::auth::bearer_token(header) else {
        return oauth.refusal(
            "a bearer token is required (Authorization: Bearer <token>)",
            false,
        );
    };
    if state.is_admin_token(token) {
        return next.run(request).await;
    }
    match oauth.caller(token).await {
        // Checked once: the write routes' caller is this one.
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(why) => {
            tracing::debug!(reason = %why, "a token was refused");
            oauth.refusal("the token is not valid for this registry", true)
        }
    }
}
