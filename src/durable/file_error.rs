//! [`FileError`]: an I/O error with the action and the file it happened on, the form every I/O
//! error takes inside the durable store before it becomes an [`OpenError`] or a
//! [`StorageFailure`].

use std::io;
use std::path::{Path, PathBuf};

use super::open_error::OpenError;
use super::storage_failure::StorageFailure;

/// An I/O error on a named file.
#[derive(Debug, thiserror::Error)]
#[error("{action} {}: {source}", path.display())]
pub(crate) struct FileError {
    pub(crate) action: &'static str,
    pub(crate) path: PathBuf,
    #[source]
    pub(crate) source: io::Error,
}

/// Names the action and the file on an I/O result.
pub(crate) trait OnFile<T> {
    fn on_file(self, action: &'static str, path: &Path) -> Result<T, FileError>;
}

impl<T> OnFile<T> for io::Result<T> {
    fn on_file(self, action: &'static str, path: &Path) -> Result<T, FileError> {
        self.map_err(|source| FileError {
            action,
            path: path.to_path_buf(),
            source,
        })
    }
}

impl From<FileError> for OpenError {
    fn from(error: FileError) -> Self {
        Self::Io {
            action: error.action,
            path: error.path,
            source: error.source,
        }
    }
}

impl From<FileError> for StorageFailure {
    fn from(error: FileError) -> Self {
        Self::new(error.to_string())
    }
}
