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
use crate::worker::{Transcriber, WorkerGone};
use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tracing::{debug, warn};
use wyoming_proto::Error;
use wyoming_proto::audio::{AudioConverter, AudioFormat, pcm_to_f32};
use wyoming_proto::connection::Connection;
use wyoming_proto::event::{Event, Info, Pong, Transcript};
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
    /// Silero VAD and the silence that triggers an early final; `None` turns the early final off.
    pub early_final: Option<(Arc<SileroModel>, EndpointConfig)>,
}

/// A decode started before `audio-stop`; dropping it withdraws the request.
struct Guess {
    task: JoinHandle<Outcome>,
}

impl Drop for Guess {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Watches an utterance for the end of speech.
struct EarlyFinal {
    model: Arc<SileroModel>,
    stream: SileroStream,
    endpointer: Endpointer,
    guess: Option<Guess>,
}

/// The utterance being received.
struct Pending {
    language: Option<String>,
    converter: AudioConverter,
    samples: Vec<f32>,
    early: Option<EarlyFinal>,
}

impl Pending {
    fn new(language: Option<String>, ctx: &Context) -> Self {
        let early = ctx.early_final.as_ref().map(|(model, config)| EarlyFinal {
            model: model.clone(),
            stream: SileroStream::new(),
            endpointer: Endpointer::new(*config),
            guess: None,
        });
        Pending { language, converter: AudioConverter::new(AudioFormat::WHISPER), samples: Vec::new(), early }
    }

    fn append(&mut self, format: AudioFormat, bytes: &[u8], ctx: &Context) -> Result<(), Error> {
        let converted =
            self.converter.convert(format, bytes).map_err(|e| Error::request(format!("audio: {e}"), "AudioError"))?;
        self.push(&converted, ctx)
    }

    fn push(&mut self, pcm: &[u8], ctx: &Context) -> Result<(), Error> {
        // 16-bit PCM from our own converter always has whole samples.
        let samples = pcm_to_f32(pcm, 2).map_err(|e| Error::request(format!("audio: {e}"), "AudioError"))?;
        if self.samples.len() + samples.len() > ctx.max_utterance_samples {
            return Err(Error::request(
                format!(
                    "utterance longer than {} s; split it or raise --max-utterance-seconds",
                    ctx.max_utterance_samples / 16_000
                ),
                "UtteranceTooLong",
            ));
        }
        self.samples.extend_from_slice(&samples);
        self.watch(&samples, ctx);
        Ok(())
    }

    /// Runs the VAD over new samples and starts or drops the guess.
    fn watch(&mut self, samples: &[f32], ctx: &Context) {
        let Some(early) = &mut self.early else { return };
        let probabilities = match early.stream.push(&early.model, samples) {
            Ok(p) => p,
            Err(e) => {
                warn!(error = %e, "VAD failed; no early final for this utterance");
                self.early = None;
                return;
            }
        };
        for probability in probabilities {
            match early.endpointer.push(probability) {
                Some(VadEvent::SpeechStarted { .. }) if early.guess.is_some() => {
                    debug!("speech resumed; dropping the early guess");
                    early.guess = None;
                }
                Some(VadEvent::TurnEnded { .. }) if early.guess.is_none() => {
                    debug!(audio_s = self.samples.len() as f32 / 16_000.0, "end of speech; decoding early");
                    let utterance = Utterance { samples: self.samples.clone(), language: self.language.clone() };
                    let transcriber = ctx.transcriber.clone();
                    early.guess =
                        Some(Guess { task: tokio::spawn(async move { transcriber.transcribe(utterance).await }) });
                }
                _ => {}
            }
        }
    }
}

pub async fn handle(mut conn: Connection, shutdown: Shutdown, ctx: Arc<Context>) -> Result<(), Error> {
    let mut language = ctx.default_language.clone();
    let mut pending = Pending::new(language.clone(), &ctx);
    let mut backlog: VecDeque<Event> = VecDeque::new();
    loop {
        let event = match backlog.pop_front() {
            Some(event) => event,
            None => {
                let read = tokio::select! {
                    event = conn.read_event() => event?,
                    // Idle between utterances: a graceful shutdown may close us.
                    _ = shutdown.triggered(), if pending.samples.is_empty() => return Ok(()),
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
                language = request.language.or_else(|| ctx.default_language.clone());
                pending.language = language.clone();
            }
            Event::AudioStart(_) => pending = Pending::new(language.clone(), &ctx),
            Event::AudioChunk(chunk) => pending.append(chunk.format, &chunk.audio, &ctx)?,
            Event::AudioStop(_) => {
                let mut done = std::mem::replace(&mut pending, Pending::new(language.clone(), &ctx));
                let tail = done.converter.finish();
                done.push(&tail, &ctx)?;
                let seconds = done.samples.len() as f32 / 16_000.0;
                let started = std::time::Instant::now();
                let guess = done.early.as_mut().and_then(|early| early.guess.take());
                let text = match guess {
                    Some(mut guess) => {
                        let early = async { (&mut guess.task).await.unwrap_or(Err(WorkerGone)) };
                        let text = wait_while_listening(&mut conn, &ctx, early, &mut backlog).await?;
                        debug!(audio_s = seconds, wait_ms = started.elapsed().as_millis() as u64, "early final");
                        text
                    }
                    None => {
                        let utterance = Utterance { samples: done.samples, language: done.language };
                        let text =
                            wait_while_listening(&mut conn, &ctx, ctx.transcriber.transcribe(utterance), &mut backlog)
                                .await?;
                        debug!(audio_s = seconds, elapsed_ms = started.elapsed().as_millis() as u64, "transcript");
                        text
                    }
                };
                conn.write_event(&Event::Transcript(Transcript::new(text))).await?;
            }
            // Anything else (select-program, other services' events, unknown types) is ignored.
            _ => {}
        }
    }
}

/// Waits for a transcript while answering `describe` and keeping other events for later.
async fn wait_while_listening(
    conn: &mut Connection,
    ctx: &Context,
    job: impl Future<Output = Outcome>,
    backlog: &mut VecDeque<Event>,
) -> Result<String, Error> {
    tokio::pin!(job);
    let mut client_open = true;
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
            event = conn.read_event(), if client_open => match event? {
                Some(Event::Describe(_)) => conn.write_event(&Event::Info(ctx.info.clone())).await?,
                Some(event) => backlog.push_back(event),
                // The client closed its side; it may still be waiting for the transcript (a half-close).
                None => client_open = false,
            },
        }
    }
}
