//! The station module (`alp_connex::station`) against the reference
//! implementation: a c104 (lib60870) master interrogates, reads,
//! synchronises the clock, tests and counter-interrogates; a broadcast
//! interrogation; the negative answers (unknown common address 46, unknown
//! IOA 47); and, from a raw TCP peer, what c104 cannot send: a reserved
//! type id (44) and a process command (negative confirmation).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use alp_connex::iec104::apci::{self, Apci, UFunction};
use alp_connex::iec104::asdu::Asdu;
use alp_connex::iec104::driver::Listener;
use alp_connex::iec104::elements::*;
use alp_connex::iec104::params::Params;
use alp_connex::iec104::time::Cp56Time2a;
use alp_connex::iec104::types::{Cause, Cot, Element, TypeId};
use alp_connex::station::{MemoryImage, Station, Update};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::broadcast;

use crate::interop::{assert_same_point, summary};
use crate::support::{Peer, c104_master};

const T: Duration = Duration::from_secs(20);

fn t56(offset_ms: i64) -> Cp56Time2a {
    Cp56Time2a::from_unix_ms(1_795_252_530_123 + offset_ms).expect("in range")
}

/// A small substation bay per station: breakers, alarms, a tap changer,
/// measurands (float, scaled, normalized) and two counters; `base` shifts
/// the values so that two stations differ.
fn bay(base: f32) -> Vec<(u32, Element)> {
    let good = Quality::GOOD;
    let mut p: Vec<(u32, Element)> = Vec::new();
    for i in 0..4u32 {
        p.push((
            1001 + i,
            Element::M_DP_TB_1 {
                value: DoublePoint {
                    value: if i % 2 == 0 {
                        DoubleState::On
                    } else {
                        DoubleState::Off
                    },
                    quality: good,
                },
                time: t56(i.into()),
            },
        ));
    }
    for i in 0..3u32 {
        p.push((
            2001 + i,
            Element::M_SP_TB_1 {
                value: SinglePoint {
                    value: i == 1,
                    quality: good,
                },
                time: t56(10),
            },
        ));
    }
    p.push((
        3001,
        Element::M_ST_TB_1 {
            value: StepPosition {
                value: 9,
                transient: false,
            },
            quality: good,
            time: t56(20),
        },
    ));
    for i in 0..10u32 {
        p.push((
            4001 + i,
            Element::M_ME_TF_1 {
                value: base + i as f32 * 0.5,
                quality: if i == 9 { Quality(Quality::NT) } else { good },
                time: t56(30),
            },
        ));
    }
    p.push((
        5001,
        Element::M_ME_TE_1 {
            value: -1234,
            quality: good,
            time: t56(40),
        },
    ));
    p.push((
        5002,
        Element::M_ME_TD_1 {
            value: Normalized(16384),
            quality: good,
            time: t56(41),
        },
    ));
    for i in 0..2u32 {
        p.push((
            6001 + i,
            Element::M_IT_TB_1 {
                value: BinaryCounter {
                    value: 100_000 + i as i32,
                    sequence: 3,
                    ..BinaryCounter::default()
                },
                time: t56(50),
            },
        ));
    }
    p
}

fn is_counter(e: &Element) -> bool {
    e.type_id() == TypeId::M_IT_TB_1
}

fn image(cas: &[u16]) -> MemoryImage {
    let img = MemoryImage::new(cas.iter().copied());
    for &ca in cas {
        for (ioa, e) in bay(f32::from(ca) * 100.0) {
            img.insert(ca, ioa, e);
        }
    }
    img
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Our station serving `cas` on a free port.
fn start(
    cas: &[u16],
) -> (
    tokio::runtime::Runtime,
    SocketAddr,
    broadcast::Sender<Update>,
) {
    let rt = runtime();
    let listener = rt
        .block_on(Listener::bind(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            Params::default(),
        ))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, _) = broadcast::channel(64);
    let station = Station::new(Arc::new(image(cas)), tx.clone());
    rt.spawn(station.serve(listener));
    (rt, addr, tx)
}

fn master(addr: SocketAddr, cas: &[u16]) -> Peer {
    let mut args: Vec<String> = vec!["--no-gi".into()];
    for ca in cas {
        args.extend(["--ca".into(), ca.to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut m = c104_master(addr.port(), &args);
    m.expect_event("open", T);
    m
}

/// The points of the lines, by (ca, ioa).
fn points(lines: &[Value]) -> BTreeMap<(u64, u64), Value> {
    let mut out = BTreeMap::new();
    for v in lines.iter().filter(|v| v["event"] == "point") {
        let key = (
            v["ca"].as_u64().expect("ca"),
            v["ioa"].as_u64().expect("ioa"),
        );
        assert!(out.insert(key, v.clone()).is_none(), "{key:?} twice");
    }
    out
}

fn check_interrogation(got: &BTreeMap<(u64, u64), Value>, ca: u16) {
    let want: Vec<(u32, Element)> = bay(f32::from(ca) * 100.0)
        .into_iter()
        .filter(|(_, e)| !is_counter(e))
        .collect();
    let of_ca: Vec<&Value> = got
        .iter()
        .filter(|((c, _), _)| *c == u64::from(ca))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(of_ca.len(), want.len(), "every point of CA {ca} once");
    for (ioa, e) in want {
        let g = &got[&(u64::from(ca), u64::from(ioa))];
        assert_eq!(g["cot"], json!(20), "{g}");
        assert_same_point(g, &summary(ioa, &e.untimed()));
    }
}

#[test]
fn c104_master_interrogates_reads_synchronises_tests_and_counts() {
    let (_rt, addr, _tx) = start(&[1]);
    let mut m = master(addr, &[1]);
    m.send(&json!({"op": "gi", "ca": 1}));
    let lines = m.lines_until(|v| v["event"] == "gi_done", T);
    assert_eq!(lines.last().expect("done")["ok"], json!(true));
    let got = points(&lines);
    check_interrogation(&got, 1);
    // The consecutive floats came SQ=1, the run of four breakers too.
    assert_eq!(got[&(1, 4001)]["sq"], json!(true));
    assert_eq!(got[&(1, 1001)]["sq"], json!(true));

    // Read: the point in its own type, time tag included, cause 5. (A
    // point the GI brought untimed would not reach c104's callback in its
    // timed type, so a counter is read.)
    m.send(&json!({"op": "read", "ca": 1, "ioa": 6001, "type": "M_IT_TB_1"}));
    let p = m.expect_event("point", T);
    assert_eq!(p["cot"], json!(5), "{p}");
    let (_, want) = bay(100.0)
        .into_iter()
        .find(|(i, _)| *i == 6001)
        .expect("6001");
    assert_same_point(&p, &summary(6001, &want));
    let read = m.expect_line(|v| v["event"] == "result" && v["op"] == "read", T);
    assert_eq!(read["ok"], json!(true));

    m.op(json!({"op": "clock_sync", "ca": 1}), T);
    m.op(json!({"op": "test", "ca": 1}), T);

    m.send(&json!({"op": "counter_interrogation", "ca": 1}));
    let lines = m.lines_until(|v| v["event"] == "ci_done", T);
    assert_eq!(lines.last().expect("done")["ok"], json!(true));
    let counters = points(&lines);
    assert_eq!(counters.len(), 2, "{lines:?}");
    for (ioa, e) in bay(100.0).into_iter().filter(|(_, e)| is_counter(e)) {
        let g = &counters[&(1, u64::from(ioa))];
        assert_eq!(g["cot"], json!(37));
        assert_same_point(g, &summary(ioa, &e));
    }
}

#[test]
fn c104_master_broadcast_interrogation_is_answered_by_every_station() {
    let (_rt, addr, _tx) = start(&[1, 2]);
    let mut m = master(addr, &[1, 2]);
    m.send(&json!({"op": "gi", "ca": 65535}));
    let mut terms = Vec::new();
    let lines = m.lines_until(
        |v| {
            if v["event"] == "response" && v["type"] == "C_IC_NA_1" && v["cot"] == 10 {
                terms.push(v["ca"].clone());
            }
            terms.len() == 2
        },
        T,
    );
    assert_eq!(
        terms,
        [json!(1), json!(2)],
        "ACT_TERM per station, own address"
    );
    let cons: Vec<&Value> = lines
        .iter()
        .filter(|v| v["event"] == "response" && v["cot"] == 7)
        .collect();
    assert_eq!(cons.len(), 2, "ACT_CON per station: {cons:?}");
    let got = points(&lines);
    check_interrogation(&got, 1);
    check_interrogation(&got, 2);
}

#[test]
fn c104_master_gets_46_for_an_unknown_station_and_47_for_an_unknown_ioa() {
    let (_rt, addr, _tx) = start(&[1]);
    let mut m = master(addr, &[1, 7]);
    m.send(&json!({"op": "gi", "ca": 7}));
    let r = m.expect_line(|v| v["event"] == "response" && v["type"] == "C_IC_NA_1", T);
    assert_eq!(
        (&r["cot"], &r["negative"]),
        (&json!(46), &json!(true)),
        "{r}"
    );
    let done = m.expect_line(|v| v["event"] == "result" && v["op"] == "gi", T);
    assert_eq!(done["ok"], json!(false));

    m.send(&json!({"op": "read", "ca": 1, "ioa": 9999, "type": "M_ME_TF_1"}));
    let r = m.expect_line(|v| v["event"] == "response" && v["type"] == "C_RD_NA_1", T);
    assert_eq!(
        (&r["cot"], &r["negative"]),
        (&json!(47), &json!(true)),
        "{r}"
    );
    let done = m.expect_line(|v| v["event"] == "result" && v["op"] == "read", T);
    assert_eq!(done["ok"], json!(false));
    // The link stays up: a GI of the known station still works.
    m.op(json!({"op": "gi", "ca": 1}), T);
}

/// A raw peer: STARTDT, then I-frames it numbers itself.
struct Raw {
    stream: TcpStream,
    send_seq: u16,
    recv_seq: u16,
}

impl Raw {
    async fn started(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).await.expect("connects");
        let mut raw = Raw {
            stream,
            send_seq: 0,
            recv_seq: 0,
        };
        let mut out = Vec::new();
        apci::encode_u(UFunction::StartDtAct, &mut out);
        raw.stream.write_all(&out).await.expect("written");
        assert_eq!(raw.frame().await.0, Apci::U(UFunction::StartDtCon));
        raw
    }

    async fn frame(&mut self) -> (Apci, Vec<u8>) {
        let mut header = [0u8; 2];
        tokio::time::timeout(T, self.stream.read_exact(&mut header))
            .await
            .expect("a frame in time")
            .expect("read");
        let mut frame = header.to_vec();
        frame.resize(2 + usize::from(header[1]), 0);
        self.stream.read_exact(&mut frame[2..]).await.expect("read");
        let (apdu, _) = apci::decode_frame(&frame)
            .expect("well formed")
            .expect("whole");
        (apdu.apci, apdu.asdu.to_vec())
    }

    async fn send(&mut self, asdu: &[u8]) {
        let mut out = Vec::new();
        apci::encode_i(self.send_seq, self.recv_seq, asdu, &mut out).expect("frame");
        self.send_seq += 1;
        self.stream.write_all(&out).await.expect("written");
    }

    /// The next ASDU, skipping S-frames.
    async fn asdu(&mut self) -> Vec<u8> {
        loop {
            match self.frame().await {
                (Apci::I { .. }, asdu) => {
                    self.recv_seq += 1;
                    return asdu;
                }
                (Apci::S { .. }, _) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

#[test]
fn a_reserved_type_is_mirrored_with_44_and_a_command_is_refused() {
    let (rt, addr, _tx) = start(&[1]);
    rt.block_on(async {
        let mut raw = Raw::started(addr).await;
        // Type 44 (reserved), cause 6, CA 1, IOA 1, one octet.
        let reserved = [44u8, 0x01, 0x06, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x5A];
        raw.send(&reserved).await;
        let mut want = reserved.to_vec();
        want[2] = 0x40 | 44;
        assert_eq!(raw.asdu().await, want, "mirrored, cause 44, P/N set");

        let close = Asdu::single(
            Cot::new(Cause::ACTIVATION),
            1,
            1001,
            Element::C_DC_NA_1 {
                command: DoubleCommand::new(DoubleState::On, 0, false),
            },
        );
        raw.send(&close.to_bytes().expect("encodes")).await;
        let answer = Asdu::decode(&raw.asdu().await).expect("decodes");
        assert_eq!(answer, close.reply(Cause::ACTIVATION_CON, true));
    });
}
