//! Writing a mirror bundle (see [`thv_core::mirror`] for its layout): the selected entries byte for byte, every
//! image they reference by digest with its cosign signature manifest and its referrers, and the signed contents.
//!
//! Blobs are streamed from the registry to disk (memory stays bounded whatever the layer size) and put in place
//! only when their digest is right; a blob already in place (an earlier run killed half-way, or a layer shared
//! with another image) is checked and reused, not fetched again.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use thv_core::mirror::contents::{
    BlobRecord, Contents, EntryRecord, ImageRecord, TrustFile, TrustRecord,
};
use thv_core::mirror::index;
use thv_core::mirror::layout::Layout;
use thv_core::mirror::verify::is_manifest;
use thv_core::mirror::{
    EMPTY_MEDIA_TYPE, ENTRIES_ARTIFACT_TYPE, ENTRIES_REF, ENTRY_MEDIA_TYPE, ENTRY_NAME_ANNOTATION,
    ENTRY_VERSION_ANNOTATION, MIRROR_ARTIFACT_TYPE, MIRROR_REF, OCI_MANIFEST,
    PUBLIC_KEY_MEDIA_TYPE, REF_NAME, TRUST_ARTIFACT_TYPE, TRUST_REF, TRUSTED_ROOT_MEDIA_TYPE,
};
use thv_core::oci::{OciDescriptor, RawManifest, Reference, Registry};
use thv_core::signature::keyless::ExpectedSigner;
use thv_core::signature::{self, BUNDLE_MEDIA_TYPE, SigStoreKeyPair};

use super::packages::{PackageBuilder, entry_package, package_image};
use crate::input::Entry;
use thv_core::runconfig::PackageSource;

/// What one run did, for its summary.
#[derive(Debug, Default)]
pub struct Stats {
    pub entries: usize,
    pub images: usize,
    pub blobs: usize,
    pub bytes: u64,
    /// Blobs fetched from a registry in this run.
    pub fetched: usize,
    /// Blobs found in place (an earlier run) and checked.
    pub reused: usize,
    /// Blobs another image of this bundle already had.
    pub shared: usize,
    /// Blobs the base bundle holds (`--since`: not written).
    pub in_base: usize,
    /// Blobs this bundle holds itself (all but the base's), and their bytes.
    pub written: usize,
    pub written_bytes: u64,
}

/// A file's name and bytes.
pub type NamedFile = (String, Vec<u8>);

/// The trust material to carry, read.
#[derive(Debug, Default)]
pub struct TrustFiles {
    pub trusted_roots: Vec<NamedFile>,
    pub entry_keys: Vec<NamedFile>,
    pub entry_signers: Vec<ExpectedSigner>,
    pub image_keys: Vec<NamedFile>,
}

/// A bundle being written.
pub struct Builder {
    layout: Layout,
    insecure: Vec<String>,
    platform: Platform,
    registries: BTreeMap<String, Registry>,
    blobs: BTreeMap<String, u64>,
    index: Vec<Value>,
    pub contents: Contents,
    pub stats: Stats,
    /// Bytes written, on a terminal.
    bar: indicatif::ProgressBar,
}

/// Which manifests of a multi-platform index are taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Platform {
    All,
    One { os: String, architecture: String },
}

impl Platform {
    /// `os/arch`, `all`, or this machine's (`linux/amd64` on x86-64).
    pub fn parse(arg: Option<&str>) -> anyhow::Result<Self> {
        match arg {
            Some("all") => Ok(Self::All),
            Some(p) => match p.split_once('/') {
                Some((os, arch)) if !os.is_empty() && !arch.is_empty() => Ok(Self::One {
                    os: os.to_owned(),
                    architecture: arch.to_owned(),
                }),
                _ => bail!("--platform {p}: expected OS/ARCH (linux/amd64) or all"),
            },
            None => Ok(Self::One {
                os: "linux".into(),
                architecture: match std::env::consts::ARCH {
                    "x86_64" => "amd64",
                    "aarch64" => "arm64",
                    other => other,
                }
                .into(),
            }),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::All => "all".into(),
            Self::One { os, architecture } => format!("{os}/{architecture}"),
        }
    }

    fn takes(&self, descriptor: &Value) -> bool {
        match self {
            Self::All => true,
            Self::One { os, architecture } => {
                descriptor["platform"]["os"] == os.as_str()
                    && descriptor["platform"]["architecture"] == architecture.as_str()
            }
        }
    }
}

impl Builder {
    pub fn new(
        layout: Layout,
        insecure: Vec<String>,
        platform: Platform,
        contents: Contents,
    ) -> Self {
        Self {
            layout,
            insecure,
            platform,
            registries: BTreeMap::new(),
            blobs: BTreeMap::new(),
            index: Vec::new(),
            contents,
            stats: Stats::default(),
            bar: super::progress_bar(),
        }
    }

    /// Adds the entries (their documents as read), every image they reference, and the images of their
    /// packages built with `packages` (needed when an entry runs a package).
    pub async fn add_entries(
        &mut self,
        entries: &[Entry],
        packages: Option<&PackageBuilder>,
    ) -> anyhow::Result<()> {
        let mut layers = Vec::new();
        let mut wanted = BTreeSet::new();
        let mut to_build = BTreeMap::new();
        for e in entries {
            let (name, version) = e.identity();
            let bytes = serde_json::to_vec(&e.value)?;
            let (digest, size) = self.put(&bytes)?;
            let mut images = thv_core::mirror::oci_images(&e.value);
            wanted.extend(images.iter().cloned());
            if let Some(pkg) = entry_package(&format!("{name}@{version}"), &e.value)? {
                let image = package_image(&pkg);
                images.push(image.clone());
                to_build.insert(image, pkg);
            }
            // A file name for tools that pull artifacts into files (`oras pull`): the name with `/` made `_`.
            let title: String = format!("{name}@{version}.json")
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._-@".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            layers.push(
                json!({"mediaType": ENTRY_MEDIA_TYPE, "digest": digest, "size": size,
                "annotations": {ENTRY_NAME_ANNOTATION: name, ENTRY_VERSION_ANNOTATION: version,
                                "org.opencontainers.image.title": title}}),
            );
            self.contents.entries.push(EntryRecord {
                name,
                version,
                digest,
                images,
            });
        }
        self.stats.entries = entries.len();
        for image in &wanted {
            self.add_image(image)
                .await
                .with_context(|| format!("image {image}"))?;
        }
        if !to_build.is_empty() {
            let builder = packages
                .context("package entries need a container engine to build their images")?;
            for pkg in to_build.values() {
                self.add_package(builder, pkg).await?;
            }
        }
        let annotations = json!({
            "org.opencontainers.image.created": thv_core::api::format_timestamp(&self.contents.created),
            "io.toolhive.mirror.source": self.contents.source,
            "io.toolhive.mirror.selection": serde_json::to_string(&self.contents.selection)?,
            "io.toolhive.mirror.entries": entries.len().to_string(),
            "io.toolhive.mirror.images": (wanted.len() + to_build.len()).to_string(),
        });
        let descriptor = self.artifact(ENTRIES_ARTIFACT_TYPE, layers, annotations)?;
        self.name(descriptor, ENTRIES_REF);
        Ok(())
    }

    /// Carries the trust material: each file is stored as a layer of the trust artifact and recorded in the
    /// contents (which the mirror operator signs).
    pub fn add_trust(&mut self, trust: &TrustFiles) -> anyhow::Result<()> {
        let mut layers = Vec::new();
        let mut record = TrustRecord {
            entry_signers: trust.entry_signers.clone(),
            ..TrustRecord::default()
        };
        let groups: [(&[NamedFile], &str, &mut Vec<TrustFile>); 3] = [
            (
                &trust.trusted_roots,
                TRUSTED_ROOT_MEDIA_TYPE,
                &mut record.trusted_roots,
            ),
            (
                &trust.entry_keys,
                PUBLIC_KEY_MEDIA_TYPE,
                &mut record.entry_keys,
            ),
            (
                &trust.image_keys,
                PUBLIC_KEY_MEDIA_TYPE,
                &mut record.image_keys,
            ),
        ];
        for (files, media_type, out) in groups {
            for (name, bytes) in files {
                let (digest, size) = self.put(bytes)?;
                layers.push(
                    json!({"mediaType": media_type, "digest": digest, "size": size,
                    "annotations": {"org.opencontainers.image.title": name}}),
                );
                out.push(TrustFile {
                    name: name.clone(),
                    digest,
                });
            }
        }
        if record.is_empty() {
            return Ok(());
        }
        let annotations = json!({"org.opencontainers.image.created":
            thv_core::api::format_timestamp(&self.contents.created)});
        let descriptor = self.artifact(TRUST_ARTIFACT_TYPE, layers, annotations)?;
        self.name(descriptor, TRUST_REF);
        self.contents.trust = record;
        Ok(())
    }

    /// Signs the contents, writes the contents artifact and `index.json`.
    pub fn finish(mut self, key: &SigStoreKeyPair) -> anyhow::Result<(Layout, Stats)> {
        self.contents.blobs = self
            .blobs
            .iter()
            .map(|(digest, size)| BlobRecord {
                digest: digest.clone(),
                size: *size,
            })
            .collect();
        self.bar.finish_and_clear();
        self.stats.blobs = self.blobs.len();
        self.stats.bytes = self.blobs.values().sum();
        for (digest, size) in &self.blobs {
            if !self.layout.in_base(digest)? {
                self.stats.written += 1;
                self.stats.written_bytes += size;
            }
        }
        let bundle = self.contents.sign(key)?;
        let (c_digest, c_size) = self.layout.put_bytes(&self.contents.canonical_bytes()?)?;
        let (s_digest, s_size) = self
            .layout
            .put_bytes(signature::bundle_to_json(&bundle)?.as_bytes())?;
        let layers = vec![
            json!({"mediaType": thv_core::mirror::CONTENTS_MEDIA_TYPE, "digest": c_digest, "size": c_size}),
            json!({"mediaType": BUNDLE_MEDIA_TYPE, "digest": s_digest, "size": s_size}),
        ];
        let annotations = json!({"org.opencontainers.image.created":
            thv_core::api::format_timestamp(&self.contents.created)});
        let descriptor = self.artifact(MIRROR_ARTIFACT_TYPE, layers, annotations)?;
        let mut keep: BTreeSet<String> = self.blobs.keys().cloned().collect();
        keep.extend([c_digest, s_digest]);
        keep.extend(descriptor["digest"].as_str().map(str::to_owned));
        self.name(descriptor, MIRROR_REF);
        self.layout.write_index(&self.index)?;
        // What an earlier run over this output wrote for another selection goes.
        self.layout.retain_blobs(&keep)?;
        Ok((self.layout, self.stats))
    }

    /// An artifact manifest (empty config) over `layers`; its descriptor.
    fn artifact(
        &mut self,
        artifact_type: &str,
        layers: Vec<Value>,
        annotations: Value,
    ) -> anyhow::Result<Value> {
        let (config_digest, config_size) = self.put(b"{}")?;
        let manifest = json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
            "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": config_digest, "size": config_size},
            "layers": layers, "annotations": annotations,
        });
        let bytes = serde_json::to_vec(&manifest)?;
        let (digest, size) = if artifact_type == MIRROR_ARTIFACT_TYPE {
            // The contents artifact is not in the contents it carries.
            self.layout.put_bytes(&bytes)?
        } else {
            self.put(&bytes)?
        };
        Ok(
            json!({"mediaType": OCI_MANIFEST, "artifactType": artifact_type, "digest": digest, "size": size}),
        )
    }

    /// Lists `descriptor` in `index.json` under `name`.
    fn name(&mut self, mut descriptor: Value, name: &str) {
        descriptor["annotations"] = json!({REF_NAME: name});
        self.index.push(descriptor);
    }

    /// Stores a blob of this bundle from memory.
    fn put(&mut self, bytes: &[u8]) -> anyhow::Result<(String, u64)> {
        let (digest, size) = self.layout.put_bytes(bytes)?;
        self.blobs.insert(digest.clone(), size);
        Ok((digest, size))
    }

    fn registry(&mut self, image: &Reference) -> &Registry {
        let host = image.resolve_registry().to_owned();
        let insecure = &self.insecure;
        self.registries
            .entry(host.clone())
            .or_insert_with(|| Registry::new(&host, insecure))
    }

    /// One image by digest: its manifest (or index and the manifests of the platforms taken), their blobs, its
    /// cosign signature manifest and its referrers.
    async fn add_image(&mut self, reference: &str) -> anyhow::Result<()> {
        self.bar.set_message(format!("mirroring {reference}"));
        let image: Reference = reference
            .parse()
            .map_err(|e| anyhow::anyhow!("not an image reference: {e}"))?;
        let raw = self
            .registry(&image)
            .raw_manifest(&image)
            .await?
            .with_context(|| "not found in its registry".to_string())?;
        if let Some(pinned) = image.digest()
            && pinned != raw.digest
        {
            bail!("the registry answered {} for {pinned}", raw.digest);
        }
        let repository = format!("{}/{}", image.registry(), image.repository());
        let digest = raw.digest.clone();
        let media_type = raw.media_type.clone();
        let descriptor = self.store_manifest(&image, raw).await?;
        self.check_platform(&descriptor)?;
        let registry = self.registry(&image);
        let sig_ref = registry.signature_tag(&image, &digest);
        let sig = match registry.raw_manifest(&sig_ref).await? {
            Some(sig) => {
                let sig_digest = sig.digest.clone();
                Some((sig_digest, self.store_manifest(&sig_ref, sig).await?))
            }
            None => None,
        };
        let referrers = self.registry(&image).referrers(&image, &digest).await?;
        let mut carried = Vec::new();
        for r in &referrers.manifests {
            let at = self.registry(&image).at(&image, &r.digest);
            let Some(raw) = self.registry(&image).raw_manifest(&at).await? else {
                bail!(
                    "its referrer {} is listed but not in the registry",
                    r.digest
                );
            };
            let mut descriptor = self.store_manifest(&at, raw).await?;
            if let Some(t) = &r.artifact_type {
                descriptor["artifactType"] = json!(t);
            }
            carried.push((r.digest.clone(), descriptor));
        }
        let record = ImageRecord {
            reference: reference.to_owned(),
            repository,
            digest,
            media_type,
            signature: sig.as_ref().map(|(d, _)| d.clone()),
            referrers: carried.iter().map(|(d, _)| d.clone()).collect(),
            package: None,
        };
        self.name(descriptor, &index::image_name(&record));
        if let Some((_, d)) = sig {
            self.name(d, &index::signature_name(&record));
        }
        for (r, d) in carried {
            self.name(d, &index::referrer_name(&record, &r));
        }
        self.contents.images.push(record);
        self.stats.images += 1;
        Ok(())
    }

    /// A single-platform image must be of the platform asked for (an index: see [`Builder::store_manifest`]).
    fn check_platform(&self, descriptor: &Value) -> anyhow::Result<()> {
        let Platform::One { os, architecture } = &self.platform else {
            return Ok(());
        };
        let Some(digest) = descriptor["digest"].as_str() else {
            return Ok(());
        };
        let manifest = self.layout.read_json(digest)?;
        let Some(config) = manifest["config"]["digest"].as_str() else {
            return Ok(());
        };
        let config = self.layout.read_json(config)?;
        let (Some(has_os), Some(has_arch)) =
            (config["os"].as_str(), config["architecture"].as_str())
        else {
            return Ok(());
        };
        if has_os != os || has_arch != architecture {
            bail!(
                "it is a {has_os}/{has_arch} image only; the bundle is for {os}/{architecture} (--platform)"
            );
        }
        Ok(())
    }

    /// A package's image, built (or found built) by the engine and taken from it.
    async fn add_package(
        &mut self,
        builder: &PackageBuilder,
        pkg: &PackageSource,
    ) -> anyhow::Result<()> {
        self.bar.set_message(format!("building {pkg}"));
        let scratch = self.layout.root().join("blobs/sha256");
        let built = builder.build(pkg, &scratch).await?;
        let manifest = thv_core::mirror::archive::import_image_archive(
            &self.layout,
            &built.archive,
            built.annotations.clone(),
        );
        let _ = std::fs::remove_file(&built.archive);
        let manifest =
            manifest.with_context(|| format!("taking {} from the engine", built.image))?;
        let parsed: Value = serde_json::from_slice(&manifest)?;
        let config = parsed.get("config").into_iter();
        for d in config.chain(parsed["layers"].as_array().into_iter().flatten()) {
            let digest = d["digest"]
                .as_str()
                .context("a descriptor without a digest")?
                .to_owned();
            let size = d["size"].as_u64().context("a descriptor without a size")?;
            if self.blobs.insert(digest, size).is_some() {
                self.stats.shared += 1;
            } else {
                self.stats.fetched += 1;
            }
            self.bar.inc(size);
        }
        let (digest, size) = self.put(&manifest)?;
        let (repository, _) = built.image.rsplit_once(':').unwrap_or((&built.image, ""));
        let record = ImageRecord {
            reference: built.image.clone(),
            repository: repository.to_owned(),
            digest: digest.clone(),
            media_type: OCI_MANIFEST.to_owned(),
            signature: None,
            referrers: Vec::new(),
            package: Some(built.record),
        };
        self.name(
            json!({"mediaType": OCI_MANIFEST, "digest": digest, "size": size}),
            &index::image_name(&record),
        );
        self.contents.images.push(record);
        self.stats.images += 1;
        Ok(())
    }

    /// Stores a manifest and what it references (an index: the manifests of the platforms taken); its
    /// descriptor.
    async fn store_manifest(&mut self, at: &Reference, raw: RawManifest) -> anyhow::Result<Value> {
        let manifest: Value = serde_json::from_slice(&raw.bytes)
            .with_context(|| format!("{at}: the manifest is not JSON"))?;
        let children = manifest["manifests"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let is_image_index = children.iter().any(|c| c["platform"].is_object());
        if is_image_index && !children.iter().any(|c| self.platform.takes(c)) {
            let has: Vec<String> = children
                .iter()
                .filter_map(|c| {
                    Some(format!(
                        "{}/{}",
                        c["platform"]["os"].as_str()?,
                        c["platform"]["architecture"].as_str()?
                    ))
                })
                .collect();
            bail!(
                "{at} has no {} image (it has {}): choose --platform",
                self.platform.describe(),
                has.join(", ")
            );
        }
        for child in children {
            if !self.platform.takes(&child) {
                continue;
            }
            let digest = child["digest"]
                .as_str()
                .context("an index entry without a digest")?;
            let child_ref = self.registry(at).at(at, digest);
            let child_raw = self
                .registry(at)
                .raw_manifest(&child_ref)
                .await?
                .with_context(|| {
                    format!("{child_ref}: listed by its index but not in the registry")
                })?;
            Box::pin(self.store_manifest(&child_ref, child_raw)).await?;
        }
        let config = manifest.get("config").into_iter();
        for d in config.chain(manifest["layers"].as_array().into_iter().flatten()) {
            let descriptor: OciDescriptor = serde_json::from_value(d.clone())
                .with_context(|| format!("{at}: a descriptor of its manifest: {d}"))?;
            self.fetch_blob(at, &descriptor).await?;
        }
        let (digest, size) = self.put(&raw.bytes)?;
        if digest != raw.digest {
            bail!(
                "{at}: the manifest's content is {digest}, the registry said {}",
                raw.digest
            );
        }
        Ok(json!({"mediaType": raw.media_type, "digest": digest, "size": size}))
    }

    /// Streams one blob into the layout, unless it is there already (checked).
    async fn fetch_blob(&mut self, at: &Reference, d: &OciDescriptor) -> anyhow::Result<()> {
        let size = u64::try_from(d.size).context("a negative blob size")?;
        if self.blobs.contains_key(&d.digest) {
            self.stats.shared += 1;
            return Ok(());
        }
        if is_manifest(&d.media_type) {
            bail!("{at}: a manifest as a layer ({})", d.digest);
        }
        if self.layout.in_base(&d.digest)? && self.layout.has_blob(&d.digest, size)? {
            self.stats.in_base += 1;
        } else if self.layout.has_blob(&d.digest, size)? {
            self.stats.reused += 1;
        } else {
            let mut writer = self.layout.blob_writer(&d.digest, size).await?;
            self.registry(at).blob_to(at, d, &mut writer).await?;
            writer.finish().await?;
            self.stats.fetched += 1;
        }
        self.blobs.insert(d.digest.clone(), size);
        self.bar.inc(size);
        Ok(())
    }
}
