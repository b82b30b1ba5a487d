//! `MCPRegistry` (`toolhive.stacklok.dev/v1beta1`): a registry API server (`thv-registry-api`) run by the
//! operator. The spec is ToolHive's: `configYAML` is the registry server's whole configuration, passed through
//! unchanged (it is the server's to validate); volumes and mounts carry the files it names; `pgpassSecretRef` the
//! PostgreSQL password file. Beside them, this operator's own optional fields: `image`, `replicas`, `resources`
//! and `storage`.

use k8s_openapi::api::core::v1::{LocalObjectReference, ResourceRequirements, SecretKeySelector};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The desired state of an MCPRegistry.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[kube(
    group = "toolhive.stacklok.dev",
    version = "v1beta1",
    kind = "MCPRegistry",
    plural = "mcpregistries",
    namespaced,
    status = "MCPRegistryStatus",
    shortname = "mcpreg",
    shortname = "registry",
    category = "toolhive",
    doc = "MCPRegistry is a registry API server (thv-registry-api) run by the operator.",
    // Raw JSON, not `printcolumn(name = ..)`: clippy reads the repeated `type_ = "string"` as a duplicated attribute.
    printcolumn = r#"{"name": "Status", "type": "string", "jsonPath": ".status.phase"}"#,
    printcolumn = r#"{"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type=='Ready')].status"}"#,
    printcolumn = r#"{"name": "Replicas", "type": "integer", "jsonPath": ".status.readyReplicas"}"#,
    printcolumn = r#"{"name": "URL", "type": "string", "jsonPath": ".status.url"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.replicas) || self.replicas <= 1 || (has(self.storage) && self.storage.type != 'sqlite')",
     "message": "replicas above 1 need a shared database: storage.type postgres or configmap (a SQLite file serves one replica)",
     "fieldPath": ".replicas"}
]))]
pub struct MCPRegistrySpec {
    /// The registry server's complete configuration (`config.yaml`), passed through unchanged and mounted at
    /// /config/config.yaml. It is kept in a ConfigMap: reference credentials by file path and mount them with
    /// volumes and volumeMounts (or pgpassSecretRef), never inline them.
    #[serde(rename = "configYAML")]
    #[schemars(length(min = 1))]
    pub config_yaml: String,
    /// More volumes for the registry server's pod (standard Volume objects).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::object_list")]
    pub volumes: Vec<Value>,
    /// More volume mounts for the registry-api container (standard VolumeMount objects); their paths are the
    /// ones configYAML names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::object_list")]
    pub volume_mounts: Vec<Value>,
    /// A Secret key holding a pgpass file, made readable to the server (mode 0600, its user) by the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pgpass_secret_ref: Option<SecretKeySelector>,
    /// A human-readable name for the registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// A pod template merged over the one the operator builds (the container to change is `registry-api`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::preserved_object")]
    pub pod_template_spec: Option<Value>,
    /// Image pull secrets for the Deployment's pods and the registry server's ServiceAccount.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// The registry server's image (default: the operator's own release of `thv-registry-api`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub image: Option<String>,
    /// How many registry server replicas run (default 1). More than one needs a shared database: PostgreSQL
    /// or ConfigMap storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub replicas: Option<i32>,
    /// The registry-api container's resource requests and limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Where the registry keeps its data (default: SQLite on a PersistentVolumeClaim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<RegistryStorage>,
}

/// Where the registry keeps its data.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.type == 'sqlite' || (!has(self.size) && !has(self.storageClassName))",
     "message": "size and storageClassName apply only to sqlite storage"},
    {"rule": "!has(self.size) || isQuantity(string(self.size))",
     "message": "size must be a quantity such as 1Gi or 500Mi", "fieldPath": ".size"}
]))]
pub struct RegistryStorage {
    /// `sqlite`: a database file on a PersistentVolumeClaim (one replica); `postgres`: the database that
    /// configYAML's `database` section names; `configmap`: ConfigMaps of the registry's namespace.
    #[serde(rename = "type")]
    pub storage_type: StorageType,
    /// The PersistentVolumeClaim's size (sqlite; default 1Gi).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Quantity>,
    /// The PersistentVolumeClaim's storage class (sqlite; default: the cluster's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
}

/// See [`RegistryStorage::storage_type`].
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum StorageType {
    #[default]
    Sqlite,
    Postgres,
    Configmap,
}

/// The observed state of an MCPRegistry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct MCPRegistryStatus {
    /// The latest observations (`Ready`, `Synced`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The generation the controller last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<MCPRegistryPhase>,
    /// More about the phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Where the registry API answers (its Service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// How many registry server replicas are ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
}

/// The overall phase of an MCPRegistry.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum MCPRegistryPhase {
    Pending,
    Ready,
    Failed,
    Terminating,
}
