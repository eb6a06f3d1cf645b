//! Image keys, stream IDs, group ranges, networks: no panic; what is
//! accepted reads back from its Display to the same value.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    alp_connex::fuzzing::text_parsers(data);
});
