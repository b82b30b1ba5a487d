//! The user's `thv` configuration: `$XDG_CONFIG_HOME/thv/config.toml` (see [`crate::dirs`]).
//!
//! ```toml
//! [registry]
//! url = "https://registry.example.com"   # a registry API, a registry file URL or a local file path
//!
//! [build]
//! ca_cert = "/etc/ssl/corp-ca.pem"        # added to package images (corporate TLS proxies)
//! [build.images]                          # base images of the package schemes
//! uvx = "registry.example.com/python:3.13-slim"
//!
//! [clients]
//! registered = ["vscode", "cursor"]       # clients whose config files get every workload's URL
//!
//! [signatures]                            # registry entries' signatures (`thv run NAME`)
//! mode = "enforce"                        # off | warn | enforce ("policy" is read too)
//! trusted_keys = [
//!   "/etc/thv/cosign.pub",                # a path: trusted for every name
//!   { path = "/etc/thv/team-a.pub", names = ["com.example.team-a/*"] },   # only these names
//! ]
//! trusted_root = "/etc/thv/trusted_root.json"   # keyless signatures, checked offline
//!
//! [[signatures.signers]]
//! identity = "https://github.com/org/repo/.github/workflows/sign.yml@refs/heads/main"
//! issuer = "https://token.actions.githubusercontent.com"
//! names = ["io.github.org/*"]             # optional, as a key's
//!
//! [images]                                # image signatures (cosign), checked before `thv run` starts
//! verification = "enabled"                # disabled | warn (default) | enabled
//! trusted_keys = ["/etc/thv/images.pub"]
//! insecure_registries = ["127.0.0.1:5000"]   # reached over plain HTTP
//! trusted_root = "/etc/thv/trusted_root.json"   # keyless signatures vs the entry's provenance (default:
//!                                         # the bundled public-good root)
//! [images.mirrors]                        # an air-gapped site's mirror (`thv-registry mirror push`)
//! "ghcr.io" = "mirror.site/ghcr.io"       # ghcr.io/org/img@sha256:… is pulled and verified there
//! ```
//!
//! Unknown keys are refused (a typo must not silently do nothing); every error names the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::build::{BaseImages, BuildOptions};
use crate::dirs::write_atomic;

/// `config.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    #[serde(default, skip_serializing_if = "RegistryConfig::is_empty")]
    pub registry: RegistryConfig,
    #[serde(default, skip_serializing_if = "BuildConfig::is_empty")]
    pub build: BuildConfig,
    #[serde(default, skip_serializing_if = "ClientsConfig::is_empty")]
    pub clients: ClientsConfig,
    #[serde(default, skip_serializing_if = "SignaturesConfig::is_empty")]
    pub signatures: SignaturesConfig,
    #[serde(default, skip_serializing_if = "ImagesConfig::is_empty")]
    pub images: ImagesConfig,
}

/// `[signatures]`: what `thv run NAME` does with the registry entry's signature (`policy` = `off` | `warn` |
/// `enforce`, `trusted_keys`, `trusted_root`, `signers`). A key or signer with `names` (patterns: `*`, `prefix*`,
/// exact) signs only the entries those patterns match: another entry it signed is refused under `enforce`
/// (warned about under `warn`), naming the key, its patterns and the entry ([`thv_core::signature::policy`]).
/// `thv config set-signature-policy --trusted-key PATH=PATTERN` writes a bound key.
pub type SignaturesConfig = thv_core::signature::PolicyConfig;

/// `[registry]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// A registry API base URL, a registry file URL, or a registry file path; absent: the bundled registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl RegistryConfig {
    fn is_empty(&self) -> bool {
        self.url.is_none()
    }
}

/// `[build]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildConfig {
    /// A PEM file of CA certificates installed into package images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
    /// Base image per package scheme (`uvx`, `npx`, `go`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub images: BTreeMap<String, String>,
    /// The builder stage's environment (`thv config set-build-env NAME VALUE`): module proxies and package
    /// mirrors (`GOPROXY`, `NPM_CONFIG_REGISTRY`, `PIP_INDEX_URL`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Names whose values come from `thv`'s environment when it builds (`thv config set-build-env NAME
    /// --from-env`): credentials that should not be written into this file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from_shell: Vec<String>,
}

impl BuildConfig {
    fn is_empty(&self) -> bool {
        self.ca_cert.is_none()
            && self.images.is_empty()
            && self.env.is_empty()
            && self.env_from_shell.is_empty()
    }
}

/// `[clients]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientsConfig {
    /// Registered client names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registered: Vec<String>,
}

impl ClientsConfig {
    fn is_empty(&self) -> bool {
        self.registered.is_empty()
    }
}

impl UserConfig {
    /// Reads the file; a missing file is the default configuration.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let cfg: Self = toml::from_str(&text)
            .with_context(|| format!("invalid configuration file {}", path.display()))?;
        for (scheme, image) in &cfg.build.images {
            check_build_image(scheme, image)
                .with_context(|| format!("invalid configuration file {}", path.display()))?;
        }
        Ok(cfg)
    }

    /// Writes the file atomically.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let text = toml::to_string_pretty(self).context("cannot serialize the configuration")?;
        write_atomic(path, text.as_bytes(), 0o600)
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// The build options: defaults, then `THV_BASE_*_IMAGE` variables, then `[build]`, then `ca_cert`
    /// (`--ca-cert`); the builder's environment from [`crate::build::env::resolve`].
    pub fn build_options(&self, ca_cert: Option<PathBuf>) -> anyhow::Result<BuildOptions> {
        use thv_core::runconfig::PackageScheme;
        let mut base_images = BaseImages::from_env();
        for (scheme, image) in &self.build.images {
            match scheme
                .parse::<PackageScheme>()
                .map_err(|e| anyhow::anyhow!(e))?
            {
                PackageScheme::Uvx => base_images.uvx = image.clone(),
                PackageScheme::Npx => base_images.npx = image.clone(),
                PackageScheme::Go => base_images.go = image.clone(),
            }
        }
        let build_env =
            crate::build::env::from_process(&self.build.env_from_shell, &self.build.env);
        Ok(BuildOptions {
            base_images,
            ca_cert: ca_cert.or_else(|| self.build.ca_cert.clone()),
            mirrors: self.images.mirrors.clone(),
            build_env,
            ..BuildOptions::default()
        })
    }
}

/// `build.images.SCHEME = IMAGE`: the scheme is one of the package schemes and the image a valid reference.
pub fn check_build_image(scheme: &str, image: &str) -> anyhow::Result<()> {
    if scheme
        .parse::<thv_core::runconfig::PackageScheme>()
        .is_err()
    {
        bail!("build.images: unknown package scheme '{scheme}' (expected uvx, npx or go)");
    }
    thv_core::image_ref::ImageRef::parse(image)
        .map_err(|e| anyhow::anyhow!("build.images.{scheme}: {e}"))?;
    Ok(())
}

/// What `thv run` does with image signatures.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Disabled,
    #[default]
    Warn,
    Enabled,
}

/// `[images]` of the user's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagesConfig {
    /// The default mode (`--image-verification` overrides it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Mode>,
    /// Public keys (PEM, cosign.pub) images may be signed with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_keys: Vec<PathBuf>,
    /// Registries (`host:port`) reached over plain HTTP.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub insecure_registries: Vec<String>,
    /// The Sigstore `trusted_root.json` keyless signatures are verified against (default: the bundled
    /// public-good one, for provenances naming that instance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_root: Option<PathBuf>,
    /// Where images are mirrored (an air-gapped site: `thv-registry mirror push` prints these): a registry, or
    /// a `REGISTRY/PATH` prefix, mapped to the mirror's; `thv run` pulls and verifies the image there, by the
    /// same digest, the registry entry unchanged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mirrors: BTreeMap<String, String>,
}

impl ImagesConfig {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use thv_core::signature::{PolicyMode, TrustedKey, TrustedSigner};

    /// `[signatures]` with a key for every name beside a bound key and a bound signer is written and read back
    /// as it was (what `thv config set-signature-policy` saves, `thv run` reads).
    #[test]
    fn bound_keys_and_signers_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let cfg = UserConfig {
            signatures: SignaturesConfig {
                mode: PolicyMode::Enforce,
                trusted_keys: vec![
                    PathBuf::from("/etc/thv/release.pub").into(),
                    TrustedKey {
                        path: "/etc/thv/team-a.pub".into(),
                        names: Some(vec![
                            "com.example.team-a/*".into(),
                            "com.example.shared".into(),
                        ]),
                    },
                ],
                trusted_root: Some("/etc/thv/trusted_root.json".into()),
                signers: vec![TrustedSigner {
                    identity: "ci@example.com".into(),
                    issuer: "https://issuer.example.com".into(),
                    names: Some(vec!["com.example.ci/*".into()]),
                }],
            },
            ..Default::default()
        };
        cfg.save(&path).unwrap();
        assert_eq!(UserConfig::load(&path).unwrap(), cfg);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"/etc/thv/release.pub\""), "{text}");
    }
}
