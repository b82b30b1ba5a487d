//! `thv-core`: the one shared model of the project.
//!
//! - [`server`]: the server.json document (schema 2025-12-11), lossless.
//! - [`api`]: the MCP Registry API shapes (responses, official metadata, status updates, errors).
//! - [`version`]: version rules and the `isLatest` ordering.
//! - [`validate`]: JSON Schema and semantic validation, as `POST /validate` reports it.
//! - [`toolhive`]: ToolHive's publisher-provided extension metadata, typed.
//! - [`legacy`]: ToolHive's legacy registry format and its lossless conversion to and from the upstream format.
//! - [`upstream_registry`]: the upstream registry file's types (`{"$schema","version","meta","data":{"servers"}}`).
//! - [`registry_file`]: registry files of every format, read raw and written back in their own format.
//! - [`filter`]: name globs and publisher tags that select servers (sync sources, curation commands).
//! - [`cluster_entry`]: registry entries made of ToolHive's Kubernetes resources (MCPServer and its kin).
//! - [`registry_client`]: the typed HTTP client of the registry API (used by the curation CLI, the runner and sync).
//! - [`runconfig`]: the RunConfig, the versioned contract between resolving a server and running it.
//! - [`oidc`]: JWTs from an OpenID Connect issuer, checked against its published keys (proxy auth, token exchanges).
//! - [`output`]: a command's output on stdout/stderr without a panic on a closed pipe (`outln!`, `errln!`).

pub mod api;
pub mod cluster_entry;
pub mod files;
pub mod filter;
pub mod image_ref;
pub mod legacy;
pub mod mirror;
pub mod net;
pub mod oci;
pub mod oidc;
pub mod output;
pub mod registry_client;
pub mod registry_file;
pub mod runconfig;
pub mod server;
pub mod signature;
pub mod tls;
pub mod toolhive;
pub mod upstream_registry;
pub mod validate;
pub mod version;
