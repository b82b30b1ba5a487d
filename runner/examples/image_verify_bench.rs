//! What image verification costs `thv run` (`bench/image_verification.sh` runs it): the time of
//! [`thv::image_verify::verify`] for one image, end to end against a local registry — resolving the tag's digest,
//! reading the signatures, verifying them — for each kind of signature:
//!
//! - `key`: a cosign signature by a trusted key (sigstore's cosign client);
//! - `keyless`: a keyless cosign signature (`sha256-<digest>.sig`) matched against a provenance;
//! - `attestation`: a keyless SLSA attestation among the image's referrers, matched against a provenance;
//! - `keyless-refused`: a keyless signature that does not match (every signature read, none accepted);
//! - `registry-client`: for scale, making one registry client (which loads the system CA store), part of each
//!   of the above.
//!
//! The images are small synthetic ones pushed by this program (one 1 KiB layer), signed by the tests' private
//! Sigstore ([`thv_e2e::sigstore`]) and a generated key. A warm-up, then `--iterations` sequential
//! verifications per variant; one JSON line per variant on stdout:
//!
//! ```text
//! {"variant":"keyless","iterations":200,"p50_us":…,"p90_us":…,"p99_us":…,"mean_us":…}
//! ```
//!
//! ```sh
//! cargo run --release -p thv --example image_verify_bench -- --registry 127.0.0.1:55000 --iterations 200
//! ```

use std::time::Instant;

use clap::Parser;
use serde_json::json;
use thv::image_verify::{ImagesConfig, verify};
use thv_core::signature::provenance::GITHUB_ACTIONS_ISSUER;
use thv_core::toolhive::Provenance;
use thv_e2e::oci::{Repository, key_pair, push_key_signature};
use thv_e2e::sigstore::{
    OID_RUNNER_ENVIRONMENT, OID_SOURCE_REPOSITORY_REF, OID_SOURCE_REPOSITORY_URI, Subject,
    TestSigstore,
};

#[derive(Parser)]
struct Args {
    /// The registry (host:port, plain HTTP) to push to and read from.
    #[arg(long)]
    registry: String,
    #[arg(long, default_value_t = 200)]
    iterations: usize,
    #[arg(long, default_value_t = 20)]
    warmup: usize,
}

const SOURCE_REPO: &str = "https://github.com/example/bench";

/// Pushes a small synthetic image; its repository.
async fn push_image(image: &str) -> Repository {
    let repo = Repository::of(image).await;
    let config = repo
        .blob(
            "application/vnd.oci.image.config.v1+json",
            json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}})
                .to_string()
                .as_bytes(),
        )
        .await;
    let layer = repo
        .blob("application/vnd.oci.image.layer.v1.tar", &[7u8; 1024])
        .await;
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "config": config, "layers": [layer]});
    let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("latest");
    repo.manifest_at(tag, "application/vnd.oci.image.manifest.v1+json", &manifest)
        .await;
    repo
}

fn percentile(sorted: &[u128], p: f64) -> u128 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let tag = format!("bench-{}", std::process::id());
    let image = |name: &str| format!("{}/thv-bench/{name}:{tag}", args.registry);

    let s = TestSigstore::new();
    let leaf = |workflow: &str| {
        s.leaf(
            Subject::Uri(&format!(
                "{SOURCE_REPO}/.github/workflows/{workflow}@refs/tags/v1"
            )),
            GITHUB_ACTIONS_ISSUER,
            &[
                (OID_SOURCE_REPOSITORY_URI, SOURCE_REPO),
                (OID_SOURCE_REPOSITORY_REF, "refs/tags/v1"),
                (OID_RUNNER_ENVIRONMENT, "github-hosted"),
            ],
        )
    };
    let provenance = Provenance {
        repository_uri: Some(SOURCE_REPO.into()),
        repository_ref: Some("refs/tags/v1".into()),
        signer_identity: Some("/.github/workflows/release.yml".into()),
        runner_environment: Some("github-hosted".into()),
        cert_issuer: Some(GITHUB_ACTIONS_ISSUER.into()),
        ..Default::default()
    };

    // key
    let key_image = image("key");
    push_image(&key_image).await;
    let signer = key_pair(dir.path(), "cosign");
    let key = dir.path().join("cosign.pub");
    push_key_signature(&key_image, signer, None).await;
    // keyless, keyless-refused
    let mut keyless_images = Vec::new();
    for (name, workflow) in [("keyless", "release.yml"), ("refused", "nightly.yml")] {
        let img = image(name);
        let repo = push_image(&img).await;
        let (_, digest) = repo.manifest().await;
        let (payload, annotations) = s.cosign_layer(&repo.name(), &digest, &leaf(workflow));
        repo.push_cosign_signature(&digest, &payload, &annotations)
            .await;
        keyless_images.push(img);
    }
    // attestation
    let attested = image("attested");
    let repo = push_image(&attested).await;
    let (_, digest) = repo.manifest().await;
    let bundle = s.attestation_bundle(
        &repo.name(),
        &digest,
        "https://slsa.dev/provenance/v1",
        &json!({"buildDefinition": {"buildType": "bench"}}),
        &leaf("release.yml"),
    );
    repo.attach_bundle(&bundle).await;

    let root = dir.path().join("trusted_root.json");
    std::fs::write(&root, s.trusted_root())?;
    let keys = ImagesConfig {
        trusted_keys: vec![key],
        insecure_registries: vec![args.registry.clone()],
        ..Default::default()
    };
    let keyless = ImagesConfig {
        trusted_root: Some(root),
        insecure_registries: vec![args.registry.clone()],
        ..Default::default()
    };
    let variants: [(&str, &str, &ImagesConfig, Option<&Provenance>, bool); 4] = [
        ("key", &key_image, &keys, None, true),
        (
            "keyless",
            &keyless_images[0],
            &keyless,
            Some(&provenance),
            true,
        ),
        ("attestation", &attested, &keyless, Some(&provenance), true),
        (
            "keyless-refused",
            &keyless_images[1],
            &keyless,
            Some(&provenance),
            false,
        ),
    ];
    // No mirror bundle loaded: every image is read from its registry.
    let no_store = tempfile::tempdir()?;
    let loaded = thv::mirror::store::MirrorStore::new(no_store.path());
    for (variant, img, config, prov, passes) in variants {
        let mut times = Vec::with_capacity(args.iterations);
        for i in 0..args.warmup + args.iterations {
            let start = Instant::now();
            let result = verify(img, config, prov, &loaded).await;
            let took = start.elapsed().as_micros();
            if result.is_ok() != passes {
                anyhow::bail!("{variant}: unexpected result: {:?}", result.err());
            }
            if i >= args.warmup {
                times.push(took);
            }
        }
        report(variant, times);
    }
    let mut times = Vec::with_capacity(args.iterations);
    for _ in 0..args.iterations {
        let start = Instant::now();
        let client = oci_client::Client::new(oci_client::client::ClientConfig::default());
        times.push(start.elapsed().as_micros());
        drop(client);
    }
    report("registry-client", times);
    Ok(())
}

fn report(variant: &str, mut times: Vec<u128>) {
    times.sort_unstable();
    let mean = times.iter().sum::<u128>() / times.len() as u128;
    println!(
        "{}",
        json!({"variant": variant, "iterations": times.len(),
               "p50_us": percentile(&times, 0.5), "p90_us": percentile(&times, 0.9),
               "p99_us": percentile(&times, 0.99), "mean_us": mean})
    );
}
