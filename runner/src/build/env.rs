//! The builder stage's environment: package mirrors and module proxies for users behind their own
//! (`GOPROXY`, `GOFLAGS`, `NPM_CONFIG_REGISTRY`, `PIP_INDEX_URL`, `UV_INDEX_URL`, ...).
//!
//! In rising precedence: the package tools' own variables when they are set in `thv`'s environment
//! ([`PASSED_THROUGH`], so `GOPROXY=https://goproxy.corp thv run go://...` works as `go install` would), then
//! `[build] env_from_shell` (names read from `thv`'s environment when it builds), then `[build] env` (literal
//! values): what `thv config set-build-env` writes, as ToolHive's command does. None of it reaches the image
//! that runs.

use std::collections::BTreeMap;

use thv_core::runconfig::env_name_error;

/// The package tools' variables taken from `thv`'s environment when set: Go's module proxy settings, npm's and
/// pip's / uv's index settings.
pub const PASSED_THROUGH: &[&str] = &[
    "GOPROXY",
    "GONOPROXY",
    "GOPRIVATE",
    "GONOSUMDB",
    "GOSUMDB",
    "GOINSECURE",
    "GOFLAGS",
    "NPM_CONFIG_REGISTRY",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_INDEX",
];

/// Names the build must set itself: a build environment naming them is refused.
const RESERVED: &[&str] = &[
    "PATH",
    "HOME",
    "GOBIN",
    "GOPATH",
    "GOCACHE",
    "GOOS",
    "CGO_ENABLED",
];

/// Why `name` cannot be a build environment variable, if it cannot.
pub fn build_env_name_error(name: &str) -> Option<String> {
    if let Some(e) = env_name_error(name) {
        return Some(e);
    }
    RESERVED
        .contains(&name)
        .then(|| format!("'{name}' is set by the build itself and cannot be changed"))
}

/// The builder's environment from `lookup` (the process environment) and the configuration.
pub fn resolve(
    lookup: impl Fn(&str) -> Option<String>,
    from_shell: &[String],
    literal: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for name in PASSED_THROUGH {
        if let Some(v) = lookup(name).filter(|v| !v.is_empty()) {
            env.insert((*name).to_owned(), v);
        }
    }
    for name in from_shell {
        match lookup(name) {
            Some(v) => {
                env.insert(name.clone(), v);
            }
            None => tracing::warn!(
                variable = %name,
                "build env: {name} is configured to come from the environment, which does not set it"
            ),
        }
    }
    env.extend(literal.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// [`resolve`] from this process's environment.
pub fn from_process(
    from_shell: &[String],
    literal: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    resolve(|name| std::env::var(name).ok(), from_shell, literal)
}

/// `text` with every build environment value (of 4 characters or more) replaced by `***`: the engine's build
/// output echoes the Dockerfile's `ENV` steps.
pub fn mask_values(text: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = text.to_owned();
    for value in env.values().filter(|v| v.chars().count() >= 4) {
        if out.contains(value.as_str()) {
            out = out.replace(value.as_str(), "***");
        }
    }
    out
}

/// Whether a variable's name says it holds a credential (its value is never shown).
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "KEY",
        "AUTH",
        "CREDENTIAL",
    ]
    .iter()
    .any(|w| upper.contains(w))
}

/// How a build environment value is shown: `***` for a value from thv's environment (`--from-env`, meant for
/// credentials) or a secret-looking name, else [`redact`]ed.
pub fn display(name: &str, value: &str, from_shell: bool) -> String {
    if from_shell || is_secret_name(name) {
        "***".to_owned()
    } else {
        redact(value)
    }
}

/// `value` with credentials in it replaced by `***`: the password of any URL (`scheme://user:pass@host`, or
/// `user:pass@host` without a scheme) and the value of `token=`, `_authToken=`, `password=` and `key=` settings.
pub fn redact(value: &str) -> String {
    let urls: String = value
        .split_inclusive([',', '|', ' '])
        .map(|part| {
            let Some(scheme_end) = part.find("://") else {
                return redact_userinfo(part);
            };
            let rest = &part[scheme_end + 3..];
            let host_start = rest.find('/').unwrap_or(rest.len());
            match rest[..host_start].rfind('@') {
                Some(at) => {
                    let userinfo = &rest[..at];
                    let user = userinfo.split(':').next().unwrap_or_default();
                    let shown = if userinfo.contains(':') {
                        format!("{user}:***")
                    } else {
                        "***".to_owned()
                    };
                    format!("{}{shown}{}", &part[..scheme_end + 3], &rest[at..])
                }
                None => part.to_owned(),
            }
        })
        .collect();
    redact_settings(&urls)
}

/// `user:pass@host…` (no scheme) → `user:***@host…`.
fn redact_userinfo(part: &str) -> String {
    match part.split_once('@') {
        Some((userinfo, rest)) if userinfo.contains(':') && !userinfo.contains('/') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{user}:***@{rest}")
        }
        _ => part.to_owned(),
    }
}

/// `…token=SECRET&…` → `…token=***&…` (also `_authToken=`, `password=`, `key=`; any case).
fn redact_settings(value: &str) -> String {
    let lower = value.to_ascii_lowercase();
    let mut out = String::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        let found = ["token=", "password=", "key="]
            .iter()
            .filter_map(|k| lower[i..].find(k).map(|at| i + at + k.len()))
            .min();
        let Some(start) = found else {
            out.push_str(&value[i..]);
            break;
        };
        let end = value[start..]
            .find(['&', ',', '|', ' ', ';'])
            .map_or(value.len(), |e| start + e);
        out.push_str(&value[i..start]);
        out.push_str("***");
        i = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_values_win_over_the_environment() {
        let host: BTreeMap<&str, &str> = [
            ("GOPROXY", "https://host-proxy"),
            ("GOFLAGS", "-mod=mod"),
            ("CORP_TOKEN", "t0k"),
            ("UNRELATED", "x"),
        ]
        .into();
        let lookup = |k: &str| host.get(k).map(|v| (*v).to_owned());
        let literal: BTreeMap<String, String> =
            [("GOPROXY".to_owned(), "https://configured".to_owned())].into();
        let env = resolve(
            lookup,
            &["CORP_TOKEN".to_owned(), "MISSING".to_owned()],
            &literal,
        );
        assert_eq!(env["GOPROXY"], "https://configured");
        assert_eq!(env["GOFLAGS"], "-mod=mod");
        assert_eq!(env["CORP_TOKEN"], "t0k");
        assert!(!env.contains_key("UNRELATED") && !env.contains_key("MISSING"));
    }

    #[test]
    fn reserved_and_bad_names_are_refused() {
        assert!(build_env_name_error("GOPROXY").is_none());
        assert!(
            build_env_name_error("PATH")
                .unwrap()
                .contains("set by the build")
        );
        assert!(build_env_name_error("GOBIN").is_some());
        assert!(
            build_env_name_error("A-B")
                .unwrap()
                .contains("not a valid env var name")
        );
    }

    #[test]
    fn url_passwords_are_redacted() {
        assert_eq!(
            redact("https://bob:s3cret@goproxy.corp/path,direct"),
            "https://bob:***@goproxy.corp/path,direct"
        );
        assert_eq!(
            redact("https://tok@a.example|https://b.example"),
            "https://***@a.example|https://b.example"
        );
        assert_eq!(redact("-mod=mod -trimpath"), "-mod=mod -trimpath");
        assert_eq!(
            redact("https://idx.example/simple?token=QS1&x=1"),
            "https://idx.example/simple?token=***&x=1"
        );
        assert_eq!(
            redact("//registry.npmjs.org/:_authToken=NPMTOK6"),
            "//registry.npmjs.org/:_authToken=***"
        );
        assert_eq!(redact("u:PASS5@host.corp:8080"), "u:***@host.corp:8080");
        assert_eq!(display("NPM_TOKEN", "abc", false), "***");
        assert_eq!(display("GOPRIVATE", "corp.example/*", true), "***");
        assert_eq!(
            display("GOPRIVATE", "corp.example/*", false),
            "corp.example/*"
        );
        let env: BTreeMap<String, String> = [("A".to_owned(), "s3cr3t".to_owned())].into();
        assert_eq!(
            mask_values("STEP 2/7: ENV A=\"s3cr3t\"", &env),
            "STEP 2/7: ENV A=\"***\""
        );
        assert_eq!(redact("https://x.example/a@b"), "https://x.example/a@b");
    }
}
