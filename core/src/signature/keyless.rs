//! Keyless bundles (a Fulcio certificate, a Rekor entry, RFC 3161 timestamps), verified fully offline against a
//! `trusted_root.json` and an expected signer identity (the certificate's SAN) and OIDC issuer, by the one bundle
//! verifier ([`super::verify`]): the certificate chains to the trusted root's CAs at every verified time, its SCT
//! verifies with the root's CT log keys, its SAN and issuer are the expected ones, the signature (or the DSSE
//! envelope's) verifies with its key over the artifact, and every log entry (Rekor v1 or v2: inclusion proof,
//! checkpoint, signed entry timestamp) and timestamp verifies and belongs to this bundle. Every keyless bundle
//! must carry a log entry.

use sigstore::bundle::verify::ArtifactDigest;
use sigstore::bundle::verify::policy::{Identity, VerificationPolicy};
use sigstore_protobuf_specs::dev::sigstore::bundle::v1::Bundle;

use super::tlog::Evidence;
use super::trust::TrustedRoot;
use super::verify::{self, Artifact, Signer};
use super::{SignatureError, canonical_bytes};

/// The Sigstore public-good instance's `trusted_root.json` as bundled (`data/sigstore/`, see its README): the
/// default trust for keyless signatures from the public Fulcio and Rekor when no trusted root is configured.
pub const PUBLIC_GOOD_TRUSTED_ROOT: &str =
    include_str!("../../../data/sigstore/public-good-trusted_root.json");

/// Who must have signed: the certificate's SAN (an email or a URI such as a GitHub workflow ref) and the OIDC
/// issuer recorded in it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedSigner {
    pub identity: String,
    pub issuer: String,
}

/// A `trusted_root.json`, read once ([`TrustedRoot`]).
pub struct KeylessTrust {
    root: TrustedRoot,
}

impl KeylessTrust {
    pub fn from_json(trusted_root: &[u8]) -> Result<Self, SignatureError> {
        TrustedRoot::from_json(trusted_root)
            .map(|root| Self { root })
            .map_err(|e| SignatureError::Keyless(e.to_string()))
    }

    /// A `trusted_root.json` file; the error names the file.
    pub fn from_file(path: &std::path::Path) -> Result<Self, super::trust::TrustError> {
        TrustedRoot::from_file(path).map(|root| Self { root })
    }

    /// The parsed trusted root.
    pub fn root(&self) -> &TrustedRoot {
        &self.root
    }
}

/// Verifies a keyless bundle over an artifact digest (see the module documentation).
pub async fn verify_digest(
    digest: ArtifactDigest,
    bundle: &Bundle,
    trust: &KeylessTrust,
    signer: &ExpectedSigner,
) -> Result<(), SignatureError> {
    let policy = Identity::new(signer.identity.as_str(), signer.issuer.as_str());
    verify_artifact(&artifact(&digest), bundle, trust, &policy, None)
}

fn artifact(digest: &ArtifactDigest) -> Artifact<'static> {
    match digest {
        ArtifactDigest::Sha256(d) => Artifact::Sha256(*d),
        ArtifactDigest::Sha512(d) => Artifact::Sha512(*d),
        // sigstore's digest type is non-exhaustive; its other algorithms are not read.
        #[allow(unreachable_patterns)]
        _ => Artifact::Sha256([0; 32]),
    }
}

/// Verifies a keyless bundle over an artifact digest, its certificate checked by `policy` (the signer's
/// identity, or an image's provenance), its log entries carrying `evidence`.
pub async fn verify_digest_with_policy<P: VerificationPolicy>(
    digest: ArtifactDigest,
    bundle: &Bundle,
    trust: &KeylessTrust,
    policy: &P,
    evidence: Evidence,
) -> Result<(), SignatureError> {
    verify_artifact(&artifact(&digest), bundle, trust, policy, Some(evidence))
}

/// Verifies a keyless bundle over an artifact (bytes or digest) with a certificate policy.
pub fn verify_artifact(
    artifact: &Artifact,
    bundle: &Bundle,
    trust: &KeylessTrust,
    policy: &dyn VerificationPolicy,
    evidence: Option<Evidence>,
) -> Result<(), SignatureError> {
    verify::verify(
        bundle,
        artifact,
        Some(&trust.root),
        Signer::Certificate(policy),
        evidence,
    )
    .map(|_| ())
    .map_err(SignatureError::Verify)
}

/// Verifies a keyless bundle over a registry entry (its canonical form).
pub async fn verify_entry(
    server: &serde_json::Value,
    bundle: &Bundle,
    trust: &KeylessTrust,
    signer: &ExpectedSigner,
) -> Result<(), SignatureError> {
    let bytes = canonical_bytes(server)?;
    let policy = Identity::new(signer.identity.as_str(), signer.issuer.as_str());
    verify_artifact(&Artifact::Bytes(&bytes), bundle, trust, &policy, None)
}

#[cfg(test)]
mod tests {
    use super::super::bundle_from_json;
    use super::super::tlog::{self, TlogError};
    use super::super::verify::VerifyError;
    use super::*;

    /// `sigstore@5.0.0`'s npm SLSA provenance, from <https://registry.npmjs.org/-/npm/v1/attestations/sigstore@5.0.0>
    /// (made by sigstore-js in GitHub Actions, logged in the public Rekor), as pinned by sigstore-rs's tests.
    const NPM_BUNDLE: &str = include_str!("../../tests/data/sigstore/npm_slsa_bundle_v03.json");
    /// The Sigstore public-good instance's `trusted_root.json` (pinned by sigstore-rs's tests).
    const TRUSTED_ROOT: &str = PUBLIC_GOOD_TRUSTED_ROOT;
    /// SHA-512 of `sigstore-5.0.0.tgz`, the statement's subject.
    const TARBALL_SHA512: &str = "849a897e81bf7b8a8541a6ae40bd3473a27a16b1cb0462ad905bd6dc96d34881053a12eb4a375233f81677fc9439f628fe0b0445e8535c60b5559597fbd5f80e";

    fn signer() -> ExpectedSigner {
        ExpectedSigner {
            identity: "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main"
                .into(),
            issuer: "https://token.actions.githubusercontent.com".into(),
        }
    }

    fn trust() -> KeylessTrust {
        KeylessTrust::from_json(TRUSTED_ROOT.as_bytes()).unwrap()
    }

    fn digest() -> ArtifactDigest {
        let bytes: Vec<u8> = (0..TARBALL_SHA512.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&TARBALL_SHA512[i..i + 2], 16).unwrap())
            .collect();
        ArtifactDigest::Sha512(bytes.try_into().unwrap())
    }

    fn verify(b: &Bundle, s: &ExpectedSigner) -> Result<(), SignatureError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(verify_digest(digest(), b, &trust(), s))
    }

    fn entry_mut(
        b: &mut Bundle,
    ) -> &mut sigstore_protobuf_specs::dev::sigstore::rekor::v1::TransparencyLogEntry {
        &mut b.verification_material.as_mut().unwrap().tlog_entries[0]
    }

    #[test]
    fn a_real_public_bundle_verifies_offline() {
        let b = bundle_from_json(NPM_BUNDLE).unwrap();
        verify(&b, &signer()).unwrap();
    }

    #[test]
    fn wrong_identity_issuer_and_digest_are_refused() {
        let b = bundle_from_json(NPM_BUNDLE).unwrap();
        let mut s = signer();
        s.identity =
            "https://github.com/evil/sigstore-js/.github/workflows/release.yml@refs/heads/main"
                .into();
        assert!(matches!(
            verify(&b, &s),
            Err(SignatureError::Verify(VerifyError::Policy(_)))
        ));
        let mut s = signer();
        s.issuer = "https://accounts.google.com".into();
        assert!(matches!(
            verify(&b, &s),
            Err(SignatureError::Verify(VerifyError::Policy(_)))
        ));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let other = ArtifactDigest::Sha512([7u8; 64]);
        assert!(
            rt.block_on(verify_digest(other, &b, &trust(), &signer()))
                .is_err()
        );
    }

    /// Forged log entries: what sigstore's verifier alone would accept is refused by the log checks.
    #[test]
    fn forged_log_entries_are_refused() {
        let good = bundle_from_json(NPM_BUNDLE).unwrap();

        // An inclusion proof with a changed audit path hash.
        let mut b = good.clone();
        entry_mut(&mut b).inclusion_proof.as_mut().unwrap().hashes[0][0] ^= 1;
        assert!(
            matches!(
                verify(&b, &signer()),
                Err(SignatureError::Verify(VerifyError::Tlog(
                    TlogError::InclusionProof(_)
                )))
            ),
            "{:?}",
            verify(&b, &signer())
        );

        // A proof and root made up to match (the checkpoint, signed by the log, disagrees).
        let mut b = good.clone();
        let proof = entry_mut(&mut b).inclusion_proof.as_mut().unwrap();
        proof.hashes.clear();
        proof.tree_size = 1;
        proof.log_index = 0;
        let body = entry_mut(&mut good.clone()).canonicalized_body.clone();
        entry_mut(&mut b)
            .inclusion_proof
            .as_mut()
            .unwrap()
            .root_hash = tlog::leaf_hash(&body).to_vec();
        assert!(
            matches!(
                verify(&b, &signer()),
                Err(SignatureError::Verify(VerifyError::Tlog(
                    TlogError::Checkpoint(_)
                )))
            ),
            "{:?}",
            verify(&b, &signer())
        );

        // A checkpoint whose signature is not the log's.
        let mut b = good.clone();
        let cp = &mut entry_mut(&mut b)
            .inclusion_proof
            .as_mut()
            .unwrap()
            .checkpoint
            .as_mut()
            .unwrap()
            .envelope;
        let (body, sigs) = cp.split_once("\n\n").unwrap();
        let forged_sigs: String = sigs
            .lines()
            .map(|l| match l.rsplit_once(' ') {
                Some((head, sig)) => {
                    let mut raw =
                        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, sig)
                            .unwrap();
                    let last = raw.len() - 1;
                    raw[last] ^= 1;
                    format!(
                        "{head} {}\n",
                        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, raw)
                    )
                }
                None => format!("{l}\n"),
            })
            .collect();
        *cp = format!("{body}\n\n{forged_sigs}");
        assert!(matches!(
            verify(&b, &signer()),
            Err(SignatureError::Verify(VerifyError::Tlog(
                TlogError::Checkpoint(_)
            )))
        ));

        // A changed integration time: the signed entry timestamp no longer verifies.
        let mut b = good.clone();
        entry_mut(&mut b).integrated_time += 1;
        assert!(
            matches!(
                verify(&b, &signer()),
                Err(SignatureError::Verify(VerifyError::Tlog(
                    TlogError::SignedEntryTimestamp
                )))
            ),
            "{:?}",
            verify(&b, &signer())
        );

        // An entry from a log the trusted root does not know.
        let mut b = good.clone();
        entry_mut(&mut b).log_id.as_mut().unwrap().key_id[0] ^= 1;
        assert!(verify(&b, &signer()).is_err());

        // No log entry at all.
        let mut b = good.clone();
        b.verification_material
            .as_mut()
            .unwrap()
            .tlog_entries
            .clear();
        assert!(verify(&b, &signer()).is_err());
    }
}
