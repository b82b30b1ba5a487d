//! The OpenAPI document: paths come from the router's handlers (utoipa), component schemas are the official ones —
//! every definition of the bundled server.json schema (2025-12-11), verbatim, plus the response shapes of the
//! upstream registry OpenAPI. `info.version` is "1.0.0" and the description names the upstream specification,
//! which is what ToolHive's `api` registry source checks before it mirrors a registry.

use std::sync::Arc;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder};
use utoipa_swagger_ui::SwaggerUi;

use crate::state::AppState;

const SERVER_SCHEMA: &str = include_str!("../../data/schemas/2025-12-11.server.schema.json");

/// Info, tags and security scheme; paths are added by the router.
pub fn base_document() -> OpenApi {
    let mut components = ComponentsBuilder::new().build();
    components.add_security_scheme(
        "bearerAuth",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("ToolHive MCP Registry API")
                .version("1.0.0")
                .description(Some(
                    "An implementation of the MCP Registry API (https://github.com/modelcontextprotocol/registry), \
                     served under /v0 and /v0.1, with server.json schema 2025-12-11, plus ToolHive extensions. \
                     Reads are anonymous; writes take a registry token (Bearer JWT).",
                ))
                .build(),
        )
        .components(Some(components))
        .build()
}

/// The final document as JSON: the router's paths with the official component schemas put in place.
pub fn finish(doc: OpenApi) -> Value {
    let mut spec = serde_json::to_value(&doc).expect("an OpenAPI document serializes");
    unique_operation_ids(&mut spec);
    let schemas = &mut spec["components"]["schemas"];
    if !schemas.is_object() {
        *schemas = json!({});
    }
    let map = schemas.as_object_mut().expect("schemas is an object");
    for (name, schema) in component_schemas() {
        map.insert(name, schema);
    }
    spec
}

/// Each handler is mounted under `/v0` and `/v0.1`, and the read handlers again under `/registry/{registry}/`;
/// operation ids must stay unique, so the copies get a suffix, and the registry copies declare their parameter.
fn unique_operation_ids(spec: &mut Value) {
    let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let registry = path.starts_with("/registry/{registry}/");
        let suffix = match (registry, path.contains("/v0/")) {
            (false, false) => continue,
            (false, true) => "_v0",
            (true, false) => "_registry",
            (true, true) => "_registry_v0",
        };
        for op in item
            .as_object_mut()
            .into_iter()
            .flat_map(|m| m.values_mut())
        {
            if let Some(Value::String(id)) = op.get_mut("operationId") {
                id.push_str(suffix);
            }
            if registry && let Some(Value::Array(params)) = op.get_mut("parameters") {
                params.insert(
                    0,
                    json!({"name": "registry", "in": "path", "required": true,
                           "description": "A registry name (see GET /v1/registries)",
                           "schema": {"type": "string"}}),
                );
            }
        }
    }
}

/// Every component schema, keyed by name.
fn component_schemas() -> Vec<(String, Value)> {
    let server: Value =
        serde_json::from_str(SERVER_SCHEMA).expect("the bundled server schema is JSON");
    let mut out: Vec<(String, Value)> = server["definitions"]
        .as_object()
        .expect("the server schema has definitions")
        .iter()
        .map(|(k, v)| (k.clone(), rewrite_refs(v.clone())))
        .collect();
    let official = json!({
        "type": "object",
        "required": ["status", "publishedAt", "updatedAt", "statusChangedAt", "isLatest"],
        "properties": {
            "status": {"type": "string", "enum": ["active", "deprecated", "deleted"]},
            "statusMessage": {"type": "string", "maxLength": 500},
            "statusChangedAt": {"type": "string", "format": "date-time"},
            "publishedAt": {"type": "string", "format": "date-time"},
            "updatedAt": {"type": "string", "format": "date-time"},
            "isLatest": {"type": "boolean"}
        },
        "additionalProperties": false
    });
    out.extend([
        (
            "ServerResponse".into(),
            json!({"type": "object", "required": ["server"], "properties": {
                "server": {"$ref": "#/components/schemas/ServerDetail"},
                "_meta": {"type": "object", "properties": {"io.modelcontextprotocol.registry/official": official},
                          "additionalProperties": true}}}),
        ),
        (
            "ServerList".into(),
            json!({"type": "object", "required": ["servers"], "properties": {
                "servers": {"type": "array", "items": {"$ref": "#/components/schemas/ServerResponse"}},
                "metadata": {"type": "object", "properties": {
                    "nextCursor": {"type": "string", "description": "Cursor of the next page; absent on the last page"},
                    "count": {"type": "integer"}}}}}),
        ),
        (
            "StatusUpdateRequest".into(),
            json!({"type": "object", "required": ["status"], "properties": {
                "status": {"type": "string", "enum": ["active", "deprecated", "deleted"]},
                "statusMessage": {"type": "string", "maxLength": 500}}}),
        ),
        (
            "AllVersionsStatusResponse".into(),
            json!({"type": "object", "required": ["updatedCount", "servers"], "properties": {
                "updatedCount": {"type": "integer"},
                "servers": {"type": "array", "items": {"$ref": "#/components/schemas/ServerResponse"}}}}),
        ),
        (
            "ErrorResponse".into(),
            json!({"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}),
        ),
        (
            "ValidationResult".into(),
            json!({"type": "object", "required": ["valid", "issues"], "properties": {
                "valid": {"type": "boolean"},
                "issues": {"type": "array", "items": {"type": "object",
                    "required": ["type", "path", "message", "severity", "reference"],
                    "properties": {
                        "type": {"type": "string", "enum": ["json", "schema", "semantic", "linter"]},
                        "path": {"type": "string"},
                        "message": {"type": "string"},
                        "severity": {"type": "string", "enum": ["error", "warning", "info"]},
                        "reference": {"type": "string"}}}}}}),
        ),
    ]);
    out
}

/// `#/definitions/X` → `#/components/schemas/X`.
fn rewrite_refs(mut v: Value) -> Value {
    match &mut v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if k == "$ref"
                    && let Some(s) = child.as_str()
                {
                    *child = Value::String(s.replace("#/definitions/", "#/components/schemas/"));
                } else {
                    *child = rewrite_refs(std::mem::take(child));
                }
            }
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                *item = rewrite_refs(std::mem::take(item));
            }
        }
        _ => {}
    }
    v
}

/// The document as YAML.
pub fn to_yaml(spec: &Value) -> String {
    serde_yaml_ng::to_string(spec).expect("a JSON value serializes to YAML")
}

/// `/openapi.json` (served by the docs UI router), `/openapi.yaml` and the Swagger UI at `/docs` (assets embedded
/// in the binary: it works air-gapped).
pub fn routes(spec: Value) -> Router<AppState> {
    let yaml: Arc<str> = to_yaml(&spec).into();
    let docs: Router<AppState> = SwaggerUi::new("/docs")
        .external_urls_from_iter_unchecked([("/openapi.json", spec)])
        .into();
    docs.route(
        "/openapi.yaml",
        axum::routing::get(move || {
            let yaml = yaml.clone();
            async move { ([(CONTENT_TYPE, "application/yaml")], yaml.to_string()).into_response() }
        }),
    )
}

/// Marker types naming the component schemas in handler annotations; the schemas themselves are put in place by
/// [`finish`].
pub mod schemas {
    use std::borrow::Cow;

    use utoipa::openapi::{RefOr, Schema};
    use utoipa::{PartialSchema, ToSchema};

    macro_rules! component {
        ($marker:ident, $name:literal) => {
            pub struct $marker;
            impl PartialSchema for $marker {
                fn schema() -> RefOr<Schema> {
                    RefOr::Ref(utoipa::openapi::Ref::from_schema_name($name))
                }
            }
            impl ToSchema for $marker {
                fn name() -> Cow<'static, str> {
                    Cow::Borrowed($name)
                }
            }
        };
    }

    component!(ServerDetailSchema, "ServerDetail");
    component!(ServerResponseSchema, "ServerResponse");
    component!(ServerListSchema, "ServerList");
    component!(StatusUpdateRequestSchema, "StatusUpdateRequest");
    component!(AllVersionsStatusResponseSchema, "AllVersionsStatusResponse");
    component!(ErrorResponseSchema, "ErrorResponse");
    component!(ValidationResultSchema, "ValidationResult");
}
