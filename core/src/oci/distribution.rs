//! What `thv` and `thv-registry` read from an image's registry (with the credentials `podman login` /
//! `docker login` stored for it, [`super::auth`], else anonymously; over HTTPS except for the configured insecure
//! registries): the digest a reference names now, manifests and blobs as stored (raw, by digest), cosign's
//! tag-stored signature layers (`sha256-<hex>.sig`: each layer's simple signing payload and descriptor
//! annotations), and an image's OCI 1.1 referrers (the referrers API, or its tag schema where the registry has no
//! such API). Signature and attestation blobs over [`MAX_BLOB`] are not read.

use std::collections::BTreeMap;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::{OciDescriptor, OciImageIndex};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

/// The largest signature or attestation blob read (as ToolHive: 10 MB).
pub const MAX_BLOB: i64 = 10 * 1024 * 1024;
/// The artifact and layer media type prefix of sigstore bundles.
pub const BUNDLE_MEDIA_TYPE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";

/// The media type of a cosign signature layer ([`crate::signature::cosign`]).
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Every manifest and index media type a raw manifest read accepts.
pub const MANIFEST_MEDIA_TYPES: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// A registry read that failed.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    // The cause is in the message, so it is not also the `source()` (an error chain would print it twice).
    #[error("cannot read {what} from its registry: {error}")]
    Read {
        what: String,
        error: OciDistributionError,
    },
    #[error("{what}: {message}")]
    Invalid { what: String, message: String },
}

impl OciError {
    fn read(what: impl std::fmt::Display) -> impl FnOnce(OciDistributionError) -> Self {
        let what = what.to_string();
        move |error| Self::Read { what, error }
    }
}

/// One cosign signature layer: the simple signing payload and the annotations of its descriptor.
#[derive(Debug, Clone)]
pub struct CosignLayer {
    pub payload: Vec<u8>,
    pub annotations: BTreeMap<String, String>,
}

/// A manifest (or index) as the registry stores it: its bytes, digest and media type.
pub struct RawManifest {
    pub bytes: Vec<u8>,
    pub digest: String,
    pub media_type: String,
}

pub struct Registry {
    client: Client,
    auth: RegistryAuth,
}

impl Registry {
    /// A client for `registry` (`host[:port]`).
    pub fn new(registry: &str, insecure_registries: &[String]) -> Self {
        let auth = match super::auth::for_registry(registry) {
            Some(c) => RegistryAuth::Basic(c.username, c.password),
            None => RegistryAuth::Anonymous,
        };
        Self {
            client: Client::new(ClientConfig {
                protocol: ClientProtocol::HttpsExcept(insecure_registries.to_vec()),
                // A blob goes up in one streamed PUT (its size is known), not a PATCH per chunk.
                use_monolithic_push: true,
                ..Default::default()
            }),
            auth,
        }
    }

    /// The digest `image` names now (a tag's current manifest or index).
    pub async fn digest(&self, image: &Reference) -> Result<String, OciError> {
        if let Some(d) = image.digest() {
            return Ok(d.to_owned());
        }
        self.client
            .fetch_manifest_digest(image, &self.auth)
            .await
            .map_err(OciError::read(image))
    }

    /// The manifest or index `image` names, as stored; `None` when the registry has none.
    pub async fn raw_manifest(&self, image: &Reference) -> Result<Option<RawManifest>, OciError> {
        let (bytes, digest) = match self
            .client
            .pull_manifest_raw(image, &self.auth, MANIFEST_MEDIA_TYPES)
            .await
        {
            Ok(m) => m,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(OciError::read(image)(e)),
        };
        let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| manifest_media_type(&v))
            .ok_or_else(|| OciError::Invalid {
                what: image.to_string(),
                message: "not a manifest or index (JSON with mediaType, layers or manifests)"
                    .into(),
            })?;
        Ok(Some(RawManifest {
            bytes: bytes.to_vec(),
            digest,
            media_type,
        }))
    }

    /// Streams the blob `descriptor` of `image`'s repository into `out`.
    pub async fn blob_to<W: tokio::io::AsyncWrite + Unpin>(
        &self,
        image: &Reference,
        descriptor: &OciDescriptor,
        out: W,
    ) -> Result<(), OciError> {
        self.client
            .store_auth_if_needed(image.resolve_registry(), &self.auth)
            .await;
        self.client
            .pull_blob(image, descriptor, out)
            .await
            .map_err(OciError::read(format!(
                "{image} blob {}",
                descriptor.digest
            )))
    }

    /// cosign's signature layers of `digest` in `image`'s repository; an absent signature tag is none.
    pub async fn cosign_layers(
        &self,
        image: &Reference,
        digest: &str,
    ) -> Result<Vec<CosignLayer>, OciError> {
        let sig = self.signature_tag(image, digest);
        let manifest = match self.client.pull_image_manifest(&sig, &self.auth).await {
            Ok((m, _)) => m,
            Err(e) if is_not_found(&e) => return Ok(Vec::new()),
            Err(e) => return Err(OciError::read(&sig)(e)),
        };
        let mut out = Vec::new();
        for layer in manifest
            .layers
            .iter()
            .filter(|l| l.media_type == SIMPLE_SIGNING_MEDIA_TYPE && l.size <= MAX_BLOB)
        {
            let mut payload = Vec::new();
            self.client
                .pull_blob(&sig, layer, &mut payload)
                .await
                .map_err(OciError::read(format!("{sig} layer {}", layer.digest)))?;
            out.push(CosignLayer {
                payload,
                annotations: layer.annotations.clone().unwrap_or_default(),
            });
        }
        Ok(out)
    }

    /// cosign's signature tag of `digest` in `image`'s repository (`sha256-<hex>.sig`).
    pub fn signature_tag(&self, image: &Reference, digest: &str) -> Reference {
        Reference::with_tag(
            image.registry().to_owned(),
            image.repository().to_owned(),
            format!("{}.sig", digest.replace(':', "-")),
        )
    }

    /// The referrers of `digest` in `image`'s repository (the referrers API, or its tag schema).
    pub async fn referrers(
        &self,
        image: &Reference,
        digest: &str,
    ) -> Result<OciImageIndex, OciError> {
        let subject = self.at(image, digest);
        self.client
            .store_auth_if_needed(subject.resolve_registry(), &self.auth)
            .await;
        self.client
            .pull_referrers(&subject, None)
            .await
            .map_err(OciError::read(format!("the referrers of {subject}")))
    }

    /// The sigstore bundles (JSON) among the referrers of `digest` in `image`'s repository.
    pub async fn referrer_bundles(
        &self,
        image: &Reference,
        digest: &str,
    ) -> Result<Vec<Vec<u8>>, OciError> {
        let index = self.referrers(image, digest).await?;
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
                .map_err(OciError::read(format!("the referrer {at}")))?;
            for layer in manifest.layers.iter().filter(|l| {
                l.media_type.starts_with(BUNDLE_MEDIA_TYPE_PREFIX) && l.size <= MAX_BLOB
            }) {
                let mut bundle = Vec::new();
                self.client
                    .pull_blob(&at, layer, &mut bundle)
                    .await
                    .map_err(OciError::read(format!("{at} layer {}", layer.digest)))?;
                out.push(bundle);
            }
        }
        Ok(out)
    }

    /// Authenticates for pushing to `image`'s repository.
    pub async fn prepare_push(&self, image: &Reference) -> Result<(), OciError> {
        self.client
            .auth(image, &self.auth, oci_client::RegistryOperation::Push)
            .await
            .map(|_| ())
            .map_err(OciError::read(format!("{image} (authenticating to push)")))
    }

    /// Whether `image`'s repository has the blob `digest`.
    pub async fn has_blob(&self, image: &Reference, digest: &str) -> Result<bool, OciError> {
        self.client
            .blob_exists(image, digest)
            .await
            .map_err(OciError::read(format!("{image} blob {digest}")))
    }

    /// Mounts the blob `digest` into `image`'s repository from `from`'s repository of the same registry (a
    /// cross-repository mount: nothing is uploaded); `false` when the registry would not mount it.
    pub async fn mount_blob(&self, image: &Reference, from: &Reference, digest: &str) -> bool {
        self.client.mount_blob(image, from, digest).await.is_ok()
    }

    /// Pushes a blob from a stream of chunks (bounded memory), as `digest` of `size` bytes.
    pub async fn push_blob_stream<S>(
        &self,
        image: &Reference,
        chunks: S,
        digest: &str,
        size: u64,
    ) -> Result<(), OciError>
    where
        S: futures::Stream<Item = oci_client::errors::Result<bytes::Bytes>> + Send + 'static,
    {
        self.client
            .push_blob_stream(image, chunks, digest, Some(size))
            .await
            .map(|_| ())
            .map_err(OciError::read(format!("{image} blob {digest} (pushing)")))
    }

    /// Pushes the blob stored in `path`, read in pieces of 1 MiB (bounded memory).
    pub async fn push_blob_file(
        &self,
        image: &Reference,
        path: &std::path::Path,
        digest: &str,
        size: u64,
    ) -> Result<(), OciError> {
        use tokio::io::AsyncReadExt;
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| OciError::Invalid {
                what: path.display().to_string(),
                message: e.to_string(),
            })?;
        let chunks = futures::stream::unfold(Some(file), |state| async move {
            let mut file = state?;
            let mut buf = vec![0u8; 1 << 20];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(bytes::Bytes::from(buf)), Some(file)))
                }
                Err(e) => Some((Err(OciDistributionError::IoError(e)), None)),
            }
        });
        self.push_blob_stream(image, chunks, digest, size).await
    }

    /// Pushes a manifest (or index) as stored, under `image`'s tag or digest.
    pub async fn push_manifest(
        &self,
        image: &Reference,
        bytes: Vec<u8>,
        media_type: &str,
    ) -> Result<(), OciError> {
        let content_type =
            reqwest::header::HeaderValue::from_str(media_type).map_err(|e| OciError::Invalid {
                what: image.to_string(),
                message: format!("media type {media_type}: {e}"),
            })?;
        self.client
            .push_manifest_raw(image, bytes, content_type)
            .await
            .map(|_| ())
            .map_err(OciError::read(format!("{image} (pushing its manifest)")))
    }

    /// `image`'s repository at `digest`.
    pub fn at(&self, image: &Reference, digest: &str) -> Reference {
        Reference::with_digest(
            image.registry().to_owned(),
            image.repository().to_owned(),
            digest.to_owned(),
        )
    }
}

/// A manifest's media type: its `mediaType`, else (OCI makes it optional) an index when it lists `manifests`,
/// an image manifest when it has `layers`.
pub fn manifest_media_type(manifest: &serde_json::Value) -> Option<String> {
    if let Some(t) = manifest["mediaType"].as_str() {
        return Some(t.to_owned());
    }
    if manifest["manifests"].is_array() {
        Some(MANIFEST_MEDIA_TYPES[1].to_owned())
    } else if manifest["layers"].is_array() {
        Some(MANIFEST_MEDIA_TYPES[0].to_owned())
    } else {
        None
    }
}

/// Whether a registry answered that the manifest does not exist.
fn is_not_found(e: &OciDistributionError) -> bool {
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
