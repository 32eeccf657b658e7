//! [`Durability`]: when a change reaches the disk.

use std::time::Duration;

/// When a change is on disk relative to the moment its operation returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Durability {
    /// A change is on disk (written and `fdatasync`ed) before its operation returns; an operation
    /// that changed nothing, or a mute refused for the per-user limit, returns once every change
    /// before it is on disk. Concurrent writers
    /// share each sync (group commit), so throughput grows with the number of writers. A crash of
    /// the process or of the machine loses nothing that was acknowledged.
    #[default]
    Sync,
    /// An operation returns as soon as it is applied in memory. A flusher thread writes changes
    /// to the log as they come (within about a millisecond under load) and syncs at most every
    /// `interval`, like Redis's `appendfsync everysec`.
    ///
    /// The loss window: a crash of the process (a panic that aborts, `kill -9`) loses only changes
    /// not yet handed to the operating system, normally the last millisecond or less; a crash of
    /// the machine or a power cut loses up to `interval` of changes, plus the time one sync takes.
    /// What survives is always a prefix of the changes, in order: never a later change without an
    /// earlier one.
    ///
    /// If the disk falls behind, the records waiting for it are bounded: a change whose record
    /// takes them past [`max_backlog_bytes`](crate::DurableOptions::max_backlog_bytes) waits until
    /// its record is on disk, as in `Sync`.
    Periodic(Duration),
}
