//! Points for the tests of [`json`](super::json) and
//! [`iec104`](super::iec104), made of IEC 104 elements by the mapping as the
//! inbound role makes them.

use super::iec104::{Reception, points_from_asdu};
use super::point::DataPoint;
use crate::iec104::asdu::Asdu;
use crate::iec104::time::Cp56Time2a;
use crate::iec104::types::{Cause, Cot, Element};

/// 2026-11-21 09:15:30.123 UTC.
pub(super) const T: i64 = 1_795_252_530_123;

pub(super) fn rx() -> Reception<'static> {
    static SOURCE: std::sync::LazyLock<std::sync::Arc<str>> =
        std::sync::LazyLock::new(|| "inbound-1".into());
    Reception {
        source: &SOURCE,
        received: T + 2,
        zone: &crate::iec104::time::UTC,
    }
}

pub(super) fn one(casdu: u16, ioa: u32, cot: Cot, e: Element, rx: Reception<'_>) -> DataPoint {
    let a = Asdu::single(cot, casdu, ioa, e);
    let mut p = points_from_asdu(&a, rx);
    assert_eq!(p.len(), 1);
    p.remove(0)
}

pub(super) fn spont(e: Element) -> DataPoint {
    one(1, 100, Cot::new(Cause::SPONTANEOUS), e, rx())
}

pub(super) fn json(e: Element) -> serde_json::Value {
    serde_json::from_str(&spont(e).to_json()).expect("valid JSON")
}

pub(super) fn t56() -> Cp56Time2a {
    Cp56Time2a::from_unix_ms(T).expect("in range")
}
