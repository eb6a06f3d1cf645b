//! Configuration of the roles `iec104-inbound` and `iec104-server`.
//!
//! Boundary: everything the operator gives at start (command line, TOML
//! file, `ALP_CONNEX_*` environment) becomes one checked settings value of
//! the role ([`InboundSettings`], [`Iec104ServerSettings`]) or one
//! [`ConfigError`]; no I/O beyond reading the files named. The managed
//! configuration pushed through Valkey is applied later by the role, on top
//! of these settings ([`Layers::with_managed`]).
//!
//! ```text
//! defaults (S::Raw::default) < --config TOML < ALP_CONNEX_* env < CLI (role args)
//!        └──────────── figment merge ──► S::Raw ──resolve──► S ──check──► role
//! ```
//!
//! A role declares only its own sections and keys through
//! [`RoleSettings`]; `id`, `log_level`, the `redis` section, the layering,
//! the managed overlay, the error mapping and `config-gen` are shared.
//!
//! - [`common`]: what every role shares (`id`, `log_level`, `redis`, the
//!   t0..t3/k/w checks, range checks, setting descriptions).
//! - [`cli`], [`settings`]: the command line and settings of
//!   `iec104-inbound`.
//! - [`server_cli`], [`server_settings`]: the same of `iec104-server`.
//! - [`generate`](generate()), [`generate_for`]: `config-gen`, rendered
//!   from the defaults.
//! - [`error`]: [`ConfigError`], one line naming setting, value and range.

pub mod cli;
pub mod common;
pub mod error;
mod generate;
pub mod secret;

use core::fmt;
use core::marker::PhantomData;
use std::ffi::OsString;
use std::path::Path;

use figment::Figment;
use figment::error::{Actual, Kind};
use figment::providers::{Env, Format, Serialized, Toml};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use common::{LogLevel, RedisSettings, SettingDoc, TimeZone};
pub use error::ConfigError;
pub use generate::generate_for;
pub use secret::Secret;

/// Prefix of the environment variables.
pub const ENV_PREFIX: &str = "ALP_CONNEX_";

/// Environment variables with the prefix that are not settings: the
/// configuration file (`ALP_CONNEX_CONFIG`, read by the command line) and
/// the two tool paths `scripts/test` exports for the integration tests
/// (`ALP_CONNEX_PYTHON`, `ALP_CONNEX_PG_BIN`), which reach every binary
/// those tests start.
const ENV_NON_SETTINGS: [&str; 3] = ["config", "python", "pg_bin"];

/// Settings of every role whose environment value is taken verbatim, never
/// parsed as a number or list: an ID `1234` or a password `0123` stays a
/// string. Each role adds its own ([`RoleSettings::ENV_STRING_KEYS`]).
const ENV_STRING_KEYS: [&str; 5] = [
    "id",
    "redis.host",
    "redis.pwd",
    "redis.pwd_file",
    "redis.in_stream",
];

/// What the shared machinery (layering, managed overlay, `config-gen`)
/// needs to know of one role's settings. A role declares its own sections
/// and keys here; `id`, `log_level` and `redis` are the same in every role
/// (see [`common`]).
pub trait RoleSettings: Sized {
    /// The settings as the layers give them; its `Default` is the defaults
    /// and what `config-gen` prints.
    type Raw: Serialize + DeserializeOwned + Default;
    /// The role's subcommand, e.g. `iec104-inbound`.
    const ROLE: &'static str;
    /// The setting `config-gen` names to explain the environment names.
    const ENV_EXAMPLE_KEY: &'static str;
    /// The role's own settings whose environment value is a string verbatim.
    const ENV_STRING_KEYS: &'static [&'static str];
    /// The keys of the managed configuration (`connectors:{ID}:config`)
    /// and the settings they set.
    const MANAGED_KEYS: &'static [(&'static str, &'static str)];
    /// Every setting, in file order, for `config-gen` and the check of the
    /// environment names.
    fn setting_docs() -> Vec<SettingDoc>;
    /// Narrows the wide values and builds the typed settings.
    fn resolve(raw: Self::Raw) -> Result<Self, ConfigError>;
    /// Checks every setting; the error names the first one that is wrong.
    fn check(&self) -> Result<(), ConfigError>;
}

/// The start-up layers of one role, kept so that the managed settings from
/// Valkey can be applied on top of them and checked by the same rules.
pub struct Layers<S> {
    figment: Figment,
    role: PhantomData<fn() -> S>,
}

impl<S> Clone for Layers<S> {
    fn clone(&self) -> Self {
        Self {
            figment: self.figment.clone(),
            role: PhantomData,
        }
    }
}

impl<S> fmt::Debug for Layers<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Layers")
            .field("figment", &self.figment)
            .finish()
    }
}

impl<S: RoleSettings> Layers<S> {
    /// The checked settings of the start-up layers.
    pub fn settings(&self) -> Result<S, ConfigError> {
        let raw: S::Raw = self.figment.extract().map_err(from_figment)?;
        let settings = S::resolve(raw)?;
        settings.check()?;
        Ok(settings)
    }

    /// The checked settings with the managed JSON object on top: every key
    /// optional, values present override the start-up layers. Errors name
    /// the setting (`client.port = 70000: must be in 1..=65535`).
    pub fn with_managed(&self, json: &str) -> Result<S, ConfigError> {
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
            let Some((_, path)) = S::MANAGED_KEYS.iter().find(|(k, _)| *k == key) else {
                return Err(ConfigError::UnknownKey {
                    key: format!("managed configuration key {key:?}"),
                    allowed: S::MANAGED_KEYS
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
        Layers::<S> {
            figment,
            role: PhantomData,
        }
        .settings()
    }
}

/// The layers of role `S`: its defaults, the file `config`, the
/// environment and the values given on the command line (`cli`).
pub fn read_layers<S: RoleSettings>(
    config: Option<&Path>,
    cli: impl Serialize,
) -> Result<Layers<S>, ConfigError> {
    check_env(&S::setting_docs(), std::env::vars_os().map(|(k, _)| k))?;
    let mut figment = Figment::from(Serialized::defaults(S::Raw::default()));
    if let Some(path) = config {
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
    let string_keys: Vec<&'static str> = ENV_STRING_KEYS
        .iter()
        .chain(S::ENV_STRING_KEYS)
        .copied()
        .collect();
    let env = Env::prefixed(ENV_PREFIX)
        .split("__")
        .ignore(&ENV_NON_SETTINGS);
    let verbatim = string_keys.clone();
    figment = figment.merge(
        env.clone()
            .filter(move |key| !verbatim.iter().any(|s| key == *s)),
    );
    for (key, value) in env.only(&string_keys).iter() {
        figment = figment.merge(Serialized::default(key.as_str(), value));
    }
    figment = figment.merge(Serialized::defaults(cli));
    Ok(Layers {
        figment,
        role: PhantomData,
    })
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
fn check_env(
    known: &[SettingDoc],
    names: impl IntoIterator<Item = OsString>,
) -> Result<(), ConfigError> {
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
