//! The middleware configuration, typed. A RunConfig keeps its middleware as ToolHive writes them,
//! `middleware_configs: [{"type": ..., "parameters": {...}}]` ([`MiddlewareConfig`], JSON); they are parsed once,
//! here, into [`MiddlewareSpec`]s, and [`super::Chain::build`] builds from those. A front end that adds a
//! middleware (`thv run`'s flags) builds a [`MiddlewareSpec`] and stores [`MiddlewareSpec::to_config`].

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use thv_core::runconfig::MiddlewareConfig;

use super::audit::{AuditError, AuditParams};
use super::auth::{AuthConfigError, AuthParams};
use super::authz::{AuthzError, AuthzParams};
use super::metrics::TelemetryParams;
use super::tools::{ToolFilterError, ToolFilterParams};
use super::tracing_otlp::TracesError;

/// Defines [`MiddlewareSpec`], [`TYPES`] and the mapping between a type's name and its variant from one list:
/// each middleware is named once.
macro_rules! middleware_specs {
    ($($(#[$doc:meta])* $name:literal => $variant:ident $(($params:ty))?,)*) => {
        /// One middleware and its settings.
        #[derive(Debug, Clone)]
        pub enum MiddlewareSpec {
            $($(#[$doc])* $variant $(($params))?,)*
        }

        /// The middleware types this proxy has, as RunConfigs name them.
        pub const TYPES: &[&str] = &[$($name),*];

        impl MiddlewareSpec {
            /// Its type, as RunConfigs name it.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(Self::$variant { .. } => $name,)*
                }
            }

            /// The middleware of type `kind`, its parameters read from `p`.
            fn of_type(kind: &str, p: &Value) -> Result<Self, MiddlewareError> {
                Ok(match kind {
                    $($name => Self::$variant $((parameters::<$params>(p)?))?,)*
                    other => return Err(MiddlewareError::UnknownType(other.to_owned())),
                })
            }
        }
    };
}

middleware_specs! {
    /// `auth` ([`super::auth`]): OIDC tokens, or anonymous without `oidc_config`.
    "auth" => Auth(AuthParams),
    /// `authorization` ([`super::authz`]): Cedar policies, inline or from a file.
    "authorization" => Authorization(AuthzParams),
    /// `audit` ([`super::audit`]).
    "audit" => Audit(AuditParams),
    /// `tool-filter` ([`super::tools`]): joined with the RunConfig's `tools_filter` and `tools_override`.
    "tool-filter" => ToolFilter(ToolFilterParams),
    /// `telemetry` ([`super::metrics`], [`super::tracing_otlp`]).
    "telemetry" => Telemetry(TelemetryParams),
    /// `mcp-parser`: always part of a chain; accepted so that ToolHive's RunConfigs run.
    "mcp-parser" => McpParser,
}

/// A middleware configuration this proxy cannot use; checked before the proxy serves anything.
#[derive(Debug, thiserror::Error)]
pub enum MiddlewareError {
    #[error("'{0}' is not a middleware this proxy has ({types})", types = TYPES.join(", "))]
    UnknownType(String),
    #[error("parameters: {0}")]
    Parameters(#[source] serde_json::Error),
    #[error(transparent)]
    Auth(#[from] AuthConfigError),
    #[error(transparent)]
    Authorization(#[from] AuthzError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(transparent)]
    ToolFilter(#[from] ToolFilterError),
    #[error(transparent)]
    Traces(#[from] TracesError),
    #[error("metrics_address '{address}': {source}")]
    MetricsAddress {
        address: String,
        #[source]
        source: std::net::AddrParseError,
    },
    /// Which entry of `middleware_configs` the error is about.
    #[error("middleware_configs[{index}] ({kind}): {source}")]
    Entry {
        index: usize,
        kind: String,
        #[source]
        source: Box<MiddlewareError>,
    },
}

impl MiddlewareError {
    /// `self`, said of entry `index` (of type `kind`) of `middleware_configs`.
    pub(super) fn at(self, index: usize, kind: &str) -> Self {
        Self::Entry {
            index,
            kind: kind.to_owned(),
            source: Box::new(self),
        }
    }
}

/// `parameters` as `T`; `null` is `T`'s default.
fn parameters<T: DeserializeOwned + Default>(value: &Value) -> Result<T, MiddlewareError> {
    if value.is_null() {
        return Ok(T::default());
    }
    T::deserialize(value).map_err(MiddlewareError::Parameters)
}

impl MiddlewareSpec {
    /// One `middleware_configs` entry.
    pub fn parse(config: &MiddlewareConfig) -> Result<Self, MiddlewareError> {
        Self::of_type(&config.middleware_type, &config.parameters)
    }

    /// Every entry; an error names the entry.
    pub fn parse_all(configs: &[MiddlewareConfig]) -> Result<Vec<Self>, MiddlewareError> {
        configs
            .iter()
            .enumerate()
            .map(|(index, c)| Self::parse(c).map_err(|e| e.at(index, &c.middleware_type)))
            .collect()
    }

    /// The RunConfig entry that parses back into this.
    pub fn to_config(&self) -> MiddlewareConfig {
        fn json<T: Serialize>(p: &T) -> Value {
            serde_json::to_value(p).unwrap_or_else(|_| Value::Object(Default::default()))
        }
        let parameters = match self {
            Self::Auth(p) => json(p),
            Self::Authorization(p) => json(p),
            Self::Audit(p) => json(p),
            Self::ToolFilter(p) => json(p),
            Self::Telemetry(p) => json(p),
            Self::McpParser => Value::Object(Default::default()),
        };
        MiddlewareConfig {
            middleware_type: self.type_name().to_owned(),
            parameters,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_errors_name_the_entry() {
        let entries: Vec<MiddlewareConfig> = serde_json::from_value(serde_json::json!([
            {"type": "mcp-parser"},
            {"type": "audit", "parameters": {"config": {"component": "c"}}},
            {"type": "telemetry", "parameters": {"metrics_address": "127.0.0.1:0", "sampling_rate": 0.5}},
            {"type": "tool-filter", "parameters": {"tools": ["a"]}},
            {"type": "authorization", "parameters": {"config_path": "/etc/authz.json"}},
            {"type": "auth", "parameters": {}}
        ]))
        .unwrap();
        let specs = MiddlewareSpec::parse_all(&entries).unwrap();
        let back: Vec<MiddlewareConfig> = specs.iter().map(MiddlewareSpec::to_config).collect();
        let again = MiddlewareSpec::parse_all(&back).unwrap();
        assert_eq!(format!("{specs:?}"), format!("{again:?}"));

        let bad: Vec<MiddlewareConfig> = serde_json::from_value(serde_json::json!([
            {"type": "audit"},
            {"type": "telemetry", "parameters": {"sampling_rate": "often"}}
        ]))
        .unwrap();
        let e = MiddlewareSpec::parse_all(&bad).unwrap_err().to_string();
        assert!(
            e.starts_with("middleware_configs[1] (telemetry): parameters:"),
            "{e}"
        );
        let unknown = MiddlewareConfig {
            middleware_type: "rate-limit".into(),
            parameters: Value::Null,
        };
        let e = MiddlewareSpec::parse_all(&[unknown])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("'rate-limit' is not a middleware this proxy has (auth,"),
            "{e}"
        );
    }
}
