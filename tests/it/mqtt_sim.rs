//! `alp-connex mqtt-sim` as a process against a real mosquitto: every
//! message arrives on a documented topic with its documented payload shape,
//! values within their bands; the summary line counts them; a count is
//! kept at a paced rate; a bad option value exits 2 with one line; a login
//! with the password from a file or the environment is accepted and a
//! wrong one ends the run with status 1; QoS 1 messages the broker never
//! acknowledged are sent again after its restart; SIGTERM ends an unlimited run with the summary.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rumqttc::QoS;
use serde_json::Value;

use crate::support::{MosquittoGuard, MosquittoOptions, MqttClient, TempDir, send_signal};

const T: Duration = Duration::from_secs(20);
const PASSWORD_ENV: &str = "ALP_CONNEX_MQTT_SIM_PASSWORD";

/// `alp-connex mqtt-sim ARGS` with stdout and stderr piped, the password
/// variable removed.
fn spawn_sim(args: &[&str], env: &[(&str, &str)]) -> Sim {
    let mut child = Command::new(env!("CARGO_BIN_EXE_alp-connex"))
        .arg("mqtt-sim")
        .args(args)
        .env_remove(PASSWORD_ENV)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mqtt-sim starts");
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = read(Box::new(child.stdout.take().expect("piped")));
    let stderr = read(Box::new(child.stderr.take().expect("piped")));
    Sim {
        child,
        stdout: Some(stdout),
        stderr: Some(stderr),
    }
}

/// A running simulator; killed on drop if still running.
struct Sim {
    child: Child,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

/// How a simulator run ended.
struct Ended {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Sim {
    /// Waits (at most [`T`]) for the process to exit.
    fn wait(mut self) -> Ended {
        let deadline = Instant::now() + T;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let stderr = self.stderr.take().map(|h| h.join().unwrap_or_default());
                panic!("mqtt-sim did not end within {T:?}; stderr:\n{stderr:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Ended {
            code: status.code(),
            stdout: self.stdout.take().expect("once").join().expect("stdout"),
            stderr: self.stderr.take().expect("once").join().expect("stderr"),
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The summary line's fields, after checking its exact form
/// `published=N seconds=S.sss rate=R.r qos=Q`.
fn summary(stdout: &str) -> BTreeMap<String, String> {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stdout: {stdout:?}");
    let fields: BTreeMap<String, String> = lines[0]
        .split(' ')
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("key=value");
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let keys: Vec<&str> = lines[0]
        .split(' ')
        .map(|kv| kv.split('=').next().unwrap())
        .collect();
    assert_eq!(keys, ["published", "seconds", "rate", "qos"], "{stdout:?}");
    fields["published"]
        .parse::<u64>()
        .expect("published is a count");
    let seconds = &fields["seconds"];
    assert_eq!(
        seconds.split_once('.').expect("S.sss").1.len(),
        3,
        "{seconds}"
    );
    seconds.parse::<f64>().expect("seconds is a number");
    let rate = &fields["rate"];
    assert_eq!(rate.split_once('.').expect("R.r").1.len(), 1, "{rate}");
    rate.parse::<f64>().expect("rate is a number");
    fields
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The documented sensors of one station: (topic levels after the
/// station, device).
const SENSORS: [(&str, &str); 5] = [
    ("climate/ts-1", "ts-1"),
    ("climate/ts-2", "ts-2"),
    ("door/dc-1", "dc-1"),
    ("transformer/tr-1", "tr-1"),
    ("gis/sf6-1", "sf6-1"),
];

fn number(v: &Value, key: &str, band: std::ops::RangeInclusive<f64>) -> f64 {
    let n = v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is a number in {v}"));
    assert!(band.contains(&n), "{key} = {n} outside {band:?}: {v}");
    n
}

/// The raw text of the `ts` field of a payload.
fn raw_ts(payload: &str) -> &str {
    let start = payload.find("\"ts\":").expect("a ts field") + 5;
    let rest = &payload[start..];
    &rest[..rest.find(',').expect("more fields after ts")]
}

/// Checks one message against the documented topics, shapes and bands;
/// `now` is the test's clock in Unix milliseconds.
fn check_message(prefix: &str, stations: u32, topic: &str, payload: &[u8], now: i64) {
    let text = std::str::from_utf8(payload).expect("UTF-8 payload");
    let rest = topic
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('/'))
        .unwrap_or_else(|| panic!("{topic} under {prefix}/"));
    let (station, sensor) = rest.split_once('/').expect("a station level");
    let known: Vec<String> = (1..=stations).map(|n| format!("ss-{n:02}")).collect();
    assert!(known.iter().any(|s| s == station), "station of {topic}");
    let (_, device) = SENSORS
        .iter()
        .find(|(levels, _)| *levels == sensor)
        .unwrap_or_else(|| panic!("{topic} is no documented sensor topic"));
    let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(v["device"], *device, "{text}");
    let status = v["status"].as_str().expect("status is a string");
    assert!(["ok", "degraded", "fault"].contains(&status), "{text}");
    let mut keys: Vec<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let near_now = |ms: i64| (ms - now).abs() < 60_000;
    let ts = raw_ts(text);
    let expected: &[&str] = match *device {
        "ts-1" | "ts-2" | "dc-1" => {
            // "2026-11-29T11:00:00.123Z": RFC 3339, UTC, milliseconds.
            let s = v["ts"]
                .as_str()
                .unwrap_or_else(|| panic!("ts a string: {text}"));
            assert!(
                s.len() == 24 && s.as_bytes()[19] == b'.' && s.ends_with('Z'),
                "{text}"
            );
            let t: jiff::Timestamp = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
            assert!(near_now(t.as_millisecond()), "{text}");
            if *device == "dc-1" {
                assert!(["open", "closed"].contains(&v["door"].as_str().unwrap()));
                &["device", "door", "status", "ts"]
            } else {
                number(&v, "temperature", 10.0..=35.0);
                number(&v, "humidity", 30.0..=70.0);
                &["device", "humidity", "status", "temperature", "ts"]
            }
        }
        "tr-1" => {
            // Unix milliseconds, an integer.
            let ms = v["ts"]
                .as_u64()
                .unwrap_or_else(|| panic!("ts integer: {text}"));
            assert!(ts.bytes().all(|b| b.is_ascii_digit()), "{text}");
            assert!(near_now(ms as i64), "{text}");
            let oil = number(&v, "oil_temperature", 20.0..=95.0);
            let load = number(&v, "load", 0.0..=1.1);
            number(&v, "winding_temperature", oil..=oil + 22.1);
            assert!(load >= 0.05, "{text}");
            &[
                "device",
                "load",
                "oil_temperature",
                "status",
                "ts",
                "winding_temperature",
            ]
        }
        "sf6-1" => {
            // Unix seconds with a millisecond fraction.
            let (whole, fraction) = ts.split_once('.').unwrap_or_else(|| panic!("{text}"));
            assert!(
                fraction.len() == 3
                    && whole.bytes().all(|b| b.is_ascii_digit())
                    && fraction.bytes().all(|b| b.is_ascii_digit()),
                "{text}"
            );
            let seconds = v["ts"].as_f64().expect("ts a number");
            assert!(near_now((seconds * 1000.0) as i64), "{text}");
            let density = number(&v, "sf6_density", 39.5..=45.0);
            let pressure = number(&v, "sf6_pressure", 5.9..=6.8);
            assert!((pressure - density * 0.15).abs() <= 0.006, "{text}");
            assert_eq!(v["alarm"], density < 40.0, "{text}");
            &[
                "alarm",
                "device",
                "sf6_density",
                "sf6_pressure",
                "status",
                "ts",
            ]
        }
        _ => unreachable!(),
    };
    assert_eq!(keys, expected, "{text}");
}

/// Receives until `marker` arrives on `marker_topic`, returning what came
/// before it.
fn receive_until_marker(sub: &mut MqttClient, marker_topic: &str) -> Vec<(String, Vec<u8>)> {
    let mut got = Vec::new();
    loop {
        let p = sub.next_publish(T).unwrap_or_else(|| {
            panic!(
                "the marker did not arrive within {T:?} ({} messages before)",
                got.len()
            )
        });
        if p.topic == marker_topic {
            return got;
        }
        got.push((p.topic, p.payload.to_vec()));
    }
}

#[test]
fn fifty_messages_at_qos_1_arrive_on_the_documented_topics_in_the_documented_shapes_and_are_counted()
 {
    let broker = MosquittoGuard::start();
    let port = broker.port().to_string();
    let mut sub = MqttClient::connect(broker.port(), "it-sub", true, None);
    sub.subscribe("substations/#", QoS::AtLeastOnce);

    let started = now_ms();
    let ended = spawn_sim(
        &[
            "--count", "50", "--rate", "0", "--qos", "1", "--port", &port,
        ],
        &[],
    )
    .wait();
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    let fields = summary(&ended.stdout);
    assert_eq!(fields["published"], "50");
    assert_eq!(fields["qos"], "1");

    // Everything the simulator had acknowledged reached the subscriber
    // before a marker published afterwards.
    let mut marker = MqttClient::connect(broker.port(), "it-marker", true, None);
    marker.publish_acked("substations/marker", b"end");
    let got = receive_until_marker(&mut sub, "substations/marker");
    assert_eq!(got.len(), 50, "every message arrives, once");
    let mut per_topic: BTreeMap<&str, usize> = BTreeMap::new();
    for (topic, payload) in &got {
        check_message("substations", 2, topic, payload, started);
        *per_topic.entry(topic.as_str()).or_default() += 1;
    }
    // Two stations of five sensors, round-robin: each topic five times.
    assert_eq!(per_topic.len(), 10, "{per_topic:?}");
    assert!(per_topic.values().all(|&n| n == 5), "{per_topic:?}");
}

#[test]
fn a_paced_rate_with_a_count_publishes_exactly_that_many_at_qos_0() {
    let broker = MosquittoGuard::start();
    let port = broker.port().to_string();
    let mut sub = MqttClient::connect(broker.port(), "it-sub", true, None);
    sub.subscribe("plant/#", QoS::AtLeastOnce);

    let started = now_ms();
    let ended = spawn_sim(
        &[
            "--rate",
            "20",
            "--count",
            "12",
            "--qos",
            "0",
            "--port",
            &port,
            "--prefix",
            "plant",
            "--stations",
            "3",
            "--seed",
            "5",
        ],
        &[],
    )
    .wait();
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    let fields = summary(&ended.stdout);
    assert_eq!(
        (fields["published"].as_str(), fields["qos"].as_str()),
        ("12", "0")
    );

    let mut marker = MqttClient::connect(broker.port(), "it-marker", true, None);
    marker.publish_acked("plant/marker", b"end");
    let got = receive_until_marker(&mut sub, "plant/marker");
    assert_eq!(got.len(), 12);
    for (topic, payload) in &got {
        check_message("plant", 3, topic, payload, started);
    }
    let expected: Vec<String> = (1..=3)
        .flat_map(|s| {
            SENSORS
                .iter()
                .map(move |(l, _)| format!("plant/ss-{s:02}/{l}"))
        })
        .take(12)
        .collect();
    let topics: Vec<String> = got.into_iter().map(|(t, _)| t).collect();
    assert_eq!(topics, expected, "round-robin over the stations' sensors");
}

#[test]
fn a_bad_option_value_exits_2_with_one_line_naming_the_option_and_its_range() {
    for (args, line) in [
        (
            &["--port", "70000"][..],
            "error: --port = 70000: must be in 1..=65535\n",
        ),
        (&["--qos", "2"], "error: --qos = 2: must be 0 or 1\n"),
        (
            &["--stations", "0"],
            "error: --stations = 0: must be in 1..=1000\n",
        ),
        (
            &["--rate", "-1"],
            "error: --rate = -1: must be messages per second in 0.001..=1000000, or 0 (as fast as the broker takes them)\n",
        ),
        (
            &["--count", "0"],
            "error: --count = 0: must be in 1..=1000000000000\n",
        ),
        (
            &["--password-file", "/nonexistent/alp-connex-password"],
            "error: --password-file = /nonexistent/alp-connex-password: cannot read: No such file or directory (os error 2)\n",
        ),
    ] {
        let ended = spawn_sim(args, &[]).wait();
        assert_eq!(ended.code, Some(2), "{args:?}: {}", ended.stderr);
        assert_eq!(ended.stdout, "", "{args:?}");
        assert_eq!(ended.stderr, line, "{args:?}");
    }
}

#[test]
fn with_the_password_from_a_file_or_the_environment_the_sim_publishes_to_a_broker_requiring_a_login()
 {
    let broker = MosquittoGuard::with_password("sensor", "s3cret");
    let port = broker.port().to_string();
    let dir = TempDir::new("mqtt-sim");
    let file = dir.path().join("password");
    std::fs::write(&file, "s3cret\n").unwrap();
    let file = file.to_str().unwrap();

    let mut sub = MqttClient::connect(broker.port(), "it-sub", true, Some(("sensor", "s3cret")));
    sub.subscribe("substations/#", QoS::AtLeastOnce);
    let base = [
        "--count",
        "5",
        "--rate",
        "0",
        "--port",
        &port,
        "--username",
        "sensor",
    ];

    let from_file = spawn_sim(&[&base[..], &["--password-file", file]].concat(), &[]).wait();
    assert_eq!(from_file.code, Some(0), "{}", from_file.stderr);
    assert_eq!(summary(&from_file.stdout)["published"], "5");

    let from_env = spawn_sim(&base, &[(PASSWORD_ENV, "s3cret")]).wait();
    assert_eq!(from_env.code, Some(0), "{}", from_env.stderr);
    assert_eq!(summary(&from_env.stdout)["published"], "5");

    let mut marker =
        MqttClient::connect(broker.port(), "it-marker", true, Some(("sensor", "s3cret")));
    marker.publish_acked("substations/marker", b"end");
    assert_eq!(
        receive_until_marker(&mut sub, "substations/marker").len(),
        10
    );
}

#[test]
fn a_wrong_password_ends_the_run_with_an_error_line_naming_the_refusal_and_status_1() {
    let broker = MosquittoGuard::with_password("sensor", "s3cret");
    let port = broker.port().to_string();
    let ended = spawn_sim(
        &["--count", "5", "--port", &port, "--username", "sensor"],
        &[(PASSWORD_ENV, "wrong")],
    )
    .wait();
    assert_eq!(ended.code, Some(1), "{}", ended.stderr);
    let refusals: Vec<&str> = ended
        .stderr
        .lines()
        .filter(|l| l.contains("refused"))
        .collect();
    assert_eq!(refusals.len(), 1, "{}", ended.stderr);
    assert!(
        refusals[0].contains("ERROR")
            && refusals[0].contains(&format!(
                "the broker at 127.0.0.1:{port} refused the login: not authorised"
            )),
        "{}",
        refusals[0]
    );
    assert_eq!(ended.stdout, "published=0 seconds=0.000 rate=0.0 qos=1\n");
}

#[test]
fn qos_1_messages_unacknowledged_when_the_broker_goes_are_sent_again_to_the_restarted_broker() {
    let mut broker = MosquittoGuard::start_with(MosquittoOptions::new().persistence());
    let port = broker.port().to_string();
    // A persistent session keeps what the broker acknowledged across its
    // restart; what it never read is the simulator's to send again.
    let mut sub = MqttClient::connect(broker.port(), "it-persistent", false, None);
    sub.subscribe("substations/#", QoS::AtLeastOnce);

    let sim = spawn_sim(
        &[
            "--count", "400", "--rate", "200", "--qos", "1", "--port", &port, "--seed", "3",
        ],
        &[],
    );
    // Distinct messages (a QoS 1 message may come twice after the restart).
    let mut got = BTreeSet::new();
    while got.len() < 50 {
        let p = sub.next_publish(T).expect("the first messages arrive");
        got.insert((p.topic, p.payload.to_vec()));
    }
    // Frozen, the broker acknowledges nothing: wait until the simulator
    // has written some ten messages it will never read, then stop it
    // (SIGTERM before SIGCONT: it saves its sessions and exits without
    // reading them) and start it again.
    broker.pause();
    let deadline = Instant::now() + T;
    while broker.unread_bytes() < 1500 {
        assert!(
            Instant::now() < deadline,
            "the simulator wrote nothing more"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    broker.restart();

    let deadline = Instant::now() + T;
    while got.len() < 400 {
        let left = deadline.saturating_duration_since(Instant::now());
        let p = sub
            .next_publish(left)
            .unwrap_or_else(|| panic!("{} of 400 messages arrived", got.len()));
        got.insert((p.topic, p.payload.to_vec()));
    }
    let ended = sim.wait();
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    assert_eq!(summary(&ended.stdout)["published"], "400");
    assert!(
        ended
            .stderr
            .contains(&format!("connection to 127.0.0.1:{port} lost")),
        "the simulator saw the broker go: {}",
        ended.stderr
    );
    for (topic, payload) in &got {
        check_message("substations", 2, topic, payload, now_ms());
    }
}

#[test]
fn sigterm_ends_an_unlimited_run_with_the_summary_line_and_status_0() {
    let broker = MosquittoGuard::start();
    let port = broker.port().to_string();
    let mut sub = MqttClient::connect(broker.port(), "it-sub", true, None);
    sub.subscribe("substations/#", QoS::AtLeastOnce);
    let sim = spawn_sim(&["--rate", "50", "--port", &port], &[]);
    for _ in 0..10 {
        sub.next_publish(T).expect("messages arrive");
    }
    send_signal(sim.child.id(), libc::SIGTERM).expect("SIGTERM");
    let ended = sim.wait();
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    let fields = summary(&ended.stdout);
    let published: u64 = fields["published"].parse().unwrap();
    assert!(published > 0, "{fields:?}");
    assert_eq!(fields["qos"], "1");
    assert!(ended.stderr.contains("mqtt-sim stops"), "{}", ended.stderr);
}
