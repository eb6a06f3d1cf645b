//! The test bed itself: each guard starts a real server that answers, and
//! stops it again.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use std::process::{Command, Output, Stdio};

use rumqttc::QoS;

use crate::support::{
    ClientCertificates, MosquittoGuard, MosquittoOptions, MqttClient, PostgresGuard, ValkeyGuard,
    find_program, free_port,
};

const IO_TIMEOUT: Duration = Duration::from_secs(5);

fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect to the server");
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .expect("read timeout");
    stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .expect("write timeout");
    stream
}

/// One raw RESP PING; returns the reply line.
fn raw_ping(addr: std::net::SocketAddr) -> String {
    let mut stream = connect(addr);
    stream
        .write_all(b"*1\r\n$4\r\nPING\r\n")
        .expect("send PING");
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .expect("read the reply");
    line
}

#[test]
fn free_port_is_bindable_on_loopback() {
    let port = free_port();
    assert_ne!(port, 0);
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
}

#[test]
fn valkey_answers_ping_over_raw_resp() {
    let valkey = ValkeyGuard::start();
    assert_eq!(raw_ping(valkey.addr()), "+PONG\r\n");
    assert_eq!(valkey.url(), format!("redis://127.0.0.1:{}", valkey.port()));
    assert_eq!(valkey.command(&["SET", "k", "v"]).expect("SET"), "OK");
    assert_eq!(valkey.command(&["GET", "k"]).expect("GET"), "v");
    assert_eq!(valkey.cli(&["GET", "k"]).trim(), "v");
}

#[test]
fn valkey_with_password_refuses_clients_without_it() {
    let valkey = ValkeyGuard::start_with_password("s3cret");
    assert!(
        raw_ping(valkey.addr()).starts_with("-NOAUTH"),
        "PING without AUTH must be refused"
    );
    assert_eq!(valkey.command(&["PING"]).expect("PING after AUTH"), "PONG");
    assert_eq!(
        valkey.url(),
        format!("redis://:s3cret@127.0.0.1:{}", valkey.port())
    );
}

#[test]
fn valkey_restart_serves_again_on_the_same_port() {
    let mut valkey = ValkeyGuard::start();
    let port = valkey.port();
    valkey.command(&["SET", "before", "1"]).expect("SET");

    valkey.stop();
    assert!(!valkey.is_running());
    assert!(
        TcpStream::connect_timeout(&valkey.addr(), IO_TIMEOUT).is_err(),
        "nothing listens while stopped"
    );

    valkey.restart();
    assert_eq!(valkey.port(), port);
    assert_eq!(raw_ping(valkey.addr()), "+PONG\r\n");
    assert_eq!(
        valkey.command(&["GET", "before"]).expect("GET"),
        "(nil)",
        "no persistence: a restart starts empty"
    );
}

#[test]
fn postgres_answers_sql() {
    let pg = PostgresGuard::start();
    assert_eq!(pg.psql("select 1").trim(), "1");
    assert_eq!(
        pg.url(),
        format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port())
    );
    let url = pg.create_database("bed_check");
    assert!(url.ends_with("/bed_check"), "{url}");
    assert_eq!(
        pg.psql("select count(*) from pg_database where datname = 'bed_check'")
            .trim(),
        "1"
    );
}

// --- a minimal MQTT 3.1.1 client, enough to prove the broker routes ---

fn mqtt_string(s: &str) -> Vec<u8> {
    let len = u16::try_from(s.len()).expect("short string");
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(s.as_bytes());
    out
}

fn mqtt_packet(first: u8, body: &[u8]) -> Vec<u8> {
    let len = u8::try_from(body.len()).expect("body below 128 bytes");
    assert!(len < 128, "single-byte remaining length");
    let mut out = vec![first, len];
    out.extend_from_slice(body);
    out
}

fn read_packet(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).expect("packet header");
    assert!(head[1] < 128, "short packets only");
    let mut body = vec![0u8; usize::from(head[1])];
    stream.read_exact(&mut body).expect("packet body");
    (head[0], body)
}

fn mqtt_connect(addr: std::net::SocketAddr, client_id: &str) -> TcpStream {
    let (stream, code) = mqtt_connack(addr, client_id, None);
    assert_eq!(code, 0, "CONNACK accepted");
    stream
}

/// Sends CONNECT (with a user name and password when given) and returns the
/// CONNACK's return code: 0 accepted, 5 not authorised.
fn mqtt_connack(
    addr: std::net::SocketAddr,
    client_id: &str,
    credentials: Option<(&str, &str)>,
) -> (TcpStream, u8) {
    let mut stream = connect(addr);
    let mut body = mqtt_string("MQTT");
    let flags = match credentials {
        Some(_) => 0xC2, // user name, password, clean session
        None => 0x02,    // clean session
    };
    body.extend_from_slice(&[4, flags, 0, 30]); // level 4, keep-alive 30 s
    body.extend(mqtt_string(client_id));
    if let Some((user, password)) = credentials {
        body.extend(mqtt_string(user));
        body.extend(mqtt_string(password));
    }
    stream
        .write_all(&mqtt_packet(0x10, &body))
        .expect("send CONNECT");
    let (kind, body) = read_packet(&mut stream);
    assert_eq!((kind, body.len()), (0x20, 2), "a CONNACK: {body:?}");
    (stream, body[1])
}

#[test]
fn mosquitto_routes_a_publish_to_a_subscriber() {
    let broker = MosquittoGuard::start();
    assert_eq!(broker.url(), format!("mqtt://127.0.0.1:{}", broker.port()));

    let mut sub = mqtt_connect(broker.addr(), "bed-sub");
    let mut body = vec![0, 1]; // packet id
    body.extend(mqtt_string("bed/check"));
    body.push(0); // QoS 0
    sub.write_all(&mqtt_packet(0x82, &body))
        .expect("send SUBSCRIBE");
    let (kind, body) = read_packet(&mut sub);
    assert_eq!(
        (kind, body.as_slice()),
        (0x90, &[0u8, 1, 0][..]),
        "SUBACK QoS 0"
    );

    let mut publisher = mqtt_connect(broker.addr(), "bed-pub");
    let mut body = mqtt_string("bed/check");
    body.extend_from_slice(b"{\"v\":1}");
    publisher
        .write_all(&mqtt_packet(0x30, &body))
        .expect("send PUBLISH");

    let (kind, body) = read_packet(&mut sub);
    assert_eq!(kind & 0xF0, 0x30, "a PUBLISH arrives");
    let mut expected = mqtt_string("bed/check");
    expected.extend_from_slice(b"{\"v\":1}");
    assert_eq!(body, expected);
}

#[test]
fn mosquitto_with_a_password_refuses_anonymous_clients_and_wrong_passwords_and_accepts_the_right_one()
 {
    let broker = MosquittoGuard::with_password("bed", "s3cret");
    assert_eq!(broker.credentials(), Some(("bed", "s3cret")));
    assert_eq!(
        mqtt_connack(broker.addr(), "bed-anon", None).1,
        5,
        "anonymous: not authorised"
    );
    assert_eq!(
        mqtt_connack(broker.addr(), "bed-wrong", Some(("bed", "wrong"))).1,
        5,
        "wrong password: not authorised"
    );
    assert_eq!(
        mqtt_connack(broker.addr(), "bed-right", Some(("bed", "s3cret"))).1,
        0,
        "the right password: accepted"
    );
}

/// `mosquitto_pub` or `mosquitto_sub` against `broker` on 127.0.0.1.
fn mosquitto_cli(program: &str, broker: &MosquittoGuard) -> Command {
    let mut cmd = Command::new(find_program(program, &[]));
    cmd.args(["-h", "127.0.0.1", "-p", &broker.port().to_string()])
        .args(["-i", &format!("bed-{program}")])
        .stdin(Stdio::null());
    cmd
}

fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn shown(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Waits until the broker's log shows `text` (it writes the line when it
/// reads the client's alert, which may be after the client has exited).
fn broker_logs(broker: &MosquittoGuard, text: &str) {
    let deadline = Instant::now() + IO_TIMEOUT;
    while !broker.log().contains(text) {
        assert!(
            Instant::now() < deadline,
            "the broker's log does not show {text:?}:\n{}",
            broker.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn mosquitto_with_tls_and_a_password_carries_a_message_to_clients_that_verify_it_against_its_ca() {
    let broker = MosquittoGuard::start_with(
        MosquittoOptions::new()
            .password("bed", "s3cret")
            .tls(ClientCertificates::NotRequired),
    );
    assert_eq!(broker.url(), format!("mqtts://127.0.0.1:{}", broker.port()));
    let ca = broker.ca_file().to_owned();

    // A retained message published over TLS, then received by a
    // subscriber over TLS; both verify the broker against the CA.
    let published = output(
        mosquitto_cli("mosquitto_pub", &broker)
            .arg("--cafile")
            .arg(&ca)
            .args([
                "-u", "bed", "-P", "s3cret", "-t", "bed/tls", "-q", "1", "-r",
            ])
            .args(["-m", "over-tls"]),
    );
    assert!(published.status.success(), "{}", shown(&published));
    let received = output(
        mosquitto_cli("mosquitto_sub", &broker)
            .arg("--cafile")
            .arg(&ca)
            .args(["-u", "bed", "-P", "s3cret", "-t", "bed/tls", "-q", "1"])
            .args(["-C", "1", "-W", "10"]),
    );
    assert!(
        received.status.success(),
        "{}; broker log:\n{}",
        shown(&received),
        broker.log()
    );
    assert_eq!(String::from_utf8_lossy(&received.stdout), "over-tls\n");

    // The same client with a wrong password is refused over TLS.
    let refused = output(
        mosquitto_cli("mosquitto_pub", &broker)
            .arg("--cafile")
            .arg(&ca)
            .args(["-u", "bed", "-P", "wrong", "-t", "bed/tls", "-m", "x"]),
    );
    assert!(!refused.status.success(), "{}", shown(&refused));
    assert!(
        shown(&refused).contains("not authorised"),
        "{}",
        shown(&refused)
    );

    // Trusting another certificate than the CA, the client rejects the
    // broker; without TLS the broker rejects the client.
    let untrusted = output(
        mosquitto_cli("mosquitto_pub", &broker)
            .arg("--cafile")
            .arg(broker.client_cert())
            .args(["-u", "bed", "-P", "s3cret", "-t", "bed/tls", "-m", "x"]),
    );
    assert!(!untrusted.status.success(), "{}", shown(&untrusted));
    assert!(
        shown(&untrusted).contains("A TLS error occurred"),
        "{}",
        shown(&untrusted)
    );
    broker_logs(&broker, "tlsv1 alert unknown ca");
    let plain = output(
        mosquitto_cli("mosquitto_pub", &broker)
            .args(["-u", "bed", "-P", "s3cret", "-t", "bed/tls", "-m", "x"]),
    );
    assert!(!plain.status.success(), "{}", shown(&plain));
    broker_logs(&broker, "wrong version number");
}

#[test]
fn mosquitto_requiring_client_certificates_accepts_the_guards_client_certificate_and_refuses_none()
{
    let broker = MosquittoGuard::with_tls(ClientCertificates::Required);
    let files = broker.tls_files().clone();
    let with_cert = output(
        mosquitto_cli("mosquitto_pub", &broker)
            .arg("--cafile")
            .arg(&files.ca)
            .arg("--cert")
            .arg(&files.client_cert)
            .arg("--key")
            .arg(&files.client_key)
            .args(["-t", "bed/cert", "-q", "1", "-m", "x"]),
    );
    assert!(with_cert.status.success(), "{}", shown(&with_cert));
    let without = output(
        mosquitto_cli("mosquitto_pub", &broker)
            .arg("--cafile")
            .arg(&files.ca)
            .args(["-t", "bed/cert", "-q", "1", "-m", "x"]),
    );
    assert!(!without.status.success(), "{}", shown(&without));
    broker_logs(&broker, "peer did not return a certificate");
}

#[test]
fn a_persistent_mosquitto_keeps_a_message_for_an_absent_subscriber_across_a_restart() {
    let mut broker = MosquittoGuard::start_with(MosquittoOptions::new().persistence());
    let port = broker.port();

    let mut sub = MqttClient::connect(port, "bed-persistent", false, None);
    sub.subscribe("bed/kept", QoS::AtLeastOnce);
    sub.disconnect();

    let mut publisher = MqttClient::connect(port, "bed-publisher", true, None);
    publisher.publish_acked("bed/kept", b"while away");
    publisher.disconnect();

    broker.restart();
    assert_eq!(broker.port(), port, "the same port after the restart");

    let mut back = MqttClient::connect(port, "bed-persistent", false, None);
    assert!(back.session_present(), "the session survived the restart");
    let kept = back
        .next_publish(IO_TIMEOUT)
        .expect("the message published while away arrives");
    assert_eq!(
        (kept.topic.as_str(), &kept.payload[..]),
        ("bed/kept", &b"while away"[..])
    );
}
