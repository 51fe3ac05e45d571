//! The three ONNX graphs and one synthesis pass (reference §8, §11): text encoder → flow-matching decoder ×
//! `num_steps` → slice, ÷ 0.1, transpose → vocoder → 12 kHz merge → clamp and volume match.
//!
//! Each graph has a [`SessionPool`], so concurrent phrases each get their own sessions; the decoder's
//! session is held for the whole sampler loop of one phrase.

use super::duration::{self, FramePlan};
use super::features::{FEAT_SCALE, N_MELS};
use super::frontend::Frontend;
use super::voice::{EncodedVoice, sha256_hex};
use super::{merge, post, sampler};
use crate::engine::SynthError;
use crate::onnx::{Cancel, Graph, OnnxError, SessionOptions, SessionPool, Width};
use ort::environment::Environment;
use ort::session::Session;
use ort::value::Tensor;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The files of a model directory.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFiles {
    pub tokens: PathBuf,
    pub text_encoder: PathBuf,
    pub fm_decoder: PathBuf,
    pub vocoder: PathBuf,
}

impl ModelFiles {
    /// Finds the files in `dir`, preferring float32 graphs over their `_int8` variants. A missing file is an
    /// error that lists everything expected.
    pub fn find(dir: &Path) -> anyhow::Result<Self> {
        let pick = |names: &[&str]| names.iter().map(|n| dir.join(n)).find(|p| p.is_file());
        let tokens = pick(&["tokens.txt"]);
        let text_encoder = pick(&["text_encoder.onnx", "text_encoder_int8.onnx"]);
        let fm_decoder = pick(&["fm_decoder.onnx", "fm_decoder_int8.onnx"]);
        let vocoder = pick(&["vocos.onnx", "vocos_int8.onnx"]);
        match (tokens, text_encoder, fm_decoder, vocoder) {
            (Some(tokens), Some(text_encoder), Some(fm_decoder), Some(vocoder)) => {
                Ok(ModelFiles { tokens, text_encoder, fm_decoder, vocoder })
            }
            (t, e, d, v) => {
                let missing: Vec<&str> = [
                    (t.is_none(), "tokens.txt"),
                    (e.is_none(), "text_encoder.onnx (or text_encoder_int8.onnx)"),
                    (d.is_none(), "fm_decoder.onnx (or fm_decoder_int8.onnx)"),
                    (v.is_none(), "vocos.onnx (or vocos_int8.onnx)"),
                ]
                .into_iter()
                .filter_map(|(missing, name)| missing.then_some(name))
                .collect();
                anyhow::bail!(
                    "LuxTTS model directory {} is incomplete: missing {}. It must hold tokens.txt, text_encoder.onnx \
                     and fm_decoder.onnx from the YatharthS/LuxTTS hub repository, and vocos.onnx from \
                     ProgCat/luxtts-onnx (see the README)",
                    dir.display(),
                    missing.join(", ")
                )
            }
        }
    }
}

/// Sampler settings of one synthesis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SynthParams {
    pub num_steps: usize,
    pub guidance_scale: f32,
    pub t_shift: f32,
    /// The user's speed (LuxTTS multiplies it by 1.3).
    pub speed: f32,
    pub min_frames: usize,
}

impl Default for SynthParams {
    fn default() -> Self {
        SynthParams {
            num_steps: 4,
            guidance_scale: 3.0,
            t_shift: 0.5,
            speed: 1.0,
            min_frames: duration::MIN_GENERATED_FRAMES,
        }
    }
}

/// Everything one pass computed, for tests and diagnostics; `output` is what a client hears.
#[derive(Debug, Clone)]
pub struct Trace {
    pub plan: FramePlan,
    /// F as the text encoder produced it (the plan's prediction should equal it).
    pub total_frames: usize,
    /// The initial state x₀, `[F][feat_dim]`.
    pub noise: Vec<f32>,
    pub text_condition: Vec<f32>,
    /// The generated features ÷ 0.1 as the vocoder gets them, `[feat_dim][G]`.
    pub vocoder_input: Vec<f32>,
    pub audio_48k: Vec<f32>,
    pub audio_24k: Vec<f32>,
    /// The merge's result before post-processing.
    pub merged: Vec<f32>,
    /// 48 kHz samples in [−1, 1].
    pub output: Vec<f32>,
    pub timings: Timings,
}

/// Wall time of each stage of one pass.
#[derive(Debug, Clone, Default)]
pub struct Timings {
    pub text_encoder: Duration,
    /// One entry per decoder call (including building its input tensors).
    pub decoder_steps: Vec<Duration>,
    pub vocoder: Duration,
    /// The 12 kHz merge and post-processing (pure Rust).
    pub merge: Duration,
}

/// The loaded LuxTTS model.
pub struct LuxModel {
    files: ModelFiles,
    frontend: Frontend,
    tokens_sha256: String,
    text_encoder: SessionPool,
    fm_decoder: SessionPool,
    vocoder: SessionPool,
    feat_dim: usize,
}

fn check_io(session: &Session, path: &Path, inputs: &[&str], outputs: &[&str]) -> anyhow::Result<()> {
    let have_in: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
    let have_out: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
    let ok = inputs.iter().all(|n| have_in.contains(n)) && outputs.iter().all(|n| have_out.contains(n));
    anyhow::ensure!(
        ok,
        "{} is not the expected graph: it needs inputs {inputs:?} and outputs {outputs:?}, it has inputs {have_in:?} \
         and outputs {have_out:?}",
        path.display()
    );
    Ok(())
}

fn run_error(model: &str) -> impl Fn(ort::Error) -> SynthError + '_ {
    move |e| SynthError::Onnx(OnnxError::Run { model: model.to_string(), message: e.to_string() })
}

fn scalar<T: ort::value::PrimitiveTensorElementType + std::fmt::Debug + Clone + 'static>(
    value: T,
) -> Result<Tensor<T>, ort::Error> {
    Tensor::from_array((Vec::<i64>::new(), vec![value]))
}

impl LuxModel {
    /// Opens the model in `dir` (blocking: loading the decoder takes seconds).
    pub fn load(env: Arc<Environment>, dir: &Path, options: SessionOptions) -> anyhow::Result<Self> {
        let files = ModelFiles::find(dir)?;
        let frontend = Frontend::load(&files.tokens)?;
        let tokens_sha256 = sha256_hex(&std::fs::read(&files.tokens)?);
        let (text_encoder, first) = SessionPool::open(env.clone(), &files.text_encoder, options.clone(), Graph::AsIs)?;
        check_io(
            &first,
            &files.text_encoder,
            &["tokens", "prompt_tokens", "prompt_features_len", "speed"],
            &["text_condition"],
        )?;
        text_encoder.put(first);
        let (fm_decoder, first) = SessionPool::open(env.clone(), &files.fm_decoder, options.clone(), Graph::AsIs)?;
        check_io(
            &first,
            &files.fm_decoder,
            &["t", "x", "text_condition", "speech_condition", "guidance_scale"],
            &["v"],
        )?;
        let feat_dim = match first.metadata().ok().and_then(|m| m.custom("feat_dim")) {
            Some(value) => value.trim().parse::<usize>().map_err(|_| {
                anyhow::anyhow!("{}: metadata feat_dim {value:?} is not a number", files.fm_decoder.display())
            })?,
            None => N_MELS,
        };
        anyhow::ensure!(
            feat_dim == N_MELS,
            "{}: feat_dim is {feat_dim}, but this server computes {N_MELS}-band prompt features",
            files.fm_decoder.display()
        );
        fm_decoder.put(first);
        let (vocoder, first) = SessionPool::open(env, &files.vocoder, options, Graph::AsIs)?;
        check_io(&first, &files.vocoder, &["features"], &["audio_48k", "audio_24k"])?;
        vocoder.put(first);
        Ok(LuxModel { files, frontend, tokens_sha256, text_encoder, fm_decoder, vocoder, feat_dim })
    }

    /// Opens `count` idle sessions of `width` for each graph (blocking).
    pub fn prewarm(&self, width: Width, count: usize) -> Result<(), SynthError> {
        for pool in [&self.text_encoder, &self.fm_decoder, &self.vocoder] {
            pool.prewarm(width, count)?;
        }
        Ok(())
    }

    pub fn files(&self) -> &ModelFiles {
        &self.files
    }

    pub fn frontend(&self) -> &Frontend {
        &self.frontend
    }

    /// SHA-256 of `tokens.txt` (encoded voices record it).
    pub fn tokens_sha256(&self) -> &str {
        &self.tokens_sha256
    }

    /// One synthesis pass over `tokens` (at least one) with the voice `prompt`, starting from seeded noise.
    pub fn generate(
        &self,
        prompt: &EncodedVoice,
        tokens: &[i64],
        params: &SynthParams,
        seed: u64,
        width: Width,
        cancel: &Cancel,
    ) -> Result<Trace, SynthError> {
        let dim = self.feat_dim;
        let (fp, p, l) = (prompt.frames, prompt.tokens.len(), tokens.len());
        if l == 0 || p == 0 {
            return Err(SynthError::Model("LuxTTS needs prompt tokens and text tokens".into()));
        }
        let plan = duration::plan(fp, p, l, params.speed, params.min_frames);
        let mut timings = Timings::default();
        let started = Instant::now();

        let fail = run_error("text_encoder");
        let text_condition = self.text_encoder.with(width, |session| -> Result<(Vec<f32>, Vec<i64>), SynthError> {
            let outputs = session
                .run_with_options(ort::inputs![
                    "tokens" => Tensor::from_array((vec![1_i64, l as i64], tokens.to_vec())).map_err(&fail)?,
                    "prompt_tokens" => Tensor::from_array((vec![1_i64, p as i64], prompt.tokens.clone())).map_err(&fail)?,
                    "prompt_features_len" => scalar(fp as i64).map_err(&fail)?,
                    "speed" => scalar(plan.encoder_speed).map_err(&fail)?,
                ], cancel.run_options())
                .map_err(&fail)?;
            let (shape, data) = outputs["text_condition"].try_extract_tensor::<f32>().map_err(&fail)?;
            Ok((data.to_vec(), shape.to_vec()))
        })??;
        let (text_condition, shape) = text_condition;
        timings.text_encoder = started.elapsed();
        if shape.len() != 3 || shape[0] != 1 || shape[2] != dim as i64 {
            return Err(SynthError::Model(format!("text_encoder returned shape {shape:?}, expected [1, F, {dim}]")));
        }
        let total = shape[1] as usize;
        if total != plan.total_frames {
            tracing::debug!(
                predicted = plan.total_frames,
                actual = total,
                "text encoder frame count differs from the plan"
            );
        }
        if total <= fp {
            return Err(SynthError::Model(format!(
                "the text encoder gave {total} frames, no more than the prompt's {fp}"
            )));
        }
        let generated = total - fp;

        let mut speech_condition = vec![0.0f32; total * dim];
        speech_condition[..fp * dim].copy_from_slice(&prompt.features[..fp * dim]);
        let noise = sampler::Rng::new(seed).normal(total * dim);
        let times = sampler::schedule(params.num_steps, params.t_shift);
        let fail = run_error("fm_decoder");
        let state_shape = vec![1_i64, total as i64, dim as i64];
        let features = self.fm_decoder.with(width, |session| {
            sampler::sample(noise.clone(), &times, |t, x| -> Result<Vec<f32>, SynthError> {
                let step = Instant::now();
                let outputs = session
                    .run_with_options(ort::inputs![
                        "t" => scalar(t).map_err(&fail)?,
                        "x" => Tensor::from_array((state_shape.clone(), x.to_vec())).map_err(&fail)?,
                        "text_condition" => Tensor::from_array((state_shape.clone(), text_condition.clone())).map_err(&fail)?,
                        "speech_condition" => Tensor::from_array((state_shape.clone(), speech_condition.clone())).map_err(&fail)?,
                        "guidance_scale" => scalar(params.guidance_scale).map_err(&fail)?,
                    ], cancel.run_options())
                    .map_err(&fail)?;
                let (_, v) = outputs["v"].try_extract_tensor::<f32>().map_err(&fail)?;
                if v.len() != x.len() {
                    return Err(SynthError::Model(format!("fm_decoder returned {} values for {} inputs", v.len(), x.len())));
                }
                let v = v.to_vec();
                timings.decoder_steps.push(step.elapsed());
                Ok(v)
            })
        })??;

        // Frames F_p…F − 1, ÷ 0.1, transposed to [feat_dim, G].
        let mut vocoder_input = vec![0.0f32; dim * generated];
        for g in 0..generated {
            for d in 0..dim {
                vocoder_input[d * generated + g] = features[(fp + g) * dim + d] / FEAT_SCALE;
            }
        }
        let fail = run_error("vocos");
        let started = Instant::now();
        let (audio_48k, audio_24k) =
            self.vocoder.with(width, |session| -> Result<(Vec<f32>, Vec<f32>), SynthError> {
                let input = Tensor::from_array((vec![1_i64, dim as i64, generated as i64], vocoder_input.clone()))
                    .map_err(&fail)?;
                let outputs =
                    session.run_with_options(ort::inputs!["features" => input], cancel.run_options()).map_err(&fail)?;
                let (_, a48) = outputs["audio_48k"].try_extract_tensor::<f32>().map_err(&fail)?;
                let (_, a24) = outputs["audio_24k"].try_extract_tensor::<f32>().map_err(&fail)?;
                Ok((a48.to_vec(), a24.to_vec()))
            })??;
        timings.vocoder = started.elapsed();
        let started = Instant::now();
        let merged = merge::merge(&audio_48k, &audio_24k);
        let mut output = merged.clone();
        post::finish(&mut output, prompt.rms);
        timings.merge = started.elapsed();
        tracing::debug!(frames = total, generated, ?timings, "LuxTTS pass");
        Ok(Trace {
            plan,
            total_frames: total,
            noise,
            text_condition,
            vocoder_input,
            audio_48k,
            audio_24k,
            merged,
            output,
            timings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tokens.txt"), "_\t0\n").unwrap();
        std::fs::write(dir.path().join("fm_decoder_int8.onnx"), "").unwrap();
        let message = ModelFiles::find(dir.path()).unwrap_err().to_string();
        assert!(message.contains("text_encoder.onnx (or text_encoder_int8.onnx)"), "{message}");
        assert!(message.contains("vocos.onnx"), "{message}");
        assert!(!message.contains("missing tokens.txt"), "{message}");
        assert!(!message.contains("missing fm_decoder"), "{message}");
        std::fs::write(dir.path().join("text_encoder.onnx"), "").unwrap();
        std::fs::write(dir.path().join("vocos.onnx"), "").unwrap();
        let files = ModelFiles::find(dir.path()).unwrap();
        assert_eq!(files.fm_decoder, dir.path().join("fm_decoder_int8.onnx"));
    }
}
