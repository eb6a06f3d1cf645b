//! The data point model of the contract (CONTRACT.md, "The data point"):
//! one [`DataPoint`] per information object, its [`PointValue`] by type and
//! its [`QualityFlags`], and the image key it is stored under. What every
//! role shares; of IEC 104 it names only the type ids and mnemonics
//! ([`TypeId`]), as the contract does.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::iec104::types::TypeId;

/// The five quality flags of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityFlags {
    /// Invalid.
    pub iv: bool,
    /// Not topical.
    pub nt: bool,
    /// Substituted.
    pub sb: bool,
    /// Blocked.
    pub bl: bool,
    /// Overflow (false where the type has no OV bit).
    pub ov: bool,
}

impl QualityFlags {
    pub fn is_good(self) -> bool {
        self == QualityFlags::default()
    }
}

/// The `value` of a data point, by type (CONTRACT.md, "value by type").
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PointValue {
    /// Single point 1, 2, 30.
    Single(bool),
    /// Double point 3, 4, 31: 0 intermediate, 1 off, 2 on, 3 indeterminate.
    Double(u8),
    /// Step position 5, 6, 32: -64..63 and the transient flag.
    Step { value: i8, transient: bool },
    /// Bitstring 7, 8, 33.
    Bitstring(u32),
    /// Normalized 9, 10, 21, 34: the raw value; JSON shows raw / 32768.
    Normalized(i16),
    /// Scaled 11, 12, 35.
    Scaled(i16),
    /// Short float 13, 14, 36 (JSON `null` for NaN and infinities).
    Float(f32),
    /// Integrated totals 15, 16, 37.
    Counter {
        value: i32,
        sequence: u8,
        carry: bool,
        adjusted: bool,
    },
    /// Packed single points with change detection 20.
    Packed { status: u16, changes: u16 },
    /// Event of protection equipment 17, 38: the event state (like a
    /// double point) and the elapsed time in ms.
    ProtectionEvent { state: u8, elapsed_ms: u16 },
    /// Packed start events of protection equipment 18, 39: the SPE octet
    /// and the relay duration in ms.
    ProtectionStart { events: u8, duration_ms: u16 },
    /// Packed output circuit information 19, 40: the OCI octet and the
    /// relay operating time in ms.
    ProtectionCircuits { circuits: u8, operating_ms: u16 },
}

/// One data point of the process image.
#[derive(Debug, Clone, PartialEq)]
pub struct DataPoint {
    pub casdu: u16,
    pub ioa: u32,
    pub type_id: TypeId,
    pub value: PointValue,
    pub quality: QualityFlags,
    /// The elapsed-time-invalid bit of protection types (QDP/SEP EI).
    pub elapsed_invalid: bool,
    /// The device time tag in Unix ms; `None` for types without one, or when
    /// the tag does not hold a valid date (then `time_error` says why).
    pub time: Option<i64>,
    pub time_invalid: bool,
    pub summer_time: bool,
    pub time_error: Option<String>,
    pub cot: u8,
    pub test: bool,
    pub negative: bool,
    pub originator: u8,
    pub source: Arc<str>,
    /// When the connector received it, Unix ms.
    pub received: i64,
}

impl DataPoint {
    /// The image key `process:image:casdu:{CASDU}:ioa:{IOA}`.
    pub fn image_key(&self) -> String {
        image_key(self.casdu, self.ioa)
    }
}

/// The image key of a point.
pub fn image_key(casdu: u16, ioa: u32) -> String {
    crate::store::keys::image_key(casdu, ioa)
}
