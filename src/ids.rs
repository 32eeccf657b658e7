//! Validated identifiers: [`UserId`] and [`RoomId`].
//!
//! An id is 1 to [`MAX_ID_BYTES`] bytes of UTF-8 with no control characters (U+0000 to U+001F and
//! U+007F). Constructors check this, so a value of either type is always valid. Ids of up to 24 bytes
//! (13-digit user ids, 24-hex room ids) are stored inline: cloning one copies 24 bytes and allocates
//! nothing.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use compact_str::CompactString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest id accepted, in bytes of UTF-8.
pub const MAX_ID_BYTES: usize = 256;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
pub enum IdError {
    /// The id is the empty string.
    #[error("an id must not be empty")]
    Empty,
    /// The id is longer than [`MAX_ID_BYTES`].
    #[error("an id must be at most {max} bytes of UTF-8, this one has {len}", max = MAX_ID_BYTES)]
    TooLong {
        /// The length that was given, in bytes.
        len: usize,
    },
    /// The id contains a control character.
    #[error("an id must not contain control characters (U+{code:04X} at byte {byte_offset})")]
    ControlCharacter {
        /// The code point of the first control character found.
        code: u32,
        /// Where it starts, in bytes from the start of the id.
        byte_offset: usize,
    },
    /// The bytes are not UTF-8.
    #[error("an id must be valid UTF-8")]
    NotUtf8,
}

/// Checks the id rules on `text`.
fn validate(text: &str) -> Result<(), IdError> {
    if text.is_empty() {
        return Err(IdError::Empty);
    }
    if text.len() > MAX_ID_BYTES {
        return Err(IdError::TooLong { len: text.len() });
    }
    // Control characters are all ASCII, so a byte scan finds them; UTF-8 continuation bytes are
    // always >= 0x80 and never match.
    match text.bytes().position(|b| b < 0x20 || b == 0x7f) {
        Some(byte_offset) => Err(IdError::ControlCharacter {
            code: u32::from(text.as_bytes()[byte_offset]),
            byte_offset,
        }),
        None => Ok(()),
    }
}

macro_rules! define_id {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(CompactString);

        impl $name {
            #[doc = concat!("Validates `text` as a ", $what, " id.")]
            ///
            /// # Errors
            /// [`IdError`] when `text` is empty, longer than [`MAX_ID_BYTES`] or holds a control
            /// character.
            pub fn new(text: &str) -> Result<Self, IdError> {
                validate(text)?;
                Ok(Self(CompactString::new(text)))
            }

            #[doc = concat!("Validates raw bytes (for example a percent-decoded path segment) as a ", $what, " id.")]
            ///
            /// # Errors
            /// [`IdError::NotUtf8`] when the bytes are not UTF-8, else as [`Self::new`].
            pub fn from_utf8(bytes: &[u8]) -> Result<Self, IdError> {
                let text = std::str::from_utf8(bytes).map_err(|_| IdError::NotUtf8)?;
                Self::new(text)
            }

            /// The id as a string slice.
            #[must_use]
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                self.0.as_str()
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.0.as_str()
            }
        }

        // `Hash` and `Eq` agree with `str`'s, so maps keyed by the id can be queried by `&str`.
        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                self.0.as_str()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self.as_str(), f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(text: &str) -> Result<Self, IdError> {
                Self::new(text)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(text: &str) -> Result<Self, IdError> {
                Self::new(text)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(text: String) -> Result<Self, IdError> {
                validate(&text)?;
                Ok(Self(CompactString::from(text)))
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Self::new(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

define_id!(
    /// The id of a user: 1 to 256 bytes of UTF-8, no control characters.
    ///
    /// ```
    /// use mutestore::UserId;
    /// let user = UserId::new("1485248560558").unwrap();
    /// assert_eq!(user.as_str(), "1485248560558");
    /// assert!(UserId::new("").is_err());
    /// ```
    UserId,
    "user"
);

define_id!(
    /// The id of a room: 1 to 256 bytes of UTF-8, no control characters.
    ///
    /// ```
    /// use mutestore::RoomId;
    /// let room = RoomId::new("demo-room").unwrap();
    /// assert_eq!(room.to_string(), "demo-room");
    /// assert!(RoomId::new("bad\nroom").is_err());
    /// ```
    RoomId,
    "room"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_range() {
        assert!(RoomId::new("a").is_ok());
        assert!(RoomId::new(&"x".repeat(MAX_ID_BYTES)).is_ok());
        assert!(RoomId::new("with/slash and space").is_ok());
        assert!(RoomId::new("ルーム").is_ok());
        // C1 controls are not in the refused range.
        assert!(RoomId::new("a\u{0085}b").is_ok());
    }

    #[test]
    fn refuses_with_a_typed_reason() {
        assert_eq!(UserId::new(""), Err(IdError::Empty));
        assert_eq!(
            UserId::new(&"x".repeat(MAX_ID_BYTES + 1)),
            Err(IdError::TooLong { len: 257 })
        );
        assert_eq!(
            UserId::new("ab\u{7f}"),
            Err(IdError::ControlCharacter {
                code: 0x7f,
                byte_offset: 2
            })
        );
        assert_eq!(
            UserId::new("\0"),
            Err(IdError::ControlCharacter {
                code: 0,
                byte_offset: 0
            })
        );
        assert_eq!(UserId::from_utf8(&[0xff, 0x41]), Err(IdError::NotUtf8));
        // Multi-byte characters count in bytes, not characters.
        assert!(UserId::new(&"é".repeat(128)).is_ok());
        assert_eq!(
            UserId::new(&"é".repeat(129)),
            Err(IdError::TooLong { len: 258 })
        );
    }

    #[test]
    fn serde_round_trip_validates() {
        let room: RoomId = serde_json_like("\"demo-room\"").unwrap();
        assert_eq!(room, "demo-room");
        assert!(serde_json_like::<RoomId>("\"\"").is_err());
    }

    /// A minimal JSON string reader so this unit test needs no JSON crate.
    fn serde_json_like<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, String> {
        use serde::de::IntoDeserializer;
        use serde::de::value::{Error, StrDeserializer};
        let inner = text.trim_matches('"');
        let de: StrDeserializer<'_, Error> = inner.into_deserializer();
        T::deserialize(de).map_err(|e| e.to_string())
    }
}
