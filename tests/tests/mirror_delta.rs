//! Mirror bundles over time: a `create` killed (SIGKILL) while it streams a layer is completed by running it
//! again — every blob already written is checked and kept, the partial file dropped, the rest fetched — and
//! `create --since OLD` writes a delta holding only what OLD lacks, which verifies only together with OLD
//! (`--base`), a changed blob of OLD included.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use thv_e2e::binary;
use thv_e2e::mirror::{oci_entry, ok, thv_registry};
use thv_e2e::oci::{Repository, push_test_image, registry};
use thv_e2e::thv::{podman, unique};

/// Builds the test server plus `files` (name, bytes; one layer each) as `image`, pushes it and removes it from
/// the engine; its reference by digest.
async fn build_and_push(h: &Path, image: &str, files: &[(&str, Vec<u8>)]) -> String {
    let context = h.join(unique("context"));
    std::fs::create_dir_all(&context).unwrap();
    let mut containerfile = "FROM localhost/thv-test-mcp-server:latest\n".to_owned();
    for (name, bytes) in files {
        std::fs::write(context.join(name), bytes).unwrap();
        containerfile.push_str(&format!("COPY {name} /{name}\n"));
    }
    std::fs::write(context.join("Containerfile"), containerfile).unwrap();
    for args in [
        vec!["build", "-q", "-t", image, context.to_str().unwrap()],
        vec!["push", "-q", "--tls-verify=false", image],
        vec!["rmi", image],
    ] {
        let out = podman(&args).output().unwrap();
        assert!(
            out.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let repo = Repository::of(image).await;
    let (_, digest) = repo.manifest().await;
    format!("{}@{digest}", repo.name())
}

/// Incompressible bytes (a layer that takes a while to stream).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn partials(bundle: &Path) -> Vec<String> {
    std::fs::read_dir(bundle.join("blobs/sha256"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".partial-"))
                .collect()
        })
        .unwrap_or_default()
}

fn size_of(bundle: &Path) -> u64 {
    std::fs::read_dir(bundle.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_killed_while_streaming_is_completed_by_running_it_again() {
    let Some(reg) = registry() else { return };
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path();
    let seed = std::process::id() as u64;
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("one", noise(24 << 20, seed)),
        ("two", noise(24 << 20, seed + 1)),
        ("three", noise(24 << 20, seed + 2)),
    ];
    let image = build_and_push(h, &format!("{reg}/{}:1", unique("mirror-kill")), &files).await;
    std::fs::write(
        h.join("r.json"),
        json!([oci_entry("io.github.delta/killed", &image)]).to_string(),
    )
    .unwrap();
    ok(h, &["keygen", "--output-key-prefix", "mirror"]);
    let args = [
        "mirror",
        "create",
        "--from",
        "r.json",
        "--key",
        "mirror.key",
        "--insecure-registry",
        &reg,
        "-o",
        "bundle",
    ];
    let mut child = Command::new(binary("thv-registry"))
        .current_dir(h)
        .env("COSIGN_PASSWORD", "")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed while it streams the second layer of its own: the first is then complete.
    let bundle = h.join("bundle");
    let started = Instant::now();
    let mut seen: Vec<String> = Vec::new();
    loop {
        for p in partials(&bundle) {
            if !seen.contains(&p) {
                seen.push(p);
            }
        }
        if seen.len() >= 2 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "create ended before it could be killed (seen {seen:?})"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no layer streamed"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    // One writer at a time.
    let (code, out) = thv_registry(h, &args);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("another `mirror create` is writing it"),
        "{out}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !partials(&bundle).is_empty(),
        "the kill left a partial file"
    );

    let summary = ok(h, &args);
    let reused: usize = summary
        .split(" already in place")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(
        reused >= 1,
        "the blobs written before the kill are kept: {summary}"
    );
    assert!(summary.contains(" fetched"), "{summary}");
    assert!(partials(&bundle).is_empty(), "the partial file is gone");
    let report = ok(h, &["mirror", "verify", "bundle", "--key", "mirror.pub"]);
    assert!(
        report.contains("verified bundle: 1 entries, 1 images"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delta_holds_only_what_the_old_bundle_lacks_and_verifies_with_it() {
    let Some(reg) = registry() else { return };
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path();
    let first = format!("{reg}/{}:1", unique("mirror-delta-a"));
    push_test_image(&first, &[]);
    let repo = Repository::of(&first).await;
    let first = format!("{}@{}", repo.name(), repo.manifest().await.1);
    ok(h, &["keygen", "--output-key-prefix", "mirror"]);
    ok(h, &["keygen", "--output-key-prefix", "other"]);
    std::fs::write(
        h.join("old.json"),
        json!([oci_entry("io.github.delta/first", &first)]).to_string(),
    )
    .unwrap();
    ok(
        h,
        &[
            "mirror",
            "create",
            "--from",
            "old.json",
            "--key",
            "mirror.key",
            "--insecure-registry",
            &reg,
            "-o",
            "old.tar",
        ],
    );

    // One image more, sharing the base layers: the delta holds its own layer, manifests and the new contents.
    let second = build_and_push(
        h,
        &format!("{reg}/{}:1", unique("mirror-delta-b")),
        &[("marker", unique("b").into_bytes())],
    )
    .await;
    std::fs::write(
        h.join("new.json"),
        json!([
            oci_entry("io.github.delta/first", &first),
            oci_entry("io.github.delta/second", &second)
        ])
        .to_string(),
    )
    .unwrap();
    let create = |since: &str, out: &str, key: &str| {
        thv_registry(
            h,
            &[
                "mirror",
                "create",
                "--from",
                "new.json",
                "--key",
                key,
                "--insecure-registry",
                &reg,
                "--since",
                since,
                "-o",
                out,
            ],
        )
    };
    let (code, out) = create("old.tar", "delta", "mirror.key");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("a delta over old.tar"), "{out}");
    ok(
        h,
        &[
            "mirror",
            "create",
            "--from",
            "new.json",
            "--key",
            "mirror.key",
            "--insecure-registry",
            &reg,
            "-o",
            "full",
        ],
    );
    let (delta, full) = (size_of(&h.join("delta")), size_of(&h.join("full")));
    assert!(
        delta * 20 < full,
        "the delta is {delta} bytes, the full bundle {full}"
    );
    // Pushed, the second image's shared layers are mounted from the first's repository, not sent again.
    let site = format!("{reg}/{}", unique("site"));
    let out = ok(
        h,
        &[
            "mirror",
            "push",
            "full",
            "--key",
            "mirror.pub",
            "--oci-registry",
            &site,
            "--insecure-registry",
            &reg,
        ],
    );
    let mounted: usize = out
        .split(" mounted from another repository")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(mounted >= 1, "{out}");

    // Alone it is refused, naming what it lacks; with its base it verifies, every blob of the base checked.
    let (code, out) = thv_registry(h, &["mirror", "verify", "delta", "--key", "mirror.pub"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("missing") && out.contains("this is a delta bundle") && out.contains("--base"),
        "{out}"
    );
    let report = ok(
        h,
        &[
            "mirror",
            "verify",
            "delta",
            "--key",
            "mirror.pub",
            "--base",
            "old.tar",
        ],
    );
    assert!(
        report.contains("verified delta: 2 entries, 2 images"),
        "{report}"
    );
    let skopeo = Command::new("skopeo")
        .args([
            "inspect",
            &format!("oci:{}:{second}", h.join("delta").display()),
        ])
        .output()
        .unwrap();
    assert!(
        skopeo.status.success(),
        "{}",
        String::from_utf8_lossy(&skopeo.stderr)
    );

    // A bundle file on read-only media (a DVD, a write-protected stick) is read all the same.
    let ro = Command::new("unshare")
        .args(["-m", "sh", "-c", &format!(
            "mount --bind -o ro {d} {d} && {bin} mirror verify {d}/old.tar --key {d}/mirror.pub",
            d = h.display(),
            bin = binary("thv-registry").display()
        )])
        .output()
        .unwrap();
    assert!(
        ro.status.success(),
        "{}{}",
        String::from_utf8_lossy(&ro.stdout),
        String::from_utf8_lossy(&ro.stderr)
    );
    // A base changed after the delta was made: the delta's signed list catches it.
    let base_dir = h.join("old-dir");
    std::fs::create_dir_all(&base_dir).unwrap();
    let untar = Command::new("tar")
        .args(["xf", "old.tar", "-C", "old-dir"])
        .current_dir(h)
        .status()
        .unwrap();
    assert!(untar.success());
    let largest = std::fs::read_dir(base_dir.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&largest).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&largest, bytes).unwrap();
    let (code, out) = thv_registry(
        h,
        &[
            "mirror",
            "verify",
            "delta",
            "--key",
            "mirror.pub",
            "--base",
            "old-dir",
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("the content's digest is"), "{out}");
    // A delta is made against a bundle of the same operator only.
    let (code, out) = create("old.tar", "foreign", "other.key");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("--since old.tar: it does not verify as a complete bundle signed with the key of other.key"),
        "{out}"
    );
}
