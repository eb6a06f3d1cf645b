//! `alp-connex rtu-sim` as a process: a c104 master interrogates it and
//! receives its spontaneous changes; load-generator mode streams full
//! ASDUs, answers an interrogation of 100 000 points whole, and reports its
//! rate; a bad parameter exits 2 with one line.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use alp_connex::iec104::asdu::Asdu;
use alp_connex::iec104::driver;
use alp_connex::iec104::elements::Qoi;
use alp_connex::iec104::link::Event;
use alp_connex::iec104::params::Params;
use alp_connex::iec104::types::{Cause, Cot, Element, TypeId};
use serde_json::{Value, json};

use crate::support::c104_master;

const T: Duration = Duration::from_secs(20);

/// A running `rtu-sim`, its stderr lines on a channel; killed on drop.
struct Sim {
    child: Child,
    lines: Receiver<String>,
    addr: SocketAddr,
}

impl Sim {
    fn start(args: &[&str]) -> Sim {
        let mut child = Command::new(env!("CARGO_BIN_EXE_alp-connex"))
            .args(["rtu-sim", "--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("rtu-sim starts");
        let stderr = child.stderr.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut sim = Sim {
            child,
            lines,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let ready = sim.line(|l| l.contains("rtu-sim ready"));
        let addr = ready
            .split_whitespace()
            .find_map(|w| w.strip_prefix("listen="))
            .unwrap_or_else(|| panic!("no address in {ready}"));
        sim.addr = addr.parse().expect("socket address");
        sim
    }

    /// The next stderr line matching `pred`.
    fn line(&mut self, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + T;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if pred(&l) => return l,
                Ok(_) => {}
                Err(e) => panic!("rtu-sim: no matching stderr line ({e})"),
            }
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_c104_master_interrogates_rtu_sim_and_receives_its_changes() {
    let mut sim = Sim::start(&[
        "--points",
        "100",
        "--rate",
        "50",
        "--ca",
        "3",
        "--log-level",
        "debug",
    ]);
    let mut m = c104_master(sim.addr.port(), &["--ca", "3"]);
    let lines = m.lines_until(|v| v["event"] == "gi_done", T);
    sim.line(|l| l.contains("master connected") && l.contains("127.0.0.1"));
    assert_eq!(lines.last().expect("done")["ok"], json!(true));
    // On the wire, by the station's own count: 100 points but the 5
    // counters, untimed.
    let answered = sim.line(|l| l.contains("interrogation answered"));
    assert!(answered.contains(" objects=95 "), "{answered}");
    assert!(answered.contains(" skipped=0"), "{answered}");
    // As c104 (lib60870) decoded them. c104 ties a point to the type it
    // first came in: a change the simulator sent spontaneously (timed)
    // between STARTDT and the answer makes c104 drop the whole answer ASDU
    // that holds that point, reporting it once as "mismatched". So: every
    // point when nothing was mismatched, else every mismatched point one
    // that had come spontaneously before, and fewer than 95.
    let gi: Vec<&Value> = lines
        .iter()
        .filter(|v| v["event"] == "point" && v["cot"] == 20)
        .collect();
    assert!(
        gi.iter()
            .all(|v| v["time_ms"].is_null() && !v["type"].as_str().unwrap_or("").contains("_T"))
    );
    let mismatched: Vec<&Value> = lines
        .iter()
        .filter(|v| v["event"] == "mismatched" && v["cot"] == 20)
        .collect();
    if mismatched.is_empty() {
        assert_eq!(gi.len(), 95, "{lines:?}");
    } else {
        assert!(gi.len() < 95, "{lines:?}");
        for miss in &mismatched {
            let before = lines
                .iter()
                .take_while(|v| v != miss)
                .any(|v| v["event"] == "point" && v["cot"] == 3 && v["ioa"] == miss["ioa"]);
            assert!(
                before,
                "{miss} mismatched without a change before it: {lines:?}"
            );
        }
    }
    let change = m.expect_line(|v| v["event"] == "point" && v["cot"] == 3, T);
    assert_eq!(change["ca"], json!(3));
    assert!(
        change["time_ms"].is_i64(),
        "changes carry CP56Time2a: {change}"
    );
    m.send(&json!({"op": "counter_interrogation", "ca": 3}));
    let lines = m.lines_until(|v| v["event"] == "ci_done", T);
    let counters = lines
        .iter()
        .filter(|v| v["event"] == "point" && v["cot"] == 37)
        .count();
    assert_eq!(counters, 5);
    m.quit();
    sim.line(|l| l.contains("master disconnected"));
}

#[test]
fn load_mode_streams_full_asdus_answers_a_100k_interrogation_and_reports_its_rate() {
    let mut sim = Sim::start(&["--points", "100000", "--rate", "max", "--asdu", "nc48"]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let addr = sim.addr;
    rt.block_on(async {
        let mut conn = driver::connect(addr, Params::default())
            .await
            .expect("connects");
        let mut received = 0;
        while received < 1000 {
            let a = match tokio::time::timeout(T, conn.recv()).await.expect("in time") {
                Some(Event::Asdu(raw)) => Asdu::decode(&raw).expect("decodes"),
                Some(Event::DataTransferStarted) => continue,
                other => panic!("{other:?}"),
            };
            received += 1;
            assert_eq!(
                (a.type_id, a.sequence, a.objects.len()),
                (TypeId::M_ME_NC_1, true, 48)
            );
            assert_eq!(a.cot, Cot::new(Cause::SPONTANEOUS));
        }
        let gi = Asdu::single(
            Cot::new(Cause::ACTIVATION),
            1,
            0,
            Element::C_IC_NA_1 {
                qualifier: Qoi::STATION,
            },
        );
        conn.send(gi.to_bytes().expect("encodes"))
            .await
            .expect("sent");
        let mut objects = 0usize;
        let mut in_answer = false;
        loop {
            let a = match tokio::time::timeout(T, conn.recv()).await.expect("in time") {
                Some(Event::Asdu(raw)) => Asdu::decode(&raw).expect("decodes"),
                other => panic!("{other:?}"),
            };
            match (a.type_id, a.cot.cause) {
                (TypeId::C_IC_NA_1, Cause::ACTIVATION_CON) => in_answer = true,
                (TypeId::C_IC_NA_1, Cause::ACTIVATION_TERMINATION) => break,
                (_, Cause::INTERROGATED) => {
                    assert!(in_answer);
                    objects += a.objects.len();
                }
                (_, Cause::SPONTANEOUS) => assert!(!in_answer, "no update inside the answer"),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(objects, 100_000, "the whole station, never cut short");
        conn.close().await;
    });
    let rate = sim.line(|l| l.contains("ASDUs/s"));
    assert!(rate.contains("objects/s"), "{rate}");
}

#[test]
fn a_window_out_of_range_exits_2_with_one_line() {
    let out = Command::new(env!("CARGO_BIN_EXE_alp-connex"))
        .args(["rtu-sim", "-k", "40000"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: k = 40000 is out of range 1..=32767\n"
    );
}
