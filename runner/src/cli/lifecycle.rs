//! `thv list`, `status`, `logs`, `stop`, `start`/`restart`, `rm`, `export`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use futures::StreamExt;

use super::{Format, print_json};
use crate::dirs::Dirs;
use crate::workloads::{Manager, WorkloadState, WorkloadView};

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show every workload, not only running ones.
    #[arg(short, long)]
    pub all: bool,
    /// Only this group's workloads.
    #[arg(long)]
    pub group: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    pub name: String,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The workload; `prune` removes the logs of workloads that no longer exist.
    pub name: String,
    /// Keep printing new lines.
    #[arg(short, long)]
    pub follow: bool,
    /// The proxy's log instead of the container's.
    #[arg(long)]
    pub proxy: bool,
}

/// Names, or --all, or --group.
#[derive(Debug, Args)]
pub struct Selection {
    pub names: Vec<String>,
    /// Every workload.
    #[arg(long, conflicts_with = "names")]
    pub all: bool,
    /// Every workload of this group.
    #[arg(long, conflicts_with_all = ["names", "all"])]
    pub group: Option<String>,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    #[command(flatten)]
    pub selection: Selection,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Workloads to start.
    pub names: Vec<String>,
    /// Every workload that should run (those not stopped with `thv stop`): what a reboot or an engine
    /// restart needs.
    #[arg(long, conflicts_with = "names")]
    pub all: bool,
    /// Every workload of this group.
    #[arg(long, conflicts_with_all = ["names", "all"])]
    pub group: Option<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    #[command(flatten)]
    pub selection: Selection,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    pub name: String,
    /// The file to write (`-` for stdout).
    pub path: PathBuf,
}

pub async fn list(dirs: Dirs, a: ListArgs) -> anyhow::Result<i32> {
    let manager = Manager::new(dirs)?;
    let mut views = manager.list().await?;
    views.retain(|v| {
        (a.all || v.status != WorkloadState::Stopped)
            && a.group.as_ref().is_none_or(|g| &v.group == g)
    });
    match a.format {
        Format::Json => print_json(&views)?,
        Format::Text => print_table(&views),
    }
    // The engine did not answer: say so once, not only as an `unknown` state per row.
    if let Some(why) = views
        .iter()
        .find(|v| v.status == WorkloadState::Unknown)
        .and_then(|v| v.status_context.as_deref())
    {
        thv_core::errln!(
            "warning: the container engine could not be asked, so container states are unknown: {why}"
        );
    }
    Ok(0)
}

fn print_table(views: &[WorkloadView]) {
    if views.is_empty() {
        outln!("No MCP servers found");
        return;
    }
    let rows: Vec<[String; 6]> = views
        .iter()
        .map(|v| {
            [
                v.name.clone(),
                v.package.clone(),
                v.status.to_string(),
                v.url.clone(),
                v.port.map(|p| p.to_string()).unwrap_or_default(),
                v.group.clone(),
            ]
        })
        .collect();
    let header = ["NAME", "PACKAGE", "STATUS", "URL", "PORT", "GROUP"];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    outln!("{}", line(header.to_vec()));
    for r in &rows {
        outln!("{}", line(r.iter().map(String::as_str).collect()));
    }
}

pub async fn status(dirs: Dirs, a: StatusArgs) -> anyhow::Result<i32> {
    let manager = Manager::new(dirs)?;
    let v = manager.status(&a.name).await?;
    match a.format {
        Format::Json => print_json(&v)?,
        Format::Text => {
            outln!("Name:       {}", v.name);
            outln!("Status:     {}", v.status);
            if let Some(c) = &v.status_context {
                outln!("Context:    {c}");
            }
            outln!("Package:    {}", v.package);
            outln!("URL:        {}", v.url);
            if let Some(m) = &v.metrics_url {
                outln!("Metrics:    {m}");
            }
            outln!("Transport:  {}", v.transport_type);
            if let Some(m) = &v.proxy_mode {
                outln!("Proxy mode: {m}");
            }
            outln!("Group:      {}", v.group);
            if let Some(c) = &v.container {
                outln!(
                    "Container:  {c} ({})",
                    v.container_state.as_deref().unwrap_or("unknown")
                );
            }
            if let Some(p) = v.proxy_pid {
                outln!("Proxy PID:  {p}");
            }
            if let Some(t) = v.created_at {
                outln!("Created:    {}", t.to_rfc3339());
            }
        }
    }
    Ok(0)
}

pub async fn logs(dirs: Dirs, a: LogsArgs) -> anyhow::Result<i32> {
    if a.name == "prune" {
        return prune_logs(&dirs);
    }
    let manager = Manager::new(dirs.clone())?;
    let rc = manager.store().load_runconfig(&a.name)?;
    if a.proxy || rc.is_remote() {
        return follow_file(&dirs.proxy_log(&a.name), a.follow).await;
    }
    let rt = manager.runtime().await?;
    let cname = crate::workloads::container_name(&rc);
    let mut stream = rt.logs(&cname, a.follow).await?;
    // A stdio server's stdout is the MCP stream (tool results), not its log: only its stderr is shown. Every
    // secret value of the workload that can be found is hidden.
    let stdio = rc.transport == thv_core::runconfig::TransportType::Stdio;
    let redactor = crate::redact::Redactor::new(&manager.secrets().known_values(&rc));
    while let Some(line) = stream.next().await {
        let line = line?;
        let text = redactor.redact(&line.text);
        if line.source == crate::runtime::LogSource::Stderr {
            thv_core::errln!("{text}");
        } else if !stdio {
            outln!("{text}");
        }
    }
    Ok(0)
}

/// `thv logs prune`: removes the proxy logs of workloads that no longer exist.
fn prune_logs(dirs: &Dirs) -> anyhow::Result<i32> {
    let manager = Manager::new(dirs.clone())?;
    let names = manager.store().names()?;
    let entries = match std::fs::read_dir(dirs.logs()) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dirs.logs().display())),
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(workload) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".log"))
        else {
            continue;
        };
        if !names.iter().any(|n| n == workload) {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
            outln!("removed {}", path.display());
            removed += 1;
        }
    }
    outln!("{removed} log file(s) of removed workloads pruned");
    Ok(0)
}

/// Prints a file, and with `follow` keeps printing what is appended.
async fn follow_file(path: &std::path::Path, follow: bool) -> anyhow::Result<i32> {
    use tokio::io::AsyncReadExt;
    let mut f = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !follow => return Ok(0),
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            if !follow {
                return Ok(0);
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            continue;
        }
        // Written and flushed whole; a closed pipe ends the command quietly (thv_core::output).
        thv_core::output::write_stdout_bytes(&buf[..n]);
    }
}

/// The names a selection means.
fn selected(
    manager: &Manager,
    names: &[String],
    all: bool,
    group: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    if all {
        return manager.store().names();
    }
    if let Some(g) = group {
        let mut out = Vec::new();
        for n in manager.store().names()? {
            if manager.store().load_runconfig(&n)?.group_name() == g {
                out.push(n);
            }
        }
        return Ok(out);
    }
    if names.is_empty() {
        bail!("name a workload, or use --all or --group");
    }
    Ok(names.to_vec())
}

/// Runs `op` on every name; reports each failure and returns 1 when one failed.
async fn each<F, Fut>(names: Vec<String>, done: &str, mut op: F) -> anyhow::Result<i32>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<&'static str>>>,
{
    let mut failed = 0;
    for n in names {
        match op(n.clone()).await {
            Ok(None) => outln!("{n} {done}"),
            Ok(Some(instead)) => outln!("{n} {instead}"),
            Err(e) => {
                thv_core::errln!("Error: {n}: {e:#}");
                failed += 1;
            }
        }
    }
    Ok(i32::from(failed > 0))
}

pub async fn stop(dirs: Dirs, a: StopArgs) -> anyhow::Result<i32> {
    let manager = Manager::new(dirs)?;
    let s = &a.selection;
    let names = selected(&manager, &s.names, s.all, s.group.as_deref())?;
    each(names, "stopped", |n| {
        let m = &manager;
        async move { m.stop(&n).await.map(|()| None) }
    })
    .await
}

pub async fn start(dirs: Dirs, a: StartArgs, restart: bool) -> anyhow::Result<i32> {
    let manager = Manager::new(dirs)?;
    let names = if a.all {
        manager.desired_running()?
    } else {
        selected(&manager, &a.names, false, a.group.as_deref())?
    };
    if a.all && names.is_empty() {
        outln!("No workloads to start");
    }
    each(names, "started", |n| {
        let m = &manager;
        async move {
            if restart {
                m.stop(&n).await?;
            }
            let started = m.start(&n).await?;
            let rc = m.store().load_runconfig(&n)?;
            outln!("{n}: {}", crate::workloads::proxy_url(&rc));
            Ok((!started).then_some("is running already: left alone"))
        }
    })
    .await
}

pub async fn rm(dirs: Dirs, a: RmArgs) -> anyhow::Result<i32> {
    let manager = Manager::new(dirs)?;
    let s = &a.selection;
    let names = selected(&manager, &s.names, s.all, s.group.as_deref())?;
    each(names, "removed", |n| {
        let m = &manager;
        async move {
            super::client_cmd::unregister_workload(m, &n);
            m.remove(&n).await.map(|()| None)
        }
    })
    .await
}

pub fn export(dirs: Dirs, a: ExportArgs) -> anyhow::Result<i32> {
    let manager = Manager::new(dirs)?;
    let rc = manager.store().load_runconfig(&a.name)?;
    let json = rc.export_json();
    if a.path.as_os_str() == "-" {
        outln!("{json}");
    } else {
        crate::dirs::write_atomic(&a.path, json.as_bytes(), 0o644)
            .with_context(|| format!("cannot write {}", a.path.display()))?;
        thv_core::errln!("exported {} to {}", a.name, a.path.display());
    }
    Ok(0)
}
