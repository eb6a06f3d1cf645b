//! The inbound connector end to end, with real parts only: a c104 server
//! as the RTU (tests/peers/c104_rtu.py, paced within c104's limits), a
//! Valkey server the test starts, and the `alp-connex iec104-inbound`
//! binary as a child process. State in Valkey is polled against a deadline.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alp_connex::contract::iec104::{Reception, points_from_asdu};
use alp_connex::contract::{DataPoint, PointValue};
use alp_connex::iec104::asdu::{self, Asdu, InformationObject};
use alp_connex::iec104::elements::Quality;
use alp_connex::iec104::types::{Cause, Cot, Element, TypeId};
use serde_json::{Value, json};

use crate::interop::{CA, T, in_c104_interrogation, station_points, summary};
use crate::support::{
    Connector, Peer, ValkeyClusterGuard, ValkeyGuard, c104_rtu, free_port, send_signal,
};

fn image(valkey: &ValkeyGuard, ca: u16, ioa: u32) -> Option<DataPoint> {
    let s = valkey
        .command(&["GET", &format!("process:image:casdu:{ca}:ioa:{ioa}")])
        .ok()?;
    DataPoint::from_json(&s).ok()
}

/// The stream entries: (id, [(field, value)]).
fn stream(valkey: &ValkeyGuard, name: &str) -> Vec<(String, Vec<(String, String)>)> {
    let raw = valkey
        .command(&["XRANGE", name, "-", "+"])
        .unwrap_or_default();
    let lines: Vec<&str> = raw.lines().collect();
    lines
        .chunks(9)
        .filter(|c| c.len() == 9)
        .map(|c| {
            let fields = c[1..]
                .chunks(2)
                .map(|kv| (kv[0].to_owned(), kv[1].to_owned()))
                .collect();
            (c[0].to_owned(), fields)
        })
        .collect()
}

/// The data point the contract makes of `e`, for comparison (source "x",
/// received at 0).
pub(crate) fn expected(ca: u16, ioa: u32, e: &Element, cause: Cause) -> DataPoint {
    let source = Arc::<str>::from("x");
    let a = Asdu::single(Cot::new(cause), ca, ioa, e.clone());
    points_from_asdu(
        &a,
        Reception {
            source: &source,
            received: 0,
            zone: &alp_connex::iec104::time::UTC,
        },
    )
    .remove(0)
}

/// Value, quality and (when the type carries one) time tag agree;
/// normalized values within one step (lib60870 scales by 32767.5).
fn assert_same(got: &DataPoint, want: &DataPoint) {
    match (got.value, want.value) {
        (PointValue::Normalized(a), PointValue::Normalized(b)) => {
            assert!(
                (i32::from(a) - i32::from(b)).abs() <= 1,
                "{got:?} vs {want:?}"
            )
        }
        (a, b) => assert_eq!(a, b, "IOA {}: {got:?}", got.ioa),
    }
    assert_eq!(got.quality, want.quality, "IOA {}", got.ioa);
    if got.type_id == want.type_id {
        assert_eq!(got.time, want.time, "IOA {}", got.ioa);
    } else {
        assert_eq!(got.type_id, want.type_id.untimed(), "IOA {}", got.ioa);
        assert_eq!(got.time, None);
    }
}

fn gi_points() -> Vec<(u32, Element)> {
    station_points()
        .into_iter()
        .filter(|(_, e)| in_c104_interrogation(e.type_id()))
        .collect()
}

fn port_args(port: u16) -> [String; 2] {
    ["--port".to_owned(), port.to_string()]
}

fn client(port: u16, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec!["--host".into(), "127.0.0.1".into()];
    v.extend(port_args(port));
    v.extend(extra.iter().map(|s| (*s).to_owned()));
    v
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn all_in_image(valkey: &ValkeyGuard, points: &[(u32, Element)]) -> bool {
    points
        .iter()
        .all(|(ioa, _)| image(valkey, CA, *ioa).is_some())
}

/// The station interrogation's points and then the counters of the counter
/// interrogation that follows it (cause 37) are in the image: nothing more
/// comes from the start-up interrogations.
fn interrogations_written(valkey: &ValkeyGuard) -> bool {
    all_in_image(valkey, &gi_points())
        && station_points()
            .iter()
            .filter(|(_, e)| {
                matches!(
                    e.type_id(),
                    TypeId::M_IT_NA_1 | TypeId::M_IT_TA_1 | TypeId::M_IT_TB_1
                )
            })
            .all(|(ioa, _)| image(valkey, CA, *ioa).is_some_and(|p| p.cot == 37))
}

#[test]
fn the_interrogation_snapshot_of_every_monitor_type_reaches_the_image() {
    // A Valkey with a password, as production runs it.
    let valkey = ValkeyGuard::start_with_password("s3cret-pw");
    let port = free_port();
    let _rtu = crate::interop::rtu_with_every_type(port);
    let c = Connector::start_with("gi", &valkey, &strs(&client(port, &[])), &[]);
    let want = gi_points();
    c.until("every interrogated point in the image", T, || {
        all_in_image(&valkey, &want)
    });
    for (ioa, e) in &want {
        let got = image(&valkey, CA, *ioa).expect("present");
        assert_eq!((got.casdu, got.ioa, got.cot), (CA, *ioa, 20));
        assert_eq!(got.source.as_ref(), "gi");
        assert_same(&got, &expected(CA, *ioa, e, Cause::INTERROGATED));
    }
    c.until("status connected", T, || {
        c.status(&valkey)["state"] == json!("connected")
    });
    let st = c.status(&valkey);
    assert_eq!(st["kind"], json!("iec104-inbound"));
    assert_eq!(st["remote"], json!(format!("127.0.0.1:{port}")));
    let ttl: i64 = valkey
        .command(&["TTL", "connectors:gi:status"])
        .expect("ttl")
        .parse()
        .expect("int");
    assert!((1..=15).contains(&ttl), "status TTL {ttl}");
}

#[test]
fn spontaneous_updates_reach_image_and_stream_in_order_with_contract_fields() {
    let valkey = ValkeyGuard::start();
    let port = free_port();
    let mut rtu = crate::interop::rtu_with_every_type(port);
    let c = Connector::start_with("spont", &valkey, &strs(&client(port, &[])), &[]);
    c.until("interrogations written", T, || {
        interrogations_written(&valkey)
    });
    let before = stream(&valkey, "process:updates").len();
    let all: Vec<(u32, Element)> = station_points();
    let ioas: Vec<u32> = all.iter().map(|(i, _)| *i).collect();
    rtu.send(&json!({"op": "transmit", "cause": "SPONTANEOUS", "ca": CA, "ioas": ioas}));
    let sent = rtu.expect_event("transmitted", T);
    assert_eq!(
        sent["on_wire"],
        json!(ioas.len()),
        "c104 sent every point: {sent}"
    );
    c.until("every spontaneous point in the stream", T, || {
        stream(&valkey, "process:updates").len() >= before + ioas.len()
    });
    let entries = stream(&valkey, "process:updates");
    let spont: Vec<&(String, Vec<(String, String)>)> = entries[before..].iter().collect();
    assert_eq!(spont.len(), ioas.len(), "one entry per point, no more");
    for ((_, fields), (ioa, e)) in spont.iter().zip(&all) {
        let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            ["casdu", "ioa", "source", "data"],
            "fields in contract order"
        );
        assert_eq!(fields[0].1, CA.to_string());
        assert_eq!(fields[1].1, ioa.to_string(), "in the order sent");
        assert_eq!(fields[2].1, "spont");
        let p = DataPoint::from_json(&fields[3].1).expect("contract JSON");
        assert_eq!(p.cot, 3);
        assert_same(&p, &expected(CA, *ioa, e, Cause::SPONTANEOUS));
        // The image holds the same JSON as the last event of the point.
        let img = valkey
            .command(&["GET", &format!("process:image:casdu:{CA}:ioa:{ioa}")])
            .expect("get");
        assert_eq!(img, fields[3].1);
    }
}

#[test]
fn the_stream_is_capped_exactly_when_asked() {
    let valkey = ValkeyGuard::start();
    let port = free_port();
    let mut rtu = crate::interop::rtu_with_every_type(port);
    let c = Connector::start_with(
        "cap",
        &valkey,
        &strs(&client(port, &[])),
        &[
            ("ALP_CONNEX_REDIS__EXACT_TRIM", "true"),
            ("ALP_CONNEX_REDIS__STREAM_MAX_LENGTH", "25"),
        ],
    );
    c.until("interrogations written", T, || {
        interrogations_written(&valkey)
    });
    let ioas: Vec<u32> = station_points().iter().map(|(i, _)| *i).collect();
    rtu.send(&json!({"op": "transmit", "cause": "SPONTANEOUS", "ca": CA, "ioas": ioas}));
    rtu.expect_event("transmitted", T);
    c.until("the last point in the stream", T, || {
        stream(&valkey, "process:updates")
            .last()
            .is_some_and(|(_, f)| {
                f.get(1)
                    .is_some_and(|(_, v)| *v == ioas[ioas.len() - 1].to_string())
            })
    });
    let len: usize = valkey
        .command(&["XLEN", "process:updates"])
        .expect("xlen")
        .parse()
        .expect("int");
    assert_eq!(len, 25);
}

#[test]
fn an_rtu_restart_is_followed_by_reconnection_and_a_new_interrogation() {
    let valkey = ValkeyGuard::start();
    let port = free_port();
    let rtu = crate::interop::rtu_with_every_type(port);
    let c = Connector::start_with("restart", &valkey, &strs(&client(port, &[])), &[]);
    c.until("connected", T, || {
        c.status(&valkey)["state"] == json!("connected")
    });
    drop(rtu);
    c.until("disconnected", T, || {
        c.status(&valkey)["state"] == json!("disconnected")
    });
    let lost = Instant::now();
    let mut rtu = c104_rtu(port, &["--ca", "1"]);
    rtu.op(
        json!({"op": "add", "ca": CA, "points": [summary(100, &Element::M_SP_NA_1 {
            value: alp_connex::iec104::elements::SinglePoint { value: false, quality: Default::default() }
        })]}),
        T,
    );
    rtu.expect_line(|v| v["event"] == "command" && v["type"] == "C_IC_NA_1", T);
    let back = lost.elapsed();
    c.until("the new interrogation's value in the image", T, || {
        image(&valkey, CA, 100).is_some_and(|p| p.value == PointValue::Single(false))
    });
    c.until("connected again", T, || {
        c.status(&valkey)["state"] == json!("connected")
    });
    let st = c.status(&valkey);
    assert!(st["reconnects"].as_u64().unwrap_or(0) >= 1, "{st}");
    // Retries every 2 s: back within one interval (plus c104's start-up).
    assert!(back < Duration::from_secs(8), "reconnected after {back:?}");
}

#[test]
fn a_frozen_rtu_is_detected_by_t1_and_t3_and_the_link_recovers() {
    let valkey = ValkeyGuard::start();
    let port = free_port();
    let rtu = crate::interop::rtu_with_every_type(port);
    let c = Connector::start_with(
        "frozen",
        &valkey,
        &strs(&client(port, &["--t1", "2", "--t2", "1", "--t3", "1"])),
        &[],
    );
    c.until("connected", T, || {
        c.status(&valkey)["state"] == json!("connected")
    });
    send_signal(rtu.pid(), libc::SIGSTOP).expect("SIGSTOP to the RTU");
    // t3 = 1 s idle → TESTFR act; unanswered for t1 = 2 s → closed.
    c.until("the silent peer detected", Duration::from_secs(10), || {
        c.status(&valkey)["state"] != json!("connected")
    });
    send_signal(rtu.pid(), libc::SIGCONT).expect("SIGCONT to the RTU");
    c.until("connected again", T, || {
        c.status(&valkey)["state"] == json!("connected")
    });
    let st = c.status(&valkey);
    assert!(
        st["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("t1 expired")),
        "{st}"
    );
}

/// A raw IEC 104 server in the test: STARTDT con, then whatever the test sends.
struct RawServer {
    stream: TcpStream,
    ns: u16,
    nr: u16,
}

impl RawServer {
    fn accept(listener: &TcpListener) -> RawServer {
        let (stream, _) = listener.accept().expect("accept");
        stream.set_read_timeout(Some(T)).expect("timeout");
        let mut s = RawServer {
            stream,
            ns: 0,
            nr: 0,
        };
        let f = s.read_frame();
        assert_eq!(f, [0x68, 4, 0x07, 0, 0, 0], "STARTDT act");
        s.stream
            .write_all(&[0x68, 4, 0x0B, 0, 0, 0])
            .expect("STARTDT con");
        s
    }

    fn read_frame(&mut self) -> Vec<u8> {
        let mut head = [0u8; 2];
        self.stream.read_exact(&mut head).expect("frame head");
        let mut rest = vec![0u8; usize::from(head[1])];
        self.stream.read_exact(&mut rest).expect("frame body");
        let mut f = head.to_vec();
        f.extend(rest);
        if f[2] & 1 == 0 {
            self.nr = self.nr.wrapping_add(1) & 0x7FFF;
        }
        f
    }

    fn send_asdu(&mut self, asdu: &[u8]) {
        let mut f = vec![0x68, u8::try_from(asdu.len() + 4).expect("short")];
        f.extend_from_slice(&(self.ns << 1).to_le_bytes());
        f.extend_from_slice(&(self.nr << 1).to_le_bytes());
        f.extend_from_slice(asdu);
        self.ns += 1;
        self.stream.write_all(&f).expect("send");
    }

    /// The ASDU of the next I-frame, acknowledged at once (S-frames and
    /// U-frames before it are skipped).
    fn next_asdu(&mut self) -> Vec<u8> {
        loop {
            let f = self.read_frame();
            if f[2] & 1 == 0 {
                let mut s = vec![0x68, 4, 0x01, 0];
                s.extend_from_slice(&(self.nr << 1).to_le_bytes());
                self.stream.write_all(&s).expect("S-frame");
                return f[6..].to_vec();
            }
        }
    }

    /// Waits for the connector to acknowledge every I-frame sent so far
    /// (in an S-frame or an I-frame).
    fn until_acknowledged(&mut self) {
        loop {
            let f = self.read_frame();
            if f[2] & 3 == 3 {
                continue;
            }
            let nr = u16::from_le_bytes([f[4], f[5]]) >> 1;
            if nr == self.ns {
                return;
            }
        }
    }

    /// Answers the command `cmd` with `cause` (the command mirrored).
    fn answer(&mut self, cmd: &[u8], cause: Cause, negative: bool) {
        self.send_asdu(&asdu::mirror(cmd, cause, negative).expect("mirrors"));
    }
}

/// Short floats at `ioas` of station `ca`, value = IOA.
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

/// (type id, common address) of a command.
fn addressed(cmd: &[u8]) -> (u8, u16) {
    (cmd[0], u16::from_le_bytes([cmd[4], cmd[5]]))
}

fn in_image_from_interrogation(valkey: &ValkeyGuard, ca: u16, ioa: u32) -> bool {
    image(valkey, ca, ioa).is_some_and(|p| p.cot == 20 && !p.quality.iv)
}

#[test]
fn an_unknown_type_is_answered_with_cause_44_and_the_link_stays_up() {
    let valkey = ValkeyGuard::start();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let c = Connector::start_with("unknown", &valkey, &strs(&client(port, &[])), &[]);
    let mut s = RawServer::accept(&listener);
    let gi = s.read_frame();
    assert_eq!(gi[6], 100, "a general interrogation first");
    // Type 41 is reserved: an RTU of a newer edition, say.
    s.send_asdu(&[41, 1, 3, 0, 1, 0, 0x0A, 0, 0, 0xAA]);
    let answer = loop {
        let f = s.read_frame();
        if f[2] & 1 == 0 {
            break f;
        }
    };
    assert_eq!(
        &answer[6..],
        [41, 1, 0x40 | 44, 0, 1, 0, 0x0A, 0, 0, 0xAA],
        "mirrored, cause 44, P/N set"
    );
    // Still connected: a single point goes through.
    s.send_asdu(&[1, 1, 3, 0, 1, 0, 0x0B, 0, 0, 0x01]);
    c.until("the point after the unknown type", T, || {
        image(&valkey, 1, 11).is_some()
    });
    c.until("the unknown type counted in the status", T, || {
        c.status(&valkey)["unknown_types"] == json!(1)
    });
}

fn set_config(valkey: &ValkeyGuard, id: &str, json: &str, publish: bool) {
    let key = format!("connectors:{id}:config");
    valkey.command(&["SET", &key, json]).expect("SET");
    if publish {
        valkey.command(&["PUBLISH", &key, &key]).expect("PUBLISH");
    }
}

fn rtu_with_float(port: u16, value: f64) -> Peer {
    let mut rtu = c104_rtu(port, &["--ca", "1"]);
    rtu.op(
        json!({"op": "add", "ca": CA, "points": [{"ioa": 500, "type": "M_ME_NC_1", "value": value, "quality": 0}]}),
        T,
    );
    rtu
}

fn float_at(valkey: &ValkeyGuard, ioa: u32) -> Option<f32> {
    match image(valkey, CA, ioa)?.value {
        PointValue::Float(f) => Some(f),
        _ => None,
    }
}

#[test]
fn managed_configuration_moves_the_connector_to_another_rtu_within_2_s() {
    let valkey = ValkeyGuard::start();
    let (pa, pb) = (free_port(), free_port());
    let _a = rtu_with_float(pa, 1.0);
    let _b = rtu_with_float(pb, 2.0);
    let c = Connector::start_with("managed", &valkey, &strs(&client(pa, &[])), &[]);
    c.until("RTU A's value", T, || float_at(&valkey, 500) == Some(1.0));
    // Announced by PUBLISH: at once.
    set_config(&valkey, "managed", &format!(r#"{{"port": {pb}}}"#), true);
    c.until("moved to RTU B (PUBLISH)", Duration::from_secs(2), || {
        c.status(&valkey)["remote"] == json!(format!("127.0.0.1:{pb}"))
    });
    c.until("RTU B's value", T, || float_at(&valkey, 500) == Some(2.0));
    // A plain SET, no PUBLISH: within 2 s.
    set_config(&valkey, "managed", &format!(r#"{{"port": {pa}}}"#), false);
    c.until(
        "moved back to RTU A (plain SET)",
        Duration::from_millis(2500),
        || c.status(&valkey)["remote"] == json!(format!("127.0.0.1:{pa}")),
    );
    c.until("RTU A's value again", T, || {
        float_at(&valkey, 500) == Some(1.0)
    });
    // The same content again: nothing happens.
    let reconnects = c.status(&valkey)["reconnects"].clone();
    set_config(&valkey, "managed", &format!(r#"{{"port": {pa}}}"#), true);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        c.status(&valkey)["reconnects"],
        reconnects,
        "an identical write restarts nothing"
    );
}

#[test]
fn an_invalid_managed_configuration_is_refused_and_the_connector_keeps_running() {
    let valkey = ValkeyGuard::start();
    let port = free_port();
    let mut rtu = rtu_with_float(port, 1.0);
    let c = Connector::start_with("invalid", &valkey, &strs(&client(port, &[])), &[]);
    c.until("value", T, || float_at(&valkey, 500) == Some(1.0));
    set_config(&valkey, "invalid", r#"{"port": 70000}"#, true);
    c.until("config_error in the status", T, || {
        c.status(&valkey)["config_error"]
            .as_str()
            .is_some_and(|e| e.contains("client.port = 70000"))
    });
    let st = c.status(&valkey);
    assert_eq!(st["remote"], json!(format!("127.0.0.1:{port}")));
    assert_eq!(st["state"], json!("connected"));
    // Still receiving on the last good settings.
    rtu.op(json!({"op": "add", "ca": CA, "points": [{"ioa": 500, "type": "M_ME_NC_1", "value": 3.0, "quality": 0}]}), T);
    rtu.send(&json!({"op": "transmit", "cause": "SPONTANEOUS", "ca": CA, "ioas": [500]}));
    c.until("the update after the refusal", T, || {
        float_at(&valkey, 500) == Some(3.0)
    });
    let refused = c
        .log_tail(40)
        .matches("managed configuration refused")
        .count();
    assert_eq!(refused, 1, "logged once:\n{}", c.log_tail(40));
}

#[test]
fn the_last_status_after_sigterm_is_stopped_without_a_remote() {
    let valkey = ValkeyGuard::start();
    // Nothing listens there: the connector keeps trying.
    let port = free_port();
    let mut c = Connector::start_with("stops", &valkey, &strs(&client(port, &[])), &[]);
    c.until("the remote in the status", T, || {
        c.status(&valkey)["remote"] == json!(format!("127.0.0.1:{port}"))
    });
    let exit = c.terminate(T);
    assert!(exit.success(), "{exit}\n{}", c.log_tail(40));
    let st = c.status(&valkey);
    assert_eq!(st["state"], json!("stopped"), "{st}");
    assert_eq!(st["remote"], json!(null), "{st}");
}

#[test]
fn a_valkey_restart_loses_no_image_value() {
    let mut valkey = ValkeyGuard::start();
    let port = free_port();
    let mut rtu = crate::interop::rtu_with_every_type(port);
    let c = Connector::start_with("outage", &valkey, &strs(&client(port, &[])), &[]);
    c.until("interrogations written", T, || {
        interrogations_written(&valkey)
    });
    valkey.stop();
    // New values while Valkey is down.
    let floats: Vec<Value> = (200..210)
        .map(|i| json!({"ioa": i, "type": "M_ME_NC_1", "value": f64::from(i) + 0.5, "quality": 0}))
        .collect();
    rtu.op(json!({"op": "add", "ca": CA, "points": floats}), T);
    rtu.send(&json!({"op": "transmit", "cause": "SPONTANEOUS", "ca": CA, "ioas": (200..210).collect::<Vec<u32>>()}));
    let sent = rtu.expect_event("transmitted", T);
    assert_eq!(sent["on_wire"], json!(10));
    valkey.restart();
    c.until("every value written after the restart", T, || {
        (200..210).all(|i| float_at(&valkey, i) == Some(i as f32 + 0.5))
    });
    let entries = stream(&valkey, "process:updates");
    let spont = entries
        .iter()
        .filter(|(_, f)| f.get(3).is_some_and(|(_, d)| d.contains("\"cot\":3")))
        .count();
    assert_eq!(spont, 10, "the stream entries of the outage kept");
    c.until("status shows the outage", T, || {
        c.status(&valkey)["valkey"]["outages"].as_u64() >= Some(1)
    });
}

#[test]
fn a_lost_source_marks_its_points_not_topical_after_the_grace_period() {
    let valkey = ValkeyGuard::start();
    let port = free_port();
    let rtu = crate::interop::rtu_with_every_type(port);
    let c = Connector::start_with(
        "linkloss",
        &valkey,
        &strs(&client(port, &[])),
        &[("ALP_CONNEX_CLIENT__LINK_LOSS_GRACE_S", "1")],
    );
    let want = gi_points();
    c.until("interrogation written", T, || all_in_image(&valkey, &want));
    let topical = want
        .iter()
        .filter(|(i, _)| image(&valkey, CA, *i).is_some_and(|p| !p.quality.nt))
        .count();
    assert!(
        topical >= want.len() - 1,
        "the RTU serves one point with NT set, the rest topical"
    );
    drop(rtu);
    c.until("every point not topical", T, || {
        want.iter()
            .all(|(i, _)| image(&valkey, CA, *i).is_some_and(|p| p.quality.nt))
    });
}

#[test]
fn alternative_hosts_are_tried_in_order_when_the_main_one_refuses() {
    let valkey = ValkeyGuard::start();
    let refused = free_port();
    let port = free_port();
    let _rtu = rtu_with_float(port, 7.0);
    let c = Connector::start_with(
        "alt",
        &valkey,
        &strs(&client(refused, &[])),
        &[(
            "ALP_CONNEX_CLIENT__ALTERNATIVE_HOSTS",
            &format!("[\"127.0.0.1:{port}\"]"),
        )],
    );
    c.until("the alternative's value", T, || {
        float_at(&valkey, 500) == Some(7.0)
    });
    let st = c.status(&valkey);
    assert_eq!(st["remote"], json!(format!("127.0.0.1:{port}")));
    assert!(
        st["last_error"]
            .as_str()
            .is_some_and(|e| e.contains(&refused.to_string())),
        "{st}"
    );
}

#[test]
fn periodic_interrogation_clock_sync_and_counter_interrogation_when_enabled() {
    let valkey = ValkeyGuard::start();
    let port = free_port();
    let mut rtu = crate::interop::rtu_with_every_type(port);
    let _c = Connector::start_with(
        "extras",
        &valkey,
        &strs(&client(port, &[])),
        &[
            ("ALP_CONNEX_CLIENT__PERIODIC_GI_S", "1"),
            ("ALP_CONNEX_CLIENT__CLOCK_SYNC", "true"),
            ("ALP_CONNEX_CLIENT__COUNTER_INTERROGATION_S", "1"),
        ],
    );
    let is_cmd = |t: &'static str| move |v: &Value| v["event"] == "command" && v["type"] == t;
    rtu.expect_line(is_cmd("C_IC_NA_1"), T);
    let cs = rtu.expect_line(is_cmd("C_CS_NA_1"), T);
    assert_eq!(cs["cot"], json!(6), "{cs}");
    rtu.expect_line(is_cmd("C_CI_NA_1"), T);
    rtu.expect_line(is_cmd("C_IC_NA_1"), T);
    // The counters arrive with cause 37.
    _c.until("the integrated totals in the image", T, || {
        image(&valkey, CA, 115).is_some_and(|p| p.cot == 37)
            && image(&valkey, CA, 116).is_some_and(|p| p.cot == 37)
    });
}

#[test]
fn by_default_one_interrogation_then_one_counter_interrogation_and_no_periodic_ones_or_clock_sync()
{
    let valkey = ValkeyGuard::start();
    let port = free_port();
    let mut rtu = crate::interop::rtu_with_every_type(port);
    let c = Connector::start_with("plain", &valkey, &strs(&client(port, &[])), &[]);
    rtu.expect_line(|v| v["event"] == "command" && v["type"] == "C_IC_NA_1", T);
    c.until("interrogations written", T, || {
        interrogations_written(&valkey)
    });
    // Two seconds without any further command.
    std::thread::sleep(Duration::from_secs(2));
    rtu.drain();
    let commands: Vec<&Value> = rtu
        .history()
        .iter()
        .filter(|v| v["event"] == "command")
        .collect();
    let types: Vec<&Value> = commands.iter().map(|v| &v["type"]).collect();
    assert_eq!(
        types,
        [&json!("C_IC_NA_1"), &json!("C_CI_NA_1")],
        "{commands:?}"
    );
    assert_eq!(
        commands[1]["qualifier"],
        json!(5),
        "general request, read: {commands:?}"
    );
}

#[test]
fn points_spread_over_a_valkey_cluster_and_the_stream_gets_every_entry() {
    let cluster = ValkeyClusterGuard::start(3);
    let seed = &cluster.nodes()[0];
    let port = free_port();
    let mut rtu = crate::interop::rtu_with_every_type(port);
    let c = Connector::start_with(
        "clustered",
        seed,
        &strs(&client(port, &[])),
        &[("ALP_CONNEX_REDIS__CLUSTER", "true")],
    );
    let ioas: Vec<u32> = station_points().iter().map(|(i, _)| *i).collect();
    rtu.expect_line(|v| v["event"] == "command" && v["type"] == "C_IC_NA_1", T);
    rtu.send(&json!({"op": "transmit", "cause": "SPONTANEOUS", "ca": CA, "ioas": ioas}));
    rtu.expect_event("transmitted", T);
    // Each key on the node that owns its slot: ask every node.
    let get = |key: &str| {
        cluster
            .nodes()
            .iter()
            .find_map(|n| n.command(&["GET", key]).ok().filter(|v| v != "(nil)"))
    };
    c.until("every point in the image", T, || {
        ioas.iter()
            .all(|i| get(&format!("process:image:casdu:{CA}:ioa:{i}")).is_some())
    });
    let per_node: Vec<u64> = cluster
        .nodes()
        .iter()
        .map(|n| {
            n.command(&["DBSIZE"])
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        })
        .collect();
    assert!(
        per_node.iter().all(|n| *n > 0),
        "keys on every shard: {per_node:?}"
    );
    let xlen: u64 = cluster
        .nodes()
        .iter()
        .filter_map(|n| n.command(&["XLEN", "process:updates"]).ok()?.parse().ok())
        .max()
        .unwrap_or(0);
    assert!(xlen >= ioas.len() as u64, "stream entries: {xlen}");
}

#[test]
fn managed_configuration_present_at_start_is_applied_before_connecting() {
    let valkey = ValkeyGuard::start();
    let (nothing_here, pb) = (free_port(), free_port());
    let mut b = rtu_with_float(pb, 4.0);
    set_config(&valkey, "atstart", &format!(r#"{{"port": {pb}}}"#), false);
    let c = Connector::start_with("atstart", &valkey, &strs(&client(nothing_here, &[])), &[]);
    b.expect_line(|v| v["event"] == "command" && v["type"] == "C_IC_NA_1", T);
    c.until("RTU B's value", T, || float_at(&valkey, 500) == Some(4.0));
    let st = c.status(&valkey);
    assert_eq!(st["remote"], json!(format!("127.0.0.1:{pb}")));
    assert_eq!(
        st["reconnects"],
        json!(0),
        "never tried the command line's port: {st}"
    );
}

#[test]
fn points_an_interrogation_after_reconnection_does_not_deliver_are_marked_invalid() {
    let valkey = ValkeyGuard::start();
    let port = free_port();
    let mut first = c104_rtu(port, &["--ca", "1"]);
    first.op(
        json!({"op": "add", "ca": CA, "points": [
            {"ioa": 500, "type": "M_ME_NC_1", "value": 1.0, "quality": 0},
            {"ioa": 501, "type": "M_ME_NC_1", "value": 2.0, "quality": 0}]}),
        T,
    );
    let c = Connector::start_with("gone", &valkey, &strs(&client(port, &[])), &[]);
    c.until("both points", T, || {
        float_at(&valkey, 500).is_some() && float_at(&valkey, 501).is_some()
    });
    drop(first);
    // The RTU comes back without point 501 (a reconfigured station).
    let _second = rtu_with_float(port, 1.5);
    c.until("the new interrogation's value", T, || {
        float_at(&valkey, 500) == Some(1.5)
    });
    c.until("point 501 marked invalid", T, || {
        image(&valkey, CA, 501).is_some_and(|p| p.quality.iv)
    });
    let p500 = image(&valkey, CA, 500).expect("point 500");
    assert!(!p500.quality.iv && !p500.quality.nt, "{p500:?}");
    let p501 = image(&valkey, CA, 501).expect("point 501");
    assert_eq!(p501.value, PointValue::Float(2.0), "the last value is kept");
}

#[test]
fn a_broadcast_refused_with_cause_46_is_followed_by_an_interrogation_of_each_station_heard_from() {
    let valkey = ValkeyGuard::start();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let c = Connector::start_with("cause46", &valkey, &strs(&client(port, &[])), &[]);
    let mut s = RawServer::accept(&listener);
    let gi = s.next_asdu();
    assert_eq!(
        addressed(&gi),
        (100, 65535),
        "a broadcast interrogation first"
    );
    // As lib60870's example server answers: unknown common address.
    s.answer(&gi, Cause::UNKNOWN_COMMON_ADDRESS, true);
    c.until("the hint in the status", T, || {
        c.status(&valkey)["hint"]
            .as_str()
            .is_some_and(|h| h.contains("client.common_addresses"))
    });
    // Station 1 starts up: interrogated by its own address, then its counters.
    s.send_asdu(
        &Asdu::single(
            Cot::new(Cause::INITIALIZED),
            1,
            0,
            Element::M_EI_NA_1 { cause: 0 },
        )
        .to_bytes()
        .expect("encodes"),
    );
    let gi1 = s.next_asdu();
    assert_eq!(addressed(&gi1), (100, 1));
    s.answer(&gi1, Cause::ACTIVATION_CON, false);
    s.send_asdu(&floats(1, Cause::INTERROGATED, &[100, 101]));
    s.answer(&gi1, Cause::ACTIVATION_TERMINATION, false);
    let ci1 = s.next_asdu();
    assert_eq!(addressed(&ci1), (101, 1));
    assert_eq!(ci1[9], 5, "QCC: general request, read");
    s.answer(&ci1, Cause::ACTIVATION_CON, false);
    s.answer(&ci1, Cause::ACTIVATION_TERMINATION, false);
    c.until("station 1 in the image", T, || {
        in_image_from_interrogation(&valkey, 1, 100) && in_image_from_interrogation(&valkey, 1, 101)
    });
    // Station 2 is first heard from spontaneously: interrogated too.
    s.send_asdu(&floats(2, Cause::SPONTANEOUS, &[200]));
    let gi2 = s.next_asdu();
    assert_eq!(addressed(&gi2), (100, 2));
    s.answer(&gi2, Cause::ACTIVATION_CON, false);
    s.send_asdu(&floats(2, Cause::INTERROGATED, &[200, 201]));
    s.answer(&gi2, Cause::ACTIVATION_TERMINATION, false);
    assert_eq!(addressed(&s.next_asdu()), (101, 2));
    c.until("station 2 in the image", T, || {
        in_image_from_interrogation(&valkey, 2, 201)
    });
    c.until("the status without hint", T, || {
        c.status(&valkey)["hint"].is_null()
    });
    let st = c.status(&valkey);
    assert_eq!(st["state"], json!("connected"), "{st}");
    assert_eq!(st["reconnects"], json!(0), "{st}");
    assert_eq!(st["negative_confirmations"], json!(1), "{st}");
    assert_eq!(
        c.log_tail(40)
            .matches("list the stations in client.common_addresses")
            .count(),
        1,
        "one log line:\n{}",
        c.log_tail(40)
    );
}

/// A short F_SC_NB_1 (type 127): its identifier and address, no elements.
const SHORT_F_SC_NB_1: [u8; 9] = [127, 1, 13, 0, 1, 0, 0x05, 0, 0];

#[test]
fn a_malformed_asdu_in_a_good_i_frame_is_acknowledged_and_counted_and_the_link_stays() {
    let valkey = ValkeyGuard::start();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let c = Connector::start_with(
        "malformed",
        &valkey,
        &strs(&client(port, &["-w", "1"])),
        &[("ALP_CONNEX_CLIENT__RECONNECT_INTERVAL_S", "1")],
    );
    let mut s = RawServer::accept(&listener);
    let gi = s.next_asdu();
    s.answer(&gi, Cause::ACTIVATION_CON, false);
    s.send_asdu(&SHORT_F_SC_NB_1);
    s.until_acknowledged();
    s.send_asdu(&floats(1, Cause::INTERROGATED, &[300]));
    s.answer(&gi, Cause::ACTIVATION_TERMINATION, false);
    c.until("the point after the malformed ASDU", T, || {
        image(&valkey, 1, 300).is_some()
    });
    c.until("the malformed ASDU counted", T, || {
        c.status(&valkey)["malformed_asdus"] == json!(1)
    });
    let st = c.status(&valkey);
    assert_eq!(
        (&st["state"], &st["reconnects"]),
        (&json!("connected"), &json!(0)),
        "{st}"
    );
    // The RTU goes away and, as a lib60870 slave does with what it holds
    // unacknowledged, sends the same ASDU again after the reconnection.
    drop(s);
    let mut s = RawServer::accept(&listener);
    s.send_asdu(&SHORT_F_SC_NB_1);
    let gi = s.next_asdu();
    assert_eq!(addressed(&gi), (100, 65535));
    s.answer(&gi, Cause::ACTIVATION_CON, false);
    s.send_asdu(&floats(1, Cause::INTERROGATED, &[300, 301]));
    s.answer(&gi, Cause::ACTIVATION_TERMINATION, false);
    s.until_acknowledged();
    c.until("the data after the second malformed ASDU", T, || {
        image(&valkey, 1, 301).is_some()
    });
    c.until("both malformed ASDUs counted", T, || {
        c.status(&valkey)["malformed_asdus"] == json!(2)
    });
    // Still the same connection: a later point arrives on it.
    s.send_asdu(&floats(1, Cause::SPONTANEOUS, &[302]));
    s.until_acknowledged();
    c.until("the point on the same connection", T, || {
        image(&valkey, 1, 302).is_some()
    });
    let st = c.status(&valkey);
    assert_eq!(
        (&st["state"], &st["reconnects"]),
        (&json!("connected"), &json!(1)),
        "one reconnection, the RTU's: {st}"
    );
    assert_eq!(
        c.log_tail(40)
            .matches("undecodable ASDU from the server")
            .count(),
        1,
        "logged once per kind:\n{}",
        c.log_tail(40)
    );
}

/// A listener on loopback whose accept queue is full: a connection attempt
/// to it hangs (its SYN is dropped) until the client gives up. Kept open as
/// long as the returned value lives.
struct Unanswering {
    _rt: tokio::runtime::Runtime,
    _listener: tokio::net::TcpListener,
    _queued: Vec<TcpStream>,
    port: u16,
}

impl Unanswering {
    fn start() -> Unanswering {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let listener = rt
            .block_on(async {
                let socket = tokio::net::TcpSocket::new_v4()?;
                socket.bind("127.0.0.1:0".parse().expect("address"))?;
                socket.listen(0)
            })
            .expect("listen");
        let addr = listener.local_addr().expect("addr");
        let mut queued = Vec::new();
        loop {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(s) => queued.push(s),
                Err(_) => break,
            }
            assert!(queued.len() < 16, "the accept queue never filled");
        }
        Unanswering {
            _rt: rt,
            _listener: listener,
            _queued: queued,
            port: addr.port(),
        }
    }
}

#[test]
fn points_are_marked_when_the_grace_period_ends_while_a_connection_attempt_hangs() {
    let valkey = ValkeyGuard::start();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let hanging = Unanswering::start();
    let c = Connector::start_with(
        "hanging",
        &valkey,
        &strs(&client(port, &[])),
        &[
            // The retry comes (1 s after the first attempt) before the grace ends.
            ("ALP_CONNEX_CLIENT__RECONNECT_INTERVAL_S", "1"),
            ("ALP_CONNEX_CLIENT__LINK_LOSS_GRACE_S", "3"),
            (
                "ALP_CONNEX_CLIENT__ALTERNATIVE_HOSTS",
                &format!("[\"127.0.0.1:{}\"]", hanging.port),
            ),
        ],
    );
    let mut s = RawServer::accept(&listener);
    let gi = s.next_asdu();
    s.answer(&gi, Cause::ACTIVATION_CON, false);
    s.send_asdu(&floats(1, Cause::INTERROGATED, &[400]));
    s.answer(&gi, Cause::ACTIVATION_TERMINATION, false);
    c.until("the point in the image", T, || {
        image(&valkey, 1, 400).is_some_and(|p| !p.quality.nt)
    });
    // The RTU goes; the next attempt (the alternative host) hangs for t0 = 30 s.
    drop(s);
    c.until(
        "the point not topical when the grace period ends",
        Duration::from_secs(8),
        || image(&valkey, 1, 400).is_some_and(|p| p.quality.nt),
    );
    let st = c.status(&valkey);
    assert_eq!(
        (&st["state"], &st["remote"]),
        (
            &json!("connecting"),
            &json!(format!("127.0.0.1:{}", hanging.port))
        ),
        "still trying the unanswering host: {st}"
    );
}

/// A short float data point as an earlier run of connector `source` left it
/// in the image.
fn earlier_point(source: &str, ca: u16, ioa: u32, value: f32) -> String {
    json!({"casdu": ca, "ioa": ioa, "type_id": 13, "type": "M_ME_NC_1", "value": value,
        "quality": {"iv": false, "nt": false, "sb": false, "bl": false, "ov": false},
        "time": null, "cot": 3, "source": source, "received": "2026-11-21T09:15:30.125Z"})
    .to_string()
}

fn set_image(valkey: &ValkeyGuard, ca: u16, ioa: u32, json: &str) {
    valkey
        .command(&["SET", &format!("process:image:casdu:{ca}:ioa:{ioa}"), json])
        .expect("SET an image key");
}

#[test]
fn points_of_an_earlier_run_are_marked_not_topical_when_the_source_stays_away_after_a_restart() {
    let valkey = ValkeyGuard::start();
    set_image(&valkey, 7, 1, &earlier_point("restarted", 7, 1, 1.5));
    let others = earlier_point("someone-else", 7, 2, 2.5);
    set_image(&valkey, 7, 2, &others);
    let nothing_listens = free_port();
    let c = Connector::start_with(
        "restarted",
        &valkey,
        &strs(&client(nothing_listens, &[])),
        &[("ALP_CONNEX_CLIENT__LINK_LOSS_GRACE_S", "1")],
    );
    c.until("the earlier point marked not topical", T, || {
        image(&valkey, 7, 1).is_some_and(|p| p.quality.nt)
    });
    let p = image(&valkey, 7, 1).expect("the point");
    assert_eq!(p.value, PointValue::Float(1.5), "its value is kept");
    assert!(!p.quality.iv, "marked by the link-loss policy (nt) only");
    assert_eq!(&*p.source, "restarted");
    let untouched = valkey
        .command(&["GET", "process:image:casdu:7:ioa:2"])
        .expect("GET");
    assert_eq!(
        untouched, others,
        "another connector's point is not touched"
    );
    c.until("points_known in the status", T, || {
        c.status(&valkey)["points_known"] == json!(1)
    });
}

#[test]
fn a_point_of_an_earlier_run_the_source_no_longer_has_is_marked_invalid_by_the_interrogation() {
    let valkey = ValkeyGuard::start();
    let gone = 9999;
    let want = gi_points();
    assert!(want.iter().all(|(i, _)| *i != gone));
    set_image(
        &valkey,
        CA,
        gone,
        &earlier_point("restarted-rtu", CA, gone, 4.0),
    );
    let port = free_port();
    let _rtu = crate::interop::rtu_with_every_type(port);
    let c = Connector::start_with("restarted-rtu", &valkey, &strs(&client(port, &[])), &[]);
    c.until("the point the RTU no longer has marked invalid", T, || {
        image(&valkey, CA, gone).is_some_and(|p| p.quality.iv)
    });
    assert!(
        all_in_image(&valkey, &want),
        "every point of the RTU written"
    );
    let invalid: Vec<u32> = want
        .iter()
        .filter(|(i, _)| image(&valkey, CA, *i).is_some_and(|p| p.quality.iv))
        .map(|(i, _)| *i)
        .collect();
    let served_invalid: Vec<u32> = want
        .iter()
        .filter(|(i, e)| expected(CA, *i, e, Cause::INTERROGATED).quality.iv)
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(
        invalid, served_invalid,
        "only the points the RTU itself flags invalid are invalid"
    );
    let p = image(&valkey, CA, gone).expect("the point");
    assert_eq!(p.value, PointValue::Float(4.0), "its value is kept");
}
