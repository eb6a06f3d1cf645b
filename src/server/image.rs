//! [`ValkeyImage`]: the process image of the Valkey store, held in memory
//! for the controlled station, and [`load`], which reads it from Valkey
//! through the store ([`store::stream::info`], [`store::image::scan`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{PoisonError, RwLock};

use tracing::{info, warn};

use super::Problems;
use crate::contract::DataPoint;
use crate::iec104::types::Element;
use crate::station::{Groups, PointSource, ReadResult};
use crate::store::image::ImageValue;
use crate::store::keys::{IMAGE_KEY_FORM, parse_image_key};
use crate::store::stream::{self, StreamId};
use crate::store::{self, StoreClient, StoreError};

/// Points by IOA, per common address.
pub type Points = BTreeMap<u16, BTreeMap<u32, Element>>;

/// The process image served to masters: every point as the element it is
/// served in ([`DataPoint::to_served_element`]: its own type, but a
/// flagged M_ME_ND_1 as M_ME_NA_1), by common address and IOA, behind a
/// lock (the follower writes while masters read).
///
/// It holds the points of every common address; what it serves is a view
/// that can change while it runs ([`ValkeyImage::set_restriction`],
/// [`ValkeyImage::set_groups`]): with a restriction, only the listed
/// common addresses are served (each is known to the station even without
/// points) and the others are unknown to masters; without one, every
/// address that has a point is served.
#[derive(Debug, Default)]
pub struct ValkeyImage {
    stations: RwLock<Points>,
    view: RwLock<View>,
}

/// What is served of the image.
#[derive(Debug, Default)]
struct View {
    restrict: Option<BTreeSet<u16>>,
    groups: Groups,
}

impl ValkeyImage {
    /// An empty image, serving only `restrict` when given.
    pub fn new(restrict: Option<&[u16]>) -> Self {
        let image = Self::default();
        image.set_restriction(restrict);
        image
    }

    /// Serves only the common addresses `restrict` from now on (every one
    /// in the image for `None`); the points are kept either way.
    pub fn set_restriction(&self, restrict: Option<&[u16]>) {
        self.view
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .restrict = restrict.map(|cas| cas.iter().copied().collect());
    }

    /// Assigns the interrogation groups from now on.
    pub fn set_groups(&self, groups: Groups) {
        self.view
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .groups = groups;
    }

    /// Whether common address `ca` is served.
    pub fn serves(&self, ca: u16) -> bool {
        self.view
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .serves(ca)
    }

    /// Sets a point from its data point; returns its element (as served,
    /// [`DataPoint::to_served_element`]) when its common address is served
    /// (to be sent to masters), `None` otherwise.
    pub fn apply(&self, point: &DataPoint) -> Option<Element> {
        let element = point.to_served_element();
        self.stations
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(point.casdu)
            .or_default()
            .insert(point.ioa, element.clone());
        self.serves(point.casdu).then_some(element)
    }

    /// Replaces every point (after a reload).
    pub fn replace(&self, points: Points) {
        *self
            .stations
            .write()
            .unwrap_or_else(PoisonError::into_inner) = points;
    }

    /// The number of points served, over every station.
    pub fn len(&self) -> usize {
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
        self.stations
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(ca, _)| view.serves(**ca))
            .map(|(_, p)| p.len())
            .sum()
    }

    /// Whether no point is served.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The points of a served station in ascending IOA that `keep` accepts.
    fn collect(&self, ca: u16, keep: impl Fn(&View, u32) -> bool) -> Option<Vec<(u32, Element)>> {
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
        if !view.serves(ca) {
            return None;
        }
        let stations = self.stations.read().unwrap_or_else(PoisonError::into_inner);
        match stations.get(&ca) {
            Some(points) => Some(
                points
                    .iter()
                    .filter(|(i, _)| keep(&view, **i))
                    .map(|(i, e)| (*i, e.clone()))
                    .collect(),
            ),
            None => view.restrict.is_some().then(Vec::new),
        }
    }
}

impl View {
    fn serves(&self, ca: u16) -> bool {
        self.restrict.as_ref().is_none_or(|r| r.contains(&ca))
    }
}

impl PointSource for ValkeyImage {
    fn stations(&self) -> Vec<u16> {
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
        match &view.restrict {
            Some(cas) => cas.iter().copied().collect(),
            None => self
                .stations
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .keys()
                .copied()
                .collect(),
        }
    }

    fn snapshot(&self, ca: u16) -> Option<Vec<(u32, Element)>> {
        self.collect(ca, |_, _| true)
    }

    fn group_snapshot(&self, ca: u16, group: u8) -> Option<Vec<(u32, Element)>> {
        self.collect(ca, |view, ioa| view.groups.contains(group, ca, ioa))
    }

    fn read(&self, ca: u16, ioa: u32) -> ReadResult {
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
        if !view.serves(ca) {
            return ReadResult::UnknownStation;
        }
        let stations = self.stations.read().unwrap_or_else(PoisonError::into_inner);
        match stations.get(&ca) {
            Some(points) => match points.get(&ioa) {
                Some(e) => ReadResult::Point(e.clone()),
                None => ReadResult::UnknownIoa,
            },
            None if view.restrict.is_some() => ReadResult::UnknownIoa,
            None => ReadResult::UnknownStation,
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
    /// Keys of common addresses not served (held, in case they are
    /// served later).
    pub ignored: u64,
    /// Keys whose value is not a data point of that address.
    pub malformed: u64,
}

/// Reads the whole process image into `image`: first the stream's last
/// ID and its count of entries added (one `XINFO STREAM`, so that the
/// follower can tell lost entries), then every image key (`SCAN` + `MGET` in batches of
/// [`store::image::SCAN_COUNT`]), parsed as contract JSON. The image is replaced at the
/// end, so that masters are answered from the previous one meanwhile. A
/// key whose name or value is not a data point of its address is counted
/// and skipped (the first of each kind logged). In a Valkey Cluster every
/// primary is scanned and the values are read with pipelined GETs.
pub async fn load(
    client: &StoreClient,
    stream: &str,
    image: &ValkeyImage,
) -> Result<Loaded, StoreError> {
    let info = stream::info(client, stream).await?.unwrap_or_default();
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
    store::image::scan(client, |page| {
        for (key, value) in page {
            loaded.keys += 1;
            let Some((ca, ioa)) = parse_image_key(&key) else {
                loaded.malformed += 1;
                problems.report("name", &key, &format!("not {IMAGE_KEY_FORM}"));
                continue;
            };
            let json = match value {
                ImageValue::Text(json) => json,
                ImageValue::Gone => continue, // deleted since the SCAN
                ImageValue::NotText => {
                    loaded.malformed += 1;
                    problems.report("value", &key, "not text");
                    continue;
                }
            };
            match DataPoint::from_json(&json) {
                Ok(p) if p.casdu == ca && p.ioa == ioa => {
                    if !image.serves(ca) {
                        loaded.ignored += 1;
                    }
                    points
                        .entry(ca)
                        .or_default()
                        .insert(ioa, p.to_served_element());
                }
                Ok(p) => {
                    loaded.malformed += 1;
                    let says = format!("the JSON is casdu {} ioa {}", p.casdu, p.ioa);
                    problems.report("address", &key, &says);
                }
                Err(e) => {
                    loaded.malformed += 1;
                    problems.report("json", &key, &e.to_string());
                }
            }
        }
    })
    .await?;
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::contract::iec104::{Reception, points_from_asdu};
    use crate::iec104::asdu::Asdu;
    use crate::iec104::elements::{Normalized, Quality};
    use crate::iec104::types::{Cause, Cot};

    fn point(ca: u16, ioa: u32, value: f32) -> DataPoint {
        let source: Arc<str> = "test".into();
        let element = Element::M_ME_NC_1 {
            value,
            quality: Quality::GOOD,
        };
        let asdu = Asdu::single(Cot::new(Cause::SPONTANEOUS), ca, ioa, element);
        let rx = Reception {
            source: &source,
            received: 0,
            zone: &crate::iec104::time::UTC,
        };
        points_from_asdu(&asdu, rx).remove(0)
    }

    fn ioas(points: Option<Vec<(u32, Element)>>) -> Option<Vec<u32>> {
        points.map(|p| p.into_iter().map(|(i, _)| i).collect())
    }

    #[test]
    fn a_changed_restriction_serves_the_points_held_for_the_newly_listed_station() {
        let image = ValkeyImage::new(Some(&[1]));
        assert!(image.apply(&point(1, 10, 1.0)).is_some());
        assert!(image.apply(&point(2, 20, 2.0)).is_none(), "not sent");
        assert_eq!(image.stations(), [1]);
        assert_eq!(image.snapshot(2), None);
        assert_eq!(image.read(2, 20), ReadResult::UnknownStation);
        assert_eq!(image.len(), 1);

        image.set_restriction(Some(&[2, 3]));
        assert_eq!(image.stations(), [2, 3]);
        assert_eq!(ioas(image.snapshot(2)), Some(vec![20]), "held meanwhile");
        assert_eq!(ioas(image.snapshot(3)), Some(vec![]), "listed, no points");
        assert_eq!(image.snapshot(1), None);
        assert_eq!(image.read(3, 1), ReadResult::UnknownIoa);
        assert!(image.apply(&point(1, 11, 1.0)).is_none());
        assert!(image.apply(&point(2, 21, 1.0)).is_some());

        image.set_restriction(None);
        assert_eq!(image.stations(), [1, 2]);
        assert_eq!(ioas(image.snapshot(1)), Some(vec![10, 11]));
        assert_eq!(image.snapshot(3), None, "unlisted and empty: unknown");
        assert_eq!(image.read(3, 1), ReadResult::UnknownStation);
        assert_eq!(image.len(), 4);
    }

    #[test]
    fn a_group_snapshot_holds_the_points_of_its_ranges_in_ascending_ioa() {
        let image = ValkeyImage::new(None);
        for ioa in [5, 10, 15, 20, 25] {
            image.apply(&point(1, ioa, 0.5));
            image.apply(&point(2, ioa, 0.5));
        }
        assert_eq!(ioas(image.group_snapshot(1, 1)), Some(vec![]), "no ranges");
        let ranges = ["1:1:10-20", "1:*:25", "2:2:0-9"];
        image.set_groups(Groups::new(
            ranges.iter().map(|t| t.parse().expect("range")),
        ));
        assert_eq!(ioas(image.group_snapshot(1, 1)), Some(vec![10, 15, 20, 25]));
        assert_eq!(ioas(image.group_snapshot(2, 1)), Some(vec![25]));
        assert_eq!(ioas(image.group_snapshot(2, 2)), Some(vec![5]));
        assert_eq!(ioas(image.group_snapshot(1, 2)), Some(vec![]));
        assert_eq!(image.group_snapshot(9, 1), None, "unknown station");
        image.set_restriction(Some(&[2]));
        assert_eq!(image.group_snapshot(1, 1), None, "no longer served");
    }

    #[test]
    fn a_type_21_point_is_served_as_type_9_while_a_quality_flag_is_set() {
        let source: Arc<str> = "test".into();
        let rx = Reception {
            source: &source,
            received: 0,
            zone: &crate::iec104::time::UTC,
        };
        let nd = Element::M_ME_ND_1 {
            value: Normalized(24576),
        };
        let asdu = Asdu::single(Cot::new(Cause::SPONTANEOUS), 1, 7, nd.clone());
        let mut point = points_from_asdu(&asdu, rx).remove(0);
        let image = ValkeyImage::new(None);
        let served = |image: &ValkeyImage| {
            let ReadResult::Point(read) = image.read(1, 7) else {
                panic!("point 7 is there");
            };
            (image.snapshot(1).expect("station 1"), read)
        };

        assert_eq!(image.apply(&point), Some(nd.clone()), "unflagged: 21");
        assert_eq!(served(&image), (vec![(7, nd.clone())], nd.clone()));

        point.quality.iv = true;
        let na = Element::M_ME_NA_1 {
            value: Normalized(24576),
            quality: Quality(Quality::IV),
        };
        assert_eq!(image.apply(&point), Some(na.clone()), "spontaneous: 9, IV");
        assert_eq!(served(&image), (vec![(7, na.clone())], na), "GI and read");

        point.quality.iv = false;
        point.quality.nt = true;
        point.quality.ov = true;
        let na = Element::M_ME_NA_1 {
            value: Normalized(24576),
            quality: Quality(Quality::NT | Quality::OV),
        };
        assert_eq!(image.apply(&point), Some(na.clone()), "NT and OV");
        assert_eq!(served(&image), (vec![(7, na.clone())], na));

        point.quality = Default::default();
        assert_eq!(image.apply(&point), Some(nd.clone()), "flags cleared: 21");
        assert_eq!(served(&image), (vec![(7, nd.clone())], nd));
    }
}
