//! [`Input`]: fuzz bytes read as a sequence of small choices.

use std::borrow::Cow;

/// Reads a fuzz input front to back as choices, lengths and raw bytes. Every read succeeds: past the
/// end of the input each choice is the first option and each byte string is empty, so every input,
/// however short, decodes to something.
#[derive(Debug, Clone)]
pub(crate) struct Input<'a> {
    bytes: &'a [u8],
}

impl<'a> Input<'a> {
    /// Reads `bytes`.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// Whether every byte has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The next byte, or 0 past the end.
    pub(crate) fn byte(&mut self) -> u8 {
        match self.bytes.split_first() {
            Some((&first, rest)) => {
                self.bytes = rest;
                first
            }
            None => 0,
        }
    }

    /// The next two bytes as a little-endian number.
    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// The next eight bytes as a little-endian number.
    pub(crate) fn u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        for byte in &mut bytes {
            *byte = self.byte();
        }
        u64::from_le_bytes(bytes)
    }

    /// A choice among `options` possibilities: `0..options` (0 when `options` is 0).
    pub(crate) fn below(&mut self, options: usize) -> usize {
        match options {
            0 => 0,
            1..=256 => usize::from(self.byte()) % options,
            _ => usize::from(self.u16()) % options,
        }
    }

    /// One of `options` (the first past the end of the input).
    pub(crate) fn pick<T: Copy>(&mut self, options: &[T]) -> Option<T> {
        let index = self.below(options.len());
        options.get(index).copied()
    }

    /// A length-prefixed run of at most `max` raw bytes (fewer when the input runs out).
    pub(crate) fn bytes(&mut self, max: usize) -> &'a [u8] {
        let wanted = self.below(max.saturating_add(1));
        let (taken, rest) = self.bytes.split_at(wanted.min(self.bytes.len()));
        self.bytes = rest;
        taken
    }

    /// A length-prefixed run of at most `max` bytes as text; bytes that are not UTF-8 become
    /// U+FFFD.
    pub(crate) fn text(&mut self, max: usize) -> Cow<'a, str> {
        String::from_utf8_lossy(self.bytes(max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_choices_then_defaults_past_the_end() {
        let mut input = Input::new(&[7, 2, b'a', b'b', b'c', 0x34, 0x12]);
        assert_eq!(input.below(5), 2);
        assert_eq!(input.bytes(10), b"ab");
        assert_eq!(input.pick(&["x", "y", "z"]), Some("x")); // b'c' is 99
        assert_eq!(input.u16(), 0x1234);
        assert!(input.is_empty());
        assert_eq!(input.byte(), 0);
        assert_eq!(input.bytes(10), b"");
        assert_eq!(input.pick::<u8>(&[]), None);
    }
}
