//! [`DataDir`]: the locked data directory and the names of the files in it.
//!
//! ```text
//! LOCK                   held with an exclusive advisory lock while a store has the directory open
//! snapshot-<generation>  every user's list as of the start of log <generation>
//! log-<generation>       the changes after that, in order; generations count up from 0
//! *.tmp                  a file being written; renamed into place once complete and synced
//! ```
//!
//! The state is the newest snapshot (or nothing, if there is none) followed by every log from the
//! snapshot's generation on.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::file_error::{FileError, OnFile};
use super::open_error::OpenError;

const LOCK_FILE: &str = "LOCK";
const LOG_PREFIX: &str = "log-";
const SNAPSHOT_PREFIX: &str = "snapshot-";
const TEMP_SUFFIX: &str = ".tmp";
/// The width a generation is zero-padded to in a file name.
const GENERATION_DIGITS: usize = 8;
/// How long a lock held by someone else is retried before the directory is reported taken.
const LOCK_PATIENCE: Duration = Duration::from_millis(500);
const LOCK_RETRY_FIRST_PAUSE: Duration = Duration::from_millis(4);
/// The largest generation a data file may have (2^63 - 1). A store counts one generation a
/// rotation, so none comes near it (at one rotation a microsecond, in 290,000 years); what the
/// bound buys is that no count of generations can overflow, whatever names a directory holds.
pub(super) const MAX_GENERATION: u64 = i64::MAX as u64;

/// The data directory, locked for this store's life.
#[derive(Debug)]
pub(super) struct DataDir {
    path: PathBuf,
    /// Holds the lock; closing it releases the lock.
    _lock: File,
}

/// The generations present in a data directory.
#[derive(Debug, Default)]
pub(super) struct Listing {
    /// Snapshot generations, ascending.
    pub(super) snapshots: Vec<u64>,
    /// Log generations, ascending.
    pub(super) logs: Vec<u64>,
    /// Files left half-written by an interrupted write.
    pub(super) temporary: Vec<PathBuf>,
    /// Data files named with a generation above [`MAX_GENERATION`], which no store writes.
    pub(super) out_of_range: Vec<PathBuf>,
}

impl DataDir {
    /// Creates the directory if needed and takes its lock.
    pub(super) fn lock(path: &Path) -> Result<Self, OpenError> {
        check_usable(path).on_file("using as the data directory", path)?;
        create_dir_durably(path).on_file("creating the data directory", path)?;
        let lock_path = path.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .on_file("opening the lock file", &lock_path)?;
        // A lock is released when the last descriptor of its open file goes away. A process
        // forked (to run a command) at the moment a store closes keeps a copy of the descriptor
        // until it execs, so a lock can stay held for a moment after its store has gone: wait a
        // little before calling the directory taken.
        let mut pause = LOCK_RETRY_FIRST_PAUSE;
        let mut waited = Duration::ZERO;
        loop {
            match lock.try_lock() {
                Ok(()) => {
                    return Ok(Self {
                        path: path.to_path_buf(),
                        _lock: lock,
                    });
                }
                Err(TryLockError::WouldBlock) if waited < LOCK_PATIENCE => {
                    std::thread::sleep(pause);
                    waited += pause;
                    pause *= 2;
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(OpenError::Locked {
                        dir: path.to_path_buf(),
                        lock_file: lock_path,
                    });
                }
                Err(TryLockError::Error(source)) => {
                    return Err(OpenError::Io {
                        action: "locking",
                        path: lock_path,
                        source,
                    });
                }
            }
        }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn log_path(&self, generation: u64) -> PathBuf {
        self.path
            .join(format!("{LOG_PREFIX}{generation:0GENERATION_DIGITS$}"))
    }

    pub(super) fn snapshot_path(&self, generation: u64) -> PathBuf {
        self.path
            .join(format!("{SNAPSHOT_PREFIX}{generation:0GENERATION_DIGITS$}"))
    }

    /// Where `final_path` is written before it is renamed into place.
    pub(super) fn temporary_path(final_path: &Path) -> PathBuf {
        let mut name = final_path.as_os_str().to_owned();
        name.push(TEMP_SUFFIX);
        PathBuf::from(name)
    }

    /// The data files present.
    pub(super) fn list(&self) -> Result<Listing, FileError> {
        let mut listing = Listing::default();
        let entries = fs::read_dir(&self.path).on_file("listing", &self.path)?;
        for entry in entries {
            let entry = entry.on_file("listing", &self.path)?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(stem) = name.strip_suffix(TEMP_SUFFIX) {
                // Only the store's own temporaries: any other file is not its to remove.
                if parse_generation(stem, LOG_PREFIX).is_some()
                    || parse_generation(stem, SNAPSHOT_PREFIX).is_some()
                {
                    listing.temporary.push(entry.path());
                }
            } else if let Some(generation) = parse_generation(name, LOG_PREFIX) {
                listing.add(generation, entry.path(), |listing| &mut listing.logs);
            } else if let Some(generation) = parse_generation(name, SNAPSHOT_PREFIX) {
                listing.add(generation, entry.path(), |listing| &mut listing.snapshots);
            }
        }
        listing.logs.sort_unstable();
        listing.snapshots.sort_unstable();
        listing.out_of_range.sort_unstable();
        Ok(listing)
    }

    /// Makes the directory's entries (files created, renamed, removed) durable.
    ///
    /// Off Unix a directory cannot be opened to be synced, and this does nothing: the file
    /// system's metadata journal is what makes renames durable there.
    pub(super) fn sync(&self) -> Result<(), FileError> {
        sync_dir(&self.path).on_file("syncing the directory", &self.path)
    }

    /// Removes a file that is no longer part of the state.
    pub(super) fn remove(&self, path: &Path) -> Result<(), FileError> {
        match fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
        .on_file("removing", path)
    }
}

impl Listing {
    /// Adds a data file of `generation` to the list `kind` picks, or to `out_of_range`.
    fn add(&mut self, generation: u64, path: PathBuf, kind: fn(&mut Self) -> &mut Vec<u64>) {
        if generation > MAX_GENERATION {
            self.out_of_range.push(path);
        } else {
            kind(self).push(generation);
        }
    }
}

/// Refuses a path that cannot be a data directory, with the reason, before anything is created:
/// an empty path (which would put the lock file in the working directory) and an existing file.
fn check_usable(path: &Path) -> std::io::Result<()> {
    if path.as_os_str().is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path is empty",
        ));
    }
    match fs::metadata(path) {
        Ok(found) if !found.is_dir() => Err(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "it exists and is not a directory",
        )),
        _ => Ok(()),
    }
}

/// Creates `path` and any missing parents, and syncs the parent of each directory it created, so
/// that a change acknowledged in a new data directory cannot be lost with the directory's own
/// entry in its parent.
fn create_dir_durably(path: &Path) -> std::io::Result<()> {
    let created: Vec<&Path> = path.ancestors().take_while(|dir| !dir.exists()).collect();
    fs::create_dir_all(path)?;
    // Deepest first: each new directory's entry, then the entry of the one holding it.
    for dir in created {
        if let Some(parent) = dir.parent() {
            sync_dir(if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            })?;
        }
    }
    Ok(())
}

/// Makes a directory's entries durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Elsewhere a directory cannot be opened to be synced (see [`DataDir::sync`]).
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

/// The generation of a data file's name, if the name is exactly one the store writes: at least
/// [`GENERATION_DIGITS`] digits, zero-padded to that width and no further. Any other name (`log-7`,
/// `log-000000007`) is not the store's file, so it is neither read nor reported; reading it as
/// generation 7 would open `log-00000007` instead, a different file. A generation past `u64::MAX`
/// reads as `u64::MAX`, which is out of range like it.
fn parse_generation(name: &str, prefix: &str) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?;
    if digits.len() < GENERATION_DIGITS
        || (digits.len() > GENERATION_DIGITS && digits.starts_with('0'))
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // Digits only, so the parse fails only past u64::MAX: above MAX_GENERATION too.
    Some(digits.parse().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_data_directory_is_made_with_every_missing_parent_and_an_existing_one_is_kept() {
        let root = tempfile::tempdir().unwrap();
        let nested = root.path().join("a").join("b").join("data");
        create_dir_durably(&nested).unwrap();
        assert!(nested.is_dir());
        fs::write(nested.join("kept"), b"x").unwrap();
        create_dir_durably(&nested).unwrap();
        assert_eq!(fs::read(nested.join("kept")).unwrap(), b"x");
        // A file where a directory should be is an error, not a panic.
        let blocked = root.path().join("kept-file");
        fs::write(&blocked, b"x").unwrap();
        assert!(create_dir_durably(&blocked.join("data")).is_err());
    }

    #[test]
    fn names_parse_back() {
        assert_eq!(parse_generation("log-00000012", LOG_PREFIX), Some(12));
        assert_eq!(
            parse_generation("log-123456789012", LOG_PREFIX),
            Some(123456789012)
        );
        assert_eq!(parse_generation("log-", LOG_PREFIX), None);
        assert_eq!(parse_generation("log-+1", LOG_PREFIX), None);
        assert_eq!(parse_generation("log-1.tmp", LOG_PREFIX), None);
        assert_eq!(parse_generation("snapshot-3", LOG_PREFIX), None);
        // Only the names the store writes: padded to eight digits, and no further.
        assert_eq!(parse_generation("log-7", LOG_PREFIX), None);
        assert_eq!(parse_generation("log-0000007", LOG_PREFIX), None);
        assert_eq!(parse_generation("log-000000007", LOG_PREFIX), None);
        assert_eq!(parse_generation("log-099999999", LOG_PREFIX), None);
        assert_eq!(
            parse_generation("log-99999999", LOG_PREFIX),
            Some(99_999_999)
        );
        assert_eq!(
            parse_generation("log-100000000", LOG_PREFIX),
            Some(100_000_000)
        );
        assert_eq!(
            parse_generation("log-18446744073709551616", LOG_PREFIX),
            Some(u64::MAX)
        );
        for generation in [0, 7, 99_999_999, 100_000_000, MAX_GENERATION] {
            let name = format!("{LOG_PREFIX}{generation:0GENERATION_DIGITS$}");
            assert_eq!(parse_generation(&name, LOG_PREFIX), Some(generation));
        }
    }
}
