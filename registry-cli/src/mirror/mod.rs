//! `thv-registry mirror create|verify|push`: the air-gapped mirror bundle ([`thv_core::mirror`]).
//!
//! - `create --from SOURCE [--name GLOB]... [--exclude GLOB]... [--latest-only] [--platform OS/ARCH|all]
//!   --key cosign.key [--insecure-registry HOST[:PORT]]... [--trusted-root F]... [--entry-key PUB]...
//!   [--entry-identity ID --entry-issuer URL]... [--image-key PUB]... [--ca-cert PEM] [--since OLD] -o DIR|FILE.tar`:
//!   the selected entries (validated), every image they reference by digest with its signature manifest and
//!   referrers, package entries' images built ([`packages`]), the trust to carry, and the contents signed with
//!   the key ([`create`]); then the bundle is verified as the site will. Re-running it over the same output
//!   resumes: blobs in place are checked and kept, and what is not listed any more is removed. One writer at a
//!   time. `--since OLD` writes a delta.
//! - `verify DIR|FILE.tar --key mirror.pub [--entry-key PUB]... [--image-key PUB]... [--base OLD]`: offline,
//!   everything [`thv_core::mirror::verify`] checks; a line per entry and image; exit 1 naming each failure.
//! - `push DIR|FILE.tar --key mirror.pub [...] --oci-registry HOST[:PORT][/PREFIX] [--registry-api URL --token
//!   T]`: verifies first (nothing is pushed from a bundle that fails), then copies the images into the site's
//!   registry ([`push`]) and publishes the entries, unchanged, to the site's registry API (as `import --to`);
//!   prints the `[images] mirrors` lines that point thv at the copies.

mod create;
mod packages;
mod push;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use thv_core::api::ServerStatus;
use thv_core::mirror::archive;
use thv_core::mirror::contents::{Contents, Selection, Since};
use thv_core::mirror::layout::Layout;
use thv_core::mirror::verify::{KeyFiles, Report, Trust, verify, verify_files};
use thv_core::signature;

use crate::export::{entry_status, latest_per_name};
use crate::input::{self, ApiOptions};

#[derive(Debug, Subcommand)]
pub enum MirrorCommand {
    /// Write a mirror bundle (an OCI image layout): selected entries, their images by digest with signatures
    /// and referrers, the contents signed with a key.
    Create(CreateArgs),
    /// Verify a mirror bundle offline: its signature, every blob, every entry (and entry signatures with
    /// --entry-key).
    Verify(VerifyArgs),
    /// Verify a mirror bundle, then copy its images into the site's OCI registry and its entries into the
    /// site's registry API.
    Push(PushArgs),
}

#[derive(Debug, Args)]
pub struct PushArgs {
    #[command(flatten)]
    verify: VerifyArgs,
    /// The site's OCI registry: HOST[:PORT][/PREFIX]; an image HOST/REPO lands at
    /// HOST[:PORT][/PREFIX]/HOST'/REPO (HOST' = HOST with ':' made '-').
    #[arg(long, value_name = "HOST[:PORT][/PREFIX]")]
    oci_registry: String,
    /// A registry reached over plain HTTP (HOST[:PORT]; repeatable).
    #[arg(long, value_name = "HOST[:PORT]")]
    insecure_registry: Vec<String>,
    /// The site's thv-registry-api: its base URL; the entries are published there unchanged.
    #[arg(long, value_name = "URL")]
    registry_api: Option<String>,
    /// Write the trust material the bundle carries (trusted roots, keys) into this directory, and print thv's
    /// configuration using it.
    #[arg(long, value_name = "DIR")]
    trust_out: Option<PathBuf>,
    /// The registry API token (publish permission for the entries' names).
    #[arg(
        long,
        env = "THV_REGISTRY_TOKEN",
        hide_env_values = true,
        requires = "registry_api"
    )]
    token: Option<String>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The registry: a registry API base URL, a registry file (or URL), or a directory.
    #[arg(long, value_name = "SOURCE")]
    from: String,
    /// Only servers whose name matches this glob (`*`, `?`; repeatable, any may match).
    #[arg(long = "name", value_name = "GLOB")]
    names: Vec<String>,
    /// Leave out servers whose name matches this glob (repeatable).
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Only the latest version of each server.
    #[arg(long)]
    latest_only: bool,
    /// The platform taken from multi-platform images: OS/ARCH, or all (default: this machine's).
    #[arg(long, value_name = "OS/ARCH|all")]
    platform: Option<String>,
    /// The mirror operator's private key (cosign.key) that signs the bundle's contents.
    #[arg(long)]
    key: PathBuf,
    /// File holding the key's password (default: COSIGN_PASSWORD).
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// A registry reached over plain HTTP (HOST[:PORT]; repeatable).
    #[arg(long, value_name = "HOST[:PORT]")]
    insecure_registry: Vec<String>,
    /// A Sigstore trusted_root.json to carry, for keyless signatures (repeatable, one per Sigstore instance;
    /// default when an entry names a provenance or --entry-identity is given: the bundled public-good one).
    #[arg(long, value_name = "FILE")]
    trusted_root: Vec<PathBuf>,
    /// A publisher's public key to carry: the entries must be signed with one of the carried keys or signers
    /// (repeatable).
    #[arg(long, value_name = "PUB")]
    entry_key: Vec<PathBuf>,
    /// A keyless signer to carry: the certificate identity entries may be signed by (repeatable, each with an
    /// --entry-issuer, in order).
    #[arg(long, value_name = "IDENTITY")]
    entry_identity: Vec<String>,
    /// The OIDC issuer of the --entry-identity at the same position.
    #[arg(long, value_name = "ISSUER")]
    entry_issuer: Vec<String>,
    /// A public key to carry that the images may be signed with (cosign; repeatable).
    #[arg(long, value_name = "PUB")]
    image_key: Vec<PathBuf>,
    /// A PEM file of CA certificates installed into the images built for package entries (as `thv build
    /// --ca-cert`).
    #[arg(long, value_name = "PEM")]
    ca_cert: Option<PathBuf>,
    /// Write a delta: only what this earlier bundle (a directory or FILE.tar, signed with the same key) lacks;
    /// the site reads the rest from it (`verify`/`push`/`thv mirror load --base OLD`).
    #[arg(long, value_name = "OLD")]
    since: Option<PathBuf>,
    /// The bundle: a directory (created, or resumed when a run was stopped), or FILE.tar (one file; written
    /// through FILE.tar.work, which a stopped run resumes).
    #[arg(short, long, value_name = "DIR|FILE.tar")]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The bundle: a directory or FILE.tar.
    bundle: PathBuf,
    /// The mirror operator's public key (PEM).
    #[arg(long)]
    key: PathBuf,
    /// A publisher's public key the entries may be signed with, besides the keys and signers the bundle carries
    /// (repeatable). With any entry key or signer, every entry must verify.
    #[arg(long, value_name = "PUB")]
    entry_key: Vec<PathBuf>,
    /// A public key the images may be signed with, besides those the bundle carries (cosign; repeatable). With
    /// any image key, or a provenance in an image's entry, the image must verify.
    #[arg(long, value_name = "PUB")]
    image_key: Vec<PathBuf>,
    /// The bundle a delta bundle (`create --since`) was made against: the blobs the delta lacks are read there.
    #[arg(long, value_name = "OLD")]
    base: Option<PathBuf>,
}

pub async fn run(command: MirrorCommand) -> anyhow::Result<i32> {
    match command {
        MirrorCommand::Create(a) => run_create(a).await,
        MirrorCommand::Verify(a) => run_verify(a).await,
        MirrorCommand::Push(a) => run_push(a).await,
    }
}

/// The entries `--from` holds that pass the filters (the latest version of each name with `--latest-only`),
/// each a valid server.json and selected once; refused before anything is fetched, as the site would refuse
/// to import or run them.
async fn selected_entries(a: &CreateArgs) -> anyhow::Result<Vec<input::Entry>> {
    let filter = input::name_filter(&a.names, &a.exclude)?;
    let api = ApiOptions {
        updated_since: None,
        all_versions: !a.latest_only,
        include_deleted: false,
    };
    let loaded = input::load(&a.from, &api).await?;
    let from_api = loaded.formats.contains(&"registry API");
    if let Some(bad) = loaded.entries.iter().find(|e| e.error.is_some()) {
        anyhow::bail!(
            "{}: {}",
            bad.location,
            bad.error.as_deref().unwrap_or_default()
        );
    }
    let mut entries: Vec<_> = loaded
        .entries
        .into_iter()
        .filter(|e| filter.accepts(&e.identity().0) && entry_status(e) != ServerStatus::Deleted)
        .collect();
    if a.latest_only && !from_api {
        entries = latest_per_name(entries);
    }
    if entries.is_empty() {
        anyhow::bail!(
            "no entry of {} passed the filters: nothing to mirror",
            a.from
        );
    }
    // What the site would refuse to import or run is refused here, before anything is fetched.
    let mut seen = std::collections::BTreeMap::new();
    for e in &entries {
        if let Some((_, reason)) =
            crate::import::invalid_reason(&e.value, thv_core::validate::SchemaPolicy::Validate)
        {
            anyhow::bail!("{}: not a valid server.json: {reason}", e.location);
        }
        if let Some(first) = seen.insert(e.identity(), e.location.clone()) {
            let (name, version) = e.identity();
            anyhow::bail!(
                "{name}@{version} is selected twice: {first} and {}",
                e.location
            );
        }
    }
    Ok(entries)
}

async fn run_create(a: CreateArgs) -> anyhow::Result<i32> {
    let key = crate::sign::read_signing_key(&a.key, a.password_file.as_deref())?;
    let platform = create::Platform::parse(a.platform.as_deref())?;
    let entries = selected_entries(&a).await?;
    let selection = Selection {
        names: a.names.clone(),
        exclude: a.exclude.clone(),
        latest_only: a.latest_only,
        platform: platform.describe(),
    };
    let archive = archive::is_archive(&a.out);
    let work = if archive {
        PathBuf::from(format!("{}.work", a.out.display()))
    } else {
        a.out.clone()
    };
    let trust = trust_files(&a, &entries)?;
    let public = signature::read_public_key(key.public_key_to_pem()?.as_bytes())?;
    let key_name = a.key.display().to_string();
    let check = Trust {
        key: &public,
        key_name: &key_name,
        entry_keys: &[],
        image_keys: &[],
    };
    let mut contents = Contents::new(a.from.clone(), selection);
    // The bundle a delta is made against, checked before anything is written.
    let base = match &a.since {
        Some(old) => {
            let opened = archive::open(old)?;
            let report = verify(&opened.layout, &check).await.map_err(|errors| {
                let reasons: Vec<String> = errors.iter().map(ToString::to_string).collect();
                anyhow::anyhow!(
                    "--since {}: it does not verify as a complete bundle signed with the key of {}: {}",
                    old.display(),
                    a.key.display(),
                    reasons.join("; ")
                )
            })?;
            contents.since = Some(Since {
                created: report.contents.created,
                source: report.contents.source.clone(),
                contents: thv_core::mirror::layout::sha256_digest(
                    &report.contents.canonical_bytes()?,
                ),
            });
            Some(opened)
        }
        None => None,
    };
    let (mut layout, lock) = Layout::create_for_writing(&work)?;
    if let Some(opened) = &base {
        layout = layout.with_base(&opened.layout);
    }
    let packages = if entries.iter().any(|e| {
        packages::entry_package("", &e.value)
            .map(|p| p.is_some())
            .unwrap_or(true)
    }) {
        Some(packages::PackageBuilder::connect(a.ca_cert.clone()).await?)
    } else {
        None
    };
    let mut builder = create::Builder::new(layout, a.insecure_registry.clone(), platform, contents);
    builder.add_entries(&entries, packages.as_ref()).await?;
    builder.add_trust(&trust)?;
    let (layout, s) = builder.finish(&key)?;
    // What the other side will check, checked here: a bundle that would be refused there is reported now.
    if let Err(errors) = verify(&layout, &check).await {
        for e in &errors {
            thv_core::errln!("Error: {e}");
        }
        thv_core::errln!(
            "{}: written, but it does not verify with the trust it carries ({} failure(s)); the site would refuse it",
            work.display(),
            errors.len()
        );
        return Ok(1);
    }
    drop(base);
    drop(lock);
    let _ = std::fs::remove_file(work.join(thv_core::mirror::layout::LOCK_FILE));
    if archive {
        archive::pack(&work, &a.out)?;
        std::fs::remove_dir_all(&work).with_context(|| format!("removing {}", work.display()))?;
    }
    if let Some(old) = &a.since {
        thv_core::errln!(
            "a delta over {}: {} of the {} blobs listed written ({:.1} MB); the others are read from it",
            old.display(),
            s.written,
            s.blobs,
            s.written_bytes as f64 / 1e6
        );
    }
    thv_core::errln!(
        "mirrored {} entries and {} images into {}: {} blobs, {:.1} MB ({} fetched, {} already in place, {} shared between images); contents signed with {}",
        s.entries,
        s.images,
        a.out.display(),
        s.blobs,
        s.bytes as f64 / 1e6,
        s.fetched,
        s.reused,
        s.shared,
        a.key.display()
    );
    Ok(0)
}

/// The trust material to carry, each file read and checked; the bundled public-good trusted root when keyless
/// signatures are expected and no root is given.
fn trust_files(
    a: &CreateArgs,
    entries: &[crate::input::Entry],
) -> anyhow::Result<create::TrustFiles> {
    if a.entry_identity.len() != a.entry_issuer.len() {
        anyhow::bail!(
            "--entry-identity and --entry-issuer go in pairs: {} identities, {} issuers",
            a.entry_identity.len(),
            a.entry_issuer.len()
        );
    }
    let name = |p: &PathBuf| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.display().to_string())
    };
    let keys = |paths: &[PathBuf]| {
        paths
            .iter()
            .map(|p| {
                signature::read_public_key_file(p)?;
                Ok((name(p), std::fs::read(p)?))
            })
            .collect::<anyhow::Result<Vec<_>>>()
    };
    let mut files = create::TrustFiles {
        entry_keys: keys(&a.entry_key)?,
        image_keys: keys(&a.image_key)?,
        entry_signers: a
            .entry_identity
            .iter()
            .zip(&a.entry_issuer)
            .map(
                |(identity, issuer)| thv_core::signature::keyless::ExpectedSigner {
                    identity: identity.clone(),
                    issuer: issuer.clone(),
                },
            )
            .collect(),
        ..Default::default()
    };
    for p in &a.trusted_root {
        let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
        thv_core::signature::keyless::KeylessTrust::from_json(&bytes)
            .with_context(|| format!("{}: not a Sigstore trusted_root.json", p.display()))?;
        files.trusted_roots.push((name(p), bytes));
    }
    let keyless = !files.entry_signers.is_empty()
        || entries
            .iter()
            .any(|e| !thv_core::mirror::trust::image_provenances(&e.value).is_empty());
    if keyless && files.trusted_roots.is_empty() {
        thv_core::errln!(
            "carrying the bundled Sigstore public-good trusted root (keyless signatures are expected; --trusted-root names another instance's)"
        );
        files.trusted_roots.push((
            "public-good-trusted_root.json".into(),
            thv_core::signature::keyless::PUBLIC_GOOD_TRUSTED_ROOT
                .as_bytes()
                .to_vec(),
        ));
    }
    Ok(files)
}

/// The bundle verified (a line per entry and a summary on stdout), or every failure reported on stderr.
async fn verified(a: &VerifyArgs) -> anyhow::Result<Option<(archive::Opened, Report)>> {
    let keys = KeyFiles {
        key: &a.key,
        base: a.base.as_deref(),
        entry_keys: &a.entry_key,
        image_keys: &a.image_key,
    };
    match verify_files(&a.bundle, &keys).await? {
        (opened, Ok(report)) => {
            for line in report.lines(
                &a.bundle.display().to_string(),
                &a.key.display().to_string(),
            ) {
                thv_core::outln!("{line}");
            }
            Ok(Some((opened, report)))
        }
        (_, Err(errors)) => {
            for e in &errors {
                thv_core::errln!("Error: {e}");
            }
            thv_core::errln!(
                "{}: {} failure(s); do not use this bundle",
                a.bundle.display(),
                errors.len()
            );
            Ok(None)
        }
    }
}

async fn run_verify(a: VerifyArgs) -> anyhow::Result<i32> {
    Ok(if verified(&a).await?.is_some() { 0 } else { 1 })
}

/// The carried trust files written into `dir` (each by its name; a name given twice gets its digest's first
/// hex digits in front): (trusted roots, entry keys, image keys).
type TrustPaths = (Vec<PathBuf>, Vec<PathBuf>, Vec<PathBuf>);

fn write_trust(
    layout: &Layout,
    contents: &Contents,
    dir: &std::path::Path,
) -> anyhow::Result<TrustPaths> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut used = std::collections::BTreeSet::new();
    let mut write =
        |files: &[thv_core::mirror::contents::TrustFile]| -> anyhow::Result<Vec<PathBuf>> {
            files
                .iter()
                .map(|f| {
                    let safe: String = f
                        .name
                        .chars()
                        .map(|c| {
                            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                                c
                            } else {
                                '_'
                            }
                        })
                        .collect();
                    let name = if used.insert(safe.clone()) {
                        safe
                    } else {
                        format!(
                            "{}-{safe}",
                            &thv_core::mirror::layout::digest_hex(&f.digest)?[..12]
                        )
                    };
                    let path = dir.join(name);
                    crate::write::atomic_write(&path, &layout.read_blob(&f.digest)?)?;
                    Ok(std::path::absolute(&path).unwrap_or(path))
                })
                .collect()
        };
    let t = &contents.trust;
    Ok((
        write(&t.trusted_roots)?,
        write(&t.entry_keys)?,
        write(&t.image_keys)?,
    ))
}

/// thv's configuration on the site: the image mirrors, and with the trust written out, the policies using it.
fn site_config(
    mappings: &[(String, String)],
    trust: Option<&TrustPaths>,
    contents: &Contents,
) -> anyhow::Result<String> {
    use toml::{Table, Value};
    let paths = |p: &[PathBuf]| {
        Value::Array(
            p.iter()
                .map(|p| Value::String(p.display().to_string()))
                .collect(),
        )
    };
    let mut config = Table::new();
    let mut images = Table::new();
    if let Some((roots, entry_keys, image_keys)) = trust {
        let mut signatures = Table::new();
        if !entry_keys.is_empty() || !contents.trust.entry_signers.is_empty() {
            signatures.insert("mode".into(), "enforce".into());
            if !entry_keys.is_empty() {
                signatures.insert("trusted_keys".into(), paths(entry_keys));
            }
            if let (false, Some(root)) = (contents.trust.entry_signers.is_empty(), roots.first()) {
                signatures.insert("trusted_root".into(), root.display().to_string().into());
                let signers = contents
                    .trust
                    .entry_signers
                    .iter()
                    .map(|s| {
                        let mut t = Table::new();
                        t.insert("identity".into(), s.identity.clone().into());
                        t.insert("issuer".into(), s.issuer.clone().into());
                        Value::Table(t)
                    })
                    .collect();
                signatures.insert("signers".into(), Value::Array(signers));
            }
            config.insert("signatures".into(), Value::Table(signatures));
        }
        if !image_keys.is_empty() || !roots.is_empty() {
            images.insert("verification".into(), "enabled".into());
            if !image_keys.is_empty() {
                images.insert("trusted_keys".into(), paths(image_keys));
            }
            if let Some(root) = roots.first() {
                images.insert("trusted_root".into(), root.display().to_string().into());
            }
        }
    }
    if !mappings.is_empty() {
        let mirrors: Table = mappings
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        images.insert("mirrors".into(), Value::Table(mirrors));
    }
    if !images.is_empty() {
        config.insert("images".into(), Value::Table(images));
    }
    if config.is_empty() {
        return Ok(String::new());
    }
    Ok(toml::to_string(&config)?)
}

/// `--oci-registry HOST[:PORT][/PREFIX]`: a registry host (a dot, a port or `localhost`), no scheme, a
/// lowercase repository prefix.
fn check_destination(dest: &str) -> anyhow::Result<()> {
    let dest = dest.trim_end_matches('/');
    let host = dest.split('/').next().unwrap_or_default();
    let host_ok = host.contains(['.', ':']) || host == "localhost";
    let parses = format!("{dest}/probe:1")
        .parse::<thv_core::oci::Reference>()
        .is_ok_and(|r| r.registry() == host);
    if dest.contains("://") || !host_ok || !parses || dest.chars().any(|c| c.is_ascii_uppercase()) {
        anyhow::bail!(
            "--oci-registry {dest:?}: expected HOST[:PORT][/PREFIX] (a registry such as mirror.site/airgap or \
             127.0.0.1:5000, no scheme, lowercase)"
        );
    }
    Ok(())
}

async fn run_push(a: PushArgs) -> anyhow::Result<i32> {
    // The destination is checked before the (long) verification.
    check_destination(&a.oci_registry)?;
    let Some((opened, report)) = verified(&a.verify).await? else {
        thv_core::errln!("nothing pushed");
        return Ok(1);
    };
    let (s, mappings) = push::push_images(
        &opened.layout,
        &report.contents,
        &a.oci_registry,
        &a.insecure_registry,
    )
    .await?;
    thv_core::errln!(
        "pushed {} images to {}: {} manifests, {} blobs sent ({:.1} MB), {} mounted from another repository, {} already there",
        s.images,
        a.oci_registry,
        s.manifests,
        s.blobs_sent,
        s.bytes_sent as f64 / 1e6,
        s.blobs_mounted,
        s.blobs_present
    );
    let trust = match &a.trust_out {
        Some(dir) => Some(write_trust(&opened.layout, &report.contents, dir)?),
        None => None,
    };
    let config = site_config(&mappings, trust.as_ref(), &report.contents)?;
    let imported = match &a.registry_api {
        Some(api) => publish_entries(&report, api, a.token.clone()).await?,
        None => 0,
    };
    // Last, so that it can be cut from the output as it is.
    if !config.is_empty() {
        thv_core::outln!(
            "# thv's configuration on the site (config.toml): where the images are now{}",
            if trust.is_some() {
                ", and the trust the bundle carried"
            } else {
                ""
            }
        );
        thv_core::out!("{config}");
    }
    Ok(imported)
}

/// The entries, unchanged, published to the site's registry API as `import --to` does; its exit code.
async fn publish_entries(report: &Report, api: &str, token: Option<String>) -> anyhow::Result<i32> {
    let file = std::env::temp_dir().join(format!("thv-mirror-entries-{}.json", std::process::id()));
    let docs: Vec<&serde_json::Value> = report
        .contents
        .entries
        .iter()
        .filter_map(|e| report.documents.get(&e.digest))
        .collect();
    std::fs::write(&file, serde_json::to_vec(&docs)?)?;
    let imported = crate::import::run(crate::import::ImportArgs {
        sources: vec![file.display().to_string()],
        into: None,
        to: Some(api.to_owned()),
        token,
        updated_since: None,
        names: Vec::new(),
        exclude: Vec::new(),
        latest_only: false,
        upgrade_schema: false,
        dry_run: false,
        quiet: false,
    })
    .await;
    let _ = std::fs::remove_file(&file);
    imported
}

/// A spinner with the bytes moved so far (create: stored; push: sent), when stderr is a terminal; hidden
/// otherwise.
fn progress_bar() -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{spinner} {msg}: {bytes} ({bytes_per_sec})")
    {
        bar.set_style(style);
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}
