//! Reading an upstream registry API page by page (`GET {endpoint}/v0.1/servers`, following `nextCursor`), through
//! the source's guarded HTTP client ([`Egress`]): same-origin redirects only, public addresses only unless allowed.

use chrono::{DateTime, Utc};
use reqwest::{Client, Url};
use serde_json::Value;
use thv_core::api::{ServerList, ServerResponse, format_timestamp};

use super::error::SyncError;
use super::http::Egress;

/// The largest page accepted.
const MAX_PAGE_BYTES: usize = 64 * 1024 * 1024;

/// An upstream registry API.
pub struct Upstream {
    egress: Egress,
    http: Client,
    /// `{endpoint}/v0.1/servers`.
    servers: Url,
}

/// What to list, and the caps.
pub struct Listing {
    pub limit: u32,
    pub updated_since: Option<DateTime<Utc>>,
    pub max_pages: usize,
    pub max_versions: usize,
}

impl Upstream {
    pub fn new(endpoint: &str, egress: Egress, http: Client) -> Result<Self, SyncError> {
        let mut servers = Url::parse(endpoint)
            .map_err(|e| SyncError::Config(format!("api.endpoint {endpoint}: {e}")))?;
        servers
            .path_segments_mut()
            .map_err(|()| SyncError::Config(format!("api.endpoint {endpoint}: not a base URL")))?
            .pop_if_empty()
            .extend(["v0.1", "servers"]);
        Ok(Self {
            egress,
            http,
            servers,
        })
    }

    /// The pages of a listing, every version included (deleted ones too).
    pub fn pages(&self, listing: Listing) -> Pages<'_> {
        Pages {
            upstream: self,
            listing,
            cursor: None,
            pages: 0,
            versions: 0,
            done: false,
        }
    }
}

/// A walk of `GET servers`; an error ends it.
pub struct Pages<'a> {
    upstream: &'a Upstream,
    listing: Listing,
    cursor: Option<String>,
    pages: usize,
    versions: usize,
    done: bool,
}

impl Pages<'_> {
    /// The next page's entries, or `None` after the last page (or an error).
    pub async fn next_page(&mut self) -> Option<Result<Vec<ServerResponse<Value>>, SyncError>> {
        if self.done {
            return None;
        }
        let result = self.fetch().await;
        self.done = self.done || result.is_err();
        Some(result)
    }

    async fn fetch(&mut self) -> Result<Vec<ServerResponse<Value>>, SyncError> {
        let url = self.url();
        if self.pages >= self.listing.max_pages {
            return Err(SyncError::TooLarge {
                origin: url.to_string(),
                message: format!(
                    "more than {} pages; the listing would not end",
                    self.listing.max_pages
                ),
            });
        }
        let up = self.upstream;
        let bytes = up
            .egress
            .get(&up.http, &url, "application/json", MAX_PAGE_BYTES)
            .await?;
        let page: ServerList<Value> =
            serde_json::from_slice(&bytes).map_err(|e| SyncError::Invalid {
                origin: url.to_string(),
                message: format!("not a server list: {e}"),
            })?;
        self.pages += 1;
        self.versions += page.servers.len();
        if self.versions > self.listing.max_versions {
            return Err(SyncError::TooLarge {
                origin: url.to_string(),
                message: format!("more than {} versions", self.listing.max_versions),
            });
        }
        let next = page.metadata.next_cursor.filter(|c| !c.is_empty());
        if next.is_some() && next == self.cursor {
            return Err(SyncError::Invalid {
                origin: url.to_string(),
                message: "the registry answered the same nextCursor it was given; pagination would not end".into(),
            });
        }
        self.done = next.is_none();
        self.cursor = next;
        Ok(page.servers)
    }

    fn url(&self) -> Url {
        let mut url = self.upstream.servers.clone();
        {
            let mut q = url.query_pairs_mut();
            if let Some(c) = &self.cursor {
                q.append_pair("cursor", c);
            }
            q.append_pair("limit", &self.listing.limit.to_string());
            if let Some(t) = &self.listing.updated_since {
                q.append_pair("updated_since", &format_timestamp(t));
            }
            q.append_pair("include_deleted", "true");
        }
        url
    }

    /// The pages fetched so far.
    pub fn pages_fetched(&self) -> usize {
        self.pages
    }
}
