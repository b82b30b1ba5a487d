//! `thv config …`: the registry, the package scheme base images and the build CA certificate
//! (see [`crate::config`]).

use anyhow::{Context, bail};
use clap::Subcommand;
use thv_core::client::{ListOptions, RegistryClient};
use thv_core::registry_file::RegistryFile;

use crate::config::{UserConfig, check_build_image};
use crate::dirs::Dirs;
use crate::registry::RegistrySource;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Use a registry: an API URL (answers /v0.1/servers), a registry file URL (…/x.json) or a file path.
    /// It is checked before it is saved.
    SetRegistry {
        url: String,
    },
    /// Show the registry in use.
    GetRegistry,
    /// Go back to the bundled registry.
    UnsetRegistry,
    /// Set a package scheme's base image: SCHEME=IMAGE (uvx, npx, go), e.g. uvx=mirror.example/python:3.13-slim.
    SetBuildImage {
        assignment: String,
    },
    /// Show the base images of the package schemes.
    GetBuildImages,
    /// Go back to the default base image of a scheme.
    UnsetBuildImage {
        scheme: String,
    },
    /// A PEM file of CA certificates installed into package images.
    SetCaCert {
        path: std::path::PathBuf,
    },
    GetCaCert,
    UnsetCaCert,
    /// What `thv run NAME` does with the registry entry's signature: off, warn or enforce (refuse what is not
    /// signed by a trusted key).
    SetSignaturePolicy {
        policy: thv_core::signature::PolicyMode,
        /// A public key (PEM, cosign.pub) entries may be signed with: PATH (every name) or PATH=PATTERN (only
        /// the names the pattern matches: `*`, `prefix*` or exact); repeatable, a key repeated is trusted for
        /// all its patterns (replaces the configured ones).
        #[arg(long = "trusted-key", value_name = "PATH[=PATTERN]")]
        trusted_keys: Vec<thv_core::signature::TrustedKey>,
        /// For keyless signatures: a trusted_root.json (replaces the configured one).
        #[arg(long)]
        trusted_root: Option<std::path::PathBuf>,
        /// For keyless signatures: an accepted signer's certificate identity (with --certificate-oidc-issuer;
        /// replaces the configured signers).
        #[arg(long, requires = "certificate_oidc_issuer")]
        certificate_identity: Option<String>,
        /// For keyless signatures: that signer's OIDC issuer.
        #[arg(long, requires = "certificate_identity")]
        certificate_oidc_issuer: Option<String>,
    },
    GetSignaturePolicy,
    /// Image signatures checked by `thv run`: disabled, warn or enabled, with the keys images may be signed with.
    SetImageVerification {
        #[arg(value_enum)]
        mode: crate::image_verify::Mode,
        /// A public key (PEM, cosign.pub); repeatable (replaces the configured ones).
        #[arg(long = "trusted-key")]
        trusted_keys: Vec<std::path::PathBuf>,
        /// A registry (host:port) reached over plain HTTP; repeatable (replaces the configured ones).
        #[arg(long = "insecure-registry")]
        insecure_registries: Vec<String>,
        /// The Sigstore trusted_root.json keyless signatures are verified against (registry entries with
        /// provenance).
        #[arg(long)]
        trusted_root: Option<std::path::PathBuf>,
    },
    /// Print the whole configuration file.
    Show,
}

fn edit(
    dirs: &Dirs,
    change: impl FnOnce(&mut UserConfig) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let path = dirs.config_file();
    let mut cfg = UserConfig::load(&path)?;
    change(&mut cfg)?;
    cfg.save(&path)
}

/// Checks a registry setting by using it.
async fn check_registry(url: &str) -> anyhow::Result<String> {
    match RegistrySource::from_setting(Some(url)) {
        RegistrySource::Api(base) => {
            let client = RegistryClient::new(&base)
                .with_context(|| format!("invalid registry URL {base}"))?;
            client.list_page(&ListOptions::new().limit(1)).await.with_context(|| {
                format!(
                    "{base} is not a registry API (GET {}/v0.1/servers failed); a registry file URL must end in .json",
                    base.trim_end_matches('/')
                )
            })?;
            Ok(base)
        }
        RegistrySource::File(path) => {
            let abs = std::fs::canonicalize(&path)
                .with_context(|| format!("{} does not exist", path.display()))?;
            let bytes =
                std::fs::read(&abs).with_context(|| format!("cannot read {}", abs.display()))?;
            RegistryFile::parse(&bytes)
                .with_context(|| format!("{} is not a registry file", abs.display()))?;
            Ok(abs.display().to_string())
        }
        src @ RegistrySource::FileUrl(_) => {
            src.list(None).await?;
            Ok(url.to_owned())
        }
        RegistrySource::Bundled => unreachable!("a setting is never the bundled registry"),
    }
}

/// A `trusted_root.json` given on the command line: its absolute path, once it reads as a trusted root.
fn trusted_root_file(p: std::path::PathBuf) -> anyhow::Result<std::path::PathBuf> {
    let abs =
        std::fs::canonicalize(&p).with_context(|| format!("{} does not exist", p.display()))?;
    thv_core::signature::keyless::KeylessTrust::from_file(&abs)
        .map_err(|e| anyhow::anyhow!("not a Sigstore trusted root: {e}"))?;
    Ok(abs)
}

/// A public key file given on the command line: its absolute path, once it reads as a public key (PEM).
fn public_key_file(k: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let abs =
        std::fs::canonicalize(k).with_context(|| format!("{} does not exist", k.display()))?;
    let pem = std::fs::read(&abs)?;
    thv_core::signature::read_public_key(&pem)
        .with_context(|| format!("{}: not a public key", abs.display()))?;
    Ok(abs)
}

/// Public key files given on the command line (see [`public_key_file`]).
fn public_key_files(paths: &[std::path::PathBuf]) -> anyhow::Result<Vec<std::path::PathBuf>> {
    paths.iter().map(|k| public_key_file(k)).collect()
}

pub async fn config(dirs: Dirs, c: ConfigCommand) -> anyhow::Result<i32> {
    match c {
        ConfigCommand::SetSignaturePolicy {
            policy,
            trusted_keys,
            trusted_root,
            certificate_identity,
            certificate_oidc_issuer,
        } => {
            let trusted_root = trusted_root.map(trusted_root_file).transpose()?;
            let signers: Vec<_> = certificate_identity
                .zip(certificate_oidc_issuer)
                .map(|(identity, issuer)| thv_core::signature::TrustedSigner {
                    identity,
                    issuer,
                    names: None,
                })
                .into_iter()
                .collect();
            let keys = trusted_keys
                .into_iter()
                .map(|k| {
                    Ok(thv_core::signature::TrustedKey {
                        path: public_key_file(&k.path)?,
                        names: k.names,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut setting = crate::config::SignaturesConfig {
                mode: policy,
                trusted_keys: keys,
                trusted_root,
                signers,
            };
            edit(&dirs, |cfg| {
                if setting.trusted_keys.is_empty() {
                    setting.trusted_keys = cfg.signatures.trusted_keys.clone();
                }
                if setting.trusted_root.is_none() {
                    setting.trusted_root = cfg.signatures.trusted_root.clone();
                }
                if setting.signers.is_empty() {
                    setting.signers = cfg.signatures.signers.clone();
                }
                setting
                    .load()
                    .map_err(|e| anyhow::anyhow!("the [signatures] configuration: {e}"))?;
                cfg.signatures = setting.clone();
                Ok(())
            })?;
            outln!("signature policy: {policy}");
        }
        ConfigCommand::SetImageVerification {
            mode,
            trusted_keys,
            insecure_registries,
            trusted_root,
        } => {
            let root = trusted_root.map(trusted_root_file).transpose()?;
            let keys = public_key_files(&trusted_keys)?;
            edit(&dirs, |cfg| {
                cfg.images.verification = Some(mode);
                if !keys.is_empty() {
                    cfg.images.trusted_keys = keys.clone();
                }
                if !insecure_registries.is_empty() {
                    cfg.images.insecure_registries = insecure_registries.clone();
                }
                if root.is_some() {
                    cfg.images.trusted_root = root.clone();
                }
                Ok(())
            })?;
            outln!("image verification: {mode:?}");
        }
        ConfigCommand::GetSignaturePolicy => {
            let cfg = UserConfig::load(&dirs.config_file())?;
            outln!("{}", cfg.signatures.mode);
            for k in &cfg.signatures.trusted_keys {
                outln!("trusted key: {k}");
            }
            if let Some(r) = &cfg.signatures.trusted_root {
                outln!("trusted root: {}", r.display());
            }
            for s in &cfg.signatures.signers {
                outln!("keyless signer: {s}");
            }
        }
        ConfigCommand::SetRegistry { url } => {
            let value = check_registry(&url).await?;
            edit(&dirs, |cfg| {
                cfg.registry.url = Some(value.clone());
                Ok(())
            })?;
            outln!(
                "registry set to {}",
                RegistrySource::from_setting(Some(&value)).describe()
            );
        }
        ConfigCommand::GetRegistry => {
            let cfg = UserConfig::load(&dirs.config_file())?;
            outln!(
                "{}",
                RegistrySource::from_setting(cfg.registry.url.as_deref()).describe()
            );
        }
        ConfigCommand::UnsetRegistry => {
            edit(&dirs, |cfg| {
                cfg.registry.url = None;
                Ok(())
            })?;
            outln!("using the bundled registry");
        }
        ConfigCommand::SetBuildImage { assignment } => {
            let Some((scheme, image)) = assignment.split_once('=') else {
                bail!(
                    "expected SCHEME=IMAGE (e.g. uvx=registry.example/python:3.13-slim), got '{assignment}'"
                );
            };
            check_build_image(scheme, image)?;
            edit(&dirs, |cfg| {
                cfg.build.images.insert(scheme.to_owned(), image.to_owned());
                Ok(())
            })?;
            outln!("{scheme} packages build on {image}");
        }
        ConfigCommand::GetBuildImages => {
            let cfg = UserConfig::load(&dirs.config_file())?;
            let opts = super::build_cmd::build_options(&cfg, None)?;
            for (scheme, image) in super::build_cmd::base_images(&opts) {
                let origin = if cfg.build.images.contains_key(scheme) {
                    "configured"
                } else {
                    "default"
                };
                outln!("{scheme}={image} ({origin})");
            }
        }
        ConfigCommand::UnsetBuildImage { scheme } => {
            edit(&dirs, |cfg| {
                if cfg.build.images.remove(&scheme).is_none() {
                    bail!("no base image is configured for '{scheme}'");
                }
                Ok(())
            })?;
            outln!("{scheme} packages build on the default base image");
        }
        ConfigCommand::SetCaCert { path } => {
            let abs = std::fs::canonicalize(&path)
                .with_context(|| format!("{} does not exist", path.display()))?;
            let pem = std::fs::read_to_string(&abs)
                .with_context(|| format!("cannot read {}", abs.display()))?;
            if !pem.contains("-----BEGIN CERTIFICATE-----") {
                bail!("{} holds no PEM certificate", abs.display());
            }
            edit(&dirs, |cfg| {
                cfg.build.ca_cert = Some(abs.clone());
                Ok(())
            })?;
            outln!(
                "package images get the CA certificates of {}",
                abs.display()
            );
        }
        ConfigCommand::GetCaCert => {
            let cfg = UserConfig::load(&dirs.config_file())?;
            match cfg.build.ca_cert {
                Some(p) => outln!("{}", p.display()),
                None => outln!("no CA certificate is configured"),
            }
        }
        ConfigCommand::UnsetCaCert => edit(&dirs, |cfg| {
            cfg.build.ca_cert = None;
            Ok(())
        })?,
        ConfigCommand::Show => {
            let cfg = UserConfig::load(&dirs.config_file())?;
            out!("{}", toml::to_string_pretty(&cfg)?);
        }
    }
    Ok(0)
}
