//! OCI registries as `thv` and `thv-registry` read them: the credentials container tools stored ([`auth`]) and
//! the reads image verification and the air-gapped mirror need ([`registry`]).

pub mod auth;
pub mod registry;

pub use oci_client::Reference;
pub use oci_client::manifest::OciDescriptor;
pub use registry::{CosignLayer, OciError, RawManifest, Registry};
