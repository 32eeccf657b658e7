//! SIGINT and SIGTERM, caught from start-up on.

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

    /// Resolves on the first signal, after saying which arrived.
    #[cfg(unix)]
    pub async fn wait(mut self) {
        let name = tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        };
        announce(name);
    }

    /// Resolves on Ctrl-C, after saying so.
    #[cfg(not(unix))]
    pub async fn wait(self) {
        if tokio::signal::ctrl_c().await.is_err() {
            eprintln!("warning: cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        announce("Ctrl-C");
    }
}

fn announce(name: &str) {
    println!("received {name}, finishing open requests and shutting down");
}
