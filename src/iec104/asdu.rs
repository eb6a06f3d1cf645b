//! Application service data units of the 104 profile (IEC 60870-5-101 §7,
//! IEC 60870-5-104 §8): a 6-octet data unit identifier — type id, variable
//! structure qualifier (SQ bit, number of objects), cause of transmission
//! with T and P/N bits, originator address, 2-octet common address — then
//! the information objects, each with a 3-octet address (SQ=0), or one
//! address followed by consecutive elements (SQ=1).
//!
//! [`Asdu::decode`] is handed exactly the octets the APCI length declared and
//! reads all of them: too few or too many is an error carrying the numbers.
//! Reserved and private type ids give [`AsduError::UnknownType`], and
//! [`Header::decode`] still reads their identifier, so that the caller can
//! mirror them back with cause 44 ([`mirror`]). [`Asdu::encode`] refuses what
//! the wire cannot carry (more than 249 octets or 127 objects, mixed types,
//! non-consecutive addresses under SQ=1); [`pack`] splits a list of objects
//! into as few ASDUs as those limits allow.

use std::fmt;

use super::cursor::{ReadCursor, Truncated};
use super::elements::OutOfRange;
use super::types::{Cause, Cot, Element, TypeId};

/// The largest ASDU an APDU can carry (253 - 4 octets of control field).
pub const MAX_ASDU_LEN: usize = 249;
/// Octets of the data unit identifier.
pub const HEADER_LEN: usize = 6;
/// Octets of an information object address.
pub const IOA_LEN: usize = 3;
/// The largest information object address.
pub const MAX_IOA: u32 = 0xFF_FFFF;
/// The most information objects one ASDU can declare (7 bits).
pub const MAX_OBJECTS: usize = 127;
/// The broadcast (global) common address.
pub const BROADCAST_CA: u16 = 0xFFFF;

/// A malformed ASDU from the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AsduError {
    #[error("ASDU of {0} octets is shorter than its 6-octet identifier")]
    TooShort(usize),
    #[error("ASDU of {0} octets exceeds the 249 an APDU can carry")]
    TooLong(usize),
    #[error("unknown type id {0}")]
    UnknownType(u8),
    #[error(
        "{type_id} with {count} objects ends early: {needed} more octets needed, {remaining} left"
    )]
    Truncated {
        type_id: TypeId,
        count: u8,
        needed: usize,
        remaining: usize,
    },
    #[error("{type_id} with {count} objects has {extra} trailing octets")]
    TrailingBytes {
        type_id: TypeId,
        count: u8,
        extra: usize,
    },
    #[error("sequence of {count} objects from IOA {base} passes the largest IOA 16777215")]
    IoaOverflow { base: u32, count: u8 },
}

/// An ASDU that cannot be put on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("ASDU would take {0} octets, more than 249")]
    TooLong(usize),
    #[error("{0} information objects, more than 127")]
    TooManyObjects(usize),
    #[error("object {index} is {found}, the ASDU is {expected}")]
    MixedTypes {
        index: usize,
        expected: TypeId,
        found: TypeId,
    },
    #[error("SQ=1 needs consecutive addresses: object {index} has IOA {ioa}, expected {expected}")]
    NotConsecutive {
        index: usize,
        ioa: u32,
        expected: u32,
    },
    #[error("IOA {0} is out of range 0..=16777215")]
    IoaOutOfRange(u32),
    #[error(transparent)]
    Element(#[from] OutOfRange),
}

/// The data unit identifier, readable for any type id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub type_id: u8,
    pub sequence: bool,
    pub count: u8,
    pub cot: Cot,
    pub originator: u8,
    pub common_address: u16,
}

impl Header {
    /// Reads the identifier at the start of `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Header, AsduError> {
        let mut c = ReadCursor::new(bytes);
        Self::read(&mut c).map_err(|_| AsduError::TooShort(bytes.len()))
    }

    fn read(c: &mut ReadCursor<'_>) -> Result<Header, Truncated> {
        let type_id = c.read_u8()?;
        let vsq = c.read_u8()?;
        let cot = Cot::from_octet(c.read_u8()?);
        let originator = c.read_u8()?;
        let common_address = c.read_u16_le()?;
        Ok(Header {
            type_id,
            sequence: vsq & 0x80 != 0,
            count: vsq & 0x7F,
            cot,
            originator,
            common_address,
        })
    }
}

/// One information object: its address and typed content.
#[derive(Debug, Clone, PartialEq)]
pub struct InformationObject {
    pub ioa: u32,
    pub element: Element,
}

impl InformationObject {
    pub fn new(ioa: u32, element: Element) -> Self {
        Self { ioa, element }
    }
}

/// A decoded or to-be-encoded ASDU.
#[derive(Debug, Clone, PartialEq)]
pub struct Asdu {
    pub type_id: TypeId,
    /// SQ=1: one address, then consecutive elements.
    pub sequence: bool,
    pub cot: Cot,
    pub originator: u8,
    pub common_address: u16,
    pub objects: Vec<InformationObject>,
}

impl Asdu {
    /// An ASDU with one information object.
    pub fn single(cot: Cot, common_address: u16, ioa: u32, element: Element) -> Asdu {
        Asdu {
            type_id: element.type_id(),
            sequence: false,
            cot,
            originator: 0,
            common_address,
            objects: vec![InformationObject { ioa, element }],
        }
    }

    /// Decodes exactly `bytes`: the octets an I-frame carried.
    pub fn decode(bytes: &[u8]) -> Result<Asdu, AsduError> {
        if bytes.len() > MAX_ASDU_LEN {
            return Err(AsduError::TooLong(bytes.len()));
        }
        let mut c = ReadCursor::new(bytes);
        let h = Header::read(&mut c).map_err(|_| AsduError::TooShort(bytes.len()))?;
        let type_id = TypeId::from_u8(h.type_id).ok_or(AsduError::UnknownType(h.type_id))?;
        let truncated = |t: Truncated| AsduError::Truncated {
            type_id,
            count: h.count,
            needed: t.needed,
            remaining: t.remaining,
        };
        let mut objects = Vec::with_capacity(usize::from(h.count));
        if h.sequence {
            if h.count > 0 {
                let base = c.read_u24_le().map_err(truncated)?;
                if base + u32::from(h.count) - 1 > MAX_IOA {
                    return Err(AsduError::IoaOverflow {
                        base,
                        count: h.count,
                    });
                }
                for i in 0..u32::from(h.count) {
                    let element = Element::read(type_id, &mut c).map_err(truncated)?;
                    objects.push(InformationObject {
                        ioa: base + i,
                        element,
                    });
                }
            }
        } else {
            for _ in 0..h.count {
                let ioa = c.read_u24_le().map_err(truncated)?;
                let element = Element::read(type_id, &mut c).map_err(truncated)?;
                objects.push(InformationObject { ioa, element });
            }
        }
        c.expect_empty().map_err(|extra| AsduError::TrailingBytes {
            type_id,
            count: h.count,
            extra,
        })?;
        Ok(Asdu {
            type_id,
            sequence: h.sequence,
            cot: h.cot,
            originator: h.originator,
            common_address: h.common_address,
            objects,
        })
    }

    /// The encoded length, after checking everything [`Asdu::encode`] checks.
    pub fn encoded_len(&self) -> Result<usize, EncodeError> {
        if self.objects.len() > MAX_OBJECTS {
            return Err(EncodeError::TooManyObjects(self.objects.len()));
        }
        let mut len = HEADER_LEN;
        let first_ioa = self.objects.first().map(|o| o.ioa).unwrap_or(0);
        if self.sequence && !self.objects.is_empty() {
            len += IOA_LEN;
        }
        for (index, (o, expected)) in self.objects.iter().zip(first_ioa..).enumerate() {
            let found = o.element.type_id();
            if found != self.type_id {
                return Err(EncodeError::MixedTypes {
                    index,
                    expected: self.type_id,
                    found,
                });
            }
            if o.ioa > MAX_IOA {
                return Err(EncodeError::IoaOutOfRange(o.ioa));
            }
            if self.sequence && o.ioa != expected {
                return Err(EncodeError::NotConsecutive {
                    index,
                    ioa: o.ioa,
                    expected,
                });
            }
            o.element.check()?;
            len += o.element.wire_len() + if self.sequence { 0 } else { IOA_LEN };
        }
        if len > MAX_ASDU_LEN {
            return Err(EncodeError::TooLong(len));
        }
        Ok(len)
    }

    /// Appends the encoded ASDU to `out`; on error nothing is appended.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let len = self.encoded_len()?;
        out.reserve(len);
        out.push(self.type_id.id());
        // encoded_len bounded the count by 127.
        let count = u8::try_from(self.objects.len()).unwrap_or(0);
        out.push(count | if self.sequence { 0x80 } else { 0 });
        out.push(self.cot.octet());
        out.push(self.originator);
        out.extend_from_slice(&self.common_address.to_le_bytes());
        for (i, o) in self.objects.iter().enumerate() {
            if !self.sequence || i == 0 {
                let [a, b, c, _] = o.ioa.to_le_bytes();
                out.extend_from_slice(&[a, b, c]);
            }
            o.element.write(out);
        }
        Ok(())
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode(&mut out)?;
        Ok(out)
    }

    /// The same ASDU with another cause, as an answer: `negative` sets P/N,
    /// the T bit is kept.
    pub fn reply(&self, cause: Cause, negative: bool) -> Asdu {
        let mut a = self.clone();
        a.cot = Cot {
            cause,
            test: self.cot.test,
            negative,
        };
        a
    }
}

/// The received ASDU octets sent back with another cause, unchanged
/// otherwise (as lib60870 answers what it cannot handle): `negative` sets
/// P/N, the T bit is kept. Works for any type id, known or not.
pub fn mirror(raw: &[u8], cause: Cause, negative: bool) -> Result<Vec<u8>, AsduError> {
    if raw.len() < HEADER_LEN {
        return Err(AsduError::TooShort(raw.len()));
    }
    if raw.len() > MAX_ASDU_LEN {
        return Err(AsduError::TooLong(raw.len()));
    }
    let mut out = raw.to_vec();
    if let Some(cot) = out.get_mut(2) {
        let old = Cot::from_octet(*cot);
        *cot = Cot {
            cause,
            test: old.test,
            negative,
        }
        .octet();
    }
    Ok(out)
}

/// Packs objects of one type, in the order given, into as few ASDUs as the
/// 249-octet and 127-object limits allow: runs of at least four consecutive
/// addresses go into SQ=1 ASDUs, the rest into SQ=0 ones. The order of the
/// objects is kept across the ASDUs.
pub fn pack(
    type_id: TypeId,
    cot: Cot,
    common_address: u16,
    objects: Vec<InformationObject>,
) -> Result<Vec<Asdu>, EncodeError> {
    /// A shorter run costs more as its own SQ=1 ASDU than the 3 octets per
    /// address it saves.
    const MIN_RUN: usize = 4;
    let template = Asdu {
        type_id,
        sequence: false,
        cot,
        originator: 0,
        common_address,
        objects: Vec::new(),
    };
    let mut out = Vec::new();
    let mut singles = Builder::new(&template, false);
    let mut objects = objects.into_iter().enumerate().peekable();
    while let Some((index, first)) = objects.next() {
        let mut run = vec![(index, first)];
        while let Some((i, o)) = objects.next_if(|(_, o)| {
            run.last()
                .is_some_and(|(_, l)| l.ioa.checked_add(1) == Some(o.ioa))
        }) {
            run.push((i, o));
        }
        if run.len() >= MIN_RUN {
            singles.flush(&mut out);
            let mut seq = Builder::new(&template, true);
            for (i, o) in run {
                seq.push(i, o, &mut out)?;
            }
            seq.flush(&mut out);
        } else {
            for (i, o) in run {
                singles.push(i, o, &mut out)?;
            }
        }
    }
    singles.flush(&mut out);
    Ok(out)
}

/// One ASDU being filled by [`pack`].
struct Builder {
    asdu: Asdu,
    len: usize,
}

impl Builder {
    fn new(template: &Asdu, sequence: bool) -> Builder {
        Builder {
            asdu: Asdu {
                sequence,
                ..template.clone()
            },
            len: HEADER_LEN + if sequence { IOA_LEN } else { 0 },
        }
    }

    fn push(
        &mut self,
        index: usize,
        o: InformationObject,
        out: &mut Vec<Asdu>,
    ) -> Result<(), EncodeError> {
        if o.element.type_id() != self.asdu.type_id {
            return Err(EncodeError::MixedTypes {
                index,
                expected: self.asdu.type_id,
                found: o.element.type_id(),
            });
        }
        if o.ioa > MAX_IOA {
            return Err(EncodeError::IoaOutOfRange(o.ioa));
        }
        o.element.check()?;
        let l = o.element.wire_len() + if self.asdu.sequence { 0 } else { IOA_LEN };
        if self.len + l > MAX_ASDU_LEN || self.asdu.objects.len() == MAX_OBJECTS {
            if self.asdu.objects.is_empty() {
                return Err(EncodeError::TooLong(self.len + l));
            }
            self.flush(out);
        }
        self.len += l;
        self.asdu.objects.push(o);
        Ok(())
    }

    fn flush(&mut self, out: &mut Vec<Asdu>) {
        if !self.asdu.objects.is_empty() {
            let objects = std::mem::take(&mut self.asdu.objects);
            out.push(Asdu {
                objects,
                ..self.asdu.clone()
            });
        }
        self.len = HEADER_LEN + if self.asdu.sequence { IOA_LEN } else { 0 };
    }
}

impl fmt::Display for Asdu {
    /// One line in the manner of a protocol analyser:
    /// `M_ME_TF_1(36) spont(3) CA 1 OA 0 SQ=0 n=2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} CA {} OA {} SQ={} n={}",
            self.type_id,
            self.cot,
            self.common_address,
            self.originator,
            u8::from(self.sequence),
            self.objects.len()
        )?;
        if f.alternate() {
            for o in &self.objects {
                write!(f, "\n  IOA {}: {:?}", o.ioa, o.element)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "asdu_tests.rs"]
mod tests;
