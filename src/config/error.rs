//! The one error type of configuration: every variant names the setting, the
//! value given and what is allowed, so that an operator can fix it from the
//! message alone.

use core::fmt;

/// A configuration that cannot be used.
///
/// `Display` renders one line `<setting> = <value>: <what is allowed>`; the
/// binary prefixes `error: ` and exits with status 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A value outside its range or of the wrong form.
    Invalid {
        /// Dotted setting name as in the TOML file, e.g. `client.port`.
        setting: String,
        /// The value given, as the operator wrote it (masked for secrets).
        value: String,
        /// What is allowed, e.g. `must be in 1..=65535`.
        allowed: String,
    },
    /// A required setting given nowhere.
    Missing {
        /// Dotted setting name.
        setting: &'static str,
        /// Where it may be given.
        hint: &'static str,
    },
    /// A key in the TOML file that is no setting.
    UnknownKey {
        /// Dotted key as written in the file.
        key: String,
        /// The settings allowed at that level.
        allowed: String,
    },
    /// An `ALP_CONNEX_*` environment variable that is no setting. The
    /// value is not shown: a misspelt password variable must not leak.
    UnknownEnv {
        /// The variable's name.
        name: String,
    },
    /// Two settings that exclude each other were both given.
    Conflict {
        /// The first setting.
        setting: &'static str,
        /// The setting it conflicts with.
        other: &'static str,
    },
    /// A value inside a structured setting (an MQTT mapping) that cannot be
    /// used: its place (`mappings[2].points[0].value`) and why.
    Field {
        /// Where, as a path into the setting.
        place: String,
        /// What is wrong, with the value and what is allowed.
        message: String,
    },
    /// A file named by a setting could not be read or parsed.
    File {
        /// The setting naming the file (`config`, `redis.pwd_file`).
        setting: &'static str,
        /// The path.
        path: String,
        /// The reason, from the operating system or the parser.
        reason: String,
    },
}

impl ConfigError {
    /// An [`ConfigError::Invalid`] from its three parts.
    pub fn invalid(
        setting: impl Into<String>,
        value: impl fmt::Display,
        allowed: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            setting: setting.into(),
            value: value.to_string(),
            allowed: allowed.into(),
        }
    }

    /// The setting (or variable) the error is about.
    pub fn setting(&self) -> &str {
        match self {
            Self::Invalid { setting, .. } => setting,
            Self::Missing { setting, .. }
            | Self::Conflict { setting, .. }
            | Self::File { setting, .. } => setting,
            Self::UnknownKey { key, .. } => key,
            Self::Field { place, .. } => place,
            Self::UnknownEnv { name } => name,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid {
                setting,
                value,
                allowed,
            } => write!(f, "{setting} = {value}: {allowed}"),
            Self::Missing { setting, hint } => {
                write!(f, "{setting} = (not set): required, give {hint}")
            }
            Self::UnknownKey { key, allowed } => {
                write!(f, "{key}: unknown setting; allowed here: {allowed}")
            }
            Self::UnknownEnv { name } => write!(
                f,
                "{name}: unknown environment variable; ALP_CONNEX_* names a setting \
                 (ALP_CONNEX_CLIENT__HOST for client.host), see `config-gen`"
            ),
            Self::Conflict { setting, other } => {
                write!(f, "{setting}: give either {setting} or {other}, not both")
            }
            Self::Field { place, message } => write!(f, "{place}: {message}"),
            Self::File {
                setting,
                path,
                reason,
            } => write!(f, "{setting} = {path}: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {}
