//! A path parameter (`:room`, `:uid`) turned into a validated id.

use std::fmt;

use super::percent::{InvalidEscape, percent_decode};
use crate::ids::{IdError, RoomId, UserId};

/// Which path parameter was malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParamName {
    /// `:room`
    Room,
    /// `:uid`
    Uid,
}

impl fmt::Display for ParamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Room => "room id",
            Self::Uid => "user id",
        })
    }
}

/// Why a path parameter is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ParamError {
    /// The raw segment holds a broken percent-escape.
    #[error("The {name} in the path is not valid: {source}.")]
    Escape {
        /// The parameter.
        name: ParamName,
        /// The broken escape.
        source: InvalidEscape,
    },
    /// The decoded bytes are not a valid id.
    #[error("The {name} in the path is not valid: {source}.")]
    Id {
        /// The parameter.
        name: ParamName,
        /// What is wrong with the id.
        source: IdError,
    },
}

fn decode<T>(
    raw: &str,
    name: ParamName,
    make: impl FnOnce(&[u8]) -> Result<T, IdError>,
) -> Result<T, ParamError> {
    let bytes = percent_decode(raw).map_err(|source| ParamError::Escape { name, source })?;
    make(&bytes).map_err(|source| ParamError::Id { name, source })
}

/// Percent-decodes the raw `:room` segment and validates it as a [`RoomId`].
pub(crate) fn room_param(raw: &str) -> Result<RoomId, ParamError> {
    decode(raw, ParamName::Room, RoomId::from_utf8)
}

/// Percent-decodes the raw `:uid` segment and validates it as a [`UserId`].
pub(crate) fn uid_param(raw: &str) -> Result<UserId, ParamError> {
    decode(raw, ParamName::Uid, UserId::from_utf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_then_validates() {
        assert_eq!(room_param("a%2Fb").unwrap(), "a/b");
        assert_eq!(room_param("a%20b").unwrap(), "a b");
        assert_eq!(uid_param("%E3%83%AB").unwrap(), "ル");
        assert_eq!(room_param(&"x".repeat(256)).unwrap().len(), 256);
        // 86 escapes of a 3-byte character: 258 bytes once decoded.
        let long = "%E3%83%AB".repeat(86);
        assert!(matches!(
            room_param(&long),
            Err(ParamError::Id {
                source: IdError::TooLong { len: 258 },
                ..
            })
        ));
    }

    #[test]
    fn every_kind_of_malformed_segment_is_refused() {
        assert!(matches!(
            room_param(""),
            Err(ParamError::Id {
                source: IdError::Empty,
                ..
            })
        ));
        assert!(matches!(
            room_param(&"x".repeat(257)),
            Err(ParamError::Id {
                source: IdError::TooLong { len: 257 },
                ..
            })
        ));
        assert!(matches!(
            room_param("a%00"),
            Err(ParamError::Id {
                source: IdError::ControlCharacter { code: 0, .. },
                ..
            })
        ));
        assert!(matches!(
            room_param("%7F"),
            Err(ParamError::Id {
                source: IdError::ControlCharacter { code: 0x7f, .. },
                ..
            })
        ));
        assert!(matches!(
            uid_param("%FF%FE"),
            Err(ParamError::Id {
                name: ParamName::Uid,
                source: IdError::NotUtf8
            })
        ));
        assert!(matches!(room_param("%G0"), Err(ParamError::Escape { .. })));
        let message = room_param("bad%").unwrap_err().to_string();
        assert_eq!(
            message,
            "The room id in the path is not valid: it holds an invalid percent-escape at byte 3."
        );
    }
}
