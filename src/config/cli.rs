//! What the command lines of the roles share: the options every role takes
//! first ([`RoleOptions`]), the IEC 104 protocol parameters of a role's own
//! section ([`ProtocolArgs`]), the `redis` section ([`RedisArgs`]) and the
//! form in which a command line becomes the top settings layer
//! ([`CliLayer`]).
//!
//! A role's command line is a clap parser in the role's folder
//! (`inbound::config`, `server::config`): the global options, then its own
//! section and `redis` as subcommands, which gives "each at most once, the
//! role's own first" and a `--help` per section. Every option is optional
//! there; the values given become the top layer of [`super::Layers`]
//! ([`super::RoleArgs::layers`]).

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::common::LogLevel;
use super::secret::Secret;

/// The options every role takes before its sections. A role completes the
/// help of `--check-config` with what the check does not do
/// (`#[command(mut_arg("check_config", ..))]`).
#[derive(Debug, Clone, PartialEq, Args)]
pub struct RoleOptions {
    /// Unique connector ID from the Management UI (required unless given by
    /// the file or ALP_CONNEX_ID).
    #[arg(long)]
    pub id: Option<String>,
    /// Log verbosity [default: info].
    #[arg(long, value_enum)]
    pub log_level: Option<LogLevel>,
    /// TOML configuration file (see `config-gen`).
    #[arg(long, value_name = "PATH", env = "ALP_CONNEX_CONFIG")]
    pub config: Option<PathBuf>,
    /// `--check-config`: check the settings, print them and exit.
    #[arg(long, help = CHECK_CONFIG_HELP)]
    pub check_config: bool,
}

/// What `--check-config` does, in every role.
const CHECK_CONFIG_HELP: &str = "Check the settings, print them (password masked) and exit: 0 when valid, 2 with one error line when not.";

/// The help of `--check-config`, ending in what the role's check does not
/// do (`Connects to nothing`).
pub fn check_config_help(does_not: &str) -> String {
    format!("{CHECK_CONFIG_HELP} {does_not}")
}

/// The IEC 104 protocol parameters of a role's section (`client`,
/// `server`): the same options with the same defaults in every role.
#[derive(Debug, Clone, PartialEq, Default, Args, Serialize)]
pub struct ProtocolArgs {
    /// Connection establishment timeout, seconds [default: 30].
    #[arg(long, value_name = "SECONDS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t0: Option<u64>,
    /// Send or test APDU timeout, seconds [default: 15].
    #[arg(long, value_name = "SECONDS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t1: Option<u64>,
    /// Acknowledge timeout when there is no data, seconds [default: 10].
    #[arg(long, value_name = "SECONDS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t2: Option<u64>,
    /// Test frame timeout on a long idle link, seconds [default: 20].
    #[arg(long, value_name = "SECONDS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t3: Option<u64>,
    /// Maximum unacknowledged I-frames (send window) [default: 12].
    #[arg(short = 'k')]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k: Option<u64>,
    /// Acknowledge after receiving w I-frames [default: 8].
    #[arg(short = 'w')]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub w: Option<u64>,
}

/// The `redis` section.
#[derive(Debug, Clone, PartialEq, Args, Serialize)]
pub struct RedisArgs {
    /// Valkey host, with optional port, e.g. valkey:6379 [default: 127.0.0.1].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Valkey port, overrides a port in --host [default: 6379].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u64>,
    /// Valkey password (visible to other local users: prefer --pwd-file).
    #[arg(long, conflicts_with = "pwd_file")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pwd: Option<Secret>,
    /// File holding the Valkey password.
    #[arg(long, value_name = "PATH")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pwd_file: Option<PathBuf>,
    /// Maximum length of the update stream [default: 1000].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_max_length: Option<u64>,
    /// Stream name for data updates [default: process:updates].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_stream: Option<String>,
}

/// The command line of a role as a settings layer: only the values given.
/// `sections` are the role's own sections (flattened: a struct of optional
/// sections named as in the file).
#[derive(Serialize)]
pub(super) struct CliLayer<'a, S: Serialize> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<LogLevel>,
    #[serde(flatten)]
    pub sections: S,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<&'a RedisArgs>,
}
