//! A keyless signature's certificate matched against a registry entry's [`Provenance`], as ToolHive does
//! (`../shared/reference/toolhive.md` §7): each provenance field names what the Fulcio certificate must say, and
//! **an empty (absent) field is no constraint**:
//!
//! | provenance field     | certificate                                                             |
//! |----------------------|-------------------------------------------------------------------------|
//! | `cert_issuer`        | the OIDC issuer (Fulcio extension 1.3.6.1.4.1.57264.1.8, else 1.1)      |
//! | `signer_identity`    | the SAN (URI or email); for GitHub Actions certificates its path only   |
//! | `repository_uri`     | SourceRepositoryURI (1.3.6.1.4.1.57264.1.12)                            |
//! | `repository_ref`     | SourceRepositoryRef (1.3.6.1.4.1.57264.1.14)                            |
//! | `runner_environment` | RunnerEnvironment (1.3.6.1.4.1.57264.1.11)                              |
//!
//! A GitHub Actions certificate's SAN is the workflow's URI at a ref
//! (`https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1`); the signer identity compared is
//! that URI without the `@ref` and without the repository URI: `/.github/workflows/release.yml`. Other SANs are
//! compared whole.
//!
//! When the provenance names an `attestation` and the verified bundle is an in-toto attestation (a DSSE
//! envelope), its `predicateType` must be the same and its predicate equal.

use sigstore::bundle::verify::policy::{PolicyError, PolicyResult, VerificationPolicy};
use sigstore_protobuf_specs::dev::sigstore::bundle::v1::{Bundle, bundle, verification_material};
use x509_cert::Certificate;
use x509_cert::der::Decode;
use x509_cert::der::asn1::{ObjectIdentifier, Utf8StringRef};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use crate::toolhive::Provenance;

/// Why a certificate or an attestation does not give what a provenance compares.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvenanceError {
    #[error("the certificate has no signer identity (SAN)")]
    NoSan,
    #[error("the GitHub Actions certificate has no SourceRepositoryURI (1.3.6.1.4.1.57264.1.12)")]
    NoSourceRepository,
    #[error("the attestation's statement is not JSON: {0}")]
    StatementNotJson(String),
    #[error(
        "provenance attestation.predicate_type: expected {expected}, the attestation has {actual}"
    )]
    PredicateType { expected: String, actual: String },
    #[error("provenance attestation.predicate: the attestation's predicate differs")]
    Predicate,
}

/// The OIDC issuer of GitHub Actions tokens.
pub const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";

const OID_ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
const OID_ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
const OID_RUNNER_ENVIRONMENT: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.11");
const OID_SOURCE_REPOSITORY_URI: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.12");
const OID_SOURCE_REPOSITORY_REF: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.14");

/// What a Fulcio certificate says about its signer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificateSummary {
    /// The SAN: a URI or an email.
    pub subject_alternative_name: Option<String>,
    pub issuer: Option<String>,
    pub source_repository_uri: Option<String>,
    pub source_repository_ref: Option<String>,
    pub runner_environment: Option<String>,
}

impl CertificateSummary {
    pub fn from_certificate(cert: &Certificate) -> Self {
        let extensions = cert
            .tbs_certificate()
            .extensions()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let raw = |oid: ObjectIdentifier| {
            extensions
                .iter()
                .find(|e| e.extn_id == oid)
                .map(|e| e.extn_value.as_bytes())
        };
        // Fulcio's newer extensions are DER UTF8Strings; the first issuer extension is the raw string.
        let utf8 = |oid: ObjectIdentifier| {
            raw(oid)
                .and_then(|v| Utf8StringRef::from_der(v).ok())
                .map(|s| s.as_str().to_owned())
        };
        let issuer = utf8(OID_ISSUER_V2)
            .or_else(|| raw(OID_ISSUER_V1).and_then(|v| String::from_utf8(v.to_vec()).ok()));
        let san = cert
            .tbs_certificate()
            .get_extension::<SubjectAltName>()
            .ok()
            .flatten()
            .and_then(|(_, san)| {
                san.0.into_iter().find_map(|n| match n {
                    GeneralName::UniformResourceIdentifier(u) => Some(u.to_string()),
                    GeneralName::Rfc822Name(e) => Some(e.to_string()),
                    _ => None,
                })
            });
        Self {
            subject_alternative_name: san,
            issuer,
            source_repository_uri: utf8(OID_SOURCE_REPOSITORY_URI),
            source_repository_ref: utf8(OID_SOURCE_REPOSITORY_REF),
            runner_environment: utf8(OID_RUNNER_ENVIRONMENT),
        }
    }

    /// The summary of a bundle's signing certificate (its leaf), if it has one.
    pub fn from_bundle(b: &Bundle) -> Option<Self> {
        let der = match b.verification_material.as_ref()?.content.as_ref()? {
            verification_material::Content::Certificate(c) => &c.raw_bytes,
            verification_material::Content::X509CertificateChain(ch) => {
                &ch.certificates.first()?.raw_bytes
            }
            _ => return None,
        };
        Certificate::from_der(der)
            .ok()
            .map(|c| Self::from_certificate(&c))
    }

    /// The signer identity compared with `signer_identity` (see the module documentation).
    pub fn signer_identity(&self) -> Result<String, ProvenanceError> {
        let san = self
            .subject_alternative_name
            .as_deref()
            .ok_or(ProvenanceError::NoSan)?;
        if self.issuer.as_deref() != Some(GITHUB_ACTIONS_ISSUER) {
            return Ok(san.to_owned());
        }
        let repo = self
            .source_repository_uri
            .as_deref()
            .ok_or(ProvenanceError::NoSourceRepository)?;
        let workflow = san.split_once('@').map_or(san, |(w, _)| w);
        Ok(workflow.strip_prefix(repo).unwrap_or(workflow).to_owned())
    }

    /// Every provenance field the certificate does not satisfy, as `(field, expected, actual)`.
    pub fn mismatches(&self, p: &Provenance) -> Vec<(&'static str, String, String)> {
        let identity = self.signer_identity();
        let checks = [
            ("cert_issuer", &p.cert_issuer, self.issuer.clone()),
            ("signer_identity", &p.signer_identity, identity.clone().ok()),
            (
                "repository_uri",
                &p.repository_uri,
                self.source_repository_uri.clone(),
            ),
            (
                "repository_ref",
                &p.repository_ref,
                self.source_repository_ref.clone(),
            ),
            (
                "runner_environment",
                &p.runner_environment,
                self.runner_environment.clone(),
            ),
        ];
        checks
            .into_iter()
            .filter_map(|(field, expected, actual)| {
                let expected = expected.as_deref().filter(|e| !e.is_empty())?;
                if actual.as_deref() == Some(expected) {
                    return None;
                }
                let actual = match (field, &identity) {
                    ("signer_identity", Err(why)) => why.to_string(),
                    _ => actual.unwrap_or_else(|| "(none)".into()),
                };
                Some((field, expected.to_owned(), actual))
            })
            .collect()
    }
}

/// The certificate check of a keyless image signature: it must satisfy the provenance (see the module
/// documentation).
pub struct ProvenancePolicy<'a>(pub &'a Provenance);

impl VerificationPolicy for ProvenancePolicy<'_> {
    fn verify(&self, cert: &Certificate) -> PolicyResult {
        let errors: Vec<PolicyError> = CertificateSummary::from_certificate(cert)
            .mismatches(self.0)
            .into_iter()
            .map(
                |(field, expected, actual)| PolicyError::ExtensionCheckFailed {
                    extension: format!("provenance {field}"),
                    expected,
                    actual,
                },
            )
            .collect();
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.into_iter().next().expect("one error")),
            total => Err(PolicyError::AllOf { total, errors }),
        }
    }
}

/// The provenance's `attestation` against a verified bundle: for an in-toto attestation, the same predicate type
/// and an equal predicate; other bundles (plain signatures) and provenances without an attestation pass.
pub fn check_attestation(p: &Provenance, verified: &Bundle) -> Result<(), ProvenanceError> {
    let Some(expected) = &p.attestation else {
        return Ok(());
    };
    let Some(bundle::Content::DsseEnvelope(envelope)) = &verified.content else {
        return Ok(());
    };
    let statement: serde_json::Value = serde_json::from_slice(&envelope.payload)
        .map_err(|e| ProvenanceError::StatementNotJson(e.to_string()))?;
    if let Some(t) = expected.predicate_type.as_deref().filter(|t| !t.is_empty())
        && statement["predicateType"].as_str() != Some(t)
    {
        return Err(ProvenanceError::PredicateType {
            expected: t.to_owned(),
            actual: statement["predicateType"].to_string(),
        });
    }
    if let Some(predicate) = &expected.predicate
        && statement["predicate"] != *predicate
    {
        return Err(ProvenanceError::Predicate);
    }
    Ok(())
}
