//! The `iec104-inbound` role: a client of a remote IEC 104 server that
//! writes every received point into the Valkey process image.
//!
//! - [`config`]: the command line and settings of the role, its managed
//!   keys and its `config-gen` text.
//! - [`session`]: what is done with the application data of a connection,
//!   without I/O.
//! - [`run`](mod@run): the main loop: connection, reconnection, managed
//!   configuration, status, shutdown.
pub mod config;
pub mod run;
pub mod session;

pub use run::run;
