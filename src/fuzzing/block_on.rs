//! [`block_on`]: runs a future that never waits, without an async runtime.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// How many times a future may answer `Pending` before the harness gives up on it.
const MAX_POLLS: usize = 1000;

/// Polls `future` to completion on this thread. The stores and hosts the fuzz checks run against
/// answer at once, so a future that keeps waiting is a finding, and panics.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    for _ in 0..MAX_POLLS {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
    panic!("a future kept waiting although everything it awaits is ready at once");
}
