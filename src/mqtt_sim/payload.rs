//! The simulated sensors and their JSON payloads, without I/O: a [`Fleet`]
//! of five sensors per station, each a small state that drifts by a
//! random walk within its band, stepped round-robin and rendered into a
//! caller's buffer.
//!
//! Per station `ss-NN` (two digits, from `ss-01`) under the prefix:
//!
//! | topic | payload |
//! |---|---|
//! | `{prefix}/ss-NN/climate/ts-1`, `ts-2` | `{"device":"ts-1","ts":"2026-11-29T11:00:00.123Z","temperature":21.4,"humidity":45.2,"status":"ok"}` |
//! | `{prefix}/ss-NN/door/dc-1` | `{"device":"dc-1","ts":"2026-11-29T11:00:00.123Z","door":"closed","status":"ok"}` |
//! | `{prefix}/ss-NN/transformer/tr-1` | `{"device":"tr-1","ts":1795950000123,"oil_temperature":55.2,"winding_temperature":63.0,"load":0.62,"status":"ok"}` |
//! | `{prefix}/ss-NN/gis/sf6-1` | `{"device":"sf6-1","ts":1795950000.123,"sf6_density":42.1,"sf6_pressure":6.32,"alarm":false,"status":"ok"}` |
//!
//! `ts` is the time given to [`Fleet::next`]: RFC 3339 in UTC with
//! milliseconds (climate, door), Unix milliseconds as an integer
//! (transformer), Unix seconds with a millisecond fraction (GIS). The
//! values and their bands:
//!
//! - `temperature` 10.0..=35.0 °C (one decimal): 21 °C, a daily swing of
//!   ±2.5 °C peaking at 15:00 UTC and a per-sensor drift of ±3 °C;
//!   `humidity` 30.0..=70.0 % (one decimal);
//! - `door` `"closed"` or `"open"`: opens with probability 1/100 per
//!   message, closes with 1/5;
//! - `load` 0.05..=1.10 (two decimals); `oil_temperature` 20.0..=95.0 °C
//!   following 25 °C + 55 °C × load² and the daily swing;
//!   `winding_temperature` = oil + 20 °C × load (one decimal each);
//! - `sf6_density` 39.5..=45.0 kg/m³ (one decimal); `sf6_pressure` =
//!   density × 0.15 bar (two decimals); `alarm` true when the density shown
//!   is below 40.0 kg/m³;
//! - `status` `"ok"`, rarely `"degraded"` (entered with probability 1/500
//!   per message, left with 1/20) or `"fault"` (1/2000, left with 1/50).
//!
//! The random walk comes from a seeded SplitMix64 generator: the same seed
//! and times give the same payloads.

use core::fmt::{self, Write};
use core::num::NonZeroU16;

/// Sensors per station.
pub const SENSORS_PER_STATION: usize = 5;

/// The density below which a GIS compartment raises its alarm, kg/m³.
pub const SF6_ALARM_DENSITY: f64 = 40.0;

/// Pressure per density of the SF6 gas, bar per kg/m³.
const SF6_BAR_PER_DENSITY: f64 = 0.15;

/// The kind of a sensor, which fixes its topic level and payload shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Room temperature and humidity.
    Climate,
    /// A door contact.
    Door,
    /// Transformer oil and winding temperature and load.
    Transformer,
    /// SF6 gas density and pressure of a gas-insulated switchgear.
    Gis,
}

impl Kind {
    /// The topic level of the kind.
    pub fn level(self) -> &'static str {
        match self {
            Kind::Climate => "climate",
            Kind::Door => "door",
            Kind::Transformer => "transformer",
            Kind::Gis => "gis",
        }
    }
}

/// The sensors of one station, in the order they are stepped.
pub const STATION_SENSORS: [(Kind, &str); SENSORS_PER_STATION] = [
    (Kind::Climate, "ts-1"),
    (Kind::Climate, "ts-2"),
    (Kind::Door, "dc-1"),
    (Kind::Transformer, "tr-1"),
    (Kind::Gis, "sf6-1"),
];

/// The `status` a sensor reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Degraded,
    Fault,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Degraded => "degraded",
            Status::Fault => "fault",
        }
    }

    fn step(self, rng: &mut Rng) -> Status {
        match self {
            Status::Ok if rng.chance(1.0 / 2000.0) => Status::Fault,
            Status::Ok if rng.chance(1.0 / 500.0) => Status::Degraded,
            Status::Degraded if rng.chance(1.0 / 20.0) => Status::Ok,
            Status::Fault if rng.chance(1.0 / 50.0) => Status::Ok,
            same => same,
        }
    }
}

/// What a sensor remembers between two messages.
#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// Drift of the temperature from the daily curve, and the humidity.
    Climate {
        drift: f64,
        humidity: f64,
    },
    Door {
        open: bool,
    },
    Transformer {
        load: f64,
        oil: f64,
    },
    Gis {
        density: f64,
    },
}

/// One simulated sensor.
#[derive(Debug, Clone)]
struct Sensor {
    topic: String,
    device: &'static str,
    status: Status,
    state: State,
}

/// Every simulated sensor of every station, stepped round-robin.
#[derive(Debug, Clone)]
pub struct Fleet {
    sensors: Vec<Sensor>,
    next: usize,
    rng: Rng,
}

impl Fleet {
    /// The sensors of stations `ss-01` up to `stations` under `prefix`,
    /// their start values drawn from `seed`.
    pub fn new(prefix: &str, stations: NonZeroU16, seed: u64) -> Fleet {
        let mut rng = Rng(seed);
        let mut sensors = Vec::with_capacity(usize::from(stations.get()) * SENSORS_PER_STATION);
        for station in 1..=stations.get() {
            for (kind, device) in STATION_SENSORS {
                let state = match kind {
                    Kind::Climate => State::Climate {
                        drift: rng.symmetric() * 1.5,
                        humidity: 40.0 + rng.unit() * 20.0,
                    },
                    Kind::Door => State::Door { open: false },
                    Kind::Transformer => {
                        let load = 0.3 + rng.unit() * 0.5;
                        State::Transformer {
                            load,
                            oil: oil_target(load, 0.0),
                        }
                    }
                    Kind::Gis => State::Gis {
                        density: 41.5 + rng.unit() * 2.0,
                    },
                };
                sensors.push(Sensor {
                    topic: format!("{prefix}/ss-{station:02}/{}/{device}", kind.level()),
                    device,
                    status: Status::Ok,
                    state,
                });
            }
        }
        Fleet {
            sensors,
            next: 0,
            rng,
        }
    }

    /// How many sensors there are.
    pub fn len(&self) -> usize {
        self.sensors.len()
    }

    /// Whether there is no sensor (never: a fleet has one station at least).
    pub fn is_empty(&self) -> bool {
        self.sensors.is_empty()
    }

    /// Every topic, in the order the sensors are stepped.
    pub fn topics(&self) -> impl Iterator<Item = &str> {
        self.sensors.iter().map(|s| s.topic.as_str())
    }

    /// Steps the next sensor in turn to the time `now_ms` (Unix
    /// milliseconds), appends its payload to `out` and returns its topic.
    pub fn next(&mut self, now_ms: i64, out: &mut impl Write) -> Result<&str, fmt::Error> {
        let index = self.next;
        self.next = if index + 1 >= self.sensors.len() {
            0
        } else {
            index + 1
        };
        let Some(sensor) = self.sensors.get_mut(index) else {
            return Err(fmt::Error);
        };
        let rng = &mut self.rng;
        sensor.status = sensor.status.step(rng);
        sensor.state = step(sensor.state, rng, now_ms);
        write_payload(out, sensor, now_ms)?;
        Ok(&sensor.topic)
    }
}

/// The daily temperature swing at `now_ms`, °C: ±2.5, highest at 15:00
/// UTC.
fn daily_swing(now_ms: i64) -> f64 {
    const DAY_MS: i64 = 86_400_000;
    let day_fraction = now_ms.rem_euclid(DAY_MS) as f64 / DAY_MS as f64;
    2.5 * (core::f64::consts::TAU * (day_fraction - 0.375)).sin()
}

/// Where the oil temperature settles at `load`, °C.
fn oil_target(load: f64, swing: f64) -> f64 {
    25.0 + 55.0 * load * load + swing
}

/// `value` moved by at most `step` either way, kept within `min..=max`.
fn walk(value: f64, rng: &mut Rng, step: f64, min: f64, max: f64) -> f64 {
    (value + rng.symmetric() * step).clamp(min, max)
}

fn step(state: State, rng: &mut Rng, now_ms: i64) -> State {
    match state {
        State::Climate { drift, humidity } => State::Climate {
            drift: walk(drift, rng, 0.05, -3.0, 3.0),
            humidity: walk(humidity, rng, 0.3, 30.0, 70.0),
        },
        State::Door { open } => State::Door {
            open: if open {
                !rng.chance(1.0 / 5.0)
            } else {
                rng.chance(1.0 / 100.0)
            },
        },
        State::Transformer { load, oil } => {
            let load = walk(load, rng, 0.01, 0.05, 1.10);
            let target = oil_target(load, daily_swing(now_ms));
            let oil = (oil + (target - oil) * 0.02 + rng.symmetric() * 0.1).clamp(20.0, 95.0);
            State::Transformer { load, oil }
        }
        State::Gis { density } => State::Gis {
            density: walk(density, rng, 0.02, 39.5, 45.0),
        },
    }
}

/// `value` rounded to tenths, as it is shown.
fn tenths(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

fn write_payload(out: &mut impl Write, sensor: &Sensor, now_ms: i64) -> fmt::Result {
    write!(out, "{{\"device\":\"{}\",\"ts\":", sensor.device)?;
    match sensor.state {
        State::Climate { drift, humidity } => {
            write_rfc3339(out, now_ms)?;
            let temperature = (21.0 + daily_swing(now_ms) + drift).clamp(10.0, 35.0);
            write!(
                out,
                ",\"temperature\":{temperature:.1},\"humidity\":{humidity:.1}"
            )?;
        }
        State::Door { open } => {
            write_rfc3339(out, now_ms)?;
            let door = if open { "open" } else { "closed" };
            write!(out, ",\"door\":\"{door}\"")?;
        }
        State::Transformer { load, oil } => {
            let winding = oil + 20.0 * load;
            write!(
                out,
                "{now_ms},\"oil_temperature\":{oil:.1},\"winding_temperature\":{winding:.1},\"load\":{load:.2}"
            )?;
        }
        State::Gis { density } => {
            let density = tenths(density);
            let pressure = density * SF6_BAR_PER_DENSITY;
            let alarm = density < SF6_ALARM_DENSITY;
            write!(
                out,
                "{}.{:03},\"sf6_density\":{density:.1},\"sf6_pressure\":{pressure:.2},\"alarm\":{alarm}",
                now_ms.div_euclid(1000),
                now_ms.rem_euclid(1000)
            )?;
        }
    }
    write!(out, ",\"status\":\"{}\"}}", sensor.status.as_str())
}

/// `"2026-11-29T11:00:00.123Z"`, quoted.
fn write_rfc3339(out: &mut impl Write, now_ms: i64) -> fmt::Result {
    let ts = jiff::Timestamp::from_millisecond(now_ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    write!(out, "\"{ts:.3}\"")
}

/// SplitMix64: small, fast, and the same sequence for the same seed.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        // The top 53 bits fit an f64 mantissa exactly.
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [-1, 1).
    fn symmetric(&mut self) -> f64 {
        self.unit() * 2.0 - 1.0
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// 2026-11-29T11:00:00.123Z.
    const T0: i64 = 1_795_950_000_123;

    fn stations(n: u16) -> NonZeroU16 {
        NonZeroU16::new(n).unwrap()
    }

    /// The next message as (topic, payload text).
    fn next(fleet: &mut Fleet, now_ms: i64) -> (String, String) {
        let mut out = String::new();
        let topic = fleet.next(now_ms, &mut out).unwrap().to_owned();
        (topic, out)
    }

    #[test]
    fn the_documented_example_time_renders_in_each_of_the_three_forms() {
        let mut fleet = Fleet::new("substations", stations(1), 1);
        let payloads: Vec<String> = (0..5).map(|_| next(&mut fleet, T0).1).collect();
        assert!(payloads[0].contains("\"ts\":\"2026-11-29T11:00:00.123Z\""));
        assert!(payloads[2].contains("\"ts\":\"2026-11-29T11:00:00.123Z\""));
        assert!(payloads[3].contains("\"ts\":1795950000123,"));
        assert!(payloads[4].contains("\"ts\":1795950000.123,"));
        // Whole seconds keep their three digits.
        let mut out = String::new();
        write_rfc3339(&mut out, 1_795_950_000_000).unwrap();
        assert_eq!(out, "\"2026-11-29T11:00:00.000Z\"");
    }

    #[test]
    fn each_station_has_the_five_documented_topics_in_turn() {
        let mut fleet = Fleet::new("substations", stations(2), 1);
        assert_eq!(fleet.len(), 10);
        let expected = [
            "substations/ss-01/climate/ts-1",
            "substations/ss-01/climate/ts-2",
            "substations/ss-01/door/dc-1",
            "substations/ss-01/transformer/tr-1",
            "substations/ss-01/gis/sf6-1",
            "substations/ss-02/climate/ts-1",
            "substations/ss-02/climate/ts-2",
            "substations/ss-02/door/dc-1",
            "substations/ss-02/transformer/tr-1",
            "substations/ss-02/gis/sf6-1",
        ];
        assert_eq!(fleet.topics().collect::<Vec<_>>(), expected);
        let sent: Vec<String> = (0..20).map(|i| next(&mut fleet, T0 + i).0).collect();
        let twice: Vec<&str> = expected.iter().chain(&expected).copied().collect();
        assert_eq!(sent, twice, "round-robin, then again from the first");
    }

    #[test]
    fn payloads_have_exactly_the_documented_fields_and_types() {
        let mut fleet = Fleet::new("p", stations(1), 3);
        for i in 0..5 {
            let (topic, text) = next(&mut fleet, T0 + i);
            let v: Value = serde_json::from_str(&text).unwrap();
            let device = topic.rsplit('/').next().unwrap();
            assert_eq!(v["device"], device, "{text}");
            let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
            keys.sort_unstable();
            let mut expected = match device {
                "ts-1" | "ts-2" => {
                    assert!(v["ts"].is_string() && v["temperature"].is_f64());
                    assert!(v["humidity"].is_f64());
                    vec!["device", "ts", "temperature", "humidity", "status"]
                }
                "dc-1" => {
                    assert!(v["ts"].is_string() && v["door"].is_string());
                    vec!["device", "ts", "door", "status"]
                }
                "tr-1" => {
                    assert!(v["ts"].is_u64(), "{text}");
                    assert!(v["oil_temperature"].is_f64() && v["winding_temperature"].is_f64());
                    assert!(v["load"].is_f64());
                    vec![
                        "device",
                        "ts",
                        "oil_temperature",
                        "winding_temperature",
                        "load",
                        "status",
                    ]
                }
                "sf6-1" => {
                    assert!(v["ts"].is_f64(), "{text}");
                    assert!(v["sf6_density"].is_f64() && v["sf6_pressure"].is_f64());
                    assert!(v["alarm"].is_boolean());
                    vec![
                        "device",
                        "ts",
                        "sf6_density",
                        "sf6_pressure",
                        "alarm",
                        "status",
                    ]
                }
                other => panic!("unexpected device {other}"),
            };
            expected.sort_unstable();
            assert_eq!(keys, expected, "{text}");
        }
    }

    fn f(v: &Value, key: &str) -> f64 {
        v[key].as_f64().unwrap_or_else(|| panic!("{key} in {v}"))
    }

    #[test]
    fn values_stay_in_their_bands_over_many_steps_and_every_status_occurs() {
        let mut fleet = Fleet::new("p", stations(3), 42);
        let mut statuses = std::collections::BTreeMap::new();
        let (mut opened, mut alarms, mut full_load) = (0, 0, 0);
        // A day, a message every 300 ms over 15 sensors.
        const MESSAGES: i64 = 300_000;
        for i in 0..MESSAGES {
            let now = T0 + i * 300;
            let (topic, text) = next(&mut fleet, now);
            let v: Value = serde_json::from_str(&text).unwrap();
            *statuses
                .entry(v["status"].as_str().unwrap().to_owned())
                .or_insert(0u32) += 1;
            match topic.rsplit('/').next().unwrap() {
                "ts-1" | "ts-2" => {
                    assert!((10.0..=35.0).contains(&f(&v, "temperature")), "{text}");
                    assert!((30.0..=70.0).contains(&f(&v, "humidity")), "{text}");
                }
                "dc-1" => match v["door"].as_str().unwrap() {
                    "open" => opened += 1,
                    "closed" => {}
                    other => panic!("door {other}"),
                },
                "tr-1" => {
                    let (oil, winding, load) = (
                        f(&v, "oil_temperature"),
                        f(&v, "winding_temperature"),
                        f(&v, "load"),
                    );
                    assert!((20.0..=95.0).contains(&oil), "{text}");
                    assert!((0.05..=1.10).contains(&load), "{text}");
                    assert!(winding >= oil && winding <= oil + 22.1, "{text}");
                    if load >= 1.0 {
                        full_load += 1;
                    }
                }
                "sf6-1" => {
                    let density = f(&v, "sf6_density");
                    assert!((39.5..=45.0).contains(&density), "{text}");
                    let pressure = f(&v, "sf6_pressure");
                    assert!((pressure - density * 0.15).abs() <= 0.005, "{text}");
                    assert_eq!(v["alarm"], density < SF6_ALARM_DENSITY, "{text}");
                    if v["alarm"] == true {
                        alarms += 1;
                    }
                }
                other => panic!("unexpected {other}"),
            }
        }
        let ok = statuses["ok"];
        let degraded = statuses.get("degraded").copied().unwrap_or(0);
        let fault = statuses.get("fault").copied().unwrap_or(0);
        assert_eq!(statuses.len(), 3, "{statuses:?}");
        assert!(degraded > 0 && fault > 0, "{statuses:?}");
        assert!(ok > 10 * (degraded + fault), "mostly ok: {statuses:?}");
        let door_messages = MESSAGES / 5;
        assert!(opened > 0 && opened < door_messages / 10, "{opened}");
        assert!(alarms > 0, "the density walked below the alarm threshold");
        assert!(full_load > 0, "the load walked up to full load");
    }

    #[test]
    fn values_drift_slowly_between_two_messages_of_a_sensor() {
        let mut fleet = Fleet::new("p", stations(1), 9);
        let mut last: Option<(f64, f64)> = None;
        for i in 0..5_000i64 {
            let (topic, text) = next(&mut fleet, T0 + i * 1000);
            if !topic.ends_with("tr-1") {
                continue;
            }
            let v: Value = serde_json::from_str(&text).unwrap();
            let now = (f(&v, "load"), f(&v, "oil_temperature"));
            if let Some((load, oil)) = last {
                assert!((now.0 - load).abs() <= 0.011, "{load} -> {}", now.0);
                assert!((now.1 - oil).abs() <= 1.5, "{oil} -> {}", now.1);
            }
            last = Some(now);
        }
    }

    #[test]
    fn the_temperature_follows_a_daily_swing_peaking_in_the_afternoon() {
        assert!((daily_swing(15 * 3_600_000) - 2.5).abs() < 1e-9);
        assert!((daily_swing(3 * 3_600_000) + 2.5).abs() < 1e-9);
        assert!((daily_swing(86_400_000 + 15 * 3_600_000) - 2.5).abs() < 1e-9);
    }

    #[test]
    fn the_same_seed_and_times_give_the_same_payloads_and_another_seed_others() {
        let run = |seed: u64| -> String {
            let mut fleet = Fleet::new("substations", stations(2), seed);
            let mut all = String::new();
            for i in 0..2_000 {
                fleet.next(T0 + i * 37, &mut all).unwrap();
            }
            all
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn a_fleet_cloned_midway_continues_with_the_same_payloads() {
        let mut a = Fleet::new("x", stations(1), 5);
        for i in 0..123 {
            next(&mut a, T0 + i);
        }
        let mut b = a.clone();
        for i in 0..50 {
            assert_eq!(next(&mut a, T0 + 1000 + i), next(&mut b, T0 + 1000 + i));
        }
    }
}
