//! Shared by the LuxTTS tests: the random-weight stand-in graphs (generated at test time by
//! `tests/python/luxtts_graphs.py`), a synthetic reference clip, and the NumPy reference runner.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use wyoming_tests::{provisioned, python, python_script};

/// What a LuxTTS plumbing test needs; `None` (after a skip message) when the environment lacks it.
pub struct Fixture {
    pub python: PathBuf,
    pub onnxruntime: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn model_dir(&self) -> PathBuf {
        self.dir.path().join("model")
    }
}

/// Generates the stand-in graphs and `tokens.txt` into a fresh temporary model directory.
pub fn fixture() -> Option<Fixture> {
    let python = python()?;
    let onnxruntime = provisioned("ORT_DYLIB_PATH")?;
    let piper = provisioned("WYOMING_TEST_PIPER_VOICE")?;
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(&python)
        .arg(python_script("luxtts_graphs.py"))
        .arg(dir.path().join("model"))
        .arg(format!("{}.json", piper.display()))
        .arg("0")
        .status()
        .unwrap();
    assert!(status.success(), "luxtts_graphs.py failed: {status}");
    Some(Fixture { python, onnxruntime, dir })
}

/// A speech-like 24 kHz 16-bit mono clip: harmonics of a gliding pitch under a syllable-rate envelope, plus
/// a little noise, scaled to `rms`.
pub fn write_reference_wav(path: &Path, seconds: f32, rms: f32) {
    let n = (seconds * 24_000.0) as usize;
    let mut state = 12345u64;
    let mut noise = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    };
    let mut phase = 0.0f32;
    let raw: Vec<f32> = (0..n)
        .map(|i| {
            let t = i as f32 / 24_000.0;
            let pitch = 120.0 + 30.0 * (2.0 * std::f32::consts::PI * 0.7 * t).sin();
            phase += 2.0 * std::f32::consts::PI * pitch / 24_000.0;
            let envelope = (2.0 * std::f32::consts::PI * 4.0 * t).sin().abs();
            let voiced: f32 = (1..8).map(|h| (phase * h as f32).sin() / h as f32).sum();
            envelope * voiced + 0.05 * noise()
        })
        .collect();
    let current = (raw.iter().map(|v| v * v).sum::<f32>() / n as f32).sqrt();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 24_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    for v in raw {
        writer.write_sample((v * rms / current * 32768.0).round().clamp(-32768.0, 32767.0) as i16).unwrap();
    }
    writer.finalize().unwrap();
}

pub fn write_f32(path: &Path, data: &[f32]) {
    std::fs::write(path, data.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
}

pub fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path).unwrap().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// Runs `luxtts_reference.py` with `args`.
pub fn reference(python: &Path, args: &[&std::ffi::OsStr]) {
    let status = Command::new(python).arg(python_script("luxtts_reference.py")).args(args).status().unwrap();
    assert!(status.success(), "luxtts_reference.py failed: {status}");
}

/// Largest absolute difference; the lengths must agree.
pub fn max_abs_diff(name: &str, ours: &[f32], theirs: &[f32]) -> f32 {
    assert_eq!(ours.len(), theirs.len(), "{name}: lengths differ");
    ours.iter().zip(theirs).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
}
