//! A package entry in a mirror bundle: `mirror create` builds the image of an npm entry
//! (`@modelcontextprotocol/server-everything` at a pinned version, from the npm registry, online) with thv's own
//! builder and takes it into the bundle, annotated with the package, version and the tarball's integrity hash
//! from npm; `mirror verify` reports it as the mirror operator's build; after the engine has forgotten the
//! image, `thv mirror load` puts it back under thv's name and `thv run NAME` runs it without building anything
//! (no npm on the other side), a real MCP client calling it through the proxy.

use std::process::Command;

use serde_json::{Value, json};
use thv_e2e::mirror::{ok, thv_registry};
use thv_e2e::thv::{Thv, call, engine_image_and_python, podman, unique};

const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Not the latest (which `thv_packages` builds): this test owns the image of this version.
const VERSION: &str = "2026.8.18";
const PACKAGE: &str = "@modelcontextprotocol/server-everything";
const IMAGE: &str = "localhost/thv-npx-modelcontextprotocol-server-everything:2026.8.18";

fn npm_entry(name: &str, version: Option<&str>) -> Value {
    let mut package = json!({"registryType": "npm", "identifier": PACKAGE, "transport": {"type": "stdio"},
        "packageArguments": [{"type": "positional", "value": "stdio"}]});
    if let Some(v) = version {
        package["version"] = json!(v);
    }
    json!({"$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
           "name": name, "description": "Everything, mirrored", "version": "1.0.0", "packages": [package]})
}

#[tokio::test(flavor = "multi_thread")]
async fn a_package_entry_is_built_into_the_bundle_and_runs_offline_after_load() {
    let Some(py) = engine_image_and_python(
        "localhost/thv-base-node:bookworm",
        "scripts/build-base-images.sh",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path();
    ok(h, &["keygen", "--output-key-prefix", "mirror"]);
    let name = "io.github.modelcontextprotocol/server-everything";
    std::fs::write(
        h.join("r.json"),
        json!([npm_entry(name, Some(VERSION))]).to_string(),
    )
    .unwrap();
    let summary = ok(
        h,
        &[
            "mirror",
            "create",
            "--from",
            "r.json",
            "--key",
            "mirror.key",
            "--ca-cert",
            CA_BUNDLE,
            "-o",
            "bundle",
        ],
    );
    assert!(
        summary.contains("mirrored 1 entries and 1 images"),
        "{summary}"
    );

    let report = ok(h, &["mirror", "verify", "bundle", "--key", "mirror.pub"]);
    let expected = format!(
        "ok image {IMAGE}: signed by the mirror operator (built from npm {PACKAGE}@{VERSION} on localhost/thv-base-node:bookworm, file sha512-"
    );
    assert!(report.contains(&expected), "{report}");
    assert!(
        report.contains(&format!("ok {name}@1.0.0: "))
            && report.contains(&format!("images: {IMAGE}")),
        "{report}"
    );
    // Standard tools read the image, with its package annotations.
    let inspected = Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            &format!("oci:{}:{IMAGE}", h.join("bundle").display()),
        ])
        .output()
        .unwrap();
    assert!(
        inspected.status.success(),
        "{}",
        String::from_utf8_lossy(&inspected.stderr)
    );
    let manifest: Value = serde_json::from_slice(&inspected.stdout).unwrap();
    assert_eq!(
        manifest["annotations"]["io.toolhive.package.identifier"],
        PACKAGE
    );
    assert_eq!(
        manifest["annotations"]["io.toolhive.package.version"],
        VERSION
    );

    // An entry whose package is not pinned cannot be mirrored: the other side could not tell what to run.
    std::fs::write(
        h.join("unpinned.json"),
        json!([npm_entry("io.github.x/unpinned", None)]).to_string(),
    )
    .unwrap();
    let (code, out) = thv_registry(
        h,
        &[
            "mirror",
            "create",
            "--from",
            "unpinned.json",
            "--key",
            "mirror.key",
            "-o",
            "unpinned",
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("names no version") && out.contains("pin the version in the entry"),
        "{out}"
    );

    // The other side: an engine that never had the image.
    let removed = podman(&["rmi", IMAGE]).output().unwrap();
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    let thv = Thv::new();
    let loaded = thv.ok(&[
        "mirror",
        "load",
        h.join("bundle").to_str().unwrap(),
        "--key",
        h.join("mirror.pub").to_str().unwrap(),
    ]);
    // Loaded, or (the engine still holding the same content under another name, from an earlier run) named.
    let repository = IMAGE.rsplit_once(':').unwrap().0;
    assert!(
        loaded.contains(&format!("loaded {repository}@sha256:"))
            || loaded.contains(&format!("present {repository}@sha256:")),
        "{loaded}"
    );
    let workload = unique("mirrored-npx");
    let err = thv.ok_stderr(&["run", name, "--name", &workload]);
    assert!(
        err.contains("package image present: not building it again"),
        "nothing is built offline: {err}"
    );
    let v = call(
        &py,
        &thv.url(&workload),
        "streamable-http",
        "echo",
        &json!({"message": "offline"}),
    );
    assert!(
        v["calls"][0]["text"].as_str().unwrap().contains("offline"),
        "{v}"
    );
    thv.ok(&["rm", &workload]);

    // A site with a registry: the bundle pushed there, thv on the site pulls the package image from it (the
    // mapping push printed) instead of building it.
    let Some(reg) = thv_e2e::oci::registry() else {
        return;
    };
    let site = format!("{reg}/{}", unique("site"));
    let pushed = ok(
        h,
        &[
            "mirror",
            "push",
            "bundle",
            "--key",
            "mirror.pub",
            "--oci-registry",
            &site,
            "--insecure-registry",
            &reg,
        ],
    );
    let mapping = format!("localhost = \"{site}/localhost\"");
    assert!(pushed.contains(&mapping), "{pushed}");
    let removed = podman(&["rmi", IMAGE]).output().unwrap();
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    let on_site = Thv::new();
    let registry_file = h.join("site-registry.json");
    std::fs::write(
        &registry_file,
        json!([npm_entry(name, Some(VERSION))]).to_string(),
    )
    .unwrap();
    let config = format!(
        "[registry]\nurl = {:?}\n\n[images]\ninsecure_registries = [{reg:?}]\n\n[images.mirrors]\n{mapping}\n",
        registry_file.display().to_string()
    );
    std::fs::create_dir_all(on_site.home().join(".config/thv")).unwrap();
    std::fs::write(on_site.home().join(".config/thv/config.toml"), config).unwrap();
    let workload = unique("site-npx");
    let err = on_site.ok_stderr(&["run", name, "--name", &workload]);
    assert!(
        err.contains(&format!("{IMAGE}: from the mirror, {site}/{IMAGE}")),
        "{err}"
    );
    let v = call(
        &py,
        &on_site.url(&workload),
        "streamable-http",
        "echo",
        &json!({"message": "site"}),
    );
    assert!(
        v["calls"][0]["text"].as_str().unwrap().contains("site"),
        "{v}"
    );
    on_site.ok(&["rm", &workload]);
    let _ = podman(&["rmi", &format!("{site}/{IMAGE}")]).output();
}
