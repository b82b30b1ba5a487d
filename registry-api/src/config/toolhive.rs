//! toolhive-registry-server's `config.yaml` (what ToolHive's MCPRegistry passes through as `spec.configYAML`),
//! read as this server's own configuration: the YAML is rewritten into this server's keys before it is parsed.
//!
//! - `database: {host, port, user, database, sslMode, maxOpenConns}` becomes `database_url`
//!   (`postgres://user@host:port/database?sslmode=…`, the password from the pgpass file `PGPASSFILE` names, as
//!   libpq and toolhive-registry-server read it) and `max_connections`. `migrationUser` is taken when `user` is
//!   absent: this server migrates and serves as one user. `maxIdleConns` and `connMaxLifetime` are pool tuning
//!   this server does its own way and are left out.
//! - A source `managed: {}` names the source of entries published to this API (here always `managed`): its
//!   name becomes an alias of `managed` in `registries`.
//! - `auth: {mode: anonymous}` is this server's default (reads need no token); `publicPaths` changes nothing.
//!
//! What would change who sees or may do what and cannot be honoured yet is refused, naming it: `claims`,
//! `auth.mode: oauth` and `auth.authz` (use this server's `auth.oidc`), `kubernetes` sources, `dynamicAuth`.

use serde_yaml_ng::{Mapping, Value};

use crate::store::MANAGED_SOURCE;

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
    let managed_alias = managed_sources(root, errors);
    if let Some(Value::Sequence(registries)) = root.get_mut("registries") {
        for (i, registry) in registries.iter_mut().enumerate() {
            if registry.get("claims").is_some() {
                errors.push(format!(
                    "registries[{i}].claims: per-registry claims (who may read it) are not supported; remove them, or keep the registry behind a gateway that checks them"
                ));
            }
            if let (Some(alias), Some(Value::Sequence(names))) =
                (&managed_alias, registry.get_mut("sources"))
            {
                for name in names.iter_mut() {
                    if name.as_str() == Some(alias.as_str()) {
                        *name = Value::from(MANAGED_SOURCE);
                    }
                }
            }
        }
    }
    if let Some(auth) = root.get("auth").cloned()
        && auth.get("mode").is_some()
    {
        root.remove("auth");
        match auth["mode"].as_str() {
            Some("anonymous") => {}
            Some("oauth") => errors.push(
                "auth.mode: 'oauth' (toolhive-registry-server's OAuth providers and roles) is not supported yet: configure who may publish with this server's auth.oidc rules".into(),
            ),
            _ => errors.push(format!(
                "auth.mode: {} is not anonymous or oauth",
                serde_yaml_ng::to_string(&auth["mode"]).unwrap_or_default().trim()
            )),
        }
        if auth.get("authz").is_some() {
            errors
                .push("auth.authz: toolhive-registry-server's roles are not supported yet".into());
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
        errors.push("database: user and database are required".into());
        return;
    };
    if host.is_empty() || host.contains(['/', '@', '?', '#']) {
        errors.push(format!(
            "database.host: '{host}' is not a host name or address"
        ));
        return;
    }
    let port = match &database["port"] {
        Value::Null => 5432,
        v => match v.as_u64().filter(|p| (1..=65535).contains(p)) {
            Some(p) => p,
            None => {
                errors.push("database.port: not a port number (1 to 65535)".into());
                return;
            }
        },
    };
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host
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
    if let Some(n) = database.get("maxOpenConns").and_then(Value::as_u64) {
        root.insert("max_connections".into(), Value::from(n));
    }
}

/// Removes the `managed: {}` source (this server's own is built in) and returns its name; refuses what cannot
/// be honoured: a second managed source, `kubernetes` sources, `claims`.
fn managed_sources(root: &mut Mapping, errors: &mut Vec<String>) -> Option<String> {
    let Some(Value::Sequence(sources)) = root.get_mut("sources") else {
        return None;
    };
    let mut alias = None;
    let mut kept = Vec::new();
    for (i, source) in std::mem::take(sources).into_iter().enumerate() {
        if source.get("claims").is_some() {
            errors.push(format!(
                "sources[{i}].claims: per-source claims (who may read its entries) are not supported; remove them"
            ));
        }
        if source.get("kubernetes").is_some() {
            errors.push(format!(
                "sources[{i}].kubernetes: sources of MCPServer resources are not supported yet"
            ));
            continue;
        }
        if source.get("managed").is_some() {
            let name = source["name"].as_str().unwrap_or_default().to_owned();
            if alias.is_some() {
                errors.push(format!(
                    "sources[{i}]: a second managed source ('{name}'): this server has one"
                ));
            } else if name != MANAGED_SOURCE {
                alias = Some(name);
            }
            continue;
        }
        kept.push(source);
    }
    *sources = kept;
    alias
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
        assert_eq!(v["sources"].as_sequence().unwrap().len(), 1);
        assert_eq!(v["sources"][0]["name"], "upstream");
        assert_eq!(
            v["registries"][0]["sources"],
            serde_yaml_ng::from_str::<Value>("[managed, upstream]").unwrap()
        );
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
            "sources[1]: a second managed source ('b')",
            "sources[2].kubernetes: sources of MCPServer resources are not supported yet",
            "sources[3].claims: per-source claims",
            "registries[0].claims: per-registry claims",
            "auth.mode: 'oauth'",
            "auth.authz:",
            "database.dynamicAuth:",
            "database.host: 'db/x' is not a host name or address",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
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
