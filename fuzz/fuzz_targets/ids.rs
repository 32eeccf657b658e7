//! Id validation never panics, and accepts exactly the documented ids.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mutestore::{MAX_ID_BYTES, RoomId};

fuzz_target!(|data: &[u8]| {
    let accepted = RoomId::from_utf8(data).is_ok();
    let expected = std::str::from_utf8(data).is_ok_and(|text| {
        !text.is_empty()
            && text.len() <= MAX_ID_BYTES
            && !text.chars().any(|c| c < '\u{20}' || c == '\u{7f}')
    });
    assert_eq!(accepted, expected);
});
