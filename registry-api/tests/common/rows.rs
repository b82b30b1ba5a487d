//! Rows and syncs for the tests that drive a [`Store`] directly (the store suite, the ConfigMap backend's own).

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use futures::FutureExt;
use serde_json::json;
use thv_core::api::ServerStatus;
use thv_registry_api::store::{
    Store, SyncAttempt, SyncOutcome, SyncTx, Timestamps, VersionRow, sync_fn,
};

/// A managed row of `name` at `version`, published `t` seconds after a fixed instant, with one remote URL
/// derived from the name.
pub fn row(name: &str, version: &str, t: i64) -> VersionRow {
    let at = Utc.timestamp_opt(1_750_000_000 + t, 0).unwrap();
    let value = json!({"name": name, "version": version, "description": format!("about {name}"),
        "remotes": [{"type": "sse", "url": format!("https://{}.example.com/sse", name.replace('/', "-"))}]});
    VersionRow {
        server_name: name.into(),
        version: version.into(),
        value: value.to_string(),
        status: ServerStatus::Active,
        status_message: None,
        status_changed_at: at,
        published_at: at,
        updated_at: at,
        is_latest: false,
        search_text: format!("{name}\nabout {name}").to_lowercase(),
    }
}

/// The outcome of a sync that changed something.
pub fn outcome(full: bool) -> SyncOutcome {
    SyncOutcome {
        settings_hash: "h".into(),
        content_hash: Some("c".into()),
        watermark: None,
        full,
        report: json!({"mode": if full { "full" } else { "incremental" }}),
    }
}

/// A full sync of `rows` into `source`: upsert, remove the rest, commit.
pub async fn replace(s: &Arc<dyn Store>, source: &str, rows: Vec<VersionRow>) -> SyncAttempt {
    s.sync(
        source,
        sync_fn(move |tx: &mut dyn SyncTx| {
            async move {
                tx.clear_latest().await.map_err(|e| e.to_string())?;
                tx.upsert(&rows, Timestamps::FromSource)
                    .await
                    .map_err(|e| e.to_string())?;
                tx.remove_stale().await.map_err(|e| e.to_string())?;
                Ok(Some(outcome(true)))
            }
            .boxed()
        }),
    )
    .await
    .unwrap()
}

/// `r`, flagged latest.
pub fn latest(mut r: VersionRow) -> VersionRow {
    r.is_latest = true;
    r
}
