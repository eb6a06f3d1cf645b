//! The data ASDUs of an interrogation answer, produced one at a time so that
//! a station of any size is answered under the k window without building
//! the whole answer first.
//!
//! Points come in ascending IOA; each run of one type is packed by
//! [`asdu::pack`] in chunks. The last ASDU of a chunk is held back and its
//! objects are packed again with the next chunk, so chunking never leaves a
//! half-filled ASDU in the middle of a run.

use std::collections::VecDeque;
use std::iter::Peekable;

use tracing::warn;

use crate::iec104::asdu::{self, Asdu, InformationObject, MAX_IOA};
use crate::iec104::types::{Cot, Element, TypeId};

/// Objects packed at once; several ASDUs' worth (at most 127 fit one).
const CHUNK: usize = 512;

/// An iterator over the data ASDUs answering an interrogation of one
/// station: cause, common address and originator as given.
pub(crate) struct Answer<I: Iterator<Item = (u32, Element)>> {
    points: Peekable<I>,
    cot: Cot,
    common_address: u16,
    originator: u8,
    ready: VecDeque<Asdu>,
    run: Vec<InformationObject>,
    skipped: usize,
}

impl<I: Iterator<Item = (u32, Element)>> Answer<I> {
    pub(crate) fn new(points: I, cot: Cot, common_address: u16, originator: u8) -> Self {
        Self {
            points: points.peekable(),
            cot,
            common_address,
            originator,
            ready: VecDeque::new(),
            run: Vec::new(),
            skipped: 0,
        }
    }

    /// Points left out because the wire cannot carry them (an IOA above
    /// 24 bits, a field out of range); each was logged.
    pub(crate) fn skipped(&self) -> usize {
        self.skipped
    }

    fn run_type(&self) -> Option<TypeId> {
        self.run.first().map(|o| o.element.type_id())
    }

    /// Packs the run; with `keep_last`, the objects of the last ASDU stay in
    /// the run to be packed with what follows.
    fn pack(&mut self, keep_last: bool) {
        let Some(type_id) = self.run_type() else {
            return;
        };
        let objects = std::mem::take(&mut self.run);
        match asdu::pack(type_id, self.cot, self.common_address, objects) {
            Ok(mut asdus) => {
                if keep_last && let Some(last) = asdus.pop() {
                    self.run = last.objects;
                }
                for mut a in asdus {
                    a.originator = self.originator;
                    self.ready.push_back(a);
                }
            }
            Err(error) => {
                // Unreachable: every object was checked before it joined
                // the run, and a run holds one type.
                warn!(%error, "interrogation answer: a run could not be packed");
            }
        }
    }

    fn admit(&mut self, ioa: u32, element: &Element) -> bool {
        let fits = if ioa > MAX_IOA {
            Err(format!("IOA {ioa} is above {MAX_IOA}"))
        } else {
            element.check().map_err(|e| e.to_string())
        };
        match fits {
            Ok(()) => true,
            Err(reason) => {
                self.skipped += 1;
                warn!(
                    ca = self.common_address,
                    ioa, reason, "point left out of the interrogation answer"
                );
                false
            }
        }
    }
}

impl<I: Iterator<Item = (u32, Element)>> Iterator for Answer<I> {
    type Item = Asdu;

    fn next(&mut self) -> Option<Asdu> {
        loop {
            if let Some(a) = self.ready.pop_front() {
                return Some(a);
            }
            let next_type = self.points.peek().map(|(_, e)| e.type_id());
            match next_type {
                None if self.run.is_empty() => return None,
                None => self.pack(false),
                Some(t) if self.run_type().is_some_and(|r| r != t) => self.pack(false),
                Some(_) => {
                    if let Some((ioa, element)) = self.points.next()
                        && self.admit(ioa, &element)
                    {
                        self.run.push(InformationObject::new(ioa, element));
                        if self.run.len() >= CHUNK {
                            self.pack(true);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iec104::elements::{Quality, SinglePoint, StepPosition};
    use crate::iec104::types::Cause;

    fn float(v: f32) -> Element {
        Element::M_ME_NC_1 {
            value: v,
            quality: Quality::GOOD,
        }
    }

    fn sp(v: bool) -> Element {
        Element::M_SP_NA_1 {
            value: SinglePoint {
                value: v,
                quality: Quality::GOOD,
            },
        }
    }

    fn answer(points: Vec<(u32, Element)>) -> Vec<Asdu> {
        Answer::new(points.into_iter(), Cot::new(Cause::INTERROGATED), 7, 3).collect()
    }

    fn objects(asdus: &[Asdu]) -> Vec<(u32, Element)> {
        asdus
            .iter()
            .flat_map(|a| a.objects.iter().map(|o| (o.ioa, o.element.clone())))
            .collect()
    }

    #[test]
    fn packs_each_run_of_one_type_and_keeps_ascending_order() {
        let points: Vec<(u32, Element)> = vec![
            (1, sp(true)),
            (2, sp(false)),
            (10, float(1.0)),
            (11, float(2.0)),
            (12, float(3.0)),
            (13, float(4.0)),
            (20, sp(true)),
        ];
        let asdus = answer(points.clone());
        let shape: Vec<(TypeId, bool, usize)> = asdus
            .iter()
            .map(|a| (a.type_id, a.sequence, a.objects.len()))
            .collect();
        assert_eq!(
            shape,
            [
                (TypeId::M_SP_NA_1, false, 2),
                (TypeId::M_ME_NC_1, true, 4),
                (TypeId::M_SP_NA_1, false, 1)
            ]
        );
        assert_eq!(objects(&asdus), points);
        for a in &asdus {
            assert_eq!(
                (a.cot, a.common_address, a.originator),
                (Cot::new(Cause::INTERROGATED), 7, 3)
            );
        }
    }

    #[test]
    fn a_long_run_is_chunked_without_half_filled_asdus_inside_it() {
        // 10 000 consecutive floats: 48 fit one SQ=1 ASDU of M_ME_NC_1
        // (6 + 3 + 48 * 5 = 249 octets), so ceil(10000 / 48) = 209 ASDUs.
        let n = 10_000u32;
        let points: Vec<(u32, Element)> = (0..n).map(|i| (i, float(i as f32))).collect();
        let asdus = answer(points.clone());
        assert_eq!(asdus.len(), 209);
        assert!(asdus.iter().all(|a| a.sequence));
        let (last, full) = asdus.split_last().expect("some");
        assert!(full.iter().all(|a| a.objects.len() == 48));
        assert_eq!(last.objects.len(), 10_000 - 208 * 48);
        assert_eq!(objects(&asdus), points);
        assert!(asdus.iter().all(|a| a.to_bytes().is_ok()));
    }

    #[test]
    fn is_lazy_a_first_asdu_needs_one_chunk_only() {
        let mut taken = 0usize;
        let points = (0..1_000_000u32)
            .map(|i| (i, float(0.0)))
            .inspect(|_| taken += 1);
        let mut a = Answer::new(points, Cot::new(Cause::INTERROGATED), 1, 0);
        assert!(a.next().is_some());
        drop(a);
        assert!(taken <= CHUNK + 1, "{taken} points read for the first ASDU");
    }

    #[test]
    fn points_the_wire_cannot_carry_are_left_out_and_counted() {
        let bad_step = Element::M_ST_NA_1 {
            value: StepPosition {
                value: 100,
                transient: false,
            },
            quality: Quality::GOOD,
        };
        let points = vec![(1, sp(true)), (2, bad_step), (MAX_IOA + 1, sp(false))];
        let mut a = Answer::new(points.into_iter(), Cot::new(Cause::INTERROGATED), 1, 0);
        let asdus: Vec<Asdu> = a.by_ref().collect();
        assert_eq!(objects(&asdus), [(1, sp(true))]);
        assert_eq!(a.skipped(), 2);
    }

    #[test]
    fn no_points_no_asdus() {
        assert!(answer(Vec::new()).is_empty());
    }
}
