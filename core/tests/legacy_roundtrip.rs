//! The legacy ToolHive catalog (79 container servers, 23 remote servers) converts to the upstream format and
//! back without losing a byte of meaning, and the upstream side is what ToolHive's converter writes.

use std::path::PathBuf;
use std::sync::LazyLock;

use serde_json::{Map, Value, json};
use thv_core::legacy::{
    self, ConvertError, ImageMetadata, LegacyRegistry, LegacyServer, RemoteServerMetadata,
    image_to_server, legacy_to_upstream, remote_to_server, server_to_legacy, upstream_to_legacy,
};
use thv_core::registry_file::{LEGACY_REGISTRY_SCHEMA_URL, UPSTREAM_REGISTRY_SCHEMA_URL};
use thv_core::server::{CURRENT_SCHEMA_URL, ServerJson};
use thv_core::toolhive::{self, STACKLOK_NAMESPACE, ServerExtensions};

fn data_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("data")
        .join(file)
}

static LEGACY_TEXT: LazyLock<String> =
    LazyLock::new(|| std::fs::read_to_string(data_path("toolhive-legacy-registry.json")).unwrap());
static LEGACY_VALUE: LazyLock<Value> =
    LazyLock::new(|| serde_json::from_str(&LEGACY_TEXT).unwrap());
static LEGACY: LazyLock<LegacyRegistry> =
    LazyLock::new(|| serde_json::from_str(&LEGACY_TEXT).unwrap());

fn entries(section: &str) -> &'static Map<String, Value> {
    LEGACY_VALUE[section].as_object().unwrap()
}

fn converted(name: &str) -> ServerJson {
    let key = name.strip_prefix("io.github.stacklok/").unwrap();
    if let Some(m) = LEGACY.servers.get(key) {
        image_to_server(key, m).unwrap()
    } else {
        remote_to_server(key, &LEGACY.remote_servers.as_ref().unwrap()[key]).unwrap()
    }
}

fn ext(server: &ServerJson) -> (String, ServerExtensions) {
    toolhive::extensions(server).expect("ToolHive extension")
}

#[test]
fn the_catalog_parses_losslessly() {
    assert_eq!(LEGACY.servers.len(), 79);
    assert_eq!(LEGACY.remote_servers.as_ref().unwrap().len(), 23);
    assert_eq!(serde_json::to_value(&*LEGACY).unwrap(), *LEGACY_VALUE);
    for (key, entry) in entries("servers") {
        assert!(
            LEGACY.servers[key].extra.is_empty(),
            "{key}: unknown fields {:?}",
            LEGACY.servers[key].extra
        );
        let typed: ImageMetadata = serde_json::from_value(entry.clone()).unwrap();
        assert_eq!(&serde_json::to_value(&typed).unwrap(), entry, "{key}");
    }
    for key in entries("remote_servers").keys() {
        assert!(
            LEGACY.remote_servers.as_ref().unwrap()[key]
                .extra
                .is_empty(),
            "{key}"
        );
    }
}

#[test]
fn every_container_server_round_trips_exactly() {
    let mut count = 0;
    for (key, original) in entries("servers") {
        let metadata: ImageMetadata = serde_json::from_value(original.clone()).unwrap();
        let server = image_to_server(key, &metadata).unwrap_or_else(|e| panic!("{key}: {e}"));
        // Through JSON, as a consumer of the file would see it.
        let server: ServerJson =
            serde_json::from_value(serde_json::to_value(&server).unwrap()).unwrap();
        let LegacyServer::Container {
            key: back_key,
            metadata: back,
        } = server_to_legacy(&server).unwrap()
        else {
            panic!("{key} came back as a remote server")
        };
        assert_eq!(&back_key, key);
        assert_eq!(&serde_json::to_value(&back).unwrap(), original, "{key}");
        count += 1;
    }
    assert_eq!(count, 79);
}

#[test]
fn every_remote_server_round_trips_exactly() {
    let mut count = 0;
    for (key, original) in entries("remote_servers") {
        let metadata: RemoteServerMetadata = serde_json::from_value(original.clone()).unwrap();
        let server = remote_to_server(key, &metadata).unwrap_or_else(|e| panic!("{key}: {e}"));
        let server: ServerJson =
            serde_json::from_value(serde_json::to_value(&server).unwrap()).unwrap();
        let LegacyServer::Remote {
            key: back_key,
            metadata: back,
        } = server_to_legacy(&server).unwrap()
        else {
            panic!("{key} came back as a container server")
        };
        assert_eq!(&back_key, key);
        assert_eq!(&serde_json::to_value(&back).unwrap(), original, "{key}");
        count += 1;
    }
    assert_eq!(count, 23);
}

#[test]
fn the_whole_file_round_trips() {
    let upstream = legacy_to_upstream(&LEGACY).unwrap();
    assert_eq!(
        upstream.schema.as_deref(),
        Some(UPSTREAM_REGISTRY_SCHEMA_URL)
    );
    assert_eq!(upstream.version.as_deref(), Some("1.0.0"));
    assert_eq!(
        upstream.meta.last_updated.as_deref(),
        Some("2026-02-18T00:24:11Z")
    );
    assert_eq!(upstream.data.servers.len(), 102);
    assert!(upstream.data.groups.is_none());

    let back = upstream_to_legacy(&upstream).unwrap();
    assert_eq!(back.schema.as_deref(), Some(LEGACY_REGISTRY_SCHEMA_URL));
    assert_eq!(serde_json::to_value(&back).unwrap(), *LEGACY_VALUE);
    // The legacy file is itself pretty-printed JSON in key order, so even the bytes come back.
    assert_eq!(
        serde_json::to_string_pretty(&back).unwrap(),
        LEGACY_TEXT.trim_end()
    );
}

/// What the upstream side of the catalog looks like, checked without the validator (which has its own tests):
/// the server.json 2025-12-11 constraints a conversion can get wrong.
#[test]
fn converted_servers_meet_the_server_json_constraints() {
    let name_part = |s: &str| {
        s.len() >= 2
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric())
    };
    for server in legacy_to_upstream(&LEGACY).unwrap().data.servers {
        let n = &server.name;
        assert_eq!(server.schema.as_deref(), Some(CURRENT_SCHEMA_URL), "{n}");
        let (ns, part) = n.split_once('/').unwrap();
        assert_eq!(ns, STACKLOK_NAMESPACE);
        assert!(name_part(part) && n.len() <= 200, "{n}");
        let chars = server.description.chars().count();
        assert!(
            (1..=100).contains(&chars),
            "{n}: description of {chars} characters"
        );
        assert!(
            thv_core::version::version_error(&server.version).is_none(),
            "{n}: {}",
            server.version
        );
        if let Some(repo) = &server.repository {
            assert_eq!(repo.source, "github", "{n}");
            assert!(repo.url.starts_with("https://github.com/"), "{n}");
        }
        match (&server.packages, &server.remotes) {
            (Some(packages), None) => {
                assert_eq!(packages.len(), 1, "{n}");
                let pkg = &packages[0];
                assert_eq!(pkg.registry_type, "oci");
                assert!(
                    !pkg.identifier.contains(' ') && pkg.version.is_none(),
                    "{n}"
                );
                match pkg.transport.transport_type.as_str() {
                    "stdio" => assert!(pkg.transport.url.is_none(), "{n}"),
                    "streamable-http" | "sse" => {
                        assert!(
                            pkg.transport
                                .url
                                .as_deref()
                                .unwrap()
                                .starts_with("http://localhost:"),
                            "{n}"
                        )
                    }
                    other => panic!("{n}: transport {other}"),
                }
                for arg in pkg.package_arguments.iter().flatten() {
                    assert_eq!(arg.argument_type, "positional");
                    assert!(
                        arg.input.value.as_deref().is_some_and(|v| !v.is_empty()),
                        "{n}"
                    );
                }
            }
            (None, Some(remotes)) => {
                assert_eq!(remotes.len(), 1, "{n}");
                assert!(
                    matches!(
                        remotes[0].transport_type.as_str(),
                        "streamable-http" | "sse"
                    ),
                    "{n}"
                );
                let url = remotes[0].url.as_deref().unwrap();
                assert!(
                    url.starts_with("https://") && !url.contains("localhost"),
                    "{n}"
                );
            }
            other => panic!("{n}: packages/remotes {other:?}"),
        }
        // The real catalog needs no overrides: every extension field is a ToolHive one.
        let (key, ext) = ext(&server);
        assert!(
            ext.extra.is_empty(),
            "{n}: overrides {:?}",
            ext.extra.keys().collect::<Vec<_>>()
        );
        assert!(
            matches!(ext.status.as_deref(), Some("Active" | "Deprecated")),
            "{n}"
        );
        let expected_key = server.packages.as_ref().map_or_else(
            || server.remotes.as_ref().unwrap()[0].url.clone().unwrap(),
            |p| p[0].identifier.clone(),
        );
        assert_eq!(key, expected_key, "{n}");
    }
}

/// The server.json JSON Schema (2025-12-11), applied directly.
#[test]
fn converted_servers_pass_the_json_schema() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(data_path("schemas/2025-12-11.server.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    for server in legacy_to_upstream(&LEGACY).unwrap().data.servers {
        let doc = serde_json::to_value(&server).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", server.name);
    }
}

#[test]
fn github_mapping() {
    let s = converted("io.github.stacklok/github");
    assert_eq!(s.description, "Provides integration with GitHub's APIs");
    assert_eq!(s.version, "v0.30.3");
    let repo = s.repository.as_ref().unwrap();
    assert_eq!(
        (repo.url.as_str(), repo.source.as_str()),
        ("https://github.com/github/github-mcp-server", "github")
    );
    let pkg = &s.packages.as_ref().unwrap()[0];
    assert_eq!(pkg.identifier, "ghcr.io/github/github-mcp-server:v0.30.3");
    assert_eq!(pkg.transport.transport_type, "stdio");
    assert!(pkg.transport.url.is_none() && pkg.package_arguments.is_none());
    let env = pkg.environment_variables.as_ref().unwrap();
    assert_eq!(env.len(), 5);
    assert_eq!(
        serde_json::to_value(&env[0]).unwrap(),
        json!({"name": "GITHUB_PERSONAL_ACCESS_TOKEN", "description": "GitHub personal access token with appropriate permissions",
               "isRequired": true, "isSecret": true})
    );
    assert_eq!(
        serde_json::to_value(&env[1]).unwrap(),
        json!({"name": "GITHUB_HOST", "description": "GitHub Enterprise Server hostname (optional)", "isRequired": false})
    );

    let (key, ext) = ext(&s);
    assert_eq!(key, "ghcr.io/github/github-mcp-server:v0.30.3");
    assert_eq!(ext.status.as_deref(), Some("Active"));
    assert_eq!(ext.tier.as_deref(), Some("Official"));
    assert!(ext.tools.as_ref().unwrap().contains(&"get_me".to_owned()));
    assert!(
        ext.env_vars.is_none(),
        "container env vars live in the package"
    );
    let perms = ext.permissions.as_ref().unwrap();
    assert_eq!(
        perms.allowed_hosts(),
        [".github.com", ".githubusercontent.com"]
    );
    assert_eq!(perms.allowed_ports(), [443]);
    assert!(!perms.allows_all_outbound() && !perms.is_privileged());
    let prov = ext.provenance.as_ref().unwrap();
    assert_eq!(
        prov.repository_uri.as_deref(),
        Some("https://github.com/github/github-mcp-server")
    );
    assert_eq!(
        prov.signer_identity.as_deref(),
        Some("/.github/workflows/docker-publish.yml")
    );
    assert_eq!(
        prov.cert_issuer.as_deref(),
        Some("https://token.actions.githubusercontent.com")
    );
    let meta = ext.metadata.as_ref().unwrap();
    assert_eq!((meta.stars, meta.pulls), (Some(26386), Some(5000)));
    // The extension sits exactly where ToolHive looks for it.
    let raw = serde_json::to_value(&s).unwrap();
    assert_eq!(
        raw["_meta"]["io.modelcontextprotocol.registry/publisher-provided"]["io.github.stacklok"]["ghcr.io/github/github-mcp-server:v0.30.3"]
            ["tier"],
        "Official"
    );
}

#[test]
fn http_transport_ports_versions_and_args() {
    let fetch = converted("io.github.stacklok/fetch");
    let pkg = &fetch.packages.as_ref().unwrap()[0];
    assert_eq!(pkg.transport.transport_type, "streamable-http");
    assert_eq!(pkg.transport.url.as_deref(), Some("http://localhost:8080"));
    assert_eq!(fetch.version, "1.0.3");
    assert!(ext(&fetch).1.permissions.unwrap().allows_all_outbound());

    let grafana = converted("io.github.stacklok/grafana");
    let pkg = &grafana.packages.as_ref().unwrap()[0];
    assert_eq!(
        (
            pkg.transport.transport_type.as_str(),
            pkg.transport.url.as_deref()
        ),
        ("sse", Some("http://localhost:8000"))
    );

    // `latest` is not a version.
    assert_eq!(
        converted("io.github.stacklok/everything").version,
        legacy::DEFAULT_VERSION
    );

    let arxiv = converted("io.github.stacklok/arxiv-mcp-server");
    let pkg = &arxiv.packages.as_ref().unwrap()[0];
    let values: Vec<_> = pkg
        .package_arguments
        .iter()
        .flatten()
        .map(|a| a.input.value.clone().unwrap())
        .collect();
    assert_eq!(values, ["--storage-path", "/arxiv-papers"]);
    assert_eq!(
        ext(&arxiv).1.args.unwrap(),
        values,
        "args stay in the extension for ToolHive"
    );

    let deprecated = converted("io.github.stacklok/genai-toolbox");
    assert!(ext(&deprecated).1.is_deprecated());
}

#[test]
fn remote_mapping_and_oauth_config() {
    let s = converted("io.github.stacklok/github-remote");
    assert!(s.packages.is_none());
    let remote = &s.remotes.as_ref().unwrap()[0];
    assert_eq!(remote.transport_type, "streamable-http");
    assert_eq!(
        remote.url.as_deref(),
        Some("https://api.githubcopilot.com/mcp")
    );
    assert!(remote.headers.is_none());
    let (key, ext) = ext(&s);
    assert_eq!(key, "https://api.githubcopilot.com/mcp");
    let oauth = ext.oauth_config.as_ref().unwrap();
    assert_eq!(
        oauth.authorize_url.as_deref(),
        Some("https://github.com/login/oauth/authorize")
    );
    assert_eq!(
        oauth.token_url.as_deref(),
        Some("https://github.com/login/oauth/access_token")
    );
    assert_eq!(oauth.scopes.as_deref().unwrap(), ["repo", "user:email"]);
    assert!(oauth.uses_pkce());
    assert_eq!(ext.custom_metadata.as_ref().unwrap()["license"], "MIT");

    let atlassian = converted("io.github.stacklok/atlassian-remote");
    assert_eq!(atlassian.remotes.as_ref().unwrap()[0].transport_type, "sse");
    assert!(atlassian.repository.is_none());
}

fn remote_with_headers() -> Value {
    json!({
        "title": "Example Remote",
        "description": "Example remote MCP server accessed via SSE",
        "tier": "Community", "status": "active", "transport": "sse", "tools": ["get_data"],
        "repository_url": "https://gitlab.com/example/remote",
        "url": "https://api.example.com/mcp",
        "proxy_port": 8123,
        "headers": [
            {"name": "Authorization", "description": "Bearer token", "required": true, "secret": true},
            {"name": "X-API-Version", "description": "API version", "required": false, "default": "v2", "choices": ["v1", "v2"]}
        ],
        "oauth_config": {"issuer": "https://auth.example.com", "client_id": "c", "scopes": ["openid"],
                         "oauth_params": {"prompt": "consent"}, "callback_port": 8666, "resource": "https://api.example.com"},
        "env_vars": [{"name": "API_ENDPOINT", "description": "Base URL", "required": false, "default": "https://x"}],
        "stateless": true
    })
}

#[test]
fn remote_headers_env_vars_and_oauth_round_trip() {
    let original = remote_with_headers();
    let metadata: RemoteServerMetadata = serde_json::from_value(original.clone()).unwrap();
    let s = remote_to_server("example-remote", &metadata).unwrap();
    assert_eq!(s.title.as_deref(), Some("Example Remote"));
    assert_eq!(s.repository.as_ref().unwrap().source, "gitlab");
    let remote = &s.remotes.as_ref().unwrap()[0];
    assert_eq!(
        serde_json::to_value(remote.headers.as_ref().unwrap()).unwrap(),
        json!([
            {"name": "Authorization", "description": "Bearer token", "isRequired": true, "isSecret": true},
            {"name": "X-API-Version", "description": "API version", "isRequired": false, "default": "v2", "choices": ["v1", "v2"]}
        ])
    );
    let (key, ext) = ext(&s);
    assert_eq!(key, "https://api.example.com/mcp");
    assert_eq!(
        ext.env_vars.as_ref().unwrap()[0].default.as_deref(),
        Some("https://x")
    );
    assert_eq!(ext.oauth_config.as_ref().unwrap().callback_port, Some(8666));
    assert_eq!((ext.proxy_port, ext.stateless), (Some(8123), Some(true)));
    assert!(ext.extra.is_empty());

    let LegacyServer::Remote {
        key,
        metadata: back,
    } = server_to_legacy(&s).unwrap()
    else {
        panic!()
    };
    assert_eq!(key, "example-remote");
    assert_eq!(serde_json::to_value(&back).unwrap(), original);
}

/// Legacy entries the upstream document cannot carry as such: the extension keeps what is needed.
#[test]
fn odd_entries_still_round_trip() {
    let long = "A server whose description goes on and on, well past the hundred characters that server.json allows for it.";
    let cases = [
        json!({"description": long, "title": "   ", "image": "x/y:1", "transport": "stdio", "target_port": 9000}),
        json!({"description": "No transport given", "image": "x/y", "future_field": {"a": [1, 2]}, "args": ["", "b"]}),
        json!({"name": "io.github.stacklok/odd", "description": "Name given", "image": "x/y:2", "transport": "streamable-http",
               "repository_url": "not a url", "env_vars": [{"name": "A", "required": true, "isRequired": false}]}),
        json!({"name": "io.github.someone/odd", "description": "Another namespace", "image": "x/y:3", "transport": "sse",
               "title": "T".repeat(150), "env_vars": [], "args": []}),
    ];
    for original in cases {
        let metadata: ImageMetadata = serde_json::from_value(original.clone()).unwrap();
        let s = image_to_server("odd", &metadata).unwrap_or_else(|e| panic!("{original}: {e}"));
        assert!(s.description.chars().count() <= 100);
        assert!(
            s.title
                .as_ref()
                .is_none_or(|t| !t.trim().is_empty() && t.chars().count() <= 100)
        );
        let LegacyServer::Container {
            key,
            metadata: back,
        } = server_to_legacy(&s).unwrap()
        else {
            panic!()
        };
        assert_eq!(key, "odd");
        assert_eq!(serde_json::to_value(&back).unwrap(), original);
    }
    // The overrides are named after the legacy fields.
    let metadata: ImageMetadata = serde_json::from_value(
        json!({"description": long, "image": "x/y:1", "transport": "stdio", "target_port": 9000}),
    )
    .unwrap();
    let s = image_to_server("odd", &metadata).unwrap();
    let (_, e) = ext(&s);
    assert_eq!(e.extra["description"], long);
    assert_eq!(e.target_port, Some(9000));
    assert!(s.description.ends_with('…'));
}

#[test]
fn conversion_errors_name_the_server_and_field() {
    let entry = |v: Value| serde_json::from_value::<ImageMetadata>(v).unwrap();
    let err =
        image_to_server("fetch", &entry(json!({"description": "Fetches things"}))).unwrap_err();
    assert_eq!(
        err,
        ConvertError::MissingField {
            server: "fetch".into(),
            field: "image".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "server 'fetch': missing required field `image`"
    );
    let err = image_to_server("fetch", &entry(json!({"image": "x/y"}))).unwrap_err();
    assert!(err.to_string().contains("`description`"), "{err}");
    let err = image_to_server(
        "bad key",
        &entry(json!({"image": "x/y", "description": "d"})),
    )
    .unwrap_err();
    assert!(
        matches!(&err, ConvertError::InvalidField { server, field, .. } if server == "bad key" && field == "name"),
        "{err}"
    );
    let err = remote_to_server(
        "r1",
        &RemoteServerMetadata {
            description: Some("d".into()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "server 'r1': missing required field `url`");

    // A key used by both a container and a remote server would give two servers one name.
    let mut reg = LegacyRegistry::default();
    reg.servers.insert(
        "dup".into(),
        entry(json!({"image": "x/y", "description": "d"})),
    );
    let remote = RemoteServerMetadata {
        description: Some("d".into()),
        url: Some("https://x".into()),
        ..Default::default()
    };
    reg.remote_servers = Some([("dup".to_owned(), remote)].into());
    assert!(matches!(
        legacy_to_upstream(&reg),
        Err(ConvertError::DuplicateKey { .. })
    ));
}

#[test]
fn upstream_only_servers_and_duplicates_are_refused() {
    let npm: ServerJson = serde_json::from_value(json!({
        "name": "io.github.x/npm-only", "description": "d", "version": "1.0.0",
        "packages": [{"registryType": "npm", "identifier": "@x/y", "transport": {"type": "stdio"}}]
    }))
    .unwrap();
    let err = server_to_legacy(&npm).unwrap_err();
    assert!(
        err.to_string().contains("io.github.x/npm-only") && err.to_string().contains("npm"),
        "{err}"
    );

    let bare: ServerJson = serde_json::from_value(
        json!({"name": "io.github.x/bare", "description": "d", "version": "1"}),
    )
    .unwrap();
    assert!(matches!(
        server_to_legacy(&bare),
        Err(ConvertError::Unsupported { .. })
    ));

    let mut upstream = legacy_to_upstream(&LEGACY).unwrap();
    let mut again = upstream.data.servers[0].clone();
    again.version = "9.9.9".into();
    upstream.data.servers.push(again);
    let err = upstream_to_legacy(&upstream).unwrap_err();
    assert!(
        matches!(&err, ConvertError::DuplicateKey { key, .. } if key == "adb-mysql-mcp-server"),
        "{err}"
    );
}

/// A server.json written by someone else (no ToolHive extension, ToolHive-style runtime `-e` arguments,
/// another namespace) converts the way ToolHive's converter reads it.
#[test]
fn foreign_upstream_servers_convert_like_toolhive() {
    let s: ServerJson = serde_json::from_value(json!({
        "$schema": CURRENT_SCHEMA_URL,
        "name": "io.github.example/weather", "title": "Weather", "description": "Weather forecasts", "version": "2.0.0",
        "repository": {"url": "https://github.com/example/weather", "source": "github"},
        "icons": [{"src": "https://example.com/i.png"}],
        "packages": [
            {"registryType": "npm", "identifier": "@ex/weather", "transport": {"type": "stdio"}},
            {"registryType": "oci", "identifier": "docker.io/example/weather:2.0.0",
             "transport": {"type": "streamable-http", "url": "http://localhost:3000/mcp"},
             "runtimeArguments": [{"type": "named", "name": "-e", "value": "TOKEN={token}", "description": "API token",
                                   "variables": {"token": {"isRequired": true, "isSecret": true}}}],
             "environmentVariables": [{"name": "UNITS", "default": "metric"}],
             "packageArguments": [{"type": "named", "name": "--port", "value": "3000"}, {"type": "positional", "valueHint": "x"}]}
        ]
    }))
    .unwrap();
    let LegacyServer::Container { key, metadata } = server_to_legacy(&s).unwrap() else {
        panic!()
    };
    assert_eq!(key, "weather");
    assert_eq!(
        serde_json::to_value(&metadata).unwrap(),
        json!({
            "name": "io.github.example/weather", "title": "Weather", "description": "Weather forecasts",
            "transport": "streamable-http", "repository_url": "https://github.com/example/weather",
            "image": "docker.io/example/weather:2.0.0", "target_port": 3000,
            "env_vars": [{"name": "UNITS", "default": "metric"},
                         {"name": "TOKEN", "description": "API token", "required": true, "secret": true}],
            "args": ["--port", "3000"]
        })
    );
}

#[test]
fn groups_convert_both_ways() {
    let mut reg: LegacyRegistry = serde_json::from_value(json!({
        "version": "1.0.0", "last_updated": "2026-01-01T00:00:00Z", "servers": {},
        "groups": [{"name": "dev-tools", "description": "Tools for developers", "owner": "me"}]
    }))
    .unwrap();
    let group = &mut reg.groups.as_mut().unwrap()[0];
    group.servers = Some([("fetch".to_owned(), LEGACY.servers["fetch"].clone())].into());
    group.remote_servers = Some(
        [(
            "canva".to_owned(),
            LEGACY.remote_servers.as_ref().unwrap()["canva"].clone(),
        )]
        .into(),
    );
    let upstream = legacy_to_upstream(&reg).unwrap();
    let groups = upstream.data.groups.as_ref().unwrap();
    assert_eq!(groups[0]["name"], "dev-tools");
    assert_eq!(groups[0]["owner"], "me");
    assert_eq!(groups[0]["servers"].as_array().unwrap().len(), 2);
    assert_eq!(groups[0]["servers"][0]["name"], "io.github.stacklok/fetch");
    let back = upstream_to_legacy(&upstream).unwrap();
    assert_eq!(back.groups, reg.groups);
    assert!(back.remote_servers.is_none() && back.servers.is_empty());
}

/// The project's validator (schema and semantic rules, publish policy) accepts every converted server.
#[test]
fn converted_servers_pass_the_validator() {
    use thv_core::validate::{SchemaPolicy, validate_server};
    for server in legacy_to_upstream(&LEGACY).unwrap().data.servers {
        let result = validate_server(&server, SchemaPolicy::Publish);
        assert!(result.valid, "{}: {:?}", server.name, result.issues);
    }
}
