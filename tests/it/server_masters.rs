//! The `iec104-server` role isolates misbehaving masters: a master that
//! breaks the link (sequence error, t1 expiry) or is killed in the middle of
//! an interrogation loses its own connection only; the other masters keep
//! their connection and every update, and the process image is untouched.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use alp_connex::iec104::asdu::Asdu;
use alp_connex::iec104::elements::{Qoi, Quality};
use alp_connex::iec104::types::{Cause, Cot, Element, TypeId};
use serde_json::{Value, json};

use crate::interop::{CA, T};
use crate::server::{Server, floats, interrogate, server_status, started, until, write_points};
use crate::support::{Peer, ValkeyGuard, c104_master, send_signal};

const STARTDT_ACT: [u8; 6] = [0x68, 4, 0x07, 0, 0, 0];
const STARTDT_CON: [u8; 6] = [0x68, 4, 0x0B, 0, 0, 0];

/// A station interrogation (C_IC_NA_1, cause 6) for [`CA`].
fn gi_asdu() -> Vec<u8> {
    Asdu::single(
        Cot::new(Cause::ACTIVATION),
        CA,
        0,
        Element::C_IC_NA_1 {
            qualifier: Qoi::STATION,
        },
    )
    .to_bytes()
    .expect("encodes")
}

/// An I-frame with N(S) = `send_seq` and N(R) = `recv_seq`.
fn i_frame(send_seq: u16, recv_seq: u16, asdu: &[u8]) -> Vec<u8> {
    let mut f = vec![0x68, u8::try_from(4 + asdu.len()).expect("short ASDU")];
    f.extend_from_slice(&(send_seq << 1).to_le_bytes());
    f.extend_from_slice(&(recv_seq << 1).to_le_bytes());
    f.extend_from_slice(asdu);
    f
}

/// A master on a plain socket, in data transfer (STARTDT act answered).
fn raw_master(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    s.set_read_timeout(Some(T)).expect("timeout");
    s.write_all(&STARTDT_ACT).expect("STARTDT act");
    let mut con = [0u8; 6];
    s.read_exact(&mut con).expect("STARTDT con");
    assert_eq!(con, STARTDT_CON);
    s
}

/// Everything the server sends on `s` until it closes the connection (end
/// of stream or reset); panics if it is still open after `within`.
fn read_until_closed(s: &mut TcpStream, within: Duration) -> Vec<u8> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "the server did not close the connection within {within:?} ({} bytes received)",
            got.len()
        );
        s.set_read_timeout(Some(left)).expect("timeout");
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                ) =>
            {
                return got;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// The number of I-frames among the APDUs in `bytes`.
fn i_frames(bytes: &[u8]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i + 2 < bytes.len() {
        assert_eq!(bytes[i], 0x68, "APDU start at offset {i}");
        if bytes[i + 2] & 1 == 0 {
            n += 1;
        }
        i += 2 + usize::from(bytes[i + 1]);
    }
    n
}

/// The masters the server's status lists.
fn masters(valkey: &ValkeyGuard) -> Vec<String> {
    server_status(valkey)["masters"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn float(value: f32) -> Element {
    Element::M_ME_NC_1 {
        value,
        quality: Quality::GOOD,
    }
}

/// The spontaneous points (cause 3) a c104 master prints, as (IOA, value),
/// up to and including `last`.
fn spontaneous_until(master: &mut Peer, last: (u32, f32), timeout: Duration) -> Vec<(u32, f32)> {
    let is_point = |v: &Value| v["event"] == "point" && v["cot"] == 3;
    let as_pair = |v: &Value| {
        (
            v["ioa"].as_u64().expect("ioa") as u32,
            v["value"].as_f64().expect("value") as f32,
        )
    };
    master
        .lines_until(|v| is_point(v) && as_pair(v) == last, timeout)
        .iter()
        .filter(|v| is_point(v))
        .map(as_pair)
        .collect()
}

/// A c104 master's station interrogation: (IOA, value) of every point
/// with cause 20, in the order received.
fn c104_gi(master: &mut Peer) -> Vec<(u32, f32)> {
    master.send(&json!({"op": "gi", "ca": CA}));
    let lines = master.lines_until(|v| v["event"] == "gi_done", T);
    assert_eq!(lines.last().expect("gi_done")["ok"], json!(true));
    lines
        .iter()
        .filter(|v| v["event"] == "point" && v["cot"] == 20)
        .map(|v| {
            (
                v["ioa"].as_u64().expect("ioa") as u32,
                v["value"].as_f64().expect("value") as f32,
            )
        })
        .collect()
}

fn assert_never_closed(master: &mut Peer, what: &str) {
    master.drain();
    let closed: Vec<&Value> = master
        .history()
        .iter()
        .filter(|v| v["event"] == "closed")
        .collect();
    assert!(closed.is_empty(), "{what} lost its connection: {closed:?}");
}

#[test]
fn a_master_with_a_sequence_error_loses_only_its_own_connection() {
    let valkey = ValkeyGuard::start();
    write_points(&valkey, &floats(10), Cause::SPONTANEOUS);
    let server = Server::start(&valkey, &[]);
    let mut good = c104_master(server.port, &["--ca", "1", "--no-gi"]);
    good.expect_event("open", T);
    let mut bad = raw_master(server.port);
    let bad_addr = bad.local_addr().expect("local address").to_string();
    until("both masters in the status", || {
        let m = masters(&valkey);
        m.len() == 2 && m.contains(&bad_addr)
    });

    // N(S) = 5 where 0 is due, carrying a valid interrogation.
    bad.write_all(&i_frame(5, 0, &gi_asdu()))
        .expect("I-frame sent");
    // Closed well before t1 (15 s) or t3 (20 s) could explain it.
    let got = read_until_closed(&mut bad, Duration::from_secs(10));
    assert_eq!(
        i_frames(&got),
        0,
        "the out-of-sequence interrogation is not answered: {got:02x?}"
    );
    until("only the other master in the status", || {
        let m = masters(&valkey);
        m.len() == 1 && !m.contains(&bad_addr)
    });

    // The other master: the image as it was, and a new update.
    let want: Vec<(u32, f32)> = (1..=10).map(|i| (i, i as f32)).collect();
    assert_eq!(c104_gi(&mut good), want, "the image is unchanged");
    write_points(&valkey, &[(3, float(9.5))], Cause::SPONTANEOUS);
    assert_eq!(spontaneous_until(&mut good, (3, 9.5), T), [(3, 9.5)]);
    assert_never_closed(&mut good, "the other master");
}

#[test]
fn a_master_that_stops_acknowledging_is_closed_after_t1_and_the_others_keep_receiving() {
    const T1: Duration = Duration::from_secs(3);
    const IOA: u32 = 5;
    let valkey = ValkeyGuard::start();
    write_points(&valkey, &floats(10), Cause::SPONTANEOUS);
    let server = Server::start(&valkey, &["--t1", "3", "--t2", "1", "-k", "4", "-w", "4"]);
    // The good master acknowledges every I-frame at once, well within t1.
    let mut good = c104_master(
        server.port,
        &["--ca", "1", "--no-gi", "--w", "1", "--t2", "1"],
    );
    good.expect_event("open", T);
    let mut lazy = raw_master(server.port);
    let lazy_addr = lazy.local_addr().expect("local address").to_string();
    until("both masters in the status", || {
        let m = masters(&valkey);
        m.len() == 2 && m.contains(&lazy_addr)
    });

    let stop = AtomicBool::new(false);
    // No I-frame goes to the lazy master before this instant: the server's
    // t1 for it starts later.
    let sent_at = Instant::now();
    let (during, got, open_for) = std::thread::scope(|s| {
        // Updates written one after another while the lazy master is being
        // timed out.
        let writer = s.spawn(|| {
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) {
                write_points(
                    &valkey,
                    &[(IOA, float(1000.0 + i as f32))],
                    Cause::SPONTANEOUS,
                );
                i += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            i
        });
        // An interrogation, and then never an acknowledgement: every I-frame
        // the server sends from here on stays unacknowledged.
        lazy.write_all(&i_frame(0, 0, &gi_asdu())).expect("GI sent");
        let got = read_until_closed(&mut lazy, T1 + T);
        let open_for = sent_at.elapsed();
        stop.store(true, Ordering::Relaxed);
        (writer.join().expect("writer"), got, open_for)
    });
    assert!(
        i_frames(&got) >= 1,
        "the server sent I-frames to the lazy master: {got:02x?}"
    );
    assert!(
        open_for >= T1 - Duration::from_millis(100),
        "closed after {open_for:?}, before t1 = {T1:?}"
    );
    assert!(during > 0, "updates were written while it was timed out");
    until("only the other master in the status", || {
        let m = masters(&valkey);
        m.len() == 1 && !m.contains(&lazy_addr)
    });

    // And after.
    let total = during + 5;
    for i in during..total {
        write_points(
            &valkey,
            &[(IOA, float(1000.0 + i as f32))],
            Cause::SPONTANEOUS,
        );
    }
    let want: Vec<(u32, f32)> = (0..total).map(|i| (IOA, 1000.0 + i as f32)).collect();
    let last = *want.last().expect("some");
    assert_eq!(
        spontaneous_until(&mut good, last, T),
        want,
        "every update, in order"
    );
    assert_never_closed(&mut good, "the good master");
}

#[test]
fn a_master_killed_mid_interrogation_harms_no_other_that_keeps_receiving() {
    use alp_connex::iec104::link::Event;
    const N: u32 = 20_000;
    const UPDATES: u32 = 200;
    // Update i: IOA 1..=100 in turn, value 100000 + i.
    let update = |i: u32| (i % 100 + 1, 100_000.0 + i as f32);
    let valkey = ValkeyGuard::start();
    write_points(&valkey, &floats(N), Cause::SPONTANEOUS);
    let server = Server::start(&valkey, &[]);
    let mut b = c104_master(server.port, &["--ca", "1", "--no-gi"]);
    b.expect_event("open", T);
    let mut a = c104_master(server.port, &["--ca", "1", "--no-gi", "--k", "12"]);
    a.expect_event("open", T);
    until("both masters in the status", || masters(&valkey).len() == 2);

    let written = AtomicU32::new(0);
    let at_kill = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            for i in 0..UPDATES {
                let (ioa, value) = update(i);
                write_points(&valkey, &[(ioa, float(value))], Cause::SPONTANEOUS);
                written.store(i + 1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        until("the stream of updates under way", || {
            written.load(Ordering::Relaxed) >= 20
        });
        // A asks for everything and is killed at its first point.
        a.send(&json!({"op": "gi", "ca": CA}));
        a.expect_line(|v| v["event"] == "point" && v["cot"] == 20, T);
        let sent = send_signal(a.pid(), libc::SIGKILL);
        assert!(sent.is_ok(), "SIGKILL sent: {sent:?}");
        let at_kill = written.load(Ordering::Relaxed);
        writer.join().expect("writer");
        at_kill
    });
    assert!(
        at_kill < UPDATES,
        "A was killed while the updates were being written ({at_kill} of {UPDATES} written)"
    );

    // B: every update, in order, on the same connection.
    let want: Vec<(u32, f32)> = (0..UPDATES).map(update).collect();
    let last = *want.last().expect("some");
    assert_eq!(
        spontaneous_until(&mut b, last, T),
        want,
        "every update, in order"
    );
    assert_never_closed(&mut b, "B");
    a.drain();
    assert!(
        !a.history().iter().any(|v| v["event"] == "gi_done"),
        "A was killed before its interrogation ended"
    );
    until("only B in the status", || masters(&valkey).len() == 1);

    // A fresh interrogation is answered completely, with the latest values.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let got: Vec<(u32, f32)> = rt.block_on(async {
        let mut conn = started(server.port).await;
        interrogate(&mut conn).await.expect("GI sent");
        let mut got = Vec::new();
        loop {
            let raw = match tokio::time::timeout(T, conn.recv()).await.expect("in time") {
                Some(Event::Asdu(raw)) => raw,
                other => panic!("{other:?}"),
            };
            let asdu = Asdu::decode(&raw).expect("decodes");
            if asdu.type_id == TypeId::C_IC_NA_1 {
                if asdu.cot.cause == Cause::ACTIVATION_TERMINATION {
                    break;
                }
                continue;
            }
            if asdu.cot.cause != Cause::INTERROGATED {
                continue;
            }
            for o in asdu.objects {
                match o.element {
                    Element::M_ME_NC_1 { value, .. } => got.push((o.ioa, value)),
                    other => panic!("IOA {}: {other:?}", o.ioa),
                }
            }
        }
        got
    });
    let mut want: Vec<(u32, f32)> = (1..=N).map(|i| (i, i as f32)).collect();
    for i in 0..UPDATES {
        let (ioa, value) = update(i);
        want[ioa as usize - 1].1 = value;
    }
    assert_eq!(got.len(), want.len(), "every point");
    assert!(
        got == want,
        "every point in ascending IOA with its latest value"
    );
    assert_never_closed(&mut b, "B");
}

#[test]
fn a_master_that_falls_behind_loses_updates_that_are_counted_in_the_status() {
    use alp_connex::iec104::link::Event;
    let valkey = ValkeyGuard::start();
    write_points(&valkey, &floats(1), Cause::SPONTANEOUS);
    let server = Server::start(&valkey, &["--queue", "16"]);
    // Between the `block_on`s below the master's engine does not run at
    // all: it reads nothing, the server's k window fills and its queue of
    // 16 overflows.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut slow = rt.block_on(started(server.port));
    let total = 1000u32;
    let float = |value: f32| Element::M_ME_NC_1 {
        value,
        quality: Quality::GOOD,
    };
    let burst: Vec<(u32, Element)> = (1..=total).map(|i| (i, float(i as f32))).collect();
    write_points(&valkey, &burst, Cause::SPONTANEOUS);
    until("updates counted as lagged", || {
        server_status(&valkey)["lagged_updates"]
            .as_u64()
            .is_some_and(|n| n > 0)
    });
    // A marker after the burst; then the master catches up.
    let marker = 5000;
    write_points(&valkey, &[(marker, float(-1.0))], Cause::SPONTANEOUS);
    let received = rt.block_on(async {
        let mut received = 0u64;
        let mut last = 0u32;
        loop {
            let raw = match tokio::time::timeout(T, slow.recv()).await.expect("in time") {
                Some(Event::Asdu(raw)) => raw,
                Some(Event::Closed(r)) => panic!("closed: {r:?}"),
                Some(_) => continue,
                None => panic!("ended"),
            };
            let a = Asdu::decode(&raw).expect("decodes");
            assert_eq!(a.cot.cause, Cause::SPONTANEOUS);
            let ioa = a.objects[0].ioa;
            if ioa == marker {
                return received;
            }
            assert!(ioa > last, "in order, none twice: {ioa} after {last}");
            last = ioa;
            received += 1;
        }
    });
    assert!(received < u64::from(total), "the master fell behind");
    // Every update was either delivered or counted.
    until("the status counts every update not delivered", || {
        server_status(&valkey)["lagged_updates"] == json!(u64::from(total) - received)
    });
}
