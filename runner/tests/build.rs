//! Package images built through a real engine (Docker, or Podman's API socket: `scripts/setup-podman.sh`) from
//! the local base images (`scripts/build-base-images.sh`), then run as stdio containers and spoken to in MCP.
//!
//! The uvx and npx builds fetch real packages from PyPI and npm, trusting the host's CA bundle
//! (`/etc/ssl/certs/ca-certificates.crt`) as the extra CA: on machines behind a TLS-intercepting proxy the
//! images reach the indexes only that way. When no engine answers or a base image is missing, each engine test
//! prints why and returns (skips), except under `CI=true`, where it fails with the reason. Containers get
//! unique `thv-test-…` names and are removed by a guard, even when the test fails.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use thv::build::{
    BaseImages, BuildError, BuildOptions, PackageIndexes, build_context, build_package_image,
    dockerfile, image_tag,
};
use thv::runtime::docker::{DockerRuntime, Endpoint};
use thv::runtime::{Runtime, RuntimeError, WorkloadSpec, WorkloadState};
use thv_core::runconfig::{PackageScheme, PackageSource};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const HOST_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// One MCP answer (the first start of a Python server compiles nothing, but a cold engine is slow).
const ANSWER_WAIT: Duration = Duration::from_secs(60);

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn pkg(s: &str) -> PackageSource {
    PackageSource::parse(s)
        .expect("valid package")
        .expect("a package scheme")
}

fn skip(why: String) {
    if ci() {
        panic!("CI=true, but the package build tests cannot run: {why}");
    }
    thv_e2e::record_skip(&why);
}

/// The engine with the base images of these schemes, or `None` (skip) with the reason printed; under
/// `CI=true` a panic.
async fn engine(schemes: &[PackageScheme]) -> Option<DockerRuntime> {
    let rt = match DockerRuntime::connect().await {
        Ok(rt) => rt,
        Err(e) => {
            skip(format!(
                "{e}\n(run `eval \"$(scripts/setup-podman.sh)\"` to start Podman's API socket)"
            ));
            return None;
        }
    };
    let bases = BaseImages::from_env();
    for scheme in schemes {
        let (builder, runtime) = bases.for_scheme(*scheme);
        for image in [builder, runtime] {
            match rt.image_exists(image).await {
                Ok(true) => {}
                Ok(false) => {
                    skip(format!(
                        "the base image {image} is missing (run scripts/build-base-images.sh)"
                    ));
                    return None;
                }
                Err(e) => {
                    skip(format!("cannot inspect the image {image}: {e}"));
                    return None;
                }
            }
        }
    }
    Some(rt)
}

/// Options for the engine tests: the base images (overridable by the script's env vars) and the host's CA
/// bundle as the extra CA.
fn options() -> BuildOptions {
    BuildOptions {
        base_images: BaseImages::from_env(),
        ca_cert: Path::new(HOST_CA_BUNDLE)
            .is_file()
            .then(|| PathBuf::from(HOST_CA_BUNDLE)),
        ..Default::default()
    }
}

/// Removes the containers and images it names when dropped (also when the test panics).
struct Cleanup {
    endpoint: Endpoint,
    containers: Vec<String>,
    images: Vec<String>,
}

impl Cleanup {
    fn new(rt: &DockerRuntime) -> Self {
        Self {
            endpoint: rt.endpoint().clone(),
            containers: Vec::new(),
            images: Vec::new(),
        }
    }

    fn container(&mut self, tag: &str) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = format!(
            "thv-test-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        self.containers.push(n.clone());
        n
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let endpoint = self.endpoint.clone();
        let containers = std::mem::take(&mut self.containers);
        let images = std::mem::take(&mut self.images);
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(async move {
                let Ok(engine) = DockerRuntime::connect_to(&endpoint).await else {
                    eprintln!("cleanup: cannot reach {endpoint}; left: {containers:?} {images:?}");
                    return;
                };
                for c in containers {
                    match engine.remove(&c, true).await {
                        Ok(()) | Err(RuntimeError::NotFound(_)) => {}
                        Err(e) => eprintln!("cleanup: could not remove {c}: {e}"),
                    }
                }
                for i in images {
                    remove_image(&engine, &i).await;
                }
            });
        });
        let _ = handle.join();
    }
}

async fn remove_image(rt: &DockerRuntime, image: &str) {
    let options = bollard::query_parameters::RemoveImageOptions {
        force: true,
        ..Default::default()
    };
    if let Err(e) = rt.client().remove_image(image, Some(options), None).await
        && !e.to_string().contains("404")
    {
        eprintln!("could not remove {image}: {e}");
    }
}

/// Builds the package from scratch (`no_cache`: again, without the engine's layer cache, even when its image
/// exists — the image is not deleted first, since other tests may be running it), checks that a second build
/// reuses it, and returns the image.
async fn build_fresh(rt: &DockerRuntime, package: &str) -> String {
    let p = pkg(package);
    let opts = options();
    let pinned = thv::build::pin_version(&p, &opts).await.expect("pin");
    assert!(pinned.version.is_some(), "{pinned} not pinned");
    let started = Instant::now();
    let fresh = BuildOptions {
        no_cache: true,
        ..options()
    };
    let built = build_package_image(rt, &p, &fresh)
        .await
        .unwrap_or_else(|e| panic!("building {package}: {e}"));
    eprintln!(
        "built {} ({}) in {:.1} s",
        built.image,
        built.package,
        started.elapsed().as_secs_f64()
    );
    assert!(built.built);
    assert_eq!(built.image, image_tag(&built.package));
    assert!(rt.image_exists(&built.image).await.unwrap());
    let again = build_package_image(rt, &p, &opts).await.expect("rebuild");
    assert!(!again.built, "an existing image is reused");
    assert_eq!(again.image, built.image);
    built.image
}

/// Sends one JSON-RPC message, newline-delimited.
async fn send(stdin: &mut (impl AsyncWriteExt + Unpin), msg: Value) {
    stdin
        .write_all(format!("{msg}\n").as_bytes())
        .await
        .expect("write to the server");
    stdin.flush().await.expect("flush");
}

/// Reads lines until the response with this id (notifications and non-JSON lines are skipped).
async fn response(stdout: &mut (impl AsyncBufReadExt + Unpin), id: i64) -> Value {
    let read = async {
        loop {
            let mut line = String::new();
            let n = stdout.read_line(&mut line).await.expect("read");
            assert!(n > 0, "the server closed stdout before answering id {id}");
            match serde_json::from_str::<Value>(&line) {
                Ok(v) if v.get("id") == Some(&json!(id)) => return v,
                Ok(other) => eprintln!("server says: {other}"),
                Err(_) => eprintln!("server prints: {}", line.trim_end()),
            }
        }
    };
    tokio::time::timeout(ANSWER_WAIT, read)
        .await
        .unwrap_or_else(|_| panic!("no answer to id {id} within {ANSWER_WAIT:?}"))
}

/// Runs the image as a stdio server (no network, as a closed profile gets), does `initialize`,
/// `notifications/initialized` and `tools/list`, and returns the tool names.
async fn mcp_tools(
    rt: &DockerRuntime,
    cleanup: &mut Cleanup,
    image: &str,
    args: &[&str],
) -> Vec<String> {
    let mut spec = WorkloadSpec::new(cleanup.container("pkg"), image);
    spec.stdio = true;
    spec.cmd = args.iter().map(|a| (*a).to_owned()).collect();
    let id = rt.create_and_start(&spec).await.expect("create_and_start");
    let attached = rt.attach_stdio(id.as_str()).await.expect("attach");
    let mut stdin = attached.stdin;
    let mut stdout = BufReader::new(attached.stdout);
    send(
        &mut stdin,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "thv-test", "version": "0"}}}),
    )
    .await;
    let init = response(&mut stdout, 1).await;
    let server = &init["result"]["serverInfo"];
    assert!(server["name"].is_string(), "initialize: {init}");
    eprintln!("{image}: serverInfo {server}");
    send(
        &mut stdin,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    send(
        &mut stdin,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}),
    )
    .await;
    let list = response(&mut stdout, 2).await;
    let tools = list["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("tools/list: {list}"));
    let info = rt.inspect(id.as_str()).await.expect("inspect");
    assert_eq!(info.state, WorkloadState::Running);
    tools
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn templates_tags_and_context_without_an_engine() {
    let opts = BuildOptions {
        ca_cert: Some(PathBuf::from(HOST_CA_BUNDLE)),
        ..Default::default()
    };
    let p = pkg("npx://@modelcontextprotocol/server-everything@2026.8.31");
    assert_eq!(
        image_tag(&p),
        "localhost/thv-npx-modelcontextprotocol-server-everything:2026.8.31"
    );
    let d = dockerfile(&p, &opts).unwrap();
    assert!(
        d.contains("@modelcontextprotocol/server-everything@2026.8.31"),
        "{d}"
    );
    assert!(d.contains("USER 10001:10001"));
    if !Path::new(HOST_CA_BUNDLE).is_file() {
        skip(format!(
            "no {HOST_CA_BUNDLE}: the context test needs a CA file"
        ));
        return;
    }
    let tar = build_context(&p, &opts).unwrap();
    let mut archive = tar::Archive::new(tar.as_slice());
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["Dockerfile", "thv/ca.crt", "thv/npm-entrypoint.js"]);
}

#[tokio::test]
async fn unreachable_index_names_the_url() {
    let opts = BuildOptions {
        indexes: PackageIndexes {
            pypi: "http://127.0.0.1:9/pypi".into(),
            npm: "http://127.0.0.1:9".into(),
        },
        ..Default::default()
    };
    let err = thv::build::pin_version(&pkg("uvx://mcp-server-time"), &opts)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, BuildError::Version(_)), "{msg}");
    assert!(
        msg.contains("http://127.0.0.1:9/pypi/mcp-server-time/json"),
        "{msg}"
    );
    // A pinned package needs no lookup.
    let pinned = thv::build::pin_version(&pkg("uvx://mcp-server-time@1.0"), &opts)
        .await
        .unwrap();
    assert_eq!(pinned.version.as_deref(), Some("1.0"));
}

#[tokio::test]
async fn uvx_mcp_server_time_builds_and_lists_its_tools() {
    let Some(rt) = engine(&[PackageScheme::Uvx]).await else {
        return;
    };
    let mut cleanup = Cleanup::new(&rt);
    let image = build_fresh(&rt, "uvx://mcp-server-time").await;
    let tools = mcp_tools(&rt, &mut cleanup, &image, &["--local-timezone", "UTC"]).await;
    assert!(tools.contains(&"get_current_time".to_owned()), "{tools:?}");
}

#[tokio::test]
async fn npx_server_everything_builds_and_lists_its_tools() {
    let Some(rt) = engine(&[PackageScheme::Npx]).await else {
        return;
    };
    let mut cleanup = Cleanup::new(&rt);
    let image = build_fresh(&rt, "npx://@modelcontextprotocol/server-everything").await;
    let tools = mcp_tools(&rt, &mut cleanup, &image, &["stdio"]).await;
    assert!(tools.contains(&"echo".to_owned()), "{tools:?}");
}

#[tokio::test]
async fn go_local_directory_builds_and_runs_as_non_root() {
    let Some(rt) = engine(&[PackageScheme::Go]).await else {
        return;
    };
    let mut cleanup = Cleanup::new(&rt);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("thv-test-go-hello");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("main.go"),
        "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n\t\"strings\"\n)\n\n\
         func main() {\n\tfmt.Printf(\"uid=%d args=%s\\n\", os.Getuid(), strings.Join(os.Args[1:], \",\"))\n}\n",
    )
    .unwrap();
    let opts = BuildOptions {
        local_root: Some(dir.path().to_owned()),
        ..options()
    };
    let p = pkg("go://./thv-test-go-hello");
    let started = Instant::now();
    let built = build_package_image(&rt, &p, &opts)
        .await
        .unwrap_or_else(|e| panic!("building {p}: {e}"));
    eprintln!(
        "built {} in {:.1} s",
        built.image,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(built.image, "localhost/thv-go-thv-test-go-hello:local");
    assert!(built.built);
    cleanup.images.push(built.image.clone());

    let mut spec = WorkloadSpec::new(cleanup.container("go"), &built.image);
    spec.cmd = vec!["a".into(), "b c".into()];
    let id = rt.create_and_start(&spec).await.expect("create_and_start");
    let deadline = Instant::now() + Duration::from_secs(30);
    while rt.inspect(id.as_str()).await.unwrap().state.is_running() {
        assert!(Instant::now() < deadline, "the Go program did not exit");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lines = rt.log_lines(id.as_str()).await.unwrap();
    assert_eq!(lines, ["uid=10001 args=a,b c"]);
}

#[tokio::test]
async fn a_failing_step_shows_its_output() {
    let Some(rt) = engine(&[PackageScheme::Uvx]).await else {
        return;
    };
    // A pinned version: no index lookup; pip fails in the build.
    let p = pkg("uvx://thv-test-no-such-package-7f3a@1.0.0");
    let err = build_package_image(&rt, &p, &options())
        .await
        .expect_err("a package that does not exist cannot be built");
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(matches!(err, BuildError::Failed { .. }), "{msg}");
    assert!(msg.contains("thv-test-no-such-package-7f3a"), "{msg}");
    // pip's own words, from the failing step's output.
    assert!(
        msg.contains("No matching distribution") || msg.contains("Could not find a version"),
        "{msg}"
    );
    assert!(!rt.image_exists(&image_tag(&p)).await.unwrap());
}

#[tokio::test]
async fn missing_base_image_and_escaping_local_path_are_refused() {
    let Some(rt) = engine(&[]).await else { return };
    let mut opts = options();
    opts.base_images.uvx = "localhost/thv-no-such-base:never".into();
    let err = build_package_image(&rt, &pkg("uvx://mcp-server-time@2025.9.25"), &opts)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, BuildError::BaseImageMissing { .. }), "{msg}");
    assert!(
        msg.contains("base_images.uvx") && msg.contains("build-base-images.sh"),
        "{msg}"
    );

    let dir = tempfile::tempdir().unwrap();
    let opts = BuildOptions {
        local_root: Some(dir.path().to_owned()),
        ..options()
    };
    let err = build_package_image(&rt, &pkg("go://../"), &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, BuildError::LocalPath { .. }), "{err}");
}
