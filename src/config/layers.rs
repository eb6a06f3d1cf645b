//! The layers of one role's settings and their merge: defaults < `--config`
//! TOML file < `ALP_CONNEX_*` environment < command line, and the managed
//! configuration on top ([`Layers::with_managed`]); figment's errors in
//! the operator's words ([`ConfigError`], naming the setting).

use core::fmt;
use core::marker::PhantomData;
use std::collections::BTreeMap;
use std::path::Path;

use figment::Figment;
use figment::error::{Actual, Kind};
use figment::providers::{Format, Serialized, Toml};
use serde::Serialize;
use serde_json::value::RawValue;

use super::RoleSettings;
use super::env;
use super::error::ConfigError;

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
        settings.validate()?;
        Ok(settings)
    }

    /// The layers of a role made of its defaults and `id` only: what a
    /// connector's managed configuration is checked against away from the
    /// connector (the backend refuses exactly what the role would refuse
    /// over its defaults).
    pub fn defaults_with_id(id: &str) -> Self {
        let figment = Figment::from(Serialized::defaults(S::Raw::default()))
            .merge(Serialized::defaults(serde_json::json!({ "id": id })));
        Layers {
            figment,
            role: PhantomData,
        }
    }

    /// The checked settings with the managed JSON object on top: every key
    /// optional, values present override the start-up layers. Errors name
    /// the setting (`client.port = 70000: must be in 1..=65535`).
    pub fn with_managed(&self, json: &str) -> Result<S, ConfigError> {
        // Each key's value as its text: the role's large structured values
        // (MANAGED_JSON_KEYS) never become a JSON tree here.
        let map: BTreeMap<String, &RawValue> = serde_json::from_str(json).map_err(|e| {
            if e.is_data() {
                let shown = serde_json::from_str::<serde_json::Value>(json)
                    .map(|v| one_line(&v.to_string()))
                    .unwrap_or_default();
                ConfigError::invalid("managed configuration", shown, "must be a JSON object")
            } else {
                ConfigError::invalid(
                    "managed configuration",
                    "(not JSON)",
                    format!("must be a JSON object: {e}"),
                )
            }
        })?;
        let mut direct = BTreeMap::new();
        let mut rest = Vec::with_capacity(map.len());
        for (key, v) in map {
            if S::MANAGED_JSON_KEYS.contains(&key.as_str()) {
                direct.insert(key, v);
            } else {
                rest.push((key, v));
            }
        }
        let mut nested = serde_json::Map::new();
        for (key, v) in rest {
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
            let v: serde_json::Value = serde_json::from_str(v.get())
                .map_err(|e| ConfigError::invalid(key.clone(), "(not JSON)", e.to_string()))?;
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
        let raw: S::Raw = figment.extract().map_err(from_figment)?;
        let settings = S::resolve_managed(raw, direct)?;
        settings.validate()?;
        Ok(settings)
    }
}

/// The layers of role `S`: its defaults, the file `config`, the
/// environment and the values given on the command line (`cli`).
pub(crate) fn read_layers<S: RoleSettings>(
    config: Option<&Path>,
    cli: impl Serialize,
) -> Result<Layers<S>, ConfigError> {
    env::check(&S::setting_docs(), std::env::vars_os().map(|(k, _)| k))?;
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
    figment = env::merge(figment, S::ENV_STRING_KEYS);
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

fn actual(setting: &str, value: &Actual) -> String {
    if setting == "redis.pwd" || setting.ends_with("password") {
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
