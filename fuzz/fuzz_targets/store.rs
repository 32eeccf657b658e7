//! Operation sequences on a `MemoryStore` against a reference model.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mutestore::fuzzing::check_store(data));
