//! Keyless image signatures matched against the registry entry's provenance: every cosign signature layer and
//! every sigstore bundle among the image's referrers is verified offline against the trusted root
//! ([`thv_core::signature::keyless`]: certificate chain, SCT, signature, log entry) with the provenance as the
//! certificate policy ([`thv_core::signature::provenance`]); one that passes is enough.

use sha2::{Digest, Sha256};
use sigstore::bundle::verify::ArtifactDigest;
use thv_core::signature::cosign::{keyless_layer_bundle, signed_image_digest};
use thv_core::signature::keyless::{KeylessTrust, verify_digest_with_policy};
use thv_core::signature::provenance::{CertificateSummary, ProvenancePolicy, check_attestation};
use thv_core::signature::tlog::Evidence;
use thv_core::signature::{Bundle, bundle_from_json};
use thv_core::toolhive::Provenance;

use thv_core::oci::Registry;

/// The signer of the first signature of `digest` that satisfies `provenance` (a description for the user), or
/// why none does.
pub async fn verify(
    registry: &Registry,
    image: &oci_client::Reference,
    digest: &str,
    provenance: &Provenance,
    trust: &KeylessTrust,
) -> anyhow::Result<String> {
    // What could not be read is a reason too: the other kind of signature may still verify.
    let mut refused = Vec::new();
    let layers = registry
        .cosign_layers(image, digest)
        .await
        .unwrap_or_else(|e| {
            refused.push(format!("{e:#}"));
            Vec::new()
        });
    for (i, layer) in layers.iter().enumerate() {
        let what = format!("cosign signature {}", i + 1);
        match verify_layer(
            &layer.payload,
            &layer.annotations,
            digest,
            provenance,
            trust,
        )
        .await
        {
            Ok(Some(signer)) => return Ok(format!("{what} by {signer}")),
            Ok(None) => {}
            Err(e) => refused.push(format!("{what}: {e}")),
        }
    }
    let bundles = registry
        .referrer_bundles(image, digest)
        .await
        .unwrap_or_else(|e| {
            refused.push(format!("{e:#}"));
            Vec::new()
        });
    for (i, json) in bundles.iter().enumerate() {
        let what = format!("attestation {}", i + 1);
        match verify_bundle(json, digest, provenance, trust).await {
            Ok(signer) => return Ok(format!("{what} by {signer}")),
            Err(e) => refused.push(format!("{what}: {e}")),
        }
    }
    if refused.is_empty() {
        anyhow::bail!(
            "not signed keyless: no cosign signature with a certificate at {}.sig and no sigstore bundle \
             among its referrers",
            digest.replace(':', "-")
        );
    }
    anyhow::bail!(
        "no signature matches the registry entry's provenance: {}",
        refused.join("; ")
    )
}

/// A cosign layer: `Ok(None)` when it is not keyless (a key's signature).
async fn verify_layer(
    payload: &[u8],
    annotations: &std::collections::BTreeMap<String, String>,
    digest: &str,
    provenance: &Provenance,
    trust: &KeylessTrust,
) -> anyhow::Result<Option<String>> {
    let Some(bundle) = keyless_layer_bundle(payload, annotations)? else {
        return Ok(None);
    };
    let signed = signed_image_digest(payload)?;
    if signed != digest {
        anyhow::bail!("signs {signed}, not {digest}");
    }
    let payload_digest: [u8; 32] = Sha256::digest(payload).into();
    verify_digest_with_policy(
        ArtifactDigest::Sha256(payload_digest),
        &bundle,
        trust,
        &ProvenancePolicy(provenance),
        Evidence::InclusionProofOrTimestamp,
    )
    .await?;
    Ok(Some(signer(&bundle)))
}

/// A sigstore bundle among the referrers (an in-toto attestation or a message signature over the image digest).
async fn verify_bundle(
    json: &[u8],
    digest: &str,
    provenance: &Provenance,
    trust: &KeylessTrust,
) -> anyhow::Result<String> {
    let bundle = bundle_from_json(&String::from_utf8_lossy(json))?;
    let image_digest = digest
        .strip_prefix("sha256:")
        .and_then(|h| hex::decode(h).ok())
        .and_then(|v| <[u8; 32]>::try_from(v).ok())
        .ok_or_else(|| anyhow::anyhow!("{digest} is not a sha256 digest"))?;
    verify_digest_with_policy(
        ArtifactDigest::Sha256(image_digest),
        &bundle,
        trust,
        &ProvenancePolicy(provenance),
        Evidence::InclusionProof,
    )
    .await?;
    check_attestation(provenance, &bundle).map_err(|e| anyhow::anyhow!(e))?;
    Ok(signer(&bundle))
}

/// The signer identity and issuer of a verified bundle's certificate, for the user.
fn signer(bundle: &Bundle) -> String {
    CertificateSummary::from_bundle(bundle)
        .map(|s| {
            format!(
                "{} (issuer {})",
                s.subject_alternative_name.unwrap_or_default(),
                s.issuer.unwrap_or_default()
            )
        })
        .unwrap_or_else(|| "an unknown signer".into())
}
