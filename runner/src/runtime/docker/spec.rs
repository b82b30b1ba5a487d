//! From a [`WorkloadSpec`] to the engine's create body, and from the engine's answers to [`WorkloadInfo`].

use super::*;

/// A free TCP port on `ip` (bound and released: the engine binds it right after).
pub(super) fn free_port(ip: &str) -> Result<u16, RuntimeError> {
    let ip: std::net::IpAddr = ip
        .parse()
        .map_err(|_| RuntimeError::Engine(format!("'{ip}' is not an IP address")))?;
    let listener = std::net::TcpListener::bind((ip, 0))?;
    Ok(listener.local_addr()?.port())
}

pub(super) fn create_body(spec: &WorkloadSpec) -> Result<ContainerCreateBody, RuntimeError> {
    let mut exposed = Vec::new();
    let mut bindings: PortMap = HashMap::new();
    for p in &spec.ports {
        let key = format!("{}/tcp", p.container_port);
        let host_port = match p.host_port {
            Some(hp) => hp,
            None => free_port(&p.host_ip)?,
        };
        exposed.push(key.clone());
        bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: Some(p.host_ip.clone()),
                host_port: Some(host_port.to_string()),
            });
    }
    let mounts = spec
        .mounts
        .iter()
        .map(|m| {
            let (typ, source) = match &m.source {
                MountSource::Host(path) => (MountType::BIND, path.clone()),
                MountSource::Resource { resource, .. } => (MountType::VOLUME, resource.clone()),
            };
            bollard::models::Mount {
                target: Some(m.target.clone()),
                source: Some(source),
                typ: Some(typ),
                read_only: Some(m.read_only),
                ..Default::default()
            }
        })
        .collect::<Vec<_>>();
    let host_config = HostConfig {
        mounts: (!mounts.is_empty()).then_some(mounts),
        network_mode: Some(
            spec.network_name
                .clone()
                .unwrap_or_else(|| spec.network.as_str().to_owned()),
        ),
        port_bindings: (!bindings.is_empty()).then_some(bindings),
        privileged: Some(spec.privileged),
        security_opt: Some(vec!["no-new-privileges".to_owned()]),
        cap_drop: (!spec.privileged).then(|| vec!["ALL".to_owned()]),
        dns: (!spec.dns.is_empty()).then(|| spec.dns.iter().map(|ip| ip.to_string()).collect()),
        sysctls: (!spec.sysctls.is_empty()).then(|| {
            spec.sysctls
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }),
        ..Default::default()
    };
    let networking_config = match (&spec.network_name, spec.ip_address) {
        (Some(network), Some(ip)) => Some(bollard::models::NetworkingConfig {
            endpoints_config: Some(HashMap::from([(network.clone(), endpoint_at(ip))])),
        }),
        _ => None,
    };
    Ok(ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: (!spec.cmd.is_empty()).then(|| spec.cmd.clone()),
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(
            spec.labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        open_stdin: Some(spec.stdio),
        stdin_once: Some(false),
        attach_stdin: Some(spec.stdio),
        attach_stdout: Some(spec.stdio),
        attach_stderr: Some(spec.stdio),
        tty: Some(false),
        host_config: Some(host_config),
        networking_config,
        ..Default::default()
    })
}

/// A network endpoint at a fixed address.
pub(super) fn endpoint_at(ip: std::net::IpAddr) -> bollard::models::EndpointSettings {
    let ipam = match ip {
        std::net::IpAddr::V4(v4) => bollard::models::EndpointIpamConfig {
            ipv4_address: Some(v4.to_string()),
            ..Default::default()
        },
        std::net::IpAddr::V6(v6) => bollard::models::EndpointIpamConfig {
            ipv6_address: Some(v6.to_string()),
            ..Default::default()
        },
    };
    bollard::models::EndpointSettings {
        ipam_config: Some(ipam),
        ..Default::default()
    }
}

/// `8080/tcp` → 8080 (other protocols: `None`).
pub(super) fn tcp_port(key: &str) -> Option<u16> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    (proto == "tcp").then(|| port.parse().ok()).flatten()
}

pub(super) fn info_from_inspect(r: ContainerInspectResponse) -> WorkloadInfo {
    let state = r.state.as_ref();
    let status = state
        .and_then(|s| s.status.map(|st| st.to_string()))
        .unwrap_or_default();
    let mut state_value = WorkloadState::from_engine(&status);
    if state.and_then(|s| s.running) == Some(true) && state_value != WorkloadState::Paused {
        state_value = WorkloadState::Running;
    }
    let exit_code = state
        .filter(|_| !state_value.is_running())
        .and_then(|s| s.exit_code);
    let config = r.config.unwrap_or_default();
    let mut ports: BTreeMap<u16, Vec<HostBinding>> = BTreeMap::new();
    for (key, bindings) in r.network_settings.and_then(|n| n.ports).unwrap_or_default() {
        let Some(cport) = tcp_port(&key) else {
            continue;
        };
        for b in bindings.unwrap_or_default() {
            if let Some(hp) = b.host_port.as_deref().and_then(|p| p.parse().ok()) {
                ports.entry(cport).or_default().push(HostBinding {
                    host_ip: b.host_ip.unwrap_or_default(),
                    host_port: hp,
                });
            }
        }
    }
    for v in ports.values_mut() {
        v.sort();
        v.dedup();
    }
    WorkloadInfo {
        id: WorkloadId(r.id.unwrap_or_default()),
        name: r
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned(),
        image: config.image.unwrap_or(r.image.unwrap_or_default()),
        state: state_value,
        labels: config.labels.unwrap_or_default().into_iter().collect(),
        ports,
        exit_code,
    }
}

pub(super) fn info_from_summary(s: ContainerSummary) -> WorkloadInfo {
    let mut ports: BTreeMap<u16, Vec<HostBinding>> = BTreeMap::new();
    for p in s.ports.unwrap_or_default() {
        let tcp = p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into()) == "tcp";
        if let (true, Some(public)) = (tcp, p.public_port) {
            ports.entry(p.private_port).or_default().push(HostBinding {
                host_ip: p.ip.unwrap_or_default(),
                host_port: public,
            });
        }
    }
    for v in ports.values_mut() {
        v.sort();
        v.dedup();
    }
    WorkloadInfo {
        id: WorkloadId(s.id.unwrap_or_default()),
        name: s
            .names
            .and_then(|n| n.into_iter().next())
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned(),
        image: s.image.unwrap_or_default(),
        state: WorkloadState::from_engine(&s.state.map(|st| st.to_string()).unwrap_or_default()),
        labels: s.labels.unwrap_or_default().into_iter().collect(),
        ports,
        exit_code: None,
    }
}
