//! `thv mirror load BUNDLE --key mirror.pub [--entry-key PUB]... [--image-key PUB]...`: one machine, no
//! registry ([`crate::mirror`]).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use thv_core::errln;
use thv_core::mirror::verify::{KeyFiles, verify_files};

use crate::dirs::Dirs;
use crate::workloads::Manager;

#[derive(Debug, Subcommand)]
pub enum MirrorCommand {
    /// Verify a mirror bundle (from `thv-registry mirror create`), load its images into the container engine
    /// and install its entries and trust material as thv's registry and policies: `thv run NAME` then runs
    /// offline.
    Load(LoadArgs),
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The bundle: a directory or FILE.tar.
    pub bundle: PathBuf,
    /// The mirror operator's public key (PEM) the bundle must be signed with.
    #[arg(long)]
    pub key: PathBuf,
    /// A publisher's public key the entries may be signed with, besides what the bundle carries (repeatable).
    #[arg(long, value_name = "PUB")]
    pub entry_key: Vec<PathBuf>,
    /// A public key the images may be signed with, besides what the bundle carries (repeatable).
    #[arg(long, value_name = "PUB")]
    pub image_key: Vec<PathBuf>,
    /// The bundle a delta bundle (`thv-registry mirror create --since`) was made against.
    #[arg(long, value_name = "OLD")]
    pub base: Option<PathBuf>,
}

pub async fn mirror(dirs: Dirs, command: MirrorCommand) -> anyhow::Result<i32> {
    match command {
        MirrorCommand::Load(a) => load(dirs, a).await,
    }
}

async fn load(dirs: Dirs, a: LoadArgs) -> anyhow::Result<i32> {
    let keys = KeyFiles {
        key: &a.key,
        base: a.base.as_deref(),
        entry_keys: &a.entry_key,
        image_keys: &a.image_key,
    };
    let (opened, outcome) = verify_files(&a.bundle, &keys).await?;
    let report = match outcome {
        Ok(report) => report,
        Err(errors) => {
            for e in &errors {
                errln!("Error: {e}");
            }
            errln!(
                "{}: {} failure(s); nothing loaded",
                a.bundle.display(),
                errors.len()
            );
            return Ok(1);
        }
    };
    for line in report.lines(
        &a.bundle.display().to_string(),
        &a.key.display().to_string(),
    ) {
        outln!("{line}");
    }
    let manager = Manager::new(dirs.clone())?;
    let rt = manager.runtime().await?;
    let done = crate::mirror::load(&dirs, rt.as_ref(), &opened.layout, &report).await?;
    for image in &done.loaded {
        outln!("loaded {image}");
    }
    for image in &done.present {
        outln!("present {image} (the engine had it)");
    }
    for change in &done.changes {
        outln!("config: {change}");
    }
    errln!(
        "loaded {} images ({} already present) and {} entries from {}: `thv run NAME` runs them offline",
        done.loaded.len(),
        done.present.len(),
        done.entries,
        a.bundle.display()
    );
    Ok(0)
}
