//! `TestApp`: a real `thv-registry-api` on a real socket and a real database (SQLite file or PostgreSQL), driven
//! over HTTP with reqwest.
//!
//! PostgreSQL comes from `TEST_DATABASE_URL` (e.g. `postgres://postgres@127.0.0.1:5432/postgres`); each test gets a
//! database of its own. Without it the PostgreSQL tests skip with a printed reason — except under `CI=true`, where
//! they fail.

#![allow(dead_code)]

pub mod rows;

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection;
use thv_registry_api::RunningServer;
use thv_registry_api::auth::{Action, Permission};
use thv_registry_api::config::{Config, KeySource, LogFormat};
use thv_registry_api::sync::config::{Registries, RegistryConfig, Source, SourceConfig, check};

pub const ADMIN_TOKEN: &str = "admin-token-for-tests-0123456789";
pub const SCHEMA_URL: &str =
    "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    /// ConfigMaps of a fresh namespace of the test control plane (`scripts/start-kube-apiserver.sh`).
    ConfigMap,
}

/// What a test's database leaves to remove at its end.
enum Cleanup {
    /// A PostgreSQL database: the admin URL and the database's name.
    Postgres(String, String),
    /// The namespace holding a ConfigMap store.
    Namespace(thv_e2e::kube::TestNamespace),
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    server: Option<RunningServer>,
    _dir: tempfile::TempDir,
    cleanup: Option<Cleanup>,
    config: Config,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn postgres_admin_url() -> Option<String> {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "TEST_DATABASE_URL is not set, and PostgreSQL tests may not skip under CI=true"
                );
            }
            thv_e2e::record_skip(
                "PostgreSQL test: TEST_DATABASE_URL is not set (e.g. postgres://postgres@127.0.0.1/postgres)",
            );
            None
        }
    }
}

/// A fresh, empty PostgreSQL database on the `TEST_DATABASE_URL` server: `(admin URL, database name)`; `None`
/// when PostgreSQL is not configured (outside CI).
pub async fn new_postgres_database(tag: &str) -> Option<(String, String)> {
    let admin = postgres_admin_url()?;
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let db = format!("thv_{tag}_{}_{n}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("connect to TEST_DATABASE_URL");
    if n == 0 {
        drop_databases_of_ended_runs(&mut conn).await;
    }
    for sql in [
        format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
        format!("CREATE DATABASE {db}"),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .expect("create a test database");
    }
    Some((admin, db))
}

/// A fresh namespace of the test control plane and the URL of a ConfigMap store in it; `None` when the control
/// plane is not configured (outside CI). The store uses the ambient credentials, so `KUBECONFIG` must name the
/// test control plane's (as `scripts/start-kube-apiserver.sh` prints it).
pub async fn new_configmap_store(tag: &str) -> Option<(String, thv_e2e::kube::TestNamespace)> {
    let client = thv_e2e::kube::client().await?;
    thv_e2e::kube::require_ambient_kubeconfig();
    let namespace = thv_e2e::kube::TestNamespace::create(&client, tag).await;
    Some((
        format!("configmap://{}/registry", namespace.name),
        namespace,
    ))
}

/// A test server's settings on `database_url`, its files (signing key, sync cache) under `dir`; not seeded.
pub fn base_config(database_url: String, dir: &std::path::Path) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url,
        seed_from: None,
        seed: false,
        key: KeySource::File(dir.join("jwt.key")),
        admin_token: Some(ADMIN_TOKEN.into()),
        max_body_bytes: 1024 * 1024,
        max_connections: 16,
        database_acquire_timeout: Duration::from_secs(2),
        database_read_timeout: thv_registry_api::store::PoolSettings::DEFAULT_READ_TIMEOUT,
        database_write_timeout: thv_registry_api::store::PoolSettings::DEFAULT_WRITE_TIMEOUT,
        log_format: LogFormat::Text,
        read_cache_bytes: 8 * 1024 * 1024,
        read_cache_ttl: Duration::from_secs(60),
        sources: Vec::new(),
        registries: Default::default(),
        sync_cache_dir: Some(dir.join("sources")),
        signatures: Default::default(),
        privileged_entries: Vec::new(),
        exchanges: Default::default(),
    }
}

/// Drops the test databases (`thv_<tag>_<pid>_<n>`) of test processes that have ended, so that a developer's
/// PostgreSQL does not collect hundreds of them; those of running processes are left alone.
async fn drop_databases_of_ended_runs(conn: &mut sqlx::PgConnection) {
    let names: Vec<(String,)> = sqlx::query_as(
        "SELECT datname FROM pg_database WHERE datname ~ '^thv_[a-z0-9_]+_[0-9]+_[0-9]+$'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap_or_default();
    for (name,) in names {
        let pid = name.rsplit('_').nth(1).unwrap_or("");
        if std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
            .execute(&mut *conn)
            .await;
    }
}

/// The URL of database `db` on the server `admin` points at.
pub fn database_url(admin: &str, db: &str) -> String {
    with_database(admin, db)
}

/// The sources and registries of a configuration file's text, checked; a mistake in a test's configuration
/// panics with every error.
fn sync_config(toml_text: Option<&str>) -> (Vec<Source>, Registries) {
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(default)]
        sources: Vec<SourceConfig>,
        #[serde(default)]
        registries: Vec<RegistryConfig>,
        default_registry: Option<String>,
    }
    let Some(text) = toml_text else {
        return Default::default();
    };
    let file: File = toml::from_str(text).expect("the test's sync configuration parses");
    let mut errors = Vec::new();
    let checked = check(
        &file.sources,
        &file.registries,
        file.default_registry.as_deref(),
        &mut errors,
    );
    assert!(
        errors.is_empty(),
        "the test's sync configuration: {errors:#?}"
    );
    checked
}

/// Replaces the database name at the end of a PostgreSQL URL.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

pub struct Options {
    pub seed: bool,
    pub max_body_bytes: usize,
    pub signatures: thv_core::signature::SignaturePolicy,
    pub privileged_entries: Vec<String>,
    /// Sync sources and registries: the `[[sources]]` and `[[registries]]` of a configuration file (TOML).
    pub sync_config: Option<String>,
    /// A database of the test's own instead of a fresh one of the backend's (not dropped at the end).
    pub database_url: Option<String>,
    pub database_acquire_timeout: Duration,
    pub database_read_timeout: Duration,
    pub database_write_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            seed: false,
            max_body_bytes: 64 * 1024,
            signatures: Default::default(),
            privileged_entries: Vec::new(),
            sync_config: None,
            database_url: None,
            database_acquire_timeout:
                thv_registry_api::store::PoolSettings::DEFAULT_ACQUIRE_TIMEOUT,
            database_read_timeout: thv_registry_api::store::PoolSettings::DEFAULT_READ_TIMEOUT,
            database_write_timeout: thv_registry_api::store::PoolSettings::DEFAULT_WRITE_TIMEOUT,
        }
    }
}

impl TestApp {
    /// `None` when the backend is not available here (PostgreSQL without `TEST_DATABASE_URL`, outside CI).
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, Options::default()).await
    }

    pub async fn start_with(backend: Backend, opts: Options) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        let (database_url, cleanup) = match (backend, opts.database_url) {
            (_, Some(url)) => (url, None),
            (Backend::Sqlite, None) => (
                format!("sqlite://{}", dir.path().join("registry.db").display()),
                None,
            ),
            (Backend::Postgres, None) => {
                let (admin, db) = new_postgres_database("test").await?;
                (
                    with_database(&admin, &db),
                    Some(Cleanup::Postgres(admin, db)),
                )
            }
            (Backend::ConfigMap, None) => {
                let (url, namespace) = new_configmap_store("api").await?;
                (url, Some(Cleanup::Namespace(namespace)))
            }
        };
        let (sources, registries) = sync_config(opts.sync_config.as_deref());
        let config = Config {
            seed: opts.seed,
            max_body_bytes: opts.max_body_bytes,
            database_acquire_timeout: opts.database_acquire_timeout,
            database_read_timeout: opts.database_read_timeout,
            database_write_timeout: opts.database_write_timeout,
            sources,
            registries,
            signatures: opts.signatures,
            privileged_entries: opts.privileged_entries,
            ..base_config(database_url, dir.path())
        };
        Some(Self::serve(config, dir, cleanup).await)
    }

    async fn serve(config: Config, dir: tempfile::TempDir, cleanup: Option<Cleanup>) -> Self {
        let server = thv_registry_api::start(&config)
            .await
            .expect("server starts");
        let base = format!("http://{}", server.addr);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        Self {
            base,
            client,
            server: Some(server),
            _dir: dir,
            cleanup,
            config,
        }
    }

    /// A second server on the same database and signing key (another replica); stop it before this one.
    pub async fn replica(&self) -> Self {
        Self::serve(self.config.clone(), tempfile::tempdir().unwrap(), None).await
    }

    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("clean shutdown");
        }
        match self.cleanup.take() {
            Some(Cleanup::Postgres(admin, db)) => {
                let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .unwrap();
            }
            // The namespace controller removes what it holds; nothing waits for that.
            Some(Cleanup::Namespace(namespace)) => {
                namespace.delete_and_wait(Duration::ZERO).await;
            }
            None => {}
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn token(&self, permissions: &[(Action, &str)]) -> String {
        let perms = permissions
            .iter()
            .map(|(a, r)| Permission {
                action: *a,
                resource: r.to_string(),
            })
            .collect();
        self.server
            .as_ref()
            .unwrap()
            .state
            .keys
            .mint("test", perms, Duration::from_secs(300))
            .unwrap()
            .0
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// A GET whose response shape is checked against the upstream OpenAPI (see [`check_shape`]).
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (status, body) = json_of(self.request(Method::GET, path).send().await.unwrap()).await;
        check_shape(&Method::GET, path, status, &body);
        (status, body)
    }

    /// A JSON request whose response shape is checked against the upstream OpenAPI (see [`check_shape`]).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> (StatusCode, Value) {
        let mut req = self.request(method.clone(), path).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let (status, resp) = json_of(req.send().await.unwrap()).await;
        check_shape(&method, path, status, &resp);
        (status, resp)
    }

    pub fn state(&self) -> &thv_registry_api::state::AppState {
        &self.server.as_ref().unwrap().state
    }

    pub async fn publish(&self, body: &Value) -> (StatusCode, Value) {
        self.send(Method::POST, "/v0.1/publish", Some(ADMIN_TOKEN), body)
            .await
    }

    pub async fn publish_ok(&self, name: &str, version: &str) -> Value {
        let (status, body) = self.publish(&server_json(name, version)).await;
        assert_eq!(status, StatusCode::OK, "publish {name}@{version}: {body}");
        body
    }

    pub async fn set_status(&self, name: &str, version: &str, body: &Value) -> (StatusCode, Value) {
        let path = format!(
            "/v0.1/servers/{}/versions/{}/status",
            enc(name),
            enc(version)
        );
        self.send(Method::PATCH, &path, Some(ADMIN_TOKEN), body)
            .await
    }

    /// Every page of a list, following `nextCursor`.
    pub async fn list_all(&self, query: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10_000 {
            let mut path = format!("/v0.1/servers?{query}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={}", enc(c)));
            }
            let (status, body) = self.get(&path).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            assert_valid("ServerList", &body);
            out.extend(body["servers"].as_array().unwrap().iter().cloned());
            match body["metadata"]["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return out,
            }
        }
        panic!("pagination did not end");
    }
}

pub async fn json_of(resp: Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text));
    (status, value)
}

/// Percent-encodes a path segment (`/` → `%2F`, `+` → `%2B`).
pub fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub fn server_json(name: &str, version: &str) -> Value {
    json!({
        "$schema": SCHEMA_URL,
        "name": name,
        "description": format!("Test server {name}"),
        "version": version,
        "packages": [{"registryType": "npm", "identifier": "@test/server", "version": version, "transport": {"type": "stdio"}}]
    })
}

pub fn official(item: &Value) -> &Value {
    &item["_meta"]["io.modelcontextprotocol.registry/official"]
}

/// The upstream OpenAPI's component schemas, as a JSON Schema 2020-12 document.
static UPSTREAM_COMPONENTS: LazyLock<Value> = LazyLock::new(|| {
    let text = include_str!("../../../openapi/upstream-registry-openapi.yaml");
    let spec: Value = serde_yaml_ng::from_str(text).expect("upstream OpenAPI parses");
    spec["components"].clone()
});

/// Asserts that `instance` matches the named schema of the upstream registry OpenAPI.
pub fn assert_valid(schema_name: &str, instance: &Value) {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("#/components/schemas/{schema_name}"),
        "components": *UPSTREAM_COMPONENTS,
    });
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "response does not match upstream {schema_name}: {errors:#?}\n{instance:#}"
    );
}

/// Every response of the registry API has a known shape: success bodies match the upstream OpenAPI's schema for
/// that endpoint, and every error is `{"error": "..."}`.
pub fn check_shape(method: &Method, path: &str, status: StatusCode, body: &Value) {
    let route = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = route.trim_start_matches('/').split('/').collect();
    let api = matches!(segments.first(), Some(&"v0") | Some(&"v0.1"));
    if !api {
        return;
    }
    if !status.is_success() {
        let obj = body.as_object().unwrap_or_else(|| {
            panic!("{method} {path}: {status} without a JSON object body: {body}")
        });
        assert!(
            obj.len() == 1 && obj["error"].is_string(),
            "{method} {path}: {status} body is not {{\"error\"}}: {body}"
        );
        return;
    }
    let schema = match (method.as_str(), &segments[1..]) {
        ("GET", ["servers"]) | ("GET", ["servers", _, "versions"]) => Some("ServerList"),
        ("GET" | "PUT" | "DELETE", ["servers", _, "versions", _]) => Some("ServerResponse"),
        ("PATCH", ["servers", _, "versions", _, "status"]) | ("POST", ["publish"]) => {
            Some("ServerResponse")
        }
        ("PATCH", ["servers", _, "status"]) => Some("AllVersionsStatusResponse"),
        _ => None,
    };
    if let Some(schema) = schema {
        assert_valid(schema, body);
    }
}

/// Runs each listed test against every backend: `mod sqlite { ... }`, `mod postgres { ... }` and
/// `mod configmap { ... }`.
#[macro_export]
macro_rules! for_each_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
               async fn $name() {
                   if let Some(app) = $crate::common::TestApp::start($crate::common::Backend::Sqlite).await {
                       super::$name(&app).await;
                       app.stop().await;
                   }
               } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
               async fn $name() {
                   if let Some(app) = $crate::common::TestApp::start($crate::common::Backend::Postgres).await {
                       super::$name(&app).await;
                       app.stop().await;
                   }
               } )*
        }
        mod configmap {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
               async fn $name() {
                   if let Some(app) = $crate::common::TestApp::start($crate::common::Backend::ConfigMap).await {
                       super::$name(&app).await;
                       app.stop().await;
                   }
               } )*
        }
    };
}

/// Runs each listed test, a function of the [`Backend`], against every backend: `mod sqlite { ... }`,
/// `mod postgres { ... }` and `mod configmap { ... }`.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
               async fn $name() { super::$name($crate::common::Backend::Sqlite).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
               async fn $name() { super::$name($crate::common::Backend::Postgres).await } )*
        }
        mod configmap {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
               async fn $name() { super::$name($crate::common::Backend::ConfigMap).await } )*
        }
    };
}
