//! Configuration of the roles; for now `iec104-inbound`.
//!
//! Boundary: everything the operator gives at start (command line, TOML
//! file, `ALP_CONNEX_*` environment) becomes one checked
//! [`InboundSettings`] or one [`ConfigError`]; no I/O beyond reading the
//! files named. The managed configuration pushed through Valkey is applied
//! later by the role, on top of these settings.
//!
//! ```text
//! defaults (RawSettings::default) < --config TOML < ALP_CONNEX_* env < CLI (InboundArgs)
//!        └──────────── figment merge ──► RawSettings ──resolve──► InboundSettings ──validate──► role
//! ```
//!
//! - [`cli`]: the clap structs of the documented command line.
//! - [`settings`]: the settings, their defaults, ranges and checks.
//! - [`generate`](generate()): `config-gen`, rendered from the defaults.
//! - [`error`]: [`ConfigError`], one line naming setting, value and range.

pub mod cli;
pub mod error;
mod generate;
pub mod secret;
pub mod settings;

use std::ffi::OsString;

use figment::Figment;
use figment::error::{Actual, Kind};
use figment::providers::{Env, Format, Serialized, Toml};

pub use cli::InboundArgs;
pub use error::ConfigError;
pub use generate::generate;
pub use secret::Secret;
pub use settings::{
    ClientSettings, Endpoint, InboundSettings, LogLevel, OnLinkLoss, RawSettings, RedisSettings,
    TimeZone,
};

/// Prefix of the environment variables.
pub const ENV_PREFIX: &str = "ALP_CONNEX_";

/// Environment variables with the prefix that are not settings: the
/// configuration file (`ALP_CONNEX_CONFIG`, read by the command line) and
/// the two tool paths `scripts/test` exports for the integration tests
/// (`ALP_CONNEX_PYTHON`, `ALP_CONNEX_PG_BIN`), which reach every binary
/// those tests start.
const ENV_NON_SETTINGS: [&str; 3] = ["config", "python", "pg_bin"];

/// Settings whose environment value is taken verbatim, never parsed as a
/// number or list: an ID `1234` or a password `0123` stays a string.
const ENV_STRING_KEYS: [&str; 7] = [
    "id",
    "client.host",
    "client.time_zone",
    "redis.host",
    "redis.pwd",
    "redis.pwd_file",
    "redis.in_stream",
];

/// Reads the layers (defaults < `--config` file < `ALP_CONNEX_*` < command
/// line), and returns the checked settings.
pub fn load(args: &InboundArgs) -> Result<InboundSettings, ConfigError> {
    layers(args)?.settings()
}

/// The start-up layers, kept so that the managed settings from Valkey can
/// be applied on top of them and checked by the same rules.
#[derive(Debug, Clone)]
pub struct Layers {
    figment: Figment,
}

/// The keys of the managed configuration (`connectors:{ID}:config`) and the
/// settings they set.
pub const MANAGED_KEYS: [(&str, &str); 18] = [
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
    ("on_link_loss", "client.on_link_loss"),
    ("link_loss_grace_s", "client.link_loss_grace_s"),
    ("time_zone", "client.time_zone"),
];

impl Layers {
    /// The checked settings of the start-up layers.
    pub fn settings(&self) -> Result<InboundSettings, ConfigError> {
        let raw: RawSettings = self.figment.extract().map_err(from_figment)?;
        let settings = raw.resolve()?;
        settings.validate()?;
        Ok(settings)
    }

    /// The checked settings with the managed JSON object on top: every key
    /// optional, values present override the start-up layers. Errors name
    /// the setting (`client.port = 70000: must be in 1..=65535`).
    pub fn with_managed(&self, json: &str) -> Result<InboundSettings, ConfigError> {
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| {
            ConfigError::invalid(
                "managed configuration",
                "(not JSON)",
                format!("must be a JSON object: {e}"),
            )
        })?;
        let serde_json::Value::Object(map) = value else {
            return Err(ConfigError::invalid(
                "managed configuration",
                one_line(&value.to_string()),
                "must be a JSON object",
            ));
        };
        let mut nested = serde_json::Map::new();
        for (key, v) in map {
            let Some((_, path)) = MANAGED_KEYS.iter().find(|(k, _)| *k == key) else {
                return Err(ConfigError::UnknownKey {
                    key: format!("managed configuration key {key:?}"),
                    allowed: MANAGED_KEYS
                        .iter()
                        .map(|(k, _)| *k)
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            match path.split_once('.') {
                Some((section, field)) => {
                    let entry = nested
                        .entry(section)
                        .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
                    if let serde_json::Value::Object(m) = entry {
                        m.insert(field.to_owned(), v);
                    }
                }
                None => {
                    nested.insert((*path).to_owned(), v);
                }
            }
        }
        let figment = self
            .figment
            .clone()
            .merge(Serialized::defaults(serde_json::Value::Object(nested)));
        Layers { figment }.settings()
    }
}

/// Reads the start-up layers without checking them yet.
pub fn layers(args: &InboundArgs) -> Result<Layers, ConfigError> {
    check_env(std::env::vars_os().map(|(k, _)| k))?;
    let mut figment = Figment::from(Serialized::defaults(RawSettings::default()));
    if let Some(path) = &args.config {
        let file_error = |reason: String| ConfigError::File {
            setting: "config",
            path: path.display().to_string(),
            reason,
        };
        let text =
            std::fs::read_to_string(path).map_err(|e| file_error(format!("cannot read: {e}")))?;
        let toml = Toml::string(&text);
        figment::Provider::data(&toml).map_err(|e| {
            file_error(format!("not valid TOML: {}", one_line(&e.kind.to_string())))
        })?;
        figment = figment.merge(toml);
    }
    let env = Env::prefixed(ENV_PREFIX)
        .split("__")
        .ignore(&ENV_NON_SETTINGS);
    figment = figment.merge(
        env.clone()
            .filter(|key| !ENV_STRING_KEYS.iter().any(|s| key == *s)),
    );
    for (key, value) in env.only(&ENV_STRING_KEYS).iter() {
        figment = figment.merge(Serialized::default(key.as_str(), value));
    }
    figment = figment.merge(Serialized::defaults(args.layer()));
    Ok(Layers { figment })
}

/// A parser's multi-line message (position, source excerpt, caret,
/// expectation) as one line: its first and last lines.
fn one_line(message: &str) -> String {
    let mut lines = message.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default();
    match lines.next_back() {
        Some(last) if !last.contains('|') => format!("{first}: {last}"),
        _ => first.to_owned(),
    }
}

/// The setting key an `ALP_CONNEX_*` variable names, if it has the prefix.
fn env_key(name: &str) -> Option<String> {
    let rest = name.strip_prefix(ENV_PREFIX)?;
    Some(rest.to_ascii_lowercase().replace("__", "."))
}

/// Every `ALP_CONNEX_*` variable must name a setting.
fn check_env(names: impl IntoIterator<Item = OsString>) -> Result<(), ConfigError> {
    let known = settings::setting_docs();
    for name in names {
        let Some(name) = name.to_str() else { continue };
        let Some(key) = env_key(name) else { continue };
        if !(known.iter().any(|d| d.key == key) || ENV_NON_SETTINGS.contains(&key.as_str())) {
            return Err(ConfigError::UnknownEnv {
                name: name.to_owned(),
            });
        }
    }
    Ok(())
}

fn actual(setting: &str, value: &Actual) -> String {
    if setting == "redis.pwd" {
        return String::from("***");
    }
    match value {
        Actual::Str(s) => format!("{s:?}"),
        Actual::Unsigned(n) => n.to_string(),
        Actual::Signed(n) => n.to_string(),
        Actual::Float(n) => n.to_string(),
        Actual::Bool(b) => b.to_string(),
        other => format!("({other})"),
    }
}

fn from_figment(error: figment::Error) -> ConfigError {
    let path = error.path.join(".");
    let setting = if path.is_empty() {
        String::from("configuration")
    } else {
        path.clone()
    };
    match &error.kind {
        Kind::UnknownField(field, expected) => ConfigError::UnknownKey {
            key: if path.is_empty() || error.path.last() == Some(field) {
                setting
            } else {
                format!("{path}.{field}")
            },
            allowed: expected.join(", "),
        },
        Kind::UnknownVariant(value, expected) => ConfigError::invalid(
            setting,
            format!("{value:?}"),
            format!("must be one of {}", expected.join(", ")),
        ),
        Kind::InvalidType(value, expected) | Kind::InvalidValue(value, expected) => {
            let shown = actual(&setting, value);
            ConfigError::invalid(
                setting,
                shown,
                format!("must be {}", expected_text(expected)),
            )
        }
        other => ConfigError::invalid(setting, "?", other.to_string()),
    }
}

/// serde's names of the expected types, in the operator's words.
fn expected_text(expected: &str) -> String {
    match expected {
        "u64" => String::from("a whole number >= 0"),
        "a string" | "a borrowed string" => String::from("a string"),
        "a boolean" => String::from("true or false"),
        "a sequence" => String::from("a list [..]"),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests;
