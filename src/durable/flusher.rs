//! The flusher thread: the only writer of the log.
//!
//! It takes every pending record from the [`Journal`] at once, writes them with one call, syncs
//! (in [`Durability::Sync`] after every write, in [`Durability::Periodic`] when the interval has
//! passed, or at once when someone waits: a flush, or a writer whose record took the backlog past
//! its limit) and releases the writers waiting for them. The batch it took counts towards the
//! backlog until it comes back for the next one. When the log has grown past the compaction
//! threshold it closes it, starts the next one and asks the compactor to fold the closed logs into
//! a snapshot.
//!
//! The boundary between two logs is taken with every user's stripe held (see [`Flusher::rotate`]),
//! which gives the compactor a time no later change can be older than.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::time::Instant;

use super::compactor::CompactionRequest;
use super::data_dir::{DataDir, MAX_GENERATION};
use super::durability::Durability;
use super::frame::FILE_HEADER_LEN;
use super::journal::{CompactionReply, Journal, Work};
use super::log_writer::LogWriter;
use super::pending_frames::PendingFrames;
use super::storage_failure::StorageFailure;
use super::user_stripes::UserStripes;
use crate::clock::SharedClock;

/// The flusher's state; [`Flusher::run`] is the thread's body.
#[derive(Debug)]
pub(super) struct Flusher {
    pub(super) journal: Arc<Journal>,
    pub(super) dir: Arc<DataDir>,
    pub(super) log: LogWriter,
    pub(super) durability: Durability,
    /// The smallest log worth compacting.
    pub(super) compact_after_bytes: u64,
    /// The size of the newest snapshot, kept up to date by the compactor.
    pub(super) snapshot_bytes: Arc<AtomicU64>,
    pub(super) compactor: Sender<CompactionRequest>,
    /// The writers' stripes, held while the boundary between two logs is taken.
    pub(super) stripes: Arc<UserStripes>,
    /// The store's clock.
    pub(super) clock: SharedClock,
}

/// How far the records have got.
#[derive(Debug, Default)]
struct Progress {
    /// The last record written to the log.
    written: u64,
    /// The last record synced.
    synced: u64,
    /// When the oldest record not yet synced was written.
    unsynced_since: Option<Instant>,
}

impl Flusher {
    /// Runs until the store shuts down or a write fails.
    pub(super) fn run(mut self) {
        let mut progress = Progress::default();
        let mut spare = PendingFrames::default();
        loop {
            let deadline = match self.durability {
                Durability::Periodic(interval) => progress
                    .unsynced_since
                    .and_then(|since| since.checked_add(interval)),
                Durability::Sync => None,
            };
            let mut work = self.journal.take_work(spare, deadline);
            let result = self.handle(&mut work, &mut progress);
            spare = std::mem::take(&mut work.frames);
            spare.clear();
            match result {
                Ok(()) if work.shutting_down => {
                    // Everything is synced already, so nothing is lost; `close` reports it all the
                    // same, as the disk misbehaves.
                    if let Err(failure) = self.log.seal() {
                        let failure = StorageFailure::from(failure);
                        tracing::error!(error = %failure, "closing the log failed");
                        self.journal.fail(failure);
                    }
                    return;
                }
                Ok(()) => {}
                Err(failure) => {
                    tracing::error!(error = %failure, "the durable store stopped accepting changes");
                    // Failed first, answered after: whoever hears of the failure finds the store
                    // already refusing changes.
                    self.journal.fail(failure.clone());
                    for reply in work.compactions {
                        let _ = reply.send(Err(failure.clone()));
                    }
                    return;
                }
            }
        }
    }

    fn handle(&mut self, work: &mut Work, progress: &mut Progress) -> Result<(), StorageFailure> {
        if !work.frames.is_empty() {
            self.log.append(&mut work.frames)?;
            progress.written = work.last_sequence;
            progress.unsynced_since.get_or_insert_with(Instant::now);
        }
        let sync_due = match self.durability {
            Durability::Sync => true,
            Durability::Periodic(interval) => progress
                .unsynced_since
                .is_some_and(|since| since.elapsed() >= interval),
        };
        let sync_wanted = sync_due || work.flush_wanted || work.shutting_down;
        if progress.written > progress.synced && sync_wanted {
            self.log.sync()?;
            self.publish(progress);
        }
        let threshold = self
            .compact_after_bytes
            .max(self.snapshot_bytes.load(Ordering::Relaxed));
        let has_records = self.log.data_len() > FILE_HEADER_LEN as u64;
        if !work.compactions.is_empty() || (has_records && self.log.data_len() >= threshold) {
            self.rotate(&mut work.compactions, progress)?;
        }
        Ok(())
    }

    /// Everything written is synced.
    fn publish(&self, progress: &mut Progress) {
        progress.synced = progress.written;
        progress.unsynced_since = None;
        self.journal.publish_durable(progress.synced);
    }

    /// Closes the log, starts the next one and asks for the closed ones to be compacted. The
    /// `replies` are taken only once the new log exists; on failure they stay for the caller to
    /// answer with the failure.
    fn rotate(
        &mut self,
        replies: &mut Vec<CompactionReply>,
        progress: &mut Progress,
    ) -> Result<(), StorageFailure> {
        let next_generation = self
            .log
            .generation()
            .checked_add(1)
            .filter(|&next| next <= MAX_GENERATION)
            .ok_or_else(|| StorageFailure::new("the log generations are used up"))?;
        // The boundary. A change reads its time and appends its record under its user's stripe,
        // so with every stripe held no change is in between: each one already appended goes to
        // the closed log, and each one after reads its time after `floor_ms`. So no change after
        // the boundary is older than `floor_ms` (unless the clock steps back), and the compactor
        // may drop from the snapshot every mute lapsed by then: each later change to its user
        // would have purged it first.
        let (mut last_frames, last_sequence, floor_ms) = {
            let _all = self.stripes.lock_all();
            let (frames, last_sequence) = self.journal.take_boundary();
            (frames, last_sequence, self.clock.now_ms())
        };
        if !last_frames.is_empty() {
            self.log.append(&mut last_frames)?;
            progress.written = last_sequence;
        }
        // Sealing syncs: a log is complete on disk before the next one exists, so only the newest
        // log can ever end in a torn write.
        self.log.seal()?;
        self.publish(progress);
        let next = LogWriter::create(&self.dir, next_generation)?;
        let closed = std::mem::replace(&mut self.log, next);
        let request = CompactionRequest {
            through: closed.generation(),
            floor_ms,
            replies: std::mem::take(replies),
        };
        if let Err(unsent) = self.compactor.send(request) {
            for reply in unsent.0.replies {
                let _ = reply.send(Err(StorageFailure::new("the compactor has stopped")));
            }
        }
        Ok(())
    }
}
