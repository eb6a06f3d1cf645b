//! The managed configuration of a connector, watched ([`watch_config`]) or
//! read once ([`read_config`]).
//!
//! `connectors:{ID}:config` is read at start, again at once whenever a
//! message arrives on the channel of the same name (the backend publishes
//! the key name after each SET), and every second, so that a plain SET
//! without a publish is seen within two seconds. The watch only changes when
//! the content does. After the first read, a small script asks Valkey
//! whether the value's SHA-1 changed and brings the value only when it
//! did: a configuration of megabytes is not transferred every second (a
//! Valkey that refuses EVAL gets plain GETs). A lost connection (a Valkey restart) ends the session:
//! new connections subscribe again and re-read.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fred::clients::Client;
use fred::interfaces::{ClientLike, EventInterface, KeysInterface, PubsubInterface};
use fred::types::{ClusterHash, CustomCommand, Value};
use tokio::sync::{broadcast, watch};
use tokio::time::MissedTickBehavior;
use tracing::{info, warn};

use super::{Conn, Reconnect, StoreConfig, StoreError, config_key, connect, connect_fred};

/// The raw managed configuration: the string at `connectors:{ID}:config`,
/// `None` while the key does not exist. A shared, UTF-8 checked view of the
/// reply's bytes: an mqtt configuration of 10,000 mappings is megabytes,
/// never copied on its way to the role.
pub type ConfigValue = Option<ConfigText>;

/// The text of a managed configuration (derefs to `str`; clones share it).
pub use fred::bytes_utils::Str as ConfigText;

/// What the watch holds: the value's fingerprint, and the value itself
/// until the role takes it ([`Watched::take`]), so that a configuration of
/// megabytes is not kept once more by the watch after the role has read
/// it.
#[derive(Debug, Clone, Default)]
pub struct Watched {
    fingerprint: Fingerprint,
    slot: Arc<Mutex<Option<ConfigValue>>>,
}

/// What tells two managed values apart: whether the key exists, the
/// length and a 64-bit hash of the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fingerprint(Option<(usize, u64)>);

impl Fingerprint {
    /// The fingerprint of a value.
    pub fn of(value: &ConfigValue) -> Fingerprint {
        use std::hash::{Hash, Hasher};
        Fingerprint(value.as_ref().map(|text| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            text.as_bytes().hash(&mut h);
            (text.len(), h.finish())
        }))
    }
}

impl Watched {
    fn new(value: ConfigValue) -> Watched {
        Watched {
            fingerprint: Fingerprint::of(&value),
            slot: Arc::new(Mutex::new(Some(value))),
        }
    }

    /// The value's fingerprint (also after it was taken).
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// Takes the value out of the watch; `None` when it was taken already.
    pub fn take(&self) -> Option<ConfigValue> {
        self.slot.lock().ok().and_then(|mut s| s.take())
    }

    /// The value, left in place; `None` when it was taken already.
    pub fn peek(&self) -> Option<ConfigValue> {
        self.slot.lock().ok().and_then(|s| s.clone())
    }

    /// Whether the key does not exist (by the fingerprint).
    pub fn is_absent(&self) -> bool {
        self.fingerprint.0.is_none()
    }
}

/// Period of the re-read that catches a SET without a publish.
pub const CONFIG_POLL: Duration = Duration::from_secs(1);
/// Pause before connecting again after a lost connection.
const RETRY: Duration = Duration::from_millis(500);

/// Watches `connectors:{id}:config` in a task of its own (it needs a tokio
/// runtime) until every receiver is dropped.
///
/// The receiver starts at `None`; the first read is always a change (also
/// when the key does not exist, so that a start can wait for it); after
/// that it changes when the content read differs from the last one sent. A
/// key that is deleted changes it back to `None`.
pub fn watch_config(cfg: StoreConfig, id: &str) -> watch::Receiver<Watched> {
    let (tx, rx) = watch::channel(Watched::new(None));
    tokio::spawn(run(cfg, config_key(id), tx));
    rx
}

/// Reads `connectors:{id}:config` once, on a connection of its own that is
/// closed afterwards.
pub async fn read_config(cfg: &StoreConfig, id: &str) -> Result<ConfigValue, StoreError> {
    let client = connect(cfg).await?;
    let value: Result<ConfigValue, _> = client.client.get(config_key(id)).await;
    client.quit().await;
    value.map_err(|e| StoreError::command("GET", &e))
}

async fn run(cfg: StoreConfig, key: String, tx: watch::Sender<Watched>) {
    let mut down = false;
    let mut first = true;
    loop {
        match session(&cfg, &key, &tx, &mut down, &mut first).await {
            Ok(()) => return,
            Err(e) => {
                if !down {
                    warn!(
                        valkey = %cfg.addr(),
                        "cannot watch {key}: {e}; keeping the last configuration and retrying"
                    );
                    down = true;
                }
            }
        }
        tokio::select! {
            _ = tx.closed() => return,
            _ = tokio::time::sleep(RETRY) => {}
        }
    }
}

/// One pair of connections (the subscriber cannot send GET); `Ok` when every
/// receiver is gone, `Err` when a connection is lost.
async fn session(
    cfg: &StoreConfig,
    key: &str,
    tx: &watch::Sender<Watched>,
    down: &mut bool,
    first: &mut bool,
) -> Result<(), StoreError> {
    let reader = connect_fred(cfg, Reconnect::Never).await?;
    let subscriber = match connect_fred(cfg, Reconnect::Never).await {
        Ok(s) => s,
        Err(e) => {
            reader.close().await;
            return Err(e);
        }
    };
    let result = watch_with(&reader, &subscriber, key, tx, down, first).await;
    reader.close().await;
    subscriber.close().await;
    result
}

async fn watch_with(
    reader: &Conn,
    subscriber: &Conn,
    key: &str,
    tx: &watch::Sender<Watched>,
    down: &mut bool,
    first: &mut bool,
) -> Result<(), StoreError> {
    let mut messages = subscriber.client.message_rx();
    subscriber
        .client
        .subscribe(key)
        .await
        .map_err(|e| StoreError::command("SUBSCRIBE", &e))?;
    let mut reading = Reader {
        client: &reader.client,
        key,
        last_sha: String::new(),
        script: true,
    };
    // Read after subscribing: a change between the two is not missed.
    reading.read(tx, std::mem::take(first)).await?;
    if std::mem::take(down) {
        info!("watching {key} again");
    }
    let mut poll = tokio::time::interval_at(tokio::time::Instant::now() + CONFIG_POLL, CONFIG_POLL);
    poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tx.closed() => return Ok(()),
            message = messages.recv() => match message {
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    reading.read(tx, false).await?;
                }
                Err(broadcast::error::RecvError::Closed) => {
                    return Err(StoreError::Command {
                        command: "SUBSCRIBE",
                        reason: "the subscription ended".to_owned(),
                    });
                }
            },
            _ = poll.tick() => {
                if !subscriber.alive() || !reader.alive() {
                    return Err(StoreError::Command {
                        command: "SUBSCRIBE",
                        reason: "connection lost".to_owned(),
                    });
                }
                reading.read(tx, false).await?;
            }
        }
    }
}

/// Reads the value only when it changed: Valkey compares the SHA-1 of the
/// value with the one of the value read last and sends the value only when
/// they differ, so a configuration of megabytes is not read every second.
const READ_IF_CHANGED: &str = "local v = redis.call('GET', KEYS[1]) \
if not v then return {0} end \
local h = redis.sha1hex(v) \
if h == ARGV[1] then return {1} end \
return {2, h, v}";

/// The reading side of a watch: the key, the SHA-1 of the value read last,
/// and whether the script may be used (a Valkey that refuses EVAL gets
/// plain GETs).
struct Reader<'a> {
    client: &'a Client,
    key: &'a str,
    last_sha: String,
    script: bool,
}

/// What a read found.
enum Read {
    /// The key does not exist.
    Absent,
    /// The value read last is still the value.
    Unchanged,
    /// A new value.
    Value(ConfigText),
}

impl Reader<'_> {
    /// Reads the key and sends it when it changed, or always when `always`.
    async fn read(&mut self, tx: &watch::Sender<Watched>, always: bool) -> Result<(), StoreError> {
        if always {
            // A first read brings the value whatever was read before.
            self.last_sha.clear();
        }
        let found = if self.script {
            match self.read_if_changed().await {
                Ok(found) => found,
                Err(e) => {
                    warn!(
                        "reading {} by script failed ({e}); reading it whole from now on",
                        self.key
                    );
                    self.script = false;
                    self.get().await?
                }
            }
        } else {
            self.get().await?
        };
        let value = match found {
            Read::Unchanged => return Ok(()),
            Read::Absent => None,
            Read::Value(v) => Some(v),
        };
        let fingerprint = Fingerprint::of(&value);
        tx.send_if_modified(|current| {
            if current.fingerprint == fingerprint && !always {
                false
            } else {
                *current = Watched::new(value);
                true
            }
        });
        Ok(())
    }

    async fn get(&mut self) -> Result<Read, StoreError> {
        let value: Option<ConfigText> = self
            .client
            .get(self.key)
            .await
            .map_err(|e| StoreError::command("GET", &e))?;
        // The next scripted read compares with this value.
        self.last_sha.clear();
        Ok(value.map_or(Read::Absent, Read::Value))
    }

    async fn read_if_changed(&mut self) -> Result<Read, StoreError> {
        // In a cluster, the key (argument 2) picks the node.
        let eval = CustomCommand::new_static("EVAL", ClusterHash::Offset(2), false);
        let args: Vec<Value> = vec![
            Value::from_static_str(READ_IF_CHANGED),
            Value::from(1),
            Value::from(self.key),
            Value::from(self.last_sha.as_str()),
        ];
        let reply: Value = self
            .client
            .custom(eval, args)
            .await
            .map_err(|e| StoreError::command("EVAL", &e))?;
        let bad = || StoreError::Command {
            command: "EVAL",
            reason: String::from("unexpected reply of the read script"),
        };
        let Value::Array(items) = reply else {
            return Err(bad());
        };
        match items.first().and_then(Value::as_i64) {
            Some(0) => {
                self.last_sha.clear();
                Ok(Read::Absent)
            }
            Some(1) => Ok(Read::Unchanged),
            Some(2) => {
                let mut rest = items.into_iter().skip(1);
                let sha = rest.next().and_then(|v| v.into_string()).ok_or_else(bad)?;
                let text = rest
                    .next()
                    .and_then(|v| v.into_bytes_str())
                    .ok_or_else(bad)?;
                self.last_sha = sha;
                Ok(Read::Value(text))
            }
            _ => Err(bad()),
        }
    }
}
