//! The MQTT session with the broker, over rumqttc (MQTT 3.1.1 or 5): the
//! options from [`BrokerSettings`] (client id, credentials, keep alive,
//! persistent session, MQTT 5 session expiry, TLS), one task that polls the
//! connection, reconnects with a doubling wait (1 s up to
//! `reconnect_max`) and hands what happens to the role as [`BrokerEvent`]s,
//! and the subscription requests.
//!
//! ```text
//! role ──subscribe / unsubscribe / stop──► rumqttc client ──► request channel ─┐
//!                                                                            ▼
//! broker ◄──TCP/TLS──► event loop task (poll; on error: Lost, wait, poll = reconnect)
//!                          └─► mpsc (bounded: a slow role holds the socket, the broker queues) ─► role: next()
//! ```
//!
//! QoS 1 messages are acknowledged by the client when it reads them (before
//! the role maps them): a message the connector has acknowledged is its to
//! write, and [`Broker::stop`] hands the ones still in the channel to the
//! role instead of dropping them. A message larger than the payload limit still arrives (the
//! client's packet limit is MQTT's own, 256 MiB) so that the role counts
//! it instead of the session dropping and the broker sending it again for
//! ever.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::config::{BrokerSettings, Protocol};
use super::tls;

/// Events waiting for the role.
const EVENTS: usize = 1024;
/// Requests (subscribe, unsubscribe, disconnect) waiting for the event
/// loop.
const REQUESTS: usize = 256;
/// MQTT's largest packet (the remaining length's limit).
const MAX_PACKET: usize = 268_435_455;
/// Messages in flight the client publishes (the role publishes none) and
/// the broker may send unacknowledged (MQTT 5 receive maximum).
const INFLIGHT: u16 = 100;
/// The first wait before a reconnection.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// How long [`Broker::stop`] waits for the DISCONNECT to go out.
const STOP_WAIT: Duration = Duration::from_secs(1);

/// What happens on the session.
#[derive(Debug, Clone, PartialEq)]
pub enum BrokerEvent {
    /// The broker accepted the connection; `session_present`: it kept the
    /// session (and its subscriptions) of an earlier connection.
    Connected { session_present: bool },
    /// The broker answered a subscription: filters granted and refused
    /// (an access control list, a shared subscription not supported).
    SubAck { granted: usize, refused: usize },
    /// A message of a subscription.
    Message { topic: String, payload: Bytes },
    /// The connection failed or was lost (the reason, in words); the task
    /// retries after its wait.
    Lost(String),
}

enum Client {
    V4(rumqttc::AsyncClient),
    V5(rumqttc::v5::AsyncClient),
}

/// One MQTT client session with its event loop task.
pub struct Broker {
    client: Client,
    events: mpsc::Receiver<BrokerEvent>,
    task: JoinHandle<()>,
}

fn qos_v4(qos: u8) -> rumqttc::QoS {
    if qos == 0 {
        rumqttc::QoS::AtMostOnce
    } else {
        rumqttc::QoS::AtLeastOnce
    }
}

fn qos_v5(qos: u8) -> rumqttc::v5::mqttbytes::QoS {
    if qos == 0 {
        rumqttc::v5::mqttbytes::QoS::AtMostOnce
    } else {
        rumqttc::v5::mqttbytes::QoS::AtLeastOnce
    }
}

impl Broker {
    /// Starts the session (the first connection attempt is the task's);
    /// the error is a TLS file that cannot be used.
    pub fn start(s: &BrokerSettings) -> Result<Broker, String> {
        let tls = match &s.tls {
            Some(t) => Some(tls::client_config(t)?),
            None => None,
        };
        let transport = tls.map(|config| {
            rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(config))
        });
        let (tx, events) = mpsc::channel(EVENTS);
        let (client, task) = match s.protocol {
            Protocol::V311 => {
                let mut o = rumqttc::MqttOptions::new(&s.client_id, &s.host, s.port);
                o.set_keep_alive(s.keep_alive)
                    .set_clean_session(!s.persistent_session)
                    .set_max_packet_size(MAX_PACKET, MAX_PACKET)
                    .set_inflight(INFLIGHT);
                if let Some(user) = &s.username {
                    o.set_credentials(
                        user,
                        s.password.as_ref().map(|p| p.expose()).unwrap_or_default(),
                    );
                }
                if let Some(t) = transport {
                    o.set_transport(t);
                }
                let (client, eventloop) = rumqttc::AsyncClient::new(o, REQUESTS);
                let task = tokio::spawn(poll_v4(eventloop, tx, s.reconnect_max));
                (Client::V4(client), task)
            }
            Protocol::V5 => {
                let mut o = rumqttc::v5::MqttOptions::new(&s.client_id, &s.host, s.port);
                o.set_keep_alive(s.keep_alive)
                    .set_clean_start(!s.persistent_session)
                    .set_max_packet_size(u32::try_from(MAX_PACKET).ok())
                    .set_receive_maximum(Some(INFLIGHT))
                    .set_outgoing_inflight_upper_limit(INFLIGHT);
                if s.persistent_session {
                    o.set_session_expiry_interval(Some(s.session_expiry_s));
                }
                if let Some(user) = &s.username {
                    o.set_credentials(
                        user,
                        s.password.as_ref().map(|p| p.expose()).unwrap_or_default(),
                    );
                }
                if let Some(t) = transport {
                    o.set_transport(t);
                }
                let (client, eventloop) = rumqttc::v5::AsyncClient::new(o, REQUESTS);
                let task = tokio::spawn(poll_v5(eventloop, tx, s.reconnect_max));
                (Client::V5(client), task)
            }
        };
        Ok(Broker {
            client,
            events,
            task,
        })
    }

    /// The next event; `None` once the event loop task has ended.
    pub async fn next(&mut self) -> Option<BrokerEvent> {
        self.events.recv().await
    }

    /// Subscribes to `filters` (sent once the session is up).
    pub async fn subscribe(&self, filters: &[String], qos: u8) -> Result<(), String> {
        if filters.is_empty() {
            return Ok(());
        }
        match &self.client {
            Client::V4(c) => c
                .subscribe_many(
                    filters
                        .iter()
                        .map(|f| rumqttc::SubscribeFilter::new(f.clone(), qos_v4(qos))),
                )
                .await
                .map_err(|e| e.to_string()),
            Client::V5(c) => c
                .subscribe_many(
                    filters
                        .iter()
                        .map(|f| rumqttc::v5::mqttbytes::v5::Filter::new(f.clone(), qos_v5(qos))),
                )
                .await
                .map_err(|e| e.to_string()),
        }
    }

    /// Unsubscribes from `filter`.
    pub async fn unsubscribe(&self, filter: &str) -> Result<(), String> {
        match &self.client {
            Client::V4(c) => c.unsubscribe(filter).await.map_err(|e| e.to_string()),
            Client::V5(c) => c.unsubscribe(filter).await.map_err(|e| e.to_string()),
        }
    }

    /// Sends DISCONNECT (a normal end: the broker keeps a persistent
    /// session and publishes no will) and ends the task, handing every event
    /// still on its way to `take` (QoS 1 messages the client has
    /// acknowledged already must still be mapped), waiting at most
    /// `STOP_WAIT` (1 s).
    pub async fn stop(mut self, mut take: impl FnMut(BrokerEvent)) {
        let _ = match &self.client {
            Client::V4(c) => c.try_disconnect().map_err(|e| e.to_string()),
            Client::V5(c) => c.try_disconnect().map_err(|e| e.to_string()),
        };
        let drain = async {
            while let Some(event) = self.events.recv().await {
                take(event);
            }
        };
        let _ = tokio::time::timeout(STOP_WAIT, drain).await;
        self.task.abort();
    }
}

/// The broker's refusal in words.
fn refused(code: impl std::fmt::Debug) -> String {
    let code = format!("{code:?}");
    let words = match code.as_str() {
        "BadUserNamePassword" => "bad user name or password",
        "NotAuthorized" => "not authorized",
        "BadClientId" | "ClientIdentifierNotValid" => "client identifier not accepted",
        "ServiceUnavailable" | "ServerUnavailable" => "broker unavailable",
        "RefusedProtocolVersion" | "UnsupportedProtocolVersion" => {
            "protocol version not supported (try mqtt.protocol)"
        }
        other => other,
    };
    format!("the broker refused the connection: {words}")
}

macro_rules! poll_loop {
    ($name:ident, $eventloop:ty, $event:path, $packet:path, $outgoing:path, $error:path, $granted:pat, $topic:expr) => {
        /// Polls the connection until the role is gone or disconnects,
        /// reconnecting with a doubling wait.
        async fn $name(
            mut eventloop: $eventloop,
            tx: mpsc::Sender<BrokerEvent>,
            reconnect_max: Duration,
        ) {
            use $error as E;
            use $event as Ev;
            use $outgoing as Out;
            use $packet as P;
            let mut backoff = FIRST_BACKOFF;
            loop {
                let event = match eventloop.poll().await {
                    Ok(Ev::Incoming(P::ConnAck(ack))) => {
                        backoff = FIRST_BACKOFF;
                        BrokerEvent::Connected {
                            session_present: ack.session_present,
                        }
                    }
                    Ok(Ev::Incoming(P::Publish(p))) => {
                        let topic: Option<String> = ($topic)(p.topic);
                        match topic {
                            Some(topic) => BrokerEvent::Message {
                                topic,
                                payload: p.payload,
                            },
                            None => continue,
                        }
                    }
                    Ok(Ev::Incoming(P::SubAck(ack))) => {
                        let granted = ack
                            .return_codes
                            .iter()
                            .filter(|c| matches!(c, $granted))
                            .count();
                        BrokerEvent::SubAck {
                            granted,
                            refused: ack.return_codes.len() - granted,
                        }
                    }
                    Ok(Ev::Outgoing(Out::Disconnect)) => return,
                    Ok(_) => continue,
                    Err(E::RequestsDone) => return,
                    Err(e) => {
                        let why = match e {
                            E::ConnectionRefused(code) => refused(code),
                            other => other.to_string(),
                        };
                        if tx.send(BrokerEvent::Lost(why)).await.is_err() {
                            return;
                        }
                        tokio::select! {
                            () = tokio::time::sleep(backoff) => {}
                            () = tx.closed() => return,
                        }
                        backoff = (backoff * 2).min(reconnect_max);
                        continue;
                    }
                };
                if tx.send(event).await.is_err() {
                    return;
                }
            }
        }
    };
}

poll_loop!(
    poll_v4,
    rumqttc::EventLoop,
    rumqttc::Event,
    rumqttc::Packet,
    rumqttc::Outgoing,
    rumqttc::ConnectionError,
    rumqttc::SubscribeReasonCode::Success(_),
    |t: String| Some(t)
);

poll_loop!(
    poll_v5,
    rumqttc::v5::EventLoop,
    rumqttc::v5::Event,
    rumqttc::v5::mqttbytes::v5::Packet,
    rumqttc::Outgoing,
    rumqttc::v5::ConnectionError,
    rumqttc::v5::mqttbytes::v5::SubscribeReasonCode::Success(_),
    |t: Bytes| String::from_utf8(t.to_vec()).ok()
);
