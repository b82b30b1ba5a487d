//! The registry's rules, once for every backend: publish, edit, status changes, `isLatest`, listing.
//!
//! Routes parse and authenticate; this module decides; the [`Store`] persists inside a write transaction that is
//! serialized per server name, so concurrent publishes of one name cannot both become latest or both pass the
//! duplicate-version check.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, SubsecRound, Utc};
use futures::future::BoxFuture;
use futures::{FutureExt, TryFutureExt};
use serde::Deserialize;
use serde_json::Value;
use thv_core::api::{ServerStatus, StatusUpdateRequest};
use thv_core::server::ServerJson;
use thv_core::validate::{self, SchemaPolicy, ValidationResult};
use thv_core::version::pick_latest;

use crate::auth::{Action, Caller};
use crate::error::{AppError, AppResult};
use crate::store::{
    Cursor, ListQuery, Scope, Store, StoreError, VersionRow, WriteFn, WriteTx, write_fn,
};

/// Most versions one server may have.
pub const MAX_VERSIONS_PER_SERVER: usize = 10_000;
/// Longest status message.
pub const MAX_STATUS_MESSAGE: usize = 500;

/// One page of a list.
pub struct Page {
    pub rows: Vec<VersionRow>,
    pub next_cursor: Option<String>,
}

/// The registry service.
#[derive(Clone)]
pub struct Registry {
    store: Arc<dyn Store>,
    /// Checked on publish and edit.
    /// Behind an `Arc`: the registry is cloned with the API's state, for every request.
    signatures: Arc<thv_core::signature::SignaturePolicy>,
    /// Name patterns whose entries any publisher may make ask for privileges (see [`Registry::check_privileges`]).
    privileged_entries: Arc<[String]>,
    /// Data generation: bumped after every committed write (here, or — on PostgreSQL — by another replica), so
    /// that anything derived from the data, like the read cache, knows when it is stale.
    generation: Arc<AtomicU64>,
}

impl Registry {
    pub fn new(store: Arc<dyn Store>) -> Self {
        let registry = Self {
            store,
            signatures: Default::default(),
            privileged_entries: Arc::new([]),
            generation: Arc::default(),
        };
        let generation = registry.generation.clone();
        registry.store.watch_changes(Arc::new(move || {
            generation.fetch_add(1, Ordering::SeqCst);
        }));
        registry
    }

    /// With a signature policy for publish and edit.
    pub fn with_signatures(mut self, policy: thv_core::signature::SignaturePolicy) -> Self {
        self.signatures = Arc::new(policy);
        self
    }

    /// With the name patterns (`*`, `prefix*`, exact) whose entries may ask for privileges whoever publishes
    /// them.
    pub fn with_privileged_entries(mut self, patterns: Vec<String>) -> Self {
        self.privileged_entries = patterns.into();
        self
    }

    /// An entry's ToolHive permission profile may ask for what reaches beyond the container — `privileged`,
    /// a network mode other than bridge/none, host mounts ([`thv_core::runconfig::Privilege`]) — only when the
    /// caller may edit every name (`*`: the registry's administrators) or the configuration's
    /// `privileged_entries` names it: a publisher of one namespace cannot hand its users an entry that takes
    /// the host (403, naming the field). Runners refuse such requests unless their user grants them anyway.
    fn check_privileges(
        &self,
        caller: &Caller,
        server: &ServerJson,
        action: &str,
    ) -> AppResult<()> {
        if caller.is_admin()
            || self
                .privileged_entries
                .iter()
                .any(|p| crate::auth::pattern_matches(p, &server.name))
        {
            return Ok(());
        }
        let Some(ns) = thv_core::toolhive::stacklok_namespace(server) else {
            return Ok(());
        };
        for (key, ext) in ns {
            let Some(permissions) = ext.get("permissions") else {
                continue;
            };
            let field = format!(
                "_meta.{}.{}.{key}.permissions",
                thv_core::server::PUBLISHER_PROVIDED_META,
                thv_core::toolhive::STACKLOK_NAMESPACE
            );
            let unprocessable = |e: String| {
                AppError::Unprocessable(format!("Failed to {action} server: {field}: {e}"))
            };
            let profile: thv_core::toolhive::PermissionProfile =
                serde_json::from_value(permissions.clone())
                    .map_err(|e| unprocessable(e.to_string()))?;
            let requested = profile
                .privileges_by_field()
                .map_err(|e| unprocessable(e.to_string()))?;
            if let Some((sub, privilege)) = requested.first() {
                return Err(AppError::Forbidden(format!(
                    "Failed to {action} server: {field}.{sub} asks for {privilege}: only a registry administrator \
                     (a token allowed to edit '*') may publish an entry asking for privileges, unless the \
                     registry's privileged_entries setting names it"
                )));
            }
        }
        Ok(())
    }

    /// The signature policy: refuses (422) what an enforcing policy refuses; a warning policy logs.
    async fn check_signature(&self, server: &ServerJson, action: &str) -> AppResult<()> {
        let value = serde_json::to_value(server)
            .map_err(|e| AppError::Internal(format!("cannot serialize the server: {e}")))?;
        match self.signatures.check(&value).await {
            Ok(thv_core::signature::Verdict::Failed(e)) => {
                tracing::warn!(server = %server.name, version = %server.version,
                    "accepted without a valid signature (signature policy: warn): {e}");
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(e) => Err(AppError::Unprocessable(format!(
                "Failed to {action} server: signature: {e}"
            ))),
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// A write made outside this service (a sync) committed.
    pub fn note_change(&self) {
        self.changed();
    }

    /// A serialized write transaction (see [`Store::write`]); the generation moves when it commits.
    async fn write(
        &self,
        server_name: &str,
        body: crate::store::WriteFn,
    ) -> AppResult<Vec<VersionRow>> {
        let written = self.store.write(server_name, body).await?;
        self.changed();
        Ok(written)
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// `GET servers`: a page in (name, version) order; a cursor whenever the page is full.
    pub async fn list(&self, query: &ListQuery) -> AppResult<Page> {
        let rows = self.store.list(query).await?;
        let next_cursor = (rows.len() == query.limit as usize)
            .then(|| rows.last())
            .flatten()
            .map(|r| {
                Cursor {
                    server_name: r.server_name.clone(),
                    version: Some(r.version.clone()),
                }
                .to_string()
            });
        Ok(Page { rows, next_cursor })
    }

    /// `GET servers/{name}/versions`: newest publish first; 404 when the server has none (visible).
    pub async fn versions(
        &self,
        scope: &Scope,
        name: &str,
        include_deleted: bool,
    ) -> AppResult<Vec<VersionRow>> {
        let rows = self.store.versions(scope, name, include_deleted).await?;
        if rows.is_empty() {
            return Err(AppError::server_not_found());
        }
        Ok(rows)
    }

    /// `GET servers/{name}/versions/{version|latest}`.
    pub async fn get(
        &self,
        scope: &Scope,
        name: &str,
        version: &str,
        include_deleted: bool,
    ) -> AppResult<VersionRow> {
        let wanted = (version != "latest").then_some(version);
        match self.store.get(scope, name, wanted).await? {
            Some(row) if include_deleted || row.status != ServerStatus::Deleted => Ok(row),
            _ => Err(AppError::server_not_found()),
        }
    }

    /// `POST publish`: the official registry's sequence — permission, validation, `_meta` rules, then, in one
    /// serialized transaction, the remote-URL, version-cap and duplicate checks and the `isLatest` update.
    pub async fn publish(&self, caller: &Caller, doc: Value) -> AppResult<VersionRow> {
        let mut server = parse_server(&doc, "publish")?;
        if !caller.can(Action::Publish, &server.name) {
            return Err(AppError::Forbidden(format!(
                "You do not have permission to publish this server. You have permission to publish: {}. Attempting to publish: {}",
                describe(&caller.resources(Action::Publish)),
                server.name
            )));
        }
        require_valid(
            validate::validate_value(&doc, SchemaPolicy::Publish),
            "publish",
        )?;
        if let Some(e) = validate::publisher_meta_error(&server) {
            return Err(AppError::Unprocessable(format!(
                "Failed to publish server: {e}"
            )));
        }
        server.retain_publisher_meta();
        self.check_privileges(caller, &server, "publish")?;
        self.check_signature(&server, "publish").await?;

        let row = new_row(&server, now())?;
        let name = server.name.clone();
        let written = self
            .write(
                &name,
                api_write(move |tx: &mut dyn WriteTx| {
                    let (row, server) = (row.clone(), server.clone());
                    async move {
                        let mut existing = tx.versions(&row.server_name).await?;
                        check_remote_urls(tx, &server).await?;
                        if existing.len() >= MAX_VERSIONS_PER_SERVER {
                            return Err(AppError::bad_request(format!(
                                "Failed to publish server: maximum number of versions for this server reached ({MAX_VERSIONS_PER_SERVER}): {}",
                                row.server_name
                            )));
                        }
                        if existing.iter().any(|r| r.version == row.version) {
                            return Err(AppError::bad_request(format!(
                                "Failed to publish server: invalid version: cannot publish duplicate version: {}@{} already exists",
                                row.server_name, row.version
                            )));
                        }
                        tx.insert(&row).await?;
                        existing.push(row);
                        apply_latest(tx, &mut existing).await?;
                        Ok(existing.pop().into_iter().collect())
                    }
                    .boxed()
                }),
            )
            .await?;
        single(written)
    }

    /// `PUT servers/{name}/versions/{version}`: replace a version's document (admins: `edit`).
    pub async fn edit(
        &self,
        caller: &Caller,
        name: &str,
        version: &str,
        doc: Value,
    ) -> AppResult<VersionRow> {
        if !caller.can(Action::Edit, name) {
            return Err(AppError::Forbidden(
                "You do not have edit permissions for this server".into(),
            ));
        }
        let mut server = parse_server(&doc, "edit")?;
        if server.name != name {
            return Err(AppError::bad_request("Cannot rename server"));
        }
        if server.version != version {
            return Err(AppError::bad_request(
                "Version in request body must match URL path parameter",
            ));
        }
        require_valid(
            validate::validate_value(&doc, SchemaPolicy::Publish),
            "edit",
        )?;
        if let Some(e) = validate::publisher_meta_error(&server) {
            return Err(AppError::Unprocessable(format!(
                "Failed to edit server: {e}"
            )));
        }
        server.retain_publisher_meta();
        self.check_privileges(caller, &server, "edit")?;
        self.check_signature(&server, "edit").await?;
        let value =
            serde_json::to_string(&server).map_err(|e| AppError::Internal(e.to_string()))?;
        let search_text = search_text(&server);
        self.write_one(name, version, move |tx, mut row| {
            let (server, value, search_text) = (server.clone(), value.clone(), search_text.clone());
            async move {
                if row.status == ServerStatus::Deleted {
                    return Err(AppError::version_not_found());
                }
                check_remote_urls(tx, &server).await?;
                row.value = value;
                row.search_text = search_text;
                row.updated_at = now();
                tx.update(&row).await?;
                Ok(row)
            }
            .boxed()
        })
        .await
    }

    /// `PATCH servers/{name}/versions/{version}/status`, and `DELETE` of a version (a tombstone: status `deleted`).
    pub async fn set_status(
        &self,
        caller: &Caller,
        name: &str,
        version: &str,
        req: StatusUpdateRequest,
    ) -> AppResult<VersionRow> {
        require_status_permission(caller, name)?;
        check_status_request(&req)?;
        let (owned_name, version) = (name.to_string(), version.to_string());
        let written = self
            .write(
                name,
                api_write(move |tx: &mut dyn WriteTx| {
                    let (owned_name, version, req) =
                        (owned_name.clone(), version.clone(), req.clone());
                    async move {
                        let mut all = tx.versions(&owned_name).await?;
                        let idx = all
                            .iter()
                            .position(|r| r.version == version)
                            .ok_or_else(AppError::version_not_found)?;
                        if !change_status(tx, &mut all[idx], &req, now()).await? {
                            return Err(AppError::bad_request(
                                "No changes to apply: status and message are already set to the provided values",
                            ));
                        }
                        apply_latest(tx, &mut all).await?;
                        Ok(vec![all.swap_remove(idx)])
                    }
                    .boxed()
                }),
            )
            .await?;
        single(written)
    }

    /// `PATCH servers/{name}/status`: every version at once; only rows that differ are touched.
    pub async fn set_all_status(
        &self,
        caller: &Caller,
        name: &str,
        req: StatusUpdateRequest,
    ) -> AppResult<Vec<VersionRow>> {
        require_status_permission(caller, name)?;
        check_status_request(&req)?;
        let owned = name.to_string();
        self
            .write(
                name,
                api_write(move |tx: &mut dyn WriteTx| {
                    let (owned, req) = (owned.clone(), req.clone());
                    async move {
                        let mut all = tx.versions(&owned).await?;
                        if all.is_empty() {
                            return Err(AppError::server_not_found());
                        }
                        if req.status != ServerStatus::Deleted {
                            // Every URL the restored versions declare, held at once in the one order every
                            // write holds URLs in (per version, two writers could wait on each other).
                            let restored = all
                                .iter()
                                .filter(|r| r.status == ServerStatus::Deleted)
                                .map(parse_stored)
                                .collect::<AppResult<Vec<_>>>()?;
                            let urls = restored.iter().flat_map(ServerJson::remote_urls);
                            check_urls(tx, &owned, urls).await?;
                        }
                        let now = now();
                        let mut touched = Vec::new();
                        for (i, row) in all.iter_mut().enumerate() {
                            if change_status(tx, row, &req, now).await? {
                                touched.push(i);
                            }
                        }
                        if touched.is_empty() {
                            return Err(AppError::bad_request(
                                "No changes to apply: all versions already have the requested status and message",
                            ));
                        }
                        apply_latest(tx, &mut all).await?;
                        Ok(touched.into_iter().map(|i| all[i].clone()).collect())
                    }
                    .boxed()
                }),
            )
            .await
    }

    /// `DELETE servers/{name}/versions/{version}`: marks the version deleted, so incremental syncs see it.
    pub async fn delete(
        &self,
        caller: &Caller,
        name: &str,
        version: &str,
    ) -> AppResult<VersionRow> {
        require_status_permission(caller, name)?;
        let current = self
            .store
            .get(&Scope::managed(), name, Some(version))
            .await?
            .ok_or_else(AppError::version_not_found)?;
        if current.status == ServerStatus::Deleted {
            return Err(AppError::version_not_found());
        }
        let req = StatusUpdateRequest {
            status: ServerStatus::Deleted,
            status_message: current.status_message,
        };
        self.set_status(caller, name, version, req).await
    }

    /// Runs `body` on one existing version inside the per-name write transaction; 404 when it does not exist.
    async fn write_one<F>(&self, name: &str, version: &str, body: F) -> AppResult<VersionRow>
    where
        F: for<'t> Fn(&'t mut dyn WriteTx, VersionRow) -> BoxFuture<'t, AppResult<VersionRow>>
            + Send
            + Sync
            + 'static,
    {
        let (owned, version) = (name.to_string(), version.to_string());
        let body = Arc::new(body);
        let written = self
            .write(
                name,
                api_write(move |tx: &mut dyn WriteTx| {
                    let (owned, version, body) = (owned.clone(), version.clone(), body.clone());
                    async move {
                        let row = tx
                            .versions(&owned)
                            .await?
                            .into_iter()
                            .find(|r| r.version == version)
                            .ok_or_else(AppError::version_not_found)?;
                        Ok(vec![body(tx, row).await?])
                    }
                    .boxed()
                }),
            )
            .await?;
        single(written)
    }
}

fn single(mut rows: Vec<VersionRow>) -> AppResult<VersionRow> {
    rows.pop()
        .ok_or_else(|| AppError::Internal("write returned no row".into()))
}

/// Timestamps are stored with microsecond precision; truncate so what is returned equals what is stored.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// The typed document. One that does not deserialize — a wrong type, a missing field, upstream's pre-schema
/// format — is refused with validation's first error, which names the field as `/validate` reports it
/// (`version: version must be of type string, got integer`).
fn parse_server(doc: &Value, what: &str) -> AppResult<ServerJson> {
    if !doc.is_object() {
        return Err(AppError::Unprocessable(
            "request body must be a JSON object (a server.json document)".into(),
        ));
    }
    ServerJson::deserialize(doc).map_err(|e| {
        require_valid(validate::validate_value(doc, SchemaPolicy::Publish), what)
            .err()
            .unwrap_or_else(|| {
                AppError::Unprocessable(format!(
                    "Failed to {what} server: invalid server.json: {e}"
                ))
            })
    })
}

fn parse_stored(row: &VersionRow) -> AppResult<ServerJson> {
    serde_json::from_str(&row.value).map_err(|e| {
        AppError::Internal(format!(
            "stored server.json of {}@{}: {e}",
            row.server_name, row.version
        ))
    })
}

fn require_valid(report: ValidationResult, what: &str) -> AppResult<()> {
    if report.valid {
        return Ok(());
    }
    let first = report
        .issues
        .iter()
        .find(|i| i.severity == validate::Severity::Error)
        .map(|i| {
            if i.path.is_empty() {
                i.message.clone()
            } else {
                format!("{}: {}", i.path, i.message)
            }
        })
        .unwrap_or_default();
    Err(AppError::Unprocessable(format!(
        "Failed to {what} server, invalid schema: call /validate for details (first error: {first})"
    )))
}

fn describe(resources: &[&str]) -> String {
    if resources.is_empty() {
        "nothing".into()
    } else {
        resources.join(", ")
    }
}

fn require_status_permission(caller: &Caller, name: &str) -> AppResult<()> {
    if caller.can(Action::Publish, name) || caller.can(Action::Edit, name) {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "You do not have publish or edit permissions for this server".into(),
        ))
    }
}

fn check_status_request(req: &StatusUpdateRequest) -> AppResult<()> {
    if req.status == ServerStatus::Active && req.status_message.is_some() {
        return Err(AppError::bad_request(
            "status_message cannot be provided when setting status to active",
        ));
    }
    if req
        .status_message
        .as_ref()
        .is_some_and(|m| m.chars().count() > MAX_STATUS_MESSAGE)
    {
        return Err(AppError::bad_request(format!(
            "statusMessage must be at most {MAX_STATUS_MESSAGE} characters"
        )));
    }
    Ok(())
}

/// Applies a status request to one stored version and writes it; `false` (and nothing written) when the version
/// already has that status and message. Restoring a deleted version re-checks its remote URLs, which another
/// server may have taken meanwhile.
async fn change_status(
    tx: &mut dyn WriteTx,
    row: &mut VersionRow,
    req: &StatusUpdateRequest,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    if row.status == req.status && row.status_message == req.status_message {
        return Ok(false);
    }
    if row.status == ServerStatus::Deleted && req.status != ServerStatus::Deleted {
        check_remote_urls(tx, &parse_stored(row)?).await?;
    }
    if row.status != req.status {
        row.status_changed_at = now;
    }
    row.status = req.status;
    row.status_message = req.status_message.clone();
    row.updated_at = now;
    tx.update(row).await?;
    Ok(true)
}

/// A remote URL may belong to one server name only.
async fn check_remote_urls(tx: &mut dyn WriteTx, server: &ServerJson) -> AppResult<()> {
    check_urls(tx, &server.name, server.remote_urls()).await
}

/// No server but `name` holds any of `urls`. Checked in sorted order, the order in which the store holds them
/// (see [`WriteTx::remote_url_owner`]): a write checks all of its URLs in one call, so that two writes never
/// wait on each other's.
async fn check_urls<'u>(
    tx: &mut dyn WriteTx,
    name: &str,
    urls: impl Iterator<Item = &'u str>,
) -> AppResult<()> {
    let mut urls: Vec<&str> = urls.collect();
    urls.sort_unstable();
    urls.dedup();
    for url in urls {
        if let Some(other) = tx.remote_url_owner(url, name).await? {
            return Err(AppError::bad_request(format!(
                "remote URL {url} is already used by server {other}"
            )));
        }
    }
    Ok(())
}

/// Recomputes `isLatest` over every version of one server and stores the flag if it moved.
async fn apply_latest(tx: &mut dyn WriteTx, all: &mut [VersionRow]) -> AppResult<()> {
    let winner = pick_latest(all);
    let current = all.iter().position(|r| r.is_latest);
    if winner == current {
        return Ok(());
    }
    for (i, row) in all.iter_mut().enumerate() {
        row.is_latest = Some(i) == winner;
    }
    let name = all[0].server_name.clone();
    tx.set_latest(&name, winner.map(|i| all[i].version.as_str()))
        .await?;
    Ok(())
}

pub(crate) fn search_text(server: &ServerJson) -> String {
    format!("{}\n{}", server.name, server.description).to_lowercase()
}

fn new_row(server: &ServerJson, now: DateTime<Utc>) -> AppResult<VersionRow> {
    Ok(VersionRow {
        server_name: server.name.clone(),
        version: server.version.clone(),
        value: serde_json::to_string(server).map_err(|e| AppError::Internal(e.to_string()))?,
        status: ServerStatus::Active,
        status_message: None,
        status_changed_at: now,
        published_at: now,
        updated_at: now,
        is_latest: false,
        search_text: search_text(server),
    })
}

/// A write body in the API's terms: its refusal ([`AppError`]) travels through the store unchanged
/// ([`StoreError::Rejected`]) and comes back as it was.
fn api_write<F>(body: F) -> WriteFn
where
    F: for<'t> Fn(&'t mut dyn WriteTx) -> BoxFuture<'t, AppResult<Vec<VersionRow>>>
        + Send
        + Sync
        + 'static,
{
    write_fn(move |tx| body(tx).map_err(StoreError::from).boxed())
}
