//! `thv run` flags of the proxy's middleware: each adds an entry to the RunConfig's `middleware_configs` (or sets
//! its `tools_override`), so that the RunConfig alone describes the chain (`thv export` keeps it). Configuration
//! files are read and checked here, and their content stored; secrets are never stored (files are referenced).

use std::path::PathBuf;

use anyhow::Context;
use thv_core::runconfig::{RunConfig, ToolOverride};

use crate::middleware::MiddlewareSpec;
use crate::middleware::audit::{AuditConfig, AuditParams};
use crate::middleware::auth::{AuthParams, OidcConfig};
use crate::middleware::authz::AuthzParams;
use crate::middleware::metrics::TelemetryParams;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct MiddlewareArgs {
    /// OIDC issuer whose tokens the proxy accepts (enables authentication; without it: anonymous).
    #[arg(long, help_heading = "Authentication")]
    pub oidc_issuer: Option<String>,
    /// Expected `aud` of the tokens.
    #[arg(long, help_heading = "Authentication", requires = "oidc_issuer")]
    pub oidc_audience: Option<String>,
    /// JWKS URL (default: from the issuer's discovery document).
    #[arg(long, help_heading = "Authentication", requires = "oidc_issuer")]
    pub oidc_jwks_url: Option<String>,
    /// Token introspection endpoint (RFC 7662) for opaque tokens.
    #[arg(long, help_heading = "Authentication", requires = "oidc_issuer")]
    pub oidc_introspection_url: Option<String>,
    /// Client id (for introspection).
    #[arg(long, help_heading = "Authentication", requires = "oidc_issuer")]
    pub oidc_client_id: Option<String>,
    /// File holding the client secret (for introspection).
    #[arg(long, help_heading = "Authentication", requires = "oidc_issuer")]
    pub oidc_client_secret_file: Option<PathBuf>,
    /// Scopes advertised in the protected-resource metadata (comma-separated).
    #[arg(
        long,
        help_heading = "Authentication",
        value_delimiter = ',',
        requires = "oidc_issuer"
    )]
    pub oidc_scopes: Vec<String>,
    /// Allow http:// identity provider URLs (local providers, tests).
    #[arg(long, help_heading = "Authentication", requires = "oidc_issuer")]
    pub oidc_insecure_allow_http: bool,
    /// The URL clients use for this server (RFC 9728 `resource`).
    #[arg(long, help_heading = "Authentication", requires = "oidc_issuer")]
    pub resource_url: Option<String>,
    /// Cedar authorization configuration (JSON or YAML: {"version":"1.0","type":"cedarv1","cedar":{...}}).
    #[arg(long, help_heading = "Authorization")]
    pub authz_config: Option<PathBuf>,
    /// Audit configuration (JSON); see also --enable-audit.
    #[arg(long, help_heading = "Audit")]
    pub audit_config: Option<PathBuf>,
    /// Audit every request to stdout (the proxy's log) with the default settings.
    #[arg(long, help_heading = "Audit", conflicts_with = "audit_config")]
    pub enable_audit: bool,
    /// Tool renames and descriptions: {"toolsOverride": {"server_name": {"name": "...", "description": "..."}}}.
    #[arg(long, help_heading = "Tools")]
    pub tools_override: Option<PathBuf>,
    /// Serve Prometheus metrics of the proxy at http://127.0.0.1:PORT/metrics (0: a free port; `thv status`
    /// shows the URL as metrics_url).
    #[arg(long, help_heading = "Telemetry")]
    pub metrics_port: Option<u16>,
    /// Export OpenTelemetry traces over OTLP/HTTP to this collector (e.g. http://127.0.0.1:4318).
    #[arg(long, help_heading = "Telemetry")]
    pub otel_endpoint: Option<String>,
    /// Share of requests traced, 0 to 1 (default 0.1).
    #[arg(long, help_heading = "Telemetry", requires = "otel_endpoint")]
    pub otel_sampling_rate: Option<f64>,
    /// The traces' service name (default thv-<workload>).
    #[arg(long, help_heading = "Telemetry", requires = "otel_endpoint")]
    pub otel_service_name: Option<String>,
}

impl MiddlewareArgs {
    /// Adds what the flags ask for to `rc` (replacing entries of the same type).
    pub fn apply(&self, rc: &mut RunConfig) -> anyhow::Result<()> {
        let mut add = Vec::new();
        if let Some(issuer) = &self.oidc_issuer {
            let oidc = OidcConfig {
                issuer: issuer.clone(),
                audience: self.oidc_audience.clone(),
                jwks_url: self.oidc_jwks_url.clone(),
                introspection_url: self.oidc_introspection_url.clone(),
                client_id: self.oidc_client_id.clone(),
                client_secret_file: self
                    .oidc_client_secret_file
                    .as_ref()
                    .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone())),
                resource_url: self.resource_url.clone(),
                scopes: self.oidc_scopes.clone(),
                insecure_allow_http: self.oidc_insecure_allow_http,
            };
            oidc.check().map_err(|e| anyhow::anyhow!("--oidc-*: {e}"))?;
            add.push(MiddlewareSpec::Auth(AuthParams {
                oidc_config: Some(oidc),
            }));
        }
        if let Some(path) = &self.authz_config {
            let data = crate::middleware::authz::read_config(path)
                .map_err(|e| anyhow::anyhow!("--authz-config: {e}"))?;
            add.push(MiddlewareSpec::Authorization(AuthzParams {
                config_data: Some(data),
                config_path: None,
            }));
        }
        if let Some(path) = &self.audit_config {
            let mut config =
                AuditConfig::read(path).map_err(|e| anyhow::anyhow!("--audit-config: {e}"))?;
            if let Some(file) = &config.log_file {
                config.log_file = Some(std::path::absolute(file).unwrap_or_else(|_| file.clone()));
            }
            add.push(MiddlewareSpec::Audit(AuditParams {
                config: Some(config),
            }));
        } else if self.enable_audit {
            add.push(MiddlewareSpec::Audit(AuditParams {
                config: Some(AuditConfig::default()),
            }));
        }
        if let Some(rate) = self.otel_sampling_rate
            && !(0.0..=1.0).contains(&rate)
        {
            // NaN and infinities too (JSON has no place for them: they were stored as null, the default).
            anyhow::bail!("--otel-sampling-rate {rate}: must be a number from 0 to 1");
        }
        if self.metrics_port.is_some() || self.otel_endpoint.is_some() {
            let port = self.metrics_port.unwrap_or(0);
            add.push(MiddlewareSpec::Telemetry(TelemetryParams {
                metrics_address: Some(format!("127.0.0.1:{port}")),
                otlp_endpoint: self.otel_endpoint.clone(),
                sampling_rate: self.otel_sampling_rate,
                service_name: self.otel_service_name.clone(),
            }));
        }
        if let Some(path) = &self.tools_override {
            let text = thv_core::files::read_config_text(path)
                .with_context(|| format!("--tools-override: cannot read {}", path.display()))?;
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct File {
                #[serde(rename = "toolsOverride")]
                tools_override: std::collections::BTreeMap<String, ToolOverride>,
            }
            let file: File = serde_json::from_str(&text)
                .with_context(|| format!("--tools-override {}", path.display()))?;
            rc.tools_override = file.tools_override;
        }
        for m in add {
            rc.middleware_configs
                .retain(|c| c.middleware_type != m.type_name());
            rc.middleware_configs.push(m.to_config());
        }
        Ok(())
    }
}
