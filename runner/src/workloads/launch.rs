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
    Grant, Resolution, ResolveOptions, ResolveWarning, RunConfig, check_grants,
};

use super::Manager;
use crate::image_verify::Mode as ImageVerification;
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

/// Reads a RunConfig file and applies `overrides`; the file's permission profile needs `overrides.grants`.
pub fn read_run_config_file(
    path: &std::path::Path,
    overrides: &RunConfigOverrides,
) -> anyhow::Result<Resolution> {
    let bytes = thv_core::files::read_regular(path, thv_core::files::MAX_CONFIG_BYTES)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut rc = RunConfig::read_json(&bytes).with_context(|| path.display().to_string())?;
    let mut warnings: Vec<ResolveWarning> = Vec::new();
    if let Some(profile) = &rc.permission_profile {
        let requested = profile
            .privileges()
            .with_context(|| path.display().to_string())?;
        check_grants(
            &format!("the RunConfig {}", path.display()),
            &requested,
            &overrides.grants,
            &mut warnings,
        )?;
    }
    if let Some(n) = &overrides.name {
        rc.name = n.clone();
        rc.base_name = n.clone();
        if rc.container_name.is_some() {
            rc.container_name = Some(n.clone());
        }
        rc.apply_standard_labels();
    }
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
        crate::supervisor::middleware_chain(rc, crate::supervisor::client_mode(rc))?;
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
