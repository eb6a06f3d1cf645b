//! The point writer: one task that owns a Valkey connection and writes every
//! submitted point as an image SET and a stream XADD, pipelined.
//!
//! The task drains the submit channel into a [`Buffer`] all the time, also
//! while a write is in flight or Valkey is away, and writes whatever the
//! buffer holds in one pipeline: one point when idle (lowest latency), a
//! large batch under load (the points that arrived during the previous
//! write). A failed write puts its unacknowledged rest back into the buffer,
//! in front of newer points, and is retried after a short pause (250 ms,
//! then 500 ms) on a new connection: the task connects by itself, so that
//! no write it saw fail is replayed later by the client library.
//!
//! Order: the image SETs of a batch go before its XADDs. Standalone, the
//! batch travels as a few calls of one small Lua script ([`SCRIPT`]), each
//! doing the SETs and XADDs of its share of the batch in order, pipelined on
//! one connection, which Valkey executes in order: a few dozen calls instead
//! of thousands of commands per batch, each call atomic.
//! In Cluster mode the image keys and the stream live on different nodes, so
//! the SETs are sent first and the XADDs only after every SET of the batch
//! was acknowledged (one round trip more per batch). An acknowledged part of
//! a batch is never sent again; an unacknowledged part always is (a reply
//! lost with the connection can therefore repeat a stream entry, never lose
//! one).
//!
//! The stream cap: the buffer holds at most `stream_max_length` stream
//! entries. When more points than that arrive while a write is under way,
//! or while Valkey is away, the oldest entries are left out (their image
//! values are still written). Under load that is what Valkey would do
//! anyway: the next write would add them and its cap trim them away at
//! once. Such entries are counted as trimmed when the next write succeeds,
//! and as dropped when it fails or when they were left out during an
//! outage (from the first failed attempt until a write succeeds again), so
//! that the status tells the two apart.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fred::clients::{Client, Pipeline};
use fred::error::{Error as FredError, ErrorKind};
use fred::interfaces::{ClientLike, KeysInterface, StreamsInterface};
use fred::types::streams::{XCap, XCapKind, XCapTrim};
use fred::types::{ClusterHash, CustomCommand, Key, Value};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use super::buffer::{Addr, Batch, Buffer};
use super::{Conn, Mode, PointRecord, Reconnect, StoreConfig, StoreError, connect_fred, image_key};

/// Pause after the first failed attempt of an outage.
const FIRST_RETRY: Duration = Duration::from_millis(250);
/// Pause after each further failed attempt.
const RETRY: Duration = Duration::from_millis(500);
/// How long the task keeps trying after every handle is gone.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// Image keys kept formatted; beyond this the cache starts over.
const KEY_CACHE_MAX: usize = 1 << 12;
/// Most stream entries (and as many image values) in one pipeline: large
/// enough to reach Valkey's pipelined throughput, small enough that a
/// backlog is written in steady steps of bounded memory.
const MAX_BATCH: usize = 4096;
/// Most commands (SET or XADD) in one script call: Valkey runs a call
/// without interruption, so this bounds the time other clients wait
/// (well under a millisecond).
const SCRIPT_CHUNK: usize = 256;

/// The standalone write of part of a batch. KEYS: the stream, then one
/// image key per image value. ARGV: the cap, `~` or `=`, the source, the
/// image values (in the order of their keys), then per stream entry its
/// CASDU, IOA and JSON. Every SET comes before every XADD, and each XADD
/// has the fields of the contract in order, capped as a plain XADD is.
const SCRIPT: &str = r"local m = #KEYS - 1
for i = 1, m do
  redis.call('SET', KEYS[i + 1], ARGV[3 + i])
end
for j = 4 + m, #ARGV, 3 do
  redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], ARGV[1], '*',
    'casdu', ARGV[j], 'ioa', ARGV[j + 1], 'source', ARGV[3], 'data', ARGV[j + 2])
end
return m
";

/// Counters of a writer, as [`WriterHandle::stats`] gives them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WriterStats {
    /// Points whose stream entry (and image value) Valkey acknowledged.
    pub written: u64,
    /// Points submitted, neither written nor dropped yet.
    pub pending: u64,
    /// Stream entries dropped beyond `stream_max_length` because of a Valkey
    /// outage: left out while Valkey was unreachable, or before a write that
    /// failed (their image values are still written).
    pub dropped_stream_entries: u64,
    /// Stream entries left out beyond `stream_max_length` while Valkey was
    /// writing: more points arrived during one write than the cap keeps, so
    /// the next write would have added them and trimmed them away at once
    /// (their image values are still written). Not an outage.
    pub trimmed_stream_entries: u64,
    /// Whether the last connection attempt or write succeeded.
    pub connected: bool,
    /// The last error seen, kept after recovery (`connected` tells the state).
    pub last_error: Option<String>,
    /// Times Valkey became unreachable (a start while it is down counts).
    pub outages: u64,
}

/// State shared by the handles and the task.
#[derive(Debug)]
struct Shared {
    submitted: AtomicU64,
    written: AtomicU64,
    /// Stream entries left out because of an outage.
    dropped: AtomicU64,
    /// Stream entries left out by the cap while Valkey was writing.
    trimmed: AtomicU64,
    /// Stream entries left out whose next write has not ended yet: counted
    /// as trimmed or dropped by its outcome.
    unsettled: AtomicU64,
    outages: AtomicU64,
    connected: AtomicBool,
    last_error: Mutex<Option<String>>,
    refused_logged: AtomicBool,
    /// Image values and stream entries in the buffer (image values whose
    /// stream entries the cap dropped are held, and not pending).
    held: AtomicU64,
    /// Woken after every write attempt (done or failed).
    progress: Notify,
    /// [`done`](Self::done) when [`WriterHandle::room`] last gave up waiting
    /// for a write that made no progress; `u64::MAX` when none.
    stalled_at: AtomicU64,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            submitted: AtomicU64::new(0),
            written: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            trimmed: AtomicU64::new(0),
            unsettled: AtomicU64::new(0),
            outages: AtomicU64::new(0),
            connected: AtomicBool::new(false),
            last_error: Mutex::new(None),
            refused_logged: AtomicBool::new(false),
            held: AtomicU64::new(0),
            progress: Notify::new(),
            stalled_at: AtomicU64::new(u64::MAX),
        }
    }
}

impl Shared {
    /// Stream entries written or left out.
    fn done(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
            + self.dropped.load(Ordering::SeqCst)
            + self.trimmed.load(Ordering::SeqCst)
            + self.unsettled.load(Ordering::SeqCst)
    }

    fn pending(&self) -> u64 {
        self.submitted
            .load(Ordering::SeqCst)
            .saturating_sub(self.done())
    }

    fn set_error(&self, error: &StoreError) {
        let text = error.to_string();
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(text);
        }
    }
}

/// The writer task; see the module documentation.
#[derive(Debug)]
pub struct Writer;

impl Writer {
    /// Starts the writer task; connecting happens in the background (Valkey
    /// may be down at start). Needs a tokio runtime.
    pub fn spawn(cfg: StoreConfig) -> WriterHandle {
        // Unbounded on purpose, and bounded in effect: `submit` must never
        // wait (the IEC 104 link must not wait for Valkey), and the task
        // receives from this channel while it connects, writes and pauses
        // (`drive`), while it is idle (`wait`) and before each batch
        // (`drain_ready`), so the channel holds only what was submitted
        // since the task last ran; the points then live in
        // the bounded `Buffer` (one image value per address, at most
        // `stream_max_length` stream entries). Producers are held back at
        // their source instead: `room` makes the inbound link wait while
        // more than its limit is pending and Valkey keeps up.
        let (tx, rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = watch::channel(false);
        let (settled_tx, settled_rx) = watch::channel(0);
        let shared = Arc::new(Shared::default());
        let task = Task {
            intake: Intake {
                rx,
                rx_open: true,
                stop: stop_rx,
                stop_open: true,
                buffer: Buffer::new(cfg.stream_max_length),
                shared: Arc::clone(&shared),
                in_outage: false,
                unsettled: 0,
            },
            commands: Commands::new(&cfg),
            settled: settled_tx,
            outage: None,
            trim_log: TrimLog::default(),
            cfg,
        };
        let join = tokio::spawn(task.run());
        WriterHandle {
            inner: Arc::new(Inner {
                tx,
                shared,
                settled: settled_rx,
                stop: stop_tx,
                task: Mutex::new(Some(join)),
            }),
        }
    }
}

#[derive(Debug)]
struct Inner {
    tx: mpsc::UnboundedSender<Vec<PointRecord>>,
    shared: Arc<Shared>,
    /// Points received by the task of which every one is written (or its
    /// stream entry dropped).
    settled: watch::Receiver<u64>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// A handle on the writer task; clones share the task. When the last handle
/// is dropped without [`shutdown`](Self::shutdown), the task writes what it
/// holds (trying for 5 s) and ends.
#[derive(Debug, Clone)]
pub struct WriterHandle {
    inner: Arc<Inner>,
}

impl WriterHandle {
    /// Never blocks and never fails while the writer runs: the IEC 104 link
    /// must not wait for Valkey. After a shutdown the points are refused and
    /// an error is logged (once).
    pub fn submit(&self, points: Vec<PointRecord>) {
        if points.is_empty() {
            return;
        }
        let shared = &self.inner.shared;
        let n = points.len() as u64;
        // Counted before sending, so a flush that follows sees them.
        shared.submitted.fetch_add(n, Ordering::SeqCst);
        if self.inner.tx.send(points).is_err() {
            shared.submitted.fetch_sub(n, Ordering::SeqCst);
            if !shared.refused_logged.swap(true, Ordering::Relaxed) {
                error!(
                    points = n,
                    "the Valkey writer has stopped: points not written"
                );
            }
        }
    }

    /// [`submit`](Self::submit) of data points: each as its contract JSON
    /// under its address.
    pub fn submit_points(&self, points: Vec<crate::contract::DataPoint>) {
        self.submit(
            points
                .into_iter()
                .map(|p| PointRecord {
                    casdu: p.casdu,
                    ioa: p.ioa,
                    json: p.to_json(),
                })
                .collect(),
        );
    }

    /// Waits while Valkey is connected and more than `max_pending` points
    /// are pending or held for writing, so that a burst waits as received frames rather than as
    /// JSON held for writing. Returns at once while Valkey is down, and when
    /// no write completes within `stall` (then it waits no more until one
    /// does): an outage, or a hanging Valkey, never holds up the IEC 104 link
    /// for longer than `stall`.
    pub async fn room(&self, max_pending: u64, stall: Duration) {
        let shared = &self.inner.shared;
        loop {
            let progress = shared.progress.notified();
            tokio::pin!(progress);
            progress.as_mut().enable();
            let held = shared.pending().max(shared.held.load(Ordering::SeqCst));
            if !shared.connected.load(Ordering::SeqCst) || held <= max_pending {
                return;
            }
            let done = shared.done();
            if shared.stalled_at.load(Ordering::SeqCst) == done {
                return;
            }
            if tokio::time::timeout(stall, progress).await.is_err() && shared.done() == done {
                shared.stalled_at.store(done, Ordering::SeqCst);
                return;
            }
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> WriterStats {
        let s = &self.inner.shared;
        let dropped = s.dropped.load(Ordering::SeqCst);
        let trimmed = s.trimmed.load(Ordering::SeqCst);
        WriterStats {
            written: s.written.load(Ordering::SeqCst),
            pending: s.pending(),
            dropped_stream_entries: dropped,
            trimmed_stream_entries: trimmed,
            connected: s.connected.load(Ordering::SeqCst),
            last_error: s.last_error.lock().ok().and_then(|e| e.clone()),
            outages: s.outages.load(Ordering::SeqCst),
        }
    }

    /// Resolves when everything submitted so far is written (for tests and
    /// clean shutdown), or errors after `timeout`.
    pub async fn flush(&self, timeout: Duration) -> Result<(), StoreError> {
        let target = self.inner.shared.submitted.load(Ordering::SeqCst);
        let mut settled = self.inner.settled.clone();
        match tokio::time::timeout(timeout, settled.wait_for(|&n| n >= target)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(StoreError::Stopped),
            Err(_) => Err(StoreError::FlushTimeout {
                timeout,
                pending: self.stats().pending,
            }),
        }
    }

    /// Writes what is pending (waiting at most `timeout`), then stops the
    /// task; what could not be written is logged as an error.
    pub async fn shutdown(self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        if let Err(e) = self.flush(timeout).await {
            warn!("shutting down the Valkey writer: {e}");
        }
        self.inner.stop.send_replace(true);
        let join = self.inner.task.lock().ok().and_then(|mut t| t.take());
        if let Some(join) = join {
            // The task stops at once when told; the floor covers a zero timeout.
            let until = deadline.max(tokio::time::Instant::now() + Duration::from_millis(100));
            let _ = tokio::time::timeout_at(until, join).await;
        }
    }
}

/// The receiving side: channel, buffer and the count of what was received.
struct Intake {
    rx: mpsc::UnboundedReceiver<Vec<PointRecord>>,
    rx_open: bool,
    stop: watch::Receiver<bool>,
    /// False once every handle is gone (the channel closes too).
    stop_open: bool,
    buffer: Buffer,
    shared: Arc<Shared>,
    /// Whether an outage is in progress: entries left out now are dropped.
    in_outage: bool,
    /// Entries left out (not in an outage) since the last batch was taken:
    /// the next batch's outcome says how they count.
    unsettled: u64,
}

/// How stream entries that were left out count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LeftOut {
    /// By the cap, while Valkey was writing.
    Trimmed,
    /// Because of an outage.
    Dropped,
}

impl Intake {
    fn stop_requested(&self) -> bool {
        *self.stop.borrow()
    }

    fn accept(&mut self, points: Vec<PointRecord>) {
        let mut left_out = 0;
        for point in points {
            left_out += self.buffer.push(point);
        }
        if self.in_outage {
            self.count(left_out, LeftOut::Dropped);
        } else if left_out > 0 {
            self.unsettled += left_out;
            self.shared.unsettled.fetch_add(left_out, Ordering::SeqCst);
        }
        self.count_held();
    }

    fn count_held(&self) {
        let held = self.buffer.image_len() + self.buffer.stream_len();
        self.shared.held.store(held as u64, Ordering::SeqCst);
    }

    /// Counts `n` entries left out at once.
    fn count(&self, n: u64, how: LeftOut) {
        if n > 0 {
            let counter = match how {
                LeftOut::Trimmed => &self.shared.trimmed,
                LeftOut::Dropped => &self.shared.dropped,
            };
            counter.fetch_add(n, Ordering::SeqCst);
        }
    }

    /// The entries left out since the last call, to be settled with the
    /// outcome of the batch taken now.
    fn take_unsettled(&mut self) -> u64 {
        std::mem::take(&mut self.unsettled)
    }

    /// Counts `n` entries taken by [`take_unsettled`](Self::take_unsettled).
    fn settle(&self, n: u64, how: LeftOut) {
        if n > 0 {
            // Counted before uncounted: `done` never goes back.
            self.count(n, how);
            self.shared.unsettled.fetch_sub(n, Ordering::SeqCst);
        }
    }

    /// Takes everything that is in the channel now.
    fn drain_ready(&mut self) {
        while self.rx_open {
            match self.rx.try_recv() {
                Ok(points) => self.accept(points),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => self.rx_open = false,
            }
        }
    }

    /// Waits for points; false when the task is to stop.
    async fn wait(&mut self) -> bool {
        if !self.rx_open {
            return !self.stop_requested();
        }
        tokio::select! {
            biased;
            changed = self.stop.changed(), if self.stop_open => {
                self.stop_open = changed.is_ok();
                !self.stop_requested()
            }
            msg = self.rx.recv() => {
                match msg {
                    Some(points) => self.accept(points),
                    None => self.rx_open = false,
                }
                true
            }
        }
    }

    /// Runs `fut` while receiving points; `None` when the task is to stop.
    async fn drive<F: Future>(&mut self, fut: F) -> Option<F::Output> {
        tokio::pin!(fut);
        loop {
            if self.stop_requested() {
                return None;
            }
            tokio::select! {
                biased;
                changed = self.stop.changed(), if self.stop_open => self.stop_open = changed.is_ok(),
                out = &mut fut => return Some(out),
                msg = self.rx.recv(), if self.rx_open => match msg {
                    Some(points) => self.accept(points),
                    None => self.rx_open = false,
                },
            }
        }
    }
}

/// Builds the commands of a batch.
struct Commands {
    mode: Mode,
    stream: Key,
    source: Value,
    trim: XCapTrim,
    max_len: i64,
    keys: HashMap<Addr, Key>,
}

impl Commands {
    fn new(cfg: &StoreConfig) -> Self {
        let trim = if cfg.exact_trim {
            XCapTrim::Exact
        } else {
            XCapTrim::AlmostExact
        };
        let max_len = i64::try_from(cfg.stream_max_length).unwrap_or(i64::MAX);
        Self {
            mode: cfg.mode,
            stream: Key::from(cfg.stream.as_str()),
            source: Value::from(cfg.source.as_str()),
            trim,
            max_len,
            keys: HashMap::new(),
        }
    }

    fn image_key(&mut self, addr: Addr) -> Key {
        if let Some(key) = self.keys.get(&addr) {
            return key.clone();
        }
        if self.keys.len() >= KEY_CACHE_MAX {
            self.keys.clear();
        }
        let key = Key::from(image_key(addr.0, addr.1));
        self.keys.insert(addr, key.clone());
        key
    }

    async fn queue_images(
        &mut self,
        pipeline: &Pipeline<Client>,
        batch: &Batch,
    ) -> Result<(), FredError> {
        for (addr, json) in &batch.images {
            let key = self.image_key(*addr);
            pipeline
                .set::<(), _, _>(key, Value::Bytes(json.clone()), None, None, false)
                .await?;
        }
        Ok(())
    }

    async fn queue_stream(
        &self,
        pipeline: &Pipeline<Client>,
        batch: &Batch,
    ) -> Result<(), FredError> {
        for entry in &batch.stream {
            let cap = XCap::try_from((XCapKind::MaxLen, self.trim.clone(), self.max_len))?;
            let fields = vec![
                (Key::from_static_str("casdu"), Value::from(entry.addr.0)),
                (Key::from_static_str("ioa"), Value::from(entry.addr.1)),
                (Key::from_static_str("source"), self.source.clone()),
                (
                    Key::from_static_str("data"),
                    Value::Bytes(entry.json.clone()),
                ),
            ];
            pipeline
                .xadd::<(), _, _, _, _>(self.stream.clone(), false, cap, "*", fields)
                .await?;
        }
        Ok(())
    }

    /// Queues the standalone script calls of `batch`: its image values, then
    /// its stream entries, in calls of at most [`SCRIPT_CHUNK`] commands.
    /// Returns the calls' ranges: (image values, stream entries).
    async fn queue_scripts(
        &mut self,
        pipeline: &Pipeline<Client>,
        batch: &Batch,
    ) -> Result<Vec<Call>, FredError> {
        let (m, n) = (batch.images.len(), batch.stream.len());
        let eval = CustomCommand::new_static("EVAL", ClusterHash::FirstKey, false);
        let trim = Value::from_static_str(match self.trim {
            XCapTrim::Exact => "=",
            XCapTrim::AlmostExact => "~",
        });
        let mut calls = Vec::with_capacity((m + n).div_ceil(SCRIPT_CHUNK));
        let mut start = 0;
        while start < m + n {
            let end = (start + SCRIPT_CHUNK).min(m + n);
            let call = Call {
                images: start.min(m)..end.min(m),
                stream: start.max(m) - m..end.max(m) - m,
            };
            let mut args: Vec<Value> =
                Vec::with_capacity(6 + 2 * call.images.len() + 3 * call.stream.len());
            args.push(Value::from_static_str(SCRIPT));
            args.push(Value::from(1 + call.images.len() as i64));
            args.push(Value::from(self.stream.clone()));
            let images = batch.images.get(call.images.clone()).unwrap_or_default();
            for (addr, _) in images {
                args.push(Value::from(self.image_key(*addr)));
            }
            args.push(Value::from(self.max_len));
            args.push(trim.clone());
            args.push(self.source.clone());
            for (_, json) in images {
                args.push(Value::Bytes(json.clone()));
            }
            for entry in batch.stream.range(call.stream.clone()) {
                args.push(Value::from(entry.addr.0));
                args.push(Value::from(entry.addr.1));
                args.push(Value::Bytes(entry.json.clone()));
            }
            pipeline.custom::<(), _>(eval.clone(), args).await?;
            calls.push(call);
            start = end;
        }
        Ok(calls)
    }

    /// Writes `batch`, removing from it what Valkey acknowledged.
    async fn write(&mut self, client: &Client, batch: &mut Batch) -> Result<(), StoreError> {
        match self.mode {
            Mode::Standalone => {
                let pipeline = client.pipeline();
                let calls = self
                    .queue_scripts(&pipeline, batch)
                    .await
                    .map_err(|e| command_error("EVAL", &e))?;
                let results = pipeline.try_all::<Value>().await;
                if results.len() != calls.len() {
                    return Err(first_error(&results, "EVAL"));
                }
                // A call that failed keeps its part of the batch (a call
                // that failed half way may have added some of its entries:
                // they are added again, as after a lost reply).
                let mut images = vec![false; batch.images.len()];
                let mut stream = vec![false; batch.stream.len()];
                for (call, result) in calls.iter().zip(&results) {
                    if result.is_ok() {
                        if let Some(done) = images.get_mut(call.images.clone()) {
                            done.fill(true);
                        }
                        if let Some(done) = stream.get_mut(call.stream.clone()) {
                            done.fill(true);
                        }
                    }
                }
                batch
                    .images
                    .retain_indexed(|i| !images.get(i).copied().unwrap_or(false));
                batch
                    .stream
                    .retain_indexed(|i| !stream.get(i).copied().unwrap_or(false));
                match results.iter().find_map(|r| r.as_ref().err()) {
                    Some(e) => Err(command_error("EVAL", e)),
                    None => Ok(()),
                }
            }
            Mode::Cluster => {
                if !batch.images.is_empty() {
                    let pipeline = client.pipeline();
                    self.queue_images(&pipeline, batch)
                        .await
                        .map_err(|e| command_error("SET", &e))?;
                    let results = pipeline.try_all::<Value>().await;
                    if results.len() != batch.images.len() {
                        return Err(first_error(&results, "SET"));
                    }
                    // No XADD before every SET of the batch is acknowledged.
                    acknowledge(&mut batch.images, &results, "SET")?;
                }
                if !batch.stream.is_empty() {
                    let pipeline = client.pipeline();
                    self.queue_stream(&pipeline, batch)
                        .await
                        .map_err(|e| command_error("XADD", &e))?;
                    let results = pipeline.try_all::<Value>().await;
                    if results.len() != batch.stream.len() {
                        return Err(first_error(&results, "XADD"));
                    }
                    acknowledge(&mut batch.stream, &results, "XADD")?;
                }
                Ok(())
            }
        }
    }
}

/// The part of a batch one script call writes.
struct Call {
    images: std::ops::Range<usize>,
    stream: std::ops::Range<usize>,
}

/// Something with `retain`, visited in order.
trait Retain {
    fn retain_indexed(&mut self, keep: impl FnMut(usize) -> bool);
}

impl<T> Retain for Vec<T> {
    fn retain_indexed(&mut self, mut keep: impl FnMut(usize) -> bool) {
        let mut i = 0;
        self.retain(|_| {
            let k = keep(i);
            i += 1;
            k
        });
    }
}

impl<T> Retain for std::collections::VecDeque<T> {
    fn retain_indexed(&mut self, mut keep: impl FnMut(usize) -> bool) {
        let mut i = 0;
        self.retain(|_| {
            let k = keep(i);
            i += 1;
            k
        });
    }
}

/// Removes the items whose command succeeded; the first failure is the error.
fn acknowledge(
    items: &mut impl Retain,
    results: &[Result<Value, FredError>],
    command: &'static str,
) -> Result<(), StoreError> {
    items.retain_indexed(|i| results.get(i).is_none_or(Result::is_err));
    match results.iter().find_map(|r| r.as_ref().err()) {
        Some(e) => Err(command_error(command, e)),
        None => Ok(()),
    }
}

fn first_error(results: &[Result<Value, FredError>], command: &'static str) -> StoreError {
    match results.iter().find_map(|r| r.as_ref().err()) {
        Some(e) => command_error(command, e),
        None => StoreError::Command {
            command,
            reason: format!("{} replies to the pipeline, expected more", results.len()),
        },
    }
}

fn command_error(command: &'static str, e: &FredError) -> StoreError {
    match e.kind() {
        ErrorKind::IO | ErrorKind::Canceled | ErrorKind::Timeout => StoreError::Command {
            command,
            reason: format!("no reply ({})", super::describe(e)),
        },
        _ => StoreError::command(command, e),
    }
}

/// An outage in progress.
struct Outage {
    since: Instant,
    dropped_before: u64,
    /// Failed attempts so far.
    attempts: u32,
}

/// The warning about entries the cap left out: the first at once, then at
/// most one a [`TRIM_LOG_PERIOD`].
#[derive(Default)]
struct TrimLog {
    last: Option<Instant>,
    /// `trimmed` when the last warning was logged.
    reported: u64,
}

/// Least time between two warnings about entries the cap left out.
const TRIM_LOG_PERIOD: Duration = Duration::from_secs(60);

struct Task {
    cfg: StoreConfig,
    intake: Intake,
    commands: Commands,
    settled: watch::Sender<u64>,
    outage: Option<Outage>,
    trim_log: TrimLog,
}

impl Task {
    async fn run(mut self) {
        let addr = self.cfg.addr();
        let mut client: Option<Conn> = None;
        let mut close_deadline: Option<Instant> = None;
        loop {
            if self.intake.stop_requested() {
                break;
            }
            if !self.intake.rx_open {
                let deadline = *close_deadline.get_or_insert_with(|| Instant::now() + CLOSE_GRACE);
                if self.intake.buffer.is_empty() || Instant::now() >= deadline {
                    break;
                }
            }
            // A lost connection is replaced by a new one, whose attempt names
            // the reason when it fails.
            if let Some(c) = client.take_if(|c| !c.alive()) {
                debug!(valkey = %addr, "connection lost; reconnecting");
                c.close().await;
            }
            let c = match &client {
                Some(c) => c.client.clone(),
                None => match self
                    .intake
                    .drive(connect_fred(&self.cfg, Reconnect::Never))
                    .await
                {
                    None => break,
                    Some(Ok(c)) => {
                        self.intake.shared.connected.store(true, Ordering::SeqCst);
                        let fred = c.client.clone();
                        client = Some(c);
                        fred
                    }
                    Some(Err(e)) => {
                        self.failed(&e, 0);
                        if !self.pause().await {
                            break;
                        }
                        continue;
                    }
                },
            };
            self.intake.drain_ready();
            if self.intake.buffer.is_empty() {
                if let Some(settled) = self.intake.buffer.settled() {
                    self.settled.send_replace(settled);
                }
                if self.outage.is_some() {
                    self.recovered(0, 0);
                }
                if !self.intake.wait().await {
                    break;
                }
                continue;
            }
            let mut batch = self.intake.buffer.take(MAX_BATCH);
            // Entries left out before this batch count by its outcome.
            let left_out = self.intake.take_unsettled();
            self.intake.count_held();
            let (entries, images) = (batch.stream.len(), batch.images.len());
            let Some(result) = self.intake.drive(self.commands.write(&c, &mut batch)).await else {
                // Stopped: what is left is logged as unwritten, not counted.
                self.intake.buffer.restore(batch);
                break;
            };
            let written = entries - batch.stream.len();
            self.intake
                .shared
                .written
                .fetch_add(written as u64, Ordering::SeqCst);
            match result {
                Ok(()) => {
                    self.intake.buffer.recycle(batch);
                    if self.outage.is_none() {
                        self.intake.settle(left_out, LeftOut::Trimmed);
                        self.log_trimmed();
                    } else {
                        self.intake.settle(left_out, LeftOut::Dropped);
                    }
                    // A bounded batch may leave older points in the buffer:
                    // settled is where the buffer says, not what was drained.
                    if let Some(settled) = self.intake.buffer.settled() {
                        self.settled.send_replace(settled);
                    }
                    if self.outage.is_some() {
                        self.recovered(written, images);
                    }
                    self.intake.shared.connected.store(true, Ordering::SeqCst);
                    self.intake.shared.progress.notify_waiters();
                }
                Err(e) => {
                    let restored = self.intake.buffer.restore(batch);
                    self.intake.count_held();
                    self.failed(&e, restored);
                    self.intake.settle(left_out, LeftOut::Dropped);
                    // A connection that failed a write is not trusted again
                    // (it may be half dead and time out every command).
                    if let Some(c) = client.take() {
                        c.close().await;
                    }
                    if !self.pause().await {
                        break;
                    }
                }
            }
        }
        self.stopped(client).await;
    }

    /// Waits before the next attempt, receiving points; false to stop.
    async fn pause(&mut self) -> bool {
        let wait = match &self.outage {
            Some(outage) if outage.attempts > 1 => RETRY,
            _ => FIRST_RETRY,
        };
        self.intake.drive(tokio::time::sleep(wait)).await.is_some()
    }

    /// An attempt failed: an outage starts or goes on. `left_out` entries
    /// were left out by it (a failed write put back into the buffer), and
    /// every entry left out and not yet counted is dropped too.
    fn failed(&mut self, error: &StoreError, left_out: u64) {
        let shared = &self.intake.shared;
        shared.set_error(error);
        shared.connected.store(false, Ordering::SeqCst);
        shared.progress.notify_waiters();
        if let Some(outage) = &mut self.outage {
            outage.attempts += 1;
            debug!(valkey = %self.cfg.addr(), "Valkey still unreachable: {error}");
        } else {
            shared.outages.fetch_add(1, Ordering::SeqCst);
            warn!(
                valkey = %self.cfg.addr(),
                "Valkey unreachable: {error}; buffering points (stream up to {} entries) until it is back",
                self.cfg.stream_max_length
            );
            self.outage = Some(Outage {
                since: Instant::now(),
                dropped_before: shared.dropped.load(Ordering::SeqCst),
                attempts: 1,
            });
        }
        self.intake.in_outage = true;
        self.intake.count(left_out, LeftOut::Dropped);
        let unsettled = self.intake.take_unsettled();
        self.intake.settle(unsettled, LeftOut::Dropped);
    }

    /// Warns about entries the cap left out while Valkey was writing: the
    /// first at once, then at most once a [`TRIM_LOG_PERIOD`].
    fn log_trimmed(&mut self) {
        let trimmed = self.intake.shared.trimmed.load(Ordering::SeqCst);
        let log = &mut self.trim_log;
        if trimmed == log.reported || log.last.is_some_and(|t| t.elapsed() < TRIM_LOG_PERIOD) {
            return;
        }
        warn!(
            valkey = %self.cfg.addr(),
            "stream cap {}: {} entries not written since the last such warning (at most one a minute): more points arrived during one write than the cap keeps, so Valkey would have trimmed them at once; their image values were written, a follower of the stream misses them (valkey.trimmed_stream_entries; not an outage)",
            self.cfg.stream_max_length,
            trimmed - log.reported
        );
        log.reported = trimmed;
        log.last = Some(Instant::now());
    }

    fn recovered(&mut self, entries: usize, images: usize) {
        let Some(outage) = self.outage.take() else {
            return;
        };
        self.intake.in_outage = false;
        let addr = self.cfg.addr();
        let dropped = self
            .intake
            .shared
            .dropped
            .load(Ordering::SeqCst)
            .saturating_sub(outage.dropped_before);
        if dropped > 0 {
            warn!(
                valkey = %addr,
                "dropped the {dropped} oldest stream entries beyond the cap of {} during the outage (their image values were written)",
                self.cfg.stream_max_length
            );
        }
        info!(
            valkey = %addr,
            "Valkey reachable again after {:.1} s: wrote {entries} stream entries and {images} image values from the buffer",
            outage.since.elapsed().as_secs_f64()
        );
    }

    async fn stopped(mut self, client: Option<Conn>) {
        self.intake.drain_ready();
        let buffer = &self.intake.buffer;
        if !buffer.is_empty() {
            error!(
                valkey = %self.cfg.addr(),
                "the Valkey writer stops with {} stream entries and {} image values unwritten",
                buffer.stream_len(),
                buffer.image_len()
            );
        }
        if let Some(c) = client {
            c.close().await;
        }
    }
}
