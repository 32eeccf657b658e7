//! Equality of short ids by whole words: room and user ids are mostly 8 to 32 bytes (24-character
//! room ids, 13-digit user ids), where a few 8-byte compares beat a call to `memcmp`.

/// Eight bytes as a little-endian word.
#[inline]
pub(crate) fn word(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(word)
}

/// Whether two ids are the same text: for ids of 8 to 32 bytes (room ids are 24), a few word
/// compares instead of a call to `memcmp`.
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
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::same_text;

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
