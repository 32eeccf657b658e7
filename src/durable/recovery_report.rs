//! [`RecoveryReport`]: what opening a [`DurableStore`](super::DurableStore) read and repaired.

use std::path::PathBuf;
use std::time::Duration;

/// What [`DurableStore::open`](super::DurableStore::open) found on disk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// Users read from the snapshot (0 when there was none).
    pub snapshot_users: u64,
    /// Rooms read from the snapshot.
    pub snapshot_rooms: u64,
    /// Logs replayed after the snapshot.
    pub log_files: usize,
    /// Changes replayed from those logs.
    pub log_records: u64,
    /// A torn write cut off the end of the newest log, if there was one.
    pub torn_tail: Option<TornTail>,
    /// How long the open took, locking and reading included.
    pub elapsed: Duration,
}

/// A torn write found at the end of the newest log and cut off at open.
///
/// A crash in the middle of a write leaves one. In [`Durability::Sync`](super::Durability::Sync)
/// the operation it held had not returned, so no acknowledged change is lost; in
/// [`Durability::Periodic`](super::Durability::Periodic) it holds changes from the loss window.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TornTail {
    /// The log it was found in.
    pub file: PathBuf,
    /// Where the torn write started; the log now ends there.
    pub offset: u64,
    /// Bytes cut off, up to the last non-zero byte of the file.
    pub discarded_bytes: u64,
    /// What was wrong with it.
    pub reason: &'static str,
}
