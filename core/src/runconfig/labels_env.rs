//! What the runner adds to a container: the transport env vars and the standard `toolhive*` labels.

use std::collections::{BTreeMap, BTreeSet};

use super::RunConfig;
use transport_env::CONTAINER_LISTEN_HOST;

/// Container label keys set on every managed container (ToolHive's).
pub mod labels {
    /// `true` on every container `thv` manages.
    pub const TOOLHIVE: &str = "toolhive";
    pub const NAME: &str = "toolhive-name";
    pub const BASENAME: &str = "toolhive-basename";
    pub const TRANSPORT: &str = "toolhive-transport";
    /// The proxy port (set once the port is known).
    pub const PORT: &str = "toolhive-port";
    pub const NETWORK_ISOLATION: &str = "toolhive-network-isolation";
    pub const GROUP: &str = "toolhive-group";
    /// Marks auxiliary containers (egress/ingress/DNS of an isolated network).
    pub const AUXILIARY: &str = "toolhive-auxiliary";
    /// Prefix reserved for these labels: user labels may not use it.
    pub const RESERVED_PREFIX: &str = "toolhive";
}

/// Env vars the runner injects into a container for its transport (ToolHive's names).
pub mod transport_env {
    /// `MCP_HOST`: what an HTTP server listens on in its container (all interfaces).
    pub const CONTAINER_LISTEN_HOST: &str = "0.0.0.0";
    pub const MCP_TRANSPORT: &str = "MCP_TRANSPORT";
    pub const MCP_PORT: &str = "MCP_PORT";
    pub const FASTMCP_PORT: &str = "FASTMCP_PORT";
    pub const MCP_HOST: &str = "MCP_HOST";
}

impl RunConfig {
    /// The env vars ToolHive injects for the transport: `MCP_TRANSPORT` always; for sse/streamable-http also
    /// `MCP_PORT` and `FASTMCP_PORT` (the target port, once known) and `MCP_HOST`, the address the server
    /// listens on **inside its container**: [`transport_env::CONTAINER_LISTEN_HOST`] (all interfaces), so that the port
    /// published on the host reaches it. (ToolHive writes the proxy's target host, `127.0.0.1`, here: a server
    /// that honours it listens on the container's loopback only and cannot be reached.) Empty for a remote
    /// server.
    pub fn transport_env_vars(&self) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        if self.is_remote() {
            return env;
        }
        env.insert(
            transport_env::MCP_TRANSPORT.to_owned(),
            self.transport.as_str().to_owned(),
        );
        if self.transport.is_http() {
            if let Some(port) = self.target_port {
                env.insert(transport_env::MCP_PORT.to_owned(), port.to_string());
                env.insert(transport_env::FASTMCP_PORT.to_owned(), port.to_string());
            }
            env.insert(
                transport_env::MCP_HOST.to_owned(),
                CONTAINER_LISTEN_HOST.to_owned(),
            );
        }
        env
    }

    /// Writes [`RunConfig::transport_env_vars`] into `env_vars` (they override the user's `-e`, as in ToolHive;
    /// a secret reference with the same target still wins, so such a name is left out of `env_vars`).
    pub fn apply_transport_env(&mut self) {
        let secret_targets: BTreeSet<&str> =
            self.secrets.iter().map(|s| s.target.as_str()).collect();
        for (k, v) in self.transport_env_vars() {
            if !secret_targets.contains(k.as_str()) {
                self.env_vars.insert(k, v);
            }
        }
    }

    /// The labels every managed container gets: `toolhive=true`, `toolhive-name`, `toolhive-basename`,
    /// `toolhive-transport`, `toolhive-port` (once the proxy port is known), `toolhive-network-isolation`,
    /// `toolhive-group`.
    pub fn standard_labels(&self) -> BTreeMap<String, String> {
        let mut l = BTreeMap::new();
        l.insert(labels::TOOLHIVE.to_owned(), "true".to_owned());
        l.insert(labels::NAME.to_owned(), self.name.clone());
        l.insert(labels::BASENAME.to_owned(), self.base_name.clone());
        l.insert(
            labels::TRANSPORT.to_owned(),
            self.transport.as_str().to_owned(),
        );
        if let Some(port) = self.port {
            l.insert(labels::PORT.to_owned(), port.to_string());
        }
        l.insert(
            labels::NETWORK_ISOLATION.to_owned(),
            self.isolate_network.to_string(),
        );
        l.insert(labels::GROUP.to_owned(), self.group_name().to_owned());
        l
    }

    /// Writes [`RunConfig::standard_labels`] into `container_labels` (no-op for a remote server).
    pub fn apply_standard_labels(&mut self) {
        if !self.is_remote() {
            self.container_labels.extend(self.standard_labels());
        }
    }

    /// Sets the proxy port (once chosen) and its label.
    pub fn set_port(&mut self, port: u16) {
        self.port = Some(port);
        if !self.is_remote() {
            self.container_labels
                .insert(labels::PORT.to_owned(), port.to_string());
        }
    }

    /// Sets the container port (once chosen) and the transport env vars that carry it.
    pub fn set_target_port(&mut self, port: u16) {
        self.target_port = Some(port);
        self.apply_transport_env();
    }
}
