//! What every handler shares.

use std::sync::Arc;

use crate::auth::{Caller, TokenKeys, secrets_equal};
use axum::extract::FromRef;

use crate::cache::{CacheState, ReadCache};
use crate::exchange::{ExchangeState, Exchanges};
use crate::metrics::Metrics;
use crate::service::Registry;
use crate::sync::SyncService;
use crate::sync::config::Registries;

#[derive(Clone)]
pub struct AppState {
    pub registry: Registry,
    /// Behind an `Arc`, as every field: axum clones the state for each extractor of each request.
    pub keys: Arc<TokenKeys>,
    pub admin_token: Option<Arc<str>>,
    pub metrics: Arc<Metrics>,
    pub cache: Arc<ReadCache>,
    /// The named registries, and the one served at `/v0.1`.
    pub registries: Arc<Registries>,
    /// The sync of configured sources (`None` when none are configured).
    pub sync: Option<Arc<SyncService>>,
    /// The token exchanges (`/auth/*`).
    pub exchanges: Arc<Exchanges>,
    /// `auth.oauth`: every request needs a token (`None`: reads are open).
    pub oauth: Option<Arc<crate::oauth::OAuth>>,
}

impl AppState {
    /// A caller from a bearer token: the admin token, or a registry JWT signed with our key.
    /// Whether `token` is the admin token.
    pub fn is_admin_token(&self, token: &str) -> bool {
        self.admin_token
            .as_ref()
            .is_some_and(|admin| secrets_equal(admin, token))
    }

    pub fn authenticate(&self, token: &str) -> Option<Caller> {
        if let Some(admin) = &self.admin_token
            && secrets_equal(admin, token)
        {
            return Some(Caller::admin());
        }
        self.keys.verify(token)
    }
}

// What each handler module takes of the state (so that those modules need not know `AppState`).
impl FromRef<AppState> for Arc<Metrics> {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
    }
}

impl FromRef<AppState> for CacheState {
    fn from_ref(state: &AppState) -> Self {
        CacheState {
            cache: state.cache.clone(),
            registry: state.registry.clone(),
        }
    }
}

impl FromRef<AppState> for ExchangeState {
    fn from_ref(state: &AppState) -> Self {
        ExchangeState {
            keys: state.keys.clone(),
            exchanges: state.exchanges.clone(),
        }
    }
}
