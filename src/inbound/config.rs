//! The configuration of the `iec104-inbound` role: its command line
//! ([`InboundArgs`]), its settings as read from the layers ([`RawSettings`],
//! wide integers so that an out-of-range value reaches the range check
//! instead of failing as a type error), the typed form the role uses
//! ([`InboundSettings`]), the checks between them, its managed keys
//! ([`MANAGED_KEYS`]) and its `config-gen` text ([`setting_docs`]).
//!
//! The command line, as documented (docs/inbound.md):
//!
//! ```text
//! alp-connex iec104-inbound [--id ID] [--log-level L] [--config PATH]
//!     [client [--host H] [--port P] [--t0 S] [--t1 S] [--t2 S] [--t3 S] [-k K] [-w W]]
//!     [redis [--host H[:P]] [--port P] [--pwd X | --pwd-file F] [--stream-max-length N] [--in-stream S]]
//! alp-connex iec104-inbound config-gen
//! ```
//!
//! `id`, `log_level`, the `redis` section, the protocol parameters and the
//! layering are the shared ones of [`crate::config`].

use std::ops::{Deref, RangeInclusive};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde::{Deserialize, Serialize};

use crate::config::cli::{ProtocolArgs, RedisArgs, check_config_help};
use crate::config::common::{
    PORT_RANGE, RawParams, RawRedis, SECONDS, check_id, check_params, doc, metrics_bind_doc,
    non_empty, param_warnings, params_docs, range_doc, ranged, redis_docs, required_id,
    resolve_metrics_bind, split_host_port, top_level_docs,
};
use crate::config::{
    ConfigError, Layers, LogLevel, RedisSettings, RoleArgs, RoleOptions, RoleSettings, SettingDoc,
    TimeZone, generate_for,
};
use crate::iec104::params::Params;

/// IEC 104 inbound connector: reads a remote IEC 104 server into Valkey.
///
/// Settings come from defaults < TOML file (--config) < ALP_CONNEX_*
/// environment (ALP_CONNEX_CLIENT__HOST for client.host) < command line.
#[derive(Debug, Clone, PartialEq, Parser)]
#[command(
    name = "iec104-inbound",
    mut_arg("check_config", |a| a.help(check_config_help("Connects to nothing")))
)]
pub struct InboundArgs {
    /// `--id`, `--log-level`, `--config`, `--check-config`.
    #[command(flatten)]
    pub options: RoleOptions,
    /// Address and port of the Prometheus metrics endpoint, e.g.
    /// 0.0.0.0:9464 [default: none, off].
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_bind: Option<String>,
    /// `client`, `redis` or `config-gen`.
    #[command(subcommand)]
    pub section: Option<InboundSection>,
}

/// What follows the role's own options.
#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum InboundSection {
    /// Connection to the remote IEC 104 server; may be followed by `redis`.
    Client(ClientArgs),
    /// Connection to Valkey.
    Redis(RedisArgs),
    /// Print a commented TOML file with every setting and its default.
    ConfigGen,
}

/// The `client` section.
#[derive(Debug, Clone, PartialEq, Args, Serialize)]
pub struct ClientArgs {
    /// Remote IEC 104 server host [default: 127.0.0.1].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Remote IEC 104 server port [default: 2404].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u64>,
    /// The protocol parameters.
    #[command(flatten)]
    #[serde(flatten)]
    pub protocol: ProtocolArgs,
    /// `redis` may follow.
    #[command(subcommand)]
    #[serde(skip)]
    pub then: Option<AfterClient>,
}

/// What may follow the `client` section.
#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum AfterClient {
    /// Connection to Valkey.
    Redis(RedisArgs),
}

/// The own section of `iec104-inbound` as a settings layer.
#[derive(Serialize)]
struct ClientLayer<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    metrics_bind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<&'a ClientArgs>,
}

impl InboundArgs {
    /// The `client` section, if given.
    pub fn client(&self) -> Option<&ClientArgs> {
        match &self.section {
            Some(InboundSection::Client(c)) => Some(c),
            _ => None,
        }
    }
}

/// The options every role takes, read as the role's own (`args.id`,
/// `args.check_config`).
impl Deref for InboundArgs {
    type Target = RoleOptions;

    fn deref(&self) -> &RoleOptions {
        &self.options
    }
}

impl RoleArgs for InboundArgs {
    type Settings = InboundSettings;

    fn sections(&self) -> impl Serialize {
        ClientLayer {
            metrics_bind: self.metrics_bind.as_deref(),
            client: self.client(),
        }
    }

    /// The `redis` section, if given (alone or after `client`).
    fn redis(&self) -> Option<&RedisArgs> {
        match &self.section {
            Some(InboundSection::Redis(r)) => Some(r),
            Some(InboundSection::Client(ClientArgs {
                then: Some(AfterClient::Redis(r)),
                ..
            })) => Some(r),
            _ => None,
        }
    }

    fn is_config_gen(&self) -> bool {
        matches!(self.section, Some(InboundSection::ConfigGen))
    }
}

/// Common addresses a general interrogation may name (65535 is broadcast).
pub const COMMON_ADDRESS_RANGE: RangeInclusive<u64> = 1..=65535;
/// Wait between connection attempts, seconds.
pub const RECONNECT_INTERVAL_RANGE_S: RangeInclusive<u64> = 1..=3600;
/// Period of a cyclic interrogation when on, seconds (at most a day).
pub const PERIOD_RANGE_S: RangeInclusive<u64> = 1..=86_400;
/// Grace after a link loss before points are marked, seconds.
pub const LINK_LOSS_GRACE_RANGE_S: RangeInclusive<u64> = 0..=3600;
/// Silence after which an interrogation without termination is given up,
/// seconds.
pub const INTERROGATION_TIMEOUT_RANGE_S: RangeInclusive<u64> = 1..=3600;
/// Default of `client.interrogation_timeout_s`.
pub const DEFAULT_INTERROGATION_TIMEOUT_S: u64 = 60;

/// Default IEC 104 server host.
pub const DEFAULT_CLIENT_HOST: &str = "127.0.0.1";
/// Default IEC 104 port.
pub const DEFAULT_CLIENT_PORT: u16 = 2404;

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

/// What the counter interrogation (C_CI_NA_1, general request) asks of the
/// counters: the FRZ bits of its qualifier (QCC), or no counter
/// interrogation at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CounterMode {
    /// Read the counters (FRZ 0): they come back with cause 37.
    #[default]
    Read,
    /// Freeze them (FRZ 1); the station sends the frozen values later,
    /// spontaneously.
    Freeze,
    /// Freeze and reset them (FRZ 2).
    FreezeReset,
    /// Reset them (FRZ 3).
    Reset,
    /// No counter interrogation.
    Off,
}

impl CounterMode {
    /// Every name.
    pub const NAMES: [&'static str; 5] = ["read", "freeze", "freeze-reset", "reset", "off"];

    /// The FRZ value of the qualifier (0 read, 1 freeze, 2 freeze and
    /// reset, 3 reset); `None` when off.
    pub fn freeze(self) -> Option<u8> {
        match self {
            Self::Read => Some(0),
            Self::Freeze => Some(1),
            Self::FreezeReset => Some(2),
            Self::Reset => Some(3),
            Self::Off => None,
        }
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
    /// Where the Prometheus metrics are served; `None`: nowhere.
    pub metrics_bind: Option<std::net::SocketAddr>,
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
    /// What a counter interrogation asks for; also whether one follows the
    /// interrogation of each (re)connection.
    pub counter_interrogation_mode: CounterMode,
    /// Silence after which an interrogation that has not terminated is
    /// given up.
    pub interrogation_timeout: Duration,
    /// What to do with the points while the link is down.
    pub on_link_loss: OnLinkLoss,
    /// Wait after a link loss before `on_link_loss` applies.
    pub link_loss_grace: Duration,
    /// The zone device time tags are read in.
    pub time_zone: TimeZone,
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
    /// See the typed settings' `metrics_bind`; no default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_bind: Option<String>,
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
    pub counter_interrogation_mode: CounterMode,
    pub interrogation_timeout_s: u64,
    pub on_link_loss: OnLinkLoss,
    pub link_loss_grace_s: u64,
    pub time_zone: String,
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
            counter_interrogation_mode: CounterMode::default(),
            interrogation_timeout_s: DEFAULT_INTERROGATION_TIMEOUT_S,
            on_link_loss: OnLinkLoss::default(),
            link_loss_grace_s: 5,
            time_zone: TimeZone::UTC.to_string(),
        }
    }
}

const PERIOD_UNIT: &str = " (seconds, 0 = off)";

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
        let id = required_id(self.id)?;
        let c = self.client;
        let port: u16 = ranged("client.port", c.port, &PORT_RANGE, "")?;
        let params = RawParams {
            t0: c.t0,
            t1: c.t1,
            t2: c.t2,
            t3: c.t3,
            k: c.k,
            w: c.w,
        }
        .resolve("client")?;
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
            counter_interrogation_mode: c.counter_interrogation_mode,
            interrogation_timeout: Duration::from_secs(c.interrogation_timeout_s),
            on_link_loss: c.on_link_loss,
            link_loss_grace: Duration::from_secs(c.link_loss_grace_s),
            time_zone,
        };

        let redis = self.redis.resolve()?;
        Ok(InboundSettings {
            id,
            log_level: self.log_level,
            metrics_bind: resolve_metrics_bind(self.metrics_bind)?,
            client,
            redis,
        })
    }
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
}

/// Every setting, in file order (top level, then `client`, then `redis`).
pub fn setting_docs() -> Vec<SettingDoc> {
    let r = range_doc;
    let mut docs = top_level_docs("rtu-a");
    docs.push(metrics_bind_doc());
    docs.extend([
        doc(
            "client.host",
            "Remote IEC 104 server host name or IP address.",
        ),
        doc(
            "client.port",
            format!("Remote IEC 104 server port, {}.", r(&PORT_RANGE)),
        ),
    ]);
    docs.extend(params_docs([
        "client.t0",
        "client.t1",
        "client.t2",
        "client.t3",
        "client.k",
        "client.w",
    ]));
    docs.extend([
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
                "Period of a counter interrogation (C_CI_NA_1, as counter_interrogation_mode says), seconds, {}; 0 = off.",
                r(&PERIOD_RANGE_S)
            ),
        ),
        doc(
            "client.counter_interrogation_mode",
            format!(
                "Counter interrogation (C_CI_NA_1, general request) after the interrogation of each (re)connection and every counter_interrogation_s: one of {} (read the counters; freeze; freeze and reset; reset, as QCC FRZ 0..3; none).",
                CounterMode::NAMES.join(", ")
            ),
        ),
        doc(
            "client.interrogation_timeout_s",
            format!(
                "An interrogation without termination (ACT_TERM) that has sent nothing for this long is given up and judges no point, seconds, {}.",
                r(&INTERROGATION_TIMEOUT_RANGE_S)
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
    ]);
    docs.extend(redis_docs());
    docs
}

/// The keys of the managed configuration (`connectors:{ID}:config`) of the
/// inbound role and the settings they set.
pub const MANAGED_KEYS: [(&str, &str); 20] = [
    ("host", "client.host"),
    ("port", "client.port"),
    ("log_level", "log_level"),
    ("t0", "client.t0"),
    ("t1", "client.t1"),
    ("t2", "client.t2"),
    ("t3", "client.t3"),
    ("k", "client.k"),
    ("w", "client.w"),
    ("alternative_hosts", "client.alternative_hosts"),
    ("reconnect_interval_s", "client.reconnect_interval_s"),
    ("common_addresses", "client.common_addresses"),
    ("periodic_gi_s", "client.periodic_gi_s"),
    ("clock_sync", "client.clock_sync"),
    ("counter_interrogation_s", "client.counter_interrogation_s"),
    (
        "counter_interrogation_mode",
        "client.counter_interrogation_mode",
    ),
    ("interrogation_timeout_s", "client.interrogation_timeout_s"),
    ("on_link_loss", "client.on_link_loss"),
    ("link_loss_grace_s", "client.link_loss_grace_s"),
    ("time_zone", "client.time_zone"),
];

impl RoleSettings for InboundSettings {
    type Raw = RawSettings;
    const ROLE: &'static str = "iec104-inbound";
    const ENV_EXAMPLE_KEY: &'static str = "client.host";
    const ENV_STRING_KEYS: &'static [&'static str] =
        &["metrics_bind", "client.host", "client.time_zone"];
    const MANAGED_KEYS: &'static [(&'static str, &'static str)] = &MANAGED_KEYS;

    fn setting_docs() -> Vec<SettingDoc> {
        setting_docs()
    }

    fn resolve(raw: RawSettings) -> Result<Self, ConfigError> {
        raw.resolve()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        check_id(&self.id)?;
        let c = &self.client;
        non_empty("client.host", &c.host)?;
        ranged::<u16>("client.port", c.port.into(), &PORT_RANGE, "")?;
        check_params("client", &c.params)?;
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
        if let (Some(p), CounterMode::Off) = (c.counter_interrogation, c.counter_interrogation_mode)
        {
            return Err(ConfigError::invalid(
                "client.counter_interrogation_s",
                p.as_secs(),
                "must be 0 when client.counter_interrogation_mode is \"off\"",
            ));
        }
        ranged::<u64>(
            "client.interrogation_timeout_s",
            c.interrogation_timeout.as_secs(),
            &INTERROGATION_TIMEOUT_RANGE_S,
            SECONDS,
        )?;
        ranged::<u64>(
            "client.link_loss_grace_s",
            c.link_loss_grace.as_secs(),
            &LINK_LOSS_GRACE_RANGE_S,
            SECONDS,
        )?;
        self.redis.validate()?;
        Ok(())
    }

    fn warnings(&self) -> Vec<String> {
        param_warnings("client", &self.client.params)
    }

    fn log_level(&self) -> LogLevel {
        self.log_level
    }
}

/// Reads the layers (defaults < `--config` file < `ALP_CONNEX_*` < command
/// line), and returns the checked settings ([`RoleArgs::load`]).
pub fn load(args: &InboundArgs) -> Result<InboundSettings, ConfigError> {
    args.load()
}

/// Reads the start-up layers without checking them yet
/// ([`RoleArgs::layers`]).
pub fn layers(args: &InboundArgs) -> Result<Layers<InboundSettings>, ConfigError> {
    args.layers()
}

/// The commented default configuration file of `iec104-inbound`.
pub fn generate() -> String {
    generate_for::<InboundSettings>()
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
