//! [`MemoryImage`]: a process image in memory, the [`PointSource`] of the
//! demo RTU and of tests.

use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock};

use super::{PointSource, ReadResult};
use crate::iec104::types::Element;

/// Points by common address and IOA, behind a lock: readers (interrogation,
/// read) and the writer of changes may run on different tasks.
#[derive(Debug, Default)]
pub struct MemoryImage {
    stations: RwLock<BTreeMap<u16, BTreeMap<u32, Element>>>,
}

impl MemoryImage {
    /// An image serving the common addresses `cas`, without points yet.
    pub fn new(cas: impl IntoIterator<Item = u16>) -> Self {
        let stations = cas.into_iter().map(|ca| (ca, BTreeMap::new())).collect();
        Self {
            stations: RwLock::new(stations),
        }
    }

    /// Sets a point, adding the station if it is new; returns the element
    /// it replaces.
    pub fn insert(&self, ca: u16, ioa: u32, element: Element) -> Option<Element> {
        self.stations
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(ca)
            .or_default()
            .insert(ioa, element)
    }

    /// Changes a point in place and returns its new element; `None` when
    /// the point does not exist.
    pub fn update(&self, ca: u16, ioa: u32, change: impl FnOnce(&mut Element)) -> Option<Element> {
        let mut stations = self
            .stations
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let element = stations.get_mut(&ca)?.get_mut(&ioa)?;
        change(element);
        Some(element.clone())
    }

    /// Sets several points of a station under one lock, adding the station
    /// if it is new.
    pub fn insert_many(&self, ca: u16, points: impl IntoIterator<Item = (u32, Element)>) {
        let mut stations = self
            .stations
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        stations.entry(ca).or_default().extend(points);
    }

    /// The number of points of a station.
    pub fn len(&self, ca: u16) -> usize {
        self.stations
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&ca)
            .map_or(0, BTreeMap::len)
    }

    /// Whether no station has a point.
    pub fn is_empty(&self) -> bool {
        self.stations
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .all(BTreeMap::is_empty)
    }
}

impl PointSource for MemoryImage {
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
