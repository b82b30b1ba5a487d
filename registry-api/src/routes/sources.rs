//! ToolHive extensions for sync: `GET /v1/sources[/{name}]`, `POST /v1/sources/{name}/sync`, `GET /v1/registries`.
//!
//! Anyone may read the sources; only administrators (the admin token, or a token granted `*`) see them in full —
//! everyone else sees URLs without query or fragment and errors as short reasons ([`SourceView`]).

use axum::Json;
use axum::extract::{FromRef, FromRequestParts, Path, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::ApiQuery;
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::openapi::schemas::ErrorResponseSchema;
use crate::state::AppState;
use crate::store::SyncAttempt;
use crate::sync::{SourceView, SyncService, Trigger};

#[derive(Serialize, ToSchema)]
pub struct SourceList {
    sources: Vec<SourceView>,
}

#[derive(Serialize, ToSchema)]
pub struct SyncResult {
    /// `synced`, or `skipped` when nothing was due (never for a manual sync).
    result: &'static str,
    source: SourceView,
}

#[derive(Serialize, ToSchema)]
pub struct RegistryView {
    name: String,
    /// Sources in precedence order (`managed`: entries published to this API).
    sources: Vec<String>,
    /// Whether `/v0.1` serves it.
    default: bool,
}

#[derive(Serialize, ToSchema)]
pub struct RegistryList {
    registries: Vec<RegistryView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SyncParams {
    /// `true` for a full sync (API sources otherwise sync incrementally).
    #[param(value_type = Option<bool>)]
    full: Option<String>,
}

/// How much of the sources a reader sees: everything for an administrator (the check the sync trigger makes),
/// the public view for anyone else. A token that is presented must be valid (401 otherwise, as everywhere).
pub struct Detail(bool);

impl<S> FromRequestParts<S> for Detail
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        if !parts.headers.contains_key(AUTHORIZATION) {
            return Ok(Self(false));
        }
        let caller = Caller::from_request_parts(parts, state).await?;
        Ok(Self(caller.is_admin()))
    }
}

fn sync_service(state: &AppState) -> AppResult<&SyncService> {
    state
        .sync
        .as_deref()
        .ok_or_else(|| AppError::NotFound("no sync sources are configured".into()))
}

async fn view_of(
    state: &AppState,
    sync: &SyncService,
    name: &str,
    detail: bool,
) -> AppResult<SourceView> {
    sync.views(&state.registries, detail)
        .await?
        .into_iter()
        .find(|v| v.name == name)
        .ok_or_else(|| AppError::NotFound(format!("source not found: {name}")))
}

/// Every sync source: its last sync, status, error and counts (in full for administrators).
#[utoipa::path(get, path = "/v1/sources", tag = "sources",
    security((), ("bearerAuth" = [])),
    responses(
        (status = 200, description = "The configured sources", body = SourceList),
        (status = 401, description = "An invalid token", body = ErrorResponseSchema)))]
pub async fn list_sources(
    State(state): State<AppState>,
    Detail(detail): Detail,
) -> AppResult<Json<SourceList>> {
    let sources = match state.sync.as_deref() {
        Some(sync) => sync.views(&state.registries, detail).await?,
        None => Vec::new(),
    };
    Ok(Json(SourceList { sources }))
}

/// One sync source (in full for administrators).
#[utoipa::path(get, path = "/v1/sources/{name}", tag = "sources",
    params(("name" = String, Path, description = "Source name")),
    security((), ("bearerAuth" = [])),
    responses(
        (status = 200, description = "The source", body = SourceView),
        (status = 401, description = "An invalid token", body = ErrorResponseSchema),
        (status = 404, description = "No such source", body = ErrorResponseSchema)))]
pub async fn get_source(
    State(state): State<AppState>,
    Detail(detail): Detail,
    Path(name): Path<String>,
) -> AppResult<Json<SourceView>> {
    let sync = sync_service(&state)?;
    Ok(Json(view_of(&state, sync, &name, detail).await?))
}

/// Sync a source now (admin): waits for the sync and returns the source's new state.
#[utoipa::path(post, path = "/v1/sources/{name}/sync", tag = "sources",
    params(("name" = String, Path, description = "Source name"), SyncParams),
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "Synced", body = SyncResult),
        (status = 401, description = "No or invalid token", body = ErrorResponseSchema),
        (status = 403, description = "Not an administrator", body = ErrorResponseSchema),
        (status = 404, description = "No such source", body = ErrorResponseSchema),
        (status = 409, description = "Another replica is syncing it", body = ErrorResponseSchema),
        (status = 502, description = "The sync failed; the last good data stays served", body = ErrorResponseSchema)))]
pub async fn sync_source(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiQuery(params): ApiQuery<SyncParams>,
) -> AppResult<Json<SyncResult>> {
    if !caller.is_admin() {
        return Err(AppError::Forbidden(
            "triggering a sync needs the admin token or a token granted '*'".into(),
        ));
    }
    let full = match params.full.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(AppError::bad_request(format!(
                "Invalid full parameter '{other}': must be true or false"
            )));
        }
    };
    let sync = sync_service(&state)?;
    let trigger = if full {
        Trigger::ManualFull
    } else {
        Trigger::Manual
    };
    let result = match sync.sync(&name, trigger).await? {
        SyncAttempt::Committed(_) => "synced",
        SyncAttempt::Skipped => "skipped",
        SyncAttempt::Busy => {
            return Err(AppError::Conflict(format!(
                "source {name} is being synced now (here or by another replica); try again when it is done"
            )));
        }
        SyncAttempt::Failed(e) => {
            return Err(AppError::BadGateway(format!(
                "sync of source {name} failed; the last good data stays served: {e}"
            )));
        }
    };
    Ok(Json(SyncResult {
        result,
        source: view_of(&state, sync, &name, true).await?,
    }))
}

/// The registries this API serves, each at `/registry/{name}/v0.1`, and which one `/v0.1` serves.
#[utoipa::path(get, path = "/v1/registries", tag = "sources", responses(
    (status = 200, description = "The registries", body = RegistryList)))]
pub async fn list_registries(State(state): State<AppState>) -> Json<RegistryList> {
    let r = &state.registries;
    let mut registries: Vec<RegistryView> = r
        .iter()
        .map(|(name, scope)| RegistryView {
            name: name.clone(),
            sources: scope.sources().to_vec(),
            default: r.default_name() == Some(name.as_str()),
        })
        .collect();
    if r.default_name().is_none() {
        registries.insert(
            0,
            RegistryView {
                name: "default".into(),
                sources: r.default_scope().sources().to_vec(),
                default: true,
            },
        );
    }
    Json(RegistryList { registries })
}
