//! The launch of a new workload, one sequence for every front end (`thv run` today; `thv serve` and the
//! operator call the same functions):
//!
//! 1. [`Manager::resolve_launch`]: what the user named ([`LaunchSource`]: a registry name, image, package or URL,
//!    or a RunConfig file) becomes a RunConfig, with the warnings the front end shows;
//! 2. the front end adds its own settings to the RunConfig (`thv run`'s middleware flags);
//! 3. [`Manager::check_launch`]: what must hold before anything starts — every middleware setting, and the
//!    image's signature under the verification mode;
//! 4. [`Manager::launch`]: the package image is built, the container created and started, the workload recorded,
//!    and its proxy started (detached); a proxy that does not start leaves the workload stopped, never half
//!    running. A front end that keeps the proxy in its own process calls [`Manager::run`] instead.
//!
//! [`permission_profile_report`] is what the container will be allowed, for the front end to show before step 4.

use std::path::PathBuf;

use anyhow::Context;
use thv_core::runconfig::{
    Grant, MountSource, Privilege, Resolution, ResolveOptions, ResolveWarning, RunConfig,
    check_grants, clean_host_path, parse_volume,
};

use super::Manager;
use crate::image_verify::Mode as ImageVerification;
use crate::middleware::MiddlewareSpec;
use crate::registry::RegistrySource;

/// What to launch.
#[derive(Debug, Clone)]
pub enum LaunchSource {
    /// A registry name, image, `uvx://`/`npx://`/`go://` package or http(s) URL ([`super::source`]), resolved
    /// with `options` against `registry` (an API URL, a registry file's URL or path; `None`: the configured
    /// registry, else the bundled one).
    Reference {
        server: String,
        registry: Option<String>,
        options: Box<ResolveOptions>,
    },
    /// A RunConfig file (from `thv export`), with what may be overridden.
    RunConfigFile {
        path: PathBuf,
        overrides: RunConfigOverrides,
    },
}

/// What a launch from a RunConfig file may change.
#[derive(Debug, Clone, Default)]
pub struct RunConfigOverrides {
    /// The workload's (and container's) name; checked by the caller
    /// ([`thv_core::runconfig::name_error`]).
    pub name: Option<String>,
    /// The address the proxy listens on.
    pub host: Option<String>,
    /// The port the proxy listens on.
    pub proxy_port: Option<u16>,
    /// The privileges granted to the file's permission profile: a file may come from anyone (an export shared
    /// with you), so its profile is a request, like a registry entry's.
    pub grants: Vec<Grant>,
}

/// Where the permission profile of a RunConfig came from, in the words [`permission_profile_report`] uses.
fn profile_origin(rc: &RunConfig, from_file: bool) -> String {
    match (
        &rc.permission_profile_name_or_path,
        &rc.registry_server_name,
    ) {
        // The file's name for its profile is the file's word, not what it holds.
        _ if from_file => "from the RunConfig file".to_owned(),
        (Some(p), _) => format!("'{p}'"),
        (None, Some(server)) => format!("requested by the registry entry {server}"),
        (None, None) => "from the RunConfig".to_owned(),
    }
}

/// The permission profile the container will run with, where it comes from, and whether its outbound rules are
/// enforced: a heading line, then one line per rule (empty without a profile).
pub fn permission_profile_report(rc: &RunConfig, from_file: bool) -> Vec<String> {
    let Some(profile) = &rc.permission_profile else {
        return Vec::new();
    };
    let mut lines = vec![format!(
        "permission profile {}:",
        profile_origin(rc, from_file)
    )];
    lines.extend(profile.describe().into_iter().map(|l| format!("  {l}")));
    let bridge = matches!(
        crate::runtime::network_mode_for(profile, rc.transport),
        Ok(crate::runtime::NetworkMode::Bridge)
    );
    if bridge && !super::isolation::is_isolated(rc) {
        lines.push("  (network isolation is off: outbound rules are not enforced)".to_owned());
    }
    lines
}

/// Reads a RunConfig file and applies `overrides`. A file may come from anyone (an export shared with you), so
/// what it asks beyond an isolated container on loopback is a request, granted only by the user: its permission
/// profile's privileges, its host volumes, the host files its middleware would read or write, and a proxy
/// address other machines can reach (accepted by giving `--host`, [`RunConfigOverrides::host`]). The file's
/// container labels cannot claim another workload: the standard labels are set from its name again.
pub fn read_run_config_file(
    path: &std::path::Path,
    overrides: &RunConfigOverrides,
) -> anyhow::Result<Resolution> {
    let bytes = thv_core::files::read_regular(path, thv_core::files::MAX_CONFIG_BYTES)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut rc = RunConfig::read_json(&bytes).with_context(|| path.display().to_string())?;
    let requester = format!("the RunConfig {}", path.display());
    // Parsed once here for both checks below (the chain parses them again only when it is built).
    let specs = MiddlewareSpec::parse_all(&rc.middleware_configs)
        .context("invalid middleware configuration")
        .with_context(|| path.display().to_string())?;
    let requested =
        requested_privileges(&rc, &specs).with_context(|| path.display().to_string())?;
    let mut warnings: Vec<ResolveWarning> = Vec::new();
    check_grants(&requester, &requested, &overrides.grants, &mut warnings)?;
    if overrides.host.is_none() {
        if !is_loopback_host(&rc.host) {
            anyhow::bail!(
                "{requester} makes the proxy listen on '{}', where other machines can reach it: give --host to \
                 choose the address yourself (--host {} to accept it)",
                rc.host.escape_debug(),
                rc.host.escape_debug()
            );
        }
        if let Some(address) = reachable_metrics_address(&specs) {
            anyhow::bail!(
                "{requester} serves the proxy's metrics on '{}', where other machines can reach them: give \
                 --host to accept addresses other machines reach",
                address.escape_debug()
            );
        }
    }
    if let Some(n) = &overrides.name {
        rc.name = n.clone();
        rc.base_name = n.clone();
        if rc.container_name.is_some() {
            rc.container_name = Some(n.clone());
        }
    }
    rc.apply_standard_labels();
    if let Some(h) = &overrides.host {
        rc.host = h.clone();
    }
    if let Some(p) = overrides.proxy_port {
        rc.set_port(p);
    }
    Ok(Resolution {
        config: rc,
        warnings,
        provenance: None,
    })
}

/// What a RunConfig asks for beyond an isolated container: its permission profile's privileges, every volume
/// of a host path, and the host files its middleware settings (`specs`, parsed from it) name.
fn requested_privileges(
    rc: &RunConfig,
    specs: &[MiddlewareSpec],
) -> anyhow::Result<Vec<Privilege>> {
    let mut requested = match &rc.permission_profile {
        Some(profile) => profile.privileges()?,
        None => Vec::new(),
    };
    for (i, volume) in rc.volumes.iter().enumerate() {
        let mount = parse_volume(volume).with_context(|| format!("volumes[{i}]"))?;
        if let MountSource::Host(host) = mount.source {
            requested.push(Privilege::HostMount {
                host,
                target: mount.target,
                read_only: mount.read_only,
            });
        }
    }
    for spec in specs {
        let (file, purpose, write) = match spec {
            MiddlewareSpec::Audit(p) => (
                p.config.as_ref().and_then(|c| c.log_file.as_ref()),
                "the audit log",
                true,
            ),
            MiddlewareSpec::Auth(p) => (
                p.oidc_config
                    .as_ref()
                    .and_then(|o| o.client_secret_file.as_ref()),
                "the OIDC client secret, sent to the introspection endpoint",
                false,
            ),
            MiddlewareSpec::Authorization(p) => {
                (p.config_path.as_ref(), "the Cedar policies", false)
            }
            _ => continue,
        };
        if let Some(file) = file {
            let path = clean_host_path(&file.to_string_lossy()).with_context(|| {
                format!(
                    "middleware_configs ({}): {}",
                    spec.type_name(),
                    file.display()
                )
            })?;
            requested.push(Privilege::HostFile {
                path,
                purpose: purpose.to_owned(),
                write,
            });
        }
    }
    Ok(requested)
}

/// A `telemetry` entry's `metrics_address` with a fixed port (not 0): checked before the workload is created,
/// as the proxy port is (the proxy found it taken only after the container started).
pub(super) fn fixed_metrics_address(rc: &RunConfig) -> Option<std::net::SocketAddr> {
    let specs = MiddlewareSpec::parse_all(&rc.middleware_configs).ok()?;
    metrics_address(&specs, |a| a.port() != 0)
}

/// A `telemetry` entry's `metrics_address` that is not on loopback (an unparsable one is the chain's error).
fn reachable_metrics_address(specs: &[MiddlewareSpec]) -> Option<String> {
    metrics_address(specs, |a| !thv_core::net::canonical(a.ip()).is_loopback())
        .map(|a| a.to_string())
}

/// The first `telemetry` entry's `metrics_address` that parses and that `keep` keeps.
fn metrics_address(
    specs: &[MiddlewareSpec],
    keep: impl Fn(&std::net::SocketAddr) -> bool,
) -> Option<std::net::SocketAddr> {
    specs.iter().find_map(|spec| match spec {
        MiddlewareSpec::Telemetry(p) => p
            .metrics_address
            .as_deref()
            .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
            .filter(|a| keep(a)),
        _ => None,
    })
}

/// `localhost` or a loopback address (`127.0.0.1`, `::1`, `[::1]`).
fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| thv_core::net::canonical(ip).is_loopback())
}

impl Manager {
    /// Step 1: the RunConfig `source` names. A registry entry is checked against the `[signatures]` policy
    /// before anything else happens.
    pub async fn resolve_launch(&self, source: &LaunchSource) -> anyhow::Result<Resolution> {
        match source {
            LaunchSource::RunConfigFile { path, overrides } => {
                read_run_config_file(path, overrides)
            }
            LaunchSource::Reference {
                server,
                registry,
                options,
            } => {
                let setting = registry
                    .as_deref()
                    .or(self.config().registry.url.as_deref());
                let registry = RegistrySource::from_setting(setting);
                let signatures = self
                    .config()
                    .signatures
                    .load()
                    .map_err(|e| anyhow::anyhow!("the [signatures] configuration: {e}"))?;
                super::source::resolve(server, &registry, options, &signatures).await
            }
        }
    }

    /// Step 3: every middleware setting of `rc` is checked, and its image verified under `verification`
    /// (`None`: the configured `[images] verification`) against the registry entry's `provenance`; an image
    /// `thv mirror load` installed is pinned to the digest its bundle recorded.
    pub async fn check_launch(
        &self,
        rc: &mut RunConfig,
        provenance: Option<&thv_core::toolhive::Provenance>,
        verification: Option<ImageVerification>,
    ) -> anyhow::Result<()> {
        super::proxy_process::middleware_chain(rc, super::proxy_process::client_mode(rc))?;
        let mode = verification
            .or(self.config().images.verification)
            .unwrap_or_default();
        let loaded = crate::mirror::store::MirrorStore::new(&self.store().dirs().data);
        crate::image_verify::check(rc, mode, &self.config().images, provenance, &loaded).await
    }

    /// Step 4: runs the workload ([`Manager::run`]) and starts its detached proxy. When the proxy does not
    /// start the workload is stopped again and the error says how to retry or remove it. Returns the RunConfig
    /// as stored.
    pub async fn launch(
        &self,
        rc: RunConfig,
        build: &crate::build::BuildOptions,
    ) -> anyhow::Result<RunConfig> {
        let rc = self.run(rc, build).await?;
        let name = &rc.name;
        if let Err(e) = self.start_proxy(name).await {
            let _ = self.stop(name).await;
            return Err(e.context(format!(
                "the proxy did not start; the workload is kept stopped (`thv start {name}` retries, `thv rm {name}` removes it)"
            )));
        }
        Ok(rc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A RunConfig file with `extra` merged in, read with `overrides`; the error text on refusal.
    fn read(extra: serde_json::Value, overrides: &RunConfigOverrides) -> Result<RunConfig, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rc.json");
        let mut v = json!({
            "schema_version": "v1",
            "name": "shared",
            "base_name": "shared",
            "container_name": "shared",
            "image": "localhost/thv-test-mcp-server:latest",
            "transport": "stdio",
            "host": "127.0.0.1"
        });
        for (k, val) in extra.as_object().unwrap() {
            v[k] = val.clone();
        }
        std::fs::write(&path, v.to_string()).unwrap();
        read_run_config_file(&path, overrides)
            .map(|r| r.config)
            .map_err(|e| format!("{e:#}"))
    }

    fn granted(grants: &[&str]) -> RunConfigOverrides {
        RunConfigOverrides {
            grants: grants.iter().map(|g| g.parse().unwrap()).collect(),
            ..RunConfigOverrides::default()
        }
    }

    /// A shared RunConfig's host volumes, and the host files its middleware would write or read, are requests
    /// like its permission profile's (they were taken without a grant: a file could mount /etc, or append its
    /// audit log to ~/.bashrc).
    #[test]
    fn host_paths_of_a_file_need_grants() {
        let none = RunConfigOverrides::default();
        let e = read(json!({"volumes": ["/etc:/hostetc:ro"]}), &none).unwrap_err();
        assert!(
            e.contains("the host path '/etc' mounted at /hostetc (read-only)")
                && e.contains("--grant mount=/etc")
                && !e.contains("--permission-profile"),
            "{e}"
        );
        read(
            json!({"volumes": ["/etc:/hostetc:ro"]}),
            &granted(&["mount=/etc"]),
        )
        .unwrap();
        let audit = json!({"middleware_configs": [{"type": "audit", "parameters":
            {"config": {"log_file": "/root/.bashrc", "include_request_data": true}}}]});
        let e = read(audit.clone(), &none).unwrap_err();
        assert!(
            e.contains("the host file '/root/.bashrc' (the audit log, written by the proxy)")
                && e.contains("--grant mount=/root/.bashrc"),
            "{e}"
        );
        read(audit, &granted(&["mount=/root/.bashrc"])).unwrap();
        let secret = json!({"middleware_configs": [{"type": "auth", "parameters": {"oidc_config": {
            "issuer": "https://idp.example.com", "client_secret_file": "/root/.ssh/id_ed25519"}}}]});
        let e = read(secret, &none).unwrap_err();
        assert!(
            e.contains("'/root/.ssh/id_ed25519' (the OIDC client secret"),
            "{e}"
        );
        let policies = json!({"middleware_configs": [{"type": "authorization",
            "parameters": {"config_path": "relative.json"}}]});
        let e = read(policies, &none).unwrap_err();
        assert!(e.contains("middleware_configs (authorization)"), "{e}");
    }

    /// A file cannot open the proxy to other machines, nor label its container as another workload's.
    #[test]
    fn address_and_labels_are_the_users() {
        let e = read(json!({"host": "0.0.0.0"}), &RunConfigOverrides::default()).unwrap_err();
        assert!(
            e.contains("listen on '0.0.0.0'") && e.contains("--host 0.0.0.0"),
            "{e}"
        );
        let accepted = RunConfigOverrides {
            host: Some("0.0.0.0".into()),
            ..RunConfigOverrides::default()
        };
        assert_eq!(
            read(json!({"host": "0.0.0.0"}), &accepted).unwrap().host,
            "0.0.0.0"
        );
        let metrics = |address: &str| {
            json!({"middleware_configs": [{"type": "telemetry",
                "parameters": {"metrics_address": address}}]})
        };
        let e = read(metrics("0.0.0.0:9464"), &RunConfigOverrides::default()).unwrap_err();
        assert!(e.contains("metrics on '0.0.0.0:9464'"), "{e}");
        read(metrics("0.0.0.0:9464"), &accepted).unwrap();
        read(metrics("127.0.0.1:0"), &RunConfigOverrides::default()).unwrap();
        for host in ["localhost", "::1", "127.0.0.2"] {
            read(json!({ "host": host }), &RunConfigOverrides::default()).unwrap();
        }
        let rc = read(
            json!({"container_labels": {"toolhive-name": "someone-else"}}),
            &RunConfigOverrides::default(),
        )
        .unwrap();
        assert_eq!(rc.container_labels["toolhive-name"], "shared");
    }
}
