//! ONNX Runtime for the TTS engines: the process's one environment, from `ORT_DYLIB_PATH`.

use ort::environment::Environment;
use ort::session::Session;
use std::path::Path;
use std::sync::Arc;

/// Loads ONNX Runtime from `ORT_DYLIB_PATH` (1.24 or newer).
pub fn init_from_env() -> anyhow::Result<Arc<Environment>> {
    let path = std::env::var_os("ORT_DYLIB_PATH")
        .ok_or_else(|| anyhow::anyhow!("ORT_DYLIB_PATH is not set: point it at libonnxruntime.so (1.24 or newer)"))?;
    Ok(wyoming_proto::onnx::runtime(Path::new(&path))?)
}

/// Opens a model on the CPU.
#[cfg_attr(not(test), expect(dead_code, reason = "the TTS engines (issue #4) open their models through this"))]
pub fn open_cpu(env: &Environment, model: &Path, threads: usize) -> anyhow::Result<Session> {
    let fail = |e: &dyn std::fmt::Display| anyhow::anyhow!("cannot open ONNX model {}: {e}", model.display());
    Session::builder(env)
        .map_err(|e| fail(&e))?
        .with_intra_threads(threads)
        .map_err(|e| fail(&e))?
        .commit_from_file(model)
        .map_err(|e| fail(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wyoming_tests::provisioned;

    #[test]
    fn opens_the_provisioned_silero_and_piper_models() {
        let (Some(_), Some(silero), Some(piper)) = (
            provisioned("ORT_DYLIB_PATH"),
            provisioned("WYOMING_TEST_SILERO_VAD"),
            provisioned("WYOMING_TEST_PIPER_VOICE"),
        ) else {
            return;
        };
        let env = init_from_env().unwrap();
        let vad = open_cpu(&env, &silero, 1).unwrap();
        let names: Vec<&str> = vad.inputs().iter().map(|i| i.name()).collect();
        assert_eq!(names, ["input", "state", "sr"]);
        let voice = open_cpu(&env, &piper, 1).unwrap();
        let names: Vec<&str> = voice.inputs().iter().map(|i| i.name()).collect();
        assert_eq!(names, ["input", "input_lengths", "scales"]);
    }
}
