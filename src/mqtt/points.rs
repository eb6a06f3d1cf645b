//! What the connector keeps of its points between messages, and the
//! counters of its mappings: pure (no I/O, the clock is passed in).
//!
//! ```text
//! message (topic, payload) ─► Points::handle ─► Engine (topic index, match, conversion)
//!     Write ─► deadband (a quality change always passes) ─► point to write; refreshed
//!     Invalid ─► the last value with IV (when there is one) ─► point to write; refreshed
//!     Unselected / payload refused ─► nothing written; counted
//! every second ─► Points::silence ─► points not refreshed within their silence_timeout: NT set, written
//! start ─► Points::adopt (the image's points of this connector) ─► kept until refreshed or silent
//! new mappings ─► Points::reconfigure ─► state of unchanged addresses kept; points no longer mapped: NT set
//! ```
//!
//! Each refusal is counted per mapping (`unmatched`: the value path
//! selected no value or several; `bad_payloads`: not JSON, nested too
//! deep, over the size limit; `conversion_errors`: a value that cannot be
//! converted; `clamped`: written at its type's limit with OV) and logged
//! at most once a minute per mapping and kind.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use tracing::warn;

use super::convert::{Context, Outcome, deadband_admits, invalidated};
use super::engine::{Engine, parse_payload};
use super::mapping::{MappingConfig, PointMapping};
use crate::contract::{DataPoint, PointValue, QualityFlags};
use crate::iec104::types::TypeId;

/// How often one kind of refusal of one mapping is logged, ms.
const LOG_EVERY_MS: i64 = 60_000;
/// Mappings listed with their error counters in the status (the worst).
const MAPPINGS_LISTED: usize = 100;

/// The counters of one mapping.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MappingCounters {
    /// Messages of its topic.
    pub messages: u64,
    /// Messages its `match` did not hold for.
    pub filtered: u64,
    /// Points written.
    pub points_written: u64,
    /// A value path selected no value or several.
    pub unmatched: u64,
    /// Payloads not read (not JSON, too deep, too large).
    pub bad_payloads: u64,
    /// Values that could not be converted (written as IV).
    pub conversion_errors: u64,
    /// Values beyond their type's range (written at the limit with OV).
    pub clamped: u64,
}

impl MappingCounters {
    fn errors(&self) -> u64 {
        self.unmatched + self.bad_payloads + self.conversion_errors + self.clamped
    }

    fn add(&mut self, o: &MappingCounters) {
        self.messages += o.messages;
        self.filtered += o.filtered;
        self.points_written += o.points_written;
        self.unmatched += o.unmatched;
        self.bad_payloads += o.bad_payloads;
        self.conversion_errors += o.conversion_errors;
        self.clamped += o.clamped;
    }
}

/// The kinds of refusal, for the log limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Unmatched,
    BadPayload,
    Conversion,
}

/// One point's state: small, since a connector may hold 100,000 (what it
/// was configured with is read from the mapping through `at`).
#[derive(Debug, Clone)]
struct PointState {
    /// Its mapping and its place in it.
    at: (u32, u32),
    /// What was last written (or adopted from the image): also the
    /// deadband's reference.
    last: Option<Last>,
    /// When it was last refreshed (written, or adopted), Unix ms.
    refreshed_ms: i64,
    /// NT set by silence (cleared by the next value).
    not_topical: bool,
}

/// What is kept of the last point written: enough to write it again with
/// IV or NT set. Points of the mqtt connector carry no protection or test
/// fields.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Last {
    type_id: TypeId,
    value: PointValue,
    quality: QualityFlags,
    time: Option<i64>,
    time_invalid: bool,
    summer_time: bool,
    cot: u8,
}

impl Last {
    fn of(p: &DataPoint) -> Last {
        Last {
            type_id: p.type_id,
            value: p.value,
            quality: p.quality,
            time: p.time,
            time_invalid: p.time_invalid,
            summer_time: p.summer_time,
            cot: p.cot,
        }
    }

    fn point(&self, (casdu, ioa): (u16, u32), source: &Arc<str>, received: i64) -> DataPoint {
        DataPoint {
            casdu,
            ioa,
            type_id: self.type_id,
            value: self.value,
            quality: self.quality,
            elapsed_invalid: false,
            time: self.time,
            time_invalid: self.time_invalid,
            summer_time: self.summer_time,
            time_error: None,
            cot: self.cot,
            test: false,
            negative: false,
            originator: 0,
            source: Arc::clone(source),
            received,
        }
    }
}

/// The figures of [`Points::stats`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PointsStats {
    /// Every mapping's counters summed.
    pub totals: MappingCounters,
    /// Messages whose topic no mapping has.
    pub unrouted: u64,
    /// Point values taken from messages (converted, or invalid with a
    /// last value to keep), before the deadband.
    pub points_received: u64,
    /// Points with a value.
    pub points_known: usize,
    /// Points marked not topical by silence.
    pub points_not_topical: usize,
    /// The mappings with refusals, worst first (at most 100): id and
    /// counters.
    pub mapping_errors: Vec<(String, MappingCounters)>,
}

/// The connector's points and mapping counters.
pub struct Points {
    engine: Arc<Engine>,
    source: Arc<str>,
    max_payload: usize,
    points: HashMap<(u16, u32), PointState>,
    counters: Vec<MappingCounters>,
    unrouted: u64,
    received: u64,
    logged: HashMap<(usize, Kind), i64>,
}

impl Points {
    /// No points yet; `source` is the connector's id.
    pub fn new(source: &str, config: Arc<MappingConfig>, max_payload: usize) -> Points {
        let mut p = Points {
            engine: Arc::new(Engine::shared(Arc::new(MappingConfig::empty()))),
            source: Arc::from(source),
            max_payload,
            points: HashMap::new(),
            counters: Vec::new(),
            unrouted: 0,
            received: 0,
            logged: HashMap::new(),
        };
        let _ = p.reconfigure(config, max_payload, 0);
        p
    }

    /// The engine of the current mappings.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// One message: the points to write.
    pub fn handle(&mut self, topic: &str, payload: &[u8], now_ms: i64) -> Vec<DataPoint> {
        let mappings = self.engine.mappings_for(topic);
        if mappings.is_empty() {
            self.unrouted += 1;
            return Vec::new();
        }
        for &m in &mappings {
            if let Some(c) = self.counters.get_mut(m) {
                c.messages += 1;
            }
        }
        let value = match parse_payload(payload, self.max_payload) {
            Ok(v) => v,
            Err(e) => {
                for &m in &mappings {
                    if let Some(c) = self.counters.get_mut(m) {
                        c.bad_payloads += 1;
                    }
                    self.log(m, Kind::BadPayload, now_ms, || {
                        format!("payload on {topic} refused: {e}")
                    });
                }
                return Vec::new();
            }
        };
        let ctx = Context {
            source: self.source.clone(),
            received_ms: now_ms,
        };
        let engine = self.engine.clone();
        let mut out = Vec::new();
        for result in engine.handle_mappings(&mappings, &value, &ctx) {
            let m = result.mapping;
            if !result.matched {
                if let Some(c) = self.counters.get_mut(m) {
                    c.filtered += 1;
                }
                continue;
            }
            for (p, outcome) in result.points {
                let Some(point) = engine
                    .config()
                    .mappings
                    .get(m)
                    .and_then(|mapping| mapping.points.get(p))
                else {
                    continue;
                };
                let key = (point.casdu, point.ioa);
                match outcome {
                    Outcome::Write { point, clamped } => {
                        if clamped {
                            self.count(m, |c| c.clamped += 1);
                        }
                        self.received += 1;
                        if let Some(p) = self.refresh(key, point, now_ms) {
                            self.count(m, |c| c.points_written += 1);
                            out.push(p);
                        }
                    }
                    Outcome::Invalid { reason } => {
                        self.count(m, |c| c.conversion_errors += 1);
                        self.log(m, Kind::Conversion, now_ms, || {
                            format!("{}/{} on {topic}: {reason}", key.0, key.1)
                        });
                        let last = self.points.get(&key).and_then(|s| s.last);
                        if let Some(last) = last {
                            self.received += 1;
                            let mut p = invalidated(&last.point(key, &self.source, now_ms), &ctx);
                            p.quality.nt = false;
                            if let Some(p) = self.refresh(key, p, now_ms) {
                                self.count(m, |c| c.points_written += 1);
                                out.push(p);
                            }
                        }
                    }
                    Outcome::Unselected { reason } => {
                        self.count(m, |c| c.unmatched += 1);
                        self.log(m, Kind::Unmatched, now_ms, || {
                            format!("{}/{} on {topic}: {reason}", key.0, key.1)
                        });
                    }
                }
            }
        }
        out
    }

    fn count(&mut self, m: usize, f: impl FnOnce(&mut MappingCounters)) {
        if let Some(c) = self.counters.get_mut(m) {
            f(c);
        }
    }

    /// A new value of a point: refreshed (NT cleared); the point when the
    /// deadband lets it through.
    fn refresh(&mut self, key: (u16, u32), point: DataPoint, now_ms: i64) -> Option<DataPoint> {
        let state = self.points.get_mut(&key)?;
        state.refreshed_ms = now_ms;
        state.not_topical = false;
        let deadband = mapped(&self.engine, state.at).and_then(|p| p.deadband);
        let last = state.last.as_ref().map(|l| (&l.value, l.quality));
        if !deadband_admits(deadband, last, &point) {
            return None;
        }
        state.last = Some(Last::of(&point));
        Some(point)
    }

    /// Logs one refusal unless this mapping logged this kind within the
    /// last minute.
    fn log(&mut self, m: usize, kind: Kind, now_ms: i64, what: impl FnOnce() -> String) {
        let due = self
            .logged
            .get(&(m, kind))
            .is_none_or(|&at| now_ms - at >= LOG_EVERY_MS);
        if !due {
            return;
        }
        self.logged.insert((m, kind), now_ms);
        let id = self
            .engine
            .config()
            .mappings
            .get(m)
            .map_or("?", |x| x.id.as_str());
        warn!(
            mapping = id,
            "{} (further ones of this mapping are counted, logged again after a minute)",
            what()
        );
    }

    /// Marks the points not refreshed within their silence timeout as not
    /// topical: the points to write.
    pub fn silence(&mut self, now_ms: i64) -> Vec<DataPoint> {
        let mut out = Vec::new();
        for (key, state) in &mut self.points {
            let silence_ms = mapped(&self.engine, state.at).map_or(0, |p| {
                i64::try_from(p.silence_timeout_s.saturating_mul(1000)).unwrap_or(i64::MAX)
            });
            if silence_ms == 0 || state.not_topical || now_ms - state.refreshed_ms < silence_ms {
                continue;
            }
            if let Some(last) = &mut state.last {
                last.quality.nt = true;
                state.not_topical = true;
                out.push(last.point(*key, &self.source, now_ms));
            }
        }
        out
    }

    /// A point of this connector read from the image at start: kept as the
    /// last value of its address (refreshed now, so that its silence
    /// timeout runs from the start) when the mappings have it; otherwise it
    /// is marked not topical: the point to write then.
    pub fn adopt(&mut self, point: DataPoint, now_ms: i64) -> Option<DataPoint> {
        let key = (point.casdu, point.ioa);
        let engine = &self.engine;
        match self.points.get_mut(&key) {
            Some(state) if mapped(engine, state.at).is_some_and(|p| p.type_id == point.type_id) => {
                if state.last.is_none() {
                    state.refreshed_ms = now_ms;
                    state.not_topical = point.quality.nt;
                    state.last = Some(Last::of(&point));
                }
                None
            }
            _ if point.quality.nt => None,
            // Not mapped any more, or mapped to another type: not topical
            // until the mapping writes it.
            _ => Some(not_topical(&point, now_ms)),
        }
    }

    /// New mappings (and payload limit): the state of every address that
    /// stays with the same type is kept; the points no longer mapped are
    /// marked not topical (the points to write). Counters stay with their
    /// mapping's id.
    pub fn reconfigure(
        &mut self,
        config: Arc<MappingConfig>,
        max_payload: usize,
        now_ms: i64,
    ) -> Vec<DataPoint> {
        let mut old_counters: HashMap<String, MappingCounters> = HashMap::new();
        for (m, c) in self.engine.config().mappings.iter().zip(&self.counters) {
            old_counters.entry(m.id.clone()).or_default().add(c);
        }
        let mut old = std::mem::take(&mut self.points);
        let mut points =
            HashMap::with_capacity(config.mappings.iter().map(|m| m.points.len()).sum());
        for (m, mapping) in config.mappings.iter().enumerate() {
            for (i, p) in mapping.points.iter().enumerate() {
                let key = (p.casdu, p.ioa);
                let at = (
                    u32::try_from(m).unwrap_or(u32::MAX),
                    u32::try_from(i).unwrap_or(u32::MAX),
                );
                let mut state = PointState {
                    at,
                    last: None,
                    refreshed_ms: now_ms,
                    not_topical: false,
                };
                if let Some(prev) = old.remove(&key)
                    && prev.last.is_some_and(|l| l.type_id == p.type_id)
                {
                    state.last = prev.last;
                    state.refreshed_ms = prev.refreshed_ms;
                    state.not_topical = prev.not_topical;
                }
                points.insert(key, state);
            }
        }
        self.counters = config
            .mappings
            .iter()
            .map(|m| old_counters.remove(&m.id).unwrap_or_default())
            .collect();
        self.points = points;
        self.engine = Arc::new(Engine::shared(config));
        self.max_payload = max_payload;
        self.logged.clear();
        old.into_iter()
            .filter_map(|(key, s)| s.last.map(|l| (key, l)))
            .filter(|(_, l)| !l.quality.nt)
            .map(|(key, l)| not_topical(&l.point(key, &self.source, now_ms), now_ms))
            .collect()
    }

    /// The counters and point figures.
    pub fn stats(&self) -> PointsStats {
        let mut totals = MappingCounters::default();
        for c in &self.counters {
            totals.add(c);
        }
        let mut errors: Vec<(String, MappingCounters)> = self
            .engine
            .config()
            .mappings
            .iter()
            .zip(&self.counters)
            .filter(|(_, c)| c.errors() > 0)
            .map(|(m, c)| (m.id.clone(), *c))
            .collect();
        errors.sort_by(|a, b| b.1.errors().cmp(&a.1.errors()).then(a.0.cmp(&b.0)));
        errors.truncate(MAPPINGS_LISTED);
        PointsStats {
            totals,
            unrouted: self.unrouted,
            points_received: self.received,
            points_known: self.points.values().filter(|s| s.last.is_some()).count(),
            points_not_topical: self.points.values().filter(|s| s.not_topical).count(),
            mapping_errors: errors,
        }
    }
}

/// The point mapping at `at` of the engine's configuration.
fn mapped(engine: &Engine, (m, p): (u32, u32)) -> Option<&PointMapping> {
    engine
        .config()
        .mappings
        .get(usize::try_from(m).ok()?)?
        .points
        .get(usize::try_from(p).ok()?)
}

/// `last` with NT set, received now.
fn not_topical(last: &DataPoint, now_ms: i64) -> DataPoint {
    let mut p = last.clone();
    p.quality.nt = true;
    p.received = now_ms;
    p
}

#[cfg(test)]
#[path = "points_tests.rs"]
mod tests;
