//! Speech to text: `transcribe`, `transcript` and the streaming `transcript-start/-chunk/-stop`.

use super::Extra;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `transcribe`: options for the next utterance. Every field is optional and omitted when unset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Transcribe {
    /// Model name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    // A number is taken as text rather than refused at the protocol level, as wyoming-faster-whisper does; the
    // server then judges it as a language name.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::serde_util::opt_string_or_number"
    )]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// `"default"`, `"relaxed"` or `"aggressive"`; other values are kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vad_sensitivity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript_names: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript_terms: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `transcript`: the final text of an utterance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Transcript {
    pub fn new(text: impl Into<String>) -> Self {
        Transcript { text: text.into(), ..Default::default() }
    }
}

/// `transcript-start`: partial transcripts follow.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TranscriptStart {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `transcript-chunk`: a delta of the transcript, not the text so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TranscriptChunk {
    pub text: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `transcript-stop`: the streamed transcript is complete.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TranscriptStop {
    #[serde(flatten)]
    pub extra: Extra,
}
