//! The command line of `mqtt-sim` ([`MqttSimArgs`]) and its check into
//! [`Settings`]. The simulator has no settings layers (no file, managed
//! configuration or `config-gen`): its options are taken as text and
//! checked here, so that every bad value ends with one line `--option =
//! value: what is allowed` and exit status 2. The password comes from a
//! file or from [`PASSWORD_ENV`], never from an option value.

use std::num::NonZeroU16;
use std::path::{Path, PathBuf};

use crate::config::{ConfigError, LogLevel, Secret};

/// The environment variable that may hold the broker password.
pub const PASSWORD_ENV: &str = "ALP_CONNEX_MQTT_SIM_PASSWORD";

/// The most stations.
pub const MAX_STATIONS: u16 = 1000;

/// The lowest and the highest paced rate, messages per second.
pub const MIN_RATE: f64 = 0.001;
pub const MAX_RATE: f64 = 1_000_000.0;

/// The longest `--prefix`: every topic with its payload stays well within
/// the client's packet limit (10 KiB).
pub const MAX_PREFIX_BYTES: usize = 1024;

/// The most messages of `--count`.
pub const MAX_COUNT: u64 = 1_000_000_000_000;

/// What `--help` says after the options: the behaviour a caller relies on.
const AFTER_HELP: &str = "Five sensors per station under PREFIX/ss-NN/: climate/ts-1, climate/ts-2, door/dc-1, transformer/tr-1, gis/sf6-1, published round-robin.

The connection: when the broker goes away, connects again with a back-off (0.1 s doubling to 5 s); messages not yet written and QoS 1 messages not yet acknowledged are sent first on the next connection. A broker that refuses the login (bad user name or password, not authorised, client identifier rejected) ends the run: retrying cannot succeed.

The end: after --count messages, or on SIGINT or SIGTERM, one line on stdout: `published=N seconds=S.sss rate=R.r qos=Q` (messages written, for QoS 1 acknowledged by the broker; seconds from the first message; messages per second).

Exit status: 0 at the end, 1 when the broker refused the login (after an error line on stderr and the summary line), 2 for a bad option value (one line on stderr).";

/// The command line of `mqtt-sim`: every value as given, checked by
/// [`MqttSimArgs::settings`]; `--help` ends with `AFTER_HELP`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct MqttSimArgs {
    /// Broker host name or address.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Broker port, 1..=65535.
    #[arg(long, default_value = "1883", allow_hyphen_values = true)]
    pub port: String,
    /// MQTT client identifier (not empty).
    #[arg(long, default_value = "alp-mqtt-sim")]
    pub client_id: String,
    /// User name to log in with.
    #[arg(long)]
    pub username: Option<String>,
    /// File holding the password (one trailing newline is dropped); without
    /// it, the environment variable ALP_CONNEX_MQTT_SIM_PASSWORD. Needs
    /// --username.
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,
    /// First topic level(s), at most 1024 bytes (no + or #).
    #[arg(long, default_value = "substations")]
    pub prefix: String,
    /// Stations ss-01, ss-02, ..., 1..=1000, five sensors each.
    #[arg(long, default_value = "2", allow_hyphen_values = true)]
    pub stations: String,
    /// Messages per second over all sensors, 0.001..=1000000; or 0: as
    /// fast as the broker takes them (load generator).
    #[arg(
        long,
        value_name = "MSG_PER_S",
        default_value = "10",
        allow_hyphen_values = true
    )]
    pub rate: String,
    /// Quality of service, 0 or 1.
    #[arg(long, default_value = "1", allow_hyphen_values = true)]
    pub qos: String,
    /// Stop after this many messages (QoS 1: acknowledged by the broker),
    /// 1..=1000000000000 [default: unlimited].
    #[arg(long, allow_hyphen_values = true)]
    pub count: Option<String>,
    /// Seed of the simulated values: the same seed gives the same values
    /// [default: from the clock, logged at start].
    #[arg(long, allow_hyphen_values = true)]
    pub seed: Option<String>,
    /// Log verbosity.
    #[arg(long, value_enum, default_value = "info")]
    pub log_level: LogLevel,
}

/// The quality of service the simulator publishes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qos {
    /// At most once: counted when written to the connection.
    AtMostOnce,
    /// At least once: counted when the broker's PUBACK arrives.
    AtLeastOnce,
}

impl Qos {
    /// 0 or 1.
    pub fn number(self) -> u8 {
        match self {
            Qos::AtMostOnce => 0,
            Qos::AtLeastOnce => 1,
        }
    }
}

/// How fast messages go out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Messages per second, over every sensor.
    PerSecond(f64),
    /// As fast as the broker takes them (the load generator).
    Unpaced,
}

/// The checked command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    /// User name and password (empty when only a user name is given).
    pub login: Option<(String, Secret)>,
    pub prefix: String,
    pub stations: NonZeroU16,
    pub pace: Pace,
    pub qos: Qos,
    pub count: Option<u64>,
    pub seed: Option<u64>,
}

impl MqttSimArgs {
    /// The settings, each value checked; the password read from the file
    /// or `password_env` (the value of [`PASSWORD_ENV`]).
    pub fn settings(&self, password_env: Option<String>) -> Result<Settings, ConfigError> {
        not_empty("--host", &self.host)?;
        not_empty("--client-id", &self.client_id)?;
        if self.client_id.len() > 65_535 {
            return Err(ConfigError::invalid(
                "--client-id",
                "(too long)",
                "must be at most 65535 bytes",
            ));
        }
        let prefix_ok = !self.prefix.is_empty()
            && !self.prefix.contains(['+', '#', '\0'])
            && self.prefix.len() <= MAX_PREFIX_BYTES;
        if !prefix_ok {
            return Err(ConfigError::invalid(
                "--prefix",
                format!("{:?}", self.prefix),
                "must be a topic level (or levels): not empty, without + # or NUL, at most 1024 bytes",
            ));
        }
        let port = integer("--port", &self.port, 1, 65_535)?;
        let stations = integer("--stations", &self.stations, 1, u64::from(MAX_STATIONS))?;
        let qos = match self.qos.as_str() {
            "0" => Qos::AtMostOnce,
            "1" => Qos::AtLeastOnce,
            other => return Err(ConfigError::invalid("--qos", other, "must be 0 or 1")),
        };
        let pace = rate(&self.rate)?;
        let count = self
            .count
            .as_deref()
            .map(|c| integer("--count", c, 1, MAX_COUNT))
            .transpose()?;
        let seed = self
            .seed
            .as_deref()
            .map(|s| integer("--seed", s, 0, u64::MAX))
            .transpose()?;
        let password_env = password_env.filter(|p| !p.is_empty());
        let password = match (&self.password_file, password_env) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Conflict {
                    setting: "--password-file",
                    other: PASSWORD_ENV,
                });
            }
            (Some(path), None) => Some(read_password(path)?),
            (None, Some(p)) => Some(Secret::new(p)),
            (None, None) => None,
        };
        let login = match (&self.username, password) {
            (Some(user), password) => Some((user.clone(), password.unwrap_or(Secret::new("")))),
            (None, Some(_)) => {
                return Err(ConfigError::Missing {
                    setting: "--username",
                    hint: "--username with a password (--password-file or ALP_CONNEX_MQTT_SIM_PASSWORD)",
                });
            }
            (None, None) => None,
        };
        Ok(Settings {
            host: self.host.clone(),
            port: u16::try_from(port).map_err(|_| ConfigError::invalid("--port", port, ""))?,
            client_id: self.client_id.clone(),
            login,
            prefix: self.prefix.clone(),
            stations: u16::try_from(stations)
                .ok()
                .and_then(NonZeroU16::new)
                .ok_or_else(|| ConfigError::invalid("--stations", stations, ""))?,
            pace,
            qos,
            count,
            seed,
        })
    }
}

fn not_empty(option: &str, value: &str) -> Result<(), ConfigError> {
    if value.is_empty() {
        Err(ConfigError::invalid(option, "\"\"", "must not be empty"))
    } else {
        Ok(())
    }
}

/// A whole number in `min..=max`.
fn integer(option: &str, text: &str, min: u64, max: u64) -> Result<u64, ConfigError> {
    text.parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| ConfigError::invalid(option, text, format!("must be in {min}..={max}")))
}

fn rate(text: &str) -> Result<Pace, ConfigError> {
    match text.parse::<f64>() {
        Ok(0.0) => Ok(Pace::Unpaced),
        Ok(r) if (MIN_RATE..=MAX_RATE).contains(&r) => Ok(Pace::PerSecond(r)),
        _ => Err(ConfigError::invalid(
            "--rate",
            text,
            "must be messages per second in 0.001..=1000000, or 0 (as fast as the broker takes them)",
        )),
    }
}

/// The file's text without one trailing newline (`\n` or `\r\n`).
fn read_password(path: &Path) -> Result<Secret, ConfigError> {
    crate::config::common::read_password_file("--password-file", path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: MqttSimArgs,
    }

    fn args(argv: &[&str]) -> MqttSimArgs {
        Cli::try_parse_from(std::iter::once("mqtt-sim").chain(argv.iter().copied()))
            .unwrap()
            .args
    }

    fn error(argv: &[&str]) -> String {
        args(argv).settings(None).unwrap_err().to_string()
    }

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let s = args(&[]).settings(None).unwrap();
        assert_eq!(
            s,
            Settings {
                host: "127.0.0.1".into(),
                port: 1883,
                client_id: "alp-mqtt-sim".into(),
                login: None,
                prefix: "substations".into(),
                stations: NonZeroU16::new(2).unwrap(),
                pace: Pace::PerSecond(10.0),
                qos: Qos::AtLeastOnce,
                count: None,
                seed: None,
            }
        );
    }

    #[test]
    fn every_bad_value_names_its_option_and_what_is_allowed() {
        for (argv, line) in [
            (
                &["--port", "70000"][..],
                "--port = 70000: must be in 1..=65535",
            ),
            (&["--port", "x"], "--port = x: must be in 1..=65535"),
            (&["--port", "0"], "--port = 0: must be in 1..=65535"),
            (&["--stations", "0"], "--stations = 0: must be in 1..=1000"),
            (
                &["--stations", "1001"],
                "--stations = 1001: must be in 1..=1000",
            ),
            (&["--qos", "2"], "--qos = 2: must be 0 or 1"),
            (
                &["--rate", "-1"],
                "--rate = -1: must be messages per second in 0.001..=1000000, or 0 (as fast as the broker takes them)",
            ),
            (
                &["--rate", "0.0001"],
                "--rate = 0.0001: must be messages per second in 0.001..=1000000, or 0 (as fast as the broker takes them)",
            ),
            (
                &["--rate", "NaN"],
                "--rate = NaN: must be messages per second in 0.001..=1000000, or 0 (as fast as the broker takes them)",
            ),
            (
                &["--count", "0"],
                "--count = 0: must be in 1..=1000000000000",
            ),
            (
                &["--seed", "-3"],
                "--seed = -3: must be in 0..=18446744073709551615",
            ),
            (&["--host", ""], "--host = \"\": must not be empty"),
            (
                &["--client-id", ""],
                "--client-id = \"\": must not be empty",
            ),
            (
                &["--prefix", "a/+/b"],
                "--prefix = \"a/+/b\": must be a topic level (or levels): not empty, without + # or NUL, at most 1024 bytes",
            ),
        ] {
            assert_eq!(error(argv), line, "{argv:?}");
        }
    }

    #[test]
    fn rate_zero_is_the_load_generator_and_qos_zero_is_at_most_once() {
        let s = args(&["--rate", "0", "--qos", "0", "--count", "5", "--seed", "9"])
            .settings(None)
            .unwrap();
        assert_eq!(
            (s.pace, s.qos, s.count, s.seed),
            (Pace::Unpaced, Qos::AtMostOnce, Some(5), Some(9))
        );
        assert_eq!(
            args(&["--rate", "2.5"]).settings(None).unwrap().pace,
            Pace::PerSecond(2.5)
        );
    }

    #[test]
    fn the_password_comes_from_the_file_or_the_environment_and_needs_a_user_name() {
        let dir = std::env::temp_dir().join(format!("alp-connex-mqtt-sim-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("password");
        std::fs::write(&file, "s3cret\r\n").unwrap();
        let path = file.to_str().unwrap();

        let s = args(&["--username", "u", "--password-file", path])
            .settings(None)
            .unwrap();
        let (user, password) = s.login.unwrap();
        assert_eq!((user.as_str(), password.expose()), ("u", "s3cret"));

        let s = args(&["--username", "u"])
            .settings(Some("env-pw".into()))
            .unwrap();
        assert_eq!(s.login.unwrap().1.expose(), "env-pw");

        let s = args(&["--username", "u"]).settings(None).unwrap();
        assert_eq!(s.login.unwrap().1.expose(), "");

        let both = args(&["--username", "u", "--password-file", path])
            .settings(Some("env-pw".into()))
            .unwrap_err();
        assert_eq!(
            both.to_string(),
            format!(
                "{}",
                ConfigError::Conflict {
                    setting: "--password-file",
                    other: PASSWORD_ENV
                }
            )
        );
        let no_user = args(&["--password-file", path]).settings(None).unwrap_err();
        assert_eq!(no_user.setting(), "--username");
        let no_user = args(&[]).settings(Some("pw".into())).unwrap_err();
        assert_eq!(no_user.setting(), "--username");

        let missing = dir.join("absent");
        let err = args(&[
            "--username",
            "u",
            "--password-file",
            missing.to_str().unwrap(),
        ])
        .settings(None)
        .unwrap_err();
        assert_eq!(err.setting(), "--password-file");
        assert!(err.to_string().contains("cannot read"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
