//! The connector's main loop: one MQTT session at a time, the managed
//! configuration, silence, the status heartbeat and shutdown. Mapping is
//! [`Points`]'s (pure), the session is [`Broker`]'s, Valkey the store's.
//!
//! ```text
//!   managed config (connectors:{ID}:config) ─► broker settings changed? ─► new session (DISCONNECT, connect)
//!                                            └─► mappings changed ─► Points::reconfigure; SUBSCRIBE added, UNSUBSCRIBE removed
//!   Broker events: Connected (no session kept: SUBSCRIBE all) · Message ─► Points::handle ─► Writer ─► Valkey · Lost ─► status
//!   every second: Points::silence ─► NT points ─► Writer;  counters ─► status
//!   start: image points of this connector ─► Points::adopt (kept until refreshed or silent)
//!   SIGINT / SIGTERM ─► DISCONNECT ─► flush the writer ─► last status "stopped"
//!   metrics (metrics_bind): GET /metrics ─► the status's counters, refreshed per scrape
//! ```
//!
//! The status shows `connecting` until the broker accepts the session,
//! `connected` while it is up, `disconnected` while the session task waits
//! to reconnect; `last_error` says why the last connection failed or was
//! lost (a refusal of the broker in words: "bad user name or password").

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, info, warn};

use super::broker::{Broker, BrokerEvent};
use super::config::MqttSettings;
use super::points::{MappingCounters, Points};
use crate::config::{Layers, RoleSettings};
use crate::connector::metrics::{Exposition, Kind, render_valkey};
use crate::connector::systemd;
use crate::connector::{
    LogControl, Managed, MetricsServer, Refresh, RoleMetrics, Shutdown, State, Status, StatusCell,
    ValkeyStatus, now_ms,
};
use crate::store::{self, StoreConfig, Writer, WriterHandle};

/// How long the start waits for the managed configuration (Valkey may be
/// down).
const MANAGED_AT_START: Duration = Duration::from_secs(2);
/// How long the start may spend reading its points back from the image.
const ADOPT_AT_START: Duration = Duration::from_secs(30);
/// Points pending for Valkey beyond which the next message waits (while
/// Valkey writes): a burst waits at the broker, not as JSON in memory.
const MAX_PENDING: u64 = 4096;
/// How long a write may make no progress before messages are taken again.
const WRITE_STALL: Duration = Duration::from_millis(200);
/// Status refresh period (the key lives 15 s).
const STATUS_PERIOD: Duration = Duration::from_secs(5);
/// How often silence is checked and the counters published.
const TICK: Duration = Duration::from_secs(1);

/// One mapping's counters in the status, with its id.
#[derive(Debug, Clone, Serialize)]
struct MappingStatus {
    id: String,
    #[serde(flatten)]
    counters: MappingCounters,
}

/// The mqtt role's own status fields, beside the contract's common ones.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MqttStatus {
    /// The broker's `host:port`.
    remote: Option<String>,
    /// Why the last connection failed or was lost.
    last_error: Option<String>,
    reconnects: u64,
    client_id: String,
    protocol: String,
    /// Topic filters of the mappings, subscribed.
    subscriptions: usize,
    /// Of those, acknowledged by the broker in this session.
    subscriptions_granted: usize,
    /// Subscriptions the broker refused in this session (access control, a
    /// shared subscription it does not support).
    subscriptions_refused: usize,
    mappings: usize,
    points_mapped: usize,
    messages_received: u64,
    /// Point values taken from messages, before the deadband.
    points_received: u64,
    points_written: u64,
    /// Points with a value.
    points_known: usize,
    /// Points marked not topical by silence.
    points_not_topical: usize,
    /// Totals of every mapping's counters.
    unmatched: u64,
    bad_payloads: u64,
    conversion_errors: u64,
    clamped: u64,
    filtered: u64,
    /// Messages whose topic no mapping has (a subscription of an earlier
    /// configuration the broker kept).
    unrouted: u64,
    /// The mappings with refusals, worst first (at most 100).
    mapping_errors: Vec<MappingStatus>,
    valkey: ValkeyStatus,
}

/// Refusal counters of the status as the `error` label of the metrics.
fn refusals(c: &MappingCounters) -> [(&'static str, u64); 4] {
    [
        ("unmatched", c.unmatched),
        ("bad_payload", c.bad_payloads),
        ("conversion_error", c.conversion_errors),
        ("clamped", c.clamped),
    ]
}

impl RoleMetrics for MqttStatus {
    fn render(&self, out: &mut Exposition) {
        out.counter(
            "alp_connex_mqtt_messages_received_total",
            "MQTT messages received from the broker.",
            self.messages_received,
        );
        out.counter(
            "alp_connex_points_received_total",
            "Point values taken from MQTT messages, before the deadband.",
            self.points_received,
        );
        out.counter(
            "alp_connex_mqtt_points_mapped_total",
            "Points the mappings handed to the Valkey writer (after the deadband).",
            self.points_written,
        );
        out.counter(
            "alp_connex_reconnects_total",
            "Connections to the broker lost after it had accepted the session.",
            self.reconnects,
        );
        out.gauge(
            "alp_connex_points_known",
            "Mapped points with a value.",
            self.points_known,
        );
        out.gauge(
            "alp_connex_mqtt_points_not_topical",
            "Points marked not topical (NT) because their sensor fell silent.",
            self.points_not_topical,
        );
        out.gauge(
            "alp_connex_mqtt_mappings",
            "Mappings configured.",
            self.mappings,
        );
        out.gauge(
            "alp_connex_mqtt_subscriptions",
            "Topic filters subscribed.",
            self.subscriptions,
        );
        out.gauge(
            "alp_connex_mqtt_subscriptions_refused",
            "Subscriptions the broker refused in this session.",
            self.subscriptions_refused,
        );
        out.counter(
            "alp_connex_mqtt_messages_filtered_total",
            "Messages a mapping's match did not hold for.",
            self.filtered,
        );
        out.counter(
            "alp_connex_mqtt_messages_unrouted_total",
            "Messages whose topic no mapping has.",
            self.unrouted,
        );
        let totals = MappingCounters {
            unmatched: self.unmatched,
            bad_payloads: self.bad_payloads,
            conversion_errors: self.conversion_errors,
            clamped: self.clamped,
            ..MappingCounters::default()
        };
        out.family(
            "alp_connex_mqtt_refusals_total",
            Kind::Counter,
            "Values refused over every mapping, by error: unmatched (a path selected no or several values), bad_payload, conversion_error (written as IV), clamped (written at the limit with OV).",
        );
        for (error, n) in refusals(&totals) {
            out.sample("alp_connex_mqtt_refusals_total", &[("error", error)], n);
        }
        out.family(
            "alp_connex_mqtt_mapping_refusals_total",
            Kind::Counter,
            "Values refused per mapping, by error (the 100 mappings with the most refusals, as in the status).",
        );
        for m in &self.mapping_errors {
            for (error, n) in refusals(&m.counters) {
                out.sample(
                    "alp_connex_mqtt_mapping_refusals_total",
                    &[("mapping", &m.id), ("error", error)],
                    n,
                );
            }
        }
        render_valkey(out, &self.valkey);
    }
}

/// Runs the connector until SIGINT or SIGTERM. Fails only when the metrics
/// endpoint (`metrics_bind`) cannot listen.
pub async fn run(
    layers: Layers<MqttSettings>,
    start: MqttSettings,
    log: LogControl,
) -> std::io::Result<()> {
    let id = start.id.clone();
    let store_cfg = StoreConfig::from_settings(&start.redis, &id);
    let writer = Writer::spawn(store_cfg.clone());
    let status = StatusCell::new(Status::new(
        &id,
        MqttSettings::ROLE,
        State::Connecting,
        MqttStatus::default(),
    ));
    let refresh: Refresh<MqttStatus> = {
        let valkey = writer.clone();
        Arc::new(move |s| s.role.valkey = ValkeyStatus::from(valkey.stats()))
    };
    let _metrics = MetricsServer::start_if(start.metrics_bind, &status, &refresh).await?;
    let heartbeat = status.heartbeat(store_cfg.clone(), STATUS_PERIOD, move |s| refresh(s));
    let mut managed = Managed::watch(store_cfg.clone(), &id, layers, log);
    let mut shutdown = Shutdown::on_signal();
    let mut settings = managed
        .read_at_start(MANAGED_AT_START, &status)
        .await
        .unwrap_or(start);
    let mut points = Points::new(&id, settings.mappings.config.clone(), settings.max_payload);
    adopt_earlier_points(&store_cfg, &id, &mut points, &writer).await;
    systemd::ready(&format!(
        "started; connecting to the broker at {}",
        settings.broker.remote()
    ));
    let _watchdog = systemd::watchdog(&status);

    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut messages: u64 = 0;
    let mut reported: u64 = 0;
    let mut published = Instant::now();
    'session: loop {
        describe_session(&status, &settings, &points);
        status.set_state(State::Connecting);
        let mut broker = match Broker::start(&settings.broker) {
            Ok(b) => Some(b),
            Err(e) => {
                warn!("cannot start the MQTT session: {e}");
                status.update(|s| {
                    s.role.last_error = Some(e);
                    s.set_state(State::Disconnected);
                });
                None
            }
        };
        // A session that could not start (a TLS file that cannot be used)
        // is tried again after the longest reconnection wait.
        let retry_at = Instant::now() + settings.broker.reconnect_max;
        // What the broker was asked to subscribe in this session.
        let mut subscribed: BTreeSet<String> = BTreeSet::new();
        let mut was_connected = false;
        loop {
            tokio::select! {
                ev = next_event(&mut broker) => match ev {
                    Some(BrokerEvent::Connected { session_present }) => {
                        info!(remote = %settings.broker.remote(), session_present, "connected to the broker");
                        status.update(|s| s.set_state(State::Connected));
                        if !session_present || subscribed.is_empty() {
                            let all = settings.mappings.subscriptions();
                            status.update(|s| {
                                s.role.subscriptions_granted = 0;
                                s.role.subscriptions_refused = 0;
                            });
                            if let Some(b) = &broker
                                && let Err(e) = b.subscribe(&all, settings.broker.qos).await {
                                    warn!("subscription not sent: {e}");
                                }
                            subscribed = all.into_iter().collect();
                        }
                        was_connected = true;
                        status.update(|s| s.role.subscriptions = subscribed.len());
                    }
                    Some(BrokerEvent::SubAck { granted, refused }) => {
                        if refused > 0 {
                            warn!(refused, "the broker refused subscriptions (its access control, or $share not supported)");
                        }
                        status.update(|s| {
                            s.role.subscriptions_granted += granted;
                            s.role.subscriptions_refused += refused;
                        });
                    }
                    Some(BrokerEvent::Message { topic, payload }) => {
                        messages += 1;
                        writer.submit_points(points.handle(&topic, &payload, now_ms()));
                        writer.room(MAX_PENDING, WRITE_STALL).await;
                        if published.elapsed() >= Duration::from_millis(500) {
                            publish(&status, &points, messages);
                            published = Instant::now();
                        }
                    }
                    Some(BrokerEvent::Lost(why)) => {
                        warn!(remote = %settings.broker.remote(), "MQTT connection: {why}");
                        status.update(|s| {
                            if was_connected {
                                s.role.reconnects += 1;
                            }
                            s.role.last_error = Some(why);
                            s.set_state(State::Disconnected);
                        });
                        was_connected = false;
                    }
                    None => {
                        warn!("the MQTT session task ended: starting a new session");
                        continue 'session;
                    }
                },
                _ = tick.tick() => {
                    if messages != reported {
                        reported = messages;
                        debug!(messages, pending = writer.stats().pending, "messages received so far");
                    }
                    writer.submit_points(points.silence(now_ms()));
                    publish(&status, &points, messages);
                    published = Instant::now();
                }
                new = managed.changed(&status) => {
                    // A change of the log level or the broker alone leaves the
                    // mappings (and their 100,000 point states) as they are.
                    if new.mappings != settings.mappings || new.max_payload != settings.max_payload {
                        let marked = points.reconfigure(new.mappings.config.clone(), new.max_payload, now_ms());
                        writer.submit_points(marked);
                    }
                    if new.broker != settings.broker {
                        info!("managed configuration changed the broker settings: new session");
                        if let Some(b) = broker.take() {
                            b.stop(|ev| last_messages(ev, &mut points, &writer, &mut messages)).await;
                        }
                        settings = new;
                        continue 'session;
                    }
                    let wanted: BTreeSet<String> = new.mappings.subscriptions().into_iter().collect();
                    let added: Vec<String> = wanted.difference(&subscribed).cloned().collect();
                    let removed: Vec<String> = subscribed.difference(&wanted).cloned().collect();
                    if let Some(b) = &broker {
                        if let Err(e) = b.subscribe(&added, new.broker.qos).await {
                            warn!("subscription not sent: {e}");
                        }
                        for f in &removed {
                            if let Err(e) = b.unsubscribe(f).await {
                                warn!("unsubscription not sent: {e}");
                            }
                        }
                    }
                    if !added.is_empty() || !removed.is_empty() {
                        info!(subscribed = added.len(), unsubscribed = removed.len(), "mappings changed");
                    }
                    subscribed = wanted;
                    settings = new;
                    describe_session(&status, &settings, &points);
                    status.update(|s| {
                        s.role.subscriptions = subscribed.len();
                        s.role.subscriptions_granted = s.role.subscriptions_granted.saturating_sub(removed.len());
                    });
                }
                () = tokio::time::sleep_until(retry_at), if broker.is_none() => continue 'session,
                () = shutdown.requested() => {
                    if let Some(b) = broker.take() {
                        b.stop(|ev| last_messages(ev, &mut points, &writer, &mut messages)).await;
                    }
                    break 'session;
                }
            }
        }
    }
    info!("stopping");
    systemd::stopping();
    publish(&status, &points, messages);
    status.set_state(State::Stopped);
    if let Err(e) = writer.flush(Duration::from_secs(5)).await {
        warn!("points not written to Valkey at shutdown: {e}");
    }
    heartbeat.stop().await;
    Ok(())
}

/// A message still on its way when the session stops: mapped and written
/// like any other.
fn last_messages(ev: BrokerEvent, points: &mut Points, writer: &WriterHandle, messages: &mut u64) {
    if let BrokerEvent::Message { topic, payload } = ev {
        *messages += 1;
        writer.submit_points(points.handle(&topic, &payload, now_ms()));
    }
}

/// The next event of the session; pending while there is none.
async fn next_event(broker: &mut Option<Broker>) -> Option<BrokerEvent> {
    match broker {
        Some(b) => b.next().await,
        None => std::future::pending().await,
    }
}

/// The session's settings and the mappings' size into the status.
fn describe_session(status: &StatusCell<MqttStatus>, settings: &MqttSettings, points: &Points) {
    let remote = settings.broker.remote();
    let mappings = points.engine().config().mappings.len();
    status.update(|s| {
        if s.role.remote.as_deref() != Some(remote.as_str()) {
            s.restart_since();
        }
        s.role.remote = Some(remote);
        s.role.client_id = settings.broker.client_id.clone();
        s.role.protocol = settings.broker.protocol.to_string();
        s.role.mappings = mappings;
        s.role.points_mapped = settings.mappings.points();
    });
}

/// The counters into the status (written at once).
fn publish(status: &StatusCell<MqttStatus>, points: &Points, messages: u64) {
    let stats = points.stats();
    status.update(|s| {
        let r = &mut s.role;
        r.messages_received = messages;
        r.points_received = stats.points_received;
        r.points_written = stats.totals.points_written;
        r.points_known = stats.points_known;
        r.points_not_topical = stats.points_not_topical;
        r.unmatched = stats.totals.unmatched;
        r.bad_payloads = stats.totals.bad_payloads;
        r.conversion_errors = stats.totals.conversion_errors;
        r.clamped = stats.totals.clamped;
        r.filtered = stats.totals.filtered;
        r.unrouted = stats.unrouted;
        r.mapping_errors = stats
            .mapping_errors
            .into_iter()
            .map(|(id, counters)| MappingStatus { id, counters })
            .collect();
    });
}

/// Takes the points this connector wrote in an earlier run over from the
/// image (at most [`ADOPT_AT_START`]); those no longer mapped are marked
/// not topical.
async fn adopt_earlier_points(
    cfg: &StoreConfig,
    id: &str,
    points: &mut Points,
    writer: &WriterHandle,
) {
    let now = now_ms();
    let mut marked = Vec::new();
    let read = store::image::owned_points(cfg, id, |p| marked.extend(points.adopt(p, now)));
    match tokio::time::timeout(ADOPT_AT_START, read).await {
        Ok(Ok(owned)) if owned.points > 0 => info!(
            points = owned.points,
            not_mapped = marked.len(),
            "points written by this connector in an earlier run taken over from the image"
        ),
        Ok(Ok(_)) => {}
        Ok(Err(e)) => warn!(
            "points written in an earlier run not read from the image ({e}): they are not marked when their sensors stay silent"
        ),
        Err(_) => warn!(
            "the image was not read within {ADOPT_AT_START:?}: only the points read so far are taken over"
        ),
    }
    writer.submit_points(marked);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::status::json_keys as keys;

    #[test]
    fn the_status_json_has_the_contract_fields_and_the_mqtt_extensions_side_by_side() {
        let status = Status::new("mqtt-1", "mqtt", State::Connecting, MqttStatus::default());
        let v = serde_json::to_value(&status).expect("serializes");
        assert_eq!(
            keys(&v),
            [
                "bad_payloads",
                "clamped",
                "client_id",
                "config_error",
                "conversion_errors",
                "filtered",
                "id",
                "kind",
                "last_error",
                "mapping_errors",
                "mappings",
                "messages_received",
                "points_known",
                "points_mapped",
                "points_not_topical",
                "points_received",
                "points_written",
                "protocol",
                "reconnects",
                "remote",
                "since",
                "state",
                "subscriptions",
                "subscriptions_granted",
                "subscriptions_refused",
                "unmatched",
                "unrouted",
                "valkey",
                "version"
            ]
        );
        let row = serde_json::to_value(MappingStatus {
            id: "m".into(),
            counters: MappingCounters::default(),
        })
        .expect("serializes");
        assert_eq!(
            keys(&row),
            [
                "bad_payloads",
                "clamped",
                "conversion_errors",
                "filtered",
                "id",
                "messages",
                "points_written",
                "unmatched"
            ]
        );
    }
}
