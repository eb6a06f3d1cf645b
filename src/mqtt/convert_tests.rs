use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::mqtt::mapping::MappingConfig;

const RECEIVED: i64 = 1_795_000_000_000;

fn ctx() -> Context {
    Context {
        source: Arc::from("mqtt-1"),
        received_ms: RECEIVED,
    }
}

fn point(spec: Value) -> PointMapping {
    let mut spec = spec;
    if let Value::Object(o) = &mut spec {
        o.entry("casdu").or_insert(json!(100));
        o.entry("ioa").or_insert(json!(200));
        o.entry("value").or_insert(json!("$.v"));
    }
    let c = MappingConfig::from_value(json!({"mappings": [
        {"id": "m", "topic": "t", "points": [spec]}]}))
    .unwrap();
    c.mappings[0].points[0].clone()
}

fn write(p: &PointMapping, payload: Value) -> (DataPoint, bool) {
    match convert_point(p, &payload, &ctx()) {
        Outcome::Write { point, clamped } => (point, clamped),
        other => panic!("{payload}: {other:?}"),
    }
}

fn value_of(ty: &str, v: Value) -> Outcome {
    convert_point(&point(json!({"type": ty})), &json!({"v": v}), &ctx())
}

fn written(ty: &str, v: Value) -> (PointValue, bool) {
    match value_of(ty, v.clone()) {
        Outcome::Write { point, clamped } => {
            assert_eq!(point.quality.ov, clamped, "{ty} {v}");
            (point.value, clamped)
        }
        other => panic!("{ty} {v}: {other:?}"),
    }
}

#[test]
fn each_type_converts_in_range_values_without_overflow() {
    let table: Vec<(&str, Value, PointValue)> = vec![
        ("M_SP_NA_1", json!(true), PointValue::Single(true)),
        ("M_SP_NA_1", json!(0), PointValue::Single(false)),
        ("M_SP_TB_1", json!("1"), PointValue::Single(true)),
        ("M_DP_NA_1", json!(2), PointValue::Double(2)),
        ("M_DP_TB_1", json!("3"), PointValue::Double(3)),
        (
            "M_ST_NA_1",
            json!(-64),
            PointValue::Step {
                value: -64,
                transient: false,
            },
        ),
        (
            "M_ST_TB_1",
            json!(62.6),
            PointValue::Step {
                value: 63,
                transient: false,
            },
        ),
        (
            "M_BO_NA_1",
            json!(4294967295u64),
            PointValue::Bitstring(u32::MAX),
        ),
        ("M_BO_TB_1", json!("5"), PointValue::Bitstring(5)),
        ("M_ME_NA_1", json!(-1.0), PointValue::Normalized(-32768)),
        ("M_ME_TD_1", json!(0.5), PointValue::Normalized(16384)),
        ("M_ME_ND_1", json!(0.99999), PointValue::Normalized(32767)),
        ("M_ME_NB_1", json!(-32768), PointValue::Scaled(-32768)),
        ("M_ME_TE_1", json!("32767"), PointValue::Scaled(32767)),
        ("M_ME_NC_1", json!(230.5), PointValue::Float(230.5)),
        ("M_ME_TF_1", json!(" 61.5 "), PointValue::Float(61.5)),
        (
            "M_IT_NA_1",
            json!(2147483647),
            PointValue::Counter {
                value: i32::MAX,
                sequence: 0,
                carry: false,
                adjusted: false,
            },
        ),
        (
            "M_IT_TB_1",
            json!(-2147483648i64),
            PointValue::Counter {
                value: i32::MIN,
                sequence: 0,
                carry: false,
                adjusted: false,
            },
        ),
    ];
    for (ty, v, expected) in table {
        assert_eq!(written(ty, v.clone()), (expected, false), "{ty} {v}");
    }
}

#[test]
fn a_value_beyond_the_range_is_clamped_to_the_limit_with_ov_where_the_type_has_it() {
    let table: Vec<(&str, Value, PointValue)> = vec![
        (
            "M_ST_NA_1",
            json!(64),
            PointValue::Step {
                value: 63,
                transient: false,
            },
        ),
        (
            "M_ST_NA_1",
            json!(-1000),
            PointValue::Step {
                value: -64,
                transient: false,
            },
        ),
        ("M_ME_NA_1", json!(1.0), PointValue::Normalized(32767)),
        ("M_ME_NA_1", json!(-1.5), PointValue::Normalized(-32768)),
        ("M_ME_NB_1", json!(32768), PointValue::Scaled(32767)),
        ("M_ME_NB_1", json!("-40000"), PointValue::Scaled(-32768)),
        ("M_ME_NC_1", json!(1e300), PointValue::Float(f32::MAX)),
        ("M_ME_TF_1", json!(-1e39), PointValue::Float(f32::MIN)),
    ];
    for (ty, v, expected) in table {
        assert_eq!(written(ty, v.clone()), (expected, true), "{ty} {v}");
    }
}

#[test]
fn a_value_that_cannot_be_converted_is_invalid() {
    let table: Vec<(&str, Value)> = vec![
        ("M_SP_NA_1", json!(2)),
        ("M_SP_NA_1", json!("open")),
        ("M_SP_NA_1", json!(null)),
        ("M_DP_NA_1", json!(4)),
        ("M_DP_NA_1", json!(1.5)),
        ("M_DP_NA_1", json!(-1)),
        ("M_BO_NA_1", json!(4294967296u64)),
        ("M_BO_NA_1", json!(-1)),
        ("M_BO_NA_1", json!(1.5)),
        ("M_IT_NA_1", json!(2147483648u64)),
        ("M_IT_NA_1", json!(-2147483649i64)),
        ("M_ME_NC_1", json!("NaN")),
        ("M_ME_NC_1", json!("inf")),
        ("M_ME_NC_1", json!("12 kV")),
        ("M_ME_NC_1", json!(true)),
        ("M_ME_NC_1", json!([1])),
        ("M_ME_NB_1", json!({"v": 1})),
        ("M_ST_NA_1", json!("")),
    ];
    for (ty, v) in table {
        assert!(
            matches!(value_of(ty, v.clone()), Outcome::Invalid { .. }),
            "{ty} {v}"
        );
    }
}

#[test]
fn the_invalid_outcome_keeps_the_last_value_with_iv_and_the_receive_time() {
    let p = point(json!({"type": "M_ME_TF_1"}));
    let (last, _) = write(&p, json!({"v": 20.5}));
    let later = Context {
        source: Arc::from("mqtt-1"),
        received_ms: RECEIVED + 1000,
    };
    let kept = invalidated(&last, &later);
    assert_eq!(kept.value, PointValue::Float(20.5));
    assert!(kept.quality.iv);
    assert_eq!(
        (kept.received, kept.time),
        (RECEIVED + 1000, Some(RECEIVED + 1000))
    );
}

#[test]
fn a_path_selecting_no_value_or_several_writes_nothing() {
    let p = point(json!({"type": "M_ME_NC_1", "value": "$.v[*]"}));
    for payload in [
        json!({"v": []}),
        json!({"v": [1, 2]}),
        json!({"w": 1}),
        json!(3),
    ] {
        assert!(
            matches!(
                convert_point(&p, &payload, &ctx()),
                Outcome::Unselected { .. }
            ),
            "{payload}"
        );
    }
    assert_eq!(write(&p, json!({"v": [7]})).0.value, PointValue::Float(7.0));
}

#[test]
fn a_bare_payload_is_selected_by_the_root_path() {
    let p = point(json!({"type": "M_ME_NC_1", "value": "$"}));
    assert_eq!(write(&p, json!(42.25)).0.value, PointValue::Float(42.25));
    assert_eq!(write(&p, json!("42.25")).0.value, PointValue::Float(42.25));
}

#[test]
fn the_point_carries_address_type_cot_3_and_the_connector_as_source() {
    let p = point(json!({"type": "M_ME_NC_1"}));
    let (dp, _) = write(&p, json!({"v": 1}));
    assert_eq!(
        (dp.casdu, dp.ioa, dp.type_id),
        (100, 200, TypeId::M_ME_NC_1)
    );
    assert_eq!((dp.cot, &*dp.source, dp.received), (3, "mqtt-1", RECEIVED));
    assert_eq!(dp.time, None, "an untimed type has no time");
    assert!(dp.quality.is_good());
}

#[test]
fn scale_and_offset_apply_before_the_conversion() {
    let table: Vec<(&str, f64, f64, Value, PointValue, bool)> = vec![
        (
            "M_ME_NC_1",
            0.1,
            -40.0,
            json!(650),
            PointValue::Float(25.0),
            false,
        ),
        (
            "M_ME_NB_1",
            10.0,
            0.0,
            json!("12.34"),
            PointValue::Scaled(123),
            false,
        ),
        (
            "M_ME_NB_1",
            1000.0,
            0.0,
            json!(40),
            PointValue::Scaled(32767),
            true,
        ),
        (
            "M_ME_NA_1",
            0.01,
            0.0,
            json!(50),
            PointValue::Normalized(16384),
            false,
        ),
        (
            "M_IT_NA_1",
            1000.0,
            0.0,
            json!(1.5),
            PointValue::Counter {
                value: 1500,
                sequence: 0,
                carry: false,
                adjusted: false,
            },
            false,
        ),
        (
            "M_ST_NA_1",
            1.0,
            -10.0,
            json!(5),
            PointValue::Step {
                value: -5,
                transient: false,
            },
            false,
        ),
    ];
    for (ty, scale, offset, v, expected, clamped) in table {
        let p = point(json!({"type": ty, "scale": scale, "offset": offset}));
        let (dp, c) = write(&p, json!({"v": v}));
        assert_eq!((dp.value, c), (expected, clamped), "{ty} {v}");
    }
}

#[test]
fn map_turns_words_and_numbers_into_values() {
    let p = point(json!({"type": "M_SP_NA_1", "map": {"open": true, "closed": false}}));
    assert_eq!(
        write(&p, json!({"v": "open"})).0.value,
        PointValue::Single(true)
    );
    assert_eq!(
        write(&p, json!({"v": "closed"})).0.value,
        PointValue::Single(false)
    );
    assert!(matches!(
        convert_point(&p, &json!({"v": "ajar"}), &ctx()),
        Outcome::Invalid { .. }
    ));
    let p = point(json!({"type": "M_DP_NA_1", "map": {"10": 2, "20": 1, "true": 2, "moving": 0}}));
    assert_eq!(write(&p, json!({"v": 10})).0.value, PointValue::Double(2));
    assert_eq!(
        write(&p, json!({"v": 10.0})).0.value,
        PointValue::Double(2),
        "an integral float"
    );
    assert_eq!(write(&p, json!({"v": "20"})).0.value, PointValue::Double(1));
    assert_eq!(write(&p, json!({"v": true})).0.value, PointValue::Double(2));
    assert_eq!(
        write(&p, json!({"v": "moving"})).0.value,
        PointValue::Double(0)
    );
    assert_eq!(
        write(&p, json!({"v": 3})).0.value,
        PointValue::Double(3),
        "unmapped, converted as is"
    );
}

#[test]
fn invert_swaps_single_points_and_double_point_on_and_off() {
    let sp = point(json!({"type": "M_SP_NA_1", "invert": true}));
    assert_eq!(
        write(&sp, json!({"v": true})).0.value,
        PointValue::Single(false)
    );
    assert_eq!(
        write(&sp, json!({"v": 0})).0.value,
        PointValue::Single(true)
    );
    let dp = point(json!({"type": "M_DP_TB_1", "invert": true}));
    for (raw, inverted) in [(0, 0), (1, 2), (2, 1), (3, 3)] {
        assert_eq!(
            write(&dp, json!({"v": raw})).0.value,
            PointValue::Double(inverted)
        );
    }
}

#[test]
fn quality_from_a_payload_field_sets_iv_unless_the_value_is_good() {
    let p = point(json!({"type": "M_ME_NC_1", "quality": {"path": "$.status", "good": ["ok", 0]}}));
    let table = [
        (json!({"v": 1, "status": "ok"}), false),
        (json!({"v": 1, "status": 0.0}), false),
        (json!({"v": 1, "status": "fault"}), true),
        (json!({"v": 1, "status": 1}), true),
        (json!({"v": 1}), true),
    ];
    for (payload, iv) in table {
        let (dp, _) = write(&p, payload.clone());
        assert_eq!(dp.quality.iv, iv, "{payload}");
    }
}

#[test]
fn timed_types_take_the_source_time_in_each_format_or_the_receive_time() {
    let t = 1_795_000_123_456i64;
    let table: Vec<(Option<&str>, Value, Option<i64>, bool)> = vec![
        (
            Some("rfc3339"),
            json!("2026-11-18T11:08:43.456Z"),
            Some(t),
            false,
        ),
        (
            Some("rfc3339"),
            json!("2026-11-18T12:08:43.456+01:00"),
            Some(t),
            false,
        ),
        (None, json!("2026-11-18T11:08:43.456Z"), Some(t), false),
        (Some("unix_ms"), json!(t), Some(t), false),
        (Some("unix_ms"), json!("1795000123456"), Some(t), false),
        (Some("unix_s"), json!(1_795_000_123.456), Some(t), false),
        (Some("unix_s"), json!(1_795_000_123), Some(t - 456), false),
        (Some("rfc3339"), json!("yesterday"), Some(RECEIVED), true),
        (Some("unix_s"), json!(-5), Some(RECEIVED), true),
        (Some("unix_ms"), json!(1e20), Some(RECEIVED), true),
        (Some("unix_ms"), json!(null), Some(RECEIVED), true),
    ];
    for (format, ts, time, time_invalid) in table {
        let mut spec = json!({"type": "M_ME_TF_1", "time": "$.ts"});
        if let Some(f) = format {
            spec["time_format"] = json!(f);
        }
        let (dp, _) = write(&point(spec), json!({"v": 1, "ts": ts}));
        assert_eq!(
            (dp.time, dp.time_invalid),
            (time, time_invalid),
            "{format:?} {ts}"
        );
    }
    let (dp, _) = write(&point(json!({"type": "M_SP_TB_1"})), json!({"v": true}));
    assert_eq!(
        (dp.time, dp.time_invalid),
        (Some(RECEIVED), false),
        "no time path: the receive time"
    );
}

#[test]
fn match_conditions_must_all_select_exactly_their_value() {
    let c = MappingConfig::from_value(json!({"mappings": [
        {"id": "m", "topic": "t", "match": {"$.device": "ts-17", "$.kind": 1},
         "points": [{"casdu": 1, "ioa": 1, "type": 13, "value": "$.v"}]}]}))
    .unwrap();
    let m = &c.mappings[0];
    let table = [
        (json!({"device": "ts-17", "kind": 1}), true),
        (json!({"device": "ts-17", "kind": 1.0}), true),
        (json!({"device": "ts-18", "kind": 1}), false),
        (json!({"device": "ts-17"}), false),
        (json!("ts-17"), false),
    ];
    for (payload, expected) in table {
        assert_eq!(mapping_matches(m, &payload), expected, "{payload}");
    }
}

#[test]
fn one_message_feeds_every_point_of_its_mapping() {
    let c = MappingConfig::from_value(json!({"mappings": [
        {"id": "m", "topic": "t", "points": [
            {"casdu": 1, "ioa": 1, "type": "M_ME_NC_1", "value": "$.temperature"},
            {"casdu": 1, "ioa": 2, "type": "M_ME_NC_1", "value": "$.humidity"},
            {"casdu": 1, "ioa": 3, "type": "M_SP_NA_1", "value": "$.door"}]}]}))
    .unwrap();
    let payload = json!({"temperature": 21.5, "humidity": "48", "door": false});
    let values: Vec<PointValue> = c.mappings[0]
        .points
        .iter()
        .map(|p| match convert_point(p, &payload, &ctx()) {
            Outcome::Write { point, .. } => point.value,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        values,
        vec![
            PointValue::Float(21.5),
            PointValue::Float(48.0),
            PointValue::Single(false)
        ]
    );
}

#[test]
fn the_deadband_holds_back_small_changes_but_never_a_quality_change() {
    let p = point(json!({"type": "M_ME_NC_1", "quality": {"path": "$.s", "good": ["ok"]}}));
    let dp = |v: f64, s: &str| write(&p, json!({"v": v, "s": s})).0;
    let mut abs = DeadbandFilter::default();
    let a = Some(Deadband::Absolute(0.5));
    let table = [
        (10.0, "ok", true, "the first value"),
        (10.4, "ok", false, "below the deadband"),
        (
            10.5,
            "ok",
            true,
            "at the deadband, against the last written",
        ),
        (10.6, "bad", true, "a quality change"),
        (10.6, "ok", true, "a quality change back"),
        (10.2, "ok", false, "below, against 10.6"),
    ];
    for (v, s, pass, why) in table {
        assert_eq!(abs.admit(a, &dp(v, s)), pass, "{why}");
    }
    let mut pct = DeadbandFilter::default();
    let pc = Some(Deadband::Percent(10.0));
    for (v, pass) in [
        (100.0, true),
        (109.0, false),
        (90.5, false),
        (111.0, true),
        (100.0, false),
        (99.0, true),
    ] {
        assert_eq!(pct.admit(pc, &dp(v, "ok")), pass, "{v}");
    }
    let mut none = DeadbandFilter::default();
    assert!(none.admit(None, &dp(1.0, "ok")) && none.admit(None, &dp(1.0, "ok")));
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        any::<u64>().prop_map(|i| json!(i)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[ -~]{0,12}".prop_map(Value::String),
        (-1e12f64..1e12).prop_map(|f| Value::String(f.to_string())),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,3}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn in_range(v: &PointValue) -> bool {
    match *v {
        PointValue::Double(d) => d <= 3,
        PointValue::Step { value, .. } => (-64..=63).contains(&value),
        PointValue::Float(f) => f.is_finite(),
        PointValue::Normalized(_)
        | PointValue::Scaled(_)
        | PointValue::Single(_)
        | PointValue::Bitstring(_)
        | PointValue::Counter { .. } => true,
        _ => false,
    }
}

proptest! {
    #[test]
    fn any_json_through_any_simple_mapping_never_panics_and_stays_in_range(
        payload in any_json(),
        ty in prop::sample::select(crate::mqtt::mapping::WRITABLE_TYPES.to_vec()),
        path in prop::sample::select(vec!["$", "$.a", "$..a", "$.a[0]", "$[*]", "$.b.c"]),
        scale in prop::sample::select(vec![1.0, -1.0, 0.001, 1e6]),
        offset in prop::sample::select(vec![0.0, 0.5, -1e9]),
        time_format in prop::sample::select(vec!["rfc3339", "unix_s", "unix_ms"]),
    ) {
        let timed = crate::mqtt::mapping::is_timed(ty);
        let mut spec = json!({"type": ty.id(), "value": path,
                              "quality": {"path": "$.q", "good": ["ok"]}});
        if !matches!(ty.id(), 1 | 3 | 7 | 30 | 31 | 33) {
            spec["scale"] = json!(scale);
            spec["offset"] = json!(offset);
        }
        if timed {
            spec["time"] = json!("$.a");
            spec["time_format"] = json!(time_format);
        }
        let p = point(spec);
        let mut db = DeadbandFilter::default();
        match convert_point(&p, &payload, &ctx()) {
            Outcome::Write { point, clamped } => {
                prop_assert!(in_range(&point.value), "{:?}", point.value);
                prop_assert_eq!(point.quality.ov, clamped);
                prop_assert_eq!(point.time.is_some(), timed);
                if let Some(t) = point.time {
                    prop_assert!((0..=253_402_300_799_999).contains(&t));
                }
                prop_assert!(db.admit(Some(Deadband::Percent(1.0)), &point));
                let _ = invalidated(&point, &ctx());
            }
            Outcome::Invalid { .. } | Outcome::Unselected { .. } => {}
        }
    }
}
