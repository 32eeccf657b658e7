//! Replaying a log: every record, in order, applied again to a memory store at the time it was
//! first made (the time of the last time record before it in the log; 0 before the first).

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::file_error::OnFile;
use super::frame::{FileKind, FrameReader};
use super::frame_source::{StreamError, open_stream};
use super::open_error::OpenError;
use super::record::LogRecord;
use super::wire::WireReader;
use crate::memory::MemoryStore;

/// Whether a torn write at the end of the log is expected: only the newest log can have one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TornTailPolicy {
    /// Stop at the torn write and report it.
    Accept,
    /// A torn write is damage: this log was synced and closed before the next one was started.
    Refuse,
}

/// What a replay found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LogReplay {
    /// Changes applied (time records are not counted).
    pub(super) records: u64,
    /// The earliest time a change of this log was made at (`None`: no change).
    pub(super) earliest_ms: Option<u64>,
    /// Where the data ends: the offset the next frame is written at.
    pub(super) end: u64,
    /// A torn write found at `end`, with its reason and how many bytes it spans to the last
    /// non-zero byte of the file.
    pub(super) torn: Option<(&'static str, u64)>,
}

/// Replays log `generation` at `path` into `memory`, which must have no mute limit and no purge
/// at deadlines ([`MemoryStore::for_replay`]).
pub(super) fn replay_log(
    path: &Path,
    generation: u64,
    memory: &MemoryStore,
    torn_tail: TornTailPolicy,
) -> Result<LogReplay, OpenError> {
    let damaged = |offset: u64, reason: String| OpenError::Damaged {
        path: path.to_path_buf(),
        offset,
        reason,
    };
    let mut reader = FrameReader::open(open_stream(path)?, FileKind::Log, generation)
        .map_err(|e| e.on_file(path))?;
    let mut records = 0;
    let mut earliest_ms: Option<u64> = None;
    let mut time_ms = 0;
    loop {
        match reader.next_frame() {
            Ok(Some(frame)) => {
                let mut payload = WireReader::new(frame.payload);
                while !payload.is_empty() {
                    let record = LogRecord::decode(&mut payload).map_err(|e| {
                        damaged(frame.offset, format!("a record is unreadable: {e}"))
                    })?;
                    if let LogRecord::Time(time) = record {
                        time_ms = time;
                        continue;
                    }
                    record.apply(memory, time_ms);
                    records += 1;
                    earliest_ms = Some(earliest_ms.map_or(time_ms, |e| e.min(time_ms)));
                }
            }
            Ok(None) => {
                return Ok(LogReplay {
                    records,
                    earliest_ms,
                    end: reader.end(),
                    torn: None,
                });
            }
            Err(StreamError::Frame(e)) if e.torn && torn_tail == TornTailPolicy::Accept => {
                let last_data = data_end(path, e.offset).on_file("reading", path)?;
                return Ok(LogReplay {
                    records,
                    earliest_ms,
                    end: e.offset,
                    torn: Some((e.reason, last_data.saturating_sub(e.offset))),
                });
            }
            Err(e) => return Err(e.on_file(path)),
        }
    }
}

/// Where the data of the file at `path` ends: just past its last byte that is not zero, at or after
/// `from` (`from` if there is none). Only the rest of the file from `from` on is read.
fn data_end(path: &Path, from: u64) -> io::Result<u64> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(from))?;
    let mut rest = BufReader::new(file);
    let (mut end, mut position) = (from, from);
    let mut chunk = vec![0; 64 << 10];
    loop {
        let got = match rest.read(&mut chunk) {
            Ok(0) => return Ok(end),
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if let Some(at) = chunk[..got].iter().rposition(|&b| b != 0) {
            end = position + at as u64 + 1;
        }
        position += got as u64;
    }
}
