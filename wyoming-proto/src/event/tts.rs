//! Text to speech: `synthesize` and the streaming `synthesize-start/-chunk/-stop/-stopped`.

use super::Extra;
use super::serde_util::opt_string_or_number;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Which voice to speak with. Python writes `{"name", "speaker"}` when a name is set, otherwise
/// `{"language"}`; readers ignore `language` when `name` is present.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SynthesizeVoice {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A speaker name or numeric id (both kept as text).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "opt_string_or_number")]
    pub speaker: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl SynthesizeVoice {
    pub fn named(name: impl Into<String>) -> Self {
        SynthesizeVoice { name: Some(name.into()), ..Default::default() }
    }

    fn is_empty(&self) -> bool {
        self.name.is_none() && self.speaker.is_none() && self.language.is_none() && self.extra.is_empty()
    }
}

/// `voice: null`, `voice: {}` and `voice: ""` mean "no voice" (Python raises on the first), and a bare string
/// is a voice name: clients that write `"voice": "en_US-joe-medium"` get that voice (wyoming-piper ignores it
/// and speaks with its default). Anything else is an error.
fn opt_voice<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SynthesizeVoice>, D::Error> {
    let voice = match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) if name.is_empty() => None,
        Some(Value::String(name)) => Some(SynthesizeVoice::named(name)),
        Some(other) => Some(SynthesizeVoice::deserialize(other).map_err(serde::de::Error::custom)?),
    };
    Ok(voice.filter(|v| !v.is_empty()))
}

/// `synthesize`: speak `text` (also the full-text copy sent inside a stream).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Synthesize {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "opt_voice")]
    pub voice: Option<SynthesizeVoice>,
    /// `"text"`, `"ssml"` or other values, kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Synthesize {
    pub fn new(text: impl Into<String>) -> Self {
        Synthesize { text: text.into(), ..Default::default() }
    }
}

/// `synthesize-start`: a streamed request begins.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SynthesizeStart {
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "opt_voice")]
    pub voice: Option<SynthesizeVoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `synthesize-chunk`: a raw text delta that may split words and sentences anywhere.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SynthesizeChunk {
    pub text: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `synthesize-stop`: the streamed text is complete.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SynthesizeStop {
    #[serde(flatten)]
    pub extra: Extra,
}

/// `synthesize-stopped`: follows the final audio of a stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SynthesizeStopped {
    #[serde(flatten)]
    pub extra: Extra,
}
