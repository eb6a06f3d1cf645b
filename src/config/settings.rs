//! The settings of the `iec104-inbound` role: the serde form read from the
//! layers ([`RawSettings`], wide integers so that an out-of-range value
//! reaches the range check instead of failing as a type error), the typed
//! form the role uses ([`InboundSettings`]) and the checks between them.

use core::fmt;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::level_filters::LevelFilter;

use super::error::ConfigError;
use super::secret::Secret;
use crate::iec104::params::{ParamError, Params, WINDOW_RANGE};

/// TCP ports.
pub const PORT_RANGE: RangeInclusive<u64> = 1..=65535;
/// Common addresses a general interrogation may name (65535 is broadcast).
pub const COMMON_ADDRESS_RANGE: RangeInclusive<u64> = 1..=65535;
/// Wait between connection attempts, seconds.
pub const RECONNECT_INTERVAL_RANGE_S: RangeInclusive<u64> = 1..=3600;
/// Period of a cyclic interrogation when on, seconds (at most a day).
pub const PERIOD_RANGE_S: RangeInclusive<u64> = 1..=86_400;
/// Grace after a link loss before points are marked, seconds.
pub const LINK_LOSS_GRACE_RANGE_S: RangeInclusive<u64> = 0..=3600;
/// Length of the connector ID.
pub const ID_MAX_LEN: usize = 64;
/// Largest fixed offset of `client.time_zone`, minutes east of UTC.
pub const MAX_OFFSET_EAST_MIN: i32 = 14 * 60;
/// Largest fixed offset of `client.time_zone`, minutes west of UTC.
pub const MAX_OFFSET_WEST_MIN: i32 = 12 * 60;

/// Default IEC 104 server host.
pub const DEFAULT_CLIENT_HOST: &str = "127.0.0.1";
/// Default IEC 104 port.
pub const DEFAULT_CLIENT_PORT: u16 = 2404;
/// Default Valkey host.
pub const DEFAULT_REDIS_HOST: &str = "127.0.0.1";
/// Default Valkey port, when neither `redis.port` nor `redis.host` has one.
pub const DEFAULT_REDIS_PORT: u16 = 6379;
/// Default cap of the update stream.
pub const DEFAULT_STREAM_MAX_LENGTH: u64 = 1000;
/// Default name of the update stream.
pub const DEFAULT_IN_STREAM: &str = "process:updates";

/// Log verbosity, as the documentation names the levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Everything, including every frame.
    Trace,
    /// Diagnostics.
    Debug,
    /// Normal operation.
    #[default]
    Info,
    /// Problems that the connector works around.
    Warning,
    /// Failures.
    Error,
    /// Failures that stop the connector (logged as errors).
    Critical,
    /// No log output.
    Off,
}

impl LogLevel {
    /// Every level name, in order of decreasing verbosity.
    pub const NAMES: [&'static str; 7] = [
        "trace", "debug", "info", "warning", "error", "critical", "off",
    ];

    /// The `tracing` filter: `warning` is WARN, `critical` is ERROR.
    pub fn filter(self) -> LevelFilter {
        match self {
            Self::Trace => LevelFilter::TRACE,
            Self::Debug => LevelFilter::DEBUG,
            Self::Info => LevelFilter::INFO,
            Self::Warning => LevelFilter::WARN,
            Self::Error | Self::Critical => LevelFilter::ERROR,
            Self::Off => LevelFilter::OFF,
        }
    }
}

/// What happens to the points of a station while its link is down, after
/// `client.link_loss_grace_s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnLinkLoss {
    /// Set the NT (not topical) flag of every point.
    #[default]
    Nt,
    /// Set the IV (invalid) flag of every point.
    Iv,
    /// Leave the points as they are.
    Keep,
}

impl OnLinkLoss {
    /// Every name.
    pub const NAMES: [&'static str; 3] = ["nt", "iv", "keep"];
}

/// The zone CP56Time2a time tags are read in: UTC or a fixed offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeZone {
    offset_min: i32,
}

impl TimeZone {
    /// UTC.
    pub const UTC: Self = Self { offset_min: 0 };

    /// Minutes east of UTC.
    pub fn offset_minutes(self) -> i32 {
        self.offset_min
    }

    fn allowed() -> String {
        format!(
            "\"UTC\" or a fixed offset \"+HH:MM\"/\"-HH:MM\" from -{:02}:{:02} to +{:02}:{:02}",
            MAX_OFFSET_WEST_MIN / 60,
            MAX_OFFSET_WEST_MIN % 60,
            MAX_OFFSET_EAST_MIN / 60,
            MAX_OFFSET_EAST_MIN % 60
        )
    }
}

impl FromStr for TimeZone {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        if s == "UTC" {
            return Ok(Self::UTC);
        }
        let (sign, rest) = match s.split_at_checked(1) {
            Some(("+", rest)) => (1, rest),
            Some(("-", rest)) => (-1, rest),
            _ => return Err(()),
        };
        let (hh, mm) = rest.split_once(':').ok_or(())?;
        if hh.len() != 2
            || mm.len() != 2
            || !(hh.bytes().chain(mm.bytes())).all(|b| b.is_ascii_digit())
        {
            return Err(());
        }
        let hours: i32 = hh.parse().map_err(|_| ())?;
        let minutes: i32 = mm.parse().map_err(|_| ())?;
        if minutes >= 60 {
            return Err(());
        }
        let offset_min = sign * (hours * 60 + minutes);
        if offset_min > MAX_OFFSET_EAST_MIN || -offset_min > MAX_OFFSET_WEST_MIN {
            return Err(());
        }
        Ok(Self { offset_min })
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.offset_min == 0 {
            return f.write_str("UTC");
        }
        let sign = if self.offset_min < 0 { '-' } else { '+' };
        let abs = self.offset_min.abs();
        write!(f, "{sign}{:02}:{:02}", abs / 60, abs % 60)
    }
}

/// A host with a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

/// The settings of one `iec104-inbound` connector, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundSettings {
    /// Unique connector ID from the Management UI.
    pub id: String,
    /// Log verbosity.
    pub log_level: LogLevel,
    /// The connection to the remote IEC 104 server.
    pub client: ClientSettings,
    /// The connection to Valkey.
    pub redis: RedisSettings,
}

/// The connection to the remote IEC 104 server (section `client`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClientSettings {
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// t0..t3, k, w.
    pub params: Params,
    /// Further servers of the same station, tried in order after `host`.
    pub alternative_hosts: Vec<Endpoint>,
    /// Wait between connection attempts.
    pub reconnect_interval: Duration,
    /// Common addresses to interrogate; empty means the broadcast address.
    pub common_addresses: Vec<u16>,
    /// Period of a cyclic general interrogation; `None` is off.
    pub periodic_gi: Option<Duration>,
    /// Send a clock synchronisation command after each connect.
    pub clock_sync: bool,
    /// Period of a counter interrogation; `None` is off.
    pub counter_interrogation: Option<Duration>,
    /// What to do with the points while the link is down.
    pub on_link_loss: OnLinkLoss,
    /// Wait after a link loss before `on_link_loss` applies.
    pub link_loss_grace: Duration,
    /// The zone device time tags are read in.
    pub time_zone: TimeZone,
}

/// The connection to Valkey (section `redis`).
#[derive(Debug, Clone, PartialEq)]
pub struct RedisSettings {
    /// Valkey host, without port.
    pub host: String,
    /// Valkey port.
    pub port: u16,
    /// Password, if Valkey requires one.
    pub password: Option<Secret>,
    /// Cap of the update stream (entries).
    pub stream_max_length: u64,
    /// Name of the update stream.
    pub in_stream: String,
    /// Valkey Cluster instead of a standalone server.
    pub cluster: bool,
    /// Trim the stream exactly (`MAXLEN =`) instead of approximately (`MAXLEN ~`).
    pub exact_trim: bool,
}

/// The settings as the layers give them. Every field has its default here,
/// which is also what `config-gen` prints.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawSettings {
    /// See [`InboundSettings::id`]; no default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// See [`InboundSettings::log_level`].
    pub log_level: LogLevel,
    /// Section `client`.
    pub client: RawClient,
    /// Section `redis`.
    pub redis: RawRedis,
}

/// Section `client` as read; see [`ClientSettings`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawClient {
    pub host: String,
    pub port: u64,
    pub t0: u64,
    pub t1: u64,
    pub t2: u64,
    pub t3: u64,
    pub k: u64,
    pub w: u64,
    pub alternative_hosts: Vec<String>,
    pub reconnect_interval_s: u64,
    pub common_addresses: Vec<u64>,
    pub periodic_gi_s: u64,
    pub clock_sync: bool,
    pub counter_interrogation_s: u64,
    pub on_link_loss: OnLinkLoss,
    pub link_loss_grace_s: u64,
    pub time_zone: String,
}

/// Section `redis` as read; see [`RedisSettings`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawRedis {
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pwd: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pwd_file: Option<PathBuf>,
    pub stream_max_length: u64,
    pub in_stream: String,
    pub cluster: bool,
    pub exact_trim: bool,
}

impl Default for RawClient {
    fn default() -> Self {
        let p = Params::default();
        Self {
            host: DEFAULT_CLIENT_HOST.to_owned(),
            port: DEFAULT_CLIENT_PORT.into(),
            t0: p.t0.as_secs(),
            t1: p.t1.as_secs(),
            t2: p.t2.as_secs(),
            t3: p.t3.as_secs(),
            k: p.k.into(),
            w: p.w.into(),
            alternative_hosts: Vec::new(),
            reconnect_interval_s: 2,
            common_addresses: Vec::new(),
            periodic_gi_s: 0,
            clock_sync: false,
            counter_interrogation_s: 0,
            on_link_loss: OnLinkLoss::default(),
            link_loss_grace_s: 5,
            time_zone: TimeZone::UTC.to_string(),
        }
    }
}

impl Default for RawRedis {
    fn default() -> Self {
        Self {
            host: DEFAULT_REDIS_HOST.to_owned(),
            port: None,
            pwd: None,
            pwd_file: None,
            stream_max_length: DEFAULT_STREAM_MAX_LENGTH,
            in_stream: DEFAULT_IN_STREAM.to_owned(),
            cluster: false,
            exact_trim: false,
        }
    }
}

fn range_text(range: &RangeInclusive<u64>, unit: &str) -> String {
    format!("must be in {}..={}{unit}", range.start(), range.end())
}

const SECONDS: &str = " (seconds)";
const PERIOD_UNIT: &str = " (seconds, 0 = off)";

/// `value` checked against `range` and narrowed to `T`.
fn ranged<T: TryFrom<u64>>(
    setting: &str,
    value: u64,
    range: &RangeInclusive<u64>,
    unit: &str,
) -> Result<T, ConfigError> {
    let out_of_range = || ConfigError::invalid(setting, value, range_text(range, unit));
    if !range.contains(&value) {
        return Err(out_of_range());
    }
    T::try_from(value).map_err(|_| out_of_range())
}

fn window() -> RangeInclusive<u64> {
    u64::from(WINDOW_RANGE.0)..=u64::from(WINDOW_RANGE.1)
}

/// Splits `host[:port]`, `[v6]:port` or a bare IPv6 address.
fn split_host_port(setting: &str, text: &str) -> Result<(String, Option<u16>), ConfigError> {
    let bad = || {
        ConfigError::invalid(
            setting,
            format!("{text:?}"),
            "must be host, host:port or [ipv6]:port with port in 1..=65535",
        )
    };
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else {
        match text.split_once(':') {
            Some((host, port)) if !port.contains(':') => (host, Some(port)),
            _ => (text, None),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    let port = match port {
        None => None,
        Some(p) => {
            let n: u64 = p.parse().map_err(|_| bad())?;
            Some(ranged(setting, n, &PORT_RANGE, "").map_err(|_| bad())?)
        }
    };
    Ok((host.to_owned(), port))
}

fn optional_period(setting: &str, seconds: u64) -> Result<Option<Duration>, ConfigError> {
    if seconds == 0 {
        return Ok(None);
    }
    let s: u64 = ranged(setting, seconds, &PERIOD_RANGE_S, PERIOD_UNIT)?;
    Ok(Some(Duration::from_secs(s)))
}

impl RawSettings {
    /// Narrows the wide values, reads the password file and builds the typed
    /// settings; [`InboundSettings::validate`] then checks the rest.
    pub fn resolve(self) -> Result<InboundSettings, ConfigError> {
        let id = self.id.ok_or(ConfigError::Missing {
            setting: "id",
            hint: "--id, ALP_CONNEX_ID or id in the --config file",
        })?;
        let c = self.client;
        let port: u16 = ranged("client.port", c.port, &PORT_RANGE, "")?;
        let params = Params {
            t0: Duration::from_secs(c.t0),
            t1: Duration::from_secs(c.t1),
            t2: Duration::from_secs(c.t2),
            t3: Duration::from_secs(c.t3),
            k: ranged("client.k", c.k, &window(), "")?,
            w: ranged("client.w", c.w, &window(), "")?,
        };
        let mut alternative_hosts = Vec::with_capacity(c.alternative_hosts.len());
        for (i, text) in c.alternative_hosts.iter().enumerate() {
            let (host, p) = split_host_port(&format!("client.alternative_hosts[{i}]"), text)?;
            alternative_hosts.push(Endpoint {
                host,
                port: p.unwrap_or(port),
            });
        }
        let mut common_addresses = Vec::with_capacity(c.common_addresses.len());
        for (i, &ca) in c.common_addresses.iter().enumerate() {
            let setting = format!("client.common_addresses[{i}]");
            common_addresses.push(ranged(&setting, ca, &COMMON_ADDRESS_RANGE, "")?);
        }
        let time_zone = c.time_zone.parse().map_err(|()| {
            ConfigError::invalid(
                "client.time_zone",
                format!("{:?}", c.time_zone),
                format!("must be {}", TimeZone::allowed()),
            )
        })?;
        let client = ClientSettings {
            host: c.host,
            port,
            params,
            alternative_hosts,
            reconnect_interval: Duration::from_secs(c.reconnect_interval_s),
            common_addresses,
            periodic_gi: optional_period("client.periodic_gi_s", c.periodic_gi_s)?,
            clock_sync: c.clock_sync,
            counter_interrogation: optional_period(
                "client.counter_interrogation_s",
                c.counter_interrogation_s,
            )?,
            on_link_loss: c.on_link_loss,
            link_loss_grace: Duration::from_secs(c.link_loss_grace_s),
            time_zone,
        };

        let r = self.redis;
        let (redis_host, port_in_host) = split_host_port("redis.host", &r.host)?;
        let redis_port = match r.port {
            Some(p) => ranged("redis.port", p, &PORT_RANGE, "")?,
            None => port_in_host.unwrap_or(DEFAULT_REDIS_PORT),
        };
        let password = match (r.pwd, r.pwd_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Conflict {
                    setting: "redis.pwd",
                    other: "redis.pwd_file",
                });
            }
            (Some(pwd), None) => Some(pwd),
            (None, Some(path)) => Some(read_password_file(&path)?),
            (None, None) => None,
        };
        let redis = RedisSettings {
            host: redis_host,
            port: redis_port,
            password,
            stream_max_length: r.stream_max_length,
            in_stream: r.in_stream,
            cluster: r.cluster,
            exact_trim: r.exact_trim,
        };
        Ok(InboundSettings {
            id,
            log_level: self.log_level,
            client,
            redis,
        })
    }
}

fn read_password_file(path: &std::path::Path) -> Result<Secret, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        setting: "redis.pwd_file",
        path: path.display().to_string(),
        reason: format!("cannot read: {e}"),
    })?;
    let text = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    Ok(Secret::new(text))
}

fn param_error(e: ParamError) -> ConfigError {
    match e {
        ParamError::OutOfRange {
            name,
            value,
            min,
            max,
            unit,
        } => ConfigError::invalid(
            format!("client.{name}"),
            value,
            range_text(&(min..=max), if unit.is_empty() { "" } else { SECONDS }),
        ),
        ParamError::T2NotLessThanT1 { t2, t1 } => ConfigError::invalid(
            "client.t2",
            t2,
            format!("must be less than client.t1 = {t1} (seconds)"),
        ),
        ParamError::WGreaterThanK { w, k } => {
            ConfigError::invalid("client.w", w, format!("must not exceed client.k = {k}"))
        }
    }
}

fn non_empty(setting: &str, value: &str) -> Result<(), ConfigError> {
    if value.is_empty() {
        Err(ConfigError::invalid(setting, "\"\"", "must not be empty"))
    } else {
        Ok(())
    }
}

fn id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')
}

/// What `id` allows, for messages and `config-gen`.
pub fn id_allowed() -> String {
    format!("1..={ID_MAX_LEN} characters of A-Z a-z 0-9 _ . : -")
}

impl InboundSettings {
    /// The defaults of every setting, with the one setting that has none.
    pub fn with_defaults(id: impl Into<String>) -> Result<Self, ConfigError> {
        RawSettings {
            id: Some(id.into()),
            ..RawSettings::default()
        }
        .resolve()
    }

    /// Checks every setting; the error names the first one that is wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.id.is_empty() || self.id.len() > ID_MAX_LEN || !self.id.chars().all(id_char) {
            return Err(ConfigError::invalid(
                "id",
                format!("{:?}", self.id),
                format!("must be {}", id_allowed()),
            ));
        }
        let c = &self.client;
        non_empty("client.host", &c.host)?;
        ranged::<u16>("client.port", c.port.into(), &PORT_RANGE, "")?;
        c.params.validate().map_err(param_error)?;
        for (i, e) in c.alternative_hosts.iter().enumerate() {
            let setting = format!("client.alternative_hosts[{i}]");
            non_empty(&setting, &e.host)?;
            ranged::<u16>(&setting, e.port.into(), &PORT_RANGE, "")?;
        }
        ranged::<u64>(
            "client.reconnect_interval_s",
            c.reconnect_interval.as_secs(),
            &RECONNECT_INTERVAL_RANGE_S,
            SECONDS,
        )?;
        for (i, &ca) in c.common_addresses.iter().enumerate() {
            let setting = format!("client.common_addresses[{i}]");
            ranged::<u16>(&setting, ca.into(), &COMMON_ADDRESS_RANGE, "")?;
        }
        for (setting, period) in [
            ("client.periodic_gi_s", c.periodic_gi),
            ("client.counter_interrogation_s", c.counter_interrogation),
        ] {
            if let Some(p) = period {
                ranged::<u64>(setting, p.as_secs(), &PERIOD_RANGE_S, PERIOD_UNIT)?;
            }
        }
        ranged::<u64>(
            "client.link_loss_grace_s",
            c.link_loss_grace.as_secs(),
            &LINK_LOSS_GRACE_RANGE_S,
            SECONDS,
        )?;
        let r = &self.redis;
        non_empty("redis.host", &r.host)?;
        ranged::<u16>("redis.port", r.port.into(), &PORT_RANGE, "")?;
        if r.stream_max_length < 1 {
            return Err(ConfigError::invalid(
                "redis.stream_max_length",
                r.stream_max_length,
                "must be at least 1",
            ));
        }
        non_empty("redis.in_stream", &r.in_stream)?;
        Ok(())
    }

    /// Legal settings the standard advises against, one line each.
    pub fn warnings(&self) -> Vec<String> {
        self.client
            .params
            .validate()
            .map(|w| w.iter().map(|w| format!("client: {w}")).collect())
            .unwrap_or_default()
    }
}

/// One line of `config-gen`: the key, its description and range, and for
/// settings without a default an example printed commented out.
pub struct SettingDoc {
    /// Dotted key.
    pub key: &'static str,
    /// Description and allowed values.
    pub doc: String,
    /// For settings without a default: an example value (TOML syntax).
    pub example: Option<String>,
}

fn doc(key: &'static str, doc: impl Into<String>) -> SettingDoc {
    SettingDoc {
        key,
        doc: doc.into(),
        example: None,
    }
}

fn example(key: &'static str, text: impl Into<String>, example: impl Into<String>) -> SettingDoc {
    SettingDoc {
        key,
        doc: text.into(),
        example: Some(example.into()),
    }
}

/// Every setting, in file order (top level, then `client`, then `redis`).
pub fn setting_docs() -> Vec<SettingDoc> {
    let (tmin, tmax) = crate::iec104::params::T0_T1_T2_RANGE_S;
    let (t3min, t3max) = crate::iec104::params::T3_RANGE_S;
    let win = window();
    let r = |r: &RangeInclusive<u64>| format!("{}..={}", r.start(), r.end());
    vec![
        example(
            "id",
            format!(
                "Unique connector ID from the Management UI, {}; required, no default.",
                id_allowed()
            ),
            "\"rtu-a\"",
        ),
        doc(
            "log_level",
            format!("Log verbosity: one of {}.", LogLevel::NAMES.join(", ")),
        ),
        doc(
            "client.host",
            "Remote IEC 104 server host name or IP address.",
        ),
        doc(
            "client.port",
            format!("Remote IEC 104 server port, {}.", r(&PORT_RANGE)),
        ),
        doc(
            "client.t0",
            format!("t0, connection establishment timeout, seconds, {tmin}..={tmax}."),
        ),
        doc(
            "client.t1",
            format!(
                "t1, timeout of sent or test APDUs awaiting acknowledgement, seconds, {tmin}..={tmax}."
            ),
        ),
        doc(
            "client.t2",
            format!(
                "t2, acknowledgement timeout when there is no data, seconds, {tmin}..={tmax}, less than t1."
            ),
        ),
        doc(
            "client.t3",
            format!("t3, idle time before a test frame is sent, seconds, {t3min}..={t3max}."),
        ),
        doc(
            "client.k",
            format!("k, maximum unacknowledged sent I-frames, {}.", r(&win)),
        ),
        doc(
            "client.w",
            format!(
                "w, acknowledge after receiving w I-frames, {}, at most k (recommended at most 2k/3).",
                r(&win)
            ),
        ),
        doc(
            "client.alternative_hosts",
            "Further servers of the same station (\"host\" or \"host:port\", port default client.port), tried in order after host when a connection fails.",
        ),
        doc(
            "client.reconnect_interval_s",
            format!(
                "Wait between connection attempts, seconds, {}.",
                r(&RECONNECT_INTERVAL_RANGE_S)
            ),
        ),
        doc(
            "client.common_addresses",
            format!(
                "Common addresses to interrogate after connect, each {}; empty = broadcast 65535.",
                r(&COMMON_ADDRESS_RANGE)
            ),
        ),
        doc(
            "client.periodic_gi_s",
            format!(
                "Period of a cyclic general interrogation, seconds, {}; 0 = off.",
                r(&PERIOD_RANGE_S)
            ),
        ),
        doc(
            "client.clock_sync",
            "Send a clock synchronisation command (C_CS_NA_1) after each connect: true or false.",
        ),
        doc(
            "client.counter_interrogation_s",
            format!(
                "Period of a counter interrogation (C_CI_NA_1), seconds, {}; 0 = off.",
                r(&PERIOD_RANGE_S)
            ),
        ),
        doc(
            "client.on_link_loss",
            format!(
                "Points of the station while the link is down: one of {} (set NT, set IV, leave as they are).",
                OnLinkLoss::NAMES.join(", ")
            ),
        ),
        doc(
            "client.link_loss_grace_s",
            format!(
                "Wait after a link loss before on_link_loss applies, seconds, {}.",
                r(&LINK_LOSS_GRACE_RANGE_S)
            ),
        ),
        doc(
            "client.time_zone",
            format!(
                "Zone of the device time tags (CP56Time2a): {}.",
                TimeZone::allowed()
            ),
        ),
        doc(
            "redis.host",
            "Valkey host, with optional port (\"valkey:6379\", \"[::1]:6379\").",
        ),
        example(
            "redis.port",
            format!(
                "Valkey port, {}; overrides a port in host; default the port in host, else {DEFAULT_REDIS_PORT}.",
                r(&PORT_RANGE)
            ),
            DEFAULT_REDIS_PORT.to_string(),
        ),
        example(
            "redis.pwd",
            "Valkey password; no default. Prefer pwd_file.",
            "\"secret\"",
        ),
        example(
            "redis.pwd_file",
            "File holding the Valkey password (one trailing newline is removed); excludes pwd.",
            "\"/run/secrets/valkey\"",
        ),
        doc(
            "redis.stream_max_length",
            "Cap of the update stream in entries, at least 1.",
        ),
        doc("redis.in_stream", "Name of the update stream, not empty."),
        doc(
            "redis.cluster",
            "Valkey Cluster: host:port is one seed node, the others are discovered.",
        ),
        doc(
            "redis.exact_trim",
            "Trim the stream to exactly stream_max_length (MAXLEN =) instead of approximately (MAXLEN ~, may hold about 100 more); exact costs Valkey throughput.",
        ),
    ]
}
