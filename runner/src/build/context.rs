//! The build context: an uncompressed tar archive, made in memory, holding the Dockerfile and the files it
//! copies (the extra CA certificate, helper scripts, a local Go directory).

use std::io;
use std::path::{Path, PathBuf};

/// The largest build context this module makes (a local directory bigger than this is refused).
pub const MAX_CONTEXT_BYTES: u64 = 256 * 1024 * 1024;

/// Directories never copied from a local package directory.
const SKIPPED_DIRS: [&str; 1] = [".git"];

/// A tar build context being assembled.
pub struct BuildContext {
    tar: tar::Builder<Vec<u8>>,
    bytes: u64,
}

impl Default for BuildContext {
    fn default() -> Self {
        Self::new()
    }
}

impl BuildContext {
    pub fn new() -> Self {
        let mut tar = tar::Builder::new(Vec::new());
        // A symlink in a local directory is stored as a link, never followed out of the directory.
        tar.follow_symlinks(false);
        Self { tar, bytes: 0 }
    }

    /// Adds a file at `path` (relative, `/`-separated) with this content and mode, owned by root, mtime 0 (the
    /// same content always makes the same archive).
    pub fn add_file(&mut self, path: &str, data: &[u8], mode: u32) -> io::Result<()> {
        self.count(data.len() as u64)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        self.tar.append_data(&mut header, path, data)
    }

    /// Adds the tree under `dir` below `prefix` (`src`): directories, regular files (with their modes) and
    /// symlinks (as links), in name order; `.git` directories, sockets, FIFOs and devices are left out.
    pub fn add_dir_tree(&mut self, prefix: &str, dir: &Path) -> io::Result<()> {
        self.tar.append_dir(prefix, dir)?;
        self.walk(Path::new(prefix), dir)
    }

    fn walk(&mut self, name: &Path, dir: &Path) -> io::Result<()> {
        let mut entries = std::fs::read_dir(dir)?.collect::<Result<Vec<_>, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let file_name = entry.file_name();
            let meta = std::fs::symlink_metadata(&path)?;
            let kind = meta.file_type();
            let target = name.join(&file_name);
            if kind.is_dir() {
                if SKIPPED_DIRS.iter().any(|s| file_name == *s) {
                    continue;
                }
                self.tar.append_dir(&target, &path)?;
                self.walk(&target, &path)?;
            } else if kind.is_file() || kind.is_symlink() {
                self.count(meta.len())?;
                self.tar.append_path_with_name(&path, &target)?;
            } else {
                tracing::debug!(path = %path.display(), "not a file, directory or symlink: left out of the build context");
            }
        }
        Ok(())
    }

    fn count(&mut self, len: u64) -> io::Result<()> {
        self.bytes = self.bytes.saturating_add(len);
        if self.bytes > MAX_CONTEXT_BYTES {
            return Err(io::Error::other(format!(
                "the build context exceeds {} MiB",
                MAX_CONTEXT_BYTES / (1024 * 1024)
            )));
        }
        Ok(())
    }

    /// The finished archive.
    pub fn finish(self) -> io::Result<Vec<u8>> {
        self.tar.into_inner()
    }
}

/// The directory of a local package (`go://./dir`): `name` resolved against `root` (an absolute `name` as
/// is), canonicalized (symlinks and `..` resolved), then required to be a directory inside `root`.
pub fn resolve_local_dir(name: &str, root: &Path) -> Result<PathBuf, LocalDirError> {
    let root = root.canonicalize().map_err(|error| LocalDirError::Base {
        root: root.to_owned(),
        error,
    })?;
    let joined = if Path::new(name).is_absolute() {
        PathBuf::from(name)
    } else {
        root.join(name)
    };
    let dir = joined
        .canonicalize()
        .map_err(|error| LocalDirError::Unresolved {
            name: name.to_owned(),
            root: root.clone(),
            error,
        })?;
    if !dir.starts_with(&root) {
        return Err(LocalDirError::Outside {
            name: name.to_owned(),
            dir,
            root,
        });
    }
    if !dir.is_dir() {
        return Err(LocalDirError::NotADirectory {
            name: name.to_owned(),
            dir,
        });
    }
    Ok(dir)
}

/// Why a local package's directory cannot be built from.
#[derive(Debug, thiserror::Error)]
pub enum LocalDirError {
    #[error("the base directory {} cannot be resolved: {error}", .root.display())]
    Base { root: PathBuf, error: io::Error },
    #[error("'{name}' cannot be resolved from {}: {error}", .root.display())]
    Unresolved {
        name: String,
        root: PathBuf,
        error: io::Error,
    },
    #[error(
        "'{name}' resolves to {}, outside {}: a local package must be inside the base directory",
        .dir.display(),
        .root.display()
    )]
    Outside {
        name: String,
        dir: PathBuf,
        root: PathBuf,
    },
    #[error("'{name}' ({}) is not a directory", .dir.display())]
    NotADirectory { name: String, dir: PathBuf },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(archive: &[u8]) -> Vec<(String, tar::EntryType)> {
        let mut a = tar::Archive::new(archive);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.header().entry_type(),
                )
            })
            .collect()
    }

    #[test]
    fn files_and_trees() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("pkg/sub")).unwrap();
        std::fs::create_dir_all(d.join("pkg/.git")).unwrap();
        std::fs::write(d.join("pkg/main.go"), "package main\n").unwrap();
        std::fs::write(d.join("pkg/sub/x.txt"), "x").unwrap();
        std::fs::write(d.join("pkg/.git/HEAD"), "ref").unwrap();
        std::fs::write(d.join("secret"), "do not copy").unwrap();
        std::os::unix::fs::symlink(d.join("secret"), d.join("pkg/link")).unwrap();

        let mut ctx = BuildContext::new();
        ctx.add_file("Dockerfile", b"FROM x\n", 0o644).unwrap();
        ctx.add_dir_tree("src", &d.join("pkg")).unwrap();
        let archive = ctx.finish().unwrap();
        let got = entries(&archive);
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "Dockerfile",
                "src",
                "src/link",
                "src/main.go",
                "src/sub",
                "src/sub/x.txt"
            ]
        );
        assert_eq!(got[2].1, tar::EntryType::Symlink);
        assert!(!String::from_utf8_lossy(&archive).contains("do not copy"));
    }

    #[test]
    fn local_dirs_must_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("app")).unwrap();
        std::fs::write(root.join("file"), "").unwrap();
        std::fs::create_dir_all(dir.path().join("outside")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside"), root.join("escape")).unwrap();

        let ok = resolve_local_dir("./app", &root).unwrap();
        assert_eq!(ok, root.canonicalize().unwrap().join("app"));
        assert!(resolve_local_dir(".", &root).is_ok());
        assert!(resolve_local_dir("./app/../app", &root).is_ok());
        for bad in ["../outside", "./app/../../outside", "./escape", "/etc"] {
            let e = resolve_local_dir(bad, &root).unwrap_err().to_string();
            assert!(e.contains("outside"), "{bad}: {e}");
        }
        assert!(
            resolve_local_dir("./file", &root)
                .unwrap_err()
                .to_string()
                .contains("not a directory")
        );
        assert!(
            resolve_local_dir("./missing", &root)
                .unwrap_err()
                .to_string()
                .contains("cannot be resolved")
        );
    }
}
