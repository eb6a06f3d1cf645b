//! The data point's mapping to and from IEC 104 information elements, for
//! the IEC 104 roles: [`points_from_asdu`] gives one [`DataPoint`] per
//! monitor-direction information object (types 1-40) of an ASDU, its time
//! tag read in the configured zone ([`Reception`]);
//! [`DataPoint::to_element`] gives the element back in the point's own
//! type and [`DataPoint::to_served_element`] the one `iec104-server` serves.
//! The quality flags go to and from the quality descriptor here too.

use std::sync::Arc;

use super::point::{DataPoint, PointValue, QualityFlags};
use crate::iec104::asdu::Asdu;
use crate::iec104::elements::{
    BinaryCounter, DoublePoint, DoubleState, Normalized, OutputCircuits, Quality, SinglePoint,
    StartEvents, StatusChanges, StepPosition,
};
use crate::iec104::time::{Cp16Time2a, Cp24Time2a, Cp56Time2a, Zone};
use crate::iec104::types::{Element, TypeId};

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
}

/// What [`points_from_asdu`] needs besides the ASDU.
#[derive(Debug, Clone, Copy)]
pub struct Reception<'a> {
    /// The connector ID.
    pub source: &'a Arc<str>,
    /// Receive time, Unix ms.
    pub received: i64,
    /// The zone that time tags are read in.
    pub zone: &'a Zone,
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
        match tag {
            Tag::None => {}
            Tag::Cp56(t) => {
                self.time_invalid = t.invalid();
                self.summer_time = t.summer_time();
                match rx.zone.read_cp56(t) {
                    Ok(ms) => self.time = Some(ms),
                    Err(e) => self.time_error = Some(e.to_string()),
                }
            }
            Tag::Cp24(t) => {
                // Minutes and milliseconds only: completed with the hour of
                // receipt (in the configured zone, at its offset then), one
                // hour back when that would lie more than a minute in the
                // future.
                self.time_invalid = t.invalid();
                if t.minute() > 59 || t.millisecond() > 59_999 {
                    self.time_error = Some(format!(
                        "CP24Time2a minute {} millisecond {} out of range",
                        t.minute(),
                        t.millisecond()
                    ));
                    return;
                }
                let offset_ms = rx.zone.offset_ms_at(rx.received);
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
                if self.quality.nt
                    && let Element::M_IT_NA_1 { value }
                    | Element::M_IT_TA_1 { value, .. }
                    | Element::M_IT_TB_1 { value, .. } = &mut element
                {
                    value.invalid = true;
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

#[cfg(test)]
#[path = "iec104_tests.rs"]
mod tests;
