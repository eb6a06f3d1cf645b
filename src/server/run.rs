//! The `iec104-server` role's main loop: load and follow the process image
//! ([`follow`]), listen for SCADA masters, admit them by the
//! allow-list and the connection limit, serve each with the controlled
//! station ([`Station`]), write the status, stop on SIGINT or SIGTERM.
//!
//! ```text
//!  Valkey image + stream ─► ValkeyImage + follower ─► broadcast<Update> ─┐
//!  listener ─► accept ─► allow-list? limit? ─► Station::serve_connection ◄┘ ─► master
//!  status (connector runtime): every second and on change ─► SET connectors:{ID}:status EX 15,
//!                              "stopped" at shutdown
//!  metrics (metrics_bind): GET /metrics ─► the status's counters, refreshed per scrape
//!  managed config (connector runtime) ─► rebind / allow-list (disconnects) / limit /
//!                           common addresses / groups / log level, live
//! ```
//!
//! The status heartbeat, the managed configuration's refusal semantics, the
//! log level and shutdown are the connector runtime's
//! ([`crate::connector`]); this loop fills in the role's status fields
//! ([`ServerStatus`]) and applies valid new settings.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{Notify, broadcast};
use tracing::{error, info, warn};

use super::config::{Iec104ServerSettings, ServerSettings};
use super::follow::{self, Following};
use super::image::ValkeyImage;
use crate::config::{Layers, RoleSettings};
use crate::connector::metrics::Exposition;
use crate::connector::systemd;
use crate::connector::{
    LogControl, Managed, MetricsServer, Refresh, RoleMetrics, Shutdown, State, Status, StatusCell,
};
use crate::iec104::driver::Listener;
use crate::station::Station;
use crate::store::StoreConfig;

/// Status refresh period: well within the contract's 5 s (the key lives
/// 15 s), so that a change shows at once.
const STATUS_PERIOD: Duration = Duration::from_secs(1);
/// Pause between attempts to load the image while Valkey does not answer.
const LOAD_RETRY: Duration = Duration::from_secs(1);

/// The server role's own status fields, beside the contract's common ones
/// ([`Status`]).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerStatus {
    listen: String,
    masters: Vec<String>,
    refused: u64,
    image_points: usize,
    stream_entries: u64,
    malformed: u64,
    reloads: u64,
    missed_entries: u64,
    lagged_updates: u64,
    /// Spontaneous ASDUs handed to the masters' links, summed over masters.
    updates_sent: u64,
    /// Their information objects.
    update_objects_sent: u64,
    valkey_connected: bool,
}

impl RoleMetrics for ServerStatus {
    fn render(&self, out: &mut Exposition) {
        out.gauge(
            "alp_connex_iec104_server_masters_connected",
            "SCADA masters connected now.",
            self.masters.len(),
        );
        out.counter(
            "alp_connex_iec104_server_masters_refused_total",
            "Master connections refused (allow-list, connection limit).",
            self.refused,
        );
        out.counter(
            "alp_connex_points_received_total",
            "Data points read from Valkey's update stream.",
            self.stream_entries,
        );
        out.counter(
            "alp_connex_points_written_total",
            "Information objects sent spontaneously to the masters, summed over masters.",
            self.update_objects_sent,
        );
        out.counter(
            "alp_connex_iec104_server_updates_sent_total",
            "Spontaneous ASDUs sent to the masters, summed over masters.",
            self.updates_sent,
        );
        out.counter(
            "alp_connex_iec104_server_lagged_updates_total",
            "Spontaneous updates lost by masters that fell behind their queue (they get the values at their next interrogation).",
            self.lagged_updates,
        );
        out.gauge(
            "alp_connex_iec104_server_image_points",
            "Points of the process image served.",
            self.image_points,
        );
        out.counter(
            "alp_connex_iec104_server_stream_malformed_total",
            "Stream entries or image values that are not data points of the contract.",
            self.malformed,
        );
        out.counter(
            "alp_connex_iec104_server_image_reloads_total",
            "Times the image was loaded again after the stream could not be followed.",
            self.reloads,
        );
        out.counter(
            "alp_connex_iec104_server_stream_missed_total",
            "Stream entries trimmed away before the server read them.",
            self.missed_entries,
        );
        out.gauge(
            "alp_connex_valkey_connected",
            "1 while the server follows Valkey's update stream.",
            self.valkey_connected,
        );
    }
}

/// What the accept loop and the status share.
#[derive(Default)]
struct Masters {
    /// Each connected master, with the signal that ends its connection.
    connected: Mutex<Vec<(SocketAddr, Arc<Notify>)>>,
    refused: std::sync::atomic::AtomicU64,
}

/// Runs the server until SIGINT or SIGTERM. Errors only when the listener
/// or the metrics endpoint (`metrics_bind`) cannot be bound at start.
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
    let mut shutdown = Shutdown::on_signal();

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
            () = shutdown.requested() => return Ok(()),
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
    let mut managed = Managed::watch(store_cfg.clone(), &id, layers, log);
    info!(listen = %addr, max_connections = s.max_connections, allow = ?s.allow, "listening for masters");
    let station = Station::new(Arc::clone(&image), updates.clone());
    let masters = Arc::new(Masters::default());
    let status = StatusCell::new(Status::new(
        &id,
        Iec104ServerSettings::ROLE,
        State::Listening,
        ServerStatus {
            listen: addr.to_string(),
            ..ServerStatus::default()
        },
    ));
    let refresh: Refresh<ServerStatus> = {
        let (masters, image) = (Arc::clone(&masters), Arc::clone(&image));
        let (follow, station) = (following.stats(), station.stats());
        Arc::new(move |s| {
            let r = &mut s.role;
            r.masters = masters
                .connected
                .lock()
                .map(|m| m.iter().map(|(p, _)| p.to_string()).collect())
                .unwrap_or_default();
            r.refused = masters.refused.load(Ordering::Relaxed);
            r.image_points = image.len();
            r.stream_entries = follow.entries();
            r.malformed = follow.malformed();
            r.reloads = follow.reloads();
            r.missed_entries = follow.missed();
            r.lagged_updates = station.lagged();
            r.updates_sent = station.updates();
            r.update_objects_sent = station.update_objects();
            r.valkey_connected = follow.connected();
        })
    };
    let _metrics = MetricsServer::start_if(settings.metrics_bind, &status, &refresh).await?;
    let heartbeat = status.heartbeat(store_cfg.clone(), STATUS_PERIOD, move |s| refresh(s));
    systemd::ready(&format!("listening on {addr}"));
    let _watchdog = systemd::watchdog(&status);

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
            new = managed.changed(&status) => {
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
                            status.update(|s| s.role.listen = addr.to_string());
                        }
                        Err(e) => {
                            error!(listen = %addr, "managed configuration: cannot listen ({e}); keeping the old listener");
                            status.set_config_error(Some(format!("cannot listen on {addr}: {e}")));
                            continue;
                        }
                    }
                }
                s = new.server.clone();
                current = new;
                // What is served may have changed (image_points).
                status.touch();
            }
            () = shutdown.requested() => break,
        }
    }
    info!("stopping");
    systemd::stopping();
    heartbeat.stop().await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_json_has_the_common_fields_and_the_server_extensions_side_by_side() {
        let status = Status::new(
            "scada-gw",
            "iec104-server",
            State::Listening,
            ServerStatus::default(),
        );
        let v = serde_json::to_value(&status).expect("serializes");
        assert_eq!(
            crate::connector::status::json_keys(&v),
            [
                "config_error",
                "id",
                "image_points",
                "kind",
                "lagged_updates",
                "listen",
                "malformed",
                "masters",
                "missed_entries",
                "refused",
                "reloads",
                "since",
                "state",
                "stream_entries",
                "update_objects_sent",
                "updates_sent",
                "valkey_connected",
                "version"
            ]
        );
        assert_eq!(v["state"], "listening");
    }
}
