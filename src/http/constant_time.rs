//! [`secrets_equal`]: the one comparison of secrets, in time that does not depend on their bytes.

use subtle::{Choice, ConstantTimeEq};

/// Whether `secret` and `candidate` are equal. Every byte of both is read and compared with
/// `subtle`'s constant-time equality, whatever the first difference; the time taken depends only
/// on the lengths, which are not secret. Slices of different lengths are unequal without reading.
pub(crate) fn secrets_equal(secret: &[u8], candidate: &[u8]) -> Choice {
    bytes_equal(secret.iter().copied(), candidate.iter().copied())
}

/// [`secrets_equal`] over any byte sources, so that a test can count the bytes read.
fn bytes_equal(
    secret: impl ExactSizeIterator<Item = u8>,
    candidate: impl ExactSizeIterator<Item = u8>,
) -> Choice {
    if secret.len() != candidate.len() {
        return Choice::from(0);
    }
    secret
        .zip(candidate)
        .fold(Choice::from(1), |equal, (a, b)| equal & a.ct_eq(&b))
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// Bytes that count how many of them were read.
    struct Counted<'a> {
        bytes: std::slice::Iter<'a, u8>,
        read: &'a Cell<usize>,
    }

    impl Iterator for Counted<'_> {
        type Item = u8;
        fn next(&mut self) -> Option<u8> {
            let byte = self.bytes.next().copied();
            if byte.is_some() {
                self.read.set(self.read.get() + 1);
            }
            byte
        }
        fn size_hint(&self) -> (usize, Option<usize>) {
            self.bytes.size_hint()
        }
    }

    impl ExactSizeIterator for Counted<'_> {}

    /// Compares and says how many bytes of each side were read.
    fn compare_counting(secret: &[u8], candidate: &[u8]) -> (bool, usize, usize) {
        let (secret_read, candidate_read) = (Cell::new(0), Cell::new(0));
        let equal = bytes_equal(
            Counted {
                bytes: secret.iter(),
                read: &secret_read,
            },
            Counted {
                bytes: candidate.iter(),
                read: &candidate_read,
            },
        );
        (bool::from(equal), secret_read.get(), candidate_read.get())
    }

    #[test]
    fn every_byte_is_read_wherever_the_first_difference_is() {
        let secret = b"demo-api-key-0123456789abcdef";
        let n = secret.len();
        for position in 0..n {
            let mut guess = *secret;
            guess[position] ^= 0x01;
            assert_eq!(
                compare_counting(secret, &guess),
                (false, n, n),
                "at {position}"
            );
        }
        assert_eq!(compare_counting(secret, secret), (true, n, n));
        // A guess of another length is unequal, and its bytes tell nothing.
        assert_eq!(compare_counting(secret, b"demo"), (false, 0, 0));
    }

    #[test]
    fn equal_only_when_every_byte_is() {
        assert!(bool::from(secrets_equal(b"abc", b"abc")));
        assert!(!bool::from(secrets_equal(b"abc", b"abd")));
        assert!(!bool::from(secrets_equal(b"abc", b"ab")));
        assert!(bool::from(secrets_equal(b"", b"")));
    }
}
