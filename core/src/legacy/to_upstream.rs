//! Legacy → upstream: a legacy server becomes a server.json document with ToolHive's extension, checked by
//! converting back (see the module above for the rules).

use super::*;

/// What the common part of both kinds of legacy server became upstream.
struct Common {
    name: String,
    description: String,
    title: Option<String>,
    repository: Option<Repository>,
    /// Legacy fields the upstream document carries exactly (removed from the extension).
    carried: Vec<&'static str>,
}

fn common_fields(
    key: &str,
    name: Option<&String>,
    description: Option<&String>,
    title: Option<&String>,
    repository_url: Option<&String>,
) -> Result<Common, ConvertError> {
    if let Some(e) = key_error(key) {
        return Err(invalid(key, "name", e));
    }
    let mut carried = Vec::new();
    let default_name = server_name_for_key(key);
    let name = match name {
        Some(n)
            if n != &default_name
                && server_key(n) == key
                && n.split_once('/').is_some_and(|(ns, _)| namespace_ok(ns)) =>
        {
            carried.push("name");
            n.clone()
        }
        _ => default_name,
    };
    let description = match description {
        None => return Err(missing(key, "description")),
        Some(d) if d.is_empty() => return Err(invalid(key, "description", "must not be empty")),
        Some(d) => {
            let short = shorten(d, MAX_DESCRIPTION_CHARS);
            if &short == d {
                carried.push("description");
            }
            short
        }
    };
    let title = title.filter(|t| !t.trim().is_empty()).map(|t| {
        let short = shorten(t, MAX_DESCRIPTION_CHARS);
        if &short == t {
            carried.push("title");
        }
        short
    });
    let repository = repository_url.and_then(|url| {
        let source = repository_source(url)?;
        carried.push("repository_url");
        Some(Repository {
            url: url.clone(),
            source,
            id: None,
            subfolder: None,
            extra: Map::new(),
        })
    });
    Ok(Common {
        name,
        description,
        title,
        repository,
        carried,
    })
}

/// The ToolHive extension of a legacy entry: all its fields except those the document carries.
fn extension_of(
    key: &str,
    entry: Map<String, Value>,
    carried: &[&str],
) -> Result<ServerExtensions, ConvertError> {
    let rest: Map<String, Value> = entry
        .into_iter()
        .filter(|(k, _)| !carried.contains(&k.as_str()))
        .collect();
    ServerExtensions::deserialize(Value::Object(rest))
        .map_err(|e| invalid(key, "extension", e.to_string()))
}

fn new_server(common: Common, version: String) -> ServerJson {
    ServerJson {
        schema: Some(CURRENT_SCHEMA_URL.to_owned()),
        name: common.name,
        description: common.description,
        title: common.title,
        repository: common.repository,
        version,
        website_url: None,
        icons: None,
        packages: None,
        remotes: None,
        meta: None,
        extra: Map::new(),
    }
}

/// Converts one legacy container server (`key` is its map key).
pub fn image_to_server(key: &str, metadata: &ImageMetadata) -> Result<ServerJson, ConvertError> {
    let mut common = common_fields(
        key,
        metadata.name.as_ref(),
        metadata.description.as_ref(),
        metadata.title.as_ref(),
        metadata.repository_url.as_ref(),
    )?;
    let image = match metadata.image.as_deref() {
        None => return Err(missing(key, "image")),
        Some(i) if i.trim().is_empty() => return Err(invalid(key, "image", "must not be empty")),
        Some(i) => i.to_owned(),
    };
    common.carried.push("image");

    let transport_type = match &metadata.transport {
        Some(t) => {
            common.carried.push("transport");
            t.clone()
        }
        None => DEFAULT_CONTAINER_TRANSPORT.to_owned(),
    };
    let mut transport = Transport::stdio();
    transport.transport_type = transport_type.clone();
    if transport_type == Transport::STREAMABLE_HTTP || transport_type == Transport::SSE {
        transport.url = Some(match metadata.target_port {
            Some(port) => {
                common.carried.push("target_port");
                format!("{LOCALHOST_URL}:{port}")
            }
            None => LOCALHOST_URL.to_owned(),
        });
    }

    let environment_variables = match &metadata.env_vars {
        Some(vars) => {
            common.carried.push("env_vars");
            Some(to_inputs(key, "env_vars", vars)?)
        }
        None => None,
    };
    // Args also stay in the extension (ToolHive reads them there); as package arguments they reach clients that
    // only know server.json. An empty arg could not be told apart on the way back, so then only the extension
    // has them.
    let package_arguments = metadata
        .args
        .as_ref()
        .filter(|args| !args.is_empty() && args.iter().all(|a| !a.is_empty()))
        .map(|args| args.iter().map(|a| positional(a)).collect());

    let package = Package {
        registry_type: OCI.to_owned(),
        registry_base_url: None,
        identifier: image.clone(),
        version: None,
        file_sha256: None,
        runtime_hint: None,
        transport,
        runtime_arguments: None,
        package_arguments,
        environment_variables,
        extra: Map::new(),
    };
    let version = version_from_image(&image);
    let carried = std::mem::take(&mut common.carried);
    let ext = extension_of(key, to_object(metadata), &carried)?;
    let mut server = new_server(common, version);
    server.packages = Some(vec![package]);
    toolhive::set_extensions(&mut server, &image, &ext);
    ensure_lossless(
        key,
        &image,
        to_object(metadata),
        server,
        |s| match server_to_legacy(s)? {
            LegacyServer::Container { key, metadata } => Ok((key, to_object(&metadata))),
            LegacyServer::Remote { key, .. } => Err(ConvertError::NotLossless {
                server: key,
                field: "image".into(),
            }),
        },
    )
}

fn positional(value: &str) -> Argument {
    Argument {
        argument_type: Argument::POSITIONAL.to_owned(),
        name: None,
        value_hint: None,
        is_repeated: None,
        input: Input {
            value: Some(value.to_owned()),
            ..Input::default()
        },
    }
}

/// Converts one legacy remote server (`key` is its map key).
pub fn remote_to_server(
    key: &str,
    metadata: &RemoteServerMetadata,
) -> Result<ServerJson, ConvertError> {
    let mut common = common_fields(
        key,
        metadata.name.as_ref(),
        metadata.description.as_ref(),
        metadata.title.as_ref(),
        metadata.repository_url.as_ref(),
    )?;
    let url = match metadata.url.as_deref() {
        None => return Err(missing(key, "url")),
        Some(u) if u.trim().is_empty() => return Err(invalid(key, "url", "must not be empty")),
        Some(u) => u.to_owned(),
    };
    common.carried.push("url");
    let transport_type = match &metadata.transport {
        Some(t) => {
            common.carried.push("transport");
            t.clone()
        }
        None => DEFAULT_REMOTE_TRANSPORT.to_owned(),
    };
    let mut remote = Transport::http(&transport_type, url.clone());
    if let Some(headers) = &metadata.headers {
        common.carried.push("headers");
        remote.headers = Some(to_inputs(key, "headers", headers)?);
    }
    let carried = std::mem::take(&mut common.carried);
    let ext = extension_of(key, to_object(metadata), &carried)?;
    let mut server = new_server(common, DEFAULT_VERSION.to_owned());
    server.remotes = Some(vec![remote]);
    toolhive::set_extensions(&mut server, &url, &ext);
    ensure_lossless(
        key,
        &url,
        to_object(metadata),
        server,
        |s| match server_to_legacy(s)? {
            LegacyServer::Remote { key, metadata } => Ok((key, to_object(&metadata))),
            LegacyServer::Container { key, .. } => Err(ConvertError::NotLossless {
                server: key,
                field: "url".into(),
            }),
        },
    )
}

/// Converts `server` back and compares it with the legacy entry it came from. Fields that differ are stored in
/// the extension under their legacy names (where they override the derived values), once; if the result still
/// differs the conversion fails.
fn ensure_lossless(
    key: &str,
    ext_key: &str,
    original: Map<String, Value>,
    mut server: ServerJson,
    back: impl Fn(&ServerJson) -> Result<(String, Map<String, Value>), ConvertError>,
) -> Result<ServerJson, ConvertError> {
    for attempt in 0..2 {
        let (back_key, back_entry) = back(&server)?;
        if back_key != key {
            return Err(ConvertError::NotLossless {
                server: key.into(),
                field: "name".into(),
            });
        }
        let differing: BTreeSet<&String> = original
            .keys()
            .chain(back_entry.keys())
            .filter(|k| original.get(*k) != back_entry.get(*k))
            .collect();
        let Some(first) = differing.first() else {
            return Ok(server);
        };
        if attempt > 0 {
            return Err(ConvertError::NotLossless {
                server: key.into(),
                field: (*first).clone(),
            });
        }
        let ext = toolhive::extensions_for(&server, ext_key)
            .map_err(|e| invalid(key, "extension", e.to_string()))?
            .unwrap_or_default();
        let mut ext_map = to_object(&ext);
        for field in differing {
            ext_map.insert(
                field.clone(),
                original.get(field).cloned().unwrap_or(Value::Null),
            );
        }
        let ext = ServerExtensions::deserialize(Value::Object(ext_map))
            .map_err(|e| invalid(key, "extension", e.to_string()))?;
        toolhive::set_extensions(&mut server, ext_key, &ext);
    }
    Err(ConvertError::NotLossless {
        server: key.into(),
        field: "name".into(),
    })
}

/// Converts a legacy registry: container servers (in key order), then remote servers; groups become upstream
/// groups `{name, description, servers: [server.json]}`. `$schema` becomes [`UPSTREAM_REGISTRY_SCHEMA_URL`];
/// `version` is kept; `last_updated` moves to `meta.last_updated`; unknown top-level fields are kept.
pub fn legacy_to_upstream(reg: &LegacyRegistry) -> Result<UpstreamRegistry, ConvertError> {
    let servers = convert_server_maps(&reg.servers, reg.remote_servers.as_ref())?;
    let groups = match &reg.groups {
        Some(groups) => Some(Value::Array(
            groups
                .iter()
                .map(group_to_upstream)
                .collect::<Result<_, _>>()?,
        )),
        None => None,
    };
    Ok(UpstreamRegistry {
        schema: Some(UPSTREAM_REGISTRY_SCHEMA_URL.to_owned()),
        version: reg.version.clone(),
        meta: UpstreamMeta {
            last_updated: reg.last_updated.clone(),
            extra: Map::new(),
        },
        data: UpstreamData {
            servers,
            groups,
            skills: None,
            plugins: None,
            extra: Map::new(),
        },
        extra: reg.extra.clone(),
    })
}

fn convert_server_maps(
    servers: &BTreeMap<String, ImageMetadata>,
    remote_servers: Option<&BTreeMap<String, RemoteServerMetadata>>,
) -> Result<Vec<ServerJson>, ConvertError> {
    let mut out = Vec::with_capacity(servers.len() + remote_servers.map_or(0, BTreeMap::len));
    for (key, metadata) in servers {
        out.push(image_to_server(key, metadata)?);
    }
    for (key, metadata) in remote_servers.into_iter().flatten() {
        if servers.contains_key(key) {
            return Err(ConvertError::DuplicateKey {
                key: key.clone(),
                first: format!("servers.{key}"),
                second: format!("remote_servers.{key}"),
            });
        }
        out.push(remote_to_server(key, metadata)?);
    }
    Ok(out)
}

fn group_to_upstream(group: &LegacyGroup) -> Result<Value, ConvertError> {
    let servers = convert_server_maps(
        group.servers.as_ref().unwrap_or(&BTreeMap::new()),
        group.remote_servers.as_ref(),
    )
    .map_err(|e| ConvertError::Group {
        group: group.name.clone(),
        message: e.to_string(),
    })?;
    let mut map = Map::new();
    map.insert("name".into(), Value::String(group.name.clone()));
    if let Some(d) = &group.description {
        map.insert("description".into(), Value::String(d.clone()));
    }
    map.insert(
        "servers".into(),
        Value::Array(
            servers
                .iter()
                .map(|s| Value::Object(to_object(s)))
                .collect(),
        ),
    );
    for (k, v) in &group.extra {
        map.insert(k.clone(), v.clone());
    }
    Ok(Value::Object(map))
}
