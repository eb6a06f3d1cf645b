//! The MQTT mapping engine: messages per second through
//! [`Engine::handle`] for one mapping of a substation sensor (several
//! points), and the mappings of a topic found among 10,000 topic filters
//! (some with `+` and `#`) through the topic index.
//!
//! Run: `cargo bench --bench mapping`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable,
    clippy::indexing_slicing,
    clippy::string_slice,
    reason = "a benchmark: a case that does not build stops it loudly"
)]

use std::hint::black_box;
use std::sync::Arc;

use alp_connex::mqtt::convert::{Context, Outcome};
use alp_connex::mqtt::engine::{Engine, parse_payload};
use alp_connex::mqtt::mapping::MappingConfig;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};

/// A transformer bay's sensor box, as `mqtt-sim` publishes it.
const PAYLOAD: &str = r#"{"device":"ss-nord-t1","ts":"2026-11-21T09:15:30.123Z","status":"ok","oil_temperature":61.4,"winding_temperature":"74.2","ambient":{"temperature":12.5,"humidity":81},"sf6_density":6.42,"door":"closed","fan":2,"tap":7,"energy_kwh":183456}"#;

fn sensor_mapping(id: usize, topic: &str, casdu: u64) -> Value {
    let t = json!({"time": "$.ts", "time_format": "rfc3339"});
    let q = json!({"path": "$.status", "good": ["ok"]});
    let point = |ioa: u64, ty: &str, value: &str| {
        let mut p = json!({"casdu": casdu, "ioa": ioa, "type": ty, "value": value, "quality": q});
        if ty.contains("_T") {
            for (k, v) in t.as_object().unwrap() {
                p[k] = v.clone();
            }
        }
        p
    };
    let mut door = point(6, "M_SP_TB_1", "$.door");
    door["map"] = json!({"closed": false, "open": true});
    let mut oil = point(1, "M_ME_TF_1", "$.oil_temperature");
    oil["deadband"] = json!({"absolute": 0.5});
    json!({
        "id": format!("bay-{id}"),
        "topic": topic,
        "match": {"$.device": "ss-nord-t1"},
        "points": [
            oil,
            point(2, "M_ME_TF_1", "$.winding_temperature"),
            point(3, "M_ME_NC_1", "$.ambient.temperature"),
            point(4, "M_ME_NB_1", "$.ambient.humidity"),
            point(5, "M_ME_TF_1", "$.sf6_density"),
            door,
            point(7, "M_DP_TB_1", "$.fan"),
            point(8, "M_ST_TB_1", "$.tap"),
            point(9, "M_IT_TB_1", "$.energy_kwh"),
        ]
    })
}

fn ctx() -> Context {
    Context {
        source: Arc::from("mqtt-1"),
        received_ms: 1_795_252_530_200,
    }
}

fn one_mapping(c: &mut Criterion) {
    let config = MappingConfig::from_value(json!({"mappings": [
        sensor_mapping(0, "substations/nord/t1/sensors", 1)
    ]}))
    .unwrap();
    let engine = Engine::new(config);
    let ctx = ctx();
    let payload = parse_payload(PAYLOAD.as_bytes(), usize::MAX).unwrap();
    let results = engine.handle("substations/nord/t1/sensors", &payload, &ctx);
    let written = results[0]
        .points
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Write { .. }))
        .count();
    assert_eq!(written, 9, "{results:?}");

    let mut g = c.benchmark_group("mapping");
    g.throughput(Throughput::Elements(1));
    g.bench_function("handle_one_mapping_9_points", |b| {
        b.iter(|| {
            black_box(engine.handle(
                black_box("substations/nord/t1/sensors"),
                black_box(&payload),
                &ctx,
            ))
        });
    });
    g.bench_function("parse_and_handle_one_mapping_9_points", |b| {
        b.iter(|| {
            let payload = parse_payload(black_box(PAYLOAD.as_bytes()), 256 * 1024).unwrap();
            black_box(engine.handle("substations/nord/t1/sensors", &payload, &ctx))
        });
    });
    g.finish();
}

/// 10,000 mappings of one point each: 9,000 exact topics, 500 with `+`,
/// 500 with `#`; the topic looked up matches exactly one of them.
fn ten_thousand_filters(c: &mut Criterion) {
    let mappings: Vec<Value> = (0..10_000u64)
        .map(|i| {
            let topic = match i % 20 {
                0 => format!("plant/{i}/+/telemetry"),
                1 => format!("fleet/{i}/#"),
                _ => format!("substations/s{}/bay{}/sensors", i / 100, i % 100),
            };
            json!({"id": format!("m{i}"), "topic": topic, "points": [
                {"casdu": 1 + i / 1000, "ioa": 1 + i, "type": "M_ME_NC_1",
                 "value": "$.oil_temperature"}
            ]})
        })
        .collect();
    let config = MappingConfig::from_value(json!({"mappings": mappings})).unwrap();
    let engine = Engine::new(config);
    let ctx = ctx();
    let payload = parse_payload(PAYLOAD.as_bytes(), usize::MAX).unwrap();
    let exact = "substations/s57/bay42/sensors";
    let plus = "plant/5740/t1/telemetry";
    let hash = "fleet/5741/a/b/c";
    for topic in [exact, plus, hash] {
        assert_eq!(engine.mappings_for(topic).len(), 1, "{topic}");
    }

    let mut g = c.benchmark_group("mapping_10000_filters");
    g.throughput(Throughput::Elements(1));
    for (name, topic) in [("exact", exact), ("plus", plus), ("hash", hash)] {
        g.bench_function(format!("lookup_{name}"), |b| {
            b.iter(|| black_box(engine.mappings_for(black_box(topic))));
        });
    }
    g.bench_function("handle_exact", |b| {
        b.iter(|| black_box(engine.handle(black_box(exact), &payload, &ctx)));
    });
    g.bench_function("lookup_no_match", |b| {
        b.iter(|| black_box(engine.mappings_for(black_box("substations/s57/bay42/other"))));
    });
    g.finish();
}

criterion_group!(benches, one_mapping, ten_thousand_filters);
criterion_main!(benches);
