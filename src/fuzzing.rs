//! Invariants of the text parsers of untrusted input (the data point JSON
//! read from Valkey, stream IDs, image keys, settings), shared by the
//! `fuzz/` targets `datapoint` and `text` and the test that replays their
//! corpus in the normal suite. Each function panics when an invariant
//! breaks, which is what a fuzzer looks for. The binary parsers have theirs
//! in [`crate::iec104::fuzzing`].

#![allow(
    clippy::panic,
    clippy::expect_used,
    reason = "the fuzz targets' assertions: a panic is what a fuzzer reports"
)]

use std::str::FromStr;

use crate::contract::{DataPoint, PointValue, image_key};
use crate::iec104::asdu::Asdu;
use crate::iec104::types::{Cause, Cot, TypeId};
use crate::server::config::IpNetwork;
use crate::station::{GROUPS, GroupRange, Update};
use crate::store::keys::parse_image_key;
use crate::store::stream::StreamId;

/// A data point JSON from Valkey, as the `iec104-server` handles a stream
/// entry: [`DataPoint::from_json`] never panics; a point it accepts
/// - becomes the element it is served in ([`DataPoint::to_served_element`]),
///   of its own type or, for a flagged M_ME_ND_1, M_ME_NA_1, that encodes as a
///   spontaneous single-object ASDU ([`Update::new`]), and those octets
///   decode and re-encode unchanged;
/// - keeps its address through its image key;
/// - survives [`DataPoint::to_json`]: the JSON reads back to an equal point
///   (a float NaN equal to NaN), and writing that gives the same JSON.
pub fn datapoint_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(point) = DataPoint::from_json(text) else {
        return;
    };
    let element = point.to_served_element();
    let asdu = Asdu::single(
        Cot::new(Cause::SPONTANEOUS),
        point.casdu,
        point.ioa,
        element,
    );
    let update = Update::new(&asdu)
        .unwrap_or_else(|e| panic!("accepted point does not encode: {e}: {point:?}"));
    assert_eq!(update.objects(), 1);
    crate::iec104::fuzzing::asdu_roundtrip(update.bytes());
    let decoded = Asdu::decode(update.bytes()).expect("an encoded update decodes");
    let served = if point.type_id == TypeId::M_ME_ND_1 && !point.quality.is_good() {
        TypeId::M_ME_NA_1
    } else {
        point.type_id
    };
    assert_eq!(decoded.type_id, served, "the update changed the type");

    assert_eq!(
        parse_image_key(&point.image_key()),
        Some((point.casdu, point.ioa))
    );

    let json = point.to_json();
    let again = DataPoint::from_json(&json)
        .unwrap_or_else(|e| panic!("to_json of an accepted point does not read back: {e}: {json}"));
    assert!(
        same(&point, &again),
        "the JSON round trip changed the point:\n{point:?}\n{again:?}\n{json}"
    );
    assert_eq!(again.to_json(), json, "the second round changed the JSON");
}

/// Equal, with a float NaN equal to NaN.
fn same(a: &DataPoint, b: &DataPoint) -> bool {
    match (a.value, b.value) {
        (PointValue::Float(x), PointValue::Float(y)) if x.is_nan() && y.is_nan() => {
            let zero = |p: &DataPoint| DataPoint {
                value: PointValue::Float(0.0),
                ..p.clone()
            };
            zero(a) == zero(b)
        }
        _ => a == b,
    }
}

/// The text parsers of keys, stream IDs and settings on arbitrary text:
/// never panic, and what each accepts it writes back in a form it reads
/// back to the same value:
/// - [`parse_image_key`]: only the canonical key (what [`image_key`]
///   writes) with an IOA of three octets;
/// - [`StreamId::parse`]: Display reads back to the same ID;
/// - [`GroupRange`]: group 1..=16, CA not 65535, first ≤ last ≤ 16777215,
///   and Display reads back to the same range;
/// - [`IpNetwork`]: prefix within the address length, the network
///   contains its own address (also a network written IPv4-mapped, /96
///   or longer), and Display
///   reads back to the same network.
pub fn text_parsers(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some((ca, ioa)) = parse_image_key(text) {
        assert!(ioa <= 0xFF_FFFF, "IOA {ioa} of {text:?}");
        assert_eq!(image_key(ca, ioa), text, "a key not in canonical form");
    }
    if let Some(id) = StreamId::parse(text) {
        assert_eq!(StreamId::parse(&id.to_string()), Some(id), "of {text:?}");
    }
    if let Ok(range) = GroupRange::from_str(text) {
        assert!(GROUPS.contains(&range.group), "{range:?} of {text:?}");
        assert_ne!(range.ca, Some(u16::MAX), "of {text:?}");
        assert!(range.first <= range.last && range.last <= 0xFF_FFFF);
        assert_eq!(range.to_string().parse(), Ok(range), "of {text:?}");
    }
    if let Ok(net) = IpNetwork::from_str(text) {
        let max = if net.addr().is_ipv4() { 32 } else { 128 };
        assert!(net.prefix() <= max, "{net} of {text:?}");
        // A mapped address in a network shorter than /96 is an IPv4 peer
        // and an IPv6 network admits none.
        let mapped_v6_net = net.prefix() < 96 && net.addr().to_canonical() != net.addr();
        if !mapped_v6_net {
            assert!(net.contains(net.addr()), "{net} of {text:?}");
        }
        assert_eq!(net.to_string().parse(), Ok(net), "of {text:?}");
    }
}
