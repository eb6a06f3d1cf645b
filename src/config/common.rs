//! What every role's settings share: the top-level `id` and `log_level`,
//! the `redis` section, the IEC 104 parameters t0..t3, k, w of a role's own
//! section, the zone of device time tags, the range checks and the
//! `config-gen` descriptions.

use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::level_filters::LevelFilter;

use super::error::ConfigError;
use super::secret::Secret;
use crate::iec104::params::{ParamError, Params, WINDOW_RANGE};

/// TCP ports.
pub const PORT_RANGE: RangeInclusive<u64> = 1..=65535;
/// Length of the connector ID.
pub const ID_MAX_LEN: usize = 64;
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

impl RawRedis {
    /// Splits the host, narrows the port and reads the password file.
    pub fn resolve(self) -> Result<RedisSettings, ConfigError> {
        let (host, port_in_host) = split_host_port("redis.host", &self.host)?;
        let port = match self.port {
            Some(p) => ranged("redis.port", p, &PORT_RANGE, "")?,
            None => port_in_host.unwrap_or(DEFAULT_REDIS_PORT),
        };
        let password = match (self.pwd, self.pwd_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Conflict {
                    setting: "redis.pwd",
                    other: "redis.pwd_file",
                });
            }
            (Some(pwd), None) => Some(pwd),
            (None, Some(path)) => Some(read_password_file("redis.pwd_file", &path)?),
            (None, None) => None,
        };
        Ok(RedisSettings {
            host,
            port,
            password,
            stream_max_length: self.stream_max_length,
            in_stream: self.in_stream,
            cluster: self.cluster,
            exact_trim: self.exact_trim,
        })
    }
}

impl RedisSettings {
    /// Checks the section; the error names the first setting that is wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        non_empty("redis.host", &self.host)?;
        ranged::<u16>("redis.port", self.port.into(), &PORT_RANGE, "")?;
        if self.stream_max_length < 1 {
            return Err(ConfigError::invalid(
                "redis.stream_max_length",
                self.stream_max_length,
                "must be at least 1",
            ));
        }
        non_empty("redis.in_stream", &self.in_stream)
    }
}

/// The zone CP56Time2a time tags are read in: UTC, a fixed offset or an
/// IANA zone name (see [`Zone`](crate::iec104::time::Zone)).
pub use crate::iec104::time::Zone as TimeZone;

pub(crate) fn range_text(range: &RangeInclusive<u64>, unit: &str) -> String {
    format!("must be in {}..={}{unit}", range.start(), range.end())
}

pub(crate) const SECONDS: &str = " (seconds)";

/// `value` checked against `range` and narrowed to `T`.
pub(crate) fn ranged<T: TryFrom<u64>>(
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

pub(crate) fn window() -> RangeInclusive<u64> {
    u64::from(WINDOW_RANGE.0)..=u64::from(WINDOW_RANGE.1)
}

/// t0..t3, k and w of a role's section as read (wide integers).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawParams {
    pub t0: u64,
    pub t1: u64,
    pub t2: u64,
    pub t3: u64,
    pub k: u64,
    pub w: u64,
}

impl RawParams {
    /// The parameters with the windows narrowed; errors name `{section}.k`
    /// or `{section}.w`. [`check_params`] checks the rest.
    pub fn resolve(self, section: &str) -> Result<Params, ConfigError> {
        Ok(Params {
            t0: Duration::from_secs(self.t0),
            t1: Duration::from_secs(self.t1),
            t2: Duration::from_secs(self.t2),
            t3: Duration::from_secs(self.t3),
            k: ranged(&format!("{section}.k"), self.k, &window(), "")?,
            w: ranged(&format!("{section}.w"), self.w, &window(), "")?,
        })
    }
}

/// [`Params::validate`] with the errors naming `{section}.{name}`.
pub(crate) fn check_params(section: &str, params: &Params) -> Result<(), ConfigError> {
    params
        .validate()
        .map(|_| ())
        .map_err(|e| param_error(section, e))
}

/// The standard's warnings about `params`, one line each, prefixed with the
/// section.
pub(crate) fn param_warnings(section: &str, params: &Params) -> Vec<String> {
    params
        .validate()
        .map(|w| w.iter().map(|w| format!("{section}: {w}")).collect())
        .unwrap_or_default()
}

fn param_error(section: &str, e: ParamError) -> ConfigError {
    match e {
        ParamError::OutOfRange {
            name,
            value,
            min,
            max,
            unit,
        } => ConfigError::invalid(
            format!("{section}.{name}"),
            value,
            range_text(&(min..=max), if unit.is_empty() { "" } else { SECONDS }),
        ),
        ParamError::T2NotLessThanT1 { t2, t1 } => ConfigError::invalid(
            format!("{section}.t2"),
            t2,
            format!("must be less than {section}.t1 = {t1} (seconds)"),
        ),
        ParamError::WGreaterThanK { w, k } => ConfigError::invalid(
            format!("{section}.w"),
            w,
            format!("must not exceed {section}.k = {k}"),
        ),
    }
}

/// Splits `host[:port]`, `[v6]:port` or a bare IPv6 address.
pub(crate) fn split_host_port(
    setting: &str,
    text: &str,
) -> Result<(String, Option<u16>), ConfigError> {
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

/// Reads a password file named by `setting`; one trailing newline is not
/// part of the password.
pub(crate) fn read_password_file(
    setting: &'static str,
    path: &std::path::Path,
) -> Result<Secret, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        setting,
        path: path.display().to_string(),
        reason: format!("cannot read: {e}"),
    })?;
    let text = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    Ok(Secret::new(text))
}

pub(crate) fn non_empty(setting: &str, value: &str) -> Result<(), ConfigError> {
    if value.is_empty() {
        Err(ConfigError::invalid(setting, "\"\"", "must not be empty"))
    } else {
        Ok(())
    }
}

/// The `id` given, or the error saying where to give it.
pub(crate) fn required_id(id: Option<String>) -> Result<String, ConfigError> {
    id.ok_or(ConfigError::Missing {
        setting: "id",
        hint: "--id, ALP_CONNEX_ID or id in the --config file",
    })
}

fn id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')
}

/// Whether `id` follows the contract's rule for IDs ([`id_allowed`]): a
/// connector's, and the backend's mappings'.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= ID_MAX_LEN && id.chars().all(id_char)
}

/// What `id` allows, for messages and `config-gen`.
pub fn id_allowed() -> String {
    format!("1..={ID_MAX_LEN} characters of A-Z a-z 0-9 _ . : -")
}

/// Checks the connector ID.
pub(crate) fn check_id(id: &str) -> Result<(), ConfigError> {
    if !is_valid_id(id) {
        return Err(ConfigError::invalid(
            "id",
            format!("{id:?}"),
            format!("must be {}", id_allowed()),
        ));
    }
    Ok(())
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

pub(crate) fn doc(key: &'static str, doc: impl Into<String>) -> SettingDoc {
    SettingDoc {
        key,
        doc: doc.into(),
        example: None,
    }
}

pub(crate) fn example(
    key: &'static str,
    text: impl Into<String>,
    example: impl Into<String>,
) -> SettingDoc {
    SettingDoc {
        key,
        doc: text.into(),
        example: Some(example.into()),
    }
}

pub(crate) fn range_doc(r: &RangeInclusive<u64>) -> String {
    format!("{}..={}", r.start(), r.end())
}

/// `metrics_bind` of the connector roles: where their Prometheus metrics
/// are served; off without it.
pub(crate) fn metrics_bind_doc() -> SettingDoc {
    example(
        "metrics_bind",
        "Address and port of the Prometheus metrics endpoint (GET /metrics), an IP address and a port 1..=65535 (\"0.0.0.0:9464\", \"[::]:9464\"); no default: no endpoint.",
        "\"127.0.0.1:9464\"",
    )
}

/// Checks `metrics_bind`: an IP address and a port other than 0.
pub(crate) fn resolve_metrics_bind(
    raw: Option<String>,
) -> Result<Option<std::net::SocketAddr>, ConfigError> {
    let Some(text) = raw else {
        return Ok(None);
    };
    match text.parse::<std::net::SocketAddr>() {
        Ok(addr) if addr.port() != 0 => Ok(Some(addr)),
        _ => Err(ConfigError::invalid(
            "metrics_bind",
            format!("{text:?}"),
            "must be an IP address and a port 1..=65535, e.g. \"0.0.0.0:9464\" or \"[::]:9464\"",
        )),
    }
}

/// The top-level settings every role has: `id` (with an example value) and
/// `log_level`.
pub(crate) fn top_level_docs(example_id: &str) -> Vec<SettingDoc> {
    vec![
        example(
            "id",
            format!(
                "Unique connector ID from the Management UI, {}; required, no default.",
                id_allowed()
            ),
            format!("{example_id:?}"),
        ),
        doc(
            "log_level",
            format!("Log verbosity: one of {}.", LogLevel::NAMES.join(", ")),
        ),
    ]
}

/// t0..t3, k, w under the given keys (`client.t0`, ..).
pub(crate) fn params_docs(keys: [&'static str; 6]) -> Vec<SettingDoc> {
    let (tmin, tmax) = crate::iec104::params::T0_T1_T2_RANGE_S;
    let (t3min, t3max) = crate::iec104::params::T3_RANGE_S;
    let win = range_doc(&window());
    let [t0, t1, t2, t3, k, w] = keys;
    vec![
        doc(
            t0,
            format!("t0, connection establishment timeout, seconds, {tmin}..={tmax}."),
        ),
        doc(
            t1,
            format!(
                "t1, timeout of sent or test APDUs awaiting acknowledgement, seconds, {tmin}..={tmax}."
            ),
        ),
        doc(
            t2,
            format!(
                "t2, acknowledgement timeout when there is no data, seconds, {tmin}..={tmax}, less than t1."
            ),
        ),
        doc(
            t3,
            format!("t3, idle time before a test frame is sent, seconds, {t3min}..={t3max}."),
        ),
        doc(
            k,
            format!("k, maximum unacknowledged sent I-frames, {win}."),
        ),
        doc(
            w,
            format!(
                "w, acknowledge after receiving w I-frames, {win}, at most k (recommended at most 2k/3)."
            ),
        ),
    ]
}

/// The `redis` section.
pub(crate) fn redis_docs() -> Vec<SettingDoc> {
    vec![
        doc(
            "redis.host",
            "Valkey host, with optional port (\"valkey:6379\", \"[::1]:6379\").",
        ),
        example(
            "redis.port",
            format!(
                "Valkey port, {}; overrides a port in host; default the port in host, else {DEFAULT_REDIS_PORT}.",
                range_doc(&PORT_RANGE)
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
