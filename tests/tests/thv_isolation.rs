//! Network isolation end to end (`thv run`, default `--isolate-network`): the MCP server's container sits on an
//! internal network with the `thv-egress` sidecar as its only way out.
//!
//! - A real MCP server that fetches URLs (`uvx://mcp-server-fetch` from PyPI) with a profile allowing one
//!   server of the LAN (a network namespace, by its address): through the official Python MCP client, the
//!   allowed destination answers; another port, another host, the host itself (listed by address) and the
//!   engine's gateway (allowed by name) get 403 from the proxy.
//!   Inside the container: no direct route out, and only allowed names resolve. The isolation survives
//!   `thv stop`/`start`; `thv rm` removes the sidecar and the network.
//!
//! HTTP servers reached through the sidecar's published port: `thv_workloads::http_server_behind_the_transparent_proxy`.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener};

use serde_json::json;
use thv_e2e::netns::RemoteHost;
use thv_e2e::thv::{Thv, call, engine_image_and_python, inspect, podman, unique};

const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The host's address on its default route (what a container reaches the host by, not the gateway).
fn host_address() -> IpAddr {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    s.connect("192.0.2.250:9").unwrap();
    let ip = s.local_addr().unwrap().ip();
    assert!(!ip.is_loopback(), "no non-loopback host address");
    ip
}

/// A server on `host` answering every request with `body`; its port.
fn serve(host: IpAddr, body: &'static str) -> u16 {
    let listener = TcpListener::bind((host, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf);
                let _ = write!(
                    c,
                    "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}

fn fetch(py: &std::path::Path, url: &str, target: &str) -> (bool, String) {
    let v = call(
        py,
        url,
        "streamable-http",
        "fetch",
        &json!({"url": target, "raw": true, "max_length": 2000}),
    );
    let c = &v["calls"][0];
    (
        c["is_error"].as_bool().unwrap_or(true),
        c["text"].as_str().unwrap_or_default().to_owned(),
    )
}

fn podman_out(args: &[&str]) -> (bool, String) {
    let out = podman(args).output().expect("podman");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn exists(kind: &str, name: &str) -> bool {
    podman(&[kind, "exists", name])
        .status()
        .expect("podman")
        .success()
}

#[test]
fn fetch_server_reaches_only_what_its_profile_allows() {
    let Some(py) = engine_image_and_python(
        "localhost/thv-base-python:bookworm",
        "scripts/build-base-images.sh",
    ) else {
        return;
    };
    let Some(mut lan) = RemoteHost::new() else {
        return;
    };
    let lan_host = RemoteHost::ADDRESS;
    let allowed = lan.serve("allowed-destination");
    let forbidden = lan.serve("forbidden-destination");
    let host = host_address();
    let on_host = serve(host, "host-service");
    let thv = Thv::new();
    let profile = thv.home().join("profile.json");
    std::fs::write(
        &profile,
        json!({"network": {"outbound": {
            "allow_host": [lan_host, host.to_string(), "host.containers.internal", "pypi.org"],
            "allow_port": [allowed, on_host]
        }}})
        .to_string(),
    )
    .unwrap();
    let name = unique("iso-fetch");
    thv.ok(&[
        "run",
        "uvx://mcp-server-fetch",
        "--name",
        &name,
        "--ca-cert",
        CA_BUNDLE,
        "--permission-profile",
        profile.to_str().unwrap(),
        "--",
        "--ignore-robots-txt",
        "--allow-private-ips",
    ]);
    let url = thv.url(&name);
    let sidecar = format!("{name}-egress");
    let network = format!("toolhive-{name}-internal");

    let check_destinations = || {
        let (err, text) = fetch(&py, &url, &format!("http://{lan_host}:{allowed}/"));
        assert!(
            !err && text.contains("allowed-destination"),
            "the allowed destination answers: {text}"
        );
        for target in [
            format!("http://{lan_host}:{forbidden}/"),
            format!("http://{host}:{on_host}/"),
            format!("http://host.containers.internal:{on_host}/"),
            "http://example.com/".to_owned(),
        ] {
            let (err, text) = fetch(&py, &url, &target);
            assert!(
                err && text.contains("403")
                    && !text.contains("forbidden-destination")
                    && !text.contains("host-service"),
                "{target} is refused by the egress proxy: {text}"
            );
        }
    };
    check_destinations();

    // Inside the container: no route out, and only allowed names resolve (by the sidecar's DNS).
    let probe = format!(
        "import socket\n\
         for n in ['pypi.org', 'files.pythonhosted.org', 'leak-4f2a9c.example.net']:\n\
         \x20   try:\n\
         \x20       socket.getaddrinfo(n, 443); print(n, 'RESOLVED')\n\
         \x20   except OSError: print(n, 'UNKNOWN')\n\
         s = socket.socket(); s.settimeout(3)\n\
         try:\n\
         \x20   s.connect(('{lan_host}', {allowed})); print('DIRECT-CONNECTED')\n\
         except OSError as e: print('DIRECT-FAILED', e)\n"
    );
    let (ok, out) = podman_out(&["exec", &name, "python3", "-c", &probe]);
    assert!(ok, "{out}");
    assert!(out.contains("pypi.org RESOLVED"), "{out}");
    assert!(out.contains("files.pythonhosted.org UNKNOWN"), "{out}");
    assert!(out.contains("leak-4f2a9c.example.net UNKNOWN"), "{out}");
    assert!(
        out.contains("DIRECT-FAILED") && !out.contains("DIRECT-CONNECTED"),
        "{out}"
    );
    let c = inspect(&name);
    let networks: Vec<&String> = c["NetworkSettings"]["Networks"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(networks, vec![&network], "only on the internal network");
    let (_, log) = podman_out(&["logs", &sidecar]);
    assert!(log.contains("egress denied"), "{log}");

    // Stop and start: both containers, same isolation.
    thv.ok(&["stop", &name]);
    for c in [&name, &sidecar] {
        assert_eq!(inspect(c)["State"]["Running"], false, "{c} stopped");
    }
    thv.ok(&["start", &name]);
    assert_eq!(inspect(&sidecar)["State"]["Running"], true);
    check_destinations();

    // The sidecar removed behind thv's back: `thv start` makes the isolation again.
    thv.ok(&["stop", &name]);
    assert!(podman_out(&["rm", "-f", &sidecar]).0);
    thv.ok(&["start", &name]);
    check_destinations();

    thv.ok(&["rm", &name]);
    assert!(!exists("container", &name) && !exists("container", &sidecar));
    assert!(!exists("network", &network), "the network is removed");
}
