//! The tests' OCI registry (Debian's docker-registry on 127.0.0.1, plain HTTP, `scripts/start-oci-registry.sh`):
//! pushing the test image to it, and pushing signature and attestation artifacts raw (as cosign does).

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sigstore::cosign::constraint::{Constraint, PrivateKeySigner};
use sigstore::cosign::{ClientBuilder, CosignCapabilities, SignatureLayer};
use sigstore::crypto::SigningScheme;
use sigstore::registry::{Auth, ClientConfig, ClientProtocol, OciReference};

use crate::thv::{TEST_SERVER_IMAGE, podman, skip};

/// The local OCI registry's address (`THV_TEST_OCI_REGISTRY`), or `None` (skipped outside CI) when unset.
pub fn registry() -> Option<String> {
    std::env::var("THV_TEST_OCI_REGISTRY").ok().or_else(|| {
        skip("THV_TEST_OCI_REGISTRY is unset (run `eval \"$(scripts/start-oci-registry.sh)\"`)")
    })
}

/// The private (basic auth) OCI registry's address and `user:password` (`THV_TEST_OCI_AUTH_REGISTRY`,
/// `THV_TEST_OCI_AUTH`), or `None` (skipped outside CI) when unset.
pub fn auth_registry() -> Option<(String, String)> {
    match (
        std::env::var("THV_TEST_OCI_AUTH_REGISTRY"),
        std::env::var("THV_TEST_OCI_AUTH"),
    ) {
        (Ok(r), Ok(a)) => Some((r, a)),
        _ => skip(
            "THV_TEST_OCI_AUTH_REGISTRY/THV_TEST_OCI_AUTH are unset (run `eval \"$(scripts/start-oci-registry.sh)\"`)",
        ),
    }
}

/// Pushes the test image to `image` (`podman push` with `extra` arguments, e.g. `--format v2s2`).
pub fn push_test_image(image: &str, extra: &[&str]) {
    let mut args = vec!["push", "--tls-verify=false"];
    args.extend_from_slice(extra);
    args.extend([TEST_SERVER_IMAGE, image]);
    let out = podman(&args).output().expect("podman push");
    assert!(
        out.status.success(),
        "podman push {image}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Signs `image` with a key's `signer` (over `digest`, or the image's own digest) and pushes the signature as
/// cosign does (sigstore's cosign client, `sha256-<digest>.sig`).
pub async fn push_key_signature(
    image: &str,
    signer: sigstore::crypto::SigStoreSigner,
    digest: Option<&str>,
) {
    let mut client = ClientBuilder::default()
        .with_oci_client_config(ClientConfig {
            protocol: ClientProtocol::Http,
            ..Default::default()
        })
        .build()
        .unwrap();
    let reference: OciReference = image.parse().unwrap();
    let (sig_ref, own) = client
        .triangulate(&reference, &Auth::Anonymous)
        .await
        .unwrap();
    let mut layer = SignatureLayer::new_unsigned(&reference, digest.unwrap_or(&own)).unwrap();
    assert!(
        PrivateKeySigner::new_with_signer(signer)
            .add_constraint(&mut layer)
            .unwrap()
    );
    client
        .push_signature(None, &Auth::Anonymous, &sig_ref, vec![layer])
        .await
        .unwrap();
}

/// A new ECDSA P-256 signing key; its public key is written to `dir/NAME.pub` (PEM).
pub fn key_pair(dir: &std::path::Path, name: &str) -> sigstore::crypto::SigStoreSigner {
    let signer = SigningScheme::ECDSA_P256_SHA256_ASN1
        .create_signer()
        .unwrap();
    let pem = signer
        .to_sigstore_keypair()
        .unwrap()
        .public_key_to_pem()
        .unwrap();
    std::fs::write(dir.join(format!("{name}.pub")), pem).unwrap();
    signer
}

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// An image's repository in the registry, for pushing artifacts next to it.
pub struct Repository {
    client: oci_client::Client,
    image: oci_client::Reference,
    auth: oci_client::secrets::RegistryAuth,
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

impl Repository {
    pub async fn of(image: &str) -> Self {
        Self::with_auth(image, None).await
    }

    /// The repository of `image` on a registry requiring `user:password`.
    pub async fn with_auth(image: &str, user_password: Option<&str>) -> Self {
        let client = oci_client::Client::new(oci_client::client::ClientConfig {
            protocol: oci_client::client::ClientProtocol::Http,
            ..Default::default()
        });
        let image: oci_client::Reference = image.parse().unwrap();
        let auth = match user_password.and_then(|a| a.split_once(':')) {
            Some((u, p)) => oci_client::secrets::RegistryAuth::Basic(u.into(), p.into()),
            None => oci_client::secrets::RegistryAuth::Anonymous,
        };
        client
            .auth(&image, &auth, oci_client::RegistryOperation::Push)
            .await
            .unwrap();
        Self {
            client,
            image,
            auth,
        }
    }

    /// `registry/repository` of the image.
    pub fn name(&self) -> String {
        format!("{}/{}", self.image.registry(), self.image.repository())
    }

    /// The image's manifest (raw) and digest.
    pub async fn manifest(&self) -> (Vec<u8>, String) {
        let (raw, digest) = self
            .client
            .pull_manifest_raw(
                &self.image,
                &self.auth,
                &[
                    OCI_MANIFEST,
                    "application/vnd.docker.distribution.manifest.v2+json",
                ],
            )
            .await
            .unwrap();
        (raw.to_vec(), digest)
    }

    fn tag(&self, tag: String) -> oci_client::Reference {
        oci_client::Reference::with_tag(
            self.image.registry().to_owned(),
            self.image.repository().to_owned(),
            tag,
        )
    }

    /// Pushes a blob; its descriptor (`mediaType`, `digest`, `size`).
    pub async fn blob(&self, media_type: &str, data: &[u8]) -> Value {
        let digest = sha256_digest(data);
        self.client
            .push_blob(&self.tag("blobs".into()), data.to_vec(), &digest)
            .await
            .unwrap();
        json!({"mediaType": media_type, "digest": digest, "size": data.len()})
    }

    /// Pushes a manifest (or index) of `media_type` under `tag`, as raw JSON (serializing it another way, as
    /// oci-client does, leaves a certificate's PEM newlines unescaped, which the registry refuses); its
    /// descriptor.
    pub async fn manifest_at(&self, tag: &str, media_type: &str, manifest: &Value) -> Value {
        let body = serde_json::to_vec(manifest).unwrap();
        let header = reqwest::header::HeaderValue::from_str(media_type).unwrap();
        self.client
            .push_manifest_raw(&self.tag(tag.to_owned()), body.clone(), header)
            .await
            .unwrap();
        json!({"mediaType": media_type, "digest": sha256_digest(&body), "size": body.len()})
    }

    /// Pushes cosign's signature manifest of `digest` (`sha256-<hex>.sig`): one simple signing layer with its
    /// annotations.
    pub async fn push_cosign_signature(
        &self,
        digest: &str,
        payload: &[u8],
        annotations: &std::collections::BTreeMap<String, String>,
    ) {
        let config = self
            .blob("application/vnd.oci.image.config.v1+json", b"{}")
            .await;
        let mut layer = self
            .blob("application/vnd.dev.cosign.simplesigning.v1+json", payload)
            .await;
        layer["annotations"] = json!(annotations);
        let manifest = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config,
                              "layers": [layer]});
        let tag = format!("{}.sig", digest.replace(':', "-"));
        self.manifest_at(&tag, OCI_MANIFEST, &manifest).await;
    }

    /// Attaches a sigstore bundle to the image as an OCI 1.1 referrer, through the referrers tag schema (the
    /// `sha256-<digest>` index; docker-registry has no referrers API).
    pub async fn attach_bundle(&self, bundle: &Value) {
        let bundle_type = "application/vnd.dev.sigstore.bundle.v0.3+json";
        let (subject_raw, subject_digest) = self.manifest().await;
        let subject_type = serde_json::from_slice::<Value>(&subject_raw).unwrap()["mediaType"]
            .as_str()
            .unwrap_or(OCI_MANIFEST)
            .to_owned();
        let config = self.blob("application/vnd.oci.empty.v1+json", b"{}").await;
        let layer = self
            .blob(bundle_type, &serde_json::to_vec(bundle).unwrap())
            .await;
        let manifest = json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": bundle_type,
            "config": config, "layers": [layer],
            "subject": {"mediaType": subject_type, "digest": subject_digest, "size": subject_raw.len()},
        });
        let referrer = sha256_digest(&serde_json::to_vec(&manifest).unwrap());
        let mut descriptor = self
            .manifest_at(
                &format!("referrer-{}", &referrer[7..19]),
                OCI_MANIFEST,
                &manifest,
            )
            .await;
        descriptor["artifactType"] = json!(bundle_type);
        let index_type = "application/vnd.oci.image.index.v1+json";
        let index = json!({"schemaVersion": 2, "mediaType": index_type, "manifests": [descriptor]});
        self.manifest_at(&subject_digest.replace(':', "-"), index_type, &index)
            .await;
    }
}
