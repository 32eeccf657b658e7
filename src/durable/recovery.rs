//! Opening a data directory: read the newest snapshot, replay the logs after it (each change at
//! the time it was first made), cut off a torn write at the end of the newest, and remove what a
//! finished compaction left behind. The store is rebuilt with its purge at deadlines off, so that
//! today's clock does not disturb the replay; the open purges what has lapsed and starts the purge
//! once it is done.

use std::fs::OpenOptions;
use std::time::Instant;

use super::data_dir::{DataDir, MAX_GENERATION};
use super::file_error::OnFile;
use super::log_replay::{TornTailPolicy, replay_log};
use super::log_writer::LogWriter;
use super::open_error::OpenError;
use super::recovery_report::{RecoveryReport, TornTail};
use super::snapshot::load_snapshot;
use crate::clock::SharedClock;
use crate::memory::MemoryStore;

/// The state found in a data directory, ready to be written after.
#[derive(Debug)]
pub(super) struct Recovered {
    /// Every user's list, loaded without a limit, with the purge at deadlines not yet started.
    pub(super) memory: MemoryStore,
    /// The newest log, open after its data.
    pub(super) log: LogWriter,
    /// The generation of the snapshot read (0: none).
    pub(super) snapshot_generation: u64,
    /// The snapshot's size.
    pub(super) snapshot_bytes: u64,
    /// The newest log already closed but not yet in a snapshot (after a crash during compaction),
    /// with the time no change after it is older than (see `compactor`).
    pub(super) compact_through: Option<(u64, u64)>,
    pub(super) report: RecoveryReport,
}

/// Reads the state of the locked directory `dir` into a store that reads `clock`.
pub(super) fn recover(
    dir: &DataDir,
    clock: SharedClock,
    started: Instant,
) -> Result<Recovered, OpenError> {
    let listing = dir.list()?;
    if let Some(path) = listing.out_of_range.first() {
        // No store writes such a name; counting on from it would overflow.
        return Err(OpenError::Damaged {
            path: path.clone(),
            offset: 0,
            reason: format!(
                "the generation in the file's name is above {MAX_GENERATION}, the largest a store \
                 writes"
            ),
        });
    }
    let snapshot_generation = listing.snapshots.last().copied().unwrap_or(0);
    let logs: Vec<u64> = listing
        .logs
        .iter()
        .copied()
        .filter(|&generation| generation >= snapshot_generation)
        .collect();
    for (expected, &found) in (snapshot_generation..).zip(&logs) {
        if found != expected {
            return Err(incomplete(dir, expected, Some(found)));
        }
    }
    if logs.is_empty() && snapshot_generation > 0 {
        // A snapshot is written only after the log of its generation exists, and that log is only
        // removed once a newer snapshot exists: its absence means a file was lost.
        return Err(incomplete(dir, snapshot_generation, None));
    }

    let memory = MemoryStore::for_replay(clock);
    let mut report = RecoveryReport::default();
    let mut snapshot_bytes = 0;
    if snapshot_generation > 0 {
        let totals = load_snapshot(
            &dir.snapshot_path(snapshot_generation),
            snapshot_generation,
            &memory,
        )?;
        report.snapshot_users = totals.users;
        report.snapshot_rooms = totals.rooms;
        snapshot_bytes = totals.bytes;
    }

    let mut log = None;
    let mut newest_earliest_ms = None;
    for (n, &generation) in logs.iter().enumerate() {
        let newest = n + 1 == logs.len();
        let path = dir.log_path(generation);
        let policy = if newest {
            TornTailPolicy::Accept
        } else {
            TornTailPolicy::Refuse
        };
        let replay = replay_log(&path, generation, &memory, policy)?;
        report.log_files += 1;
        report.log_records += replay.records;
        if let Some((reason, discarded_bytes)) = replay.torn {
            OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|file| {
                    file.set_len(replay.end)?;
                    file.sync_all()
                })
                .on_file("cutting a torn write off", &path)?;
            tracing::warn!(
                file = %path.display(),
                offset = replay.end,
                discarded_bytes,
                reason,
                "cut a torn write off the end of the log"
            );
            report.torn_tail = Some(TornTail {
                file: path.clone(),
                offset: replay.end,
                discarded_bytes,
                reason,
            });
        }
        if newest {
            log = Some(LogWriter::reopen(&path, generation, replay.end)?);
            newest_earliest_ms = replay.earliest_ms;
        }
    }
    let log = match log {
        Some(log) => log,
        None => LogWriter::create(dir, snapshot_generation)?,
    };

    // Left behind by a compaction that finished, or by writes that never finished. The newest
    // snapshot's rename may not be durable yet (a compaction stopped between its rename and its
    // directory sync): sync the directory first, so that no removal can reach the disk before it.
    // (Both lists are in ascending order.)
    let older = |generations: &[u64]| {
        generations
            .first()
            .is_some_and(|&g| g < snapshot_generation)
    };
    if !listing.temporary.is_empty() || older(&listing.snapshots) || older(&listing.logs) {
        dir.sync()?;
    }
    for path in &listing.temporary {
        dir.remove(path)?;
    }
    for &generation in listing
        .snapshots
        .iter()
        .filter(|&&g| g < snapshot_generation)
    {
        dir.remove(&dir.snapshot_path(generation))?;
    }
    for &generation in listing.logs.iter().filter(|&&g| g < snapshot_generation) {
        dir.remove(&dir.log_path(generation))?;
    }

    // Every change after the closed logs is in the newest log or is yet to be made, after now.
    let floor_ms = memory
        .clock()
        .now_ms()
        .min(newest_earliest_ms.unwrap_or(u64::MAX));
    report.elapsed = started.elapsed();
    Ok(Recovered {
        memory,
        compact_through: (logs.len() > 1).then(|| (log.generation() - 1, floor_ms)),
        log,
        snapshot_generation,
        snapshot_bytes,
        report,
    })
}

fn incomplete(dir: &DataDir, expected: u64, found: Option<u64>) -> OpenError {
    let missing = dir.log_path(expected);
    OpenError::Incomplete {
        dir: dir.path().to_path_buf(),
        reason: match found {
            Some(found) => format!(
                "{} is missing, but {} is present",
                missing.display(),
                dir.log_path(found).display()
            ),
            None => format!("{} is missing; the snapshot needs it", missing.display()),
        },
    }
}
