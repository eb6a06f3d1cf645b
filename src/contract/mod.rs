//! The data point of the platform's contract (CONTRACT.md, "The data
//! point"): what one information object becomes in the Valkey process
//! image and stream, as JSON. Every role shares the model and its JSON;
//! only the IEC 104 roles use the mapping to and from IEC 104 elements.
//!
//! - [`point`]: the model — [`DataPoint`], its [`PointValue`] by type, its
//!   [`QualityFlags`], and the image key of a point.
//! - [`json`]: the contract JSON — [`DataPoint::to_json`] renders it (field
//!   order as in the contract, optional fields only when set),
//!   [`DataPoint::from_json`] reads it back checking every field
//!   ([`ContractError`] names the field and what it allows), and
//!   [`parse_rfc3339_ms`] reads its times. The schema is
//!   `docs/schema/datapoint.schema.json`.
//! - [`iec104`]: the mapping for the IEC 104 roles —
//!   [`points_from_asdu`](iec104::points_from_asdu) gives one point per
//!   monitor-direction information object (types 1-40) of an ASDU, its time
//!   tag read in the zone of the [`Reception`](iec104::Reception);
//!   [`DataPoint::to_element`] gives a point's element back in its own type
//!   and [`DataPoint::to_served_element`] the one `iec104-server` serves;
//!   the quality flags to and from the quality descriptor.
//!
//! Data flow: the inbound role decodes an ASDU, makes points of it with
//! [`iec104`] and writes [`json`]; the server reads the JSON of the image
//! and the update stream back with [`json`] and serves what [`iec104`]
//! makes of each point. A role without IEC 104 builds a [`DataPoint`] and
//! writes its JSON with [`point`] and [`json`] alone.
//!
//! Dependencies run one way: [`point`] and [`json`] use of the protocol
//! core only the type ids ([`TypeId`](crate::iec104::types::TypeId)), the
//! normalized value's conversion from a float and the RFC 3339 writer
//! ([`rfc3339_ms`](crate::iec104::time::rfc3339_ms)); [`iec104`] here
//! builds on [`point`] and the protocol core's ASDUs, elements and time
//! tags; the protocol core (`crate::iec104`) does not depend on this
//! module (one of its tests reads expected instants with
//! [`parse_rfc3339_ms`]).

pub mod iec104;
pub mod json;
pub mod point;
#[cfg(test)]
mod test_points;

pub use json::{ContractError, parse_rfc3339_ms};
pub use point::{DataPoint, PointValue, QualityFlags, image_key};
