//! The data point's JSON against CONTRACT.md: byte-exact JSON for the
//! contract's example, optional fields, reading back with every field
//! checked, and the RFC 3339 form of its times.

use super::*;
use crate::contract::iec104::{Reception, points_from_asdu};
use crate::contract::test_points::{T, json, one, rx, spont, t56};
use crate::iec104::asdu::Asdu;
use crate::iec104::cursor::ReadCursor;
use crate::iec104::elements::*;
use crate::iec104::types::{Cause, Cot, Element, TypeId};
use proptest::prelude::*;

#[test]
fn the_contract_example_is_rendered_byte_for_byte() {
    let p = one(
        100,
        200,
        Cot::new(Cause::SPONTANEOUS),
        Element::M_ME_TF_1 {
            value: 230.5,
            quality: Quality::GOOD,
            time: t56(),
        },
        rx(),
    );
    assert_eq!(
        p.to_json(),
        r#"{"casdu":100,"ioa":200,"type_id":36,"type":"M_ME_TF_1","value":230.5,"quality":{"iv":false,"nt":false,"sb":false,"bl":false,"ov":false},"time":"2026-11-21T09:15:30.123Z","cot":3,"source":"inbound-1","received":"2026-11-21T09:15:30.125Z"}"#
    );
    assert_eq!(p.image_key(), "process:image:casdu:100:ioa:200");
}

#[test]
fn short_floats_print_as_the_shortest_decimal_of_the_f32() {
    let v = json(Element::M_ME_NC_1 {
        value: 0.1,
        quality: Quality::GOOD,
    });
    assert_eq!(v["value"].to_string(), "0.1");
    let v = json(Element::M_ME_NC_1 {
        value: f32::NAN,
        quality: Quality::GOOD,
    });
    assert!(v["value"].is_null());
}

#[test]
fn optional_fields_appear_only_when_set() {
    let mut cot = Cot::new(Cause::INTERROGATED);
    cot.test = true;
    cot.negative = true;
    let a = Asdu {
        originator: 9,
        ..Asdu::single(
            cot,
            1,
            1,
            Element::M_SP_NA_1 {
                value: SinglePoint::default(),
            },
        )
    };
    let p = points_from_asdu(&a, rx()).remove(0);
    let v: serde_json::Value = serde_json::from_str(&p.to_json()).expect("json");
    assert_eq!(v["cot"], serde_json::json!(20));
    assert_eq!(v["test"], serde_json::json!(true));
    assert_eq!(v["negative"], serde_json::json!(true));
    assert_eq!(v["originator"], serde_json::json!(9));
    let plain = json(Element::M_SP_NA_1 {
        value: SinglePoint::default(),
    });
    for k in [
        "test",
        "negative",
        "originator",
        "time_invalid",
        "summer_time",
        "time_error",
        "elapsed_invalid",
    ] {
        assert!(plain.get(k).is_none(), "{k} present in {plain}");
    }
}

#[test]
fn from_json_refuses_bad_fields_naming_them() {
    let good = spont(Element::M_DP_NA_1 {
        value: DoublePoint::default(),
    })
    .to_json();
    let with = |k: &str, v: serde_json::Value| {
        let mut j: serde_json::Value = serde_json::from_str(&good).expect("json");
        j[k] = v;
        DataPoint::from_json(&j.to_string())
    };
    let field = |r: Result<DataPoint, ContractError>| match r {
        Err(ContractError::Field { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(field(with("value", serde_json::json!(4))), "value");
    assert_eq!(field(with("casdu", serde_json::json!(70000))), "casdu");
    assert_eq!(field(with("ioa", serde_json::json!(16_777_216))), "ioa");
    assert_eq!(field(with("type_id", serde_json::json!(45))), "type_id");
    assert_eq!(field(with("type", serde_json::json!("M_SP_NA_1"))), "type");
    assert_eq!(
        field(with("received", serde_json::json!("yesterday"))),
        "received"
    );
    assert!(matches!(
        DataPoint::from_json("{"),
        Err(ContractError::Json(_))
    ));
    assert!(matches!(
        DataPoint::from_json("[]"),
        Err(ContractError::Json(_))
    ));
}

#[test]
fn rfc3339_parser_accepts_what_we_write_and_refuses_the_rest() {
    assert_eq!(parse_rfc3339_ms("2026-11-21T09:15:30.123Z"), Some(T));
    assert_eq!(parse_rfc3339_ms("2026-11-21T09:15:30Z"), Some(T - 123));
    for bad in [
        "2026-02-30T00:00:00.000Z",
        "2026-11-21T24:00:00.000Z",
        "2026-11-21 09:15:30Z",
        "2026-11-21T09:15:30.123+01:00",
        "",
        "2026-11-21T09:15:30.Z",
    ] {
        assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
    }
}

/// Any monitor element, from arbitrary octets of the right length.
fn monitor_element() -> impl Strategy<Value = Element> {
    let monitor: Vec<TypeId> = TypeId::ALL
        .iter()
        .copied()
        .filter(|t| t.is_monitor())
        .collect();
    (
        proptest::sample::select(monitor),
        proptest::collection::vec(any::<u8>(), 16),
    )
        .prop_filter_map("decodes", |(t, bytes)| {
            Element::read(t, &mut ReadCursor::new(&bytes)).ok()
        })
}

proptest! {
    #[test]
    fn json_reads_back_to_the_same_point(e in monitor_element(), casdu in any::<u16>(), ioa in 0u32..=0xFF_FFFF, received in 946_684_800_000i64..4_102_444_800_000) {
        let p = one(casdu, ioa, Cot::new(Cause::SPONTANEOUS), e, Reception { received, ..rx() });
        let json = p.to_json();
        let back = DataPoint::from_json(&json);
        match (&p.value, &back) {
            (PointValue::Float(f), Ok(b)) if !f.is_finite() => prop_assert!(matches!(b.value, PointValue::Float(g) if g.is_nan())),
            (_, Ok(b)) => prop_assert_eq!(b, &p, "{}", json),
            (_, Err(e)) => prop_assert!(false, "{e}: {json}"),
        }
    }

    #[test]
    fn from_json_never_panics(s in ".{0,300}") {
        let _ = DataPoint::from_json(&s);
    }
}

#[test]
fn a_short_float_beyond_the_f32_range_is_refused() {
    // 1e39 is a finite JSON number but no f32: read as infinity it came
    // back from to_json as null, i.e. NaN.
    let good = spont(Element::M_ME_NC_1 {
        value: 1.5,
        quality: Quality::GOOD,
    })
    .to_json();
    for v in ["1e39", "-3.5e38"] {
        let json = good.replace("1.5", v);
        assert!(
            matches!(
                DataPoint::from_json(&json),
                Err(ContractError::Field { field: "value", .. })
            ),
            "{json}"
        );
    }
    for v in ["3.4028235e38", "-3.4028235e38", "1e-50"] {
        let p = DataPoint::from_json(&good.replace("1.5", v)).expect(v);
        assert_eq!(DataPoint::from_json(&p.to_json()), Ok(p), "{v}");
    }
}

#[test]
fn a_leap_second_cannot_carry_a_time_past_the_year_9999() {
    // Read as 10000-01-01T00:00:00.999Z, which to_json wrote and nothing
    // read back.
    assert_eq!(parse_rfc3339_ms("9999-12-31T23:59:60.999Z"), None);
    let last = parse_rfc3339_ms("9999-12-31T23:59:59.999Z").expect("last ms");
    assert_eq!(
        parse_rfc3339_ms(&crate::iec104::time::rfc3339_ms(last)),
        Some(last)
    );
    assert!(parse_rfc3339_ms("2016-12-31T23:59:60.500Z").is_some());
}
