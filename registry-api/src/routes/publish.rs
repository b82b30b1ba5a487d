//! Write endpoints (bearer token) and `POST validate` (anonymous).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde_json::value::RawValue;
use thv_core::api::{AllVersionsStatusResponse, StatusUpdateRequest};
use thv_core::validate::{self, SchemaPolicy, ValidationResult};

use super::extract::{JsonBody, ServerName, ServerVersion, TypedJson};
use super::servers::{RawServerResponse, to_response};
use crate::auth::Caller;
use crate::error::AppResult;
use crate::openapi::schemas::{
    AllVersionsStatusResponseSchema, ErrorResponseSchema, ServerDetailSchema, ServerResponseSchema,
    StatusUpdateRequestSchema, ValidationResultSchema,
};
use crate::state::AppState;

/// Publish a new server version. Requires a token with `publish` permission for the name.
#[utoipa::path(post, path = "/publish", tag = "publish", security(("bearerAuth" = [])),
    request_body(content = ServerDetailSchema, description = "A server.json document"),
    responses(
        (status = 200, description = "Published", body = ServerResponseSchema),
        (status = 400, description = "Malformed JSON, duplicate version, remote URL owned by another server, version cap", body = ErrorResponseSchema),
        (status = 401, description = "Missing or invalid token", body = ErrorResponseSchema),
        (status = 403, description = "No permission for this namespace", body = ErrorResponseSchema),
        (status = 413, description = "Body too large", body = ErrorResponseSchema),
        (status = 422, description = "Invalid server.json (call /validate for details)", body = ErrorResponseSchema),
    ))]
pub async fn publish_server(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(doc): JsonBody,
) -> AppResult<Json<RawServerResponse>> {
    let row = state.registry.publish(&caller, doc).await?;
    Ok(Json(to_response(row)?))
}

/// Validate a server.json document without publishing it. Always 200: `{valid, issues[]}`.
#[utoipa::path(post, path = "/validate", tag = "publish",
    request_body(content = ServerDetailSchema, description = "A server.json document"),
    responses((status = 200, description = "Validation report", body = ValidationResultSchema)))]
pub async fn validate_server(body: Bytes) -> Json<ValidationResult> {
    Json(validate::validate_bytes(&body, SchemaPolicy::Validate))
}

/// Replace the server.json of one version (administrators: `edit` permission).
#[utoipa::path(put, path = "/servers/{serverName}/versions/{version}", tag = "publish", security(("bearerAuth" = [])),
    params(("serverName" = String, Path, description = "URL-encoded server name"), ("version" = String, Path, description = "URL-encoded version")),
    request_body(content = ServerDetailSchema),
    responses(
        (status = 200, description = "Updated", body = ServerResponseSchema),
        (status = 400, description = "Rename attempted, version mismatch, remote URL owned by another server", body = ErrorResponseSchema),
        (status = 401, description = "Missing or invalid token", body = ErrorResponseSchema),
        (status = 403, description = "No edit permission", body = ErrorResponseSchema),
        (status = 404, description = "Server version not found (or deleted)", body = ErrorResponseSchema),
        (status = 422, description = "Invalid server.json", body = ErrorResponseSchema),
    ))]
pub async fn edit_server_version(
    State(state): State<AppState>,
    caller: Caller,
    path: ServerVersion,
    JsonBody(doc): JsonBody,
) -> AppResult<Json<RawServerResponse>> {
    let row = state
        .registry
        .edit(&caller, &path.name, &path.version, doc)
        .await?;
    Ok(Json(to_response(row)?))
}

/// Delete one version: a tombstone (status `deleted`) that incremental syncs see; restore it with the status endpoint.
#[utoipa::path(delete, path = "/servers/{serverName}/versions/{version}", tag = "publish", security(("bearerAuth" = [])),
    params(("serverName" = String, Path, description = "URL-encoded server name"), ("version" = String, Path, description = "URL-encoded version")),
    responses(
        (status = 200, description = "Deleted (status is now deleted)", body = ServerResponseSchema),
        (status = 401, description = "Missing or invalid token", body = ErrorResponseSchema),
        (status = 403, description = "No publish or edit permission", body = ErrorResponseSchema),
        (status = 404, description = "Server version not found", body = ErrorResponseSchema),
    ))]
pub async fn delete_server_version(
    State(state): State<AppState>,
    caller: Caller,
    path: ServerVersion,
) -> AppResult<Json<RawServerResponse>> {
    let row = state
        .registry
        .delete(&caller, &path.name, &path.version)
        .await?;
    Ok(Json(to_response(row)?))
}

/// Set the status of one version (active, deprecated, deleted); `isLatest` is recomputed.
#[utoipa::path(patch, path = "/servers/{serverName}/versions/{version}/status", tag = "publish", security(("bearerAuth" = [])),
    params(("serverName" = String, Path, description = "URL-encoded server name"), ("version" = String, Path, description = "URL-encoded version")),
    request_body(content = StatusUpdateRequestSchema),
    responses(
        (status = 200, description = "Updated", body = ServerResponseSchema),
        (status = 400, description = "No change, or a message with status active", body = ErrorResponseSchema),
        (status = 401, description = "Missing or invalid token", body = ErrorResponseSchema),
        (status = 403, description = "No publish or edit permission", body = ErrorResponseSchema),
        (status = 404, description = "Server version not found", body = ErrorResponseSchema),
        (status = 422, description = "Invalid status value", body = ErrorResponseSchema),
    ))]
pub async fn update_version_status(
    State(state): State<AppState>,
    caller: Caller,
    path: ServerVersion,
    TypedJson(req): TypedJson<StatusUpdateRequest>,
) -> AppResult<Json<RawServerResponse>> {
    let row = state
        .registry
        .set_status(&caller, &path.name, &path.version, req)
        .await?;
    Ok(Json(to_response(row)?))
}

/// Set the status of every version of a server in one transaction; only versions that differ change.
#[utoipa::path(patch, path = "/servers/{serverName}/status", tag = "publish", security(("bearerAuth" = [])),
    params(("serverName" = String, Path, description = "URL-encoded server name")),
    request_body(content = StatusUpdateRequestSchema),
    responses(
        (status = 200, description = "Updated versions", body = AllVersionsStatusResponseSchema),
        (status = 400, description = "No change, or a message with status active", body = ErrorResponseSchema),
        (status = 401, description = "Missing or invalid token", body = ErrorResponseSchema),
        (status = 403, description = "No publish or edit permission", body = ErrorResponseSchema),
        (status = 404, description = "Server not found", body = ErrorResponseSchema),
        (status = 422, description = "Invalid status value", body = ErrorResponseSchema),
    ))]
pub async fn update_server_status(
    State(state): State<AppState>,
    caller: Caller,
    ServerName(name): ServerName,
    TypedJson(req): TypedJson<StatusUpdateRequest>,
) -> AppResult<Json<AllVersionsStatusResponse<Box<RawValue>>>> {
    let rows = state.registry.set_all_status(&caller, &name, req).await?;
    let servers = rows
        .into_iter()
        .map(to_response)
        .collect::<AppResult<Vec<_>>>()?;
    Ok(Json(AllVersionsStatusResponse {
        updated_count: servers.len(),
        servers,
    }))
}
