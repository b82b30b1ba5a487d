//! The parts of a [`RunConfig`](super::RunConfig): transports, proxy modes, secret references, package sources,
//! tool overrides and middleware.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::validate::{env_name_error, secret_name_error};

/// An MCP transport of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransportType {
    Stdio,
    Sse,
    StreamableHttp,
}

impl TransportType {
    pub const ALL: [TransportType; 3] = [Self::Stdio, Self::Sse, Self::StreamableHttp];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdio => "stdio",
            Self::Sse => "sse",
            Self::StreamableHttp => "streamable-http",
        }
    }

    /// `sse` and `streamable-http`: the server listens on a port.
    pub fn is_http(self) -> bool {
        !matches!(self, Self::Stdio)
    }
}

impl fmt::Display for TransportType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown [`TransportType`] name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown transport '{0}': expected stdio, sse or streamable-http")]
pub struct UnknownTransport(pub String);

impl FromStr for TransportType {
    type Err = UnknownTransport;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownTransport(s.to_owned()))
    }
}

/// What the proxy of a `stdio` server offers clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyMode {
    /// `/mcp` (the default).
    #[default]
    StreamableHttp,
    /// `/sse` + `/messages` (deprecated in MCP, still used by some clients).
    Sse,
}

impl ProxyMode {
    /// `streamable-http` or `sse` (the `--proxy-mode` values).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StreamableHttp => "streamable-http",
            Self::Sse => "sse",
        }
    }

    /// The path clients connect to: `/mcp` or `/sse`.
    pub fn client_path(self) -> &'static str {
        match self {
            Self::StreamableHttp => "/mcp",
            Self::Sse => "/sse",
        }
    }
}

/// An unknown [`ProxyMode`] name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown proxy mode '{0}': expected streamable-http or sse")]
pub struct UnknownProxyMode(pub String);

impl fmt::Display for ProxyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProxyMode {
    type Err = UnknownProxyMode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "streamable-http" => Ok(Self::StreamableHttp),
            "sse" => Ok(Self::Sse),
            other => Err(UnknownProxyMode(other.to_owned())),
        }
    }
}

/// A reference to a secret: the secret named `name` in the secret provider fills the env var `target`. Never a
/// value; any other key is refused on read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// Secret name in the provider (no `,`, `=`, whitespace or control characters; at most 256 characters).
    pub name: String,
    /// Env var it fills (`^[A-Za-z_][A-Za-z0-9_]*$`).
    pub target: String,
}

/// The rule a secret reference's field breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct SecretRefRuleError {
    /// `name` or `target`.
    pub field: &'static str,
    pub rule: String,
}

/// A `--secret` value that is not a well-formed `NAME,target=ENV_VAR`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSecretRef {
    #[error("invalid secret '{0}': expected NAME,target=ENV_VAR")]
    Shape(String),
    #[error("invalid secret '{input}': {rule}")]
    Rule {
        input: String,
        rule: SecretRefRuleError,
    },
}

impl SecretRef {
    pub fn new(name: impl Into<String>, target: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            target: target.into(),
        }
    }

    /// Parses the CLI form `NAME,target=ENV` (ToolHive's `--secret`).
    pub fn parse(s: &str) -> Result<Self, InvalidSecretRef> {
        let shape = || InvalidSecretRef::Shape(s.to_owned());
        let (name, rest) = s.split_once(',').ok_or_else(shape)?;
        let target = rest.strip_prefix("target=").ok_or_else(shape)?;
        let r = Self::new(name, target);
        r.check().map_err(|rule| InvalidSecretRef::Rule {
            input: s.to_owned(),
            rule,
        })?;
        Ok(r)
    }

    /// The rules of a well-formed reference.
    pub fn check(&self) -> Result<(), SecretRefRuleError> {
        if let Some(rule) = secret_name_error(&self.name) {
            return Err(SecretRefRuleError {
                field: "name",
                rule,
            });
        }
        if let Some(rule) = env_name_error(&self.target) {
            return Err(SecretRefRuleError {
                field: "target",
                rule,
            });
        }
        Ok(())
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},target={}", self.name, self.target)
    }
}

/// A package scheme: the package is built into an image from a Dockerfile template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageScheme {
    /// A PyPI package run with `uv tool`.
    Uvx,
    /// An npm package run with `npx`.
    Npx,
    /// A Go module (or a local directory `./dir`) built with `go`.
    Go,
}

impl PackageScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uvx => "uvx",
            Self::Npx => "npx",
            Self::Go => "go",
        }
    }
}

impl fmt::Display for PackageScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown [`PackageScheme`] name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown package scheme '{0}': expected uvx, npx or go")]
pub struct UnknownPackageScheme(pub String);

impl FromStr for PackageScheme {
    type Err = UnknownPackageScheme;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "uvx" => Ok(Self::Uvx),
            "npx" => Ok(Self::Npx),
            "go" => Ok(Self::Go),
            other => Err(UnknownPackageScheme(other.to_owned())),
        }
    }
}

/// The rule a package name or version breaks (see [`PackageSource::check`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PackageRuleError(pub String);

/// A `scheme://name[@version]` reference whose package breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid package '{input}': {rule}")]
pub struct InvalidPackage {
    pub input: String,
    pub rule: PackageRuleError,
}

/// A package run through a protocol scheme: `uvx://name[@version]`, `npx://name[@version]`,
/// `go://module[@version]` or `go://./local/dir`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PackageSource {
    pub scheme: PackageScheme,
    /// Package name (`@scope/pkg` for npm, a module path or a local path for go).
    pub name: String,
    /// Pinned version; absent means the latest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl PackageSource {
    /// Parses `scheme://name[@version]`. `Ok(None)` when `s` has none of the three schemes.
    pub fn parse(s: &str) -> Result<Option<Self>, InvalidPackage> {
        let Some((scheme, rest)) = s.split_once("://") else {
            return Ok(None);
        };
        let Ok(scheme) = scheme.parse::<PackageScheme>() else {
            return Ok(None);
        };
        // The version separator is the last `@` that is not the first character (`@scope/pkg@1.0`).
        let (name, version) = match rest.rfind('@') {
            Some(i) if i > 0 => (&rest[..i], Some(rest[i + 1..].to_owned())),
            _ => (rest, None),
        };
        let pkg = Self {
            scheme,
            name: name.to_owned(),
            version,
        };
        pkg.check().map_err(|rule| InvalidPackage {
            input: s.to_owned(),
            rule,
        })?;
        Ok(Some(pkg))
    }

    /// The rules of a well-formed package: a name of `A-Z a-z 0-9 @ / . _ ~ + -` (it ends up in a Dockerfile
    /// entrypoint, so no quotes, spaces or shell characters) not starting with `-` (the package tools would read
    /// it as an option: `npx --foo`, `uv tool run --with x`), and a version of `A-Z a-z 0-9 . _ + ~ ! -`, not
    /// starting with `-` either.
    pub fn check(&self) -> Result<(), PackageRuleError> {
        let name_ok = |c: char| c.is_ascii_alphanumeric() || "@/._~+-".contains(c);
        if self.name.is_empty() {
            return Err(PackageRuleError("the package name is empty".into()));
        }
        if self.name.starts_with('-') {
            return Err(PackageRuleError(format!(
                "the package name '{}' starts with '-' (it would be read as an option)",
                self.name
            )));
        }
        if self.version.as_deref().is_some_and(|v| v.starts_with('-')) {
            return Err(PackageRuleError(
                "the version starts with '-' (it would be read as an option)".into(),
            ));
        }
        if let Some(rule) = self.name_shape_error() {
            return Err(PackageRuleError(format!(
                "the package name '{}' {rule}",
                self.name
            )));
        }
        if let Some(c) = self.name.chars().find(|c| !name_ok(*c)) {
            return Err(PackageRuleError(format!(
                "the package name contains {c:?} (allowed: letters, digits and @ / . _ ~ + -)"
            )));
        }
        if let Some(v) = &self.version {
            let ver_ok = |c: char| c.is_ascii_alphanumeric() || "._+~!-".contains(c);
            if v.is_empty() {
                return Err(PackageRuleError("the version after '@' is empty".into()));
            }
            if let Some(c) = v.chars().find(|c| !ver_ok(*c)) {
                return Err(PackageRuleError(format!(
                    "the version contains {c:?} (allowed: letters, digits and . _ + ~ ! -)"
                )));
            }
        }
        Ok(())
    }
}

impl PackageSource {
    /// What is wrong with the name's shape for its scheme: an npm name is `name` or `@scope/name`, a PyPI name
    /// has no `/`, and neither climbs out with `..` (the package tool would take a path: `npm install ../../x`).
    /// A Go name may be a local directory (`./dir`, `../dir`), which the build keeps inside its root.
    fn name_shape_error(&self) -> Option<&'static str> {
        let segment_ok = |s: &str| !s.is_empty() && !s.starts_with(['.', '_']);
        if self.scheme != PackageScheme::Go && self.name.split('/').any(|s| s == "..") {
            return Some("climbs out with '..' (a path, not a package)");
        }
        match self.scheme {
            PackageScheme::Npx => {
                let ok = match self.name.split('/').collect::<Vec<_>>().as_slice() {
                    [name] => !name.starts_with('@') && segment_ok(name),
                    [scope, name] => {
                        scope.len() > 1
                            && scope.starts_with('@')
                            && segment_ok(&scope[1..])
                            && segment_ok(name)
                    }
                    _ => false,
                };
                (!ok).then_some("is not an npm package name (name or @scope/name)")
            }
            PackageScheme::Uvx => (self.name.contains(['/', '@']) || !segment_ok(&self.name))
                .then_some("is not a PyPI package name"),
            PackageScheme::Go => None,
        }
    }
}

impl fmt::Display for PackageSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.name)?;
        if let Some(v) = &self.version {
            write!(f, "@{v}")?;
        }
        Ok(())
    }
}

/// A tool rename / redescription (`--tools-override`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolOverride {
    /// New name shown to clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New description shown to clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One proxy middleware: its registered type and its parameters (raw JSON, the middleware's own format).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MiddlewareConfig {
    /// `^[a-z][a-z0-9-]*$`, e.g. `auth`, `mcp-parser`, `tool-filter`, `recovery`.
    #[serde(rename = "type")]
    pub middleware_type: String,
    #[serde(default = "empty_object")]
    pub parameters: Value,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}
