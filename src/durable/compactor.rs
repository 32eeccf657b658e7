//! The compactor thread: folds closed logs into a new snapshot.
//!
//! It builds the new snapshot from the files, not from the live store: it loads the newest
//! snapshot and replays the closed logs into a memory store of its own, then writes that out. The
//! snapshot is then exactly the state at the end of the last closed log, without stopping writers
//! and without asking whether a change racing with the copy is in it. The price is a second copy
//! of the state in memory while it runs, and about the CPU time of a reopen.
//!
//! Timed mutes: the replay makes every change at the time it was first made, and the snapshot
//! holds the lists as they read at the floor of the boundary after log `through` (see `flusher`),
//! deadlines included. A mute lapsed by then is left out; that is how lapsed mutes leave the disk.
//! Leaving it out changes nothing: no change after the boundary is older than the floor, so each
//! later change to its user would have purged it first, and no read after it can see it. A mute
//! that lapsed after the floor stays, with its deadline, until the next compaction.
//!
//! Once the snapshot is in place, the snapshot and logs it replaces are removed. A crash at any
//! point leaves either the old snapshot with all its logs, or the new one (and perhaps files it
//! replaces, which the next open removes).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Receiver;

use super::data_dir::DataDir;
use super::journal::CompactionReply;
use super::log_replay::{TornTailPolicy, replay_log};
use super::snapshot::{load_snapshot, write_snapshot};
use super::storage_failure::StorageFailure;
use crate::clock::ManualClock;
use crate::memory::MemoryStore;

/// Compact every closed log up to and including generation `through`.
#[derive(Debug)]
pub(super) struct CompactionRequest {
    pub(super) through: u64,
    /// No change logged after log `through` was made before this time (epoch ms): the snapshot
    /// leaves out the mutes lapsed by then.
    pub(super) floor_ms: u64,
    /// Callers waiting for the result.
    pub(super) replies: Vec<CompactionReply>,
}

/// The compactor's state; [`Compactor::run`] is the thread's body.
#[derive(Debug)]
pub(super) struct Compactor {
    pub(super) dir: Arc<DataDir>,
    pub(super) requests: Receiver<CompactionRequest>,
    /// The newest snapshot's generation (0: none yet).
    pub(super) snapshot_generation: u64,
    /// Its size, read by the flusher to decide when to compact next.
    pub(super) snapshot_bytes: Arc<AtomicU64>,
    /// Raised when the store closes: an unfinished compaction is abandoned.
    pub(super) stop: Arc<AtomicBool>,
}

impl Compactor {
    /// Runs until the flusher stops sending requests.
    pub(super) fn run(mut self) {
        while let Ok(first) = self.requests.recv() {
            let (mut through, mut floor_ms) = (first.through, first.floor_ms);
            let mut replies = first.replies;
            // Requests that queued up meanwhile are served by the same compaction, which goes to
            // the newest boundary, with that boundary's floor.
            while let Ok(more) = self.requests.try_recv() {
                if more.through >= through {
                    (through, floor_ms) = (more.through, more.floor_ms);
                }
                replies.extend(more.replies);
            }
            let result = if through < self.snapshot_generation {
                Ok(())
            } else {
                self.compact(through, floor_ms)
            };
            if let Err(failure) = &result
                && !self.stopped()
            {
                tracing::error!(error = %failure, "compaction failed; the logs are kept");
            }
            for reply in replies {
                let _ = reply.send(result.clone());
            }
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn compact(&mut self, through: u64, floor_ms: u64) -> Result<(), StorageFailure> {
        let stopped = || StorageFailure::new("the store closed during a compaction");
        let dir = &self.dir;
        // Its clock stands at the floor: the snapshot holds the lists as they read then.
        let memory = MemoryStore::for_replay(Arc::new(ManualClock::new(floor_ms)));
        let from = self.snapshot_generation;
        if from > 0 {
            load_snapshot(&dir.snapshot_path(from), from, &memory)
                .map_err(|e| StorageFailure::new(e.to_string()))?;
        }
        for generation in from..=through {
            if self.stopped() {
                return Err(stopped());
            }
            replay_log(
                &dir.log_path(generation),
                generation,
                &memory,
                TornTailPolicy::Refuse,
            )
            .map_err(|e| StorageFailure::new(e.to_string()))?;
        }
        let generation = through + 1;
        let totals = write_snapshot(dir, generation, &memory, &self.stop)?.ok_or_else(stopped)?;
        drop(memory);
        self.snapshot_generation = generation;
        self.snapshot_bytes.store(totals.bytes, Ordering::Relaxed);
        if from > 0 {
            dir.remove(&dir.snapshot_path(from))?;
        }
        for old in from..=through {
            dir.remove(&dir.log_path(old))?;
        }
        dir.sync()?;
        tracing::debug!(
            generation,
            users = totals.users,
            rooms = totals.rooms,
            bytes = totals.bytes,
            "wrote a snapshot"
        );
        Ok(())
    }
}
