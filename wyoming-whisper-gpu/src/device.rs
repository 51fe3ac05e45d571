//! `--device` and `--compute-type`: what CTranslate2 runs on.

use ct2rs::sys::{ComputeType, Device, get_device_count};
use tracing::info;

/// `auto` takes CUDA when CTranslate2 sees a device, otherwise the CPU (saying so once); `cuda` on a
/// machine without one is an error rather than a silent fallback.
pub fn choose(value: &str) -> anyhow::Result<(Device, i32)> {
    let cuda = cuda_devices();
    match value {
        "auto" if cuda > 0 => Ok((Device::CUDA, 0)),
        "auto" => {
            info!("no CUDA device found; running on the CPU");
            Ok((Device::CPU, 0))
        }
        "cpu" => Ok((Device::CPU, 0)),
        _ => {
            let index = match value.strip_prefix("cuda") {
                Some("") => 0,
                Some(rest) => rest
                    .strip_prefix(':')
                    .and_then(|i| i.parse::<i32>().ok())
                    .ok_or_else(|| anyhow::anyhow!("--device {value}: expected auto, cpu, cuda or cuda:N"))?,
                None => anyhow::bail!("--device {value}: expected auto, cpu, cuda or cuda:N"),
            };
            if cuda == 0 {
                anyhow::bail!(
                    "--device {value}: CTranslate2 sees no CUDA device (no GPU, no driver, or a CPU-only build); use --device cpu or auto"
                );
            }
            if index as usize >= cuda {
                anyhow::bail!("--device {value}: only {cuda} CUDA device(s) present");
            }
            Ok((Device::CUDA, index))
        }
    }
}

pub fn compute_type(value: &str) -> anyhow::Result<ComputeType> {
    Ok(match value {
        "default" => ComputeType::DEFAULT,
        "auto" => ComputeType::AUTO,
        "int8" => ComputeType::INT8,
        "int8_float32" => ComputeType::INT8_FLOAT32,
        "int8_float16" => ComputeType::INT8_FLOAT16,
        "int8_bfloat16" => ComputeType::INT8_BFLOAT16,
        "int16" => ComputeType::INT16,
        "float16" => ComputeType::FLOAT16,
        "bfloat16" => ComputeType::BFLOAT16,
        "float32" => ComputeType::FLOAT32,
        other => anyhow::bail!(
            "--compute-type {other}: expected int8, int8_float32, int8_float16, int8_bfloat16, int16, float16, bfloat16, float32, default or auto"
        ),
    })
}

/// CUDA devices CTranslate2 can use; 0 on a machine without a GPU or with a CPU-only build (never an error).
pub fn cuda_devices() -> usize {
    usize::try_from(get_device_count(Device::CUDA)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_flags() {
        assert_eq!(choose("cpu").unwrap(), (Device::CPU, 0));
        if cuda_devices() == 0 {
            assert_eq!(choose("auto").unwrap(), (Device::CPU, 0));
            let err = choose("cuda").unwrap_err().to_string();
            assert!(err.contains("no CUDA device"), "{err}");
        }
        assert!(choose("tpu").unwrap_err().to_string().contains("expected auto, cpu, cuda or cuda:N"));
        assert!(choose("cuda:x").is_err());
    }

    #[test]
    fn compute_types() {
        assert_eq!(compute_type("int8").unwrap(), ComputeType::INT8);
        assert!(compute_type("int4").unwrap_err().to_string().contains("expected int8"));
    }
}
