//! [`DurableOptions`]: how a [`DurableStore`] is opened.

use std::path::Path;
use std::sync::Arc;

use super::durability::Durability;
use super::durable_store::DurableStore;
use super::open_error::OpenError;
use crate::clock::{SharedClock, SystemClock};
use crate::memory::DEFAULT_MUTE_LIMIT;

/// The default for [`DurableOptions::compact_after_bytes`]: 32 MiB.
pub const DEFAULT_COMPACT_AFTER_BYTES: u64 = 32 << 20;

/// The default for [`DurableOptions::max_backlog_bytes`]: 256 MiB, several times the most a
/// healthy disk was measured to let queue (see `docs/DURABILITY.md`).
pub const DEFAULT_MAX_BACKLOG_BYTES: u64 = 256 << 20;

/// How to open a [`DurableStore`]: durability, per-user limit, when to compact, how much may wait
/// in memory for the disk, and the clock.
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
///
/// Two options are equal when they have equal settings and share the same clock (the same
/// [`SharedClock`] allocation).
#[derive(Debug, Clone)]
pub struct DurableOptions {
    pub(super) durability: Durability,
    pub(super) mute_limit: usize,
    pub(super) compact_after_bytes: u64,
    pub(super) max_backlog_bytes: u64,
    pub(super) clock: SharedClock,
}

impl PartialEq for DurableOptions {
    fn eq(&self, other: &Self) -> bool {
        self.durability == other.durability
            && self.mute_limit == other.mute_limit
            && self.compact_after_bytes == other.compact_after_bytes
            && self.max_backlog_bytes == other.max_backlog_bytes
            && Arc::ptr_eq(&self.clock, &other.clock)
    }
}

impl Eq for DurableOptions {}

impl Default for DurableOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl DurableOptions {
    /// The highest per-user limit a durable store takes (8,388,608 rooms). A snapshot keeps each
    /// user's list in one frame, whose length is a 32-bit field: at most 268 bytes a room (the
    /// longest id, its length and a deadline), this many rooms stay under 4 GiB.
    pub const MAX_MUTE_LIMIT: usize = 1 << 23;

    /// [`Durability::Sync`], [`DEFAULT_MUTE_LIMIT`], [`DEFAULT_COMPACT_AFTER_BYTES`],
    /// [`DEFAULT_MAX_BACKLOG_BYTES`], the [`SystemClock`].
    #[must_use]
    pub fn new() -> Self {
        Self {
            durability: Durability::Sync,
            mute_limit: DEFAULT_MUTE_LIMIT,
            compact_after_bytes: DEFAULT_COMPACT_AFTER_BYTES,
            max_backlog_bytes: DEFAULT_MAX_BACKLOG_BYTES,
            clock: Arc::new(SystemClock),
        }
    }

    /// When a change reaches the disk; see [`Durability`].
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// The most rooms one user may have muted. It applies to new mutes only: lowering it never
    /// drops rooms already on disk. A limit above [`MAX_MUTE_LIMIT`](Self::MAX_MUTE_LIMIT)
    /// (`usize::MAX` for "no limit", say) is lowered to it.
    #[must_use]
    pub fn mute_limit(mut self, limit: usize) -> Self {
        self.mute_limit = limit.min(Self::MAX_MUTE_LIMIT);
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

    /// The most bytes of records that may wait in memory for the disk in
    /// [`Durability::Periodic`]: records appended and not yet written to the log, and those the
    /// flusher is writing or syncing. A change whose record takes them past this limit returns
    /// only once its record is durable, as in [`Durability::Sync`], and the flusher syncs at once
    /// instead of at the end of the interval; changes below the limit return at once. So a disk
    /// that stalls slows writers down to its own pace instead of letting the queue grow until the
    /// process runs out of memory. Reads never wait.
    ///
    /// The bytes held stay within the limit plus one record (about 40 bytes, under 600 with the
    /// longest ids) per concurrent writer, and the buffers holding them within about twice that.
    /// 0 makes every change wait for its record, like [`Durability::Sync`]; `u64::MAX` removes the
    /// bound. In [`Durability::Sync`] every change waits for its record anyway; there the limit
    /// only makes a writer that comes once it is passed wait before it changes anything, so that
    /// callers who give up while they wait (a dropped future) cannot pile records up. A small
    /// limit there costs throughput: writers then share fewer syncs.
    #[must_use]
    pub fn max_backlog_bytes(mut self, bytes: u64) -> Self {
        self.max_backlog_bytes = bytes;
        self
    }

    /// The clock deadlines are read against (a [`ManualClock`](crate::ManualClock) in tests). Every
    /// change is logged with the time this clock gave it, and replayed at that time when the store
    /// is opened again; mutes whose deadline passed while the store was closed are purged by the
    /// open. Use a clock that does not step back between runs: see [`DurableStore`] on clocks.
    #[must_use]
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
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
