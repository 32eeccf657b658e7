//! How long a mute lasts: [`Expiry`], and the check that turns it into a deadline.

use std::time::Duration;

/// The latest deadline a mute may have: 9999-12-31T23:59:59.999Z in epoch milliseconds. Later
/// values are refused, so that a deadline always fits every backend's number formats (a Redis
/// score is a double, exact to 2^53) and a client cannot overflow anything with a huge duration.
pub const MAX_DEADLINE_MS: u64 = 253_402_300_799_999;

/// How long a mute lasts.
///
/// A mute with a deadline is, to every read, exactly an unmuted room from the deadline on: reads
/// compare it with the store's [`Clock`](crate::Clock), and the store purges it (and sends an event
/// with [`ChangeCause::Expiry`](crate::ChangeCause::Expiry)) without scanning every user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Expiry {
    /// Until unmuted. Muting a room that had a deadline with `Never` removes the deadline.
    #[default]
    Never,
    /// Until this many milliseconds since the Unix epoch; must be later than the store's clock and
    /// at most [`MAX_DEADLINE_MS`].
    At(u64),
    /// For this long from the store's clock; must be at least one millisecond.
    After(Duration),
}

/// Why an [`Expiry`] was refused. The store changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum InvalidExpiry {
    /// The deadline is not in the future.
    #[error("the mute's end ({until_ms} ms since the epoch) is not in the future")]
    NotInFuture {
        /// The deadline asked for.
        until_ms: u64,
        /// The store's clock when it was refused.
        now_ms: u64,
    },
    /// A duration under one millisecond (deadlines are whole milliseconds).
    #[error("the mute's duration must be at least one millisecond")]
    ZeroDuration,
    /// The deadline is after [`MAX_DEADLINE_MS`].
    #[error("the mute's end is after the latest allowed ({MAX_DEADLINE_MS} ms since the epoch)")]
    TooLate,
}

impl Expiry {
    /// The deadline in epoch milliseconds (`None` for [`Expiry::Never`]), judged at `now_ms`.
    ///
    /// # Errors
    /// [`InvalidExpiry`] when the deadline is not after `now_ms`, the duration is zero, or the
    /// deadline is after [`MAX_DEADLINE_MS`].
    pub fn deadline(self, now_ms: u64) -> Result<Option<u64>, InvalidExpiry> {
        let until_ms = match self {
            Self::Never => return Ok(None),
            Self::At(until_ms) => until_ms,
            Self::After(duration) => {
                let millis = duration.as_millis();
                if millis == 0 {
                    return Err(InvalidExpiry::ZeroDuration);
                }
                u64::try_from(millis)
                    .ok()
                    .and_then(|millis| now_ms.checked_add(millis))
                    .ok_or(InvalidExpiry::TooLate)?
            }
        };
        if until_ms <= now_ms {
            return Err(InvalidExpiry::NotInFuture { until_ms, now_ms });
        }
        if until_ms > MAX_DEADLINE_MS {
            return Err(InvalidExpiry::TooLate);
        }
        Ok(Some(until_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_checked_against_now() {
        assert_eq!(Expiry::Never.deadline(10), Ok(None));
        assert_eq!(Expiry::At(11).deadline(10), Ok(Some(11)));
        assert_eq!(
            Expiry::At(10).deadline(10),
            Err(InvalidExpiry::NotInFuture {
                until_ms: 10,
                now_ms: 10
            })
        );
        assert_eq!(
            Expiry::After(Duration::from_millis(5)).deadline(10),
            Ok(Some(15))
        );
        assert_eq!(
            Expiry::After(Duration::from_micros(999)).deadline(10),
            Err(InvalidExpiry::ZeroDuration)
        );
        assert_eq!(
            Expiry::After(Duration::MAX).deadline(10),
            Err(InvalidExpiry::TooLate)
        );
        assert_eq!(
            Expiry::At(MAX_DEADLINE_MS + 1).deadline(10),
            Err(InvalidExpiry::TooLate)
        );
        assert_eq!(
            Expiry::At(MAX_DEADLINE_MS).deadline(10),
            Ok(Some(MAX_DEADLINE_MS))
        );
    }
}
