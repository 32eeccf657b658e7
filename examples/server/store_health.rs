//! Stopping the server when its store has failed for good.
//!
//! After a failed write or sync of its log, a `DurableStore` refuses every change until it is
//! reopened from disk (`docs/DURABILITY.md`, storage failure). A server that went on would answer
//! 500 to every change for as long as it runs, so it stops instead, with exit status 1, and a
//! supervisor that restarts it reopens the store from what is on disk.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mutestore::DurableStore;

/// How often the store is asked; a failure is also seen at once by every change it refuses.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Whether the server stopped because its store failed.
#[derive(Clone, Default)]
pub struct StoreFailed(Arc<AtomicBool>);

impl StoreFailed {
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Asks `store` every [`CHECK_EVERY`] whether it has failed; if it has, says so, marks `failed`
/// and calls `stop`, which starts the graceful shutdown.
pub async fn watch(store: Arc<DurableStore>, failed: StoreFailed, stop: impl FnOnce()) {
    let mut ticks = tokio::time::interval(CHECK_EVERY);
    loop {
        ticks.tick().await;
        if let Err(error) = store.health() {
            crate::shutdown::complain(&format!(
                "error: the store has failed ({error}); stopping, so that a restart reopens it from disk"
            ));
            failed.0.store(true, Ordering::Release);
            stop();
            return;
        }
    }
}
