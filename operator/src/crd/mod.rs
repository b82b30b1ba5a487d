//! The custom resources and their CustomResourceDefinitions.

pub mod mcpregistry;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use schemars::{Schema, SchemaGenerator, json_schema};

/// The API group of ToolHive's resources.
pub const GROUP: &str = "toolhive.stacklok.dev";

/// Every CustomResourceDefinition of the operator.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![mcpregistry::MCPRegistry::crd()]
}

/// The file name of a CRD under `deploy/crds/`, as controller-gen names them (`<group>_<plural>.yaml`).
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural)
}

/// A CRD as the YAML checked in under `deploy/crds/`.
pub fn to_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_yaml_ng::Error> {
    Ok(format!("---\n{}", serde_yaml_ng::to_string(crd)?))
}

/// A list of arbitrary Kubernetes objects kept as written (`volumes`, `volumeMounts`: the API server keeps their
/// unknown fields; the operator reads them as the core types when it builds the pod).
pub(crate) fn object_list(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "x-kubernetes-list-type": "atomic",
        "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
    })
}

/// An arbitrary object kept as written (`podTemplateSpec`).
pub(crate) fn preserved_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}
