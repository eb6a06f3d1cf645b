//! Invariants checked on arbitrary input, shared by the `fuzz/` targets and
//! the test that replays their corpus in the normal suite. Each function
//! panics when an invariant breaks, which is what a fuzzer looks for.

#![allow(
    clippy::panic,
    clippy::expect_used,
    reason = "the fuzz targets' assertions: a panic is what a fuzzer reports"
)]

use super::asdu::{Asdu, Header};

/// The ASDU decoder on arbitrary octets: never panics, and what it accepts
/// encodes back to the same octets (decode → encode → same bytes).
pub fn asdu_roundtrip(data: &[u8]) {
    let decoded = Asdu::decode(data);
    if let Ok(asdu) = &decoded {
        match asdu.to_bytes() {
            Ok(bytes) => assert_eq!(bytes, data, "re-encoding changed the octets of {asdu}"),
            Err(e) => panic!("decoded ASDU does not encode: {e}: {asdu:#}"),
        }
        // Display and the header reader see the same identifier.
        let _ = asdu.to_string();
        let h = Header::decode(data).expect("a decoded ASDU has a header");
        assert_eq!(h.type_id, asdu.type_id.id());
        assert_eq!(usize::from(h.count), asdu.objects.len());
    }
}

/// The frame decoder on arbitrary octets, cut at every point a reader might
/// see: never panics, consumes within the buffer, decodes what it encodes.
pub fn frame_decoder(data: &[u8]) {
    use super::apci::{Apci, decode_frame, encode};
    let mut rest = data;
    while let Ok(Some((apdu, used))) = decode_frame(rest) {
        assert!(
            used >= 6 && used <= rest.len(),
            "consumed {used} of {}",
            rest.len()
        );
        let mut out = Vec::new();
        encode(&apdu, &mut out).expect("a decoded frame encodes");
        let (again, used_again) = decode_frame(&out)
            .expect("an encoded frame decodes")
            .expect("an encoded frame is complete");
        assert_eq!(again, apdu);
        assert_eq!(used_again, out.len());
        if let Apci::I { send_seq, recv_seq } = apdu.apci {
            assert!(send_seq <= 32767 && recv_seq <= 32767);
        }
        rest = rest.get(used..).unwrap_or_default();
    }
}

/// The link engine driven by arbitrary input: the first octet picks the
/// role, then each octet is an operation (feed the next n octets, let time
/// pass, send an ASDU, start or stop data transfer). Invariants: no panic,
/// never more than k unacknowledged I-frames, what is transmitted is whole
/// well-formed frames, nothing is transmitted and no deadline is set after close.
pub fn link_engine(data: &[u8]) {
    use super::apci::decode_frame;
    use super::link::{Link, Role, State};
    use super::params::Params;
    use std::time::{Duration, Instant};

    let Some((&first, mut ops)) = data.split_first() else {
        return;
    };
    let role = if first & 1 == 0 {
        Role::Controlling
    } else {
        Role::Controlled
    };
    let params = Params {
        k: u16::from(first >> 4) + 1,
        w: u16::from((first >> 1) & 0x07) + 1,
        ..Params::default()
    };
    let start = Instant::now();
    let mut now = start;
    let mut link = Link::new(role, params, now);
    let mut was_closed = false;
    while let Some((&op, rest)) = ops.split_first() {
        ops = rest;
        match op % 6 {
            0 => {
                let n = usize::from(op / 6);
                let (chunk, rest) = ops.split_at(n.min(ops.len()));
                ops = rest;
                link.handle_bytes(chunk, now);
            }
            1 => {
                now += Duration::from_millis(u64::from(op) * 250);
                if link.poll_timeout().is_some_and(|t| t <= now) {
                    link.handle_timeout(now);
                }
            }
            2 => {
                let asdu = [op, 1, 3, 0, 1, 0, 1, 0, 0, 1];
                let _ = link.send_asdu(&asdu, now);
            }
            3 => {
                let _ = link.start_data_transfer(now);
            }
            4 => {
                let _ = link.stop_data_transfer(now);
            }
            _ => {
                if let Some(t) = link.poll_timeout() {
                    now = now.max(t);
                    link.handle_timeout(now);
                }
            }
        }
        let closed = link.state() == State::Closed;
        while let Some(bytes) = link.poll_transmit() {
            assert!(!was_closed, "transmitted after close");
            // Whole, well-formed frames only.
            let mut rest = bytes.as_slice();
            while !rest.is_empty() {
                match decode_frame(rest) {
                    Ok(Some((_, used))) => rest = rest.get(used..).unwrap_or_default(),
                    other => panic!("transmitted a malformed frame {rest:02x?}: {other:?}"),
                }
            }
        }
        while link.poll_event().is_some() {}
        assert!(link.unacknowledged() <= usize::from(params.k));
        assert!(link.next_send_seq() <= 32767 && link.next_recv_seq() <= 32767);
        if closed {
            assert!(link.poll_timeout().is_none(), "deadline after close");
            was_closed = true;
        }
    }
}
