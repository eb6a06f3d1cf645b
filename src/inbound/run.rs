//! The connector's main loop: one IEC 104 connection at a time, its
//! reconnection, the managed configuration, the status heartbeat and
//! shutdown. Everything protocol-side is [`Session`]'s; everything
//! Valkey-side is the store's.
//!
//! ```text
//!            ┌── managed config watch (connectors:{ID}:config) ──┐
//!            ▼                                                    │
//!   settings ─► connect (t0, host then alternatives) ─► STARTDT ─► GI ─► Event::Asdu ─► Session ─► Writer.submit ─► Valkey
//!            ▲        │ refused / lost / t1 / framing or sequence error   │ replies: cause 44, C_CI after a GI,
//!            │        │                                                   │ GI of a station (its M_EI, cause 46)
//!            └─ wait reconnect_interval ◄┘  link-loss grace (also while an attempt hangs) ─► marks
//!   interrogation timeout (Session::next_deadline) ─► Session::on_timeout ─► C_CI that waited for it
//!   status task: every 5 s or on change ─► SET connectors:{ID}:status EX 15
//! ```
//!
//! A changed managed configuration restarts the connection with the new
//! settings at once; an identical one does nothing; an invalid one is
//! refused (logged once, shown in the status) and the connector keeps its
//! last good settings.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::{Notify, watch};
use tokio::time::{Instant, sleep_until};
use tracing::{debug, error, info, warn};

use super::session::{Output, Session, SessionConfig};
use crate::config::{InboundSettings, Layers, LogLevel};
use crate::contract::DataPoint;
use crate::iec104::driver::{self, Connection};
use crate::iec104::link::Event;
use crate::iec104::time::rfc3339_ms;
use crate::store::{self, PointRecord, StoreConfig, Writer, WriterHandle};

/// How long the start waits for the managed configuration before it
/// connects with the start-up settings (Valkey may be down).
const MANAGED_AT_START: Duration = Duration::from_secs(2);
/// How long the start may spend reading the points of an earlier run back
/// from the image (a page of 1000 keys per round trip).
const ADOPT_AT_START: Duration = Duration::from_secs(30);
/// Points pending for Valkey beyond which the connection waits before it
/// takes the next frame (while Valkey is connected and writing): a burst
/// such as a general interrogation of 100,000 points then waits as frames
/// in the socket and at the peer instead of as JSON in memory.
const MAX_PENDING: u64 = 4096;
/// How long a write may make no progress before the connection takes
/// frames again regardless (a hanging Valkey never holds up the link longer).
const WRITE_STALL: Duration = Duration::from_millis(200);
/// Marked points (link loss, interrogation) handed to the writer at once.
const MARK_CHUNK: usize = 1024;
/// Status refresh period (the key lives 15 s).
const STATUS_PERIOD: Duration = Duration::from_secs(5);

/// Changes the log level at run time (managed `log_level`).
pub type LogControl = Box<dyn Fn(LogLevel) + Send + Sync>;

/// The connector's state as the status shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    Connecting,
    Connected,
    Disconnected,
    Stopped,
}

/// `connectors:{ID}:status` (CONTRACT.md), with extensions.
#[derive(Debug, Clone, Serialize)]
struct Status {
    id: String,
    kind: &'static str,
    version: &'static str,
    state: LinkState,
    remote: Option<String>,
    since: String,
    last_error: Option<String>,
    config_error: Option<String>,
    points_received: u64,
    reconnects: u64,
    // Extensions.
    unknown_types: u64,
    negative_confirmations: u64,
    malformed_asdus: u64,
    points_known: usize,
    /// Advice for the operator (e.g. to list `client.common_addresses`).
    hint: Option<&'static str>,
    valkey: ValkeyStatus,
}

#[derive(Debug, Clone, Default, Serialize)]
struct ValkeyStatus {
    connected: bool,
    written: u64,
    pending: u64,
    dropped_stream_entries: u64,
    trimmed_stream_entries: u64,
    outages: u64,
    last_error: Option<String>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Shared status plus a wake-up for the status task.
#[derive(Clone)]
struct StatusCell {
    inner: Arc<Mutex<Status>>,
    changed: Arc<Notify>,
}

impl StatusCell {
    fn update(&self, f: impl FnOnce(&mut Status)) {
        if let Ok(mut s) = self.inner.lock() {
            f(&mut s);
        }
        self.changed.notify_one();
    }

    fn set_state(&self, state: LinkState, remote: Option<String>) {
        self.update(|s| {
            if s.state != state || s.remote != remote {
                s.since = rfc3339_ms(now_ms());
            }
            s.state = state;
            s.remote = remote;
        });
    }

    fn json(&self, writer: &WriterHandle, session: Option<&SessionSnapshot>) -> String {
        let w = writer.stats();
        let Ok(mut s) = self.inner.lock() else {
            return String::new();
        };
        s.valkey = ValkeyStatus {
            connected: w.connected,
            written: w.written,
            pending: w.pending,
            dropped_stream_entries: w.dropped_stream_entries,
            trimmed_stream_entries: w.trimmed_stream_entries,
            outages: w.outages,
            last_error: w.last_error.clone(),
        };
        if let Some(snap) = session {
            s.points_received = snap.points_received;
            s.unknown_types = snap.unknown_types;
            s.negative_confirmations = snap.negative_confirmations;
            s.malformed_asdus = snap.malformed_asdus;
            s.points_known = snap.points_known;
            s.hint = snap.hint;
        }
        serde_json::to_string(&*s).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct SessionSnapshot {
    points_received: u64,
    unknown_types: u64,
    negative_confirmations: u64,
    malformed_asdus: u64,
    points_known: usize,
    hint: Option<&'static str>,
}

/// Why a connection ended.
enum Ended {
    /// Lost: refused, closed, t1, protocol error.
    Lost(String),
    /// Valid new settings: reconnect at once with them.
    Reconfigured(Box<InboundSettings>),
    /// Shutdown requested.
    Shutdown,
}

/// What the loops share.
struct Ctx {
    layers: Layers,
    managed: watch::Receiver<Option<String>>,
    last_managed: Option<String>,
    status: StatusCell,
    writer: WriterHandle,
    snap_tx: watch::Sender<SessionSnapshot>,
    shutdown: watch::Receiver<bool>,
    log: LogControl,
    /// The managed configuration watch is running (it only ends with the
    /// process; without this, a closed watch would wake every `select!`).
    watching: bool,
}

impl Ctx {
    fn watch_ended(&mut self) {
        error!("the managed configuration watch ended: keeping the current settings");
        self.watching = false;
    }

    /// Takes the current managed value: new settings when it is valid and
    /// changes more than the log level (which is applied at once, without
    /// touching the connection).
    fn take_managed(&mut self, current: &InboundSettings) -> Option<InboundSettings> {
        let value = self.managed.borrow_and_update().clone();
        let new = apply_managed(&self.layers, &value, &mut self.last_managed, &self.status)?;
        (self.log)(new.log_level);
        let mut same_but_log = new.clone();
        same_but_log.log_level = current.log_level;
        (same_but_log != *current).then_some(new)
    }

    fn submit(&self, points: Vec<DataPoint>) {
        submit(&self.writer, points);
    }

    /// Hands the points a marking changed to the writer, [`MARK_CHUNK`] at
    /// a time, each chunk after the writer has room: marking a large image
    /// never holds more than a chunk of data points at once.
    async fn write_marked(&self, session: &mut Session) {
        while session.has_marked() {
            self.submit(session.take_marked(MARK_CHUNK, now_ms()));
            self.writer.room(MAX_PENDING, WRITE_STALL).await;
        }
    }
}

/// Runs the connector until SIGINT or SIGTERM.
pub async fn run(layers: Layers, start: InboundSettings, log: LogControl) {
    let id = start.id.clone();
    let store_cfg = StoreConfig::from_settings(&start.redis, &id);
    let writer = Writer::spawn(store_cfg.clone());
    let managed = store::watch_config(store_cfg.clone(), &id);
    let status = StatusCell {
        inner: Arc::new(Mutex::new(Status {
            id: id.clone(),
            kind: "iec104-inbound",
            version: env!("CARGO_PKG_VERSION"),
            state: LinkState::Connecting,
            remote: None,
            since: rfc3339_ms(now_ms()),
            last_error: None,
            config_error: None,
            points_received: 0,
            reconnects: 0,
            unknown_types: 0,
            negative_confirmations: 0,
            malformed_asdus: 0,
            points_known: 0,
            hint: None,
            valkey: ValkeyStatus::default(),
        })),
        changed: Arc::new(Notify::new()),
    };
    let (snap_tx, snap_rx) = watch::channel(SessionSnapshot::default());
    let status_task = tokio::spawn(status_loop(
        store_cfg.clone(),
        id.clone(),
        status.clone(),
        writer.clone(),
        snap_rx,
    ));
    let (stop_tx, shutdown) = watch::channel(false);
    tokio::spawn(async move {
        crate::shutdown::signal().await;
        let _ = stop_tx.send(true);
    });
    let mut ctx = Ctx {
        layers,
        managed,
        last_managed: None,
        status,
        writer,
        snap_tx,
        shutdown,
        log,
        watching: true,
    };

    // The managed configuration at start, if Valkey answers in time.
    let mut settings = start;
    let initial = tokio::time::timeout(MANAGED_AT_START, store::read_config(&store_cfg, &id)).await;
    match initial {
        Ok(Ok(value)) => {
            if let Some(s) = apply_managed(&ctx.layers, &value, &mut ctx.last_managed, &ctx.status)
            {
                settings = s;
            }
        }
        Ok(Err(e)) => warn!(
            "managed configuration not read at start ({e}); starting with the start-up settings"
        ),
        Err(_) => warn!(
            "Valkey did not answer within {MANAGED_AT_START:?}; starting with the start-up settings"
        ),
    }
    (ctx.log)(settings.log_level);

    let mut session = Session::new(&id, SessionConfig::from_client(&settings.client));
    adopt_earlier_points(&store_cfg, &id, &mut session).await;
    publish(&ctx.snap_tx, &session);
    let mut endpoint = 0usize;
    // The grace runs from the start: points taken over from an earlier run
    // are marked when no data transfer starts within it.
    let mut grace_at: Option<Instant> =
        (session.points_known() > 0).then(|| Instant::now() + settings.client.link_loss_grace);
    let mut attempts = 0u64;
    'outer: loop {
        let endpoints = endpoints(&settings);
        let (host, port) = endpoints
            .get(endpoint % endpoints.len().max(1))
            .cloned()
            .unwrap_or_else(|| (settings.client.host.clone(), settings.client.port));
        let remote = format!("{host}:{port}");
        if attempts > 0 {
            ctx.status.update(|s| s.reconnects += 1);
        }
        attempts += 1;
        ctx.status
            .set_state(LinkState::Connecting, Some(remote.clone()));
        let attempt_start = Instant::now();
        let mut ended = connection(
            &mut ctx,
            &settings,
            &host,
            port,
            &mut session,
            &mut grace_at,
        )
        .await;
        loop {
            match ended {
                Ended::Shutdown => break 'outer,
                Ended::Reconfigured(new) => {
                    info!(remote = %remote, "managed configuration changed: connecting with the new settings");
                    settings = *new;
                    session.reconfigure(SessionConfig::from_client(&settings.client));
                    session.on_link_lost();
                    grace_at.get_or_insert(Instant::now() + settings.client.link_loss_grace);
                    endpoint = 0;
                    continue 'outer;
                }
                Ended::Lost(reason) => {
                    session.on_link_lost();
                    publish(&ctx.snap_tx, &session);
                    grace_at.get_or_insert(Instant::now() + settings.client.link_loss_grace);
                    ctx.status
                        .update(|s| s.last_error = Some(format!("{remote}: {reason}")));
                    ctx.status
                        .set_state(LinkState::Disconnected, Some(remote.clone()));
                    endpoint += 1;
                    let retry_at =
                        (attempt_start + settings.client.reconnect_interval).max(Instant::now());
                    ended = wait_retry(&mut ctx, &settings, &mut session, &mut grace_at, retry_at)
                        .await;
                    if matches!(ended, Ended::Lost(_)) {
                        // Waited for the retry.
                        continue 'outer;
                    }
                }
            }
        }
    }
    info!("stopping");
    publish(&ctx.snap_tx, &session);
    ctx.status.set_state(LinkState::Stopped, None);
    if let Err(e) = ctx.writer.flush(Duration::from_secs(5)).await {
        warn!("points not written to Valkey at shutdown: {e}");
    }
    // One last status with state "stopped".
    ctx.status.changed.notify_one();
    tokio::time::sleep(Duration::from_millis(50)).await;
    status_task.abort();
}

/// Takes the points this connector wrote in an earlier run over from the
/// image into the session (at most [`ADOPT_AT_START`]; a partial read keeps
/// what it read).
async fn adopt_earlier_points(cfg: &StoreConfig, id: &str, session: &mut Session) {
    let read = store::image::owned_points(cfg, id, |p| session.adopt(&p));
    match tokio::time::timeout(ADOPT_AT_START, read).await {
        Ok(Ok(owned)) => {
            if owned.points > 0 {
                info!(
                    points = owned.points,
                    keys = owned.keys,
                    "points written by this connector in an earlier run taken over from the image"
                );
            }
        }
        Ok(Err(e)) => warn!(
            "points written in an earlier run not read from the image ({e}): they are not marked when the source stays away"
        ),
        Err(_) => warn!(
            points = session.points_known(),
            "the image was not read within {ADOPT_AT_START:?}: only the points read so far are taken over"
        ),
    }
}

/// Waits until `retry_at`, marking points when the link-loss grace
/// expires; ends early on new settings or shutdown. `Lost` = time to retry.
async fn wait_retry(
    ctx: &mut Ctx,
    settings: &InboundSettings,
    session: &mut Session,
    grace_at: &mut Option<Instant>,
    retry_at: Instant,
) -> Ended {
    loop {
        let deadline = match *grace_at {
            Some(g) if g < retry_at => g,
            _ => retry_at,
        };
        tokio::select! {
            () = sleep_until(deadline) => {
                if grace_at.is_some_and(|g| g <= Instant::now()) {
                    *grace_at = None;
                    session.mark_link_loss();
                    ctx.write_marked(session).await;
                    publish(&ctx.snap_tx, session);
                }
                if Instant::now() >= retry_at {
                    return Ended::Lost(String::new());
                }
            }
            changed = ctx.managed.changed(), if ctx.watching => {
                match changed {
                    Ok(()) => {
                        if let Some(new) = ctx.take_managed(settings) {
                            return Ended::Reconfigured(Box::new(new));
                        }
                    }
                    Err(_) => ctx.watch_ended(),
                }
            }
            _ = ctx.shutdown.changed() => return Ended::Shutdown,
        }
    }
}

fn endpoints(settings: &InboundSettings) -> Vec<(String, u16)> {
    std::iter::once((settings.client.host.clone(), settings.client.port))
        .chain(
            settings
                .client
                .alternative_hosts
                .iter()
                .map(|e| (e.host.clone(), e.port)),
        )
        .collect()
}

/// Applies a managed configuration value; returns the new settings when it
/// differs from the last one seen and is valid.
fn apply_managed(
    layers: &Layers,
    value: &Option<String>,
    last: &mut Option<String>,
    status: &StatusCell,
) -> Option<InboundSettings> {
    if value == last {
        return None;
    }
    *last = value.clone();
    let result = match value {
        Some(json) => layers.with_managed(json),
        None => layers.settings(),
    };
    match result {
        Ok(s) => {
            if value.is_some() {
                info!("managed configuration applied");
            }
            status.update(|st| st.config_error = None);
            Some(s)
        }
        Err(e) => {
            error!("managed configuration refused, keeping the last good settings: {e}");
            status.update(|st| st.config_error = Some(e.to_string()));
            None
        }
    }
}

fn submit(writer: &WriterHandle, points: Vec<DataPoint>) {
    if points.is_empty() {
        return;
    }
    writer.submit(
        points
            .into_iter()
            .map(|p| PointRecord {
                casdu: p.casdu,
                ioa: p.ioa,
                json: p.to_json(),
            })
            .collect(),
    );
}

fn publish(tx: &watch::Sender<SessionSnapshot>, session: &Session) {
    let s = session.stats();
    let _ = tx.send(SessionSnapshot {
        points_received: s.points_received,
        unknown_types: s.unknown_types,
        negative_confirmations: s.negative_confirmations,
        malformed_asdus: s.malformed_asdus,
        points_known: session.points_known(),
        hint: session.hint(),
    });
}

/// One connection: connect (t0), interrogate, receive until it ends.
async fn connection(
    ctx: &mut Ctx,
    settings: &InboundSettings,
    host: &str,
    port: u16,
    session: &mut Session,
    grace_at: &mut Option<Instant>,
) -> Ended {
    let remote = format!("{host}:{port}");
    let params = settings.client.params;
    let connecting = async {
        let addr = resolve(host, port)
            .await
            .map_err(|e| format!("cannot resolve: {e}"))?;
        driver::connect(addr, params)
            .await
            .map_err(|e| e.to_string())
    };
    tokio::pin!(connecting);
    // An attempt may hang for t0: the link-loss grace still ends on time.
    let mut conn: Connection = loop {
        let grace_deadline = grace_at.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            r = &mut connecting => match r {
                Ok(c) => break c,
                Err(e) => {
                    warn!(remote = %remote, "connection failed: {e}");
                    return Ended::Lost(e);
                }
            },
            () = sleep_until(grace_deadline), if grace_at.is_some() => {
                *grace_at = None;
                session.mark_link_loss();
                ctx.write_marked(session).await;
                publish(&ctx.snap_tx, session);
            }
            _ = ctx.shutdown.changed() => return Ended::Shutdown,
        }
    };
    info!(remote = %remote, "connected; starting data transfer");
    let mut periodic_gi = settings
        .client
        .periodic_gi
        .map(|p| tokio::time::interval_at(Instant::now() + p, p));
    let mut counters = settings
        .client
        .counter_interrogation
        .map(|p| tokio::time::interval_at(Instant::now() + p, p));
    // Counters reach the status at most every 500 ms while data flows, and
    // within a second when it stops.
    let mut published = Instant::now();
    let mut publish_tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let grace_deadline = grace_at.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let interrogation_deadline = session.next_deadline();
        let interrogation_at = Instant::now()
            + Duration::from_millis(interrogation_deadline.map_or(3_600_000, |d| {
                u64::try_from(d.saturating_sub(now_ms())).unwrap_or(0)
            }));
        tokio::select! {
            ev = conn.recv() => match ev {
                Some(Event::DataTransferStarted) => {
                    info!(remote = %remote, "data transfer started; general interrogation");
                    ctx.status.set_state(LinkState::Connected, Some(remote.clone()));
                    *grace_at = None;
                    let mut cmds = session.connected(now_ms());
                    if settings.client.clock_sync {
                        cmds.extend(session.clock_sync(now_ms()));
                    }
                    if send_all(&conn, cmds).await.is_err() {
                        return Ended::Lost(String::from("link closed while sending the interrogation"));
                    }
                }
                Some(Event::Asdu(raw)) => {
                    let Output { points, replies } = session.on_asdu(&raw, now_ms());
                    ctx.submit(points);
                    ctx.write_marked(session).await;
                    if !replies.is_empty() && send_all(&conn, replies).await.is_err() {
                        return Ended::Lost(String::from("link closed while answering"));
                    }
                    ctx.writer.room(MAX_PENDING, WRITE_STALL).await;
                    if published.elapsed() >= Duration::from_millis(500) {
                        publish(&ctx.snap_tx, session);
                        published = Instant::now();
                    }
                }
                Some(Event::DataTransferStopped) => debug!(remote = %remote, "data transfer stopped"),
                Some(Event::Closed(reason)) => {
                    warn!(remote = %remote, "connection lost: {reason:?}");
                    return Ended::Lost(format!("{reason:?}"));
                }
                None => return Ended::Lost(String::from("connection task ended")),
            },
            () = sleep_until(interrogation_at), if interrogation_deadline.is_some() => {
                let cmds = session.on_timeout(now_ms());
                if send_all(&conn, cmds).await.is_err() {
                    return Ended::Lost(String::from("link closed while sending the counter interrogation"));
                }
            }
            () = sleep_until(grace_deadline), if grace_at.is_some() => {
                // Connected, but no data transfer within the grace period.
                *grace_at = None;
                session.mark_link_loss();
                ctx.write_marked(session).await;
            }
            _ = publish_tick.tick() => {
                publish(&ctx.snap_tx, session);
                published = Instant::now();
            }
            _ = tick(&mut periodic_gi) => {
                debug!(remote = %remote, "periodic general interrogation");
                if send_all(&conn, session.interrogation(now_ms())).await.is_err() {
                    return Ended::Lost(String::from("link closed while sending the interrogation"));
                }
            }
            _ = tick(&mut counters) => {
                debug!(remote = %remote, "counter interrogation");
                if send_all(&conn, session.counter_interrogation(now_ms())).await.is_err() {
                    return Ended::Lost(String::from("link closed while sending the counter interrogation"));
                }
            }
            changed = ctx.managed.changed(), if ctx.watching => {
                match changed {
                    Ok(()) => {
                        if let Some(new) = ctx.take_managed(settings) {
                            conn.close().await;
                            return Ended::Reconfigured(Box::new(new));
                        }
                    }
                    Err(_) => ctx.watch_ended(),
                }
            }
            _ = ctx.shutdown.changed() => {
                conn.close().await;
                return Ended::Shutdown;
            }
        }
    }
}

async fn tick(interval: &mut Option<tokio::time::Interval>) -> Instant {
    match interval {
        Some(i) => i.tick().await,
        None => std::future::pending().await,
    }
}

async fn send_all(conn: &Connection, asdus: Vec<Vec<u8>>) -> Result<(), ()> {
    for a in asdus {
        conn.send(a).await.map_err(|_| ())?;
    }
    Ok(())
}

async fn resolve(host: &str, port: u16) -> std::io::Result<SocketAddr> {
    tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))
}

/// Writes the status every 5 s and on every change.
async fn status_loop(
    cfg: StoreConfig,
    id: String,
    status: StatusCell,
    writer: WriterHandle,
    mut snap: watch::Receiver<SessionSnapshot>,
) {
    let mut client = None;
    let mut warned = false;
    loop {
        let snapshot = *snap.borrow_and_update();
        let json = status.json(&writer, Some(&snapshot));
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
        tokio::select! {
            () = tokio::time::sleep(STATUS_PERIOD) => {}
            () = status.changed.notified() => {}
            _ = snap.changed() => {}
        }
    }
}
