//! The `iec104-server` role's process image (`alp_connex::server`) against
//! a real `valkey-server`: the load across stations, the common-address
//! restriction, spontaneous updates from the stream, malformed JSON, a
//! Valkey restart, trimmed entries, and a Valkey Cluster.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use alp_connex::contract::DataPoint;
use alp_connex::contract::iec104::{Reception, points_from_asdu};
use alp_connex::iec104::asdu::Asdu;
use alp_connex::iec104::elements::*;
use alp_connex::iec104::time::{Cp16Time2a, Cp24Time2a, Cp56Time2a};
use alp_connex::iec104::types::{Cause, Cot, Element};
use alp_connex::server::{self, Following, ValkeyImage};
use alp_connex::station::{PointSource, ReadResult, Update};
use alp_connex::store::{Mode, PointRecord, StoreConfig, Writer};
use tokio::sync::broadcast;

use crate::support::{ValkeyClusterGuard, ValkeyGuard};

const STREAM: &str = "process:updates";
const T: Duration = Duration::from_secs(10);
/// 2026-11-21 09:15:30.123 UTC.
const T0: i64 = 1_795_252_530_123;

fn cfg(port: u16) -> StoreConfig {
    StoreConfig {
        host: "127.0.0.1".to_owned(),
        port,
        password: None,
        mode: Mode::Standalone,
        stream: STREAM.to_owned(),
        stream_max_length: 1000,
        exact_trim: false,
        source: "inbound-test".to_owned(),
    }
}

fn t56(offset_ms: i64) -> Cp56Time2a {
    Cp56Time2a::from_unix_ms(T0 + offset_ms).expect("in range")
}

fn float(value: f32) -> Element {
    Element::M_ME_TF_1 {
        value,
        quality: Quality::GOOD,
        time: t56(0),
    }
}

/// The data point a connector writes for `element`, received at T0 + 2 ms.
fn point(ca: u16, ioa: u32, element: Element) -> DataPoint {
    let source: Arc<str> = "inbound-test".into();
    let asdu = Asdu::single(Cot::new(Cause::SPONTANEOUS), ca, ioa, element);
    let rx = Reception {
        source: &source,
        received: T0 + 2,
        zone: &alp_connex::iec104::time::UTC,
    };
    points_from_asdu(&asdu, rx).remove(0)
}

fn record(ca: u16, ioa: u32, element: Element) -> PointRecord {
    PointRecord {
        casdu: ca,
        ioa,
        json: point(ca, ioa, element).to_json(),
    }
}

/// Writes points as a connector does (image SET, then stream XADD).
async fn write(port: u16, points: Vec<PointRecord>) {
    let writer = Writer::spawn(cfg(port));
    writer.submit(points);
    writer.flush(T).await.expect("written");
    writer.shutdown(T).await;
}

async fn start(
    port: u16,
    restrict: Option<&[u16]>,
) -> (Arc<ValkeyImage>, Following, broadcast::Receiver<Update>) {
    let image = Arc::new(ValkeyImage::new(restrict));
    let (tx, rx) = broadcast::channel(1024);
    let following = server::start(&cfg(port), Arc::clone(&image), tx)
        .await
        .expect("started");
    (image, following, rx)
}

async fn next_update(rx: &mut broadcast::Receiver<Update>) -> Asdu {
    let update = tokio::time::timeout(T, rx.recv())
        .await
        .expect("an update in time")
        .expect("the channel is open");
    Asdu::decode(update.bytes()).expect("decodes")
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + T;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {T:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ioas(snapshot: Option<Vec<(u32, Element)>>) -> Vec<u32> {
    snapshot
        .expect("a known station")
        .into_iter()
        .map(|(i, _)| i)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn points_of_three_stations_load_into_snapshots_in_ascending_ioa() {
    let guard = ValkeyGuard::start();
    let mut points = Vec::new();
    for (ca, ioas) in [
        (1u16, [300u32, 7, 12_000_000, 45]),
        (2, [5, 4, 3, 2]),
        (300, [1, 1000, 100, 10]),
    ] {
        for ioa in ioas {
            points.push(record(ca, ioa, float(f32::from(ca) + ioa as f32 / 1000.0)));
        }
    }
    write(guard.port(), points).await;

    let (image, following, _rx) = start(guard.port(), None).await;
    let loaded = following.loaded();
    assert_eq!(
        (loaded.keys, loaded.points, loaded.malformed, loaded.ignored),
        (12, 12, 0, 0)
    );
    assert_ne!(
        loaded.last_id,
        alp_connex::store::stream::StreamId::default(),
        "the stream's last ID"
    );
    assert_eq!(image.stations(), vec![1, 2, 300]);
    assert_eq!(ioas(image.snapshot(1)), vec![7, 45, 300, 12_000_000]);
    assert_eq!(ioas(image.snapshot(2)), vec![2, 3, 4, 5]);
    assert_eq!(ioas(image.snapshot(300)), vec![1, 10, 100, 1000]);
    assert_eq!(image.snapshot(3), None);
    assert_eq!(image.read(300, 100), ReadResult::Point(float(300.1)));
    assert_eq!(image.read(300, 101), ReadResult::UnknownIoa);
    assert_eq!(image.read(4, 100), ReadResult::UnknownStation);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restriction_serves_only_the_listed_stations() {
    let guard = ValkeyGuard::start();
    write(
        guard.port(),
        vec![
            record(1, 10, float(1.0)),
            record(2, 20, float(2.0)),
            record(3, 30, float(3.0)),
        ],
    )
    .await;
    let (image, following, mut rx) = start(guard.port(), Some(&[1, 7])).await;
    // Every point is held; two of them are of stations not served.
    assert_eq!(
        (following.loaded().points, following.loaded().ignored),
        (3, 2)
    );
    assert_eq!(image.len(), 1, "one point served");
    assert_eq!(
        image.stations(),
        vec![1, 7],
        "a listed station without points is served"
    );
    assert_eq!(image.snapshot(7), Some(Vec::new()));
    assert_eq!(image.snapshot(2), None);
    assert_eq!(image.read(3, 30), ReadResult::UnknownStation);

    // Updates of other stations are held but not sent.
    write(
        guard.port(),
        vec![record(2, 21, float(2.5)), record(1, 11, float(1.5))],
    )
    .await;
    let asdu = next_update(&mut rx).await;
    assert_eq!((asdu.common_address, asdu.objects[0].ioa), (1, 11));
    let stats = following.stats();
    eventually("the other station's entry counted", || async {
        stats.ignored() == 1
    })
    .await;
    assert_eq!(image.read(2, 21), ReadResult::UnknownStation);
    assert!(rx.try_recv().is_err(), "nothing else was sent");

    // Served from now on: the held points, and its next updates.
    image.set_restriction(Some(&[2]));
    assert_eq!(image.stations(), vec![2]);
    assert_eq!(
        image.snapshot(2).map(|p| p.len()),
        Some(2),
        "20 from the load, 21 from the stream"
    );
    write(guard.port(), vec![record(2, 22, float(2.7))]).await;
    let asdu = next_update(&mut rx).await;
    assert_eq!((asdu.common_address, asdu.objects[0].ioa), (2, 22));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_entry_after_start_is_sent_in_its_own_type_with_cause_3() {
    let guard = ValkeyGuard::start();
    let (image, following, mut rx) = start(guard.port(), None).await;
    assert_eq!(following.loaded().points, 0);
    assert!(image.stations().is_empty());

    let breaker = Element::M_DP_TB_1 {
        value: DoublePoint {
            value: DoubleState::On,
            quality: Quality(Quality::NT),
        },
        time: t56(-5),
    };
    write(
        guard.port(),
        vec![
            record(100, 200, breaker.clone()),
            record(100, 201, float(230.5)),
        ],
    )
    .await;

    for (ioa, element) in [(200, breaker), (201, float(230.5))] {
        let asdu = next_update(&mut rx).await;
        let want = Asdu::single(Cot::new(Cause::SPONTANEOUS), 100, ioa, element.clone());
        assert_eq!(asdu, want);
        assert_eq!(image.read(100, ioa), ReadResult::Point(element));
    }
    let stats = following.stats();
    assert_eq!(
        (stats.entries(), stats.malformed(), stats.reloads()),
        (2, 0, 0)
    );
    assert!(stats.connected());
    assert!(stats.lag_ms() < 60_000, "lag {} ms", stats.lag_ms());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_counted_and_skipped_and_the_rest_loads() {
    let guard = ValkeyGuard::start();
    write(
        guard.port(),
        vec![record(1, 1, float(1.0)), record(1, 2, float(2.0))],
    )
    .await;
    // Not JSON; JSON of another address; a key that is not an address.
    guard.cli(&["SET", "process:image:casdu:1:ioa:3", "{not json"]);
    let other = point(1, 99, float(9.0)).to_json();
    guard.cli(&["SET", "process:image:casdu:1:ioa:4", &other]);
    guard.cli(&["SET", "process:image:casdu:01:ioa:5", &other]);

    let (image, following, mut rx) = start(guard.port(), None).await;
    let loaded = following.loaded();
    assert_eq!((loaded.keys, loaded.points, loaded.malformed), (5, 2, 3));
    assert_eq!(ioas(image.snapshot(1)), vec![1, 2]);

    // In the stream: bad JSON, an address that is not the JSON's, no data;
    // then a good entry, which is still delivered.
    let good = point(1, 6, float(6.0)).to_json();
    for fields in [
        vec!["casdu", "1", "ioa", "7", "source", "x", "data", "[1,2"],
        vec!["casdu", "1", "ioa", "8", "source", "x", "data", &good],
        vec!["casdu", "1", "ioa", "9", "source", "x"],
        vec!["casdu", "1", "ioa", "6", "source", "x", "data", &good],
    ] {
        let mut args = vec!["XADD", STREAM, "*"];
        args.extend(fields);
        guard.cli(&args);
    }
    let asdu = next_update(&mut rx).await;
    assert_eq!((asdu.common_address, asdu.objects[0].ioa), (1, 6));
    let stats = following.stats();
    assert_eq!((stats.entries(), stats.malformed()), (4, 3));
    assert_eq!(ioas(image.snapshot(1)), vec![1, 2, 6]);
    assert!(!following.is_finished());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_valkey_restart_the_follower_resumes_and_delivers_new_entries() {
    let mut guard = ValkeyGuard::start();
    write(guard.port(), vec![record(5, 1, float(1.0))]).await;
    let (image, following, mut rx) = start(guard.port(), None).await;
    let stats = following.stats();

    guard.stop();
    eventually("the outage seen", || async { !stats.connected() }).await;
    guard.restart();
    eventually("following again", || async { stats.connected() }).await;

    write(
        guard.port(),
        vec![record(5, 2, float(2.0)), record(6, 1, float(3.0))],
    )
    .await;
    let a = next_update(&mut rx).await;
    let b = next_update(&mut rx).await;
    assert_eq!((a.common_address, a.objects[0].ioa), (5, 2));
    assert_eq!((b.common_address, b.objects[0].ioa), (6, 1));
    // The point from before the outage stays (the restarted Valkey is empty).
    assert_eq!(ioas(image.snapshot(5)), vec![1, 2]);
    assert_eq!(image.read(6, 1), ReadResult::Point(float(3.0)));
    assert!(stats.errors() > 0);
    assert_eq!(stats.reloads(), 0, "a new stream is no gap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_trimmed_before_they_are_read_reload_the_image_and_count_as_missed() {
    let guard = ValkeyGuard::start();
    write(guard.port(), vec![record(1, 1, float(1.0))]).await;
    let (image, following, mut rx) = start(guard.port(), None).await;
    let stats = following.stats();

    // Entries trimmed after they were read are no gap.
    write(guard.port(), vec![record(1, 3, float(3.0))]).await;
    next_update(&mut rx).await;
    guard.cli(&["XTRIM", STREAM, "MAXLEN", "0"]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(stats.reloads(), 0);
    assert_eq!(stats.missed(), 0);

    // In one transaction: new values in the image, their entries added and
    // trimmed away at once, so the follower never reads them.
    let changed = point(1, 1, float(10.0)).to_json();
    let added = point(1, 2, float(20.0)).to_json();
    let reply = guard.cli(&[
        "EVAL",
        "redis.call('SET', KEYS[1], ARGV[1]); redis.call('SET', KEYS[2], ARGV[2]); \
         redis.call('XADD', KEYS[3], '*', 'casdu', '1', 'ioa', '1', 'source', 'x', 'data', ARGV[1]); \
         redis.call('XADD', KEYS[3], '*', 'casdu', '1', 'ioa', '2', 'source', 'x', 'data', ARGV[2]); \
         return redis.call('XTRIM', KEYS[3], 'MAXLEN', 0)",
        "3",
        "process:image:casdu:1:ioa:1",
        "process:image:casdu:1:ioa:2",
        STREAM,
        &changed,
        &added,
    ]);
    assert_eq!(reply.trim(), "2", "every entry trimmed");

    eventually("the image reloaded", || async { stats.reloads() == 1 }).await;
    assert_eq!(image.read(1, 1), ReadResult::Point(float(10.0)));
    assert_eq!(image.read(1, 2), ReadResult::Point(float(20.0)));
    assert_eq!(stats.entries(), 1);
    assert_eq!(stats.missed(), 2, "both entries trimmed unread");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_point_comes_back_from_valkey_as_its_element() {
    let guard = ValkeyGuard::start();
    let q = Quality(Quality::SB | Quality::OV);
    let elements = vec![
        Element::M_SP_NA_1 {
            value: SinglePoint {
                value: true,
                quality: Quality(Quality::BL),
            },
        },
        Element::M_DP_TA_1 {
            value: DoublePoint {
                value: DoubleState::Off,
                quality: Quality::GOOD,
            },
            time: Cp24Time2a::new(15, 30_000, false),
        },
        Element::M_ST_TB_1 {
            value: StepPosition {
                value: -3,
                transient: true,
            },
            quality: q,
            time: t56(1),
        },
        Element::M_ME_NA_1 {
            value: Normalized(-16_384),
            quality: q,
        },
        Element::M_ME_TE_1 {
            value: -42,
            quality: q,
            time: t56(2),
        },
        Element::M_IT_TB_1 {
            value: BinaryCounter {
                value: 123_456,
                sequence: 9,
                carry: true,
                adjusted: false,
                invalid: true,
            },
            time: t56(3),
        },
        Element::M_PS_NA_1 {
            value: StatusChanges {
                status: 0x00FF,
                changes: 0x0101,
            },
            quality: Quality::GOOD,
        },
        Element::M_EP_TD_1 {
            event: DoublePoint {
                value: DoubleState::On,
                quality: Quality(Quality::EI),
            },
            elapsed: Cp16Time2a(250),
            time: t56(4),
        },
    ];
    let records = (1..)
        .zip(&elements)
        .map(|(ioa, e)| record(9, ioa, e.clone()))
        .collect();
    write(guard.port(), records).await;
    let (image, _following, _rx) = start(guard.port(), None).await;
    let snapshot: Vec<Element> = image
        .snapshot(9)
        .expect("station 9")
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    assert_eq!(snapshot, elements);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_of_a_valkey_cluster_loads_from_every_node_and_follows_the_stream() {
    let cluster = ValkeyClusterGuard::start(3);
    let cluster_cfg = StoreConfig {
        mode: Mode::Cluster,
        ..cfg(cluster.seed_port())
    };
    let writer = Writer::spawn(cluster_cfg.clone());
    let points: Vec<PointRecord> = (1..=3u16)
        .flat_map(|ca| (0..1000u32).map(move |ioa| record(ca, ioa, float(ioa as f32))))
        .collect();
    writer.submit(points);
    writer.flush(T).await.expect("written");
    for node in cluster.nodes() {
        let keys: u64 = node
            .command(&["DBSIZE"])
            .expect("DBSIZE")
            .parse()
            .expect("a count");
        assert!(keys > 100, "the image is spread over every node: {keys}");
    }

    let image = Arc::new(ValkeyImage::new(None));
    let (tx, mut rx) = broadcast::channel(1024);
    let following = server::start(&cluster_cfg, Arc::clone(&image), tx)
        .await
        .expect("started");
    assert_eq!(following.loaded().points, 3000);
    assert_eq!(following.loaded().malformed, 0);
    assert_eq!(image.stations(), vec![1, 2, 3]);
    for ca in 1..=3 {
        let ioas = ioas(image.snapshot(ca));
        assert_eq!(ioas, (0..1000).collect::<Vec<u32>>(), "station {ca}");
    }

    writer.submit(vec![record(2, 5000, float(0.25))]);
    writer.flush(T).await.expect("written");
    let asdu = next_update(&mut rx).await;
    assert_eq!((asdu.common_address, asdu.objects[0].ioa), (2, 5000));
    assert_eq!(image.read(2, 5000), ReadResult::Point(float(0.25)));
    writer.shutdown(T).await;
}
