//! Reading the registry file of a file or git source: its bytes and a hash that says whether it changed.
//!
//! Git sources use the `git` command (as the operators' own tooling and credential setup do): a bare cache
//! repository per source under the data directory, a shallow `fetch` of the configured ref, and `git show` of the
//! file at the fetched commit — no working tree is checked out. Credentials go through the environment
//! (`http.extraHeader`), never the command line; git never prompts.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use sha2::{Digest, Sha256};
use tokio::process::Command;

use super::config::{FileLocation, GitAuthConfig, GitRef};

/// Largest registry file read from a file or git source.
pub const MAX_FILE_BYTES: usize = 256 * 1024 * 1024;

/// A source's content and what identifies it.
pub struct Content {
    pub bytes: Vec<u8>,
    /// SHA-256 of the bytes (file sources) or `<commit>:<path>` (git sources).
    pub hash: String,
    /// Where it came from, for messages.
    pub origin: String,
}

pub async fn read_file(location: &FileLocation, timeout: Duration) -> Result<Content, String> {
    let (bytes, origin) = match location {
        FileLocation::Path(path) => {
            let meta = tokio::fs::metadata(path)
                .await
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            if meta.len() > MAX_FILE_BYTES as u64 {
                return Err(format!(
                    "{} is larger than {MAX_FILE_BYTES} bytes",
                    path.display()
                ));
            }
            let bytes = tokio::fs::read(path)
                .await
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            (bytes, path.display().to_string())
        }
        FileLocation::Url(url) => (fetch_url(url, timeout).await?, url.clone()),
    };
    Ok(Content {
        hash: hex::encode(Sha256::digest(&bytes)),
        bytes,
        origin,
    })
}

async fn fetch_url(url: &str, timeout: Duration) -> Result<Vec<u8>, String> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10).min(timeout))
        .user_agent(concat!("thv-registry-api/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let mut resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("GET {url}: HTTP {}", resp.status()));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("GET {url}: reading the body: {e}"))?
    {
        if bytes.len() + chunk.len() > MAX_FILE_BYTES {
            return Err(format!("GET {url}: larger than {MAX_FILE_BYTES} bytes"));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
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
) -> Result<Content, String> {
    let origin = format!(
        "{} ({}) {}",
        git.repository,
        describe(git.reference),
        git.path
    );
    if !cache.join("HEAD").is_file() {
        tokio::fs::create_dir_all(cache)
            .await
            .map_err(|e| format!("creating {}: {e}", cache.display()))?;
        run_git(cache, &["init", "--quiet", "--bare"], None, timeout).await?;
    }
    let wanted = match git.reference {
        GitRef::Head => "HEAD".to_string(),
        GitRef::Branch(b) => format!("refs/heads/{b}"),
        GitRef::Tag(t) => format!("refs/tags/{t}"),
        GitRef::Commit(c) => c.clone(),
    };
    let header = match git.auth {
        Some(auth) => Some(basic_auth(auth)?),
        None => None,
    };
    run_git(
        cache,
        &[
            "fetch",
            "--quiet",
            "--depth=1",
            "--no-tags",
            "--",
            git.repository,
            &wanted,
        ],
        header.as_deref(),
        timeout,
    )
    .await
    .map_err(|e| format!("fetching {origin}: {e}"))?;
    let commit = run_git(cache, &["rev-parse", "FETCH_HEAD^{commit}"], None, timeout).await?;
    let commit = String::from_utf8_lossy(&commit).trim().to_string();
    let spec = format!("{commit}:{}", git.path);
    let bytes = run_git(cache, &["show", &spec], None, timeout)
        .await
        .map_err(|e| format!("{origin}: no file {} at commit {commit}: {e}", git.path))?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(format!("{origin}: larger than {MAX_FILE_BYTES} bytes"));
    }
    Ok(Content {
        hash: spec,
        bytes,
        origin: format!("{origin} at {commit}"),
    })
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
fn basic_auth(auth: &GitAuthConfig) -> Result<String, String> {
    let password = std::fs::read_to_string(&auth.password_file).map_err(|e| {
        format!(
            "git.auth.password_file {}: {e}",
            auth.password_file.display()
        )
    })?;
    let token = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        auth.username,
        password.trim_end()
    ));
    Ok(format!("Authorization: Basic {token}"))
}

async fn run_git(
    dir: &Path,
    args: &[&str],
    auth_header: Option<&str>,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
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
    if let Some(h) = auth_header {
        cmd.env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "http.extraHeader")
            .env("GIT_CONFIG_VALUE_0", h);
    }
    let out = tokio::time::timeout(timeout, cmd.output())
        .await
        .map_err(|_| format!("git {} timed out after {timeout:?}", args[0]))?
        .map_err(|e| format!("cannot run git (is it installed?): {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "git {} failed: {}",
            args[0],
            stderr.trim().lines().last().unwrap_or("no message")
        ));
    }
    Ok(out.stdout)
}

/// The cache directory of a git source.
pub fn git_cache(data_dir: &Path, source: &str) -> PathBuf {
    data_dir.join("git").join(source)
}
