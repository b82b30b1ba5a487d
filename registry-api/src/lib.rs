//! `thv-registry-api`: the MCP Registry API (v0 and v0.1) on SQLite or PostgreSQL.
//!
//! A request flows: [`routes`] (thin: parse, authenticate, map errors) → [`service`] (the rules: validation,
//! permissions, isLatest) → [`store`] (the `Store` trait: SQLite or PostgreSQL).

pub mod auth;
pub mod cache;
pub mod config;
pub mod error;
pub mod exchange;
pub mod kubernetes;
pub mod metrics;
pub mod oauth;
pub mod openapi;
pub mod routes;
pub mod seed;
pub mod service;
pub mod state;
pub mod store;
pub mod sync;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use thv_core::registry_file::EntryFile;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::service::Registry;
use crate::state::AppState;

/// The curated registry bundled into the binary (upstream format, converted from ToolHive's catalog).
pub const BUNDLED_REGISTRY: &str = thv_core::registry_file::BUNDLED_REGISTRY_JSON;

/// Opens the store, seeds it if empty, and builds the shared state.
pub async fn build_state(config: &Config) -> anyhow::Result<AppState> {
    // Settings that can fail are read before anything is written: a bad key file must not leave a seeded database.
    let keys = config.token_keys()?;
    let exchanges =
        exchange::Exchanges::new(config.exchanges.clone()).map_err(|e| anyhow::anyhow!(e))?;
    let oauth = match &config.exchanges.oauth {
        Some(c) => Some(Arc::new(
            oauth::OAuth::new(c.clone()).map_err(|e| anyhow::anyhow!(e.join("\n")))?,
        )),
        None => None,
    };
    config
        .prepare_database_dir()
        .context("creating the database directory")?;
    let store = store::connect(&config.database_url, &config.pool())
        .await
        .context("opening the database")?;
    let registry = Registry::new(store)
        .with_signatures(config.signatures.clone())
        .with_privileged_entries(config.privileged_entries.clone());
    if config.seed {
        seed_if_empty(&registry, config).await?;
    }
    let sync = if config.sources.is_empty() {
        None
    } else {
        let cache_dir = match &config.sync_cache_dir {
            Some(dir) => dir.clone(),
            None => config::data_dir()?.join("sources"),
        };
        Some(sync::SyncService::new(registry.clone(), config.sources.clone(), cache_dir).await?)
    };
    Ok(AppState {
        registries: Arc::new(config.registries.clone()),
        sync,
        registry,
        keys: Arc::new(keys),
        exchanges: Arc::new(exchanges),
        oauth,
        admin_token: config.admin_token.as_deref().map(Arc::from),
        metrics: Arc::default(),
        cache: Arc::new(cache::ReadCache::new(
            config.read_cache_bytes,
            config.read_cache_ttl,
        )),
    })
}

/// Seeds an empty database. `seed_from` is read only then: a seeded database starts without it (a ConfigMap taken
/// away, a file moved), with a warning when it is missing; an empty one fails to start, naming the file.
async fn seed_if_empty(registry: &Registry, config: &Config) -> anyhow::Result<()> {
    if registry.store().count().await? > 0 {
        // A FIFO is not opened: that would wait for a writer.
        if let Some(path) = config
            .seed_from
            .as_deref()
            .filter(|p| !(p.is_file() && std::fs::File::open(p).is_ok()))
        {
            tracing::warn!(
                seed_from = %path.display(),
                "seed_from is not a readable regular file; not needed, as the database is seeded already"
            );
        }
        return Ok(());
    }
    let (source, file) = match &config.seed_from {
        // Read twice (checked whole, then inserted): a pipe or a FIFO would hang or read as empty the second time.
        Some(path) if path.exists() && !path.is_file() => {
            anyhow::bail!(
                "seeding from {}: not a regular file (the seed file is read twice: once to check it, once to \
                 insert it; a pipe, a FIFO or a directory cannot be)",
                path.display()
            )
        }
        Some(path) => (path.display().to_string(), EntryFile::Path(path.clone())),
        None => (
            "the bundled registry".to_string(),
            EntryFile::Bytes(BUNDLED_REGISTRY.as_bytes().into()),
        ),
    };
    let report = match registry.seed_report(file).await {
        Ok(report) => report,
        // Replicas starting together on an empty PostgreSQL database: one seeds, the others' inserts conflict.
        Err(e) if registry.store().count().await.unwrap_or(0) > 0 => {
            tracing::info!(error = %e, "another replica seeded the database meanwhile");
            return Ok(());
        }
        Err(e) => return Err(anyhow::anyhow!("seeding from {source}: {e}")),
    };
    // One line: how many were seeded, how many skipped and why (each skipped entry at debug level).
    if report.skipped == 0 {
        tracing::info!(versions = report.inserted, skipped = 0, source = %source, "seeded an empty database");
    } else {
        tracing::warn!(
            versions = report.inserted,
            skipped = report.skipped,
            skip_reasons = %report.reasons_line(),
            first_skipped = %report.examples_line(),
            source = %source,
            "seeded an empty database"
        );
    }
    Ok(())
}

/// A server listening on its socket, serving until dropped or shut down.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub state: AppState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Stops accepting, finishes in-flight requests, and returns.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.task)
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }
}

/// Binds `config.listen` and serves the API in the background.
pub async fn start(config: &Config) -> anyhow::Result<RunningServer> {
    let state = build_state(config).await?;
    if let Some(sync) = &state.sync {
        sync.spawn();
    }
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let app = routes::app(state.clone(), config.max_body_bytes);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
    });
    Ok(RunningServer {
        addr,
        state,
        shutdown: Some(tx),
        task,
    })
}
