//! Schema and semantic validation of server.json (`thv_core::validate`).

use serde_json::{Value, json};
use thv_core::server::{CURRENT_SCHEMA_URL, PUBLISHER_PROVIDED_META, ServerJson};
use thv_core::validate::{
    IssueType, MAX_PUBLISHER_META_BYTES, SchemaPolicy, Severity, ValidationIssue, ValidationResult,
    publisher_meta_error, server_name_error, validate_bytes, validate_server, validate_value,
};

fn full_example() -> Value {
    json!({
        "$schema": CURRENT_SCHEMA_URL,
        "name": "io.github.example/weather",
        "title": "Weather",
        "description": "Weather forecasts for any city",
        "version": "1.2.0",
        "websiteUrl": "https://example.com/weather",
        "repository": {"url": "https://github.com/example/weather", "source": "github", "id": "123", "subfolder": "servers/weather"},
        "icons": [{"src": "https://example.com/icon.png", "mimeType": "image/png", "sizes": ["48x48"], "theme": "light"}],
        "packages": [
            {
                "registryType": "npm",
                "registryBaseUrl": "https://registry.npmjs.org",
                "identifier": "@example/weather",
                "version": "1.2.0",
                "runtimeHint": "npx",
                "transport": {"type": "stdio"},
                "runtimeArguments": [{"type": "named", "name": "--yes"}],
                "packageArguments": [
                    {"type": "positional", "valueHint": "target_dir", "value": "/data"},
                    {"type": "named", "name": "--units", "default": "metric", "choices": ["metric", "imperial"]}
                ],
                "environmentVariables": [{"name": "WEATHER_API_KEY", "isRequired": true, "isSecret": true}]
            },
            {
                "registryType": "oci",
                "identifier": "ghcr.io/example/weather:1.2.0",
                "transport": {"type": "streamable-http", "url": "http://localhost:{port}/mcp",
                    "headers": [{"name": "Authorization", "value": "Bearer {token}", "variables": {"token": {"isSecret": true}}}]},
                "packageArguments": [{"type": "named", "name": "--port", "valueHint": "port", "default": "8080"}]
            }
        ],
        "remotes": [
            {"type": "streamable-http", "url": "https://api.example.com/mcp"},
            {"type": "sse", "url": "https://{tenant}.example.com/sse", "variables": {"tenant": {"description": "Tenant", "isRequired": true}}}
        ],
        "_meta": {PUBLISHER_PROVIDED_META: {"tool": "example", "tags": ["weather"]}}
    })
}

/// The full example with one change applied through a JSON pointer.
fn with(pointer: &str, value: Value) -> Value {
    let mut doc = full_example();
    set(&mut doc, pointer, value);
    doc
}

fn set(doc: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = doc
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("no parent for {pointer}"));
    match target {
        Value::Object(map) => {
            map.insert(key.replace("~1", "/").replace("~0", "~"), value);
        }
        Value::Array(items) => items[key.parse::<usize>().unwrap()] = value,
        _ => panic!("cannot set {pointer}"),
    }
}

fn without(pointer: &str) -> Value {
    let mut doc = full_example();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    doc.pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove(key);
    doc
}

fn publish(doc: &Value) -> ValidationResult {
    validate_value(doc, SchemaPolicy::Publish)
}

/// The one issue with this reference (panics with the full result when there is none or several).
fn issue<'a>(result: &'a ValidationResult, reference: &str) -> &'a ValidationIssue {
    let found: Vec<_> = result
        .issues
        .iter()
        .filter(|i| i.reference == reference)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one '{reference}' issue in {:#?}",
        result.issues
    );
    found[0]
}

/// Asserts a single semantic error with this reference at this path, and returns its message.
fn semantic_error(doc: &Value, reference: &str, path: &str) -> String {
    let result = publish(doc);
    assert!(!result.valid);
    let i = issue(&result, reference);
    assert_eq!(i.path, path, "{i:#?}");
    assert_eq!(i.severity, Severity::Error, "{i:#?}");
    assert_eq!(i.issue_type, IssueType::Semantic, "{i:#?}");
    i.message.clone()
}

fn semantic_refs(result: &ValidationResult) -> Vec<&str> {
    result
        .issues
        .iter()
        .filter(|i| i.issue_type == IssueType::Semantic)
        .map(|i| i.reference.as_str())
        .collect()
}

#[test]
fn full_example_is_valid_under_both_policies() {
    for policy in [SchemaPolicy::Publish, SchemaPolicy::Validate] {
        let result = validate_value(&full_example(), policy);
        assert!(result.valid, "{:#?}", result.issues);
        assert!(result.issues.is_empty(), "{:#?}", result.issues);
    }
    let typed: ServerJson = serde_json::from_value(full_example()).unwrap();
    assert_eq!(
        validate_server(&typed, SchemaPolicy::Publish),
        publish(&full_example())
    );
    let bytes = serde_json::to_vec(&full_example()).unwrap();
    assert_eq!(
        validate_bytes(&bytes, SchemaPolicy::Publish),
        publish(&full_example())
    );
}

#[test]
fn issues_serialize_in_the_registry_shape() {
    let result = publish(&with("/title", json!("   ")));
    let v = serde_json::to_value(&result).unwrap();
    assert_eq!(
        v,
        json!({"valid": false, "issues": [{"type": "semantic", "path": "title", "message": "title cannot be only whitespace",
            "severity": "error", "reference": "title-whitespace-only"}]})
    );
    let back: ValidationResult = serde_json::from_value(v).unwrap();
    assert_eq!(back, result);
    assert_eq!(
        serde_json::to_value(Severity::Warning).unwrap(),
        json!("warning")
    );
    assert_eq!(
        serde_json::to_value(IssueType::Linter).unwrap(),
        json!("linter")
    );
}

// ---- $schema ----

#[test]
fn schema_field_required() {
    let msg = semantic_error(&without("/$schema"), "schema-field-required", "$schema");
    assert_eq!(msg, "$schema field is required");
    let msg = semantic_error(
        &with("/$schema", json!("")),
        "schema-field-required",
        "$schema",
    );
    assert_eq!(msg, "$schema field is required");
}

#[test]
fn schema_url_must_name_a_version() {
    let result = publish(&with(
        "/$schema",
        json!("https://example.com/my-schema.json"),
    ));
    let i = issue(&result, "schema-version-extraction-error");
    assert_eq!(
        (i.path.as_str(), i.severity, i.issue_type),
        ("$schema", Severity::Error, IssueType::Schema)
    );
    assert!(
        i.message
            .contains("invalid schema URL format: https://example.com/my-schema.json"),
        "{}",
        i.message
    );
}

#[test]
fn schema_version_must_be_known() {
    let doc = with(
        "/$schema",
        json!("https://static.modelcontextprotocol.io/schemas/2099-01-01/server.schema.json"),
    );
    for policy in [SchemaPolicy::Publish, SchemaPolicy::Validate] {
        let result = validate_value(&doc, policy);
        assert!(!result.valid);
        let i = issue(&result, "schema-version-not-available");
        assert_eq!(
            (i.path.as_str(), i.severity, i.issue_type),
            ("$schema", Severity::Error, IssueType::Schema)
        );
        assert!(
            i.message
                .contains("schema version 2099-01-01 not available"),
            "{}",
            i.message
        );
    }
}

#[test]
fn non_current_schema_is_an_error_on_publish_and_a_warning_on_validate() {
    let doc = with(
        "/$schema",
        json!("https://static.modelcontextprotocol.io/schemas/2025-10-17/server.schema.json"),
    );
    let doc = {
        // 2025-10-17 has no `variables` on remotes; keep the document valid for that version.
        let mut d = doc;
        d["remotes"].as_array_mut().unwrap().truncate(1);
        d
    };

    let published = validate_value(&doc, SchemaPolicy::Publish);
    assert!(!published.valid);
    let i = issue(&published, "schema-version-deprecated");
    assert_eq!(
        (i.path.as_str(), i.severity, i.issue_type),
        ("$schema", Severity::Error, IssueType::Semantic)
    );
    assert_eq!(
        i.message,
        "schema version 2025-10-17 is not the current version (2025-12-11). Use the current schema version"
    );
    assert_eq!(published.issues.len(), 1, "{:#?}", published.issues);

    let validated = validate_value(&doc, SchemaPolicy::Validate);
    assert!(validated.valid, "{:#?}", validated.issues);
    let i = issue(&validated, "schema-version-deprecated");
    assert_eq!(i.severity, Severity::Warning);
    assert!(
        i.message
            .starts_with("schema version 2025-10-17 is not the current version (2025-12-11)")
    );
    assert_eq!(validated.issues.len(), 1);
}

#[test]
fn old_documents_are_checked_against_the_schema_they_declare() {
    // 2025-07-09 used snake_case: such a package is valid for its own schema but not for the current one.
    let old = json!({
        "$schema": "https://static.modelcontextprotocol.io/schemas/2025-07-09/server.schema.json",
        "name": "io.github.example/old", "description": "Old", "version": "1.0.0",
        "packages": [{"registry_type": "npm", "identifier": "@example/old", "version": "1.0.0", "transport": {"type": "stdio"}}]
    });
    let result = validate_value(&old, SchemaPolicy::Validate);
    assert!(result.valid, "{:#?}", result.issues);
    // The document does not parse as a current server.json, but the `$schema` rules still apply.
    assert_eq!(result.issues.len(), 1, "{:#?}", result.issues);
    assert_eq!(
        (
            result.issues[0].reference.as_str(),
            result.issues[0].severity
        ),
        ("schema-version-deprecated", Severity::Warning)
    );
    assert!(!validate_value(&old, SchemaPolicy::Publish).valid);

    let mut current = old.clone();
    current["$schema"] = json!(CURRENT_SCHEMA_URL);
    let result = validate_value(&current, SchemaPolicy::Validate);
    assert!(!result.valid);
    let i = result
        .issues
        .iter()
        .find(|i| i.path == "packages[0].registryType")
        .unwrap();
    assert_eq!(
        (i.issue_type, i.reference.as_str()),
        (IssueType::Schema, "#/definitions/Package/required")
    );
}

#[test]
fn canonical_url_of_the_current_version_is_required() {
    let doc = with(
        "/$schema",
        json!("http://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"),
    );
    let result = publish(&doc);
    let i = issue(&result, "schema-version-deprecated");
    assert!(i.message.contains("not the canonical URL"), "{}", i.message);
    assert_eq!(
        validate_value(&doc, SchemaPolicy::Validate).issues[0].severity,
        Severity::Warning
    );
}

// ---- name and version ----

#[test]
fn server_name_rules() {
    let msg = semantic_error(
        &with("/name", json!("io.github.example/a/b")),
        "invalid-server-name",
        "name",
    );
    assert_eq!(msg, "server name cannot contain multiple slashes");
    let msg = semantic_error(
        &with("/name", json!("-example.com/server")),
        "invalid-server-name",
        "name",
    );
    assert!(msg.contains("namespace '-example.com' is invalid"), "{msg}");
    let msg = semantic_error(
        &with("/name", json!("com.example/server_")),
        "invalid-server-name",
        "name",
    );
    assert!(msg.contains("name 'server_' is invalid"), "{msg}");
    // The same rule is reused for path parameters.
    assert_eq!(
        server_name_error("a.b/c/d").as_deref(),
        Some("server name cannot contain multiple slashes")
    );
    assert_eq!(server_name_error("com.example/server"), None);
}

#[test]
fn server_version_rules() {
    let msg = semantic_error(
        &with("/version", json!("latest")),
        "reserved-version-string",
        "version",
    );
    assert_eq!(
        msg,
        "version string 'latest' is reserved and cannot be used"
    );
    let msg = semantic_error(
        &with("/version", json!("^1.2.3")),
        "version-looks-like-range",
        "version",
    );
    assert_eq!(
        msg,
        "version must be a specific version, not a range: \"^1.2.3\""
    );
    semantic_error(
        &with("/version", json!(">=1.0 || 2.x")),
        "version-looks-like-range",
        "version",
    );
    let msg = semantic_error(&with("/version", json!("")), "version-required", "version");
    assert_eq!(msg, "version is required");
    let long = "1".repeat(256);
    let result = publish(&with("/version", json!(long)));
    assert!(
        issue(&result, "version-too-long")
            .message
            .contains("at most 255")
    );
    // The schema's maxLength reports it too, as a schema issue on the same path.
    assert!(
        result
            .issues
            .iter()
            .any(|i| i.issue_type == IssueType::Schema && i.path == "version")
    );
}

#[test]
fn package_version_rules() {
    semantic_error(
        &with("/packages/0/version", json!("1.x")),
        "version-looks-like-range",
        "packages[0].version",
    );
    let result = publish(&with("/packages/0/version", json!("latest")));
    assert_eq!(
        issue(&result, "reserved-version-string").path,
        "packages[0].version"
    );
    // `not: {const: "latest"}` in the schema also fires.
    assert!(
        result
            .issues
            .iter()
            .any(|i| i.issue_type == IssueType::Schema && i.path == "packages[0].version")
    );
}

// ---- repository, website, title, icons ----

#[test]
fn repository_url_must_match_its_source() {
    let msg = semantic_error(
        &with("/repository/url", json!("https://github.com/example")),
        "invalid-repository-url",
        "repository.url",
    );
    assert!(
        msg.starts_with("invalid repository URL: https://github.com/example"),
        "{msg}"
    );
    let gitlab = json!({"url": "https://gitlab.com/group/sub/project", "source": "gitlab"});
    assert!(publish(&with("/repository", gitlab)).valid);
    let msg = semantic_error(
        &with(
            "/repository",
            json!({"url": "https://bitbucket.org/a/b", "source": "bitbucket"}),
        ),
        "invalid-repository-url",
        "repository.url",
    );
    assert!(msg.contains("'bitbucket' is not supported"), "{msg}");
}

#[test]
fn repository_is_skipped_when_url_and_source_are_empty() {
    let result = publish(&with("/repository", json!({"url": "", "source": ""})));
    assert!(!semantic_refs(&result).contains(&"invalid-repository-url"));
}

#[test]
fn repository_subfolder_must_be_clean_and_relative() {
    for bad in [
        "../outside",
        "/abs",
        "a//b",
        "a/./b",
        "trailing/",
        "with space",
    ] {
        let msg = semantic_error(
            &with("/repository/subfolder", json!(bad)),
            "invalid-subfolder-path",
            "repository.subfolder",
        );
        assert!(
            msg.starts_with(&format!("invalid subfolder path: {bad}")),
            "{msg}"
        );
    }
}

#[test]
fn website_url_must_be_absolute_https() {
    let msg = semantic_error(
        &with("/websiteUrl", json!("http://example.com")),
        "website-url-invalid-scheme",
        "websiteUrl",
    );
    assert_eq!(msg, "websiteUrl must use https scheme: http://example.com");
    let doc = with("/websiteUrl", json!("example.com/docs"));
    let msg = semantic_error(&doc, "website-url-must-be-absolute", "websiteUrl");
    assert_eq!(
        msg,
        "websiteUrl must be absolute (include scheme): example.com/docs"
    );
    semantic_error(&doc, "website-url-invalid-scheme", "websiteUrl");
}

#[test]
fn title_must_not_be_whitespace_only() {
    let msg = semantic_error(
        &with("/title", json!(" \t ")),
        "title-whitespace-only",
        "title",
    );
    assert_eq!(msg, "title cannot be only whitespace");
}

#[test]
fn icon_src_must_be_absolute_https() {
    let msg = semantic_error(
        &with("/icons/0/src", json!("http://example.com/i.png")),
        "icon-src-invalid-scheme",
        "icons[0].src",
    );
    assert_eq!(
        msg,
        "icon src must use https scheme (got http): http://example.com/i.png"
    );
    let msg = semantic_error(
        &with("/icons/0/src", json!("data:image/png;base64,AAAA")),
        "icon-src-invalid-scheme",
        "icons[0].src",
    );
    assert!(msg.contains("(got data)"), "{msg}");
    semantic_error(
        &with("/icons/0/src", json!("icon.png")),
        "icon-src-not-absolute",
        "icons[0].src",
    );
}

// ---- packages ----

#[test]
fn package_identifier_has_no_spaces() {
    let msg = semantic_error(
        &with("/packages/0/identifier", json!("@example/my weather")),
        "package-name-has-spaces",
        "packages[0].identifier",
    );
    assert!(
        msg.starts_with("package name cannot contain spaces"),
        "{msg}"
    );
}

#[test]
fn named_argument_needs_a_name() {
    let doc = with(
        "/packages/0/runtimeArguments/0",
        json!({"type": "named", "value": "x"}),
    );
    let msg = semantic_error(
        &doc,
        "named-argument-name-required",
        "packages[0].runtimeArguments[0].name",
    );
    assert_eq!(msg, "named argument name is required");
}

#[test]
fn named_argument_name_has_no_embedded_value() {
    for bad in ["--dir <path>", "--port 8080", "--token=$TOKEN", "<x>"] {
        let doc = with("/packages/0/packageArguments/1/name", json!(bad));
        let msg = semantic_error(
            &doc,
            "invalid-named-argument-name",
            "packages[0].packageArguments[1].name",
        );
        assert!(
            msg.starts_with(&format!("invalid named argument name format: {bad}")),
            "{msg}"
        );
    }
}

#[test]
fn named_argument_value_and_default_do_not_repeat_the_name() {
    let doc = with(
        "/packages/0/packageArguments/1/value",
        json!("--units=metric"),
    );
    let msg = semantic_error(
        &doc,
        "argument-value-starts-with-name",
        "packages[0].packageArguments[1].value",
    );
    assert!(
        msg.contains("value starts with argument name '--units': --units=metric"),
        "{msg}"
    );
    let doc = with(
        "/packages/0/packageArguments/1/default",
        json!("--units metric"),
    );
    let msg = semantic_error(
        &doc,
        "argument-default-starts-with-name",
        "packages[0].packageArguments[1].default",
    );
    assert!(
        msg.contains("default starts with argument name '--units'"),
        "{msg}"
    );
}

#[test]
fn positional_argument_needs_value_or_value_hint() {
    let doc = with(
        "/packages/0/packageArguments/0",
        json!({"type": "positional", "description": "dir"}),
    );
    let msg = semantic_error(
        &doc,
        "positional-argument-value-required",
        "packages[0].packageArguments[0]",
    );
    assert_eq!(
        msg,
        "positional argument must provide a value or a valueHint"
    );
    // The schema's anyOf(required valueHint, required value) fires too, naming the alternatives.
    let result = publish(&doc);
    let schema_issue = result
        .issues
        .iter()
        .find(|i| i.issue_type == IssueType::Schema)
        .unwrap();
    assert_eq!(schema_issue.path, "packages[0].packageArguments[0]");
    assert!(
        schema_issue.message.contains("PositionalArgument"),
        "{}",
        schema_issue.message
    );
}

#[test]
fn argument_type_must_be_positional_or_named() {
    let doc = with("/packages/0/packageArguments/0/type", json!("flag"));
    let msg = semantic_error(
        &doc,
        "invalid-argument-type",
        "packages[0].packageArguments[0].type",
    );
    assert!(
        msg.starts_with("argument type must be 'positional' or 'named'"),
        "{msg}"
    );
}

#[test]
fn stdio_transport_has_no_url() {
    let doc = with(
        "/packages/0/transport",
        json!({"type": "stdio", "url": "http://localhost:3000"}),
    );
    let msg = semantic_error(
        &doc,
        "stdio-transport-url-not-empty",
        "packages[0].transport.url",
    );
    assert_eq!(
        msg,
        "url must be empty for stdio transport type, got: http://localhost:3000"
    );
}

#[test]
fn http_package_transport_needs_a_url() {
    let doc = with("/packages/1/transport", json!({"type": "sse"}));
    let msg = semantic_error(
        &doc,
        "streamable-transport-url-required",
        "packages[1].transport.url",
    );
    assert_eq!(msg, "url is required for sse transport type");
}

#[test]
fn package_transport_templates_must_be_declared() {
    let doc = with(
        "/packages/1/transport/url",
        json!("http://localhost:{port}/{base_path}"),
    );
    let msg = semantic_error(&doc, "invalid-templated-url", "packages[1].transport.url");
    assert!(
        msg.starts_with("invalid package transport URL: template variables in URL"),
        "{msg}"
    );
    assert!(msg.contains("(base_path)"), "{msg}");
    // Environment variable names count as declared.
    let mut ok = doc.clone();
    ok["packages"][1]["environmentVariables"] = json!([{"name": "base_path"}]);
    assert!(publish(&ok).valid, "{:#?}", publish(&ok).issues);
    // Not an http(s) URL with a host at all.
    let msg = semantic_error(
        &with(
            "/packages/1/transport/url",
            json!("ftp://example.com:{port}"),
        ),
        "invalid-templated-url",
        "packages[1].transport.url",
    );
    assert!(
        msg.starts_with("invalid package transport URL: ftp://example.com:{port}"),
        "{msg}"
    );
}

#[test]
fn unsupported_package_transport_type() {
    let doc = with("/packages/0/transport", json!({"type": "websocket"}));
    let msg = semantic_error(
        &doc,
        "unsupported-transport-type",
        "packages[0].transport.type",
    );
    assert_eq!(msg, "unsupported transport type: websocket");
    let result = publish(&doc);
    let schema_issue = result
        .issues
        .iter()
        .find(|i| i.issue_type == IssueType::Schema)
        .unwrap();
    assert_eq!(schema_issue.path, "packages[0].transport");
    assert!(
        schema_issue.message.contains("StdioTransport"),
        "{}",
        schema_issue.message
    );
}

// ---- remotes ----

#[test]
fn remotes_are_streamable_http_or_sse() {
    let doc = with("/remotes/0/type", json!("stdio"));
    let msg = semantic_error(&doc, "unsupported-remote-transport-type", "remotes[0].type");
    assert_eq!(
        msg,
        "unsupported transport type for remotes: stdio (only streamable-http and sse are supported)"
    );
}

#[test]
fn remote_url_is_required() {
    let msg = semantic_error(
        &with("/remotes/0", json!({"type": "sse"})),
        "remote-transport-url-required",
        "remotes[0].url",
    );
    assert_eq!(msg, "url is required for sse transport type");
}

#[test]
fn remote_url_must_not_be_localhost() {
    for bad in [
        "https://localhost:8080/mcp",
        "http://127.0.0.1/mcp",
        "https://[::1]/mcp",
        "https://app.localhost/mcp",
    ] {
        let msg = semantic_error(
            &with("/remotes/0/url", json!(bad)),
            "invalid-remote-url",
            "remotes[0].url",
        );
        assert!(
            msg.starts_with(&format!("invalid remote URL: {bad}")),
            "{msg}"
        );
    }
}

#[test]
fn remote_templates_must_be_declared_in_variables() {
    let doc = with("/remotes/1/variables", json!({"region": {}}));
    let msg = semantic_error(&doc, "invalid-templated-url", "remotes[1].url");
    assert!(
        msg.starts_with(
            "invalid remote URL: template variables in URL https://{tenant}.example.com/sse"
        ),
        "{msg}"
    );
    assert!(msg.contains("Available variables: [region]"), "{msg}");
    let mut no_vars = full_example();
    no_vars["remotes"][1]
        .as_object_mut()
        .unwrap()
        .remove("variables");
    semantic_error(&no_vars, "invalid-templated-url", "remotes[1].url");
}

// ---- _meta ----

#[test]
fn publisher_meta_is_limited_to_4kb() {
    assert_eq!(MAX_PUBLISHER_META_BYTES, 4096);
    let typed: ServerJson = serde_json::from_value(full_example()).unwrap();
    assert_eq!(publisher_meta_error(&typed), None);
    // {"k":"…"} is 8 bytes plus the string.
    let fits: ServerJson = serde_json::from_value(with(
        &format!("/_meta/{}", PUBLISHER_PROVIDED_META.replace('/', "~1")),
        json!({"k": "x".repeat(4088)}),
    ))
    .unwrap();
    assert_eq!(publisher_meta_error(&fits), None);
    let too_big: ServerJson = serde_json::from_value(with(
        &format!("/_meta/{}", PUBLISHER_PROVIDED_META.replace('/', "~1")),
        json!({"k": "x".repeat(4089)}),
    ))
    .unwrap();
    let msg = publisher_meta_error(&too_big).unwrap();
    assert!(
        msg.starts_with(&format!(
            "_meta.{PUBLISHER_PROVIDED_META} extension exceeds 4KB limit (4097 bytes"
        )),
        "{msg}"
    );
    // `<` counts as `\u003c`, as in the official registry (Go's encoding/json).
    let escaped: ServerJson = serde_json::from_value(with(
        &format!("/_meta/{}", PUBLISHER_PROVIDED_META.replace('/', "~1")),
        json!({"k": "<".repeat(700)}),
    ))
    .unwrap();
    assert!(publisher_meta_error(&escaped).is_some());
    // The size rule is publish-only: plain validation does not report it.
    assert!(validate_server(&too_big, SchemaPolicy::Publish).valid);
}

// ---- schema issues ----

#[test]
fn schema_issues_have_paths_and_keyword_locations() {
    let result = publish(&with("/description", json!("d".repeat(101))));
    assert!(!result.valid);
    let i = &result.issues[0];
    assert_eq!(
        (i.issue_type, i.path.as_str(), i.severity),
        (IssueType::Schema, "description", Severity::Error)
    );
    assert_eq!(
        i.reference,
        "#/definitions/ServerDetail/properties/description/maxLength"
    );
    assert!(
        i.message
            .contains("description must be at most 100 characters"),
        "{}",
        i.message
    );

    let result = publish(&with("/icons/0/sizes/0", json!("big")));
    let i = &result.issues[0];
    assert_eq!(i.path, "icons[0].sizes[0]");
    assert!(i.reference.ends_with("/pattern"), "{}", i.reference);

    let result = publish(&with("/packages/0/fileSha256", json!("XYZ")));
    assert_eq!(result.issues[0].path, "packages[0].fileSha256");
}

#[test]
fn missing_required_fields_point_at_the_field() {
    let result = publish(&without("/description"));
    assert!(!result.valid);
    let i = &result.issues[0];
    assert_eq!(
        (i.issue_type, i.path.as_str()),
        (IssueType::Schema, "description")
    );
    assert!(i.reference.ends_with("/required"), "{}", i.reference);
    assert!(
        i.message.contains("\"description\" is missing"),
        "{}",
        i.message
    );
}

#[test]
fn wrong_types_give_schema_issues_only() {
    let doc = with("/packages/0/transport", json!("stdio"));
    let result = publish(&doc);
    assert!(!result.valid);
    assert!(
        result
            .issues
            .iter()
            .all(|i| i.issue_type == IssueType::Schema),
        "{:#?}",
        result.issues
    );
    assert!(
        result
            .issues
            .iter()
            .any(|i| i.path == "packages[0].transport")
    );

    let result = publish(&with("/name", json!(42)));
    assert!(
        result
            .issues
            .iter()
            .all(|i| i.issue_type == IssueType::Schema)
    );
    let i = result.issues.iter().find(|i| i.path == "name").unwrap();
    assert_eq!(i.message, "name must be of type string, got integer");
    assert!(i.reference.ends_with("/type"));
}

// ---- bytes ----

#[test]
fn malformed_json_is_one_json_issue() {
    let result = validate_bytes(
        b"{\"name\": \"a/b\",\n  \"version\": }",
        SchemaPolicy::Validate,
    );
    assert!(!result.valid);
    assert_eq!(result.issues.len(), 1);
    let i = &result.issues[0];
    assert_eq!(
        (i.issue_type, i.path.as_str(), i.severity),
        (IssueType::Json, "", Severity::Error)
    );
    assert!(i.message.contains("line 2 column"), "{}", i.message);
    assert_eq!(i.reference, "json-parse-error");
    assert_eq!(
        validate_bytes(b"", SchemaPolicy::Publish).issues[0].issue_type,
        IssueType::Json
    );
    assert_eq!(
        validate_bytes(&[0xff, 0xfe], SchemaPolicy::Publish).issues[0].issue_type,
        IssueType::Json
    );
}

// ---- many issues and odd documents ----

#[test]
fn fifty_errors_are_all_reported() {
    let mut doc = full_example();
    let packages: Vec<Value> = (0..25)
        .map(|i| json!({"registryType": "npm", "identifier": format!("bad id {i}"), "transport": {"type": "stdio"}}))
        .collect();
    let remotes: Vec<Value> = (0..25)
        .map(|i| json!({"type": "sse", "url": format!("https://localhost/{i}")}))
        .collect();
    doc["packages"] = json!(packages);
    doc["remotes"] = json!(remotes);
    let result = publish(&doc);
    assert!(!result.valid);
    assert_eq!(result.errors().count(), 50, "{:#?}", result.issues);
    for i in 0..25 {
        assert!(
            result
                .issues
                .iter()
                .any(|x| x.path == format!("packages[{i}].identifier"))
        );
        assert!(
            result
                .issues
                .iter()
                .any(|x| x.path == format!("remotes[{i}].url"))
        );
    }
}

/// `[[[…"x"…]]]`, built without recursion (`json!` would serialize it, recursively).
fn deep(levels: usize) -> Value {
    let mut v = json!("x");
    for _ in 0..levels {
        v = Value::Array(vec![v]);
    }
    v
}

#[test]
fn odd_documents_never_panic() {
    let odd = vec![
        json!(null),
        json!(true),
        json!(0),
        json!(-1.5e300),
        json!("server.json"),
        json!([]),
        json!([full_example()]),
        json!({}),
        json!({"$schema": 5, "name": null, "version": [], "packages": {"a": 1}}),
        json!({"name": "a/b", "version": "1", "description": "d", "packages": [null, 1, "x", [], {}]}),
        json!({"name": "a/b", "version": "1", "description": "d", "remotes": [{"type": null}, {"type": "sse", "url": 5}]}),
        json!({"name": "a/b", "version": "1", "description": "d", "icons": [{"src": ""}], "websiteUrl": "",
            "repository": {"url": "::", "source": "github", "subfolder": ""}}),
        json!({"name": "", "version": "", "description": "", "$schema": "/schemas/../server.schema.json"}),
        json!({"name": "a/b", "version": "1", "description": "d", "_meta": {PUBLISHER_PROVIDED_META: [1, 2]}}),
        json!({"name": "\u{0}/\u{ffff}", "version": "\u{2028}", "description": "🦀".repeat(200)}),
        json!({"name": "a/b", "version": "1", "description": "d", "remotes": [{"type": "sse", "url": "https://x/{a}",
            "variables": {"": {}, "0": [], "a": null}}]}),
        with("/packages/1/transport/url", json!("http://{{{{}}}}:{/")),
        with("/remotes/1/url", json!("https://{}")),
        with(
            "/packages/0/packageArguments/1",
            json!({"type": "named", "name": "", "value": "x"}),
        ),
        with("/packages/0/transport", json!({"type": "", "url": ""})),
        // Moderately deep values (within the 128-level limit) in every free-form place.
        with("/_meta/x", deep(100)),
        with("/packages/0/transport/type", deep(100)),
        with("/remotes/1/variables/tenant", deep(100)),
        with(
            "/packages/0/environmentVariables/0/variables",
            json!({"v": deep(100)}),
        ),
    ];
    for doc in &odd {
        for policy in [SchemaPolicy::Publish, SchemaPolicy::Validate] {
            let result = validate_value(doc, policy);
            assert_eq!(result.valid, result.errors().next().is_none());
            let bytes = serde_json::to_vec(doc).unwrap();
            let from_bytes = validate_bytes(&bytes, policy);
            assert_eq!(from_bytes, result);
            if let Ok(typed) = serde_json::from_value::<ServerJson>(doc.clone()) {
                let _ = validate_server(&typed, policy);
                let _ = publisher_meta_error(&typed);
            }
        }
    }
    assert!(!publish(&json!(null)).valid);
    assert_eq!(publish(&json!([])).issues[0].path, "");
    assert!(!publish(&json!({})).valid);
}

#[test]
fn too_deep_documents_are_refused_without_recursing() {
    let mut places = Vec::new();
    places.push(deep(5000));
    let mut d = full_example();
    d["packages"] = deep(5000);
    places.push(d);
    let mut d = full_example();
    d["packages"][0]["transport"]["type"] = deep(5000);
    places.push(d);
    let mut d = full_example();
    d["_meta"][PUBLISHER_PROVIDED_META]["x"] = deep(5000);
    places.push(d);
    for doc in &places {
        let result = publish(doc);
        assert!(!result.valid);
        assert_eq!(result.issues.len(), 1, "{:#?}", result.issues);
        assert_eq!(
            (
                result.issues[0].issue_type,
                result.issues[0].reference.as_str()
            ),
            (IssueType::Json, "json-too-deep")
        );
    }
    // A typed document carrying a deep value (only possible when built in code).
    let mut typed: ServerJson = serde_json::from_value(full_example()).unwrap();
    typed.packages.as_mut().unwrap()[0]
        .transport
        .extra
        .insert("x".into(), deep(5000));
    assert_eq!(
        validate_server(&typed, SchemaPolicy::Validate).issues[0].reference,
        "json-too-deep"
    );
    // Deep but not too deep: validated normally.
    let ok = with("/_meta/x", deep(120));
    assert!(publish(&ok).valid, "{:#?}", publish(&ok).issues);
}

#[test]
fn arbitrary_bytes_never_panic() {
    let inputs: Vec<Vec<u8>> = vec![
        b"[".repeat(10_000),
        b"{\"a\":".repeat(1000),
        b"nul".to_vec(),
        b"{\"name\": \"\\ud800\"}".to_vec(),
        b"1e999999".to_vec(),
        b"\"\\u0000\"".to_vec(),
        serde_json::to_vec(&full_example())
            .unwrap()
            .into_iter()
            .rev()
            .collect(),
    ];
    for input in inputs {
        let r = validate_bytes(&input, SchemaPolicy::Validate);
        assert!(!r.valid);
    }
}
