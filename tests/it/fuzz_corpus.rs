//! Replays the checked-in fuzz corpus (`fuzz/corpus/<target>`) through the
//! same invariant checks the fuzz targets run, so every finding stays fixed
//! on stable Rust in the normal suite.

use std::path::Path;

use alp_connex::iec104::fuzzing;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut n = 0;
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("corpus entry").path();
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(
            outcome.is_ok(),
            "{target} corpus file {} breaks an invariant",
            path.display()
        );
        n += 1;
    }
    n
}

#[test]
fn asdu_corpus_round_trips() {
    assert!(
        replay("asdu", fuzzing::asdu_roundtrip) >= 69,
        "one seed per type id at least"
    );
}

#[test]
fn frame_corpus_decodes_within_bounds() {
    assert!(replay("frame", fuzzing::frame_decoder) > 0);
}

#[test]
fn link_corpus_keeps_the_engine_invariants() {
    assert!(replay("link", fuzzing::link_engine) > 0);
}

#[test]
fn datapoint_corpus_encodes_and_round_trips() {
    assert!(
        replay("datapoint", alp_connex::fuzzing::datapoint_json) > 0,
        "the contract's example point at least"
    );
}

#[test]
fn text_corpus_reads_back_what_it_writes() {
    assert!(replay("text", alp_connex::fuzzing::text_parsers) > 0);
}

#[test]
fn mqtt_corpus_writes_only_points_within_their_ranges() {
    assert!(
        replay("mqtt", alp_connex::fuzzing::mqtt_message) >= 8,
        "the seeds of fuzz/corpus/mqtt"
    );
}

#[test]
fn mqtt_sensor_seed_writes_every_point_of_the_fixed_configuration() {
    use alp_connex::mqtt::convert::{Context, Outcome};
    use alp_connex::mqtt::engine::{Engine, parse_payload};
    use alp_connex::mqtt::mapping::MappingConfig;

    let engine =
        Engine::new(MappingConfig::from_json(alp_connex::fuzzing::MQTT_FIXED_CONFIG).unwrap());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/mqtt");
    let seed = std::fs::read(dir.join("sensor_box_all_points")).unwrap();
    let payload = parse_payload(&seed, usize::MAX).unwrap();
    let ctx = Context {
        source: std::sync::Arc::from("mqtt-1"),
        received_ms: 0,
    };
    let results = engine.handle("substations/nord/t1/sensors", &payload, &ctx);
    let bay = results.iter().find(|r| r.mapping == 0).unwrap();
    assert!(bay.matched);
    let written = bay
        .points
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Write { clamped: false, point } if !point.quality.iv && !point.time_invalid))
        .count();
    assert_eq!(written, 17, "{:?}", bay.points);
}
