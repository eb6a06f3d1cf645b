//! `alp-connex healthcheck`: whether the role running on this host is
//! healthy, as one line and an exit status (0 healthy, 1 not), for a
//! container's `HEALTHCHECK`, a compose file's `healthcheck` or a monitoring
//! agent.
//!
//! The binary reads the role's settings from the same sources as the role
//! itself (command line, `ALP_CONNEX_*`, `--config` file) and hands this
//! module a [`Target`]:
//!
//! - a connector ([`Target::Connector`]): its status key
//!   `connectors:{ID}:status` in Valkey must exist, have been written within
//!   [`STALE_AFTER`], be of the same kind, and show an acceptable state
//!   ([`judge`]): `connected` for `iec104-inbound` and `mqtt` (with the
//!   Valkey writer connected), `listening` with Valkey followed for
//!   `iec104-server`;
//! - the backend ([`Target::Http`]): `GET /readyz` answers 200.
//!
//! ```text
//! settings ─► Target::Connector ─► Valkey GET + PTTL connectors:{ID}:status ─► judge ─► Verdict
//!          └► Target::Http ─► GET /readyz (loopback for a wildcard bind) ─► 200? ─► Verdict
//! Verdict ─► "healthy: …" / "unhealthy: …" on stdout, exit 0 / 1
//! ```
//!
//! Exit status 2 is never used: Docker reserves it, so a configuration that
//! cannot be read is unhealthy (1) too.

use core::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::store::{self, STATUS_TTL_S, StoreConfig};

/// A status key written longer ago than this is stale: every connector
/// writes it at least every 5 s, so two writes were missed.
pub const STALE_AFTER: Duration = Duration::from_secs(10);
/// The whole check's default time limit.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer of `/readyz` read.
const MAX_ANSWER: u64 = 64 * 1024;
/// Longest part of an answer shown in the line.
const SHOWN: usize = 200;

/// What is checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A connector: its status key in Valkey.
    Connector {
        /// The role, e.g. `iec104-inbound` (the status's `kind`).
        kind: &'static str,
        /// The connector ID.
        id: String,
        /// Where its Valkey is.
        store: StoreConfig,
    },
    /// The backend: `GET /readyz` at this address.
    Http {
        /// The backend's listener, as reached from this host.
        addr: SocketAddr,
    },
}

impl Target {
    /// The backend's target for its `http.bind` and `http.port`: a
    /// wildcard address is reached on the loopback address of its family.
    pub fn backend(bind: IpAddr, port: u16) -> Self {
        let ip = match bind {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        Self::Http {
            addr: SocketAddr::new(ip, port),
        }
    }
}

/// The answer of a check: healthy or not, and why in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the role is healthy.
    pub healthy: bool,
    /// Why, in one line.
    pub reason: String,
}

impl Verdict {
    /// Healthy, because `reason`.
    pub fn healthy(reason: impl Into<String>) -> Self {
        Self {
            healthy: true,
            reason: reason.into(),
        }
    }

    /// Not healthy, because `reason`.
    pub fn unhealthy(reason: impl Into<String>) -> Self {
        Self {
            healthy: false,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = if self.healthy { "healthy" } else { "unhealthy" };
        write!(f, "{word}: {}", one_line(&self.reason, usize::MAX))
    }
}

/// Checks `target` within `timeout`, on a runtime of its own.
pub fn check_blocking(target: &Target, timeout: Duration) -> Verdict {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(check(target, timeout)),
        Err(e) => Verdict::unhealthy(format!("cannot start the runtime: {e}")),
    }
}

/// Checks `target`; not healthy when the check takes longer than `timeout`.
pub async fn check(target: &Target, timeout: Duration) -> Verdict {
    let checking = async {
        match target {
            Target::Connector { kind, id, store } => connector(kind, id, store, timeout).await,
            Target::Http { addr } => readyz(*addr).await,
        }
    };
    match tokio::time::timeout(timeout, checking).await {
        Ok(v) => v,
        Err(_) => Verdict::unhealthy(match target {
            Target::Connector { store, .. } => {
                format!(
                    "Valkey at {} did not answer within {timeout:?}",
                    store.addr()
                )
            }
            Target::Http { addr } => {
                format!("http://{addr}/readyz did not answer within {timeout:?}")
            }
        }),
    }
}

async fn connector(kind: &str, id: &str, cfg: &StoreConfig, timeout: Duration) -> Verdict {
    let client = match store::connect(cfg).await {
        Ok(c) => c,
        Err(e) => return Verdict::unhealthy(format!("{kind} {id}: {e}")),
    };
    let read = store::read_status(&client, id, timeout).await;
    client.quit().await;
    match read {
        Ok(status) => judge(
            kind,
            id,
            &cfg.addr(),
            status.as_ref().map(|(json, left)| (json.as_str(), *left)),
        ),
        Err(e) => Verdict::unhealthy(format!("{kind} {id}: {e}")),
    }
}

/// Judges a connector's status: `status` is the key's JSON and the time
/// its key has left to live, `None` when there is no key (at Valkey
/// `valkey`, for the message).
pub fn judge(kind: &str, id: &str, valkey: &str, status: Option<(&str, Duration)>) -> Verdict {
    let who = format!("{kind} {id}");
    let Some((json, left)) = status else {
        return Verdict::unhealthy(format!(
            "{who}: no status in Valkey at {valkey} (not running, or its status not written for {STATUS_TTL_S} s)"
        ));
    };
    let ttl = Duration::from_secs(STATUS_TTL_S.unsigned_abs());
    let age = ttl.saturating_sub(left);
    let written = format!("status written {:.1} s ago", age.as_secs_f64());
    if age > STALE_AFTER {
        return Verdict::unhealthy(format!(
            "{who}: {written}, more than {} s",
            STALE_AFTER.as_secs()
        ));
    }
    let Ok(v) = serde_json::from_str::<Value>(json) else {
        return Verdict::unhealthy(format!("{who}: the status is not JSON"));
    };
    let text = |key: &str| v.get(key).and_then(Value::as_str);
    let written_by = text("kind").unwrap_or("(none)");
    if written_by != kind {
        return Verdict::unhealthy(format!(
            "{who}: the status is of kind {written_by}, not {kind}"
        ));
    }
    let state = text("state").unwrap_or("(none)");
    let since = text("since").unwrap_or("?");
    let config_error = text("config_error")
        .map(|e| format!("; managed configuration refused: {e}"))
        .unwrap_or_default();
    match kind {
        "iec104-server" => {
            let listen = text("listen").unwrap_or("?");
            let masters = v
                .get("masters")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            if state != "listening" {
                return Verdict::unhealthy(format!("{who}: {state} since {since}; {written}"));
            }
            if v.get("valkey_connected").and_then(Value::as_bool) != Some(true) {
                return Verdict::unhealthy(format!(
                    "{who}: listening on {listen}, but not following Valkey's update stream; {written}"
                ));
            }
            Verdict::healthy(format!(
                "{who}: listening on {listen}, {masters} master(s) connected; {written}{config_error}"
            ))
        }
        _ => {
            let remote = text("remote").unwrap_or("?");
            if state != "connected" {
                let why = text("last_error")
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default();
                return Verdict::unhealthy(format!("{who}: {state} since {since}{why}; {written}"));
            }
            let valkey_status = v.get("valkey");
            if let Some(w) = valkey_status
                && w.get("connected").and_then(Value::as_bool) == Some(false)
            {
                let pending = w.get("pending").and_then(Value::as_u64).unwrap_or(0);
                let why = w
                    .get("last_error")
                    .and_then(Value::as_str)
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default();
                return Verdict::unhealthy(format!(
                    "{who}: connected to {remote}, but its Valkey writer is not ({pending} points pending{why}); {written}"
                ));
            }
            Verdict::healthy(format!(
                "{who}: connected to {remote} since {since}; {written}{config_error}"
            ))
        }
    }
}

/// `GET /readyz` at `addr`: healthy on 200.
async fn readyz(addr: SocketAddr) -> Verdict {
    let url = format!("http://{addr}/readyz");
    match get(addr, "/readyz").await {
        Ok((200, body)) => Verdict::healthy(format!("backend {url}: 200 {body}")),
        Ok((status, body)) => Verdict::unhealthy(format!("backend {url}: {status} {body}")),
        Err(e) => Verdict::unhealthy(format!("backend {url}: {e}")),
    }
}

/// One HTTP/1.1 GET: the status code and the body (one line, shortened).
async fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: alp-connex-healthcheck\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.take(MAX_ANSWER).read_to_end(&mut answer).await?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not an HTTP answer: {}", one_line(head, SHOWN)),
            )
        })?;
    Ok((status, one_line(body, SHOWN)))
}

/// `text` on one line (line breaks and control characters as spaces), at
/// most `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let mut out: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    if text.trim().chars().count() > max {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRESH: Duration = Duration::from_secs(14);

    fn inbound(state: &str, extra: &str) -> String {
        format!(
            r#"{{"id":"rtu-a","kind":"iec104-inbound","state":"{state}","since":"2026-11-21T09:15:00.000Z","remote":"10.1.2.3:2404","last_error":"10.1.2.3:2404: connection to 10.1.2.3:2404 refused","config_error":null{extra}}}"#
        )
    }

    #[test]
    fn a_connected_inbound_connector_with_a_fresh_status_is_healthy() {
        let v = judge(
            "iec104-inbound",
            "rtu-a",
            "valkey:6379",
            Some((
                &inbound("connected", r#","valkey":{"connected":true,"pending":0}"#),
                FRESH,
            )),
        );
        assert_eq!(
            v.to_string(),
            "healthy: iec104-inbound rtu-a: connected to 10.1.2.3:2404 since 2026-11-21T09:15:00.000Z; status written 1.0 s ago"
        );
        assert!(v.healthy);
    }

    #[test]
    fn a_disconnected_or_connecting_or_stopped_connector_is_unhealthy_and_says_why() {
        for state in ["disconnected", "connecting", "stopped"] {
            let v = judge(
                "iec104-inbound",
                "rtu-a",
                "valkey:6379",
                Some((&inbound(state, ""), FRESH)),
            );
            assert!(!v.healthy, "{state}");
            assert_eq!(
                v.to_string(),
                format!(
                    "unhealthy: iec104-inbound rtu-a: {state} since 2026-11-21T09:15:00.000Z (10.1.2.3:2404: connection to 10.1.2.3:2404 refused); status written 1.0 s ago"
                )
            );
        }
    }

    #[test]
    fn a_status_older_than_ten_seconds_is_stale_whatever_it_says() {
        let v = judge(
            "iec104-inbound",
            "rtu-a",
            "valkey:6379",
            Some((&inbound("connected", ""), Duration::from_millis(4_900))),
        );
        assert_eq!(
            v,
            Verdict::unhealthy(
                "iec104-inbound rtu-a: status written 10.1 s ago, more than 10 s".to_owned()
            )
        );
        // Exactly at the limit it is still fresh.
        let v = judge(
            "iec104-inbound",
            "rtu-a",
            "valkey:6379",
            Some((&inbound("connected", ""), Duration::from_secs(5))),
        );
        assert!(v.healthy, "{v}");
    }

    #[test]
    fn no_status_key_is_unhealthy_naming_the_valkey_asked() {
        let v = judge("mqtt", "mqtt-1", "valkey:6379", None);
        assert_eq!(
            v.to_string(),
            "unhealthy: mqtt mqtt-1: no status in Valkey at valkey:6379 (not running, or its status not written for 15 s)"
        );
    }

    #[test]
    fn a_status_of_another_kind_or_not_json_is_unhealthy() {
        let v = judge(
            "mqtt",
            "rtu-a",
            "v:1",
            Some((&inbound("connected", ""), FRESH)),
        );
        assert_eq!(
            v.reason,
            "mqtt rtu-a: the status is of kind iec104-inbound, not mqtt"
        );
        let v = judge("mqtt", "rtu-a", "v:1", Some(("{not json", FRESH)));
        assert_eq!(v.reason, "mqtt rtu-a: the status is not JSON");
        assert!(!v.healthy);
    }

    #[test]
    fn a_connected_connector_whose_valkey_writer_is_down_is_unhealthy() {
        let v = judge(
            "iec104-inbound",
            "rtu-a",
            "v:1",
            Some((
                &inbound(
                    "connected",
                    r#","valkey":{"connected":false,"pending":1200,"last_error":"connection refused"}"#,
                ),
                FRESH,
            )),
        );
        assert_eq!(
            v.reason,
            "iec104-inbound rtu-a: connected to 10.1.2.3:2404, but its Valkey writer is not (1200 points pending: connection refused); status written 1.0 s ago"
        );
    }

    #[test]
    fn a_server_is_healthy_while_listening_and_following_valkey() {
        let status = |state: &str, following: bool| {
            format!(
                r#"{{"kind":"iec104-server","state":"{state}","since":"S","listen":"0.0.0.0:2404","masters":["10.0.0.9:50000"],"valkey_connected":{following},"config_error":"server.port = 0: must be in 1..=65535"}}"#
            )
        };
        let v = judge(
            "iec104-server",
            "gw",
            "v:1",
            Some((&status("listening", true), FRESH)),
        );
        assert_eq!(
            v.to_string(),
            "healthy: iec104-server gw: listening on 0.0.0.0:2404, 1 master(s) connected; status written 1.0 s ago; managed configuration refused: server.port = 0: must be in 1..=65535"
        );
        let v = judge(
            "iec104-server",
            "gw",
            "v:1",
            Some((&status("listening", false), FRESH)),
        );
        assert_eq!(
            v.reason,
            "iec104-server gw: listening on 0.0.0.0:2404, but not following Valkey's update stream; status written 1.0 s ago"
        );
        let v = judge(
            "iec104-server",
            "gw",
            "v:1",
            Some((&status("stopped", true), FRESH)),
        );
        assert_eq!(
            v.reason,
            "iec104-server gw: stopped since S; status written 1.0 s ago"
        );
    }

    #[test]
    fn the_backend_is_asked_on_loopback_when_it_listens_on_every_address() {
        assert_eq!(
            Target::backend("0.0.0.0".parse().expect("ip"), 8080),
            Target::Http {
                addr: "127.0.0.1:8080".parse().expect("addr")
            }
        );
        assert_eq!(
            Target::backend("::".parse().expect("ip"), 8080),
            Target::Http {
                addr: "[::1]:8080".parse().expect("addr")
            }
        );
        assert_eq!(
            Target::backend("10.0.0.2".parse().expect("ip"), 80),
            Target::Http {
                addr: "10.0.0.2:80".parse().expect("addr")
            }
        );
    }

    #[test]
    fn a_reason_is_printed_on_one_line() {
        let v = Verdict::unhealthy("a\nb\r\nc");
        assert_eq!(v.to_string(), "unhealthy: a b  c");
        assert_eq!(one_line("abcdef", 3), "abc…");
    }
}
