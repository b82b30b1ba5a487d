//! Which addresses an outbound connection may reach: one classification, shared by everything that connects on
//! someone else's say-so (a workload's egress proxy, the registry's sync sources), so that "internal" means the
//! same everywhere.
//!
//! Addresses are normalised first ([`canonical`]): an IPv6 address that carries an IPv4 address — IPv4-mapped
//! (`::ffff:10.0.0.1`), IPv4-compatible (`::10.0.0.1`), NAT64 (`64:ff9b::/96`) and 6to4 (`2002:AABB:CCDD::/48`)
//! — is judged as that IPv4 address, so `[::ffff:127.0.0.1]` is loopback and `[64:ff9b::a00:1]` private.
//!
//! [`classify`] follows IANA's special-purpose address registries: everything not marked globally reachable
//! there (RFC 1918, CGNAT `100.64/10`, `192.0.0/24`, benchmarking `198.18/15`, documentation ranges, reserved
//! `240/4`, ULA `fc00::/7`, Teredo and the rest of `2001::/23`, discard `100::/64`, …) is
//! [`AddressClass::Internal`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use ipnet::IpNet;

/// What an address is, for deciding whether to connect to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// `0.0.0.0`, `::`: "this host".
    Unspecified,
    /// `127/8`, `::1`.
    Loopback,
    /// `169.254/16`, `fe80::/10` (cloud metadata services live here).
    LinkLocal,
    /// `224/4`, `255.255.255.255`, `ff00::/8`.
    Multicast,
    /// Not globally reachable: private, shared, reserved, documentation and protocol ranges.
    Internal,
    /// Globally reachable.
    Global,
}

impl AddressClass {
    /// A short description for error messages ("a loopback address").
    pub fn describe(self) -> &'static str {
        match self {
            Self::Unspecified => "an unspecified address",
            Self::Loopback => "a loopback address",
            Self::LinkLocal => "a link-local address",
            Self::Multicast => "a multicast or broadcast address",
            Self::Internal => "a private (not globally reachable) address",
            Self::Global => "a public address",
        }
    }
}

/// The IPv4 address an IPv6 address carries, if it is one of the forms that do (see the module documentation).
pub fn embedded_ipv4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    // ::ffff:a.b.c.d (mapped)
    if s[..5] == [0, 0, 0, 0, 0] && s[5] == 0xffff {
        return Some(low);
    }
    // ::a.b.c.d (compatible; not :: and ::1)
    if s[..6] == [0, 0, 0, 0, 0, 0] && (s[6] != 0 || s[7] > 1) {
        return Some(low);
    }
    // 64:ff9b::a.b.c.d (NAT64 well-known prefix)
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(low);
    }
    // 2002:AABB:CCDD::/48 (6to4)
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

/// The address to judge: the embedded IPv4 address of an IPv6 address that carries one, else itself.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => embedded_ipv4(v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Classifies an address (after [`canonical`]).
pub fn classify(ip: IpAddr) -> AddressClass {
    match canonical(ip) {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// Whether an address is globally reachable ([`AddressClass::Global`]).
pub fn is_global(ip: IpAddr) -> bool {
    classify(ip) == AddressClass::Global
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], len: u8) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    if ip.is_unspecified() {
        return AddressClass::Unspecified;
    }
    if ip.is_loopback() {
        return AddressClass::Loopback;
    }
    if ip.is_link_local() {
        return AddressClass::LinkLocal;
    }
    if ip.is_multicast() || ip.is_broadcast() {
        return AddressClass::Multicast;
    }
    const INTERNAL: [([u8; 4], u8); 12] = [
        ([0, 0, 0, 0], 8),       // "this network"
        ([10, 0, 0, 0], 8),      // RFC 1918
        ([100, 64, 0, 0], 10),   // shared address space (CGNAT)
        ([172, 16, 0, 0], 12),   // RFC 1918
        ([192, 0, 0, 0], 24),    // IETF protocol assignments
        ([192, 0, 2, 0], 24),    // TEST-NET-1
        ([192, 88, 99, 0], 24),  // 6to4 relay anycast (deprecated)
        ([192, 168, 0, 0], 16),  // RFC 1918
        ([198, 18, 0, 0], 15),   // benchmarking
        ([198, 51, 100, 0], 24), // TEST-NET-2
        ([203, 0, 113, 0], 24),  // TEST-NET-3
        ([240, 0, 0, 0], 4),     // reserved
    ];
    if INTERNAL.iter().any(|(net, len)| in_v4(ip, *net, *len)) {
        AddressClass::Internal
    } else {
        AddressClass::Global
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    if ip.is_unspecified() {
        return AddressClass::Unspecified;
    }
    if ip.is_loopback() {
        return AddressClass::Loopback;
    }
    let s = ip.segments();
    if s[0] & 0xffc0 == 0xfe80 {
        return AddressClass::LinkLocal;
    }
    if s[0] & 0xff00 == 0xff00 {
        return AddressClass::Multicast;
    }
    let internal = s[0] & 0xfe00 == 0xfc00 // unique local fc00::/7
        || s[0] & 0xffc0 == 0xfec0 // site-local (deprecated) fec0::/10
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64 64:ff9b:1::/48
        || (s[0] == 0x100 && s[1..4] == [0, 0, 0]) // discard-only 100::/64
        || (s[0] == 0x2001 && s[1] < 0x200) // IETF protocol assignments 2001::/23 (Teredo, ORCHID, …)
        || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation 2001:db8::/32
        || s[0] & 0xfff0 == 0x3ff0 // documentation 3fff::/20
        || s[0] & 0xe000 != 0x2000; // outside global unicast 2000::/3
    if internal {
        AddressClass::Internal
    } else {
        AddressClass::Global
    }
}

/// Whether `ip` (after [`canonical`]) is inside one of `nets` (each compared in its own family, also after
/// normalisation: an entry `::ffff:10.0.0.0/104` is not needed to match `10.0.0.1`).
pub fn in_any(ip: IpAddr, nets: &[IpNet]) -> bool {
    let ip = canonical(ip);
    nets.iter().any(|n| n.contains(&ip))
}

/// Parses an IP address or a CIDR block (`10.1.2.3`, `10.0.0.0/8`, `fd00::/8`, `[fd00::1]`); the host bits of
/// a block are cleared (`10.1.2.3/8` → `10.0.0.0/8`). `None` for anything else (a host name).
pub fn parse_ip_or_cidr(s: &str) -> Option<IpNet> {
    let s = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(IpNet::from(canonical(ip)));
    }
    let net: IpNet = s.parse().ok()?;
    Some(
        match net {
            IpNet::V6(v6) if v6.prefix_len() >= 96 => match embedded_ipv4(v6.network()) {
                Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
                    .map(IpNet::V4)
                    .unwrap_or(net),
                None => net,
            },
            other => other,
        }
        .trunc(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> AddressClass {
        classify(s.parse().unwrap())
    }

    #[test]
    fn classes() {
        for (addr, want) in [
            ("0.0.0.0", AddressClass::Unspecified),
            ("::", AddressClass::Unspecified),
            ("127.0.0.1", AddressClass::Loopback),
            ("127.8.9.10", AddressClass::Loopback),
            ("::1", AddressClass::Loopback),
            ("::ffff:127.0.0.1", AddressClass::Loopback),
            ("::127.0.0.1", AddressClass::Loopback),
            ("169.254.169.254", AddressClass::LinkLocal),
            ("fe80::1", AddressClass::LinkLocal),
            ("224.0.0.1", AddressClass::Multicast),
            ("255.255.255.255", AddressClass::Multicast),
            ("ff02::1", AddressClass::Multicast),
            ("10.88.0.1", AddressClass::Internal),
            ("::ffff:10.88.0.1", AddressClass::Internal),
            ("64:ff9b::a58:1", AddressClass::Internal),
            ("2002:a58:1::1", AddressClass::Internal),
            ("172.31.255.255", AddressClass::Internal),
            ("192.168.1.1", AddressClass::Internal),
            ("100.64.0.1", AddressClass::Internal),
            ("100.127.255.255", AddressClass::Internal),
            ("192.0.0.8", AddressClass::Internal),
            ("192.0.2.2", AddressClass::Internal),
            ("198.18.0.1", AddressClass::Internal),
            ("198.19.255.1", AddressClass::Internal),
            ("198.51.100.7", AddressClass::Internal),
            ("203.0.113.1", AddressClass::Internal),
            ("240.0.0.1", AddressClass::Internal),
            ("0.1.2.3", AddressClass::Internal),
            ("fd00::2", AddressClass::Internal),
            ("fc00::1", AddressClass::Internal),
            ("fec0::1", AddressClass::Internal),
            ("2001:db8::1", AddressClass::Internal),
            ("2001::1", AddressClass::Internal),
            ("3fff::1", AddressClass::Internal),
            ("100::1", AddressClass::Internal),
            ("64:ff9b:1::1", AddressClass::Internal),
            ("4000::1", AddressClass::Internal),
            ("93.184.216.34", AddressClass::Global),
            ("8.8.8.8", AddressClass::Global),
            ("100.128.0.1", AddressClass::Global),
            ("172.32.0.1", AddressClass::Global),
            ("::ffff:8.8.8.8", AddressClass::Global),
            ("64:ff9b::808:808", AddressClass::Global),
            ("2002:808:808::1", AddressClass::Global),
            ("2606:4700:4700::1111", AddressClass::Global),
            ("2a00:1450:4001::1", AddressClass::Global),
        ] {
            assert_eq!(class(addr), want, "{addr}");
        }
    }

    #[test]
    fn ip_and_cidr_entries() {
        let nets: Vec<IpNet> = [
            "10.1.0.0/16",
            "[fd00::1]",
            "192.0.2.2",
            "::ffff:198.51.100.0/120",
        ]
        .iter()
        .map(|s| parse_ip_or_cidr(s).unwrap())
        .collect();
        assert_eq!(nets[0].to_string(), "10.1.0.0/16");
        assert_eq!(nets[3].to_string(), "198.51.100.0/24");
        for (ip, want) in [
            ("10.1.2.3", true),
            ("::ffff:10.1.2.3", true),
            ("10.2.0.1", false),
            ("fd00::1", true),
            ("fd00::2", false),
            ("192.0.2.2", true),
            ("198.51.100.9", true),
        ] {
            assert_eq!(in_any(ip.parse().unwrap(), &nets), want, "{ip}");
        }
        assert_eq!(
            parse_ip_or_cidr("10.1.2.3/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        for not in ["example.com", "10.0.0.0/33", "", "10.0.0.0/", "1.2.3"] {
            assert!(parse_ip_or_cidr(not).is_none(), "{not}");
        }
    }
}
