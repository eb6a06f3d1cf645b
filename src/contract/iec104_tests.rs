//! The IEC 104 mapping against CONTRACT.md: the value mapping of every
//! monitor type, quality flags, time tags, one point per information
//! object, and the elements a point gives back and is served in.

use super::*;
use crate::contract::test_points::{T, json, one, rx, spont, t56};
use crate::iec104::asdu::{Asdu, InformationObject};
use crate::iec104::elements::*;
use crate::iec104::time::{Cp16Time2a, Cp24Time2a, Cp56Time2a, rfc3339_ms};
use crate::iec104::types::{Cause, Cot, Element, TypeId};

#[test]
fn every_monitor_type_maps_its_value_as_the_contract_says() {
    use Element::*;
    let q = Quality;
    let cases: Vec<(Element, serde_json::Value)> = vec![
        (
            M_SP_NA_1 {
                value: SinglePoint {
                    value: true,
                    quality: q(0),
                },
            },
            serde_json::json!({"value": true}),
        ),
        (
            M_DP_TB_1 {
                value: DoublePoint {
                    value: DoubleState::On,
                    quality: q(0),
                },
                time: t56(),
            },
            serde_json::json!({"value": 2}),
        ),
        (
            M_ST_NA_1 {
                value: StepPosition {
                    value: -5,
                    transient: true,
                },
                quality: q(0),
            },
            serde_json::json!({"value": -5, "transient": true}),
        ),
        (
            M_BO_NA_1 {
                value: 0xDEAD_BEEF,
                quality: q(0),
            },
            serde_json::json!({"value": 3_735_928_559u32}),
        ),
        (
            M_ME_NA_1 {
                value: Normalized(-16384),
                quality: q(0),
            },
            serde_json::json!({"value": -0.5}),
        ),
        (
            M_ME_ND_1 {
                value: Normalized(16384),
            },
            serde_json::json!({"value": 0.5}),
        ),
        (
            M_ME_NB_1 {
                value: -1234,
                quality: q(0),
            },
            serde_json::json!({"value": -1234}),
        ),
        (
            M_IT_TB_1 {
                value: BinaryCounter {
                    value: -7,
                    sequence: 31,
                    carry: true,
                    adjusted: false,
                    invalid: true,
                },
                time: t56(),
            },
            serde_json::json!({"value": -7, "sequence": 31, "carry": true, "adjusted": false,
                "quality": {"iv": true, "nt": false, "sb": false, "bl": false, "ov": false}}),
        ),
        (
            M_PS_NA_1 {
                value: StatusChanges {
                    status: 0x8001,
                    changes: 0x0100,
                },
                quality: q(0),
            },
            serde_json::json!({"value": 0x8001, "changes": 0x0100}),
        ),
        (
            M_EP_TD_1 {
                event: DoublePoint {
                    value: DoubleState::Off,
                    quality: q(0x08),
                },
                elapsed: Cp16Time2a(500),
                time: t56(),
            },
            serde_json::json!({"value": 1, "elapsed_ms": 500, "elapsed_invalid": true}),
        ),
        (
            M_EP_TE_1 {
                start: StartEvents(0x03),
                quality: q(0x80),
                duration: Cp16Time2a(250),
                time: t56(),
            },
            serde_json::json!({"value": 3, "duration_ms": 250,
                "quality": {"iv": true, "nt": false, "sb": false, "bl": false, "ov": false}}),
        ),
        (
            M_EP_TF_1 {
                circuits: OutputCircuits(0x09),
                quality: q(0),
                operating: Cp16Time2a(1234),
                time: t56(),
            },
            serde_json::json!({"value": 9, "operating_ms": 1234}),
        ),
    ];
    for (e, want) in cases {
        let t = e.type_id();
        let got = json(e);
        assert_eq!(got["type_id"], serde_json::json!(t.id()));
        assert_eq!(got["type"], serde_json::json!(t.mnemonic()));
        for (k, w) in want.as_object().expect("object") {
            assert_eq!(&got[k.as_str()], w, "{t} field {k}: {got}");
        }
    }
}

#[test]
fn quality_flags_are_all_five_and_ov_only_where_the_type_has_it() {
    let v = json(Element::M_ME_NC_1 {
        value: 1.0,
        quality: Quality(0x80 | 0x40 | 0x20 | 0x10 | 0x01),
    });
    assert_eq!(
        v["quality"],
        serde_json::json!({"iv": true, "nt": true, "sb": true, "bl": true, "ov": true})
    );
    // SIQ bit 0 is the value, not OV.
    let v = json(Element::M_SP_NA_1 {
        value: SinglePoint {
            value: true,
            quality: Quality(0x40),
        },
    });
    assert_eq!(v["quality"]["ov"], serde_json::json!(false));
    assert_eq!(v["quality"]["nt"], serde_json::json!(true));
}

#[test]
fn types_without_time_tag_have_time_null() {
    let v = json(Element::M_ME_NC_1 {
        value: 1.0,
        quality: Quality::GOOD,
    });
    assert!(v["time"].is_null());
    assert!(v.get("time_invalid").is_none());
}

#[test]
fn time_tags_are_read_in_the_configured_zone() {
    let plus_one: Zone = "+01:00".parse().expect("a fixed offset");
    let p = one(
        1,
        1,
        Cot::new(Cause::SPONTANEOUS),
        Element::M_SP_TB_1 {
            value: SinglePoint::default(),
            time: t56(),
        },
        Reception {
            zone: &plus_one,
            ..rx()
        },
    );
    // 09:15:30.123 read as +01:00 is 08:15:30.123Z.
    assert_eq!(p.time, Some(T - 3_600_000));
}

#[test]
fn a_tag_of_the_repeated_hour_in_berlin_becomes_the_instant_its_su_bit_names() {
    let berlin: Zone = "Europe/Berlin".parse().expect("a zone name");
    // 2026-10-25 02:30 local, once on summer time and once after it.
    let tag = |summer_time| {
        Cp56Time2a::from_fields(crate::iec104::time::Cp56Fields {
            minute: 30,
            hour: 2,
            day: 25,
            month: 10,
            year: 26,
            summer_time,
            ..Default::default()
        })
    };
    let read = |summer_time| {
        let p = one(
            1,
            1,
            Cot::new(Cause::SPONTANEOUS),
            Element::M_SP_TB_1 {
                value: SinglePoint::default(),
                time: tag(summer_time),
            },
            Reception {
                zone: &berlin,
                ..rx()
            },
        );
        serde_json::from_str::<serde_json::Value>(&p.to_json()).expect("valid JSON")
    };
    let first = read(true);
    assert_eq!(first["time"], serde_json::json!("2026-10-25T00:30:00.000Z"));
    assert_eq!(first["summer_time"], serde_json::json!(true));
    let second = read(false);
    assert_eq!(
        second["time"],
        serde_json::json!("2026-10-25T01:30:00.000Z")
    );
    assert!(second.get("summer_time").is_none());
}

#[test]
fn cp24_tags_are_completed_with_the_local_hour_of_a_named_zone() {
    // Received 2026-11-21 09:15:30.125Z, 14:45:30.125 in Kolkata (+05:30):
    // minute 14 of that hour is 08:44:59.000Z; the UTC hour would give
    // 09:14:59.000Z.
    let kolkata: Zone = "Asia/Kolkata".parse().expect("a zone name");
    let p = one(
        1,
        100,
        Cot::new(Cause::SPONTANEOUS),
        Element::M_SP_TA_1 {
            value: SinglePoint::default(),
            time: Cp24Time2a::new(14, 59_000, false),
        },
        Reception {
            zone: &kolkata,
            ..rx()
        },
    );
    assert_eq!(
        p.time.map(rfc3339_ms).as_deref(),
        Some("2026-11-21T08:44:59.000Z")
    );
}

#[test]
fn time_tag_bits_and_errors_are_reported() {
    let mut f = t56().fields();
    f.invalid = true;
    f.summer_time = true;
    let v = json(Element::M_SP_TB_1 {
        value: SinglePoint::default(),
        time: Cp56Time2a::from_fields(f),
    });
    assert_eq!(
        (v["time_invalid"].clone(), v["summer_time"].clone()),
        (serde_json::json!(true), serde_json::json!(true))
    );
    f.minute = 61;
    let v = json(Element::M_SP_TB_1 {
        value: SinglePoint::default(),
        time: Cp56Time2a::from_fields(f),
    });
    assert!(v["time"].is_null());
    assert_eq!(
        v["time_error"],
        serde_json::json!("time tag field minute = 61 is out of range 0..=59")
    );
}

#[test]
fn cp24_tags_are_completed_with_the_hour_of_receipt() {
    // Received 09:15:30.125; tag 14:59.000 → 09:14:59.000; tag 50:00.000
    // would be in the future → 08:50:00.000.
    let p = spont(Element::M_SP_TA_1 {
        value: SinglePoint::default(),
        time: Cp24Time2a::new(14, 59_000, false),
    });
    assert_eq!(
        p.time.map(rfc3339_ms).as_deref(),
        Some("2026-11-21T09:14:59.000Z")
    );
    let p = spont(Element::M_SP_TA_1 {
        value: SinglePoint::default(),
        time: Cp24Time2a::new(50, 0, false),
    });
    assert_eq!(
        p.time.map(rfc3339_ms).as_deref(),
        Some("2026-11-21T08:50:00.000Z")
    );
}

#[test]
fn sequences_give_one_point_per_object_and_commands_give_none() {
    let a = Asdu {
        type_id: TypeId::M_ME_NC_1,
        sequence: true,
        cot: Cot::new(Cause::INTERROGATED),
        originator: 0,
        common_address: 7,
        objects: (10..13)
            .map(|i| {
                InformationObject::new(
                    i,
                    Element::M_ME_NC_1 {
                        value: i as f32,
                        quality: Quality::GOOD,
                    },
                )
            })
            .collect(),
    };
    let p = points_from_asdu(&a, rx());
    assert_eq!(
        p.iter().map(|p| (p.casdu, p.ioa)).collect::<Vec<_>>(),
        [(7, 10), (7, 11), (7, 12)]
    );
    let gi = Asdu::single(
        Cot::new(Cause::ACTIVATION_CON),
        1,
        0,
        Element::C_IC_NA_1 {
            qualifier: Qoi::STATION,
        },
    );
    assert!(points_from_asdu(&gi, rx()).is_empty());
}

/// One element of every monitor type, with quality bits, time tag bits
/// and values away from zero.
fn one_of_each_monitor_type() -> Vec<Element> {
    let q = Quality(Quality::NT | Quality::OV);
    let siq = Quality(Quality::IV | Quality::SB);
    let qdp = Quality(Quality::BL | Quality::EI);
    let t24 = Cp24Time2a::new(15, 30_123, false);
    let t24_iv = Cp24Time2a::new(15, 30_123, true);
    let t56 = t56();
    let t56_su = {
        let mut f = t56.fields();
        f.summer_time = true;
        f.invalid = true;
        Cp56Time2a::from_fields(f)
    };
    let sp = SinglePoint {
        value: true,
        quality: siq,
    };
    let dp = DoublePoint {
        value: DoubleState::On,
        quality: Quality(Quality::NT),
    };
    let step = StepPosition {
        value: -7,
        transient: true,
    };
    let bcr = BinaryCounter {
        value: -123_456,
        sequence: 17,
        carry: true,
        adjusted: true,
        invalid: true,
    };
    let event = DoublePoint {
        value: DoubleState::Off,
        quality: Quality(Quality::SB | Quality::EI),
    };
    use Element::*;
    vec![
        M_SP_NA_1 { value: sp },
        M_SP_TA_1 {
            value: sp,
            time: t24,
        },
        M_SP_TB_1 {
            value: sp,
            time: t56_su,
        },
        M_DP_NA_1 { value: dp },
        M_DP_TA_1 {
            value: dp,
            time: t24_iv,
        },
        M_DP_TB_1 {
            value: dp,
            time: t56,
        },
        M_ST_NA_1 {
            value: step,
            quality: q,
        },
        M_ST_TA_1 {
            value: step,
            quality: q,
            time: t24,
        },
        M_ST_TB_1 {
            value: step,
            quality: q,
            time: t56,
        },
        M_BO_NA_1 {
            value: 0xDEAD_BEEF,
            quality: q,
        },
        M_BO_TA_1 {
            value: 0xDEAD_BEEF,
            quality: q,
            time: t24,
        },
        M_BO_TB_1 {
            value: 0xDEAD_BEEF,
            quality: q,
            time: t56,
        },
        M_ME_NA_1 {
            value: Normalized(-12_345),
            quality: q,
        },
        M_ME_TA_1 {
            value: Normalized(-32_768),
            quality: q,
            time: t24,
        },
        M_ME_TD_1 {
            value: Normalized(32_767),
            quality: q,
            time: t56,
        },
        M_ME_ND_1 {
            value: Normalized(1),
        },
        M_ME_NB_1 {
            value: -32_768,
            quality: q,
        },
        M_ME_TB_1 {
            value: 32_767,
            quality: q,
            time: t24,
        },
        M_ME_TE_1 {
            value: -1,
            quality: q,
            time: t56,
        },
        M_ME_NC_1 {
            value: 0.1,
            quality: q,
        },
        M_ME_TC_1 {
            value: -230.5,
            quality: q,
            time: t24,
        },
        M_ME_TF_1 {
            value: 1.0e-30,
            quality: q,
            time: t56,
        },
        M_IT_NA_1 { value: bcr },
        M_IT_TA_1 {
            value: bcr,
            time: t24,
        },
        M_IT_TB_1 {
            value: bcr,
            time: t56,
        },
        M_EP_TA_1 {
            event,
            elapsed: Cp16Time2a(1_234),
            time: t24,
        },
        M_EP_TB_1 {
            start: StartEvents(0x2B),
            quality: qdp,
            duration: Cp16Time2a(65_535),
            time: t24,
        },
        M_EP_TC_1 {
            circuits: OutputCircuits(0x0F),
            quality: qdp,
            operating: Cp16Time2a(7),
            time: t24,
        },
        M_PS_NA_1 {
            value: StatusChanges {
                status: 0xA5A5,
                changes: 0x0F0F,
            },
            quality: q,
        },
        M_EP_TD_1 {
            event,
            elapsed: Cp16Time2a(1_234),
            time: t56,
        },
        M_EP_TE_1 {
            start: StartEvents(0x2B),
            quality: qdp,
            duration: Cp16Time2a(65_535),
            time: t56_su,
        },
        M_EP_TF_1 {
            circuits: OutputCircuits(0x0F),
            quality: qdp,
            operating: Cp16Time2a(7),
            time: t56,
        },
    ]
}

#[test]
fn the_fixture_has_every_monitor_type() {
    let mut have: Vec<TypeId> = one_of_each_monitor_type()
        .iter()
        .map(Element::type_id)
        .collect();
    have.sort_by_key(|t| t.id());
    let want: Vec<TypeId> = TypeId::ALL
        .iter()
        .copied()
        .filter(|t| t.is_monitor())
        .collect();
    assert_eq!(have, want);
}

#[test]
fn to_element_gives_back_the_element_of_every_monitor_type() {
    for e in one_of_each_monitor_type() {
        let p = spont(e.clone());
        assert_eq!(p.to_element(), e, "{p:?}");
        // And through the contract JSON, as the image holds it.
        let back = DataPoint::from_json(&p.to_json()).expect("reads back");
        assert_eq!(back.to_element(), e, "{}", p.to_json());
    }
}

#[test]
fn to_element_marks_a_missing_or_unrepresentable_time_tag_invalid() {
    let mut p = spont(Element::M_ME_TF_1 {
        value: 1.5,
        quality: Quality::GOOD,
        time: t56(),
    });
    p.time = None;
    let Element::M_ME_TF_1 { value, time, .. } = p.to_element() else {
        panic!("type kept: {:?}", p.to_element());
    };
    assert_eq!(value, 1.5);
    assert!(time.invalid());
    p.time = Some(0); // 1970: a CP56Time2a cannot hold it
    let Element::M_ME_TF_1 { time, .. } = p.to_element() else {
        panic!("type kept");
    };
    assert!(time.invalid());

    let mut p = spont(Element::M_SP_TA_1 {
        value: SinglePoint::default(),
        time: Cp24Time2a::new(1, 2, false),
    });
    p.time = None;
    let Element::M_SP_TA_1 { time, .. } = p.to_element() else {
        panic!("type kept");
    };
    assert!(time.invalid());
}

#[test]
fn to_element_maps_invalid_time_fields_of_the_source_to_an_invalid_tag() {
    // A CP56Time2a with month 13: the point has time_error and no time.
    let mut bad = t56().fields();
    bad.month = 13;
    let p = spont(Element::M_SP_TB_1 {
        value: SinglePoint::default(),
        time: Cp56Time2a::from_fields(bad),
    });
    assert!(p.time.is_none() && p.time_error.is_some());
    let Element::M_SP_TB_1 { time, .. } = p.to_element() else {
        panic!("type kept");
    };
    assert!(time.invalid());
}

#[test]
fn to_served_element_is_to_element_but_a_flagged_type_21_goes_as_type_9_and_a_not_topical_counter_as_invalid()
 {
    let none = QualityFlags::default();
    let each = [
        QualityFlags { iv: true, ..none },
        QualityFlags { nt: true, ..none },
        QualityFlags { sb: true, ..none },
        QualityFlags { bl: true, ..none },
        QualityFlags { ov: true, ..none },
        QualityFlags {
            iv: true,
            nt: true,
            sb: true,
            bl: true,
            ov: true,
        },
    ];
    for e in one_of_each_monitor_type() {
        let mut p = spont(e.clone());
        assert_eq!(p.to_served_element(), p.to_element(), "{p:?} unflagged");
        for flags in each {
            p.quality = flags;
            let served = p.to_served_element();
            match &e {
                Element::M_ME_ND_1 { value } => assert_eq!(
                    served,
                    Element::M_ME_NA_1 {
                        value: *value,
                        quality: flags.to_quality(),
                    },
                    "{flags:?}"
                ),
                Element::M_IT_NA_1 { .. }
                | Element::M_IT_TA_1 { .. }
                | Element::M_IT_TB_1 { .. }
                    if flags.nt =>
                {
                    let mut valid = p.clone();
                    valid.quality = QualityFlags { iv: true, ..none };
                    assert_eq!(served, valid.to_element(), "{p:?}");
                }
                _ => assert_eq!(served, p.to_element(), "{p:?}"),
            }
        }
    }
}
