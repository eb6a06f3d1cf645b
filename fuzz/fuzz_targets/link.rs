//! Link engine fed arbitrary bytes and time: no panic, windows kept, silent after close.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    alp_connex::iec104::fuzzing::link_engine(data);
});
