use super::*;

fn resource(kind: ClusterKind, name: &str, annotations: &[(&str, &str)]) -> ClusterResource {
    ClusterResource {
        kind,
        namespace: "Team-A".into(),
        name: name.into(),
        uid: "u-1".into(),
        annotations: annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        image: (kind == ClusterKind::McpServer).then(|| "ghcr.io/acme/fetch:v2.1.0".to_owned()),
        transport: (kind == ClusterKind::McpServer).then(|| "stdio".to_owned()),
        mcp_port: None,
    }
}

const PUBLISH: [(&str, &str); 3] = [
    (EXPORT, "true"),
    (URL, "http://fetch.team-a.svc:8080/mcp"),
    (DESCRIPTION, "Fetches pages"),
];

#[test]
fn an_exported_mcpserver_becomes_an_entry_as_toolhive_registry_server_makes_it() {
    let mut annotations = PUBLISH.to_vec();
    annotations.extend([
        (TITLE, "Fetch"),
        (CATEGORY, "web"),
        (TOOLS, r#"["fetch"]"#),
        (TOOL_DEFINITIONS, "not json"),
    ]);
    let r = resource(ClusterKind::McpServer, "My_Fetch", &annotations);
    let Published::Entry(doc) = r.publish() else {
        panic!("not published")
    };
    assert_eq!(doc["name"], "com.toolhive.k8s.team-a/my_fetch");
    assert_eq!(doc["version"], "v2.1.0", "the image tag");
    assert_eq!(doc["title"], "Fetch");
    assert_eq!(
        doc["remotes"],
        json!([{"type": "streamable-http", "url": "http://fetch.team-a.svc:8080/mcp"}])
    );
    assert_eq!(
        doc["packages"][0]["identifier"],
        "ghcr.io/acme/fetch:v2.1.0"
    );
    assert_eq!(doc["packages"][0]["transport"], json!({"type": "stdio"}));
    let ext = &doc["_meta"][PUBLISHER_PROVIDED_META][STACKLOK_NAMESPACE]["http://fetch.team-a.svc:8080/mcp"];
    assert_eq!(ext["status"], "active");
    assert_eq!(ext["tools"], json!(["fetch"]));
    assert!(ext.get("tool_definitions").is_none(), "not JSON: ignored");
    assert_eq!(ext["tags"], json!(["web"]));
    assert_eq!(
        ext["metadata"]["kubernetes"],
        json!({"kind": "MCPServer", "namespace": "Team-A", "name": "My_Fetch", "uid": "u-1",
               "image": "ghcr.io/acme/fetch:v2.1.0", "transport": "stdio"})
    );
    let report = crate::validate::validate_value(&doc, crate::validate::SchemaPolicy::Publish);
    assert!(report.valid, "{report:?}");
}

#[test]
fn an_http_mcpserver_package_is_reached_at_its_mcp_port() {
    let mut r = resource(ClusterKind::McpServer, "http-one", &PUBLISH);
    r.transport = Some("streamable-http".into());
    r.mcp_port = Some(9000);
    let Published::Entry(doc) = r.publish() else {
        panic!()
    };
    assert_eq!(
        doc["packages"][0]["transport"],
        json!({"type": "streamable-http", "url": "http://localhost:9000/mcp"})
    );
    let report = crate::validate::validate_value(&doc, crate::validate::SchemaPolicy::Publish);
    assert!(report.valid, "{report:?}");
}

#[test]
fn versions_come_from_the_annotation_then_the_tag_then_1_0_0() {
    let mut r = resource(ClusterKind::McpServer, "x", &PUBLISH);
    r.annotations.insert(VERSION.into(), " 3.0.0-rc.1 ".into());
    assert_eq!(r.version(), "3.0.0-rc.1");
    r.annotations.insert(VERSION.into(), "1.0.0+build".into());
    assert_eq!(r.version(), "v2.1.0", "build metadata is not publishable");
    r.image = Some("registry:5000/acme/fetch@sha256:abc".into());
    assert_eq!(r.version(), "1.0.0", "a digest, and a port, are no tag");
    r.image = Some("acme/fetch:latest".into());
    assert_eq!(r.version(), "1.0.0");
}

#[test]
fn only_exactly_true_exports_and_what_is_missing_is_said() {
    let r = resource(
        ClusterKind::McpRemoteProxy,
        "p",
        &[(EXPORT, "True"), (URL, "u")],
    );
    assert_eq!(r.publish(), Published::No);
    let r = resource(
        ClusterKind::McpRemoteProxy,
        "p",
        &[(EXPORT, "true"), (URL, "http://p")],
    );
    let Published::Refused(Refusal { reason, server, .. }) = r.publish() else {
        panic!()
    };
    assert_eq!(server, "com.toolhive.k8s.team-a/p");
    assert!(
        reason.contains("MCPRemoteProxy Team-A/p") && reason.contains(DESCRIPTION),
        "{reason}"
    );
}

#[test]
fn per_entry_claims_are_refused_rather_than_shown_to_everyone() {
    let mut annotations = PUBLISH.to_vec();
    annotations.push((CLAIMS, r#"{"team": "a"}"#));
    let r = resource(ClusterKind::VirtualMcpServer, "v", &annotations);
    let Published::Refused(Refusal { reason, .. }) = r.publish() else {
        panic!()
    };
    assert!(reason.contains(CLAIMS), "{reason}");
}

#[test]
fn a_name_two_kinds_share_goes_to_the_mcpserver() {
    let resources = [
        resource(ClusterKind::VirtualMcpServer, "same", &PUBLISH),
        resource(ClusterKind::McpServer, "same", &PUBLISH),
        resource(ClusterKind::McpRemoteProxy, "other", &PUBLISH),
    ];
    let (entries, refused) = publish_all(&resources);
    assert_eq!(entries.len(), 2);
    assert!(entries[0]["packages"].is_array(), "the MCPServer's");
    let [Refusal { reason, .. }] = refused.as_slice() else {
        panic!("{refused:?}")
    };
    assert!(
        reason.starts_with("VirtualMCPServer Team-A/same")
            && reason.contains("MCPServer Team-A/same"),
        "{reason}"
    );
}

#[test]
fn optional_fields_server_json_would_refuse_are_left_out() {
    let long = "t".repeat(101);
    let mut annotations = PUBLISH.to_vec();
    annotations.extend([(TITLE, long.as_str()), (ICON, "javascript:alert(1)")]);
    let Published::Entry(doc) = resource(ClusterKind::McpRemoteProxy, "p1", &annotations).publish()
    else {
        panic!()
    };
    assert!(
        doc.get("title").is_none() && doc.get("icons").is_none(),
        "{doc}"
    );
    let mut annotations = PUBLISH.to_vec();
    annotations.extend([(TITLE, "Docs"), (ICON, "https://cdn.example.com/i.png")]);
    let Published::Entry(doc) = resource(ClusterKind::McpRemoteProxy, "p1", &annotations).publish()
    else {
        panic!()
    };
    assert_eq!(
        doc["icons"],
        json!([{"src": "https://cdn.example.com/i.png"}])
    );
    let report = crate::validate::validate_value(&doc, crate::validate::SchemaPolicy::Publish);
    assert!(report.valid, "{report:?}");
}
