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

/// The certificates of a PEM bundle; at least one, each an X.509 certificate (the TLS library would refuse a
/// bad one only when a client is built, with a message naming neither the file nor the certificate).
pub fn pem_certificates(pem: &[u8]) -> Result<Vec<reqwest::Certificate>, CaBundleError> {
    let certs = reqwest::Certificate::from_pem_bundle(pem)
        .map_err(|e| CaBundleError::NotPem(crate::output::error_chain(&e)))?;
    if certs.is_empty() {
        return Err(CaBundleError::Empty);
    }
    check_certificates(&String::from_utf8_lossy(pem))?;
    Ok(certs)
}

/// Every `CERTIFICATE` block of `pem` decodes to an X.509 certificate.
fn check_certificates(pem: &str) -> Result<(), CaBundleError> {
    use base64::Engine;
    use x509_cert::der::Decode;
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut rest = pem;
    let mut n = 0;
    while let Some(start) = rest.find(BEGIN) {
        let body_and_rest = &rest[start + BEGIN.len()..];
        let Some(end) = body_and_rest.find(END) else {
            return Err(CaBundleError::NotPem(format!(
                "certificate {}: no {END} line",
                n + 1
            )));
        };
        n += 1;
        let body: String = body_and_rest[..end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| CaBundleError::NotPem(format!("certificate {n}: not base64 ({e})")))?;
        x509_cert::Certificate::from_der(&der).map_err(|e| {
            CaBundleError::NotPem(format!("certificate {n} is not an X.509 certificate ({e})"))
        })?;
        rest = &body_and_rest[end + END.len()..];
    }
    Ok(())
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
        // Base64 that is no certificate, alone or after a good one (both were taken).
        let not_x509 = "-----BEGIN CERTIFICATE-----\nZm9vYmFy\n-----END CERTIFICATE-----\n";
        let e = pem_certificates(not_x509.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("certificate 1 is not an X.509 certificate"),
            "{e}"
        );
        let good = rcgen::generate_simple_self_signed(vec!["ca.example".to_string()])
            .unwrap()
            .cert
            .pem();
        assert_eq!(
            pem_certificates(format!("{good}{good}").as_bytes())
                .unwrap()
                .len(),
            2
        );
        let mixed = format!("{good}{not_x509}");
        let e = pem_certificates(mixed.as_bytes()).unwrap_err().to_string();
        assert!(
            e.contains("certificate 2 is not an X.509 certificate"),
            "{e}"
        );
    }
}
