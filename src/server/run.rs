//! The `iec104-server` role's main loop: load and follow the process image
//! ([`follow`](super::follow)), listen for SCADA masters, admit them by the
//! allow-list and the connection limit, serve each with the controlled
//! station ([`Station`]), write the status, stop on SIGINT or SIGTERM.
//!
//! ```text
//!  Valkey image + stream ─► ValkeyImage + follower ─► broadcast<Update> ─┐
//!  listener ─► accept ─► allow-list? limit? ─► Station::serve_connection ◄┘ ─► master
//!  status task: every second ─► SET connectors:{ID}:status EX 15
//!  managed config watch ─► rebind / allow-list (disconnects) / limit /
//!                           common addresses / groups / log level, live
//! ```

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::{Notify, broadcast};
use tracing::{error, info, warn};

use super::config::{Iec104ServerSettings, ServerSettings};
use super::follow::{self, Following};
use super::image::ValkeyImage;
use crate::config::Layers;
use crate::iec104::driver::Listener;
use crate::iec104::time::rfc3339_ms;
use crate::inbound::LogControl;
use crate::station::Station;
use crate::store::{self, StoreConfig};

/// Status refresh period: well within the contract's 5 s (the key lives
/// 15 s), so that a change shows at once.
const STATUS_PERIOD: Duration = Duration::from_secs(1);
/// Pause between attempts to load the image while Valkey does not answer.
const LOAD_RETRY: Duration = Duration::from_secs(1);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `connectors:{ID}:status` of the server role.
#[derive(Debug, Serialize)]
struct Status<'a> {
    id: &'a str,
    kind: &'static str,
    version: &'static str,
    state: &'static str,
    listen: String,
    since: &'a str,
    masters: Vec<String>,
    refused: u64,
    image_points: usize,
    stream_entries: u64,
    malformed: u64,
    reloads: u64,
    missed_entries: u64,
    lagged_updates: u64,
    valkey_connected: bool,
    config_error: Option<String>,
}

/// What the accept loop and the status share.
#[derive(Default)]
struct Masters {
    /// Each connected master, with the signal that ends its connection.
    connected: Mutex<Vec<(SocketAddr, Arc<Notify>)>>,
    refused: std::sync::atomic::AtomicU64,
    listen: Mutex<Option<SocketAddr>>,
    config_error: Mutex<Option<String>>,
}

/// Runs the server until SIGINT or SIGTERM. Errors only when the listener
/// cannot be bound at start.
///
/// Managed settings (`connectors:{ID}:config`) apply live: a changed bind
/// address, port or protocol parameters rebind the listener (masters already
/// connected stay; a failed bind keeps the old listener and shows the error
/// in the status); a changed allow-list disconnects the masters it no
/// longer admits and applies to every next connection; the connection limit
/// applies to the next connection; served common addresses and
/// interrogation groups apply to the next request (and served addresses to
/// the next update); `log_level` at once. Invalid settings are refused,
/// logged once, and shown as `config_error`.
pub async fn run(
    layers: Layers<Iec104ServerSettings>,
    settings: Iec104ServerSettings,
    log: LogControl,
) -> Result<(), std::io::Error> {
    let id = settings.id.clone();
    let mut current = settings.clone();
    let mut s = settings.server.clone();
    let store_cfg = StoreConfig::from_settings(&settings.redis, &id);
    let restrict = (!s.common_addresses.is_empty()).then(|| s.common_addresses.clone());
    let image = Arc::new(ValkeyImage::new(restrict.as_deref()));
    image.set_groups(s.groups.clone());
    let (updates, _) = broadcast::channel(usize::try_from(s.queue).unwrap_or(10_000).max(1));
    let shutdown = crate::shutdown::signal();
    tokio::pin!(shutdown);

    // The image first: masters get the full picture from their first GI.
    let mut warned = false;
    let following: Following = loop {
        tokio::select! {
            r = follow::start(&store_cfg, Arc::clone(&image), updates.clone()) => match r {
                Ok(f) => break f,
                Err(e) => {
                    if !warned {
                        warn!(valkey = %store_cfg.addr(), "cannot load the process image: {e}; retrying");
                        warned = true;
                    }
                    tokio::time::sleep(LOAD_RETRY).await;
                }
            },
            () = &mut shutdown => return Ok(()),
        }
    };
    let loaded = following.loaded();
    info!(
        points = loaded.points,
        malformed = loaded.malformed,
        "process image loaded"
    );

    let addr = SocketAddr::new(s.bind, s.port);
    let mut listener = Listener::bind(addr, s.params).await.inspect_err(|e| {
        error!(%addr, "cannot listen: {e}");
    })?;
    let mut managed = store::watch_config(store_cfg.clone(), &id);
    let mut last_managed: Option<Option<String>> = None;
    let mut watching = true;
    info!(listen = %addr, max_connections = s.max_connections, allow = ?s.allow, "listening for masters");
    let station = Station::new(Arc::clone(&image), updates.clone());
    let masters = Arc::new(Masters::default());
    if let Ok(mut l) = masters.listen.lock() {
        *l = Some(addr);
    }
    let since = rfc3339_ms(now_ms());
    let status_task = tokio::spawn(status_loop(
        store_cfg.clone(),
        id.clone(),
        since,
        Arc::clone(&masters),
        Arc::clone(&image),
        following.stats(),
        station.stats(),
    ));

    loop {
        tokio::select! {
            // Decided on the address before anything runs for the
            // connection: a refused one is a socket closed at once.
            accepted = listener.incoming() => {
                let incoming = match accepted {
                    Ok(i) => i,
                    Err(e) => {
                        warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let peer = incoming.peer();
                if !s.allows(peer.ip()) {
                    warn!(%peer, "master refused: not in the allow-list");
                    masters.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    drop(incoming);
                    continue;
                }
                let kick = Arc::new(Notify::new());
                let admitted = masters.connected.lock().map(|mut m| {
                    if m.len() < usize::from(s.max_connections) {
                        m.push((peer, Arc::clone(&kick)));
                        true
                    } else {
                        false
                    }
                });
                if !admitted.unwrap_or(false) {
                    warn!(%peer, max = s.max_connections, "master refused: connection limit reached");
                    masters.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    drop(incoming);
                    continue;
                }
                let conn = incoming.admit();
                let station = station.clone();
                let masters = Arc::clone(&masters);
                tokio::spawn(async move {
                    info!(%peer, "master connected");
                    tokio::select! {
                        ended = station.serve_connection(conn) => {
                            info!(%peer, reason = %ended, "master disconnected");
                        }
                        () = kick.notified() => {
                            warn!(%peer, "master disconnected: no longer in the allow-list");
                        }
                    }
                    if let Ok(mut m) = masters.connected.lock() {
                        m.retain(|(p, _)| *p != peer);
                    }
                });
            }
            changed = managed.changed(), if watching => {
                if changed.is_err() {
                    error!("the managed configuration watch ended: keeping the current settings");
                    watching = false;
                    continue;
                }
                let value = managed.borrow_and_update().clone();
                if last_managed.as_ref() == Some(&value) {
                    continue;
                }
                last_managed = Some(value.clone());
                let result = match &value {
                    Some(json) => layers.with_managed(json),
                    None => layers.settings(),
                };
                let new = match result {
                    Ok(new) => new,
                    Err(e) => {
                        error!("managed configuration refused, keeping the last good settings: {e}");
                        set_error(&masters, Some(e.to_string()));
                        continue;
                    }
                };
                set_error(&masters, None);
                log(new.log_level);
                if new == current {
                    continue;
                }
                let n = &new.server;
                if n.common_addresses != s.common_addresses {
                    let restrict = (!n.common_addresses.is_empty()).then_some(n.common_addresses.as_slice());
                    image.set_restriction(restrict);
                    info!(common_addresses = ?n.common_addresses, "managed configuration: served common addresses changed");
                }
                if n.groups != s.groups {
                    image.set_groups(n.groups.clone());
                    info!(groups = n.groups.ranges().len(), "managed configuration: interrogation groups changed");
                }
                if n.allow != s.allow {
                    disconnect_disallowed(&masters, n);
                }
                if (n.bind, n.port, n.params) != (s.bind, s.port, s.params) {
                    let addr = SocketAddr::new(n.bind, n.port);
                    match Listener::bind(addr, n.params).await {
                        Ok(l) => {
                            listener = l;
                            info!(listen = %addr, "managed configuration: listening on the new address");
                            if let Ok(mut l) = masters.listen.lock() {
                                *l = Some(addr);
                            }
                        }
                        Err(e) => {
                            error!(listen = %addr, "managed configuration: cannot listen ({e}); keeping the old listener");
                            set_error(&masters, Some(format!("cannot listen on {addr}: {e}")));
                            continue;
                        }
                    }
                }
                info!("managed configuration applied");
                s = new.server.clone();
                current = new;
            }
            () = &mut shutdown => break,
        }
    }
    info!("stopping");
    status_task.abort();
    drop(following);
    Ok(())
}

/// Ends the connection of every master the settings `n` no longer allow.
fn disconnect_disallowed(masters: &Masters, n: &ServerSettings) {
    if let Ok(m) = masters.connected.lock() {
        for (peer, kick) in m.iter().filter(|(p, _)| !n.allows(p.ip())) {
            info!(%peer, "managed configuration: disconnecting a master outside the new allow-list");
            kick.notify_one();
        }
    }
}

fn set_error(masters: &Masters, e: Option<String>) {
    if let Ok(mut c) = masters.config_error.lock() {
        *c = e;
    }
}

#[allow(clippy::too_many_arguments)]
async fn status_loop(
    cfg: StoreConfig,
    id: String,
    since: String,
    masters: Arc<Masters>,
    image: Arc<ValkeyImage>,
    follow: Arc<follow::FollowStats>,
    station: Arc<crate::station::Stats>,
) {
    let mut client = None;
    let mut warned = false;
    loop {
        let connected: Vec<String> = masters
            .connected
            .lock()
            .map(|m| m.iter().map(|(p, _)| p.to_string()).collect())
            .unwrap_or_default();
        let status = Status {
            id: &id,
            kind: "iec104-server",
            version: env!("CARGO_PKG_VERSION"),
            state: "listening",
            listen: masters
                .listen
                .lock()
                .ok()
                .and_then(|l| l.map(|a| a.to_string()))
                .unwrap_or_default(),
            since: &since,
            masters: connected,
            refused: masters.refused.load(std::sync::atomic::Ordering::Relaxed),
            image_points: image.len(),
            stream_entries: follow.entries(),
            malformed: follow.malformed(),
            reloads: follow.reloads(),
            missed_entries: follow.missed(),
            lagged_updates: station.lagged(),
            valkey_connected: follow.connected(),
            config_error: masters.config_error.lock().ok().and_then(|e| e.clone()),
        };
        let json = serde_json::to_string(&status).unwrap_or_default();
        if client.is_none() {
            client = store::connect(&cfg).await.ok();
        }
        if let Some(c) = &client {
            match store::set_status(c, &id, &json).await {
                Ok(()) => warned = false,
                Err(e) => {
                    if !warned {
                        warn!("status not written: {e}");
                        warned = true;
                    }
                }
            }
        }
        tokio::time::sleep(STATUS_PERIOD).await;
    }
}
