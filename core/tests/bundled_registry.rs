//! `data/registry.json`, the bundled catalog in the upstream format, is exactly what `gen_registry` makes of the
//! legacy catalog, and registry files are read (or refused) with clear messages.

use std::path::PathBuf;

use serde_json::json;
use thv_core::legacy::{LegacyRegistry, legacy_to_upstream, upstream_to_legacy};
use thv_core::registry_file::{
    self, RegistryFile, RegistryFileError, UPSTREAM_REGISTRY_SCHEMA_URL,
};

fn data_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("data")
        .join(file)
}

fn read(file: &str) -> Vec<u8> {
    std::fs::read(data_path(file)).unwrap_or_else(|e| panic!("cannot read data/{file}: {e}"))
}

fn parse_err(bytes: &[u8]) -> String {
    match registry_file::parse(bytes) {
        Ok(file) => panic!("expected an error, got a {}", file.format_name()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bundled_registry_is_up_to_date() {
    let legacy: LegacyRegistry =
        serde_json::from_slice(&read("toolhive-legacy-registry.json")).unwrap();
    let expected = legacy_to_upstream(&legacy)
        .unwrap()
        .to_pretty_json()
        .unwrap();
    let actual = String::from_utf8(read("registry.json")).unwrap();
    if actual != expected {
        let line = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || {
                    format!(
                        "lengths differ: {} vs {} bytes",
                        actual.len(),
                        expected.len()
                    )
                },
                |i| format!("first difference at line {}", i + 1),
            );
        panic!(
            "data/registry.json is stale ({line}): regenerate it with `cargo run -p thv-core --example gen_registry`"
        );
    }
}

#[test]
fn bundled_registry_parses_as_an_upstream_registry() {
    let file = registry_file::parse(&read("registry.json")).unwrap();
    assert_eq!(file.format_name(), "upstream registry");
    assert_eq!(file.server_count(), 102);
    let RegistryFile::Upstream(reg) = &file else {
        panic!("not an upstream registry")
    };
    assert_eq!(reg.schema.as_deref(), Some(UPSTREAM_REGISTRY_SCHEMA_URL));
    assert_eq!(
        reg.meta.last_updated.as_deref(),
        Some("2026-02-18T00:24:11Z")
    );
    // It is a lossless image of the legacy catalog.
    let legacy_value: serde_json::Value =
        serde_json::from_slice(&read("toolhive-legacy-registry.json")).unwrap();
    assert_eq!(
        serde_json::to_value(upstream_to_legacy(reg).unwrap()).unwrap(),
        legacy_value
    );

    let servers = file.into_servers().unwrap();
    let names: std::collections::BTreeSet<_> = servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.len(), 102, "names are unique");
    assert!(
        names.contains("io.github.stacklok/github")
            && names.contains("io.github.stacklok/github-remote")
    );
}

#[test]
fn legacy_file_is_detected_and_converted() {
    let file = registry_file::parse(&read("toolhive-legacy-registry.json")).unwrap();
    assert_eq!(file.format_name(), "legacy registry");
    assert_eq!(file.server_count(), 102);
    let from_legacy = file.into_servers().unwrap();
    let bundled = registry_file::parse(&read("registry.json"))
        .unwrap()
        .into_servers()
        .unwrap();
    assert_eq!(from_legacy, bundled);
}

#[test]
fn server_list_is_detected() {
    let bundled = registry_file::parse(&read("registry.json"))
        .unwrap()
        .into_servers()
        .unwrap();
    let list = serde_json::to_vec(&bundled[..3]).unwrap();
    let file = registry_file::parse(&list).unwrap();
    assert_eq!(file.format_name(), "server list");
    let upstream = file.into_upstream().unwrap();
    assert_eq!(upstream.data.servers, bundled[..3]);
    assert_eq!(
        upstream.schema.as_deref(),
        Some(UPSTREAM_REGISTRY_SCHEMA_URL)
    );
}

#[test]
fn truncated_file_reports_where_it_ends() {
    let bytes = read("registry.json");
    let cut = &bytes[..bytes.len() / 2];
    let err = registry_file::parse(cut).unwrap_err();
    let RegistryFileError::Truncated { line, column, .. } = &err else {
        panic!("not reported as truncated: {err}")
    };
    let expected_line = cut.iter().filter(|b| **b == b'\n').count() + 1;
    assert_eq!(*line, expected_line);
    assert!(*column > 0);
    let msg = err.to_string();
    assert!(
        msg.contains("truncated") && msg.contains(&format!("line {line}")),
        "{msg}"
    );

    let msg = parse_err(b"{\"data\": {\"servers\": [}");
    assert!(
        msg.contains("not valid JSON") && msg.contains("line 1, column"),
        "{msg}"
    );
}

#[test]
fn wrong_wrappers_say_what_is_expected() {
    const EXPECTED: &str = "expected an upstream registry {data: {servers}}, a legacy registry {servers: {NAME: ...}}, a registry API list response {servers: [{server, _meta}]}, or an array of server.json";
    for (input, found) in [
        (&b"{}"[..], "an empty object"),
        (
            br#"{"items": [], "count": 0}"#,
            "an object with keys `items`, `count`",
        ),
        (br#""registry""#, "a string"),
        (b"42", "a number"),
        (b"null", "null"),
    ] {
        let msg = parse_err(input);
        assert!(msg.contains(EXPECTED) && msg.contains(found), "{msg}");
    }
    let msg = parse_err(b"");
    assert!(msg.contains("empty") && msg.contains(EXPECTED), "{msg}");

    // Close to a registry, but not quite.
    let msg = parse_err(br#"{"data": {"items": []}}"#);
    assert!(
        msg.contains("data.servers") && msg.contains("missing"),
        "{msg}"
    );
    let msg = parse_err(br#"{"data": {"servers": {"fetch": {}}}}"#);
    assert!(
        msg.contains("data.servers") && msg.contains("legacy"),
        "{msg}"
    );
    // A registry API list response is a registry file; an item without a version is named by its path.
    let msg = parse_err(
        br#"{"servers": [{"server": {"name": "a.b/c"}, "_meta": {}}], "metadata": {"count": 1}}"#,
    );
    assert!(
        msg.contains("registry API list response: servers[0].server (a.b/c)")
            && msg.contains("version"),
        "{msg}"
    );
    let msg = parse_err(br#"{"name": "io.github.x/y", "description": "d", "version": "1.0.0"}"#);
    assert!(msg.contains("single server.json"), "{msg}");
}

#[test]
fn a_server_missing_its_name_is_named_by_position() {
    let doc = json!({
        "version": "1.0.0", "meta": {},
        "data": {"servers": [
            {"name": "io.github.x/ok", "description": "fine", "version": "1.0.0"},
            {"description": "nameless", "version": "1.0.0"}
        ]}
    });
    let msg = parse_err(doc.to_string().as_bytes());
    assert!(
        msg.contains("upstream registry")
            && msg.contains("data.servers[1]")
            && msg.contains("`name`"),
        "{msg}"
    );

    let msg = parse_err(br#"[{"name": "io.github.x/y", "description": "d"}]"#);
    assert!(
        msg.contains("server list")
            && msg.contains("[0] (io.github.x/y)")
            && msg.contains("`version`"),
        "{msg}"
    );

    let msg = parse_err(br#"{"servers": {"fetch": {"description": "d", "target_port": "8080"}}}"#);
    assert!(
        msg.contains("legacy registry") && msg.contains("servers.fetch"),
        "{msg}"
    );

    // A legacy entry that parses but cannot be converted names the server and the field.
    let file = registry_file::parse(br#"{"servers": {"fetch": {"description": "no image here"}}}"#)
        .unwrap();
    let msg = file.into_servers().unwrap_err().to_string();
    assert_eq!(msg, "server 'fetch': missing required field `image`");
}

#[test]
fn garbage_never_panics() {
    let bundled = read("registry.json");
    let inputs: Vec<Vec<u8>> = vec![
        vec![0xff, 0xfe, 0x00],
        b"\xEF\xBB\xBF[]".to_vec(),
        b"[[[[[[[[[[".to_vec(),
        b"{\"data\": null}".to_vec(),
        b"{\"data\": {\"servers\": [1, \"x\", null]}}".to_vec(),
        b"{\"servers\": {\"a\": 1}}".to_vec(),
        b"{\"remote_servers\": []}".to_vec(),
        b"{\"servers\": {}, \"groups\": \"x\"}".to_vec(),
        b"{\"data\": {\"servers\": [], \"groups\": 3}}".to_vec(),
        bundled[..1].to_vec(),
        bundled[..bundled.len() - 2].to_vec(),
    ];
    for input in inputs {
        if let Ok(file) = registry_file::parse(&input) {
            let _ = file.clone().into_servers();
            if let Ok(up) = file.into_upstream() {
                let _ = upstream_to_legacy(&up);
            }
        }
    }
    // An empty array and a BOM are fine.
    assert_eq!(
        registry_file::parse(b"\xEF\xBB\xBF[]")
            .unwrap()
            .server_count(),
        0
    );
}

#[test]
fn server_documents_read_every_format_lazily() {
    use thv_core::registry_file::ServerDocuments;
    let bundled = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../data/registry.json"
    ))
    .unwrap();
    let docs = ServerDocuments::read(&bundled).unwrap();
    assert_eq!(docs.len(), 102);
    let whole = thv_core::registry_file::parse(&bundled)
        .unwrap()
        .into_servers()
        .unwrap();
    for (i, server) in whole.iter().enumerate() {
        assert_eq!(&docs.get(i).unwrap(), server);
        assert_eq!(
            docs.identity(i).unwrap(),
            (server.name.clone(), server.version.clone())
        );
    }
    let legacy = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../data/toolhive-legacy-registry.json"
    ))
    .unwrap();
    assert_eq!(ServerDocuments::read(&legacy).unwrap().len(), 102);
    let list = serde_json::to_vec(&whole[..3]).unwrap();
    let docs = ServerDocuments::read(&list).unwrap();
    assert_eq!(docs.len(), 3);
    assert_eq!(docs.get(2).unwrap(), whole[2]);

    for (bad, expect) in [
        (&b""[..], "empty"),
        (b"   ", "empty"),
        (b"[{\"name\": 1}", "truncated"),
        (b"{\"data\": 5}", "data"),
        (b"{\"data\": {}}", "data.servers"),
        (b"42", "unrecognised"),
    ] {
        let err = ServerDocuments::read(bad)
            .err()
            .unwrap_or_else(|| panic!("{:?} accepted", String::from_utf8_lossy(bad)));
        assert!(
            err.to_string().contains(expect),
            "{:?}: {err}",
            String::from_utf8_lossy(bad)
        );
    }
    let docs = ServerDocuments::read(b"[{\"name\": \"a.b/c\"}, 7]").unwrap();
    assert!(docs.get(0).unwrap_err().to_string().contains("[0]"));
    assert!(docs.get(1).unwrap_err().to_string().contains("[1]"));
    assert!(docs.identity(1).is_err());
}
