//! Invariants of the text parsers of untrusted input (the data point JSON
//! read from Valkey, stream IDs, image keys, settings, the MQTT mapping
//! engine's configuration and messages), shared by the `fuzz/` targets
//! `datapoint`, `text` and `mqtt` and the test that replays their
//! corpus in the normal suite. Each function panics when an invariant
//! breaks, which is what a fuzzer looks for. The binary parsers have theirs
//! in [`crate::iec104::fuzzing`].

#![allow(
    clippy::panic,
    clippy::expect_used,
    reason = "the fuzz targets' assertions: a panic is what a fuzzer reports"
)]

use std::str::FromStr;

use crate::contract::{DataPoint, PointValue, image_key};
use crate::iec104::asdu::Asdu;
use crate::iec104::types::{Cause, Cot, TypeId};
use crate::mqtt::convert::{Context, DeadbandFilter, Outcome, invalidated};
use crate::mqtt::engine::{DEFAULT_MAX_PAYLOAD, Engine, parse_payload};
use crate::mqtt::mapping::{MappingConfig, is_timed};
use crate::server::config::IpNetwork;
use crate::station::{GROUPS, GroupRange, Update};
use crate::store::keys::parse_image_key;
use crate::store::stream::StreamId;

/// A data point JSON from Valkey, as the `iec104-server` handles a stream
/// entry: [`DataPoint::from_json`] never panics; a point it accepts
/// - becomes the element it is served in ([`DataPoint::to_served_element`]),
///   of its own type or, for a flagged M_ME_ND_1, M_ME_NA_1, that encodes as a
///   spontaneous single-object ASDU ([`Update::new`]), and those octets
///   decode and re-encode unchanged;
/// - keeps its address through its image key;
/// - survives [`DataPoint::to_json`]: the JSON reads back to an equal point
///   (a float NaN equal to NaN), and writing that gives the same JSON.
pub fn datapoint_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(point) = DataPoint::from_json(text) else {
        return;
    };
    let element = point.to_served_element();
    let asdu = Asdu::single(
        Cot::new(Cause::SPONTANEOUS),
        point.casdu,
        point.ioa,
        element,
    );
    let update = Update::new(&asdu)
        .unwrap_or_else(|e| panic!("accepted point does not encode: {e}: {point:?}"));
    assert_eq!(update.objects(), 1);
    crate::iec104::fuzzing::asdu_roundtrip(update.bytes());
    let decoded = Asdu::decode(update.bytes()).expect("an encoded update decodes");
    let served = if point.type_id == TypeId::M_ME_ND_1 && !point.quality.is_good() {
        TypeId::M_ME_NA_1
    } else {
        point.type_id
    };
    assert_eq!(decoded.type_id, served, "the update changed the type");

    assert_eq!(
        parse_image_key(&point.image_key()),
        Some((point.casdu, point.ioa))
    );

    let json = point.to_json();
    let again = DataPoint::from_json(&json)
        .unwrap_or_else(|e| panic!("to_json of an accepted point does not read back: {e}: {json}"));
    assert!(
        same(&point, &again),
        "the JSON round trip changed the point:\n{point:?}\n{again:?}\n{json}"
    );
    assert_eq!(again.to_json(), json, "the second round changed the JSON");
}

/// Equal, with a float NaN equal to NaN.
fn same(a: &DataPoint, b: &DataPoint) -> bool {
    match (a.value, b.value) {
        (PointValue::Float(x), PointValue::Float(y)) if x.is_nan() && y.is_nan() => {
            let zero = |p: &DataPoint| DataPoint {
                value: PointValue::Float(0.0),
                ..p.clone()
            };
            zero(a) == zero(b)
        }
        _ => a == b,
    }
}

/// The text parsers of keys, stream IDs and settings on arbitrary text:
/// never panic, and what each accepts it writes back in a form it reads
/// back to the same value:
/// - [`parse_image_key`]: only the canonical key (what [`image_key`]
///   writes) with an IOA of three octets;
/// - [`StreamId::parse`]: Display reads back to the same ID;
/// - [`GroupRange`]: group 1..=16, CA not 65535, first ≤ last ≤ 16777215,
///   and Display reads back to the same range;
/// - [`IpNetwork`]: prefix within the address length, the network
///   contains its own address (also a network written IPv4-mapped, /96
///   or longer), and Display
///   reads back to the same network.
pub fn text_parsers(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some((ca, ioa)) = parse_image_key(text) {
        assert!(ioa <= 0xFF_FFFF, "IOA {ioa} of {text:?}");
        assert_eq!(image_key(ca, ioa), text, "a key not in canonical form");
    }
    if let Some(id) = StreamId::parse(text) {
        assert_eq!(StreamId::parse(&id.to_string()), Some(id), "of {text:?}");
    }
    if let Ok(range) = GroupRange::from_str(text) {
        assert!(GROUPS.contains(&range.group), "{range:?} of {text:?}");
        assert_ne!(range.ca, Some(u16::MAX), "of {text:?}");
        assert!(range.first <= range.last && range.last <= 0xFF_FFFF);
        assert_eq!(range.to_string().parse(), Ok(range), "of {text:?}");
    }
    if let Ok(net) = IpNetwork::from_str(text) {
        let max = if net.addr().is_ipv4() { 32 } else { 128 };
        assert!(net.prefix() <= max, "{net} of {text:?}");
        // A mapped address in a network shorter than /96 is an IPv4 peer
        // and an IPv6 network admits none.
        let mapped_v6_net = net.prefix() < 96 && net.addr().to_canonical() != net.addr();
        if !mapped_v6_net {
            assert!(net.contains(net.addr()), "{net} of {text:?}");
        }
        assert_eq!(net.to_string().parse(), Ok(net), "of {text:?}");
    }
}

/// The mappings of the `mqtt` target when its input brings none: a
/// substation sensor box over every feature (wildcards, `match`, `map`,
/// `invert`, `scale`/`offset`, deadbands, `quality`, each time format) and
/// every writable type.
pub const MQTT_FIXED_CONFIG: &str = r##"{"silence_timeout": 60, "mappings": [
 {"id": "bay", "topic": "substations/+/t1/sensors", "match": {"$.device": "ss-nord-t1"},
  "points": [
   {"casdu": 1, "ioa": 1, "type": "M_ME_TF_1", "value": "$.oil_temperature", "time": "$.ts",
    "deadband": {"absolute": 0.5}, "quality": {"path": "$.status", "good": ["ok", 0]}},
   {"casdu": 1, "ioa": 2, "type": "M_ME_NC_1", "value": "$.ambient.temperature", "scale": 1e30,
    "deadband": {"percent": 5}},
   {"casdu": 1, "ioa": 3, "type": "M_ME_NB_1", "value": "$.ambient.humidity", "offset": -3.5},
   {"casdu": 1, "ioa": 4, "type": "M_ME_NA_1", "value": "$.load", "scale": 0.01},
   {"casdu": 1, "ioa": 5, "type": "M_ME_TD_1", "value": "$.load", "time": "$.t_s", "time_format": "unix_s"},
   {"casdu": 1, "ioa": 6, "type": "M_ME_TE_1", "value": "$.sf6_density", "scale": 100,
    "time": "$.t_ms", "time_format": "unix_ms"},
   {"casdu": 1, "ioa": 7, "type": "M_ME_ND_1", "value": "$.load"},
   {"casdu": 1, "ioa": 8, "type": "M_SP_TB_1", "value": "$.door", "time": "$.ts",
    "map": {"closed": false, "open": true}},
   {"casdu": 1, "ioa": 9, "type": "M_SP_NA_1", "value": "$.door", "invert": true,
    "map": {"closed": 0, "open": 1, "2": true}},
   {"casdu": 1, "ioa": 10, "type": "M_DP_NA_1", "value": "$.breaker", "invert": true,
    "map": {"off": 1, "on": 2, "moving": 0, "fault": 3}},
   {"casdu": 1, "ioa": 11, "type": "M_DP_TB_1", "value": "$.fan", "time": "$.ts"},
   {"casdu": 1, "ioa": 12, "type": "M_ST_NA_1", "value": "$.tap"},
   {"casdu": 1, "ioa": 13, "type": "M_ST_TB_1", "value": "$.tap", "scale": 10, "offset": -10, "time": "$.ts"},
   {"casdu": 1, "ioa": 14, "type": "M_BO_NA_1", "value": "$.alarms"},
   {"casdu": 1, "ioa": 15, "type": "M_BO_TB_1", "value": "$.alarms", "time": "$.ts"},
   {"casdu": 1, "ioa": 16, "type": "M_IT_NA_1", "value": "$.energy_kwh"},
   {"casdu": 1, "ioa": 17, "type": "M_IT_TB_1", "value": "$.energy_kwh", "scale": 1000, "time": "$.ts"}
  ]},
 {"id": "any", "topic": "$share/g/substations/#",
  "points": [{"casdu": 2, "ioa": 1, "type": "M_ME_NC_1", "value": "$.values[0]"},
             {"casdu": 2, "ioa": 2, "type": "M_SP_NA_1", "value": "$..open"}]},
 {"id": "root", "topic": "#",
  "points": [{"casdu": 3, "ioa": 1, "type": "M_ME_TF_1", "value": "$.v", "time": "$.ts"}]}
]}"##;

/// The MQTT mapping engine on arbitrary input. The input is split at NUL
/// octets: `CONFIG \0 TOPIC \0 PAYLOAD` checks a configuration of its own,
/// `TOPIC \0 PAYLOAD` and a bare `PAYLOAD` (topic
/// `substations/nord/t1/sensors`) run through [`MQTT_FIXED_CONFIG`].
/// - a refused configuration's error names its place (`mappings[2]…`, a
///   top-level field, or `(configuration)`);
/// - no panic reading the payload, finding the mappings or converting;
/// - the topic index finds exactly the mappings whose filter matches;
/// - every written point has its mapping's address and type, a value of
///   that type within its range, `ov` exactly when clamped and clamping
///   only on step, normalized, scaled and short float, a time tag exactly
///   on timed types (within 1970..9999), and is served and round-trips as
///   the data point JSON does ([`datapoint_json`]);
/// - the deadband filter and [`invalidated`] never panic, and an
///   invalidated point keeps its value with `iv` set.
pub fn mqtt_message(data: &[u8]) {
    let parts: Vec<&[u8]> = data.splitn(3, |&b| b == 0).collect();
    let (config, topic, payload) = match parts.as_slice() {
        [config, topic, payload] => {
            let Ok(text) = std::str::from_utf8(config) else {
                return;
            };
            match MappingConfig::from_json(text) {
                Ok(c) => (c, *topic, *payload),
                Err(e) => {
                    let place = e.place.as_str();
                    assert!(
                        place == "(configuration)"
                            || place.starts_with("mappings")
                            || ["log_level", "broker", "silence_timeout"]
                                .iter()
                                .any(|f| place.starts_with(f)),
                        "an error without its place: {e}"
                    );
                    assert!(!e.message.is_empty(), "an empty message at {place}");
                    return;
                }
            }
        }
        [topic, payload] => (fixed_config(), *topic, *payload),
        _ => (fixed_config(), &b"substations/nord/t1/sensors"[..], data),
    };
    let Ok(topic) = std::str::from_utf8(topic) else {
        return;
    };
    let engine = Engine::new(config);
    let found = engine.mappings_for(topic);
    let expected: Vec<usize> = engine
        .config()
        .mappings
        .iter()
        .enumerate()
        .filter(|(_, m)| m.topic.matches(topic))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        found, expected,
        "the index and the filters differ on {topic:?}"
    );
    let Ok(payload) = parse_payload(payload, DEFAULT_MAX_PAYLOAD) else {
        return;
    };
    let ctx = Context {
        source: std::sync::Arc::from("mqtt-fuzz"),
        received_ms: 1_795_252_530_200,
    };
    for result in engine.handle(topic, &payload, &ctx) {
        let mapping = engine
            .config()
            .mappings
            .get(result.mapping)
            .expect("a found mapping exists");
        assert!(result.matched || result.points.is_empty());
        for (p, outcome) in &result.points {
            let spec = mapping.points.get(*p).expect("an outcome's point exists");
            let Outcome::Write { point, clamped } = outcome else {
                continue;
            };
            assert_eq!(
                (point.casdu, point.ioa, point.type_id),
                (spec.casdu, spec.ioa, spec.type_id)
            );
            assert_eq!(point.quality.ov, *clamped, "ov without clamping: {point:?}");
            let clampable = matches!(
                spec.type_id,
                TypeId::M_ST_NA_1
                    | TypeId::M_ST_TB_1
                    | TypeId::M_ME_NA_1
                    | TypeId::M_ME_TD_1
                    | TypeId::M_ME_ND_1
                    | TypeId::M_ME_NB_1
                    | TypeId::M_ME_TE_1
                    | TypeId::M_ME_NC_1
                    | TypeId::M_ME_TF_1
            );
            assert!(!clamped || clampable, "{:?} clamped", spec.type_id);
            assert!(
                in_range(spec.type_id, &point.value),
                "{:?} out of range for {:?}",
                point.value,
                spec.type_id
            );
            assert_eq!(point.time.is_some(), is_timed(spec.type_id), "{point:?}");
            if let Some(t) = point.time {
                assert!((0..=253_402_300_799_999).contains(&t), "time {t}");
            }
            datapoint_json(point.to_json().as_bytes());
            let mut filter = DeadbandFilter::default();
            assert!(filter.admit(spec.deadband, point), "the first value passes");
            let kept = invalidated(point, &ctx);
            assert!(kept.quality.iv && kept.value == point.value);
        }
    }
}

fn fixed_config() -> MappingConfig {
    MappingConfig::from_json(MQTT_FIXED_CONFIG)
        .unwrap_or_else(|e| panic!("the fixed configuration is refused: {e}"))
}

/// Whether a value is of the point type's kind and within its range.
fn in_range(t: TypeId, v: &PointValue) -> bool {
    use TypeId as T;
    match (t, *v) {
        (T::M_SP_NA_1 | T::M_SP_TB_1, PointValue::Single(_)) => true,
        (T::M_DP_NA_1 | T::M_DP_TB_1, PointValue::Double(d)) => d <= 3,
        (T::M_ST_NA_1 | T::M_ST_TB_1, PointValue::Step { value, .. }) => {
            (-64..=63).contains(&value)
        }
        (T::M_BO_NA_1 | T::M_BO_TB_1, PointValue::Bitstring(_)) => true,
        (T::M_ME_NA_1 | T::M_ME_TD_1 | T::M_ME_ND_1, PointValue::Normalized(_)) => true,
        (T::M_ME_NB_1 | T::M_ME_TE_1, PointValue::Scaled(_)) => true,
        (T::M_ME_NC_1 | T::M_ME_TF_1, PointValue::Float(f)) => f.is_finite(),
        (T::M_IT_NA_1 | T::M_IT_TB_1, PointValue::Counter { .. }) => true,
        _ => false,
    }
}
