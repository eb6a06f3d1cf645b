//! Test support: real servers on free loopback ports and real IEC 104 peers.
//!
//! Every guard starts its own server process on `127.0.0.1`, waits until it
//! answers (a readiness probe polled against a bounded deadline), and stops
//! and reaps it on drop. A missing program is a test failure that names
//! `scripts/test`, which installs everything.
//!
//! - [`free_port`]: a free TCP port on 127.0.0.1.
//! - [`ValkeyGuard`]: `valkey-server`, optional password, stop/restart on the
//!   same port for outage tests.
//! - [`ValkeyClusterGuard`]: `n` cluster-mode `valkey-server` joined into one
//!   cluster without replicas.
//! - [`PostgresGuard`]: a throw-away PostgreSQL cluster (`initdb` + `postgres`,
//!   run as the `postgres` user when the tests run as root), stopped and
//!   started again on the same port for outage tests.
//! - [`MosquittoGuard`]: a `mosquitto` broker, anonymous or with a password
//!   file, plain or TLS (a CA, server and client certificates of its own),
//!   optionally persistent across a graceful restart on the same port; it
//!   can be frozen (SIGSTOP) to hold what clients send unread.
//! - [`MqttClient`]: an MQTT client whose steps are awaited with a deadline.
//! - [`Peer`], [`python`]: the c104 peer scripts under `tests/peers/`,
//!   speaking JSON lines.
//! - [`publish`]: an MQTT client that publishes and waits until the broker
//!   has taken every message.
//! - [`Connector`]: `alp-connex iec104-inbound` or `alp-connex mqtt` with
//!   its documented command line; [`image_points`] reads the image it
//!   writes.
//! - [`Issuer`]: an OpenID provider serving discovery and JWKS on a free
//!   port, minting RS256 tokens with keys made at test time.
//! - [`RawRtu`]: an IEC 104 RTU on raw sockets, for answers no library RTU
//!   gives.
//! - [`Backend`]: `alp-connex backend` on a free port (without
//!   authentication, on loopback), its log kept; [`http_get`]: one plain
//!   HTTP/1.1 GET.

// A library for every integration test: not each test uses each helper.
#![allow(dead_code)]

mod backend;
mod connector;
mod mosquitto;
mod mqtt;
mod mqtt_client;
mod oidc;
mod peer;
mod postgres;
mod process;
mod raw_rtu;
mod valkey;
mod valkey_cluster;

// Re-exported for the tests to come, whether or not one uses them yet.
#[allow(unused_imports)]
pub use backend::{BACKEND_READY, Backend, Reply, SseClient, http as backend_http, http_get};
#[allow(unused_imports)]
pub use connector::{Connector, image_points};
#[allow(unused_imports)]
pub use mosquitto::{ClientCertificates, MosquittoGuard, MosquittoOptions, TlsFiles};
#[allow(unused_imports)]
pub use mqtt::MqttClient;
#[allow(unused_imports)]
pub use mqtt_client::{publish, publish_with};
#[allow(unused_imports)]
pub use oidc::{Issuer, Key as IssuerKey, sign};
#[allow(unused_imports)]
pub use peer::{Peer, START_TIMEOUT, c104_master, c104_rtu, peers_dir, python};
#[allow(unused_imports)]
pub use postgres::PostgresGuard;
#[allow(unused_imports)]
pub use process::{TempDir, find_program, free_port, send_signal};
#[allow(unused_imports)]
pub use raw_rtu::{RawLink, RawRtu, Received, command_answer, pack_points};
#[allow(unused_imports)]
pub use valkey::ValkeyGuard;
#[allow(unused_imports)]
pub use valkey_cluster::ValkeyClusterGuard;
