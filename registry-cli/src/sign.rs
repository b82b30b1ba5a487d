//! `thv-registry keygen`, `sign`, `verify` and `canonicalize`: signed registry entries
//! ([`thv_core::signature`]: a sigstore bundle v0.3 over the entry's canonical form).
//!
//! Keys are cosign's: `keygen` writes `cosign.key` (ECDSA P-256, encrypted with the password from
//! `COSIGN_PASSWORD` or `--password-file`, mode 0600) and `cosign.pub`; `sign` reads the same variables. A
//! signature travels beside the entry (`FILE.bundle.json`, which `publish` sends along) or inside it
//! (`--embed`: `_meta["io.github.stacklok.toolhive/signature"]`). `verify --key PATH=PATTERN` trusts a key only
//! for the entries whose name the pattern matches, as the registry's and thv's policies do.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use serde_json::Value;
use thv_core::signature::{self, SIGNATURE_META};

use crate::write::atomic_write;

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Path prefix of the key files: PREFIX.key and PREFIX.pub.
    #[arg(long, default_value = "cosign")]
    output_key_prefix: String,
    /// File holding the password that encrypts the private key (default: COSIGN_PASSWORD).
    #[arg(long)]
    password_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The server.json to sign (one version).
    file: PathBuf,
    /// The private key (cosign.key; encrypted ones need COSIGN_PASSWORD or --password-file).
    #[arg(long)]
    key: PathBuf,
    /// File holding the key's password (default: COSIGN_PASSWORD).
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// Where the bundle goes (default: FILE.bundle.json).
    #[arg(long, conflicts_with = "embed")]
    output: Option<PathBuf>,
    /// Write the bundle into the entry's `_meta` instead (the file is rewritten).
    #[arg(long)]
    embed: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The server.json to check.
    file: PathBuf,
    /// Trusted public key (PEM, cosign.pub): PATH, or PATH=PATTERN to trust it only for the names the pattern
    /// matches (`*`, `prefix*` or exact); repeatable: any of them may have signed, a key repeated is trusted for
    /// all its patterns.
    #[arg(
        long = "key",
        required_unless_present = "trusted_root",
        value_name = "PATH[=PATTERN]"
    )]
    keys: Vec<signature::TrustedKey>,
    /// For keyless bundles: the `trusted_root.json` (Fulcio CAs, Rekor and CT log keys), read offline.
    #[arg(long, requires_all = ["certificate_identity", "certificate_oidc_issuer"])]
    trusted_root: Option<PathBuf>,
    /// For keyless bundles: the signer's identity (the certificate's SAN: an email or a workflow URI).
    #[arg(long, requires = "trusted_root")]
    certificate_identity: Option<String>,
    /// For keyless bundles: the OIDC issuer recorded in the certificate.
    #[arg(long, requires = "trusted_root")]
    certificate_oidc_issuer: Option<String>,
    /// The bundle (default: FILE.bundle.json when it exists, else the one in the entry's `_meta`).
    #[arg(long)]
    bundle: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CanonicalizeArgs {
    /// The server.json whose canonical form (the signed bytes) goes to stdout.
    file: PathBuf,
}

/// The bundle beside a server.json file: `FILE.bundle.json`.
pub fn bundle_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".bundle.json");
    PathBuf::from(name)
}

/// The bundle beside `file`, if there is one (parsed and checked as a sigstore bundle).
pub fn sidecar_bundle(file: &Path) -> anyhow::Result<Option<Value>> {
    let path = bundle_path(file);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            signature::bundle_from_json(&text).with_context(|| format!("{}", path.display()))?;
            Ok(Some(serde_json::from_str(&text)?))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn read_entry(file: &Path) -> anyhow::Result<Value> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let v: Value =
        serde_json::from_slice(&bytes).with_context(|| format!("{}: not JSON", file.display()))?;
    if !v.is_object() || v.get("name").is_none() || v.get("version").is_none() {
        bail!(
            "{}: not a server.json (an object with name and version)",
            file.display()
        );
    }
    Ok(v)
}

/// The password: the file's first line, or COSIGN_PASSWORD.
fn password(file: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    if let Some(f) = file {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("cannot read the password file {}", f.display()))?;
        return Ok(text.lines().next().unwrap_or_default().as_bytes().to_vec());
    }
    std::env::var("COSIGN_PASSWORD")
        .map(String::into_bytes)
        .context("no password: set COSIGN_PASSWORD (it may be empty) or pass --password-file")
}

pub fn keygen(a: KeygenArgs) -> anyhow::Result<i32> {
    let key_path = PathBuf::from(format!("{}.key", a.output_key_prefix));
    let pub_path = PathBuf::from(format!("{}.pub", a.output_key_prefix));
    for p in [&key_path, &pub_path] {
        if p.exists() {
            bail!("{} exists already: not overwritten", p.display());
        }
    }
    let password = password(a.password_file.as_deref())?;
    let pair = signature::generate_key_pair()?;
    let private = pair
        .private_key_to_encrypted_pem(&password)
        .map_err(|e| anyhow::anyhow!("cannot encrypt the private key: {e}"))?;
    let public = pair
        .public_key_to_pem()
        .map_err(|e| anyhow::anyhow!("cannot encode the public key: {e}"))?;
    write_private(&key_path, private.as_bytes())?;
    atomic_write(&pub_path, public.as_bytes())?;
    thv_core::errln!(
        "private key written to {} (keep it secret), public key to {}",
        key_path.display(),
        pub_path.display()
    );
    Ok(0)
}

fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(data)?;
    f.sync_all()?;
    Ok(())
}

/// A private key (cosign.key); an encrypted one with COSIGN_PASSWORD or the password file.
pub fn read_signing_key(
    path: &Path,
    password_file: Option<&Path>,
) -> anyhow::Result<signature::SigStoreKeyPair> {
    let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let password = if String::from_utf8_lossy(&pem).contains("ENCRYPTED") {
        password(password_file)?
    } else {
        Vec::new()
    };
    signature::read_private_key(&pem, &password)
        .with_context(|| format!("{}: wrong password or not a private key", path.display()))
}

pub fn sign(a: SignArgs) -> anyhow::Result<i32> {
    let mut entry = read_entry(&a.file)?;
    let key = read_signing_key(&a.key, a.password_file.as_deref())?;
    let bundle = signature::sign_with_key(&entry, &key)?;
    let name = entry["name"].as_str().unwrap_or_default().to_owned();
    let version = entry["version"].as_str().unwrap_or_default().to_owned();
    if a.embed {
        let obj = entry.as_object_mut().context("not an object")?;
        let meta = obj
            .entry("_meta")
            .or_insert_with(|| Value::Object(Default::default()));
        let meta = meta.as_object_mut().context("_meta: not an object")?;
        meta.insert(SIGNATURE_META.to_owned(), serde_json::to_value(&bundle)?);
        let mut text = serde_json::to_string_pretty(&entry)?;
        text.push('\n');
        atomic_write(&a.file, text.as_bytes())?;
        thv_core::outln!(
            "signed {name}@{version}: bundle in {} (_meta)",
            a.file.display()
        );
    } else {
        let out = a.output.unwrap_or_else(|| bundle_path(&a.file));
        let mut text = signature::bundle_to_json(&bundle)?;
        text.push('\n');
        atomic_write(&out, text.as_bytes())?;
        thv_core::outln!("signed {name}@{version}: {}", out.display());
    }
    Ok(0)
}

pub async fn verify(a: VerifyArgs) -> anyhow::Result<i32> {
    let entry = read_entry(&a.file)?;
    let bundle: Option<Value> = match &a.bundle {
        Some(p) => Some(
            serde_json::from_str(
                &std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read {}", p.display()))?,
            )
            .with_context(|| format!("{}: not JSON", p.display()))?,
        ),
        None => sidecar_bundle(&a.file)?,
    };
    let signers = match (a.certificate_identity, a.certificate_oidc_issuer) {
        (Some(identity), Some(issuer)) => {
            vec![signature::TrustedSigner {
                identity,
                issuer,
                names: None,
            }]
        }
        _ => Vec::new(),
    };
    let policy = signature::PolicyConfig {
        mode: signature::PolicyMode::Enforce,
        trusted_keys: a.keys.clone(),
        trusted_root: a.trusted_root.clone(),
        signers,
    }
    .load()
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let name = entry["name"].as_str().unwrap_or_default();
    let version = entry["version"].as_str().unwrap_or_default();
    match policy.evaluate(&entry, bundle.as_ref()).await {
        signature::Verdict::Verified { key } => {
            thv_core::outln!("verified {name}@{version}: signed by {key}");
            Ok(0)
        }
        signature::Verdict::Failed(e) => {
            thv_core::errln!("Error: {}: {name}@{version}: {e}", a.file.display());
            Ok(1)
        }
        signature::Verdict::NotChecked => unreachable!("an enforcing policy checks"),
    }
}

pub fn canonicalize(a: CanonicalizeArgs) -> anyhow::Result<i32> {
    let entry = read_entry(&a.file)?;
    thv_core::output::write_stdout_bytes(&signature::canonical_bytes(&entry)?);
    Ok(0)
}
