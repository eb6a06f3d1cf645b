//! The test bed itself: each guard starts a real server that answers, and
//! stops it again.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::{MosquittoGuard, PostgresGuard, ValkeyGuard, free_port};

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
    let mut stream = connect(addr);
    let mut body = mqtt_string("MQTT");
    body.extend_from_slice(&[4, 0x02, 0, 30]); // level 4, clean session, keep-alive 30 s
    body.extend(mqtt_string(client_id));
    stream
        .write_all(&mqtt_packet(0x10, &body))
        .expect("send CONNECT");
    let (kind, body) = read_packet(&mut stream);
    assert_eq!(
        (kind, body.as_slice()),
        (0x20, &[0u8, 0][..]),
        "CONNACK accepted"
    );
    stream
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
