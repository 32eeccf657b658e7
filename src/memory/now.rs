//! [`Now`]: the time of one operation, read from the clock at most once and only if needed.

use std::cell::Cell;

use crate::clock::Clock;

/// The time an operation runs at. Most operations never need it (only a user with timed mutes
/// does), so a live operation reads the clock on first use and keeps the value, so that the whole
/// operation sees one instant. A replayed operation gets the time it was first made at.
pub(crate) struct Now<'a> {
    clock: Option<&'a dyn Clock>,
    value: Cell<Option<u64>>,
}

impl<'a> Now<'a> {
    /// Reads `clock` when first asked.
    pub(crate) fn lazy(clock: &'a dyn Clock) -> Self {
        Self {
            clock: Some(clock),
            value: Cell::new(None),
        }
    }

    /// Always `now_ms`.
    pub(crate) fn fixed(now_ms: u64) -> Self {
        Self {
            clock: None,
            value: Cell::new(Some(now_ms)),
        }
    }

    /// The operation's time in epoch milliseconds.
    pub(crate) fn get(&self) -> u64 {
        if let Some(value) = self.value.get() {
            return value;
        }
        let value = self.clock.map_or(0, Clock::now_ms);
        self.value.set(Some(value));
        value
    }
}
