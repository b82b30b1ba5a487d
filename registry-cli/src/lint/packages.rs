//! Rules on how an entry runs: its packages and remotes, their inputs and the secrets among them.

use super::*;

impl Linter<'_> {
    pub(super) fn packages(&mut self, s: &ServerJson) {
        for (i, p) in s.packages.iter().flatten().enumerate() {
            let at = format!("packages[{i}]");
            let id_path = field(&at, "identifier");
            let kind = p.registry_type.to_ascii_lowercase();
            if kind == "oci" {
                match ImageRef::parse(&p.identifier) {
                    Err(e) => self.emit(
                        "image-invalid",
                        id_path,
                        format!(
                            "\"{}\" is not a valid image reference: {e}",
                            p.identifier
                        ),
                    ),
                    Ok(r) if r.digest.is_none() => {
                        match r.tag.as_deref() {
                            None => self.emit(
                                "image-unpinned",
                                id_path,
                                format!(
                                    "image {} has no tag (it means `latest`) and no digest: pin a version tag or \
                                     a @sha256 digest",
                                    p.identifier
                                ),
                            ),
                            Some("latest") => self.emit(
                                "image-unpinned",
                                id_path,
                                format!(
                                    "image {} uses the `latest` tag: pin a version tag or a @sha256 digest",
                                    p.identifier
                                ),
                            ),
                            Some(tag) => self.emit(
                                "image-no-digest",
                                id_path,
                                format!(
                                    "image {} is pinned by the tag {tag} only; a @sha256 digest cannot move",
                                    p.identifier
                                ),
                            ),
                        }
                    }
                    Ok(_) => {}
                }
            } else if kind != "mcpb" {
                let vpath = field(&at, "version");
                match p.version.as_deref().map(str::trim) {
                    None | Some("") => self.emit(
                        "package-version-unpinned",
                        vpath,
                        format!(
                            "{} package {} has no version: clients install whatever is newest",
                            p.registry_type, p.identifier
                        ),
                    ),
                    Some(v)
                        if matches!(
                            v.to_ascii_lowercase().as_str(),
                            "latest" | "next" | "beta" | "alpha" | "canary" | "stable" | "nightly" | "*"
                        ) || !v.chars().any(|c| c.is_ascii_digit()) =>
                    {
                        self.emit(
                            "package-version-unpinned",
                            vpath,
                            format!(
                                "{} package {} has version \"{v}\", a moving tag: pin an exact version",
                                p.registry_type, p.identifier
                            ),
                        )
                    }
                    Some(_) => {}
                }
            }
            for (j, e) in p.environment_variables.iter().flatten().enumerate() {
                let epath = format!("{at}.environmentVariables[{j}]");
                self.key_value(&epath, e, "environment variable");
                if e.input
                    .description
                    .as_deref()
                    .is_none_or(|d| d.trim().is_empty())
                {
                    self.emit(
                        "env-no-description",
                        field(&epath, "description"),
                        format!("environment variable {} has no description", e.name),
                    );
                }
            }
            for (j, h) in p.transport.headers.iter().flatten().enumerate() {
                self.key_value(&format!("{at}.transport.headers[{j}]"), h, "header");
            }
            for (list, args) in [
                ("runtimeArguments", &p.runtime_arguments),
                ("packageArguments", &p.package_arguments),
            ] {
                for (j, arg) in args.iter().flatten().enumerate() {
                    let apath = format!("{at}.{list}[{j}]");
                    if let Some(name) = &arg.name {
                        self.secret_input(&apath, name, &arg.input, "argument");
                    }
                }
            }
        }
    }

    pub(super) fn key_value(&mut self, at: &str, kv: &KeyValueInput, what: &str) {
        self.secret_input(at, &kv.name, &kv.input, what);
    }

    pub(super) fn secret_input(&mut self, at: &str, name: &str, input: &Input, what: &str) {
        if input.secret() {
            if input.default.as_deref().is_some_and(|d| !d.is_empty()) {
                self.emit(
                    "secret-with-value",
                    field(at, "default"),
                    format!("secret {what} {name} has a default value: a credential published in the registry"),
                );
            }
            if input
                .value
                .as_deref()
                .is_some_and(|v| !v.is_empty() && !v.contains('{'))
            {
                self.emit(
                    "secret-with-value",
                    field(at, "value"),
                    format!(
                        "secret {what} {name} has a literal value: a credential published in the registry \
                         (use a {{variable}})"
                    ),
                );
            }
        } else if looks_secret(name) {
            self.emit(
                "secret-not-marked",
                field(at, "isSecret"),
                format!(
                    "{what} {name} looks like a secret but is not marked isSecret: clients would store and show \
                     its value in plain text"
                ),
            );
        }
    }

    pub(super) fn remotes(
        &mut self,
        s: &ServerJson,
        location: &str,
        seen: &mut HashMap<String, (String, String, String)>,
    ) {
        for (i, r) in s.remotes.iter().flatten().enumerate() {
            let at = format!("remotes[{i}]");
            for (j, h) in r.headers.iter().flatten().enumerate() {
                self.key_value(&format!("{at}.headers[{j}]"), h, "header");
            }
            let Some(url) = r.url.as_deref() else {
                continue;
            };
            if url.to_ascii_lowercase().starts_with("http://") {
                self.emit(
                    "remote-insecure-url",
                    field(&at, "url"),
                    format!("remote URL {url} uses plain http: use https"),
                );
            }
            let key = url.trim_end_matches('/').to_owned();
            match seen.get(&key) {
                Some((name, first_entry, first_at))
                    if *name != s.name || first_entry == location =>
                {
                    let first = crate::report::join_location(first_entry, first_at);
                    self.emit(
                        "duplicate-remote-url",
                        field(&at, "url"),
                        format!("remote URL {url} is also used by {name} (at {first})"),
                    );
                }
                Some(_) => {}
                None => {
                    seen.insert(key, (s.name.clone(), location.to_owned(), at.clone()));
                }
            }
        }
    }
}

/// Words of a name: split on non-alphanumerics and lower→upper case changes, uppercased
/// (`X-Api-Key` → `X API KEY`, `apiKey` → `API KEY`).
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        cur.push(c.to_ascii_uppercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Words that make a name secret.
const SECRET_WORDS: &[&str] = &[
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PWD",
    "PASSPHRASE",
    "APIKEY",
    "KEY",
    "CREDENTIAL",
    "CREDENTIALS",
    "PAT",
    "COOKIE",
    "AUTHORIZATION",
    "PRIVATEKEY",
];

/// Last words that make a name about a secret rather than a secret (`TOKEN_URL`, `SSH_KEY_PATH`, `KEY_ID`).
const NOT_SECRET_LAST: &[&str] = &[
    "FILE",
    "FILES",
    "PATH",
    "DIR",
    "URL",
    "URI",
    "ID",
    "NAME",
    "TYPE",
    "HOST",
    "PORT",
    "ENDPOINT",
    "METHOD",
    "THRESHOLD",
    "LIMIT",
    "COUNT",
    "SIZE",
    "LENGTH",
    "EXPIRY",
    "EXPIRATION",
    "TTL",
    "TIMEOUT",
    "HEADER",
    "REGION",
    "SCOPE",
    "SCOPES",
    "ISSUER",
    "ENABLED",
    "DISABLED",
    "MODE",
    "FORMAT",
    "PREFIX",
    "VERSION",
    "USER",
    "USERNAME",
    "EMAIL",
    "DOMAIN",
    "LOCATION",
    "STORE",
    "PROVIDER",
];

/// Whether an input name looks like it holds a secret (see [`SECRET_WORDS`], [`NOT_SECRET_LAST`]).
pub fn looks_secret(name: &str) -> bool {
    let w = words(name);
    let (Some(first), Some(last)) = (w.first(), w.last()) else {
        return false;
    };
    if NOT_SECRET_LAST.contains(&last.as_str()) || matches!(first.as_str(), "MAX" | "MIN") {
        return false;
    }
    w.iter().enumerate().any(|(i, word)| {
        SECRET_WORDS.contains(&word.as_str())
            && !(word == "KEY"
                && i > 0
                && matches!(w[i - 1].as_str(), "PUBLIC" | "SORT" | "PARTITION"))
    })
}
