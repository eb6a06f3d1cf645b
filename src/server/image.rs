//! [`ValkeyImage`]: the process image of the Valkey store, held in memory
//! for the controlled station, and [`load`], which reads it from Valkey.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{PoisonError, RwLock};

use fred::clients::Client;
use fred::interfaces::KeysInterface;
use fred::types::Value;
use tracing::{info, warn};

use super::{Problems, StreamId, stream_info};
use crate::contract::DataPoint;
use crate::iec104::types::Element;
use crate::station::{PointSource, ReadResult};
use crate::store::StoreError;

/// The key pattern of the process image.
pub const IMAGE_PATTERN: &str = "process:image:casdu:*:ioa:*";

/// Keys asked for per `SCAN` call, and read per `MGET`.
pub const SCAN_COUNT: u32 = 1000;

/// Points by IOA, per common address.
pub type Points = BTreeMap<u16, BTreeMap<u32, Element>>;

/// The process image served to masters: every point in the type it was
/// last reported in, by common address and IOA, behind a lock (the
/// follower writes while masters read).
///
/// With a restriction, only the listed common addresses are served (each
/// is known to the station even without points) and points of other
/// addresses are ignored; without one, every address that has a point is
/// served.
#[derive(Debug, Default)]
pub struct ValkeyImage {
    stations: RwLock<Points>,
    restrict: Option<BTreeSet<u16>>,
}

impl ValkeyImage {
    /// An empty image, serving only `restrict` when given.
    pub fn new(restrict: Option<&[u16]>) -> Self {
        let restrict: Option<BTreeSet<u16>> = restrict.map(|cas| cas.iter().copied().collect());
        let stations = restrict
            .iter()
            .flatten()
            .map(|&ca| (ca, BTreeMap::new()))
            .collect();
        Self {
            stations: RwLock::new(stations),
            restrict,
        }
    }

    /// Whether points of common address `ca` belong in this image.
    pub fn serves(&self, ca: u16) -> bool {
        self.restrict.as_ref().is_none_or(|r| r.contains(&ca))
    }

    /// Sets a point from its data point; returns its element, or `None`
    /// when its common address is not served.
    pub fn apply(&self, point: &DataPoint) -> Option<Element> {
        if !self.serves(point.casdu) {
            return None;
        }
        let element = point.to_element();
        self.stations
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(point.casdu)
            .or_default()
            .insert(point.ioa, element.clone());
        Some(element)
    }

    /// Replaces every point (after a reload); the served addresses stay.
    pub fn replace(&self, mut points: Points) {
        points.retain(|ca, _| self.serves(*ca));
        for &ca in self.restrict.iter().flatten() {
            points.entry(ca).or_default();
        }
        *self
            .stations
            .write()
            .unwrap_or_else(PoisonError::into_inner) = points;
    }

    /// The number of points over every station.
    pub fn len(&self) -> usize {
        self.stations
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(BTreeMap::len)
            .sum()
    }

    /// Whether no station has a point.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl PointSource for ValkeyImage {
    fn stations(&self) -> Vec<u16> {
        self.stations
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .copied()
            .collect()
    }

    fn snapshot(&self, ca: u16) -> Option<Vec<(u32, Element)>> {
        let stations = self.stations.read().unwrap_or_else(PoisonError::into_inner);
        let points = stations.get(&ca)?;
        Some(points.iter().map(|(i, e)| (*i, e.clone())).collect())
    }

    fn read(&self, ca: u16, ioa: u32) -> ReadResult {
        let stations = self.stations.read().unwrap_or_else(PoisonError::into_inner);
        match stations.get(&ca) {
            None => ReadResult::UnknownStation,
            Some(points) => match points.get(&ioa) {
                Some(e) => ReadResult::Point(e.clone()),
                None => ReadResult::UnknownIoa,
            },
        }
    }
}

/// What one [`load`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The stream's last entry ID read before the keys (`last-generated-id`
    /// of `XINFO STREAM`, `0-0` without a stream): following from there
    /// replays every update made during the load.
    pub last_id: StreamId,
    /// The stream's `entries-added` at that ID (0 without a stream).
    pub added: u64,
    /// Image keys seen.
    pub keys: u64,
    /// Points now in the image.
    pub points: u64,
    /// Keys of common addresses not served.
    pub ignored: u64,
    /// Keys whose value is not a data point of that address.
    pub malformed: u64,
}

/// Reads the whole process image into `image`: first the stream's last
/// ID and its count of entries added (one `XINFO STREAM`, so that the
/// follower can tell lost entries), then every image key (`SCAN` + `MGET` in batches of
/// [`SCAN_COUNT`]), parsed as contract JSON. The image is replaced at the
/// end, so that masters are answered from the previous one meanwhile. A
/// key whose name or value is not a data point of its address is counted
/// and skipped (the first of each kind logged). Standalone Valkey only.
pub async fn load(
    client: &Client,
    stream: &str,
    image: &ValkeyImage,
) -> Result<Loaded, StoreError> {
    let info = stream_info(client, stream).await?.unwrap_or_default();
    let mut loaded = Loaded {
        last_id: info.last_generated,
        added: info.added,
        keys: 0,
        points: 0,
        ignored: 0,
        malformed: 0,
    };
    let mut problems = Problems::new("image key");
    let mut points = Points::new();
    let mut cursor = "0".to_owned();
    loop {
        let page: (String, Vec<String>) = client
            .scan_page(cursor, IMAGE_PATTERN, Some(SCAN_COUNT), None)
            .await
            .map_err(|e| StoreError::command("SCAN", &e))?;
        let (next, keys) = page;
        let mut wanted = Vec::with_capacity(keys.len());
        for key in keys {
            loaded.keys += 1;
            match parse_image_key(&key) {
                None => {
                    loaded.malformed += 1;
                    problems.report("name", &key, "not process:image:casdu:{CASDU}:ioa:{IOA}");
                }
                Some((ca, _)) if !image.serves(ca) => loaded.ignored += 1,
                Some(address) => wanted.push((key, address)),
            }
        }
        if !wanted.is_empty() {
            let names: Vec<&str> = wanted.iter().map(|(k, _)| k.as_str()).collect();
            let values: Vec<Value> = client
                .mget(names)
                .await
                .map_err(|e| StoreError::command("MGET", &e))?;
            for ((key, (ca, ioa)), value) in wanted.iter().zip(values) {
                if value.is_null() {
                    continue; // deleted since the SCAN
                }
                let Some(json) = value.as_str() else {
                    loaded.malformed += 1;
                    problems.report("value", key, "not text");
                    continue;
                };
                match DataPoint::from_json(&json) {
                    Ok(p) if p.casdu == *ca && p.ioa == *ioa => {
                        points
                            .entry(p.casdu)
                            .or_default()
                            .insert(p.ioa, p.to_element());
                    }
                    Ok(p) => {
                        loaded.malformed += 1;
                        let says = format!("the JSON is casdu {} ioa {}", p.casdu, p.ioa);
                        problems.report("address", key, &says);
                    }
                    Err(e) => {
                        loaded.malformed += 1;
                        problems.report("json", key, &e.to_string());
                    }
                }
            }
        }
        if next == "0" {
            break;
        }
        cursor = next;
    }
    loaded.points = points.values().map(|p| p.len() as u64).sum();
    image.replace(points);
    if loaded.malformed > 0 {
        warn!(
            malformed = loaded.malformed,
            "image keys skipped: not a data point of their address"
        );
    }
    info!(
        keys = loaded.keys,
        points = loaded.points,
        ignored = loaded.ignored,
        stations = image.stations().len(),
        from = %loaded.last_id,
        "process image loaded"
    );
    Ok(loaded)
}

/// `(casdu, ioa)` of `process:image:casdu:{CASDU}:ioa:{IOA}`, decimal
/// without padding (as written by every connector).
pub fn parse_image_key(key: &str) -> Option<(u16, u32)> {
    let rest = key.strip_prefix("process:image:casdu:")?;
    let (ca, ioa) = rest.split_once(":ioa:")?;
    fn number(s: &str) -> Option<&str> {
        let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        (digits && (s == "0" || !s.starts_with('0'))).then_some(s)
    }
    let ca: u16 = number(ca)?.parse().ok()?;
    let ioa: u32 = number(ioa)?.parse().ok()?;
    (ioa <= 0xFF_FFFF).then_some((ca, ioa))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_keys_parse_only_in_their_canonical_form() {
        assert_eq!(
            parse_image_key("process:image:casdu:1:ioa:200"),
            Some((1, 200))
        );
        assert_eq!(parse_image_key("process:image:casdu:0:ioa:0"), Some((0, 0)));
        assert_eq!(
            parse_image_key("process:image:casdu:65535:ioa:16777215"),
            Some((65535, 0xFF_FFFF))
        );
        for bad in [
            "process:image:casdu:65536:ioa:1",
            "process:image:casdu:1:ioa:16777216",
            "process:image:casdu:01:ioa:1",
            "process:image:casdu::ioa:1",
            "process:image:casdu:x:ioa:1",
            "process:image:casdu:1:ioa:-1",
            "process:image:casdu:1:ioa:1:extra",
            "process:image:1:1",
        ] {
            assert_eq!(parse_image_key(bad), None, "{bad}");
        }
    }
}
