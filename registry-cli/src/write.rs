//! Writing output files safely: the new content goes to a temporary file in the same directory, is flushed to
//! disk, and replaces the target with one `rename`, so a reader (or a crash) sees the old file or the new one,
//! never half of either. A failed write leaves the target untouched and removes the temporary file. An existing
//! target's permissions are kept.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Replaces (or creates) `path` with `contents`, atomically.
pub fn atomic_write(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .with_context(|| format!("{}: not a file path", path.display()))?
        .to_string_lossy()
        .into_owned();
    let tmp = dir.join(format!(
        ".{file_name}.tmp-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    let result = (|| -> anyhow::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
        f.write_all(contents)
            .and_then(|()| f.sync_all())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        if let Ok(meta) = std::fs::metadata(path) {
            // Keep the mode of the file being replaced (best effort).
            let _ = std::fs::set_permissions(&tmp, meta.permissions());
        }
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot replace {}", path.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("{} was not written", path.display()))
}

/// Copies `path` to `PATH.bak`, or, when that exists already, to `PATH.YYYYMMDDTHHMMSSZ.bak` (with a counter
/// when even that exists). Returns the backup's path.
pub fn backup(path: &Path) -> anyhow::Result<PathBuf> {
    let with_suffix = |suffix: &str| {
        let mut s = path.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    };
    let mut target = with_suffix(".bak");
    if target.exists() {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        target = with_suffix(&format!(".{stamp}.bak"));
        let mut n = 1;
        while target.exists() {
            target = with_suffix(&format!(".{stamp}-{n}.bak"));
            n += 1;
        }
    }
    std::fs::copy(path, &target)
        .with_context(|| format!("cannot back up {} to {}", path.display(), target.display()))?;
    Ok(target)
}

/// Writes `text` to `out`: `-` is stdout, anything else a file written with [`atomic_write`].
pub fn write_output(out: &Path, text: &str) -> anyhow::Result<()> {
    if out.as_os_str() == "-" {
        thv_core::output::write_stdout_bytes(text.as_bytes());
        Ok(())
    } else {
        atomic_write(out, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_backs_up() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        atomic_write(&p, b"one").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        let b1 = backup(&p).unwrap();
        assert_eq!(b1, dir.path().join("r.json.bak"));
        atomic_write(&p, b"two").unwrap();
        let b2 = backup(&p).unwrap();
        assert_ne!(b1, b2);
        assert_eq!(std::fs::read(&b1).unwrap(), b"one");
        assert_eq!(std::fs::read(&b2).unwrap(), b"two");
        // Only the target and the backups: no temporary file left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
        // A write into a missing directory fails and creates nothing.
        assert!(atomic_write(&dir.path().join("no/such/f.json"), b"x").is_err());
    }
}
