//! `thv`, the runner: runs MCP servers in containers behind the MCP proxy.
//!
//! - [`runtime`]: the container runtime: the [`runtime::Runtime`] trait, the [`runtime::WorkloadSpec`] built
//!   from a [`thv_core::runconfig::RunConfig`], and its Docker Engine API implementation
//!   ([`runtime::docker::DockerRuntime`], for Docker or Podman's compatible socket).
//! - [`proxy`]: the stdio proxy: one stdio MCP server served to many HTTP clients (streamable HTTP or SSE).

pub mod proxy;
pub mod runtime;
