//! One client connection: events in, utterances to the worker, transcripts out.
//!
//! `transcribe` sets the language, `audio-start` begins an utterance, `audio-chunk`s in any format are
//! converted to 16 kHz mono as they arrive, and `audio-stop` sends the utterance to the worker and answers
//! with exactly one `transcript`. Chunks without `transcribe` or `audio-start` are fine, and a connection
//! may carry several utterances. While a transcript is being computed the session keeps reading, so a
//! `describe` on the same connection is answered at once. A client that leaves mid-utterance costs
//! nothing; one that half-closes after `audio-stop` still gets its transcript.

use crate::engine::{EngineError, Utterance};
use crate::worker::Transcriber;
use std::collections::VecDeque;
use std::sync::Arc;
use tracing::debug;
use wyoming_proto::Error;
use wyoming_proto::audio::{AudioConverter, AudioFormat, pcm_to_f32};
use wyoming_proto::connection::Connection;
use wyoming_proto::event::{Event, Info, Pong, Transcript};
use wyoming_proto::shutdown::Shutdown;

/// What every connection shares.
pub struct Context {
    pub info: Info,
    pub transcriber: Transcriber,
    /// `--language`, used when a request names none.
    pub default_language: Option<String>,
    pub max_utterance_samples: usize,
}

/// The utterance being received.
struct Pending {
    language: Option<String>,
    converter: AudioConverter,
    samples: Vec<f32>,
}

impl Pending {
    fn new(language: Option<String>) -> Self {
        Pending { language, converter: AudioConverter::new(AudioFormat::WHISPER), samples: Vec::new() }
    }

    fn append(&mut self, format: AudioFormat, bytes: &[u8], max_samples: usize) -> Result<(), Error> {
        let converted =
            self.converter.convert(format, bytes).map_err(|e| Error::request(format!("audio: {e}"), "AudioError"))?;
        self.push(&converted, max_samples)
    }

    fn push(&mut self, pcm: &[u8], max_samples: usize) -> Result<(), Error> {
        // 16-bit PCM from our own converter always has whole samples.
        let samples = pcm_to_f32(pcm, 2).map_err(|e| Error::request(format!("audio: {e}"), "AudioError"))?;
        if self.samples.len() + samples.len() > max_samples {
            return Err(Error::request(
                format!("utterance longer than {} s; split it or raise --max-utterance-seconds", max_samples / 16_000),
                "UtteranceTooLong",
            ));
        }
        self.samples.extend(samples);
        Ok(())
    }
}

pub async fn handle(mut conn: Connection, shutdown: Shutdown, ctx: Arc<Context>) -> Result<(), Error> {
    let mut language = ctx.default_language.clone();
    let mut pending = Pending::new(language.clone());
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
            Event::AudioStart(_) => pending = Pending::new(language.clone()),
            Event::AudioChunk(chunk) => pending.append(chunk.format, &chunk.audio, ctx.max_utterance_samples)?,
            Event::AudioStop(_) => {
                let mut done = std::mem::replace(&mut pending, Pending::new(language.clone()));
                let tail = done.converter.finish();
                done.push(&tail, ctx.max_utterance_samples)?;
                let utterance = Utterance { samples: done.samples, language: done.language };
                let text = transcribe_while_listening(&mut conn, &ctx, utterance, &mut backlog).await?;
                conn.write_event(&Event::Transcript(Transcript::new(text))).await?;
            }
            // Anything else (select-program, other services' events, unknown types) is ignored.
            _ => {}
        }
    }
}

/// Waits for the transcript while answering `describe` and keeping other events for later.
async fn transcribe_while_listening(
    conn: &mut Connection,
    ctx: &Context,
    utterance: Utterance,
    backlog: &mut VecDeque<Event>,
) -> Result<String, Error> {
    let seconds = utterance.samples.len() as f32 / 16_000.0;
    let started = std::time::Instant::now();
    let job = ctx.transcriber.transcribe(utterance);
    tokio::pin!(job);
    let mut client_open = true;
    loop {
        tokio::select! {
            result = &mut job => {
                let text = result
                    .map_err(|e| Error::request(e.to_string(), "WorkerStopped"))?
                    .map_err(|e| match e {
                        EngineError::UnknownLanguage(_) => Error::request(e.to_string(), "UnknownLanguage"),
                        EngineError::Inference(_) => Error::request(e.to_string(), "InferenceError"),
                    })?;
                debug!(audio_s = seconds, elapsed_ms = started.elapsed().as_millis() as u64, text = %text, "transcript");
                return Ok(text);
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
