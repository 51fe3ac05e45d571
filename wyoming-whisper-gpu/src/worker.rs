//! The one thread that owns the model. Requests queue to it; whatever has queued up while a batch was
//! decoding goes into the next batch together, so N concurrent users cost about one decode, not N.
//! Recordings over 30 s go on one window at a time, taking turns with new requests. Requests whose client has
//! gone away are dropped before decoding.

use crate::engine::{Continuation, Engine, EngineError, Progress, Utterance};
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use tokio::sync::oneshot;
use tracing::{debug, error};

struct Job {
    utterance: Utterance,
    reply: oneshot::Sender<Result<String, EngineError>>,
}

/// A handle to the worker; clone it into every connection.
#[derive(Clone)]
pub struct Transcriber {
    jobs: mpsc::Sender<Job>,
}

/// The worker thread has stopped (only when the server shuts down).
#[derive(Debug, thiserror::Error)]
#[error("the transcription worker has stopped")]
pub struct WorkerGone;

impl Transcriber {
    /// Starts the worker thread; it runs until every `Transcriber` is dropped.
    pub fn spawn(engine: Engine, max_batch: usize) -> std::io::Result<Transcriber> {
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("whisper-worker".into())
            .spawn(move || run(engine, queue, max_batch.max(1)))?;
        Ok(Transcriber { jobs })
    }

    /// Queues an utterance and waits for its text. Dropping the future withdraws the request.
    pub async fn transcribe(&self, utterance: Utterance) -> Result<Result<String, EngineError>, WorkerGone> {
        let (reply, result) = oneshot::channel();
        self.jobs.send(Job { utterance, reply }).map_err(|_| WorkerGone)?;
        result.await.map_err(|_| WorkerGone)
    }
}

/// Batches of new requests that may go before the next window of a long recording.
const BATCHES_PER_RESUME: usize = 2;

/// A final transcript whose first window is decoded and whose audio goes on.
struct Resuming {
    rest: Continuation,
    reply: oneshot::Sender<Result<String, EngineError>>,
}

fn run(engine: Engine, queue: mpsc::Receiver<Job>, max_batch: usize) {
    // Everything queued, taken from the channel at each batch boundary so that requests withdrawn meanwhile
    // (an early guess dropped when speech resumed) free their audio then, not when their turn would have come.
    let mut pending: VecDeque<Job> = VecDeque::new();
    // Long recordings, one window per turn, taking turns with new requests: a short command that arrives while
    // a 5-minute recording is decoded waits for one window, not ten.
    let mut resuming: VecDeque<Resuming> = VecDeque::new();
    let mut batches_since_resume = 0;
    loop {
        if pending.is_empty() && resuming.is_empty() {
            match queue.recv() {
                Ok(job) => pending.push_back(job),
                Err(_) => return,
            }
        }
        pending.extend(queue.try_iter());
        pending.retain(|job| !job.reply.is_closed());
        resuming.retain(|r| !r.reply.is_closed());
        // New requests first, but a long recording still gets a window after every few batches, so that a steady
        // stream of partial decodes cannot starve it.
        if !pending.is_empty() && (resuming.is_empty() || batches_since_resume < BATCHES_PER_RESUME) {
            start_batch(&engine, &mut pending, &mut resuming, max_batch);
            batches_since_resume += 1;
        } else if let Some(mut next) = resuming.pop_front() {
            batches_since_resume = 0;
            let step = std::panic::catch_unwind(AssertUnwindSafe(|| engine.resume(&mut next.rest)));
            match step.unwrap_or_else(|_| Err(EngineError::Inference("the decoder panicked".into()))) {
                Ok(Some(text)) => {
                    let _ = next.reply.send(Ok(text));
                }
                Ok(None) => resuming.push_back(next),
                Err(e) => {
                    error!("decoding a long recording failed: {e}");
                    let _ = next.reply.send(Err(e));
                }
            }
        }
        pending.extend(queue.try_iter());
        if pending.is_empty() && resuming.is_empty() {
            // Idle, replies sent: the decode's freed buffers (about a third of this server's memory) go
            // back to the system at no latency cost.
            wyoming_proto::heap::release_freed_memory();
        }
    }
}

/// Decodes the first window of up to `max_batch` waiting requests in one batch; those that go on join
/// `resuming`.
fn start_batch(engine: &Engine, pending: &mut VecDeque<Job>, resuming: &mut VecDeque<Resuming>, max_batch: usize) {
    let mut jobs: Vec<Job> = pending.drain(..pending.len().min(max_batch)).collect();
    let batch: Vec<Utterance> = jobs.iter_mut().map(|job| std::mem::take(&mut job.utterance)).collect();
    let started = std::time::Instant::now();
    // A panic in one batch fails that batch, not every request after it.
    let decode = |batch: &[Utterance]| {
        std::panic::catch_unwind(AssertUnwindSafe(|| engine.start(batch))).unwrap_or_else(|_| {
            error!(batch = batch.len(), "the decoder panicked; this batch fails, the next is decoded afresh");
            batch.iter().map(|_| Err(EngineError::Inference("the decoder panicked".into()))).collect()
        })
    };
    let mut results = decode(&batch);
    // One utterance can fail a whole batch (a GPU out of memory on another client's long recording): the
    // others are decoded again, one at a time, rather than failed with it.
    if batch.len() > 1 && results.iter().all(|r| matches!(r, Err(EngineError::Inference(_)))) {
        debug!(batch = batch.len(), "batch failed; decoding its utterances one by one");
        results = batch.iter().map(|u| decode(std::slice::from_ref(u)).remove(0)).collect();
    }
    let audio_s: f32 = batch.iter().map(|u| u.samples.len() as f32 / 16_000.0).sum();
    debug!(batch = batch.len(), audio_s, elapsed_ms = started.elapsed().as_millis() as u64, "decoded");
    for (job, result) in jobs.into_iter().zip(results) {
        match result {
            Ok(Progress::Done(text)) => {
                let _ = job.reply.send(Ok(text));
            }
            Ok(Progress::More(rest)) => resuming.push_back(Resuming { rest, reply: job.reply }),
            Err(e) => {
                let _ = job.reply.send(Err(e));
            }
        }
    }
}
