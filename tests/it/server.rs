//! The `iec104-server` role end to end: points written to a real Valkey by
//! the store's writer (as the inbound connector writes them), the
//! `alp-connex iec104-server` binary, and a c104 client as the SCADA master.

use std::io::Read;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alp_connex::contract::DataPoint;
use alp_connex::contract::iec104::{Reception, points_from_asdu};
use alp_connex::iec104::asdu::Asdu;
use alp_connex::iec104::elements::Quality;
use alp_connex::iec104::types::{Cause, Cot, Element, TypeId};
use alp_connex::store::{PointRecord, StoreConfig, Writer};
use serde_json::json;

use crate::interop::{CA, T, assert_same_point, is_counter, station_points, summary};
use crate::support::{ValkeyGuard, c104_master, free_port};

/// The server binary; killed on drop.
pub(crate) struct Server {
    child: Child,
    pub(crate) port: u16,
}

impl Server {
    pub(crate) fn start(valkey: &ValkeyGuard, extra: &[&str]) -> Server {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_alp-connex"));
        cmd.args([
            "iec104-server",
            "--id",
            "srv",
            "--log-level",
            "debug",
            "server",
            "--bind",
            "127.0.0.1",
        ]);
        cmd.args(["--port", &port.to_string()]);
        cmd.args(extra);
        cmd.args(["redis", "--host", &format!("127.0.0.1:{}", valkey.port())]);
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .stdin(Stdio::null());
        let child = cmd.spawn().expect("start alp-connex iec104-server");
        let deadline = Instant::now() + T;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Server { child, port }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn write_points(valkey: &ValkeyGuard, points: &[(u32, Element)], cause: Cause) {
    write_points_at(valkey, CA, points, cause);
}

/// [`write_points`] for common address `ca`.
pub(crate) fn write_points_at(
    valkey: &ValkeyGuard,
    ca: u16,
    points: &[(u32, Element)],
    cause: Cause,
) {
    write_data_points(valkey, &data_points(ca, points, cause));
}

/// The data points the inbound connector makes of `points` received with
/// `cause` from station `ca`.
pub(crate) fn data_points(ca: u16, points: &[(u32, Element)], cause: Cause) -> Vec<DataPoint> {
    let source: Arc<str> = "test".into();
    points
        .iter()
        .flat_map(|(ioa, e)| {
            let a = Asdu::single(Cot::new(cause), ca, *ioa, e.clone());
            points_from_asdu(
                &a,
                Reception {
                    source: &source,
                    received: 0,
                    zone: &alp_connex::iec104::time::UTC,
                },
            )
        })
        .collect()
}

/// Writes `points` to the image and the stream, as the store's writer does
/// for every connector.
pub(crate) fn write_data_points(valkey: &ValkeyGuard, points: &[DataPoint]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let cfg = StoreConfig {
            host: "127.0.0.1".into(),
            port: valkey.port(),
            password: None,
            mode: Default::default(),
            stream: "process:updates".into(),
            stream_max_length: 1000,
            exact_trim: false,
            source: "test".into(),
        };
        let writer = Writer::spawn(cfg);
        let records = points
            .iter()
            .map(|p| PointRecord {
                casdu: p.casdu,
                ioa: p.ioa,
                json: p.to_json(),
            })
            .collect();
        writer.submit(records);
        writer.flush(T).await.expect("written");
        writer.shutdown(T).await;
    });
}

#[test]
fn a_c104_master_interrogates_the_image_and_receives_updates_from_the_stream() {
    let valkey = ValkeyGuard::start();
    write_points(&valkey, &station_points(), Cause::SPONTANEOUS);
    let server = Server::start(&valkey, &[]);
    let mut master = c104_master(server.port, &["--ca", "1", "--no-gi"]);
    master.expect_event("open", T);
    master.send(&json!({"op": "gi", "ca": CA}));
    let lines = master.lines_until(|v| v["event"] == "gi_done", T);
    assert_eq!(lines.last().expect("gi_done")["ok"], json!(true));
    let got: std::collections::BTreeMap<u64, &serde_json::Value> = lines
        .iter()
        .filter(|v| v["event"] == "point" && v["cot"] == 20)
        .map(|v| (v["ioa"].as_u64().expect("ioa"), v))
        .collect();
    let want: Vec<(u32, Element)> = station_points()
        .into_iter()
        .filter(|(_, e)| !is_counter(e.type_id()) && !is_protection_event(e.type_id()))
        .collect();
    assert_eq!(
        got.len(),
        want.len(),
        "every point of the image, counters and protection events aside"
    );
    for (ioa, e) in &want {
        let g = got[&u64::from(*ioa)];
        // Interrogation answers carry the type without time tag.
        let w = summary(*ioa, &e.clone().untimed());
        assert_eq!(g["type"], w["type"], "IOA {ioa}");
        assert_same_point(g, &w);
    }
    // A new value written to Valkey reaches the master spontaneously.
    let new = Element::M_ME_TF_1 {
        value: 42.5,
        quality: Quality::GOOD,
        time: alp_connex::iec104::time::Cp56Time2a::from_unix_ms(crate::interop::TIME_MS)
            .expect("time"),
    };
    write_points(&valkey, &[(300, new.clone())], Cause::SPONTANEOUS);
    let p = master.expect_line(|v| v["event"] == "point" && v["ioa"] == 300, T);
    assert_eq!(p["cot"], json!(3));
    assert_eq!(p["type"], json!(TypeId::M_ME_TF_1.mnemonic()));
    assert_same_point(&p, &summary(300, &new));
}

#[test]
fn masters_outside_the_allow_list_are_refused() {
    let valkey = ValkeyGuard::start();
    let server = Server::start(&valkey, &["--allow", "10.0.0.0/8"]);
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    s.set_read_timeout(Some(T)).expect("timeout");
    let mut buf = [0u8; 16];
    assert_eq!(
        s.read(&mut buf).expect("EOF, not a timeout"),
        0,
        "closed at once"
    );
}

#[test]
fn a_flood_of_masters_outside_the_allow_list_is_refused_each_at_once_and_counted() {
    let valkey = ValkeyGuard::start();
    let server = Server::start(&valkey, &["--allow", "10.0.0.0/8"]);
    let flood = 200;
    for n in 0..flood {
        let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
        s.set_read_timeout(Some(T)).expect("timeout");
        let mut buf = [0u8; 16];
        assert_eq!(
            s.read(&mut buf).expect("EOF, not a timeout"),
            0,
            "connection {n} closed at once"
        );
    }
    // The connection with which Server::start saw the listener was the first.
    until("every refusal counted", || {
        server_status(&valkey)["refused"] == json!(flood + 1)
    });
    assert_eq!(server_status(&valkey)["masters"], json!([]));
}

#[test]
fn masters_beyond_the_connection_limit_are_refused() {
    let valkey = ValkeyGuard::start();
    let server = Server::start(&valkey, &["--max-connections", "1"]);
    let mut master = c104_master(server.port, &["--ca", "1", "--no-gi"]);
    master.expect_event("open", T);
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    s.set_read_timeout(Some(T)).expect("timeout");
    let mut buf = [0u8; 16];
    assert_eq!(
        s.read(&mut buf).expect("EOF, not a timeout"),
        0,
        "the second master is refused"
    );
}

#[test]
fn spontaneous_updates_reach_two_masters_at_once() {
    let valkey = ValkeyGuard::start();
    write_points(&valkey, &station_points(), Cause::SPONTANEOUS);
    let server = Server::start(&valkey, &[]);
    let mut a = c104_master(server.port, &["--ca", "1", "--no-gi"]);
    let mut b = c104_master(server.port, &["--ca", "1", "--no-gi"]);
    a.expect_event("open", T);
    b.expect_event("open", T);
    let new = Element::M_ME_NC_1 {
        value: -7.25,
        quality: Quality::GOOD,
    };
    write_points(&valkey, &[(301, new.clone())], Cause::SPONTANEOUS);
    for m in [&mut a, &mut b] {
        let p = m.expect_line(|v| v["event"] == "point" && v["ioa"] == 301, T);
        assert_eq!(p["cot"], json!(3));
        assert_same_point(&p, &summary(301, &new));
    }
}

/// The whole chain: a c104 server as the RTU → alp-connex iec104-inbound →
/// Valkey → alp-connex iec104-server → a c104 client as the SCADA master;
/// every value equal at the end.
#[test]
fn the_whole_chain_from_an_rtu_to_a_scada_master_keeps_every_value() {
    let valkey = ValkeyGuard::start();
    let rtu_port = free_port();
    let mut rtu = crate::interop::rtu_with_every_type(rtu_port);
    let mut inbound = Command::new(env!("CARGO_BIN_EXE_alp-connex"));
    inbound.args([
        "iec104-inbound",
        "--id",
        "chain-in",
        "--log-level",
        "warning",
        "client",
        "--host",
        "127.0.0.1",
    ]);
    inbound.args([
        "--port",
        &rtu_port.to_string(),
        "redis",
        "--host",
        &format!("127.0.0.1:{}", valkey.port()),
    ]);
    inbound
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .stdin(Stdio::null());
    let _inbound = KillOnDrop(inbound.spawn().expect("start the inbound connector"));
    // Everything the RTU holds, by interrogation and then spontaneously
    // (types c104 leaves out of its interrogation answer included).
    let all: Vec<(u32, Element)> = station_points();
    let ioas: Vec<u32> = all.iter().map(|(i, _)| *i).collect();
    rtu.expect_line(|v| v["event"] == "command" && v["type"] == "C_IC_NA_1", T);
    rtu.send(&json!({"op": "transmit", "cause": "SPONTANEOUS", "ca": CA, "ioas": ioas}));
    let sent = rtu.expect_event("transmitted", T);
    assert_eq!(sent["on_wire"], json!(ioas.len()));
    let deadline = Instant::now() + T;
    while ioas.iter().any(|i| {
        valkey
            .command(&["GET", &format!("process:image:casdu:{CA}:ioa:{i}")])
            .map_or(true, |v| v == "(nil)")
    }) {
        assert!(
            Instant::now() < deadline,
            "the inbound connector wrote every point"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let server = Server::start(&valkey, &[]);
    let mut master = c104_master(server.port, &["--ca", "1", "--no-gi"]);
    master.expect_event("open", T);
    master.send(&json!({"op": "gi", "ca": CA}));
    let lines = master.lines_until(|v| v["event"] == "gi_done", T);
    let got: std::collections::BTreeMap<u64, &serde_json::Value> = lines
        .iter()
        .filter(|v| v["event"] == "point" && v["cot"] == 20)
        .map(|v| (v["ioa"].as_u64().expect("ioa"), v))
        .collect();
    let want: Vec<&(u32, Element)> = all
        .iter()
        .filter(|(_, e)| !is_counter(e.type_id()) && !is_protection_event(e.type_id()))
        .collect();
    assert_eq!(
        got.len(),
        want.len(),
        "every point at the master but counters and protection events"
    );
    for (ioa, e) in want {
        assert_same_point(got[&u64::from(*ioa)], &summary(*ioa, &e.clone().untimed()));
    }
    // The integrated totals by counter interrogation, with their values.
    master.send(&json!({"op": "counter_interrogation", "ca": CA}));
    let lines = master.lines_until(|v| v["event"] == "ci_done", T);
    let counters: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|v| v["event"] == "point" && v["cot"] == 37)
        .collect();
    assert_eq!(counters.len(), 2);
    for c in counters {
        let ioa = c["ioa"].as_u64().expect("ioa");
        let (_, e) = all
            .iter()
            .find(|(i, _)| u64::from(*i) == ioa)
            .expect("known");
        assert_same_point(c, &summary(ioa as u32, e));
    }
}

/// A child process killed on drop.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Events of protection equipment (17-19, 38-40): never part of an
/// interrogation answer.
pub(crate) fn is_protection_event(t: TypeId) -> bool {
    use TypeId::*;
    matches!(
        t,
        M_EP_TA_1 | M_EP_TB_1 | M_EP_TC_1 | M_EP_TD_1 | M_EP_TE_1 | M_EP_TF_1
    )
}

pub(crate) fn server_status(valkey: &ValkeyGuard) -> serde_json::Value {
    valkey
        .command(&["GET", "connectors:srv:status"])
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(serde_json::Value::Null)
}

pub(crate) fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + T;
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within {T:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_last_status_after_sigterm_is_stopped() {
    let valkey = ValkeyGuard::start();
    let mut server = Server::start(&valkey, &[]);
    until("listening in the status", || {
        server_status(&valkey)["state"] == json!("listening")
    });
    crate::support::send_signal(server.child.id(), libc::SIGTERM).expect("SIGTERM sent");
    let deadline = Instant::now() + T;
    let exit = loop {
        if let Some(exit) = server.child.try_wait().expect("the server's exit") {
            break exit;
        }
        assert!(Instant::now() < deadline, "the server did not end");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit}");
    let st = server_status(&valkey);
    assert_eq!(st["state"], json!("stopped"), "{st}");
    assert_eq!(st["kind"], json!("iec104-server"), "{st}");
}

#[test]
fn managed_settings_rebind_the_listener_a_new_allow_list_disconnects_and_invalid_ones_are_refused()
{
    let valkey = ValkeyGuard::start();
    let server = Server::start(&valkey, &[]);
    let key = "connectors:srv:config";
    // Invalid: refused, still listening on the old port.
    valkey
        .command(&["SET", key, r#"{"port": 70000}"#])
        .expect("SET");
    valkey.command(&["PUBLISH", key, key]).expect("PUBLISH");
    until("config_error in the status", || {
        server_status(&valkey)["config_error"]
            .as_str()
            .is_some_and(|e| e.contains("server.port = 70000"))
    });
    assert!(
        TcpStream::connect(("127.0.0.1", server.port)).is_ok(),
        "still listening"
    );
    // A new port: the server listens there without a restart.
    let p2 = free_port();
    valkey
        .command(&["SET", key, &format!(r#"{{"port": {p2}}}"#)])
        .expect("SET");
    valkey.command(&["PUBLISH", key, key]).expect("PUBLISH");
    until("listening on the new port", || {
        TcpStream::connect(("127.0.0.1", p2)).is_ok()
    });
    until("the status shows it", || {
        server_status(&valkey)["listen"] == json!(format!("127.0.0.1:{p2}"))
    });
    assert!(server_status(&valkey)["config_error"].is_null());
    let mut master = c104_master(p2, &["--ca", "1", "--no-gi"]);
    master.expect_event("open", T);
    // An allow-list that excludes loopback applies to the next connection.
    valkey
        .command(&[
            "SET",
            key,
            &format!(r#"{{"port": {p2}, "allow": ["10.0.0.0/8"]}}"#),
        ])
        .expect("SET");
    valkey.command(&["PUBLISH", key, key]).expect("PUBLISH");
    until("the new connection refused", || {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", p2)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 4];
        matches!(s.read(&mut buf), Ok(0))
    });
    // ... and the master already connected from loopback is disconnected.
    master.expect_event("closed", T);
    until("no master in the status", || {
        server_status(&valkey)["masters"] == json!([])
    });
}

/// The IOAs of the points of a group interrogation answer, checking that
/// each came with the group's cause, and whether the master's request
/// ended well.
fn group_answer(master: &mut crate::support::Peer, ca: u16, qoi: u8) -> (Vec<u64>, bool) {
    master.send(&json!({"op": "gi", "ca": ca, "qoi": qoi}));
    let lines = master.lines_until(|v| v["event"] == "result" && v["op"] == "gi", T);
    let ioas = lines
        .iter()
        .filter(|v| v["event"] == "point")
        .map(|v| {
            assert_eq!(v["cot"], json!(qoi), "cause = QOI for groups: {v}");
            v["ioa"].as_u64().expect("ioa")
        })
        .collect();
    let ok = lines.last().is_some_and(|v| v["ok"] == json!(true));
    (ioas, ok)
}

#[test]
fn group_interrogation_answers_the_points_of_its_ranges_and_follows_managed_changes() {
    let valkey = ValkeyGuard::start();
    write_points(&valkey, &floats(30), Cause::SPONTANEOUS);
    let server = Server::start(&valkey, &["--group", "1:1:10-14,2:*:20-21,1:1:30"]);
    let mut master = c104_master(server.port, &["--ca", "1", "--no-gi"]);
    master.expect_event("open", T);
    let want: Vec<u64> = (10..=14).chain([30]).collect();
    assert_eq!(group_answer(&mut master, CA, 21), (want, true), "group 1");
    assert_eq!(
        group_answer(&mut master, CA, 22),
        (vec![20, 21], true),
        "group 2"
    );
    assert_eq!(
        group_answer(&mut master, CA, 36),
        (vec![], true),
        "group 16: empty"
    );
    // The station interrogation still answers everything.
    master.send(&json!({"op": "gi", "ca": CA}));
    let lines = master.lines_until(|v| v["event"] == "result" && v["op"] == "gi", T);
    let all = lines
        .iter()
        .filter(|v| v["event"] == "point" && v["cot"] == 20);
    assert_eq!(all.count(), 30);
    // Groups and served addresses follow the managed configuration.
    let key = "connectors:srv:config";
    let set = |json: &str| {
        valkey.command(&["SET", key, json]).expect("SET");
        valkey.command(&["PUBLISH", key, key]).expect("PUBLISH");
    };
    set(r#"{"groups": ["1:1:1-2"]}"#);
    until("the new group 1", || {
        group_answer(&mut master, CA, 21) == (vec![1, 2], true)
    });
    set(r#"{"groups": ["1:1:1-2"], "common_addresses": [7]}"#);
    until("common address 1 no longer served", || {
        group_answer(&mut master, CA, 21) == (vec![], false)
    });
    let r = master
        .history()
        .iter()
        .rev()
        .find(|v| v["event"] == "response" && v["type"] == "C_IC_NA_1")
        .cloned()
        .expect("a confirmation");
    assert_eq!(
        (&r["cot"], &r["negative"]),
        (&json!(46), &json!(true)),
        "{r}"
    );
    set(r#"{"groups": ["1:1:1-2"], "common_addresses": [1]}"#);
    until("served again, every point held meanwhile", || {
        group_answer(&mut master, CA, 21) == (vec![1, 2], true)
    });
    assert_eq!(server_status(&valkey)["image_points"], json!(30));
}

pub(crate) fn floats(n: u32) -> Vec<(u32, Element)> {
    (1..=n)
        .map(|i| {
            (
                i,
                Element::M_ME_NC_1 {
                    value: i as f32,
                    quality: Quality::GOOD,
                },
            )
        })
        .collect()
}

pub(crate) async fn interrogate(
    conn: &mut alp_connex::iec104::driver::Connection,
) -> Result<(), alp_connex::iec104::link::SendError> {
    let gi = Asdu::single(
        Cot::new(Cause::ACTIVATION),
        CA,
        0,
        Element::C_IC_NA_1 {
            qualifier: alp_connex::iec104::elements::Qoi::STATION,
        },
    );
    conn.send(gi.to_bytes().expect("encodes")).await
}

pub(crate) async fn started(port: u16) -> alp_connex::iec104::driver::Connection {
    use alp_connex::iec104::link::Event;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut conn = alp_connex::iec104::driver::connect(addr, Default::default())
        .await
        .expect("connects");
    loop {
        match tokio::time::timeout(T, conn.recv()).await.expect("in time") {
            Some(Event::DataTransferStarted) => return conn,
            Some(Event::Closed(r)) => panic!("closed: {r:?}"),
            _ => {}
        }
    }
}

#[test]
fn a_100000_point_interrogation_completes_and_a_master_dropped_mid_way_harms_no_other() {
    use alp_connex::iec104::link::Event;
    let valkey = ValkeyGuard::start();
    write_points(&valkey, &floats(100_000), Cause::SPONTANEOUS);
    let server = Server::start(&valkey, &[]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        // A master that asks for everything and drops the link after 100 ASDUs.
        let mut quitter = started(server.port).await;
        interrogate(&mut quitter).await.expect("GI sent");
        for _ in 0..100 {
            match tokio::time::timeout(T, quitter.recv())
                .await
                .expect("in time")
            {
                Some(Event::Asdu(_)) => {}
                other => panic!("{other:?}"),
            }
        }
        drop(quitter);
        // Another master gets the whole interrogation, never cut short.
        let mut conn = started(server.port).await;
        interrogate(&mut conn).await.expect("GI sent");
        let mut objects = 0usize;
        let mut asdus = 0usize;
        let mut next_ioa = 1u32;
        loop {
            let raw = match tokio::time::timeout(T, conn.recv()).await.expect("in time") {
                Some(Event::Asdu(raw)) => raw,
                other => panic!("{other:?}"),
            };
            let a = Asdu::decode(&raw).expect("decodes");
            if a.type_id == TypeId::C_IC_NA_1 {
                if a.cot.cause == Cause::ACTIVATION_TERMINATION {
                    break;
                }
                continue;
            }
            assert_eq!(a.cot.cause, Cause::INTERROGATED);
            assert!(a.sequence, "contiguous floats go as SQ=1");
            for o in &a.objects {
                assert_eq!(o.ioa, next_ioa, "ascending IOA, none missing");
                next_ioa += 1;
            }
            objects += a.objects.len();
            asdus += 1;
        }
        assert_eq!(objects, 100_000);
        // SQ=1 M_ME_NC_1: (249 - 6 header - 3 IOA) / 5 = 48 per ASDU.
        assert_eq!(asdus, 100_000usize.div_ceil(48), "as few ASDUs as fit");
    });
    // The server still serves: a c104 master gets a spontaneous update.
    let mut master = c104_master(server.port, &["--ca", "1", "--no-gi"]);
    master.expect_event("open", T);
    let new = Element::M_ME_NC_1 {
        value: 0.5,
        quality: Quality::GOOD,
    };
    write_points(&valkey, &[(7, new.clone())], Cause::SPONTANEOUS);
    let p = master.expect_line(|v| v["event"] == "point" && v["ioa"] == 7, T);
    assert_same_point(&p, &summary(7, &new));
}

#[test]
fn a_master_sending_garbage_loses_only_its_own_connection() {
    use std::io::Write;
    let valkey = ValkeyGuard::start();
    write_points(&valkey, &floats(10), Cause::SPONTANEOUS);
    let server = Server::start(&valkey, &[]);
    let mut good = c104_master(server.port, &["--ca", "1", "--no-gi"]);
    good.expect_event("open", T);
    let mut bad = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    bad.set_read_timeout(Some(T)).expect("timeout");
    // STARTDT act, then bytes that are no APDU: the link is closed at once.
    bad.write_all(&[0x68, 4, 0x07, 0, 0, 0]).expect("STARTDT");
    let mut con = [0u8; 6];
    bad.read_exact(&mut con).expect("STARTDT con");
    assert_eq!(con, [0x68, 4, 0x0B, 0, 0, 0]);
    bad.write_all(&[0x42, 0x42, 0x42, 0x42]).expect("garbage");
    let mut buf = [0u8; 16];
    assert_eq!(
        bad.read(&mut buf).expect("EOF, not a timeout"),
        0,
        "the garbage sender is closed"
    );
    // The other master and the image are untouched.
    let new = Element::M_ME_NC_1 {
        value: 9.0,
        quality: Quality::GOOD,
    };
    write_points(&valkey, &[(3, new.clone())], Cause::SPONTANEOUS);
    let p = good.expect_line(|v| v["event"] == "point" && v["ioa"] == 3, T);
    assert_same_point(&p, &summary(3, &new));
    good.send(&json!({"op": "gi", "ca": CA}));
    let lines = good.lines_until(|v| v["event"] == "gi_done", T);
    let n = lines
        .iter()
        .filter(|v| v["event"] == "point" && v["cot"] == 20)
        .count();
    assert_eq!(n, 10);
}

#[test]
fn a_broadcast_interrogation_is_answered_by_every_served_station_with_its_own_address() {
    let valkey = ValkeyGuard::start();
    write_points_at(&valkey, 1, &floats(5), Cause::SPONTANEOUS);
    write_points_at(&valkey, 2, &floats(3), Cause::SPONTANEOUS);
    write_points_at(&valkey, 3, &floats(4), Cause::SPONTANEOUS);
    // Station 3 is in the image but not served.
    let server = Server::start(&valkey, &["--common-address", "1,2"]);
    let mut m = c104_master(server.port, &["--ca", "1", "--ca", "2", "--no-gi"]);
    m.expect_event("open", T);
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
    assert_eq!(terms, [json!(1), json!(2)], "ACT_TERM per station");
    let mut got: Vec<(u64, u64)> = lines
        .iter()
        .filter(|v| v["event"] == "point")
        .map(|v| {
            assert_eq!(v["cot"], json!(20));
            (
                v["ca"].as_u64().expect("ca"),
                v["ioa"].as_u64().expect("ioa"),
            )
        })
        .collect();
    got.sort_unstable();
    let want: Vec<(u64, u64)> = (1..=5)
        .map(|i| (1, i))
        .chain((1..=3).map(|i| (2, i)))
        .collect();
    assert_eq!(got, want, "every point of stations 1 and 2, none of 3");
}
