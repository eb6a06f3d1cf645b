//! The `iec104-server` role's data side: the Valkey process image served to
//! SCADA masters by a controlled station ([`crate::station`]).
//!
//! Boundary: below is Valkey (the keys and the stream of `CONTRACT.md`,
//! read only: this role never writes a data point); above is the station,
//! which sees a [`PointSource`](crate::station::PointSource) (the
//! [`ValkeyImage`]) and a `broadcast` channel of spontaneous
//! [`Update`](crate::station::Update)s. The listener, the station and the
//! role's status are wired by the role itself.
//!
//! ```text
//! Valkey ── XINFO STREAM (last ID) ─┐
//!        ── SCAN + MGET ────────────┴─► image::load ──► ValkeyImage ◄── GI / read (station)
//!        ── XREAD BLOCK from that ID ──► follow ──┬──► ValkeyImage (apply)
//!                                                 └──► broadcast<Update> (cause 3) ──► masters
//! ```
//!
//! - Start: the stream's last ID is read before the image keys, and the
//!   follower reads from that ID, so updates made during the load are
//!   applied again (idempotent: last value wins) and none is missed.
//! - Each stream entry becomes one ASDU with one object, cause 3
//!   (spontaneous), in the type the point is served in: the type it was
//!   reported in, with its time tag, but M_ME_ND_1 (no quality descriptor)
//!   as M_ME_NA_1 while a quality flag is set
//!   ([`DataPoint::to_served_element`](crate::contract::DataPoint::to_served_element));
//!   the image holds that same element for interrogation and read, so a
//!   master sees the flags whichever way it asks (docs/server.md, "Which
//!   type a master receives").
//! - Outage: the follower retries every 500 ms from the last entry it
//!   handled; if entries after it were trimmed meanwhile (an outage, or a
//!   rate beyond the writers' cap divided by its read period), it reloads
//!   the whole image, counts the entries it skipped, and follows from there
//!   (masters get the missed values at their next interrogation).
//! - A common-address restriction hides every other address: its points
//!   are held (so that a changed restriction serves them at once) but
//!   neither counted as served nor sent, and the station answers it as
//!   unknown. Interrogation groups are IOA ranges of the settings.
//! - JSON that is not a data point of its address (in a key or a stream
//!   entry) is counted and skipped; the first of each kind is logged.

pub mod config;
pub mod follow;
pub mod image;
pub mod run;

use std::collections::BTreeSet;
use std::fmt;

use fred::clients::Client;
use fred::interfaces::StreamsInterface;
use fred::types::Value;
use tracing::{debug, warn};

use crate::store::StoreError;

pub use follow::{FollowStats, Following, start};
pub use image::{Loaded, ValkeyImage, load};
pub use run::run;

/// A stream entry ID, `ms-seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct StreamId {
    /// Milliseconds part (the Unix time of the XADD unless given).
    pub ms: u64,
    /// Sequence within the millisecond.
    pub seq: u64,
}

impl StreamId {
    /// Parses `ms-seq` (or a bare `ms`, sequence 0).
    pub fn parse(s: &str) -> Option<StreamId> {
        let (ms, seq) = s.split_once('-').unwrap_or((s, "0"));
        Some(StreamId {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// One stream entry: its ID and its fields in order.
pub(crate) type Entry = (String, Vec<(String, Value)>);

/// The name-value pairs of a flat array (RESP2) or a map (RESP3) reply;
/// none for anything else.
fn field_pairs(reply: Value) -> Vec<(String, Value)> {
    match reply {
        Value::Array(flat) => flat
            .chunks(2)
            .filter_map(|pair| match pair {
                [k, v] => Some((k.as_string()?, v.clone())),
                _ => None,
            })
            .collect(),
        Value::Map(map) => map
            .inner()
            .into_iter()
            .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v)))
            .collect(),
        _ => Vec::new(),
    }
}

/// The entries of an `XRANGE`/`XREVRANGE` reply (RESP2 or RESP3 shapes);
/// anything else gives none.
pub(crate) fn entry_list(reply: Value) -> Vec<Entry> {
    let Value::Array(items) = reply else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| {
            let Value::Array(parts) = item else {
                return None;
            };
            let mut parts = parts.into_iter();
            let id = parts.next()?.as_string()?;
            Some((id, field_pairs(parts.next()?)))
        })
        .collect()
}

/// The entries of the first (only) stream of an `XREAD` reply; none for a
/// timeout (`nil`).
pub(crate) fn xread_entries(reply: Value) -> Vec<Entry> {
    match reply {
        Value::Array(streams) => streams
            .into_iter()
            .next()
            .map(|s| match s {
                Value::Array(pair) => pair.into_iter().nth(1).map(entry_list).unwrap_or_default(),
                _ => Vec::new(),
            })
            .unwrap_or_default(),
        Value::Map(map) => map
            .inner()
            .into_values()
            .next()
            .map(entry_list)
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The fields of `XINFO STREAM` that tell where the stream is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamInfo {
    /// Entries in the stream now.
    pub length: u64,
    /// The ID of the last entry ever added (deleted or not).
    pub last_generated: StreamId,
    /// Entries ever added.
    pub added: u64,
    /// The first entry's ID (`0-0` when empty).
    pub first: StreamId,
}

/// `XINFO STREAM` of `stream`; `None` when there is no such stream.
pub(crate) async fn stream_info(
    client: &Client,
    stream: &str,
) -> Result<Option<StreamInfo>, StoreError> {
    // One round trip: Valkey answers "no such key" for a missing stream.
    let reply: Value = match client.xinfo_stream(stream, false, None).await {
        Ok(reply) => reply,
        Err(e) if e.details().contains("no such key") => return Ok(None),
        Err(e) => return Err(StoreError::command("XINFO", &e)),
    };
    let mut info = StreamInfo::default();
    for (name, value) in field_pairs(reply) {
        let id = || {
            value
                .as_string()
                .and_then(|s| StreamId::parse(&s))
                .unwrap_or_default()
        };
        match name.as_str() {
            "length" => info.length = value.as_u64().unwrap_or_default(),
            "last-generated-id" => info.last_generated = id(),
            "entries-added" => info.added = value.as_u64().unwrap_or_default(),
            "recorded-first-entry-id" => info.first = id(),
            _ => {}
        }
    }
    Ok(Some(info))
}

/// Logs the first skipped item of each kind as a warning, the others at
/// debug level (they are counted by the caller).
#[derive(Debug)]
pub(crate) struct Problems {
    what: &'static str,
    seen: BTreeSet<&'static str>,
}

impl Problems {
    pub(crate) fn new(what: &'static str) -> Self {
        Self {
            what,
            seen: BTreeSet::new(),
        }
    }

    pub(crate) fn report(&mut self, kind: &'static str, at: &str, detail: &str) {
        if self.seen.insert(kind) {
            warn!(
                what = self.what,
                kind,
                at,
                detail,
                "skipped: not a data point of its address (further ones of this kind are counted and logged at debug level)"
            );
        } else {
            debug!(what = self.what, kind, at, detail, "skipped");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_parse_print_and_order() {
        let a = StreamId::parse("1795252530123-0").expect("parses");
        let b = StreamId::parse("1795252530123-7").expect("parses");
        assert!(a < b && b < StreamId::parse("1795252530124").expect("parses"));
        assert_eq!(b.to_string(), "1795252530123-7");
        assert_eq!(StreamId::default().to_string(), "0-0");
        for bad in ["", "x-1", "1-x", "-1", "1-"] {
            assert_eq!(StreamId::parse(bad), None, "{bad}");
        }
    }
}
