//! Strict percent-decoding of one path segment.

use std::borrow::Cow;

/// A `%` not followed by two hexadecimal digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("it holds an invalid percent-escape at byte {byte_offset}")]
pub(crate) struct InvalidEscape {
    /// Where the `%` is, in bytes from the start of the raw segment.
    pub(crate) byte_offset: usize,
}

/// Decodes every `%XX` in `raw` into the byte it names. Every other byte is kept as it is (`+`
/// stays `+`: it means a space only in form bodies, never in paths). A `%` not followed by two
/// hexadecimal digits is an error, never passed through.
pub(crate) fn percent_decode(raw: &str) -> Result<Cow<'_, [u8]>, InvalidEscape> {
    let bytes = raw.as_bytes();
    if !bytes.contains(&b'%') {
        return Ok(Cow::Borrowed(bytes));
    }
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut offset = 0;
    while let Some(&byte) = bytes.get(offset) {
        if byte != b'%' {
            decoded.push(byte);
            offset += 1;
            continue;
        }
        let high = bytes.get(offset + 1).and_then(|&b| hex_value(b));
        let low = bytes.get(offset + 2).and_then(|&b| hex_value(b));
        match (high, low) {
            (Some(high), Some(low)) => {
                decoded.push(high << 4 | low);
                offset += 3;
            }
            _ => {
                return Err(InvalidEscape {
                    byte_offset: offset,
                });
            }
        }
    }
    Ok(Cow::Owned(decoded))
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_keeps_everything_else() {
        assert_eq!(percent_decode("plain").unwrap(), &b"plain"[..]);
        assert_eq!(percent_decode("a%2Fb").unwrap(), &b"a/b"[..]);
        assert_eq!(percent_decode("a%2fb+c").unwrap(), &b"a/b+c"[..]);
        assert_eq!(percent_decode("%E3%83%AB").unwrap(), "ル".as_bytes());
        assert_eq!(percent_decode("%00").unwrap(), &[0u8][..]);
        assert_eq!(percent_decode("%FF").unwrap(), &[0xffu8][..]);
        assert_eq!(percent_decode("%25").unwrap(), &b"%"[..]);
    }

    #[test]
    fn refuses_incomplete_or_non_hex_escapes() {
        for (raw, offset) in [
            ("%", 0),
            ("a%", 1),
            ("a%2", 1),
            ("%ZZ", 0),
            ("ok%2G", 2),
            ("%%41", 0),
        ] {
            assert_eq!(
                percent_decode(raw),
                Err(InvalidEscape {
                    byte_offset: offset
                }),
                "{raw}"
            );
        }
    }
}
