//! The managed configuration (`connectors:{ID}:config`) of a connector,
//! with the contract's refusal semantics: a value that differs from the
//! last one seen and is valid becomes the role's new settings (its log
//! level applied at once, `config_error` cleared); a value identical to the
//! last one seen does nothing; an invalid one is refused with one error
//! line and shown as `config_error` in the status, and the role keeps its
//! last good settings. A deleted key means the start-up settings.
//!
//! ```text
//! store::watch_config (its first read at start, then changes) ─► Managed ─► same as last? ─► nothing
//!                                         └─► Layers::with_managed ─► Ok ─► log level, config_error = null ─► role
//!                                                                 └─► Err ─► error line, config_error = "…"
//! ```
//!
//! What the new settings change (a reconnection, a rebind) is the role's
//! decision.

use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tracing::{error, info, warn};

use super::{LogControl, StatusCell};
use crate::config::{Layers, RoleSettings};
use crate::store::{self, Fingerprint, StoreConfig, Watched};

/// The managed configuration of one connector, watched.
pub struct Managed<S> {
    layers: Layers<S>,
    values: watch::Receiver<Watched>,
    /// The fingerprint of the last value seen; `None` before the first
    /// (a fingerprint, not a copy: an mqtt configuration may be megabytes).
    last: Option<Fingerprint>,
    /// The watch is running (it only ends with the process; without this,
    /// a closed watch would wake every `select!`).
    watching: bool,
    log: LogControl,
}

impl<S: RoleSettings> Managed<S> {
    /// Watches `connectors:{id}:config` of the Valkey of `store`
    /// ([`store::watch_config`]); valid values are checked on top of
    /// `layers`, their log level set through `log`.
    pub fn watch(store: StoreConfig, id: &str, layers: Layers<S>, log: LogControl) -> Self {
        Self {
            values: store::watch_config(store, id),
            layers,
            last: None,
            watching: true,
            log,
        }
    }

    /// The managed configuration at start (the watch's first read, waiting
    /// at most `within`: Valkey may be down), taken like a change: the
    /// settings to start with when it is valid, `None` when it is refused,
    /// absent or not read in time (the start-up settings then apply; a
    /// value read later arrives as a change).
    pub async fn read_at_start<T: Serialize + Send + 'static>(
        &mut self,
        within: Duration,
        status: &StatusCell<T>,
    ) -> Option<S> {
        match tokio::time::timeout(within, self.values.changed()).await {
            Ok(Ok(())) => {
                let watched = self.values.borrow_and_update().clone();
                self.take(&watched, status)
            }
            Ok(Err(_)) => None,
            Err(_) => {
                warn!(
                    "the managed configuration was not read within {within:?} (Valkey down?); starting with the start-up settings"
                );
                None
            }
        }
    }

    /// Waits for the next valid change of the managed configuration and
    /// returns its settings; refused and identical values are handled on
    /// the way (see the module). Pending for ever once the watch has ended
    /// (logged once). Cancel-safe: a `select!` may drop it and call it
    /// again without losing a change.
    pub async fn changed<T: Serialize + Send + 'static>(&mut self, status: &StatusCell<T>) -> S {
        loop {
            if !self.watching || self.values.changed().await.is_err() {
                if std::mem::take(&mut self.watching) {
                    error!("the managed configuration watch ended: keeping the current settings");
                }
                return std::future::pending().await;
            }
            let watched = self.values.borrow_and_update().clone();
            if let Some(settings) = self.take(&watched, status) {
                return settings;
            }
        }
    }

    /// Takes one value: the new settings when it differs from the last one
    /// seen and is valid.
    fn take<T: Serialize + Send + 'static>(
        &mut self,
        watched: &Watched,
        status: &StatusCell<T>,
    ) -> Option<S> {
        let fingerprint = watched.fingerprint();
        // Taken out of the watch (also when identical): once read, nothing
        // keeps the text.
        let value = watched.take();
        if self.last == Some(fingerprint) {
            return None;
        }
        let value = value?;
        let result = match &value {
            Some(json) => self.layers.with_managed(json),
            None => self.layers.settings(),
        };
        let applied = value.is_some();
        self.last = Some(fingerprint);
        match result {
            Ok(settings) => {
                if applied {
                    info!("managed configuration applied");
                }
                status.set_config_error(None);
                (self.log)(settings.log_level());
                Some(settings)
            }
            Err(e) => {
                error!("managed configuration refused, keeping the last good settings: {e}");
                status.set_config_error(Some(e.to_string()));
                None
            }
        }
    }
}
