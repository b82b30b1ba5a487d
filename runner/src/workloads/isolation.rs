//! Network isolation of a workload (`isolate_network`, on by default): the MCP server's container sits alone
//! with a sidecar on an **internal network** (`toolhive-<container>-internal`: no route out), and the sidecar
//! (`<container>-egress`, [`crate::egress`], also on the engine's default network) is its only way out:
//!
//! - **egress**: `HTTP_PROXY`/`HTTPS_PROXY` (and lower-case) point at the sidecar's proxy on port
//!   [`EGRESS_PORT`], which lets through only the profile's `allow_host` × `allow_port` (or every name with
//!   `insecure_allow_all`); never the host (this machine's addresses, the engine's gateways, [`HOST_NAMES`])
//!   unless `allow_docker_gateway`, and never a private address or one of the engine's networks unless an
//!   IP/CIDR entry of `allow_host` names it (the rules: [`crate::egress`]);
//!   `NO_PROXY` keeps loopback local. Anything that ignores the proxy has no route at all;
//! - **DNS**: the sidecar is the container's only DNS server: allowed names resolve, others do not exist;
//! - **no IPv6** in the workload's container (`net.ipv6.conf.*.disable_ipv6`): IPv6 link-local addresses need
//!   no route and would reach the host's side of the internal network;
//! - **ingress** (sse, streamable-http): nothing on an internal network can be published, so the sidecar
//!   publishes the workload's host port on `127.0.0.1` and forwards it to the server's port.
//!
//! Addresses are fixed ([`Addresses`]: the subnet's `.2` for the sidecar, `.3` for the workload), so both
//! containers find each other whatever the engine's name resolution, and after restarts.
//!
//! The sidecar's image is built locally ([`egress_image`]): `FROM scratch` with the `thv-egress` binary that
//! comes with this `thv` and the shared libraries it needs — nothing is pulled, so it works air-gapped.
//! `THV_EGRESS_IMAGE` names another image instead (its entrypoint must be `thv-egress`), `THV_EGRESS_BINARY`
//! another binary.
//!
//! Applies when the workload's container gets the bridge network ([`is_isolated`]): not for network `none`
//! (a stdio server with a closed profile: no network at all is stricter) nor `host`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use thv_core::net::IpNet;
use thv_core::runconfig::{RunConfig, labels};
use thv_core::toolhive::PermissionProfile;

use crate::egress::SidecarArgs;
use crate::runtime::{
    ImageBuildOptions, NetworkMode, PortMapping, Runtime, RuntimeError, WorkloadSpec,
    network_mode_for,
};

/// The sidecar's proxy port.
pub const EGRESS_PORT: u16 = 3128;
/// The sidecar's DNS port.
pub const DNS_PORT: u16 = 53;
/// The repository of the locally built sidecar images.
pub const EGRESS_IMAGE_REPO: &str = "localhost/thv-egress";
/// The engines' names for the host, refused like the gateway addresses (whatever they resolve to).
pub const HOST_NAMES: [&str; 3] = [
    "host.docker.internal",
    "gateway.docker.internal",
    "host.containers.internal",
];
/// The sidecar's binary in its image.
const EGRESS_BIN: &str = "/usr/local/bin/thv-egress";

/// The internal network of a workload's container.
pub fn network_name(container: &str) -> String {
    format!("toolhive-{container}-internal")
}

/// The sidecar of a workload's container.
pub fn sidecar_name(container: &str) -> String {
    format!("{container}{SIDECAR_SUFFIX}")
}

/// The container a sidecar's name ([`sidecar_name`]) belongs to.
pub fn sidecar_owner(sidecar: &str) -> Option<&str> {
    sidecar.strip_suffix(SIDECAR_SUFFIX)
}

const SIDECAR_SUFFIX: &str = "-egress";

/// Whether the workload runs isolated: `isolate_network`, and its container would be on the bridge network.
pub fn is_isolated(rc: &RunConfig) -> bool {
    let none = PermissionProfile::none();
    let profile = rc.permission_profile.as_ref().unwrap_or(&none);
    rc.isolate_network
        && !rc.is_remote()
        && matches!(
            network_mode_for(profile, rc.transport),
            Ok(NetworkMode::Bridge)
        )
}

/// The fixed addresses on an internal network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addresses {
    pub sidecar: IpAddr,
    pub workload: IpAddr,
}

impl Addresses {
    /// `.2` and `.3` of the network's first IPv4 subnet (`.1` is the engine's gateway address).
    pub fn in_subnets(subnets: &[(IpAddr, u8)]) -> Option<Self> {
        subnets.iter().find_map(|(addr, len)| match addr {
            IpAddr::V4(v4) if *len <= 29 => {
                let base = u32::from(*v4) & (u32::MAX << (32 - u32::from(*len)));
                Some(Self {
                    sidecar: IpAddr::V4(Ipv4Addr::from(base + 2)),
                    workload: IpAddr::V4(Ipv4Addr::from(base + 3)),
                })
            }
            _ => None,
        })
    }
}

/// Creates the internal network and the sidecar (a stale sidecar is replaced), and turns `spec` — the
/// workload's container, built from `rc` — into the isolated one: on the internal network at its fixed
/// address, the sidecar as proxy and DNS, its published port moved to the sidecar.
pub async fn prepare(
    rt: &dyn Runtime,
    rc: &RunConfig,
    spec: &mut WorkloadSpec,
) -> anyhow::Result<Addresses> {
    let network = network_name(&spec.name);
    remove_own_sidecar(rt, rc, &sidecar_name(&spec.name)).await?;
    rt.create_network(&network, true)
        .await
        .with_context(|| format!("cannot create the internal network {network}"))?;
    let info = rt.inspect_network(&network).await?;
    let addrs = internal_addresses(&network, &info)?;
    // The published port moves to the sidecar, which forwards it to the server.
    let ports: Vec<PortMapping> = spec.ports.drain(..).collect();
    start_sidecar(rt, rc, &spec.name, addrs, ports).await?;

    spec.network_name = Some(network);
    spec.ip_address = Some(addrs.workload);
    spec.dns = vec![addrs.sidecar];
    // No IPv6 in the workload: its link-local addresses would reach the host's side of the internal network
    // (and everything listening there) with no proxy in between.
    for key in ["all", "default"] {
        spec.sysctls
            .insert(format!("net.ipv6.conf.{key}.disable_ipv6"), "1".to_owned());
    }
    spec.env.extend(proxy_env(addrs.sidecar));
    Ok(addrs)
}

/// The fixed addresses on a workload's internal network (refused when the network is not thv's internal one).
fn internal_addresses(
    network: &str,
    info: &crate::runtime::NetworkInfo,
) -> anyhow::Result<Addresses> {
    if let Some(why) = foreign_network(network, info) {
        bail!("{why}");
    }
    Addresses::in_subnets(&info.subnets).with_context(|| {
        format!(
            "the network {network} has no IPv4 subnet ({:?})",
            info.subnets
        )
    })
}

/// Removes the sidecar of `rc`'s workload when there is one; any other container of that name is not ours to
/// touch (an error).
async fn remove_own_sidecar(rt: &dyn Runtime, rc: &RunConfig, sidecar: &str) -> anyhow::Result<()> {
    match rt.inspect(sidecar).await {
        Ok(info) if super::reserve::is_own_sidecar(&info.labels, rc) => {
            match rt.remove(sidecar, true).await {
                Ok(()) | Err(RuntimeError::NotFound(_)) => Ok(()),
                Err(e) => Err(e).context("cannot remove the old sidecar"),
            }
        }
        Ok(_) => bail!(
            "a container named '{sidecar}' exists and is not the sidecar of workload '{}': remove it, or run \
             this workload under another name",
            rc.name
        ),
        Err(RuntimeError::NotFound(_)) => Ok(()),
        Err(e) => Err(e).context("cannot inspect the old sidecar"),
    }
}

/// Creates and starts the sidecar of the container `container` (of `rc`) on its internal network at
/// `addrs.sidecar` and the default network, publishing `ports` and forwarding them to the workload, with what it
/// refuses read now: this machine's addresses, the engine's gateways and networks.
async fn start_sidecar(
    rt: &dyn Runtime,
    rc: &RunConfig,
    container: &str,
    addrs: Addresses,
    ports: Vec<PortMapping>,
) -> anyhow::Result<()> {
    let network = network_name(container);
    let sidecar = sidecar_name(container);
    let default_network = rt.default_network().await?;
    let default_info = rt.inspect_network(&default_network).await?;
    // The host: its own addresses and its addresses on every engine network (the gateways); the engine's
    // networks: every subnet it has now (other containers).
    let mut host_address: Vec<IpNet> = host_addresses();
    let mut engine_network: Vec<IpNet> = Vec::new();
    for n in rt.list_networks().await? {
        host_address.extend(n.gateways.iter().map(|g| IpNet::from(*g)));
        engine_network.extend(
            n.subnets
                .iter()
                .filter_map(|(addr, len)| IpNet::new(*addr, *len).ok().map(|n| n.trunc())),
        );
    }
    host_address.sort();
    host_address.dedup();
    engine_network.sort();
    engine_network.dedup();
    let deny_host = if rc.allow_docker_gateway {
        Vec::new()
    } else {
        HOST_NAMES.iter().map(|h| (*h).to_owned()).collect()
    };
    let image = egress_image(rt).await?;

    let outbound = rc
        .permission_profile
        .as_ref()
        .and_then(|p| p.network.as_ref())
        .and_then(|n| n.outbound.as_ref());
    let mut args = SidecarArgs {
        listen: SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), EGRESS_PORT),
        dns_listen: Some(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), DNS_PORT)),
        ingress: Vec::new(),
        allow_host: outbound.map(|o| o.hosts().to_vec()).unwrap_or_default(),
        allow_port: outbound.map(|o| o.ports().to_vec()).unwrap_or_default(),
        allow_all: outbound.is_some_and(|o| o.allows_all()),
        host_address,
        allow_host_addresses: rc.allow_docker_gateway,
        engine_network,
        deny_host,
        client: vec![addrs.workload],
        // The engine's port forwarding connects from the default network's gateway.
        ingress_from: default_info.gateways.clone(),
    };
    let mut side = WorkloadSpec::new(sidecar.clone(), image);
    side.network = NetworkMode::Bridge;
    side.labels
        .insert(labels::AUXILIARY.to_owned(), "true".to_owned());
    side.labels.insert(labels::NAME.to_owned(), rc.name.clone());
    side.sysctls.insert(
        "net.ipv4.ip_unprivileged_port_start".to_owned(),
        "0".to_owned(),
    );
    for p in ports {
        args.ingress.push((
            SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), p.container_port),
            SocketAddr::new(addrs.workload, p.container_port),
        ));
        side.ports.push(p);
    }
    side.cmd = args.to_args();

    rt.create_and_start(&side)
        .await
        .with_context(|| format!("cannot start the egress sidecar {sidecar}"))?;
    if let Err(e) = rt
        .connect_network(&sidecar, &network, Some(addrs.sidecar))
        .await
    {
        let _ = rt.remove(&sidecar, true).await;
        return Err(e).with_context(|| format!("cannot attach {sidecar} to {network}"));
    }
    Ok(())
}

/// Why an existing network of the workload's internal network's name is not one: not internal (it would have a
/// way out) or not made by thv.
pub fn foreign_network(name: &str, info: &crate::runtime::NetworkInfo) -> Option<String> {
    (!info.internal || !info.managed).then(|| {
        format!(
            "a network named '{name}' exists and is not an internal network of thv's ({}): remove it, or run \
             this workload under another name",
            if info.internal { "not made by thv" } else { "it has a way out" }
        )
    })
}

/// The addresses of this machine's interfaces (the engine's host, for a local engine), each as a one-address
/// block; none when they cannot be listed.
fn host_addresses() -> Vec<IpNet> {
    match nix::ifaddrs::getifaddrs() {
        Ok(list) => list
            .filter_map(|i| {
                let a = i.address?;
                let ip: IpAddr = if let Some(v4) = a.as_sockaddr_in() {
                    v4.ip().into()
                } else {
                    a.as_sockaddr_in6()?.ip().into()
                };
                Some(IpNet::from(ip))
            })
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the host's addresses; the egress proxy refuses private ones anyway");
            Vec::new()
        }
    }
}

/// The proxy variables of an isolated workload.
pub fn proxy_env(sidecar: IpAddr) -> BTreeMap<String, String> {
    let proxy = format!("http://{sidecar}:{EGRESS_PORT}");
    let no_proxy = "localhost,127.0.0.1,::1".to_owned();
    [
        ("HTTP_PROXY", proxy.clone()),
        ("HTTPS_PROXY", proxy.clone()),
        ("http_proxy", proxy.clone()),
        ("https_proxy", proxy),
        ("NO_PROXY", no_proxy.clone()),
        ("no_proxy", no_proxy),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Makes the sidecar of `rc`'s isolated container anew (a workload started again gets what is refused as it
/// is now: a host address added since, a new engine network), publishing the workload's port on `host_port`.
/// `false`: the internal network is gone (an engine reset), or the port is not known, and the workload's
/// container must be made again ([`prepare`]).
pub async fn ensure_running(
    rt: &dyn Runtime,
    rc: &RunConfig,
    host_port: Option<u16>,
) -> anyhow::Result<bool> {
    let container = super::container_name(rc);
    let network = network_name(&container);
    let info = match rt.inspect_network(&network).await {
        Ok(info) => info,
        Err(RuntimeError::NotFound(_)) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let addrs = internal_addresses(&network, &info)?;
    let ports = match (rc.transport.is_http(), rc.target_port, host_port) {
        (false, _, _) => Vec::new(),
        (true, Some(container_port), Some(hp)) => vec![PortMapping {
            container_port,
            host_ip: crate::runtime::DEFAULT_PUBLISH_HOST.to_owned(),
            host_port: Some(hp),
        }],
        (true, _, _) => return Ok(false),
    };
    remove_own_sidecar(rt, rc, &sidecar_name(&container)).await?;
    start_sidecar(rt, rc, &container, addrs, ports).await?;
    Ok(true)
}

/// Whether `rc`'s sidecar exists (it is started when stopped).
pub async fn sidecar_started(rt: &dyn Runtime, rc: &RunConfig) -> anyhow::Result<bool> {
    let sidecar = sidecar_name(&super::container_name(rc));
    match rt.inspect(&sidecar).await {
        Ok(info) if super::reserve::is_own_sidecar(&info.labels, rc) => {
            if !info.state.is_running() {
                rt.start(&sidecar)
                    .await
                    .with_context(|| format!("cannot start the egress sidecar {sidecar}"))?;
            }
            Ok(true)
        }
        Ok(_) | Err(RuntimeError::NotFound(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Stops the sidecar, or removes it and the network (`remove`); what is gone already is fine.
pub async fn stop(rt: &dyn Runtime, container: &str, remove: bool) -> anyhow::Result<()> {
    let sidecar = sidecar_name(container);
    let result = if remove {
        rt.remove(&sidecar, true).await
    } else {
        rt.stop(&sidecar, std::time::Duration::from_secs(5)).await
    };
    match result {
        Ok(()) | Err(RuntimeError::NotFound(_)) => {}
        Err(e) => return Err(e).with_context(|| format!("cannot stop {sidecar}")),
    }
    if remove {
        remove_network(rt, container).await?;
    }
    Ok(())
}

/// Removes the internal network of `container` when it exists and is thv's; `true` when it was removed.
pub async fn remove_network(rt: &dyn Runtime, container: &str) -> anyhow::Result<bool> {
    let network = network_name(container);
    match rt.inspect_network(&network).await {
        Ok(info) if foreign_network(&network, &info).is_none() => {
            rt.remove_network(&network)
                .await
                .with_context(|| format!("cannot remove the network {network}"))?;
            Ok(true)
        }
        Ok(_) => {
            tracing::warn!(%network, "not removed: the network is not thv's");
            Ok(false)
        }
        Err(RuntimeError::NotFound(_)) => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot inspect the network {network}")),
    }
}

/// The sidecar's image: `THV_EGRESS_IMAGE`, or `localhost/thv-egress:<version>-<binary id>`, built when absent.
pub async fn egress_image(rt: &dyn Runtime) -> anyhow::Result<String> {
    if let Some(image) = std::env::var("THV_EGRESS_IMAGE")
        .ok()
        .filter(|s| !s.is_empty())
    {
        if !rt.image_exists(&image).await? {
            bail!("THV_EGRESS_IMAGE={image} is not in the engine's local store");
        }
        return Ok(image);
    }
    let binary = egress_binary()?;
    let meta =
        std::fs::metadata(&binary).with_context(|| format!("cannot read {}", binary.display()))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let id = {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(format!("{}\0{}\0{mtime}", binary.display(), meta.len()));
        hex::encode(&h.finalize()[..6])
    };
    let tag = format!("{EGRESS_IMAGE_REPO}:{}-{id}", env!("CARGO_PKG_VERSION"));
    if rt.image_exists(&tag).await? {
        return Ok(tag);
    }
    // One build of a tag at a time on this machine (several `thv run` at once, of any user's state): the others
    // wait for it and find the image.
    let lock_path = std::env::temp_dir().join(format!("thv-egress-image-{id}.lock"));
    let _build_lock = tokio::task::spawn_blocking(move || {
        // Another user's lock file is locked read-only.
        let file = match std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
        {
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                std::fs::File::open(&lock_path)
            }
            other => other,
        }
        .with_context(|| format!("cannot open {}", lock_path.display()))?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| anyhow::anyhow!("cannot lock {}: {e}", lock_path.display()))
    })
    .await
    .context("the image build lock")??;
    if rt.image_exists(&tag).await? {
        return Ok(tag);
    }
    thv_core::errln!("building the network isolation sidecar image {tag} ...");
    let context = egress_context(&binary)?;
    let options = ImageBuildOptions {
        tag: tag.clone(),
        labels: BTreeMap::from([(labels::AUXILIARY.to_owned(), "true".to_owned())]),
        ..Default::default()
    };
    let mut progress = |line: &str| tracing::debug!("egress image: {line}");
    rt.build_image(context, &options, &mut progress)
        .await
        .with_context(|| format!("cannot build the sidecar image {tag}"))?;
    Ok(tag)
}

/// `THV_EGRESS_BINARY`, or `thv-egress` next to this executable.
fn egress_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("THV_EGRESS_BINARY").filter(|s| !s.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().context("cannot find the thv executable")?;
    let path = exe.with_file_name("thv-egress");
    if !path.is_file() {
        bail!(
            "network isolation needs the thv-egress binary next to thv ({} is missing): install it with thv, \
             set THV_EGRESS_BINARY or THV_EGRESS_IMAGE, or run with --isolate-network=false",
            path.display()
        );
    }
    Ok(path)
}

/// The build context: the binary, the shared libraries `ldd` names (none for a static binary), a
/// `nsswitch.conf` (names from `/etc/hosts`, then DNS), and a Dockerfile `FROM scratch` running it as nobody.
fn egress_context(binary: &Path) -> anyhow::Result<Vec<u8>> {
    let mut ctx = crate::build::BuildContext::new();
    let data =
        std::fs::read(binary).with_context(|| format!("cannot read {}", binary.display()))?;
    ctx.add_file(&format!("rootfs{EGRESS_BIN}"), &data, 0o755)?;
    for lib in shared_libraries(binary)? {
        let data = std::fs::read(&lib).with_context(|| format!("cannot read {}", lib.display()))?;
        ctx.add_file(&format!("rootfs{}", lib.display()), &data, 0o755)?;
    }
    ctx.add_file("rootfs/etc/nsswitch.conf", b"hosts: files dns\n", 0o644)?;
    ctx.add_file(
        "rootfs/etc/passwd",
        b"root:x:0:0:root:/:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n",
        0o644,
    )?;
    let dockerfile = format!(
        "FROM scratch\nCOPY rootfs/ /\nUSER 65534:65534\nEXPOSE {EGRESS_PORT}\nENTRYPOINT [\"{EGRESS_BIN}\"]\n"
    );
    ctx.add_file("Dockerfile", dockerfile.as_bytes(), 0o644)?;
    Ok(ctx.finish()?)
}

/// The absolute paths `ldd` lists for a binary (its libraries and the dynamic loader).
fn shared_libraries(binary: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let out = std::process::Command::new("ldd")
        .arg(binary)
        .output()
        .context("cannot run ldd to find the sidecar binary's libraries")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        if text.contains("not a dynamic executable")
            || String::from_utf8_lossy(&out.stderr).contains("not a dynamic executable")
        {
            return Ok(Vec::new());
        }
        bail!(
            "ldd {} failed: {}",
            binary.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(ldd_paths(&text))
}

fn ldd_paths(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let path = match l.split_once("=>") {
                Some((_, rest)) => rest.trim().split(' ').next()?,
                None => l.split(' ').next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_addresses() {
        let a = Addresses::in_subnets(&[
            ("fd00::".parse().unwrap(), 64),
            ("10.89.2.0".parse().unwrap(), 24),
        ])
        .unwrap();
        assert_eq!(a.sidecar, "10.89.2.2".parse::<IpAddr>().unwrap());
        assert_eq!(a.workload, "10.89.2.3".parse::<IpAddr>().unwrap());
        let b = Addresses::in_subnets(&[("172.18.5.7".parse().unwrap(), 16)]).unwrap();
        assert_eq!(b.sidecar, "172.18.0.2".parse::<IpAddr>().unwrap());
        assert!(Addresses::in_subnets(&[("10.0.0.0".parse().unwrap(), 30)]).is_none());
        assert!(Addresses::in_subnets(&[]).is_none());
    }

    #[test]
    fn ldd_output() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                    \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f86)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f86)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f86)\n";
        assert_eq!(
            ldd_paths(text),
            vec![
                PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
    }

    #[test]
    fn proxy_variables() {
        let env = proxy_env("10.89.2.2".parse().unwrap());
        assert_eq!(env["HTTPS_PROXY"], "http://10.89.2.2:3128");
        assert_eq!(env["http_proxy"], "http://10.89.2.2:3128");
        assert!(env["NO_PROXY"].contains("localhost"));
    }

    #[test]
    fn which_workloads_are_isolated() {
        use thv_core::runconfig::TransportType;
        let mut rc = RunConfig::new("srv", TransportType::Stdio);
        rc.image = Some("localhost/x:1".into());
        rc.permission_profile = Some(PermissionProfile::network());
        assert!(is_isolated(&rc));
        rc.isolate_network = false;
        assert!(!is_isolated(&rc));
        rc.isolate_network = true;
        // A stdio server with a closed profile has no network at all.
        rc.permission_profile = Some(PermissionProfile::none());
        assert!(!is_isolated(&rc));
        // An HTTP server with a closed profile is isolated (its port is reached through the sidecar).
        let mut http = RunConfig::new("web", TransportType::StreamableHttp);
        http.image = Some("localhost/x:1".into());
        http.set_target_port(8080);
        http.permission_profile = Some(PermissionProfile::none());
        assert!(is_isolated(&http));
    }
}
