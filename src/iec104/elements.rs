//! Information elements (IEC 60870-5-101 §7.2.6): the building blocks of
//! information objects — values, quality descriptors and qualifiers.
//!
//! Every element reads and writes itself through [`Wire`]. Decoding keeps
//! every bit it was given, reserved ones included, so that decode → encode
//! gives back the same octets; meaning is exposed through accessors.
//! Elements whose fields can hold values the wire cannot carry (a step
//! position of 100) are checked by [`Wire::check`] before encoding.

use std::fmt;

use super::cursor::{ReadCursor, Truncated};

/// A value that the wire format cannot carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{field} = {value} is out of range {min}..={max}")]
pub struct OutOfRange {
    pub field: &'static str,
    pub value: i64,
    pub min: i64,
    pub max: i64,
}

/// Reading and writing one information element.
pub trait Wire: Sized {
    fn read(c: &mut ReadCursor<'_>) -> Result<Self, Truncated>;
    fn write(&self, out: &mut Vec<u8>);
    /// Encoded length in octets.
    fn wire_len(&self) -> usize;
    /// Whether every field fits its wire format.
    fn check(&self) -> Result<(), OutOfRange> {
        Ok(())
    }
}

macro_rules! wire_int {
    ($t:ty, $read:ident, $len:expr) => {
        impl Wire for $t {
            fn read(c: &mut ReadCursor<'_>) -> Result<Self, Truncated> {
                c.$read()
            }
            fn write(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn wire_len(&self) -> usize {
                $len
            }
        }
    };
}

wire_int!(u8, read_u8, 1);
wire_int!(u16, read_u16_le, 2);
wire_int!(i16, read_i16_le, 2);
wire_int!(u32, read_u32_le, 4);
wire_int!(i32, read_i32_le, 4);
wire_int!(f32, read_f32_le, 4);

/// A 3-octet unsigned integer (length of file or section, LOF/LOS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct U24(pub u32);

impl U24 {
    pub const MAX: u32 = 0xFF_FFFF;
}

impl Wire for U24 {
    fn read(c: &mut ReadCursor<'_>) -> Result<Self, Truncated> {
        c.read_u24_le().map(U24)
    }
    fn write(&self, out: &mut Vec<u8>) {
        let [a, b, c, _] = self.0.to_le_bytes();
        out.extend_from_slice(&[a, b, c]);
    }
    fn wire_len(&self) -> usize {
        3
    }
    fn check(&self) -> Result<(), OutOfRange> {
        range("length", self.0.into(), 0, U24::MAX.into())
    }
}

fn range(field: &'static str, value: i64, min: i64, max: i64) -> Result<(), OutOfRange> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(OutOfRange {
            field,
            value,
            min,
            max,
        })
    }
}

macro_rules! octet_newtype {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(pub u8);

        impl Wire for $name {
            fn read(c: &mut ReadCursor<'_>) -> Result<Self, Truncated> {
                c.read_u8().map($name)
            }
            fn write(&self, out: &mut Vec<u8>) {
                out.push(self.0);
            }
            fn wire_len(&self) -> usize {
                1
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:#04x})"), self.0)
            }
        }
    };
}

octet_newtype!(
    /// Quality descriptor bits shared by QDS, the quality part of SIQ, DIQ
    /// and SEP, and QDP: IV 0x80, NT 0x40, SB 0x20, BL 0x10, EI 0x08 (QDP,
    /// SEP), OV 0x01 (QDS). The raw octet is kept as received.
    Quality
);

impl Quality {
    pub const GOOD: Quality = Quality(0);
    pub const OV: u8 = 0x01;
    pub const EI: u8 = 0x08;
    pub const BL: u8 = 0x10;
    pub const SB: u8 = 0x20;
    pub const NT: u8 = 0x40;
    pub const IV: u8 = 0x80;

    /// Overflow (QDS only).
    pub fn overflow(self) -> bool {
        self.0 & Self::OV != 0
    }
    /// Elapsed time invalid (QDP and SEP only).
    pub fn elapsed_invalid(self) -> bool {
        self.0 & Self::EI != 0
    }
    pub fn blocked(self) -> bool {
        self.0 & Self::BL != 0
    }
    pub fn substituted(self) -> bool {
        self.0 & Self::SB != 0
    }
    pub fn not_topical(self) -> bool {
        self.0 & Self::NT != 0
    }
    pub fn invalid(self) -> bool {
        self.0 & Self::IV != 0
    }
    /// This quality with `bits` set or cleared.
    #[must_use]
    pub fn with(self, bits: u8, on: bool) -> Quality {
        if on {
            Quality(self.0 | bits)
        } else {
            Quality(self.0 & !bits)
        }
    }
}

/// Single-point information with quality (SIQ): SPI in bit 0, quality bits
/// above. The OV position (bit 0) is the value here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SinglePoint {
    pub value: bool,
    /// Bits 1..7 of the SIQ octet; bit 0 is ignored on encode.
    pub quality: Quality,
}

impl Wire for SinglePoint {
    fn read(c: &mut ReadCursor<'_>) -> Result<Self, Truncated> {
        let b = c.read_u8()?;
        Ok(SinglePoint {
            value: b & 0x01 != 0,
            quality: Quality(b & 0xFE),
        })
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.push((self.quality.0 & 0xFE) | u8::from(self.value));
    }
    fn wire_len(&self) -> usize {
        1
    }
}

/// The two-bit state of a double point, a double command or a protection
/// event (DPI, DCS, ES).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DoubleState {
    /// 0: intermediate (not determined, in transit).
    #[default]
    Intermediate = 0,
    /// 1: determined state OFF.
    Off = 1,
    /// 2: determined state ON.
    On = 2,
    /// 3: indeterminate.
    Indeterminate = 3,
}

impl DoubleState {
    pub fn from_bits(b: u8) -> DoubleState {
        match b & 0x03 {
            0 => DoubleState::Intermediate,
            1 => DoubleState::Off,
            2 => DoubleState::On,
            _ => DoubleState::Indeterminate,
        }
    }
    pub fn bits(self) -> u8 {
        self as u8
    }
}

/// Double-point information with quality (DIQ), also the layout of the
/// single event of protection equipment (SEP: ES bits 0-1, EI 0x08).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DoublePoint {
    pub value: DoubleState,
    /// Bits 2..7 of the octet; bits 0-1 are ignored on encode.
    pub quality: Quality,
}

impl Wire for DoublePoint {
    fn read(c: &mut ReadCursor<'_>) -> Result<Self, Truncated> {
        let b = c.read_u8()?;
        Ok(DoublePoint {
            value: DoubleState::from_bits(b),
            quality: Quality(b & 0xFC),
        })
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.push((self.quality.0 & 0xFC) | self.value.bits());
    }
    fn wire_len(&self) -> usize {
        1
    }
}

/// Single event of protection equipment (SEP).
pub type ProtectionEvent = DoublePoint;

/// Value with transient state indication (VTI): a 7-bit two's complement
/// step position -64..=63 and the transient bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StepPosition {
    pub value: i8,
    pub transient: bool,
}

impl Wire for StepPosition {
    fn read(c: &mut ReadCursor<'_>) -> Result<Self, Truncated> {
        let b = c.read_u8()?;
        // Sign-extend the 7-bit field: shift it to the top, then back.
        let value = i8::from_ne_bytes([b << 1]) >> 1;
        Ok(StepPosition {
            value,
            transient: b & 0x80 != 0,
        })
    }
    fn write(&self, out: &mut Vec<u8>) {
        let [v] = self.value.to_ne_bytes();
        out.push((v & 0x7F) | if self.transient { 0x80 } else { 0 });
    }
    fn wire_len(&self) -> usize {
        1
    }
    fn check(&self) -> Result<(), OutOfRange> {
        range("step position", self.value.into(), -64, 63)
    }
}

/// Normalized value (NVA): a fixed-point fraction, raw / 32768, in [-1, 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Normalized(pub i16);

impl Normalized {
    pub fn to_f64(self) -> f64 {
        f64::from(self.0) / 32768.0
    }
    /// The nearest normalized value, saturating at the ends of [-1, 1).
    pub fn from_f64(v: f64) -> Normalized {
        let raw = (v * 32768.0).round().clamp(-32768.0, 32767.0);
        // In range after the clamp; NaN becomes 0.
        Normalized(raw as i16)
    }
}

impl Wire for Normalized {
    fn read(c: &mut ReadCursor<'_>) -> Result<Self, Truncated> {
        c.read_i16_le().map(Normalized)
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_le_bytes());
    }
    fn wire_len(&self) -> usize {
        2
    }
}

/// Binary counter reading (BCR): counter value, sequence number 0..31,
/// carry (CY 0x20), counter adjusted (CA 0x40), invalid (IV 0x80).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BinaryCounter {
    pub value: i32,
    pub sequence: u8,
    pub carry: bool,
    pub adjusted: bool,
    pub invalid: bool,
}

impl Wire for BinaryCounter {
    fn read(c: &mut ReadCursor<'_>) -> Result<Self, Truncated> {
        let value = c.read_i32_le()?;
        let b = c.read_u8()?;
        Ok(BinaryCounter {
            value,
            sequence: b & 0x1F,
            carry: b & 0x20 != 0,
            adjusted: b & 0x40 != 0,
            invalid: b & 0x80 != 0,
        })
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.value.to_le_bytes());
        let mut b = self.sequence & 0x1F;
        if self.carry {
            b |= 0x20;
        }
        if self.adjusted {
            b |= 0x40;
        }
        if self.invalid {
            b |= 0x80;
        }
        out.push(b);
    }
    fn wire_len(&self) -> usize {
        5
    }
    fn check(&self) -> Result<(), OutOfRange> {
        range("counter sequence", self.sequence.into(), 0, 31)
    }
}

/// Status and change detection (SCD): 16 packed single points and their
/// 16 change bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatusChanges {
    pub status: u16,
    pub changes: u16,
}

impl Wire for StatusChanges {
    fn read(c: &mut ReadCursor<'_>) -> Result<Self, Truncated> {
        Ok(StatusChanges {
            status: c.read_u16_le()?,
            changes: c.read_u16_le()?,
        })
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.status.to_le_bytes());
        out.extend_from_slice(&self.changes.to_le_bytes());
    }
    fn wire_len(&self) -> usize {
        4
    }
}

octet_newtype!(
    /// Start events of protection equipment (SPE): GS 0x01, SL1 0x02,
    /// SL2 0x04, SL3 0x08, SIE 0x10, SRD 0x20.
    StartEvents
);

impl StartEvents {
    pub fn general(self) -> bool {
        self.0 & 0x01 != 0
    }
    pub fn phase_l1(self) -> bool {
        self.0 & 0x02 != 0
    }
    pub fn phase_l2(self) -> bool {
        self.0 & 0x04 != 0
    }
    pub fn phase_l3(self) -> bool {
        self.0 & 0x08 != 0
    }
    pub fn earth_current(self) -> bool {
        self.0 & 0x10 != 0
    }
    pub fn reverse_direction(self) -> bool {
        self.0 & 0x20 != 0
    }
}

octet_newtype!(
    /// Output circuit information of protection equipment (OCI): GC 0x01,
    /// CL1 0x02, CL2 0x04, CL3 0x08.
    OutputCircuits
);

impl OutputCircuits {
    pub fn general(self) -> bool {
        self.0 & 0x01 != 0
    }
    pub fn phase_l1(self) -> bool {
        self.0 & 0x02 != 0
    }
    pub fn phase_l2(self) -> bool {
        self.0 & 0x04 != 0
    }
    pub fn phase_l3(self) -> bool {
        self.0 & 0x08 != 0
    }
}

octet_newtype!(
    /// Single command (SCO): SCS bit 0, QU bits 2-6, S/E bit 7.
    SingleCommand
);

impl SingleCommand {
    pub fn new(on: bool, qualifier: u8, select: bool) -> SingleCommand {
        SingleCommand(u8::from(on) | ((qualifier & 0x1F) << 2) | if select { 0x80 } else { 0 })
    }
    pub fn state(self) -> bool {
        self.0 & 0x01 != 0
    }
    /// Qualifier of command (QU): 0 none, 1 short pulse, 2 long pulse, 3 persistent.
    pub fn qualifier(self) -> u8 {
        (self.0 >> 2) & 0x1F
    }
    /// Select (true) or execute (false).
    pub fn select(self) -> bool {
        self.0 & 0x80 != 0
    }
}

octet_newtype!(
    /// Double command (DCO) or regulating step command (RCO): state bits
    /// 0-1, QU bits 2-6, S/E bit 7.
    DoubleCommand
);

impl DoubleCommand {
    pub fn new(state: DoubleState, qualifier: u8, select: bool) -> DoubleCommand {
        DoubleCommand(state.bits() | ((qualifier & 0x1F) << 2) | if select { 0x80 } else { 0 })
    }
    pub fn state(self) -> DoubleState {
        DoubleState::from_bits(self.0)
    }
    pub fn qualifier(self) -> u8 {
        (self.0 >> 2) & 0x1F
    }
    pub fn select(self) -> bool {
        self.0 & 0x80 != 0
    }
}

/// Regulating step command (RCO): 1 next step lower, 2 next step higher.
pub type StepCommand = DoubleCommand;

octet_newtype!(
    /// Qualifier of set-point command (QOS): QL bits 0-6, S/E bit 7.
    SetpointQualifier
);

impl SetpointQualifier {
    pub fn ql(self) -> u8 {
        self.0 & 0x7F
    }
    pub fn select(self) -> bool {
        self.0 & 0x80 != 0
    }
}

octet_newtype!(
    /// Qualifier of interrogation (QOI): 20 station, 21..=36 groups 1..16.
    Qoi
);

impl Qoi {
    pub const STATION: Qoi = Qoi(20);
    /// The group 1..=16 this qualifier asks for, if it is a group interrogation.
    pub fn group(self) -> Option<u8> {
        (21..=36).contains(&self.0).then(|| self.0 - 20)
    }
}

octet_newtype!(
    /// Qualifier of counter interrogation (QCC): RQT bits 0-5 (5 general,
    /// 1..4 groups), FRZ bits 6-7 (0 read, 1 freeze, 2 freeze and reset,
    /// 3 reset).
    Qcc
);

impl Qcc {
    pub fn request(self) -> u8 {
        self.0 & 0x3F
    }
    pub fn freeze(self) -> u8 {
        self.0 >> 6
    }
}

/// A segment of a file (F_SG_NA_1): length octet (LOS) then the data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Segment(pub Vec<u8>);

impl Wire for Segment {
    fn read(c: &mut ReadCursor<'_>) -> Result<Self, Truncated> {
        let len = c.read_u8()?;
        Ok(Segment(c.read_bytes(usize::from(len))?.to_vec()))
    }
    fn write(&self, out: &mut Vec<u8>) {
        // check() keeps the length within one octet.
        out.push(u8::try_from(self.0.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(&self.0);
    }
    fn wire_len(&self) -> usize {
        1 + self.0.len()
    }
    fn check(&self) -> Result<(), OutOfRange> {
        range("segment length", self.0.len() as i64, 0, 255)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip<T: Wire + PartialEq + fmt::Debug>(bytes: &[u8], expected: T) {
        let mut c = ReadCursor::new(bytes);
        let got = T::read(&mut c).expect("decodes");
        assert_eq!(got, expected);
        assert_eq!(c.expect_empty(), Ok(()));
        let mut out = Vec::new();
        got.write(&mut out);
        assert_eq!(out, bytes);
        assert_eq!(got.wire_len(), bytes.len());
    }

    #[test]
    fn siq_keeps_value_and_quality_bits_apart() {
        roundtrip(
            &[0x81],
            SinglePoint {
                value: true,
                quality: Quality(0x80),
            },
        );
        roundtrip(
            &[0x50],
            SinglePoint {
                value: false,
                quality: Quality(0x50),
            },
        );
    }

    #[test]
    fn diq_decodes_all_four_states() {
        for (b, s) in [
            (0u8, DoubleState::Intermediate),
            (1, DoubleState::Off),
            (2, DoubleState::On),
            (3, DoubleState::Indeterminate),
        ] {
            roundtrip(
                &[b | 0x20],
                DoublePoint {
                    value: s,
                    quality: Quality(0x20),
                },
            );
        }
    }

    #[test]
    fn vti_sign_extends_seven_bits() {
        roundtrip(
            &[0x40],
            StepPosition {
                value: -64,
                transient: false,
            },
        );
        roundtrip(
            &[0xBF],
            StepPosition {
                value: 63,
                transient: true,
            },
        );
        roundtrip(
            &[0x7F],
            StepPosition {
                value: -1,
                transient: false,
            },
        );
    }

    #[test]
    fn step_position_out_of_range_is_refused_before_encoding() {
        let e = StepPosition {
            value: 64,
            transient: false,
        }
        .check();
        assert_eq!(
            e,
            Err(OutOfRange {
                field: "step position",
                value: 64,
                min: -64,
                max: 63
            })
        );
    }

    #[test]
    fn bcr_carries_sequence_and_flags() {
        roundtrip(
            &[0x78, 0x56, 0x34, 0x12, 0x20 | 0x40 | 0x80 | 7],
            BinaryCounter {
                value: 0x12345678,
                sequence: 7,
                carry: true,
                adjusted: true,
                invalid: true,
            },
        );
    }

    #[test]
    fn normalized_is_raw_over_32768() {
        assert_eq!(Normalized(-32768).to_f64(), -1.0);
        assert_eq!(Normalized(16384).to_f64(), 0.5);
        assert_eq!(Normalized::from_f64(1.0), Normalized(32767));
        assert_eq!(Normalized::from_f64(f64::NAN), Normalized(0));
    }

    #[test]
    fn command_qualifiers_pack_their_fields() {
        let sco = SingleCommand::new(true, 3, true);
        assert_eq!(sco.0, 0x8D);
        assert!(sco.state() && sco.select());
        assert_eq!(sco.qualifier(), 3);
        let dco = DoubleCommand::new(DoubleState::On, 1, false);
        assert_eq!(dco.0, 0x06);
        assert_eq!(Qoi(21).group(), Some(1));
        assert_eq!(Qoi(20).group(), None);
    }

    #[test]
    fn segment_reads_its_declared_length() {
        roundtrip(&[3, 9, 8, 7], Segment(vec![9, 8, 7]));
        let mut c = ReadCursor::new(&[4, 1]);
        assert_eq!(
            Segment::read(&mut c),
            Err(Truncated {
                needed: 4,
                remaining: 1
            })
        );
    }
}
