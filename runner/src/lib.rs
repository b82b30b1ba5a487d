//! `thv`, the runner: runs MCP servers in containers behind the MCP proxy.
//!
//! - [`cli`]: the `thv` command line (thin: parse, call, print).
//! - [`workloads`]: run, start, stop, remove, list, over the state on disk ([`state`], [`dirs`]), the
//!   runtime and the detached proxy process ([`supervisor`]).
//! - [`registry`]: resolving names against the configured or bundled registry.
//! - [`runtime`]: the container runtime: the [`runtime::Runtime`] trait, the [`runtime::WorkloadSpec`] built
//!   from a [`thv_core::runconfig::RunConfig`], and its Docker Engine API implementation
//!   ([`runtime::docker::DockerRuntime`], for Docker or Podman's compatible socket).
//! - [`build`]: package images (`uvx://`, `npx://`, `go://`) built through the engine from Dockerfile templates.
//! - [`proxy`]: the MCP proxy: one stdio MCP server served to many HTTP clients (streamable HTTP or SSE), and
//!   the transparent reverse proxy for HTTP servers and remote URLs; [`proxy_stdio`] is the other way round
//!   (`thv proxy stdio`).
//! - [`clients`]: MCP client configuration files (VS Code, Cursor, Claude Code).
//! - [`mirror`]: `thv mirror load` (an air-gapped bundle on one machine) and the store `thv run` verifies
//!   loaded images from.
//! - [`config`], [`secrets`]: the user's configuration and secret values; [`redact`] keeps those values out of
//!   logs.

pub mod build;
pub mod cli;
pub mod clients;
pub mod config;
pub mod dirs;
pub mod egress;
pub mod image_verify;
pub use thv_proxy::middleware;
pub mod mirror;
pub use thv_proxy as proxy;
pub use thv_proxy::redact;
pub mod proxy_stdio;
pub mod registry;
pub mod runtime;
pub mod secrets;
pub mod state;
pub mod supervisor;
pub mod workloads;
