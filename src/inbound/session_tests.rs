//! The inbound session on scripted ASDUs: no sockets, no clocks.

use super::*;
use crate::iec104::asdu::InformationObject;
use crate::iec104::elements::{
    BinaryCounter, DoublePoint, OutputCircuits, Quality, SinglePoint, StartEvents,
};
use crate::iec104::time::{Cp16Time2a, Cp24Time2a, Cp56Time2a};

const NOW: i64 = 1_795_252_530_123;

/// The interrogation timeout of the tests, ms.
const TIMEOUT: i64 = 60_000;

fn config(policy: OnLinkLoss, cas: Vec<u16>) -> SessionConfig {
    SessionConfig {
        zone: Zone::UTC,
        on_link_loss: policy,
        common_addresses: cas,
        counter_mode: CounterMode::Read,
        interrogation_timeout_ms: TIMEOUT,
    }
}

fn session(policy: OnLinkLoss, cas: Vec<u16>) -> Session {
    Session::new("rtu-a", config(policy, cas))
}

fn floats(ca: u16, cause: Cause, ioas: &[u32]) -> Vec<u8> {
    Asdu {
        type_id: TypeId::M_ME_NC_1,
        sequence: false,
        cot: Cot::new(cause),
        originator: 0,
        common_address: ca,
        objects: ioas
            .iter()
            .map(|i| {
                InformationObject::new(
                    *i,
                    Element::M_ME_NC_1 {
                        value: *i as f32,
                        quality: Quality::GOOD,
                    },
                )
            })
            .collect(),
    }
    .to_bytes()
    .expect("encodes")
}

fn gi_answer(ca: u16, cause: Cause, negative: bool) -> Vec<u8> {
    let mut cot = Cot::new(cause);
    cot.negative = negative;
    Asdu::single(
        cot,
        ca,
        0,
        Element::C_IC_NA_1 {
            qualifier: Qoi::STATION,
        },
    )
    .to_bytes()
    .expect("encodes")
}

fn addrs(points: &[DataPoint]) -> Vec<(u16, u32)> {
    points.iter().map(|p| (p.casdu, p.ioa)).collect()
}

#[test]
fn monitor_asdus_become_data_points_in_order() {
    let mut s = session(OnLinkLoss::Nt, vec![]);
    let out = s.on_asdu(&floats(1, Cause::SPONTANEOUS, &[5, 3, 9]), NOW);
    assert_eq!(addrs(&out.points), [(1, 5), (1, 3), (1, 9)]);
    assert!(out.replies.is_empty());
    assert_eq!(out.points[0].source.as_ref(), "rtu-a");
    assert_eq!(s.stats().points_received, 3);
    assert_eq!(s.points_known(), 3);
}

#[test]
fn an_unknown_type_is_answered_with_cause_44_and_the_session_goes_on() {
    let mut s = session(OnLinkLoss::Nt, vec![]);
    let raw = [44u8, 0x01, 0x03, 0x00, 0x01, 0x00, 0x0A, 0x00, 0x00, 0x00];
    let out = s.on_asdu(&raw, NOW);
    assert_eq!(
        out.replies,
        [vec![
            44u8,
            0x01,
            0x40 | 44,
            0x00,
            0x01,
            0x00,
            0x0A,
            0x00,
            0x00,
            0x00
        ]]
    );
    assert_eq!(s.stats().unknown_types, 1);
    // A negative answer is never answered again.
    let neg = [
        44u8,
        0x01,
        0x40 | 44,
        0x00,
        0x01,
        0x00,
        0x0A,
        0x00,
        0x00,
        0x00,
    ];
    assert!(s.on_asdu(&neg, NOW).replies.is_empty());
    assert_eq!(
        addrs(&s.on_asdu(&floats(1, Cause::SPONTANEOUS, &[1]), NOW).points),
        [(1, 1)]
    );
}

#[test]
fn a_malformed_asdu_is_counted_logged_once_and_the_session_goes_on() {
    let mut s = session(OnLinkLoss::Nt, vec![]);
    let mut raw = floats(1, Cause::SPONTANEOUS, &[1]);
    raw.push(0);
    let out = s.on_asdu(&raw, NOW);
    assert!(out.points.is_empty() && out.replies.is_empty());
    // A short F_SC_NB_1 (type 127): its header, no object.
    let short = [127u8, 1, 13, 0, 1, 0];
    assert!(s.on_asdu(&short, NOW).replies.is_empty());
    s.on_asdu(&short, NOW);
    assert_eq!(s.stats().malformed_asdus, 3);
    assert_eq!(
        s.warned_malformed,
        HashSet::from([("trailing octets", 13), ("truncated", 127)]),
        "one log line per kind"
    );
    assert_eq!(
        addrs(&s.on_asdu(&floats(1, Cause::SPONTANEOUS, &[2]), NOW).points),
        [(1, 2)]
    );
}

#[test]
fn interrogation_goes_to_the_broadcast_address_or_each_configured_station() {
    let mut s = session(OnLinkLoss::Nt, vec![]);
    let cmds = s.interrogation(NOW);
    assert_eq!(cmds.len(), 1);
    let a = Asdu::decode(&cmds[0]).expect("valid");
    assert_eq!(
        (a.type_id, a.cot, a.common_address),
        (TypeId::C_IC_NA_1, Cot::new(Cause::ACTIVATION), 65535)
    );
    assert_eq!(
        a.objects[0].element,
        Element::C_IC_NA_1 { qualifier: Qoi(20) }
    );
    let mut s = session(OnLinkLoss::Nt, vec![3, 7]);
    let cas: Vec<u16> = s
        .interrogation(NOW)
        .iter()
        .map(|c| Asdu::decode(c).expect("valid").common_address)
        .collect();
    assert_eq!(cas, [3, 7]);
}

#[test]
fn a_completed_interrogation_marks_points_it_did_not_deliver_invalid() {
    let mut s = session(OnLinkLoss::Nt, vec![1]);
    s.on_asdu(&floats(1, Cause::SPONTANEOUS, &[1, 2, 3]), NOW);
    s.interrogation(NOW);
    s.on_asdu(&gi_answer(1, Cause::ACTIVATION_CON, false), NOW);
    s.on_asdu(&floats(1, Cause::INTERROGATED, &[1, 2]), NOW);
    let out = s.on_asdu(&gi_answer(1, Cause::ACTIVATION_TERMINATION, false), NOW + 5);
    assert!(out.points.is_empty(), "marked points are taken apart");
    assert!(s.has_marked());
    let marked = s.take_marked(usize::MAX, NOW + 5);
    assert_eq!(addrs(&marked), [(1, 3)]);
    assert!(marked[0].quality.iv);
    assert_eq!(marked[0].received, NOW + 5);
    assert_eq!(marked[0].value, crate::contract::PointValue::Float(3.0));
    assert!(!s.has_marked() && s.take_marked(10, NOW).is_empty());
}

#[test]
fn a_broadcast_interrogation_completes_station_by_station() {
    let mut s = session(OnLinkLoss::Nt, vec![]);
    s.on_asdu(&floats(1, Cause::SPONTANEOUS, &[1, 2]), NOW);
    s.on_asdu(&floats(2, Cause::SPONTANEOUS, &[1, 2]), NOW);
    s.interrogation(NOW);
    // lib60870 answers a broadcast per station: station 1 first.
    s.on_asdu(&gi_answer(1, Cause::ACTIVATION_CON, false), NOW);
    s.on_asdu(&floats(1, Cause::INTERROGATED, &[1]), NOW);
    s.on_asdu(&gi_answer(1, Cause::ACTIVATION_TERMINATION, false), NOW);
    assert_eq!(
        addrs(&s.take_marked(usize::MAX, NOW)),
        [(1, 2)],
        "station 2 is not judged by station 1's answer"
    );
    s.on_asdu(&gi_answer(2, Cause::ACTIVATION_CON, false), NOW);
    s.on_asdu(&floats(2, Cause::INTERROGATED, &[1, 2]), NOW);
    s.on_asdu(&gi_answer(2, Cause::ACTIVATION_TERMINATION, false), NOW);
    assert!(!s.has_marked());
}

#[test]
fn keep_policy_marks_nothing() {
    let mut s = session(OnLinkLoss::Keep, vec![1]);
    s.on_asdu(&floats(1, Cause::SPONTANEOUS, &[1, 2]), NOW);
    assert!(grace_expired(&mut s, NOW).is_empty());
    s.interrogation(NOW);
    s.on_asdu(&gi_answer(1, Cause::ACTIVATION_TERMINATION, false), NOW);
    assert!(!s.has_marked());
}

#[test]
fn link_loss_marks_every_point_not_topical_once() {
    let mut s = session(OnLinkLoss::Nt, vec![]);
    s.on_asdu(&floats(1, Cause::SPONTANEOUS, &[1, 2]), NOW);
    s.on_link_lost();
    let marked = grace_expired(&mut s, NOW + 5000);
    assert_eq!(addrs(&marked), [(1, 1), (1, 2)]);
    assert!(
        marked
            .iter()
            .all(|p| p.quality.nt && !p.quality.iv && p.received == NOW + 5000)
    );
    assert!(
        grace_expired(&mut s, NOW + 6000).is_empty(),
        "already marked"
    );
    // A fresh value clears it.
    let out = s.on_asdu(&floats(1, Cause::SPONTANEOUS, &[1]), NOW + 7000);
    assert!(!out.points[0].quality.nt);
}

#[test]
fn marked_points_are_taken_in_chunks_in_address_order() {
    let mut s = session(OnLinkLoss::Nt, vec![]);
    s.on_asdu(&floats(2, Cause::SPONTANEOUS, &[9, 1]), NOW);
    s.on_asdu(&floats(1, Cause::SPONTANEOUS, &[5, 3, 7]), NOW);
    assert_eq!(s.mark_link_loss(), 5);
    assert_eq!(addrs(&s.take_marked(2, NOW)), [(1, 3), (1, 5)]);
    assert_eq!(addrs(&s.take_marked(2, NOW)), [(1, 7), (2, 1)]);
    assert_eq!(addrs(&s.take_marked(2, NOW)), [(2, 9)]);
    assert!(!s.has_marked());
    assert_eq!(s.mark_link_loss(), 0, "already marked");
}

#[test]
fn iv_policy_marks_invalid_on_link_loss() {
    let mut s = session(OnLinkLoss::Iv, vec![]);
    s.on_asdu(
        &Asdu::single(
            Cot::new(Cause::SPONTANEOUS),
            4,
            8,
            Element::M_SP_NA_1 {
                value: SinglePoint::default(),
            },
        )
        .to_bytes()
        .expect("encodes"),
        NOW,
    );
    let marked = grace_expired(&mut s, NOW);
    assert_eq!(addrs(&marked), [(4, 8)]);
    assert!(marked[0].quality.iv && !marked[0].quality.nt);
}

#[test]
fn end_of_initialization_triggers_a_new_interrogation() {
    let mut s = session(OnLinkLoss::Nt, vec![]);
    let ei = Asdu::single(
        Cot::new(Cause::INITIALIZED),
        1,
        0,
        Element::M_EI_NA_1 { cause: 0 },
    )
    .to_bytes()
    .expect("encodes");
    let out = s.on_asdu(&ei, NOW);
    assert_eq!(out.replies.len(), 1);
    assert_eq!(
        Asdu::decode(&out.replies[0]).expect("valid").type_id,
        TypeId::C_IC_NA_1
    );
}

#[test]
fn negative_confirmations_are_counted() {
    let mut s = session(OnLinkLoss::Nt, vec![1]);
    s.interrogation(NOW);
    s.on_asdu(&gi_answer(1, Cause::ACTIVATION_CON, true), NOW);
    assert_eq!(s.stats().negative_confirmations, 1);
}

#[test]
fn clock_sync_and_counter_interrogation_address_the_configured_stations() {
    let mut s = session(OnLinkLoss::Nt, vec![2]);
    let cs = Asdu::decode(&s.clock_sync(NOW)[0]).expect("valid");
    match &cs.objects[0].element {
        Element::C_CS_NA_1 { time } => assert_eq!(time.to_unix_ms(), Ok(NOW)),
        other => panic!("{other:?}"),
    }
    assert_eq!(cs.common_address, 2);
    let ci = Asdu::decode(&s.counter_interrogation(NOW)[0]).expect("valid");
    assert_eq!((ci.type_id, ci.common_address), (TypeId::C_CI_NA_1, 2));
}

#[test]
fn clock_sync_in_a_named_zone_sends_local_time_with_su_on_summer_time() {
    let berlin: Zone = "Europe/Berlin".parse().expect("a zone name");
    let s = Session::new(
        "rtu-a",
        SessionConfig {
            zone: berlin,
            ..config(OnLinkLoss::Nt, vec![2])
        },
    );
    let sent = |now| {
        let cs = Asdu::decode(&s.clock_sync(now)[0]).expect("valid");
        match &cs.objects[0].element {
            Element::C_CS_NA_1 { time } => time.to_string(),
            other => panic!("{other:?}"),
        }
    };
    // NOW is 2026-11-21 09:15:30.123Z: 10:15 CET, no SU.
    assert_eq!(sent(NOW), "2026-11-21 10:15:30.123");
    // 2026-07-01 10:00:00Z is 12:00 CEST.
    assert_eq!(sent(1_782_900_000_000), "2026-07-01 12:00:00.000 SU");
}

#[test]
fn a_cached_point_comes_back_whole_with_the_new_receive_time() {
    let source: Arc<str> = "rtu-a".into();
    let mut errors = HashMap::new();
    let with_everything = DataPoint {
        casdu: 65534,
        ioa: 16_777_215,
        type_id: TypeId::M_EP_TD_1,
        value: PointValue::ProtectionEvent {
            state: 2,
            elapsed_ms: 65535,
        },
        quality: QualityFlags {
            iv: false,
            nt: true,
            sb: true,
            bl: true,
            ov: true,
        },
        elapsed_invalid: true,
        time: None,
        time_invalid: true,
        summer_time: true,
        time_error: Some(String::from("month 13")),
        cot: 63,
        test: true,
        negative: true,
        originator: 255,
        source: Arc::clone(&source),
        received: NOW,
    };
    let with_time = DataPoint {
        type_id: TypeId::M_ME_TF_1,
        value: PointValue::Float(-1.5),
        quality: QualityFlags {
            iv: true,
            ..QualityFlags::default()
        },
        elapsed_invalid: false,
        time: Some(-1),
        time_invalid: false,
        summer_time: false,
        time_error: None,
        test: false,
        negative: false,
        originator: 0,
        ..with_everything.clone()
    };
    let addr = (with_everything.casdu, with_everything.ioa);
    errors.insert(addr, Box::from("month 13"));
    let back = Cached::of(&with_everything).point(addr, &source, &errors, NOW + 5);
    assert_eq!(
        back,
        DataPoint {
            received: NOW + 5,
            ..with_everything
        }
    );
    let back = Cached::of(&with_time).point(addr, &source, &HashMap::new(), NOW);
    assert_eq!(back, with_time);
    assert_eq!(std::mem::size_of::<Cached>(), 24);
}

#[test]
fn a_time_error_is_forgotten_when_the_point_comes_again_without_one() {
    let mut s = session(OnLinkLoss::Iv, vec![]);
    s.on_asdu(&floats(1, Cause::SPONTANEOUS, &[7]), NOW);
    s.time_errors.insert((1, 7), Box::from("stale"));
    s.on_asdu(&floats(1, Cause::SPONTANEOUS, &[7]), NOW);
    assert!(s.time_errors.is_empty());
    let marked = grace_expired(&mut s, NOW + 1);
    assert_eq!(marked.len(), 1);
    assert_eq!(marked[0].time_error, None);
}

/// The link-loss marking, and every point it marked, received at `now`.
fn grace_expired(s: &mut Session, now: i64) -> Vec<DataPoint> {
    s.mark_link_loss();
    s.take_marked(usize::MAX, now)
}

// ---- Interrogation bookkeeping per station ----

/// An ASDU of one monitor type with an object per IOA, made by `element`.
fn objects(ca: u16, cause: Cause, ioas: &[u32], element: impl Fn(u32) -> Element) -> Vec<u8> {
    let objects: Vec<InformationObject> = ioas
        .iter()
        .map(|i| InformationObject::new(*i, element(*i)))
        .collect();
    Asdu {
        type_id: objects[0].element.type_id(),
        sequence: false,
        cot: Cot::new(cause),
        originator: 0,
        common_address: ca,
        objects,
    }
    .to_bytes()
    .expect("encodes")
}

fn counter(i: u32) -> BinaryCounter {
    BinaryCounter {
        value: i as i32,
        ..BinaryCounter::default()
    }
}

fn ci_answer(ca: u16, cause: Cause, negative: bool) -> Vec<u8> {
    let mut cot = Cot::new(cause);
    cot.negative = negative;
    Asdu::single(cot, ca, 0, Element::C_CI_NA_1 { qualifier: Qcc(5) })
        .to_bytes()
        .expect("encodes")
}

fn end_of_initialization(ca: u16) -> Vec<u8> {
    Asdu::single(
        Cot::new(Cause::INITIALIZED),
        ca,
        0,
        Element::M_EI_NA_1 { cause: 0 },
    )
    .to_bytes()
    .expect("encodes")
}

/// The commands as (type, common address, qualifier).
fn commands(cmds: &[Vec<u8>]) -> Vec<(TypeId, u16, u8)> {
    cmds.iter()
        .map(|c| {
            let a = Asdu::decode(c).expect("valid");
            let q = match a.objects[0].element {
                Element::C_IC_NA_1 { qualifier } => qualifier.0,
                Element::C_CI_NA_1 { qualifier } => qualifier.0,
                _ => 0,
            };
            (a.type_id, a.common_address, q)
        })
        .collect()
}

fn gi(ca: u16) -> (TypeId, u16, u8) {
    (TypeId::C_IC_NA_1, ca, 20)
}

fn ci(ca: u16) -> (TypeId, u16, u8) {
    (TypeId::C_CI_NA_1, ca, 5)
}

/// A session that knows points 1, 2, 3 of each of `stations`, from a
/// previous connection.
fn known(policy: OnLinkLoss, cas: Vec<u16>, stations: &[u16]) -> Session {
    let mut s = session(policy, cas);
    for ca in stations {
        s.on_asdu(&floats(*ca, Cause::SPONTANEOUS, &[1, 2, 3]), NOW);
    }
    s.on_link_lost();
    s
}

fn marked(s: &mut Session) -> Vec<(u16, u32)> {
    addrs(&s.take_marked(usize::MAX, NOW))
}

#[test]
fn three_stations_answering_a_broadcast_interleaved_each_judge_only_their_own_points() {
    let mut s = known(OnLinkLoss::Nt, vec![], &[1, 2, 3]);
    assert_eq!(commands(&s.connected(NOW)), [gi(65535)]);
    let feed = |s: &mut Session, raw: Vec<u8>| {
        let out = s.on_asdu(&raw, NOW);
        (marked(s), commands(&out.replies))
    };
    let nothing = (vec![], vec![]);
    assert_eq!(feed(&mut s, floats(1, Cause::INTERROGATED, &[1])), nothing);
    assert_eq!(
        feed(&mut s, gi_answer(2, Cause::ACTIVATION_CON, false)),
        nothing
    );
    assert_eq!(
        feed(&mut s, gi_answer(1, Cause::ACTIVATION_CON, false)),
        nothing
    );
    assert_eq!(
        feed(&mut s, floats(2, Cause::INTERROGATED, &[1, 2])),
        nothing
    );
    assert_eq!(
        feed(&mut s, gi_answer(3, Cause::ACTIVATION_CON, false)),
        nothing
    );
    assert_eq!(feed(&mut s, floats(3, Cause::INTERROGATED, &[3])), nothing);
    assert_eq!(feed(&mut s, floats(1, Cause::INTERROGATED, &[2])), nothing);
    assert_eq!(
        feed(&mut s, gi_answer(2, Cause::ACTIVATION_TERMINATION, false)),
        (vec![(2, 3)], vec![]),
        "station 2's end judges station 2 alone"
    );
    assert_eq!(feed(&mut s, floats(3, Cause::INTERROGATED, &[1])), nothing);
    assert_eq!(
        feed(&mut s, gi_answer(1, Cause::ACTIVATION_TERMINATION, false)),
        (vec![(1, 3)], vec![])
    );
    assert_eq!(
        feed(&mut s, gi_answer(3, Cause::ACTIVATION_TERMINATION, false)),
        (vec![(3, 2)], vec![ci(65535)]),
        "every station known has ended: the counters are read"
    );
}

#[test]
fn one_confirmation_and_termination_at_65535_judge_every_station_by_its_own_points() {
    let mut s = known(OnLinkLoss::Nt, vec![], &[1, 2, 3]);
    s.connected(NOW);
    s.on_asdu(&gi_answer(65535, Cause::ACTIVATION_CON, false), NOW);
    s.on_asdu(&floats(1, Cause::INTERROGATED, &[1, 2, 3]), NOW);
    s.on_asdu(&floats(2, Cause::INTERROGATED, &[1]), NOW);
    s.on_asdu(&floats(3, Cause::INTERROGATED, &[2, 3]), NOW);
    let out = s.on_asdu(&gi_answer(65535, Cause::ACTIVATION_TERMINATION, false), NOW);
    assert_eq!(marked(&mut s), [(2, 2), (2, 3), (3, 1)]);
    assert_eq!(commands(&out.replies), [ci(65535)]);
}

#[test]
fn a_point_sent_spontaneously_during_a_broadcast_before_its_stations_answer_is_not_marked() {
    let mut s = known(OnLinkLoss::Nt, vec![], &[1, 2]);
    s.connected(NOW);
    s.on_asdu(&gi_answer(65535, Cause::ACTIVATION_CON, false), NOW);
    s.on_asdu(&floats(1, Cause::INTERROGATED, &[1, 2, 3]), NOW);
    // Station 2 reports a change before its own answer, which leaves that
    // point out: the source has just delivered it.
    s.on_asdu(&floats(2, Cause::SPONTANEOUS, &[3]), NOW);
    s.on_asdu(&floats(2, Cause::INTERROGATED, &[1]), NOW);
    s.on_asdu(&gi_answer(65535, Cause::ACTIVATION_TERMINATION, false), NOW);
    assert_eq!(marked(&mut s), [(2, 2)]);
}

#[test]
fn a_station_refusing_the_broadcast_keeps_its_points_unmarked() {
    let mut s = known(OnLinkLoss::Nt, vec![], &[1, 2]);
    s.connected(NOW);
    s.on_asdu(&gi_answer(1, Cause::ACTIVATION_CON, false), NOW);
    s.on_asdu(&gi_answer(2, Cause::ACTIVATION_CON, true), NOW);
    s.on_asdu(&floats(1, Cause::INTERROGATED, &[1]), NOW);
    let out = s.on_asdu(&gi_answer(1, Cause::ACTIVATION_TERMINATION, false), NOW);
    assert_eq!(marked(&mut s), [(1, 2), (1, 3)], "station 2 untouched");
    assert_eq!(s.stats().negative_confirmations, 1);
    assert_eq!(commands(&out.replies), [ci(65535)]);
    // A late termination from the refusing station judges nothing either.
    s.on_asdu(&gi_answer(2, Cause::ACTIVATION_TERMINATION, false), NOW);
    assert_eq!(marked(&mut s), []);
}

#[test]
fn a_station_ending_its_part_of_a_broadcast_without_data_has_its_points_marked() {
    let mut s = known(OnLinkLoss::Nt, vec![], &[1, 2]);
    s.connected(NOW);
    s.on_asdu(&gi_answer(1, Cause::ACTIVATION_CON, false), NOW);
    s.on_asdu(&floats(1, Cause::INTERROGATED, &[1, 2, 3]), NOW);
    s.on_asdu(&gi_answer(1, Cause::ACTIVATION_TERMINATION, false), NOW);
    let out = s.on_asdu(&gi_answer(2, Cause::ACTIVATION_TERMINATION, false), NOW);
    assert_eq!(marked(&mut s), [(2, 1), (2, 2), (2, 3)]);
    assert_eq!(commands(&out.replies), [ci(65535)]);
}

#[test]
fn a_configured_station_refusing_is_not_judged_nor_asked_for_its_counters() {
    let mut s = known(OnLinkLoss::Nt, vec![1, 2], &[1, 2]);
    assert_eq!(commands(&s.connected(NOW)), [gi(1), gi(2)]);
    let out = s.on_asdu(&gi_answer(2, Cause::UNKNOWN_COMMON_ADDRESS, true), NOW);
    assert!(out.replies.is_empty());
    s.on_asdu(&floats(1, Cause::INTERROGATED, &[1, 2, 3]), NOW);
    let out = s.on_asdu(&gi_answer(1, Cause::ACTIVATION_TERMINATION, false), NOW);
    assert_eq!(marked(&mut s), []);
    assert_eq!(commands(&out.replies), [ci(1)]);
}

#[test]
fn an_interrogation_that_never_terminates_is_given_up_at_the_timeout_and_marks_nothing() {
    let mut s = known(OnLinkLoss::Nt, vec![1], &[1]);
    s.connected(NOW);
    assert_eq!(s.next_deadline(), Some(NOW + TIMEOUT));
    s.on_asdu(&gi_answer(1, Cause::ACTIVATION_CON, false), NOW + 10);
    s.on_asdu(&floats(1, Cause::INTERROGATED, &[1]), NOW + 1000);
    // What the station sends moves the deadline; spontaneous data does not.
    s.on_asdu(&floats(1, Cause::SPONTANEOUS, &[2]), NOW + 2000);
    let deadline = NOW + 1000 + TIMEOUT;
    assert_eq!(s.next_deadline(), Some(deadline));
    assert!(s.on_timeout(deadline - 1).is_empty());
    assert_eq!(s.next_deadline(), Some(deadline), "still waiting");
    let cmds = s.on_timeout(deadline);
    assert_eq!(
        commands(&cmds),
        [ci(1)],
        "given up: the counters are read next"
    );
    assert!(!s.has_marked(), "a timeout marks nothing");
    assert_eq!(s.next_deadline(), Some(deadline + TIMEOUT), "the counters'");
    // A termination after the timeout judges nothing.
    s.on_asdu(
        &gi_answer(1, Cause::ACTIVATION_TERMINATION, false),
        deadline + 5,
    );
    assert_eq!(marked(&mut s), []);
}

#[test]
fn a_broadcast_no_station_answers_is_given_up_at_the_timeout_and_marks_nothing() {
    let mut s = known(OnLinkLoss::Iv, vec![], &[1, 2]);
    s.connected(NOW);
    s.on_asdu(&gi_answer(65535, Cause::ACTIVATION_CON, false), NOW + 5);
    assert_eq!(s.next_deadline(), Some(NOW + 5 + TIMEOUT));
    assert_eq!(commands(&s.on_timeout(NOW + 5 + TIMEOUT)), [ci(65535)]);
    assert!(!s.has_marked());
    s.on_asdu(
        &gi_answer(65535, Cause::ACTIVATION_TERMINATION, false),
        NOW + 6 + TIMEOUT,
    );
    assert!(!s.has_marked());
}

#[test]
fn counters_and_protection_events_are_never_marked_by_a_station_interrogation() {
    let mut s = session(OnLinkLoss::Nt, vec![1]);
    let spont = Cause::SPONTANEOUS;
    s.on_asdu(&floats(1, spont, &[1, 2]), NOW);
    s.on_asdu(
        &objects(1, spont, &[10], |i| Element::M_IT_NA_1 {
            value: counter(i),
        }),
        NOW,
    );
    s.on_asdu(
        &objects(1, spont, &[11], |i| Element::M_IT_TA_1 {
            value: counter(i),
            time: Cp24Time2a::default(),
        }),
        NOW,
    );
    s.on_asdu(
        &objects(1, spont, &[12], |i| Element::M_IT_TB_1 {
            value: counter(i),
            time: Cp56Time2a::default(),
        }),
        NOW,
    );
    s.on_asdu(
        &objects(1, spont, &[20], |_| Element::M_EP_TA_1 {
            event: DoublePoint::default(),
            elapsed: Cp16Time2a(5),
            time: Cp24Time2a::default(),
        }),
        NOW,
    );
    s.on_asdu(
        &objects(1, spont, &[21], |_| Element::M_EP_TB_1 {
            start: StartEvents::default(),
            quality: Quality::GOOD,
            duration: Cp16Time2a(5),
            time: Cp24Time2a::default(),
        }),
        NOW,
    );
    s.on_asdu(
        &objects(1, spont, &[22], |_| Element::M_EP_TC_1 {
            circuits: OutputCircuits::default(),
            quality: Quality::GOOD,
            operating: Cp16Time2a(5),
            time: Cp24Time2a::default(),
        }),
        NOW,
    );
    s.on_asdu(
        &objects(1, spont, &[23], |_| Element::M_EP_TD_1 {
            event: DoublePoint::default(),
            elapsed: Cp16Time2a(5),
            time: Cp56Time2a::default(),
        }),
        NOW,
    );
    s.on_asdu(
        &objects(1, spont, &[24], |_| Element::M_EP_TE_1 {
            start: StartEvents::default(),
            quality: Quality::GOOD,
            duration: Cp16Time2a(5),
            time: Cp56Time2a::default(),
        }),
        NOW,
    );
    s.on_asdu(
        &objects(1, spont, &[25], |_| Element::M_EP_TF_1 {
            circuits: OutputCircuits::default(),
            quality: Quality::GOOD,
            operating: Cp16Time2a(5),
            time: Cp56Time2a::default(),
        }),
        NOW,
    );
    assert_eq!(s.points_known(), 11);
    s.on_link_lost();
    s.connected(NOW);
    s.on_asdu(&gi_answer(1, Cause::ACTIVATION_CON, false), NOW);
    s.on_asdu(&floats(1, Cause::INTERROGATED, &[1]), NOW);
    s.on_asdu(&gi_answer(1, Cause::ACTIVATION_TERMINATION, false), NOW);
    assert_eq!(marked(&mut s), [(1, 2)], "only the measured value");
}

#[test]
fn after_the_interrogation_the_counters_are_read_and_those_not_delivered_marked_invalid() {
    let mut s = session(OnLinkLoss::Nt, vec![1]);
    s.on_asdu(&floats(1, Cause::SPONTANEOUS, &[1]), NOW);
    s.on_asdu(
        &objects(1, Cause::SPONTANEOUS, &[10, 11], |i| Element::M_IT_NA_1 {
            value: counter(i),
        }),
        NOW,
    );
    s.on_asdu(
        &objects(1, Cause::SPONTANEOUS, &[12], |i| Element::M_IT_TB_1 {
            value: counter(i),
            time: Cp56Time2a::default(),
        }),
        NOW,
    );
    s.on_link_lost();
    s.connected(NOW);
    s.on_asdu(&gi_answer(1, Cause::ACTIVATION_CON, false), NOW);
    s.on_asdu(&floats(1, Cause::INTERROGATED, &[1]), NOW);
    let out = s.on_asdu(&gi_answer(1, Cause::ACTIVATION_TERMINATION, false), NOW);
    assert_eq!(commands(&out.replies), [ci(1)], "QCC 5: general, read");
    assert_eq!(marked(&mut s), []);
    s.on_asdu(&ci_answer(1, Cause::ACTIVATION_CON, false), NOW);
    let got = s.on_asdu(
        &objects(1, Cause::COUNTER_REQUEST, &[10], |i| Element::M_IT_NA_1 {
            value: counter(i),
        }),
        NOW,
    );
    assert_eq!(got.points[0].cot, 37);
    s.on_asdu(&ci_answer(1, Cause::ACTIVATION_TERMINATION, false), NOW);
    let m = s.take_marked(usize::MAX, NOW);
    assert_eq!(addrs(&m), [(1, 11), (1, 12)], "the counters only");
    assert!(m.iter().all(|p| p.quality.iv));
}

#[test]
fn the_keep_policy_marks_no_counter_either() {
    let mut s = session(OnLinkLoss::Keep, vec![1]);
    s.on_asdu(
        &objects(1, Cause::SPONTANEOUS, &[10], |i| Element::M_IT_NA_1 {
            value: counter(i),
        }),
        NOW,
    );
    s.counter_interrogation(NOW);
    s.on_asdu(&ci_answer(1, Cause::ACTIVATION_TERMINATION, false), NOW);
    assert!(!s.has_marked());
}

#[test]
fn the_counter_interrogation_mode_sets_the_freeze_bits_and_only_read_judges() {
    for (mode, qcc) in [
        (CounterMode::Read, Some(0x05)),
        (CounterMode::Freeze, Some(0x45)),
        (CounterMode::FreezeReset, Some(0x85)),
        (CounterMode::Reset, Some(0xC5)),
        (CounterMode::Off, None),
    ] {
        let mut s = Session::new(
            "rtu-a",
            SessionConfig {
                counter_mode: mode,
                ..config(OnLinkLoss::Nt, vec![1])
            },
        );
        s.on_asdu(
            &objects(1, Cause::SPONTANEOUS, &[10], |i| Element::M_IT_NA_1 {
                value: counter(i),
            }),
            NOW,
        );
        s.on_link_lost();
        s.connected(NOW);
        let out = s.on_asdu(&gi_answer(1, Cause::ACTIVATION_TERMINATION, false), NOW);
        let want: Vec<(TypeId, u16, u8)> =
            qcc.map(|q| (TypeId::C_CI_NA_1, 1, q)).into_iter().collect();
        assert_eq!(commands(&out.replies), want, "{mode:?} after the GI");
        assert_eq!(
            commands(&s.counter_interrogation(NOW)),
            want,
            "{mode:?} periodic"
        );
        s.on_asdu(&ci_answer(1, Cause::ACTIVATION_TERMINATION, false), NOW);
        let judged = if mode == CounterMode::Read {
            vec![(1, 10)]
        } else {
            vec![]
        };
        assert_eq!(marked(&mut s), judged, "{mode:?}");
    }
}

#[test]
fn a_station_refusing_the_counter_interrogation_is_not_asked_again_on_that_connection() {
    let mut s = session(OnLinkLoss::Nt, vec![1, 2]);
    s.connected(NOW);
    let out = s.on_asdu(&gi_answer(1, Cause::ACTIVATION_TERMINATION, false), NOW);
    assert_eq!(
        commands(&out.replies),
        [ci(1)],
        "each after its own station's"
    );
    let out = s.on_asdu(&gi_answer(2, Cause::ACTIVATION_TERMINATION, false), NOW);
    assert_eq!(commands(&out.replies), [ci(2)]);
    s.on_asdu(&ci_answer(2, Cause::ACTIVATION_CON, true), NOW);
    assert_eq!(s.stats().negative_confirmations, 1);
    assert_eq!(commands(&s.counter_interrogation(NOW)), [ci(1)]);
    // c104's refusals lack P/N: cause 46 alone is a refusal too.
    s.on_asdu(&ci_answer(1, Cause::UNKNOWN_COMMON_ADDRESS, false), NOW);
    assert_eq!(commands(&s.counter_interrogation(NOW)), []);
    // A new connection asks again.
    s.on_link_lost();
    s.connected(NOW);
    let mut asked = commands(
        &s.on_asdu(&gi_answer(1, Cause::ACTIVATION_TERMINATION, false), NOW)
            .replies,
    );
    asked.extend(commands(
        &s.on_asdu(&gi_answer(2, Cause::ACTIVATION_TERMINATION, false), NOW)
            .replies,
    ));
    assert_eq!(asked, [ci(1), ci(2)]);
}

#[test]
fn an_end_of_initialization_interrogates_its_station_only_then_its_counters() {
    let mut s = known(OnLinkLoss::Nt, vec![], &[1, 2]);
    s.connected(NOW);
    s.on_asdu(&gi_answer(65535, Cause::ACTIVATION_CON, false), NOW);
    s.on_asdu(&floats(1, Cause::INTERROGATED, &[1, 2, 3]), NOW);
    s.on_asdu(&floats(2, Cause::INTERROGATED, &[1, 2, 3]), NOW);
    s.on_asdu(&gi_answer(65535, Cause::ACTIVATION_TERMINATION, false), NOW);
    assert_eq!(marked(&mut s), []);
    let out = s.on_asdu(&end_of_initialization(2), NOW);
    assert_eq!(commands(&out.replies), [gi(2)]);
    s.on_asdu(&gi_answer(2, Cause::ACTIVATION_CON, false), NOW);
    s.on_asdu(&floats(2, Cause::INTERROGATED, &[1, 3]), NOW);
    let out = s.on_asdu(&gi_answer(2, Cause::ACTIVATION_TERMINATION, false), NOW);
    assert_eq!(commands(&out.replies), [ci(2)]);
    assert_eq!(marked(&mut s), [(2, 2)], "station 1 is not judged");
}

#[test]
fn a_broadcast_refused_with_cause_46_interrogates_each_station_known() {
    for negative_con in [false, true] {
        let mut s = known(OnLinkLoss::Nt, vec![], &[3, 1]);
        s.connected(NOW);
        // c104 mirrors with cause 46 and no P/N; the standard's shape is P/N set.
        let refusal = if negative_con {
            gi_answer(65535, Cause::ACTIVATION_CON, true)
        } else {
            gi_answer(65535, Cause::UNKNOWN_COMMON_ADDRESS, false)
        };
        let out = s.on_asdu(&refusal, NOW);
        assert_eq!(commands(&out.replies), [gi(1), gi(3)], "P/N {negative_con}");
        assert_eq!(s.hint(), None);
        assert_eq!(s.stats().negative_confirmations, 1);
        s.on_asdu(&floats(1, Cause::INTERROGATED, &[1, 2]), NOW);
        let out = s.on_asdu(&gi_answer(1, Cause::ACTIVATION_TERMINATION, false), NOW);
        assert_eq!(commands(&out.replies), [ci(1)]);
        assert_eq!(marked(&mut s), [(1, 3)]);
        // Periodic commands go to the stations, not to 65535.
        assert_eq!(commands(&s.interrogation(NOW)), [gi(1), gi(3)]);
        assert_eq!(
            s.clock_sync(NOW)
                .iter()
                .map(|c| Asdu::decode(c).expect("valid").common_address)
                .collect::<Vec<_>>(),
            [1, 3]
        );
    }
}

#[test]
fn with_nothing_known_a_refused_broadcast_sets_the_hint_and_each_station_heard_is_interrogated() {
    let mut s = session(OnLinkLoss::Nt, vec![]);
    s.connected(NOW);
    let out = s.on_asdu(&gi_answer(65535, Cause::UNKNOWN_COMMON_ADDRESS, true), NOW);
    assert!(out.replies.is_empty());
    assert_eq!(s.hint(), Some(HINT_LIST_COMMON_ADDRESSES));
    assert!(HINT_LIST_COMMON_ADDRESSES.contains("client.common_addresses"));
    let out = s.on_asdu(&floats(7, Cause::SPONTANEOUS, &[1]), NOW);
    assert_eq!(addrs(&out.points), [(7, 1)]);
    assert_eq!(commands(&out.replies), [gi(7)]);
    assert_eq!(s.hint(), None);
    assert!(
        s.on_asdu(&floats(7, Cause::SPONTANEOUS, &[2]), NOW)
            .replies
            .is_empty(),
        "once per station"
    );
    let out = s.on_asdu(&end_of_initialization(8), NOW);
    assert_eq!(commands(&out.replies), [gi(8)]);
    let out = s.on_asdu(&gi_answer(7, Cause::ACTIVATION_TERMINATION, false), NOW);
    assert_eq!(commands(&out.replies), [ci(7)]);
    assert_eq!(
        marked(&mut s),
        [],
        "the data that started the interrogation counts as delivered by it"
    );
    // The next connection starts with the broadcast again, and the hint is gone.
    s.on_link_lost();
    assert_eq!(commands(&s.connected(NOW)), [gi(65535)]);
}

#[test]
fn an_undecodable_answer_leaves_its_stations_interrogation_without_judgement() {
    let mut s = known(OnLinkLoss::Nt, vec![1, 2], &[1, 2]);
    s.connected(NOW);
    s.on_asdu(&floats(1, Cause::INTERROGATED, &[1]), NOW);
    let mut broken = floats(1, Cause::INTERROGATED, &[2]);
    broken.push(0);
    s.on_asdu(&broken, NOW);
    s.on_asdu(&floats(2, Cause::INTERROGATED, &[1]), NOW);
    s.on_asdu(&gi_answer(1, Cause::ACTIVATION_TERMINATION, false), NOW);
    s.on_asdu(&gi_answer(2, Cause::ACTIVATION_TERMINATION, false), NOW);
    assert_eq!(marked(&mut s), [(2, 2), (2, 3)], "station 1 not judged");
    assert_eq!(s.stats().malformed_asdus, 1);
}

#[test]
fn points_adopted_from_an_earlier_run_are_judged_like_points_received() {
    let mut earlier = session(OnLinkLoss::Nt, vec![]);
    let old = earlier.on_asdu(&floats(1, Cause::SPONTANEOUS, &[1, 2, 3]), NOW - 60_000);
    let mut s = session(OnLinkLoss::Nt, vec![]);
    // Received on this run before the image was read: not replaced.
    s.on_asdu(&floats(1, Cause::SPONTANEOUS, &[3]), NOW);
    for p in &old.points {
        s.adopt(p);
    }
    assert_eq!(s.points_known(), 3);
    assert!(!s.has_marked(), "adopting writes nothing");
    let marked = grace_expired(&mut s, NOW + 5000);
    assert_eq!(addrs(&marked), [(1, 1), (1, 2), (1, 3)]);
    assert_eq!(marked[2].received, NOW + 5000);
    // After a reconnection, the interrogation judges them too.
    let mut s = session(OnLinkLoss::Iv, vec![]);
    for p in &old.points {
        s.adopt(p);
    }
    s.connected(NOW);
    s.on_asdu(&gi_answer(1, Cause::ACTIVATION_CON, false), NOW);
    s.on_asdu(&floats(1, Cause::INTERROGATED, &[1]), NOW);
    s.on_asdu(&gi_answer(1, Cause::ACTIVATION_TERMINATION, false), NOW);
    let marked = s.take_marked(10, NOW);
    assert_eq!(addrs(&marked), [(1, 2), (1, 3)]);
    assert!(marked.iter().all(|p| p.quality.iv && !p.quality.nt));
    assert_eq!(marked[0].value, old.points[1].value, "the value is kept");
    assert_eq!(marked[1].value, old.points[2].value, "the value is kept");
}
