//! Data point JSON: no panic; an accepted point encodes as the server sends
//! it and survives to_json → from_json unchanged.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    alp_connex::fuzzing::datapoint_json(data);
});
