//! A DNS server on 127.0.0.1 (UDP, a free port) answering TXT queries from a table that the test changes as it
//! goes: enough for the registry's DNS domain proofs (`POST /v0/auth/dns`). Other questions get an empty answer;
//! an unknown name NXDOMAIN.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Records = Arc<Mutex<BTreeMap<String, Vec<String>>>>;

pub struct TxtServer {
    pub addr: SocketAddr,
    records: Records,
    stop: Arc<AtomicBool>,
}

impl Drop for TxtServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl TxtServer {
    pub fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("a UDP port on 127.0.0.1");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let records: Records = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (records.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !s.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                if let Some(answer) = answer(&buf[..n], &r.lock().unwrap()) {
                    let _ = socket.send_to(&answer, from);
                }
            }
        });
        Self {
            addr,
            records,
            stop,
        }
    }

    /// The TXT records of `name` from now on (none: the name does not exist).
    pub fn set(&self, name: &str, txts: &[&str]) {
        let mut r = self.records.lock().unwrap();
        if txts.is_empty() {
            r.remove(&name.to_ascii_lowercase());
        } else {
            r.insert(
                name.to_ascii_lowercase(),
                txts.iter().map(|t| t.to_string()).collect(),
            );
        }
    }
}

/// The response to one query: the header and question echoed, the TXT records of the name as answers.
fn answer(query: &[u8], records: &BTreeMap<String, Vec<String>>) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = *query.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + len)?).to_ascii_lowercase());
        at += len;
    }
    let qtype = u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]);
    let question = &query[12..at + 4];
    let found = records.get(&labels.join("."));
    let txts: &[String] = match (found, qtype) {
        (Some(t), 16) => t,
        _ => &[],
    };
    let mut out = Vec::new();
    out.extend_from_slice(&query[..2]);
    out.extend_from_slice(if found.is_some() {
        &[0x81, 0x80]
    } else {
        &[0x81, 0x83]
    });
    out.extend_from_slice(&[0, 1]);
    out.extend_from_slice(&(txts.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(question);
    for txt in txts {
        let mut rdata = Vec::new();
        for chunk in txt.as_bytes().chunks(255) {
            rdata.push(chunk.len() as u8);
            rdata.extend_from_slice(chunk);
        }
        out.extend_from_slice(&[0xc0, 0x0c, 0, 16, 0, 1, 0, 0, 0, 60]);
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&rdata);
    }
    Some(out)
}
