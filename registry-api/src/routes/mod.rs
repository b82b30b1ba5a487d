//! The one list of every route. Each API route is registered under both `/v0` and `/v0.1` (identical handlers, as
//! upstream), and the OpenAPI document is generated from this same router, so the two cannot drift.

mod extract;
mod meta;
mod publish;
mod servers;
mod sources;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::{HeaderName, Method, header};
use axum::response::IntoResponse;
use tower_http::cors::{Any, CorsLayer};
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use servers::{DEFAULT_LIMIT, MAX_LIMIT};

use crate::error::AppError;
use crate::openapi;
use crate::state::AppState;

/// The API routes of one version prefix.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(servers::list_servers))
        .routes(routes!(servers::list_server_versions))
        .routes(routes!(
            servers::get_server_version,
            publish::edit_server_version,
            publish::delete_server_version
        ))
        .routes(routes!(servers::get_server_version_signature))
        .routes(routes!(publish::update_version_status))
        .routes(routes!(publish::update_server_status))
        .routes(routes!(publish::publish_server))
        .routes(routes!(publish::validate_server))
        .routes(routes!(meta::get_health))
        .routes(routes!(meta::get_ping))
        .routes(routes!(meta::get_version))
        .routes(routes!(crate::exchange::auth_none))
        .routes(routes!(crate::exchange::auth_http))
        .routes(routes!(crate::exchange::auth_dns))
        .routes(routes!(crate::exchange::identity::auth_oidc))
        .routes(routes!(crate::exchange::identity::auth_github_oidc))
        .routes(routes!(crate::exchange::identity::auth_github_at))
}

/// The read routes of a named registry (`/registry/{registry}/v0.1/...`): publishing goes to `/v0.1`.
fn registry_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(servers::list_servers))
        .routes(routes!(servers::list_server_versions))
        .routes(routes!(servers::get_server_version))
        .routes(routes!(servers::get_server_version_signature))
}

/// Sync sources and registries (ToolHive extensions).
fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sources::list_sources))
        .routes(routes!(sources::get_source))
        .routes(routes!(sources::sync_source))
        .routes(routes!(sources::list_registries))
}

/// Every API route with its OpenAPI description, under both prefixes, plus each named registry's read routes.
pub fn openapi_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base_document())
        .nest("/v0", api_routes())
        .nest("/v0.1", api_routes())
        .nest("/registry/{registry}/v0", registry_routes())
        .nest("/registry/{registry}/v0.1", registry_routes())
        .merge(admin_routes())
}

/// The complete OpenAPI document, as served at `/openapi.json` (and checked in under `openapi/`).
pub fn openapi_document() -> serde_json::Value {
    let (_, doc) = openapi_router().split_for_parts();
    openapi::finish(doc)
}

/// The complete application: API, OpenAPI documents and docs UI, metrics; CORS, body limit, tracing.
pub fn app(state: AppState, max_body_bytes: usize) -> Router {
    let (api, doc) = openapi_router().split_for_parts();
    let spec = openapi::finish(doc);
    // VS Code and GitHub Copilot read registries from the browser: CORS for GET (and its preflight).
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]);
    api.merge(openapi::routes(spec))
        .route("/metrics", axum::routing::get(crate::metrics::get_metrics))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            crate::cache::CacheState::from_ref(&state),
            crate::cache::serve,
        ))
        // Outside the cache: a cached answer is no answer without a token when tokens are required.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::oauth::require_token,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            crate::metrics::track,
        ))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(cors)
        // A failed response is logged where its cause is known — an internal error with its detail
        // (`crate::error`), an unreachable database once per outage (`crate::store::Monitored`) — not once more
        // per response: during an outage that would be an error line for every request.
        .layer(
            TraceLayer::new_for_http()
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
        .layer(
            tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer::new([
                header::AUTHORIZATION,
                HeaderName::from_static("cookie"),
            ]),
        )
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> impl IntoResponse {
    AppError::NotFound(format!(
        "Endpoint not found: {}. The API is served under /v0.1/servers (and /v0/servers), named registries under \
         /registry/{{name}}/v0.1/servers.",
        uri.path()
    ))
}
