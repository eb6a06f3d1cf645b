//! alp-connex: a protocol-translation platform for the power grid.
//!
//! The crate is layered (see `ARCHITECTURE` in the README):
//!
//! - [`iec104`]: IEC 60870-5-104 without I/O — the wire codec (APCI frames,
//!   ASDUs, every standard type id) and the link state machine — plus thin
//!   tokio drivers for the controlling (client) and controlled (server) side.
//! - [`store`]: the Valkey side of the data contract — pipelined writes of
//!   data points (image and stream), the managed configuration watch and the
//!   status key.
//! - [`server`]: the Valkey process image for the `iec104-server` role's
//!   controlled station ([`station`]).
//! - one module per role, added as the roles are built; each wires the layers
//!   above and owns nothing else.

pub mod config;
pub mod connector;
pub mod contract;
#[doc(hidden)]
pub mod fuzzing;
pub mod iec104;
pub mod inbound;
pub mod server;
pub mod shutdown;
pub mod sim;
pub mod station;
pub mod store;
