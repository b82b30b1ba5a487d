//! What image verification reads from an image's registry (with the credentials `podman login` / `docker login`
//! stored for it, [`crate::registry_auth`], else anonymously; over HTTPS except for the configured insecure
//! registries): the digest a reference names now, cosign's tag-stored signature layers
//! (`sha256-<hex>.sig`: each layer's simple signing payload and descriptor annotations), and the sigstore
//! bundles among the image's OCI 1.1 referrers (artifact type `application/vnd.dev.sigstore.bundle…`; the
//! referrers API, or its tag schema where the registry has no such API). Blobs over [`MAX_BLOB`] are not read.

use std::collections::BTreeMap;

use anyhow::Context;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

/// The largest signature or attestation blob read (as ToolHive: 10 MB).
pub const MAX_BLOB: i64 = 10 * 1024 * 1024;
/// The artifact and layer media type prefix of sigstore bundles.
const BUNDLE_MEDIA_TYPE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";

/// One cosign signature layer: the simple signing payload and the annotations of its descriptor.
pub struct CosignLayer {
    pub payload: Vec<u8>,
    pub annotations: BTreeMap<String, String>,
}

pub struct Registry {
    client: Client,
    auth: RegistryAuth,
}

impl Registry {
    /// A client for `registry` (`host[:port]`).
    pub fn new(registry: &str, insecure_registries: &[String]) -> Self {
        let auth = match crate::registry_auth::for_registry(registry) {
            Some(c) => RegistryAuth::Basic(c.username, c.password),
            None => RegistryAuth::Anonymous,
        };
        Self {
            client: Client::new(ClientConfig {
                protocol: ClientProtocol::HttpsExcept(insecure_registries.to_vec()),
                ..Default::default()
            }),
            auth,
        }
    }

    /// The digest `image` names now (a tag's current manifest or index).
    pub async fn digest(&self, image: &Reference) -> anyhow::Result<String> {
        if let Some(d) = image.digest() {
            return Ok(d.to_owned());
        }
        self.client
            .fetch_manifest_digest(image, &self.auth)
            .await
            .with_context(|| format!("cannot read {image} from its registry"))
    }

    /// cosign's signature layers of `digest` in `image`'s repository; an absent signature tag is none.
    pub async fn cosign_layers(
        &self,
        image: &Reference,
        digest: &str,
    ) -> anyhow::Result<Vec<CosignLayer>> {
        let tag = format!("{}.sig", digest.replace(':', "-"));
        let sig = Reference::with_tag(
            image.registry().to_owned(),
            image.repository().to_owned(),
            tag,
        );
        let manifest = match self.client.pull_image_manifest(&sig, &self.auth).await {
            Ok((m, _)) => m,
            Err(e) if is_not_found(&e) => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {sig}")),
        };
        let mut out = Vec::new();
        for layer in manifest.layers.iter().filter(|l| {
            l.media_type == thv_core::signature::cosign::SIMPLE_SIGNING_MEDIA_TYPE
                && l.size <= MAX_BLOB
        }) {
            let mut payload = Vec::new();
            self.client
                .pull_blob(&sig, layer, &mut payload)
                .await
                .with_context(|| format!("cannot read {sig} layer {}", layer.digest))?;
            out.push(CosignLayer {
                payload,
                annotations: layer.annotations.clone().unwrap_or_default(),
            });
        }
        Ok(out)
    }

    /// The sigstore bundles (JSON) among the referrers of `digest` in `image`'s repository.
    pub async fn referrer_bundles(
        &self,
        image: &Reference,
        digest: &str,
    ) -> anyhow::Result<Vec<Vec<u8>>> {
        let subject = self.at(image, digest);
        self.client
            .store_auth_if_needed(subject.resolve_registry(), &self.auth)
            .await;
        let index = self
            .client
            .pull_referrers(&subject, None)
            .await
            .with_context(|| format!("cannot list the referrers of {subject}"))?;
        let mut out = Vec::new();
        for entry in index.manifests.iter().filter(|m| {
            m.artifact_type
                .as_deref()
                .is_some_and(|t| t.starts_with(BUNDLE_MEDIA_TYPE_PREFIX))
        }) {
            let at = self.at(image, &entry.digest);
            let (manifest, _) = self
                .client
                .pull_image_manifest(&at, &self.auth)
                .await
                .with_context(|| format!("cannot read the referrer {at}"))?;
            for layer in manifest.layers.iter().filter(|l| {
                l.media_type.starts_with(BUNDLE_MEDIA_TYPE_PREFIX) && l.size <= MAX_BLOB
            }) {
                let mut bundle = Vec::new();
                self.client
                    .pull_blob(&at, layer, &mut bundle)
                    .await
                    .with_context(|| format!("cannot read {at} layer {}", layer.digest))?;
                out.push(bundle);
            }
        }
        Ok(out)
    }

    fn at(&self, image: &Reference, digest: &str) -> Reference {
        Reference::with_digest(
            image.registry().to_owned(),
            image.repository().to_owned(),
            digest.to_owned(),
        )
    }
}

/// Whether a registry answered that the manifest does not exist.
fn is_not_found(e: &oci_client::errors::OciDistributionError) -> bool {
    use oci_client::errors::OciDistributionError as E;
    match e {
        E::ImageManifestNotFoundError(_) => true,
        E::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|e| matches!(e.code, oci_client::errors::OciErrorCode::ManifestUnknown)),
        E::ServerError { code, .. } => *code == 404,
        _ => false,
    }
}
