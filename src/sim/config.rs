//! The command line of `rtu-sim` ([`SimArgs`]). The simulator has no
//! settings layers (no file, environment, managed configuration or
//! `config-gen`): clap checks each option against its range and
//! [`SimArgs::params`] checks the protocol parameters against the standard.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use crate::config::LogLevel;
use crate::iec104::params::{ParamError, Params, WINDOW_RANGE};

/// The most points per station.
pub const MAX_POINTS: u32 = 1_000_000;

/// Demo RTU / load generator: an IEC 104 controlled station with simulated
/// substation points.
///
/// Answers interrogation, counter interrogation, read, clock
/// synchronisation and test commands; refuses process commands. Sends
/// spontaneous changes at --rate per second, or with --rate max full ASDUs
/// as fast as the k window allows, printing the achieved rate every second.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Port to listen on (0: a free port, shown in the `rtu-sim ready` line).
    #[arg(long, default_value_t = 2404)]
    pub port: u16,
    /// Common address of a station served, 1..=65534 (repeatable) [default: 1].
    #[arg(long = "ca", value_name = "CA", value_parser = clap::value_parser!(u16).range(1..=65534))]
    pub cas: Vec<u16>,
    /// Simulated points per station, 1..=1000000.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_POINTS)))]
    pub points: u32,
    /// Spontaneous changes per second (over all stations), or `max` for
    /// load-generator mode.
    #[arg(long, default_value = "10")]
    pub rate: Rate,
    /// The ASDU of load-generator mode: 16 x M_ME_TF_1 SQ=0 or 48 x M_ME_NC_1 SQ=1.
    #[arg(long, value_enum, default_value = "tf16")]
    pub asdu: LoadAsdu,
    /// Load-generator mode: at most this many objects per second (paced in
    /// whole ASDUs); without it, as fast as the masters take them.
    #[arg(long, value_name = "OBJECTS_PER_S", value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub load_limit: Option<u64>,
    /// Connection establishment timeout, seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub t0: u64,
    /// Send or test APDU timeout, seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 15)]
    pub t1: u64,
    /// Acknowledge timeout when there is no data, seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub t2: u64,
    /// Test frame timeout on an idle link, seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 20)]
    pub t3: u64,
    /// Maximum unacknowledged I-frames (send window).
    #[arg(short = 'k', default_value_t = 12)]
    pub k: u64,
    /// Acknowledge after receiving w I-frames.
    #[arg(short = 'w', default_value_t = 8)]
    pub w: u64,
    /// Log verbosity.
    #[arg(long, value_enum, default_value = "info")]
    pub log_level: LogLevel,
}

/// Changes per second, or as many as the link takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// Changes per second, over every station.
    PerSecond(f64),
    /// Load-generator mode.
    Max,
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Rate, String> {
        if s == "max" {
            return Ok(Rate::Max);
        }
        match s.parse::<f64>() {
            Ok(r) if r.is_finite() && r > 0.0 && r <= 1_000_000.0 => Ok(Rate::PerSecond(r)),
            _ => Err(String::from(
                "must be changes per second, > 0 and <= 1000000, or max",
            )),
        }
    }
}

/// The full ASDU load-generator mode sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LoadAsdu {
    /// 16 x M_ME_TF_1 (float with CP56Time2a), SQ=0: 246 octets.
    Tf16,
    /// 48 x M_ME_NC_1 (float), SQ=1: 249 octets.
    Nc48,
}

impl LoadAsdu {
    pub(super) fn objects(self) -> u32 {
        match self {
            LoadAsdu::Tf16 => 16,
            LoadAsdu::Nc48 => 48,
        }
    }
}

impl SimArgs {
    /// The protocol parameters, checked against the standard.
    pub fn params(&self) -> Result<Params, ParamError> {
        let window = |name: &'static str, value: u64| {
            u16::try_from(value)
                .ok()
                .filter(|v| (WINDOW_RANGE.0..=WINDOW_RANGE.1).contains(v))
                .ok_or(ParamError::OutOfRange {
                    name,
                    value,
                    min: WINDOW_RANGE.0.into(),
                    max: WINDOW_RANGE.1.into(),
                    unit: "",
                })
        };
        let params = Params {
            t0: Duration::from_secs(self.t0),
            t1: Duration::from_secs(self.t1),
            t2: Duration::from_secs(self.t2),
            t3: Duration::from_secs(self.t3),
            k: window("k", self.k)?,
            w: window("w", self.w)?,
        };
        params.validate()?;
        Ok(params)
    }

    /// The common addresses served: those given, sorted, each once; 1
    /// when none is given.
    pub(super) fn stations(&self) -> Vec<u16> {
        if self.cas.is_empty() {
            vec![1]
        } else {
            let mut cas = self.cas.clone();
            cas.sort_unstable();
            cas.dedup();
            cas
        }
    }
}
