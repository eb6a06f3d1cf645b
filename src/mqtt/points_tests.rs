use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::contract::PointValue;

const T0: i64 = 1_795_000_000_000;

fn config(v: Value) -> Arc<MappingConfig> {
    Arc::new(MappingConfig::from_value(v).unwrap())
}

fn points(v: Value) -> Points {
    Points::new("mqtt-1", config(v), 1024)
}

/// One climate mapping: temperature (deadband 0.5) and humidity, silence
/// 10 s, humidity's own 60 s.
fn climate() -> Value {
    json!({"silence_timeout": 10, "mappings": [
        {"id": "climate", "topic": "s/+/climate",
         "points": [
            {"casdu": 1, "ioa": 1, "type": "M_ME_NC_1", "value": "$.t",
             "deadband": {"absolute": 0.5}},
            {"casdu": 1, "ioa": 2, "type": "M_ME_NC_1", "value": "$.h",
             "silence_timeout": 60}]}]})
}

fn floats(written: &[DataPoint]) -> Vec<(u32, f32)> {
    written
        .iter()
        .map(|p| match p.value {
            PointValue::Float(f) => (p.ioa, f),
            ref other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn a_change_within_the_deadband_is_not_written_but_a_quality_change_always_is() {
    let mut p = points(climate());
    let w = p.handle("s/a/climate", br#"{"t": 20.0, "h": 40}"#, T0);
    assert_eq!(floats(&w), [(1, 20.0), (2, 40.0)]);
    let w = p.handle("s/a/climate", br#"{"t": 20.4, "h": 40}"#, T0 + 1);
    assert_eq!(floats(&w), [(2, 40.0)], "0.4 is within the deadband of 0.5");
    let w = p.handle("s/a/climate", br#"{"t": 20.5, "h": 40}"#, T0 + 2);
    assert_eq!(floats(&w), [(1, 20.5), (2, 40.0)]);
    // Silence marks the temperature NT; the same value then passes the
    // deadband again, with NT cleared.
    let marked = p.silence(T0 + 2 + 10_000);
    assert_eq!(marked.len(), 1);
    assert!(marked[0].quality.nt);
    let w = p.handle("s/a/climate", br#"{"t": 20.5, "h": 40}"#, T0 + 20_000);
    assert_eq!(floats(&w), [(1, 20.5), (2, 40.0)]);
    assert!(!w[0].quality.nt);
    assert_eq!(p.stats().totals.points_written, 7);
}

#[test]
fn a_value_that_cannot_be_converted_keeps_the_last_value_with_iv_and_is_counted() {
    let mut p = points(climate());
    // Nothing known yet: nothing to keep, nothing written, counted.
    let w = p.handle("s/a/climate", br#"{"t": "warm", "h": 40}"#, T0);
    assert_eq!(floats(&w), [(2, 40.0)]);
    let w = p.handle("s/a/climate", br#"{"t": 21.0, "h": 40}"#, T0 + 1);
    assert_eq!(floats(&w), [(1, 21.0), (2, 40.0)]);
    let w = p.handle("s/a/climate", br#"{"t": [1], "h": 40}"#, T0 + 2);
    assert_eq!(floats(&w), [(1, 21.0), (2, 40.0)]);
    assert!(w[0].quality.iv && !w[1].quality.iv);
    assert_eq!(w[0].received, T0 + 2);
    // The next good value clears IV.
    let w = p.handle("s/a/climate", br#"{"t": 21.0, "h": 40}"#, T0 + 3);
    assert!(!w[0].quality.iv);
    let s = p.stats();
    assert_eq!(s.totals.conversion_errors, 2);
    assert_eq!(s.mapping_errors[0].0, "climate");
    assert_eq!(s.mapping_errors[0].1.conversion_errors, 2);
}

#[test]
fn each_kind_of_bad_input_is_counted_per_mapping_and_the_next_good_message_flows() {
    let mut p = Points::new(
        "mqtt-1",
        config(json!({"mappings": [
            {"id": "a", "topic": "s/#", "points": [
                {"casdu": 1, "ioa": 1, "type": "M_ME_NC_1", "value": "$.v"}]},
            {"id": "b", "topic": "s/x", "points": [
                {"casdu": 1, "ioa": 2, "type": "M_ME_NC_1", "value": "$.w[*]"}]}]})),
        1024,
    );
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    // Not JSON, over the limit, nested deeper than 128 levels (400 bytes).
    for bad in [&b"{not json"[..], &[b' '; 1025][..], deep.as_bytes()] {
        assert!(p.handle("s/x", bad, T0).is_empty());
    }
    // a: no value; b: several values.
    assert!(p.handle("s/x", br#"{"w": [1, 2]}"#, T0).is_empty());
    assert!(p.handle("elsewhere", br#"{"v": 1}"#, T0).is_empty());
    let w = p.handle("s/x", br#"{"v": 1, "w": [2]}"#, T0);
    assert_eq!(floats(&w), [(1, 1.0), (2, 2.0)]);
    let s = p.stats();
    let a = s.mapping_errors.iter().find(|(id, _)| id == "a").unwrap().1;
    let b = s.mapping_errors.iter().find(|(id, _)| id == "b").unwrap().1;
    assert_eq!((a.bad_payloads, a.unmatched, a.messages), (3, 1, 5));
    assert_eq!((b.bad_payloads, b.unmatched, b.messages), (3, 1, 5));
    assert_eq!(s.unrouted, 1);
    assert_eq!(s.totals.points_written, 2);
}

#[test]
fn a_match_that_does_not_hold_is_filtered_not_an_error() {
    let mut p = points(json!({"mappings": [
        {"id": "m", "topic": "t", "match": {"$.device": "ts-1"}, "points": [
            {"casdu": 1, "ioa": 1, "type": "M_ME_NC_1", "value": "$.v"}]}]}));
    assert!(
        p.handle("t", br#"{"device": "ts-2", "v": 1}"#, T0)
            .is_empty()
    );
    let s = p.stats();
    assert_eq!((s.totals.filtered, s.totals.messages), (1, 1));
    assert!(s.mapping_errors.is_empty());
}

#[test]
fn a_value_beyond_its_range_is_written_at_the_limit_with_ov_and_counted() {
    let mut p = points(json!({"mappings": [
        {"id": "m", "topic": "t", "points": [
            {"casdu": 1, "ioa": 1, "type": "M_ME_NB_1", "value": "$.v"}]}]}));
    let w = p.handle("t", br#"{"v": 40000}"#, T0);
    assert_eq!(w[0].value, PointValue::Scaled(32767));
    assert!(w[0].quality.ov);
    assert_eq!(p.stats().totals.clamped, 1);
}

#[test]
fn silence_marks_each_point_after_its_own_timeout_once_and_the_next_value_clears_it() {
    let mut p = points(climate());
    p.handle("s/a/climate", br#"{"t": 20.0, "h": 40}"#, T0);
    assert!(p.silence(T0 + 9_999).is_empty());
    let m = p.silence(T0 + 10_000);
    assert_eq!(floats(&m), [(1, 20.0)], "the temperature after 10 s");
    assert!(m[0].quality.nt && m[0].received == T0 + 10_000);
    assert!(p.silence(T0 + 30_000).is_empty(), "marked once");
    assert_eq!(p.stats().points_not_topical, 1);
    let m = p.silence(T0 + 60_000);
    assert_eq!(floats(&m), [(2, 40.0)], "the humidity after its own 60 s");
    assert_eq!(p.stats().points_not_topical, 2);
    let w = p.handle("s/a/climate", br#"{"t": 20.0, "h": 40}"#, T0 + 61_000);
    assert!(w.iter().all(|x| !x.quality.nt));
    assert_eq!(p.stats().points_not_topical, 0);
}

#[test]
fn no_silence_timeout_never_marks() {
    let mut p = points(json!({"mappings": [
        {"id": "m", "topic": "t", "points": [
            {"casdu": 1, "ioa": 1, "type": "M_ME_NC_1", "value": "$.v"}]}]}));
    p.handle("t", br#"{"v": 1}"#, T0);
    assert!(p.silence(T0 + 365 * 86_400_000).is_empty());
}

fn image_point(ioa: u32, nt: bool) -> DataPoint {
    let mut p = Points::new(
        "mqtt-1",
        config(json!({"mappings": [
            {"id": "m", "topic": "t", "points": [
                {"casdu": 1, "ioa": ioa, "type": "M_ME_NC_1", "value": "$.v"}]}]})),
        1024,
    )
    .handle("t", br#"{"v": 7}"#, T0 - 100_000)
    .remove(0);
    p.quality.nt = nt;
    p
}

#[test]
fn points_of_an_earlier_run_are_kept_until_silent_and_those_no_longer_mapped_are_marked_nt() {
    let mut p = points(climate());
    // Mapped: kept, no write; silent 10 s after the start.
    assert_eq!(p.adopt(image_point(1, false), T0), None);
    assert_eq!(p.stats().points_known, 1);
    // Not mapped any more: marked NT now; already NT: nothing.
    let marked = p.adopt(image_point(99, false), T0).unwrap();
    assert!(marked.quality.nt && marked.ioa == 99 && marked.received == T0);
    assert_eq!(p.adopt(image_point(98, true), T0), None);
    let m = p.silence(T0 + 10_000);
    assert_eq!(floats(&m), [(1, 7.0)]);
    assert!(m[0].quality.nt);
}

#[test]
fn new_mappings_keep_the_state_of_unchanged_addresses_mark_removed_ones_and_keep_counters_by_id() {
    let mut p = points(climate());
    p.handle("s/a/climate", br#"{"t": 20.0, "h": "wet"}"#, T0);
    p.handle("s/a/climate", br#"{"t": 20.0, "h": 40}"#, T0);
    let marked = p.reconfigure(
        config(json!({"silence_timeout": 10, "mappings": [
            {"id": "climate", "topic": "s/+/climate2", "points": [
                {"casdu": 1, "ioa": 1, "type": "M_ME_NC_1", "value": "$.t",
                 "deadband": {"absolute": 0.5}}]}]})),
        1024,
        T0 + 1,
    );
    assert_eq!(floats(&marked), [(2, 40.0)]);
    assert!(marked[0].quality.nt);
    // The temperature's deadband state survived: 20.2 is within it.
    assert!(
        p.handle("s/a/climate2", br#"{"t": 20.2}"#, T0 + 2)
            .is_empty()
    );
    assert!(p.handle("s/a/climate", br#"{"t": 25}"#, T0 + 2).is_empty());
    let s = p.stats();
    assert_eq!(s.totals.conversion_errors, 1, "kept with the mapping's id");
    assert_eq!(s.unrouted, 1, "the old topic is no mapping's");
    assert_eq!(s.points_known, 1);
}

#[test]
fn a_changed_type_at_an_address_starts_that_point_afresh() {
    let mut p = points(climate());
    p.handle("s/a/climate", br#"{"t": 20.0, "h": 40}"#, T0);
    let _ = p.reconfigure(
        config(json!({"mappings": [
            {"id": "climate", "topic": "s/+/climate", "points": [
                {"casdu": 1, "ioa": 1, "type": "M_ME_NB_1", "value": "$.t",
                 "deadband": {"absolute": 0.5}}]}]})),
        1024,
        T0 + 1,
    );
    let w = p.handle("s/a/climate", br#"{"t": 20.0}"#, T0 + 2);
    assert_eq!(w[0].value, PointValue::Scaled(20));
}

#[test]
fn the_status_lists_the_worst_mappings_first_and_at_most_a_hundred() {
    let mappings: Vec<Value> = (0..150)
        .map(|i| {
            json!({"id": format!("m{i:03}"), "topic": format!("t/{i}"), "points": [
                {"casdu": 1, "ioa": i + 1, "type": "M_ME_NC_1", "value": "$.v"}]})
        })
        .collect();
    let mut p = points(json!({ "mappings": mappings }));
    for i in 0..150 {
        for _ in 0..(i % 7) {
            p.handle(&format!("t/{i}"), b"{}", T0);
        }
    }
    let s = p.stats();
    assert_eq!(s.mapping_errors.len(), 100);
    let worst: Vec<u64> = s.mapping_errors.iter().map(|(_, c)| c.unmatched).collect();
    assert!(worst.windows(2).all(|w| w[0] >= w[1]));
    assert_eq!(worst[0], 6);
    assert_eq!(s.mapping_errors[0].0, "m006");
}
