//! Requests through the adapter and the axum router: the contract's envelopes, and no change but
//! the one a success reports.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mutestore::fuzzing::check_http(data));
