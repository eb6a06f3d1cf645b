//! The `mqtt` role end to end: a Mosquitto broker and a Valkey of the test's
//! own, the `alp-connex mqtt` binary as a child process with its mappings in
//! the managed configuration (or its file), messages published by a real
//! MQTT client, and the process image read back.

use std::time::Duration;

use alp_connex::contract::{DataPoint, PointValue};
use alp_connex::iec104::types::TypeId;
use serde_json::{Value, json};

use crate::support::{Connector, MosquittoGuard, ValkeyGuard, image_points, publish};

const T: Duration = Duration::from_secs(15);
/// 2026-11-29T10:00:00.250+01:00 in Unix ms.
const RFC3339_MS: i64 = 1_795_942_800_250;

fn set_config(valkey: &ValkeyGuard, id: &str, config: &Value) {
    let key = format!("connectors:{id}:config");
    valkey
        .command(&["SET", &key, &config.to_string()])
        .expect("SET");
    valkey.command(&["PUBLISH", &key, &key]).expect("PUBLISH");
}

/// The connector `id` on `broker` with `config` as its managed
/// configuration, once the broker has granted every subscription.
fn start(
    id: &str,
    valkey: &ValkeyGuard,
    broker: &MosquittoGuard,
    config: &Value,
    more: &[&str],
) -> Connector {
    set_config(valkey, id, config);
    let port = broker.port().to_string();
    let mut args = vec!["--host", "127.0.0.1", "--port", &port];
    args.extend(more);
    let c = Connector::mqtt(id, valkey, &[], &args, &[]);
    let filters = subscriptions(config);
    wait_subscribed(&c, valkey, filters);
    c
}

/// The distinct topic filters of a configuration.
fn subscriptions(config: &Value) -> usize {
    let mut topics: Vec<&str> = config["mappings"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["topic"].as_str()).collect())
        .unwrap_or_default();
    topics.sort_unstable();
    topics.dedup();
    topics.len()
}

fn wait_subscribed(c: &Connector, valkey: &ValkeyGuard, filters: usize) {
    c.until("connected with every subscription granted", T, || {
        let s = c.status(valkey);
        s["state"] == "connected"
            && s["subscriptions"] == json!(filters)
            && s["subscriptions_granted"] == json!(filters)
    });
}

fn point(valkey: &ValkeyGuard, ca: u16, ioa: u32) -> Option<DataPoint> {
    image_points(valkey, &[(ca, ioa)]).remove(0)
}

/// Waits until the image point at (ca, ioa) satisfies `f`.
fn wait_point(
    c: &Connector,
    valkey: &ValkeyGuard,
    (ca, ioa): (u16, u32),
    what: &str,
    mut f: impl FnMut(&DataPoint) -> bool,
) -> DataPoint {
    let mut last = None;
    c.until(what, T, || {
        last = point(valkey, ca, ioa);
        last.as_ref().is_some_and(&mut f)
    });
    last.expect("a point")
}

fn stream_len(valkey: &ValkeyGuard) -> u64 {
    valkey
        .command(&["XLEN", "process:updates"])
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

fn msg<'a>(topic: &'a str, payload: &'a Value) -> (&'a str, Vec<u8>) {
    (topic, payload.to_string().into_bytes())
}

fn send(broker: &MosquittoGuard, messages: &[(&str, Vec<u8>)], qos: u8) {
    let m: Vec<(&str, &[u8])> = messages.iter().map(|(t, p)| (*t, p.as_slice())).collect();
    publish(broker.port(), &m, qos);
}

/// Sensor JSON → every monitor type the contract lists, with value,
/// quality, cause, source and time tag.
#[test]
fn every_monitor_type_from_sensor_json_reaches_the_image_with_its_value_quality_and_time() {
    let valkey = ValkeyGuard::start();
    let broker = MosquittoGuard::start();
    let types = [
        ("M_SP_NA_1", "$.sp", None),
        ("M_DP_NA_1", "$.dp", None),
        ("M_ST_NA_1", "$.st", None),
        ("M_BO_NA_1", "$.bo", None),
        ("M_ME_NA_1", "$.n", None),
        ("M_ME_NB_1", "$.s", None),
        ("M_ME_NC_1", "$.f", None),
        ("M_IT_NA_1", "$.it", None),
        ("M_ME_ND_1", "$.n", None),
        ("M_SP_TB_1", "$.sp", Some(("$.ts", "rfc3339"))),
        ("M_DP_TB_1", "$.dp", Some(("$.ts", "rfc3339"))),
        ("M_ST_TB_1", "$.st", Some(("$.ms", "unix_ms"))),
        ("M_BO_TB_1", "$.bo", Some(("$.ms", "unix_ms"))),
        ("M_ME_TD_1", "$.n", Some(("$.sec", "unix_s"))),
        ("M_ME_TE_1", "$.s", Some(("$.sec", "unix_s"))),
        ("M_ME_TF_1", "$.f", None),
        ("M_IT_TB_1", "$.it", Some(("$.ts", "rfc3339"))),
    ];
    let points: Vec<Value> = types
        .iter()
        .enumerate()
        .map(|(i, (ty, path, time))| {
            let mut p = json!({"casdu": 7, "ioa": 100 + i, "type": ty, "value": path});
            if let Some((t, f)) = time {
                p["time"] = json!(t);
                p["time_format"] = json!(f);
            }
            p
        })
        .collect();
    let config = json!({"mappings": [{"id": "all", "topic": "plant/all", "points": points}]});
    let c = start("mq-types", &valkey, &broker, &config, &[]);
    let payload = json!({"sp": true, "dp": 2, "st": -5, "bo": 305419896u32, "n": 0.5,
        "s": "-1234", "f": 21.5, "it": 123456,
        "ts": "2026-11-29T10:00:00.250+01:00", "ms": 1795000000123i64, "sec": 1795000000.5});
    send(&broker, &[msg("plant/all", &payload)], 1);
    let last = (7, 100 + types.len() as u32 - 1);
    wait_point(&c, &valkey, last, "every point written", |_| true);
    let got: Vec<DataPoint> = image_points(
        &valkey,
        &(0..types.len() as u32)
            .map(|i| (7, 100 + i))
            .collect::<Vec<_>>(),
    )
    .into_iter()
    .map(|p| p.expect("written"))
    .collect();
    let want = [
        PointValue::Single(true),
        PointValue::Double(2),
        PointValue::Step {
            value: -5,
            transient: false,
        },
        PointValue::Bitstring(305_419_896),
        PointValue::Normalized(16384),
        PointValue::Scaled(-1234),
        PointValue::Float(21.5),
        PointValue::Counter {
            value: 123_456,
            sequence: 0,
            carry: false,
            adjusted: false,
        },
        PointValue::Normalized(16384),
        PointValue::Single(true),
        PointValue::Double(2),
        PointValue::Step {
            value: -5,
            transient: false,
        },
        PointValue::Bitstring(305_419_896),
        PointValue::Normalized(16384),
        PointValue::Scaled(-1234),
        PointValue::Float(21.5),
        PointValue::Counter {
            value: 123_456,
            sequence: 0,
            carry: false,
            adjusted: false,
        },
    ];
    for (i, p) in got.iter().enumerate() {
        let (ty, _, time) = types[i];
        assert_eq!(p.type_id.mnemonic(), ty, "{p:?}");
        assert_eq!(p.value, want[i], "{ty}");
        assert!(p.quality.is_good(), "{ty}: {:?}", p.quality);
        assert_eq!((p.cot, &*p.source), (3, "mq-types"), "{ty}");
        let timed = alp_connex::mqtt::mapping::is_timed(p.type_id);
        match (timed, time) {
            (false, _) => assert_eq!(p.time, None, "{ty}"),
            (true, Some((_, "rfc3339"))) => assert_eq!(p.time, Some(RFC3339_MS), "{ty}"),
            (true, Some((_, "unix_ms"))) => assert_eq!(p.time, Some(1_795_000_000_123), "{ty}"),
            (true, Some((_, "unix_s"))) => assert_eq!(p.time, Some(1_795_000_000_500), "{ty}"),
            // Timed without a time path: the receive time.
            (true, _) => assert_eq!(p.time, Some(p.received), "{ty}"),
        }
    }
    assert_eq!(got[15].type_id, TypeId::M_ME_TF_1);
}
