//! Names. A workload owns the engine objects named after its container ([`owned_names`]): the container and,
//! when it is isolated, its sidecar `<container>-egress` and its network `toolhive-<container>-internal`. No
//! two workloads share one: `thv run` first takes a [`Reservation`] of the name — a lock file under
//! `$XDG_STATE_HOME/thv/locks/` held while the workload is created, listing what it will own — and refuses,
//! before anything is touched:
//!
//! - a name that exists, or that another `thv run` is creating right now (the loser of two concurrent runs of
//!   one name is told so; nothing of the winner's is touched);
//! - a name whose objects another workload owns (saved, or being created): `thv run --name col` beside a
//!   workload `col-egress`, whose container `col`'s sidecar would replace, and the other way round;
//! - a container name the engine already has ([`check_engine`]), unless it is this workload's own stale
//!   sidecar (which is replaced).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use thv_core::runconfig::{RunConfig, labels};

use super::isolation;
use crate::runtime::{Runtime, RuntimeError};
use crate::state::WorkloadStore;

/// The engine objects a workload owns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedNames {
    pub containers: BTreeSet<String>,
    pub networks: BTreeSet<String>,
    /// The proxy port, once chosen (`--proxy-port`, or a saved workload's, stopped ones included: `thv start`
    /// listens on it again).
    #[serde(default)]
    pub ports: BTreeSet<u16>,
}

/// What `rc` owns in the engine (nothing for a remote server).
pub fn owned_names(rc: &RunConfig) -> OwnedNames {
    let mut out = OwnedNames::default();
    out.ports.extend(rc.port);
    if rc.is_remote() {
        return out;
    }
    let container = super::container_name(rc);
    if isolation::is_isolated(rc) {
        out.containers.insert(isolation::sidecar_name(&container));
        out.networks.insert(isolation::network_name(&container));
    }
    out.containers.insert(container);
    out
}

/// Why `ours` cannot be created beside workload `other`, which owns `theirs`, and what to choose instead.
fn collision(ours: &OwnedNames, theirs: &OwnedNames, name: &str, other: &str) -> Option<String> {
    let what = |n: &str, theirs_set: &BTreeSet<String>, kind: &str| {
        theirs_set.contains(n).then(|| {
            format!(
                "the {kind} '{n}' of workload '{name}' would be workload '{other}''s: choose another --name"
            )
        })
    };
    ours.containers
        .iter()
        .find_map(|c| what(c, &theirs.containers, "container"))
        .or_else(|| {
            ours.networks
                .iter()
                .find_map(|n| what(n, &theirs.networks, "network"))
        })
        .or_else(|| {
            ours.ports.intersection(&theirs.ports).next().map(|p| {
                format!(
                    "the proxy port {p} of workload '{name}' is workload '{other}''s: choose another --proxy-port"
                )
            })
        })
}

/// A name being created: released (and its file removed) when dropped.
#[derive(Debug)]
pub struct Reservation {
    path: PathBuf,
    _lock: Flock<File>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn lock_error(e: Errno, path: &std::path::Path) -> anyhow::Error {
    anyhow::anyhow!("cannot lock {}: {e}", path.display())
}

/// Names a command line reads as a command where it expects a workload (`thv logs prune`).
pub const RESERVED_NAMES: &[&str] = &["prune"];

/// Reserves `rc`'s name and what it will own (see the module documentation).
pub fn reserve(store: &WorkloadStore, rc: &RunConfig) -> anyhow::Result<Reservation> {
    if RESERVED_NAMES.contains(&rc.name.as_str()) {
        bail!(
            "'{}' cannot name a workload: `thv logs {0}` is a command of its own; choose another --name",
            rc.name
        );
    }
    let dir = store.dirs().locks();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // One check at a time, so that two runs cannot both pass it.
    let all_path = dir.join(".reserve");
    let all = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&all_path)
        .with_context(|| format!("cannot open {}", all_path.display()))?;
    let _all =
        Flock::lock(all, FlockArg::LockExclusive).map_err(|(_, e)| lock_error(e, &all_path))?;

    let name = &rc.name;
    let exists = || {
        anyhow::anyhow!(
            "a workload named '{name}' exists already: remove it with `thv rm {name}` or choose another --name"
        )
    };
    if store.exists(name) {
        return Err(exists());
    }
    let path = lock_path(&dir, name);
    let file = File::options()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(l) => l,
        Err((_, Errno::EWOULDBLOCK)) => bail!(
            "a workload named '{name}' is being created by another `thv run`: choose another --name"
        ),
        Err((_, e)) => return Err(lock_error(e, &path)),
    };
    // The winner of a race may have finished between the check above and the lock.
    if store.exists(name) {
        return Err(exists());
    }

    let ours = owned_names(rc);
    for other in store.names()? {
        if other == *name {
            continue;
        }
        match store.load_runconfig(&other) {
            Ok(orc) => {
                if let Some(why) = collision(&ours, &owned_names(&orc), name, &other) {
                    bail!("{why}");
                }
            }
            Err(e) => tracing::warn!(workload = %other, error = %e, "cannot read its RunConfig"),
        }
    }
    for (other, theirs) in pending(&dir, name)? {
        if let Some(why) = collision(&ours, &theirs, name, &other) {
            bail!("{why} (it is being created by another `thv run`)");
        }
    }
    let json = serde_json::to_vec(&ours)?;
    lock.set_len(0)?;
    lock.rewind()?;
    lock.write_all(&json)?;
    lock.flush()?;
    Ok(Reservation { path, _lock: lock })
}

const LOCK_SUFFIX: &str = ".lock";

/// The reservation file of workload `name` in the locks directory `dir`.
fn lock_path(dir: &std::path::Path, name: &str) -> PathBuf {
    dir.join(format!("{name}{LOCK_SUFFIX}"))
}

/// Whether a `thv run` holds `name`'s reservation now (it is creating that workload).
pub fn is_being_created(store: &WorkloadStore, name: &str) -> bool {
    if thv_core::runconfig::name_error(name).is_some() {
        return false;
    }
    let path = lock_path(&store.dirs().locks(), name);
    let Ok(file) = File::options().read(true).write(true).open(&path) else {
        return false;
    };
    matches!(
        Flock::lock(file, FlockArg::LockSharedNonblock),
        Err((_, Errno::EWOULDBLOCK))
    )
}

/// The reservations other `thv run`s hold now (a lock file nobody holds is stale: removed).
fn pending(dir: &std::path::Path, ours: &str) -> anyhow::Result<Vec<(String, OwnedNames)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(other) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(LOCK_SUFFIX))
            .filter(|n| *n != ours && !n.starts_with('.'))
            .map(str::to_owned)
        else {
            continue;
        };
        let Ok(file) = File::options().read(true).write(true).open(&path) else {
            continue;
        };
        match Flock::lock(file, FlockArg::LockSharedNonblock) {
            Ok(_stale) => {
                let _ = std::fs::remove_file(&path);
            }
            Err((mut file, Errno::EWOULDBLOCK)) => {
                let mut text = String::new();
                file.read_to_string(&mut text)?;
                // A reservation still being written reads as empty: it owns nothing checked yet.
                let names = serde_json::from_str(&text).unwrap_or_default();
                out.push((other, names));
            }
            Err((_, e)) => return Err(lock_error(e, &path)),
        }
    }
    Ok(out)
}

/// Refuses a container name the engine already has, unless it is `rc`'s own sidecar (left by an earlier start
/// of this workload, replaced when the isolation is made again), and a network of the internal network's name
/// that is not an internal network of thv's.
pub async fn check_engine(rt: &dyn Runtime, rc: &RunConfig) -> anyhow::Result<()> {
    let owned = owned_names(rc);
    for network in &owned.networks {
        match rt.inspect_network(network).await {
            Ok(info) => {
                if let Some(why) = isolation::foreign_network(network, &info) {
                    bail!("{why}");
                }
            }
            Err(RuntimeError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    for container in owned.containers {
        match rt.inspect(&container).await {
            Ok(info) if is_own_sidecar(&info.labels, rc) => {}
            Ok(info) => {
                let owner = match info.labels.get(labels::NAME) {
                    // Recorded nowhere (the name was free to reserve): left by an interrupted run.
                    Some(w) if info.is_managed() && *w == rc.name => {
                        format!("left by an interrupted `thv run {w}`: `thv rm {w}` removes it")
                    }
                    Some(w) if info.is_managed() => format!("it belongs to thv workload '{w}'"),
                    _ => "it is not thv's".to_owned(),
                };
                bail!(
                    "a container named '{container}' exists already ({owner}): workload '{}' needs that name; \
                     remove that container or choose another --name",
                    rc.name
                );
            }
            Err(RuntimeError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Whether a container with these labels is the network-isolation sidecar of `rc`'s workload.
pub fn is_own_sidecar(labels: &std::collections::BTreeMap<String, String>, rc: &RunConfig) -> bool {
    labels.get(labels::AUXILIARY).map(String::as_str) == Some("true")
        && labels.get(labels::NAME) == Some(&rc.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dirs::Dirs;
    use thv_core::runconfig::TransportType;
    use thv_core::toolhive::PermissionProfile;

    fn rc(name: &str) -> RunConfig {
        let mut rc = RunConfig::new(name, TransportType::Stdio);
        rc.image = Some("localhost/x:1".into());
        rc.permission_profile = Some(PermissionProfile::network());
        rc
    }

    #[test]
    fn names_owned_and_collisions() {
        let col = owned_names(&rc("col"));
        assert!(col.containers.contains("col") && col.containers.contains("col-egress"));
        assert!(col.networks.contains("toolhive-col-internal"));
        let sidecar_named = owned_names(&rc("col-egress"));
        let why = collision(&col, &sidecar_named, "col", "col-egress").unwrap();
        assert!(why.contains("'col-egress'"), "{why}");
        assert!(collision(&sidecar_named, &col, "col-egress", "col").is_some());
        assert!(collision(&col, &owned_names(&rc("other")), "col", "other").is_none());
        let mut plain = rc("plain");
        plain.isolate_network = false;
        assert_eq!(owned_names(&plain).containers.len(), 1);
    }

    #[test]
    fn reservations_exclude_each_other_and_release() {
        let tmp = tempfile::tempdir().unwrap();
        let store = WorkloadStore::new(Dirs::under(tmp.path()));
        let first = reserve(&store, &rc("col")).unwrap();
        let err = reserve(&store, &rc("col")).unwrap_err().to_string();
        assert!(err.contains("being created by another"), "{err}");
        let err = reserve(&store, &rc("col-egress")).unwrap_err().to_string();
        assert!(
            err.contains("being created by another") && err.contains("col-egress"),
            "{err}"
        );
        drop(first);
        let again = reserve(&store, &rc("col")).unwrap();
        store.save_runconfig(&rc("col")).unwrap();
        drop(again);
        let err = reserve(&store, &rc("col")).unwrap_err().to_string();
        assert!(err.contains("exists already"), "{err}");
        let err = reserve(&store, &rc("col-egress")).unwrap_err().to_string();
        assert!(err.contains("would be workload 'col''s"), "{err}");
        reserve(&store, &rc("other")).unwrap();
    }

    /// An explicit proxy port is owned like a name: two concurrent runs of one `--proxy-port` both reported
    /// success (the second's proxy could never listen), and a stopped workload's port was given away.
    #[test]
    fn proxy_ports_are_reserved() {
        let tmp = tempfile::tempdir().unwrap();
        let store = WorkloadStore::new(Dirs::under(tmp.path()));
        let on = |name: &str, port: u16| {
            let mut r = rc(name);
            r.set_port(port);
            r
        };
        let first = reserve(&store, &on("pp1", 41000)).unwrap();
        let err = reserve(&store, &on("pp2", 41000)).unwrap_err().to_string();
        assert!(
            err.contains("proxy port 41000")
                && err.contains("--proxy-port")
                && err.contains("being created"),
            "{err}"
        );
        reserve(&store, &on("pp3", 41001)).unwrap();
        assert!(is_being_created(&store, "pp1") && !is_being_created(&store, "pp3"));
        store.save_runconfig(&on("pp1", 41000)).unwrap();
        drop(first);
        assert!(!is_being_created(&store, "pp1"));
        let err = reserve(&store, &on("pp4", 41000)).unwrap_err().to_string();
        assert!(err.contains("is workload 'pp1''s"), "{err}");
        reserve(&store, &rc("auto")).unwrap();
    }
}
