//! Keyless image signatures matched against the registry entry's provenance: the image's cosign signature layers
//! and the sigstore bundles among its referrers are read from its registry and verified offline by
//! [`thv_core::signature::image`] (certificate chain, SCT, signature, log entry; the provenance as the certificate
//! policy); one that passes is enough.

use thv_core::oci::Registry;
use thv_core::signature::image::ImageSignatures;
use thv_core::signature::keyless::KeylessTrust;
use thv_core::toolhive::Provenance;

/// The signer of the first signature of `digest` that satisfies `provenance` (a description for the user), or
/// why none does.
pub async fn verify(
    registry: &Registry,
    image: &oci_client::Reference,
    digest: &str,
    provenance: &Provenance,
    trust: &KeylessTrust,
) -> anyhow::Result<String> {
    let signatures = read(registry, image, digest).await;
    Ok(signatures.verify_provenance(provenance, trust).await?)
}

/// The signatures of `digest` in `image`'s repository; what cannot be read is kept as a reason (the other kind
/// of signature may still verify).
async fn read(registry: &Registry, image: &oci_client::Reference, digest: &str) -> ImageSignatures {
    let mut s = ImageSignatures::new(digest);
    match registry.cosign_layers(image, digest).await {
        Ok(layers) => s.cosign = layers,
        Err(e) => s.unreadable.push(format!("{e:#}")),
    }
    match registry.referrer_bundles(image, digest).await {
        Ok(bundles) => s.bundles = bundles,
        Err(e) => s.unreadable.push(format!("{e:#}")),
    }
    s
}
