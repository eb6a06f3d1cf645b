//! Which type a master receives from the `alp-connex iec104-server`
//! binary (docs/server.md): a normalized value without quality descriptor
//! (M_ME_ND_1, 21) that the image flags goes as M_ME_NA_1 (9) with the
//! flags, by interrogation, spontaneously and on read, and as 21 without a
//! flag; protection events are no part of an interrogation answer but
//! answer a read and go spontaneously. The master is c104; the type of
//! each ASDU is the one it reports as `wire_type` (c104 keeps the type a
//! point first came in as the point's `type`).

use alp_connex::contract::DataPoint;
use alp_connex::iec104::elements::{
    DoublePoint, DoubleState, Normalized, OutputCircuits, Quality, StartEvents,
};
use alp_connex::iec104::time::{Cp16Time2a, Cp24Time2a, Cp56Time2a};
use alp_connex::iec104::types::{Cause, Element};
use serde_json::{Value, json};

use crate::interop::{CA, T, TIME_MS, assert_same_point, is_counter, station_points, summary};
use crate::server::{Server, data_points, is_protection_event, write_data_points, write_points};
use crate::support::{Peer, ValkeyGuard, c104_master};

/// The point of type 21 at `ioa` with raw value `raw`, as the inbound
/// connector writes it, with `iv` as given (as a marking sets it).
fn normalized_21(ioa: u32, raw: i16, iv: bool) -> DataPoint {
    let e = Element::M_ME_ND_1 {
        value: Normalized(raw),
    };
    let mut p = data_points(CA, &[(ioa, e)], Cause::SPONTANEOUS).remove(0);
    p.quality.iv = iv;
    p
}

fn type_9_invalid(raw: i16) -> Element {
    Element::M_ME_NA_1 {
        value: Normalized(raw),
        quality: Quality(Quality::IV),
    }
}

fn type_21(raw: i16) -> Element {
    Element::M_ME_ND_1 {
        value: Normalized(raw),
    }
}

/// `got` (a point event of the master) came in an ASDU of `e`'s type and
/// carries `e`'s value, quality and time tag.
fn assert_received(got: &Value, ioa: u32, e: &Element) {
    let want = summary(ioa, e);
    assert_eq!(got["wire_type"], want["type"], "IOA {ioa}: {got}");
    let mut as_sent = got.clone();
    as_sent["type"] = got["wire_type"].clone();
    assert_same_point(&as_sent, &want);
}

/// Reads `ioa` (a point c104 does not know yet is added as `c104_type`)
/// and returns the event of the answer (cause 5): a point, or the object
/// c104 dropped as of another type.
fn read(m: &mut Peer, ioa: u32, c104_type: &str) -> Value {
    m.send(&json!({"op": "read", "ca": CA, "ioa": ioa, "type": c104_type}));
    let p = m.expect_line(
        |v| {
            v["ioa"] == ioa
                && v["cot"] == 5
                && (v["event"] == "point" || v["event"] == "mismatched")
        },
        T,
    );
    let r = m.expect_line(|v| v["event"] == "result" && v["op"] == "read", T);
    assert_eq!(r["ok"], json!(true), "{r}");
    p
}

#[test]
fn a_type_21_point_reaches_a_c104_master_as_type_9_with_iv_while_flagged_and_as_type_21_otherwise_by_gi_spontaneously_and_on_read()
 {
    let valkey = ValkeyGuard::start();
    // IOA 1 flagged invalid, IOA 2 valid; both type 21 in the image.
    write_data_points(
        &valkey,
        &[
            normalized_21(1, 24576, true),
            normalized_21(2, -8192, false),
        ],
    );
    let server = Server::start(&valkey, &[]);
    let mut a = c104_master(server.port, &["--ca", "1", "--no-gi"]);
    a.expect_event("open", T);

    // Interrogation: 9 with IV for the flagged point, 21 for the other.
    a.send(&json!({"op": "gi", "ca": CA}));
    let lines = a.lines_until(|v| v["event"] == "gi_done", T);
    assert_eq!(lines.last().expect("gi_done")["ok"], json!(true));
    let got: Vec<&Value> = lines
        .iter()
        .filter(|v| v["event"] == "point" && v["cot"] == 20)
        .collect();
    assert_eq!(got.len(), 2, "{lines:?}");
    assert_received(got[0], 1, &type_9_invalid(24576));
    assert_received(got[1], 2, &type_21(-8192));

    // Read: the same.
    assert_received(&read(&mut a, 1, "M_ME_NA_1"), 1, &type_9_invalid(24576));
    assert_received(&read(&mut a, 2, "M_ME_ND_1"), 2, &type_21(-8192));

    // Spontaneously: IOA 2 flagged invalid goes as 9 with IV. Master a
    // knows IOA 2 as type 21 and c104 drops an object of another type for
    // it (tests/peers/README.md): it reports the ASDU as mismatched, and a
    // second master that has not seen IOA 2 yet shows what it carried.
    let mut b = c104_master(server.port, &["--ca", "1", "--no-gi"]);
    b.expect_event("open", T);
    write_data_points(&valkey, &[normalized_21(2, -8192, true)]);
    let p = b.expect_line(|v| v["event"] == "point" && v["ioa"] == 2, T);
    assert_eq!(p["cot"], json!(3), "{p}");
    assert_received(&p, 2, &type_9_invalid(-8192));
    let m = a.expect_line(|v| v["ioa"] == 2 && v["cot"] == 3, T);
    assert_eq!(
        (&m["event"], &m["type"], &m["point_type"]),
        (
            &json!("mismatched"),
            &json!("M_ME_NA_1"),
            &json!("M_ME_ND_1")
        ),
        "{m}"
    );

    // The flag cleared: 21 again, which master a (IOA 2 known as 21) takes
    // and master b (known as 9 now) drops.
    write_data_points(&valkey, &[normalized_21(2, -8192, false)]);
    let p = a.expect_line(|v| v["ioa"] == 2 && v["cot"] == 3, T);
    assert_eq!(p["event"], json!("point"), "{p}");
    assert_received(&p, 2, &type_21(-8192));
    let m = b.expect_line(|v| v["ioa"] == 2 && v["cot"] == 3, T);
    assert_eq!(
        (&m["event"], &m["type"], &m["point_type"]),
        (
            &json!("mismatched"),
            &json!("M_ME_ND_1"),
            &json!("M_ME_NA_1")
        ),
        "{m}"
    );

    // And the image the interrogation and read answer from follows:
    // IOA 1 valid is 21 now, IOA 2 flagged again is 9 with IV.
    write_data_points(
        &valkey,
        &[
            normalized_21(1, 24576, false),
            normalized_21(2, -8192, true),
        ],
    );
    b.expect_line(|v| v["ioa"] == 2 && v["cot"] == 3, T);
    let mut c = c104_master(server.port, &["--ca", "1", "--no-gi"]);
    c.expect_event("open", T);
    assert_received(&read(&mut c, 1, "M_ME_ND_1"), 1, &type_21(24576));
    assert_received(&read(&mut c, 2, "M_ME_NA_1"), 2, &type_9_invalid(-8192));
}

/// The protection events c104 cannot decode (CP24Time2a, 17-19), at IOA
/// 130..=132.
fn cp24_protection_events() -> Vec<(u32, Element)> {
    let t24 = Cp24Time2a::new(15, 30_123, false);
    vec![
        (
            130,
            Element::M_EP_TA_1 {
                event: DoublePoint {
                    value: DoubleState::On,
                    quality: Quality::GOOD,
                },
                elapsed: Cp16Time2a(500),
                time: t24,
            },
        ),
        (
            131,
            Element::M_EP_TB_1 {
                start: StartEvents(0x03),
                quality: Quality::GOOD,
                duration: Cp16Time2a(250),
                time: t24,
            },
        ),
        (
            132,
            Element::M_EP_TC_1 {
                circuits: OutputCircuits(0x09),
                quality: Quality::GOOD,
                operating: Cp16Time2a(1234),
                time: t24,
            },
        ),
    ]
}

#[test]
fn protection_events_are_absent_from_a_gi_answer_and_present_on_read_and_spontaneously() {
    let valkey = ValkeyGuard::start();
    let image = station_points();
    write_points(&valkey, &image, Cause::SPONTANEOUS);
    write_points(&valkey, &cp24_protection_events(), Cause::SPONTANEOUS);
    let events: Vec<(u32, Element)> = image
        .iter()
        .filter(|(_, e)| is_protection_event(e.type_id()))
        .cloned()
        .collect();
    assert_eq!(events.len(), 3, "M_EP_TD_1, M_EP_TE_1, M_EP_TF_1");
    let server = Server::start(&valkey, &[]);
    let mut m = c104_master(server.port, &["--ca", "1", "--no-gi"]);
    m.expect_event("open", T);

    // Interrogation: every state, no event (none that c104 decodes, none
    // that it reports as unsupported).
    m.send(&json!({"op": "gi", "ca": CA}));
    let lines = m.lines_until(|v| v["event"] == "gi_done", T);
    assert_eq!(lines.last().expect("gi_done")["ok"], json!(true));
    let mut got: Vec<u64> = lines
        .iter()
        .filter(|v| v["event"] == "point")
        .map(|v| {
            assert_eq!(v["cot"], json!(20), "{v}");
            v["ioa"].as_u64().expect("ioa")
        })
        .collect();
    got.sort_unstable();
    let want: Vec<u64> = image
        .iter()
        .filter(|(_, e)| !is_counter(e.type_id()) && !is_protection_event(e.type_id()))
        .map(|(i, _)| u64::from(*i))
        .collect();
    assert_eq!(got, want, "the states only");
    let unsupported: Vec<&Value> = lines
        .iter()
        .filter(|v| v["event"] == "unsupported")
        .collect();
    assert!(unsupported.is_empty(), "no type 17-19: {unsupported:?}");

    // Read: each event in its own type, cause 5.
    for (ioa, e) in &events {
        assert_received(&read(&mut m, *ioa, e.type_id().mnemonic()), *ioa, e);
    }
    for (ioa, e) in cp24_protection_events() {
        // c104 needs a point of a type it knows to send the read; the
        // answer's type it reports as unsupported.
        m.send(&json!({"op": "read", "ca": CA, "ioa": ioa, "type": "M_EP_TD_1"}));
        let lines = m.lines_until(|v| v["event"] == "result" && v["op"] == "read", T);
        assert_eq!(
            lines.last().expect("result")["ok"],
            json!(true),
            "{lines:?}"
        );
        let answer = lines
            .iter()
            .find(|v| v["event"] == "unsupported" && v["ioa"] == ioa)
            .unwrap_or_else(|| panic!("IOA {ioa} answered: {lines:?}"));
        assert_eq!(
            (&answer["type"], &answer["cot"]),
            (&json!(e.type_id().mnemonic()), &json!(5)),
            "{answer}"
        );
    }

    // Spontaneously: a new event goes to the master at once.
    let new = Element::M_EP_TD_1 {
        event: DoublePoint {
            value: DoubleState::Off,
            quality: Quality::GOOD,
        },
        elapsed: Cp16Time2a(20),
        time: Cp56Time2a::from_unix_ms(TIME_MS + 60_000).expect("time"),
    };
    let ioa = events[0].0;
    write_points(&valkey, &[(ioa, new.clone())], Cause::SPONTANEOUS);
    let p = m.expect_line(|v| v["event"] == "point" && v["ioa"] == ioa, T);
    assert_eq!(p["cot"], json!(3), "{p}");
    assert_received(&p, ioa, &new);
}
