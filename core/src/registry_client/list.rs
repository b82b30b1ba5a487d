//! [`ListOptions`] (the parameters of `GET servers`) and the [`Pager`] that walks its pages.

use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use super::url::Seg;
use super::{RegistryClient, RegistryClientError};
use crate::api::{ServerList, format_timestamp};
use crate::server::ServerJson;

/// The parameters of `GET servers`. Unset fields are not sent (the registry's defaults apply).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListOptions {
    /// The exact `metadata.nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size; the API accepts 1 to 100 (default 30; [`RegistryClient::list_all`] asks for 100).
    pub limit: Option<u32>,
    /// Case-insensitive substring of the name (and, on recent registries, the description).
    pub search: Option<String>,
    /// Only versions updated strictly after this instant; deleted versions are then included.
    pub updated_since: Option<DateTime<Utc>>,
    /// `latest` for each server's latest version, or an exact version.
    pub version: Option<String>,
    /// Include versions whose status is `deleted`.
    pub include_deleted: Option<bool>,
}

impl ListOptions {
    /// No parameter: the registry's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Start after this cursor (a previous page's `metadata.nextCursor`).
    pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }

    /// The page size.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// A case-insensitive substring to search for.
    pub fn search(mut self, search: impl Into<String>) -> Self {
        self.search = Some(search.into());
        self
    }

    /// Only versions updated strictly after `since` (incremental sync).
    pub fn updated_since(mut self, since: DateTime<Utc>) -> Self {
        self.updated_since = Some(since);
        self
    }

    /// `latest`, or one exact version.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Only each server's latest version (`version=latest`).
    pub fn latest_only(self) -> Self {
        self.version("latest")
    }

    /// Include (or explicitly exclude) deleted versions.
    pub fn include_deleted(mut self, include: bool) -> Self {
        self.include_deleted = Some(include);
        self
    }

    /// The query pairs, in a stable order.
    pub(super) fn query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(c) = &self.cursor {
            pairs.push(("cursor", c.clone()));
        }
        if let Some(l) = self.limit {
            pairs.push(("limit", l.to_string()));
        }
        if let Some(s) = &self.search {
            pairs.push(("search", s.clone()));
        }
        if let Some(t) = &self.updated_since {
            pairs.push(("updated_since", format_timestamp(t)));
        }
        if let Some(v) = &self.version {
            pairs.push(("version", v.clone()));
        }
        if let Some(d) = self.include_deleted {
            pairs.push(("include_deleted", d.to_string()));
        }
        pairs
    }
}

/// A page-by-page walk of `GET servers`, from [`RegistryClient::pages`].
///
/// `next_page` yields each page until the registry returns no `nextCursor`, then `None`. An error ends the walk:
/// a failed request, the page cap reached with more to come ([`RegistryClientError::TooManyPages`]), more server versions
/// than the server cap ([`RegistryClientError::TooManyServers`]), or a registry that answers the cursor it was given.
#[derive(Debug)]
pub struct Pager<S = ServerJson> {
    pub(super) client: RegistryClient,
    pub(super) opts: ListOptions,
    pub(super) pages: usize,
    pub(super) servers: usize,
    pub(super) done: bool,
    pub(super) _server: PhantomData<fn() -> S>,
}

impl<S: DeserializeOwned> Pager<S> {
    /// The next page, or `None` once the last page was returned or an error was.
    pub async fn next_page(&mut self) -> Option<Result<ServerList<S>, RegistryClientError>> {
        if self.done {
            return None;
        }
        if self.pages >= self.client.max_pages {
            self.done = true;
            return Some(Err(RegistryClientError::TooManyPages {
                max_pages: self.client.max_pages,
            }));
        }
        let page = match self.client.list_page_as::<S>(&self.opts).await {
            Ok(page) => page,
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        self.pages += 1;
        self.servers += page.servers.len();
        if self.servers > self.client.max_servers {
            self.done = true;
            return Some(Err(RegistryClientError::TooManyServers {
                max_servers: self.client.max_servers,
            }));
        }
        let next = page.metadata.next_cursor.clone().filter(|c| !c.is_empty());
        if next.is_some() && next == self.opts.cursor {
            self.done = true;
            let mut url = self.client.api_url(&[Seg::Lit("servers")]).ok()?;
            url.query_pairs_mut().extend_pairs(self.opts.query_pairs());
            return Some(Err(RegistryClientError::Decode {
                url: url.to_string(),
                message: "the registry answered the same nextCursor it was given; pagination would not end"
                    .into(),
            }));
        }
        self.done = next.is_none();
        self.opts.cursor = next;
        Some(Ok(page))
    }

    /// The pages fetched so far.
    pub fn pages_fetched(&self) -> usize {
        self.pages
    }

    /// The cursor of the next page (`None` before the first page when none was given, and after the last one).
    pub fn cursor(&self) -> Option<&str> {
        self.opts.cursor.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_options_become_a_form_encoded_query() {
        let c = RegistryClient::new("http://host").unwrap();
        let t = DateTime::parse_from_rfc3339("2025-08-07T13:15:04.280Z")
            .unwrap()
            .with_timezone(&Utc);
        let opts = ListOptions::new()
            .cursor("com.example/a:1.0.0+x")
            .limit(5)
            .search("git hub")
            .updated_since(t)
            .latest_only()
            .include_deleted(true);
        let mut url = c.api_url(&[Seg::Lit("servers")]).unwrap();
        url.query_pairs_mut().extend_pairs(opts.query_pairs());
        assert_eq!(
            url.query(),
            Some(
                "cursor=com.example%2Fa%3A1.0.0%2Bx&limit=5&search=git+hub&updated_since=2025-08-07T13%3A15%3A04.280Z&version=latest&include_deleted=true"
            )
        );
    }
}
