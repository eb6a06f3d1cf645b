//! The inbound session on scripted ASDUs: no sockets, no clocks.

use super::*;
use crate::iec104::asdu::InformationObject;
use crate::iec104::elements::{Quality, SinglePoint};

const NOW: i64 = 1_795_252_530_123;

fn session(policy: OnLinkLoss, cas: Vec<u16>) -> Session {
    Session::new("rtu-a", Zone::UTC, policy, cas)
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
    let out = s
        .on_asdu(&floats(1, Cause::SPONTANEOUS, &[5, 3, 9]), NOW)
        .expect("valid");
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
    let out = s.on_asdu(&raw, NOW).expect("not a protocol error");
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
    assert!(s.on_asdu(&neg, NOW).expect("ok").replies.is_empty());
    assert!(s.on_asdu(&floats(1, Cause::SPONTANEOUS, &[1]), NOW).is_ok());
}

#[test]
fn a_malformed_asdu_is_a_protocol_error() {
    let mut s = session(OnLinkLoss::Nt, vec![]);
    let mut raw = floats(1, Cause::SPONTANEOUS, &[1]);
    raw.push(0);
    assert!(matches!(
        s.on_asdu(&raw, NOW),
        Err(ProtocolError(AsduError::TrailingBytes { .. }))
    ));
}

#[test]
fn interrogation_goes_to_the_broadcast_address_or_each_configured_station() {
    let mut s = session(OnLinkLoss::Nt, vec![]);
    let cmds = s.interrogation();
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
        .interrogation()
        .iter()
        .map(|c| Asdu::decode(c).expect("valid").common_address)
        .collect();
    assert_eq!(cas, [3, 7]);
}

#[test]
fn a_completed_interrogation_marks_points_it_did_not_deliver_invalid() {
    let mut s = session(OnLinkLoss::Nt, vec![1]);
    s.on_asdu(&floats(1, Cause::SPONTANEOUS, &[1, 2, 3]), NOW)
        .expect("valid");
    s.interrogation();
    s.on_asdu(&gi_answer(1, Cause::ACTIVATION_CON, false), NOW)
        .expect("valid");
    s.on_asdu(&floats(1, Cause::INTERROGATED, &[1, 2]), NOW)
        .expect("valid");
    let out = s
        .on_asdu(&gi_answer(1, Cause::ACTIVATION_TERMINATION, false), NOW + 5)
        .expect("valid");
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
    s.on_asdu(&floats(1, Cause::SPONTANEOUS, &[1, 2]), NOW)
        .expect("valid");
    s.on_asdu(&floats(2, Cause::SPONTANEOUS, &[1, 2]), NOW)
        .expect("valid");
    s.interrogation();
    // lib60870 answers a broadcast per station: station 1 first.
    s.on_asdu(&gi_answer(1, Cause::ACTIVATION_CON, false), NOW)
        .expect("valid");
    s.on_asdu(&floats(1, Cause::INTERROGATED, &[1]), NOW)
        .expect("valid");
    s.on_asdu(&gi_answer(1, Cause::ACTIVATION_TERMINATION, false), NOW)
        .expect("valid");
    assert_eq!(
        addrs(&s.take_marked(usize::MAX, NOW)),
        [(1, 2)],
        "station 2 is not judged by station 1's answer"
    );
    s.on_asdu(&gi_answer(2, Cause::ACTIVATION_CON, false), NOW)
        .expect("valid");
    s.on_asdu(&floats(2, Cause::INTERROGATED, &[1, 2]), NOW)
        .expect("valid");
    s.on_asdu(&gi_answer(2, Cause::ACTIVATION_TERMINATION, false), NOW)
        .expect("valid");
    assert!(!s.has_marked());
}

#[test]
fn keep_policy_marks_nothing() {
    let mut s = session(OnLinkLoss::Keep, vec![1]);
    s.on_asdu(&floats(1, Cause::SPONTANEOUS, &[1, 2]), NOW)
        .expect("valid");
    assert!(grace_expired(&mut s, NOW).is_empty());
    s.interrogation();
    s.on_asdu(&gi_answer(1, Cause::ACTIVATION_TERMINATION, false), NOW)
        .expect("valid");
    assert!(!s.has_marked());
}

#[test]
fn link_loss_marks_every_point_not_topical_once() {
    let mut s = session(OnLinkLoss::Nt, vec![]);
    s.on_asdu(&floats(1, Cause::SPONTANEOUS, &[1, 2]), NOW)
        .expect("valid");
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
    let out = s
        .on_asdu(&floats(1, Cause::SPONTANEOUS, &[1]), NOW + 7000)
        .expect("valid");
    assert!(!out.points[0].quality.nt);
}

#[test]
fn marked_points_are_taken_in_chunks_in_address_order() {
    let mut s = session(OnLinkLoss::Nt, vec![]);
    s.on_asdu(&floats(2, Cause::SPONTANEOUS, &[9, 1]), NOW)
        .expect("valid");
    s.on_asdu(&floats(1, Cause::SPONTANEOUS, &[5, 3, 7]), NOW)
        .expect("valid");
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
    )
    .expect("valid");
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
    let out = s.on_asdu(&ei, NOW).expect("valid");
    assert_eq!(out.replies.len(), 1);
    assert_eq!(
        Asdu::decode(&out.replies[0]).expect("valid").type_id,
        TypeId::C_IC_NA_1
    );
}

#[test]
fn negative_confirmations_are_counted() {
    let mut s = session(OnLinkLoss::Nt, vec![1]);
    s.interrogation();
    s.on_asdu(&gi_answer(1, Cause::ACTIVATION_CON, true), NOW)
        .expect("valid");
    assert_eq!(s.stats().negative_confirmations, 1);
}

#[test]
fn clock_sync_and_counter_interrogation_address_the_configured_stations() {
    let s = session(OnLinkLoss::Nt, vec![2]);
    let cs = Asdu::decode(&s.clock_sync(NOW)[0]).expect("valid");
    match &cs.objects[0].element {
        Element::C_CS_NA_1 { time } => assert_eq!(time.to_unix_ms(), Ok(NOW)),
        other => panic!("{other:?}"),
    }
    assert_eq!(cs.common_address, 2);
    let ci = Asdu::decode(&s.counter_interrogation()[0]).expect("valid");
    assert_eq!((ci.type_id, ci.common_address), (TypeId::C_CI_NA_1, 2));
}

#[test]
fn clock_sync_in_a_named_zone_sends_local_time_with_su_on_summer_time() {
    let berlin: Zone = "Europe/Berlin".parse().expect("a zone name");
    let s = Session::new("rtu-a", berlin, OnLinkLoss::Nt, vec![2]);
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
    s.on_asdu(&floats(1, Cause::SPONTANEOUS, &[7]), NOW)
        .expect("valid");
    s.time_errors.insert((1, 7), Box::from("stale"));
    s.on_asdu(&floats(1, Cause::SPONTANEOUS, &[7]), NOW)
        .expect("valid");
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
