//! The connector status (`connectors:{ID}:status`): [`Status`] holds the
//! fields of the contract every role shares and the role's own fields
//! (`T`, flattened beside them in the JSON); a [`StatusCell`] shares it
//! between the role's tasks; a [`Heartbeat`] writes it every period, at
//! once after every [`StatusCell::update`], and a last time with the state
//! `stopped` when [`Heartbeat::stop`] is called.
//!
//! ```text
//! role ──update(|s| …)──► StatusCell<T> ──notify──► Heartbeat task
//!                                                      │ refresh(&mut Status<T>)  (the role's live counters)
//!                                                      └─► JSON ─► store::set_status: SET connectors:{ID}:status EX 15
//! role ──Heartbeat::stop──► state "stopped" ─► last write, awaited at most FINAL_WRITE
//! ```

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use tracing::warn;

use super::now_ms;
use crate::iec104::time::rfc3339_ms;
use crate::store::{self, StoreClient, StoreConfig};

/// Longest wait of [`Heartbeat::stop`] for the last status to be written
/// (Valkey may be down at shutdown).
pub const FINAL_WRITE: Duration = Duration::from_secs(1);

/// The Valkey writer's figures in a connector's status (`valkey`), the
/// same in every role that writes the image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ValkeyStatus {
    pub connected: bool,
    pub written: u64,
    pub pending: u64,
    pub dropped_stream_entries: u64,
    pub trimmed_stream_entries: u64,
    pub outages: u64,
    pub last_error: Option<String>,
}

impl From<store::WriterStats> for ValkeyStatus {
    fn from(w: store::WriterStats) -> Self {
        Self {
            connected: w.connected,
            written: w.written,
            pending: w.pending,
            dropped_stream_entries: w.dropped_stream_entries,
            trimmed_stream_entries: w.trimmed_stream_entries,
            outages: w.outages,
            last_error: w.last_error,
        }
    }
}

/// The state of a connector, as the status shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Opening its connection to the source.
    Connecting,
    /// Connected to its source, data flowing.
    Connected,
    /// The connection is lost; waiting to connect again.
    Disconnected,
    /// A server role, waiting for and serving clients.
    Listening,
    /// Stopped (the last status a connector writes).
    Stopped,
}

/// `connectors:{ID}:status`: the fields every role writes, and the role's
/// own (`role`, flattened: its fields stand beside these in the JSON).
#[derive(Debug, Clone, Serialize)]
pub struct Status<T> {
    /// The connector ID.
    pub id: String,
    /// The role, e.g. `iec104-inbound`.
    pub kind: &'static str,
    /// The program version.
    pub version: &'static str,
    /// The connector's state.
    pub state: State,
    /// Since when (RFC 3339, UTC, ms) the state holds.
    pub since: String,
    /// Why the last managed configuration was refused; `null` when it was
    /// not.
    pub config_error: Option<String>,
    /// The role's own fields.
    #[serde(flatten)]
    pub role: T,
}

impl<T> Status<T> {
    /// The status of connector `id` of role `kind`, in `state` since now.
    pub fn new(id: &str, kind: &'static str, state: State, role: T) -> Self {
        Self {
            id: id.to_owned(),
            kind,
            version: env!("CARGO_PKG_VERSION"),
            state,
            since: rfc3339_ms(now_ms()),
            config_error: None,
            role,
        }
    }

    /// Sets the state; `since` restarts when it changes.
    pub fn set_state(&mut self, state: State) {
        if self.state != state {
            self.restart_since();
        }
        self.state = state;
    }

    /// `since` is now (a change the role counts as a new state, e.g. another
    /// remote).
    pub fn restart_since(&mut self) {
        self.since = rfc3339_ms(now_ms());
    }
}

/// The status shared between a role's tasks, with the wake-up of its
/// [`Heartbeat`].
#[derive(Debug)]
pub struct StatusCell<T> {
    status: Arc<Mutex<Status<T>>>,
    changed: Arc<Notify>,
}

impl<T> Clone for StatusCell<T> {
    fn clone(&self) -> Self {
        Self {
            status: Arc::clone(&self.status),
            changed: Arc::clone(&self.changed),
        }
    }
}

impl<T: Serialize + Send + 'static> StatusCell<T> {
    /// A cell holding `status`.
    pub fn new(status: Status<T>) -> Self {
        Self {
            status: Arc::new(Mutex::new(status)),
            changed: Arc::new(Notify::new()),
        }
    }

    /// Changes the status; the heartbeat writes it at once.
    pub fn update(&self, f: impl FnOnce(&mut Status<T>)) {
        f(&mut self.status.lock().unwrap_or_else(PoisonError::into_inner));
        self.changed.notify_one();
    }

    /// Sets the state ([`Status::set_state`]); written at once.
    pub fn set_state(&self, state: State) {
        self.update(|s| s.set_state(state));
    }

    /// Sets or clears `config_error`; written at once when that changes it.
    pub fn set_config_error(&self, error: Option<String>) {
        let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        if status.config_error != error {
            status.config_error = error;
            drop(status);
            self.changed.notify_one();
        }
    }

    /// Writes the status at once: after a change of what the heartbeat's
    /// `refresh` reads from the role.
    pub fn touch(&self) {
        self.changed.notify_one();
    }

    /// Reads a value of the status.
    pub fn read<R>(&self, f: impl FnOnce(&Status<T>) -> R) -> R {
        f(&self.status.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// `f` of the status after `refresh` has filled in the role's live
    /// values (a metrics scrape).
    pub fn refreshed<R>(
        &self,
        refresh: &dyn Fn(&mut Status<T>),
        f: impl FnOnce(&Status<T>) -> R,
    ) -> R {
        let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        refresh(&mut status);
        f(&status)
    }

    /// The status JSON after `refresh` has filled in the role's live values.
    fn render(&self, refresh: &mut impl FnMut(&mut Status<T>)) -> String {
        let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        refresh(&mut status);
        serde_json::to_string(&*status).unwrap_or_default()
    }

    /// Starts writing the status to the Valkey of `store`: now, every
    /// `period` (at most 5 s: the key lives 15 s) and at once after every
    /// change, each time after `refresh` has filled in the role's live
    /// values (counters the role's tasks keep elsewhere).
    pub fn heartbeat(
        &self,
        store: StoreConfig,
        period: Duration,
        refresh: impl FnMut(&mut Status<T>) + Send + 'static,
    ) -> Heartbeat<T> {
        let (stop, stopped) = oneshot::channel();
        let id = self.read(|s| s.id.clone());
        let writer = StatusWriter {
            store,
            id,
            client: None,
            warned: false,
        };
        let task = tokio::spawn(beat(self.clone(), writer, period, refresh, stopped));
        Heartbeat {
            cell: self.clone(),
            stop: Some(stop),
            task: Some(task),
        }
    }
}

/// The running status writer of a role; stops writing when dropped.
#[derive(Debug)]
pub struct Heartbeat<T> {
    cell: StatusCell<T>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl<T: Serialize + Send + 'static> Heartbeat<T> {
    /// Sets the state `stopped` and waits until that status is written (at
    /// most [`FINAL_WRITE`]; a status that cannot be written meanwhile
    /// expires with its key).
    pub async fn stop(mut self) {
        self.cell.set_state(State::Stopped);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(FINAL_WRITE, &mut task).await.is_err()
        {
            warn!("the last status (stopped) was not written within {FINAL_WRITE:?}");
            task.abort();
        }
    }
}

impl<T> Drop for Heartbeat<T> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Writes every `period`, on every change, and once more when stopped.
async fn beat<T: Serialize + Send + 'static>(
    cell: StatusCell<T>,
    mut writer: StatusWriter,
    period: Duration,
    mut refresh: impl FnMut(&mut Status<T>) + Send,
    mut stop: oneshot::Receiver<()>,
) {
    loop {
        writer.write(&cell.render(&mut refresh)).await;
        tokio::select! {
            biased;
            _ = &mut stop => {
                writer.write(&cell.render(&mut refresh)).await;
                writer.close().await;
                return;
            }
            () = cell.changed.notified() => {}
            () = tokio::time::sleep(period) => {}
        }
    }
}

/// The status key's writer: one connection, opened again after a failure
/// to connect; a failure is logged once until a write succeeds.
struct StatusWriter {
    store: StoreConfig,
    id: String,
    client: Option<StoreClient>,
    warned: bool,
}

impl StatusWriter {
    async fn write(&mut self, json: &str) {
        if self.client.is_none() {
            self.client = store::connect(&self.store).await.ok();
        }
        let Some(client) = &self.client else {
            return;
        };
        match store::set_status(client, &self.id, json).await {
            Ok(()) => self.warned = false,
            Err(e) => {
                if !self.warned {
                    warn!("status not written: {e}");
                    self.warned = true;
                }
            }
        }
    }

    async fn close(&mut self) {
        if let Some(client) = self.client.take() {
            client.quit().await;
        }
    }
}

/// The names of a JSON object's fields, sorted (for the roles' tests of
/// their status shape).
#[cfg(test)]
pub(crate) fn json_keys(v: &serde_json::Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Serialize)]
    struct Role {
        remote: Option<String>,
        points: u64,
    }

    #[test]
    fn the_roles_fields_stand_beside_the_common_ones_in_the_json() {
        let mut status = Status::new("c-1", "test-role", State::Connecting, Role::default());
        status.role.points = 7;
        status.config_error = Some("port = 0: must be in 1..=65535".to_owned());
        let v = serde_json::to_value(&status).expect("serializes");
        assert_eq!(v["id"], "c-1");
        assert_eq!(v["kind"], "test-role");
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(v["state"], "connecting");
        assert_eq!(v["config_error"], "port = 0: must be in 1..=65535");
        assert_eq!(v["points"], 7);
        assert!(v["remote"].is_null());
        assert!(v.get("role").is_none(), "flattened: {v}");
    }

    #[test]
    fn since_restarts_when_the_state_changes_and_only_then() {
        let mut status = Status::new("c-1", "test-role", State::Connecting, Role::default());
        status.since = "earlier".to_owned();
        status.set_state(State::Connecting);
        assert_eq!(status.since, "earlier", "the same state");
        status.set_state(State::Connected);
        assert_ne!(status.since, "earlier", "a new state");
        assert_eq!(
            serde_json::to_value(State::Stopped).expect("serializes"),
            "stopped"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn stopping_gives_up_the_last_write_after_its_bound_while_valkey_does_not_answer() {
        // Connections complete (the backlog) but nothing is ever answered.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("a listener");
        let port = silent.local_addr().expect("its address").port();
        let store = StoreConfig {
            host: "127.0.0.1".to_owned(),
            port,
            password: None,
            mode: crate::store::Mode::Standalone,
            stream: crate::store::keys::DEFAULT_STREAM.to_owned(),
            stream_max_length: 100,
            exact_trim: false,
            source: "c-1".to_owned(),
        };
        let cell = StatusCell::new(Status::new(
            "c-1",
            "test-role",
            State::Connected,
            Role::default(),
        ));
        let heartbeat = cell.heartbeat(store, Duration::from_secs(5), |_| {});
        let started = tokio::time::Instant::now();
        heartbeat.stop().await;
        let waited = started.elapsed();
        assert!(
            waited >= FINAL_WRITE && waited < crate::store::CONNECT_TIMEOUT,
            "waited {waited:?}"
        );
        assert_eq!(cell.read(|s| s.state), State::Stopped);
    }
}
