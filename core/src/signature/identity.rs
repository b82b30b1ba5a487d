//! The expected signer of a keyless bundle as `cosign verify-blob` takes it: the certificate's identity (its SAN,
//! an email or a URI) and OIDC issuer, each given exactly (`--certificate-identity`, `--certificate-oidc-issuer`)
//! or as a regular expression (`--certificate-identity-regexp`, `--certificate-oidc-issuer-regexp`). A regular
//! expression matches as cosign's (Go's `regexp.MatchString`): anywhere in the value unless anchored with `^…$`.

use sigstore::bundle::verify::policy::{PolicyError, PolicyResult, VerificationPolicy};
use x509_cert::Certificate;

use super::provenance::CertificateSummary;

/// One expected value: exact, or a regular expression.
#[derive(Debug, Clone)]
pub enum Match {
    Exact(String),
    Regex(regex::Regex),
}

/// A signer identity or issuer pattern that is not a regular expression.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid regular expression {pattern:?}: {error}")]
pub struct InvalidPattern {
    pub pattern: String,
    pub error: regex::Error,
}

impl Match {
    /// A regular expression, its error naming the pattern.
    pub fn regex(pattern: &str) -> Result<Self, InvalidPattern> {
        regex::Regex::new(pattern)
            .map(Self::Regex)
            .map_err(|error| InvalidPattern {
                pattern: pattern.to_owned(),
                error,
            })
    }

    pub fn matches(&self, value: &str) -> bool {
        match self {
            Self::Exact(s) => s == value,
            Self::Regex(r) => r.is_match(value),
        }
    }
}

impl std::fmt::Display for Match {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exact(s) => write!(f, "{s}"),
            Self::Regex(r) => write!(f, "a match of /{}/", r.as_str()),
        }
    }
}

/// The certificate's SAN and OIDC issuer (Fulcio's extension 1.3.6.1.4.1.57264.1.8, else 1.1) must match.
#[derive(Debug, Clone)]
pub struct CertificateIdentity {
    pub identity: Match,
    pub issuer: Match,
}

impl VerificationPolicy for CertificateIdentity {
    fn verify(&self, cert: &Certificate) -> PolicyResult {
        let summary = CertificateSummary::from_certificate(cert);
        let checks = [
            (
                "identity (SAN)",
                &self.identity,
                summary.subject_alternative_name,
            ),
            ("OIDC issuer", &self.issuer, summary.issuer),
        ];
        let mut errors: Vec<PolicyError> = checks
            .into_iter()
            .filter(|(_, expected, actual)| !actual.as_deref().is_some_and(|a| expected.matches(a)))
            .map(
                |(what, expected, actual)| PolicyError::ExtensionCheckFailed {
                    extension: what.into(),
                    expected: expected.to_string(),
                    actual: actual.unwrap_or_else(|| "none".into()),
                },
            )
            .collect();
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            total => Err(PolicyError::AllOf { total, errors }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_regex_matches() {
        assert!(Match::Exact("a@b".into()).matches("a@b"));
        assert!(!Match::Exact("a@b".into()).matches("a@bc"));
        let re = Match::regex("@example\\.com$").unwrap();
        assert!(re.matches("alice@example.com"));
        assert!(!re.matches("alice@example.com.evil"));
        assert_eq!(re.to_string(), "a match of /@example\\.com$/");
        assert!(
            Match::regex("(")
                .unwrap_err()
                .to_string()
                .contains("invalid regular expression")
        );
    }
}
