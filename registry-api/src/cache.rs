//! A read cache for the anonymous GET endpoints of the registry API (`/v0*/servers...`), as a middleware.
//!
//! Responses are kept per request URI and per *data generation*: the service bumps the generation after every
//! write it commits, and on PostgreSQL every replica also bumps it when another replica announces a write
//! (`LISTEN`/`NOTIFY`), so a cached page is never served after the data it shows has changed. A time-to-live bounds
//! staleness should a notification ever be lost, and a byte budget bounds memory.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// Largest single response kept.
const MAX_ENTRY_BYTES: usize = 4 * 1024 * 1024;
/// Response header saying whether the cache answered (`HIT`) or not (`MISS`), as the official registry's
/// `X-Registry-Cache`.
pub const CACHE_HEADER: &str = "x-registry-cache";

struct Entry {
    body: Bytes,
    stored: Instant,
}

#[derive(Default)]
struct Entries {
    generation: u64,
    bytes: usize,
    map: HashMap<String, Entry>,
}

pub struct ReadCache {
    ttl: Duration,
    max_bytes: usize,
    entries: RwLock<Entries>,
}

impl ReadCache {
    /// A cache of at most `max_bytes` of response bodies (0 disables it), each kept at most `ttl`.
    pub fn new(max_bytes: usize, ttl: Duration) -> Self {
        Self {
            ttl,
            max_bytes,
            entries: RwLock::new(Entries::default()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.max_bytes > 0 && !self.ttl.is_zero()
    }

    fn get(&self, key: &str, generation: u64) -> Option<Bytes> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        if entries.generation != generation {
            return None;
        }
        entries
            .map
            .get(key)
            .filter(|e| e.stored.elapsed() < self.ttl)
            .map(|e| e.body.clone())
    }

    /// Stores a response computed from data of `generation`; a response computed before a write is not stored.
    fn put(&self, key: String, generation: u64, body: Bytes) {
        if body.len() > MAX_ENTRY_BYTES.min(self.max_bytes) {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if generation < entries.generation {
            return;
        }
        let mut dropped = None;
        if generation > entries.generation || entries.bytes + body.len() > self.max_bytes {
            // New data, or the budget is spent: start over (entries are cheap to recompute). The old entries —
            // tens of thousands when the budget is spent on small answers — are freed after the lock is released,
            // so that no reader waits for that.
            dropped = Some(std::mem::replace(
                &mut *entries,
                Entries {
                    generation,
                    ..Entries::default()
                },
            ));
        }
        entries.bytes += body.len() + key.len();
        if let Some(old) = entries.map.insert(
            key.clone(),
            Entry {
                body,
                stored: Instant::now(),
            },
        ) {
            entries.bytes -= old.body.len() + key.len();
        }
        drop(entries);
        drop(dropped);
    }
}

fn cacheable(req: &Request) -> bool {
    let path = req.uri().path();
    req.method() == Method::GET
        && (path.starts_with("/v0/servers")
            || path.starts_with("/v0.1/servers")
            || (path.starts_with("/registry/") && path.contains("/servers")))
}

/// The middleware: answers repeated reads from memory, stores successful ones.
pub async fn serve(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !state.cache.enabled() || !cacheable(&req) {
        return next.run(req).await;
    }
    let key = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string());
    let generation = state.registry.generation();
    if let Some(body) = state.cache.get(&key, generation) {
        return json_response(body, "HIT");
    }
    let resp = next.run(req).await;
    if resp.status() != StatusCode::OK {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    match axum::body::to_bytes(body, MAX_ENTRY_BYTES).await {
        Ok(bytes) => {
            state.cache.put(key, generation, bytes.clone());
            let mut resp = Response::from_parts(parts, Body::from(bytes));
            resp.headers_mut()
                .insert(CACHE_HEADER, HeaderValue::from_static("MISS"));
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "reading a response body for the cache");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn json_response(body: Bytes, cache: &'static str) -> Response {
    let mut resp = Response::new(Body::from(body));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp.headers_mut()
        .insert(CACHE_HEADER, HeaderValue::from_static(cache));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_follow_the_generation_and_the_budget() {
        let c = ReadCache::new(100, Duration::from_secs(60));
        c.put("a".into(), 1, Bytes::from_static(b"0123456789"));
        assert_eq!(c.get("a", 1).as_deref(), Some(&b"0123456789"[..]));
        assert!(
            c.get("a", 2).is_none(),
            "a newer generation never sees older entries"
        );
        c.put("b".into(), 0, Bytes::from_static(b"stale"));
        assert!(
            c.get("b", 1).is_none(),
            "a response computed before a write is not stored"
        );
        c.put("big".into(), 1, Bytes::from(vec![0u8; 101]));
        assert!(c.get("big", 1).is_none(), "larger than the budget");
        for i in 0..20 {
            c.put(format!("k{i}"), 1, Bytes::from_static(b"0123456789"));
        }
        assert!(c.entries.read().unwrap().bytes <= 100);
        let expired = ReadCache::new(100, Duration::from_millis(1));
        expired.put("a".into(), 0, Bytes::from_static(b"x"));
        std::thread::sleep(Duration::from_millis(5));
        assert!(expired.get("a", 0).is_none());
    }
}
