//! Extra CA certificates (a `ca_cert` setting): read and checked once, the same way for every client that
//! takes them (the registry API client, the OIDC verifiers, the sync sources, the package index lookups).

use std::path::Path;

/// Why CA certificates could not be taken from a file or PEM text.
#[derive(Debug, thiserror::Error)]
pub enum CaBundleError {
    /// The message is the I/O error's: the caller names the file and its setting.
    #[error("{error}")]
    Read {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error("is not valid PEM: {0}")]
    NotPem(String),
    #[error("holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    Empty,
}

/// The certificates of a PEM bundle; at least one.
pub fn pem_certificates(pem: &[u8]) -> Result<Vec<reqwest::Certificate>, CaBundleError> {
    let certs = reqwest::Certificate::from_pem_bundle(pem)
        .map_err(|e| CaBundleError::NotPem(crate::output::error_chain(&e)))?;
    if certs.is_empty() {
        return Err(CaBundleError::Empty);
    }
    Ok(certs)
}

/// The certificates of a PEM bundle file; at least one.
pub fn read_ca_bundle(path: &Path) -> Result<Vec<reqwest::Certificate>, CaBundleError> {
    let pem = std::fs::read(path).map_err(|error| CaBundleError::Read {
        path: path.to_owned(),
        error,
    })?;
    pem_certificates(&pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_a_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "garbage\n").unwrap();
        assert!(matches!(
            read_ca_bundle(&garbage),
            Err(CaBundleError::Empty)
        ));
        assert!(matches!(
            read_ca_bundle(&dir.path().join("missing.pem")),
            Err(CaBundleError::Read { .. })
        ));
        let bad = b"-----BEGIN CERTIFICATE-----\nnot base64 !\n-----END CERTIFICATE-----\n";
        assert!(pem_certificates(bad).is_err());
    }
}
