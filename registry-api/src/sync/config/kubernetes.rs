//! The sources read through the Kubernetes API: a registry file in a ConfigMap key, and ToolHive's resources.

use std::collections::HashSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{SourceKind, default_git_path};

/// How often a kubernetes source is listed again when no watch event asked for it.
pub const DEFAULT_RESYNC: Duration = Duration::from_secs(600);

/// Where a kubernetes source without `namespaces` looks, as toolhive-registry-server: a comma-separated list
/// (ToolHive's operator sets it to the registry's own namespace); unset, every namespace.
pub const WATCH_NAMESPACE_ENV: &str = "THV_REGISTRY_WATCH_NAMESPACE";

/// A ConfigMap key holding a registry file, read through the Kubernetes API with the server's own credentials
/// (its service account in a cluster, else `KUBECONFIG` or `~/.kube/config`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigMapSourceConfig {
    /// The ConfigMap's namespace; by default the server's own (its pod's, or the kubeconfig context's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    /// The key of the registry file.
    #[serde(default = "default_git_path")]
    pub key: String,
    #[serde(default, skip_serializing)]
    pub timeout: Option<String>,
}

/// ToolHive's `MCPServer`, `VirtualMCPServer` and `MCPRemoteProxy` resources of some namespaces, those annotated
/// `toolhive.stacklok.dev/registry-export: "true"` served as entries (`thv_core::cluster_entry`), read through
/// the Kubernetes API with the server's own credentials and watched.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSourceConfig {
    /// The namespaces to read; when empty, those `THV_REGISTRY_WATCH_NAMESPACE` lists, else every namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    #[serde(default, skip_serializing)]
    pub timeout: Option<String>,
}

/// RFC 1123 names: lower-case letters, digits, `-` and `.`, starting and ending with a letter or digit.
fn dns_name(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '.')
        && s.starts_with(|ch: char| ch.is_ascii_alphanumeric())
        && s.ends_with(|ch: char| ch.is_ascii_alphanumeric())
}

fn namespace_error(ns: &str) -> Option<String> {
    (!dns_name(ns, 63) || ns.contains('.')).then(|| format!(
        "'{ns}' is not a namespace name (1 to 63 lower-case letters, digits and '-', starting and ending with a letter or digit)"
    ))
}

/// The `kubernetes` section of a source: its namespaces, else those of `THV_REGISTRY_WATCH_NAMESPACE`.
pub(super) fn kubernetes_source(
    k: &KubernetesSourceConfig,
    field: &str,
    errors: &mut Vec<String>,
) -> SourceKind {
    let (namespaces, origin) = if k.namespaces.is_empty() {
        let listed = std::env::var(WATCH_NAMESPACE_ENV).ok();
        let namespaces: Vec<String> = listed
            .iter()
            .flat_map(|l| l.split(','))
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect();
        // Set but naming nothing is a mistake (a template's empty value), not a wish for every namespace.
        if listed.is_some() && namespaces.is_empty() {
            errors.push(format!(
                "{WATCH_NAMESPACE_ENV}: set but names no namespace (for {field}.kubernetes); unset it to read every namespace"
            ));
        }
        (namespaces, WATCH_NAMESPACE_ENV.to_owned())
    } else {
        (
            k.namespaces.clone(),
            format!("{field}.kubernetes.namespaces"),
        )
    };
    let mut seen = HashSet::new();
    for (i, ns) in namespaces.iter().enumerate() {
        if let Some(e) = namespace_error(ns) {
            errors.push(format!("{origin}[{i}]: {e}"));
        } else if !seen.insert(ns) {
            errors.push(format!("{origin}[{i}]: '{ns}' is listed twice"));
        }
    }
    SourceKind::Kubernetes { namespaces }
}

/// The `configmap` section of a source: Kubernetes object names (RFC 1123: lower-case letters, digits, `-`
/// and `.`) and a ConfigMap key (letters, digits, `-`, `_` and `.`).
pub(super) fn configmap_source(
    c: &ConfigMapSourceConfig,
    field: &str,
    errors: &mut Vec<String>,
) -> SourceKind {
    if let Some(e) = c.namespace.as_deref().and_then(namespace_error) {
        errors.push(format!("{field}.configmap.namespace: {e}"));
    }
    if !dns_name(&c.name, 253) {
        errors.push(format!(
            "{field}.configmap.name: '{}' is not a ConfigMap name (1 to 253 lower-case letters, digits, '-' and '.', starting and ending with a letter or digit)",
            c.name
        ));
    }
    let key_ok = !c.key.is_empty()
        && c.key.len() <= 253
        && c.key
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'))
        && c.key != "."
        && !c.key.starts_with("..");
    if !key_ok {
        errors.push(format!(
            "{field}.configmap.key: '{}' is not a ConfigMap key (1 to 253 letters, digits, '-', '_' and '.'; not '.', and not starting with '..')",
            c.key
        ));
    }
    SourceKind::ConfigMap {
        namespace: c.namespace.clone(),
        name: c.name.clone(),
        key: c.key.clone(),
    }
}
