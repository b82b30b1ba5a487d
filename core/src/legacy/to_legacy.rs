//! Upstream → legacy: a server.json document (with ToolHive's extension) becomes a legacy container or remote
//! server (see the module above for the rules).

use super::*;

/// The legacy `name` field for an upstream name: only names outside ToolHive's namespace need one.
fn legacy_name(name: &str) -> Option<&str> {
    let stacklok = name
        .strip_prefix(STACKLOK_NAMESPACE)
        .is_some_and(|rest| rest.starts_with('/'));
    (!stacklok).then_some(name)
}

fn base_entry(server: &ServerJson) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(n) = legacy_name(&server.name) {
        m.insert("name".into(), n.into());
    }
    if let Some(t) = &server.title {
        m.insert("title".into(), t.clone().into());
    }
    m.insert("description".into(), server.description.clone().into());
    m
}

fn insert_repository(m: &mut Map<String, Value>, server: &ServerJson) {
    if let Some(repo) = server.repository.as_ref().filter(|r| !r.url.is_empty()) {
        m.insert("repository_url".into(), repo.url.clone().into());
    }
}

/// The extension for the server's image or URL (`key`), else its first extension.
fn extension_for(
    server: &ServerJson,
    key: Option<&str>,
) -> Result<Option<ServerExtensions>, ConvertError> {
    let field = format!("_meta.{STACKLOK_NAMESPACE}");
    if let Some(key) = key
        && let Some(ext) = toolhive::extensions_for(server, key)
            .map_err(|e| invalid(&server.name, &field, e.to_string()))?
    {
        return Ok(Some(ext));
    }
    Ok(toolhive::try_extensions(server)
        .map_err(|e| invalid(&server.name, &field, e.to_string()))?
        .map(|(_, ext)| ext))
}

/// Lays the extension's fields over the derived ones (`except`: fields the document decides).
fn overlay(m: &mut Map<String, Value>, ext: Option<&ServerExtensions>, except: &[&str]) {
    if let Some(ext) = ext {
        for (k, v) in to_object(ext) {
            if !except.contains(&k.as_str()) {
                m.insert(k, v);
            }
        }
    }
}

/// ToolHive's `flattenPackageArguments`: each argument's name (if any), then its value (if any).
fn flatten_arguments(args: &[Argument]) -> Vec<String> {
    let mut out = Vec::new();
    for arg in args {
        if let Some(name) = arg.name.as_ref().filter(|n| !n.is_empty()) {
            out.push(name.clone());
        }
        if let Some(value) = arg.input.value.as_ref().filter(|v| !v.is_empty()) {
            out.push(value.clone());
        }
    }
    out
}

/// ToolHive's `extractEnvFromRuntimeArgs`: `-e KEY=value` / `--env KEY={var}` runtime arguments as env vars.
fn env_from_runtime_args(args: &[Argument]) -> Vec<EnvVar> {
    let mut out = Vec::new();
    for arg in args {
        if arg.argument_type != Argument::NAMED
            || !matches!(arg.name.as_deref(), Some("-e" | "--env"))
        {
            continue;
        }
        let Some((name, value)) = arg.input.value.as_deref().and_then(|v| v.split_once('=')) else {
            continue;
        };
        let mut var = EnvVar {
            name: name.to_owned(),
            description: arg.input.description.clone(),
            ..EnvVar::default()
        };
        let reference = value
            .strip_prefix('{')
            .and_then(|v| v.strip_suffix('}'))
            .filter(|v| !v.is_empty());
        match reference {
            Some(var_name) => {
                if let Some(def) = arg
                    .input
                    .variables
                    .as_ref()
                    .and_then(|vars| vars.get(var_name))
                {
                    var.required = def.get("isRequired").and_then(Value::as_bool);
                    var.secret = def.get("isSecret").and_then(Value::as_bool);
                    var.default = def
                        .get("default")
                        .and_then(Value::as_str)
                        .filter(|d| !d.is_empty())
                        .map(str::to_owned);
                }
            }
            None => var.default = Some(value.to_owned()),
        }
        var.required = arg.input.is_required.or(var.required);
        out.push(var);
    }
    out
}

/// Converts an upstream server with an OCI package to a legacy container server (its key and metadata).
pub fn server_to_image(server: &ServerJson) -> Result<(String, ImageMetadata), ConvertError> {
    let name = server.name.as_str();
    let oci: Vec<&Package> = server
        .packages
        .iter()
        .flatten()
        .filter(|p| p.registry_type == OCI)
        .collect();
    let pkg = match oci.as_slice() {
        [pkg] => *pkg,
        [] => {
            let types: Vec<&str> = server
                .packages
                .iter()
                .flatten()
                .map(|p| p.registry_type.as_str())
                .collect();
            let reason = if types.is_empty() {
                "it has no packages (not a container-based server)".to_owned()
            } else {
                format!("it has no OCI package (found: {})", types.join(", "))
            };
            return Err(ConvertError::Unsupported {
                server: name.into(),
                reason,
            });
        }
        many => {
            return Err(ConvertError::Unsupported {
                server: name.into(),
                reason: format!("it has {} OCI packages, expected exactly 1", many.len()),
            });
        }
    };
    let ext = extension_for(server, Some(&pkg.identifier))?;

    let mut m = base_entry(server);
    m.insert(
        "transport".into(),
        pkg.transport.transport_type.clone().into(),
    );
    insert_repository(&mut m, server);
    m.insert("image".into(), pkg.identifier.clone().into());
    if let Some(port) = pkg.transport.url.as_deref().and_then(url_port) {
        m.insert("target_port".into(), port.into());
    }
    let mut env_vars: Option<Vec<EnvVar>> = match &pkg.environment_variables {
        Some(vars) => Some(
            vars.iter()
                .enumerate()
                .map(|(i, v)| {
                    from_key_value_input(name, &format!("packages.environmentVariables[{i}]"), v)
                })
                .collect::<Result<_, _>>()?,
        ),
        None => None,
    };
    let from_runtime = env_from_runtime_args(pkg.runtime_arguments.as_deref().unwrap_or_default());
    if !from_runtime.is_empty() {
        env_vars.get_or_insert_with(Vec::new).extend(from_runtime);
    }
    if let Some(vars) = env_vars {
        m.insert(
            "env_vars".into(),
            Value::Array(vars.iter().map(|v| Value::Object(to_object(v))).collect()),
        );
    }
    let args = flatten_arguments(pkg.package_arguments.as_deref().unwrap_or_default());
    let args_from_package = !args.is_empty();
    if args_from_package {
        m.insert("args".into(), args.into());
    }
    overlay(
        &mut m,
        ext.as_ref(),
        if args_from_package { &["args"] } else { &[] },
    );
    let metadata = ImageMetadata::deserialize(Value::Object(m))
        .map_err(|e| invalid(name, "_meta", e.to_string()))?;
    Ok((server_key(name).to_owned(), metadata))
}

/// Converts an upstream server with remotes to a legacy remote server (its key and metadata). The remote is the
/// one whose URL keys the ToolHive extension, else the first.
pub fn server_to_remote(
    server: &ServerJson,
) -> Result<(String, RemoteServerMetadata), ConvertError> {
    let name = server.name.as_str();
    let remotes = server.remotes.as_deref().unwrap_or_default();
    let ext_key = toolhive::stacklok_namespace(server).and_then(|ns| ns.keys().next().cloned());
    let remote = remotes
        .iter()
        .find(|r| ext_key.is_some() && r.url == ext_key)
        .or_else(|| remotes.first())
        .ok_or_else(|| ConvertError::Unsupported {
            server: name.into(),
            reason: "it has no remotes".into(),
        })?;
    let ext = extension_for(server, remote.url.as_deref())?;

    let mut m = base_entry(server);
    m.insert("transport".into(), remote.transport_type.clone().into());
    insert_repository(&mut m, server);
    if let Some(url) = &remote.url {
        m.insert("url".into(), url.clone().into());
    }
    if let Some(headers) = &remote.headers {
        let headers: Vec<Header> = headers
            .iter()
            .enumerate()
            .map(|(i, h)| from_key_value_input(name, &format!("remotes.headers[{i}]"), h))
            .collect::<Result<_, _>>()?;
        m.insert(
            "headers".into(),
            Value::Array(
                headers
                    .iter()
                    .map(|h| Value::Object(to_object(h)))
                    .collect(),
            ),
        );
    }
    overlay(&mut m, ext.as_ref(), &[]);
    let metadata = RemoteServerMetadata::deserialize(Value::Object(m))
        .map_err(|e| invalid(name, "_meta", e.to_string()))?;
    Ok((server_key(name).to_owned(), metadata))
}

/// Converts an upstream server to a legacy entry: a container server when it has an OCI package, a remote server
/// when it has remotes and no OCI package, or both but its ToolHive extension is keyed by one of its remote URLs.
pub fn server_to_legacy(server: &ServerJson) -> Result<LegacyServer, ConvertError> {
    let has_oci = server
        .packages
        .iter()
        .flatten()
        .any(|p| p.registry_type == OCI);
    let has_remote = server.remotes.as_ref().is_some_and(|r| !r.is_empty());
    let remote_keyed = || {
        toolhive::stacklok_namespace(server).is_some_and(|ns| {
            server
                .remote_urls()
                .any(|url| ns.keys().next().is_some_and(|k| k == url))
        })
    };
    if has_remote && (!has_oci || remote_keyed()) {
        let (key, metadata) = server_to_remote(server)?;
        Ok(LegacyServer::Remote { key, metadata })
    } else {
        let (key, metadata) = server_to_image(server)?;
        Ok(LegacyServer::Container { key, metadata })
    }
}

type ServerMaps = (
    BTreeMap<String, ImageMetadata>,
    BTreeMap<String, RemoteServerMetadata>,
);

fn split_servers<'a>(
    servers: impl IntoIterator<Item = &'a ServerJson>,
) -> Result<ServerMaps, ConvertError> {
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut containers = BTreeMap::new();
    let mut remotes = BTreeMap::new();
    for server in servers {
        let entry = server_to_legacy(server)?;
        if let Some(first) = names.insert(entry.key().to_owned(), server.name.clone()) {
            return Err(ConvertError::DuplicateKey {
                key: entry.key().to_owned(),
                first,
                second: server.name.clone(),
            });
        }
        match entry {
            LegacyServer::Container { key, metadata } => {
                containers.insert(key, metadata);
            }
            LegacyServer::Remote { key, metadata } => {
                remotes.insert(key, metadata);
            }
        }
    }
    Ok((containers, remotes))
}

/// Converts an upstream registry to the legacy format. `$schema` becomes [`LEGACY_REGISTRY_SCHEMA_URL`],
/// `meta.last_updated` becomes `last_updated`, groups are converted, unknown top-level fields are kept; skills,
/// plugins and unknown `meta`/`data` fields have no legacy equivalent and are dropped. Fails on the first server
/// that cannot be converted and when two servers share a legacy key (the part of the name after the `/`, so
/// also for two versions of one server).
pub fn upstream_to_legacy(reg: &UpstreamRegistry) -> Result<LegacyRegistry, ConvertError> {
    let (servers, remotes) = split_servers(&reg.data.servers)?;
    let groups = match &reg.data.groups {
        None => None,
        Some(Value::Array(groups)) => Some(
            groups
                .iter()
                .map(group_to_legacy)
                .collect::<Result<_, _>>()?,
        ),
        Some(other) => {
            return Err(ConvertError::Group {
                group: "data.groups".into(),
                message: format!("expected an array of groups, found {}", json_kind(other)),
            });
        }
    };
    Ok(LegacyRegistry {
        schema: Some(LEGACY_REGISTRY_SCHEMA_URL.to_owned()),
        version: reg.version.clone(),
        last_updated: reg.meta.last_updated.clone(),
        servers,
        remote_servers: (!remotes.is_empty()).then_some(remotes),
        groups,
        extra: reg.extra.clone(),
    })
}

fn group_to_legacy(group: &Value) -> Result<LegacyGroup, ConvertError> {
    let err = |group: &str, message: String| ConvertError::Group {
        group: group.into(),
        message,
    };
    let Some(obj) = group.as_object() else {
        return Err(err(
            "data.groups[]",
            format!("expected an object, found {}", json_kind(group)),
        ));
    };
    let Some(name) = obj.get("name").and_then(Value::as_str) else {
        return Err(err("data.groups[]", "missing string field `name`".into()));
    };
    let description = match obj.get("description") {
        None => None,
        Some(Value::String(d)) => Some(d.clone()),
        Some(other) => {
            return Err(err(
                name,
                format!("`description` must be a string, found {}", json_kind(other)),
            ));
        }
    };
    let servers: Vec<ServerJson> = match obj.get("servers") {
        None => Vec::new(),
        Some(v) => {
            Vec::<ServerJson>::deserialize(v).map_err(|e| err(name, format!("servers: {e}")))?
        }
    };
    let (containers, remotes) = split_servers(&servers).map_err(|e| err(name, e.to_string()))?;
    let extra = obj
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "name" | "description" | "servers"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(LegacyGroup {
        name: name.to_owned(),
        description,
        servers: (!containers.is_empty()).then_some(containers),
        remote_servers: (!remotes.is_empty()).then_some(remotes),
        extra,
    })
}
