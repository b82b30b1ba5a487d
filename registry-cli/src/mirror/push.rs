//! Copying a verified mirror bundle into a site's OCI registry: every image by digest (digests unchanged), its
//! cosign signature manifest under its `sha256-<hex>.sig` tag, its referrers by digest and, for registries
//! without the referrers API (Debian's docker-registry), the referrers tag schema's index (`sha256-<hex>`).
//!
//! An image `HOST/REPOSITORY` lands at `DEST/HOST'/REPOSITORY` ([`thv_core::oci::mirror_host_path`]): entries
//! are never rewritten; thv is told where the mirror is (`[images] mirrors`), and `push` prints those lines.
//! Blobs the target has already are not sent again; blobs are streamed from the bundle (bounded memory).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use serde_json::{Value, json};
use thv_core::mirror::contents::{Contents, ImageRecord};
use thv_core::mirror::layout::Layout;
use thv_core::mirror::verify::is_manifest;
use thv_core::oci::{Reference, Registry, mirror_host_path};

/// What a push did.
#[derive(Debug, Default)]
pub struct PushStats {
    pub images: usize,
    pub manifests: usize,
    pub blobs_sent: usize,
    pub blobs_present: usize,
    /// Blobs mounted from another repository of the site's registry that this push put there.
    pub blobs_mounted: usize,
    pub bytes_sent: u64,
    /// Where each blob is on the site's registry (for mounting it into the next repository that needs it).
    placed: BTreeMap<String, Reference>,
    /// Bytes sent, on a terminal.
    bar: Option<indicatif::ProgressBar>,
}

/// Pushes every image of the verified `contents` to `dest` (`HOST[:PORT][/PREFIX]`); the `[images] mirrors`
/// lines that point thv at them.
pub async fn push_images(
    layout: &Layout,
    contents: &Contents,
    dest: &str,
    insecure: &[String],
) -> anyhow::Result<(PushStats, Vec<(String, String)>)> {
    let dest = dest.trim_end_matches('/');
    let dest_host = dest.split('/').next().unwrap_or(dest);
    let registry = Registry::new(dest_host, insecure);
    let mut stats = PushStats {
        bar: Some(super::progress_bar()),
        ..PushStats::default()
    };
    let mut mappings = BTreeSet::new();
    for image in &contents.images {
        if let Some(bar) = &stats.bar {
            bar.set_message(format!("pushing {}", image.reference));
        }
        let (host, path) = image.repository.split_once('/').with_context(|| {
            format!(
                "image {}: no registry host in {}",
                image.reference, image.repository
            )
        })?;
        let target = format!("{dest}/{}/{path}", mirror_host_path(host));
        mappings.insert((
            host.to_owned(),
            format!("{dest}/{}", mirror_host_path(host)),
        ));
        push_image(layout, &registry, image, &target, &mut stats)
            .await
            .with_context(|| format!("image {} to {target}", image.reference))?;
        stats.images += 1;
    }
    if let Some(bar) = stats.bar.take() {
        bar.finish_and_clear();
    }
    Ok((stats, mappings.into_iter().collect()))
}

async fn push_image(
    layout: &Layout,
    registry: &Registry,
    image: &ImageRecord,
    target: &str,
    stats: &mut PushStats,
) -> anyhow::Result<()> {
    let at = |digest: &str| -> anyhow::Result<Reference> {
        format!("{target}@{digest}")
            .parse()
            .map_err(|e| anyhow::anyhow!("{target}@{digest}: {e}"))
    };
    let tagged = |tag: String| -> anyhow::Result<Reference> {
        format!("{target}:{tag}")
            .parse()
            .map_err(|e| anyhow::anyhow!("{target}:{tag}: {e}"))
    };
    registry.prepare_push(&at(&image.digest)?).await?;
    push_tree(layout, registry, &at(&image.digest)?, &image.digest, stats).await?;
    // An entry naming its image by tag (a package image is named so too) finds the tag at the mirror.
    if let Some(tag) = image
        .reference
        .strip_prefix(&image.repository)
        .and_then(|rest| rest.strip_prefix(':'))
    {
        let bytes = layout.read_blob(&image.digest)?;
        let media_type = manifest_type(&serde_json::from_slice(&bytes)?);
        registry
            .push_manifest(&tagged(tag.to_owned())?, bytes, &media_type)
            .await?;
    }
    let hex_tag = image.digest.replace(':', "-");
    if let Some(sig) = &image.signature {
        push_tree(
            layout,
            registry,
            &tagged(format!("{hex_tag}.sig"))?,
            sig,
            stats,
        )
        .await?;
    }
    if !image.referrers.is_empty() {
        let mut descriptors = Vec::new();
        for r in &image.referrers {
            push_tree(layout, registry, &at(r)?, r, stats).await?;
            let manifest = layout.read_json(r)?;
            let mut d = json!({"mediaType": manifest_type(&manifest), "digest": r,
                "size": layout.read_blob(r)?.len()});
            if let Some(t) = manifest["artifactType"]
                .as_str()
                .or_else(|| manifest["config"]["mediaType"].as_str())
            {
                d["artifactType"] = json!(t);
            }
            if let Some(a) = manifest.get("annotations") {
                d["annotations"] = a.clone();
            }
            descriptors.push(d);
        }
        // The referrers tag schema, for registries without the referrers API.
        let index = json!({"schemaVersion": 2, "mediaType": thv_core::mirror::OCI_INDEX,
            "manifests": descriptors});
        registry
            .push_manifest(
                &tagged(hex_tag)?,
                serde_json::to_vec(&index)?,
                thv_core::mirror::OCI_INDEX,
            )
            .await?;
    }
    Ok(())
}

fn manifest_type(manifest: &Value) -> String {
    thv_core::oci::distribution::manifest_media_type(manifest)
        .unwrap_or_else(|| thv_core::mirror::OCI_MANIFEST.to_owned())
}

/// Pushes the manifest `digest` (as `to`: by digest, or a tag) after everything it references that the bundle
/// carries.
async fn push_tree(
    layout: &Layout,
    registry: &Registry,
    to: &Reference,
    digest: &str,
    stats: &mut PushStats,
) -> anyhow::Result<()> {
    let bytes = layout.read_blob(digest)?;
    let manifest: Value = serde_json::from_slice(&bytes)?;
    for child in manifest["manifests"].as_array().into_iter().flatten() {
        let Some(child_digest) = child["digest"].as_str() else {
            continue;
        };
        if layout.blob_path(child_digest).is_ok_and(|p| p.exists()) {
            let child_ref = Reference::with_digest(
                to.registry().to_owned(),
                to.repository().to_owned(),
                child_digest.to_owned(),
            );
            Box::pin(push_tree(layout, registry, &child_ref, child_digest, stats)).await?;
        }
    }
    let config = manifest.get("config").into_iter();
    for d in config.chain(manifest["layers"].as_array().into_iter().flatten()) {
        let (Some(blob), Some(size)) = (d["digest"].as_str(), d["size"].as_u64()) else {
            anyhow::bail!("{digest}: a descriptor without digest or size: {d}");
        };
        if is_manifest(d["mediaType"].as_str().unwrap_or_default()) {
            anyhow::bail!("{digest}: a manifest as a layer");
        }
        if registry.has_blob(to, blob).await? {
            stats.blobs_present += 1;
        } else if let Some(from) = stats.placed.get(blob)
            && from.repository() != to.repository()
            && registry.mount_blob(to, from, blob).await
        {
            stats.blobs_mounted += 1;
        } else {
            registry
                .push_blob_file(to, &layout.blob_path(blob)?, blob, size)
                .await?;
            stats.blobs_sent += 1;
            stats.bytes_sent += size;
            if let Some(bar) = &stats.bar {
                bar.inc(size);
            }
        }
        stats
            .placed
            .entry(blob.to_owned())
            .or_insert_with(|| to.clone());
    }
    registry
        .push_manifest(to, bytes, &manifest_type(&manifest))
        .await?;
    stats.manifests += 1;
    Ok(())
}
