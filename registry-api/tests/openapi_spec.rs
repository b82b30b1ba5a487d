//! The checked-in OpenAPI documents (`openapi/openapi.json`, `openapi/openapi.yaml`) are what the server serves.
//! Regenerate with `scripts/gen-openapi.sh` when this fails.

use serde_json::Value;

#[test]
fn checked_in_openapi_matches_the_router() {
    let generated = thv_registry_api::routes::openapi_document();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/");
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}openapi.json"))
            .expect("openapi/openapi.json exists"),
    )
    .expect("openapi/openapi.json is JSON");
    assert!(
        json == generated,
        "openapi/openapi.json is stale: run scripts/gen-openapi.sh"
    );
    let yaml = std::fs::read_to_string(format!("{root}openapi.yaml"))
        .expect("openapi/openapi.yaml exists");
    assert!(
        yaml == thv_registry_api::openapi::to_yaml(&generated),
        "openapi/openapi.yaml is stale: run scripts/gen-openapi.sh"
    );
}

#[test]
fn document_is_what_toolhive_and_clients_expect() {
    let spec = thv_registry_api::routes::openapi_document();
    assert_eq!(spec["info"]["version"], "1.0.0");
    assert!(
        spec["info"]["description"]
            .as_str()
            .unwrap()
            .contains("https://github.com/modelcontextprotocol/registry")
    );
    for prefix in ["/v0", "/v0.1"] {
        for path in [
            "/servers",
            "/servers/{serverName}/versions",
            "/servers/{serverName}/versions/{version}",
            "/publish",
            "/validate",
        ] {
            assert!(
                spec["paths"].get(format!("{prefix}{path}")).is_some(),
                "missing {prefix}{path}"
            );
        }
    }
    // Every $ref resolves to a component.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, c) in m {
                    if k == "$ref" {
                        out.push(c.as_str().unwrap().to_string());
                    } else {
                        refs(c, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|c| refs(c, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&spec, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected ref {r}"));
        assert!(
            spec["components"]["schemas"].get(name).is_some(),
            "dangling {r}"
        );
    }
}
