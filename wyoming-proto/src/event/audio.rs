//! `audio-start`, `audio-chunk` and `audio-stop`. Every chunk carries its own format.

use super::Extra;
use super::serde_util::opt_timestamp;
use crate::audio::AudioFormat;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// `audio-start`: a stream of chunks begins. `timestamp` (ms) is always written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioStart {
    #[serde(flatten)]
    pub format: AudioFormat,
    #[serde(default, deserialize_with = "opt_timestamp")]
    pub timestamp: Option<i64>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl AudioStart {
    pub fn new(format: AudioFormat) -> Self {
        AudioStart { format, timestamp: None, extra: Extra::new() }
    }
}

/// `audio-chunk`: raw little-endian PCM in `audio` (the payload), described by `format`.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioChunk {
    pub format: AudioFormat,
    pub timestamp: Option<i64>,
    pub audio: Bytes,
    pub extra: Extra,
}

/// The data object of an `audio-chunk` (everything but the payload).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioChunkData {
    #[serde(flatten)]
    pub format: AudioFormat,
    #[serde(default, deserialize_with = "opt_timestamp")]
    pub timestamp: Option<i64>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl AudioChunk {
    pub fn new(format: AudioFormat, audio: impl Into<Bytes>) -> Self {
        AudioChunk { format, timestamp: None, audio: audio.into(), extra: Extra::new() }
    }

    pub(crate) fn from_parts(data: AudioChunkData, audio: Bytes) -> Self {
        AudioChunk { format: data.format, timestamp: data.timestamp, audio, extra: data.extra }
    }

    pub(crate) fn data(&self) -> AudioChunkData {
        AudioChunkData { format: self.format, timestamp: self.timestamp, extra: self.extra.clone() }
    }
}

/// `audio-stop`: the stream ended. `timestamp` is always written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AudioStop {
    #[serde(default, deserialize_with = "opt_timestamp")]
    pub timestamp: Option<i64>,
    #[serde(flatten)]
    pub extra: Extra,
}
