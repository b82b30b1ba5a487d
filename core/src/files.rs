//! Reading a file a user names (a permission profile, an env file, a RunConfig, a policy): a regular file, of
//! at most a size such a file never needs. `/dev/zero`, a FIFO or a directory is refused at once instead of
//! being read until memory runs out, or forever.

use std::io::Read;
use std::path::Path;

/// The largest configuration-like file read (profiles, env files, RunConfigs, policies): 16 MiB.
pub const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// The bytes of the regular file `path`, refusing (`InvalidInput`, naming the rule) anything else and any file
/// over `max` bytes.
pub fn read_regular(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len().min(max) as usize);
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("larger than {max} bytes"),
        ));
    }
    Ok(bytes)
}

/// [`read_regular`] with [`MAX_CONFIG_BYTES`], as UTF-8 text.
pub fn read_config_text(path: &Path) -> std::io::Result<String> {
    String::from_utf8(read_regular(path, MAX_CONFIG_BYTES)?).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 text: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_of_bounded_size() {
        let err = read_regular(Path::new("/dev/zero"), 1024).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let err = read_regular(Path::new("/tmp"), 1024).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, vec![b'x'; 2048]).unwrap();
        assert!(
            read_regular(&f, 1024)
                .unwrap_err()
                .to_string()
                .contains("larger than 1024")
        );
        assert_eq!(read_regular(&f, 2048).unwrap().len(), 2048);
        std::fs::write(&f, [0xff, 0xfe]).unwrap();
        assert!(
            read_config_text(&f)
                .unwrap_err()
                .to_string()
                .contains("not UTF-8")
        );
    }
}
