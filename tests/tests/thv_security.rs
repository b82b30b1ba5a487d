//! What a registry entry or a workload could take before, and may not now (real binaries, the real engine):
//!
//! - a registry entry's permission profile is a request: privileged, host networking and host mounts run only
//!   when the user grants them (`--grant`) or brings a profile of their own; `thv run` shows the profile;
//! - an isolated workload reaches no address of the host, no private address, no other container — under the
//!   allow-all profile, by literal (IPv4-mapped IPv6 included) or by name — unless an IP/CIDR entry of its
//!   profile names it; and no other container reaches an isolated HTTP server around its proxy.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener};

use serde_json::{Value, json};
use thv_e2e::netns::RemoteHost;
use thv_e2e::thv::{
    TEST_SERVER_IMAGE, Thv, ci, engine_has_image, engine_image_and_python, inspect, podman,
    test_server_entry, unique,
};

const BUSYBOX: &str = "localhost/thv-test-busybox:latest";

fn exists(kind: &str, name: &str) -> bool {
    podman(&[kind, "exists", name])
        .status()
        .expect("podman")
        .success()
}

/// A registry entry for the test image whose ToolHive extension asks for `permissions`.
fn entry_with_permissions(name: &str, permissions: Value) -> Value {
    let mut entry = test_server_entry(name, json!({}));
    entry["_meta"] = json!({"io.modelcontextprotocol.registry/publisher-provided": {"io.github.stacklok": {
        TEST_SERVER_IMAGE: {"status": "Active", "permissions": permissions}
    }}});
    entry
}

#[test]
fn registry_entries_only_request_privileges() {
    let Some(_py) = engine_image_and_python(TEST_SERVER_IMAGE, "scripts/build-test-images.sh")
    else {
        return;
    };
    let thv = Thv::new();
    let data = thv.home().join("shared-data");
    std::fs::create_dir_all(&data).unwrap();
    let data = data.to_str().unwrap().to_owned();
    let registry = thv.home().join("registry.json");
    let entries = json!([
        // What a publisher holding only its own namespace published in the report.
        entry_with_permissions(
            "com.example/greedy",
            json!({
                "privileged": true,
                "write": ["/:/host", "/run/podman/podman.sock:/var/run/docker.sock"],
                "network": {"mode": "host"}
            })
        ),
        entry_with_permissions(
            "com.example/tame",
            json!({
                "privileged": true,
                "read": [format!("{data}:/data")],
                "network": {"outbound": {"allow_host": ["api.example.com"], "allow_port": [443]}}
            })
        ),
    ]);
    std::fs::write(&registry, entries.to_string()).unwrap();
    thv.ok(&["config", "set-registry", registry.to_str().unwrap()]);

    let greedy = unique("greedy");
    let err = thv.fails(&["run", "greedy", "--name", &greedy]);
    for part in [
        "asks for privileges that were not granted",
        "a privileged container",
        "the network mode 'host'",
        "the host path '/' mounted at /host (read-write)",
        "the host path '/run/podman/podman.sock' mounted at /var/run/docker.sock",
        "--grant privileged --grant network=host --grant mount=/ --grant mount=/run/podman/podman.sock",
    ] {
        assert!(err.contains(part), "{part}: {err}");
    }
    assert!(!exists("container", &greedy), "nothing was created");

    // A volume name carrying mount options (Podman binds the host's /etc from `volume-opt=device=/etc`) is no
    // volume: refused before anything is made.
    let sneaky_registry = thv.home().join("sneaky.json");
    std::fs::write(
        &sneaky_registry,
        json!([entry_with_permissions("com.example/sneaky", json!({
            "read": ["volume://thv-e2e-sneaky,volume-opt=device=/etc,volume-opt=type=none,volume-opt=o=bind:/hostetc"]
        }))])
        .to_string(),
    )
    .unwrap();
    let sneaky = unique("sneaky");
    let err = thv.fails(&[
        "run",
        "sneaky",
        "--name",
        &sneaky,
        "--registry",
        sneaky_registry.to_str().unwrap(),
    ]);
    assert!(err.contains("read[0]") && err.contains("','"), "{err}");
    assert!(!exists("container", &sneaky));
    assert!(!exists("volume", "thv-e2e-sneaky"), "no volume was made");
    assert!(
        !thv.ok(&["list", "--all"]).contains(&greedy),
        "nothing was recorded"
    );

    // Granting part of it is not enough; granting all of it runs the entry as it asks, and says so first.
    let tame = unique("tame");
    let err = thv.fails(&["run", "tame", "--name", &tame, "--grant", "privileged"]);
    assert!(
        err.contains(&format!("--grant mount={data}")) && !err.contains("--grant privileged"),
        "{err}"
    );
    assert!(!exists("container", &tame));
    let bad = thv.fails(&["run", "tame", "--name", &tame, "--grant", "root"]);
    assert!(
        bad.contains("--grant") && bad.contains("privileged, network=MODE"),
        "{bad}"
    );
    let stderr = thv.ok_stderr(&[
        "run",
        "tame",
        "--name",
        &tame,
        "--grant",
        "privileged",
        "--grant",
        &format!("mount={data}"),
    ]);
    for part in [
        "permission profile requested by the registry entry com.example/tame:",
        "network: outbound to api.example.com on port 443",
        &format!("mounts: host {data} → /data (ro)"),
        "privileged: yes",
    ] {
        assert!(stderr.contains(part), "{part}: {stderr}");
    }
    let c = inspect(&tame);
    assert_eq!(c["HostConfig"]["Privileged"], true, "granted");
    assert!(
        c["Mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["Source"] == data.as_str() && m["Destination"] == "/data"),
        "{}",
        c["Mounts"]
    );

    // An exported RunConfig shared with someone is a request as well: run from the file, its privileges need
    // the same grants.
    let file = thv.home().join("tame.json");
    thv.ok(&["export", &tame, file.to_str().unwrap()]);
    thv.ok(&["rm", &tame]);
    let copy = unique("copy");
    let err = thv.fails(&[
        "run",
        "--from-config",
        file.to_str().unwrap(),
        "--name",
        &copy,
    ]);
    assert!(
        err.contains(&format!(
            "the RunConfig {} asks for privileges",
            file.display()
        )) && err.contains("--grant privileged"),
        "{err}"
    );
    assert!(!exists("container", &copy));
    let stderr = thv.ok_stderr(&[
        "run",
        "--from-config",
        file.to_str().unwrap(),
        "--name",
        &copy,
        "--grant",
        "privileged",
        "--grant",
        &format!("mount={data}"),
    ]);
    assert!(
        stderr.contains("permission profile from the RunConfig file:"),
        "{stderr}"
    );

    // The user's own profile replaces the request.
    let own = unique("own");
    let stderr = thv.ok_stderr(&[
        "run",
        "tame",
        "--name",
        &own,
        "--permission-profile",
        "none",
    ]);
    assert!(
        stderr.contains("permission profile 'none':") && stderr.contains("privileged: no"),
        "{stderr}"
    );
    assert_eq!(inspect(&own)["HostConfig"]["Privileged"], false);
}

/// A server on `addr` of the host answering "host-service"; its port.
fn serve_on_host(addr: IpAddr) -> u16 {
    let listener = TcpListener::bind((addr, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut buf = [0u8; 1024];
            let _ = c.read(&mut buf);
            let _ = c.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 12\r\n\r\nhost-service");
        }
    });
    port
}

/// The host's address on its default route.
fn host_address() -> IpAddr {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    s.connect("192.0.2.250:9").unwrap();
    s.local_addr().unwrap().ip()
}

/// Runs `script` in a container with `sh`; its output.
fn sh(container: &str, script: &str) -> String {
    let out = podman(&["exec", container, "sh", "-c", script])
        .output()
        .expect("podman exec");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The first line of the egress proxy's answer to `CONNECT target`, asked from inside `container`.
fn connect_through_proxy(container: &str, target: &str) -> String {
    let out = sh(
        container,
        &format!(
            "H=${{HTTP_PROXY#http://}}; printf 'CONNECT {target} HTTP/1.1\\r\\n\\r\\n' | nc -w 5 ${{H%:*}} 3128 | head -1"
        ),
    );
    out.trim().to_owned()
}

/// The egress proxy's answer to a plain-HTTP `GET url` (absolute form), asked from inside `container` (nc: the
/// test image's static wget cannot resolve).
fn get_through_proxy(container: &str, url: &str) -> String {
    sh(
        container,
        &format!(
            "H=${{HTTP_PROXY#http://}}; printf 'GET {url} HTTP/1.0\r\n\r\n' | nc -w 5 ${{H%:*}} 3128"
        ),
    )
}

/// A container's address on the engine's default network.
fn default_network_address(container: &str) -> String {
    let c = inspect(container);
    let networks = c["NetworkSettings"]["Networks"].as_object().unwrap();
    networks
        .iter()
        .find(|(name, _)| !name.ends_with("-internal"))
        .map(|(_, n)| n["IPAddress"].as_str().unwrap().to_owned())
        .expect("on the default network")
}

#[test]
fn isolated_workloads_reach_neither_the_host_nor_the_lan_nor_each_other() {
    let Some(py) = engine_image_and_python(BUSYBOX, "scripts/build-test-images.sh") else {
        return;
    };
    match engine_has_image(TEST_SERVER_IMAGE) {
        Ok(true) => {}
        _ => {
            if ci() {
                panic!("CI=true, but {TEST_SERVER_IMAGE} is missing");
            }
            return;
        }
    }
    let Some(mut lan) = RemoteHost::new() else {
        return;
    };
    let lan_port = lan.serve("lan-service");
    let host = host_address();
    let host_port = serve_on_host(host);
    let veth_port = serve_on_host(RemoteHost::HOST_SIDE.parse().unwrap());

    let thv = Thv::new();
    // Everything public, plus the one LAN machine named by address.
    let profile = thv.home().join("profile.json");
    std::fs::write(
        &profile,
        json!({"network": {"outbound": {
            "insecure_allow_all": true,
            "allow_host": [RemoteHost::ADDRESS]
        }}})
        .to_string(),
    )
    .unwrap();
    let prober = unique("prober");
    thv.ok(&[
        "run",
        BUSYBOX,
        "--name",
        &prober,
        "--transport",
        "stdio",
        "--permission-profile",
        profile.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "sleep 1000000",
    ]);
    // An isolated HTTP workload beside it.
    let web = unique("web");
    thv.ok(&[
        "run",
        TEST_SERVER_IMAGE,
        "--name",
        &web,
        "--transport",
        "streamable-http",
        "--target-port",
        "8080",
    ]);
    let web_sidecar = format!("{web}-egress");
    let web_address = default_network_address(&web_sidecar);
    // The sidecar's ingress listens on the server's port.
    let web_port = "8080";
    let gateway = inspect("podman")["subnets"][0]["gateway"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| "10.88.0.1".to_owned());

    // The explicitly named LAN machine answers, by literal and through plain HTTP.
    let out = get_through_proxy(
        &prober,
        &format!("http://{}:{lan_port}/", RemoteHost::ADDRESS),
    );
    assert!(out.contains("lan-service"), "{out}");
    assert!(
        connect_through_proxy(&prober, &format!("{}:{lan_port}", RemoteHost::ADDRESS))
            .contains("200"),
    );

    // Everything else is refused by the proxy, whatever the notation.
    let refused = [
        format!("{host}:{host_port}"),
        format!("{}:{veth_port}", RemoteHost::HOST_SIDE),
        format!("{gateway}:{host_port}"),
        format!("[::ffff:{gateway}]:{host_port}"),
        format!("[::ffff:127.0.0.1]:{host_port}"),
        format!("[::ffff:{host}]:{host_port}"),
        format!("[fd00::2]:{host_port}"),
        format!("198.51.100.3:{lan_port}"),
        format!("{web_address}:{web_port}"),
        format!("[::ffff:{web_address}]:{web_port}"),
        format!("host.containers.internal:{host_port}"),
        "169.254.169.254:80".to_owned(),
    ];
    for target in &refused {
        let answer = connect_through_proxy(&prober, target);
        assert!(answer.contains("403"), "CONNECT {target}: {answer}");
    }
    for url in [
        format!("http://{host}:{host_port}/"),
        format!("http://[::ffff:{gateway}]:{host_port}/"),
        format!("http://{web_address}:{web_port}/mcp"),
    ] {
        let out = get_through_proxy(&prober, &url);
        assert!(
            out.contains("403") && !out.contains("host-service"),
            "GET {url}: {out}"
        );
    }

    // No IPv6 in the workload: a link-local address needs no route, and the host's side of the internal
    // network answers on it (a server listening on every address of the host is reached that way otherwise).
    let any_port = serve_on_host("::".parse().unwrap());
    let bridge = inspect(&format!("toolhive-{prober}-internal"))["network_interface"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let out = std::process::Command::new("ip")
        .args(["-6", "-o", "addr", "show", "dev", &bridge, "scope", "link"])
        .output()
        .unwrap();
    let link_local = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find(|w| w.starts_with("fe80::"))
        .map(|w| w.split('/').next().unwrap().to_owned());
    assert_eq!(
        sh(&prober, "cat /proc/sys/net/ipv6/conf/all/disable_ipv6").trim(),
        "1",
        "IPv6 is off in the workload"
    );
    if let Some(ll) = link_local {
        let out = sh(
            &prober,
            &format!(
                "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {ll}%eth0 {any_port}; echo END"
            ),
        );
        assert!(
            !out.contains("host-service"),
            "reached the host over IPv6 link-local: {out}"
        );
    }

    // Another container of the default network is not served by the HTTP workload's sidecar (neither its
    // ingress nor its egress proxy), while the workload's own proxy works.
    let stranger = podman(&[
        "run",
        "--rm",
        BUSYBOX,
        "sh",
        "-c",
        &format!(
            "printf 'POST /mcp HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 2\\r\\n\\r\\n{{}}' | nc -w 5 {web_address} {web_port}; echo END-INGRESS; \
             printf 'CONNECT example.com:443 HTTP/1.1\\r\\n\\r\\n' | nc -w 5 {web_address} 3128; echo END-PROXY"
        ),
    ])
    .output()
    .unwrap();
    let out = String::from_utf8_lossy(&stranger.stdout).into_owned();
    assert!(
        out.trim_start().starts_with("END-INGRESS") && out.contains("END-INGRESS\nEND-PROXY"),
        "the sidecar answered a stranger: {out}"
    );
    let v = thv_e2e::thv::call(
        &py,
        &thv.url(&web),
        "streamable-http",
        "echo",
        &json!({"text": "through the proxy"}),
    );
    assert_eq!(v["calls"][0]["text"], "through the proxy");
    // The published port itself, on the host's loopback: a page reaching it by DNS rebinding names its own
    // host, and is refused; what thv's proxy sends passes.
    let published = inspect(&web_sidecar)["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostPort"]
        .as_str()
        .unwrap()
        .to_owned();
    let ask = |host: &str| {
        let mut c = std::net::TcpStream::connect(format!("127.0.0.1:{published}")).unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
        let _ = write!(
            c,
            "POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        out.lines().next().unwrap_or_default().to_owned()
    };
    let rebinding = ask(&format!("rebind.example:{published}"));
    assert!(rebinding.contains("403"), "{rebinding}");
    let direct = ask(&format!("127.0.0.1:{published}"));
    assert!(!direct.contains("403"), "{direct}");
    let log = String::from_utf8_lossy(&podman(&["logs", &web_sidecar]).output().unwrap().stderr)
        .into_owned()
        + &String::from_utf8_lossy(&podman(&["logs", &web_sidecar]).output().unwrap().stdout);
    assert!(
        log.contains("ingress: connection from outside the engine's port forwarding refused"),
        "{log}"
    );
}

/// Everything a workload creates is named after its container: `thv run --name col` beside a workload
/// `col-egress` would have replaced that workload's container with its sidecar. Refused now, before anything
/// is touched, as are the reverse, a foreign container of the name, and the loser of two concurrent runs.
#[test]
fn names_never_collide() {
    let Some(py) = engine_image_and_python(TEST_SERVER_IMAGE, "scripts/build-test-images.sh")
    else {
        return;
    };
    let thv = Thv::new();
    let base = unique("col");
    let egress_named = format!("{base}-egress");
    thv.ok(&["run", TEST_SERVER_IMAGE, "--name", &egress_named]);
    let id = inspect(&egress_named)["Id"].clone();
    let err = thv.fails(&["run", TEST_SERVER_IMAGE, "--name", &base]);
    assert!(
        err.contains(&format!(
            "the container '{egress_named}' of workload '{base}'"
        )) && err.contains("choose another --name"),
        "{err}"
    );
    assert!(!exists("container", &base), "nothing of {base} was made");
    assert!(!exists("network", &format!("toolhive-{base}-internal")));
    assert_eq!(
        inspect(&egress_named)["Id"],
        id,
        "the other workload is untouched"
    );
    assert_eq!(inspect(&egress_named)["State"]["Running"], true);
    let v = thv_e2e::thv::call(
        &py,
        &thv.url(&egress_named),
        "streamable-http",
        "echo",
        &json!({"text": "intact"}),
    );
    assert_eq!(v["calls"][0]["text"], "intact");

    // The other way round: a new workload named like an existing one's sidecar.
    let err = thv.fails(&[
        "run",
        TEST_SERVER_IMAGE,
        "--name",
        &format!("{egress_named}-egress"),
    ]);
    assert!(err.contains("would be workload"), "{err}");
    assert!(
        exists("container", &format!("{egress_named}-egress")),
        "its sidecar is intact"
    );

    // A container thv does not own.
    let foreign = unique("foreign");
    let foreign_sidecar = format!("{foreign}-egress");
    assert!(
        podman(&[
            "run",
            "-d",
            "--name",
            &foreign_sidecar,
            BUSYBOX,
            "sleep",
            "600"
        ])
        .status()
        .unwrap()
        .success()
    );
    let err = thv.fails(&["run", TEST_SERVER_IMAGE, "--name", &foreign]);
    assert!(
        err.contains(&format!(
            "a container named '{foreign_sidecar}' exists already (it is not thv's)"
        )),
        "{err}"
    );
    assert_eq!(inspect(&foreign_sidecar)["State"]["Running"], true);
    assert!(!exists("container", &foreign));
    let _ = podman(&["rm", "-f", "-t", "0", &foreign_sidecar]).status();

    // A network of the internal network's name that is not one (it has a way out) is not used, nor removed.
    let netted = unique("netted");
    let network = format!("toolhive-{netted}-internal");
    assert!(
        podman(&["network", "create", &network])
            .status()
            .unwrap()
            .success()
    );
    let err = thv.fails(&["run", TEST_SERVER_IMAGE, "--name", &netted]);
    assert!(err.contains("is not an internal network of thv's"), "{err}");
    assert!(!exists("container", &netted) && exists("network", &network));
    let _ = podman(&["network", "rm", "-f", &network]).status();

    // A foreign container that took a workload's name is not stopped or removed by thv.
    let taken = unique("taken");
    thv.ok(&["run", TEST_SERVER_IMAGE, "--name", &taken]);
    assert!(
        podman(&["rm", "-f", "-t", "0", &taken])
            .status()
            .unwrap()
            .success()
    );
    assert!(
        podman(&["run", "-d", "--name", &taken, BUSYBOX, "sleep", "600"])
            .status()
            .unwrap()
            .success()
    );
    let err = thv.fails(&["stop", &taken]);
    assert!(err.contains("is not workload"), "{err}");
    thv.ok(&["rm", &taken]);
    assert_eq!(
        inspect(&taken)["State"]["Running"],
        true,
        "the foreign container is left alone"
    );
    let _ = podman(&["rm", "-f", "-t", "0", &taken]).status();

    // An interrupted `thv run` (its containers made, nothing recorded): named as such, and `thv rm` clears it.
    let cut = unique("cut");
    thv.ok(&["run", TEST_SERVER_IMAGE, "--name", &cut]);
    for dir in ["runconfigs", "workloads"] {
        std::fs::remove_file(
            thv.home()
                .join(format!(".local/state/thv/{dir}/{cut}.json")),
        )
        .unwrap();
    }
    let err = thv.fails(&["run", TEST_SERVER_IMAGE, "--name", &cut]);
    assert!(
        err.contains(&format!(
            "left by an interrupted `thv run {cut}`: `thv rm {cut}` removes it"
        )),
        "{err}"
    );
    let out = thv.run(&["rm", &cut]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!exists("container", &cut) && !exists("container", &format!("{cut}-egress")));
    // The interrupted run's proxy (never recorded) sees its workload gone and ends instead of waiting forever.
    let serving = || {
        std::process::Command::new("pgrep")
            .args(["-f", &format!("proxy-serve {cut}$")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while serving() {
        assert!(
            std::time::Instant::now() < deadline,
            "the proxy of the removed workload {cut} still runs"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert!(!exists("network", &format!("toolhive-{cut}-internal")));
    // A run interrupted after making its internal network and before its containers leaves only the network:
    // `thv rm` said the workload does not exist, and the network stayed.
    let netonly = unique("netonly");
    let network = format!("toolhive-{netonly}-internal");
    assert!(
        podman(&[
            "network",
            "create",
            "--internal",
            "--label",
            "toolhive=true",
            &network
        ])
        .status()
        .unwrap()
        .success()
    );
    let out = thv.run(&["rm", &netonly]);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stderr).contains(&network),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!exists("network", &network));
    thv.ok(&["run", TEST_SERVER_IMAGE, "--name", &cut]);

    // Two runs of one name at once: one wins, the other is told so, and the winner is whole.
    let same = unique("same");
    let children: Vec<_> = (0..2)
        .map(|_| {
            thv.command(&["run", TEST_SERVER_IMAGE, "--name", &same])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let winners = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(winners, 1, "{outs:?}");
    let loser = outs.iter().find(|o| !o.status.success()).unwrap();
    let err = String::from_utf8_lossy(&loser.stderr);
    assert!(
        err.contains("exists already") || err.contains("being created by another `thv run`"),
        "{err}"
    );
    // The name carries the test's process id, which may itself contain "500".
    let unnamed = err.replace(&same, "<name>");
    assert!(
        !unnamed.contains("500") && !unnamed.contains("conflict"),
        "{err}"
    );
    let v = thv_e2e::thv::call(
        &py,
        &thv.url(&same),
        "streamable-http",
        "echo",
        &json!({"text": "winner"}),
    );
    assert_eq!(v["calls"][0]["text"], "winner");
}

/// Every file under `dir` (recursively) that contains `needle`.
fn files_containing(dir: &std::path::Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(files_containing(&path, needle));
        } else if std::fs::read(&path).is_ok_and(|b| String::from_utf8_lossy(&b).contains(needle)) {
            out.push(path);
        }
    }
    out
}

/// A secret given in plain (`-e` for a variable the registry marks secret) goes to the secret store, not the
/// RunConfig; `thv logs` shows neither a stdio server's MCP stream (tool results) nor any secret value it can
/// find; the proxy log is the user's alone and hides the values too — also of `TOOLHIVE_SECRET_<NAME>`.
#[test]
fn secret_values_stay_out_of_configs_and_logs() {
    let Some(py) = engine_image_and_python(TEST_SERVER_IMAGE, "scripts/build-test-images.sh")
    else {
        return;
    };
    let thv = Thv::new();
    let registry = thv.home().join("registry.json");
    let entry = test_server_entry(
        "com.example/echo-secret",
        json!({"environmentVariables": [{"name": "API_TOKEN", "isRequired": true, "isSecret": true}]}),
    );
    std::fs::write(&registry, json!([entry]).to_string()).unwrap();
    thv.ok(&["config", "set-registry", registry.to_str().unwrap()]);

    let plain = "plain-secret-7f3a9c";
    let name = unique("plain");
    // Audit events with the response data, to the proxy log: the tool's answer carries the value.
    let audit = thv.home().join("audit.json");
    std::fs::write(
        &audit,
        r#"{"include_request_data":true,"include_response_data":true}"#,
    )
    .unwrap();
    let stderr = thv.ok_stderr(&[
        "run",
        "echo-secret",
        "--name",
        &name,
        "-e",
        &format!("API_TOKEN={plain}"),
        "--audit-config",
        audit.to_str().unwrap(),
    ]);
    assert!(stderr.contains("keeps it in its secret store"), "{stderr}");
    let url = thv.url(&name);
    assert_eq!(
        thv_e2e::thv::call_tool(
            &py,
            &url,
            "streamable-http",
            "env",
            &json!({"name": "API_TOKEN"})
        ),
        plain,
        "the server gets the value"
    );
    // A request carrying the value (audited with its data) too.
    assert_eq!(
        thv_e2e::thv::call_tool(
            &py,
            &url,
            "streamable-http",
            "echo",
            &json!({"text": plain})
        ),
        plain
    );
    let proxy_log =
        std::fs::read_to_string(thv.home().join(format!(".local/state/thv/logs/{name}.log")))
            .unwrap();
    assert!(
        proxy_log.contains("[redacted: secret") && !proxy_log.contains(plain),
        "audit events keep no secret value: {proxy_log}"
    );
    let reference = format!("thv.{name}.API_TOKEN");
    let exported = thv.ok(&["export", &name, "-"]);
    assert!(
        !exported.contains(plain) && exported.contains(&reference),
        "{exported}"
    );
    assert_eq!(
        files_containing(&thv.home().join(".local/state"), plain),
        Vec::<std::path::PathBuf>::new(),
        "no state file holds the value"
    );
    assert!(thv.ok(&["secret", "list"]).contains(&reference));
    // The tool result above went out on the server's stdout: not a log.
    let out = thv.run(&["logs", &name]);
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && !shown.contains(plain), "{shown}");
    thv.ok(&["rm", &name]);
    assert!(
        !thv.ok(&["secret", "list"]).contains(&reference),
        "the stored value goes with the workload"
    );

    // A secret from the environment provider, printed by the server to its stderr, under debug logging.
    let env_secret = "env-secret-value-91b2";
    let bb = unique("envsecret");
    let out = thv
        .command(&[
            "run",
            BUSYBOX,
            "--name",
            &bb,
            "--transport",
            "stdio",
            "--secret",
            "tok,target=TOKEN",
            "--",
            "sh",
            "-c",
            "while true; do echo \"token is $TOKEN\" >&2; sleep 1; done",
        ])
        .env("TOOLHIVE_SECRET_TOK", env_secret)
        .env("THV_LOG", "thv=debug,warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(std::time::Duration::from_secs(3));
    let logs = thv
        .command(&["logs", &bb])
        .env("TOOLHIVE_SECRET_TOK", env_secret)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&logs.stderr);
    assert!(
        shown.contains("token is [redacted: secret tok]") && !shown.contains(env_secret),
        "{shown}"
    );
    let proxy_log = thv.home().join(format!(".local/state/thv/logs/{bb}.log"));
    let text = std::fs::read_to_string(&proxy_log).unwrap();
    assert!(
        text.contains("[redacted: secret tok]") && !text.contains(env_secret),
        "{text}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&proxy_log).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the proxy log is the user's alone");
    assert_eq!(
        files_containing(thv.home(), env_secret),
        Vec::<std::path::PathBuf>::new(),
        "the value is in no file of thv's"
    );
}

/// The sidecar reads the host's addresses when it is made: a workload started again after the host got a new
/// address refuses it (before, it kept what it read at its first start, even across `thv restart`).
#[test]
fn a_host_address_added_later_is_refused_from_the_next_start() {
    if engine_image_and_python(BUSYBOX, "scripts/build-test-images.sh").is_none() {
        return;
    }
    let id = std::process::id() % 100_000;
    let dummy = format!("thvd{id}");
    let address = "100.128.77.1";
    let _ = std::process::Command::new("ip")
        .args(["link", "del", &dummy])
        .stderr(std::process::Stdio::null())
        .status();
    // A veth pair (the `dummy` link type may be missing): an address on its end is one more of the host's.
    let added = std::process::Command::new("ip")
        .args([
            "link",
            "add",
            &dummy,
            "type",
            "veth",
            "peer",
            "name",
            &format!("{dummy}p"),
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !added {
        assert!(!ci(), "CI=true, but `ip link add` failed (needs root)");
        return;
    }
    struct Dummy(String);
    impl Drop for Dummy {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip")
                .args(["link", "del", &self.0])
                .status();
        }
    }
    let _dummy = Dummy(dummy.clone());
    let thv = Thv::new();
    let profile = thv.home().join("all.json");
    std::fs::write(
        &profile,
        r#"{"network":{"outbound":{"insecure_allow_all":true}}}"#,
    )
    .unwrap();
    let name = unique("later");
    thv.ok(&[
        "run",
        BUSYBOX,
        "--name",
        &name,
        "--transport",
        "stdio",
        "--permission-profile",
        profile.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "sleep 1000000",
    ]);
    let peer = format!("{dummy}p");
    for args in [
        vec!["addr", "add", &format!("{address}/32"), "dev", &dummy],
        vec!["link", "set", &dummy, "up"],
        vec!["link", "set", &peer, "up"],
    ] {
        assert!(
            std::process::Command::new("ip")
                .args(&args)
                .status()
                .unwrap()
                .success()
        );
    }
    let port = serve_on_host(address.parse().unwrap());
    thv.ok(&["restart", &name]);
    let answer = connect_through_proxy(&name, &format!("{address}:{port}"));
    assert!(answer.contains("403"), "{answer}");
}

/// `--allow-docker-gateway` lets an isolated workload reach the host — by its address and by the engine's name
/// for it — when the profile names it; without the flag the same profile is refused.
#[test]
fn the_host_only_with_allow_docker_gateway() {
    if engine_image_and_python(BUSYBOX, "scripts/build-test-images.sh").is_none() {
        return;
    }
    let host = host_address();
    // On every address of the host: by name the engine's gateway address is reached.
    let port = serve_on_host("0.0.0.0".parse().unwrap());
    let thv = Thv::new();
    let profile = thv.home().join("host.json");
    std::fs::write(
        &profile,
        json!({"network": {"outbound": {
            "allow_host": [host.to_string(), "host.containers.internal"],
            "allow_port": [port]
        }}})
        .to_string(),
    )
    .unwrap();
    let run = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "run",
            BUSYBOX,
            "--name",
            name,
            "--transport",
            "stdio",
            "--permission-profile",
            profile.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "sh", "-c", "sleep 1000000"]);
        thv.ok(&args);
    };
    let (closed, open) = (unique("gw-closed"), unique("gw-open"));
    run(&closed, &[]);
    run(&open, &["--allow-docker-gateway"]);
    let by_address = format!("http://{host}:{port}/");
    let by_name = format!("http://host.containers.internal:{port}/");
    for url in [&by_address, &by_name] {
        let out = get_through_proxy(&closed, url);
        assert!(
            out.contains("403") && !out.contains("host-service"),
            "{url}: {out}"
        );
        let out = get_through_proxy(&open, url);
        assert!(
            out.contains("host-service"),
            "{url} with --allow-docker-gateway: {out}"
        );
    }
}
