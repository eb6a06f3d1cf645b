//! The systemd notify protocol (`Type=notify` units, deploy/systemd/):
//! readiness once the role has started, the watchdog while its status is
//! kept, a status line for `systemctl status`, and stopping. Outside
//! systemd (no `NOTIFY_SOCKET`) every call does nothing. The connectors
//! and the backend use it alike (the backend's line is its own:
//! [`watchdog_with`]).
//!
//! ```text
//! role started ─► ready(line) ─► READY=1, STATUS=line
//! Watchdog task, every half WatchdogSec: the status readable? ─► WATCHDOG=1, STATUS=state (since, remote)
//! shutdown ─► stopping() ─► STOPPING=1
//! ```
//!
//! The watchdog proves that the runtime still schedules the role's tasks
//! and that its status is not held by a stuck task; a connector waiting
//! for its source or for Valkey is alive and keeps it fed (the health
//! check judges the link, not the watchdog).

use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::status::{State, StatusCell};

/// Tells systemd that the role has started, with `line` as its status.
pub fn ready(line: &str) {
    send(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(line),
    ]);
}

/// Gives systemd a new status line (`systemctl status`).
pub fn status(line: &str) {
    send(&[sd_notify::NotifyState::Status(line)]);
}

/// Tells systemd that the role is stopping.
pub fn stopping() {
    send(&[sd_notify::NotifyState::Stopping]);
}

fn send(states: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        warn!("systemd notification not sent: {e}");
    }
}

/// Feeds the systemd watchdog (when the unit has `WatchdogSec=`) at half
/// its interval, each time with the state of `status` as the status line;
/// `None` without a watchdog. The task ends when the handle is dropped.
pub fn watchdog<T: Serialize + Send + 'static>(status: &StatusCell<T>) -> Option<Watchdog> {
    let status = status.clone();
    watchdog_with(move || status.read(|s| format!("{} since {}", state_name(s.state), s.since)))
}

/// Feeds the systemd watchdog (when the unit has `WatchdogSec=`) at half
/// its interval, each time with `line()` as the status line; `None`
/// without a watchdog. The task ends when the handle is dropped.
pub fn watchdog_with<F>(line: F) -> Option<Watchdog>
where
    F: Fn() -> String + Send + 'static,
{
    let interval = sd_notify::watchdog_enabled()?;
    let period = (interval / 2).max(Duration::from_millis(100));
    debug!(?interval, "feeding the systemd watchdog");
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            let line = line();
            send(&[
                sd_notify::NotifyState::Watchdog,
                sd_notify::NotifyState::Status(&line),
            ]);
        }
    });
    Some(Watchdog { task })
}

/// The running watchdog feeder; stops when dropped.
#[derive(Debug)]
pub struct Watchdog {
    task: JoinHandle<()>,
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn state_name(state: State) -> &'static str {
    match state {
        State::Connecting => "connecting",
        State::Connected => "connected",
        State::Disconnected => "disconnected",
        State::Listening => "listening",
        State::Stopped => "stopped",
    }
}
