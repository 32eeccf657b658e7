//! SIGINT and SIGTERM, caught from start-up on.

use std::io::Write as _;

/// The signal handlers, installed when this is made: a signal that arrives afterwards is caught,
/// even before anything waits for it. (Installing them lazily, on the first poll of a future,
/// would leave a window after the start-up line in which a signal still kills the process.)
pub struct ShutdownSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    /// Installs the handlers for SIGINT (Ctrl-C) and SIGTERM.
    #[cfg(unix)]
    pub fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Installs the handler for Ctrl-C.
    #[cfg(not(unix))]
    pub fn install() -> std::io::Result<Self> {
        Ok(Self {})
    }

    /// Resolves on the next signal, with its name and the exit status that convention gives a
    /// process it ends (128 and the signal's number).
    #[cfg(unix)]
    async fn next(&mut self) -> (&'static str, i32) {
        tokio::select! {
            _ = self.interrupt.recv() => ("SIGINT", 130),
            _ = self.terminate.recv() => ("SIGTERM", 143),
        }
    }

    /// Resolves on the next Ctrl-C.
    #[cfg(not(unix))]
    async fn next(&mut self) -> (&'static str, i32) {
        if tokio::signal::ctrl_c().await.is_err() {
            complain("warning: cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        ("Ctrl-C", 130)
    }

    /// Runs for the server's life. On the first signal, says so and calls `stop`, which starts the
    /// graceful shutdown; on a second, exits at once, without waiting for open connections (a
    /// client can otherwise hold the server up for a whole timeout). Changes already acknowledged
    /// are on disk in `Sync` durability; in `Periodic`, those of the last interval are lost.
    pub async fn watch(mut self, stop: impl FnOnce()) {
        let (name, _) = self.next().await;
        say(&format!(
            "received {name}, finishing open requests and shutting down (send it again to stop at once)"
        ));
        stop();
        let (name, status) = self.next().await;
        let _ = writeln!(
            std::io::stderr(),
            "received {name} again: exiting without waiting for open connections"
        );
        std::process::exit(status);
    }
}

/// A line on stdout. Never `println!`: with stdout a pipe whose reader has gone, it panics.
pub fn say(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// A line on stderr, for errors and warnings. Never `eprintln!`, for the same reason as [`say`]:
/// a panic would turn the exit status the error chose into 101, or, in a task, keep the server
/// from stopping.
pub fn complain(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}
