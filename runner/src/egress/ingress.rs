//! The sidecar's ingress: an HTTP workload on an internal network cannot publish its port, so the sidecar
//! (on the engine's default network too) publishes one and forwards every TCP connection to the workload's
//! port. Byte for byte: streaming responses (SSE) pass as they come.
//!
//! Only the engine's port forwarding may connect (`from`: the default network's gateway, whence the engine's
//! forwarded connections come): other containers on the default network would otherwise reach the server
//! directly, around its proxy's authentication, authorization, tool filter and audit.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// How long a connection to the workload may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

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
            match tokio::time::timeout(CONNECT_TIMEOUT, connect(target)).await {
                Ok(Ok(mut up)) => {
                    let _ = conn.set_nodelay(true);
                    let _ = up.set_nodelay(true);
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
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
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
            let mut buf = [0u8; 5];
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
        c.write_all(b"hello").await.unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "hello-back");
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
