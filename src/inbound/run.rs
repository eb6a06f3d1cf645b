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
//!   status (connector runtime): every 5 s or on change ─► SET connectors:{ID}:status EX 15
//!   metrics (metrics_bind): GET /metrics ─► the status's counters, refreshed per scrape
//! ```
//!
//! The client is in one `ClientState` (connecting, connected, waiting to
//! retry, stopped; the status shows them as `connecting`, `connected`,
//! `disconnected`, `stopped`); why an attempt or a link ended is a
//! `LinkEnd` (resolution, connection, the link's close reason, an ASDU the
//! link did not take, the driver task gone), shown as `last_error` in its
//! `Display` form.
//!
//! The status heartbeat, the managed configuration watch, the log level and
//! shutdown are the connector runtime's ([`crate::connector`]); this loop
//! only fills in the role's status fields ([`InboundStatus`]). A changed
//! managed configuration restarts the connection with the new settings at
//! once (a change of the log level alone only sets the level); an
//! identical one does nothing; an invalid one is refused (logged once,
//! shown in the status) and the connector keeps its last good settings.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::time::{Instant, sleep_until};
use tracing::{debug, info, warn};

use super::config::InboundSettings;
use super::session::{Output, Session, SessionConfig};
use crate::config::{Layers, RoleSettings};
use crate::connector::metrics::{Exposition, render_valkey};
use crate::connector::systemd;
use crate::connector::{
    LogControl, Managed, MetricsServer, Refresh, RoleMetrics, Shutdown, State, Status, StatusCell,
    ValkeyStatus, now_ms,
};
use crate::contract::DataPoint;
use crate::iec104::driver::{self, ConnectError, Connection};
use crate::iec104::link::{CloseReason, Event, SendError};
use crate::store::{self, StoreConfig, Writer, WriterHandle};

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

/// The inbound role's own status fields, beside the contract's common ones
/// ([`Status`]).
#[derive(Debug, Clone, Default, Serialize)]
pub struct InboundStatus {
    /// The remote station's `host:port` of the current or last attempt.
    remote: Option<String>,
    /// Why the last connection ended.
    last_error: Option<String>,
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

/// Where the client's connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientState {
    /// Connecting (t0) to one endpoint, until data transfer starts.
    Connecting,
    /// Data transfer started.
    Connected,
    /// The attempt failed or the link was lost: waiting for the next attempt
    /// (`reconnect_interval` after the start of the last one).
    WaitingToRetry,
    /// Shut down.
    Stopped,
}

impl ClientState {
    /// The state of the contract's status.
    fn status(self) -> State {
        match self {
            Self::Connecting => State::Connecting,
            Self::Connected => State::Connected,
            Self::WaitingToRetry => State::Disconnected,
            Self::Stopped => State::Stopped,
        }
    }
}

/// Sets the client's state and remote; `since` restarts when either
/// changes.
fn set_link(status: &StatusCell<InboundStatus>, state: ClientState, remote: Option<String>) {
    status.update(|s| {
        if s.role.remote != remote {
            s.restart_since();
        }
        s.set_state(state.status());
        s.role.remote = remote;
    });
}

/// Why a connection attempt failed or a link ended; its `Display` is the
/// status's `last_error` (after the remote).
#[derive(Debug, thiserror::Error)]
enum LinkEnd {
    /// The host name did not resolve.
    #[error("cannot resolve: {0}")]
    Resolve(std::io::Error),
    /// No connection: refused, t0, another transport error.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The link closed: by the peer, t1, a framing or sequence error.
    #[error(transparent)]
    Closed(CloseReason),
    /// The link refused what the connector had to send.
    #[error("{0}")]
    NotSent(NotSent),
    /// The driver's connection task ended without reporting why.
    #[error("the connection task ended without a reason")]
    TaskEnded,
}

/// ASDUs the link did not take, and what they were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NotSent {
    what: Sending,
    error: SendError,
}

impl fmt::Display for NotSent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.error {
            SendError::Closed => write!(f, "link closed while sending {}", self.what),
            error => write!(f, "{} not sent: {error}", self.what),
        }
    }
}

/// What the connector sends on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sending {
    /// A general interrogation (with the clock synchronisation after the
    /// start of data transfer).
    Interrogation,
    /// A counter interrogation.
    CounterInterrogation,
    /// Replies to what the station sent.
    Answer,
}

impl fmt::Display for Sending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Interrogation => "the interrogation",
            Self::CounterInterrogation => "the counter interrogation",
            Self::Answer => "an answer",
        })
    }
}

/// What ends a connection or the wait for the next one besides the link.
enum Interrupt {
    /// Valid new settings: connect at once with them.
    Reconfigured(Box<InboundSettings>),
    /// SIGINT or SIGTERM.
    Shutdown,
}

/// How a connection ended.
enum Ended {
    /// The attempt failed or the link was lost.
    Lost(LinkEnd),
    /// New settings or shutdown.
    Interrupted(Interrupt),
}

/// What the loops share.
struct Ctx {
    managed: Managed<InboundSettings>,
    status: StatusCell<InboundStatus>,
    writer: WriterHandle,
    shutdown: Shutdown,
}

impl Ctx {
    fn submit(&self, points: Vec<DataPoint>) {
        self.writer.submit_points(points);
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

impl RoleMetrics for InboundStatus {
    fn render(&self, out: &mut Exposition) {
        out.counter(
            "alp_connex_points_received_total",
            "Data points received from the remote IEC 104 station.",
            self.points_received,
        );
        out.counter(
            "alp_connex_reconnects_total",
            "Connection attempts to the remote station after the first.",
            self.reconnects,
        );
        out.gauge(
            "alp_connex_points_known",
            "Points of the remote station known to the connector (received, or taken over from the image).",
            self.points_known,
        );
        out.counter(
            "alp_connex_iec104_unknown_types_total",
            "ASDUs of a type identification the connector does not map.",
            self.unknown_types,
        );
        out.counter(
            "alp_connex_iec104_negative_confirmations_total",
            "Negative confirmations received from the remote station.",
            self.negative_confirmations,
        );
        out.counter(
            "alp_connex_iec104_malformed_asdus_total",
            "ASDUs that could not be decoded.",
            self.malformed_asdus,
        );
        render_valkey(out, &self.valkey);
    }
}

/// Runs the connector until SIGINT or SIGTERM. Fails only when the metrics
/// endpoint (`metrics_bind`) cannot listen.
pub async fn run(
    layers: Layers<InboundSettings>,
    start: InboundSettings,
    log: LogControl,
) -> std::io::Result<()> {
    let id = start.id.clone();
    let store_cfg = StoreConfig::from_settings(&start.redis, &id);
    let writer = Writer::spawn(store_cfg.clone());
    let status = StatusCell::new(Status::new(
        &id,
        InboundSettings::ROLE,
        State::Connecting,
        InboundStatus::default(),
    ));
    let refresh: Refresh<InboundStatus> = {
        let valkey = writer.clone();
        Arc::new(move |s| s.role.valkey = ValkeyStatus::from(valkey.stats()))
    };
    let _metrics = MetricsServer::start_if(start.metrics_bind, &status, &refresh).await?;
    let heartbeat = status.heartbeat(store_cfg.clone(), STATUS_PERIOD, move |s| refresh(s));
    let mut ctx = Ctx {
        managed: Managed::watch(store_cfg.clone(), &id, layers, log),
        status,
        writer,
        shutdown: Shutdown::on_signal(),
    };

    // The managed configuration at start, if Valkey answers in time.
    let mut settings = ctx
        .managed
        .read_at_start(MANAGED_AT_START, &ctx.status)
        .await
        .unwrap_or(start);

    let mut session = Session::new(&id, SessionConfig::from_client(&settings.client));
    adopt_earlier_points(&store_cfg, &id, &mut session).await;
    publish(&ctx.status, &session);
    systemd::ready(&format!(
        "started; connecting to {}:{}",
        settings.client.host, settings.client.port
    ));
    let _watchdog = systemd::watchdog(&ctx.status);
    let mut endpoint = 0usize;
    // The grace runs from the start: points taken over from an earlier run
    // are marked when no data transfer starts within it.
    let mut grace_at: Option<Instant> =
        (session.points_known() > 0).then(|| Instant::now() + settings.client.link_loss_grace);
    let mut attempts = 0u64;
    loop {
        let endpoints = endpoints(&settings);
        let (host, port) = endpoints
            .get(endpoint % endpoints.len().max(1))
            .cloned()
            .unwrap_or_else(|| (settings.client.host.clone(), settings.client.port));
        let remote = format!("{host}:{port}");
        if attempts > 0 {
            ctx.status.update(|s| s.role.reconnects += 1);
        }
        attempts += 1;
        set_link(&ctx.status, ClientState::Connecting, Some(remote.clone()));
        let attempt_start = Instant::now();
        let ended = connection(
            &mut ctx,
            &settings,
            &host,
            port,
            &mut session,
            &mut grace_at,
        )
        .await;
        let interrupt = match ended {
            Ended::Interrupted(interrupt) => interrupt,
            Ended::Lost(end) => {
                session.on_link_lost();
                publish(&ctx.status, &session);
                grace_at.get_or_insert(Instant::now() + settings.client.link_loss_grace);
                ctx.status
                    .update(|s| s.role.last_error = Some(format!("{remote}: {end}")));
                set_link(
                    &ctx.status,
                    ClientState::WaitingToRetry,
                    Some(remote.clone()),
                );
                endpoint += 1;
                let retry_at =
                    (attempt_start + settings.client.reconnect_interval).max(Instant::now());
                match wait_retry(&mut ctx, &settings, &mut session, &mut grace_at, retry_at).await {
                    None => continue,
                    Some(interrupt) => interrupt,
                }
            }
        };
        match interrupt {
            Interrupt::Shutdown => break,
            Interrupt::Reconfigured(new) => {
                info!(remote = %remote, "managed configuration changed: connecting with the new settings");
                settings = *new;
                session.reconfigure(SessionConfig::from_client(&settings.client));
                session.on_link_lost();
                grace_at.get_or_insert(Instant::now() + settings.client.link_loss_grace);
                endpoint = 0;
            }
        }
    }
    info!("stopping");
    systemd::stopping();
    publish(&ctx.status, &session);
    set_link(&ctx.status, ClientState::Stopped, None);
    if let Err(e) = ctx.writer.flush(Duration::from_secs(5)).await {
        warn!("points not written to Valkey at shutdown: {e}");
    }
    // The last status, "stopped", with what the flush wrote.
    heartbeat.stop().await;
    Ok(())
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
/// expires; ends early on new settings or shutdown (`None`: the retry is
/// due).
async fn wait_retry(
    ctx: &mut Ctx,
    settings: &InboundSettings,
    session: &mut Session,
    grace_at: &mut Option<Instant>,
    retry_at: Instant,
) -> Option<Interrupt> {
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
                    publish(&ctx.status, session);
                }
                if Instant::now() >= retry_at {
                    return None;
                }
            }
            new = ctx.managed.changed(&ctx.status) => {
                if let Some(new) = beyond_log_level(new, settings) {
                    return Some(Interrupt::Reconfigured(Box::new(new)));
                }
            }
            () = ctx.shutdown.requested() => return Some(Interrupt::Shutdown),
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

/// Valid new managed settings that change more than the log level (the
/// runtime has set that already, without touching the connection).
fn beyond_log_level(new: InboundSettings, current: &InboundSettings) -> Option<InboundSettings> {
    let mut same_but_log = new.clone();
    same_but_log.log_level = current.log_level;
    (same_but_log != *current).then_some(new)
}

/// The session's counters into the status (written at once).
fn publish(status: &StatusCell<InboundStatus>, session: &Session) {
    let stats = session.stats();
    status.update(|s| {
        let r = &mut s.role;
        r.points_received = stats.points_received;
        r.unknown_types = stats.unknown_types;
        r.negative_confirmations = stats.negative_confirmations;
        r.malformed_asdus = stats.malformed_asdus;
        r.points_known = session.points_known();
        r.hint = session.hint();
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
        let addr = resolve(host, port).await.map_err(LinkEnd::Resolve)?;
        driver::connect(addr, params)
            .await
            .map_err(LinkEnd::Connect)
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
                publish(&ctx.status, session);
            }
            () = ctx.shutdown.requested() => return Ended::Interrupted(Interrupt::Shutdown),
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
                    set_link(&ctx.status, ClientState::Connected, Some(remote.clone()));
                    *grace_at = None;
                    let mut cmds = session.connected(now_ms());
                    if settings.client.clock_sync {
                        cmds.extend(session.clock_sync(now_ms()));
                    }
                    if let Err(end) = send_all(&conn, cmds, Sending::Interrogation).await {
                        return Ended::Lost(end);
                    }
                }
                Some(Event::Asdu(raw)) => {
                    let Output { points, replies } = session.on_asdu(&raw, now_ms());
                    ctx.submit(points);
                    ctx.write_marked(session).await;
                    if let Err(end) = send_all(&conn, replies, Sending::Answer).await {
                        return Ended::Lost(end);
                    }
                    ctx.writer.room(MAX_PENDING, WRITE_STALL).await;
                    if published.elapsed() >= Duration::from_millis(500) {
                        publish(&ctx.status, session);
                        published = Instant::now();
                    }
                }
                Some(Event::DataTransferStopped) => debug!(remote = %remote, "data transfer stopped"),
                Some(Event::Closed(reason)) => {
                    warn!(remote = %remote, "connection lost: {reason}");
                    return Ended::Lost(LinkEnd::Closed(reason));
                }
                None => return Ended::Lost(LinkEnd::TaskEnded),
            },
            () = sleep_until(interrogation_at), if interrogation_deadline.is_some() => {
                let cmds = session.on_timeout(now_ms());
                if let Err(end) = send_all(&conn, cmds, Sending::CounterInterrogation).await {
                    return Ended::Lost(end);
                }
            }
            () = sleep_until(grace_deadline), if grace_at.is_some() => {
                // Connected, but no data transfer within the grace period.
                *grace_at = None;
                session.mark_link_loss();
                ctx.write_marked(session).await;
            }
            _ = publish_tick.tick() => {
                publish(&ctx.status, session);
                published = Instant::now();
            }
            _ = tick(&mut periodic_gi) => {
                debug!(remote = %remote, "periodic general interrogation");
                let cmds = session.interrogation(now_ms());
                if let Err(end) = send_all(&conn, cmds, Sending::Interrogation).await {
                    return Ended::Lost(end);
                }
            }
            _ = tick(&mut counters) => {
                debug!(remote = %remote, "counter interrogation");
                let cmds = session.counter_interrogation(now_ms());
                if let Err(end) = send_all(&conn, cmds, Sending::CounterInterrogation).await {
                    return Ended::Lost(end);
                }
            }
            new = ctx.managed.changed(&ctx.status) => {
                if let Some(new) = beyond_log_level(new, settings) {
                    conn.close().await;
                    return Ended::Interrupted(Interrupt::Reconfigured(Box::new(new)));
                }
            }
            () = ctx.shutdown.requested() => {
                conn.close().await;
                return Ended::Interrupted(Interrupt::Shutdown);
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

/// Sends `asdus` in order; the link's refusal says what was not sent.
async fn send_all(conn: &Connection, asdus: Vec<Vec<u8>>, what: Sending) -> Result<(), LinkEnd> {
    for a in asdus {
        conn.send(a)
            .await
            .map_err(|error| LinkEnd::NotSent(NotSent { what, error }))?;
    }
    Ok(())
}

async fn resolve(host: &str, port: u16) -> std::io::Result<SocketAddr> {
    tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::status::json_keys as keys;

    #[test]
    fn why_a_link_ended_reads_as_a_sentence_in_the_status() {
        use crate::iec104::link::Unanswered;
        let addr: SocketAddr = "127.0.0.1:2404".parse().expect("an address");
        let cases = [
            (
                LinkEnd::Connect(ConnectError::Refused { addr }),
                "connection to 127.0.0.1:2404 refused",
            ),
            (
                LinkEnd::Closed(CloseReason::T1Expired(Unanswered::TestFrAct)),
                "t1 expired waiting for the answer to TESTFR act",
            ),
            (
                LinkEnd::Closed(CloseReason::RemoteClosed),
                "closed by the peer",
            ),
            (
                LinkEnd::NotSent(NotSent {
                    what: Sending::CounterInterrogation,
                    error: SendError::Closed,
                }),
                "link closed while sending the counter interrogation",
            ),
            (
                LinkEnd::NotSent(NotSent {
                    what: Sending::Answer,
                    error: SendError::TooLong(300),
                }),
                "an answer not sent: ASDU of 300 octets is longer than 249",
            ),
            (
                LinkEnd::TaskEnded,
                "the connection task ended without a reason",
            ),
        ];
        for (end, text) in cases {
            assert_eq!(end.to_string(), text);
        }
    }

    #[test]
    fn a_client_waiting_to_retry_is_disconnected_in_the_status() {
        assert_eq!(ClientState::Connecting.status(), State::Connecting);
        assert_eq!(ClientState::Connected.status(), State::Connected);
        assert_eq!(ClientState::WaitingToRetry.status(), State::Disconnected);
        assert_eq!(ClientState::Stopped.status(), State::Stopped);
    }

    #[test]
    fn the_status_json_has_the_contract_fields_and_the_inbound_extensions_side_by_side() {
        let status = Status::new(
            "rtu-a",
            "iec104-inbound",
            State::Connecting,
            InboundStatus::default(),
        );
        let v = serde_json::to_value(&status).expect("serializes");
        assert_eq!(
            keys(&v),
            [
                "config_error",
                "hint",
                "id",
                "kind",
                "last_error",
                "malformed_asdus",
                "negative_confirmations",
                "points_known",
                "points_received",
                "reconnects",
                "remote",
                "since",
                "state",
                "unknown_types",
                "valkey",
                "version"
            ]
        );
        assert_eq!(
            keys(&v["valkey"]),
            [
                "connected",
                "dropped_stream_entries",
                "last_error",
                "outages",
                "pending",
                "trimmed_stream_entries",
                "written"
            ]
        );
        assert_eq!(v["state"], "connecting");
        assert_eq!(v["kind"], "iec104-inbound");
        assert!(v["remote"].is_null() && v["last_error"].is_null());
    }
}
