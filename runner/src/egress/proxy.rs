//! The HTTP forward proxy of the sidecar: `CONNECT host:port` tunnels (HTTPS) and absolute-form
//! `GET http://host/...` requests, let through only when the [`EgressPolicy`] allows the name and port and the
//! name resolves to no refused address; everything else gets 403 (or 400/502) with the reason.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::EgressPolicy;
/// Largest request head read.
const MAX_HEAD: usize = 16 * 1024;
/// How long a client may take to send its request head, and the proxy to connect upstream.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Serves the proxy on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, policy: Arc<EgressPolicy>) {
    loop {
        let Ok((conn, peer)) = listener.accept().await else {
            continue;
        };
        if !policy.accepts_client(peer.ip()) {
            tracing::warn!(%peer, "egress proxy: connection from an address other than the workload's refused");
            continue;
        }
        let policy = policy.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(conn, &policy).await {
                tracing::debug!(%peer, error = %e, "egress connection ended");
            }
        });
    }
}

/// The request line's target: `CONNECT host:port` or an absolute `http://host[:port]/path`.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    connect: bool,
    host: String,
    port: u16,
    /// The origin-form path for forwarded plain HTTP requests.
    path: String,
}

fn parse_target(method: &str, target: &str) -> Option<Target> {
    if method.eq_ignore_ascii_case("CONNECT") {
        let (host, port) = split_host_port(target)?;
        return Some(Target {
            connect: true,
            host,
            port: port?,
            path: String::new(),
        });
    }
    let rest = target.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = split_host_port(authority)?;
    Some(Target {
        connect: false,
        host,
        port: port.unwrap_or(80),
        path: path.to_string(),
    })
}

fn split_host_port(authority: &str) -> Option<(String, Option<u16>)> {
    if authority.contains('@') {
        return None;
    }
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), Some(p.parse().ok()?))),
        None => Some((authority.to_string(), None)),
    }
}

async fn refuse(conn: &mut TcpStream, status: &str, why: &str) -> std::io::Result<()> {
    let body = format!("thv egress proxy: {why}\n");
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(resp.as_bytes()).await
}

async fn handle(mut conn: TcpStream, policy: &EgressPolicy) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD {
            return refuse(
                &mut conn,
                "431 Request Header Fields Too Large",
                "request head too large",
            )
            .await;
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(TIMEOUT, conn.read(&mut chunk))
            .await
            .map_err(|_| std::io::Error::other("request head timed out"))??;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, target, version) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or("HTTP/1.1"),
    );
    let Some(t) = parse_target(method, target) else {
        return refuse(
            &mut conn,
            "400 Bad Request",
            "expected CONNECT host:port or an absolute http:// URL",
        )
        .await;
    };
    if !policy.allows(&t.host, t.port) {
        tracing::info!(host = %t.host, port = t.port, "egress denied by the permission profile");
        return refuse(
            &mut conn,
            "403 Forbidden",
            &format!("{}:{} is not allowed", t.host, t.port),
        )
        .await;
    }
    let addrs: Vec<SocketAddr> =
        match tokio::time::timeout(TIMEOUT, tokio::net::lookup_host((t.host.as_str(), t.port)))
            .await
        {
            Ok(Ok(a)) => a.collect(),
            _ => {
                return refuse(
                    &mut conn,
                    "502 Bad Gateway",
                    &format!("cannot resolve {}", t.host),
                )
                .await;
            }
        };
    if let Some(why) = addrs.iter().find_map(|a| policy.address_error(a.ip())) {
        tracing::info!(host = %t.host, port = t.port, reason = %why, "egress denied: refused address");
        return refuse(
            &mut conn,
            "403 Forbidden",
            &format!("{}:{} is not allowed: {why}", t.host, t.port),
        )
        .await;
    }
    if addrs.is_empty() {
        return refuse(
            &mut conn,
            "502 Bad Gateway",
            &format!("{} has no address", t.host),
        )
        .await;
    }
    let mut upstream = match tokio::time::timeout(TIMEOUT, TcpStream::connect(&addrs[..])).await {
        Ok(Ok(s)) => s,
        _ => {
            return refuse(
                &mut conn,
                "502 Bad Gateway",
                &format!("cannot connect to {}:{}", t.host, t.port),
            )
            .await;
        }
    };
    tracing::info!(host = %t.host, port = t.port, connect = t.connect, "egress allowed");
    if t.connect {
        conn.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await?;
        upstream.write_all(&buf[head_end..]).await?;
    } else {
        let mut out = format!("{method} {} {version}\r\n", t.path);
        for line in lines.filter(|l| !l.is_empty()) {
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("proxy-") || lower.starts_with("connection:") {
                continue;
            }
            out.push_str(line);
            out.push_str("\r\n");
        }
        out.push_str("Connection: close\r\n\r\n");
        upstream.write_all(out.as_bytes()).await?;
        upstream.write_all(&buf[head_end..]).await?;
    }
    tokio::io::copy_bidirectional(&mut conn, &mut upstream).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hosts: &[&str], ports: &[u16]) -> EgressPolicy {
        super::super::SidecarArgs {
            listen: "0.0.0.0:3128".parse().unwrap(),
            dns_listen: None,
            ingress: Vec::new(),
            allow_host: hosts.iter().map(|h| h.to_string()).collect(),
            allow_port: ports.to_vec(),
            allow_all: false,
            host_address: vec!["10.88.0.1/32".parse().unwrap()],
            allow_host_addresses: false,
            engine_network: Vec::new(),
            deny_host: Vec::new(),
            client: Vec::new(),
            ingress_from: Vec::new(),
        }
        .policy()
    }

    #[test]
    fn rules() {
        let p = policy(&["api.example.com", ".github.com"], &[443]);
        assert!(p.allows("api.example.com", 443));
        assert!(p.allows("API.example.com.", 443));
        assert!(p.allows("github.com", 443) && p.allows("raw.github.com", 443));
        assert!(!p.allows("evilgithub.com", 443));
        assert!(!p.allows("api.example.com", 80));
        assert!(!p.allows("other.example.com", 443));
        assert!(p.address_error("10.88.0.1".parse().unwrap()).is_some());
        assert!(p.address_error("127.0.0.1".parse().unwrap()).is_some());
        assert!(p.address_error("169.254.1.1".parse().unwrap()).is_some());
        assert_eq!(p.address_error("93.184.216.34".parse().unwrap()), None);
        let all = EgressPolicy {
            allow_all: true,
            ..policy(&[], &[])
        };
        assert!(all.allows("anything", 1));
    }

    #[test]
    fn targets() {
        assert_eq!(
            parse_target("CONNECT", "api.example.com:443"),
            Some(Target {
                connect: true,
                host: "api.example.com".into(),
                port: 443,
                path: String::new()
            })
        );
        assert_eq!(
            parse_target("GET", "http://h:8080/x?y=1"),
            Some(Target {
                connect: false,
                host: "h".into(),
                port: 8080,
                path: "/x?y=1".into()
            })
        );
        assert_eq!(parse_target("GET", "http://[::1]/").unwrap().host, "::1");
        assert!(
            parse_target("CONNECT", "h").is_none(),
            "CONNECT needs a port"
        );
        assert!(parse_target("GET", "/relative").is_none());
        assert!(parse_target("GET", "http://user@h/").is_none());
    }

    /// Through a real listener: allowed plain HTTP and CONNECT reach a local server; a forbidden host, a refused
    /// address and a malformed request do not.
    #[tokio::test]
    async fn forwards_allowed_and_refuses_the_rest() {
        let origin = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin_port = origin.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let (mut c, _) = origin.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let n = c.read(&mut buf).await.unwrap_or(0);
                    let line = String::from_utf8_lossy(&buf[..n])
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    let body = format!("origin saw: {line}");
                    let _ = c
                        .write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes())
                        .await;
                });
            }
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut p = policy(&["localhost", "127.0.0.1"], &[origin_port]);
        p.allow_loopback = true;
        tokio::spawn(serve(listener, Arc::new(p)));
        let ask = |req: String| async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(req.as_bytes()).await.unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        let plain = ask(format!("GET http://127.0.0.1:{origin_port}/x?y=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nProxy-Connection: keep-alive\r\n\r\n")).await;
        assert!(
            plain.starts_with("HTTP/1.1 200") && plain.contains("origin saw: GET /x?y=1 HTTP/1.1"),
            "{plain}"
        );
        let tunnel = ask(format!("CONNECT localhost:{origin_port} HTTP/1.1\r\n\r\nGET /in-tunnel HTTP/1.1\r\nHost: x\r\n\r\n")).await;
        assert!(
            tunnel.starts_with("HTTP/1.1 200 Connection established")
                && tunnel.contains("origin saw: GET /in-tunnel"),
            "{tunnel}"
        );
        let denied = ask(
            "CONNECT evil.example.com:443 HTTP/1.1\r\nHost: evil.example.com:443\r\n\r\n".into(),
        )
        .await;
        assert!(
            denied.starts_with("HTTP/1.1 403")
                && denied.contains("evil.example.com:443 is not allowed"),
            "{denied}"
        );
        let wrong_port = ask(format!(
            "GET http://127.0.0.1:{}/ HTTP/1.1\r\n\r\n",
            origin_port.wrapping_add(1)
        ))
        .await;
        assert!(wrong_port.starts_with("HTTP/1.1 403"), "{wrong_port}");
        let bad = ask("GET /x HTTP/1.1\r\n\r\n".into()).await;
        assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
    }

    /// Under allow-all, loopback and the host reached through every notation — IPv4-mapped IPv6 by CONNECT and
    /// by plain HTTP, names, numeric forms the resolver expands — get 403; a client other than the workload
    /// gets no proxy at all.
    #[tokio::test]
    async fn refused_addresses_in_every_notation() {
        let origin = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = origin.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut c, _)) = origin.accept().await {
                let _ = c
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nreach!")
                    .await;
            }
        });
        let mut p = policy(&[], &[]);
        p.allow_all = true;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, Arc::new(p.clone())));
        for req in [
            format!("CONNECT [::ffff:127.0.0.1]:{port} HTTP/1.1\r\n\r\n"),
            format!("GET http://[::ffff:127.0.0.1]:{port}/ HTTP/1.1\r\nHost: x\r\n\r\n"),
            format!("CONNECT [::ffff:10.88.0.1]:{port} HTTP/1.1\r\n\r\n"),
            format!("GET http://[::ffff:10.88.0.1]:{port}/ HTTP/1.1\r\nHost: x\r\n\r\n"),
            format!("CONNECT [::127.0.0.1]:{port} HTTP/1.1\r\n\r\n"),
            format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n"),
            format!("CONNECT localhost:{port} HTTP/1.1\r\n\r\n"),
            format!("GET http://2130706433:{port}/ HTTP/1.1\r\nHost: x\r\n\r\n"),
            format!("CONNECT 0x7f.1:{port} HTTP/1.1\r\n\r\n"),
            format!("CONNECT 10.88.0.1:{port} HTTP/1.1\r\n\r\n"),
            format!("CONNECT [fd00::2]:{port} HTTP/1.1\r\n\r\n"),
            format!("CONNECT 192.168.0.1:{port} HTTP/1.1\r\n\r\n"),
        ] {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(req.as_bytes()).await.unwrap();
            let mut out = String::new();
            let _ = s.read_to_string(&mut out).await;
            assert!(
                (out.starts_with("HTTP/1.1 403") || out.starts_with("HTTP/1.1 502"))
                    && !out.contains("reach!"),
                "{req:?} → {out}"
            );
        }
        // Only the workload may use the proxy.
        p.clients = vec!["10.89.0.3".parse().unwrap()];
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, Arc::new(p)));
        let mut s = TcpStream::connect(addr).await.unwrap();
        let _ = s
            .write_all(b"CONNECT example.com:443 HTTP/1.1\r\n\r\n")
            .await;
        let mut out = String::new();
        let _ = s.read_to_string(&mut out).await;
        assert_eq!(out, "", "a stranger gets nothing");
    }
}
