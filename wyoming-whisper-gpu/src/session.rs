//! One client connection: events in, utterances to the worker, transcripts out.
//!
//! `transcribe` sets the language, `audio-start` begins an utterance, `audio-chunk`s in any format are
//! converted to 16 kHz mono as they arrive, and `audio-stop` sends the utterance to the worker and answers
//! with exactly one `transcript`. Chunks without `transcribe` or `audio-start` are fine, and a connection
//! may carry several utterances. While a transcript is being computed the session keeps reading, so a
//! `describe` on the same connection is answered at once. A client that leaves mid-utterance costs
//! nothing; one that half-closes after `audio-stop` still gets its transcript.
//!
//! **Early final.** With Silero VAD loaded, the session watches the audio as it arrives. When speech has
//! been followed by `--early-final-ms` of silence, everything received so far goes to the worker at once,
//! as a guess. If `audio-stop` comes with no new speech, the guess is the transcript, usually already
//! decoded while the client was still sending its trailing silence. If speech resumes, the guess is
//! dropped (and withdrawn from the worker's queue), so the transcript always covers all the speech sent.

use crate::engine::{EngineError, Utterance};
use crate::partial::PartialTranscript;
use crate::worker::{Transcriber, WorkerGone};
use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use tokio::runtime::RuntimeFlavor;
use tokio::task::JoinHandle;
use tracing::{debug, warn};
use wyoming_proto::Error;
use wyoming_proto::audio::{AudioConverter, AudioFormat, pcm_to_f32};
use wyoming_proto::connection::Connection;
use wyoming_proto::event::{Event, Info, Pong, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop};
use wyoming_proto::shutdown::Shutdown;
use wyoming_proto::vad::silero::{SileroModel, SileroStream};
use wyoming_proto::vad::{EndpointConfig, Endpointer, VadEvent};

type Outcome = Result<Result<String, EngineError>, WorkerGone>;

/// What every connection shares.
pub struct Context {
    pub info: Info,
    pub transcriber: Transcriber,
    /// `--language`, used when a request names none.
    pub default_language: Option<String>,
    pub max_utterance_samples: usize,
    /// Silero VAD; `None` when neither the early final nor endpointing is on.
    pub vad: Option<Arc<SileroModel>>,
    /// The silence that triggers an early final, if on.
    pub early_final: Option<EndpointConfig>,
    /// `--vad-endpointing`: the silence after which the transcript is sent without waiting for
    /// `audio-stop`, if on.
    pub endpointing: Option<EndpointConfig>,
    /// `--partial-transcripts`: new audio, in samples, after which the utterance so far is decoded again.
    pub partial_interval: Option<usize>,
}

/// Partial transcripts of the utterance being received.
struct Partials {
    stabilizer: PartialTranscript,
    /// The decode in flight; at most one per connection, so partials never crowd out finals.
    task: Option<Guess>,
    /// Samples covered by the last partial decode started.
    decoded_until: usize,
    /// Whether `transcript-start` has been sent.
    started: bool,
}

impl Partials {
    async fn next(&mut self) -> Outcome {
        match &mut self.task {
            Some(guess) => {
                let outcome = (&mut guess.task).await.unwrap_or(Err(WorkerGone));
                self.task = None;
                outcome
            }
            None => std::future::pending().await,
        }
    }

    /// Sends `transcript-start` once, then `delta` (if any) as a `transcript-chunk`.
    async fn send(&mut self, conn: &mut Connection, delta: Option<String>) -> Result<(), Error> {
        if !self.started {
            self.started = true;
            conn.write_event(&Event::TranscriptStart(TranscriptStart::default())).await?;
        }
        if let Some(text) = delta {
            conn.write_event(&Event::TranscriptChunk(TranscriptChunk { text, ..Default::default() })).await?;
        }
        Ok(())
    }
}

/// Shortest command `--vad-endpointing` answers, as in wyoming-faster-whisper.
const MIN_COMMAND_SAMPLES: usize = 16_000;
/// Speech a command needs before its end counts (wyoming-faster-whisper's segmenter: 0.3 s), so that a
/// single loud window followed by a pause does not end it.
const MIN_SPEECH_SAMPLES: usize = 4_800;

#[derive(Debug, PartialEq, Eq)]
enum CommandEnd {
    /// Long enough, and silent long enough: answer now.
    Command,
    /// Too little speech to be a command: forget it.
    Blip,
    /// Speech enough, but the command is still shorter than [`MIN_COMMAND_SAMPLES`]: keep listening.
    Wait,
}

/// `--vad-endpointing` over one utterance.
struct Endpointing {
    endpointer: Endpointer,
    /// Where the command's speech started.
    started: Option<usize>,
    /// A command whose speech ended before it was [`MIN_COMMAND_SAMPLES`] long is answered when the audio reaches
    /// this point still silent (the endpointer reports a turn's end only once).
    answer_at: Option<usize>,
}

impl Endpointing {
    fn new(config: EndpointConfig) -> Self {
        Endpointing { endpointer: Endpointer::new(config), started: None, answer_at: None }
    }

    /// Feeds the next VAD window; true once the command has ended.
    fn push(&mut self, probability: f32) -> bool {
        match self.endpointer.push(probability) {
            Some(VadEvent::SpeechStarted { at }) => {
                self.started.get_or_insert(at);
                self.answer_at = None;
            }
            Some(VadEvent::TurnEnded { speech_end, at }) => {
                match self.started.map(|s| command_end(s, speech_end, at)) {
                    Some(CommandEnd::Command) => return true,
                    // A click or a cough: the next speech starts the command afresh.
                    Some(CommandEnd::Blip) => self.started = None,
                    Some(CommandEnd::Wait) => self.answer_at = self.started.map(|s| s + MIN_COMMAND_SAMPLES),
                    None => {}
                }
            }
            None => {}
        }
        !self.endpointer.in_speech() && self.answer_at.is_some_and(|at| self.endpointer.position() >= at)
    }
}

/// What the end of a turn means for `--vad-endpointing`: speech from `start` to `speech_end`, silent until `at`
/// (samples at 16 kHz).
fn command_end(start: usize, speech_end: usize, at: usize) -> CommandEnd {
    if speech_end.saturating_sub(start) < MIN_SPEECH_SAMPLES {
        CommandEnd::Blip
    } else if at.saturating_sub(start) >= MIN_COMMAND_SAMPLES {
        CommandEnd::Command
    } else {
        CommandEnd::Wait
    }
}
/// Audio in one event, once at 16 kHz, above which converting it and running the VAD leave the async worker
/// thread (2 s; Home Assistant sends 10–100 ms chunks). Judged on the output: 64 KB at 1 kHz, 8-bit is a minute.
const LARGE_CHUNK_SAMPLES: u64 = 32_000;

/// Whether converting and watching `bytes` of `format` is enough work to move off the async worker thread.
fn is_large(format: AudioFormat, bytes: usize) -> bool {
    let frames = format.frames(bytes) as u64;
    let samples = if format.rate == 0 { 0 } else { frames.saturating_mul(16_000) / u64::from(format.rate) };
    samples > LARGE_CHUNK_SAMPLES || bytes > 256 * 1024
}
/// Events read ahead while a transcript is decoded, in payload bytes (about 8 minutes of 16 kHz audio).
const MAX_BACKLOG_BYTES: usize = 16 * 1024 * 1024;

/// A decode started before `audio-stop` (an early final or a partial); dropping it withdraws the request.
struct Guess {
    task: JoinHandle<Outcome>,
}

impl Guess {
    /// Queues everything received so far for decoding, in the background: as a partial transcript, or as
    /// the final one (an early final, which is sent if no more speech comes).
    fn start(ctx: &Context, samples: &[f32], language: &Option<String>, partial: bool) -> Guess {
        let utterance = Utterance { samples: samples.to_vec(), language: language.clone(), partial };
        let transcriber = ctx.transcriber.clone();
        Guess { task: tokio::spawn(async move { transcriber.transcribe(utterance).await }) }
    }
}

impl Drop for Guess {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Watches an utterance with Silero VAD.
struct VadWatch {
    model: Arc<SileroModel>,
    stream: SileroStream,
    early: Option<Endpointer>,
    guess: Option<Guess>,
    /// `--vad-endpointing`.
    endpoint: Option<Endpointing>,
}

/// The utterance being received.
struct Pending {
    language: Option<String>,
    converter: AudioConverter,
    samples: Vec<f32>,
    vad: Option<VadWatch>,
    /// `--vad-endpointing` found the end of the command: send the transcript now.
    endpoint_reached: bool,
    partials: Option<Partials>,
}

fn too_long(ctx: &Context) -> Error {
    Error::request(
        format!(
            "utterance longer than {} s; split it or raise --max-utterance-seconds",
            ctx.max_utterance_samples / 16_000
        ),
        "UtteranceTooLong",
    )
}

impl Pending {
    fn new(language: Option<String>, ctx: &Context) -> Self {
        let vad = ctx.vad.as_ref().map(|model| VadWatch {
            model: model.clone(),
            stream: SileroStream::new(),
            early: ctx.early_final.map(Endpointer::new),
            guess: None,
            endpoint: ctx.endpointing.map(Endpointing::new),
        });
        Pending {
            language,
            converter: AudioConverter::new(AudioFormat::WHISPER),
            samples: Vec::new(),
            vad,
            endpoint_reached: false,
            partials: ctx.partial_interval.map(|_| Partials {
                stabilizer: PartialTranscript::default(),
                task: None,
                decoded_until: 0,
                started: false,
            }),
        }
    }

    /// Starts a partial decode when enough new audio has arrived and none is running. None starts while an early
    /// final is pending: speech has ended, and a partial would only hold the final up behind it in the queue.
    fn maybe_decode_partial(&mut self, ctx: &Context) {
        let (Some(partials), Some(interval)) = (&mut self.partials, ctx.partial_interval) else { return };
        let early_final_pending = self.vad.as_ref().is_some_and(|vad| vad.guess.is_some());
        if partials.task.is_none() && !early_final_pending && self.samples.len() >= partials.decoded_until + interval {
            partials.decoded_until = self.samples.len();
            partials.task = Some(Guess::start(ctx, &self.samples, &self.language, true));
        }
    }

    fn append(&mut self, format: AudioFormat, bytes: &[u8], ctx: &Context) -> Result<(), Error> {
        // Refused before converting: a 1 kHz, 8-bit chunk grows 64-fold on its way to 16 kHz float samples, and
        // one maximal frame used to cost 630 MB and seconds of CPU before it was turned down.
        if format.rate > 0 {
            let frames = format.frames(bytes.len()) as u64;
            let expected =
                usize::try_from(frames.saturating_mul(16_000) / u64::from(format.rate)).unwrap_or(usize::MAX);
            if self.samples.len().saturating_add(expected) > ctx.max_utterance_samples {
                return Err(too_long(ctx));
            }
        }
        let converted =
            self.converter.convert(format, bytes).map_err(|e| Error::request(format!("audio: {e}"), "AudioError"))?;
        self.push(&converted, ctx)
    }

    fn push(&mut self, pcm: &[u8], ctx: &Context) -> Result<(), Error> {
        // 16-bit PCM from our own converter always has whole samples.
        let samples = pcm_to_f32(pcm, 2).map_err(|e| Error::request(format!("audio: {e}"), "AudioError"))?;
        if self.samples.len() + samples.len() > ctx.max_utterance_samples {
            return Err(too_long(ctx));
        }
        self.samples.extend_from_slice(&samples);
        self.watch(&samples, ctx);
        Ok(())
    }

    /// Runs the VAD over new samples: starts or drops the early guess, notices the end of a command.
    fn watch(&mut self, samples: &[f32], ctx: &Context) {
        let Some(vad) = &mut self.vad else { return };
        let probabilities = match vad.stream.push(&vad.model, samples) {
            Ok(p) => p,
            Err(e) => {
                warn!(error = %e, "VAD failed; no early final or endpointing for this utterance");
                self.vad = None;
                return;
            }
        };
        // The guess is decided once per chunk, on how the chunk ends: a whole recording with many pauses sent
        // as one event used to start (and copy all the audio for) one guess per pause.
        let (mut resumed, mut ended) = (false, false);
        for probability in probabilities {
            match vad.early.as_mut().and_then(|e| e.push(probability)) {
                Some(VadEvent::SpeechStarted { .. }) => (resumed, ended) = (true, false),
                Some(VadEvent::TurnEnded { .. }) => ended = true,
                None => {}
            }
            if let Some(endpoint) = &mut vad.endpoint
                && endpoint.push(probability)
            {
                self.endpoint_reached = true;
            }
        }
        if resumed && vad.guess.is_some() {
            debug!("speech resumed; dropping the early guess");
            vad.guess = None;
        }
        if ended && vad.guess.is_none() {
            debug!(audio_s = self.samples.len() as f32 / 16_000.0, "end of speech; decoding early");
            vad.guess = Some(Guess::start(ctx, &self.samples, &self.language, false));
            // A partial still waiting in the queue would be decoded first; the early final matters more.
            if let Some(partials) = &mut self.partials {
                partials.task = None;
            }
        }
    }

    /// The transcript of everything received: the early guess when one is still valid, otherwise a
    /// fresh decode. Answers `describe` meanwhile.
    async fn transcribe(
        mut self,
        conn: &mut Connection,
        ctx: &Context,
        backlog: &mut Backlog,
    ) -> Result<String, Error> {
        let seconds = self.samples.len() as f32 / 16_000.0;
        let started = std::time::Instant::now();
        // A long decode sends nothing, but the connection is not idle (see `ServerConfig::evict_idle_after`).
        let _busy = conn.activity().busy();
        let guess = self.vad.as_mut().and_then(|vad| vad.guess.take());
        let early = guess.is_some();
        // Whether the early guess was already decoded when audio-stop came: the point of the early final.
        let ready = guess.as_ref().is_some_and(|g| g.task.is_finished());
        let text = match guess {
            Some(mut guess) => {
                let early = async { (&mut guess.task).await.unwrap_or(Err(WorkerGone)) };
                match wait_while_listening(conn, ctx, early, backlog).await {
                    // A guess that failed in the decoder is not the last word: decode everything afresh.
                    Err(Error::Request { code, .. }) if code == "InferenceError" => {
                        debug!("the early guess failed; decoding again");
                        let utterance = Utterance { samples: self.samples, language: self.language, partial: false };
                        wait_while_listening(conn, ctx, ctx.transcriber.transcribe(utterance), backlog).await?
                    }
                    other => other?,
                }
            }
            None => {
                let utterance = Utterance { samples: self.samples, language: self.language, partial: false };
                wait_while_listening(conn, ctx, ctx.transcriber.transcribe(utterance), backlog).await?
            }
        };
        let wait_ms = started.elapsed().as_millis() as u64;
        if early {
            debug!(audio_s = seconds, wait_ms, ready, "transcript from the early final");
        } else {
            debug!(audio_s = seconds, wait_ms, "transcript");
        }
        Ok(text)
    }
}

pub async fn handle(mut conn: Connection, shutdown: Shutdown, ctx: Arc<Context>) -> Result<(), Error> {
    let mut language = ctx.default_language.clone();
    let mut pending = Pending::new(language.clone(), &ctx);
    // After `--vad-endpointing` has answered: chunks are ignored until `audio-stop`, which closes.
    let mut answered = false;
    let mut backlog = Backlog::new();
    loop {
        let event = match backlog.pop_front() {
            Some(event) => event?,
            None => {
                let partials_running = pending.partials.as_ref().is_some_and(|p| p.task.is_some());
                let read = tokio::select! {
                    event = conn.read_event() => event?,
                    // Idle between utterances: a graceful shutdown may close us.
                    _ = shutdown.triggered(), if pending.samples.is_empty() => return Ok(()),
                    outcome = next_partial(&mut pending.partials), if partials_running => {
                        if let Some(partials) = pending.partials.as_mut() {
                            match outcome {
                                Ok(Ok(text)) => {
                                    debug!(hypothesis = text, "partial decode");
                                    let delta = partials.stabilizer.update(&text);
                                    partials.send(&mut conn, delta).await?;
                                }
                                other => debug!(?other, "partial decode failed; the final one decides"),
                            }
                        }
                        continue;
                    }
                };
                match read {
                    Some(event) => event,
                    None => return Ok(()),
                }
            }
        };
        match event {
            Event::Describe(_) => conn.write_event(&Event::Info(ctx.info.clone())).await?,
            Event::Ping(ping) => conn.write_event(&Event::Pong(Pong { text: ping.text, ..Default::default() })).await?,
            Event::Transcribe(request) => {
                // An empty language means none, as in wyoming-faster-whisper (`language or default`).
                language = request.language.filter(|l| !l.is_empty()).or_else(|| ctx.default_language.clone());
                if pending.language != language {
                    // Decodes started in the old language are no longer what was asked for.
                    if let Some(vad) = &mut pending.vad {
                        vad.guess = None;
                    }
                    if let Some(partials) = &mut pending.partials {
                        partials.task = None;
                    }
                }
                pending.language = language.clone();
            }
            Event::AudioStart(_) => {
                let abandoned = std::mem::replace(&mut pending, Pending::new(language.clone(), &ctx));
                if abandoned.partials.is_some_and(|p| p.started) {
                    // The abandoned utterance gets no transcript, but its stream is closed: a client reading
                    // until `transcript-stop` would otherwise take the next utterance's events for this one's.
                    conn.write_event(&Event::TranscriptStop(TranscriptStop::default())).await?;
                }
                answered = false;
            }
            Event::AudioChunk(_) if answered => {}
            Event::AudioChunk(chunk) => {
                // Resampling and the VAD are CPU work: for a large chunk (a whole recording in one event), let
                // this runtime thread's other connections move elsewhere while it runs.
                let large = is_large(chunk.format, chunk.audio.len());
                if large && tokio::runtime::Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread {
                    tokio::task::block_in_place(|| pending.append(chunk.format, &chunk.audio, &ctx))?;
                } else {
                    pending.append(chunk.format, &chunk.audio, &ctx)?;
                }
                if pending.endpoint_reached {
                    let mut done = std::mem::replace(&mut pending, Pending::new(language.clone(), &ctx));
                    let mut partials = done.partials.take();
                    if let Some(partials) = &mut partials {
                        partials.task = None;
                    }
                    let text = done.transcribe(&mut conn, &ctx, &mut backlog).await?;
                    debug!("end of command found by --vad-endpointing; transcript sent before audio-stop");
                    send_final(&mut conn, partials, text).await?;
                    answered = true;
                } else {
                    pending.maybe_decode_partial(&ctx);
                }
            }
            Event::AudioStop(_) if answered => return Ok(()),
            Event::AudioStop(_) => {
                let mut done = std::mem::replace(&mut pending, Pending::new(language.clone(), &ctx));
                let tail = done.converter.finish();
                // The resampler's last few samples never turn an accepted utterance into a refused one.
                let room = ctx.max_utterance_samples.saturating_sub(done.samples.len()) * 2;
                done.push(&tail[..tail.len().min(room)], &ctx)?;
                let mut partials = done.partials.take();
                if let Some(partials) = &mut partials {
                    partials.task = None; // withdraw a partial decode still queued: the final one matters now
                }
                let text = done.transcribe(&mut conn, &ctx, &mut backlog).await?;
                send_final(&mut conn, partials, text).await?;
            }
            // Anything else (select-program, other services' events, unknown types) is ignored.
            _ => {}
        }
    }
}

async fn next_partial(partials: &mut Option<Partials>) -> Outcome {
    match partials {
        Some(partials) => partials.next().await,
        None => std::future::pending().await,
    }
}

/// Sends the final transcript: with partials on, the last `transcript-chunk` first, then `transcript`
/// (for clients that ignore the stream), then `transcript-stop`.
async fn send_final(conn: &mut Connection, partials: Option<Partials>, text: String) -> Result<(), Error> {
    let Some(mut partials) = partials else {
        return conn.write_event(&Event::Transcript(Transcript::new(text))).await;
    };
    let delta = partials.stabilizer.finish(&text);
    partials.send(conn, delta).await?;
    conn.write_event(&Event::Transcript(Transcript::new(text))).await?;
    conn.write_event(&Event::TranscriptStop(TranscriptStop::default())).await
}

/// What a queued event holds, for the read-ahead cap: its audio, or its data (a `transcribe` may carry up to
/// the frame limit of unknown keys).
fn backlog_size(event: &Result<Event, Error>) -> usize {
    match event {
        Ok(Event::AudioChunk(chunk)) => chunk.audio.len().max(64),
        Ok(Event::Transcribe(t)) => serde_json::to_vec(t).map_or(64, |v| v.len().max(64)),
        _ => 64,
    }
}

/// What the client sent while a transcript was being decoded, in order, for the session to act on next; a read
/// error is kept in its place, so it ends the connection only after the events before it.
type Backlog = VecDeque<Result<Event, Error>>;

/// Waits for a transcript while answering `describe` and keeping other events for later.
async fn wait_while_listening(
    conn: &mut Connection,
    ctx: &Context,
    job: impl Future<Output = Outcome>,
    backlog: &mut Backlog,
) -> Result<String, Error> {
    tokio::pin!(job);
    // Not after a read error already queued (a decode retried after an early guess, say): the stream is broken.
    let mut client_open = !backlog.iter().any(Result::is_err);
    let mut backlog_bytes: usize = backlog.iter().map(backlog_size).sum();
    loop {
        tokio::select! {
            result = &mut job => {
                return result
                    .map_err(|e| Error::request(e.to_string(), "WorkerStopped"))?
                    .map_err(|e| match e {
                        EngineError::UnknownLanguage(_) => Error::request(e.to_string(), "UnknownLanguage"),
                        EngineError::Inference(_) => Error::request(e.to_string(), "InferenceError"),
                    });
            }
            // While the backlog is full the client is not read, so TCP holds it back, as the Python server's
            // awaited transcription does; an unbounded backlog grew at network speed during a long decode.
            event = conn.read_event(), if client_open && backlog_bytes < MAX_BACKLOG_BYTES => match event {
                // A broken frame ends the connection, but after the transcript the client is owed: the error
                // waits its turn, and nothing more is read.
                Err(e) => {
                    backlog.push_back(Err(e));
                    client_open = false;
                }
                Ok(Some(Event::Describe(_))) => conn.write_event(&Event::Info(ctx.info.clone())).await?,
                Ok(Some(Event::Ping(ping))) => {
                    conn.write_event(&Event::Pong(Pong { text: ping.text, ..Default::default() })).await?
                }
                // What the session acts on waits for its turn; anything else would be ignored then, so it is
                // dropped now rather than held (an unknown event can carry megabytes).
                Ok(Some(
                    event @ (Event::Transcribe(_) | Event::AudioStart(_) | Event::AudioChunk(_) | Event::AudioStop(_)),
                )) => {
                    let event = Ok(event);
                    backlog_bytes += backlog_size(&event);
                    backlog.push_back(event);
                }
                Ok(Some(_)) => {}
                // The client closed its side; it may still be waiting for the transcript (a half-close).
                Ok(None) => client_open = false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blip_before_a_pause_is_not_a_command() {
        // 32 ms of "speech" and a second of silence: forgotten, not answered.
        assert_eq!(command_end(0, 512, 16_512), CommandEnd::Blip);
        // Half a second of speech, silent until 1.1 s: a command.
        assert_eq!(command_end(0, 8_000, 17_600), CommandEnd::Command);
        // Enough speech, but silent only until 0.8 s: keep listening, as wyoming-faster-whisper does.
        assert_eq!(command_end(0, 8_000, 12_800), CommandEnd::Wait);
    }

    #[test]
    fn large_chunks_are_judged_by_the_audio_they_make() {
        let whisper = AudioFormat::WHISPER;
        assert!(!is_large(whisper, 3_200), "100 ms at 16 kHz");
        assert!(is_large(whisper, 96_000), "3 s at 16 kHz");
        assert!(is_large(AudioFormat { rate: 1_000, width: 1, channels: 1 }, 65_536), "65 s at 1 kHz, 8-bit");
        assert!(!is_large(AudioFormat { rate: 48_000, width: 2, channels: 2 }, 19_200), "100 ms of 48 kHz stereo");
        assert!(!is_large(AudioFormat { rate: 0, width: 2, channels: 1 }, 1_000));
    }

    /// Feeds windows of `speech` then silence; the sample position at which the command is answered.
    fn answered_at(speech_windows: usize, config: EndpointConfig) -> Option<usize> {
        let mut endpoint = Endpointing::new(config);
        let probabilities = std::iter::repeat_n(0.9, speech_windows).chain(std::iter::repeat_n(0.0, 200));
        for (i, p) in probabilities.enumerate() {
            if endpoint.push(p) {
                return Some((i + 1) * 512);
            }
        }
        None
    }

    #[test]
    fn a_short_command_is_answered_once_a_second_has_passed() {
        let config = EndpointConfig { threshold: 0.5, silence_ms: 500 };
        // "Yes": 0.38 s of speech, its 0.5 s of silence over at 0.88 s. Answered when a second is reached, not
        // never (the endpointer reports the end only once).
        let at = answered_at(12, config).expect("the short command was never answered");
        assert!((16_000..16_000 + 512).contains(&at), "{at}");
        // A longer command: at the end of its silence.
        assert_eq!(answered_at(40, config), Some(40 * 512 + 16 * 512));
        // A blip alone is never a command.
        assert_eq!(answered_at(2, config), None);
    }
}
