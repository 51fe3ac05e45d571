//! ONNX Runtime for the TTS engines: the process's one environment, the device choice, and a pool of sessions
//! per model.
//!
//! Why a pool: `ort`'s `Session::run` takes `&mut self`, so one session serves one synthesis at a time. Each
//! model gets up to `--max-concurrent` sessions, created on first need (the first at start-up, so a missing or
//! corrupt model fails there), and reused.

use ort::environment::Environment;
use ort::ep::{self, ExecutionProvider as _};
use ort::session::Session;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Loads ONNX Runtime from `path` (1.24 or newer), once per process.
pub fn runtime(path: &Path) -> anyhow::Result<Arc<Environment>> {
    Ok(wyoming_proto::onnx::runtime(path)?)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    Cpu,
    Cuda,
}

#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("cannot open ONNX model {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error(
        "--device cuda: this ONNX Runtime has no CUDA execution provider (is it the GPU build, and are CUDA and cuDNN installed?)"
    )]
    NoCuda,
    #[error("unknown --device {0:?}: expected auto, cpu or cuda")]
    BadDevice(String),
    #[error("{model}: {message}")]
    Run { model: String, message: String },
}

/// `auto` picks CUDA when ONNX Runtime offers it, else the CPU, and says which in one log line.
pub fn choose_device(requested: &str) -> Result<Device, OnnxError> {
    let cuda = || ep::CUDA::is_available().unwrap_or(false);
    let device = match requested {
        "cpu" => Device::Cpu,
        "cuda" | "gpu" => {
            if !cuda() {
                return Err(OnnxError::NoCuda);
            }
            Device::Cuda
        }
        "auto" => {
            if cuda() {
                Device::Cuda
            } else {
                tracing::info!("no CUDA execution provider in this ONNX Runtime; synthesising on the CPU");
                Device::Cpu
            }
        }
        other => return Err(OnnxError::BadDevice(other.to_string())),
    };
    Ok(device)
}

/// How sessions of one model are opened.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    pub device: Device,
    pub intra_threads: usize,
}

pub fn open(env: &Environment, model: &Path, options: &SessionOptions) -> Result<Session, OnnxError> {
    let fail = |e: &dyn std::fmt::Display| OnnxError::Open { path: model.to_path_buf(), message: e.to_string() };
    let mut builder = Session::builder(env).map_err(|e| fail(&e))?;
    builder = builder.with_intra_threads(options.intra_threads.max(1)).map_err(|e| fail(&e))?;
    // Idle intra-op threads sleep instead of spinning: sessions of several requests overlap, and the STT
    // server usually shares the machine; spinning threads would steal its CPU for nothing.
    builder = builder.with_intra_op_spinning(false).map_err(|e| fail(&e))?;
    if options.device == Device::Cuda {
        builder =
            builder.with_execution_providers([ep::CUDA::default().build().error_on_failure()]).map_err(|e| fail(&e))?;
    }
    builder.commit_from_file(model).map_err(|e| fail(&e))
}

/// Sessions of one model, handed out one per synthesis.
pub struct SessionPool {
    env: Arc<Environment>,
    model: PathBuf,
    options: SessionOptions,
    idle: Mutex<Vec<Session>>,
}

impl SessionPool {
    /// Opens the first session now, so a bad model is a start-up error.
    pub fn open(env: Arc<Environment>, model: &Path, options: SessionOptions) -> Result<(Self, Session), OnnxError> {
        let first = open(&env, model, &options)?;
        Ok((SessionPool { env, model: model.to_path_buf(), options, idle: Mutex::new(Vec::new()) }, first))
    }

    /// Puts a session (back) into the pool.
    pub fn put(&self, session: Session) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(session);
    }

    /// Runs `f` with an idle session, opening another one if all are busy. The caller bounds concurrency.
    pub fn with<R>(&self, f: impl FnOnce(&mut Session) -> R) -> Result<R, OnnxError> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut session = match idle {
            Some(session) => session,
            None => open(&self.env, &self.model, &self.options)?,
        };
        let result = f(&mut session);
        self.put(session);
        Ok(result)
    }

    pub fn model(&self) -> &Path {
        &self.model
    }
}
