//! `thv mirror load`: one machine, no registry. A mirror bundle ([`thv_core::mirror`]) is verified (nothing is
//! loaded from one that fails), its images are loaded into the container engine by digest, and its entries,
//! signatures and trust material are installed where `thv run` reads them ([`store`]): the entries become thv's
//! registry, the carried keys and trusted roots join `[signatures]` and `[images]` (enforcing when the bundle
//! carries trust for them), and `thv run NAME` verifies the image against the signatures the bundle carried —
//! no registry, no network.

pub mod store;

use std::path::PathBuf;

use anyhow::Context;
use thv_core::mirror::layout::Layout;
use thv_core::mirror::trust::image_provenances;
use thv_core::mirror::verify::Report;
use thv_core::signature::{PolicyMode, TrustedKey, TrustedSigner};

use crate::config::Mode;
use crate::config::UserConfig;
use crate::dirs::Dirs;
use crate::runtime::Runtime;
use store::{InstalledTrust, MirrorStore};

/// What a load did.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Images loaded into the engine now.
    pub loaded: Vec<String>,
    /// Images the engine had already (by digest).
    pub present: Vec<String>,
    pub entries: usize,
    /// The configuration changes, for the user.
    pub changes: Vec<String>,
}

/// Loads the verified bundle `layout` (see the module documentation).
pub async fn load(
    dirs: &Dirs,
    rt: &dyn Runtime,
    layout: &Layout,
    report: &Report,
) -> anyhow::Result<Loaded> {
    let mut done = Loaded {
        entries: report.contents.entries.len(),
        ..Loaded::default()
    };
    let store = MirrorStore::new(&dirs.data);
    let _alone = store.lock()?;
    let scratch = store.scratch()?;
    for image in &report.contents.images {
        let pinned = format!("{}@{}", image.repository, image.digest);
        if rt.image_exists(&pinned).await? {
            // The engine has the content; the name the entry (or thv, for a package) uses must be its.
            if !image.reference.contains('@') {
                rt.tag_image(&pinned, &image.reference)
                    .await
                    .with_context(|| format!("naming {pinned} {}", image.reference))?;
            }
            done.present.push(pinned);
            continue;
        }
        let archive = scratch.join("image.tar");
        // Named as the entry names it: a tag reference keeps working offline; the engine records the digest.
        thv_core::mirror::archive::pack_image(
            layout,
            &image.digest,
            &image.media_type,
            &image.reference,
            &archive,
        )?;
        rt.load_image(&archive)
            .await
            .with_context(|| format!("loading {}", image.reference))?;
        let _ = std::fs::remove_file(&archive);
        if !rt.image_exists(&pinned).await? {
            anyhow::bail!(
                "the engine loaded {} but does not know it by its digest ({pinned})",
                image.reference
            );
        }
        done.loaded.push(pinned);
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let (installed, replaced) = store.add(layout, report)?;
    done.changes = replaced;
    done.changes
        .extend(configure(dirs, &store, report, &installed)?);
    Ok(done)
}

/// Points thv's configuration at the store: its registry file, the installed trust, enforcing modes when the
/// bundle carries trust for entries or images. Returns what changed.
fn configure(
    dirs: &Dirs,
    store: &MirrorStore,
    report: &Report,
    installed: &InstalledTrust,
) -> anyhow::Result<Vec<String>> {
    let path = dirs.config_file();
    let mut cfg = UserConfig::load(&path)?;
    let mut changes = Vec::new();
    let registry = store.registry_file().display().to_string();
    if cfg.registry.url.as_deref() != Some(registry.as_str()) {
        changes.push(format!(
            "[registry] url = {registry:?} (was {})",
            cfg.registry
                .url
                .as_deref()
                .unwrap_or("the bundled registry")
        ));
        cfg.registry.url = Some(registry);
    }
    let root = installed.trusted_roots.first();
    if installed.trusted_roots.len() > 1 {
        changes.push(format!(
            "note: the bundle carries {} trusted roots; thv uses one: {}",
            installed.trusted_roots.len(),
            installed.trusted_roots[0].display()
        ));
    }
    let trust = &report.contents.trust;
    if !installed.entry_keys.is_empty() || !trust.entry_signers.is_empty() {
        let s = &mut cfg.signatures;
        add_paths(
            &mut s.trusted_keys,
            &installed.entry_keys,
            "[signatures] trusted_keys",
            &mut changes,
        );
        for signer in &trust.entry_signers {
            if !s
                .signers
                .iter()
                .any(|t| t.identity == signer.identity && t.issuer == signer.issuer)
            {
                s.signers.push(TrustedSigner::from(signer.clone()));
                changes.push(format!(
                    "[signatures] signers += {} ({})",
                    signer.identity, signer.issuer
                ));
            }
        }
        if !trust.entry_signers.is_empty() && s.trusted_root.is_none() {
            set_root(
                &mut s.trusted_root,
                root,
                "[signatures] trusted_root",
                &mut changes,
            );
        }
        if s.mode != PolicyMode::Enforce {
            changes.push(format!(
                "[signatures] mode = \"enforce\" (was {}): an entry loaded earlier without a trusted signature is refused now",
                s.mode
            ));
            s.mode = PolicyMode::Enforce;
        }
    }
    let provenance = report
        .documents
        .values()
        .any(|doc| !image_provenances(doc).is_empty());
    if !installed.image_keys.is_empty() || provenance {
        let images = &mut cfg.images;
        for k in &installed.image_keys {
            if !images.trusted_keys.contains(k) {
                images.trusted_keys.push(k.clone());
                changes.push(format!("[images] trusted_keys += {}", k.display()));
            }
        }
        if provenance && images.trusted_root.is_none() {
            set_root(
                &mut images.trusted_root,
                root,
                "[images] trusted_root",
                &mut changes,
            );
        }
        if images.verification != Some(Mode::Enabled) {
            changes.push(format!(
                "[images] verification = \"enabled\" (was {}): an image loaded earlier that does not verify is refused now",
                format!("{:?}", images.verification.unwrap_or_default()).to_lowercase()
            ));
            images.verification = Some(Mode::Enabled);
        }
    }
    cfg.save(&path)?;
    Ok(changes)
}

fn add_paths(
    keys: &mut Vec<TrustedKey>,
    paths: &[PathBuf],
    field: &str,
    changes: &mut Vec<String>,
) {
    for p in paths {
        if !keys.iter().any(|k| &k.path == p) {
            keys.push(TrustedKey::from(p.clone()));
            changes.push(format!("{field} += {}", p.display()));
        }
    }
}

fn set_root(
    slot: &mut Option<PathBuf>,
    root: Option<&PathBuf>,
    field: &str,
    changes: &mut Vec<String>,
) {
    if let Some(r) = root {
        *slot = Some(r.clone());
        changes.push(format!("{field} = {}", r.display()));
    }
}
