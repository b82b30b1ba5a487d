//! The official registry's publisher CLI (`mcp-publisher`, module `github.com/modelcontextprotocol/registry`,
//! `cmd/publisher` v1.8.9, installed by `.ci/run`) against `thv-registry-api`: it logs in through the token
//! exchanges as it does against the official registry, and publishes.
//!
//! - `login none` (the registry started with `--enable-anonymous-auth`) and `publish` into
//!   `io.modelcontextprotocol.anonymous/*`; outside it, the publish is refused (403); without the setting the
//!   login is refused (404);
//! - `login http --domain D --private-key K`: the registry fetches `https://D/.well-known/mcp-registry-auth` (a
//!   local HTTPS server with a test CA; the registry configured to trust it and to reach D on 127.0.0.1) and
//!   verifies the Ed25519 signature over the timestamp; `publish` into `<reversed D>/*`; a proof file naming
//!   another key is refused, the reason printed by the publisher.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use thv_e2e::publisher::{publisher, run, run_answering, server_json};

#[test]
fn the_official_publisher_logs_in_anonymously_and_publishes_on_sqlite() {
    let Some(bin) = publisher() else { return };
    anonymous_publish(bin, &[]);
}

#[test]
fn the_official_publisher_logs_in_anonymously_and_publishes_on_postgres() {
    let Some(bin) = publisher() else { return };
    let Some(db) = thv_e2e::registry_api::postgres_database("publisher") else {
        return;
    };
    anonymous_publish(bin, &["--database-url", &db]);
}

fn anonymous_publish(bin: &str, backend: &[&str]) {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let api_home = tempfile::tempdir().unwrap();
    let mut args = vec!["--no-seed", "--enable-anonymous-auth"];
    args.extend_from_slice(backend);
    let api = thv_e2e::registry_api::start_with(api_home.path(), &args);
    let (ok, out) = run(bin, h, &["login", "none", "--registry", &api.base]);
    assert!(ok, "{out}");
    let name = "io.modelcontextprotocol.anonymous/thv-publisher-test";
    std::fs::write(h.join("server.json"), server_json(name).to_string()).unwrap();
    let (ok, out) = run(bin, h, &["publish", "server.json"]);
    assert!(ok, "{out}");
    let url = format!(
        "{}/v0.1/servers/{}/versions/1.0.0",
        api.base,
        name.replace('/', "%2F")
    );
    let got = Command::new("curl")
        .args(["-s", &url])
        .output()
        .expect("curl runs");
    let got: Value = serde_json::from_slice(&got.stdout).unwrap_or(Value::Null);
    assert_eq!(got["server"]["name"], name, "{got}");
    // Its status commands: one version deprecated with a message, then every version active again.
    let (ok, out) = run(
        bin,
        h,
        &[
            "status",
            "--status",
            "deprecated",
            "--message",
            "use 2.0.0",
            name,
            "1.0.0",
        ],
    );
    assert!(ok, "{out}");
    let official = |url: &str| {
        let got = Command::new("curl")
            .args(["-s", url])
            .output()
            .expect("curl runs");
        let v: Value = serde_json::from_slice(&got.stdout).unwrap_or(Value::Null);
        v["_meta"]["io.modelcontextprotocol.registry/official"].clone()
    };
    let meta = official(&url);
    assert_eq!(meta["status"], "deprecated", "{meta}");
    // It lists the versions it will change and asks: answered yes.
    let (ok, out) = run_answering(
        bin,
        h,
        &["status", "--status", "active", "--all-versions", name],
        "y\n",
    );
    assert!(ok, "{out}");
    assert!(out.contains("1.0.0: deprecated → active"), "{out}");
    assert_eq!(official(&url)["status"], "active");
    // Outside the anonymous namespace: refused, and the publisher says why.
    std::fs::write(
        h.join("other.json"),
        server_json("com.example/not-mine").to_string(),
    )
    .unwrap();
    let (ok, out) = run(bin, h, &["publish", "other.json"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("403") || out.to_lowercase().contains("permission"),
        "{out}"
    );

    // A registry without anonymous tokens refuses the login.
    let closed_home = tempfile::tempdir().unwrap();
    let closed = thv_e2e::registry_api::start_with(closed_home.path(), &["--no-seed"]);
    let (ok, out) = run(bin, h, &["login", "none", "--registry", &closed.base]);
    assert!(!ok, "{out}");
    assert!(out.contains("404") || out.contains("not enabled"), "{out}");
}

/// A local HTTPS server (Python's) serving `dir` with the certificate `cert`/`key`, on a free port.
fn https_server(dir: &Path, cert: &Path, key: &Path) -> (Child, u16) {
    let python = std::env::var("THV_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = format!(
        "import http.server, ssl, functools, sys\n\
         h = functools.partial(http.server.SimpleHTTPRequestHandler, directory={dir:?})\n\
         s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), h)\n\
         c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain({cert:?}, {key:?})\n\
         s.socket = c.wrap_socket(s.socket, server_side=True)\n\
         print(s.server_address[1], flush=True)\n\
         s.serve_forever()\n",
        dir = dir.display().to_string(),
        cert = cert.display().to_string(),
        key = key.display().to_string(),
    );
    let mut child = Command::new(python)
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python runs");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    (child, line.trim().parse().expect("the server's port"))
}

#[test]
fn the_official_publisher_proves_a_domain_over_https_and_publishes() {
    use base64::Engine;
    use ed25519_dalek::SigningKey;
    let Some(bin) = publisher() else { return };
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path();
    let domain = "thv-publisher.example";
    // The site's certificate (a self-signed one the registry is told to trust).
    let (cert, key) = (h.join("cert.pem"), h.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            &format!("/CN={domain}"),
            "-addext",
            &format!("subjectAltName=DNS:{domain}"),
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ])
        .output()
        .expect("openssl runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let seed = [42u8; 32];
    let public = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
    let record = |public: &[u8]| {
        format!(
            "v=MCPv1; k=ed25519; p={}",
            base64::engine::general_purpose::STANDARD.encode(public)
        )
    };
    let site = h.join("site");
    std::fs::create_dir_all(site.join(".well-known")).unwrap();
    std::fs::write(site.join(".well-known/mcp-registry-auth"), record(&public)).unwrap();
    let (mut server, port) = https_server(&site, &cert, &key);

    let api_home = tempfile::tempdir().unwrap();
    let config = api_home.path().join("registry.yaml");
    std::fs::write(
        &config,
        format!(
            "auth:\n  http_allow_private: true\n  http_ca_cert: {:?}\n  http_resolve:\n    {domain}: \"127.0.0.1:{port}\"\n",
            cert.display().to_string()
        ),
    )
    .unwrap();
    let api = thv_e2e::registry_api::start_with(
        api_home.path(),
        &["--no-seed", "--config", config.to_str().unwrap()],
    );
    let home = tempfile::tempdir().unwrap();
    let login = |registry: &str| {
        run(
            bin,
            home.path(),
            &[
                "login",
                "http",
                "--domain",
                domain,
                "--private-key",
                &hex::encode(seed),
                "--registry",
                registry,
            ],
        )
    };
    let (ok, out) = login(&api.base);
    assert!(ok, "{out}");
    let name = "example.thv-publisher/server";
    std::fs::write(
        home.path().join("server.json"),
        server_json(name).to_string(),
    )
    .unwrap();
    let (ok, out) = run(bin, home.path(), &["publish", "server.json"]);
    assert!(ok, "{out}");

    // The domain publishes another key now: the proof is refused, the reason printed by the publisher.
    let other = SigningKey::from_bytes(&[7u8; 32])
        .verifying_key()
        .to_bytes();
    std::fs::write(site.join(".well-known/mcp-registry-auth"), record(&other)).unwrap();
    let (ok, out) = login(&api.base);
    assert!(!ok, "{out}");
    assert!(
        out.contains(
            "the signature verifies with none of the 1 public key(s) the domain publishes"
        ),
        "{out}"
    );
    // By default a proof file on a loopback (or private) address is not fetched at all.
    std::fs::write(site.join(".well-known/mcp-registry-auth"), record(&public)).unwrap();
    let strict_home = tempfile::tempdir().unwrap();
    let strict_config = strict_home.path().join("registry.yaml");
    std::fs::write(
        &strict_config,
        format!(
            "auth:\n  http_ca_cert: {:?}\n  http_resolve:\n    {domain}: \"127.0.0.1:{port}\"\n",
            cert.display().to_string()
        ),
    )
    .unwrap();
    let strict = thv_e2e::registry_api::start_with(
        strict_home.path(),
        &["--no-seed", "--config", strict_config.to_str().unwrap()],
    );
    let (ok, out) = login(&strict.base);
    assert!(!ok, "{out}");
    assert!(
        out.contains("127.0.0.1 is a private, loopback or link-local address (refused)"),
        "{out}"
    );
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn the_official_publisher_proves_a_domain_over_dns_and_publishes_subdomains_too() {
    use base64::Engine;
    use ed25519_dalek::SigningKey;
    let Some(bin) = publisher() else { return };
    let dns = thv_e2e::dns::TxtServer::start();
    let domain = "thv-dns.example";
    let seed = [9u8; 32];
    let record = |seed: [u8; 32]| {
        format!(
            "v=MCPv1; k=ed25519; p={}",
            base64::engine::general_purpose::STANDARD
                .encode(SigningKey::from_bytes(&seed).verifying_key().to_bytes())
        )
    };
    dns.set(domain, &["other=1", &record(seed)]);
    let api_home = tempfile::tempdir().unwrap();
    let config = api_home.path().join("registry.yaml");
    std::fs::write(
        &config,
        format!("auth:\n  dns_nameserver: \"{}\"\n", dns.addr),
    )
    .unwrap();
    let api = thv_e2e::registry_api::start_with(
        api_home.path(),
        &["--no-seed", "--config", config.to_str().unwrap()],
    );
    let home = tempfile::tempdir().unwrap();
    let login = |seed: [u8; 32]| {
        run(
            bin,
            home.path(),
            &[
                "login",
                "dns",
                "--domain",
                domain,
                "--private-key",
                &hex::encode(seed),
                "--registry",
                &api.base,
            ],
        )
    };
    let (ok, out) = login(seed);
    assert!(ok, "{out}");
    // The namespace and its subdomains'.
    for name in ["example.thv-dns/server", "example.thv-dns.tools/server"] {
        std::fs::write(
            home.path().join("server.json"),
            server_json(name).to_string(),
        )
        .unwrap();
        let (ok, out) = run(bin, home.path(), &["publish", "server.json"]);
        assert!(ok, "{name}: {out}");
    }
    // An ECDSA P-384 key (a compressed point in the record, R||S over SHA-384), as the publisher signs with it.
    let p384_key = p384::ecdsa::SigningKey::from_slice(&[5u8; 48]).unwrap();
    let point = p384_key.verifying_key().to_sec1_point(true);
    let p384_record = format!(
        "v=MCPv1; k=ecdsap384; p={}",
        base64::engine::general_purpose::STANDARD.encode(point.as_bytes())
    );
    dns.set(domain, &[&record(seed), &p384_record]);
    let (ok, out) = run(
        bin,
        home.path(),
        &[
            "login",
            "dns",
            "--algorithm",
            "ecdsap384",
            "--domain",
            domain,
            "--private-key",
            &hex::encode([5u8; 48]),
            "--registry",
            &api.base,
        ],
    );
    assert!(ok, "{out}");
    dns.set(domain, &[&record(seed)]);
    // A key the domain does not publish, and a domain without the record: refused, the reason printed.
    let (ok, out) = login([1u8; 32]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(
            "the signature verifies with none of the 1 public key(s) the domain publishes"
        ),
        "{out}"
    );
    dns.set(domain, &["other=1"]);
    let (ok, out) = login(seed);
    assert!(!ok, "{out}");
    assert!(out.contains("no proof record"), "{out}");
}
