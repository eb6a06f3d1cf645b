//! `alp-connex mqtt-sim`: a demo sensor source and MQTT load generator. It
//! publishes the JSON of simulated substation sensors (room climate, door
//! contact, transformer, SF6 gas of a switchgear; topics and shapes in
//! [`payload`]) to an MQTT 3.1.1 broker, at a set rate or, with `--rate 0`,
//! as fast as the broker takes them.
//!
//! Boundary: a client of the broker only (plain TCP, rumqttc); it speaks to
//! nothing else of the platform. The `mqtt` connector reads what it
//! publishes through the broker.
//!
//! Data flow, on one thread: the generator task steps the [`Fleet`]
//! round-robin, renders each payload into one reused buffer and hands
//! topic and payload to rumqttc's request channel (bounded: it waits when
//! the channel is full, which paces the load generator to the broker).
//! The connection task polls rumqttc's event loop, which writes the
//! requests (QoS 1: at most [`INFLIGHT`] unacknowledged) and counts what is
//! published: QoS 0 when written to the connection, QoS 1 when the broker's
//! PUBACK arrives.
//!
//! When the connection fails or the broker is away, the connection task
//! waits with a back-off (0.1 s doubling to 5 s) and connects again. The
//! messages not yet written and the QoS 1 messages not yet acknowledged
//! are kept and sent first on the next connection, whether or not the
//! broker kept the session (rumqttc would drop them on a new session: they
//! are set aside at each failure and put back at each CONNACK). A broker
//! that refuses the login (bad user name or password, not authorised,
//! client identifier rejected, protocol version) ends the run with an error
//! line and status 1: retrying the same credentials cannot succeed.
//!
//! The end: after `--count` messages, or on SIGINT/SIGTERM, a DISCONNECT
//! follows what is queued (for at most [`DRAIN_GRACE`]), then one line on
//! stdout for benchmark scripts: `published=N seconds=S.sss rate=R.r
//! qos=Q`, the time taken from the first message written to the last one
//! counted (or to the signal). Exit status 0; 1 when the broker refused the
//! login (the line is printed too); 2 with one error line for a bad option
//! value.
//!
//! The command line is [`config`] ([`MqttSimArgs`]): options only, with no
//! settings layers, so `main.rs` hands it to [`main`] directly; the
//! simulator starts its own runtime and logging.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, MqttOptions, Outgoing,
    Packet, QoS, Request,
};
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::config::ConfigError;

pub mod config;
pub mod payload;

pub use config::{MqttSimArgs, PASSWORD_ENV, Pace, Qos, Settings};
pub use payload::Fleet;

/// Exit status of an option value that cannot be used.
pub const EXIT_CONFIG: u8 = 2;

/// Exit status when the broker refuses the login.
pub const EXIT_REFUSED: u8 = 1;

/// QoS 1 messages written and not yet acknowledged, at most.
pub const INFLIGHT: u16 = 100;

/// Requests rumqttc's channel holds before the generator waits.
const CHANNEL_CAPACITY: usize = 256;

/// How long the end may take to write what is queued and the DISCONNECT.
pub const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// The first wait after a failed connection; it doubles up to
/// [`BACKOFF_MAX`] and starts again after a CONNACK.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

const KEEP_ALIVE: Duration = Duration::from_secs(30);

/// The payload buffer: payloads are rendered one after the other into it
/// and handed out as shared slices; its memory is reused once rumqttc has
/// written them.
const PAYLOAD_BUFFER: usize = 64 * 1024;

/// Room for one payload (the longest is below 200 bytes).
const PAYLOAD_ROOM: usize = 512;

/// A paced generator that fell behind by more than this (the broker was
/// away) starts its schedule again instead of catching up in a burst.
const PACE_SLACK: Duration = Duration::from_secs(1);

/// Runs the simulator until `--count` messages are published, or SIGINT or
/// SIGTERM.
pub fn main(args: &MqttSimArgs) -> ExitCode {
    let password_env = match std::env::var(PASSWORD_ENV) {
        Ok(p) => Some(p),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            let e = ConfigError::invalid(PASSWORD_ENV, "***", "must be UTF-8 text");
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let settings = match args.settings(password_env) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    tracing_subscriber::fmt()
        .with_max_level(args.log_level.filter())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    // One thread: the generator and the connection hand messages over
    // without waking another core, which the broker may use.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(settings))
}

async fn run(settings: Settings) -> ExitCode {
    let seed = settings.seed.unwrap_or_else(seed_from_clock);
    let fleet = Fleet::new(&settings.prefix, settings.stations, seed);
    let broker = format!("{}:{}", settings.host, settings.port);
    info!(
        broker,
        client_id = settings.client_id,
        sensors = fleet.len(),
        pace = ?settings.pace,
        qos = settings.qos.number(),
        count = ?settings.count,
        seed,
        "mqtt-sim starts"
    );
    let mut options = MqttOptions::new(&settings.client_id, &settings.host, settings.port);
    options
        .set_keep_alive(KEEP_ALIVE)
        .set_inflight(INFLIGHT)
        .set_clean_session(true);
    if let Some((user, password)) = &settings.login {
        options.set_credentials(user, password.expose());
    }
    let (client, eventloop) = AsyncClient::new(options, CHANNEL_CAPACITY);
    let qos = match settings.qos {
        Qos::AtMostOnce => QoS::AtMostOnce,
        Qos::AtLeastOnce => QoS::AtLeastOnce,
    };
    let generator = tokio::spawn(generate(
        client.clone(),
        fleet,
        settings.pace,
        settings.count,
        qos,
    ));
    let mut connection = Connection {
        eventloop,
        qos: settings.qos,
        broker,
        tally: Tally::default(),
        set_aside: VecDeque::new(),
        connected: false,
    };
    let end = connection.serve(settings.count).await;
    let ended = Instant::now();
    generator.abort();
    if connection.connected && !matches!(end, End::Refused(_)) {
        connection.finish(&client).await;
    }
    let tally = &connection.tally;
    println!("{}", tally.summary(ended, settings.qos));
    info!(published = tally.published, "mqtt-sim stops");
    match end {
        End::Count | End::Signal => ExitCode::SUCCESS,
        End::Refused(code) => {
            error!(
                "the broker at {} refused the login: {}",
                connection.broker,
                refusal(code)
            );
            ExitCode::from(EXIT_REFUSED)
        }
    }
}

/// Why the run ended.
#[derive(Debug, Clone, Copy, PartialEq)]
enum End {
    /// `--count` messages published.
    Count,
    /// SIGINT or SIGTERM.
    Signal,
    /// The broker refused the login.
    Refused(ConnectReturnCode),
}

/// Whether a CONNACK refusal ends the run: only "server unavailable" may
/// pass.
fn is_final(code: ConnectReturnCode) -> bool {
    !matches!(
        code,
        ConnectReturnCode::ServiceUnavailable | ConnectReturnCode::Success
    )
}

fn refusal(code: ConnectReturnCode) -> &'static str {
    match code {
        ConnectReturnCode::BadUserNamePassword => {
            "bad user name or password (check --username and the password)"
        }
        ConnectReturnCode::NotAuthorized => "not authorised (check --username and the password)",
        ConnectReturnCode::BadClientId => "client identifier rejected (--client-id)",
        ConnectReturnCode::RefusedProtocolVersion => "MQTT 3.1.1 not accepted",
        ConnectReturnCode::ServiceUnavailable => "server unavailable",
        ConnectReturnCode::Success => "accepted",
    }
}

/// What has been published, and since when.
#[derive(Debug, Default)]
struct Tally {
    published: u64,
    /// When the first message was written to a connection.
    first: Option<Instant>,
}

impl Tally {
    fn count(&mut self, event: &Event, qos: Qos) {
        let counted = match event {
            Event::Outgoing(Outgoing::Publish(_)) => {
                self.first.get_or_insert_with(Instant::now);
                qos == Qos::AtMostOnce
            }
            Event::Incoming(Packet::PubAck(_)) => qos == Qos::AtLeastOnce,
            _ => false,
        };
        if counted {
            self.published = self.published.saturating_add(1);
        }
    }

    /// `published=N seconds=S.sss rate=R.r qos=Q`, the time from the first
    /// message written to `ended`.
    fn summary(&self, ended: Instant, qos: Qos) -> String {
        let seconds = self.first.map_or(0.0, |first| {
            ended.saturating_duration_since(first).as_secs_f64()
        });
        let rate = if seconds > 0.0 {
            self.published as f64 / seconds
        } else {
            0.0
        };
        format!(
            "published={} seconds={seconds:.3} rate={rate:.1} qos={}",
            self.published,
            qos.number()
        )
    }
}

/// The connection side: rumqttc's event loop, polled on this task only.
struct Connection {
    eventloop: EventLoop,
    qos: Qos,
    broker: String,
    tally: Tally,
    /// Requests not yet written or acknowledged when a connection failed,
    /// sent first on the next one.
    set_aside: VecDeque<Request>,
    connected: bool,
}

impl Connection {
    /// Polls the event loop, connecting again after failures with a
    /// back-off, until `count` messages are published, a signal, or a
    /// final refusal.
    async fn serve(&mut self, count: Option<u64>) -> End {
        let stop = crate::shutdown::signal();
        tokio::pin!(stop);
        let mut backoff = BACKOFF_FIRST;
        loop {
            if count.is_some_and(|n| self.tally.published >= n) {
                return End::Count;
            }
            let polled = tokio::select! {
                _ = &mut stop => return End::Signal,
                polled = self.eventloop.poll() => polled,
            };
            match polled {
                Ok(event) => {
                    if let Event::Incoming(Packet::ConnAck(ack)) = &event {
                        info!(
                            broker = self.broker,
                            session_present = ack.session_present,
                            resending = self.set_aside.len(),
                            "connected"
                        );
                        self.connected = true;
                        backoff = BACKOFF_FIRST;
                        // What the last connection left comes first.
                        let newer = std::mem::take(&mut self.eventloop.pending);
                        self.eventloop.pending = self.set_aside.drain(..).chain(newer).collect();
                    }
                    self.tally.count(&event, self.qos);
                }
                Err(ConnectionError::ConnectionRefused(code)) if is_final(code) => {
                    return End::Refused(code);
                }
                Err(e) => {
                    // rumqttc keeps these only if the broker resumes the
                    // session; they are the simulator's to send anyway.
                    self.set_aside.extend(self.eventloop.pending.drain(..));
                    if self.connected {
                        warn!(
                            "connection to {} lost: {e}; connecting again in {backoff:?}",
                            self.broker
                        );
                    } else {
                        warn!(
                            "cannot connect to {}: {e}; trying again in {backoff:?}",
                            self.broker
                        );
                    }
                    self.connected = false;
                    tokio::select! {
                        _ = &mut stop => return End::Signal,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    /// Writes what is queued and a DISCONNECT, counting acknowledgements
    /// that still arrive, for at most [`DRAIN_GRACE`].
    async fn finish(&mut self, client: &AsyncClient) {
        let deadline = Instant::now() + DRAIN_GRACE;
        let mut asked = false;
        loop {
            // The channel may be full of messages: ask again until the
            // DISCONNECT fits behind them.
            if !asked {
                asked = client.try_disconnect().is_ok();
            }
            match tokio::time::timeout_at(deadline, self.eventloop.poll()).await {
                Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) => return,
                Ok(Ok(event)) => self.tally.count(&event, self.qos),
                Ok(Err(_)) | Err(_) => return,
            }
        }
    }
}

/// Hands `count` messages (or unlimited) to the client at `pace`.
async fn generate(client: AsyncClient, mut fleet: Fleet, pace: Pace, count: Option<u64>, qos: QoS) {
    let mut buffer = BytesMut::with_capacity(PAYLOAD_BUFFER);
    let period = match pace {
        Pace::PerSecond(rate) => Duration::try_from_secs_f64(1.0 / rate).ok(),
        Pace::Unpaced => None,
    };
    let mut due = Instant::now();
    let mut sent: u64 = 0;
    while count.is_none_or(|n| sent < n) {
        if let Some(period) = period {
            let now = Instant::now();
            if due > now {
                tokio::time::sleep_until(due).await;
            } else if now.saturating_duration_since(due) > PACE_SLACK {
                due = now;
            }
            due = due.checked_add(period).unwrap_or(now);
        }
        if buffer.capacity() < PAYLOAD_ROOM {
            // Takes the memory back when every earlier payload is gone.
            buffer.reserve(PAYLOAD_BUFFER);
        }
        let topic = match fleet.next(now_ms(), &mut buffer) {
            Ok(topic) => topic.to_owned(),
            Err(_) => {
                error!("cannot render a payload");
                return;
            }
        };
        let payload = buffer.split().freeze();
        if client
            .publish_bytes(topic, qos, false, payload)
            .await
            .is_err()
        {
            return;
        }
        sent = sent.saturating_add(1);
    }
}

/// Now in Unix milliseconds.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn seed_from_clock() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_line_has_the_documented_form() {
        let start = Instant::now();
        let tally = Tally {
            published: 50,
            first: Some(start),
        };
        assert_eq!(
            tally.summary(start + Duration::from_millis(2500), Qos::AtLeastOnce),
            "published=50 seconds=2.500 rate=20.0 qos=1"
        );
        assert_eq!(
            Tally::default().summary(start, Qos::AtMostOnce),
            "published=0 seconds=0.000 rate=0.0 qos=0"
        );
    }

    #[test]
    fn qos_0_counts_writes_and_qos_1_counts_acknowledgements() {
        let publish = Event::Outgoing(Outgoing::Publish(0));
        let ack = Event::Incoming(Packet::PubAck(rumqttc::PubAck::new(1)));
        let mut zero = Tally::default();
        zero.count(&publish, Qos::AtMostOnce);
        zero.count(&ack, Qos::AtMostOnce);
        assert_eq!(zero.published, 1);
        let mut one = Tally::default();
        one.count(&publish, Qos::AtLeastOnce);
        assert_eq!((one.published, one.first.is_some()), (0, true));
        one.count(&ack, Qos::AtLeastOnce);
        assert_eq!(one.published, 1);
    }

    #[test]
    fn only_an_unavailable_server_is_tried_again() {
        assert!(!is_final(ConnectReturnCode::ServiceUnavailable));
        for code in [
            ConnectReturnCode::BadUserNamePassword,
            ConnectReturnCode::NotAuthorized,
            ConnectReturnCode::BadClientId,
            ConnectReturnCode::RefusedProtocolVersion,
        ] {
            assert!(is_final(code), "{code:?}");
        }
    }
}
