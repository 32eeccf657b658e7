//! [`Backlog`]: the bound on the bytes of records held in memory on their way to the log.
//!
//! A record is held from the moment a writer appends it to the journal until the flusher has
//! finished the round that wrote it: the records still queued in the journal, and the batch the
//! flusher took, which it keeps through its write, any sync or log rotation that follows, and
//! gives back only when it comes for the next batch. Once written, a record is in the operating
//! system's page cache, which bounds itself (a write blocks when too much of it is dirty).
//!
//! In [`Durability::Sync`](super::durability::Durability::Sync) every writer waits for its record,
//! so the records held are at most one per writer that has not given up. In
//! [`Durability::Periodic`](super::durability::Durability::Periodic) writers return at once, so a
//! disk that stalls would let records pile up without end. The journal asks the backlog, after
//! each append, whether the bytes held now pass the limit; if they do, the writer waits for its
//! record to be durable, as in `Sync`, and the flusher is asked to sync at once. Until the flusher
//! finds the backlog back under the limit, writers also wait before they make a change (in either
//! mode), so one that gives up while waiting adds nothing. Each writer adds at most one record
//! past the limit before it waits, so the bytes held stay within the limit plus one record per
//! concurrent writer.

/// The bytes of records held and their limit; kept under the journal's lock.
#[derive(Debug)]
pub(super) struct Backlog {
    limit: u64,
    /// Bytes of the records the flusher took in its current round.
    taken: usize,
}

impl Backlog {
    /// A backlog of at most `limit` bytes (0: every record passes it).
    pub(super) fn new(limit: u64) -> Self {
        Self { limit, taken: 0 }
    }

    /// The flusher took `bytes` of records, which it holds until its round ends.
    pub(super) fn take(&mut self, bytes: usize) {
        self.taken = self.taken.saturating_add(bytes);
    }

    /// The flusher's round is over: what it took is written (or the store has failed).
    pub(super) fn release(&mut self) {
        self.taken = 0;
    }

    /// Whether `queued` bytes waiting in the journal, with what the flusher holds, pass the limit.
    pub(super) fn exceeded(&self, queued: usize) -> bool {
        let held = u64::try_from(queued.saturating_add(self.taken)).unwrap_or(u64::MAX);
        held > self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_flusher_holds_counts_until_its_round_ends() {
        let mut backlog = Backlog::new(100);
        assert!(!backlog.exceeded(100), "the limit itself is not past it");
        assert!(backlog.exceeded(101));
        backlog.take(60);
        assert!(!backlog.exceeded(40));
        assert!(backlog.exceeded(41), "taken bytes are still held");
        backlog.take(30);
        assert!(
            backlog.exceeded(11),
            "a boundary taken in the same round adds up"
        );
        backlog.release();
        assert!(!backlog.exceeded(100));
    }

    #[test]
    fn a_zero_limit_is_passed_by_any_record_and_the_largest_by_none() {
        let zero = Backlog::new(0);
        assert!(!zero.exceeded(0));
        assert!(zero.exceeded(1));
        let mut largest = Backlog::new(u64::MAX);
        largest.take(usize::MAX);
        largest.take(usize::MAX);
        assert!(!largest.exceeded(usize::MAX));
    }
}
