//! `describe`, `info` and `select-program`: what a server offers.
//!
//! Programs, models and voices always carry all their fields, as Python writes them (Home Assistant's
//! reader raises on a missing required one); optional ones are written as `null`.

use super::Extra;
use super::serde_util::yes;
use crate::audio::AudioFormat;
use serde::{Deserialize, Serialize};

/// `describe`: asks the server for its `info`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Describe {
    #[serde(flatten)]
    pub extra: Extra,
}

/// `select-program`: picks a program by its `info` name for the rest of the connection.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SelectProgram {
    pub name: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Who made a program, model or voice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    pub name: String,
    pub url: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The fields that open every program, model and voice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    pub name: String,
    pub attribution: Attribution,
    pub installed: bool,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
}

impl Artifact {
    pub fn new(name: impl Into<String>, attribution: Attribution) -> Self {
        Artifact { name: name.into(), attribution, installed: true, description: None, version: None }
    }
}

impl Attribution {
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        Attribution { name: name.into(), url: url.into(), extra: Extra::new() }
    }
}

/// A speech-to-text model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AsrModel {
    #[serde(flatten)]
    pub artifact: Artifact,
    pub languages: Vec<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A speech-to-text program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AsrProgram {
    #[serde(flatten)]
    pub artifact: Artifact,
    pub models: Vec<AsrModel>,
    #[serde(default)]
    pub supports_transcript_streaming: bool,
    #[serde(default = "yes")]
    pub requires_external_vad: bool,
    #[serde(default = "yes")]
    pub prefers_auto_gain_enabled: bool,
    #[serde(default = "yes")]
    pub prefers_noise_reduction_enabled: bool,
    #[serde(flatten)]
    pub extra: Extra,
}

impl AsrProgram {
    /// A program with the Python defaults for the flags.
    pub fn new(artifact: Artifact, models: Vec<AsrModel>) -> Self {
        AsrProgram {
            artifact,
            models,
            supports_transcript_streaming: false,
            requires_external_vad: true,
            prefers_auto_gain_enabled: true,
            prefers_noise_reduction_enabled: true,
            extra: Extra::new(),
        }
    }
}

/// A named speaker of a multi-speaker voice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TtsVoiceSpeaker {
    pub name: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A text-to-speech voice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TtsVoice {
    #[serde(flatten)]
    pub artifact: Artifact,
    pub languages: Vec<String>,
    #[serde(default)]
    pub speakers: Option<Vec<TtsVoiceSpeaker>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A text-to-speech program.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TtsProgram {
    #[serde(flatten)]
    pub artifact: Artifact,
    pub voices: Vec<TtsVoice>,
    #[serde(default)]
    pub supports_synthesize_streaming: bool,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A model of a handle (conversation) or intent program.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LanguageModel {
    #[serde(flatten)]
    pub artifact: Artifact,
    pub languages: Vec<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Python's `HandleModel`.
pub type HandleModel = LanguageModel;
/// Python's `IntentModel`.
pub type IntentModel = LanguageModel;

/// A conversation agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HandleProgram {
    #[serde(flatten)]
    pub artifact: Artifact,
    pub models: Vec<HandleModel>,
    #[serde(default)]
    pub supports_handled_streaming: bool,
    #[serde(default)]
    pub supports_home_control: bool,
    #[serde(flatten)]
    pub extra: Extra,
}

/// An intent recogniser.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IntentProgram {
    #[serde(flatten)]
    pub artifact: Artifact,
    pub models: Vec<IntentModel>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A wake-word model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WakeModel {
    #[serde(flatten)]
    pub artifact: Artifact,
    pub languages: Vec<String>,
    #[serde(default)]
    pub phrase: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A wake-word detector.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WakeProgram {
    #[serde(flatten)]
    pub artifact: Artifact,
    pub models: Vec<WakeModel>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A microphone service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MicProgram {
    #[serde(flatten)]
    pub artifact: Artifact,
    pub mic_format: AudioFormat,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A sound output service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SndProgram {
    #[serde(flatten)]
    pub artifact: Artifact,
    pub snd_format: AudioFormat,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A voice satellite.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Satellite {
    #[serde(flatten)]
    pub artifact: Artifact,
    #[serde(default)]
    pub area: Option<String>,
    #[serde(default)]
    pub has_vad: Option<bool>,
    #[serde(default)]
    pub active_wake_words: Option<Vec<String>>,
    #[serde(default)]
    pub max_active_wake_words: Option<i64>,
    #[serde(default)]
    pub supports_trigger: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `info`: every service a server offers. All seven lists are always written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Info {
    #[serde(default)]
    pub asr: Vec<AsrProgram>,
    #[serde(default)]
    pub tts: Vec<TtsProgram>,
    #[serde(default)]
    pub handle: Vec<HandleProgram>,
    #[serde(default)]
    pub intent: Vec<IntentProgram>,
    #[serde(default)]
    pub wake: Vec<WakeProgram>,
    #[serde(default)]
    pub mic: Vec<MicProgram>,
    #[serde(default)]
    pub snd: Vec<SndProgram>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub satellite: Option<Satellite>,
    #[serde(flatten)]
    pub extra: Extra,
}
