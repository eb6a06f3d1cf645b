//! The data point of the platform's contract.

mod iec104;

pub use iec104::*;
