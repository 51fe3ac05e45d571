//! The process's ONNX Runtime environment.
//!
//! `ort` allows one environment per process, and its `init()` panics when the library is missing, so
//! every user (Silero VAD, the TTS engines) goes through [`runtime`]: the library is loaded from an
//! explicit path on first use and the same environment is handed out afterwards.

use ort::environment::Environment;
use std::path::Path;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot load ONNX Runtime from {path}: {reason}")]
pub struct OnnxError {
    pub path: String,
    pub reason: String,
}

static RUNTIME: Mutex<Option<Arc<Environment>>> = Mutex::new(None);

/// The shared environment, loading ONNX Runtime from `library` if this is the first successful call.
/// The API level is `api-24`: ONNX Runtime 1.24 (nixpkgs) or newer.
pub fn runtime(library: &Path) -> Result<Arc<Environment>, OnnxError> {
    let fail = |e: &dyn std::fmt::Display| OnnxError { path: library.display().to_string(), reason: e.to_string() };
    let mut slot = RUNTIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(env) = slot.as_ref() {
        return Ok(env.clone());
    }
    if !library.is_file() {
        return Err(fail(&"no such file"));
    }
    let env =
        Arc::new(ort::init_from(library).map_err(|e| fail(&e))?.with_name("wyoming-rs").build().map_err(|e| fail(&e))?);
    *slot = Some(env.clone());
    Ok(env)
}
