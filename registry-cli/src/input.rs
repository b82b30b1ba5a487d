//! Where registry entries come from, for every command that reads them: a server.json file, a registry file
//! (upstream wrapper `{"$schema","version","meta","data":{"servers"}}`, legacy ToolHive format, or a JSON array of
//! server.json), a directory of such files (recursively, `*.json`, in name order), a registry file URL (path ending
//! in `.json`), or a live upstream-compatible registry API (paged through `GET /v0.1/servers`).
//!
//! Entries are kept **raw** (`serde_json::Value`) so that validation sees exactly what the file says, and each
//! carries its location (`registry.json: data.servers[3]`) for messages. A file that is not JSON, or is JSON of
//! no known shape, is an error naming the file (and the line and column of a syntax error); a legacy file is
//! converted to server.json documents as a whole (its conversion errors name the entry).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::Value;
use thv_core::api::OfficialMeta;
use thv_core::client::{ListOptions, RegistryClient};
use thv_core::registry_file::RegistryFile;

/// One server.json document read from an input.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Where it was read (`FILE: data.servers[3]`, `URL: servers[12]`).
    pub location: String,
    /// The document as it was read.
    pub value: Value,
    /// The registry's official metadata (status, publishedAt, isLatest), for entries read from an API.
    pub official: Option<OfficialMeta>,
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
    let entry = |path: String, value: Value| Entry {
        location: format!("{name}: {path}"),
        value,
        official: None,
    };
    match value {
        Value::Array(items) => Ok((
            "server list",
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| entry(format!("[{i}]"), v))
                .collect(),
        )),
        Value::Object(mut obj) if obj.contains_key("data") => {
            let servers = match obj.get_mut("data").and_then(|d| d.get_mut("servers")) {
                Some(Value::Array(s)) => std::mem::take(s),
                Some(other) => bail!(
                    "{name}: `data.servers` is {}, expected an array of server.json documents",
                    thv_core::legacy::json_kind(other)
                ),
                None => bail!("{name}: an upstream registry file needs `data.servers` (an array)"),
            };
            Ok((
                "upstream registry",
                servers
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| entry(format!("data.servers[{i}]"), v))
                    .collect(),
            ))
        }
        Value::Object(obj) if obj.contains_key("servers") || obj.contains_key("remote_servers") => {
            let servers = RegistryFile::from_value(Value::Object(obj))
                .and_then(RegistryFile::into_servers)
                .with_context(|| format!("{name}: invalid legacy ToolHive registry"))?;
            let mut out = Vec::new();
            for s in servers {
                let label = format!("{} (converted from the legacy format)", s.name);
                out.push(entry(label, serde_json::to_value(&s)?));
            }
            Ok(("legacy registry", out))
        }
        Value::Object(obj) if obj.contains_key("name") => Ok((
            "server.json",
            vec![entry("(the document)".into(), Value::Object(obj))],
        )),
        Value::Object(obj) => {
            let keys: Vec<&str> = obj.keys().take(6).map(String::as_str).collect();
            bail!(
                "{name}: not a server.json or registry file (an object with keys {}; expected `name`, `data.servers`, \
                 `servers` or an array)",
                keys.join(", ")
            )
        }
        other => bail!(
            "{name}: not a server.json or registry file ({} at the top level)",
            thv_core::legacy::json_kind(&other)
        ),
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
