//! The one error type of the API, and its one mapping to HTTP: `{"error": "..."}` with the upstream status codes.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use thv_core::api::ErrorBody;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: the request is malformed or asks for something the rules refuse.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no usable credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: valid credentials without the needed permission.
    #[error("{0}")]
    Forbidden(String),
    /// 404
    #[error("{0}")]
    NotFound(String),
    /// 413
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 422: the document fails schema or semantic validation, or a parameter is out of range.
    #[error("{0}")]
    Unprocessable(String),
    /// 409: a concurrent write got there first.
    #[error("{0}")]
    Conflict(String),
    /// 502: an upstream this service depends on (a sync source) failed.
    #[error("{0}")]
    BadGateway(String),
    /// 503: the database cannot be reached (a connection failed, or none came within the pool's acquire
    /// timeout: `StoreError::Unavailable`).
    #[error("{0}")]
    Unavailable(String),
    /// 500: a bug or corrupt data; the detail is logged, the client gets a generic message.
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::BadRequest(msg.into())
    }
    pub fn server_not_found() -> Self {
        Self::NotFound("Server not found".into())
    }
    pub fn version_not_found() -> Self {
        Self::NotFound("Server version not found".into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => {
                Self::Unavailable(format!("Registry storage is unavailable: {m}"))
            }
            StoreError::Conflict(m) => Self::Conflict(format!(
                "Conflicting concurrent change, retry the request: {m}"
            )),
            StoreError::Corrupt(m) | StoreError::Database(m) => Self::Internal(m),
            StoreError::TooLarge(m) => Self::PayloadTooLarge(m),
            StoreError::Rejected(e) => match e.downcast::<AppError>() {
                Ok(e) => *e,
                Err(other) => Self::Internal(other.to_string()),
            },
        }
    }
}

/// A write's body refuses with the API's own error; [`From<StoreError>`] gives it back unchanged.
impl From<AppError> for StoreError {
    fn from(e: AppError) -> Self {
        Self::Rejected(Box::new(e))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match self {
            Self::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                "Internal server error".to_string()
            }
            Self::Unavailable(detail) => {
                // The store reports an outage once (`crate::store::Monitored`), not once per request.
                tracing::debug!(error = %detail, "storage unavailable");
                "Registry storage is unavailable, retry later".to_string()
            }
            other => other.to_string(),
        };
        let mut resp = (status, Json(ErrorBody { error: message })).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"mcp-registry\""),
            );
        }
        resp
    }
}

pub type AppResult<T> = Result<T, AppError>;
