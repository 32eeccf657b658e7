//! [`OpenError`]: why a [`DurableStore`](super::DurableStore) could not be opened.

use std::io;
use std::path::PathBuf;

/// Why [`DurableStore::open`](super::DurableStore::open) failed. Opening never changes data it
/// cannot account for: apart from cutting off a torn write at the end of the newest log (which
/// [`RecoveryReport`](super::RecoveryReport) reports), a failed open leaves the directory as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Another store, in this process or another one, has the data directory open (the lock was
    /// retried for half a second first). Stop it, or use another directory.
    #[error(
        "the data directory {} is in use by another store (it holds the lock on {})",
        dir.display(),
        lock_file.display()
    )]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// The lock file another store holds.
        lock_file: PathBuf,
    },
    /// A file or directory could not be created, read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done, such as `"reading"`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A data file holds something other than what the store wrote: not a torn write at the end of
    /// the newest log, but damage that would lose acknowledged changes if it were skipped. Restore
    /// the file from a backup, or move it aside to give up what it holds.
    #[error("{} is damaged at byte {offset}: {reason}", path.display())]
    Damaged {
        /// The damaged file.
        path: PathBuf,
        /// Where in the file the damage starts.
        offset: u64,
        /// What is wrong there.
        reason: String,
    },
    /// A file the others depend on is missing (for example a log between two that are present).
    #[error("the data directory {} is incomplete: {reason}", dir.display())]
    Incomplete {
        /// The data directory.
        dir: PathBuf,
        /// What is missing.
        reason: String,
    },
}
