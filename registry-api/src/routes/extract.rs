//! Typed extractors: path, query, body and caller are checked here, before any storage call, and every rejection
//! becomes an `{"error": "..."}` body with the upstream status code.
//!
//! NUL (U+0000) is refused in every value that reaches storage or a query: no database stores it (PostgreSQL
//! refuses it in any text), so it would be a 500 there. A query parameter or a path version holding it is a
//! 400, a request body a 422, each naming the parameter or the body's JSON path. A server name in a path that
//! holds any control character is a 404, as upstream: no name can hold one (the name pattern), so no such
//! server exists.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRef, FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;
use thv_core::validate::{NUL_MESSAGE, nul_path, server_name_error};

use crate::auth::Caller;
use crate::error::AppError;
use crate::state::AppState;
use crate::store::Scope;

/// The registry a read route serves: `{registry}` of `/registry/{registry}/v0.1/...`, or the default one.
pub struct RegistryScope(pub Scope);

impl FromRequestParts<AppState> for RegistryScope {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|_| Path(HashMap::new()));
        match params.get("registry") {
            None => Ok(Self(state.registries.default_scope().clone())),
            Some(name) => state
                .registries
                .scope(name)
                .cloned()
                .map(Self)
                .ok_or_else(|| AppError::NotFound(format!("registry not found: {name}"))),
        }
    }
}

/// `{serverName}`, percent-decoded.
pub struct ServerName(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ServerName {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let Path(mut params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::bad_request("Invalid server name encoding"))?;
        let name = params.remove("serverName").unwrap_or_default();
        check_name(&name)?;
        Ok(Self(name))
    }
}

/// `{serverName}/versions/{version}`, both percent-decoded.
pub struct ServerVersion {
    pub name: String,
    pub version: String,
}

impl<S: Send + Sync> FromRequestParts<S> for ServerVersion {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let Path(mut params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e: PathRejection| {
                if e.body_text().contains("version") {
                    AppError::bad_request("Invalid version encoding")
                } else {
                    AppError::bad_request("Invalid server name encoding")
                }
            })?;
        let name = params.remove("serverName").unwrap_or_default();
        let version = params.remove("version").unwrap_or_default();
        check_name(&name)?;
        if version.is_empty() || version.len() > thv_core::version::MAX_VERSION_LEN {
            return Err(AppError::bad_request(
                "Invalid version: must be 1 to 255 characters",
            ));
        }
        if version.contains('\0') {
            return Err(AppError::bad_request(format!(
                "Invalid version: {NUL_MESSAGE}"
            )));
        }
        Ok(Self { name, version })
    }
}

/// A server name in a path: a name holding a control character cannot exist (404, as upstream, without a
/// storage call); an absurdly long one is refused.
fn check_name(name: &str) -> Result<(), AppError> {
    if name.chars().any(char::is_control) {
        return Err(AppError::server_not_found());
    }
    if name.len() > 200 {
        return Err(AppError::bad_request(format!(
            "Invalid server name: {}",
            server_name_error(name)
                .unwrap_or_else(|| "must be at most 200 printable characters".into())
        )));
    }
    Ok(())
}

/// Query parameters; a malformed query string, or a parameter holding NUL, is a 400 that says which parameter.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let query = parts.uri.query().unwrap_or_default();
        if let Some((name, _)) =
            url::form_urlencoded::parse(query.as_bytes()).find(|(_, value)| value.contains('\0'))
        {
            return Err(AppError::bad_request(format!(
                "Invalid {name} parameter: {NUL_MESSAGE}"
            )));
        }
        let Query(q) =
            Query::<T>::from_request_parts(parts, state)
                .await
                .map_err(|e: QueryRejection| {
                    AppError::bad_request(format!("Invalid query parameters: {}", e.body_text()))
                })?;
        Ok(Self(q))
    }
}

/// A JSON request body as a value: malformed JSON is a 400 naming line and column; an oversized body a 413; a
/// string or key holding NUL a 422 naming its JSON path.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = AppError;
    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e: BytesRejection| {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::PayloadTooLarge("Request body is too large".into())
                } else {
                    AppError::bad_request(format!("Could not read request body: {}", e.body_text()))
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(AppError::bad_request(
                "Request body is required: a JSON document",
            ));
        }
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| AppError::bad_request(format!("Invalid JSON body: {e}")))?;
        if let Some(at) = nul_path(&value) {
            let at = if at.is_empty() { "the body" } else { &at };
            return Err(AppError::Unprocessable(format!(
                "Invalid request body: {at}: {NUL_MESSAGE}"
            )));
        }
        Ok(Self(value))
    }
}

/// A typed JSON body; wrong types and missing fields are a 422 that names the field.
pub struct TypedJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for TypedJson<T> {
    type Rejection = AppError;
    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let JsonBody(value) = JsonBody::from_request(req, state).await?;
        serde_json::from_value(value)
            .map(Self)
            .map_err(|e| AppError::Unprocessable(format!("Invalid request body: {e}")))
    }
}

/// The authenticated caller of a write endpoint: `Authorization: Bearer <registry JWT | admin token>`.
impl<S> FromRequestParts<S> for Caller
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        // A provider's token, already checked by the `auth.oauth` gate.
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let state = AppState::from_ref(state);
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            AppError::Unauthorized("Authorization header is required: Bearer <token>".into())
        })?;
        let token =
            crate::auth::bearer_token(header.to_str().unwrap_or_default()).ok_or_else(|| {
                AppError::Unauthorized(
                    "Invalid Authorization header format. Expected 'Bearer <token>'".into(),
                )
            })?;
        if let Some(caller) = state.authenticate(token) {
            return Ok(caller);
        }
        if let Some(oauth) = &state.oauth
            && let Ok(caller) = oauth.caller(token).await
        {
            return Ok(caller);
        }
        Err(AppError::Unauthorized(
            "Invalid or expired Registry JWT token".into(),
        ))
    }
}
