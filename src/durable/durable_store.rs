//! [`DurableStore`]: a [`MemoryStore`] for reads over an append-only log on local disk.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Instant;

use super::compactor::{CompactionRequest, Compactor};
use super::data_dir::DataDir;
use super::durability::Durability;
use super::flusher::Flusher;
use super::journal::{Appended, Journal};
use super::open_error::OpenError;
use super::options::DurableOptions;
use super::record::Change;
use super::recovery::recover;
use super::recovery_report::RecoveryReport;
use super::storage_failure::StorageFailure;
use super::user_stripes::UserStripes;
use crate::clock::SharedClock;
use crate::error::StoreError;
use crate::events::{Actor, EventScope, Subscription};
use crate::expiry::Expiry;
use crate::ids::{RoomId, UserId};
use crate::memory::MemoryStore;
use crate::memory::now::Now;
use crate::mute_list::{MuteList, MuteOutcome};
use crate::store::MuteStore;

/// Per-user sets of muted rooms that survive a restart, a `kill -9` and (in
/// [`Durability::Sync`]) a power cut: a [`MemoryStore`] answers every read, and every change is
/// also appended to a log in a local directory, from which the store is rebuilt when it is opened.
///
/// - Reads cost what they cost in a [`MemoryStore`]; they never touch the disk.
/// - A change is applied in memory and its record appended to the log under one per-user lock, so
///   the log holds each user's changes in the order of the lists they returned, and a reopen
///   gives back exactly the lists, mute order included. A refused mute writes nothing.
/// - In [`Durability::Sync`] (the default) a change returns once it is on disk. Writers waiting
///   at the same time share one `fdatasync` (group commit). The async methods wait without holding
///   a runtime thread: a dedicated flusher thread syncs and wakes them. The `_sync` methods block
///   the calling thread instead. A change is made when its future is first polled (or, past the
///   backlog limit, once earlier records are durable); dropping the future while it waits for the
///   disk does not undo a change already made, and one dropped before it makes nothing.
/// - In [`Durability::Periodic`] a change returns once applied in memory, unless the records
///   waiting for the disk pass [`DurableOptions::max_backlog_bytes`]: then it waits for its record
///   to be durable, as in `Sync`, so a stalled disk slows writers down instead of filling memory.
/// - The log is folded into a snapshot in the background once it outgrows the last snapshot, so
///   disk use and reopen time stay proportional to the state, not to its history.
/// - One store at a time may open a directory: a second open, from this process or another, fails
///   with [`OpenError::Locked`].
/// - A torn write at the end of the log (a crash in the middle of a write) is cut off at open and
///   reported in [`recovery`](Self::recovery) and as a `tracing` warning; any other damage makes
///   the open fail with [`OpenError::Damaged`], naming the file.
/// - If a write or sync fails, the store refuses every later change with [`StoreError::Backend`]
///   (the disk's state is then unknown); reads go on. Reopen it to continue from what is on disk.
///   The change that hit the failure may remain visible in memory until then.
///
/// Dropping the store writes and syncs what is pending, stops its threads and releases the
/// directory; [`close`](Self::close) does the same and reports a failure.
///
/// # Timed mutes
///
/// Every change is logged with the time it was made at (by the clock of
/// [`DurableOptions::clock`]), and a timed mute with its deadline; a reopen makes each change
/// again at its own time, so it sees exactly the lapsed mutes the change first saw, and the lists
/// come back in the same order (a room muted again after its timed mute lapsed goes to the end;
/// muted again before, it keeps its place). The open then purges every mute whose deadline passed
/// while the store was closed, before the store is returned.
///
/// A mute lapsing writes nothing: its deadline is already in the log, a lapsed mute is absent to
/// every read, every later change to its user purges it first (at a later time, which the log
/// records), the open purges it, and compaction leaves it out of the snapshot. So
/// [`expire_due`](MuteStore::expire_due) and the store's timer only purge memory (and send the
/// events), and never wait for the disk.
///
/// This holds for a clock that does not step back. If the system clock steps back, a mute that
/// had lapsed may read as muted again until its deadline comes round once more (as in a
/// [`MemoryStore`] with that clock), and which of those the reopen gives back can differ from what
/// the store showed before it closed.
///
/// # Events
///
/// [`subscribe`](MuteStore::subscribe) delivers the changes of this store as the in-memory store
/// applies them: an event is sent when its change is applied, before its record is on disk (in
/// [`Durability::Sync`], before the operation returns). So a subscriber can see a change that a
/// crash then loses (it had not returned), or, after a storage failure, one that never reaches the
/// disk. Events are not logged: a reopen sends none for the state it rebuilds, nor for the mutes
/// it finds lapsed. Expiry events come from the timer (or [`expire_due`](MuteStore::expire_due), or
/// the next change to the user) at the deadline, by the store's clock.
///
/// ```
/// use mutestore::{DurableStore, MuteStore, RoomId, UserId};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = std::env::temp_dir().join(format!("mutestore-doc-{}", std::process::id()));
/// let alice = UserId::new("alice")?;
/// {
///     let store = DurableStore::open(&dir)?;
///     store.mute(&alice, &RoomId::new("lobby")?).await?;
///     store.mute(&alice, &RoomId::new("news")?).await?;
/// }
/// let store = DurableStore::open(&dir)?;
/// assert_eq!(store.muted_rooms(&alice).await?, ["lobby", "news"]);
/// # drop(store);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
pub struct DurableStore {
    memory: MemoryStore,
    stripes: Arc<UserStripes>,
    journal: Arc<Journal>,
    durability: Durability,
    report: RecoveryReport,
    flusher: Option<JoinHandle<()>>,
    compactor: Option<JoinHandle<()>>,
    stop_compaction: Arc<AtomicBool>,
    /// Dropped last, releasing the directory's lock once the threads have stopped.
    dir: Arc<DataDir>,
}

impl fmt::Debug for DurableStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DurableStore")
            .field("dir", &self.dir.path())
            .field("durability", &self.durability)
            .field("memory", &self.memory)
            .finish_non_exhaustive()
    }
}

impl DurableStore {
    /// Opens the store in `dir`, creating the directory if needed, with the default options
    /// ([`Durability::Sync`], [`DEFAULT_MUTE_LIMIT`](crate::DEFAULT_MUTE_LIMIT)).
    ///
    /// # Errors
    /// [`OpenError::Locked`] when another store has `dir` open; [`OpenError::Damaged`] or
    /// [`OpenError::Incomplete`] when the files in it cannot be read back in full;
    /// [`OpenError::Io`] when the directory cannot be created, read or written.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, OpenError> {
        Self::open_with(dir, DurableOptions::new())
    }

    /// Opens the store in `dir` with `options`.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_with(dir: impl AsRef<Path>, options: DurableOptions) -> Result<Self, OpenError> {
        let started = Instant::now();
        let dir = Arc::new(DataDir::lock(dir.as_ref())?);
        let recovered = recover(&dir, Arc::clone(&options.clock), started)?;
        let mut memory = recovered.memory;
        memory.set_mute_limit(options.mute_limit);
        // Mutes whose deadline passed while the store was closed (or before the end of the log)
        // leave before anyone can read; nobody subscribes yet, so this sends nothing. Then the
        // timer takes over, from the earliest deadline left.
        memory.expire_due_sync();
        memory.start_expiry();

        let journal = Arc::new(Journal::new(options.max_backlog_bytes));
        let stripes = Arc::new(UserStripes::new());
        let snapshot_bytes = Arc::new(AtomicU64::new(recovered.snapshot_bytes));
        let stop_compaction = Arc::new(AtomicBool::new(false));
        let (requests, received) = mpsc::channel();
        if let Some((through, floor_ms)) = recovered.compact_through {
            // Logs closed before a crash and never compacted: fold them in now.
            let _ = requests.send(CompactionRequest {
                through,
                floor_ms,
                replies: Vec::new(),
            });
        }
        let compactor = Compactor {
            dir: Arc::clone(&dir),
            requests: received,
            snapshot_generation: recovered.snapshot_generation,
            snapshot_bytes: Arc::clone(&snapshot_bytes),
            stop: Arc::clone(&stop_compaction),
        };
        let flusher = Flusher {
            journal: Arc::clone(&journal),
            dir: Arc::clone(&dir),
            log: recovered.log,
            durability: options.durability,
            compact_after_bytes: options.compact_after_bytes,
            snapshot_bytes,
            compactor: requests,
            stripes: Arc::clone(&stripes),
            clock: Arc::clone(&options.clock),
        };
        let spawn_failed = |source| OpenError::Io {
            action: "starting a thread for",
            path: dir.path().to_path_buf(),
            source,
        };
        let compactor = std::thread::Builder::new()
            .name("mutestore-compactor".into())
            .spawn(move || compactor.run())
            .map_err(spawn_failed)?;
        let flusher_journal = Arc::clone(&journal);
        let flusher = match std::thread::Builder::new()
            .name("mutestore-flusher".into())
            .spawn(move || {
                // A panic here would be a bug; writers must then get an error, not wait forever.
                if std::panic::catch_unwind(AssertUnwindSafe(|| flusher.run())).is_err() {
                    flusher_journal.fail(StorageFailure::new("the flusher thread panicked"));
                }
            }) {
            Ok(flusher) => flusher,
            Err(source) => {
                // The open fails: the compactor must not go on rewriting files (a compaction may
                // be queued) and holding the directory's lock after it has returned.
                stop_compaction.store(true, std::sync::atomic::Ordering::Relaxed);
                let _ = compactor.join();
                return Err(spawn_failed(source));
            }
        };
        Ok(Self {
            memory,
            stripes,
            journal,
            durability: options.durability,
            report: recovered.report,
            flusher: Some(flusher),
            compactor: Some(compactor),
            stop_compaction,
            dir,
        })
    }

    /// The data directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// When changes reach the disk.
    #[must_use]
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// `Ok` while the store accepts changes. Once a write or sync of the log has failed (disk
    /// full, I/O error), the error every change now gets: the store stays readable but refuses
    /// changes until it is reopened from what is on disk (see `docs/DURABILITY.md`, storage
    /// failure). Cheap enough to poll, for a readiness check or to restart the process.
    ///
    /// # Errors
    /// [`StoreError::Backend`] after a storage failure.
    pub fn health(&self) -> Result<(), StoreError> {
        Ok(self.journal.check()?)
    }

    /// What the open read from disk and whether it cut off a torn write.
    #[must_use]
    pub fn recovery(&self) -> &RecoveryReport {
        &self.report
    }

    /// The per-user limit on muted rooms.
    #[must_use]
    pub fn mute_limit(&self) -> usize {
        self.memory.mute_limit()
    }

    /// How many users have at least one muted room.
    #[must_use]
    pub fn user_count(&self) -> usize {
        self.memory.user_count()
    }

    /// Calls `visit` with every user that has muted rooms and the user's list; see
    /// [`MemoryStore::for_each_user`].
    pub fn for_each_user(&self, visit: impl FnMut(&UserId, &MuteList)) {
        self.memory.for_each_user(visit);
    }

    /// Applies a change to one user under the user's stripe and logs it, with the time it was made
    /// at, if it changed anything. Returns the result and what to wait for.
    ///
    /// The change reads the clock lazily: under the user's shard lock when it needs the time (the
    /// user has timed mutes), else right after. The expiry timer purges under the same lock at a
    /// time it read before taking it, so the time a change is made and logged at is never older
    /// than a purge that change has seen, and replaying the change at that time sees the same
    /// lapsed mutes (with a clock that does not step back).
    fn change_user<'a, T>(
        &self,
        user: &UserId,
        apply: impl FnOnce(&MemoryStore, &Now<'_>) -> Result<(T, Option<Change<'a>>), StoreError>,
    ) -> Result<(T, Appended), StoreError> {
        let _stripe = self.stripes.lock(user);
        self.journal.check()?;
        let now = Now::lazy(&**self.memory.clock());
        let (result, change) = apply(&self.memory, &now)?;
        let appended = match change {
            Some(change) => self.journal.append(change, now.get()),
            None => self.nothing_appended(),
        };
        Ok((result, appended))
    }

    /// What an operation that changed nothing waits for (in [`Durability::Sync`]): every record
    /// before it. It adds nothing to the backlog, so it never waits in [`Durability::Periodic`].
    fn nothing_appended(&self) -> Appended {
        Appended {
            sequence: self.journal.last_appended(),
            over_limit: false,
        }
    }

    fn mute_now(
        &self,
        user: &UserId,
        room: &RoomId,
        expiry: Expiry,
        actor: Actor,
    ) -> Result<(Result<MuteOutcome, StoreError>, Appended), StoreError> {
        self.change_user(user, |memory, now| {
            // The deadline is checked and computed against one reading of the clock. The change
            // then runs at the time it reads for itself (the same, or a moment later): a mute
            // that lapses in between is made and lapses at once, here and in a replay alike.
            let deadline = match expiry {
                Expiry::Never => None,
                expiry => expiry.deadline(memory.clock().now_ms())?,
            };
            match memory.mute_at(user, room, deadline, actor.into(), now) {
                Ok(outcome) => {
                    let change = outcome
                        .changed
                        .then_some(Change::Mute(user, room, deadline));
                    Ok((Ok(outcome), change))
                }
                // A refusal for the limit rests on the user's rooms, which earlier writers may
                // have changed without their records being on disk yet: like a change that
                // changed nothing, it waits for them, so a crash cannot undo what it reported.
                Err(refused) => Ok((Err(refused.into()), None)),
            }
        })
    }

    fn unmute_now(
        &self,
        user: &UserId,
        room: &RoomId,
        actor: Actor,
    ) -> Result<(MuteOutcome, Appended), StoreError> {
        self.change_user(user, |memory, now| {
            let outcome = memory.unmute_at(user, room, actor.into(), now);
            let change = outcome.changed.then_some(Change::Unmute(user, room));
            Ok((outcome, change))
        })
    }

    fn forget_user_now(&self, user: &UserId) -> Result<(MuteList, Appended), StoreError> {
        self.change_user(user, |memory, now| {
            let rooms = memory.forget_user_at(user, now);
            let change = (!rooms.is_empty()).then_some(Change::ForgetUser(user));
            Ok((rooms, change))
        })
    }

    fn forget_room_now(&self, room: &RoomId) -> Result<(usize, Appended), StoreError> {
        let _all = self.stripes.lock_all();
        self.journal.check()?;
        // Read once, at the first user with timed mutes: a shard visited later may have been
        // purged at a later time meanwhile, which only removes mutes that every later change to
        // their users (made after this one) would have purged anyway.
        let now = Now::lazy(&**self.memory.clock());
        let count = self.memory.forget_room_at(room, &now);
        let appended = if count > 0 {
            self.journal.append(Change::ForgetRoom(room), now.get())
        } else {
            self.nothing_appended()
        };
        Ok((count, appended))
    }

    /// Blocks, before a change is made, while the records held in memory are past
    /// [`DurableOptions::max_backlog_bytes`]: until every record appended so far is durable.
    fn admit_blocking(&self) -> Result<(), StoreError> {
        if let Some(sequence) = self.journal.admission() {
            self.journal.wait_blocking(sequence)?;
        }
        Ok(())
    }

    /// [`admit_blocking`](Self::admit_blocking) without blocking the thread. A caller that drops
    /// the future while it waits here has changed nothing and added nothing to the backlog.
    async fn admit(&self) -> Result<(), StoreError> {
        if let Some(sequence) = self.journal.admission() {
            self.journal.wait(sequence).await?;
        }
        Ok(())
    }

    /// Whether a writer waits for its record: always in [`Durability::Sync`], and in
    /// [`Durability::Periodic`] when its record took the backlog past its limit.
    fn must_wait(&self, appended: Appended) -> bool {
        self.durability == Durability::Sync || appended.over_limit
    }

    /// Blocks until the record is durable, if the writer must wait for it.
    fn settle_blocking<T>(&self, (result, appended): (T, Appended)) -> Result<T, StoreError> {
        if self.must_wait(appended) {
            self.journal.wait_blocking(appended.sequence)?;
        }
        Ok(result)
    }

    /// Waits, without blocking the thread, until the record is durable, if the writer must wait
    /// for it.
    async fn settle<T>(&self, (result, appended): (T, Appended)) -> Result<T, StoreError> {
        if self.must_wait(appended) {
            self.journal.wait(appended.sequence).await?;
        }
        Ok(result)
    }

    /// Mutes `room` for `user` until unmuted, as the user; see [`MuteStore::mute`]. Blocks the
    /// calling thread until the change is durable (in [`Durability::Sync`], and in
    /// [`Durability::Periodic`] when the records waiting for the disk pass
    /// [`DurableOptions::max_backlog_bytes`]).
    ///
    /// # Errors
    /// [`StoreError::MuteLimitExceeded`] as [`MuteStore::mute`] (in [`Durability::Sync`], once
    /// every earlier change is durable, since the refusal rests on them); [`StoreError::Backend`]
    /// when the log cannot be written.
    pub fn mute_sync(&self, user: &UserId, room: &RoomId) -> Result<MuteOutcome, StoreError> {
        self.mute_with_sync(user, room, Expiry::Never, Actor::User)
    }

    /// Mutes `room` for `user` until `expiry`, on behalf of `actor`; see [`MuteStore::mute_with`].
    /// Blocks as [`mute_sync`](Self::mute_sync).
    ///
    /// # Errors
    /// [`StoreError::InvalidExpiry`] or [`StoreError::MuteLimitExceeded`] as
    /// [`MuteStore::mute_with`] (a refused mute writes nothing); [`StoreError::Backend`] when the
    /// log cannot be written.
    pub fn mute_with_sync(
        &self,
        user: &UserId,
        room: &RoomId,
        expiry: Expiry,
        actor: Actor,
    ) -> Result<MuteOutcome, StoreError> {
        self.admit_blocking()?;

        self.settle_blocking(self.mute_now(user, room, expiry, actor)?)?
    }

    /// Unmutes `room` for `user`, as the user; see [`MuteStore::unmute`]. Blocks as
    /// [`mute_sync`](Self::mute_sync).
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the log cannot be written.
    pub fn unmute_sync(&self, user: &UserId, room: &RoomId) -> Result<MuteOutcome, StoreError> {
        self.unmute_by_sync(user, room, Actor::User)
    }

    /// Unmutes `room` for `user` on behalf of `actor`; see [`MuteStore::unmute_by`]. The actor
    /// only names the cause of the change's event; it is not logged. Blocks as
    /// [`mute_sync`](Self::mute_sync).
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the log cannot be written.
    pub fn unmute_by_sync(
        &self,
        user: &UserId,
        room: &RoomId,
        actor: Actor,
    ) -> Result<MuteOutcome, StoreError> {
        self.admit_blocking()?;

        self.settle_blocking(self.unmute_now(user, room, actor)?)
    }

    /// Purges every timed mute whose deadline has passed by the store's clock, sending an
    /// [`Expiry`](crate::ChangeCause::Expiry) event for each; see [`MuteStore::expire_due`]. The
    /// store's timer does this on its own at each deadline. Writes nothing to the log (see
    /// [`DurableStore`] on timed mutes) and never blocks on the disk.
    pub fn expire_due_sync(&self) -> usize {
        self.memory.expire_due_sync()
    }

    /// The clock deadlines are read against ([`DurableOptions::clock`]).
    #[must_use]
    pub fn clock(&self) -> &SharedClock {
        self.memory.clock()
    }

    /// Removes `room` from every user's set; see [`MuteStore::forget_room`]. Other changes wait
    /// while it runs (it visits every user). Blocks as [`mute_sync`](Self::mute_sync).
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the log cannot be written.
    pub fn forget_room_sync(&self, room: &RoomId) -> Result<usize, StoreError> {
        self.admit_blocking()?;

        self.settle_blocking(self.forget_room_now(room)?)
    }

    /// Removes `user`'s whole set; see [`MuteStore::forget_user`]. Blocks as
    /// [`mute_sync`](Self::mute_sync).
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the log cannot be written.
    pub fn forget_user_sync(&self, user: &UserId) -> Result<MuteList, StoreError> {
        self.admit_blocking()?;

        self.settle_blocking(self.forget_user_now(user)?)
    }

    /// `user`'s muted rooms, oldest mute first. A read may see a change whose operation has not
    /// returned yet (its record is not yet on disk).
    #[must_use]
    pub fn muted_rooms_sync(&self, user: &UserId) -> MuteList {
        self.memory.muted_rooms_sync(user)
    }

    /// Whether `user` has muted `room`.
    #[must_use]
    pub fn is_muted_sync(&self, user: &UserId, room: &RoomId) -> bool {
        self.memory.is_muted_sync(user, room)
    }

    /// Which of `users` have muted `room`, in the order given.
    #[must_use]
    pub fn muted_among_sync(&self, room: &RoomId, users: &[UserId]) -> Vec<UserId> {
        self.memory.muted_among_sync(room, users)
    }

    /// Makes every change made so far durable, blocking the calling thread: what
    /// [`Durability::Periodic`] does every interval, done now. Immediate in [`Durability::Sync`].
    ///
    /// "Made so far" means every change whose operation returned before this call. A change
    /// another thread is making at the same moment may already read back from memory without being
    /// covered; it is covered by the next flush once its operation has returned.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when a change made so far could not be synced. (After a failure
    /// that happened once everything accepted was on disk, it returns `Ok`: there is nothing to
    /// lose; the changes refused since then were never applied.)
    pub fn flush_sync(&self) -> Result<(), StoreError> {
        let target = self.journal.request_flush();
        Ok(self.journal.wait_blocking(target)?)
    }

    /// Makes every change made so far durable, without blocking a thread; see
    /// [`flush_sync`](Self::flush_sync).
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the log cannot be synced.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let target = self.journal.request_flush();
        Ok(self.journal.wait(target).await?)
    }

    /// Folds the whole log into a new snapshot now and waits until it is on disk, blocking the
    /// calling thread (from async code, call it through `spawn_blocking`). Compaction also runs on
    /// its own as the log grows; this is for hosts that want a small directory at a moment of their
    /// choosing, such as before a backup.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the snapshot cannot be written or the store has failed.
    pub fn compact_sync(&self) -> Result<(), StoreError> {
        self.journal.check()?;
        let (reply, result) = mpsc::channel();
        self.journal.request_compaction(reply);
        match result.recv() {
            Ok(result) => Ok(result?),
            Err(_) => Err(self
                .journal
                .check()
                .err()
                .unwrap_or_else(|| StorageFailure::new("the compactor has stopped"))
                .into()),
        }
    }

    /// Writes and syncs what is pending, stops the store's threads and releases the directory, as
    /// dropping the store does, and reports whether everything reached the disk.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when a write or sync failed, now or earlier, or closing the log
    /// (trimming its preallocated end and syncing it) failed, which loses nothing already synced.
    pub fn close(mut self) -> Result<(), StoreError> {
        self.shut_down();
        Ok(self.journal.check()?)
    }

    fn shut_down(&mut self) {
        self.journal.shut_down();
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.join();
        }
        self.stop_compaction
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(compactor) = self.compactor.take() {
            let _ = compactor.join();
        }
    }
}

impl Drop for DurableStore {
    fn drop(&mut self) {
        self.shut_down();
    }
}

impl MuteStore for DurableStore {
    async fn mute_with(
        &self,
        user: &UserId,
        room: &RoomId,
        expiry: Expiry,
        actor: Actor,
    ) -> Result<MuteOutcome, StoreError> {
        self.admit().await?;

        self.settle(self.mute_now(user, room, expiry, actor)?)
            .await?
    }

    async fn unmute_by(
        &self,
        user: &UserId,
        room: &RoomId,
        actor: Actor,
    ) -> Result<MuteOutcome, StoreError> {
        self.admit().await?;

        self.settle(self.unmute_now(user, room, actor)?).await
    }

    fn muted_rooms(
        &self,
        user: &UserId,
    ) -> impl Future<Output = Result<MuteList, StoreError>> + Send {
        std::future::ready(Ok(self.memory.muted_rooms_sync(user)))
    }

    fn is_muted(
        &self,
        user: &UserId,
        room: &RoomId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        std::future::ready(Ok(self.memory.is_muted_sync(user, room)))
    }

    fn muted_among(
        &self,
        room: &RoomId,
        users: &[UserId],
    ) -> impl Future<Output = Result<Vec<UserId>, StoreError>> + Send {
        std::future::ready(Ok(self.memory.muted_among_sync(room, users)))
    }

    async fn forget_room(&self, room: &RoomId) -> Result<usize, StoreError> {
        self.admit().await?;

        self.settle(self.forget_room_now(room)?).await
    }

    async fn forget_user(&self, user: &UserId) -> Result<MuteList, StoreError> {
        self.admit().await?;

        self.settle(self.forget_user_now(user)?).await
    }

    fn expire_due(&self) -> impl Future<Output = Result<usize, StoreError>> + Send {
        std::future::ready(Ok(self.memory.expire_due_sync()))
    }

    fn subscribe(&self, scope: EventScope) -> Result<Subscription, StoreError> {
        Ok(self.memory.subscribe(scope))
    }

    fn mute_limit(&self) -> usize {
        self.memory.mute_limit()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;
    use crate::ids::MAX_ID_BYTES;

    /// An interval no test reaches: in these tests only the backlog's limit makes the flusher sync.
    const HOUR: Duration = Duration::from_secs(3600);

    fn periodic_store(dir: &Path, max_backlog_bytes: u64) -> Arc<DurableStore> {
        let options = DurableOptions::new()
            .durability(Durability::Periodic(HOUR))
            .max_backlog_bytes(max_backlog_bytes);
        Arc::new(options.open(dir).unwrap())
    }

    /// Whether the last record appended is on disk.
    fn last_record_durable(store: &DurableStore) -> bool {
        store
            .journal
            .settled(store.journal.last_appended())
            .is_some()
    }

    /// Runs `write` on its own thread and returns its result, failing the test if it has not
    /// returned after a minute (it would otherwise wait for the hour-long interval).
    fn returned<T: Send + 'static>(write: impl FnOnce() -> T + Send + 'static) -> T {
        let (sender, result) = mpsc::channel();
        std::thread::spawn(move || sender.send(write()));
        result
            .recv_timeout(Duration::from_secs(60))
            .expect("the write returned")
    }

    fn id(text: &str) -> (UserId, RoomId) {
        (UserId::new(text).unwrap(), RoomId::new(text).unwrap())
    }

    #[test]
    fn past_the_backlog_limit_a_periodic_write_returns_once_its_record_is_durable() {
        let dir = tempfile::tempdir().unwrap();
        let store = periodic_store(dir.path(), 512);
        for n in 0..5 {
            let (user, room) = id(&format!("small-{n}"));
            store.mute_sync(&user, &room).unwrap();
            assert!(
                !last_record_durable(&store),
                "write {n} waited for the disk"
            );
        }
        // A record with two 256-byte ids passes 512 bytes on its own.
        let (user, room) = id(&"x".repeat(MAX_ID_BYTES));
        let writer = Arc::clone(&store);
        returned(move || writer.mute_sync(&user, &room)).unwrap();
        assert!(
            last_record_durable(&store),
            "the blocking write did not wait"
        );

        let (user, room) = id(&"y".repeat(MAX_ID_BYTES));
        let writer = Arc::clone(&store);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        returned(move || runtime.block_on(writer.mute(&user, &room))).unwrap();
        assert!(last_record_durable(&store), "the async write did not wait");
    }

    #[test]
    fn with_a_zero_backlog_limit_every_periodic_write_returns_durable() {
        let dir = tempfile::tempdir().unwrap();
        let store = periodic_store(dir.path(), 0);
        let (user, room) = id("a");
        let writer = Arc::clone(&store);
        let durable = returned(move || {
            let mut durable = Vec::new();
            for _ in 0..10 {
                writer.mute_sync(&user, &room).unwrap();
                durable.push(last_record_durable(&writer));
                writer.unmute_sync(&user, &room).unwrap();
                durable.push(last_record_durable(&writer));
            }
            durable
        });
        assert_eq!(durable, [true; 20]);
    }
}
