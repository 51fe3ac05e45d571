//! What the server needs from a TTS engine, and the registry of loaded voices.
//!
//! A [`Voice`] turns one phrase into float samples at its own rate; the session does the splitting,
//! streaming and PCM conversion. Both engines (Piper, LuxTTS) implement it, so the server is one code path.

use crate::onnx::{Cancel, OnnxError, Width};
use crate::text::espeak::EspeakError;
use crate::text::sanitize;
use std::sync::Arc;
use wyoming_proto::event::{SynthesizeVoice, TtsVoice};

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("unknown voice {name:?}; this server has: {available}")]
    UnknownVoice { name: String, available: String },
    #[error("voice {voice:?} has no speaker {speaker:?}; it has: {available}")]
    UnknownSpeaker { voice: String, speaker: String, available: String },
    #[error("phonemizer: {0}")]
    Espeak(#[from] EspeakError),
    #[error(transparent)]
    Onnx(#[from] OnnxError),
    #[error("{0}")]
    Model(String),
    /// The request was dropped (its client left) and its runs stopped.
    #[error("synthesis cancelled")]
    Cancelled,
}

impl SynthError {
    /// The `code` of the `error` event a client gets.
    pub fn code(&self) -> &'static str {
        match self {
            SynthError::UnknownVoice { .. } => "UnknownVoice",
            SynthError::UnknownSpeaker { .. } => "UnknownSpeaker",
            SynthError::Espeak(_) => "PhonemizerError",
            SynthError::Onnx(_) | SynthError::Model(_) => "SynthesisError",
            SynthError::Cancelled => "Cancelled",
        }
    }

    /// A run that failed because it was told to stop is [`SynthError::Cancelled`], not a model error.
    pub fn unless_cancelled(self, cancel: &Cancel) -> SynthError {
        if cancel.is_cancelled() { SynthError::Cancelled } else { self }
    }
}

/// One voice a client can ask for by name.
pub trait Voice: Send + Sync {
    fn name(&self) -> &str;
    /// Output rate of [`Voice::synthesize`].
    fn sample_rate(&self) -> u32;
    /// The voice as `info` advertises it.
    fn describe(&self) -> TtsVoice;
    /// Resolves a speaker name or number to the model's id; `None` is the voice's default speaker.
    fn speaker(&self, speaker: Option<&str>) -> Result<Option<i64>, SynthError>;
    /// Whether `text` holds anything this voice can say: a request without it is an error, not silence.
    fn can_say(&self, text: &str) -> bool {
        sanitize::is_speakable(&sanitize::sanitize(text))
    }
    /// Synthesises one phrase (already sanitised; it may hold several sentences) on `width` threads, stopping
    /// with [`SynthError::Cancelled`] once `cancel` is set. Blocking: run it off the async runtime. Samples are
    /// in [-1, 1].
    fn synthesize(
        &self,
        phrase: &str,
        speaker: Option<i64>,
        width: Width,
        cancel: &Cancel,
    ) -> Result<Vec<f32>, SynthError>;
    /// Opens `count` idle sessions of `width` ahead of need (blocking).
    fn prewarm(&self, width: Width, count: usize) -> Result<(), SynthError>;
}

/// A voice and speaker chosen for one request.
#[derive(Clone)]
pub struct Selected {
    pub voice: Arc<dyn Voice>,
    pub speaker: Option<i64>,
}

/// Every loaded voice; the first is the default.
pub struct Voices {
    voices: Vec<Arc<dyn Voice>>,
    /// `--speaker`: the default voice's default speaker.
    default_speaker: Option<String>,
}

impl Voices {
    pub fn new(voices: Vec<Arc<dyn Voice>>, default_speaker: Option<String>) -> Self {
        assert!(!voices.is_empty(), "at least one voice is loaded before serving");
        Voices { voices, default_speaker }
    }

    pub fn all(&self) -> &[Arc<dyn Voice>] {
        &self.voices
    }

    /// The voice a request names (by name or alias, e.g. `en-us-joe-medium` for `en_US-joe-medium`), or the
    /// default voice. `voice.language` alone does not select a voice, as in wyoming-piper.
    pub fn select(&self, requested: Option<&SynthesizeVoice>) -> Result<Selected, SynthError> {
        let name = requested.and_then(|v| v.name.as_deref()).filter(|n| !n.is_empty());
        let speaker = requested.and_then(|v| v.speaker.as_deref()).filter(|s| !s.is_empty());
        let voice = match name {
            None => self.voices[0].clone(),
            Some(name) => self.find(name).ok_or_else(|| SynthError::UnknownVoice {
                name: name.to_string(),
                available: self.voices.iter().map(|v| v.name()).collect::<Vec<_>>().join(", "),
            })?,
        };
        let is_default = Arc::ptr_eq(&voice, &self.voices[0]);
        let speaker = speaker.or(if is_default { self.default_speaker.as_deref() } else { None });
        let speaker = voice.speaker(speaker)?;
        Ok(Selected { voice, speaker })
    }

    fn find(&self, name: &str) -> Option<Arc<dyn Voice>> {
        let key = |s: &str| s.to_lowercase().replace('_', "-");
        self.voices
            .iter()
            .find(|v| v.name() == name)
            .or_else(|| self.voices.iter().find(|v| key(v.name()) == key(name)))
            .cloned()
    }
}

/// Float samples to 16-bit little-endian PCM the way Piper and LuxTTS do it: scale by 32767, clamp, truncate
/// toward zero.
pub fn to_pcm16(samples: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(samples.len() * 2);
    for &s in samples {
        let v = (s * 32767.0).clamp(-32767.0, 32767.0) as i16;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A voice with speakers "ann" (0) and "bob" (1).
    struct TwoSpeakers;

    impl Voice for TwoSpeakers {
        fn name(&self) -> &str {
            "duo"
        }
        fn sample_rate(&self) -> u32 {
            22050
        }
        fn describe(&self) -> TtsVoice {
            use wyoming_proto::event::{Artifact, Attribution, TtsVoiceSpeaker};
            let speaker = |name: &str| TtsVoiceSpeaker { name: name.into(), extra: Default::default() };
            TtsVoice {
                artifact: Artifact::new("duo", Attribution::new("test", "")),
                languages: vec!["en_US".into()],
                speakers: Some(vec![speaker("ann"), speaker("bob")]),
                extra: Default::default(),
            }
        }
        fn speaker(&self, speaker: Option<&str>) -> Result<Option<i64>, SynthError> {
            match speaker {
                None => Ok(None),
                Some("ann") => Ok(Some(0)),
                Some("bob") => Ok(Some(1)),
                Some(other) => Err(SynthError::UnknownSpeaker {
                    voice: "duo".into(),
                    speaker: other.into(),
                    available: "ann, bob".into(),
                }),
            }
        }
        fn synthesize(&self, _: &str, _: Option<i64>, _: Width, _: &Cancel) -> Result<Vec<f32>, SynthError> {
            Ok(Vec::new())
        }
        fn prewarm(&self, _: Width, _: usize) -> Result<(), SynthError> {
            Ok(())
        }
    }

    #[test]
    fn the_default_speaker_applies_to_the_default_voice_and_a_wrong_one_is_an_error() {
        let voices = Voices::new(vec![Arc::new(TwoSpeakers)], Some("bob".into()));
        assert_eq!(voices.select(None).unwrap().speaker, Some(1));
        let asked = SynthesizeVoice { speaker: Some("ann".into()), ..Default::default() };
        assert_eq!(voices.select(Some(&asked)).unwrap().speaker, Some(0));
        // main.rs calls `select(None)` at start, so a bad --speaker stops the server instead of every request.
        assert_eq!(voices.all()[0].describe().speakers.map(|s| s.len()), Some(2));
        let wrong = Voices::new(vec![Arc::new(TwoSpeakers)], Some("carl".into()));
        assert_eq!(wrong.select(None).err().map(|e| e.code()), Some("UnknownSpeaker"));
    }

    #[test]
    fn pcm_truncates_and_clamps() {
        let pcm = to_pcm16(&[0.0, 1.0, -1.5, 0.5, f32::NAN]);
        let values: Vec<i16> = pcm.chunks(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
        assert_eq!(values, [0, 32767, -32767, 16383, 0]);
    }
}
