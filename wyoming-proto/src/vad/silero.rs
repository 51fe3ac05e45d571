//! Silero VAD (v5/v6 `silero_vad.onnx`): computed natively from the model's weights
//! ([`SileroModel::load`], see [`super::silero_net`]), or through ONNX Runtime ([`SileroModel::open`]),
//! loaded at run time from an explicit path so that a missing library is an error value, never
//! `ort::init()`'s panic. The two agree to 1e-4; the native one spares a server ONNX Runtime's memory.
//!
//! One [`SileroModel`] (a call takes well under a millisecond) serves any number of [`SileroStream`]s,
//! each with its own recurrent state and 64-sample context, as Silero's own wrapper keeps them.

use super::WINDOW;
use crate::onnx::{OnnxError, runtime};
use ort::environment::Environment;
use ort::session::Session;
use ort::value::Tensor;
use std::path::Path;
use std::sync::{Arc, Mutex};

pub(crate) const CONTEXT: usize = 64;
const STATE: usize = 2 * 128;

#[derive(Debug, thiserror::Error)]
pub enum VadError {
    #[error(transparent)]
    Runtime(#[from] OnnxError),
    #[error("cannot open Silero VAD model {path}: {reason}")]
    Model { path: String, reason: String },
    #[error("Silero VAD inference failed: {0}")]
    Inference(String),
}

/// The model, shared by every stream.
pub struct SileroModel {
    backend: Backend,
}

enum Backend {
    Native(Box<super::silero_net::SileroNet>),
    Onnx { session: Mutex<Session>, _env: Arc<Environment> },
}

impl SileroModel {
    /// Reads the weights of the 16 kHz network from `model` and computes it in Rust (no ONNX Runtime).
    pub fn load(model: &Path) -> Result<SileroModel, VadError> {
        Ok(SileroModel { backend: Backend::Native(Box::new(super::silero_net::SileroNet::load(model)?)) })
    }

    /// Loads ONNX Runtime from `library` (once per process) and opens `model` on the CPU.
    pub fn open(library: &Path, model: &Path) -> Result<SileroModel, VadError> {
        let env = runtime(library)?;
        let fail =
            |e: &dyn std::fmt::Display| VadError::Model { path: model.display().to_string(), reason: e.to_string() };
        let session = Session::builder(&env)
            .map_err(|e| fail(&e))?
            .with_intra_threads(1)
            .map_err(|e| fail(&e))?
            // Windows are tiny (512 samples): an arena and memory patterns only hold on to memory.
            .with_memory_pattern(false)
            .map_err(|e| fail(&e))?
            .with_execution_providers([ort::ep::CPU::default().with_arena_allocator(false).build()])
            .map_err(|e| fail(&e))?
            .commit_from_file(model)
            .map_err(|e| fail(&e))?;
        let inputs: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        if inputs != ["input", "state", "sr"] {
            return Err(fail(&format!("expected inputs input, state, sr; found {inputs:?}")));
        }
        Ok(SileroModel { backend: Backend::Onnx { session: Mutex::new(session), _env: env } })
    }

    /// Speech probability of one window: `context ‖ 512 new samples`, updating `state`.
    fn infer(&self, input: Vec<f32>, state: &mut Vec<f32>) -> Result<f32, VadError> {
        let session = match &self.backend {
            Backend::Native(net) => return Ok(net.infer(&input, state)),
            Backend::Onnx { session, .. } => session,
        };
        let fail = |e: &dyn std::fmt::Display| VadError::Inference(e.to_string());
        let input = Tensor::from_array((vec![1i64, (CONTEXT + WINDOW) as i64], input)).map_err(|e| fail(&e))?;
        let state_in = Tensor::from_array((vec![2i64, 1, 128], std::mem::take(state))).map_err(|e| fail(&e))?;
        let sr = Tensor::from_array((Vec::<i64>::new(), vec![16_000i64])).map_err(|e| fail(&e))?;
        let mut session = session.lock().map_err(|_| VadError::Inference("session lock poisoned".into()))?;
        let outputs =
            session.run(ort::inputs!["input" => input, "state" => state_in, "sr" => sr]).map_err(|e| fail(&e))?;
        let (_, probability) = outputs["output"].try_extract_tensor::<f32>().map_err(|e| fail(&e))?;
        let (_, next) = outputs["stateN"].try_extract_tensor::<f32>().map_err(|e| fail(&e))?;
        *state = next.to_vec();
        probability.first().copied().ok_or_else(|| VadError::Inference("empty output".into()))
    }
}

/// The state of one audio stream.
#[derive(Debug, Clone)]
pub struct SileroStream {
    state: Vec<f32>,
    context: Vec<f32>,
    pending: Vec<f32>,
}

impl Default for SileroStream {
    fn default() -> Self {
        SileroStream { state: vec![0.0; STATE], context: vec![0.0; CONTEXT], pending: Vec::with_capacity(WINDOW) }
    }
}

impl SileroStream {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds 16 kHz mono samples; returns one probability per completed 512-sample window.
    pub fn push(&mut self, model: &SileroModel, samples: &[f32]) -> Result<Vec<f32>, VadError> {
        let mut probabilities = Vec::new();
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (WINDOW - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == WINDOW {
                let mut input = Vec::with_capacity(CONTEXT + WINDOW);
                input.extend_from_slice(&self.context);
                input.extend_from_slice(&self.pending);
                self.context.copy_from_slice(&self.pending[WINDOW - CONTEXT..]);
                self.pending.clear();
                probabilities.push(model.infer(input, &mut self.state)?);
            }
        }
        Ok(probabilities)
    }
}
