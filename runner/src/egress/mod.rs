//! The egress proxy of network isolation: an HTTP forward proxy (`CONNECT host:port` tunnels for HTTPS, and
//! absolute-form `GET http://host/...` requests) that lets a workload reach only what its permission profile
//! allows — `allow_host` (exact names, `.example.com` for the domain and its subdomains, IP addresses and CIDR
//! blocks) on `allow_port` — and refuses everything else with 403. `insecure_allow_all` allows every name and
//! port, but never the refused addresses.
//!
//! # Addresses (checked after resolution, so no name can lead around them; see [`EgressPolicy::address_error`])
//!
//! Every address is normalised first (`[::ffff:10.0.0.1]`, NAT64 and 6to4 forms are judged as the IPv4 address
//! they carry, [`thv_core::net`]). Then:
//! - never: unspecified, multicast and broadcast, loopback (inside the sidecar, loopback is the sidecar);
//! - the host — every address of the machine the engine runs on, its gateways on the engine's networks — only
//!   with `--allow-docker-gateway` ([`EgressPolicy::allow_host_addresses`]);
//! - the engine's networks (other containers) and every address that is not globally reachable (RFC 1918,
//!   CGNAT, ULA, link-local, documentation and reserved ranges): only when an IP or CIDR entry of `allow_host`
//!   contains the address — a *name* allowed by the profile that resolves there is not enough;
//! - public addresses: when the name (or `insecure_allow_all`) and the port are allowed.
//!
//! # Who may use the sidecar
//!
//! It runs in a sidecar container (`thv-egress`, [`SidecarArgs`]) on the workload's internal network and the
//! engine's default network: the only way out of the internal network. The workload gets `HTTP_PROXY` /
//! `HTTPS_PROXY` pointing at it ([`proxy`]) and the sidecar as its only DNS server ([`dns`]: allowed names
//! resolve, others do not exist); both answer only the workload's address ([`EgressPolicy::clients`]), not
//! other containers of the default network. For an HTTP workload the sidecar also forwards the published port
//! to the workload ([`ingress`]), since nothing on an internal network can be published; it accepts only the
//! engine's port forwarding (connections from the default network's gateway), so no other container reaches
//! the server around its proxy's authentication, authorization and audit.

pub mod dns;
pub mod ingress;
pub mod proxy;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use thv_core::net::{AddressClass, IpNet, canonical, classify, in_any, parse_ip_or_cidr};

pub use proxy::serve;

/// What the proxy lets through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    pub allow_all: bool,
    /// Lower-cased names; a leading `.` matches the domain and its subdomains.
    pub hosts: Vec<String>,
    /// `allow_host`'s IP addresses and CIDR blocks: the only way to a private address or the engine's networks.
    pub networks: Vec<IpNet>,
    /// Empty: no port (nothing is allowed unless `allow_all`).
    pub ports: Vec<u16>,
    /// The host's addresses (and the engine's gateways on its networks): refused unless
    /// [`EgressPolicy::allow_host_addresses`].
    pub host_addresses: Vec<IpNet>,
    /// `--allow-docker-gateway`: the host's addresses pass when the name and port rules allow them.
    pub allow_host_addresses: bool,
    /// The engine's networks (other containers): refused unless an entry of `networks` contains the address.
    pub engine_networks: Vec<IpNet>,
    /// Names refused whatever the rules say (the engines' names for the host), lower-cased.
    pub deny_hosts: Vec<String>,
    /// Who may use the proxy and the DNS server (the workload's address); empty: anyone (tests).
    pub clients: Vec<IpAddr>,
    /// Let loopback addresses through (the proxy's own tests; inside a sidecar, loopback is the sidecar itself).
    pub allow_loopback: bool,
}

impl EgressPolicy {
    /// Whether the destination (a name or an IP literal) and port pass the rules (addresses are checked after
    /// resolution, [`EgressPolicy::address_error`]).
    pub fn allows(&self, host: &str, port: u16) -> bool {
        self.allows_name(host) && (self.allow_all || self.ports.contains(&port))
    }

    /// Whether the destination passes the host rules (on some port): what the sidecar's DNS answers for. An IP
    /// literal passes with `allow_all` or an IP/CIDR entry containing it.
    pub fn allows_name(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if self.deny_hosts.contains(&host) {
            return false;
        }
        if self.allow_all {
            return true;
        }
        if let Some(ip) = ip_literal(&host) {
            return in_any(ip, &self.networks);
        }
        self.hosts.iter().any(|h| match h.strip_prefix('.') {
            Some(domain) => host == domain || host.ends_with(&format!(".{domain}")),
            None => *h == host,
        })
    }

    /// Why an address may not be connected to (see the module documentation), or `None` when it may.
    pub fn address_error(&self, ip: IpAddr) -> Option<String> {
        let ip = canonical(ip);
        let class = classify(ip);
        match class {
            AddressClass::Unspecified | AddressClass::Multicast => {
                return Some(format!("{ip} is {}", class.describe()));
            }
            AddressClass::Loopback if !self.allow_loopback => {
                return Some(format!("{ip} is {}", class.describe()));
            }
            _ => {}
        }
        if in_any(ip, &self.host_addresses) {
            return (!self.allow_host_addresses).then(|| {
                format!("{ip} is an address of the host (--allow-docker-gateway lets the workload reach the host)")
            });
        }
        if class == AddressClass::Loopback || in_any(ip, &self.networks) {
            return None;
        }
        if in_any(ip, &self.engine_networks) {
            return Some(format!(
                "{ip} is on the container engine's networks (other containers): only an IP or CIDR entry in allow_host reaches it"
            ));
        }
        (class != AddressClass::Global).then(|| {
            format!(
                "{ip} is {}: only an IP or CIDR entry in allow_host reaches it",
                class.describe()
            )
        })
    }

    /// Whether `peer` may use the proxy and the DNS server.
    pub fn accepts_client(&self, peer: IpAddr) -> bool {
        self.clients.is_empty() || self.clients.contains(&canonical(peer))
    }
}

/// The IP address a destination names literally (`10.0.0.1`, `::ffff:10.0.0.1`, `[fd00::1]`).
fn ip_literal(host: &str) -> Option<IpAddr> {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()
}

/// The sidecar's command line (`thv-egress`): what it serves and what it lets through. [`SidecarArgs::to_args`]
/// gives the arguments back, so that the runner builds the sidecar's command from the same definition.
#[derive(Debug, Clone, PartialEq, Eq, clap::Parser)]
#[command(
    name = "thv-egress",
    version,
    about = "The network-isolation sidecar of a thv workload: egress proxy, DNS and ingress forwarder"
)]
pub struct SidecarArgs {
    /// Address of the HTTP forward proxy.
    #[arg(long, default_value = "0.0.0.0:3128")]
    pub listen: SocketAddr,
    /// Address of the DNS server (UDP and TCP); none when absent.
    #[arg(long = "dns-listen")]
    pub dns_listen: Option<SocketAddr>,
    /// `LISTEN=TARGET`: forward TCP connections accepted on LISTEN to TARGET (an HTTP workload's port); repeatable.
    #[arg(long = "ingress", value_parser = parse_ingress)]
    pub ingress: Vec<(SocketAddr, SocketAddr)>,
    /// Allowed destination: a name (exact, or `.example.com` for the domain and its subdomains), an IP address
    /// or a CIDR block; repeatable.
    #[arg(long = "allow-host")]
    pub allow_host: Vec<String>,
    /// Allowed port; repeatable.
    #[arg(long = "allow-port")]
    pub allow_port: Vec<u16>,
    /// Allow every name and port (but never the refused addresses).
    #[arg(long)]
    pub allow_all: bool,
    /// An address (or block) of the host, refused unless --allow-host-addresses; repeatable.
    #[arg(long = "host-address")]
    pub host_address: Vec<IpNet>,
    /// Let the host's addresses through when the name and port rules allow them.
    #[arg(long)]
    pub allow_host_addresses: bool,
    /// A subnet of the container engine's networks, refused unless an IP/CIDR --allow-host contains the
    /// address; repeatable.
    #[arg(long = "engine-network")]
    pub engine_network: Vec<IpNet>,
    /// A name refused whatever the rules say (`host.docker.internal`); repeatable.
    #[arg(long = "deny-host")]
    pub deny_host: Vec<String>,
    /// The only address that may use the proxy and the DNS server (the workload's); repeatable; none: anyone.
    #[arg(long = "client")]
    pub client: Vec<IpAddr>,
    /// The only address the ingress accepts connections from (the engine's port forwarding: the default
    /// network's gateway); repeatable; none: anyone.
    #[arg(long = "ingress-from")]
    pub ingress_from: Vec<IpAddr>,
}

/// An `--ingress` that is not `LISTEN=TARGET` addresses.
#[derive(Debug, thiserror::Error)]
enum IngressError {
    #[error("'{0}' is not LISTEN=TARGET")]
    NotAPair(String),
    #[error("'{text}' is not an address:port ({error})")]
    NotAnAddress {
        text: String,
        error: std::net::AddrParseError,
    },
}

fn parse_ingress(s: &str) -> Result<(SocketAddr, SocketAddr), IngressError> {
    let (listen, target) = s
        .split_once('=')
        .ok_or_else(|| IngressError::NotAPair(s.to_owned()))?;
    let parse = |a: &str| {
        a.parse::<SocketAddr>()
            .map_err(|error| IngressError::NotAnAddress {
                text: a.to_owned(),
                error,
            })
    };
    Ok((parse(listen)?, parse(target)?))
}

impl SidecarArgs {
    /// The policy the proxy and the DNS server apply: `allow_host` entries that are IP addresses or CIDR blocks
    /// become [`EgressPolicy::networks`], the others (lower-cased) [`EgressPolicy::hosts`].
    pub fn policy(&self) -> EgressPolicy {
        let (mut hosts, mut networks) = (Vec::new(), Vec::new());
        for h in &self.allow_host {
            match parse_ip_or_cidr(h) {
                Some(net) => networks.push(net),
                None => hosts.push(h.to_ascii_lowercase()),
            }
        }
        EgressPolicy {
            allow_all: self.allow_all,
            hosts,
            networks,
            ports: self.allow_port.clone(),
            host_addresses: self.host_address.clone(),
            allow_host_addresses: self.allow_host_addresses,
            engine_networks: self.engine_network.clone(),
            deny_hosts: self
                .deny_host
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            clients: self.client.iter().map(|ip| canonical(*ip)).collect(),
            allow_loopback: false,
        }
    }

    /// The command-line arguments (without the program name) that parse back to `self`.
    pub fn to_args(&self) -> Vec<String> {
        fn each<T: ToString>(out: &mut Vec<String>, flag: &str, values: &[T]) {
            for v in values {
                out.extend([flag.to_owned(), v.to_string()]);
            }
        }
        let mut out = vec!["--listen".to_owned(), self.listen.to_string()];
        each(&mut out, "--dns-listen", self.dns_listen.as_slice());
        let ingress: Vec<String> = self
            .ingress
            .iter()
            .map(|(l, t)| format!("{l}={t}"))
            .collect();
        each(&mut out, "--ingress", &ingress);
        each(&mut out, "--allow-host", &self.allow_host);
        each(&mut out, "--allow-port", &self.allow_port);
        if self.allow_all {
            out.push("--allow-all".to_owned());
        }
        each(&mut out, "--host-address", &self.host_address);
        if self.allow_host_addresses {
            out.push("--allow-host-addresses".to_owned());
        }
        each(&mut out, "--engine-network", &self.engine_network);
        each(&mut out, "--deny-host", &self.deny_host);
        each(&mut out, "--client", &self.client);
        each(&mut out, "--ingress-from", &self.ingress_from);
        out
    }

    /// Binds everything (an error names what could not be bound), then serves until the process ends.
    pub async fn run(self) -> anyhow::Result<()> {
        use anyhow::Context;
        let policy = Arc::new(self.policy());
        let proxy = tokio::net::TcpListener::bind(self.listen)
            .await
            .with_context(|| format!("cannot listen on {} (proxy)", self.listen))?;
        tracing::info!(addr = %self.listen, ?policy, "egress proxy listening");
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(serve(proxy, policy.clone()));
        if let Some(addr) = self.dns_listen {
            let server = dns::DnsServer::bind(addr, policy.clone())
                .await
                .with_context(|| format!("cannot listen on {addr} (DNS)"))?;
            tracing::info!(%addr, "DNS listening");
            tasks.spawn(server.serve());
        }
        for (listen, target) in self.ingress {
            let l = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen} (ingress)"))?;
            tracing::info!(%listen, %target, "ingress forwarding");
            tasks.spawn(ingress::forward(l, target, self.ingress_from.clone()));
        }
        tasks.join_next().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn sidecar_args_round_trip() {
        let a = SidecarArgs {
            listen: "0.0.0.0:3128".parse().unwrap(),
            dns_listen: Some("0.0.0.0:53".parse().unwrap()),
            ingress: vec![(
                "0.0.0.0:8080".parse().unwrap(),
                "10.89.0.3:8080".parse().unwrap(),
            )],
            allow_host: vec![
                "api.example.com".into(),
                ".github.com".into(),
                "10.1.0.0/16".into(),
            ],
            allow_port: vec![443, 80],
            allow_all: false,
            host_address: vec![
                "10.88.0.1/32".parse().unwrap(),
                "192.0.2.2/32".parse().unwrap(),
            ],
            allow_host_addresses: true,
            engine_network: vec!["10.88.0.0/16".parse().unwrap()],
            deny_host: vec!["host.docker.internal".into()],
            client: vec!["10.89.0.3".parse().unwrap()],
            ingress_from: vec!["10.88.0.1".parse().unwrap()],
        };
        let mut argv = vec!["thv-egress".to_owned()];
        argv.extend(a.to_args());
        assert_eq!(SidecarArgs::try_parse_from(&argv).unwrap(), a);
        let err =
            SidecarArgs::try_parse_from(["thv-egress", "--ingress", "0.0.0.0:1"]).unwrap_err();
        assert!(err.to_string().contains("LISTEN=TARGET"), "{err}");
    }

    #[test]
    fn names_and_ports() {
        let p = EgressPolicy {
            hosts: vec![".github.com".into()],
            ports: vec![443],
            ..Default::default()
        };
        assert!(p.allows_name("api.github.com") && !p.allows("api.github.com", 80));
        assert!(!p.allows_name("example.com"));
        let all = EgressPolicy {
            allow_all: true,
            ..Default::default()
        };
        assert!(all.allows_name("example.com") && all.allows("example.com", 1));
        let no_host = EgressPolicy {
            deny_hosts: vec!["host.docker.internal".into()],
            ..all
        };
        assert!(!no_host.allows_name("Host.Docker.Internal.") && no_host.allows_name("x.org"));
    }

    /// Every address form that reached the host, the LAN or other containers before: refused under allow-all,
    /// through the literal and through a name alike; explicit IP/CIDR entries are the only way in.
    #[test]
    fn addresses_refused_by_default() {
        let args = SidecarArgs {
            listen: "0.0.0.0:3128".parse().unwrap(),
            dns_listen: None,
            ingress: Vec::new(),
            allow_host: vec![
                "10.1.2.3".into(),
                "198.51.100.0/24".into(),
                "[fd00::7]".into(),
            ],
            allow_port: Vec::new(),
            allow_all: true,
            host_address: vec![
                "10.88.0.1/32".parse().unwrap(),
                "192.0.2.2/32".parse().unwrap(),
            ],
            allow_host_addresses: false,
            engine_network: vec![
                "10.88.0.0/16".parse().unwrap(),
                "10.89.0.0/24".parse().unwrap(),
            ],
            deny_host: Vec::new(),
            client: vec!["::ffff:10.89.0.3".parse().unwrap()],
            ingress_from: Vec::new(),
        };
        let p = args.policy();
        assert_eq!(p.hosts, Vec::<String>::new());
        assert_eq!(p.networks.len(), 3);
        let refused = |ip: &str| p.address_error(ip.parse().unwrap());
        for ip in [
            "0.0.0.0",
            "::",
            "127.0.0.1",
            "::ffff:127.0.0.1",
            "::1",
            "169.254.169.254",
            "fe80::1",
            "224.0.0.251",
            "255.255.255.255",
            "10.88.0.1",
            "::ffff:10.88.0.1",
            "64:ff9b::a58:1",
            "2002:a58:1::1",
            "192.0.2.2",
            "10.88.0.5",
            "10.89.0.2",
            "192.168.1.1",
            "172.16.0.1",
            "100.64.0.1",
            "198.18.0.1",
            "192.0.0.8",
            "fd00::2",
            "fc00::1",
            "240.0.0.1",
        ] {
            assert!(refused(ip).is_some(), "{ip} must be refused");
        }
        assert!(
            refused("192.0.2.2")
                .unwrap()
                .contains("--allow-docker-gateway")
        );
        assert!(refused("10.88.0.5").unwrap().contains("engine"));
        assert!(refused("fd00::2").unwrap().contains("allow_host"));
        for ip in [
            "10.1.2.3",
            "::ffff:10.1.2.3",
            "198.51.100.77",
            "fd00::7",
            "93.184.216.34",
            "2606:4700::1",
        ] {
            assert_eq!(refused(ip), None, "{ip} must pass");
        }
        // The host only with --allow-docker-gateway (even an explicit entry does not reach it).
        let mut p2 = p.clone();
        p2.networks.push("192.0.2.0/24".parse().unwrap());
        assert!(p2.address_error("192.0.2.2".parse().unwrap()).is_some());
        p2.allow_host_addresses = true;
        assert_eq!(p2.address_error("192.0.2.2".parse().unwrap()), None);
        assert_eq!(p2.address_error("::ffff:10.88.0.1".parse().unwrap()), None);
        // IP literals pass the name rules only by an entry (or allow-all).
        let strict = EgressPolicy {
            allow_all: false,
            ..p.clone()
        };
        assert!(strict.allows_name("10.1.2.3") && strict.allows_name("[fd00::7]"));
        assert!(!strict.allows_name("10.1.2.4") && !strict.allows_name("93.184.216.34"));
        // Clients: the workload only, in any notation.
        assert!(p.accepts_client("10.89.0.3".parse().unwrap()));
        assert!(p.accepts_client("::ffff:10.89.0.3".parse().unwrap()));
        assert!(!p.accepts_client("10.88.0.7".parse().unwrap()));
    }
}
