//! A local identity provider for the end-to-end tests, on a free port of 127.0.0.1 (plain HTTP: the services under
//! test are told `insecure_allow_http`):
//!
//! - OpenID Connect: `/.well-known/openid-configuration`, the key set at `/jwks` (and GitHub's
//!   `/.well-known/jwks`), ID tokens signed with Ed25519 or RSA keys ([`SigningKey`]), keys published or rotated
//!   while it runs;
//! - GitHub Actions' ID-token service (`/actions/token?…&audience=A`, what `ACTIONS_ID_TOKEN_REQUEST_URL` points
//!   at): a token for the audience asked, with the configured claims;
//! - a GitHub Enterprise API stand-in (`/api/v3/user`, `/api/v3/user/memberships/orgs`): the users each access
//!   token belongs to, and their organisation memberships.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use serde_json::{Value, json};

/// A key tokens are signed with, and its public JWK.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    alg: jsonwebtoken::Algorithm,
    encoding: jsonwebtoken::EncodingKey,
    pub jwk: Value,
}

impl SigningKey {
    /// An Ed25519 key from a seed of 32 `fill` bytes.
    pub fn ed25519(kid: &str, fill: u8) -> Self {
        let seed = [fill; 32];
        let public = ed25519_dalek::SigningKey::from_bytes(&seed)
            .verifying_key()
            .to_bytes();
        // PKCS#8 v1 of an Ed25519 key (RFC 8410), then the seed.
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        der.extend_from_slice(&seed);
        Self {
            kid: kid.into(),
            alg: jsonwebtoken::Algorithm::EdDSA,
            encoding: jsonwebtoken::EncodingKey::from_ed_der(&der),
            jwk: json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid,
                        "x": b64url(&public)}),
        }
    }

    /// A new 2048-bit RSA key (RS256), made by `openssl`.
    pub fn rsa(kid: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("key.pem");
        let made = std::process::Command::new("openssl")
            .args(["genrsa", "-traditional", "-out"])
            .arg(&path)
            .arg("2048")
            .output()
            .expect("openssl runs");
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let modulus = std::process::Command::new("openssl")
            .args(["rsa", "-noout", "-modulus", "-in"])
            .arg(&path)
            .output()
            .expect("openssl runs");
        let modulus = String::from_utf8_lossy(&modulus.stdout);
        let modulus = hex::decode(modulus.trim().trim_start_matches("Modulus=")).expect("hex");
        let pem = std::fs::read(&path).expect("key");
        Self {
            kid: kid.into(),
            alg: jsonwebtoken::Algorithm::RS256,
            encoding: jsonwebtoken::EncodingKey::from_rsa_pem(&pem).expect("an RSA key"),
            jwk: json!({"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
                        "n": b64url(&modulus), "e": "AQAB"}),
        }
    }

    /// `claims` under `header` (any JSON: extensions, another `alg`), signed with this key by `alg`.
    pub fn sign_with_header(
        &self,
        alg: jsonwebtoken::Algorithm,
        header: &Value,
        claims: &Value,
    ) -> String {
        let message = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &self.encoding, alg).expect("signed");
        format!("{message}.{signature}")
    }

    /// `claims` signed with this key (its `kid` in the header).
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("token signed")
    }
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Unix seconds now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A GitHub user as the API stand-in reports them: login, and `(organisation, role)` memberships (active).
#[derive(Clone)]
pub struct GithubUser {
    pub login: String,
    pub orgs: Vec<(String, String)>,
    /// The token lacks `read:org`: the memberships answer 403.
    pub no_org_scope: bool,
}

#[derive(Default)]
struct Idp {
    url: String,
    jwks: Vec<Value>,
    /// How long the key set takes to answer.
    jwks_delay: std::time::Duration,
    actions: Option<(SigningKey, String, Value)>,
    github: HashMap<String, GithubUser>,
    /// Requests served, by path (to show what a service asked for).
    requests: Vec<String>,
}

type Shared = Arc<Mutex<Idp>>;

/// A running identity provider (stopped with the test process).
pub struct TestIdp {
    /// `http://127.0.0.1:PORT`: the issuer.
    pub url: String,
    state: Shared,
}

impl TestIdp {
    /// Starts it publishing `keys`.
    pub fn start(keys: &[&SigningKey]) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state: Shared = Arc::new(Mutex::new(Idp {
            url: url.clone(),
            jwks: keys.iter().map(|k| k.jwk.clone()).collect(),
            ..Idp::default()
        }));
        let app = axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/.well-known/jwks", get(jwks))
            .route("/actions/token", get(actions_token))
            .route("/api/v3/user", get(github_user))
            .route("/api/v3/user/memberships/orgs", get(github_memberships))
            .with_state(state.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                axum::serve(listener, app).await.expect("idp serves");
            });
        });
        Self { url, state }
    }

    /// The key set answers after `delay` from now on (a slow or struggling IdP).
    pub fn slow_jwks(&self, delay: std::time::Duration) {
        self.state.lock().unwrap().jwks_delay = delay;
    }

    /// Publishes one more key (a rotation).
    pub fn publish(&self, key: &SigningKey) {
        self.state.lock().unwrap().jwks.push(key.jwk.clone());
    }

    /// An ID token by `key` for `audience`, valid for 5 minutes, with `claims` added (or overriding).
    pub fn id_token(&self, key: &SigningKey, audience: &str, claims: Value) -> String {
        let mut all = json!({"iss": self.url, "aud": audience, "sub": "user-1",
                             "iat": now(), "nbf": now(), "exp": now() + 300});
        for (k, v) in claims.as_object().cloned().unwrap_or_default() {
            all[k] = v;
        }
        key.sign(&all)
    }

    /// GitHub Actions' token service hands out tokens signed by `key` with `claims`, to callers presenting
    /// `request_token`; returns `(ACTIONS_ID_TOKEN_REQUEST_URL, ACTIONS_ID_TOKEN_REQUEST_TOKEN)`.
    pub fn actions(&self, key: &SigningKey, claims: Value) -> (String, String) {
        let request_token = "actions-request-token".to_string();
        self.state.lock().unwrap().actions = Some((key.clone(), request_token.clone(), claims));
        (
            format!("{}/actions/token?api-version=2.0", self.url),
            request_token,
        )
    }

    /// The GitHub API stand-in knows `token` as `user`.
    pub fn github_user(&self, token: &str, user: GithubUser) {
        self.state
            .lock()
            .unwrap()
            .github
            .insert(token.to_owned(), user);
    }

    /// The paths asked so far.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }
}

fn log(state: &Shared, what: &str) {
    state.lock().unwrap().requests.push(what.to_owned());
}

async fn discovery(State(state): State<Shared>) -> Response {
    log(&state, "/.well-known/openid-configuration");
    let url = state.lock().unwrap().url.clone();
    axum::Json(json!({"issuer": url, "jwks_uri": format!("{url}/jwks"),
                      "authorization_endpoint": format!("{url}/authorize"),
                      "token_endpoint": format!("{url}/token"),
                      "id_token_signing_alg_values_supported": ["EdDSA", "RS256"]}))
    .into_response()
}

async fn jwks(State(state): State<Shared>) -> Response {
    log(&state, "/jwks");
    let (keys, delay) = {
        let s = state.lock().unwrap();
        (s.jwks.clone(), s.jwks_delay)
    };
    tokio::time::sleep(delay).await;
    axum::Json(json!({ "keys": keys })).into_response()
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::to_owned)
}

async fn actions_token(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    log(&state, "/actions/token");
    let (url, actions) = {
        let s = state.lock().unwrap();
        (s.url.clone(), s.actions.clone())
    };
    let Some((key, request_token, claims)) = actions else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if bearer(&headers).as_deref() != Some(request_token.as_str()) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let audience = query.get("audience").cloned().unwrap_or_default();
    let mut all = json!({"iss": url, "aud": audience, "sub": "repo:octo-org/octo-repo:ref:refs/heads/main",
                         "iat": now(), "nbf": now(), "exp": now() + 300});
    for (k, v) in claims.as_object().cloned().unwrap_or_default() {
        all[k] = v;
    }
    axum::Json(json!({ "value": key.sign(&all) })).into_response()
}

fn github_caller(state: &Shared, headers: &HeaderMap) -> Option<GithubUser> {
    let token = bearer(headers)?;
    state.lock().unwrap().github.get(&token).cloned()
}

async fn github_user(State(state): State<Shared>, headers: HeaderMap) -> Response {
    log(&state, "/api/v3/user");
    match github_caller(&state, &headers) {
        Some(user) => {
            axum::Json(json!({"login": user.login, "id": 1, "type": "User"})).into_response()
        }
        None => (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"message": "Bad credentials", "status": "401"})),
        )
            .into_response(),
    }
}

async fn github_memberships(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    log(&state, "/api/v3/user/memberships/orgs");
    let Some(user) = github_caller(&state, &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    if user.no_org_scope {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(json!({"message": "Resource not accessible by personal access token"})),
        )
            .into_response();
    }
    if query.get("page").map(String::as_str) != Some("1") {
        return axum::Json(json!([])).into_response();
    }
    let list: Vec<Value> = user
        .orgs
        .iter()
        .map(|(org, role)| {
            json!({"state": "active", "role": role, "organization": {"login": org, "id": 2}})
        })
        .collect();
    axum::Json(Value::Array(list)).into_response()
}
