//! Where `thv` keeps its files, by the XDG base directory rules (`directories`), so that `XDG_CONFIG_HOME`,
//! `XDG_STATE_HOME` and `XDG_DATA_HOME` (or `HOME`) move them:
//!
//! | what | path |
//! |---|---|
//! | user configuration ([`crate::config::UserConfig`]) | `$XDG_CONFIG_HOME/thv/config.toml` |
//! | workloads' RunConfigs | `$XDG_STATE_HOME/thv/runconfigs/NAME.json` |
//! | workloads' status (proxy PID, container id, desired state) | `$XDG_STATE_HOME/thv/workloads/NAME.json` |
//! | proxy logs | `$XDG_STATE_HOME/thv/logs/NAME.log` |
//! | names being created (`thv run`'s reservations) | `$XDG_STATE_HOME/thv/locks/NAME.lock` |
//! | secrets ([`crate::secrets`]) | `$XDG_DATA_HOME/thv/secrets.json` (mode 0600) |

use std::io;
use std::path::{Path, PathBuf};

/// The directories of one user's `thv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    pub config: PathBuf,
    pub state: PathBuf,
    pub data: PathBuf,
}

impl Dirs {
    /// The XDG directories of the current user.
    pub fn from_env() -> io::Result<Self> {
        let p = directories::ProjectDirs::from("", "", "thv").ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "no home directory: set HOME (or XDG_CONFIG_HOME, XDG_STATE_HOME and XDG_DATA_HOME)",
            )
        })?;
        let data = p.data_dir().to_path_buf();
        let state = p
            .state_dir()
            .map_or_else(|| data.join("state"), Path::to_path_buf);
        Ok(Self {
            config: p.config_dir().to_path_buf(),
            state,
            data,
        })
    }

    /// All three under one root (tests).
    pub fn under(root: &Path) -> Self {
        Self {
            config: root.join("config"),
            state: root.join("state"),
            data: root.join("data"),
        }
    }

    pub fn config_file(&self) -> PathBuf {
        self.config.join("config.toml")
    }

    pub fn runconfigs(&self) -> PathBuf {
        self.state.join("runconfigs")
    }

    pub fn statuses(&self) -> PathBuf {
        self.state.join("workloads")
    }

    pub fn logs(&self) -> PathBuf {
        self.state.join("logs")
    }

    /// Reservations of workload names being created ([`crate::workloads::reserve`]).
    pub fn locks(&self) -> PathBuf {
        self.state.join("locks")
    }

    pub fn proxy_log(&self, name: &str) -> PathBuf {
        self.logs().join(format!("{name}.log"))
    }

    pub fn secrets_file(&self) -> PathBuf {
        self.data.join("secrets.json")
    }
}

/// Writes `bytes` to `path` atomically (a temporary file in the same directory, then a rename), creating the
/// directory; `mode` sets the new file's permissions (unix).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other(format!("{} has no parent directory", path.display())))?;
    std::fs::create_dir_all(dir)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
