//! A read cache for the anonymous GET endpoints of the registry API (`/v0*/servers...`), as a middleware.
//!
//! Responses are kept per request URI and per *data generation*: the service bumps the generation after every
//! write it commits, and on PostgreSQL every replica also bumps it when another replica announces a write
//! (`LISTEN`/`NOTIFY`), so a cached page is never served after the data it shows has changed. A time-to-live bounds
//! staleness should a notification ever be lost, and a byte budget bounds memory: the budget counts each answer's
//! body, key and bookkeeping, and when it is spent the entries least likely to be asked again are evicted a few at
//! a time (moka's TinyLFU), so a registry with more distinct answers than the budget holds keeps its hot ones.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::service::Registry;

/// Largest single response kept.
const MAX_ENTRY_BYTES: usize = 4 * 1024 * 1024;
/// What an entry costs beside its body and key: the cache's own records of it (moka's entry, its access-order and
/// expiry records, the key kept twice) and the allocator's rounding. Measured: 1 M versions, 200 k distinct detail
/// answers of ≈ 700 bytes, budgets of 16, 32 and 64 MiB: the process grew 1.24 bytes per budgeted byte with 256
/// here, ≈ 1.0 with this.
const ENTRY_OVERHEAD: usize = 512;
/// Response header saying whether the cache answered (`HIT`) or not (`MISS`), as the official registry's
/// `X-Registry-Cache`.
pub const CACHE_HEADER: &str = "x-registry-cache";

#[derive(Clone)]
struct Entry {
    body: Bytes,
    generation: u64,
}

pub struct ReadCache {
    /// The newest data generation an answer was stored for: older answers are neither served nor stored.
    generation: AtomicU64,
    /// `None` when disabled.
    entries: Option<moka::sync::Cache<String, Entry>>,
    max_bytes: usize,
}

/// The longest time an answer is kept: a year (the configuration refuses more; moka panics beyond 1,000 years,
/// and a cached answer is dropped at every write anyway).
pub const MAX_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

impl ReadCache {
    /// A cache of at most `max_bytes` (0 disables it), each answer kept at most `ttl` (at most [`MAX_TTL`]).
    pub fn new(max_bytes: usize, ttl: Duration) -> Self {
        let ttl = ttl.min(MAX_TTL);
        let entries = (max_bytes > 0 && !ttl.is_zero()).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(max_bytes as u64)
                .weigher(|key: &String, e: &Entry| {
                    u32::try_from(weight(key, &e.body)).unwrap_or(u32::MAX)
                })
                .time_to_live(ttl)
                .build()
        });
        Self {
            generation: AtomicU64::new(0),
            entries,
            max_bytes,
        }
    }

    pub fn enabled(&self) -> bool {
        self.entries.is_some()
    }

    fn get(&self, key: &str, generation: u64) -> Option<Bytes> {
        let entry = self.entries.as_ref()?.get(key)?;
        (entry.generation == generation).then_some(entry.body)
    }

    /// Stores a response computed from data of `generation`; a response computed before a write is not stored.
    fn put(&self, key: String, generation: u64, body: Bytes) {
        let Some(entries) = &self.entries else {
            return;
        };
        // Larger than the budget: never kept (the cache would hold it until its next clean-up).
        if body.len() > MAX_ENTRY_BYTES || weight(&key, &body) > self.max_bytes {
            return;
        }
        let newest = self.generation.fetch_max(generation, Ordering::AcqRel);
        if generation < newest {
            return;
        }
        if generation > newest {
            // New data: every stored answer is out of date (dropped lazily, not under a lock readers wait on).
            entries.invalidate_all();
        }
        // The body as collected may sit in a larger buffer (a serializer's grown Vec): keep an exact copy, so that
        // what the budget counts is what the cache holds.
        let body = Bytes::copy_from_slice(&body);
        entries.insert(key, Entry { body, generation });
    }
}

/// What an entry costs against the budget.
fn weight(key: &str, body: &[u8]) -> usize {
    key.len() + body.len() + ENTRY_OVERHEAD
}

fn cacheable(req: &Request) -> bool {
    let path = req.uri().path();
    req.method() == Method::GET
        && (path.starts_with("/v0/servers")
            || path.starts_with("/v0.1/servers")
            || (path.starts_with("/registry/") && path.contains("/servers")))
}

/// What the middleware needs of the application's state: the cache, and the registry whose data generation keys
/// it.
#[derive(Clone)]
pub struct CacheState {
    pub cache: std::sync::Arc<ReadCache>,
    pub registry: Registry,
}

/// The middleware: answers repeated reads from memory, stores successful ones.
pub async fn serve(State(state): State<CacheState>, req: Request, next: Next) -> Response {
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
        let c = ReadCache::new(100 * (ENTRY_OVERHEAD + 20), Duration::from_secs(60));
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
        c.put("c".into(), 2, Bytes::from_static(b"new"));
        assert!(c.get("a", 2).is_none(), "a write drops the older answers");
        assert!(c.get("c", 2).is_some());

        let entries = c.entries.as_ref().unwrap();
        for i in 0..1_000 {
            c.put(format!("k{i}"), 2, Bytes::from_static(b"0123456789"));
        }
        entries.run_pending_tasks();
        assert!(
            entries.weighted_size() <= 100 * (ENTRY_OVERHEAD as u64 + 20),
            "the budget holds: {}",
            entries.weighted_size()
        );
        assert!(entries.entry_count() > 50, "evicted a little, not all");

        let expired = ReadCache::new(100_000, Duration::from_millis(1));
        expired.put("a".into(), 0, Bytes::from_static(b"x"));
        std::thread::sleep(Duration::from_millis(5));
        assert!(expired.get("a", 0).is_none());
        assert!(!ReadCache::new(0, Duration::from_secs(1)).enabled());
        let tiny = ReadCache::new(100, Duration::from_secs(60));
        tiny.put("a".into(), 0, Bytes::from_static(b"x"));
        assert!(
            tiny.get("a", 0).is_none(),
            "an answer over the budget is not kept"
        );
    }

    /// A body collected from a larger buffer (a grown serializer output, a slice of a bigger frame) is kept as an
    /// exact copy: the budget counts its length, and the buffer behind it would have been held whole.
    #[test]
    fn an_answer_is_kept_without_the_buffer_it_came_in() {
        let c = ReadCache::new(1 << 20, Duration::from_secs(60));
        let buffer = Bytes::from(vec![b'x'; 64 * 1024]);
        let answer = buffer.slice(..100);
        c.put("a".into(), 0, answer.clone());
        let kept = c.get("a", 0).unwrap();
        assert_eq!(kept, answer);
        assert_ne!(
            kept.as_ptr(),
            buffer.as_ptr(),
            "the cache holds the 64 KiB buffer"
        );
    }
}
