//! `thv run`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use thv_core::runconfig::{
    ProxyMode, ResolveOptions, SecretRef, TransportType, parse_env_assignment,
};

use crate::dirs::Dirs;
use crate::workloads::launch::{LaunchSource, RunConfigOverrides, permission_profile_report};
use crate::workloads::{Manager, proxy_url};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// What to run: a registry name, an image, uvx://pkg[@ver], npx://pkg[@ver], go://module[@ver], go://./dir,
    /// or an http(s) URL of a remote MCP server. Not with --from-config.
    #[arg(required_unless_present = "from_config")]
    pub server: Option<String>,
    /// Arguments for the MCP server (after `--`); they replace the registry's.
    #[arg(last = true, conflicts_with = "from_config")]
    pub args: Vec<String>,
    /// Run the workload a RunConfig file describes (from `thv export`). What it asks beyond an isolated container
    /// on loopback (privileges, host volumes, host files of its middleware, a reachable --host) must be granted.
    #[arg(long, conflicts_with = "server")]
    pub from_config: Option<PathBuf>,
    /// Workload (and container) name.
    #[arg(long)]
    pub name: Option<String>,
    /// Group of the workload.
    #[arg(long, conflicts_with = "from_config")]
    pub group: Option<String>,
    /// The server's transport: stdio, sse or streamable-http (default: the registry's, or stdio).
    #[arg(long, conflicts_with = "from_config")]
    pub transport: Option<TransportType>,
    /// What the proxy offers clients of a stdio server: streamable-http (default) or sse.
    #[arg(long, conflicts_with = "from_config")]
    pub proxy_mode: Option<ProxyMode>,
    /// Address the proxy listens on.
    #[arg(long)]
    pub host: Option<String>,
    /// Port the proxy listens on (default: a free port).
    #[arg(long)]
    pub proxy_port: Option<u16>,
    /// Port the server listens on in the container (sse, streamable-http).
    #[arg(long, conflicts_with = "from_config")]
    pub target_port: Option<u16>,
    /// Host the proxy reaches the container's port on.
    #[arg(long, conflicts_with = "from_config")]
    pub target_host: Option<String>,
    /// Environment variable KEY=VALUE (repeatable).
    #[arg(short = 'e', long = "env", conflicts_with = "from_config")]
    pub env: Vec<String>,
    /// A file of KEY=VALUE lines (# comments and blank lines ignored).
    #[arg(long, conflicts_with = "from_config")]
    pub env_file: Option<PathBuf>,
    /// A secret as an env var: NAME,target=ENV (repeatable; the value comes from `thv secret set` or
    /// TOOLHIVE_SECRET_NAME).
    #[arg(long = "secret", conflicts_with = "from_config")]
    pub secrets: Vec<String>,
    /// A mount host:container[:ro] (repeatable).
    #[arg(short = 'v', long = "volume", conflicts_with = "from_config")]
    pub volumes: Vec<String>,
    /// A container label KEY=VALUE (repeatable).
    #[arg(short = 'l', long = "label", conflicts_with = "from_config")]
    pub labels: Vec<String>,
    /// Permission profile: none, network, or the path of a JSON profile (default: the registry's, or network).
    #[arg(long, conflicts_with = "from_config")]
    pub permission_profile: Option<String>,
    /// Grant a privilege the registry entry's permission profile asks for, after reviewing it: privileged,
    /// network=MODE or mount=/HOST/PATH (repeatable). Without it such an entry is refused.
    #[arg(long = "grant", value_name = "PRIVILEGE")]
    pub grants: Vec<String>,
    /// Enforce the profile's network rules through an isolated network (default on for containers).
    #[arg(long, conflicts_with = "from_config")]
    pub isolate_network: Option<bool>,
    /// Let an isolated workload reach the engine's gateway (the host) on the destinations its profile allows.
    #[arg(long)]
    pub allow_docker_gateway: bool,
    /// Check the image's cosign signatures against [images] trusted_keys before it runs: disabled, warn
    /// (default) or enabled (refuse what does not verify).
    #[arg(long, value_enum)]
    pub image_verification: Option<crate::image_verify::Mode>,
    /// Only these tools are listed and callable (comma-separated or repeated); with --tools-override, by the
    /// names clients see (the overridden ones), as ToolHive's.
    #[arg(long, value_delimiter = ',', conflicts_with = "from_config")]
    pub tools: Vec<String>,
    /// Idle session lifetime of the proxy (e.g. 30m, 2h).
    #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "from_config")]
    pub session_ttl: Option<std::time::Duration>,
    /// Use this registry (API URL, registry file URL or path) instead of the configured one.
    #[arg(long, conflicts_with = "from_config")]
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

/// What `thv run` launches: the server argument with its flags, or `--from-config` with its overrides.
fn launch_source(a: &RunArgs) -> anyhow::Result<LaunchSource> {
    match (&a.from_config, &a.server) {
        (Some(path), _) => {
            if let Some(e) = a.name.as_deref().and_then(thv_core::runconfig::name_error) {
                bail!("invalid --name: {e}");
            }
            let overrides = RunConfigOverrides {
                name: a.name.clone(),
                host: a.host.clone(),
                proxy_port: a.proxy_port,
                grants: parse_grants(&a.grants)?,
            };
            Ok(LaunchSource::RunConfigFile {
                path: path.clone(),
                overrides,
            })
        }
        (None, Some(server)) => Ok(LaunchSource::Reference {
            server: server.clone(),
            registry: a.registry.clone(),
            options: Box::new(resolve_options(a)?),
        }),
        (None, None) => bail!("nothing to run: give a server or --from-config FILE"),
    }
}

/// `thv run`: the launch sequence of [`crate::workloads::launch`], its warnings and the permission profile on
/// stderr, the proxy's URL on stdout.
pub async fn run(dirs: Dirs, a: RunArgs) -> anyhow::Result<i32> {
    let manager = Manager::new(dirs)?;
    let source = launch_source(&a)?;
    let resolution = manager
        .resolve_launch(&source)
        .await
        .map_err(|e| match &source {
            LaunchSource::RunConfigFile { .. } => e.context("--from-config"),
            LaunchSource::Reference { .. } => e,
        })?;
    for w in &resolution.warnings {
        thv_core::errln!("warning: {w}");
    }
    let mut rc = resolution.config;
    a.middleware.apply(&mut rc)?;
    if a.allow_docker_gateway {
        rc.allow_docker_gateway = true;
    }
    manager
        .check_launch(
            &mut rc,
            resolution.provenance.as_ref(),
            a.image_verification,
        )
        .await?;
    for line in permission_profile_report(&rc, a.from_config.is_some()) {
        thv_core::errln!("{line}");
    }
    let build = manager.config().build_options(a.ca_cert.clone())?;
    if let (Some(package), None) = (&rc.package, &rc.image) {
        thv_core::errln!("building the image of {package} ...");
    }
    if a.foreground {
        let rc = manager.run(rc, &build).await?;
        // The workload exists now: a closed stdout must not end this process before the proxy runs and stops
        // it again on Ctrl-C (thv_core::output's outln! would exit at once).
        let _ =
            thv_core::output::try_write_stdout(format_args!("{}: {}\n", rc.name, proxy_url(&rc)));
        return run_foreground(&rc.name).await;
    }
    let rc = manager.launch(rc, &build).await?;
    super::client_cmd::register_workload(&manager, &rc);
    outln!("{} is running: {}", rc.name, proxy_url(&rc));
    Ok(0)
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
