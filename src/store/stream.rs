//! The update stream read back: where it stands ([`info`], `XINFO STREAM`)
//! and the entries after an ID ([`read_after`], `XREAD`), as typed values.
//! The reply shapes of RESP2 (flat arrays) and RESP3 (maps) are parsed here
//! and nowhere else.
//!
//! ```text
//! XINFO STREAM {stream}                       ──► info ──► StreamInfo (length, last/first ID, entries added)
//! XREAD COUNT n [BLOCK ms] STREAMS {stream} ID ──► read_after ──► Vec<Entry> (ID, fields in order)
//! ```
//!
//! Following the stream without missing an entry (which ID to read from,
//! when entries were trimmed before they were read) is the caller's logic;
//! see `iec104-server`'s follower.

use std::fmt;
use std::time::Duration;

use fred::interfaces::StreamsInterface;
use fred::types::Value;

use super::{StoreClient, StoreError};

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

/// One stream entry: its ID and its fields in order. A field whose value
/// is not text is left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's ID.
    pub id: StreamId,
    /// Its fields, (name, value), in the order they were added.
    pub fields: Vec<(String, String)>,
}

impl Entry {
    /// The value of the first field called `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
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
pub async fn info(client: &StoreClient, stream: &str) -> Result<Option<StreamInfo>, StoreError> {
    // One round trip: Valkey answers "no such key" for a missing stream.
    let reply: Value = match client.client.xinfo_stream(stream, false, None).await {
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

/// `XREAD COUNT count [BLOCK block] STREAMS stream after`: up to `count`
/// entries after `after`, in order, waiting at most `block` for the first
/// (none when the time is up; `None` does not wait). A missing stream has
/// no entries.
pub async fn read_after(
    client: &StoreClient,
    stream: &str,
    after: StreamId,
    count: u64,
    block: Option<Duration>,
) -> Result<Vec<Entry>, StoreError> {
    let block_ms = block.map(|b| u64::try_from(b.as_millis()).unwrap_or(u64::MAX));
    let reply: Value = client
        .client
        .xread(Some(count), block_ms, stream, after.to_string())
        .await
        .map_err(|e| StoreError::command("XREAD", &e))?;
    Ok(xread_entries(reply))
}

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

/// The entries of an `XRANGE`/`XREAD` entry list (RESP2 or RESP3 shapes);
/// anything else gives none, and an entry whose ID does not parse is left
/// out.
fn entry_list(reply: Value) -> Vec<Entry> {
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
            let id = StreamId::parse(&parts.next()?.as_string()?)?;
            let fields = field_pairs(parts.next()?)
                .into_iter()
                .filter_map(|(k, v)| Some((k, v.as_string()?)))
                .collect();
            Some(Entry { id, fields })
        })
        .collect()
}

/// The entries of the first (only) stream of an `XREAD` reply; none for a
/// timeout (`nil`).
fn xread_entries(reply: Value) -> Vec<Entry> {
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

    fn text(s: &str) -> Value {
        Value::from(s)
    }

    #[test]
    fn an_xread_reply_gives_its_entries_in_order_with_their_text_fields() {
        let entry = |id: &str, fields: &[Value]| {
            Value::Array(vec![text(id), Value::Array(fields.to_vec())])
        };
        let reply = Value::Array(vec![Value::Array(vec![
            text("process:updates"),
            Value::Array(vec![
                entry("5-0", &[text("casdu"), text("1"), text("data"), text("{}")]),
                entry("not-an-id", &[text("casdu"), text("2")]),
                entry("5-1", &[text("casdu"), Value::Null, text("ioa"), text("7")]),
            ]),
        ])]);
        let entries = xread_entries(reply);
        assert_eq!(
            entries,
            vec![
                Entry {
                    id: StreamId { ms: 5, seq: 0 },
                    fields: vec![("casdu".into(), "1".into()), ("data".into(), "{}".into())],
                },
                Entry {
                    id: StreamId { ms: 5, seq: 1 },
                    fields: vec![("ioa".into(), "7".into())],
                },
            ]
        );
        assert_eq!(entries[0].field("data"), Some("{}"));
        assert_eq!(entries[1].field("casdu"), None);
        assert_eq!(xread_entries(Value::Null), vec![], "a timeout");
    }
}
