//! Read endpoints: `GET servers`, `GET servers/{name}/versions`, `GET servers/{name}/versions/{version|latest}`.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use thv_core::api::{ListMetadata, ResponseMeta, ServerResponse};
use utoipa::IntoParams;

use super::extract::{ApiQuery, RegistryScope, ServerName, ServerVersion};
use crate::error::{AppError, AppResult};
use crate::openapi::schemas::{ErrorResponseSchema, ServerListSchema, ServerResponseSchema};
use crate::state::AppState;
use crate::store::{Cursor, ListQuery, Scope, VersionFilter, VersionRow};

/// Default page size, as upstream.
pub const DEFAULT_LIMIT: u32 = 30;
/// Largest page size, as upstream.
pub const MAX_LIMIT: u32 = 100;

/// A stored version as the API serves it: the stored document passes through unparsed.
pub type RawServerResponse = ServerResponse<Box<RawValue>>;

pub fn to_response(row: VersionRow) -> AppResult<RawServerResponse> {
    let meta = response_meta(&row);
    let server = RawValue::from_string(row.value).map_err(|e| {
        AppError::Internal(format!(
            "stored server.json of {}@{} is not JSON: {e}",
            row.server_name, row.version
        ))
    })?;
    Ok(ServerResponse { server, meta })
}

/// A page of `GET servers` or `GET servers/{name}/versions`, written as the `ServerList` it is. The stored
/// documents go into it as stored: each was parsed and checked when it was written, and re-parsing 30 of them to
/// build a `RawValue` cost a tenth of a page's CPU. A stored value that is not even shaped as a JSON object (the
/// database edited by hand) is refused as before, naming the entry.
pub struct ServerListBody(Vec<u8>);

impl axum::response::IntoResponse for ServerListBody {
    fn into_response(self) -> axum::response::Response {
        (
            [(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            )],
            self.0,
        )
            .into_response()
    }
}

fn to_list(rows: Vec<VersionRow>, next_cursor: Option<String>) -> AppResult<ServerListBody> {
    let size = rows.iter().map(|r| r.value.len() + 320).sum::<usize>() + 96;
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(b"{\"servers\":[");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let value = row.value.trim_ascii();
        if !(value.starts_with('{') && value.ends_with('}')) {
            return Err(AppError::Internal(format!(
                "stored server.json of {}@{} is not a JSON object",
                row.server_name, row.version
            )));
        }
        out.extend_from_slice(b"{\"server\":");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b",\"_meta\":");
        write_json(&mut out, &response_meta(row))?;
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"metadata\":");
    let count = rows.len();
    write_json(&mut out, &ListMetadata { next_cursor, count })?;
    out.push(b'}');
    Ok(ServerListBody(out))
}

fn write_json(out: &mut Vec<u8>, value: &impl serde::Serialize) -> AppResult<()> {
    serde_json::to_writer(out, value)
        .map_err(|e| AppError::Internal(format!("cannot write a server list: {e}")))
}

fn response_meta(row: &VersionRow) -> ResponseMeta {
    ResponseMeta {
        official: Some(row.official()),
        extra: Default::default(),
    }
}

/// The longest `search` taken.
pub const MAX_SEARCH: usize = 256;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Pagination cursor: the exact `metadata.nextCursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 100 (default 30).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Case-insensitive substring of the server name or description.
    search: Option<String>,
    /// Only versions updated strictly after this RFC 3339 instant (implies `include_deleted`).
    #[param(value_type = Option<String>, format = DateTime)]
    updated_since: Option<String>,
    /// `latest` for each server's latest version, or an exact version.
    version: Option<String>,
    /// Include versions whose status is `deleted` (default false; forced true with `updated_since`).
    #[param(value_type = Option<bool>)]
    include_deleted: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncludeDeleted {
    /// Include versions whose status is `deleted` (default false).
    #[param(value_type = Option<bool>)]
    include_deleted: Option<String>,
}

fn parse_bool(name: &str, value: Option<&str>) -> AppResult<Option<bool>> {
    match value {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(AppError::bad_request(format!(
            "Invalid {name} parameter '{other}': must be true or false"
        ))),
    }
}

fn parse_cursor(raw: &str) -> AppResult<Cursor> {
    let invalid = || {
        AppError::bad_request(
            "Invalid cursor: use the exact metadata.nextCursor value of a previous page",
        )
    };
    // Versions may hold control characters (NUL aside, refused with every parameter), so cursors may too.
    if raw.is_empty() || raw.len() > 460 {
        return Err(invalid());
    }
    Ok(match raw.split_once(':') {
        Some((name, version)) if !name.is_empty() && !version.is_empty() => Cursor {
            server_name: name.into(),
            version: Some(version.into()),
        },
        Some(_) => return Err(invalid()),
        None => Cursor {
            server_name: raw.into(),
            version: None,
        },
    })
}

impl ListParams {
    fn into_query(self, scope: Scope) -> AppResult<ListQuery> {
        let limit = match self.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    AppError::Unprocessable(format!(
                        "Invalid limit '{s}': must be an integer from 1 to {MAX_LIMIT}"
                    ))
                })?,
        };
        let updated_since = self
            .updated_since
            .as_deref()
            .map(|s| {
                DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).map_err(|_| {
                    AppError::bad_request("Invalid updated_since format: expected RFC3339 timestamp (e.g., 2025-08-07T13:15:04.280Z)")
                })
            })
            .transpose()?;
        let include_deleted = match (
            parse_bool("include_deleted", self.include_deleted.as_deref())?,
            updated_since,
        ) {
            (Some(false), Some(_)) => {
                return Err(AppError::bad_request(
                    "Cannot set include_deleted=false when using updated_since (incremental sync requires deleted servers)",
                ));
            }
            (_, Some(_)) => true,
            (explicit, None) => explicit.unwrap_or(false),
        };
        let version = match self.version.as_deref() {
            None | Some("") => VersionFilter::All,
            Some("latest") => VersionFilter::Latest,
            Some(v) => VersionFilter::Exact(v.to_string()),
        };
        let search = self.search.filter(|s| !s.is_empty());
        // Longer than any name (200) or description: it could match nothing, and costs the database time. Counted
        // as given: lower-casing may lengthen it (`İ` becomes two characters).
        if let Some(s) = &search
            && s.chars().count() > MAX_SEARCH
        {
            return Err(AppError::bad_request(format!(
                "Invalid search parameter: at most {MAX_SEARCH} characters ({} given)",
                s.chars().count()
            )));
        }
        let search = search.map(|s| s.to_lowercase());
        let cursor = self
            .cursor
            .filter(|c| !c.is_empty())
            .as_deref()
            .map(parse_cursor)
            .transpose()?;
        Ok(ListQuery {
            scope,
            cursor,
            limit,
            search,
            updated_since,
            version,
            include_deleted,
        })
    }
}

/// List MCP servers: one item per (name, version), in name then version order, paged by cursor.
#[utoipa::path(get, path = "/servers", tag = "servers", params(ListParams),
    responses(
        (status = 200, description = "A page of server versions", body = ServerListSchema),
        (status = 400, description = "Invalid cursor, updated_since or include_deleted, or a parameter holding NUL (U+0000)", body = ErrorResponseSchema),
        (status = 422, description = "limit out of range", body = ErrorResponseSchema),
    ))]
pub async fn list_servers(
    State(state): State<AppState>,
    RegistryScope(scope): RegistryScope,
    ApiQuery(params): ApiQuery<ListParams>,
) -> AppResult<ServerListBody> {
    let query = params.into_query(scope)?;
    let page = state.registry.list(&query).await?;
    to_list(page.rows, page.next_cursor)
}

/// List every version of one server, newest publish first (no pagination).
#[utoipa::path(get, path = "/servers/{serverName}/versions", tag = "servers",
    params(("serverName" = String, Path, description = "URL-encoded server name (e.g. com.example%2Fmy-server)"), IncludeDeleted),
    responses(
        (status = 200, description = "All versions of the server", body = ServerListSchema),
        (status = 400, description = "Invalid include_deleted", body = ErrorResponseSchema),
        (status = 404, description = "Server not found (also for a name holding a control character)", body = ErrorResponseSchema),
    ))]
pub async fn list_server_versions(
    State(state): State<AppState>,
    RegistryScope(scope): RegistryScope,
    ServerName(name): ServerName,
    ApiQuery(q): ApiQuery<IncludeDeleted>,
) -> AppResult<ServerListBody> {
    let include_deleted =
        parse_bool("include_deleted", q.include_deleted.as_deref())?.unwrap_or(false);
    let rows = state
        .registry
        .versions(&scope, &name, include_deleted)
        .await?;
    to_list(rows, None)
}

/// Get one version of a server; `latest` names the version flagged `isLatest`.
#[utoipa::path(get, path = "/servers/{serverName}/versions/{version}", tag = "servers",
    params(
        ("serverName" = String, Path, description = "URL-encoded server name"),
        ("version" = String, Path, description = "URL-encoded version (e.g. 1.0.0%2Bbuild), or latest"),
        IncludeDeleted,
    ),
    responses(
        (status = 200, description = "The server version", body = ServerResponseSchema),
        (status = 400, description = "A version holding NUL (U+0000), or an invalid include_deleted", body = ErrorResponseSchema),
        (status = 404, description = "Server not found (also for a name holding a control character)", body = ErrorResponseSchema),
    ))]
pub async fn get_server_version(
    State(state): State<AppState>,
    RegistryScope(scope): RegistryScope,
    path: ServerVersion,
    ApiQuery(q): ApiQuery<IncludeDeleted>,
) -> AppResult<Json<RawServerResponse>> {
    let include_deleted =
        parse_bool("include_deleted", q.include_deleted.as_deref())?.unwrap_or(false);
    let row = state
        .registry
        .get(&scope, &path.name, &path.version, include_deleted)
        .await?;
    Ok(Json(to_response(row)?))
}

/// An entry's signature: the sigstore bundle it was published with (ToolHive extension; also in the entry's
/// `_meta["io.github.stacklok.toolhive/signature"]`).
#[utoipa::path(get, path = "/servers/{serverName}/versions/{version}/signature", tag = "servers",
    params(
        ("serverName" = String, Path, description = "URL-encoded server name"),
        ("version" = String, Path, description = "URL-encoded version, or latest"),
    ),
    responses(
        (status = 200, description = "The sigstore bundle (v0.3 JSON) over the entry's canonical form", body = Object),
        (status = 404, description = "Server not found, or the version is not signed", body = ErrorResponseSchema),
    ))]
pub async fn get_server_version_signature(
    State(state): State<AppState>,
    RegistryScope(scope): RegistryScope,
    path: ServerVersion,
) -> AppResult<Json<serde_json::Value>> {
    let row = state
        .registry
        .get(&scope, &path.name, &path.version, false)
        .await?;
    let doc: serde_json::Value = serde_json::from_str(&row.value)
        .map_err(|e| AppError::Internal(format!("stored document: {e}")))?;
    thv_core::signature::embedded_bundle(&doc)
        .cloned()
        .map(Json)
        .ok_or_else(|| AppError::NotFound("Signature not found: the version is not signed".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_parse_as_upstream() {
        assert_eq!(
            parse_cursor("a.b/c:1.0.0:x").unwrap(),
            Cursor {
                server_name: "a.b/c".into(),
                version: Some("1.0.0:x".into())
            }
        );
        assert_eq!(
            parse_cursor("a.b/c").unwrap(),
            Cursor {
                server_name: "a.b/c".into(),
                version: None
            }
        );
        assert!(parse_cursor(":1.0").is_err());
        assert_eq!(
            parse_cursor("a.b/c:1.0.0\u{1}").unwrap().version.as_deref(),
            Some("1.0.0\u{1}"),
            "a version may hold a control character"
        );
    }

    fn row(name: &str, version: &str, value: &str) -> VersionRow {
        let t = chrono::TimeZone::timestamp_micros(&Utc, 1_700_000_000_123_456).unwrap();
        VersionRow {
            server_name: name.into(),
            version: version.into(),
            value: value.into(),
            status: thv_core::api::ServerStatus::Deprecated,
            status_message: Some("use \"b\" instead".into()),
            status_changed_at: t,
            published_at: t,
            updated_at: t,
            is_latest: true,
            search_text: String::new(),
        }
    }

    /// The hand-written page is byte for byte what serde would write for the same `ServerList`.
    #[test]
    fn a_written_page_is_the_server_list_serde_writes() {
        let rows = vec![
            row(
                "a.b/c",
                "1.0.0",
                r#"{"name":"a.b/c","version":"1.0.0","description":"x \"q\" \u00e9"}"#,
            ),
            row("a.b/d", "2.0.0", r#"{"name":"a.b/d","version":"2.0.0"}"#),
        ];
        for (rows, cursor) in [
            (rows.clone(), Some("a.b/d:2.0.0".to_string())),
            (rows, None),
            (Vec::new(), None),
        ] {
            let typed = thv_core::api::ServerList {
                servers: rows
                    .iter()
                    .cloned()
                    .map(|r| to_response(r).unwrap())
                    .collect(),
                metadata: ListMetadata {
                    next_cursor: cursor.clone(),
                    count: rows.len(),
                },
            };
            let written = to_list(rows, cursor).unwrap().0;
            assert_eq!(
                String::from_utf8(written).unwrap(),
                serde_json::to_string(&typed).unwrap()
            );
        }
    }

    #[test]
    fn a_stored_value_that_is_not_an_object_is_refused_naming_the_entry() {
        let Err(AppError::Internal(e)) = to_list(vec![row("a.b/c", "1.0.0", "[1]")], None) else {
            panic!("accepted");
        };
        assert!(e.contains("a.b/c@1.0.0"), "{e}");
    }
}
