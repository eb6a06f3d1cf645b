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

/// `+` and `#` filters, `match`, one message feeding points of two
/// mappings, and the mapping features on the way (map, invert, scale and
/// offset, quality from the payload, a clamped value with OV, an
/// unconvertible one keeping the last value with IV).
#[test]
fn wildcards_match_and_the_mapping_features_shape_what_reaches_the_image() {
    let valkey = ValkeyGuard::start();
    let broker = MosquittoGuard::start();
    let config = json!({"mappings": [
        {"id": "ts-1", "topic": "subst/+/climate", "match": {"$.device": "ts-1"}, "points": [
            {"casdu": 1, "ioa": 1, "type": "M_ME_NC_1", "value": "$.temperature",
             "scale": 1.8, "offset": 32, "quality": {"path": "$.status", "good": ["ok"]}},
            {"casdu": 1, "ioa": 2, "type": "M_ME_NB_1", "value": "$.humidity"}]},
        {"id": "everything", "topic": "subst/#", "points": [
            {"casdu": 1, "ioa": 3, "type": "M_DP_NA_1", "value": "$.breaker",
             "map": {"open": 1, "closed": 2}, "invert": true}]}
    ]});
    let c = start("mq-features", &valkey, &broker, &config, &[]);
    let good = json!({"device": "ts-1", "temperature": 20, "humidity": 40000,
        "status": "ok", "breaker": "open"});
    let other_device = json!({"device": "ts-2", "temperature": 99, "humidity": 1,
        "status": "ok", "breaker": "closed"});
    send(
        &broker,
        &[
            msg("subst/a/climate", &good),
            msg("subst/b/climate", &other_device),
        ],
        1,
    );
    let breaker = wait_point(
        &c,
        &valkey,
        (1, 3),
        "the breaker of the second message",
        |p| p.value == PointValue::Double(1),
    );
    assert!(breaker.quality.is_good());
    let t = point(&valkey, 1, 1).expect("temperature");
    assert_eq!(
        t.value,
        PointValue::Float(68.0),
        "20 * 1.8 + 32, ts-2 filtered"
    );
    assert!(t.quality.is_good());
    let h = point(&valkey, 1, 2).expect("humidity");
    assert_eq!(h.value, PointValue::Scaled(32767));
    assert!(h.quality.ov && !h.quality.iv, "clamped with OV");

    let bad = json!({"device": "ts-1", "temperature": "n/a", "humidity": 50,
        "status": "sensor fault", "breaker": "closed"});
    send(&broker, &[msg("subst/a/climate", &bad)], 1);
    let t = wait_point(&c, &valkey, (1, 1), "the temperature invalid", |p| {
        p.quality.iv
    });
    assert_eq!(t.value, PointValue::Float(68.0), "the last value kept");
    let h = point(&valkey, 1, 2).expect("humidity");
    assert_eq!(h.value, PointValue::Scaled(50));
    assert!(h.quality.is_good());
    c.until("the counters in the status", T, || {
        let s = c.status(&valkey);
        s["conversion_errors"] == 1
            && s["clamped"] == 1
            && s["filtered"] == 1
            && s["mapping_errors"][0]["id"] == "ts-1"
    });
}

#[test]
fn a_silent_sensor_is_marked_not_topical_and_its_next_value_clears_it() {
    let valkey = ValkeyGuard::start();
    let broker = MosquittoGuard::start();
    let config = json!({"silence_timeout": 1, "mappings": [
        {"id": "door", "topic": "door", "points": [
            {"casdu": 2, "ioa": 1, "type": "M_SP_TB_1", "value": "$.open"},
            {"casdu": 2, "ioa": 2, "type": "M_ME_NC_1", "value": "$.t", "silence_timeout": 0}]}]});
    let c = start("mq-silence", &valkey, &broker, &config, &[]);
    send(&broker, &[msg("door", &json!({"open": true, "t": 5}))], 1);
    let p = wait_point(&c, &valkey, (2, 1), "written", |_| true);
    assert!(p.quality.is_good());
    let p = wait_point(&c, &valkey, (2, 1), "not topical after 1 s", |p| {
        p.quality.nt
    });
    assert_eq!(p.value, PointValue::Single(true), "the value kept");
    c.until("counted in the status", T, || {
        c.status(&valkey)["points_not_topical"] == 1
    });
    // The point without a silence timeout stays topical.
    assert!(!point(&valkey, 2, 2).expect("t").quality.nt);
    send(&broker, &[msg("door", &json!({"open": false, "t": 5}))], 1);
    let p = wait_point(&c, &valkey, (2, 1), "topical again", |p| !p.quality.nt);
    assert_eq!(p.value, PointValue::Single(false));
    c.until("cleared in the status", T, || {
        c.status(&valkey)["points_not_topical"] == 0
    });
}

/// A new mapping's topic is subscribed and a removed one unsubscribed on
/// the same MQTT session; an invalid configuration is refused with its
/// place and the last good one keeps running.
#[test]
fn managed_mappings_change_live_on_the_same_session_and_an_invalid_one_is_refused() {
    let valkey = ValkeyGuard::start();
    let broker = MosquittoGuard::start();
    let id = "mq-live";
    let one = |topic: &str, ioa: u32| {
        json!({"id": topic, "topic": topic, "points": [
            {"casdu": 3, "ioa": ioa, "type": "M_ME_NC_1", "value": "$.v"}]})
    };
    let c = start(
        id,
        &valkey,
        &broker,
        &json!({"mappings": [one("a", 1)]}),
        &[],
    );
    let since = c.status(&valkey)["since"].clone();
    set_config(&valkey, id, &json!({"mappings": [one("b", 2)]}));
    wait_subscribed(&c, &valkey, 1);
    c.until("the new mapping in the status", T, || {
        c.status(&valkey)["mapping_errors"]
            .as_array()
            .is_some_and(Vec::is_empty)
            && c.log().iter().any(|l| l.contains("mappings changed"))
    });
    send(
        &broker,
        &[msg("a", &json!({"v": 1})), msg("b", &json!({"v": 2}))],
        1,
    );
    wait_point(&c, &valkey, (3, 2), "b written", |p| {
        p.value == PointValue::Float(2.0)
    });
    let s = c.status(&valkey);
    assert_eq!(s["reconnects"], 0, "{s}");
    assert_eq!(s["since"], since, "the session never dropped: {s}");
    assert_eq!(
        s["unrouted"], 0,
        "a is unsubscribed: nothing of it arrives: {s}"
    );
    assert!(point(&valkey, 3, 1).is_none(), "a is no longer mapped");
    let log = broker.log();
    let sessions = log
        .lines()
        .filter(|l| l.contains("New client connected") && l.contains(" as alp-connex-mq-live "))
        .count();
    assert_eq!(sessions, 1, "one connection of the connector: {log}");

    // Invalid: refused as a whole, named, the last good one keeps running.
    let mut bad = json!({"mappings": [one("b", 2), one("c", 3)]});
    bad["mappings"][1]["points"][0]["value"] = json!("$[");
    set_config(&valkey, id, &bad);
    c.until("the refusal in the status", T, || {
        c.status(&valkey)["config_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("mappings[1].points[0].value: "))
    });
    send(&broker, &[msg("b", &json!({"v": 3}))], 1);
    wait_point(&c, &valkey, (3, 2), "b still mapped", |p| {
        p.value == PointValue::Float(3.0)
    });
    assert_eq!(c.status(&valkey)["subscriptions"], 1);
}

/// Not JSON, over the size limit, nested too deep, a string where a number
/// belongs, a path that selects nothing: each counted for its mapping
/// while good messages keep flowing.
#[test]
fn each_kind_of_bad_payload_is_counted_and_good_messages_keep_flowing() {
    let valkey = ValkeyGuard::start();
    let broker = MosquittoGuard::start();
    let config = json!({"mappings": [
        {"id": "m", "topic": "s/#", "points": [
            {"casdu": 4, "ioa": 1, "type": "M_ME_NC_1", "value": "$.v"}]}]});
    let c = start("mq-bad", &valkey, &broker, &config, &[]);
    let deep = format!("{}{}", "[".repeat(300), "]".repeat(300));
    let big = format!("{{\"v\": 1, \"pad\": \"{}\"}}", "x".repeat(300 * 1024));
    let mut messages: Vec<(&str, Vec<u8>)> = Vec::new();
    for i in 0..5 {
        messages.push(("s/good", json!({ "v": i }).to_string().into_bytes()));
        messages.push(("s/bad", b"{\"v\": 1".to_vec()));
        messages.push(("s/bad", big.clone().into_bytes()));
        messages.push(("s/bad", deep.clone().into_bytes()));
        messages.push(("s/bad", br#"{"v": "warm"}"#.to_vec()));
        messages.push(("s/bad", br#"{"w": 1}"#.to_vec()));
    }
    messages.push(("s/good", br#"{"v": 99}"#.to_vec()));
    send(&broker, &messages, 1);
    wait_point(&c, &valkey, (4, 1), "the last good value", |p| {
        p.value == PointValue::Float(99.0) && p.quality.is_good()
    });
    c.until("every refusal counted", T, || {
        let s = c.status(&valkey);
        s["messages_received"] == 31
            && s["bad_payloads"] == 15
            && s["conversion_errors"] == 5
            && s["unmatched"] == 5
    });
    let logged = c
        .log()
        .iter()
        .filter(|l| l.contains("payload on s/bad refused"))
        .count();
    assert_eq!(logged, 1, "logged once a minute per mapping and kind");
}

fn mapping_per_topic(n: u32, ca: u16) -> Value {
    let mappings: Vec<Value> = (0..n)
        .map(|i| {
            json!({"id": format!("m{i}"), "topic": format!("s/{i}"), "points": [
                {"casdu": ca, "ioa": i + 1, "type": "M_ME_NC_1", "value": "$.v"}]})
        })
        .collect();
    json!({ "mappings": mappings })
}

/// QoS 1 on a persistent session: what is published while the connector
/// is stopped reaches the image when it is back; the points it wrote before
/// stay valid meanwhile (taken over at start, not marked).
#[test]
fn messages_published_while_the_connector_is_stopped_are_delivered_when_it_is_back() {
    let valkey = ValkeyGuard::start();
    let broker = MosquittoGuard::start();
    let id = "mq-restart";
    let config = json!({"silence_timeout": 3600, "mappings": [
        {"id": "m", "topic": "s/+", "points": [
            {"casdu": 5, "ioa": 1, "type": "M_ME_NC_1", "value": "$.v"}]}]});
    let mut c = start(id, &valkey, &broker, &config, &[]);
    send(&broker, &[msg("s/x", &json!({"v": -1}))], 1);
    wait_point(&c, &valkey, (5, 1), "the first value", |_| true);
    assert!(c.terminate(T).success());
    let before = stream_len(&valkey);
    let values: Vec<(&str, Vec<u8>)> = (0..100)
        .map(|i| ("s/x", json!({ "v": i }).to_string().into_bytes()))
        .collect();
    send(&broker, &values, 1);
    let c = Connector::mqtt(
        id,
        &valkey,
        &[],
        &["--port", &broker.port().to_string()],
        &[],
    );
    let p = wait_point(&c, &valkey, (5, 1), "the last value", |p| {
        p.value == PointValue::Float(99.0)
    });
    assert!(p.quality.is_good());
    c.until("all 100 in the stream", T, || {
        stream_len(&valkey) == before + 100
    });
    assert!(c.log().iter().any(|l| l.contains("session_present=true")));
}

/// A Valkey outage: the points of the messages received meanwhile are
/// written when it is back (the mappings from the file, which the outage
/// does not touch).
#[test]
fn a_valkey_restart_loses_no_point_of_the_messages_received_meanwhile() {
    let mut valkey = ValkeyGuard::start();
    let broker = MosquittoGuard::start();
    let dir = crate::support::TempDir::new("mqtt-file");
    let file = dir.path().join("mqtt.toml");
    let mut toml = String::new();
    for i in 0..50 {
        toml.push_str(&format!(
            "[[mappings]]\nid = \"m{i}\"\ntopic = \"s/{i}\"\npoints = [{{ casdu = 6, ioa = {}, type = \"M_ME_NC_1\", value = \"$.v\" }}]\n\n",
            i + 1
        ));
    }
    std::fs::write(&file, toml).unwrap();
    let port = broker.port().to_string();
    let c = Connector::mqtt(
        "mq-outage",
        &valkey,
        &["--config", file.to_str().unwrap()],
        &["--port", &port],
        &[],
    );
    wait_subscribed(&c, &valkey, 50);
    valkey.stop();
    let values: Vec<(String, Vec<u8>)> = (0..50)
        .map(|i| (format!("s/{i}"), json!({ "v": i }).to_string().into_bytes()))
        .collect();
    let m: Vec<(&str, Vec<u8>)> = values
        .iter()
        .map(|(t, p)| (t.as_str(), p.clone()))
        .collect();
    send(&broker, &m, 1);
    c.until(
        "the connector received all 50 while Valkey is down",
        T,
        || c.log().iter().any(|l| l.contains("messages=50")),
    );
    valkey.restart();
    let addrs: Vec<(u16, u32)> = (1..=50).map(|i| (6, i)).collect();
    c.until("every point written after the outage", T, || {
        image_points(&valkey, &addrs).iter().all(Option::is_some)
    });
    for (i, p) in image_points(&valkey, &addrs).into_iter().enumerate() {
        assert_eq!(p.unwrap().value, PointValue::Float(i as f32));
    }
    c.until("the outage in the status", T, || {
        let s = c.status(&valkey);
        s["valkey"]["outages"] == 1 && s["valkey"]["connected"] == true
    });
}

/// MQTT 5 with a session expiry: the same delivery across a connector
/// restart.
#[test]
fn mqtt_5_keeps_the_session_across_a_connector_restart() {
    let valkey = ValkeyGuard::start();
    let broker = MosquittoGuard::start();
    let id = "mq-v5";
    let config = mapping_per_topic(1, 8);
    let mut c = start(id, &valkey, &broker, &config, &["--protocol", "5"]);
    assert_eq!(c.status(&valkey)["protocol"], "5");
    assert!(c.terminate(T).success());
    send(&broker, &[msg("s/0", &json!({"v": 42}))], 1);
    let port = broker.port().to_string();
    let c = Connector::mqtt(id, &valkey, &[], &["--port", &port, "--protocol", "5"], &[]);
    wait_point(&c, &valkey, (8, 1), "delivered after the restart", |p| {
        p.value == PointValue::Float(42.0)
    });
    let log = broker.log();
    assert!(log.contains("(p5, c0"), "MQTT 5, clean start off: {log}");
}

/// Two instances on `$share/GROUP/…` split one topic's messages: each
/// message is written once.
#[test]
fn two_instances_on_a_shared_subscription_split_the_messages_between_them() {
    let valkey = ValkeyGuard::start();
    let broker = MosquittoGuard::start();
    let config = json!({"mappings": [
        {"id": "m", "topic": "$share/ingest/s/+", "points": [
            {"casdu": 9, "ioa": 1, "type": "M_ME_NC_1", "value": "$.v"}]}]});
    let a = start("mq-share-a", &valkey, &broker, &config, &[]);
    let b = start("mq-share-b", &valkey, &broker, &config, &[]);
    let values: Vec<(&str, Vec<u8>)> = (0..200)
        .map(|i| ("s/x", json!({ "v": i }).to_string().into_bytes()))
        .collect();
    send(&broker, &values, 1);
    a.until("200 stream entries", T, || stream_len(&valkey) == 200);
    let received = |c: &Connector| {
        let mut n = 0;
        c.until("its counters", T, || {
            n = c.status(&valkey)["messages_received"].as_u64().unwrap_or(0);
            n > 0
        });
        n
    };
    let (na, nb) = (received(&a), received(&b));
    b.until("all received once", T, || {
        let na = a.status(&valkey)["messages_received"].as_u64().unwrap_or(0);
        let nb = b.status(&valkey)["messages_received"].as_u64().unwrap_or(0);
        na + nb == 200
    });
    assert!(na > 0 && nb > 0, "both took a share: {na} {nb}");
    assert_eq!(stream_len(&valkey), 200, "no message written twice");
}

/// The chain: an MQTT message → `alp-connex mqtt` → Valkey →
/// `alp-connex iec104-server` → a c104 client as the SCADA master, by
/// interrogation and spontaneously, with type, value, quality and time tag.
#[test]
fn sensor_json_reaches_a_scada_master_by_interrogation_and_spontaneously() {
    let valkey = ValkeyGuard::start();
    let broker = MosquittoGuard::start();
    let config = json!({"mappings": [
        {"id": "ts-17", "topic": "sensors/+/climate", "match": {"$.device": "ts-17"}, "points": [
            {"casdu": 100, "ioa": 200, "type": "M_ME_TF_1", "value": "$.temperature",
             "time": "$.ts", "quality": {"path": "$.status", "good": ["ok"]}},
            {"casdu": 100, "ioa": 201, "type": "M_SP_NA_1", "value": "$.door",
             "map": {"open": true, "closed": false}},
            {"casdu": 100, "ioa": 202, "type": "M_ME_NB_1", "value": "$.humidity"}]}]});
    let c = start("mq-chain", &valkey, &broker, &config, &[]);
    let first = json!({"device": "ts-17", "ts": "2026-11-29T10:00:00.250+01:00",
        "temperature": 21.5, "door": "closed", "humidity": 45, "status": "ok"});
    send(&broker, &[msg("sensors/a/climate", &first)], 1);
    wait_point(&c, &valkey, (100, 202), "the first message written", |_| {
        true
    });

    let server = crate::server::Server::start(&valkey, &[]);
    let mut master = crate::support::c104_master(server.port, &["--ca", "100", "--no-gi"]);
    master.expect_event("open", T);
    master.send(&json!({"op": "gi", "ca": 100}));
    let lines = master.lines_until(|v| v["event"] == "gi_done", T);
    let gi: std::collections::BTreeMap<u64, &Value> = lines
        .iter()
        .filter(|v| v["event"] == "point" && v["cot"] == 20)
        .map(|v| (v["ioa"].as_u64().unwrap(), v))
        .collect();
    assert_eq!(gi.len(), 3, "{lines:?}");
    // An interrogation answers with the untimed type (IEC 60870-5-101 7.2.1).
    assert_eq!(gi[&200]["wire_type"], "M_ME_NC_1");
    assert_eq!(gi[&200]["value"], 21.5);
    assert_eq!(gi[&200]["quality"], 0);
    assert_eq!(gi[&201]["wire_type"], "M_SP_NA_1");
    assert_eq!(gi[&201]["value"], false);
    assert_eq!(gi[&202]["wire_type"], "M_ME_NB_1");
    assert_eq!(gi[&202]["value"], 45);

    // Spontaneously: the sensor's time tag, the quality from its status.
    // c104 keeps a point in the type it first came in and drops it in
    // another ("mismatched"): a second master that has not interrogated
    // sees the temperature first in its timed type.
    let mut fresh = crate::support::c104_master(server.port, &["--ca", "100", "--no-gi"]);
    fresh.expect_event("open", T);
    let second = json!({"device": "ts-17", "ts": "2026-11-29T10:00:00.250+01:00",
        "temperature": 22.25, "door": "open", "humidity": 46, "status": "fault"});
    send(&broker, &[msg("sensors/b/climate", &second)], 1);
    let t = fresh.expect_line(
        |v| v["event"] == "point" && v["ioa"] == 200 && v["cot"] == 3,
        T,
    );
    assert_eq!(t["wire_type"], "M_ME_TF_1");
    assert_eq!(t["value"], 22.25);
    assert_eq!(t["quality"], 0x80, "IV from the status field: {t}");
    assert_eq!(t["time_ms"], RFC3339_MS);
    let d = master.expect_line(
        |v| v["event"] == "point" && v["ioa"] == 201 && v["cot"] == 3,
        T,
    );
    assert_eq!(
        (d["value"].clone(), d["quality"].clone()),
        (json!(true), json!(0))
    );
}

/// Changed broker settings in the managed configuration: a new session
/// with the new broker.
#[test]
fn a_managed_broker_change_reconnects_to_the_new_broker() {
    let valkey = ValkeyGuard::start();
    let a = MosquittoGuard::start();
    let b = MosquittoGuard::start();
    let id = "mq-move";
    let mut config = mapping_per_topic(1, 10);
    let c = start(id, &valkey, &a, &config, &[]);
    config["broker"] = json!({"host": "127.0.0.1", "port": b.port(), "keep_alive": 10});
    set_config(&valkey, id, &config);
    let remote = format!("127.0.0.1:{}", b.port());
    c.until("connected to the new broker", T, || {
        let s = c.status(&valkey);
        s["remote"] == remote.as_str()
            && s["state"] == "connected"
            && s["subscriptions_granted"] == 1
    });
    send(&b, &[msg("s/0", &json!({"v": 7}))], 1);
    wait_point(&c, &valkey, (10, 1), "from the new broker", |p| {
        p.value == PointValue::Float(7.0)
    });
    assert!(
        b.log().contains(" as alp-connex-mq-move (p2, c0, k10)"),
        "{}",
        b.log()
    );
}

/// At start, the points this connector wrote before keep their values
/// (not marked) until refreshed or silent.
#[test]
fn points_of_an_earlier_run_keep_their_values_until_refreshed_or_silent() {
    let valkey = ValkeyGuard::start();
    let broker = MosquittoGuard::start();
    let id = "mq-adopt";
    let mut config = mapping_per_topic(2, 11);
    config["silence_timeout"] = json!(2);
    let mut c = start(id, &valkey, &broker, &config, &[]);
    send(
        &broker,
        &[msg("s/0", &json!({"v": 1})), msg("s/1", &json!({"v": 2}))],
        1,
    );
    wait_point(&c, &valkey, (11, 2), "written", |_| true);
    assert!(c.terminate(T).success());
    let port = broker.port().to_string();
    let c = Connector::mqtt(id, &valkey, &[], &["--port", &port], &[]);
    c.until("both taken over", T, || {
        c.status(&valkey)["points_known"] == 2
    });
    for ioa in [1, 2] {
        assert!(
            point(&valkey, 11, ioa).unwrap().quality.is_good(),
            "kept valid at start"
        );
    }
    send(&broker, &[msg("s/0", &json!({"v": 3}))], 1);
    let silent = wait_point(&c, &valkey, (11, 2), "the silent one marked", |p| {
        p.quality.nt
    });
    assert_eq!(silent.value, PointValue::Float(2.0));
    let fresh = point(&valkey, 11, 1).unwrap();
    assert_eq!(fresh.value, PointValue::Float(3.0));
}

/// TLS verified against the broker's CA, with a user name and a password
/// from a file; a wrong password is a clear error in the status.
#[test]
fn tls_with_a_password_carries_sensor_json_and_a_wrong_password_is_a_clear_error() {
    use crate::support::{ClientCertificates, MosquittoOptions, TempDir, publish_with};
    let valkey = ValkeyGuard::start();
    let broker = MosquittoGuard::start_with(
        MosquittoOptions::new()
            .tls(ClientCertificates::NotRequired)
            .password("ingest", "s3cret"),
    );
    let dir = TempDir::new("mqtt-secrets");
    let good = dir.path().join("good");
    let bad = dir.path().join("bad");
    std::fs::write(&good, "s3cret\n").unwrap();
    std::fs::write(&bad, "guess\n").unwrap();
    let ca = broker.ca_file().to_str().unwrap().to_owned();
    let tls_args = |file: &std::path::Path| -> Vec<String> {
        [
            "--tls",
            "--ca-file",
            &ca,
            "--username",
            "ingest",
            "--password-file",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([file.to_str().unwrap().to_owned()])
        .collect()
    };
    let config = mapping_per_topic(1, 12);
    let args = tls_args(&good);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let c = start("mq-tls", &valkey, &broker, &config, &args);
    publish_with(
        broker.port(),
        &[("s/0", br#"{"v": 12.5}"#)],
        1,
        Some(("ingest", "s3cret")),
        Some(broker.ca_file()),
    );
    wait_point(&c, &valkey, (12, 1), "over TLS", |p| {
        p.value == PointValue::Float(12.5)
    });

    set_config(&valkey, "mq-tls-bad", &config);
    let args = tls_args(&bad);
    let mut all = vec!["--host", "127.0.0.1", "--port"];
    let port = broker.port().to_string();
    all.push(&port);
    all.extend(args.iter().map(String::as_str));
    let wrong = Connector::mqtt("mq-tls-bad", &valkey, &[], &all, &[]);
    wrong.until("the refusal in the status", T, || {
        let s = wrong.status(&valkey);
        s["state"] == "disconnected"
            && s["last_error"] == "the broker refused the connection: not authorized"
    });
}

/// A broker that requires client certificates accepts the connector's.
#[test]
fn a_broker_requiring_client_certificates_accepts_the_connectors() {
    use crate::support::{ClientCertificates, MosquittoOptions};
    let valkey = ValkeyGuard::start();
    let broker =
        MosquittoGuard::start_with(MosquittoOptions::new().tls(ClientCertificates::Required));
    let (ca, cert, key) = (
        broker.ca_file().to_str().unwrap().to_owned(),
        broker.client_cert().to_str().unwrap().to_owned(),
        broker.client_key().to_str().unwrap().to_owned(),
    );
    let config = mapping_per_topic(1, 13);
    start(
        "mq-cert",
        &valkey,
        &broker,
        &config,
        &[
            "--tls",
            "--ca-file",
            &ca,
            "--cert-file",
            &cert,
            "--key-file",
            &key,
        ],
    );
}

/// The broker restarts (its sessions persisted): the connector reconnects
/// and every QoS 1 message published while it was away is written.
#[test]
fn a_broker_restart_loses_no_qos_1_message_published_meanwhile() {
    use crate::support::MosquittoOptions;
    let valkey = ValkeyGuard::start();
    let mut broker = MosquittoGuard::start_with(MosquittoOptions::new().persistence());
    let config = mapping_per_topic(1, 14);
    let c = start("mq-broker-restart", &valkey, &broker, &config, &[]);
    broker.restart();
    // The connector waits at least a second before it reconnects: the
    // messages wait in its persisted session at the broker.
    let values: Vec<(&str, Vec<u8>)> = (0..100)
        .map(|i| ("s/0", json!({ "v": i }).to_string().into_bytes()))
        .collect();
    send(&broker, &values, 1);
    c.until("reconnected", T, || {
        let s = c.status(&valkey);
        s["state"] == "connected" && s["reconnects"] == 1
    });
    c.until("all 100 in the stream", T, || stream_len(&valkey) == 100);
    let p = point(&valkey, 14, 1).unwrap();
    assert_eq!(p.value, PointValue::Float(99.0));
}
