//! Registry entries made of ToolHive's Kubernetes resources (`MCPServer`, `VirtualMCPServer`, `MCPRemoteProxy`
//! of `toolhive.stacklok.dev`), as toolhive-registry-server's `kubernetes` source makes them, so that the
//! annotations its users already put on their resources publish the same entries here.
//!
//! A resource is published when it is annotated `toolhive.stacklok.dev/registry-export: "true"` (exactly) and
//! carries `registry-url` (where clients reach it) and `registry-description`. The entry:
//! - `name`: `com.toolhive.k8s.<namespace>/<name>` (lower-cased; other characters than letters, digits, `.`,
//!   `-` (and `_` in the name) become `-`);
//! - `version`: the `registry-version` annotation, else the image tag (MCPServer), when it is a strict
//!   semantic version (`1.2.3`, `v1.2.3`; no build metadata); else `1.0.0`;
//! - `description`, `title` (`registry-title`, when at most 100 characters), `icons` (`registry-icon`, when an
//!   `https://` URL): optional fields server.json would refuse are left out;
//! - `remotes`: one streamable-HTTP remote at the `registry-url`; an MCPServer also gets its image as an OCI
//!   package with the image's own transport (`stdio`, or HTTP at `mcpPort`). toolhive-registry-server puts the
//!   proxy's transport there, without the URL server.json requires of HTTP transports, which this server's
//!   validation (and the official registry's) refuses;
//! - ToolHive's extension under the URL: `status: active`, `metadata.kubernetes` (kind, namespace, name, uid,
//!   image, transport), `tools` and `tool_definitions` (JSON annotations; ignored when not JSON), and the
//!   `registry-category` as a tag.
//!
//! Per-entry claims (`toolhive.stacklok.dev/authz-claims`) decide who may see an entry in toolhive-registry-server;
//! this server has no per-entry visibility, so such a resource is not published rather than shown to everyone
//! (reported, with the reason).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::server::PUBLISHER_PROVIDED_META;
use crate::toolhive::STACKLOK_NAMESPACE;

/// The annotation prefix shared by every annotation read here.
pub const ANNOTATION_PREFIX: &str = "toolhive.stacklok.dev/";
pub const EXPORT: &str = "toolhive.stacklok.dev/registry-export";
pub const URL: &str = "toolhive.stacklok.dev/registry-url";
pub const DESCRIPTION: &str = "toolhive.stacklok.dev/registry-description";
pub const TITLE: &str = "toolhive.stacklok.dev/registry-title";
pub const ICON: &str = "toolhive.stacklok.dev/registry-icon";
pub const CATEGORY: &str = "toolhive.stacklok.dev/registry-category";
pub const VERSION: &str = "toolhive.stacklok.dev/registry-version";
pub const TOOLS: &str = "toolhive.stacklok.dev/tools";
pub const TOOL_DEFINITIONS: &str = "toolhive.stacklok.dev/tool-definitions";
pub const CLAIMS: &str = "toolhive.stacklok.dev/authz-claims";

/// server.json's longest title.
const MAX_TITLE: usize = 100;

/// The API group and version of the resources read.
pub const GROUP: &str = "toolhive.stacklok.dev";
pub const API_VERSION: &str = "v1beta1";

/// The kinds published, in the order a name shared by two of them is given (the first keeps it).
pub const KINDS: [ClusterKind; 3] = [
    ClusterKind::McpServer,
    ClusterKind::VirtualMcpServer,
    ClusterKind::McpRemoteProxy,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClusterKind {
    McpServer,
    VirtualMcpServer,
    McpRemoteProxy,
}

impl ClusterKind {
    pub fn kind(self) -> &'static str {
        match self {
            Self::McpServer => "MCPServer",
            Self::VirtualMcpServer => "VirtualMCPServer",
            Self::McpRemoteProxy => "MCPRemoteProxy",
        }
    }

    /// The resource's plural, as the API's paths and RBAC rules name it.
    pub fn plural(self) -> &'static str {
        match self {
            Self::McpServer => "mcpservers",
            Self::VirtualMcpServer => "virtualmcpservers",
            Self::McpRemoteProxy => "mcpremoteproxies",
        }
    }
}

/// What is read of one resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClusterResource {
    pub kind: ClusterKind,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub annotations: BTreeMap<String, String>,
    /// MCPServer: `spec.image`, `spec.transport` (`stdio` when absent, as the CRD defaults it), `spec.mcpPort`.
    pub image: Option<String>,
    pub transport: Option<String>,
    pub mcp_port: Option<u16>,
}

/// What a resource becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Published {
    /// Not annotated for export: not an entry, nothing to say.
    No,
    /// A server.json document.
    Entry(Value),
    /// Asked to be exported but cannot be.
    Refused(Refusal),
}

/// A resource that asked to be exported but cannot be: the entry's name and version as far as known, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub server: String,
    pub version: String,
    pub reason: String,
}

impl ClusterResource {
    /// `Kind namespace/name`, for messages.
    pub fn describe(&self) -> String {
        format!("{} {}/{}", self.kind.kind(), self.namespace, self.name)
    }

    /// Whether it asks to be exported (the annotation is exactly `"true"`).
    pub fn exported(&self) -> bool {
        self.annotations.get(EXPORT).map(String::as_str) == Some("true")
    }

    /// The entry's server name.
    pub fn server_name(&self) -> String {
        let clean = |s: &str, keep_underscore: bool| {
            let mapped: String = s
                .to_lowercase()
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric()
                        || c == '.'
                        || c == '-'
                        || (keep_underscore && c == '_')
                    {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            mapped.trim_matches(['-', '.', '_']).to_owned()
        };
        format!(
            "com.toolhive.k8s.{}/{}",
            clean(&self.namespace, false),
            clean(&self.name, true)
        )
    }

    /// The entry's version: see the module documentation.
    pub fn version(&self) -> String {
        let annotated = self.annotations.get(VERSION).map(|v| v.trim());
        let tagged = self.image.as_deref().and_then(image_tag);
        annotated
            .into_iter()
            .chain(tagged)
            .find(|v| publishable_version(v))
            .unwrap_or("1.0.0")
            .to_owned()
    }

    /// The registry entry this resource stands for.
    pub fn publish(&self) -> Published {
        if !self.exported() {
            return Published::No;
        }
        let (server, version) = (self.server_name(), self.version());
        let refuse = |reason: String| {
            Published::Refused(Refusal {
                server: server.clone(),
                version: version.clone(),
                reason: format!("{}: {reason}", self.describe()),
            })
        };
        let (Some(url), Some(description)) =
            (self.annotations.get(URL), self.annotations.get(DESCRIPTION))
        else {
            let missing: Vec<&str> = [URL, DESCRIPTION]
                .into_iter()
                .filter(|a| !self.annotations.contains_key(*a))
                .collect();
            return refuse(format!(
                "exported, but the annotation {} is missing",
                missing.join(" and ")
            ));
        };
        if self
            .annotations
            .get(CLAIMS)
            .is_some_and(|c| !c.trim().is_empty())
        {
            return refuse(format!(
                "{CLAIMS}: per-entry claims are not supported by this server (it has no per-entry visibility), so the entry is not published rather than shown to every reader"
            ));
        }
        let mut doc = json!({
            "$schema": crate::server::CURRENT_SCHEMA_URL,
            "name": server,
            "description": description,
            "version": version,
            "remotes": [{"type": "streamable-http", "url": url}],
        });
        // Optional fields server.json would refuse are left out rather than refusing the entry.
        if let Some(title) = self
            .annotations
            .get(TITLE)
            .filter(|t| !t.is_empty() && t.chars().count() <= MAX_TITLE)
        {
            doc["title"] = json!(title);
        }
        if let Some(icon) = self
            .annotations
            .get(ICON)
            .filter(|i| i.starts_with("https://") && !i.contains(char::is_whitespace))
        {
            doc["icons"] = json!([{"src": icon}]);
        }
        if self.kind == ClusterKind::McpServer
            && let Some(image) = self.image.as_deref().filter(|i| !i.is_empty())
        {
            doc["packages"] = json!([{
                "registryType": "oci",
                "identifier": image,
                "transport": self.package_transport(),
            }]);
        }
        doc["_meta"] = json!({
            PUBLISHER_PROVIDED_META: {STACKLOK_NAMESPACE: {url.as_str(): self.extension()}}
        });
        Published::Entry(doc)
    }

    /// The image's own transport: `stdio`, or an HTTP transport at the container's `mcpPort` (8080 by default)
    /// on its conventional path.
    fn package_transport(&self) -> Value {
        let port = self.mcp_port.unwrap_or(8080);
        match self.transport.as_deref() {
            Some("sse") => json!({"type": "sse", "url": format!("http://localhost:{port}/sse")}),
            Some("streamable-http") => {
                json!({"type": "streamable-http", "url": format!("http://localhost:{port}/mcp")})
            }
            _ => json!({"type": "stdio"}),
        }
    }

    /// ToolHive's extension of the entry.
    fn extension(&self) -> Value {
        let mut kubernetes = Map::new();
        kubernetes.insert("kind".into(), json!(self.kind.kind()));
        kubernetes.insert("namespace".into(), json!(self.namespace));
        kubernetes.insert("name".into(), json!(self.name));
        kubernetes.insert("uid".into(), json!(self.uid));
        if self.kind == ClusterKind::McpServer {
            if let Some(image) = &self.image {
                kubernetes.insert("image".into(), json!(image));
            }
            if let Some(transport) = &self.transport {
                kubernetes.insert("transport".into(), json!(transport));
            }
        }
        let mut ext = json!({"status": "active", "metadata": {"kubernetes": kubernetes}});
        let parsed = |key: &str| {
            self.annotations
                .get(key)
                .and_then(|t| serde_json::from_str::<Vec<Value>>(t).ok())
        };
        if let Some(tools) = parsed(TOOLS).filter(|t| t.iter().all(Value::is_string)) {
            ext["tools"] = json!(tools);
        }
        if let Some(definitions) =
            parsed(TOOL_DEFINITIONS).filter(|t| t.iter().all(Value::is_object))
        {
            ext["tool_definitions"] = json!(definitions);
        }
        if let Some(category) = self.annotations.get(CATEGORY).filter(|c| !c.is_empty()) {
            ext["tags"] = json!([category]);
        }
        ext
    }
}

/// The tag of an image reference (`repo:tag`, `repo:tag@digest`), if it has one.
fn image_tag(image: &str) -> Option<&str> {
    let without_digest = image.split('@').next().unwrap_or(image);
    let (_, tag) = without_digest.rsplit_once(':')?;
    (!tag.contains('/') && !tag.is_empty()).then_some(tag)
}

/// A strict `MAJOR.MINOR.PATCH[-PRE]` with an optional leading `v`, no build metadata, at most 255 characters.
fn publishable_version(v: &str) -> bool {
    if v.is_empty() || v.len() > 255 || v.contains('+') {
        return false;
    }
    crate::version::SemVer::parse(v.strip_prefix('v').unwrap_or(v)).is_some()
}

/// The entries of a set of resources: each published one, in kind order, and the refusals (a name already
/// taken by a resource of an earlier kind included).
pub fn publish_all(resources: &[ClusterResource]) -> (Vec<Value>, Vec<Refusal>) {
    let mut sorted: Vec<&ClusterResource> = resources.iter().collect();
    sorted.sort_by(|a, b| (a.kind, &a.namespace, &a.name).cmp(&(b.kind, &b.namespace, &b.name)));
    let mut taken: BTreeMap<String, String> = BTreeMap::new();
    let (mut entries, mut refused) = (Vec::new(), Vec::new());
    for r in sorted {
        match r.publish() {
            Published::No => {}
            Published::Entry(doc) => {
                let name = r.server_name();
                if let Some(first) = taken.get(&name) {
                    refused.push(Refusal {
                        server: name,
                        version: r.version(),
                        reason: format!(
                            "{}: its entry name is already {first}'s (the first kind of MCPServer, VirtualMCPServer, MCPRemoteProxy keeps it)",
                            r.describe()
                        ),
                    });
                } else {
                    taken.insert(name, r.describe());
                    entries.push(doc);
                }
            }
            Published::Refused(refusal) => refused.push(refusal),
        }
    }
    (entries, refused)
}

#[cfg(test)]
mod tests;
