//! The Valkey store against real `valkey-server`s: the keys, stream fields
//! and ordering of the data contract, outages, passwords, the managed
//! configuration watch, the status key and Valkey Cluster.

use std::future::Future;
use std::time::Duration;

use alp_connex::config::Secret;
use alp_connex::store::{
    self, Mode, PointRecord, StoreConfig, Writer, WriterHandle, config_key, image_key, status_key,
};
use fred::clients::Client;
use fred::interfaces::{ClientLike, KeysInterface, StreamsInterface};
use fred::types::Value;
use fred::types::config::{Config, ServerConfig};

use crate::support::{ValkeyClusterGuard, ValkeyGuard};

const FLUSH: Duration = Duration::from_secs(10);
const STREAM: &str = "process:updates";
const SOURCE: &str = "inbound-test";

fn cfg(port: u16, cap: u64) -> StoreConfig {
    StoreConfig {
        host: "127.0.0.1".to_owned(),
        port,
        password: None,
        mode: Mode::Standalone,
        stream: STREAM.to_owned(),
        stream_max_length: cap,
        exact_trim: false,
        source: SOURCE.to_owned(),
    }
}

fn json(casdu: u16, ioa: u32, value: u64) -> String {
    format!(
        r#"{{"casdu":{casdu},"ioa":{ioa},"type_id":11,"type":"M_ME_NB_1","value":{value},"source":"{SOURCE}"}}"#
    )
}

fn point(casdu: u16, ioa: u32, value: u64) -> PointRecord {
    PointRecord {
        casdu,
        ioa,
        json: json(casdu, ioa, value),
    }
}

/// A plain client of the test's own, to look at what the store wrote
/// without the store's reading code.
async fn inspect(cfg: &StoreConfig) -> Client {
    let server = match cfg.mode {
        Mode::Standalone => ServerConfig::new_centralized(cfg.host.as_str(), cfg.port),
        Mode::Cluster => ServerConfig::new_clustered(vec![(cfg.host.as_str(), cfg.port)]),
    };
    let client = Client::new(
        Config {
            server,
            ..Config::default()
        },
        None,
        None,
        None,
    );
    client.init().await.expect("connect");
    client
}

/// Every entry of the stream: its fields in order, as (name, value).
async fn entries(client: &Client) -> Vec<Vec<(String, String)>> {
    let reply: Value = client.xrange(STREAM, "-", "+", None).await.expect("XRANGE");
    let Value::Array(items) = reply else {
        panic!("XRANGE answered {reply:?}");
    };
    items
        .into_iter()
        .map(|item| {
            let Value::Array(mut parts) = item else {
                panic!("stream entry {item:?}");
            };
            let Some(Value::Array(fields)) = parts.pop() else {
                panic!("stream entry fields {parts:?}");
            };
            fields
                .chunks(2)
                .map(|pair| {
                    let text = |v: &Value| v.as_string().expect("a string field");
                    (text(&pair[0]), text(&pair[1]))
                })
                .collect()
        })
        .collect()
}

async fn image(client: &Client, casdu: u16, ioa: u32) -> Option<String> {
    client.get(image_key(casdu, ioa)).await.expect("GET image")
}

async fn xlen(client: &Client) -> u64 {
    client.xlen(STREAM).await.expect("XLEN")
}

async fn flushed(writer: &WriterHandle) {
    if let Err(e) = writer.flush(FLUSH).await {
        panic!("flush: {e}; stats {:?}", writer.stats());
    }
}

/// Polls `check` every 20 ms until it holds; panics after `within`.
async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {within:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn contract_fields(casdu: u16, ioa: u32, value: u64) -> Vec<(String, String)> {
    [
        ("casdu", casdu.to_string()),
        ("ioa", ioa.to_string()),
        ("source", SOURCE.to_owned()),
        ("data", json(casdu, ioa, value)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_each_point_as_image_and_stream_entry_with_fields_in_contract_order() {
    let valkey = ValkeyGuard::start();
    let cfg = cfg(valkey.port(), 1000);
    let writer = Writer::spawn(cfg.clone());
    writer.submit(vec![point(100, 200, 1), point(100, 16_777_215, 2)]);
    writer.submit(vec![point(65535, 0, 3)]);
    flushed(&writer).await;

    let client = inspect(&cfg).await;
    assert_eq!(
        image(&client, 100, 200).await.as_deref(),
        Some(json(100, 200, 1).as_str())
    );
    assert_eq!(
        valkey
            .command(&["GET", "process:image:casdu:65535:ioa:0"])
            .unwrap(),
        json(65535, 0, 3)
    );
    assert_eq!(
        entries(&client).await,
        [
            contract_fields(100, 200, 1),
            contract_fields(100, 16_777_215, 2),
            contract_fields(65535, 0, 3)
        ]
    );
    let stats = writer.stats();
    assert_eq!((stats.written, stats.pending), (3, 0));
    assert!(stats.connected);
    assert_eq!(stats.outages, 0);
    writer.shutdown(FLUSH).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approximate_trimming_keeps_the_stream_near_its_cap() {
    let valkey = ValkeyGuard::start();
    let cfg = cfg(valkey.port(), 200);
    let writer = Writer::spawn(cfg.clone());
    for burst in 0..20 {
        writer.submit((0..100).map(|i| point(1, i, burst)).collect());
        flushed(&writer).await;
    }
    let client = inspect(&cfg).await;
    let len = xlen(&client).await;
    assert!(
        (200..=300).contains(&len),
        "MAXLEN ~ 200 left {len} entries"
    );
    assert_eq!(writer.stats().written, 2000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_trimming_keeps_exactly_the_cap() {
    let valkey = ValkeyGuard::start();
    let cfg = StoreConfig {
        exact_trim: true,
        ..cfg(valkey.port(), 150)
    };
    let writer = Writer::spawn(cfg.clone());
    for burst in 0..10 {
        writer.submit((0..100).map(|i| point(1, i, burst)).collect());
        flushed(&writer).await;
    }
    let client = inspect(&cfg).await;
    assert_eq!(xlen(&client).await, 150);
    let last = entries(&client).await.pop().expect("an entry");
    assert_eq!(last, contract_fields(1, 99, 9));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_value_wins_in_the_image_and_the_stream_keeps_every_value() {
    let valkey = ValkeyGuard::start();
    let cfg = cfg(valkey.port(), 1000);
    let writer = Writer::spawn(cfg.clone());
    writer.submit((1..=50).map(|v| point(7, 7, v)).collect());
    writer.submit(vec![point(7, 8, 1), point(7, 7, 51)]);
    flushed(&writer).await;

    let client = inspect(&cfg).await;
    assert_eq!(image(&client, 7, 7).await, Some(json(7, 7, 51)));
    let values: Vec<String> = entries(&client)
        .await
        .into_iter()
        .filter(|e| e[1].1 == "7")
        .map(|e| e[3].1.clone())
        .collect();
    let expected: Vec<String> = (1..=51).map(|v| json(7, 7, v)).collect();
    assert_eq!(values, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_points_submitted_in_bursts_arrive_in_order() {
    let valkey = ValkeyGuard::start();
    let cfg = cfg(valkey.port(), 5000);
    let writer = Writer::spawn(cfg.clone());
    let mut n = 0u64;
    let mut burst = 0u64;
    while n < 2000 {
        // Bursts of 1 to 99 points, with and without a yield between them.
        let size = (1 + (burst * 37) % 99).min(2000 - n);
        let points: Vec<PointRecord> = (n + 1..=n + size)
            .map(|v| point(2, u32::try_from(v % 300).unwrap(), v))
            .collect();
        n += size;
        writer.submit(points);
        if burst.is_multiple_of(3) {
            tokio::task::yield_now().await;
        }
        burst += 1;
    }
    flushed(&writer).await;

    let client = inspect(&cfg).await;
    let got = entries(&client).await;
    assert_eq!(got.len(), 2000, "{:?}", writer.stats());
    for (i, entry) in got.iter().enumerate() {
        let n = i as u64 + 1;
        assert_eq!(
            *entry,
            contract_fields(2, u32::try_from(n % 300).unwrap(), n),
            "entry {i}"
        );
    }
    assert_eq!(writer.stats().written, 2000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_larger_than_a_batch_is_written_in_order_before_flush_returns() {
    let valkey = ValkeyGuard::start();
    let cfg = cfg(valkey.port(), 20_000);
    let writer = Writer::spawn(cfg.clone());
    // More than one bounded batch (4096 entries), submitted at once.
    let points: Vec<PointRecord> = (0..10_000u64)
        .map(|v| point(3, u32::try_from(v % 7000).unwrap(), v))
        .collect();
    writer.submit(points);
    flushed(&writer).await;
    assert_eq!(writer.stats().written, 10_000);

    let client = inspect(&cfg).await;
    let got = entries(&client).await;
    assert_eq!(got.len(), 10_000);
    for (i, entry) in got.iter().enumerate() {
        let v = i as u64;
        assert_eq!(
            *entry,
            contract_fields(3, u32::try_from(v % 7000).unwrap(), v),
            "entry {i}"
        );
    }
    for ioa in [0u32, 2999, 3000, 6999] {
        let last = if ioa < 3000 {
            7000 + u64::from(ioa)
        } else {
            u64::from(ioa)
        };
        assert_eq!(image(&client, 3, ioa).await, Some(json(3, ioa, last)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_keeps_its_points_and_writes_them_once_valkey_accepts() {
    let valkey = ValkeyGuard::start();
    let cfg = cfg(valkey.port(), 5000);
    let client = inspect(&cfg).await;
    // The stream's name taken by a string: every XADD is refused.
    let _: () = client
        .set(STREAM, "not a stream", None, None, false)
        .await
        .expect("SET");
    let writer = Writer::spawn(cfg.clone());
    // Image values and stream entries over several calls of the write.
    writer.submit(
        (0..600u64)
            .map(|v| point(4, u32::try_from(v).unwrap(), v))
            .collect(),
    );
    eventually(Duration::from_secs(10), "a refused write", || async {
        writer
            .stats()
            .last_error
            .is_some_and(|e| e.contains("WRONGTYPE"))
    })
    .await;
    assert!(writer.stats().pending > 0);
    let _: () = client.del(STREAM).await.expect("DEL");
    flushed(&writer).await;

    let got = entries(&client).await;
    assert_eq!(
        got.len(),
        600,
        "every entry once, none lost: {:?}",
        writer.stats()
    );
    for (i, entry) in got.iter().enumerate() {
        let v = i as u64;
        assert_eq!(*entry, contract_fields(4, u32::try_from(v).unwrap(), v));
    }
    assert_eq!(image(&client, 4, 599).await, Some(json(4, 599, 599)));
    assert_eq!(writer.stats().written, 600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valkey_restart_loses_no_image_value_and_keeps_the_stream_up_to_the_cap() {
    let mut valkey = ValkeyGuard::start();
    let cfg = cfg(valkey.port(), 50);
    let writer = Writer::spawn(cfg.clone());
    writer.submit((0..10).map(|i| point(3, i, 0)).collect());
    flushed(&writer).await;

    valkey.stop();
    // 100 addresses, twice each: 200 stream entries, 100 image values.
    for round in 1..=2 {
        for i in 0..100 {
            writer.submit(vec![point(3, i, round)]);
        }
    }
    eventually(Duration::from_secs(5), "the writer sees the outage", || {
        let stats = writer.stats();
        async move { !stats.connected && stats.outages == 1 }
    })
    .await;
    assert!(writer.stats().last_error.is_some());
    valkey.restart();
    flushed(&writer).await;

    let stats = writer.stats();
    assert_eq!(stats.dropped_stream_entries, 150, "{stats:?}");
    assert_eq!(
        stats.trimmed_stream_entries, 0,
        "an outage is not the cap's doing"
    );
    assert_eq!(stats.written, 10 + 50);
    assert_eq!(stats.pending, 0);
    assert_eq!(stats.outages, 1);
    assert!(stats.connected);

    // The restarted server kept nothing: everything here came from the buffer.
    let client = inspect(&cfg).await;
    for i in 0..100 {
        assert_eq!(image(&client, 3, i).await, Some(json(3, i, 2)), "ioa {i}");
    }
    let expected: Vec<_> = (50..100).map(|i| contract_fields(3, i, 2)).collect();
    assert_eq!(entries(&client).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_beyond_the_cap_while_valkey_writes_count_as_trimmed_not_as_dropped() {
    let mut valkey = ValkeyGuard::start();
    let cfg = cfg(valkey.port(), 100);
    let writer = Writer::spawn(cfg.clone());
    writer.submit(vec![point(8, 0, 0)]);
    flushed(&writer).await;

    // 5000 points at once while Valkey is up: the batch writes the newest
    // 100 entries (the cap would have trimmed the others at once) and every
    // image value.
    writer.submit((1..=5000).map(|i| point(8, i, 1)).collect());
    flushed(&writer).await;
    let stats = writer.stats();
    assert_eq!(stats.trimmed_stream_entries, 4900, "{stats:?}");
    assert_eq!(stats.dropped_stream_entries, 0, "no outage: {stats:?}");
    assert_eq!((stats.written, stats.pending, stats.outages), (101, 0, 0));
    let client = inspect(&cfg).await;
    let got = entries(&client).await;
    let newest: Vec<_> = (4901..=5000).map(|i| contract_fields(8, i, 1)).collect();
    assert!(got.ends_with(&newest), "{} entries", got.len());
    for i in [1, 2500, 5000] {
        assert_eq!(image(&client, 8, i).await, Some(json(8, i, 1)), "ioa {i}");
    }

    // Points one by one, as fast as they come: whatever a write leaves out
    // while Valkey keeps writing is trimmed, never dropped.
    for i in 1..=20_000u32 {
        writer.submit(vec![point(8, i % 5000 + 1, 2)]);
    }
    flushed(&writer).await;
    let stats = writer.stats();
    assert_eq!(stats.dropped_stream_entries, 0, "{stats:?}");
    assert_eq!(
        stats.written + stats.trimmed_stream_entries,
        1 + 5000 + 20_000
    );
    assert_eq!((stats.pending, stats.outages), (0, 0));

    // Then an outage: what the buffer leaves out now is dropped, and the
    // trimmed count stays as it was.
    let trimmed_before = stats.trimmed_stream_entries;
    valkey.stop();
    writer.submit((1..=300).map(|i| point(8, i, 3)).collect());
    eventually(Duration::from_secs(5), "the writer sees the outage", || {
        let stats = writer.stats();
        async move { !stats.connected && stats.outages == 1 }
    })
    .await;
    valkey.restart();
    flushed(&writer).await;
    let stats = writer.stats();
    assert_eq!(stats.dropped_stream_entries, 200, "{stats:?}");
    assert_eq!(stats.trimmed_stream_entries, trimmed_before, "{stats:?}");
    assert_eq!(stats.outages, 1);
    writer.shutdown(FLUSH).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_while_valkey_is_down_and_writes_once_it_is_up() {
    let mut valkey = ValkeyGuard::start();
    valkey.stop();
    let cfg = cfg(valkey.port(), 100);
    let writer = Writer::spawn(cfg.clone());
    writer.submit(vec![point(4, 1, 1)]);
    eventually(Duration::from_secs(5), "an error is reported", || {
        let stats = writer.stats();
        async move { stats.last_error.is_some() }
    })
    .await;
    let stats = writer.stats();
    assert!(!stats.connected);
    assert_eq!(stats.pending, 1);
    assert!(
        stats
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains(&format!("127.0.0.1:{}", valkey.port()))),
        "{stats:?}"
    );
    valkey.restart();
    flushed(&writer).await;
    let client = inspect(&cfg).await;
    assert_eq!(image(&client, 4, 1).await, Some(json(4, 1, 1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_waits_for_writes_while_connected_and_never_while_valkey_is_down() {
    // A small stream cap: most stream entries are dropped at once, their
    // image values are still held until written, and room waits for them.
    let mut valkey = ValkeyGuard::start();
    let cfg = cfg(valkey.port(), 100);
    let writer = Writer::spawn(cfg.clone());
    writer.submit(vec![point(6, 0, 0)]);
    flushed(&writer).await;
    writer.submit((1..20_000).map(|i| point(6, i, 1)).collect());
    tokio::time::timeout(
        Duration::from_secs(10),
        writer.room(1000, Duration::from_secs(5)),
    )
    .await
    .expect("room while Valkey writes");
    assert!(writer.stats().pending <= 1000, "{:?}", writer.stats());
    // At most 1000 held and one batch (4096) in flight; the stream is one key.
    let keys: u64 = valkey.command(&["DBSIZE"]).unwrap().parse().unwrap();
    assert!(keys > 20_000 - 1000 - 4096, "{keys} keys written");
    flushed(&writer).await;

    valkey.stop();
    let written_before = writer.stats().written;
    writer.submit(vec![point(6, 1, 2)]);
    eventually(Duration::from_secs(5), "the outage is seen", || {
        let stats = writer.stats();
        async move { !stats.connected }
    })
    .await;
    writer.submit((0..5000).map(|i| point(6, i, 3)).collect());
    let started = std::time::Instant::now();
    writer.room(0, Duration::from_secs(5)).await;
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "room waited {:?} while Valkey is down",
        started.elapsed()
    );
    // Nothing went to Valkey meanwhile: room returned without a write.
    assert_eq!(writer.stats().written, written_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_protected_valkey_works() {
    let valkey = ValkeyGuard::start_with_password("s3cret pass");
    let cfg = StoreConfig {
        password: Some(Secret::new("s3cret pass")),
        ..cfg(valkey.port(), 100)
    };
    let writer = Writer::spawn(cfg.clone());
    writer.submit(vec![point(5, 5, 5)]);
    flushed(&writer).await;
    assert_eq!(
        valkey.command(&["GET", &image_key(5, 5)]).unwrap(),
        json(5, 5, 5)
    );
    assert_eq!(valkey.command(&["XLEN", STREAM]).unwrap(), "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_a_clear_error() {
    let valkey = ValkeyGuard::start_with_password("right");
    let cfg = StoreConfig {
        password: Some(Secret::new("wrong")),
        ..cfg(valkey.port(), 100)
    };
    let err = store::connect(&cfg).await.expect_err("a wrong password");
    assert!(matches!(err, store::StoreError::Auth { .. }), "{err:?}");

    let writer = Writer::spawn(cfg);
    writer.submit(vec![point(5, 5, 5)]);
    eventually(Duration::from_secs(5), "an error is reported", || {
        let stats = writer.stats();
        async move { stats.last_error.is_some() }
    })
    .await;
    let stats = writer.stats();
    let error = stats.last_error.unwrap_or_default();
    assert!(error.contains("refused the authentication"), "{error}");
    assert!(error.contains("WRONGPASS"), "{error}");
    assert!(!error.contains("wrong"), "the password leaked: {error}");
    assert!(!stats.connected);
    assert_eq!(stats.pending, 1);
    assert!(matches!(
        writer.flush(Duration::from_millis(100)).await,
        Err(store::StoreError::FlushTimeout { pending: 1, .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_read_after_an_id_gives_the_entries_after_it_in_order_and_its_info_where_it_stands()
 {
    use alp_connex::store::stream::{self, StreamId};
    let valkey = ValkeyGuard::start();
    let cfg = cfg(valkey.port(), 1000);
    let client = store::connect(&cfg).await.expect("connect");
    assert_eq!(stream::info(&client, STREAM).await.expect("XINFO"), None);
    let none = stream::read_after(&client, STREAM, StreamId::default(), 10, None).await;
    assert_eq!(none.expect("XREAD of a missing stream"), vec![]);

    let writer = Writer::spawn(cfg.clone());
    writer.submit((1..=5).map(|i| point(9, i, u64::from(i))).collect());
    flushed(&writer).await;
    let info = stream::info(&client, STREAM)
        .await
        .expect("XINFO")
        .expect("the stream exists");
    assert_eq!((info.length, info.added), (5, 5));
    assert!(info.first <= info.last_generated && info.first > StreamId::default());

    let all = stream::read_after(&client, STREAM, StreamId::default(), 10, None)
        .await
        .expect("XREAD");
    let fields: Vec<_> = all.iter().map(|e| e.fields.clone()).collect();
    let expected: Vec<_> = (1..=5)
        .map(|i| contract_fields(9, i, u64::from(i)))
        .collect();
    assert_eq!(fields, expected);
    assert_eq!(all.last().map(|e| e.id), Some(info.last_generated));

    let after_second = stream::read_after(&client, STREAM, all[1].id, 2, None)
        .await
        .expect("XREAD");
    let ids: Vec<StreamId> = after_second.iter().map(|e| e.id).collect();
    assert_eq!(ids, [all[2].id, all[3].id], "COUNT 2 after the second");

    let waited = stream::read_after(
        &client,
        STREAM,
        info.last_generated,
        10,
        Some(Duration::from_millis(100)),
    )
    .await
    .expect("XREAD BLOCK");
    assert_eq!(
        waited,
        vec![],
        "nothing after the last entry within the block"
    );
    writer.shutdown(FLUSH).await;
    client.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_managed_configuration_read_once_is_the_keys_value_or_none() {
    let valkey = ValkeyGuard::start();
    let cfg = cfg(valkey.port(), 100);
    assert_eq!(store::read_config(&cfg, "inbound-1").await, Ok(None));
    valkey
        .command(&["SET", &config_key("inbound-1"), r#"{"port":2405}"#])
        .unwrap();
    assert_eq!(
        store::read_config(&cfg, "inbound-1")
            .await
            .map(|v| v.map(|t| t.to_string())),
        Ok(Some(r#"{"port":2405}"#.to_owned()))
    );
}

/// Whether one client is subscribed to the channel `key`.
fn subscribed(valkey: &ValkeyGuard, key: &str) -> bool {
    valkey.command(&["PUBSUB", "NUMSUB", key]).unwrap() == format!("{key}\n1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_config_watch_sees_a_publish_at_once_a_plain_set_within_2_s_and_a_restart() {
    let mut valkey = ValkeyGuard::start();
    let cfg = cfg(valkey.port(), 100);
    let key = config_key("inbound-1");
    valkey
        .command(&["SET", &key, r#"{"host":"10.0.0.1"}"#])
        .unwrap();
    let mut rx = store::watch_config(cfg, "inbound-1");
    tokio::time::timeout(
        Duration::from_secs(5),
        rx.wait_for(|v| v.peek().flatten().as_deref() == Some(r#"{"host":"10.0.0.1"}"#)),
    )
    .await
    .expect("the value at start")
    .expect("watch open");

    eventually(Duration::from_secs(5), "subscribed", || async {
        subscribed(&valkey, &key)
    })
    .await;
    valkey
        .command(&["SET", &key, r#"{"host":"10.0.0.2"}"#])
        .unwrap();
    assert_eq!(valkey.command(&["PUBLISH", &key, &key]).unwrap(), "1");
    tokio::time::timeout(
        Duration::from_millis(300),
        rx.wait_for(|v| v.peek().flatten().as_deref() == Some(r#"{"host":"10.0.0.2"}"#)),
    )
    .await
    .expect("a published change at once")
    .expect("watch open");

    valkey
        .command(&["SET", &key, r#"{"host":"10.0.0.3"}"#])
        .unwrap();
    tokio::time::timeout(
        Duration::from_secs(2),
        rx.wait_for(|v| v.peek().flatten().as_deref() == Some(r#"{"host":"10.0.0.3"}"#)),
    )
    .await
    .expect("a plain SET within 2 s")
    .expect("watch open");

    // The same content again is no change.
    valkey
        .command(&["SET", &key, r#"{"host":"10.0.0.3"}"#])
        .unwrap();
    valkey.command(&["PUBLISH", &key, &key]).unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), rx.changed())
            .await
            .is_err(),
        "an unchanged value was sent"
    );

    // The restarted server is empty: the watch goes to None, then follows a
    // publish on the new subscription.
    valkey.restart();
    tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|v| v.is_absent()))
        .await
        .expect("the deleted key after the restart")
        .expect("watch open");
    eventually(Duration::from_secs(10), "subscribed again", || async {
        subscribed(&valkey, &key)
    })
    .await;
    valkey
        .command(&["SET", &key, r#"{"host":"10.0.0.4"}"#])
        .unwrap();
    valkey.command(&["PUBLISH", &key, &key]).unwrap();
    tokio::time::timeout(
        Duration::from_millis(300),
        rx.wait_for(|v| v.peek().flatten().as_deref() == Some(r#"{"host":"10.0.0.4"}"#)),
    )
    .await
    .expect("a published change after the restart")
    .expect("watch open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_key_expires_within_15_s() {
    let valkey = ValkeyGuard::start();
    let client = store::connect(&cfg(valkey.port(), 100))
        .await
        .expect("connect");
    let status = r#"{"id":"inbound-1","state":"connected"}"#;
    store::set_status(&client, "inbound-1", status)
        .await
        .expect("set_status");
    let key = status_key("inbound-1");
    assert_eq!(valkey.command(&["GET", &key]).unwrap(), status);
    let ttl: i64 = valkey.command(&["TTL", &key]).unwrap().parse().unwrap();
    assert!((1..=15).contains(&ttl), "TTL {ttl}");
    client.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_cluster_points_spread_over_the_shards_and_the_stream_gets_every_entry() {
    let cluster = ValkeyClusterGuard::start(3);
    let cfg = StoreConfig {
        mode: Mode::Cluster,
        ..cfg(cluster.seed_port(), 10_000)
    };
    let writer = Writer::spawn(cfg.clone());
    for burst in 0..10u64 {
        writer.submit((0..100).map(|i| point(6, i, burst)).collect());
    }
    flushed(&writer).await;

    for node in cluster.nodes() {
        let keys: u64 = node.command(&["DBSIZE"]).unwrap().parse().unwrap();
        assert!(keys > 0, "node {} holds no key", node.port());
    }
    let client = inspect(&cfg).await;
    assert_eq!(xlen(&client).await, 1000);
    let got = entries(&client).await;
    for (i, entry) in got.iter().enumerate() {
        let (burst, ioa) = (i as u64 / 100, u32::try_from(i % 100).unwrap());
        assert_eq!(*entry, contract_fields(6, ioa, burst), "entry {i}");
    }
    for i in 0..100 {
        assert_eq!(image(&client, 6, i).await, Some(json(6, i, 9)));
    }
    writer.shutdown(FLUSH).await;
}

/// Valkey's count of calls of one command (`INFO commandstats`).
fn command_calls(valkey: &ValkeyGuard, command: &str) -> u64 {
    let info = valkey
        .command(&["INFO", "commandstats"])
        .unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// `tot-net-out` of the connection whose last command was EVAL (the
/// watch's reader).
fn reader_bytes_out(valkey: &ValkeyGuard) -> u64 {
    let list = valkey.command(&["CLIENT", "LIST"]).unwrap_or_default();
    list.lines()
        .find(|l| l.contains(" cmd=eval "))
        .and_then(|l| l.split(' ').find_map(|f| f.strip_prefix("tot-net-out=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// A configuration that does not change is not read again: the polls ask
/// Valkey whether its SHA-1 changed and get a short answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_config_watch_reads_an_unchanged_value_once_and_a_changed_one_again() {
    let valkey = ValkeyGuard::start();
    let cfg = cfg(valkey.port(), 100);
    let key = config_key("mqtt-1");
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(100_000));
    valkey.command(&["SET", &key, &big]).unwrap();
    let mut rx = store::watch_config(cfg, "mqtt-1");
    tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|v| !v.is_absent()))
        .await
        .expect("the value at start")
        .expect("watch open");
    eventually(Duration::from_secs(10), "two polls by script", || async {
        command_calls(&valkey, "eval") >= 2
    })
    .await;
    // The reader's output so far: the value once, at start.
    let before = reader_bytes_out(&valkey);
    assert!(
        (big.len() as u64..2 * big.len() as u64).contains(&before),
        "{before} octets"
    );
    let evals = command_calls(&valkey, "eval");
    eventually(Duration::from_secs(10), "three more polls", || async {
        command_calls(&valkey, "eval") >= evals + 3
    })
    .await;
    let after = reader_bytes_out(&valkey);
    assert!(
        after - before < 200,
        "three polls of an unchanged value sent {} octets",
        after - before
    );
    valkey.command(&["SET", &key, r#"{"small":1}"#]).unwrap();
    tokio::time::timeout(
        Duration::from_secs(2),
        rx.wait_for(|v| v.peek().flatten().as_deref() == Some(r#"{"small":1}"#)),
    )
    .await
    .expect("a plain SET within 2 s")
    .expect("watch open");
    valkey.command(&["DEL", &key]).unwrap();
    tokio::time::timeout(Duration::from_secs(2), rx.wait_for(|v| v.is_absent()))
        .await
        .expect("a deleted key within 2 s")
        .expect("watch open");
}
