//! Package entries in a mirror bundle. An entry that runs an npm or PyPI package (no OCI image, no remote) is
//! built here, online, into the image `thv run` would build for it — thv's own builder ([`thv::build`]): the
//! same Dockerfile, base image, pinned version and name (`localhost/thv-npx-<name>:<version>`) — and the image is
//! taken from the container engine into the bundle as an OCI image, annotated with the package's identity,
//! version and the hashes the index gives for its files. On the disconnected side `thv mirror load` puts it in
//! the engine under that name, so `thv run NAME` finds it and builds nothing: no npm, PyPI or Go there. The
//! entry itself is not changed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use thv::build::{BaseImages, BuildOptions, build_package_image, image_tag, package_files};
use thv::runtime::Runtime;
use thv::runtime::docker::DockerRuntime;
use thv_core::mirror::contents::PackageRecord;
use thv_core::runconfig::{PackageScheme, PackageSource};
use thv_core::server::ServerJson;

/// The package an entry runs, pinned: `None` for an image or a remote. An unpinned package is refused — the
/// disconnected side could not tell which image to run.
pub fn entry_package(name: &str, doc: &Value) -> anyhow::Result<Option<PackageSource>> {
    let Ok(server) = serde_json::from_value::<ServerJson>(doc.clone()) else {
        return Ok(None);
    };
    let Some(pkg) = thv_core::runconfig::resolve::package_of(&server).unwrap_or(None) else {
        return Ok(None);
    };
    if pkg.version.is_none() {
        bail!(
            "entry {name}: its package {} names no version, so the disconnected side could not tell which \
             image to run; pin the version in the entry",
            pkg
        );
    }
    Ok(Some(pkg))
}

/// The image name thv gives a package's image.
pub fn package_image(pkg: &PackageSource) -> String {
    image_tag(pkg)
}

/// Builds package images through the container engine.
pub struct PackageBuilder {
    runtime: Arc<dyn Runtime>,
    opts: BuildOptions,
}

/// One package image, exported.
pub struct BuiltPackage {
    /// The image name (thv's).
    pub image: String,
    pub record: PackageRecord,
    /// The engine's export (`docker save` format), in the scratch directory.
    pub archive: PathBuf,
    /// The manifest annotations.
    pub annotations: Value,
}

impl PackageBuilder {
    /// The engine (`DOCKER_HOST`, else the usual sockets) and thv's build options: base images from
    /// `THV_BASE_*_IMAGE` or the defaults, `ca_cert` installed into the images, and the package tools' variables
    /// of this environment (`NPM_CONFIG_REGISTRY`, `PIP_INDEX_URL`, ...) in the builder stage, as `thv` does.
    pub async fn connect(ca_cert: Option<PathBuf>) -> anyhow::Result<Self> {
        let runtime = DockerRuntime::connect()
            .await
            .context("package entries are built into images through a container engine")?;
        Ok(Self {
            runtime: Arc::new(runtime),
            opts: BuildOptions {
                base_images: BaseImages::from_env(),
                ca_cert,
                build_env: thv::build::env::from_process(&[], &Default::default()),
                ..BuildOptions::default()
            },
        })
    }

    /// Builds (or finds built) the image of `pkg` and exports it into `scratch`.
    pub async fn build(&self, pkg: &PackageSource, scratch: &Path) -> anyhow::Result<BuiltPackage> {
        let built = build_package_image(self.runtime.as_ref(), pkg, &self.opts)
            .await
            .with_context(|| format!("building {pkg}"))?;
        let files = package_files(
            &built.package,
            &self.opts.indexes,
            self.opts.ca_cert.as_deref(),
        )
        .await
        .with_context(|| format!("the file hashes of {}", built.package))?;
        let (_, base_image) = self.opts.base_images.for_scheme(pkg.scheme);
        let record = PackageRecord {
            registry_type: match pkg.scheme {
                PackageScheme::Npx => "npm",
                PackageScheme::Uvx => "pypi",
                PackageScheme::Go => "go",
            }
            .to_owned(),
            identifier: built.package.name.clone(),
            version: built.package.version.clone().unwrap_or_default(),
            files,
            base_image: base_image.to_owned(),
        };
        let archive = scratch.join(format!(".partial-package-{}.tar", std::process::id()));
        self.runtime
            .export_image(&built.image, &archive)
            .await
            .with_context(|| format!("exporting {} from the engine", built.image))?;
        let annotations = json!({
            "org.opencontainers.image.ref.name": built.image,
            "io.toolhive.package.registry-type": record.registry_type,
            "io.toolhive.package.identifier": record.identifier,
            "io.toolhive.package.version": record.version,
            "io.toolhive.package.files": record.files.join(", "),
            "io.toolhive.package.base-image": record.base_image,
        });
        Ok(BuiltPackage {
            image: built.image,
            record,
            archive,
            annotations,
        })
    }
}
