//! APDU frame decoder: no panic, bounded consumption, encode/decode agree.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    alp_connex::iec104::fuzzing::frame_decoder(data);
});
