//! The connector runtime: what every role does around its own work, so that
//! a role only wires it.
//!
//! - [`status`]: the connector status of the contract
//!   (`connectors:{ID}:status`): the fields every role shares
//!   ([`Status`]) with the role's own flattened beside them, held in a
//!   [`StatusCell`] that the role updates, and written by a [`Heartbeat`]
//!   every period and at once on every change (the key lives 15 s), and a
//!   last time with the state `stopped` when the role stops.
//! - [`managed`]: the managed configuration (`connectors:{ID}:config`)
//!   with the contract's refusal semantics ([`Managed`]): a changed value
//!   that is valid is handed to the role (its log level already applied);
//!   an identical one does nothing; an invalid one is refused with one log
//!   line and `config_error` in the status, and the last good settings
//!   stay.
//! - [`metrics`]: the status's counters as Prometheus metrics on
//!   `GET /metrics` (`metrics_bind`), refreshed per scrape as the heartbeat
//!   refreshes them.
//! - [`systemd`]: readiness, the watchdog and stopping through the systemd
//!   notify protocol (nothing outside systemd).
//! - [`LogControl`]: the log level, changeable at run time.
//! - [`Shutdown`]: SIGINT or SIGTERM, awaited by every loop of the role.
//!
//! ```text
//!  role ──StatusCell::update──► Status<T> ──notify──┐
//!                                                   ▼
//!         Heartbeat task: every period or on change: refresh(&mut Status<T>) ─► JSON ─► store::set_status (EX 15)
//!
//!  Valkey connectors:{ID}:config ─► store::watch_config ─► Managed::changed ─► Layers::with_managed
//!         valid and changed ─► log level, config_error cleared ─► role applies the settings
//!         identical ─► nothing;   invalid ─► one error line, config_error set, last good settings kept
//!
//!  SIGINT / SIGTERM ─► Shutdown ─► role ends its work ─► Heartbeat::stop: state "stopped" written, awaited (bounded)
//! ```
//!
//! Valkey is the store's ([`crate::store`]); this module only calls its
//! typed operations. The role's own status fields, the meaning of its
//! settings and its work stay in the role's module.

pub mod managed;
pub mod metrics;
pub mod status;
pub mod systemd;

use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::config::LogLevel;

pub use managed::Managed;
pub use metrics::{MetricsServer, Refresh, RoleMetrics};
pub use status::{Heartbeat, State, Status, StatusCell, ValkeyStatus};

/// Changes the log level at run time (the managed `log_level`).
pub type LogControl = Box<dyn Fn(LogLevel) + Send + Sync>;

/// The wall clock as Unix milliseconds (0 before 1970).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The end of a role requested by SIGINT or SIGTERM; cloned into every
/// loop that waits for it.
#[derive(Debug, Clone)]
pub struct Shutdown {
    requested: watch::Receiver<bool>,
}

impl Shutdown {
    /// Listens for SIGINT and SIGTERM in a task of its own (it needs a
    /// tokio runtime).
    pub fn on_signal() -> Self {
        let (tx, requested) = watch::channel(false);
        tokio::spawn(async move {
            crate::shutdown::signal().await;
            let _ = tx.send(true);
        });
        Self { requested }
    }

    /// Resolves once the end is requested, at once when it already is.
    /// Cancel-safe: a `select!` may drop it and call it again.
    pub async fn requested(&mut self) {
        // An error: the signal task is gone, nothing will say it later.
        let _ = self.requested.wait_for(|r| *r).await;
    }
}
