//! The air-gapped mirror bundle: one OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`; a
//! directory) that carries selected registry entries and every image they run across an air gap, verified as a
//! whole before anything in it is used.
//!
//! What `index.json` lists (each with `org.opencontainers.image.ref.name`, so that `skopeo inspect
//! oci:DIR:NAME` and `skopeo copy oci:DIR:NAME …` read it):
//!
//! - the **entries**: an OCI artifact (artifact type [`ENTRIES_ARTIFACT_TYPE`], the empty config) whose layers are
//!   the selected server.json documents, one each, byte for byte as the source served them (their embedded
//!   signatures with them), annotated with the server name and version; named [`ENTRIES_REF`];
//! - every **image** the entries reference (OCI packages), by digest, digests unchanged, named
//!   `REGISTRY/REPOSITORY@sha256:…` as the entry names it; its cosign signature manifest
//!   (`REGISTRY/REPOSITORY:sha256-<hex>.sig`) and its OCI referrers (attestations) beside it, named likewise;
//!   layers shared between images are stored once;
//! - the **contents** ([`contents::Contents`]: the source, the time, the selection, each entry and image with
//!   their digests, and every blob of the layout with its size) and a sigstore bundle signing it with the mirror
//!   operator's key: an artifact of type [`MIRROR_ARTIFACT_TYPE`] named [`MIRROR_REF`].
//!
//! [`verify::verify`] checks the layout against the signed contents before anything else reads it: the
//! signature, every blob's size and SHA-256, that nothing the index reaches is missing from the signed list, and
//! each entry against its record (and its signature, given the publishers' keys).

pub mod archive;
pub mod contents;
pub mod index;
pub mod layout;
pub mod trust;
pub mod verify;

/// The artifact type of the entries artifact.
pub const ENTRIES_ARTIFACT_TYPE: &str = "application/vnd.toolhive.mirror.entries.v1+json";
/// The media type of each entry layer (a server.json document).
pub const ENTRY_MEDIA_TYPE: &str = "application/vnd.toolhive.mirror.server.v1+json";
/// The artifact type of the signed contents artifact.
pub const MIRROR_ARTIFACT_TYPE: &str = "application/vnd.toolhive.mirror.v1+json";
/// The media type of the contents layer.
pub const CONTENTS_MEDIA_TYPE: &str = "application/vnd.toolhive.mirror.contents.v1+json";
/// The `ref.name` of the entries artifact.
pub const ENTRIES_REF: &str = "toolhive-mirror-entries";
/// The artifact type of the trust artifact (trusted roots and public keys).
pub const TRUST_ARTIFACT_TYPE: &str = "application/vnd.toolhive.mirror.trust.v1+json";
/// The `ref.name` of the trust artifact.
pub const TRUST_REF: &str = "toolhive-mirror-trust";
/// The media type of a carried Sigstore `trusted_root.json`.
pub const TRUSTED_ROOT_MEDIA_TYPE: &str =
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1";
/// The media type of a carried public key (PEM).
pub const PUBLIC_KEY_MEDIA_TYPE: &str = "application/vnd.toolhive.mirror.public-key.v1+pem";
/// The `ref.name` of the signed contents artifact.
pub const MIRROR_REF: &str = "toolhive-mirror";
/// OCI's empty config descriptor's media type (`{}`), for artifacts.
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The annotation naming a manifest in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The annotations of an entry layer.
pub const ENTRY_NAME_ANNOTATION: &str = "io.toolhive.mirror.server.name";
pub const ENTRY_VERSION_ANNOTATION: &str = "io.toolhive.mirror.server.version";

/// What went wrong reading, writing or verifying a mirror bundle.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{path} is not a mirror bundle: {reason}")]
    NotABundle { path: String, reason: String },
    #[error("'{0}' is not a sha256 digest (sha256: and 64 lowercase hex digits)")]
    BadDigest(String),
    #[error("blob {digest}: {reason}")]
    Blob { digest: String, reason: String },
    #[error("image {image}: built from {built_from}, but entry {entry} runs {runs}")]
    PackageImageMismatch {
        image: String,
        built_from: String,
        entry: String,
        runs: String,
    },
    #[error("{0}")]
    Invalid(String),
}

impl MirrorError {
    pub fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |error| Self::Io {
            path: path.display().to_string(),
            error,
        }
    }
}

/// The OCI images a server.json's packages name (`registryType: oci`), in order, once each.
pub fn oci_images(server: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in server["packages"].as_array().into_iter().flatten() {
        if p["registryType"] == "oci"
            && let Some(id) = p["identifier"].as_str()
            && !out.iter().any(|o| o == id)
        {
            out.push(id.to_owned());
        }
    }
    out
}
