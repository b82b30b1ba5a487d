//! The container runtime against a real engine (Docker, or Podman's API socket: `scripts/setup-podman.sh`) and
//! the local test image `localhost/thv-test-busybox:latest` (`scripts/build-test-images.sh`).
//!
//! When no engine answers or the image is missing, each test prints why and returns (skips), except under
//! `CI=true`, where it fails with the reason. Every container gets a unique `thv-test-…` name and is removed by
//! a guard, even when the test fails.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use thv::runtime::docker::{Candidate, DockerRuntime, Endpoint};
use thv::runtime::{NetworkMode, Runtime, RuntimeError, SpecError, WorkloadSpec, WorkloadState};
use thv_core::runconfig::{Mount, MountSource, RunConfig, TransportType};
use thv_core::toolhive::PermissionProfile;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const IMAGE: &str = "localhost/thv-test-busybox:latest";
const WAIT: Duration = Duration::from_secs(30);

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A test that cannot run here: recorded (`scripts/test.sh` counts it), or under `CI=true` a panic.
fn skip(why: &str) {
    if ci() {
        panic!("CI=true, but the runtime tests cannot run: {why}");
    }
    thv_e2e::record_skip(why);
}

/// The engine and the test image, or `None` (skip) with the reason printed; under `CI=true` a panic.
async fn engine() -> Option<DockerRuntime> {
    let skip = |why: String| skip(&why);
    let rt = match DockerRuntime::connect().await {
        Ok(rt) => rt,
        Err(e) => {
            skip(format!(
                "{e}\n(run `eval \"$(scripts/setup-podman.sh)\"` to start Podman's API socket)"
            ));
            return None;
        }
    };
    match rt.image_exists(IMAGE).await {
        Ok(true) => Some(rt),
        Ok(false) => {
            skip(format!(
                "the test image {IMAGE} is missing (run scripts/build-test-images.sh)"
            ));
            None
        }
        Err(e) => {
            skip(format!("cannot inspect the image {IMAGE}: {e}"));
            None
        }
    }
}

/// A unique container name.
fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "thv-test-{}-{}-{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Removes the containers it names when dropped (also when the test panics), through its own connection.
struct Cleanup {
    endpoint: Endpoint,
    names: Vec<String>,
}

impl Cleanup {
    fn new(rt: &DockerRuntime) -> Self {
        Self {
            endpoint: rt.endpoint().clone(),
            names: Vec::new(),
        }
    }

    fn name(&mut self, tag: &str) -> String {
        let n = unique(tag);
        self.names.push(n.clone());
        n
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let endpoint = self.endpoint.clone();
        let names = std::mem::take(&mut self.names);
        if names.is_empty() {
            return;
        }
        // A thread with its own runtime: this may run while the test's runtime is unwinding.
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(async move {
                let Ok(engine) = DockerRuntime::connect_to(&endpoint).await else {
                    eprintln!("cleanup: cannot reach {endpoint}; left behind: {names:?}");
                    return;
                };
                for n in names {
                    match engine.remove(&n, true).await {
                        Ok(()) | Err(RuntimeError::NotFound(_)) => {}
                        Err(e) => eprintln!("cleanup: could not remove {n}: {e}"),
                    }
                }
            });
        });
        let _ = handle.join();
    }
}

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {} s: {what}", WAIT.as_secs()))
}

/// Waits until the container is no longer running.
async fn wait_exited(rt: &DockerRuntime, id: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let info = rt.inspect(id).await.expect("inspect");
        if matches!(info.state, WorkloadState::Stopped | WorkloadState::Dead) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{id} still {} after {} s",
            info.state,
            WAIT.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A container that runs `sh -c SCRIPT` to the end; returns its log lines.
async fn run_script(
    rt: &DockerRuntime,
    cleanup: &mut Cleanup,
    tag: &str,
    script: &str,
    customize: impl FnOnce(&mut WorkloadSpec),
) -> Vec<String> {
    let mut spec = WorkloadSpec::new(cleanup.name(tag), IMAGE);
    spec.cmd = vec!["sh".into(), "-c".into(), script.into()];
    customize(&mut spec);
    let id = within("create", rt.create_and_start(&spec))
        .await
        .expect("create_and_start");
    wait_exited(rt, id.as_str()).await;
    within("logs", rt.log_lines(id.as_str()))
        .await
        .expect("logs")
}

fn stdio_run_config(name: &str, profile: PermissionProfile) -> RunConfig {
    let mut rc = RunConfig::new(name, TransportType::Stdio);
    rc.image = Some(IMAGE.into());
    rc.cmd_args = vec!["cat".into()];
    rc.permission_profile = Some(profile);
    rc.apply_standard_labels();
    rc
}

#[tokio::test]
async fn version_and_ping() {
    let Some(rt) = engine().await else { return };
    rt.ping().await.expect("ping");
    let v = rt.version().await.expect("version");
    eprintln!("engine: {v:?}");
    assert!(!v.version.is_empty(), "{v:?}");
    assert!(v.api_version.starts_with("1."), "{v:?}");
    assert!(!v.engine.is_empty());
}

#[tokio::test]
async fn stdio_container_round_trip_labels_and_list() {
    let Some(rt) = engine().await else { return };
    let mut cleanup = Cleanup::new(&rt);
    let name = cleanup.name("stdio");
    let mut rc = stdio_run_config(&name, PermissionProfile::none());
    rc.container_labels
        .insert("thv-test".into(), "stdio".into());
    let spec = WorkloadSpec::from_run_config(&rc, &BTreeMap::new()).expect("spec");
    assert_eq!(spec.network, NetworkMode::None);
    let id = within("create", rt.create_and_start(&spec))
        .await
        .expect("create_and_start");

    // The stdio pattern the proxy needs: JSON-RPC lines in, the same lines out (cat).
    let attached = within("attach", rt.attach_stdio(id.as_str()))
        .await
        .expect("attach");
    let mut stdin = attached.stdin;
    let mut stdout = BufReader::new(attached.stdout);
    for i in 1..=3 {
        let msg = format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"tools/list","params":{{}}}}"#);
        stdin
            .write_all(format!("{msg}\n").as_bytes())
            .await
            .expect("write");
        stdin.flush().await.expect("flush");
        let mut line = String::new();
        within("read the echoed line", stdout.read_line(&mut line))
            .await
            .expect("read");
        assert_eq!(line.trim_end(), msg);
    }

    let info = rt.inspect(&name).await.expect("inspect");
    assert_eq!(info.id, id);
    assert_eq!(info.name, name);
    assert_eq!(info.state, WorkloadState::Running);
    assert_eq!(
        info.labels.get("toolhive").map(String::as_str),
        Some("true")
    );
    assert_eq!(info.labels.get("toolhive-name"), Some(&name));
    assert_eq!(
        info.labels.get("toolhive-transport").map(String::as_str),
        Some("stdio")
    );
    assert_eq!(
        info.labels.get("thv-test").map(String::as_str),
        Some("stdio")
    );
    assert!(info.ports.is_empty());

    // An unmanaged container (created directly, labelled toolhive=false) is not listed.
    let unmanaged = cleanup.name("unmanaged");
    let body = bollard::models::ContainerCreateBody {
        image: Some(IMAGE.into()),
        cmd: Some(vec!["true".into()]),
        labels: Some([("toolhive".to_owned(), "false".to_owned())].into()),
        ..Default::default()
    };
    rt.client()
        .create_container(
            Some(bollard::query_parameters::CreateContainerOptions {
                name: Some(unmanaged.clone()),
                ..Default::default()
            }),
            body,
        )
        .await
        .expect("create unmanaged");
    let listed = rt.list().await.expect("list");
    assert!(
        listed.iter().any(|w| w.name == name && w.id == id),
        "{name} not listed: {listed:?}"
    );
    assert!(
        !listed.iter().any(|w| w.name == unmanaged),
        "unmanaged container listed: {listed:?}"
    );
    assert!(listed.iter().all(|w| w.is_managed()));
    let mine = listed.iter().find(|w| w.name == name).unwrap();
    assert_eq!(mine.state, WorkloadState::Running);
    assert_eq!(mine.labels.get("toolhive-name"), Some(&name));
}

#[tokio::test]
async fn env_vars_reach_the_container_and_logs_have_both_streams() {
    let Some(rt) = engine().await else { return };
    let mut cleanup = Cleanup::new(&rt);
    let lines = run_script(
        &rt,
        &mut cleanup,
        "env",
        r#"echo "FOO=$FOO"; echo "to-stderr" >&2; echo "MCP_TRANSPORT=$MCP_TRANSPORT""#,
        |s| {
            s.env.insert("FOO".into(), "bar baz".into());
            s.env.insert("MCP_TRANSPORT".into(), "stdio".into());
        },
    )
    .await;
    assert!(lines.contains(&"FOO=bar baz".to_owned()), "{lines:?}");
    assert!(lines.contains(&"to-stderr".to_owned()), "{lines:?}");
    assert!(
        lines.contains(&"MCP_TRANSPORT=stdio".to_owned()),
        "{lines:?}"
    );
}

#[tokio::test]
async fn logs_follow_streams_until_the_container_exits() {
    let Some(rt) = engine().await else { return };
    let mut cleanup = Cleanup::new(&rt);
    let mut spec = WorkloadSpec::new(cleanup.name("follow"), IMAGE);
    spec.cmd = vec![
        "sh".into(),
        "-c".into(),
        "echo one; sleep 1; echo two; sleep 1; echo three".into(),
    ];
    let id = within("create", rt.create_and_start(&spec))
        .await
        .expect("create_and_start");
    let stream = rt.logs(id.as_str(), true).await.expect("logs");
    let lines: Vec<String> = within(
        "follow until exit",
        stream.map(|l| l.expect("log line").text).collect(),
    )
    .await;
    assert_eq!(lines, vec!["one", "two", "three"]);
}

#[tokio::test]
async fn read_mounts_are_read_only_and_write_mounts_writable() {
    let Some(rt) = engine().await else { return };
    let mut cleanup = Cleanup::new(&rt);
    let ro = tempfile::tempdir().unwrap();
    let rw = tempfile::tempdir().unwrap();
    std::fs::write(ro.path().join("hello.txt"), "hello from the host\n").unwrap();
    let profile = PermissionProfile {
        read: Some(vec![format!("{}:/data/ro", ro.path().display())]),
        write: Some(vec![format!("{}:/data/rw", rw.path().display())]),
        ..PermissionProfile::none()
    };
    let name = cleanup.name("mounts");
    let mut rc = stdio_run_config(&name, profile);
    rc.cmd_args = vec![
        "sh".into(),
        "-c".into(),
        "cat /data/ro/hello.txt; \
         if echo x > /data/ro/new 2>/dev/null; then echo RO-WRITABLE; else echo RO-DENIED; fi; \
         echo written > /data/rw/out && echo RW-OK"
            .into(),
    ];
    let spec = WorkloadSpec::from_run_config(&rc, &BTreeMap::new()).expect("spec");
    let id = within("create", rt.create_and_start(&spec))
        .await
        .expect("create_and_start");
    wait_exited(&rt, id.as_str()).await;
    let lines = rt.log_lines(id.as_str()).await.expect("logs");
    assert!(
        lines.contains(&"hello from the host".to_owned()),
        "{lines:?}"
    );
    assert!(lines.contains(&"RO-DENIED".to_owned()), "{lines:?}");
    assert!(lines.contains(&"RW-OK".to_owned()), "{lines:?}");
    assert!(!ro.path().join("new").exists());
    assert_eq!(
        std::fs::read_to_string(rw.path().join("out")).unwrap(),
        "written\n"
    );
}

#[tokio::test]
async fn network_none_has_only_loopback_and_bridge_has_more() {
    let Some(rt) = engine().await else { return };
    let mut cleanup = Cleanup::new(&rt);
    let interfaces = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .filter_map(|l| l.split_once(':').map(|(i, _)| i.trim().to_owned()))
            .filter(|i| !i.contains('|') && !i.is_empty())
            .collect()
    };
    // The `none` profile (outbound fully closed) on a stdio server: no network.
    let name = cleanup.name("netnone");
    let mut rc = stdio_run_config(&name, PermissionProfile::none());
    rc.cmd_args = vec!["cat".into(), "/proc/net/dev".into()];
    let spec = WorkloadSpec::from_run_config(&rc, &BTreeMap::new()).unwrap();
    assert_eq!(spec.network, NetworkMode::None);
    let id = within("create", rt.create_and_start(&spec)).await.unwrap();
    wait_exited(&rt, id.as_str()).await;
    let lines = rt.log_lines(id.as_str()).await.unwrap();
    assert_eq!(interfaces(&lines), vec!["lo"], "{lines:?}");

    // The `network` profile: the bridge, so an interface besides lo.
    let name = cleanup.name("netbridge");
    let mut rc = stdio_run_config(&name, PermissionProfile::network());
    rc.cmd_args = vec!["cat".into(), "/proc/net/dev".into()];
    let spec = WorkloadSpec::from_run_config(&rc, &BTreeMap::new()).unwrap();
    assert_eq!(spec.network, NetworkMode::Bridge);
    let id = within("create", rt.create_and_start(&spec)).await.unwrap();
    wait_exited(&rt, id.as_str()).await;
    let lines = rt.log_lines(id.as_str()).await.unwrap();
    let ifs = interfaces(&lines);
    assert!(ifs.contains(&"lo".to_owned()) && ifs.len() > 1, "{lines:?}");
}

/// GET / on 127.0.0.1:port, HTTP/1.0; retried until the server answers.
async fn http_get(port: u16) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let attempt = async {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
            s.write_all(b"GET /index.html HTTP/1.0\r\nHost: localhost\r\n\r\n")
                .await?;
            let mut out = String::new();
            s.read_to_string(&mut out).await?;
            Ok::<_, std::io::Error>(out)
        };
        match tokio::time::timeout(Duration::from_secs(5), attempt).await {
            Ok(Ok(body)) if body.starts_with("HTTP/") => return body,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "127.0.0.1:{port} did not answer: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

#[tokio::test]
async fn http_server_port_is_published_on_loopback() {
    let Some(rt) = engine().await else { return };
    let mut cleanup = Cleanup::new(&rt);
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("index.html"), "thv-port-mapping-ok\n").unwrap();
    let name = cleanup.name("http");
    let mut rc = RunConfig::new(&name, TransportType::StreamableHttp);
    rc.image = Some(IMAGE.into());
    rc.cmd_args = ["httpd", "-f", "-p", "8080", "-h", "/www"]
        .map(String::from)
        .to_vec();
    rc.set_target_port(8080);
    rc.permission_profile = Some(PermissionProfile {
        read: Some(vec![format!("{}:/www", www.path().display())]),
        ..PermissionProfile::network()
    });
    let spec = WorkloadSpec::from_run_config(&rc, &BTreeMap::new()).unwrap();
    assert_eq!(spec.ports.len(), 1);
    let id = within("create", rt.create_and_start(&spec)).await.unwrap();
    let info = rt.inspect(id.as_str()).await.unwrap();
    let port = info
        .host_port(8080)
        .unwrap_or_else(|| panic!("8080 not published: {info:?}"));
    assert!(
        info.ports[&8080].iter().all(|b| b.host_ip == "127.0.0.1"),
        "{info:?}"
    );
    let body = within("http get", http_get(port)).await;
    assert!(body.contains("thv-port-mapping-ok"), "{body}");
    // The listing reports the binding too.
    let listed = rt.list().await.unwrap();
    let mine = listed.iter().find(|w| w.id == id).expect("listed");
    assert_eq!(mine.host_port(8080), Some(port), "{mine:?}");
}

#[tokio::test]
async fn stop_start_remove() {
    let Some(rt) = engine().await else { return };
    let mut cleanup = Cleanup::new(&rt);
    let name = cleanup.name("lifecycle");
    let rc = stdio_run_config(&name, PermissionProfile::none());
    let spec = WorkloadSpec::from_run_config(&rc, &BTreeMap::new()).unwrap();
    let id = within("create", rt.create_and_start(&spec)).await.unwrap();
    assert_eq!(
        rt.inspect(&name).await.unwrap().state,
        WorkloadState::Running
    );

    within("stop", rt.stop(id.as_str(), Duration::from_secs(1)))
        .await
        .expect("stop");
    let info = rt.inspect(id.as_str()).await.unwrap();
    assert_eq!(info.state, WorkloadState::Stopped, "{info:?}");
    // Stopping a stopped container is fine.
    within("stop again", rt.stop(id.as_str(), Duration::from_secs(1)))
        .await
        .expect("stop again");

    within("start", rt.start(id.as_str())).await.expect("start");
    assert_eq!(
        rt.inspect(id.as_str()).await.unwrap().state,
        WorkloadState::Running
    );
    // The restarted stdio server is attachable again.
    let attached = rt.attach_stdio(id.as_str()).await.expect("attach");
    let mut stdin = attached.stdin;
    let mut stdout = BufReader::new(attached.stdout);
    stdin
        .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":7}\n")
        .await
        .unwrap();
    stdin.flush().await.unwrap();
    let mut line = String::new();
    within("read after restart", stdout.read_line(&mut line))
        .await
        .unwrap();
    assert_eq!(line, "{\"jsonrpc\":\"2.0\",\"id\":7}\n");

    // A name already in use is a conflict.
    let err = rt.create_and_start(&spec).await.unwrap_err();
    assert!(matches!(err, RuntimeError::Conflict(_)), "{err:?}");

    within("remove", rt.remove(id.as_str(), true))
        .await
        .expect("remove");
    assert!(matches!(
        rt.inspect(id.as_str()).await,
        Err(RuntimeError::NotFound(_))
    ));
    assert!(!rt.list().await.unwrap().iter().any(|w| w.id == id));
}

#[tokio::test]
async fn missing_container_and_image_are_clear_errors() {
    let Some(rt) = engine().await else { return };
    let missing = unique("missing");
    let err = rt.inspect(&missing).await.unwrap_err();
    assert!(
        matches!(&err, RuntimeError::NotFound(n) if *n == missing),
        "{err:?}"
    );
    assert_eq!(err.to_string(), format!("workload '{missing}' not found"));
    for r in [
        rt.stop(&missing, Duration::from_secs(1)).await,
        rt.start(&missing).await,
        rt.remove(&missing, true).await,
    ] {
        assert!(matches!(r, Err(RuntimeError::NotFound(_))), "{r:?}");
    }
    assert!(matches!(
        rt.logs(&missing, false).await.err(),
        Some(RuntimeError::NotFound(_))
    ));

    assert!(
        !rt.image_exists("localhost/thv-no-such-image:never")
            .await
            .unwrap()
    );
    // Creating from a missing image names the image (and leaves no container behind).
    let mut cleanup = Cleanup::new(&rt);
    let spec = WorkloadSpec::new(cleanup.name("noimage"), "localhost/thv-no-such-image:never");
    let err = within("create without image", rt.create_and_start(&spec))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RuntimeError::ImageNotFound(i) if i == "localhost/thv-no-such-image:never"),
        "{err:?}"
    );
    assert!(matches!(
        rt.inspect(&spec.name).await,
        Err(RuntimeError::NotFound(_))
    ));
}

/// A minimal engine on a Unix socket that answers `/version` and counts every other request: proves that an
/// invalid spec is refused before any engine call (needs no real engine).
#[tokio::test]
async fn invalid_mounts_are_refused_before_any_engine_call() {
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("fake-engine.sock");
    let listener = tokio::net::UnixListener::bind(&sock).unwrap();
    let others = Arc::new(AtomicUsize::new(0));
    let counter = others.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(&mut conn);
                loop {
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    // Skip the headers (no request here has a body).
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).await.unwrap_or(0) == 0 || h == "\r\n" {
                            break;
                        }
                    }
                    let body = if request_line.contains("/version") {
                        r#"{"Version":"0.0.0-fake","ApiVersion":"1.41"}"#
                    } else {
                        counter.fetch_add(1, Ordering::SeqCst);
                        r#"{"message":"unexpected"}"#
                    };
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if reader.get_mut().write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let rt = DockerRuntime::connect_first(&[Candidate {
        origin: "fake engine".into(),
        endpoint: Ok(Endpoint::Unix(sock.clone())),
    }])
    .await
    .expect("the fake engine answers /version");
    assert_eq!(rt.version().await.unwrap().version, "0.0.0-fake");
    let before = others.load(Ordering::SeqCst);

    let bad_mounts = [
        Mount {
            source: MountSource::Host("/etc/../../root".into()),
            target: "/x".into(),
            read_only: true,
        },
        Mount {
            source: MountSource::Host("relative".into()),
            target: "/x".into(),
            read_only: true,
        },
        Mount {
            source: MountSource::Host("/tmp/$(reboot)".into()),
            target: "/x".into(),
            read_only: false,
        },
        Mount {
            source: MountSource::Host("/tmp".into()),
            target: "/".into(),
            read_only: false,
        },
        Mount {
            source: MountSource::Resource {
                scheme: "s3".into(),
                resource: "bucket".into(),
            },
            target: "/x".into(),
            read_only: true,
        },
    ];
    for m in bad_mounts {
        let mut spec = WorkloadSpec::new("thv-test-invalid", IMAGE);
        spec.mounts.push(m.clone());
        let err = rt.create_and_start(&spec).await.unwrap_err();
        assert!(
            matches!(
                err,
                RuntimeError::InvalidSpec(
                    SpecError::Mount { .. } | SpecError::UnsupportedResource { .. }
                )
            ),
            "{m:?}: {err:?}"
        );
    }
    // From a RunConfig, the profile's bad entries are refused when the spec is built.
    let mut rc = stdio_run_config("thv-test-invalid", PermissionProfile::none());
    rc.permission_profile.as_mut().unwrap().write = Some(vec!["/data/../../etc:/etc2".into()]);
    let err = WorkloadSpec::from_run_config(&rc, &BTreeMap::new()).unwrap_err();
    assert!(
        err.to_string().contains("permission_profile.write[0]"),
        "{err}"
    );
    assert!(err.to_string().contains("traversal"), "{err}");

    assert_eq!(
        others.load(Ordering::SeqCst),
        before,
        "the engine was called for an invalid spec"
    );
}

/// The host's address on its default route (what a container on a bridge network reaches the host by).
fn host_address() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.250:9").ok()?;
    s.local_addr()
        .ok()
        .map(|a| a.ip())
        .filter(|ip| !ip.is_loopback())
}

/// A server on the host's address answering every connection with `response`; its port.
async fn serve_on_host(host: std::net::IpAddr, response: &'static [u8]) -> u16 {
    let listener = tokio::net::TcpListener::bind((host, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut c, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = c.read(&mut buf).await;
                let _ = c.write_all(response).await;
            });
        }
    });
    port
}

/// The fixed address network isolation gives its sidecar on `network` (the subnet's `.2`).
async fn fixed_address(rt: &DockerRuntime, network: &str) -> std::net::IpAddr {
    let info = within("inspect network", rt.inspect_network(network))
        .await
        .unwrap();
    thv::workloads::isolation::Addresses::in_subnets(&info.subnets)
        .expect("an IPv4 subnet")
        .sidecar
}

/// Attaches a container to the engine's default network ([`Runtime::default_network`]).
async fn connect_default_network(rt: &DockerRuntime, container: &str) {
    let network = within("default network", rt.default_network())
        .await
        .unwrap();
    within("connect", rt.connect_network(container, &network, None))
        .await
        .unwrap();
}

/// Network isolation's foundation: a container on an internal network reaches nothing outside it (here, a server
/// on the host), the same container on the bridge does, and a container attached to both reaches the host and is
/// reached at its address from the internal one.
#[tokio::test]
async fn internal_networks_have_no_way_out() {
    let Some(rt) = engine().await else { return };
    let Some(host) = host_address() else {
        skip("no non-loopback host address");
        return;
    };
    let mut cleanup = Cleanup::new(&rt);
    // A server on the host's address.
    let port = serve_on_host(host, b"HTTP/1.0 200 OK\r\nContent-Length: 7\r\n\r\nreached").await;
    let network = unique("internal");
    within("create network", rt.create_network(&network, true))
        .await
        .unwrap();
    within("create again", rt.create_network(&network, true))
        .await
        .unwrap();
    let fetch =
        format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {host} {port} || echo BLOCKED");
    let lines = run_script(&rt, &mut cleanup, "isolated", &fetch, |s| {
        s.network_name = Some(network.clone());
    })
    .await;
    assert!(
        lines.iter().any(|l| l.contains("BLOCKED")) && !lines.iter().any(|l| l.contains("reached")),
        "{lines:?}"
    );
    let lines = run_script(&rt, &mut cleanup, "bridged", &fetch, |s| {
        s.network = NetworkMode::Bridge
    })
    .await;
    assert!(lines.iter().any(|l| l.contains("reached")), "{lines:?}");

    // A relay on both networks: started on the internal one, then connected to the bridge.
    let relay = cleanup.name("relay");
    let relay_ip = fixed_address(&rt, &network).await;
    let mut spec = WorkloadSpec::new(relay.clone(), IMAGE);
    spec.network_name = Some(network.clone());
    spec.ip_address = Some(relay_ip);
    spec.cmd = vec![
        "sh".into(),
        "-c".into(),
        format!("while true; do echo -e 'HTTP/1.0 200 OK\\r\\n\\r\\nrelay' | nc -l -p 8080; done"),
    ];
    within("relay", rt.create_and_start(&spec)).await.unwrap();
    connect_default_network(&rt, &relay).await;
    let lines = run_script(
        &rt,
        &mut cleanup,
        "via-relay",
        &format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {relay_ip} 8080 || echo FAILED"),
        |s| {
            s.network_name = Some(network.clone());
        },
    )
    .await;
    assert!(
        lines.iter().any(|l| l.trim() == "relay"),
        "the internal network reaches its relay: {lines:?}"
    );
    drop(cleanup);
    tokio::time::sleep(Duration::from_millis(500)).await;
    within("remove network", rt.remove_network(&network))
        .await
        .unwrap();
    within("remove again", rt.remove_network(&network))
        .await
        .unwrap();
}

/// The egress sidecar's proxy: `thv-egress` (this build's binary, mounted
/// read-only into the local Debian base image) on the workload's internal network and the engine's default
/// network. From the internal network, the allowed destination on the host answers through it; another port of
/// the host is refused by the proxy (403) and cannot be reached directly.
#[tokio::test]
async fn the_egress_sidecar_lets_only_allowed_destinations_out() {
    const BASE: &str = "localhost/thv-base-debian:bookworm";
    let Some(rt) = engine().await else { return };
    if !rt.image_exists(BASE).await.unwrap_or(false) {
        skip(&format!(
            "the base image {BASE} is missing (scripts/build-base-images.sh)"
        ));
        return;
    }
    let Some(host) = host_address() else {
        skip("no non-loopback host address");
        return;
    };
    let mut cleanup = Cleanup::new(&rt);
    let allowed = serve_on_host(host, b"HTTP/1.0 200 OK\r\nContent-Length: 7\r\n\r\nallowed").await;
    let forbidden = serve_on_host(
        host,
        b"HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\nforbidden",
    )
    .await;
    let network = unique("isolated");
    within("network", rt.create_network(&network, true))
        .await
        .unwrap();

    let egress = cleanup.name("egress");
    let egress_ip = fixed_address(&rt, &network).await;
    let mut spec = WorkloadSpec::new(egress.clone(), BASE);
    spec.network_name = Some(network.clone());
    spec.ip_address = Some(egress_ip);
    spec.mounts = vec![Mount {
        source: MountSource::Host(env!("CARGO_BIN_EXE_thv-egress").to_string()),
        target: "/usr/local/bin/thv-egress".into(),
        read_only: true,
    }];
    spec.cmd = [
        "/usr/local/bin/thv-egress",
        "--listen",
        "0.0.0.0:3128",
        "--allow-host",
        &host.to_string(),
        "--allow-port",
        &allowed.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    within("egress", rt.create_and_start(&spec)).await.unwrap();
    connect_default_network(&rt, &egress).await;

    let ask = |port: u16| {
        format!(
            "sleep 1; printf 'GET http://{host}:{port}/ HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {egress_ip} 3128 || echo NO-PROXY; \
             printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {host} {port} || echo DIRECT-BLOCKED"
        )
    };
    let on_internal = |s: &mut WorkloadSpec| s.network_name = Some(network.clone());
    let lines = run_script(&rt, &mut cleanup, "client-ok", &ask(allowed), on_internal).await;
    assert!(
        lines.iter().any(|l| l.contains("allowed")),
        "through the proxy: {lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("DIRECT-BLOCKED")),
        "never directly: {lines:?}"
    );
    let on_internal = |s: &mut WorkloadSpec| s.network_name = Some(network.clone());
    let lines = run_script(
        &rt,
        &mut cleanup,
        "client-denied",
        &ask(forbidden),
        on_internal,
    )
    .await;
    assert!(
        lines.iter().any(|l| l.contains("403")),
        "refused by the proxy: {lines:?}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("forbidden") && !l.contains("not allowed")),
        "{lines:?}"
    );
    drop(cleanup);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = rt.remove_network(&network).await;
}
