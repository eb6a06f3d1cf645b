//! The command line of the `iec104-inbound` role, as documented:
//!
//! ```text
//! alp-connex iec104-inbound [--id ID] [--log-level L] [--config PATH]
//!     [client [--host H] [--port P] [--t0 S] [--t1 S] [--t2 S] [--t3 S] [-k K] [-w W]]
//!     [redis [--host H[:P]] [--port P] [--pwd X | --pwd-file F] [--stream-max-length N] [--in-stream S]]
//! alp-connex iec104-inbound config-gen
//! ```
//!
//! The sections are clap subcommands: `redis` is a subcommand both of the
//! role and of `client`, which gives "each at most once, client first" and
//! a `--help` per section. Every option is optional here; the values given
//! become the top layer of [`super::load`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use super::secret::Secret;
use super::settings::LogLevel;

/// IEC 104 inbound connector: reads a remote IEC 104 server into Valkey.
///
/// Settings come from defaults < TOML file (--config) < ALP_CONNEX_*
/// environment (ALP_CONNEX_CLIENT__HOST for client.host) < command line.
#[derive(Debug, Clone, PartialEq, Parser)]
#[command(name = "iec104-inbound")]
pub struct InboundArgs {
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
    /// Check the settings, print them (password masked) and exit: 0 when
    /// valid, 2 with one error line when not. Connects to nothing.
    #[arg(long)]
    pub check_config: bool,
    /// `client`, `redis` or `config-gen`.
    #[command(subcommand)]
    pub section: Option<InboundSection>,
}

/// What follows the role's own options.
#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum InboundSection {
    /// Connection to the remote IEC 104 server; may be followed by `redis`.
    Client(ClientArgs),
    /// Connection to Valkey.
    Redis(RedisArgs),
    /// Print a commented TOML file with every setting and its default.
    ConfigGen,
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

/// The `client` section.
#[derive(Debug, Clone, PartialEq, Args, Serialize)]
pub struct ClientArgs {
    /// Remote IEC 104 server host [default: 127.0.0.1].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Remote IEC 104 server port [default: 2404].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u64>,
    /// The protocol parameters.
    #[command(flatten)]
    #[serde(flatten)]
    pub protocol: ProtocolArgs,
    /// `redis` may follow.
    #[command(subcommand)]
    #[serde(skip)]
    pub then: Option<AfterClient>,
}

/// What may follow the `client` section.
#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum AfterClient {
    /// Connection to Valkey.
    Redis(RedisArgs),
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
pub(crate) struct CliLayer<'a, S: Serialize> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<LogLevel>,
    #[serde(flatten)]
    pub sections: S,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<&'a RedisArgs>,
}

/// The own section of `iec104-inbound` in its [`CliLayer`].
#[derive(Serialize)]
pub(crate) struct ClientLayer<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<&'a ClientArgs>,
}

impl InboundArgs {
    /// The `client` section, if given.
    pub fn client(&self) -> Option<&ClientArgs> {
        match &self.section {
            Some(InboundSection::Client(c)) => Some(c),
            _ => None,
        }
    }

    /// The `redis` section, if given (alone or after `client`).
    pub fn redis(&self) -> Option<&RedisArgs> {
        match &self.section {
            Some(InboundSection::Redis(r)) => Some(r),
            Some(InboundSection::Client(ClientArgs {
                then: Some(AfterClient::Redis(r)),
                ..
            })) => Some(r),
            _ => None,
        }
    }

    /// Whether `config-gen` was asked for.
    pub fn is_config_gen(&self) -> bool {
        matches!(self.section, Some(InboundSection::ConfigGen))
    }

    pub(crate) fn layer(&self) -> CliLayer<'_, ClientLayer<'_>> {
        CliLayer {
            id: self.id.as_deref(),
            log_level: self.log_level,
            sections: ClientLayer {
                client: self.client(),
            },
            redis: self.redis(),
        }
    }
}
