//! The one integration-test binary: every module below links once.

mod support;

mod cli;
mod fuzz_corpus;
mod inbound;
mod inbound_stations;
mod interop;
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
