//! Stopping a request's synthesis part-way through a run, when its client has gone.
//!
//! Dropping the async task that waits for a phrase cannot stop the blocking ONNX Runtime call under it: a long
//! Piper sentence ran to its end, up to about 1.5 s of both cores, while a new request (after a barge-in, say)
//! waited for them. ONNX Runtime checks a run's terminate flag between operators, so every run of a request
//! goes through the one [`RunOptions`] held here, and [`CancelOnDrop`] sets the flag when the request's task
//! is dropped. Later runs with the same options fail at once, so the rest of the phrase is skipped too.

use super::OnnxError;
use ort::session::RunOptions;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// One request's cancellation, shared by the request's task and the thread running its synthesis.
pub struct Cancel {
    options: RunOptions,
    cancelled: AtomicBool,
}

impl Cancel {
    pub fn new() -> Result<Arc<Cancel>, OnnxError> {
        let options =
            RunOptions::new().map_err(|e| OnnxError::Run { model: "run options".into(), message: e.to_string() })?;
        Ok(Arc::new(Cancel { options, cancelled: AtomicBool::new(false) }))
    }

    /// Stops the run in progress within one operator, and every later one.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        if let Err(e) = self.options.terminate() {
            tracing::warn!(error = %e, "could not stop a synthesis in progress; it runs to the end of its phrase");
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// What every run of the request is given.
    pub fn run_options(&self) -> &RunOptions {
        &self.options
    }
}

/// Cancels when dropped: held by the async task that waits for the synthesis, so that aborting the task
/// (the client left, or the request failed) also stops the thread doing the work.
pub struct CancelOnDrop(pub Arc<Cancel>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}
