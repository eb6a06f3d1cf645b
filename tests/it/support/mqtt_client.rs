//! A plain MQTT client of the tests' own (rumqttc, MQTT 3.1.1): publishes
//! messages and returns once the broker has taken every one (PUBACK for
//! QoS 1, written to the socket for QoS 0).

use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};

const TIMEOUT: Duration = Duration::from_secs(15);

/// Publishes `messages` (topic, payload) in order to the broker on
/// 127.0.0.1:`port` with `qos` (0 or 1), with a clean session, and
/// disconnects.
pub fn publish(port: u16, messages: &[(&str, &[u8])], qos: u8) {
    publish_with(port, messages, qos, None, None);
}

/// [`publish`] with a user name and password, and over TLS verifying the
/// broker against the CA file `tls_ca` (its certificate names 127.0.0.1).
pub fn publish_with(
    port: u16,
    messages: &[(&str, &[u8])],
    qos: u8,
    credentials: Option<(&str, &str)>,
    tls_ca: Option<&std::path::Path>,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut opts =
            MqttOptions::new(format!("it-pub-{}", std::process::id()), "127.0.0.1", port);
        opts.set_max_packet_size(1 << 24, 1 << 24)
            .set_keep_alive(Duration::from_secs(30));
        if let Some((user, password)) = credentials {
            opts.set_credentials(user, password);
        }
        if let Some(ca) = tls_ca {
            let tls = alp_connex::mqtt::config::TlsSettings {
                ca_file: Some(ca.to_owned()),
                client: None,
            };
            let config = alp_connex::mqtt::tls::client_config(&tls).expect("TLS configuration");
            opts.set_transport(rumqttc::Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(config),
            ));
        }
        let (client, mut eventloop) = AsyncClient::new(opts, messages.len() + 8);
        let q = if qos == 0 {
            QoS::AtMostOnce
        } else {
            QoS::AtLeastOnce
        };
        for (topic, payload) in messages {
            client
                .publish(*topic, q, false, payload.to_vec())
                .await
                .expect("publish queued");
        }
        let mut taken = 0usize;
        let work = async {
            while taken < messages.len() {
                match eventloop.poll().await.expect("the broker connection") {
                    Event::Incoming(Packet::PubAck(_)) if qos == 1 => taken += 1,
                    Event::Outgoing(Outgoing::Publish(_)) if qos == 0 => taken += 1,
                    _ => {}
                }
            }
            client.disconnect().await.expect("disconnect queued");
            loop {
                match eventloop.poll().await {
                    Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(TIMEOUT, work)
            .await
            .expect("the broker took every message");
    });
}
