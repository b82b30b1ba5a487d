//! Where registry entries come from, for every command that reads them: a server.json file, a registry file
//! (upstream wrapper `{"$schema","version","meta","data":{"servers"}}`, legacy ToolHive format, a JSON array of
//! server.json, or a saved registry API list response `{"servers":[{"server","_meta"}],"metadata"}`), a directory
//! of such files (recursively, `*.json`, in name order), a registry file URL (path ending in `.json`), or a live
//! upstream-compatible registry API (paged through `GET /v0.1/servers`).
//!
//! Registry files are read by core ([`RegistryDocument`]), as every front end reads them. Entries are kept
//! **raw** (`serde_json::Value`) so that validation sees exactly what the file says, whatever schema version it
//! declares, and each carries its location (`registry.json: data.servers[3]`) for messages and the registry's
//! metadata when the input has it (an API, a list response, a file written with it). A file that is not JSON, or
//! is JSON of no known shape, is an error naming the file (and the line and column of a syntax error); a legacy
//! file is converted to server.json documents as a whole (its conversion errors name the entry).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::Value;
use thv_core::api::OfficialMeta;
use thv_core::registry_client::{ListOptions, RegistryClient};
use thv_core::registry_file::{FileEntry, RegistryDocument};

/// One server.json document read from an input.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Where it was read (`FILE: data.servers[3]`, `URL: servers[12]`).
    pub location: String,
    /// The document as it was read.
    pub value: Value,
    /// The registry's official metadata (status, publishedAt, isLatest): entries read from an API, a list
    /// response, or a file that keeps it in each document's `_meta`.
    pub official: Option<OfficialMeta>,
    /// Why the entry cannot be used as it is (a list item without a `server`, unreadable registry metadata),
    /// naming the path and the field.
    pub error: Option<String>,
}

impl Entry {
    /// `name@version` as the document says (empty strings when absent or not strings).
    pub fn identity(&self) -> (String, String) {
        let get = |k: &str| {
            self.value
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        (get("name"), get("version"))
    }
}

/// Everything read from one input argument.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The argument, as given.
    pub origin: String,
    /// The format(s) found (`upstream registry`, `legacy registry`, `server list`, `server.json`, `registry API`).
    pub formats: Vec<&'static str>,
    /// The `$schema` of each registry file read (informational).
    pub entries: Vec<Entry>,
}

/// Options of a live API read.
#[derive(Debug, Clone, Default)]
pub struct ApiOptions {
    /// `updated_since` (RFC 3339) for incremental reads.
    pub updated_since: Option<chrono::DateTime<chrono::Utc>>,
    /// Every version, not only the latest of each server.
    pub all_versions: bool,
    /// Deleted versions too.
    pub include_deleted: bool,
}

/// Whether an argument is a URL.
pub fn is_url(arg: &str) -> bool {
    arg.starts_with("http://") || arg.starts_with("https://")
}

/// Reads one input argument (see the module documentation).
pub async fn load(arg: &str, api: &ApiOptions) -> anyhow::Result<Loaded> {
    if is_url(arg) {
        let url = url::Url::parse(arg).with_context(|| format!("invalid URL {arg}"))?;
        if url.path().ends_with(".json") {
            let resp = reqwest::get(url.clone())
                .await
                .with_context(|| format!("cannot fetch {arg}"))?;
            if !resp.status().is_success() {
                bail!("cannot fetch {arg}: HTTP {}", resp.status());
            }
            let bytes = resp
                .bytes()
                .await
                .with_context(|| format!("cannot fetch {arg}"))?;
            let (format, entries) = parse_document(arg, &bytes)?;
            return Ok(Loaded {
                origin: arg.to_owned(),
                formats: vec![format],
                entries,
            });
        }
        return load_api(arg, api).await;
    }
    let path = PathBuf::from(arg);
    let meta = std::fs::metadata(&path).with_context(|| format!("cannot read {arg}"))?;
    let files = if meta.is_dir() {
        json_files(&path)?
    } else {
        vec![path]
    };
    if files.is_empty() {
        bail!("{arg}: no *.json file in the directory");
    }
    let mut loaded = Loaded {
        origin: arg.to_owned(),
        formats: Vec::new(),
        entries: Vec::new(),
    };
    for f in files {
        let bytes = std::fs::read(&f).with_context(|| format!("cannot read {}", f.display()))?;
        let (format, entries) = parse_document(&f.display().to_string(), &bytes)?;
        if !loaded.formats.contains(&format) {
            loaded.formats.push(format);
        }
        loaded.entries.extend(entries);
    }
    Ok(loaded)
}

/// Every `*.json` file below `dir`, in path order.
fn json_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("cannot read {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The entries of one JSON document named `name` (a file path or URL).
pub fn parse_document(name: &str, bytes: &[u8]) -> anyhow::Result<(&'static str, Vec<Entry>)> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        bail!("{name}: the file is empty");
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        let what = if e.is_eof() {
            "truncated JSON"
        } else {
            "not valid JSON"
        };
        anyhow::anyhow!(
            "{name}: {what} at line {}, column {}: {e}",
            e.line(),
            e.column()
        )
    })?;
    match value {
        Value::Object(obj)
            if !["data", "servers", "remote_servers"]
                .iter()
                .any(|k| obj.contains_key(*k)) =>
        {
            if obj.contains_key("name") {
                return Ok((
                    "server.json",
                    vec![Entry {
                        location: format!("{name}: (the document)"),
                        value: Value::Object(obj),
                        official: None,
                        error: None,
                    }],
                ));
            }
            let keys: Vec<&str> = obj.keys().take(6).map(String::as_str).collect();
            bail!(
                "{name}: not a server.json or registry file (an object with keys {}; expected `name`, `data.servers`, \
                 `servers` or an array)",
                keys.join(", ")
            )
        }
        Value::Object(_) | Value::Array(_) => {
            let doc = RegistryDocument::read(bytes).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            let entries = doc
                .entries
                .into_iter()
                .map(|e| Entry::from_file(name, e))
                .collect();
            Ok((doc.kind.name(), entries))
        }
        other => bail!(
            "{name}: not a server.json or registry file ({} at the top level)",
            thv_core::legacy::json_kind(&other)
        ),
    }
}

impl Entry {
    /// An entry of a registry file named `file`.
    pub fn from_file(file: &str, e: FileEntry) -> Self {
        Self {
            location: format!("{file}: {}", e.path),
            value: e.value,
            official: e.official,
            error: e.error,
        }
    }
}

/// Pages through a live registry API.
async fn load_api(base: &str, api: &ApiOptions) -> anyhow::Result<Loaded> {
    let client =
        RegistryClient::new(base).with_context(|| format!("invalid registry URL {base}"))?;
    // With `updated_since` the registry includes deleted versions anyway, and refuses an explicit
    // `include_deleted=false`.
    let mut opts = ListOptions::new()
        .limit(100)
        .include_deleted(api.include_deleted || api.updated_since.is_some());
    if !api.all_versions {
        opts = opts.latest_only();
    }
    if let Some(t) = api.updated_since {
        opts = opts.updated_since(t);
    }
    let mut pager = client.pages_as::<Value>(&opts);
    let mut entries = Vec::new();
    while let Some(page) = pager.next_page().await {
        let page = page.with_context(|| format!("registry API {base}"))?;
        for r in page.servers {
            let location = format!("{base}: servers[{}]", entries.len());
            entries.push(Entry {
                location,
                value: r.server,
                official: r.meta.official,
                error: None,
            });
        }
    }
    Ok(Loaded {
        origin: base.to_owned(),
        formats: vec!["registry API"],
        entries,
    })
}

/// Reads several arguments in order.
pub async fn load_all(args: &[String], api: &ApiOptions) -> anyhow::Result<Vec<Loaded>> {
    let mut out = Vec::new();
    for a in args {
        out.push(load(a, api).await?);
    }
    Ok(out)
}

/// Like [`load`], but lenient about directories: a file of the directory that cannot be read or parsed is
/// returned as an error (naming the file) beside the entries of the other files, instead of failing the whole
/// directory. Any other input is read as [`load`] does: its failure is the single error, with no entries.
pub async fn load_lenient(arg: &str, api: &ApiOptions) -> (Option<Loaded>, Vec<anyhow::Error>) {
    let path = Path::new(arg);
    if is_url(arg) || !path.is_dir() {
        return match load(arg, api).await {
            Ok(loaded) => (Some(loaded), Vec::new()),
            Err(e) => (None, vec![e]),
        };
    }
    let files = match json_files(path) {
        Ok(files) if files.is_empty() => {
            return (
                None,
                vec![anyhow::anyhow!("{arg}: no *.json file in the directory")],
            );
        }
        Ok(files) => files,
        Err(e) => return (None, vec![e]),
    };
    let mut loaded = Loaded {
        origin: arg.to_owned(),
        formats: Vec::new(),
        entries: Vec::new(),
    };
    let mut errors = Vec::new();
    for f in files {
        let name = f.display().to_string();
        let parsed = std::fs::read(&f)
            .with_context(|| format!("cannot read {name}"))
            .and_then(|bytes| parse_document(&name, &bytes));
        match parsed {
            Ok((format, entries)) => {
                if !loaded.formats.contains(&format) {
                    loaded.formats.push(format);
                }
                loaded.entries.extend(entries);
            }
            Err(e) => errors.push(e),
        }
    }
    (Some(loaded), errors)
}

/// The `--name` (include) and `--exclude` globs of a command; a bad glob is an error naming the flag.
pub fn name_filter(
    names: &[String],
    exclude: &[String],
) -> anyhow::Result<thv_core::filter::NameFilter> {
    thv_core::filter::NameFilter::new(("--name", names), ("--exclude", exclude)).map_err(|errors| {
        anyhow::anyhow!(
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
    })
}
