//! The c104 peer scripts against each other: proves that `c104_rtu.py` serves
//! and `c104_master.py` reports every monitor type c104 supports, with the
//! wire's values, qualities and time tags, so interop tests against our own
//! IEC 104 code can rely on them.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::support::{Peer, START_TIMEOUT, c104_master, c104_rtu, free_port};

const STEP: Duration = Duration::from_secs(20);
/// 2026-11-18T11:06:40.123Z
const T: u64 = 1_795_000_000_123;

/// One point of every monitor type c104 2.2.1 can serve, at CA 1.
fn every_type() -> Vec<Value> {
    vec![
        json!({"ioa": 101, "type": "M_SP_NA_1", "value": true, "quality": 0x10}),
        json!({"ioa": 102, "type": "M_SP_TB_1", "value": true, "quality": 0, "time_ms": T}),
        json!({"ioa": 103, "type": "M_DP_NA_1", "value": 2, "quality": 0x80}),
        json!({"ioa": 104, "type": "M_DP_TB_1", "value": 1, "quality": 0, "time_ms": T}),
        json!({"ioa": 105, "type": "M_ST_NA_1", "value": -5, "transient": true, "quality": 0x01}),
        json!({"ioa": 106, "type": "M_ST_TB_1", "value": 63, "transient": false, "quality": 0, "time_ms": T}),
        json!({"ioa": 107, "type": "M_BO_NA_1", "value": 0x1234_5678_u32, "quality": 0}),
        json!({"ioa": 108, "type": "M_BO_TB_1", "value": 0x8000_0001_u32, "quality": 0, "time_ms": T}),
        json!({"ioa": 109, "type": "M_ME_NA_1", "value": 0.5, "quality": 0x40}),
        json!({"ioa": 110, "type": "M_ME_TD_1", "value": -0.25, "quality": 0, "time_ms": T}),
        json!({"ioa": 111, "type": "M_ME_ND_1", "value": 0.75, "quality": 0}),
        json!({"ioa": 112, "type": "M_ME_NB_1", "value": -300, "quality": 0x01}),
        json!({"ioa": 113, "type": "M_ME_TE_1", "value": 32767, "quality": 0, "time_ms": T}),
        json!({"ioa": 114, "type": "M_ME_NC_1", "value": 1.5, "quality": 0x20}),
        json!({"ioa": 115, "type": "M_ME_TF_1", "value": -2.25, "quality": 0, "time_ms": T}),
        json!({"ioa": 116, "type": "M_IT_NA_1", "value": 123_456, "sequence": 7, "quality": 0x20}),
        json!({"ioa": 117, "type": "M_IT_TB_1", "value": -5, "sequence": 31, "quality": 0x40, "time_ms": T}),
        json!({"ioa": 118, "type": "M_PS_NA_1", "value": 0x1234, "changed": 0x00ff, "quality": 0}),
        json!({"ioa": 119, "type": "M_EP_TD_1", "value": 2, "elapsed_ms": 300, "quality": 0x08, "time_ms": T}),
        json!({"ioa": 120, "type": "M_EP_TE_1", "value": 0x21, "duration_ms": 77, "quality": 0, "time_ms": T}),
        json!({"ioa": 121, "type": "M_EP_TF_1", "value": 5, "duration_ms": 88, "quality": 0, "time_ms": T}),
    ]
}

/// c104 leaves these out of its station interrogation answer: integrated
/// totals come by counter interrogation; M_ME_ND_1, M_PS_NA_1 and the
/// protection events only spontaneously.
fn in_gi(point: &Value) -> bool {
    let t = point["type"].as_str().unwrap_or_default();
    !(t.starts_with("M_IT_") || t.starts_with("M_EP_") || t == "M_ME_ND_1" || t == "M_PS_NA_1")
}

/// Starts an rtu serving `points` at CA 1 and a master (no GI on open)
/// connected to it.
fn pair(points: &[Value]) -> (Peer, Peer) {
    let port = free_port();
    let mut rtu = c104_rtu(port, &["--ca", "1"]);
    rtu.op(json!({"op": "add", "ca": 1, "points": points}), STEP);
    let mut master = c104_master(port, &["--ca", "1", "--no-gi"]);
    master.expect_event("open", START_TIMEOUT);
    (rtu, master)
}

fn points_by_ioa(lines: &[Value], cot: u64) -> BTreeMap<u64, Value> {
    let mut out = BTreeMap::new();
    for line in lines
        .iter()
        .filter(|l| l["event"] == "point" && l["cot"] == cot)
    {
        let ioa = line["ioa"].as_u64().expect("ioa");
        assert!(
            out.insert(ioa, line.clone()).is_none(),
            "IOA {ioa} arrived twice with COT {cot}"
        );
    }
    out
}

/// The received point carries exactly what was served, in the type it
/// was served in.
fn assert_same(expected: &Value, got: &Value) {
    let ioa = &expected["ioa"];
    for key in ["type", "value", "quality"] {
        assert_eq!(got[key], expected[key], "IOA {ioa} {key}: got {got}");
    }
    assert_eq!(
        got["wire_type"], expected["type"],
        "IOA {ioa}: the ASDU's type: got {got}"
    );
    let time = expected.get("time_ms").cloned().unwrap_or(Value::Null);
    assert_eq!(got["time_ms"], time, "IOA {ioa} time_ms: got {got}");
    for key in [
        "transient",
        "sequence",
        "changed",
        "elapsed_ms",
        "duration_ms",
    ] {
        if let Some(want) = expected.get(key) {
            assert_eq!(&got[key], want, "IOA {ioa} {key}: got {got}");
        }
    }
}

fn assert_all_arrived(expected: &[Value], got: &BTreeMap<u64, Value>) {
    let want: Vec<u64> = expected
        .iter()
        .map(|p| p["ioa"].as_u64().expect("ioa"))
        .collect();
    let have: Vec<u64> = got.keys().copied().collect();
    assert_eq!(have, want, "IOAs received");
    for p in expected {
        assert_same(p, &got[&p["ioa"].as_u64().expect("ioa")]);
    }
}

#[test]
fn gi_returns_exactly_the_points_the_rtu_serves() {
    let points = every_type();
    let (mut rtu, mut master) = pair(&points);

    master.send(&json!({"op": "gi", "ca": 1}));
    let lines = master.lines_until(|v| v["event"] == "gi_done", STEP);
    assert_eq!(lines.last().expect("gi_done")["ok"], true);
    let responses: Vec<u64> = lines
        .iter()
        .filter(|l| l["event"] == "response" && l["type"] == "C_IC_NA_1")
        .map(|l| l["cot"].as_u64().expect("cot"))
        .collect();
    assert_eq!(
        responses,
        [7, 10],
        "ACT_CON, then ACT_TERM after the points"
    );
    let expected: Vec<Value> = points.iter().filter(|p| in_gi(p)).cloned().collect();
    assert_all_arrived(&expected, &points_by_ioa(&lines, 20));

    let gi = rtu.expect_line(
        |v| v["event"] == "command" && v["type"] == "C_IC_NA_1",
        STEP,
    );
    assert_eq!(
        (gi["cot"].as_u64(), gi["qualifier"].as_u64()),
        (Some(6), Some(20))
    );

    master.send(&json!({"op": "counter_interrogation", "ca": 1}));
    let lines = master.lines_until(|v| v["event"] == "ci_done", STEP);
    assert_eq!(lines.last().expect("ci_done")["ok"], true);
    let counters: Vec<Value> = points
        .iter()
        .filter(|p| p["type"].as_str().is_some_and(|t| t.starts_with("M_IT_")))
        .cloned()
        .collect();
    assert_all_arrived(&counters, &points_by_ioa(&lines, 37));

    master.quit();
    rtu.quit();
}

#[test]
fn spontaneous_batches_arrive_complete() {
    let points = every_type();
    // 75 floats at consecutive IOAs: c104 packs them with SQ=1.
    let floats: Vec<Value> = (0..75_u32)
        .map(|i| {
            json!({"ioa": 1000 + i, "type": "M_ME_NC_1", "value": f64::from(i) * 0.5,
                   "quality": 0})
        })
        .collect();
    // Singles at every other IOA: SQ=0.
    let singles: Vec<Value> = (0..10_u32)
        .map(|i| json!({"ioa": 2000 + 2 * i, "type": "M_SP_NA_1", "value": i % 2 == 0, "quality": 0}))
        .collect();
    let (mut rtu, mut master) = pair(&points);
    rtu.op(json!({"op": "add", "ca": 1, "points": floats}), STEP);
    rtu.op(json!({"op": "add", "ca": 1, "points": singles}), STEP);

    for batch in [&points, &floats, &singles] {
        let ioas: Vec<Value> = batch.iter().map(|p| p["ioa"].clone()).collect();
        let n = ioas.len();
        rtu.send(&json!({"op": "transmit", "ca": 1, "cause": "SPONTANEOUS", "ioas": ioas}));
        let sent = rtu.expect_event("transmitted", STEP);
        assert_eq!(
            sent["on_wire"], n,
            "c104 put every point on the wire: {sent}"
        );
        assert_eq!(sent["ok"], true, "{sent}");

        let mut seen = 0;
        let lines = master.lines_until(
            |v| {
                if v["event"] == "point" && v["cot"] == 3 {
                    seen += 1;
                }
                seen == n
            },
            STEP,
        );
        assert_all_arrived(batch, &points_by_ioa(&lines, 3));
    }

    let sq: Vec<bool> = master
        .history()
        .iter()
        .filter(|l| {
            l["event"] == "point" && l["type"] == "M_ME_NC_1" && l["ioa"].as_u64() >= Some(1000)
        })
        .map(|l| l["sq"] == true)
        .collect();
    assert!(sq.iter().all(|&s| s), "consecutive IOAs go out with SQ=1");
    let sq: Vec<bool> = master
        .history()
        .iter()
        .filter(|l| {
            l["event"] == "point" && l["type"] == "M_SP_NA_1" && l["ioa"].as_u64() >= Some(2000)
        })
        .map(|l| l["sq"] == true)
        .collect();
    assert!(sq.iter().all(|&s| !s), "scattered IOAs go out with SQ=0");

    master.quit();
    rtu.quit();
}

#[test]
fn commands_reach_the_rtu_and_are_answered() {
    let points = every_type();
    let (mut rtu, mut master) = pair(&points);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis();

    // The result line follows the answer.
    master.send(&json!({"op": "read", "ca": 1, "ioa": 114, "type": "M_ME_NC_1"}));
    let lines = master.lines_until(|v| v["event"] == "result" && v["op"] == "read", STEP);
    assert_eq!(lines.last().expect("result")["ok"], true, "{lines:?}");
    let read = lines
        .iter()
        .find(|v| v["event"] == "point" && v["ioa"] == 114)
        .expect("the point read arrives before the result")
        .clone();
    assert_eq!(read["cot"], 5, "answered with COT requested: {read}");
    assert_same(&points[13], &read);
    let cmd = rtu.expect_line(
        |v| v["event"] == "command" && v["type"] == "C_RD_NA_1",
        STEP,
    );
    assert_eq!(
        (cmd["ca"].as_u64(), cmd["ioa"].as_u64()),
        (Some(1), Some(114))
    );

    master.op(json!({"op": "clock_sync", "ca": 1}), STEP);
    let cmd = rtu.expect_line(
        |v| v["event"] == "command" && v["type"] == "C_CS_NA_1",
        STEP,
    );
    let sent_ms = u128::from(cmd["time_ms"].as_u64().expect("time_ms"));
    assert!(
        sent_ms.abs_diff(now_ms) < 60_000,
        "clock sync carries the master's time: {cmd}"
    );

    master.op(json!({"op": "test", "ca": 1}), STEP);
    rtu.expect_line(
        |v| v["event"] == "command" && v["type"] == "C_TS_TA_1",
        STEP,
    );

    master.op(json!({"op": "counter_interrogation", "ca": 1}), STEP);
    let cmd = rtu.expect_line(
        |v| v["event"] == "command" && v["type"] == "C_CI_NA_1",
        STEP,
    );
    assert_eq!(cmd["qualifier"], 5, "general counter request: {cmd}");

    master.quit();
    let gone = rtu.expect_event("disconnected", STEP);
    assert_eq!(gone["open"], 0);
    rtu.quit();
}
