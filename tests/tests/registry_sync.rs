//! `thv-registry-api` syncing from sources, end to end: a second `thv-registry-api` as the upstream registry
//! API, registry files and a git repository; named registries; `GET /v1/sources`; an upstream that dies in the
//! middle of a sync; two replicas on one PostgreSQL syncing at once.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use thv_e2e::registry_api::{
    RegistryApi, command, get, http, list_all, postgres_database, start_with, wait_synced,
};

const ADMIN: &str = "sync-e2e-admin-token-0123456789";
const SCHEMA: &str = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json";

fn server(name: &str, version: &str, description: &str) -> Value {
    json!({"$schema": SCHEMA, "name": name, "description": description, "version": version,
           "remotes": [{"type": "streamable-http", "url": format!("https://{}.example.com/{version}/mcp", name.replace('/', "-"))}]})
}

async fn publish(base: &str, doc: &Value) {
    let resp = http()
        .post(format!("{base}/v0.1/publish"))
        .bearer_auth(ADMIN)
        .json(doc)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert!(
        status.is_success(),
        "publish: {status} {}",
        resp.text().await.unwrap()
    );
}

async fn set_status(base: &str, name: &str, version: &str, status: &str) {
    let resp = http()
        .patch(format!(
            "{base}/v0.1/servers/{}/versions/{version}/status",
            name.replace('/', "%2F")
        ))
        .bearer_auth(ADMIN)
        .json(&json!({"status": status, "statusMessage": "superseded"}))
        .send()
        .await
        .unwrap();
    let code = resp.status();
    assert!(
        code.is_success(),
        "status: {code} {}",
        resp.text().await.unwrap()
    );
}

/// `POST /v1/sources/{name}/sync` with the admin token.
async fn sync_now(base: &str, source: &str, full: bool) -> (u16, Value) {
    let resp = http()
        .post(format!("{base}/v1/sources/{source}/sync?full={full}"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Every (name, version, status, isLatest) of a registry prefix (`{base}/v0.1` or `{base}/registry/x/v0.1`).
async fn all_versions(prefix: &str, include_deleted: bool) -> Vec<(String, String, String, bool)> {
    let query = format!("include_deleted={include_deleted}");
    list_all(prefix, &query)
        .await
        .iter()
        .map(|s| {
            let o = &s["_meta"]["io.modelcontextprotocol.registry/official"];
            (
                s["server"]["name"].as_str().unwrap().to_string(),
                s["server"]["version"].as_str().unwrap().to_string(),
                o["status"].as_str().unwrap_or_default().to_string(),
                o["isLatest"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("registry.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn serve(home: &Path, config: &Path, database_url: Option<&str>) -> RegistryApi {
    let mut args = vec![
        "--config",
        config.to_str().unwrap(),
        "--no-seed",
        "--admin-token",
        ADMIN,
    ];
    if let Some(url) = database_url {
        args.extend(["--database-url", url]);
    }
    start_with(home, &args)
}

/// A TCP forwarder in front of an upstream that can be told to kill the upstream process after it has passed on
/// a number of further requests: the upstream dies in the middle of a sync.
struct DyingProxy {
    addr: String,
    /// Requests still to pass on before the upstream is killed (negative: never).
    kill_after: Arc<AtomicI64>,
}

impl DyingProxy {
    fn start(upstream: Arc<Mutex<RegistryApi>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let target = upstream
            .lock()
            .unwrap()
            .base
            .trim_start_matches("http://")
            .to_string();
        let kill_after = Arc::new(AtomicI64::new(-1));
        let countdown = kill_after.clone();
        // The test owns the upstream: it is stopped when the test ends, however it ends.
        let upstream = Arc::downgrade(&upstream);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut client) = conn else { continue };
                if countdown.load(Ordering::SeqCst) == 0
                    && let Some(up) = upstream.upgrade()
                {
                    let mut up = up.lock().unwrap();
                    let _ = up.child.kill();
                    let _ = up.child.wait();
                }
                if countdown.load(Ordering::SeqCst) > 0 {
                    countdown.fetch_sub(1, Ordering::SeqCst);
                }
                let target = target.clone();
                std::thread::spawn(move || forward(&mut client, &target));
            }
        });
        Self { addr, kill_after }
    }
}

/// Passes one request on with `Connection: close`, and the answer back; a dead upstream closes the connection.
fn forward(client: &mut TcpStream, target: &str) {
    let mut request = Vec::new();
    let mut buf = [0u8; 8192];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&request).to_string();
    let (head, _) = text.split_once("\r\n\r\n").unwrap();
    let head: Vec<&str> = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    let Ok(mut up) = TcpStream::connect(target) else {
        return;
    };
    let _ = up.write_all(format!("{}\r\nConnection: close\r\n\r\n", head.join("\r\n")).as_bytes());
    let mut response = Vec::new();
    let _ = up.read_to_end(&mut response);
    let _ = client.write_all(&response);
}

/// Upstream: a `thv-registry-api` seeded with the bundled catalog (over 100 versions: several pages).
fn upstream(home: &Path) -> RegistryApi {
    start_with(home, &["--admin-token", ADMIN])
}

#[tokio::test(flavor = "multi_thread")]
async fn api_source_on_sqlite() {
    api_source_flow(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn api_source_on_postgres() {
    let Some(db) = postgres_database("sync_api") else {
        return;
    };
    api_source_flow(Some(&db)).await;
}

async fn api_source_flow(database_url: Option<&str>) {
    let up_home = tempfile::tempdir().unwrap();
    let up = Arc::new(Mutex::new(upstream(up_home.path())));
    let up_base = up.lock().unwrap().base.clone();
    let upstream_all = all_versions(&format!("{up_base}/v0.1"), true).await;
    assert!(upstream_all.len() > 100, "the bundled catalog spans pages");
    let proxy = DyingProxy::start(up.clone());

    let home = tempfile::tempdir().unwrap();
    let config = write_config(
        home.path(),
        &format!(
            r#"
default_registry = "production"

[[sources]]
name = "upstream"
api = {{ endpoint = "{}" }}
allow_private_addresses = true
sync_policy = {{ interval = "1h" }}
filter = {{ names = {{ exclude = ["io.github.stacklok/excluded-*"] }} }}

[[registries]]
name = "production"
sources = ["managed", "upstream"]

[[registries]]
name = "mirror"
sources = ["upstream"]
"#,
            proxy.addr
        ),
    );
    // Left out by the filter.
    publish(
        &up_base,
        &server("io.github.stacklok/excluded-one", "1.0.0", "Filtered out"),
    )
    .await;
    let api = serve(home.path(), &config, database_url);
    let base = api.base.clone();

    // The first sync runs at startup: a full one.
    let first = wait_synced(&base, "upstream").await;
    assert_eq!(first["status"], "complete", "{first}");
    assert_eq!(first["lastSync"]["mode"], "full", "{first}");
    assert_eq!(first["lastSync"]["filtered"], 1, "{first}");
    assert_eq!(first["type"], "api");
    assert_eq!(first["registries"], json!(["mirror", "production"]));
    let expected: BTreeSet<(String, String)> = upstream_all
        .iter()
        .map(|(n, v, _, _)| (n.clone(), v.clone()))
        .collect();
    assert_eq!(first["versionCount"], expected.len(), "{first}");
    let mirror = all_versions(&format!("{base}/registry/mirror/v0.1"), true).await;
    let got: BTreeSet<(String, String)> = mirror
        .iter()
        .map(|(n, v, _, _)| (n.clone(), v.clone()))
        .collect();
    assert_eq!(
        got, expected,
        "the mirror holds exactly the upstream's versions"
    );
    assert_eq!(mirror.len(), got.len(), "no duplicates");
    let latest = |rows: &[(String, String, String, bool)], name: &str| {
        rows.iter()
            .filter(|r| r.0 == name && r.3)
            .map(|r| r.1.clone())
            .collect::<Vec<_>>()
    };

    // The default registry is "production": published entries first, then the upstream's.
    let (name, _, _, _) = upstream_all[0].clone();
    publish(&base, &server(&name, "99.0.0-local", "Our own build")).await;
    let (code, v) = get(&format!(
        "{base}/v0.1/servers/{}/versions/latest",
        name.replace('/', "%2F")
    ))
    .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(
        v["server"]["description"], "Our own build",
        "managed wins over the upstream"
    );
    let (_, v) = get(&format!(
        "{base}/registry/mirror/v0.1/servers/{}/versions",
        name.replace('/', "%2F")
    ))
    .await;
    assert!(
        v["servers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["server"]["version"] != "99.0.0-local"),
        "the mirror has only the upstream's copy"
    );
    let (code, v) = get(&format!("{base}/registry/nope/v0.1/servers")).await;
    assert_eq!(code, 404);
    assert!(
        v["error"].as_str().unwrap().contains("registry not found"),
        "{v}"
    );

    // Upstream changes: a new version (the new latest), a deprecation, a deletion.
    let (a, b) = (upstream_all[1].0.clone(), upstream_all[5].0.clone());
    publish(&up_base, &server(&a, "1000.0.0", "A newer release")).await;
    let b_version = upstream_all[5].1.clone();
    set_status(&up_base, &b, &b_version, "deprecated").await;
    let (c, c_version) = (upstream_all[9].0.clone(), upstream_all[9].1.clone());
    set_status(&up_base, &c, &c_version, "deleted").await;
    let (code, synced) = sync_now(&base, "upstream", false).await;
    assert_eq!(code, 200, "{synced}");
    assert_eq!(
        synced["source"]["lastSync"]["mode"], "incremental",
        "{synced}"
    );
    // (Changes stamped in the seconds before a sync are read again by the next one: here, everything.)
    assert!(
        synced["source"]["lastSync"]["received"].as_u64().unwrap() >= 3,
        "{synced}"
    );
    let mirror = all_versions(&format!("{base}/registry/mirror/v0.1"), true).await;
    assert_eq!(latest(&mirror, &a), vec!["1000.0.0"]);
    assert!(
        mirror
            .iter()
            .any(|r| r.0 == b && r.1 == b_version && r.2 == "deprecated")
    );
    assert!(
        mirror
            .iter()
            .any(|r| r.0 == c && r.1 == c_version && r.2 == "deleted")
    );
    let visible = all_versions(&format!("{base}/registry/mirror/v0.1"), false).await;
    assert!(
        !visible.iter().any(|r| r.0 == c && r.1 == c_version),
        "deleted versions are hidden by default"
    );
    let before = all_versions(&format!("{base}/registry/mirror/v0.1"), true).await;
    // A named registry is a registry API of its own for every client: the curation CLI exports it.
    let out_dir = tempfile::tempdir().unwrap();
    let exported = out_dir.path().join("mirror.json");
    let o = Command::new(thv_e2e::binary("thv-registry"))
        .args(["export", &format!("{base}/registry/mirror"), "--out"])
        .arg(&exported)
        .env("HOME", out_dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&exported).unwrap()).unwrap();
    assert_eq!(
        file["data"]["servers"].as_array().unwrap().len(),
        visible.len(),
        "every visible version of the mirror"
    );

    // The upstream dies in the middle of a full sync: the sync fails, the last good data stays served.
    publish(&up_base, &server(&a, "2000.0.0", "Never seen downstream")).await;
    proxy.kill_after.store(1, Ordering::SeqCst);
    let (code, failed) = sync_now(&base, "upstream", true).await;
    assert_eq!(code, 502, "{failed}");
    assert!(
        failed["error"].as_str().unwrap().contains("last good data"),
        "{failed}"
    );
    let (_, source) = get(&format!("{base}/v1/sources/upstream")).await;
    assert_eq!(source["status"], "failed", "{source}");
    assert!(
        source["lastError"].as_str().unwrap().contains("upstream"),
        "{source}"
    );
    let after = all_versions(&format!("{base}/registry/mirror/v0.1"), true).await;
    assert_eq!(after, before, "nothing half-written");

    // `GET /v1/sources` and `/v1/registries`; the trigger needs the admin token.
    let (_, all) = get(&format!("{base}/v1/sources")).await;
    assert_eq!(all["sources"].as_array().unwrap().len(), 1);
    let (_, regs) = get(&format!("{base}/v1/registries")).await;
    assert_eq!(regs["registries"][1]["name"], "production");
    assert_eq!(regs["registries"][1]["default"], true);
    let resp = http()
        .post(format!("{base}/v1/sources/upstream/sync"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_on_one_postgres_sync_at_once() {
    let Some(db) = postgres_database("sync_replicas") else {
        return;
    };
    // An upstream of 2,000 versions: a sync takes long enough for the replicas to overlap.
    let up_home = tempfile::tempdir().unwrap();
    let seed = up_home.path().join("seed.json");
    let servers: Vec<Value> = (0..2000)
        .map(|i| {
            server(
                &format!("io.github.sync/s{:04}", i / 4),
                &format!("1.0.{}", i % 4),
                "Replica test",
            )
        })
        .collect();
    std::fs::write(&seed, json!({"$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/registry.schema.json", "version": "1.0.0", "meta": {}, "data": {"servers": servers}}).to_string()).unwrap();
    let up = start_with(
        up_home.path(),
        &[
            "--seed-from",
            seed.to_str().unwrap(),
            "--admin-token",
            ADMIN,
        ],
    );

    let config_dir = tempfile::tempdir().unwrap();
    let config = write_config(
        config_dir.path(),
        &format!(
            "[[sources]]\nname = \"up\"\napi = {{ endpoint = \"{}\" }}\nallow_private_addresses = true\n\n[[registries]]\nname = \"all\"\nsources = [\"up\"]\n",
            up.base
        ),
    );
    let (h1, h2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let r1 = serve(h1.path(), &config, Some(&db));
    let r2 = serve(h2.path(), &config, Some(&db));
    // Both replicas start syncing at startup, and are asked again at the same time.
    let (a, b) = tokio::join!(
        sync_now(&r1.base, "up", true),
        sync_now(&r2.base, "up", true)
    );
    for (code, v) in [&a, &b] {
        assert!(*code == 200 || *code == 409, "{code} {v}");
    }
    wait_synced(&r1.base, "up").await;
    let (a, b) = tokio::join!(
        sync_now(&r1.base, "up", true),
        sync_now(&r2.base, "up", true)
    );
    assert!(
        [a.0, b.0].contains(&200) || [a.0, b.0] == [409, 409],
        "{a:?} {b:?}"
    );
    for replica in [&r1, &r2] {
        let rows = all_versions(&format!("{}/registry/all/v0.1", replica.base), true).await;
        let unique: BTreeSet<(String, String)> = rows
            .iter()
            .map(|(n, v, _, _)| (n.clone(), v.clone()))
            .collect();
        assert_eq!(rows.len(), 2000, "no duplicates, no lost rows");
        assert_eq!(unique.len(), 2000);
        assert_eq!(
            rows.iter().filter(|r| r.3).count(),
            500,
            "one latest per server"
        );
    }
    let out = Command::new("psql")
        .args([&db, "-tAc", "SELECT COUNT(*), COUNT(DISTINCT (server_name, version)) FROM server_versions WHERE source = 'up'"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2000|2000");

    // FOR UPDATE SKIP LOCKED, observed: while another transaction holds the source's row (as a replica does for
    // the whole of its sync), a sync on either replica is refused at once with 409 — not queued behind it (a
    // plain FOR UPDATE would wait out the holder's 300 s) — and goes ahead once the holder is gone.
    for replica in [&r1, &r2] {
        wait_synced(&replica.base, "up").await;
    }
    let psql = |sql: &str| {
        Command::new("psql")
            .args([&db, "-tAc", sql])
            .output()
            .unwrap()
    };
    let mut holder = Command::new("psql")
        .args([&db, "-c", "BEGIN; SELECT name FROM sync_sources WHERE name = 'up' FOR UPDATE; SELECT pg_sleep(300) AS held_by_the_test;"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let probe = psql("SELECT name FROM sync_sources WHERE name = 'up' FOR UPDATE NOWAIT");
        if String::from_utf8_lossy(&probe.stderr).contains("could not obtain lock") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the test's transaction never held the row"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for replica in [&r1, &r2] {
        let (code, v) =
            tokio::time::timeout(Duration::from_secs(60), sync_now(&replica.base, "up", true))
                .await
                .expect("a sync of a locked source answers at once, it does not wait for the lock");
        assert_eq!(code, 409, "{v}");
        assert!(v.to_string().contains("another replica"), "{v}");
    }
    psql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%held_by_the_test%' AND pid <> pg_backend_pid()",
    );
    let _ = holder.wait();
    let (code, v) = sync_now(&r1.base, "up", true).await;
    assert_eq!(code, 200, "{v}");
}

fn registry_file(servers: &[Value]) -> String {
    json!({"$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/registry.schema.json",
           "version": "1.0.0", "meta": {"last_updated": "2026-11-24T00:00:00Z"}, "data": {"servers": servers}})
    .to_string()
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A source's signature policy: under `enforce`, entries not signed by a trusted key are skipped and reported.
#[tokio::test(flavor = "multi_thread")]
async fn a_source_enforcing_signatures_takes_only_signed_entries() {
    use thv_core::signature;
    let home = tempfile::tempdir().unwrap();
    let key = signature::generate_key_pair().unwrap();
    let pub_path = home.path().join("cosign.pub");
    std::fs::write(&pub_path, key.public_key_to_pem().unwrap()).unwrap();
    let mut signed = server("io.github.signed/yes", "1.0.0", "Signed");
    signed["_meta"] = json!({
        signature::SIGNATURE_META: serde_json::to_value(signature::sign_with_key(&signed, &key).unwrap()).unwrap()
    });
    let mut tampered = server("io.github.signed/tampered", "1.0.0", "Tampered");
    tampered["_meta"] = json!({
        signature::SIGNATURE_META: serde_json::to_value(signature::sign_with_key(&tampered, &key).unwrap()).unwrap()
    });
    tampered["description"] = json!("Tampered after signing");
    let file = home.path().join("catalog.json");
    std::fs::write(
        &file,
        registry_file(&[
            signed,
            tampered,
            server("io.github.signed/no", "1.0.0", "Unsigned"),
        ]),
    )
    .unwrap();
    let config = write_config(
        home.path(),
        &format!(
            "[[sources]]\nname = \"file\"\nfile = {{ path = \"{}\" }}\nsignature_policy = {{ mode = \"enforce\", trusted_keys = [\"{}\"] }}\n\n[[registries]]\nname = \"signed\"\nsources = [\"file\"]\n",
            file.display(),
            pub_path.display()
        ),
    );
    let api = serve(home.path(), &config, None);
    let f = wait_synced(&api.base, "file").await;
    assert_eq!(f["status"], "complete", "{f}");
    assert_eq!(f["lastSync"]["skipped"], 2, "{f}");
    let reasons = f["lastSync"]["skippedEntries"].to_string();
    assert!(
        reasons.contains("signature: the entry carries no signature"),
        "{reasons}"
    );
    assert!(
        reasons.contains("signature: the bundle signs another entry"),
        "{reasons}"
    );
    let rows = all_versions(&format!("{}/registry/signed/v0.1", api.base), false).await;
    let names: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(names, ["io.github.signed/yes"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn file_and_git_sources() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("catalog.json");
    std::fs::write(
        &file,
        registry_file(&[
            server("io.github.files/alpha", "1.0.0", "File A"),
            server("io.github.files/alpha", "1.1.0", "File A, newer"),
            server("io.github.files/beta", "1.0.0", "File B"),
            json!({"name": "bad name", "version": "1.0.0", "description": "invalid"}),
        ]),
    )
    .unwrap();
    let repo = home.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::create_dir(repo.join("catalog")).unwrap();
    std::fs::write(
        repo.join("catalog/registry.json"),
        registry_file(&[server("io.github.git/xray", "1.0.0", "From git")]),
    )
    .unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "one"]);

    let config = write_config(
        home.path(),
        &format!(
            r#"
[[sources]]
name = "file"
file = {{ path = "{}" }}

[[sources]]
name = "git"
git = {{ repository = "{}", branch = "main", path = "catalog/registry.json" }}

[[registries]]
name = "internal"
sources = ["git", "file"]
"#,
            file.display(),
            repo.display()
        ),
    );
    let api = serve(home.path(), &config, None);
    let base = api.base.clone();
    let f = wait_synced(&base, "file").await;
    assert_eq!(f["status"], "complete", "{f}");
    assert_eq!(
        f["lastSync"]["skipped"], 1,
        "the invalid entry is reported and skipped: {f}"
    );
    assert_eq!(
        f["lastSync"]["skippedEntries"][0]["server"], "bad name",
        "{f}"
    );
    let g = wait_synced(&base, "git").await;
    assert_eq!(g["status"], "complete", "{g}");
    let rows = all_versions(&format!("{base}/registry/internal/v0.1"), false).await;
    let names: Vec<String> = rows
        .iter()
        .map(|r| format!("{}@{}{}", r.0, r.1, if r.3 { "*" } else { "" }))
        .collect();
    assert_eq!(
        names,
        [
            "io.github.files/alpha@1.0.0",
            "io.github.files/alpha@1.1.0*",
            "io.github.files/beta@1.0.0*",
            "io.github.git/xray@1.0.0*"
        ]
    );

    // Unchanged content: nothing written.
    let (code, v) = sync_now(&base, "file", false).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["source"]["lastSync"]["mode"], "unchanged", "{v}");
    // A git source is skipped while its commit is unchanged: what is read is the file at the fetched commit, so
    // an uncommitted change in the repository's working tree is not seen either.
    let head = String::from_utf8(
        Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(["rev-parse", "HEAD"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    std::fs::write(
        repo.join("catalog/registry.json"),
        registry_file(&[server(
            "io.github.git/uncommitted",
            "1.0.0",
            "Not committed",
        )]),
    )
    .unwrap();
    let (code, v) = sync_now(&base, "git", false).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["result"], "synced", "{v}");
    assert_eq!(v["source"]["lastSync"]["mode"], "unchanged", "{v}");
    let origin = v["source"]["lastSync"]["origin"]
        .as_str()
        .unwrap_or_default();
    assert!(
        origin.contains(head.trim()),
        "the origin names the commit {head}: {v}"
    );
    assert_eq!(
        all_versions(&format!("{base}/registry/internal/v0.1"), false)
            .await
            .len(),
        4,
        "nothing written"
    );

    // b removed, a deprecated by its ToolHive metadata: both propagate.
    let mut a = server("io.github.files/alpha", "1.1.0", "File A, newer");
    a["_meta"] = json!({"io.modelcontextprotocol.registry/publisher-provided": {"io.github.stacklok": {"https://files-alpha.example.com/1.1.0/mcp": {"status": "Deprecated", "tier": "Community"}}}});
    std::fs::write(
        &file,
        registry_file(&[server("io.github.files/alpha", "1.0.0", "File A"), a]),
    )
    .unwrap();
    let (code, v) = sync_now(&base, "file", false).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["source"]["lastSync"]["removed"], 1, "{v}");
    let rows = all_versions(&format!("{base}/registry/internal/v0.1"), true).await;
    assert!(!rows.iter().any(|r| r.0 == "io.github.files/beta"));
    assert!(
        rows.iter()
            .any(|r| r.0 == "io.github.files/alpha" && r.1 == "1.1.0" && r.2 == "deprecated"),
        "{rows:?}"
    );

    // A truncated file: the sync fails naming the file, the last good data stays.
    std::fs::write(
        &file,
        &registry_file(&[server("io.github.files/z", "1.0.0", "Z")])[..40],
    )
    .unwrap();
    let (code, v) = sync_now(&base, "file", false).await;
    assert_eq!(code, 502, "{v}");
    assert!(v["error"].as_str().unwrap().contains("catalog.json"), "{v}");
    assert_eq!(
        all_versions(&format!("{base}/registry/internal/v0.1"), true).await,
        rows
    );

    // A new commit in git; git precedes file in "internal", so its copy of a name wins.
    std::fs::write(
        repo.join("catalog/registry.json"),
        registry_file(&[
            server("io.github.git/xray", "2.0.0", "From git, v2"),
            server("io.github.files/alpha", "9.0.0", "Git's A"),
        ]),
    )
    .unwrap();
    git(&repo, &["commit", "-qam", "two"]);
    let (code, v) = sync_now(&base, "git", false).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(
        v["source"]["lastSync"]["removed"], 1,
        "x@1.0.0 is gone: {v}"
    );
    let rows = all_versions(&format!("{base}/registry/internal/v0.1"), false).await;
    let names: Vec<String> = rows.iter().map(|r| format!("{}@{}", r.0, r.1)).collect();
    assert_eq!(
        names,
        ["io.github.files/alpha@9.0.0", "io.github.git/xray@2.0.0"]
    );
}

#[test]
fn bad_source_configuration_is_refused_naming_each_field() {
    let home = tempfile::tempdir().unwrap();
    let config = write_config(
        home.path(),
        r#"
[[sources]]
name = "up"
api = { endpoint = "ftp://example.com" }
sync_policy = { interval = "often" }

[[registries]]
name = "prod"
sources = ["up", "missing"]
"#,
    );
    let out = command(home.path())
        .args(["--config", config.to_str().unwrap(), "--no-seed"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "sources[0].api.endpoint: 'ftp://example.com' must be an http or https URL",
        "sources[0].sync_policy.interval: 'often' is not a duration",
        "registries[0].sources[1]: no source is named 'missing'",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in {err}");
    }
}

/// On SQLite (one writer at a time) a sync reads its source before it writes: an upstream that hangs holds up no
/// publish, and its failure changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_upstream_holds_up_no_publish() {
    // Accepts connections and never answers.
    let hang = TcpListener::bind("127.0.0.1:0").unwrap();
    let hang_addr = hang.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in hang.incoming().flatten() {
            held.push(conn);
        }
    });
    let home = tempfile::tempdir().unwrap();
    let config = write_config(
        home.path(),
        &format!(
            "[[sources]]\nname = \"slow\"\napi = {{ endpoint = \"http://{hang_addr}\", timeout = \"4s\" }}\nallow_private_addresses = true\n"
        ),
    );
    let api = serve(home.path(), &config, None);
    let base = api.base.clone();
    // The startup sync hangs on the upstream.
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&format!("{base}/v1/sources/slow")).await.1["status"] != "syncing" {
        assert!(Instant::now() < deadline, "the startup sync never began");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    publish(
        &base,
        &server(
            "io.github.busy/while-syncing",
            "1.0.0",
            "Published during a sync",
        ),
    )
    .await;
    let (_, source) = get(&format!("{base}/v1/sources/slow")).await;
    assert_eq!(
        source["status"], "syncing",
        "the publish did not wait for the sync: {source}"
    );
    let failed = wait_synced(&base, "slow").await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let (code, _) = get(&format!(
        "{base}/v0.1/servers/io.github.busy%2Fwhile-syncing/versions/latest"
    ))
    .await;
    assert_eq!(code, 200);
}
