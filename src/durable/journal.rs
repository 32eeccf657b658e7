//! [`Journal`]: where writers hand records to the flusher thread and wait for them to be durable.
//!
//! Every record gets a sequence number as it is appended. The flusher takes all pending records at
//! once, writes them, syncs, and publishes the last sequence number it synced; every writer waiting
//! on a number up to that one is released. Writers that arrive while a sync is under way join the
//! next batch, so concurrent writers share syncs (group commit) with no timer and no tuning.
//!
//! Each change is appended with the time it was made at; the journal writes a time record before
//! it whenever that time differs from the last one written to the current log (see `record`).
//! [`Journal::take_boundary`] marks where the current log ends, so the next change starts the next
//! log with a time record of its own.
//!
//! In [`Durability::Periodic`](super::durability::Durability::Periodic) writers do not wait,
//! except when their record takes the bytes held in memory past the [`Backlog`]'s limit: then
//! [`Journal::append`] asks the flusher to sync at once and tells the writer to wait for its
//! record like a `Sync` writer.
//!
//! Waiting comes in two forms: [`Journal::wait_blocking`] parks the calling thread, and
//! [`Journal::wait`] returns a future that registers its waker, so an async caller never holds a
//! runtime thread while the disk works.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::task::Waker;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use super::backlog::Backlog;
use super::durable_wait::DurableWait;
use super::pending_frames::PendingFrames;
use super::record::{self, Change};
use super::storage_failure::StorageFailure;

/// Where the result of a requested compaction is sent.
pub(super) type CompactionReply = Sender<Result<(), StorageFailure>>;

/// The hand-over point between writers and the flusher.
#[derive(Debug)]
pub(super) struct Journal {
    state: Mutex<JournalState>,
    /// Wakes the flusher when there is work.
    work_ready: Condvar,
    /// The sequence number of the last record appended.
    appended: AtomicU64,
    /// The sequence number of the last record known to be on disk.
    durable: AtomicU64,
    /// Whether the records held passed the backlog limit at the last append, and still do as far
    /// as the flusher has seen: writers check it before they make a change (see
    /// [`Journal::admission`]). Only written under `state`'s lock.
    over_limit: AtomicBool,
    /// Paired with `durable_changed` for writers that wait by blocking.
    durable_lock: Mutex<()>,
    durable_changed: Condvar,
    /// Async writers waiting, each with the sequence number it waits for and its future's key.
    wakers: Mutex<Vec<(u64, u64, Waker)>>,
    /// The key of the next future to wait: a future given up removes its wakers by it.
    next_waiter: AtomicU64,
    /// Set once, when a write or sync fails; the store refuses changes from then on.
    failure: OnceLock<StorageFailure>,
}

#[derive(Debug)]
struct JournalState {
    frames: PendingFrames,
    /// The bytes of records held in memory, `frames` and what the flusher took, and their limit.
    backlog: Backlog,
    /// The time of the last change appended for the current log; `None` at the start of a log.
    last_time: Option<u64>,
    flush_wanted: bool,
    compactions: Vec<CompactionReply>,
    shutting_down: bool,
}

/// What [`Journal::append`] gives the writer, to act on once it has released its user's stripe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Appended {
    /// The sequence number of the record.
    pub(super) sequence: u64,
    /// The record took the backlog past its limit: the writer must wait until the record is
    /// durable, whatever the durability mode. The flusher has been asked to sync at once.
    pub(super) over_limit: bool,
}

/// What the flusher takes in one go.
#[derive(Debug, Default)]
pub(super) struct Work {
    /// Records to write.
    pub(super) frames: PendingFrames,
    /// The sequence number of the last record in `frames`.
    pub(super) last_sequence: u64,
    /// Someone waits for everything so far to be synced.
    pub(super) flush_wanted: bool,
    /// Callers waiting for a compaction of everything so far.
    pub(super) compactions: Vec<CompactionReply>,
    /// The store is closing: write, sync and stop.
    pub(super) shutting_down: bool,
}

impl Journal {
    /// A journal that holds at most `backlog_limit` bytes of records before their writers wait;
    /// see [`Backlog`].
    pub(super) fn new(backlog_limit: u64) -> Self {
        Self {
            state: Mutex::new(JournalState {
                frames: PendingFrames::default(),
                backlog: Backlog::new(backlog_limit),
                last_time: None,
                flush_wanted: false,
                compactions: Vec::new(),
                shutting_down: false,
            }),
            work_ready: Condvar::new(),
            appended: AtomicU64::new(0),
            durable: AtomicU64::new(0),
            over_limit: AtomicBool::new(false),
            durable_lock: Mutex::new(()),
            durable_changed: Condvar::new(),
            wakers: Mutex::new(Vec::new()),
            next_waiter: AtomicU64::new(0),
            failure: OnceLock::new(),
        }
    }

    /// `Err` once the flusher has failed.
    pub(super) fn check(&self) -> Result<(), StorageFailure> {
        match self.failure.get() {
            Some(failure) => Err(failure.clone()),
            None => Ok(()),
        }
    }

    /// Appends `change`, made at `time_ms`, and returns its sequence number and whether the writer
    /// must wait for it (see [`Appended`]). The caller holds the lock that orders changes to the
    /// user, so the log order matches the order the changes were made in memory; it waits, if it
    /// must, only after releasing that lock.
    pub(super) fn append(&self, change: Change<'_>, time_ms: u64) -> Appended {
        let appended = {
            let mut state = self.state.lock();
            let new_time = state.last_time != Some(time_ms);
            state.last_time = Some(time_ms);
            // One push, so that the time and its change share a frame.
            state.frames.push_record(|out| {
                if new_time {
                    record::encode_time(out, time_ms);
                }
                change.encode(out);
            });
            // Only ever changed under `state`'s lock, so this is a plain increment.
            let sequence = self.appended.load(Ordering::Relaxed) + 1;
            self.appended.store(sequence, Ordering::Release);
            let over_limit = state.backlog.exceeded(state.frames.len());
            // Set under the lock the flusher takes its work under: either the flusher's next
            // round syncs, or it took this record in a round already asked to sync.
            state.flush_wanted |= over_limit;
            if over_limit {
                self.over_limit.store(true, Ordering::Release);
            }
            Appended {
                sequence,
                over_limit,
            }
        };
        self.work_ready.notify_one();
        appended
    }

    /// What a writer must wait for before it makes a change: `Some` of the last record appended
    /// while the records held are past the backlog limit (the flusher is then asked to sync at
    /// once), `None` otherwise. Waiting here, before anything changes, is what bounds the backlog
    /// even when writers give up: a future dropped while it waits has changed nothing, where one
    /// dropped while it waits for its own record has already added that record.
    pub(super) fn admission(&self) -> Option<u64> {
        if !self.over_limit.load(Ordering::Acquire) {
            return None;
        }
        Some(self.request_flush())
    }

    /// The sequence number of the last record appended: what an operation that changed nothing
    /// waits for, so that the state it reports is on disk when it returns.
    pub(super) fn last_appended(&self) -> u64 {
        self.appended.load(Ordering::Acquire)
    }

    fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    /// `Some` when the wait for `sequence` is over: it is durable, or the flusher failed first.
    pub(super) fn settled(&self, sequence: u64) -> Option<Result<(), StorageFailure>> {
        if self.durable() >= sequence {
            Some(Ok(()))
        } else {
            self.failure.get().map(|failure| Err(failure.clone()))
        }
    }

    /// Blocks until record `sequence` is durable.
    pub(super) fn wait_blocking(&self, sequence: u64) -> Result<(), StorageFailure> {
        if let Some(result) = self.settled(sequence) {
            return result;
        }
        let mut guard = self.durable_lock.lock();
        loop {
            if let Some(result) = self.settled(sequence) {
                return result;
            }
            self.durable_changed.wait(&mut guard);
        }
    }

    /// A future that completes when record `sequence` is durable.
    pub(super) fn wait(&self, sequence: u64) -> DurableWait<'_> {
        DurableWait::new(self, sequence)
    }

    /// A key for a future that waits, unique in this journal.
    pub(super) fn waiter_key(&self) -> u64 {
        self.next_waiter.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers `waker`, of the future with key `key`, to be woken when `sequence` is durable;
    /// `Some` instead when the wait is already over.
    pub(super) fn register(
        &self,
        sequence: u64,
        key: u64,
        waker: &Waker,
    ) -> Option<Result<(), StorageFailure>> {
        let mut wakers = self.wakers.lock();
        // Checked under the lock that `publish_durable` and `fail` take after their change, so a
        // change is either seen here or wakes the waker pushed here.
        if let Some(result) = self.settled(sequence) {
            return Some(result);
        }
        // A future polled again before it is released pushes a second entry; the spare wake-up
        // is harmless and rare, where looking for the old entry would cost every waiter a scan.
        wakers.push((sequence, key, waker.clone()));
        None
    }

    /// Forgets the wakers of the future with key `key`, dropped before its wait was over: a
    /// caller that gives up while the disk stalls leaves nothing behind.
    pub(super) fn deregister(&self, key: u64) {
        let mut given_up = Vec::new();
        self.wakers.lock().retain_mut(|(_, waiting, waker)| {
            if *waiting == key {
                // Dropped once the lock is released: a waker's drop may run arbitrary code.
                given_up.push(std::mem::replace(waker, Waker::noop().clone()));
                false
            } else {
                true
            }
        });
        drop(given_up);
    }

    /// Asks the flusher to sync everything appended so far; returns what to wait for.
    pub(super) fn request_flush(&self) -> u64 {
        let target = self.last_appended();
        if self.durable() < target {
            self.state.lock().flush_wanted = true;
            self.work_ready.notify_one();
        }
        target
    }

    /// Asks for a new log and a compaction of everything before it; the result goes to `reply`.
    pub(super) fn request_compaction(&self, reply: CompactionReply) {
        let mut state = self.state.lock();
        // Checked under the lock `fail` takes after setting the failure: a request is either
        // refused here or answered by `fail`, never left waiting for a flusher that has stopped.
        if let Err(failure) = self.check() {
            let _ = reply.send(Err(failure));
            return;
        }
        state.compactions.push(reply);
        drop(state);
        self.work_ready.notify_one();
    }

    /// Asks the flusher to write what is pending, sync and stop.
    pub(super) fn shut_down(&self) {
        self.state.lock().shutting_down = true;
        self.work_ready.notify_one();
    }

    /// For the flusher: waits for work (or for `deadline`) and takes it, handing `spare` back as
    /// the buffer for the records that come next.
    /// Asking for work ends the flusher's previous round, which releases the records it held.
    pub(super) fn take_work(&self, spare: PendingFrames, deadline: Option<Instant>) -> Work {
        let mut state = self.state.lock();
        state.backlog.release();
        let still_over = state.backlog.exceeded(state.frames.len());
        self.over_limit.store(still_over, Ordering::Release);
        loop {
            let has_work = !state.frames.is_empty()
                || state.flush_wanted
                || !state.compactions.is_empty()
                || state.shutting_down;
            if has_work {
                break;
            }
            match deadline {
                Some(deadline) => {
                    if self.work_ready.wait_until(&mut state, deadline).timed_out() {
                        break;
                    }
                }
                None => self.work_ready.wait(&mut state),
            }
        }
        let taken = state.frames.len();
        state.backlog.take(taken);
        Work {
            frames: std::mem::replace(&mut state.frames, spare),
            last_sequence: self.appended.load(Ordering::Acquire),
            flush_wanted: std::mem::take(&mut state.flush_wanted),
            compactions: std::mem::take(&mut state.compactions),
            shutting_down: state.shutting_down,
        }
    }

    /// For the flusher, closing the log: takes every record appended so far (to be written to the
    /// log being closed) and returns them with the sequence number of the last. What is appended
    /// from now on goes to the next log, which starts with a time record.
    pub(super) fn take_boundary(&self) -> (PendingFrames, u64) {
        let mut state = self.state.lock();
        state.last_time = None;
        let frames = std::mem::take(&mut state.frames);
        state.backlog.take(frames.len());
        (frames, self.appended.load(Ordering::Acquire))
    }

    /// For the flusher: records up to `sequence` are on disk.
    pub(super) fn publish_durable(&self, sequence: u64) {
        self.durable.store(sequence, Ordering::Release);
        self.wake_waiters(|waiting| waiting <= sequence);
    }

    /// For the flusher: writing failed; every writer not yet released, and every caller waiting
    /// for a compaction, gets `failure`.
    pub(super) fn fail(&self, failure: StorageFailure) {
        let _ = self.failure.set(failure.clone());
        let compactions = std::mem::take(&mut self.state.lock().compactions);
        for reply in compactions {
            let _ = reply.send(Err(failure.clone()));
        }
        self.wake_waiters(|_| true);
    }

    fn wake_waiters(&self, released: impl Fn(u64) -> bool) {
        drop(self.durable_lock.lock());
        self.durable_changed.notify_all();
        let mut woken = Vec::new();
        self.wakers.lock().retain(|(waiting, _, waker)| {
            if released(*waiting) {
                woken.push(waker.clone());
                false
            } else {
                true
            }
        });
        for waker in woken {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::frame::{FILE_HEADER_LEN, FileKind, FrameReader, file_header};
    use super::super::record::LogRecord;
    use super::super::wire::WireReader;
    use super::*;
    use crate::ids::{RoomId, UserId};

    /// The records of `frames`, as a log holding them reads back.
    fn records(frames: &mut PendingFrames) -> Vec<LogRecord> {
        let mut file = file_header(FileKind::Log, 0).to_vec();
        file.extend_from_slice(frames.seal_at(FILE_HEADER_LEN as u64));
        let mut reader = FrameReader::new(&file);
        let mut read = Vec::new();
        while let Some(frame) = reader.next_frame().unwrap() {
            let mut payload = WireReader::new(frame.payload);
            while !payload.is_empty() {
                read.push(LogRecord::decode(&mut payload).unwrap());
            }
        }
        read
    }

    #[test]
    fn a_time_record_comes_when_the_time_changes_and_at_each_new_log() {
        let journal = Journal::new(u64::MAX);
        let (u, r) = (UserId::new("u").unwrap(), RoomId::new("r").unwrap());
        let mute = || LogRecord::Mute(u.clone(), r.clone(), None);
        let unmute = || LogRecord::Unmute(u.clone(), r.clone());
        assert_eq!(journal.append(Change::Mute(&u, &r, None), 5).sequence, 1);
        journal.append(Change::Unmute(&u, &r), 5);
        journal.append(Change::Mute(&u, &r, None), 7);
        journal.append(Change::Unmute(&u, &r), 6);
        let mut work = journal.take_work(PendingFrames::default(), None);
        assert_eq!(work.last_sequence, 4);
        assert_eq!(
            records(&mut work.frames),
            [
                LogRecord::Time(5),
                mute(),
                unmute(),
                LogRecord::Time(7),
                mute(),
                LogRecord::Time(6),
                unmute(),
            ]
        );
        // The same log goes on: no time record for the same time.
        journal.append(Change::Mute(&u, &r, Some(9)), 6);
        let (mut frames, last) = journal.take_boundary();
        assert_eq!(last, 5);
        assert_eq!(
            records(&mut frames),
            [LogRecord::Mute(u.clone(), r.clone(), Some(9))]
        );
        // The next log starts with the time, even an unchanged one.
        journal.append(Change::ForgetUser(&u), 6);
        let mut work = journal.take_work(PendingFrames::default(), None);
        assert_eq!(
            records(&mut work.frames),
            [LogRecord::Time(6), LogRecord::ForgetUser(u.clone())]
        );
    }

    #[test]
    fn a_record_past_the_backlog_limit_asks_for_a_sync_at_once() {
        let journal = Journal::new(100);
        let (u, r) = (UserId::new("u").unwrap(), RoomId::new("r").unwrap());
        let queued = || journal.state.lock().frames.len();
        let mut below = 0;
        let last = loop {
            let appended = journal.append(Change::Mute(&u, &r, None), 5);
            assert_eq!(appended.over_limit, queued() > 100, "after {below} records");
            if appended.over_limit {
                break appended.sequence;
            }
            assert!(!journal.state.lock().flush_wanted);
            below += 1;
        };
        assert!(below > 5, "{below} records below the limit");
        let work = journal.take_work(PendingFrames::default(), None);
        assert!(work.flush_wanted);
        assert_eq!(work.last_sequence, last);

        // While the flusher holds that batch, it still counts: one small record passes the limit.
        assert!(journal.append(Change::Unmute(&u, &r), 5).over_limit);
        // The flusher's next round releases the first batch and takes only that record.
        let work = journal.take_work(PendingFrames::default(), None);
        assert!(work.flush_wanted);
        assert!(!journal.append(Change::Unmute(&u, &r), 5).over_limit);
        // Records taken at a log's boundary count too, until the round ends.
        let (boundary, _) = journal.take_boundary();
        let held = work.frames.len() + boundary.len();
        assert!(!boundary.is_empty() && held < 100);
        loop {
            let appended = journal.append(Change::Unmute(&u, &r), 5);
            assert_eq!(appended.over_limit, queued() + held > 100);
            if appended.over_limit {
                break;
            }
        }
        assert!(queued() <= 100, "what the flusher holds was not counted");
    }

    #[test]
    fn with_a_zero_limit_every_record_waits_and_with_the_largest_none() {
        let (u, r) = (UserId::new("u").unwrap(), RoomId::new("r").unwrap());
        let zero = Journal::new(0);
        let largest = Journal::new(u64::MAX);
        for n in 0..100 {
            assert!(zero.append(Change::Mute(&u, &r, None), n).over_limit);
            assert!(!largest.append(Change::Mute(&u, &r, None), n).over_limit);
        }
        assert!(zero.take_work(PendingFrames::default(), None).flush_wanted);
        assert!(
            !largest
                .take_work(PendingFrames::default(), None)
                .flush_wanted
        );
    }
}
