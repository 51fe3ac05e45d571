//! The CTranslate2 library this binary runs on: which devices it sees, and loading a Whisper model
//! through ct2rs's low-level API (no `whisper` feature, so no sentencepiece and no inexact mel).

use ct2rs::sys::{ComputeType, Config, Device, Whisper, get_device_count};
use std::path::Path;

/// CUDA devices CTranslate2 can use; 0 on a machine without a GPU or a CPU-only build (never an error).
pub fn cuda_devices() -> usize {
    usize::try_from(get_device_count(Device::CUDA)).unwrap_or(0)
}

/// Loads a CTranslate2 Whisper model directory on the CPU with int8 weights.
#[cfg_attr(not(test), expect(dead_code, reason = "the STT engine (issue #3) loads its model through this"))]
pub fn load_cpu_int8(model_dir: &Path, threads: usize) -> anyhow::Result<Whisper> {
    let config = Config {
        device: Device::CPU,
        compute_type: ComputeType::INT8,
        num_threads_per_replica: threads,
        ..Config::default()
    };
    Whisper::new(model_dir, config)
        .map_err(|e| anyhow::anyhow!("cannot load Whisper model {}: {e}", model_dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The provisioned tiny.en model (`make setup`); CI always has it.
    fn tiny_en() -> Option<std::path::PathBuf> {
        let found = std::env::var_os("WYOMING_TEST_WHISPER_TINY_EN").map(std::path::PathBuf::from);
        if found.is_none() {
            assert!(std::env::var_os("WYOMING_RS_REQUIRE_PEERS").is_none(), "WYOMING_TEST_WHISPER_TINY_EN is not set");
            eprintln!("skipped: WYOMING_TEST_WHISPER_TINY_EN is not set; run `make setup`");
        }
        found
    }

    #[test]
    fn no_cuda_device_is_zero_not_an_error() {
        // Our CI machines have no GPU; on a GPU machine this is simply the device count.
        let _ = cuda_devices();
    }

    #[test]
    fn loads_the_provisioned_tiny_en_model_with_int8_on_cpu() {
        let Some(dir) = tiny_en() else { return };
        let model = load_cpu_int8(&dir, 1).unwrap();
        assert!(!model.is_multilingual(), "tiny.en is English-only");
    }

    #[test]
    fn a_missing_model_is_a_clear_error() {
        let err = load_cpu_int8(Path::new("/nonexistent/model"), 1).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/model"), "{err}");
    }
}
