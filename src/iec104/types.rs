//! Type identifications and causes of transmission.
//!
//! One table below lists every standard type id of the 104 profile (monitor
//! 1-21 and 30-40, control 45-51 and 58-64, system 70 and 100-107, parameter
//! 110-113, file transfer 120-127) with the information elements of its
//! information object, in wire order. From it come [`TypeId`] (number and
//! mnemonic) and [`Element`] (the typed content of one information object),
//! with the decoder and encoder of each, so the list cannot drift.
//! Ids outside the table (reserved, private) have no `TypeId`: the ASDU
//! decoder reports them as unknown so that the caller can answer with
//! cause 44.

use std::fmt;

use super::cursor::{ReadCursor, Truncated};
use super::elements::*;
use super::time::{Cp16Time2a, Cp24Time2a, Cp56Time2a};

macro_rules! type_table {
    ($( $(#[$doc:meta])* $name:ident = $id:literal { $( $field:ident : $ty:ty ),* } )*) => {
        /// A standard type identification.
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum TypeId {
            $( $(#[$doc])* $name = $id, )*
        }

        impl TypeId {
            /// Every standard type id, ascending.
            pub const ALL: &'static [TypeId] = &[$( TypeId::$name, )*];

            /// The type id of a number, or `None` for reserved and private ids.
            pub fn from_u8(id: u8) -> Option<TypeId> {
                match id {
                    $( $id => Some(TypeId::$name), )*
                    _ => None,
                }
            }

            /// The standard mnemonic, e.g. `M_ME_TF_1`.
            pub fn mnemonic(self) -> &'static str {
                match self {
                    $( TypeId::$name => stringify!($name), )*
                }
            }

            pub fn from_mnemonic(s: &str) -> Option<TypeId> {
                match s {
                    $( stringify!($name) => Some(TypeId::$name), )*
                    _ => None,
                }
            }
        }

        /// The content of one information object, by type id: its
        /// information elements in wire order.
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, PartialEq)]
        pub enum Element {
            $( $(#[$doc])* $name { $( $field: $ty ),* }, )*
        }

        impl Element {
            pub fn type_id(&self) -> TypeId {
                match self {
                    $( Element::$name { .. } => TypeId::$name, )*
                }
            }

            /// Reads the elements of one information object of `type_id`.
            pub fn read(type_id: TypeId, c: &mut ReadCursor<'_>) -> Result<Element, Truncated> {
                Ok(match type_id {
                    $( TypeId::$name => Element::$name { $( $field: <$ty as Wire>::read(c)? ),* }, )*
                })
            }

            pub fn write(&self, out: &mut Vec<u8>) {
                match self {
                    $( Element::$name { $( $field ),* } => { $( $field.write(out); )* } )*
                }
            }

            /// Encoded length in octets, without the address.
            pub fn wire_len(&self) -> usize {
                match self {
                    $( Element::$name { $( $field ),* } => 0 $( + $field.wire_len() )*, )*
                }
            }

            /// Whether every field fits its wire format.
            pub fn check(&self) -> Result<(), OutOfRange> {
                match self {
                    $( Element::$name { $( $field ),* } => { $( $field.check()?; )* Ok(()) } )*
                }
            }
        }
    };
}

type_table! {
    /// Single-point information.
    M_SP_NA_1 = 1 { value: SinglePoint }
    /// Single-point information with CP24Time2a.
    M_SP_TA_1 = 2 { value: SinglePoint, time: Cp24Time2a }
    /// Double-point information.
    M_DP_NA_1 = 3 { value: DoublePoint }
    /// Double-point information with CP24Time2a.
    M_DP_TA_1 = 4 { value: DoublePoint, time: Cp24Time2a }
    /// Step position information.
    M_ST_NA_1 = 5 { value: StepPosition, quality: Quality }
    /// Step position information with CP24Time2a.
    M_ST_TA_1 = 6 { value: StepPosition, quality: Quality, time: Cp24Time2a }
    /// Bitstring of 32 bits.
    M_BO_NA_1 = 7 { value: u32, quality: Quality }
    /// Bitstring of 32 bits with CP24Time2a.
    M_BO_TA_1 = 8 { value: u32, quality: Quality, time: Cp24Time2a }
    /// Measured value, normalized.
    M_ME_NA_1 = 9 { value: Normalized, quality: Quality }
    /// Measured value, normalized, with CP24Time2a.
    M_ME_TA_1 = 10 { value: Normalized, quality: Quality, time: Cp24Time2a }
    /// Measured value, scaled.
    M_ME_NB_1 = 11 { value: i16, quality: Quality }
    /// Measured value, scaled, with CP24Time2a.
    M_ME_TB_1 = 12 { value: i16, quality: Quality, time: Cp24Time2a }
    /// Measured value, short floating point.
    M_ME_NC_1 = 13 { value: f32, quality: Quality }
    /// Measured value, short floating point, with CP24Time2a.
    M_ME_TC_1 = 14 { value: f32, quality: Quality, time: Cp24Time2a }
    /// Integrated totals.
    M_IT_NA_1 = 15 { value: BinaryCounter }
    /// Integrated totals with CP24Time2a.
    M_IT_TA_1 = 16 { value: BinaryCounter, time: Cp24Time2a }
    /// Event of protection equipment with CP24Time2a.
    M_EP_TA_1 = 17 { event: ProtectionEvent, elapsed: Cp16Time2a, time: Cp24Time2a }
    /// Packed start events of protection equipment with CP24Time2a.
    M_EP_TB_1 = 18 { start: StartEvents, quality: Quality, duration: Cp16Time2a, time: Cp24Time2a }
    /// Packed output circuit information of protection equipment with CP24Time2a.
    M_EP_TC_1 = 19 { circuits: OutputCircuits, quality: Quality, operating: Cp16Time2a, time: Cp24Time2a }
    /// Packed single-point information with status change detection.
    M_PS_NA_1 = 20 { value: StatusChanges, quality: Quality }
    /// Measured value, normalized, without quality descriptor.
    M_ME_ND_1 = 21 { value: Normalized }
    /// Single-point information with CP56Time2a.
    M_SP_TB_1 = 30 { value: SinglePoint, time: Cp56Time2a }
    /// Double-point information with CP56Time2a.
    M_DP_TB_1 = 31 { value: DoublePoint, time: Cp56Time2a }
    /// Step position information with CP56Time2a.
    M_ST_TB_1 = 32 { value: StepPosition, quality: Quality, time: Cp56Time2a }
    /// Bitstring of 32 bits with CP56Time2a.
    M_BO_TB_1 = 33 { value: u32, quality: Quality, time: Cp56Time2a }
    /// Measured value, normalized, with CP56Time2a.
    M_ME_TD_1 = 34 { value: Normalized, quality: Quality, time: Cp56Time2a }
    /// Measured value, scaled, with CP56Time2a.
    M_ME_TE_1 = 35 { value: i16, quality: Quality, time: Cp56Time2a }
    /// Measured value, short floating point, with CP56Time2a.
    M_ME_TF_1 = 36 { value: f32, quality: Quality, time: Cp56Time2a }
    /// Integrated totals with CP56Time2a.
    M_IT_TB_1 = 37 { value: BinaryCounter, time: Cp56Time2a }
    /// Event of protection equipment with CP56Time2a.
    M_EP_TD_1 = 38 { event: ProtectionEvent, elapsed: Cp16Time2a, time: Cp56Time2a }
    /// Packed start events of protection equipment with CP56Time2a.
    M_EP_TE_1 = 39 { start: StartEvents, quality: Quality, duration: Cp16Time2a, time: Cp56Time2a }
    /// Packed output circuit information of protection equipment with CP56Time2a.
    M_EP_TF_1 = 40 { circuits: OutputCircuits, quality: Quality, operating: Cp16Time2a, time: Cp56Time2a }
    /// Single command.
    C_SC_NA_1 = 45 { command: SingleCommand }
    /// Double command.
    C_DC_NA_1 = 46 { command: DoubleCommand }
    /// Regulating step command.
    C_RC_NA_1 = 47 { command: StepCommand }
    /// Set-point command, normalized value.
    C_SE_NA_1 = 48 { value: Normalized, qualifier: SetpointQualifier }
    /// Set-point command, scaled value.
    C_SE_NB_1 = 49 { value: i16, qualifier: SetpointQualifier }
    /// Set-point command, short floating point value.
    C_SE_NC_1 = 50 { value: f32, qualifier: SetpointQualifier }
    /// Bitstring of 32 bits command.
    C_BO_NA_1 = 51 { value: u32 }
    /// Single command with CP56Time2a.
    C_SC_TA_1 = 58 { command: SingleCommand, time: Cp56Time2a }
    /// Double command with CP56Time2a.
    C_DC_TA_1 = 59 { command: DoubleCommand, time: Cp56Time2a }
    /// Regulating step command with CP56Time2a.
    C_RC_TA_1 = 60 { command: StepCommand, time: Cp56Time2a }
    /// Set-point command, normalized value, with CP56Time2a.
    C_SE_TA_1 = 61 { value: Normalized, qualifier: SetpointQualifier, time: Cp56Time2a }
    /// Set-point command, scaled value, with CP56Time2a.
    C_SE_TB_1 = 62 { value: i16, qualifier: SetpointQualifier, time: Cp56Time2a }
    /// Set-point command, short floating point value, with CP56Time2a.
    C_SE_TC_1 = 63 { value: f32, qualifier: SetpointQualifier, time: Cp56Time2a }
    /// Bitstring of 32 bits command with CP56Time2a.
    C_BO_TA_1 = 64 { value: u32, time: Cp56Time2a }
    /// End of initialization (COI: cause 0..127, bit 7 after a change of local parameters).
    M_EI_NA_1 = 70 { cause: u8 }
    /// Interrogation command.
    C_IC_NA_1 = 100 { qualifier: Qoi }
    /// Counter interrogation command.
    C_CI_NA_1 = 101 { qualifier: Qcc }
    /// Read command.
    C_RD_NA_1 = 102 {}
    /// Clock synchronization command.
    C_CS_NA_1 = 103 { time: Cp56Time2a }
    /// Test command (fixed test bit pattern, 0x55AA).
    C_TS_NA_1 = 104 { pattern: u16 }
    /// Reset process command (QRP: 1 general reset, 2 reset of pending time-tagged events).
    C_RP_NA_1 = 105 { qualifier: u8 }
    /// Delay acquisition command.
    C_CD_NA_1 = 106 { delay: Cp16Time2a }
    /// Test command with CP56Time2a (TSC test sequence counter).
    C_TS_TA_1 = 107 { counter: u16, time: Cp56Time2a }
    /// Parameter of measured value, normalized (QPM).
    P_ME_NA_1 = 110 { value: Normalized, qualifier: u8 }
    /// Parameter of measured value, scaled (QPM).
    P_ME_NB_1 = 111 { value: i16, qualifier: u8 }
    /// Parameter of measured value, short floating point (QPM).
    P_ME_NC_1 = 112 { value: f32, qualifier: u8 }
    /// Parameter activation (QPA).
    P_AC_NA_1 = 113 { qualifier: u8 }
    /// File ready (NOF, LOF, FRQ).
    F_FR_NA_1 = 120 { file: u16, length: U24, qualifier: u8 }
    /// Section ready (NOF, NOS, LOS, SRQ).
    F_SR_NA_1 = 121 { file: u16, section: u8, length: U24, qualifier: u8 }
    /// Call directory, select file, call file, call section (NOF, NOS, SCQ).
    F_SC_NA_1 = 122 { file: u16, section: u8, qualifier: u8 }
    /// Last section, last segment (NOF, NOS, LSQ, CHS).
    F_LS_NA_1 = 123 { file: u16, section: u8, qualifier: u8, checksum: u8 }
    /// Ack file, ack section (NOF, NOS, AFQ).
    F_AF_NA_1 = 124 { file: u16, section: u8, qualifier: u8 }
    /// Segment (NOF, NOS, LOS, segment octets).
    F_SG_NA_1 = 125 { file: u16, section: u8, segment: Segment }
    /// Directory entry (NOF, LOF, SOF, creation time).
    F_DR_TA_1 = 126 { file: u16, length: U24, status: u8, time: Cp56Time2a }
    /// Query log, request archive file (NOF, range start, range stop).
    F_SC_NB_1 = 127 { file: u16, start: Cp56Time2a, stop: Cp56Time2a }
}

impl TypeId {
    pub fn id(self) -> u8 {
        self as u8
    }

    /// Process information in monitor direction (1-40).
    pub fn is_monitor(self) -> bool {
        self.id() <= 40
    }

    /// Process information in control direction (45-64).
    pub fn is_command(self) -> bool {
        (45..=64).contains(&self.id())
    }

    /// The type without time tag that carries the same information, as
    /// interrogation answers require; `self` when there is none.
    pub fn untimed(self) -> TypeId {
        use TypeId::*;
        match self {
            M_SP_TA_1 | M_SP_TB_1 => M_SP_NA_1,
            M_DP_TA_1 | M_DP_TB_1 => M_DP_NA_1,
            M_ST_TA_1 | M_ST_TB_1 => M_ST_NA_1,
            M_BO_TA_1 | M_BO_TB_1 => M_BO_NA_1,
            M_ME_TA_1 | M_ME_TD_1 => M_ME_NA_1,
            M_ME_TB_1 | M_ME_TE_1 => M_ME_NB_1,
            M_ME_TC_1 | M_ME_TF_1 => M_ME_NC_1,
            M_IT_TA_1 | M_IT_TB_1 => M_IT_NA_1,
            C_SC_TA_1 => C_SC_NA_1,
            C_DC_TA_1 => C_DC_NA_1,
            C_RC_TA_1 => C_RC_NA_1,
            C_SE_TA_1 => C_SE_NA_1,
            C_SE_TB_1 => C_SE_NB_1,
            C_SE_TC_1 => C_SE_NC_1,
            C_BO_TA_1 => C_BO_NA_1,
            other => other,
        }
    }
}

impl Element {
    /// The same information in the type without time tag
    /// ([`TypeId::untimed`]), as interrogation answers carry it: the time
    /// tag is dropped, value and quality are kept. Commands become their
    /// untimed command type; types without such a twin (protection events,
    /// M_PS_NA_1, M_ME_ND_1, system types) are returned unchanged.
    #[must_use]
    pub fn untimed(self) -> Element {
        use Element::*;
        match self {
            M_SP_TA_1 { value, .. } | M_SP_TB_1 { value, .. } => M_SP_NA_1 { value },
            M_DP_TA_1 { value, .. } | M_DP_TB_1 { value, .. } => M_DP_NA_1 { value },
            M_ST_TA_1 { value, quality, .. } | M_ST_TB_1 { value, quality, .. } => {
                M_ST_NA_1 { value, quality }
            }
            M_BO_TA_1 { value, quality, .. } | M_BO_TB_1 { value, quality, .. } => {
                M_BO_NA_1 { value, quality }
            }
            M_ME_TA_1 { value, quality, .. } | M_ME_TD_1 { value, quality, .. } => {
                M_ME_NA_1 { value, quality }
            }
            M_ME_TB_1 { value, quality, .. } | M_ME_TE_1 { value, quality, .. } => {
                M_ME_NB_1 { value, quality }
            }
            M_ME_TC_1 { value, quality, .. } | M_ME_TF_1 { value, quality, .. } => {
                M_ME_NC_1 { value, quality }
            }
            M_IT_TA_1 { value, .. } | M_IT_TB_1 { value, .. } => M_IT_NA_1 { value },
            C_SC_TA_1 { command, .. } => C_SC_NA_1 { command },
            C_DC_TA_1 { command, .. } => C_DC_NA_1 { command },
            C_RC_TA_1 { command, .. } => C_RC_NA_1 { command },
            C_SE_TA_1 {
                value, qualifier, ..
            } => C_SE_NA_1 { value, qualifier },
            C_SE_TB_1 {
                value, qualifier, ..
            } => C_SE_NB_1 { value, qualifier },
            C_SE_TC_1 {
                value, qualifier, ..
            } => C_SE_NC_1 { value, qualifier },
            C_BO_TA_1 { value, .. } => C_BO_NA_1 { value },
            other => other,
        }
    }
}

impl fmt::Display for TypeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.mnemonic(), self.id())
    }
}

/// Cause of transmission, 0..=63 (IEC 60870-5-101 §7.2.3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cause(u8);

impl Cause {
    pub const PERIODIC: Cause = Cause(1);
    pub const BACKGROUND: Cause = Cause(2);
    pub const SPONTANEOUS: Cause = Cause(3);
    pub const INITIALIZED: Cause = Cause(4);
    pub const REQUEST: Cause = Cause(5);
    pub const ACTIVATION: Cause = Cause(6);
    pub const ACTIVATION_CON: Cause = Cause(7);
    pub const DEACTIVATION: Cause = Cause(8);
    pub const DEACTIVATION_CON: Cause = Cause(9);
    pub const ACTIVATION_TERMINATION: Cause = Cause(10);
    pub const RETURN_REMOTE: Cause = Cause(11);
    pub const RETURN_LOCAL: Cause = Cause(12);
    pub const FILE_TRANSFER: Cause = Cause(13);
    /// Interrogated by station interrogation.
    pub const INTERROGATED: Cause = Cause(20);
    /// Requested by general counter request.
    pub const COUNTER_REQUEST: Cause = Cause(37);
    pub const UNKNOWN_TYPE: Cause = Cause(44);
    pub const UNKNOWN_CAUSE: Cause = Cause(45);
    pub const UNKNOWN_COMMON_ADDRESS: Cause = Cause(46);
    pub const UNKNOWN_IOA: Cause = Cause(47);

    /// A cause from its number, `None` above 63.
    pub const fn new(value: u8) -> Option<Cause> {
        if value <= 63 {
            Some(Cause(value))
        } else {
            None
        }
    }

    /// Interrogated by group 1..=16 (causes 21..=36).
    pub fn interrogated_group(group: u8) -> Option<Cause> {
        (1..=16).contains(&group).then(|| Cause(20 + group))
    }

    /// Requested by group 1..=4 counter request (causes 38..=41).
    pub fn counter_group(group: u8) -> Option<Cause> {
        (1..=4).contains(&group).then(|| Cause(37 + group))
    }

    pub fn value(self) -> u8 {
        self.0
    }

    /// The standard's name of the cause, `None` for reserved numbers.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "per/cyc",
            2 => "back",
            3 => "spont",
            4 => "init",
            5 => "req",
            6 => "act",
            7 => "actcon",
            8 => "deact",
            9 => "deactcon",
            10 => "actterm",
            11 => "retrem",
            12 => "retloc",
            13 => "file",
            20 => "inrogen",
            21..=36 => "inro",
            37 => "reqcogen",
            38..=41 => "reqco",
            44 => "unknown type",
            45 => "unknown cause",
            46 => "unknown common address",
            47 => "unknown ioa",
            _ => return None,
        })
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cause({self})")
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.name(), self.0) {
            (Some(n), 21..=36) => write!(f, "{n}{}", self.0 - 20),
            (Some(n), 38..=41) => write!(f, "{n}{}", self.0 - 37),
            (Some(n), v) => write!(f, "{n}({v})"),
            (None, v) => write!(f, "{v}"),
        }
    }
}

/// The cause-of-transmission octet: cause, test bit (T, 0x80) and
/// negative confirmation bit (P/N, 0x40).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cot {
    pub cause: Cause,
    pub test: bool,
    pub negative: bool,
}

impl Cot {
    pub fn new(cause: Cause) -> Cot {
        Cot {
            cause,
            test: false,
            negative: false,
        }
    }

    pub fn from_octet(b: u8) -> Cot {
        Cot {
            cause: Cause(b & 0x3F),
            test: b & 0x80 != 0,
            negative: b & 0x40 != 0,
        }
    }

    pub fn octet(self) -> u8 {
        self.cause.0 | if self.test { 0x80 } else { 0 } | if self.negative { 0x40 } else { 0 }
    }
}

impl fmt::Display for Cot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.cause)?;
        if self.negative {
            f.write_str(" neg")?;
        }
        if self.test {
            f.write_str(" test")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_standard_id_maps_to_its_mnemonic_and_back() {
        let ids: Vec<u8> = TypeId::ALL.iter().map(|t| t.id()).collect();
        let expected: Vec<u8> = (1..=21)
            .chain(30..=40)
            .chain(45..=51)
            .chain(58..=64)
            .chain([70])
            .chain(100..=107)
            .chain(110..=113)
            .chain(120..=127)
            .collect();
        assert_eq!(ids, expected);
        for t in TypeId::ALL {
            assert_eq!(TypeId::from_u8(t.id()), Some(*t));
            assert_eq!(TypeId::from_mnemonic(t.mnemonic()), Some(*t));
        }
    }

    #[test]
    fn reserved_and_private_ids_have_no_type() {
        for id in [
            0u8, 22, 29, 41, 44, 52, 57, 65, 69, 71, 99, 108, 109, 114, 119, 128, 255,
        ] {
            assert_eq!(TypeId::from_u8(id), None, "id {id}");
        }
    }

    #[test]
    fn untimed_types_are_what_interrogation_answers_use() {
        assert_eq!(TypeId::M_ME_TF_1.untimed(), TypeId::M_ME_NC_1);
        assert_eq!(TypeId::M_SP_TB_1.untimed(), TypeId::M_SP_NA_1);
        assert_eq!(TypeId::M_EP_TD_1.untimed(), TypeId::M_EP_TD_1);
    }

    #[test]
    fn untimed_elements_keep_value_and_quality_and_match_the_untimed_type() {
        use crate::iec104::time::Cp56Time2a;
        let time = Cp56Time2a::default();
        let float = Element::M_ME_TF_1 {
            value: 230.5,
            quality: Quality(Quality::NT),
            time,
        };
        assert_eq!(
            float.clone().untimed(),
            Element::M_ME_NC_1 {
                value: 230.5,
                quality: Quality(Quality::NT)
            }
        );
        let dp = DoublePoint {
            value: DoubleState::On,
            quality: Quality::GOOD,
        };
        assert_eq!(
            Element::M_DP_TB_1 { value: dp, time }.untimed(),
            Element::M_DP_NA_1 { value: dp }
        );
        let protection = Element::M_EP_TD_1 {
            event: dp,
            elapsed: crate::iec104::time::Cp16Time2a(5),
            time,
        };
        assert_eq!(protection.clone().untimed(), protection);
        // Every element's untimed type is what TypeId::untimed says.
        let bytes = [0u8; 16];
        for t in TypeId::ALL
            .iter()
            .filter(|t| t.is_monitor() || t.is_command())
        {
            let mut c = ReadCursor::new(&bytes);
            let e = Element::read(*t, &mut c).expect("16 octets hold any object");
            assert_eq!(e.untimed().type_id(), t.untimed(), "{t}");
        }
        assert_eq!(float.untimed().type_id(), TypeId::M_ME_NC_1);
    }

    #[test]
    fn cot_octet_carries_test_and_negative_bits() {
        let cot = Cot::from_octet(0xC0 | 44);
        assert_eq!(cot.cause, Cause::UNKNOWN_TYPE);
        assert!(cot.test && cot.negative);
        assert_eq!(cot.octet(), 0xEC);
        assert_eq!(cot.to_string(), "unknown type(44) neg test");
        assert_eq!(
            Cause::interrogated_group(3).map(|c| c.to_string()),
            Some("inro3".into())
        );
        assert_eq!(Cause::new(64), None);
    }
}
