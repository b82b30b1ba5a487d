//! The objects an MCPRegistry becomes, built from its spec alone (no API call): the server's configuration in a
//! ConfigMap, its ServiceAccount and RBAC, a PersistentVolumeClaim for SQLite, the Deployment of
//! `thv-registry-api` and the Service in front of it. Every one is owned by the MCPRegistry (garbage-collected
//! with it) and labelled with its name.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    EnvVarSource, HTTPGetAction, KeyToPath, ObjectFieldSelector, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, SecretVolumeSource, SecurityContext, Service, ServiceAccount,
    ServicePort, ServiceSpec, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{Resource, ResourceExt};

use crate::crd::mcpregistry::{MCPRegistry, StorageType};

/// The port the registry API listens on in its pod, and the Service's.
pub const API_PORT: i32 = 8080;
/// The registry server's container.
pub const CONTAINER: &str = "registry-api";
/// Where the configuration is mounted.
const CONFIG_DIR: &str = "/config";
/// Where SQLite's PersistentVolumeClaim is mounted (not `/data`: ToolHive's manifests mount their files there).
const DATA_DIR: &str = "/var/lib/thv-registry";
/// Where the pgpass copy is mounted.
const PGPASS_DIR: &str = "/var/run/thv-pgpass";
/// The server's home (its signing key, the git sources' cache).
const HOME_DIR: &str = "/home/registry";
/// The user the registry server runs as (and owns its pgpass copy).
const RUN_AS: i64 = 65532;

/// The image when the spec names none: `THV_REGISTRY_API_IMAGE`, else this release's.
pub fn default_image() -> String {
    std::env::var("THV_REGISTRY_API_IMAGE").unwrap_or_else(|_| {
        format!(
            "ghcr.io/stacklok/toolhive-rs/thv-registry-api:v{}",
            env!("CARGO_PKG_VERSION")
        )
    })
}

/// The names of what a registry `name` becomes.
pub struct Names {
    pub config: String,
    pub account: String,
    pub role: String,
    pub data: String,
    pub deployment: String,
    pub service: String,
}

impl Names {
    pub fn of(registry: &MCPRegistry) -> Self {
        let name = registry.name_any();
        Self {
            config: format!("{name}-registry-server-config"),
            account: format!("{name}-registry-api"),
            role: format!("{name}-registry-api"),
            data: format!("{name}-registry-data"),
            deployment: format!("{name}-api"),
            service: format!("{name}-api"),
        }
    }
}

/// The prefix of a ConfigMap-stored registry's objects: its name (cut to 29 characters, dots as dashes) and a hash
/// of the whole name, so that no two registries of a namespace can share a store, whatever their names.
pub fn store_prefix(registry: &MCPRegistry) -> String {
    use sha2::{Digest, Sha256};
    let name = registry.name_any();
    let mut readable: String = name
        .chars()
        .map(|c| if c == '.' { '-' } else { c })
        .take(29)
        .collect();
    readable = readable.trim_end_matches('-').to_owned();
    if !readable.starts_with(|c: char| c.is_ascii_lowercase()) {
        readable.insert(0, 'r');
        readable.truncate(29);
        readable = readable.trim_end_matches('-').to_owned();
    }
    let hash = hex::encode(Sha256::digest(name.as_bytes()));
    format!("{readable}-{}", &hash[..10])
}

fn labels(registry: &MCPRegistry) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), "thv-registry-api".into()),
        ("app.kubernetes.io/instance".into(), registry.name_any()),
        ("app.kubernetes.io/managed-by".into(), "thv-operator".into()),
        ("toolhive.stacklok.dev/registry".into(), registry.name_any()),
    ])
}

/// The metadata of an object named `name`, owned by the registry.
fn meta(registry: &MCPRegistry, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: registry.namespace(),
        labels: Some(labels(registry)),
        owner_references: registry.controller_owner_ref(&()).map(|o| vec![o]),
        ..Default::default()
    }
}

fn storage_type(registry: &MCPRegistry) -> StorageType {
    registry
        .spec
        .storage
        .as_ref()
        .map(|s| s.storage_type)
        .unwrap_or_default()
}

/// `config.yaml`, as the spec gives it.
pub fn config_map(registry: &MCPRegistry) -> ConfigMap {
    ConfigMap {
        metadata: meta(registry, &Names::of(registry).config),
        data: Some(BTreeMap::from([(
            "config.yaml".into(),
            registry.spec.config_yaml.clone(),
        )])),
        ..Default::default()
    }
}

pub fn service_account(registry: &MCPRegistry) -> ServiceAccount {
    ServiceAccount {
        metadata: meta(registry, &Names::of(registry).account),
        image_pull_secrets: (!registry.spec.image_pull_secrets.is_empty())
            .then(|| registry.spec.image_pull_secrets.clone()),
        ..Default::default()
    }
}

/// What the server may do in its namespace: read ConfigMaps (a `configmap` sync source), with ConfigMap storage
/// keep its own, and with a `kubernetes` source read ToolHive's workload resources (as ToolHive's operator grants
/// them; a source naming other namespaces needs a grant there too).
pub fn role(registry: &MCPRegistry) -> Role {
    let verbs = |verbs: &[&str]| verbs.iter().map(|v| (*v).to_owned()).collect();
    let configmaps: &[&str] = match storage_type(registry) {
        StorageType::Configmap => &["get", "list", "watch", "create", "update", "delete"],
        _ => &["get", "list", "watch"],
    };
    let mut rules = vec![PolicyRule {
        api_groups: Some(vec![String::new()]),
        resources: Some(vec!["configmaps".into()]),
        verbs: verbs(configmaps),
        ..Default::default()
    }];
    if reads_workloads(registry) {
        rules.push(PolicyRule {
            api_groups: Some(vec![thv_core::cluster_entry::GROUP.into()]),
            resources: Some(
                thv_core::cluster_entry::KINDS
                    .iter()
                    .map(|k| k.plural().to_owned())
                    .collect(),
            ),
            verbs: verbs(&["get", "list", "watch"]),
            ..Default::default()
        });
    }
    Role {
        metadata: meta(registry, &Names::of(registry).role),
        rules: Some(rules),
    }
}

/// Whether the configuration declares a `kubernetes` source.
fn reads_workloads(registry: &MCPRegistry) -> bool {
    serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&registry.spec.config_yaml)
        .ok()
        .and_then(|c| c.get("sources").and_then(|s| s.as_sequence()).cloned())
        .is_some_and(|sources| {
            sources
                .iter()
                .any(|s| s.get("kubernetes").is_some_and(|k| !k.is_null()))
        })
}

pub fn role_binding(registry: &MCPRegistry) -> RoleBinding {
    let names = Names::of(registry);
    RoleBinding {
        metadata: meta(registry, &names.role),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Role".into(),
            name: names.role.clone(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: names.account,
            namespace: registry.namespace(),
            ..Default::default()
        }]),
    }
}

/// SQLite's volume (only for `sqlite` storage).
pub fn data_claim(registry: &MCPRegistry) -> Option<PersistentVolumeClaim> {
    if storage_type(registry) != StorageType::Sqlite {
        return None;
    }
    let storage = registry.spec.storage.clone().unwrap_or_default();
    Some(PersistentVolumeClaim {
        metadata: meta(registry, &Names::of(registry).data),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: storage.storage_class_name,
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".into(),
                    storage.size.unwrap_or_else(|| Quantity("1Gi".into())),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    })
}

pub fn service(registry: &MCPRegistry) -> Service {
    Service {
        metadata: meta(registry, &Names::of(registry).service),
        spec: Some(ServiceSpec {
            selector: Some(selector(registry)),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: API_PORT,
                target_port: Some(IntOrString::String("http".into())),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn selector(registry: &MCPRegistry) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), "thv-registry-api".into()),
        ("app.kubernetes.io/instance".into(), registry.name_any()),
    ])
}

/// A spec field that does not hold what its schema promises (the CRD keeps `volumes` and `volumeMounts` as
/// arbitrary objects).
#[derive(Debug, thiserror::Error)]
#[error("spec.{field}: {message}")]
pub struct SpecError {
    /// The field, with the item's index in a list (`volumes[0]`).
    pub field: String,
    pub message: String,
}

fn typed<T: serde::de::DeserializeOwned>(
    field: &'static str,
    items: &[serde_json::Value],
) -> Result<Vec<T>, SpecError> {
    items
        .iter()
        .enumerate()
        .map(|(index, v)| {
            serde_json::from_value(v.clone()).map_err(|e| SpecError {
                field: format!("{field}[{index}]"),
                message: e.to_string(),
            })
        })
        .collect()
}

/// The volume names and mount paths the operator uses itself: a spec's may not take them.
const OWN_VOLUMES: [&str; 5] = [
    "thv-config",
    "thv-data",
    "thv-pgpass",
    "thv-pgpass-secret",
    "thv-home",
];
const OWN_PATHS: [&str; 4] = [CONFIG_DIR, DATA_DIR, PGPASS_DIR, HOME_DIR];

fn check_own_names(volumes: &[Volume], mounts: &[VolumeMount]) -> Result<(), SpecError> {
    if let Some((i, v)) = volumes
        .iter()
        .enumerate()
        .find(|(_, v)| OWN_VOLUMES.contains(&v.name.as_str()))
    {
        return Err(SpecError {
            field: format!("volumes[{i}].name"),
            message: format!(
                "'{}' is a volume the operator adds; choose another name",
                v.name
            ),
        });
    }
    let own_path = |p: &str| {
        let p = p.trim_end_matches('/');
        OWN_PATHS.iter().any(|own| {
            p == *own || p.starts_with(&format!("{own}/")) || own.starts_with(&format!("{p}/"))
        })
    };
    if let Some((i, m)) = mounts
        .iter()
        .enumerate()
        .find(|(_, m)| own_path(&m.mount_path))
    {
        return Err(SpecError {
            field: format!("volumeMounts[{i}].mountPath"),
            message: format!(
                "{} overlaps where the operator mounts the server's own files ({}); choose another path",
                m.mount_path,
                OWN_PATHS.join(", ")
            ),
        });
    }
    Ok(())
}

/// The registry server's arguments: its configuration, where it listens, and the storage the spec picks.
fn args(registry: &MCPRegistry) -> Vec<String> {
    let mut args = vec![
        "--config".to_owned(),
        format!("{CONFIG_DIR}/config.yaml"),
        "--listen".to_owned(),
        format!("0.0.0.0:{API_PORT}"),
        "--log-format".to_owned(),
        "json".to_owned(),
    ];
    match storage_type(registry) {
        StorageType::Sqlite => args.extend([
            "--database-url".to_owned(),
            format!("sqlite://{DATA_DIR}/registry.db"),
        ]),
        StorageType::Configmap => args.extend([
            "--database-url".to_owned(),
            format!("configmap:///{}", store_prefix(registry)),
        ]),
        // The configuration's `database` section names it.
        StorageType::Postgres => {}
    }
    args
}

/// The pgpass file: copied by an init container from the Secret into a memory volume, mode 0600 and owned by
/// the server's user, as libpq requires; `PGPASSFILE` names the copy.
fn pgpass(
    registry: &MCPRegistry,
    volumes: &mut Vec<Volume>,
    mounts: &mut Vec<VolumeMount>,
    env: &mut Vec<EnvVar>,
) -> Option<Container> {
    let secret = registry.spec.pgpass_secret_ref.as_ref()?;
    volumes.push(Volume {
        name: "thv-pgpass-secret".into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.name.clone()),
            items: Some(vec![KeyToPath {
                key: secret.key.clone(),
                path: "pgpass".into(),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    });
    volumes.push(Volume {
        name: "thv-pgpass".into(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: Some("Memory".into()),
            ..Default::default()
        }),
        ..Default::default()
    });
    mounts.push(VolumeMount {
        name: "thv-pgpass".into(),
        mount_path: PGPASS_DIR.into(),
        read_only: Some(true),
        ..Default::default()
    });
    env.push(EnvVar {
        name: "PGPASSFILE".into(),
        value: Some(format!("{PGPASS_DIR}/pgpass")),
        ..Default::default()
    });
    Some(Container {
        name: "thv-pgpass".into(),
        image: Some(image(registry)),
        command: Some(vec![
            "sh".into(),
            "-c".into(),
            format!(
                "cp /pgpass-secret/pgpass {PGPASS_DIR}/pgpass && chmod 0600 {PGPASS_DIR}/pgpass"
            ),
        ]),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "thv-pgpass-secret".into(),
                mount_path: "/pgpass-secret".into(),
                read_only: Some(true),
                ..Default::default()
            },
            VolumeMount {
                name: "thv-pgpass".into(),
                mount_path: PGPASS_DIR.into(),
                ..Default::default()
            },
        ]),
        security_context: Some(restricted()),
        ..Default::default()
    })
}

fn image(registry: &MCPRegistry) -> String {
    registry.spec.image.clone().unwrap_or_else(default_image)
}

/// No privilege, no writable root, no capability (the Pod Security Standards' `restricted` profile).
fn restricted() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        capabilities: Some(k8s_openapi::api::core::v1::Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The Deployment of `thv-registry-api`; [`SpecError`] when `volumes` or `volumeMounts` hold something else.
pub fn deployment(registry: &MCPRegistry) -> Result<Deployment, SpecError> {
    let names = Names::of(registry);
    let mut volumes: Vec<Volume> = typed("volumes", &registry.spec.volumes)?;
    let mut mounts: Vec<VolumeMount> = typed("volumeMounts", &registry.spec.volume_mounts)?;
    check_own_names(&volumes, &mounts)?;
    let mut env = Vec::new();
    volumes.push(Volume {
        name: "thv-config".into(),
        config_map: Some(ConfigMapVolumeSource {
            name: names.config.clone(),
            ..Default::default()
        }),
        ..Default::default()
    });
    mounts.push(VolumeMount {
        name: "thv-config".into(),
        mount_path: CONFIG_DIR.into(),
        read_only: Some(true),
        ..Default::default()
    });
    if let Some(claim) = data_claim(registry) {
        volumes.push(Volume {
            name: "thv-data".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim.metadata.name.unwrap_or_default(),
                ..Default::default()
            }),
            ..Default::default()
        });
        mounts.push(VolumeMount {
            name: "thv-data".into(),
            mount_path: DATA_DIR.into(),
            ..Default::default()
        });
    }
    let init = pgpass(registry, &mut volumes, &mut mounts, &mut env);
    // The server's own files (its signing key, the git sources' cache) go to a scratch volume.
    volumes.push(Volume {
        name: "thv-home".into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    });
    mounts.push(VolumeMount {
        name: "thv-home".into(),
        mount_path: HOME_DIR.into(),
        ..Default::default()
    });
    env.push(EnvVar {
        name: "HOME".into(),
        value: Some(HOME_DIR.into()),
        ..Default::default()
    });
    // A `kubernetes` source that names no namespaces reads the registry's own (as under ToolHive's operator).
    env.push(EnvVar {
        name: "THV_REGISTRY_WATCH_NAMESPACE".into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: "metadata.namespace".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    let probe = |path: &str| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String("http".into()),
            ..Default::default()
        }),
        period_seconds: Some(10),
        ..Default::default()
    };
    let container = Container {
        name: CONTAINER.into(),
        image: Some(image(registry)),
        args: Some(args(registry)),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: API_PORT,
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
        env: Some(env),
        volume_mounts: Some(mounts),
        resources: registry.spec.resources.clone(),
        readiness_probe: Some(probe("/v0.1/health")),
        liveness_probe: Some(probe("/v0.1/ping")),
        security_context: Some(restricted()),
        ..Default::default()
    };
    let replicas = match storage_type(registry) {
        // One SQLite file has one writer.
        StorageType::Sqlite => registry.spec.replicas.unwrap_or(1).min(1),
        _ => registry.spec.replicas.unwrap_or(1),
    };
    let template = PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels(registry)),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            service_account_name: Some(names.account.clone()),
            init_containers: init.map(|c| vec![c]),
            containers: vec![container],
            volumes: Some(volumes),
            security_context: Some(PodSecurityContext {
                run_as_user: Some(RUN_AS),
                run_as_group: Some(RUN_AS),
                fs_group: Some(RUN_AS),
                run_as_non_root: Some(true),
                ..Default::default()
            }),
            image_pull_secrets: (!registry.spec.image_pull_secrets.is_empty())
                .then(|| registry.spec.image_pull_secrets.clone()),
            ..Default::default()
        }),
    };
    let template = match &registry.spec.pod_template_spec {
        Some(overlay) => merged(template, overlay)?,
        None => template,
    };
    Ok(Deployment {
        metadata: meta(registry, &names.deployment),
        spec: DeploymentSpec {
            replicas: Some(replicas),
            // A SQLite volume is mounted by one pod at a time: the old one goes before the new one comes.
            strategy: (storage_type(registry) == StorageType::Sqlite).then(|| DeploymentStrategy {
                type_: Some("Recreate".into()),
                ..Default::default()
            }),
            selector: LabelSelector {
                match_labels: Some(selector(registry)),
                ..Default::default()
            },
            template,
            ..Default::default()
        },
        ..Default::default()
    })
}

/// `podTemplateSpec` laid over the template the operator builds, as a strategic merge patch does it for the
/// fields a pod template has: objects merge key by key, lists of named items (containers, volumes, env, mounts,
/// ports) merge item by item by name, any other value replaces. The labels the Service selects on stay.
fn merged(
    template: PodTemplateSpec,
    overlay: &serde_json::Value,
) -> Result<PodTemplateSpec, SpecError> {
    let refused = |message: String| SpecError {
        field: "podTemplateSpec".into(),
        message,
    };
    let mut base = serde_json::to_value(&template).map_err(|e| refused(e.to_string()))?;
    merge(&mut base, overlay);
    let mut merged: PodTemplateSpec =
        serde_json::from_value(base).map_err(|e| refused(e.to_string()))?;
    let labels = merged
        .metadata
        .get_or_insert_with(Default::default)
        .labels
        .get_or_insert_with(Default::default);
    for (k, v) in template.metadata.and_then(|m| m.labels).unwrap_or_default() {
        labels.insert(k, v);
    }
    Ok(merged)
}

fn merge(base: &mut serde_json::Value, overlay: &serde_json::Value) {
    use serde_json::Value;
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) if !v.is_null() => merge(existing, v),
                    _ if v.is_null() => {
                        b.remove(k);
                    }
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(b), Value::Array(o)) if named(b) && named(o) => {
            for item in o {
                match b.iter_mut().find(|x| x["name"] == item["name"]) {
                    Some(existing) => merge(existing, item),
                    None => b.push(item.clone()),
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// Whether every item of a list is an object with a `name`.
fn named(items: &[serde_json::Value]) -> bool {
    !items.is_empty() && items.iter().all(|i| i["name"].is_string())
}
