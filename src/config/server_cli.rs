//! The command line of the `iec104-server` role:
//!
//! ```text
//! alp-connex iec104-server [--id ID] [--log-level L] [--config PATH] [--check-config]
//!     [server [--bind IP] [--port P] [--t0 S] [--t1 S] [--t2 S] [--t3 S] [-k K] [-w W]
//!             [--max-connections N] [--allow NET].. [--common-address CA].. [--queue N]]
//!     [redis [--host H[:P]] [--port P] [--pwd X | --pwd-file F] [--stream-max-length N] [--in-stream S]]
//! alp-connex iec104-server config-gen
//! ```
//!
//! As for `iec104-inbound`, the sections are subcommands (`server` first,
//! then `redis`, each at most once) and the `redis` section is the shared
//! [`RedisArgs`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use super::cli::{CliLayer, ProtocolArgs, RedisArgs};
use super::common::LogLevel;
use super::server_settings::Iec104ServerSettings;
use super::{ConfigError, Layers, read_layers};

/// IEC 104 server: serves the Valkey process image to SCADA masters.
///
/// Settings come from defaults < TOML file (--config) < ALP_CONNEX_*
/// environment (ALP_CONNEX_SERVER__PORT for server.port) < command line.
#[derive(Debug, Clone, PartialEq, Parser)]
#[command(name = "iec104-server")]
pub struct Iec104ServerArgs {
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
    /// valid, 2 with one error line when not. Listens on nothing.
    #[arg(long)]
    pub check_config: bool,
    /// `server`, `redis` or `config-gen`.
    #[command(subcommand)]
    pub section: Option<ServerRoleSection>,
}

/// What follows the role's own options.
#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum ServerRoleSection {
    /// The listening IEC 104 server; may be followed by `redis`.
    Server(Box<ServerArgs>),
    /// Connection to Valkey.
    Redis(RedisArgs),
    /// Print a commented TOML file with every setting and its default.
    ConfigGen,
}

/// The `server` section.
#[derive(Debug, Clone, PartialEq, Args, Serialize)]
pub struct ServerArgs {
    /// Address to listen on, IPv4 or IPv6 [default: 0.0.0.0].
    #[arg(long, value_name = "IP")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    /// Port to listen on [default: 2404].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u64>,
    /// The protocol parameters.
    #[command(flatten)]
    #[serde(flatten)]
    pub protocol: ProtocolArgs,
    /// Masters connected at the same time [default: 5].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u64>,
    /// Network or address masters may connect from, e.g. 10.0.0.0/8;
    /// repeat or separate with commas [default: every address].
    #[arg(long, value_name = "NET", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Common address served; repeat or separate with commas [default:
    /// every common address in the image].
    #[arg(long = "common-address", value_name = "CA", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub common_addresses: Vec<u64>,
    /// Points of an interrogation group, GROUP:CASDU:FIRST[-LAST] (CASDU
    /// `*` for every one), e.g. 1:100:1000-1999; repeat or separate with
    /// commas [default: none].
    #[arg(long = "group", value_name = "G:CA:IOA-IOA", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Length of the update queue of each master [default: 10000].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<u64>,
    /// `redis` may follow.
    #[command(subcommand)]
    #[serde(skip)]
    pub then: Option<AfterServer>,
}

/// What may follow the `server` section.
#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum AfterServer {
    /// Connection to Valkey.
    Redis(RedisArgs),
}

/// The own section of `iec104-server` in its [`CliLayer`].
#[derive(Serialize)]
pub(crate) struct ServerLayer<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<&'a ServerArgs>,
}

impl Iec104ServerArgs {
    /// The `server` section, if given.
    pub fn server(&self) -> Option<&ServerArgs> {
        match &self.section {
            Some(ServerRoleSection::Server(s)) => Some(s),
            _ => None,
        }
    }

    /// The `redis` section, if given (alone or after `server`).
    pub fn redis(&self) -> Option<&RedisArgs> {
        match &self.section {
            Some(ServerRoleSection::Redis(r)) => Some(r),
            Some(ServerRoleSection::Server(s)) => match &s.then {
                Some(AfterServer::Redis(r)) => Some(r),
                None => None,
            },
            _ => None,
        }
    }

    /// Whether `config-gen` was asked for.
    pub fn is_config_gen(&self) -> bool {
        matches!(self.section, Some(ServerRoleSection::ConfigGen))
    }

    pub(crate) fn layer(&self) -> CliLayer<'_, ServerLayer<'_>> {
        CliLayer {
            id: self.id.as_deref(),
            log_level: self.log_level,
            sections: ServerLayer {
                server: self.server(),
            },
            redis: self.redis(),
        }
    }

    /// Reads the start-up layers (defaults < `--config` file <
    /// `ALP_CONNEX_*` < command line) without checking them yet.
    pub fn layers(&self) -> Result<Layers<Iec104ServerSettings>, ConfigError> {
        read_layers(self.config.as_deref(), self.layer())
    }

    /// The checked settings of the start-up layers.
    pub fn load(&self) -> Result<Iec104ServerSettings, ConfigError> {
        self.layers()?.settings()
    }
}
