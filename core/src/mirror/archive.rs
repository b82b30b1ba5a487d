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
    // Beside the archive (same file system, room for it), else in the temporary directory (read-only media).
    let dir = tempfile::Builder::new()
        .prefix(".thv-mirror-")
        .tempdir_in(parent)
        .or_else(|_| tempfile::Builder::new().prefix("thv-mirror-").tempdir())
        .map_err(MirrorError::io(parent))?;
    unpack(path, dir.path())?;
    let layout = Layout::open(dir.path()).map_err(|e| match e {
        MirrorError::NotABundle { reason, .. } => MirrorError::NotABundle {
            path: path.display().to_string(),
            reason,
        },
        other => other,
    })?;
    Ok(Opened {
        layout,
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
    let (partial, mut tar) = start(archive)?;
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

/// An archive being written to a partial file beside `archive` ([`finish`] renames it into place).
fn start(
    archive: &Path,
) -> Result<
    (
        std::path::PathBuf,
        tar::Builder<std::io::BufWriter<std::fs::File>>,
    ),
    MirrorError,
> {
    let partial = archive.with_file_name(format!(
        ".partial-{}-{}",
        archive.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let file = std::fs::File::create(&partial).map_err(MirrorError::io(&partial))?;
    Ok((partial, tar::Builder::new(std::io::BufWriter::new(file))))
}

/// A tar entry's path, without a leading `./`.
fn entry_name<R: std::io::Read>(
    entry: &tar::Entry<'_, R>,
    archive: &Path,
) -> Result<String, MirrorError> {
    Ok(entry
        .path()
        .map_err(MirrorError::io(archive))?
        .to_string_lossy()
        .trim_start_matches("./")
        .to_owned())
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
    let (partial, mut tar) = start(archive)?;
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
        append_file(
            &mut tar,
            &format!("blobs/sha256/{}", digest_hex(d)?),
            &layout.blob_path(d)?,
        )?;
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
        let name = entry_name(&entry, archive)?;
        let kind = entry.header().entry_type();
        if kind.is_dir() && matches!(name.trim_end_matches('/'), "blobs" | "blobs/sha256") {
            continue;
        }
        if !kind.is_file() {
            return Err(bad(
                &name,
                "not a regular file (links and devices are refused)",
            ));
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

/// An image the container engine exported (`docker save`'s format, as `GET /images/{name}/get` writes it:
/// `manifest.json` naming the config and the layer tars), taken into the layout as an OCI image: every file
/// streamed into a blob, the layers as uncompressed OCI layers (their digests are the image's diff IDs). Returns
/// the OCI manifest (not stored: the caller names it) carrying `annotations`.
pub fn import_image_archive(
    layout: &Layout,
    archive: &Path,
    annotations: serde_json::Value,
) -> Result<Vec<u8>, MirrorError> {
    let file = std::fs::File::open(archive).map_err(MirrorError::io(archive))?;
    let bad = |reason: String| MirrorError::NotABundle {
        path: archive.display().to_string(),
        reason,
    };
    let mut tar = tar::Archive::new(std::io::BufReader::new(file));
    let mut stored: std::collections::BTreeMap<String, (String, u64)> = Default::default();
    let mut manifest: Option<serde_json::Value> = None;
    for entry in tar.entries().map_err(MirrorError::io(archive))? {
        let mut entry = entry.map_err(MirrorError::io(archive))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry_name(&entry, archive)?;
        if name == "manifest.json" {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).map_err(MirrorError::io(archive))?;
            manifest = Some(
                serde_json::from_slice(&bytes).map_err(|e| bad(format!("manifest.json: {e}")))?,
            );
            continue;
        }
        // What else the engines write (the legacy per-layer `json`/`VERSION`, Docker 25's OCI index) is not
        // needed: the config and layers are taken as manifest.json names them.
        let base = name.rsplit('/').next().unwrap_or_default();
        if matches!(
            base,
            "repositories" | "index.json" | "oci-layout" | "json" | "VERSION"
        ) {
            continue;
        }
        let stored_as = layout.put_reader(&mut entry)?;
        stored.insert(name, stored_as);
    }
    let manifest = manifest.ok_or_else(|| bad("no manifest.json (not an image archive)".into()))?;
    let [image] = manifest.as_array().map(Vec::as_slice).unwrap_or_default() else {
        return Err(bad(format!(
            "manifest.json lists {} images, not one",
            manifest.as_array().map_or(0, Vec::len)
        )));
    };
    let file_of = |path: &str| {
        stored
            .get(path.trim_start_matches("./"))
            .cloned()
            .ok_or_else(|| {
                bad(format!(
                    "manifest.json names {path}, which the archive does not hold"
                ))
            })
    };
    let (config, config_size) = file_of(image["Config"].as_str().unwrap_or_default())?;
    let mut layers = Vec::new();
    for l in image["Layers"].as_array().into_iter().flatten() {
        let (digest, size) = file_of(l.as_str().unwrap_or_default())?;
        layers.push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": size}));
    }
    let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": super::OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
        "layers": layers, "annotations": annotations});
    serde_json::to_vec(&manifest).map_err(|e| MirrorError::Invalid(e.to_string()))
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
        for (name, link) in [
            ("blobs/sha256/x", false),
            ("../escape", false),
            ("index.json", true),
        ] {
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
            let err = unpack(&evil, &dir.path().join("evil"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(name.trim_start_matches("./")), "{name}: {err}");
        }
    }

    /// What `docker save` / `GET /images/{name}/get` writes: manifest.json naming the config and layers.
    #[test]
    fn an_engine_export_becomes_an_oci_image_and_packs_back() {
        let dir = tempfile::tempdir().unwrap();
        let export = dir.path().join("export.tar");
        let mut b = tar::Builder::new(std::fs::File::create(&export).unwrap());
        let files: [(&str, &[u8]); 5] = [
            ("abc.json", br#"{"rootfs":{"type":"layers"}}"#),
            ("l1/layer.tar", b"first layer"),
            ("l1/json", b"{}"),
            ("repositories", b"{}"),
            (
                "manifest.json",
                br#"[{"Config":"abc.json","RepoTags":["x:1"],"Layers":["l1/layer.tar"]}]"#,
            ),
        ];
        for (name, bytes) in files {
            b.append_data(&mut header(bytes.len() as u64), name, bytes)
                .unwrap();
        }
        b.finish().unwrap();
        drop(b);
        let layout = Layout::create(&dir.path().join("bundle")).unwrap();
        let manifest =
            import_image_archive(&layout, &export, serde_json::json!({"k": "v"})).unwrap();
        let m: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        let layer = super::super::layout::sha256_digest(b"first layer");
        assert_eq!(m["layers"][0]["digest"], layer.as_str());
        assert_eq!(
            m["layers"][0]["mediaType"],
            "application/vnd.oci.image.layer.v1.tar"
        );
        assert_eq!(
            m["config"]["digest"],
            super::super::layout::sha256_digest(br#"{"rootfs":{"type":"layers"}}"#).as_str()
        );
        assert_eq!(m["annotations"]["k"], "v");
        assert_eq!(layout.read_blob(&layer).unwrap(), b"first layer");
        // Only what manifest.json names is stored.
        let stored = std::fs::read_dir(layout.root().join("blobs/sha256"))
            .unwrap()
            .count();
        assert_eq!(stored, 2);
        // And packed as one image for an engine to load.
        let (digest, _) = layout.put_bytes(&manifest).unwrap();
        let image = dir.path().join("image.tar");
        pack_image(&layout, &digest, crate::mirror::OCI_MANIFEST, "x:1", &image).unwrap();
        let out = dir.path().join("image");
        unpack(&image, &out).unwrap();
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
        assert_eq!(index["manifests"][0]["digest"], digest.as_str());
        assert_eq!(
            index["manifests"][0]["annotations"][crate::mirror::REF_NAME],
            "x:1"
        );
        assert_eq!(
            std::fs::read_dir(out.join("blobs/sha256")).unwrap().count(),
            3
        );

        // An export without manifest.json is named as such.
        let bad = dir.path().join("bad.tar");
        let mut b = tar::Builder::new(std::fs::File::create(&bad).unwrap());
        b.append_data(&mut header(1), "x", &b"x"[..]).unwrap();
        b.finish().unwrap();
        drop(b);
        let err = import_image_archive(&layout, &bad, serde_json::json!({}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no manifest.json"), "{err}");
    }
}
