//! An MQTT 3.1.1 client for tests (rumqttc's blocking client over plain
//! TCP): connect, subscribe, publish and receive, each step awaited
//! against a deadline.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rumqttc::{Client, Connection, Event, Incoming, MqttOptions, Outgoing, Packet, Publish, QoS};

/// How long one step may take.
const STEP: Duration = Duration::from_secs(10);
/// The pause between two attempts while the broker is away (a back-off
/// between retries, not a wait for an event).
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// A connected client; publishes that arrive while another step is awaited
/// are kept for [`MqttClient::next_publish`].
pub struct MqttClient {
    client: Client,
    connection: Connection,
    received: VecDeque<Publish>,
    session_present: bool,
}

impl MqttClient {
    /// Connects as `client_id` to 127.0.0.1:`port` (a clean session or
    /// not, with a user and password or none) and waits for the CONNACK.
    pub fn connect(
        port: u16,
        client_id: &str,
        clean_session: bool,
        credentials: Option<(&str, &str)>,
    ) -> MqttClient {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_clean_session(clean_session);
        if let Some((user, password)) = credentials {
            options.set_credentials(user, password);
        }
        let (client, connection) = Client::new(options, 100);
        let mut mqtt = MqttClient {
            client,
            connection,
            received: VecDeque::new(),
            session_present: false,
        };
        let ack = mqtt.until("CONNACK", |event| match event {
            Event::Incoming(Packet::ConnAck(ack)) => Some(ack.session_present),
            _ => None,
        });
        mqtt.session_present = ack;
        mqtt
    }

    /// Whether the broker resumed a session for this client ID.
    pub fn session_present(&self) -> bool {
        self.session_present
    }

    /// Subscribes to `filter` and waits for the SUBACK.
    pub fn subscribe(&mut self, filter: &str, qos: QoS) {
        self.client
            .subscribe(filter, qos)
            .expect("SUBSCRIBE queued");
        self.until("SUBACK", |event| {
            matches!(event, Event::Incoming(Packet::SubAck(_))).then_some(())
        });
    }

    /// Publishes at QoS 1 and waits for the PUBACK.
    pub fn publish_acked(&mut self, topic: &str, payload: &[u8]) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.to_vec())
            .expect("PUBLISH queued");
        self.until("PUBACK", |event| {
            matches!(event, Event::Incoming(Incoming::PubAck(_))).then_some(())
        });
    }

    /// The next publish received, or `None` after `timeout`; reconnects
    /// (with the same options) when the broker went away.
    pub fn next_publish(&mut self, timeout: Duration) -> Option<Publish> {
        if let Some(p) = self.received.pop_front() {
            return Some(p);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.connection.recv_timeout(left) {
                Ok(Ok(Event::Incoming(Packet::Publish(p)))) => return Some(p),
                Ok(Ok(_)) => {}
                Ok(Err(_)) => std::thread::sleep(RETRY_PAUSE),
                Err(_) => return None,
            }
        }
    }

    /// Sends DISCONNECT and waits until it is written.
    pub fn disconnect(mut self) {
        self.client.disconnect().expect("DISCONNECT queued");
        self.until("DISCONNECT sent", |event| {
            matches!(event, Event::Outgoing(Outgoing::Disconnect)).then_some(())
        });
    }

    /// Polls until `pick` recognises an event, keeping the publishes that
    /// arrive meanwhile; panics naming `what` after [`STEP`].
    fn until<T>(&mut self, what: &str, mut pick: impl FnMut(&Event) -> Option<T>) -> T {
        let deadline = Instant::now() + STEP;
        let mut last_error = None;
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .unwrap_or_else(|| panic!("no {what} within {STEP:?}; last error: {last_error:?}"));
            match self.connection.recv_timeout(left) {
                Ok(Ok(event)) => {
                    if let Some(found) = pick(&event) {
                        return found;
                    }
                    if let Event::Incoming(Packet::Publish(p)) = event {
                        self.received.push_back(p);
                    }
                }
                Ok(Err(e)) => {
                    last_error = Some(e.to_string());
                    std::thread::sleep(RETRY_PAUSE);
                }
                Err(e) => panic!("no {what} within {STEP:?} ({e:?}); last error: {last_error:?}"),
            }
        }
    }
}
