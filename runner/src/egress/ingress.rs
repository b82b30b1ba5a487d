//! The sidecar's ingress: an HTTP workload on an internal network cannot publish its port, so the sidecar
//! (on the engine's default network too) publishes one and forwards every TCP connection to the workload's
//! port. Byte for byte: streaming responses (SSE) pass as they come.
//!
//! Only the engine's port forwarding may connect (`from`: the default network's gateway, whence the engine's
//! forwarded connections come): other containers on the default network would otherwise reach the server
//! directly, around its proxy's authentication, authorization, tool filter and audit.
//!
//! The published port is on the host's loopback, where a web page could reach it by DNS rebinding (its own name
//! made to resolve to `127.0.0.1`): the first request of every connection must name an IP address or
//! `localhost` in its `Host` header (as `thv`'s proxy does), else it is answered 403 and closed. A browser
//! keeps a connection to one origin, so its later requests carry the same name.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long a connection to the workload may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send its first request head, and its largest size.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_HEAD: usize = 64 * 1024;

/// Why the first request head may not pass: a `Host` that is a name other than `localhost` (DNS rebinding), or
/// no HTTP request at all. `Ok(())`: it passes (an IP address, `localhost`, or no `Host`).
fn check_first_request(head: &[u8]) -> Result<(), &'static str> {
    let mut headers = [httparse::EMPTY_HEADER; 100];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err("400 Bad Request"),
    }
    let Some(host) = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("host"))
    else {
        return Ok(());
    };
    let host = std::str::from_utf8(host.value).map_err(|_| "400 Bad Request")?;
    let name = crate::proxy::access::normalize_host(crate::proxy::access::strip_port(host.trim()));
    if name == "localhost" || name.parse::<IpAddr>().is_ok() {
        Ok(())
    } else {
        Err("403 Forbidden")
    }
}

/// The client's first request head (and whatever followed it in the same reads), or `None` when it closed,
/// stalled or sent too much.
async fn read_first_head(conn: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(2048);
    let read = async {
        loop {
            if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                return true;
            }
            if buf.len() > MAX_HEAD {
                return false;
            }
            let mut chunk = [0u8; 4096];
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    matches!(tokio::time::timeout(HEAD_TIMEOUT, read).await, Ok(true)).then_some(buf)
}

/// Forwards the connections accepted on `listener` from an address of `from` (any, when empty) to `target`
/// until the task is dropped; others are closed at once.
pub async fn forward(listener: TcpListener, target: SocketAddr, from: Vec<IpAddr>) {
    let from: Vec<IpAddr> = from.into_iter().map(thv_core::net::canonical).collect();
    loop {
        let Ok((mut conn, peer)) = listener.accept().await else {
            continue;
        };
        if !from.is_empty() && !from.contains(&thv_core::net::canonical(peer.ip())) {
            tracing::warn!(%peer, %target, "ingress: connection from outside the engine's port forwarding refused");
            continue;
        }
        tokio::spawn(async move {
            let Some(head) = read_first_head(&mut conn).await else {
                return;
            };
            if let Err(status) = check_first_request(&head) {
                tracing::warn!(%peer, %target, %status, "ingress: request refused (its Host names no address: DNS rebinding?)");
                let body = "thv ingress: Host not allowed\n";
                let _ = conn
                    .write_all(
                        format!(
                            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .await;
                return;
            }
            match tokio::time::timeout(CONNECT_TIMEOUT, connect(target)).await {
                Ok(Ok(mut up)) => {
                    let _ = conn.set_nodelay(true);
                    let _ = up.set_nodelay(true);
                    if let Err(e) = up.write_all(&head).await {
                        tracing::debug!(%peer, %target, error = %e, "ingress connection ended");
                        return;
                    }
                    if let Err(e) = tokio::io::copy_bidirectional(&mut conn, &mut up).await {
                        tracing::debug!(%peer, %target, error = %e, "ingress connection ended");
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(%target, error = %e, "ingress: cannot reach the workload")
                }
                Err(_) => tracing::warn!(%target, "ingress: connecting to the workload timed out"),
            }
        });
    }
}

/// Connects to the workload, trying again while it refuses: a server that is (re)starting is waited for
/// (within [`CONNECT_TIMEOUT`]) instead of failing the client's first requests.
async fn connect(target: SocketAddr) -> std::io::Result<TcpStream> {
    loop {
        match TcpStream::connect(target).await {
            Ok(s) => return Ok(s),
            // Refused while the server starts; unreachable while its container's address comes up again.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::HostUnreachable
                        | std::io::ErrorKind::NetworkUnreachable
                ) =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The workload starts listening after the client connected: the connection waits for it.
    #[tokio::test]
    async fn forwards_both_ways_and_waits_for_a_starting_server() {
        let reserved = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target_addr = reserved.local_addr().unwrap();
        drop(reserved);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let target = TcpListener::bind(target_addr).await.unwrap();
            let (mut c, _) = target.accept().await.unwrap();
            let mut buf = [0u8; REQUEST.len()];
            c.read_exact(&mut buf).await.unwrap();
            c.write_all(&[&buf[..], b"-back"].concat()).await.unwrap();
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(forward(
            listener,
            target_addr,
            vec!["127.0.0.1".parse().unwrap()],
        ));
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(REQUEST).await.unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, format!("{}-back", String::from_utf8_lossy(REQUEST)));
    }

    const REQUEST: &[u8] =
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Length: 2\r\n\r\n{}";

    /// DNS rebinding: a first request naming another host is answered 403 and never reaches the workload;
    /// addresses and `localhost` pass.
    #[test]
    fn first_requests_must_name_an_address() {
        for ok in [
            "GET / HTTP/1.1\r\nHost: 127.0.0.1:41000\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: localhost:41000\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: [::1]:41000\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: LOCALHOST.\r\n\r\n",
            "GET / HTTP/1.0\r\n\r\n",
        ] {
            assert_eq!(check_first_request(ok.as_bytes()), Ok(()), "{ok}");
        }
        for (bad, status) in [
            (
                "GET / HTTP/1.1\r\nHost: rebind.example:41000\r\n\r\n",
                "403 Forbidden",
            ),
            (
                "GET / HTTP/1.1\r\nHost: localhost.evil.example\r\n\r\n",
                "403 Forbidden",
            ),
            (
                "GET / HTTP/1.1\r\nHost: 127.0.0.1.nip.io\r\n\r\n",
                "403 Forbidden",
            ),
            ("not http\r\n\r\n", "400 Bad Request"),
        ] {
            assert_eq!(check_first_request(bad.as_bytes()), Err(status), "{bad}");
        }
    }

    /// A connection from another address is closed without reaching the workload.
    #[tokio::test]
    async fn refuses_connections_from_other_addresses() {
        let target = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target_addr = target.local_addr().unwrap();
        let reached = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let r = reached.clone();
        tokio::spawn(async move {
            if target.accept().await.is_ok() {
                r.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(forward(
            listener,
            target_addr,
            vec!["10.88.0.1".parse().unwrap()],
        ));
        let mut c = TcpStream::connect(addr).await.unwrap();
        let _ = c.write_all(b"GET / HTTP/1.1\r\n\r\n").await;
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out).await;
        assert!(out.is_empty());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !reached.load(std::sync::atomic::Ordering::SeqCst),
            "the workload was not reached"
        );
    }
}
