//! The sidecar's ingress: an HTTP workload on an internal network cannot publish its port, so the sidecar
//! (on the engine's default network too) publishes one and forwards every TCP connection to the workload's
//! port. Byte for byte: streaming responses (SSE) pass as they come.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// How long a connection to the workload may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Forwards the connections accepted on `listener` to `target` until the task is dropped.
pub async fn forward(listener: TcpListener, target: SocketAddr) {
    loop {
        let Ok((mut conn, peer)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let upstream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target)).await;
            match upstream {
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn forwards_both_ways() {
        let target = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target_addr = target.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut c, _) = target.accept().await.unwrap();
            let mut buf = [0u8; 5];
            c.read_exact(&mut buf).await.unwrap();
            c.write_all(&[&buf[..], b"-back"].concat()).await.unwrap();
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(forward(listener, target_addr));
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"hello").await.unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "hello-back");
    }
}
