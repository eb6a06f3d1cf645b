//! One JSON payload through one mapping to data points
//! (`docs/contract.md`, "The MQTT connector's managed configuration").
//!
//! For a message, [`mapping_matches`] says whether the mapping's `match`
//! conditions hold; then [`convert_point`] turns the payload into one
//! point's [`Outcome`]:
//!
//! 1. the `value` path must select exactly one value, else
//!    [`Outcome::Unselected`] (nothing written, counted by the caller);
//! 2. `map` replaces a value found in it (a string by itself, a number by
//!    its decimal form, an integral float also by its integer form, a
//!    boolean as `true`/`false`);
//! 3. a number sent as a string is a number; measured values, step
//!    positions and counters take `value × scale + offset`;
//! 4. the conversion to the type: single point from a boolean or 0/1;
//!    double point an integer 0..3; bitstring an integer 0..4294967295;
//!    counter an integer (after rounding) within i32; step position
//!    (-64..63), normalized ([-1, 1)), scaled (-32768..32767) and short
//!    float (within f32) are clamped to the nearest limit with `ov`
//!    ([`Outcome::Write`] with `clamped`). Anything else — a wrong JSON
//!    type, an unparsable string, a value that is not finite, a state or a
//!    bitstring or counter out of range — is [`Outcome::Invalid`]: the
//!    caller keeps the point's last value and sets `iv`
//!    ([`invalidated`]);
//! 5. `invert` swaps a single point's value, and a double point's 1 and 2;
//! 6. `quality`: the path must select a value in `good` (numbers compare by
//!    value), else `iv` is set; a path that selects nothing sets `iv`;
//! 7. time: timed types take the source time stamp (RFC 3339 with any
//!    offset, Unix seconds or Unix milliseconds, as a number or a numeric
//!    string, years 1970..9999), or the receive time without a `time`
//!    path; a stamp that is missing or cannot be read gives the receive
//!    time with `time_invalid` set.
//!
//! The point is written with `cot` 3 and `source` the connector's id.
//! [`DeadbandFilter`] is the per-point deadband state the caller keeps.

use std::sync::Arc;

use serde_json::Value;
use serde_json_path::JsonPath;

use crate::contract::{DataPoint, PointValue, QualityFlags, parse_rfc3339_ms};
use crate::iec104::elements::Normalized;
use crate::iec104::types::TypeId;

use super::mapping::{Deadband, Mapping, PointMapping, TimeFormat, is_timed};

/// The latest time stamp accepted, Unix ms (9999-12-31T23:59:59.999Z).
const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// What a message means for one point.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Write this point; `clamped` when its value was beyond the type's
    /// range and was written at the limit with `ov`.
    Write { point: DataPoint, clamped: bool },
    /// The value cannot be converted: keep the last value with `iv`.
    Invalid { reason: String },
    /// The `value` path selected no value or several: nothing is written.
    Unselected { reason: String },
}

/// Who writes and when the message was received.
#[derive(Debug, Clone)]
pub struct Context {
    /// The connector's id, the points' `source`.
    pub source: Arc<str>,
    /// When the message was received, Unix ms.
    pub received_ms: i64,
}

/// Equality of JSON values, numbers compared by value (1 equals 1.0).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64() && x.as_f64().is_some(),
        },
        _ => a == b,
    }
}

fn select_one<'a>(path: &JsonPath, payload: &'a Value) -> Result<&'a Value, String> {
    path.query(payload).exactly_one().map_err(|e| match e {
        serde_json_path::ExactlyOneError::Empty => format!("`{path}` selects no value"),
        serde_json_path::ExactlyOneError::MoreThanOne(n) => {
            format!("`{path}` selects {n} values, not one")
        }
    })
}

/// Whether every `match` path of the mapping selects exactly its value.
pub fn mapping_matches(mapping: &Mapping, payload: &Value) -> bool {
    mapping
        .matches
        .iter()
        .all(|(path, want)| select_one(path, payload).is_ok_and(|got| json_eq(got, want)))
}

/// A number, or a string holding one (surrounding blanks allowed).
fn number(v: &Value) -> Option<f64> {
    let x = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    x.is_finite().then_some(x)
}

fn map_key(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An integral float's integer form (`10.0` looks up `"10"`).
fn integral_key(v: &Value) -> Option<String> {
    let x = v
        .as_f64()
        .filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15)?;
    Some(format!("{}", x as i64))
}

/// The value converted to the point's type, and whether it was clamped.
fn to_value(p: &PointMapping, v: &Value) -> Result<(PointValue, bool), String> {
    use TypeId as T;
    let what = |allowed: &str| format!("{v} cannot be converted: {allowed}");
    let scaled = || {
        number(v)
            .map(|x| x * p.scale + p.offset)
            .filter(|x| x.is_finite())
            .ok_or_else(|| what("a finite number (or a numeric string) is allowed"))
    };
    match p.type_id {
        T::M_SP_NA_1 | T::M_SP_TB_1 => {
            let b = match v {
                Value::Bool(b) => Some(*b),
                _ => number(v).and_then(|x| {
                    if x == 0.0 {
                        Some(false)
                    } else if x == 1.0 {
                        Some(true)
                    } else {
                        None
                    }
                }),
            };
            let b = b.ok_or_else(|| what("a single point is true/false or 0/1"))?;
            Ok((PointValue::Single(b != p.invert), false))
        }
        T::M_DP_NA_1 | T::M_DP_TB_1 => {
            let d = number(v)
                .filter(|x| x.fract() == 0.0 && (0.0..=3.0).contains(x))
                .ok_or_else(|| what("a double point is an integer 0..3"))?;
            let mut d = d as u8;
            if p.invert && (d == 1 || d == 2) {
                d = 3 - d;
            }
            Ok((PointValue::Double(d), false))
        }
        T::M_ST_NA_1 | T::M_ST_TB_1 => {
            let x = scaled()?.round();
            let c = x.clamp(-64.0, 63.0);
            Ok((
                PointValue::Step {
                    value: c as i8,
                    transient: false,
                },
                c != x,
            ))
        }
        T::M_BO_NA_1 | T::M_BO_TB_1 => {
            let x = number(v)
                .filter(|x| x.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(x))
                .ok_or_else(|| what("a bitstring is an integer 0..4294967295"))?;
            Ok((PointValue::Bitstring(x as u32), false))
        }
        T::M_ME_NA_1 | T::M_ME_TD_1 | T::M_ME_ND_1 => {
            // [-1, 1): beyond it, the nearest limit with `ov`; within it,
            // the nearest raw value (saturating at 32767).
            let x = scaled()?;
            let beyond = !(-1.0..1.0).contains(&x);
            Ok((PointValue::Normalized(Normalized::from_f64(x).0), beyond))
        }
        T::M_ME_NB_1 | T::M_ME_TE_1 => {
            let x = scaled()?.round();
            let c = x.clamp(-32768.0, 32767.0);
            Ok((PointValue::Scaled(c as i16), c != x))
        }
        T::M_ME_NC_1 | T::M_ME_TF_1 => {
            let x = scaled()?;
            let max = f64::from(f32::MAX);
            let c = x.clamp(-max, max);
            Ok((PointValue::Float(c as f32), c != x))
        }
        T::M_IT_NA_1 | T::M_IT_TB_1 => {
            let x = scaled()?.round();
            if !(f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&x) {
                return Err(what("a counter is within -2147483648..2147483647"));
            }
            Ok((
                PointValue::Counter {
                    value: x as i32,
                    sequence: 0,
                    carry: false,
                    adjusted: false,
                },
                false,
            ))
        }
        other => Err(format!(
            "{} is not written by this connector",
            other.mnemonic()
        )),
    }
}

fn read_time(v: &Value, format: TimeFormat) -> Option<i64> {
    let ms = match format {
        TimeFormat::Rfc3339 => {
            let s = v.as_str()?.trim();
            parse_rfc3339_ms(s).or_else(|| {
                s.parse::<jiff::Timestamp>()
                    .ok()
                    .map(|t| t.as_millisecond())
            })?
        }
        TimeFormat::UnixS => (number(v)? * 1000.0)
            .round()
            .clamp(-1.0, MAX_TIME_MS as f64 + 1.0) as i64,
        TimeFormat::UnixMs => number(v)?.round().clamp(-1.0, MAX_TIME_MS as f64 + 1.0) as i64,
    };
    (0..=MAX_TIME_MS).contains(&ms).then_some(ms)
}

/// A payload to one point's outcome (see the module documentation).
pub fn convert_point(p: &PointMapping, payload: &Value, ctx: &Context) -> Outcome {
    let selected = match select_one(&p.value, payload) {
        Ok(v) => v,
        Err(reason) => return Outcome::Unselected { reason },
    };
    let v = map_key(selected)
        .and_then(|k| p.map.as_ref()?.get(&k))
        .or_else(|| integral_key(selected).and_then(|k| p.map.as_ref()?.get(&k)))
        .unwrap_or(selected);
    let (value, clamped) = match to_value(p, v) {
        Ok(x) => x,
        Err(reason) => return Outcome::Invalid { reason },
    };
    let mut quality = QualityFlags {
        ov: clamped,
        ..QualityFlags::default()
    };
    if let Some(q) = &p.quality {
        let good =
            select_one(&q.path, payload).is_ok_and(|got| q.good.iter().any(|g| json_eq(got, g)));
        quality.iv = !good;
    }
    let (time, time_invalid) = if is_timed(p.type_id) {
        match &p.time {
            None => (Some(ctx.received_ms), false),
            Some((path, format)) => match select_one(path, payload)
                .ok()
                .and_then(|t| read_time(t, *format))
            {
                Some(ms) => (Some(ms), false),
                None => (Some(ctx.received_ms), true),
            },
        }
    } else {
        (None, false)
    };
    Outcome::Write {
        point: DataPoint {
            casdu: p.casdu,
            ioa: p.ioa,
            type_id: p.type_id,
            value,
            quality,
            elapsed_invalid: false,
            time,
            time_invalid,
            summer_time: false,
            time_error: None,
            cot: 3,
            test: false,
            negative: false,
            originator: 0,
            source: ctx.source.clone(),
            received: ctx.received_ms,
        },
        clamped,
    }
}

/// The point to write for [`Outcome::Invalid`]: the last value kept, `iv`
/// set, received now (a timed type's time: the receive time).
pub fn invalidated(last: &DataPoint, ctx: &Context) -> DataPoint {
    let mut p = last.clone();
    p.quality.iv = true;
    p.cot = 3;
    p.received = ctx.received_ms;
    p.source = ctx.source.clone();
    if p.time.is_some() {
        p.time = Some(ctx.received_ms);
        p.time_invalid = false;
    }
    p
}

/// A value's magnitude for the deadband (a boolean as 0/1).
fn magnitude(v: &PointValue) -> f64 {
    match *v {
        PointValue::Single(b) => f64::from(u8::from(b)),
        PointValue::Double(d) => f64::from(d),
        PointValue::Step { value, .. } => f64::from(value),
        PointValue::Bitstring(b) => f64::from(b),
        PointValue::Normalized(raw) => Normalized(raw).to_f64(),
        PointValue::Scaled(s) => f64::from(s),
        PointValue::Float(f) => f64::from(f),
        PointValue::Counter { value, .. } => f64::from(value),
        PointValue::Packed { status, .. } => f64::from(status),
        PointValue::ProtectionEvent { state, .. } => f64::from(state),
        PointValue::ProtectionStart { events, .. } => f64::from(events),
        PointValue::ProtectionCircuits { circuits, .. } => f64::from(circuits),
    }
}

/// Whether `point` is to be written after `last` (the value and quality
/// last written): the first value, a quality change and any change without
/// a deadband pass; otherwise a change smaller than the deadband (absolute,
/// or percent of the last value's magnitude) does not.
pub fn deadband_admits(
    deadband: Option<Deadband>,
    last: Option<(&PointValue, QualityFlags)>,
    point: &DataPoint,
) -> bool {
    let (last, quality) = match (last, deadband) {
        (None, _) | (_, None) => return true,
        (Some((v, q)), Some(_)) => (magnitude(v), q),
    };
    if quality != point.quality {
        return true;
    }
    let v = magnitude(&point.value);
    match deadband {
        Some(Deadband::Absolute(a)) => (v - last).abs() >= a,
        Some(Deadband::Percent(p)) => (v - last).abs() >= last.abs() * p / 100.0,
        None => true,
    }
}

/// One point's deadband state: the last value and quality written.
#[derive(Debug, Clone, Default)]
pub struct DeadbandFilter {
    last: Option<(PointValue, QualityFlags)>,
}

impl DeadbandFilter {
    /// Whether `point` is to be written ([`deadband_admits`]); if so, it
    /// becomes the last written.
    pub fn admit(&mut self, deadband: Option<Deadband>, point: &DataPoint) -> bool {
        let pass = deadband_admits(deadband, self.last.as_ref().map(|(v, q)| (v, *q)), point);
        if pass {
            self.last = Some((point.value, point.quality));
        }
        pass
    }
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
