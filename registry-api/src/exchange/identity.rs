//! The identity exchanges: a token from an identity provider for the registry's own token.
//!
//! - `oidc`: an ID token from the company's IdP (`auth.oidc`: issuer, audience, JWKS). `required_claims` must all
//!   match (upstream's `OIDC_EXTRA_CLAIMS`); each rule whose `claims` all match grants its `publish` and `edit`
//!   patterns (upstream grants one fixed set: a rule without `claims`). A token no rule grants anything is 403.
//! - `github-oidc`: a GitHub Actions ID token (RS256 by the issuer's `/.well-known/jwks`, the configured
//!   audience) grants publishing `io.github.<repository_owner>/*`, as upstream.
//! - `github-at`: a GitHub access token, asked of the configured GitHub API (`GET /user` and the active
//!   organisation memberships), grants publishing `io.github.<login>/*` and `io.github.<org>/*` for each
//!   organisation the user is an owner of, as upstream.
//!
//! A claim matches when it equals the value, or (an array claim such as `groups`) contains it; a list of values
//! matches any of them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;
use thv_core::oidc::{JwtVerifier, VerifierConfig, claim_matches};
use utoipa::ToSchema;

use super::ExchangeState;
use super::{TokenResponse, token};
use crate::auth::{Action, Permission};
use crate::error::AppError;

/// GitHub Actions' token issuer.
pub const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// Most organisation membership pages read (100 each), as upstream: more is refused, not truncated.
const MAX_MEMBERSHIP_PAGES: u32 = 100;
const MEMBERSHIPS_PER_PAGE: usize = 100;
/// The largest GitHub API answer read.
const MAX_GITHUB_ANSWER_BYTES: usize = 4 << 20;

/// `auth.oidc`: the company's identity provider.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcExchangeConfig {
    /// The issuer (`iss`); its discovery document names the keys unless `jwks_url` does.
    pub issuer: String,
    /// The audience ID tokens must be for (the registry's client id at the IdP).
    pub audience: String,
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// CA certificates (PEM) trusted besides the system's for the IdP.
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
    /// Allow an `http://` issuer (a local IdP in development).
    #[serde(default)]
    pub insecure_allow_http: bool,
    /// Claims every token must carry with these values (upstream's `OIDC_EXTRA_CLAIMS`), e.g. `hd: example.com`.
    #[serde(default)]
    pub required_claims: BTreeMap<String, Value>,
    /// What a token's claims earn: every matching rule's patterns.
    pub rules: Vec<ClaimRule>,
}

/// A claim rule: when every claim matches, the patterns are granted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRule {
    /// Claim → value (or list of values); none: every valid token.
    #[serde(default)]
    pub claims: BTreeMap<String, Value>,
    /// Name patterns the token may publish (`*`, `prefix*` or an exact name).
    #[serde(default)]
    pub publish: Vec<String>,
    /// Name patterns whose status the token may change.
    #[serde(default)]
    pub edit: Vec<String>,
}

/// `auth.github_oidc`: GitHub Actions (or GitHub Enterprise Server's) ID tokens.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubOidcConfig {
    /// The audience the workflow asks its token for (upstream's `GITHUB_OIDC_AUDIENCE`; the official publisher asks
    /// for the registry URL's `scheme://host`).
    pub audience: String,
    #[serde(default = "github_actions_issuer")]
    pub issuer: String,
    /// Default: `ISSUER/.well-known/jwks`.
    #[serde(default)]
    pub jwks_url: Option<String>,
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
    #[serde(default)]
    pub insecure_allow_http: bool,
}

fn github_actions_issuer() -> String {
    GITHUB_ACTIONS_ISSUER.to_owned()
}

/// `auth.github`: the GitHub API access tokens are checked with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubConfig {
    /// `https://api.github.com`, or GitHub Enterprise Server's `https://HOST/api/v3`.
    pub api_url: String,
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
    #[serde(default)]
    pub insecure_allow_http: bool,
}

/// The identity exchanges, ready to answer (each `None` when not configured).
#[derive(Debug, Default)]
pub struct IdentityExchanges {
    oidc: Option<(JwtVerifier, OidcExchangeConfig)>,
    github_oidc: Option<JwtVerifier>,
    github: Option<(reqwest::Client, String)>,
}

/// What is wrong with the token exchanges' configuration (`auth`), naming the field.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeConfigError {
    #[error("{field}: {rule}")]
    Field { field: String, rule: String },
    /// The message holds the verifier's (so it is not also this error's source).
    #[error("auth.{section}.{error}")]
    Verifier {
        section: &'static str,
        error: thv_core::oidc::VerifierConfigError,
    },
    #[error("auth.http_ca_cert {}: {reason}", .path.display())]
    CaCert {
        path: std::path::PathBuf,
        reason: String,
    },
}

impl ExchangeConfigError {
    fn field(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self::Field {
            field: field.into(),
            rule: rule.into(),
        }
    }
}

impl IdentityExchanges {
    pub fn new(
        oidc: Option<&OidcExchangeConfig>,
        github_oidc: Option<&GithubOidcConfig>,
        github: Option<&GithubConfig>,
    ) -> Result<Self, ExchangeConfigError> {
        let oidc = match oidc {
            Some(c) => {
                check_rules(c)?;
                let verifier = JwtVerifier::new(VerifierConfig {
                    issuer: c.issuer.clone(),
                    audience: Some(c.audience.clone()),
                    jwks_url: c.jwks_url.clone(),
                    required_claims: vec!["sub".into()],
                    ca_cert: c.ca_cert.clone(),
                    insecure_allow_http: c.insecure_allow_http,
                    ..VerifierConfig::default()
                })
                .map_err(|error| ExchangeConfigError::Verifier {
                    section: "oidc",
                    error,
                })?;
                Some((verifier, c.clone()))
            }
            None => None,
        };
        let github_oidc = match github_oidc {
            Some(c) => {
                if c.audience.trim().is_empty() {
                    return Err(ExchangeConfigError::field(
                        "auth.github_oidc.audience",
                        "must not be empty",
                    ));
                }
                let jwks_url = c.jwks_url.clone().unwrap_or_else(|| {
                    format!("{}/.well-known/jwks", c.issuer.trim_end_matches('/'))
                });
                Some(
                    JwtVerifier::new(VerifierConfig {
                        issuer: c.issuer.clone(),
                        audience: Some(c.audience.clone()),
                        jwks_url: Some(jwks_url),
                        algorithms: vec![jsonwebtoken::Algorithm::RS256],
                        required_claims: vec!["repository_owner".into()],
                        ca_cert: c.ca_cert.clone(),
                        insecure_allow_http: c.insecure_allow_http,
                    })
                    .map_err(|error| ExchangeConfigError::Verifier {
                        section: "github_oidc",
                        error,
                    })?,
                )
            }
            None => None,
        };
        let github = match github {
            Some(c) => {
                thv_core::oidc::check_url("api_url", &c.api_url, c.insecure_allow_http).map_err(
                    |error| ExchangeConfigError::Verifier {
                        section: "github",
                        error,
                    },
                )?;
                let client = thv_core::oidc::idp_client(c.ca_cert.as_ref()).map_err(|error| {
                    ExchangeConfigError::Verifier {
                        section: "github",
                        error,
                    }
                })?;
                Some((client, c.api_url.trim_end_matches('/').to_owned()))
            }
            None => None,
        };
        Ok(Self {
            oidc,
            github_oidc,
            github,
        })
    }
}

fn check_rules(c: &OidcExchangeConfig) -> Result<(), ExchangeConfigError> {
    if c.audience.trim().is_empty() {
        return Err(ExchangeConfigError::field(
            "auth.oidc.audience",
            "must not be empty (the registry's client id at the IdP)",
        ));
    }
    if c.rules.is_empty() {
        return Err(ExchangeConfigError::field(
            "auth.oidc.rules",
            "at least one rule is needed (what may a token publish?)",
        ));
    }
    for (i, rule) in c.rules.iter().enumerate() {
        if rule.publish.is_empty() && rule.edit.is_empty() {
            return Err(ExchangeConfigError::field(
                format!("auth.oidc.rules[{i}]"),
                "grants nothing (give publish or edit patterns)",
            ));
        }
        for pattern in rule.publish.iter().chain(&rule.edit) {
            if !is_name_pattern(pattern) {
                return Err(ExchangeConfigError::field(
                    format!("auth.oidc.rules[{i}]"),
                    format!(
                        "'{pattern}' is not a name pattern (`*`, a prefix ending in one `*`, or a name)"
                    ),
                ));
            }
        }
        if rule.claims.is_empty() {
            tracing::warn!(
                rule = i,
                "auth.oidc.rules[{i}] has no claims: it grants its patterns to every valid ID token of the IdP"
            );
        }
    }
    for (claim, value) in c
        .rules
        .iter()
        .flat_map(|r| &r.claims)
        .chain(&c.required_claims)
    {
        let scalars: Vec<&Value> = match value {
            Value::Array(items) if items.is_empty() => {
                return Err(ExchangeConfigError::field(
                    format!("auth.oidc: claim '{claim}'"),
                    "an empty list of values can never match",
                ));
            }
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        if scalars
            .iter()
            .any(|v| v.is_null() || v.is_object() || v.is_array())
        {
            return Err(ExchangeConfigError::field(
                format!("auth.oidc: claim '{claim}'"),
                "the value must be a string, number, boolean or a list of them",
            ));
        }
    }
    Ok(())
}

/// `*`, a prefix ending in one `*`, or a name without `*` (the patterns tokens carry).
fn is_name_pattern(pattern: &str) -> bool {
    let body = pattern.strip_suffix('*').unwrap_or(pattern);
    !pattern.is_empty()
        && !body.contains('*')
        && !pattern.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// An ID token to exchange.
#[derive(Debug, Deserialize, ToSchema)]
pub struct OidcTokenRequest {
    pub oidc_token: String,
}

/// A GitHub access token to exchange.
#[derive(Debug, Deserialize, ToSchema)]
pub struct GithubTokenRequest {
    pub github_token: String,
}

fn grants(action: Action, patterns: &[String]) -> impl Iterator<Item = Permission> + '_ {
    patterns.iter().map(move |p| Permission {
        action,
        resource: p.clone(),
    })
}

/// What the claims earn under the configured rules (403 naming the claims asked for when nothing).
fn permissions_for(
    config: &OidcExchangeConfig,
    claims: &serde_json::Map<String, Value>,
) -> Result<Vec<Permission>, AppError> {
    let matches = |wanted: &BTreeMap<String, Value>| {
        wanted
            .iter()
            .all(|(k, v)| claims.get(k).is_some_and(|actual| claim_matches(actual, v)))
    };
    for (claim, value) in &config.required_claims {
        if !claims.get(claim).is_some_and(|a| claim_matches(a, value)) {
            return Err(refused_because(format!(
                "the token's '{claim}' claim is not {value} (auth.oidc.required_claims)"
            )));
        }
    }
    let mut permissions: Vec<Permission> = Vec::new();
    for rule in config.rules.iter().filter(|r| matches(&r.claims)) {
        for p in grants(Action::Publish, &rule.publish).chain(grants(Action::Edit, &rule.edit)) {
            if !permissions.contains(&p) {
                permissions.push(p);
            }
        }
    }
    if permissions.is_empty() {
        let asked: Vec<String> = config
            .rules
            .iter()
            .map(|r| serde_json::to_string(&r.claims).unwrap_or_default())
            .collect();
        let why = format!(
            "the token's claims match no rule of this registry (auth.oidc.rules asks for one of: {})",
            asked.join(", ")
        );
        tracing::info!(reason = %why, "token exchange refused");
        return Err(AppError::Forbidden(why));
    }
    Ok(permissions)
}

/// Upstream's rule for GitHub logins and organisations.
fn is_github_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn refused(e: thv_core::oidc::TokenError) -> AppError {
    refused_because(format!("the token was refused: {e}"))
}

/// A 401 naming why, logged (without the token) for the audit trail.
fn refused_because(why: String) -> AppError {
    tracing::info!(reason = %why, "token exchange refused");
    AppError::Unauthorized(why)
}

/// A token for what the company's identity provider says about the caller.
#[utoipa::path(post, path = "/auth/oidc", tag = "auth", request_body = OidcTokenRequest, responses(
    (status = 200, description = "A registry token with the permissions auth.oidc.rules grant the ID token's claims", body = TokenResponse),
    (status = 401, description = "The ID token was refused (the reason is given)"),
    (status = 403, description = "The token's claims match no rule"),
    (status = 404, description = "OIDC is not configured (auth.oidc)")))]
pub async fn auth_oidc(
    State(state): State<ExchangeState>,
    Json(body): Json<OidcTokenRequest>,
) -> Result<Json<TokenResponse>, AppError> {
    let Some((verifier, config)) = &state.exchanges.identity.oidc else {
        return Err(AppError::NotFound(
            "OIDC tokens are not accepted by this registry (auth.oidc)".into(),
        ));
    };
    let claims = verifier.verify(&body.oidc_token).await.map_err(refused)?;
    let permissions = permissions_for(config, &claims)?;
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    token(&state, "oidc", subject, permissions)
}

/// A token for a GitHub Actions workflow: publishing in its repository owner's namespace.
#[utoipa::path(post, path = "/auth/github-oidc", tag = "auth", request_body = OidcTokenRequest, responses(
    (status = 200, description = "A registry token for io.github.<repository_owner>/*", body = TokenResponse),
    (status = 401, description = "The ID token was refused (the reason is given)"),
    (status = 404, description = "GitHub Actions tokens are not configured (auth.github_oidc)")))]
pub async fn auth_github_oidc(
    State(state): State<ExchangeState>,
    Json(body): Json<OidcTokenRequest>,
) -> Result<Json<TokenResponse>, AppError> {
    let Some(verifier) = &state.exchanges.identity.github_oidc else {
        return Err(AppError::NotFound(
            "GitHub Actions OIDC tokens are not accepted by this registry (auth.github_oidc.audience)"
                .into(),
        ));
    };
    let claims = verifier.verify(&body.oidc_token).await.map_err(refused)?;
    let owner = match claims.get("repository_owner") {
        Some(Value::String(owner)) if is_github_name(owner) => owner,
        other => {
            return Err(refused_because(format!(
                "the token's repository_owner {} is not a GitHub name",
                other.map(Value::to_string).unwrap_or_default()
            )));
        }
    };
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let permissions = grants(Action::Publish, &[format!("io.github.{owner}/*")]).collect();
    token(&state, "github-oidc", subject, permissions)
}

/// A token for a GitHub user: publishing in their namespace and their organisations'.
#[utoipa::path(post, path = "/auth/github-at", tag = "auth", request_body = GithubTokenRequest, responses(
    (status = 200, description = "A registry token for io.github.<login>/* and io.github.<org>/* of the organisations the user owns", body = TokenResponse),
    (status = 401, description = "GitHub refused the token (the reason is given)"),
    (status = 404, description = "No GitHub API is configured (auth.github.api_url)")))]
pub async fn auth_github_at(
    State(state): State<ExchangeState>,
    Json(body): Json<GithubTokenRequest>,
) -> Result<Json<TokenResponse>, AppError> {
    let Some((client, api)) = &state.exchanges.identity.github else {
        return Err(AppError::NotFound(
            "GitHub access tokens are not accepted by this registry (auth.github.api_url)".into(),
        ));
    };
    if body.github_token.trim().is_empty() || body.github_token.chars().any(char::is_control) {
        return Err(refused_because(
            "github_token is empty or holds control characters".into(),
        ));
    }
    let github = GithubApi {
        client,
        api,
        token: &body.github_token,
    };
    let user: GithubAccount = github
        .get("/user")
        .await?
        .ok_or_else(|| AppError::Unauthorized("GitHub refused the token: 403 on /user".into()))?;
    if !is_github_name(&user.login) {
        return Err(refused_because(format!(
            "GitHub login '{}' is not a GitHub name",
            user.login.escape_debug()
        )));
    }
    let mut namespaces = vec![format!("io.github.{}/*", user.login)];
    for org in github.owned_organisations().await? {
        if is_github_name(&org.login) {
            namespaces.push(format!("io.github.{}/*", org.login));
        }
    }
    let permissions = grants(Action::Publish, &namespaces).collect();
    token(&state, "github-at", &user.login, permissions)
}

#[derive(Debug, Deserialize)]
struct GithubAccount {
    login: String,
}

#[derive(Debug, Deserialize)]
struct Membership {
    #[serde(default)]
    state: String,
    #[serde(default)]
    role: String,
    organization: GithubAccount,
}

struct GithubApi<'a> {
    client: &'a reqwest::Client,
    api: &'a str,
    token: &'a str,
}

impl GithubApi<'_> {
    /// The organisations the user is an active owner (`admin`) of; a 403 (a token without `read:org`) is none,
    /// unless it is a rate limit or an SSO requirement, which are errors (a grant must not shrink silently).
    async fn owned_organisations(&self) -> Result<Vec<GithubAccount>, AppError> {
        let mut owned = Vec::new();
        for page in 1..=MAX_MEMBERSHIP_PAGES {
            let path = format!(
                "/user/memberships/orgs?state=active&per_page={MEMBERSHIPS_PER_PAGE}&page={page}"
            );
            let Some(memberships): Option<Vec<Membership>> = self.get(&path).await? else {
                return Ok(owned);
            };
            let full = memberships.len() >= MEMBERSHIPS_PER_PAGE;
            owned.extend(
                memberships
                    .into_iter()
                    .filter(|m| m.state == "active" && m.role == "admin")
                    .map(|m| m.organization),
            );
            if !full {
                return Ok(owned);
            }
        }
        Err(AppError::Unauthorized(format!(
            "GitHub lists more than {MAX_MEMBERSHIP_PAGES} pages of organisation memberships; refusing a possibly truncated grant"
        )))
    }

    /// A GitHub API answer; `None` for a plain 403 (no scope).
    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<Option<T>, AppError> {
        let url = format!("{}{path}", self.api);
        let fail = |why: String| AppError::Unauthorized(format!("GitHub API {path}: {why}"));
        let mut resp = self
            .client
            .get(&url)
            .bearer_auth(self.token)
            .header("Accept", "application/vnd.github.v3+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header("User-Agent", "thv-registry-api")
            .send()
            .await
            .map_err(|e| fail(thv_core::output::error_chain(&e)))?;
        let status = resp.status();
        if status == reqwest::StatusCode::FORBIDDEN && path != "/user" {
            let headers = resp.headers();
            let limited = headers
                .get("x-ratelimit-remaining")
                .is_some_and(|v| v == "0")
                || headers.contains_key("retry-after");
            if limited {
                return Err(fail("rate limit exceeded (403)".into()));
            }
            if headers.contains_key("x-github-sso") {
                return Err(fail(
                    "the token needs SSO authorization for the organisation (403)".into(),
                ));
            }
            return Ok(None);
        }
        if !status.is_success() {
            return Err(fail(format!("GitHub answered {status}")));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| fail(thv_core::output::error_chain(&e)))?
        {
            if body.len() + chunk.len() > MAX_GITHUB_ANSWER_BYTES {
                return Err(fail(format!("larger than {MAX_GITHUB_ANSWER_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| fail(format!("not the expected JSON: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(rules: Value, required: Value) -> OidcExchangeConfig {
        serde_json::from_value(json!({
            "issuer": "https://idp.example.com", "audience": "registry",
            "rules": rules, "required_claims": required,
        }))
        .unwrap()
    }

    fn claims(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn rules_grant_the_union_of_every_matching_rule() {
        let c = config(
            json!([
                {"claims": {"groups": "platform"}, "publish": ["com.example/*"], "edit": ["com.example/*"]},
                {"claims": {"groups": ["data", "ml"]}, "publish": ["com.example.data/*"]},
                {"publish": ["com.example.sandbox/*"]},
            ]),
            json!({"hd": "example.com"}),
        );
        let got = permissions_for(
            &c,
            &claims(json!({"hd": "example.com", "groups": ["ml", "platform"]})),
        )
        .unwrap();
        let got: Vec<(Action, &str)> = got
            .iter()
            .map(|p| (p.action, p.resource.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (Action::Publish, "com.example/*"),
                (Action::Edit, "com.example/*"),
                (Action::Publish, "com.example.data/*"),
                (Action::Publish, "com.example.sandbox/*"),
            ]
        );
        let e = permissions_for(
            &c,
            &claims(json!({"hd": "other.com", "groups": "platform"})),
        )
        .unwrap_err();
        assert!(
            matches!(&e, AppError::Unauthorized(m) if m.contains("'hd'")),
            "{e}"
        );
    }

    #[test]
    fn a_token_no_rule_matches_is_forbidden_naming_the_rules() {
        let c = config(
            json!([{"claims": {"groups": "platform"}, "publish": ["com.example/*"]}]),
            json!({}),
        );
        let e = permissions_for(&c, &claims(json!({"groups": ["dev"]}))).unwrap_err();
        assert!(
            matches!(&e, AppError::Forbidden(m) if m.contains(r#"{"groups":"platform"}"#)),
            "{e}"
        );
    }

    #[test]
    fn bad_rules_are_refused_at_start() {
        let none = IdentityExchanges::new(Some(&config(json!([]), json!({}))), None, None);
        assert!(none.unwrap_err().to_string().contains("auth.oidc.rules"));
        let empty = config(json!([{"claims": {"g": "x"}}]), json!({}));
        let e = IdentityExchanges::new(Some(&empty), None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("rules[0]: grants nothing"), "{e}");
        let object = config(
            json!([{"claims": {"g": {"a": 1}}, "publish": ["x/*"]}]),
            json!({}),
        );
        let e = IdentityExchanges::new(Some(&object), None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("claim 'g'"), "{e}");
        let http: OidcExchangeConfig = serde_json::from_value(json!({
            "issuer": "http://idp", "audience": "a", "rules": [{"publish": ["*"]}]}))
        .unwrap();
        let e = IdentityExchanges::new(Some(&http), None, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("auth.oidc.issuer") && e.contains("not https"),
            "{e}"
        );
    }

    #[test]
    fn github_names_follow_upstreams_rule() {
        assert!(is_github_name("octo-org"));
        assert!(is_github_name("HelpCode-ai"));
        assert!(!is_github_name(""));
        assert!(!is_github_name("a/b"));
        assert!(!is_github_name("a.b"));
        assert!(!is_github_name("a*"));
        assert!(!is_github_name("-acme"));
    }

    #[test]
    fn patterns_and_claim_values_are_checked_at_start() {
        for bad in ["a/*b", "**", "", "a *"] {
            assert!(!is_name_pattern(bad), "{bad}");
        }
        for good in ["*", "com.example/*", "com.example/x", "com.example.*"] {
            assert!(is_name_pattern(good), "{good}");
        }
        let empty_list = config(
            json!([{"claims": {"groups": []}, "publish": ["x/*"]}]),
            json!({}),
        );
        let e = IdentityExchanges::new(Some(&empty_list), None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("never match"), "{e}");
        let nested = config(
            json!([{"claims": {"groups": ["x", {"y": 1}]}, "publish": ["x/*"]}]),
            json!({}),
        );
        let e = IdentityExchanges::new(Some(&nested), None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("claim 'groups'"), "{e}");
        let mut no_audience = config(json!([{"publish": ["x/*"]}]), json!({}));
        no_audience.audience = " ".into();
        let e = IdentityExchanges::new(Some(&no_audience), None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("auth.oidc.audience"), "{e}");
    }
}
