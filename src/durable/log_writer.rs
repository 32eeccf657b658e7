//! [`LogWriter`]: appends frames to the newest log.
//!
//! The file is filled with zeros ahead of the data, in chunks that grow from 64 KiB to 4 MiB, and
//! frames are written over the zeros. An `fdatasync` after such a write has no file size to
//! record, which on ext4 makes a lone writer's sync 1.4 to 1.6 times as fast as after an append
//! (see `docs/DURABILITY.md`). Zeros read as the end of the data, so a crash never leaves the tail
//! ambiguous.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::data_dir::DataDir;
use super::file_error::{FileError, OnFile};
use super::frame::{FILE_HEADER_LEN, FileKind, file_header};
use super::pending_frames::PendingFrames;

const MIN_PREALLOCATION: u64 = 64 << 10;
const MAX_PREALLOCATION: u64 = 4 << 20;
static ZEROS: [u8; 64 << 10] = [0; 64 << 10];

/// The log being written.
#[derive(Debug)]
pub(super) struct LogWriter {
    path: PathBuf,
    file: File,
    generation: u64,
    /// Where the next frame goes.
    end: u64,
    /// The file's length: zeros from `end` to here.
    allocated: u64,
}

impl LogWriter {
    /// Creates log `generation`, complete and synced, with its directory entry synced.
    pub(super) fn create(dir: &DataDir, generation: u64) -> Result<Self, FileError> {
        let path = dir.log_path(generation);
        let temporary = DataDir::temporary_path(&path);
        let file = File::create(&temporary).on_file("creating", &temporary)?;
        let mut log = Self {
            path: temporary,
            file,
            generation,
            end: FILE_HEADER_LEN as u64,
            allocated: 0,
        };
        log.allocate_to(MIN_PREALLOCATION)?;
        log.write_at(&file_header(FileKind::Log, generation), 0)?;
        log.file.sync_all().on_file("syncing", &log.path)?;
        std::fs::rename(&log.path, &path).on_file("renaming into place", &log.path)?;
        log.path = path;
        dir.sync()?;
        Ok(log)
    }

    /// Opens an existing log to write after its data, which ends at `end`.
    pub(super) fn reopen(path: &Path, generation: u64, end: u64) -> Result<Self, FileError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .on_file("opening", path)?;
        let allocated = file.metadata().on_file("reading the size of", path)?.len();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            generation,
            end,
            allocated: allocated.max(end),
        })
    }

    pub(super) fn generation(&self) -> u64 {
        self.generation
    }

    /// Bytes of data in the log, its header included.
    pub(super) fn data_len(&self) -> u64 {
        self.end
    }

    /// Writes `frames` after the data; they are on disk after the next [`Self::sync`].
    pub(super) fn append(&mut self, frames: &mut PendingFrames) -> Result<(), FileError> {
        let needed = self.end + frames.len() as u64;
        if needed > self.allocated {
            let chunk = self.allocated.clamp(MIN_PREALLOCATION, MAX_PREALLOCATION);
            self.allocate_to(needed.max(self.allocated + chunk))?;
        }
        let bytes = frames.seal_at(self.end);
        self.write_at(bytes, self.end)?;
        self.end += bytes.len() as u64;
        Ok(())
    }

    /// Makes every frame written so far durable.
    pub(super) fn sync(&self) -> Result<(), FileError> {
        self.file.sync_data().on_file("syncing", &self.path)
    }

    /// Cuts off the zeros past the data and syncs: for a log that will not be written again.
    pub(super) fn seal(&self) -> Result<(), FileError> {
        self.file
            .set_len(self.end)
            .on_file("trimming the unused end of", &self.path)?;
        self.file.sync_all().on_file("syncing", &self.path)
    }

    /// Writes `bytes` at `offset`. Only the flusher writes, so a seek then a write is as good as a
    /// positional write, and portable.
    fn write_at(&self, bytes: &[u8], offset: u64) -> Result<(), FileError> {
        (&self.file)
            .seek(SeekFrom::Start(offset))
            .and_then(|_| (&self.file).write_all(bytes))
            .on_file("writing", &self.path)
    }

    /// Fills the file with zeros up to `len` bytes.
    fn allocate_to(&mut self, len: u64) -> Result<(), FileError> {
        while self.allocated < len {
            let step = ZEROS.len().min((len - self.allocated) as usize);
            self.write_at(&ZEROS[..step], self.allocated)?;
            self.allocated += step as u64;
        }
        Ok(())
    }
}
