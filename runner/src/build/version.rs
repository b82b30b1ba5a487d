//! Pinning a package to its latest version when none is given, by asking the package index: PyPI's JSON API
//! (`GET {pypi}/{name}/json` → `info.version`) or the npm registry (`GET {npm}/{name}/latest` → `version`).
//! Go modules are not looked up (`go install module@latest` resolves it in the build).

use std::path::Path;
use std::time::Duration;
use thv_core::output::error_chain;

use serde_json::Value;
use thv_core::runconfig::{PackageScheme, PackageSource};

/// How long one index request may take.
const INDEX_TIMEOUT: Duration = Duration::from_secs(30);

/// Where package versions are looked up. Mirrors (air-gapped sites, corporate proxies) replace the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageIndexes {
    /// PyPI's JSON API base: `https://pypi.org/pypi` (a package is at `{pypi}/{name}/json`).
    pub pypi: String,
    /// The npm registry: `https://registry.npmjs.org` (a package's latest version is at `{npm}/{name}/latest`).
    pub npm: String,
}

impl Default for PackageIndexes {
    fn default() -> Self {
        Self {
            pypi: "https://pypi.org/pypi".to_owned(),
            npm: "https://registry.npmjs.org".to_owned(),
        }
    }
}

impl PackageIndexes {
    /// The URL that tells the latest version of a uvx or npx package; `None` for go.
    pub fn latest_url(&self, pkg: &PackageSource) -> Option<String> {
        match pkg.scheme {
            PackageScheme::Uvx => Some(format!(
                "{}/{}/json",
                self.pypi.trim_end_matches('/'),
                pkg.name
            )),
            PackageScheme::Npx => Some(format!(
                "{}/{}/latest",
                self.npm.trim_end_matches('/'),
                pkg.name
            )),
            PackageScheme::Go => None,
        }
    }
}

/// Why the latest version could not be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot find the latest version of {package} at {url}: {reason}")]
pub struct VersionError {
    pub package: String,
    pub url: String,
    pub reason: String,
}

/// The latest version of a uvx or npx package (`None` for go), from the index, trusting the system's roots
/// plus the certificates of `ca_cert` (a PEM file) when given.
pub async fn latest_version(
    pkg: &PackageSource,
    indexes: &PackageIndexes,
    ca_cert: Option<&Path>,
) -> Result<Option<String>, VersionError> {
    let Some(url) = indexes.latest_url(pkg) else {
        return Ok(None);
    };
    let body = fetch_json(pkg, &url, ca_cert).await?;
    let fail = |reason: String| VersionError {
        package: pkg.to_string(),
        url: url.clone(),
        reason,
    };
    let version =
        version_in(pkg.scheme, &body).ok_or_else(|| fail("the answer has no version".into()))?;
    let pinned = PackageSource {
        version: Some(version.to_owned()),
        ..pkg.clone()
    };
    pinned
        .check()
        .map_err(|e| fail(format!("the index's version is unusable: {e}")))?;
    Ok(pinned.version)
}

/// The hashes the index gives for the files of a pinned uvx or npx package (none for go): npm's tarball
/// `dist.integrity` (`{npm}/{name}/{version}`), PyPI's `sha256:<hex> <filename>` of each file of the release
/// (`{pypi}/{name}/{version}/json`). What a mirror bundle records beside the image built from it.
pub async fn package_files(
    pkg: &PackageSource,
    indexes: &PackageIndexes,
    ca_cert: Option<&Path>,
) -> Result<Vec<String>, VersionError> {
    let Some(version) = pkg.version.as_deref() else {
        return Ok(Vec::new());
    };
    let url = match pkg.scheme {
        PackageScheme::Uvx => format!(
            "{}/{}/{version}/json",
            indexes.pypi.trim_end_matches('/'),
            pkg.name
        ),
        PackageScheme::Npx => format!(
            "{}/{}/{version}",
            indexes.npm.trim_end_matches('/'),
            pkg.name
        ),
        PackageScheme::Go => return Ok(Vec::new()),
    };
    let body = fetch_json(pkg, &url, ca_cert).await?;
    let files: Vec<String> = match pkg.scheme {
        PackageScheme::Npx => body["dist"]["integrity"]
            .as_str()
            .map(str::to_owned)
            .into_iter()
            .collect(),
        _ => body["urls"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| {
                Some(format!(
                    "sha256:{} {}",
                    f["digests"]["sha256"].as_str()?,
                    f["filename"].as_str()?
                ))
            })
            .collect(),
    };
    if files.is_empty() {
        return Err(VersionError {
            package: pkg.to_string(),
            url,
            reason: "the answer names no file hash".into(),
        });
    }
    Ok(files)
}

/// GETs `url` as JSON, trusting the system's roots plus the certificates of `ca_cert` when given.
async fn fetch_json(
    pkg: &PackageSource,
    url: &str,
    ca_cert: Option<&Path>,
) -> Result<Value, VersionError> {
    let fail = |reason: String| VersionError {
        package: pkg.to_string(),
        url: url.to_owned(),
        reason,
    };
    let mut client = reqwest::Client::builder()
        .timeout(INDEX_TIMEOUT)
        .user_agent(concat!("thv/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = ca_cert {
        let certs = thv_core::tls::read_ca_bundle(path)
            .map_err(|e| fail(format!("ca_cert {}: {e}", path.display())))?;
        client = client.tls_certs_merge(certs);
    }
    let client = client.build().map_err(|e| fail(e.to_string()))?;
    let resp = client
        .get(url)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|e| fail(error_chain(&e)))?;
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        return Err(fail("no such package (404)".into()));
    }
    if !status.is_success() {
        return Err(fail(format!("the index answered {status}")));
    }
    resp.json()
        .await
        .map_err(|e| fail(format!("the answer is not JSON: {e}")))
}

/// `info.version` (PyPI) or `version` (npm).
fn version_in(scheme: PackageScheme, body: &Value) -> Option<&str> {
    match scheme {
        PackageScheme::Uvx => body.get("info")?.get("version")?.as_str(),
        PackageScheme::Npx => body.get("version")?.as_str(),
        PackageScheme::Go => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urls_and_answers() {
        let idx = PackageIndexes {
            pypi: "https://mirror.example/pypi/".into(),
            npm: "https://npm.example".into(),
        };
        let uvx = PackageSource::parse("uvx://mcp-server-time")
            .unwrap()
            .unwrap();
        let npx = PackageSource::parse("npx://@scope/pkg").unwrap().unwrap();
        let go = PackageSource::parse("go://github.com/x/y")
            .unwrap()
            .unwrap();
        assert_eq!(
            idx.latest_url(&uvx).unwrap(),
            "https://mirror.example/pypi/mcp-server-time/json"
        );
        assert_eq!(
            idx.latest_url(&npx).unwrap(),
            "https://npm.example/@scope/pkg/latest"
        );
        assert_eq!(idx.latest_url(&go), None);
        assert_eq!(
            version_in(PackageScheme::Uvx, &json!({"info": {"version": "1.2"}})),
            Some("1.2")
        );
        assert_eq!(
            version_in(PackageScheme::Npx, &json!({"version": "3.0.0"})),
            Some("3.0.0")
        );
        assert_eq!(version_in(PackageScheme::Npx, &json!({"v": 1})), None);
    }
}
