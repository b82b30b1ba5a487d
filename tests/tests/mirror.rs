//! The air-gapped mirror bundle, end to end with real parts: images in the tests' OCI registry (Debian's
//! docker-registry), one signed with a key (cosign's `.sig` tag) and given a referrer; entries signed with a
//! publisher's key; `thv-registry mirror create` writes the bundle, skopeo reads it and copies an image out of
//! it by digest, `mirror verify` checks it offline — and refuses it, naming the cause, after each way of
//! tampering with it: a flipped byte in a layer, a blob cut short, an entry changed (and re-hashed into the
//! index), the contents signed by another key, an image's signature manifest left out. A run that stopped
//! half-way (blobs missing, a partial file left) is resumed by running `create` again. Image signatures are
//! verified offline with the image keys.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use thv_e2e::binary;
use thv_e2e::oci::{Repository, key_pair, push_key_signature, push_test_image, registry};
use thv_e2e::thv::unique;

fn thv_registry(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(binary("thv-registry"))
        .current_dir(dir)
        .env("COSIGN_PASSWORD", "")
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .expect("thv-registry runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let (code, stdout, stderr) = thv_registry(dir, args);
    assert_eq!(code, 0, "thv-registry {args:?}\n{stdout}\n{stderr}");
    stdout + &stderr
}

/// `mirror verify` fails; its stderr.
fn refused(dir: &Path, args: &[&str]) -> String {
    let (code, stdout, stderr) = thv_registry(dir, args);
    assert_eq!(
        code, 1,
        "thv-registry {args:?} should refuse\n{stdout}\n{stderr}"
    );
    stderr
}

fn skopeo(args: &[&str]) -> String {
    tool("skopeo", "apt-get install skopeo", args)
}

fn oras(args: &[&str]) -> String {
    tool(
        "oras",
        "go install oras.land/oras/cmd/oras@v1.3.6 (.ci/run does)",
        args,
    )
}

/// A peer tool, which must be installed; its stdout.
fn tool(name: &str, install: &str, args: &[&str]) -> String {
    let out = Command::new(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name} is installed ({install}): {e}"));
    assert!(
        out.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn entry(name: &str, image: &str) -> Value {
    json!({"$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
           "name": name, "description": "Mirrored", "version": "1.0.0",
           "packages": [{"registryType": "oci", "identifier": image, "transport": {"type": "stdio"}}]})
}

fn index(bundle: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(bundle.join("index.json")).unwrap()).unwrap()
}

fn blob(bundle: &Path, digest: &str) -> std::path::PathBuf {
    bundle
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// The largest blob of the bundle (a layer of the test image).
fn largest_blob(bundle: &Path) -> std::path::PathBuf {
    std::fs::read_dir(bundle.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    let out = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mirror_bundle_is_written_read_by_skopeo_verified_and_tampering_is_refused() {
    let Some(reg) = registry() else { return };
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path();
    // Images: one signed with a key and given a referrer, one referenced by tag.
    let signed = format!("{reg}/{}:1", unique("mirror-signed"));
    let by_tag = format!("{reg}/{}:1", unique("mirror-tag"));
    push_test_image(&signed, &[]);
    push_test_image(&by_tag, &[]);
    let signer = key_pair(h, "image");
    push_key_signature(&signed, signer, None).await;
    let repo = Repository::of(&signed).await;
    repo.attach_bundle(&json!({"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}))
        .await;
    let (_, digest) = repo.manifest().await;
    let pinned = format!("{}@{digest}", repo.name());

    // Entries, one signed by its publisher.
    ok(h, &["keygen", "--output-key-prefix", "publisher"]);
    ok(h, &["keygen", "--output-key-prefix", "mirror"]);
    ok(h, &["keygen", "--output-key-prefix", "other"]);
    std::fs::write(
        h.join("a.json"),
        entry("io.github.mirror/signed", &pinned).to_string(),
    )
    .unwrap();
    ok(h, &["sign", "a.json", "--key", "publisher.key", "--embed"]);
    let a: Value = serde_json::from_slice(&std::fs::read(h.join("a.json")).unwrap()).unwrap();
    let registry_file = json!({"$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/registry.schema.json",
        "version": "1.0.0", "meta": {}, "data": {"servers": [a, entry("io.github.mirror/tagged", &by_tag)]}});
    std::fs::write(h.join("registry.json"), registry_file.to_string()).unwrap();

    let create = [
        "mirror",
        "create",
        "--from",
        "registry.json",
        "--key",
        "mirror.key",
        "--insecure-registry",
        &reg,
        "-o",
        "bundle",
    ];
    let summary = ok(h, &create);
    assert!(
        summary.contains("mirrored 2 entries and 2 images"),
        "{summary}"
    );
    let bundle = h.join("bundle");

    // The layout: every image under its name, its signature manifest and referrer beside it.
    let names: Vec<String> = index(&bundle)["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(names.contains(&pinned), "{names:?}");
    assert!(
        names.contains(&format!("{}:{}.sig", repo.name(), digest.replace(':', "-"))),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|n| n.starts_with(&format!("{}@sha256:", repo.name())) && *n != pinned),
        "a referrer: {names:?}"
    );
    assert!(
        names.contains(&"toolhive-mirror".to_owned())
            && names.contains(&"toolhive-mirror-entries".to_owned())
    );

    // skopeo reads it and copies an image out of it by digest.
    let inspected: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        &format!("oci:{}:{pinned}", bundle.display()),
    ]))
    .unwrap();
    assert_eq!(inspected["Digest"], digest.as_str());
    let copied = h.join("copied");
    skopeo(&[
        "copy",
        &format!("oci:{}:{pinned}", bundle.display()),
        &format!("dir:{}", copied.display()),
    ]);
    assert!(copied.join("manifest.json").is_file());
    // oras reads it too: the image's manifest by digest, every name, and the entries artifact pulled as files.
    let layout_at = |digest: &str| format!("{}@{digest}", bundle.display());
    let manifest: Value = serde_json::from_str(&oras(&[
        "manifest",
        "fetch",
        "--oci-layout",
        &layout_at(&digest),
    ]))
    .unwrap();
    assert!(manifest["layers"].is_array(), "{manifest}");
    let names = oras(&["repo", "tags", "--oci-layout", bundle.to_str().unwrap()]);
    assert!(
        names.contains("toolhive-mirror-entries") && names.contains(&pinned),
        "{names}"
    );
    let entries_digest = index(&bundle)["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| {
            d["annotations"]["org.opencontainers.image.ref.name"] == "toolhive-mirror-entries"
        })
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let pulled = h.join("pulled");
    oras(&[
        "pull",
        "--oci-layout",
        &layout_at(&entries_digest),
        "-o",
        pulled.to_str().unwrap(),
    ]);
    let signed_entry: Value = serde_json::from_slice(
        &std::fs::read(pulled.join("io.github.mirror_signed@1.0.0.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(signed_entry, a, "the entry as signed");

    // Verified offline, entry signatures with the publisher's key.
    let verify = [
        "mirror",
        "verify",
        "bundle",
        "--key",
        "mirror.pub",
        "--entry-key",
        "publisher.pub",
    ];
    let (code, out, err) = thv_registry(h, &verify);
    assert_eq!(code, 1, "the tagged entry is unsigned: {out}{err}");
    assert!(
        err.contains("io.github.mirror/tagged@1.0.0: the entry carries no signature"),
        "{err}"
    );
    let report = ok(h, &["mirror", "verify", "bundle", "--key", "mirror.pub"]);
    assert!(
        report.contains("ok io.github.mirror/signed@1.0.0")
            && report.contains("verified bundle: 2 entries, 2 images"),
        "{report}"
    );

    // Image signatures, offline, with the image keys: the signed image verifies, the unsigned one is named.
    let (code, _, err) = thv_registry(
        h,
        &[
            "mirror",
            "verify",
            "bundle",
            "--key",
            "mirror.pub",
            "--image-key",
            "image.pub",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "image {by_tag}: not signed: no cosign signature at sha256-"
        )),
        "{err}"
    );
    ok(
        h,
        &[
            "mirror",
            "create",
            "--from",
            "registry.json",
            "--name",
            "io.github.mirror/signed",
            "--key",
            "mirror.key",
            "--insecure-registry",
            &reg,
            "-o",
            "signed-only",
        ],
    );
    let report = ok(
        h,
        &[
            "mirror",
            "verify",
            "signed-only",
            "--key",
            "mirror.pub",
            "--image-key",
            "image.pub",
        ],
    );
    assert!(
        report.contains(&format!("ok image {pinned}: signed by key image.pub")),
        "{report}"
    );
    let err = refused(
        h,
        &[
            "mirror",
            "verify",
            "signed-only",
            "--key",
            "mirror.pub",
            "--image-key",
            "publisher.pub",
        ],
    );
    assert!(
        err.contains("no signature verifies with the trusted keys (publisher.pub: "),
        "{err}"
    );

    // The same as one tar file: skopeo reads it as an OCI archive, verify and push take it.
    ok(
        h,
        &[
            "mirror",
            "create",
            "--from",
            "registry.json",
            "--name",
            "io.github.mirror/signed",
            "--key",
            "mirror.key",
            "--insecure-registry",
            &reg,
            "-o",
            "signed.tar",
        ],
    );
    assert!(!h.join("signed.tar.work").exists());
    let inspected: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        &format!("oci-archive:{}:{pinned}", h.join("signed.tar").display()),
    ]))
    .unwrap();
    assert_eq!(inspected["Digest"], digest.as_str());
    let report = ok(
        h,
        &[
            "mirror",
            "verify",
            "signed.tar",
            "--key",
            "mirror.pub",
            "--image-key",
            "image.pub",
        ],
    );
    assert!(
        report.contains("verified signed.tar: 1 entries, 1 images"),
        "{report}"
    );
    let mut cut = std::fs::read(h.join("signed.tar")).unwrap();
    cut.truncate(cut.len() / 2);
    std::fs::write(h.join("cut.tar"), cut).unwrap();
    let (code, _, err) = thv_registry(h, &["mirror", "verify", "cut.tar", "--key", "mirror.pub"]);
    assert_ne!(code, 0, "a bundle cut short is refused: {err}");

    // A run stopped half-way (a layer missing, a partial file left) is resumed: only the missing blob is fetched.
    let layer = largest_blob(&bundle);
    std::fs::remove_file(&layer).unwrap();
    std::fs::write(bundle.join("blobs/sha256/.partial-0000-1"), b"cut").unwrap();
    let summary = ok(h, &create);
    assert!(summary.contains("(1 fetched"), "{summary}");
    assert!(!bundle.join("blobs/sha256/.partial-0000-1").exists());
    ok(h, &["mirror", "verify", "bundle", "--key", "mirror.pub"]);

    // Tampering, each on a fresh copy; nothing is accepted, the cause named.
    let tamper = |name: &str, change: &dyn Fn(&Path)| -> String {
        let copy = h.join(name);
        copy_dir(&bundle, &copy);
        change(&copy);
        refused(h, &["mirror", "verify", name, "--key", "mirror.pub"])
    };
    let layer_name = layer.file_name().unwrap().to_string_lossy().into_owned();
    let err = tamper("flipped", &|b| {
        let p = b.join("blobs/sha256").join(&layer_name);
        let mut bytes = std::fs::read(&p).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 1;
        std::fs::write(&p, bytes).unwrap();
    });
    assert!(
        err.contains(&format!(
            "blob sha256:{layer_name}: the content's digest is"
        )),
        "{err}"
    );
    let err = tamper("truncated", &|b| {
        let p = b.join("blobs/sha256").join(&layer_name);
        let len = std::fs::metadata(&p).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(len / 2)
            .unwrap();
    });
    assert!(
        err.contains(&format!("blob sha256:{layer_name}:")) && err.contains("the record says"),
        "{err}"
    );
    let err = tamper("changed-entry", &|b| change_entry(b));
    assert!(err.contains("not in the signed contents"), "{err}");
    let err = tamper("no-signature", &|b| {
        let mut idx = index(b);
        idx["manifests"].as_array_mut().unwrap().retain(|d| {
            !d["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
                .ends_with(".sig")
        });
        std::fs::write(b.join("index.json"), idx.to_string()).unwrap();
    });
    assert!(
        err.contains(&format!(
            "index.json does not name '{}:sha256-",
            repo.name()
        )),
        "{err}"
    );
    // index.json naming images otherwise than the signed contents: a tool reading by name would get another
    // image than the one signed.
    let rename = |b: &Path, change: &dyn Fn(&mut Vec<Value>)| {
        let mut idx = index(b);
        change(idx["manifests"].as_array_mut().unwrap());
        std::fs::write(b.join("index.json"), idx.to_string()).unwrap();
    };
    let name_of = |d: &Value| {
        d["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let err = tamper("swapped-names", &|b| {
        rename(b, &|ds| {
            // The signed image and its referrer (another digest) trade names.
            let i = (0..ds.len()).find(|&i| name_of(&ds[i]) == pinned).unwrap();
            let j = (0..ds.len())
                .find(|&j| {
                    name_of(&ds[j]).starts_with(&format!("{}@sha256:", repo.name())) && j != i
                })
                .unwrap();
            let (a, b) = (name_of(&ds[i]), name_of(&ds[j]));
            ds[i]["annotations"]["org.opencontainers.image.ref.name"] = json!(b);
            ds[j]["annotations"]["org.opencontainers.image.ref.name"] = json!(a);
        })
    });
    assert!(
        err.contains("index.json: '") && err.contains(", the signed contents sha256:"),
        "{err}"
    );
    let err = tamper("extra-name", &|b| {
        rename(b, &|ds| {
            let mut extra = ds.iter().find(|d| name_of(d) == pinned).unwrap().clone();
            extra["annotations"]["org.opencontainers.image.ref.name"] =
                json!("docker.io/library/busybox:latest");
            ds.push(extra);
        })
    });
    assert!(
        err.contains("'docker.io/library/busybox:latest'")
            && err.contains("is not an image, signature or referrer"),
        "{err}"
    );
    // Nothing unlisted travels: an extra file among the blobs is refused.
    let err = tamper("extra-blob", &|b| {
        std::fs::write(b.join("blobs/sha256").join("ab".repeat(32)), b"smuggled").unwrap()
    });
    assert!(
        err.contains(&format!(
            "blobs/sha256/{}: not in the signed contents",
            "ab".repeat(32)
        )),
        "{err}"
    );
    // A FIFO in place of a blob is named, not waited on forever.
    let err = tamper("fifo", &|b| {
        let p = b.join("blobs/sha256").join(&layer_name);
        std::fs::remove_file(&p).unwrap();
        assert!(Command::new("mkfifo").arg(&p).status().unwrap().success());
    });
    assert!(
        err.contains(&format!(
            "blob sha256:{layer_name}: missing (not a regular file"
        )),
        "{err}"
    );

    // What the site would refuse is refused before anything is fetched: an invalid entry, one listed twice, an
    // image of another platform; a directory of the user's is not written into.
    std::fs::write(
        h.join("bad.json"),
        json!([entry("bad name!", &pinned)]).to_string(),
    )
    .unwrap();
    let (code, _, err) = thv_registry(
        h,
        &[
            "mirror",
            "create",
            "--from",
            "bad.json",
            "--key",
            "mirror.key",
            "-o",
            "bad",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("not a valid server.json") && err.contains("name"),
        "{err}"
    );
    std::fs::write(
        h.join("twice.json"),
        json!([
            entry("io.github.mirror/twice", &pinned),
            entry("io.github.mirror/twice", &pinned)
        ])
        .to_string(),
    )
    .unwrap();
    let (code, _, err) = thv_registry(
        h,
        &[
            "mirror",
            "create",
            "--from",
            "twice.json",
            "--key",
            "mirror.key",
            "-o",
            "twice",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("io.github.mirror/twice@1.0.0 is selected twice"),
        "{err}"
    );
    let (code, _, err) = thv_registry(
        h,
        &[
            "mirror",
            "create",
            "--from",
            "registry.json",
            "--key",
            "mirror.key",
            "--insecure-registry",
            &reg,
            "--platform",
            "linux/s390x",
            "-o",
            "s390x",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("image only; the bundle is for linux/s390x (--platform)"),
        "{err}"
    );
    std::fs::create_dir_all(h.join("mine")).unwrap();
    std::fs::write(h.join("mine/notes.txt"), b"mine").unwrap();
    let (code, _, err) = thv_registry(
        h,
        &[
            "mirror",
            "create",
            "--from",
            "registry.json",
            "--key",
            "mirror.key",
            "--insecure-registry",
            &reg,
            "-o",
            "mine",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("the directory holds files and no oci-layout"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(h.join("mine")).unwrap().count(),
        1,
        "nothing written into it"
    );
    // A push destination that is not a registry is refused before the bundle is read.
    let (code, _, err) = thv_registry(
        h,
        &[
            "mirror",
            "push",
            "bundle",
            "--key",
            "mirror.pub",
            "--oci-registry",
            "http://x/y",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("--oci-registry \"http://x/y\": expected HOST[:PORT][/PREFIX]"),
        "{err}"
    );
    // Re-running create over a bundle for another selection leaves only what the new one lists.
    copy_dir(&bundle, &h.join("reselected"));
    ok(
        h,
        &[
            "mirror",
            "create",
            "--from",
            "registry.json",
            "--name",
            "io.github.mirror/signed",
            "--key",
            "mirror.key",
            "--insecure-registry",
            &reg,
            "-o",
            "reselected",
        ],
    );
    ok(
        h,
        &["mirror", "verify", "reselected", "--key", "mirror.pub"],
    );
    // Re-signed by another key: the whole bundle is refused.
    let other = h.join("other-bundle");
    copy_dir(&bundle, &other);
    ok(
        h,
        &[
            "mirror",
            "create",
            "--from",
            "registry.json",
            "--key",
            "other.key",
            "--insecure-registry",
            &reg,
            "-o",
            "other-bundle",
        ],
    );
    let err = refused(
        h,
        &["mirror", "verify", "other-bundle", "--key", "mirror.pub"],
    );
    assert!(
        err.contains("the contents' signature does not verify"),
        "{err}"
    );
}

/// Changes the signed entry's description, stores it as a new blob and points the entries artifact (and
/// index.json) at it: every digest consistent, but not what was signed.
fn change_entry(b: &Path) {
    let put = |bytes: &[u8]| -> (String, usize) {
        let digest = thv_e2e::oci::sha256_digest(bytes);
        std::fs::write(blob(b, &digest), bytes).unwrap();
        (digest, bytes.len())
    };
    let mut idx = index(b);
    let entries = idx["manifests"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|d| {
            d["annotations"]["org.opencontainers.image.ref.name"] == "toolhive-mirror-entries"
        })
        .unwrap();
    let digest = entries["digest"].as_str().unwrap().to_owned();
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(blob(b, &digest)).unwrap()).unwrap();
    let layer = &mut manifest["layers"][0];
    let mut doc: Value =
        serde_json::from_slice(&std::fs::read(blob(b, layer["digest"].as_str().unwrap())).unwrap())
            .unwrap();
    doc["description"] = json!("Changed after signing");
    let (d, size) = put(&serde_json::to_vec(&doc).unwrap());
    layer["digest"] = json!(d);
    layer["size"] = json!(size);
    let (d, size) = put(&serde_json::to_vec(&manifest).unwrap());
    entries["digest"] = json!(d);
    entries["size"] = json!(size);
    std::fs::write(b.join("index.json"), idx.to_string()).unwrap();
}

/// The whole air-gapped path: a bundle made from the origin registry is verified and pushed into the site's
/// registry (the private one, basic auth) and the site's `thv-registry-api`; `thv run NAME` there resolves the
/// entry from the site's API, pulls the image from the site's registry by the mapping `push` printed, verifies
/// its key signature and the entry's signature there, and serves it — the origin registry sees no request for the
/// image after `create`. A bundle that fails verification pushes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_pushed_bundle_runs_on_the_site_without_the_origin() {
    let (Some(origin), Some((site, creds))) = (registry(), thv_e2e::oci::auth_registry()) else {
        return;
    };
    let Some(py) = thv_e2e::thv::python() else {
        return;
    };
    let origin_log = Path::new("/tmp/thv-oci-registry.log");
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path();
    let repo_name = unique("mirror-site");
    let image = format!("{origin}/{repo_name}:1");
    push_test_image(&image, &[]);
    push_key_signature(&image, key_pair(h, "image"), None).await;
    let (_, digest) = Repository::of(&image).await.manifest().await;
    let pinned = format!("{origin}/{repo_name}@{digest}");
    ok(h, &["keygen", "--output-key-prefix", "publisher"]);
    ok(h, &["keygen", "--output-key-prefix", "mirror"]);
    let name = format!("io.github.mirror/{}", repo_name.replace('-', ""));
    std::fs::write(h.join("e.json"), entry(&name, &pinned).to_string()).unwrap();
    ok(h, &["sign", "e.json", "--key", "publisher.key", "--embed"]);
    let e: Value = serde_json::from_slice(&std::fs::read(h.join("e.json")).unwrap()).unwrap();
    std::fs::write(h.join("registry.json"), json!([e]).to_string()).unwrap();
    ok(
        h,
        &[
            "mirror",
            "create",
            "--from",
            "registry.json",
            "--key",
            "mirror.key",
            "--insecure-registry",
            &origin,
            "-o",
            "bundle",
        ],
    );
    let origin_log_after_create = std::fs::metadata(origin_log).map(|m| m.len()).unwrap_or(0);

    // The site: credentials for its registry where container tools keep them, a fresh registry API.
    let thv = thv_e2e::thv::Thv::new();
    let config_dir = thv.home().join(".config");
    std::fs::create_dir_all(config_dir.join("containers")).unwrap();
    let auth = json!({"auths": {site.clone(): {"auth": base64_encode(&creds)}}});
    let auth_file = config_dir.join("containers/auth.json");
    std::fs::write(&auth_file, auth.to_string()).unwrap();
    let api_home = tempfile::tempdir().unwrap();
    let api = thv_e2e::registry_api::start_with(api_home.path(), &["--no-seed"]);
    let token = thv_e2e::registry_api::mint_token(api_home.path(), "io.github.mirror/*", "publish");

    // A tampered copy is refused and pushes nothing.
    copy_dir(&h.join("bundle"), &h.join("tampered"));
    let layer = largest_blob(&h.join("tampered"));
    let mut bytes = std::fs::read(&layer).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&layer, bytes).unwrap();
    let site_prefix = format!("{site}/site-{}", std::process::id());
    let push = |bundle: &str| {
        Command::new(binary("thv-registry"))
            .current_dir(h)
            .env("REGISTRY_AUTH_FILE", &auth_file)
            .args([
                "mirror",
                "push",
                bundle,
                "--key",
                "mirror.pub",
                "--entry-key",
                "publisher.pub",
                "--oci-registry",
                &site_prefix,
                "--insecure-registry",
                &site,
                "--registry-api",
                &api.base,
                "--token",
                &token,
            ])
            .output()
            .unwrap()
    };
    let out = push("tampered");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing pushed"));
    let listed: Value = reqwest::get(format!("{}/v0.1/servers", api.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["servers"].as_array().unwrap().len(), 0, "{listed}");

    let out = push("bundle");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mapping = format!(
        "{origin:?} = \"{site_prefix}/{}\"",
        origin.replace(':', "-")
    );
    assert!(stdout.contains(&mapping), "{stdout}");
    let listed: Value = reqwest::get(format!("{}/v0.1/servers", api.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["servers"][0]["server"], e,
        "the entry is published unchanged"
    );

    // thv on the site: the site's API, the mirror mapping, signatures enforced for entries and images.
    let config = format!(
        "[registry]\nurl = \"{}\"\n\n[signatures]\nmode = \"enforce\"\ntrusted_keys = [\"{}\"]\n\n\
         [images]\nverification = \"enabled\"\ntrusted_keys = [\"{}\"]\ninsecure_registries = [\"{site}\"]\n\n\
         [images.mirrors]\n{mapping}\n",
        api.base,
        h.join("publisher.pub").display(),
        h.join("image.pub").display(),
    );
    std::fs::create_dir_all(config_dir.join("thv")).unwrap();
    std::fs::write(config_dir.join("thv/config.toml"), config).unwrap();
    let workload = unique("mirrored");
    let err = thv.ok_stderr(&["run", &name, "--name", &workload]);
    assert!(
        err.contains(&format!("from the mirror, {site_prefix}/")),
        "{err}"
    );
    assert!(err.contains("signature verified"), "{err}");
    let url = thv.url(&workload);
    assert_eq!(
        thv_e2e::thv::call_tool(
            &py,
            &url,
            "streamable-http",
            "echo",
            &json!({"text": "offline"})
        ),
        "offline"
    );
    thv.ok(&["rm", &workload]);
    let origin_requests = std::fs::read(origin_log)
        .map(|log| {
            String::from_utf8_lossy(&log[origin_log_after_create as usize..])
                .matches(&repo_name)
                .count()
        })
        .unwrap_or(0);
    assert_eq!(
        origin_requests, 0,
        "the origin registry was asked for {repo_name} after create"
    );
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}
