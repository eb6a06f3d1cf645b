//! The push of connectors' managed configurations from PostgreSQL to
//! Valkey: the outbox (`push_outbox`, written in each change's
//! transaction) drained into `SET connectors:{ID}:config` + `PUBLISH`
//! (or `DEL` + `PUBLISH` for a deleted or disabled connector), and the
//! keys reconciled with the database at start and every
//! [`RECONCILE_EVERY`] (a Valkey that restarted empty is refilled).
//!
//! ```text
//! API change ─► commit (row, audit, version, outbox row) ─► wake ─┐
//!                                       every RECONCILE_EVERY ────┤
//! pusher: take_pushes ─► push_target(id) ─► SET/DEL + PUBLISH ─► push_done(id, generation)
//!                                   └─ Valkey away ─► push_failed, back-off, the row stays
//! ```
//!
//! A push is ended only for the generation it pushed: a change committed
//! while it was under way keeps its row and is pushed next. Nothing is
//! lost while Valkey or PostgreSQL is away; the pusher tries again with a
//! back-off and catches up by itself.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::db::DbError;
use super::http::Shared;
use super::run::{RETRY_FIRST, next_delay};
use crate::store::{self, StoreClient, StoreError, config_key};

/// How often the keys in Valkey are compared with the database.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(10);
/// Pushes taken from the outbox at a time.
const BATCH: i64 = 100;
/// How often the pusher looks whether the database and Valkey are ready.
const NOT_READY_POLL: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
enum PushError {
    #[error("{0}")]
    Db(#[from] DbError),
    #[error("{0}")]
    Valkey(#[from] StoreError),
}

/// Runs the pusher until the task is aborted; `shared.push_wake` is
/// notified after every committed change.
pub async fn run(shared: Arc<Shared>) {
    let wake = &shared.push_wake;
    let mut started = false;
    let mut next_reconcile = Instant::now();
    let mut delay = RETRY_FIRST;
    let mut failing = false;
    loop {
        let valkey = match shared.valkey.get() {
            Some(v) if shared.migrated.load(Ordering::Acquire) => v,
            _ => {
                tokio::time::sleep(NOT_READY_POLL).await;
                continue;
            }
        };
        let mut result = Ok(false);
        if Instant::now() >= next_reconcile {
            result = reconcile(&shared, valkey, !started).await.map(|()| true);
            if result.is_ok() {
                started = true;
                next_reconcile = Instant::now() + RECONCILE_EVERY;
            }
        }
        if result.is_ok() {
            result = push_pending(&shared, valkey).await;
        }
        match result {
            Ok(more) => {
                if failing {
                    info!("configuration pushes caught up");
                    failing = false;
                }
                delay = RETRY_FIRST;
                if !more {
                    tokio::select! {
                        () = wake.notified() => {}
                        () = tokio::time::sleep_until(next_reconcile) => {}
                    }
                }
            }
            Err(e) => {
                if failing {
                    debug!("configuration push still failing: {e}");
                } else {
                    warn!("configuration push failed ({e}); trying again until it succeeds");
                    failing = true;
                }
                tokio::select! {
                    () = wake.notified() => {}
                    () = tokio::time::sleep(delay) => {}
                }
                delay = next_delay(delay);
            }
        }
    }
}

/// Pushes up to a batch of pending pushes; whether more may be waiting.
async fn push_pending(shared: &Shared, valkey: &StoreClient) -> Result<bool, PushError> {
    let pending = shared.db.take_pushes(BATCH).await?;
    let full = i64::try_from(pending.len()).unwrap_or(i64::MAX) >= BATCH;
    let count = if full {
        shared.db.pending_pushes().await?
    } else {
        i64::try_from(pending.len()).unwrap_or(i64::MAX)
    };
    shared
        .metrics
        .pushes_pending
        .store(count, Ordering::Relaxed);
    for p in pending {
        let target = shared.db.push_target(&p.connector_id).await?;
        let json = target.as_ref().map(Value::to_string);
        if let Err(e) = store::push_config(valkey, &p.connector_id, json.as_deref()).await {
            shared.metrics.push_failures.fetch_add(1, Ordering::Relaxed);
            let _ = shared.db.push_failed(&p.connector_id, &e.to_string()).await;
            return Err(e.into());
        }
        shared.metrics.pushes.fetch_add(1, Ordering::Relaxed);
        let ended = shared.db.push_done(&p.connector_id, p.generation).await?;
        if ended {
            shared
                .metrics
                .pushes_pending
                .fetch_sub(1, Ordering::Relaxed);
        }
        match json {
            Some(_) => info!(connector = %p.connector_id, "configuration pushed"),
            None => info!(connector = %p.connector_id, "configuration key removed"),
        }
    }
    Ok(full)
}

/// Marks for pushing every connector whose key differs from what the
/// database says it should hold (`all`: every connector, at start).
async fn reconcile(shared: &Shared, valkey: &StoreClient, all: bool) -> Result<(), PushError> {
    let composed = shared.db.composed().await?;
    let ids: Vec<String> = composed.iter().map(|c| c.connector.id.clone()).collect();
    if all {
        for id in &ids {
            shared.db.enqueue_push(id).await?;
        }
        return Ok(());
    }
    let keys: Vec<String> = ids.iter().map(|id| config_key(id)).collect();
    let values = store::mget_text(valkey, &keys).await?;
    let held: HashMap<&str, Option<Value>> = ids
        .iter()
        .zip(values)
        .map(|(id, v)| {
            (
                id.as_str(),
                v.and_then(|text| serde_json::from_str::<Value>(&text).ok()),
            )
        })
        .collect();
    for c in &composed {
        let id = c.connector.id.as_str();
        let want = if c.connector.fields.enabled {
            shared.db.push_target(id).await?
        } else {
            None
        };
        let have = held.get(id).cloned().flatten();
        if want != have {
            debug!(connector = %id, "configuration key differs from the database: pushed again");
            shared.db.enqueue_push(id).await?;
        }
    }
    Ok(())
}
