//! `alp-connex rtu-sim`: a demo RTU and load generator. An IEC 104
//! controlled station ([`crate::station`]) serving simulated substation
//! points from a [`MemoryImage`], changing them at a set rate, or, with
//! `--rate max`, sending full ASDUs as fast as the masters' k windows allow.
//!
//! Data flow: the simulation task changes points in the image and
//! publishes each change as an [`Update`] on the broadcast channel; the
//! station answers requests from the image and hands the updates to every
//! master in data transfer. Nothing protocol-side lives here.
//!
//! Point layout per station (IOAs 1..=N in blocks, one block per kind, so
//! that an interrogation packs long runs): double points (breakers,
//! disconnectors) 10 %, single points (alarms) 20 %, a tap changer step
//! position 1 %, measured floats (voltage, current, active and reactive
//! power, frequency) the rest, scaled temperatures 5 %, normalized
//! loadings 4 %, energy counters 5 %. In load mode every point is a float.
//!
//! The command line is [`config`] ([`SimArgs`]): options only, with no
//! settings layers, so `main.rs` hands it to [`main`] directly; the
//! simulator starts its own runtime and logging.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;
use tracing::{error, info, warn};

use crate::iec104::asdu::{Asdu, InformationObject};
use crate::iec104::driver::Listener;
use crate::iec104::elements::*;
use crate::iec104::params::Params;
use crate::iec104::time::Cp56Time2a;
use crate::iec104::types::{Cause, Cot, Element, TypeId};
use crate::station::{MemoryImage, Station, Stats, Update};

pub mod config;

pub use config::{LoadAsdu, MAX_POINTS, Rate, SimArgs};

/// Exit status of a setting that cannot be used.
pub const EXIT_CONFIG: u8 = 2;

/// Updates the channel keeps for a master that falls behind.
const UPDATE_CAPACITY: usize = 4096;

/// Runs the simulator until Ctrl-C or SIGTERM.
pub fn main(args: &SimArgs) -> ExitCode {
    let params = match args.params() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    tracing_subscriber::fmt()
        .with_max_level(args.log_level.filter())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    if let Ok(warnings) = params.validate() {
        for w in warnings {
            warn!("{w}");
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args, params))
}

async fn run(args: &SimArgs, params: Params) -> ExitCode {
    let addr = SocketAddr::new(args.bind, args.port);
    let listener = match Listener::bind(addr, params).await {
        Ok(l) => l,
        Err(e) => {
            error!("cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = listener.local_addr().unwrap_or(addr);
    let cas = args.stations();
    let image = Arc::new(MemoryImage::new(cas.iter().copied()));
    let layout = match args.rate {
        Rate::Max => Layout::load(args.points, args.asdu),
        Rate::PerSecond(_) => Layout::mixed(args.points),
    };
    let now = now_cp56();
    for &ca in &cas {
        image.insert_many(ca, layout.initial(ca, now));
    }
    let (tx, _) = broadcast::channel(UPDATE_CAPACITY);
    let station = Station::new(Arc::clone(&image), tx.clone());
    let stats = station.stats();
    info!(
        listen = %local,
        stations = ?cas,
        points = args.points,
        rate = ?args.rate,
        "rtu-sim ready"
    );
    let serving = tokio::spawn(station.serve(listener));
    let mut sim = Sim {
        image,
        tx,
        stats,
        layout,
        cas,
        rng: Rng::seeded(),
    };
    let simulating = match args.rate {
        Rate::PerSecond(r) => tokio::spawn(async move { sim.changes(r).await }),
        Rate::Max => {
            let (shape, limit) = (args.asdu, args.load_limit);
            tokio::spawn(async move { sim.load(shape, limit).await })
        }
    };
    crate::shutdown::signal().await;
    info!("rtu-sim stops");
    simulating.abort();
    serving.abort();
    ExitCode::SUCCESS
}

/// Now as a CP56Time2a in UTC; marked invalid if the clock is outside the
/// years a tag can hold.
fn now_cp56() -> Cp56Time2a {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Cp56Time2a::from_unix_ms(ms).unwrap_or_else(|_| {
        let mut fields = Cp56Time2a::default().fields();
        fields.invalid = true;
        Cp56Time2a::from_fields(fields)
    })
}

/// How a simulated point behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Model {
    /// A breaker or disconnector: toggles between ON and OFF.
    Switch,
    /// An alarm or status: toggles.
    Alarm,
    /// A tap changer, positions 1..=17.
    Tap,
    /// A measurand walking within [min, max] by at most `step`.
    Float { min: f32, max: f32, step: f32 },
    /// A temperature in 0.1 °C.
    Scaled { min: i16, max: i16, step: i16 },
    /// A loading, 0..0.95.
    Normalized,
    /// An energy meter, counting up.
    Counter,
}

/// The quantities the floats cycle through: voltage (kV), current (A),
/// active power (MW), reactive power (Mvar), frequency (Hz).
const FLOATS: [Model; 5] = [
    Model::Float {
        min: 104.5,
        max: 115.5,
        step: 0.2,
    },
    Model::Float {
        min: 0.0,
        max: 800.0,
        step: 5.0,
    },
    Model::Float {
        min: -40.0,
        max: 80.0,
        step: 0.5,
    },
    Model::Float {
        min: -20.0,
        max: 20.0,
        step: 0.3,
    },
    Model::Float {
        min: 49.95,
        max: 50.05,
        step: 0.005,
    },
];

/// The points of a station: IOA `i + 1` behaves as `models[i]`; the same
/// for every station.
struct Layout {
    models: Vec<Model>,
    load: Option<LoadAsdu>,
}

impl Layout {
    fn mixed(n: u32) -> Layout {
        let n = n as usize;
        let share = |percent: usize| n * percent / 100;
        let (switches, alarms, taps) = (share(10), share(20), share(1).max(usize::from(n >= 10)));
        let (scaled, normalized, counters) = (share(5), share(4), share(5));
        let floats = n - switches - alarms - taps - scaled - normalized - counters;
        let mut models = Vec::with_capacity(n);
        models.extend(std::iter::repeat_n(Model::Switch, switches));
        models.extend(std::iter::repeat_n(Model::Alarm, alarms));
        models.extend(std::iter::repeat_n(Model::Tap, taps));
        models.extend(FLOATS.iter().copied().cycle().take(floats));
        models.extend(std::iter::repeat_n(
            Model::Scaled {
                min: 0,
                max: 900,
                step: 3,
            },
            scaled,
        ));
        models.extend(std::iter::repeat_n(Model::Normalized, normalized));
        models.extend(std::iter::repeat_n(Model::Counter, counters));
        Layout { models, load: None }
    }

    fn load(n: u32, shape: LoadAsdu) -> Layout {
        let models = FLOATS.iter().copied().cycle().take(n as usize).collect();
        Layout {
            models,
            load: Some(shape),
        }
    }

    /// The starting value of every point of station `ca`.
    fn initial(&self, ca: u16, time: Cp56Time2a) -> Vec<(u32, Element)> {
        let good = Quality::GOOD;
        let mut rng = Rng(u64::from(ca).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        (1u32..)
            .zip(&self.models)
            .map(|(ioa, model)| {
                let e = match *model {
                    Model::Switch => Element::M_DP_TB_1 {
                        value: DoublePoint {
                            value: if rng.below(10) == 0 {
                                DoubleState::Off
                            } else {
                                DoubleState::On
                            },
                            quality: good,
                        },
                        time,
                    },
                    Model::Alarm => Element::M_SP_TB_1 {
                        value: SinglePoint {
                            value: false,
                            quality: good,
                        },
                        time,
                    },
                    Model::Tap => Element::M_ST_TB_1 {
                        value: StepPosition {
                            value: 9,
                            transient: false,
                        },
                        quality: good,
                        time,
                    },
                    Model::Float { min, max, .. } => {
                        let value = min + (max - min) * (0.4 + 0.2 * rng.unit());
                        match self.load {
                            Some(LoadAsdu::Nc48) => Element::M_ME_NC_1 {
                                value,
                                quality: good,
                            },
                            _ => Element::M_ME_TF_1 {
                                value,
                                quality: good,
                                time,
                            },
                        }
                    }
                    Model::Scaled { min, max, .. } => Element::M_ME_TE_1 {
                        value: (min + max) / 2,
                        quality: good,
                        time,
                    },
                    Model::Normalized => Element::M_ME_TD_1 {
                        value: Normalized::from_f64(0.5),
                        quality: good,
                        time,
                    },
                    Model::Counter => Element::M_IT_TB_1 {
                        value: BinaryCounter::default(),
                        time,
                    },
                };
                (ioa, e)
            })
            .collect()
    }
}

/// Changes `e` one step as `model` says, with time tag `time`.
fn change(e: &mut Element, model: Model, rng: &mut Rng, now: Cp56Time2a) {
    match (e, model) {
        (Element::M_DP_TB_1 { value, time }, _) => {
            value.value = match value.value {
                DoubleState::On => DoubleState::Off,
                _ => DoubleState::On,
            };
            *time = now;
        }
        (Element::M_SP_TB_1 { value, time }, _) => {
            value.value = !value.value;
            *time = now;
        }
        (Element::M_ST_TB_1 { value, time, .. }, _) => {
            let up = rng.below(2) == 0;
            value.value = (value.value + if up { 1 } else { -1 }).clamp(1, 17);
            *time = now;
        }
        (Element::M_ME_TF_1 { value, time, .. }, Model::Float { min, max, step }) => {
            *value = (*value + step * (2.0 * rng.unit() - 1.0)).clamp(min, max);
            *time = now;
        }
        (Element::M_ME_NC_1 { value, .. }, Model::Float { min, max, step }) => {
            *value = (*value + step * (2.0 * rng.unit() - 1.0)).clamp(min, max);
        }
        (Element::M_ME_TE_1 { value, time, .. }, Model::Scaled { min, max, step }) => {
            let delta = i16::try_from(rng.below(u64::from(step.unsigned_abs()) * 2 + 1))
                .unwrap_or(0)
                - step;
            *value = value.saturating_add(delta).clamp(min, max);
            *time = now;
        }
        (Element::M_ME_TD_1 { value, time, .. }, _) => {
            let v = value.to_f64() + 0.02 * (f64::from(rng.unit()) - 0.5);
            *value = Normalized::from_f64(v.clamp(0.0, 0.95));
            *time = now;
        }
        (Element::M_IT_TB_1 { value, time }, _) => {
            let add = i32::try_from(rng.below(100)).unwrap_or(0) + 1;
            value.value = value.value.wrapping_add(add);
            value.sequence = (value.sequence + 1) % 32;
            *time = now;
        }
        _ => {}
    }
}

/// SplitMix64: a small, fast generator; simulation values need no more.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Rng(u64::from(nanos) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f32 {
        // The top 24 bits fit an f32 mantissa exactly.
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// The simulation task.
struct Sim {
    image: Arc<MemoryImage>,
    tx: broadcast::Sender<Update>,
    stats: Arc<Stats>,
    layout: Layout,
    cas: Vec<u16>,
    rng: Rng,
}

impl Sim {
    /// `rate` changes per second: a random point of a random station each,
    /// sent with cause 3 in its own (timed) type.
    async fn changes(&mut self, rate: f64) {
        let period = Duration::from_secs_f64((1.0 / rate).max(0.001));
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let start = Instant::now();
        let mut done = 0u64;
        loop {
            ticks.tick().await;
            // Whole changes due since the start; a burst per tick at high rates.
            let due = (start.elapsed().as_secs_f64() * rate) as u64;
            while done < due {
                done += 1;
                self.change_one();
            }
        }
    }

    fn change_one(&mut self) {
        let n = self.layout.models.len() as u64;
        let index = self.rng.below(n) as usize;
        let station = self.rng.below(self.cas.len() as u64) as usize;
        let (Some(&ca), Some(&model)) = (self.cas.get(station), self.layout.models.get(index))
        else {
            return;
        };
        let ioa = index as u32 + 1;
        let now = now_cp56();
        let rng = &mut self.rng;
        let Some(element) = self.image.update(ca, ioa, |e| change(e, model, rng, now)) else {
            return;
        };
        let asdu = Asdu::single(Cot::new(Cause::SPONTANEOUS), ca, ioa, element);
        self.publish(&asdu);
    }

    fn publish(&self, asdu: &Asdu) {
        match Update::new(asdu) {
            // An error means no master is connected: nothing to do.
            Ok(u) => {
                let _ = self.tx.send(u);
            }
            Err(e) => warn!("simulated ASDU not sent: {e}"),
        }
    }

    /// Load-generator mode: full ASDUs over every point, station after
    /// station, kept just ahead of the slowest master (the channel at most
    /// half full), and the achieved rate reported every second.
    async fn load(&mut self, shape: LoadAsdu, limit: Option<u64>) {
        let n = self.layout.models.len() as u32;
        let per = shape.objects().min(n);
        let mut next_ioa = 1u32;
        // Station after station; SimArgs::stations never gives an empty list.
        let mut stations = self.cas.clone().into_iter().cycle();
        let Some(mut ca) = stations.next() else {
            return;
        };
        let mut report = tokio::time::interval(Duration::from_secs(1));
        report.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        report.tick().await;
        let mut last = (
            self.stats.updates(),
            self.stats.update_objects(),
            Instant::now(),
        );
        // Pacing under --load-limit: objects sent against objects due since
        // the first master started.
        let mut paced_since: Option<(Instant, u64)> = None;
        loop {
            if let Some(limit) = limit {
                if self.stats.started() > 0 {
                    let (t0, o0) =
                        *paced_since.get_or_insert((Instant::now(), self.stats.update_objects()));
                    let sent = self.stats.update_objects().saturating_sub(o0);
                    let due_at = t0 + Duration::from_secs_f64(sent as f64 / limit as f64);
                    if due_at > Instant::now() {
                        tokio::time::sleep_until(due_at.into()).await;
                    }
                } else {
                    paced_since = None;
                }
            }
            tokio::select! {
                biased;
                _ = report.tick() => {
                    let (u, o) = (self.stats.updates(), self.stats.update_objects());
                    let secs = last.2.elapsed().as_secs_f64().max(1e-3);
                    info!(
                        "{:.0} ASDUs/s, {:.0} objects/s to {} master(s) in data transfer; lagged {}",
                        (u - last.0) as f64 / secs,
                        (o - last.1) as f64 / secs,
                        self.stats.started(),
                        self.stats.lagged()
                    );
                    last = (u, o, Instant::now());
                }
                () = tokio::time::sleep(Duration::from_millis(1)),
                    if self.stats.started() == 0 || self.tx.len() >= UPDATE_CAPACITY / 2 => {}
                () = std::future::ready(()),
                    if self.stats.started() > 0 && self.tx.len() < UPDATE_CAPACITY / 2 => {
                    let burst = if limit.is_some() { 4 } else { 64 };
                    for _ in 0..burst {
                        let (asdu, following) = self.load_asdu(shape, ca, next_ioa, per, n);
                        self.image.insert_many(ca, asdu.objects.iter().map(|o| (o.ioa, o.element.clone())));
                        self.publish(&asdu);
                        next_ioa = following;
                        if next_ioa == 1 {
                            ca = stations.next().unwrap_or(ca);
                        }
                    }
                    tokio::task::yield_now().await;
                }
            }
        }
    }

    /// One full ASDU from `first`, and the IOA the next one starts at (1
    /// after the last point).
    fn load_asdu(&mut self, shape: LoadAsdu, ca: u16, first: u32, per: u32, n: u32) -> (Asdu, u32) {
        // SQ=1 needs consecutive addresses: the last ASDU of a round ends at
        // the last point, overlapping the one before if need be.
        let first = if first + per - 1 > n {
            n - per + 1
        } else {
            first
        };
        let now = now_cp56();
        let objects: Vec<InformationObject> = (first..first + per)
            .map(|ioa| {
                let model = self.layout.models.get(ioa as usize - 1).copied();
                let (min, max) = match model {
                    Some(Model::Float { min, max, .. }) => (min, max),
                    _ => (0.0, 1.0),
                };
                let value = min + (max - min) * (0.4 + 0.2 * self.rng.unit());
                let element = match shape {
                    LoadAsdu::Tf16 => Element::M_ME_TF_1 {
                        value,
                        quality: Quality::GOOD,
                        time: now,
                    },
                    LoadAsdu::Nc48 => Element::M_ME_NC_1 {
                        value,
                        quality: Quality::GOOD,
                    },
                };
                InformationObject::new(ioa, element)
            })
            .collect();
        let type_id = match shape {
            LoadAsdu::Tf16 => TypeId::M_ME_TF_1,
            LoadAsdu::Nc48 => TypeId::M_ME_NC_1,
        };
        let asdu = Asdu {
            type_id,
            sequence: shape == LoadAsdu::Nc48,
            cot: Cot::new(Cause::SPONTANEOUS),
            originator: 0,
            common_address: ca,
            objects,
        };
        let following = if first + per > n { 1 } else { first + per };
        (asdu, following)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mixed_layout_has_every_kind_in_blocks_and_n_points() {
        for n in [1u32, 7, 10, 100, 100_000] {
            let l = Layout::mixed(n);
            assert_eq!(l.models.len(), n as usize);
        }
        let l = Layout::mixed(100);
        let points = l.initial(1, now_cp56());
        let types: Vec<TypeId> = points.iter().map(|(_, e)| e.type_id()).collect();
        let mut kinds = types.clone();
        kinds.dedup();
        use TypeId::*;
        assert_eq!(
            kinds,
            [
                M_DP_TB_1, M_SP_TB_1, M_ST_TB_1, M_ME_TF_1, M_ME_TE_1, M_ME_TD_1, M_IT_TB_1
            ]
        );
        assert_eq!(points.first().map(|p| p.0), Some(1));
        assert_eq!(points.last().map(|p| p.0), Some(100));
        assert!(points.iter().all(|(_, e)| e.check().is_ok()));
    }

    #[test]
    fn changes_stay_in_range_and_take_the_time_given() {
        let l = Layout::mixed(100);
        let mut rng = Rng(7);
        let now = now_cp56();
        for (i, (_, mut e)) in l.initial(1, Cp56Time2a::default()).into_iter().enumerate() {
            for _ in 0..500 {
                change(&mut e, l.models[i], &mut rng, now);
            }
            assert!(e.check().is_ok(), "{e:?}");
            match (&e, l.models[i]) {
                (Element::M_ME_TF_1 { value, time, .. }, Model::Float { min, max, .. }) => {
                    assert!((min..=max).contains(value), "{value}");
                    assert_eq!(*time, now);
                }
                (Element::M_ST_TB_1 { value, .. }, _) => assert!((1..=17).contains(&value.value)),
                _ => {}
            }
        }
    }

    #[test]
    fn load_asdus_are_full_and_cycle_over_every_point() {
        for (shape, octets) in [(LoadAsdu::Tf16, 246), (LoadAsdu::Nc48, 249)] {
            let n = 100_000;
            let mut sim = Sim {
                image: Arc::new(MemoryImage::new([1])),
                tx: broadcast::channel(4).0,
                stats: Arc::default(),
                layout: Layout::load(n, shape),
                cas: vec![1],
                rng: Rng(1),
            };
            let mut seen = vec![false; n as usize + 1];
            let mut next = 1;
            let per = shape.objects();
            for _ in 0..n.div_ceil(per) {
                let (asdu, following) = sim.load_asdu(shape, 1, next, per, n);
                assert_eq!(asdu.to_bytes().map(|b| b.len()), Ok(octets));
                for o in &asdu.objects {
                    seen[o.ioa as usize] = true;
                }
                next = following;
            }
            assert!(seen[1..].iter().all(|s| *s), "every IOA of 1..={n}");
        }
    }

    #[test]
    fn rates_parse_as_numbers_or_max() {
        assert_eq!("max".parse(), Ok(Rate::Max));
        assert_eq!("2.5".parse(), Ok(Rate::PerSecond(2.5)));
        assert!("0".parse::<Rate>().is_err());
        assert!("fast".parse::<Rate>().is_err());
    }
}
