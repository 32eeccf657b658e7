//! [`SecretTable`]: secrets looked up in constant time.

use std::fmt;

use subtle::{ConditionallySelectable, ConstantTimeEq};

/// Secrets, each with a value, looked up by comparing the candidate with every secret in constant
/// time. The time taken depends on the number of secrets and on the candidate's length, never on
/// how many bytes of a secret a guess got right, nor on which secret matched.
///
/// A lookup costs one comparison per secret: fine for the keys of an app and the users of a seed.
pub(crate) struct SecretTable<V> {
    secrets: Vec<(Box<[u8]>, V)>,
}

impl<V> SecretTable<V> {
    /// A table of `(secret, value)` pairs. Empty secrets are dropped: they can never match.
    pub(crate) fn new(entries: impl IntoIterator<Item = (impl AsRef<[u8]>, V)>) -> Self {
        Self {
            secrets: entries
                .into_iter()
                .filter(|(secret, _)| !secret.as_ref().is_empty())
                .map(|(secret, value)| (Box::from(secret.as_ref()), value))
                .collect(),
        }
    }

    /// The value of the secret equal to `candidate`, if any.
    pub(crate) fn get(&self, candidate: &[u8]) -> Option<&V> {
        // Every secret is compared; the index of the match is selected without a branch.
        let mut found = u64::MAX;
        for (index, (secret, _)) in self.secrets.iter().enumerate() {
            let index = u64::try_from(index).unwrap_or(u64::MAX);
            found.conditional_assign(&index, secret.as_ref().ct_eq(candidate));
        }
        let index = usize::try_from(found).ok()?;
        self.secrets.get(index).map(|(_, value)| value)
    }

    /// Whether `candidate` is one of the secrets.
    pub(crate) fn contains(&self, candidate: &[u8]) -> bool {
        self.get(candidate).is_some()
    }
}

/// Never shows a secret.
impl<V> fmt::Debug for SecretTable<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretTable")
            .field("secrets", &self.secrets.len())
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
}
