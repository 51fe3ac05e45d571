//! One client connection: events in, phrases to synthesis, audio out.
//!
//! **Plain `synthesize`:** the text is split into phrases (the first cut at a clause), each is synthesised
//! in turn and sent as soon as it is ready, while the next one is already being synthesised: one
//! `audio-start` → `audio-chunk`* → `audio-stop` cycle.
//!
//! **Streaming** (`synthesize-start`, `synthesize-chunk`*, `synthesize-stop`): each phrase goes to synthesis
//! the moment the text completes it (a `.` that ends a chunk after [`Context::stream_hold`], unless the next
//! chunk comes first), so audio flows while the client is still writing. The whole stream is
//! one cycle in one format, then `synthesize-stopped`. The compatibility `synthesize` inside a stream is
//! ignored. A `synthesize-start` inside a stream replaces it, as in wyoming-piper: the open stream's complete
//! sentences are still spoken and its unfinished text is dropped; its audio cycle ends with `audio-stop` but
//! no `synthesize-stopped`, which the client would take for the new stream's.
//!
//! The reader keeps reading while audio is produced (unless a stream's text is [`PHRASE_QUEUE`] phrases ahead of
//! synthesis), so `describe` is answered while audio flows (after a look at the data dirs for new voices, at most once
//! a second), and a client that leaves mid-stream stops its synthesis, the phrase in progress included (within one ONNX
//! Runtime operator). One that leaves after a complete request is noticed at the next audio write that fails, as a
//! half-close cannot be told from it. A client that half-closes after sending the whole request still gets all its
//! audio. Errors (unknown voice, nothing to say, events out of order, a broken frame) are `error` events; the server
//! then closes the connection, so no client waits forever. A complete request before the bad event is answered first
//! ([`fail`]).

use crate::engine::{Selected, SynthError, Voices, to_pcm16};
use crate::onnx::{Cancel, CancelOnDrop};
use crate::scheduler::Scheduler;
use crate::text::split::{PhraseSplitter, SplitConfig, ends_sentence};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::mpsc;
use tokio_util::task::AbortOnDropHandle;
use tracing::debug;
use wyoming_proto::Error;
use wyoming_proto::audio::AudioFormat;
use wyoming_proto::connection::{Busy, Connection, EventWriter};
use wyoming_proto::event::{AudioChunk, AudioStart, AudioStop, Event, Info, Pong, SynthesizeStopped};
use wyoming_proto::shutdown::Shutdown;

/// What every connection shares.
pub struct Context {
    pub voices: Voices,
    /// The program `info` names: `piper` or `luxtts`.
    pub program: &'static str,
    /// Who synthesises now and on how many threads, over all connections (`--max-concurrent`, the cores).
    pub scheduler: Arc<Scheduler>,
    pub samples_per_chunk: usize,
    /// Seconds of silence after each sentence but the last (not after a phrase cut inside one).
    pub sentence_silence: f32,
    /// Whether streaming events are served (not `--no-streaming`).
    pub streaming: bool,
    /// `--stream-hold-ms`: how long a stream's `.` at the end of a chunk waits for the next chunk, which may
    /// continue the word (`example` `.` `com`), before it ends its sentence ([`PhraseSplitter::release_held`]).
    /// LLM tokens come 10–50 ms apart, so the wait is usually ended by the next token; this bounds it when
    /// the LLM pauses.
    pub stream_hold: std::time::Duration,
    /// Where text is cut into phrases, and how lines and a request's end are punctuated.
    pub split: SplitConfig,
}

impl Context {
    /// What `describe` is answered with, built for each: voices added to a data dir since are listed, as
    /// wyoming-piper lists them (blocking: it may look at the disk).
    pub fn info(&self) -> Info {
        self.voices.refresh();
        crate::info::build_info(self.program, &self.voices, self.streaming)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Plain,
    Streaming,
}

/// Phrases queued ahead of synthesis. A stream's reader waits when the queue is full, so TCP holds back a
/// client that sends text faster than it can be spoken (an unbounded queue grew about 30 times faster than
/// the text: one `String` per two-byte line).
const PHRASE_QUEUE: usize = 32;
/// A plain request's text is split this many bytes at a time, as synthesis takes the phrases.
const SPLIT_SLICE: usize = 4096;

/// A request being synthesised: phrases go in, its task writes the audio.
struct Job {
    /// `None` once the request's text is complete.
    phrases: Option<mpsc::Sender<String>>,
    task: AbortOnDropHandle<Result<(), Error>>,
    /// A plain request's splitter, feeding `task` as synthesis goes.
    _feeder: Option<AbortOnDropHandle<()>>,
    /// The stream was replaced by a new one: it ends without `synthesize-stopped`.
    replaced: Arc<AtomicBool>,
    /// The connection is not idle while a request runs, however long a stream waits for its text.
    _busy: Busy,
}

impl Job {
    fn spawn(ctx: &Arc<Context>, writer: EventWriter, selected: Selected, mode: Mode) -> Job {
        let (tx, rx) = mpsc::channel(PHRASE_QUEUE);
        let replaced = Arc::new(AtomicBool::new(false));
        let busy = writer.activity().busy();
        let task = tokio::spawn(run(ctx.clone(), writer, selected, mode, rx, replaced.clone()));
        Job { phrases: Some(tx), task: AbortOnDropHandle::new(task), _feeder: None, replaced, _busy: busy }
    }

    /// A plain request: the whole text, split as synthesis takes the phrases (a 1 MB text used to become
    /// hundreds of thousands of queued phrases at once).
    fn spawn_plain(ctx: &Arc<Context>, writer: EventWriter, selected: Selected, text: String) -> Job {
        let mut job = Job::spawn(ctx, writer, selected, Mode::Plain);
        let Some(tx) = job.phrases.take() else { return job };
        let mut splitter = PhraseSplitter::new(ctx.split.clone());
        job._feeder = Some(AbortOnDropHandle::new(tokio::spawn(async move {
            for slice in slices(&text) {
                for phrase in splitter.push(slice) {
                    if tx.send(phrase).await.is_err() {
                        return; // the job failed and reports why
                    }
                }
            }
            if let Some(rest) = splitter.finish() {
                let _ = tx.send(rest).await;
            }
        })));
        job
    }

    /// Queues a phrase, waiting while the queue is full.
    async fn push(&self, phrase: String) {
        if let Some(tx) = &self.phrases {
            let _ = tx.send(phrase).await; // a closed channel means the job already failed; its error is reported
        }
    }

    fn close(&mut self) {
        self.phrases = None;
    }

    /// Ends a stream that a new `synthesize-start` replaces.
    fn replace(&mut self) {
        self.replaced.store(true, Ordering::SeqCst);
        self.close();
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

/// Ends the connection with `error`, but only after the audio of a complete request that came before the bad
/// event (a stream already stopped, say): what the client asked for correctly is not lost to what it sent after
/// (a second `synthesize-stop`, a late chunk, a broken frame). An unfinished stream is dropped.
async fn fail(job: &mut Option<Job>, error: Error) -> Result<(), Error> {
    if job.as_ref().is_some_and(Job::complete)
        && let Err(failed) = finished(job).await
    {
        debug!(error = %error, "the request before this error failed first");
        return Err(failed);
    }
    Err(error)
}

fn request_error(e: SynthError) -> Error {
    Error::request(e.to_string(), e.code())
}

fn protocol_error(message: &str) -> Error {
    Error::request(message, "ProtocolError")
}

/// `text` in slices of about [`SPLIT_SLICE`] bytes, so that a large text is split (and its phrases held) a
/// little at a time. Each slice ends just after whitespace where there is some nearby, so that a mark at the end
/// of a slice is judged with what follows it, as in the whole text.
fn slices(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut cut = rest.len().min(SPLIT_SLICE);
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        if let Some((at, c)) = rest[cut..].char_indices().take(1024).find(|(_, c)| c.is_whitespace()) {
            cut += at + c.len_utf8();
        }
        let (slice, tail) = rest.split_at(cut);
        rest = tail;
        Some(slice)
    })
}

/// A new request once shutdown has begun would keep the server up for the grace period, then be cut off.
fn refuse_when_shutting_down(shutdown: &Shutdown) -> Result<(), Error> {
    if shutdown.is_triggered() {
        return Err(Error::request("the server is shutting down", "ServerShuttingDown"));
    }
    Ok(())
}

pub async fn handle(conn: Connection, shutdown: Shutdown, ctx: Arc<Context>) -> Result<(), Error> {
    let (mut reader, writer) = conn.into_split();
    let mut stream: Option<PhraseSplitter> = None;
    let mut job: Option<Job> = None;
    // When a stream's held `.` ends its sentence, if no chunk comes first.
    let mut held_until: Option<tokio::time::Instant> = None;
    loop {
        let release_held = async move {
            match held_until {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let event = tokio::select! {
            // A chunk already received goes before a held `.` is released, however late this task runs.
            biased;
            result = finished(&mut job) => { result?; continue; }
            event = reader.read_event() => match event {
                Ok(event) => event,
                Err(e) => return fail(&mut job, e).await,
            },
            _ = shutdown.triggered(), if job.is_none() => return Ok(()),
            _ = release_held => {
                held_until = None;
                if let (Some(splitter), Some(job)) = (stream.as_mut(), &job) {
                    for phrase in splitter.release_held() {
                        job.push(phrase).await;
                    }
                }
                continue;
            }
        };
        let Some(event) = event else {
            // The client is done sending. Finish a complete request (it may be reading still); drop one
            // whose text never completed.
            if job.as_ref().is_some_and(Job::complete) {
                return finished(&mut job).await;
            }
            return Ok(());
        };
        match event {
            Event::Describe(_) => {
                let ctx = ctx.clone();
                let info = tokio::task::spawn_blocking(move || ctx.info())
                    .await
                    .map_err(|e| Error::request(format!("cannot list the voices: {e}"), "ServerError"))?;
                writer.write_event(&Event::Info(info)).await?
            }
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
                refuse_when_shutting_down(&shutdown)?;
                let selected = {
                    let _loading = writer.activity().busy(); // a voice loading on first use takes seconds
                    ctx.voices.select_or_load(request.voice.as_ref()).await.map_err(request_error)?
                };
                if !selected.voice.can_say(&request.text) {
                    return Err(Error::request(
                        format!(
                            "nothing to synthesize: the text has no words that voice {} can say (empty, only \
                             symbols, emoji or markup, or a script it does not speak)",
                            selected.voice.name()
                        ),
                        "EmptyText",
                    ));
                }
                debug!(chars = request.text.len(), voice = selected.voice.name(), "synthesize");
                job = Some(Job::spawn_plain(&ctx, writer.clone(), selected, request.text));
            }
            Event::SynthesizeStart(start) if ctx.streaming => {
                if let Some(mut splitter) = stream.take() {
                    held_until = None;
                    if let Some(job) = &mut job {
                        for phrase in splitter.release_held() {
                            job.push(phrase).await;
                        }
                        job.replace();
                    }
                    debug!(
                        "synthesize-start inside a stream: it replaces the open one, whose unfinished text is dropped"
                    );
                }
                if job.is_some() {
                    finished(&mut job).await?;
                }
                refuse_when_shutting_down(&shutdown)?;
                let selected = {
                    let _loading = writer.activity().busy();
                    ctx.voices.select_or_load(start.voice.as_ref()).await.map_err(request_error)?
                };
                debug!(voice = selected.voice.name(), "synthesize-start");
                job = Some(Job::spawn(&ctx, writer.clone(), selected, Mode::Streaming));
                stream = Some(PhraseSplitter::new(ctx.split.clone()));
            }
            Event::SynthesizeChunk(chunk) if ctx.streaming => {
                let Some(splitter) = stream.as_mut() else {
                    return fail(&mut job, protocol_error("synthesize-chunk without synthesize-start")).await;
                };
                if let Some(job) = &job {
                    for slice in slices(&chunk.text) {
                        for phrase in splitter.push(slice) {
                            job.push(phrase).await;
                        }
                    }
                }
                held_until = splitter.holding().then(|| tokio::time::Instant::now() + ctx.stream_hold);
            }
            Event::SynthesizeStop(_) if ctx.streaming => {
                let Some(mut splitter) = stream.take() else {
                    return fail(&mut job, protocol_error("synthesize-stop without synthesize-start")).await;
                };
                held_until = None;
                if let Some(job) = &mut job {
                    if let Some(last) = splitter.finish() {
                        job.push(last).await;
                    }
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
    mut phrases: mpsc::Receiver<String>,
    replaced: Arc<AtomicBool>,
) -> Result<(), Error> {
    let format = AudioFormat { rate: selected.voice.sample_rate(), width: 2, channels: 1 };
    // Each phrase's audio, and whether the phrase ends a sentence.
    let (audio_tx, mut audio_rx) = mpsc::channel::<(Result<Vec<f32>, SynthError>, bool)>(1);
    let scheduler = ctx.scheduler.clone();
    let cancel = Cancel::new().map_err(|e| request_error(e.into()))?;
    let synthesis = AbortOnDropHandle::new(tokio::spawn(async move {
        // Dropped with this task when the request ends early: the phrase being synthesised stops too.
        let cancel = CancelOnDrop(cancel);
        while let Some(phrase) = phrases.recv().await {
            let Some(slot) = scheduler.acquire().await else { return };
            let (voice, speaker, width, cancel) =
                (selected.voice.clone(), selected.speaker, slot.width, cancel.0.clone());
            let sentence = ends_sentence(&phrase);
            let started = std::time::Instant::now();
            let result = tokio::task::spawn_blocking(move || {
                let _slot = slot;
                voice.synthesize(&phrase, speaker, width, &cancel)
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
            if audio_tx.send((result, sentence)).await.is_err() || failed {
                return;
            }
        }
    }));
    let silence = vec![0f32; (ctx.sentence_silence * format.rate as f32) as usize];
    let mut started = false;
    let mut pending_silence = false;
    while let Some((result, sentence)) = audio_rx.recv().await {
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
        pending_silence = !silence.is_empty() && sentence;
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
            if !replaced.load(Ordering::SeqCst) {
                writer.write_event(&Event::SynthesizeStopped(SynthesizeStopped::default())).await?;
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_the_text_and_end_after_whitespace() {
        let text = "Word. ".repeat(2000) + &"é".repeat(5000);
        let parts: Vec<&str> = slices(&text).collect();
        assert_eq!(parts.concat(), text);
        assert!(parts.len() > 3);
        assert!(parts[..2].iter().all(|p| p.ends_with(' ') && p.len() <= SPLIT_SLICE + 8), "{:?}", parts[0].len());
        // Without whitespace, a slice still ends on a character boundary.
        assert!(slices(&"é".repeat(5000)).all(|p| p.chars().all(|c| c == 'é')));
        assert_eq!(slices("").count(), 0);
    }

    #[test]
    fn a_text_split_in_slices_gives_the_phrases_of_the_whole() {
        let text = "Mr. Smith went to Washington. He said: \"Hello!\" Then, he left.\n".repeat(400);
        let blocks = "Say [[ həˈloʊ. wɜːld ]] now, please. ".repeat(300) + "And [[ an open one. Bye.";
        for text in [text, blocks] {
            let mut splitter = PhraseSplitter::new(SplitConfig::default());
            let mut phrases: Vec<String> = slices(&text).flat_map(|s| splitter.push(s)).collect();
            phrases.extend(splitter.finish());
            assert_eq!(phrases, PhraseSplitter::split_all(SplitConfig::default(), &text));
        }
    }
}
