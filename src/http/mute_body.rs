//! The body of a mute request: nothing (a mute until unmuted), or a JSON object giving the mute's
//! end, `{"durationMS": N}` or `{"untilMS": epoch-ms}`.

use std::fmt;
use std::time::Duration;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::expiry::{Expiry, InvalidExpiry, MAX_DEADLINE_MS};

/// The key of a mute's length in milliseconds.
pub(crate) const DURATION_KEY: &str = "durationMS";
/// The key of a mute's end in milliseconds since the Unix epoch.
pub(crate) const UNTIL_KEY: &str = "untilMS";

/// Why a mute body was refused (`400 INVALID_PARAMETER`). Each has a fixed sentence that echoes
/// nothing of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// Not JSON, not an object, or something after the object.
    NotAnObject,
    /// A key other than `durationMS` and `untilMS`.
    UnknownKey,
    /// A key given twice.
    RepeatedKey,
    /// Both keys.
    BothKeys,
    /// `{}`.
    NoKey,
    /// `durationMS` is not a whole number from 1 to [`MAX_DEADLINE_MS`].
    BadDuration,
    /// `untilMS` is not a whole number from 0 to [`MAX_DEADLINE_MS`].
    BadUntil,
}

impl BodyError {
    /// Every refusal, for tests that check each has its sentence.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) const ALL: [Self; 7] = [
        Self::NotAnObject,
        Self::UnknownKey,
        Self::RepeatedKey,
        Self::BothKeys,
        Self::NoKey,
        Self::BadDuration,
        Self::BadUntil,
    ];

    /// The error message: a sentence for people.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Self::NotAnObject => {
                "The request body must be empty or a JSON object with durationMS or untilMS."
            }
            Self::UnknownKey => "The request body may hold only durationMS or untilMS.",
            Self::RepeatedKey => "The request body must not repeat a key.",
            Self::BothKeys => "The request body must hold durationMS or untilMS, not both.",
            Self::NoKey => "The request body must hold durationMS or untilMS.",
            Self::BadDuration => {
                "durationMS must be a whole number of milliseconds from 1 to 253402300799999."
            }
            Self::BadUntil => {
                "untilMS must be a whole number of milliseconds since the Unix epoch, at most 253402300799999."
            }
        }
    }
}

/// The message for a deadline the store refused (`400 INVALID_PARAMETER`).
pub(crate) fn invalid_expiry_message(error: InvalidExpiry) -> &'static str {
    match error {
        InvalidExpiry::NotInFuture { .. } => "untilMS must be in the future.",
        InvalidExpiry::ZeroDuration => "durationMS must be at least 1.",
        InvalidExpiry::TooLate => {
            "The mute must end by 253402300799999 ms since the Unix epoch (the end of 9999)."
        }
    }
}

/// Every message a mute body or its deadline can be refused with.
#[cfg(feature = "fuzzing")]
pub(crate) fn is_body_message(message: &str) -> bool {
    BodyError::ALL
        .iter()
        .map(|error| error.message())
        .chain(
            [
                InvalidExpiry::NotInFuture {
                    until_ms: 0,
                    now_ms: 0,
                },
                InvalidExpiry::ZeroDuration,
                InvalidExpiry::TooLate,
            ]
            .map(invalid_expiry_message),
        )
        .any(|known| known == message)
}

/// How long the mute that `body` asks for lasts: [`Expiry::Never`] for an empty body (or one of
/// whitespace only), else the one key of the JSON object. Whether the end is in the future is the
/// store's to judge, by its own clock.
pub(crate) fn parse_mute_body(body: &[u8]) -> Result<Expiry, BodyError> {
    if body
        .iter()
        .all(|byte| matches!(byte, b' ' | b'\t' | b'\n' | b'\r'))
    {
        return Ok(Expiry::Never);
    }
    let Members(members) = serde_json::from_slice(body).map_err(|_| BodyError::NotAnObject)?;
    let mut duration = None;
    let mut until = None;
    for (key, value) in members {
        let slot = match key.as_str() {
            DURATION_KEY => &mut duration,
            UNTIL_KEY => &mut until,
            _ => return Err(BodyError::UnknownKey),
        };
        if slot.replace(value).is_some() {
            return Err(BodyError::RepeatedKey);
        }
    }
    match (duration, until) {
        (Some(_), Some(_)) => Err(BodyError::BothKeys),
        (None, None) => Err(BodyError::NoKey),
        (Some(duration), None) => match whole_millis(&duration) {
            Some(millis) if millis >= 1 => Ok(Expiry::After(Duration::from_millis(millis))),
            _ => Err(BodyError::BadDuration),
        },
        (None, Some(until)) => whole_millis(&until)
            .map(Expiry::At)
            .ok_or(BodyError::BadUntil),
    }
}

/// `value` as a whole number from 0 to [`MAX_DEADLINE_MS`], written as a JSON integer (`5`, not
/// `5.0`, `5e0` or `"5"`).
fn whole_millis(value: &Value) -> Option<u64> {
    value.as_u64().filter(|&millis| millis <= MAX_DEADLINE_MS)
}

/// A JSON object's members in the order written, repeated keys kept (a map would keep only the
/// last and hide the repetition).
struct Members(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;

        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Members, M::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, Value>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }

        deserializer.deserialize_map(MembersVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_bodies() {
        let cases: [(&[u8], Expiry); 8] = [
            (b"", Expiry::Never),
            (b" \r\n\t ", Expiry::Never),
            (
                br#"{"durationMS": 1}"#,
                Expiry::After(Duration::from_millis(1)),
            ),
            (
                b" {\"durationMS\":60000}\n",
                Expiry::After(Duration::from_millis(60_000)),
            ),
            (
                br#"{"durationMS": 253402300799999}"#,
                Expiry::After(Duration::from_millis(MAX_DEADLINE_MS)),
            ),
            (
                br#"{"untilMS": 1767225600000}"#,
                Expiry::At(1_767_225_600_000),
            ),
            (br#"{"untilMS": 0}"#, Expiry::At(0)),
            (
                br#"{"untilMS": 253402300799999}"#,
                Expiry::At(MAX_DEADLINE_MS),
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                parse_mute_body(body),
                Ok(expected),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn bad_bodies() {
        use BodyError::*;
        let cases: [(&[u8], BodyError); 32] = [
            (b"{", NotAnObject),
            (b"null", NotAnObject),
            (b"60000", NotAnObject),
            (b"\"durationMS\"", NotAnObject),
            (br#"[{"durationMS": 1}]"#, NotAnObject),
            (br#"{"durationMS": 1} x"#, NotAnObject),
            (br#"{"durationMS": 1}{}"#, NotAnObject),
            (br#"{durationMS: 1}"#, NotAnObject),
            (br#"{"durationMS": 1,}"#, NotAnObject),
            (b"\xef\xbb\xbf{\"durationMS\": 1}", NotAnObject),
            (b"\0", NotAnObject),
            (br#"{"durationMS": 1, "x": 2}"#, UnknownKey),
            (br#"{"durationms": 1}"#, UnknownKey),
            (br#"{"duration": 1}"#, UnknownKey),
            (br#"{"durationMS": 1, "durationMS": 2}"#, RepeatedKey),
            (br#"{"untilMS": 5, "untilMS": 5}"#, RepeatedKey),
            (br#"{"durationMS": 1, "untilMS": 2}"#, BothKeys),
            (b"{}", NoKey),
            (br#"{"durationMS": 0}"#, BadDuration),
            (br#"{"durationMS": -5}"#, BadDuration),
            (br#"{"durationMS": 1.5}"#, BadDuration),
            (br#"{"durationMS": 1.0}"#, BadDuration),
            (br#"{"durationMS": 1e3}"#, BadDuration),
            (br#"{"durationMS": "60000"}"#, BadDuration),
            (br#"{"durationMS": null}"#, BadDuration),
            (br#"{"durationMS": 253402300800000}"#, BadDuration),
            (br#"{"durationMS": 99999999999999999999999}"#, BadDuration),
            (br#"{"durationMS": -0}"#, BadDuration),
            (br#"{"untilMS": -1}"#, BadUntil),
            (br#"{"untilMS": -0}"#, BadUntil),
            (br#"{"untilMS": true}"#, BadUntil),
            (br#"{"untilMS": 253402300800000}"#, BadUntil),
        ];
        for (body, expected) in cases {
            assert_eq!(
                parse_mute_body(body),
                Err(expected),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        // Nesting past serde_json's depth limit is an error, not a stack overflow.
        let deep = [b"{\"x\":".repeat(10_000), b"1".to_vec()].concat();
        assert_eq!(parse_mute_body(&deep), Err(NotAnObject));
        assert!(parse_mute_body(&vec![b'['; 64 * 1024]).is_err());
        assert!(parse_mute_body(&vec![b'{'; 64 * 1024]).is_err());
    }

    #[test]
    fn every_message_is_a_sentence_without_the_request_in_it() {
        for error in BodyError::ALL {
            let message = error.message();
            assert!(message.ends_with('.'), "{message}");
        }
        assert!(MAX_DEADLINE_MS.to_string() == "253402300799999");
    }
}
