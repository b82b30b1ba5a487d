//! An OCI image layout on disk: `oci-layout`, `index.json` and content-addressed `blobs/sha256/<hex>`.
//!
//! A blob is streamed to a partial file beside its place while its SHA-256 is computed, and renamed into place
//! only when its digest and size are the expected ones: a blob file that exists is complete. A layout written
//! by a run that was killed is resumed by the next run, which keeps every blob already in place (checked again
//! before it is reused) and removes partial files. Digests are checked for their form before they become
//! paths: a bundle's `index.json` is input, and cannot name a file outside `blobs/sha256`.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWrite;

use super::MirrorError;

/// The largest JSON document (index, manifest, entry, contents) read into memory.
pub const MAX_JSON: u64 = 64 * 1024 * 1024;
const PARTIAL_PREFIX: &str = ".partial-";
/// The lock a bundle being written holds (at the layout's root; not packed).
pub const LOCK_FILE: &str = ".thv-mirror.lock";
/// Tells apart the partial files of one process.
static PARTIAL_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The hex part of a `sha256:<64 lowercase hex>` digest.
pub fn digest_hex(digest: &str) -> Result<&str, MirrorError> {
    match digest.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(hex)
        }
        _ => Err(MirrorError::BadDigest(digest.to_owned())),
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// An OCI image layout directory.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
    /// Layouts whose blobs this one may lack (a delta bundle's base): read, never written.
    bases: Vec<PathBuf>,
}

impl Layout {
    /// Creates the layout at `root`, or resumes the one there (its blobs are kept; partial files removed).
    pub fn create(root: &Path) -> Result<Self, MirrorError> {
        let blobs = root.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).map_err(MirrorError::io(&blobs))?;
        let layout = Self {
            root: root.to_owned(),
            bases: Vec::new(),
        };
        let marker = root.join("oci-layout");
        if !marker.exists() {
            write_atomic(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        for item in std::fs::read_dir(&blobs).map_err(MirrorError::io(&blobs))? {
            let item = item.map_err(MirrorError::io(&blobs))?;
            if item
                .file_name()
                .to_string_lossy()
                .starts_with(PARTIAL_PREFIX)
            {
                let _ = std::fs::remove_file(item.path());
            }
        }
        Ok(layout)
    }

    /// Creates the layout at `root` for writing a bundle: as [`Layout::create`], but a directory that holds
    /// files and is not a layout is refused (nothing of the user's is mixed into a bundle), and the layout is
    /// locked for this process (a second writer is refused, naming it). The lock goes with the returned file.
    pub fn create_for_writing(root: &Path) -> Result<(Self, std::fs::File), MirrorError> {
        let not_ours = root.is_dir()
            && !root.join("oci-layout").exists()
            && std::fs::read_dir(root)
                .map_err(MirrorError::io(root))?
                .next()
                .is_some();
        if not_ours {
            return Err(MirrorError::NotABundle {
                path: root.display().to_string(),
                reason:
                    "the directory holds files and no oci-layout: choose an empty or new output"
                        .into(),
            });
        }
        std::fs::create_dir_all(root).map_err(MirrorError::io(root))?;
        let lock_path = root.join(LOCK_FILE);
        let lock = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(MirrorError::io(&lock_path))?;
        if lock.try_lock().is_err() {
            return Err(MirrorError::Invalid(format!(
                "{}: another `mirror create` is writing it",
                root.display()
            )));
        }
        Ok((Self::create(root)?, lock))
    }

    /// Removes this layout's blobs (and anything else under `blobs/`) that `keep` does not name: what an
    /// earlier run over the same output wrote for another selection does not travel unlisted.
    pub fn retain_blobs(
        &self,
        keep: &std::collections::BTreeSet<String>,
    ) -> Result<usize, MirrorError> {
        let mut removed = 0;
        for path in self.unlisted(keep)? {
            let gone = if path.is_dir() && !path.is_symlink() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            gone.map_err(MirrorError::io(&path))?;
            removed += 1;
        }
        Ok(removed)
    }

    /// What this layout holds under `blobs/` besides the blobs `listed` names (other algorithms' directories,
    /// stray files).
    pub fn unlisted(
        &self,
        listed: &std::collections::BTreeSet<String>,
    ) -> Result<Vec<PathBuf>, MirrorError> {
        let blobs = self.root.join("blobs");
        let mut out = Vec::new();
        for item in std::fs::read_dir(&blobs).map_err(MirrorError::io(&blobs))? {
            let item = item.map_err(MirrorError::io(&blobs))?;
            if item.file_name() != "sha256" {
                out.push(item.path());
            }
        }
        let sha = blobs.join("sha256");
        for item in std::fs::read_dir(&sha).map_err(MirrorError::io(&sha))? {
            let item = item.map_err(MirrorError::io(&sha))?;
            let digest = format!("sha256:{}", item.file_name().to_string_lossy());
            if !listed.contains(&digest) {
                out.push(item.path());
            }
        }
        out.sort();
        Ok(out)
    }

    /// Opens an existing layout (its `oci-layout` must say version 1.0.0).
    pub fn open(root: &Path) -> Result<Self, MirrorError> {
        let not = |reason: String| MirrorError::NotABundle {
            path: root.display().to_string(),
            reason,
        };
        let marker = root.join("oci-layout");
        let text = std::fs::read(&marker).map_err(|e| not(format!("oci-layout: {e}")))?;
        let v: Value =
            serde_json::from_slice(&text).map_err(|e| not(format!("oci-layout: {e}")))?;
        if v["imageLayoutVersion"] != "1.0.0" {
            return Err(not(format!(
                "oci-layout: imageLayoutVersion {} (1.0.0 is read)",
                v["imageLayoutVersion"]
            )));
        }
        Ok(Self {
            root: root.to_owned(),
            bases: Vec::new(),
        })
    }

    /// Reads the blobs this layout lacks from `base` (a delta bundle over the bundle it was made against).
    pub fn with_base(mut self, base: &Layout) -> Self {
        self.bases.push(base.root.clone());
        self.bases.extend(base.bases.iter().cloned());
        self
    }

    /// Whether blobs this layout lacks are read from a base.
    pub fn has_base(&self) -> bool {
        !self.bases.is_empty()
    }

    /// Whether a blob is read from a base rather than from this layout.
    pub fn in_base(&self, digest: &str) -> Result<bool, MirrorError> {
        Ok(!self.own_path(digest)?.exists() && self.blob_path(digest)? != self.own_path(digest)?)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob `digest` is stored.
    /// Where the blob is read: this layout's file, else a base's that exists, else this layout's.
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf, MirrorError> {
        let own = self.own_path(digest)?;
        if own.exists() {
            return Ok(own);
        }
        let hex = digest_hex(digest)?;
        Ok(self
            .bases
            .iter()
            .map(|b| b.join("blobs/sha256").join(hex))
            .find(|p| p.exists())
            .unwrap_or(own))
    }

    /// Where the blob is written (in this layout, never a base).
    fn own_path(&self, digest: &str) -> Result<PathBuf, MirrorError> {
        Ok(self.root.join("blobs/sha256").join(digest_hex(digest)?))
    }

    /// Whether the blob is in place with this size and digest. A file that is not (cut short, changed) is
    /// removed, so that it is written again.
    pub fn has_blob(&self, digest: &str, size: u64) -> Result<bool, MirrorError> {
        let path = self.own_path(digest)?;
        match self.check_blob(digest, size) {
            Ok(()) => Ok(true),
            Err(_) if !path.exists() => Ok(false),
            Err(_) => {
                std::fs::remove_file(&path).map_err(MirrorError::io(&path))?;
                Ok(false)
            }
        }
    }

    /// Checks the blob's size and SHA-256 (read in pieces: any size).
    pub fn check_blob(&self, digest: &str, size: u64) -> Result<(), MirrorError> {
        use std::io::Read;
        let path = self.blob_path(digest)?;
        let blob_err = |reason: String| MirrorError::Blob {
            digest: digest.to_owned(),
            reason,
        };
        regular_file(&path).map_err(|e| blob_err(format!("missing ({e})")))?;
        let mut file =
            std::fs::File::open(&path).map_err(|e| blob_err(format!("missing ({e})")))?;
        let len = file.metadata().map_err(MirrorError::io(&path))?.len();
        if len != size {
            return Err(blob_err(format!("{len} bytes, the record says {size}")));
        }
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = file.read(&mut buf).map_err(MirrorError::io(&path))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let found = format!("sha256:{}", hex::encode(hasher.finalize()));
        if found != digest {
            return Err(blob_err(format!("the content's digest is {found}")));
        }
        Ok(())
    }

    /// Stores `bytes` as a blob (kept when already there); its descriptor fields (digest, size).
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<(String, u64), MirrorError> {
        let digest = sha256_digest(bytes);
        let size = bytes.len() as u64;
        if !self.has_blob(&digest, size)? {
            write_atomic(&self.own_path(&digest)?, bytes)?;
        }
        Ok((digest, size))
    }

    /// Stores what `reader` gives as a blob whose digest is found while writing (kept when already there); its
    /// descriptor fields. Memory stays bounded whatever the size.
    pub fn put_reader(&self, reader: &mut dyn std::io::Read) -> Result<(String, u64), MirrorError> {
        use std::io::Write;
        let partial = self.root.join("blobs/sha256").join(format!(
            "{PARTIAL_PREFIX}stream-{}-{}",
            std::process::id(),
            PARTIAL_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let mut file = std::fs::File::create(&partial).map_err(MirrorError::io(&partial))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = reader.read(&mut buf).map_err(MirrorError::io(&partial))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n])
                .map_err(MirrorError::io(&partial))?;
            size += n as u64;
        }
        file.sync_all().map_err(MirrorError::io(&partial))?;
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        if self.has_blob(&digest, size)? {
            let _ = std::fs::remove_file(&partial);
        } else {
            let target = self.own_path(&digest)?;
            std::fs::rename(&partial, &target).map_err(MirrorError::io(&target))?;
        }
        Ok((digest, size))
    }

    /// A writer of the blob `digest` of `size` bytes; [`BlobWriter::finish`] puts it in place.
    pub async fn blob_writer(&self, digest: &str, size: u64) -> Result<BlobWriter, MirrorError> {
        let target = self.own_path(digest)?;
        let partial = target.with_file_name(format!(
            "{PARTIAL_PREFIX}{}-{}",
            digest_hex(digest)?,
            std::process::id()
        ));
        let file = tokio::fs::File::create(&partial)
            .await
            .map_err(MirrorError::io(&partial))?;
        Ok(BlobWriter {
            file,
            hasher: Sha256::new(),
            written: 0,
            digest: digest.to_owned(),
            size,
            partial,
            target,
        })
    }

    /// A blob read whole; JSON documents only (at most [`MAX_JSON`] bytes), its digest checked.
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>, MirrorError> {
        let path = self.blob_path(digest)?;
        let bytes = read_bounded(&path)?;
        let found = sha256_digest(&bytes);
        if found != digest {
            return Err(MirrorError::Blob {
                digest: digest.to_owned(),
                reason: format!("the content's digest is {found}"),
            });
        }
        Ok(bytes)
    }

    /// A blob that is a JSON document.
    pub fn read_json(&self, digest: &str) -> Result<Value, MirrorError> {
        serde_json::from_slice(&self.read_blob(digest)?).map_err(|e| MirrorError::Blob {
            digest: digest.to_owned(),
            reason: format!("not JSON: {e}"),
        })
    }

    /// `index.json`.
    pub fn read_index(&self) -> Result<Value, MirrorError> {
        let path = self.root.join("index.json");
        let index: Value =
            serde_json::from_slice(&read_bounded(&path)?).map_err(|e| MirrorError::NotABundle {
                path: path.display().to_string(),
                reason: format!("not JSON: {e}"),
            })?;
        if !index["manifests"].is_array() {
            return Err(MirrorError::NotABundle {
                path: path.display().to_string(),
                reason: "no manifests list".into(),
            });
        }
        Ok(index)
    }

    /// Writes `index.json` listing `manifests` (atomically).
    pub fn write_index(&self, manifests: &[Value]) -> Result<(), MirrorError> {
        let index =
            json!({"schemaVersion": 2, "mediaType": super::OCI_INDEX, "manifests": manifests});
        let bytes = serde_json::to_vec_pretty(&index).expect("JSON");
        write_atomic(&self.root.join("index.json"), &bytes)
    }
}

/// A regular file, not a link, FIFO or device (opening a FIFO would wait forever).
fn regular_file(path: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_file() {
        Ok(())
    } else {
        Err(std::io::Error::other(
            "not a regular file (links, FIFOs and devices are refused)",
        ))
    }
}

/// Reads a file of at most [`MAX_JSON`] bytes.
fn read_bounded(path: &Path) -> Result<Vec<u8>, MirrorError> {
    use std::io::Read;
    regular_file(path).map_err(MirrorError::io(path))?;
    let file = std::fs::File::open(path).map_err(MirrorError::io(path))?;
    let mut bytes = Vec::new();
    file.take(MAX_JSON + 1)
        .read_to_end(&mut bytes)
        .map_err(MirrorError::io(path))?;
    if bytes.len() as u64 > MAX_JSON {
        return Err(MirrorError::Invalid(format!(
            "{}: larger than {MAX_JSON} bytes",
            path.display()
        )));
    }
    Ok(bytes)
}

/// Writes a file through a temporary file beside it and a rename: never half-written.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), MirrorError> {
    let tmp = path.with_file_name(format!(
        "{PARTIAL_PREFIX}{}-{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).map_err(MirrorError::io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(MirrorError::io(path))
}

/// A blob being written: hashed as it goes, put in place by [`Self::finish`] only when complete and right.
pub struct BlobWriter {
    file: tokio::fs::File,
    hasher: Sha256,
    written: u64,
    digest: String,
    size: u64,
    partial: PathBuf,
    target: PathBuf,
}

impl BlobWriter {
    /// Checks the size and digest written and renames the blob into place; a wrong one is removed.
    pub async fn finish(mut self) -> Result<(), MirrorError> {
        use tokio::io::AsyncWriteExt;
        self.file
            .flush()
            .await
            .map_err(MirrorError::io(&self.partial))?;
        self.file
            .sync_all()
            .await
            .map_err(MirrorError::io(&self.partial))?;
        let found = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
        let wrong = if self.written != self.size {
            Some(format!(
                "{} bytes received, {} expected",
                self.written, self.size
            ))
        } else if found != self.digest {
            Some(format!("the received content's digest is {found}"))
        } else {
            None
        };
        if let Some(reason) = wrong {
            let _ = tokio::fs::remove_file(&self.partial).await;
            return Err(MirrorError::Blob {
                digest: self.digest.clone(),
                reason,
            });
        }
        tokio::fs::rename(&self.partial, &self.target)
            .await
            .map_err(MirrorError::io(&self.target))
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // Not finished (an error, a cancelled pull): the partial file goes.
        if self.partial.exists() {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

impl AsyncWrite for BlobWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.file).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                this.hasher.update(&buf[..n]);
                this.written += n as u64;
                Poll::Ready(Ok(n))
            }
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.file).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.file).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_checked_before_they_become_paths() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        for bad in [
            "sha256:../../etc/passwd",
            "sha512:00",
            "sha256:ABCDEF0000000000000000000000000000000000000000000000000000000000",
            "",
        ] {
            assert!(matches!(
                layout.blob_path(bad),
                Err(MirrorError::BadDigest(_))
            ));
        }
    }

    #[tokio::test]
    async fn a_blob_is_in_place_only_when_complete_and_right() {
        use tokio::io::AsyncWriteExt;
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let data = b"layer bytes";
        let digest = sha256_digest(data);
        // Cut short: refused, nothing left.
        let mut w = layout
            .blob_writer(&digest, data.len() as u64)
            .await
            .unwrap();
        w.write_all(&data[..4]).await.unwrap();
        assert!(w.finish().await.is_err());
        assert!(!layout.has_blob(&digest, data.len() as u64).unwrap());
        // Whole: in place; a changed byte later is found and the file removed.
        let mut w = layout
            .blob_writer(&digest, data.len() as u64)
            .await
            .unwrap();
        w.write_all(data).await.unwrap();
        w.finish().await.unwrap();
        assert!(layout.has_blob(&digest, data.len() as u64).unwrap());
        let path = layout.blob_path(&digest).unwrap();
        std::fs::write(&path, b"layer bytez").unwrap();
        assert!(layout.check_blob(&digest, data.len() as u64).is_err());
        assert!(!layout.has_blob(&digest, data.len() as u64).unwrap());
        assert!(!path.exists());
        // A killed run's partial file is removed when the layout is resumed.
        std::fs::write(dir.path().join("blobs/sha256/.partial-x-1"), b"x").unwrap();
        Layout::create(dir.path()).unwrap();
        assert!(!dir.path().join("blobs/sha256/.partial-x-1").exists());
    }
}
