//! Typed events for the whole Wyoming 1.10.2 catalogue.
//!
//! Each data struct declares its fields in the order of the Python dataclasses, so serialising it gives
//! Python's bytes; fields Python always writes are plain or `Option` without `skip`, fields it omits when
//! unset are skipped. Every struct keeps keys it does not know in `extra` (written back after the known
//! ones), and event types we do not know stay [`Event::Unknown`] with their frame untouched, so a proxy
//! or a newer peer loses nothing. Only `audio-chunk` carries a payload; the typed form of any other event
//! drops a payload, as Python's typed classes do.
//!
//! Layout: [`info`] (describe, info, select-program), [`audio`], [`asr`], [`tts`], [`misc`] (error,
//! ping/pong, voice-started/stopped).

pub mod asr;
pub mod audio;
pub mod info;
pub mod misc;
mod serde_util;
pub mod tts;

pub use asr::*;
pub use audio::*;
pub use info::*;
pub use misc::*;
pub use tts::*;

use crate::frame::Frame;
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Keys a typed struct did not declare, kept so that nothing a peer sent is lost.
pub type Extra = Map<String, Value>;

/// A typed Wyoming event.
///
/// `Info` is much larger than the audio events, but it is sent once per connection; boxing it would
/// cost every caller a dereference for no measurable gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Describe(Describe),
    Info(Info),
    SelectProgram(SelectProgram),
    AudioStart(AudioStart),
    AudioChunk(AudioChunk),
    AudioStop(AudioStop),
    Transcribe(Transcribe),
    Transcript(Transcript),
    TranscriptStart(TranscriptStart),
    TranscriptChunk(TranscriptChunk),
    TranscriptStop(TranscriptStop),
    Synthesize(Synthesize),
    SynthesizeStart(SynthesizeStart),
    SynthesizeChunk(SynthesizeChunk),
    SynthesizeStop(SynthesizeStop),
    SynthesizeStopped(SynthesizeStopped),
    Error(ErrorEvent),
    Ping(Ping),
    Pong(Pong),
    VoiceStarted(VoiceStarted),
    VoiceStopped(VoiceStopped),
    /// A type outside the catalogue (wake, intent, satellite, timers, future types): kept as it came.
    Unknown(Frame),
}

/// The data of a known event type did not match its schema (e.g. `transcript` without `text`).
#[derive(Debug, thiserror::Error)]
#[error("invalid data for \"{event_type}\": {reason}")]
pub struct EventError {
    pub event_type: String,
    pub reason: String,
}

/// Wire names of the event types this module knows.
pub mod types {
    pub const DESCRIBE: &str = "describe";
    pub const INFO: &str = "info";
    pub const SELECT_PROGRAM: &str = "select-program";
    pub const AUDIO_START: &str = "audio-start";
    pub const AUDIO_CHUNK: &str = "audio-chunk";
    pub const AUDIO_STOP: &str = "audio-stop";
    pub const TRANSCRIBE: &str = "transcribe";
    pub const TRANSCRIPT: &str = "transcript";
    pub const TRANSCRIPT_START: &str = "transcript-start";
    pub const TRANSCRIPT_CHUNK: &str = "transcript-chunk";
    pub const TRANSCRIPT_STOP: &str = "transcript-stop";
    pub const SYNTHESIZE: &str = "synthesize";
    pub const SYNTHESIZE_START: &str = "synthesize-start";
    pub const SYNTHESIZE_CHUNK: &str = "synthesize-chunk";
    pub const SYNTHESIZE_STOP: &str = "synthesize-stop";
    pub const SYNTHESIZE_STOPPED: &str = "synthesize-stopped";
    pub const ERROR: &str = "error";
    pub const PING: &str = "ping";
    pub const PONG: &str = "pong";
    pub const VOICE_STARTED: &str = "voice-started";
    pub const VOICE_STOPPED: &str = "voice-stopped";
}

impl Event {
    /// The wire name of this event's type.
    pub fn event_type(&self) -> &str {
        use types::*;
        match self {
            Event::Describe(_) => DESCRIBE,
            Event::Info(_) => INFO,
            Event::SelectProgram(_) => SELECT_PROGRAM,
            Event::AudioStart(_) => AUDIO_START,
            Event::AudioChunk(_) => AUDIO_CHUNK,
            Event::AudioStop(_) => AUDIO_STOP,
            Event::Transcribe(_) => TRANSCRIBE,
            Event::Transcript(_) => TRANSCRIPT,
            Event::TranscriptStart(_) => TRANSCRIPT_START,
            Event::TranscriptChunk(_) => TRANSCRIPT_CHUNK,
            Event::TranscriptStop(_) => TRANSCRIPT_STOP,
            Event::Synthesize(_) => SYNTHESIZE,
            Event::SynthesizeStart(_) => SYNTHESIZE_START,
            Event::SynthesizeChunk(_) => SYNTHESIZE_CHUNK,
            Event::SynthesizeStop(_) => SYNTHESIZE_STOP,
            Event::SynthesizeStopped(_) => SYNTHESIZE_STOPPED,
            Event::Error(_) => ERROR,
            Event::Ping(_) => PING,
            Event::Pong(_) => PONG,
            Event::VoiceStarted(_) => VOICE_STARTED,
            Event::VoiceStopped(_) => VOICE_STOPPED,
            Event::Unknown(frame) => &frame.event_type,
        }
    }

    /// Parses a frame into a typed event. Unknown types never fail.
    pub fn from_frame(frame: Frame) -> Result<Event, EventError> {
        use types::*;
        let Frame { event_type, data, payload } = frame;
        let event = match event_type.as_str() {
            DESCRIBE => Event::Describe(parse(&event_type, data)?),
            INFO => Event::Info(parse(&event_type, data)?),
            SELECT_PROGRAM => Event::SelectProgram(parse(&event_type, data)?),
            AUDIO_START => Event::AudioStart(parse(&event_type, data)?),
            AUDIO_CHUNK => {
                let header: AudioChunkData = parse(&event_type, data)?;
                Event::AudioChunk(AudioChunk::from_parts(header, payload))
            }
            AUDIO_STOP => Event::AudioStop(parse(&event_type, data)?),
            TRANSCRIBE => Event::Transcribe(parse(&event_type, data)?),
            TRANSCRIPT => Event::Transcript(parse(&event_type, data)?),
            TRANSCRIPT_START => Event::TranscriptStart(parse(&event_type, data)?),
            TRANSCRIPT_CHUNK => Event::TranscriptChunk(parse(&event_type, data)?),
            TRANSCRIPT_STOP => Event::TranscriptStop(parse(&event_type, data)?),
            SYNTHESIZE => Event::Synthesize(parse(&event_type, data)?),
            SYNTHESIZE_START => Event::SynthesizeStart(parse(&event_type, data)?),
            SYNTHESIZE_CHUNK => Event::SynthesizeChunk(parse(&event_type, data)?),
            SYNTHESIZE_STOP => Event::SynthesizeStop(parse(&event_type, data)?),
            SYNTHESIZE_STOPPED => Event::SynthesizeStopped(parse(&event_type, data)?),
            ERROR => Event::Error(parse(&event_type, data)?),
            PING => Event::Ping(parse(&event_type, data)?),
            PONG => Event::Pong(parse(&event_type, data)?),
            VOICE_STARTED => Event::VoiceStarted(parse(&event_type, data)?),
            VOICE_STOPPED => Event::VoiceStopped(parse(&event_type, data)?),
            _ => Event::Unknown(Frame { event_type, data, payload }),
        };
        Ok(event)
    }

    /// The frame this event is written as.
    pub fn to_frame(&self) -> Frame {
        let frame = |data: Map<String, Value>| Frame::new(self.event_type()).with_data(data);
        match self {
            Event::Describe(d) => frame(to_map(d)),
            Event::Info(d) => frame(to_map(d)),
            Event::SelectProgram(d) => frame(to_map(d)),
            Event::AudioStart(d) => frame(to_map(d)),
            Event::AudioChunk(chunk) => frame(to_map(&chunk.data())).with_payload(chunk.audio.clone()),
            Event::AudioStop(d) => frame(to_map(d)),
            Event::Transcribe(d) => frame(to_map(d)),
            Event::Transcript(d) => frame(to_map(d)),
            Event::TranscriptStart(d) => frame(to_map(d)),
            Event::TranscriptChunk(d) => frame(to_map(d)),
            Event::TranscriptStop(d) => frame(to_map(d)),
            Event::Synthesize(d) => frame(to_map(d)),
            Event::SynthesizeStart(d) => frame(to_map(d)),
            Event::SynthesizeChunk(d) => frame(to_map(d)),
            Event::SynthesizeStop(d) => frame(to_map(d)),
            Event::SynthesizeStopped(d) => frame(to_map(d)),
            Event::Error(d) => frame(to_map(d)),
            Event::Ping(d) => frame(to_map(d)),
            Event::Pong(d) => frame(to_map(d)),
            Event::VoiceStarted(d) => frame(to_map(d)),
            Event::VoiceStopped(d) => frame(to_map(d)),
            Event::Unknown(f) => f.clone(),
        }
    }

    /// The exact bytes the Python writer would emit for this event.
    pub fn to_bytes(&self) -> Bytes {
        self.to_frame().to_bytes()
    }
}

impl TryFrom<Frame> for Event {
    type Error = EventError;

    fn try_from(frame: Frame) -> Result<Event, EventError> {
        Event::from_frame(frame)
    }
}

impl From<&Event> for Frame {
    fn from(event: &Event) -> Frame {
        event.to_frame()
    }
}

fn parse<T: DeserializeOwned>(event_type: &str, data: Map<String, Value>) -> Result<T, EventError> {
    serde_json::from_value(Value::Object(data))
        .map_err(|e| EventError { event_type: event_type.to_string(), reason: e.to_string() })
}

fn to_map<T: Serialize>(data: &T) -> Map<String, Value> {
    // Our data structs hold only strings, integers, booleans and JSON values: always representable.
    match serde_json::to_value(data).expect("event data always serialises to JSON") {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

macro_rules! impl_from_data {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        $(impl From<$ty> for Event {
            fn from(data: $ty) -> Event {
                Event::$variant(data)
            }
        })*
    };
}

impl_from_data!(
    Describe(Describe),
    Info(Info),
    SelectProgram(SelectProgram),
    AudioStart(AudioStart),
    AudioChunk(AudioChunk),
    AudioStop(AudioStop),
    Transcribe(Transcribe),
    Transcript(Transcript),
    TranscriptStart(TranscriptStart),
    TranscriptChunk(TranscriptChunk),
    TranscriptStop(TranscriptStop),
    Synthesize(Synthesize),
    SynthesizeStart(SynthesizeStart),
    SynthesizeChunk(SynthesizeChunk),
    SynthesizeStop(SynthesizeStop),
    SynthesizeStopped(SynthesizeStopped),
    Error(ErrorEvent),
    Ping(Ping),
    Pong(Pong),
    VoiceStarted(VoiceStarted),
    VoiceStopped(VoiceStopped),
);
