//! thv's store of loaded mirror bundles (`DATA/mirror/`), what `thv run` reads with no network:
//!
//! - `images.json`: every loaded image's record (the reference its entry names, the repository, the digest, its
//!   signature manifest and referrers), from the bundle's verified contents;
//! - `blobs/sha256/…` (an OCI image layout): the images' signature manifests and referrers with their blobs —
//!   the images themselves are in the container engine's store;
//! - `registry.json`: the loaded entries, each document as the bundle carried it (a server.json array; a
//!   later load replaces an entry of the same name and version);
//! - `trust/`: the carried trusted roots and keys, each named `<12 hex of its digest>-<name>`.
//!
//! Every file is written atomically; what is read back is what a verified bundle held.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::Context;
use nix::fcntl::{Flock, FlockArg};
use serde_json::Value;
use thv_core::mirror::contents::{ImageRecord, TrustFile};
use thv_core::mirror::layout::{Layout, write_atomic};
use thv_core::mirror::trust::image_signatures;
use thv_core::mirror::verify::Report;
use thv_core::signature::image::ImageSignatures;

pub struct MirrorStore {
    root: PathBuf,
}

/// The trust files installed from one bundle: their paths in the store.
#[derive(Debug, Default)]
pub struct InstalledTrust {
    pub trusted_roots: Vec<PathBuf>,
    pub entry_keys: Vec<PathBuf>,
    pub image_keys: Vec<PathBuf>,
}

impl MirrorStore {
    /// The store under thv's data directory.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            root: data_dir.join("mirror"),
        }
    }

    /// The store for this load alone (waits for another `thv mirror load` to finish): two loads at once would
    /// each merge into the lists and lose the other's additions.
    pub fn lock(&self) -> anyhow::Result<Flock<File>> {
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("cannot create {}", self.root.display()))?;
        let path = self.root.join(".lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| anyhow::anyhow!("cannot lock {}: {e}", path.display()))
    }

    /// A directory of this process for the image archives being loaded (`.load-<pid>`; that of a load no
    /// longer running is removed).
    pub fn scratch(&self) -> anyhow::Result<PathBuf> {
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("cannot create {}", self.root.display()))?;
        for item in std::fs::read_dir(&self.root)?.flatten() {
            let name = item.file_name().to_string_lossy().into_owned();
            let gone = name
                .strip_prefix(".load-")
                .is_some_and(|pid| !Path::new("/proc").join(pid).exists());
            if gone {
                let _ = std::fs::remove_dir_all(item.path());
            }
        }
        let dir = self.root.join(format!(".load-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(dir)
    }

    pub fn registry_file(&self) -> PathBuf {
        self.root.join("registry.json")
    }

    fn images_file(&self) -> PathBuf {
        self.root.join("images.json")
    }

    /// The loaded images' records; none when nothing was loaded.
    pub fn images(&self) -> anyhow::Result<Vec<ImageRecord>> {
        let path = self.images_file();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not thv's list of loaded images", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// The loaded image `image` names: by the reference its entry gives, or by `repository@digest`.
    pub fn find(&self, image: &str) -> anyhow::Result<Option<ImageRecord>> {
        Ok(self
            .images()?
            .into_iter()
            .find(|r| r.reference == image || format!("{}@{}", r.repository, r.digest) == image))
    }

    /// The signatures of a loaded image, as its bundle carried them.
    pub fn signatures(&self, image: &ImageRecord) -> anyhow::Result<ImageSignatures> {
        let layout = Layout::open(&self.root)?;
        Ok(image_signatures(&layout, image))
    }

    /// Adds a verified bundle: its images' signatures and records, its entries, its trust files. Returns the
    /// trust files installed and a line for each loaded entry the bundle replaced with other content.
    pub fn add(
        &self,
        bundle: &Layout,
        report: &Report,
    ) -> anyhow::Result<(InstalledTrust, Vec<String>)> {
        let layout = Layout::create(&self.root)?;
        let mut names = Vec::new();
        for image in &report.contents.images {
            for digest in image.signature.iter().chain(&image.referrers) {
                copy_manifest(bundle, &layout, digest)?;
                names.push(digest.clone());
            }
        }
        // index.json names what the store holds, so that it stays a layout other tools read.
        let mut index = layout
            .read_index()
            .ok()
            .and_then(|i| i["manifests"].as_array().cloned())
            .unwrap_or_default();
        for digest in names {
            if index.iter().any(|d| d["digest"] == digest.as_str()) {
                continue;
            }
            let bytes = bundle.read_blob(&digest)?;
            let media_type = serde_json::from_slice::<Value>(&bytes)?["mediaType"]
                .as_str()
                .unwrap_or(thv_core::mirror::OCI_MANIFEST)
                .to_owned();
            index.push(
                serde_json::json!({"mediaType": media_type, "digest": digest, "size": bytes.len()}),
            );
        }
        layout.write_index(&index)?;

        let mut images = self.images()?;
        for image in &report.contents.images {
            images.retain(|r| r.reference != image.reference);
            images.push(image.clone());
        }
        write_atomic(&self.images_file(), &serde_json::to_vec_pretty(&images)?)?;
        let replaced = self.add_entries(report)?;
        Ok((self.add_trust(bundle, report)?, replaced))
    }

    /// The entries into `registry.json`, each replacing a loaded one of the same name and version; a line for
    /// each replaced one whose content differs.
    fn add_entries(&self, report: &Report) -> anyhow::Result<Vec<String>> {
        let path = self.registry_file();
        let mut entries: Vec<Value> = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
                format!("{} is not a list of server.json documents", path.display())
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let mut added = BTreeMap::new();
        for e in &report.contents.entries {
            if let Some(doc) = report.documents.get(&e.digest) {
                added.insert((e.name.clone(), e.version.clone()), doc.clone());
            }
        }
        let mut replaced = Vec::new();
        entries.retain(|doc| {
            let key = (
                doc["name"].as_str().unwrap_or_default().to_owned(),
                doc["version"].as_str().unwrap_or_default().to_owned(),
            );
            match added.get(&key) {
                Some(new) if new != doc => {
                    replaced.push(format!(
                        "replaced {}@{}: loaded earlier with other content (bundle created {})",
                        key.0,
                        key.1,
                        thv_core::api::format_timestamp(&report.contents.created)
                    ));
                    false
                }
                Some(_) => false,
                None => true,
            }
        });
        entries.extend(added.into_values());
        write_atomic(&path, &serde_json::to_vec(&entries)?)?;
        Ok(replaced)
    }

    fn add_trust(&self, bundle: &Layout, report: &Report) -> anyhow::Result<InstalledTrust> {
        let dir = self.root.join("trust");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let install = |files: &[TrustFile]| -> anyhow::Result<Vec<PathBuf>> {
            files
                .iter()
                .map(|f| {
                    let hex = thv_core::mirror::layout::digest_hex(&f.digest)?;
                    let safe: String = f
                        .name
                        .chars()
                        .map(|c| {
                            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                                c
                            } else {
                                '_'
                            }
                        })
                        .collect();
                    let path = dir.join(format!("{}-{safe}", &hex[..12]));
                    write_atomic(&path, &bundle.read_blob(&f.digest)?)?;
                    Ok(path)
                })
                .collect()
        };
        let t = &report.contents.trust;
        Ok(InstalledTrust {
            trusted_roots: install(&t.trusted_roots)?,
            entry_keys: install(&t.entry_keys)?,
            image_keys: install(&t.image_keys)?,
        })
    }
}

/// Copies a manifest and the blobs it references from `from` to `to` (each checked on reading).
fn copy_manifest(from: &Layout, to: &Layout, digest: &str) -> anyhow::Result<()> {
    let bytes = from.read_blob(digest)?;
    let manifest: Value = serde_json::from_slice(&bytes)?;
    let config = manifest.get("config").into_iter();
    for d in config.chain(manifest["layers"].as_array().into_iter().flatten()) {
        if let Some(blob) = d["digest"].as_str() {
            to.put_bytes(&from.read_blob(blob)?)?;
        }
    }
    to.put_bytes(&bytes)?;
    Ok(())
}
