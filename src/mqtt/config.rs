//! The configuration of the `mqtt` role: its command line ([`MqttArgs`]),
//! its settings as read from the layers ([`RawSettings`]) and checked
//! ([`MqttSettings`]), its managed keys ([`MANAGED_KEYS`]) and its
//! `config-gen` text ([`setting_docs`]).
//!
//! The command line, as documented (docs/mqtt.md):
//!
//! ```text
//! alp-connex mqtt [--id ID] [--log-level L] [--config PATH] [--check-config]
//!     [mqtt [--host H] [--port P] [--client-id C] [--username U] [--password-file F]
//!           [--tls] [--ca-file F] [--cert-file F] [--key-file F] [--qos 0|1] [--protocol 3.1.1|5]]
//!     [redis [--host H[:P]] [--port P] [--pwd X | --pwd-file F] [--stream-max-length N] [--in-stream S]]
//! alp-connex mqtt config-gen
//! ```
//!
//! The mappings (the contract's shape, `docs/contract.md`) come from the
//! managed configuration or, for a gateway run without a backend, from the
//! file (`[[mappings]]`); they are checked by [`MappingConfig`] and a
//! refused one names its place (`mappings[2].points[0].value: …`). The
//! broker password comes from a file (`mqtt.password_file`) or the
//! environment (`ALP_CONNEX_MQTT__PASSWORD`), never from the command line
//! or Valkey: the managed `broker` object takes only the contract's keys.

use core::fmt;
use std::collections::BTreeMap;
use std::ops::{Deref, RangeInclusive};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use super::engine::DEFAULT_MAX_PAYLOAD;
use super::mapping::{BrokerSettings as ManagedBroker, MAX_SILENCE_TIMEOUT_S, MappingConfig};
use crate::config::cli::{RedisArgs, check_config_help};
use crate::config::common::{
    PORT_RANGE, RawRedis, SECONDS, check_id, doc, example, metrics_bind_doc, non_empty, range_doc,
    ranged, read_password_file, redis_docs, required_id, resolve_metrics_bind, top_level_docs,
};
use crate::config::{
    ConfigError, LogLevel, RedisSettings, RoleArgs, RoleOptions, RoleSettings, Secret, SettingDoc,
};

/// MQTT connector: maps sensor JSON from an MQTT broker to IEC 104 points
/// in Valkey.
///
/// Settings come from defaults < TOML file (--config) < ALP_CONNEX_*
/// environment (ALP_CONNEX_MQTT__HOST for mqtt.host) < command line.
#[derive(Debug, Clone, PartialEq, Parser)]
#[command(
    name = "mqtt",
    mut_arg("check_config", |a| a.help(check_config_help("Connects to nothing")))
)]
pub struct MqttArgs {
    /// `--id`, `--log-level`, `--config`, `--check-config`.
    #[command(flatten)]
    pub options: RoleOptions,
    /// Address and port of the Prometheus metrics endpoint, e.g.
    /// 0.0.0.0:9464 [default: none, off].
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_bind: Option<String>,
    /// `mqtt`, `redis` or `config-gen`.
    #[command(subcommand)]
    pub section: Option<MqttSection>,
}

/// What follows the role's own options.
#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum MqttSection {
    /// Connection to the MQTT broker; may be followed by `redis`.
    Mqtt(Box<BrokerArgs>),
    /// Connection to Valkey.
    Redis(RedisArgs),
    /// Print a commented TOML file with every setting and its default.
    ConfigGen,
}

/// The MQTT protocol version spoken to the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ValueEnum)]
pub enum Protocol {
    /// MQTT 3.1.1 (protocol level 4).
    #[default]
    #[serde(rename = "3.1.1")]
    #[value(name = "3.1.1")]
    V311,
    /// MQTT 5.
    #[serde(rename = "5")]
    #[value(name = "5")]
    V5,
}

impl Protocol {
    /// Every name.
    pub const NAMES: [&'static str; 2] = ["3.1.1", "5"];
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V311 => "3.1.1",
            Self::V5 => "5",
        })
    }
}

/// The `mqtt` section of the command line.
#[derive(Debug, Clone, PartialEq, Args, Serialize)]
pub struct BrokerArgs {
    /// Broker host name or IP address [default: 127.0.0.1].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Broker port [default: 1883, 8883 with --tls].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u64>,
    /// MQTT client identifier, the key of the persistent session
    /// [default: alp-connex-ID].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// User name for the broker (needed with a password).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// File holding the broker password, used with --username (or set
    /// ALP_CONNEX_MQTT__PASSWORD).
    #[arg(long, value_name = "PATH")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// Connect with TLS, verifying the broker's certificate and host name.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tls: bool,
    /// CA certificates (PEM) to verify the broker with [default: the
    /// system's trust store].
    #[arg(long, value_name = "PATH")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain (PEM) for brokers that require one; with
    /// --key-file.
    #[arg(long, value_name = "PATH")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PATH")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// QoS of the subscriptions: 0 or 1 [default: 1].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qos: Option<u64>,
    /// MQTT protocol version [default: 3.1.1].
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// `redis` may follow.
    #[command(subcommand)]
    #[serde(skip)]
    pub then: Option<AfterBroker>,
}

/// What may follow the `mqtt` section.
#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum AfterBroker {
    /// Connection to Valkey.
    Redis(RedisArgs),
}

/// The own section of `mqtt` as a settings layer.
#[derive(Serialize)]
struct BrokerLayer<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    metrics_bind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mqtt: Option<&'a BrokerArgs>,
}

impl MqttArgs {
    /// The `mqtt` section, if given.
    pub fn broker(&self) -> Option<&BrokerArgs> {
        match &self.section {
            Some(MqttSection::Mqtt(b)) => Some(b.as_ref()),
            _ => None,
        }
    }
}

impl Deref for MqttArgs {
    type Target = RoleOptions;

    fn deref(&self) -> &RoleOptions {
        &self.options
    }
}

impl RoleArgs for MqttArgs {
    type Settings = MqttSettings;

    fn sections(&self) -> impl Serialize {
        BrokerLayer {
            metrics_bind: self.metrics_bind.as_deref(),
            mqtt: self.broker(),
        }
    }

    fn redis(&self) -> Option<&RedisArgs> {
        match &self.section {
            Some(MqttSection::Redis(r)) => Some(r),
            Some(MqttSection::Mqtt(b)) => match &b.then {
                Some(AfterBroker::Redis(r)) => Some(r),
                None => None,
            },
            _ => None,
        }
    }

    fn is_config_gen(&self) -> bool {
        matches!(self.section, Some(MqttSection::ConfigGen))
    }
}

/// Default broker host.
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// Default port without TLS.
pub const DEFAULT_PORT: u16 = 1883;
/// Default port with TLS.
pub const DEFAULT_TLS_PORT: u16 = 8883;
/// MQTT keep alive, seconds (0 would turn it off: a dead broker would go
/// unnoticed).
pub const KEEP_ALIVE_RANGE_S: RangeInclusive<u64> = 5..=65_535;
/// MQTT 5 session expiry, seconds (at most 2^32 - 2: 2^32 - 1 means never).
pub const SESSION_EXPIRY_RANGE_S: RangeInclusive<u64> = 0..=4_294_967_294;
/// Longest wait between reconnection attempts, seconds.
pub const RECONNECT_MAX_RANGE_S: RangeInclusive<u64> = 1..=3600;
/// Payload size limit, bytes (at most the MQTT maximum of 256 MiB).
pub const MAX_PAYLOAD_RANGE: RangeInclusive<u64> = 16..=268_435_455;
/// MQTT client identifiers: 1..=65535 octets (MQTT 3.1.1 3.1.3.1 allows
/// brokers to refuse more than 23; Mosquitto and most do not).
pub const CLIENT_ID_MAX_LEN: usize = 65_535;

/// TLS to the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// CA certificates (PEM); `None`: the system's trust store.
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain and key (PEM).
    pub client: Option<(PathBuf, PathBuf)>,
}

/// The connection to the broker (section `mqtt`, with the managed
/// `broker` object on top).
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerSettings {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub tls: Option<TlsSettings>,
    /// QoS of the subscriptions, 0 or 1.
    pub qos: u8,
    pub protocol: Protocol,
    pub keep_alive: Duration,
    /// A persistent session (clean start off): messages published while
    /// the connector is away are delivered when it is back.
    pub persistent_session: bool,
    /// MQTT 5: how long the broker keeps the session after a disconnect.
    pub session_expiry_s: u32,
    /// Longest wait between reconnection attempts (the wait doubles from
    /// one second up to it).
    pub reconnect_max: Duration,
}

impl BrokerSettings {
    /// `host:port`, for the status and messages.
    pub fn remote(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The checked mappings with the JSON they were read from (compared to
/// tell a change; `Debug` shows a summary).
#[derive(Clone)]
pub struct Mappings {
    /// The checked configuration the engine runs.
    pub config: Arc<MappingConfig>,
    /// A fingerprint of `silence_timeout`, `mappings` and `broker` as given.
    source: u64,
}

impl Mappings {
    /// The topic filters to subscribe, as sent to the broker
    /// (`$share/GROUP/…` kept), each once, sorted.
    pub fn subscriptions(&self) -> Vec<String> {
        let mut filters: Vec<String> = self
            .config
            .mappings
            .iter()
            .map(|m| m.topic.subscription.clone())
            .collect();
        filters.sort_unstable();
        filters.dedup();
        filters
    }

    /// Points mapped in all.
    pub fn points(&self) -> usize {
        self.config.mappings.iter().map(|m| m.points.len()).sum()
    }
}

impl PartialEq for Mappings {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl fmt::Debug for Mappings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self
            .config
            .mappings
            .iter()
            .take(10)
            .map(|m| m.id.as_str())
            .collect();
        f.debug_struct("Mappings")
            .field("silence_timeout_s", &self.config.silence_timeout_s)
            .field("mappings", &self.config.mappings.len())
            .field("points", &self.points())
            .field("first_ids", &ids)
            .finish()
    }
}

/// The settings of one `mqtt` connector, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct MqttSettings {
    /// Unique connector ID from the Management UI.
    pub id: String,
    /// Log verbosity.
    pub log_level: LogLevel,
    /// Where the Prometheus metrics are served; `None`: nowhere.
    pub metrics_bind: Option<std::net::SocketAddr>,
    /// The broker connection.
    pub broker: BrokerSettings,
    /// Payloads longer than this are refused (counted as bad payloads).
    pub max_payload: usize,
    /// The mappings.
    pub mappings: Mappings,
    /// The connection to Valkey.
    pub redis: RedisSettings,
}

/// The settings as the layers give them. Every field has its default here,
/// which is also what `config-gen` prints.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub log_level: LogLevel,
    /// See the typed settings' `metrics_bind`; no default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_bind: Option<String>,
    /// Seconds, 0 = off; the mappings' default.
    pub silence_timeout: u64,
    /// The contract's mappings, as given.
    pub mappings: Vec<Value>,
    /// Section `mqtt`.
    pub mqtt: RawBroker,
    /// Section `redis`.
    pub redis: RawRedis,
}

/// Section `mqtt` as read; see [`BrokerSettings`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawBroker {
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    pub tls: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    pub qos: u64,
    pub protocol: Protocol,
    pub keep_alive: u64,
    pub persistent_session: bool,
    pub session_expiry_s: u64,
    pub reconnect_max_s: u64,
    pub max_payload: u64,
}

impl Default for RawBroker {
    fn default() -> Self {
        Self {
            host: DEFAULT_HOST.to_owned(),
            port: None,
            client_id: None,
            username: None,
            password: None,
            password_file: None,
            tls: false,
            ca_file: None,
            cert_file: None,
            key_file: None,
            qos: 1,
            protocol: Protocol::default(),
            keep_alive: 30,
            persistent_session: true,
            session_expiry_s: 86_400,
            reconnect_max_s: 30,
            max_payload: DEFAULT_MAX_PAYLOAD as u64,
        }
    }
}

fn mapping_error(e: super::mapping::ConfigError) -> ConfigError {
    ConfigError::Field {
        place: e.place,
        message: e.message,
    }
}

impl RawSettings {
    /// Checks the mappings, lays the managed `broker` object over section
    /// `mqtt`, reads the password file and builds the typed settings;
    /// [`MqttSettings::validate`] checks the rest.
    pub fn resolve(self) -> Result<MqttSettings, ConfigError> {
        self.resolve_with(None, None)
    }

    /// [`RawSettings::resolve`] with the managed `mappings` as their JSON
    /// text instead of the layers' (read straight into the mapping
    /// configuration, never as a JSON tree) and the managed `broker`
    /// object (only the managed configuration has one: the file's broker
    /// settings are section `mqtt`).
    pub fn resolve_with(
        self,
        managed_mappings: Option<&RawValue>,
        managed_broker: Option<Value>,
    ) -> Result<MqttSettings, ConfigError> {
        let id = required_id(self.id)?;
        let from_layers;
        let mappings = match managed_mappings {
            Some(m) => m.get(),
            None => {
                from_layers =
                    serde_json::to_string(&self.mappings).unwrap_or_else(|_| String::from("[]"));
                from_layers.as_str()
            }
        };
        let broker_text = managed_broker.as_ref().map(Value::to_string);
        let source = fingerprint(&[
            &self.silence_timeout.to_string(),
            broker_text.as_deref().unwrap_or(""),
            mappings,
        ]);
        let config =
            MappingConfig::from_parts(Some(self.silence_timeout), managed_broker, mappings)
                .map_err(mapping_error)?;
        let managed = config.broker.clone().unwrap_or(ManagedBroker {
            host: None,
            port: None,
            client_id: None,
            username: None,
            tls: None,
            keep_alive: None,
            qos: None,
        });
        let b = self.mqtt;
        let tls_on = managed.tls.unwrap_or(b.tls);
        let port = match (managed.port, b.port) {
            (Some(p), _) => ranged("broker.port", p.into(), &PORT_RANGE, "")?,
            (None, Some(p)) => ranged("mqtt.port", p, &PORT_RANGE, "")?,
            (None, None) if tls_on => DEFAULT_TLS_PORT,
            (None, None) => DEFAULT_PORT,
        };
        let keep_alive = match managed.keep_alive {
            Some(k) => ranged::<u64>("broker.keep_alive", k.into(), &KEEP_ALIVE_RANGE_S, SECONDS)?,
            None => b.keep_alive,
        };
        let qos = match managed.qos {
            Some(q) => q,
            None => ranged("mqtt.qos", b.qos, &(0..=1), "")?,
        };
        let password = match (b.password, b.password_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Conflict {
                    setting: "mqtt.password",
                    other: "mqtt.password_file",
                });
            }
            (Some(p), None) => Some(p),
            (None, Some(path)) => Some(read_password_file("mqtt.password_file", &path)?),
            (None, None) => None,
        };
        let tls = tls_on.then(|| TlsSettings {
            ca_file: b.ca_file.clone(),
            client: b.cert_file.clone().zip(b.key_file.clone()),
        });
        if !tls_on {
            for (setting, file) in [
                ("mqtt.ca_file", &b.ca_file),
                ("mqtt.cert_file", &b.cert_file),
                ("mqtt.key_file", &b.key_file),
            ] {
                if let Some(f) = file {
                    return Err(ConfigError::invalid(
                        setting,
                        f.display(),
                        "is used only with mqtt.tls = true",
                    ));
                }
            }
        }
        if b.cert_file.is_some() != b.key_file.is_some() {
            return Err(ConfigError::invalid(
                if b.cert_file.is_some() {
                    "mqtt.key_file"
                } else {
                    "mqtt.cert_file"
                },
                "(not set)",
                "mqtt.cert_file and mqtt.key_file go together",
            ));
        }
        let broker = BrokerSettings {
            host: managed.host.unwrap_or(b.host),
            port,
            client_id: managed
                .client_id
                .or(b.client_id)
                .unwrap_or_else(|| format!("alp-connex-{id}")),
            username: managed.username.or(b.username),
            password,
            tls,
            qos,
            protocol: b.protocol,
            keep_alive: Duration::from_secs(keep_alive),
            persistent_session: b.persistent_session,
            session_expiry_s: ranged(
                "mqtt.session_expiry_s",
                b.session_expiry_s,
                &SESSION_EXPIRY_RANGE_S,
                SECONDS,
            )?,
            reconnect_max: Duration::from_secs(b.reconnect_max_s),
        };
        let max_payload = ranged("mqtt.max_payload", b.max_payload, &MAX_PAYLOAD_RANGE, "")?;
        Ok(MqttSettings {
            id,
            log_level: self.log_level,
            metrics_bind: resolve_metrics_bind(self.metrics_bind)?,
            broker,
            max_payload,
            mappings: Mappings {
                config: Arc::new(config),
                source,
            },
            redis: self.redis.resolve()?,
        })
    }
}

/// Every setting, in file order (top level, then `mqtt`, then `redis`).
pub fn setting_docs() -> Vec<SettingDoc> {
    let r = range_doc;
    let mut docs = top_level_docs("mqtt-1");
    docs.push(metrics_bind_doc());
    docs.extend([
        doc(
            "silence_timeout",
            format!(
                "A point not refreshed for this long is marked not topical (NT) in the image, seconds, 0..={MAX_SILENCE_TIMEOUT_S}, 0 = off; a point's own silence_timeout overrides it."
            ),
        ),
        doc(
            "mappings",
            "The mappings of MQTT topics and JSON values to IEC 104 points, in the shape of docs/contract.md (as [[mappings]] tables, see docs/mqtt.md); the managed configuration's mappings replace them.",
        ),
        doc("mqtt.host", "MQTT broker host name or IP address."),
        example(
            "mqtt.port",
            format!(
                "Broker port, {}; default {DEFAULT_PORT}, {DEFAULT_TLS_PORT} with tls.",
                r(&PORT_RANGE)
            ),
            DEFAULT_PORT.to_string(),
        ),
        example(
            "mqtt.client_id",
            "MQTT client identifier, the key of the persistent session; default \"alp-connex-\" and the id. Two instances must not share one.",
            "\"alp-connex-mqtt-1\"",
        ),
        example(
            "mqtt.username",
            "User name for the broker; no default; required with a password.",
            "\"ingest\"",
        ),
        example(
            "mqtt.password",
            "Broker password, used with username; no default. Better kept out of this file: give it in the environment (ALP_CONNEX_MQTT__PASSWORD) or in password_file.",
            "\"secret\"",
        ),
        example(
            "mqtt.password_file",
            "File holding the broker password (one trailing newline is removed); excludes password.",
            "\"/run/secrets/mqtt\"",
        ),
        doc(
            "mqtt.tls",
            "Connect with TLS (1.2 or 1.3), verifying the broker's certificate and host name: true or false.",
        ),
        example(
            "mqtt.ca_file",
            "CA certificates (PEM) the broker's certificate is verified with; default the system's trust store. Only with tls.",
            "\"/etc/alp-connex/mqtt-ca.pem\"",
        ),
        example(
            "mqtt.cert_file",
            "Client certificate chain (PEM) for brokers that require one; with key_file. Only with tls.",
            "\"/etc/alp-connex/mqtt-client.pem\"",
        ),
        example(
            "mqtt.key_file",
            "The client certificate's private key (PEM, PKCS#8, PKCS#1 or SEC1); with cert_file. Only with tls.",
            "\"/etc/alp-connex/mqtt-client.key\"",
        ),
        doc(
            "mqtt.qos",
            "QoS of the subscriptions: 0 (at most once) or 1 (at least once, with persistent_session nothing is lost while the connector is away).",
        ),
        doc(
            "mqtt.protocol",
            format!("MQTT protocol version: one of {}.", Protocol::NAMES.join(", ")),
        ),
        doc(
            "mqtt.keep_alive",
            format!(
                "MQTT keep alive, seconds, {}: a ping goes to the broker this often, and a broker that stops answering is noticed within twice it.",
                r(&KEEP_ALIVE_RANGE_S)
            ),
        ),
        doc(
            "mqtt.persistent_session",
            "Keep the session at the broker (clean session / clean start off): QoS 1 messages published while the connector is away are delivered when it is back. true or false.",
        ),
        doc(
            "mqtt.session_expiry_s",
            format!(
                "MQTT 5 with persistent_session: how long the broker keeps the session after a disconnect, seconds, {}. (MQTT 3.1.1: the broker's own setting.)",
                r(&SESSION_EXPIRY_RANGE_S)
            ),
        ),
        doc(
            "mqtt.reconnect_max_s",
            format!(
                "Longest wait between reconnection attempts, seconds, {}; the wait doubles from 1 s up to it.",
                r(&RECONNECT_MAX_RANGE_S)
            ),
        ),
        doc(
            "mqtt.max_payload",
            format!(
                "Payloads longer than this are refused and counted as bad payloads, bytes, {}.",
                r(&MAX_PAYLOAD_RANGE)
            ),
        ),
    ]);
    docs.extend(redis_docs());
    docs
}

/// The keys of the managed configuration (`connectors:{ID}:config`) of the
/// mqtt role and the settings they set (`docs/contract.md`).
pub const MANAGED_KEYS: [(&str, &str); 4] = [
    ("log_level", "log_level"),
    ("broker", "broker"),
    ("silence_timeout", "silence_timeout"),
    ("mappings", "mappings"),
];

impl RoleSettings for MqttSettings {
    type Raw = RawSettings;
    const ROLE: &'static str = "mqtt";
    const ENV_EXAMPLE_KEY: &'static str = "mqtt.host";
    const ENV_STRING_KEYS: &'static [&'static str] = &[
        "metrics_bind",
        "mqtt.host",
        "mqtt.client_id",
        "mqtt.username",
        "mqtt.password",
        "mqtt.password_file",
        "mqtt.ca_file",
        "mqtt.cert_file",
        "mqtt.key_file",
        "mqtt.protocol",
    ];
    const MANAGED_KEYS: &'static [(&'static str, &'static str)] = &MANAGED_KEYS;
    const MANAGED_JSON_KEYS: &'static [&'static str] = &["mappings", "broker"];

    fn setting_docs() -> Vec<SettingDoc> {
        setting_docs()
    }

    fn resolve(raw: RawSettings) -> Result<Self, ConfigError> {
        raw.resolve()
    }

    /// The managed `mappings` replace the start-up ones as JSON (10,000
    /// mappings through the layers would cost hundreds of megabytes); the
    /// managed `broker` object goes over section `mqtt`.
    fn resolve_managed(
        raw: RawSettings,
        mut json: BTreeMap<String, &RawValue>,
    ) -> Result<Self, ConfigError> {
        let broker = match json.remove("broker") {
            None => None,
            Some(b) => Some(
                serde_json::from_str::<Value>(b.get())
                    .map_err(|e| ConfigError::invalid("broker", "(not JSON)", e.to_string()))?,
            ),
        };
        raw.resolve_with(json.remove("mappings"), broker)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        check_id(&self.id)?;
        let b = &self.broker;
        non_empty("mqtt.host", &b.host)?;
        ranged::<u16>("mqtt.port", b.port.into(), &PORT_RANGE, "")?;
        if b.client_id.is_empty() || b.client_id.len() > CLIENT_ID_MAX_LEN {
            return Err(ConfigError::invalid(
                "mqtt.client_id",
                format!("{:?}", b.client_id),
                format!("must be 1..={CLIENT_ID_MAX_LEN} octets"),
            ));
        }
        if b.password.is_some() && b.username.is_none() {
            return Err(ConfigError::invalid(
                "mqtt.username",
                "(not set)",
                "must be set when a password is given",
            ));
        }
        ranged::<u64>(
            "mqtt.keep_alive",
            b.keep_alive.as_secs(),
            &KEEP_ALIVE_RANGE_S,
            SECONDS,
        )?;
        ranged::<u64>(
            "mqtt.reconnect_max_s",
            b.reconnect_max.as_secs(),
            &RECONNECT_MAX_RANGE_S,
            SECONDS,
        )?;
        if let Some(tls) = &b.tls {
            if let Some(ca) = &tls.ca_file {
                check_pem_file("mqtt.ca_file", ca, |p| {
                    super::tls::read_certificates(p).map(|c| c.len())
                })?;
            }
            if let Some((cert, key)) = &tls.client {
                check_pem_file("mqtt.cert_file", cert, |p| {
                    super::tls::read_certificates(p).map(|c| c.len())
                })?;
                check_pem_file("mqtt.key_file", key, |p| super::tls::read_key(p).map(|_| 1))?;
            }
        }
        self.redis.validate()
    }

    fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.broker.qos == 0 {
            out.push(String::from(
                "mqtt.qos = 0: messages published while the connector is away are lost",
            ));
        }
        if self.broker.password.is_some() && self.broker.tls.is_none() {
            out.push(String::from(
                "the broker password is sent in clear text without mqtt.tls",
            ));
        }
        if self.mappings.config.mappings.is_empty() {
            out.push(String::from(
                "no mappings: the connector subscribes to nothing until the managed configuration gives some",
            ));
        }
        out
    }

    fn log_level(&self) -> LogLevel {
        self.log_level
    }
}

/// A fingerprint of a configuration's texts, to tell a change.
fn fingerprint(texts: &[&str]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    texts.hash(&mut h);
    h.finish()
}

/// A PEM file that must hold at least one item of its kind.
fn check_pem_file(
    setting: &'static str,
    path: &Path,
    read: impl Fn(&Path) -> Result<usize, String>,
) -> Result<(), ConfigError> {
    read(path).map(|_| ()).map_err(|reason| ConfigError::File {
        setting,
        path: path.display().to_string(),
        reason,
    })
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
