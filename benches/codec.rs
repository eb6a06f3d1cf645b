//! Decode and encode throughput of typical ASDUs, in information objects
//! per second (criterion's `elem/s`).
//!
//! Run: `cargo bench --bench codec`.

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

use alp_connex::iec104::asdu::{Asdu, InformationObject};
use alp_connex::iec104::elements::{Quality, SinglePoint};
use alp_connex::iec104::time::Cp56Time2a;
use alp_connex::iec104::types::{Cause, Cot, Element, TypeId};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn cases() -> Vec<(&'static str, Asdu)> {
    let time = Cp56Time2a::from_unix_ms(1_795_252_530_123).unwrap_or_default();
    let asdu = |type_id, sequence, objects: Vec<InformationObject>| Asdu {
        type_id,
        sequence,
        cot: Cot::new(Cause::SPONTANEOUS),
        originator: 0,
        common_address: 1,
        objects,
    };
    vec![
        (
            "16 x M_ME_TF_1 SQ=0",
            asdu(
                TypeId::M_ME_TF_1,
                false,
                (0..16)
                    .map(|i| {
                        InformationObject::new(
                            1000 + i * 3,
                            Element::M_ME_TF_1 {
                                value: 230.5 + i as f32,
                                quality: Quality::GOOD,
                                time,
                            },
                        )
                    })
                    .collect(),
            ),
        ),
        (
            "48 x M_ME_NC_1 SQ=1",
            asdu(
                TypeId::M_ME_NC_1,
                true,
                (0..48)
                    .map(|i| {
                        InformationObject::new(
                            2000 + i,
                            Element::M_ME_NC_1 {
                                value: i as f32 * 0.5,
                                quality: Quality::GOOD,
                            },
                        )
                    })
                    .collect(),
            ),
        ),
        (
            "100 x M_SP_NA_1 SQ=1",
            asdu(
                TypeId::M_SP_NA_1,
                true,
                (0..100)
                    .map(|i| {
                        InformationObject::new(
                            3000 + i,
                            Element::M_SP_NA_1 {
                                value: SinglePoint {
                                    value: i % 2 == 0,
                                    quality: Quality::GOOD,
                                },
                            },
                        )
                    })
                    .collect(),
            ),
        ),
    ]
}

fn codec(c: &mut Criterion) {
    for (name, asdu) in cases() {
        let bytes = match asdu.to_bytes() {
            Ok(b) => b,
            Err(e) => panic!("bench case {name} does not encode: {e}"),
        };
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements(asdu.objects.len() as u64));
        group.bench_function("decode", |b| b.iter(|| Asdu::decode(black_box(&bytes))));
        let mut out = Vec::with_capacity(256);
        group.bench_function("encode", |b| {
            b.iter(|| {
                out.clear();
                black_box(&asdu).encode(&mut out)
            })
        });
        group.finish();
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);
