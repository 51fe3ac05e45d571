//! Piper VITS voices: `<voice>.onnx` with its `<voice>.onnx.json`, synthesised sentence by sentence exactly
//! as the `piper-tts` engine does (same phoneme ids, same scales, same per-sentence peak normalisation), so
//! a wyoming-piper user hears the same voice.

use crate::engine::{SynthError, Voice};
use crate::onnx::{Cancel, Graph, OnnxError, SessionOptions, SessionPool, Width};
use crate::piper_catalogue;
use crate::text::phonemes::{self, IdMap};
use crate::text::{espeak, hebrew_ipa, nakdimon, phoneme_blocks, sanitize, tashkeel};
use ort::environment::Environment;
use ort::value::Tensor;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use unicode_normalization::UnicodeNormalization;
use wyoming_proto::event::{Artifact, Attribution, TtsVoice, TtsVoiceSpeaker};

#[derive(Debug, thiserror::Error)]
pub enum PiperError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a Piper voice config: {source}")]
    Config { path: PathBuf, source: serde_json::Error },
    #[error("{path}: phoneme_type {kind:?} is not supported (only espeak, text and hebrew)")]
    PhonemeType { path: PathBuf, kind: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error(transparent)]
    Onnx(#[from] OnnxError),
}

#[derive(Debug, Clone, Deserialize)]
pub struct PiperConfig {
    pub audio: AudioConfig,
    /// `None`: en-us, as piper-tts phonemizes a voice without it.
    #[serde(default)]
    pub espeak: Option<EspeakConfig>,
    #[serde(default = "default_phoneme_type")]
    pub phoneme_type: String,
    /// Runs of symbols the voice was trained to see as one (`[["a", "ɪ"]]`); `null` is none.
    #[serde(default, deserialize_with = "none_if_null")]
    pub vowel_clusters: Vec<Vec<String>>,
    /// The speaker of a multi-speaker voice when a request names none.
    #[serde(default)]
    pub default_speaker_id: i64,
    pub phoneme_id_map: HashMap<String, Vec<i64>>,
    #[serde(default)]
    pub inference: Scales,
    #[serde(default = "one")]
    pub num_speakers: usize,
    /// Read leniently ([`lenient_speakers`]): `null` is none, a list of names numbers them.
    #[serde(default, deserialize_with = "lenient_speakers")]
    pub speaker_id_map: BTreeMap<String, i64>,
    #[serde(default)]
    pub language: Option<LanguageConfig>,
    /// Descriptive only, so a number is taken as text, as wyoming-piper (which never checks types) takes it.
    #[serde(default, deserialize_with = "lenient_text")]
    pub dataset: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AudioConfig {
    pub sample_rate: u32,
    #[serde(default, deserialize_with = "lenient_text")]
    pub quality: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EspeakConfig {
    pub voice: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LanguageConfig {
    #[serde(default, deserialize_with = "lenient_text")]
    pub code: Option<String>,
}

/// A descriptive field: text, or a number or boolean as text; `null` (or another type) is none.
fn lenient_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(text) => Some(text),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

/// A list where `null` means an empty one.
fn none_if_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<Vec<String>>, D::Error> {
    Ok(Option::<Vec<Vec<String>>>::deserialize(deserializer)?.unwrap_or_default())
}

/// `speaker_id_map`: a map of names to ids; `null` is none, and a list of names numbers them in order (piper-tts
/// never checks the type, so wyoming-piper speaks such a voice).
fn lenient_speakers<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, i64>, D::Error> {
    use serde::de::Error as _;
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Null => Ok(BTreeMap::new()),
        serde_json::Value::Array(names) => names
            .into_iter()
            .enumerate()
            .map(|(id, name)| match name {
                serde_json::Value::String(name) => Ok((name, id as i64)),
                other => Err(D::Error::custom(format!("speaker_id_map: a speaker name is {other}, not text"))),
            })
            .collect(),
        other => serde_json::from_value(other).map_err(D::Error::custom),
    }
}

/// `noise_scale`, `length_scale`, `noise_w`: the model's `scales` input.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
pub struct Scales {
    #[serde(default = "default_noise")]
    pub noise_scale: f32,
    #[serde(default = "one_f")]
    pub length_scale: f32,
    #[serde(default = "default_noise_w")]
    pub noise_w: f32,
}

impl Default for Scales {
    fn default() -> Self {
        Scales { noise_scale: default_noise(), length_scale: 1.0, noise_w: default_noise_w() }
    }
}

fn default_phoneme_type() -> String {
    "espeak".into()
}
fn one() -> usize {
    1
}
fn one_f() -> f32 {
    1.0
}
fn default_noise() -> f32 {
    0.667
}
fn default_noise_w() -> f32 {
    0.8
}

/// The most symbols one run of the model synthesises; a longer sentence is run in pieces cut after spaces, each
/// peak-normalised on its own (piper-tts runs every sentence whole). A phrase of words is at most `max_chars`
/// characters (a phoneme block may lengthen it), but espeak-ng spells out what it cannot read (IPA written as text
/// becomes "latin small letter schwa", long numbers their words), so 250 characters can become over a minute
/// of audio, and the decoder's memory grows with the audio (about 23 MB a second for a medium voice: 1.5 GB
/// for one such phrase). 400 symbols is about 30 s of ordinary speech, more than a 250-character phrase of
/// words has.
pub const MAX_SYMBOLS: usize = 400;

/// `phoneme_type` of a voice whose symbols are the text's own code points.
const TEXT: &str = "text";
/// `phoneme_type` of a Hebrew voice: Nakdimon's niqqud, then piper-tts's rule-based IPA.
const HEBREW: &str = "hebrew";

/// Whether words (after sanitising) or a `[[ phonemes ]]` block give something to say.
fn speakable(parts: &[phoneme_blocks::Part<'_>]) -> bool {
    phoneme_blocks::says_something(parts, |text| sanitize::is_speakable(&sanitize::sanitize(text)))
}

/// The config of the voice `model` (`NAME.onnx`): `NAME.onnx.json` beside it.
pub fn config_path(model: &Path) -> PathBuf {
    let mut path = model.as_os_str().to_owned();
    path.push(".json");
    PathBuf::from(path)
}

/// The largest `.onnx.json` read.
const MAX_CONFIG_BYTES: u64 = 16 << 20;

impl PiperConfig {
    /// The `<voice>.onnx.json` next to `model`.
    pub fn read(model: &Path) -> Result<PiperConfig, PiperError> {
        use std::io::Read as _;
        let path = config_path(model);
        let read_error = |source| PiperError::Read { path: path.clone(), source };
        // The data dirs are looked at again while the server runs: a stray huge `.onnx.json` must not be read
        // whole each time. Real configs are tens of kilobytes (a 900-speaker voice's, about 100 KB).
        let mut text = String::new();
        std::fs::File::open(&path)
            .and_then(|file| file.take(MAX_CONFIG_BYTES + 1).read_to_string(&mut text))
            .map_err(read_error)?;
        if text.len() as u64 > MAX_CONFIG_BYTES {
            let message = format!("over {} MiB: not a Piper voice config", MAX_CONFIG_BYTES >> 20);
            return Err(PiperError::Invalid { path, message });
        }
        serde_json::from_str(&text).map_err(|source| PiperError::Config { path, source })
    }

    /// The espeak-ng voice its phonemes come from.
    pub fn espeak_voice(&self) -> &str {
        self.espeak.as_ref().map_or("en-us", |e| e.voice.as_str())
    }

    /// The voice `name` as `info` advertises it: a catalogue voice as the catalogue has it, any other as
    /// wyoming-piper lists a custom voice (its `dataset` and quality; its language code, else its espeak-ng voice,
    /// else the start of its name), but with its speakers, which wyoming-piper leaves out, so a client can offer
    /// them.
    pub fn describe(&self, name: &str) -> TtsVoice {
        if let Some(voice) = piper_catalogue::find(name).filter(|v| v.key == name) {
            return voice.describe();
        }
        let language =
            [self.language.as_ref().and_then(|l| l.code.as_deref()), self.espeak.as_ref().map(|e| e.voice.as_str())]
                .into_iter()
                .flatten()
                .find(|code| !code.is_empty())
                .unwrap_or_else(|| name.split('_').next().unwrap_or(name))
                .to_string();
        let dataset = self.dataset.as_deref().unwrap_or(name);
        let description = match self.audio.quality.as_deref().filter(|q| !q.is_empty()) {
            Some(quality) => format!("{dataset} ({quality})"),
            None => dataset.to_string(),
        };
        let speakers = (self.num_speakers > 1 && !self.speaker_id_map.is_empty()).then(|| {
            let mut by_id: Vec<(&i64, &String)> = self.speaker_id_map.iter().map(|(n, i)| (i, n)).collect();
            by_id.sort();
            by_id
                .into_iter()
                .map(|(_, name)| TtsVoiceSpeaker { name: name.clone(), extra: Default::default() })
                .collect()
        });
        TtsVoice {
            artifact: Artifact {
                description: Some(description),
                ..Artifact::new(name.to_string(), Attribution::new("", ""))
            },
            languages: vec![language],
            speakers,
            extra: Default::default(),
        }
    }

    /// Why this server cannot speak with the voice, if it cannot: its phonemes come from none of espeak-ng, the
    /// text itself (`text`) and the Hebrew phonemizer. Such a voice is not listed, as wyoming-piper leaves out a
    /// voice whose phonemizer it lacks (pinyin, Japanese and Thai).
    pub fn unsupported(&self, path: &Path) -> Option<PiperError> {
        let supported = matches!(self.phoneme_type.as_str(), "espeak" | TEXT | HEBREW);
        (!supported).then(|| PiperError::PhonemeType { path: config_path(path), kind: self.phoneme_type.clone() })
    }
}

/// Overrides from the command line (`--length-scale` …); `None` keeps the voice's own value.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScaleOverrides {
    pub noise_scale: Option<f32>,
    pub length_scale: Option<f32>,
    pub noise_w: Option<f32>,
}

pub struct PiperVoice {
    name: String,
    config: PiperConfig,
    ids: IdMap,
    scales: Scales,
    pool: SessionPool,
}

impl PiperVoice {
    /// Loads `model` (`*.onnx`) and its config (`*.onnx.json` next to it). The name is the file stem.
    pub fn load(
        env: Arc<Environment>,
        model: &Path,
        options: SessionOptions,
        overrides: ScaleOverrides,
    ) -> Result<Self, PiperError> {
        let config = PiperConfig::read(model)?;
        if let Some(unsupported) = config.unsupported(model) {
            return Err(unsupported);
        }
        let ids = IdMap::new(config.phoneme_id_map.clone());
        for symbol in [phonemes::BOS, phonemes::EOS, phonemes::PAD] {
            if ids.get(symbol).is_none() {
                return Err(PiperError::Invalid {
                    path: config_path(model),
                    message: format!("phoneme_id_map has no {symbol:?}"),
                });
            }
        }
        if !model.is_file() {
            return Err(PiperError::Read {
                path: model.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            });
        }
        let (pool, first) = SessionPool::open(env, model, options, Graph::FastConvolutions)?;
        let inputs: Vec<&str> = first.inputs().iter().map(|i| i.name()).collect();
        if !inputs.contains(&"input") || !inputs.contains(&"input_lengths") || !inputs.contains(&"scales") {
            return Err(PiperError::Invalid {
                path: model.to_path_buf(),
                message: format!("not a Piper model: its inputs are {inputs:?}"),
            });
        }
        pool.put(first);
        let scales = Scales {
            noise_scale: overrides.noise_scale.unwrap_or(config.inference.noise_scale),
            length_scale: overrides.length_scale.unwrap_or(config.inference.length_scale),
            noise_w: overrides.noise_w.unwrap_or(config.inference.noise_w),
        };
        let name = model.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "piper".into());
        Ok(PiperVoice { name, config, ids, scales, pool })
    }

    pub fn config(&self) -> &PiperConfig {
        &self.config
    }

    /// The phoneme ids of each sentence of `text`, as `piper-tts` computes them, `[[ phonemes ]]` blocks
    /// included, but for a sentence over [`MAX_SYMBOLS`] (in pieces here) and a block that spans lines (a block
    /// here, as wyoming-piper joins lines first; text to piper-tts's regex). (piper-tts 1.8 ignores a config's
    /// `phoneme_map`, which the C++ piper applied; so does this.)
    pub fn phoneme_ids(&self, text: &str) -> Result<Vec<Vec<i64>>, SynthError> {
        match self.whole_text_sentences(text)? {
            Some(sentences) => self.ids_of(sentences),
            None => self.ids_of(self.sentences(&phoneme_blocks::split(text), false)?),
        }
    }

    /// The sentences of a voice whose phonemizer is not espeak-ng: the text taken whole (no `[[ phonemes ]]`
    /// blocks), as piper-tts takes it. `None` for an espeak-ng voice.
    fn whole_text_sentences(&self, text: &str) -> Result<Option<Vec<phonemes::Sentence>>, SynthError> {
        Ok(match self.config.phoneme_type.as_str() {
            // The text's own code points are the symbols, in one sentence.
            TEXT => Some(vec![text.nfd().map(String::from).collect()]),
            HEBREW => {
                // Text written with its vowel points is read as written.
                let pointed = if text.chars().any(nakdimon::is_point) {
                    text.to_string()
                } else {
                    nakdimon::diacritize(text).ok_or_else(|| {
                        SynthError::Model("Hebrew without vowel points needs Nakdimon's model (--hebrew-dir)".into())
                    })?
                };
                let ipa = hebrew_ipa::to_ipa(&pointed);
                Some(if ipa.is_empty() { Vec::new() } else { vec![ipa.chars().map(String::from).collect()] })
            }
            _ => None,
        })
    }

    /// Sentences of symbols for `parts`: text parts (sanitised first if `sanitized`) through espeak-ng, blocks as
    /// they are.
    fn sentences(
        &self,
        parts: &[phoneme_blocks::Part<'_>],
        sanitized: bool,
    ) -> Result<Vec<phonemes::Sentence>, SynthError> {
        let voice = self.config.espeak_voice();
        let clusters = &self.config.vowel_clusters;
        let phonemize = |part: &str| -> Result<Vec<phonemes::Sentence>, SynthError> {
            let text = if sanitized { Cow::Owned(sanitize::sanitize(part)) } else { Cow::Borrowed(part) };
            // piper-tts gives Arabic its short vowels first, which espeak-ng needs to read it.
            let diacritized = (voice == "ar").then(|| tashkeel::diacritize(&text));
            let mut clauses = espeak::phonemize(voice, diacritized.as_deref().unwrap_or(&text))?;
            if voice.starts_with("en") {
                for clause in &mut clauses {
                    clause.ipa = phonemes::link_glides(&clause.ipa);
                }
            }
            let sentences = phonemes::sentences(&clauses);
            Ok(sentences.into_iter().map(|sentence| phonemes::merge_vowel_clusters(sentence, clusters)).collect())
        };
        phoneme_blocks::sentences(parts, phonemize)
    }

    /// The ids of each sentence, a long one in pieces of at most [`MAX_SYMBOLS`] symbols.
    fn ids_of(&self, sentences: Vec<phonemes::Sentence>) -> Result<Vec<Vec<i64>>, SynthError> {
        let mut out = Vec::new();
        for sentence in sentences.into_iter().flat_map(|sentence| phonemes::cut_long(sentence, MAX_SYMBOLS)) {
            let (ids, skipped) = self.ids.piper_ids(&sentence).map_err(|e| SynthError::Model(e.to_string()))?;
            if skipped > 0 {
                tracing::debug!(skipped, "phonemes missing from the voice's id map were skipped");
            }
            out.push(ids);
        }
        Ok(out)
    }

    /// One sentence's ids to audio, peak-normalised like `piper-tts` (`normalize_audio`, its default).
    pub fn ids_to_audio(
        &self,
        ids: &[i64],
        speaker: Option<i64>,
        width: Width,
        cancel: &Cancel,
    ) -> Result<Vec<f32>, SynthError> {
        let scales = [self.scales.noise_scale, self.scales.length_scale, self.scales.noise_w];
        let speaker =
            if self.config.num_speakers > 1 { Some(speaker.unwrap_or(self.config.default_speaker_id)) } else { None };
        let model = self.name.clone();
        let fail =
            move |e: ort::Error| SynthError::Onnx(OnnxError::Run { model: model.clone(), message: e.to_string() });
        let mut audio = self.pool.with(width, |session| -> Result<Vec<f32>, SynthError> {
            let input = Tensor::from_array((vec![1_i64, ids.len() as i64], ids.to_vec())).map_err(&fail)?;
            let lengths = Tensor::from_array((vec![1_i64], vec![ids.len() as i64])).map_err(&fail)?;
            let scales = Tensor::from_array((vec![3_i64], scales.to_vec())).map_err(&fail)?;
            let outputs = match speaker {
                Some(sid) => {
                    let sid = Tensor::from_array((vec![1_i64], vec![sid])).map_err(&fail)?;
                    session.run_with_options(
                        ort::inputs!["input" => input, "input_lengths" => lengths, "scales" => scales, "sid" => sid],
                        cancel.run_options(),
                    )
                }
                None => session.run_with_options(
                    ort::inputs!["input" => input, "input_lengths" => lengths, "scales" => scales],
                    cancel.run_options(),
                ),
            }
            .map_err(&fail)?;
            let (_, samples) = outputs[0].try_extract_tensor::<f32>().map_err(&fail)?;
            Ok(samples.to_vec())
        })??;
        let peak = audio.iter().fold(0f32, |m, s| m.max(s.abs()));
        if peak < 1e-8 {
            audio.iter_mut().for_each(|s| *s = 0.0);
        } else {
            audio.iter_mut().for_each(|s| *s = (*s / peak).clamp(-1.0, 1.0));
        }
        Ok(audio)
    }
}

impl Voice for PiperVoice {
    fn name(&self) -> &str {
        &self.name
    }

    fn sample_rate(&self) -> u32 {
        self.config.audio.sample_rate
    }

    fn describe(&self) -> TtsVoice {
        self.config.describe(&self.name)
    }

    fn can_say(&self, text: &str) -> bool {
        if matches!(self.config.phoneme_type.as_str(), TEXT | HEBREW) {
            return sanitize::is_speakable(&sanitize::sanitize(text));
        }
        speakable(&phoneme_blocks::split(text))
    }

    fn speaker(&self, speaker: Option<&str>) -> Result<Option<i64>, SynthError> {
        let Some(speaker) = speaker else { return Ok(None) };
        if self.config.num_speakers <= 1 {
            return Ok(None); // single-speaker voices ignore it, like piper-tts
        }
        if let Some(&id) = self.config.speaker_id_map.get(speaker) {
            return Ok(Some(id));
        }
        match speaker.parse::<i64>() {
            Ok(id) if (0..self.config.num_speakers as i64).contains(&id) => Ok(Some(id)),
            _ => Err(SynthError::UnknownSpeaker {
                voice: self.name.clone(),
                speaker: speaker.to_string(),
                available: self.config.speaker_id_map.keys().cloned().collect::<Vec<_>>().join(", "),
            }),
        }
    }

    fn prewarm(&self, width: Width, count: usize) -> Result<(), SynthError> {
        Ok(self.pool.prewarm(width, count)?)
    }

    fn synthesize(
        &self,
        phrase: &str,
        speaker: Option<i64>,
        width: Width,
        cancel: &Cancel,
    ) -> Result<Vec<f32>, SynthError> {
        let sentences = if matches!(self.config.phoneme_type.as_str(), TEXT | HEBREW) {
            let text = sanitize::sanitize(phrase);
            if !sanitize::is_speakable(&text) {
                return Ok(Vec::new());
            }
            self.whole_text_sentences(&text)?.unwrap_or_default()
        } else {
            // Markup is taken out of the words around `[[ phonemes ]]`, never out of a block.
            let parts = phoneme_blocks::split(phrase);
            if !speakable(&parts) {
                return Ok(Vec::new());
            }
            self.sentences(&parts, true)?
        };
        let mut audio = Vec::new();
        for ids in self.ids_of(sentences)? {
            audio.extend(self.ids_to_audio(&ids, speaker, width, cancel).map_err(|e| e.unless_cancelled(cancel))?);
        }
        Ok(audio)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speaker_maps_are_read_leniently() {
        let speakers = |map: &str| {
            let config =
                format!(r#"{{"audio": {{"sample_rate": 22050}}, "phoneme_id_map": {{}}, "speaker_id_map": {map}}}"#);
            serde_json::from_str::<PiperConfig>(&config).map(|c| c.speaker_id_map.into_iter().collect::<Vec<_>>())
        };
        assert_eq!(speakers(r#"{"ann": 1, "bob": 0}"#).unwrap(), [("ann".into(), 1), ("bob".into(), 0)]);
        assert_eq!(speakers(r#"["ann", "bob"]"#).unwrap(), [("ann".into(), 0), ("bob".into(), 1)]);
        assert!(speakers("null").unwrap().is_empty() && speakers("[]").unwrap().is_empty());
        assert!(speakers("[1, 2]").is_err() && speakers(r#"{"ann": "zero"}"#).is_err());
    }

    #[test]
    fn a_config_too_large_to_be_one_is_refused_without_reading_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("huge.onnx");
        let file = std::fs::File::create(dir.path().join("huge.onnx.json")).unwrap();
        file.set_len(MAX_CONFIG_BYTES + 1).unwrap(); // sparse: 16 MiB of zero bytes
        let err = PiperConfig::read(&model).unwrap_err().to_string();
        assert!(err.contains("over 16 MiB"), "{err}");
    }
}
