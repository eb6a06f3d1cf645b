//! alp-connex: a protocol-translation platform for the power grid.
//!
//! The crate is layered (see "Architecture" in the README):
//!
//! - [`iec104`]: IEC 60870-5-104 without I/O — the wire codec (APCI frames,
//!   ASDUs, every standard type id) and the link state machine — plus thin
//!   tokio drivers for the controlling (client) and controlled (server) side.
//! - [`contract`]: the data point of the Valkey contract, its JSON, and the
//!   mapping from IEC 104 ASDUs.
//! - [`store`]: the Valkey side of the data contract and the only code that
//!   speaks to Valkey — every key name ([`store::keys`]), pipelined writes
//!   of data points (image and stream), the image and the update stream
//!   read back ([`store::image`], [`store::stream`]), the managed
//!   configuration and the status key.
//! - [`config`]: the roles' settings (command line, TOML, environment,
//!   managed overlay) and `config-gen`.
//! - [`connector`]: the runtime every role uses — the status heartbeat, the
//!   managed configuration with its refusal semantics, the log level,
//!   shutdown with the last status.
//! - [`station`]: the controlled station's application layer, answering
//!   masters from a point source.
//! - [`auth`]: OpenID Connect bearer tokens checked as a resource server
//!   checks them (discovery, JWKS with refetch on an unknown key, RS256
//!   only, issuer, audience, expiry, app roles), for the backend.
//! - the roles, each wiring the layers above: [`inbound`]
//!   (`iec104-inbound`), [`server`] (`iec104-server`, the Valkey process
//!   image served by a [`station`]), [`mqtt`] (the MQTT connector and its
//!   mapping engine without I/O), [`backend`] (the management API on
//!   PostgreSQL), [`sim`] (`rtu-sim`), [`mqtt_sim`] (`mqtt-sim`, a demo
//!   sensor source and MQTT load generator).
//! - [`health`]: `alp-connex healthcheck`, whether the role on this host is
//!   healthy (a connector's status key, the backend's `/readyz`).

pub mod auth;
pub mod backend;
pub mod config;
pub mod connector;
pub mod contract;
#[doc(hidden)]
pub mod fuzzing;
pub mod health;
pub mod iec104;
pub mod inbound;
pub mod mqtt;
pub mod mqtt_sim;
pub mod server;
pub mod shutdown;
pub mod sim;
pub mod station;
pub mod store;
