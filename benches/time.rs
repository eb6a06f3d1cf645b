//! Time conversions and the data point JSON that carries them: CP56Time2a
//! to and from Unix ms (in UTC, and read in a zone as the inbound connector
//! does per point), RFC 3339 writing and reading, and a timed point's
//! `to_json`/`from_json` (the inbound connector's per-point work).
//!
//! Run: `cargo bench --bench time`.

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

use alp_connex::contract::{DataPoint, parse_rfc3339_ms};
use alp_connex::iec104::time::{Cp56Time2a, Zone, rfc3339_ms};
use criterion::{Criterion, criterion_group, criterion_main};

/// 2026-11-21 09:15:30.123 UTC.
const INSTANT: i64 = 1_795_252_530_123;

const TIMED: &str = r#"{"casdu":100,"ioa":200,"type_id":36,"type":"M_ME_TF_1","value":230.5,"quality":{"iv":false,"nt":false,"sb":false,"bl":false,"ov":false},"time":"2026-11-21T09:15:30.123Z","cot":3,"source":"inbound-1","received":"2026-11-21T09:15:30.125Z"}"#;

fn time(c: &mut Criterion) {
    let tag = Cp56Time2a::from_unix_ms(INSTANT).unwrap_or_default();
    c.bench_function("cp56 from unix ms (UTC)", |b| {
        b.iter(|| Cp56Time2a::from_unix_ms(black_box(INSTANT)))
    });
    c.bench_function("cp56 to unix ms (UTC)", |b| {
        b.iter(|| black_box(tag).to_unix_ms())
    });
    for name in ["UTC", "Europe/Berlin"] {
        let zone: Zone = match name.parse() {
            Ok(z) => z,
            Err(()) => panic!("{name} is no zone"),
        };
        c.bench_function(&format!("cp56 read in {name}"), |b| {
            b.iter(|| black_box(&zone).read_cp56(black_box(tag)))
        });
    }
    c.bench_function("rfc3339 write", |b| {
        b.iter(|| rfc3339_ms(black_box(INSTANT)))
    });
    c.bench_function("rfc3339 read", |b| {
        b.iter(|| parse_rfc3339_ms(black_box("2026-11-21T09:15:30.123Z")))
    });
    let point = match DataPoint::from_json(TIMED) {
        Ok(p) => p,
        Err(e) => panic!("bench point does not read: {e}"),
    };
    c.bench_function("timed point to_json", |b| {
        b.iter(|| black_box(&point).to_json())
    });
    c.bench_function("timed point from_json", |b| {
        b.iter(|| DataPoint::from_json(black_box(TIMED)))
    });
}

criterion_group!(benches, time);
criterion_main!(benches);
