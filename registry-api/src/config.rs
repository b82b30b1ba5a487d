//! Configuration: a TOML file, `THV_REGISTRY_*` environment variables and flags, in rising precedence.
//!
//! Each setting is one flag (clap reads its environment variable) and one key of the file:
//!
//! | flag / file key       | environment variable              | default                                   |
//! |-----------------------|-----------------------------------|-------------------------------------------|
//! | `--config`            | `THV_REGISTRY_CONFIG`             | none                                      |
//! | `listen`              | `THV_REGISTRY_LISTEN`             | `127.0.0.1:8080`                          |
//! | `database_url`        | `THV_REGISTRY_DATABASE_URL`       | `sqlite://$XDG_DATA_HOME/thv-registry-api/registry.db` |
//! | `seed_from`           | `THV_REGISTRY_SEED_FROM`          | the bundled curated registry              |
//! | `no_seed`             | `THV_REGISTRY_NO_SEED`            | false (seed an empty database)            |
//! | `jwt_private_key`     | `THV_REGISTRY_JWT_PRIVATE_KEY`    | a key generated once into the data dir    |
//! | `admin_token`         | `THV_REGISTRY_ADMIN_TOKEN`        | none (no admin token)                     |
//! | `max_body_bytes`      | `THV_REGISTRY_MAX_BODY_BYTES`     | 1 MiB                                     |
//! | `max_connections`     | `THV_REGISTRY_MAX_CONNECTIONS`    | SQLite: 2 × cores (2–8); PostgreSQL: 16   |
//! | `database_acquire_timeout` | `THV_REGISTRY_DATABASE_ACQUIRE_TIMEOUT` | `2s` (PostgreSQL: longest wait for a connection, then 503; `500ms`, `1m`, ...) |
//! | `database_read_timeout` | `THV_REGISTRY_DATABASE_READ_TIMEOUT` | `10s` (PostgreSQL: longest read on a connection, then 503 and the connection is closed) |
//! | `database_write_timeout` | `THV_REGISTRY_DATABASE_WRITE_TIMEOUT` | `30s` (PostgreSQL: longest write, its lock wait included, then 503 and the connection is closed) |
//! | `log_format`          | `THV_REGISTRY_LOG_FORMAT`         | `text` (or `json`)                        |
//! | `read_cache_bytes`    | `THV_REGISTRY_READ_CACHE_BYTES`   | 32 MiB of cached GET responses (0: off)   |
//! | `read_cache_ttl_seconds` | `THV_REGISTRY_READ_CACHE_TTL_SECONDS` | 60 (staleness bound if a change notification is lost) |
//! | `sync_cache_dir`      | `THV_REGISTRY_SYNC_CACHE_DIR`     | `$XDG_DATA_HOME/thv-registry-api/sources` (git sources' clones) |
//! | `signature_policy`    | `THV_REGISTRY_SIGNATURE_POLICY` (`--signature-policy`), `THV_REGISTRY_TRUSTED_KEYS` (`--trusted-key`) | off; file: `{mode = "enforce", trusted_keys = ["cosign.pub", {path = "team-a.pub", names = ["com.example.team-a/*"]}], trusted_root = "trusted_root.json", signers = [{identity = "…", issuer = "…", names = ["…"]}]}` (flags `--trusted-root`, `--certificate-identity`, `--certificate-oidc-issuer`); a key or signer with `names` signs only the entries those patterns match (see below) |
//! | `privileged_entries`  | `THV_REGISTRY_PRIVILEGED_ENTRIES` (`--privileged-entries`, comma-separated) | none: only administrators (edit `*`) may publish entries whose permission profile asks for privileges |
//! | `sources`, `registries`, `default_registry` | (file only) | none: `/v0.1` serves the published entries |
//!
//! The file is TOML, or YAML when its name ends in `.yaml` or `.yml`. Sync sources and registries are described in
//! [`crate::sync::config`].
//!
//! Trusted keys bound to names ([`thv_core::signature::policy`]): in the file, a key is a path (trusted for every
//! name) or `{path, names}` (YAML: `- path: team-a.pub` with `names: [...]`); on the command line
//! `--trusted-key PATH` or `--trusted-key PATH=PATTERN`, one pattern a value, repeated for more
//! (`--trusted-key team-a.pub=com.example.team-a/* --trusted-key team-a.pub=com.example.shared`;
//! `THV_REGISTRY_TRUSTED_KEYS` separates the values with `,`). Patterns are `*`, `prefix*` or an exact name, as
//! token permissions; a path holding `=` is written `PATH=*` (every name) or `PATH=PATTERN`. A signature by a
//! key not bound to the entry's name is refused on publish and edit (422 naming the key, its patterns and the
//! entry) under `enforce`, logged under `warn`. Sync sources' `signature_policy` tables take the same form.

mod toolhive;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thv_core::signature::{PolicyConfig, PolicyMode, SignaturePolicy, TrustedKey, TrustedSigner};

use crate::auth::{KeyError, TokenKeys};
use crate::store::{DatabaseKind, PoolSettings};
use crate::sync::config::{Registries, RegistryConfig, Source, SourceConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Settings shared by every subcommand that needs them; each is a flag with an environment variable.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigArgs {
    /// TOML configuration file (keys as the flags, with underscores).
    #[arg(long, env = "THV_REGISTRY_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "THV_REGISTRY_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// `sqlite:PATH`, `postgres://user:password@host/db`, or `configmap://NAMESPACE/PREFIX` (ConfigMaps
    /// through the Kubernetes API; `configmap:///PREFIX`: the server's own namespace).
    #[arg(
        long,
        env = "THV_REGISTRY_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    pub database_url: Option<String>,
    /// Registry file to seed an empty database from (upstream, legacy ToolHive, or an array of server.json).
    #[arg(long, env = "THV_REGISTRY_SEED_FROM")]
    pub seed_from: Option<PathBuf>,
    /// Do not seed an empty database.
    #[arg(long, env = "THV_REGISTRY_NO_SEED")]
    pub no_seed: bool,
    /// Hex Ed25519 seed (64 hex characters) that signs registry tokens.
    #[arg(
        long,
        env = "THV_REGISTRY_JWT_PRIVATE_KEY",
        hide_env_values = true,
        global = true
    )]
    pub jwt_private_key: Option<String>,
    /// A static bearer token with publish and edit permission on every name.
    #[arg(long, env = "THV_REGISTRY_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "THV_REGISTRY_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Database connection pool size.
    #[arg(long, env = "THV_REGISTRY_MAX_CONNECTIONS")]
    pub max_connections: Option<u32>,
    /// PostgreSQL: longest wait of a request for a database connection (`2s`, `500ms`); then it is answered 503,
    /// so that requests fail fast while the database is down.
    #[arg(long, env = "THV_REGISTRY_DATABASE_ACQUIRE_TIMEOUT", value_parser = humantime::parse_duration)]
    pub database_acquire_timeout: Option<Duration>,
    /// PostgreSQL: longest time a read may take on its connection (`10s`); then it is answered 503 and the
    /// connection is closed, so that a server that stopped answering cannot hold requests forever.
    #[arg(long, env = "THV_REGISTRY_DATABASE_READ_TIMEOUT", value_parser = humantime::parse_duration)]
    pub database_read_timeout: Option<Duration>,
    /// PostgreSQL: longest time a write may take, from taking its connection to its commit (`30s`); then it is
    /// answered 503 (whether it was committed is not known) and the connection is closed.
    #[arg(long, env = "THV_REGISTRY_DATABASE_WRITE_TIMEOUT", value_parser = humantime::parse_duration)]
    pub database_write_timeout: Option<Duration>,
    /// Log format.
    #[arg(long, env = "THV_REGISTRY_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Memory for cached GET responses, in bytes (0 turns the read cache off).
    #[arg(long, env = "THV_REGISTRY_READ_CACHE_BYTES")]
    pub read_cache_bytes: Option<usize>,
    /// Longest time a cached GET response is served (writes invalidate it at once).
    #[arg(long, env = "THV_REGISTRY_READ_CACHE_TTL_SECONDS")]
    pub read_cache_ttl_seconds: Option<u64>,
    /// Where git sources keep their clones.
    #[arg(long, env = "THV_REGISTRY_SYNC_CACHE_DIR")]
    pub sync_cache_dir: Option<PathBuf>,
    /// What publishing and editing do with entry signatures: off, warn or enforce (422 when missing or bad).
    #[arg(long, env = "THV_REGISTRY_SIGNATURE_POLICY")]
    pub signature_policy: Option<PolicyMode>,
    /// A public key (PEM, cosign.pub) entries may be signed with: PATH (every name) or PATH=PATTERN (only the
    /// names the pattern matches: `*`, `prefix*` or exact); repeatable, a key repeated is trusted for all its
    /// patterns (the variable: comma-separated).
    #[arg(
        long = "trusted-key",
        env = "THV_REGISTRY_TRUSTED_KEYS",
        value_delimiter = ',',
        value_name = "PATH[=PATTERN]"
    )]
    pub trusted_keys: Vec<TrustedKey>,
    /// For keyless signatures: the `trusted_root.json` (read once, used offline).
    #[arg(long, env = "THV_REGISTRY_TRUSTED_ROOT")]
    pub trusted_root: Option<PathBuf>,
    /// For keyless signatures: the signer's certificate identity (with --certificate-oidc-issuer).
    #[arg(long, requires = "certificate_oidc_issuer")]
    pub certificate_identity: Option<String>,
    /// For keyless signatures: the signer's OIDC issuer.
    #[arg(long, requires = "certificate_identity")]
    pub certificate_oidc_issuer: Option<String>,
    /// Name patterns (`*`, `prefix*`, exact) whose entries any publisher may make ask for privileges
    /// (`privileged`, host networking, host mounts); otherwise only administrators may.
    #[arg(
        long = "privileged-entries",
        env = "THV_REGISTRY_PRIVILEGED_ENTRIES",
        value_delimiter = ','
    )]
    pub privileged_entries: Vec<String>,
    /// Answer `POST /v0/auth/none` with a token for `io.modelcontextprotocol.anonymous/*` (development; upstream's
    /// ENABLE_ANONYMOUS_AUTH).
    #[arg(long, env = "THV_REGISTRY_ENABLE_ANONYMOUS_AUTH")]
    pub enable_anonymous_auth: bool,
}

/// The configuration file's shape.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    database_url: Option<String>,
    seed_from: Option<PathBuf>,
    no_seed: Option<bool>,
    jwt_private_key: Option<String>,
    admin_token: Option<String>,
    max_body_bytes: Option<usize>,
    max_connections: Option<u32>,
    database_acquire_timeout: Option<String>,
    database_read_timeout: Option<String>,
    database_write_timeout: Option<String>,
    log_format: Option<LogFormat>,
    read_cache_bytes: Option<usize>,
    read_cache_ttl_seconds: Option<u64>,
    sync_cache_dir: Option<PathBuf>,
    signature_policy: Option<PolicyConfig>,
    privileged_entries: Option<Vec<String>>,
    #[serde(default)]
    sources: Vec<SourceConfig>,
    #[serde(default)]
    registries: Vec<RegistryConfig>,
    default_registry: Option<String>,
    /// The token exchanges (`POST /v0/auth/*`).
    auth: Option<crate::exchange::ExchangeConfig>,
}

/// The longest `read_cache_ttl_seconds`.
const MAX_READ_CACHE_TTL: std::time::Duration = crate::cache::MAX_TTL;

/// A duration setting: the flag (parsed by clap), else the file's text, else `default`. A file value that is no
/// duration is reported under `key`.
fn duration_setting(
    key: &str,
    flag: Option<Duration>,
    file: Option<&str>,
    default: Duration,
    errors: &mut Vec<String>,
) -> Duration {
    match (flag, file) {
        (Some(d), _) => d,
        (None, Some(text)) => humantime::parse_duration(text).unwrap_or_else(|e| {
            errors.push(format!(
                "{key}: '{text}' is not a duration (e.g. 2s, 500ms): {e}"
            ));
            default
        }),
        (None, None) => default,
    }
}

/// Where the signing key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    Configured(String),
    /// Generated once and kept (mode 0600) in this file.
    File(PathBuf),
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub seed_from: Option<PathBuf>,
    pub seed: bool,
    pub key: KeySource,
    pub admin_token: Option<String>,
    pub max_body_bytes: usize,
    pub max_connections: u32,
    /// See [`crate::store::PoolSettings::acquire_timeout`].
    pub database_acquire_timeout: Duration,
    /// See [`crate::store::PoolSettings::read_timeout`].
    pub database_read_timeout: Duration,
    /// See [`crate::store::PoolSettings::write_timeout`].
    pub database_write_timeout: Duration,
    pub log_format: LogFormat,
    pub read_cache_bytes: usize,
    pub read_cache_ttl: std::time::Duration,
    /// Sync sources, checked.
    pub sources: Vec<Source>,
    pub registries: Registries,
    pub sync_cache_dir: Option<PathBuf>,
    /// Checked on publish and edit.
    pub signatures: SignaturePolicy,
    /// Name patterns whose entries any publisher may make ask for privileges.
    pub privileged_entries: Vec<String>,
    /// The token exchanges (`auth:`; `--enable-anonymous-auth` turns on `none`).
    pub exchanges: crate::exchange::ExchangeConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // A cause in the message is not also the `source()`: the binary prints the chain, which showed it twice.
    #[error("cannot read config file {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("no data directory: set HOME or XDG_DATA_HOME, or pass --database-url")]
    NoDataDir,
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error("signing key file {path}: {error}")]
    KeyFile {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("invalid settings:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

fn parse_file(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    let yaml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
    let parsed = if yaml {
        // toolhive-registry-server's config.yaml (ToolHive's MCPRegistry passes it through) is rewritten into
        // this server's keys first; this server's own YAML is parsed from the text, keeping line numbers.
        match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text) {
            Ok(mut value) if toolhive::is_toolhive(&value) => {
                let mut errors = Vec::new();
                toolhive::translate(&mut value, &mut errors);
                if !errors.is_empty() {
                    return Err(ConfigError::Invalid(
                        errors
                            .into_iter()
                            .map(|e| {
                                format!("{} (toolhive-registry-server format): {e}", path.display())
                            })
                            .collect(),
                    ));
                }
                serde_yaml_ng::from_value::<FileConfig>(value).map_err(|e| e.to_string())
            }
            _ => serde_yaml_ng::from_str::<FileConfig>(text).map_err(|e| e.to_string()),
        }
    } else {
        toml::from_str::<FileConfig>(text).map_err(|e| e.to_string())
    };
    parsed.map_err(|message| ConfigError::Parse {
        path: path.to_path_buf(),
        message,
    })
}

/// `$XDG_DATA_HOME/thv-registry-api` (e.g. `~/.local/share/thv-registry-api`).
pub fn data_dir() -> Result<PathBuf, ConfigError> {
    directories::ProjectDirs::from("", "", "thv-registry-api")
        .map(|d| d.data_dir().to_path_buf())
        .ok_or(ConfigError::NoDataDir)
}

impl Config {
    pub fn load(args: &ConfigArgs) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
                    path: path.clone(),
                    error,
                })?;
                parse_file(path, &text)?
            }
            None => FileConfig::default(),
        };
        let database_url = match args.database_url.clone().or(file.database_url) {
            Some(url) => url,
            None => format!("sqlite://{}", data_dir()?.join("registry.db").display()),
        };
        let key = match args.jwt_private_key.clone().or(file.jwt_private_key) {
            Some(hex) => KeySource::Configured(hex),
            None => KeySource::File(data_dir()?.join("jwt.key")),
        };
        let mut errors = Vec::new();
        let (sources, registries) = crate::sync::config::check(
            &file.sources,
            &file.registries,
            file.default_registry.as_deref(),
            &mut errors,
        );
        let file_policy = file.signature_policy.unwrap_or_default();
        let mode = args.signature_policy.unwrap_or(file_policy.mode);
        let key_files = if args.trusted_keys.is_empty() {
            file_policy.trusted_keys
        } else {
            args.trusted_keys.clone()
        };
        let signers = match (&args.certificate_identity, &args.certificate_oidc_issuer) {
            (Some(identity), Some(issuer)) => vec![TrustedSigner {
                identity: identity.clone(),
                issuer: issuer.clone(),
                names: None,
            }],
            _ => file_policy.signers,
        };
        let policy = PolicyConfig {
            mode,
            trusted_keys: key_files,
            trusted_root: args.trusted_root.clone().or(file_policy.trusted_root),
            signers,
        };
        let signatures = policy.load().unwrap_or_else(|e| {
            errors.push(format!("signature_policy: {e}"));
            SignaturePolicy::default()
        });
        let database_acquire_timeout = duration_setting(
            "database_acquire_timeout",
            args.database_acquire_timeout,
            file.database_acquire_timeout.as_deref(),
            PoolSettings::DEFAULT_ACQUIRE_TIMEOUT,
            &mut errors,
        );
        let database_read_timeout = duration_setting(
            "database_read_timeout",
            args.database_read_timeout,
            file.database_read_timeout.as_deref(),
            PoolSettings::DEFAULT_READ_TIMEOUT,
            &mut errors,
        );
        let database_write_timeout = duration_setting(
            "database_write_timeout",
            args.database_write_timeout,
            file.database_write_timeout.as_deref(),
            PoolSettings::DEFAULT_WRITE_TIMEOUT,
            &mut errors,
        );
        let privileged_entries = if args.privileged_entries.is_empty() {
            file.privileged_entries.unwrap_or_default()
        } else {
            args.privileged_entries.clone()
        };
        let mut exchanges = file.auth.clone().unwrap_or_default();
        exchanges.anonymous |= args.enable_anonymous_auth;
        let config = Self {
            exchanges,
            signatures,
            privileged_entries,
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            database_url: database_url.clone(),
            seed_from: args.seed_from.clone().or(file.seed_from),
            seed: !(args.no_seed || file.no_seed.unwrap_or(false)),
            key,
            admin_token: args.admin_token.clone().or(file.admin_token),
            max_body_bytes: args
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(1024 * 1024),
            max_connections: args
                .max_connections
                .or(file.max_connections)
                .unwrap_or_else(|| default_pool_size(&database_url)),
            database_acquire_timeout,
            database_read_timeout,
            database_write_timeout,
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            read_cache_bytes: args
                .read_cache_bytes
                .or(file.read_cache_bytes)
                .unwrap_or(32 * 1024 * 1024),
            read_cache_ttl: std::time::Duration::from_secs(
                args.read_cache_ttl_seconds
                    .or(file.read_cache_ttl_seconds)
                    .unwrap_or(60),
            ),
            sources,
            registries,
            sync_cache_dir: args.sync_cache_dir.clone().or(file.sync_cache_dir),
        };
        config.check(errors)?;
        Ok(config)
    }

    /// Reports every invalid setting at once.
    fn check(&self, mut errors: Vec<String>) -> Result<(), ConfigError> {
        match DatabaseKind::of(&self.database_url) {
            None => errors.push(
                "database_url: must start with sqlite:, postgres://, postgresql:// or configmap://"
                    .to_string(),
            ),
            Some(DatabaseKind::ConfigMap) => {
                if let Err(e) = crate::store::configmap::parse_url(&self.database_url) {
                    errors.push(format!("database_url: {e}"));
                }
            }
            Some(_) => {}
        }
        if self.max_body_bytes < 1024 {
            errors.push(format!(
                "max_body_bytes: {} is too small (at least 1024)",
                self.max_body_bytes
            ));
        }
        if self.max_connections == 0 {
            errors.push("max_connections: must be at least 1".into());
        }
        if self.database_acquire_timeout.is_zero() {
            errors.push("database_acquire_timeout: must be longer than 0 (e.g. 2s)".into());
        }
        if self.read_cache_ttl > MAX_READ_CACHE_TTL {
            errors.push(format!(
                "read_cache_ttl_seconds: {} is too long (at most {}, a year)",
                self.read_cache_ttl.as_secs(),
                MAX_READ_CACHE_TTL.as_secs()
            ));
        }
        if self.database_read_timeout.is_zero() {
            errors.push("database_read_timeout: must be longer than 0 (e.g. 10s)".into());
        }
        if self.database_write_timeout.is_zero() {
            errors.push("database_write_timeout: must be longer than 0 (e.g. 30s)".into());
        }
        if let Some(t) = &self.admin_token
            && t.len() < 16
        {
            errors.push("admin_token: must be at least 16 characters".into());
        }
        if let KeySource::Configured(hex) = &self.key
            && let Err(e) = TokenKeys::from_seed_hex(hex)
        {
            errors.push(e.to_string());
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(errors))
        }
    }

    /// The database connection pool's settings.
    pub fn pool(&self) -> PoolSettings {
        PoolSettings {
            max_connections: self.max_connections,
            acquire_timeout: self.database_acquire_timeout,
            read_timeout: self.database_read_timeout,
            write_timeout: self.database_write_timeout,
        }
    }

    /// The token signing key: configured, or read from (or generated once into) the key file.
    pub fn token_keys(&self) -> Result<TokenKeys, ConfigError> {
        match &self.key {
            KeySource::Configured(hex) => Ok(TokenKeys::from_seed_hex(hex)?),
            KeySource::File(path) => load_or_create_key(path),
        }
    }

    /// Creates the SQLite database's directory if the URL names a file path.
    /// Creates the directory of a SQLite database file; an error names it.
    pub fn prepare_database_dir(&self) -> std::io::Result<()> {
        if let Some(path) = self
            .database_url
            .strip_prefix("sqlite://")
            .or_else(|| self.database_url.strip_prefix("sqlite:"))
        {
            let path = path.split('?').next().unwrap_or(path);
            if let Some(dir) = Path::new(path).parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("{}: {e}", dir.display()))
                })?;
            }
        }
        Ok(())
    }
}

fn load_or_create_key(path: &Path) -> Result<TokenKeys, ConfigError> {
    let err = |error| ConfigError::KeyFile {
        path: path.to_path_buf(),
        error,
    };
    match std::fs::read_to_string(path) {
        Ok(hex) => Ok(TokenKeys::from_seed_hex(&hex)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let (keys, hex) = TokenKeys::generate()?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(err)?;
            }
            write_private(path, &hex).map_err(err)?;
            tracing::info!(path = %path.display(), "generated a token signing key");
            Ok(keys)
        }
        Err(e) => Err(err(e)),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

/// The database pool's size when none is configured. PostgreSQL: 16. SQLite: twice the cores (2 to 8). Each
/// SQLite connection is a thread with its own page cache; more of them than cores only adds task switches and
/// memory (measured: 16, 4 and 2 connections on 2 cores gave 8.9 k, 9.3 k and 8.1 k req/s for a page).
fn default_pool_size(database_url: &str) -> u32 {
    if DatabaseKind::of(database_url) == Some(DatabaseKind::Sqlite) {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
        (cores * 2).clamp(2, 8)
    } else {
        16
    }
}

#[cfg(test)]
mod tests {

    /// The binary prints an error with its chain (`{:#}`): a cause in the message was printed twice.
    #[test]
    fn a_key_file_error_names_its_cause_once() {
        let dir = tempfile::tempdir().unwrap();
        let Err(err) = load_or_create_key(dir.path()) else {
            panic!("a directory is no key");
        };
        let shown = format!("{:#}", anyhow::Error::from(err));
        assert_eq!(shown.matches("os error").count(), 1, "{shown}");
        assert!(shown.contains(&dir.path().display().to_string()), "{shown}");
    }

    use super::*;

    #[test]
    fn flags_beat_file_and_errors_are_reported_together() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nmax_connections = 4\ndatabase_url = \"sqlite::memory:\"\n").unwrap();
        let args = ConfigArgs {
            config: Some(file.clone()),
            max_connections: Some(8),
            ..Default::default()
        };
        let c = Config::load(&args).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.max_connections, 8);
        assert_eq!(
            c.database_acquire_timeout,
            PoolSettings::DEFAULT_ACQUIRE_TIMEOUT
        );

        std::fs::write(&file, "database_url = \"mysql://x\"\nmax_body_bytes = 10\n").unwrap();
        let err = Config::load(&ConfigArgs {
            config: Some(file.clone()),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("database_url") && err.contains("max_body_bytes"),
            "{err}"
        );

        std::fs::write(
            &file,
            "database_url = \"sqlite::memory:\"\ndatabase_acquire_timeout = \"750ms\"\n",
        )
        .unwrap();
        let c = Config::load(&ConfigArgs {
            config: Some(file.clone()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.pool().acquire_timeout, Duration::from_millis(750));
        let c = Config::load(&ConfigArgs {
            config: Some(file.clone()),
            database_acquire_timeout: Some(Duration::from_secs(5)),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            c.pool().acquire_timeout,
            Duration::from_secs(5),
            "the flag beats the file"
        );
        // The file's settings after a SQLite URL, loaded.
        let load = |settings: &str| {
            std::fs::write(
                &file,
                format!("database_url = \"sqlite::memory:\"\n{settings}\n"),
            )
            .unwrap();
            Config::load(&ConfigArgs {
                config: Some(file.clone()),
                ..Default::default()
            })
        };
        for key in [
            "database_acquire_timeout",
            "database_read_timeout",
            "database_write_timeout",
        ] {
            for bad in ["soon", "0s"] {
                let err = load(&format!("{key} = \"{bad}\"")).unwrap_err().to_string();
                assert!(err.contains(key), "{bad}: {err}");
            }
        }
        let err = load("read_cache_ttl_seconds = 31536000001")
            .unwrap_err()
            .to_string();
        assert!(err.contains("read_cache_ttl_seconds"), "{err}");
        let c = load("database_read_timeout = \"3s\"\ndatabase_write_timeout = \"4s\"").unwrap();
        assert_eq!(c.pool().read_timeout, Duration::from_secs(3));
        assert_eq!(c.pool().write_timeout, Duration::from_secs(4));

        std::fs::write(&file, "lisen = 1\n").unwrap();
        let err = Config::load(&ConfigArgs {
            config: Some(file),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("lisen"), "{err}");
    }

    #[test]
    fn generated_key_is_kept_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k/jwt.key");
        let a = load_or_create_key(&path).unwrap();
        let b = load_or_create_key(&path).unwrap();
        let (t, _) = a
            .mint("x", vec![], std::time::Duration::from_secs(60))
            .unwrap();
        assert!(b.verify(&t).is_some());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }
}
