//! HTTP requests of API and file sources, which go where a configuration (and the upstreams' answers) say: they
//! must not be steered to internal services nor leak anything to another host.
//!
//! - **Redirects** are followed only within the origin (scheme, host and port) of the URL asked for, at most
//!   [`MAX_REDIRECTS`]; a redirect to another origin fails the request naming that origin. Nothing configured or
//!   sent (headers, the URL's query) ever reaches another origin.
//! - **Addresses**: unless the source sets `allow_private_addresses = true`, a destination must be public: an IP
//!   address in the URL is checked before connecting, and a host name is resolved by [`PublicOnly`], which
//!   refuses the name when any of its addresses is not public — so DNS cannot point a public name at an internal
//!   address, before or after a redirect. What "public" means is [`thv_core::net::classify`]'s: loopback,
//!   private (RFC 1918), link-local (`169.254.169.254`), CGNAT `100.64/10`, ULA `fc00::/7`, multicast,
//!   unspecified, reserved and documentation ranges, and IPv6 forms carrying such an IPv4 address, are not.
//! - **Proxies** from the environment (`HTTP_PROXY`, …) are not used: the connection goes straight to the checked
//!   address.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::ACCEPT;
use reqwest::redirect::{Attempt, Policy};
use reqwest::{Client, Url};
use thv_core::net::{AddressClass, classify};
use thv_core::output::error_chain;
use thv_core::registry_client::parse_error_body;

use super::error::SyncError;

/// Most redirects followed (each within the origin) for one request.
pub const MAX_REDIRECTS: usize = 5;
/// The longest upstream error message quoted, in characters.
const MAX_MESSAGE_CHARS: usize = 300;

/// Where a source's requests may go.
#[derive(Debug, Clone)]
pub struct Egress {
    source: Arc<str>,
    allow_private: bool,
}

impl Egress {
    pub fn new(source: &str, allow_private: bool) -> Self {
        Self {
            source: source.into(),
            allow_private,
        }
    }

    /// A client with the redirect policy and, unless private addresses are allowed, the address check.
    pub fn client(&self, timeout: Duration, ca_cert: Option<&Path>) -> Result<Client, SyncError> {
        let source = self.source.clone();
        let mut builder = Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10).min(timeout))
            .user_agent(concat!(
                "thv-registry-api/",
                env!("CARGO_PKG_VERSION"),
                " (sync)"
            ))
            .no_proxy()
            .redirect(Policy::custom(move |attempt| same_origin(&source, attempt)));
        if !self.allow_private {
            builder = builder.dns_resolver(PublicOnly {
                source: self.source.clone(),
            });
        }
        if let Some(path) = ca_cert {
            let certs = thv_core::tls::read_ca_bundle(path)
                .map_err(|e| SyncError::Config(format!("api.ca_cert {}: {e}", path.display())))?;
            builder = builder.tls_certs_merge(certs);
        }
        builder
            .build()
            .map_err(|e| SyncError::Config(format!("HTTP client: {}", error_chain(&e))))
    }

    /// `GET url`: the body of a 2xx answer, at most `max_bytes`; any other answer is an error quoting the
    /// upstream's message.
    pub async fn get(
        &self,
        client: &Client,
        url: &Url,
        accept: &str,
        max_bytes: usize,
    ) -> Result<Vec<u8>, SyncError> {
        self.check_host(url)?;
        let shown = url.to_string();
        let mut resp = client
            .get(url.clone())
            .header(ACCEPT, accept)
            .send()
            .await
            .map_err(|e| transport_error(&shown, e))?;
        let status = resp.status();
        let too_large = || SyncError::TooLarge {
            origin: shown.clone(),
            message: format!("the answer is larger than {max_bytes} bytes"),
        };
        if resp.content_length().is_some_and(|n| n > max_bytes as u64) {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| transport_error(&shown, e))? {
            if bytes.len() + chunk.len() > max_bytes {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(SyncError::Status {
                url: shown,
                status: status.as_u16(),
                message: error_message(status, &bytes),
            });
        }
        Ok(bytes)
    }

    /// An IP address in the URL is never resolved: it is checked here.
    fn check_host(&self, url: &Url) -> Result<(), SyncError> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            _ => return Ok(()),
        };
        match self.allow_private {
            true => Ok(()),
            false => refuse(&self.source, ip, None).map_or(Ok(()), Err),
        }
    }
}

/// The redirect policy: within the origin of the first URL, at most [`MAX_REDIRECTS`].
fn same_origin(source: &str, attempt: Attempt) -> reqwest::redirect::Action {
    let previous = attempt.previous();
    let (Some(first), Some(last)) = (previous.first(), previous.last()) else {
        return attempt.stop();
    };
    if attempt.url().origin() != first.origin() {
        let error = SyncError::Redirect {
            source_name: source.to_string(),
            from: last.to_string(),
            to: attempt.url().origin().ascii_serialization(),
        };
        return attempt.error(error);
    }
    if previous.len() > MAX_REDIRECTS {
        let error = SyncError::Transport {
            url: first.to_string(),
            message: format!("more than {MAX_REDIRECTS} redirects"),
        };
        return attempt.error(error);
    }
    attempt.follow()
}

/// The refusal of `ip` when it is not public (`host`: the name it was resolved from).
fn refuse(source: &str, ip: IpAddr, host: Option<&str>) -> Option<SyncError> {
    let class = classify(ip);
    (class != AddressClass::Global).then(|| SyncError::NotPublic {
        source_name: source.to_string(),
        address: ip,
        kind: class.describe(),
        resolved: host.map_or_else(String::new, |h| format!(", which {h} resolves to")),
    })
}

/// Resolves names as the system does, and refuses a name with any address that is not public.
struct PublicOnly {
    source: Arc<str>,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let source = self.source.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(e) = addrs
                .iter()
                .find_map(|a| refuse(&source, a.ip(), Some(&host)))
            {
                return Err(e.into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// A failed request: our own refusal (a redirect, an address) when that is what stopped it.
pub fn transport_error(url: &str, e: reqwest::Error) -> SyncError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(c) = cause {
        if let Some(ours) = c.downcast_ref::<SyncError>() {
            return ours.clone();
        }
        cause = c.source();
    }
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "no answer"
    };
    SyncError::Transport {
        url: url.to_string(),
        message: format!("{kind}: {}", error_chain(&e.without_url())),
    }
}

/// The message of a non-2xx answer: the error body's message, else its text (collapsed, truncated), else the
/// status's reason phrase.
fn error_message(status: reqwest::StatusCode, body: &[u8]) -> String {
    let text = parse_error_body(body).unwrap_or_else(|| {
        String::from_utf8_lossy(body)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    });
    if text.is_empty() {
        return status.canonical_reason().unwrap_or("no message").into();
    }
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_that_are_not_public_are_refused_by_name() {
        for (ip, kind) in [
            ("127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("100.64.0.1", "private"),
            ("0.0.0.0", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fd00::1", "private"),
            ("fe80::1", "link-local"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:10.0.0.1", "private"),
        ] {
            let e = refuse("src", ip.parse().unwrap(), Some("h.example")).expect(ip);
            let text = e.to_string();
            assert!(text.contains(kind), "{ip}: {text}");
            assert!(
                text.contains("source 'src'") && text.contains("allow_private_addresses = true")
            );
            assert!(text.contains(", which h.example resolves to"), "{text}");
        }
        for public in ["8.8.8.8", "140.82.112.3", "2606:4700::1111"] {
            assert!(
                refuse("src", public.parse().unwrap(), None).is_none(),
                "{public}"
            );
        }
    }

    #[test]
    fn upstream_messages_are_read_and_bounded() {
        let s = reqwest::StatusCode::BAD_GATEWAY;
        assert_eq!(error_message(s, br#"{"error":"down"}"#), "down");
        assert_eq!(error_message(s, b""), "Bad Gateway");
        let long = "x ".repeat(1000);
        assert_eq!(
            error_message(s, long.as_bytes()).chars().count(),
            MAX_MESSAGE_CHARS + 1
        );
    }
}
