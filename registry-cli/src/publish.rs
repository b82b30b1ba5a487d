//! `thv-registry publish`, `status` and `login`: writes to a registry API (ours or any upstream-compatible one).
//!
//! The registry is `--registry URL`, else `THV_REGISTRY_URL`, else the one `login` stored last. The token is
//! `--token`, else `THV_REGISTRY_TOKEN`, else the one `login` stored for that registry:
//! `$XDG_CONFIG_HOME/thv-registry/credentials.json` (`{"default": URL, "tokens": {URL: TOKEN}}`), mode 0600. A
//! token is never printed or logged.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use serde::{Deserialize, Serialize};
use thv_core::api::{ServerStatus, StatusUpdateRequest};
use thv_core::registry_client::RegistryClient;

use crate::input;

/// Which registry, with which token.
#[derive(Debug, Args)]
pub struct Target {
    /// The registry API base URL (default: THV_REGISTRY_URL, then the one `login` stored).
    #[arg(long, env = "THV_REGISTRY_URL")]
    registry: Option<String>,
    /// The token (default: THV_REGISTRY_TOKEN, then the one `login` stored for the registry).
    #[arg(long, env = "THV_REGISTRY_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// server.json files (or registry files: every entry is published).
    #[arg(required = true)]
    files: Vec<String>,
    #[command(flatten)]
    target: Target,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// NAME (every version) or NAME@VERSION.
    target_name: String,
    /// The new status.
    #[arg(long, value_parser = ["active", "deprecated", "deleted"])]
    status: String,
    /// Why (shown to registry clients).
    #[arg(long)]
    message: Option<String>,
    #[command(flatten)]
    target: Target,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The registry API base URL.
    #[arg(long)]
    registry: String,
    /// The token; read from stdin when absent (so that it stays out of the shell history and `ps`).
    #[arg(long, env = "THV_REGISTRY_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Credentials {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default: Option<String>,
    #[serde(default)]
    tokens: BTreeMap<String, String>,
}

fn credentials_path() -> anyhow::Result<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "thv-registry")
        .context("no home directory: set HOME or XDG_CONFIG_HOME")?;
    Ok(dirs.config_dir().join("credentials.json"))
}

fn read_credentials() -> anyhow::Result<Credentials> {
    let path = credentials_path()?;
    match std::fs::read(&path) {
        Ok(b) => {
            serde_json::from_slice(&b).with_context(|| format!("{} is not valid", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Credentials::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn write_credentials(c: &Credentials) -> anyhow::Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let path = credentials_path()?;
    let dir = path.parent().context("credentials path has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(".credentials.{}.tmp", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(&serde_json::to_vec_pretty(c)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// The token `login` stored for a registry (base URL without a trailing `/`), if any.
pub fn stored_token(base: &str) -> anyhow::Result<Option<String>> {
    Ok(read_credentials()?
        .tokens
        .get(base.trim_end_matches('/'))
        .cloned())
}

/// The client for the target, with its token.
fn client(t: &Target) -> anyhow::Result<RegistryClient> {
    let creds = read_credentials()?;
    let base = t
        .registry
        .clone()
        .or_else(|| creds.default.clone())
        .context(
            "no registry: pass --registry URL (or set THV_REGISTRY_URL, or `thv-registry login`)",
        )?;
    let base = base.trim_end_matches('/').to_owned();
    let token = t
        .token
        .clone()
        .or_else(|| creds.tokens.get(&base).cloned())
        .with_context(|| format!("no token for {base}: pass --token (or set THV_REGISTRY_TOKEN, or `thv-registry login`)"))?;
    RegistryClient::builder(&base)
        .token(token)
        .build()
        .with_context(|| format!("invalid registry URL {base}"))
}

pub async fn publish(a: PublishArgs) -> anyhow::Result<i32> {
    let client = client(&a.target)?;
    let (mut published, mut failed) = (0usize, 0usize);
    for f in &a.files {
        if input::is_url(f) {
            bail!("{f}: publish takes files; to copy a registry use `thv-registry import`");
        }
        let mut loaded = input::load(f, &input::ApiOptions::default()).await?;
        // A signature beside a server.json (`thv-registry sign`) travels in its `_meta`.
        if let ([e], Some(bundle)) = (
            loaded.entries.as_mut_slice(),
            crate::sign::sidecar_bundle(std::path::Path::new(f))?,
        ) && let Some(obj) = e.value.as_object_mut()
        {
            let meta = obj
                .entry("_meta")
                .or_insert_with(|| serde_json::Value::Object(Default::default()));
            if let Some(meta) = meta.as_object_mut() {
                meta.insert(thv_core::signature::SIGNATURE_META.to_owned(), bundle);
            }
        }
        for e in loaded.entries {
            let (name, version) = e.identity();
            match client.publish(&e.value).await {
                Ok(r) => {
                    published += 1;
                    let latest = r.official().is_some_and(|o| o.is_latest);
                    thv_core::outln!(
                        "published {name}@{version}{}",
                        if latest { " (latest)" } else { "" }
                    );
                }
                Err(err) => {
                    failed += 1;
                    thv_core::errln!("Error: {}: {name}@{version}: {err}", e.location);
                }
            }
        }
    }
    thv_core::errln!("{published} published, {failed} failed");
    Ok(i32::from(failed > 0))
}

pub async fn status(a: StatusArgs) -> anyhow::Result<i32> {
    let client = client(&a.target)?;
    let status = match a.status.as_str() {
        "active" => ServerStatus::Active,
        "deprecated" => ServerStatus::Deprecated,
        _ => ServerStatus::Deleted,
    };
    let req = StatusUpdateRequest {
        status,
        status_message: a.message.clone(),
    };
    // A name may hold '@' only as the version separator (names are reverse-DNS/name).
    match a.target_name.rsplit_once('@') {
        Some((name, version)) if !name.is_empty() && !version.is_empty() => {
            client
                .set_version_status(name, version, &req)
                .await
                .with_context(|| format!("cannot change the status of {name}@{version}"))?;
            thv_core::outln!("{name}@{version}: {}", status.as_str());
        }
        _ => {
            let name = &a.target_name;
            let r = client
                .set_server_status(name, &req)
                .await
                .with_context(|| format!("cannot change the status of {name}"))?;
            thv_core::outln!(
                "{name}: {} ({} versions updated)",
                status.as_str(),
                r.updated_count
            );
        }
    }
    Ok(0)
}

pub async fn login(a: LoginArgs) -> anyhow::Result<i32> {
    let base = a.registry.trim_end_matches('/').to_owned();
    url::Url::parse(&base).with_context(|| format!("invalid registry URL {base}"))?;
    let token = match a.token {
        Some(t) => t,
        None => {
            let mut t = String::new();
            std::io::stdin()
                .read_to_string(&mut t)
                .context("cannot read the token from stdin")?;
            t.trim().to_owned()
        }
    };
    if token.is_empty() {
        bail!("the token is empty");
    }
    // Check that the registry answers before storing anything.
    let client = RegistryClient::builder(&base)
        .token(token.clone())
        .build()?;
    client
        .health()
        .await
        .with_context(|| format!("{base} does not answer /v0.1/health"))?;
    let mut creds = read_credentials()?;
    creds.tokens.insert(base.clone(), token);
    creds.default = Some(base.clone());
    let path = write_credentials(&creds)?;
    thv_core::outln!(
        "token for {base} stored in {} (mode 0600); it is the default registry now",
        path.display()
    );
    Ok(0)
}
