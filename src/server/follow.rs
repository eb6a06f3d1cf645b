//! The follower: reads every new entry of the update stream
//! ([`store::stream::read_after`]), applies it to the [`ValkeyImage`] and
//! hands it to the masters as a spontaneous ASDU. Whether entries were
//! trimmed before they were read is decided here, from
//! [`store::stream::info`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::Problems;
use super::image::{Loaded, ValkeyImage, load};
use crate::connector::now_ms;
use crate::contract::DataPoint;
use crate::iec104::asdu::Asdu;
use crate::iec104::types::{Cause, Cot};
use crate::station::Update;
use crate::store::stream::{self, Entry, StreamId};
use crate::store::{self, StoreClient, StoreConfig, StoreError};

/// `XREAD BLOCK`, ms: how long one read waits for new entries.
pub const BLOCK_MS: u64 = 1000;
/// `XREAD COUNT`: entries per read at most.
pub const READ_COUNT: u64 = 1000;
/// Pause after a failed command before the next attempt.
pub const RETRY: Duration = Duration::from_millis(500);

/// Counters of the follower, for the role's status.
#[derive(Debug, Default)]
pub struct FollowStats {
    entries: AtomicU64,
    malformed: AtomicU64,
    ignored: AtomicU64,
    reloads: AtomicU64,
    missed: AtomicU64,
    errors: AtomicU64,
    lag_ms: AtomicU64,
    connected: AtomicBool,
}

impl FollowStats {
    /// Stream entries handled (malformed and ignored ones included).
    pub fn entries(&self) -> u64 {
        self.entries.load(Ordering::Relaxed)
    }
    /// Entries that are not a data point of their address: skipped.
    pub fn malformed(&self) -> u64 {
        self.malformed.load(Ordering::Relaxed)
    }
    /// Entries of common addresses not served.
    pub fn ignored(&self) -> u64 {
        self.ignored.load(Ordering::Relaxed)
    }
    /// Whole-image reloads after entries were trimmed before being read.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }
    /// Entries never handed to the masters because entries after the last
    /// one read were trimmed before they were read (the writers' cap
    /// overtook the follower): the trimmed ones and those the reload that
    /// followed skipped. Their values came with the reload.
    pub fn missed(&self) -> u64 {
        self.missed.load(Ordering::Relaxed)
    }
    /// Failed Valkey commands.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
    /// Age of the last entry handled when it was handled, ms (from its ID).
    pub fn lag_ms(&self) -> u64 {
        self.lag_ms.load(Ordering::Relaxed)
    }
    /// Whether the last Valkey command succeeded.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }
}

/// The running follower; stops when dropped.
#[derive(Debug)]
pub struct Following {
    loaded: Loaded,
    stats: Arc<FollowStats>,
    task: JoinHandle<()>,
}

impl Following {
    /// What the initial load found.
    pub fn loaded(&self) -> &Loaded {
        &self.loaded
    }

    /// The follower's counters.
    pub fn stats(&self) -> Arc<FollowStats> {
        Arc::clone(&self.stats)
    }

    /// Whether the task has ended (it ends only when stopped).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Connects to Valkey (a connection of its own: `XREAD BLOCK` holds it),
/// loads the process image into `image`, and follows the stream of `cfg`
/// from the ID read before the load, publishing every update on `updates`.
/// Fails when Valkey cannot be reached or the load fails; afterwards
/// outages are retried for ever.
pub async fn start(
    cfg: &StoreConfig,
    image: Arc<ValkeyImage>,
    updates: broadcast::Sender<Update>,
) -> Result<Following, StoreError> {
    let client = store::connect(cfg).await?;
    let loaded = load(&client, &cfg.stream, &image).await?;
    let stats = Arc::new(FollowStats::default());
    stats.connected.store(true, Ordering::Relaxed);
    let follower = Follower {
        client,
        stream: cfg.stream.clone(),
        image,
        updates,
        stats: Arc::clone(&stats),
        last_id: loaded.last_id,
        added: loaded.added,
        problems: Problems::new("stream entry"),
    };
    let task = tokio::spawn(follower.run());
    Ok(Following {
        loaded,
        stats,
        task,
    })
}

struct Follower {
    client: StoreClient,
    stream: String,
    image: Arc<ValkeyImage>,
    updates: broadcast::Sender<Update>,
    stats: Arc<FollowStats>,
    /// The last entry handled.
    last_id: StreamId,
    /// The stream's `entries-added` count when `last_id` was added: the
    /// entries handled since the load, counted on.
    added: u64,
    problems: Problems,
}

impl Follower {
    async fn run(mut self) {
        loop {
            match self.step().await {
                Ok(()) => {
                    if !self.stats.connected.swap(true, Ordering::Relaxed) {
                        info!(from = %self.last_id, "following the update stream again");
                    }
                }
                Err(error) => {
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    if self.stats.connected.swap(false, Ordering::Relaxed) {
                        warn!(%error, at = %self.last_id, "update stream unreadable: retrying every 500 ms from the last entry handled");
                    }
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }

    /// Looks for lost entries, then reads the next ones (waiting at most
    /// [`BLOCK_MS`]).
    async fn step(&mut self) -> Result<(), StoreError> {
        self.check_gap().await?;
        let entries = stream::read_after(
            &self.client,
            &self.stream,
            self.last_id,
            READ_COUNT,
            Some(Duration::from_millis(BLOCK_MS)),
        )
        .await?;
        for entry in entries {
            self.handle(entry);
        }
        Ok(())
    }

    /// Whether entries after the last one handled were trimmed before
    /// being read; if so the image is reloaded and followed from the
    /// stream's end. `XINFO STREAM` tells: when no entry up to the last one
    /// handled is left, the entries added since then (by `entries-added`)
    /// must all still be there. A stream that is new (Valkey restarted
    /// empty, the stream deleted and created again) is followed from its
    /// start. (An entry removed by `XDEL` after others is not noticed.)
    async fn check_gap(&mut self) -> Result<(), StoreError> {
        let info = stream::info(&self.client, &self.stream)
            .await?
            .unwrap_or_default();
        if info.last_generated < self.last_id || info.added < self.added {
            info!(was = %self.last_id, "update stream is a new one: following it from its start");
            self.last_id = StreamId::default();
            self.added = 0;
        }
        let none_older_left = info.length == 0 || info.first > self.last_id;
        let since = info.added.saturating_sub(self.added);
        if none_older_left && since > info.length {
            let from = self.last_id;
            let loaded = load(&self.client, &self.stream, &self.image).await?;
            // The reload resumes at its own position: the entries up to it
            // that were still there are skipped too.
            let missed = loaded.added.saturating_sub(self.added);
            self.last_id = loaded.last_id;
            self.added = loaded.added;
            self.stats.reloads.fetch_add(1, Ordering::Relaxed);
            self.stats.missed.fetch_add(missed, Ordering::Relaxed);
            warn!(
                %from,
                to = %loaded.last_id,
                lost = since - info.length,
                missed,
                "stream entries were trimmed before they were read: process image reloaded (masters get the missed values at their next interrogation)"
            );
        }
        Ok(())
    }

    fn handle(&mut self, entry: Entry) {
        let id = entry.id;
        self.last_id = id;
        self.added += 1;
        self.stats.entries.fetch_add(1, Ordering::Relaxed);
        let now = u64::try_from(now_ms()).unwrap_or(0);
        self.stats
            .lag_ms
            .store(now.saturating_sub(id.ms), Ordering::Relaxed);
        let field = |name: &str| entry.field(name);
        let Some(data) = field("data") else {
            self.malformed(id, "fields", "no data field");
            return;
        };
        let point = match DataPoint::from_json(data) {
            Ok(p) => p,
            Err(e) => {
                self.malformed(id, "json", &e.to_string());
                return;
            }
        };
        let same = |name, v: u64| field(name).is_none_or(|f| f.parse() == Ok(v));
        if !same("casdu", point.casdu.into()) || !same("ioa", point.ioa.into()) {
            let says = format!("the JSON is casdu {} ioa {}", point.casdu, point.ioa);
            self.malformed(id, "address", &says);
            return;
        }
        let Some(element) = self.image.apply(&point) else {
            self.stats.ignored.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let asdu = Asdu::single(
            Cot::new(Cause::SPONTANEOUS),
            point.casdu,
            point.ioa,
            element,
        );
        match Update::new(&asdu) {
            // No receiver (no master connected) is not an error.
            Ok(update) => _ = self.updates.send(update),
            Err(e) => self.malformed(id, "encode", &e.to_string()),
        }
    }

    fn malformed(&mut self, id: StreamId, kind: &'static str, detail: &str) {
        self.stats.malformed.fetch_add(1, Ordering::Relaxed);
        self.problems.report(kind, &id.to_string(), detail);
    }
}
