//! The configuration of the `iec104-server` role: its command line
//! ([`Iec104ServerArgs`]), its settings as read ([`RawServerSettings`]) and
//! checked ([`Iec104ServerSettings`]), its own section `server` (the
//! listening IEC 104 controlled station), its managed keys
//! ([`SERVER_MANAGED_KEYS`]) and its `config-gen` text
//! ([`server_setting_docs`]).
//!
//! The command line, as documented (docs/server.md):
//!
//! ```text
//! alp-connex iec104-server [--id ID] [--log-level L] [--config PATH] [--check-config]
//!     [server [--bind IP] [--port P] [--t0 S] [--t1 S] [--t2 S] [--t3 S] [-k K] [-w W]
//!             [--max-connections N] [--allow NET].. [--common-address CA].. [--queue N]]
//!     [redis [--host H[:P]] [--port P] [--pwd X | --pwd-file F] [--stream-max-length N] [--in-stream S]]
//! alp-connex iec104-server config-gen
//! ```
//!
//! As for `iec104-inbound`, the sections are subcommands (`server` first,
//! then `redis`, each at most once); `id`, `log_level`, the `redis` section,
//! the protocol parameters and the layering are the shared ones of
//! [`crate::config`].

use core::fmt;
use std::net::IpAddr;
use std::ops::{Deref, RangeInclusive};
use std::str::FromStr;

use clap::{Args, Parser, Subcommand};
use serde::{Deserialize, Serialize};

use crate::config::cli::{ProtocolArgs, RedisArgs, check_config_help};
use crate::config::common::{
    PORT_RANGE, RawParams, RawRedis, check_id, check_params, doc, metrics_bind_doc, param_warnings,
    params_docs, range_doc, ranged, redis_docs, required_id, resolve_metrics_bind, top_level_docs,
};
use crate::config::{
    ConfigError, LogLevel, RedisSettings, RoleArgs, RoleOptions, RoleSettings, SettingDoc,
};
use crate::iec104::params::Params;
use crate::station::{GroupRange, Groups};

/// IEC 104 server: serves the Valkey process image to SCADA masters.
///
/// Settings come from defaults < TOML file (--config) < ALP_CONNEX_*
/// environment (ALP_CONNEX_SERVER__PORT for server.port) < command line.
#[derive(Debug, Clone, PartialEq, Parser)]
#[command(
    name = "iec104-server",
    mut_arg("check_config", |a| a.help(check_config_help("Listens on nothing")))
)]
pub struct Iec104ServerArgs {
    /// `--id`, `--log-level`, `--config`, `--check-config`.
    #[command(flatten)]
    pub options: RoleOptions,
    /// Address and port of the Prometheus metrics endpoint, e.g.
    /// 0.0.0.0:9464 [default: none, off].
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_bind: Option<String>,
    /// `server`, `redis` or `config-gen`.
    #[command(subcommand)]
    pub section: Option<ServerRoleSection>,
}

/// What follows the role's own options.
#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum ServerRoleSection {
    /// The listening IEC 104 server; may be followed by `redis`.
    Server(Box<ServerArgs>),
    /// Connection to Valkey.
    Redis(RedisArgs),
    /// Print a commented TOML file with every setting and its default.
    ConfigGen,
}

/// The `server` section.
#[derive(Debug, Clone, PartialEq, Args, Serialize)]
pub struct ServerArgs {
    /// Address to listen on, IPv4 or IPv6 [default: 0.0.0.0].
    #[arg(long, value_name = "IP")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    /// Port to listen on [default: 2404].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u64>,
    /// The protocol parameters.
    #[command(flatten)]
    #[serde(flatten)]
    pub protocol: ProtocolArgs,
    /// Masters connected at the same time [default: 5].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u64>,
    /// Network or address masters may connect from, e.g. 10.0.0.0/8;
    /// repeat or separate with commas [default: every address].
    #[arg(long, value_name = "NET", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Common address served; repeat or separate with commas [default:
    /// every common address in the image].
    #[arg(long = "common-address", value_name = "CA", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub common_addresses: Vec<u64>,
    /// Points of an interrogation group, GROUP:CASDU:FIRST[-LAST] (CASDU
    /// `*` for every one), e.g. 1:100:1000-1999; repeat or separate with
    /// commas [default: none].
    #[arg(long = "group", value_name = "G:CA:IOA-IOA", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Length of the update queue of each master [default: 10000].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<u64>,
    /// `redis` may follow.
    #[command(subcommand)]
    #[serde(skip)]
    pub then: Option<AfterServer>,
}

/// What may follow the `server` section.
#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum AfterServer {
    /// Connection to Valkey.
    Redis(RedisArgs),
}

/// The own section of `iec104-server` as a settings layer.
#[derive(Serialize)]
struct ServerLayer<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    metrics_bind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<&'a ServerArgs>,
}

impl Iec104ServerArgs {
    /// The `server` section, if given.
    pub fn server(&self) -> Option<&ServerArgs> {
        match &self.section {
            Some(ServerRoleSection::Server(s)) => Some(s),
            _ => None,
        }
    }
}

/// The options every role takes, read as the role's own (`args.id`,
/// `args.check_config`).
impl Deref for Iec104ServerArgs {
    type Target = RoleOptions;

    fn deref(&self) -> &RoleOptions {
        &self.options
    }
}

impl RoleArgs for Iec104ServerArgs {
    type Settings = Iec104ServerSettings;

    fn sections(&self) -> impl Serialize {
        ServerLayer {
            metrics_bind: self.metrics_bind.as_deref(),
            server: self.server(),
        }
    }

    /// The `redis` section, if given (alone or after `server`).
    fn redis(&self) -> Option<&RedisArgs> {
        match &self.section {
            Some(ServerRoleSection::Redis(r)) => Some(r),
            Some(ServerRoleSection::Server(s)) => match &s.then {
                Some(AfterServer::Redis(r)) => Some(r),
                None => None,
            },
            _ => None,
        }
    }

    fn is_config_gen(&self) -> bool {
        matches!(self.section, Some(ServerRoleSection::ConfigGen))
    }
}

/// Simultaneous masters.
pub const MAX_CONNECTIONS_RANGE: RangeInclusive<u64> = 1..=1000;
/// Common addresses a server serves (65535 is the broadcast address).
pub const SERVED_COMMON_ADDRESS_RANGE: RangeInclusive<u64> = 1..=65534;
/// Length of the update queue of one master.
pub const QUEUE_RANGE: RangeInclusive<u64> = 1..=1_000_000;

/// Default listening address: every IPv4 address.
pub const DEFAULT_SERVER_BIND: &str = "0.0.0.0";
/// Default IEC 104 port.
pub const DEFAULT_SERVER_PORT: u16 = 2404;
/// Default number of simultaneous masters.
pub const DEFAULT_MAX_CONNECTIONS: u16 = 5;
/// Default length of the update queue of one master.
pub const DEFAULT_QUEUE: u32 = 10_000;

/// An IPv4 or IPv6 network (`10.0.0.0/8`, `fd00::/8`); a single address is
/// a network of its full length.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// The network's address as written (host bits may be set).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is in the network. An IPv4-mapped IPv6 address
    /// (`::ffff:10.1.2.3`, as a dual-stack socket reports IPv4 peers)
    /// counts as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        // A network written as IPv4-mapped IPv6 (`::ffff:10.0.0.0/104`) is
        // its IPv4 network.
        let (addr, prefix) = match self.addr {
            IpAddr::V6(v6) if self.prefix >= 96 && v6.to_ipv4_mapped().is_some() => {
                (IpAddr::V6(v6).to_canonical(), self.prefix - 96)
            }
            addr => (addr, self.prefix),
        };
        match (addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            // An IPv6 network (`::/0`) admits no IPv4 peer, nor the reverse.
            _ => false,
        }
    }
}

impl FromStr for IpNetwork {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| ())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| ())?
            }
            Some(_) => return Err(()),
        };
        if prefix > max {
            return Err(());
        }
        Ok(Self { addr, prefix })
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl fmt::Debug for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The settings of one `iec104-server` connector, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Iec104ServerSettings {
    /// Unique connector ID from the Management UI.
    pub id: String,
    /// Log verbosity.
    pub log_level: LogLevel,
    /// Where the Prometheus metrics are served; `None`: nowhere.
    pub metrics_bind: Option<std::net::SocketAddr>,
    /// The listening IEC 104 controlled station.
    pub server: ServerSettings,
    /// The connection to Valkey.
    pub redis: RedisSettings,
}

/// The listening IEC 104 controlled station (section `server`).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    /// Address to listen on.
    pub bind: IpAddr,
    /// TCP port to listen on.
    pub port: u16,
    /// t0..t3, k, w of every connection.
    pub params: Params,
    /// Masters connected at the same time; further connections are refused.
    pub max_connections: u16,
    /// Networks masters may connect from; empty means every address.
    pub allow: Vec<IpNetwork>,
    /// Common addresses served; empty means every one in the image.
    pub common_addresses: Vec<u16>,
    /// The points of each interrogation group.
    pub groups: Groups,
    /// Length of the update queue of each master.
    pub queue: u32,
}

impl ServerSettings {
    /// Whether a master at `ip` may connect.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow.is_empty() || self.allow.iter().any(|n| n.contains(ip))
    }
}

/// The settings of `iec104-server` as the layers give them, with their
/// defaults.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawServerSettings {
    /// See [`Iec104ServerSettings::id`]; no default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// See [`Iec104ServerSettings::log_level`].
    pub log_level: LogLevel,
    /// See the typed settings' `metrics_bind`; no default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_bind: Option<String>,
    /// Section `server`.
    pub server: RawServer,
    /// Section `redis`.
    pub redis: RawRedis,
}

/// Section `server` as read; see [`ServerSettings`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawServer {
    pub bind: String,
    pub port: u64,
    pub t0: u64,
    pub t1: u64,
    pub t2: u64,
    pub t3: u64,
    pub k: u64,
    pub w: u64,
    pub max_connections: u64,
    pub allow: Vec<String>,
    pub common_addresses: Vec<u64>,
    pub groups: Vec<String>,
    pub queue: u64,
}

impl Default for RawServer {
    fn default() -> Self {
        let p = Params::default();
        Self {
            bind: DEFAULT_SERVER_BIND.to_owned(),
            port: DEFAULT_SERVER_PORT.into(),
            t0: p.t0.as_secs(),
            t1: p.t1.as_secs(),
            t2: p.t2.as_secs(),
            t3: p.t3.as_secs(),
            k: p.k.into(),
            w: p.w.into(),
            max_connections: DEFAULT_MAX_CONNECTIONS.into(),
            allow: Vec::new(),
            common_addresses: Vec::new(),
            groups: Vec::new(),
            queue: DEFAULT_QUEUE.into(),
        }
    }
}

const ALLOW_TEXT: &str = "must be an IPv4 or IPv6 address or network (10.0.0.0/8, fd00::/8)";

impl RawServerSettings {
    /// Narrows the wide values, parses the addresses and builds the typed
    /// settings; [`Iec104ServerSettings::validate`] then checks the rest.
    pub fn resolve(self) -> Result<Iec104ServerSettings, ConfigError> {
        let id = required_id(self.id)?;
        let s = self.server;
        let bind = s.bind.parse().map_err(|_| {
            ConfigError::invalid(
                "server.bind",
                format!("{:?}", s.bind),
                "must be an IPv4 or IPv6 address (0.0.0.0 or :: for every address)",
            )
        })?;
        let mut allow = Vec::with_capacity(s.allow.len());
        for text in &s.allow {
            let net = text.trim().parse().map_err(|()| {
                ConfigError::invalid("server.allow", format!("{text:?}"), ALLOW_TEXT)
            })?;
            allow.push(net);
        }
        let mut common_addresses = Vec::with_capacity(s.common_addresses.len());
        for (i, &ca) in s.common_addresses.iter().enumerate() {
            let setting = format!("server.common_addresses[{i}]");
            common_addresses.push(ranged(&setting, ca, &SERVED_COMMON_ADDRESS_RANGE, "")?);
        }
        let mut groups = Vec::with_capacity(s.groups.len());
        for text in &s.groups {
            let range: GroupRange =
                text.parse().map_err(|e: crate::station::GroupRangeError| {
                    ConfigError::invalid("server.groups", format!("{text:?}"), e.to_string())
                })?;
            groups.push(range);
        }
        let server = ServerSettings {
            bind,
            port: ranged("server.port", s.port, &PORT_RANGE, "")?,
            params: RawParams {
                t0: s.t0,
                t1: s.t1,
                t2: s.t2,
                t3: s.t3,
                k: s.k,
                w: s.w,
            }
            .resolve("server")?,
            max_connections: ranged(
                "server.max_connections",
                s.max_connections,
                &MAX_CONNECTIONS_RANGE,
                "",
            )?,
            allow,
            common_addresses,
            groups: Groups::new(groups),
            queue: ranged("server.queue", s.queue, &QUEUE_RANGE, "")?,
        };
        Ok(Iec104ServerSettings {
            id,
            log_level: self.log_level,
            metrics_bind: resolve_metrics_bind(self.metrics_bind)?,
            server,
            redis: self.redis.resolve()?,
        })
    }
}

impl Iec104ServerSettings {
    /// The defaults of every setting, with the one setting that has none.
    pub fn with_defaults(id: impl Into<String>) -> Result<Self, ConfigError> {
        RawServerSettings {
            id: Some(id.into()),
            ..RawServerSettings::default()
        }
        .resolve()
    }
}

/// The keys of the managed configuration (`connectors:{ID}:config`) of the
/// server role and the settings they set.
pub const SERVER_MANAGED_KEYS: [(&str, &str); 13] = [
    ("bind", "server.bind"),
    ("port", "server.port"),
    ("log_level", "log_level"),
    ("t0", "server.t0"),
    ("t1", "server.t1"),
    ("t2", "server.t2"),
    ("t3", "server.t3"),
    ("k", "server.k"),
    ("w", "server.w"),
    ("max_connections", "server.max_connections"),
    ("allow", "server.allow"),
    ("common_addresses", "server.common_addresses"),
    ("groups", "server.groups"),
];

impl RoleSettings for Iec104ServerSettings {
    type Raw = RawServerSettings;
    const ROLE: &'static str = "iec104-server";
    const ENV_EXAMPLE_KEY: &'static str = "server.port";
    const ENV_STRING_KEYS: &'static [&'static str] = &["metrics_bind", "server.bind"];
    const MANAGED_KEYS: &'static [(&'static str, &'static str)] = &SERVER_MANAGED_KEYS;

    fn setting_docs() -> Vec<SettingDoc> {
        server_setting_docs()
    }

    fn resolve(raw: RawServerSettings) -> Result<Self, ConfigError> {
        raw.resolve()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        check_id(&self.id)?;
        let s = &self.server;
        ranged::<u16>("server.port", s.port.into(), &PORT_RANGE, "")?;
        check_params("server", &s.params)?;
        ranged::<u16>(
            "server.max_connections",
            s.max_connections.into(),
            &MAX_CONNECTIONS_RANGE,
            "",
        )?;
        for (i, &ca) in s.common_addresses.iter().enumerate() {
            let setting = format!("server.common_addresses[{i}]");
            ranged::<u16>(&setting, ca.into(), &SERVED_COMMON_ADDRESS_RANGE, "")?;
        }
        ranged::<u32>("server.queue", s.queue.into(), &QUEUE_RANGE, "")?;
        self.redis.validate()
    }

    fn warnings(&self) -> Vec<String> {
        param_warnings("server", &self.server.params)
    }

    fn log_level(&self) -> LogLevel {
        self.log_level
    }
}

/// Every setting of `iec104-server`, in file order.
pub fn server_setting_docs() -> Vec<SettingDoc> {
    let r = range_doc;
    let mut docs = top_level_docs("scada-gw");
    docs.push(metrics_bind_doc());
    docs.extend([
        doc(
            "server.bind",
            "Address to listen on, IPv4 or IPv6; 0.0.0.0 every IPv4 address, :: every address.",
        ),
        doc(
            "server.port",
            format!("Port to listen on, {}.", r(&PORT_RANGE)),
        ),
    ]);
    docs.extend(params_docs([
        "server.t0",
        "server.t1",
        "server.t2",
        "server.t3",
        "server.k",
        "server.w",
    ]));
    docs.extend([
        doc(
            "server.max_connections",
            format!(
                "Masters connected at the same time, {}; further connections are refused.",
                r(&MAX_CONNECTIONS_RANGE)
            ),
        ),
        doc(
            "server.allow",
            "Networks masters may connect from (\"10.0.0.0/8\", \"fd00::/8\", \"192.0.2.7\"); empty = every address.",
        ),
        doc(
            "server.common_addresses",
            format!(
                "Common addresses served, each {}; empty = every common address in the image.",
                r(&SERVED_COMMON_ADDRESS_RANGE)
            ),
        ),
        doc(
            "server.groups",
            "Points of the interrogation groups 1..16 (QOI 21..36), each \"GROUP:CASDU:FIRST[-LAST]\" with CASDU * for every one (\"1:100:1000-1999\", \"2:*:5000\"); a point may be in several; empty = groups answer without points.",
        ),
        doc(
            "server.queue",
            format!(
                "Length of the update queue of each master, {}.",
                r(&QUEUE_RANGE)
            ),
        ),
    ]);
    docs.extend(redis_docs());
    docs
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
