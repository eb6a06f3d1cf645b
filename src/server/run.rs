//! The `iec104-server` role's main loop: load and follow the process image
//! ([`follow`](super::follow)), listen for SCADA masters, admit them by the
//! allow-list and the connection limit, serve each with the controlled
//! station ([`Station`]), write the status, stop on SIGINT or SIGTERM.
//!
//! ```text
//!  Valkey image + stream ─► ValkeyImage + follower ─► broadcast<Update> ─┐
//!  listener ─► accept ─► allow-list? limit? ─► Station::serve_connection ◄┘ ─► master
//!  status task: every 5 s ─► SET connectors:{ID}:status EX 15
//! ```

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::broadcast;
use tracing::{error, info, warn};

use super::follow::{self, Following};
use super::image::ValkeyImage;
use crate::config::Iec104ServerSettings;
use crate::iec104::driver::Listener;
use crate::iec104::time::rfc3339_ms;
use crate::station::Station;
use crate::store::{self, StoreConfig};

/// Status refresh period (the key lives 15 s).
const STATUS_PERIOD: Duration = Duration::from_secs(5);
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
    lagged_updates: u64,
    valkey_connected: bool,
}

/// What the accept loop and the status share.
#[derive(Default)]
struct Masters {
    connected: Mutex<Vec<SocketAddr>>,
    refused: std::sync::atomic::AtomicU64,
}

/// Runs the server until SIGINT or SIGTERM. Errors only when the listener
/// cannot be bound.
pub async fn run(settings: Iec104ServerSettings) -> Result<(), std::io::Error> {
    let id = settings.id.clone();
    let s = settings.server.clone();
    let store_cfg = StoreConfig::from_settings(&settings.redis, &id);
    let restrict = (!s.common_addresses.is_empty()).then(|| s.common_addresses.clone());
    let image = Arc::new(ValkeyImage::new(restrict.as_deref()));
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
    let listener = Listener::bind(addr, s.params).await.inspect_err(|e| {
        error!(%addr, "cannot listen: {e}");
    })?;
    info!(listen = %addr, max_connections = s.max_connections, allow = ?s.allow, "listening for masters");
    let station = Station::new(Arc::clone(&image), updates.clone());
    let masters = Arc::new(Masters::default());
    let since = rfc3339_ms(now_ms());
    let status_task = tokio::spawn(status_loop(
        store_cfg.clone(),
        id.clone(),
        addr,
        since,
        Arc::clone(&masters),
        Arc::clone(&image),
        following.stats(),
        station.stats(),
    ));

    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let conn = match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let peer = conn.peer();
                if !s.allows(peer.ip()) {
                    warn!(%peer, "master refused: not in the allow-list");
                    masters.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    drop(conn);
                    continue;
                }
                let admitted = masters.connected.lock().map(|mut m| {
                    if m.len() < usize::from(s.max_connections) {
                        m.push(peer);
                        true
                    } else {
                        false
                    }
                });
                if !admitted.unwrap_or(false) {
                    warn!(%peer, max = s.max_connections, "master refused: connection limit reached");
                    masters.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    drop(conn);
                    continue;
                }
                let station = station.clone();
                let masters = Arc::clone(&masters);
                tokio::spawn(async move {
                    info!(%peer, "master connected");
                    let ended = station.serve_connection(conn).await;
                    info!(%peer, reason = %ended, "master disconnected");
                    if let Ok(mut m) = masters.connected.lock() {
                        m.retain(|p| *p != peer);
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    info!("stopping");
    status_task.abort();
    drop(following);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn status_loop(
    cfg: StoreConfig,
    id: String,
    listen: SocketAddr,
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
            .map(|m| m.iter().map(ToString::to_string).collect())
            .unwrap_or_default();
        let status = Status {
            id: &id,
            kind: "iec104-server",
            version: env!("CARGO_PKG_VERSION"),
            state: "listening",
            listen: listen.to_string(),
            since: &since,
            masters: connected,
            refused: masters.refused.load(std::sync::atomic::Ordering::Relaxed),
            image_points: image.len(),
            stream_entries: follow.entries(),
            malformed: follow.malformed(),
            reloads: follow.reloads(),
            lagged_updates: station.lagged(),
            valkey_connected: follow.connected(),
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
