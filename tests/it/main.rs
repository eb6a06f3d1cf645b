//! The one integration-test binary: every module below links once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable,
    clippy::indexing_slicing,
    clippy::string_slice,
    reason = "tests: a failed expectation stops the test, loudly"
)]

mod support;

mod api;
mod auth;
mod backend;
mod backend_valkey;
mod cli;
mod fuzz_corpus;
mod health;
mod inbound;
mod inbound_stations;
mod interop;
mod metrics;
mod mqtt;
mod mqtt_sim;
mod peer_selftest;
mod schema;
mod server;
mod server_image;
mod server_masters;
mod server_services;
mod server_types;
mod sim;
mod station;
mod store;
mod stream_load;
mod support_tests;
