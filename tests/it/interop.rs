//! Interoperability with the reference implementation: lib60870 through
//! the `c104` package (tests/peers/), in both directions.
//!
//! - our controlling-station driver against a c104 server (RTU): every
//!   monitor type c104 can serve, by general interrogation and
//!   spontaneously, compared value by value, quality bit by bit, time tag by
//!   time tag;
//! - a c104 client (SCADA master) against a controlled station built from
//!   our link engine and codec: interrogation (SQ=1 and SQ=0 answers), read,
//!   clock synchronisation, test command, counter interrogation and test
//!   frames.
//!
//! Each point is described once as an [`Element`]; [`summary`] renders it in
//! the JSON shape the peer scripts speak, so the expectation on one side is
//! exactly what the other side was given.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use alp_connex::iec104::asdu::{self, Asdu, InformationObject};
use alp_connex::iec104::driver::{self, Connection};
use alp_connex::iec104::elements::*;
use alp_connex::iec104::link::Event;
use alp_connex::iec104::params::Params;
use alp_connex::iec104::time::{Cp16Time2a, Cp56Time2a};
use alp_connex::iec104::types::{Cause, Cot, Element, TypeId};
use serde_json::{Value, json};

use crate::support::free_port;
use crate::support::{Peer, c104_master, c104_rtu};

const T: Duration = Duration::from_secs(20);
/// 2026-11-21 09:15:30.123 UTC.
const TIME_MS: i64 = 1_795_252_530_123;
const CA: u16 = 1;

fn t56(offset_ms: i64) -> Cp56Time2a {
    Cp56Time2a::from_unix_ms(TIME_MS + offset_ms).expect("in range")
}

/// One point of every monitor type c104 serves, at IOA 100 upwards.
fn points() -> Vec<(u32, Element)> {
    use Element::*;
    let q = Quality;
    let sp = |value, b| SinglePoint {
        value,
        quality: q(b),
    };
    let dp = |value, b| DoublePoint {
        value,
        quality: q(b),
    };
    let step = |value, transient| StepPosition { value, transient };
    let bcr = |value, sequence, invalid| BinaryCounter {
        value,
        sequence,
        carry: false,
        adjusted: false,
        invalid,
    };
    let elements = vec![
        M_SP_NA_1 { value: sp(true, 0) },
        M_SP_TB_1 {
            value: sp(false, 0x10),
            time: t56(1),
        },
        M_DP_NA_1 {
            value: dp(DoubleState::On, 0),
        },
        M_DP_TB_1 {
            value: dp(DoubleState::Off, 0x40),
            time: t56(2),
        },
        M_ST_NA_1 {
            value: step(-5, true),
            quality: q(0),
        },
        M_ST_TB_1 {
            value: step(17, false),
            quality: q(0x80),
            time: t56(3),
        },
        M_BO_NA_1 {
            value: 0xDEAD_BEEF,
            quality: q(0),
        },
        M_BO_TB_1 {
            value: 0x0102_0304,
            quality: q(0),
            time: t56(4),
        },
        M_ME_NA_1 {
            value: Normalized(16384),
            quality: q(0),
        },
        M_ME_TD_1 {
            value: Normalized(-8192),
            quality: q(0x80),
            time: t56(5),
        },
        M_ME_ND_1 {
            value: Normalized(24576),
        },
        M_ME_NB_1 {
            value: -1234,
            quality: q(0x01),
        },
        M_ME_TE_1 {
            value: 32767,
            quality: q(0),
            time: t56(6),
        },
        M_ME_NC_1 {
            value: 230.5,
            quality: q(0),
        },
        M_ME_TF_1 {
            value: -0.1,
            quality: q(0x20),
            time: t56(7),
        },
        M_IT_NA_1 {
            value: bcr(123_456, 3, false),
        },
        M_IT_TB_1 {
            value: bcr(-7, 31, true),
            time: t56(8),
        },
        M_PS_NA_1 {
            value: StatusChanges {
                status: 0x8001,
                changes: 0x0100,
            },
            quality: q(0),
        },
        M_EP_TD_1 {
            event: dp(DoubleState::On, 0),
            elapsed: Cp16Time2a(500),
            time: t56(9),
        },
        M_EP_TE_1 {
            start: StartEvents(0x03),
            quality: q(0),
            duration: Cp16Time2a(250),
            time: t56(10),
        },
        M_EP_TF_1 {
            circuits: OutputCircuits(0x09),
            quality: q(0),
            operating: Cp16Time2a(1234),
            time: t56(11),
        },
    ];
    (100..).zip(elements).collect()
}

fn is_counter(t: TypeId) -> bool {
    matches!(t, TypeId::M_IT_NA_1 | TypeId::M_IT_TB_1)
}

/// The types c104 2.2.1 puts into its interrogation answer; it sends
/// M_ME_ND_1, M_PS_NA_1 and M_EP_* only spontaneously, integrated totals
/// only by counter interrogation (tests/peers/README.md).
fn in_c104_interrogation(t: TypeId) -> bool {
    use TypeId::*;
    matches!(
        t,
        M_SP_NA_1
            | M_SP_TB_1
            | M_DP_NA_1
            | M_DP_TB_1
            | M_ST_NA_1
            | M_ST_TB_1
            | M_BO_NA_1
            | M_BO_TB_1
            | M_ME_NA_1
            | M_ME_TD_1
            | M_ME_NB_1
            | M_ME_TE_1
            | M_ME_NC_1
            | M_ME_TF_1
    )
}

/// The peer scripts' JSON shape of one point: type, value, quality (raw
/// bits without value bits), time_ms, and the extras of the type.
pub(crate) fn summary(ioa: u32, e: &Element) -> Value {
    use Element::*;
    let time = |t: &Cp56Time2a| json!(t.to_unix_ms().ok());
    let mut v = match e {
        M_SP_NA_1 { value } => json!({"value": value.value, "quality": value.quality.0}),
        M_SP_TB_1 { value, time: t } => {
            json!({"value": value.value, "quality": value.quality.0, "time_ms": time(t)})
        }
        M_DP_NA_1 { value } => json!({"value": value.value.bits(), "quality": value.quality.0}),
        M_DP_TB_1 { value, time: t } => {
            json!({"value": value.value.bits(), "quality": value.quality.0, "time_ms": time(t)})
        }
        M_ST_NA_1 { value, quality } => {
            json!({"value": value.value, "transient": value.transient, "quality": quality.0})
        }
        M_ST_TB_1 {
            value,
            quality,
            time: t,
        } => json!({"value": value.value,
            "transient": value.transient, "quality": quality.0, "time_ms": time(t)}),
        M_BO_NA_1 { value, quality } => json!({"value": value, "quality": quality.0}),
        M_BO_TB_1 {
            value,
            quality,
            time: t,
        } => {
            json!({"value": value, "quality": quality.0, "time_ms": time(t)})
        }
        M_ME_NA_1 { value, quality } => json!({"value": value.to_f64(), "quality": quality.0}),
        M_ME_TD_1 {
            value,
            quality,
            time: t,
        } => {
            json!({"value": value.to_f64(), "quality": quality.0, "time_ms": time(t)})
        }
        M_ME_ND_1 { value } => json!({"value": value.to_f64(), "quality": 0}),
        M_ME_NB_1 { value, quality } => json!({"value": value, "quality": quality.0}),
        M_ME_TE_1 {
            value,
            quality,
            time: t,
        } => {
            json!({"value": value, "quality": quality.0, "time_ms": time(t)})
        }
        M_ME_NC_1 { value, quality } => json!({"value": f64::from(*value), "quality": quality.0}),
        M_ME_TF_1 {
            value,
            quality,
            time: t,
        } => {
            json!({"value": f64::from(*value), "quality": quality.0, "time_ms": time(t)})
        }
        M_IT_NA_1 { value } => json!({"value": value.value, "sequence": value.sequence,
            "quality": bcr_flags(value)}),
        M_IT_TB_1 { value, time: t } => json!({"value": value.value, "sequence": value.sequence,
            "quality": bcr_flags(value), "time_ms": time(t)}),
        M_PS_NA_1 { value, quality } => {
            json!({"value": value.status, "changed": value.changes, "quality": quality.0})
        }
        M_EP_TD_1 {
            event,
            elapsed,
            time: t,
        } => json!({"value": event.value.bits(),
            "elapsed_ms": elapsed.0, "quality": event.quality.0, "time_ms": time(t)}),
        M_EP_TE_1 {
            start,
            quality,
            duration,
            time: t,
        } => json!({"value": start.0,
            "duration_ms": duration.0, "quality": quality.0, "time_ms": time(t)}),
        M_EP_TF_1 {
            circuits,
            quality,
            operating,
            time: t,
        } => json!({"value": circuits.0,
            "duration_ms": operating.0, "quality": quality.0, "time_ms": time(t)}),
        other => panic!("no summary for {:?}", other.type_id()),
    };
    v["ioa"] = json!(ioa);
    v["type"] = json!(e.type_id().mnemonic());
    if v.get("time_ms").is_none() {
        v["time_ms"] = Value::Null;
    }
    v
}

fn bcr_flags(b: &BinaryCounter) -> u8 {
    let mut f = 0;
    if b.carry {
        f |= 0x20;
    }
    if b.adjusted {
        f |= 0x40;
    }
    if b.invalid {
        f |= 0x80;
    }
    f
}

/// Compares two summaries: equal, but normalized values within one step of
/// 1/32768 (lib60870 scales them by 32767.5), and the peer's extra fields
/// (cot, sq, ca, event) ignored.
pub(crate) fn assert_same_point(got: &Value, want: &Value) {
    for (k, w) in want.as_object().expect("object") {
        let g = &got[k.as_str()];
        let close = match (k.as_str(), g.as_f64(), w.as_f64()) {
            ("value", Some(a), Some(b)) if want["type"].as_str().is_some_and(is_normalized) => {
                (a - b).abs() <= 1.0 / 32767.0
            }
            _ => g == w,
        };
        assert!(
            close,
            "field {k}: got {g}, want {w}\n got  {got}\n want {want}"
        );
    }
}

fn is_normalized(t: &str) -> bool {
    matches!(t, "M_ME_NA_1" | "M_ME_TD_1" | "M_ME_ND_1")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

async fn next_asdu(conn: &mut Connection) -> Asdu {
    loop {
        match tokio::time::timeout(T, conn.recv()).await {
            Ok(Some(Event::Asdu(raw))) => match Asdu::decode(&raw) {
                Ok(a) => return a,
                Err(e) => panic!("c104 sent an ASDU we cannot decode ({e}): {raw:02x?}"),
            },
            Ok(Some(Event::Closed(r))) => panic!("link closed: {r:?}"),
            Ok(Some(_)) => {}
            Ok(None) => panic!("connection task ended"),
            Err(_) => panic!("no ASDU within {T:?}"),
        }
    }
}

async fn started(addr: SocketAddr) -> Connection {
    let mut conn = driver::connect(addr, Params::default())
        .await
        .unwrap_or_else(|e| panic!("connect to c104 at {addr}: {e}"));
    loop {
        match tokio::time::timeout(T, conn.recv()).await {
            Ok(Some(Event::DataTransferStarted)) => return conn,
            Ok(Some(Event::Closed(r))) => panic!("closed before STARTDT con: {r:?}"),
            Ok(Some(_)) => {}
            other => panic!("no STARTDT con: {other:?}"),
        }
    }
}

fn command(type_id_element: Element, cause: Cause, ca: u16) -> Vec<u8> {
    Asdu::single(Cot::new(cause), ca, 0, type_id_element)
        .to_bytes()
        .expect("command encodes")
}

fn rtu_with_every_type(port: u16) -> Peer {
    let mut rtu = c104_rtu(port, &["--ca", "1"]);
    let specs: Vec<Value> = station_points()
        .iter()
        .map(|(ioa, e)| summary(*ioa, e))
        .collect();
    rtu.op(json!({"op": "add", "ca": CA, "points": specs}), T);
    rtu
}

#[test]
fn our_client_receives_every_c104_monitor_type_by_interrogation() {
    let port = free_port();
    let _rtu = rtu_with_every_type(port);
    let rt = runtime();
    let (received, sequences) = rt.block_on(async {
        let mut conn = started(loopback(port)).await;
        let gi = Element::C_IC_NA_1 {
            qualifier: Qoi::STATION,
        };
        conn.send(command(gi, Cause::ACTIVATION, CA))
            .await
            .expect("GI sent");
        let con = next_asdu(&mut conn).await;
        assert_eq!(
            (con.type_id, con.cot),
            (TypeId::C_IC_NA_1, Cot::new(Cause::ACTIVATION_CON))
        );
        let mut received = BTreeMap::new();
        let mut sequences = 0;
        loop {
            let a = next_asdu(&mut conn).await;
            if a.type_id == TypeId::C_IC_NA_1 {
                assert_eq!(a.cot, Cot::new(Cause::ACTIVATION_TERMINATION));
                break;
            }
            assert_eq!(a.cot.cause, Cause::INTERROGATED, "{a}");
            assert_eq!(a.common_address, CA);
            sequences += usize::from(a.sequence);
            for o in &a.objects {
                assert!(
                    received.insert(o.ioa, summary(o.ioa, &o.element)).is_none(),
                    "IOA {} twice",
                    o.ioa
                );
            }
        }
        conn.close().await;
        (received, sequences)
    });
    let expected: Vec<(u32, Element)> = station_points()
        .into_iter()
        .filter(|(_, e)| in_c104_interrogation(e.type_id()))
        .collect();
    assert_eq!(
        received.keys().copied().collect::<Vec<_>>(),
        expected.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        "every point once, nothing else"
    );
    for (ioa, e) in &expected {
        let got = &received[ioa];
        let mut want = summary(*ioa, e);
        // The answer may come in the type without time tag.
        if got["type"] != want["type"] {
            assert_eq!(
                got["type"],
                json!(e.type_id().untimed().mnemonic()),
                "IOA {ioa}"
            );
            want["type"] = got["type"].clone();
            want["time_ms"] = Value::Null;
        }
        assert_same_point(got, &want);
    }
    // c104 sets SQ=1 for consecutive addresses (even a single object): at
    // least the run 200..210 came as one SQ=1 ASDU.
    assert!(sequences >= 1, "c104 sent no SQ=1 ASDU");
}

#[test]
fn our_client_receives_every_c104_monitor_type_spontaneously() {
    let port = free_port();
    let mut rtu = rtu_with_every_type(port);
    let rt = runtime();
    let mut conn = rt.block_on(started(loopback(port)));
    let all: Vec<u32> = station_points().iter().map(|(i, _)| *i).collect();
    rtu.send(&json!({"op": "transmit", "cause": "SPONTANEOUS", "ca": CA, "ioas": all}));
    let sent = rtu.expect_event("transmitted", T);
    assert_eq!(
        sent["on_wire"],
        json!(all.len()),
        "c104 put every point on the wire: {sent}"
    );
    let (received, sequences) = rt.block_on(async {
        let mut received = Vec::new();
        let mut sequences = 0;
        while received.len() < all.len() {
            let a = next_asdu(&mut conn).await;
            assert_eq!(a.cot, Cot::new(Cause::SPONTANEOUS), "{a}");
            sequences += usize::from(a.sequence && a.objects.len() > 1);
            received.extend(a.objects.iter().map(|o| summary(o.ioa, &o.element)));
        }
        (received, sequences)
    });
    // In order, each in its own type, time tags included.
    assert_eq!(received.len(), all.len());
    for ((ioa, e), got) in station_points().iter().zip(&received) {
        assert_same_point(got, &summary(*ioa, e));
    }
    assert_eq!(
        sequences, 1,
        "the ten consecutive floats came as one SQ=1 ASDU"
    );
}

#[test]
fn our_client_keeps_an_idle_link_alive_with_test_frames_answered_by_c104() {
    let port = free_port();
    let mut rtu = rtu_with_every_type(port);
    let rt = runtime();
    let params = Params {
        t1: Duration::from_secs(2),
        t2: Duration::from_secs(1),
        t3: Duration::from_secs(1),
        ..Params::default()
    };
    let mut conn = rt.block_on(async {
        let mut conn = driver::connect(loopback(port), params)
            .await
            .expect("connects");
        match tokio::time::timeout(T, conn.recv()).await {
            Ok(Some(Event::DataTransferStarted)) => conn,
            other => panic!("no STARTDT con: {other:?}"),
        }
    });
    // An unanswered TESTFR act closes the link after t1 = 2 s, before a
    // fourth act (t3 = 1 s apart) could be sent: four acts mean c104 answered.
    for _ in 0..4 {
        rtu.expect_line(|v| v["event"] == "u_frame" && v["frame"] == "TESTFR_ACT", T);
    }
    rt.block_on(async {
        let gi = Element::C_IC_NA_1 {
            qualifier: Qoi::STATION,
        };
        conn.send(command(gi, Cause::ACTIVATION, CA))
            .await
            .expect("link still up");
        let con = next_asdu(&mut conn).await;
        assert_eq!(con.cot, Cot::new(Cause::ACTIVATION_CON));
    });
}

// --- a c104 master against our controlled station ---

/// What the station saw, for the test to check.
#[derive(Debug, Default)]
struct Seen {
    commands: Vec<Asdu>,
}

/// The points our station serves: every monitor type (100..120) plus ten
/// consecutive floats (200..210), which the interrogation answer packs SQ=1.
fn station_points() -> Vec<(u32, Element)> {
    let mut p = points();
    p.extend((200..210).map(|i| {
        (
            i,
            Element::M_ME_NC_1 {
                value: i as f32 / 4.0,
                quality: Quality::GOOD,
            },
        )
    }));
    p
}

/// The element in the type without time tag, as interrogation answers
/// carry it; types that have none stay as they are.
fn untimed(e: &Element) -> Element {
    use Element::*;
    match e.clone() {
        M_SP_TB_1 { value, .. } => M_SP_NA_1 { value },
        M_DP_TB_1 { value, .. } => M_DP_NA_1 { value },
        M_ST_TB_1 { value, quality, .. } => M_ST_NA_1 { value, quality },
        M_BO_TB_1 { value, quality, .. } => M_BO_NA_1 { value, quality },
        M_ME_TD_1 { value, quality, .. } => M_ME_NA_1 { value, quality },
        M_ME_TE_1 { value, quality, .. } => M_ME_NB_1 { value, quality },
        M_ME_TF_1 { value, quality, .. } => M_ME_NC_1 { value, quality },
        M_IT_TB_1 { value, .. } => M_IT_NA_1 { value },
        other => other,
    }
}

/// Objects in ascending IOA, cut into runs of one type, each run packed.
fn answer(points: &[(u32, Element)], cause: Cause) -> Vec<Vec<u8>> {
    let mut sorted: Vec<&(u32, Element)> = points.iter().collect();
    sorted.sort_by_key(|(i, _)| *i);
    let mut out = Vec::new();
    let mut run: Vec<InformationObject> = Vec::new();
    let mut flush = |run: &mut Vec<InformationObject>| {
        if let Some(t) = run.first().map(|o| o.element.type_id()) {
            let asdus = asdu::pack(t, Cot::new(cause), CA, std::mem::take(run)).expect("packs");
            out.extend(asdus.iter().map(|a| a.to_bytes().expect("encodes")));
        }
    };
    for (ioa, e) in sorted {
        if run
            .last()
            .is_some_and(|o| o.element.type_id() != e.type_id())
        {
            flush(&mut run);
        }
        run.push(InformationObject::new(*ioa, e.clone()));
    }
    flush(&mut run);
    out
}

/// A minimal controlled station on our link engine and codec: answers
/// interrogation, counter interrogation, read, clock synchronisation and
/// the test command as IEC 60870-5-101 §7.4 lays down; unknown types with
/// cause 44, unknown addresses with 47.
async fn station(listener: driver::Listener, seen: std::sync::Arc<std::sync::Mutex<Seen>>) {
    let Ok(mut conn) = listener.accept().await else {
        return;
    };
    let points = station_points();
    while let Some(ev) = conn.recv().await {
        let Event::Asdu(raw) = ev else {
            continue;
        };
        let cmd = match Asdu::decode(&raw) {
            Ok(a) => a,
            Err(asdu::AsduError::UnknownType(_)) => {
                let _ = conn
                    .send(asdu::mirror(&raw, Cause::UNKNOWN_TYPE, true).expect("mirror"))
                    .await;
                continue;
            }
            Err(e) => panic!("c104 sent a malformed ASDU ({e}): {raw:02x?}"),
        };
        if let Ok(mut s) = seen.lock() {
            s.commands.push(cmd.clone());
        }
        let mut replies: Vec<Vec<u8>> = Vec::new();
        let reply = |a: &Asdu, c: Cause, neg: bool| a.reply(c, neg).to_bytes().expect("encodes");
        match cmd.type_id {
            TypeId::C_IC_NA_1 => {
                replies.push(reply(&cmd, Cause::ACTIVATION_CON, false));
                let gi: Vec<(u32, Element)> = points
                    .iter()
                    .filter(|(_, e)| !is_counter(e.type_id()))
                    .map(|(i, e)| (*i, untimed(e)))
                    .collect();
                replies.extend(answer(&gi, Cause::INTERROGATED));
                replies.push(reply(&cmd, Cause::ACTIVATION_TERMINATION, false));
            }
            TypeId::C_CI_NA_1 => {
                replies.push(reply(&cmd, Cause::ACTIVATION_CON, false));
                let counters: Vec<(u32, Element)> = points
                    .iter()
                    .filter(|(_, e)| is_counter(e.type_id()))
                    .cloned()
                    .collect();
                replies.extend(answer(&counters, Cause::COUNTER_REQUEST));
                replies.push(reply(&cmd, Cause::ACTIVATION_TERMINATION, false));
            }
            TypeId::C_RD_NA_1 => {
                let ioa = cmd.objects.first().map(|o| o.ioa).unwrap_or(0);
                match points.iter().find(|(i, _)| *i == ioa) {
                    Some((i, e)) => replies.push(
                        Asdu::single(Cot::new(Cause::REQUEST), CA, *i, e.clone())
                            .to_bytes()
                            .expect("encodes"),
                    ),
                    None => replies.push(reply(&cmd, Cause::UNKNOWN_IOA, true)),
                }
            }
            TypeId::C_CS_NA_1 | TypeId::C_TS_TA_1 => {
                replies.push(reply(&cmd, Cause::ACTIVATION_CON, false));
            }
            _ => replies.push(reply(&cmd, Cause::UNKNOWN_TYPE, true)),
        }
        for r in replies {
            if conn.send(r).await.is_err() {
                return;
            }
        }
    }
}

fn master_against_our_station() -> (
    tokio::runtime::Runtime,
    Peer,
    std::sync::Arc<std::sync::Mutex<Seen>>,
) {
    master_against_our_station_with(&[])
}

fn master_against_our_station_with(
    args: &[&str],
) -> (
    tokio::runtime::Runtime,
    Peer,
    std::sync::Arc<std::sync::Mutex<Seen>>,
) {
    let rt = runtime();
    let listener = rt
        .block_on(driver::Listener::bind(loopback(0), Params::default()))
        .expect("bind");
    let port = listener.local_addr().expect("local addr").port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Seen::default()));
    rt.spawn(station(listener, seen.clone()));
    let mut all = vec!["--ca", "1", "--no-gi"];
    all.extend_from_slice(args);
    let mut master = c104_master(port, &all);
    master.expect_event("open", T);
    (rt, master, seen)
}

#[test]
fn c104_master_interrogates_our_station_and_gets_every_point_sq0_and_sq1() {
    let (_rt, mut master, seen) = master_against_our_station();
    master.send(&json!({"op": "gi", "ca": CA}));
    let lines = master.lines_until(|v| v["event"] == "gi_done", T);
    let done = lines.last().expect("gi_done");
    assert_eq!(done["ok"], json!(true), "{done}");
    let got: BTreeMap<u64, &Value> = lines
        .iter()
        .filter(|v| v["event"] == "point")
        .map(|v| (v["ioa"].as_u64().expect("ioa"), v))
        .collect();
    let want: Vec<(u32, Element)> = station_points()
        .into_iter()
        .filter(|(_, e)| !is_counter(e.type_id()))
        .collect();
    assert_eq!(got.len(), want.len(), "every point once: {got:?}");
    for (ioa, e) in &want {
        let g = got[&u64::from(*ioa)];
        assert_eq!(g["cot"], json!(20), "{g}");
        assert_same_point(g, &summary(*ioa, &untimed(e)));
    }
    let sq1: Vec<u64> = got
        .iter()
        .filter(|(_, v)| v["sq"] == json!(true))
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(
        sq1,
        (200..210).collect::<Vec<u64>>(),
        "the consecutive floats came SQ=1"
    );
    let gi = &seen.lock().expect("seen").commands[0];
    assert_eq!(
        (gi.type_id, gi.cot.cause),
        (TypeId::C_IC_NA_1, Cause::ACTIVATION)
    );
}

#[test]
fn c104_master_reads_synchronises_tests_and_counts_against_our_station() {
    let (_rt, mut master, seen) = master_against_our_station();
    // Read: the point in its own type, cause 5.
    master.send(&json!({"op": "read", "ca": CA, "ioa": 114, "type": "M_ME_TF_1"}));
    let p = master.expect_event("point", T);
    let want = points()
        .into_iter()
        .find(|(i, _)| *i == 114)
        .expect("point 114");
    assert_eq!(p["cot"], json!(5), "{p}");
    assert_same_point(&p, &summary(114, &want.1));
    // Clock synchronisation and test command: confirmed.
    master.op(json!({"op": "clock_sync", "ca": CA}), T);
    master.op(json!({"op": "test", "ca": CA}), T);
    // Counter interrogation: the integrated totals with cause 37.
    master.send(&json!({"op": "counter_interrogation", "ca": CA}));
    let lines = master.lines_until(|v| v["event"] == "ci_done", T);
    let counters: Vec<&Value> = lines.iter().filter(|v| v["event"] == "point").collect();
    assert_eq!(counters.len(), 2, "{lines:?}");
    for c in counters {
        assert_eq!(c["cot"], json!(37));
        let ioa = c["ioa"].as_u64().expect("ioa");
        let (_, e) = points()
            .into_iter()
            .find(|(i, _)| u64::from(*i) == ioa)
            .expect("known");
        assert_same_point(c, &summary(ioa as u32, &e));
    }
    let types: Vec<TypeId> = seen
        .lock()
        .expect("seen")
        .commands
        .iter()
        .map(|a| a.type_id)
        .collect();
    assert_eq!(
        types,
        [
            TypeId::C_RD_NA_1,
            TypeId::C_CS_NA_1,
            TypeId::C_TS_TA_1,
            TypeId::C_CI_NA_1
        ]
    );
    // The clock synchronisation carried a valid time tag of today.
    let cs = &seen.lock().expect("seen").commands[1];
    match &cs.objects[0].element {
        Element::C_CS_NA_1 { time } => assert!(time.to_unix_ms().is_ok(), "{time}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn c104_master_test_frames_are_answered_by_our_station() {
    let (_rt, mut master, _seen) =
        master_against_our_station_with(&["--t1", "2", "--t2", "1", "--t3", "1"]);
    // c104 sends TESTFR act after t3 = 1 s idle; each con proves an answer.
    for _ in 0..3 {
        master.expect_line(|v| v["event"] == "u_frame" && v["frame"] == "TESTFR_CON", T);
    }
    master.op(json!({"op": "test", "ca": CA}), T);
    master.drain();
    assert!(
        !master.history().iter().any(|v| v["event"] == "closed"),
        "the link stayed up"
    );
}
