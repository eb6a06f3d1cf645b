//! APDU framing of IEC 60870-5-104 (§5): start octet, length octet, control
//! field, and the ASDU octets the length declares.
//!
//! Data flow: the link engine ([`super::link`]) hands the bytes received so
//! far to [`decode_frame`], which answers "need more bytes", one [`Apdu`]
//! (control information plus the ASDU octets, untouched) or a
//! [`FrameError`]; it never skips garbage. In the other direction
//! [`encode_i`], [`encode_s`] and [`encode_u`] append complete frames to an
//! output buffer. The ASDU octets are opaque here; [`super::asdu`] parses them.
//!
//! Reserved bits follow lib60870: the second control octet of an S-frame,
//! the upper six bits of its first octet, the least significant bit of the
//! third octet of I- and S-frames and the last three octets of a U-frame are
//! ignored on decoding and always encoded as zero.

use core::fmt;

/// The start octet of every APDU.
pub const START: u8 = 0x68;

/// Octets before the length-counted part: start octet and length octet.
pub const HEADER_LEN: usize = 2;

/// Octets of the control field.
pub const CONTROL_LEN: usize = 4;

/// Smallest value of the length octet (control field only).
pub const MIN_LENGTH: u8 = 4;

/// Largest value of the length octet (control field plus the longest ASDU).
pub const MAX_LENGTH: u8 = 253;

/// The longest ASDU an I-frame carries.
pub const MAX_ASDU_LEN: usize = 249;

/// Sequence numbers count modulo this value (15 bits).
pub const SEQ_MODULUS: u16 = 32768;

/// The largest sequence number.
pub const MAX_SEQ: u16 = SEQ_MODULUS - 1;

/// The six functions of a U-format APDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UFunction {
    /// STARTDT act: start data transfer.
    StartDtAct,
    /// STARTDT con.
    StartDtCon,
    /// STOPDT act: stop data transfer.
    StopDtAct,
    /// STOPDT con.
    StopDtCon,
    /// TESTFR act: test frame.
    TestFrAct,
    /// TESTFR con.
    TestFrCon,
}

impl UFunction {
    /// The first control octet that encodes this function.
    pub const fn octet(self) -> u8 {
        match self {
            Self::StartDtAct => 0x07,
            Self::StartDtCon => 0x0B,
            Self::StopDtAct => 0x13,
            Self::StopDtCon => 0x23,
            Self::TestFrAct => 0x43,
            Self::TestFrCon => 0x83,
        }
    }

    /// The function a first control octet encodes, if it is one of the six.
    pub const fn from_octet(octet: u8) -> Option<Self> {
        match octet {
            0x07 => Some(Self::StartDtAct),
            0x0B => Some(Self::StartDtCon),
            0x13 => Some(Self::StopDtAct),
            0x23 => Some(Self::StopDtCon),
            0x43 => Some(Self::TestFrAct),
            0x83 => Some(Self::TestFrCon),
            _ => None,
        }
    }

    /// The confirmation that answers this activation; `None` for a confirmation.
    pub const fn confirmation(self) -> Option<Self> {
        match self {
            Self::StartDtAct => Some(Self::StartDtCon),
            Self::StopDtAct => Some(Self::StopDtCon),
            Self::TestFrAct => Some(Self::TestFrCon),
            Self::StartDtCon | Self::StopDtCon | Self::TestFrCon => None,
        }
    }
}

impl fmt::Display for UFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::StartDtAct => "STARTDT act",
            Self::StartDtCon => "STARTDT con",
            Self::StopDtAct => "STOPDT act",
            Self::StopDtCon => "STOPDT con",
            Self::TestFrAct => "TESTFR act",
            Self::TestFrCon => "TESTFR con",
        })
    }
}

/// The control field of an APDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Apci {
    /// Numbered information transfer: N(S) and N(R), each `0..=32767`.
    I {
        /// N(S), the send sequence number of this frame.
        send_seq: u16,
        /// N(R), the next sequence number the sender expects to receive.
        recv_seq: u16,
    },
    /// Numbered supervisory function: acknowledges up to N(R).
    S {
        /// N(R).
        recv_seq: u16,
    },
    /// Unnumbered control function.
    U(UFunction),
}

impl Apci {
    /// The frame format of this control field.
    pub const fn format(&self) -> Format {
        match self {
            Self::I { .. } => Format::I,
            Self::S { .. } => Format::S,
            Self::U(_) => Format::U,
        }
    }
}

impl fmt::Display for Apci {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::I { send_seq, recv_seq } => write!(f, "I(S={send_seq},R={recv_seq})"),
            Self::S { recv_seq } => write!(f, "S(R={recv_seq})"),
            Self::U(function) => write!(f, "U({function})"),
        }
    }
}

/// The three frame formats, named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Information transfer.
    I,
    /// Supervisory.
    S,
    /// Unnumbered control.
    U,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::I => "I",
            Self::S => "S",
            Self::U => "U",
        })
    }
}

/// One decoded APDU, borrowing its ASDU from the receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Apdu<'a> {
    /// The control field.
    pub apci: Apci,
    /// The ASDU octets of an I-frame; empty for S and U.
    pub asdu: &'a [u8],
}

/// `I(S=5,R=3) 16 octets` (the ASDU length), `S(R=3)`, `U(STARTDT act)`;
/// the alternate form `{:#}` appends the ASDU in hex.
impl fmt::Display for Apdu<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.apci)?;
        if let Apci::I { .. } = self.apci {
            write!(f, " {} octets", self.asdu.len())?;
            if f.alternate() {
                f.write_str(":")?;
                for octet in self.asdu {
                    write!(f, " {octet:02X}")?;
                }
            }
        }
        Ok(())
    }
}

/// Why bytes are not a valid APDU, or why an APDU cannot be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The first octet is not 0x68.
    #[error("start octet 0x{0:02X} is not 0x68")]
    BadStart(u8),
    /// The length octet is outside 4..=253.
    #[error("APDU length {0} is out of range 4..=253")]
    BadLength(u8),
    /// A U-format first control octet that is none of the six functions.
    #[error("U-format control octet 0x{0:02X} is not one of STARTDT, STOPDT, TESTFR act/con")]
    BadUFunction(u8),
    /// An I-frame with length 4, that is without ASDU.
    #[error("I-format APDU without ASDU")]
    EmptyIFrame,
    /// An S- or U-frame whose length octet is not 4.
    #[error("{format}-format APDU has length {length}, expected 4")]
    UnexpectedPayload {
        /// The frame format.
        format: Format,
        /// The length octet received.
        length: u8,
    },
    /// An ASDU to encode is longer than [`MAX_ASDU_LEN`].
    #[error("ASDU of {0} octets is longer than 249")]
    AsduTooLong(usize),
    /// A sequence number to encode is larger than [`MAX_SEQ`].
    #[error("sequence number {0} is out of range 0..=32767")]
    SeqOutOfRange(u16),
}

/// Decodes the APDU at the start of `buf`.
///
/// `Ok(None)`: the frame is not complete yet. `Ok(Some((apdu, used)))`: one
/// frame of `used` octets; the ASDU is exactly the octets the length
/// declares. Errors are reported as soon as the offending octet is present.
pub fn decode_frame(buf: &[u8]) -> Result<Option<(Apdu<'_>, usize)>, FrameError> {
    let Some((&start, rest)) = buf.split_first() else {
        return Ok(None);
    };
    if start != START {
        return Err(FrameError::BadStart(start));
    }
    let Some((&length, rest)) = rest.split_first() else {
        return Ok(None);
    };
    if !(MIN_LENGTH..=MAX_LENGTH).contains(&length) {
        return Err(FrameError::BadLength(length));
    }
    let Some(body) = rest.get(..usize::from(length)) else {
        return Ok(None);
    };
    let Some((control, asdu)) = body.split_first_chunk::<CONTROL_LEN>() else {
        return Err(FrameError::BadLength(length));
    };
    let apci = decode_control(*control, length, asdu.is_empty())?;
    // body.len() <= 253, so this sum cannot overflow.
    let used = HEADER_LEN + body.len();
    Ok(Some((Apdu { apci, asdu }, used)))
}

fn decode_control(control: [u8; 4], length: u8, empty: bool) -> Result<Apci, FrameError> {
    let [c1, c2, c3, c4] = control;
    if c1 & 0x01 == 0 {
        if empty {
            return Err(FrameError::EmptyIFrame);
        }
        return Ok(Apci::I {
            send_seq: u16::from_le_bytes([c1, c2]) >> 1,
            recv_seq: u16::from_le_bytes([c3, c4]) >> 1,
        });
    }
    if c1 & 0x03 == 0x01 {
        if !empty {
            return Err(FrameError::UnexpectedPayload {
                format: Format::S,
                length,
            });
        }
        return Ok(Apci::S {
            recv_seq: u16::from_le_bytes([c3, c4]) >> 1,
        });
    }
    let function = UFunction::from_octet(c1).ok_or(FrameError::BadUFunction(c1))?;
    if !empty {
        return Err(FrameError::UnexpectedPayload {
            format: Format::U,
            length,
        });
    }
    Ok(Apci::U(function))
}

fn seq_octets(seq: u16) -> Result<[u8; 2], FrameError> {
    if seq > MAX_SEQ {
        return Err(FrameError::SeqOutOfRange(seq));
    }
    Ok((seq << 1).to_le_bytes())
}

/// Appends an I-frame carrying `asdu` (1..=249 octets).
pub fn encode_i(
    send_seq: u16,
    recv_seq: u16,
    asdu: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), FrameError> {
    if asdu.is_empty() {
        return Err(FrameError::EmptyIFrame);
    }
    let length = u8::try_from(asdu.len())
        .ok()
        .filter(|&n| usize::from(n) <= MAX_ASDU_LEN)
        .and_then(|n| n.checked_add(MIN_LENGTH))
        .ok_or(FrameError::AsduTooLong(asdu.len()))?;
    let [s1, s2] = seq_octets(send_seq)?;
    let [r1, r2] = seq_octets(recv_seq)?;
    out.extend_from_slice(&[START, length, s1, s2, r1, r2]);
    out.extend_from_slice(asdu);
    Ok(())
}

/// Appends an S-frame acknowledging up to `recv_seq`.
pub fn encode_s(recv_seq: u16, out: &mut Vec<u8>) -> Result<(), FrameError> {
    let [r1, r2] = seq_octets(recv_seq)?;
    out.extend_from_slice(&[START, MIN_LENGTH, 0x01, 0x00, r1, r2]);
    Ok(())
}

/// Appends a U-frame.
pub fn encode_u(function: UFunction, out: &mut Vec<u8>) {
    out.extend_from_slice(&[START, MIN_LENGTH, function.octet(), 0x00, 0x00, 0x00]);
}

/// Appends any APDU; the ASDU of an S- or U-frame must be empty.
pub fn encode(apdu: &Apdu<'_>, out: &mut Vec<u8>) -> Result<(), FrameError> {
    match apdu.apci {
        Apci::I { send_seq, recv_seq } => encode_i(send_seq, recv_seq, apdu.asdu, out),
        Apci::S { recv_seq } => {
            check_no_payload(Format::S, apdu.asdu)?;
            encode_s(recv_seq, out)
        }
        Apci::U(function) => {
            check_no_payload(Format::U, apdu.asdu)?;
            encode_u(function, out);
            Ok(())
        }
    }
}

fn check_no_payload(format: Format, asdu: &[u8]) -> Result<(), FrameError> {
    if asdu.is_empty() {
        return Ok(());
    }
    let length = u8::try_from(asdu.len())
        .ok()
        .and_then(|n| n.checked_add(MIN_LENGTH))
        .unwrap_or(u8::MAX);
    Err(FrameError::UnexpectedPayload { format, length })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(bytes: &[u8]) -> Result<Option<(Apdu<'_>, usize)>, FrameError> {
        decode_frame(bytes)
    }

    #[test]
    fn decodes_i_frame_fixture() {
        // N(S) = 5, N(R) = 3, ASDU of 3 octets.
        let bytes = [0x68, 0x07, 0x0A, 0x00, 0x06, 0x00, 0x64, 0x01, 0x06];
        let (apdu, used) = decode_all(&bytes).unwrap().unwrap();
        assert_eq!(used, 9);
        assert_eq!(
            apdu.apci,
            Apci::I {
                send_seq: 5,
                recv_seq: 3
            }
        );
        assert_eq!(apdu.asdu, &[0x64, 0x01, 0x06]);
        let mut out = Vec::new();
        encode_i(5, 3, &[0x64, 0x01, 0x06], &mut out).unwrap();
        assert_eq!(out, bytes);
    }

    #[test]
    fn decodes_i_frame_with_largest_sequence_numbers() {
        let bytes = [0x68, 0x05, 0xFE, 0xFF, 0xFE, 0xFF, 0xAA];
        let (apdu, _) = decode_all(&bytes).unwrap().unwrap();
        assert_eq!(
            apdu.apci,
            Apci::I {
                send_seq: 32767,
                recv_seq: 32767
            }
        );
        let mut out = Vec::new();
        encode_i(32767, 32767, &[0xAA], &mut out).unwrap();
        assert_eq!(out, bytes);
    }

    #[test]
    fn i_frame_ignores_lsb_of_third_control_octet() {
        let bytes = [0x68, 0x05, 0x02, 0x00, 0x07, 0x00, 0xAA];
        let (apdu, _) = decode_all(&bytes).unwrap().unwrap();
        assert_eq!(
            apdu.apci,
            Apci::I {
                send_seq: 1,
                recv_seq: 3
            }
        );
    }

    #[test]
    fn decodes_s_frame_fixture() {
        let bytes = [0x68, 0x04, 0x01, 0x00, 0x0A, 0x01];
        let (apdu, used) = decode_all(&bytes).unwrap().unwrap();
        assert_eq!(used, 6);
        assert_eq!(apdu.apci, Apci::S { recv_seq: 133 });
        assert!(apdu.asdu.is_empty());
        let mut out = Vec::new();
        encode_s(133, &mut out).unwrap();
        assert_eq!(out, bytes);
    }

    #[test]
    fn s_frame_ignores_reserved_bits() {
        let bytes = [0x68, 0x04, 0xFD, 0xFF, 0x0B, 0x01];
        let (apdu, _) = decode_all(&bytes).unwrap().unwrap();
        assert_eq!(apdu.apci, Apci::S { recv_seq: 133 });
    }

    #[test]
    fn decodes_every_u_frame_fixture() {
        let fixtures = [
            ([0x68, 0x04, 0x07, 0x00, 0x00, 0x00], UFunction::StartDtAct),
            ([0x68, 0x04, 0x0B, 0x00, 0x00, 0x00], UFunction::StartDtCon),
            ([0x68, 0x04, 0x13, 0x00, 0x00, 0x00], UFunction::StopDtAct),
            ([0x68, 0x04, 0x23, 0x00, 0x00, 0x00], UFunction::StopDtCon),
            ([0x68, 0x04, 0x43, 0x00, 0x00, 0x00], UFunction::TestFrAct),
            ([0x68, 0x04, 0x83, 0x00, 0x00, 0x00], UFunction::TestFrCon),
        ];
        for (bytes, function) in fixtures {
            let (apdu, used) = decode_all(&bytes).unwrap().unwrap();
            assert_eq!((apdu.apci, used), (Apci::U(function), 6));
            let mut out = Vec::new();
            encode_u(function, &mut out);
            assert_eq!(out, bytes);
        }
    }

    #[test]
    fn says_need_more_bytes_for_every_prefix() {
        let bytes = [0x68, 0x06, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02];
        for end in 0..bytes.len() {
            assert_eq!(decode_frame(&bytes[..end]), Ok(None), "prefix of {end}");
        }
        assert!(decode_frame(&bytes).unwrap().is_some());
    }

    #[test]
    fn consumes_only_the_declared_length() {
        let bytes = [0x68, 0x04, 0x43, 0x00, 0x00, 0x00, 0x68, 0x04];
        let (apdu, used) = decode_frame(&bytes).unwrap().unwrap();
        assert_eq!((apdu.apci, used), (Apci::U(UFunction::TestFrAct), 6));
    }

    #[test]
    fn rejects_bad_start_octet() {
        assert_eq!(decode_frame(&[0x67]), Err(FrameError::BadStart(0x67)));
    }

    #[test]
    fn rejects_length_below_four() {
        assert_eq!(
            decode_frame(&[0x68, 0x03, 0x01, 0x00, 0x00]),
            Err(FrameError::BadLength(3))
        );
    }

    #[test]
    fn rejects_length_above_253() {
        assert_eq!(decode_frame(&[0x68, 0xFE]), Err(FrameError::BadLength(254)));
    }

    #[test]
    fn rejects_unknown_u_function() {
        assert_eq!(
            decode_frame(&[0x68, 0x04, 0x03, 0x00, 0x00, 0x00]),
            Err(FrameError::BadUFunction(0x03))
        );
        assert_eq!(
            decode_frame(&[0x68, 0x04, 0x47, 0x00, 0x00, 0x00]),
            Err(FrameError::BadUFunction(0x47))
        );
    }

    #[test]
    fn rejects_i_frame_without_asdu() {
        assert_eq!(
            decode_frame(&[0x68, 0x04, 0x00, 0x00, 0x00, 0x00]),
            Err(FrameError::EmptyIFrame)
        );
        assert_eq!(
            encode_i(0, 0, &[], &mut Vec::new()),
            Err(FrameError::EmptyIFrame)
        );
    }

    #[test]
    fn rejects_s_and_u_frames_with_payload() {
        assert_eq!(
            decode_frame(&[0x68, 0x05, 0x01, 0x00, 0x00, 0x00, 0xAA]),
            Err(FrameError::UnexpectedPayload {
                format: Format::S,
                length: 5
            })
        );
        assert_eq!(
            decode_frame(&[0x68, 0x05, 0x07, 0x00, 0x00, 0x00, 0xAA]),
            Err(FrameError::UnexpectedPayload {
                format: Format::U,
                length: 5
            })
        );
    }

    #[test]
    fn refuses_to_encode_asdu_longer_than_249() {
        let mut out = Vec::new();
        assert_eq!(
            encode_i(0, 0, &[0; 250], &mut out),
            Err(FrameError::AsduTooLong(250))
        );
        assert!(out.is_empty());
        encode_i(0, 0, &[0; MAX_ASDU_LEN], &mut out).unwrap();
        assert_eq!(out.get(1), Some(&253));
        assert_eq!(out.len(), 255);
    }

    #[test]
    fn refuses_to_encode_sequence_number_above_32767() {
        let mut out = Vec::new();
        assert_eq!(
            encode_i(32768, 0, &[1], &mut out),
            Err(FrameError::SeqOutOfRange(32768))
        );
        assert_eq!(
            encode_s(u16::MAX, &mut out),
            Err(FrameError::SeqOutOfRange(u16::MAX))
        );
        assert!(out.is_empty());
    }

    #[test]
    fn displays_like_a_protocol_analyser() {
        let asdu = [0u8; 16];
        let i = Apdu {
            apci: Apci::I {
                send_seq: 5,
                recv_seq: 3,
            },
            asdu: &asdu,
        };
        assert_eq!(i.to_string(), "I(S=5,R=3) 16 octets");
        let short = Apdu {
            apci: Apci::I {
                send_seq: 0,
                recv_seq: 1,
            },
            asdu: &[0x64, 0x01],
        };
        assert_eq!(format!("{short:#}"), "I(S=0,R=1) 2 octets: 64 01");
        let s = Apdu {
            apci: Apci::S { recv_seq: 7 },
            asdu: &[],
        };
        assert_eq!(s.to_string(), "S(R=7)");
        assert_eq!(Apci::U(UFunction::StartDtAct).to_string(), "U(STARTDT act)");
        assert_eq!(
            FrameError::BadLength(3).to_string(),
            "APDU length 3 is out of range 4..=253"
        );
    }

    fn apci_strategy() -> impl Strategy<Value = Apci> {
        prop_oneof![
            (0..SEQ_MODULUS, 0..SEQ_MODULUS)
                .prop_map(|(send_seq, recv_seq)| Apci::I { send_seq, recv_seq }),
            (0..SEQ_MODULUS).prop_map(|recv_seq| Apci::S { recv_seq }),
            prop_oneof![
                Just(UFunction::StartDtAct),
                Just(UFunction::StartDtCon),
                Just(UFunction::StopDtAct),
                Just(UFunction::StopDtCon),
                Just(UFunction::TestFrAct),
                Just(UFunction::TestFrCon),
            ]
            .prop_map(Apci::U),
        ]
    }

    proptest! {
        #[test]
        fn decode_of_encode_is_identity(
            apci in apci_strategy(),
            payload in proptest::collection::vec(any::<u8>(), 1..=MAX_ASDU_LEN),
        ) {
            let asdu: &[u8] = if apci.format() == Format::I { &payload } else { &[] };
            let apdu = Apdu { apci, asdu };
            let mut out = Vec::new();
            encode(&apdu, &mut out).unwrap();
            let (decoded, used) = decode_frame(&out).unwrap().unwrap();
            prop_assert_eq!(decoded, apdu);
            prop_assert_eq!(used, out.len());
        }

        #[test]
        fn decoding_any_bytes_never_panics_and_stays_in_bounds(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            if let Ok(Some((apdu, used))) = decode_frame(&bytes) {
                prop_assert!(used <= bytes.len());
                prop_assert!(apdu.asdu.len() <= MAX_ASDU_LEN);
                let mut out = Vec::new();
                encode(&apdu, &mut out).unwrap();
                prop_assert_eq!(out.len(), used);
            }
        }
    }
}
