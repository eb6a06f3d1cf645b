//! Invariants checked on arbitrary input, shared by the `fuzz/` targets and
//! the test that replays their corpus in the normal suite. Each function
//! panics when an invariant breaks, which is what a fuzzer looks for.

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
