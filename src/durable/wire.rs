//! How ids and counts are written inside frames.
//!
//! An id is one length byte holding `len - 1` (ids are 1 to [`MAX_ID_BYTES`] = 256 bytes, so every
//! length fits) followed by its UTF-8 bytes. A count is an unsigned LEB128 varint. Reading
//! validates: an id read back goes through [`UserId::from_utf8`] / [`RoomId::from_utf8`], so a data
//! file can never put a malformed id into a store.

use crate::ids::{MAX_ID_BYTES, RoomId, UserId};

const _: () = assert!(MAX_ID_BYTES == 256, "the length byte holds len - 1");

/// Appends an id (a [`UserId`] or [`RoomId`] as bytes).
pub(super) fn put_id(out: &mut Vec<u8>, id: &str) {
    debug_assert!((1..=MAX_ID_BYTES).contains(&id.len()));
    out.push((id.len() - 1) as u8);
    out.extend_from_slice(id.as_bytes());
}

/// Appends `value` as an unsigned LEB128 varint.
pub(super) fn put_count(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Why bytes inside a frame whose checksum matched could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(super) enum WireError {
    /// The bytes end in the middle of a value.
    #[error("a value runs past the end of its frame")]
    Truncated,
    /// An id is not a valid id.
    #[error("an id is not valid UTF-8 or breaks the id rules")]
    InvalidId,
    /// A count does not fit in 64 bits.
    #[error("a count is too large")]
    CountOverflow,
    /// A tag byte names nothing this version writes.
    #[error("unknown tag {0:#04x}")]
    UnknownTag(u8),
    /// A mute's deadline is 0 or after the latest a store accepts.
    #[error("a deadline ({0} ms since the epoch) is out of range")]
    DeadlineOutOfRange(u64),
    /// A snapshot lists a user twice, or a room twice for one user, which no store writes.
    #[error("a user, or a room of one user, is listed twice")]
    Repeated,
}

/// Reads values one after the other from a frame's payload.
#[derive(Debug)]
pub(super) struct WireReader<'a> {
    bytes: &'a [u8],
}

impl<'a> WireReader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub(super) fn byte(&mut self) -> Result<u8, WireError> {
        let (&first, rest) = self.bytes.split_first().ok_or(WireError::Truncated)?;
        self.bytes = rest;
        Ok(first)
    }

    pub(super) fn u64_le(&mut self) -> Result<u64, WireError> {
        let (head, rest) = self
            .bytes
            .split_first_chunk::<8>()
            .ok_or(WireError::Truncated)?;
        self.bytes = rest;
        Ok(u64::from_le_bytes(*head))
    }

    pub(super) fn count(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            let bits = u64::from(byte & 0x7f);
            // The tenth byte holds the top bit alone: anything more would be shifted out unseen.
            if bits >> (64 - shift).min(7) != 0 {
                return Err(WireError::CountOverflow);
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(WireError::CountOverflow)
    }

    fn id_bytes(&mut self) -> Result<&'a [u8], WireError> {
        let len = usize::from(self.byte()?) + 1;
        if self.bytes.len() < len {
            return Err(WireError::Truncated);
        }
        let (id, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(id)
    }

    pub(super) fn user(&mut self) -> Result<UserId, WireError> {
        UserId::from_utf8(self.id_bytes()?).map_err(|_| WireError::InvalidId)
    }

    pub(super) fn room(&mut self) -> Result<RoomId, WireError> {
        RoomId::from_utf8(self.id_bytes()?).map_err(|_| WireError::InvalidId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_counts_round_trip() {
        let long = "r".repeat(MAX_ID_BYTES);
        let mut out = Vec::new();
        put_id(&mut out, "alice");
        put_id(&mut out, &long);
        for value in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            put_count(&mut out, value);
        }
        let mut reader = WireReader::new(&out);
        assert_eq!(reader.user().unwrap(), "alice");
        assert_eq!(reader.room().unwrap().as_str(), long);
        for value in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            assert_eq!(reader.count().unwrap(), value);
        }
        assert!(reader.is_empty());
        assert_eq!(reader.byte(), Err(WireError::Truncated));
    }

    #[test]
    fn malformed_bytes_are_errors() {
        assert_eq!(
            WireReader::new(&[4, b'a']).user(),
            Err(WireError::Truncated)
        );
        assert_eq!(
            WireReader::new(&[0, b'\n']).room(),
            Err(WireError::InvalidId)
        );
        assert_eq!(
            WireReader::new(&[0, 0xff]).user(),
            Err(WireError::InvalidId)
        );
        assert_eq!(
            WireReader::new(&[0xff; 11]).count(),
            Err(WireError::CountOverflow)
        );
        // Ten bytes whose last holds more than the 64th bit.
        let mut past_64_bits = [0xff; 10];
        past_64_bits[9] = 0x02;
        assert_eq!(
            WireReader::new(&past_64_bits).count(),
            Err(WireError::CountOverflow)
        );
        past_64_bits[9] = 0x01;
        assert_eq!(WireReader::new(&past_64_bits).count(), Ok(u64::MAX));
    }
}
