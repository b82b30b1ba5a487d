//! `thv config …`: the registry, the package scheme base images and the build CA certificate
//! (see [`crate::config`]).

use anyhow::{Context, bail};
use clap::Subcommand;
use thv_core::registry_client::{ListOptions, RegistryClient};
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
    /// Set a variable of the package builds' environment (builder stage only), e.g. GOPROXY, GOFLAGS,
    /// NPM_CONFIG_REGISTRY, PIP_INDEX_URL: NAME VALUE, or NAME --from-env to read it from thv's environment at
    /// each build (credentials stay out of the configuration file).
    SetBuildEnv {
        name: String,
        /// The value (it may start with `-`: GOFLAGS=-mod=mod).
        #[arg(allow_hyphen_values = true)]
        value: Option<String>,
        /// Read the value from thv's environment when building.
        #[arg(long, conflicts_with = "value")]
        from_env: bool,
    },
    /// Show the package builds' environment (every variable, or NAME), with where each value comes from; URL
    /// passwords are shown as ***.
    GetBuildEnv {
        name: Option<String>,
    },
    /// Remove NAME from the package builds' environment, or --all of it.
    UnsetBuildEnv {
        #[arg(required_unless_present = "all")]
        name: Option<String>,
        #[arg(long, conflicts_with = "name")]
        all: bool,
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
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(abs)
}

/// A public key file given on the command line: its absolute path, once it reads as a public key (PEM).
fn public_key_file(k: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let abs =
        std::fs::canonicalize(k).with_context(|| format!("{} does not exist", k.display()))?;
    let pem = std::fs::read(&abs).with_context(|| format!("cannot read {}", abs.display()))?;
    thv_core::signature::PublicKey::from_pem(&pem)
        .map_err(|e| anyhow::anyhow!("{}: {e}", abs.display()))?;
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
        } => set_signature_policy(
            &dirs,
            policy,
            trusted_keys,
            trusted_root,
            certificate_identity.zip(certificate_oidc_issuer),
        )?,
        ConfigCommand::SetImageVerification {
            mode,
            trusted_keys,
            insecure_registries,
            trusted_root,
        } => set_image_verification(
            &dirs,
            mode,
            &trusted_keys,
            insecure_registries,
            trusted_root,
        )?,
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
            let opts = cfg.build_options(None)?;
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
        ConfigCommand::SetBuildEnv {
            name,
            value,
            from_env,
        } => set_build_env(&dirs, &name, value, from_env)?,
        ConfigCommand::GetBuildEnv { name } => get_build_env(&dirs, name.as_deref())?,
        ConfigCommand::UnsetBuildEnv { name, all } => unset_build_env(&dirs, name.as_deref(), all)?,
        ConfigCommand::SetCaCert { path } => set_ca_cert(&dirs, &path)?,
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

/// `thv config unset-build-env NAME` (or `--all`).
fn unset_build_env(dirs: &Dirs, name: Option<&str>, all: bool) -> anyhow::Result<()> {
    edit(dirs, |cfg| {
        if all {
            cfg.build.env.clear();
            cfg.build.env_from_shell.clear();
            return Ok(());
        }
        let name = name.unwrap_or_default();
        let literal = cfg.build.env.remove(name).is_some();
        let before = cfg.build.env_from_shell.len();
        cfg.build.env_from_shell.retain(|n| n != name);
        if !literal && before == cfg.build.env_from_shell.len() {
            bail!("{name} is not configured for package builds");
        }
        Ok(())
    })?;
    outln!(
        "{} removed from the package builds' environment",
        name.unwrap_or("everything")
    );
    Ok(())
}

/// `thv config set-ca-cert PATH`: a PEM file, kept by its absolute path.
fn set_ca_cert(dirs: &Dirs, path: &std::path::Path) -> anyhow::Result<()> {
    let abs = std::fs::canonicalize(path)
        .with_context(|| format!("{} does not exist", path.display()))?;
    thv_core::tls::read_ca_bundle(&abs).map_err(|e| anyhow::anyhow!("{}: {e}", abs.display()))?;
    edit(dirs, |cfg| {
        cfg.build.ca_cert = Some(abs.clone());
        Ok(())
    })?;
    outln!(
        "package images get the CA certificates of {}",
        abs.display()
    );
    Ok(())
}

/// `thv config set-signature-policy`: the policy, and the keys, root and keyless signer given (each kept from the
/// configuration when not given); checked by loading it before it is saved.
fn set_signature_policy(
    dirs: &Dirs,
    policy: thv_core::signature::PolicyMode,
    trusted_keys: Vec<thv_core::signature::TrustedKey>,
    trusted_root: Option<std::path::PathBuf>,
    signer: Option<(String, String)>,
) -> anyhow::Result<()> {
    let trusted_root = trusted_root.map(trusted_root_file).transpose()?;
    let signers: Vec<_> = signer
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
    edit(dirs, |cfg| {
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
    Ok(())
}

/// `thv config set-image-verification`: the mode, and the keys, insecure registries and root given.
fn set_image_verification(
    dirs: &Dirs,
    mode: crate::image_verify::Mode,
    trusted_keys: &[std::path::PathBuf],
    insecure_registries: Vec<String>,
    trusted_root: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let root = trusted_root.map(trusted_root_file).transpose()?;
    let keys = public_key_files(trusted_keys)?;
    edit(dirs, |cfg| {
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
    Ok(())
}

fn set_build_env(
    dirs: &Dirs,
    name: &str,
    value: Option<String>,
    from_env: bool,
) -> anyhow::Result<()> {
    if let Some(reason) = crate::build::env::build_env_name_error(name) {
        bail!("set-build-env: {reason}");
    }
    match value {
        Some(value) => {
            if value.chars().any(char::is_control) {
                bail!(
                    "set-build-env {name}: the value contains a control character (newline, tab, ...)"
                );
            }
            edit(dirs, |cfg| {
                cfg.build.env_from_shell.retain(|n| n != name);
                cfg.build.env.insert(name.to_owned(), value);
                Ok(())
            })?;
            outln!("{name} is set for package builds");
        }
        None if from_env => {
            edit(dirs, |cfg| {
                cfg.build.env.remove(name);
                if !cfg.build.env_from_shell.iter().any(|n| n == name) {
                    cfg.build.env_from_shell.push(name.to_owned());
                }
                Ok(())
            })?;
            outln!("{name} comes from thv's environment when packages are built");
        }
        None => bail!("set-build-env {name}: give a VALUE, or --from-env"),
    }
    Ok(())
}

fn get_build_env(dirs: &Dirs, only: Option<&str>) -> anyhow::Result<()> {
    use crate::build::env::{PASSED_THROUGH, build_env_name_error, display};
    let cfg = UserConfig::load(&dirs.config_file())?;
    let effective = crate::build::env::from_process(&cfg.build.env_from_shell, &cfg.build.env);
    let mut names: Vec<&String> = effective.keys().collect();
    names.extend(
        cfg.build
            .env_from_shell
            .iter()
            .filter(|n| !effective.contains_key(*n)),
    );
    let mut shown = 0;
    for name in names
        .into_iter()
        .filter(|n| only.is_none_or(|o| o == n.as_str()))
    {
        let from_shell = cfg.build.env_from_shell.contains(name);
        let origin = if cfg.build.env.contains_key(name) {
            "configured"
        } else if from_shell {
            "from thv's environment (--from-env)"
        } else if PASSED_THROUGH.contains(&name.as_str()) {
            "passed through from thv's environment"
        } else {
            "configured"
        };
        // A hand-edited file may hold what set-build-env refuses: flagged, never printed raw.
        let problem = build_env_name_error(name).or_else(|| {
            effective
                .get(name)
                .filter(|v| v.chars().any(char::is_control))
                .map(|_| "the value contains a control character".to_owned())
        });
        if let Some(problem) = problem {
            outln!(
                "{}: invalid, builds refuse it ({problem})",
                name.escape_debug()
            );
        } else {
            match effective.get(name) {
                Some(v) => outln!("{name}={} ({origin})", display(name, v, from_shell)),
                None => outln!("{name} is unset ({origin}: thv's environment does not set it)"),
            }
        }
        shown += 1;
    }
    if shown == 0 {
        match only {
            Some(name) => bail!("{name} is not set for package builds"),
            None => outln!("no variables are set for package builds"),
        }
    }
    Ok(())
}
