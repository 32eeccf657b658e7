//! Snapshots: every user's list at one point of the log, so that a reopen reads the state instead
//! of every change that led to it.
//!
//! After the file header, frames of about 256 KiB each hold whole users:
//!
//! ```text
//! 0x03 (user, room count << 1 | timed, rooms in mute order)*     users
//! 0x02 users: u64 LE, rooms: u64 LE                             the end, with the totals
//! ```
//!
//! The second field of a user is a LEB128 varint: the number of rooms shifted left by one, with
//! the low bit set when the user has a timed mute. Each room of such a user is followed by its
//! deadline in epoch milliseconds as a LEB128 varint, 0 for a mute without one; the rooms of a user
//! without timed mutes are the ids alone. A user without deadlines costs what it did before
//! deadlines existed (a count under 64 still takes one byte).
//!
//! Frames of kind `0x01`, written before deadlines existed, still load: the same but with the plain
//! room count and no deadlines.
//!
//! The lists are written as they read at one time (the compactor's floor): a mute lapsed by then
//! is not in them, and every deadline in the file is later than that time. Loading makes the mutes
//! again in order with their deadlines and purges nothing (the open purges what has lapsed since,
//! once the logs are replayed too).
//!
//! A snapshot is written to a temporary file, synced and renamed into place, so a snapshot that
//! exists is complete; one that reads otherwise is damaged. Loading reads the file a frame at a
//! time and decodes the frames on as many threads as the machine has cores (up to 4) as they are
//! read, since each frame holds whole users; damage is reported as if every frame were checked
//! before any is decoded.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};

use parking_lot::Mutex;

use super::data_dir::DataDir;
use super::file_error::{FileError, OnFile};
use super::frame::{self, FileKind, FrameError, FrameReader};
use super::frame_source::{FrameSource, StreamError, open_stream};
use super::open_error::OpenError;
use super::wire::{self, WireError, WireReader};
use crate::events::ChangeCause;
use crate::expiry::MAX_DEADLINE_MS;
use crate::ids::UserId;
use crate::memory::MemoryStore;
use crate::memory::now::Now;
use crate::mute_list::MuteList;

/// Users without deadlines: the format before deadlines existed, still read.
const PLAIN_USERS: u8 = 0x01;
const END: u8 = 0x02;
/// Users, timed mutes with their deadlines.
const USERS: u8 = 0x03;
/// Payload size after which a frame of users is closed.
const CHUNK_PAYLOAD: usize = 256 << 10;
const MAX_LOAD_THREADS: usize = 4;

/// What a snapshot holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct SnapshotTotals {
    pub(super) users: u64,
    pub(super) rooms: u64,
    /// The size of the file.
    pub(super) bytes: u64,
}

/// Writes snapshot `generation` of `memory`, syncs it and renames it into place. Returns `None`,
/// leaving no file, when `stop` is raised on the way.
pub(super) fn write_snapshot(
    dir: &DataDir,
    generation: u64,
    memory: &MemoryStore,
    stop: &AtomicBool,
) -> Result<Option<SnapshotTotals>, FileError> {
    let path = dir.snapshot_path(generation);
    let temporary = DataDir::temporary_path(&path);
    let file = File::create(&temporary).on_file("creating", &temporary)?;
    let mut writer = SnapshotWriter {
        out: BufWriter::with_capacity(1 << 20, file),
        offset: 0,
        chunk: Vec::with_capacity(CHUNK_PAYLOAD + 4096),
        frame: Vec::with_capacity(CHUNK_PAYLOAD + 4096),
        totals: SnapshotTotals::default(),
        error: None,
    };
    writer.write_raw(&frame::file_header(FileKind::Snapshot, generation));
    memory.for_each_user(|user, rooms| {
        if writer.error.is_none() && !stop.load(Ordering::Relaxed) {
            writer.add_user(user, rooms);
        }
    });
    let result = writer.finish().on_file("writing", &temporary);
    let finished = match result {
        Ok(totals) if !stop.load(Ordering::Relaxed) => Some(totals),
        other => {
            drop(dir.remove(&temporary));
            other?;
            return Ok(None);
        }
    };
    std::fs::rename(&temporary, &path).on_file("renaming into place", &temporary)?;
    dir.sync()?;
    Ok(finished)
}

/// Builds the snapshot frame by frame.
struct SnapshotWriter {
    out: BufWriter<File>,
    offset: u64,
    chunk: Vec<u8>,
    frame: Vec<u8>,
    totals: SnapshotTotals,
    error: Option<std::io::Error>,
}

impl SnapshotWriter {
    fn write_raw(&mut self, bytes: &[u8]) {
        if self.error.is_none() {
            match self.out.write_all(bytes) {
                Ok(()) => self.offset += bytes.len() as u64,
                Err(e) => self.error = Some(e),
            }
        }
    }

    fn add_user(&mut self, user: &UserId, rooms: &MuteList) {
        if self.chunk.is_empty() {
            self.chunk.push(USERS);
        }
        wire::put_id(&mut self.chunk, user);
        let timed = rooms.has_deadlines();
        wire::put_count(
            &mut self.chunk,
            (rooms.len() as u64) << 1 | u64::from(timed),
        );
        if timed {
            for (room, until) in rooms.iter_timed() {
                wire::put_id(&mut self.chunk, room);
                wire::put_count(&mut self.chunk, until.unwrap_or(0));
            }
        } else {
            for room in rooms {
                wire::put_id(&mut self.chunk, room);
            }
        }
        self.totals.users += 1;
        self.totals.rooms += rooms.len() as u64;
        if self.chunk.len() >= CHUNK_PAYLOAD {
            self.close_chunk();
        }
    }

    fn close_chunk(&mut self) {
        if self.chunk.is_empty() {
            return;
        }
        let mut frame = std::mem::take(&mut self.frame);
        frame.clear();
        frame::put_frame(&mut frame, self.offset, &self.chunk);
        self.write_raw(&frame);
        self.frame = frame;
        self.chunk.clear();
    }

    fn finish(mut self) -> std::io::Result<SnapshotTotals> {
        self.close_chunk();
        self.chunk.push(END);
        self.chunk
            .extend_from_slice(&self.totals.users.to_le_bytes());
        self.chunk
            .extend_from_slice(&self.totals.rooms.to_le_bytes());
        self.close_chunk();
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        self.totals.bytes = self.offset;
        Ok(self.totals)
    }
}

/// A frame of users on its way to a loading thread.
struct Chunk {
    offset: u64,
    payload: Vec<u8>,
}

/// What a loading thread loaded: users and rooms, or the first frame it could not decode.
type Loaded = Result<(u64, u64), (u64, WireError)>;

/// Loads snapshot `generation` at `path` into `memory`, which must have no mute limit and no purge
/// at deadlines ([`MemoryStore::for_replay`]).
///
/// The file is read one frame at a time; up to [`MAX_LOAD_THREADS`] threads decode the frames of
/// users as they come, with at most two frames per thread waiting for them. A frame that does not
/// check out is reported before any frame that does not decode, as if every frame were checked
/// first; of several that do not decode, the first in the file is reported.
pub(super) fn load_snapshot(
    path: &Path,
    generation: u64,
    memory: &MemoryStore,
) -> Result<SnapshotTotals, OpenError> {
    let damaged = |offset: u64, reason: String| OpenError::Damaged {
        path: path.to_path_buf(),
        offset,
        reason,
    };
    let mut reader = FrameReader::open(open_stream(path)?, FileKind::Snapshot, generation)
        .map_err(|e| e.on_file(path))?;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_LOAD_THREADS);
    let (chunks, received) = mpsc::sync_channel::<Chunk>(2 * threads);
    // Each loading thread holds the receiver; should every one of them stop (a panic), the
    // receiver is dropped and the reading below stops too instead of waiting for them.
    let received = Arc::new(Mutex::new(received));
    let (read, loaded) = std::thread::scope(|scope| {
        // The system may refuse a thread: the load goes on with those it gave, and fails with
        // the system's error only if it gave none.
        let mut refused = None;
        let loaders: Vec<_> = (0..threads)
            .filter_map(|_| {
                let received = Arc::clone(&received);
                std::thread::Builder::new()
                    .name("mutestore-load".into())
                    .spawn_scoped(scope, move || load_chunks(&received, memory))
                    .map_err(|source| refused = Some(source))
                    .ok()
            })
            .collect();
        drop(received);
        if loaders.is_empty() {
            let source = refused.unwrap_or_else(|| std::io::Error::other("no thread to load with"));
            return (
                Err(OpenError::Io {
                    action: "starting a thread to load",
                    path: path.to_path_buf(),
                    source,
                }),
                Vec::new(),
            );
        }
        let read = read_frames(&mut reader, &chunks).map_err(|e| e.on_file(path));
        drop(chunks);
        let loaded: Vec<Loaded> = loaders
            .into_iter()
            // A loader only panics if the memory store has a bug; pass that on unchanged.
            .map(|loader| {
                loader
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect();
        (read, loaded)
    });
    let end = read?;
    if reader.end() != reader.bytes_read() {
        return Err(damaged(reader.end(), "zeros follow the data".into()));
    }
    let (end_offset, end_payload) =
        end.ok_or_else(|| damaged(reader.end(), "the end frame is missing".into()))?;
    let mut totals_reader = WireReader::new(&end_payload[1..]);
    let expected = (|| Ok::<_, WireError>((totals_reader.u64_le()?, totals_reader.u64_le()?)))()
        .map_err(|e| damaged(end_offset, e.to_string()))?;

    let (mut users, mut rooms) = (0, 0);
    let mut first_failure: Option<(u64, WireError)> = None;
    for result in loaded {
        match result {
            Ok((chunk_users, chunk_rooms)) => {
                users += chunk_users;
                rooms += chunk_rooms;
            }
            Err((offset, e)) => {
                if first_failure
                    .as_ref()
                    .is_none_or(|(first, _)| offset < *first)
                {
                    first_failure = Some((offset, e));
                }
            }
        }
    }
    if let Some((offset, e)) = first_failure {
        return Err(damaged(offset, e.to_string()));
    }
    // A store lists only users with rooms; one listed with none leaves no user in memory. (A user
    // listed twice was caught as it loaded.)
    let with_rooms = memory.user_count() as u64;
    if with_rooms != users {
        return Err(damaged(
            end_offset,
            format!("the frames list {users} users, {with_rooms} of them with rooms"),
        ));
    }
    if (users, rooms) != expected {
        return Err(damaged(
            end_offset,
            format!(
                "the end frame counts {} users and {} rooms, the frames hold {users} and {rooms}",
                expected.0, expected.1
            ),
        ));
    }
    Ok(SnapshotTotals {
        users,
        rooms,
        bytes: reader.bytes_read(),
    })
}

/// Reads every frame, sends the frames of users to `chunks`, and returns the end frame's offset
/// and payload (`None` when it is missing), or the first frame that does not check out.
fn read_frames<S: FrameSource<Error = StreamError>>(
    reader: &mut FrameReader<S>,
    chunks: &SyncSender<Chunk>,
) -> Result<Option<(u64, Vec<u8>)>, StreamError> {
    let mut end = None;
    while let Some(frame) = reader.next_frame()? {
        let damaged = |reason| {
            StreamError::Frame(FrameError {
                offset: frame.offset,
                reason,
                torn: false,
            })
        };
        if end.is_some() {
            return Err(damaged("data follows the end frame"));
        }
        match frame.payload.first() {
            Some(&(USERS | PLAIN_USERS)) => {
                let chunk = Chunk {
                    offset: frame.offset,
                    payload: frame.payload.to_vec(),
                };
                if chunks.send(chunk).is_err() {
                    // Every loading thread has stopped; joining them reports why.
                    break;
                }
            }
            Some(&END) => end = Some((frame.offset, frame.payload.to_vec())),
            _ => return Err(damaged("a frame of unknown kind")),
        }
    }
    Ok(end)
}

/// A loading thread: decodes the frames it receives until there are no more. After a frame that
/// does not decode it goes on receiving, without decoding, so that the reading never waits for it.
fn load_chunks(received: &Mutex<Receiver<Chunk>>, memory: &MemoryStore) -> Loaded {
    let (mut users, mut rooms) = (0, 0);
    let mut failure = None;
    loop {
        let Ok(chunk) = received.lock().recv() else {
            break;
        };
        if failure.is_some() {
            continue;
        }
        let timed = chunk.payload[0] == USERS;
        match load_chunk(&chunk.payload[1..], timed, memory) {
            Ok((chunk_users, chunk_rooms)) => {
                users += chunk_users;
                rooms += chunk_rooms;
            }
            Err(e) => failure = Some((chunk.offset, e)),
        }
    }
    failure.map_or(Ok((users, rooms)), Err)
}

/// Loads one frame of users (of kind [`USERS`] when `timed`, else [`PLAIN_USERS`]); returns how
/// many users and rooms it held.
fn load_chunk(payload: &[u8], timed: bool, memory: &MemoryStore) -> Result<(u64, u64), WireError> {
    let mut reader = WireReader::new(payload);
    let (mut users, mut rooms) = (0, 0);
    // Nothing lapses while the lists are rebuilt: every deadline is after 0.
    let now = Now::fixed(0);
    while !reader.is_empty() {
        let user = reader.user()?;
        let head = reader.count()?;
        let (count, with_deadlines) = if timed {
            (head >> 1, head & 1 == 1)
        } else {
            (head, false)
        };
        for listed in 0..count {
            let room = reader.room()?;
            let until = if with_deadlines {
                match reader.count()? {
                    0 => None,
                    until if until <= MAX_DEADLINE_MS => Some(until),
                    until => return Err(WireError::DeadlineOutOfRange(until)),
                }
            } else {
                None
            };
            // The store has no limit while it loads, so the mute cannot be refused. A store lists
            // each user once and each of a user's rooms once, so after the user's n-th room the
            // list holds n rooms; more or fewer is a room listed twice, or a user listed twice
            // (whichever listing loads second finds the other's rooms).
            if let Ok(outcome) = memory.mute_at(&user, &room, until, ChangeCause::User, &now)
                && outcome.rooms.len() as u64 != listed + 1
            {
                return Err(WireError::Repeated);
            }
        }
        users += 1;
        rooms += count;
    }
    Ok((users, rooms))
}
