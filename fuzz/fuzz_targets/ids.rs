//! Id validation and path-segment percent-decoding against the documented rules.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mutestore::fuzzing::check_ids(data));
