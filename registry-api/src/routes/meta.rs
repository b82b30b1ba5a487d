//! `GET health`, `ping`, `version`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` when the database does not answer.
    status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Pong {
    pong: bool,
}

#[derive(Serialize, ToSchema)]
pub struct VersionInfo {
    version: String,
    git_commit: &'static str,
    build_time: &'static str,
}

/// Health: 200 `{"status":"ok"}` when the database answers, 503 otherwise.
#[utoipa::path(get, path = "/health", tag = "meta", responses(
    (status = 200, description = "Healthy", body = Health),
    (status = 503, description = "Database unavailable", body = Health)))]
pub async fn get_health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    match state.registry.store().ping().await {
        Ok(()) => (StatusCode::OK, Json(Health { status: "ok" })),
        Err(e) => {
            // The store logs the outage once (at its first failure); probes repeat every few seconds.
            tracing::debug!(error = %e, "health check: database unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: "unavailable",
                }),
            )
        }
    }
}

/// Ping: `{"pong": true}`.
#[utoipa::path(get, path = "/ping", tag = "meta", responses((status = 200, description = "Pong", body = Pong)))]
pub async fn get_ping() -> Json<Pong> {
    Json(Pong { pong: true })
}

/// Version of this registry build.
#[utoipa::path(get, path = "/version", tag = "meta", responses((status = 200, description = "Build information", body = VersionInfo)))]
pub async fn get_version() -> Json<VersionInfo> {
    Json(VersionInfo {
        version: format!("v{}", env!("CARGO_PKG_VERSION")),
        git_commit: option_env!("THV_GIT_COMMIT").unwrap_or("unknown"),
        build_time: option_env!("THV_BUILD_TIME").unwrap_or("unknown"),
    })
}
