//! toolhive-registry-server's `config.yaml` (what ToolHive's MCPRegistry passes through as `spec.configYAML`),
//! read as this server's own configuration: the YAML is rewritten into this server's keys before it is parsed.
//!
//! - `database: {host, port, user, database, sslMode, maxOpenConns}` becomes `database_url`
//!   (`postgres://user@host:port/database?sslmode=…`, the password from the pgpass file `PGPASSFILE` names, as
//!   libpq and toolhive-registry-server read it) and `max_connections`. `migrationUser` is taken when `user` is
//!   absent: this server migrates and serves as one user. `maxIdleConns` and `connMaxLifetime` are pool tuning
//!   this server does its own way and are left out.
//! - A source `managed: {}` names the source of entries published to this API: this server's own format takes it
//!   as it is (`crate::sync::config`), and its name stands for that source in `registries`.
//! - `auth: {mode: anonymous}` is this server's default (reads need no token); `publicPaths` and `oauth` change
//!   nothing then. `auth: {mode: oauth, oauth: {...}, publicPaths, authz: {roles}}` becomes this server's
//!   `auth.oauth` (`crate::oauth`), with the public paths and roles in it. The other keys of `auth` are this
//!   server's own and are kept.
//!
//! What would change who sees or may do what and cannot be honoured yet is refused, naming it: `claims`,
//! `dynamicAuth`, and (`crate::oauth`) the roles `manageSources` and `manageRegistries`. `kubernetes` sources take
//! the same keys here (`crate::sync::config::kubernetes`).

use serde_yaml_ng::{Mapping, Value};

/// Whether a parsed YAML configuration is toolhive-registry-server's (a key or a shape only it has).
pub fn is_toolhive(config: &Value) -> bool {
    let sources = config["sources"].as_sequence().into_iter().flatten();
    config.get("database").is_some()
        || config["auth"].get("mode").is_some()
        || sources
            .clone()
            .any(|s| s.get("managed").is_some() || s.get("kubernetes").is_some())
        || sources.clone().any(|s| s.get("claims").is_some())
}

/// Rewrites toolhive-registry-server's keys into this server's (see the module documentation); every key that
/// cannot be honoured is reported.
pub fn translate(config: &mut Value, errors: &mut Vec<String>) {
    let Some(root) = config.as_mapping_mut() else {
        return;
    };
    if let Some(database) = root.remove("database") {
        database_settings(&database, root, errors);
    }
    unsupported_sources(root, errors);
    if let Some(Value::Sequence(registries)) = root.get("registries") {
        for (i, registry) in registries.iter().enumerate() {
            if registry.get("claims").is_some() {
                errors.push(format!(
                    "registries[{i}].claims: per-registry claims (who may read it) are not supported; remove them, or keep the registry behind a gateway that checks them"
                ));
            }
        }
    }
    let Some(Value::Mapping(auth)) = root.get_mut("auth") else {
        return;
    };
    let Some(mode) = auth.remove("mode") else {
        return;
    };
    let public_paths = auth.remove("publicPaths");
    let authz = auth.remove("authz");
    match mode.as_str() {
        // Reads are open: the OAuth settings (and the roles, which need a provider's token) are not used.
        Some("anonymous") => {
            auth.remove("oauth");
        }
        Some("oauth") => oauth_settings(auth, public_paths, authz, errors),
        _ => errors.push(format!(
            "auth.mode: {} is not anonymous or oauth",
            serde_yaml_ng::to_string(&mode).unwrap_or_default().trim()
        )),
    }
    if auth.is_empty() {
        root.remove("auth");
    }
}

/// `auth.mode: oauth`: `auth.oauth` (its keys are read as they are spelled), with `auth.publicPaths` and
/// `auth.authz.roles` moved into it (`crate::oauth`).
fn oauth_settings(
    auth: &mut Mapping,
    public_paths: Option<Value>,
    authz: Option<Value>,
    errors: &mut Vec<String>,
) {
    let Some(Value::Mapping(oauth)) = auth.get_mut("oauth") else {
        errors.push(
            "auth.oauth: mode 'oauth' needs its providers (auth.oauth: {resourceUrl, providers: [{name, issuerUrl, audience}]})"
                .into(),
        );
        return;
    };
    if let Some(paths) = public_paths {
        oauth.insert("public_paths".into(), paths);
    }
    if let Some(Value::Mapping(mut authz)) = authz {
        if let Some(roles) = authz.remove("roles") {
            if oauth.contains_key("roles") {
                errors.push(
                    "auth.authz.roles: auth.oauth.roles is set too; declare the roles once".into(),
                );
            }
            oauth.insert("roles".into(), roles);
        }
        for (key, _) in authz {
            errors.push(format!(
                "auth.authz.{}: not supported (only roles are)",
                key.as_str().unwrap_or("?")
            ));
        }
    }
}

/// `database:` as this server's `database_url` and `max_connections`.
fn database_settings(database: &Value, root: &mut Mapping, errors: &mut Vec<String>) {
    let text = |key: &str| database.get(key).and_then(Value::as_str).map(str::to_owned);
    if database.get("dynamicAuth").is_some() {
        errors.push(
            "database.dynamicAuth: AWS RDS IAM authentication is not supported; use a pgpass file (PGPASSFILE)"
                .into(),
        );
    }
    let host = text("host").unwrap_or_default();
    let user = text("user").or_else(|| text("migrationUser"));
    let name = text("database");
    let (Some(user), Some(name)) = (user, name) else {
        errors
            .push("database: user (or migrationUser) and database are required, as strings".into());
        return;
    };
    // A host name or an IPv4 address, nothing a URL would read otherwise (`%2F…` is a Unix socket's path to
    // the driver). IPv6 literals are refused: the driver looks `[::1]` up as a name.
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !host_ok {
        errors.push(format!(
            "database.host: '{host}' is not a host name or an IPv4 address (letters, digits, '-' and '.'; for IPv6, use a host name)"
        ));
        return;
    }
    let port = match &database["port"] {
        Value::Null => Some(5432),
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse::<u64>().ok(),
        _ => None,
    };
    let Some(port) = port.filter(|p| (1..=65535).contains(p)) else {
        errors.push("database.port: not a port number (1 to 65535)".into());
        return;
    };
    let mut url = format!(
        "postgres://{}@{host}:{port}/{}",
        encode(&user),
        encode(&name)
    );
    if let Some(mode) = text("sslMode") {
        url.push_str(&format!("?sslmode={}", encode(&mode)));
    }
    root.insert("database_url".into(), Value::from(url));
    match database.get("maxOpenConns") {
        None | Some(Value::Null) => {}
        Some(v) => match v.as_u64().filter(|n| *n >= 1) {
            Some(n) => {
                root.insert("max_connections".into(), Value::from(n));
            }
            None => {
                errors.push("database.maxOpenConns: not a number of connections (1 or more)".into())
            }
        },
    }
}

/// Refuses what sources ask that cannot be honoured: `claims`.
fn unsupported_sources(root: &mut Mapping, errors: &mut Vec<String>) {
    let Some(Value::Sequence(sources)) = root.get_mut("sources") else {
        return;
    };
    for (i, source) in sources.iter().enumerate() {
        if source.get("claims").is_some() {
            errors.push(format!(
                "sources[{i}].claims: per-source claims (who may read its entries) are not supported; remove them"
            ));
        }
    }
}

/// Percent-encodes what a URL's user, path or query value cannot hold as it is.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translated(yaml: &str) -> (Value, Vec<String>) {
        let mut v: Value = serde_yaml_ng::from_str(yaml).unwrap();
        assert!(is_toolhive(&v));
        let mut errors = Vec::new();
        translate(&mut v, &mut errors);
        (v, errors)
    }

    #[test]
    fn a_toolhive_config_becomes_this_servers_keys() {
        let (v, errors) = translated(
            r#"
sources:
  - name: internal
    managed: {}
  - name: upstream
    api: {endpoint: "https://registry.modelcontextprotocol.io"}
    syncPolicy: {interval: 30m}
registries:
  - name: default
    sources: [internal, upstream]
auth:
  mode: anonymous
  publicPaths: ["/health"]
database:
  host: postgres.db.svc
  port: 5432
  user: db_app
  migrationUser: db_migrator
  database: registry
  sslMode: require
  maxOpenConns: 12
  maxIdleConns: 4
"#,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            v["database_url"],
            "postgres://db_app@postgres.db.svc:5432/registry?sslmode=require"
        );
        assert_eq!(v["max_connections"], 12);
        // The managed source stays: this server's own format takes `managed: {}`.
        assert_eq!(v["sources"].as_sequence().unwrap().len(), 2);
        assert!(v.get("auth").is_none() && v.get("database").is_none());
    }

    #[test]
    fn what_cannot_be_honoured_is_refused_by_name() {
        let (_, errors) = translated(
            r#"
sources:
  - {name: a, managed: {}}
  - {name: b, managed: {}}
  - {name: k, kubernetes: {namespaces: [x]}}
  - {name: c, file: {path: /x}, claims: {team: a}}
registries:
  - {name: r, sources: [a], claims: {team: a}}
auth:
  mode: oauth
  authz: {roles: {}}
database:
  host: "db/x"
  user: u
  database: d
  dynamicAuth: {awsRdsIam: {region: eu-west-1}}
"#,
        );
        let all = errors.join("\n");
        for expected in [
            "sources[3].claims: per-source claims",
            "registries[0].claims: per-registry claims",
            "auth.oauth: mode 'oauth' needs its providers",
            "database.dynamicAuth:",
            "database.host: 'db/x' is not a host name or an IPv4 address",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
    }

    /// Only `mode` and `publicPaths` are toolhive-registry-server's: the rest of `auth` is this server's own and
    /// stays (it was dropped with them: the token exchanges' settings were lost).
    #[test]
    fn auth_keeps_this_servers_own_keys() {
        let (v, errors) = translated(
            "auth:\n  mode: anonymous\n  publicPaths: [/x]\n  http: false\n  anonymous: true\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            v["auth"],
            serde_yaml_ng::from_str::<Value>("{http: false, anonymous: true}").unwrap()
        );
    }

    /// `%2F…` in a host is a Unix socket's path to the driver; IPv6 literals it looks up as names.
    #[test]
    fn database_hosts_are_names_or_ipv4_addresses() {
        for host in [
            "'%2Ftmp%2Fsock'",
            "'::1'",
            "'[::1]'",
            "'127.0.0.1:9'",
            "'a b'",
            "'a..b'",
            "''",
        ] {
            let (_, errors) = translated(&format!(
                "database: {{host: {host}, user: u, database: d}}\n"
            ));
            assert!(
                errors.iter().any(|e| e.starts_with("database.host:")),
                "{host}: {errors:?}"
            );
        }
        let (v, errors) =
            translated("database: {host: db-1.prod, port: '6543', user: u, database: d}\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(v["database_url"], "postgres://u@db-1.prod:6543/d");
        for bad in ["maxOpenConns: 0", "maxOpenConns: -1", "port: 0", "port: x"] {
            let (_, errors) = translated(&format!(
                "database: {{host: h, user: u, database: d, {bad}}}\n"
            ));
            assert!(!errors.is_empty(), "{bad}");
        }
    }

    #[test]
    fn this_servers_own_yaml_is_not_taken_for_toolhives() {
        let v: Value = serde_yaml_ng::from_str(
            "sources:\n  - name: up\n    api: {endpoint: https://x}\nauth:\n  anonymous: true\n",
        )
        .unwrap();
        assert!(!is_toolhive(&v));
    }
}
