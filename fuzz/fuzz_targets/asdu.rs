//! ASDU decoder: no panic; decode → encode gives the same octets.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    alp_connex::iec104::fuzzing::asdu_roundtrip(data);
});
