//! The egress proxy of network isolation: an HTTP forward proxy (`CONNECT host:port` tunnels for HTTPS, and
//! absolute-form `GET http://host/...` requests) that lets a workload reach only what its permission profile
//! allows — `allow_host` (exact names, or `.example.com` for the domain and its subdomains) on `allow_port` —
//! and refuses everything else with 403, including the container engine's gateway (the host) and loopback,
//! link-local and unspecified addresses, whatever name resolves to them. `insecure_allow_all` allows every
//! destination except those addresses.
//!
//! It runs in a sidecar container (`thv-egress`, [`SidecarArgs`]) on the workload's internal network and the
//! engine's default network: the only way out of the internal network. The workload gets `HTTP_PROXY` /
//! `HTTPS_PROXY` pointing at it ([`proxy`]) and the sidecar as its only DNS server ([`dns`]: allowed names
//! resolve, others do not exist). For an HTTP workload the sidecar also forwards the published port to the
//! workload ([`ingress`]), since nothing on an internal network can be published.

pub mod dns;
pub mod ingress;
pub mod proxy;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

pub use proxy::serve;

/// What the proxy lets through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    pub allow_all: bool,
    /// Lower-cased names; a leading `.` matches the domain and its subdomains.
    pub hosts: Vec<String>,
    /// Empty: no port (nothing is allowed unless `allow_all`).
    pub ports: Vec<u16>,
    /// Addresses refused whatever the rules say (the engine's gateway).
    pub deny: Vec<IpAddr>,
    /// Names refused whatever the rules say (the engines' names for the host), lower-cased.
    pub deny_hosts: Vec<String>,
    /// Let loopback addresses through (the proxy's own tests; inside a sidecar, loopback is the sidecar itself).
    pub allow_loopback: bool,
}

impl EgressPolicy {
    /// Whether the name and port pass the rules (addresses are checked after resolution).
    pub fn allows(&self, host: &str, port: u16) -> bool {
        self.allows_name(host) && (self.allow_all || self.ports.contains(&port))
    }

    /// Whether the name passes the host rules (on some port): what the sidecar's DNS answers for.
    pub fn allows_name(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if self.deny_hosts.contains(&host) {
            return false;
        }
        if self.allow_all {
            return true;
        }
        self.hosts.iter().any(|h| match h.strip_prefix('.') {
            Some(domain) => host == domain || host.ends_with(&format!(".{domain}")),
            None => *h == host,
        })
    }

    /// Whether an address may be connected to: never loopback, link-local, unspecified or a denied one.
    pub(crate) fn address_ok(&self, ip: IpAddr) -> bool {
        let special = match ip {
            IpAddr::V4(v4) => {
                v4.is_loopback() || v4.is_link_local() || v4.is_unspecified() || v4.is_broadcast()
            }
            IpAddr::V6(v6) => {
                v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xffc0) == 0xfe80
            }
        };
        let allowed_loopback = self.allow_loopback && ip.is_loopback();
        (!special || allowed_loopback) && !self.deny.contains(&ip)
    }
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
    /// Allowed host (exact, or `.example.com` for the domain and its subdomains); repeatable.
    #[arg(long = "allow-host")]
    pub allow_host: Vec<String>,
    /// Allowed port; repeatable.
    #[arg(long = "allow-port")]
    pub allow_port: Vec<u16>,
    /// Allow every destination (but never the refused addresses).
    #[arg(long)]
    pub allow_all: bool,
    /// An address refused whatever the rules say (the engine's gateway); repeatable.
    #[arg(long = "deny-ip")]
    pub deny_ip: Vec<IpAddr>,
    /// A name refused whatever the rules say (`host.docker.internal`); repeatable.
    #[arg(long = "deny-host")]
    pub deny_host: Vec<String>,
}

fn parse_ingress(s: &str) -> Result<(SocketAddr, SocketAddr), String> {
    let (listen, target) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}' is not LISTEN=TARGET"))?;
    let parse = |a: &str| {
        a.parse::<SocketAddr>()
            .map_err(|e| format!("'{a}' is not an address:port ({e})"))
    };
    Ok((parse(listen)?, parse(target)?))
}

impl SidecarArgs {
    /// The policy the proxy and the DNS server apply.
    pub fn policy(&self) -> EgressPolicy {
        EgressPolicy {
            allow_all: self.allow_all,
            hosts: self
                .allow_host
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            ports: self.allow_port.clone(),
            deny: self.deny_ip.clone(),
            deny_hosts: self
                .deny_host
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            allow_loopback: false,
        }
    }

    /// The command-line arguments (without the program name) that parse back to `self`.
    pub fn to_args(&self) -> Vec<String> {
        let mut out = vec!["--listen".to_owned(), self.listen.to_string()];
        if let Some(d) = self.dns_listen {
            out.extend(["--dns-listen".to_owned(), d.to_string()]);
        }
        for (l, t) in &self.ingress {
            out.extend(["--ingress".to_owned(), format!("{l}={t}")]);
        }
        for h in &self.allow_host {
            out.extend(["--allow-host".to_owned(), h.clone()]);
        }
        for p in &self.allow_port {
            out.extend(["--allow-port".to_owned(), p.to_string()]);
        }
        if self.allow_all {
            out.push("--allow-all".to_owned());
        }
        for ip in &self.deny_ip {
            out.extend(["--deny-ip".to_owned(), ip.to_string()]);
        }
        for h in &self.deny_host {
            out.extend(["--deny-host".to_owned(), h.clone()]);
        }
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
            tasks.spawn(ingress::forward(l, target));
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
            allow_host: vec!["api.example.com".into(), ".github.com".into()],
            allow_port: vec![443, 80],
            allow_all: false,
            deny_ip: vec!["10.88.0.1".parse().unwrap()],
            deny_host: vec!["host.docker.internal".into()],
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
}
