//! `thv build`: a package's image without running it; and the build options every command shares (from the
//! configuration, the environment and `--ca-cert`).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use thv_core::runconfig::PackageSource;

use crate::build::{BuildOptions, build_package_image, dockerfile, pin_version};
use crate::dirs::Dirs;
use crate::workloads::Manager;

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The package: uvx://pkg[@ver], npx://pkg[@ver], go://module[@ver] or go://./dir.
    pub package: String,
    /// Print the Dockerfile instead of building.
    #[arg(long)]
    pub dry_run: bool,
    /// A PEM file of CA certificates to install into the image.
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// Build again without the engine's cache, even when the image exists.
    #[arg(long)]
    pub no_cache: bool,
}

/// The base image per scheme, for `thv config get-build-images`.
pub fn base_images(opts: &BuildOptions) -> Vec<(&'static str, String)> {
    let b = &opts.base_images;
    vec![
        ("uvx", b.uvx.clone()),
        ("npx", b.npx.clone()),
        ("go", b.go.clone()),
    ]
}

pub async fn build(dirs: Dirs, a: BuildArgs) -> anyhow::Result<i32> {
    let Some(pkg) = PackageSource::parse(&a.package).map_err(|e| anyhow::anyhow!(e))? else {
        bail!(
            "'{}' is not a package: use uvx://, npx:// or go://",
            a.package
        );
    };
    let manager = Manager::new(dirs)?;
    let mut opts = manager.config().build_options(a.ca_cert)?;
    opts.no_cache = a.no_cache;
    if a.dry_run {
        let pinned = pin_version(&pkg, &opts).await?;
        // Build environment values may hold credentials: shown as build_env::display does.
        let text = dockerfile(&pinned, &opts)?;
        let from_shell = &manager.config().build.env_from_shell;
        for line in text.lines() {
            let configured = opts.build_env.keys().find(|name| {
                line.strip_prefix("ENV ")
                    .and_then(|rest| rest.strip_prefix(name.as_str()))
                    .is_some_and(|rest| rest.starts_with('='))
            });
            match configured {
                Some(name) => {
                    let shown = crate::build::env::display(
                        name,
                        &opts.build_env[name],
                        from_shell.contains(name),
                    );
                    outln!("ENV {name}=\"{shown}\"");
                }
                None if line.starts_with("ENV ") => {
                    outln!("{}", crate::build::env::redact(line))
                }
                None => outln!("{line}"),
            }
        }
        return Ok(0);
    }
    let rt = manager.runtime().await?;
    let built = build_package_image(rt.as_ref(), &pkg, &opts)
        .await
        .with_context(|| format!("cannot build {pkg}"))?;
    if built.built {
        thv_core::errln!("built {} from {}", built.image, built.package);
    } else {
        thv_core::errln!(
            "{} exists already (--no-cache builds it again)",
            built.image
        );
    }
    outln!("{}", built.image);
    Ok(0)
}
