//! The point writer alone against a running Valkey: submits N points (in
//! submits of 48, as an nc48 ASDU gives them) and times until every one is
//! written. `cargo run --release --example writer_bench -- PORT [N] [POINTS]`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable,
    clippy::indexing_slicing,
    clippy::string_slice,
    reason = "a benchmark tool: a failed setup stops it loudly"
)]

use std::time::{Duration, Instant};

use alp_connex::store::{Mode, PointRecord, StoreConfig, Writer};

const SAMPLE: &str = r#"{"casdu":1,"ioa":12345,"type_id":13,"type":"M_ME_NC_1","value":230.5,"quality":{"iv":false,"nt":false,"sb":false,"bl":false,"ov":false},"time":null,"cot":3,"source":"bench","received":"2026-11-21T09:15:30.125Z"}"#;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|a| a.parse().ok()).unwrap_or(6379);
    let n: u32 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let distinct: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let writer = Writer::spawn(StoreConfig {
        host: "127.0.0.1".to_owned(),
        port,
        password: None,
        mode: Mode::Standalone,
        stream: "bench:writer".to_owned(),
        stream_max_length: 20_000_000,
        exact_trim: false,
        source: "bench".to_owned(),
    });
    let start = Instant::now();
    let mut i = 0;
    while i < n {
        let batch: Vec<PointRecord> = (i..(i + 48).min(n))
            .map(|k| PointRecord {
                casdu: 1,
                ioa: k % distinct,
                json: SAMPLE.to_owned(),
            })
            .collect();
        i += batch.len() as u32;
        writer.submit(batch);
    }
    let submitted = start.elapsed();
    writer.flush(Duration::from_secs(600)).await.expect("flush");
    let total = start.elapsed();
    println!(
        "{n} points: submitted in {:.0} ms, written in {:.0} ms -> {:.0} points/s",
        submitted.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3,
        f64::from(n) / total.as_secs_f64()
    );
    writer.shutdown(Duration::from_secs(5)).await;
}
