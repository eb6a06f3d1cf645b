//! The data point's contract JSON: [`DataPoint::to_json`] renders it (field
//! order as in the contract, optional fields only when set);
//! [`DataPoint::from_json`] reads it back, checking every field, so that
//! JSON from Valkey, written by any connector, never panics a reader
//! ([`ContractError`] names the field and what it allows). Times are RFC
//! 3339 UTC with milliseconds, written by [`rfc3339_ms`] and read by
//! [`parse_rfc3339_ms`]. The schema is `docs/schema/datapoint.schema.json`.

use jiff::fmt::temporal::DateTimeParser;
use serde::{Deserialize, Serialize};

use super::point::{DataPoint, PointValue, QualityFlags};
use crate::iec104::time::{rfc3339_ms, utc_unix_ms};
use crate::iec104::types::TypeId;

impl DataPoint {
    /// The contract JSON.
    pub fn to_json(&self) -> String {
        // Serializing plain data to a String cannot fail.
        serde_json::to_string(&Wire::from(self)).unwrap_or_default()
    }

    /// Reads contract JSON back, checking every field.
    pub fn from_json(json: &str) -> Result<DataPoint, ContractError> {
        let w: WireOwned =
            serde_json::from_str(json).map_err(|e| ContractError::Json(e.to_string()))?;
        w.into_point()
    }
}

/// JSON that is not a valid data point.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    #[error("data point JSON does not parse: {0}")]
    Json(String),
    #[error("data point field {field} = {value}: {allowed}")]
    Field {
        field: &'static str,
        value: String,
        allowed: &'static str,
    },
}

/// The JSON shape, field order as in the contract.
#[derive(Serialize)]
struct Wire<'a> {
    casdu: u16,
    ioa: u32,
    type_id: u8,
    #[serde(rename = "type")]
    mnemonic: &'static str,
    value: JsonValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    transient: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sequence: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    carry: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    adjusted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    changes: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    elapsed_ms: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_ms: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    operating_ms: Option<u16>,
    quality: QualityFlags,
    time: Option<String>,
    cot: u8,
    source: &'a str,
    received: String,
    #[serde(skip_serializing_if = "is_false")]
    elapsed_invalid: bool,
    #[serde(skip_serializing_if = "is_false")]
    time_invalid: bool,
    #[serde(skip_serializing_if = "is_false")]
    summer_time: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    time_error: Option<&'a str>,
    #[serde(skip_serializing_if = "is_false")]
    test: bool,
    #[serde(skip_serializing_if = "is_false")]
    negative: bool,
    #[serde(skip_serializing_if = "is_zero")]
    originator: u8,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(v: &u8) -> bool {
    *v == 0
}

/// A JSON value of the `value` field; floats keep their f32 shortest form.
#[derive(Serialize, Deserialize, Debug, Clone, Copy)]
#[serde(untagged)]
enum JsonValue {
    Bool(bool),
    Int(i64),
    F32(f32),
    F64(f64),
    Null,
}

impl<'a> From<&'a DataPoint> for Wire<'a> {
    fn from(p: &'a DataPoint) -> Wire<'a> {
        use PointValue as V;
        let mut w = Wire {
            casdu: p.casdu,
            ioa: p.ioa,
            type_id: p.type_id.id(),
            mnemonic: p.type_id.mnemonic(),
            value: JsonValue::Null,
            transient: None,
            sequence: None,
            carry: None,
            adjusted: None,
            changes: None,
            elapsed_ms: None,
            duration_ms: None,
            operating_ms: None,
            quality: p.quality,
            time: p.time.map(rfc3339_ms),
            cot: p.cot,
            source: &p.source,
            received: rfc3339_ms(p.received),
            elapsed_invalid: p.elapsed_invalid,
            time_invalid: p.time_invalid,
            summer_time: p.summer_time,
            time_error: p.time_error.as_deref(),
            test: p.test,
            negative: p.negative,
            originator: p.originator,
        };
        w.value = match p.value {
            V::Single(b) => JsonValue::Bool(b),
            V::Double(d) => JsonValue::Int(d.into()),
            V::Step { value, transient } => {
                w.transient = Some(transient);
                JsonValue::Int(value.into())
            }
            V::Bitstring(b) => JsonValue::Int(b.into()),
            V::Normalized(raw) => JsonValue::F64(f64::from(raw) / 32768.0),
            V::Scaled(s) => JsonValue::Int(s.into()),
            V::Float(f) if f.is_finite() => JsonValue::F32(f),
            V::Float(_) => JsonValue::Null,
            V::Counter {
                value,
                sequence,
                carry,
                adjusted,
            } => {
                w.sequence = Some(sequence);
                w.carry = Some(carry);
                w.adjusted = Some(adjusted);
                JsonValue::Int(value.into())
            }
            V::Packed { status, changes } => {
                w.changes = Some(changes);
                JsonValue::Int(status.into())
            }
            V::ProtectionEvent { state, elapsed_ms } => {
                w.elapsed_ms = Some(elapsed_ms);
                JsonValue::Int(state.into())
            }
            V::ProtectionStart {
                events,
                duration_ms,
            } => {
                w.duration_ms = Some(duration_ms);
                JsonValue::Int(events.into())
            }
            V::ProtectionCircuits {
                circuits,
                operating_ms,
            } => {
                w.operating_ms = Some(operating_ms);
                JsonValue::Int(circuits.into())
            }
        };
        w
    }
}

/// The JSON shape when reading; unknown fields are allowed (the contract
/// grows by new optional fields).
#[derive(Deserialize)]
struct WireOwned {
    casdu: u64,
    ioa: u64,
    type_id: u64,
    #[serde(rename = "type")]
    mnemonic: Option<String>,
    value: serde_json::Value,
    transient: Option<bool>,
    sequence: Option<u64>,
    carry: Option<bool>,
    adjusted: Option<bool>,
    changes: Option<u64>,
    elapsed_ms: Option<u64>,
    duration_ms: Option<u64>,
    operating_ms: Option<u64>,
    quality: QualityFlags,
    time: Option<String>,
    cot: u64,
    source: String,
    received: String,
    #[serde(default)]
    elapsed_invalid: bool,
    #[serde(default)]
    time_invalid: bool,
    #[serde(default)]
    summer_time: bool,
    time_error: Option<String>,
    #[serde(default)]
    test: bool,
    #[serde(default)]
    negative: bool,
    #[serde(default)]
    originator: u64,
}

fn field<T: TryFrom<u64>>(
    name: &'static str,
    v: u64,
    allowed: &'static str,
) -> Result<T, ContractError> {
    T::try_from(v).map_err(|_| ContractError::Field {
        field: name,
        value: v.to_string(),
        allowed,
    })
}

fn bad(name: &'static str, value: impl ToString, allowed: &'static str) -> ContractError {
    ContractError::Field {
        field: name,
        value: value.to_string(),
        allowed,
    }
}

impl WireOwned {
    fn into_point(self) -> Result<DataPoint, ContractError> {
        use PointValue as V;
        let casdu = field::<u16>("casdu", self.casdu, "0..=65535")?;
        let ioa = field::<u32>("ioa", self.ioa, "0..=16777215")?;
        if ioa > 0xFF_FFFF {
            return Err(bad("ioa", ioa, "0..=16777215"));
        }
        let id = field::<u8>("type_id", self.type_id, "a monitor type 1..=40")?;
        let type_id = TypeId::from_u8(id)
            .filter(|t| t.is_monitor())
            .ok_or_else(|| bad("type_id", id, "a monitor type 1..=40"))?;
        if let Some(m) = &self.mnemonic
            && m != type_id.mnemonic()
        {
            return Err(bad("type", m, "the mnemonic of type_id"));
        }
        let v = &self.value;
        let int = |lo: i64, hi: i64, allowed: &'static str| -> Result<i64, ContractError> {
            v.as_i64()
                .filter(|i| (lo..=hi).contains(i))
                .ok_or_else(|| bad("value", v, allowed))
        };
        let extra = |name: &'static str, x: Option<u64>, allowed: &'static str| {
            x.ok_or_else(|| bad(name, "missing", allowed))
                .and_then(|x| field::<u16>(name, x, allowed))
        };
        use TypeId::*;
        let value = match type_id {
            M_SP_NA_1 | M_SP_TA_1 | M_SP_TB_1 => V::Single(
                v.as_bool()
                    .ok_or_else(|| bad("value", v, "true or false"))?,
            ),
            M_DP_NA_1 | M_DP_TA_1 | M_DP_TB_1 => V::Double(narrow(int(0, 3, "0..=3")?)),
            M_ST_NA_1 | M_ST_TA_1 | M_ST_TB_1 => V::Step {
                value: narrow(int(-64, 63, "-64..=63")?),
                transient: self.transient.unwrap_or(false),
            },
            M_BO_NA_1 | M_BO_TA_1 | M_BO_TB_1 => {
                V::Bitstring(narrow(int(0, u32::MAX.into(), "0..=4294967295")?))
            }
            M_ME_NA_1 | M_ME_TA_1 | M_ME_TD_1 | M_ME_ND_1 => {
                let f = v
                    .as_f64()
                    .filter(|f| (-1.0..1.0).contains(f))
                    .ok_or_else(|| bad("value", v, "a number in [-1, 1)"))?;
                V::Normalized(crate::iec104::elements::Normalized::from_f64(f).0)
            }
            M_ME_NB_1 | M_ME_TB_1 | M_ME_TE_1 => {
                V::Scaled(narrow(int(-32768, 32767, "-32768..=32767")?))
            }
            M_ME_NC_1 | M_ME_TC_1 | M_ME_TF_1 => match v {
                serde_json::Value::Null => V::Float(f32::NAN),
                // A finite number beyond the f32 range would become an
                // infinity, which the JSON can only write as null (NaN).
                _ => V::Float(
                    v.as_f64()
                        .map(|f| f as f32)
                        .filter(|f| f.is_finite())
                        .ok_or_else(|| bad("value", v, "a number in the f32 range or null"))?,
                ),
            },
            M_IT_NA_1 | M_IT_TA_1 | M_IT_TB_1 => V::Counter {
                value: narrow(int(
                    i32::MIN.into(),
                    i32::MAX.into(),
                    "a 32-bit signed integer",
                )?),
                sequence: field::<u8>("sequence", self.sequence.unwrap_or(0), "0..=31").and_then(
                    |s| {
                        if s <= 31 {
                            Ok(s)
                        } else {
                            Err(bad("sequence", s, "0..=31"))
                        }
                    },
                )?,
                carry: self.carry.unwrap_or(false),
                adjusted: self.adjusted.unwrap_or(false),
            },
            M_PS_NA_1 => V::Packed {
                status: narrow(int(0, 65535, "0..=65535")?),
                changes: extra("changes", self.changes, "0..=65535")?,
            },
            M_EP_TA_1 | M_EP_TD_1 => V::ProtectionEvent {
                state: narrow(int(0, 3, "0..=3")?),
                elapsed_ms: extra("elapsed_ms", self.elapsed_ms, "0..=65535")?,
            },
            M_EP_TB_1 | M_EP_TE_1 => V::ProtectionStart {
                events: narrow(int(0, 255, "0..=255")?),
                duration_ms: extra("duration_ms", self.duration_ms, "0..=65535")?,
            },
            M_EP_TC_1 | M_EP_TF_1 => V::ProtectionCircuits {
                circuits: narrow(int(0, 255, "0..=255")?),
                operating_ms: extra("operating_ms", self.operating_ms, "0..=65535")?,
            },
            _ => return Err(bad("type_id", id, "a monitor type 1..=40")),
        };
        let time = match &self.time {
            None => None,
            Some(t) => Some(
                parse_rfc3339_ms(t)
                    .ok_or_else(|| bad("time", t, "RFC 3339 UTC with milliseconds"))?,
            ),
        };
        let received = parse_rfc3339_ms(&self.received)
            .ok_or_else(|| bad("received", &self.received, "RFC 3339 UTC with milliseconds"))?;
        let cot = field::<u8>("cot", self.cot, "0..=63")?;
        if cot > 63 {
            return Err(bad("cot", cot, "0..=63"));
        }
        Ok(DataPoint {
            casdu,
            ioa,
            type_id,
            value,
            quality: self.quality,
            elapsed_invalid: self.elapsed_invalid,
            time,
            time_invalid: self.time_invalid,
            summer_time: self.summer_time,
            time_error: self.time_error,
            cot,
            test: self.test,
            negative: self.negative,
            originator: field::<u8>("originator", self.originator, "0..=255")?,
            source: self.source.into(),
            received,
        })
    }
}

/// Narrows a value the caller has range-checked.
fn narrow<T: TryFrom<i64> + Default>(v: i64) -> T {
    T::try_from(v).unwrap_or_default()
}

/// Parses `YYYY-MM-DDTHH:MM:SS(.fff)Z` (UTC only; a fraction of 1 to 9
/// digits, cut to milliseconds) into Unix ms. A leap second `:60` reads as
/// the first second of the next minute.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    const PARSER: DateTimeParser = DateTimeParser::new();
    let civil = s.strip_suffix('Z')?;
    if !is_contract_form(civil.as_bytes()) {
        return None;
    }
    // jiff reads second 60 as 59.
    let leap = if civil.get(17..19) == Some("60") {
        1000
    } else {
        0
    };
    let dt = PARSER.parse_datetime(civil).ok()?;
    // A leap second at the end of 9999 would read as the year 10000, which
    // the four-digit form cannot write back.
    Some(utc_unix_ms(dt) + leap).filter(|&t| t < YEAR_10000_MS)
}

/// `YYYY-MM-DDTHH:MM:SS` with an optional fraction of 1 to 9 digits: of
/// what RFC 3339 and jiff read, the one form the contract has.
fn is_contract_form(b: &[u8]) -> bool {
    const SHAPE: &[u8; 19] = b"dddd-dd-ddTdd:dd:dd";
    let Some((main, fraction)) = b.split_at_checked(SHAPE.len()) else {
        return false;
    };
    let main_ok = main.iter().zip(SHAPE).all(|(&c, &want)| match want {
        b'd' => c.is_ascii_digit(),
        _ => c == want,
    });
    let fraction_ok = match fraction {
        [] => true,
        [b'.', digits @ ..] => {
            (1..=9).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    };
    main_ok && fraction_ok
}

/// Unix ms of 10000-01-01T00:00:00Z: the first instant past RFC 3339's years.
const YEAR_10000_MS: i64 = 253_402_300_800_000;

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
