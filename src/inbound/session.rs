//! What the inbound connector does with one connection's application data,
//! without I/O: decode each received ASDU, turn monitor information into
//! contract data points, answer what it cannot handle, follow the general
//! and counter interrogations station by station, and mark the quality of
//! cached points when the source is lost or an interrogation does not
//! deliver them.
//!
//! Data flow: the connection task calls [`Session::connected`] when data
//! transfer has started and sends the commands it returns (the general
//! interrogation); it hands every received ASDU to [`Session::on_asdu`]
//! with the receive time and gets back [`Output`]: data points to write to
//! Valkey and ASDUs to send (negative confirmations, the counter
//! interrogation that follows a general one, the interrogation of a station
//! after its end of initialization). Time is the caller's: every method
//! takes `now` (Unix ms), [`Session::next_deadline`] tells when an
//! interrogation gives up waiting for its termination, and
//! [`Session::on_timeout`] is called then. [`Session::interrogation`] and
//! [`Session::counter_interrogation`] are the periodic ones.
//! [`Session::on_link_lost`] and [`Session::mark_link_loss`] apply the
//! link-loss policy. Points a marking changes (link loss, an interrogation
//! that did not deliver them) are queued as addresses and handed out by
//! [`Session::take_marked`] in chunks, so that marking a large image never
//! materialises it as data points at once.
//!
//! Interrogation bookkeeping: a point counts as delivered by the
//! interrogation of its own station (its common address). Each station's
//! interrogation ends with that station's termination (ACT_TERM); an
//! interrogation asked at the broadcast address 65535 is followed station by
//! station as the stations answer it (ACT_CON, data, ACT_TERM with their own
//! address, in any interleaving), or ends for every station at once with a
//! termination at 65535. A station that refuses (negative ACT_CON, or
//! causes 44-47) has its points left alone, and an interrogation that sends
//! nothing and does not terminate within the timeout is given up without
//! judging any point. A general interrogation judges every point type but
//! the integrated totals (15, 16, 37) and the protection events (17-19,
//! 38-40); a counter interrogation that reads (QCC FRZ 0) judges the
//! integrated totals only. An answer that cannot be decoded while a
//! station's interrogation runs leaves that interrogation without judgement
//! (it may have carried any point).
//!
//! After the interrogation of each (re)connection, and after the
//! interrogation of a station that sent an end of initialization, a counter
//! interrogation goes to the same stations (unless off). A broadcast
//! interrogation refused with cause 46 (unknown common address) is followed
//! by an interrogation of each station known (points in the cache), and of
//! each station first heard from later on that connection; with none known,
//! [`Session::hint`] tells the operator to list `client.common_addresses`.
//!
//! Link-loss policy ([`OnLinkLoss`]): when the link has been down for the
//! grace period, every point this connector wrote is re-written with
//! `nt` (or `iv`) set; a completed interrogation marks `iv` on the points
//! of its station that it judges and did not deliver. `keep` leaves points
//! as they are. A re-written point keeps its value, time tag and cause;
//! `received` is the time of the change.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use tracing::{debug, info, warn};

use super::config::{ClientSettings, CounterMode, OnLinkLoss};
use crate::contract::iec104::{Reception, points_from_asdu};
use crate::contract::{DataPoint, PointValue, QualityFlags};
use crate::iec104::asdu::{self, Asdu, AsduError, BROADCAST_CA, Header};
use crate::iec104::elements::{Qcc, Qoi};
use crate::iec104::time::Zone;
use crate::iec104::types::{Cause, Cot, Element, TypeId};

/// What one received ASDU leads to.
#[derive(Debug, Default)]
pub struct Output {
    /// Data points to write, in order.
    pub points: Vec<DataPoint>,
    /// ASDUs to send back, in order.
    pub replies: Vec<Vec<u8>>,
}

/// Counters for the status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    pub points_received: u64,
    pub unknown_types: u64,
    pub negative_confirmations: u64,
    /// ASDUs inside well-formed I-frames that could not be decoded.
    pub malformed_asdus: u64,
}

/// The settings a session works with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Zone of the device time tags.
    pub zone: Zone,
    pub on_link_loss: OnLinkLoss,
    /// Stations to interrogate; empty means the broadcast address 65535.
    pub common_addresses: Vec<u16>,
    /// The counter interrogation's qualifier, or none.
    pub counter_mode: CounterMode,
    /// Silence after which an interrogation without termination is given
    /// up, ms.
    pub interrogation_timeout_ms: i64,
}

impl SessionConfig {
    pub fn from_client(c: &ClientSettings) -> Self {
        SessionConfig {
            zone: c.time_zone.clone(),
            on_link_loss: c.on_link_loss,
            common_addresses: c.common_addresses.clone(),
            counter_mode: c.counter_interrogation_mode,
            interrogation_timeout_ms: i64::try_from(c.interrogation_timeout.as_millis())
                .unwrap_or(i64::MAX),
        }
    }
}

/// What the status shows when a broadcast interrogation was refused and no
/// station is known.
pub const HINT_LIST_COMMON_ADDRESSES: &str = "the server refused the broadcast interrogation (cause 46, unknown common address) and no station is known: list the stations in client.common_addresses";

/// General or counter interrogation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    General,
    Counter,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::General => "general interrogation",
            Kind::Counter => "counter interrogation",
        }
    }

    /// Whether this interrogation's answer holds the points of `t`, so that
    /// a point of `t` it does not deliver is marked.
    fn judges(self, t: TypeId) -> bool {
        match self {
            Kind::General => !is_counter(t) && !is_protection_event(t),
            Kind::Counter => is_counter(t),
        }
    }

    /// Whether `cause` is one of this interrogation's answers (20-36:
    /// interrogated by station or group; 37-41: requested by counter
    /// interrogation).
    fn answers(self, cause: Cause) -> bool {
        match self {
            Kind::General => (20..=36).contains(&cause.value()),
            Kind::Counter => (37..=41).contains(&cause.value()),
        }
    }
}

/// A station's interrogation in progress.
#[derive(Debug)]
struct Pending {
    /// When it is given up, unless the station sends more.
    deadline: i64,
    /// The points of judged types it has delivered so far.
    delivered: HashSet<u32>,
    /// An answer that could not be decoded arrived meanwhile: nothing is
    /// judged.
    incomplete: bool,
}

/// An interrogation asked at the broadcast address, in progress.
#[derive(Debug)]
struct Broadcast {
    deadline: i64,
    /// Stations whose part has ended (termination, refusal, timeout).
    ended: BTreeSet<u16>,
    /// Every station known has ended its part: what waits for the broadcast
    /// goes on; later answers are still booked until the deadline.
    settled: bool,
    /// An undecodable answer without a readable station arrived.
    incomplete: bool,
}

/// The interrogations of one kind in progress.
#[derive(Debug, Default)]
struct Tracker {
    stations: HashMap<u16, Pending>,
    broadcast: Option<Broadcast>,
}

impl Tracker {
    /// Starts following an interrogation asked at `ca` (65535: broadcast).
    /// A station already in progress keeps what it has delivered.
    fn ask(&mut self, ca: u16, deadline: i64) {
        if ca == BROADCAST_CA {
            self.broadcast = Some(Broadcast {
                deadline,
                ended: BTreeSet::new(),
                settled: false,
                incomplete: false,
            });
            return;
        }
        let p = self.stations.entry(ca).or_insert_with(|| Pending {
            deadline,
            delivered: HashSet::new(),
            incomplete: false,
        });
        p.deadline = deadline;
    }

    /// The interrogation of station `ca` that an answer belongs to: one in
    /// progress, or, with `answer` (a confirmation, termination or data
    /// under this kind's causes) and a broadcast still waiting for `ca`, a
    /// new one. An answer moves the deadlines to `deadline`.
    fn heard(&mut self, ca: u16, answer: bool, deadline: i64) -> Option<&mut Pending> {
        if answer && let Some(b) = &mut self.broadcast {
            if ca == BROADCAST_CA {
                b.deadline = b.deadline.max(deadline);
                return None;
            }
            if !b.ended.contains(&ca) {
                b.deadline = b.deadline.max(deadline);
                let incomplete = b.incomplete;
                self.stations.entry(ca).or_insert_with(|| Pending {
                    deadline,
                    delivered: HashSet::new(),
                    incomplete,
                });
            }
        }
        let p = self.stations.get_mut(&ca)?;
        if answer {
            p.deadline = p.deadline.max(deadline);
        }
        Some(p)
    }

    /// The interrogation of station `ca` that monitor information outside
    /// the answer (a spontaneous change, say) falls into: one in progress,
    /// or, with a broadcast still waiting for `ca`, the station's part of
    /// it, begun here. The source has just delivered those points, so they
    /// count as delivered whether or not the station's answer holds them
    /// again. Deadlines do not move: only an answer keeps an
    /// interrogation alive.
    fn during(&mut self, ca: u16, deadline: i64) -> Option<&mut Pending> {
        if let Some(b) = &self.broadcast
            && ca != BROADCAST_CA
            && !b.ended.contains(&ca)
        {
            let incomplete = b.incomplete;
            self.stations.entry(ca).or_insert_with(|| Pending {
                deadline,
                delivered: HashSet::new(),
                incomplete,
            });
        }
        self.stations.get_mut(&ca)
    }

    /// Station `ca`'s part has ended: its interrogation, if one was in
    /// progress.
    fn end(&mut self, ca: u16) -> Option<Pending> {
        if let Some(b) = &mut self.broadcast {
            b.ended.insert(ca);
        }
        self.stations.remove(&ca)
    }

    /// Whether the broadcast has heard from every station in `known` (and
    /// from every station it heard at all): marks it settled.
    fn settle(&mut self, known: &BTreeSet<u16>) {
        let Some(b) = &mut self.broadcast else {
            return;
        };
        if b.settled || b.ended.is_empty() {
            return;
        }
        let waiting = self.stations.keys().any(|ca| !b.ended.contains(ca))
            || known.iter().any(|ca| !b.ended.contains(ca));
        if !waiting {
            b.settled = true;
        }
    }

    /// Whether the interrogation asked at `ca` is over, for what waits for
    /// it.
    fn over(&self, ca: u16) -> bool {
        if ca == BROADCAST_CA {
            self.broadcast.as_ref().is_none_or(|b| b.settled)
        } else {
            !self.stations.contains_key(&ca)
        }
    }

    fn next_deadline(&self) -> Option<i64> {
        let stations = self.stations.values().map(|p| p.deadline);
        stations
            .chain(self.broadcast.as_ref().map(|b| b.deadline))
            .min()
    }
}

/// What holds for the current connection only.
#[derive(Debug, Default)]
struct Link {
    /// Stations interrogated by their own address on this connection.
    interrogated: HashSet<u16>,
    /// Stations (65535 included) that refused the counter interrogation:
    /// not asked again on this connection.
    counters_refused: HashSet<u16>,
    /// Stations that refused the general interrogation.
    refused: HashSet<u16>,
    /// The broadcast general interrogation was refused: stations are
    /// interrogated one by one.
    broadcast_refused: bool,
    /// Counter interrogations waiting for the general interrogation at
    /// these addresses (65535: the broadcast) to end.
    counters_after: Vec<u16>,
}

/// The application side of one inbound connector.
#[derive(Debug)]
pub struct Session {
    source: Arc<str>,
    config: SessionConfig,
    /// The last point written per (CASDU, IOA), without its source and
    /// receive time (the session's, and the time of a re-write).
    cache: HashMap<(u16, u32), Cached>,
    /// The stations of the cached points.
    stations: BTreeSet<u16>,
    /// The `time_error` of cached points that have one (rare).
    time_errors: HashMap<(u16, u32), Box<str>>,
    general: Tracker,
    counters: Tracker,
    link: Link,
    hint: Option<&'static str>,
    /// Points whose quality a marking changed, in address order, still to
    /// be handed out by [`Session::take_marked`]: a marking of every point
    /// holds 8 octets per point here, not a data point each.
    marked: VecDeque<(u16, u32)>,
    stats: SessionStats,
    warned_types: HashSet<u8>,
    /// Kinds of undecodable ASDU already logged: the error and the type id.
    warned_malformed: HashSet<(&'static str, u8)>,
}

impl Session {
    pub fn new(source: &str, config: SessionConfig) -> Self {
        Session {
            source: source.into(),
            config,
            cache: HashMap::new(),
            stations: BTreeSet::new(),
            time_errors: HashMap::new(),
            general: Tracker::default(),
            counters: Tracker::default(),
            link: Link::default(),
            hint: None,
            marked: VecDeque::new(),
            stats: SessionStats::default(),
            warned_types: HashSet::new(),
            warned_malformed: HashSet::new(),
        }
    }

    pub fn stats(&self) -> SessionStats {
        self.stats
    }

    /// Takes over a point this connector wrote in an earlier run (read
    /// back from the image at start): it joins the cache without being
    /// written again, so that the link-loss grace and the interrogations
    /// judge it like a point received on this run, and a point the source
    /// no longer has does not stay valid in the image for ever. A point
    /// received since is kept as it is.
    pub fn adopt(&mut self, p: &DataPoint) {
        let addr = (p.casdu, p.ioa);
        if self.cache.contains_key(&addr) {
            return;
        }
        self.cache.insert(addr, Cached::of(p));
        if let Some(e) = &p.time_error {
            self.time_errors.insert(addr, e.as_str().into());
        }
        self.stations.insert(p.casdu);
    }

    /// Points in the cache.
    pub fn points_known(&self) -> usize {
        self.cache.len()
    }

    /// Advice for the operator, when the connector cannot find out the
    /// stations by itself.
    pub fn hint(&self) -> Option<&'static str> {
        self.hint
    }

    /// Changes the settings that apply from now on, keeping the cache.
    pub fn reconfigure(&mut self, config: SessionConfig) {
        self.config = config;
    }

    /// Data transfer has started on a new connection: the general
    /// interrogation commands (QOI 20) for the configured stations, or the
    /// broadcast address, followed by a counter interrogation of the same
    /// stations when each has ended (unless off).
    pub fn connected(&mut self, now: i64) -> Vec<Vec<u8>> {
        self.link = Link::default();
        self.general = Tracker::default();
        self.counters = Tracker::default();
        self.hint = None;
        let cas = if self.config.common_addresses.is_empty() {
            vec![BROADCAST_CA]
        } else {
            self.config.common_addresses.clone()
        };
        let mut out = Vec::new();
        for ca in cas {
            self.interrogate(ca, true, now, &mut out);
        }
        out
    }

    /// The periodic general interrogation: commands for the configured
    /// stations (the broadcast address, or the stations known when the
    /// server refused the broadcast), followed like the first one.
    pub fn interrogation(&mut self, now: i64) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for ca in self.targets() {
            self.interrogate(ca, false, now, &mut out);
        }
        out
    }

    /// The periodic counter interrogation (general request, the configured
    /// freeze), to the stations that have not refused it on this
    /// connection; none when off.
    pub fn counter_interrogation(&mut self, now: i64) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for ca in self.targets() {
            self.count(ca, now, &mut out);
        }
        out
    }

    /// Clock synchronisation commands carrying `now_unix_ms` as local time
    /// in the configured zone (SU set on summer time).
    pub fn clock_sync(&self, now_unix_ms: i64) -> Vec<Vec<u8>> {
        let Ok(time) = self.config.zone.cp56_of(now_unix_ms) else {
            warn!(
                now_unix_ms,
                "system clock outside the years a CP56Time2a holds: no clock synchronisation"
            );
            return Vec::new();
        };
        self.targets()
            .into_iter()
            .map(|ca| command(ca, Element::C_CS_NA_1 { time }))
            .collect()
    }

    /// The stations commands go to: the configured ones, else the broadcast
    /// address, or, when the server refused the broadcast on this
    /// connection, the stations interrogated one by one.
    fn targets(&self) -> Vec<u16> {
        if !self.config.common_addresses.is_empty() {
            return self.config.common_addresses.clone();
        }
        if self.link.broadcast_refused {
            let mut cas: Vec<u16> = self.link.interrogated.iter().copied().collect();
            cas.sort_unstable();
            return cas;
        }
        vec![BROADCAST_CA]
    }

    /// A general interrogation of `ca`, followed when `then_counters` by a
    /// counter interrogation of `ca` once it has ended.
    fn interrogate(&mut self, ca: u16, then_counters: bool, now: i64, out: &mut Vec<Vec<u8>>) {
        self.general.ask(ca, self.deadline(now));
        if ca != BROADCAST_CA {
            self.link.interrogated.insert(ca);
        }
        if then_counters
            && self.config.counter_mode != CounterMode::Off
            && !self.link.counters_after.contains(&ca)
        {
            self.link.counters_after.push(ca);
        }
        out.push(command(
            ca,
            Element::C_IC_NA_1 {
                qualifier: Qoi::STATION,
            },
        ));
    }

    /// A counter interrogation of `ca` (general request, the configured
    /// freeze), unless off or refused on this connection; followed when it
    /// reads.
    fn count(&mut self, ca: u16, now: i64, out: &mut Vec<Vec<u8>>) {
        let Some(frz) = self.config.counter_mode.freeze() else {
            return;
        };
        if self.link.counters_refused.contains(&ca) {
            return;
        }
        if frz == 0 {
            self.counters.ask(ca, self.deadline(now));
        }
        out.push(command(
            ca,
            Element::C_CI_NA_1 {
                qualifier: Qcc(QCC_GENERAL | (frz << 6)),
            },
        ));
    }

    fn deadline(&self, now: i64) -> i64 {
        now.saturating_add(self.config.interrogation_timeout_ms)
    }

    /// When an interrogation in progress is given up unless its station
    /// sends more: call [`Session::on_timeout`] then.
    pub fn next_deadline(&self) -> Option<i64> {
        [self.general.next_deadline(), self.counters.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Gives up the interrogations whose deadline has passed at `now`:
    /// logged, no point judged. Returns the commands to send (the counter
    /// interrogations that waited for them).
    pub fn on_timeout(&mut self, now: i64) -> Vec<Vec<u8>> {
        let timeout_s = self.config.interrogation_timeout_ms / 1000;
        for (kind, tracker) in [
            (Kind::General, &mut self.general),
            (Kind::Counter, &mut self.counters),
        ] {
            let expired: Vec<u16> = tracker
                .stations
                .iter()
                .filter(|(_, p)| p.deadline <= now)
                .map(|(ca, _)| *ca)
                .collect();
            for ca in expired {
                tracker.end(ca);
                warn!(
                    ca,
                    timeout_s,
                    "no termination of the {} within the interrogation timeout: given up, no point marked",
                    kind.name()
                );
            }
            if tracker
                .broadcast
                .as_ref()
                .is_some_and(|b| b.deadline <= now)
            {
                if let Some(b) = tracker.broadcast.take()
                    && !b.settled
                {
                    let silent: Vec<u16> = self
                        .stations
                        .iter()
                        .filter(|ca| !b.ended.contains(ca))
                        .copied()
                        .collect();
                    warn!(
                        timeout_s,
                        ?silent,
                        "the broadcast {} did not end within the interrogation timeout: given up, no point marked",
                        kind.name()
                    );
                }
                for (ca, _) in std::mem::take(&mut tracker.stations) {
                    debug!(ca, "answer to the broadcast {} given up", kind.name());
                }
            }
            tracker.settle(&self.stations);
        }
        let mut out = Vec::new();
        self.counters_due(now, &mut out);
        out
    }

    /// The counter interrogations whose general interrogation has ended.
    fn counters_due(&mut self, now: i64, out: &mut Vec<Vec<u8>>) {
        let (due, waiting): (Vec<u16>, Vec<u16>) = std::mem::take(&mut self.link.counters_after)
            .into_iter()
            .partition(|ca| self.general.over(*ca));
        self.link.counters_after = waiting;
        for ca in due {
            if !self.link.refused.contains(&ca) {
                self.count(ca, now, out);
            }
        }
    }

    /// One received ASDU (the octets of an I-frame), received at `now` (Unix ms).
    pub fn on_asdu(&mut self, raw: &[u8], now: i64) -> Output {
        let mut out = Output::default();
        let asdu = match Asdu::decode(raw) {
            Ok(a) => a,
            Err(AsduError::UnknownType(id)) => {
                // Answered as the standard and lib60870 do: mirrored, cause 44, P/N set.
                self.stats.unknown_types += 1;
                if self.warned_types.insert(id) {
                    warn!(
                        type_id = id,
                        "unknown type id from the server: answered with cause 44 (unknown type)"
                    );
                }
                if let Ok(h) = Header::decode(raw)
                    && !h.cot.negative
                    && let Ok(reply) = asdu::mirror(raw, Cause::UNKNOWN_TYPE, true)
                {
                    out.replies.push(reply);
                }
                return out;
            }
            Err(e) => {
                self.malformed(raw, e, now);
                return out;
            }
        };
        if asdu.type_id.is_monitor() {
            self.on_monitor(&asdu, now, &mut out);
            return out;
        }
        let ca = asdu.common_address;
        let cause = asdu.cot.cause;
        let refused = asdu.cot.negative || (44..=47).contains(&cause.value());
        match asdu.type_id {
            TypeId::C_IC_NA_1 | TypeId::C_CI_NA_1 => {
                let kind = if asdu.type_id == TypeId::C_IC_NA_1 {
                    Kind::General
                } else {
                    Kind::Counter
                };
                if refused {
                    self.stats.negative_confirmations += 1;
                    self.refused(kind, ca, asdu.cot, now, &mut out);
                } else if cause == Cause::ACTIVATION_CON {
                    debug!(ca, "{} confirmed", kind.name());
                    let deadline = self.deadline(now);
                    self.tracker(kind).heard(ca, true, deadline);
                } else if cause == Cause::ACTIVATION_TERMINATION {
                    self.terminated(kind, ca, now);
                } else {
                    debug!(ca, cause = %cause, "answer to the {}", kind.name());
                }
                if kind == Kind::General {
                    self.counters_due(now, &mut out.replies);
                }
            }
            TypeId::M_EI_NA_1 => {
                self.link.refused.remove(&ca);
                self.link.counters_refused.remove(&ca);
                if ca == BROADCAST_CA {
                    info!(
                        ca,
                        "end of initialization from the server: interrogating every station"
                    );
                    for target in self.targets() {
                        self.interrogate(target, true, now, &mut out.replies);
                    }
                } else {
                    info!(
                        ca,
                        "end of initialization from the station: interrogating it"
                    );
                    self.hint = None;
                    self.interrogate(ca, true, now, &mut out.replies);
                }
            }
            t if refused => {
                self.stats.negative_confirmations += 1;
                warn!(type_id = %t, cot = %asdu.cot, ca, "negative answer from the server");
            }
            t => {
                debug!(type_id = %t, cause = %cause, ca, "answer from the server")
            }
        }
        out
    }

    fn tracker(&mut self, kind: Kind) -> &mut Tracker {
        match kind {
            Kind::General => &mut self.general,
            Kind::Counter => &mut self.counters,
        }
    }

    /// Monitor information: data points, booked against the interrogations
    /// of their station.
    fn on_monitor(&mut self, asdu: &Asdu, now: i64, out: &mut Output) {
        let rx = Reception {
            source: &self.source,
            received: now,
            zone: &self.config.zone,
        };
        let points = points_from_asdu(asdu, rx);
        self.stats.points_received += points.len() as u64;
        let ca = asdu.common_address;
        if self.link.broadcast_refused
            && self.config.common_addresses.is_empty()
            && ca != BROADCAST_CA
            && !self.link.interrogated.contains(&ca)
        {
            // Asked before the points are booked: they count as delivered.
            info!(
                ca,
                "first data from a station since the server refused the broadcast interrogation: interrogating it"
            );
            self.hint = None;
            self.interrogate(ca, true, now, &mut out.replies);
        }
        let deadline = self.deadline(now);
        for kind in [Kind::General, Kind::Counter] {
            if !kind.judges(asdu.type_id) {
                continue;
            }
            let tracker = self.tracker(kind);
            let pending = if kind.answers(asdu.cot.cause) {
                tracker.heard(ca, true, deadline)
            } else {
                tracker.during(ca, deadline)
            };
            if let Some(p) = pending {
                p.delivered.extend(points.iter().map(|p| p.ioa));
            }
        }
        if !points.is_empty() {
            self.stations.insert(ca);
        }
        for p in &points {
            let addr = (p.casdu, p.ioa);
            self.cache.insert(addr, Cached::of(p));
            match &p.time_error {
                Some(e) => {
                    self.time_errors.insert(addr, e.as_str().into());
                }
                None => {
                    if !self.time_errors.is_empty() {
                        self.time_errors.remove(&addr);
                    }
                }
            }
        }
        out.points = points;
    }

    /// An ASDU that cannot be decoded inside a well-formed I-frame (the
    /// link layer has acknowledged it): counted, logged once per kind,
    /// skipped. The interrogations its station may have answered with it
    /// judge nothing.
    fn malformed(&mut self, raw: &[u8], e: AsduError, now: i64) {
        self.stats.malformed_asdus += 1;
        let header = Header::decode(raw).ok();
        let type_id = header.map_or(0, |h| h.type_id);
        if self.warned_malformed.insert((malformed_kind(e), type_id)) {
            warn!(
                type_id,
                ca = header.map(|h| h.common_address),
                "undecodable ASDU from the server, acknowledged and skipped (logged once per kind): {e}"
            );
        }
        let deadline = self.deadline(now);
        for kind in [Kind::General, Kind::Counter] {
            let answer = header.is_some_and(|h| kind.answers(h.cot.cause));
            let tracker = self.tracker(kind);
            match header {
                Some(h) => {
                    if let Some(p) = tracker.heard(h.common_address, answer, deadline) {
                        p.incomplete = true;
                    }
                }
                None => {
                    tracker
                        .stations
                        .values_mut()
                        .for_each(|p| p.incomplete = true);
                    if let Some(b) = &mut tracker.broadcast {
                        b.incomplete = true;
                    }
                }
            }
        }
    }

    /// A negative confirmation (or cause 44-47) of an interrogation at `ca`.
    fn refused(&mut self, kind: Kind, ca: u16, cot: Cot, now: i64, out: &mut Output) {
        let tracker = self.tracker(kind);
        tracker.end(ca);
        if ca == BROADCAST_CA {
            tracker.broadcast = None;
        }
        let known = self.stations.clone();
        self.tracker(kind).settle(&known);
        if kind == Kind::Counter {
            if self.link.counters_refused.insert(ca) {
                warn!(
                    ca,
                    cot = %cot,
                    "the server refused the counter interrogation: not asked again on this connection"
                );
            }
            return;
        }
        self.link.refused.insert(ca);
        let unknown_ca = cot.cause == Cause::UNKNOWN_COMMON_ADDRESS;
        if ca != BROADCAST_CA || !(cot.negative || unknown_ca) {
            warn!(ca, cot = %cot, "the server refused the general interrogation");
            return;
        }
        // The broadcast refused: each station known, one by one.
        self.link.broadcast_refused = true;
        self.link.counters_after.retain(|c| *c != BROADCAST_CA);
        let known: Vec<u16> = self
            .stations
            .iter()
            .filter(|c| !self.link.interrogated.contains(c))
            .copied()
            .collect();
        if known.is_empty() && self.link.interrogated.is_empty() {
            warn!(
                cot = %cot,
                "the server refused the broadcast interrogation and no station is known yet: list the stations in client.common_addresses; a station is interrogated as soon as it sends data"
            );
            self.hint = Some(HINT_LIST_COMMON_ADDRESSES);
            return;
        }
        info!(
            cot = %cot,
            stations = ?known,
            "the server refused the broadcast interrogation: interrogating each station known"
        );
        for c in known {
            self.interrogate(c, true, now, &mut out.replies);
        }
    }

    /// A termination (ACT_TERM) at `ca`: the station's interrogation ends
    /// and judges its points, or, at 65535, every station's does.
    fn terminated(&mut self, kind: Kind, ca: u16, now: i64) {
        if ca != BROADCAST_CA {
            let known = self.stations.clone();
            let deadline = self.deadline(now);
            let tracker = self.tracker(kind);
            // A station may end its part of a broadcast without anything before.
            tracker.heard(ca, true, deadline);
            let pending = tracker.end(ca);
            tracker.settle(&known);
            match pending {
                Some(p) => self.judge(kind, ca, p),
                None => debug!(ca, "termination of a {} not in progress", kind.name()),
            }
            return;
        }
        let tracker = self.tracker(kind);
        let Some(b) = tracker.broadcast.take() else {
            debug!("termination of a broadcast {} not in progress", kind.name());
            return;
        };
        let mut ending: Vec<(u16, Pending)> = tracker.stations.drain().collect();
        for &c in &self.stations {
            if !b.ended.contains(&c) && !ending.iter().any(|(e, _)| *e == c) {
                ending.push((
                    c,
                    Pending {
                        deadline: 0,
                        delivered: HashSet::new(),
                        incomplete: b.incomplete,
                    },
                ));
            }
        }
        ending.sort_unstable_by_key(|(c, _)| *c);
        info!(
            stations = ending.len(),
            "broadcast {} terminated",
            kind.name()
        );
        for (c, p) in ending {
            self.judge(kind, c, p);
        }
    }

    /// Station `ca`'s interrogation has ended with `p`: its cached points
    /// of the types the interrogation judges that it did not deliver are
    /// marked invalid (unless the policy keeps them, or the answer held an
    /// undecodable ASDU) and queued for [`Session::take_marked`].
    fn judge(&mut self, kind: Kind, ca: u16, p: Pending) {
        info!(ca, points = p.delivered.len(), "{} complete", kind.name());
        if p.incomplete {
            warn!(
                ca,
                "the answer to the {} held an undecodable ASDU: no point judged by it",
                kind.name()
            );
            return;
        }
        if self.config.on_link_loss == OnLinkLoss::Keep {
            return;
        }
        let mut marked = Vec::new();
        for (&(c, ioa), cached) in self.cache.iter_mut() {
            if c == ca
                && cached.quality & IV == 0
                && kind.judges(cached.type_id)
                && !p.delivered.contains(&ioa)
            {
                cached.quality |= IV;
                marked.push((c, ioa));
            }
        }
        if !marked.is_empty() {
            warn!(
                ca,
                points = marked.len(),
                "points not delivered by the {} marked invalid",
                kind.name()
            );
        }
        self.queue_marked(marked);
    }

    fn queue_marked(&mut self, mut marked: Vec<(u16, u32)>) {
        marked.sort_unstable();
        self.marked.extend(marked);
    }

    /// Up to `max` of the points a marking changed, in address order,
    /// received at `now`; none when every one was taken. Take them before
    /// the next [`Session::on_asdu`], so that each carries its marked
    /// quality.
    pub fn take_marked(&mut self, max: usize, now: i64) -> Vec<DataPoint> {
        let n = max.min(self.marked.len());
        let mut out = Vec::with_capacity(n);
        for addr in self.marked.drain(..n) {
            if let Some(p) = self.cache.get(&addr) {
                out.push(p.point(addr, &self.source, &self.time_errors, now));
            }
        }
        out
    }

    /// Whether a marking left points for [`Session::take_marked`].
    pub fn has_marked(&self) -> bool {
        !self.marked.is_empty()
    }

    /// The link is lost: forget the interrogations in progress and what
    /// held for that connection.
    pub fn on_link_lost(&mut self) {
        self.general = Tracker::default();
        self.counters = Tracker::default();
        self.link = Link::default();
    }

    /// The link stayed down for the grace period: every cached point gets
    /// the policy's flag and is queued for [`Session::take_marked`];
    /// returns how many.
    pub fn mark_link_loss(&mut self) -> usize {
        let flag = match self.config.on_link_loss {
            OnLinkLoss::Nt => NT,
            OnLinkLoss::Iv => IV,
            OnLinkLoss::Keep => return 0,
        };
        let mut marked = Vec::new();
        for (&addr, p) in self.cache.iter_mut() {
            if p.quality & flag == 0 {
                p.quality |= flag;
                marked.push(addr);
            }
        }
        let n = marked.len();
        if n > 0 {
            warn!(points = n, policy = ?self.config.on_link_loss, "source lost: points marked");
        }
        self.queue_marked(marked);
        n
    }
}

/// RQT of a general counter interrogation request.
const QCC_GENERAL: u8 = 5;

/// Integrated totals (15, 16, 37): a station interrogation never carries
/// them.
fn is_counter(t: TypeId) -> bool {
    matches!(t, TypeId::M_IT_NA_1 | TypeId::M_IT_TA_1 | TypeId::M_IT_TB_1)
}

/// Protection events (17-19, 38-40): events, not states; sent
/// spontaneously only.
fn is_protection_event(t: TypeId) -> bool {
    matches!(
        t,
        TypeId::M_EP_TA_1
            | TypeId::M_EP_TB_1
            | TypeId::M_EP_TC_1
            | TypeId::M_EP_TD_1
            | TypeId::M_EP_TE_1
            | TypeId::M_EP_TF_1
    )
}

/// The kind of an ASDU error, for logging once per kind.
fn malformed_kind(e: AsduError) -> &'static str {
    match e {
        AsduError::TooShort(_) => "too short",
        AsduError::TooLong(_) => "too long",
        AsduError::UnknownType(_) => "unknown type",
        AsduError::Truncated { .. } => "truncated",
        AsduError::TrailingBytes { .. } => "trailing octets",
        AsduError::IoaOverflow { .. } => "address overflow",
    }
}

// Quality bits of [`Cached::quality`].
const IV: u8 = 1;
const NT: u8 = 1 << 1;
const SB: u8 = 1 << 2;
const BL: u8 = 1 << 3;
const OV: u8 = 1 << 4;

// Bits of [`Cached::flags`].
const ELAPSED_INVALID: u8 = 1;
const HAS_TIME: u8 = 1 << 1;
const TIME_INVALID: u8 = 1 << 2;
const SUMMER_TIME: u8 = 1 << 3;
const TEST: u8 = 1 << 4;
const NEGATIVE: u8 = 1 << 5;

/// A cached data point in 24 octets: what [`DataPoint`] holds besides the
/// address, the source, the receive time and the time error.
#[derive(Debug, Clone, Copy)]
struct Cached {
    value: PointValue,
    time: i64,
    type_id: TypeId,
    quality: u8,
    flags: u8,
    cot: u8,
    originator: u8,
}

impl Cached {
    fn of(p: &DataPoint) -> Cached {
        let q = p.quality;
        let bit = |on: bool, b: u8| if on { b } else { 0 };
        Cached {
            value: p.value,
            time: p.time.unwrap_or(0),
            type_id: p.type_id,
            quality: bit(q.iv, IV) | bit(q.nt, NT) | bit(q.sb, SB) | bit(q.bl, BL) | bit(q.ov, OV),
            flags: bit(p.elapsed_invalid, ELAPSED_INVALID)
                | bit(p.time.is_some(), HAS_TIME)
                | bit(p.time_invalid, TIME_INVALID)
                | bit(p.summer_time, SUMMER_TIME)
                | bit(p.test, TEST)
                | bit(p.negative, NEGATIVE),
            cot: p.cot,
            originator: p.originator,
        }
    }

    /// The data point again, received at `received`.
    fn point(
        &self,
        (casdu, ioa): (u16, u32),
        source: &Arc<str>,
        time_errors: &HashMap<(u16, u32), Box<str>>,
        received: i64,
    ) -> DataPoint {
        let q = |b: u8| self.quality & b != 0;
        let f = |b: u8| self.flags & b != 0;
        DataPoint {
            casdu,
            ioa,
            type_id: self.type_id,
            value: self.value,
            quality: QualityFlags {
                iv: q(IV),
                nt: q(NT),
                sb: q(SB),
                bl: q(BL),
                ov: q(OV),
            },
            elapsed_invalid: f(ELAPSED_INVALID),
            time: f(HAS_TIME).then_some(self.time),
            time_invalid: f(TIME_INVALID),
            summer_time: f(SUMMER_TIME),
            time_error: time_errors.get(&(casdu, ioa)).map(|e| e.to_string()),
            cot: self.cot,
            test: f(TEST),
            negative: f(NEGATIVE),
            originator: self.originator,
            source: Arc::clone(source),
            received,
        }
    }
}

fn command(ca: u16, element: Element) -> Vec<u8> {
    // Commands with one object of a fixed small size always encode.
    Asdu::single(Cot::new(Cause::ACTIVATION), ca, 0, element)
        .to_bytes()
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
