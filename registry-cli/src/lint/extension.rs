//! Rules on ToolHive's extension (`_meta` of the publisher): tier, status, tools, permissions, metadata.

use super::*;

impl Linter<'_> {
    pub(super) fn extension(&mut self, s: &ServerJson) {
        let container = s
            .packages
            .iter()
            .flatten()
            .any(|p| p.registry_type.eq_ignore_ascii_case("oci"));
        let ext = match toolhive::try_extensions(s) {
            Err(e) => {
                let at = field(&field("_meta", PUBLISHER_PROVIDED_META), STACKLOK_NAMESPACE);
                self.emit("extension-malformed", at, e.to_string());
                if container {
                    self.emit(
                        "no-provenance",
                        "",
                        "container server without readable image provenance",
                    );
                }
                return;
            }
            Ok(None) => {
                self.emit(
                    "no-toolhive-extension",
                    "_meta",
                    format!(
                        "no ToolHive extension (_meta[\"{PUBLISHER_PROVIDED_META}\"][\"{STACKLOK_NAMESPACE}\"]): \
                         tier, status, tools and permissions are unknown"
                    ),
                );
                if container {
                    self.emit(
                        "no-provenance",
                        "",
                        "container server without image provenance: its signature cannot be verified",
                    );
                }
                return;
            }
            Ok(Some(x)) => x,
        };
        let (key, ext): (String, ServerExtensions) = ext;
        let at = field(
            &field(&field("_meta", PUBLISHER_PROVIDED_META), STACKLOK_NAMESPACE),
            &key,
        );
        let known = s.packages.iter().flatten().any(|p| p.identifier == key)
            || s.remote_urls().any(|u| u == key);
        if !known {
            self.emit(
                "extension-key-mismatch",
                at.clone(),
                format!(
                    "the ToolHive extension is keyed by \"{key}\", which is neither a package identifier nor a \
                     remote URL of this server: ToolHive looks it up by the image or URL"
                ),
            );
        }
        if ext.tools.as_ref().is_none_or(Vec::is_empty) {
            self.emit(
                "no-tools",
                field(&at, "tools"),
                "the ToolHive extension lists no tools: users cannot see what the server does before running it",
            );
        }
        if ext.tier.as_deref().is_none_or(|t| t.trim().is_empty()) {
            self.emit(
                "no-tier",
                field(&at, "tier"),
                "the ToolHive extension has no tier (Official or Community)",
            );
        }
        if ext.is_deprecated() {
            self.emit(
                "server-deprecated",
                field(&at, "status"),
                "ToolHive marks this server Deprecated",
            );
        }
        if container {
            if ext.provenance.is_none() {
                self.emit(
                    "no-provenance",
                    field(&at, "provenance"),
                    "container server without image provenance: its signature cannot be verified",
                );
            }
            match &ext.permissions {
                None => self.emit(
                    "no-permissions",
                    field(&at, "permissions"),
                    "container server without a permission profile: the runner's default applies",
                ),
                Some(p) => {
                    if p.is_privileged() {
                        self.emit(
                            "privileged-container",
                            field(&field(&at, "permissions"), "privileged"),
                            "the container runs privileged (every device and capability of the host)",
                        );
                    }
                    if p.allows_all_outbound() {
                        self.emit(
                            "network-allow-all",
                            format!("{}.network.outbound.insecure_allow_all", field(&at, "permissions")),
                            "the container may connect anywhere; list the hosts it needs (allow_host)",
                        );
                    }
                }
            }
        }
        for (j, e) in ext.env_vars.iter().flatten().enumerate() {
            let epath = format!("{}[{j}]", field(&at, "env_vars"));
            if !e.is_secret() && looks_secret(&e.name) {
                self.emit(
                    "secret-not-marked",
                    field(&epath, "secret"),
                    format!(
                        "environment variable {} looks like a secret but is not marked secret",
                        e.name
                    ),
                );
            }
            if e.is_secret() && e.default.as_deref().is_some_and(|d| !d.is_empty()) {
                self.emit(
                    "secret-with-value",
                    field(&epath, "default"),
                    format!("secret environment variable {} has a default value", e.name),
                );
            }
        }
        let license = ext
            .custom_metadata
            .as_ref()
            .and_then(|m| m.get("license"))
            .and_then(Value::as_str)
            .is_some_and(|l| !l.trim().is_empty());
        if !license {
            self.emit(
                "no-license",
                field(&at, "custom_metadata"),
                "no license in custom_metadata",
            );
        }
    }
}
