//! Equality of short ids by whole words: room and user ids are mostly 8 to 32 bytes (24-character
//! room ids, 13-digit user ids), where a few 8-byte compares beat a call to `memcmp`, and a shorter
//! id (`room-1`) is one word built from overlapping loads.

/// Eight bytes as a little-endian word.
#[inline]
pub(crate) fn word(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(word)
}

/// One to seven bytes as a little-endian word padded with zeros, from overlapping loads rather than
/// a copy of variable length into a padded array (a call to `memcpy`, and then a read of the array
/// that waits for the copy to land).
#[inline]
pub(crate) fn short_word(bytes: &[u8]) -> u64 {
    let len = bytes.len();
    debug_assert!((1..8).contains(&len));
    if len >= 4 {
        let half = |at: usize| {
            let mut half = [0u8; 4];
            half.copy_from_slice(&bytes[at..at + 4]);
            u64::from(u32::from_le_bytes(half))
        };
        // The two halves overlap when `len < 8`; the overlapping bytes are the same bytes.
        half(0) | half(len - 4) << (8 * (len - 4))
    } else {
        // One, two or three bytes: the first, the middle and the last (some of them the same).
        u64::from(bytes[0])
            | u64::from(bytes[len / 2]) << (8 * (len / 2))
            | u64::from(bytes[len - 1]) << (8 * (len - 1))
    }
}

/// Whether two ids are the same text: for ids of 1 to 32 bytes (room ids are 24), one to four
/// word compares instead of a call to `memcmp`.
#[inline]
pub(crate) fn same_text(a: &[u8], b: &[u8]) -> bool {
    let len = a.len();
    if len != b.len() {
        return false;
    }
    let word = |bytes: &[u8], at: usize| word(&bytes[at..]);
    match len {
        8..=16 => word(a, 0) == word(b, 0) && word(a, len - 8) == word(b, len - 8),
        17..=32 => {
            word(a, 0) == word(b, 0)
                && word(a, 8) == word(b, 8)
                && word(a, len - 16) == word(b, len - 16)
                && word(a, len - 8) == word(b, len - 8)
        }
        1..=7 => short_word(a) == short_word(b),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::{same_text, short_word};

    #[test]
    fn short_words_are_the_bytes_padded_with_zeros() {
        // Distinct bytes, so a byte landing in the wrong place shows.
        let base = b"\x01\x02\x03\x04\x05\x06\x07";
        for len in 1..8 {
            let mut padded = [0u8; 8];
            padded[..len].copy_from_slice(&base[..len]);
            assert_eq!(
                short_word(&base[..len]),
                u64::from_le_bytes(padded),
                "len {len}"
            );
        }
    }

    #[test]
    fn same_text_agrees_with_byte_equality_at_every_length() {
        let base: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
        for len in 0..=40 {
            let a = &base[..len];
            assert!(same_text(a, a));
            for at in 0..len {
                let mut b = a.to_vec();
                b[at] ^= 1;
                assert!(!same_text(a, &b), "len {len}, byte {at}");
            }
            if len > 0 {
                assert!(!same_text(a, &base[..len - 1]));
            }
        }
    }
}
