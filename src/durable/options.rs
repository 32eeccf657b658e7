//! [`DurableOptions`]: how a [`DurableStore`] is opened.

use std::path::Path;

use super::durability::Durability;
use super::durable_store::DurableStore;
use super::open_error::OpenError;
use crate::memory::DEFAULT_MUTE_LIMIT;

/// The default for [`DurableOptions::compact_after_bytes`]: 32 MiB.
pub const DEFAULT_COMPACT_AFTER_BYTES: u64 = 32 << 20;

/// How to open a [`DurableStore`]: durability, per-user limit, and when to compact.
///
/// ```no_run
/// use std::time::Duration;
/// use mutestore::{DurableOptions, Durability};
///
/// let store = DurableOptions::new()
///     .durability(Durability::Periodic(Duration::from_secs(1)))
///     .mute_limit(500)
///     .open("./data")?;
/// # Ok::<(), mutestore::OpenError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurableOptions {
    pub(super) durability: Durability,
    pub(super) mute_limit: usize,
    pub(super) compact_after_bytes: u64,
}

impl Default for DurableOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl DurableOptions {
    /// [`Durability::Sync`], [`DEFAULT_MUTE_LIMIT`], [`DEFAULT_COMPACT_AFTER_BYTES`].
    #[must_use]
    pub fn new() -> Self {
        Self {
            durability: Durability::Sync,
            mute_limit: DEFAULT_MUTE_LIMIT,
            compact_after_bytes: DEFAULT_COMPACT_AFTER_BYTES,
        }
    }

    /// When a change reaches the disk; see [`Durability`].
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// The most rooms one user may have muted. It applies to new mutes only: lowering it never
    /// drops rooms already on disk.
    #[must_use]
    pub fn mute_limit(mut self, limit: usize) -> Self {
        self.mute_limit = limit;
        self
    }

    /// The log is compacted into a new snapshot once it holds this many bytes and at least as
    /// many as the last snapshot, which bounds both the disk used and the time a reopen takes to
    /// about twice what the snapshot alone needs.
    #[must_use]
    pub fn compact_after_bytes(mut self, bytes: u64) -> Self {
        self.compact_after_bytes = bytes;
        self
    }

    /// Opens (or creates) the store in `dir` with these options.
    ///
    /// # Errors
    /// See [`DurableStore::open`].
    pub fn open(&self, dir: impl AsRef<Path>) -> Result<DurableStore, OpenError> {
        DurableStore::open_with(dir, self.clone())
    }
}
