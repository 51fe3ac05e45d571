//! LuxTTS: ZipVoice-Distill text encoder and flow-matching decoder plus the 48 kHz Vocos vocoder, through ONNX
//! Runtime. (Being written; see issue #4.)

pub mod duration;
pub mod features;
pub mod merge;
pub mod post;
pub mod sampler;

use crate::cli::CloneSpec;
use crate::engine::Voice;
use crate::onnx::SessionOptions;
use ort::environment::Environment;
use std::path::PathBuf;
use std::sync::Arc;
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
    pub seed: Option<u64>,
    /// Where encoded voice prompts are cached.
    pub cache_dir: PathBuf,
    pub stt_uri: WyomingUri,
    pub session: SessionOptions,
}

/// Loads the model and encodes (or loads from the cache) every voice.
pub async fn load_voices(
    _env: Arc<Environment>,
    _config: LuxConfig,
    _specs: Vec<CloneSpec>,
) -> anyhow::Result<Vec<Arc<dyn Voice>>> {
    anyhow::bail!("the LuxTTS engine is not built yet")
}
