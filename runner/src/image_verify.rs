//! Image verification before `thv run` starts anything (`--image-verification disabled|warn|enabled`, default
//! from `[images] verification`, else `warn`): the image's cosign signatures — the `sha256-<digest>.sig` tag's
//! simple-signing layers and the OCI 1.1 referrers' sigstore bundles, fetched from the image's registry with
//! `sigstore`'s cosign client — must verify with one of the trusted keys (`[images] trusted_keys`, PEM), over
//! the digest the tag names now. A verified image is run by that digest (the RunConfig's image becomes
//! `repository@sha256:…`), so the tag cannot move between the check and the pull.
//!
//! - `enabled`: an image that is not signed by a trusted key (no signature, another key, a signature over
//!   another digest) is refused, naming why; so is `enabled` without any trusted key;
//! - `warn`: the same checks, reported as a warning (nothing configured: nothing checked);
//! - `disabled`: nothing is checked.
//!
//! Images built locally from packages (`uvx://`, `npx://`, `go://`) are not in a registry: not checked.
//! Registries reached over plain HTTP are listed in `[images] insecure_registries` (`host:port`).
//!
//! Keyless image signatures matched against a registry entry's provenance are not verified yet.

use std::path::PathBuf;

use anyhow::{Context, bail};
use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraintVec};
use sigstore::cosign::{ClientBuilder, CosignCapabilities, verify_constraints};
use sigstore::registry::{Auth, ClientConfig, ClientProtocol, OciReference};
use thv_core::runconfig::RunConfig;

/// What `thv run` does with image signatures.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Disabled,
    #[default]
    Warn,
    Enabled,
}

/// `[images]` of the user's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagesConfig {
    /// The default mode (`--image-verification` overrides it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Mode>,
    /// Public keys (PEM, cosign.pub) images may be signed with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_keys: Vec<PathBuf>,
    /// Registries (`host:port`) reached over plain HTTP.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub insecure_registries: Vec<String>,
}

impl ImagesConfig {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Verifies the image of `rc` under `mode` (see the module documentation): `Ok` when it may run.
pub async fn check(rc: &mut RunConfig, mode: Mode, config: &ImagesConfig) -> anyhow::Result<()> {
    let Some(image) = rc.image.clone() else {
        return Ok(());
    };
    if mode == Mode::Disabled || rc.package.is_some() {
        return Ok(());
    }
    if config.trusted_keys.is_empty() {
        if mode == Mode::Enabled {
            bail!(
                "image verification is enabled, but no trusted key is configured ([images] trusted_keys in the \
                 thv configuration)"
            );
        }
        return Ok(());
    }
    match verify(&image, config).await {
        Ok((key, pinned)) => {
            eprintln!("{image}: signature verified (key {key}); running {pinned}");
            rc.image = Some(pinned);
            Ok(())
        }
        Err(e) if mode == Mode::Enabled => Err(e.context(format!(
            "refusing to run {image}: image verification failed (--image-verification enabled)"
        ))),
        Err(e) => {
            eprintln!("warning: {image}: image not verified: {e:#}");
            Ok(())
        }
    }
}

/// The name of the trusted key one of the image's signatures verifies with, and the image pinned to the digest
/// verified.
pub async fn verify(image: &str, config: &ImagesConfig) -> anyhow::Result<(String, String)> {
    let mut parsed = thv_core::image_ref::ImageRef::parse(image)
        .map_err(|e| anyhow::anyhow!("'{image}' is not an image reference: {e}"))?;
    let reference: OciReference = image
        .parse()
        .with_context(|| format!("'{image}' is not an image reference"))?;
    let mut client = ClientBuilder::default()
        .with_oci_client_config(ClientConfig {
            protocol: ClientProtocol::HttpsExcept(config.insecure_registries.clone()),
            ..Default::default()
        })
        .build()
        .context("cannot make the registry client")?;
    let (_, digest) = client
        .triangulate(&reference, &Auth::Anonymous)
        .await
        .with_context(|| format!("cannot read {image} from its registry"))?;
    parsed.tag = None;
    parsed.digest = Some(digest);
    let pinned = parsed.to_string();
    let by_digest: OciReference = pinned
        .parse()
        .with_context(|| format!("'{pinned}' is not an image reference"))?;
    let layers = client
        .trusted_signature_layers(&Auth::Anonymous, &by_digest)
        .await
        .with_context(|| format!("cannot read the signatures of {image} from its registry"))?;
    if layers.is_empty() {
        bail!(
            "no valid signature found for its current digest (unsigned, or signed over another digest)"
        );
    }
    for path in &config.trusted_keys {
        let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let verifier = PublicKeyVerifier::try_from(pem.as_slice())
            .map_err(|e| anyhow::anyhow!("{}: not a public key: {e}", path.display()))?;
        let constraints: VerificationConstraintVec = vec![Box::new(verifier)];
        if verify_constraints(&layers, constraints.iter()).is_ok() {
            return Ok((path.display().to_string(), pinned));
        }
    }
    bail!(
        "signed by none of the trusted keys ({})",
        config
            .trusted_keys
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}
