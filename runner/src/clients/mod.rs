//! MCP client configuration: what `thv client setup`, `thv client register NAME` and `thv client remove` do.
//!
//! Each supported client keeps its MCP servers in a JSON file, as ToolHive writes them (`pkg/client/config.go`):
//!
//! | client | file | servers key | entry |
//! |---|---|---|---|
//! | `vscode` | `CONFIG/Code/User/mcp.json` | `servers` | `{"type": "http"\|"sse", "url"}` |
//! | `vscode-insider` | `CONFIG/Code - Insiders/User/mcp.json` | `servers` | `{"type": "http"\|"sse", "url"}` |
//! | `cursor` | `HOME/.cursor/mcp.json` | `mcpServers` | `{"url"}` |
//! | `claude-code` | `HOME/.claude.json` | `mcpServers` | `{"type": "http"\|"sse", "url"}` |
//!
//! `CONFIG` is the platform's configuration directory (`$XDG_CONFIG_HOME`, by default `~/.config`, on Linux;
//! `~/Library/Application Support` on macOS; the roaming AppData on Windows). Both are in [`ClientPaths`], which
//! tests point at temporary directories. A client counts as installed when its directory exists (`CONFIG/Code`,
//! `CONFIG/Code - Insiders`, `HOME/.cursor`; for Claude Code `HOME/.claude` or `HOME/.claude.json`).
//!
//! # Editing
//!
//! [`register`] and [`unregister`] change one entry (named after the workload) and leave every other byte of
//! the file as it was: the files are read as JSONC (comments and trailing commas, which VS Code allows) and
//! edited at the text level, so comments, trailing commas, unknown keys, key order and formatting survive.
//! New text follows the file's indentation and line breaks. A registration that is already there is not
//! written again. The file is replaced atomically (a temporary file renamed over it, with its permissions; a
//! symbolic link is followed); a missing file or directory is created. A file that does not parse, or whose
//! top level or servers key is not an object, is an error naming the file and the place, and is never
//! written.

mod edit;
mod jsonc;
mod write;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde_json::{Map, Value, json};

use crate::proxy::ProxyMode;

use self::edit::{Edit, apply, indent_unit, insert_member, newline, remove_member, replace_value};
use self::jsonc::{Node, Object};

/// Where clients keep their files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPaths {
    /// The user's home directory.
    pub home: PathBuf,
    /// The platform's configuration directory (see the [module documentation](self)).
    pub config: PathBuf,
}

impl ClientPaths {
    /// The current user's directories.
    pub fn from_env() -> Result<Self, ClientConfigError> {
        let dirs = directories::BaseDirs::new().ok_or(ClientConfigError::NoHome)?;
        Ok(Self {
            home: dirs.home_dir().to_path_buf(),
            config: dirs.config_dir().to_path_buf(),
        })
    }

    /// `home`, with the configuration directory `home/.config` (tests).
    pub fn under(home: &Path) -> Self {
        Self {
            home: home.to_path_buf(),
            config: home.join(".config"),
        }
    }
}

/// A supported MCP client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKind {
    VsCode,
    VsCodeInsiders,
    Cursor,
    ClaudeCode,
}

impl ClientKind {
    /// Every supported client.
    pub const ALL: [ClientKind; 4] = [
        Self::VsCode,
        Self::VsCodeInsiders,
        Self::Cursor,
        Self::ClaudeCode,
    ];

    /// Its name on the command line (ToolHive's).
    pub fn name(self) -> &'static str {
        match self {
            Self::VsCode => "vscode",
            Self::VsCodeInsiders => "vscode-insider",
            Self::Cursor => "cursor",
            Self::ClaudeCode => "claude-code",
        }
    }

    /// Its MCP configuration file.
    pub fn config_path(self, paths: &ClientPaths) -> PathBuf {
        match self {
            Self::VsCode => paths.config.join("Code/User/mcp.json"),
            Self::VsCodeInsiders => paths.config.join("Code - Insiders/User/mcp.json"),
            Self::Cursor => paths.home.join(".cursor/mcp.json"),
            Self::ClaudeCode => paths.home.join(".claude.json"),
        }
    }

    /// Whether it looks installed (its directory exists).
    pub fn is_installed(self, paths: &ClientPaths) -> bool {
        match self {
            Self::VsCode => paths.config.join("Code").is_dir(),
            Self::VsCodeInsiders => paths.config.join("Code - Insiders").is_dir(),
            Self::Cursor => paths.home.join(".cursor").is_dir(),
            Self::ClaudeCode => {
                paths.home.join(".claude").is_dir() || paths.home.join(".claude.json").is_file()
            }
        }
    }

    /// The top-level key of its servers.
    pub fn servers_key(self) -> &'static str {
        match self {
            Self::VsCode | Self::VsCodeInsiders => "servers",
            Self::Cursor | Self::ClaudeCode => "mcpServers",
        }
    }

    /// Its entry for a server at `url` speaking `transport`.
    pub fn entry(self, url: &str, transport: ProxyMode) -> Value {
        let kind = match transport {
            ProxyMode::StreamableHttp => "http",
            ProxyMode::Sse => "sse",
        };
        match self {
            Self::Cursor => json!({"url": url}),
            Self::VsCode | Self::VsCodeInsiders | Self::ClaudeCode => {
                json!({"type": kind, "url": url})
            }
        }
    }
}

impl fmt::Display for ClientKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ClientKind {
    type Err = ClientConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| ClientConfigError::UnknownClient(s.to_owned()))
    }
}

/// What [`register`] or [`unregister`] did to the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A new entry.
    Added,
    /// An entry of that name was replaced.
    Updated,
    /// The entry was already as asked: nothing written.
    Unchanged,
    /// The entry was removed.
    Removed,
    /// There was no such entry: nothing written.
    Absent,
}

/// Why a client's configuration could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum ClientConfigError {
    // The cause is in the message, so it is not also the `source()` (an error chain would print it twice).
    #[error("{}: {error}", .path.display())]
    Io { path: PathBuf, error: io::Error },
    #[error("{}: line {line}, column {column}: {message} (the file was left unchanged)", .path.display())]
    Malformed {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}: {field} is {found}, expected an object (the file was left unchanged)", .path.display())]
    NotAnObject {
        path: PathBuf,
        /// `the top level` or `` `servers` ``, say.
        field: String,
        found: &'static str,
    },
    #[error("unknown client '{0}' (expected one of: vscode, vscode-insider, cursor, claude-code)")]
    UnknownClient(String),
    #[error("workload name: must not be empty")]
    EmptyName,
    #[error("url '{url}': {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("no home directory: set HOME")]
    NoHome,
}

/// The clients that look installed.
pub fn installed(paths: &ClientPaths) -> Vec<ClientKind> {
    ClientKind::ALL
        .into_iter()
        .filter(|c| c.is_installed(paths))
        .collect()
}

/// Adds (or updates) the entry `name` → `url` in `client`'s file.
pub fn register(
    paths: &ClientPaths,
    client: ClientKind,
    name: &str,
    url: &str,
    transport: ProxyMode,
) -> Result<Change, ClientConfigError> {
    if name.is_empty() {
        return Err(ClientConfigError::EmptyName);
    }
    check_url(url)?;
    let path = client.config_path(paths);
    let entry = client.entry(url, transport);
    let key = client.servers_key();
    let Some(text) = read(&path)? else {
        let mut servers = Map::new();
        servers.insert(name.to_owned(), entry);
        let doc = json!({ key: servers });
        let text = format!("{}\n", edit::render(&doc, "  ", "", "\n"));
        write(&path, &text)?;
        return Ok(Change::Added);
    };
    let root = parse(&path, &text)?;
    let unit = indent_unit(&text);
    let (edits, change) = match &root {
        None => {
            // Only whitespace and comments: the object goes after them.
            let doc = json!({ key: { name: entry } });
            let nl = newline(&text);
            let sep = if text.is_empty() || text.ends_with('\n') {
                ""
            } else {
                nl
            };
            let edit = Edit {
                range: text.len()..text.len(),
                text: format!("{sep}{}{nl}", edit::render(&doc, &unit, "", nl)),
            };
            (vec![edit], Change::Added)
        }
        Some(root) => {
            let top = as_object(&path, root, "the top level")?;
            match top.member(key) {
                None => {
                    let servers = json!({ name: entry });
                    (
                        insert_member(&text, top, key, &servers, &unit),
                        Change::Added,
                    )
                }
                Some(servers) => {
                    let servers = as_object(&path, &servers.value, &format!("`{key}`"))?;
                    match servers.member(name) {
                        None => (
                            insert_member(&text, servers, name, &entry, &unit),
                            Change::Added,
                        ),
                        Some(m) if m.value.value == entry => (Vec::new(), Change::Unchanged),
                        Some(m) => (
                            vec![replace_value(&text, m, &entry, &unit)],
                            Change::Updated,
                        ),
                    }
                }
            }
        }
    };
    if !edits.is_empty() {
        write(&path, &apply(&text, edits))?;
    }
    Ok(change)
}

/// Removes the entry `name` (every entry of that name) from `client`'s file.
pub fn unregister(
    paths: &ClientPaths,
    client: ClientKind,
    name: &str,
) -> Result<Change, ClientConfigError> {
    let path = client.config_path(paths);
    let Some(text) = read(&path)? else {
        return Ok(Change::Absent);
    };
    let Some(servers) = servers(&path, &text, client)? else {
        return Ok(Change::Absent);
    };
    let mut indices: Vec<usize> = (0..servers.members.len())
        .filter(|&i| servers.members[i].key == name)
        .collect();
    if indices.is_empty() {
        return Ok(Change::Absent);
    }
    // One at a time, from the last, re-parsing in between: removals next to each other share commas.
    let mut text = text;
    while let Some(i) = indices.pop() {
        let obj = servers_after_edit(&path, &text, client)?;
        text = apply(&text, remove_member(&text, &obj, i));
    }
    write(&path, &text)?;
    Ok(Change::Removed)
}

/// The entries of `client`'s file, in file order (none when the file does not exist).
pub fn entries(
    paths: &ClientPaths,
    client: ClientKind,
) -> Result<Map<String, Value>, ClientConfigError> {
    let path = client.config_path(paths);
    let Some(text) = read(&path)? else {
        return Ok(Map::new());
    };
    let root = parse(&path, &text)?;
    let Some(root) = root else {
        return Ok(Map::new());
    };
    as_object(&path, &root, "the top level")?;
    match root.value.get(client.servers_key()) {
        None => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(other) => Err(not_an_object(
            &path,
            &format!("`{}`", client.servers_key()),
            other,
        )),
    }
}

fn check_url(url: &str) -> Result<(), ClientConfigError> {
    let invalid = |reason: &str| ClientConfigError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = url::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    Ok(())
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ClientConfigError + '_ {
    move |error| ClientConfigError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// The file's text, `None` if it does not exist.
fn read(path: &Path) -> Result<Option<String>, ClientConfigError> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|e| {
            let (line, column) = line_col(
                &String::from_utf8_lossy(e.as_bytes()),
                e.utf8_error().valid_up_to(),
            );
            ClientConfigError::Malformed {
                path: path.to_path_buf(),
                line,
                column,
                message: "not UTF-8 text".to_owned(),
            }
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

fn write(path: &Path, text: &str) -> Result<(), ClientConfigError> {
    write::write_atomic(path, text.as_bytes()).map_err(io_err(path))
}

/// 1-based line and column (in characters) of byte `offset`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn parse(path: &Path, text: &str) -> Result<Option<Node>, ClientConfigError> {
    jsonc::parse(text).map_err(|e| {
        let (line, column) = line_col(text, e.offset);
        ClientConfigError::Malformed {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message,
        }
    })
}

fn not_an_object(path: &Path, field: &str, found: &Value) -> ClientConfigError {
    ClientConfigError::NotAnObject {
        path: path.to_path_buf(),
        field: field.to_owned(),
        found: thv_core::legacy::json_kind(found),
    }
}

fn as_object<'a>(
    path: &Path,
    node: &'a Node,
    field: &str,
) -> Result<&'a Object, ClientConfigError> {
    node.object
        .as_ref()
        .ok_or_else(|| not_an_object(path, field, &node.value))
}

/// The servers object of the file (`None`: empty file or no servers key).
fn servers(
    path: &Path,
    text: &str,
    client: ClientKind,
) -> Result<Option<Object>, ClientConfigError> {
    let Some(root) = parse(path, text)? else {
        return Ok(None);
    };
    let key = client.servers_key();
    let top = as_object(path, &root, "the top level")?;
    let Some(index) = top.members.iter().rposition(|m| m.key == key) else {
        return Ok(None);
    };
    let Some(root_obj) = root.object else {
        return Ok(None);
    };
    let member = root_obj.members.into_iter().nth(index);
    match member {
        Some(m) => match m.value.object {
            Some(obj) => Ok(Some(obj)),
            None => Err(not_an_object(path, &format!("`{key}`"), &m.value.value)),
        },
        None => Ok(None),
    }
}

/// [`servers`] of a text this module produced from a file that had them.
fn servers_after_edit(
    path: &Path,
    text: &str,
    client: ClientKind,
) -> Result<Object, ClientConfigError> {
    servers(path, text, client)?.ok_or_else(|| ClientConfigError::NotAnObject {
        path: path.to_path_buf(),
        field: format!("`{}`", client.servers_key()),
        found: "missing",
    })
}
