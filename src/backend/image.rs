//! The backend's view of the process image: an ordered index of the
//! addresses in Valkey (for the pages of `GET /api/v1/points`) and the
//! live updates of the stream fanned out to every `GET /api/v1/updates`
//! client.
//!
//! ```text
//! Valkey ── SCAN process:image:* (at start, every RESCAN_EVERY) ─► index: BTreeSet<(casdu, ioa)>
//!        └─ XREAD BLOCK the update stream (from its end) ─► index.insert ─► broadcast ─► each SSE client
//! page request ─► index range after the cursor ─► MGET of the page's keys ─► the points as stored
//! ```
//!
//! The index holds addresses only (16 bytes each); the values are always
//! read from Valkey, so a page is never older than the request. A key
//! removed from Valkey leaves the index at the next rescan (a page skips
//! it meanwhile). A client too slow for the stream loses the oldest
//! updates of its queue and is told how many (`event: lagged`).

use std::collections::BTreeSet;
use std::ops::Bound;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::http::Shared;
use crate::store::image::{IMAGE_PATTERN, parse_image_key, scan_keys};
use crate::store::stream::{self, StreamId};
use crate::store::{StoreClient, StoreError};

/// How often the index is read again whole.
pub const RESCAN_EVERY: Duration = Duration::from_secs(30);
/// Updates queued per live update client before it loses the oldest.
pub const CLIENT_QUEUE: usize = 8192;
/// Entries read from the stream at a time.
const READ_COUNT: u64 = 1000;
/// Longest block of one `XREAD`.
const READ_BLOCK: Duration = Duration::from_secs(1);

/// The stream ID before any entry.
const ZERO: StreamId = StreamId { ms: 0, seq: 0 };

/// One entry of the update stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// The stream entry ID (the SSE event id).
    pub id: String,
    /// Common address.
    pub casdu: u16,
    /// Information object address.
    pub ioa: u32,
    /// The data point JSON as written.
    pub data: String,
}

/// The index and the fan-out.
#[derive(Debug)]
pub struct Image {
    index: RwLock<BTreeSet<(u16, u32)>>,
    updates: broadcast::Sender<Arc<Update>>,
}

impl Default for Image {
    fn default() -> Self {
        Self::new()
    }
}

impl Image {
    /// An empty index.
    pub fn new() -> Self {
        let (updates, _) = broadcast::channel(CLIENT_QUEUE);
        Self {
            index: RwLock::new(BTreeSet::new()),
            updates,
        }
    }

    /// A receiver of the updates from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Update>> {
        self.updates.subscribe()
    }

    /// Up to `limit` addresses after `after` (exclusive; `None`: from the
    /// start) for which `keep` holds, in order, and whether more follow.
    pub fn page(
        &self,
        after: Option<(u16, u32)>,
        limit: usize,
        keep: impl Fn(&(u16, u32)) -> bool,
    ) -> (Vec<(u16, u32)>, bool) {
        let index = self.index.read().unwrap_or_else(|p| p.into_inner());
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut out = Vec::with_capacity(limit.min(index.len()));
        let mut rest = index.range((start, Bound::Unbounded)).filter(|a| keep(a));
        for a in rest.by_ref() {
            if out.len() == limit {
                return (out, true);
            }
            out.push(*a);
        }
        (out, false)
    }

    /// Addresses known.
    pub fn len(&self) -> usize {
        self.index.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no address is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets addresses whose key is gone.
    pub fn forget(&self, gone: &[(u16, u32)]) {
        if gone.is_empty() {
            return;
        }
        let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
        for a in gone {
            index.remove(a);
        }
    }

    fn replace(&self, addresses: BTreeSet<(u16, u32)>) {
        *self.index.write().unwrap_or_else(|p| p.into_inner()) = addresses;
    }

    fn publish(&self, updates: Vec<Update>) {
        {
            let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
            for u in &updates {
                index.insert((u.casdu, u.ioa));
            }
        }
        for u in updates {
            // No receiver is no error: nobody is watching.
            let _ = self.updates.send(Arc::new(u));
        }
    }
}

/// The update of one stream entry, if it is one of the contract's.
fn update_of(entry: &stream::Entry) -> Option<Update> {
    let casdu = entry.field("casdu")?.parse().ok()?;
    let ioa: u32 = entry.field("ioa")?.parse().ok()?;
    let data = entry.field("data")?;
    (ioa <= 0xFF_FFFF).then(|| Update {
        id: entry.id.to_string(),
        casdu,
        ioa,
        data: data.to_owned(),
    })
}

/// Every image address in Valkey.
async fn scan_index(client: &StoreClient) -> Result<BTreeSet<(u16, u32)>, StoreError> {
    Ok(scan_keys(client, IMAGE_PATTERN)
        .await?
        .iter()
        .filter_map(|k| parse_image_key(k))
        .collect())
}

/// Follows the stream and keeps the index of `shared.image` until
/// aborted, once Valkey is connected.
pub async fn follow(shared: Arc<Shared>, stream_name: String) {
    let image = &shared.image;
    let client = loop {
        if let Some(c) = shared.valkey.get() {
            break c.clone();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut after: Option<StreamId> = None;
    let mut next_scan = Instant::now();
    let mut failing = false;
    loop {
        let result: Result<(), StoreError> = async {
            if after.is_none() {
                // Start at the stream's end: what is older is in the image.
                let info = stream::info(&client, &stream_name).await?;
                after = Some(info.map_or(ZERO, |i| i.last_generated));
            }
            if Instant::now() >= next_scan {
                image.replace(scan_index(&client).await?);
                next_scan = Instant::now() + RESCAN_EVERY;
            }
            let from = after.unwrap_or(ZERO);
            let entries =
                stream::read_after(&client, &stream_name, from, READ_COUNT, Some(READ_BLOCK))
                    .await?;
            if let Some(last) = entries.last() {
                after = Some(last.id);
            }
            image.publish(entries.iter().filter_map(update_of).collect());
            Ok(())
        }
        .await;
        match result {
            Ok(()) => failing = false,
            Err(e) => {
                if failing {
                    debug!("update stream still not readable: {e}");
                } else {
                    warn!("update stream not readable ({e}); trying again");
                    failing = true;
                }
                // Whatever was missed is in the image; the next rescan
                // brings new addresses.
                after = None;
                next_scan = Instant::now();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
