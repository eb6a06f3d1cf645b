//! The writer's coalescing buffer: what is submitted and not yet written.
//!
//! The image keeps the latest JSON per address (last value wins); the stream
//! keeps every entry in order, at most `cap` of them (the oldest beyond the
//! cap are left out, and the writer counts them: Valkey would trim them
//! anyway). A batch is
//! taken out for a write; when the write fails it is put back in front of
//! what arrived meanwhile. The collections are reused between batches, so the
//! steady state allocates nothing here.

use std::collections::{HashMap, VecDeque};
use std::mem;

use fred::bytes::Bytes;

use super::PointRecord;

/// An address: (CASDU, IOA).
pub(crate) type Addr = (u16, u32);

/// One stream entry to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub addr: Addr,
    pub json: Bytes,
    /// Position of its point among every point pushed (0 for the first).
    pub seq: u64,
}

/// A write in flight: image values (one per address) and stream entries in
/// order. What the write acknowledged is removed from it.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub images: Vec<(Addr, Bytes)>,
    pub stream: VecDeque<Entry>,
}

impl Batch {
    fn clear(&mut self) {
        self.images.clear();
        self.stream.clear();
    }
}

#[derive(Debug)]
pub(crate) struct Buffer {
    cap: usize,
    images: HashMap<Addr, Bytes>,
    stream: VecDeque<Entry>,
    /// An empty batch whose capacity the next [`take`](Self::take) reuses.
    spare: Batch,
    /// Points pushed so far.
    pushed: u64,
    /// Whether an image value may be held without a stream entry of its
    /// address (its entries were dropped by the cap, or written while its
    /// SET failed); until the buffer is empty again, [`settled`](Self::settled)
    /// cannot tell a position.
    loose: bool,
}

impl Buffer {
    /// A buffer keeping at most `cap` stream entries.
    pub fn new(cap: u64) -> Self {
        Self {
            cap: usize::try_from(cap).unwrap_or(usize::MAX),
            images: HashMap::new(),
            stream: VecDeque::new(),
            spare: Batch::default(),
            pushed: 0,
            loose: false,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.images.is_empty() && self.stream.is_empty()
    }

    /// Image values held.
    pub fn image_len(&self) -> usize {
        self.images.len()
    }

    /// Stream entries held.
    pub fn stream_len(&self) -> usize {
        self.stream.len()
    }

    /// Adds one point; returns how many old stream entries were left out.
    pub fn push(&mut self, point: PointRecord) -> u64 {
        let addr = (point.casdu, point.ioa);
        let json = Bytes::from(point.json);
        let seq = self.pushed;
        self.pushed += 1;
        self.images.insert(addr, json.clone());
        self.stream.push_back(Entry { addr, json, seq });
        self.trim()
    }

    /// How many of the points pushed so far are settled: the points before
    /// it have their stream entry written (or dropped) and their image value
    /// written (theirs or a newer one). `None` when the buffer cannot tell
    /// (see `loose`): the caller keeps its last figure.
    ///
    /// Without loose images, every image value held belongs to an address
    /// with a stream entry held (a push adds both, a take removes the image
    /// values of the entries it takes), so the oldest entry held is the
    /// first point not settled.
    pub fn settled(&mut self) -> Option<u64> {
        if self.is_empty() {
            self.loose = false;
            return Some(self.pushed);
        }
        if self.loose {
            return None;
        }
        self.stream.front().map(|e| e.seq)
    }

    /// The oldest stream entries, at most `max`, with the image values of
    /// their addresses (the latest, so never older than an entry), as a
    /// batch to write; with room left, image values whose entries the cap
    /// dropped. Bounded, so that a backlog is written in steady steps of
    /// bounded memory instead of one pipeline of everything.
    pub fn take(&mut self, max: usize) -> Batch {
        let mut batch = mem::take(&mut self.spare);
        let n = self.stream.len().min(max);
        batch.stream.extend(self.stream.drain(..n));
        for e in &batch.stream {
            if let Some(json) = self.images.remove(&e.addr) {
                batch.images.push((e.addr, json));
            }
        }
        if batch.stream.len() < max {
            let room = max - batch.stream.len();
            let rest: Vec<Addr> = self.images.keys().take(room).copied().collect();
            for addr in rest {
                if let Some(json) = self.images.remove(&addr) {
                    batch.images.push((addr, json));
                }
            }
        }
        batch
    }

    /// Gives back a batch once written (empty), to reuse its capacity.
    pub fn recycle(&mut self, mut batch: Batch) {
        batch.clear();
        if batch.images.capacity() + batch.stream.capacity()
            > self.spare.images.capacity() + self.spare.stream.capacity()
        {
            self.spare = batch;
        }
    }

    /// Puts back what a failed write left in `batch`: older than what the
    /// buffer holds, so its image values yield to newer ones and its stream
    /// entries go first. Returns how many stream entries the cap left out.
    pub fn restore(&mut self, mut batch: Batch) -> u64 {
        for (addr, json) in batch.images.drain(..) {
            self.images.entry(addr).or_insert(json);
        }
        batch.stream.extend(self.stream.drain(..));
        mem::swap(&mut batch.stream, &mut self.stream);
        self.recycle(batch);
        self.loose = true;
        self.trim()
    }

    fn trim(&mut self) -> u64 {
        let excess = self.stream.len().saturating_sub(self.cap);
        if excess > 0 {
            self.stream.drain(..excess);
            self.loose = true;
        }
        excess as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(casdu: u16, ioa: u32, json: &str) -> PointRecord {
        PointRecord {
            casdu,
            ioa,
            json: json.to_owned(),
        }
    }

    fn stream_of(batch: &Batch) -> Vec<(Addr, &[u8])> {
        batch
            .stream
            .iter()
            .map(|e| (e.addr, e.json.as_ref()))
            .collect()
    }

    fn image_of(batch: &Batch, addr: Addr) -> Option<&[u8]> {
        batch
            .images
            .iter()
            .find(|(a, _)| *a == addr)
            .map(|(_, j)| j.as_ref())
    }

    #[test]
    fn keeps_the_last_image_value_and_every_stream_entry() {
        let mut buffer = Buffer::new(10);
        assert_eq!(buffer.push(point(1, 2, "a")), 0);
        assert_eq!(buffer.push(point(1, 2, "b")), 0);
        assert_eq!(buffer.push(point(1, 3, "c")), 0);
        let batch = buffer.take(usize::MAX);
        assert!(buffer.is_empty());
        assert_eq!(batch.images.len(), 2);
        assert_eq!(image_of(&batch, (1, 2)), Some(&b"b"[..]));
        assert_eq!(image_of(&batch, (1, 3)), Some(&b"c"[..]));
        assert_eq!(
            stream_of(&batch),
            [
                ((1, 2), &b"a"[..]),
                ((1, 2), &b"b"[..]),
                ((1, 3), &b"c"[..])
            ]
        );
    }

    #[test]
    fn drops_the_oldest_stream_entries_beyond_the_cap() {
        let mut buffer = Buffer::new(2);
        buffer.push(point(1, 1, "1"));
        buffer.push(point(1, 2, "2"));
        assert_eq!(buffer.push(point(1, 3, "3")), 1);
        let batch = buffer.take(usize::MAX);
        assert_eq!(
            stream_of(&batch),
            [((1, 2), &b"2"[..]), ((1, 3), &b"3"[..])]
        );
        // The image of a dropped entry is still written.
        assert_eq!(image_of(&batch, (1, 1)), Some(&b"1"[..]));
    }

    #[test]
    fn a_restored_batch_goes_before_newer_points_and_yields_its_images() {
        let mut buffer = Buffer::new(3);
        buffer.push(point(1, 1, "old"));
        buffer.push(point(1, 2, "x"));
        let failed = buffer.take(usize::MAX);
        buffer.push(point(1, 1, "new"));
        buffer.push(point(1, 3, "y"));
        assert_eq!(buffer.restore(failed), 1);
        let batch = buffer.take(usize::MAX);
        assert_eq!(image_of(&batch, (1, 1)), Some(&b"new"[..]));
        assert_eq!(image_of(&batch, (1, 2)), Some(&b"x"[..]));
        assert_eq!(
            stream_of(&batch),
            [
                ((1, 2), &b"x"[..]),
                ((1, 1), &b"new"[..]),
                ((1, 3), &b"y"[..])
            ]
        );
    }

    #[test]
    fn reuses_the_collections_of_a_recycled_batch() {
        let mut buffer = Buffer::new(100);
        for i in 0..50 {
            buffer.push(point(1, i, "v"));
        }
        let batch = buffer.take(usize::MAX);
        buffer.recycle(batch);
        buffer.push(point(1, 1, "v"));
        let next = buffer.take(usize::MAX);
        // The stream deques take turns between the buffer and the batch.
        assert!(next.images.capacity() >= 50);
    }

    #[test]
    fn a_zero_cap_keeps_images_only() {
        let mut buffer = Buffer::new(0);
        assert_eq!(buffer.push(point(7, 8, "v")), 1);
        let batch = buffer.take(usize::MAX);
        assert!(batch.stream.is_empty());
        assert_eq!(image_of(&batch, (7, 8)), Some(&b"v"[..]));
    }

    #[test]
    fn a_bounded_take_gives_the_oldest_entries_with_the_latest_image_of_each() {
        let mut buffer = Buffer::new(100);
        buffer.push(point(1, 1, "a1"));
        buffer.push(point(1, 2, "b1"));
        buffer.push(point(1, 1, "a2"));
        buffer.push(point(1, 3, "c1"));
        let batch = buffer.take(2);
        let stream: Vec<&[u8]> = batch.stream.iter().map(|e| e.json.as_ref()).collect();
        assert_eq!(stream, [b"a1".as_slice(), b"b1"]);
        let mut images: Vec<(Addr, &[u8])> =
            batch.images.iter().map(|(a, j)| (*a, j.as_ref())).collect();
        images.sort();
        // The image of (1,1) is its latest value, never older than an entry.
        assert_eq!(
            images,
            [((1, 1), b"a2".as_slice()), ((1, 2), b"b1".as_slice())]
        );
        let next = buffer.take(2);
        let stream: Vec<&[u8]> = next.stream.iter().map(|e| e.json.as_ref()).collect();
        assert_eq!(stream, [b"a2".as_slice(), b"c1"]);
        let images: Vec<Addr> = next.images.iter().map(|(a, _)| *a).collect();
        assert_eq!(
            images,
            [(1, 3)],
            "(1,1)'s latest image is already on its way"
        );
        assert!(buffer.is_empty());
    }

    #[test]
    fn settled_stops_at_the_oldest_entry_held_and_waits_after_drops_or_restores() {
        let mut buffer = Buffer::new(100);
        for i in 0..5 {
            buffer.push(point(1, i, "v"));
        }
        assert_eq!(buffer.settled(), Some(0));
        let first = buffer.take(2);
        buffer.recycle(first);
        // Two points written, three held.
        assert_eq!(buffer.settled(), Some(2));
        let rest = buffer.take(10);
        buffer.recycle(rest);
        assert_eq!(buffer.settled(), Some(5));

        // A failed write put back: no position until the buffer is empty.
        buffer.push(point(1, 9, "v"));
        buffer.push(point(1, 10, "v"));
        let failed = buffer.take(1);
        buffer.restore(failed);
        assert_eq!(buffer.settled(), None);
        let all = buffer.take(10);
        buffer.recycle(all);
        assert_eq!(buffer.settled(), Some(7));

        // Dropped entries leave their image values: no position either.
        let mut capped = Buffer::new(1);
        capped.push(point(1, 1, "a"));
        capped.push(point(1, 2, "b"));
        assert_eq!(capped.settled(), None);
        let batch = capped.take(10);
        assert_eq!(batch.images.len(), 2);
        capped.recycle(batch);
        assert_eq!(capped.settled(), Some(2));
    }
}
