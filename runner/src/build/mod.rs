//! Building package images (`uvx://`, `npx://`, `go://`) through the engine.
//!
//! `thv run uvx://pkg[@ver]`, `npx://pkg[@ver]`, `go://module[@ver]` and `go://./local/dir` run an image built
//! here, with [`build_package_image`]:
//!
//! 1. **pin**: a uvx or npx package without a version is pinned to the latest one, asked of PyPI's JSON API or
//!    the npm registry ([`PackageIndexes`], configurable for mirrors; [`BuildOptions::resolve_latest`] turns
//!    it off). A go module without a version is installed `@latest` and tagged `latest`;
//! 2. **name**: the image is [`image_tag`] of the pinned package (`localhost/thv-uvx-mcp-server-time:2025.9.25`);
//!    when it exists already, nothing is built (unless [`BuildOptions::no_cache`]). A local directory is
//!    always built again (its files may have changed; the engine's layer cache makes an unchanged one quick);
//! 3. **build**: the Dockerfile of the scheme ([`dockerfile`]; two stages, non-root user, the package's command
//!    as entrypoint so the workload's `cmd_args` are its arguments) and the files it copies go into an
//!    in-memory tar context ([`build_context`]), built with [`Runtime::build_image`]. The build starts from
//!    local base images ([`BaseImages`]: made by `scripts/build-base-images.sh` from Debian packages; nothing
//!    is pulled unless [`BuildOptions::pull`]). The engine's output is logged through `tracing` (`STEP` lines
//!    at info, the rest at debug) and its last lines are kept for the error when a step fails.
//!
//! An extra CA certificate ([`BuildOptions::ca_cert`], ToolHive's `--ca-cert`: corporate TLS proxies) is
//! trusted by the version lookup and installed in both stages of the image, with `SSL_CERT_FILE`,
//! `REQUESTS_CA_BUNDLE`, `PIP_CERT`, `NODE_EXTRA_CA_CERTS`, `CURL_CA_BUNDLE`, `GIT_SSL_CAINFO` and
//! `UV_NATIVE_TLS` set.

mod context;
pub mod env;
mod tag;
mod templates;
mod version;

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use thiserror::Error;
use thv_core::runconfig::{PackageScheme, PackageSource};

use crate::runtime::{ImageBuildOptions, Runtime, RuntimeError};

pub use context::{BuildContext, MAX_CONTEXT_BYTES, resolve_local_dir};
pub use tag::{IMAGE_PREFIX, LOCAL_TAG, UNPINNED_TAG, image_tag, is_local_path};
pub use templates::APP_UID;
pub use version::{PackageIndexes, VersionError, latest_version, package_files};

/// How many lines of build output a failed build's error shows.
pub const LOG_TAIL_LINES: usize = 40;
/// The largest CA certificate file accepted.
const MAX_CA_BYTES: u64 = 4 * 1024 * 1024;

/// The images package images are built from. The defaults are the local images of
/// `scripts/build-base-images.sh` (ToolHive's would be `python:3.13-slim`, `node:22-alpine`,
/// `golang:1.24-alpine`: public images that air-gapped sites cannot pull). Each may be any image with the
/// scheme's tools: `python3` with `venv` (uvx), `node` and `npm` (npx), `go` (go); all need `/bin/sh`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseImages {
    /// Builder and runtime image of uvx packages.
    pub uvx: String,
    /// Builder and runtime image of npx packages.
    pub npx: String,
    /// Builder image of go packages.
    pub go: String,
    /// Runtime image of go packages (their binaries are static).
    pub go_runtime: String,
}

impl Default for BaseImages {
    fn default() -> Self {
        Self {
            uvx: "localhost/thv-base-python:bookworm".to_owned(),
            npx: "localhost/thv-base-node:bookworm".to_owned(),
            go: "localhost/thv-base-go:bookworm".to_owned(),
            go_runtime: "localhost/thv-base-debian:bookworm".to_owned(),
        }
    }
}

impl BaseImages {
    /// The defaults, each replaced by its environment variable when set and non-empty:
    /// `THV_BASE_PYTHON_IMAGE`, `THV_BASE_NODE_IMAGE`, `THV_BASE_GO_IMAGE`, `THV_BASE_DEBIAN_IMAGE` (the
    /// variables `scripts/build-base-images.sh` names its images by).
    pub fn from_env() -> Self {
        let get = |var: &str, default: String| {
            std::env::var(var)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or(default)
        };
        let d = Self::default();
        Self {
            uvx: get("THV_BASE_PYTHON_IMAGE", d.uvx),
            npx: get("THV_BASE_NODE_IMAGE", d.npx),
            go: get("THV_BASE_GO_IMAGE", d.go),
            go_runtime: get("THV_BASE_DEBIAN_IMAGE", d.go_runtime),
        }
    }

    /// The builder and runtime images of a scheme.
    pub fn for_scheme(&self, scheme: PackageScheme) -> (&str, &str) {
        match scheme {
            PackageScheme::Uvx => (&self.uvx, &self.uvx),
            PackageScheme::Npx => (&self.npx, &self.npx),
            PackageScheme::Go => (&self.go, &self.go_runtime),
        }
    }

    /// The images of a scheme with the names of their fields (`base_images.go_runtime`), for errors.
    fn named(&self, scheme: PackageScheme) -> Vec<(&'static str, &str)> {
        match scheme {
            PackageScheme::Uvx => vec![("base_images.uvx", &self.uvx)],
            PackageScheme::Npx => vec![("base_images.npx", &self.npx)],
            PackageScheme::Go => vec![
                ("base_images.go", &self.go),
                ("base_images.go_runtime", &self.go_runtime),
            ],
        }
    }
}

/// How package images are built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOptions {
    pub base_images: BaseImages,
    /// A PEM file of extra CA certificates to trust, in the version lookup and in the image.
    pub ca_cert: Option<PathBuf>,
    /// Build again even when the image exists, without the engine's layer cache.
    pub no_cache: bool,
    /// Let the engine pull the base images; `false` (the default) requires them locally and never pulls.
    pub pull: bool,
    /// Pin a uvx or npx package without a version to the index's latest (default `true`); `false` installs
    /// whatever is latest at build time and tags the image [`UNPINNED_TAG`].
    pub resolve_latest: bool,
    /// Where the latest versions are looked up.
    pub indexes: PackageIndexes,
    /// Environment of the builder stage only (ToolHive's `config set-build-env`): package mirrors
    /// (`PIP_INDEX_URL`, `NPM_CONFIG_REGISTRY`, `GOPROXY`), proxies. Not kept in the image that runs.
    pub build_env: BTreeMap<String, String>,
    /// The directory local packages (`go://./dir`) are resolved from and must stay inside; `None`: the
    /// current directory.
    pub local_root: Option<PathBuf>,
    /// Where images are mirrored (`[images] mirrors`): a package image a mirror holds (an air-gapped site that
    /// `thv-registry mirror push` filled, `localhost` mapped to it) is pulled from there instead of built.
    pub mirrors: BTreeMap<String, String>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            base_images: BaseImages::default(),
            ca_cert: None,
            no_cache: false,
            pull: false,
            resolve_latest: true,
            indexes: PackageIndexes::default(),
            build_env: BTreeMap::new(),
            local_root: None,
            mirrors: BTreeMap::new(),
        }
    }
}

/// A package image ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    /// The image reference ([`image_tag`] of `package`).
    pub image: String,
    /// The package, pinned to the version built.
    pub package: PackageSource,
    /// `false` when the image existed and was reused.
    pub built: bool,
}

/// Why a package image could not be built.
#[derive(Debug, Error)]
pub enum BuildError {
    #[error("invalid package: {0}")]
    InvalidPackage(#[from] thv_core::runconfig::PackageRuleError),
    #[error("invalid `ca_cert` {}: {reason}", .path.display())]
    CaCert { path: PathBuf, reason: String },
    #[error("invalid `build_env` entry `{name}`: {reason}")]
    BuildEnv { name: String, reason: String },
    #[error("invalid local package `{name}`: {reason}")]
    LocalPath {
        name: String,
        reason: context::LocalDirError,
    },
    #[error(transparent)]
    Version(#[from] VersionError),
    #[error(
        "the base image '{image}' (`{field}`) is missing: build the local base images with \
         scripts/build-base-images.sh, set `{field}` to an image present locally, or allow pulling"
    )]
    BaseImageMissing { field: String, image: String },
    #[error("cannot assemble the build context: {0}")]
    Context(#[from] std::io::Error),
    #[error("{message}\n--- last lines of the build output ---\n{}", .log_tail.join("\n"))]
    Failed {
        tag: String,
        message: String,
        log_tail: Vec<String>,
    },
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// The package pinned to a version: as given, or the index's latest (see the module documentation).
pub async fn pin_version(
    pkg: &PackageSource,
    opts: &BuildOptions,
) -> Result<PackageSource, BuildError> {
    pkg.check().map_err(BuildError::InvalidPackage)?;
    if pkg.version.is_some() || !opts.resolve_latest || is_local_path(pkg) {
        return Ok(pkg.clone());
    }
    let version = latest_version(pkg, &opts.indexes, opts.ca_cert.as_deref()).await?;
    Ok(PackageSource {
        version,
        ..pkg.clone()
    })
}

/// The Dockerfile that builds `pkg` (at the version given) with these options.
pub fn dockerfile(pkg: &PackageSource, opts: &BuildOptions) -> Result<String, BuildError> {
    pkg.check().map_err(BuildError::InvalidPackage)?;
    templates::render(
        pkg,
        &templates::TemplateInput {
            base_images: &opts.base_images,
            ca_cert: opts.ca_cert.is_some(),
            build_env: &opts.build_env,
        },
    )
}

/// The tar build context of `pkg`: the `Dockerfile`, the CA certificate, the npx entrypoint helper and the
/// local directory, as needed.
pub fn build_context(pkg: &PackageSource, opts: &BuildOptions) -> Result<Vec<u8>, BuildError> {
    let dockerfile = dockerfile(pkg, opts)?;
    let mut ctx = BuildContext::new();
    ctx.add_file("Dockerfile", dockerfile.as_bytes(), 0o644)?;
    if let Some(path) = &opts.ca_cert {
        ctx.add_file(templates::CA_CONTEXT_PATH, &read_ca_cert(path)?, 0o644)?;
    }
    if pkg.scheme == PackageScheme::Npx {
        ctx.add_file(
            templates::NPM_ENTRYPOINT_CONTEXT_PATH,
            templates::NPM_ENTRYPOINT_SCRIPT.as_bytes(),
            0o644,
        )?;
    }
    if is_local_path(pkg) {
        let root = match &opts.local_root {
            Some(r) => r.clone(),
            None => std::env::current_dir()?,
        };
        let dir = resolve_local_dir(&pkg.name, &root).map_err(|reason| BuildError::LocalPath {
            name: pkg.name.clone(),
            reason,
        })?;
        ctx.add_dir_tree(templates::LOCAL_SRC_CONTEXT_PATH, &dir)?;
    }
    Ok(ctx.finish()?)
}

/// A PEM certificate file: a readable regular file of at most 4 MiB holding at least one certificate.
fn read_ca_cert(path: &Path) -> Result<Vec<u8>, BuildError> {
    let fail = |reason: String| BuildError::CaCert {
        path: path.to_owned(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    if !meta.is_file() {
        return Err(fail("not a regular file".into()));
    }
    if meta.len() > MAX_CA_BYTES {
        return Err(fail(format!("larger than {MAX_CA_BYTES} bytes")));
    }
    let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    thv_core::tls::pem_certificates(&pem).map_err(|e| fail(e.to_string()))?;
    Ok(pem)
}

/// Pulls a package image from the mirror and names it as thv names it.
async fn from_mirror(
    runtime: &dyn Runtime,
    mirrored: &str,
    image: &str,
) -> Result<(), RuntimeError> {
    let mut progress = |line: &str| tracing::debug!(image = %mirrored, "{line}");
    runtime.pull_image(mirrored, &mut progress).await?;
    runtime.tag_image(mirrored, image).await
}

/// Builds the image of a package, or finds it already built (see the module documentation for the steps).
pub async fn build_package_image(
    runtime: &dyn Runtime,
    pkg: &PackageSource,
    opts: &BuildOptions,
) -> Result<BuiltImage, BuildError> {
    let pinned = pin_version(pkg, opts).await?;
    let image = image_tag(&pinned);
    let local = is_local_path(&pinned);
    if !local && !opts.no_cache && runtime.image_exists(&image).await? {
        tracing::info!(%image, "package image present: not building it again");
        return Ok(BuiltImage {
            image,
            package: pinned,
            built: false,
        });
    }
    if !local
        && !opts.no_cache
        && let Some(mirrored) = thv_core::oci::mirrored(&image, &opts.mirrors)
    {
        match from_mirror(runtime, &mirrored, &image).await {
            Ok(()) => {
                thv_core::errln!("{image}: from the mirror, {mirrored}");
                return Ok(BuiltImage {
                    image,
                    package: pinned,
                    built: false,
                });
            }
            Err(e) => tracing::warn!(%image, %mirrored, "not at the mirror, building it: {e}"),
        }
    }
    let context = build_context(&pinned, opts)?;
    if !opts.pull {
        for (field, base) in opts.base_images.named(pinned.scheme) {
            if !runtime.image_exists(base).await? {
                return Err(BuildError::BaseImageMissing {
                    field: field.to_owned(),
                    image: base.to_owned(),
                });
            }
        }
    }
    let mut labels = BTreeMap::new();
    labels.insert("toolhive-package".to_owned(), pinned.to_string());
    let build = ImageBuildOptions {
        tag: image.clone(),
        no_cache: opts.no_cache,
        pull: opts.pull,
        labels,
        ..Default::default()
    };
    tracing::info!(%image, package = %pinned, "building the package image");
    let started = std::time::Instant::now();
    let mut tail = VecDeque::with_capacity(LOG_TAIL_LINES);
    // The engine echoes the Dockerfile's steps, build environment values included: never shown or logged.
    let mask = |text: &str| env::mask_values(text, &opts.build_env);
    let mut progress = |line: &str| {
        let line = &mask(line);
        if line.starts_with("STEP ") || line.starts_with("Step ") {
            tracing::info!(image = %image, "{line}");
        } else {
            tracing::debug!(image = %image, "{line}");
        }
        if tail.len() == LOG_TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line.to_owned());
    };
    let built = runtime.build_image(context, &build, &mut progress).await;
    if !opts.build_env.is_empty() {
        // The builder stage's intermediate images hold the build environment (credentials of a package
        // mirror, say): removed, whether the build worked or not.
        match runtime
            .prune_labelled_images(templates::BUILD_STAGE_LABEL)
            .await
        {
            Ok(n) => tracing::debug!(removed = n, "builder-stage images removed"),
            Err(e) => tracing::warn!(error = %e, "cannot remove the builder-stage images"),
        }
    }
    match built {
        Ok(()) => {}
        Err(RuntimeError::BuildFailed { tag, message }) => {
            let message = mask(&message);
            let log_tail: Vec<String> = tail.into();
            let hint = tls_hint(&message, &log_tail, opts.ca_cert.is_some());
            return Err(BuildError::Failed {
                message: format!("building {tag} for {pinned} failed: {message}{hint}"),
                tag,
                log_tail,
            });
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(%image, seconds = started.elapsed().as_secs(), "package image built");
    Ok(BuiltImage {
        image,
        package: pinned,
        built: true,
    })
}

/// What the package tools print when a TLS-inspecting proxy's certificate is not trusted in the build.
const TLS_ERRORS: &[&str] = &[
    "SELF_SIGNED_CERT_IN_CHAIN",
    "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
    "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    "CERTIFICATE_VERIFY_FAILED",
    "self-signed certificate in certificate chain",
    "unable to get local issuer certificate",
    "certificate signed by unknown authority",
    "invalid peer certificate",
];

/// A hint after a build failure caused by an untrusted certificate: where to give the CA bundle.
fn tls_hint(message: &str, log_tail: &[String], has_ca_cert: bool) -> String {
    let tls = std::iter::once(message)
        .chain(log_tail.iter().map(String::as_str))
        .any(|l| TLS_ERRORS.iter().any(|e| l.contains(e)));
    match (tls, has_ca_cert) {
        (false, _) => String::new(),
        (true, false) => "\nthe package index's TLS certificate is not trusted in the build: pass the CA bundle \
                          with --ca-cert FILE (or set it once: thv config set-ca-cert FILE)"
            .to_owned(),
        (true, true) => "\nthe package index's TLS certificate is not trusted in the build, although a CA bundle \
                         was given: check that --ca-cert (or the configured ca_cert) holds the proxy's CA"
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_failures_say_where_the_ca_bundle_goes() {
        let tail = vec!["npm error code SELF_SIGNED_CERT_IN_CHAIN".to_owned()];
        assert!(tls_hint("exit 1", &tail, false).contains("--ca-cert FILE"));
        assert!(
            tls_hint("SSL: CERTIFICATE_VERIFY_FAILED", &[], true).contains("holds the proxy's CA")
        );
        assert_eq!(
            tls_hint("exit 1", &["No matching version".to_owned()], false),
            ""
        );
    }

    #[test]
    fn ca_cert_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let pkg = PackageSource::parse("uvx://x@1").unwrap().unwrap();
        let mut opts = BuildOptions::default();
        for (content, want) in [
            (None, "No such file"),
            (Some("not a cert"), "holds no PEM certificate"),
        ] {
            let path = dir.path().join("ca.pem");
            if let Some(c) = content {
                std::fs::write(&path, c).unwrap();
            }
            opts.ca_cert = Some(path);
            let e = build_context(&pkg, &opts).unwrap_err();
            assert!(matches!(e, BuildError::CaCert { .. }), "{e}");
            assert!(
                e.to_string().contains("ca_cert") && e.to_string().contains(want),
                "{e}"
            );
        }
        opts.ca_cert = Some(dir.path().to_owned());
        let e = build_context(&pkg, &opts).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }

    #[test]
    fn local_packages_are_resolved_from_the_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("root/srv")).unwrap();
        std::fs::write(dir.path().join("root/srv/main.go"), "package main\n").unwrap();
        let opts = BuildOptions {
            local_root: Some(dir.path().join("root")),
            ..Default::default()
        };
        let ok = PackageSource::parse("go://./srv").unwrap().unwrap();
        let tar = build_context(&ok, &opts).unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["Dockerfile", "src", "src/main.go"]);
        let escape = PackageSource::parse("go://../").unwrap().unwrap();
        let e = build_context(&escape, &opts).unwrap_err();
        assert!(matches!(e, BuildError::LocalPath { .. }), "{e}");
        assert!(e.to_string().contains("outside"), "{e}");
    }

    #[test]
    fn base_images_per_scheme() {
        let b = BaseImages::default();
        assert_eq!(
            b.for_scheme(PackageScheme::Go),
            (
                "localhost/thv-base-go:bookworm",
                "localhost/thv-base-debian:bookworm"
            )
        );
        assert_eq!(b.named(PackageScheme::Go).len(), 2);
        assert_eq!(b.for_scheme(PackageScheme::Uvx).0, b.uvx);
    }
}
