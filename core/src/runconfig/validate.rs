//! The rules of every RunConfig field ([`RunConfig::validate`]), and the name, env var, secret and host rules the
//! CLI applies to its arguments.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::mounts::{self, ProfileError};
use super::{
    MAX_NAME_LEN, RunConfig, RunConfigError, TransportType, check_schema_version, invalid,
    parse_volume,
};

impl RunConfig {
    /// Checks every field's rule; the error names the field and the rule. [`RunConfig::read_json`] calls it.
    pub fn validate(&self) -> Result<(), RunConfigError> {
        check_schema_version(&self.schema_version)?;
        self.validate_source()?;
        check_name("name", &self.name)?;
        if let Some(c) = &self.container_name {
            check_name("container_name", c)?;
        } else if !self.is_remote() {
            return Err(invalid(
                "container_name",
                "required for a container workload (only a remote server has none)",
            ));
        }
        check_name("base_name", &self.base_name)?;
        if let Some(g) = &self.group {
            check_name("group", g)?;
        }
        self.validate_network()?;
        self.validate_env()?;
        if let Some(profile) = &self.permission_profile {
            if self.is_remote() {
                return Err(invalid(
                    "permission_profile",
                    "a remote server runs no container, so it has no permission profile",
                ));
            }
            profile.validate().map_err(|e| match e {
                ProfileError::Mount { field, error } => {
                    invalid(format!("permission_profile.{field}"), error.to_string())
                }
                ProfileError::Invalid { field, message } => {
                    invalid(format!("permission_profile.{field}"), message)
                }
                other => invalid("permission_profile", other.to_string()),
            })?;
            if self.isolate_network
                && let Some(mode) = profile.network.as_ref().and_then(|n| n.mode.as_deref())
                && !mounts::is_bridge_mode(mode)
            {
                return Err(invalid(
                    "isolate_network",
                    format!(
                        "network isolation needs bridge networking, but the profile's network mode is '{mode}'"
                    ),
                ));
            }
        }
        if let Some(p) = &self.permission_profile_name_or_path
            && (p.is_empty() || p.contains('\0'))
        {
            return Err(invalid(
                "permission_profile_name_or_path",
                "must be `none`, `network` or a file path",
            ));
        }
        for (i, v) in self.volumes.iter().enumerate() {
            parse_volume(v).map_err(|e| invalid(format!("volumes[{i}]"), e.to_string()))?;
        }
        for (k, v) in &self.container_labels {
            if let Some(e) = label_key_error(k) {
                return Err(invalid(format!("container_labels.{k}"), e));
            }
            if v.chars().any(char::is_control) {
                return Err(invalid(
                    format!("container_labels.{k}"),
                    "a label value must not contain control characters",
                ));
            }
        }
        self.validate_tools()?;
        for (i, m) in self.middleware_configs.iter().enumerate() {
            let t = &m.middleware_type;
            let ok = t.starts_with(|c: char| c.is_ascii_lowercase())
                && t.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !ok {
                return Err(invalid(
                    format!("middleware_configs[{i}].type"),
                    format!("'{t}' is not a middleware type (^[a-z][a-z0-9-]*$)"),
                ));
            }
        }
        if self.session_ttl == Some(0) {
            return Err(invalid(
                "session_ttl",
                "must be a whole number of seconds ≥ 1",
            ));
        }
        Ok(())
    }

    fn validate_source(&self) -> Result<(), RunConfigError> {
        if let Some(url) = &self.remote_url {
            check_http_url("remote_url", url)?;
            if self.image.is_some() || self.package.is_some() {
                return Err(invalid(
                    "remote_url",
                    "a remote server has no image or package: set either `remote_url` or `image`/`package`",
                ));
            }
            if self.transport == TransportType::Stdio {
                return Err(invalid(
                    "transport",
                    "a remote server speaks sse or streamable-http, not stdio",
                ));
            }
        } else if self.image.is_none() && self.package.is_none() {
            return Err(invalid(
                "image",
                "no source: one of `image`, `package` or `remote_url` is required",
            ));
        }
        if let Some(image) = &self.image
            && let Some(e) = image_ref_error(image)
        {
            return Err(invalid("image", e));
        }
        if let Some(pkg) = &self.package {
            pkg.check().map_err(|e| invalid("package", e.0))?;
        }
        if let Some(u) = &self.registry_api_url {
            check_http_url("registry_api_url", u)?;
        }
        if let Some(u) = &self.registry_url {
            url::Url::parse(u).map_err(|e| invalid("registry_url", format!("not a URL: {e}")))?;
        }
        if let Some(n) = &self.registry_server_name
            && (n.is_empty() || n.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(invalid(
                "registry_server_name",
                "must be a server name such as io.github.owner/name",
            ));
        }
        for (i, a) in self.cmd_args.iter().enumerate() {
            if a.contains('\0') {
                return Err(invalid(
                    format!("cmd_args[{i}]"),
                    "an argument must not contain a NUL character",
                ));
            }
        }
        Ok(())
    }

    fn validate_network(&self) -> Result<(), RunConfigError> {
        if let Some(e) = host_error(&self.host) {
            return Err(invalid("host", e));
        }
        if let Some(h) = &self.target_host
            && let Some(e) = host_error(h)
        {
            return Err(invalid("target_host", e));
        }
        if self.port == Some(0) {
            return Err(invalid("port", "must be in 1–65535"));
        }
        if let Some(p) = self.target_port {
            if p == 0 {
                return Err(invalid("target_port", "must be in 1–65535"));
            }
            if !self.transport.is_http() {
                return Err(invalid(
                    "target_port",
                    "only sse and streamable-http servers listen on a port (transport is stdio)",
                ));
            }
            if self.is_remote() {
                return Err(invalid(
                    "target_port",
                    "a remote server has no container port",
                ));
            }
        }
        if self.proxy_mode.is_some() && self.transport != TransportType::Stdio {
            return Err(invalid(
                "proxy_mode",
                format!(
                    "applies only to stdio servers (a {} server is proxied as it is)",
                    self.transport
                ),
            ));
        }
        if self.isolate_network && self.is_remote() {
            return Err(invalid(
                "isolate_network",
                "a remote server runs no container, so there is no network to isolate",
            ));
        }
        Ok(())
    }

    fn validate_env(&self) -> Result<(), RunConfigError> {
        for (k, v) in &self.env_vars {
            if let Some(e) = env_name_error(k) {
                return Err(invalid(format!("env_vars.{k}"), e));
            }
            if v.contains('\0') {
                return Err(invalid(
                    format!("env_vars.{k}"),
                    "a value must not contain a NUL character",
                ));
            }
        }
        let mut targets = BTreeSet::new();
        for (i, s) in self.secrets.iter().enumerate() {
            if let Some(e) = secret_name_error(&s.name) {
                return Err(invalid(format!("secrets[{i}].name"), e));
            }
            if let Some(e) = env_name_error(&s.target) {
                return Err(invalid(format!("secrets[{i}].target"), e));
            }
            if !targets.insert(s.target.as_str()) {
                return Err(invalid(
                    format!("secrets[{i}].target"),
                    format!("{} is filled by two secrets", s.target),
                ));
            }
            if self.env_vars.contains_key(&s.target) {
                return Err(invalid(
                    format!("secrets[{i}].target"),
                    format!(
                        "{} is both a plain env var and a secret reference; keep one",
                        s.target
                    ),
                ));
            }
        }
        for (i, n) in self.sensitive_env_vars.iter().enumerate() {
            if let Some(e) = env_name_error(n) {
                return Err(invalid(format!("sensitive_env_vars[{i}]"), e));
            }
        }
        Ok(())
    }

    fn validate_tools(&self) -> Result<(), RunConfigError> {
        for (field, list) in [
            ("registry_tools", &self.registry_tools),
            ("tools_filter", &self.tools_filter),
        ] {
            let mut seen = BTreeSet::new();
            for (i, t) in list.iter().enumerate() {
                if let Some(e) = tool_name_error(t) {
                    return Err(invalid(format!("{field}[{i}]"), e));
                }
                if !seen.insert(t) {
                    return Err(invalid(
                        format!("{field}[{i}]"),
                        format!("'{t}' is listed twice"),
                    ));
                }
            }
        }
        for (k, o) in &self.tools_override {
            if let Some(e) = tool_name_error(k) {
                return Err(invalid(format!("tools_override.{k}"), e));
            }
            if o.name.is_none() && o.description.is_none() {
                return Err(invalid(
                    format!("tools_override.{k}"),
                    "an override sets `name`, `description` or both",
                ));
            }
            if let Some(n) = &o.name
                && let Some(e) = tool_name_error(n)
            {
                return Err(invalid(format!("tools_override.{k}.name"), e));
            }
        }
        Ok(())
    }
}

/// `^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`, at most 63 characters: the rule of container, workload and group names.
pub fn name_error(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Some(format!(
            "'{name}' is {} characters long; at most {MAX_NAME_LEN} are allowed",
            name.len()
        ));
    }
    let ok_first = name.starts_with(|c: char| c.is_ascii_alphanumeric());
    let ok_rest = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    (!(ok_first && ok_rest)).then(|| {
        format!(
            "'{}' is not a valid name: it must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$",
            name.escape_debug()
        )
    })
}

fn check_name(field: &str, name: &str) -> Result<(), RunConfigError> {
    match name_error(name) {
        Some(e) => Err(invalid(field, e)),
        None => Ok(()),
    }
}

/// `^[A-Za-z_][A-Za-z0-9_]*$`: the rule of env var names.
pub fn env_name_error(name: &str) -> Option<String> {
    let ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (!ok).then(|| {
        format!(
            "'{}' is not a valid env var name: it must match ^[A-Za-z_][A-Za-z0-9_]*$",
            name.escape_debug()
        )
    })
}

/// A secret name: non-empty, at most 256 characters, no `,` or `=` (the CLI form is `NAME,target=ENV`), no
/// whitespace or control characters.
pub fn secret_name_error(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("a secret name must not be empty".into());
    }
    if name.chars().count() > 256 {
        return Some("a secret name is at most 256 characters".into());
    }
    name.chars()
        .find(|c| matches!(c, ',' | '=') || c.is_whitespace() || c.is_control())
        .map(|c| {
            format!(
                "secret name '{}' contains {c:?} (no ',', '=', whitespace or control characters)",
                name.escape_debug()
            )
        })
}

/// A host: an IP address (v4, or v6 without brackets) or a host name (RFC 1123: dot-separated labels of
/// letters, digits and `-`, each 1–63 characters not starting or ending with `-`; at most 253 characters).
pub fn host_error(host: &str) -> Option<String> {
    if host.parse::<IpAddr>().is_ok() {
        return None;
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let ok = !host.is_empty() && host.len() <= 253 && host.split('.').all(label_ok);
    (!ok).then(|| {
        format!(
            "'{}' is neither an IP address nor a host name",
            host.escape_debug()
        )
    })
}

fn check_http_url(field: &str, u: &str) -> Result<(), RunConfigError> {
    let parsed =
        url::Url::parse(u).map_err(|e| invalid(field, format!("'{u}' is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(invalid(
            field,
            format!("'{u}' is not an http(s) URL with a host"),
        ));
    }
    Ok(())
}

/// An OCI reference by the distribution grammar ([`crate::image_ref::ImageRef::parse`]).
fn image_ref_error(image: &str) -> Option<String> {
    crate::image_ref::ImageRef::parse(image)
        .err()
        .map(|e| e.to_string())
}

/// A label key: `^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$`.
fn label_key_error(k: &str) -> Option<String> {
    let ok = k.starts_with(|c: char| c.is_ascii_alphanumeric())
        && k.ends_with(|c: char| c.is_ascii_alphanumeric())
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-'));
    (!ok).then(|| {
        format!(
            "'{}' is not a label key (^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$)",
            k.escape_debug()
        )
    })
}

/// A tool name: non-empty, at most 128 characters, no whitespace or control characters.
fn tool_name_error(t: &str) -> Option<String> {
    if t.is_empty() || t.chars().count() > 128 {
        return Some("a tool name has 1–128 characters".into());
    }
    t.chars()
        .any(|c| c.is_whitespace() || c.is_control())
        .then(|| {
            format!(
                "tool name '{}' contains whitespace or control characters",
                t.escape_debug()
            )
        })
}

/// A CLI env assignment (`-e`) that is not `KEY=VALUE` with a valid name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvAssignmentError {
    #[error("invalid env var '{0}': expected KEY=VALUE")]
    Shape(String),
    /// The name's rule, as [`env_name_error`] states it.
    #[error("{0}")]
    Name(String),
}

/// Parses a CLI env assignment `KEY=VALUE` (`-e`); the name must be a valid env var name.
pub fn parse_env_assignment(s: &str) -> Result<(String, String), EnvAssignmentError> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| EnvAssignmentError::Shape(s.to_owned()))?;
    if let Some(e) = env_name_error(k) {
        return Err(EnvAssignmentError::Name(e));
    }
    Ok((k.to_owned(), v.to_owned()))
}
