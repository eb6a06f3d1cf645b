//! The `ALP_CONNEX_*` environment as a settings layer: names are
//! `ALP_CONNEX_` and the key in capitals, sections joined by a double
//! underscore (`ALP_CONNEX_CLIENT__HOST` for `client.host`); every such
//! variable must name a setting of the role.

use std::ffi::OsString;

use figment::Figment;
use figment::providers::{Env, Serialized};

use super::common::SettingDoc;
use super::error::ConfigError;

/// Prefix of the environment variables.
pub const ENV_PREFIX: &str = "ALP_CONNEX_";

/// Environment variables with the prefix that are not settings: the
/// configuration file (`ALP_CONNEX_CONFIG`, read by the command line), the
/// two tool paths `scripts/test` exports for the integration tests
/// (`ALP_CONNEX_PYTHON`, `ALP_CONNEX_PG_BIN`), which reach every binary
/// those tests start, and the password of `mqtt-sim`
/// (`ALP_CONNEX_MQTT_SIM_PASSWORD`), which may be set in an environment
/// shared with the connectors.
const ENV_NON_SETTINGS: [&str; 4] = ["config", "python", "pg_bin", "mqtt_sim_password"];

/// Settings of every role whose environment value is taken verbatim, never
/// parsed as a number or list: an ID `1234` or a password `0123` stays a
/// string. Each role adds its own
/// ([`RoleSettings::ENV_STRING_KEYS`](super::RoleSettings::ENV_STRING_KEYS)).
const ENV_STRING_KEYS: [&str; 5] = [
    "id",
    "redis.host",
    "redis.pwd",
    "redis.pwd_file",
    "redis.in_stream",
];

/// `figment` with the environment merged on top; the settings of
/// [`ENV_STRING_KEYS`] and `role_string_keys` are taken verbatim.
pub(super) fn merge(mut figment: Figment, role_string_keys: &[&'static str]) -> Figment {
    let string_keys: Vec<&'static str> = ENV_STRING_KEYS
        .iter()
        .chain(role_string_keys)
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
    figment
}

/// The setting key an `ALP_CONNEX_*` variable names, if it has the prefix.
fn env_key(name: &str) -> Option<String> {
    let rest = name.strip_prefix(ENV_PREFIX)?;
    Some(rest.to_ascii_lowercase().replace("__", "."))
}

/// Every `ALP_CONNEX_*` variable must name a setting.
pub(super) fn check(
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
