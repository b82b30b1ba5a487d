//! A mirror bundle as one tar file (`BUNDLE.tar`: the layout's files at the archive's root, as `skopeo copy
//! oci-archive:BUNDLE.tar:NAME` reads it), for carrying across the air gap as a single file.
//!
//! Packing is deterministic (sorted names, mode 0644, no owners, time 0) and atomic (a partial file renamed
//! into place). Unpacking takes only what a layout holds — `oci-layout`, `index.json` and regular files named
//! `blobs/sha256/<64 hex>` — and refuses anything else (links, devices, other paths, `..`), naming the entry;
//! what it unpacks is then verified like any layout.

use std::path::Path;

use super::MirrorError;
use super::layout::{Layout, digest_hex};

/// Whether `path` names a bundle archive (`.tar`) rather than a directory.
pub fn is_archive(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "tar")
}

/// A bundle opened for reading: a directory as it is, or an archive unpacked into a temporary directory beside
/// it (removed when this is dropped).
pub struct Opened {
    pub layout: Layout,
    _unpacked: Option<tempfile::TempDir>,
    _base: Option<Box<Opened>>,
}

/// Opens the bundle at `path` (a directory, or `.tar`).
pub fn open(path: &Path) -> Result<Opened, MirrorError> {
    if !is_archive(path) {
        return Ok(Opened {
            layout: Layout::open(path)?,
            _unpacked: None,
            _base: None,
        });
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = tempfile::Builder::new()
        .prefix(".thv-mirror-")
        .tempdir_in(parent)
        .map_err(MirrorError::io(parent))?;
    unpack(path, dir.path())?;
    Ok(Opened {
        layout: Layout::open(dir.path())?,
        _unpacked: Some(dir),
        _base: None,
    })
}

/// Opens the bundle at `path`, reading the blobs it lacks from the bundle at `base` when given (a delta).
pub fn open_with_base(path: &Path, base: Option<&Path>) -> Result<Opened, MirrorError> {
    let mut opened = open(path)?;
    if let Some(b) = base {
        let base = open(b)?;
        opened.layout = opened.layout.with_base(&base.layout);
        opened._base = Some(Box::new(base));
    }
    Ok(opened)
}

/// Packs the layout in `dir` into `archive`.
pub fn pack(dir: &Path, archive: &Path) -> Result<(), MirrorError> {
    let partial = archive.with_file_name(format!(
        ".partial-{}-{}",
        archive.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let file = std::fs::File::create(&partial).map_err(MirrorError::io(&partial))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    let mut names = vec!["oci-layout".to_owned(), "index.json".to_owned()];
    let blobs = dir.join("blobs/sha256");
    let mut hexes: Vec<String> = std::fs::read_dir(&blobs)
        .map_err(MirrorError::io(&blobs))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| digest_hex(&format!("sha256:{n}")).is_ok())
        .collect();
    hexes.sort();
    names.extend(hexes.into_iter().map(|h| format!("blobs/sha256/{h}")));
    for name in &names {
        append_file(&mut tar, name, &dir.join(name))?;
    }
    finish(tar, &partial, archive)
}

/// Appends the file at `path` as `name` (deterministic header).
fn append_file<W: std::io::Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    path: &Path,
) -> Result<(), MirrorError> {
    let mut f = std::fs::File::open(path).map_err(MirrorError::io(path))?;
    let len = f.metadata().map_err(MirrorError::io(path))?.len();
    tar.append_data(&mut header(len), name, &mut f)
        .map_err(MirrorError::io(path))
}

fn header(len: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_size(len);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    header
}

/// Ends the archive written to `partial` and renames it to `archive`.
fn finish(
    tar: tar::Builder<std::io::BufWriter<std::fs::File>>,
    partial: &Path,
    archive: &Path,
) -> Result<(), MirrorError> {
    let writer = tar.into_inner().map_err(MirrorError::io(partial))?;
    let file = writer
        .into_inner()
        .map_err(|e| MirrorError::io(partial)(e.into_error()))?;
    file.sync_all().map_err(MirrorError::io(partial))?;
    std::fs::rename(partial, archive).map_err(MirrorError::io(archive))
}

/// Writes one image of the layout as an `oci-archive` (what `podman load` and the Docker Engine API's
/// `/images/load` read): the image's manifest (or index, with the platform manifests the layout carries) named
/// `name` in its `index.json`, and every blob it references.
pub fn pack_image(
    layout: &Layout,
    digest: &str,
    media_type: &str,
    name: &str,
    archive: &Path,
) -> Result<(), MirrorError> {
    let mut blobs = Vec::new();
    closure(layout, digest, &mut blobs)?;
    let partial = archive.with_file_name(format!(
        ".partial-{}-{}",
        archive.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let file = std::fs::File::create(&partial).map_err(MirrorError::io(&partial))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    let size = std::fs::metadata(layout.blob_path(digest)?)
        .map_err(MirrorError::io(&layout.blob_path(digest)?))?
        .len();
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": super::OCI_INDEX, "manifests": [
        {"mediaType": media_type, "digest": digest, "size": size,
         "annotations": {super::REF_NAME: name, "io.containerd.image.name": name}}]});
    let layout_file = br#"{"imageLayoutVersion":"1.0.0"}"#;
    let index = serde_json::to_vec(&index).map_err(|e| MirrorError::Invalid(e.to_string()))?;
    for (entry, bytes) in [("oci-layout", &layout_file[..]), ("index.json", &index[..])] {
        tar.append_data(&mut header(bytes.len() as u64), entry, bytes)
            .map_err(MirrorError::io(&partial))?;
    }
    for d in &blobs {
        append_file(&mut tar, &format!("blobs/sha256/{}", digest_hex(d)?), &layout.blob_path(d)?)?;
    }
    finish(tar, &partial, archive)
}

/// `digest` and every blob it references that the layout holds (an index's platform manifests that were not
/// taken are absent), each once.
fn closure(layout: &Layout, digest: &str, out: &mut Vec<String>) -> Result<(), MirrorError> {
    if out.iter().any(|d| d == digest) {
        return Ok(());
    }
    out.push(digest.to_owned());
    let manifest = layout.read_json(digest)?;
    for child in manifest["manifests"].as_array().into_iter().flatten() {
        if let Some(d) = child["digest"].as_str()
            && layout.blob_path(d)?.is_file()
        {
            closure(layout, d, out)?;
        }
    }
    let config = manifest.get("config").into_iter();
    for d in config.chain(manifest["layers"].as_array().into_iter().flatten()) {
        let digest = d["digest"]
            .as_str()
            .ok_or_else(|| MirrorError::Invalid(format!("a descriptor without a digest: {d}")))?;
        if !out.iter().any(|o| o == digest) {
            out.push(digest.to_owned());
        }
    }
    Ok(())
}

/// Unpacks `archive` into the directory `dir` (created; see the module documentation for what is taken).
pub fn unpack(archive: &Path, dir: &Path) -> Result<(), MirrorError> {
    let file = std::fs::File::open(archive).map_err(MirrorError::io(archive))?;
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(MirrorError::io(&blobs))?;
    let bad = |entry: &str, reason: &str| MirrorError::NotABundle {
        path: archive.display().to_string(),
        reason: format!("entry '{entry}': {reason}"),
    };
    let mut tar = tar::Archive::new(std::io::BufReader::new(file));
    for entry in tar.entries().map_err(MirrorError::io(archive))? {
        let mut entry = entry.map_err(MirrorError::io(archive))?;
        let name = entry
            .path()
            .map_err(MirrorError::io(archive))?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_owned();
        let kind = entry.header().entry_type();
        if kind.is_dir() && matches!(name.trim_end_matches('/'), "blobs" | "blobs/sha256") {
            continue;
        }
        if !kind.is_file() {
            return Err(bad(&name, "not a regular file (links and devices are refused)"));
        }
        let target = match name.as_str() {
            "oci-layout" | "index.json" => dir.join(&name),
            _ => match name.strip_prefix("blobs/sha256/") {
                Some(hex) if digest_hex(&format!("sha256:{hex}")).is_ok() => blobs.join(hex),
                _ => return Err(bad(&name, "not a file of an OCI image layout")),
            },
        };
        let mut out = std::fs::File::create(&target).map_err(MirrorError::io(&target))?;
        std::io::copy(&mut entry, &mut out).map_err(MirrorError::io(&target))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_archive_holds_only_layout_files() {
        let dir = tempfile::tempdir().unwrap();
        let layout = super::super::layout::Layout::create(&dir.path().join("b")).unwrap();
        let (digest, _) = layout.put_bytes(b"blob").unwrap();
        layout.write_index(&[]).unwrap();
        let archive = dir.path().join("b.tar");
        pack(layout.root(), &archive).unwrap();
        let out = dir.path().join("out");
        unpack(&archive, &out).unwrap();
        assert_eq!(
            std::fs::read(out.join("blobs/sha256").join(&digest[7..])).unwrap(),
            b"blob"
        );
        assert!(out.join("oci-layout").is_file() && out.join("index.json").is_file());

        // A link, or a path outside the layout: refused, naming the entry.
        for (name, link) in [("blobs/sha256/x", false), ("../escape", false), ("index.json", true)] {
            let evil = dir.path().join("evil.tar");
            let mut b = tar::Builder::new(std::fs::File::create(&evil).unwrap());
            let mut h = tar::Header::new_gnu();
            h.set_size(if link { 0 } else { 1 });
            h.set_mode(0o644);
            if link {
                h.set_entry_type(tar::EntryType::Symlink);
                b.append_link(&mut h, name, "/etc/passwd").unwrap();
            } else {
                h.set_entry_type(tar::EntryType::Regular);
                // `append_data` refuses `..`; write the name raw.
                h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
                h.set_cksum();
                b.append(&h, &b"x"[..]).unwrap();
            }
            b.finish().unwrap();
            drop(b);
            let err = unpack(&evil, &dir.path().join("evil")).unwrap_err().to_string();
            assert!(err.contains(name.trim_start_matches("./")), "{name}: {err}");
        }
    }
}
