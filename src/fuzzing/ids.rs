//! The `ids` check: id validation and the strict percent-decoding of path segments, against
//! reference implementations written from the documented rules.

use std::str::FromStr;

use crate::http::path_param::{room_param, uid_param};
use crate::http::percent::percent_decode;
use crate::ids::{IdError, MAX_ID_BYTES, RoomId, UserId};

/// Checks every id constructor and the path-segment decoder on `data`, taken both as raw id bytes
/// and (when UTF-8) as a raw, still percent-encoded path segment. Panics on any disagreement with
/// the documented rules.
pub fn check_ids(data: &[u8]) {
    check_id_bytes(data);
    if let Ok(segment) = std::str::from_utf8(data) {
        check_segment(segment);
    }
}

/// Why `bytes` is not a valid id by the documented rules, checked in the documented order.
fn expected_id_error(bytes: &[u8]) -> Option<IdError> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Some(IdError::NotUtf8);
    };
    if text.is_empty() {
        return Some(IdError::Empty);
    }
    if text.len() > MAX_ID_BYTES {
        return Some(IdError::TooLong { len: text.len() });
    }
    text.char_indices()
        .find(|&(_, c)| c < '\u{20}' || c == '\u{7f}')
        .map(|(byte_offset, c)| IdError::ControlCharacter {
            code: u32::from(c),
            byte_offset,
        })
}

fn check_id_bytes(bytes: &[u8]) {
    let expected = expected_id_error(bytes);
    let room = RoomId::from_utf8(bytes);
    let user = UserId::from_utf8(bytes);
    assert_eq!(room.as_ref().err(), expected.as_ref(), "RoomId::from_utf8");
    assert_eq!(user.as_ref().err(), expected.as_ref(), "UserId::from_utf8");
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    // Every constructor agrees, and a valid id keeps its text exactly.
    assert_eq!(RoomId::new(text), room, "RoomId::new");
    assert_eq!(RoomId::from_str(text), room, "RoomId::from_str");
    assert_eq!(RoomId::try_from(text.to_owned()), room, "RoomId::try_from");
    assert_eq!(UserId::new(text), user, "UserId::new");
    assert_eq!(UserId::try_from(text), user, "UserId::try_from");
    let json = serde_json::Value::String(text.to_owned());
    assert_eq!(
        serde_json::from_value::<RoomId>(json).is_ok(),
        room.is_ok(),
        "RoomId deserialisation"
    );
    if let (Ok(room), Ok(user)) = (room, user) {
        assert_eq!(room.as_str(), text);
        assert_eq!(room.to_string(), text);
        assert_eq!(&*user, text);
        assert_eq!(room.clone(), room);
        let round_trip: RoomId = serde_json::to_value(&room)
            .and_then(serde_json::from_value)
            .unwrap_or_else(|error| panic!("a valid id survives JSON: {error}"));
        assert_eq!(round_trip, room);
    }
}

/// Percent-decoding by the letter of the rule: `%` and two hex digits is one byte, any other `%` is
/// an error at its offset, everything else is kept.
fn reference_decode(raw: &str) -> Result<Vec<u8>, usize> {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        if bytes[offset] == b'%' {
            let hex = bytes
                .get(offset + 1..offset + 3)
                .and_then(|pair| std::str::from_utf8(pair).ok())
                .filter(|pair| pair.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|pair| u8::from_str_radix(pair, 16).ok());
            match hex {
                Some(byte) => {
                    decoded.push(byte);
                    offset += 3;
                }
                None => return Err(offset),
            }
        } else {
            decoded.push(bytes[offset]);
            offset += 1;
        }
    }
    Ok(decoded)
}

/// Percent-encodes every byte outside the unreserved set.
fn encode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn check_segment(raw: &str) {
    let expected = reference_decode(raw);
    let decoded = percent_decode(raw);
    assert_eq!(
        decoded.as_deref().map_err(|error| error.byte_offset),
        expected.as_deref().map_err(|offset| *offset),
        "percent_decode({raw:?})"
    );
    let room = room_param(raw);
    let uid = uid_param(raw);
    assert_eq!(room.is_ok(), uid.is_ok(), "room and uid follow one rule");
    match &expected {
        Ok(bytes) => {
            assert_eq!(room.as_ref().ok(), RoomId::from_utf8(bytes).ok().as_ref());
            assert_eq!(uid.as_ref().ok(), UserId::from_utf8(bytes).ok().as_ref());
            // Encoding the decoded bytes again names the same id.
            let again = encode(bytes);
            assert_eq!(percent_decode(&again).as_deref().ok(), Some(&bytes[..]));
            assert_eq!(room_param(&again).ok(), room.as_ref().ok().cloned());
        }
        Err(_) => assert!(room.is_err() && uid.is_err(), "a broken escape is refused"),
    }
    for message in [room.err(), uid.err()]
        .into_iter()
        .flatten()
        .map(|error| error.to_string())
    {
        assert!(
            is_known_param_message(&message),
            "a parameter error says which and why, never echoing input: {message:?}"
        );
    }
}

/// Whether `message` is one of the fixed sentences of a parameter error, numbers aside: nothing of
/// the request is echoed.
pub(super) fn is_known_param_message(message: &str) -> bool {
    let masked = mask_numbers(message);
    let reasons = [
        "it holds an invalid percent-escape at byte #",
        "an id must not be empty",
        "an id must be at most # bytes of UTF-#, this one has #",
        "an id must not contain control characters (U+# at byte #)",
        "an id must be valid UTF-#",
    ];
    ["room id", "user id"].iter().any(|name| {
        reasons
            .iter()
            .any(|reason| masked == format!("The {name} in the path is not valid: {reason}."))
    })
}

/// `message` with every run of digits, and the hex digits of a `U+` code point, replaced by `#`.
pub(super) fn mask_numbers(message: &str) -> String {
    let mut masked = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("U+") {
            let hex = after.bytes().take_while(u8::is_ascii_hexdigit).count();
            if hex > 0 {
                masked.push_str("U+#");
                rest = &after[hex..];
                continue;
            }
        }
        if c.is_ascii_digit() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            masked.push('#');
            rest = &rest[digits..];
            continue;
        }
        masked.push(c);
        rest = &rest[c.len_utf8()..];
    }
    masked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_numbers_and_code_points() {
        assert_eq!(
            mask_numbers("U+001F at byte 12, UTF-8"),
            "U+# at byte #, UTF-#"
        );
        assert!(is_known_param_message(
            "The room id in the path is not valid: an id must be at most 256 bytes of UTF-8, this one has 300."
        ));
        assert!(!is_known_param_message(
            "The room id in the path is not valid: secret."
        ));
    }

    #[test]
    fn the_reference_decoder_follows_the_rule() {
        assert_eq!(reference_decode("a%2Fb"), Ok(b"a/b".to_vec()));
        assert_eq!(reference_decode("%4"), Err(0));
        assert_eq!(reference_decode("ab%+1"), Err(2));
        assert_eq!(encode(b"a/b c"), "a%2Fb%20c");
    }
}
