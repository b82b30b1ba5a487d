//! The RunConfig format (round trip, versions, validation rules, JSON Schema), permission profiles and mounts,
//! resolution from real entries of `data/registry.json`, and short-name matching.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use thv_core::registry_file;
use thv_core::runconfig::mounts::{Mount, MountError, MountSource, PathSide, ProfileError};
use thv_core::runconfig::resolve::{MissingEnv, ResolveError, ResolveWarning};
use thv_core::runconfig::{
    self, JSON_SCHEMA, MiddlewareConfig, NameMatchError, PackageScheme, PackageSource, ProxyMode,
    ResolveOptions, RunConfig, RunConfigError, SecretRef, ToolOverride, TransportType,
    from_registry_entry, load_permission_profile, match_short_name, parse_env_assignment,
    parse_mount, parse_volume, resolve_registry_entry, sanitize_name,
};
use thv_core::server::ServerJson;
use thv_core::toolhive::PermissionProfile;

// ---------------------------------------------------------------- helpers

fn data_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("data")
        .join(file)
}

fn registry() -> Vec<ServerJson> {
    let bytes = std::fs::read(data_path("registry.json")).unwrap();
    registry_file::parse(&bytes)
        .unwrap()
        .into_servers()
        .unwrap()
}

fn server(name: &str) -> ServerJson {
    registry()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("{name} not in data/registry.json"))
}

fn fixed_time() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 30, 0).unwrap()
}

fn opts() -> ResolveOptions {
    ResolveOptions {
        created_at: Some(fixed_time()),
        ..ResolveOptions::default()
    }
}

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(JSON_SCHEMA).unwrap();
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

fn schema_errors(doc: &Value) -> Vec<String> {
    validator()
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// A RunConfig with every field set.
fn full_config() -> RunConfig {
    let mut c = RunConfig::new("fetch", TransportType::StreamableHttp);
    c.image = Some("ghcr.io/stackloklabs/gofetch/server:1.0.3".into());
    c.registry_api_url = Some("https://registry.example.com".into());
    c.registry_url = Some("https://example.com/registry.json".into());
    c.registry_server_name = Some("io.github.stacklok/fetch".into());
    c.registry_server_version = Some("1.0.3".into());
    c.cmd_args = vec!["--verbose".into(), "x y".into()];
    c.proxy_mode = None;
    c.port = Some(41523);
    c.target_port = Some(8080);
    c.target_host = Some("127.0.0.1".into());
    c.permission_profile_name_or_path = Some("network".into());
    c.permission_profile = Some(PermissionProfile {
        read: Some(vec!["/etc/ssl/certs".into()]),
        write: Some(vec!["/tmp/data:/data".into()]),
        ..PermissionProfile::network()
    });
    c.env_vars.insert("LOG_LEVEL".into(), "debug".into());
    c.secrets = vec![SecretRef::new("github", "GITHUB_PERSONAL_ACCESS_TOKEN")];
    c.volumes = vec!["/srv/cache:/cache:ro".into()];
    c.container_labels.insert("team".into(), "tools".into());
    c.group = Some("dev".into());
    c.registry_tools = vec!["fetch".into()];
    c.tools_filter = vec!["fetch".into()];
    c.tools_override.insert(
        "fetch".into(),
        ToolOverride {
            name: Some("web_fetch".into()),
            description: Some("Fetch a page".into()),
        },
    );
    c.middleware_configs = vec![
        MiddlewareConfig {
            middleware_type: "mcp-parser".into(),
            parameters: json!({}),
        },
        MiddlewareConfig {
            middleware_type: "tool-filter".into(),
            parameters: json!({"filter_tools": ["fetch"]}),
        },
    ];
    c.session_ttl = Some(3600);
    c.created_at = Some(fixed_time());
    c.apply_transport_env();
    c.apply_standard_labels();
    c
}

fn remote_config() -> RunConfig {
    let mut c = RunConfig::new("github-remote", TransportType::StreamableHttp);
    c.remote_url = Some("https://api.githubcopilot.com/mcp".into());
    c.container_name = None;
    c.isolate_network = false;
    c
}

fn stdio_package_config() -> RunConfig {
    let mut c = RunConfig::new("mcp-server-time", TransportType::Stdio);
    c.package = Some(
        PackageSource::parse("uvx://mcp-server-time@2025.8.4")
            .unwrap()
            .unwrap(),
    );
    c.proxy_mode = Some(ProxyMode::Sse);
    c
}

fn read_value(v: &Value) -> Result<RunConfig, RunConfigError> {
    RunConfig::read_json(v.to_string().as_bytes())
}

fn field_error(v: &Value) -> (String, String) {
    match read_value(v) {
        Err(RunConfigError::Invalid { field, message }) => (field, message),
        other => panic!("expected a field error for {v}, got {other:?}"),
    }
}

fn base_value() -> Value {
    serde_json::from_str(&full_config().write_json()).unwrap()
}

// ---------------------------------------------------------------- format

#[test]
fn round_trip_is_exact() {
    for c in [full_config(), remote_config(), stdio_package_config()] {
        let text = c.write_json();
        assert!(text.ends_with("}\n") && !text.ends_with("\n\n"));
        assert!(text.contains("\n  \"schema_version\": \"v1\""), "{text}");
        let back = RunConfig::read_json(text.as_bytes()).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.write_json(), text);
    }
}

#[test]
fn fields_are_snake_case_as_toolhive() {
    let v = base_value();
    for key in [
        "schema_version",
        "image",
        "registry_api_url",
        "registry_server_name",
        "cmd_args",
        "name",
        "container_name",
        "base_name",
        "transport",
        "host",
        "port",
        "target_port",
        "target_host",
        "permission_profile_name_or_path",
        "permission_profile",
        "isolate_network",
        "env_vars",
        "secrets",
        "volumes",
        "container_labels",
        "group",
        "tools_filter",
        "tools_override",
        "middleware_configs",
        "session_ttl",
        "created_at",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["transport"], "streamable-http");
    assert_eq!(
        v["secrets"],
        json!([{"name": "github", "target": "GITHUB_PERSONAL_ACCESS_TOKEN"}])
    );
    assert_eq!(v["created_at"], "2026-03-01T12:30:00Z");
    assert_eq!(v["session_ttl"], 3600);
    assert_eq!(
        v["middleware_configs"][1],
        json!({"type": "tool-filter", "parameters": {"filter_tools": ["fetch"]}})
    );
}

#[test]
fn unknown_fields_and_newer_minor_versions_round_trip() {
    let mut v = base_value();
    v["schema_version"] = json!("v1.7.2");
    v["future_field"] = json!({"nested": [1, 2, {"x": null}]});
    v["oidc_config"] = json!(null);
    let c = read_value(&v).unwrap();
    assert_eq!(c.schema_version, "v1.7.2");
    assert_eq!(
        c.extra["future_field"],
        json!({"nested": [1, 2, {"x": null}]})
    );
    assert!(c.extra.contains_key("oidc_config"));
    let written: Value = serde_json::from_str(&c.write_json()).unwrap();
    assert_eq!(written, v);
    assert_eq!(RunConfig::read_str(&c.write_json()).unwrap(), c);
}

#[test]
fn other_major_versions_are_refused() {
    for version in ["v2", "v2.0.0", "v0.1.0", "v10"] {
        let mut v = base_value();
        v["schema_version"] = json!(version);
        let err = read_value(&v).unwrap_err();
        assert_eq!(
            err,
            RunConfigError::UnsupportedVersion {
                found: version.into()
            }
        );
        let msg = err.to_string();
        assert!(
            msg.contains(version) && msg.contains("major version 1"),
            "{msg}"
        );
    }
    let mut v = base_value();
    v.as_object_mut().unwrap().remove("schema_version");
    assert_eq!(read_value(&v).unwrap_err(), RunConfigError::MissingVersion);
    for bad in [
        json!("1"),
        json!("v"),
        json!("v1.x"),
        json!("v1.2.3.4"),
        json!("v01"),
        json!(1),
    ] {
        let mut v = base_value();
        v["schema_version"] = bad.clone();
        assert!(
            matches!(read_value(&v), Err(RunConfigError::InvalidVersion { .. })),
            "{bad}"
        );
    }
    for ok in ["v1", "v1.0", "v1.0.0", "v1.12"] {
        let mut v = base_value();
        v["schema_version"] = json!(ok);
        read_value(&v).unwrap();
    }
    assert_eq!(RunConfig::CURRENT, "v1");
}

#[test]
fn not_json_or_not_an_object() {
    assert!(matches!(
        RunConfig::read_json(b"{"),
        Err(RunConfigError::Json(_))
    ));
    let err = RunConfig::read_json(b"[1]").unwrap_err();
    assert!(err.to_string().contains("expected a JSON object"), "{err}");
}

/// Each rule: a change to a valid config, the field the error must name, and a word of its message.
#[test]
fn every_validation_rule_names_its_field() {
    type Change = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Change, &str, &str)> = vec![
        (
            "name format",
            Box::new(|v| v["name"] = json!("-bad")),
            "name",
            "^[a-zA-Z0-9]",
        ),
        (
            "name chars",
            Box::new(|v| v["name"] = json!("a b")),
            "name",
            "not a valid name",
        ),
        (
            "name length",
            Box::new(|v| v["name"] = json!("a".repeat(64))),
            "name",
            "at most 63",
        ),
        (
            "name empty",
            Box::new(|v| v["name"] = json!("")),
            "name",
            "empty",
        ),
        (
            "container name",
            Box::new(|v| v["container_name"] = json!("x/y")),
            "container_name",
            "not a valid name",
        ),
        (
            "base name",
            Box::new(|v| v["base_name"] = json!(".x")),
            "base_name",
            "not a valid name",
        ),
        (
            "group",
            Box::new(|v| v["group"] = json!("my group")),
            "group",
            "not a valid name",
        ),
        (
            "container name required",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("container_name");
            }),
            "container_name",
            "required",
        ),
        (
            "missing name",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("name");
            }),
            "name",
            "missing field",
        ),
        (
            "port 0",
            Box::new(|v| v["port"] = json!(0)),
            "port",
            "1–65535",
        ),
        (
            "port too big",
            Box::new(|v| v["port"] = json!(70000)),
            "port",
            "u16",
        ),
        (
            "port negative",
            Box::new(|v| v["port"] = json!(-1)),
            "port",
            "u16",
        ),
        (
            "target port 0",
            Box::new(|v| v["target_port"] = json!(0)),
            "target_port",
            "1–65535",
        ),
        (
            "target port on stdio",
            Box::new(|v| {
                v["transport"] = json!("stdio");
                v["env_vars"] = json!({});
            }),
            "target_port",
            "stdio",
        ),
        (
            "transport",
            Box::new(|v| v["transport"] = json!("websocket")),
            "transport",
            "unknown variant",
        ),
        (
            "proxy mode value",
            Box::new(|v| v["proxy_mode"] = json!("http")),
            "proxy_mode",
            "unknown variant",
        ),
        (
            "proxy mode on http",
            Box::new(|v| v["proxy_mode"] = json!("sse")),
            "proxy_mode",
            "stdio",
        ),
        (
            "host",
            Box::new(|v| v["host"] = json!("bad host")),
            "host",
            "neither an IP",
        ),
        (
            "host label",
            Box::new(|v| v["host"] = json!("-x.example.com")),
            "host",
            "neither an IP",
        ),
        (
            "target host",
            Box::new(|v| v["target_host"] = json!("a_b")),
            "target_host",
            "neither an IP",
        ),
        (
            "env name",
            Box::new(|v| v["env_vars"]["1BAD"] = json!("x")),
            "env_vars.1BAD",
            "^[A-Za-z_]",
        ),
        (
            "env name dash",
            Box::new(|v| v["env_vars"]["A-B"] = json!("x")),
            "env_vars.A-B",
            "not a valid env var name",
        ),
        (
            "env value NUL",
            Box::new(|v| v["env_vars"]["A"] = json!("a\u{0}b")),
            "env_vars.A",
            "NUL",
        ),
        (
            "env value type",
            Box::new(|v| v["env_vars"]["A"] = json!(1)),
            "env_vars",
            "expected a string",
        ),
        (
            "secret target",
            Box::new(|v| v["secrets"][0]["target"] = json!("not-valid")),
            "secrets[0].target",
            "env var name",
        ),
        (
            "secret name",
            Box::new(|v| v["secrets"][0]["name"] = json!("a,b")),
            "secrets[0].name",
            "','",
        ),
        (
            "secret empty name",
            Box::new(|v| v["secrets"][0]["name"] = json!("")),
            "secrets[0].name",
            "empty",
        ),
        (
            "secret value",
            Box::new(|v| v["secrets"][0]["value"] = json!("ghp_123")),
            "secrets[0]",
            "never a value",
        ),
        (
            "secret string form",
            Box::new(|v| v["secrets"][0] = json!("github,target=X")),
            "secrets[0]",
            "not ToolHive's",
        ),
        (
            "secret duplicate",
            Box::new(|v| {
                v["secrets"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": "other", "target": "GITHUB_PERSONAL_ACCESS_TOKEN"}))
            }),
            "secrets[1].target",
            "two secrets",
        ),
        (
            "secret and env",
            Box::new(|v| v["env_vars"]["GITHUB_PERSONAL_ACCESS_TOKEN"] = json!("x")),
            "secrets[0].target",
            "both",
        ),
        (
            "sensitive env name",
            Box::new(|v| v["sensitive_env_vars"] = json!(["a b"])),
            "sensitive_env_vars[0]",
            "env var name",
        ),
        (
            "no source",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("image");
            }),
            "image",
            "no source",
        ),
        (
            "image chars",
            Box::new(|v| v["image"] = json!("ghcr.io/x;rm -rf")),
            "image",
            "not a valid image reference",
        ),
        (
            "remote url scheme",
            Box::new(|v| {
                let o = v.as_object_mut().unwrap();
                o.remove("image");
                o.insert("remote_url".into(), json!("ftp://x"));
            }),
            "remote_url",
            "http(s)",
        ),
        (
            "remote and image",
            Box::new(|v| v["remote_url"] = json!("https://x.example.com/mcp")),
            "remote_url",
            "either",
        ),
        (
            "registry api url",
            Box::new(|v| v["registry_api_url"] = json!("not a url")),
            "registry_api_url",
            "not a URL",
        ),
        (
            "package scheme",
            Box::new(|v| v["package"] = json!({"scheme": "cargo", "name": "x"})),
            "package",
            "unknown variant",
        ),
        (
            "package name",
            Box::new(|v| v["package"] = json!({"scheme": "uvx", "name": "x'; rm"})),
            "package",
            "package name",
        ),
        (
            "mount injection",
            Box::new(|v| v["permission_profile"]["read"] = json!(["/a;b"])),
            "permission_profile.read[0]",
            "';'",
        ),
        (
            "mount traversal",
            Box::new(|v| v["permission_profile"]["write"] = json!(["/a:/../../etc"])),
            "permission_profile.write[0]",
            "traversal",
        ),
        (
            "mount relative",
            Box::new(|v| v["permission_profile"]["read"] = json!(["data:/data"])),
            "permission_profile.read[0]",
            "relative",
        ),
        (
            "profile port",
            Box::new(|v| v["permission_profile"]["network"]["outbound"]["allow_port"] = json!([0])),
            "permission_profile.network.outbound.allow_port[0]",
            "not a port",
        ),
        (
            "profile host",
            Box::new(|v| {
                v["permission_profile"]["network"]["outbound"]["allow_host"] = json!(["a b"])
            }),
            "permission_profile.network.outbound.allow_host[0]",
            "host name",
        ),
        (
            "isolation on host network",
            Box::new(|v| v["permission_profile"]["network"]["mode"] = json!("host")),
            "isolate_network",
            "bridge",
        ),
        (
            "volume",
            Box::new(|v| v["volumes"] = json!(["/a:relative:ro"])),
            "volumes[0]",
            "relative",
        ),
        (
            "volume injection",
            Box::new(|v| v["volumes"] = json!(["/a:/b$(id)"])),
            "volumes[0]",
            "'$('",
        ),
        (
            "label key",
            Box::new(|v| v["container_labels"]["-x"] = json!("y")),
            "container_labels.-x",
            "label key",
        ),
        (
            "label value",
            Box::new(|v| v["container_labels"]["x"] = json!("a\nb")),
            "container_labels.x",
            "control",
        ),
        (
            "tool filter dup",
            Box::new(|v| v["tools_filter"] = json!(["a", "a"])),
            "tools_filter[1]",
            "twice",
        ),
        (
            "tool filter empty",
            Box::new(|v| v["tools_filter"] = json!([""])),
            "tools_filter[0]",
            "1–128",
        ),
        (
            "tool override empty",
            Box::new(|v| v["tools_override"]["fetch"] = json!({})),
            "tools_override.fetch",
            "sets",
        ),
        (
            "middleware type",
            Box::new(|v| v["middleware_configs"][0]["type"] = json!("Auth")),
            "middleware_configs[0].type",
            "middleware type",
        ),
        (
            "middleware missing type",
            Box::new(|v| v["middleware_configs"][0] = json!({"parameters": {}})),
            "middleware_configs",
            "missing field `type`",
        ),
        (
            "session ttl 0",
            Box::new(|v| v["session_ttl"] = json!(0)),
            "session_ttl",
            "≥ 1",
        ),
        (
            "session ttl string",
            Box::new(|v| v["session_ttl"] = json!("2h")),
            "session_ttl",
            "u64",
        ),
        (
            "created at",
            Box::new(|v| v["created_at"] = json!("yesterday")),
            "created_at",
            "",
        ),
        (
            "cmd args NUL",
            Box::new(|v| v["cmd_args"] = json!(["a\u{0}"])),
            "cmd_args[0]",
            "NUL",
        ),
    ];
    let validator = validator();
    for (what, change, field, word) in cases {
        let mut v = base_value();
        change(&mut v);
        let (got_field, message) = field_error(&v);
        assert_eq!(got_field, field, "{what}: {message}");
        assert!(message.contains(word), "{what}: '{message}' lacks '{word}'");
        // The JSON Schema refuses it too, except for the rules it cannot express.
        let schema_blind = [
            "secret duplicate",
            "secret and env",
            "mount traversal",
            "mount relative",
            "isolation on host network",
            "volume",
            "tool filter dup",
            "created at",
        ];
        if !schema_blind.contains(&what) {
            assert!(
                !validator.is_valid(&v),
                "{what}: the schema accepts {}",
                serde_json::to_string(&v).unwrap()
            );
        }
    }
}

#[test]
fn error_messages_are_clear() {
    let mut v = base_value();
    v["port"] = json!(70000);
    let msg = read_value(&v).unwrap_err().to_string();
    assert!(msg.starts_with("RunConfig: invalid `port`"), "{msg}");
    let mut v = base_value();
    v["permission_profile"]["read"] = json!(["/ok", "/x|y"]);
    let msg = read_value(&v).unwrap_err().to_string();
    assert!(
        msg.contains("permission_profile.read[1]")
            && msg.contains("\"/x|y\"")
            && msg.contains("'|'"),
        "{msg}"
    );
}

#[test]
fn export_never_holds_secret_values() {
    let github = server("io.github.stacklok/github");
    let mut o = opts();
    o.env.insert(
        "GITHUB_PERSONAL_ACCESS_TOKEN".into(),
        "ghp_plaintext".into(),
    );
    o.env.insert("GITHUB_READ_ONLY".into(), "1".into());
    let r = resolve_registry_entry(&github, &o).unwrap();
    assert!(r.warnings.contains(&ResolveWarning::SecretGivenInPlain {
        name: "GITHUB_PERSONAL_ACCESS_TOKEN".into()
    }));
    assert!(r.warnings[0].to_string().contains("--secret"));
    let c = r.config;
    assert_eq!(c.sensitive_env_vars, ["GITHUB_PERSONAL_ACCESS_TOKEN"]);
    assert_eq!(c.env_vars["GITHUB_PERSONAL_ACCESS_TOKEN"], "ghp_plaintext");
    let exported = c.export();
    let text = exported.write_json();
    assert_eq!(c.export_json(), text);
    assert!(!text.contains("ghp_plaintext"), "{text}");
    assert_eq!(exported.env_vars["GITHUB_READ_ONLY"], "1");
    assert_eq!(
        exported.sensitive_env_vars,
        ["GITHUB_PERSONAL_ACCESS_TOKEN"]
    );
    assert_eq!(RunConfig::read_str(&text).unwrap(), exported);

    // Before it is stored, the value moves to a secret reference the runner fills its store from.
    let mut stored = c.clone();
    let moved = stored.take_sensitive_values();
    assert_eq!(
        moved,
        vec![(
            SecretRef::parse(
                "thv.github.GITHUB_PERSONAL_ACCESS_TOKEN,target=GITHUB_PERSONAL_ACCESS_TOKEN"
            )
            .unwrap(),
            "ghp_plaintext".to_owned()
        )]
    );
    assert!(!stored.write_json().contains("ghp_plaintext"));
    stored.validate().unwrap();
    assert!(stored.take_sensitive_values().is_empty(), "once");

    // Through a secret reference nothing but the reference is ever stored.
    let mut o = opts();
    o.secrets = vec![SecretRef::parse("gh-token,target=GITHUB_PERSONAL_ACCESS_TOKEN").unwrap()];
    let c = from_registry_entry(&github, &o).unwrap();
    assert_eq!(c.export(), c);
    let v: Value = serde_json::from_str(&c.export().write_json()).unwrap();
    assert_eq!(
        v["secrets"],
        json!([{"name": "gh-token", "target": "GITHUB_PERSONAL_ACCESS_TOKEN"}])
    );
    assert!(v["env_vars"].get("GITHUB_PERSONAL_ACCESS_TOKEN").is_none());
}

// ---------------------------------------------------------------- JSON Schema

#[test]
fn schema_accepts_what_write_json_writes() {
    let mut configs = vec![full_config(), remote_config(), stdio_package_config()];
    for s in registry() {
        let mut o = opts();
        // Provide every required variable as a secret reference.
        if let Err(ResolveError::MissingRequiredEnv { missing, .. }) = from_registry_entry(&s, &o) {
            o.secrets = missing
                .iter()
                .map(|m| SecretRef::new(format!("s-{}", m.name.to_lowercase()), &m.name))
                .collect();
        }
        let c = from_registry_entry(&s, &o)
            .unwrap_or_else(|e| panic!("{} does not resolve: {e}", s.name));
        configs.push(c);
    }
    assert!(configs.len() > 100);
    for c in configs {
        let doc: Value = serde_json::from_str(&c.write_json()).unwrap();
        let errors = schema_errors(&doc);
        assert!(errors.is_empty(), "{}: {errors:?}", c.name);
        assert_eq!(RunConfig::read_json(c.write_json().as_bytes()).unwrap(), c);
    }
}

#[test]
fn schema_refuses_invalid_documents() {
    let cases = [
        json!({}),
        json!({"schema_version": "v2", "name": "x", "base_name": "x", "transport": "stdio", "image": "i", "container_name": "x"}),
        json!({"schema_version": "v1", "name": "x", "base_name": "x", "transport": "stdio", "container_name": "x"}),
        json!({"schema_version": "v1", "name": "x", "base_name": "x", "transport": "stdio", "image": "i"}),
        json!({"schema_version": "v1", "name": "x", "base_name": "x", "transport": "stdio", "remote_url": "https://a.b/mcp", "isolate_network": false}),
        json!({"schema_version": "v1", "name": "x", "base_name": "x", "transport": "sse", "remote_url": "https://a.b/mcp", "image": "i", "isolate_network": false}),
        json!({"schema_version": "v1", "name": "x", "base_name": "x", "transport": "stdio", "image": "i", "container_name": "x", "secrets": [{"name": "a", "target": "B", "value": "s3cret"}]}),
        json!({"schema_version": "v1", "name": "x", "base_name": "x", "transport": "stdio", "image": "i", "container_name": "x", "target_port": 8080}),
    ];
    for doc in cases {
        assert!(!schema_errors(&doc).is_empty(), "schema accepts {doc}");
        assert!(read_value(&doc).is_err(), "read_json accepts {doc}");
    }
}

// ---------------------------------------------------------------- resolution

#[test]
fn github_requires_its_secret() {
    let github = server("io.github.stacklok/github");
    let err = from_registry_entry(&github, &opts()).unwrap_err();
    match &err {
        ResolveError::MissingRequiredEnv { server, missing } => {
            assert_eq!(server, "io.github.stacklok/github");
            assert_eq!(
                missing.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
                ["GITHUB_PERSONAL_ACCESS_TOKEN"]
            );
            assert!(missing[0].secret);
        }
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("GITHUB_PERSONAL_ACCESS_TOKEN")
            && msg.contains("--secret NAME,target=GITHUB_PERSONAL_ACCESS_TOKEN"),
        "{msg}"
    );

    let mut o = opts();
    o.secrets = vec![SecretRef::new("github", "GITHUB_PERSONAL_ACCESS_TOKEN")];
    let r = resolve_registry_entry(&github, &o).unwrap();
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let c = r.config;
    assert_eq!(c.name, "github");
    assert_eq!(c.container_name.as_deref(), Some("github"));
    assert_eq!(c.base_name, "github");
    assert_eq!(
        c.image.as_deref(),
        Some("ghcr.io/github/github-mcp-server:v0.30.3")
    );
    assert_eq!(c.transport, TransportType::Stdio);
    assert_eq!(c.proxy_mode, Some(ProxyMode::StreamableHttp));
    assert_eq!(c.target_port, None);
    assert_eq!(
        c.registry_server_name.as_deref(),
        Some("io.github.stacklok/github")
    );
    assert_eq!(c.registry_server_version.as_deref(), Some("v0.30.3"));
    assert_eq!(c.secrets, o.secrets);
    assert_eq!(
        c.env_vars,
        BTreeMap::from([("MCP_TRANSPORT".to_owned(), "stdio".to_owned())])
    );
    let profile = c.permission_profile.as_ref().unwrap();
    assert_eq!(
        profile.allowed_hosts(),
        [".github.com", ".githubusercontent.com"]
    );
    assert_eq!(profile.allowed_ports(), [443]);
    assert_eq!(c.permission_profile_name_or_path, None);
    assert!(c.isolate_network);
    assert!(c.registry_tools.contains(&"create_pull_request".to_owned()));
    assert_eq!(c.container_labels["toolhive"], "true");
    assert_eq!(c.container_labels["toolhive-name"], "github");
    assert_eq!(c.container_labels["toolhive-transport"], "stdio");
    assert_eq!(c.container_labels["toolhive-group"], "default");
    assert_eq!(c.container_labels["toolhive-network-isolation"], "true");
    assert!(!c.container_labels.contains_key("toolhive-port"));
    assert_eq!(c.created_at, Some(fixed_time()));
}

#[test]
fn fetch_is_streamable_http_on_port_8080() {
    let fetch = server("io.github.stacklok/fetch");
    let c = from_registry_entry(&fetch, &opts()).unwrap();
    assert_eq!(c.transport, TransportType::StreamableHttp);
    assert_eq!(c.proxy_mode, None);
    assert_eq!(c.target_port, Some(8080));
    assert_eq!(c.target_host.as_deref(), Some("127.0.0.1"));
    assert_eq!(c.host, "127.0.0.1");
    assert_eq!(c.port, None);
    assert_eq!(
        c.env_vars,
        BTreeMap::from(
            [
                ("MCP_TRANSPORT", "streamable-http"),
                ("MCP_PORT", "8080"),
                ("FASTMCP_PORT", "8080"),
                ("MCP_HOST", "0.0.0.0"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        )
    );
    assert!(c.permission_profile.as_ref().unwrap().allows_all_outbound());
    assert_eq!(c.registry_tools, ["fetch"]);

    // User choices: proxy port, target port, name, group, labels, env, filter.
    let mut o = opts();
    o.name = Some("web".into());
    o.proxy_port = Some(41523);
    o.target_port = Some(9000);
    o.group = Some("dev".into());
    o.labels.insert("team".into(), "x".into());
    o.env.insert("MCP_PORT".into(), "1".into());
    o.env.insert("EXTRA".into(), "y".into());
    o.tools_filter = vec!["fetch".into()];
    let mut c = from_registry_entry(&fetch, &o).unwrap();
    assert_eq!(
        (c.name.as_str(), c.port, c.target_port),
        ("web", Some(41523), Some(9000))
    );
    assert_eq!(c.env_vars["MCP_PORT"], "9000", "transport vars override -e");
    assert_eq!(c.env_vars["EXTRA"], "y");
    assert_eq!(c.container_labels["toolhive-port"], "41523");
    assert_eq!(c.container_labels["toolhive-group"], "dev");
    assert_eq!(c.container_labels["team"], "x");
    assert_eq!(c.tools_filter, ["fetch"]);
    c.set_port(50000);
    c.set_target_port(8081);
    assert_eq!(c.container_labels["toolhive-port"], "50000");
    assert_eq!(c.env_vars["FASTMCP_PORT"], "8081");
    c.validate().unwrap();

    o.tools_filter = vec!["nope".into()];
    let err = from_registry_entry(&fetch, &o).unwrap_err();
    assert!(matches!(err, ResolveError::UnknownTool { .. }));
    assert!(
        err.to_string()
            .contains("no tool 'nope' (its tools: fetch)"),
        "{err}"
    );
}

#[test]
fn remote_servers_have_no_container() {
    let gh = server("io.github.stacklok/github-remote");
    let mut o = opts();
    o.args = vec!["ignored".into()];
    o.permission_profile = Some("none".into());
    let r = resolve_registry_entry(&gh, &o).unwrap();
    let c = &r.config;
    assert_eq!(
        c.remote_url.as_deref(),
        Some("https://api.githubcopilot.com/mcp")
    );
    assert_eq!(c.transport, TransportType::StreamableHttp);
    assert_eq!(c.name, "github-remote");
    assert_eq!(c.container_name, None);
    assert_eq!(c.image, None);
    assert_eq!(c.permission_profile, None);
    assert!(!c.isolate_network);
    assert!(c.env_vars.is_empty() && c.container_labels.is_empty());
    assert!(r.warnings.iter().any(|w| matches!(
        w,
        ResolveWarning::OptionIgnored { option, .. } if option == "--permission-profile"
    )));
    assert!(c.is_remote() && c.effective_proxy_mode().is_none());

    let atlassian =
        from_registry_entry(&server("io.github.stacklok/atlassian-remote"), &opts()).unwrap();
    assert_eq!(atlassian.transport, TransportType::Sse);
    assert_eq!(
        atlassian.remote_url.as_deref(),
        Some("https://mcp.atlassian.com/v1/sse")
    );
}

#[test]
fn arguments_come_from_the_registry_unless_given() {
    let arxiv = server("io.github.stacklok/arxiv-mcp-server");
    let c = from_registry_entry(&arxiv, &opts()).unwrap();
    assert_eq!(c.cmd_args, ["--storage-path", "/arxiv-papers"]);
    let mut o = opts();
    o.args = vec!["--storage-path".into(), "/data".into()];
    assert_eq!(from_registry_entry(&arxiv, &o).unwrap().cmd_args, o.args);

    // Extension args when the package has none.
    let mut s = arxiv.clone();
    s.packages.as_mut().unwrap()[0].package_arguments = None;
    assert_eq!(
        from_registry_entry(&s, &opts()).unwrap().cmd_args,
        ["--storage-path", "/arxiv-papers"]
    );
}

#[test]
fn permission_profile_selection_and_isolation() {
    let fetch = server("io.github.stacklok/fetch");
    let mut o = opts();
    o.permission_profile = Some("none".into());
    let c = from_registry_entry(&fetch, &o).unwrap();
    assert_eq!(c.permission_profile, Some(PermissionProfile::none()));
    assert_eq!(c.permission_profile_name_or_path.as_deref(), Some("none"));

    // Nothing says: `network`.
    let mut s = fetch.clone();
    s.meta = None;
    let c = from_registry_entry(&s, &opts()).unwrap();
    assert_eq!(c.permission_profile, Some(PermissionProfile::network()));
    assert_eq!(
        c.permission_profile_name_or_path.as_deref(),
        Some("network")
    );
    assert_eq!(c.registry_tools, Vec::<String>::new());

    // A profile with host networking: isolation dropped with a warning, or an error when asked for.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("host.json");
    std::fs::write(
        &path,
        r#"{"network": {"mode": "host"}, "read": ["/etc/hosts"]}"#,
    )
    .unwrap();
    let mut o = opts();
    o.permission_profile = Some(path.to_string_lossy().into_owned());
    let r = resolve_registry_entry(&fetch, &o).unwrap();
    assert!(!r.config.isolate_network);
    assert_eq!(
        r.config.container_labels["toolhive-network-isolation"],
        "false"
    );
    assert!(
        r.warnings
            .contains(&ResolveWarning::NetworkIsolationDropped {
                mode: "host".into()
            })
    );
    o.isolate_network = Some(true);
    let err = from_registry_entry(&fetch, &o).unwrap_err();
    assert!(err.to_string().contains("bridge"), "{err}");
    o.isolate_network = Some(false);
    assert!(
        resolve_registry_entry(&fetch, &o)
            .unwrap()
            .warnings
            .is_empty()
    );

    // A bad profile file or an unknown name.
    std::fs::write(&path, r#"{"write": ["/home/u/../../../etc:/etc2"]}"#).unwrap();
    let err = from_registry_entry(&fetch, &o).unwrap_err();
    assert!(
        matches!(err, ResolveError::Profile(ProfileError::Parse { .. })),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("write[0]") && err.to_string().contains("traversal"),
        "{err}"
    );
    o.permission_profile = Some("strict".into());
    let err = from_registry_entry(&fetch, &o).unwrap_err();
    assert!(
        err.to_string()
            .contains("built-in profiles are `none` and `network`"),
        "{err}"
    );
}

/// A registry entry's profile is a request: privileged, host networking and host mounts are refused unless the
/// user grants each of them (or brings a profile of their own); what is granted runs as the entry asks.
#[test]
fn an_entry_cannot_take_privileges_it_was_not_granted() {
    use thv_core::runconfig::{Grant, Privilege};
    let mut s = server("io.github.stacklok/fetch");
    let key = thv_core::toolhive::extensions(&s).unwrap().0;
    let mut ext = thv_core::toolhive::extensions(&s).unwrap().1;
    ext.permissions = Some(
        serde_json::from_value(json!({
            "privileged": true,
            "write": ["/:/host", "/run/podman/podman.sock:/var/run/docker.sock"],
            "network": {"mode": "host"}
        }))
        .unwrap(),
    );
    thv_core::toolhive::set_extensions(&mut s, &key, &ext);

    let err = from_registry_entry(&s, &opts()).unwrap_err();
    let ResolveError::PrivilegesNotGranted { missing, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(missing.len(), 4, "{missing:?}");
    let text = err.to_string();
    for part in [
        "a privileged container",
        "the network mode 'host'",
        "the host path '/' mounted at /host (read-write)",
        "/run/podman/podman.sock",
        "--grant privileged --grant network=host --grant mount=/ --grant mount=/run/podman/podman.sock",
        "--permission-profile",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }

    // Granting some is not enough: the rest is named.
    let mut o = opts();
    o.grants = vec![Grant::Privileged, Grant::NetworkMode("host".into())];
    let err = from_registry_entry(&s, &o).unwrap_err();
    let ResolveError::PrivilegesNotGranted { missing, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        missing
            .iter()
            .all(|p| matches!(p, Privilege::HostMount { .. })),
        "{missing:?}"
    );

    // Everything granted: the entry's profile is used as written.
    o.grants.push("mount=/".parse().unwrap());
    o.grants
        .push("mount=/run/podman/podman.sock".parse().unwrap());
    let c = from_registry_entry(&s, &o).unwrap();
    let p = c.permission_profile.unwrap();
    assert!(p.is_privileged());
    assert_eq!(p.network_mode(), Some("host"));

    // The user's own profile replaces the request; grants are then ignored with a warning.
    let mut o = opts();
    o.permission_profile = Some("none".into());
    o.grants = vec![Grant::Privileged];
    let r = resolve_registry_entry(&s, &o).unwrap();
    assert!(!r.config.permission_profile.unwrap().is_privileged());
    assert!(
        r.warnings
            .iter()
            .any(|w| w.to_string().contains("--grant privileged")),
        "{:?}",
        r.warnings
    );

    // Resource mounts and bridge networking need no grant.
    ext.permissions = Some(
        serde_json::from_value(json!({
            "read": ["volume://cache:/cache"],
            "network": {"mode": "bridge", "outbound": {"insecure_allow_all": true}}
        }))
        .unwrap(),
    );
    thv_core::toolhive::set_extensions(&mut s, &key, &ext);
    from_registry_entry(&s, &opts()).unwrap();
}

#[test]
fn missing_and_secret_env_vars() {
    let mut s = server("io.github.stacklok/fetch");
    let pkg = &mut s.packages.as_mut().unwrap()[0];
    pkg.environment_variables = Some(
        serde_json::from_value(json!([
            {"name": "API_KEY", "isRequired": true, "isSecret": true, "description": "the key"},
            {"name": "REGION", "isRequired": true},
            {"name": "MODE", "isRequired": true, "default": "fast"},
            {"name": "OPTIONAL"}
        ]))
        .unwrap(),
    );
    let err = from_registry_entry(&s, &opts()).unwrap_err();
    assert_eq!(
        err,
        ResolveError::MissingRequiredEnv {
            server: "io.github.stacklok/fetch".into(),
            missing: vec![
                MissingEnv {
                    name: "API_KEY".into(),
                    secret: true,
                    description: Some("the key".into())
                },
                MissingEnv {
                    name: "REGION".into(),
                    secret: false,
                    description: None
                },
            ],
        }
    );
    let msg = err.to_string();
    assert!(
        msg.contains("environment variables API_KEY (the key; a secret: pass --secret"),
        "{msg}"
    );
    assert!(msg.contains("REGION (pass -e REGION=VALUE)"), "{msg}");

    let mut o = opts();
    o.env.insert("REGION".into(), "eu".into());
    o.env.insert("API_KEY".into(), "plain".into());
    o.secrets = vec![SecretRef::new("key", "API_KEY")];
    let r = resolve_registry_entry(&s, &o).unwrap();
    assert_eq!(r.config.env_vars["MODE"], "fast");
    assert_eq!(r.config.env_vars["REGION"], "eu");
    assert!(
        !r.config.env_vars.contains_key("API_KEY"),
        "the secret wins"
    );
    assert!(!r.config.env_vars.contains_key("OPTIONAL"));
    assert!(r.warnings.contains(&ResolveWarning::EnvOverriddenBySecret {
        name: "API_KEY".into()
    }));
    assert!(r.config.sensitive_env_vars.is_empty());

    let mut o = opts();
    o.env.insert("BAD-NAME".into(), "x".into());
    let err = from_registry_entry(&s, &o).unwrap_err();
    assert!(err.to_string().starts_with("invalid -e:"), "{err}");
}

#[test]
fn npm_and_pypi_packages_become_package_schemes() {
    let doc = |packages: Value| -> ServerJson {
        serde_json::from_value(json!({
            "name": "io.github.example/Weather+Server", "description": "d", "version": "1.2.0",
            "packages": packages
        }))
        .unwrap()
    };
    let c = from_registry_entry(
        &doc(
            json!([{"registryType": "npm", "identifier": "@example/weather", "version": "1.2.0",
                     "transport": {"type": "stdio"},
                     "packageArguments": [{"type": "named", "name": "--units", "default": "metric"},
                                          {"type": "named", "name": "--verbose"}]}]),
        ),
        &opts(),
    )
    .unwrap();
    assert_eq!(
        c.package,
        Some(PackageSource {
            scheme: PackageScheme::Npx,
            name: "@example/weather".into(),
            version: Some("1.2.0".into())
        })
    );
    assert_eq!(
        c.package.as_ref().unwrap().to_string(),
        "npx://@example/weather@1.2.0"
    );
    assert_eq!(c.image, None);
    assert_eq!(c.name, "Weather-Server");
    assert_eq!(c.cmd_args, ["--units", "metric", "--verbose"]);

    let c = from_registry_entry(
        &doc(json!([{"registryType": "pypi", "identifier": "mcp-server-time", "version": "2025.8.4",
                     "transport": {"type": "streamable-http", "url": "http://localhost:8000/mcp"}}])),
        &opts(),
    )
    .unwrap();
    assert_eq!(c.package.as_ref().unwrap().scheme, PackageScheme::Uvx);
    assert_eq!(c.target_port, Some(8000));

    let err = from_registry_entry(
        &doc(json!([{"registryType": "nuget", "identifier": "Weather", "transport": {"type": "stdio"}},
                     {"registryType": "mcpb", "identifier": "https://x/w.mcpb", "transport": {"type": "stdio"}}])),
        &opts(),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("no OCI package, no remote and no npm or pypi package (found: nuget Weather, mcpb https://x/w.mcpb)"),
        "{msg}"
    );
    let err = from_registry_entry(
        &doc(
            json!([{"registryType": "oci", "identifier": "a:1", "transport": {"type": "stdio"}},
                     {"registryType": "oci", "identifier": "b:1", "transport": {"type": "stdio"}}]),
        ),
        &opts(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("2 OCI packages (a:1, b:1)"),
        "{err}"
    );
    let err = from_registry_entry(&doc(json!([])), &opts()).unwrap_err();
    assert!(
        err.to_string().contains("no packages and no remotes"),
        "{err}"
    );
    let err = from_registry_entry(
        &doc(json!([{"registryType": "oci", "identifier": "a:1", "transport": {"type": "websocket"}}])),
        &opts(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("unknown transport 'websocket'"),
        "{err}"
    );
}

#[test]
fn invalid_options_are_refused() {
    let fetch = server("io.github.stacklok/fetch");
    let check = |change: &dyn Fn(&mut ResolveOptions), option: &str| {
        let mut o = opts();
        change(&mut o);
        match from_registry_entry(&fetch, &o) {
            Err(ResolveError::InvalidOption {
                option: got,
                message,
            }) => {
                assert_eq!(got, option, "{message}")
            }
            other => panic!("{option}: {other:?}"),
        }
    };
    check(&|o| o.name = Some("bad name".into()), "--name");
    check(&|o| o.host = Some("not a host".into()), "--host");
    check(&|o| o.proxy_port = Some(0), "port");
    check(&|o| o.secrets = vec![SecretRef::new("a", "1X")], "--secret");
    check(
        &|o| o.secrets = vec![SecretRef::new("a", "X"), SecretRef::new("b", "X")],
        "--secret",
    );
    check(&|o| o.volumes = vec!["/a:/b;reboot".into()], "-v/--volume");
    check(
        &|o| {
            o.labels.insert("toolhive-name".into(), "x".into());
        },
        "--label",
    );
    // A group name is checked by the RunConfig rules.
    let mut o = opts();
    o.group = Some("a/b".into());
    let err = from_registry_entry(&fetch, &o).unwrap_err();
    assert!(
        matches!(err, ResolveError::Invalid { .. }) && err.to_string().contains("`group`"),
        "{err}"
    );
}

// ---------------------------------------------------------------- short names

#[test]
fn short_name_matching() {
    let names = [
        "io.github.stacklok/fetch",
        "io.github.stacklok/github",
        "io.github.stacklok/github-remote",
        "io.github.other/fetch",
        "io.github.stacklok/time",
        "time",
    ];
    let m = |q: &str| match_short_name(q, names.iter().copied());
    assert_eq!(
        m("io.github.stacklok/fetch"),
        Ok("io.github.stacklok/fetch")
    );
    assert_eq!(m("github"), Ok("io.github.stacklok/github"));
    assert_eq!(m("github-remote"), Ok("io.github.stacklok/github-remote"));
    assert_eq!(m("time"), Ok("time"), "an exact match wins");
    let err = m("fetch").unwrap_err();
    assert_eq!(
        err,
        NameMatchError::Ambiguous {
            query: "fetch".into(),
            candidates: vec![
                "io.github.other/fetch".into(),
                "io.github.stacklok/fetch".into()
            ]
        }
    );
    assert!(
        err.to_string()
            .contains("io.github.other/fetch, io.github.stacklok/fetch"),
        "{err}"
    );
    let err = m("githb").unwrap_err();
    match &err {
        NameMatchError::NotFound { suggestions, .. } => {
            assert_eq!(suggestions[0], "io.github.stacklok/github")
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .contains("did you mean io.github.stacklok/github"),
        "{err}"
    );
    assert!(
        matches!(m("zzzzzz"), Err(NameMatchError::NotFound { suggestions, .. }) if suggestions.is_empty())
    );
    assert!(matches!(m(""), Err(NameMatchError::NotFound { .. })));
    assert!(matches!(
        m("io.github.x/fetch"),
        Err(NameMatchError::NotFound { .. })
    ));
    // The same name listed twice (two versions) is one server.
    assert_eq!(match_short_name("a", ["x/a", "x/a", "x/b"]), Ok("x/a"));
    // Against the bundled registry.
    let all = registry();
    let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        match_short_name("fetch", names.iter().copied()),
        Ok("io.github.stacklok/fetch")
    );
}

#[test]
fn name_sanitizing() {
    assert_eq!(sanitize_name("fetch"), "fetch");
    assert_eq!(sanitize_name("@scope/pkg name"), "scope-pkg-name");
    assert_eq!(sanitize_name("..x"), "x");
    assert_eq!(sanitize_name("$$$"), "mcp-server");
    let long = sanitize_name(&"a".repeat(100));
    assert_eq!(long.len(), 63);
    assert!(
        runconfig::name_error(&sanitize_name(
            "a-----------------------------------------------------------------b"
        ))
        .is_none()
    );
}

// ---------------------------------------------------------------- mounts and profiles

#[test]
fn mount_formats() {
    assert_eq!(
        parse_mount("/data", true).unwrap(),
        Mount {
            source: MountSource::Host("/data".into()),
            target: "/data".into(),
            read_only: true
        }
    );
    assert_eq!(
        parse_mount("/home/u/./proj//src/:/workspace/", false).unwrap(),
        Mount {
            source: MountSource::Host("/home/u/proj/src".into()),
            target: "/workspace".into(),
            read_only: false
        }
    );
    assert_eq!(
        parse_mount("volume://cache-1:/cache", false).unwrap(),
        Mount {
            source: MountSource::Resource {
                scheme: "volume".into(),
                resource: "cache-1".into()
            },
            target: "/cache".into(),
            read_only: false
        }
    );
    assert_eq!(
        parse_mount(r"C:\Users\me\data:/data", true).unwrap().source,
        MountSource::Host("C:/Users/me/data".into())
    );
    // `..` that stays inside is cleaned away.
    assert_eq!(parse_mount("/a/b/../c:/x/../y", true).unwrap().target, "/y");
    assert_eq!(
        parse_mount("/a/b/../c:/x/../y", true).unwrap().source,
        MountSource::Host("/a/c".into())
    );
    let v = parse_volume("/srv/cache:/cache:ro").unwrap();
    assert!(v.read_only && v.target == "/cache");
    assert!(!parse_volume("/srv/cache:/cache:rw").unwrap().read_only);
    assert!(!parse_volume("/srv/cache:/cache").unwrap().read_only);
}

#[test]
fn mount_rules() {
    let err = |e: &str| parse_mount(e, true).unwrap_err();
    // Traversal.
    for e in [
        "/../etc",
        "/a:/../../etc",
        "/a/../../etc:/x",
        r"C:\..\..\x:/x",
        "volume://../x:/x",
    ] {
        assert!(
            matches!(err(e), MountError::Traversal { .. }),
            "{e}: {:?}",
            err(e)
        );
    }
    assert_eq!(
        err("/a:/x/../../etc"),
        MountError::Traversal {
            entry: "/a:/x/../../etc".into(),
            side: PathSide::Container,
            path: "/x/../../etc".into()
        }
    );
    // Relative paths.
    for (e, side) in [
        ("data", PathSide::Host),
        ("./data:/data", PathSide::Host),
        ("~/data:/data", PathSide::Host),
        ("../x:/x", PathSide::Host),
        ("/data:data", PathSide::Container),
        ("volume://v:data", PathSide::Container),
    ] {
        match err(e) {
            MountError::RelativePath { side: got, .. } => assert_eq!(got, side, "{e}"),
            other => panic!("{e}: {other:?}"),
        }
    }
    // Injection characters, each named.
    for (e, what) in [
        ("/a$(id):/b", "'$('"),
        ("/a`id`:/b", "backtick"),
        ("/a$HOME:/b", "'$'"),
        ("/a&b:/b", "'&'"),
        ("/a;b:/b", "';'"),
        ("/a|b:/b", "'|'"),
        ("/a\0b:/b", "NUL"),
        ("/a\nb:/b", "control"),
    ] {
        let e2 = err(e);
        assert!(
            matches!(e2, MountError::ForbiddenCharacter { .. }),
            "{e}: {e2:?}"
        );
        let msg = e2.to_string();
        assert!(
            msg.contains(what) && msg.contains("shell injection"),
            "{e}: {msg}"
        );
    }
    // What the engine would read as mount options, or as a mode: refused, naming the rule.
    for (e, rule) in [
        (
            "volume://v5,volume-opt=device=/etc,volume-opt=type=none,volume-opt=o=bind:/hostetc",
            "','",
        ),
        ("/tmp/data:/x,src=/etc", "','"),
        ("/a,b:/x", "','"),
        ("volume://v=1:/x", "not a volume name"),
        ("volume://-v:/x", "not a volume name"),
        ("volume://v/x:/x", "not a volume name"),
        ("/tmp:/x:rw", "contains ':'"),
        ("/etc:/x:ro", "contains ':'"),
    ] {
        let msg = err(e).to_string();
        assert!(msg.contains(rule), "{e}: {msg}");
    }
    let msg = parse_volume("/tmp:/x:rw:ro").unwrap_err().to_string();
    assert!(
        msg.contains("contains ':'"),
        "a second mode is a typo: {msg}"
    );
    // Others.
    assert!(matches!(err(""), MountError::Empty));
    assert!(matches!(
        err("/a:C:\\x"),
        MountError::WindowsContainerPath { .. }
    ));
    assert!(matches!(
        err(r"C:\data"),
        MountError::WindowsContainerPath { .. }
    ));
    assert!(matches!(err("/a:/"), MountError::ContainerRoot { .. }));
    assert!(matches!(err("/a:"), MountError::Malformed { .. }));
    assert!(matches!(err(":/a"), MountError::Malformed { .. }));
    assert!(matches!(err("volume://:/a"), MountError::Malformed { .. }));
    assert!(matches!(err("volume://x"), MountError::Malformed { .. }));
    assert!(matches!(err("9x://r:/a"), MountError::Malformed { .. }));
    let msg = err("/a;rm -rf /:/b").to_string();
    assert_eq!(
        msg,
        "mount \"/a;rm -rf /:/b\": ';' (command chaining) is not allowed (shell injection)"
    );
    let msg = err("rel:/b").to_string();
    assert!(msg.contains("host path 'rel' is relative"), "{msg}");
}

#[test]
fn permission_profiles() {
    let none = load_permission_profile("none").unwrap();
    assert!(!none.allows_all_outbound() && none.read_mounts().is_empty() && !none.is_privileged());
    assert_eq!(none.allowed_hosts(), [] as [String; 0]);
    let network = load_permission_profile("network").unwrap();
    assert!(network.allows_all_outbound());
    assert_eq!(network.name.as_deref(), Some("network"));
    assert_eq!(PermissionProfile::from_builtin_name("other"), None);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.json");
    std::fs::write(
        &path,
        r#"{"name": "mine", "read": ["/etc/ssl:/certs"], "write": ["volume://data:/data"],
            "network": {"outbound": {"allow_host": [".github.com", "10.0.0.1", "10.2.0.0/16"], "allow_port": [443]}}}"#,
    )
    .unwrap();
    let p = load_permission_profile(path.to_str().unwrap()).unwrap();
    assert_eq!(
        p.allowed_hosts(),
        [".github.com", "10.0.0.1", "10.2.0.0/16"]
    );
    let mounts = p.mounts().unwrap();
    assert_eq!(mounts.len(), 2);
    assert!(mounts[0].read_only && !mounts[1].read_only);

    for (content, word) in [
        ("{", "not a valid profile"),
        ("[]", "expected a JSON object"),
        (r#"{"read": "/x"}"#, "not a valid profile"),
        (r#"{"read": ["/x", "/y|z"]}"#, "`read[1]`"),
        (r#"{"network": {"mode": "a b"}}"#, "network.mode"),
        // Unknown keys are refused, not ignored: a misspelt rule would silently allow more.
        (r#"{"future": true}"#, "`future`: unknown key"),
        (
            r#"{"network": {"outbound": {"allow_hosts": ["api.github.com"]}}}"#,
            "`network.outbound.allow_hosts`: unknown key",
        ),
        (
            r#"{"network": {"egress": {}}}"#,
            "`network.egress`: unknown key",
        ),
        (
            r#"{"network": {"inbound": {"deny": []}}}"#,
            "`network.inbound.deny`: unknown key",
        ),
        (
            r#"{"network": {"outbound": {"allow_host": ["10.0.0.0/33"]}}}"#,
            "allow_host[0]",
        ),
    ] {
        std::fs::write(&path, content).unwrap();
        let msg = load_permission_profile(path.to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(msg.contains(word), "{content}: {msg}");
    }
    let msg = load_permission_profile("/nonexistent/p.json")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("/nonexistent/p.json") && msg.contains("no such file"),
        "{msg}"
    );
}

// ---------------------------------------------------------------- small parsers

#[test]
fn cli_forms() {
    assert_eq!(
        SecretRef::parse("github,target=GITHUB_TOKEN").unwrap(),
        SecretRef::new("github", "GITHUB_TOKEN")
    );
    assert_eq!(SecretRef::new("a", "B").to_string(), "a,target=B");
    for bad in [
        "github",
        "github,GITHUB_TOKEN",
        "github,target=1X",
        ",target=X",
    ] {
        assert!(SecretRef::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(
        parse_env_assignment("A=b=c").unwrap(),
        ("A".into(), "b=c".into())
    );
    assert_eq!(
        parse_env_assignment("A=").unwrap(),
        ("A".into(), String::new())
    );
    assert!(parse_env_assignment("A").is_err());
    assert!(parse_env_assignment("1A=x").is_err());

    let p = |s: &str| PackageSource::parse(s);
    assert_eq!(
        p("npx://@modelcontextprotocol/server-everything").unwrap(),
        Some(PackageSource {
            scheme: PackageScheme::Npx,
            name: "@modelcontextprotocol/server-everything".into(),
            version: None
        })
    );
    assert_eq!(
        p("uvx://mcp-server-time@2025.8.4")
            .unwrap()
            .unwrap()
            .version
            .as_deref(),
        Some("2025.8.4")
    );
    let go = p("go://github.com/x/y@v1.2.3").unwrap().unwrap();
    assert_eq!(
        (go.name.as_str(), go.version.as_deref()),
        ("github.com/x/y", Some("v1.2.3"))
    );
    assert_eq!(p("go://./local/dir").unwrap().unwrap().name, "./local/dir");
    assert_eq!(p("ghcr.io/x/y:1").unwrap(), None);
    assert_eq!(p("https://x").unwrap(), None);
    assert!(p("uvx://pkg@").is_err());
    assert!(p("uvx://pkg name").is_err());
    assert!(p("npx://x';rm").is_err());
    // A name that is a path, or not the registry's shape.
    for (bad, rule) in [
        ("npx://../../x", "'..'"),
        ("npx://a/b/c", "not an npm package name"),
        ("npx://.hidden", "not an npm package name"),
        ("npx://@/x", "not an npm package name"),
        ("uvx://a/b", "not a PyPI package name"),
        ("uvx://../x", "'..'"),
    ] {
        let err = p(bad).unwrap_err().to_string();
        assert!(err.contains(rule), "{bad}: {err}");
    }
    assert!(p("npx://@scope/pkg@1.0.0").is_ok() && p("uvx://mcp_server-time").is_ok());
    // A name or version the package tool would read as an option.
    for bad in [
        "npx://--yes",
        "uvx://-c",
        "uvx://--with=evil",
        "go://-toolexec=x",
        "npx://pkg@-x",
    ] {
        let err = p(bad).unwrap_err().to_string();
        assert!(err.contains("starts with '-'"), "{bad}: {err}");
    }

    assert_eq!("sse".parse::<TransportType>(), Ok(TransportType::Sse));
    assert!("inspector".parse::<TransportType>().is_err());
    assert_eq!("sse".parse::<ProxyMode>(), Ok(ProxyMode::Sse));
}
