//! The Valkey side of the data contract (docs/contract.md): data points
//! into the process image and the update stream, the process image and the
//! stream read back, the managed configuration, the connector status.
//!
//! Boundary: this module owns every Valkey connection, every command and
//! reply (fred is used nowhere else) and every key name ([`keys`]). The
//! roles get typed operations: they hand it [`PointRecord`]s (contract JSON
//! already rendered) and status JSON, and get back pages of image values,
//! stream entries ([`stream::Entry`]) and the raw managed configuration.
//! Standalone and Cluster are connection modes ([`Mode`]) of the same code.
//!
//! ```text
//! role ──submit(Vec<PointRecord>)──► channel ──► writer task ──► coalescing buffer
//!                                                     │  (image: last value per address,
//!                                                     │   stream: entries in order, capped)
//!                                                     └─ pipeline: SET image … then XADD stream …
//!                                                        (standalone: in calls of a Lua script)
//! Valkey process:image:* ──SCAN + MGET──► image::scan / image::owned_points ──► role
//! Valkey stream ──XINFO STREAM / XREAD──► stream::info / stream::read_after ──► role
//! Valkey connectors:{ID}:config ──GET──► read_config ──► role (once, at start)
//!                               ──GET + SUBSCRIBE + 1 s poll──► watch_config ──► role
//! role ──set_status──► SET connectors:{ID}:status EX 15
//! healthcheck ──read_status──► GET + PTTL connectors:{ID}:status
//! ```
//!
//! - [`keys`]: every key name, spelled once.
//! - [`Writer`] / [`WriterHandle`]: the pipelined, outage-proof point writer.
//! - [`image`]: the whole image read back, a page at a time.
//! - [`stream`]: where the update stream stands and the entries after an ID.
//! - [`watch_config`], [`read_config`]: the managed configuration, watched
//!   or read once.
//! - [`connect`] → [`StoreClient`]: one connection for a role's own calls
//!   ([`set_status`], [`read_status`], [`ping`], [`image::scan`],
//!   [`stream::read_after`]);
//!   it hands out no client of its own.

mod buffer;
pub mod image;
pub mod keys;
pub mod stream;
mod watch;
mod writer;

use std::time::Duration;

use fred::clients::Client;
use fred::error::{Error as FredError, ErrorKind};
use fred::interfaces::{ClientLike, KeysInterface};
use fred::types::config::{
    ClusterDiscoveryPolicy, Config, Options, ReconnectPolicy, Server, ServerConfig,
};
use fred::types::{Builder, ConnectHandle, Expiration};

use crate::config::{RedisSettings, Secret};

pub use keys::{config_key, image_key, status_key};
pub use watch::{ConfigText, ConfigValue, Fingerprint, Watched, read_config, watch_config};
pub use writer::{Writer, WriterHandle, WriterStats};

/// Time to open a TCP connection and to get the answer of `AUTH` and of the
/// cluster discovery.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for the answer of one command or pipeline.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// Delay between reconnection attempts of an established client.
pub const RECONNECT_DELAY: Duration = Duration::from_millis(300);
/// Lifetime of the status key; the role refreshes it at least every 5 s.
pub const STATUS_TTL_S: i64 = 15;

/// One data point to write: the contract JSON and its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointRecord {
    /// Common address of ASDU.
    pub casdu: u16,
    /// Information object address (24 bits).
    pub ioa: u32,
    /// The data point JSON of the contract, written as is.
    pub json: String,
}

/// How the connection reaches Valkey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// One server (or a proxy in front of several).
    #[default]
    Standalone,
    /// Valkey Cluster: `host:port` is one seed node; the others are
    /// discovered.
    Cluster,
}

/// Where and how to write.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    /// Valkey host (or the cluster seed node), without port.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// Password for `AUTH`, if Valkey requires one.
    pub password: Option<Secret>,
    /// Standalone or Cluster.
    pub mode: Mode,
    /// Name of the update stream.
    pub stream: String,
    /// Cap of the update stream, entries.
    pub stream_max_length: u64,
    /// `MAXLEN =` instead of `MAXLEN ~` (slower: Valkey trims on every add).
    pub exact_trim: bool,
    /// The connector ID, written as the `source` field of every entry.
    pub source: String,
}

impl StoreConfig {
    /// The store settings of a connector: standalone, approximate trimming.
    pub fn from_settings(redis: &RedisSettings, source: &str) -> Self {
        Self {
            host: redis.host.clone(),
            port: redis.port,
            password: redis.password.clone(),
            mode: if redis.cluster {
                Mode::Cluster
            } else {
                Mode::Standalone
            },
            stream: redis.in_stream.clone(),
            stream_max_length: redis.stream_max_length,
            exact_trim: redis.exact_trim,
            source: source.to_owned(),
        }
    }

    /// `host:port`, for messages.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// What went wrong talking to Valkey.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Valkey could not be reached or did not answer.
    #[error("cannot reach Valkey at {addr}: {reason}")]
    Unreachable {
        /// `host:port`.
        addr: String,
        /// The reason given by the client or the operating system.
        reason: String,
    },
    /// Valkey refused the password (or requires one that was not given).
    #[error("Valkey at {addr} refused the authentication: {reason}")]
    Auth {
        /// `host:port`.
        addr: String,
        /// Valkey's answer.
        reason: String,
    },
    /// A command was refused or failed.
    #[error("Valkey command {command} failed: {reason}")]
    Command {
        /// The command, e.g. `SET`.
        command: &'static str,
        /// Valkey's or the client's reason.
        reason: String,
    },
    /// `flush` did not see every submitted point written in time.
    #[error("not every point was written within {timeout:?}: {pending} pending")]
    FlushTimeout {
        /// The time allowed.
        timeout: Duration,
        /// Points not written yet when the time was up.
        pending: u64,
    },
    /// The writer task is no longer running.
    #[error("the Valkey writer has stopped")]
    Stopped,
}

impl StoreError {
    fn from_connect(cfg: &StoreConfig, e: &FredError) -> Self {
        let reason = e.details().to_owned();
        if *e.kind() == ErrorKind::Auth || is_auth_reply(&reason) {
            Self::Auth {
                addr: cfg.addr(),
                reason,
            }
        } else {
            Self::Unreachable {
                addr: cfg.addr(),
                reason: describe(e),
            }
        }
    }

    fn command(command: &'static str, e: &FredError) -> Self {
        Self::Command {
            command,
            reason: describe(e),
        }
    }
}

/// `WRONGPASS ...`, `NOAUTH ...`: Valkey's refusals of a login.
fn is_auth_reply(reason: &str) -> bool {
    ["WRONGPASS", "NOAUTH", "NOPERM", "invalid password"]
        .iter()
        .any(|p| reason.contains(p))
}

/// A fred error as one line: its kind and details.
fn describe(e: &FredError) -> String {
    format!("{}: {}", e.kind().to_str(), e.details())
}

/// Whether a client reconnects by itself after a lost connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reconnect {
    /// Every [`RECONNECT_DELAY`]. Commands sent meanwhile wait for the new
    /// connection (at most [`COMMAND_TIMEOUT`]).
    Auto,
    /// Never: the client is dead once its connection is lost, and a command
    /// in flight fails instead of being sent again later. The writer and the
    /// watch use this and open a new client themselves, so that a write they
    /// saw fail is never replayed behind their back.
    Never,
}

/// A client that is not connected yet. Commands time out after
/// [`COMMAND_TIMEOUT`] and are sent once: retrying is the caller's choice.
fn build(cfg: &StoreConfig, reconnect: Reconnect) -> Result<Client, FredError> {
    let server = Server::new(cfg.host.as_str(), cfg.port);
    let config = Config {
        // The first connection attempt reports its error to the caller.
        fail_fast: true,
        password: cfg.password.as_ref().map(|p| p.expose().to_owned()),
        server: match cfg.mode {
            Mode::Standalone => ServerConfig::Centralized { server },
            Mode::Cluster => ServerConfig::Clustered {
                hosts: vec![server],
                policy: ClusterDiscoveryPolicy::default(),
            },
        },
        ..Config::default()
    };
    let mut builder = Builder::from_config(config);
    builder
        .with_connection_config(|c| {
            c.connection_timeout = CONNECT_TIMEOUT;
            c.internal_command_timeout = CONNECT_TIMEOUT;
            c.max_command_attempts = 1;
        })
        .with_performance_config(|p| {
            p.default_command_timeout = COMMAND_TIMEOUT;
        });
    if reconnect == Reconnect::Auto {
        let delay_ms = u32::try_from(RECONNECT_DELAY.as_millis()).unwrap_or(u32::MAX);
        builder.set_policy(ReconnectPolicy::new_constant(0, delay_ms));
    }
    builder.build()
}

/// A connection to Valkey, for a role's own calls: [`set_status`],
/// [`image::scan`], [`stream::info`], [`stream::read_after`].
#[derive(Clone)]
pub struct StoreClient {
    client: Client,
}

impl StoreClient {
    /// Whether the connection is up (it reconnects on its own when not).
    pub fn is_connected(&self) -> bool {
        self.client.is_connected()
    }

    /// Closes the connection.
    pub async fn quit(&self) {
        close(&self.client).await;
    }
}

impl core::fmt::Debug for StoreClient {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StoreClient")
            .field("connected", &self.client.is_connected())
            .finish()
    }
}

/// Connects (and authenticates) to Valkey, or says why not. Once connected
/// the client reconnects on its own after a lost connection.
pub async fn connect(cfg: &StoreConfig) -> Result<StoreClient, StoreError> {
    let conn = connect_fred(cfg, Reconnect::Auto).await?;
    Ok(StoreClient {
        client: conn.client,
    })
}

/// A connected client and the task that drives its connection.
struct Conn {
    client: Client,
    task: ConnectHandle,
}

impl Conn {
    /// Whether the connection still serves commands. Without reconnection
    /// the task ends with the connection, whatever the client state says.
    fn alive(&self) -> bool {
        !self.task.is_finished() && self.client.is_connected()
    }

    async fn close(self) {
        close(&self.client).await;
        self.task.abort();
    }
}

/// Closes a client, waiting at most a second (a client waiting for its
/// reconnection would hold `QUIT` back until Valkey is back).
async fn close(client: &Client) {
    let _ = tokio::time::timeout(Duration::from_secs(1), client.quit()).await;
}

async fn connect_fred(cfg: &StoreConfig, reconnect: Reconnect) -> Result<Conn, StoreError> {
    let client = build(cfg, reconnect).map_err(|e| StoreError::from_connect(cfg, &e))?;
    // The connect timeout covers each step; the whole attempt is bounded too
    // (cluster discovery makes several steps).
    let attempt = tokio::time::timeout(CONNECT_TIMEOUT * 3, client.init()).await;
    match attempt {
        Ok(Ok(task)) => Ok(Conn { client, task }),
        Ok(Err(e)) => Err(StoreError::from_connect(cfg, &e)),
        Err(_) => {
            close(&client).await;
            Err(StoreError::Unreachable {
                addr: cfg.addr(),
                reason: format!("no connection within {:?}", CONNECT_TIMEOUT * 3),
            })
        }
    }
}

/// `SET connectors:{ID}:status <json> EX 15`. Fails at once while the
/// connection is down (the next call, at most 5 s later, writes a fresh one).
pub async fn set_status(client: &StoreClient, id: &str, json: &str) -> Result<(), StoreError> {
    let options = Options {
        fail_fast: true,
        ..Options::default()
    };
    client
        .client
        .with_options(&options)
        .set::<(), _, _>(
            status_key(id),
            json,
            Some(Expiration::EX(STATUS_TTL_S)),
            None,
            false,
        )
        .await
        .map_err(|e| StoreError::command("SET", &e))
}

/// `GET` and `PTTL` of `connectors:{ID}:status`: the status JSON and how
/// long the key has left to live (`None` when there is no such key). A
/// key without expiry (`PTTL` -1, set by hand) reads as a full lifetime.
pub async fn read_status(
    client: &StoreClient,
    id: &str,
    timeout: Duration,
) -> Result<Option<(String, Duration)>, StoreError> {
    let options = Options {
        fail_fast: true,
        timeout: Some(timeout),
        ..Options::default()
    };
    let key = status_key(id);
    let c = client.client.with_options(&options);
    let json: Option<String> = c
        .get(&key)
        .await
        .map_err(|e| StoreError::command("GET", &e))?;
    let Some(json) = json else {
        return Ok(None);
    };
    let pttl: i64 = c
        .pttl(&key)
        .await
        .map_err(|e| StoreError::command("PTTL", &e))?;
    let left = match u64::try_from(pttl) {
        Ok(ms) => Duration::from_millis(ms),
        // -1: no expiry; -2: expired between the two commands.
        Err(_) if pttl == -1 => Duration::from_secs(STATUS_TTL_S.unsigned_abs()),
        Err(_) => return Ok(None),
    };
    Ok(Some((json, left)))
}

/// `PING`: whether Valkey answers now. Fails at once while the connection
/// is down, and after `timeout` when Valkey does not answer.
pub async fn ping(client: &StoreClient, timeout: Duration) -> Result<(), StoreError> {
    let options = Options {
        fail_fast: true,
        timeout: Some(timeout),
        ..Options::default()
    };
    client
        .client
        .with_options(&options)
        .ping::<()>(None)
        .await
        .map_err(|e| StoreError::command("PING", &e))
}

/// The backend's push of a connector's managed configuration: `SET
/// connectors:{ID}:config <json>` then `PUBLISH` of the key name on the
/// channel of the same name (the contract); `None` removes the key
/// (`DEL`, then the same `PUBLISH`). Fails at once while the connection is
/// down.
pub async fn push_config(
    client: &StoreClient,
    id: &str,
    json: Option<&str>,
) -> Result<(), StoreError> {
    use fred::interfaces::PubsubInterface;
    let options = Options {
        fail_fast: true,
        ..Options::default()
    };
    let key = config_key(id);
    let c = client.client.with_options(&options);
    match json {
        Some(json) => c
            .set::<(), _, _>(key.as_str(), json, None, None, false)
            .await
            .map_err(|e| StoreError::command("SET", &e))?,
        None => c
            .del::<(), _>(key.as_str())
            .await
            .map_err(|e| StoreError::command("DEL", &e))?,
    }
    c.publish::<(), _, _>(key.as_str(), key.as_str())
        .await
        .map_err(|e| StoreError::command("PUBLISH", &e))
}

/// `GET` of a plain string key (`None` when absent). Fails at once while
/// the connection is down.
pub async fn get_text(client: &StoreClient, key: &str) -> Result<Option<String>, StoreError> {
    let options = Options {
        fail_fast: true,
        ..Options::default()
    };
    client
        .client
        .with_options(&options)
        .get::<Option<String>, _>(key)
        .await
        .map_err(|e| StoreError::command("GET", &e))
}

/// `MGET` of plain string keys, in order (`None` for an absent key or one
/// of another type).
pub async fn mget_text(
    client: &StoreClient,
    keys: &[String],
) -> Result<Vec<Option<String>>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let options = Options {
        fail_fast: true,
        ..Options::default()
    };
    let names: Vec<&str> = keys.iter().map(String::as_str).collect();
    let values: Vec<fred::types::Value> = client
        .client
        .with_options(&options)
        .mget(names)
        .await
        .map_err(|e| StoreError::command("MGET", &e))?;
    Ok(values
        .into_iter()
        .map(|v| v.as_str().map(|s| s.into_owned()))
        .collect())
}
