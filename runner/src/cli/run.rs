//! `thv run`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use thv_core::runconfig::{
    ProxyMode, ResolveOptions, RunConfig, SecretRef, TransportType, parse_env_assignment,
};

use crate::dirs::Dirs;
use crate::registry::RegistrySource;
use crate::workloads::{Manager, proxy_url};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// What to run: a registry name, an image, uvx://pkg[@ver], npx://pkg[@ver], go://module[@ver], go://./dir,
    /// or an http(s) URL of a remote MCP server. Not with --from-config.
    #[arg(required_unless_present = "from_config")]
    pub server: Option<String>,
    /// Arguments for the MCP server (after `--`); they replace the registry's.
    #[arg(last = true)]
    pub args: Vec<String>,
    /// Run the workload a RunConfig file describes (from `thv export`).
    #[arg(long, conflicts_with = "server")]
    pub from_config: Option<PathBuf>,
    /// Workload (and container) name.
    #[arg(long)]
    pub name: Option<String>,
    /// Group of the workload.
    #[arg(long)]
    pub group: Option<String>,
    /// The server's transport: stdio, sse or streamable-http (default: the registry's, or stdio).
    #[arg(long)]
    pub transport: Option<TransportType>,
    /// What the proxy offers clients of a stdio server: streamable-http (default) or sse.
    #[arg(long)]
    pub proxy_mode: Option<ProxyMode>,
    /// Address the proxy listens on.
    #[arg(long)]
    pub host: Option<String>,
    /// Port the proxy listens on (default: a free port).
    #[arg(long)]
    pub proxy_port: Option<u16>,
    /// Port the server listens on in the container (sse, streamable-http).
    #[arg(long)]
    pub target_port: Option<u16>,
    /// Host the proxy reaches the container's port on.
    #[arg(long)]
    pub target_host: Option<String>,
    /// Environment variable KEY=VALUE (repeatable).
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// A file of KEY=VALUE lines (# comments and blank lines ignored).
    #[arg(long)]
    pub env_file: Option<PathBuf>,
    /// A secret as an env var: NAME,target=ENV (repeatable; the value comes from `thv secret set` or
    /// TOOLHIVE_SECRET_NAME).
    #[arg(long = "secret")]
    pub secrets: Vec<String>,
    /// A mount host:container[:ro] (repeatable).
    #[arg(short = 'v', long = "volume")]
    pub volumes: Vec<String>,
    /// A container label KEY=VALUE (repeatable).
    #[arg(short = 'l', long = "label")]
    pub labels: Vec<String>,
    /// Permission profile: none, network, or the path of a JSON profile (default: the registry's, or network).
    #[arg(long)]
    pub permission_profile: Option<String>,
    /// Grant a privilege the registry entry's permission profile asks for, after reviewing it: privileged,
    /// network=MODE or mount=/HOST/PATH (repeatable). Without it such an entry is refused.
    #[arg(long = "grant", value_name = "PRIVILEGE")]
    pub grants: Vec<String>,
    /// Enforce the profile's network rules through an isolated network (default on for containers).
    #[arg(long)]
    pub isolate_network: Option<bool>,
    /// Let an isolated workload reach the engine's gateway (the host) on the destinations its profile allows.
    #[arg(long)]
    pub allow_docker_gateway: bool,
    /// Check the image's cosign signatures against [images] trusted_keys before it runs: disabled, warn
    /// (default) or enabled (refuse what does not verify).
    #[arg(long, value_enum)]
    pub image_verification: Option<crate::image_verify::Mode>,
    /// Only these tools are listed and callable (comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    pub tools: Vec<String>,
    /// Idle session lifetime of the proxy (e.g. 30m, 2h).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub session_ttl: Option<std::time::Duration>,
    /// Use this registry (API URL, registry file URL or path) instead of the configured one.
    #[arg(long)]
    pub registry: Option<String>,
    /// A PEM file of CA certificates for package image builds (corporate TLS proxies).
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// Keep the proxy in this process (Ctrl-C stops the workload) instead of detaching it.
    #[arg(short = 'f', long)]
    pub foreground: bool,
    #[command(flatten)]
    pub middleware: super::middleware_args::MiddlewareArgs,
}

/// Turns the flags into [`ResolveOptions`]; every malformed flag is an error naming it.
fn resolve_options(a: &RunArgs) -> anyhow::Result<ResolveOptions> {
    let mut env = BTreeMap::new();
    if let Some(path) = &a.env_file {
        let text = thv_core::files::read_config_text(path)
            .with_context(|| format!("--env-file: cannot read {}", path.display()))?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = parse_env_assignment(line.strip_prefix("export ").unwrap_or(line))
                .map_err(|e| {
                    anyhow::anyhow!("--env-file {} line {}: {e}", path.display(), i + 1)
                })?;
            env.insert(k, v);
        }
    }
    for e in &a.env {
        let (k, v) = parse_env_assignment(e).map_err(|m| anyhow::anyhow!("-e: {m}"))?;
        env.insert(k, v);
    }
    let secrets = a
        .secrets
        .iter()
        .map(|s| SecretRef::parse(s).map_err(|m| anyhow::anyhow!("--secret '{s}': {m}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut labels = BTreeMap::new();
    for l in &a.labels {
        let (k, v) = l
            .split_once('=')
            .with_context(|| format!("-l '{l}': expected KEY=VALUE"))?;
        labels.insert(k.to_owned(), v.to_owned());
    }
    let grants = parse_grants(&a.grants)?;
    let session_ttl = a.session_ttl.map(|d| d.as_secs().max(1));
    Ok(ResolveOptions {
        name: a.name.clone(),
        env,
        secrets,
        args: a.args.clone(),
        permission_profile: a.permission_profile.clone(),
        grants,
        transport: a.transport,
        proxy_port: a.proxy_port,
        target_port: a.target_port,
        proxy_mode: a.proxy_mode,
        isolate_network: a.isolate_network,
        host: a.host.clone(),
        target_host: a.target_host.clone(),
        group: a.group.clone(),
        labels,
        volumes: a.volumes.clone(),
        tools_filter: a.tools.clone(),
        session_ttl,
        ..ResolveOptions::default()
    })
}

/// The `--grant` values.
fn parse_grants(grants: &[String]) -> anyhow::Result<Vec<thv_core::runconfig::Grant>> {
    grants
        .iter()
        .map(|g| g.parse().map_err(|m| anyhow::anyhow!("--grant {m}")))
        .collect()
}

/// Reads a RunConfig file for `--from-config`; `--name`, `--proxy-port` and `--host` may override it.
fn from_config(path: &std::path::Path, a: &RunArgs) -> anyhow::Result<RunConfig> {
    let bytes = thv_core::files::read_regular(path, thv_core::files::MAX_CONFIG_BYTES)
        .with_context(|| format!("--from-config: cannot read {}", path.display()))?;
    let mut rc = RunConfig::read_json(&bytes)
        .with_context(|| format!("--from-config {}", path.display()))?;
    // A RunConfig file may come from anyone (an export shared with you): its profile is a request too.
    if let Some(profile) = &rc.permission_profile {
        let grants = parse_grants(&a.grants)?;
        let requested = profile
            .privileges()
            .with_context(|| format!("--from-config {}", path.display()))?;
        let mut warnings = Vec::new();
        thv_core::runconfig::check_grants(
            &format!("the RunConfig {}", path.display()),
            &requested,
            &grants,
            &mut warnings,
        )?;
        for w in &warnings {
            thv_core::errln!("warning: {w}");
        }
    }
    if let Some(n) = &a.name {
        if let Some(e) = thv_core::runconfig::name_error(n) {
            bail!("invalid --name: {e}");
        }
        rc.name = n.clone();
        rc.base_name = n.clone();
        if rc.container_name.is_some() {
            rc.container_name = Some(n.clone());
        }
        rc.apply_standard_labels();
    }
    if let Some(h) = &a.host {
        rc.host = h.clone();
    }
    if let Some(p) = a.proxy_port {
        rc.set_port(p);
    }
    Ok(rc)
}

pub async fn run(dirs: Dirs, a: RunArgs) -> anyhow::Result<i32> {
    let manager = Manager::new(dirs.clone())?;
    let (rc, provenance) = match (&a.from_config, &a.server) {
        (Some(path), _) => (from_config(path, &a)?, None),
        (None, Some(server)) => {
            let registry_setting =
                a.registry
                    .as_deref()
                    .or(manager.config().registry.url.as_deref());
            let registry = RegistrySource::from_setting(registry_setting);
            let opts = resolve_options(&a)?;
            let signatures = manager
                .config()
                .signatures
                .load()
                .map_err(|e| anyhow::anyhow!("the [signatures] configuration: {e}"))?;
            let resolution =
                crate::workloads::source::resolve(server, &registry, &opts, &signatures).await?;
            for w in &resolution.warnings {
                thv_core::errln!("warning: {w}");
            }
            (resolution.config, resolution.provenance)
        }
        (None, None) => bail!("nothing to run: give a server or --from-config FILE"),
    };
    let mut rc = rc;
    a.middleware.apply(&mut rc)?;
    if a.allow_docker_gateway {
        rc.allow_docker_gateway = true;
    }
    // Every middleware setting is checked now, before anything starts.
    crate::supervisor::middleware_chain(&rc, crate::supervisor::client_mode(&rc))?;
    let image_mode = a
        .image_verification
        .or(manager.config().images.verification)
        .unwrap_or_default();
    crate::image_verify::check(
        &mut rc,
        image_mode,
        &manager.config().images,
        provenance.as_ref(),
        &crate::mirror::store::MirrorStore::new(&dirs.data),
    )
    .await?;
    print_permission_profile(&rc, a.from_config.is_some());
    let build = super::build_cmd::build_options(manager.config(), a.ca_cert.clone())?;
    if rc.package.is_some() && rc.image.is_none() {
        thv_core::errln!(
            "building the image of {} ...",
            rc.package
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default()
        );
    }
    let rc = manager.run(rc, &build).await?;
    let name = rc.name.clone();
    if a.foreground {
        // The workload exists now: a closed stdout must not end this process before the proxy runs and stops
        // it again on Ctrl-C (thv_core::output's outln! would exit at once).
        let _ = thv_core::output::try_write_stdout(format_args!("{name}: {}\n", proxy_url(&rc)));
        return run_foreground(&name).await;
    }
    if let Err(e) = manager.start_proxy(&name).await {
        thv_core::errln!(
            "the proxy did not start; the workload is kept stopped (`thv start {name}` retries, `thv rm {name}` removes it)"
        );
        let _ = manager.stop(&name).await;
        return Err(e);
    }
    super::client_cmd::register_workload(&manager, &rc);
    outln!("{name} is running: {}", proxy_url(&rc));
    Ok(0)
}

/// The permission profile the container will run with, and where it comes from, on stderr before anything
/// starts.
fn print_permission_profile(rc: &RunConfig, from_file: bool) {
    let Some(profile) = &rc.permission_profile else {
        return;
    };
    let origin = match (
        &rc.permission_profile_name_or_path,
        &rc.registry_server_name,
    ) {
        // The file's name for its profile is the file's word, not what it holds.
        _ if from_file => "from the RunConfig file".to_owned(),
        (Some(p), _) => format!("'{p}'"),
        (None, Some(server)) => format!("requested by the registry entry {server}"),
        (None, None) => "from the RunConfig".to_owned(),
    };
    thv_core::errln!("permission profile {origin}:");
    for line in profile.describe() {
        thv_core::errln!("  {line}");
    }
    let bridge = matches!(
        crate::runtime::network_mode_for(profile, rc.transport),
        Ok(crate::runtime::NetworkMode::Bridge)
    );
    if bridge && !crate::workloads::isolation::is_isolated(rc) {
        thv_core::errln!("  (network isolation is off: outbound rules are not enforced)");
    }
}

/// `--foreground`: the workload's proxy process runs attached to this one (its output on this terminal);
/// Ctrl-C or SIGTERM stops it, and with it the workload's container.
async fn run_foreground(name: &str) -> anyhow::Result<i32> {
    use nix::sys::signal::{Signal, kill};
    use tokio::signal::unix::{SignalKind, signal};
    let exe = std::env::current_exe().context("cannot find the thv executable")?;
    let mut child = tokio::process::Command::new(exe)
        .args([
            crate::workloads::proxy_process::PROXY_COMMAND,
            name,
            "--foreground",
        ])
        .spawn()
        .context("cannot start the proxy")?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let status = loop {
        tokio::select! {
            s = child.wait() => break s?,
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        // Forward the stop to the proxy (a terminal's Ctrl-C reaches it directly too).
        if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
            let _ = kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM);
        }
    };
    Ok(status.code().unwrap_or(1))
}
