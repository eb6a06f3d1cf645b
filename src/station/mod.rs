//! The controlled station's application layer: answers the requests of
//! SCADA masters from a process image and hands them its spontaneous
//! updates. Shared by the demo RTU (`rtu-sim`) and the `iec104-server`
//! role, which differ only in the [`PointSource`] behind it.
//!
//! Boundary: below is [`driver`](crate::iec104::driver) (one
//! [`Connection`] per master: link layer, k/w windows, timers); above is a
//! [`PointSource`] (the points, read-only here) and a
//! [`broadcast`] channel of [`Update`]s (spontaneous data, already
//! encoded). Nothing here touches the system clock or executes a command.
//!
//! ```text
//!             ┌──────────────── one pair of tasks per master ────────────────┐
//! Listener ─► │ reader: Connection::recv ─► request::handle ─► jobs (bounded) │
//!             │                                                  │           │
//!             │ writer: jobs first, then updates ─► AsduSender::send (awaits  │
//!             │         the k window: a large interrogation is streamed)      │
//!             └──────────────────────────────────────────────────────────────┘
//! PointSource ─► snapshot/read (per request)     broadcast<Update> ─► every writer
//! ```
//!
//! Requests (IEC 60870-5-101 §7.4, answered as lib60870 does):
//!
//! - C_IC_NA_1 (QOI 20, groups 21..36): ACT_CON, every monitor point of the
//!   station in ascending IOA, untimed ([`Element::untimed`]), packed per
//!   run of one type, cause 20..36; ACT_TERM. Left out: the integrated
//!   totals (15, 16, 37: counter interrogation) and the protection events
//!   (17-19, 38-40: events, not states; they go spontaneously and answer a
//!   read). [`PointSource::group_snapshot`] gives a group's points.
//! - C_CI_NA_1: ACT_CON, the integrated totals in their own type with cause
//!   37 (groups 1..4: none), ACT_TERM; freeze/reset (FRZ 1..3) only
//!   confirmed.
//! - Common address 65535: the above for every station in turn, each with
//!   its own common address.
//! - C_RD_NA_1: the point in its own type with cause 5 (protection events
//!   included); 47 negative for an unknown IOA.
//! - C_CS_NA_1, C_TS_NA_1, C_TS_TA_1, C_RP_NA_1: ACT_CON mirrored.
//! - Process commands (45-51, 58-64): negative confirmation.
//! - Other types: mirrored, 44 negative; a wrong cause: 45 negative; an
//!   unknown common address: 46 negative. A malformed ASDU closes the
//!   connection (and only that one).
//!
//! Spontaneous updates reach a master only in data transfer (after
//! STARTDT); in STOPDT they are dropped. A master that falls behind by more
//! than the channel holds loses updates: counted in [`Stats::lagged`] and
//! logged as a warning; the next interrogation brings it up to date.
//! Updates wait while a request is answered, so that an interrogation
//! answer never overtakes a newer spontaneous value.

mod answer;
mod groups;
mod image;
mod request;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};
use tracing::{Instrument, debug, info, info_span, warn};

use crate::iec104::asdu::{Asdu, EncodeError};
use crate::iec104::driver::{AsduSender, Connection, Listener};
use crate::iec104::link::{CloseReason, Event, SendError};
use crate::iec104::types::{Cot, Element, TypeId};

use answer::Answer;
pub use groups::{GROUPS, GroupRange, GroupRangeError, Groups};
pub use image::MemoryImage;
pub use request::Malformed;
use request::{Action, Interrogation, Kind};

/// Requests queued for a master's writer; the reader waits beyond that.
const JOBS: usize = 64;

/// Pause after a failed accept (out of file descriptors), before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The points a station serves.
pub trait PointSource: Send + Sync + 'static {
    /// Common addresses served.
    fn stations(&self) -> Vec<u16>;

    /// The points of a station in ascending IOA, as (ioa, element), each in
    /// the type it is served in (spontaneously and on read; an
    /// interrogation answer takes its untimed type); `None` for an unknown
    /// station.
    fn snapshot(&self, ca: u16) -> Option<Vec<(u32, Element)>>;

    /// The points of interrogation group 1..=16, in ascending IOA; `None`
    /// for an unknown station. Without a group assignment: none.
    fn group_snapshot(&self, ca: u16, group: u8) -> Option<Vec<(u32, Element)>> {
        let _ = group;
        self.stations().contains(&ca).then(Vec::new)
    }

    /// One point, for a read command.
    fn read(&self, ca: u16, ioa: u32) -> ReadResult;
}

/// The answer of [`PointSource::read`].
#[derive(Debug, Clone, PartialEq)]
pub enum ReadResult {
    /// The point.
    Point(Element),
    /// The station has no point with that IOA.
    UnknownIoa,
    /// No station with that common address.
    UnknownStation,
}

/// A spontaneous (or periodic) ASDU for every master, encoded once.
#[derive(Debug, Clone)]
pub struct Update {
    bytes: Arc<[u8]>,
    objects: usize,
}

impl Update {
    /// Encodes `asdu`; the errors are those of [`Asdu::encode`].
    pub fn new(asdu: &Asdu) -> Result<Update, EncodeError> {
        Ok(Update {
            bytes: asdu.to_bytes()?.into(),
            objects: asdu.objects.len(),
        })
    }

    /// The encoded ASDU.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Its number of information objects.
    pub fn objects(&self) -> usize {
        self.objects
    }
}

/// Counters over every master of a station, for rate and health reports.
#[derive(Debug, Default)]
pub struct Stats {
    masters: AtomicU64,
    started: AtomicU64,
    updates: AtomicU64,
    update_objects: AtomicU64,
    lagged: AtomicU64,
}

impl Stats {
    /// Masters connected now.
    pub fn masters(&self) -> u64 {
        self.masters.load(Ordering::Relaxed)
    }
    /// Masters in data transfer (after STARTDT) now.
    pub fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }
    /// Spontaneous ASDUs handed to the link layer, summed over masters.
    pub fn updates(&self) -> u64 {
        self.updates.load(Ordering::Relaxed)
    }
    /// Their information objects.
    pub fn update_objects(&self) -> u64 {
        self.update_objects.load(Ordering::Relaxed)
    }
    /// Spontaneous ASDUs lost by masters that fell behind.
    pub fn lagged(&self) -> u64 {
        self.lagged.load(Ordering::Relaxed)
    }
}

/// Why a master's connection ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ended {
    /// The link closed (by the master, a timer, a protocol error).
    Link(CloseReason),
    /// The master sent an ASDU the station cannot take; the station closed.
    Malformed(Malformed),
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::Link(reason) => write!(f, "{reason:?}"),
            Ended::Malformed(m) => write!(f, "malformed ASDU: {m}"),
        }
    }
}

/// A controlled station: a point source and a channel of updates, served
/// to any number of masters.
#[derive(Debug)]
pub struct Station<S> {
    source: Arc<S>,
    updates: broadcast::Sender<Update>,
    stats: Arc<Stats>,
}

impl<S> Clone for Station<S> {
    fn clone(&self) -> Self {
        Self {
            source: Arc::clone(&self.source),
            updates: self.updates.clone(),
            stats: Arc::clone(&self.stats),
        }
    }
}

/// Accepts masters on `listener` and serves each on its own task; see
/// [`Station::serve`].
pub async fn serve<S: PointSource>(
    listener: Listener,
    source: Arc<S>,
    updates: broadcast::Sender<Update>,
) {
    Station::new(source, updates).serve(listener).await;
}

impl<S: PointSource> Station<S> {
    /// A station answering from `source`; every master subscribes to
    /// `updates` when it connects.
    pub fn new(source: Arc<S>, updates: broadcast::Sender<Update>) -> Self {
        Self {
            source,
            updates,
            stats: Arc::default(),
        }
    }

    /// The counters over every master.
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.stats)
    }

    /// Accepts masters for ever, each served on its own task; logs one line
    /// per connect and disconnect naming the master.
    pub async fn serve(self, listener: Listener) {
        loop {
            match listener.accept().await {
                Ok(conn) => {
                    let station = self.clone();
                    tokio::spawn(async move {
                        let peer = conn.peer();
                        info!(%peer, "master connected");
                        let ended = station.serve_connection(conn).await;
                        info!(%peer, reason = %ended, "master disconnected");
                    });
                }
                Err(error) => {
                    warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    }

    /// Serves one master until its connection ends.
    pub async fn serve_connection(&self, mut conn: Connection) -> Ended {
        let peer = conn.peer();
        let span = info_span!("station", %peer);
        self.stats.masters.fetch_add(1, Ordering::Relaxed);
        let (jobs_tx, jobs_rx) = mpsc::channel(JOBS);
        let (started_tx, started_rx) = watch::channel(false);
        let writer = Writer {
            sender: conn.sender(),
            source: Arc::clone(&self.source),
            stats: Arc::clone(&self.stats),
            started: started_rx,
            peer,
            lagged: 0,
        };
        let writer = tokio::spawn(
            writer
                .run(jobs_rx, self.updates.subscribe())
                .instrument(span.clone()),
        );
        let ended = async {
            loop {
                let Some(event) = conn.recv().await else {
                    break Ended::Link(CloseReason::RemoteClosed);
                };
                let action = match event {
                    Event::Closed(reason) => break Ended::Link(reason),
                    Event::DataTransferStarted => {
                        if !started_tx.send_replace(true) {
                            self.stats.started.fetch_add(1, Ordering::Relaxed);
                        }
                        continue;
                    }
                    Event::DataTransferStopped => {
                        if started_tx.send_replace(false) {
                            self.stats.started.fetch_sub(1, Ordering::Relaxed);
                        }
                        continue;
                    }
                    Event::Asdu(raw) => request::handle(&raw, &*self.source),
                };
                match action {
                    Action::Close(m) => {
                        warn!(error = %m, "malformed ASDU from the master: closing");
                        break Ended::Malformed(m);
                    }
                    Action::Reply(answers) => {
                        if jobs_tx.send(Job::Reply(answers)).await.is_err() {
                            continue;
                        }
                    }
                    Action::Interrogate(i) => {
                        if jobs_tx.send(Job::Interrogate(i)).await.is_err() {
                            continue;
                        }
                    }
                }
            }
        }
        .instrument(span)
        .await;
        drop(jobs_tx);
        writer.abort();
        conn.close().await;
        if *started_tx.borrow() {
            self.stats.started.fetch_sub(1, Ordering::Relaxed);
        }
        self.stats.masters.fetch_sub(1, Ordering::Relaxed);
        ended
    }
}

/// Work for a master's writer, in the order the requests came.
#[derive(Debug)]
enum Job {
    Reply(Vec<Vec<u8>>),
    Interrogate(Interrogation),
}

/// The sending half of one master's service.
struct Writer<S> {
    sender: AsduSender,
    source: Arc<S>,
    stats: Arc<Stats>,
    started: watch::Receiver<bool>,
    peer: SocketAddr,
    lagged: u64,
}

impl<S: PointSource> Writer<S> {
    async fn run(
        mut self,
        mut jobs: mpsc::Receiver<Job>,
        mut updates: broadcast::Receiver<Update>,
    ) -> Result<(), SendError> {
        let mut updates_open = true;
        loop {
            tokio::select! {
                biased;
                job = jobs.recv() => match job {
                    None => return Ok(()),
                    Some(Job::Reply(answers)) => {
                        for a in answers {
                            self.sender.send(a).await?;
                        }
                    }
                    Some(Job::Interrogate(i)) => self.interrogate(i).await?,
                },
                update = updates.recv(), if updates_open => match update {
                    Ok(u) => {
                        if *self.started.borrow() {
                            self.sender.send(u.bytes().to_vec()).await?;
                            self.stats.updates.fetch_add(1, Ordering::Relaxed);
                            self.stats
                                .update_objects
                                .fetch_add(u.objects() as u64, Ordering::Relaxed);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => self.lag(n),
                    Err(broadcast::error::RecvError::Closed) => updates_open = false,
                },
            }
        }
    }

    fn lag(&mut self, missed: u64) {
        if !*self.started.borrow() {
            debug!(missed, "updates dropped in STOPDT");
            return;
        }
        self.lagged += missed;
        self.stats.lagged.fetch_add(missed, Ordering::Relaxed);
        warn!(
            peer = %self.peer,
            missed,
            total = self.lagged,
            "master falls behind the spontaneous updates: these are lost to it until the next interrogation"
        );
    }

    async fn send(&self, a: &Asdu) -> Result<(), SendError> {
        match a.to_bytes() {
            Ok(bytes) => self.sender.send(bytes).await,
            Err(error) => {
                // Unreachable: answers mirror a decoded command or carry
                // checked points.
                warn!(%error, asdu = %a, "answer not sent: it does not encode");
                Ok(())
            }
        }
    }

    /// ACT_CON, the data, ACT_TERM, station by station; the data is read
    /// from the source when the station's turn comes and streamed.
    async fn interrogate(&self, i: Interrogation) -> Result<(), SendError> {
        use crate::iec104::types::Cause;
        let originator = i.command.originator;
        for &ca in &i.stations {
            let points = match i.kind {
                Kind::General { group: None, .. } | Kind::Counters { group: None, .. } => {
                    self.source.snapshot(ca)
                }
                Kind::General { group: Some(g), .. } => self.source.group_snapshot(ca, g),
                Kind::Counters { group: Some(_), .. } | Kind::Freeze => {
                    self.source.stations().contains(&ca).then(Vec::new)
                }
            };
            let Some(mut points) = points else {
                self.send(&i.confirmation(ca, Cause::UNKNOWN_COMMON_ADDRESS, true))
                    .await?;
                continue;
            };
            self.send(&i.confirmation(ca, Cause::ACTIVATION_CON, false))
                .await?;
            if !points.is_sorted_by_key(|(ioa, _)| *ioa) {
                points.sort_by_key(|(ioa, _)| *ioa);
            }
            let (cause, counters) = match i.kind {
                Kind::General { cause, .. } => (cause, false),
                Kind::Counters { cause, .. } => (cause, true),
                Kind::Freeze => (Cause::COUNTER_REQUEST, true),
            };
            if i.kind != Kind::Freeze {
                let selected = points
                    .into_iter()
                    .filter_map(move |(ioa, e)| answered(counters, e).map(|e| (ioa, e)));
                let cot = Cot {
                    cause,
                    test: i.command.cot.test,
                    negative: false,
                };
                let mut answer = Answer::new(selected, cot, ca, originator);
                let mut sent = 0usize;
                for a in answer.by_ref() {
                    sent += a.objects.len();
                    self.send(&a).await?;
                }
                let skipped = answer.skipped();
                debug!(ca, cause = %cause, objects = sent, skipped, "interrogation answered");
            }
            self.send(&i.confirmation(ca, Cause::ACTIVATION_TERMINATION, false))
                .await?;
        }
        Ok(())
    }
}

/// What an interrogation answer carries of a point, `None` when it leaves
/// the point out. A counter interrogation (`counters`): the integrated
/// totals in their own type. A station or group interrogation: the other
/// monitor points that hold a state, in their untimed type; not the
/// integrated totals, and not the protection events (an event is sent when
/// it occurs, it is no state an interrogation could report; the standard
/// gives their types no cause of the interrogation range 20..36).
fn answered(counters: bool, e: Element) -> Option<Element> {
    let t = e.type_id();
    if counters {
        return is_counter(t).then_some(e);
    }
    let state = t.is_monitor() && !is_counter(t) && !is_protection_event(t);
    state.then(|| e.untimed())
}

fn is_counter(t: TypeId) -> bool {
    matches!(t, TypeId::M_IT_NA_1 | TypeId::M_IT_TA_1 | TypeId::M_IT_TB_1)
}

/// Events of protection equipment, 17-19 and 38-40.
fn is_protection_event(t: TypeId) -> bool {
    use TypeId::*;
    matches!(
        t,
        M_EP_TA_1 | M_EP_TB_1 | M_EP_TC_1 | M_EP_TD_1 | M_EP_TE_1 | M_EP_TF_1
    )
}

#[cfg(test)]
mod tests;
