//! The sidecar's DNS server: the isolated workload's only resolver. A name the policy allows
//! ([`EgressPolicy::allows_name`]) is resolved by the sidecar (its own resolver: the engine's DNS, its
//! `/etc/hosts`) and answered with its A/AAAA records; any other name does not exist (NXDOMAIN), so a workload
//! cannot even learn the addresses of what it may not reach, nor tunnel data out through lookups of
//! names it makes up. UDP and TCP (RFC 1035 §4.2; TCP messages carry a two-byte length).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

use super::EgressPolicy;

/// How long a lookup of an allowed name may take (then SERVFAIL).
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
/// The TTL of the answers: short, since the sidecar asks its own resolver every time.
const TTL: u32 = 30;
/// The largest UDP answer (RFC 1035); a larger one is sent truncated, the client retries over TCP.
const MAX_UDP: usize = 512;

/// A bound DNS server (UDP and TCP on one address).
pub struct DnsServer {
    udp: UdpSocket,
    tcp: TcpListener,
    policy: Arc<EgressPolicy>,
}

impl DnsServer {
    pub async fn bind(addr: SocketAddr, policy: Arc<EgressPolicy>) -> std::io::Result<Self> {
        let udp = UdpSocket::bind(addr).await?;
        let tcp = TcpListener::bind(udp.local_addr()?).await?;
        Ok(Self { udp, tcp, policy })
    }

    /// The bound address (UDP and TCP).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.udp.local_addr()
    }

    /// Answers queries until the task is dropped.
    pub async fn serve(self) {
        let udp = Arc::new(self.udp);
        let policy = self.policy.clone();
        let tcp = self.tcp;
        let tcp_policy = policy.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut conn, peer)) = tcp.accept().await else {
                    continue;
                };
                if !tcp_policy.accepts_client(peer.ip()) {
                    tracing::warn!(%peer, "DNS: query from an address other than the workload's refused");
                    continue;
                }
                let policy = tcp_policy.clone();
                tokio::spawn(async move {
                    // Several queries may come on one connection.
                    loop {
                        let Ok(len) = conn.read_u16().await else {
                            return;
                        };
                        let mut buf = vec![0u8; usize::from(len)];
                        if conn.read_exact(&mut buf).await.is_err() {
                            return;
                        }
                        let Some(out) = answer(&buf, &policy, usize::from(u16::MAX)).await else {
                            return;
                        };
                        let Ok(len) = u16::try_from(out.len()) else {
                            return;
                        };
                        if conn.write_u16(len).await.is_err() || conn.write_all(&out).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                continue;
            };
            if !policy.accepts_client(peer.ip()) {
                tracing::warn!(%peer, "DNS: query from an address other than the workload's refused");
                continue;
            }
            let query = buf[..n].to_vec();
            let (udp, policy) = (udp.clone(), policy.clone());
            tokio::spawn(async move {
                if let Some(out) = answer(&query, &policy, MAX_UDP).await {
                    let _ = udp.send_to(&out, peer).await;
                }
            });
        }
    }
}

/// The answer to one query message (`None`: not a DNS message; nothing is sent back).
pub async fn answer(query: &[u8], policy: &EgressPolicy, max_len: usize) -> Option<Vec<u8>> {
    let request = Message::from_vec(query).ok()?;
    if request.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    response.queries = request.queries.clone();
    let code = if request.metadata.op_code != OpCode::Query {
        ResponseCode::NotImp
    } else if request.queries.len() != 1 {
        ResponseCode::FormErr
    } else {
        let q = &request.queries[0];
        let name = q.name().to_ascii();
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if !policy.allows_name(&name) {
            tracing::info!(%name, "DNS: name not allowed");
            ResponseCode::NXDomain
        } else {
            match lookup(&name).await {
                Ok(addrs) if addrs.is_empty() => ResponseCode::NXDomain,
                Ok(addrs) => {
                    for ip in addrs {
                        let rdata = match (ip, q.query_type()) {
                            (IpAddr::V4(v4), RecordType::A) => RData::A(A(v4)),
                            (IpAddr::V6(v6), RecordType::AAAA) => RData::AAAA(AAAA(v6)),
                            _ => continue,
                        };
                        response.add_answer(Record::from_rdata(q.name().clone(), TTL, rdata));
                    }
                    ResponseCode::NoError
                }
                Err(code) => code,
            }
        }
    };
    response.metadata.response_code = code;
    let mut out = response.to_vec().ok()?;
    if out.len() > max_len {
        response.answers.clear();
        response.metadata.truncation = true;
        out = response.to_vec().ok()?;
    }
    Some(out)
}

/// The addresses of a name, by the sidecar's resolver; NXDOMAIN when it has none, SERVFAIL on timeout.
async fn lookup(name: &str) -> Result<Vec<IpAddr>, ResponseCode> {
    match tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((name, 0))).await {
        Ok(Ok(addrs)) => {
            let mut ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
            ips.dedup();
            Ok(ips)
        }
        Ok(Err(_)) => Err(ResponseCode::NXDomain),
        Err(_) => Err(ResponseCode::ServFail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;
    use hickory_proto::rr::Name;

    fn query(name: &str, typ: RecordType) -> Vec<u8> {
        let mut m = Message::new(4242, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), typ));
        m.to_vec().unwrap()
    }

    fn policy() -> EgressPolicy {
        EgressPolicy {
            hosts: vec!["localhost".into(), ".example.com".into()],
            ports: vec![443],
            ..Default::default()
        }
    }

    async fn ask(server: SocketAddr, name: &str, typ: RecordType) -> Message {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        sock.send_to(&query(name, typ), server).await.unwrap();
        let mut buf = [0u8; 512];
        let (n, _) = tokio::time::timeout(Duration::from_secs(10), sock.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        Message::from_vec(&buf[..n]).unwrap()
    }

    /// Through a real UDP and TCP server: an allowed name (`localhost`, from /etc/hosts) resolves, others
    /// are NXDOMAIN, garbage is ignored.
    #[tokio::test]
    async fn allowed_names_resolve_and_others_do_not_exist() {
        let server = DnsServer::bind("127.0.0.1:0".parse().unwrap(), Arc::new(policy()))
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        tokio::spawn(server.serve());

        let ok = ask(addr, "localhost.", RecordType::A).await;
        assert_eq!(ok.metadata.id, 4242);
        assert_eq!(ok.metadata.response_code, ResponseCode::NoError);
        assert!(
            ok.answers
                .iter()
                .any(|r| matches!(r.data, RData::A(A(ip)) if ip.is_loopback())),
            "{ok:?}"
        );
        let denied = ask(addr, "pypi.org.", RecordType::A).await;
        assert_eq!(denied.metadata.response_code, ResponseCode::NXDomain);
        assert!(denied.answers.is_empty());
        let sneaky = ask(addr, "example.com.evil.org.", RecordType::A).await;
        assert_eq!(sneaky.metadata.response_code, ResponseCode::NXDomain);
        let unknown = ask(addr, "no-such-name.example.com.", RecordType::AAAA).await;
        assert_eq!(unknown.metadata.response_code, ResponseCode::NXDomain);

        // TCP: length-prefixed, two queries on one connection.
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        for (name, code) in [
            ("localhost.", ResponseCode::NoError),
            ("pypi.org.", ResponseCode::NXDomain),
        ] {
            let q = query(name, RecordType::A);
            c.write_u16(q.len() as u16).await.unwrap();
            c.write_all(&q).await.unwrap();
            let len = c.read_u16().await.unwrap();
            let mut buf = vec![0u8; usize::from(len)];
            c.read_exact(&mut buf).await.unwrap();
            assert_eq!(
                Message::from_vec(&buf).unwrap().metadata.response_code,
                code
            );
        }

        assert!(
            answer(b"\x00\x01garbage", &policy(), MAX_UDP)
                .await
                .is_none()
        );
    }
}
