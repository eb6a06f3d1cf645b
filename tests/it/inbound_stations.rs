//! The inbound connector against RTUs that serve several stations (common
//! addresses) behind one link, end to end: the connector started with its
//! documented command line, a Valkey of the test's own, an RTU outage.
//! Afterwards the image must equal the RTU, value for value and flag for
//! flag, for every station.
//!
//! - A c104 RTU (lib60870) with three stations and every monitor type c104
//!   serves. c104 answers a broadcast interrogation station by station
//!   (ACT_CON and ACT_TERM with CA 1, 2, 3) and leaves integrated totals to
//!   the counter interrogation. The image is compared with what c104 put on
//!   the wire (`--report-sent`), and the wire with what the RTU was given,
//!   so that a failure says whether c104 or the connector lost something.
//! - A raw-socket RTU in the test (support/raw_rtu.rs) that answers the
//!   broadcast interrogation with one ACT_CON and one ACT_TERM at 65535 for
//!   all three stations and holds some points back after a reconnection.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alp_connex::contract::iec104::{Reception, points_from_asdu};
use alp_connex::contract::{DataPoint, PointValue};
use alp_connex::iec104::asdu::{Asdu, BROADCAST_CA};
use alp_connex::iec104::elements::*;
use alp_connex::iec104::time::{Cp16Time2a, Cp56Time2a};
use alp_connex::iec104::types::{Cause, Element, TypeId};
use serde_json::{Value, json};

use crate::interop::{T, TIME_MS, in_c104_interrogation, is_counter, summary};
use crate::support::{
    Connector, Peer, RawLink, RawRtu, TempDir, ValkeyGuard, c104_rtu, command_answer, free_port,
    image_points, pack_points,
};

/// (common address, information object address).
type Addr = (u16, u32);

/// What an RTU holds: every point, in address order.
type State = BTreeMap<Addr, Element>;

const STATIONS: [u16; 3] = [1, 2, 3];

/// How long the connector may take for what it must do after an answer
/// (a counter interrogation after the station interrogations).
const FOLLOW_UP: Duration = Duration::from_secs(10);

/// The point whose spontaneous updates show that the connector has
/// processed (and written) everything the RTU sent before.
const SENTINEL: Addr = (3, 9000);

/// The data point the contract makes of `e` received with `cause`.
fn point_of((ca, ioa): Addr, e: &Element, cause: Cause) -> DataPoint {
    crate::inbound::expected(ca, ioa, e, cause)
}

/// Equal in everything the source determines (all but `source` and
/// `received`).
fn same_point(got: &DataPoint, want: &DataPoint) -> bool {
    let mut g = got.clone();
    g.source = Arc::clone(&want.source);
    g.received = want.received;
    g == *want
}

/// What a difference between the image and the source is, for the summary.
fn kinds(got: &DataPoint, want: &DataPoint) -> Vec<&'static str> {
    let (g, w) = (got.quality, want.quality);
    let mut k = Vec::new();
    if g.iv && !w.iv {
        k.push("flagged iv, the source holds it valid");
    }
    if g.nt && !w.nt {
        k.push("flagged nt, the source holds it topical");
    }
    if !g.iv && w.iv {
        k.push("iv missing");
    }
    if !g.nt && w.nt {
        k.push("nt missing");
    }
    if (g.sb, g.bl, g.ov) != (w.sb, w.bl, w.ov) {
        k.push("sb, bl or ov differs");
    }
    if got.value != want.value {
        k.push("value differs");
    }
    if got.type_id != want.type_id || got.time != want.time || got.cot != want.cot {
        k.push("type, time tag or cause differs");
    }
    if k.is_empty() {
        k.push("another field differs");
    }
    k
}

/// Differences between the image and the source, collected over a whole
/// test so that one run shows every kind of failure.
#[derive(Default, Clone)]
struct Findings {
    counts: BTreeMap<String, usize>,
    examples: Vec<String>,
}

impl Findings {
    fn add(&mut self, phase: &str, (ca, ioa): Addr, kind: &str, detail: String) {
        let n = self
            .counts
            .entry(format!("{phase}: CA {ca}: {kind}"))
            .or_default();
        *n += 1;
        // The first two of each kind.
        if *n <= 2 {
            self.examples
                .push(format!("{phase}: CA {ca} IOA {ioa}: {kind}\n    {detail}"));
        }
    }

    /// A finding about the exchange rather than one point.
    fn note(&mut self, phase: &str, kind: &str, detail: String) {
        let n = self.counts.entry(format!("{phase}: {kind}")).or_default();
        *n += 1;
        self.examples.push(format!("{phase}: {kind}\n    {detail}"));
    }

    /// Compares one image point with what the source last sent.
    fn compare(&mut self, phase: &str, addr: Addr, got: Option<&DataPoint>, want: &DataPoint) {
        match got {
            None => self.add(
                phase,
                addr,
                "absent from the image",
                format!("want {}", want.to_json()),
            ),
            Some(g) if !same_point(g, want) => {
                for k in kinds(g, want) {
                    self.add(
                        phase,
                        addr,
                        k,
                        format!("got  {}\n    want {}", g.to_json(), want.to_json()),
                    );
                }
            }
            Some(_) => {}
        }
    }

    fn assert_none(&self, connector: &Connector) {
        if self.counts.is_empty() {
            return;
        }
        let mut msg = String::from("the image differs from the RTU:\n");
        for (k, n) in &self.counts {
            let _ = writeln!(msg, "  {n:4} × {k}");
        }
        msg.push_str("--- examples:\n");
        for e in &self.examples {
            let _ = writeln!(msg, "{e}");
        }
        let log: Vec<String> = connector
            .log()
            .into_iter()
            .filter(|l| !l.contains("DEBUG") && !l.contains("TRACE"))
            .collect();
        let _ = write!(
            msg,
            "--- connector log (info and above):\n{}",
            log[log.len().saturating_sub(40)..].join("\n")
        );
        panic!("{msg}");
    }
}

fn addrs(state: &State) -> Vec<Addr> {
    state.keys().copied().collect()
}

/// The image of every point of `state`.
fn image_of(valkey: &ValkeyGuard, state: &State) -> BTreeMap<Addr, Option<DataPoint>> {
    let a = addrs(state);
    let points = image_points(valkey, &a);
    a.into_iter().zip(points).collect()
}

// --- the c104 RTU -----------------------------------------------------------

/// Every monitor type c104 2.2.1 serves (tests/peers/peer_common.py).
const C104_TYPES: [TypeId; 21] = {
    use TypeId::*;
    [
        M_SP_NA_1, M_SP_TB_1, M_DP_NA_1, M_DP_TB_1, M_ST_NA_1, M_ST_TB_1, M_BO_NA_1, M_BO_TB_1,
        M_ME_NA_1, M_ME_TD_1, M_ME_ND_1, M_ME_NB_1, M_ME_TE_1, M_ME_NC_1, M_ME_TF_1, M_IT_NA_1,
        M_IT_TB_1, M_PS_NA_1, M_EP_TD_1, M_EP_TE_1, M_EP_TF_1,
    ]
};

/// Six points per type and station: four consecutive addresses (SQ=1
/// answers) and two scattered ones (SQ=0).
const OFFSETS: [u32; 6] = [0, 1, 2, 3, 10, 12];

fn c104_ioa(type_index: usize, i: usize) -> u32 {
    1000 + 100 * u32::try_from(type_index).expect("small") + OFFSETS[i]
}

/// Point `i` of type `t` of station `ca` in generation `generation` (1
/// before the outage, 2 after). Every generation moves the quality flags
/// one point on, so each point's flags change (a flagged point becomes
/// valid, a valid one flagged); values change for even `i` and for every
/// counter, and stay for odd `i`.
fn c104_element(t: TypeId, ca: u16, i: usize, generation: usize) -> Element {
    use Element::*;
    let g = if i.is_multiple_of(2) || is_counter(t) {
        generation
    } else {
        1
    };
    let n = i64::from(ca) * 1000 + i64::try_from(i * 10 + g).expect("small");
    let f = (i + generation - 1) % 6;
    let qds = Quality(
        [
            0,
            Quality::IV,
            Quality::NT,
            Quality::SB,
            Quality::BL,
            Quality::OV,
        ][f],
    );
    // SIQ, DIQ, SEP, QDP: no overflow bit.
    let siq = Quality(
        [
            0,
            Quality::IV,
            Quality::NT,
            Quality::SB,
            Quality::BL,
            Quality::IV | Quality::NT | Quality::SB | Quality::BL,
        ][f],
    );
    let time = Cp56Time2a::from_unix_ms(TIME_MS + n * 1000).expect("in range");
    let small = |m: i64| u16::try_from(n % m).expect("in range");
    let sp = SinglePoint {
        value: n % 2 == 0,
        quality: siq,
    };
    let dp = DoublePoint {
        value: DoubleState::from_bits(u8::try_from(n % 4).expect("2 bits")),
        quality: siq,
    };
    let step = StepPosition {
        value: i8::try_from(n % 128 - 64).expect("7 bits"),
        transient: n % 3 == 0,
    };
    let bits = u32::try_from(n)
        .expect("positive")
        .wrapping_mul(0x9E37_79B9);
    let norm = Normalized(i16::try_from(n * 11 % 60_000 - 30_000).expect("16 bits"));
    let scaled = i16::try_from(n * 13 % 60_000 - 30_000).expect("16 bits");
    // Eighths: exact in f32 and in the JSON.
    let float = n as f32 / 8.0 - 100.0;
    let bcr = BinaryCounter {
        value: i32::try_from(n * 1009).expect("32 bits") * if i == 3 { -1 } else { 1 },
        sequence: u8::try_from(n % 32).expect("5 bits"),
        carry: f == 2 || f == 5,
        adjusted: f == 3 || f == 5,
        invalid: f == 1 || f == 5,
    };
    match t {
        TypeId::M_SP_NA_1 => M_SP_NA_1 { value: sp },
        TypeId::M_SP_TB_1 => M_SP_TB_1 { value: sp, time },
        TypeId::M_DP_NA_1 => M_DP_NA_1 { value: dp },
        TypeId::M_DP_TB_1 => M_DP_TB_1 { value: dp, time },
        TypeId::M_ST_NA_1 => M_ST_NA_1 {
            value: step,
            quality: qds,
        },
        TypeId::M_ST_TB_1 => M_ST_TB_1 {
            value: step,
            quality: qds,
            time,
        },
        // c104 sends bitstrings with QDS 0 whatever it is given (PEERS.md).
        TypeId::M_BO_NA_1 => M_BO_NA_1 {
            value: bits,
            quality: Quality::GOOD,
        },
        TypeId::M_BO_TB_1 => M_BO_TB_1 {
            value: bits,
            quality: Quality::GOOD,
            time,
        },
        TypeId::M_ME_NA_1 => M_ME_NA_1 {
            value: norm,
            quality: qds,
        },
        TypeId::M_ME_TD_1 => M_ME_TD_1 {
            value: norm,
            quality: qds,
            time,
        },
        TypeId::M_ME_ND_1 => M_ME_ND_1 { value: norm },
        TypeId::M_ME_NB_1 => M_ME_NB_1 {
            value: scaled,
            quality: qds,
        },
        TypeId::M_ME_TE_1 => M_ME_TE_1 {
            value: scaled,
            quality: qds,
            time,
        },
        TypeId::M_ME_NC_1 => M_ME_NC_1 {
            value: float,
            quality: qds,
        },
        TypeId::M_ME_TF_1 => M_ME_TF_1 {
            value: float,
            quality: qds,
            time,
        },
        TypeId::M_IT_NA_1 => M_IT_NA_1 { value: bcr },
        TypeId::M_IT_TB_1 => M_IT_TB_1 { value: bcr, time },
        TypeId::M_PS_NA_1 => M_PS_NA_1 {
            value: StatusChanges {
                status: small(65_536).wrapping_mul(37),
                changes: small(65_536).rotate_left(5),
            },
            quality: qds,
        },
        TypeId::M_EP_TD_1 => M_EP_TD_1 {
            event: dp,
            elapsed: Cp16Time2a(small(60_000)),
            time,
        },
        TypeId::M_EP_TE_1 => M_EP_TE_1 {
            start: StartEvents(u8::try_from(n % 64).expect("6 bits")),
            quality: siq,
            duration: Cp16Time2a(small(59_999)),
            time,
        },
        TypeId::M_EP_TF_1 => M_EP_TF_1 {
            circuits: OutputCircuits(u8::try_from(n % 16).expect("4 bits")),
            quality: siq,
            operating: Cp16Time2a(small(59_998)),
            time,
        },
        other => panic!("c104 serves no {other:?}"),
    }
}

fn sentinel(value: i16) -> Element {
    Element::M_ME_NB_1 {
        value,
        quality: Quality::GOOD,
    }
}

/// The three stations of generation `generation`, with the sentinel.
fn c104_state(generation: usize, sentinel_value: i16) -> State {
    let mut s = State::new();
    for ca in STATIONS {
        for (ti, t) in C104_TYPES.iter().enumerate() {
            for i in 0..OFFSETS.len() {
                s.insert((ca, c104_ioa(ti, i)), c104_element(*t, ca, i, generation));
            }
        }
    }
    s.insert(SENTINEL, sentinel(sentinel_value));
    s
}

/// Starts a c104 RTU serving `state` from the moment it listens.
fn c104_serving(port: u16, state: &State, dir: &TempDir, name: &str) -> Peer {
    let mut lines = String::new();
    for ca in STATIONS {
        let points: Vec<Value> = state
            .iter()
            .filter(|((c, _), _)| *c == ca)
            .map(|((_, ioa), e)| summary(*ioa, e))
            .collect();
        lines.push_str(&json!({"ca": ca, "points": points}).to_string());
        lines.push('\n');
    }
    let file = dir.path().join(format!("{name}.jsonl"));
    std::fs::write(&file, lines).expect("write the RTU's points");
    let file = file.to_string_lossy().into_owned();
    c104_rtu(
        port,
        &[
            "--ca",
            "1",
            "--ca",
            "2",
            "--ca",
            "3",
            "--report-sent",
            "--load",
            &file,
        ],
    )
}

/// The points of `state` that c104 sends only spontaneously or, for
/// counters, on a counter interrogation.
fn outside_c104_interrogation(state: &State, ca: u16, counters: bool) -> Vec<u32> {
    state
        .iter()
        .filter(|((c, _), e)| {
            *c == ca
                && !in_c104_interrogation(e.type_id())
                && (counters || !is_counter(e.type_id()))
        })
        .map(|((_, ioa), _)| *ioa)
        .collect()
}

/// Sends the points spontaneously; c104 must put every one on the wire.
fn transmit(rtu: &mut Peer, ca: u16, ioas: &[u32]) {
    rtu.send(&json!({"op": "transmit", "cause": "SPONTANEOUS", "ca": ca, "ioas": ioas}));
    let sent = rtu.expect_event("transmitted", T);
    assert_eq!(
        sent["on_wire"],
        json!(ioas.len()),
        "c104 did not put every point of CA {ca} on the wire (c104's loss, not the connector's): {sent}"
    );
    rtu.expect_line(|v| v["event"] == "result" && v["op"] == "transmit", T);
}

/// Updates the sentinel and waits until the image shows it: everything the
/// RTU sent before has then been processed and written.
fn sync_c104(rtu: &mut Peer, state: &mut State, valkey: &ValkeyGuard, c: &Connector) {
    let next = match state.get(&SENTINEL) {
        Some(Element::M_ME_NB_1 { value, .. }) => value + 1,
        other => panic!("sentinel {other:?}"),
    };
    state.insert(SENTINEL, sentinel(next));
    rtu.op(
        json!({"op": "add", "ca": SENTINEL.0, "points": [summary(SENTINEL.1, &sentinel(next))]}),
        T,
    );
    transmit(rtu, SENTINEL.0, &[SENTINEL.1]);
    c.until("the sentinel's update in the image", T, || {
        image_points(valkey, &[SENTINEL])[0]
            .as_ref()
            .is_some_and(|p| p.value == PointValue::Scaled(next))
    });
}

/// What c104 put on the wire: the last data point per address, and the
/// command answers (type, cause, CA) in order.
struct Wire {
    last: BTreeMap<Addr, DataPoint>,
    answers: Vec<(TypeId, Cause, bool, u16)>,
}

fn wire(rtu: &mut Peer) -> Wire {
    rtu.drain();
    let source = Arc::<str>::from("rtu");
    let mut w = Wire {
        last: BTreeMap::new(),
        answers: Vec::new(),
    };
    for ev in rtu.history().iter().filter(|v| v["event"] == "sent") {
        let raw = ev["raw"].as_str().unwrap_or_default();
        let bytes: Vec<u8> = (0..raw.len() / 2)
            .filter_map(|i| u8::from_str_radix(raw.get(2 * i..2 * i + 2)?, 16).ok())
            .collect();
        let asdu = Asdu::decode(bytes.get(6..).unwrap_or_default())
            .unwrap_or_else(|e| panic!("c104 sent an ASDU that does not decode ({e}): {raw}"));
        if asdu.type_id.is_monitor() {
            let rx = Reception {
                source: &source,
                received: 0,
                zone: &alp_connex::iec104::time::UTC,
            };
            for p in points_from_asdu(&asdu, rx) {
                w.last.insert((p.casdu, p.ioa), p);
            }
        } else {
            w.answers.push((
                asdu.type_id,
                asdu.cot.cause,
                asdu.cot.negative,
                asdu.common_address,
            ));
        }
    }
    w
}

/// The stations whose answer to `command` c104 has terminated.
fn terminated(rtu: &mut Peer, command: TypeId) -> BTreeSet<u16> {
    wire(rtu)
        .answers
        .iter()
        .filter(|(t, c, neg, _)| *t == command && *c == Cause::ACTIVATION_TERMINATION && !neg)
        .map(|(_, _, _, ca)| *ca)
        .collect()
}

/// Waits until c104 has terminated its answer to `command` for every
/// station; false when it has not within `timeout`.
fn await_terminations(rtu: &mut Peer, command: TypeId, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let all: BTreeSet<u16> = STATIONS.into_iter().collect();
    loop {
        if terminated(rtu, command).is_superset(&all) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until c104 has answered a counter interrogation for every
/// station (the connector asks after each connection's interrogation);
/// a finding when it has not within [`FOLLOW_UP`].
fn await_counter_interrogation(rtu: &mut Peer, phase: &str, findings: &mut Findings) -> bool {
    if await_terminations(rtu, TypeId::C_CI_NA_1, FOLLOW_UP) {
        return true;
    }
    let asked: Vec<String> = rtu
        .history()
        .iter()
        .filter(|v| v["event"] == "command")
        .map(|v| format!("{} to CA {}", v["type"], v["ca"]))
        .collect();
    findings.note(
        phase,
        "no counter interrogation answered for every station",
        format!("the RTU received: {}", asked.join(", ")),
    );
    false
}

/// The data point `e` becomes on the wire, given what the wire carried
/// (`got`): the answer may come in the type without time tag, and
/// lib60870 scales normalized values by 32767.5 (one step off).
fn intended(addr: Addr, e: &Element, got: &DataPoint) -> DataPoint {
    let cause = Cause::new(got.cot).unwrap_or(Cause::SPONTANEOUS);
    let mut want = if got.type_id != e.type_id() && got.type_id == e.type_id().untimed() {
        point_of(addr, &e.clone().untimed(), cause)
    } else {
        point_of(addr, e, cause)
    };
    if let (PointValue::Normalized(a), PointValue::Normalized(b)) = (got.value, want.value)
        && (i32::from(a) - i32::from(b)).abs() <= 1
    {
        want.value = got.value;
    }
    want
}

/// Compares the image with the RTU's `state` through the wire: c104 must
/// have put each point on the wire as the RTU holds it (else c104 lost it:
/// panic), and the image must hold exactly what the wire carried last.
/// Counters missing from the wire were never asked for.
fn compare_c104(
    phase: &str,
    rtu: &mut Peer,
    state: &State,
    valkey: &ValkeyGuard,
    findings: &mut Findings,
) {
    let w = wire(rtu);
    let image = image_of(valkey, state);
    let gi_done = terminated(rtu, TypeId::C_IC_NA_1);
    let mut c104_faults = Vec::new();
    for (addr, e) in state {
        let got = image.get(addr).and_then(Option::as_ref);
        match w.last.get(addr) {
            Some(on_wire) => {
                let want = intended(*addr, e, on_wire);
                if !same_point(on_wire, &want) {
                    c104_faults.push(format!(
                        "CA {} IOA {}: on the wire {}, the RTU holds {}",
                        addr.0,
                        addr.1,
                        on_wire.to_json(),
                        want.to_json()
                    ));
                    continue;
                }
                findings.compare(phase, *addr, got, on_wire);
            }
            None if is_counter(e.type_id()) => {
                let want = point_of(*addr, e, Cause::COUNTER_REQUEST);
                let kind = "counter never read again (no counter interrogation answered)";
                let detail = match got {
                    Some(g) => format!("image {}\n    RTU   {}", g.to_json(), want.to_json()),
                    None => format!("absent; RTU {}", want.to_json()),
                };
                findings.add(phase, *addr, kind, detail);
            }
            None if in_c104_interrogation(e.type_id()) && gi_done.contains(&addr.0) => {
                c104_faults.push(format!(
                    "CA {} IOA {}: not in c104's terminated interrogation answer",
                    addr.0, addr.1
                ));
            }
            None => findings.add(
                phase,
                *addr,
                "never on the wire since this RTU started",
                format!("the RTU holds {e:?}"),
            ),
        }
    }
    assert!(
        c104_faults.is_empty(),
        "{phase}: c104 did not put {} points on the wire as the RTU holds them \
         (c104's loss, not the connector's):\n{}",
        c104_faults.len(),
        c104_faults[..c104_faults.len().min(20)].join("\n")
    );
}

#[test]
fn after_an_outage_the_image_of_a_three_station_c104_rtu_equals_the_rtu_value_for_value_and_flag_for_flag()
 {
    let valkey = ValkeyGuard::start();
    let port = free_port();
    let dir = TempDir::new("stations");
    let mut state = c104_state(1, 0);
    let mut rtu = c104_serving(port, &state, &dir, "before");
    // The documented command line; a short link-loss grace so that the
    // outage below marks every point not topical first.
    let c = Connector::start(
        "stations-c104",
        port,
        &valkey,
        &[("ALP_CONNEX_CLIENT__LINK_LOSS_GRACE_S", "1")],
    );
    let mut findings = Findings::default();

    // 1. The interrogation of the three stations, the counter interrogation
    //    that follows it, then what c104 sends only spontaneously.
    assert!(
        await_terminations(&mut rtu, TypeId::C_IC_NA_1, T),
        "c104 did not terminate the interrogation of every station\n{}",
        c.log_tail(30)
    );
    let counters_read =
        await_counter_interrogation(&mut rtu, "after the first interrogation", &mut findings);
    for ca in STATIONS {
        // Without a counter interrogation the counters come spontaneously,
        // so that they are in the image before the outage all the same.
        let ioas = outside_c104_interrogation(&state, ca, !counters_read);
        transmit(&mut rtu, ca, &ioas);
    }
    sync_c104(&mut rtu, &mut state, &valkey, &c);
    c.until("every point of the three stations in the image", T, || {
        image_of(&valkey, &state).values().all(Option::is_some)
    });
    compare_c104(
        "after the first interrogation",
        &mut rtu,
        &state,
        &valkey,
        &mut findings,
    );

    // 2. The RTU goes away for longer than the grace: every point not topical.
    drop(rtu);
    c.until("every point marked not topical after the grace", T, || {
        image_of(&valkey, &state)
            .values()
            .all(|p| p.as_ref().is_some_and(|p| p.quality.nt))
    });

    // 3. It comes back on the same port with new values (and flags) in
    //    every station, counters included.
    state = c104_state(2, 100);
    let mut rtu = c104_serving(port, &state, &dir, "after");
    assert!(
        await_terminations(&mut rtu, TypeId::C_IC_NA_1, T),
        "c104 did not terminate the interrogation of every station after the reconnection\n{}",
        c.log_tail(30)
    );
    // A real RTU reports the changes of what its interrogation leaves out;
    // the counters are for the connector to read again.
    for ca in STATIONS {
        let ioas = outside_c104_interrogation(&state, ca, false);
        transmit(&mut rtu, ca, &ioas);
    }
    await_counter_interrogation(&mut rtu, "after the reconnection", &mut findings);
    sync_c104(&mut rtu, &mut state, &valkey, &c);
    compare_c104(
        "after the reconnection",
        &mut rtu,
        &state,
        &valkey,
        &mut findings,
    );
    findings.assert_none(&c);
}

// --- the raw-socket RTU -----------------------------------------------------

/// Station points answered by the interrogation: twelve per station, IOA
/// 10..=21, of six types.
fn raw_gi_element(ca: u16, k: u32, generation: u32) -> Element {
    use Element::*;
    let n = i32::from(ca) * 100 + i32::try_from(k * 5 + generation).expect("small");
    // A few points carry the source's own flags, in both generations.
    let q = Quality(match (k, generation) {
        (13 | 20, _) => Quality::SB,
        (12, 2) => Quality::IV,
        (16, _) => Quality::BL,
        (18, 1) => Quality::NT,
        _ => 0,
    });
    match k % 6 {
        0 => M_SP_NA_1 {
            value: SinglePoint {
                value: n % 2 == 0,
                quality: q,
            },
        },
        1 => M_DP_NA_1 {
            value: DoublePoint {
                value: DoubleState::from_bits(u8::try_from(n % 4).expect("2 bits")),
                quality: q,
            },
        },
        2 => M_ST_NA_1 {
            value: StepPosition {
                value: i8::try_from(n % 100 - 50).expect("7 bits"),
                transient: false,
            },
            quality: q,
        },
        3 => M_BO_NA_1 {
            value: u32::try_from(n).expect("positive") << 8,
            quality: q,
        },
        4 => M_ME_NB_1 {
            value: i16::try_from(n * 3).expect("16 bits"),
            quality: q,
        },
        _ => M_ME_NC_1 {
            value: n as f32 + 0.25,
            quality: q,
        },
    }
}

const RAW_GI_IOAS: std::ops::RangeInclusive<u32> = 10..=21;
const RAW_COUNTERS: [u32; 3] = [100, 101, 102];
/// Left out of the counter interrogation after the reconnection.
const RAW_COUNTER_HELD_BACK: u32 = 101;
const RAW_EVENT: u32 = 200;
/// Not in the interrogation answer after the reconnection, but sent
/// spontaneously in the middle of it, with a new value.
const RAW_SPONTANEOUS_IN_GI: Addr = (2, 14);

/// How point `k` fares in the interrogation after the reconnection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Changed,
    Unchanged,
    NotDelivered,
}

fn fate(k: u32) -> Fate {
    match k % 3 {
        0 => Fate::Changed,
        1 => Fate::Unchanged,
        _ => Fate::NotDelivered,
    }
}

fn raw_counter(ca: u16, ioa: u32, generation: u32) -> Element {
    let value = BinaryCounter {
        value: i32::from(ca) * 10_000 + i32::try_from(ioa * 10 + generation).expect("small"),
        sequence: u8::try_from(generation).expect("small"),
        carry: false,
        adjusted: false,
        invalid: false,
    };
    if ioa == 102 {
        let time =
            Cp56Time2a::from_unix_ms(TIME_MS + i64::from(generation) * 60_000).expect("in range");
        Element::M_IT_TB_1 { value, time }
    } else {
        Element::M_IT_NA_1 { value }
    }
}

fn raw_event(ca: u16) -> Element {
    Element::M_EP_TD_1 {
        event: DoublePoint {
            value: DoubleState::On,
            quality: Quality::GOOD,
        },
        elapsed: Cp16Time2a(100 + ca),
        time: Cp56Time2a::from_unix_ms(TIME_MS).expect("in range"),
    }
}

fn raw_sentinel(value: i16) -> (u16, u32, Element) {
    (SENTINEL.0, SENTINEL.1, sentinel(value))
}

fn triples(points: impl IntoIterator<Item = (Addr, Element)>) -> Vec<(u16, u32, Element)> {
    points
        .into_iter()
        .map(|((ca, ioa), e)| (ca, ioa, e))
        .collect()
}

/// Waits for the connector's next command of `type_id`; panics with the
/// findings so far when none comes.
fn expect_command(
    link: &RawLink,
    type_id: TypeId,
    what: &str,
    findings: &Findings,
    c: &Connector,
) -> Asdu {
    let (got, skipped) = link.next_of(type_id, T);
    match got {
        Some(a) => a,
        None => {
            let mut f = findings.clone();
            f.note(
                what,
                &format!("no {} within {T:?}", type_id.mnemonic()),
                format!("received instead: {skipped:?}"),
            );
            f.assert_none(c);
            unreachable!("assert_none panics on a finding")
        }
    }
}

/// Sends the sentinel with `value` spontaneously and waits until the image
/// shows it.
fn sync_raw(link: &RawLink, value: i16, valkey: &ValkeyGuard, c: &Connector) {
    link.send_all(&pack_points(Cause::SPONTANEOUS, &[raw_sentinel(value)]));
    c.until("the sentinel's update in the image", T, || {
        image_points(valkey, &[SENTINEL])[0]
            .as_ref()
            .is_some_and(|p| p.value == PointValue::Scaled(value))
    });
}

fn compare_all(
    phase: &str,
    want: &BTreeMap<Addr, DataPoint>,
    valkey: &ValkeyGuard,
    findings: &mut Findings,
) {
    let a: Vec<Addr> = want.keys().copied().collect();
    for (addr, got) in a.iter().zip(image_points(valkey, &a)) {
        findings.compare(phase, *addr, got.as_ref(), &want[addr]);
    }
}

/// The interrogated points of the three stations and the sentinel.
fn raw_gi_points(generation: u32) -> Vec<(Addr, Element)> {
    let mut v: Vec<(Addr, Element)> = STATIONS
        .into_iter()
        .flat_map(|ca| RAW_GI_IOAS.map(move |k| ((ca, k), raw_gi_element(ca, k, generation))))
        .collect();
    let s = i16::try_from(generation * 100).expect("small");
    v.push((SENTINEL, sentinel(s)));
    v
}

fn raw_counters(generation: u32) -> Vec<(Addr, Element)> {
    STATIONS
        .into_iter()
        .flat_map(|ca| RAW_COUNTERS.map(move |i| ((ca, i), raw_counter(ca, i, generation))))
        .collect()
}

/// Answers the connector's counter interrogations, starting with `first`,
/// until each station has had one (one to 65535 counts for all): ACT_CON,
/// `counters` but `held_back` with cause 37, ACT_TERM, each at the
/// command's address. Returns the qualifiers the commands carried.
fn answer_counter_interrogations(
    link: &RawLink,
    first: Asdu,
    counters: &[(Addr, Element)],
    held_back: Option<u32>,
    phase: &str,
    findings: &Findings,
    c: &Connector,
) -> Vec<Element> {
    let all: BTreeSet<u16> = STATIONS.into_iter().collect();
    let mut answered = BTreeSet::new();
    let mut qualifiers = Vec::new();
    let mut next = Some(first);
    while let Some(ci) = next.take() {
        qualifiers.extend(ci.objects.first().map(|o| o.element.clone()));
        let ca = ci.common_address;
        let data: Vec<(u16, u32, Element)> = counters
            .iter()
            .filter(|((c, ioa), _)| Some(*ioa) != held_back && (ca == BROADCAST_CA || *c == ca))
            .map(|((c, ioa), e)| (*c, *ioa, e.clone()))
            .collect();
        link.send_all(&command_answer(&ci, Cause::COUNTER_REQUEST, &data));
        if ca == BROADCAST_CA {
            answered.extend(STATIONS);
        } else {
            answered.insert(ca);
        }
        if !answered.is_superset(&all) {
            next = Some(expect_command(link, TypeId::C_CI_NA_1, phase, findings, c));
        }
    }
    qualifiers
}

/// A finding unless every counter interrogation was a general request
/// without freeze or reset (QCC 5).
fn check_qualifiers(phase: &str, qualifiers: &[Element], findings: &mut Findings) {
    let read = Element::C_CI_NA_1 { qualifier: Qcc(5) };
    if qualifiers.iter().any(|q| *q != read) {
        findings.note(
            phase,
            "a counter interrogation other than a general request without freeze or reset",
            format!("{qualifiers:?}"),
        );
    }
}

#[test]
fn a_broadcast_interrogation_confirmed_once_at_65535_marks_exactly_the_undelivered_points_and_never_the_counters()
 {
    let valkey = ValkeyGuard::start();
    let rtu = RawRtu::bind();
    let c = Connector::start("stations-raw", rtu.port(), &valkey, &[]);
    let mut findings = Findings::default();
    let mut want: BTreeMap<Addr, DataPoint> = BTreeMap::new();

    // 1. First connection: one ACT_CON at 65535, the three stations' data
    //    (cause 20), one ACT_TERM at 65535; protection events
    //    spontaneously; the counters by the counter interrogation that
    //    follows (or spontaneously, when none comes).
    let phase = "first connection";
    let link = rtu.accept(T);
    let gi = expect_command(&link, TypeId::C_IC_NA_1, phase, &findings, &c);
    assert_eq!(
        (
            gi.common_address,
            gi.cot.cause,
            gi.objects.first().map(|o| &o.element)
        ),
        (
            BROADCAST_CA,
            Cause::ACTIVATION,
            Some(&Element::C_IC_NA_1 {
                qualifier: Qoi::STATION
            })
        ),
        "a station interrogation to the broadcast address"
    );
    link.send_all(&command_answer(
        &gi,
        Cause::INTERROGATED,
        &triples(raw_gi_points(1)),
    ));
    let events: Vec<(u16, u32, Element)> = STATIONS
        .iter()
        .map(|ca| (*ca, RAW_EVENT, raw_event(*ca)))
        .collect();
    link.send_all(&pack_points(Cause::SPONTANEOUS, &events));
    let counter_cause = match link.next_of(TypeId::C_CI_NA_1, FOLLOW_UP) {
        (Some(ci), _) => {
            let q = answer_counter_interrogations(
                &link,
                ci,
                &raw_counters(1),
                None,
                phase,
                &findings,
                &c,
            );
            check_qualifiers(phase, &q, &mut findings);
            Cause::COUNTER_REQUEST
        }
        (None, skipped) => {
            findings.note(
                phase,
                "no counter interrogation after the interrogation",
                format!("received instead: {skipped:?}"),
            );
            link.send_all(&pack_points(Cause::SPONTANEOUS, &triples(raw_counters(1))));
            Cause::SPONTANEOUS
        }
    };
    sync_raw(&link, 101, &valkey, &c);
    for (addr, e) in raw_gi_points(1) {
        want.insert(addr, point_of(addr, &e, Cause::INTERROGATED));
    }
    want.insert(
        SENTINEL,
        point_of(SENTINEL, &sentinel(101), Cause::SPONTANEOUS),
    );
    for (addr, e) in raw_counters(1) {
        want.insert(addr, point_of(addr, &e, counter_cause));
    }
    for (ca, ioa, e) in &events {
        want.insert((*ca, *ioa), point_of((*ca, *ioa), e, Cause::SPONTANEOUS));
    }
    compare_all(phase, &want, &valkey, &mut findings);

    // 2. The link drops and comes back at once, well within the link-loss
    //    grace (nothing is marked not topical). The interrogation delivers
    //    a third of the points changed, a third unchanged and leaves a
    //    third out; one of those comes spontaneously in the middle of the
    //    answer, with a new value.
    let phase = "after the interrogation of the reconnection";
    link.close();
    let link = rtu.accept(T);
    let gi = expect_command(&link, TypeId::C_IC_NA_1, phase, &findings, &c);
    assert_eq!(gi.common_address, BROADCAST_CA, "{gi:?}");
    let delivered: BTreeMap<Addr, Element> = raw_gi_points(1)
        .into_iter()
        .zip(raw_gi_points(2))
        .filter_map(|((addr, old), (_, new))| {
            if addr == SENTINEL {
                return Some((addr, new));
            }
            match fate(addr.1) {
                Fate::Changed => Some((addr, new)),
                Fate::Unchanged => Some((addr, old)),
                Fate::NotDelivered => None,
            }
        })
        .collect();
    let answer = command_answer(&gi, Cause::INTERROGATED, &triples(delivered.clone()));
    // ACT_CON and the first station's first ASDU, the spontaneous point,
    // the rest up to ACT_TERM.
    let (head, tail) = answer.split_at(2);
    link.send_all(head);
    let (sc, si) = RAW_SPONTANEOUS_IN_GI;
    let spont_in_gi = raw_gi_element(sc, si, 2);
    link.send_all(&pack_points(
        Cause::SPONTANEOUS,
        &[(sc, si, spont_in_gi.clone())],
    ));
    link.send_all(tail);
    sync_raw(&link, 201, &valkey, &c);
    for (addr, old) in raw_gi_points(1) {
        let w = if let Some(e) = delivered.get(&addr) {
            point_of(addr, e, Cause::INTERROGATED)
        } else if addr == RAW_SPONTANEOUS_IN_GI {
            point_of(addr, &spont_in_gi, Cause::SPONTANEOUS)
        } else {
            // Not delivered: its last value, flagged invalid.
            let mut p = point_of(addr, &old, Cause::INTERROGATED);
            p.quality.iv = true;
            p
        };
        want.insert(addr, w);
    }
    want.insert(
        SENTINEL,
        point_of(SENTINEL, &sentinel(201), Cause::SPONTANEOUS),
    );
    // The counters and the protection events are as before: a station
    // interrogation does not return them, so its end does not judge them.
    compare_all(phase, &want, &valkey, &mut findings);

    // 3. The counter interrogation: new values, one counter per station
    //    held back.
    let phase = "after the counter interrogation of the reconnection";
    let ci = expect_command(&link, TypeId::C_CI_NA_1, phase, &findings, &c);
    let q = answer_counter_interrogations(
        &link,
        ci,
        &raw_counters(2),
        Some(RAW_COUNTER_HELD_BACK),
        phase,
        &findings,
        &c,
    );
    check_qualifiers(phase, &q, &mut findings);
    sync_raw(&link, 301, &valkey, &c);
    let before: BTreeMap<Addr, Element> = raw_counters(1).into_iter().collect();
    for (addr, e) in raw_counters(2) {
        let w = if addr.1 == RAW_COUNTER_HELD_BACK {
            // Not delivered by the counter interrogation: its last value,
            // flagged invalid like any other point.
            let mut p = point_of(addr, &before[&addr], counter_cause);
            p.quality.iv = true;
            p
        } else {
            point_of(addr, &e, Cause::COUNTER_REQUEST)
        };
        want.insert(addr, w);
    }
    want.insert(
        SENTINEL,
        point_of(SENTINEL, &sentinel(301), Cause::SPONTANEOUS),
    );
    compare_all(phase, &want, &valkey, &mut findings);
    findings.assert_none(&c);
}
