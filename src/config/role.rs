//! What a role gives the shared machinery: its settings ([`RoleSettings`]:
//! sections, defaults, managed keys, checks, `config-gen` text) and its
//! command line ([`RoleArgs`]: the options every role has, its own sections,
//! `redis`, `config-gen`). A new role implements both in its own folder;
//! `main.rs` runs every role that does through one path.

use core::fmt;
use core::ops::Deref;

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::cli::{CliLayer, RedisArgs, RoleOptions};
use super::common::{LogLevel, SettingDoc};
use super::error::ConfigError;
use super::layers::{Layers, read_layers};

/// What the shared machinery (layering, managed overlay, `config-gen`,
/// `--check-config`) needs to know of one role's settings. A role declares
/// its own sections and keys here; `id`, `log_level` and `redis` are the
/// same in every role (see [`super::common`]).
///
/// `Debug` is what `--check-config` prints.
pub trait RoleSettings: Sized + fmt::Debug {
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
    /// Managed keys whose values reach [`RoleSettings::resolve_managed`] as
    /// JSON instead of through the layers: large structured values (the
    /// mqtt role's `mappings`), which the layers would copy many times.
    const MANAGED_JSON_KEYS: &'static [&'static str] = &[];
    /// Every setting, in file order, for `config-gen` and the check of the
    /// environment names.
    fn setting_docs() -> Vec<SettingDoc>;
    /// Narrows the wide values and builds the typed settings.
    fn resolve(raw: Self::Raw) -> Result<Self, ConfigError>;
    /// [`RoleSettings::resolve`] with the managed values of
    /// [`RoleSettings::MANAGED_JSON_KEYS`] given (those present).
    fn resolve_managed(
        raw: Self::Raw,
        json: BTreeMap<String, &RawValue>,
    ) -> Result<Self, ConfigError> {
        let _ = json;
        Self::resolve(raw)
    }
    /// Checks every setting; the error names the first one that is wrong.
    fn validate(&self) -> Result<(), ConfigError>;
    /// Legal settings the standard advises against, one line each.
    fn warnings(&self) -> Vec<String>;
    /// The log verbosity set.
    fn log_level(&self) -> LogLevel;
}

/// The command line of one role as the machinery reads it: the options
/// every role has ([`RoleOptions`], reached through `Deref`), then the
/// role's own sections, `redis` or `config-gen`.
pub trait RoleArgs: Deref<Target = RoleOptions> {
    /// The settings this command line is the top layer of.
    type Settings: RoleSettings;
    /// The role's own sections given, as a layer: a struct of optional
    /// sections named as in the file, each with only the values given.
    fn sections(&self) -> impl Serialize;
    /// The `redis` section, if given.
    fn redis(&self) -> Option<&RedisArgs>;
    /// Whether `config-gen` was asked for.
    fn is_config_gen(&self) -> bool;
    /// Refuses what must not be given on the command line at all, where
    /// other local users can read it (`ps`): the backend's database URL
    /// holding a password. Nothing by default.
    fn check_command_line(&self) -> Result<(), ConfigError> {
        Ok(())
    }

    /// Reads the start-up layers (defaults < `--config` file <
    /// `ALP_CONNEX_*` < command line) without checking them yet.
    fn layers(&self) -> Result<Layers<Self::Settings>, ConfigError> {
        self.check_command_line()?;
        let cli = CliLayer {
            id: self.id.as_deref(),
            log_level: self.log_level,
            sections: self.sections(),
            redis: self.redis(),
        };
        read_layers(self.config.as_deref(), cli)
    }

    /// The checked settings of the start-up layers.
    fn load(&self) -> Result<Self::Settings, ConfigError> {
        self.layers()?.settings()
    }
}
