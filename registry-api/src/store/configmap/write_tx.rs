//! A managed name's write ([`super::super::Store::write`]) on ConfigMaps: one attempt works on the rows its
//! object held when read, and stores them under that object's resourceVersion; an attempt that loses to a
//! concurrent write of the same name runs again (the store's `write` loop).
//!
//! Remote URLs: a name that declares a URL holds its claim object `{prefix}-u-{hash}` (owner, and while its
//! write runs, a hold time). A claim is taken when free — absent, or its owner's stored versions no longer
//! declare the URL and its hold has passed — under a precondition, so two names can never both take one.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ObjectMeta, PostParams};
use thv_core::api::ServerStatus;

use super::super::{MANAGED_SOURCE, StoreError, VersionRow, WriteTx, newest_first, remote_urls};
use super::objects::{ANNOTATION_URL, KIND_CLAIM, RowsObject, claim_object, labels};
use super::{ApiError, Inner, kube_error};

const CLAIM_OWNER: &str = "owner";
const CLAIM_HELD_UNTIL: &str = "heldUntil";

/// One attempt of a managed name's write.
pub struct MemWriteTx<'a> {
    pub inner: &'a Inner,
    pub server_name: String,
    /// The name's rows, by version.
    pub rows: BTreeMap<String, VersionRow>,
    /// The rows as stored when this attempt read them.
    stored: Vec<VersionRow>,
    pub changed: bool,
    /// Claims this attempt took or held (released after it: see [`MemWriteTx::release_claims`]).
    pub claims: Vec<ConfigMap>,
}

impl<'a> MemWriteTx<'a> {
    pub fn new(inner: &'a Inner, server_name: &str, rows: Vec<VersionRow>) -> Self {
        Self {
            inner,
            server_name: server_name.to_owned(),
            rows: rows
                .iter()
                .map(|r| (r.version.clone(), r.clone()))
                .collect(),
            stored: rows,
            changed: false,
            claims: Vec::new(),
        }
    }

    /// The object to store.
    pub fn object(&self) -> RowsObject {
        RowsObject {
            source: MANAGED_SOURCE.to_owned(),
            server_name: self.server_name.clone(),
            generation: 0,
            seed: None,
            rows: self.rows.values().cloned().collect(),
        }
    }

    /// Ends the holds this attempt put on its claims (what owns a URL from now on is what its owner stores).
    /// Best effort: a hold that is not ended passes with its time.
    pub async fn release_claims(&mut self) {
        for mut claim in std::mem::take(&mut self.claims) {
            let Some(name) = claim.metadata.name.clone() else {
                continue;
            };
            if let Some(data) = claim.data.as_mut() {
                data.remove(CLAIM_HELD_UNTIL);
            }
            if let Err(e) = self
                .inner
                .api
                .replace(&name, &PostParams::default(), &claim)
                .await
                && ApiError::of(&e) != ApiError::Conflict
            {
                tracing::debug!(claim = %name, error = %e, "could not end a claim's hold");
            }
        }
    }

    fn claim(
        &self,
        url: &str,
        owner: &str,
        existing: Option<ConfigMap>,
        until: DateTime<Utc>,
    ) -> ConfigMap {
        let mut map = existing.unwrap_or_else(|| ConfigMap {
            metadata: ObjectMeta {
                name: Some(claim_object(&self.inner.prefix, url)),
                labels: Some(labels(&self.inner.prefix, KIND_CLAIM)),
                annotations: Some(BTreeMap::from([(
                    ANNOTATION_URL.to_owned(),
                    url.to_owned(),
                )])),
                ..Default::default()
            },
            ..Default::default()
        });
        map.data = Some(BTreeMap::from([
            (CLAIM_OWNER.to_owned(), owner.to_owned()),
            (CLAIM_HELD_UNTIL.to_owned(), until.to_rfc3339()),
        ]));
        map
    }

    /// Whether `owner`'s managed versions declare `url` in a version that is not deleted: this write's own rows
    /// for its name, else as stored (read from the API server, not the watch, which may lag behind another
    /// replica's write).
    async fn declares(&self, owner: &str, url: &str) -> Result<bool, StoreError> {
        if owner == self.server_name {
            return Ok(self.rows.values().any(|r| declared(r, url)));
        }
        self.stored_declares(owner, url).await
    }

    /// Whether `owner`'s stored managed versions (not this write's) declare `url`.
    async fn stored_declares(&self, owner: &str, url: &str) -> Result<bool, StoreError> {
        if owner == self.server_name {
            return Ok(self.stored.iter().any(|r| declared(r, url)));
        }
        let rows = self.inner.fetch_managed(owner).await?.1;
        Ok(rows.iter().any(|r| declared(r, url)))
    }
}

/// Whether a version that is not deleted declares `url`.
fn declared(row: &VersionRow, url: &str) -> bool {
    row.status != ServerStatus::Deleted
        && remote_urls(&row.value).is_ok_and(|urls| urls.iter().any(|u| u == url))
}

fn owner_of(claim: &ConfigMap) -> Option<&str> {
    claim.data.as_ref()?.get(CLAIM_OWNER).map(String::as_str)
}

fn held_until(claim: &ConfigMap) -> Option<DateTime<Utc>> {
    let text = claim.data.as_ref()?.get(CLAIM_HELD_UNTIL)?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[async_trait]
impl WriteTx for MemWriteTx<'_> {
    async fn versions(&mut self, server_name: &str) -> Result<Vec<VersionRow>, StoreError> {
        let mut rows: Vec<VersionRow> = if server_name == self.server_name {
            self.rows.values().cloned().collect()
        } else {
            self.inner.fetch_managed(server_name).await?.1
        };
        newest_first(&mut rows);
        Ok(rows)
    }

    async fn remote_url_owner(
        &mut self,
        url: &str,
        server_name: &str,
    ) -> Result<Option<String>, StoreError> {
        let name = claim_object(&self.inner.prefix, url);
        let hold = ChronoDuration::from_std(self.inner.write_timeout)
            .unwrap_or(ChronoDuration::seconds(30));
        for _ in 0..100 {
            let now = Utc::now();
            let existing = self.inner.api.get_opt(&name).await.map_err(kube_error)?;
            let stored = match &existing {
                None => {
                    // A URL stored without a claim (a seed): its declaring name owns it.
                    let declared = {
                        let state = self.inner.state.read().expect("state lock");
                        state.index.remote_url_owner(url, server_name)
                    };
                    if let Some(owner) = declared
                        && self.declares(&owner, url).await?
                    {
                        return Ok(Some(owner));
                    }
                    let claim = self.claim(url, server_name, None, now + hold);
                    self.inner.api.create(&PostParams::default(), &claim).await
                }
                Some(claim) => {
                    let owner = owner_of(claim).unwrap_or_default();
                    let held = held_until(claim).is_some_and(|t| t > now);
                    if owner == server_name {
                        // Already the name's: held by a write of it, or declared by what it stores.
                        if held || self.stored_declares(server_name, url).await? {
                            return Ok(None);
                        }
                    } else {
                        // A hold keeps other names off while its write runs; this write's own name is
                        // judged by this write's rows.
                        let held_by_other = owner != self.server_name && held;
                        if held_by_other || (!owner.is_empty() && self.declares(owner, url).await?)
                        {
                            return Ok(Some(owner.to_owned()));
                        }
                    }
                    let claim = self.claim(url, server_name, existing.clone(), now + hold);
                    self.inner
                        .api
                        .replace(&name, &PostParams::default(), &claim)
                        .await
                }
            };
            match stored {
                Ok(claim) => {
                    self.claims.push(claim);
                    return Ok(None);
                }
                Err(e) if ApiError::of(&e) == ApiError::Conflict => continue,
                Err(e) => return Err(kube_error(e)),
            }
        }
        Err(StoreError::Conflict(format!(
            "the claim on remote URL {url} kept changing under this write"
        )))
    }

    async fn insert(&mut self, row: &VersionRow) -> Result<(), StoreError> {
        if self.rows.contains_key(&row.version) {
            return Err(StoreError::Conflict(format!(
                "{}@{} is already stored",
                row.server_name, row.version
            )));
        }
        self.rows.insert(row.version.clone(), row.clone());
        self.changed = true;
        Ok(())
    }

    async fn update(&mut self, row: &VersionRow) -> Result<(), StoreError> {
        if let Some(stored) = self.rows.get_mut(&row.version) {
            let is_latest = stored.is_latest;
            *stored = VersionRow {
                is_latest,
                published_at: stored.published_at,
                ..row.clone()
            };
            self.changed = true;
        }
        Ok(())
    }

    async fn set_latest(
        &mut self,
        server_name: &str,
        version: Option<&str>,
    ) -> Result<(), StoreError> {
        if server_name != self.server_name {
            return Err(StoreError::Database(format!(
                "a write of {} cannot move the latest flag of {server_name}",
                self.server_name
            )));
        }
        for row in self.rows.values_mut() {
            let latest = Some(row.version.as_str()) == version;
            if row.is_latest != latest {
                row.is_latest = latest;
                self.changed = true;
            }
        }
        Ok(())
    }
}
