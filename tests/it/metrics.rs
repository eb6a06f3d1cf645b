//! The connectors' Prometheus metrics (`--metrics-bind`) scraped during
//! end-to-end runs with real peers: the counters move with the data that
//! passes, the gauges follow the link and Valkey.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alp_connex::iec104::elements::Quality;
use alp_connex::iec104::types::{Cause, Element};
use serde_json::{Value, json};

use crate::interop::{CA, T};
use crate::server::write_points;
use crate::support::{
    Connector, MosquittoGuard, ValkeyGuard, c104_master, c104_rtu, free_port, http_get, publish,
};

/// Every sample of one scrape: `name{labels}` → value.
fn scrape(addr: SocketAddr) -> BTreeMap<String, f64> {
    let reply = http_get(addr, "/metrics").expect("the metrics endpoint answers");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    reply
        .body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').expect("name and value");
            (name.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

fn value(m: &BTreeMap<String, f64>, name: &str) -> f64 {
    *m.get(name)
        .unwrap_or_else(|| panic!("no sample {name} in {m:#?}"))
}

/// Scrapes until `f` holds; the last scrape, or a panic naming `what`.
fn until_scraped(
    addr: SocketAddr,
    what: &str,
    mut f: impl FnMut(&BTreeMap<String, f64>) -> bool,
) -> BTreeMap<String, f64> {
    let deadline = Instant::now() + T;
    loop {
        let m = scrape(addr);
        if f(&m) {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {T:?}; last scrape: {m:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn metrics_addr() -> (SocketAddr, String) {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    (addr, addr.to_string())
}

/// Floats at IOAs 100..120 of station 1, each `base + ioa`.
fn floats(base: f64) -> Value {
    let points: Vec<Value> = (100..120)
        .map(|i| json!({"ioa": i, "type": "M_ME_NC_1", "value": base + f64::from(i), "quality": 0}))
        .collect();
    json!({"op": "add", "ca": CA, "points": points})
}

#[test]
fn the_inbound_connector_s_counters_follow_the_points_received_and_written_and_valkey_s_outage() {
    let mut valkey = ValkeyGuard::start();
    let port = free_port();
    let mut rtu = c104_rtu(port, &["--ca", "1"]);
    rtu.op(floats(0.0), T);
    let (addr, bind) = metrics_addr();
    let c = Connector::start(
        "metrics-in",
        port,
        &valkey,
        &[("ALP_CONNEX_METRICS_BIND", &bind)],
    );
    c.until("connected", T, || c.status(&valkey)["state"] == "connected");
    // The interrogation: 20 points received and written.
    // (The session's counters reach the status within a second.)
    let m = until_scraped(addr, "the interrogation counted", |m| {
        value(m, "alp_connex_points_written_total") == 20.0
            && value(m, "alp_connex_points_received_total") == 20.0
    });
    assert_eq!(value(&m, "alp_connex_state{state=\"connected\"}"), 1.0);
    assert_eq!(value(&m, "alp_connex_state{state=\"disconnected\"}"), 0.0);
    assert_eq!(value(&m, "alp_connex_valkey_connected"), 1.0);
    assert_eq!(value(&m, "alp_connex_valkey_pending_points"), 0.0);
    assert_eq!(value(&m, "alp_connex_valkey_outages_total"), 0.0);
    assert_eq!(value(&m, "alp_connex_reconnects_total"), 0.0);
    assert_eq!(value(&m, "alp_connex_points_known"), 20.0);
    assert_eq!(
        value(
            &m,
            &format!(
                "alp_connex_build_info{{version=\"{}\",kind=\"iec104-inbound\",id=\"metrics-in\"}}",
                env!("CARGO_PKG_VERSION")
            )
        ),
        1.0
    );

    // Spontaneous changes: both counters move by what c104 put on the wire.
    rtu.op(floats(1000.0), T);
    rtu.send(&json!({"op": "transmit", "cause": "SPONTANEOUS", "ca": CA, "ioas": (100..120).collect::<Vec<u32>>()}));
    let sent = rtu.expect_event("transmitted", T)["on_wire"]
        .as_f64()
        .expect("on_wire");
    assert_eq!(sent, 20.0);
    until_scraped(addr, "the spontaneous points counted", |m| {
        value(m, "alp_connex_points_received_total") == 20.0 + sent
            && value(m, "alp_connex_points_written_total") == 20.0 + sent
    });

    // Valkey down: the next points wait in the backlog, an outage is counted.
    valkey.stop();
    rtu.op(floats(2000.0), T);
    rtu.send(&json!({"op": "transmit", "cause": "SPONTANEOUS", "ca": CA, "ioas": (100..110).collect::<Vec<u32>>()}));
    rtu.expect_event("transmitted", T);
    let m = until_scraped(addr, "the outage and the backlog", |m| {
        value(m, "alp_connex_points_received_total") == 50.0
            && value(m, "alp_connex_valkey_pending_points") == 10.0
            && value(m, "alp_connex_valkey_outages_total") == 1.0
    });
    assert_eq!(value(&m, "alp_connex_valkey_connected"), 0.0);
    assert_eq!(value(&m, "alp_connex_points_written_total"), 40.0);
    valkey.restart();
    until_scraped(addr, "the backlog written after the restart", |m| {
        value(m, "alp_connex_valkey_pending_points") == 0.0
            && value(m, "alp_connex_points_written_total") == 50.0
            && value(m, "alp_connex_valkey_connected") == 1.0
    });

    // The RTU gone: the link state and the reconnection attempts.
    rtu.quit();
    until_scraped(addr, "the link down and reconnects counted", |m| {
        value(m, "alp_connex_state{state=\"connected\"}") == 0.0
            && value(m, "alp_connex_reconnects_total") >= 1.0
    });
    // Only /metrics is served.
    assert_eq!(http_get(addr, "/").expect("an answer").status, 404);
}

/// `alp-connex iec104-server` with its metrics on `bind`; killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(valkey: &ValkeyGuard, bind: &str) -> Server {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_alp-connex"))
            .args([
                "iec104-server",
                "--id",
                "metrics-srv",
                "--metrics-bind",
                bind,
            ])
            .args(["server", "--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["redis", "--host", &format!("127.0.0.1:{}", valkey.port())])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start alp-connex iec104-server");
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

#[test]
fn the_server_s_metrics_count_masters_and_the_updates_it_reads_and_sends() {
    let valkey = ValkeyGuard::start();
    let (addr, bind) = metrics_addr();
    let server = Server::start(&valkey, &bind);
    // (The probe that saw the server listen was a master for a moment.)
    let m = until_scraped(addr, "no master", |m| {
        value(m, "alp_connex_iec104_server_masters_connected") == 0.0
    });
    assert_eq!(value(&m, "alp_connex_state{state=\"listening\"}"), 1.0);
    let mut master = c104_master(server.port, &["--ca", "1", "--no-gi"]);
    master.expect_event("open", T);
    until_scraped(addr, "the master counted", |m| {
        value(m, "alp_connex_iec104_server_masters_connected") == 1.0
    });
    let points: Vec<(u32, Element)> = (0..10)
        .map(|i| {
            (
                400 + i,
                Element::M_ME_NC_1 {
                    value: 0.5 + i as f32,
                    quality: Quality::GOOD,
                },
            )
        })
        .collect();
    write_points(&valkey, &points, Cause::SPONTANEOUS);
    for i in 0..10u32 {
        master.expect_line(|v| v["event"] == "point" && v["ioa"] == 400 + i, T);
    }
    let m = until_scraped(addr, "the updates counted", |m| {
        value(m, "alp_connex_points_received_total") == 10.0
            && value(m, "alp_connex_points_written_total") == 10.0
    });
    assert!(value(&m, "alp_connex_iec104_server_updates_sent_total") >= 1.0);
    assert_eq!(
        value(&m, "alp_connex_iec104_server_lagged_updates_total"),
        0.0
    );
    assert_eq!(value(&m, "alp_connex_iec104_server_image_points"), 10.0);
    assert_eq!(value(&m, "alp_connex_valkey_connected"), 1.0);
    drop(master);
    until_scraped(addr, "the master gone", |m| {
        value(m, "alp_connex_iec104_server_masters_connected") == 0.0
    });
}

#[test]
fn the_mqtt_connector_s_metrics_count_messages_points_and_each_mapping_s_refusals() {
    let valkey = ValkeyGuard::start();
    let broker = MosquittoGuard::start();
    let config = json!({"mappings": [
        {"id": "climate", "topic": "s/+/climate", "points": [
            {"casdu": 7, "ioa": 1, "type": "M_ME_NC_1", "value": "$.t"}]},
        {"id": "door", "topic": "s/+/door", "points": [
            {"casdu": 7, "ioa": 2, "type": "M_SP_NA_1", "value": "$.open"}]}
    ]});
    let key = "connectors:metrics-mqtt:config";
    valkey
        .command(&["SET", key, &config.to_string()])
        .expect("SET");
    let (addr, bind) = metrics_addr();
    let port = broker.port().to_string();
    let c = Connector::mqtt(
        "metrics-mqtt",
        &valkey,
        &["--metrics-bind", &bind],
        &["--host", "127.0.0.1", "--port", &port],
        &[],
    );
    c.until("subscribed", T, || {
        let s = c.status(&valkey);
        s["state"] == "connected" && s["subscriptions_granted"] == 2
    });
    let m = scrape(addr);
    assert_eq!(value(&m, "alp_connex_mqtt_subscriptions"), 2.0);
    assert_eq!(value(&m, "alp_connex_mqtt_mappings"), 2.0);
    let good: Vec<(String, Vec<u8>)> = (0..5)
        .map(|i| {
            (
                "s/a/climate".to_owned(),
                json!({"t": 20 + i}).to_string().into_bytes(),
            )
        })
        .collect();
    let door = [
        ("s/a/door", b"{\"open\": true}".to_vec()),
        ("s/a/door", b"{\"open\": \"ajar\"}".to_vec()),
        ("s/a/door", b"{\"closed\": true}".to_vec()),
        ("s/a/door", b"not json".to_vec()),
    ];
    let mut messages: Vec<(&str, &[u8])> = good
        .iter()
        .map(|(t, p)| (t.as_str(), p.as_slice()))
        .collect();
    messages.extend(door.iter().map(|(t, p)| (*t, p.as_slice())));
    publish(broker.port(), &messages, 1);
    let m = until_scraped(addr, "every message counted", |m| {
        value(m, "alp_connex_mqtt_messages_received_total") == 9.0
    });
    // 5 temperatures, the door's state and its word kept as invalid.
    assert_eq!(value(&m, "alp_connex_points_received_total"), 7.0);
    for (labels, n) in [
        ("mapping=\"door\",error=\"conversion_error\"", 1.0),
        ("mapping=\"door\",error=\"unmatched\"", 1.0),
        ("mapping=\"door\",error=\"bad_payload\"", 1.0),
        ("mapping=\"door\",error=\"clamped\"", 0.0),
    ] {
        assert_eq!(
            value(
                &m,
                &format!("alp_connex_mqtt_mapping_refusals_total{{{labels}}}")
            ),
            n,
            "{labels}"
        );
    }
    assert!(
        !m.keys().any(|k| k.contains("mapping=\"climate\"")),
        "a mapping without refusals has no series"
    );
    assert_eq!(
        value(&m, "alp_connex_mqtt_refusals_total{error=\"unmatched\"}"),
        1.0
    );
    until_scraped(addr, "the points written", |m| {
        value(m, "alp_connex_mqtt_points_mapped_total") == 7.0
            && value(m, "alp_connex_points_written_total") == 7.0
    });
}

/// The metric families a connector on `args` declares (`# TYPE` lines).
fn families(role: &str, args: &[&str], valkey: &ValkeyGuard) -> Vec<String> {
    let (addr, bind) = metrics_addr();
    let mut child = Command::new(env!("CARGO_BIN_EXE_alp-connex"))
        .args([role, "--id", "families", "--metrics-bind", &bind])
        .args(args)
        .args(["redis", "--host", &format!("127.0.0.1:{}", valkey.port())])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start alp-connex");
    let deadline = Instant::now() + T;
    let reply = loop {
        if let Ok(r) = http_get(addr, "/metrics") {
            break r;
        }
        assert!(Instant::now() < deadline, "no metrics from {role}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    reply
        .body
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_grafana_dashboard_queries_only_metrics_the_connectors_expose() {
    let valkey = ValkeyGuard::start();
    // Sources that are not there: the families are declared all the same.
    let nowhere = free_port().to_string();
    let mut exposed = families("iec104-inbound", &["client", "--port", &nowhere], &valkey);
    exposed.extend(families("mqtt", &["mqtt", "--port", &nowhere], &valkey));
    let listen = free_port().to_string();
    exposed.extend(families(
        "iec104-server",
        &["server", "--bind", "127.0.0.1", "--port", &listen],
        &valkey,
    ));
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/grafana/alp-connex.json"
    );
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("the dashboard")).expect("JSON");
    let mut used = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("an expression");
            let mut rest = expr;
            while let Some(at) = rest.find("alp_connex_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[at + name.len()..];
                used.push(name);
            }
        }
    }
    used.sort();
    used.dedup();
    assert!(used.len() >= 15, "{used:?}");
    for name in &used {
        assert!(
            exposed.contains(name),
            "the dashboard queries {name}, which no connector exposes"
        );
    }
}
