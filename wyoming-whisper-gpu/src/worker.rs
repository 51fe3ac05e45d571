//! The one thread that owns the model. Requests queue to it; whatever has queued up while a batch was
//! decoding goes into the next batch together, so N concurrent users cost about one decode, not N.
//! Requests whose client has gone away are dropped before decoding.

use crate::engine::{Engine, EngineError, Utterance};
use std::sync::mpsc;
use tokio::sync::oneshot;
use tracing::debug;

struct Job {
    utterance: Utterance,
    reply: oneshot::Sender<Result<String, EngineError>>,
}

/// A handle to the worker; clone it into every connection.
#[derive(Clone)]
pub struct Transcriber {
    jobs: mpsc::Sender<Job>,
}

/// The worker thread has stopped (it only stops when the engine panicked).
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

fn run(engine: Engine, queue: mpsc::Receiver<Job>, max_batch: usize) {
    let mut waiting: Option<Job> = None;
    loop {
        let first = match waiting.take() {
            Some(job) => job,
            None => match queue.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        let mut jobs = vec![first];
        while jobs.len() < max_batch {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        jobs.retain(|job| !job.reply.is_closed());
        if jobs.is_empty() {
            continue;
        }
        let batch: Vec<Utterance> = jobs.iter_mut().map(|job| std::mem::take(&mut job.utterance)).collect();
        let started = std::time::Instant::now();
        let results = engine.transcribe(&batch);
        let audio_s: f32 = batch.iter().map(|u| u.samples.len() as f32 / 16_000.0).sum();
        debug!(batch = batch.len(), audio_s, elapsed_ms = started.elapsed().as_millis() as u64, "decoded");
        for (job, result) in jobs.into_iter().zip(results) {
            let _ = job.reply.send(result);
        }
        match queue.try_recv() {
            Ok(job) => waiting = Some(job),
            // Idle, replies sent: the decode's freed buffers (about a third of this server's memory) go
            // back to the system at no latency cost.
            Err(mpsc::TryRecvError::Empty) => wyoming_proto::heap::release_freed_memory(),
            Err(mpsc::TryRecvError::Disconnected) => return,
        }
    }
}
