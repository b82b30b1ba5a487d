//! `thv-registry verify-blob FILE --bundle BUNDLE`: any file's sigstore bundle verified offline, as
//! `cosign verify-blob` and `sigstore verify` do, by the one bundle verifier ([`thv_core::signature::verify`]) —
//! so it checks what `cosign sign-blob`, sigstore-python, sigstore-js and `thv-registry sign` produce.
//!
//! The signer is a key (`--key cosign.pub`) or a keyless identity (`--certificate-identity` or
//! `--certificate-identity-regexp`, with `--certificate-oidc-issuer` or `--certificate-oidc-issuer-regexp`),
//! never both. The trust (Fulcio CAs, Rekor logs, CT logs, timestamp authorities) is `--trusted-root
//! trusted_root.json`, else the bundled public-good root; a bundle's log entries and timestamps are verified
//! against it with a key too. FILE may also be `sha256:HEX` (the artifact's digest) when no such file exists.
//!
//! Exit 0 printing `Verified OK` (as cosign), 1 naming the reason otherwise.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use thv_core::signature::identity::{CertificateIdentity, Match};
use thv_core::signature::keyless::PUBLIC_GOOD_TRUSTED_ROOT;
use thv_core::signature::keys::PublicKey;
use thv_core::signature::trust::TrustedRoot;
use thv_core::signature::verify::{Artifact, Signer, verify};
use thv_core::signature::{SignatureError, bundle_from_json};

#[derive(Debug, Args)]
pub struct VerifyBlobArgs {
    /// The signed file (or `sha256:HEX`, its digest).
    file: PathBuf,
    /// The sigstore bundle (JSON: v0.1–v0.3, or cosign's legacy blob bundle).
    #[arg(long)]
    bundle: PathBuf,
    /// The public key (PEM) of a key-signed bundle; excludes the certificate flags.
    #[arg(long)]
    key: Option<PathBuf>,
    /// The `trusted_root.json` (default: the bundled Sigstore public-good root).
    #[arg(long)]
    trusted_root: Option<PathBuf>,
    /// The signer's identity: the certificate's SAN (an email or a URI), exactly.
    #[arg(
        long,
        value_name = "ID",
        conflicts_with = "certificate_identity_regexp"
    )]
    certificate_identity: Option<String>,
    /// The signer's identity as a regular expression (matches anywhere unless anchored).
    #[arg(long, value_name = "RE")]
    certificate_identity_regexp: Option<String>,
    /// The OIDC issuer recorded in the certificate, exactly.
    #[arg(
        long,
        value_name = "ISSUER",
        conflicts_with = "certificate_oidc_issuer_regexp"
    )]
    certificate_oidc_issuer: Option<String>,
    /// The OIDC issuer as a regular expression.
    #[arg(long, value_name = "RE")]
    certificate_oidc_issuer_regexp: Option<String>,
}

/// A line on stdout or stderr ([`thv_core::output`]: a closed stdout ends the command with 141, no panic).
fn say(stderr: bool, line: &str) {
    if stderr {
        thv_core::errln!("{line}");
    } else {
        thv_core::outln!("{line}");
    }
}

/// The expected certificate identity, when identity flags are given.
fn identity(a: &VerifyBlobArgs) -> anyhow::Result<Option<CertificateIdentity>> {
    let pick = |exact: &Option<String>, re: &Option<String>| -> anyhow::Result<Option<Match>> {
        Ok(match (exact, re) {
            (Some(s), _) => Some(Match::Exact(s.clone())),
            (None, Some(r)) => Some(Match::regex(r).map_err(anyhow::Error::msg)?),
            (None, None) => None,
        })
    };
    let identity = pick(&a.certificate_identity, &a.certificate_identity_regexp)?;
    let issuer = pick(
        &a.certificate_oidc_issuer,
        &a.certificate_oidc_issuer_regexp,
    )?;
    match (identity, issuer) {
        (Some(identity), Some(issuer)) => Ok(Some(CertificateIdentity { identity, issuer })),
        (None, None) => Ok(None),
        (Some(_), None) => bail!(
            "--certificate-identity needs --certificate-oidc-issuer (or --certificate-oidc-issuer-regexp)"
        ),
        (None, Some(_)) => bail!(
            "--certificate-oidc-issuer needs --certificate-identity (or --certificate-identity-regexp)"
        ),
    }
}

/// The artifact: the file's bytes, or `sha256:HEX` when no such file exists.
fn artifact(path: &Path) -> anyhow::Result<(Vec<u8>, Option<[u8; 32]>)> {
    let text = path.to_string_lossy();
    if let Some(hex_digest) = text.strip_prefix("sha256:")
        && !path.exists()
    {
        let digest = hex::decode(hex_digest)
            .ok()
            .and_then(|d| <[u8; 32]>::try_from(d).ok())
            .with_context(|| format!("{text}: not a SHA-256 digest (64 hex digits)"))?;
        return Ok((Vec::new(), Some(digest)));
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok((bytes, None))
}

pub fn run(a: VerifyBlobArgs) -> anyhow::Result<i32> {
    let identity = identity(&a)?;
    let key = match (&a.key, &identity) {
        (Some(_), Some(_)) => bail!(
            "--key and --certificate-identity/--certificate-oidc-issuer exclude each other: a bundle is \
             verified either with a key or against a keyless signer's identity"
        ),
        (None, None) => bail!(
            "who must have signed? give --key PUB.pem, or --certificate-identity (or -regexp) and \
             --certificate-oidc-issuer (or -regexp)"
        ),
        (Some(path), None) => {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read the key {}", path.display()))?;
            Some(
                PublicKey::from_pem(&pem)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
            )
        }
        (None, Some(_)) => None,
    };
    let trust = match &a.trusted_root {
        Some(p) => TrustedRoot::from_file(p).map_err(|e| anyhow::anyhow!("{e}"))?,
        None => TrustedRoot::from_json(PUBLIC_GOOD_TRUSTED_ROOT.as_bytes())
            .map_err(|e| anyhow::anyhow!("the bundled public-good trusted root: {e}"))?,
    };
    let (bytes, digest) = artifact(&a.file)?;
    let text = std::fs::read_to_string(&a.bundle)
        .with_context(|| format!("cannot read the bundle {}", a.bundle.display()))?;
    serde_json::from_str::<serde_json::Value>(&text)
        .with_context(|| format!("{}: not JSON", a.bundle.display()))?;
    let bundle = match bundle_from_json(&text) {
        Ok(b) => b,
        Err(SignatureError::Verify(e)) => return Ok(refused(&a, &e.to_string())),
        Err(e) => return Ok(refused(&a, &format!("{}: {e}", a.bundle.display()))),
    };
    let artifact = match digest {
        Some(d) => Artifact::Sha256(d),
        None => Artifact::Bytes(&bytes),
    };
    let key_name = a
        .key
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let signer = match (&key, &identity) {
        (Some(key), _) => Signer::Key {
            key,
            name: &key_name,
        },
        (None, Some(identity)) => Signer::Certificate(identity),
        (None, None) => unreachable!("checked above"),
    };
    match verify(&bundle, &artifact, Some(&trust), signer, None) {
        Ok(_) => {
            say(false, "Verified OK");
            Ok(0)
        }
        Err(e) => Ok(refused(&a, &e.to_string())),
    }
}

fn refused(a: &VerifyBlobArgs, reason: &str) -> i32 {
    say(
        true,
        &format!("Error: {}: verification failed: {reason}", a.file.display()),
    );
    1
}
