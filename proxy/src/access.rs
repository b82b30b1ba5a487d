//! Who may talk to a local proxy, against DNS rebinding (a web page whose name is made to resolve to
//! `127.0.0.1` and then calls the proxy from the user's browser), as the MCP transport specification asks:
//!
//! - the `Host` header must name the proxy: a loopback name or address (`localhost`, `127.0.0.1`, `[::1]`), the
//!   address it is bound to, or a configured host name ([`super::ProxyConfig::allowed_hosts`]); when it is bound
//!   to every address (`0.0.0.0`, `::`), any IP address too (clients on the network reach it by address). A
//!   rebinding page's requests carry its own name: refused (403). Requests without `Host` (HTTP/1.0) pass;
//! - an `Origin` header must be in the allowlist ([`super::ProxyConfig::allowed_origins`], by default the
//!   loopback origins of the bound port): a page of another origin is refused (403). Requests without `Origin`
//!   (non-browser clients) pass.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::bridge::{INVALID_REQUEST, http_error_body};

/// What a request's `Origin` and `Host` may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAccess {
    /// Allowed origins, lower-case, without a trailing `/`.
    origins: Vec<String>,
    /// Allowed host names and addresses, lower-case, IPv6 without brackets.
    hosts: Vec<String>,
    /// Any IP address as `Host` (bound to every address).
    any_ip: bool,
}

impl LocalAccess {
    /// For a proxy bound to `addr`: `origins` (the Origin allowlist) and the extra `hosts` names it is reached by.
    pub fn new(addr: SocketAddr, origins: Vec<String>, hosts: &[String]) -> Self {
        let mut allowed: Vec<String> = ["localhost", "127.0.0.1", "::1"]
            .iter()
            .map(|h| (*h).to_owned())
            .collect();
        allowed.push(addr.ip().to_string());
        allowed.extend(hosts.iter().map(|h| normalize_host(h)));
        Self {
            origins: origins
                .into_iter()
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
            hosts: allowed,
            any_ip: addr.ip().is_unspecified(),
        }
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        self.origins
            .contains(&origin.trim_end_matches('/').to_ascii_lowercase())
    }

    fn host_allowed(&self, host_header: &str) -> bool {
        let host = normalize_host(strip_port(host_header));
        if self.hosts.contains(&host) {
            return true;
        }
        match host.parse::<IpAddr>() {
            Ok(ip) => ip.is_loopback() || self.any_ip,
            Err(_) => false,
        }
    }
}

/// `host:port` → `host`, `[v6]:port` → `[v6]`.
pub fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.find(']').map_or(authority, |i| &authority[..=i]);
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    }
}

/// Lower-case, without a trailing dot or IPv6 brackets.
pub fn normalize_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

fn forbidden(message: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        axum::Json(http_error_body(INVALID_REQUEST, message)),
    )
        .into_response()
}

/// Middleware: refuses (403) a request whose `Host` or `Origin` is not allowed (see the module documentation).
pub async fn check_access(
    State(access): State<Arc<LocalAccess>>,
    req: Request,
    next: Next,
) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .map(|h| h.to_str().map(str::to_owned))
        .or_else(|| req.uri().authority().map(|a| Ok(a.as_str().to_owned())));
    if let Some(host) = host
        && !host.as_deref().is_ok_and(|h| access.host_allowed(h))
    {
        tracing::warn!(host = ?host, "request refused: Host not allowed (DNS rebinding?)");
        return forbidden("Forbidden: Host not allowed");
    }
    if let Some(origin) = req.headers().get(header::ORIGIN)
        && !origin.to_str().is_ok_and(|o| access.origin_allowed(o))
    {
        tracing::warn!(origin = ?origin, "request refused: Origin not allowed");
        return forbidden("Forbidden: Origin not allowed");
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_origins() {
        let a = LocalAccess::new(
            "127.0.0.1:8080".parse().unwrap(),
            super::super::loopback_origins(8080),
            &[],
        );
        for ok in [
            "localhost:8080",
            "LOCALHOST.:8080",
            "127.0.0.1:8080",
            "127.0.0.1",
            "[::1]:8080",
            "127.1.2.3:8080",
        ] {
            assert!(a.host_allowed(ok), "{ok}");
        }
        for bad in [
            "attacker.example:8080",
            "localhost.attacker.example:8080",
            "192.168.1.5:8080",
            "[fd00::1]:8080",
            "",
        ] {
            assert!(!a.host_allowed(bad), "{bad}");
        }
        assert!(a.origin_allowed("http://localhost:8080/"));
        assert!(!a.origin_allowed("http://attacker.example:8080"));

        let lan = LocalAccess::new(
            "0.0.0.0:8080".parse().unwrap(),
            Vec::new(),
            &["mybox.lan".to_owned()],
        );
        assert!(lan.host_allowed("192.168.1.5:8080") && lan.host_allowed("MyBox.lan:8080"));
        assert!(!lan.host_allowed("attacker.example:8080"));
    }
}
