//! A network namespace standing for another machine of the LAN, for tests of what an isolated workload may
//! reach: only loopback and namespaces the tests make themselves are test targets here.

use std::process::{Child, Command, Stdio};

use crate::thv::skip;

/// A network namespace standing for another machine of the LAN: `198.51.100.2`, behind a veth pair whose host
/// side (`198.51.100.1`) is one more address of the host. Removed on drop.
pub struct RemoteHost {
    ns: String,
    veth: String,
    servers: Vec<Child>,
}

impl RemoteHost {
    pub const ADDRESS: &'static str = "198.51.100.2";
    pub const HOST_SIDE: &'static str = "198.51.100.1";

    /// Made with `ip` (root); `None` (skip) or, under `CI=true`, a panic when that is not possible.
    pub fn new() -> Option<Self> {
        let id = std::process::id() % 100_000;
        let (ns, veth, peer) = (
            format!("thv-e2e-{id}"),
            format!("thve{id}h"),
            format!("thve{id}n"),
        );
        let ip = |args: &[&str]| {
            Command::new("ip").args(args).output().map(|o| {
                (
                    o.status.success(),
                    String::from_utf8_lossy(&o.stderr).into_owned(),
                )
            })
        };
        remove_stale();
        let _ = ip(&["netns", "del", &ns]);
        let _ = ip(&["link", "del", &veth]);
        let host = Self {
            ns: ns.clone(),
            veth: veth.clone(),
            servers: Vec::new(),
        };
        let steps: Vec<Vec<&str>> = vec![
            vec!["netns", "add", &ns],
            vec!["link", "add", &veth, "type", "veth", "peer", "name", &peer],
            vec!["link", "set", &peer, "netns", &ns],
            vec!["addr", "add", "198.51.100.1/30", "dev", &veth],
            vec!["link", "set", &veth, "up"],
            vec!["-n", &ns, "addr", "add", "198.51.100.2/30", "dev", &peer],
            vec!["-n", &ns, "link", "set", &peer, "up"],
            vec!["-n", &ns, "link", "set", "lo", "up"],
            vec!["-n", &ns, "route", "add", "default", "via", "198.51.100.1"],
        ];
        for step in steps {
            match ip(&step) {
                Ok((true, _)) => {}
                Ok((false, err)) => return skip(&format!("ip {step:?}: {err} (needs root)")),
                Err(e) => return skip(&format!("no `ip` command: {e}")),
            }
        }
        Some(host)
    }

    /// An HTTP server in the namespace answering `body`; its port.
    pub fn serve(&mut self, body: &str) -> u16 {
        // The namespace has ports of its own, all free: no port picked on the host and handed over (a race).
        let port = 8000 + self.servers.len() as u16;
        let script = format!(
            "import http.server\n\
             class H(http.server.BaseHTTPRequestHandler):\n\
             \x20   def do_GET(self):\n\
             \x20       b = {body:?}.encode()\n\
             \x20       self.send_response(200); self.send_header('Content-Length', str(len(b))); self.end_headers(); self.wfile.write(b)\n\
             http.server.HTTPServer(('{}', {port}), H).serve_forever()\n",
            Self::ADDRESS
        );
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, "python3", "-c", &script])
            .stdout(Stdio::null())
            .spawn()
            .expect("python3 in the namespace");
        self.servers.push(child);
        let addr = std::net::SocketAddr::new(Self::ADDRESS.parse().unwrap(), port);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(200))
            .is_err()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the server in {} did not start",
                self.ns
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        port
    }
}

impl Drop for RemoteHost {
    fn drop(&mut self) {
        for c in &mut self.servers {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.veth])
            .status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

/// Removes what an earlier test process that died left (its namespace and veth pair, by its process id).
fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["-o", "link", "show"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line
            .split(": ")
            .nth(1)
            .map(|n| n.split('@').next().unwrap_or(n))
        else {
            continue;
        };
        let Some(id) = name.strip_prefix("thve").and_then(|r| r.strip_suffix('h')) else {
            continue;
        };
        if std::path::Path::new(&format!("/proc/{id}")).exists() {
            continue;
        }
        let _ = Command::new("ip").args(["link", "del", name]).status();
        let _ = Command::new("ip")
            .args(["netns", "del", &format!("thv-e2e-{id}")])
            .status();
    }
}
