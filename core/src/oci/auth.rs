//! Registry credentials where container tools keep them, so that `thv` reads and pulls private images as
//! `podman login` / `docker login` left them. The first of these files holding credentials for the registry
//! wins:
//!
//! 1. `$REGISTRY_AUTH_FILE`;
//! 2. `$XDG_RUNTIME_DIR/containers/auth.json` (podman's default);
//! 3. `$XDG_CONFIG_HOME/containers/auth.json`, else `~/.config/containers/auth.json`;
//! 4. `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
//!
//! Each is `{"auths": {"<registry>": {"auth": base64("user:password")}}}` (or `username`/`password`). A key
//! matches by its host: `https://index.docker.io/v1/`, `index.docker.io` and `registry-1.docker.io` are
//! `docker.io`; a key with a path (`host/namespace`) applies to the host. Credential helpers (`credHelpers`,
//! `credsStore`) and identity tokens are not read.

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;

/// A user name and password for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ****)", self.username)
    }
}

/// The credentials stored for `registry` (`host[:port]`, `docker.io` for Docker Hub), if any.
pub fn for_registry(registry: &str) -> Option<Credentials> {
    auth_files().iter().find_map(|path| {
        let json: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        lookup(&json, registry)
    })
}

/// The auth files in the order they are read (see the module documentation).
fn auth_files() -> Vec<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let home = env("HOME");
    let mut files: Vec<PathBuf> = Vec::new();
    files.extend(env("REGISTRY_AUTH_FILE"));
    files.extend(env("XDG_RUNTIME_DIR").map(|d| d.join("containers/auth.json")));
    files.extend(
        env("XDG_CONFIG_HOME")
            .or_else(|| home.as_ref().map(|h| h.join(".config")))
            .map(|d| d.join("containers/auth.json")),
    );
    files.extend(
        env("DOCKER_CONFIG")
            .or_else(|| home.as_ref().map(|h| h.join(".docker")))
            .map(|d| d.join("config.json")),
    );
    files
}

/// The host a registry or auth-file key names (Docker Hub's names made `docker.io`).
fn host(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = key.split('/').next().unwrap_or(key);
    match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        h => h,
    }
}

/// The credentials of `registry` in one auth file.
fn lookup(json: &Value, registry: &str) -> Option<Credentials> {
    let auths = json.get("auths")?.as_object()?;
    let wanted = host(registry);
    let entry = auths.get(registry).or_else(|| {
        auths
            .iter()
            .find(|(k, _)| host(k) == wanted)
            .map(|(_, v)| v)
    })?;
    if let Some(auth) = entry
        .get("auth")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
    {
        let decoded = String::from_utf8(B64.decode(auth).ok()?).ok()?;
        let (username, password) = decoded.split_once(':')?;
        return Some(Credentials {
            username: username.to_owned(),
            password: password.to_owned(),
        });
    }
    Some(Credentials {
        username: entry.get("username")?.as_str()?.to_owned(),
        password: entry.get("password")?.as_str()?.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn basic(user: &str, pass: &str) -> Value {
        json!({"auth": B64.encode(format!("{user}:{pass}"))})
    }

    #[test]
    fn credentials_are_found_by_registry_host() {
        let file = json!({"auths": {
            "127.0.0.1:5000": basic("alice", "pa:ss"),
            "https://index.docker.io/v1/": basic("bob", "hub"),
            "ghcr.io/stacklok": basic("carol", "gh"),
            "quay.io": {"username": "dave", "password": "q"},
            "empty.example": {"auth": ""},
        }});
        let found = |r: &str| lookup(&file, r).map(|c| (c.username, c.password));
        assert_eq!(
            found("127.0.0.1:5000"),
            Some(("alice".into(), "pa:ss".into()))
        );
        assert_eq!(found("docker.io"), Some(("bob".into(), "hub".into())));
        assert_eq!(found("ghcr.io"), Some(("carol".into(), "gh".into())));
        assert_eq!(found("quay.io"), Some(("dave".into(), "q".into())));
        assert_eq!(found("127.0.0.1:5001"), None);
        assert_eq!(found("empty.example"), None);
        assert_eq!(lookup(&json!({"credHelpers": {}}), "docker.io"), None);
    }

    #[test]
    fn passwords_stay_out_of_debug_output() {
        let c = Credentials {
            username: "alice".into(),
            password: "secret".into(),
        };
        assert!(!format!("{c:?}").contains("secret"));
    }
}
