//! Byte-exact fixtures for every type id, one test per error, and property
//! tests of decode(encode(x)) == x.

use super::*;
use crate::iec104::elements::*;
use crate::iec104::time::{Cp16Time2a, Cp24Time2a, Cp56Time2a};
use proptest::prelude::*;

/// 2026-11-21 09:15:30.123, a Saturday.
const T56_HEX: &str = "AB 75 0F 09 D5 0B 1A";
const T24_HEX: &str = "AB 75 0F";

fn t56() -> Cp56Time2a {
    Cp56Time2a::from_unix_ms(1_795_252_530_123).expect("in range")
}

fn t24() -> Cp24Time2a {
    Cp24Time2a::new(15, 30_123, false)
}

fn hex(s: &str) -> Vec<u8> {
    let s = s.replace("T56", T56_HEX).replace("T24", T24_HEX);
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).expect("fixture hex"))
        .collect()
}

fn q(b: u8) -> Quality {
    Quality(b)
}

/// One information object per type id: its element and the element's
/// octets (after the address), written out by hand from the standard.
fn fixtures() -> Vec<(Element, &'static str)> {
    use Element::*;
    let sp = |value, b| SinglePoint {
        value,
        quality: q(b),
    };
    let dp = |value, b| DoublePoint {
        value,
        quality: q(b),
    };
    vec![
        (
            M_SP_NA_1 {
                value: sp(true, 0x80),
            },
            "81",
        ),
        (
            M_SP_TA_1 {
                value: sp(false, 0x10),
                time: t24(),
            },
            "10 T24",
        ),
        (
            M_DP_NA_1 {
                value: dp(DoubleState::On, 0),
            },
            "02",
        ),
        (
            M_DP_TA_1 {
                value: dp(DoubleState::Off, 0x40),
                time: t24(),
            },
            "41 T24",
        ),
        (
            M_ST_NA_1 {
                value: StepPosition {
                    value: -5,
                    transient: true,
                },
                quality: q(0x01),
            },
            "FB 01",
        ),
        (
            M_ST_TA_1 {
                value: StepPosition {
                    value: 63,
                    transient: false,
                },
                quality: q(0),
                time: t24(),
            },
            "3F 00 T24",
        ),
        (
            M_BO_NA_1 {
                value: 0x1234_5678,
                quality: q(0x20),
            },
            "78 56 34 12 20",
        ),
        (
            M_BO_TA_1 {
                value: 0xDEAD_BEEF,
                quality: q(0),
                time: t24(),
            },
            "EF BE AD DE 00 T24",
        ),
        (
            M_ME_NA_1 {
                value: Normalized(16384),
                quality: q(0),
            },
            "00 40 00",
        ),
        (
            M_ME_TA_1 {
                value: Normalized(-32768),
                quality: q(0x80),
                time: t24(),
            },
            "00 80 80 T24",
        ),
        (
            M_ME_NB_1 {
                value: -2,
                quality: q(0x01),
            },
            "FE FF 01",
        ),
        (
            M_ME_TB_1 {
                value: 1000,
                quality: q(0),
                time: t24(),
            },
            "E8 03 00 T24",
        ),
        (
            M_ME_NC_1 {
                value: 0.1,
                quality: q(0),
            },
            "CD CC CC 3D 00",
        ),
        (
            M_ME_TC_1 {
                value: -1.5,
                quality: q(0x10),
                time: t24(),
            },
            "00 00 C0 BF 10 T24",
        ),
        (
            M_IT_NA_1 {
                value: BinaryCounter {
                    value: 100_000,
                    sequence: 5,
                    carry: true,
                    adjusted: false,
                    invalid: false,
                },
            },
            "A0 86 01 00 25",
        ),
        (
            M_IT_TA_1 {
                value: BinaryCounter {
                    value: -1,
                    sequence: 31,
                    carry: false,
                    adjusted: true,
                    invalid: true,
                },
                time: t24(),
            },
            "FF FF FF FF DF T24",
        ),
        (
            M_EP_TA_1 {
                event: dp(DoubleState::On, 0x08),
                elapsed: Cp16Time2a(500),
                time: t24(),
            },
            "0A F4 01 T24",
        ),
        (
            M_EP_TB_1 {
                start: StartEvents(0x03),
                quality: q(0),
                duration: Cp16Time2a(250),
                time: t24(),
            },
            "03 00 FA 00 T24",
        ),
        (
            M_EP_TC_1 {
                circuits: OutputCircuits(0x09),
                quality: q(0x80),
                operating: Cp16Time2a(0x1234),
                time: t24(),
            },
            "09 80 34 12 T24",
        ),
        (
            M_PS_NA_1 {
                value: StatusChanges {
                    status: 0x8001,
                    changes: 0x0100,
                },
                quality: q(0),
            },
            "01 80 00 01 00",
        ),
        (
            M_ME_ND_1 {
                value: Normalized(-1),
            },
            "FF FF",
        ),
        (
            M_SP_TB_1 {
                value: sp(true, 0),
                time: t56(),
            },
            "01 T56",
        ),
        (
            M_DP_TB_1 {
                value: dp(DoubleState::Indeterminate, 0x80),
                time: t56(),
            },
            "83 T56",
        ),
        (
            M_ST_TB_1 {
                value: StepPosition {
                    value: -64,
                    transient: false,
                },
                quality: q(0x40),
                time: t56(),
            },
            "40 40 T56",
        ),
        (
            M_BO_TB_1 {
                value: 1,
                quality: q(0),
                time: t56(),
            },
            "01 00 00 00 00 T56",
        ),
        (
            M_ME_TD_1 {
                value: Normalized(32767),
                quality: q(0),
                time: t56(),
            },
            "FF 7F 00 T56",
        ),
        (
            M_ME_TE_1 {
                value: -32768,
                quality: q(0x01),
                time: t56(),
            },
            "00 80 01 T56",
        ),
        (
            M_ME_TF_1 {
                value: 230.5,
                quality: q(0),
                time: t56(),
            },
            "00 80 66 43 00 T56",
        ),
        (
            M_IT_TB_1 {
                value: BinaryCounter {
                    value: 7,
                    sequence: 1,
                    ..Default::default()
                },
                time: t56(),
            },
            "07 00 00 00 01 T56",
        ),
        (
            M_EP_TD_1 {
                event: dp(DoubleState::Off, 0),
                elapsed: Cp16Time2a(59_999),
                time: t56(),
            },
            "01 5F EA T56",
        ),
        (
            M_EP_TE_1 {
                start: StartEvents(0x3F),
                quality: q(0x08),
                duration: Cp16Time2a(1),
                time: t56(),
            },
            "3F 08 01 00 T56",
        ),
        (
            M_EP_TF_1 {
                circuits: OutputCircuits(0x0F),
                quality: q(0),
                operating: Cp16Time2a(0),
                time: t56(),
            },
            "0F 00 00 00 T56",
        ),
        (
            C_SC_NA_1 {
                command: SingleCommand::new(true, 0, true),
            },
            "81",
        ),
        (
            C_DC_NA_1 {
                command: DoubleCommand::new(DoubleState::On, 1, false),
            },
            "06",
        ),
        (
            C_RC_NA_1 {
                command: DoubleCommand(0x02),
            },
            "02",
        ),
        (
            C_SE_NA_1 {
                value: Normalized(0x2000),
                qualifier: SetpointQualifier(0x80),
            },
            "00 20 80",
        ),
        (
            C_SE_NB_1 {
                value: -100,
                qualifier: SetpointQualifier(0),
            },
            "9C FF 00",
        ),
        (
            C_SE_NC_1 {
                value: 50.0,
                qualifier: SetpointQualifier(0),
            },
            "00 00 48 42 00",
        ),
        (C_BO_NA_1 { value: 0x0F0F_0F0F }, "0F 0F 0F 0F"),
        (
            C_SC_TA_1 {
                command: SingleCommand(0),
                time: t56(),
            },
            "00 T56",
        ),
        (
            C_DC_TA_1 {
                command: DoubleCommand(0x01),
                time: t56(),
            },
            "01 T56",
        ),
        (
            C_RC_TA_1 {
                command: DoubleCommand(0x81),
                time: t56(),
            },
            "81 T56",
        ),
        (
            C_SE_TA_1 {
                value: Normalized(1),
                qualifier: SetpointQualifier(0),
                time: t56(),
            },
            "01 00 00 T56",
        ),
        (
            C_SE_TB_1 {
                value: 2,
                qualifier: SetpointQualifier(0x80),
                time: t56(),
            },
            "02 00 80 T56",
        ),
        (
            C_SE_TC_1 {
                value: 1.0,
                qualifier: SetpointQualifier(0),
                time: t56(),
            },
            "00 00 80 3F 00 T56",
        ),
        (
            C_BO_TA_1 {
                value: 0x8000_0000,
                time: t56(),
            },
            "00 00 00 80 T56",
        ),
        (M_EI_NA_1 { cause: 0x81 }, "81"),
        (
            C_IC_NA_1 {
                qualifier: Qoi::STATION,
            },
            "14",
        ),
        (
            C_CI_NA_1 {
                qualifier: Qcc(0x45),
            },
            "45",
        ),
        (C_RD_NA_1 {}, ""),
        (C_CS_NA_1 { time: t56() }, "T56"),
        (C_TS_NA_1 { pattern: 0x55AA }, "AA 55"),
        (C_RP_NA_1 { qualifier: 1 }, "01"),
        (
            C_CD_NA_1 {
                delay: Cp16Time2a(100),
            },
            "64 00",
        ),
        (
            C_TS_TA_1 {
                counter: 0x1234,
                time: t56(),
            },
            "34 12 T56",
        ),
        (
            P_ME_NA_1 {
                value: Normalized(0x100),
                qualifier: 1,
            },
            "00 01 01",
        ),
        (
            P_ME_NB_1 {
                value: -1,
                qualifier: 2,
            },
            "FF FF 02",
        ),
        (
            P_ME_NC_1 {
                value: 0.5,
                qualifier: 3,
            },
            "00 00 00 3F 03",
        ),
        (P_AC_NA_1 { qualifier: 3 }, "03"),
        (
            F_FR_NA_1 {
                file: 1,
                length: U24(0x01_0203),
                qualifier: 0,
            },
            "01 00 03 02 01 00",
        ),
        (
            F_SR_NA_1 {
                file: 2,
                section: 1,
                length: U24(100),
                qualifier: 0x80,
            },
            "02 00 01 64 00 00 80",
        ),
        (
            F_SC_NA_1 {
                file: 3,
                section: 0,
                qualifier: 1,
            },
            "03 00 00 01",
        ),
        (
            F_LS_NA_1 {
                file: 3,
                section: 1,
                qualifier: 1,
                checksum: 0xAB,
            },
            "03 00 01 01 AB",
        ),
        (
            F_AF_NA_1 {
                file: 3,
                section: 1,
                qualifier: 3,
            },
            "03 00 01 03",
        ),
        (
            F_SG_NA_1 {
                file: 3,
                section: 1,
                segment: Segment(vec![1, 2, 3]),
            },
            "03 00 01 03 01 02 03",
        ),
        (
            F_DR_TA_1 {
                file: 4,
                length: U24(0xFF_FFFF),
                status: 0x20,
                time: t56(),
            },
            "04 00 FF FF FF 20 T56",
        ),
        (
            F_SC_NB_1 {
                file: 5,
                start: t56(),
                stop: t56(),
            },
            "05 00 T56 T56",
        ),
    ]
}

#[test]
fn every_type_id_has_a_byte_exact_fixture_that_encodes_and_decodes() {
    let fixtures = fixtures();
    let covered: Vec<TypeId> = fixtures.iter().map(|(e, _)| e.type_id()).collect();
    assert_eq!(covered, TypeId::ALL, "one fixture per type id, ascending");
    for (element, elem_hex) in fixtures {
        let t = element.type_id();
        // Header: type, VSQ 1, COT 3 (spont), OA 7, CA 0x1234; IOA 0x123456.
        let bytes = hex(&format!(
            "{:02X} 01 03 07 34 12 56 34 12 {elem_hex}",
            t.id()
        ));
        let asdu = Asdu {
            type_id: t,
            sequence: false,
            cot: Cot::new(Cause::SPONTANEOUS),
            originator: 7,
            common_address: 0x1234,
            objects: vec![InformationObject::new(0x12_3456, element)],
        };
        assert_eq!(asdu.to_bytes(), Ok(bytes.clone()), "encode {t}");
        assert_eq!(Asdu::decode(&bytes), Ok(asdu), "decode {t}");
    }
}

#[test]
fn sq1_carries_one_address_and_consecutive_elements() {
    let bytes = hex("0D 83 14 00 01 00 E8 03 00  00 00 80 3F 00  00 00 00 40 80  00 00 40 40 00");
    let asdu = Asdu::decode(&bytes).expect("valid");
    assert!(asdu.sequence);
    assert_eq!(asdu.cot.cause, Cause::INTERROGATED);
    let got: Vec<(u32, f32, u8)> = asdu
        .objects
        .iter()
        .map(|o| match o.element {
            Element::M_ME_NC_1 { value, quality } => (o.ioa, value, quality.0),
            _ => (0, 0.0, 0),
        })
        .collect();
    assert_eq!(got, [(1000, 1.0, 0), (1001, 2.0, 0x80), (1002, 3.0, 0)]);
    assert_eq!(asdu.to_bytes(), Ok(bytes));
}

#[test]
fn sq0_carries_an_address_per_object() {
    let bytes = hex("01 02 03 00 01 00 0A 00 00 01 14 00 00 80");
    let asdu = Asdu::decode(&bytes).expect("valid");
    assert_eq!(asdu.objects.len(), 2);
    assert_eq!(asdu.objects[1].ioa, 20);
    assert_eq!(asdu.to_bytes(), Ok(bytes));
}

#[test]
fn zero_objects_is_an_empty_body() {
    let bytes = hex("64 00 06 00 01 00");
    let asdu = Asdu::decode(&bytes).expect("valid");
    assert!(asdu.objects.is_empty());
    assert_eq!(asdu.to_bytes(), Ok(bytes));
}

// --- one test per decode error ---

#[test]
fn decode_rejects_an_asdu_shorter_than_its_identifier() {
    assert_eq!(
        Asdu::decode(&hex("01 01 03 00 01")),
        Err(AsduError::TooShort(5))
    );
    assert_eq!(Header::decode(&[]), Err(AsduError::TooShort(0)));
}

#[test]
fn decode_rejects_an_asdu_longer_than_249() {
    assert_eq!(Asdu::decode(&[0u8; 250]), Err(AsduError::TooLong(250)));
}

#[test]
fn decode_reports_reserved_and_private_type_ids_with_their_number() {
    let bytes = hex("2C 01 06 00 01 00 01 00 00 00");
    assert_eq!(Asdu::decode(&bytes), Err(AsduError::UnknownType(44)));
    let h = Header::decode(&bytes).expect("header readable");
    assert_eq!((h.type_id, h.count, h.common_address), (44, 1, 1));
}

#[test]
fn decode_rejects_fewer_octets_than_the_objects_declare() {
    let bytes = hex("0D 02 03 00 01 00 01 00 00 00 00 80 3F 00 02 00 00 00 00");
    assert_eq!(
        Asdu::decode(&bytes),
        Err(AsduError::Truncated {
            type_id: TypeId::M_ME_NC_1,
            count: 2,
            needed: 4,
            remaining: 2
        })
    );
}

#[test]
fn decode_rejects_trailing_octets() {
    let bytes = hex("01 01 03 00 01 00 01 00 00 01 FF");
    assert_eq!(
        Asdu::decode(&bytes),
        Err(AsduError::TrailingBytes {
            type_id: TypeId::M_SP_NA_1,
            count: 1,
            extra: 1
        })
    );
}

#[test]
fn decode_rejects_a_sequence_past_the_largest_address() {
    let bytes = hex("01 82 03 00 01 00 FF FF FF 01 00");
    assert_eq!(
        Asdu::decode(&bytes),
        Err(AsduError::IoaOverflow {
            base: 0xFF_FFFF,
            count: 2
        })
    );
}

// --- one test per encode error ---

fn float(ioa: u32, value: f32) -> InformationObject {
    InformationObject::new(
        ioa,
        Element::M_ME_NC_1 {
            value,
            quality: Quality::GOOD,
        },
    )
}

fn spont(type_id: TypeId, sequence: bool, objects: Vec<InformationObject>) -> Asdu {
    Asdu {
        type_id,
        sequence,
        cot: Cot::new(Cause::SPONTANEOUS),
        originator: 0,
        common_address: 1,
        objects,
    }
}

#[test]
fn encode_refuses_more_than_249_octets() {
    // 6 + 31 * (3 + 5) = 254
    let a = spont(
        TypeId::M_ME_NC_1,
        false,
        (0..31).map(|i| float(i, 0.0)).collect(),
    );
    assert_eq!(a.to_bytes(), Err(EncodeError::TooLong(254)));
}

#[test]
fn encode_refuses_more_than_127_objects() {
    let objects = (0..128)
        .map(|i| {
            InformationObject::new(
                i,
                Element::M_SP_NA_1 {
                    value: SinglePoint::default(),
                },
            )
        })
        .collect();
    let a = spont(TypeId::M_SP_NA_1, true, objects);
    assert_eq!(a.to_bytes(), Err(EncodeError::TooManyObjects(128)));
}

#[test]
fn encode_refuses_mixed_types() {
    let mut objects = vec![float(1, 1.0)];
    objects.push(InformationObject::new(
        2,
        Element::M_ME_NB_1 {
            value: 1,
            quality: Quality::GOOD,
        },
    ));
    assert_eq!(
        spont(TypeId::M_ME_NC_1, false, objects).to_bytes(),
        Err(EncodeError::MixedTypes {
            index: 1,
            expected: TypeId::M_ME_NC_1,
            found: TypeId::M_ME_NB_1
        })
    );
}

#[test]
fn encode_refuses_gaps_under_sq1() {
    let a = spont(
        TypeId::M_ME_NC_1,
        true,
        vec![float(10, 1.0), float(12, 2.0)],
    );
    assert_eq!(
        a.to_bytes(),
        Err(EncodeError::NotConsecutive {
            index: 1,
            ioa: 12,
            expected: 11
        })
    );
}

#[test]
fn encode_refuses_an_address_above_24_bits() {
    let a = spont(TypeId::M_ME_NC_1, false, vec![float(0x100_0000, 1.0)]);
    assert_eq!(a.to_bytes(), Err(EncodeError::IoaOutOfRange(0x100_0000)));
}

#[test]
fn encode_refuses_element_fields_the_wire_cannot_carry() {
    let a = Asdu::single(
        Cot::new(Cause::SPONTANEOUS),
        1,
        1,
        Element::M_ST_NA_1 {
            value: StepPosition {
                value: 100,
                transient: false,
            },
            quality: Quality::GOOD,
        },
    );
    assert!(matches!(a.to_bytes(), Err(EncodeError::Element(e)) if e.value == 100));
}

#[test]
fn mirror_sets_cause_and_negative_bit_and_keeps_everything_else() {
    let raw = hex("2C 01 86 05 01 00 01 00 00 00");
    let m = mirror(&raw, Cause::UNKNOWN_TYPE, true).expect("mirrors");
    assert_eq!(m, hex("2C 01 EC 05 01 00 01 00 00 00"));
    assert_eq!(
        mirror(&raw[..3], Cause::UNKNOWN_TYPE, true),
        Err(AsduError::TooShort(3))
    );
}

// --- packing ---

#[test]
fn pack_fills_sq1_asdus_for_consecutive_addresses_within_249_octets() {
    // SQ=1 floats: (249 - 9) / 5 = 48 per ASDU.
    let objects: Vec<_> = (100..200).map(|i| float(i, i as f32)).collect();
    let asdus = pack(TypeId::M_ME_NC_1, Cot::new(Cause::INTERROGATED), 1, objects).expect("packs");
    let sizes: Vec<(bool, usize)> = asdus
        .iter()
        .map(|a| (a.sequence, a.objects.len()))
        .collect();
    assert_eq!(sizes, [(true, 48), (true, 48), (true, 4)]);
    let ioas: Vec<u32> = asdus
        .iter()
        .flat_map(|a| a.objects.iter().map(|o| o.ioa))
        .collect();
    assert_eq!(ioas, (100..200).collect::<Vec<_>>());
    for a in &asdus {
        assert!(a.encoded_len().expect("encodable") <= MAX_ASDU_LEN);
    }
}

#[test]
fn pack_puts_scattered_addresses_into_sq0_asdus_in_order() {
    // SQ=0 floats: (249 - 6) / 8 = 30 per ASDU.
    let objects: Vec<_> = (0..70).map(|i| float(i * 2, 0.0)).collect();
    let asdus = pack(TypeId::M_ME_NC_1, Cot::new(Cause::INTERROGATED), 1, objects).expect("packs");
    let sizes: Vec<(bool, usize)> = asdus
        .iter()
        .map(|a| (a.sequence, a.objects.len()))
        .collect();
    assert_eq!(sizes, [(false, 30), (false, 30), (false, 10)]);
    let ioas: Vec<u32> = asdus
        .iter()
        .flat_map(|a| a.objects.iter().map(|o| o.ioa))
        .collect();
    assert_eq!(ioas, (0..70).map(|i| i * 2).collect::<Vec<_>>());
}

#[test]
fn pack_keeps_order_across_runs_and_singles() {
    let mut objects = vec![float(1, 0.0), float(5, 0.0)];
    objects.extend((10..20).map(|i| float(i, 0.0)));
    objects.push(float(30, 0.0));
    let asdus = pack(TypeId::M_ME_NC_1, Cot::new(Cause::INTERROGATED), 1, objects).expect("packs");
    let shape: Vec<(bool, Vec<u32>)> = asdus
        .iter()
        .map(|a| (a.sequence, a.objects.iter().map(|o| o.ioa).collect()))
        .collect();
    assert_eq!(
        shape,
        [
            (false, vec![1, 5]),
            (true, (10..20).collect()),
            (false, vec![30])
        ]
    );
}

#[test]
fn pack_refuses_mixed_types() {
    let objects = vec![
        float(1, 0.0),
        InformationObject::new(2, Element::C_RD_NA_1 {}),
    ];
    assert!(matches!(
        pack(TypeId::M_ME_NC_1, Cot::new(Cause::INTERROGATED), 1, objects),
        Err(EncodeError::MixedTypes { index: 1, .. })
    ));
}

// --- properties ---

/// Any element of `t`: decoded from arbitrary octets of the right length,
/// so every bit pattern the wire can carry is reached.
fn element_of(t: TypeId) -> impl Strategy<Value = Element> {
    let len = match t {
        TypeId::F_SG_NA_1 => None,
        _ => {
            let zeros = [0u8; 16];
            Element::read(t, &mut crate::iec104::cursor::ReadCursor::new(&zeros))
                .ok()
                .map(|e| e.wire_len())
        }
    };
    let bytes = match len {
        Some(n) => proptest::collection::vec(any::<u8>(), n).boxed(),
        None => (0usize..=200)
            .prop_flat_map(|n| proptest::collection::vec(any::<u8>(), n))
            .prop_map(|seg| {
                let mut b = vec![1, 0, 1, u8::try_from(seg.len()).unwrap_or(0)];
                b.extend(seg);
                b
            })
            .boxed(),
    };
    bytes.prop_filter_map("decodes", move |b| {
        Element::read(t, &mut crate::iec104::cursor::ReadCursor::new(&b)).ok()
    })
}

fn asdu_strategy() -> impl Strategy<Value = Asdu> {
    (
        proptest::sample::select(TypeId::ALL),
        any::<bool>(),
        any::<u8>(),
        any::<u8>(),
        any::<u16>(),
    )
        .prop_flat_map(|(t, sequence, cot, originator, ca)| {
            let n = if t == TypeId::F_SG_NA_1 {
                1..=1usize
            } else {
                0..=20usize
            };
            (
                proptest::collection::vec((0u32..=0xFF_FF00, element_of(t)), n),
                Just((t, sequence, cot, originator, ca)),
            )
        })
        .prop_map(|(objs, (t, sequence, cot, originator, ca))| {
            let base = objs.first().map(|(i, _)| *i).unwrap_or(0);
            let objects = objs
                .into_iter()
                .enumerate()
                .map(|(i, (ioa, element))| InformationObject {
                    ioa: if sequence { base + i as u32 } else { ioa },
                    element,
                })
                .collect();
            Asdu {
                type_id: t,
                sequence,
                cot: Cot::from_octet(cot),
                originator,
                common_address: ca,
                objects,
            }
        })
}

/// Equality that treats two NaNs with the same bits as equal.
fn same(a: &Asdu, b: &Asdu) -> bool {
    a == b || format!("{a:?}") == format!("{b:?}")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decode_of_encode_is_identity(asdu in asdu_strategy()) {
        match asdu.to_bytes() {
            Ok(bytes) => {
                prop_assert_eq!(bytes.len(), asdu.encoded_len().unwrap_or(0));
                let back = Asdu::decode(&bytes);
                prop_assert!(back.as_ref().is_ok_and(|b| same(b, &asdu)), "{:?} != {:?}", back, asdu);
            }
            Err(EncodeError::TooLong(n)) => prop_assert!(n > MAX_ASDU_LEN),
            Err(e) => prop_assert!(false, "unexpected {e}"),
        }
    }

    #[test]
    fn decode_never_panics_and_reencodes_what_it_accepts(bytes in proptest::collection::vec(any::<u8>(), 0..260)) {
        if let Ok(asdu) = Asdu::decode(&bytes) {
            prop_assert_eq!(asdu.to_bytes(), Ok(bytes));
        }
    }

    #[test]
    fn packed_asdus_encode_and_keep_every_object(n in 1usize..400, gaps in proptest::collection::vec(1u32..4, 400)) {
        let mut ioa = 0;
        let objects: Vec<_> = (0..n).map(|i| { ioa += gaps[i]; float(ioa, i as f32) }).collect();
        let asdus = pack(TypeId::M_ME_NC_1, Cot::new(Cause::INTERROGATED), 7, objects.clone()).expect("packs");
        for a in &asdus {
            prop_assert!(a.to_bytes().is_ok());
        }
        let back: Vec<_> = asdus.iter().flat_map(|a| a.objects.clone()).collect();
        prop_assert_eq!(back, objects);
    }
}

/// Writes one ASDU per type id into the fuzz seed corpus:
/// `cargo test --lib write_asdu_seed_corpus -- --ignored`.
#[test]
#[ignore = "writes fuzz/corpus/asdu; run by hand when the fixtures change"]
fn write_asdu_seed_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/asdu");
    std::fs::create_dir_all(&dir).expect("corpus dir");
    for (element, _) in fixtures() {
        let t = element.type_id();
        let a = Asdu::single(Cot::new(Cause::SPONTANEOUS), 1, 100, element);
        let bytes = a.to_bytes().expect("fixture encodes");
        std::fs::write(dir.join(format!("{:03}_{}", t.id(), t.mnemonic())), bytes)
            .expect("write seed");
    }
    let sq1 = hex("0D 83 14 00 01 00 E8 03 00  00 00 80 3F 00  00 00 00 40 80  00 00 40 40 00");
    std::fs::write(dir.join("sq1_M_ME_NC_1"), sq1).expect("write seed");
    std::fs::write(
        dir.join("unknown_type_44"),
        hex("2C 01 06 00 01 00 01 00 00 00"),
    )
    .expect("write seed");
}
