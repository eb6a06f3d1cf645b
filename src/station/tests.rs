//! The station's answers without sockets (`request::handle`), then over
//! loopback TCP with our own controlling-station driver and raw peers:
//! streaming under the k window, updates, lag, STOPDT, malformed input.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::broadcast;

use super::request::{self, Action, Kind, Malformed};
use super::*;
use crate::iec104::apci::{self, Apci, UFunction};
use crate::iec104::asdu::{AsduError, InformationObject};
use crate::iec104::driver;
use crate::iec104::elements::*;
use crate::iec104::params::Params;
use crate::iec104::time::{Cp16Time2a, Cp24Time2a, Cp56Time2a};
use crate::iec104::types::Cause;

const T: Duration = Duration::from_secs(10);

fn time() -> Cp56Time2a {
    // 2026-11-21 09:15:30.123 UTC.
    Cp56Time2a::from_unix_ms(1_795_252_530_123).expect("in range")
}

fn float(v: f32) -> Element {
    Element::M_ME_TF_1 {
        value: v,
        quality: Quality::GOOD,
        time: time(),
    }
}

fn counter(v: i32) -> Element {
    Element::M_IT_TB_1 {
        value: BinaryCounter {
            value: v,
            ..BinaryCounter::default()
        },
        time: time(),
    }
}

fn breaker(on: bool) -> Element {
    Element::M_DP_TB_1 {
        value: DoublePoint {
            value: if on {
                DoubleState::On
            } else {
                DoubleState::Off
            },
            quality: Quality::GOOD,
        },
        time: time(),
    }
}

/// Station 1: a breaker (1), floats 10..=13, a counter (20); station 2: one float.
fn image() -> MemoryImage {
    let img = MemoryImage::new([1, 2]);
    img.insert(1, 1, breaker(true));
    for i in 10..=13 {
        img.insert(1, i, float(i as f32));
    }
    img.insert(1, 20, counter(42));
    img.insert(2, 5, float(50.0));
    img
}

fn cmd(cause: Cause, ca: u16, ioa: u32, element: Element) -> Asdu {
    Asdu::single(Cot::new(cause), ca, ioa, element)
}

fn gi(ca: u16, qoi: u8) -> Asdu {
    cmd(
        Cause::ACTIVATION,
        ca,
        0,
        Element::C_IC_NA_1 {
            qualifier: Qoi(qoi),
        },
    )
}

fn handle(a: &Asdu) -> Action {
    request::handle(&a.to_bytes().expect("encodes"), &image())
}

/// The single answer of a reply.
fn answer(action: Action) -> Asdu {
    match action {
        Action::Reply(r) if r.len() == 1 => Asdu::decode(&r[0]).expect("decodes"),
        other => panic!("not one reply: {other:?}"),
    }
}

fn negative(a: &Asdu, cause: Cause) -> Asdu {
    a.reply(cause, true)
}

#[test]
fn station_interrogation_is_streamed_for_the_station_asked() {
    let g = gi(1, 20);
    match handle(&g) {
        Action::Interrogate(i) => {
            assert_eq!(i.stations, [1]);
            assert_eq!(
                i.kind,
                Kind::General {
                    group: None,
                    cause: Cause::INTERROGATED
                }
            );
            assert_eq!(i.command, g);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn broadcast_interrogation_covers_every_station_and_groups_their_cause() {
    match handle(&gi(BROADCAST, 20)) {
        Action::Interrogate(i) => assert_eq!(i.stations, [1, 2]),
        other => panic!("{other:?}"),
    }
    match handle(&gi(1, 21)) {
        Action::Interrogate(i) => assert_eq!(
            i.kind,
            Kind::General {
                group: Some(1),
                cause: Cause::interrogated_group(1).expect("group 1")
            }
        ),
        other => panic!("{other:?}"),
    }
}

const BROADCAST: u16 = crate::iec104::asdu::BROADCAST_CA;

#[test]
fn interrogation_with_a_reserved_qualifier_is_confirmed_negatively() {
    let g = gi(1, 5);
    assert_eq!(answer(handle(&g)), negative(&g, Cause::ACTIVATION_CON));
}

#[test]
fn a_wrong_cause_is_answered_with_45_negative() {
    let mut g = gi(1, 20);
    g.cot = Cot::new(Cause::SPONTANEOUS);
    assert_eq!(answer(handle(&g)), negative(&g, Cause::UNKNOWN_CAUSE));
    let mut rd = cmd(Cause::ACTIVATION, 1, 10, Element::C_RD_NA_1 {});
    assert_eq!(answer(handle(&rd)), negative(&rd, Cause::UNKNOWN_CAUSE));
    rd.cot = Cot::new(Cause::REQUEST);
    assert_eq!(answer(handle(&rd)).cot, Cot::new(Cause::REQUEST));
}

#[test]
fn an_unknown_common_address_is_answered_with_46_negative() {
    let g = gi(9, 20);
    assert_eq!(
        answer(handle(&g)),
        negative(&g, Cause::UNKNOWN_COMMON_ADDRESS)
    );
    let rd = cmd(Cause::REQUEST, 9, 10, Element::C_RD_NA_1 {});
    assert_eq!(
        answer(handle(&rd)),
        negative(&rd, Cause::UNKNOWN_COMMON_ADDRESS)
    );
    let rd_all = cmd(Cause::REQUEST, BROADCAST, 10, Element::C_RD_NA_1 {});
    assert_eq!(
        answer(handle(&rd_all)),
        negative(&rd_all, Cause::UNKNOWN_COMMON_ADDRESS)
    );
}

#[test]
fn read_answers_the_point_in_its_own_type_or_47_negative() {
    let mut rd = cmd(Cause::REQUEST, 1, 12, Element::C_RD_NA_1 {});
    rd.originator = 9;
    let a = answer(handle(&rd));
    assert_eq!(a.type_id, TypeId::M_ME_TF_1);
    assert_eq!(
        (a.cot, a.common_address, a.originator),
        (Cot::new(Cause::REQUEST), 1, 9)
    );
    assert_eq!(a.objects, [InformationObject::new(12, float(12.0))]);
    let unknown = cmd(Cause::REQUEST, 1, 99, Element::C_RD_NA_1 {});
    assert_eq!(
        answer(handle(&unknown)),
        negative(&unknown, Cause::UNKNOWN_IOA)
    );
}

#[test]
fn counter_interrogation_reads_or_only_confirms_a_freeze() {
    let ci = |qcc| {
        cmd(
            Cause::ACTIVATION,
            1,
            0,
            Element::C_CI_NA_1 {
                qualifier: Qcc(qcc),
            },
        )
    };
    match handle(&ci(5)) {
        Action::Interrogate(i) => assert_eq!(
            i.kind,
            Kind::Counters {
                group: None,
                cause: Cause::COUNTER_REQUEST
            }
        ),
        other => panic!("{other:?}"),
    }
    match handle(&ci(0x40 | 5)) {
        Action::Interrogate(i) => assert_eq!(i.kind, Kind::Freeze),
        other => panic!("{other:?}"),
    }
    let reserved = ci(6);
    assert_eq!(
        answer(handle(&reserved)),
        negative(&reserved, Cause::ACTIVATION_CON)
    );
}

#[test]
fn clock_sync_test_and_reset_are_confirmed_mirrored_per_station() {
    let cs = cmd(Cause::ACTIVATION, 1, 0, Element::C_CS_NA_1 { time: time() });
    assert_eq!(answer(handle(&cs)), cs.reply(Cause::ACTIVATION_CON, false));
    let ts = cmd(
        Cause::ACTIVATION,
        1,
        0,
        Element::C_TS_TA_1 {
            counter: 7,
            time: time(),
        },
    );
    assert_eq!(answer(handle(&ts)), ts.reply(Cause::ACTIVATION_CON, false));
    let rp = cmd(Cause::ACTIVATION, 1, 0, Element::C_RP_NA_1 { qualifier: 1 });
    assert_eq!(answer(handle(&rp)), rp.reply(Cause::ACTIVATION_CON, false));
    let all = cmd(
        Cause::ACTIVATION,
        BROADCAST,
        0,
        Element::C_CS_NA_1 { time: time() },
    );
    match handle(&all) {
        Action::Reply(r) => {
            let cas: Vec<u16> = r
                .iter()
                .map(|b| Asdu::decode(b).expect("decodes").common_address)
                .collect();
            assert_eq!(cas, [1, 2]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn process_commands_are_never_confirmed_positively() {
    let sc = Element::C_SC_NA_1 {
        command: SingleCommand::new(true, 0, false),
    };
    let act = cmd(Cause::ACTIVATION, 1, 1, sc.clone());
    assert_eq!(answer(handle(&act)), negative(&act, Cause::ACTIVATION_CON));
    let deact = cmd(Cause::DEACTIVATION, 1, 1, sc.clone());
    assert_eq!(
        answer(handle(&deact)),
        negative(&deact, Cause::DEACTIVATION_CON)
    );
    let spont = cmd(Cause::SPONTANEOUS, 1, 1, sc.clone());
    assert_eq!(
        answer(handle(&spont)),
        negative(&spont, Cause::UNKNOWN_CAUSE)
    );
    let elsewhere = cmd(Cause::ACTIVATION, 9, 1, sc);
    assert_eq!(
        answer(handle(&elsewhere)),
        negative(&elsewhere, Cause::UNKNOWN_COMMON_ADDRESS)
    );
    let setpoint = cmd(
        Cause::ACTIVATION,
        1,
        10,
        Element::C_SE_TC_1 {
            value: 1.0,
            qualifier: SetpointQualifier(0),
            time: time(),
        },
    );
    assert_eq!(
        answer(handle(&setpoint)),
        negative(&setpoint, Cause::ACTIVATION_CON)
    );
}

#[test]
fn unknown_and_unserved_types_are_mirrored_with_44_negative() {
    let raw = [44u8, 0x01, 0x86, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0xAB];
    match request::handle(&raw, &image()) {
        Action::Reply(r) => {
            // Cause 44, P/N set, the T bit of the request kept.
            assert_eq!(
                r,
                [vec![
                    44u8, 0x01, 0xEC, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0xAB
                ]]
            );
        }
        other => panic!("{other:?}"),
    }
    let monitor = cmd(Cause::SPONTANEOUS, 1, 10, float(1.0));
    assert_eq!(
        answer(handle(&monitor)),
        negative(&monitor, Cause::UNKNOWN_TYPE)
    );
}

#[test]
fn malformed_asdus_close_the_connection() {
    let mut bytes = gi(1, 20).to_bytes().expect("encodes");
    bytes.pop();
    assert!(matches!(
        request::handle(&bytes, &image()),
        Action::Close(Malformed::Decode(AsduError::Truncated { .. }))
    ));
    let mut empty = gi(1, 20);
    empty.objects.clear();
    assert_eq!(
        handle(&empty),
        Action::Close(Malformed::ObjectCount {
            type_id: TypeId::C_IC_NA_1,
            count: 0
        })
    );
}

// --- over loopback TCP ---

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A station serving `img` on a free port, with its update channel.
async fn start<S: PointSource>(
    img: Arc<S>,
    params: Params,
    capacity: usize,
) -> (SocketAddr, Station<S>, broadcast::Sender<Update>) {
    let listener = driver::Listener::bind(loopback(), params)
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, _) = broadcast::channel(capacity);
    let station = Station::new(img, tx.clone());
    tokio::spawn(station.clone().serve(listener));
    (addr, station, tx)
}

async fn master(addr: SocketAddr, params: Params) -> Connection {
    let mut conn = driver::connect(addr, params).await.expect("connects");
    assert_eq!(
        tokio::time::timeout(T, conn.recv()).await.expect("in time"),
        Some(Event::DataTransferStarted)
    );
    conn
}

async fn next(conn: &mut Connection) -> Asdu {
    loop {
        match tokio::time::timeout(T, conn.recv())
            .await
            .expect("an ASDU in time")
        {
            Some(Event::Asdu(raw)) => return Asdu::decode(&raw).expect("decodes"),
            Some(Event::Closed(r)) => panic!("closed: {r:?}"),
            Some(_) => {}
            None => panic!("connection ended"),
        }
    }
}

async fn send(conn: &Connection, a: &Asdu) {
    conn.send(a.to_bytes().expect("encodes"))
        .await
        .expect("sent");
}

/// Every object of an interrogation answer, checking ACT_CON and ACT_TERM.
async fn interrogate(conn: &mut Connection, ca: u16) -> Vec<(u32, Element)> {
    interrogate_qoi(conn, ca, 20).await
}

/// [`interrogate`] with qualifier `qoi` (20 station, 21..=36 group 1..=16),
/// checking that the data comes with the cause of the same number.
async fn interrogate_qoi(conn: &mut Connection, ca: u16, qoi: u8) -> Vec<(u32, Element)> {
    let cause = Cause::new(qoi).expect("a cause");
    send(conn, &gi(ca, qoi)).await;
    let con = next(conn).await;
    assert_eq!(
        (con.type_id, con.cot),
        (TypeId::C_IC_NA_1, Cot::new(Cause::ACTIVATION_CON))
    );
    let mut got = Vec::new();
    loop {
        let a = next(conn).await;
        if a.type_id == TypeId::C_IC_NA_1 {
            assert_eq!(a.cot, Cot::new(Cause::ACTIVATION_TERMINATION));
            return got;
        }
        assert_eq!((a.cot.cause, a.common_address), (cause, ca));
        got.extend(a.objects.into_iter().map(|o| (o.ioa, o.element)));
    }
}

#[tokio::test]
async fn a_large_interrogation_is_streamed_whole_under_a_window_of_two() {
    let img = MemoryImage::new([1]);
    let n = 30_000u32;
    for i in 0..n {
        let e = if i % 3 == 0 {
            breaker(i % 2 == 0)
        } else {
            float(i as f32)
        };
        img.insert(1, 1000 + i, e);
    }
    let params = Params {
        k: 2,
        w: 1,
        ..Params::default()
    };
    let (addr, _station, _tx) = start(Arc::new(img), params, 16).await;
    let mut conn = master(addr, params).await;
    let got = interrogate(&mut conn, 1).await;
    assert_eq!(got.len(), n as usize);
    let want: Vec<(u32, Element)> = (0..n)
        .map(|i| {
            let e = if i % 3 == 0 {
                breaker(i % 2 == 0)
            } else {
                float(i as f32)
            };
            (1000 + i, e.untimed())
        })
        .collect();
    assert_eq!(got, want, "every point once, ascending, untimed");
}

#[tokio::test]
async fn counters_come_by_counter_interrogation_only() {
    let (addr, _station, _tx) = start(Arc::new(image()), Params::default(), 16).await;
    let mut conn = master(addr, Params::default()).await;
    let got = interrogate(&mut conn, 1).await;
    assert_eq!(
        got.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        [1, 10, 11, 12, 13]
    );
    let ci = cmd(
        Cause::ACTIVATION,
        1,
        0,
        Element::C_CI_NA_1 { qualifier: Qcc(5) },
    );
    send(&conn, &ci).await;
    assert_eq!(
        next(&mut conn).await,
        ci.reply(Cause::ACTIVATION_CON, false)
    );
    let data = next(&mut conn).await;
    assert_eq!(data.cot, Cot::new(Cause::COUNTER_REQUEST));
    assert_eq!(data.objects, [InformationObject::new(20, counter(42))]);
    assert_eq!(
        next(&mut conn).await,
        ci.reply(Cause::ACTIVATION_TERMINATION, false)
    );
}

#[tokio::test]
async fn broadcast_interrogation_answers_station_by_station_with_own_address() {
    let (addr, _station, _tx) = start(Arc::new(image()), Params::default(), 16).await;
    let mut conn = master(addr, Params::default()).await;
    send(&conn, &gi(BROADCAST, 20)).await;
    let mut seen = Vec::new();
    for _ in 0..7 {
        let a = next(&mut conn).await;
        seen.push((a.type_id, a.cot.cause, a.common_address));
    }
    use TypeId::*;
    let (act, con, term) = (
        Cause::ACTIVATION_CON,
        Cause::INTERROGATED,
        Cause::ACTIVATION_TERMINATION,
    );
    assert_eq!(
        seen,
        [
            (C_IC_NA_1, act, 1),
            (M_DP_NA_1, con, 1),
            (M_ME_NC_1, con, 1),
            (C_IC_NA_1, term, 1),
            (C_IC_NA_1, act, 2),
            (M_ME_NC_1, con, 2),
            (C_IC_NA_1, term, 2),
        ]
    );
}

fn update(v: f32) -> Update {
    Update::new(&Asdu::single(Cot::new(Cause::SPONTANEOUS), 1, 10, float(v))).expect("encodes")
}

#[tokio::test]
async fn updates_reach_every_started_master_and_none_in_stopdt() {
    let (addr, station, tx) = start(Arc::new(image()), Params::default(), 16).await;
    let mut a = master(addr, Params::default()).await;
    let mut b = master(addr, Params::default()).await;
    // A round trip each: both masters are served (subscribed) from here on.
    interrogate(&mut a, 2).await;
    interrogate(&mut b, 2).await;
    assert_eq!(station.stats().masters(), 2);
    tx.send(update(1.0)).expect("subscribers");
    for conn in [&mut a, &mut b] {
        let got = next(conn).await;
        assert_eq!(got.cot, Cot::new(Cause::SPONTANEOUS));
        assert_eq!(got.objects, [InformationObject::new(10, float(1.0))]);
    }
    b.stop_data_transfer().await.expect("stop");
    assert_eq!(b.recv().await, Some(Event::DataTransferStopped));
    tx.send(update(2.0)).expect("subscribers");
    assert_eq!(next(&mut a).await.objects[0].element, float(2.0));
    b.start_data_transfer().await.expect("start");
    assert_eq!(b.recv().await, Some(Event::DataTransferStarted));
    // A round trip: b's station saw STARTDT before the next update.
    interrogate(&mut b, 2).await;
    tx.send(update(3.0)).expect("subscribers");
    assert_eq!(
        next(&mut b).await.objects[0].element,
        float(3.0),
        "2.0 was dropped in STOPDT"
    );
    // a: 1.0, 2.0, 3.0; b: 1.0, 3.0.
    assert_eq!(station.stats().updates(), 5);
    assert_eq!(station.stats().lagged(), 0);
}

/// Reads one whole frame from a raw socket.
async fn read_frame(stream: &mut TcpStream) -> Option<(Apci, Vec<u8>)> {
    let mut header = [0u8; 2];
    tokio::time::timeout(T, stream.read_exact(&mut header))
        .await
        .ok()?
        .ok()?;
    let mut frame = header.to_vec();
    frame.resize(2 + usize::from(header[1]), 0);
    stream.read_exact(&mut frame[2..]).await.ok()?;
    let (apdu, _) = apci::decode_frame(&frame).ok()??;
    Some((apdu.apci, apdu.asdu.to_vec()))
}

/// The next I-frame, skipping S-frames.
async fn read_i(stream: &mut TcpStream) -> Option<(Apci, Vec<u8>)> {
    loop {
        match read_frame(stream).await? {
            (Apci::S { .. }, _) => {}
            frame => return Some(frame),
        }
    }
}

async fn raw_started(addr: SocketAddr) -> TcpStream {
    let mut raw = TcpStream::connect(addr).await.expect("connects");
    let mut out = Vec::new();
    apci::encode_u(UFunction::StartDtAct, &mut out);
    raw.write_all(&out).await.expect("written");
    assert_eq!(
        read_frame(&mut raw).await.map(|f| f.0),
        Some(Apci::U(UFunction::StartDtCon))
    );
    raw
}

#[tokio::test]
async fn a_master_that_falls_behind_has_its_lost_updates_counted() {
    let params = Params {
        k: 1,
        w: 1,
        ..Params::default()
    };
    let (addr, station, tx) = start(Arc::new(image()), params, 4).await;
    let mut raw = raw_started(addr).await;
    // A round trip through the station: it has subscribed and seen STARTDT.
    let mut out = Vec::new();
    apci::encode_i(0, 0, &gi(9, 20).to_bytes().expect("encodes"), &mut out).expect("frame");
    raw.write_all(&out).await.expect("written");
    let (first, _) = read_i(&mut raw).await.expect("46 negative");
    assert_eq!(
        first,
        Apci::I {
            send_seq: 0,
            recv_seq: 1
        }
    );
    // Unacknowledged, k = 1 holds everything back: twelve updates overflow
    // the four the channel keeps.
    let total = 12u16;
    for i in 0..total {
        tx.send(update(f32::from(i))).expect("subscribed");
    }
    let mut out = Vec::new();
    apci::encode_s(1, &mut out).expect("frame");
    raw.write_all(&out).await.expect("written");
    // Acknowledge each I-frame until the marker after the twelve arrives.
    let mut received = 0u16;
    let mut marker_sent = false;
    let mut seq = 1u16;
    loop {
        if !marker_sent && station.stats().lagged() > 0 {
            tx.send(update(-1.0)).expect("subscribed");
            marker_sent = true;
        }
        let (apci, asdu) = read_i(&mut raw).await.expect("an update");
        assert_eq!(
            apci,
            Apci::I {
                send_seq: seq,
                recv_seq: 1
            }
        );
        seq += 1;
        let mut out = Vec::new();
        apci::encode_s(seq, &mut out).expect("frame");
        raw.write_all(&out).await.expect("written");
        let a = Asdu::decode(&asdu).expect("decodes");
        if a.objects[0].element == float(-1.0) {
            break;
        }
        received += 1;
    }
    let lagged = station.stats().lagged();
    assert!(lagged > 0, "the master fell behind");
    assert_eq!(
        u64::from(received) + lagged,
        u64::from(total),
        "every update sent or counted"
    );
}

#[tokio::test]
async fn a_malformed_asdu_closes_that_master_only() {
    let (addr, station, _tx) = start(Arc::new(image()), Params::default(), 16).await;
    let mut good = master(addr, Params::default()).await;
    let mut raw = raw_started(addr).await;
    let mut truncated = gi(1, 20).to_bytes().expect("encodes");
    truncated.pop();
    let mut out = Vec::new();
    apci::encode_i(0, 0, &truncated, &mut out).expect("frame");
    raw.write_all(&out).await.expect("written");
    assert_eq!(read_frame(&mut raw).await, None, "closed");
    assert_eq!(interrogate(&mut good, 1).await.len(), 5);
    assert_eq!(station.stats().masters(), 1);
}

/// One event of protection equipment of each type (17-19, 38-40), at IOA
/// 30..=35.
fn protection_events() -> Vec<(u32, Element)> {
    let t24 = Cp24Time2a::new(15, 30_123, false);
    let on = DoublePoint {
        value: DoubleState::On,
        quality: Quality::GOOD,
    };
    vec![
        (
            30,
            Element::M_EP_TA_1 {
                event: on,
                elapsed: Cp16Time2a(500),
                time: t24,
            },
        ),
        (
            31,
            Element::M_EP_TB_1 {
                start: StartEvents(0x03),
                quality: Quality::GOOD,
                duration: Cp16Time2a(250),
                time: t24,
            },
        ),
        (
            32,
            Element::M_EP_TC_1 {
                circuits: OutputCircuits(0x09),
                quality: Quality::GOOD,
                operating: Cp16Time2a(1234),
                time: t24,
            },
        ),
        (
            33,
            Element::M_EP_TD_1 {
                event: on,
                elapsed: Cp16Time2a(500),
                time: time(),
            },
        ),
        (
            34,
            Element::M_EP_TE_1 {
                start: StartEvents(0x03),
                quality: Quality(Quality::IV),
                duration: Cp16Time2a(250),
                time: time(),
            },
        ),
        (
            35,
            Element::M_EP_TF_1 {
                circuits: OutputCircuits(0x09),
                quality: Quality::GOOD,
                operating: Cp16Time2a(1234),
                time: time(),
            },
        ),
    ]
}

#[test]
fn an_interrogation_carries_states_untimed_and_leaves_out_counters_and_protection_events() {
    let flagged = Quality(Quality::IV | Quality::NT);
    let timed_float = Element::M_ME_TF_1 {
        value: 1.5,
        quality: flagged,
        time: time(),
    };
    let nd = Element::M_ME_ND_1 {
        value: Normalized(24576),
    };
    let na = Element::M_ME_NA_1 {
        value: Normalized(24576),
        quality: flagged,
    };
    let packed = Element::M_PS_NA_1 {
        value: StatusChanges {
            status: 0x8001,
            changes: 0x0100,
        },
        quality: flagged,
    };
    // Station and group interrogation: states, untimed, quality kept.
    assert_eq!(
        answered(false, timed_float.clone()),
        Some(Element::M_ME_NC_1 {
            value: 1.5,
            quality: flagged
        })
    );
    assert_eq!(
        answered(false, breaker(true)),
        Some(breaker(true).untimed())
    );
    for state in [nd.clone(), na.clone(), packed.clone()] {
        assert_eq!(answered(false, state.clone()), Some(state));
    }
    assert_eq!(
        answered(false, counter(42)),
        None,
        "counters: cause 37 only"
    );
    for (ioa, event) in protection_events() {
        assert_eq!(answered(false, event.clone()), None, "IOA {ioa}: an event");
        assert_eq!(answered(true, event), None, "IOA {ioa}: no counter");
    }
    // Counter interrogation: the integrated totals in their own type only.
    assert_eq!(answered(true, counter(42)), Some(counter(42)));
    for other in [timed_float, nd, na, packed, breaker(false)] {
        assert_eq!(answered(true, other), None);
    }
}

#[test]
fn read_answers_a_protection_event_in_its_own_type() {
    let img = image();
    img.insert_many(1, protection_events());
    for (ioa, event) in protection_events() {
        let rd = cmd(Cause::REQUEST, 1, ioa, Element::C_RD_NA_1 {});
        let raw = rd.to_bytes().expect("encodes");
        let a = answer(request::handle(&raw, &img));
        assert_eq!(
            (a.type_id, a.cot),
            (event.type_id(), Cot::new(Cause::REQUEST)),
            "IOA {ioa}"
        );
        assert_eq!(a.objects, [InformationObject::new(ioa, event)]);
    }
}

/// A [`MemoryImage`] whose every point is in every interrogation group.
struct AllInEveryGroup(MemoryImage);

impl PointSource for AllInEveryGroup {
    fn stations(&self) -> Vec<u16> {
        self.0.stations()
    }
    fn snapshot(&self, ca: u16) -> Option<Vec<(u32, Element)>> {
        self.0.snapshot(ca)
    }
    fn group_snapshot(&self, ca: u16, _group: u8) -> Option<Vec<(u32, Element)>> {
        self.0.snapshot(ca)
    }
    fn read(&self, ca: u16, ioa: u32) -> ReadResult {
        self.0.read(ca, ioa)
    }
}

#[tokio::test]
async fn protection_events_are_not_interrogated_but_go_spontaneously_and_answer_a_read() {
    let img = image();
    img.insert_many(1, protection_events());
    let (addr, _station, tx) = start(Arc::new(AllInEveryGroup(img)), Params::default(), 16).await;
    let mut conn = master(addr, Params::default()).await;
    let states = [1, 10, 11, 12, 13];
    let ioas = |points: Vec<(u32, Element)>| points.into_iter().map(|(i, _)| i).collect::<Vec<_>>();
    assert_eq!(ioas(interrogate(&mut conn, 1).await), states, "station");
    for qoi in [21, 36] {
        let got = interrogate_qoi(&mut conn, 1, qoi).await;
        assert_eq!(ioas(got), states, "group {}", qoi - 20);
    }
    for (ioa, event) in protection_events() {
        send(&conn, &cmd(Cause::REQUEST, 1, ioa, Element::C_RD_NA_1 {})).await;
        let a = next(&mut conn).await;
        assert_eq!(a.cot, Cot::new(Cause::REQUEST));
        assert_eq!(a.objects, [InformationObject::new(ioa, event)]);
    }
    for (ioa, event) in protection_events() {
        let asdu = Asdu::single(Cot::new(Cause::SPONTANEOUS), 1, ioa, event.clone());
        tx.send(Update::new(&asdu).expect("encodes"))
            .expect("subscribed");
        let a = next(&mut conn).await;
        assert_eq!(a.cot, Cot::new(Cause::SPONTANEOUS));
        assert_eq!(a.objects, [InformationObject::new(ioa, event)]);
    }
}
