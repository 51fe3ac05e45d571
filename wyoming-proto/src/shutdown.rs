//! The shutdown signal every task listens to.
//!
//! A cloneable token rather than a broadcast channel: tasks that start after the signal still see it,
//! and checking it costs nothing on the hot path.

use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every holder of this signal to stop.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes once shutdown has been triggered. Handlers await this only while idle, so that a
    /// request already running is allowed to finish.
    pub async fn triggered(&self) {
        self.token.cancelled().await;
    }

    /// Triggers this signal on the first SIGINT or SIGTERM; a second one ends the process at once (exit
    /// status 130), for a user who will not wait for running requests (Ctrl-C twice).
    pub fn trigger_on_signals(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let this = self.clone();
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
                _ = this.triggered() => return,
            };
            tracing::info!(signal = name, "shutting down; letting running requests finish (signal again to exit now)");
            this.trigger();
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            tracing::warn!(signal = name, "second signal: exiting without waiting for running requests");
            std::process::exit(130);
        });
        Ok(())
    }
}
