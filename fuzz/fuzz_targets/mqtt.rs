//! The MQTT mapping engine: a configuration (refused with its place, or
//! checked), a topic and a payload; no panic, the index finds exactly the
//! matching filters, and every written point is within its type's range
//! with `ov` only when clamped.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    alp_connex::fuzzing::mqtt_message(data);
});
