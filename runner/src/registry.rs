//! The registry `thv run NAME` resolves names against: the configured one (`thv config set-registry`) or the
//! curated registry bundled into the binary.
//!
//! - an API ([`RegistrySource::Api`]): an upstream-compatible registry API (`/v0.1/servers`, paginated), through
//!   [`thv_core::registry_client::RegistryClient`]: a full name is fetched directly (`versions/latest`); a short name
//!   is searched (`search=`, latest versions) and matched;
//! - a file ([`RegistrySource::FileUrl`], [`RegistrySource::File`]): a registry file (upstream, legacy or a server
//!   list) fetched or read once per command;
//! - the bundled registry ([`RegistrySource::Bundled`]): `data/registry.json`.
//!
//! Names match as [`match_short_name`] says: exact first, then the part after `/`; several matches is an
//! error listing them, no match suggests close names.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use thv_core::registry_client::{ListOptions, RegistryClient};
use thv_core::registry_file::{BUNDLED_REGISTRY_JSON, RegistryFile};
use thv_core::runconfig::match_short_name;
use thv_core::server::ServerJson;

/// The largest registry file read from a path.
const REGISTRY_FILE_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// Where registry entries come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrySource {
    Bundled,
    File(PathBuf),
    FileUrl(String),
    Api(String),
}

/// A registry entry found for a query.
#[derive(Debug, Clone)]
pub struct Found {
    pub server: ServerJson,
    /// Recorded in the RunConfig's `registry_url` (file registries).
    pub registry_url: Option<String>,
    /// Recorded in the RunConfig's `registry_api_url` (API registries).
    pub registry_api_url: Option<String>,
}

impl RegistrySource {
    /// From the configured value (absent: bundled). A `http(s)` URL whose path ends in `.json` is a registry
    /// file; another URL is a registry API; anything else is a file path.
    pub fn from_setting(url: Option<&str>) -> Self {
        match url {
            None => Self::Bundled,
            Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
                let path = url::Url::parse(u)
                    .map(|p| p.path().to_owned())
                    .unwrap_or_default();
                if path.ends_with(".json") {
                    Self::FileUrl(u.to_owned())
                } else {
                    Self::Api(u.trim_end_matches('/').to_owned())
                }
            }
            Some(p) => Self::File(PathBuf::from(p)),
        }
    }

    /// How it is shown to the user.
    pub fn describe(&self) -> String {
        match self {
            Self::Bundled => "the bundled registry".into(),
            Self::File(p) => format!("the registry file {}", p.display()),
            Self::FileUrl(u) => format!("the registry file {u}"),
            Self::Api(u) => format!("the registry API {u}"),
        }
    }

    /// Every server (latest version of each name) of a file-based registry.
    async fn file_servers(&self) -> anyhow::Result<Vec<ServerJson>> {
        let bytes: Vec<u8> = match self {
            Self::Bundled => BUNDLED_REGISTRY_JSON.as_bytes().to_vec(),
            Self::File(p) => thv_core::files::read_regular(p, REGISTRY_FILE_MAX_BYTES)
                .with_context(|| format!("cannot read the registry file {}", p.display()))?,
            Self::FileUrl(u) => {
                let resp = reqwest::get(u)
                    .await
                    .with_context(|| format!("cannot fetch the registry file {u}"))?;
                if !resp.status().is_success() {
                    bail!("cannot fetch the registry file {u}: HTTP {}", resp.status());
                }
                resp.bytes()
                    .await
                    .with_context(|| format!("cannot fetch the registry file {u}"))?
                    .to_vec()
            }
            Self::Api(_) => unreachable!("not a file registry"),
        };
        let servers = RegistryFile::parse(&bytes)
            .and_then(RegistryFile::into_servers)
            .with_context(|| format!("invalid registry ({})", self.describe()))?;
        Ok(latest_per_name(servers))
    }

    fn client(&self) -> anyhow::Result<RegistryClient> {
        let Self::Api(base) = self else {
            unreachable!("not an API registry")
        };
        RegistryClient::new(base).with_context(|| format!("invalid registry API URL {base}"))
    }

    /// Finds the server `query` names (see the module documentation).
    pub async fn find(&self, query: &str) -> anyhow::Result<Found> {
        match self {
            Self::Api(base) => {
                let client = self.client()?;
                if query.contains('/') {
                    match client.get_latest(query).await {
                        Ok(r) => return Ok(self.found(r.server)),
                        Err(e) if e.is_not_found() => {}
                        Err(e) => return Err(e).with_context(|| format!("registry API {base}")),
                    }
                }
                let short = query.rsplit('/').next().unwrap_or(query);
                let opts = ListOptions::new().search(short).latest_only().limit(100);
                let servers: Vec<ServerJson> = client
                    .list_all(&opts)
                    .await
                    .with_context(|| format!("registry API {base}"))?
                    .into_iter()
                    .map(|r| r.server)
                    .collect();
                self.pick(query, servers)
            }
            _ => {
                let servers = self.file_servers().await?;
                self.pick(query, servers)
            }
        }
    }

    /// Every server (latest versions), for `thv registry list` and `thv search`.
    pub async fn list(&self, search: Option<&str>) -> anyhow::Result<Vec<ServerJson>> {
        let mut servers = match self {
            Self::Api(base) => {
                let mut opts = ListOptions::new().latest_only().limit(100);
                if let Some(s) = search {
                    opts = opts.search(s);
                }
                self.client()?
                    .list_all(&opts)
                    .await
                    .with_context(|| format!("registry API {base}"))?
                    .into_iter()
                    .map(|r| r.server)
                    .collect()
            }
            _ => self.file_servers().await?,
        };
        if let Some(s) = search {
            servers.retain(|srv| search_matches(srv, s));
        }
        servers.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(servers)
    }

    fn pick(&self, query: &str, servers: Vec<ServerJson>) -> anyhow::Result<Found> {
        let name = match_short_name(query, servers.iter().map(|s| s.name.as_str()))
            .map_err(|e| anyhow::anyhow!("{e} ({})", self.describe()))?
            .to_owned();
        let server = servers
            .into_iter()
            .find(|s| s.name == name)
            .expect("the matched name is one of the servers");
        Ok(self.found(server))
    }

    fn found(&self, server: ServerJson) -> Found {
        let (registry_url, registry_api_url) = match self {
            Self::Bundled => (None, None),
            Self::File(p) => {
                let abs = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
                let url = url::Url::from_file_path(&abs).map(String::from).ok();
                (url, None)
            }
            Self::FileUrl(u) => (Some(u.clone()), None),
            Self::Api(u) => (None, Some(u.clone())),
        };
        Found {
            server,
            registry_url,
            registry_api_url,
        }
    }
}

/// One server per name: the latest version (semantic versions compared; else the last one in the file).
fn latest_per_name(servers: Vec<ServerJson>) -> Vec<ServerJson> {
    let epoch = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    let mut by_name: BTreeMap<String, ServerJson> = BTreeMap::new();
    for s in servers {
        match by_name.get(&s.name) {
            Some(cur)
                if thv_core::version::compare_versions(&cur.version, &s.version, epoch, epoch)
                    == std::cmp::Ordering::Greater => {}
            _ => {
                by_name.insert(s.name.clone(), s);
            }
        }
    }
    by_name.into_values().collect()
}

/// Whether `query` finds a server: in its short name (after the namespace's `/`), its description or its
/// ToolHive tags — not in the namespace every entry of a publisher shares (`io.github.stacklok/`), unless the
/// query names one (it contains a `/`). Case-insensitive.
fn search_matches(server: &ServerJson, query: &str) -> bool {
    let q = query.to_lowercase();
    let name = server.name.to_lowercase();
    if q.contains('/') {
        return name.contains(&q);
    }
    let short = name.rsplit('/').next().unwrap_or(&name);
    short.contains(&q)
        || server.description.to_lowercase().contains(&q)
        || thv_core::toolhive::extensions(server)
            .and_then(|(_, e)| e.tags)
            .is_some_and(|tags| tags.iter().any(|t| t.to_lowercase().contains(&q)))
}
