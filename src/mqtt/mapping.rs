//! The `mqtt` connector's managed configuration (`docs/contract.md`, "The
//! MQTT connector's managed configuration"): the JSON shape as serde types
//! with unknown fields refused, and its check into [`MappingConfig`].
//!
//! Each mapping and each point is read on its own, so that every error
//! names its place and field: `mappings[2].points[0].value: not a JSONPath
//! (RFC 9535): …`. A configuration is refused as a whole with its first
//! error ([`ConfigError`]), in document order.
//!
//! Ranges: `casdu` 1..65534 (0 is not used and 65535 is the broadcast
//! address in IEC 60870-5-104), `ioa` 1..16777215, `type` one of the
//! monitor types in [`WRITABLE_TYPES`] by mnemonic or number, one owner per
//! (casdu, ioa) across all mappings, `deadband` exactly one of `absolute`
//! or `percent`, finite and not negative, `time` only on timed types,
//! `scale` and `offset` finite and only on measured values, step
//! positions and counters, `invert` only on single and double points, `silence_timeout` 0..31536000
//! seconds, `broker.qos` 0 or 1, `log_level` one of the levels every
//! role names.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use serde_json_path::JsonPath;

use crate::config::common::LogLevel;
use crate::iec104::types::TypeId;

use super::topic::TopicFilter;

/// The monitor types the connector writes (the contract's "value by type"
/// table without packed and protection types).
pub const WRITABLE_TYPES: [TypeId; 17] = [
    TypeId::M_SP_NA_1,
    TypeId::M_DP_NA_1,
    TypeId::M_ST_NA_1,
    TypeId::M_BO_NA_1,
    TypeId::M_ME_NA_1,
    TypeId::M_ME_NB_1,
    TypeId::M_ME_NC_1,
    TypeId::M_IT_NA_1,
    TypeId::M_ME_ND_1,
    TypeId::M_SP_TB_1,
    TypeId::M_DP_TB_1,
    TypeId::M_ST_TB_1,
    TypeId::M_BO_TB_1,
    TypeId::M_ME_TD_1,
    TypeId::M_ME_TE_1,
    TypeId::M_ME_TF_1,
    TypeId::M_IT_TB_1,
];

/// The longest `silence_timeout`, seconds (a year).
pub const MAX_SILENCE_TIMEOUT_S: u64 = 31_536_000;

/// A refused configuration: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {message}")]
pub struct ConfigError {
    /// e.g. `mappings[2].points[0].value`.
    pub place: String,
    pub message: String,
}

fn err(place: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        place: place.into(),
        message: message.into(),
    }
}

// ---- the JSON shape ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig<'a> {
    log_level: Option<String>,
    broker: Option<Value>,
    silence_timeout: Option<u64>,
    #[serde(borrow)]
    mappings: Vec<&'a RawValue>,
}

/// `broker`: the broker settings that may travel through Valkey (never
/// secrets).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerSettings {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub client_id: Option<String>,
    pub username: Option<String>,
    pub tls: Option<bool>,
    pub keep_alive: Option<u16>,
    pub qos: Option<u8>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapping<'a> {
    id: String,
    topic: String,
    #[serde(rename = "match")]
    match_: Option<Map<String, Value>>,
    #[serde(borrow)]
    points: Vec<&'a RawValue>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPoint {
    casdu: i64,
    ioa: i64,
    #[serde(rename = "type")]
    type_: Value,
    value: String,
    time: Option<String>,
    time_format: Option<String>,
    scale: Option<f64>,
    offset: Option<f64>,
    deadband: Option<Value>,
    map: Option<Map<String, Value>>,
    invert: Option<bool>,
    quality: Option<Value>,
    silence_timeout: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeadband {
    absolute: Option<f64>,
    percent: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuality {
    path: String,
    good: Vec<Value>,
}

// ---- the checked configuration ----

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct MappingConfig {
    pub log_level: Option<LogLevel>,
    pub broker: Option<BrokerSettings>,
    /// The default `silence_timeout`, seconds (0 = off).
    pub silence_timeout_s: u64,
    pub mappings: Vec<Mapping>,
}

/// One checked mapping.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub id: String,
    pub topic: TopicFilter,
    /// Every path must select exactly its value.
    pub matches: Vec<(Path, Value)>,
    pub points: Vec<PointMapping>,
}

/// How the source time stamp is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeFormat {
    Rfc3339,
    UnixS,
    UnixMs,
}

/// A point's deadband.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Deadband {
    Absolute(f64),
    Percent(f64),
}

/// Quality from a payload field: any value not in `good` sets `iv`.
#[derive(Debug, Clone)]
pub struct QualitySpec {
    pub path: Path,
    pub good: Vec<Value>,
}

/// One checked point of a mapping.
#[derive(Debug, Clone)]
pub struct PointMapping {
    pub casdu: u16,
    pub ioa: u32,
    pub type_id: TypeId,
    pub value: Path,
    pub time: Option<(Path, TimeFormat)>,
    pub scale: f64,
    pub offset: f64,
    pub deadband: Option<Deadband>,
    /// Keys as written (strings); a payload number is looked up by its
    /// decimal form, a boolean as `true`/`false`. `None` when empty (a
    /// point is small: a connector may map 100,000).
    pub map: Option<Box<HashMap<String, Value>>>,
    pub invert: bool,
    pub quality: Option<Box<QualitySpec>>,
    /// The point's own `silence_timeout`, else the configuration's.
    pub silence_timeout_s: u64,
}

impl MappingConfig {
    /// No mappings.
    pub fn empty() -> MappingConfig {
        MappingConfig {
            log_level: None,
            broker: None,
            silence_timeout_s: 0,
            mappings: Vec::new(),
        }
    }

    /// Checks a managed configuration already parsed as JSON.
    pub fn from_value(value: Value) -> Result<MappingConfig, ConfigError> {
        MappingConfig::from_json(&value.to_string())
    }

    /// Reads and checks a managed configuration's JSON text. Each mapping
    /// and each point is read from its own text: no JSON tree of the whole
    /// configuration is ever built (10,000 mappings would cost hundreds of
    /// megabytes).
    pub fn from_json(text: &str) -> Result<MappingConfig, ConfigError> {
        let raw: RawConfig = serde_json::from_str(text).map_err(|e| {
            let kind = if e.is_data() { "" } else { "not JSON: " };
            err("(configuration)", format!("{kind}{}", message(&e)))
        })?;
        MappingConfig::build(raw)
    }

    /// A configuration of its parts: the default `silence_timeout`, the
    /// `broker` object and the `mappings` list as JSON text, each mapping
    /// read from that text where it stands (no copy of it).
    pub fn from_parts(
        silence_timeout: Option<u64>,
        broker: Option<Value>,
        mappings: &str,
    ) -> Result<MappingConfig, ConfigError> {
        let list: Vec<&RawValue> = serde_json::from_str(mappings).map_err(|e| {
            err(
                "mappings",
                format!("must be a list [..] of mappings: {}", message(&e)),
            )
        })?;
        MappingConfig::build(RawConfig {
            log_level: None,
            broker,
            silence_timeout,
            mappings: list,
        })
    }

    fn build(raw: RawConfig<'_>) -> Result<MappingConfig, ConfigError> {
        let log_level = match raw.log_level {
            None => None,
            Some(l) => Some(
                serde_json::from_value::<LogLevel>(Value::String(l.clone())).map_err(|_| {
                    err(
                        "log_level",
                        format!("`{l}`: allowed {}", LogLevel::NAMES.join(", ")),
                    )
                })?,
            ),
        };
        let silence_timeout_s = check_silence("silence_timeout", raw.silence_timeout)?.unwrap_or(0);
        let broker = match raw.broker {
            None => None,
            Some(b) => {
                let b: BrokerSettings =
                    serde_json::from_value(b).map_err(|e| err("broker", e.to_string()))?;
                if let Some(q) = b.qos
                    && q > 1
                {
                    return Err(err("broker.qos", format!("{q}: allowed 0 or 1")));
                }
                Some(b)
            }
        };
        let mut checker = Checker::default();
        let mut mappings = Vec::with_capacity(raw.mappings.len());
        let mut ids: HashMap<String, usize> = HashMap::new();
        for (m, value) in raw.mappings.iter().enumerate() {
            let place = format!("mappings[{m}]");
            let mapping = check_mapping(&place, value, silence_timeout_s, &mut checker)?;
            if let Some(first) = ids.insert(mapping.id.clone(), m) {
                return Err(err(
                    format!("{place}.id"),
                    format!(
                        "`{}` is also the id of mappings[{first}]: each mapping has its own",
                        mapping.id
                    ),
                ));
            }
            mappings.push(mapping);
        }
        Ok(MappingConfig {
            log_level,
            broker,
            silence_timeout_s,
            mappings,
        })
    }
}

fn check_silence(place: &str, v: Option<u64>) -> Result<Option<u64>, ConfigError> {
    match v {
        Some(s) if s > MAX_SILENCE_TIMEOUT_S => Err(err(
            place,
            format!("{s}: allowed 0..{MAX_SILENCE_TIMEOUT_S} seconds (0 = off)"),
        )),
        other => Ok(other),
    }
}

/// A compiled JSONPath, shared by every place that names the same text.
pub type Path = Arc<JsonPath>;

/// What the check of a configuration keeps across its mappings: the owner
/// of each address, and each JSONPath compiled once (a configuration of
/// many sensors names the same few paths again and again).
#[derive(Default)]
struct Checker {
    owners: HashMap<(u16, u32), String>,
    paths: HashMap<String, Path>,
}

impl Checker {
    fn path(&mut self, place: &str, s: &str) -> Result<Path, ConfigError> {
        if let Some(p) = self.paths.get(s) {
            return Ok(Arc::clone(p));
        }
        let p = Arc::new(
            JsonPath::parse(s)
                .map_err(|e| err(place, format!("`{s}` is not a JSONPath (RFC 9535): {e}")))?,
        );
        self.paths.insert(s.to_owned(), Arc::clone(&p));
        Ok(p)
    }
}

/// serde's message without its position (`at line 1 column 42`): the
/// place names where.
fn message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    if e.line() == 0 {
        return text;
    }
    let position = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&position)
        .map(str::to_owned)
        .unwrap_or(text)
}

fn check_mapping(
    place: &str,
    value: &RawValue,
    default_silence: u64,
    checker: &mut Checker,
) -> Result<Mapping, ConfigError> {
    let raw: RawMapping = serde_json::from_str(value.get()).map_err(|e| err(place, message(&e)))?;
    if raw.id.is_empty() {
        return Err(err(format!("{place}.id"), "must not be empty"));
    }
    let topic = TopicFilter::parse(&raw.topic).map_err(|e| err(format!("{place}.topic"), e))?;
    let mut matches = Vec::new();
    for (p, v) in raw.match_.unwrap_or_default() {
        matches.push((checker.path(&format!("{place}.match[{p:?}]"), &p)?, v));
    }
    let mut points = Vec::with_capacity(raw.points.len());
    for (i, value) in raw.points.iter().enumerate() {
        let place = format!("{place}.points[{i}]");
        points.push(check_point(&place, value, default_silence, checker)?);
    }
    Ok(Mapping {
        id: raw.id,
        topic,
        matches,
        points,
    })
}

fn type_names() -> String {
    WRITABLE_TYPES
        .iter()
        .map(|t| format!("{} ({})", t.mnemonic(), t.id()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_type(place: &str, v: &Value) -> Result<TypeId, ConfigError> {
    let found = match v {
        Value::String(s) => TypeId::from_mnemonic(s),
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| u8::try_from(n).ok())
            .and_then(TypeId::from_u8),
        _ => None,
    };
    match found {
        Some(t) if WRITABLE_TYPES.contains(&t) => Ok(t),
        _ => Err(err(
            place,
            format!(
                "{v} is not a monitor type the connector writes; allowed: {}",
                type_names()
            ),
        )),
    }
}

/// Whether a writable type carries a time tag (CP56Time2a).
pub fn is_timed(t: TypeId) -> bool {
    t.id() >= 30
}

fn check_point(
    place: &str,
    value: &RawValue,
    default_silence: u64,
    checker: &mut Checker,
) -> Result<PointMapping, ConfigError> {
    let raw: RawPoint = serde_json::from_str(value.get()).map_err(|e| err(place, message(&e)))?;
    let casdu = u16::try_from(raw.casdu)
        .ok()
        .filter(|c| (1..=65534).contains(c))
        .ok_or_else(|| {
            err(
                format!("{place}.casdu"),
                format!("{}: allowed 1..65534", raw.casdu),
            )
        })?;
    let ioa = u32::try_from(raw.ioa)
        .ok()
        .filter(|i| (1..=16_777_215).contains(i))
        .ok_or_else(|| {
            err(
                format!("{place}.ioa"),
                format!("{}: allowed 1..16777215", raw.ioa),
            )
        })?;
    let type_id = check_type(&format!("{place}.type"), &raw.type_)?;
    let value = checker.path(&format!("{place}.value"), &raw.value)?;
    let time = match (raw.time, raw.time_format) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(err(format!("{place}.time_format"), "given without `time`"));
        }
        (Some(t), format) => {
            if !is_timed(type_id) {
                return Err(err(
                    format!("{place}.time"),
                    format!(
                        "{} has no time tag; a time stamp applies only to the timed types (30..37)",
                        type_id.mnemonic()
                    ),
                ));
            }
            let format = match format.as_deref() {
                None | Some("rfc3339") => TimeFormat::Rfc3339,
                Some("unix_s") => TimeFormat::UnixS,
                Some("unix_ms") => TimeFormat::UnixMs,
                Some(other) => {
                    return Err(err(
                        format!("{place}.time_format"),
                        format!("`{other}`: allowed rfc3339, unix_s, unix_ms"),
                    ));
                }
            };
            Some((checker.path(&format!("{place}.time"), &t)?, format))
        }
    };
    let finite = |field: &str, v: Option<f64>, default: f64| -> Result<f64, ConfigError> {
        match v {
            Some(x) if !x.is_finite() => {
                Err(err(format!("{place}.{field}"), "must be a finite number"))
            }
            Some(x) => Ok(x),
            None => Ok(default),
        }
    };
    let unscaled = matches!(
        type_id,
        TypeId::M_SP_NA_1
            | TypeId::M_SP_TB_1
            | TypeId::M_DP_NA_1
            | TypeId::M_DP_TB_1
            | TypeId::M_BO_NA_1
            | TypeId::M_BO_TB_1
    );
    for (field, given) in [("scale", raw.scale), ("offset", raw.offset)] {
        if unscaled && given.is_some() {
            return Err(err(
                format!("{place}.{field}"),
                format!(
                    "{} is not scaled; scale and offset apply to measured values, step positions and counters",
                    type_id.mnemonic()
                ),
            ));
        }
    }
    let scale = finite("scale", raw.scale, 1.0)?;
    let offset = finite("offset", raw.offset, 0.0)?;
    let deadband = match raw.deadband {
        None => None,
        Some(d) => {
            let dplace = format!("{place}.deadband");
            let d: RawDeadband =
                serde_json::from_value(d).map_err(|e| err(&dplace, e.to_string()))?;
            let ok = |x: f64| x.is_finite() && x >= 0.0;
            match (d.absolute, d.percent) {
                (Some(a), None) if ok(a) => Some(Deadband::Absolute(a)),
                (None, Some(p)) if ok(p) => Some(Deadband::Percent(p)),
                (Some(_), None) | (None, Some(_)) => {
                    return Err(err(dplace, "must be a finite number >= 0"));
                }
                _ => {
                    return Err(err(
                        dplace,
                        "exactly one of {\"absolute\": x} or {\"percent\": p} (x, p >= 0)",
                    ));
                }
            }
        }
    };
    let mut map = HashMap::new();
    for (k, v) in raw.map.unwrap_or_default() {
        if !(v.is_boolean() || v.is_number() || v.is_string()) {
            return Err(err(
                format!("{place}.map[{k:?}]"),
                "a mapped value is a boolean, a number or a numeric string",
            ));
        }
        map.insert(k, v);
    }
    let map = (!map.is_empty()).then(|| Box::new(map));
    let invert = raw.invert.unwrap_or(false);
    let single_or_double = matches!(
        type_id,
        TypeId::M_SP_NA_1 | TypeId::M_SP_TB_1 | TypeId::M_DP_NA_1 | TypeId::M_DP_TB_1
    );
    if invert && !single_or_double {
        return Err(err(
            format!("{place}.invert"),
            format!(
                "{}: allowed only for single and double points",
                type_id.mnemonic()
            ),
        ));
    }
    let quality = match raw.quality {
        None => None,
        Some(q) => {
            let qplace = format!("{place}.quality");
            let q: RawQuality =
                serde_json::from_value(q).map_err(|e| err(&qplace, e.to_string()))?;
            if q.good.is_empty() {
                return Err(err(
                    format!("{qplace}.good"),
                    "must list at least one value",
                ));
            }
            Some(Box::new(QualitySpec {
                path: checker.path(&format!("{qplace}.path"), &q.path)?,
                good: q.good,
            }))
        }
    };
    let silence_timeout_s =
        check_silence(&format!("{place}.silence_timeout"), raw.silence_timeout)?
            .unwrap_or(default_silence);
    if let Some(first) = checker.owners.get(&(casdu, ioa)) {
        return Err(err(
            format!("{place}.ioa"),
            format!("casdu {casdu} ioa {ioa} is already written by {first}; one owner per address"),
        ));
    }
    checker.owners.insert((casdu, ioa), place.to_string());
    Ok(PointMapping {
        casdu,
        ioa,
        type_id,
        value,
        time,
        scale,
        offset,
        deadband,
        map,
        invert,
        quality,
        silence_timeout_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config_with_point(point: Value) -> Value {
        json!({"mappings": [
            {"id": "ok", "topic": "a/b", "points": [
                {"casdu": 1, "ioa": 1, "type": "M_SP_NA_1", "value": "$.x"}]},
            {"id": "m", "topic": "s/+", "points": [
                {"casdu": 1, "ioa": 2, "type": "M_ME_NC_1", "value": "$.y"},
                point]}
        ]})
    }

    #[test]
    fn the_contract_example_is_accepted_with_its_values() {
        let text = r#"{"log_level": "info",
 "broker": {"host": "mosquitto", "port": 1883, "client_id": "alp-mqtt-1",
            "username": "ingest", "tls": false, "keep_alive": 30, "qos": 1},
 "silence_timeout": 300,
 "mappings": [
  {"id": "substation-a-climate",
   "topic": "sensors/+/climate",
   "match": {"$.device": "ts-17"},
   "points": [
    {"casdu": 100, "ioa": 200, "type": "M_ME_TF_1", "value": "$.temperature",
     "time": "$.ts", "time_format": "rfc3339",
     "scale": 1.0, "offset": 0.0, "deadband": {"absolute": 0.1},
     "silence_timeout": 600},
    {"casdu": 100, "ioa": 201, "type": "M_SP_NA_1", "value": "$.door",
     "map": {"open": true, "closed": false},
     "quality": {"path": "$.status", "good": ["ok"]}}
   ]}
 ]}"#;
        let c = MappingConfig::from_json(text).unwrap();
        assert_eq!(c.silence_timeout_s, 300);
        assert_eq!(c.log_level, Some(LogLevel::Info));
        assert_eq!(c.broker.as_ref().and_then(|b| b.qos), Some(1));
        let m = &c.mappings[0];
        assert_eq!(m.id, "substation-a-climate");
        assert_eq!(m.topic.filter, "sensors/+/climate");
        assert_eq!(m.matches.len(), 1);
        let p0 = &m.points[0];
        assert_eq!(
            (p0.casdu, p0.ioa, p0.type_id),
            (100, 200, TypeId::M_ME_TF_1)
        );
        assert_eq!(p0.time.as_ref().map(|t| t.1), Some(TimeFormat::Rfc3339));
        assert_eq!(p0.deadband, Some(Deadband::Absolute(0.1)));
        assert_eq!(p0.silence_timeout_s, 600);
        let p1 = &m.points[1];
        assert_eq!(p1.type_id, TypeId::M_SP_NA_1);
        assert_eq!(p1.map.as_ref().unwrap().get("open"), Some(&json!(true)));
        assert!(p1.quality.is_some());
        assert_eq!(p1.silence_timeout_s, 300, "the top-level default");
    }

    #[test]
    fn a_type_is_accepted_by_mnemonic_or_number() {
        let c = MappingConfig::from_value(config_with_point(
            json!({"casdu": 1, "ioa": 3, "type": 36, "value": "$"}),
        ))
        .unwrap();
        assert_eq!(c.mappings[1].points[1].type_id, TypeId::M_ME_TF_1);
    }

    #[test]
    fn each_invalid_point_is_refused_naming_its_place_and_field() {
        let p = "mappings[1].points[1]";
        let table: Vec<(Value, String, &str)> = vec![
            (
                json!({"casdu": 1, "ioa": 3, "type": "M_SP_NA_1", "value": "$.["}),
                format!("{p}.value"),
                "JSONPath",
            ),
            (
                json!({"casdu": 1, "ioa": 3, "type": "M_XX_NA_1", "value": "$"}),
                format!("{p}.type"),
                "allowed: M_SP_NA_1 (1)",
            ),
            (
                json!({"casdu": 1, "ioa": 3, "type": 45, "value": "$"}),
                format!("{p}.type"),
                "not a monitor type",
            ),
            (
                json!({"casdu": 1, "ioa": 3, "type": "M_PS_NA_1", "value": "$"}),
                format!("{p}.type"),
                "not a monitor type",
            ),
            (
                json!({"casdu": 0, "ioa": 3, "type": 1, "value": "$"}),
                format!("{p}.casdu"),
                "allowed 1..65534",
            ),
            (
                json!({"casdu": 65535, "ioa": 3, "type": 1, "value": "$"}),
                format!("{p}.casdu"),
                "allowed 1..65534",
            ),
            (
                json!({"casdu": 1, "ioa": 16777216, "type": 1, "value": "$"}),
                format!("{p}.ioa"),
                "allowed 1..16777215",
            ),
            (
                json!({"casdu": 1, "ioa": -1, "type": 1, "value": "$"}),
                format!("{p}.ioa"),
                "allowed 1..16777215",
            ),
            (
                json!({"casdu": 1, "ioa": 1, "type": 1, "value": "$"}),
                format!("{p}.ioa"),
                "already written by mappings[0].points[0]",
            ),
            (
                json!({"casdu": 1, "ioa": 3, "type": 13, "value": "$", "deadband": {"absolute": -1}}),
                format!("{p}.deadband"),
                ">= 0",
            ),
            (
                json!({"casdu": 1, "ioa": 3, "type": 13, "value": "$", "deadband": {"absolute": 1, "percent": 2}}),
                format!("{p}.deadband"),
                "exactly one",
            ),
            (
                json!({"casdu": 1, "ioa": 3, "type": 13, "value": "$", "deadband": {"relative": 1}}),
                format!("{p}.deadband"),
                "unknown field",
            ),
            (
                json!({"casdu": 1, "ioa": 3, "type": 36, "value": "$", "time": "$.t", "time_format": "iso"}),
                format!("{p}.time_format"),
                "allowed rfc3339, unix_s, unix_ms",
            ),
            (
                json!({"casdu": 1, "ioa": 3, "type": 36, "value": "$", "time_format": "unix_s"}),
                format!("{p}.time_format"),
                "without `time`",
            ),
            (
                json!({"casdu": 1, "ioa": 3, "type": 13, "value": "$", "time": "$.t"}),
                format!("{p}.time"),
                "timed types",
            ),
            (
                json!({"casdu": 1, "ioa": 3, "type": 36, "value": "$", "time": "$["}),
                format!("{p}.time"),
                "JSONPath",
            ),
            (
                json!({"casdu": 1, "ioa": 3, "type": 1, "value": "$", "quality": {"path": "$.s"}}),
                format!("{p}.quality"),
                "missing field `good`",
            ),
            (
                json!({"casdu": 1, "ioa": 3, "type": 1, "value": "$", "quality": {"path": "$.s", "good": []}}),
                format!("{p}.quality.good"),
                "at least one",
            ),
            (
                json!({"casdu": 1, "ioa": 3, "type": 1, "value": "$", "quality": {"path": "x", "good": ["ok"]}}),
                format!("{p}.quality.path"),
                "JSONPath",
            ),
            (
                json!({"casdu": 1, "ioa": 3, "type": 13, "value": "$", "invert": true}),
                format!("{p}.invert"),
                "single and double",
            ),
            (
                json!({"casdu": 1, "ioa": 3, "type": 1, "value": "$", "scale": 2.0}),
                format!("{p}.scale"),
                "not scaled",
            ),
            (
                json!({"casdu": 1, "ioa": 3, "type": 33, "value": "$", "offset": 1.0}),
                format!("{p}.offset"),
                "not scaled",
            ),
            (
                json!({"casdu": 1, "ioa": 3, "type": 1, "value": "$", "map": {"on": [1]}}),
                format!("{p}.map[\"on\"]"),
                "a mapped value",
            ),
            (
                json!({"casdu": 1, "ioa": 3, "type": 1, "value": "$", "silence_timeout": 31536001}),
                format!("{p}.silence_timeout"),
                "allowed 0..31536000",
            ),
            (
                json!({"casdu": 1, "ioa": 3, "type": 1, "value": "$", "colour": "red"}),
                p.to_string(),
                "unknown field `colour`",
            ),
            (
                json!({"casdu": 1, "ioa": 3, "type": 1}),
                p.to_string(),
                "missing field `value`",
            ),
        ];
        for (point, place, message) in table {
            let e = MappingConfig::from_value(config_with_point(point.clone())).unwrap_err();
            assert_eq!(e.place, place, "{point}: {e}");
            assert!(e.message.contains(message), "{point}: {e}");
            assert!(e.to_string().starts_with(&format!("{place}: ")), "{e}");
        }
    }

    #[test]
    fn each_invalid_mapping_or_top_level_field_is_refused_naming_it() {
        let table: Vec<(Value, &str, &str)> = vec![
            (
                json!({"mappings": [{"id": "a", "topic": "a/#/b", "points": []}]}),
                "mappings[0].topic",
                "`#`",
            ),
            (
                json!({"mappings": [{"id": "", "topic": "a", "points": []}]}),
                "mappings[0].id",
                "empty",
            ),
            (
                json!({"mappings": [{"id": "a", "topic": "a", "points": []},
                    {"id": "b", "topic": "b", "points": []},
                    {"id": "a", "topic": "c", "points": []}]}),
                "mappings[2].id",
                "`a` is also the id of mappings[0]",
            ),
            (
                json!({"mappings": [{"id": "a", "topic": "a", "match": {"$[": 1}, "points": []}]}),
                "mappings[0].match[\"$[\"]",
                "JSONPath",
            ),
            (
                json!({"mappings": [{"id": "a", "topic": "a", "points": [], "qos": 1}]}),
                "mappings[0]",
                "unknown field `qos`",
            ),
            (
                json!({"mappings": [], "log_level": "loud"}),
                "log_level",
                "`loud`: allowed trace, debug, info",
            ),
            (
                json!({"mappings": [], "broker": {"qos": 2}}),
                "broker.qos",
                "allowed 0 or 1",
            ),
            (
                json!({"mappings": [], "broker": {"password": "x"}}),
                "broker",
                "unknown field `password`",
            ),
            (
                json!({"mappings": [], "silence_timeout": -1}),
                "(configuration)",
                "invalid value",
            ),
            (
                json!({"mapping": []}),
                "(configuration)",
                "unknown field `mapping`",
            ),
            (json!({}), "(configuration)", "missing field `mappings`"),
        ];
        for (config, place, message) in table {
            let e = MappingConfig::from_value(config.clone()).unwrap_err();
            assert_eq!(e.place, place, "{config}: {e}");
            assert!(e.message.contains(message), "{config}: {e}");
        }
        let e = MappingConfig::from_json("{").unwrap_err();
        assert!(e.message.starts_with("not JSON"), "{e}");
    }

    #[test]
    fn the_first_error_in_document_order_refuses_the_whole_configuration() {
        let e = MappingConfig::from_value(json!({"mappings": [
            {"id": "a", "topic": "a", "points": [{"casdu": 1, "ioa": 1, "type": 1, "value": "$"}]},
            {"id": "b", "topic": "b", "points": [
                {"casdu": 1, "ioa": 2, "type": 99, "value": "$"},
                {"casdu": 0, "ioa": 3, "type": 1, "value": "$"}]}
        ]}))
        .unwrap_err();
        assert_eq!(e.place, "mappings[1].points[0].type");
    }
}
