//! [`SecretTable`]: secrets looked up without revealing, through timing, how close a guess was.

use std::fmt;
use std::hash::{BuildHasher, Hasher, RandomState};

use hashbrown::HashTable;
use subtle::{Choice, ConstantTimeEq};

/// Secrets, each with a value, found through a keyed hash of the candidate, then confirmed by one
/// comparison in constant time.
///
/// The hash is SipHash under keys drawn at random when the table is made, so its values say nothing
/// an attacker can use about a secret's bytes: which bucket a guess lands in does not depend on how
/// many of its bytes are right. The one secret whose hash equals the candidate's (in practice there
/// is at most one) is then compared with it in constant time. The time taken depends on the
/// candidate's length and on whether its hash is a secret's, never on how many bytes of a secret
/// a guess got right. A lookup costs the same whatever the number of secrets.
pub(crate) struct SecretTable<V> {
    hasher: RandomState,
    entries: HashTable<Entry<V>>,
}

/// A secret with its keyed hash and its value.
struct Entry<V> {
    hash: u64,
    secret: Box<[u8]>,
    value: V,
}

impl<V> SecretTable<V> {
    /// A table of `(secret, value)` pairs. Empty secrets are dropped: they can never match. A
    /// secret given twice keeps the last value.
    pub(crate) fn new(entries: impl IntoIterator<Item = (impl AsRef<[u8]>, V)>) -> Self {
        let mut table = Self {
            hasher: RandomState::new(),
            entries: HashTable::new(),
        };
        for (secret, value) in entries {
            table.insert(secret.as_ref(), value);
        }
        table
    }

    fn insert(&mut self, secret: &[u8], value: V) {
        if secret.is_empty() {
            return;
        }
        let hash = self.hash(secret);
        let same = |entry: &Entry<V>| entry.hash == hash && *entry.secret == *secret;
        match self.entries.find_mut(hash, same) {
            Some(entry) => entry.value = value,
            None => {
                let entry = Entry {
                    hash,
                    secret: Box::from(secret),
                    value,
                };
                self.entries.insert_unique(hash, entry, |entry| entry.hash);
            }
        }
    }

    /// The value of the secret equal to `candidate`, if any.
    pub(crate) fn get(&self, candidate: &[u8]) -> Option<&V> {
        let hash = self.hash(candidate);
        self.entries
            .iter_hash(hash)
            .filter(|entry| entry.hash == hash)
            .find(|entry| equal_in_constant_time(&entry.secret, candidate))
            .map(|entry| &entry.value)
    }

    /// The keyed hash of `bytes` (SipHash's own padding encodes the length).
    fn hash(&self, bytes: &[u8]) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        hasher.write(bytes);
        hasher.finish()
    }

    /// Whether `candidate` is one of the secrets.
    pub(crate) fn contains(&self, candidate: &[u8]) -> bool {
        self.get(candidate).is_some()
    }
}

/// Whether `a` equals `b`, in a time that depends on their lengths only: eight bytes at a time,
/// each word compared without a branch on its bytes.
fn equal_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut equal = Choice::from(1);
    for (a, b) in a.chunks(8).zip(b.chunks(8)) {
        equal &= word(a).ct_eq(&word(b));
    }
    equal.into()
}

/// Up to eight bytes as a word, zero-padded.
fn word(chunk: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    for (byte, value) in bytes.iter_mut().zip(chunk) {
        *byte = *value;
    }
    u64::from_le_bytes(bytes)
}

/// Never shows a secret.
impl<V> fmt::Debug for SecretTable<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretTable")
            .field("secrets", &self.entries.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_exact_matches_only() {
        let table = SecretTable::new([("alpha", 1), ("beta", 2), ("", 3), ("alphabet", 4)]);
        assert_eq!(table.get(b"alpha"), Some(&1));
        assert_eq!(table.get(b"beta"), Some(&2));
        assert_eq!(table.get(b"alphabet"), Some(&4));
        assert_eq!(table.get(b"alph"), None);
        assert_eq!(table.get(b"ALPHA"), None);
        assert_eq!(table.get(b""), None);
        assert!(!format!("{table:?}").contains("alpha"));
    }

    #[test]
    fn words_compare_every_byte() {
        for len in 0..=20 {
            let a: Vec<u8> = (0..len).map(|n| n as u8 + 1).collect();
            assert!(equal_in_constant_time(&a, &a.clone()));
            for at in 0..len {
                let mut b = a.clone();
                b[at] ^= 0x80;
                assert!(!equal_in_constant_time(&a, &b), "{len} {at}");
            }
            assert!(!equal_in_constant_time(&a, &[a.as_slice(), &[0]].concat()));
        }
    }

    #[test]
    fn a_repeated_secret_keeps_its_last_value() {
        let table = SecretTable::new([("key", 1), ("key", 2)]);
        assert_eq!(table.get(b"key"), Some(&2));
        assert_eq!(format!("{table:?}"), "SecretTable { secrets: 1, .. }");
    }

    #[test]
    fn many_secrets_are_each_found() {
        let table = SecretTable::new((0..1000).map(|n| (format!("token-{n}"), n)));
        for n in 0..1000 {
            assert_eq!(table.get(format!("token-{n}").as_bytes()), Some(&n));
        }
        assert_eq!(table.get(b"token-1000"), None);
    }
}
