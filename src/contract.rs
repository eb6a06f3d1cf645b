//! The data point of the platform's contract (CONTRACT.md, "The data
//! point"): what one received information object becomes in the Valkey
//! process image and stream, as JSON.
//!
//! Data flow: the inbound role decodes an [`Asdu`] and calls
//! [`points_from_asdu`], which gives one [`DataPoint`] per monitor-direction
//! information object (types 1-40); [`DataPoint::to_json`] renders the
//! contract JSON (field order as in the contract, optional fields only when
//! set). [`DataPoint::from_json`] reads it back, checking every field, so
//! that JSON from Valkey, written by any connector, never panics a reader.
//! The schema is `docs/schema/datapoint.schema.json`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::iec104::asdu::Asdu;
use crate::iec104::elements::{
    BinaryCounter, DoublePoint, DoubleState, Normalized, OutputCircuits, Quality, SinglePoint,
    StartEvents, StatusChanges, StepPosition,
};
use crate::iec104::time::{Cp16Time2a, Cp24Time2a, Cp56Time2a, rfc3339_ms};
use crate::iec104::types::{Element, TypeId};

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
    fn from_quality(q: Quality, has_ov: bool) -> QualityFlags {
        QualityFlags {
            iv: q.invalid(),
            nt: q.not_topical(),
            sb: q.substituted(),
            bl: q.blocked(),
            ov: has_ov && q.overflow(),
        }
    }

    /// The QDS octet with these flags.
    pub fn to_quality(self) -> Quality {
        Quality::GOOD
            .with(Quality::IV, self.iv)
            .with(Quality::NT, self.nt)
            .with(Quality::SB, self.sb)
            .with(Quality::BL, self.bl)
            .with(Quality::OV, self.ov)
    }

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

/// What [`points_from_asdu`] needs besides the ASDU.
#[derive(Debug, Clone, Copy)]
pub struct Reception<'a> {
    /// The connector ID.
    pub source: &'a Arc<str>,
    /// Receive time, Unix ms.
    pub received: i64,
    /// Minutes east of UTC that time tags are read in.
    pub zone_offset_min: i32,
}

/// One data point per information object of a monitor-direction ASDU
/// (types 1-40); empty for every other type.
pub fn points_from_asdu(asdu: &Asdu, rx: Reception<'_>) -> Vec<DataPoint> {
    if !asdu.type_id.is_monitor() {
        return Vec::new();
    }
    asdu.objects
        .iter()
        .filter_map(|o| {
            let (value, quality, elapsed_invalid, tag) = content(&o.element)?;
            let mut p = DataPoint {
                casdu: asdu.common_address,
                ioa: o.ioa,
                type_id: asdu.type_id,
                value,
                quality,
                elapsed_invalid,
                time: None,
                time_invalid: false,
                summer_time: false,
                time_error: None,
                cot: asdu.cot.cause.value(),
                test: asdu.cot.test,
                negative: asdu.cot.negative,
                originator: asdu.originator,
                source: Arc::clone(rx.source),
                received: rx.received,
            };
            p.set_time(tag, rx);
            Some(p)
        })
        .collect()
}

enum Tag {
    None,
    Cp24(Cp24Time2a),
    Cp56(Cp56Time2a),
}

type Content = (PointValue, QualityFlags, bool, Tag);

fn content(e: &Element) -> Option<Content> {
    use Element::*;
    use PointValue as V;
    let qds = |q: &Quality| QualityFlags::from_quality(*q, true);
    let qdp = |q: &Quality| QualityFlags::from_quality(*q, false);
    let sp = |v: &SinglePoint| {
        (
            V::Single(v.value),
            QualityFlags::from_quality(v.quality, false),
        )
    };
    let dp = |v: &DoublePoint| {
        (
            V::Double(v.value.bits()),
            QualityFlags::from_quality(v.quality, false),
        )
    };
    let it = |c: &BinaryCounter| {
        (
            V::Counter {
                value: c.value,
                sequence: c.sequence,
                carry: c.carry,
                adjusted: c.adjusted,
            },
            QualityFlags {
                iv: c.invalid,
                ..QualityFlags::default()
            },
        )
    };
    let step = |v: &crate::iec104::elements::StepPosition| V::Step {
        value: v.value,
        transient: v.transient,
    };
    let t24 = |t: &Cp24Time2a| Tag::Cp24(*t);
    let t56 = |t: &Cp56Time2a| Tag::Cp56(*t);
    let no_ei = |(v, q): (PointValue, QualityFlags), tag| (v, q, false, tag);
    Some(match e {
        M_SP_NA_1 { value } => no_ei(sp(value), Tag::None),
        M_SP_TA_1 { value, time } => no_ei(sp(value), t24(time)),
        M_SP_TB_1 { value, time } => no_ei(sp(value), t56(time)),
        M_DP_NA_1 { value } => no_ei(dp(value), Tag::None),
        M_DP_TA_1 { value, time } => no_ei(dp(value), t24(time)),
        M_DP_TB_1 { value, time } => no_ei(dp(value), t56(time)),
        M_ST_NA_1 { value, quality } => (step(value), qds(quality), false, Tag::None),
        M_ST_TA_1 {
            value,
            quality,
            time,
        } => (step(value), qds(quality), false, t24(time)),
        M_ST_TB_1 {
            value,
            quality,
            time,
        } => (step(value), qds(quality), false, t56(time)),
        M_BO_NA_1 { value, quality } => (V::Bitstring(*value), qds(quality), false, Tag::None),
        M_BO_TA_1 {
            value,
            quality,
            time,
        } => (V::Bitstring(*value), qds(quality), false, t24(time)),
        M_BO_TB_1 {
            value,
            quality,
            time,
        } => (V::Bitstring(*value), qds(quality), false, t56(time)),
        M_ME_NA_1 { value, quality } => (V::Normalized(value.0), qds(quality), false, Tag::None),
        M_ME_TA_1 {
            value,
            quality,
            time,
        } => (V::Normalized(value.0), qds(quality), false, t24(time)),
        M_ME_TD_1 {
            value,
            quality,
            time,
        } => (V::Normalized(value.0), qds(quality), false, t56(time)),
        M_ME_ND_1 { value } => (
            V::Normalized(value.0),
            QualityFlags::default(),
            false,
            Tag::None,
        ),
        M_ME_NB_1 { value, quality } => (V::Scaled(*value), qds(quality), false, Tag::None),
        M_ME_TB_1 {
            value,
            quality,
            time,
        } => (V::Scaled(*value), qds(quality), false, t24(time)),
        M_ME_TE_1 {
            value,
            quality,
            time,
        } => (V::Scaled(*value), qds(quality), false, t56(time)),
        M_ME_NC_1 { value, quality } => (V::Float(*value), qds(quality), false, Tag::None),
        M_ME_TC_1 {
            value,
            quality,
            time,
        } => (V::Float(*value), qds(quality), false, t24(time)),
        M_ME_TF_1 {
            value,
            quality,
            time,
        } => (V::Float(*value), qds(quality), false, t56(time)),
        M_IT_NA_1 { value } => no_ei(it(value), Tag::None),
        M_IT_TA_1 { value, time } => no_ei(it(value), t24(time)),
        M_IT_TB_1 { value, time } => no_ei(it(value), t56(time)),
        M_PS_NA_1 { value, quality } => (
            V::Packed {
                status: value.status,
                changes: value.changes,
            },
            qds(quality),
            false,
            Tag::None,
        ),
        M_EP_TA_1 { event, elapsed, .. } | M_EP_TD_1 { event, elapsed, .. } => {
            protection_event(event, elapsed.0, tag_of(e))
        }
        M_EP_TB_1 {
            start,
            quality,
            duration,
            ..
        }
        | M_EP_TE_1 {
            start,
            quality,
            duration,
            ..
        } => (
            V::ProtectionStart {
                events: start.0,
                duration_ms: duration.0,
            },
            qdp(quality),
            quality.elapsed_invalid(),
            tag_of(e),
        ),
        M_EP_TC_1 {
            circuits,
            quality,
            operating,
            ..
        }
        | M_EP_TF_1 {
            circuits,
            quality,
            operating,
            ..
        } => (
            V::ProtectionCircuits {
                circuits: circuits.0,
                operating_ms: operating.0,
            },
            qdp(quality),
            quality.elapsed_invalid(),
            tag_of(e),
        ),
        _ => return None,
    })
}

fn protection_event(event: &DoublePoint, elapsed_ms: u16, tag: Tag) -> Content {
    (
        PointValue::ProtectionEvent {
            state: event.value.bits(),
            elapsed_ms,
        },
        QualityFlags::from_quality(event.quality, false),
        event.quality.elapsed_invalid(),
        tag,
    )
}

fn tag_of(e: &Element) -> Tag {
    use Element::*;
    match e {
        M_EP_TA_1 { time, .. } | M_EP_TB_1 { time, .. } | M_EP_TC_1 { time, .. } => {
            Tag::Cp24(*time)
        }
        M_EP_TD_1 { time, .. } | M_EP_TE_1 { time, .. } | M_EP_TF_1 { time, .. } => {
            Tag::Cp56(*time)
        }
        _ => Tag::None,
    }
}

impl DataPoint {
    fn set_time(&mut self, tag: Tag, rx: Reception<'_>) {
        let offset_ms = i64::from(rx.zone_offset_min) * 60_000;
        match tag {
            Tag::None => {}
            Tag::Cp56(t) => {
                self.time_invalid = t.invalid();
                self.summer_time = t.summer_time();
                match t.to_unix_ms() {
                    Ok(ms) => self.time = Some(ms - offset_ms),
                    Err(e) => self.time_error = Some(e.to_string()),
                }
            }
            Tag::Cp24(t) => {
                // Minutes and milliseconds only: completed with the hour of
                // receipt (in the configured zone), one hour back when that
                // would lie more than a minute in the future.
                self.time_invalid = t.invalid();
                if t.minute() > 59 || t.millisecond() > 59_999 {
                    self.time_error = Some(format!(
                        "CP24Time2a minute {} millisecond {} out of range",
                        t.minute(),
                        t.millisecond()
                    ));
                    return;
                }
                let local = rx.received + offset_ms;
                let hour_start = local - local.rem_euclid(3_600_000);
                let mut ms =
                    hour_start + i64::from(t.minute()) * 60_000 + i64::from(t.millisecond());
                if ms > local + 60_000 {
                    ms -= 3_600_000;
                }
                self.time = Some(ms - offset_ms);
            }
        }
    }

    /// The information element of this point in its own type: what
    /// [`points_from_asdu`] read it from, with the time tag rebuilt in UTC
    /// from `time` (a CP24Time2a keeps minute and millisecond). A timed
    /// type without a usable `time` gets a tag marked invalid (IV).
    pub fn to_element(&self) -> Element {
        use PointValue as V;
        use TypeId as T;
        let q = self.quality.to_quality();
        let qds = q;
        let no_ov = q.with(Quality::OV, false);
        let ei = no_ov.with(Quality::EI, self.elapsed_invalid);
        let sp = |value: bool| SinglePoint {
            value,
            quality: no_ov,
        };
        let dp = |bits: u8, quality: Quality| DoublePoint {
            value: DoubleState::from_bits(bits),
            quality,
        };
        let counter = |value, sequence, carry, adjusted| BinaryCounter {
            value,
            sequence,
            carry,
            adjusted,
            invalid: self.quality.iv,
        };
        let t24 = self.cp24();
        let t56 = self.cp56();
        match (self.type_id, self.value) {
            (T::M_SP_NA_1, V::Single(v)) => Element::M_SP_NA_1 { value: sp(v) },
            (T::M_SP_TA_1, V::Single(v)) => Element::M_SP_TA_1 {
                value: sp(v),
                time: t24,
            },
            (T::M_SP_TB_1, V::Single(v)) => Element::M_SP_TB_1 {
                value: sp(v),
                time: t56,
            },
            (T::M_DP_NA_1, V::Double(d)) => Element::M_DP_NA_1 {
                value: dp(d, no_ov),
            },
            (T::M_DP_TA_1, V::Double(d)) => Element::M_DP_TA_1 {
                value: dp(d, no_ov),
                time: t24,
            },
            (T::M_DP_TB_1, V::Double(d)) => Element::M_DP_TB_1 {
                value: dp(d, no_ov),
                time: t56,
            },
            (T::M_ST_NA_1, V::Step { value, transient }) => Element::M_ST_NA_1 {
                value: StepPosition { value, transient },
                quality: qds,
            },
            (T::M_ST_TA_1, V::Step { value, transient }) => Element::M_ST_TA_1 {
                value: StepPosition { value, transient },
                quality: qds,
                time: t24,
            },
            (T::M_ST_TB_1, V::Step { value, transient }) => Element::M_ST_TB_1 {
                value: StepPosition { value, transient },
                quality: qds,
                time: t56,
            },
            (T::M_BO_NA_1, V::Bitstring(value)) => Element::M_BO_NA_1 {
                value,
                quality: qds,
            },
            (T::M_BO_TA_1, V::Bitstring(value)) => Element::M_BO_TA_1 {
                value,
                quality: qds,
                time: t24,
            },
            (T::M_BO_TB_1, V::Bitstring(value)) => Element::M_BO_TB_1 {
                value,
                quality: qds,
                time: t56,
            },
            (T::M_ME_NA_1, V::Normalized(raw)) => Element::M_ME_NA_1 {
                value: Normalized(raw),
                quality: qds,
            },
            (T::M_ME_TA_1, V::Normalized(raw)) => Element::M_ME_TA_1 {
                value: Normalized(raw),
                quality: qds,
                time: t24,
            },
            (T::M_ME_TD_1, V::Normalized(raw)) => Element::M_ME_TD_1 {
                value: Normalized(raw),
                quality: qds,
                time: t56,
            },
            (T::M_ME_ND_1, V::Normalized(raw)) => Element::M_ME_ND_1 {
                value: Normalized(raw),
            },
            (T::M_ME_NB_1, V::Scaled(value)) => Element::M_ME_NB_1 {
                value,
                quality: qds,
            },
            (T::M_ME_TB_1, V::Scaled(value)) => Element::M_ME_TB_1 {
                value,
                quality: qds,
                time: t24,
            },
            (T::M_ME_TE_1, V::Scaled(value)) => Element::M_ME_TE_1 {
                value,
                quality: qds,
                time: t56,
            },
            (T::M_ME_NC_1, V::Float(value)) => Element::M_ME_NC_1 {
                value,
                quality: qds,
            },
            (T::M_ME_TC_1, V::Float(value)) => Element::M_ME_TC_1 {
                value,
                quality: qds,
                time: t24,
            },
            (T::M_ME_TF_1, V::Float(value)) => Element::M_ME_TF_1 {
                value,
                quality: qds,
                time: t56,
            },
            (
                T::M_IT_NA_1,
                V::Counter {
                    value,
                    sequence,
                    carry,
                    adjusted,
                },
            ) => Element::M_IT_NA_1 {
                value: counter(value, sequence, carry, adjusted),
            },
            (
                T::M_IT_TA_1,
                V::Counter {
                    value,
                    sequence,
                    carry,
                    adjusted,
                },
            ) => Element::M_IT_TA_1 {
                value: counter(value, sequence, carry, adjusted),
                time: t24,
            },
            (
                T::M_IT_TB_1,
                V::Counter {
                    value,
                    sequence,
                    carry,
                    adjusted,
                },
            ) => Element::M_IT_TB_1 {
                value: counter(value, sequence, carry, adjusted),
                time: t56,
            },
            (T::M_PS_NA_1, V::Packed { status, changes }) => Element::M_PS_NA_1 {
                value: StatusChanges { status, changes },
                quality: qds,
            },
            (T::M_EP_TA_1, V::ProtectionEvent { state, elapsed_ms }) => Element::M_EP_TA_1 {
                event: dp(state, ei),
                elapsed: Cp16Time2a(elapsed_ms),
                time: t24,
            },
            (T::M_EP_TD_1, V::ProtectionEvent { state, elapsed_ms }) => Element::M_EP_TD_1 {
                event: dp(state, ei),
                elapsed: Cp16Time2a(elapsed_ms),
                time: t56,
            },
            (
                T::M_EP_TB_1,
                V::ProtectionStart {
                    events,
                    duration_ms,
                },
            ) => Element::M_EP_TB_1 {
                start: StartEvents(events),
                quality: ei,
                duration: Cp16Time2a(duration_ms),
                time: t24,
            },
            (
                T::M_EP_TE_1,
                V::ProtectionStart {
                    events,
                    duration_ms,
                },
            ) => Element::M_EP_TE_1 {
                start: StartEvents(events),
                quality: ei,
                duration: Cp16Time2a(duration_ms),
                time: t56,
            },
            (
                T::M_EP_TC_1,
                V::ProtectionCircuits {
                    circuits,
                    operating_ms,
                },
            ) => Element::M_EP_TC_1 {
                circuits: OutputCircuits(circuits),
                quality: ei,
                operating: Cp16Time2a(operating_ms),
                time: t24,
            },
            (
                T::M_EP_TF_1,
                V::ProtectionCircuits {
                    circuits,
                    operating_ms,
                },
            ) => Element::M_EP_TF_1 {
                circuits: OutputCircuits(circuits),
                quality: ei,
                operating: Cp16Time2a(operating_ms),
                time: t56,
            },
            // A value that does not belong to the type (only possible for a
            // point built by hand): the untimed type of the value, invalid.
            (_, value) => fallback(value, q.with(Quality::IV, true)),
        }
    }

    /// The element `iec104-server` serves for this point (in an
    /// interrogation answer, spontaneously and on read): the one of
    /// [`DataPoint::to_element`], except that a normalized value without
    /// quality descriptor (M_ME_ND_1, 21) with any quality flag set goes as
    /// M_ME_NA_1 (9), the nearest type with a quality descriptor: the same
    /// raw value, the flags in its QDS. Type 21 cannot carry them, and a
    /// master must see a point the image flags. Without a flag it stays 21.
    ///
    /// Integrated totals (15, 16, 37) have only the IV bit: a counter the
    /// image marks not topical (its source is gone) goes with IV set, so
    /// that a master never takes a counter of a lost source for a valid
    /// one.
    pub fn to_served_element(&self) -> Element {
        match (self.type_id, self.value) {
            (TypeId::M_ME_ND_1, PointValue::Normalized(raw)) if !self.quality.is_good() => {
                Element::M_ME_NA_1 {
                    value: Normalized(raw),
                    quality: self.quality.to_quality(),
                }
            }
            _ => {
                let mut element = self.to_element();
                if self.quality.nt {
                    if let Element::M_IT_NA_1 { value }
                    | Element::M_IT_TA_1 { value, .. }
                    | Element::M_IT_TB_1 { value, .. } = &mut element
                    {
                        value.invalid = true;
                    }
                }
                element
            }
        }
    }

    /// The CP56Time2a of `time` in UTC with IV and SU from the point; IV
    /// set when there is no time or it is outside 2000..=2099.
    fn cp56(&self) -> Cp56Time2a {
        let tag = self.time.and_then(|ms| Cp56Time2a::from_unix_ms(ms).ok());
        let invalid = self.time_invalid || tag.is_none();
        let mut fields = tag.unwrap_or_default().fields();
        fields.invalid = invalid;
        fields.summer_time = self.summer_time;
        Cp56Time2a::from_fields(fields)
    }

    /// The CP24Time2a of `time` (minute and millisecond in UTC); IV set
    /// when there is no time.
    fn cp24(&self) -> Cp24Time2a {
        match self.time {
            Some(ms) => {
                let in_hour = ms.rem_euclid(3_600_000);
                Cp24Time2a::new(
                    u8::try_from(in_hour / 60_000).unwrap_or_default(),
                    u16::try_from(in_hour % 60_000).unwrap_or_default(),
                    self.time_invalid,
                )
            }
            None => Cp24Time2a::new(0, 0, true),
        }
    }

    /// The image key `process:image:casdu:{CASDU}:ioa:{IOA}`.
    pub fn image_key(&self) -> String {
        image_key(self.casdu, self.ioa)
    }

    /// The contract JSON.
    pub fn to_json(&self) -> String {
        // Serializing plain data to a String cannot fail.
        serde_json::to_string(&Wire::from(self)).unwrap_or_default()
    }

    /// Reads contract JSON back, checking every field.
    pub fn from_json(json: &str) -> Result<DataPoint, ContractError> {
        let w: WireOwned =
            serde_json::from_str(json).map_err(|e| ContractError::Json(e.to_string()))?;
        w.into_point()
    }
}

/// The untimed element for a value, whatever type it came with.
fn fallback(value: PointValue, quality: Quality) -> Element {
    use PointValue as V;
    let no_ov = quality.with(Quality::OV, false);
    match value {
        V::Single(value) => Element::M_SP_NA_1 {
            value: SinglePoint {
                value,
                quality: no_ov,
            },
        },
        V::Double(d) | V::ProtectionEvent { state: d, .. } => Element::M_DP_NA_1 {
            value: DoublePoint {
                value: DoubleState::from_bits(d),
                quality: no_ov,
            },
        },
        V::Step { value, transient } => Element::M_ST_NA_1 {
            value: StepPosition { value, transient },
            quality,
        },
        V::Bitstring(value) => Element::M_BO_NA_1 { value, quality },
        V::Normalized(raw) => Element::M_ME_NA_1 {
            value: Normalized(raw),
            quality,
        },
        V::Scaled(value) => Element::M_ME_NB_1 { value, quality },
        V::Float(value) => Element::M_ME_NC_1 { value, quality },
        V::Counter {
            value,
            sequence,
            carry,
            adjusted,
        } => Element::M_IT_NA_1 {
            value: BinaryCounter {
                value,
                sequence,
                carry,
                adjusted,
                invalid: true,
            },
        },
        V::Packed { status, changes } => Element::M_PS_NA_1 {
            value: StatusChanges { status, changes },
            quality,
        },
        V::ProtectionStart { events, .. } => Element::M_BO_NA_1 {
            value: events.into(),
            quality,
        },
        V::ProtectionCircuits { circuits, .. } => Element::M_BO_NA_1 {
            value: circuits.into(),
            quality,
        },
    }
}

/// The image key of a point.
pub fn image_key(casdu: u16, ioa: u32) -> String {
    crate::store::keys::image_key(casdu, ioa)
}

/// JSON that is not a valid data point.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    #[error("data point JSON does not parse: {0}")]
    Json(String),
    #[error("data point field {field} = {value}: {allowed}")]
    Field {
        field: &'static str,
        value: String,
        allowed: &'static str,
    },
}

/// The JSON shape, field order as in the contract.
#[derive(Serialize)]
struct Wire<'a> {
    casdu: u16,
    ioa: u32,
    type_id: u8,
    #[serde(rename = "type")]
    mnemonic: &'static str,
    value: JsonValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    transient: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sequence: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    carry: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    adjusted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    changes: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    elapsed_ms: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_ms: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    operating_ms: Option<u16>,
    quality: QualityFlags,
    time: Option<String>,
    cot: u8,
    source: &'a str,
    received: String,
    #[serde(skip_serializing_if = "is_false")]
    elapsed_invalid: bool,
    #[serde(skip_serializing_if = "is_false")]
    time_invalid: bool,
    #[serde(skip_serializing_if = "is_false")]
    summer_time: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    time_error: Option<&'a str>,
    #[serde(skip_serializing_if = "is_false")]
    test: bool,
    #[serde(skip_serializing_if = "is_false")]
    negative: bool,
    #[serde(skip_serializing_if = "is_zero")]
    originator: u8,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(v: &u8) -> bool {
    *v == 0
}

/// A JSON value of the `value` field; floats keep their f32 shortest form.
#[derive(Serialize, Deserialize, Debug, Clone, Copy)]
#[serde(untagged)]
enum JsonValue {
    Bool(bool),
    Int(i64),
    F32(f32),
    F64(f64),
    Null,
}

impl<'a> From<&'a DataPoint> for Wire<'a> {
    fn from(p: &'a DataPoint) -> Wire<'a> {
        use PointValue as V;
        let mut w = Wire {
            casdu: p.casdu,
            ioa: p.ioa,
            type_id: p.type_id.id(),
            mnemonic: p.type_id.mnemonic(),
            value: JsonValue::Null,
            transient: None,
            sequence: None,
            carry: None,
            adjusted: None,
            changes: None,
            elapsed_ms: None,
            duration_ms: None,
            operating_ms: None,
            quality: p.quality,
            time: p.time.map(rfc3339_ms),
            cot: p.cot,
            source: &p.source,
            received: rfc3339_ms(p.received),
            elapsed_invalid: p.elapsed_invalid,
            time_invalid: p.time_invalid,
            summer_time: p.summer_time,
            time_error: p.time_error.as_deref(),
            test: p.test,
            negative: p.negative,
            originator: p.originator,
        };
        w.value = match p.value {
            V::Single(b) => JsonValue::Bool(b),
            V::Double(d) => JsonValue::Int(d.into()),
            V::Step { value, transient } => {
                w.transient = Some(transient);
                JsonValue::Int(value.into())
            }
            V::Bitstring(b) => JsonValue::Int(b.into()),
            V::Normalized(raw) => JsonValue::F64(f64::from(raw) / 32768.0),
            V::Scaled(s) => JsonValue::Int(s.into()),
            V::Float(f) if f.is_finite() => JsonValue::F32(f),
            V::Float(_) => JsonValue::Null,
            V::Counter {
                value,
                sequence,
                carry,
                adjusted,
            } => {
                w.sequence = Some(sequence);
                w.carry = Some(carry);
                w.adjusted = Some(adjusted);
                JsonValue::Int(value.into())
            }
            V::Packed { status, changes } => {
                w.changes = Some(changes);
                JsonValue::Int(status.into())
            }
            V::ProtectionEvent { state, elapsed_ms } => {
                w.elapsed_ms = Some(elapsed_ms);
                JsonValue::Int(state.into())
            }
            V::ProtectionStart {
                events,
                duration_ms,
            } => {
                w.duration_ms = Some(duration_ms);
                JsonValue::Int(events.into())
            }
            V::ProtectionCircuits {
                circuits,
                operating_ms,
            } => {
                w.operating_ms = Some(operating_ms);
                JsonValue::Int(circuits.into())
            }
        };
        w
    }
}

/// The JSON shape when reading; unknown fields are allowed (the contract
/// grows by new optional fields).
#[derive(Deserialize)]
struct WireOwned {
    casdu: u64,
    ioa: u64,
    type_id: u64,
    #[serde(rename = "type")]
    mnemonic: Option<String>,
    value: serde_json::Value,
    transient: Option<bool>,
    sequence: Option<u64>,
    carry: Option<bool>,
    adjusted: Option<bool>,
    changes: Option<u64>,
    elapsed_ms: Option<u64>,
    duration_ms: Option<u64>,
    operating_ms: Option<u64>,
    quality: QualityFlags,
    time: Option<String>,
    cot: u64,
    source: String,
    received: String,
    #[serde(default)]
    elapsed_invalid: bool,
    #[serde(default)]
    time_invalid: bool,
    #[serde(default)]
    summer_time: bool,
    time_error: Option<String>,
    #[serde(default)]
    test: bool,
    #[serde(default)]
    negative: bool,
    #[serde(default)]
    originator: u64,
}

fn field<T: TryFrom<u64>>(
    name: &'static str,
    v: u64,
    allowed: &'static str,
) -> Result<T, ContractError> {
    T::try_from(v).map_err(|_| ContractError::Field {
        field: name,
        value: v.to_string(),
        allowed,
    })
}

fn bad(name: &'static str, value: impl ToString, allowed: &'static str) -> ContractError {
    ContractError::Field {
        field: name,
        value: value.to_string(),
        allowed,
    }
}

impl WireOwned {
    fn into_point(self) -> Result<DataPoint, ContractError> {
        use PointValue as V;
        let casdu = field::<u16>("casdu", self.casdu, "0..=65535")?;
        let ioa = field::<u32>("ioa", self.ioa, "0..=16777215")?;
        if ioa > 0xFF_FFFF {
            return Err(bad("ioa", ioa, "0..=16777215"));
        }
        let id = field::<u8>("type_id", self.type_id, "a monitor type 1..=40")?;
        let type_id = TypeId::from_u8(id)
            .filter(|t| t.is_monitor())
            .ok_or_else(|| bad("type_id", id, "a monitor type 1..=40"))?;
        if let Some(m) = &self.mnemonic
            && m != type_id.mnemonic()
        {
            return Err(bad("type", m, "the mnemonic of type_id"));
        }
        let v = &self.value;
        let int = |lo: i64, hi: i64, allowed: &'static str| -> Result<i64, ContractError> {
            v.as_i64()
                .filter(|i| (lo..=hi).contains(i))
                .ok_or_else(|| bad("value", v, allowed))
        };
        let extra = |name: &'static str, x: Option<u64>, allowed: &'static str| {
            x.ok_or_else(|| bad(name, "missing", allowed))
                .and_then(|x| field::<u16>(name, x, allowed))
        };
        use TypeId::*;
        let value = match type_id {
            M_SP_NA_1 | M_SP_TA_1 | M_SP_TB_1 => V::Single(
                v.as_bool()
                    .ok_or_else(|| bad("value", v, "true or false"))?,
            ),
            M_DP_NA_1 | M_DP_TA_1 | M_DP_TB_1 => V::Double(narrow(int(0, 3, "0..=3")?)),
            M_ST_NA_1 | M_ST_TA_1 | M_ST_TB_1 => V::Step {
                value: narrow(int(-64, 63, "-64..=63")?),
                transient: self.transient.unwrap_or(false),
            },
            M_BO_NA_1 | M_BO_TA_1 | M_BO_TB_1 => {
                V::Bitstring(narrow(int(0, u32::MAX.into(), "0..=4294967295")?))
            }
            M_ME_NA_1 | M_ME_TA_1 | M_ME_TD_1 | M_ME_ND_1 => {
                let f = v
                    .as_f64()
                    .filter(|f| (-1.0..1.0).contains(f))
                    .ok_or_else(|| bad("value", v, "a number in [-1, 1)"))?;
                V::Normalized(crate::iec104::elements::Normalized::from_f64(f).0)
            }
            M_ME_NB_1 | M_ME_TB_1 | M_ME_TE_1 => {
                V::Scaled(narrow(int(-32768, 32767, "-32768..=32767")?))
            }
            M_ME_NC_1 | M_ME_TC_1 | M_ME_TF_1 => match v {
                serde_json::Value::Null => V::Float(f32::NAN),
                // A finite number beyond the f32 range would become an
                // infinity, which the JSON can only write as null (NaN).
                _ => V::Float(
                    v.as_f64()
                        .map(|f| f as f32)
                        .filter(|f| f.is_finite())
                        .ok_or_else(|| bad("value", v, "a number in the f32 range or null"))?,
                ),
            },
            M_IT_NA_1 | M_IT_TA_1 | M_IT_TB_1 => V::Counter {
                value: narrow(int(
                    i32::MIN.into(),
                    i32::MAX.into(),
                    "a 32-bit signed integer",
                )?),
                sequence: field::<u8>("sequence", self.sequence.unwrap_or(0), "0..=31").and_then(
                    |s| {
                        if s <= 31 {
                            Ok(s)
                        } else {
                            Err(bad("sequence", s, "0..=31"))
                        }
                    },
                )?,
                carry: self.carry.unwrap_or(false),
                adjusted: self.adjusted.unwrap_or(false),
            },
            M_PS_NA_1 => V::Packed {
                status: narrow(int(0, 65535, "0..=65535")?),
                changes: extra("changes", self.changes, "0..=65535")?,
            },
            M_EP_TA_1 | M_EP_TD_1 => V::ProtectionEvent {
                state: narrow(int(0, 3, "0..=3")?),
                elapsed_ms: extra("elapsed_ms", self.elapsed_ms, "0..=65535")?,
            },
            M_EP_TB_1 | M_EP_TE_1 => V::ProtectionStart {
                events: narrow(int(0, 255, "0..=255")?),
                duration_ms: extra("duration_ms", self.duration_ms, "0..=65535")?,
            },
            M_EP_TC_1 | M_EP_TF_1 => V::ProtectionCircuits {
                circuits: narrow(int(0, 255, "0..=255")?),
                operating_ms: extra("operating_ms", self.operating_ms, "0..=65535")?,
            },
            _ => return Err(bad("type_id", id, "a monitor type 1..=40")),
        };
        let time = match &self.time {
            None => None,
            Some(t) => Some(
                parse_rfc3339_ms(t)
                    .ok_or_else(|| bad("time", t, "RFC 3339 UTC with milliseconds"))?,
            ),
        };
        let received = parse_rfc3339_ms(&self.received)
            .ok_or_else(|| bad("received", &self.received, "RFC 3339 UTC with milliseconds"))?;
        let cot = field::<u8>("cot", self.cot, "0..=63")?;
        if cot > 63 {
            return Err(bad("cot", cot, "0..=63"));
        }
        Ok(DataPoint {
            casdu,
            ioa,
            type_id,
            value,
            quality: self.quality,
            elapsed_invalid: self.elapsed_invalid,
            time,
            time_invalid: self.time_invalid,
            summer_time: self.summer_time,
            time_error: self.time_error,
            cot,
            test: self.test,
            negative: self.negative,
            originator: field::<u8>("originator", self.originator, "0..=255")?,
            source: self.source.into(),
            received,
        })
    }
}

/// Narrows a value the caller has range-checked.
fn narrow<T: TryFrom<i64> + Default>(v: i64) -> T {
    T::try_from(v).unwrap_or_default()
}

/// Parses `YYYY-MM-DDTHH:MM:SS(.fff)Z` (UTC only) into Unix ms.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) && !part.is_empty() {
            part.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 20
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || b.get(10) != Some(&b'T')
    {
        return None;
    }
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') || b.last() != Some(&b'Z') {
        return None;
    }
    let (y, mo, d, h, mi, sec) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    let ms = match b.get(19) {
        Some(b'.') => {
            let frac = s.get(20..s.len() - 1)?;
            if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let padded = format!("{frac:0<3}");
            padded.get(..3)?.parse::<i64>().ok()?
        }
        Some(b'Z') if b.len() == 20 => 0,
        _ => return None,
    };
    // A leap second at the end of 9999 would read as the year 10000, which
    // the four-digit form cannot write back.
    crate::iec104::time::unix_ms_from_utc(y, mo, d, h, mi, sec, ms).filter(|&t| t < YEAR_10000_MS)
}

/// Unix ms of 10000-01-01T00:00:00Z: the first instant past RFC 3339's years.
const YEAR_10000_MS: i64 = 253_402_300_800_000;

#[cfg(test)]
#[path = "contract_tests.rs"]
mod tests;
