//! Image verification before `thv run` starts anything (`--image-verification disabled|warn|enabled`, default
//! from `[images] verification`, else `warn`). An image from a registry is checked when there is something to
//! check it against, and passes when one of its signatures verifies:
//!
//! - **the registry entry's `provenance`** (ToolHive's rule): a keyless (Fulcio certificate, Rekor entry)
//!   signature — a cosign signature layer at the `sha256-<digest>.sig` tag or a sigstore bundle among its OCI 1.1
//!   referrers — verified offline against the trusted root (`[images] trusted_root`, a `trusted_root.json`; by
//!   default, for the public-good instance, the bundled snapshot `data/sigstore/public-good-trusted_root.json`) and
//!   matching the provenance's repository URI and ref, signer identity, issuer and runner environment
//!   ([`keyless`]);
//! - **a trusted key** (`[images] trusted_keys`, PEM): a cosign signature that verifies with it (`sigstore`'s
//!   cosign client: the tag's simple-signing layers and the referrers' bundles).
//!
//! Either way the signature must be over the digest the reference names now, and a verified image is run by
//! that digest (the RunConfig's image becomes `repository@sha256:…`), so the tag cannot move between the check
//! and the pull.
//!
//! - `enabled`: an image that does not verify is refused, naming why; so is an image with nothing to verify
//!   against (its entry has no provenance and no key is trusted), and a provenance naming another Sigstore
//!   instance than the public one when no trusted root is configured;
//! - `warn`: the same checks, reported as a warning (nothing to verify against: nothing checked);
//! - `disabled`: nothing is checked.
//!
//! Images built locally from packages (`uvx://`, `npx://`, `go://`) are not in a registry: not checked.
//! Registries reached over plain HTTP are listed in `[images] insecure_registries` (`host:port`); private ones
//! are read with the credentials `podman login` / `docker login` stored ([`thv_core::oci::auth`]). The trusted
//! root is never fetched (no TUF client): it is the configured file or the bundled public-good snapshot;
//! refresh it with `cosign trusted-root create` or from the `trusted_root.json` target of the Sigstore TUF
//! repository. Verification needs a transparency-log entry, so GitHub's private-repository Sigstore
//! (`tuf-repo.github.com`, timestamps without Rekor) is not supported.

mod keyless;

use anyhow::{Context, bail};
use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraintVec};
use sigstore::cosign::{ClientBuilder, CosignCapabilities, verify_constraints};
use sigstore::registry::{Auth, ClientConfig, ClientProtocol, OciReference};
use thv_core::runconfig::RunConfig;
use thv_core::signature::keyless::{KeylessTrust, PUBLIC_GOOD_TRUSTED_ROOT};
use thv_core::toolhive::Provenance;

use thv_core::oci::Registry;

use crate::mirror::store::MirrorStore;

pub use crate::config::{ImagesConfig, Mode};

/// Verifies the image of `rc` under `mode` against its registry entry's `provenance` and the trusted keys (see
/// the module documentation): `Ok` when it may run.
pub async fn check(
    rc: &mut RunConfig,
    mode: Mode,
    config: &ImagesConfig,
    provenance: Option<&Provenance>,
    loaded: &MirrorStore,
) -> anyhow::Result<()> {
    let Some(mut image) = rc.image.clone() else {
        return Ok(());
    };
    if rc.package.is_some() {
        return Ok(());
    }
    // An image `thv mirror load` put in the engine runs by the digest its bundle recorded, whatever the mode:
    // its tag in the engine could name something else since.
    if let Some(record) = loaded.find(&image)? {
        rc.image = Some(format!("{}@{}", record.repository, record.digest));
    } else if let Some(mirrored) = thv_core::oci::mirrored(&image, &config.mirrors) {
        thv_core::errln!("{image}: from the mirror, {mirrored}");
        image = mirrored;
        rc.image = Some(image.clone());
    }
    if mode == Mode::Disabled {
        return Ok(());
    }
    if config.trusted_keys.is_empty() && provenance.is_none() {
        if mode == Mode::Enabled {
            bail!(
                "refusing to run {image}: image verification is enabled, but there is nothing to verify it \
                 against: no provenance (the image has no registry entry, or its entry names none) and no \
                 trusted key ([images] trusted_keys in the thv configuration)"
            );
        }
        return Ok(());
    }
    match verify(&image, config, provenance, loaded).await {
        Ok(Verified { how, pinned }) => {
            thv_core::errln!("{image}: signature verified ({how}); running {pinned}");
            rc.image = Some(pinned);
            Ok(())
        }
        Err(e) if mode == Mode::Enabled => Err(e.context(format!(
            "refusing to run {image}: image verification failed (--image-verification enabled)"
        ))),
        Err(e) => {
            thv_core::errln!("warning: {image}: image not verified: {e:#}");
            Ok(())
        }
    }
}

/// A verified image: which signature verified, and the image pinned to the digest verified.
pub struct Verified {
    pub how: String,
    pub pinned: String,
}

/// Verifies `image` (see the module documentation): with the trusted keys, then against the provenance.
pub async fn verify(
    image: &str,
    config: &ImagesConfig,
    provenance: Option<&Provenance>,
    loaded: &MirrorStore,
) -> anyhow::Result<Verified> {
    if let Some(record) = loaded.find(image)? {
        return verify_loaded(&record, config, provenance, loaded).await;
    }
    let mut parsed = thv_core::image_ref::ImageRef::parse(image)
        .map_err(|e| anyhow::anyhow!("'{image}' is not an image reference: {e}"))?;
    let reference: oci_client::Reference = image
        .parse()
        .with_context(|| format!("'{image}' is not an image reference"))?;
    let registry = Registry::new(&parsed.registry, &config.insecure_registries);
    let digest = registry.digest(&reference).await?;
    parsed.tag = None;
    parsed.digest = Some(digest.clone());
    let pinned = parsed.to_string();
    let mut failures = Vec::new();
    if !config.trusted_keys.is_empty() {
        match verify_with_keys(&pinned, &parsed.registry, config).await {
            Ok(key) => {
                return Ok(Verified {
                    how: format!("key {key}"),
                    pinned,
                });
            }
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    if let Some(p) = provenance {
        match verify_provenance(&registry, &reference, &digest, p, config).await {
            Ok(signer) => {
                return Ok(Verified {
                    how: format!("{signer}, matching the registry entry's provenance"),
                    pinned,
                });
            }
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    bail!("{}", failures.join("; and "))
}

/// An image `thv mirror load` put in the engine: its digest and signatures as the verified bundle carried them,
/// checked with the same keys and provenance rules, no registry asked.
async fn verify_loaded(
    record: &thv_core::mirror::contents::ImageRecord,
    config: &ImagesConfig,
    provenance: Option<&Provenance>,
    loaded: &MirrorStore,
) -> anyhow::Result<Verified> {
    let signatures = loaded.signatures(record)?;
    let pinned = format!("{}@{}", record.repository, record.digest);
    let mut failures = Vec::new();
    if !config.trusted_keys.is_empty() {
        let keys = config
            .trusted_keys
            .iter()
            .map(|p| {
                Ok((
                    p.display().to_string(),
                    thv_core::signature::read_public_key_file(p)?,
                ))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        match signatures.verify_keys(&keys) {
            Ok(key) => {
                return Ok(Verified {
                    how: format!("key {key}, from the loaded mirror bundle"),
                    pinned,
                });
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    if let Some(p) = provenance {
        let trust = keyless_trust(p, config)?;
        match signatures.verify_provenance(p, &trust).await {
            Ok(signer) => {
                return Ok(Verified {
                    how: format!(
                        "{signer}, matching the registry entry's provenance, from the loaded mirror bundle"
                    ),
                    pinned,
                });
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    bail!("{}", failures.join("; and "))
}

/// The Sigstore instance of the public-good trusted root.
const PUBLIC_GOOD_TUF: &str = "tuf-repo-cdn.sigstore.dev";

/// Keyless signatures against the provenance, with the configured trusted root, else the bundled public-good
/// one when the provenance names that instance (or none).
async fn verify_provenance(
    registry: &Registry,
    reference: &oci_client::Reference,
    digest: &str,
    provenance: &Provenance,
    config: &ImagesConfig,
) -> anyhow::Result<String> {
    let trust = keyless_trust(provenance, config)?;
    keyless::verify(registry, reference, digest, provenance, &trust).await
}

/// The trusted root keyless signatures are checked against: the configured one, else the bundled public-good
/// one when the provenance names that instance (or none).
fn keyless_trust(provenance: &Provenance, config: &ImagesConfig) -> anyhow::Result<KeylessTrust> {
    let instance = provenance
        .sigstore_url
        .as_deref()
        .filter(|u| !u.is_empty())
        .unwrap_or(PUBLIC_GOOD_TUF);
    Ok(match &config.trusted_root {
        Some(root) => KeylessTrust::from_file(root).map_err(|e| anyhow::anyhow!(e))?,
        None if instance
            .trim_start_matches("https://")
            .trim_end_matches('/')
            == PUBLIC_GOOD_TUF =>
        {
            KeylessTrust::from_json(PUBLIC_GOOD_TRUSTED_ROOT.as_bytes())?
        }
        None => bail!(
            "its provenance names the Sigstore instance {instance}, whose trusted root is not configured \
             (`thv config set-image-verification MODE --trusted-root trusted_root.json`)"
        ),
    })
}

/// The name of the trusted key one of the signatures of `pinned` (`repository@sha256:…`) verifies with.
async fn verify_with_keys(
    pinned: &str,
    registry: &str,
    config: &ImagesConfig,
) -> anyhow::Result<String> {
    let by_digest: OciReference = pinned
        .parse()
        .with_context(|| format!("'{pinned}' is not an image reference"))?;
    let mut client = ClientBuilder::default()
        .with_oci_client_config(ClientConfig {
            protocol: ClientProtocol::HttpsExcept(config.insecure_registries.clone()),
            ..Default::default()
        })
        .build()
        .context("cannot make the registry client")?;
    let auth = match thv_core::oci::auth::for_registry(registry) {
        Some(c) => Auth::Basic(c.username, c.password),
        None => Auth::Anonymous,
    };
    let layers = client
        .trusted_signature_layers(&auth, &by_digest)
        .await
        .with_context(|| format!("cannot read the signatures of {pinned} from its registry"))?;
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
            return Ok(path.display().to_string());
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
