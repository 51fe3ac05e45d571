//! LuxTTS: ZipVoice-Distill text encoder and flow-matching decoder plus the 48 kHz Vocos vocoder, through ONNX
//! Runtime (reference `luxtts.md` §1–§12).
//!
//! Layout, in the order a phrase flows:
//! - [`frontend`]: text → token ids (sanitise, punctuation, normalisation, espeak-ng, `tokens.txt`).
//! - [`voice`]: the reference clip → an [`EncodedVoice`] (prompt tokens, [`features`], loudness), cached.
//! - [`duration`]: how many frames a phrase gets, and the `speed` the text encoder is fed.
//! - [`sampler`]: the time schedule, the Euler loop, seeded noise.
//! - [`merge`]: the vocoder's 24 kHz and 48 kHz heads merged at 12 kHz. [`post`]: clamp and volume match.
//! - [`model`]: the three ONNX sessions and one synthesis pass tying the stages together.
//!
//! All stages but [`model`] and [`voice::transcribe`] are pure and tested on their own; the whole pass is
//! checked against an independent NumPy implementation on random-weight stand-in graphs
//! (`tests/luxtts_pipeline.rs`).

pub mod duration;
pub mod features;
pub mod frontend;
pub mod merge;
pub mod model;
pub mod post;
pub mod sampler;
pub mod voice;

use crate::cli::CloneSpec;
use crate::engine::{SynthError, Voice};
use crate::onnx::{Cancel, SessionOptions, Width};
use model::{LuxModel, SynthParams};
use ort::environment::Environment;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
pub use voice::EncodedVoice;
use voice::PromptSettings;
use wyoming_proto::event::{Artifact, Attribution, TtsVoice};
use wyoming_proto::uri::WyomingUri;

/// Everything LuxTTS needs from the command line.
#[derive(Debug, Clone)]
pub struct LuxConfig {
    pub model_dir: PathBuf,
    pub num_steps: usize,
    pub guidance_scale: f32,
    pub t_shift: f32,
    pub speed: f32,
    pub ref_duration: f32,
    /// Fixed noise seed: every phrase then starts from the same noise, so equal text gives equal audio.
    /// `None` draws a fresh seed per phrase.
    pub seed: Option<u64>,
    /// Where encoded voice prompts are cached.
    pub cache_dir: PathBuf,
    pub stt_uri: WyomingUri,
    pub session: SessionOptions,
}

impl LuxConfig {
    pub fn params(&self) -> SynthParams {
        SynthParams {
            num_steps: self.num_steps,
            guidance_scale: self.guidance_scale,
            t_shift: self.t_shift,
            speed: self.speed,
            ..SynthParams::default()
        }
    }
}

/// The most text tokens one pass takes; longer phrases are cut at spaces or punctuation (see
/// [`frontend::split_tokens`]). The server's phrase splitter already keeps phrases near 250 characters, so this
/// only matters for text that normalisation expanded a lot, or for callers that bypass the splitter.
pub const MAX_PASS_TOKENS: usize = 400;

/// A cloned voice: the shared model plus one encoded reference.
pub struct LuxVoice {
    name: String,
    model: Arc<LuxModel>,
    prompt: EncodedVoice,
    params: SynthParams,
    seed: Option<u64>,
    reference: PathBuf,
}

/// Per-phrase seeds when none is fixed: the clock mixed with a counter (the generator scrambles them).
fn fresh_seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64);
    nanos.unwrap_or(0) ^ COUNTER.fetch_add(1, Ordering::Relaxed).rotate_left(32)
}

impl LuxVoice {
    pub fn new(
        name: String,
        model: Arc<LuxModel>,
        prompt: EncodedVoice,
        params: SynthParams,
        seed: Option<u64>,
    ) -> Self {
        LuxVoice { name, model, prompt, params, seed, reference: PathBuf::new() }
    }

    pub fn prompt(&self) -> &EncodedVoice {
        &self.prompt
    }
}

impl Voice for LuxVoice {
    fn name(&self) -> &str {
        &self.name
    }

    fn sample_rate(&self) -> u32 {
        48_000
    }

    fn describe(&self) -> TtsVoice {
        let source = self.reference.file_name().map(|f| f.to_string_lossy().into_owned());
        let description = match source {
            Some(file) => format!("LuxTTS voice cloned from {file}"),
            None => "LuxTTS cloned voice".to_string(),
        };
        TtsVoice {
            artifact: Artifact {
                description: Some(description),
                ..Artifact::new(
                    self.name.clone(),
                    Attribution::new("ysharma3501", "https://github.com/ysharma3501/LuxTTS"),
                )
            },
            languages: vec!["en_US".into()],
            speakers: None,
            extra: Default::default(),
        }
    }

    /// A cloned voice has exactly one speaker; a requested speaker is accepted and ignored, as single-speaker
    /// Piper voices do, so a client that always sends one keeps working.
    fn speaker(&self, _speaker: Option<&str>) -> Result<Option<i64>, SynthError> {
        Ok(None)
    }

    fn prewarm(&self, width: Width, count: usize) -> Result<(), SynthError> {
        self.model.prewarm(width, count)
    }

    /// Only the English branch of LuxTTS's tokenizer is implemented: CJK characters are dropped.
    fn can_say(&self, text: &str) -> bool {
        frontend::Frontend::can_say(text)
    }

    fn synthesize(
        &self,
        phrase: &str,
        _speaker: Option<i64>,
        width: Width,
        cancel: &Cancel,
    ) -> Result<Vec<f32>, SynthError> {
        let tokens = self.model.frontend().tokens(phrase)?;
        if tokens.is_empty() {
            return Ok(Vec::new());
        }
        let seed = self.seed.unwrap_or_else(fresh_seed);
        let mut audio = Vec::new();
        for piece in frontend::split_tokens(&tokens, MAX_PASS_TOKENS, &self.model.frontend().break_ids()) {
            let pass = self.model.generate(&self.prompt, &piece, &self.params, seed, width, cancel);
            audio.extend(pass.map_err(|e| e.unless_cancelled(cancel))?.output);
        }
        Ok(audio)
    }
}

/// Loads the model and encodes (or loads from the cache) every voice.
pub async fn load_voices(
    env: Arc<Environment>,
    config: LuxConfig,
    specs: Vec<CloneSpec>,
) -> anyhow::Result<Vec<Arc<dyn Voice>>> {
    anyhow::ensure!(!specs.is_empty(), "LuxTTS needs at least one --voice NAME=REFERENCE.wav");
    let (dir, options) = (config.model_dir.clone(), config.session.clone());
    let model = Arc::new(tokio::task::spawn_blocking(move || LuxModel::load(env, &dir, options)).await??);
    let settings = PromptSettings { ref_duration: config.ref_duration, target_rms: voice::PROMPT_TARGET_RMS };
    let mut voices: Vec<Arc<dyn Voice>> = Vec::new();
    for spec in &specs {
        let prompt = voice::load_or_encode(
            spec,
            model.frontend(),
            model.tokens_sha256(),
            settings,
            &config.cache_dir,
            &config.stt_uri,
        )
        .await?;
        tracing::info!(
            voice = spec.name,
            transcript = %prompt.transcript,
            prompt_frames = prompt.frames,
            prompt_tokens = prompt.tokens.len(),
            "LuxTTS voice ready"
        );
        let mut voice = LuxVoice::new(spec.name.clone(), model.clone(), prompt, config.params(), config.seed);
        voice.reference = spec.reference.clone();
        voices.push(Arc::new(voice));
    }
    Ok(voices)
}
