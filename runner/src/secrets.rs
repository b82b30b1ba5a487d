//! Secret values for `--secret NAME,target=ENV`: a RunConfig holds only references; the values are looked up
//! when a container is created, and never written to a RunConfig, an export or a log.
//!
//! Providers, in order:
//! 1. the environment: `TOOLHIVE_SECRET_<NAME>` (ToolHive's `environment` provider; `NAME` as given, and
//!    upper-cased with `-`/`.` turned into `_`);
//! 2. the local store `$XDG_DATA_HOME/thv/secrets.json` (mode 0600, directory 0700), managed with
//!    `thv secret set|get|list|delete`. Values are stored unencrypted, protected by the file's permissions
//!    (as `~/.netrc` or `~/.docker/config.json`); an OS-keyring-backed encrypted provider is future work.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::dirs::write_atomic;

/// The env var prefix of the environment provider.
pub const ENV_PREFIX: &str = "TOOLHIVE_SECRET_";

/// The local secret store.
#[derive(Debug, Clone)]
pub struct SecretStore {
    path: PathBuf,
}

impl SecretStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> anyhow::Result<BTreeMap<String, String>> {
        match std::fs::read(&self.path) {
            Ok(b) => serde_json::from_slice(&b).with_context(|| {
                format!("the secret store {} is not valid JSON", self.path.display())
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", self.path.display())),
        }
    }

    fn write(&self, map: &BTreeMap<String, String>) -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let bytes = serde_json::to_vec_pretty(map)?;
        write_atomic(&self.path, &bytes, 0o600)
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    /// Stores a secret (replacing its value).
    pub fn set(&self, name: &str, value: &str) -> anyhow::Result<()> {
        if let Some(e) = thv_core::runconfig::secret_name_error(name) {
            bail!("invalid secret name '{name}': {e}");
        }
        let mut map = self.read()?;
        map.insert(name.to_owned(), value.to_owned());
        self.write(&map)
    }

    /// A stored secret.
    pub fn get_stored(&self, name: &str) -> anyhow::Result<Option<String>> {
        Ok(self.read()?.remove(name))
    }

    /// The names of the stored secrets.
    pub fn list(&self) -> anyhow::Result<Vec<String>> {
        Ok(self.read()?.into_keys().collect())
    }

    /// Deletes a stored secret; false when there was none.
    pub fn delete(&self, name: &str) -> anyhow::Result<bool> {
        let mut map = self.read()?;
        let had = map.remove(name).is_some();
        if had {
            self.write(&map)?;
        }
        Ok(had)
    }

    /// A secret's value from the providers in order (environment, then the store).
    pub fn lookup(&self, name: &str) -> anyhow::Result<Option<String>> {
        for var in env_names(name) {
            if let Ok(v) = std::env::var(&var) {
                return Ok(Some(v));
            }
        }
        self.get_stored(name)
    }

    /// The values of a RunConfig's secret references, by target env var; every missing secret is listed in
    /// one error (before anything starts).
    pub fn resolve(
        &self,
        refs: &[thv_core::runconfig::SecretRef],
    ) -> anyhow::Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        let mut missing = Vec::new();
        for r in refs {
            match self.lookup(&r.name)? {
                Some(v) => {
                    out.insert(r.target.clone(), v);
                }
                None => missing.push(r.name.clone()),
            }
        }
        if !missing.is_empty() {
            bail!(
                "secret{} not found: {} (set with `thv secret set NAME`, or the env var {}NAME)",
                if missing.len() > 1 { "s" } else { "" },
                missing.join(", "),
                ENV_PREFIX
            );
        }
        Ok(out)
    }
}

impl SecretStore {
    /// The values of a workload's secrets that can be found now, by secret name (missing ones are skipped),
    /// and — from a RunConfig written before they were moved to the store — the plain values of its
    /// `sensitive_env_vars`: what [`crate::redact`] hides in its logs.
    pub fn known_values(&self, rc: &thv_core::runconfig::RunConfig) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for r in &rc.secrets {
            if let Ok(Some(v)) = self.lookup(&r.name) {
                out.insert(r.name.clone(), v);
            }
        }
        for var in &rc.sensitive_env_vars {
            if let Some(v) = rc.env_vars.get(var) {
                out.insert(var.clone(), v.clone());
            }
        }
        out
    }
}

/// The env vars the environment provider reads for a secret name.
fn env_names(name: &str) -> Vec<String> {
    let exact = format!("{ENV_PREFIX}{name}");
    let normalized = format!(
        "{ENV_PREFIX}{}",
        name.to_ascii_uppercase().replace(['-', '.'], "_")
    );
    if exact == normalized {
        vec![exact]
    } else {
        vec![exact, normalized]
    }
}
