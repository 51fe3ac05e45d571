//! One client connection: events in, phrases to synthesis, audio out.
//!
//! **Plain `synthesize`:** the text is split into phrases (the first cut at a clause), each is synthesised
//! in turn and sent as soon as it is ready, while the next one is already being synthesised: one
//! `audio-start` → `audio-chunk`* → `audio-stop` cycle.
//!
//! **Streaming** (`synthesize-start`, `synthesize-chunk`*, `synthesize-stop`): each phrase goes to synthesis
//! the moment the text completes it, so audio flows while the client is still writing. The whole stream is
//! one cycle in one format, then `synthesize-stopped`. The compatibility `synthesize` inside a stream is
//! ignored.
//!
//! The reader keeps reading while audio is produced, so `describe` is answered at once, and a client that
//! leaves mid-request stops its synthesis after the phrase in progress. A client that half-closes after
//! sending the whole request still gets all its audio. Errors (unknown voice, nothing to say, events out of
//! order) are `error` events; the server then closes the connection, so no client waits forever.

use crate::engine::{Selected, SynthError, Voices, to_pcm16};
use crate::scheduler::Scheduler;
use crate::text::sanitize;
use crate::text::split::{PhraseSplitter, SplitConfig, auto_punctuate};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::task::AbortOnDropHandle;
use tracing::debug;
use wyoming_proto::Error;
use wyoming_proto::audio::AudioFormat;
use wyoming_proto::connection::{Connection, EventWriter};
use wyoming_proto::event::{AudioChunk, AudioStart, AudioStop, Event, Info, Pong, SynthesizeStopped};
use wyoming_proto::shutdown::Shutdown;

/// What every connection shares.
pub struct Context {
    pub voices: Voices,
    pub info: Info,
    /// Who synthesises now and on how many threads, over all connections (`--max-concurrent`, the cores).
    pub scheduler: Arc<Scheduler>,
    pub samples_per_chunk: usize,
    /// Seconds of silence after each phrase but the last.
    pub sentence_silence: f32,
    /// Whether streaming events are served (not `--no-streaming`).
    pub streaming: bool,
    pub split: SplitConfig,
    /// `--auto-punctuation`: marks one of which ends the last phrase of a request.
    pub auto_punctuation: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Plain,
    Streaming,
}

/// A request being synthesised: phrases go in, its task writes the audio.
struct Job {
    /// `None` once the request's text is complete.
    phrases: Option<mpsc::UnboundedSender<String>>,
    task: AbortOnDropHandle<Result<(), Error>>,
}

impl Job {
    fn spawn(ctx: &Arc<Context>, writer: EventWriter, selected: Selected, mode: Mode) -> Job {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(ctx.clone(), writer, selected, mode, rx));
        Job { phrases: Some(tx), task: AbortOnDropHandle::new(task) }
    }

    fn push(&self, phrase: String) {
        if let Some(tx) = &self.phrases {
            let _ = tx.send(phrase); // a closed channel means the job already failed; its error is reported
        }
    }

    fn close(&mut self) {
        self.phrases = None;
    }

    fn complete(&self) -> bool {
        self.phrases.is_none()
    }
}

/// Waits for the job to end (forever when there is none).
async fn finished(job: &mut Option<Job>) -> Result<(), Error> {
    match job {
        Some(j) => {
            let result = (&mut j.task).await;
            *job = None;
            result.unwrap_or_else(|e| Err(Error::request(format!("synthesis task failed: {e}"), "SynthesisError")))
        }
        None => std::future::pending().await,
    }
}

fn request_error(e: SynthError) -> Error {
    Error::request(e.to_string(), e.code())
}

fn protocol_error(message: &str) -> Error {
    Error::request(message, "ProtocolError")
}

pub async fn handle(conn: Connection, shutdown: Shutdown, ctx: Arc<Context>) -> Result<(), Error> {
    let (mut reader, writer) = conn.into_split();
    let mut stream: Option<PhraseSplitter> = None;
    let mut job: Option<Job> = None;
    loop {
        let event = tokio::select! {
            event = reader.read_event() => event?,
            result = finished(&mut job) => { result?; continue; }
            _ = shutdown.triggered(), if job.is_none() => return Ok(()),
        };
        let Some(event) = event else {
            // The client is done sending. Finish a complete request (it may be reading still); drop one
            // whose text never completed.
            if let Some(j) = job.as_mut().filter(|j| j.complete()) {
                let result = (&mut j.task).await;
                return result.unwrap_or(Ok(()));
            }
            return Ok(());
        };
        match event {
            Event::Describe(_) => writer.write_event(&Event::Info(ctx.info.clone())).await?,
            Event::Ping(ping) => {
                writer.write_event(&Event::Pong(Pong { text: ping.text, ..Default::default() })).await?
            }
            Event::Synthesize(request) => {
                if stream.is_some() || job.as_ref().is_some_and(|j| !j.complete()) {
                    continue; // the compatibility copy of a stream's text
                }
                if job.is_some() {
                    finished(&mut job).await?; // one request at a time per connection
                }
                let selected = ctx.voices.select(request.voice.as_ref()).map_err(request_error)?;
                let mut phrases = PhraseSplitter::split_all(ctx.split.clone(), &request.text);
                if let Some(last) = phrases.last_mut() {
                    *last = auto_punctuate(last, &ctx.auto_punctuation);
                }
                if !phrases.iter().any(|p| sanitize::is_speakable(&sanitize::sanitize(p))) {
                    return Err(Error::request(
                        "nothing to synthesize: the text has no words (empty, or only symbols, emoji or markup)",
                        "EmptyText",
                    ));
                }
                debug!(phrases = phrases.len(), voice = selected.voice.name(), "synthesize");
                let mut new = Job::spawn(&ctx, writer.clone(), selected, Mode::Plain);
                phrases.into_iter().for_each(|p| new.push(p));
                new.close();
                job = Some(new);
            }
            Event::SynthesizeStart(start) if ctx.streaming => {
                if stream.is_some() {
                    return Err(protocol_error("synthesize-start inside a stream (send synthesize-stop first)"));
                }
                if job.is_some() {
                    finished(&mut job).await?;
                }
                let selected = ctx.voices.select(start.voice.as_ref()).map_err(request_error)?;
                debug!(voice = selected.voice.name(), "synthesize-start");
                job = Some(Job::spawn(&ctx, writer.clone(), selected, Mode::Streaming));
                stream = Some(PhraseSplitter::new(ctx.split.clone()));
            }
            Event::SynthesizeChunk(chunk) if ctx.streaming => {
                let splitter =
                    stream.as_mut().ok_or_else(|| protocol_error("synthesize-chunk without synthesize-start"))?;
                if let Some(job) = &job {
                    splitter.push(&chunk.text).into_iter().for_each(|p| job.push(p));
                }
            }
            Event::SynthesizeStop(_) if ctx.streaming => {
                let mut splitter =
                    stream.take().ok_or_else(|| protocol_error("synthesize-stop without synthesize-start"))?;
                if let Some(job) = &mut job {
                    splitter.finish().into_iter().for_each(|p| job.push(auto_punctuate(&p, &ctx.auto_punctuation)));
                    job.close();
                }
            }
            // With --no-streaming, streaming events are ignored as wyoming-piper does; others are not ours.
            _ => {}
        }
    }
}

/// Synthesises a request's phrases in order, one phrase ahead of the audio being sent.
async fn run(
    ctx: Arc<Context>,
    writer: EventWriter,
    selected: Selected,
    mode: Mode,
    mut phrases: mpsc::UnboundedReceiver<String>,
) -> Result<(), Error> {
    let format = AudioFormat { rate: selected.voice.sample_rate(), width: 2, channels: 1 };
    let (audio_tx, mut audio_rx) = mpsc::channel::<Result<Vec<f32>, SynthError>>(1);
    let scheduler = ctx.scheduler.clone();
    let synthesis = AbortOnDropHandle::new(tokio::spawn(async move {
        while let Some(phrase) = phrases.recv().await {
            let Some(slot) = scheduler.acquire().await else { return };
            let (voice, speaker, width) = (selected.voice.clone(), selected.speaker, slot.width);
            let started = std::time::Instant::now();
            let result = tokio::task::spawn_blocking(move || {
                let _slot = slot;
                voice.synthesize(&phrase, speaker, width)
            })
            .await
            .unwrap_or_else(|e| Err(SynthError::Model(format!("synthesis failed: {e}"))));
            debug!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                ?width,
                ok = result.is_ok(),
                "phrase synthesised"
            );
            let failed = result.is_err();
            if audio_tx.send(result).await.is_err() || failed {
                return;
            }
        }
    }));
    let silence = vec![0f32; (ctx.sentence_silence * format.rate as f32) as usize];
    let mut started = false;
    let mut pending_silence = false;
    while let Some(result) = audio_rx.recv().await {
        let samples = result.map_err(request_error)?;
        if samples.is_empty() {
            continue;
        }
        if !started {
            writer.write_event(&Event::AudioStart(AudioStart::new(format))).await?;
            started = true;
        }
        if pending_silence {
            send_audio(&writer, format, &silence, ctx.samples_per_chunk).await?;
        }
        send_audio(&writer, format, &samples, ctx.samples_per_chunk).await?;
        pending_silence = !silence.is_empty();
    }
    drop(synthesis);
    match mode {
        Mode::Plain => {
            if !started {
                writer.write_event(&Event::AudioStart(AudioStart::new(format))).await?;
            }
            writer.write_event(&Event::AudioStop(AudioStop::default())).await?;
        }
        Mode::Streaming => {
            if started {
                writer.write_event(&Event::AudioStop(AudioStop::default())).await?;
            }
            writer.write_event(&Event::SynthesizeStopped(SynthesizeStopped::default())).await?;
        }
    }
    Ok(())
}

/// One phrase's audio as chunks of `samples_per_chunk` (the last one short, never spanning phrases).
async fn send_audio(writer: &EventWriter, format: AudioFormat, samples: &[f32], per_chunk: usize) -> Result<(), Error> {
    for part in samples.chunks(per_chunk.max(1)) {
        let chunk = AudioChunk::new(format, to_pcm16(part));
        writer.write_event(&Event::AudioChunk(chunk)).await?;
    }
    Ok(())
}
