//! A mirror bundle as one tar file (`BUNDLE.tar`: the layout's files at the archive's root, as `skopeo copy
//! oci-archive:BUNDLE.tar:NAME` reads it), for carrying across the air gap as a single file.
//!
//! Packing is deterministic (sorted names, mode 0644, no owners, time 0) and atomic (a partial file renamed
//! into place). Unpacking takes only what a layout holds — `oci-layout`, `index.json` and regular files named
//! `blobs/sha256/<64 hex>` — and refuses anything else (links, devices, other paths, `..`), naming the entry;
//! what it unpacks is then verified like any layout.

use std::path::Path;

use super::MirrorError;
use super::layout::digest_hex;

/// Whether `path` names a bundle archive (`.tar`) rather than a directory.
pub fn is_archive(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "tar")
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
        let path = dir.join(name);
        let mut f = std::fs::File::open(&path).map_err(MirrorError::io(&path))?;
        let len = f.metadata().map_err(MirrorError::io(&path))?.len();
        let mut header = tar::Header::new_ustar();
        header.set_size(len);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, name, &mut f)
            .map_err(MirrorError::io(&path))?;
    }
    let writer = tar.into_inner().map_err(MirrorError::io(&partial))?;
    let file = writer
        .into_inner()
        .map_err(|e| MirrorError::io(&partial)(e.into_error()))?;
    file.sync_all().map_err(MirrorError::io(&partial))?;
    std::fs::rename(&partial, archive).map_err(MirrorError::io(archive))
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
