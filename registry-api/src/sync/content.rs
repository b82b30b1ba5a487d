//! Reading the registry file of a file or git source: its bytes and a hash that says whether it changed.
//!
//! Git sources use the `git` command (as the operators' own tooling and credential setup do): a bare cache
//! repository per source under the data directory, a shallow `fetch` of the configured ref, and `git show` of the
//! file at the fetched commit — no working tree is checked out. Credentials go through the environment, never the
//! command line, as a header scoped to the repository's URL (`http.<repository>.extraHeader`); git follows no
//! redirect (`http.followRedirects=false`) — after one it would send that header to wherever it was redirected —
//! so a redirect fails the fetch, naming where it pointed. Git never prompts.
//!
//! Registry files at a URL are fetched through the source's [`Egress`].

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use reqwest::Url;
use sha2::{Digest, Sha256};
use tokio::process::Command;

use super::config::{FileLocation, GitAuthConfig, GitRef};
use super::error::SyncError;
use super::http::Egress;

/// Largest registry file read from a file or git source.
pub const MAX_FILE_BYTES: usize = 256 * 1024 * 1024;

/// A source's content and what identifies it.
pub struct Content {
    pub bytes: Vec<u8>,
    /// SHA-256 of the bytes (file sources) or `<commit>:<path>` (git sources).
    pub hash: String,
    /// Where it came from, for messages.
    pub origin: String,
    /// Entries the source could not give (a kubernetes source's refused resources): reported as skipped.
    pub skipped: Vec<super::apply::Skipped>,
}

pub async fn read_file(
    location: &FileLocation,
    timeout: Duration,
    egress: &Egress,
) -> Result<Content, SyncError> {
    let (bytes, origin) = match location {
        FileLocation::Path(path) => (read_path(path).await?, path.display().to_string()),
        FileLocation::Url(url) => {
            let parsed =
                Url::parse(url).map_err(|e| SyncError::Config(format!("file.url {url}: {e}")))?;
            let client = egress.client(timeout, None)?;
            let bytes = egress
                .get(&client, &parsed, "application/json, */*", MAX_FILE_BYTES)
                .await?;
            (bytes, url.clone())
        }
    };
    Ok(Content {
        hash: hex::encode(Sha256::digest(&bytes)),
        bytes,
        origin,
        skipped: Vec::new(),
    })
}

async fn read_path(path: &Path) -> Result<Vec<u8>, SyncError> {
    let failed = |e: std::io::Error| SyncError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let meta = tokio::fs::metadata(path).await.map_err(failed)?;
    if meta.len() > MAX_FILE_BYTES as u64 {
        return Err(SyncError::TooLarge {
            origin: path.display().to_string(),
            message: format!("larger than {MAX_FILE_BYTES} bytes"),
        });
    }
    tokio::fs::read(path).await.map_err(failed)
}

/// How a configmap source is named in messages: `configmap NAMESPACE/NAME key KEY`.
pub fn configmap_origin(namespace: Option<&str>, name: &str, key: &str) -> String {
    format!(
        "configmap {}/{name} key {key}",
        namespace.unwrap_or("(the server's namespace)")
    )
}

/// Reads the key of a ConfigMap (`data`, else `binaryData`) through the Kubernetes API, with the credentials
/// `kube` infers: the pod's service account in a cluster, else `KUBECONFIG` or `~/.kube/config`.
pub async fn read_configmap(
    namespace: Option<&str>,
    name: &str,
    key: &str,
    timeout: Duration,
) -> Result<Content, SyncError> {
    use k8s_openapi::api::core::v1::ConfigMap;
    // Named by its namespace once the client says which one is the server's own.
    let origin = std::sync::Mutex::new(configmap_origin(namespace, name, key));
    let failed = |message: String| SyncError::Kubernetes {
        origin: origin.lock().expect("origin").clone(),
        message,
    };
    let read = async {
        let client = crate::kubernetes::client()
            .await
            .map_err(|e| failed(format!("no Kubernetes API to read it from {e}")))?;
        let namespace = namespace.unwrap_or(client.default_namespace()).to_owned();
        *origin.lock().expect("origin") = configmap_origin(Some(&namespace), name, key);
        let api: kube::Api<ConfigMap> = kube::Api::namespaced(client, &namespace);
        let map = api
            .get_opt(name)
            .await
            .map_err(|e| failed(crate::kubernetes::message(&e)))?
            .ok_or_else(|| failed(format!("no ConfigMap {name} in namespace {namespace}")))?;
        if let Some(text) = map.data.as_ref().and_then(|d| d.get(key)) {
            return Ok(text.clone().into_bytes());
        }
        if let Some(bytes) = map.binary_data.as_ref().and_then(|d| d.get(key)) {
            return Ok(bytes.0.clone());
        }
        let mut keys: Vec<&str> = map
            .data
            .iter()
            .flat_map(|d| d.keys())
            .chain(map.binary_data.iter().flat_map(|d| d.keys()))
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        Err(failed(format!(
            "the ConfigMap has no key {key} (its keys: {})",
            if keys.is_empty() {
                "none".to_owned()
            } else {
                keys.join(", ")
            }
        )))
    };
    let bytes = tokio::time::timeout(timeout, read).await.map_err(|_| {
        failed(format!(
            "the Kubernetes API did not answer within {timeout:?}"
        ))
    })??;
    Ok(Content {
        hash: hex::encode(Sha256::digest(&bytes)),
        bytes,
        origin: origin.into_inner().expect("origin"),
        skipped: Vec::new(),
    })
}

/// A git source's location.
pub struct GitLocation<'a> {
    pub repository: &'a str,
    pub reference: &'a GitRef,
    pub path: &'a str,
    pub auth: Option<&'a GitAuthConfig>,
}

/// Fetches the configured ref into `cache` (a bare repository, created on first use) and reads the file.
pub async fn read_git(
    git: &GitLocation<'_>,
    cache: &Path,
    timeout: Duration,
) -> Result<Content, SyncError> {
    let origin = format!(
        "{} ({}) {}",
        git.repository,
        describe(git.reference),
        git.path
    );
    let failed = |e: GitError| SyncError::Git {
        origin: origin.clone(),
        message: e.to_string(),
    };
    if !cache.join("HEAD").is_file() {
        tokio::fs::create_dir_all(cache)
            .await
            .map_err(|e| SyncError::Internal(format!("creating {}: {e}", cache.display())))?;
        run_git(cache, &["init", "--quiet", "--bare"], &[], timeout)
            .await
            .map_err(&failed)?;
    }
    let wanted = match git.reference {
        GitRef::Head => "HEAD".to_string(),
        GitRef::Branch(b) => format!("refs/heads/{b}"),
        GitRef::Tag(t) => format!("refs/tags/{t}"),
        GitRef::Commit(c) => c.clone(),
    };
    let mut config = Vec::new();
    if let Some(auth) = git.auth {
        // Sent only to URLs under the repository's (git matches scheme, host, port and path prefix).
        config.push((
            format!("http.{}.extraHeader", git.repository),
            basic_auth(auth)?,
        ));
    }
    let fetch = [
        "fetch",
        "--quiet",
        "--depth=1",
        "--no-tags",
        "--",
        git.repository,
        &wanted,
    ];
    if let Err(e) = run_git(cache, &fetch, &config, timeout).await {
        let message = e.to_string();
        return Err(match redirect_status(&message) {
            Some(status) => SyncError::GitRedirect {
                repository: git.repository.to_string(),
                answer: redirect_answer(git.repository, status).await,
            },
            None => SyncError::Git {
                origin,
                message: format!("fetching: {message}"),
            },
        });
    }
    let commit = run_git(cache, &["rev-parse", "FETCH_HEAD^{commit}"], &[], timeout)
        .await
        .map_err(&failed)?;
    let commit = String::from_utf8_lossy(&commit).trim().to_string();
    let spec = format!("{commit}:{}", git.path);
    let bytes = run_git(cache, &["show", &spec], &[], timeout)
        .await
        .map_err(|e| SyncError::GitPath {
            origin: origin.clone(),
            message: format!("no file {} at commit {commit}: {e}", git.path),
        })?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(SyncError::TooLarge {
            origin,
            message: format!("larger than {MAX_FILE_BYTES} bytes"),
        });
    }
    Ok(Content {
        hash: spec,
        bytes,
        origin: format!("{origin} at {commit}"),
        skipped: Vec::new(),
    })
}

/// The 3xx status of git's "The requested URL returned error: 302", if that is why it failed.
fn redirect_status(git_message: &str) -> Option<u16> {
    let (_, after) = git_message.split_once("returned error: ")?;
    let code: u16 = after.get(..3)?.parse().ok()?;
    (300..400).contains(&code).then_some(code)
}

/// "HTTP 302, a redirect to <where>": where git was sent, asked again (without credentials, following nothing)
/// for the message.
async fn redirect_answer(repository: &str, status: u16) -> String {
    let answer = format!("HTTP {status}, a redirect");
    let Ok(mut url) = Url::parse(repository.trim_end_matches('/')) else {
        return answer;
    };
    url.set_path(&format!("{}/info/refs", url.path()));
    url.set_query(Some("service=git-upload-pack"));
    let Ok(probe) = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
    else {
        return answer;
    };
    let Ok(resp) = probe.get(url).send().await else {
        return answer;
    };
    let target = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| resp.url().join(l).ok());
    match target {
        Some(t) => {
            let path = t.path();
            let repository = path.strip_suffix("/info/refs").unwrap_or(path);
            format!(
                "{answer} to {}{repository}",
                t.origin().ascii_serialization()
            )
        }
        None => answer,
    }
}

fn describe(reference: &GitRef) -> String {
    match reference {
        GitRef::Head => "default branch".into(),
        GitRef::Branch(b) => format!("branch {b}"),
        GitRef::Tag(t) => format!("tag {t}"),
        GitRef::Commit(c) => format!("commit {c}"),
    }
}

/// `Authorization: Basic ...` from the username and the password file.
fn basic_auth(auth: &GitAuthConfig) -> Result<String, SyncError> {
    let password = std::fs::read_to_string(&auth.password_file).map_err(|e| {
        SyncError::Config(format!(
            "git.auth.password_file {}: {e}",
            auth.password_file.display()
        ))
    })?;
    let token = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        auth.username,
        password.trim_end()
    ));
    Ok(format!("Authorization: Basic {token}"))
}

/// Why a git command failed.
#[derive(Debug, thiserror::Error)]
enum GitError {
    #[error("git {command} timed out after {timeout:?}")]
    TimedOut { command: String, timeout: Duration },
    #[error("cannot run git (is it installed?): {0}")]
    NotRunnable(std::io::Error),
    /// `message` is git's last line of output.
    #[error("git {command} failed: {message}")]
    Failed { command: String, message: String },
}

/// Runs git with `config` (key, value) in its environment, after `http.followRedirects=false`; the error is git's
/// last line of output.
async fn run_git(
    dir: &Path,
    args: &[&str],
    config: &[(String, String)],
    timeout: Duration,
) -> Result<Vec<u8>, GitError> {
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "/bin/false")
        .env_remove("GIT_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let no_redirects = [("http.followRedirects".to_string(), "false".to_string())];
    let all = no_redirects.iter().chain(config);
    for (i, (key, value)) in all.enumerate() {
        cmd.env(format!("GIT_CONFIG_KEY_{i}"), key)
            .env(format!("GIT_CONFIG_VALUE_{i}"), value);
    }
    cmd.env("GIT_CONFIG_COUNT", (config.len() + 1).to_string());
    let out = tokio::time::timeout(timeout, cmd.output())
        .await
        .map_err(|_| GitError::TimedOut {
            command: args[0].to_owned(),
            timeout,
        })?
        .map_err(GitError::NotRunnable)?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(GitError::Failed {
            command: args[0].to_owned(),
            message: stderr
                .trim()
                .lines()
                .last()
                .unwrap_or("no message")
                .to_owned(),
        });
    }
    Ok(out.stdout)
}

/// The cache directory of a git source.
pub fn git_cache(data_dir: &Path, source: &str) -> PathBuf {
    data_dir.join("git").join(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redirect_is_recognised_in_gits_message() {
        let git = "git fetch failed: fatal: unable to access 'http://h/r.git/': The requested URL returned error: 302";
        assert_eq!(redirect_status(git), Some(302));
        assert_eq!(redirect_status(&git.replace("302", "404")), None);
        assert_eq!(
            redirect_status("git fetch failed: fatal: repository not found"),
            None
        );
    }
}
