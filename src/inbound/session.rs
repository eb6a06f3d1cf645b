//! What the inbound connector does with one connection's application data,
//! without I/O: decode each received ASDU, turn monitor information into
//! contract data points, answer what it cannot handle, follow
//! interrogations, and mark the quality of cached points when the source is
//! lost.
//!
//! Data flow: the connection task hands every received ASDU to
//! [`Session::on_asdu`] with the receive time and gets back [`Output`]:
//! data points to write to Valkey and ASDUs to send (negative
//! confirmations, a new interrogation after an end of initialization).
//! [`Session::interrogation`] builds the general interrogation commands and
//! starts tracking them; [`Session::on_link_lost`] and
//! [`Session::mark_link_loss`] apply the link-loss policy. Points a marking
//! changes (link loss, an interrogation that did not deliver them) are
//! queued as addresses and handed out by [`Session::take_marked`] in chunks,
//! so that marking a large image never materialises it as data points at
//! once.
//!
//! Link-loss policy ([`OnLinkLoss`]): when the link has been down for the
//! grace period, every point this connector wrote is re-written with
//! `nt` (or `iv`) set; after a reconnection, each station's completed
//! interrogation (ACT_TERM) marks `iv` on its cached points that the
//! interrogation did not deliver again. `keep` leaves points as they are.
//! A re-written point keeps its value, time tag and cause; `received` is
//! the time of the change.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use tracing::{debug, info, warn};

use crate::config::OnLinkLoss;
use crate::contract::{DataPoint, PointValue, QualityFlags, Reception, points_from_asdu};
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

/// A received ASDU that breaks the protocol: the connection is to be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed ASDU from the server: {0}")]
pub struct ProtocolError(pub AsduError);

/// Counters for the status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    pub points_received: u64,
    pub unknown_types: u64,
    pub negative_confirmations: u64,
}

/// The interrogation in progress: the stations asked and the points each
/// has delivered so far.
#[derive(Debug, Default)]
struct Interrogation {
    /// Stations asked; `None` = broadcast (every station that answers).
    asked: Option<HashSet<u16>>,
    delivered: HashMap<u16, HashSet<u32>>,
}

/// The application side of one inbound connector.
#[derive(Debug)]
pub struct Session {
    source: Arc<str>,
    zone: Zone,
    on_link_loss: OnLinkLoss,
    common_addresses: Vec<u16>,
    /// The last point written per (CASDU, IOA), without its source and
    /// receive time (the session's, and the time of a re-write).
    cache: HashMap<(u16, u32), Cached>,
    /// The `time_error` of cached points that have one (rare).
    time_errors: HashMap<(u16, u32), Box<str>>,
    gi: Option<Interrogation>,
    /// Points whose quality a marking changed, in address order, still to
    /// be handed out by [`Session::take_marked`]: a marking of every point
    /// holds 8 octets per point here, not a data point each.
    marked: VecDeque<(u16, u32)>,
    stats: SessionStats,
    warned_types: HashSet<u8>,
}

impl Session {
    /// `common_addresses` empty means the broadcast address 65535.
    pub fn new(
        source: &str,
        zone: Zone,
        on_link_loss: OnLinkLoss,
        common_addresses: Vec<u16>,
    ) -> Self {
        Session {
            source: source.into(),
            zone,
            on_link_loss,
            common_addresses,
            cache: HashMap::new(),
            time_errors: HashMap::new(),
            gi: None,
            marked: VecDeque::new(),
            stats: SessionStats::default(),
            warned_types: HashSet::new(),
        }
    }

    pub fn stats(&self) -> SessionStats {
        self.stats
    }

    /// Points in the cache.
    pub fn points_known(&self) -> usize {
        self.cache.len()
    }

    /// Changes the settings that apply from now on, keeping the cache.
    pub fn reconfigure(
        &mut self,
        zone: Zone,
        on_link_loss: OnLinkLoss,
        common_addresses: Vec<u16>,
    ) {
        self.zone = zone;
        self.on_link_loss = on_link_loss;
        self.common_addresses = common_addresses;
    }

    /// The general interrogation commands (QOI 20) for the configured
    /// stations, and tracking of their answers.
    pub fn interrogation(&mut self) -> Vec<Vec<u8>> {
        let cas = if self.common_addresses.is_empty() {
            vec![BROADCAST_CA]
        } else {
            self.common_addresses.clone()
        };
        self.gi = Some(Interrogation {
            asked: (!self.common_addresses.is_empty()).then(|| cas.iter().copied().collect()),
            delivered: HashMap::new(),
        });
        cas.into_iter()
            .map(|ca| {
                command(
                    ca,
                    Element::C_IC_NA_1 {
                        qualifier: Qoi::STATION,
                    },
                )
            })
            .collect()
    }

    /// Counter interrogation commands (general request, no freeze).
    pub fn counter_interrogation(&self) -> Vec<Vec<u8>> {
        self.targets()
            .map(|ca| command(ca, Element::C_CI_NA_1 { qualifier: Qcc(5) }))
            .collect()
    }

    /// Clock synchronisation commands carrying `now_unix_ms` as local time
    /// in the configured zone (SU set on summer time).
    pub fn clock_sync(&self, now_unix_ms: i64) -> Vec<Vec<u8>> {
        let Ok(time) = self.zone.cp56_of(now_unix_ms) else {
            warn!(
                now_unix_ms,
                "system clock outside the years a CP56Time2a holds: no clock synchronisation"
            );
            return Vec::new();
        };
        self.targets()
            .map(|ca| command(ca, Element::C_CS_NA_1 { time }))
            .collect()
    }

    fn targets(&self) -> impl Iterator<Item = u16> + '_ {
        let broadcast = self.common_addresses.is_empty().then_some(BROADCAST_CA);
        self.common_addresses.iter().copied().chain(broadcast)
    }

    /// One received ASDU (the octets of an I-frame), received at `now` (Unix ms).
    pub fn on_asdu(&mut self, raw: &[u8], now: i64) -> Result<Output, ProtocolError> {
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
                return Ok(out);
            }
            Err(e) => return Err(ProtocolError(e)),
        };
        if asdu.type_id.is_monitor() {
            let rx = Reception {
                source: &self.source,
                received: now,
                zone: &self.zone,
            };
            let points = points_from_asdu(&asdu, rx);
            self.stats.points_received += points.len() as u64;
            if let Some(gi) = &mut self.gi
                && is_interrogated(asdu.cot.cause)
            {
                let seen = gi.delivered.entry(asdu.common_address).or_default();
                seen.extend(points.iter().map(|p| p.ioa));
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
            return Ok(out);
        }
        match (asdu.type_id, asdu.cot.cause) {
            (TypeId::C_IC_NA_1, c) if c == Cause::ACTIVATION_CON => {
                if asdu.cot.negative {
                    self.stats.negative_confirmations += 1;
                    warn!(
                        ca = asdu.common_address,
                        "the server refused the general interrogation"
                    );
                } else {
                    debug!(ca = asdu.common_address, "general interrogation confirmed");
                }
            }
            (TypeId::C_IC_NA_1, c) if c == Cause::ACTIVATION_TERMINATION => {
                self.interrogation_done(asdu.common_address);
            }
            (TypeId::M_EI_NA_1, _) => {
                info!(
                    ca = asdu.common_address,
                    "end of initialization from the server: interrogating again"
                );
                out.replies = self.interrogation();
            }
            (t, c) if asdu.cot.negative || (44..=47).contains(&c.value()) => {
                self.stats.negative_confirmations += 1;
                warn!(type_id = %t, cot = %asdu.cot, ca = asdu.common_address, "negative answer from the server");
            }
            (t, c) => {
                debug!(type_id = %t, cause = %c, ca = asdu.common_address, "answer from the server")
            }
        }
        Ok(out)
    }

    /// A station finished its interrogation: its cached points that it did
    /// not deliver again are marked invalid (unless the policy keeps them)
    /// and queued for [`Session::take_marked`].
    fn interrogation_done(&mut self, ca: u16) {
        let Some(gi) = &mut self.gi else {
            return;
        };
        let stations: HashSet<u16> = if ca == BROADCAST_CA {
            self.cache.keys().map(|(c, _)| *c).collect()
        } else {
            HashSet::from([ca])
        };
        let delivered = std::mem::take(&mut gi.delivered);
        if let Some(asked) = &mut gi.asked {
            asked.remove(&ca);
            if asked.is_empty() {
                self.gi = None;
            }
        }
        info!(
            ca,
            points = delivered.values().map(HashSet::len).sum::<usize>(),
            "general interrogation complete"
        );
        if self.on_link_loss == OnLinkLoss::Keep {
            return;
        }
        let mut marked = Vec::new();
        for (&(c, ioa), p) in self.cache.iter_mut() {
            let seen = delivered.get(&c).is_some_and(|d| d.contains(&ioa));
            if stations.contains(&c) && !seen && p.quality & IV == 0 {
                p.quality |= IV;
                marked.push((c, ioa));
            }
        }
        if !marked.is_empty() {
            warn!(
                ca,
                points = marked.len(),
                "points not delivered by the interrogation marked invalid"
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

    /// The link is lost: forget the interrogation in progress.
    pub fn on_link_lost(&mut self) {
        self.gi = None;
    }

    /// The link stayed down for the grace period: every cached point gets
    /// the policy's flag and is queued for [`Session::take_marked`];
    /// returns how many.
    pub fn mark_link_loss(&mut self) -> usize {
        let flag = match self.on_link_loss {
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
            warn!(points = n, policy = ?self.on_link_loss, "source lost: points marked");
        }
        self.queue_marked(marked);
        n
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

fn is_interrogated(c: Cause) -> bool {
    (20..=36).contains(&c.value())
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
