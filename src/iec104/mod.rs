//! IEC 60870-5-104, exact to the standard and panic-free on any input.
//!
//! Module boundaries and data flow:
//!
//! ```text
//!  TCP bytes ──► link::Link ──(frame decode: apci)──► Event::Asdu(raw ASDU bytes) ──► asdu::Asdu::decode
//!              ◄── poll_transmit (APCI frames)  ◄── Link::send_asdu(raw bytes)   ◄── asdu::Asdu::encode
//!  instants  ──► handle_timeout(now); poll_timeout() gives the next deadline (t1, t2, t3)
//! ```
//!
//! - [`apci`]: the APDU frame: start octet, length, I/S/U control field; a
//!   decoder that says "need more bytes" and never skips garbage.
//! - [`link`]: the sans-IO link engine (sequence numbers, k/w windows,
//!   t1/t2/t3, STARTDT/STOPDT/TESTFR) for both controlling and controlled
//!   stations. Bytes and instants in; frames, events and deadlines out.
//! - [`params`]: the protocol parameters t0..t3, k, w, validated against the
//!   ranges of the standard.
//! - [`asdu`]: the application layer: data unit identifier (type, VSQ, COT,
//!   originator, common address) and the information objects of every
//!   standard type id.
//! - [`types`]: type identifications (numbers and mnemonics) and causes of
//!   transmission.
//! - [`elements`]: information elements: quality descriptors, values,
//!   qualifiers of commands.
//! - [`time`]: CP56Time2a, CP24Time2a, CP16Time2a.
//! - [`driver`]: the tokio drivers (client connect with t0, server listener).
//! - [`cursor`]: the bounds-checked reader every parser reads through.

pub mod apci;
pub mod asdu;
pub mod cursor;
pub mod driver;
pub mod elements;
#[doc(hidden)]
pub mod fuzzing;
pub mod link;
pub mod params;
pub mod time;
pub mod types;
